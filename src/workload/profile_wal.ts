// wal: a database with a write-ahead log, written as SQLite writes one in WAL mode
// (journal_mode=WAL, synchronous=FULL, checkpoints that truncate the log):
// - a transaction appends one frame per page it changed to db/main.db-wal: a 24-byte frame
//   header and the 4 KiB page, one write each frame (the log's 32-byte header first, when the
//   log is empty), then fsyncs the log: that is the commit;
// - about every --checkpoint-every transactions (±25 %) the newest copy of every page in the log
//   is written into db/main.db at its place, in page order, the database is fsync'd, and the log
//   truncated to nothing and fsync'd;
// - some transactions add a page at the end (the database grows to what the live-data bound
//   leaves beside the largest log),
//   half of the changed pages are among the hottest tenth (roots, interior nodes, hot rows);
// - a tenth of the operations read a page of the database.
//
// Invariants:
// - frames are appended at 32 + i·4120: the log only grows between checkpoints;
// - the database and the largest log the checkpoint interval allows fit in the live-data bound
//   together (checked up front: a bad --checkpoint-every is refused before anything is written).

import { KiB } from './names.js';
import type { Names } from './names.js';
import { KnobError } from './knobs.js';

export const WAL_PAGE = 4096;
export const WAL_FRAME_HEADER = 24;
export const WAL_HEADER = 32;
export const WAL_FRAME = WAL_PAGE + WAL_FRAME_HEADER;
const FRAMES_PER_TX_MAX = 4;
/** the smallest database worth the name: 16 pages */
const PAGES_MIN = 16;
const DB = 'db/main.db';
const LOG = 'db/main.db-wal';

export interface WalMix {
  checkpointEvery: number;
  text: number;
}

/** The largest log a checkpoint interval can build, in bytes. */
export function wal_bytes_max(checkpointEvery: number): number {
  return WAL_HEADER + Math.ceil(checkpointEvery * 1.25) * FRAMES_PER_TX_MAX * WAL_FRAME;
}

export function gen_wal(n: Names, count: number, bound: number, mix: WalMix): void {
  const logMax = wal_bytes_max(mix.checkpointEvery);
  // the database grows to what the bound leaves beside the largest log
  const pagesMax = Math.floor((bound - logMax) / WAL_PAGE);
  if (pagesMax < PAGES_MIN) {
    throw new KnobError(`--checkpoint-every ${mix.checkpointEvery}: a log of up to ${(logMax / 1048576).toFixed(1)} MiB leaves no room for a database ` +
      `in the live-data bound of ${(bound / 1048576).toFixed(1)} MiB (lower it or raise --live-max)`);
  }
  n.emit({ op: 'mkdir', path: 'db' });
  n.emit({ op: 'create', path: DB });
  // the database starts at half its final size, written in 256 KiB chunks and fsync'd
  let pagesOnDisk = Math.floor(pagesMax / 2);
  for (let off = 0; off < pagesOnDisk * WAL_PAGE; off += 256 * KiB) {
    const len = Math.min(256 * KiB, pagesOnDisk * WAL_PAGE - off);
    n.emit({ op: 'write', path: DB, off, len, gen: n.gen(mix.text) });
  }
  n.emit({ op: 'fsync', path: DB });
  n.emit({ op: 'create', path: LOG });
  let pages = pagesOnDisk; // pages the database holds once the log is checkpointed
  let frames = 0;
  const inLog = new Set<number>();
  const interval = (): number => n.rng.int(Math.max(1, Math.floor(mix.checkpointEvery * 0.75)), Math.ceil(mix.checkpointEvery * 1.25));
  let txLeft = interval();
  while (n.ops.length < count) {
    if (n.rng.chance(0.1)) {
      const p = n.rng.int(0, pagesOnDisk - 1);
      n.emit({ op: 'read', path: DB, off: p * WAL_PAGE, len: WAL_PAGE });
      continue;
    }
    const k = n.rng.int(1, FRAMES_PER_TX_MAX);
    const hot = Math.max(1, Math.floor(pages / 10));
    for (let i = 0; i < k; i++) {
      let p: number;
      if (pages < pagesMax && n.rng.chance(0.1)) p = pages++;
      else if (n.rng.chance(0.5)) p = n.rng.int(0, hot - 1);
      else p = n.rng.int(0, pages - 1);
      if (frames === 0) n.emit({ op: 'write', path: LOG, off: 0, len: WAL_HEADER, gen: n.gen(0) });
      n.emit({ op: 'write', path: LOG, off: WAL_HEADER + frames * WAL_FRAME, len: WAL_FRAME, gen: n.gen(mix.text) });
      frames++;
      inLog.add(p);
    }
    n.emit({ op: 'fsync', path: LOG });
    if (--txLeft > 0) continue;
    for (const p of [...inLog].sort((a, b) => a - b)) n.emit({ op: 'write', path: DB, off: p * WAL_PAGE, len: WAL_PAGE, gen: n.gen(mix.text) });
    n.emit({ op: 'fsync', path: DB });
    n.emit({ op: 'truncate', path: LOG, size: 0 });
    n.emit({ op: 'fsync', path: LOG });
    pagesOnDisk = pages;
    frames = 0;
    inLog.clear();
    txLeft = interval();
  }
}
