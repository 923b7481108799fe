// Attribute flags (src/fs/chattr.ts): what chattr sets and lsattr shows, kept across a remount,
// and the rules Linux gives them — immutable files and directories change in no way,
// append-only ones are only added to, no-atime files keep their access time, sync files and
// dirsync directories are durable when each call returns (a power cut right after loses
// nothing) — with what passes from a directory to what is made in it, and a filesystem made
// without the feature refusing them. Every test ends with fsck.

import t from 'tap';
import { BLOCK_SIZE } from '../../src/device/device.js';
import { SimDevice } from '../../src/device/sim.js';
import { FileSystem } from '../../src/fs/fs.js';
import { clock_fixed } from '../../src/checkpoint/clock.js';
import type { Clock } from '../../src/checkpoint/clock.js';
import { FEATURE_ATTRS } from '../../src/format/superblock.js';
import { block_seal } from '../../src/format/block.js';
import { errno_of, fsck_ok, mkfs_mem, mount } from '../helpers/engine.js';
import { content } from '../helpers/model.js';

// Linux's FS_*_FL values, as chattr sends them
const COMPR = 0x4, SYNC = 0x8, IMMUTABLE = 0x10, APPEND = 0x20, NODUMP = 0x40, NOATIME = 0x80, NOCOMP = 0x400, NOCOW = 0x800000, DIRSYNC = 0x10000;
// FS_XFLAG_* (xfs_io chattr)
const X_IMMUTABLE = 0x8, X_APPEND = 0x10, X_NOATIME = 0x40, X_REALTIME = 0x1;

t.test('flags are set, shown and kept; what cowlog does not keep is refused', async (t) => {
  const dev = mkfs_mem(2048);
  let fs = mount(dev);
  const f = fs.create(1, 'f', 0o644).ino;
  const d = fs.mkdir(1, 'd', 0o755).ino;
  t.equal(fs.attr_flags(f), 0, 'a new file has none');
  const c0 = fs.getattr(f).ctime;
  fs.attr_flags_set(f, { fl: NODUMP | NOATIME | SYNC | COMPR });
  t.equal(fs.attr_flags(f), NODUMP | NOATIME | SYNC | COMPR, 'd, A, S and c set');
  t.not(fs.getattr(f).ctime, c0, 'the change time moved');
  t.equal(fs.getxattr(f, 'user.cowlog.compress').toString(), 'lz4', 'c is the compression attribute');
  t.equal(errno_of(() => fs.attr_flags_set(f, { fl: NOCOW })), 'ENOTSUP', 'C (no copy-on-write) is refused: cowlog always copies');
  t.equal(errno_of(() => fs.attr_flags_set(f, { fl: COMPR | NOCOMP })), 'EINVAL', 'c and m together: EINVAL');
  t.equal(fs.attr_flags(f), NODUMP | NOATIME | SYNC | COMPR, 'a refused change changes nothing');
  fs.attr_flags_set(f, { fl: DIRSYNC | NODUMP });
  t.equal(fs.attr_flags(f), NODUMP, 'D on a file is dropped, as ext4 drops it; c is cleared');
  fs.attr_flags_set(d, { fl: DIRSYNC | IMMUTABLE });
  // the fsxattr view: the flags it can say, the others (D) kept
  t.equal(fs.attr_xflags(d), X_IMMUTABLE, 'xfs_io sees immutable');
  fs.attr_flags_set(d, { x: X_NOATIME, extsize: 0, projid: 0, cowextsize: 0 });
  t.equal(fs.attr_flags(d), NOATIME | DIRSYNC, 'FSSETXATTR set A, cleared i and kept D');
  t.equal(errno_of(() => fs.attr_flags_set(d, { x: X_REALTIME, extsize: 0, projid: 0, cowextsize: 0 })), 'ENOTSUP', 'a real-time xflag: EOPNOTSUPP');
  t.equal(errno_of(() => fs.attr_flags_set(d, { x: 0, extsize: 0, projid: 7, cowextsize: 0 })), 'ENOTSUP', 'a project id: EOPNOTSUPP');
  fs.unmount();
  fs = mount(dev);
  t.equal(fs.attr_flags(f), NODUMP, 'the file\'s flags after a remount');
  t.equal(fs.attr_flags(d), NOATIME | DIRSYNC, 'the directory\'s');
  fs.unmount();
  fsck_ok(t, dev);
});

