// Codec for the wear file (docs/WEARFILE.md, version 2; version 1 files still read). Pure: no I/O.
//
// Invariants checked on both sides:
// - counts.length === blocks; timeline arrays all have `requests` entries;
// - bytes === sum of timeline lengths unless the timeline was truncated (flag bit 0);
// - the per-cause totals in the metadata (`causes`), when present, sum to `bytes` exactly;
// - the trailer CRC32C covers every byte before it.

import { crc32c } from '../util/crc32c.js';

export const WEAR_MAGIC = Buffer.from('CLWEAR\x00\x01', 'latin1');
export const WEAR_VERSION = 2;
export const WEAR_FLAG_TRUNCATED = 1n;
export const WEAR_REQ_FLUSH = 1;
const HEADER_BYTES = 64;
/** timeline entry bytes by version */
const ENTRY_BYTES: Record<number, number> = { 1: 24, 2: 32 };

/** Totals of one cause over a run (exact even when the timeline was truncated). */
export interface CauseTotals {
  requests: number;
  blocks: number;
  bytes: number;
}

export interface WearMeta {
  fs: string;
  source: string;
  device?: string;
  deviceBytes?: number;
  mkfsBytes?: number;
  workload?: string;
  startedAt?: string;
  runMs?: number;
  notes?: string;
  /** version 2: totals by cause name (docs/WEARFILE.md), summing to `bytes` */
  causes?: Record<string, CauseTotals>;
  /** version 2: checkpoints written, by trigger name */
  checkpoints?: Record<string, number>;
  [key: string]: unknown;
}

/** One run's record: per-block counts plus the request timeline, as the file holds it. */
export interface WearRecord {
  meta: WearMeta;
  blockSize: number;
  /** write requests that touched each 4 KiB block */
  counts: Uint32Array;
  /** host bytes of the run (sum of request lengths) */
  bytes: bigint;
  truncated: boolean;
  timeNs: BigUint64Array;
  offset: BigUint64Array;
  length: Uint32Array;
  flags: Uint32Array;
  /** version 2 (zeros when absent or read from version 1): per request, its Cause, the inode it
   *  was written for and the process that made it dirty (0: not known) */
  cause?: Uint8Array;
  ino?: Uint32Array;
  pid?: Uint32Array;
}

export class WearFileError extends Error {
  constructor(path: string, why: string) {
    super(`${path}: not a valid cowlog wear file: ${why}`);
    this.name = 'WearFileError';
  }
}

export function wear_encode(rec: WearRecord): Buffer {
  const n = rec.timeNs.length;
  if (rec.offset.length !== n || rec.length.length !== n || rec.flags.length !== n) {
    throw new RangeError(`wear_encode: timeline arrays differ in length (${n}, ${rec.offset.length}, ${rec.length.length}, ${rec.flags.length})`);
  }
  for (const [name, col] of [['cause', rec.cause], ['ino', rec.ino], ['pid', rec.pid]] as const) {
    if (col !== undefined && col.length !== n) throw new RangeError(`wear_encode: ${name} column of ${col.length} entries, timeline of ${n}`);
  }
  if (!rec.truncated) {
    let sum = 0n;
    for (let i = 0; i < n; i++) sum += BigInt(rec.length[i]!);
    if (sum !== rec.bytes) throw new RangeError(`wear_encode: bytes ${rec.bytes} != sum of request lengths ${sum}`);
  }
  const bad = causes_check(rec.meta, rec.bytes);
  if (bad) throw new RangeError(`wear_encode: ${bad}`);
  const entryBytes = ENTRY_BYTES[WEAR_VERSION]!;
  const meta = Buffer.from(JSON.stringify(rec.meta), 'utf8');
  const metaPadded = (meta.length + 7) & ~7;
  const total = HEADER_BYTES + metaPadded + rec.counts.length * 4 + n * entryBytes + 4;
  const out = Buffer.alloc(total);
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  WEAR_MAGIC.copy(out, 0);
  v.setUint32(8, WEAR_VERSION, true);
  v.setUint32(12, rec.blockSize, true);
  v.setUint32(16, rec.counts.length, true);
  v.setUint32(20, meta.length, true);
  v.setBigUint64(24, BigInt(n), true);
  v.setBigUint64(32, rec.bytes, true);
  v.setBigUint64(40, rec.truncated ? WEAR_FLAG_TRUNCATED : 0n, true);
  meta.copy(out, HEADER_BYTES);
  let p = HEADER_BYTES + metaPadded;
  for (let i = 0; i < rec.counts.length; i++, p += 4) v.setUint32(p, rec.counts[i]!, true);
  for (let i = 0; i < n; i++, p += entryBytes) {
    v.setBigUint64(p, rec.timeNs[i]!, true);
    v.setBigUint64(p + 8, rec.offset[i]!, true);
    v.setUint32(p + 16, rec.length[i]!, true);
    v.setUint16(p + 20, rec.flags[i]!, true);
    v.setUint8(p + 22, rec.cause?.[i] ?? 0);
    v.setUint32(p + 24, rec.ino?.[i] ?? 0, true);
    v.setUint32(p + 28, rec.pid?.[i] ?? 0, true);
  }
  v.setUint32(p, crc32c(out, 0, p), true);
  return out;
}

