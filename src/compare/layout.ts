// What a block of a formatted device holds, for the report's "hottest block" column, and the
// whole layout as regions (superblocks, journal, metadata areas, the rest) for splitting a run's
// writes by location (regions.ts). Read after the run from the filesystem's own tools or
// superblock; a guess is never reported as a fact ("unknown", or no layout, when it can not be
// told).

import fs from 'node:fs';
import { run } from './sys.js';
import type { Layout, Region, RegionKind } from './regions.js';

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

// ---- regions: the whole layout, for splitting a run's writes by location (regions.ts) ----

/** ext4's regions from `dumpe2fs DEV` and `debugfs -R 'stat <8>' DEV` (the journal inode). */
export function ext4_regions_parse(dumpe2fs: string, journalStat: string): Layout {
  const bs = Number(/^Block size:\s+(\d+)/m.exec(dumpe2fs)?.[1] ?? NaN);
  if (!(bs > 0)) throw new Error('dumpe2fs output without a block size');
  const regions: Region[] = [];
  const add = (name: string, kind: RegionKind, a: number, b: number): void => { regions.push({ name, kind, from: a * bs, to: (b + 1) * bs }); };
  const rules: Array<[RegExp, string, RegionKind]> = [
    [/(?:Primary|Backup) superblock at (\d+)()/g, 'ext4 superblocks and group descriptors', 'superblock'],
    [/Group descriptors at (\d+)-(\d+)/g, 'ext4 superblocks and group descriptors', 'superblock'],
    [/Reserved GDT blocks at (\d+)-(\d+)/g, 'ext4 reserved GDT blocks', 'superblock'],
    [/Block bitmap at (\d+)()/g, 'ext4 block and inode bitmaps', 'metadata'],
    [/Inode bitmap at (\d+)()/g, 'ext4 block and inode bitmaps', 'metadata'],
    [/Inode table at (\d+)-(\d+)/g, 'ext4 inode tables', 'metadata'],
  ];
  for (const [re, name, kind] of rules) {
    for (let m; (m = re.exec(dumpe2fs));) add(name, kind, Number(m[1]), Number(m[2] || m[1]));
  }
  const ext = /\((\d+)(?:-(\d+))?\):(\d+)(?:-(\d+))?/g;
  for (let m; (m = ext.exec(journalStat));) {
    const lb = Number(m[1]), pa = Number(m[3]), pb = Number(m[4] ?? m[3]);
    if (lb === 0) {
      add('ext4 journal superblock (jbd2)', 'journal', pa, pa);
      if (pb > pa) add('ext4 journal (jbd2 log)', 'journal', pa + 1, pb);
    } else {
      add('ext4 journal (jbd2 log)', 'journal', pa, pb);
    }
  }
  return { source: "dumpe2fs and the journal inode's extents", rest: 'ext4 data, directories and extent blocks (the rest)', regions: regions_merge(regions) };
}

/** btrfs's regions: the superblock copies at their fixed offsets and the chunks of
 *  `btrfs inspect-internal dump-tree -t chunk DEV` by type (SYSTEM: the chunk tree). */
export function btrfs_regions_parse(chunkDump: string): Layout {
  const regions: Region[] = [];
  for (const at of [64 * 1024, 64 * 1024 * 1024, 256 * 1024 * 1024 * 1024]) regions.push({ name: 'btrfs superblock', kind: 'superblock', from: at, to: at + BLOCK });
  // an item: "length L owner 2 stripe_len S type T|PROFILE", then "stripe K devid D offset P" lines
  const items = chunkDump.split(/\n\s*item \d+ key /).slice(1);
  for (const it of items) {
    const head = /length (\d+) owner \d+ stripe_len \d+ type ([A-Z|0-9_]+)/.exec(it);
    if (!head) continue;
    const len = Number(head[1]);
    const types = head[2]!.split('|');
    const [name, kind]: [string, RegionKind] = types.includes('SYSTEM') ? ['btrfs system chunk (chunk tree)', 'metadata']
      : types.includes('DATA') && types.includes('METADATA') ? ['btrfs mixed block groups (trees and data together)', 'rest']
        : types.includes('METADATA') ? ['btrfs metadata block groups (trees)', 'metadata']
          : ['btrfs data block groups', 'rest'];
    for (let m, re = /stripe \d+ devid \d+ offset (\d+)/g; (m = re.exec(it));) regions.push({ name, kind, from: Number(m[1]), to: Number(m[1]) + len });
  }
  // the superblock at 64 KiB lies inside no chunk; a chunk that covers a copy yields to it
  return { source: 'the superblock offsets and the chunk tree', rest: 'btrfs space in no chunk', regions: regions_merge(regions) };
}

/** f2fs's areas from its superblock. */
export function f2fs_regions(image: string): Layout | undefined {
  const areas = f2fs_layout(image);
  if (!areas) return undefined;
  const kind = (name: string): RegionKind => (/superblocks/.test(name) ? 'superblock' : /main area/.test(name) ? 'rest' : 'metadata');
  return {
    source: "the superblock's area boundaries",
    rest: 'past the f2fs main area',
    regions: areas.filter((a) => a.to >= a.from).map((a) => ({ name: a.name, kind: kind(a.name), from: a.from * BLOCK, to: (a.to + 1) * BLOCK })),
  };
}

/** Sorts regions and resolves overlaps: a byte claimed twice keeps the region that starts
 *  later (the smaller, more specific one: a superblock inside a chunk, a journal block inside a
 *  range); adjacent regions of the same name become one. */
export function regions_merge(regions: readonly Region[]): Region[] {
  const sorted = [...regions].sort((a, b) => a.from - b.from || b.to - a.to);
  const out: Region[] = [];
  for (const r of sorted) {
    const cut: Region[] = [];
    for (const o of out.splice(0)) {
      if (o.to <= r.from || o.from >= r.to) { cut.push(o); continue; }
      if (o.from < r.from) cut.push({ ...o, to: r.from });
      if (o.to > r.to) cut.push({ ...o, from: r.to });
    }
    cut.push({ ...r });
    cut.sort((a, b) => a.from - b.from);
    out.push(...cut);
  }
  const merged: Region[] = [];
  for (const r of out) {
    const last = merged[merged.length - 1];
    if (last && last.name === r.name && last.to === r.from) last.to = r.to; else merged.push(r);
  }
  return merged;
}

/** The layout of a formatted device, read after the run (undefined when it can not be told). */
export async function layout_read(fsName: string, device: string, image?: string): Promise<Layout | undefined> {
  try {
    if (fsName === 'ext4' || fsName === 'ext3' || fsName === 'ext2') {
      const d = (await run('dumpe2fs', [device])).stdout;
      let j = '';
      try { j = (await run('debugfs', ['-R', 'stat <8>', device])).stdout; } catch { /* no journal */ }
      return ext4_regions_parse(d, j);
    }
    if (fsName === 'btrfs') return btrfs_regions_parse((await run('btrfs', ['inspect-internal', 'dump-tree', '-t', 'chunk', device])).stdout);
    if (fsName === 'f2fs') return f2fs_regions(image ?? device);
  } catch { /* the layout tools failed: no breakdown rather than a guess */ }
  return undefined;
}