t.test('an immutable file: its data, size, attributes and names stay; reads do not', async (t) => {
  const dev = mkfs_mem(2048);
  const fs = mount(dev);
  const f = fs.create(1, 'f', 0o644).ino;
  fs.write(f, 0, content(1, 10_000));
  fs.setxattr(f, 'user.a', Buffer.from('1'));
  const g = fs.create(1, 'g', 0o644).ino;
  fs.attr_flags_set(f, { fl: IMMUTABLE });
  const refused: [string, () => unknown][] = [
    ['open for writing', () => fs.open_check(f, true, false, false)],
    ['open for appending', () => fs.open_check(f, true, true, false)],
    ['open with O_TRUNC', () => fs.open_check(f, false, false, true)],
    ['truncate', () => fs.truncate(f, 0)],
    ['chmod', () => fs.setattr(f, { mode: 0o600 })],
    ['chown', () => fs.setattr(f, { uid: 5 })],
    ['utimes to a time', () => fs.setattr(f, { mtime: { s: 1, ns: 0 } })],
    ['utimes to now (touch)', () => fs.setattr(f, { atime: 'now', mtime: 'now' })],
    ['a hard link', () => fs.link(f, 1, 'f2')],
    ['unlink', () => fs.unlink(1, 'f')],
    ['rename', () => fs.rename(1, 'f', 1, 'h')],
    ['rename over it', () => fs.rename(1, 'g', 1, 'f')],
    ['exchange with it', () => fs.rename(1, 'g', 1, 'f', { exchange: true })],
    ['setxattr', () => fs.setxattr(f, 'user.b', Buffer.from('2'))],
    ['removexattr', () => fs.removexattr(f, 'user.a')],
    ['fallocate', () => fs.fallocate(f, 0, 0, 8192)],
    ['punching a hole', () => fs.fallocate(f, 3, 0, 4096)],
    ['copy_file_range into it', () => fs.copy_range(g, 0, f, 0, 4096)],
  ];
  for (const [what, fn] of refused) t.equal(errno_of(fn), 'EPERM', `${what}: EPERM`);
  t.equal(errno_of(() => fs.open_check(f, false, false, false)), 'success', 'open for reading works');
  t.same(fs.read(f, 0, 10_000), content(1, 10_000), 'and reads the data');
  t.equal(fs.getattr(f).size, 10_000, 'the size stayed');
  t.equal(fs.getxattr(f, 'user.a').toString(), '1', 'the attribute stayed');
  t.equal(fs.lookup(1, 'g').ino, g, 'the other file kept its name');
  t.ok(fs.immutable(f), 'the mount is told it is immutable (it refuses writes through handles opened before)');
  fs.attr_flags_set(f, { fl: 0 });
  fs.truncate(f, 0);
  fs.unlink(1, 'f');
  t.equal(errno_of(() => fs.lookup(1, 'f')), 'ENOENT', 'with the flag cleared it goes');
  fs.unmount();
  fsck_ok(t, dev);
});

