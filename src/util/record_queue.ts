// A bounded first-in first-out queue of binary records that drops what does not fit, and
// counts it.
//
// The mount hands each tracer its events through one of these: records are written straight
// into the queue's chunk (no object per event), the chunks go to the tracer's socket whole,
// and a tracer that reads slowly loses events (and is told how many) instead of slowing the
// filesystem down or growing its memory.
//
// Invariants:
// - 0 ≤ size ≤ capacity (records); records come out in the order they went in, whole, in
//   chunks of about CHUNK_BYTES (a larger record gets a chunk of its own size).
// - A reserve() on a full queue changes nothing but `lost`, which counts every dropped record
//   until lost_take() reads and clears it.
// - Between reserve() and commit() only the caller writes the chunk, from `pos` on.

import { assert } from './assert.js';

export const CHUNK_BYTES = 64 * 1024;

export class RecordQueue {
  /** chunks that are full, oldest first, and the records in each */
  private readonly sealed: Buffer[] = [];
  private readonly sealedCounts: number[] = [];
  /** the chunk being written and where the next record goes */
  buf: Buffer;
  pos = 0;
  /** records in `buf` */
  private n = 0;
  size = 0;
  lost = 0;

  constructor(readonly capacity: number, private readonly chunkBytes = CHUNK_BYTES) {
    assert(Number.isSafeInteger(capacity) && capacity > 0, () => `queue capacity ${capacity}`);
    this.buf = Buffer.allocUnsafe(chunkBytes);
  }

  /**
   * Makes room for a record of at most `max` bytes at `buf[pos]`; false (and one more lost)
   * when the queue holds `capacity` records.
   */
  reserve(max: number): boolean {
    if (this.size >= this.capacity) {
      this.lost++;
      return false;
    }
    if (this.pos + max > this.buf.length) {
      this.seal();
      if (max > this.buf.length) this.buf = Buffer.allocUnsafe(Math.max(max, this.chunkBytes));
    }
    return true;
  }

  /** The record reserved ends at `end`. */
  commit(end: number): void {
    assert(end > this.pos && end <= this.buf.length, () => `record end ${end} outside ${this.pos}..${this.buf.length}`);
    this.pos = end;
    this.n++;
    this.size++;
  }

  /** Chunks are ready to go whole (sealed ones wait). */
  get full(): boolean {
    return this.sealed.length > 0;
  }

  /** The oldest records, a chunk's worth, as bytes the caller owns; null when empty. */
  take(): Buffer | null {
    if (this.sealed.length === 0) {
      if (this.n === 0) return null;
      this.seal();
    }
    const b = this.sealed.shift()!;
    this.size -= this.sealedCounts.shift()!;
    assert(this.size >= 0, () => `queue size ${this.size} after a take`);
    return b;
  }

  private seal(): void {
    if (this.n > 0) {
      this.sealed.push(this.buf.subarray(0, this.pos));
      this.sealedCounts.push(this.n);
    }
    this.buf = Buffer.allocUnsafe(this.chunkBytes);
    this.pos = 0;
    this.n = 0;
  }

  /** The number dropped since the last call, which is reset to 0. */
  lost_take(): number {
    const k = this.lost;
    this.lost = 0;
    return k;
  }
}
