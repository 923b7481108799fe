// What the kernel holds (src/fuse/held.ts): lookups counted and forgotten, names followed through
// renames and unlinks, negative entries bounded and expired in order, and everything invalidated
// at once for a rollback.

import t from 'tap';
import v8 from 'node:v8';
import vm from 'node:vm';
import { HELD_BYTES, KernelHeld, NEGATIVE_MAX } from '../../src/fuse/held.js';
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

t.test('fresh: the first name, given within the window, and not once renamed or unlinked', async (t) => {
  let now = 100;
  const h = new KernelHeld(Infinity, () => now);
  h.entry_given(3, 2, 'f');
  h.entry_given(3, 1, 'link');
  t.ok(h.fresh(3, 2, 'f', 30), 'just given: fresh');
  t.notOk(h.fresh(3, 1, 'link', 30), 'a second name (a hard link) is never taken as fresh');
  t.notOk(h.fresh(3, 2, 'g', 30), 'nor a name it was not given under');
  t.notOk(h.fresh(4, 2, 'f', 30), 'nor an inode the kernel does not hold');
  now = 129.5;
  t.ok(h.fresh(3, 2, 'f', 30), '29.5 s later: within 30');
  now = 131;
  t.notOk(h.fresh(3, 2, 'f', 30), '31 s later: not');
  h.entry_given(3, 2, 'f');
  t.ok(h.fresh(3, 2, 'f', 30), 'given again (a lookup): fresh again');
  h.name_moved(3, 2, 'f', 2, 'g');
  t.notOk(h.fresh(3, 2, 'g', 30), 'renamed: the kernel moved its entry, whose timeout is not known here');
  h.entry_given(5, 2, 'e');
  h.name_gone(5, 2, 'e');
  t.notOk(h.fresh(5, 2, 'e', 30), 'unlinked: not fresh');
  t.notOk(new KernelHeld(Infinity, () => 0).fresh(3, 2, 'f', 30), 'nothing given: nothing fresh');
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

t.test('a name made drops its negative entry: the kernel replaced it', async (t) => {
  const h = new KernelHeld();
  let cached = 0;
  for (let i = 0; i < 1000; i++) if (h.negative_given(7, `f${i}`, 60, i) === 60) cached++;
  t.equal(cached, 1000, '1,000 names looked up and not there: each answered with a timeout');
  t.equal(h.negativeCount, 1000, 'and remembered');
  for (let i = 0; i < 1000; i += 2) h.negative_gone(7, `f${i}`);
  h.negative_gone(8, 'f1');
  t.equal(h.negativeCount, 500, 'creating half of them drops theirs; a name in another directory drops nothing');
  const sent: string[] = [];
  await h.invalidate_all({ inval_inode: () => {}, inval_entry: (p, n) => { sent.push(`${p}/${n}`); }, invalidated: () => Promise.resolve() }, 10);
  t.ok(sent.includes('7/f1') && !sent.includes('7/f0'), 'a rollback invalidates the negatives left, not the names made');
});

t.test('past its bound the table asks the kernel to drop the names held longest, once per pass', async (t) => {
  const h = new KernelHeld(128);
  const asked: string[] = [];
  h.notifier = {
    inval_inode: () => {},
    inval_entry: (parent, name) => { asked.push(`${parent}/${name}`); },
    invalidated: () => Promise.resolve(),
  };
  for (let i = 0; i < 128; i++) h.entry_given(100 + i, 1, `f${i}`);
  t.equal(asked.length, 0, 'nothing asked within the bound');
  for (let i = 128; i < 128 + 16; i++) h.entry_given(100 + i, 1, `f${i}`);
  t.equal(asked.length, 32, 'a batch past the bound asks for what is over it and a batch more');
  t.same(asked.slice(0, 3), ['1/f0', '1/f1', '1/f2'], 'the oldest first');
  t.same([h.fresh(100, 1, 'f0', 60), h.fresh(100 + 40, 1, 'f40', 60)], [false, true], 'a name asked for is no longer fresh (a listing gives its entry again); one not asked is');
  // the kernel forgets what it dropped, except f5 (in use)
  for (let i = 0; i < 32; i++) if (i !== 5) h.forget(100 + i, 1);
  t.equal(h.size, 144 - 31, 'forgotten ones leave the table');
  asked.length = 0;
  for (let i = 144; i < 144 + 16 * 3; i++) h.entry_given(100 + i, 1, `f${i}`);
  t.notOk(asked.includes('1/f5'), 'one asked already is not asked again in the same pass');
  t.equal(asked[0], '1/f32', 'the sweep goes on from where it stopped');
  t.equal(h.path_of(105), '/f5', 'an inode still held keeps its name and path');
});

t.test('a clock: given again since the sweep passed, or a directory, is skipped once', async (t) => {
  const h = new KernelHeld(64);
  const asked: string[] = [];
  h.notifier = { inval_inode: () => {}, inval_entry: (p, name) => { asked.push(name); }, invalidated: () => Promise.resolve() };
  h.entry_given(10, 1, 'dir', true);
  h.entry_given(11, 10, 'hot');
  for (let i = 0; i < 62; i++) h.entry_given(100 + i, 10, `f${i}`);
  h.entry_given(11, 10, 'hot'); // looked up again
  for (let i = 62; i < 62 + 16; i++) h.entry_given(100 + i, 10, `f${i}`);
  t.equal(asked.length, 32, 'the batch asked: what is over the bound and a batch more');
  t.notOk(asked.includes('dir') || asked.includes('hot'), 'neither the directory nor the inode given again');
  t.equal(asked[0], 'f0', 'the oldest of the rest first');
});

t.test('a held inode takes at most HELD_BYTES in the table', async (t) => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const N = 100_000;
  gc();
  // the heap and the typed arrays' memory outside it
  const used = (): number => { const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
  const before = used();
  const h = new KernelHeld();
  // names made as the binding makes them (a latin1 string from the request's bytes), kept by the table only
  for (let i = 0; i < N; i++) h.entry_given(1000 + i, 2 + (i % 100), Buffer.from(`file-${String(i).padStart(7, '0')}`).toString('latin1'));
  // (the buffers of arrays outgrown are freed by a thread of V8's after the collection)
  gc(); gc();
  await new Promise((r) => setTimeout(r, 50));
  gc();
  const per = (used() - before) / N;
  t.ok(per <= HELD_BYTES, `${per.toFixed(0)} bytes per held inode with its name of 12 bytes, at most ${HELD_BYTES}`);
  t.equal(h.size, N);
});

t.test('the sweep keeps none of the storage the table outgrew: held inodes come and go below the bound, memory stays', async (t) => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const h = new KernelHeld(20_000);
  h.notifier = { inval_inode: () => {}, inval_entry: () => {}, invalidated: () => Promise.resolve() };
  let next = 1000;
  const round = (n: number): void => {
    const first = next;
    for (let i = 0; i < n; i++) h.entry_given(next++, 2, `f${i}`);
    for (let ino = first; ino < next; ino++) h.forget(ino, 1);
  };
  // past the bound once: the sweep starts
  round(30_000);
  t.ok(h.asked > 0, `past the bound the kernel was asked to drop ${h.asked} names`);
  // then trees made and removed within it, as bench-scale's passes: the table's map grows and
  // shrinks each time, and no sweep runs
  const heap: number[] = [];
  for (let r = 0; r < 6; r++) {
    round(19_000);
    gc(); gc();
    heap.push(process.memoryUsage().heapUsed);
  }
  t.equal(h.size, 0, 'every inode forgotten');
  const grew = heap[5]! - heap[0]!;
  t.ok(grew < 1 << 20, `the heap after the first and the sixth round: ${(heap[0]! / 2 ** 20).toFixed(1)} and ${(heap[5]! / 2 ** 20).toFixed(1)} MiB (grew ${(grew / 2 ** 20).toFixed(2)} MiB, less than 1)`);
});
