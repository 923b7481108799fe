import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { WearTracker, wear_path_default, WEAR_DIR_DEFAULT } from '../../src/wear/tracker.js';
import { WearFileError, wear_decode, wear_encode } from '../../src/wear/wearfile.js';
import type { WearMeta } from '../../src/wear/wearfile.js';
import { wear_stats } from '../../src/wear/stats.js';
import { SimDevice } from '../../src/device/sim.js';
import { MemoryDevice } from '../../src/device/memory.js';
import { device_open } from '../../src/device/file.js';
import { BLOCK_SIZE } from '../../src/device/device.js';
import { AssertionError } from '../../src/util/assert.js';
import { Cause, tag_of, Trigger } from '../../src/device/cause.js';
import { defer_make, tmpdir_make } from '../device/loop.js';

const META: WearMeta = { fs: 'cowlog', source: 'cowlog-tracker' };
const blocks = (n: number, v = 1) => Buffer.alloc(n * BLOCK_SIZE, v);

/** A clock that advances 1000 ns per reading. */
function clock_fake(start = 5_000_000n): () => bigint {
  let now = start;
  return () => (now += 1000n);
}

const tmpdir = (t: { teardown(fn: () => void): void }): string => tmpdir_make(defer_make(t), 'cowlog-wear-');

t.test('counts: a request counts once for each block it touches; flushes apart; reads and discards not at all', async (t) => {
  const sim = new SimDevice(16, { writeLog: true });
  const wt = new WearTracker(sim);
  t.equal(wt.blockCount, 16);
  t.equal(wt.name, sim.name);
  wt.write(2, blocks(3));
  wt.write(3, blocks(1));
  wt.write(3, blocks(2));
  wt.flush();
  wt.read(0, 16);
  wt.discard(0, 16);
  wt.flush();
  t.same([...wt.counts.subarray(0, 6)], [0, 0, 1, 3, 2, 0], 'per-block request counts');
  t.equal(wt.writeRequests, 3);
  t.equal(wt.hostBytes, 6 * BLOCK_SIZE, 'host bytes');
  t.equal(wt.flushes, 2);
  t.equal(wt.timelineLength, 3, 'flushes are not timeline entries');
  t.same(sim.writeLog, [{ addr: 2, count: 3 }, { addr: 3, count: 1 }, { addr: 3, count: 2 }], 'the device got exactly the caller\'s writes');
  t.equal(sim.flushes, 2);
  t.equal(sim.reads, 1);
  t.same(wt.read(3), blocks(1), 'reads are forwarded');
  const s = wear_stats(wt.counts);
  t.equal(s.hottestBlock, 3);
  t.equal(s.hottestCount, 3);
  wt.close();
  t.throws(() => sim.read(0), AssertionError, 'close is forwarded');
});

t.test('a write the device refused is not counted', async (t) => {
  const sim = new SimDevice(8);
  const wt = new WearTracker(sim);
  sim.failWrite(4);
  t.throws(() => wt.write(3, blocks(2)), { name: 'FsError', code: 'EIO' });
  t.throws(() => wt.write(8, blocks(1)), RangeError, 'out of range is refused below');
  sim.cutAfter(1);
  wt.write(0, blocks(1));
  t.throws(() => wt.write(1, blocks(1)), { name: 'PowerCutError' });
  t.same([...wt.counts], [1, 0, 0, 0, 0, 0, 0, 0], 'only the completed write counts');
  t.equal(wt.hostBytes, BLOCK_SIZE);
  t.equal(wt.timelineLength, 1);
});

t.test('timeline: time since start from the injected clock, byte offset, length, flags', async (t) => {
  const wt = new WearTracker(new MemoryDevice(64), { clock: clock_fake() });
  wt.write(10, blocks(1));
  wt.flush();
  wt.write(0, blocks(4));
  wt.write(63, blocks(1));
  const rec = wt.toRecord({ ...META, workload: 'unit' });
  t.same([...rec.timeNs], [1000n, 2000n, 3000n], 'nanoseconds since the tracker started');
  t.same([...rec.offset], [10n * 4096n, 0n, 63n * 4096n], 'byte offsets');
  t.same([...rec.length], [4096, 16384, 4096], 'byte lengths');
  t.same([...rec.flags], [0, 0, 0]);
  t.equal(rec.bytes, 24576n);
  t.equal(rec.blockSize, BLOCK_SIZE);
  t.equal(rec.truncated, false);
  t.same(rec.meta, {
    fs: 'cowlog', source: 'cowlog-tracker', device: 'memory', deviceBytes: 64 * BLOCK_SIZE, workload: 'unit', flushes: 1,
    causes: { unknown: { requests: 3, blocks: 6, bytes: 24576 } }, checkpoints: {},
  }, 'metadata: the device, its size, the caller\'s keys, the flush count, and totals by cause (untagged writes: unknown)');
  t.same(wt.toRecord({ ...META, device: '/dev/loop7' }).meta.device, '/dev/loop7', 'the caller may name the device');
  wt.write(1, blocks(1));
  t.equal(rec.timeNs.length, 3, 'a record is a snapshot, not a live view');
  t.equal(rec.counts[1], 1);
});

