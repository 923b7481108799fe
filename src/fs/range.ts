// Range operations on a file's blocks: fallocate's modes (allocate, keep size, punch a hole,
// zero a range), SEEK_DATA/SEEK_HOLE, and clones (copy_file_range sharing blocks).
//
// Blocks are shared through the reference counts the engine keeps for snapshots: a MAP slot
// naming a block is one reference (volume.ts, map_refs), whichever file and offset it is at. A
// clone points the destination's slots at the source's blocks, so a copy costs records, not
// data, and a later write to either side goes to a new block (copy-on-write, as after a
// snapshot) while the other keeps the old one.
//
// Invariants:
// - An operation checks and admits everything it needs (ENOSPC, EFBIG) before it changes
//   anything, so it happens whole or not at all: no checkpoint can fall inside it.
// - A file's dirty pages are written (file_flush) by every fallocate, before its slots change
//   here (a point where the file reaches the log, as a truncate is), and its
//   `data_gen` moves on when slots are taken away (punch, zero, a clone over it), as a
//   truncate does: a patch fsync logged for a page before must not come back at roll-forward.
// - Preallocated blocks (KEEP_SIZE) past the end hold zeros, and the inode says so
//   (INODE_FLAG_PREALLOC), so that a block mapped beyond the size is never taken for damage.
// - A block mapped at another (inode, offset) than its summary names is marked shared (SST sub
//   SUB_SHARED, volume.ts), which tells the cleaner and fsck to look for all its holders.
// - A compressed cluster (format/cluster.ts: its stored blocks in the first slots of 8, the
//   rest empty) is never cut: a range that takes part of one goes through the page cache there
//   (file_write brings the whole cluster in), a range that takes all of it takes all its slots,
//   and a clone shares it only whole, at a place aligned to clusters in both files.

import { Cause } from '../device/cause.js';
import { BLOCK_SIZE } from '../device/device.js';
import { INODE_FLAG_INLINE, INODE_FLAG_PREALLOC, key, KEY_MAX, map_decode, map_encode, map_new, MAP_SLOTS, RecKind } from '../format/records.js';
import type { MapChunk } from '../format/records.js';
import { Head } from '../log/segments.js';
import { cluster_compressed, cluster_start } from '../checkpoint/cluster_read.js';
import { CLUSTER_BLOCKS } from '../format/cluster.js';
import { assert } from '../util/assert.js';
import { FsError } from '../util/errors.js';
import type { DataCtx } from './file.js';
import { file_flush, file_read, file_truncate, file_write, inline_bytes, inline_key, inline_to_blocks, map_get, map_key, pages_drop, write_space } from './file.js';
import type { InodeMem } from './inode.js';
import { times_set } from './inode.js';
import { FILE_SIZE_MAX } from './types.js';

/** zero blocks written per device request by an allocation */
const ALLOC_BATCH_BLOCKS = 256;
/** bytes a clone that can not share copies per step */
const COPY_STEP_BYTES = 1 << 20;
const ZERO_BLOCK = Buffer.alloc(BLOCK_SIZE);

/** fallocate(2) modes cowlog answers (the rest are EOPNOTSUPP). */
export const FALLOC_KEEP_SIZE = 0x01;
export const FALLOC_PUNCH_HOLE = 0x02;
export const FALLOC_ZERO_RANGE = 0x10;

function range_check(off: number, len: number): void {
  if (!Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len <= 0) throw new FsError('EINVAL', `range at ${off} of ${len} bytes`);
  if (off + len > FILE_SIZE_MAX) throw new FsError('EFBIG', `range ending at ${off + len}, past cowlog's largest file (${FILE_SIZE_MAX} bytes)`);
}

/**
 * Sets slots of blocks [first, end) from `slot(idx)` (address 0: a hole), one record per chunk;
 * the inode's block count follows. Reference counts follow in the volume (map_refs).
 */
