// A sparse in-memory block device for tests of large geometries (up to 16 TiB): blocks never
// written read as zeros and take no memory; reads are counted, so a test can see how much of
// the device an operation looks at.

import { BLOCK_SIZE, request_check } from '../../src/device/device.js';
import type { BlockDevice } from '../../src/device/device.js';

export class SparseDevice implements BlockDevice {
  readonly name: string;
  readonly blockCount: number;
  private readonly blocks = new Map<number, Buffer>();
  /** read requests and blocks read since the last reset */
  reads = 0;
  blocksRead = 0;

  constructor(blockCount: number, name = 'sparse') {
    this.blockCount = blockCount;
    this.name = name;
  }

  read(addr: number, count = 1): Buffer {
    request_check(this, addr, count);
    this.reads++;
    this.blocksRead += count;
    const out = Buffer.alloc(count * BLOCK_SIZE);
    for (let i = 0; i < count; i++) this.blocks.get(addr + i)?.copy(out, i * BLOCK_SIZE);
    return out;
  }

  write(addr: number, data: Uint8Array): void {
    request_check(this, addr, data.length / BLOCK_SIZE);
    for (let i = 0; i < data.length / BLOCK_SIZE; i++) this.blocks.set(addr + i, Buffer.from(data.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE)));
  }

  flush(): void {}
  discard(): void {}
  close(): void {}

  /** Blocks ever written (what the device holds). */
  get written(): number {
    return this.blocks.size;
  }
}
