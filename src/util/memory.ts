// What the process's resident set is made of, as far as the kernel tells it (/proc/self/status):
// the part mapped from files (node's code and libraries, the same whatever a mount does) and the
// anonymous rest (V8's heap, malloc's arenas, stacks).
//
// Invariants: reads /proc only (never a mount); 0 where /proc is not there.

import fs from 'node:fs';

/** Bytes of the resident set mapped from files (RssFile + RssShmem), or 0 without /proc. */
export function rss_file_bytes(): number {
  let s: string;
  try { s = fs.readFileSync('/proc/self/status', 'latin1'); } catch { return 0; }
  let kb = 0;
  for (const f of ['RssFile', 'RssShmem']) {
    const m = new RegExp(`^${f}:\\s+(\\d+) kB`, 'm').exec(s);
    if (m) kb += Number(m[1]);
  }
  return kb * 1024;
}