function slots_set(ctx: DataCtx, m: InodeMem, first: number, end: number, slot: (idx: number) => Slot): void {
  const vol = ctx.vol;
  for (let c = Math.floor(first / MAP_SLOTS); c * MAP_SLOTS < end; c++) {
    const mc = map_get(vol, m.ino, c) ?? map_new();
    let changed = false, used = 0;
    for (let s = 0; s < MAP_SLOTS; s++) {
      const idx = c * MAP_SLOTS + s;
      if (idx >= first && idx < end) {
        const n = slot(idx);
        const comp = n.addr !== 0 ? n.comp ?? 0 : 0;
        if (n.addr !== mc.addr[s] || n.csum !== mc.csum[s] || comp !== mc.comp[s]) {
          if (mc.addr[s] === 0 && n.addr !== 0) m.rec.blocks++;
          if (mc.addr[s] !== 0 && n.addr === 0) m.rec.blocks--;
          mc.addr[s] = n.addr;
          mc.csum[s] = n.csum;
          mc.comp[s] = comp;
          changed = true;
        }
      }
      if (mc.addr[s] !== 0) used++;
    }
    if (!changed) continue;
    if (used > 0) vol.put(map_key(m.ino, c), map_encode(mc));
    else vol.del(map_key(m.ino, c));
  }
  assert(m.rec.blocks >= 0, () => `inode ${m.ino}: block count ${m.rec.blocks}`);
}

/** A map slot: an address (0: none), its CRC32C, and whether it is a stored block of a compressed cluster. */
interface Slot { addr: number; csum: number; comp?: number }

/** Whether slot `s` of `mc` holds data: a block, or a place in a compressed cluster. */
function slot_data(mc: MapChunk | null, s: number): boolean {
  return mc !== null && (mc.addr[s] !== 0 || cluster_compressed(mc, s));
}

/** The blocks of [first, end) with no data (not a block, not in a compressed cluster): each needs a new block. */
function holes_count(ctx: DataCtx, m: InodeMem, first: number, end: number): number {
  let n = end - first;
  ctx.vol.scan(map_key(m.ino, Math.floor(first / MAP_SLOTS)), map_key(m.ino, Math.floor((end - 1) / MAP_SLOTS)), (k, v) => {
    const mc = ctx.vol.decode(k, v, map_decode);
    for (let s = 0; s < MAP_SLOTS; s++) {
      const idx = k.off * MAP_SLOTS + s;
      if (idx >= first && idx < end && slot_data(mc, s)) n--;
    }
  });
  return n;
}

/**
 * [first, end) cut back to whole compressed clusters: the first and last blocks of a compressed
 * cluster the range takes only part of are left out (`sizeEnd`: the file's last block + 1, where a
 * short last cluster ends). Returns [first, end) narrowed.
 */
function clusters_inside(ctx: DataCtx, m: InodeMem, first: number, end: number, sizeEnd: number): [number, number] {
  const cut = (idx: number): boolean => {
    const mc = map_get(ctx.vol, m.ino, Math.floor(idx / MAP_SLOTS));
    if (!cluster_compressed(mc, idx)) return false;
    const cs = cluster_start(idx);
    return cs < first || Math.min(cs + CLUSTER_BLOCKS, Math.max(sizeEnd, cs + 1)) > end;
  };
  while (first < end && cut(first)) first++;
  while (end > first && cut(end - 1)) end--;
  return [first, end];
}

/** Slots changed under a file: earlier patches must not come back at roll-forward (file.ts). */
function gen_bump(m: InodeMem): void {
  m.rec.data_gen = (m.rec.data_gen + 1) >>> 0;
}

function touch(ctx: DataCtx, m: InodeMem): void {
  const now = ctx.clock();
  times_set(m.rec, 'm', now);
  times_set(m.rec, 'c', now);
  m.mtime = m.ctime = null;
}

/**
 * Zeroes bytes [off, end) of a block-mapped file inside the file's size through the page cache
 * (file_write), block by block, skipping holes (they read as zeros already).
 */
function bytes_zero(ctx: DataCtx, m: InodeMem, off: number, end: number): void {
  end = Math.min(end, m.size);
  for (let pos = off; pos < end;) {
    const idx = Math.floor(pos / BLOCK_SIZE);
    const to = Math.min(end, (idx + 1) * BLOCK_SIZE);
    const mapped = m.pages.has(idx) || slot_data(map_get(ctx.vol, m.ino, Math.floor(idx / MAP_SLOTS)), idx % MAP_SLOTS);
    // (a block of a compressed cluster: file_write brings the whole cluster into the cache)
    if (mapped) file_write(ctx, m, pos, ZERO_BLOCK.subarray(0, to - pos));
    pos = to;
  }
}

