// Codec for the wear file (docs/WEARFILE.md, version 1). Pure: no I/O.
//
// Invariants checked on both sides:
// - counts.length === blocks; timeline arrays all have `requests` entries;
// - bytes === sum of timeline lengths unless the timeline was truncated (flag bit 0);
// - the trailer CRC32C covers every byte before it.

import { crc32c } from '../util/crc32c.js';

export const WEAR_MAGIC = Buffer.from('CLWEAR\x00\x01', 'latin1');
export const WEAR_VERSION = 1;
export const WEAR_FLAG_TRUNCATED = 1n;
export const WEAR_REQ_FLUSH = 1;
const HEADER_BYTES = 64;
const ENTRY_BYTES = 24;

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
  if (!rec.truncated) {
    let sum = 0n;
    for (let i = 0; i < n; i++) sum += BigInt(rec.length[i]!);
    if (sum !== rec.bytes) throw new RangeError(`wear_encode: bytes ${rec.bytes} != sum of request lengths ${sum}`);
  }
  const meta = Buffer.from(JSON.stringify(rec.meta), 'utf8');
  const metaPadded = (meta.length + 7) & ~7;
  const total = HEADER_BYTES + metaPadded + rec.counts.length * 4 + n * ENTRY_BYTES + 4;
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
  for (let i = 0; i < n; i++, p += ENTRY_BYTES) {
    v.setBigUint64(p, rec.timeNs[i]!, true);
    v.setBigUint64(p + 8, rec.offset[i]!, true);
    v.setUint32(p + 16, rec.length[i]!, true);
    v.setUint32(p + 20, rec.flags[i]!, true);
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
  if (version !== WEAR_VERSION) throw new WearFileError(path, `unsupported version ${version}`);
  const blockSize = v.getUint32(12, true);
  const blocks = v.getUint32(16, true);
  const metaLen = v.getUint32(20, true);
  const requests = v.getBigUint64(24, true);
  const bytes = v.getBigUint64(32, true);
  const flags = v.getBigUint64(40, true);
  const metaPadded = (metaLen + 7) & ~7;
  const expect = BigInt(HEADER_BYTES + metaPadded + blocks * 4) + requests * BigInt(ENTRY_BYTES) + 4n;
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
  let sum = 0n;
  for (let i = 0; i < n; i++, p += ENTRY_BYTES) {
    timeNs[i] = v.getBigUint64(p, true);
    offset[i] = v.getBigUint64(p + 8, true);
    length[i] = v.getUint32(p + 16, true);
    rflags[i] = v.getUint32(p + 20, true);
    sum += BigInt(length[i]!);
  }
  const truncated = (flags & WEAR_FLAG_TRUNCATED) !== 0n;
  if (!truncated && sum !== bytes) throw new WearFileError(path, `bytes ${bytes} != sum of request lengths ${sum}`);
  return { meta, blockSize, counts, bytes, truncated, timeNs, offset, length, flags: rflags };
}
