// A bounded first-in first-out ring that drops what does not fit, and counts it.
//
// The mount hands each tracer its events through one of these: pushing never waits and never
// grows memory, so a tracer that reads slowly loses events (and is told how many) instead of
// slowing the filesystem down.
//
// Invariants:
// - 0 ≤ size ≤ capacity; items come out in the order they went in.
// - A push onto a full ring changes nothing but `lost`, which counts every dropped push until
//   lost_take() reads and clears it.

import { assert } from './assert.js';

export class Ring<T> {
  private readonly items: (T | undefined)[];
  private head = 0;
  size = 0;
  lost = 0;

  constructor(readonly capacity: number) {
    assert(Number.isSafeInteger(capacity) && capacity > 0, () => `ring capacity ${capacity}`);
    this.items = new Array<T | undefined>(capacity);
  }

  /** Adds `x` at the tail; false (and one more lost) when the ring is full. */
  push(x: T): boolean {
    if (this.size === this.capacity) {
      this.lost++;
      return false;
    }
    this.items[(this.head + this.size) % this.capacity] = x;
    this.size++;
    return true;
  }

  /** Takes the head, or undefined when empty. */
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const x = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.size--;
    return x;
  }

  /** The number dropped since the last call, which is reset to 0. */
  lost_take(): number {
    const n = this.lost;
    this.lost = 0;
    return n;
  }
}
