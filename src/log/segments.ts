// The segment log: log heads, allocation, and per-block and per-segment bookkeeping.
//
// Three tables live here:
//   RCT  reference count of every block (u16): how many parents point at it. Node blocks and
//        table blocks have 1 while live; a data block has one per leaf that maps it (snapshots
//        share leaves and blocks, so counts above 1 appear only with snapshots). 0 = dead.
//   SST  segment summary of every block: what it holds (data of inode I at block offset O, node N,
//        table block T, ...) and the checkpoint it was born in. The cleaner and fsck read it.
//   SUT  segment usage of every segment: valid blocks, state, the head that filled it, when it
//        was last allocated, how many times it has been allocated (wear), when it was freed.
//
// Invariants:
// - SUT.valid[s] === number of blocks of s with RCT > 0;
// - a segment is written only while it is the current segment of exactly one head, from offset
//   0 upwards; only blocks that are holes (see hole()) are written: all of a fresh segment, the
//   dead blocks of one reused for slack-space recycling;
// - a segment whose blocks all died becomes PREFREE when checkpoint N is written, and may be
//   allocated again once N is durable: never before, since the checkpoint a torn write of N
//   leaves mount with still names its blocks.

import type { Geometry } from '../format/geometry.js';
import { seg_start } from '../format/geometry.js';
import { HEAD_COUNT } from '../format/checkpoint.js';
import type { HeadState } from '../format/checkpoint.js';
import type { MetaTable } from './metatable.js';
import { assert } from '../util/assert.js';
import { FsError } from '../util/errors.js';
import { addr_of, seg_of } from '../util/ids.js';
import type { BlockAddr, SegNo } from '../util/ids.js';

export const enum Head {
  HOT_DATA = 0,
  WARM_DATA = 1,
  COLD_DATA = 2,
  HOT_NODE = 3,
  WARM_NODE = 4,
  COLD_NODE = 5,
  REDO = 6,
  META = 7,
}
export const HEAD_NAMES = ['hot-data', 'warm-data', 'cold-data', 'hot-node', 'warm-node', 'cold-node', 'redo', 'meta'] as const;

export const enum SegState {
  FREE = 0,
  INUSE = 1,
  PREFREE = 2,
}

export const enum BlockKind {
  NONE = 0,
  DATA = 1,
  NODE = 2,
  TABLE = 3,
  DIR = 4,
  /** reserved: redo blocks are never live, so the summary is not written for them */
  REDO = 5,
  /** a checkpoint journal block (live until the next checkpoint supersedes it) */
  JOURNAL = 6,
}
export const BLOCK_KIND_NAMES = ['none', 'data', 'node', 'table', 'directory', 'redo', 'journal'] as const;

/**
 * `sub` of a data block's summary: 0 when every slot mapping it is at the summary's (owner,
 * offset) in some tree (snapshots share whole leaves); SUB_SHARED when a clone mapped it at
 * another inode or offset too, so that its holders are found by looking through the trees.
 */
export const SUB_SHARED = 1;

export const NO_HEAD = 0xff;

export interface Summary {
  kind: BlockKind;
  sub: number;
  owner: number;
  offset: number;
  birth: number;
}

export interface SegInfo {
  valid: number;
  head: number;
  state: SegState;
  mtime: number;
  freedSeq: number;
  writes: number;
}

export class SegLog {
  readonly g: Geometry;
  readonly rct: MetaTable;
  readonly sut: MetaTable;
  readonly sst: MetaTable;
  readonly heads: HeadState[];
  /** seq of the last durable checkpoint */
  durableSeq = 0;
  /** total blocks with RCT > 0 */
  validBlocks = 0;
  /** allocatable segments, recounted when segment states change */
  private readonly segsFreeCache: { n: number; stale: boolean } = { n: 0, stale: true };
  private readonly holesCache: { n: number; stale: boolean } = { n: 0, stale: true };
  /** blocks allocated or freed in the current epoch (1), and how many per segment */
  private readonly touched: Uint8Array;
  private readonly touchedSeg: Uint16Array;
  /** user data writes into the holes of dirty segments when fewer free blocks than this remain */
  ssrBelow = 0;
  /**
   * While set, the cold heads (which only the cleaner writes) open the most-written free segment
   * instead of the least-written: static wear levelling parks data known to be cold on worn
   * segments so the little-worn ones go back to the hot logs.
   */
  coldOnWorn = false;
  /** counters: segments opened for slack-space recycling, blocks written into holes */
  ssrOpens = 0;
  ssrBlocks = 0;
  /**
   * What the next checkpoint gives back: blocks whose last reference went in this epoch, and the
   * redo blocks written in it (never live, they hold their segments only until a checkpoint
   * starts a new epoch)
   */
  freedThisEpoch = 0;
  /** which heads write into the holes of a dirty segment now */
  private readonly ssrHead = new Uint8Array(HEAD_COUNT);

