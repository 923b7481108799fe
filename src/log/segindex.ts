// Ordered indexes over the segments, so that choosing a segment costs O(log n) in the segments
// and not a scan of them: the least- (and most-) written free segment, the dirty segment with the
// most holes for slack-space recycling, the cleaner's victims in greedy order, and the
// least-written segment holding data (static wear levelling).
//
// The segments are taken in groups, one group per SUT table block (253 segments). Each group
// keeps a summary — its best candidate for every index — and each index is a sorted-btree of
// those summaries (`import SB from 'sorted-btree'`). A question goes to the best group, O(log
// groups), then looks at that group's segments, at most 253. So the memory the indexes take is
// a few numbers per 253 segments (130 KiB of summaries at 16 TiB), and the SUT itself stays paged.
//
// Invariants:
// - a change of a segment marks its group stale; refresh() recomputes the stale groups before
//   any question is answered, so every answer is that of a full scan (the tests compare);
// - a segment is a victim when it is in use, no head's, and holds 1 .. validMax valid blocks;
//   an SSR candidate when in use, no head's, and holding valid blocks (its holes may be 0);
//   allocatable when FREE, or PREFREE with its checkpoint durable;
// - `work` counts the segment entries read and the index steps taken, for the test that shows
//   the cost of an operation does not grow with the device.

import SB from 'sorted-btree';
import type { Geometry } from '../format/geometry.js';
import type { MetaTable } from './metatable.js';
import { assert } from '../util/assert.js';

const BTree = SB.default;
type Key = number[];
type Index = InstanceType<typeof BTree<Key, number>>;

/** Segment states (the SUT's): FREE 0, INUSE 1, PREFREE 2. */
const FREE = 0;
const INUSE = 1;
const PREFREE = 2;

