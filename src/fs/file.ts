// File data: inline data, the page cache, and block maps.
//
// A small file keeps its bytes in an INLINE record beside its inode (one leaf holds several
// small files). A larger file has MAP records: 64 block slots each, an address and a CRC32C per
// block. Writes to a block-mapped file land in the page cache (dirty pages per inode) and reach
// the log when the inode is flushed: at fsync, at a checkpoint, or when dirty memory passes its
// bound. A block rewritten many times before a flush is written once.
//
// fsync of a page with only a few bytes changed logs those bytes as a patch in its redo group
// instead of rewriting the 4 KiB block; the page stays in the cache and is written at the next
// flush, at the latest before the next checkpoint. Small appends with fsync then cost one redo
// block each, and their data block is written once per checkpoint rather than once per fsync.
//
// Invariants: an inline file's INLINE record holds exactly `size` bytes (no record when empty);
// a block-mapped file has no map slot at or beyond ceil(size / 4096) blocks unless it was
// preallocated (INODE_FLAG_PREALLOC, range.ts: zero blocks); the bytes of a mapped block beyond
// the end of the file are zero; rec.blocks counts the mapped slots.

import { Cause } from '../device/cause.js';
import { BLOCK_SIZE } from '../device/device.js';
import type { Clock } from '../checkpoint/clock.js';
import type { Patch, Volume } from '../checkpoint/volume.js';
import type { Cleaner } from '../cleaner/cleaner.js';
import { INODE_BYTES, INODE_FLAG_INLINE, INODE_FLAG_PREALLOC, key, KEY_MAX, map_decode, map_encode, map_new, MAP_SLOT_BYTES, MAP_SLOTS, RecKind } from '../format/records.js';
import { REDO_BODY_BYTES, REDO_REC_OVERHEAD } from '../format/redo.js';
import type { Key, MapChunk } from '../format/records.js';
import { Head } from '../log/segments.js';
import { assert } from '../util/assert.js';
import { FsError } from '../util/errors.js';
import type { InodeCache, InodeMem } from './inode.js';
import { DIRTY_INODE_MEM_BYTES, pages_own, pages_release, times_set } from './inode.js';
import type { FsObserver } from './observe.js';
import { FILE_SIZE_MAX } from './types.js';
import { block_read, cluster_compressed, cluster_raw, cluster_start } from '../checkpoint/cluster_read.js';
import { CLUSTER_BLOCKS, cluster_encode } from '../format/cluster.js';
import { cluster_load, compress_on, flush_plan, map_apply, truncate_cluster, write_clusters } from './compress.js';
import type { CompressStats } from './compress.js';
import type { PagePool } from './page_pool.js';

export interface DataCtx {
  vol: Volume;
  icache: InodeCache;
  clock: Clock;
  cleaner: Cleaner;
  /**
   * dirty page bytes, the dirty pages that will take a block without freeing one (new and held
   * pages: InodeMem.newPages + heldPages), over all inodes, and the inodes holding page maps of
   * their own (pages_own); `max` bounds dirty_mem()
   */
  dirty: { bytes: number; newPages: number; inodes: number; max: number };
  /** throws ENOSPC unless `blocks` more blocks of user data fit (`run`: one file's consecutive blocks) */
  space_admit(blocks: number, run?: boolean): void;
  /** inodes with pages fsync logged as patches, and how many such pages in all */
  logged: { inodes: Set<InodeMem>; pages: number };
  /** told where written bytes go (observe.ts); null when nobody listens */
  observer: FsObserver | null;
  /** whether files without a compression flag of their own are compressed, and what was */
  compress: { on: boolean; stats: CompressStats };
  /** free page buffers, reused by writes of single pages (page_pool.ts) */
  pages: PagePool;
}

/** bytes of a redo block that records may leave unused when they do not pack tightly */
const REDO_PACK_SLACK = 64;

/** the range of a page written whole (shared: ranges are replaced, never changed in place) */
const RANGE_WHOLE: [number, number] = [0, BLOCK_SIZE];
/** the most blocks file_read asks the device for in one request */
const READ_RUN_BLOCKS_MAX = 256;

export function map_key(ino: number, chunk: number): Key {
  return key(ino, RecKind.MAP, chunk);
}

function inode_key_of(ino: number): Key {
  return key(ino, RecKind.INODE, 0);
}

export function inline_key(ino: number): Key {
  return key(ino, RecKind.INLINE, 0);
}

export function map_get(vol: Volume, ino: number, chunk: number): MapChunk | null {
  const k = map_key(ino, chunk);
  const rec = vol.get(k);
  return rec ? vol.decode(k, rec, map_decode) : null;
}

