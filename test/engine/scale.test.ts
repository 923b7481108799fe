// Large devices, tried as a new user would: 1 TiB on a sparse image file, 16 TiB (the largest
// cowlog addresses) on a sparse device, 2 MiB segments; every run ends with fsck. And the cost
// of one operation, counted (blocks read, segment entries looked at, index steps, table pages
// and nodes read) on a 256 MiB and a 1 TiB geometry: it must not grow with the device.

import t from 'tap';
import type * as Tap from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { device_open } from '../../src/device/file.js';
import { BLOCK_SIZE } from '../../src/device/device.js';
import type { BlockDevice } from '../../src/device/device.js';
import { FileSystem } from '../../src/fs/fs.js';
import { fsck } from '../../src/fsck/fsck.js';
import { clock_fixed } from '../../src/checkpoint/clock.js';
import { geometry_for } from '../../src/checkpoint/mkfs.js';
import { sb_decode } from '../../src/format/superblock.js';
import { SparseDevice } from '../helpers/sparse.js';
import { content } from '../helpers/model.js';

const TiB = 2 ** 40;
const UUID = Buffer.from('5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e', 'hex');

function fsck_clean(t: Tap.Test, dev: BlockDevice, what: string): void {
  const r = fsck(dev, { readOnly: true, data: true });
  t.same(r.errors, [], `${what}: fsck clean (${r.counts.inodes} inodes, ${r.counts.dataBlocks} data blocks, ${r.counts.tableBlocks} table blocks; ${(r.memoryBytes / 1024).toFixed(0)} KiB of recounts)`);
}

/** A few directories of small and large files; returns what each path should hold. */
function populate(f: FileSystem, seed: number, files = 120): Map<string, Buffer> {
  const want = new Map<string, Buffer>();
  for (let d = 0; d < 3; d++) {
    const dir = f.mkdir(1, `d${seed}-${d}`, 0o755);
    for (let i = 0; i < files / 3; i++) {
      const data = content(seed * 1000 + d * 100 + i, i % 7 === 0 ? 70_000 : 100 + (i * 611) % 9000);
      const ino = f.create(dir.ino, `f${i}`, 0o644).ino;
      f.write(ino, 0, data);
      if (i % 10 === 0) f.fsync(ino);
      want.set(`/d${seed}-${d}/f${i}`, data);
    }
  }
  return want;
}

function verify(t: Tap.Test, f: FileSystem, want: Map<string, Buffer>, what: string): void {
  let bad = 0;
  for (const [p, data] of want) {
    const ino = f.resolve(p);
    if (!f.read(ino, 0, data.length + 10).equals(data)) bad++;
  }
  t.equal(bad, 0, `${what}: ${want.size} files read back`);
}

t.test('1 TiB on a sparse image file: mkfs, files, a crash and roll-forward, remount, fsck', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cowlog-scale-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const img = path.join(dir, 'tib.img');
  fs.closeSync(fs.openSync(img, 'w'));
  fs.truncateSync(img, TiB);
  let dev = device_open(img);
  t.equal(dev.blockCount, TiB / BLOCK_SIZE, 'a 1 TiB device');
  const sb = FileSystem.mkfs(dev, { uuid: UUID, clock: clock_fixed() });
  t.equal(sb.geometry.segBlocks, 512, 'segments of 2 MiB');
  t.equal(sb.geometry.segCount, 524287, `${sb.geometry.segCount} segments`);
  let f = FileSystem.mount(dev, { clock: clock_fixed(1_700_000_100) });
  const want = populate(f, 1);
  f.sync();
  const big = content(77, 48 << 20);
  const bigIno = f.create(1, 'big', 0o644).ino;
  f.write(bigIno, 0, big);
  f.fsync(bigIno);
  want.set('/big', big);
  // a power cut: nothing after the last fsync is promised, and the device is dropped as it is
  f.vol.abandon();
  dev.close();
  dev = device_open(img);
  f = FileSystem.mount(dev, { clock: clock_fixed(1_700_000_200) });
  t.ok(f.vol.mount.groups > 0, `roll-forward applied ${f.vol.mount.groups} fsync groups`);
  t.equal(f.read(bigIno, 0, big.length).equals(big), true, 'the fsync\'d 48 MiB file is whole');
  f.sync();
  for (const [p, data] of populate(f, 2)) want.set(p, data);
  f.unmount();
  dev.close();
  dev = device_open(img);
  f = FileSystem.mount(dev, { clock: clock_fixed(1_700_000_300) });
  verify(t, f, want, 'after remount');
  const st = f.statfs();
  t.ok(st.blocks * BLOCK_SIZE > 0.98 * TiB, `df shows ${(st.blocks * BLOCK_SIZE / TiB).toFixed(3)} TiB`);
  t.ok(f.vol.tabs.metaBlocks < 20_000, `${f.vol.tabs.metaBlocks} table blocks on the device (of ${f.vol.g.tableBlocks} the geometry reserves)`);
  t.ok(f.vol.tabs.cache.size <= f.vol.tabs.cache.budgetPages + f.vol.tabs.dirty_pages(), `table pages in memory ${f.vol.tabs.cache.size}, within the budget of ${f.vol.tabs.cache.budgetPages}`);
  t.same(f.vol.log.check(), [], 'segment counters agree with a scan');
  f.unmount();
  const used = fs.statSync(img).blocks * 512;
  t.ok(used < 200 << 20, `the image holds ${(used / 2 ** 20).toFixed(1)} MiB`);
  fsck_clean(t, dev, '1 TiB');
  dev.close();
});

