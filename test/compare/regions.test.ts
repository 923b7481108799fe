import t from 'tap';
import { location_classify, regions_check } from '../../src/compare/regions.js';
import type { Layout } from '../../src/compare/regions.js';
import { btrfs_regions_parse, ext4_regions_parse, regions_merge } from '../../src/compare/layout.js';
import type { WearRecord } from '../../src/wear/wearfile.js';

const KiB = 1024;

/** A record of 16 blocks of 4 KiB with the given requests [offset, length]. */
function rec_of(reqs: Array<[number, number]>, truncated = false): WearRecord {
  const counts = new Uint32Array(16);
  for (const [o, l] of reqs) for (let b = Math.floor(o / 4096); b * 4096 < o + l; b++) counts[b]!++;
  return {
    meta: { fs: 'ext4', source: 'tracefs' }, blockSize: 4096, counts,
    bytes: BigInt(reqs.reduce((s, [, l]) => s + l, 0)), truncated,
    timeNs: BigUint64Array.from(reqs.map((_r, i) => BigInt(i))), offset: BigUint64Array.from(reqs.map(([o]) => BigInt(o))),
    length: Uint32Array.from(reqs.map(([, l]) => l)), flags: new Uint32Array(reqs.length),
  };
}

const layout: Layout = {
  source: 'test', rest: 'the rest',
  regions: [
    { name: 'sb', kind: 'superblock', from: 1 * KiB, to: 2 * KiB },
    { name: 'journal', kind: 'journal', from: 16 * KiB, to: 32 * KiB },
    { name: 'tables', kind: 'metadata', from: 8 * KiB, to: 12 * KiB },
  ],
};

t.test('each request is split by the regions it hits; bytes, requests and block writes sum exactly', async (t) => {
  const rec = rec_of([
    [1 * KiB, 1 * KiB], // the superblock, inside block 0
    [16 * KiB, 4 * KiB], // journal
    [12 * KiB, 8 * KiB], // 4 KiB of the rest (block 3), then 4 KiB of journal (block 4)
    [0, 4 * KiB], // block 0: 1 KiB rest, 1 KiB superblock, 2 KiB rest
    [40 * KiB, 8 * KiB], // the rest, two blocks
  ]);
  const b = location_classify(rec, layout);
  const by = Object.fromEntries(b.totals.map((x) => [x.name, x]));
  t.same(b.totals.map((x) => x.kind), ['superblock', 'journal', 'metadata', 'rest'], 'ordered by kind');
  t.match(by['sb'], { bytes: 2 * KiB, requests: 1, blocks: 1 });
  t.match(by['journal'], { bytes: 8 * KiB, requests: 1, blocks: 2 }, 'a request counts in the region of its first byte; a block in that of its first byte written');
  t.match(by['tables'], { bytes: 0, requests: 0, blocks: 0 });
  t.match(by['the rest'], { bytes: 4 * KiB + 3 * KiB + 8 * KiB, requests: 3, blocks: 1 + 1 + 2 });
  t.equal(b.totals.reduce((s, x) => s + x.bytes, 0), Number(rec.bytes), 'bytes sum to the host bytes');
  t.equal(b.totals.reduce((s, x) => s + x.requests, 0), rec.length.length, 'requests sum');
  t.equal(b.totals.reduce((s, x) => s + x.blocks, 0), rec.counts.reduce((s, c) => s + c, 0), 'block writes sum to the counts');
  t.equal(b.truncated, false);
  t.equal(location_classify(rec_of([[0, 4096]], true), layout).truncated, true, 'a truncated timeline is said so');
});

t.test('regions are checked and merged', async (t) => {
  t.throws(() => regions_check([{ name: 'a', kind: 'rest', from: 0, to: 8192 }, { name: 'b', kind: 'rest', from: 4096, to: 9000 }], 65536), /overlap/);
  t.same(regions_check([{ name: 'far', kind: 'superblock', from: 1 << 30, to: (1 << 30) + 4096 }], 65536), [], 'a region past the device is dropped');
  const m = regions_merge([
    { name: 'chunk', kind: 'rest', from: 0, to: 100 },
    { name: 'sb', kind: 'superblock', from: 40, to: 50 },
    { name: 'chunk', kind: 'rest', from: 100, to: 120 },
  ]);
  t.same(m.map((r) => [r.name, r.from, r.to]), [['chunk', 0, 40], ['sb', 40, 50], ['chunk', 50, 120]], 'the smaller region inside wins; neighbours of a name join');
});

