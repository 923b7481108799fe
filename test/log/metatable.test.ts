// The metadata tables' page cache (src/log/metatable.ts): clean pages are evicted in clock order
// within the budget, dirty pages never, and a page just read is never the one evicted to make
// room for itself — when every other page is dirty, a second turn of the hand used to find the
// new page clean and no longer referenced, and the entry about to be marked lost its page.

import t from 'tap';
import type { TableGeom } from '../../src/format/geometry.js';
import { MetaTable, PageCache } from '../../src/log/metatable.js';

/** A table of `blocks` blocks of 4-byte entries, 1,024 to a block. */
function table(cache: PageCache, blocks: number): MetaTable {
  const geom: TableGeom = { id: 0 as TableGeom['id'], name: 'TEST', entryBytes: 4, perBlock: 1024, entries: blocks * 1024, blocks, dirBase: 0 };
  return new MetaTable(geom, cache);
}

t.test('a page read into a cache full of dirty pages stays until it is marked', async (t) => {
  const cache = new PageCache(8);
  const tab = table(cache, 32);
  for (let b = 0; b < 8; b++) tab.set_u32(b * 1024, 0, b + 1);
  t.equal(cache.stats().dirtyPages, 8, 'eight dirty pages fill the budget');
  // the ninth block: read in, then marked; no clean page to evict but itself
  t.doesNotThrow(() => tab.set_u32(8 * 1024 + 5, 0, 99), 'an entry of a ninth block is set and marked');
  t.equal(tab.u32(8 * 1024 + 5, 0), 99);
  t.same(cache.stats(), { pages: 9, dirtyPages: 9, budgetPages: 8, loads: 0, evictions: 0 }, 'the cache is over its budget by dirty pages only');
  // clean pages come and go beyond that; the dirty ones stay
  for (let b = 9; b < 32; b++) t.equal(tab.u32(b * 1024, 0), 0);
  t.equal(cache.stats().pages, 10, 'reads of clean blocks evict clean pages, one at a time');
  t.ok(cache.stats().evictions >= 22, 'each evicted in turn');
  for (let b = 0; b <= 8; b++) t.ok(tab.resident(b), `dirty block ${b} still in memory`);
  for (let b = 0; b < 8; b++) tab.clean(b);
  tab.clean(8);
  t.equal(tab.u32(31 * 1024, 0), 0);
  t.equal(tab.u32(3 * 1024, 0), 4, 'cleaned pages keep their entries while in memory');
  cache.budget_set(8);
  t.ok(cache.stats().pages <= 8, 'cleaned, they are evicted back to the budget');
});
