// The directory path cache of a mount: forgetting a directory forgets exactly the paths below
// it (not a sibling sharing a prefix), and costs what it forgets, not the size of the cache.

import t from 'tap';
import { DirCache } from '../../src/fuse/dircache.js';

t.test('forget: the path and the paths below it, nothing else', async (t) => {
  const c = new DirCache(1000);
  for (const [p, ino] of [['/a', 2], ['/a/b', 3], ['/a/b/c', 4], ['/a/bc', 5], ['/a/b-c', 6], ['/ab', 7], ['/a/b/c/d', 8]] as const) c.set(p, ino);
  t.equal(c.forget('/a/b'), 3, '/a/b, /a/b/c and /a/b/c/d');
  t.same(['/a', '/a/b', '/a/b/c', '/a/bc', '/a/b-c', '/ab', '/a/b/c/d'].map((p) => c.get(p) ?? null), [2, null, null, 5, 6, 7, null], 'siblings sharing the prefix stay');
  t.equal(c.forget('/nothing'), 0);
  t.equal(c.size, 4);
});

t.test('full: starts over; the cost of forgetting follows what is forgotten', async (t) => {
  const c = new DirCache(70_000);
  for (let i = 0; i < 60_000; i++) c.set(`/d${i % 600}/s${i}`, i + 10);
  for (let i = 0; i < 600; i++) c.set(`/d${i}`, i + 1);
  const t0 = process.hrtime.bigint();
  let n = 0;
  for (let i = 0; i < 600; i += 6) n += c.forget(`/d${i}`);
  const us = Number(process.hrtime.bigint() - t0) / 1000;
  t.equal(n, 100 * 101, 'a hundred directories of a hundred paths each, with the directories');
  t.equal(c.size, 60_600 - n);
  t.comment(`forgetting 100 directories in a cache of 60,600 paths: ${us.toFixed(0)} us`);
  const small = new DirCache(3);
  small.set('/x', 1); small.set('/y', 2); small.set('/z', 3);
  small.set('/w', 4);
  t.same([small.size, small.get('/w'), small.get('/x')], [1, 4, undefined], 'the fourth path starts the cache over');
});
