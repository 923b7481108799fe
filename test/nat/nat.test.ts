// The node address table on its own: ids handed out with one reference, placed, shared, freed
// and reused; the table full is ENOSPC; node id 0 is never used.

import t from 'tap';
import { geometry_for } from '../../src/checkpoint/mkfs.js';
import { MetaTable, PageCache } from '../../src/log/metatable.js';
import { Nat } from '../../src/nat/nat.js';
import { nid_of } from '../../src/util/ids.js';

function nat_new(blocks = 256): Nat {
  const g = geometry_for(blocks, { segBlocks: 8 });
  return new Nat(new MetaTable(g.tables[0]!, new PageCache(64)));
}

t.test('alloc gives a free id with one reference and no block; place and free', async (t) => {
  const nat = nat_new();
  const a = nat.alloc(5);
  t.equal(a, 1, 'node id 0 is never used');
  t.equal(nat.refs(a), 1);
  t.equal(nat.addr(a), 0, 'no block until written');
  t.equal(nat.birth(a), 5);
  t.equal(nat.used, 1);
  nat.place(a, 900, 6);
  t.equal(nat.addr(a), 900);
  t.equal(nat.birth(a), 6, 'birth follows the write');
  nat.refs_set(a, 2);
  t.equal(nat.refs(a), 2, 'shared by two parents');
  t.throws(() => nat.free(a), /2 references/, 'freeing a referenced node is an assertion');
  nat.refs_set(a, 0);
  t.equal(nat.free(a), 900, 'free returns the block it occupied');
  t.equal(nat.addr(a), 0);
  t.equal(nat.used, 0);
  t.throws(() => nat.place(a, 901, 7), /placing free node/);
  t.ok(nat.t.dirty.size > 0, 'every change marks its table block dirty');
});

t.test('ids are taken from a rotating cursor and reused after it wraps; a full table is ENOSPC', async (t) => {
  const nat = nat_new();
  const cap = nat.capacity;
  const ids: number[] = [];
  for (let i = 1; i < cap; i++) ids.push(nat.alloc(1));
  t.same(ids.slice(0, 3), [1, 2, 3], 'in order');
  t.equal(nat.used, cap - 1, `${cap - 1} ids in use`);
  t.throws(() => nat.alloc(1), { code: 'ENOSPC' }, 'the table full');
  nat.refs_set(nid_of(7), 0);
  nat.free(nid_of(7));
  t.equal(nat.alloc(1), 7, 'the one free id is found again');
});

t.test('load takes the used count and the cursor from the checkpoint', async (t) => {
  const nat = nat_new();
  for (let i = 0; i < 10; i++) nat.alloc(1);
  const used = nat.used;
  nat.load(used, 4);
  t.equal(nat.used, 10);
  t.equal(nat.cursor_hint, 4);
  nat.load(used, nat.capacity + 5);
  t.equal(nat.cursor_hint, 1, 'a hint outside the table starts at 1');
});
