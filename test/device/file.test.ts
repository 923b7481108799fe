import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { FileDevice, device_open, device_size_bytes, devt_decode, devt_encode, sysfs_block_dir } from '../../src/device/file.js';
import { BLOCK_SIZE } from '../../src/device/device.js';
import { FsError } from '../../src/util/errors.js';
import { AssertionError } from '../../src/util/assert.js';
import { Prng } from '../../src/util/prng.js';
import { defer_make, loop_attach, loop_detach, loop_unavailable, mount, pattern_block, tmpdir_make, umount } from './loop.js';

/** What an FsError with this errno looks like to t.throws. */
const errno = (code: string, message?: RegExp) => ({ name: 'FsError', code, ...(message ? { message } : {}) });
const re_quote = (s: string) => new RegExp(s.replace(/[/.]/g, '\\$&'));

function image_make(dir: string, bytes: number, fill = 0): string {
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, Buffer.alloc(bytes, fill));
  return file;
}

t.test('image file: round trip of single- and multi-block requests, whole blocks only', async (t) => {
  const defer = defer_make(t);
  const dir = tmpdir_make(defer);
  // 10 whole blocks and a 1000-byte tail that must never be touched
  const file = image_make(dir, 10 * BLOCK_SIZE + 1000, 0xaa);
  t.equal(device_size_bytes(file), 10 * BLOCK_SIZE + 1000, 'device_size_bytes is the file size');
  const dev = device_open(file);
  defer(() => dev.close());
  t.equal(dev.kind, 'file');
  t.equal(dev.blockCount, 10, 'the tail shorter than a block is not a block');
  t.equal(dev.sizeBytes, 10 * BLOCK_SIZE + 1000);
  t.equal(dev.name, file);

  dev.write(0, pattern_block(0));
  dev.write(3, Buffer.concat([pattern_block(3), pattern_block(4), pattern_block(5)]));
  dev.write(9, pattern_block(9));
  dev.flush();
  t.same(dev.read(0), pattern_block(0), 'single block reads back');
  t.same(dev.read(4), pattern_block(4), 'a block of a multi-block write reads back alone');
  t.same(dev.read(2, 5), Buffer.concat([Buffer.alloc(BLOCK_SIZE, 0xaa), pattern_block(3), pattern_block(4), pattern_block(5), Buffer.alloc(BLOCK_SIZE, 0xaa)]),
    'a multi-block read sees the blocks in order');
  t.equal(dev.read(1, 3).length, 3 * BLOCK_SIZE);
  dev.discard(1, 2); // a no-op that still validates
  t.same(dev.read(1), Buffer.alloc(BLOCK_SIZE, 0xaa), 'discard leaves the content as it was');
  dev.close();

  const raw = fs.readFileSync(file);
  t.same(raw.subarray(3 * BLOCK_SIZE, 6 * BLOCK_SIZE), Buffer.concat([pattern_block(3), pattern_block(4), pattern_block(5)]), 'bytes land at block * 4096 in the file');
  t.same(raw.subarray(10 * BLOCK_SIZE), Buffer.alloc(1000, 0xaa), 'the tail is untouched');
  t.equal(raw.length, 10 * BLOCK_SIZE + 1000, 'the file did not grow');
  const again = FileDevice.open(file);
  defer(() => again.close());
  t.same(again.read(9), pattern_block(9), 'contents survive close and reopen');
});

t.test('image file: requests outside the device or not whole blocks are refused', async (t) => {
  const defer = defer_make(t);
  const dev = device_open(image_make(tmpdir_make(defer), 8 * BLOCK_SIZE));
  defer(() => dev.close());
  t.throws(() => dev.read(8), RangeError, 'read past the end');
  t.throws(() => dev.read(7, 2), RangeError, 'multi-block read crossing the end');
  t.throws(() => dev.read(0, 0), RangeError, 'empty read');
  t.throws(() => dev.write(7, Buffer.alloc(2 * BLOCK_SIZE)), RangeError, 'write crossing the end');
  t.throws(() => dev.write(0, Buffer.alloc(100)), RangeError, 'write of a partial block');
  t.throws(() => dev.write(0, Buffer.alloc(0)), RangeError, 'empty write');
  t.throws(() => dev.write(-1, Buffer.alloc(BLOCK_SIZE)), RangeError, 'negative address');
  t.throws(() => dev.discard(6, 3), RangeError, 'discard crossing the end');
});

