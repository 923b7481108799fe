// The binary records a trace stream carries from the server to `cowlog trace`: the server writes
// a request's event as a few numbers and the raw bytes of its strings, and whoever prints it
// (the tracer process, or the server itself for a stream that asked for JSON or text lines)
// makes the ISO time, the UTF-8 path, the JSON or the aligned text from them. Building those
// strings is most of what an event costs, so it is done away from the requests being served.
//
// A record (all numbers little-endian):
//
//   0  u32  bytes in the record, this field included
//   4  u8   kind: REC_REQUEST, or REC_LINE (the rest is one JSON line in UTF-8, no newline:
//           a data event, {"lost":N,...} or {"end":...})
//   request records go on:
//   5  u8   op: the index of the request in REQUEST_OPS
//   6  u8   flags: which optional fields follow (F_*), and the datasync value
//   7  u8   bytes of comm (at most COMM_BYTES_MAX)
//   8  f64  time: wall-clock ms when the request arrived (microseconds as the fraction)
//  16  u32  pid      20  u32  uid      24  f64  ino
//  32  u32  errno (0: the request succeeded)            36  f64  us (rounded up, at least 1)
//  44  f64  off, len, bytes, size: those flagged, in this order
//   …  u32  bytes of path, then the path's raw bytes (as the kernel gave them), then comm's
//           (UTF-8); when flagged, u32 + path2's bytes, u32 + the xattr name's bytes
//
// Invariants:
// - A record is read back as the TraceEvent it was written from (test/fuse/trace_wire.test.ts);
//   JSON lines made from it are JSON.stringify of that event, field for field in that order.
// - Strings are written as they arrived (one byte per latin1 character: paths and names from
//   the kernel are bytes) and decoded as UTF-8 when printed, bytes that are not UTF-8 as U+FFFD.

import { constants as osc } from 'node:os';
import { FUSE_OPS } from './binding.js';
import type { TraceEvent } from './trace.js';

/** The requests of a FUSE mount (libfuse's low-level operations), as they appear in `op`. */
export const REQUEST_OPS = FUSE_OPS.filter((o) => o !== 'forget');

export const REC_REQUEST = 1;
export const REC_LINE = 2;
/** the fixed part of a request record */
export const REQ_HEAD = 44;
/** a process name is at most 15 bytes (TASK_COMM_LEN); more is cut */
export const COMM_BYTES_MAX = 64;

export const F_OFF = 1;
export const F_LEN = 2;
export const F_BYTES = 4;
export const F_SIZE = 8;
export const F_DATASYNC = 16;
export const F_DATASYNC_TRUE = 32;
export const F_PATH2 = 64;
export const F_NAME = 128;

/** The longest request record these fields make (what to reserve before writing it). */
export function req_record_max(path: string, comm: Buffer, path2: string | undefined, name: string | undefined): number {
  return REQ_HEAD + 4 * 8 + 12 + path.length + comm.length + (path2?.length ?? 0) + (name?.length ?? 0);
}

/** Writes a string of latin1 characters (one per byte) at `p`; the position after it. */
function bytes_put(buf: Buffer, p: number, s: string): number {
  buf.writeUInt32LE(s.length, p);
  p += 4;
  // a loop beats a call into C++ for the short strings paths and names are
  for (let i = 0; i < s.length; i++) buf[p + i] = s.charCodeAt(i);
  return p + s.length;
}

/**
 * Writes a request's record at `p` (room for req_record_max bytes is there) and returns the
 * position after it. `opt` holds off, len, bytes and size, as `flags` says which apply.
 */
export function req_record_put(buf: Buffer, p: number, op: number, flags: number, timeMs: number, pid: number, uid: number, ino: number,
  errno: number, us: number, opt: Float64Array, path: string, comm: Buffer, path2: string | undefined, name: string | undefined): number {
  const start = p;
  buf[p + 4] = REC_REQUEST;
  buf[p + 5] = op;
  buf[p + 6] = flags;
  buf[p + 7] = comm.length;
  buf.writeDoubleLE(timeMs, p + 8);
  buf.writeUInt32LE(pid, p + 16);
  buf.writeUInt32LE(uid, p + 20);
  buf.writeDoubleLE(ino, p + 24);
  buf.writeUInt32LE(errno, p + 32);
  buf.writeDoubleLE(us, p + 36);
  p += REQ_HEAD;
  if (flags & F_OFF) { buf.writeDoubleLE(opt[0]!, p); p += 8; }
  if (flags & F_LEN) { buf.writeDoubleLE(opt[1]!, p); p += 8; }
  if (flags & F_BYTES) { buf.writeDoubleLE(opt[2]!, p); p += 8; }
  if (flags & F_SIZE) { buf.writeDoubleLE(opt[3]!, p); p += 8; }
  p = bytes_put(buf, p, path);
  for (let i = 0; i < comm.length; i++) buf[p + i] = comm[i]!;
  p += comm.length;
  if (flags & F_PATH2) p = bytes_put(buf, p, path2!);
  if (flags & F_NAME) p = bytes_put(buf, p, name!);
  buf.writeUInt32LE(p - start, start);
  return p;
}

/** Writes a REC_LINE record of `line` at `p` (room for 5 + 3 × its length); the position after it. */
export function line_record_put(buf: Buffer, p: number, line: string): number {
  const n = 5 + buf.write(line, p + 5, 'utf8');
  buf.writeUInt32LE(n, p);
  buf[p + 4] = REC_LINE;
  return p + n;
}

/** A REC_LINE record of `line`, on its own. */
export function line_record(line: string): Buffer {
  const b = Buffer.allocUnsafe(5 + Buffer.byteLength(line));
  line_record_put(b, 0, line);
  return b;
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(osc.errno).map(([k, v]) => [v, k]));

