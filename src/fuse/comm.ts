// Process names for the trace: /proc/PID/comm, cached per pid.
//
// Invariants:
// - Only /proc is read (never a path that could lie on a FUSE mount, least of all the one this
//   process serves), and a name is read at most once per COMM_TTL_MS per pid: procfs answers in
//   microseconds, but a busy process sends thousands of requests a second.
// - A name is at most COMM_TTL_MS old: a process that execs shows its old name for up to that
//   long. A pid that is gone, or pid 0 (requests the kernel sends on its own, such as release),
//   is '-'.
// - The cache holds at most COMM_CACHE_MAX pids; when full it starts over.
// - A name's UTF-8 bytes (what a trace record carries) are made once per read, not per event.

import fs from 'node:fs';
import { bounded_set } from '../util/bounded_map.js';
import { COMM_BYTES_MAX } from './trace_wire.js';

export const COMM_TTL_MS = 500;
const COMM_CACHE_MAX = 4096;

/** A process's name from /proc/PID/comm now, '-' when it is gone (or pid 0). */
export function comm_read(pid: number): string {
  if (pid <= 0) return '-';
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').replace(/\n$/, '');
  } catch {
    return '-';
  }
}

/** A process's name as read, and its UTF-8 bytes. */
export interface Comm {
  comm: string;
  bytes: Buffer;
  atMs: number;
}

const UNKNOWN: Comm = { comm: '-', bytes: Buffer.from('-'), atMs: Infinity };

export class CommCache {
  private readonly names = new Map<number, Comm>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  comm_of(pid: number): string {
    return this.entry_of(pid).comm;
  }

  /** The name of `pid` with its bytes; `nowMs` (performance.now()) when the caller has read the clock. */
  entry_of(pid: number, nowMs = this.now()): Comm {
    if (pid <= 0) return UNKNOWN;
    const c = this.names.get(pid);
    if (c !== undefined && nowMs - c.atMs < COMM_TTL_MS) return c;
    let comm: string;
    try {
      comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').replace(/\n$/, '');
    } catch {
      comm = c?.comm ?? '-';
    }
    const e: Comm = { comm, bytes: c?.comm === comm ? c.bytes : Buffer.from(comm, 'utf8').subarray(0, COMM_BYTES_MAX), atMs: nowMs };
    bounded_set(this.names, pid, e, COMM_CACHE_MAX);
    return e;
  }
}