t.test('a short read at the end of a file that shrank reads zeros', async (t) => {
  const defer = defer_make(t);
  const file = image_make(tmpdir_make(defer), 4 * BLOCK_SIZE, 0x5c);
  const dev = device_open(file);
  defer(() => dev.close());
  fs.truncateSync(file, 2 * BLOCK_SIZE + 100);
  const b = dev.read(2);
  t.same(b.subarray(0, 100), Buffer.alloc(100, 0x5c), 'the bytes still there are read');
  t.same(b.subarray(100), Buffer.alloc(BLOCK_SIZE - 100), 'the rest of the block reads as zeros');
  t.same(dev.read(3), Buffer.alloc(BLOCK_SIZE), 'a block wholly past the end reads as zeros');
  t.same(dev.read(1, 2).subarray(0, BLOCK_SIZE), Buffer.alloc(BLOCK_SIZE, 0x5c), 'a request starting before the end reads what is there');
});

t.test('read-only image: reads work, write and discard throw EROFS, nothing changes', async (t) => {
  const defer = defer_make(t);
  const file = image_make(tmpdir_make(defer), 4 * BLOCK_SIZE, 0x11);
  const dev = device_open(file, { readOnly: true });
  defer(() => dev.close());
  t.equal(dev.readOnly, true);
  t.same(dev.read(1), Buffer.alloc(BLOCK_SIZE, 0x11));
  t.throws(() => dev.write(1, Buffer.alloc(BLOCK_SIZE)), errno('EROFS'), 'write is refused');
  t.throws(() => dev.discard(1, 1), errno('EROFS'), 'discard is refused');
  t.doesNotThrow(() => dev.flush(), 'flush has nothing to do');
  t.same(fs.readFileSync(file), Buffer.alloc(4 * BLOCK_SIZE, 0x11), 'the image is unchanged');
});

t.test('open errors are FsErrors a user can act on', async (t) => {
  const defer = defer_make(t);
  const dir = tmpdir_make(defer);
  t.throws(() => device_open(path.join(dir, 'missing.img')), errno('ENOENT'));
  t.throws(() => device_size_bytes(path.join(dir, 'missing.img')), errno('ENOENT'));
  t.throws(() => device_open(dir), errno('EINVAL'), 'a directory is neither an image nor a device');
  t.throws(() => device_open('/dev/null'), errno('EINVAL'), 'a character device is refused');
  const file = image_make(dir, 2 * BLOCK_SIZE);
  const dev = device_open(file, { exclusive: true });
  t.equal(dev.blockCount, 2, 'exclusive has no effect on a regular file');
  dev.close();
  dev.close(); // a second close is harmless
  t.throws(() => dev.read(0), AssertionError, 'use after close is a bug');
  t.throws(() => dev.write(0, Buffer.alloc(BLOCK_SIZE)), AssertionError);
});

t.test('dev_t encoding matches Linux (glibc makedev)', async (t) => {
  t.same(devt_decode(1792n), { major: 7, minor: 0 }, '/dev/loop0 is 7:0');
  t.same(devt_decode(0x0803n), { major: 8, minor: 3 }, '/dev/sda3 is 8:3');
  t.same(devt_decode(devt_encode(259, 300)), { major: 259, minor: 300 }, 'a minor above 255 uses the high bits');
  t.equal(devt_encode(7, 300), 0x10072cn, 'minor 300: low byte 0x2c at bits 0..7, the rest (0x100) at bits 12 and up; major 7 at bits 8..19');
  const prng = new Prng(7);
  for (let i = 0; i < 1000; i++) {
    const major = prng.u32(), minor = prng.u32();
    const d = devt_decode(devt_encode(major, minor));
    if (d.major !== major || d.minor !== minor) {
      t.fail(`${major}:${minor} decoded as ${d.major}:${d.minor}`);
      return;
    }
  }
  t.pass('1000 random 32-bit majors and minors round-trip');
});

t.test('a failing write to the medium surfaces as EIO naming the block', { skip: process.getuid?.() !== 0 ? 'mounting a tmpfs needs root' : false }, async (t) => {
  const defer = defer_make(t);
  const mnt = tmpdir_make(defer, 'cowlog-tmpfs-');
  // A sparse 1 MiB image on a 64 KiB tmpfs: the host filesystem runs out of space part-way.
  mount('tmpfs', mnt, ['-t', 'tmpfs', '-o', 'size=64k']);
  defer(() => umount(mnt));
  const file = path.join(mnt, 'disk.img');
  fs.closeSync(fs.openSync(file, 'w'));
  fs.truncateSync(file, 256 * BLOCK_SIZE);
  const dev = device_open(file);
  defer(() => dev.close());
  let failedAt = -1;
  let err: unknown = null;
  for (let b = 0; b < 256 && failedAt < 0; b++) {
    try {
      dev.write(b, pattern_block(b));
    } catch (e) {
      failedAt = b;
      err = e;
    }
  }
  t.ok(failedAt > 0, `writes fail once the host filesystem is full (at block ${failedAt})`);
  t.ok(err instanceof FsError && err.code === 'EIO', 'as FsError EIO');
  t.match((err as Error).message, new RegExp(`^EIO: ${re_quote(file).source}: write of block ${failedAt} failed: ENOSPC`), 'naming the device and the block');
});

