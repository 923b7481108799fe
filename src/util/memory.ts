// What a process's resident set is made of, as far as the kernel tells it (/proc/PID/status):
// the part mapped from files (node's code and libraries, the same whatever a mount does), the
// anonymous rest (V8's heap, malloc's arenas, stacks), and its peak.
//
// Invariants: reads /proc only (never a mount); 0 where /proc or the process is not there.

import fs from 'node:fs';

/** The sum of the kB fields `fields` of /proc/`pid`/status, in bytes (0 without /proc). */
export function proc_status_bytes(fields: readonly string[], pid: number | 'self' = 'self'): number {
  let s: string;
  try { s = fs.readFileSync(`/proc/${pid}/status`, 'latin1'); } catch { return 0; }
  let kb = 0;
  for (const f of fields) {
    const m = new RegExp(`^${f}:\\s+(\\d+) kB`, 'm').exec(s);
    if (m) kb += Number(m[1]);
  }
  return kb * 1024;
}

/** Bytes of this process's resident set mapped from files (RssFile + RssShmem), or 0 without /proc. */
export function rss_file_bytes(): number {
  return proc_status_bytes(['RssFile', 'RssShmem']);
}
