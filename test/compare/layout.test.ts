import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { btrfs_block_what, ext4_block_what, f2fs_block_what, f2fs_layout, f2fs_regions } from '../../src/compare/layout.js';
import { tool_exists } from '../../src/compare/sys.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cowlog-layout-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
function image(name: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, '');
  fs.truncateSync(p, 64 * 1024 * 1024);
  return p;
}

t.test('ext4: superblock, journal superblock and journal blocks are told apart', { skip: tool_exists('mkfs.ext4') && tool_exists('debugfs') ? false : 'e2fsprogs is not installed' }, async (t) => {
  const img = image('ext4.img');
  execFileSync('mkfs.ext4', ['-F', '-q', img]);
  t.equal(await ext4_block_what(img, 0), 'ext4 superblock (block 0)');
  const stat = execFileSync('debugfs', ['-R', 'stat <8>', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const bs = Number(/Block size:\s+(\d+)/.exec(execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);
  const first = Number(/\(0(?:-\d+)?\):(\d+)/.exec(stat)![1]);
  const jblock = Math.floor((first * bs) / 4096); // the 4 KiB block holding the journal's first block
  t.equal(await ext4_block_what(img, jblock), 'ext4 journal superblock (jbd2)');
  t.match(await ext4_block_what(img, jblock + 1), /^ext4 journal \(jbd2 log/);
});

t.test('btrfs: the superblock at 64 KiB', async (t) => {
  t.equal(btrfs_block_what(16), 'btrfs superblock (64 KiB)');
  t.match(btrfs_block_what(17), /tree or data/);
});

t.test('f2fs: areas from the superblock, in order, covering the device', { skip: tool_exists('mkfs.f2fs') ? false : 'f2fs-tools is not installed' }, async (t) => {
  const img = image('f2fs.img');
  execFileSync('mkfs.f2fs', ['-f', '-q', img]);
  const areas = f2fs_layout(img)!;
  t.ok(areas, 'superblock found');
  t.equal(areas[0]!.from, 0);
  for (let i = 1; i < areas.length; i++) t.equal(areas[i]!.from, areas[i - 1]!.to + 1, `${areas[i]!.name} follows ${areas[i - 1]!.name}`);
  t.equal(areas[areas.length - 1]!.to, 16383, 'the main area ends at the last block');
  t.equal(f2fs_block_what(img, 0), 'f2fs superblocks');
  t.equal(f2fs_block_what(img, areas[1]!.from), 'f2fs checkpoint area');
  t.equal(f2fs_block_what(image('blank.img'), 0), 'unknown (no f2fs superblock found)');
  const regions = f2fs_regions(img)!.regions;
  t.same(regions.map((r) => r.kind), ['superblock', 'metadata', 'metadata', 'metadata', 'metadata', 'rest'], 'superblocks, checkpoint/SIT/NAT/SSA, the main area');
  t.equal(regions[1]!.from, areas[1]!.from * 4096, 'in bytes');
  t.equal(f2fs_regions(image('blank2.img')), undefined, 'no superblock: no layout');
});