const noLoop = loop_unavailable();

t.test('loop device: size from sysfs, round trip, data reaches the backing file', { skip: noLoop ?? false }, async (t) => {
  const defer = defer_make(t);
  const dir = tmpdir_make(defer);
  // 1 MiB + 2 KiB: the loop device is 2052 sectors, of which 256 whole 4 KiB blocks
  const file = image_make(dir, 1024 * 1024 + 2048);
  const loop = loop_attach(file);
  defer(() => loop_detach(loop));
  const st = fs.statSync(loop, { bigint: true });
  const sysDev = fs.readFileSync(`/sys/block/${path.basename(loop)}/dev`, 'utf8').trim();
  const { major, minor } = devt_decode(st.rdev);
  t.equal(`${major}:${minor}`, sysDev, 'st_rdev decodes to the major:minor sysfs shows');
  t.equal(sysfs_block_dir(st.rdev), `/sys/dev/block/${sysDev}`);
  t.equal(device_size_bytes(loop), 1024 * 1024 + 2048, 'size of the block device in bytes');

  const dev = device_open(loop);
  defer(() => dev.close());
  t.equal(dev.kind, 'block');
  t.equal(dev.blockCount, 256, 'whole 4 KiB blocks only');
  const prng = new Prng(42);
  const written = new Map<number, Buffer>();
  for (let i = 0; i < 40; i++) {
    const addr = prng.int(0, 252), count = prng.int(1, 4);
    const data = Buffer.alloc(count * BLOCK_SIZE);
    prng.fill(data);
    dev.write(addr, data);
    for (let k = 0; k < count; k++) written.set(addr + k, data.subarray(k * BLOCK_SIZE, (k + 1) * BLOCK_SIZE));
  }
  let same = true;
  for (const [addr, data] of written) same &&= dev.read(addr).equals(data);
  t.ok(same, `${written.size} blocks read back from the device`);
  dev.flush();
  dev.close();
  const raw = fs.readFileSync(file);
  let inFile = true;
  for (const [addr, data] of written) inFile &&= raw.subarray(addr * BLOCK_SIZE, (addr + 1) * BLOCK_SIZE).equals(data);
  t.ok(inFile, 'after flush the backing file holds every block at block * 4096');
});

t.test('loop device: read-only open, and a read-only device refuses a read-write open', { skip: noLoop ?? false }, async (t) => {
  const defer = defer_make(t);
  const file = image_make(tmpdir_make(defer), 64 * BLOCK_SIZE, 0x3c);
  const loop = loop_attach(file);
  defer(() => loop_detach(loop));
  const ro = device_open(loop, { readOnly: true });
  defer(() => ro.close());
  t.same(ro.read(63), Buffer.alloc(BLOCK_SIZE, 0x3c));
  t.throws(() => ro.write(0, Buffer.alloc(BLOCK_SIZE)), errno('EROFS'));

  const roLoop = loop_attach(file, true);
  defer(() => loop_detach(roLoop));
  t.throws(() => device_open(roLoop), errno('EROFS', new RegExp(`${re_quote(roLoop).source}: the device is read-only`)),
    'EROFS naming the device');
  const ok = device_open(roLoop, { readOnly: true });
  defer(() => ok.close());
  t.equal(ok.blockCount, 64, 'opens read-only');
});

t.test('loop device: exclusive open refuses a device held exclusively', { skip: noLoop ?? false }, async (t) => {
  const defer = defer_make(t);
  const loop = loop_attach(image_make(tmpdir_make(defer), 64 * BLOCK_SIZE));
  defer(() => loop_detach(loop));
  const first = device_open(loop, { exclusive: true });
  let firstOpen = true;
  defer(() => { if (firstOpen) first.close(); });
  t.throws(() => device_open(loop, { exclusive: true }),
    errno('EBUSY', new RegExp(`${re_quote(loop).source}: device is in use`)),
    'a second exclusive open is EBUSY naming the device');
  const shared = device_open(loop);
  t.equal(shared.blockCount, 64, 'a non-exclusive open is still allowed');
  shared.close();
  first.close();
  firstOpen = false;
  const again = device_open(loop, { exclusive: true });
  again.close();
  t.pass('once released, the device opens exclusively again');
});