  constructor(g: Geometry, rct: MetaTable, sut: MetaTable, sst: MetaTable, heads: HeadState[]) {
    assert(heads.length === HEAD_COUNT, () => `${heads.length} heads`);
    this.g = g;
    this.rct = rct;
    this.sut = sut;
    this.sst = sst;
    this.heads = heads.map((h) => ({ ...h }));
    this.touched = new Uint8Array(g.blockCount);
    this.touchedSeg = new Uint16Array(g.segCount);
  }

  /** The birth sequence of blocks written now: the checkpoint that will first include them. */
  get birth(): number {
    return this.durableSeq + 1;
  }

  // ---- per-block reference counts (RCT) ------------------------------------------------------

  refs(a: number): number {
    return this.rct.view.getUint16(this.rct.at(a), true);
  }

  private refs_set(a: number, n: number): void {
    this.rct.view.setUint16(this.rct.at(a), n, true);
    this.rct.mark(a);
  }

  ref_inc(a: number): void {
    this.main_check(a);
    const n = this.refs(a);
    assert(n < 0xffff, () => `block ${a}: reference count overflow`);
    this.refs_set(a, n + 1);
    if (n === 0) {
      const s = this.seg_of(a);
      const info = this.seg(s);
      if (info.state !== SegState.INUSE) {
        // roll-forward brings back blocks written after the checkpoint into segments that the
        // checkpoint still called free
        info.state = SegState.INUSE;
        info.freedSeq = 0;
        this.caches_stale();
      }
      info.valid++;
      assert(info.valid <= this.g.segBlocks, () => `segment ${s}: ${info.valid} valid blocks`);
      this.seg_set(s, info);
      this.validBlocks++;
      this.holesCache.stale = true;
    }
  }

  ref_dec(a: number): void {
    this.main_check(a);
    const n = this.refs(a);
    assert(n > 0, () => `block ${a}: reference count already 0 (double free)`);
    this.refs_set(a, n - 1);
    if (n === 1) {
      const s = this.seg_of(a);
      const info = this.seg(s);
      assert(info.valid > 0, () => `segment ${s}: valid count underflow at block ${a}`);
      info.valid--;
      this.seg_set(s, info);
      this.validBlocks--;
      this.touch(a);
      this.freedThisEpoch++;
      this.holesCache.stale = true;
    }
  }

  // ---- segment summary (SST) -----------------------------------------------------------------

  summary(a: number): Summary {
    const o = this.sst.at(a);
    const v = this.sst.view;
    return { kind: v.getUint8(o), sub: v.getUint8(o + 1), owner: v.getUint32(o + 4, true), offset: v.getUint32(o + 8, true), birth: v.getUint32(o + 12, true) };
  }

  summary_set(a: number, s: Summary): void {
    this.main_check(a);
    const o = this.sst.at(a);
    const v = this.sst.view;
    v.setUint8(o, s.kind);
    v.setUint8(o + 1, s.sub);
    v.setUint16(o + 2, 0, true);
    v.setUint32(o + 4, s.owner, true);
    v.setUint32(o + 8, s.offset, true);
    v.setUint32(o + 12, s.birth, true);
    this.sst.mark(a);
  }

  // ---- segment usage (SUT) -------------------------------------------------------------------

  seg(s: number): SegInfo {
    const o = this.sut.at(s);
    const v = this.sut.view;
    return {
      valid: v.getUint16(o, true),
      head: v.getUint8(o + 2),
      state: v.getUint8(o + 3) as SegState,
      mtime: v.getUint32(o + 4, true),
      freedSeq: v.getUint32(o + 8, true),
      writes: v.getUint32(o + 12, true),
    };
  }

  seg_set(s: number, i: SegInfo): void {
    const o = this.sut.at(s);
    const v = this.sut.view;
    v.setUint16(o, i.valid, true);
    v.setUint8(o + 2, i.head);
    v.setUint8(o + 3, i.state);
    v.setUint32(o + 4, i.mtime, true);
    v.setUint32(o + 8, i.freedSeq, true);
    v.setUint32(o + 12, i.writes, true);
    this.sut.mark(s);
  }

  seg_valid(s: number): number {
    return this.sut.view.getUint16(this.sut.at(s), true);
  }

  seg_state(s: number): SegState {
    return this.sut.view.getUint8(this.sut.at(s) + 3) as SegState;
  }

  seg_of(a: number): SegNo {
    return seg_of(Math.floor((a - this.g.mainStart) / this.g.segBlocks));
  }

