// What the kernel holds (src/fuse/held.ts): lookups counted and forgotten, names followed through
// renames and unlinks, negative entries bounded and expired in order, and everything invalidated
// at once for a rollback.

import t from 'tap';
import { KernelHeld, NEGATIVE_MAX } from '../../src/fuse/held.js';
import type { FuseNotifier } from '../../src/fuse/held.js';

t.test('lookups, names and paths', async (t) => {
  const h = new KernelHeld();
  h.entry_given(2, 1, 'd');
  h.entry_given(3, 2, 'f');
  h.entry_given(3, 1, 'link');
  t.equal(h.path_of(3), '/d/f', 'a path from the first name answered');
  t.equal(h.child_path(2, 'x'), '/d/x', 'a child path');
  h.name_moved(3, 2, 'f', 1, 'g');
  t.equal(h.path_of(3), '/g', 'a rename moves the name');
  h.name_gone(3, 1, 'g');
  t.equal(h.path_of(3), '/link', 'an unlinked name goes; the other remains');
  h.forget(3, 1);
  t.ok(h.has(3), 'two lookups counted, one forgotten: still held');
  h.forget(3, 1);
  t.notOk(h.has(3), 'the last forget drops it');
  t.equal(h.path_of(3), '', 'and its path is no longer known');
});

t.test('negative entries: remembered until their timeout, bounded, dropped oldest first', async (t) => {
  const h = new KernelHeld();
  t.equal(h.negative_given(1, 'a', 0, 0), 0, 'no timeout: nothing remembered');
  for (let i = 0; i < NEGATIVE_MAX; i++) h.negative_given(1, `n${i}`, 60, i);
  t.equal(h.negative_given(1, 'full', 60, 100), 0, `at ${NEGATIVE_MAX} unexpired answers a new one gets no timeout`);
  t.equal(h.negative_given(1, 'later', 60, 60_000 + 10), 60, 'once the oldest expired, a new one is cached again');
  const sent: string[] = [];
  const n: FuseNotifier = {
    inval_inode: (ino) => { sent.push(`inode ${ino}`); },
    inval_entry: (parent, name) => { sent.push(`entry ${parent}/${name}`); },
    invalidated: () => Promise.resolve(),
  };
  h.entry_given(5, 1, 'kept');
  await h.invalidate_all(n, 60_000 + 20);
  t.ok(sent.includes('inode 1') && sent.includes('inode 5') && sent.includes('entry 1/kept'), 'every inode and name held is invalidated');
  t.ok(sent.includes('entry 1/later') && !sent.includes('entry 1/n0'), 'negative entries still cached are, expired ones not');
  t.equal(sent.filter((s) => s.startsWith('entry 1/n')).length, NEGATIVE_MAX - 21, 'the unexpired of the first batch (those given at 0..20 ms expired by 60,020 ms)');
});
