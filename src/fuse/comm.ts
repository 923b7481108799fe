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

import fs from 'node:fs';

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

export class CommCache {
  private readonly names = new Map<number, { comm: string; atMs: number }>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  comm_of(pid: number): string {
    if (pid <= 0) return '-';
    const t = this.now();
    const c = this.names.get(pid);
    if (c !== undefined && t - c.atMs < COMM_TTL_MS) return c.comm;
    let comm: string;
    try {
      comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').replace(/\n$/, '');
    } catch {
      comm = c?.comm ?? '-';
    }
    if (c === undefined && this.names.size >= COMM_CACHE_MAX) this.names.clear();
    this.names.set(pid, { comm, atMs: t });
    return comm;
  }
}
