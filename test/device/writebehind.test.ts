// The write-behind thread of FileDevice (src/device/writebehind.ts): what a caller reads, what
// reaches the medium and what a failed write does, on an image file and (as root) on a loop
// device.
import t from 'tap';
import type { Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { device_open } from '../../src/device/file.js';
import type { FileDevice } from '../../src/device/file.js';
import { BLOCK_SIZE } from '../../src/device/device.js';
import { WriteBehind } from '../../src/device/writebehind.js';
import { FsError } from '../../src/util/errors.js';
import { Prng } from '../../src/util/prng.js';
import { defer_make, loop_attach, loop_detach, loop_unavailable, tmpdir_make } from './loop.js';

const BLOCKS = 512;

/** Blocks of random content, each with its number in the first word. */
function blocks_random(rng: Prng, first: number, count: number): Buffer {
  const b = Buffer.alloc(count * BLOCK_SIZE);
  for (let i = 0; i < b.length; i += 4) b.writeUInt32LE(rng.u32(), i);
  for (let j = 0; j < count; j++) b.writeUInt32LE(first + j, j * BLOCK_SIZE);
  return b;
}

/**
 * Seeded writes (single blocks, runs, writev of several parts, some larger than a quarter of the
 * ring so they are split) with reads between them of blocks just written, read_async among them;
 * everything is checked against a model, then again through a fresh descriptor after close.
 */
async function exercise(t: Test, dev: FileDevice, devPath: string, seed: number): Promise<void> {
  const rng = new Prng(seed);
  const model = Buffer.alloc(BLOCKS * BLOCK_SIZE);
  for (let i = 0; i < 400; i++) {
    const count = rng.int(0, 9) === 0 ? 1 + rng.int(0, 95) : 1 + rng.int(0, 7);
    const addr = rng.int(0, BLOCKS - count);
    const data = blocks_random(rng, addr, count);
    if (count > 1 && rng.int(0, 1) === 0) {
      const cut = 1 + rng.int(0, count - 2);
      dev.writev(addr, [data.subarray(0, cut * BLOCK_SIZE), data.subarray(cut * BLOCK_SIZE)]);
    } else {
      dev.write(addr, data);
    }
    data.copy(model, addr * BLOCK_SIZE);
    // the caller may reuse its buffer at once: the device copied it
    data.fill(0xee);
    if (rng.int(0, 3) === 0) {
      const r = Math.max(0, addr - 2 + rng.int(0, 3));
      const n = Math.min(BLOCKS - r, 1 + rng.int(0, 11));
      if (!dev.read(r, n).equals(model.subarray(r * BLOCK_SIZE, (r + n) * BLOCK_SIZE))) {
        t.fail(`read of [${r}, +${n}) after write ${i} differs from what was written`);
        return;
      }
    }
    if (rng.int(0, 15) === 0) {
      const into = Buffer.alloc(count * BLOCK_SIZE);
      await new Promise<void>((ok, no) => dev.read_async(addr, count, into, (e) => (e ? no(e) : ok())));
      if (!into.equals(model.subarray(addr * BLOCK_SIZE, (addr + count) * BLOCK_SIZE))) {
        t.fail(`read_async of [${addr}, +${count}) after write ${i} differs from what was written`);
        return;
      }
    }
    if (rng.int(0, 49) === 0) dev.flush();
  }
  t.ok(dev.read(0, BLOCKS).equals(model), 'every block reads back as last written, before any flush');
  dev.flush();
  dev.close();
  const again = device_open(devPath);
  t.ok(again.read(0, BLOCKS).equals(model), 'after close, a fresh descriptor reads every block as written');
  again.close();
}

t.test('image file: writes through the thread read back at once and after close', async (t) => {
  const defer = defer_make(t);
  const dir = tmpdir_make(defer);
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, Buffer.alloc(BLOCKS * BLOCK_SIZE));
  // a 256 KiB ring: writes wrap round it, wait for room and are split
  const dev = device_open(file, { writeBehind: 256 << 10 });
  t.equal(dev.writeBehind, true);
  await exercise(t, dev, file, 1);
});

t.test('loop device: writes from the thread, reads through the page cache', { skip: loop_unavailable() ?? false }, async (t) => {
  const defer = defer_make(t);
  const dir = tmpdir_make(defer);
  const img = path.join(dir, 'disk.img');
  fs.writeFileSync(img, Buffer.alloc(BLOCKS * BLOCK_SIZE));
  const loop = loop_attach(img);
  defer(() => loop_detach(loop));
  // read everything first, so the device's page cache holds every block a queued write replaces
  const warm = device_open(loop);
  warm.read(0, BLOCKS);
  warm.close();
  const dev = device_open(loop, { exclusive: true, writeBehind: 512 << 10 });
  t.equal(dev.writeBehind, true);
  await exercise(t, dev, loop, 2);
});

t.test('a failed write fails every later write and flush with EIO naming it', (t) => {
  // /dev/full fails every write with ENOSPC
  const fd = fs.openSync('/dev/full', 'r+');
  const wb = new WriteBehind(fd, '/dev/full', 1 << 20);
  t.teardown(() => { wb.close(); fs.closeSync(fd); });
  wb.write(7, [Buffer.alloc(BLOCK_SIZE)]); // queued: the failure is not known yet
  const expect = { name: 'FsError', code: 'EIO', message: /\/dev\/full: write of block 7 failed: ENOSPC/ };
  t.throws(() => wb.drain_checked(), expect, 'the flush after it reports the write');
  t.throws(() => wb.write(8, [Buffer.alloc(BLOCK_SIZE)]), expect, 'and every later write');
  t.throws(() => wb.inline_ok(BLOCK_SIZE), expect, 'and a write the caller would make itself');
  t.throws(() => wb.drain_checked(), expect, 'and every later flush');
  t.type(wb.error(), FsError);
  t.end();
});

t.test('read-only devices have no write-behind thread', (t) => {
  const defer = defer_make(t);
  const dir = tmpdir_make(defer);
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, Buffer.alloc(8 * BLOCK_SIZE));
  const dev = device_open(file, { readOnly: true, writeBehind: true });
  defer(() => dev.close());
  t.equal(dev.writeBehind, false);
  t.end();
});