/**
 * Looks up block maps chunk by chunk, remembering them within one operation. A reader must not
 * be used across a call that may clean (space_admit, Cleaner.ensure/prepare): the cleaner moves
 * blocks and rewrites map records.
 */
class MapReader {
  private readonly cache = new Map<number, MapChunk | null>();
  private readonly gen: number;
  // the chunk looked up last: a run of blocks asks the same chunk many times
  private lastChunk = -1;
  private last: MapChunk | null = null;
  constructor(private readonly vol: Volume, private readonly ino: number) {
    this.gen = vol.moveGen;
  }
  /** The map chunk holding block `idx`, or null when none is recorded. */
  chunk_of(idx: number): MapChunk | null {
    const chunk = Math.floor(idx / MAP_SLOTS);
    if (chunk === this.lastChunk) return this.last;
    assert(this.vol.moveGen === this.gen, () => `inode ${this.ino}: block map read across a cleaning round`);
    let m = this.cache.get(chunk);
    if (m === undefined) {
      m = map_get(this.vol, this.ino, chunk);
      this.cache.set(chunk, m);
    }
    this.lastChunk = chunk;
    this.last = m;
    return m;
  }
  /** The address block `idx` is mapped at, 0 when unmapped. */
  addr(idx: number): number {
    const m = this.chunk_of(idx);
    return m ? m.addr[idx % MAP_SLOTS]! : 0;
  }
  slot(idx: number): { addr: number; csum: number } {
    const m = this.chunk_of(idx);
    if (!m) return { addr: 0, csum: 0 };
    const s = idx % MAP_SLOTS;
    return { addr: m.addr[s]!, csum: m.csum[s]! };
  }
}

export function inline_bytes(vol: Volume, ino: number): Buffer {
  return vol.get(inline_key(ino)) ?? Buffer.alloc(0);
}

/** A block's current content as a new buffer: its dirty page, its mapped block, or zeros. */
function block_content(ctx: DataCtx, m: InodeMem, maps: MapReader, idx: number): Buffer {
  const p = m.pages.get(idx);
  if (p) return Buffer.from(p);
  return block_read(ctx.vol, maps.chunk_of(idx), m.ino, idx);
}

/**
 * Blocks a read still has to take from the device: `count` blocks from address `addr` (file
 * blocks idx ..), checked against `csums`, of which bytes [skip, skip + take) go to the answer
 * at `at`.
 */
export interface ReadRun { addr: number; count: number; idx: number; csums: number[]; at: number; skip: number; take: number }

/**
 * How to answer a read: `n` bytes, some copied from memory (a dirty page or inline data; `src`
 * null for zeros), the rest from runs of the device. A plan refers to cached pages: it is used
 * (plan_fill) before anything else runs.
 */
export interface ReadPlan {
  ino: number;
  n: number;
  copies: { at: number; src: Buffer | null; from: number; n: number }[];
  runs: ReadRun[];
}

export function file_read_plan(ctx: DataCtx, m: InodeMem, off: number, len: number): ReadPlan {
  if (off < 0 || len < 0) throw new FsError('EINVAL', `read at ${off} of ${len} bytes`);
  const plan: ReadPlan = { ino: m.ino, n: 0, copies: [], runs: [] };
  if (off >= m.size || len === 0) return plan;
  const end = Math.min(off + len, m.size);
  plan.n = end - off;
  if (m.rec.flags & INODE_FLAG_INLINE) {
    const data = inline_bytes(ctx.vol, m.ino);
    const have = Math.max(0, Math.min(end, data.length) - off);
    if (have > 0) plan.copies.push({ at: 0, src: data, from: off, n: have });
    if (have < plan.n) plan.copies.push({ at: have, src: null, from: 0, n: plan.n - have });
    return plan;
  }
  const maps = new MapReader(ctx.vol, m.ino);
  const lastIdx = Math.floor((end - 1) / BLOCK_SIZE);
  for (let pos = off; pos < end;) {
    const idx = Math.floor(pos / BLOCK_SIZE);
    const inBlock = pos - idx * BLOCK_SIZE;
    const page = m.pages.get(idx);
    if (!page && cluster_compressed(maps.chunk_of(idx), idx)) {
      // a compressed cluster: from its decompressed bytes (decompressed once, then cached), up
      // to the first cached page in it or its end
      const raw = cluster_raw(ctx.vol, maps.chunk_of(idx)!, m.ino, idx);
      const cs = cluster_start(idx);
      let stop = idx + 1;
      while (stop < cs + CLUSTER_BLOCKS && !m.pages.has(stop)) stop++;
      const n = Math.min(stop * BLOCK_SIZE, end) - pos;
      const at = pos - cs * BLOCK_SIZE;
      const have = Math.max(0, Math.min(n, raw.length - at));
      if (have > 0) plan.copies.push({ at: pos - off, src: raw, from: at, n: have });
      if (have < n) plan.copies.push({ at: pos - off + have, src: null, from: 0, n: n - have });
      pos += n;
      continue;
    }
    const addr = page ? 0 : maps.addr(idx);
    if (page || addr === 0) {
      const n = Math.min(BLOCK_SIZE - inBlock, end - pos);
      const prev = plan.copies[plan.copies.length - 1];
      // holes next to each other are zeroed in one go
      if (!page && prev && prev.src === null && prev.at + prev.n === pos - off) prev.n += n;
      else plan.copies.push({ at: pos - off, src: page ?? null, from: inBlock, n });
      pos += n;
      continue;
    }
    // blocks that follow in the file and on the device, none of them cached: one device read
    const csums = [maps.chunk_of(idx)!.csum[idx % MAP_SLOTS]!];
    while (idx + csums.length <= lastIdx && csums.length < READ_RUN_BLOCKS_MAX) {
      const next = idx + csums.length;
      if (m.pages.has(next) || maps.addr(next) !== addr + csums.length || cluster_compressed(maps.chunk_of(next), next)) break;
      csums.push(maps.chunk_of(next)!.csum[next % MAP_SLOTS]!);
    }
    const runEnd = Math.min(end, (idx + csums.length) * BLOCK_SIZE);
    plan.runs.push({ addr, count: csums.length, idx, csums, at: pos - off, skip: inBlock, take: runEnd - pos });
    pos = runEnd;
  }
  return plan;
}

