// Text-like data for the compression benchmarks: generated log lines (what a small device often
// holds most of), deterministic from a seed, and real text files copied from the machine (the
// repository's node_modules, /usr/share/doc): the compressible side of make bench-compress and
// of bench-engine's overwrite test.

import fs from 'node:fs';
import path from 'node:path';
import { Prng } from '../../src/util/prng.js';

const PHRASES = ['request served', 'cache miss on key', 'connection from 10.0.0.', 'retrying after timeout', 'job finished', 'queue depth', 'GET /api/v1/items', 'user logged in'];
const LEVELS = ['INFO', 'INFO', 'INFO', 'WARN', 'DEBUG', 'ERROR'];

/** `len` bytes of log lines: timestamps, levels, a few phrases, numbers. */
export function log_text(seed: number, len: number): Buffer {
  const rng = new Prng(seed);
  const out = Buffer.alloc(len);
  let at = 0;
  for (let i = 0; at < len; i++) {
    const s = (seed * 7919 + i) % 86400;
    const ts = `2024-06-01T${String(Math.floor(s / 3600)).padStart(2, '0')}:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}.${String(rng.int(0, 999)).padStart(3, '0')}Z`;
    at += out.write(`${ts} ${rng.pick(LEVELS)} [worker-${rng.int(1, 8)}] ${rng.pick(PHRASES)} ${rng.int(0, 99999)} (${rng.int(0, 2000)} ms)\n`, at);
  }
  return out;
}

/** Regular files under `dirs` (up to `maxBytes` in all, files of 1 byte to 4 MiB), in a stable order. */
export function text_files(dirs: readonly string[], maxBytes: number): { rel: string; path: string; size: number }[] {
  const out: { rel: string; path: string; size: number }[] = [];
  let total = 0;
  const walk = (root: string, dir: string): void => {
    let ents: fs.Dirent[];
    try { ents = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
    ents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of ents) {
      if (total >= maxBytes) return;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(root, p);
      else if (e.isFile()) {
        const size = fs.statSync(p).size;
        if (size < 1 || size > 4 << 20 || total + size > maxBytes) continue;
        out.push({ rel: path.join(path.basename(root), path.relative(root, p)), path: p, size });
        total += size;
      }
    }
  };
  for (const d of dirs) if (fs.existsSync(d)) walk(d, d);
  return out;
}
