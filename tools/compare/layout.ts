// What a block of a formatted device holds, for the report's "hottest block" column. Read after
// the run from the filesystem's own tools or superblock; a guess is never reported as a fact
// ("unknown" when the layout can not be told).

import fs from 'node:fs';
import { run } from './sys.js';

const BLOCK = 4096;

/** Describes 4 KiB block `block` of an ext2/3/4 device, from dumpe2fs and debugfs. */
export async function ext4_block_what(device: string, block: number): Promise<string> {
  const { stdout } = await run('dumpe2fs', [device]);
  const bs = Number(/^Block size:\s+(\d+)/m.exec(stdout)?.[1] ?? 4096);
  const first = (block * BLOCK) / bs, last = ((block + 1) * BLOCK) / bs - 1; // fs blocks inside it
  const hit = (a: number, b: number): boolean => a <= last && b >= first;
  if (block === 0) return 'ext4 superblock (block 0)';
  let journal = '';
  try {
    journal = (await run('debugfs', ['-R', 'stat <8>', device])).stdout;
  } catch { /* no journal */ }
  const ext = /\((\d+)(?:-(\d+))?\):(\d+)(?:-(\d+))?/g;
  for (let m; (m = ext.exec(journal));) {
    const lb = Number(m[1]), pa = Number(m[3]), pb = Number(m[4] ?? m[3]);
    if (hit(pa, pb)) {
      const logical = lb + Math.max(0, first - pa);
      return logical === 0 ? 'ext4 journal superblock (jbd2)' : `ext4 journal (jbd2 log, journal block ${logical})`;
    }
  }
  const rules: Array<[RegExp, string]> = [
    [/Primary superblock at (\d+), Group descriptors at (\d+)-(\d+)/g, 'ext4 superblock and group descriptors'],
    [/Reserved GDT blocks at (\d+)-(\d+)/g, 'ext4 reserved GDT blocks'],
    [/Block bitmap at (\d+)/g, 'ext4 block bitmap'],
    [/Inode bitmap at (\d+)/g, 'ext4 inode bitmap'],
    [/Inode table at (\d+)-(\d+)/g, 'ext4 inode table'],
  ];
  for (const [re, what] of rules) {
    for (let m; (m = re.exec(stdout));) {
      const nums = m.slice(1).map(Number);
      if (hit(Math.min(...nums), Math.max(...nums))) return what;
    }
  }
  return 'ext4 data or directory block';
}

/** btrfs keeps its superblock at 64 KiB (mirrors at 64 MiB and 256 GiB, past a small device). */
export function btrfs_block_what(block: number): string {
  if (block === 65536 / BLOCK) return 'btrfs superblock (64 KiB)';
  if (block === (64 * 1024 * 1024) / BLOCK) return 'btrfs superblock mirror (64 MiB)';
  return 'btrfs tree or data block (mixed block groups)';
}

/** f2fs's areas from its superblock (struct f2fs_super_block at byte 1024). */
export function f2fs_layout(image: string): Array<{ name: string; from: number; to: number }> | undefined {
  const fd = fs.openSync(image, 'r');
  const b = Buffer.alloc(1024);
  try { fs.readSync(fd, b, 0, 1024, 1024); } finally { fs.closeSync(fd); }
  if (b.readUInt32LE(0) !== 0xf2f52010) return undefined;
  const cp = b.readUInt32LE(76), sit = b.readUInt32LE(80), nat = b.readUInt32LE(84), ssa = b.readUInt32LE(88), main = b.readUInt32LE(92);
  const blockCount = Number(b.readBigUInt64LE(36));
  return [
    { name: 'f2fs superblocks', from: 0, to: cp - 1 },
    { name: 'f2fs checkpoint area', from: cp, to: sit - 1 },
    { name: 'f2fs segment information table (SIT)', from: sit, to: nat - 1 },
    { name: 'f2fs node address table (NAT)', from: nat, to: ssa - 1 },
    { name: 'f2fs segment summary area (SSA)', from: ssa, to: main - 1 },
    { name: 'f2fs main area (data and node blocks)', from: main, to: blockCount - 1 },
  ];
}

export function f2fs_block_what(image: string, block: number): string {
  const areas = f2fs_layout(image);
  if (!areas) return 'unknown (no f2fs superblock found)';
  return areas.find((a) => block >= a.from && block <= a.to)?.name ?? 'past the f2fs main area';
}
