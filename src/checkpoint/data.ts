// Data blocks in the log: writing file blocks (as few requests as their runs of addresses allow)
// and reading them back checked against the CRC32C their map slot records.
//
// Invariants: every block written is exactly BLOCK_SIZE bytes and goes to an address the log
// handed out; a block read is returned only when its CRC32C matches (EIO naming the block
// otherwise), and an address outside the log is corruption of the map that names it.

import { BLOCK_SIZE, device_writev } from '../device/device.js';
import type { BlockDevice } from '../device/device.js';
import type { WriteTag } from '../device/cause.js';
import { addr_in_main } from '../format/geometry.js';
import type { Geometry } from '../format/geometry.js';
import type { Head, SegLog } from '../log/segments.js';
import { assert } from '../util/assert.js';
import { crc32c } from '../util/crc32c.js';
import { CorruptError, FsError } from '../util/errors.js';

/**
 * Blocks as few pieces as possible: consecutive blocks that are also adjacent in memory (pages of
 * one page-cache slab) become one view, so a run of the log goes out as one request of a few
 * large parts and nothing is copied.
 */
function blocks_coalesce(blocks: readonly Buffer[], from: number, count: number): Buffer[] {
  const parts: Buffer[] = [];
  let start = blocks[from]!;
  let len = BLOCK_SIZE;
  for (let j = from + 1; j < from + count; j++) {
    const b = blocks[j]!;
    if (b.buffer === start.buffer && b.byteOffset === start.byteOffset + len) { len += BLOCK_SIZE; continue; }
    parts.push(len === start.length ? start : Buffer.from(start.buffer, start.byteOffset, len));
    start = b;
    len = BLOCK_SIZE;
  }
  parts.push(len === start.length ? start : Buffer.from(start.buffer, start.byteOffset, len));
  return parts;
}

/**
 * Writes data blocks to the log head `head` (consecutive addresses go out as one request) and
 * returns where each went and its CRC32C. The caller records them in MAP records.
 */
export function data_write(dev: BlockDevice, log: SegLog, head: Head, blocks: Buffer[], tag: WriteTag): { addr: number; csum: number }[] {
  const out: { addr: number; csum: number }[] = [];
  let k = 0;
  for (const run of log.alloc_runs(head, blocks.length)) {
    for (let j = 0; j < run.count; j++) {
      const b = blocks[k + j]!;
      assert(b.length === BLOCK_SIZE, () => `data block of ${b.length} bytes`);
      out.push({ addr: run.addr + j, csum: crc32c(b) });
    }
    device_writev(dev, run.addr, blocks_coalesce(blocks, k, run.count), tag);
    k += run.count;
  }
  return out;
}

/**
 * Reads `count` data blocks at consecutive addresses from `addr` in one request and checks
 * block j against csums[at + j]; they are blocks idx .. idx + count - 1 of inode `ino` (for
 * the messages).
 */
export function data_read_run(dev: BlockDevice, g: Geometry, addr: number, count: number, csums: ArrayLike<number>, at: number, ino: number, idx: number): Buffer {
  if (!addr_in_main(g, addr) || !addr_in_main(g, addr + count - 1)) {
    throw new CorruptError('data', addr, count === 1
      ? `inode ${ino} block ${idx} maps to an address outside the log`
      : `inode ${ino} blocks ${idx}..${idx + count - 1} map to addresses outside the log`);
  }
  const b = dev.read(addr, count);
  for (let j = 0; j < count; j++) {
    if (crc32c(b, j * BLOCK_SIZE, (j + 1) * BLOCK_SIZE) !== csums[at + j]) {
      throw new FsError('EIO', `data block at address ${addr + j} (inode ${ino}, file block ${idx + j}) fails its CRC32C check`);
    }
  }
  return b;
}
