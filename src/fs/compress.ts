// File data compression: which files are compressed, and how the page cache meets compressed
// clusters (format/cluster.ts) when files are written, flushed and truncated.
//
// - Policy. An inode's COMPRESS or NOCOMPRESS flag decides; a file with neither follows the
//   mount (`-o compress=lz4|none`, by default what mkfs recorded in the superblock). New files
//   and directories take their directory's flag. Users see and set it as the extended attribute
//   `user.cowlog.compress` ("lz4" or "none"; removing it returns the file to the mount's choice).
// - Writes. The first write into a compressed cluster brings the whole cluster into the page
//   cache (decompressed once): a compressed cluster is only ever rewritten whole, and space for
//   all of it is admitted then — its stored blocks as overwrites, the rest of its blocks as new
//   ones — which is exactly what writing it back uncompressed would need. So a rewrite of
//   compressible data with incompressible data can not fail for want of space after write(2)
//   returned.
// - Flushes. A cluster is written compressed when every block of it up to the end of the file
//   is in the page cache (a whole write, or a cluster brought in by a write), or when an append
//   completes it and its other blocks are plain on the device (they are read back), and when
//   lz4 then saves at least one block. Data whose sample looks random is not even tried. The
//   last, partial cluster of a file appended to by fsync'd writes stays plain until it is full.
//
// Invariants: a flush never writes a cluster in more blocks than writing its dirty pages plain
// would (the space admitted); a compressed cluster is replaced whole or not at all.

import { BLOCK_SIZE } from '../device/device.js';
import { block_read, cluster_compressed, cluster_raw, cluster_start, cluster_stored_count } from '../checkpoint/cluster_read.js';
import { CLUSTER_BLOCKS, cluster_encode, cluster_header, cluster_incompressible } from '../format/cluster.js';
import { INODE_FLAG_COMPRESS, INODE_FLAG_NOCOMPRESS, map_decode, MAP_SLOTS, RecKind } from '../format/records.js';
import type { Inode, MapChunk } from '../format/records.js';
import type { Volume } from '../checkpoint/volume.js';
import { FsError } from '../util/errors.js';
import type { InodeMem } from './inode.js';
import { pages_own, type DirtyCount } from './inode.js';

/** the extended attribute that shows and sets a file's or directory's compression */
export const COMPRESS_XATTR = 'user.cowlog.compress';

export type CompressMode = 'lz4' | 'none';

/** what the engine compressed and stored since mount (cowlog info shows the whole device) */
export interface CompressStats {
  /** clusters written compressed, and their blocks before and after */
  clusters: number;
  rawBlocks: number;
  storedBlocks: number;
  /** clusters tried and written plain: lz4 saved no block, or the sample looked random */
  plainFallback: number;
  skippedEntropy: number;
  /** compressed clusters brought into the page cache for a write (read-modify-write) */
  rmwLoads: number;
}

export function compress_stats_new(): CompressStats {
  return { clusters: 0, rawBlocks: 0, storedBlocks: 0, plainFallback: 0, skippedEntropy: 0, rmwLoads: 0 };
}

/** Whether file data of inode `rec` is compressed, with `mountDefault` for files without a flag. */
export function compress_on(rec: Inode, mountDefault: boolean): boolean {
  if (rec.flags & INODE_FLAG_NOCOMPRESS) return false;
  if (rec.flags & INODE_FLAG_COMPRESS) return true;
  return mountDefault;
}

/** The compression flag a new inode takes from its directory. */
export function compress_inherit(dir: Inode): number {
  return dir.flags & (INODE_FLAG_COMPRESS | INODE_FLAG_NOCOMPRESS);
}

/** The value of user.cowlog.compress for an inode, or undefined when it follows the mount. */
export function compress_xattr_get(rec: Inode): Buffer | undefined {
  if (rec.flags & INODE_FLAG_COMPRESS) return Buffer.from('lz4');
  if (rec.flags & INODE_FLAG_NOCOMPRESS) return Buffer.from('none');
  return undefined;
}

/**
 * Sets (value) or removes (null) user.cowlog.compress on an inode's record; the caller stores
 * it. Data already written stays as it is; what is written from now on follows the new value.
 */
