// Metadata tables in memory: each table (NAT, RCT, SUT, SST, SNAP, DIR) is an array of
// fixed-size entries stored in the log as table blocks, and held in memory a page at a time — one
// page per table block — through a cache shared by all tables with a budget (PageCache), as f2fs
// caches NAT and SIT entries. A page not in memory is read from its table block when an entry of
// it is asked for (all zeros when its block was never written).
//
// Dirty tracking, per table block: the set of entries changed since the block was last
// written, or FULL once there are too many to be worth journaling. At a checkpoint a block with
// few dirty entries is carried in the checkpoint's journal instead of being rewritten; its
// entries stay dirty (and are journaled again) until the block is written.
//
// Invariants:
// - a page's bytes are exactly perBlock · entryBytes (the last block's past the table's end
//   stay zero); a dirty set only holds indices of its block;
// - a dirty page is never evicted (it is the only copy of its entries until written), so the
//   cache may exceed its budget by the dirty pages: the file layer bounds them with checkpoints;
// - eviction is CLOCK (second chance): a page used since the hand last passed stays.

import type { TableGeom } from '../format/geometry.js';
import { assert } from '../util/assert.js';

export const DIRTY_FULL = true;

/** Where a table block comes from when its page is not in memory: its bytes, or null for zeros. */
export type PageLoad = (t: MetaTable, bi: number) => Uint8Array | null;
/** Whether table block bi was ever written (false: it reads as zeros, nothing to read). */
export type PageOnDisk = (t: MetaTable, bi: number) => boolean;

export interface Page {
  readonly t: MetaTable;
  readonly bi: number;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** used since the clock hand last passed */
  ref: boolean;
  /** position in the cache's ring */
  slot: number;
}

/** What the cache holds and has done (cowlog info --stats). */
export interface PageCacheStats {
  pages: number;
  dirtyPages: number;
  budgetPages: number;
  loads: number;
  evictions: number;
}

export class PageCache {
  /** pages kept before clean ones are evicted */
  budgetPages: number;
  private readonly ring: Page[] = [];
  private hand = 0;
  loads = 0;
  evictions = 0;

  constructor(budgetPages: number) {
    assert(budgetPages >= 8, () => `table cache of ${budgetPages} pages`);
    this.budgetPages = budgetPages;
  }

  get size(): number {
    return this.ring.length;
  }

  stats(): PageCacheStats {
    let dirty = 0;
    for (const p of this.ring) if (p.t.dirty.has(p.bi)) dirty++;
    return { pages: this.ring.length, dirtyPages: dirty, budgetPages: this.budgetPages, loads: this.loads, evictions: this.evictions };
  }

  /** A new budget (the resident bound squeezing the caches, fuse/resident.ts): clean pages beyond it go now. */
  budget_set(pages: number): void {
    assert(pages >= 8, () => `table cache of ${pages} pages`);
    this.budgetPages = pages;
    if (this.ring.length > pages) this.evict(this.ring.length - pages);
  }

  /**
   * Takes in a page just read, making room first: the page being added is never the one evicted
   * (its caller is about to use it — often to mark it dirty — and when the ring holds nothing
   * but dirty pages, a second turn of the hand would find it clean and no longer used).
   */
  add(p: Page): void {
    if (this.ring.length + 1 > this.budgetPages) this.evict(this.ring.length + 1 - this.budgetPages);
    p.slot = this.ring.length;
    this.ring.push(p);
  }

  /** Evicts up to n clean pages, clock order; stops after two turns of the hand (all dirty or used). */
  private evict(n: number): void {
    let steps = 2 * this.ring.length;
    while (n > 0 && steps-- > 0 && this.ring.length > 0) {
      if (this.hand >= this.ring.length) this.hand = 0;
      const p = this.ring[this.hand]!;
      if (p.t.dirty.has(p.bi)) { this.hand++; continue; }
      if (p.ref) { p.ref = false; this.hand++; continue; }
      this.remove(p);
      p.t.page_dropped(p.bi);
      this.evictions++;
      n--;
    }
  }

  /** Takes a page out of the ring (swap with the last). */
  remove(p: Page): void {
    const last = this.ring.pop()!;
    if (last !== p) {
      this.ring[p.slot] = last;
      last.slot = p.slot;
    }
  }

  /** Forgets every clean page (tests: the next reads come from the device). */
  drop_clean(): void {
    for (const p of [...this.ring]) {
      if (p.t.dirty.has(p.bi)) continue;
      this.remove(p);
      p.t.page_dropped(p.bi);
    }
  }
}

export class MetaTable {
  readonly geom: TableGeom;
  /** table block index → dirty entry indices (or DIRTY_FULL) */
  readonly dirty = new Map<number, Set<number> | true>();
  /**
   * A block with more changed entries than this is rewritten rather than journaled: its entries
   * would take more than half a block of journal (5 bytes of table and index per entry).
   */
  readonly journalMax: number;
  /** bytes of one page: perBlock entries */
  readonly pageBytes: number;
  private readonly pages = new Map<number, Page>();
  private readonly cache: PageCache;
  private load: PageLoad;
  /** the page used last (most accesses fall in the same block as the one before) */
  private last: Page | null = null;

  private readonly onDisk: PageOnDisk;

  constructor(geom: TableGeom, cache: PageCache, load: PageLoad = () => null, onDisk: PageOnDisk = () => true) {
    this.geom = geom;
    this.cache = cache;
    this.load = load;
    this.onDisk = onDisk;
    this.journalMax = Math.max(1, Math.floor(4096 / 2 / (5 + geom.entryBytes)));
    this.pageBytes = geom.perBlock * geom.entryBytes;
  }