t.test('writes counted by cause: requests, blocks and bytes, each exactly once; checkpoints by trigger; inode and process per request', async (t) => {
  const wt = new WearTracker(new MemoryDevice(64), { clock: clock_fake() });
  wt.pidOf = (ino) => (ino === 7 ? 4242 : 0);
  wt.write(0, blocks(2), { cause: Cause.DATA, ino: 7 });
  wt.writev(2, [blocks(1), blocks(2)], { cause: Cause.DATA, ino: 8 });
  wt.write(10, blocks(1), tag_of(Cause.REDO));
  wt.write(11, blocks(4), tag_of(Cause.NODE));
  wt.write(1, blocks(1), { cause: Cause.CHECKPOINT, detail: Trigger.TIMER });
  wt.write(1, blocks(1), { cause: Cause.CHECKPOINT, detail: Trigger.TIMER });
  wt.write(2, blocks(1), { cause: Cause.CHECKPOINT, detail: Trigger.UNMOUNT });
  wt.write(40, blocks(1));
  const rec = wt.toRecord(META);
  t.same(rec.meta.causes, {
    unknown: { requests: 1, blocks: 1, bytes: 4096 }, data: { requests: 2, blocks: 5, bytes: 5 * 4096 }, redo: { requests: 1, blocks: 1, bytes: 4096 },
    node: { requests: 1, blocks: 4, bytes: 4 * 4096 }, checkpoint: { requests: 3, blocks: 3, bytes: 3 * 4096 },
  }, 'totals by cause');
  const sum = Object.values(rec.meta.causes!).reduce((a, c) => a + c.bytes, 0);
  t.equal(sum, wt.hostBytes, 'the causes sum to the host bytes exactly');
  t.same(rec.meta.checkpoints, { timer: 2, unmount: 1 }, 'checkpoints by trigger');
  t.same([...rec.cause!], [Cause.DATA, Cause.DATA, Cause.REDO, Cause.NODE, Cause.CHECKPOINT, Cause.CHECKPOINT, Cause.CHECKPOINT, Cause.UNKNOWN], 'the timeline keeps each request\'s cause');
  t.same([...rec.ino!].slice(0, 3), [7, 8, 0], 'and the inode it was written for');
  t.same([...rec.pid!].slice(0, 3), [4242, 0, 0], 'and the process, where the mount knows it');
  // a continued record goes on counting by cause
  const again = new WearTracker(new MemoryDevice(64));
  again.continueFrom(wear_decode(wear_encode(rec)));
  again.write(5, blocks(1), tag_of(Cause.REDO));
  t.same(again.toRecord(META).meta.causes!['redo'], { requests: 2, blocks: 2, bytes: 8192 }, 'continueFrom carries the totals on');
  t.same(again.toRecord(META).meta.checkpoints, { timer: 2, unmount: 1 }, 'and the checkpoints');
});

t.test('timeline grows past its first allocation and stops at the cap with counts still exact', async (t) => {
  const big = new WearTracker(new MemoryDevice(8), { clock: clock_fake(0n) });
  for (let i = 0; i < 5000; i++) big.write(i % 8, blocks(1));
  const rec = big.toRecord(META);
  t.equal(rec.timeNs.length, 5000, 'every request is in the timeline');
  t.equal(rec.offset[4999], BigInt((4999 % 8) * 4096));
  t.equal(rec.timeNs[4999], 5000n * 1000n, 'times kept across growth');

  const capped = new WearTracker(new MemoryDevice(8), { timelineMax: 5 });
  for (let i = 0; i < 9; i++) capped.write(i % 4, blocks(2));
  capped.flush();
  t.equal(capped.timelineLength, 5, 'the timeline stops at timelineMax');
  t.equal(capped.truncated, true);
  t.equal(capped.writeRequests, 9);
  t.equal(capped.hostBytes, 9 * 2 * BLOCK_SIZE, 'host bytes stay exact');
  t.same([...capped.counts], [3, 5, 4, 4, 2, 0, 0, 0], 'counts stay exact');
  const crec = capped.toRecord(META);
  t.equal(crec.truncated, true);
  t.equal(crec.bytes, BigInt(9 * 2 * BLOCK_SIZE));
  t.same(wear_decode(wear_encode(crec)).counts, crec.counts, 'a truncated record encodes and decodes');
  t.throws(() => new WearTracker(new MemoryDevice(1), { timelineMax: -1 }), RangeError);
});

