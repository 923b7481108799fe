// Helpers for engine tests: small filesystems on memory devices, and the fsck every engine test
// ends with.

import type { Test } from 'tap';
import { MemoryDevice } from '../../src/device/memory.js';
import type { BlockDevice } from '../../src/device/device.js';
import { FileSystem } from '../../src/fs/fs.js';
import type { FsOptions, MkfsFsOptions } from '../../src/fs/fs.js';
import { clock_fixed } from '../../src/checkpoint/clock.js';
import { fsck } from '../../src/fsck/fsck.js';
import { FsError } from '../../src/util/errors.js';

export const UUID = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

/** Small segments and fanout 4 so that splits, merges, cleaning and roll-forward happen often. */
export const SMALL: MkfsFsOptions = { segBlocks: 8, fanout: 4, uuid: UUID };

export function mkfs_mem(blocks: number, o: MkfsFsOptions = SMALL): MemoryDevice {
  const dev = new MemoryDevice(blocks);
  FileSystem.mkfs(dev, { clock: clock_fixed(), ...o });
  return dev;
}

export function mount(dev: BlockDevice, o: FsOptions = {}): FileSystem {
  return FileSystem.mount(dev, { clock: clock_fixed(1_700_000_100), ...o });
}

/** Runs fsck (read-only, data CRCs checked) and fails the test on any error. */
export function fsck_ok(t: Test, dev: BlockDevice, what = 'fsck'): void {
  const r = fsck(dev, { readOnly: true, data: true });
  t.same(r.errors, [], `${what}: clean (${r.counts.inodes} inodes, ${r.counts.nodes} nodes, ${r.counts.dataBlocks} data blocks)`);
}

/** The errno name an engine call fails with ('success' when it does not fail). */
export function errno_of(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof FsError) return e.code;
    throw e;
  }
  return 'success';
}