function cmp(a: Key, b: Key): number {
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** What the log tells the index about a segment that the SUT does not hold. */
export interface SegSide {
  is_head(s: number): boolean;
  /** blocks of s allocated or freed in this epoch */
  touched(s: number): number;
  durableSeq(): number;
}

/** Work done, for tests and `cowlog info --stats`. */
export interface SegIndexWork {
  /** SUT entries read to summarise groups or answer a question */
  entries: number;
  /** sorted-btree operations */
  steps: number;
  /** groups summarised again */
  refreshes: number;
}

export class SegIndex {
  private readonly g: Geometry;
  private readonly sut: MetaTable;
  private readonly side: SegSide;
  readonly groupSegs: number;
  readonly groups: number;
  /** valid blocks above which a segment is not worth cleaning */
  readonly validMax: number;
  private readonly stale = new Set<number>();
  /** per index, the key each group is filed under (null: not in the index) */
  private readonly keys: (Key | null)[][];
  private readonly idx: Index[];
  readonly work: SegIndexWork = { entries: 0, steps: 0, refreshes: 0 };

  // indexes: 0 free by fewest writes, 1 free by most writes, 2 victims, 3 SSR by most holes,
  // 4 holding data by fewest writes
  static readonly FREE_LEAST = 0;
  static readonly FREE_MOST = 1;
  static readonly VICTIM = 2;
  static readonly SSR = 3;
  static readonly USED_LEAST = 4;

  constructor(g: Geometry, sut: MetaTable, side: SegSide) {
    this.g = g;
    this.sut = sut;
    this.side = side;
    this.groupSegs = sut.geom.perBlock;
    this.groups = Math.ceil(g.segCount / this.groupSegs);
    this.validMax = g.segBlocks - Math.max(1, g.segBlocks >> 3);
    this.keys = Array.from({ length: 5 }, () => new Array<Key | null>(this.groups).fill(null));
    this.idx = Array.from({ length: 5 }, () => new BTree<Key, number>(undefined, cmp));
  }

  group_of(s: number): number {
    return Math.floor(s / this.groupSegs);
  }

  /** Segment s changed (state, valid count, writes, head, holes). */
  touch(s: number): void {
    this.stale.add(Math.floor(s / this.groupSegs));
  }

  /**
   * Every group summarised from scratch (mount). The groups in `zero` are SUT blocks never
   * written: all their segments are free and never opened, which needs no reading.
   */
  build(zero: ReadonlySet<number> = new Set()): void {
    for (let gi = 0; gi < this.groups; gi++) {
      if (!zero.has(gi)) { this.stale.add(gi); continue; }
      this.file(gi, [[0, gi], [-0, gi], null, null, null]);
    }
    this.refresh();
  }

  /** Recomputes the summaries of the groups changed since the last question. */
  refresh(): void {
    if (this.stale.size === 0) return;
    for (const gi of this.stale) this.summarise(gi);
    this.stale.clear();
  }

  /** The segment entry fields a question needs, read from its SUT page. */
  private fields(s: number): { valid: number; state: number; mtime: number; freedSeq: number; writes: number } {
    const v = this.sut.page(s).view;
    const o = this.sut.off(s);
    this.work.entries++;
    return { valid: v.getUint16(o, true), state: v.getUint8(o + 3), mtime: v.getUint32(o + 4, true), freedSeq: v.getUint32(o + 8, true), writes: v.getUint32(o + 12, true) };
  }

  private allocatable(f: { state: number; freedSeq: number }): boolean {
    return f.state === FREE || (f.state === PREFREE && f.freedSeq <= this.side.durableSeq());
  }

  /** One group's best candidate for each index, filed again. */
  private summarise(gi: number): void {
    this.work.refreshes++;
    const first = gi * this.groupSegs;
    const end = Math.min(this.g.segCount, first + this.groupSegs);
    let freeLeast: Key | null = null, freeMost: Key | null = null, victim: Key | null = null, ssr: Key | null = null, used: Key | null = null;
    for (let s = first; s < end; s++) {
      const f = this.fields(s);
      if (this.allocatable(f)) {
        if (freeLeast === null || f.writes < freeLeast[0]!) freeLeast = [f.writes, gi];
        if (freeMost === null || -f.writes < freeMost[0]!) freeMost = [-f.writes, gi];
        continue;
      }
      if (f.state !== INUSE || f.valid === 0 || this.side.is_head(s)) continue;
      if (f.valid <= this.validMax) {
        const k = [f.valid, f.mtime, s];
        if (victim === null || cmp(k, victim) < 0) victim = k;
      }
      const holes = Math.max(0, this.g.segBlocks - f.valid - this.side.touched(s));
      if (holes > 0 && (ssr === null || -holes < ssr[0]!)) ssr = [-holes, gi];
      if (used === null || f.writes < used[0]!) used = [f.writes, gi];
    }
    this.file(gi, [freeLeast, freeMost, victim, ssr, used]);
  }

  /** Files group gi's candidates, one per index (null: none), replacing what it had. */
  private file(gi: number, want: (Key | null)[]): void {
    for (let i = 0; i < 5; i++) {
      const old = this.keys[i]![gi]!;
      const neu = want[i]!;
      if (old !== null && neu !== null && cmp(old, neu) === 0) continue;
      if (old !== null) { this.idx[i]!.delete(old); this.work.steps++; }
      if (neu !== null) { this.idx[i]!.set(neu, gi); this.work.steps++; }
      this.keys[i]![gi] = neu;
    }
  }

  /** The best group of index i, or -1. */
  private best(i: number): number {
    this.refresh();
    this.work.steps++;
    const k = this.idx[i]!.minKey();
    return k === undefined ? -1 : this.idx[i]!.get(k)!;
  }

  /**
   * The allocatable segment opened fewest times, lowest number on ties; with `worn`, the one
   * opened most often. -1 when none is.
   */
  free_pick(worn: boolean): number {
    const gi = this.best(worn ? SegIndex.FREE_MOST : SegIndex.FREE_LEAST);
    if (gi < 0) return -1;
    let best = -1, bestW = 0;
    const end = Math.min(this.g.segCount, (gi + 1) * this.groupSegs);
    for (let s = gi * this.groupSegs; s < end; s++) {
      const f = this.fields(s);
      if (!this.allocatable(f)) continue;
      if (best < 0 || (worn ? f.writes > bestW : f.writes < bestW)) { best = s; bestW = f.writes; }
    }
    assert(best >= 0, () => `segment group ${gi} is filed as holding a free segment but has none`);
    return best;
  }

  /** The SSR candidate with the most holes (lowest number on ties), or -1. */
  ssr_pick(): number {
    const gi = this.best(SegIndex.SSR);
    if (gi < 0) return -1;
    let best = -1, bestH = 0;
    const end = Math.min(this.g.segCount, (gi + 1) * this.groupSegs);
    for (let s = gi * this.groupSegs; s < end; s++) {
      const f = this.fields(s);
      if (f.state !== INUSE || f.valid === 0 || this.side.is_head(s)) continue;
      const h = Math.max(0, this.g.segBlocks - f.valid - this.side.touched(s));
      if (h > bestH) { best = s; bestH = h; }
    }
    return best;
  }

  /** The segment holding data that was opened fewest times (lowest number on ties), or -1. */
  used_least_written(): { seg: number; writes: number } | null {
    const gi = this.best(SegIndex.USED_LEAST);
    if (gi < 0) return null;
    let best = -1, bestW = 0;
    const end = Math.min(this.g.segCount, (gi + 1) * this.groupSegs);
    for (let s = gi * this.groupSegs; s < end; s++) {
      const f = this.fields(s);
      if (f.state !== INUSE || f.valid === 0 || this.side.is_head(s)) continue;
      if (best < 0 || f.writes < bestW) { best = s; bestW = f.writes; }
    }
    return best < 0 ? null : { seg: best, writes: bestW };
  }

  /** A group's victims in greedy order: fewest valid blocks, oldest, lowest number. */
  private group_victims(gi: number): Key[] {
    const out: Key[] = [];
    const end = Math.min(this.g.segCount, (gi + 1) * this.groupSegs);
    for (let s = gi * this.groupSegs; s < end; s++) {
      const f = this.fields(s);
      if (f.state !== INUSE || f.valid === 0 || f.valid > this.validMax || this.side.is_head(s)) continue;
      out.push([f.valid, f.mtime, s]);
    }
    return out.sort(cmp);
  }

  /**
   * Victims in greedy order, produced lazily: a merge of the groups' own orders, taking a group
   * only when its best victim comes next. Changes made while iterating (the cleaner moving the
   * victims) do not disturb it: it walks a clone of the index taken at the start (O(1)).
   */
  *victims(): Generator<number> {
    this.refresh();
    const groups = this.idx[SegIndex.VICTIM]!.clone();
    const frontier = new BTree<Key, { gi: number; list: Key[]; at: number }>(undefined, cmp);
    let next = groups.minKey();
    for (;;) {
      this.work.steps++;
      const head = frontier.minKey();
      if (next !== undefined && (head === undefined || cmp(next, head) <= 0)) {
        const gi = groups.get(next)!;
        next = groups.nextHigherKey(next);
        const list = this.group_victims(gi);
        if (list.length) frontier.set(list[0]!, { gi, list, at: 0 });
        continue;
      }
      if (head === undefined) return;
      const e = frontier.get(head)!;
      frontier.delete(head);
      if (e.at + 1 < e.list.length) frontier.set(e.list[e.at + 1]!, { ...e, at: e.at + 1 });
      yield head[2]!;
    }
  }
}