t.test('save and load round trip, atomically, never onto the device', async (t) => {
  const dir = tmpdir(t);
  const image = path.join(dir, 'disk.img');
  fs.writeFileSync(image, Buffer.alloc(32 * BLOCK_SIZE));
  const dev = device_open(image);
  t.teardown(() => dev.close());
  const wt = new WearTracker(dev, { clock: clock_fake() });
  for (let i = 0; i < 40; i++) wt.write((i * 7) % 30, blocks(1 + (i % 3), i));
  wt.flush();
  const file = wear_path_default(image);
  t.equal(file, `${image}.wear`, 'an image file\'s wear file sits beside it');
  wt.save(file, { ...META, workload: 'roundtrip', startedAt: '2026-11-21T12:00:00Z' });
  t.same(fs.readdirSync(dir).sort(), ['disk.img', 'disk.img.wear'], 'no temporary file left behind');
  const rec = WearTracker.load(file);
  const want = wt.toRecord({ ...META, workload: 'roundtrip', startedAt: '2026-11-21T12:00:00Z' });
  t.same(rec.counts, want.counts, 'counts');
  t.same(rec.timeNs, want.timeNs, 'times');
  t.same(rec.offset, want.offset, 'offsets');
  t.same(rec.length, want.length, 'lengths');
  t.equal(rec.bytes, want.bytes, 'bytes');
  t.same(rec.meta, want.meta, 'metadata');
  t.equal(rec.meta['flushes'], 1);

  const imageBefore = fs.readFileSync(image);
  t.throws(() => wt.save(image, META), { name: 'FsError', code: 'EINVAL', message: /onto the device it measures/ }, 'saving over the device itself is refused');
  t.ok(fs.readFileSync(image).equals(imageBefore), 'the device is untouched by save');
  const link = path.join(dir, 'alias');
  fs.symlinkSync(image, link);
  t.throws(() => wt.save(link, META), { code: 'EINVAL' }, 'also through another name');

  const before31 = wt.counts[31]!;
  wt.write(31, blocks(1));
  wt.save(file, META);
  t.equal(WearTracker.load(file).counts[31], before31 + 1, 'a second save replaces the file');
  const nested = path.join(dir, 'a', 'b', 'x.wear');
  wt.save(nested, META);
  t.ok(fs.existsSync(nested), 'missing directories are created');
});

t.test('a damaged wear file is detected', async (t) => {
  const dir = tmpdir(t);
  const wt = new WearTracker(new MemoryDevice(64));
  for (let i = 0; i < 10; i++) wt.write(i, blocks(1));
  const file = path.join(dir, 'm.wear');
  wt.save(file, META);
  const good = fs.readFileSync(file);
  const countsAt = good.length - 4 - 10 * 32 - 64 * 4;
  t.equal(good.readUInt32LE(countsAt + 5 * 4), 1, 'found the counts (block 5 was written once)');
  const bad = Buffer.from(good);
  bad[countsAt + 5 * 4]! ^= 0x04;
  fs.writeFileSync(file, bad);
  t.throws(() => WearTracker.load(file), WearFileError, 'a flipped bit in the counts');
  t.throws(() => WearTracker.load(file), { message: new RegExp(`${path.basename(file)}: not a valid cowlog wear file: CRC32C mismatch`) }, 'named as a CRC mismatch of that file');
  fs.writeFileSync(file, good.subarray(0, good.length - 24));
  t.throws(() => WearTracker.load(file), { message: /length .* but header implies/ }, 'a truncated file');
  fs.writeFileSync(file, good);
  t.equal(WearTracker.load(file).counts[5], 1, 'the undamaged file loads');
});