/** Writes the parts of a plan that come from memory into out (n bytes). */
export function plan_fill(plan: ReadPlan, out: Buffer): void {
  for (const c of plan.copies) {
    if (c.src) c.src.copy(out, c.at, c.from, c.from + c.n);
    else out.fill(0, c.at, c.at + c.n);
  }
}

export function file_read(ctx: DataCtx, m: InodeMem, off: number, len: number): Buffer {
  const plan = file_read_plan(ctx, m, off, len);
  const r0 = plan.runs[0];
  // the whole read is one aligned run: the device's buffer is the answer
  if (plan.copies.length === 0 && plan.runs.length === 1 && r0!.skip === 0 && r0!.take === r0!.count * BLOCK_SIZE) {
    return ctx.vol.data_read_run(r0!.addr, r0!.count, r0!.csums, 0, m.ino, r0!.idx);
  }
  // every byte of out is written below: from memory, with zeros or from the device
  const out = Buffer.allocUnsafe(plan.n);
  plan_fill(plan, out);
  for (const r of plan.runs) {
    const b = ctx.vol.data_read_run(r.addr, r.count, r.csums, 0, m.ino, r.idx);
    b.copy(out, r.at, r.skip, r.skip + r.take);
  }
  return out;
}

/** Moves an inline file's bytes into block 0 and switches it to block maps. */
export function inline_to_blocks(ctx: DataCtx, m: InodeMem): void {
  const vol = ctx.vol;
  const data = inline_bytes(vol, m.ino);
  if (data.length > 0) {
    ctx.space_admit(1);
    ctx.cleaner.ensure(1);
    const page = Buffer.alloc(BLOCK_SIZE);
    data.copy(page);
    const [placed] = vol.data_write(Head.WARM_DATA, [page], { cause: Cause.DATA, ino: m.ino });
    const mc = map_new();
    mc.addr[0] = placed!.addr;
    mc.csum[0] = placed!.csum;
    vol.put(map_key(m.ino, 0), map_encode(mc));
    m.rec.blocks = 1;
    vol.del(inline_key(m.ino));
  }
  m.rec.flags &= ~INODE_FLAG_INLINE;
  ctx.icache.store(m);
}

/**
 * What a write into blocks [first, last] of a block-mapped file makes dirty that needs space:
 * unmapped pages, overwrites of blocks another root may hold (the overwrite frees nothing
 * then), and the rest of every compressed cluster written into (it comes into the cache
 * whole). file_write admits that much before it changes anything; a caller making several
 * writes that must all happen or none (range_punch) admits their sum first.
 */
export function write_space(vol: Volume, m: InodeMem, first: number, last: number, probe = new MapReader(vol, m.ino),
  bornMax = vol.held_birth_max()): { fresh: number; clusters: number[] } {
  const needs = (addr: number): boolean => addr === 0 || vol.block_held(addr, bornMax);
  let fresh = 0;
  for (let idx = first; idx <= last; idx++) if (!m.pages.has(idx) && needs(probe.addr(idx))) fresh++;
  const comp = write_clusters(vol, m, first, last, (i) => probe.chunk_of(i), needs);
  return { fresh: fresh + comp.fresh, clusters: comp.clusters };
}

