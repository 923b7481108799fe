// The aligned text of trace events, one line each (as strace -T or biosnoop print them): the
// server writes it for a trace that asked for text, so that the tracer only passes lines on.
//
// Invariants: a line never begins with '{' (the stream's other lines, {"lost"} and {"end"},
// do); the columns up to PATH have fixed widths (TRACE_HEADER's).

import type { TraceEvent } from './trace.js';

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
