// The workload of `cowlog bench fsync`: 4 KiB records appended to a file under six durability
// policies, the records' format, and how many survived a crash.
//
// A record is 4096 bytes: magic "CWBF", the run's id, its index in the file, filler, and the
// CRC32C of the first 4092 bytes in the last 4. After a crash the file is read from the start
// and the records counted up to the first one that is missing or not intact: the length the
// file reached. The writer says on stdout, one line per record, how many records write(2) (and
// the mode's fsync, when it falls on that record) had returned: the length acknowledged.
//
// Invariants: every mode writes the same bytes in the same order, one write(2) per record; the
// only difference is when it asks for durability.

import fs from 'node:fs';
import { crc32c } from '../util/crc32c.js';

export const RECORD_BYTES = 4096;
const MAGIC = 0x46425743; // "CWBF"

export const MODES = ['none', 'fsync-1', 'fsync-10', 'fsync-100', 'o_sync', 'fdatasync-1'] as const;
export type Mode = (typeof MODES)[number];

export const MODE_LABEL: Record<Mode, string> = {
  'none': 'no fsync',
  'fsync-1': 'fsync per record',
  'fsync-10': 'fsync per 10',
  'fsync-100': 'fsync per 100',
  'o_sync': 'O_SYNC',
  'fdatasync-1': 'fdatasync per record',
};

/** Explicit fsync/fdatasync calls per record (O_SYNC makes every write synchronous instead). */
export function syncs_per_record(m: Mode): number {
  return m === 'fsync-1' || m === 'fdatasync-1' ? 1 : m === 'fsync-10' ? 0.1 : m === 'fsync-100' ? 0.01 : 0;
}

export function record_make(run: number, index: number, into: Buffer): Buffer {
  into.writeUInt32LE(MAGIC, 0);
  into.writeUInt32LE(run >>> 0, 4);
  into.writeUInt32LE(index >>> 0, 8);
  // filler that differs per record, so a block of another record never passes for this one
  for (let o = 12; o < RECORD_BYTES - 4; o += 4) into.writeUInt32LE((Math.imul(index + 1, 0x9e3779b1) ^ o ^ run) >>> 0, o);
  into.writeUInt32LE(crc32c(into, 0, RECORD_BYTES - 4), RECORD_BYTES - 4);
  return into;
}

function record_ok(b: Buffer, at: number, run: number, index: number): boolean {
  return b.readUInt32LE(at) === MAGIC && b.readUInt32LE(at + 4) === run >>> 0 && b.readUInt32LE(at + 8) === index >>> 0 &&
    crc32c(b, at, at + RECORD_BYTES - 4) === b.readUInt32LE(at + RECORD_BYTES - 4);
}

/** Intact records from the start of `file` (written by run `run`), and the file's size. */
export function records_count(file: string, run: number): { records: number; bytes: number } {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { records: 0, bytes: 0 };
    throw e;
  }
  let n = 0;
  while ((n + 1) * RECORD_BYTES <= data.length && record_ok(data, n * RECORD_BYTES, run, n)) n++;
  return { records: n, bytes: data.length };
}

/**
 * Appends `records` records to a new `file` under `mode`. `ack(k)` is called once record k's
 * write (and the fsync due after it) has returned. Returns the seconds it took (the final
 * close included, nothing else).
 */
export function records_write(file: string, mode: Mode, records: number, run: number, ack?: (k: number) => void): number {
  const c = fs.constants;
  const buf = Buffer.allocUnsafe(RECORD_BYTES);
  const t0 = performance.now();
  const fd = fs.openSync(file, c.O_WRONLY | c.O_CREAT | c.O_TRUNC | (mode === 'o_sync' ? c.O_SYNC : 0), 0o644);
  try {
    for (let i = 0; i < records; i++) {
      fs.writeSync(fd, record_make(run, i, buf));
      const k = i + 1;
      if (mode === 'fsync-1' || (mode === 'fsync-10' && k % 10 === 0) || (mode === 'fsync-100' && k % 100 === 0)) fs.fsyncSync(fd);
      else if (mode === 'fdatasync-1') fs.fdatasyncSync(fd);
      ack?.(k);
    }
  } finally {
    fs.closeSync(fd);
  }
  return (performance.now() - t0) / 1000;
}