  seg_start(s: number): BlockAddr {
    return seg_start(this.g, s as SegNo);
  }

  is_head_seg(s: number): boolean {
    for (const h of this.heads) if (h.seg === s) return true;
    return false;
  }

  /** May segment s be handed to a head now? */
  seg_allocatable(s: number): boolean {
    const i = this.seg(s);
    if (i.state === SegState.FREE) return !this.is_head_seg(s);
    if (i.state === SegState.PREFREE) return i.freedSeq <= this.durableSeq && !this.is_head_seg(s);
    return false;
  }

  /** Number of segments that may be allocated now. */
  segs_free(): number {
    if (this.segsFreeCache.stale) {
      let n = 0;
      for (let s = 0; s < this.g.segCount; s++) if (this.seg_allocatable(s)) n++;
      this.segsFreeCache.n = n;
      this.segsFreeCache.stale = false;
    }
    return this.segsFreeCache.n;
  }

  /**
   * Blocks that can surely be written without cleaning: whole free segments. The unwritten rest
   * of a head's current segment is not counted: any head may be the one that needs a new segment.
   */
  blocks_free(): number {
    return this.segs_free() * this.g.segBlocks;
  }

  /**
   * Picks the allocatable segment written least often (wear-aware), lowest number on ties; the
   * most written one when `worn`.
   */
  private seg_pick(worn: boolean): number {
    let best = -1;
    let bestWrites = worn ? -1 : Infinity;
    for (let s = 0; s < this.g.segCount; s++) {
      if (!this.seg_allocatable(s)) continue;
      const w = this.seg(s).writes;
      if (worn ? w > bestWrites : w < bestWrites) { best = s; bestWrites = w; }
    }
    return best;
  }

  // ---- holes: blocks that may be written again ------------------------------------------------
  //
  // A block may be allocated when nothing refers to it and it was neither allocated nor freed
  // in the current epoch (since the last durable checkpoint): a block freed in this epoch is
  // still named by the durable checkpoint or by a redo group of this epoch. In a fresh segment
  // every block qualifies, so allocation is sequential there; in a segment with live data only
  // its dead blocks do (slack-space recycling).

  /** Whether block a may be allocated now. */
  hole(a: number): boolean {
    return this.refs(a) === 0 && this.touched[a] === 0;
  }

  private touch(a: number): void {
    if (this.touched[a] === 0) {
      this.touched[a] = 1;
      this.touchedSeg[this.seg_of(a)]!++;
    }
  }

  private caches_stale(): void {
    this.segsFreeCache.stale = true;
    this.holesCache.stale = true;
  }

  /** A checkpoint is durable: blocks freed before it may be reused. */
  private epoch_reset(): void {
    this.freedThisEpoch = 0;
    this.touched.fill(0);
    this.touchedSeg.fill(0);
    this.holesCache.stale = true;
  }

  /** A lower bound on the holes of segment s (dead blocks not touched in this epoch). */
  seg_holes(s: number): number {
    return Math.max(0, this.g.segBlocks - this.seg_valid(s) - this.touchedSeg[s]!);
  }

  /** Segments slack-space recycling may write into: in use, with live data, not a head's. */
  private ssr_candidate(s: number): boolean {
    return this.seg_state(s) === SegState.INUSE && this.seg_valid(s) > 0 && !this.is_head_seg(s);
  }

  /** Holes in segments that slack-space recycling may write into (user data only). */
  blocks_ssr(): number {
    if (this.holesCache.stale) {
      let n = 0;
      for (let s = 0; s < this.g.segCount; s++) if (this.ssr_candidate(s)) n += this.seg_holes(s);
      this.holesCache.n = n;
      this.holesCache.stale = false;
    }
    return this.holesCache.n;
  }

  /** The dirty segment with the most holes, or -1. */
  private ssr_pick(): number {
    let best = -1;
    let bestHoles = 0;
    for (let s = 0; s < this.g.segCount; s++) {
      if (!this.ssr_candidate(s)) continue;
      const h = this.seg_holes(s);
      if (h > bestHoles) { best = s; bestHoles = h; }
    }
    return best;
  }

