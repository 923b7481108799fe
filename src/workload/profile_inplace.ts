// inplace: small files kept in place and changed a little at a time, as configuration files,
// mailbox indexes or a small key-value store's files are. Every write is followed by an fsync of
// its file; a share of the writes (--overwrite-pct, a third by default) overwrite 1 B–4 KiB
// *inside* an existing file, the others create small files or append to them; between the
// fsyncs come metadata changes (--meta-pct of the operations: chmod, rename, truncate) that no
// fsync of their own follows.
//
// Invariants:
// - an overwrite never reaches past the end of its file (it is "inside");
// - every write or append is immediately followed by an fsync of the same path;
// - live data stays within the bound (Names.make_room deletes files before it would pass it).

import { KiB } from './names.js';
import type { Names } from './names.js';

export interface InplaceMix {
  /** fraction of writes that overwrite inside an existing file */
  overwrite: number;
  /** fraction of operations that are metadata changes between fsyncs */
  meta: number;
  /** fraction of written content that is text */
  text: number;
}

/** A file grows to this size at most (then an append truncates it first). */
const FILE_MAX = 64 * KiB;
/** Files made before the mix starts, so that overwrites have somewhere to land. */
const FILES_START = 16;
const MODES = [0o600, 0o640, 0o644, 0o444];

export function gen_inplace(n: Names, count: number, bound: number, mix: InplaceMix): void {
  n.dir_new();
  const create = (): void => {
    const len = n.len_log(256, 16 * KiB);
    n.make_room(len, bound);
    const f = n.file_new();
    n.write(f, 0, len, mix.text);
    n.emit({ op: 'fsync', path: f.path });
  };
  for (let i = 0; i < FILES_START && n.ops.length < count; i++) create();
  let meta = 0;
  while (n.ops.length < count) {
    if (n.files.length === 0) { create(); continue; }
    // metadata changes are kept at their share of the operations emitted so far (a write with
    // its fsync is two operations, a new file three: a per-step chance would undershoot)
    if (meta < mix.meta * n.ops.length) {
      meta++;
      const f = n.pick();
      const m = n.rng.float();
      if (m < 0.4) {
        n.emit({ op: 'chmod', path: f.path, mode: n.rng.pick(MODES) });
      } else if (m < 0.7) {
        n.rename(f);
      } else if (n.rng.chance(0.7) || f.size + 4 * KiB > FILE_MAX) {
        n.truncate(f, n.rng.int(Math.floor(f.size / 2), f.size));
      } else {
        const grow = n.rng.int(1, 4 * KiB);
        n.make_room(grow, bound);
        if (n.files.includes(f)) n.truncate(f, f.size + grow);
      }
      continue;
    }
    // the rest of the operations: a few reads and stats, a few deletions, and writes with fsync
    const rest = n.rng.float();
    if (rest < 0.08) {
      const f = n.pick();
      if (n.rng.chance(0.5)) n.emit({ op: 'stat', path: f.path });
      else { const { off, len } = n.range(f, 4 * KiB); n.emit({ op: 'read', path: f.path, off, len }); }
      continue;
    }
    if (rest < 0.1) {
      if (n.files.length > FILES_START) n.unlink(n.pick());
      continue;
    }
    if (n.rng.chance(mix.overwrite)) {
      const f = n.pick();
      if (f.size === 0) continue;
      const off = n.rng.int(0, f.size - 1);
      const len = Math.min(n.len_log(1, 4 * KiB), f.size - off);
      n.write(f, off, len, mix.text);
      n.emit({ op: 'fsync', path: f.path });
    } else if (n.rng.chance(0.25)) {
      create();
    } else {
      const f = n.pick();
      const len = n.len_log(64, 4 * KiB);
      if (f.size + len > FILE_MAX) { n.truncate(f, n.rng.int(0, f.size >> 2)); continue; }
      n.make_room(len, bound);
      if (!n.files.includes(f)) continue;
      n.append(f, len, mix.text);
      n.emit({ op: 'fsync', path: f.path });
    }
  }
}
