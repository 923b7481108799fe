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
//   0 upwards, one block at a time (the log only appends);
// - a segment whose blocks all died becomes PREFREE at the next checkpoint N and may be
//   allocated again only once checkpoint N+1 is durable: until then the previous checkpoint,
//   which mount falls back to if the newest is damaged, may still need its blocks.

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
}
export const BLOCK_KIND_NAMES = ['none', 'data', 'node', 'table', 'directory', 'redo'] as const;

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

  constructor(g: Geometry, rct: MetaTable, sut: MetaTable, sst: MetaTable, heads: HeadState[]) {
    assert(heads.length === HEAD_COUNT, () => `${heads.length} heads`);
    this.g = g;
    this.rct = rct;
    this.sut = sut;
    this.sst = sst;
    this.heads = heads.map((h) => ({ ...h }));
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
        this.segsFreeCache.stale = true;
      }
      info.valid++;
      assert(info.valid <= this.g.segBlocks, () => `segment ${s}: ${info.valid} valid blocks`);
      this.seg_set(s, info);
      this.validBlocks++;
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
    if (i.state === SegState.PREFREE) return i.freedSeq + 1 <= this.durableSeq && !this.is_head_seg(s);
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

  /** Picks the allocatable segment written least often (wear-aware), lowest number on ties. */
  private seg_pick(): number {
    let best = -1;
    let bestWrites = Infinity;
    for (let s = 0; s < this.g.segCount; s++) {
      if (!this.seg_allocatable(s)) continue;
      const w = this.seg(s).writes;
      if (w < bestWrites) { best = s; bestWrites = w; }
    }
    return best;
  }

  private head_open(h: Head): void {
    const s = this.seg_pick();
    if (s < 0) throw new FsError('ENOSPC', `no free segment left for the ${HEAD_NAMES[h]} log (the cleaner could not keep up)`);
    const info = this.seg(s);
    assert(info.valid === 0, () => `segment ${s} handed out with ${info.valid} valid blocks`);
    info.state = SegState.INUSE;
    info.head = h;
    info.mtime = this.birth;
    info.freedSeq = 0;
    info.writes++;
    this.seg_set(s, info);
    this.heads[h] = { seg: s, off: 0 };
    this.segsFreeCache.stale = true;
  }

  /** The address the next alloc(h) will return, opening a segment if the head needs one. */
  peek(h: Head): BlockAddr {
    const hd = this.heads[h]!;
    if (hd.seg < 0 || hd.off >= this.g.segBlocks) this.head_open(h);
    const cur = this.heads[h]!;
    return addr_of(this.seg_start(cur.seg) + cur.off);
  }

  /** Allocates the next block of head h. The caller sets its summary and references. */
  alloc(h: Head): BlockAddr {
    const a = this.peek(h);
    this.heads[h]!.off++;
    return a;
  }

  /**
   * Allocates n blocks from head h as runs of consecutive addresses (a run ends where a segment
   * ends), so the caller can write each run as one request.
   */
  alloc_runs(h: Head, n: number): { addr: BlockAddr; count: number }[] {
    const runs: { addr: BlockAddr; count: number }[] = [];
    let left = n;
    while (left > 0) {
      const a = this.peek(h);
      const hd = this.heads[h]!;
      const take = Math.min(left, this.g.segBlocks - hd.off);
      hd.off += take;
      runs.push({ addr: a, count: take });
      left -= take;
    }
    return runs;
  }

  /** Leaves every head without a segment (after an unclean shutdown, at mount). */
  heads_abandon(): void {
    for (let h = 0; h < HEAD_COUNT; h++) this.heads[h] = { seg: -1, off: 0 };
    this.segsFreeCache.stale = true;
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
      this.segsFreeCache.stale = true;
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
    if (n) this.segsFreeCache.stale = true;
    return n;
  }

  /** A durable checkpoint changes which PREFREE segments may be reused. */
  durable_set(seq: number): void {
    this.durableSeq = seq;
    this.segsFreeCache.stale = true;
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
    this.segsFreeCache.stale = true;
    return { mismatches };
  }

  private main_check(a: number): void {
    assert(a >= this.g.mainStart && a < this.g.mainStart + this.g.segCount * this.g.segBlocks, () => `block ${a} is outside the main area`);
  }
}
