// Metadata tables in memory: each table (NAT, RCT, SUT, SST, SNAP) is held whole in memory as
// its entry bytes; the log holds it as table blocks written at checkpoints.
//
// Dirty tracking, per table block: the set of entries changed since the block was last
// written, or FULL once there are too many to be worth journaling. At a checkpoint a block with
// few dirty entries is carried in the checkpoint's journal instead of being rewritten; its
// entries stay dirty (and are journaled again) until the block is written.
//
// Invariants: bytes.length === entries * entryBytes; a dirty set only holds indices of its block.

import type { TableGeom } from '../format/geometry.js';
import { assert } from '../util/assert.js';

export const DIRTY_FULL = true;

export class MetaTable {
  readonly geom: TableGeom;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** table block index → dirty entry indices (or DIRTY_FULL) */
  readonly dirty = new Map<number, Set<number> | true>();

  /**
   * A block with more changed entries than this is rewritten rather than journaled: its entries
   * would take more than half a block of journal (5 bytes of table and index per entry).
   */
  readonly journalMax: number;

  constructor(geom: TableGeom) {
    this.geom = geom;
    this.journalMax = Math.max(1, Math.floor(4096 / 2 / (5 + geom.entryBytes)));
    this.bytes = new Uint8Array(geom.entries * geom.entryBytes);
    this.view = new DataView(this.bytes.buffer);
  }

  /** Byte offset of entry i (bounds-checked). */
  at(i: number): number {
    assert(i >= 0 && i < this.geom.entries && Number.isInteger(i), () => `${this.geom.name} entry ${i} outside 0..${this.geom.entries - 1}`);
    return i * this.geom.entryBytes;
  }

  block_of(i: number): number {
    return Math.floor(i / this.geom.perBlock);
  }

  /** Records that entry i changed. */
  mark(i: number): void {
    const b = this.block_of(i);
    const d = this.dirty.get(b);
    if (d === true) return;
    if (d === undefined) {
      this.dirty.set(b, new Set([i]));
      return;
    }
    d.add(i);
    if (d.size > this.journalMax) this.dirty.set(b, DIRTY_FULL);
  }

  /** Forces block b to be rewritten at the next checkpoint (the cleaner moves it). */
  mark_block(b: number): void {
    assert(b >= 0 && b < this.geom.blocks, () => `${this.geom.name} block ${b} outside 0..${this.geom.blocks - 1}`);
    this.dirty.set(b, DIRTY_FULL);
  }

  entry(i: number): Uint8Array {
    const o = this.at(i);
    return this.bytes.subarray(o, o + this.geom.entryBytes);
  }

  /** Replaces entry i's bytes (journal replay at mount). */
  entry_set(i: number, data: Uint8Array): void {
    assert(data.length === this.geom.entryBytes, () => `${this.geom.name} entry of ${data.length} bytes`);
    this.bytes.set(data, this.at(i));
    this.mark(i);
  }

  /** True when every entry of block b is zero (a block that need not exist on disk). */
  block_is_zero(b: number): boolean {
    const start = b * this.geom.perBlock * this.geom.entryBytes;
    const end = Math.min(this.bytes.length, start + this.geom.perBlock * this.geom.entryBytes);
    for (let i = start; i < end; i++) if (this.bytes[i] !== 0) return false;
    return true;
  }
}