/**
 * How a hole punched in a block-mapped file is made: whole blocks [wholeFirst, wholeEnd) unmapped
 * — reaching past the size into preallocated blocks, and cut back to whole compressed clusters —
 * and the byte ranges at its ends zeroed through the page cache, with the blocks that zeroing
 * makes dirty and that need space (write_space; holes inside an end counted too: a little early
 * rather than late).
 */
function punch_plan(ctx: DataCtx, m: InodeMem, off: number, len: number): { wholeFirst: number; wholeEnd: number; ends: [number, number][]; space: number } {
  const end = Math.min(off + len, m.size);
  const [wholeFirst, wholeEnd] = clusters_inside(ctx, m, Math.ceil(off / BLOCK_SIZE),
    off + len >= m.size ? Math.max(Math.ceil(off / BLOCK_SIZE), Math.ceil(Math.max(m.size, off + len) / BLOCK_SIZE)) : Math.floor((off + len) / BLOCK_SIZE),
    Math.ceil(m.size / BLOCK_SIZE));
  const ends: [number, number][] = [[off, Math.min(end, Math.max(off, wholeFirst * BLOCK_SIZE))]];
  if (wholeEnd * BLOCK_SIZE < end) ends.push([Math.max(off, wholeEnd * BLOCK_SIZE), end]);
  let space = 0;
  for (const [a, b] of ends) if (a < b) space += write_space(ctx.vol, m, Math.floor(a / BLOCK_SIZE), Math.floor((b - 1) / BLOCK_SIZE)).fresh;
  return { wholeFirst, wholeEnd, ends, space };
}

/**
 * fallocate PUNCH_HOLE (always with KEEP_SIZE): [off, off + len) reads as zeros afterwards;
 * whole blocks inside it are unmapped (their space given back), the partial blocks at its ends
 * are zeroed. The size does not change.
 */
export function range_punch(ctx: DataCtx, m: InodeMem, off: number, len: number): void {
  range_check(off, len);
  const end = Math.min(off + len, m.size);
  const inline = (m.rec.flags & INODE_FLAG_INLINE) !== 0;
  if (off >= end && !(m.rec.flags & INODE_FLAG_PREALLOC)) {
    // nothing to punch: still a point where the file's pages reach the log, as every range
    // operation is (so what a crash may leave does not depend on where the range lies)
    if (!inline) file_flush(ctx, m);
    return;
  }
  if (inline) {
    const cur = inline_bytes(ctx.vol, m.ino);
    const nb = Buffer.from(cur);
    nb.fill(0, off, Math.min(end, nb.length));
    if (!nb.equals(cur)) ctx.vol.put(inline_key(m.ino), nb);
    touch(ctx, m);
    ctx.icache.store(m);
    return;
  }
  const { wholeFirst, wholeEnd, ends, space } = punch_plan(ctx, m, off, len);
  // the ends are zeroed through the page cache, which may need space (a compressed cluster comes
  // in whole): admitted for both before anything changes, so that ENOSPC leaves the file as it was
  if (space > 0) ctx.space_admit(space);
  pages_drop(ctx, m, wholeFirst, wholeEnd);
  for (const [a, b] of ends) bytes_zero(ctx, m, a, b);
  file_flush(ctx, m);
  gen_bump(m);
  if (wholeEnd > wholeFirst) slots_set(ctx, m, wholeFirst, wholeEnd, () => ({ addr: 0, csum: 0 }));
  touch(ctx, m);
  ctx.icache.store(m);
}

/**
 * fallocate's default mode and KEEP_SIZE: every block of [off, off + len) is allocated (a zero
 * block written and mapped where there is none), so that writing there later never fails for
 * want of space and df shows the space as used; the size grows to off + len unless KEEP_SIZE.
 * ENOSPC before anything changes when the blocks do not fit. Returns the blocks allocated.
 */