  private head_open(h: Head): void {
    // user data goes into the holes of dirty segments once free segments run low
    if ((h === Head.HOT_DATA || h === Head.WARM_DATA || h === Head.COLD_DATA) && this.blocks_free() < this.ssrBelow) {
      const s = this.ssr_pick();
      if (s >= 0) {
        const info = this.seg(s);
        info.head = h;
        this.seg_set(s, info);
        this.heads[h] = { seg: s, off: 0 };
        this.ssrHead[h] = 1;
        this.ssrOpens++;
        this.caches_stale();
        this.holesCache.stale = true;
        return;
      }
    }
    const s = this.seg_pick(this.coldOnWorn && (h === Head.COLD_DATA || h === Head.COLD_NODE));
    if (s < 0) throw new FsError('ENOSPC', `no free segment left for the ${HEAD_NAMES[h]} log (the cleaner could not keep up)`);
    this.ssrHead[h] = 0;
    const info = this.seg(s);
    assert(info.valid === 0, () => `segment ${s} handed out with ${info.valid} valid blocks`);
    info.state = SegState.INUSE;
    info.head = h;
    info.mtime = this.birth;
    info.freedSeq = 0;
    info.writes++;
    this.seg_set(s, info);
    this.heads[h] = { seg: s, off: 0 };
    this.caches_stale();
  }

  /** The address the next alloc(h) will return, opening a segment if the head needs one. */
  peek(h: Head): BlockAddr {
    for (let opens = 0; opens < this.g.segCount + 1; opens++) {
      const hd = this.heads[h]!;
      if (hd.seg >= 0) {
        const start = this.seg_start(hd.seg);
        while (hd.off < this.g.segBlocks && !this.hole(start + hd.off)) hd.off++;
        if (hd.off < this.g.segBlocks) return addr_of(start + hd.off);
      }
      this.head_open(h);
    }
    assert(false, `log head ${HEAD_NAMES[h]} found no block in any segment`);
  }

  /** Allocates the next block of head h. The caller sets its summary and references. */
  alloc(h: Head): BlockAddr {
    const a = this.peek(h);
    this.heads[h]!.off++;
    this.touch(a);
    if (h === Head.REDO) this.freedThisEpoch++;
    if (this.ssrHead[h]) this.ssrBlocks++;
    return a;
  }

  /**
   * Allocates n blocks from head h as runs of consecutive addresses (a run ends at a segment's
   * end or at a live block), so the caller can write each run as one request.
   */
  alloc_runs(h: Head, n: number): { addr: BlockAddr; count: number }[] {
    const runs: { addr: BlockAddr; count: number }[] = [];
    for (let left = n; left > 0; left--) {
      const a = this.alloc(h);
      const last = runs[runs.length - 1];
      if (last && last.addr + last.count === a) last.count++;
      else runs.push({ addr: a, count: 1 });
    }
    return runs;
  }

  /** Leaves every head without a segment (after an unclean shutdown, at mount). */
  heads_abandon(): void {
    for (let h = 0; h < HEAD_COUNT; h++) this.heads[h] = { seg: -1, off: 0 };
    this.ssrHead.fill(0);
    this.caches_stale();
  }

  /** Marks a segment in use (roll-forward pins the segments of the redo chain it read). */
  seg_pin(s: number): void {
    const info = this.seg(s);
    if (info.state !== SegState.INUSE) {
      info.state = SegState.INUSE;
      info.freedSeq = 0;
      info.head = NO_HEAD;
      info.mtime = this.birth;
      this.seg_set(s, info);
      this.caches_stale();
    }
  }

  /**
   * At checkpoint `seq`: every segment in use, not a head's, with no valid block left becomes
   * PREFREE. Returns how many changed.
   */
  prefree_pass(seq: number): number {
    let n = 0;
    for (let s = 0; s < this.g.segCount; s++) {
      if (this.seg_state(s) !== SegState.INUSE || this.seg_valid(s) !== 0 || this.is_head_seg(s)) continue;
      const info = this.seg(s);
      info.state = SegState.PREFREE;
      info.freedSeq = seq;
      info.head = NO_HEAD;
      this.seg_set(s, info);
      n++;
    }
    if (n) this.caches_stale();
    return n;
  }

  /** A durable checkpoint changes which PREFREE segments may be reused. */
  durable_set(seq: number): void {
    this.durableSeq = seq;
    this.caches_stale();
    this.epoch_reset();
  }

  /** Recomputes validBlocks from the RCT (mount) and checks it against the SUT. */
  valid_recount(): { mismatches: number[] } {
    const mismatches: number[] = [];
    let total = 0;
    const per = new Uint32Array(this.g.segCount);
    const end = this.g.mainStart + this.g.segCount * this.g.segBlocks;
    for (let a = this.g.mainStart; a < end; a++) {
      if (this.refs(a) > 0) { per[this.seg_of(a)]!++; total++; }
    }
    for (let s = 0; s < this.g.segCount; s++) if (per[s] !== this.seg_valid(s)) mismatches.push(s);
    this.validBlocks = total;
    this.caches_stale();
    return { mismatches };
  }

  private main_check(a: number): void {
    assert(a >= this.g.mainStart && a < this.g.mainStart + this.g.segCount * this.g.segBlocks, () => `block ${a} is outside the main area`);
  }
}