export function compress_xattr_set(rec: Inode, value: Uint8Array | null, mode: 'create' | 'replace' | 'any' = 'any'): void {
  const had = (rec.flags & (INODE_FLAG_COMPRESS | INODE_FLAG_NOCOMPRESS)) !== 0;
  if (value === null) {
    if (!had) throw new FsError('ENODATA', `${COMPRESS_XATTR} is not set`);
    rec.flags &= ~(INODE_FLAG_COMPRESS | INODE_FLAG_NOCOMPRESS);
    return;
  }
  if (mode === 'create' && had) throw new FsError('EEXIST', `${COMPRESS_XATTR} is already set`);
  if (mode === 'replace' && !had) throw new FsError('ENODATA', `${COMPRESS_XATTR} is not set`);
  const v = Buffer.from(value).toString('latin1').replace(/\0+$/, '').trim();
  if (v !== 'lz4' && v !== 'none') throw new FsError('EINVAL', `${COMPRESS_XATTR}: '${v}' is neither 'lz4' nor 'none'`);
  rec.flags = (rec.flags & ~(INODE_FLAG_COMPRESS | INODE_FLAG_NOCOMPRESS)) | (v === 'lz4' ? INODE_FLAG_COMPRESS : INODE_FLAG_NOCOMPRESS);
}

export function is_compress_xattr(name: Uint8Array | string): boolean {
  return (typeof name === 'string' ? name : Buffer.from(name).toString('latin1')) === COMPRESS_XATTR;
}

/** Blocks of the file from its cluster at `cs` on, within the cluster (L of a cluster). */
function cluster_len(m: InodeMem, cs: number): number {
  return Math.max(0, Math.min(CLUSTER_BLOCKS, Math.ceil(m.size / BLOCK_SIZE) - cs));
}

/**
 * The compressed clusters a write to blocks [first, last] will bring into the page cache, with
 * their decompressed bytes, and the pages of them outside [first, last] that are not cached yet
 * and will need a block (`needs`): what the write must admit beyond its own pages.
 */
export function write_clusters(vol: Volume, m: InodeMem, first: number, last: number, chunk_of: (idx: number) => MapChunk | null,
  needs: (addr: number) => boolean): { fresh: number; clusters: number[] } {
  let fresh = 0;
  const clusters: number[] = [];
  for (let cs = cluster_start(first); cs <= last; cs += CLUSTER_BLOCKS) {
    const mc = chunk_of(cs);
    if (!cluster_compressed(mc, cs)) continue;
    clusters.push(cs);
    const raw = cluster_raw(vol, mc!, m.ino, cs);
    for (let j = 0; j * BLOCK_SIZE < raw.length; j++) {
      const idx = cs + j;
      if (idx >= first && idx <= last) continue; // counted with the write's own pages
      if (!m.pages.has(idx) && needs(mc!.addr[idx % MAP_SLOTS]!)) fresh++;
    }
  }
  return { fresh, clusters };
}

/**
 * Brings compressed cluster `cs` into the page cache: every block of it not cached becomes a
 * dirty page (unchanged: no range, so fsync has nothing of it to log). Returns the pages added,
 * with how many of them take a block without freeing one (new: no block of their own; held: a
 * snapshot holds their block).
 */
export function cluster_load(vol: Volume, m: InodeMem, cs: number, mc: MapChunk | null, held: (addr: number) => boolean, count: DirtyCount): { pages: number; fresh: number; held: number } {
  const out = { pages: 0, fresh: 0, held: 0 };
  if (!cluster_compressed(mc, cs)) return out; // a cleaning round or checkpoint rewrote it since
  const raw = cluster_raw(vol, mc!, m.ino, cs);
  for (let j = 0; j * BLOCK_SIZE < raw.length; j++) {
    const idx = cs + j;
    if (m.pages.has(idx)) continue;
    pages_own(m, count);
    m.pages.set(idx, Buffer.from(raw.subarray(j * BLOCK_SIZE, (j + 1) * BLOCK_SIZE)));
    out.pages++;
    const a = mc!.addr[idx % MAP_SLOTS]!;
    if (a === 0) out.fresh++;
    else if (held(a)) out.held++;
  }
  return out;
}

/** What a flush writes: plain blocks, and compressed clusters (their stored blocks). */
export interface FlushPlan {
  plain: { idx: number; buf: Buffer }[];
  clusters: { cs: number; stored: Buffer[]; L: number }[];
}