export function range_alloc(ctx: DataCtx, m: InodeMem, off: number, len: number, keepSize: boolean): number {
  range_check(off, len);
  const end = off + len;
  const vol = ctx.vol;
  if (m.rec.flags & INODE_FLAG_INLINE) {
    // an inline file keeps its bytes in its record: only what does not fit needs blocks
    if (end <= vol.g.inlineMax) {
      if (!keepSize && end > m.size) {
        const nb = Buffer.alloc(end);
        inline_bytes(vol, m.ino).copy(nb);
        vol.put(inline_key(m.ino), nb);
        m.rec.size = m.size = end;
        touch(ctx, m);
        ctx.icache.store(m);
      }
      return 0;
    }
    inline_to_blocks(ctx, m);
  }
  const first = Math.floor(off / BLOCK_SIZE);
  const last = Math.ceil(end / BLOCK_SIZE);
  file_flush(ctx, m);
  const need = holes_count(ctx, m, first, last);
  if (need > 0) {
    ctx.space_admit(need, true);
    ctx.cleaner.ensure(need, true);
  }
  // admission may have cleaned (blocks of this file moved): the holes are read again
  const holes: number[] = [];
  for (let c = Math.floor(first / MAP_SLOTS); c * MAP_SLOTS < last; c++) {
    const mc = map_get(vol, m.ino, c);
    for (let s = 0; s < MAP_SLOTS; s++) {
      const idx = c * MAP_SLOTS + s;
      if (idx >= first && idx < last && !slot_data(mc, s)) holes.push(idx);
    }
  }
  assert(holes.length === need, () => `inode ${m.ino}: ${holes.length} holes to allocate, ${need} admitted`);
  const placed = new Map<number, { addr: number; csum: number }>();
  for (let i = 0; i < holes.length; i += ALLOC_BATCH_BLOCKS) {
    const batch = holes.slice(i, i + ALLOC_BATCH_BLOCKS);
    const res = vol.data_write(Head.WARM_DATA, batch.map(() => ZERO_BLOCK), { cause: Cause.DATA, ino: m.ino });
    batch.forEach((idx, j) => placed.set(idx, res[j]!));
  }
  if (holes.length > 0) {
    const cur = new Map<number, MapChunk | null>();
    slots_set(ctx, m, holes[0]!, holes[holes.length - 1]! + 1, (idx) => {
      const p = placed.get(idx);
      if (p !== undefined) return p;
      const c = Math.floor(idx / MAP_SLOTS);
      if (!cur.has(c)) cur.set(c, map_get(vol, m.ino, c));
      const mc = cur.get(c);
      return mc ? { addr: mc.addr[idx % MAP_SLOTS]!, csum: mc.csum[idx % MAP_SLOTS]!, comp: mc.comp[idx % MAP_SLOTS]! } : { addr: 0, csum: 0 };
    });
  }
  if (!keepSize && end > m.size) {
    file_truncate(ctx, m, end);
  } else if (last > Math.ceil(m.size / BLOCK_SIZE)) {
    m.rec.flags |= INODE_FLAG_PREALLOC;
  }
  const now = ctx.clock();
  times_set(m.rec, 'c', now);
  if (!keepSize) times_set(m.rec, 'm', now);
  ctx.icache.store(m);
  ctx.observer?.data_logged(m.ino, holes.length, 0);
  return holes.length;
}

/** fallocate ZERO_RANGE: [off, off + len) reads as zeros and is allocated; the size grows unless KEEP_SIZE. */
export function range_zero(ctx: DataCtx, m: InodeMem, off: number, len: number, keepSize: boolean): void {
  range_check(off, len);
  // every block of the range is allocated anew after the punch, whose zeroed ends may need
  // space too: all of it must fit before anything is zeroed (what the punch frees is not
  // counted, so this can say ENOSPC a little early)
  const inline = (m.rec.flags & INODE_FLAG_INLINE) !== 0;
  if (!inline || off + len > ctx.vol.g.inlineMax) {
    const ends = inline ? 0 : punch_plan(ctx, m, off, len).space;
    ctx.space_admit(Math.ceil((off + len) / BLOCK_SIZE) - Math.floor(off / BLOCK_SIZE) + ends, true);
  }
  range_punch(ctx, m, off, len);
  range_alloc(ctx, m, off, len, keepSize);
}

/**
 * lseek SEEK_DATA (`data`) or SEEK_HOLE: the first offset at or after `off` in data (a mapped
 * block, a dirty page, inline bytes) or in a hole (an unmapped block, or the end of the file).
 * ENXIO at or past the end or before the start, and for SEEK_DATA when only holes follow.
 */
