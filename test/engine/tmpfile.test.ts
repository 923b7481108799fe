// open(2) with O_TMPFILE in the engine (FileSystem.tmpfile): a regular file of no name, opened
// once, that readdir never lists and the directory does not see change; freed with its blocks
// at its last release, or by the next mount after a power cut; named by link() (linkat(2) of
// the open file) when it was made linkable, and then an ordinary file that survives. What the
// kernel would refuse through its own inode flags (an immutable directory) cowlog refuses, as
// it does for any new file. Every test ends with fsck.

import t from 'tap';
import { BLOCK_SIZE } from '../../src/device/device.js';
import { SimDevice } from '../../src/device/sim.js';
import { FileSystem } from '../../src/fs/fs.js';
import { clock_fixed } from '../../src/checkpoint/clock.js';
import { errno_of, fsck_ok, mkfs_mem, mount } from '../helpers/engine.js';
import { content } from '../helpers/model.js';

const IMMUTABLE = 0x10;
const names = (fs: FileSystem, d: number): string[] => fs.readdir(d).map((e) => e.name.toString()).filter((n) => n !== '.' && n !== '..').sort();

t.test('a file of no name: written, read, not listed, freed at its release', async (t) => {
  const dev = mkfs_mem(4096);
  const fs = mount(dev);
  const d = fs.mkdir(1, 'd', 0o755).ino;
  fs.sync();
  const before = fs.statfs();
  const dirBefore = fs.getattr(d);
  const a = fs.tmpfile(d, 0o640, 1000, 100);
  t.equal(a.nlink, 0, 'nlink 0');
  t.equal(a.mode, 0o100640, 'a regular file with the mode asked for');
  t.equal(a.uid, 1000, 'the owner asked for');
  t.ok(a.btime.s > 0 || a.btime.ns > 0, 'a birth time');
  fs.write(a.ino, 0, content(1, 5 * BLOCK_SIZE + 7));
  t.same(fs.read(a.ino, 0, 6 * BLOCK_SIZE), content(1, 5 * BLOCK_SIZE + 7), 'reads back what was written');
  t.same(names(fs, d), [], 'readdir does not list it');
  t.same(fs.getattr(d).mtime, dirBefore.mtime, 'the directory did not change');
  fs.sync();
  const held = fs.statfs().bfree;
  t.ok(held <= before.bfree - 6, `its six blocks are in use (${before.bfree} free before, ${held} after)`);
  fs.release(a.ino);
  t.equal(errno_of(() => fs.getattr(a.ino)), 'ENOENT', 'released: gone');
  fs.sync();
  t.ok(fs.statfs().bfree >= held + 6, `its blocks are free again (${held} free while it was open, ${fs.statfs().bfree} after)`);
  fs.unmount();
  const fs2 = mount(dev);
  t.equal(errno_of(() => fs2.getattr(a.ino)), 'ENOENT', 'and after a remount its inode is not there');
  fs2.unmount();
  fsck_ok(t, dev);
});

t.test('link() names a linkable one, which then lives on; an O_EXCL one can not be named', async (t) => {
  const dev = mkfs_mem(4096);
  let fs = mount(dev);
  const d = fs.mkdir(1, 'd', 0o755).ino;
  const a = fs.tmpfile(d, 0o600, 0, 0);
  fs.write(a.ino, 0, content(2, 3 * BLOCK_SIZE));
  const l = fs.link(a.ino, 1, 'named');
  t.equal(l.nlink, 1, 'linked: nlink 1');
  t.equal(errno_of(() => fs.link(a.ino, 1, 'named')), 'EEXIST', 'the name is taken like any other');
  fs.link(a.ino, d, 'second');
  t.equal(fs.getattr(a.ino).nlink, 2, 'and it takes more names as any file');
  fs.release(a.ino);
  t.equal(fs.getattr(a.ino).nlink, 2, 'released: still there');
  const x = fs.tmpfile(d, 0o600, 0, 0, 0, false);
  t.equal(errno_of(() => fs.link(x.ino, 1, 'excl')), 'ENOENT', 'made with O_EXCL: link refused as for a removed file');
  fs.release(x.ino);
  fs.unmount();
  fs = mount(dev);
  t.same(names(fs, 1), ['d', 'named'], 'after a remount the name is there');
  t.same(names(fs, d), ['second'], 'both names');
  t.same(fs.read(fs.lookup(1, 'named').ino, 0, 4 * BLOCK_SIZE), content(2, 3 * BLOCK_SIZE), 'with its data');
  fs.unmount();
  fsck_ok(t, dev);
});

t.test('a power cut: an unnamed one is freed by the next mount, a named and synced one survives', async (t) => {
  const img = mkfs_mem(4096).image();
  const sim = SimDevice.from(img, { seed: 9 });
  const fs = FileSystem.mount(sim, { clock: clock_fixed(1_700_000_100) });
  const d = fs.mkdir(1, 'd', 0o755).ino;
  fs.sync();
  const orphan = fs.tmpfile(d, 0o600, 0, 0);
  fs.write(orphan.ino, 0, content(3, 8 * BLOCK_SIZE));
  fs.fsync(orphan.ino);
  const kept = fs.tmpfile(d, 0o600, 0, 0);
  fs.write(kept.ino, 0, content(4, 2 * BLOCK_SIZE + 100));
  fs.link(kept.ino, d, 'kept');
  fs.sync();
  // both still open when the power goes
  const after = sim.powerCut('flushed');
  const fs2 = FileSystem.mount(after, { clock: clock_fixed(1_700_000_200) });
  t.same(names(fs2, d), ['kept'], 'only the named one has a name');
  t.equal(errno_of(() => fs2.getattr(orphan.ino)), 'ENOENT', 'the unnamed one was freed by the mount');
  t.same(fs2.read(fs2.lookup(d, 'kept').ino, 0, 3 * BLOCK_SIZE), content(4, 2 * BLOCK_SIZE + 100), 'the named one with its data');
  fs2.unmount();
  fsck_ok(t, after, 'after the cut');
});

t.test('refusals: a removed or immutable directory, not a directory, a read-only mount', async (t) => {
  const dev = mkfs_mem(2048);
  let fs = mount(dev);
  const d = fs.mkdir(1, 'd', 0o755).ino;
  const f = fs.create(1, 'f', 0o644).ino;
  t.equal(errno_of(() => fs.tmpfile(f, 0o600)), 'ENOTDIR', 'in a file: ENOTDIR');
  fs.attr_flags_set(d, { fl: IMMUTABLE });
  t.equal(errno_of(() => fs.tmpfile(d, 0o600)), 'EPERM', 'in an immutable directory: EPERM');
  fs.attr_flags_set(d, { fl: 0 });
  const gone = fs.mkdir(1, 'gone', 0o755).ino;
  fs.rmdir(1, 'gone');
  t.equal(errno_of(() => fs.tmpfile(gone, 0o600)), 'ENOENT', 'in a removed directory: ENOENT');
  fs.unmount();
  fs = mount(dev, { readOnly: true });
  t.equal(errno_of(() => fs.tmpfile(d, 0o600)), 'EROFS', 'on a read-only mount: EROFS');
  fs.unmount();
  fsck_ok(t, dev);
});