t.test('continueFrom: counts, bytes, flushes and the timeline keep accumulating across mounts', async (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'c.wear');
  const sim = new SimDevice(16);
  const first = new WearTracker(sim, { clock: clock_fake(0n) });
  first.write(1, blocks(2));
  first.write(1, blocks(1));
  first.flush();
  first.save(file, { ...META, startedAt: '2026-11-21T12:00:00Z', runMs: 1 });

  const second = new WearTracker(sim, { clock: clock_fake(0n) });
  second.continueFrom(WearTracker.load(file));
  second.write(2, blocks(1));
  second.flush();
  second.flush();
  const rec = second.toRecord({ ...META, runMs: 2 });
  t.same([...rec.counts.subarray(0, 4)], [0, 2, 2, 0], 'counts add up');
  t.equal(rec.bytes, 4n * 4096n, 'bytes add up');
  t.equal(rec.meta['flushes'], 3, 'flushes add up');
  t.equal(rec.meta.startedAt, '2026-11-21T12:00:00Z', 'the first run\'s metadata is kept');
  t.equal(rec.meta.runMs, 2, 'unless the caller gives a new value');
  t.same([...rec.offset], [4096n, 4096n, 8192n], 'the timeline continues');
  // the first run's timeline ended at 2000 ns but ran 1 ms: the second run's times start after
  t.same([...rec.timeNs], [1000n, 2000n, 1_001_000n], 'times stay non-decreasing');

  t.throws(() => second.continueFrom(WearTracker.load(file)), AssertionError, 'only a fresh tracker can continue a record');
  const other = new WearTracker(new SimDevice(32));
  t.throws(() => other.continueFrom(WearTracker.load(file)),
    { name: 'FsError', code: 'EINVAL', message: /counts 16 blocks of 4096 bytes, but sim has 32 blocks .* geometry changed/ },
    'a record of another geometry is refused, saying why');

  const capped = new WearTracker(new MemoryDevice(16), { timelineMax: 2 });
  capped.continueFrom(rec);
  t.equal(capped.truncated, true, 'a record longer than the cap is truncated');
  capped.write(0, blocks(1));
  t.equal(capped.timelineLength, 2, 'and takes no further entries');
  t.equal(capped.counts[0], 1, 'while counts keep counting');
  t.equal(capped.hostBytes, 5 * 4096);
});

t.test('wear_path_default of an image file: beside it', async (t) => {
  t.equal(wear_path_default('/tmp/nowhere/new.img'), '/tmp/nowhere/new.img.wear', 'a path that does not exist yet is an image to be');
  const dir = tmpdir(t);
  const img = path.join(dir, 'x.img');
  fs.writeFileSync(img, '');
  t.equal(wear_path_default(img), `${img}.wear`);
  t.equal(WEAR_DIR_DEFAULT, '/var/lib/cowlog/wear');
});

const blockDev = ['/dev/loop0', '/dev/loop1', '/dev/vda', '/dev/sda'].find((p) => {
  try {
    return fs.statSync(p).isBlockDevice();
  } catch {
    return false;
  }
});

t.test('wear_path_default of a block device', { skip: blockDev === undefined ? 'no block device node to check with' : false }, async (t) => {
  const dev = blockDev!;
  t.equal(wear_path_default(dev), path.join(WEAR_DIR_DEFAULT, `${path.basename(dev)}.wear`), `${dev} -> the wear directory, never the device`);
  t.equal(wear_path_default(dev, '/srv/w'), `/srv/w/${path.basename(dev)}.wear`, 'the directory can be chosen');
});

t.test('writev counts as one request, on a device with writev and on one without', async (t) => {
  const mem = new MemoryDevice(8);
  const sim = new SimDevice(8, { writeLog: true });
  for (const inner of [mem, sim]) {
    const wt = new WearTracker(inner);
    wt.writev(1, [blocks(1, 7), blocks(2, 8)]);
    wt.write(2, blocks(1));
    t.same([...wt.counts.subarray(0, 5)], [0, 1, 2, 1, 0], `${inner.name}: each block once per request`);
    t.equal(wt.writeRequests, 2);
    t.equal(wt.hostBytes, 4 * BLOCK_SIZE);
    t.equal(wt.timelineLength, 2);
    t.same(inner.read(1, 3), Buffer.concat([blocks(1, 7), blocks(1, 1), blocks(1, 8)]), `${inner.name}: the bytes reached the device`);
  }
  t.same(sim.writeLog, [{ addr: 1, count: 3 }, { addr: 2, count: 1 }], 'a device without writev gets one joined write');
});