export function file_write(ctx: DataCtx, m: InodeMem, off: number, data: Uint8Array): void {
  // past the largest file (2^53 and up included, which are not even exact numbers here): the
  // file would be too large, the offset itself is fine
  if (off + data.length > FILE_SIZE_MAX) throw new FsError('EFBIG', `write at offset ${off} past cowlog's largest file (${FILE_SIZE_MAX} bytes)`);
  if (off < 0 || !Number.isInteger(off)) throw new FsError('EINVAL', `write at offset ${off}`);
  const end = off + data.length;
  if (data.length === 0) return;
  const vol = ctx.vol;
  const r = m.rec;
  if (r.flags & INODE_FLAG_INLINE) {
    if (end <= vol.g.inlineMax) {
      const cur = inline_bytes(vol, m.ino);
      const nb = Buffer.alloc(Math.max(cur.length, end));
      cur.copy(nb);
      nb.set(data, off);
      vol.put(inline_key(m.ino), nb);
      const now = ctx.clock();
      r.size = nb.length;
      times_set(r, 'm', now);
      times_set(r, 'c', now);
      ctx.icache.store(m);
      m.size = r.size;
      return;
    }
    inline_to_blocks(ctx, m);
  }
  const first = Math.floor(off / BLOCK_SIZE);
  const last = Math.floor((end - 1) / BLOCK_SIZE);
  const wholeFirst = Math.ceil(off / BLOCK_SIZE);
  const wholeEnd = Math.floor(end / BLOCK_SIZE);
  const bornMax = vol.held_birth_max();
  const probe = new MapReader(vol, m.ino);
  const comp = write_space(vol, m, first, last, probe, bornMax);
  const fresh = comp.fresh;
  if (fresh > 0) ctx.space_admit(fresh);
  // admission may clean, and the cleaner moves blocks of this very file: look the maps up again
  const maps = fresh > 0 ? new MapReader(vol, m.ino) : probe;
  for (const cs of comp.clusters) {
    const got = cluster_load(vol, m, cs, maps.chunk_of(cs), (a) => vol.block_held(a, bornMax), ctx.dirty);
    ctx.dirty.bytes += got.pages * BLOCK_SIZE;
    m.newPages += got.fresh;
    m.heldPages += got.held;
    ctx.dirty.newPages += got.fresh + got.held;
    if (got.pages) ctx.compress.stats.rmwLoads++;
  }
  // (a cleaning round may also have written pages of this file: which are cached is read after it)
  for (let idx = first; idx <= last; idx++) {
    let page = m.pages.get(idx);
    const bStart = idx * BLOCK_SIZE;
    const from = Math.max(off, bStart);
    const to = Math.min(end, bStart + BLOCK_SIZE);
    const whole = from === bStart && to === bStart + BLOCK_SIZE;
    if (!page) {
      const addr = maps.addr(idx);
      if (whole) {
        // a page of its own from the pool of pages written before (page_pool.ts), whatever the
        // size of the write: pages of one buffer shared by a large write would go back to
        // malloc only when V8 collects them, tens of MiB later; written whole, it needs no zeroing
        page = ctx.pages.take();
        page.set(data.subarray(from - off, to - off));
      } else {
        page = block_content(ctx, m, maps, idx);
        page.set(data.subarray(from - off, to - off), from - bStart);
      }
      pages_own(m, ctx.dirty);
      m.pages.set(idx, page);
      ctx.dirty.bytes += BLOCK_SIZE;
      if (addr === 0) { m.newPages++; ctx.dirty.newPages++; } else if (vol.block_held(addr, bornMax)) { m.heldPages++; ctx.dirty.newPages++; }
    } else {
      page.set(data.subarray(from - off, to - off), from - bStart);
    }
    // the page is in m.pages now: its maps are its own
    if (whole) m.ranges.set(idx, RANGE_WHOLE);
    else {
      const r = m.ranges.get(idx);
      m.ranges.set(idx, r ? [Math.min(r[0], from - bStart), Math.max(r[1], to - bStart)] : [from - bStart, to - bStart]);
    }
  }
  if (end > m.size) m.size = end;
  const now = ctx.clock();
  m.mtime = now;
  m.ctime = now;
}

/**
 * Writes an inode's dirty pages to the log and records them: map records, then the inode with
 * the size and times users have seen. Blocks that were mapped before go to the hot data log
 * (rewritten data tends to be rewritten again), new ones to the warm data log.
 */