t.test('16 TiB, the largest: 2^32 blocks, the block count past 32 bits, files and fsck; more is refused in one line', async (t) => {
  const blocks = 2 ** 32;
  const dev = new SparseDevice(blocks);
  const sb = FileSystem.mkfs(dev, { uuid: UUID, clock: clock_fixed() });
  t.equal(sb.geometry.blockCount, blocks, 'every block');
  t.equal(sb.geometry.dirBlocks, 31, '31 top directory blocks list the table directory');
  t.equal(sb_decode(dev.read(0), 0).geometry.blockCount, blocks, 'the superblock reads back 2^32');
  t.equal(dev.read(0).readUInt32LE(60), 1, 'block_count_hi = 1');
  let f = FileSystem.mount(dev, { clock: clock_fixed(1_700_000_100) });
  const want = populate(f, 3, 60);
  f.unmount();
  f = FileSystem.mount(dev, { clock: clock_fixed(1_700_000_200) });
  verify(t, f, want, '16 TiB after remount');
  f.unmount();
  t.ok(dev.written < 20_000, `the device holds ${dev.written} blocks`);
  fsck_clean(t, dev, '16 TiB');
  t.throws(() => FileSystem.mkfs(new SparseDevice(blocks + 1), {}), /device of 4294967297 blocks: cowlog addresses at most 4294967296 blocks \(16 TiB\)/, 'one block more: refused');
  t.throws(() => geometry_for(2 ** 33), /at most 4294967296 blocks/, 'and 32 TiB');
});

interface Work {
  blocksRead: number;
  entries: number;
  steps: number;
  refreshes: number;
  pageLoads: number;
  nodeLoads: number;
}

/**
 * The work of a fixed sequence of operations (creates with data and fsync, a rename, unlinks,
 * sync) on a filesystem of `blocks` blocks, after the same warm-up. Segments of 512 blocks (the
 * default from 1 GiB up), so that the sequence opens as many segments on each size.
 */
function work_of(blocks: number): Work {
  const dev = new SparseDevice(blocks);
  FileSystem.mkfs(dev, { uuid: UUID, clock: clock_fixed(), segBlocks: 512 });
  const f = FileSystem.mount(dev, { clock: clock_fixed(1_700_000_100) });
  const d = f.mkdir(1, 'warm', 0o755).ino;
  for (let i = 0; i < 300; i++) f.write(f.create(d, `w${i}`, 0o644).ino, 0, content(i, 8192));
  f.sync();
  const v = f.vol;
  const w0 = { ...v.log.index.work };
  const loads0 = v.tabs.cache.loads;
  const nodes0 = v.nodes.loads;
  dev.blocksRead = 0;
  for (let i = 0; i < 60; i++) {
    const ino = f.create(d, `n${i}`, 0o644).ino;
    f.write(ino, 0, content(1000 + i, 192 << 10));
    f.fsync(ino);
    if (i % 4 === 0) f.unlink(d, `w${i}`);
    if (i % 10 === 0) f.rename(d, `n${i}`, 1, `moved${i}`);
  }
  f.sync();
  const w = v.log.index.work;
  const out = {
    blocksRead: dev.blocksRead, entries: w.entries - w0.entries, steps: w.steps - w0.steps, refreshes: w.refreshes - w0.refreshes,
    pageLoads: v.tabs.cache.loads - loads0, nodeLoads: v.nodes.loads - nodes0,
  };
  f.unmount();
  return out;
}

