// FITRIM in the engine (FileSystem.trim): a checkpoint, then whole free segments discarded —
// on a device whose discard really loses the blocks (they read as 0xdb afterwards), so that a
// block still needed and discarded shows up as lost data or a failed fsck. What was deleted
// before the call is trimmed; what is trimmed never passes the free space statfs shows; the
// range and minimum-length arguments and the refusals are ext4's. Every test ends with fsck.

import t from 'tap';
import { BLOCK_SIZE } from '../../src/device/device.js';
import { MemoryDevice } from '../../src/device/memory.js';
import { FileSystem } from '../../src/fs/fs.js';
import { errno_of, fsck_ok, mount, SMALL } from '../helpers/engine.js';
import { clock_fixed } from '../../src/checkpoint/clock.js';
import { content } from '../helpers/model.js';

const MiB = 1 << 20;

/** A memory device whose discard loses the blocks, recording each discard. */
class LosingDevice extends MemoryDevice {
  readonly discards = true;
  readonly ranges: [number, number][] = [];
  override discard(addr: number, count: number): void {
    super.discard(addr, count);
    this.ranges.push([addr, count]);
    const junk = Buffer.alloc(count * BLOCK_SIZE, 0xdb);
    super.write(addr, junk);
  }
}

function device(blocks: number): LosingDevice {
  const dev = new LosingDevice(blocks);
  FileSystem.mkfs(dev, { ...SMALL, clock: clock_fixed() });
  return dev;
}

t.test('what was deleted is trimmed; what is live is not', async (t) => {
  const dev = device(8192);
  let fs = mount(dev);
  const keep = fs.create(1, 'keep', 0o644).ino;
  fs.write(keep, 0, content(1, 3 * MiB));
  const gone = fs.create(1, 'gone', 0o644).ino;
  fs.write(gone, 0, content(2, 8 * MiB));
  fs.sync();
  const first = fs.trim(0, Number.MAX_SAFE_INTEGER, 0);
  t.ok(first > 0, `a first trim discards the segments never written (${first / MiB} MiB)`);
  t.ok(first <= fs.statfs().bfree * BLOCK_SIZE, 'no more than the free space statfs shows');
  fs.unlink(1, 'gone');
  // no sync: the trim's own checkpoint frees what the unlink left
  const second = fs.trim(0, Number.MAX_SAFE_INTEGER, 0);
  t.ok(second >= first + 7 * MiB, `after deleting 8 MiB a trim discards ${(second / MiB).toFixed(1)} MiB`);
  t.ok(second <= fs.statfs().bfree * BLOCK_SIZE, `no more than the free space statfs shows (${(fs.statfs().bfree * BLOCK_SIZE / MiB).toFixed(1)} MiB)`);
  t.same(fs.read(keep, 0, 3 * MiB), content(1, 3 * MiB), 'the live file reads back after its neighbours were discarded');
  // the filesystem goes on using the trimmed segments
  const more = fs.create(1, 'more', 0o644).ino;
  fs.write(more, 0, content(3, 6 * MiB));
  fs.unmount();
  fs = mount(dev);
  t.same(fs.read(keep, 0, 3 * MiB), content(1, 3 * MiB), 'after a remount: the file kept');
  t.same(fs.read(more, 0, 6 * MiB), content(3, 6 * MiB), 'and the one written into trimmed space');
  fs.unmount();
  fsck_ok(t, dev, 'after trims (discarded blocks read as junk)');
});

t.test('a crash after a trim: the last checkpoint and the fsyncs after it recover', async (t) => {
  const dev = device(8192);
  const fs = mount(dev);
  const a = fs.create(1, 'a', 0o644).ino;
  fs.write(a, 0, content(4, 4 * MiB));
  const b = fs.create(1, 'b', 0o644).ino;
  fs.write(b, 0, content(5, 4 * MiB));
  fs.sync();
  fs.unlink(1, 'b');
  t.ok(fs.trim(0, Number.MAX_SAFE_INTEGER, 0) > 4 * MiB, 'trimmed, the deleted file\'s segments with the rest');
  const c = fs.create(1, 'c', 0o644).ino;
  fs.write(c, 0, content(6, 2 * MiB));
  fs.fsync(c);
  // the power goes: no unmount, the device as it stands
  const after = MemoryDevice.from(dev.image());
  const fs2 = mount(after);
  t.same(fs2.read(a, 0, 4 * MiB), content(4, 4 * MiB), 'the file from before the trim');
  t.same(fs2.read(c, 0, 2 * MiB), content(6, 2 * MiB), 'the file fsync\'d after it');
  t.equal(errno_of(() => fs2.lookup(1, 'b')), 'ENOENT', 'the deleted one stays deleted');
  fs2.unmount();
  fsck_ok(t, after, 'after the crash');
});

t.test('range, minimum length and refusals', async (t) => {
  const dev = device(4096);
  const fs = mount(dev);
  const size = dev.blockCount * BLOCK_SIZE;
  t.equal(errno_of(() => fs.trim(size, MiB, 0)), 'EINVAL', 'a start past the device: EINVAL');
  t.equal(errno_of(() => fs.trim(0, 100, 0)), 'EINVAL', 'less than a block: EINVAL');
  t.equal(errno_of(() => fs.trim(0, size, size + 1)), 'EINVAL', 'a minimum above the device: EINVAL');
  dev.ranges.length = 0;
  const half = fs.trim(size / 2, size, 0);
  t.ok(half > 0 && dev.ranges.every(([a]) => a * BLOCK_SIZE >= size / 2), 'a trim from the middle discards only after it');
  dev.ranges.length = 0;
  const part = fs.trim(0, size / 4, 0);
  t.ok(dev.ranges.every(([a, n]) => (a + n) * BLOCK_SIZE <= size / 4), `one of the first quarter only within it (${part} bytes)`);
  t.equal(fs.trim(0, size, size), 0, 'runs shorter than the minimum are left: nothing');
  fs.unmount();
  fsck_ok(t, dev);
  const plain = new MemoryDevice(4096);
  FileSystem.mkfs(plain, { ...SMALL, clock: clock_fixed() });
  const fs2 = mount(plain);
  t.equal(errno_of(() => fs2.trim(0, size, 0)), 'ENOTSUP', 'a device that does not discard: EOPNOTSUPP');
  fs2.unmount();
  const ro = mount(dev, { readOnly: true });
  t.equal(errno_of(() => ro.trim(0, size, 0)), 'EROFS', 'read-only: EROFS');
  ro.unmount();
  fsck_ok(t, plain);
});
