// The data path in runs: a read is served from dirty pages, holes and runs of blocks that follow
// on the device (one request each); a flush writes runs of pages as one request each. Checked
// against the bytes written, request by request on a simulated device.

import t from 'tap';
import { SimDevice } from '../../src/device/sim.js';
import { BLOCK_SIZE } from '../../src/device/device.js';
import { Volume } from '../../src/checkpoint/volume.js';
import { BlockKind } from '../../src/log/segments.js';
import { FileSystem } from '../../src/fs/fs.js';
import { Prng } from '../../src/util/prng.js';
import { fsck_ok, mkfs_mem } from '../helpers/engine.js';
import { content } from '../helpers/model.js';

const BLOCKS = 8192;
const MO = { segBlocks: 64, fanout: 16 } as const;

t.test('reads across dirty pages, holes and separately written runs return what was written', async (t) => {
  const sim = SimDevice.from(mkfs_mem(BLOCKS, MO).image(), { writeLog: true });
  const fs = FileSystem.mount(sim);
  const f = fs.create(1, 'f', 0o644);
  const want = Buffer.alloc(200 * BLOCK_SIZE + 123);
  const put = (off: number, b: Buffer): void => { fs.write(f.ino, off, b); b.copy(want, off); };
  // runs written by separate flushes land apart on the device; a hole between them
  put(0, content(1, 40 * BLOCK_SIZE));
  fs.fsync(f.ino);
  put(60 * BLOCK_SIZE, content(2, 70 * BLOCK_SIZE + 500));
  fs.fsync(f.ino);
  put(10 * BLOCK_SIZE + 7, content(3, 5 * BLOCK_SIZE)); // rewrites inside the first run, cached
  put(199 * BLOCK_SIZE, content(4, BLOCK_SIZE + 123)); // the tail, cached
  put(100 * BLOCK_SIZE, content(5, 3 * BLOCK_SIZE));
  fs.sync();
  put(101 * BLOCK_SIZE + 100, content(6, 10)); // one dirty page in the middle of a mapped run
  const rng = new Prng(9);
  for (let i = 0; i < 300; i++) {
    const off = rng.int(0, want.length + 5000);
    const len = rng.int(0, 300_000);
    const end = Math.min(want.length, off + len);
    const got = fs.read(f.ino, off, len);
    if (!got.equals(off >= want.length ? Buffer.alloc(0) : want.subarray(off, end))) {
      t.fail(`read of ${len} bytes at ${off} differs`);
      return;
    }
  }
  t.pass('300 random reads match');
  t.same(fs.read(f.ino, 0, want.length), want, 'the whole file in one read');
  // after a clean remount everything comes from the device: runs cut only by holes and by
  // blocks that are not adjacent on the device
  fs.unmount();
  const again = FileSystem.mount(sim);
  const readsBefore = sim.reads;
  t.same(again.read(f.ino, 0, 40 * BLOCK_SIZE), want.subarray(0, 40 * BLOCK_SIZE), 'a run from the device');
  t.ok(sim.reads - readsBefore < 40, `40 blocks took ${sim.reads - readsBefore} device reads, not one per block`);
  again.unmount();
  fsck_ok(t, sim);
});

t.test('a damaged block inside a run fails the read with EIO naming that block', async (t) => {
  const mem = mkfs_mem(BLOCKS, MO);
  const fs = FileSystem.mount(mem);
  const f = fs.create(1, 'f', 0o644);
  fs.write(f.ino, 0, content(7, 32 * BLOCK_SIZE));
  fs.unmount();
  const v = Volume.open(mem, { readOnly: true });
  let target = 0;
  for (let a = v.g.mainStart; a < v.g.mainStart + v.g.segCount * v.g.segBlocks && !target; a++) {
    const s = v.log.summary(a);
    if (v.log.refs(a) > 0 && s.kind === BlockKind.DATA && s.owner === f.ino && s.offset === 17) target = a;
  }
  v.abandon();
  t.ok(target > 0, `file block 17 is at ${target}`);
  const b = mem.read(target);
  b[99]! ^= 1;
  mem.write(target, b);
  const again = FileSystem.mount(mem);
  t.same(again.read(f.ino, 0, 17 * BLOCK_SIZE), content(7, 17 * BLOCK_SIZE), 'the blocks before it read fine');
  t.throws(() => again.read(f.ino, 0, 32 * BLOCK_SIZE), { code: 'EIO', message: new RegExp(`address ${target} \\(inode ${f.ino}, file block 17\\)`) });
  t.throws(() => again.read(f.ino, 17 * BLOCK_SIZE + 5, 1), { code: 'EIO' }, 'and alone');
  again.unmount();
});

