// What fsck recounts, kept in memory in proportion to what the filesystem uses, not to the
// device: holders of blocks per segment that something claims, and parents of nodes per NAT
// block that holds a claimed node id. A 1 TiB device with a million small files takes a few MiB.
//
// Invariants:
// - a block's claim count saturates at 255 in its byte and goes on in an overflow map (only
//   data blocks shared by snapshots are held more than once);
// - only data blocks may be claimed more than once; a second claim of anything else is reported
//   with the first claimant's kind (a block claimed twice is double allocation).

import type { Geometry } from '../format/geometry.js';

/** Kinds of claim, for the message when a block is claimed twice. */
export const enum ClaimKind {
  DATA = 1,
  META = 2,
}

interface SegClaims {
  counts: Uint8Array;
  kinds: Uint8Array;
}

export class BlockClaims {
  private readonly g: Geometry;
  private readonly segs = new Map<number, SegClaims>();
  private readonly over = new Map<number, number>();

  constructor(g: Geometry) {
    this.g = g;
  }

  /**
   * Records a claim of block a (inside the log: the caller checked). Returns the kind of the
   * block's earlier claim when this one makes a double claim, else 0.
   */
  claim(a: number, kind: ClaimKind): number {
    const s = Math.floor((a - this.g.mainStart) / this.g.segBlocks);
    let c = this.segs.get(s);
    if (c === undefined) {
      c = { counts: new Uint8Array(this.g.segBlocks), kinds: new Uint8Array(this.g.segBlocks) };
      this.segs.set(s, c);
    }
    const k = (a - this.g.mainStart) % this.g.segBlocks;
    const prev = c.kinds[k]!;
    if (c.counts[k] === 255) this.over.set(a, (this.over.get(a) ?? 0) + 1);
    else c.counts[k]!++;
    if (prev === 0) { c.kinds[k] = kind; return 0; }
    return prev === ClaimKind.DATA && kind === ClaimKind.DATA ? 0 : prev;
  }

  /** Claims of block a. */
  count(a: number): number {
    const s = Math.floor((a - this.g.mainStart) / this.g.segBlocks);
    const c = this.segs.get(s);
    if (c === undefined) return 0;
    const n = c.counts[(a - this.g.mainStart) % this.g.segBlocks]!;
    return n === 255 ? 255 + (this.over.get(a) ?? 0) : n;
  }

  /** Segments holding a claimed block. */
  segments(): number[] {
    return [...this.segs.keys()];
  }

  /** Bytes held (for the report). */
  get bytes(): number {
    return this.segs.size * 2 * this.g.segBlocks + this.over.size * 16;
  }
}

/** Parents of node ids, and which node ids a tree walk reached, per NAT block. */
export class NodeParents {
  private readonly perBlock: number;
  private readonly pages = new Map<number, { parents: Uint16Array; seen: Uint8Array }>();
  /** distinct nodes reached */
  seenCount = 0;

  constructor(perBlock: number) {
    this.perBlock = perBlock;
  }

  private page(nid: number): { parents: Uint16Array; seen: Uint8Array } {
    const b = Math.floor(nid / this.perBlock);
    let p = this.pages.get(b);
    if (p === undefined) {
      p = { parents: new Uint16Array(this.perBlock), seen: new Uint8Array(Math.ceil(this.perBlock / 8)) };
      this.pages.set(b, p);
    }
    return p;
  }

  /** One more parent names nid (a root holder or an inner node); saturates at 65535. */
  parent_add(nid: number): void {
    const p = this.page(nid);
    const i = nid % this.perBlock;
    if (p.parents[i]! < 0xffff) p.parents[i]!++;
  }

  parents(nid: number): number {
    const p = this.pages.get(Math.floor(nid / this.perBlock));
    return p === undefined ? 0 : p.parents[nid % this.perBlock]!;
  }

  /** Marks nid reached; returns false when it was already. */
  see(nid: number): boolean {
    const p = this.page(nid);
    const i = nid % this.perBlock;
    const m = 1 << (i & 7);
    if ((p.seen[i >> 3]! & m) !== 0) return false;
    p.seen[i >> 3]! |= m;
    this.seenCount++;
    return true;
  }

  /** NAT blocks holding a node id something names. */
  blocks(): number[] {
    return [...this.pages.keys()];
  }

  get bytes(): number {
    return this.pages.size * (this.perBlock * 2 + Math.ceil(this.perBlock / 8));
  }
}
