// The redo log remembers at most redoKeysMax changed keys: past that many changes without an
// fsync it lets them go (a long rm -rf held every key until the next checkpoint: 30 MiB for
// 100,000 files), and the next fsync writes a checkpoint, as it would for that many keys. After
// the checkpoint redo groups are written again; a crash after each kind of fsync keeps what it
// made durable. Ends with fsck.

import t from 'tap';
import { fsck_ok, mkfs_mem, mount } from '../helpers/engine.js';
import { FileSystem } from '../../src/fs/fs.js';
import { content } from '../helpers/model.js';

t.test('past redoKeysMax the keys are let go and fsync writes a checkpoint', async (t) => {
  const dev = mkfs_mem(4096);
  const fs = mount(dev, { redoKeysMax: 64, dirtyNodesMax: 100_000 });
  const v = fs.vol;
  const a = fs.create(1, 'a', 0o644).ino;
  fs.write(a, 0, content(1, 3000));
  t.notOk(v.redo_overflowed, 'a few changes: remembered');
  t.ok(v.redo_pending_keys > 0 && v.redo_pending_keys <= 64, `${v.redo_pending_keys} keys pending`);
  const cps = v.stats.checkpoints, groups = v.stats.redoGroups;
  fs.fsync(a);
  t.equal(v.stats.redoGroups, groups + 1, 'fsync of a few changes: a redo group');
  t.equal(v.stats.checkpoints, cps, 'and no checkpoint');

  // many changes without an fsync: more keys than a redo group may carry
  for (let i = 0; i < 100; i++) fs.create(1, `f${i}`, 0o644);
  t.ok(v.redo_overflowed, '100 files created, three keys or more each: past the bound, let go');
  t.equal(v.redo_pending_keys, Infinity, 'the next redo group could not carry them');
  fs.write(a, 0, content(2, 3000));
  fs.fsync(a);
  t.equal(v.stats.checkpoints, cps + 1, 'the next fsync writes a checkpoint');
  t.equal(v.stats.redoGroups, groups + 1, 'not a redo group');
  t.notOk(v.redo_overflowed, 'and the keys are remembered again after it');

  fs.write(a, 0, content(3, 3000));
  fs.create(1, 'late', 0o644);
  fs.fsync(a);
  t.equal(v.stats.redoGroups, groups + 2, 'after the checkpoint, fsync of a few changes: a redo group again');

  // a crash: everything the checkpoint and the last redo group made durable is there
  v.abandon();
  const fs2 = FileSystem.mount(dev);
  t.ok(fs2.read(fs2.resolve('/a'), 0, 3000).equals(content(3, 3000)), '/a holds what the last fsync made durable');
  let found = 0;
  for (let i = 0; i < 100; i++) { try { fs2.resolve(`/f${i}`); found++; } catch { /* missing */ } }
  t.equal(found, 100, 'the files the checkpoint carried are there');
  t.ok(fs2.resolve('/late') > 0, 'and the file the last redo group carried');
  fs2.unmount();
  fsck_ok(t, dev);
});