export function file_flush(ctx: DataCtx, m: InodeMem, prepare = true, keep?: ReadonlySet<number>): void {
  const vol = ctx.vol;
  const pending = (): number => (keep ? [...m.pages.keys()].filter((i) => !keep.has(i)).length : m.pages.size);
  // cleaning may checkpoint, and a checkpoint first flushes the pages fsync logged as patches,
  // this inode's among them: which pages are dirty is read only after it
  if (prepare && pending() > 0) ctx.cleaner.ensure(pending() + kept_in_clusters(ctx, m, keep));
  if (pending() === 0) {
    if (m.mtime !== null || m.size !== m.rec.size) {
      m.rec.size = m.size;
      if (m.mtime) times_set(m.rec, 'm', m.mtime);
      if (m.ctime) times_set(m.rec, 'c', m.ctime);
      m.mtime = m.ctime = null;
      ctx.icache.store(m);
    }
    return;
  }
  const idxs = [...m.pages.keys()].filter((i) => !keep?.has(i)).sort((a, b) => a - b);
  const needBefore = m.newPages + m.heldPages;
  const maps = new MapReader(vol, m.ino);
  // which pages go plain and which clusters compressed (compress.ts)
  const plan = flush_plan(vol, m, idxs, (i) => maps.chunk_of(i), compress_on(m.rec, ctx.compress.on), ctx.compress.stats);
  // blocks that were mapped before go to the hot data log, new ones to the warm one; a cluster
  // is hot when any of its blocks was mapped
  const bufs: Buffer[] = [];
  const isHot: boolean[] = [];
  for (const p of plan.plain) { bufs.push(p.buf); isHot.push(maps.addr(p.idx) !== 0); }
  for (const c of plan.clusters) {
    let was = false;
    for (let j = 0; j < CLUSTER_BLOCKS; j++) if (maps.addr(c.cs + j) !== 0) was = true;
    for (const b of c.stored) { bufs.push(b); isHot.push(was); }
  }
  const placed = new Array<{ addr: number; csum: number }>(bufs.length);
  for (const [hot, head] of [[true, Head.HOT_DATA], [false, Head.WARM_DATA]] as const) {
    const group: number[] = [];
    for (let j = 0; j < bufs.length; j++) if (isHot[j] === hot) group.push(j);
    if (group.length === 0) continue;
    const res = vol.data_write(head, group.map((j) => bufs[j]!), { cause: Cause.DATA, ino: m.ino });
    group.forEach((j, q) => { placed[j] = res[q]!; });
  }
  // one map record per chunk touched
  const byChunk = new Map<number, { plain: { idx: number; addr: number; csum: number }[]; clusters: { cs: number; placed: { addr: number; csum: number }[] }[] }>();
  const chunk_entry = (idx: number) => {
    const c = Math.floor(idx / MAP_SLOTS);
    let e = byChunk.get(c);
    if (!e) { e = { plain: [], clusters: [] }; byChunk.set(c, e); }
    return e;
  };
  let at = 0;
  for (const p of plan.plain) chunk_entry(p.idx).plain.push({ idx: p.idx, ...placed[at++]! });
  for (const c of plan.clusters) {
    chunk_entry(c.cs).clusters.push({ cs: c.cs, placed: placed.slice(at, at + c.stored.length) });
    at += c.stored.length;
  }
  for (const c of [...byChunk.keys()].sort((a, b) => a - b)) {
    const mc = map_get(vol, m.ino, c) ?? map_new();
    m.rec.blocks += map_apply(mc, byChunk.get(c)!.plain, byChunk.get(c)!.clusters);
    vol.put(map_key(m.ino, c), map_encode(mc));
  }
  for (const idx of idxs) page_forget(ctx, m, idx);
  if (m.logged.size === 0) ctx.logged.inodes.delete(m);
  // the pages written took their blocks: what the ones left need is counted again
  m.newPages = m.heldPages = 0;
  ctx.dirty.newPages -= needBefore;
  pages_need_recount(ctx, m);
  m.rec.size = m.size;
  if (m.mtime) times_set(m.rec, 'm', m.mtime);
  if (m.ctime) times_set(m.rec, 'c', m.ctime);
  m.mtime = m.ctime = null;
  ctx.icache.store(m);
  ctx.observer?.data_logged(m.ino, idxs.length, 0);
}

/**
 * Pages fsync keeps logged that lie in compressed clusters: a flush writes them too (the cluster
 * goes whole), beyond the pages it writes plain.
 */
function kept_in_clusters(ctx: DataCtx, m: InodeMem, keep: ReadonlySet<number> | undefined): number {
  if (!keep || keep.size === 0) return 0;
  const maps = new MapReader(ctx.vol, m.ino);
  let n = 0;
  for (const idx of keep) if (cluster_compressed(maps.chunk_of(idx), idx)) n++;
  return n;
}