  /** Where pages not in memory come from (set once the table directory is known). */
  source_set(load: PageLoad): void {
    this.load = load;
  }

  block_of(i: number): number {
    return Math.floor(i / this.geom.perBlock);
  }

  /** The page holding entry i (read in if needed); bounds-checked. */
  page(i: number): Page {
    // the check first: a message closure made on every call was garbage on the hottest path
    if (!(i >= 0 && i < this.geom.entries && Number.isInteger(i))) assert(false, () => `${this.geom.name} entry ${i} outside 0..${this.geom.entries - 1}`);
    return this.page_at(Math.floor(i / this.geom.perBlock));
  }

  /** The page of table block bi (read in if needed). */
  page_at(bi: number): Page {
    const l = this.last;
    if (l !== null && l.bi === bi) return l;
    let p = this.pages.get(bi);
    if (p === undefined) {
      assert(bi >= 0 && bi < this.geom.blocks, () => `${this.geom.name} block ${bi} outside 0..${this.geom.blocks - 1}`);
      const bytes = new Uint8Array(this.pageBytes);
      const src = this.load(this, bi);
      if (src !== null) {
        assert(src.length === this.pageBytes, () => `${this.geom.name} block ${bi}: ${src.length} bytes read for a page of ${this.pageBytes}`);
        bytes.set(src);
        this.cache.loads++;
      }
      p = { t: this, bi, bytes, view: new DataView(bytes.buffer), ref: true, slot: -1 };
      this.pages.set(bi, p);
      this.cache.add(p);
    } else {
      p.ref = true;
    }
    this.last = p;
    return p;
  }

  /**
   * Whether every entry of block bi is zero without reading it: not in memory and never
   * written (a pass over a table skips such blocks whole).
   */
  known_zero(bi: number): boolean {
    return !this.pages.has(bi) && !this.onDisk(this, bi);
  }

  /** Whether block bi's page is in memory. */
  resident(bi: number): boolean {
    return this.pages.has(bi);
  }

  /** The cache evicted block bi's page. */
  page_dropped(bi: number): void {
    this.pages.delete(bi);
    if (this.last !== null && this.last.bi === bi) this.last = null;
  }

  /** Byte offset of entry i inside its page. */
  off(i: number): number {
    return (i % this.geom.perBlock) * this.geom.entryBytes;
  }

  u8(i: number, o: number): number {
    return this.page(i).view.getUint8(this.off(i) + o);
  }

  u16(i: number, o: number): number {
    return this.page(i).view.getUint16(this.off(i) + o, true);
  }

  u32(i: number, o: number): number {
    return this.page(i).view.getUint32(this.off(i) + o, true);
  }

  set_u8(i: number, o: number, v: number): void {
    this.page(i).view.setUint8(this.off(i) + o, v);
    this.mark(i);
  }

  set_u16(i: number, o: number, v: number): void {
    this.page(i).view.setUint16(this.off(i) + o, v, true);
    this.mark(i);
  }

  set_u32(i: number, o: number, v: number): void {
    this.page(i).view.setUint32(this.off(i) + o, v, true);
    this.mark(i);
  }

  /** Records that entry i changed (its page is then pinned until written). */
  mark(i: number): void {
    const b = this.block_of(i);
    const d = this.dirty.get(b);
    if (d === true) return;
    assert(this.pages.has(b), () => `${this.geom.name} entry ${i} marked dirty while its page is not in memory`);
    if (d === undefined) {
      this.dirty.set(b, new Set([i]));
      return;
    }
    d.add(i);
    if (d.size > this.journalMax) {
      this.dirty.set(b, DIRTY_FULL);
      this.fullBlocks++;
    }
  }

  /** Forces block b to be rewritten at the next checkpoint (the cleaner moves it). */
  mark_block(b: number): void {
    assert(b >= 0 && b < this.geom.blocks, () => `${this.geom.name} block ${b} outside 0..${this.geom.blocks - 1}`);
    // read in before it is pinned: a dirty page must be in memory
    this.page_at(b);
    if (this.dirty.get(b) !== DIRTY_FULL) this.fullBlocks++;
    this.dirty.set(b, DIRTY_FULL);
  }

  /** Block b was written: its page is clean (and may be evicted) again. */
  clean(b: number): void {
    if (this.dirty.get(b) === DIRTY_FULL) this.fullBlocks--;
    this.dirty.delete(b);
  }

  /** Blocks too changed to ride in a checkpoint's journal (kept as a count: asked on every operation). */
  fullBlocks = 0;

  /** Entry i's bytes (a view: copy before keeping it across other table accesses). */
  entry(i: number): Uint8Array {
    const p = this.page(i);
    const o = this.off(i);
    return p.bytes.subarray(o, o + this.geom.entryBytes);
  }

  /** Replaces entry i's bytes. */
  entry_set(i: number, data: Uint8Array): void {
    assert(data.length === this.geom.entryBytes, () => `${this.geom.name} entry of ${data.length} bytes`);
    const p = this.page(i);
    p.bytes.set(data, this.off(i));
    this.mark(i);
  }

  /** The entries of block b, as its table block stores them. */
  block_bytes(b: number): Uint8Array {
    return this.page_at(b).bytes;
  }

  /** True when every entry of block b is zero (a block that need not exist on disk). */
  block_is_zero(b: number): boolean {
    const bytes = this.page_at(b).bytes;
    for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
    return true;
  }

  /** Pages of this table in memory. */
  get residentPages(): number {
    return this.pages.size;
  }
}
