// MemoryDevice: a Buffer-backed BlockDevice for tests and benchmarks.
//
// Invariants:
// - Everything written is immediately "durable": there is no power to lose (use SimDevice for
//   crash tests). flush() and discard() only validate.
// - Buffers never alias the caller's: write copies in, read and image() copy out.
// - Use after close() is a bug in the caller and fails an assertion.

import { BLOCK_SIZE, request_check } from './device.js';
import type { BlockDevice } from './device.js';
import { assert } from '../util/assert.js';

export class MemoryDevice implements BlockDevice {
  readonly name: string;
  readonly blockCount: number;
  private data: Buffer | null;

  constructor(blockCount: number, name = 'memory') {
    if (!Number.isInteger(blockCount) || blockCount < 0) throw new RangeError(`MemoryDevice: bad block count ${blockCount}`);
    this.name = name;
    this.blockCount = blockCount;
    this.data = Buffer.alloc(blockCount * BLOCK_SIZE);
  }

  /** A device holding a copy of `image`, which must be a whole number of 4 KiB blocks. */
  static from(image: Uint8Array, name = 'memory'): MemoryDevice {
    if (image.length % BLOCK_SIZE !== 0) {
      throw new RangeError(`MemoryDevice.from: image of ${image.length} bytes is not a whole number of 4 KiB blocks`);
    }
    const dev = new MemoryDevice(image.length / BLOCK_SIZE, name);
    dev.bytes().set(image);
    return dev;
  }

  /** A copy of the whole contents. */
  image(): Buffer {
    return Buffer.from(this.bytes());
  }

  read(addr: number, count = 1): Buffer {
    request_check(this, addr, count);
    return Buffer.from(this.bytes().subarray(addr * BLOCK_SIZE, (addr + count) * BLOCK_SIZE));
  }

  write(addr: number, data: Uint8Array): void {
    // a length that is not a whole, non-zero number of blocks gives a fractional or zero count,
    // which request_check refuses
    request_check(this, addr, data.length / BLOCK_SIZE);
    this.bytes().set(data, addr * BLOCK_SIZE);
  }

  writev(addr: number, parts: readonly Uint8Array[]): void {
    let total = 0;
    for (const p of parts) total += p.length;
    request_check(this, addr, total / BLOCK_SIZE);
    const b = this.bytes();
    let at = addr * BLOCK_SIZE;
    for (const p of parts) { b.set(p, at); at += p.length; }
  }

  flush(): void {
    this.bytes();
  }

  discard(addr: number, count: number): void {
    this.bytes();
    request_check(this, addr, count);
  }

  close(): void {
    this.data = null;
  }

  private bytes(): Buffer {
    assert(this.data !== null, () => `${this.name}: used after close()`);
    return this.data;
  }
}