/** Sets the size of a regular file; blocks past the end are released, a new tail reads as zeros. */
export function file_truncate(ctx: DataCtx, m: InodeMem, size: number): void {
  if (size > FILE_SIZE_MAX) throw new FsError('EFBIG', `size ${size} exceeds cowlog's largest file (${FILE_SIZE_MAX} bytes)`);
  if (!Number.isInteger(size) || size < 0) throw new FsError('EINVAL', `size ${size}`);
  const vol = ctx.vol;
  // Shrinking a block-mapped file: the cached pages it cuts off are dropped, never written (a
  // log truncated to nothing after its checkpoint writes nothing), and the cached page holding
  // the new end is zeroed past it and written once with the rest (the zeros the block must hold,
  // so that a later extension reads zeros). The pages that stay are written as before: a
  // truncate is a point where the file's content reaches the log whole, never a mixture.
  const tailCached = size < m.size && !(m.rec.flags & INODE_FLAG_INLINE) && pages_cut(ctx, m, size);
  file_flush(ctx, m);
  const r = m.rec;
  if (r.flags & INODE_FLAG_INLINE) {
    if (size <= vol.g.inlineMax) {
      const cur = inline_bytes(vol, m.ino);
      const nb = Buffer.alloc(size);
      cur.copy(nb, 0, 0, Math.min(size, cur.length));
      if (size > 0) vol.put(inline_key(m.ino), nb);
      else if (cur.length > 0) vol.del(inline_key(m.ino));
      r.size = size;
      m.size = size;
      ctx.icache.store(m);
      return;
    }
    inline_to_blocks(ctx, m);
  }
  if (size < r.size) {
    // the new tail block is rewritten below (unless it was cached: written above); room for it
    // is made before anything changes, so a checkpoint the cleaner takes cannot fall inside
    // this truncate; a compressed cluster cut by the new end is stored again, whole, before the
    // slots past the end go (they hold the cluster's stored blocks)
    const cut = truncate_cluster(vol, m, size, map_get(vol, m.ino, Math.floor(Math.max(0, Math.ceil(size / BLOCK_SIZE) - 1) / MAP_SLOTS)));
    if (cut) ctx.cleaner.ensure(CLUSTER_BLOCKS);
    else if (size % BLOCK_SIZE !== 0 && !tailCached) ctx.cleaner.ensure(1);
    // patches logged before this point must not come back at roll-forward (see Inode.data_gen)
    r.data_gen = (r.data_gen + 1) >>> 0;
    // every slot past the new end goes, preallocated ones (range.ts) too
    r.flags &= ~INODE_FLAG_PREALLOC;
    if (cut) cluster_store(ctx, m, cut.cs, cut.raw);
    const keep = Math.ceil(size / BLOCK_SIZE); // blocks [0, keep) stay
    const firstChunk = Math.floor(keep / MAP_SLOTS);
    const doomed: { k: Key; m: MapChunk }[] = [];
    vol.scan(map_key(m.ino, firstChunk), map_key(m.ino, KEY_MAX.off), (k, v) => { doomed.push({ k, m: vol.decode(k, v, map_decode) }); });
    for (const d of doomed) {
      let left = 0;
      for (let s = 0; s < MAP_SLOTS; s++) {
        const idx = d.k.off * MAP_SLOTS + s;
        if (d.m.addr[s] === 0) continue;
        if (idx >= keep) { d.m.addr[s] = 0; d.m.csum[s] = 0; r.blocks--; }
        else left++;
      }
      if (left > 0) vol.put(d.k, map_encode(d.m));
      else vol.del(d.k);
    }
    const tail = size % BLOCK_SIZE;
    if (tail !== 0 && !tailCached && !cut) {
      // the block holding the new end keeps zeros past it, so a later extension reads zeros
      const idx = keep - 1;
      const maps = new MapReader(vol, m.ino);
      const { addr, csum } = maps.slot(idx);
      if (addr !== 0) {
        const b = vol.data_read(addr, csum, m.ino, idx);
        b.fill(0, tail);
        const [p] = vol.data_write(Head.HOT_DATA, [b], { cause: Cause.DATA, ino: m.ino });
        const c = Math.floor(idx / MAP_SLOTS);
        const mc = map_get(vol, m.ino, c)!;
        mc.addr[idx % MAP_SLOTS] = p!.addr;
        mc.csum[idx % MAP_SLOTS] = p!.csum;
        vol.put(map_key(m.ino, c), map_encode(mc));
      }
    }
  }
  assert(r.blocks >= 0, () => `inode ${m.ino}: block count ${r.blocks}`);
  r.size = size;
  m.size = size;
  ctx.icache.store(m);
}

/**
 * A truncate to `size` (below the file's size): drops the cached pages past it and zeroes the
 * cached page holding the new end past it (marked changed, to be written). Returns whether that
 * page was cached.
 */