export function range_seek(ctx: DataCtx, m: InodeMem, off: number, data: boolean): number {
  if (!Number.isInteger(off)) throw new FsError('EINVAL', `seek to ${off}`);
  // a negative offset is ENXIO too, as on ext4 and XFS (the offset taken as unsigned is past the end)
  if (off < 0 || off >= m.size) throw new FsError('ENXIO', `offset ${off} is ${off < 0 ? 'negative' : `at or past the end (${m.size} bytes)`}`);
  if (m.rec.flags & INODE_FLAG_INLINE) return data ? off : m.size;
  const lastIdx = Math.floor((m.size - 1) / BLOCK_SIZE);
  const mapped = new Set<number>();
  for (const idx of m.pages.keys()) mapped.add(idx);
  const from = Math.floor(off / BLOCK_SIZE);
  // the chunks from `off` on, one scan; a hole or data is found in the first one for most files
  let found = -1;
  const scanFrom = Math.floor(from / MAP_SLOTS);
  let nextChunk = scanFrom;
  const scan_to = (chunkEnd: number): void => {
    ctx.vol.scan(map_key(m.ino, nextChunk), map_key(m.ino, chunkEnd), (k, v) => {
      const mc = ctx.vol.decode(k, v, map_decode);
      for (let s = 0; s < MAP_SLOTS; s++) if (slot_data(mc, s)) mapped.add(k.off * MAP_SLOTS + s);
    });
    nextChunk = chunkEnd + 1;
  };
  for (let idx = from; idx <= lastIdx && found < 0; idx++) {
    const c = Math.floor(idx / MAP_SLOTS);
    if (c >= nextChunk) scan_to(Math.min(Math.floor(lastIdx / MAP_SLOTS), c + 15));
    if (mapped.has(idx) === data) found = idx;
  }
  if (found < 0) {
    if (data) throw new FsError('ENXIO', `no data at or after offset ${off}`);
    return m.size;
  }
  return Math.max(off, found * BLOCK_SIZE);
}

/**
 * copy_file_range: copies `len` bytes of `src` at `offIn` to `dst` at `offOut` (cut at the end
 * of `src`) and returns the bytes copied. With `share`, whole blocks at the same position within
 * a block on both sides are shared, not copied (the tail block too when the copy ends at the
 * end of both files); the rest is read and written through the page cache. A copy may end short
 * of `len` (ENOSPC part way through a plain copy): the caller sees how far it got.
 */
export function range_clone(ctx: DataCtx, src: InodeMem, offIn: number, dst: InodeMem, offOut: number, len: number, share: boolean): number {
  if (!Number.isInteger(offIn) || !Number.isInteger(offOut) || !Number.isInteger(len) || offIn < 0 || offOut < 0 || len < 0) {
    throw new FsError('EINVAL', `copy of ${len} bytes from ${offIn} to ${offOut}`);
  }
  len = Math.max(0, Math.min(len, src.size - offIn));
  if (len === 0) return 0;
  if (offOut + len > FILE_SIZE_MAX) throw new FsError('EFBIG', `copy ending at ${offOut + len}, past cowlog's largest file`);
  if (src === dst && offIn < offOut + len && offOut < offIn + len) throw new FsError('EINVAL', 'copy_file_range: the ranges overlap');
  const aligned = (offIn - offOut) % BLOCK_SIZE === 0;
  const inline = (src.rec.flags & INODE_FLAG_INLINE) !== 0;
  // the shared blocks: those the copy covers whole in the source, and the source's last block
  // when the copy takes the source to its end and the destination ends there too (the bytes
  // past the end of a block-mapped file are zeros)
  const first = Math.ceil(offIn / BLOCK_SIZE);
  const tailShared = offIn + len === src.size && offOut + len >= dst.size;
  const end = tailShared ? Math.ceil((offIn + len) / BLOCK_SIZE) : Math.floor((offIn + len) / BLOCK_SIZE);
  if (!share || !aligned || inline || end <= first) return bytes_copy(ctx, src, offIn, dst, offOut, len);
  const delta = Math.floor((offOut - offIn) / BLOCK_SIZE);
  // dirty pages first: their flush decides which clusters are stored compressed (a file's new
  // pages become a compressed cluster only then), and the checks below read the block maps
  file_flush(ctx, src);
  file_flush(ctx, dst);
  // compressed clusters are shared whole, at the same place within a cluster on both sides;
  // otherwise the copy goes through the page cache
  const sEnd = Math.ceil(src.size / BLOCK_SIZE), dEnd = Math.ceil(dst.size / BLOCK_SIZE);
  const whole = (m: InodeMem, a: number, b: number, e: number): boolean => {
    const [x, y] = clusters_inside(ctx, m, a, b, e);
    return x === a && y === b;
  };
  if (!whole(src, first, end, sEnd) || !(dst.rec.flags & INODE_FLAG_INLINE ? true : whole(dst, first + delta, end + delta, dEnd))) {
    return bytes_copy(ctx, src, offIn, dst, offOut, len);
  }
  if (delta % CLUSTER_BLOCKS !== 0 && range_compressed(ctx, src, first, end)) return bytes_copy(ctx, src, offIn, dst, offOut, len);

  const headEnd = first * BLOCK_SIZE;
  const tailStart = end * BLOCK_SIZE;
  // the bytes before and after the shared blocks go through the page cache; the space they may
  // take is admitted first, with what the destination's shared slots need: records only
  const partial = (headEnd > offIn ? 1 : 0) + (tailStart < offIn + len ? 1 : 0);
  if (partial > 0) ctx.space_admit(partial);
  if (dst.rec.flags & INODE_FLAG_INLINE) inline_to_blocks(ctx, dst);
  if (headEnd > offIn) file_write(ctx, dst, offOut, file_read(ctx, src, offIn, headEnd - offIn));
  if (tailStart < offIn + len) file_write(ctx, dst, tailStart + delta * BLOCK_SIZE, file_read(ctx, src, tailStart, offIn + len - tailStart));
  // a short last cluster, compressed, is shared with the slots past its end that it keeps empty
  const lastCs = cluster_start(end - 1);
  const endSet = range_compressed(ctx, src, lastCs, end) ? Math.max(end, lastCs + CLUSTER_BLOCKS) : end;
  pages_drop(ctx, dst, first + delta, endSet + delta);
  file_flush(ctx, dst);
  gen_bump(dst);
  const srcChunks = new Map<number, MapChunk | null>();
  slots_set(ctx, dst, first + delta, endSet + delta, (idx) => {
    const si = idx - delta;
    if (si >= end) return { addr: 0, csum: 0 };
    const c = Math.floor(si / MAP_SLOTS);
    if (!srcChunks.has(c)) srcChunks.set(c, map_get(ctx.vol, src.ino, c));
    const mc = srcChunks.get(c);
    return mc ? { addr: mc.addr[si % MAP_SLOTS]!, csum: mc.csum[si % MAP_SLOTS]!, comp: mc.comp[si % MAP_SLOTS]! } : { addr: 0, csum: 0 };
  });
  if (offOut + len > dst.size) {
    dst.size = dst.rec.size = offOut + len;
  }
  touch(ctx, dst);
  ctx.icache.store(dst);
  return len;
}

