// A volume that was not unmounted cleanly, opened read-only (cowlog mount -o ro, fsck -n,
// cowlog info, and fsck's first look before it recovers): what fsync made durable is rolled
// forward in memory, on the newest checkpoint. Roll-forward used to go through the writable
// check and fail with EROFS, which made the newest checkpoint look damaged: the read-only view
// fell back to an older checkpoint without the fsync'd files, and fsck reported an error for a
// filesystem that mounts fine. With norecovery (mount -o ro,norecovery) nothing is rolled
// forward: the last checkpoint as it is, and the log left for the next mount.

import t from 'tap';
import { Volume } from '../../src/checkpoint/volume.js';
import { FileSystem } from '../../src/fs/fs.js';
import { fsck } from '../../src/fsck/fsck.js';
import { mkfs_mem, mount } from '../helpers/engine.js';

t.test('fsync groups are rolled forward by a read-only open', async (t) => {
  const dev = mkfs_mem(2048);
  const fs = mount(dev);
  const a = fs.create(1, 'a', 0o644).ino;
  fs.write(a, 0, Buffer.from('durable by fsync'));
  fs.fsync(a);
  const seq = fs.vol.seq;
  // the server is killed here: no unmount, no checkpoint after the fsync
  fs.vol.abandon();

  const v = Volume.open(dev, { readOnly: true });
  t.equal(v.seq, seq, 'the newest checkpoint is mounted, not an older one');
  t.same(v.mount.skipped, [], 'no checkpoint is reported damaged');
  t.equal(v.mount.groups, 1, 'the fsync group is rolled forward (in memory)');
  v.abandon();

  const ro = FileSystem.mount(dev, { readOnly: true });
  t.equal(ro.read(ro.lookup(1, 'a').ino, 0, 100).toString(), 'durable by fsync', 'a read-only mount shows the fsync\'d file');
  ro.unmount();

  const r = fsck(dev, { readOnly: true, data: true });
  t.same(r.errors, [], 'fsck -n: clean');
  t.equal(r.rolledForward, 1, 'fsck -n rolls the group forward in memory');
  const w = fsck(dev, { data: true });
  t.same(w.errors, [], 'fsck: clean');
  t.ok(w.recovered, 'fsck recovered the filesystem for real');
  const fs2 = mount(dev);
  t.equal(fs2.read(fs2.lookup(1, 'a').ino, 0, 100).toString(), 'durable by fsync', 'and it mounts with the file');
  fs2.unmount();
});

t.test('norecovery: the last checkpoint as it is; the log stays for the next mount', async (t) => {
  const dev = mkfs_mem(2048);
  const fs = mount(dev);
  const a = fs.create(1, 'a', 0o644).ino;
  fs.write(a, 0, Buffer.from('checkpointed'));
  fs.sync();
  fs.write(a, 0, Buffer.from('fsync\'d after'));
  const b = fs.create(1, 'b', 0o644).ino;
  fs.fsync(a);
  fs.fsync(b);
  // the server is killed here
  fs.vol.abandon();

  t.throws(() => FileSystem.mount(dev, { noRecovery: true }), /norecovery is for read-only mounts/, 'norecovery read-write: EINVAL');
  const nr = FileSystem.mount(dev, { readOnly: true, noRecovery: true });
  t.equal(nr.vol.mount.groups, 0, 'nothing rolled forward');
  t.match(nr.vol.mount.redoStop, /norecovery/, 'the mount report says why');
  t.equal(nr.read(a, 0, 100).toString(), 'checkpointed', 'the file as the checkpoint has it');
  t.throws(() => nr.lookup(1, 'b'), /no entry/, 'the file made after it is not there');
  nr.unmount();

  const fs2 = mount(dev);
  t.ok(fs2.vol.mount.groups >= 1, `a mount without it rolls the log forward (${fs2.vol.mount.groups} groups)`);
  t.equal(fs2.read(a, 0, 100).toString(), 'fsync\'d after', 'the fsync\'d data');
  t.ok(fs2.lookup(1, 'b').ino > 0, 'and the fsync\'d file');
  fs2.unmount();
  const r = fsck(dev, { readOnly: true, data: true });
  t.same(r.errors, [], 'fsck: clean');
});