function pages_cut(ctx: DataCtx, m: InodeMem, size: number): boolean {
  const keep = Math.ceil(size / BLOCK_SIZE);
  pages_drop(ctx, m, keep, Infinity);
  const tail = size % BLOCK_SIZE;
  const page = tail !== 0 ? m.pages.get(keep - 1) : undefined;
  if (page === undefined) return false;
  page.fill(0, tail);
  const r = m.ranges.get(keep - 1);
  m.ranges.set(keep - 1, [Math.min(r ? r[0] : tail, tail), BLOCK_SIZE]);
  return true;
}

/** The memory dirty file data takes: the pages and what each inode holding some takes beside them. */
export function dirty_mem(d: DataCtx['dirty']): number {
  return d.bytes + d.inodes * DIRTY_INODE_MEM_BYTES;
}

/**
 * Dirty page idx of m leaves the page cache (written to the log, or dropped): its buffer goes
 * back to the pool, and the dirty and logged counts no longer hold it. The caller recounts the
 * space the pages left need (pages_need_recount) and the inode's place among the logged.
 */
function page_forget(ctx: DataCtx, m: InodeMem, idx: number): void {
  ctx.pages.give(m.pages.get(idx)!);
  m.pages.delete(idx);
  m.ranges.delete(idx);
  ctx.dirty.bytes -= BLOCK_SIZE;
  if (m.logged.delete(idx)) ctx.logged.pages--;
  pages_release(m, ctx.dirty);
}

/** Drops the dirty pages of blocks [first, end) without writing them (a truncate, a hole, a clone over them). */
export function pages_drop(ctx: DataCtx, m: InodeMem, first: number, end: number): void {
  let dropped = false;
  for (const idx of [...m.pages.keys()]) {
    if (idx < first || idx >= end) continue;
    page_forget(ctx, m, idx);
    dropped = true;
  }
  if (m.logged.size === 0) ctx.logged.inodes.delete(m);
  if (dropped) pages_need_recount(ctx, m);
}

/** Recounts which dirty pages of `m` will take a new block (unmapped, or over a block another root may hold). */
export function pages_need_recount(ctx: DataCtx, m: InodeMem): void {
  const vol = ctx.vol;
  const before = m.newPages + m.heldPages;
  m.newPages = m.heldPages = 0;
  if (m.pages.size > 0) {
    const maps = new MapReader(vol, m.ino);
    const bornMax = vol.held_birth_max();
    for (const idx of m.pages.keys()) {
      const addr = maps.addr(idx);
      if (addr === 0) m.newPages++;
      else if (vol.block_held(addr, bornMax)) m.heldPages++;
    }
  }
  ctx.dirty.newPages += m.newPages + m.heldPages - before;
}

/**
 * Stores the content `raw` of cluster `cs` (whole blocks) in place of what the cluster holds:
 * compressed when that saves a block and the file is compressed, else as plain blocks.
 */
function cluster_store(ctx: DataCtx, m: InodeMem, cs: number, raw: Buffer): void {
  const vol = ctx.vol;
  const stored = compress_on(m.rec, ctx.compress.on) ? cluster_encode(raw) : null;
  const c = Math.floor(cs / MAP_SLOTS);
  const mc = map_get(vol, m.ino, c) ?? map_new();
  if (stored) {
    const placed = vol.data_write(Head.HOT_DATA, stored, { cause: Cause.DATA, ino: m.ino });
    m.rec.blocks += map_apply(mc, [], [{ cs, placed }]);
  } else {
    const blocks: Buffer[] = [];
    for (let j = 0; j * BLOCK_SIZE < raw.length; j++) blocks.push(raw.subarray(j * BLOCK_SIZE, (j + 1) * BLOCK_SIZE));
    const placed = vol.data_write(Head.HOT_DATA, blocks, { cause: Cause.DATA, ino: m.ino });
    // the cluster's slots are cleared first (no compressed slot may stay beside plain ones)
    m.rec.blocks += map_apply(mc, [], [{ cs, placed: [] }]);
    m.rec.blocks += map_apply(mc, placed.map((p, j) => ({ idx: cs + j, ...p })), []);
  }
  vol.put(map_key(m.ino, c), map_encode(mc));
}

/** Removes every record of an inode (its data, xattrs and the inode itself). */
export function inode_records_drop(ctx: DataCtx, m: InodeMem): void {
  const vol = ctx.vol;
  ctx.dirty.bytes -= m.pages.size * BLOCK_SIZE;
  ctx.dirty.newPages -= m.newPages + m.heldPages;
  for (const page of m.pages.values()) ctx.pages.give(page);
  m.pages.clear();
  m.ranges.clear();
  ctx.logged.pages -= m.logged.size;
  m.logged.clear();
  pages_release(m, ctx.dirty);
  ctx.logged.inodes.delete(m);
  m.newPages = m.heldPages = 0;
  m.mtime = m.ctime = null;
  ctx.observer?.data_dropped(m.ino);
  const keys: Key[] = [];
  vol.scan(key(m.ino, 0, 0), key(m.ino, KEY_MAX.kind, KEY_MAX.off), (k) => { keys.push(k); });
  for (const k of keys) vol.del(k);
}