t.test('a flush writes consecutive pages as one request, whatever writes made them', async (t) => {
  const sim = SimDevice.from(mkfs_mem(BLOCKS, MO).image(), { writeLog: true });
  const fs = FileSystem.mount(sim);
  const f = fs.create(1, 'f', 0o644);
  const data = content(8, 48 * BLOCK_SIZE);
  // pages made by 4 KiB writes, by a 64 KiB write and by partial writes, out of order
  for (let i = 47; i >= 32; i--) fs.write(f.ino, i * BLOCK_SIZE, data.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE));
  fs.write(f.ino, 0, data.subarray(0, 16 * BLOCK_SIZE));
  for (let off = 16 * BLOCK_SIZE; off < 32 * BLOCK_SIZE; off += 1000) fs.write(f.ino, off, data.subarray(off, Math.min(off + 1000, 32 * BLOCK_SIZE)));
  const before = sim.writeLog!.length;
  fs.fsync(f.ino);
  const dataWrites = sim.writeLog!.slice(before).filter((w) => w.count > 1);
  const blocks = dataWrites.reduce((n, w) => n + w.count, 0);
  t.ok(blocks >= 48, `the 48 pages went out in ${dataWrites.length} multi-block requests`);
  t.ok(dataWrites.length <= 48 / MO.segBlocks + 2, 'one request per run of the log, not per write');
  fs.cache_drop();
  t.same(fs.read(f.ino, 0, data.length), data, 'and read back');
  fs.unmount();
  fsck_ok(t, sim);
});

t.test('streaming writeback: a file written in sequence goes to the log 1 MiB at a time, one written at random stays cached', async (t) => {
  // while dirty memory is below half its bound, nothing is written early: a file deleted soon
  // after it was written costs nothing
  const calm = mkfs_mem(BLOCKS, MO);
  const cfs = FileSystem.mount(calm, { dirtyBytesMax: 64 << 20 });
  const early = cfs.create(1, 'early', 0o100644);
  let wroteCalm = 0;
  for (let i = 0; i < 24; i++) {
    cfs.write(early.ino, i * (128 << 10), Buffer.alloc(128 << 10, i + 1));
    if (cfs.writeback(early.ino)) wroteCalm++;
  }
  t.equal(wroteCalm, 0, 'with dirty memory plentiful (3 MiB of 64), nothing is streamed');
  t.equal(cfs.dirtyBytes, 3 << 20, 'the 3 MiB stay dirty');
  cfs.unlink(1, 'early');
  cfs.unmount();
  fsck_ok(t, calm);

  // above half the bound (1 MiB of 2 here), a sequential file goes out 1 MiB at a time
  const mem = mkfs_mem(BLOCKS, MO);
  const fs = FileSystem.mount(mem, { dirtyBytesMax: 2 << 20 });
  const seq = fs.create(1, 'seq', 0o100644);
  const chunk = Buffer.alloc(128 << 10);
  let wrote = 0, maxDirty = 0;
  for (let i = 0; i < 24; i++) {
    chunk.fill(i + 1);
    fs.write(seq.ino, i * chunk.length, chunk);
    maxDirty = Math.max(maxDirty, fs.dirtyBytes);
    if (fs.writeback(seq.ino)) wrote++;
  }
  // once 1 MiB was written in sequence, every 1 MiB of dirty pages is written
  t.equal(wrote, 3, 'written back three times in 3 MiB');
  t.equal(maxDirty, 1 << 20, 'dirty pages never pass 1 MiB');

  const rnd = fs.create(1, 'rnd', 0o100644);
  fs.write(rnd.ino, 0, Buffer.alloc(2 << 20, 9));
  fs.fsync(rnd.ino, false);
  const rng = new Prng(5);
  let any = false;
  const before = fs.dirtyBytes;
  for (let i = 0; i < 400; i++) {
    fs.write(rnd.ino, rng.int(0, 511) * BLOCK_SIZE, Buffer.alloc(BLOCK_SIZE, i & 0xff));
    any ||= fs.writeback(rnd.ino);
  }
  t.notOk(any, 'random writes are never written back early');
  t.ok(fs.dirtyBytes > before, 'their pages stay dirty, so rewrites cost nothing');
  for (let i = 0; i < 24; i++) t.ok(fs.read(seq.ino, i * chunk.length, chunk.length).equals(chunk.fill(i + 1)), `chunk ${i} reads back`);
  fs.unmount();
  fsck_ok(t, mem);
});