t.test('ext4: superblocks, bitmaps, inode tables and the journal from dumpe2fs and debugfs', async (t) => {
  const dumpe2fs = [
    'Block size:               1024',
    'Group 0: (Blocks 1-8192) csum 0x415a [ITABLE_ZEROED]',
    '  Primary superblock at 1, Group descriptors at 2-2',
    '  Reserved GDT blocks at 3-258',
    '  Block bitmap at 259 (+258), csum 0x7f9bc20b',
    '  Inode bitmap at 267 (+266), csum 0x0004bec5',
    '  Inode table at 275-786 (+274)',
    'Group 1: (Blocks 8193-16384) csum 0x30c3 [INODE_UNINIT, BLOCK_UNINIT, ITABLE_ZEROED]',
    '  Backup superblock at 8193, Group descriptors at 8194-8194',
    '  Block bitmap at 260 (bg #0 + 259), csum 0x00000000',
  ].join('\n');
  const l = ext4_regions_parse(dumpe2fs, 'EXTENTS:\n(0-4095):16385-20480\n');
  const find = (name: string): Array<[number, number]> => l.regions.filter((r) => r.name === name).map((r) => [r.from, r.to]);
  t.same(find('ext4 superblocks and group descriptors'), [[1024, 3072], [8193 * 1024, 8195 * 1024]]);
  t.same(find('ext4 block and inode bitmaps'), [[259 * 1024, 261 * 1024], [267 * 1024, 268 * 1024]], 'bitmaps, adjacent ones joined');
  t.same(find('ext4 inode tables'), [[275 * 1024, 787 * 1024]]);
  t.same(find('ext4 journal superblock (jbd2)'), [[16385 * 1024, 16386 * 1024]], 'the journal\'s first block');
  t.same(find('ext4 journal (jbd2 log)'), [[16386 * 1024, 20481 * 1024]]);
  t.equal(l.regions.find((r) => r.name.startsWith('ext4 journal'))!.kind, 'journal');
  t.throws(() => ext4_regions_parse('no size here', ''), /block size/);
});

t.test('btrfs: the superblock, the system chunk and the mixed block groups from the chunk tree', async (t) => {
  const dump = `chunk tree
	item 0 key (DEV_ITEMS DEV_ITEM 1) itemoff 3897 itemsize 98
		devid 1 total_bytes 67108864 bytes_used 10878976
	item 1 key (FIRST_CHUNK_TREE CHUNK_ITEM 1048576) itemoff 3817 itemsize 80
		length 4194304 owner 2 stripe_len 65536 type SYSTEM|DUP
		num_stripes 2 sub_stripes 0
			stripe 0 devid 1 offset 1048576
			stripe 1 devid 1 offset 5242880
	item 2 key (FIRST_CHUNK_TREE CHUNK_ITEM 5242880) itemoff 3737 itemsize 80
		length 6684672 owner 2 stripe_len 65536 type DATA|METADATA|single
			stripe 0 devid 1 offset 9437184
`;
  const l = btrfs_regions_parse(dump);
  const inDevice = regions_check(l.regions, 64 * 1024 * 1024);
  t.same(inDevice.map((r) => [r.name, r.kind, r.from, r.to]), [
    ['btrfs superblock', 'superblock', 65536, 69632],
    ['btrfs system chunk (chunk tree)', 'metadata', 1048576, 9437184],
    ['btrfs mixed block groups (trees and data together)', 'rest', 9437184, 9437184 + 6684672],
  ], 'both stripes of the DUP system chunk (joined: they touch), the mixed chunk; the mirror at 64 MiB lies past the device');
});
