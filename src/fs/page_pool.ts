// Page buffers of the file layer, reused: a page written to the log (or dropped) goes back to a
// free list and the next page a write fills takes it, instead of a new 4 KiB buffer each time
// (or a new buffer for all the pages of a large write). A freed Buffer is only given back to
// malloc when V8 collects its object, and V8 starts a collection for external memory only after
// tens of MiB more of it: creating small files made that garbage faster than it was collected
// (80 MiB of page buffers for 20,000 files, none of them freed, in the server's resident set),
// and a sequential write left as much behind it.
//
// Invariants: a page in the pool is owned by nobody else (a page is given back only once its
// inode's page map dropped it, and pages are never shared: reads and the device copy them);
// only whole pages with a buffer of their own are taken back (a view into a larger write's
// buffer keeps that buffer alive and is left to the collector); the pages kept free and the
// dirty pages together stay within the dirty-page bound, so the pool takes nothing beyond it.

import { BLOCK_SIZE } from '../device/device.js';

export class PagePool {
  private readonly free: Buffer[] = [];
  /** pages handed out again (for info and tests) */
  reused = 0;

  /** `room()`: bytes the pool may keep free right now (the dirty bound less the dirty bytes) */
  constructor(private readonly room: () => number) {}

  /** A page of BLOCK_SIZE bytes whose content is undefined (the caller fills it whole). */
  take(): Buffer {
    const b = this.free.pop();
    if (b === undefined) return Buffer.allocUnsafeSlow(BLOCK_SIZE);
    this.reused++;
    return b;
  }

  /** Takes back a page nobody holds any more (see the invariants). */
  give(b: Buffer): void {
    if (b.length !== BLOCK_SIZE || b.byteOffset !== 0 || b.buffer.byteLength !== BLOCK_SIZE) return;
    if ((this.free.length + 1) * BLOCK_SIZE > this.room()) return;
    this.free.push(b);
  }

  /** Bytes kept free. */
  get bytes(): number {
    return this.free.length * BLOCK_SIZE;
  }

  /** Lets the free pages beyond the room go (the bound was lowered). */
  trim(): void {
    const keep = Math.max(0, Math.floor(this.room() / BLOCK_SIZE));
    if (this.free.length > keep) this.free.length = keep;
  }

  /** Lets every free page go (an idle mount; the collector frees them). */
  release(): void {
    this.free.length = 0;
  }
}
