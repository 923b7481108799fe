// Compressed clusters: CLUSTER_BLOCKS file blocks compressed with lz4 into fewer stored blocks.
//
// A file's blocks are grouped in clusters of CLUSTER_BLOCKS, aligned to multiples of it in the
// file (so a cluster never spans two map records: 64 is a multiple). A cluster is stored either
// plain (each block in its own slot, as always) or compressed: its first L blocks (L ≤
// CLUSTER_BLOCKS, the file's last cluster may be shorter) are compressed together and the
// result is stored in M < L blocks, in the map slots of the cluster's first M blocks, each
// flagged MAP_SLOT_COMPRESSED and carrying the CRC32C of the stored bytes; the cluster's other
// slots hold nothing, and its blocks from L on read as zeros.
//
// The stored bytes (record `cluster` in docs/FORMAT.md): stored_len (u32), then the output of
// lz4-wasm's compress — raw_len (u32, the decompressed length, lz4-wasm's size prefix) and an
// LZ4 block — then zeros up to M × 4096 bytes.
//
// Invariants: raw_len = L × 4096 with 2 ≤ L ≤ CLUSTER_BLOCKS; M = ceil((4 + stored_len) / 4096)
// < L; the padding is zero. cluster_decode checks all of them before it decompresses, and checks
// the decompressed length after: a damaged cluster is an error, never wrong data or a huge
// allocation (lz4's own size prefix is bounded before lz4 sees it).

import { createRequire } from 'node:module';
import { BLOCK_SIZE } from '../device/device.js';

interface Lz4 {
  compress(input: Uint8Array): Uint8Array;
  decompress(input: Uint8Array): Uint8Array;
}
// a CommonJS package (wasm-bindgen's nodejs target): loaded once, synchronously
const lz4 = createRequire(import.meta.url)('lz4-wasm-nodejs') as Lz4;

/** file blocks per cluster (32 KiB): docs/DESIGN.md gives the measurements behind the choice */
export const CLUSTER_BLOCKS = 8;
/** stored_len and lz4's size prefix */
export const CLUSTER_HEADER_BYTES = 8;
/** order-0 entropy (bits per byte) of a sample above which a cluster is not even tried */
const ENTROPY_MAX = 7.2;
/** bytes sampled for the entropy estimate (spread over the cluster) */
const SAMPLE_BYTES = 2048;

/** How many blocks a cluster of `rawBytes` compressed to `lz4Bytes` (lz4-wasm's output) takes. */
export function cluster_stored_blocks(lz4Bytes: number): number {
  return Math.ceil((4 + lz4Bytes) / BLOCK_SIZE);
}

/**
 * Whether a sample of `raw` looks incompressible: its order-0 entropy is above ENTROPY_MAX bits
 * per byte (random, encrypted or already compressed data; text is about 4.5–5.5). Costs a pass
 * over SAMPLE_BYTES, a tenth of what trying lz4 on a random cluster costs.
 */
export function cluster_incompressible(raw: Uint8Array | readonly Uint8Array[]): boolean {
  // the blocks of a cluster, or one buffer cut in eight: a piece from each
  const pieces = 8;
  const parts = raw instanceof Uint8Array ? Array.from({ length: pieces }, (_, p) => raw.subarray(Math.floor((p * raw.length) / pieces), Math.floor(((p + 1) * raw.length) / pieces))) : raw;
  const counts = new Uint32Array(256);
  const take = Math.floor(SAMPLE_BYTES / parts.length);
  let n = 0;
  for (const part of parts) {
    const k = Math.min(take, part.length);
    for (let i = 0; i < k; i++) counts[part[i]!]!++;
    n += k;
  }
  if (n === 0) return false;
  let h = 0;
  for (let c = 0; c < 256; c++) {
    const k = counts[c]!;
    if (k) h -= (k / n) * Math.log2(k / n);
  }
  return h > ENTROPY_MAX;
}

/**
 * The stored blocks of `raw` (L whole blocks, 2 ≤ L ≤ CLUSTER_BLOCKS) compressed, or null when
 * compressing would not save at least one block. Does not look at entropy: the caller decides
 * whether to try (cluster_incompressible).
 */
export function cluster_encode(raw: Uint8Array): Buffer[] | null {
  const L = raw.length / BLOCK_SIZE;
  if (!Number.isInteger(L) || L < 1 || L > CLUSTER_BLOCKS) throw new RangeError(`cluster of ${raw.length} bytes`);
  if (L < 2) return null;
  const c = lz4.compress(raw);
  const M = cluster_stored_blocks(c.length);
  if (M >= L) return null;
  const b = Buffer.alloc(M * BLOCK_SIZE);
  b.writeUInt32LE(c.length, 0);
  b.set(c, 4);
  // checked on both sides of the disk: what lz4 wrote must carry the length we gave it
  if (b.readUInt32LE(4) !== raw.length) throw new RangeError(`lz4 wrote size prefix ${b.readUInt32LE(4)} for ${raw.length} bytes`);
  const out: Buffer[] = [];
  for (let j = 0; j < M; j++) out.push(b.subarray(j * BLOCK_SIZE, (j + 1) * BLOCK_SIZE));
  return out;
}

/** The fields of a cluster's first block, checked against M stored blocks (RangeError if bad). */
export function cluster_header(stored: Uint8Array, M: number): { storedLen: number; rawLen: number; blocks: number } {
  if (stored.length !== M * BLOCK_SIZE || M < 1 || M >= CLUSTER_BLOCKS) throw new RangeError(`${M} stored blocks`);
  const v = new DataView(stored.buffer, stored.byteOffset, stored.byteLength);
  const storedLen = v.getUint32(0, true);
  if (storedLen < 5 || 4 + storedLen > M * BLOCK_SIZE) throw new RangeError(`stored length ${storedLen} does not fit ${M} blocks`);
  if (cluster_stored_blocks(storedLen) !== M) throw new RangeError(`stored length ${storedLen} needs ${cluster_stored_blocks(storedLen)} blocks, the map has ${M}`);
  const rawLen = v.getUint32(4, true);
  const blocks = rawLen / BLOCK_SIZE;
  if (!Number.isInteger(blocks) || blocks <= M || blocks > CLUSTER_BLOCKS) throw new RangeError(`decompressed length ${rawLen} is not ${M + 1} to ${CLUSTER_BLOCKS} blocks`);
  return { storedLen, rawLen, blocks };
}

/**
 * The decompressed bytes (L × 4096) of a cluster stored in `stored` (its M blocks, one after
 * the other, each already checked against its CRC32C). Throws RangeError naming what is wrong.
 */
export function cluster_decode(stored: Uint8Array, M: number): Buffer {
  const h = cluster_header(stored, M);
  for (let i = 4 + h.storedLen; i < stored.length; i++) if (stored[i] !== 0) throw new RangeError(`non-zero padding at byte ${i}`);
  let raw: Uint8Array;
  try {
    raw = lz4.decompress(stored.subarray(4, 4 + h.storedLen));
  } catch (e) {
    // wasm-bindgen throws strings, not Errors
    throw new RangeError(`lz4 cannot decompress it (${e instanceof Error ? e.message : String(e)})`);
  }
  if (raw.length !== h.rawLen) throw new RangeError(`decompressed to ${raw.length} bytes, not ${h.rawLen}`);
  // lz4-wasm returns a copy out of wasm memory already: a Buffer over the same bytes
  return Buffer.from(raw.buffer, raw.byteOffset, raw.length);
}
