// The BlockDevice contract every layer above is written against.
//
// Invariants:
// - I/O is in whole 4 KiB blocks addressed from 0; a request may span several consecutive blocks
//   and counts as ONE write request (wear tracking counts requests per block, as the kernel's
//   block_rq_issue tracer does).
// - Synchronous: a call returns when the bytes are handed to the backend. Nothing written is
//   durable until flush() returns (a power cut may lose, keep, reorder or tear unflushed writes).
// - Errors from the medium surface as FsError('EIO', ...) naming the block address.

import type { WriteTag } from './cause.js';

export const BLOCK_SIZE = 4096;
export const BLOCK_SHIFT = 12;

export interface BlockDevice {
  /** Number of 4 KiB blocks. */
  readonly blockCount: number;
  /** A human-readable name for messages ("/dev/loop0", "memory", ...). */
  readonly name: string;
  /** Reads `count` blocks starting at `addr` into a new buffer of count*4096 bytes. */
  read(addr: number, count?: number): Buffer;
  /**
   * Writes data (a whole number of blocks) at `addr` as one request. `tag` says why (cause.ts):
   * devices that count writes count it by cause; the others ignore it.
   */
  write(addr: number, data: Uint8Array, tag?: WriteTag): void;
  /**
   * Optional: writes the concatenation of `parts` (each a whole number of blocks) at `addr` as
   * ONE request, exactly as write() of the joined bytes would, without joining them in memory
   * (pages of the page cache written as one run). Callers go through device_writev().
   */
  writev?(addr: number, parts: readonly Uint8Array[], tag?: WriteTag): void;
  /** Makes every write issued so far durable (fdatasync for files and block devices). */
  flush(): void;
  /** Tells the medium the blocks no longer hold data (may be a no-op). */
  discard(addr: number, count: number): void;
  /**
   * Optional: whether discard() reaches the medium (a hole punched in an image file, BLKDISCARD
   * on a block device). Absent or false: discard does nothing, and FITRIM is refused.
   */
  readonly discards?: boolean;
  /** Releases the backend (file descriptor). The device must not be used afterwards. */
  close(): void;
}

/** Validates a request against a device; shared by every backend. */
export function request_check(dev: { blockCount: number; name: string }, addr: number, count: number): void {
  if (!Number.isInteger(addr) || !Number.isInteger(count) || count < 1 || addr < 0 || addr + count > dev.blockCount) {
    throw new RangeError(`${dev.name}: request [${addr}, +${count}) outside the device's ${dev.blockCount} blocks`);
  }
}

/** Writes `parts` at `addr` as one request: the device's writev when it has one, else one write
 *  of the joined bytes (a single part is written as it is). */
export function device_writev(dev: BlockDevice, addr: number, parts: readonly Uint8Array[], tag?: WriteTag): void {
  if (parts.length === 1) dev.write(addr, parts[0]!, tag);
  else if (dev.writev) dev.writev(addr, parts, tag);
  else dev.write(addr, Buffer.concat(parts), tag);
}

/**
 * A device that can also read without blocking (the mount reads the runs of several requests
 * in parallel while the engine goes on). `writeCount` counts completed write requests: a caller
 * that planned a read from block addresses checks that it did not change before trusting what
 * it read (a write may move or reuse a block).
 */
export interface AsyncReader {
  readonly writeCount: number;
  /** Reads `count` blocks from `addr` into `into` (count * 4096 bytes); cb(null) when done. */
  read_async(addr: number, count: number, into: Uint8Array, cb: (err: Error | null) => void): void;
}
