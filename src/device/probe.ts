// Recognises what a device already holds, from well-known signatures, so that mkfs does not
// overwrite a filesystem by accident and mount can say what it found instead of cowlog.

import type { BlockDevice } from './device.js';
import { BLOCK_SIZE } from './device.js';

export interface Signature {
  /** "ext4", "btrfs", "f2fs", "xfs", "cowlog", ... */
  fs: string;
  /** where the signature was found, for messages */
  where: string;
}

/** Reads the first 68 KiB (or less on a small device) and names the filesystem it holds. */
export function signature_probe(dev: BlockDevice): Signature | null {
  const blocks = Math.min(dev.blockCount, 17);
  if (blocks === 0) return null;
  const b = dev.read(0, blocks);
  const at = (off: number, len: number): Buffer | null => (off + len <= b.length ? b.subarray(off, off + len) : null);
  if (at(8, 8)?.toString('latin1') === 'COWLOGFS' || at(BLOCK_SIZE + 8, 8)?.toString('latin1') === 'COWLOGFS') return { fs: 'cowlog', where: 'block 0' };
  const ext = at(1080, 2);
  if (ext && ext.readUInt16LE(0) === 0xef53) {
    const compat = at(1024 + 0x5c, 4)?.readUInt32LE(0) ?? 0;
    const incompat = at(1024 + 0x60, 4)?.readUInt32LE(0) ?? 0;
    const fs = incompat & 0x40 || incompat & 0x80 ? 'ext4' : compat & 0x4 ? 'ext3' : 'ext2';
    return { fs, where: 'byte 1080' };
  }
  if (at(65536 + 64, 8)?.toString('latin1') === '_BHRfS_M') return { fs: 'btrfs', where: 'byte 65600' };
  const f2 = at(1024, 4);
  if (f2 && f2.readUInt32LE(0) === 0xf2f52010) return { fs: 'f2fs', where: 'byte 1024' };
  if (at(0, 4)?.toString('latin1') === 'XFSB') return { fs: 'xfs', where: 'byte 0' };
  if (at(4086, 10)?.toString('latin1') === 'SWAPSPACE2') return { fs: 'swap', where: 'byte 4086' };
  const mbr = at(510, 2);
  if (mbr && mbr[0] === 0x55 && mbr[1] === 0xaa && at(512, 8)?.toString('latin1') === 'EFI PART') return { fs: 'a GPT partition table', where: 'byte 512' };
  return null;
}
