// The aligned text of trace events, one line each (as strace -T or biosnoop print them), made
// by `cowlog trace` from the server's records (or by the server, for a stream that asked for
// text).
//
// Invariants: a line never begins with '{' (the stream's other lines, {"lost"} and {"end"},
// do); the columns up to PATH have fixed widths (TRACE_HEADER's); req_record_line writes the
// bytes of event_text(req_record_event(record)), byte for byte (test/fuse/trace_wire.test.ts).

import type { TraceEvent } from './trace.js';
import { F_BYTES, F_DATASYNC_TRUE, F_LEN, F_NAME, F_OFF, F_PATH2, F_SIZE, REC_LINE, REQ_HEAD, REQUEST_OPS, errno_name, req_record_event } from './trace_wire.js';

export function ms_text(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : ms >= 10 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(2)} ms`;
}

function writes(n: number): string {
  return n === 1 ? '1 write' : `${n} writes`;
}

export const TRACE_HEADER = `${'TIME(UTC)'.padEnd(15)}  ${'COMM'.padEnd(15)} ${'PID'.padStart(7)}  ${'OP'.padEnd(11)} ${'RESULT'.padEnd(9)} ${'LAT(us)'.padStart(8)} ${'INO'.padStart(8)}  PATH`;

/** One event as an aligned line. */
export function event_text(e: TraceEvent): string {
  const head = `${e.time.slice(11, 26)}  ${e.comm.slice(0, 15).padEnd(15)} ${String(e.pid).padStart(7)}  ${e.op.padEnd(11)}`;
  const data = e.op === 'written' || e.op === 'logged' || e.op === 'durable';
  const mid = data ? `${''.padEnd(9)} ${''.padStart(8)}` : `${String(e.result).padEnd(9)} ${String(e.us).padStart(8)}`;
  let rest = e.path === '' ? '-' : e.path;
  if (e.path2 !== undefined) rest += e.op === 'symlink' ? ` -> ${e.path2}` : ` => ${e.path2}`;
  const extra: string[] = [];
  if (e.name !== undefined) extra.push(`name=${e.name}`);
  if (e.off !== undefined) extra.push(`off=${e.off}`);
  if (e.len !== undefined) extra.push(`len=${e.len}`);
  if (e.bytes !== undefined && !data) extra.push(`bytes=${e.bytes}`);
  if (e.size !== undefined) extra.push(`size=${e.size}`);
  if (e.datasync === true) extra.push('datasync');
  if (e.op === 'written' && e.inline) extra.push('(inline: into the inode\'s record)');
  const cause = (): string => {
    if (e.cause === undefined) return '';
    const who = e.pid > 0 ? ` by ${e.comm} ${e.pid}` : '';
    return e.causePath !== undefined ? `${e.cause} of ${e.causePath}${who}` : `${e.cause}${who}`;
  };
  if (e.op === 'logged') {
    const how = (e.blocks ?? 0) > 0 ? `${e.blocks} blocks to the log` : (e.patchBytes ?? 0) > 0 ? `${e.patchBytes} B as a patch of the redo group` : 'into the inode\'s record';
    extra.push(`${writes(e.writes ?? 0)}, ${e.bytes ?? 0} bytes: ${how}${e.waitUsMax !== undefined ? `, oldest written ${ms_text(e.waitUsMax / 1000)} before` : ''}; during ${cause()}`);
  }
  if (e.op === 'durable') {
    const via = e.via === 'fsync' ? 'a redo group (fsync)' : `checkpoint ${e.seq}`;
    extra.push(`${writes(e.writes ?? 0)}, ${e.bytes ?? 0} bytes durable by ${via} during ${cause()}; waited ${ms_text((e.waitUsMax ?? 0) / 1000)} (newest ${ms_text((e.waitUsMin ?? 0) / 1000)}), flush ${ms_text((e.flushUs ?? 0) / 1000)}`);
  }
  return `${head} ${mid} ${String(e.ino).padStart(8)}  ${rest}${extra.length ? '  ' + extra.join(' ') : ''}`;
}

/**
 * The text line of a trace record (trace_wire.ts): a request's or a data event's aligned line;
 * the stream's own lines ({"lost"}, {"end"}) stay JSON, for the reader to say in its words.
 */
export function record_text(buf: Buffer, p: number): string {
  if (buf[p + 4] !== REC_LINE) return event_text(req_record_event(buf, p));
  const line = buf.toString('utf8', p + 5, p + buf.readUInt32LE(p));
  return line.startsWith('{"time"') ? event_text(JSON.parse(line) as TraceEvent) : line;
}

/** REQUEST_OPS as the OP column shows them (padded), and errno names as RESULT does */
const OP_COLS = REQUEST_OPS.map((o) => Buffer.from(o.padEnd(11)));
const RESULT_COLS = new Map<number, Buffer>();
const SYMLINK = REQUEST_OPS.indexOf('symlink');
/** the record's longest line beyond its strings: the columns and five numbers with their names */
const LINE_FIXED = 200;

/** The longest line req_record_line writes for the request record at `p`. */
export function req_record_line_max(buf: Buffer, p: number): number {
  return LINE_FIXED + 3 * (buf.readUInt32LE(p) - REQ_HEAD);
}

function ascii_only(buf: Buffer, p: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (buf[p + i]! > 0x7f) return false;
  return true;
}

/** Writes the decimal digits of the integer `v` (≥ 0) right-aligned in `width` at `o` (wider when they need it); the position after. */
function num_put(out: Buffer, o: number, v: number, width: number): number {
  let digits = 1;
  for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
  for (let i = digits; i < width; i++) out[o++] = 0x20;
  for (let i = digits - 1, x = v; i >= 0; i--, x = Math.floor(x / 10)) out[o + i] = 0x30 + (x % 10);
  return o + digits;
}

function cols_put(out: Buffer, o: number, col: Buffer): number {
  for (let i = 0; i < col.length; i++) out[o + i] = col[i]!;
  return o + col.length;
}

function text_put(out: Buffer, o: number, s: string): number {
  for (let i = 0; i < s.length; i++) out[o + i] = s.charCodeAt(i);
  return o + s.length;
}

/** Copies `n` string bytes at `q` as a line shows them (UTF-8; bytes that are not are U+FFFD). */
function bytes_put(out: Buffer, o: number, buf: Buffer, q: number, n: number): number {
  if (ascii_only(buf, q, n)) {
    // short strings: a loop beats a call into C++
    for (let i = 0; i < n; i++) out[o + i] = buf[q + i]!;
    return o + n;
  }
  return o + out.write(buf.toString('utf8', q, q + n), o, 'utf8');
}

let secOf = NaN;
let secText = '';

/**
 * Writes the aligned line of the request record at `p` (event_text's, without building the
 * event) at `out[o]`, where req_record_line_max bytes are free; the position after it.
 */
export function req_record_line(buf: Buffer, p: number, out: Buffer, o: number): number {
  const flags = buf[p + 6]!;
  const commLen = buf[p + 7]!;
  // the fields that follow the fixed part, in record order
  let q = p + REQ_HEAD;
  let off = -1, len = -1, bytes = -1, size = -1;
  if (flags & F_OFF) { off = buf.readDoubleLE(q); q += 8; }
  if (flags & F_LEN) { len = buf.readDoubleLE(q); q += 8; }
  if (flags & F_BYTES) { bytes = buf.readDoubleLE(q); q += 8; }
  if (flags & F_SIZE) { size = buf.readDoubleLE(q); q += 8; }
  const pathLen = buf.readUInt32LE(q);
  const pathAt = q + 4;
  q = pathAt + pathLen;
  // a process name that is not plain ASCII, or longer than its column: the general way
  if (commLen > 15 || !ascii_only(buf, q, commLen)) return o + out.write(event_text(req_record_event(buf, p)), o, 'utf8');
  // TIME: HH:MM:SS.uuuuuu, the part up to the second made once a second (as iso_us rounds)
  const ms = buf.readDoubleLE(p + 8);
  const whole = Math.floor(ms);
  const sec = Math.floor(whole / 1000);
  if (sec !== secOf) {
    secOf = sec;
    secText = new Date(sec * 1000).toISOString().slice(11, 20);
  }
  o = text_put(out, o, secText);
  const frac = (whole - sec * 1000) * 1000 + Math.min(999, Math.floor((ms - whole) * 1000));
  for (let i = 5, x = frac; i >= 0; i--, x = Math.floor(x / 10)) out[o + i] = 0x30 + (x % 10);
  o += 6;
  out[o++] = 0x20;
  out[o++] = 0x20;
  // COMM (15, left), PID (7, right), OP (11, left)
  for (let i = 0; i < commLen; i++) out[o + i] = buf[q + i]!;
  o += commLen;
  for (let i = commLen; i < 15; i++) out[o++] = 0x20;
  q += commLen;
  out[o++] = 0x20;
  o = num_put(out, o, buf.readUInt32LE(p + 16), 7);
  out[o++] = 0x20;
  out[o++] = 0x20;
  const op = buf[p + 5]!;
  o = cols_put(out, o, OP_COLS[op]!);
  out[o++] = 0x20;
  // RESULT (9, left), LAT (8, right), INO (8, right)
  const errno = buf.readUInt32LE(p + 32);
  if (errno === 0) {
    out[o++] = 0x30;
    for (let i = 1; i < 9; i++) out[o++] = 0x20;
  } else {
    let col = RESULT_COLS.get(errno);
    if (col === undefined) RESULT_COLS.set(errno, col = Buffer.from(errno_name(errno).padEnd(9)));
    o = cols_put(out, o, col);
  }
  out[o++] = 0x20;
  o = num_put(out, o, buf.readDoubleLE(p + 36), 8);
  out[o++] = 0x20;
  o = num_put(out, o, buf.readDoubleLE(p + 24), 8);
  out[o++] = 0x20;
  out[o++] = 0x20;
  // PATH, and what follows it
  if (pathLen === 0) out[o++] = 0x2d;
  else o = bytes_put(out, o, buf, pathAt, pathLen);
  if (flags & F_PATH2) {
    const n = buf.readUInt32LE(q);
    o = text_put(out, o, op === SYMLINK ? ' -> ' : ' => ');
    o = bytes_put(out, o, buf, q + 4, n);
    q += 4 + n;
  }
  let sep = '  ';
  if (flags & F_NAME) {
    o = text_put(out, o, `${sep}name=`);
    o = bytes_put(out, o, buf, q + 4, buf.readUInt32LE(q));
    sep = ' ';
  }
  if (off >= 0) { o = num_put(out, text_put(out, o, `${sep}off=`), off, 0); sep = ' '; }
  if (len >= 0) { o = num_put(out, text_put(out, o, `${sep}len=`), len, 0); sep = ' '; }
  if (bytes >= 0) { o = num_put(out, text_put(out, o, `${sep}bytes=`), bytes, 0); sep = ' '; }
  if (size >= 0) { o = num_put(out, text_put(out, o, `${sep}size=`), size, 0); sep = ' '; }
  if (flags & F_DATASYNC_TRUE) o = text_put(out, o, `${sep}datasync`);
  return o;
}
