import t from 'tap';
import { LruMap } from '../../src/util/lru.js';
import { Prng } from '../../src/util/prng.js';

t.test('LruMap keeps the order a Map with delete + set would, against a model', async (t) => {
  const lru = new LruMap<number, number>();
  const model = new Map<number, number>();
  const rng = new Prng(7);
  for (let i = 0; i < 20_000; i++) {
    const k = rng.int(0, 63);
    const op = rng.int(0, 4);
    if (op === 0) {
      t.equal(lru.delete(k), model.delete(k));
    } else if (op === 1) {
      lru.set(k, i);
      model.delete(k);
      model.set(k, i);
    } else if (op === 2) {
      const v = model.get(k);
      if (v !== undefined) { model.delete(k); model.set(k, v); }
      t.equal(lru.get(k), v);
    } else if (op === 3) {
      t.equal(lru.peek(k), model.get(k));
    } else if (i % 500 === 4) {
      // an eviction walk that deletes odd values and moves even ones to the young end
      const seen = new Set<number>();
      for (const [key, v] of lru.from_oldest()) {
        t.notOk(seen.has(key), `key ${key} given twice in one walk`);
        seen.add(key);
        if (v % 2 === 1) { lru.delete(key); model.delete(key); } else { lru.get(key); model.delete(key); model.set(key, v); }
      }
    }
    if (i % 100 === 0) {
      t.same([...lru.keys()], [...model.keys()], `order after ${i} operations`);
      t.equal(lru.size, model.size);
    }
  }
  t.same([...lru.values()], [...model.values()], 'values in order at the end');
  lru.clear();
  t.equal(lru.size, 0);
  t.same([...lru.keys()], [], 'cleared');
});

t.test('deleting every entry while walking them leaves an empty map', async (t) => {
  const lru = new LruMap<string, number>();
  for (let i = 0; i < 100; i++) lru.set(`k${i}`, i);
  const order: number[] = [];
  for (const k of lru.keys()) { order.push(lru.peek(k)!); lru.delete(k); }
  t.same(order, [...Array(100).keys()], 'oldest first, every key once');
  t.equal(lru.size, 0);
});

t.test('a walk limited to the size it began with gives no moved entry twice', async (t) => {
  const lru = new LruMap<number, number>();
  for (let i = 0; i < 10; i++) lru.set(i, i);
  const given: number[] = [];
  for (const [k] of lru.from_oldest()) { given.push(k); lru.get(k); }
  t.same(given, [...Array(10).keys()], 'ten entries given, each once');
  t.same([...lru.keys()], [...Array(10).keys()], 'all moved to the young end in the order given');
});

t.test('walk visits from the oldest until told to stop, and may delete or move what it visits', async (t) => {
  const lru = new LruMap<number, string>();
  for (let i = 0; i < 8; i++) lru.set(i, `v${i}`);
  t.equal(lru.oldest_key(), 0, 'the oldest key');
  t.same([lru.oldest_entry()?.key, lru.oldest_entry()?.value], [0, 'v0'], 'and its entry');
  const seen: number[] = [];
  lru.walk((k) => { seen.push(k); if (k % 2 === 0) lru.delete(k); else lru.get(k); return seen.length < 6; });
  t.same(seen, [0, 1, 2, 3, 4, 5], 'stopped after the sixth');
  t.same([...lru.keys()], [6, 7, 1, 3, 5], 'evens deleted, odds moved to the young end in order');
  t.equal(lru.oldest_key(), 6);
  const all: number[] = [];
  lru.walk((k) => { all.push(k); lru.get(k); return true; });
  t.same(all, [6, 7, 1, 3, 5], 'a full walk that moves each entry gives each once');
  lru.clear();
  t.equal(lru.oldest_key(), undefined, 'empty: no oldest key');
  t.equal(lru.oldest_entry(), undefined, 'nor entry');
});