/**
 * Decides how the pages `idxs` (sorted; the pages a flush writes, without the ones fsync keeps
 * logged) go to the device. `on`: whether this file is compressed.
 */
export function flush_plan(vol: Volume, m: InodeMem, idxs: readonly number[], chunk_of: (idx: number) => MapChunk | null, on: boolean, stats: CompressStats): FlushPlan {
  const plan: FlushPlan = { plain: [], clusters: [] };
  for (let i = 0; i < idxs.length;) {
    const cs = cluster_start(idxs[i]!);
    const w: number[] = [];
    while (i < idxs.length && cluster_start(idxs[i]!) === cs) w.push(idxs[i++]!);
    const mc = chunk_of(cs);
    const L = cluster_len(m, cs);
    const plain = (): void => { for (const idx of w) plan.plain.push({ idx, buf: m.pages.get(idx)! }); };
    if (cluster_compressed(mc, cs)) {
      // rewritten whole: the old cluster under the cached pages (which a write brought in whole)
      const old = cluster_raw(vol, mc!, m.ino, cs);
      const raw = Buffer.alloc(L * BLOCK_SIZE);
      old.copy(raw, 0, 0, Math.min(old.length, raw.length));
      for (let j = 0; j < L; j++) m.pages.get(cs + j)?.copy(raw, j * BLOCK_SIZE);
      const stored = on ? cluster_try(raw, stats) : null;
      if (stored) { plan.clusters.push({ cs, stored, L }); continue; }
      // plain, every block of it that holds data (kept pages too: the cluster goes whole)
      for (let j = 0; j < L; j++) {
        if (cs + j >= cs + old.length / BLOCK_SIZE && !m.pages.has(cs + j)) continue; // a hole stays one
        plan.plain.push({ idx: cs + j, buf: m.pages.get(cs + j) ?? raw.subarray(j * BLOCK_SIZE, (j + 1) * BLOCK_SIZE) });
      }
      continue;
    }
    if (!on || L < 2) { plain(); continue; }
    // a file's last cluster still being appended to by fsync'd writes (pages fsync logged) stays
    // plain until it is full: compressed now, every later append would rewrite it whole
    if (L < CLUSTER_BLOCKS) {
      let logged = false;
      for (let j = 0; j < L; j++) if (m.logged.has(cs + j)) logged = true;
      if (logged) { plain(); continue; }
    }
    // every block of the cluster cached, or an append completing a full cluster over plain blocks
    const missing: number[] = [];
    for (let j = 0; j < L; j++) if (!m.pages.has(cs + j)) missing.push(cs + j);
    if (missing.length > 0) {
      const lastIdx = cs + L - 1;
      const appended = L === CLUSTER_BLOCKS && w[w.length - 1] === lastIdx && (mc?.addr[lastIdx % MAP_SLOTS] ?? 0) === 0;
      if (!appended || missing.some((idx) => (mc?.addr[idx % MAP_SLOTS] ?? 0) === 0)) { plain(); continue; }
    }
    const blocks: Buffer[] = [];
    for (let j = 0; j < L; j++) blocks.push(m.pages.get(cs + j) ?? block_read(vol, mc, m.ino, cs + j));
    // random data is told from its sample before anything is copied
    if (cluster_incompressible(blocks)) { stats.skippedEntropy++; plain(); continue; }
    const raw = Buffer.alloc(L * BLOCK_SIZE);
    blocks.forEach((p, j) => p.copy(raw, j * BLOCK_SIZE));
    const stored = cluster_try(raw, stats);
    // never more blocks than the plain write of the same pages (what was admitted)
    if (!stored || stored.length > w.length) { plain(); continue; }
    plan.clusters.push({ cs, stored, L });
  }
  return plan;
}

/** A cluster's stored blocks, or null when it is left plain (counted in stats). */
function cluster_try(raw: Buffer, stats: CompressStats): Buffer[] | null {
  if (cluster_incompressible(raw)) { stats.skippedEntropy++; return null; }
  const stored = cluster_encode(raw);
  if (!stored) { stats.plainFallback++; return null; }
  stats.clusters++;
  stats.rawBlocks += raw.length / BLOCK_SIZE;
  stats.storedBlocks += stored.length;
  return stored;
}

