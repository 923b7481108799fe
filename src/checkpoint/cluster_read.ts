// Reading file blocks through their map, compressed clusters included (format/cluster.ts).
//
// A compressed cluster is read whole: its stored blocks (each checked against the CRC32C of its
// map slot), then decompressed once. The result is kept in a small cache of decompressed
// clusters per volume, keyed by the addresses and CRC32Cs of the stored blocks, so that reading a
// cluster 4 KiB at a time decompresses it once, and a cluster rewritten, moved or freed is never
// served from the cache (its key changes with it).
//
// Invariants: a cached buffer is never changed (callers copy before writing); a damaged cluster is
// EIO naming its first stored block and the file blocks it holds, never wrong data.

import { BLOCK_SIZE } from '../device/device.js';
import { CLUSTER_BLOCKS, cluster_decode } from '../format/cluster.js';
import { MAP_SLOTS } from '../format/records.js';
import type { MapChunk } from '../format/records.js';
import { FsError } from '../util/errors.js';
import type { Volume } from './volume.js';

/** decompressed clusters kept per volume (32 KiB each: 2 MiB) */
const CACHE_CLUSTERS = 64;

const caches = new WeakMap<Volume, Map<string, Buffer>>();

/** counters of the reads above (the bench and the tests look at them) */
export const clusterStats = { decompressed: 0, cacheHits: 0 };

/** The first block of the cluster holding file block `idx`. */
export function cluster_start(idx: number): number {
  return idx - (idx % CLUSTER_BLOCKS);
}

/** Whether file block `idx` lies in a compressed cluster of map chunk `m`. */
export function cluster_compressed(m: MapChunk | null, idx: number): boolean {
  if (!m) return false;
  const s = cluster_start(idx % MAP_SLOTS);
  return m.addr[s] !== 0 && m.comp[s] === 1;
}

/** How many blocks the compressed cluster starting at slot `s` is stored in (M). */
export function cluster_stored_count(m: MapChunk, s: number): number {
  let n = 0;
  while (n < CLUSTER_BLOCKS && m.addr[s + n] !== 0 && m.comp[s + n] === 1) n++;
  return n;
}

/**
 * The decompressed bytes of the compressed cluster holding file block `idx` of inode `ino`
 * (L × 4096; its blocks from L on are zeros). Shared with the cache: do not change it.
 */
export function cluster_raw(vol: Volume, m: MapChunk, ino: number, idx: number): Buffer {
  const cs = cluster_start(idx);
  const s = cs % MAP_SLOTS;
  const M = cluster_stored_count(m, s);
  let id = '';
  for (let j = 0; j < M; j++) id += `${m.addr[s + j]}:${m.csum[s + j]},`;
  let cache = caches.get(vol);
  if (!cache) { cache = new Map(); caches.set(vol, cache); }
  const hit = cache.get(id);
  if (hit) {
    // most recently used last
    cache.delete(id);
    cache.set(id, hit);
    clusterStats.cacheHits++;
    return hit;
  }
  // the stored blocks, in runs of consecutive addresses (the cleaner may have parted them)
  const parts: Buffer[] = [];
  for (let j = 0; j < M;) {
    let n = 1;
    while (j + n < M && m.addr[s + j + n] === m.addr[s + j]! + n) n++;
    parts.push(vol.data_read_run(m.addr[s + j]!, n, m.csum, s + j, ino, cs + j));
    j += n;
  }
  let raw: Buffer;
  try {
    raw = cluster_decode(parts.length === 1 ? parts[0]! : Buffer.concat(parts), M);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new FsError('EIO', `compressed cluster at address ${m.addr[s]} (inode ${ino}, file blocks ${cs}..${cs + CLUSTER_BLOCKS - 1}, ${M} stored blocks) is damaged: ${e.message}`);
  }
  clusterStats.decompressed++;
  cache.set(id, raw);
  if (cache.size > CACHE_CLUSTERS) cache.delete(cache.keys().next().value!);
  return raw;
}

/**
 * The content of file block `idx` of inode `ino` as a new buffer: from its plain block, from its
 * compressed cluster, or zeros for a hole. `m` is the map chunk holding it.
 */
export function block_read(vol: Volume, m: MapChunk | null, ino: number, idx: number): Buffer {
  if (!m) return Buffer.alloc(BLOCK_SIZE);
  const s = idx % MAP_SLOTS;
  if (cluster_compressed(m, idx)) {
    const raw = cluster_raw(vol, m, ino, idx);
    const at = (idx - cluster_start(idx)) * BLOCK_SIZE;
    const out = Buffer.alloc(BLOCK_SIZE);
    if (at < raw.length) raw.copy(out, 0, at, at + BLOCK_SIZE);
    return out;
  }
  if (m.addr[s] === 0) return Buffer.alloc(BLOCK_SIZE);
  return vol.data_read(m.addr[s]!, m.csum[s]!, ino, idx);
}

/** Forgets the decompressed clusters of a volume (cache_drop: reads go to the device again). */
export function cluster_cache_drop(vol: Volume): void {
  caches.delete(vol);
}