/**
 * fsync's flush. Changed pages are either written (a data block each) or logged as patches in
 * the redo group (they stay in the cache and are written once, at the next checkpoint, however
 * often they are patched before); pages logged by an earlier fsync and not changed since stay as
 * they are. Afterwards the tree (with the patches returned) holds everything written to the inode.
 *
 * Which pages become patches: the group needs some number of redo blocks for its records anyway
 * (at least one); patches fill the room left in those blocks, smallest change first, and never
 * add a block. A small write and fsync then costs one block — the floor — and the partial pages
 * at either end of a larger write ride in the block the records need, instead of being written
 * now and again when the next write completes them.
 */
export function file_fsync(ctx: DataCtx, m: InodeMem): Patch[] {
  // overflowed: this fsync writes a checkpoint, which carries no patches
  if (m.rec.flags & INODE_FLAG_INLINE || m.pages.size === 0 || ctx.vol.redo_overflowed) {
    file_flush(ctx, m);
    return [];
  }
  const keep = new Set<number>();
  const changed: { idx: number; lo: number; hi: number }[] = [];
  for (const idx of m.pages.keys()) {
    const r = m.ranges.get(idx);
    if (!r) { if (m.logged.has(idx)) keep.add(idx); continue; }
    changed.push({ idx, lo: r[0], hi: r[1] });
  }
  changed.sort((x, y) => x.hi - x.lo - (y.hi - y.lo) || x.idx - y.idx);
  // the records the group will carry if every changed page is written: what is pending, this
  // inode's record, and the map record of each chunk a written page changes
  const vol = ctx.vol;
  let records = vol.redo_pending_bytes() + (vol.redo_pending(inode_key_of(m.ino)) ? 0 : REDO_REC_OVERHEAD + INODE_BYTES);
  const chunks = new Set(changed.map((c) => Math.floor(c.idx / MAP_SLOTS)));
  for (const c of chunks) {
    if (vol.redo_pending(map_key(m.ino, c))) continue;
    const cur = vol.get(map_key(m.ino, c));
    records += REDO_REC_OVERHEAD + (cur ? cur.length : 1) + MAP_SLOT_BYTES * changed.filter((x) => Math.floor(x.idx / MAP_SLOTS) === c).length;
  }
  // the room those blocks leave, less a margin for records that do not pack tightly
  const room = Math.max(1, Math.ceil(records / REDO_BODY_BYTES)) * (REDO_BODY_BYTES - REDO_PACK_SLACK) - records;
  let used = 0;
  const patches: Patch[] = [];
  for (const { idx, lo, hi } of changed) {
    const cost = REDO_REC_OVERHEAD + 4 + hi - lo;
    if (used + cost > room) break;
    used += cost;
    patches.push({ ino: m.ino, off: idx * BLOCK_SIZE + lo, gen: m.rec.data_gen, bytes: Buffer.from(m.pages.get(idx)!.subarray(lo, hi)) });
    keep.add(idx);
  }
  patches.sort((x, y) => x.off - y.off);
  // pages a write brought in with a compressed cluster, unchanged: they stay cached with their
  // cluster's logged pages (written with them at the next checkpoint), unless the cluster is
  // written now anyway
  const flushed = new Set<number>();
  for (const c of changed) if (!keep.has(c.idx)) flushed.add(cluster_start(c.idx));
  for (const idx of m.pages.keys()) if (!m.ranges.has(idx) && !keep.has(idx) && !flushed.has(cluster_start(idx))) keep.add(idx);
  file_flush(ctx, m, true, keep);
  for (const p of patches) {
    const idx = Math.floor(p.off / BLOCK_SIZE);
    m.ranges.delete(idx);
    if (!m.logged.has(idx)) { m.logged.add(idx); ctx.logged.pages++; }
  }
  if (m.logged.size) ctx.logged.inodes.add(m);
  if (patches.length) ctx.observer?.data_logged(m.ino, 0, patches.reduce((n, p) => n + p.bytes.length, 0));
  return patches;
}

/** Writes every page fsync only logged (before a checkpoint: the checkpoint's need covers it). */
export function logged_flush(ctx: DataCtx): void {
  for (const m of [...ctx.logged.inodes]) file_flush(ctx, m, false);
  assert(ctx.logged.pages === 0, () => `${ctx.logged.pages} logged pages left after flushing`);
}
