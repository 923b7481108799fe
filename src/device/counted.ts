// CountedDevice: the engine's own count of what it writes, by cause (cause.ts) — requests and
// blocks per Cause, and checkpoints per Trigger — kept in every checkpoint header so that
// `cowlog info` can say, for the life of a filesystem, why its blocks were written. It forwards
// everything to the device it wraps; unlike WearTracker it keeps no per-block counts and no
// timeline, so it costs a few additions per request.
//
// Invariants: a request is counted once it returned from the device below (a refused one moved
// nothing); every counted request is under exactly one cause; a write tagged Cause.CHECKPOINT
// with a detail also counts that Trigger.

import type { BlockDevice } from './device.js';
import { BLOCK_SIZE, device_writev } from './device.js';
import { Cause, CAUSE_COUNT, TRIGGER_COUNT } from './cause.js';
import type { WriteTag } from './cause.js';

/** Write counts by cause and checkpoints by trigger, since mkfs. */
export interface WriteCounts {
  blocks: number[];
  requests: number[];
  checkpoints: number[];
}

export function write_counts_zero(): WriteCounts {
  return { blocks: new Array<number>(CAUSE_COUNT).fill(0), requests: new Array<number>(CAUSE_COUNT).fill(0), checkpoints: new Array<number>(TRIGGER_COUNT).fill(0) };
}

export class CountedDevice implements BlockDevice {
  readonly name: string;
  readonly blockCount: number;

  /**
   * Told of every write once it returned, with its tag and length (a mount attributing device
   * bytes to files and processes); null when nobody listens.
   */
  listener: ((tag: WriteTag | undefined, bytes: number) => void) | null = null;

  constructor(readonly inner: BlockDevice, readonly counts: WriteCounts = write_counts_zero()) {
    this.name = inner.name;
    this.blockCount = inner.blockCount;
  }

  read(addr: number, count?: number): Buffer {
    return this.inner.read(addr, count);
  }

  write(addr: number, data: Uint8Array, tag?: WriteTag): void {
    this.inner.write(addr, data, tag);
    this.count(data.length, tag);
  }

  writev(addr: number, parts: readonly Uint8Array[], tag?: WriteTag): void {
    device_writev(this.inner, addr, parts, tag);
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    this.count(bytes, tag);
  }

  private count(bytes: number, tag: WriteTag | undefined): void {
    const c = tag?.cause ?? Cause.UNKNOWN;
    this.counts.blocks[c]! += bytes / BLOCK_SIZE;
    this.counts.requests[c]!++;
    if (c === Cause.CHECKPOINT && tag?.detail !== undefined) this.counts.checkpoints[tag.detail]!++;
    this.listener?.(tag, bytes);
  }

  flush(): void {
    this.inner.flush();
  }

  discard(addr: number, count: number): void {
    this.inner.discard(addr, count);
  }

  get discards(): boolean {
    return this.inner.discards === true;
  }

  close(): void {
    this.inner.close();
  }
}