t.test('an append-only file is only added to', async (t) => {
  const dev = mkfs_mem(2048);
  const fs = mount(dev);
  const f = fs.create(1, 'f', 0o644).ino;
  fs.write(f, 0, content(2, 5000));
  fs.attr_flags_set(f, { fl: APPEND });
  t.equal(errno_of(() => fs.open_check(f, true, false, false)), 'EPERM', 'open for writing without O_APPEND: EPERM');
  t.equal(errno_of(() => fs.open_check(f, true, true, true)), 'EPERM', 'with O_TRUNC: EPERM');
  t.equal(errno_of(() => fs.open_check(f, true, true, false)), 'success', 'open with O_APPEND works');
  fs.write(f, 5000, content(3, 3000));
  t.same(fs.read(f, 0, 8000), Buffer.concat([content(2, 5000), content(3, 3000)]), 'an append lands');
  for (const [what, fn] of [
    ['truncate', () => fs.truncate(f, 100)],
    ['chmod', () => fs.setattr(f, { mode: 0o600 })],
    ['utimes to a time', () => fs.setattr(f, { atime: { s: 5, ns: 0 }, mtime: { s: 5, ns: 0 } })],
    ['unlink', () => fs.unlink(1, 'f')],
    ['rename', () => fs.rename(1, 'f', 1, 'h')],
    ['a hard link', () => fs.link(f, 1, 'f2')],
    ['setxattr', () => fs.setxattr(f, 'user.b', Buffer.from('2'))],
    ['punching a hole', () => fs.fallocate(f, 3, 0, 4096)],
    ['zeroing a range', () => fs.fallocate(f, 0x10, 0, 4096)],
  ] as [string, () => unknown][]) t.equal(errno_of(fn), 'EPERM', `${what}: EPERM`);
  t.equal(errno_of(() => fs.setattr(f, { atime: 'now', mtime: 'now' })), 'success', 'utimes to now (touch) works, as in Linux');
  t.equal(errno_of(() => fs.setattr(f, { mtime: { s: 9, ns: 0 }, ctime: { s: 9, ns: 0 } })), 'success', 'the times the kernel sends after buffered appends pass');
  t.equal(errno_of(() => fs.fallocate(f, 1, 8000, 8192)), 'success', 'preallocation past the end (KEEP_SIZE) works');
  fs.unmount();
  fsck_ok(t, dev);
});

t.test('immutable and append-only directories', async (t) => {
  const dev = mkfs_mem(2048);
  const fs = mount(dev);
  const d = fs.mkdir(1, 'd', 0o755).ino;
  const x = fs.create(d, 'x', 0o644).ino;
  fs.mkdir(d, 'sub', 0o755);
  const out = fs.create(1, 'out', 0o644).ino;
  fs.attr_flags_set(d, { fl: IMMUTABLE });
  for (const [what, fn] of [
    ['create', () => fs.create(d, 'n', 0o644)],
    ['mkdir', () => fs.mkdir(d, 'n', 0o755)],
    ['symlink', () => fs.symlink(d, 'n', 'x')],
    ['a hard link into it', () => fs.link(out, d, 'n')],
    ['unlink', () => fs.unlink(d, 'x')],
    ['rmdir', () => fs.rmdir(d, 'sub')],
    ['rename within', () => fs.rename(d, 'x', d, 'y')],
    ['rename out', () => fs.rename(d, 'x', 1, 'y')],
    ['rename in', () => fs.rename(1, 'out', d, 'y')],
    ['rmdir of it (empty or not)', () => fs.rmdir(1, 'd')],
  ] as [string, () => unknown][]) t.equal(errno_of(fn), 'EPERM', `immutable directory: ${what}: EPERM`);
  fs.write(x, 0, Buffer.from('still writable'));
  t.equal(fs.read(x, 0, 100).toString(), 'still writable', 'a file in it is not immutable itself');
  t.same(fs.readdir(d).map((e) => e.name.toString()).sort(), ['sub', 'x'], 'it lists as before');
  fs.attr_flags_set(d, { fl: APPEND });
  fs.create(d, 'n', 0o644);
  fs.rename(1, 'out', d, 'moved');
  t.same(fs.readdir(d).map((e) => e.name.toString()).sort(), ['moved', 'n', 'sub', 'x'], 'append-only: names are added, by create and rename');
  t.equal(errno_of(() => fs.unlink(d, 'x')), 'EPERM', 'append-only: unlink: EPERM');
  t.equal(errno_of(() => fs.rename(d, 'x', 1, 'x')), 'EPERM', 'append-only: rename out: EPERM');
  t.equal(errno_of(() => fs.rename(1, 'd', 1, 'e')), 'EPERM', 'the directory itself can not be renamed');
  fs.attr_flags_set(d, { fl: 0 });
  fs.unlink(d, 'x');
  fs.unmount();
  fsck_ok(t, dev);
});

