// The bounded queue of records between the mount and a tracer: order kept, chunks whole,
// nothing grows past its capacity, and what is dropped is counted.

import t from 'tap';
import { RecordQueue } from '../../src/util/record_queue.js';

/** Queues record `i`: its number, in a record of `n` bytes (at least 4). */
function put(q: RecordQueue, i: number, n = 8): boolean {
  if (!q.reserve(n)) return false;
  q.buf.writeUInt32LE(i, q.pos);
  q.commit(q.pos + n);
  return true;
}

function drain(q: RecordQueue, n = 8): number[] {
  const got: number[] = [];
  for (let b = q.take(); b !== null; b = q.take()) {
    t.equal(b.length % n, 0, `a chunk of whole records (${b.length} bytes)`);
    for (let p = 0; p < b.length; p += n) got.push(b.readUInt32LE(p));
  }
  return got;
}

t.test('records come out in order, in chunks, and a full queue drops and counts', async (t) => {
  const q = new RecordQueue(100, 64);
  for (let i = 0; i < 30; i++) t.ok(put(q, i));
  t.equal(q.size, 30);
  t.ok(q.full, 'chunks of 64 bytes are sealed as they fill');
  t.same(drain(q), [...Array(30).keys()]);
  t.equal(q.size, 0);
  t.equal(q.take(), null, 'empty');
  for (let i = 0; i < 130; i++) put(q, 1000 + i);
  t.equal(q.size, 100, 'at most its capacity');
  t.equal(q.lost, 30, 'the rest counted');
  t.equal(q.lost_take(), 30);
  t.equal(q.lost, 0, 'and cleared once read');
  t.same(drain(q), Array.from({ length: 100 }, (_, i) => 1000 + i), 'the oldest kept, in order');
  t.ok(put(q, 7), 'room again once taken');
});

t.test('a record larger than a chunk gets a chunk of its own', async (t) => {
  const q = new RecordQueue(10, 64);
  put(q, 1);
  t.ok(q.reserve(200));
  q.buf.writeUInt32LE(2, q.pos);
  q.commit(q.pos + 200);
  put(q, 3);
  const sizes: number[] = [];
  for (let b = q.take(); b !== null; b = q.take()) sizes.push(b.length);
  t.same(sizes, [8, 200, 8]);
  t.throws(() => new RecordQueue(0), /queue capacity 0/);
  t.throws(() => { const r = new RecordQueue(4, 64); r.reserve(8); r.commit(r.pos + 100); }, /record end 100 outside 0\.\.64/);
});
