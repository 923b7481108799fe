import t from 'tap';
import { MemoryDevice } from '../../src/device/memory.js';
import { BLOCK_SIZE } from '../../src/device/device.js';
import { AssertionError } from '../../src/util/assert.js';
import { pattern_block } from './loop.js';

t.test('MemoryDevice: round trip, multi-block requests, copies in and out', async (t) => {
  const dev = new MemoryDevice(16);
  t.equal(dev.blockCount, 16);
  t.equal(dev.name, 'memory');
  t.same(dev.read(5), Buffer.alloc(BLOCK_SIZE), 'a fresh device reads zeros');
  const data = Buffer.concat([pattern_block(2), pattern_block(3), pattern_block(4)]);
  dev.write(2, data);
  data.fill(0xff);
  t.same(dev.read(3), pattern_block(3), 'write copied the caller\'s buffer');
  const got = dev.read(2, 3);
  t.same(got, Buffer.concat([pattern_block(2), pattern_block(3), pattern_block(4)]), 'multi-block read');
  got.fill(0);
  t.same(dev.read(2), pattern_block(2), 'read returned a copy');
  dev.flush();
  dev.discard(0, 16);
  t.same(dev.read(4), pattern_block(4), 'discard is a no-op');
  const img = dev.image();
  t.equal(img.length, 16 * BLOCK_SIZE);
  t.same(img.subarray(2 * BLOCK_SIZE, 5 * BLOCK_SIZE), Buffer.concat([pattern_block(2), pattern_block(3), pattern_block(4)]));
  img.fill(1);
  t.same(dev.read(0), Buffer.alloc(BLOCK_SIZE), 'image() is a copy');
});

t.test('MemoryDevice.from copies an image and checks its size', async (t) => {
  const src = Buffer.concat([pattern_block(0), pattern_block(1)]);
  const dev = MemoryDevice.from(src, 'golden');
  t.equal(dev.name, 'golden');
  t.equal(dev.blockCount, 2);
  src.fill(0);
  t.same(dev.read(1), pattern_block(1), 'the device does not alias the source image');
  t.throws(() => MemoryDevice.from(Buffer.alloc(BLOCK_SIZE + 1)), RangeError, 'not whole blocks');
  t.throws(() => new MemoryDevice(-1), RangeError);
});

t.test('MemoryDevice: bad requests and use after close', async (t) => {
  const dev = new MemoryDevice(4);
  t.throws(() => dev.read(4), RangeError);
  t.throws(() => dev.write(3, Buffer.alloc(2 * BLOCK_SIZE)), RangeError);
  t.throws(() => dev.write(0, Buffer.alloc(10)), RangeError);
  t.throws(() => dev.discard(0, 5), RangeError);
  dev.close();
  t.throws(() => dev.read(0), AssertionError);
  t.throws(() => dev.flush(), AssertionError);
});

t.test('MemoryDevice: writev is write of the joined parts', async (t) => {
  const dev = new MemoryDevice(8);
  const parts = [pattern_block(1), Buffer.concat([pattern_block(2), pattern_block(3)])];
  dev.writev(1, parts);
  parts[0]!.fill(0);
  t.same(dev.read(0, 5), Buffer.concat([Buffer.alloc(BLOCK_SIZE), pattern_block(1), pattern_block(2), pattern_block(3), Buffer.alloc(BLOCK_SIZE)]), 'parts in order, copied');
  t.throws(() => dev.writev(7, [pattern_block(1), pattern_block(2)]), RangeError, 'past the end');
  t.throws(() => dev.writev(0, [Buffer.alloc(100)]), RangeError, 'not whole blocks');
});