/** Whether any block of [first, end) of `m` lies in a compressed cluster. */
function range_compressed(ctx: DataCtx, m: InodeMem, first: number, end: number): boolean {
  let any = false;
  ctx.vol.scan(map_key(m.ino, Math.floor(first / MAP_SLOTS)), map_key(m.ino, Math.floor((end - 1) / MAP_SLOTS)), (k, v) => {
    const mc = ctx.vol.decode(k, v, map_decode);
    for (let s = 0; s < MAP_SLOTS && !any; s++) if (mc.comp[s] && k.off * MAP_SLOTS + s >= first && k.off * MAP_SLOTS + s < end) any = true;
    return !any;
  });
  return any;
}

/** A copy through the page cache, COPY_STEP_BYTES at a time; ENOSPC after some bytes ends it short. */
function bytes_copy(ctx: DataCtx, src: InodeMem, offIn: number, dst: InodeMem, offOut: number, len: number): number {
  let done = 0;
  while (done < len) {
    const n = Math.min(COPY_STEP_BYTES, len - done);
    const buf = file_read(ctx, src, offIn + done, n);
    try {
      file_write(ctx, dst, offOut + done, buf);
    } catch (e) {
      if (done > 0 && e instanceof FsError && e.code === 'ENOSPC') return done;
      throw e;
    }
    done += n;
  }
  return done;
}

/** Whether a chunk record range of an inode holds any slot at or past block `idx` (fsck, tests). */
export function slots_beyond(ctx: DataCtx, ino: number, idx: number): boolean {
  let any = false;
  ctx.vol.scan(map_key(ino, Math.floor(idx / MAP_SLOTS)), key(ino, RecKind.MAP, KEY_MAX.off), (k, v) => {
    const mc = ctx.vol.decode(k, v, map_decode);
    for (let s = 0; s < MAP_SLOTS; s++) if (mc.addr[s] !== 0 && k.off * MAP_SLOTS + s >= idx) any = true;
    return !any;
  });
  return any;
}