/**
 * Applies a flush's placements to one map chunk: plain blocks at their slots, clusters at the
 * first slots of their cluster (the rest of the cluster cleared). Returns the change in mapped
 * slots (the inode's block count follows it).
 */
export function map_apply(mc: MapChunk, plain: { idx: number; addr: number; csum: number }[], clusters: { cs: number; placed: { addr: number; csum: number }[] }[]): number {
  let before = 0;
  for (let s = 0; s < MAP_SLOTS; s++) if (mc.addr[s] !== 0) before++;
  for (const c of clusters) {
    const s0 = c.cs % MAP_SLOTS;
    for (let j = 0; j < CLUSTER_BLOCKS; j++) { mc.addr[s0 + j] = 0; mc.csum[s0 + j] = 0; mc.comp[s0 + j] = 0; }
    c.placed.forEach((p, j) => { mc.addr[s0 + j] = p.addr; mc.csum[s0 + j] = p.csum; mc.comp[s0 + j] = 1; });
  }
  for (const p of plain) {
    const s = p.idx % MAP_SLOTS;
    mc.addr[s] = p.addr;
    mc.csum[s] = p.csum;
    mc.comp[s] = 0;
  }
  let after = 0;
  for (let s = 0; s < MAP_SLOTS; s++) if (mc.addr[s] !== 0) after++;
  return after - before;
}

/**
 * Truncating to `size` cuts into a compressed cluster (or leaves its last block with bytes past
 * the new end): the cluster's new content, to be stored again before the slots past the end are
 * dropped. Null when the cluster holding the new last block is not compressed.
 */
export function truncate_cluster(vol: Volume, m: InodeMem, size: number, mc: MapChunk | null): { cs: number; raw: Buffer } | null {
  if (size === 0) return null;
  const lastIdx = Math.ceil(size / BLOCK_SIZE) - 1;
  if (!cluster_compressed(mc, lastIdx)) return null;
  const cs = cluster_start(lastIdx);
  const old = cluster_raw(vol, mc!, m.ino, cs);
  const keepBytes = size - cs * BLOCK_SIZE;
  if (keepBytes >= old.length) return null; // nothing of the cluster is cut
  const raw = Buffer.alloc((lastIdx - cs + 1) * BLOCK_SIZE);
  old.copy(raw, 0, 0, keepBytes);
  return { cs, raw };
}

/** How many blocks the compressed cluster holding `idx` is stored in (0 when it is not compressed). */
export function cluster_blocks_stored(mc: MapChunk | null, idx: number): number {
  return cluster_compressed(mc, idx) ? cluster_stored_count(mc!, cluster_start(idx) % MAP_SLOTS) : 0;
}

/** What compression saves in the tree a volume serves: `cowlog info` shows it. */
export interface CompressUsage {
  /** data blocks stored plain, and file blocks held in compressed clusters and their stored blocks */
  plainBlocks: number;
  clusters: number;
  clusterBlocks: number;
  storedBlocks: number;
  /** clusters whose header does not read (fsck says why) */
  damaged: number;
}

/**
 * Walks the map records of the tree `vol` serves; for each compressed cluster reads its first
 * stored block's header (the decompressed length), nothing more.
 */
export function compress_usage(vol: Volume): CompressUsage {
  const u: CompressUsage = { plainBlocks: 0, clusters: 0, clusterBlocks: 0, storedBlocks: 0, damaged: 0 };
  vol.scan({ ino: 0, kind: 0, off: 0 }, { ino: 0xffffffff, kind: 0xff, off: 0xffffffffffff }, (k, v) => {
    if (k.kind !== RecKind.MAP) return;
    const m = vol.decode(k, v, map_decode);
    for (let s = 0; s < MAP_SLOTS; s++) {
      if (m.addr[s] === 0) continue;
      if (!m.comp[s]) { u.plainBlocks++; continue; }
      if (s % CLUSTER_BLOCKS !== 0) continue;
      const M = cluster_stored_count(m, s);
      u.clusters++;
      u.storedBlocks += M;
      try {
        const first = vol.dev.read(m.addr[s]!);
        const stored = Buffer.alloc(M * BLOCK_SIZE);
        first.copy(stored);
        u.clusterBlocks += cluster_header(stored, M).blocks;
      } catch {
        u.damaged++;
      }
    }
  });
  return u;
}