export function errno_name(n: number): string {
  return ERRNO_NAMES.get(n) ?? `E${n}`;
}

/** A wall-clock time in ms (fractional) as ISO 8601 with microseconds. */
export function iso_us(ms: number): string {
  const whole = Math.floor(ms);
  const us = Math.min(999, Math.floor((ms - whole) * 1000));
  // the date and time up to the second change once a second: formatted once for it
  const sec = Math.floor(whole / 1000);
  if (sec !== isoSec) {
    isoSec = sec;
    isoPrefix = new Date(sec * 1000).toISOString().slice(0, 20);
  }
  const msPart = whole - sec * 1000;
  return `${isoPrefix}${msPart < 10 ? '00' : msPart < 100 ? '0' : ''}${msPart}${us < 10 ? '00' : us < 100 ? '0' : ''}${us}Z`;
}
let isoSec = NaN;
let isoPrefix = '';

/** The string of `n` bytes at `p`: UTF-8, ASCII without a conversion. */
function text_at(buf: Buffer, p: number, n: number): string {
  return n === 0 ? '' : buf.toString(n < 48 && ascii(buf, p, n) ? 'latin1' : 'utf8', p, p + n);
}

function ascii(buf: Buffer, p: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (buf[p + i]! > 0x7f) return false;
  return true;
}

/** The event of the request record at `p` (its kind is REC_REQUEST). */
export function req_record_event(buf: Buffer, p: number): TraceEvent {
  const flags = buf[p + 6]!;
  const commLen = buf[p + 7]!;
  const errno = buf.readUInt32LE(p + 32);
  let q = p + REQ_HEAD;
  let off: number | undefined, len: number | undefined, bytes: number | undefined, size: number | undefined;
  if (flags & F_OFF) { off = buf.readDoubleLE(q); q += 8; }
  if (flags & F_LEN) { len = buf.readDoubleLE(q); q += 8; }
  if (flags & F_BYTES) { bytes = buf.readDoubleLE(q); q += 8; }
  if (flags & F_SIZE) { size = buf.readDoubleLE(q); q += 8; }
  const pathLen = buf.readUInt32LE(q);
  const path = text_at(buf, q + 4, pathLen);
  q += 4 + pathLen;
  const comm = text_at(buf, q, commLen);
  q += commLen;
  // the fields in TraceEvent's order (JSON lines follow it)
  const ev: TraceEvent = {
    time: iso_us(buf.readDoubleLE(p + 8)), op: REQUEST_OPS[buf[p + 5]!]!, pid: buf.readUInt32LE(p + 16), comm,
    uid: buf.readUInt32LE(p + 20), ino: buf.readDoubleLE(p + 24), path,
  };
  if (flags & F_PATH2) {
    const n = buf.readUInt32LE(q);
    ev.path2 = text_at(buf, q + 4, n);
    q += 4 + n;
  }
  if (off !== undefined) ev.off = off;
  if (len !== undefined) ev.len = len;
  if (bytes !== undefined) ev.bytes = bytes;
  if (size !== undefined) ev.size = size;
  if (flags & F_NAME) ev.name = text_at(buf, q + 4, buf.readUInt32LE(q));
  if (flags & F_DATASYNC) ev.datasync = (flags & F_DATASYNC_TRUE) !== 0;
  ev.result = errno === 0 ? 0 : errno_name(errno);
  ev.us = buf.readDoubleLE(p + 36);
  return ev;
}

/** The JSON line (no newline) of the record at `p`. */
export function record_json(buf: Buffer, p: number): string {
  if (buf[p + 4] === REC_LINE) return buf.toString('utf8', p + 5, p + buf.readUInt32LE(p));
  return event_json(req_record_event(buf, p));
}

/**
 * A request event's JSON line, written out directly: JSON.stringify's answer (the fields in
 * TraceEvent's order), for half its cost.
 */
export function event_json(e: TraceEvent): string {
  let l = `{"time":"${e.time}","op":"${e.op}","pid":${e.pid},"comm":${JSON.stringify(e.comm)},"uid":${e.uid},"ino":${e.ino},"path":${JSON.stringify(e.path)}`;
  if (e.path2 !== undefined) l += `,"path2":${JSON.stringify(e.path2)}`;
  if (e.off !== undefined) l += `,"off":${e.off}`;
  if (e.len !== undefined) l += `,"len":${e.len}`;
  if (e.bytes !== undefined) l += `,"bytes":${e.bytes}`;
  if (e.size !== undefined) l += `,"size":${e.size}`;
  if (e.name !== undefined) l += `,"name":${JSON.stringify(e.name)}`;
  if (e.datasync !== undefined) l += `,"datasync":${e.datasync}`;
  return `${l},"result":${e.result === 0 ? 0 : `"${e.result}"`},"us":${e.us}}`;
}

/**
 * Splits a byte stream into records: `on_record(buf, p)` for each whole one, in order; what is
 * left of a record cut by the end of `chunk` is kept for the next call.
 */
export class RecordReader {
  private rest: Buffer | null = null;

  feed(chunk: Buffer, on_record: (buf: Buffer, p: number) => boolean | void): void {
    const buf = this.rest === null ? chunk : Buffer.concat([this.rest, chunk]);
    this.rest = null;
    let p = 0;
    while (p + 4 <= buf.length) {
      const n = buf.readUInt32LE(p);
      if (n < 5) throw new RangeError(`trace stream: a record of ${n} bytes at ${p} (at least 5)`);
      if (p + n > buf.length) break;
      if (on_record(buf, p) === false) return;
      p += n;
    }
    if (p < buf.length) this.rest = buf.subarray(p);
  }
}