t.test('what a new inode takes from its directory; no atime', async (t) => {
  const dev = mkfs_mem(2048);
  let now = 1_700_000_100;
  const clock: Clock = () => ({ s: now, ns: 0 });
  const fs = FileSystem.mount(dev, { clock, atime: 'strictatime' });
  const d = fs.mkdir(1, 'd', 0o755).ino;
  fs.attr_flags_set(d, { fl: NODUMP | NOATIME | SYNC | DIRSYNC | APPEND | NOCOMP });
  const f = fs.create(d, 'f', 0o644).ino;
  const s = fs.mkdir(d, 's', 0o755).ino;
  t.equal(fs.attr_flags(f), NODUMP | NOATIME | SYNC | NOCOMP, 'a file takes d, A, S and m (not a, not D)');
  t.equal(fs.attr_flags(s), NODUMP | NOATIME | SYNC | NOCOMP | DIRSYNC, 'a directory takes D too');
  fs.write(f, 0, content(4, 100));
  const a0 = fs.getattr(f).atime;
  now += 100;
  fs.read(f, 0, 100);
  t.same(fs.getattr(f).atime, a0, 'A: a read leaves atime (strictatime mount)');
  const da = fs.getattr(d).atime;
  fs.readdir(d);
  t.same(fs.getattr(d).atime, da, 'and a listing of an A directory leaves its atime');
  const g = fs.create(1, 'g', 0o644).ino;
  fs.read(g, 0, 10);
  t.equal(fs.getattr(g).atime.s, now, 'a file without A has its atime moved by the same read');
  fs.unmount();
  fsck_ok(t, dev);
});

t.test('sync and dirsync: durable when each call returns, a power cut right after loses nothing', async (t) => {
  const img = mkfs_mem(4096).image();
  for (const [flag, what] of [[SYNC, 'S'], [DIRSYNC, 'D']] as const) {
    const sim = SimDevice.from(img, { seed: 5 });
    const fs = FileSystem.mount(sim, { clock: clock_fixed(1_700_000_100) });
    const d = fs.mkdir(1, 'd', 0o755).ino;
    fs.sync();
    fs.attr_flags_set(d, { fl: flag });
    const f = fs.create(d, 'f', 0o644).ino;
    fs.create(d, 'gone', 0o644);
    fs.unlink(d, 'gone');
    fs.rename(d, 'f', d, 'g');
    if (flag === SYNC) fs.write(f, 0, content(6, 3 * BLOCK_SIZE + 10));
    // no fsync, no sync: only what the calls made durable themselves survives
    const after = sim.powerCut('flushed');
    const fs2 = FileSystem.mount(after, { clock: clock_fixed(1_700_000_200) });
    t.same(fs2.readdir(d).map((e) => e.name.toString()), ['g'], `${what}: the create, unlink and rename survive the cut`);
    if (flag === SYNC) t.same(fs2.read(f, 0, 4 * BLOCK_SIZE), content(6, 3 * BLOCK_SIZE + 10), 'S: the file\'s data too');
    fs2.unmount();
    fsck_ok(t, after, `${what}: after the cut`);
  }
});

t.test('a filesystem made before the feature ATTRS refuses chattr', async (t) => {
  const img = Buffer.from(mkfs_mem(2048).image());
  for (const b of [0, 1]) {
    const blk = img.subarray(b * BLOCK_SIZE, (b + 1) * BLOCK_SIZE);
    const v = new DataView(blk.buffer, blk.byteOffset, BLOCK_SIZE);
    t.equal(v.getUint32(56, true) & FEATURE_ATTRS, FEATURE_ATTRS, `superblock ${b}: mkfs sets the feature`);
    v.setUint32(56, v.getUint32(56, true) & ~FEATURE_ATTRS, true);
    block_seal(blk);
  }
  const dev = SimDevice.from(img, { seed: 1 });
  const fs = FileSystem.mount(dev, { clock: clock_fixed(1) });
  const f = fs.create(1, 'f', 0o644).ino;
  t.equal(fs.attr_flags(f), 0, 'lsattr shows no flags');
  t.equal(errno_of(() => fs.attr_flags_set(f, { fl: IMMUTABLE })), 'ENOTSUP', 'chattr: EOPNOTSUPP');
  fs.unmount();
  fsck_ok(t, dev);
});
