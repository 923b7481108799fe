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
// What is asked on every operation is kept as counters, updated with every change of a segment
// (free segments, holes for recycling, used segments and their valid blocks, emptied segments);
// what chooses a segment goes through ordered indexes over groups of segments (segindex.ts).
// Neither scans the segments: the cost of an operation does not grow with the device. Mount
// reads the SUT once to summarise it.
//
// Invariants:
// - SUT.valid[s] === number of blocks of s with RCT > 0;
// - every counter equals what a scan of the SUT would give (check() recounts, the tests call it);
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
import { SegIndex } from './segindex.js';
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
  /** the ordered indexes that choose segments */
  readonly index: SegIndex;
  /** counters kept with every change of a segment (see contrib()) */
  private segsFreeN = 0;
  private holesN = 0;
  private usedN = 0;
  private usedValidN = 0;
  private waitingN = 0;
  /** segments in use, no head's, with no valid block: PREFREE at the next checkpoint */
  private readonly emptied = new Set<number>();
  /** PREFREE segments whose checkpoint is not durable yet */
  private readonly waiting = new Set<number>();
  /** the most times any segment was opened (wear levelling compares against it) */
  writesMax = 0;
  /** blocks allocated or freed in the current epoch, per segment (a bit per block, and the count) */
  private readonly touched = new Map<number, { bits: Uint8Array; n: number }>();
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
    this.index = new SegIndex(g, sut, {
      is_head: (s) => this.is_head_seg(s),
      touched: (s) => this.touched.get(s)?.n ?? 0,
      durableSeq: () => this.durableSeq,
    });
  }

  /**
   * Reads the whole SUT once (mount, mkfs): the counters and the index summaries. `validBlocks`
   * comes from the checkpoint (the RCT is not read).
   */
  load(validBlocks: number): void {
    this.validBlocks = validBlocks;
    this.segsFreeN = this.holesN = this.usedN = this.usedValidN = this.waitingN = 0;
    this.emptied.clear();
    this.waiting.clear();
    this.writesMax = 0;
    const per = this.sut.geom.perBlock;
    const zero: number[] = [];
    for (let bi = 0; bi < this.sut.geom.blocks; bi++) {
      const first = bi * per;
      const end = Math.min(this.g.segCount, first + per);
      // a SUT block never written: its segments are all free and never opened
      if (this.sut.known_zero(bi)) { this.segsFreeN += end - first; zero.push(bi); continue; }
      for (let s = first; s < end; s++) {
        this.contrib_apply(s, +1);
        this.writesMax = Math.max(this.writesMax, this.seg(s).writes);
      }
    }
    this.index.build(new Set(zero));
  }

  /** The birth sequence of blocks written now: the checkpoint that will first include them. */
  get birth(): number {
    return this.durableSeq + 1;
  }

  // ---- counters ------------------------------------------------------------------------------

  /** Adds (d = +1) or removes (d = −1) what segment s counts for. */
  private contrib_apply(s: number, d: 1 | -1): void {
    const v = this.sut.page(s).view;
    const o = this.sut.off(s);
    const valid = v.getUint16(o, true);
    const state = v.getUint8(o + 3);
    const freedSeq = v.getUint32(o + 8, true);
    if (state === SegState.FREE || (state === SegState.PREFREE && freedSeq <= this.durableSeq)) { this.segsFreeN += d; return; }
    if (state === SegState.PREFREE) {
      this.waitingN += d;
      if (d > 0) this.waiting.add(s); else this.waiting.delete(s);
      return;
    }
    if (this.is_head_seg(s)) return;
    this.usedN += d;
    this.usedValidN += d * valid;
    if (valid === 0) {
      if (d > 0) this.emptied.add(s); else this.emptied.delete(s);
      return;
    }
    this.holesN += d * Math.max(0, this.g.segBlocks - valid - (this.touched.get(s)?.n ?? 0));
  }

  /** Runs `change` of segment s with its counters taken out before and put back after. */
  private seg_change(s: number, change: () => void): void {
    this.contrib_apply(s, -1);
    change();
    this.contrib_apply(s, +1);
    this.index.touch(s);
  }

  /** Points head h at segment `seg` (or none): both segments' counters follow. */
  private head_set(h: number, seg: number, off: number): void {
    const old = this.heads[h]!.seg;
    if (old === seg) { this.heads[h] = { seg, off }; return; }
    const change = (): void => { this.heads[h] = { seg, off }; };
    if (old >= 0 && seg >= 0) {
      this.contrib_apply(old, -1);
      this.contrib_apply(seg, -1);
      change();
      this.contrib_apply(old, +1);
      this.contrib_apply(seg, +1);
      this.index.touch(old);
      this.index.touch(seg);
    } else if (old >= 0) this.seg_change(old, change);
    else if (seg >= 0) this.seg_change(seg, change);
    else change();
  }

  // ---- per-block reference counts (RCT) ------------------------------------------------------

  refs(a: number): number {
    return this.rct.u16(a, 0);
  }

  private refs_set(a: number, n: number): void {
    this.rct.set_u16(a, 0, n);
  }

  ref_inc(a: number): void {
    this.main_check(a);
    const n = this.refs(a);
    assert(n < 0xffff, () => `block ${a}: reference count overflow`);
    this.refs_set(a, n + 1);
    if (n === 0) {
      const s = this.seg_of(a);
      this.seg_change(s, () => {
        const info = this.seg(s);
        // roll-forward brings back blocks written after the checkpoint into segments that the
        // checkpoint still called free
        if (info.state !== SegState.INUSE) {
          info.state = SegState.INUSE;
          info.freedSeq = 0;
        }
        info.valid++;
        assert(info.valid <= this.g.segBlocks, () => `segment ${s}: ${info.valid} valid blocks`);
        this.seg_set(s, info);
      });
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
      this.seg_change(s, () => {
        const info = this.seg(s);
        assert(info.valid > 0, () => `segment ${s}: valid count underflow at block ${a}`);
        info.valid--;
        this.seg_set(s, info);
        this.touch_mark(a);
      });
      this.validBlocks--;
      this.freedThisEpoch++;
    }
  }

  // ---- segment summary (SST) -----------------------------------------------------------------

  summary(a: number): Summary {
    const v = this.sst.page(a).view;
    const o = this.sst.off(a);
    return { kind: v.getUint8(o), sub: v.getUint8(o + 1), owner: v.getUint32(o + 4, true), offset: v.getUint32(o + 8, true), birth: v.getUint32(o + 12, true) };
  }

  summary_set(a: number, s: Summary): void {
    this.main_check(a);
    const v = this.sst.page(a).view;
    const o = this.sst.off(a);
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
    const v = this.sut.page(s).view;
    const o = this.sut.off(s);
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
    const v = this.sut.page(s).view;
    const o = this.sut.off(s);
    v.setUint16(o, i.valid, true);
    v.setUint8(o + 2, i.head);
    v.setUint8(o + 3, i.state);
    v.setUint32(o + 4, i.mtime, true);
    v.setUint32(o + 8, i.freedSeq, true);
    v.setUint32(o + 12, i.writes, true);
    this.sut.mark(s);
  }

  seg_valid(s: number): number {
    return this.sut.u16(s, 0);
  }

  seg_state(s: number): SegState {
    return this.sut.u8(s, 3) as SegState;
  }

  seg_of(a: number): SegNo {
    return seg_of(Math.floor((a - this.g.mainStart) / this.g.segBlocks));
  }

  seg_start(s: number): BlockAddr {
    return seg_start(this.g, s as SegNo);
  }

  is_head_seg(s: number): boolean {
    const h = this.heads;
    for (let i = 0; i < h.length; i++) if (h[i]!.seg === s) return true;
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
    return this.segsFreeN;
  }

  /**
   * Blocks that can surely be written without cleaning: whole free segments. The unwritten rest
   * of a head's current segment is not counted: any head may be the one that needs a new segment.
   */
  blocks_free(): number {
    return this.segsFreeN * this.g.segBlocks;
  }

  /** Segments in use and no head's, and the valid blocks they hold (idle-time cleaning decides by them). */
  used_segs(): { segs: number; valid: number } {
    return { segs: this.usedN, valid: this.usedValidN };
  }

  /** Segments that will be free after one or two checkpoints, without moving anything. */
  segs_pending(): number {
    return this.emptied.size + this.waitingN;
  }

  // ---- holes: blocks that may be written again ------------------------------------------------
  //
  // A block may be allocated when nothing refers to it and it was neither allocated nor freed
  // in the current epoch (since the last durable checkpoint): a block freed in this epoch is
  // still named by the durable checkpoint or by a redo group of this epoch. In a fresh segment
  // every block qualifies, so allocation is sequential there; in a segment with live data only
  // its dead blocks do (slack-space recycling).

  private touched_at(a: number): boolean {
    const t = this.touched.get(this.seg_of(a));
    if (t === undefined) return false;
    const k = (a - this.g.mainStart) % this.g.segBlocks;
    return (t.bits[k >> 3]! & (1 << (k & 7))) !== 0;
  }

  /** Whether block a may be allocated now. */
  hole(a: number): boolean {
    return this.refs(a) === 0 && !this.touched_at(a);
  }

  /** Marks block a allocated or freed in this epoch (inside a seg_change of its segment). */
  private touch_mark(a: number): void {
    const s = this.seg_of(a);
    let t = this.touched.get(s);
    if (t === undefined) { t = { bits: new Uint8Array(Math.ceil(this.g.segBlocks / 8)), n: 0 }; this.touched.set(s, t); }
    const k = (a - this.g.mainStart) % this.g.segBlocks;
    const m = 1 << (k & 7);
    if ((t.bits[k >> 3]! & m) !== 0) return;
    t.bits[k >> 3]! |= m;
    t.n++;
  }

  private touch(a: number): void {
    if (this.touched_at(a)) return;
    this.seg_change(this.seg_of(a), () => this.touch_mark(a));
  }

  /** A checkpoint is durable: blocks freed before it may be reused. */
  private epoch_reset(): void {
    this.freedThisEpoch = 0;
    const segs = [...this.touched.keys()];
    for (const s of segs) this.seg_change(s, () => this.touched.delete(s));
  }

  /** A lower bound on the holes of segment s (dead blocks not touched in this epoch). */
  seg_holes(s: number): number {
    return Math.max(0, this.g.segBlocks - this.seg_valid(s) - (this.touched.get(s)?.n ?? 0));
  }

  /** Holes in segments that slack-space recycling may write into (user data only). */
  blocks_ssr(): number {
    return this.holesN;
  }

  private head_open(h: Head): void {
    // user data goes into the holes of dirty segments once free segments run low
    if ((h === Head.HOT_DATA || h === Head.WARM_DATA || h === Head.COLD_DATA) && this.blocks_free() < this.ssrBelow) {
      const s = this.index.ssr_pick();
      if (s >= 0) {
        this.seg_change(s, () => {
          const info = this.seg(s);
          info.head = h;
          this.seg_set(s, info);
        });
        this.head_set(h, s, 0);
        this.ssrHead[h] = 1;
        this.ssrOpens++;
        return;
      }
    }
    const s = this.index.free_pick(this.coldOnWorn && (h === Head.COLD_DATA || h === Head.COLD_NODE));
    if (s < 0) throw new FsError('ENOSPC', `no free segment left for the ${HEAD_NAMES[h]} log (the cleaner could not keep up)`);
    this.ssrHead[h] = 0;
    this.seg_change(s, () => {
      const info = this.seg(s);
      assert(info.valid === 0, () => `segment ${s} handed out with ${info.valid} valid blocks`);
      info.state = SegState.INUSE;
      info.head = h;
      info.mtime = this.birth;
      info.freedSeq = 0;
      info.writes++;
      this.writesMax = Math.max(this.writesMax, info.writes);
      this.seg_set(s, info);
    });
    this.head_set(h, s, 0);
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
   * Allocates n blocks from head h as runs of consecutive addresses (a run ends at a live block
   * or where the head moves to a segment that does not follow), so the caller can write each
   * run as one request.
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
    for (let h = 0; h < HEAD_COUNT; h++) this.head_set(h, -1, 0);
    this.ssrHead.fill(0);
  }

  /** Marks a segment in use (roll-forward pins the segments of the redo chain it read). */
  seg_pin(s: number): void {
    if (this.seg_state(s) === SegState.INUSE) return;
    this.seg_change(s, () => {
      const info = this.seg(s);
      info.state = SegState.INUSE;
      info.freedSeq = 0;
      info.head = NO_HEAD;
      info.mtime = this.birth;
      this.seg_set(s, info);
    });
  }

  /**
   * At checkpoint `seq`: every segment in use, not a head's, with no valid block left becomes
   * PREFREE. Returns how many changed.
   */
  prefree_pass(seq: number): number {
    const segs = [...this.emptied];
    for (const s of segs) {
      this.seg_change(s, () => {
        const info = this.seg(s);
        assert(info.state === SegState.INUSE && info.valid === 0 && !this.is_head_seg(s), () => `segment ${s} listed as emptied: state ${info.state}, ${info.valid} valid`);
        info.state = SegState.PREFREE;
        info.freedSeq = seq;
        info.head = NO_HEAD;
        this.seg_set(s, info);
      });
    }
    return segs.length;
  }

  /** A durable checkpoint changes which PREFREE segments may be reused. */
  durable_set(seq: number): void {
    const ready = [...this.waiting].filter((s) => this.seg(s).freedSeq <= seq);
    for (const s of ready) this.contrib_apply(s, -1);
    this.durableSeq = seq;
    for (const s of ready) { this.contrib_apply(s, +1); this.index.touch(s); }
    this.epoch_reset();
  }

  /**
   * Recounts every counter from a scan of the SUT and compares (tests and fsck): the counters
   * must be what the scan gives. Returns what disagrees.
   */
  check(): string[] {
    let free = 0, holes = 0, used = 0, usedValid = 0, pending = 0;
    for (let s = 0; s < this.g.segCount; s++) {
      const i = this.seg(s);
      const head = this.is_head_seg(s);
      if (this.seg_allocatable(s)) { free++; continue; }
      if (i.state === SegState.PREFREE) { pending++; continue; }
      if (i.state !== SegState.INUSE || head) continue;
      used++;
      usedValid += i.valid;
      if (i.valid === 0) pending++;
      else holes += this.seg_holes(s);
    }
    const out: string[] = [];
    const cmp = (what: string, have: number, want: number): void => { if (have !== want) out.push(`${what}: counted ${have}, the SUT gives ${want}`); };
    cmp('free segments', this.segsFreeN, free);
    cmp('holes for recycling', this.holesN, holes);
    cmp('used segments', this.usedN, used);
    cmp('valid blocks in used segments', this.usedValidN, usedValid);
    cmp('segments freed by the next checkpoints', this.segs_pending(), pending);
    return out;
  }

  private main_check(a: number): void {
    assert(a >= this.g.mainStart && a < this.g.mainStart + this.g.segCount * this.g.segBlocks, () => `block ${a} is outside the main area`);
  }
}