export function wear_decode(buf: Uint8Array, path = 'wear file'): WearRecord {
  if (buf.length < HEADER_BYTES + 4) throw new WearFileError(path, `only ${buf.length} bytes`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (!b.subarray(0, 8).equals(WEAR_MAGIC)) throw new WearFileError(path, 'bad magic');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const version = v.getUint32(8, true);
  const entryBytes = ENTRY_BYTES[version];
  if (entryBytes === undefined) throw new WearFileError(path, `unsupported version ${version} (this cowlog reads 1 and ${WEAR_VERSION})`);
  const blockSize = v.getUint32(12, true);
  const blocks = v.getUint32(16, true);
  const metaLen = v.getUint32(20, true);
  const requests = v.getBigUint64(24, true);
  const bytes = v.getBigUint64(32, true);
  const flags = v.getBigUint64(40, true);
  const metaPadded = (metaLen + 7) & ~7;
  const expect = BigInt(HEADER_BYTES + metaPadded + blocks * 4) + requests * BigInt(entryBytes) + 4n;
  if (expect !== BigInt(b.length)) throw new WearFileError(path, `length ${b.length} but header implies ${expect}`);
  const crcAt = b.length - 4;
  const crc = v.getUint32(crcAt, true);
  if (crc32c(b, 0, crcAt) !== crc) throw new WearFileError(path, 'CRC32C mismatch');
  let parsed: unknown;
  try {
    parsed = JSON.parse(b.subarray(HEADER_BYTES, HEADER_BYTES + metaLen).toString('utf8'));
  } catch (e) {
    throw new WearFileError(path, `metadata is not JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new WearFileError(path, 'metadata is not a JSON object');
  const meta = parsed as WearMeta;
  if (typeof meta.fs !== 'string' || typeof meta.source !== 'string') throw new WearFileError(path, "metadata lacks the string keys 'fs' and 'source'");
  const n = Number(requests);
  const counts = new Uint32Array(blocks);
  let p = HEADER_BYTES + metaPadded;
  for (let i = 0; i < blocks; i++, p += 4) counts[i] = v.getUint32(p, true);
  const timeNs = new BigUint64Array(n), offset = new BigUint64Array(n);
  const length = new Uint32Array(n), rflags = new Uint32Array(n);
  const cause = new Uint8Array(n), ino = new Uint32Array(n), pid = new Uint32Array(n);
  let sum = 0n;
  for (let i = 0; i < n; i++, p += entryBytes) {
    timeNs[i] = v.getBigUint64(p, true);
    offset[i] = v.getBigUint64(p + 8, true);
    length[i] = v.getUint32(p + 16, true);
    if (version === 1) {
      rflags[i] = v.getUint32(p + 20, true);
    } else {
      rflags[i] = v.getUint16(p + 20, true);
      cause[i] = v.getUint8(p + 22);
      ino[i] = v.getUint32(p + 24, true);
      pid[i] = v.getUint32(p + 28, true);
    }
    sum += BigInt(length[i]!);
  }
  const truncated = (flags & WEAR_FLAG_TRUNCATED) !== 0n;
  if (!truncated && sum !== bytes) throw new WearFileError(path, `bytes ${bytes} != sum of request lengths ${sum}`);
  const bad = causes_check(meta, bytes);
  if (bad) throw new WearFileError(path, bad);
  return { meta, blockSize, counts, bytes, truncated, timeNs, offset, length, flags: rflags, cause, ino, pid };
}

/** Why the per-cause totals of `meta` are inconsistent with `bytes`, or null (none is fine). */
function causes_check(meta: WearMeta, bytes: bigint): string | null {
  const c = meta.causes;
  if (c === undefined) return null;
  if (typeof c !== 'object' || c === null || Array.isArray(c)) return "metadata 'causes' is not an object";
  let sum = 0n;
  for (const [name, t] of Object.entries(c)) {
    if (typeof t !== 'object' || t === null || ![t.requests, t.blocks, t.bytes].every((x) => Number.isSafeInteger(x) && x >= 0)) return `metadata 'causes.${name}' is not {requests, blocks, bytes}`;
    sum += BigInt(t.bytes);
  }
  return sum === bytes ? null : `the causes' bytes sum to ${sum}, the run wrote ${bytes}`;
}
