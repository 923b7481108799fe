// --help of the benchmarks: the comment a benchmark's file starts with is its manual, printed
// as it stands (without the comment marks), so the two can not drift apart.

import fs from 'node:fs';

/** Prints the leading comment block of the module at `url` (import.meta.url) and exits 0. */
export function help_exit(url: string): never {
  const lines: string[] = [];
  for (const l of fs.readFileSync(new URL(url), 'utf8').split('\n')) {
    if (!l.startsWith('//')) break;
    lines.push(l.slice(3));
  }
  process.stdout.write(lines.join('\n') + '\n');
  process.exit(0);
}