const noMkfs = noLoop ?? (() => {
  try {
    execFileSync('mkfs.ext4', ['-V'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'mkfs.ext4 is not installed (e2fsprogs)';
  }
})();

t.test('loop device: exclusive open refuses a mounted device', { skip: noMkfs ?? false }, async (t) => {
  const defer = defer_make(t);
  const dir = tmpdir_make(defer);
  const loop = loop_attach(image_make(dir, 4 * 1024 * 1024));
  defer(() => loop_detach(loop));
  execFileSync('mkfs.ext4', ['-q', '-F', loop], { stdio: 'ignore' });
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(mnt);
  mount(loop, mnt, ['-t', 'ext4']);
  defer(() => umount(mnt));
  t.throws(() => device_open(loop, { exclusive: true }),
    errno('EBUSY', new RegExp(`${re_quote(loop).source}: .*unmount it first`)),
    'EBUSY telling the user to unmount');
  const ro = device_open(loop, { readOnly: true });
  t.equal(ro.read(0).length, BLOCK_SIZE, 'a read-only, non-exclusive open of a mounted device still reads');
  ro.close();
});

t.test('image file: writev writes its parts as one request, also past 1,024 parts', async (t) => {
  const defer = defer_make(t);
  const blocks = 1100 + 8;
  const file = image_make(tmpdir_make(defer), blocks * BLOCK_SIZE, 0xaa);
  const dev = device_open(file);
  defer(() => dev.close());
  // parts of 1, 2 and 3 blocks, one of them a view into the middle of a larger buffer
  const big = Buffer.concat([pattern_block(100), pattern_block(2), pattern_block(3), pattern_block(101)]);
  dev.writev(1, [pattern_block(1), big.subarray(BLOCK_SIZE, 3 * BLOCK_SIZE), Buffer.concat([pattern_block(4), pattern_block(5), pattern_block(6)])]);
  t.same(dev.read(0, 8), Buffer.concat([Buffer.alloc(BLOCK_SIZE, 0xaa), ...[1, 2, 3, 4, 5, 6].map((i) => pattern_block(i)), Buffer.alloc(BLOCK_SIZE, 0xaa)]),
    'the parts land one after the other and nothing else changes');
  // more parts than one writev call takes (IOV_MAX)
  const many = Array.from({ length: 1100 }, (_, i) => pattern_block(1000 + i));
  dev.writev(8, many);
  t.same(dev.read(8, 1100), Buffer.concat(many), '1,100 parts in order');
  t.throws(() => dev.writev(1, [pattern_block(1), Buffer.alloc(100)]), AssertionError, 'a part that is not whole blocks is a bug');
  t.throws(() => dev.writev(blocks - 1, [pattern_block(1), pattern_block(2)]), RangeError, 'a request past the end is refused');
  const ro = device_open(file, { readOnly: true });
  defer(() => ro.close());
  t.throws(() => ro.writev(1, [pattern_block(1)]), errno('EROFS'), 'a read-only device refuses writev');
});

t.test('image file: read_async reads what read reads; close waits for reads in flight', async (t) => {
  const defer = defer_make(t);
  const file = image_make(tmpdir_make(defer), 16 * BLOCK_SIZE, 0xaa);
  const dev = device_open(file);
  defer(() => dev.close());
  dev.write(2, Buffer.concat([pattern_block(2), pattern_block(3), pattern_block(4)]));
  t.equal(dev.writeCount, 1, 'writes are counted');
  dev.writev(5, [pattern_block(5)]);
  t.equal(dev.writeCount, 2, 'writev too');
  const into = Buffer.alloc(4 * BLOCK_SIZE);
  const read = (addr: number, count: number, buf: Buffer): Promise<Error | null> => new Promise((ok) => dev.read_async(addr, count, buf, ok));
  t.equal(await read(2, 4, into), null, 'no error');
  t.same(into, dev.read(2, 4), 'the same bytes as read()');
  t.throws(() => dev.read_async(14, 4, into, () => {}), RangeError, 'a request past the end is refused at once');
  t.throws(() => dev.read_async(0, 2, into, () => {}), AssertionError, 'a buffer of the wrong size is a bug');
  // close while reads are in flight: they complete; the descriptor goes after the last
  const bufs = [0, 1, 2, 3].map(() => Buffer.alloc(BLOCK_SIZE));
  const inflight = bufs.map((b, i) => read(2 + i, 1, b));
  dev.close();
  t.same(await Promise.all(inflight), [null, null, null, null], 'reads in flight at close complete');
  t.same(bufs[1], pattern_block(3), 'with the right bytes');
  t.throws(() => dev.read(0), AssertionError, 'the device is closed for everything else');
});