t.test('the work of an operation does not grow with the device: 8 GiB against 1 TiB', async (t) => {
  const small = work_of(2 ** 21);
  const large = work_of(TiB / BLOCK_SIZE);
  t.comment(`8 GiB: ${JSON.stringify(small)}`);
  t.comment(`1 TiB:   ${JSON.stringify(large)}`);
  for (const k of Object.keys(small) as (keyof Work)[]) {
    const bound = Math.max(Math.ceil(small[k] * 1.25), small[k] + 16);
    t.ok(large[k] <= bound, `${k}: ${large[k]} on 1 TiB, ${small[k]} on 8 GiB (at most ${bound})`);
  }
  t.ok(small.entries > 0 && small.steps > 0, 'the counters count');
});

t.test('creating files keeps every cache within its share of the budget', async (t) => {
  const dev = new SparseDevice(2 ** 20);
  FileSystem.mkfs(dev, { uuid: UUID, clock: clock_fixed() });
  const f = FileSystem.mount(dev, { clock: clock_fixed(1_700_000_100), cacheBytes: 4 << 20 });
  let worst = { inodes: 0, nodes: 0, pages: 0 };
  for (let d = 0; d < 20; d++) {
    const dir = f.mkdir(1, `d${d}`, 0o755).ino;
    for (let i = 0; i < 1000; i++) f.write(f.create(dir, `f${i}`, 0o644).ino, 0, content(d * 1000 + i, i % 4 === 0 ? 4096 : 120));
    const m = f.memory();
    worst = {
      inodes: Math.max(worst.inodes, m.inodes - m.inodesPinned - m.inodesMax),
      nodes: Math.max(worst.nodes, m.nodes - m.nodesDirty - m.nodesMax),
      pages: Math.max(worst.pages, m.tablePages - m.tablePagesDirty - m.tablePagesMax),
    };
  }
  const m = f.memory();
  t.ok(worst.inodes <= 0, `inodes: ${m.inodes} cached, ${m.inodesPinned} pinned, share ${m.inodesMax} (worst excess ${worst.inodes})`);
  t.ok(worst.nodes <= 0, `nodes: ${m.nodes} cached, ${m.nodesDirty} dirty, share ${m.nodesMax} (worst excess ${worst.nodes})`);
  t.ok(worst.pages <= 0, `table pages: ${m.tablePages}, ${m.tablePagesDirty} changed, share ${m.tablePagesMax} (worst excess ${worst.pages})`);
  t.ok(m.nodesDirty <= m.nodesMax / 2 + 64, `dirty nodes bounded by half the node cache (${m.nodesDirty})`);
  t.ok(f.icache.evictions > 10_000, `inodes were evicted as files were created (${f.icache.evictions})`);
  f.unmount();
  fsck_clean(t, dev, '20,000 files in 4 MiB of cache');
});

t.test('a cache full of inodes with unwritten pages costs a create no walk of the cache', async (t) => {
  // fs_mark's load: every new file has a dirty page until the dirty budget flushes it, so the
  // inode cache fills with pinned inodes; each eviction pass walked all of them (12,000 files
  // through a 1,000-inode cache took 143 million steps; one pass per tenth of growth, 120,000)
  const dev = new SparseDevice(2 ** 20);
  FileSystem.mkfs(dev, { uuid: UUID, clock: clock_fixed() });
  const f = FileSystem.mount(dev, { clock: clock_fixed(1_700_000_100), inodeCacheMax: 1000, dirtyBytesMax: 256 << 20 });
  const dir = f.mkdir(1, 'd', 0o755).ino;
  const files = 12_000;
  for (let i = 0; i < files; i++) f.write(f.create(dir, `f${i}`, 0o644).ino, 0, content(i, 4096));
  const m = f.memory();
  const perCreate = f.icache.evictSteps / files;
  t.ok(m.inodesPinned > 10_000, `the files' inodes are pinned by their pages (${m.inodesPinned} of ${m.inodes})`);
  t.ok(perCreate < 20, `eviction looked at ${f.icache.evictSteps} entries, ${perCreate.toFixed(1)} per create (at most 20)`);
  f.sync();
  const after = f.memory();
  t.ok(after.inodes <= after.inodesMax, `after the flush the cache is back within its share (${after.inodes} of ${after.inodesMax})`);
  f.unmount();
  fsck_clean(t, dev, `${files} files written through a 1,000-inode cache`);
});
