// Attributes as Linux promises them, in the engine: extended attributes up to 64 KiB, change
// times that never go back while writes are pending, atime by mount option, a read-only remount
// that makes everything durable, and EFBIG (not EINVAL) past the largest file. The same calls
// through a mount are in test/mount/remount.test.ts.

import t from 'tap';
import { clock_fixed } from '../../src/checkpoint/clock.js';
import type { Timespec } from '../../src/checkpoint/clock.js';
import { SimDevice } from '../../src/device/sim.js';
import { FileSystem } from '../../src/fs/fs.js';
import { FILE_SIZE_MAX } from '../../src/fs/types.js';
import { XATTR_SIZE_MAX } from '../../src/fs/xattr.js';
import { FsError } from '../../src/util/errors.js';
import { fsck_ok, mkfs_mem, mount, SMALL } from '../helpers/engine.js';

function ns(t: Timespec): bigint {
  return BigInt(t.s) * 1_000_000_000n + BigInt(t.ns);
}

function value_of(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

t.test('xattr values up to 64 KiB: stored, replaced, removed, listed, durable, fsck clean', async (t) => {
  const dev = mkfs_mem(8192);
  let fs = mount(dev);
  const f = fs.create(1, 'f', 0o644);
  const sizes = [0, 1, 1500, 1501, 1536, 3072, 4000, 40_000, XATTR_SIZE_MAX];
  sizes.forEach((n, i) => fs.setxattr(f.ino, `user.s${i}`, value_of(n, i)));
  sizes.forEach((n, i) => t.ok(fs.getxattr(f.ino, `user.s${i}`).equals(value_of(n, i)), `a value of ${n} bytes reads back`));
  t.same(fs.listxattr(f.ino).map((b) => b.toString()).sort(), sizes.map((_n, i) => `user.s${i}`).sort(), 'listxattr names all of them, small and large');
  const e2big = t.throws(() => fs.setxattr(f.ino, 'user.toobig', Buffer.alloc(XATTR_SIZE_MAX + 1))) as unknown;
  t.equal((e2big as FsError).code, 'E2BIG', 'one byte more than 64 KiB: E2BIG');
  t.equal((t.throws(() => fs.setxattr(f.ino, 'u'.repeat(256), Buffer.from('x'))) as FsError).code, 'ERANGE', 'a 256-byte name: ERANGE');
  t.equal((t.throws(() => fs.getxattr(f.ino, 'user.none')) as FsError).code, 'ENODATA', 'a missing name: ENODATA');
  t.equal((t.throws(() => fs.setxattr(f.ino, 'user.s7', Buffer.from('x'), 'create')) as FsError).code, 'EEXIST', 'XATTR_CREATE of a large one that exists: EEXIST');

  // large → small, small → large, large → large: the old form is gone each time
  fs.setxattr(f.ino, 'user.s7', Buffer.from('now small'));
  fs.setxattr(f.ino, 'user.s2', value_of(20_000, 99));
  fs.setxattr(f.ino, 'user.s8', value_of(9_000, 98), 'replace');
  fs.removexattr(f.ino, 'user.s6');
  t.equal(fs.getxattr(f.ino, 'user.s7').toString(), 'now small', 'large → small');
  t.ok(fs.getxattr(f.ino, 'user.s2').equals(value_of(20_000, 99)), 'small → large');
  t.ok(fs.getxattr(f.ino, 'user.s8').equals(value_of(9_000, 98)), 'large → large (replace)');
  t.equal((t.throws(() => fs.getxattr(f.ino, 'user.s6')) as FsError).code, 'ENODATA', 'a removed large value is gone');
  fsck_ok(t, dev, 'after changes');

  // fsync makes them durable without a checkpoint (redo), then a crash
  fs.fsync(f.ino);
  fs.vol.abandon();
  fs = mount(dev);
  t.ok(fs.getxattr(f.ino, 'user.s2').equals(value_of(20_000, 99)), 'after a crash: the large value fsync made durable');
  t.ok(fs.getxattr(f.ino, 'user.s8').equals(value_of(9_000, 98)), 'and the replaced one');
  t.equal(fs.listxattr(f.ino).length, sizes.length - 1, 'one name fewer after the removal');
  // the file goes: every piece of every value with it
  fs.unlink(1, 'f');
  fs.unmount();
  fsck_ok(t, dev, 'after the file with large xattrs is unlinked');
});

t.test('a snapshot keeps the large value it saw', async (t) => {
  const dev = mkfs_mem(8192);
  const fs = mount(dev);
  const f = fs.create(1, 'f', 0o644);
  fs.setxattr(f.ino, 'user.big', value_of(30_000, 1));
  fs.snapshot([{ op: 'create', name: 'A' }]);
  fs.setxattr(f.ino, 'user.big', value_of(30_000, 2));
  fs.unmount();
  const snap = mount(dev, { readOnly: true, snapshot: 'A' });
  t.ok(snap.getxattr(f.ino, 'user.big').equals(value_of(30_000, 1)), 'the snapshot reads the old value');
  snap.unmount();
  const live = mount(dev);
  t.ok(live.getxattr(f.ino, 'user.big').equals(value_of(30_000, 2)), 'the live tree the new one');
  live.unmount();
  fsck_ok(t, dev);
});

t.test('ctime is never older than a link, rename, unlink or setattr, with a write pending or not', async (t) => {
  const dev = mkfs_mem(4096);
  // a clock that advances 1 ms a reading: each operation's time is later than the last one's
  let fs = mount(dev, { clock: clock_fixed(1_700_000_100, 1_000_000) });
  const f = fs.create(1, 'f', 0o644);
  const d = fs.mkdir(1, 'd', 0o755);
  for (const op of ['link', 'rename', 'unlink', 'chmod', 'setxattr'] as const) {
    // a buffered write to a file that is not inline: its ctime waits for the flush
    fs.write(f.ino, 0, Buffer.alloc(8192, 1));
    const before = ns(fs.getattr(f.ino).ctime);
    const when = ns(fs.clock());
    if (op === 'link') fs.link(f.ino, d.ino, 'hard');
    else if (op === 'rename') fs.rename(1, 'f', 1, 'g');
    else if (op === 'unlink') fs.unlink(d.ino, 'hard');
    else if (op === 'chmod') fs.setattr(f.ino, { mode: 0o600 });
    else fs.setxattr(f.ino, 'user.x', Buffer.from(op));
    if (op === 'rename') fs.rename(1, 'g', 1, 'f');
    const after = ns(fs.getattr(f.ino).ctime);
    t.ok(after > before && after >= when, `${op}: ctime moves forward (${before} → ${after}, the operation at ${when})`);
    fs.sync(); // the pending write reaches the log
    t.equal(ns(fs.getattr(f.ino).ctime), after, `${op}: the flush keeps it`);
  }
  // and after a remount
  const last = ns(fs.getattr(f.ino).ctime);
  fs.unmount();
  fs = mount(dev);
  t.equal(ns(fs.getattr(f.ino).ctime), last, 'after a remount');
  fs.unmount();
  fsck_ok(t, dev);
});

t.test('setattr with the times a writeback cache sends: mtime and ctime kept as given, a write pending or not', async (t) => {
  const dev = mkfs_mem(4096);
  let fs = mount(dev, { clock: clock_fixed(1_700_000_100, 1_000_000) });
  const f = fs.create(1, 'f', 0o644);
  // the kernel's times of buffered writes, earlier than the moment they are sent
  const mtime = { s: 1_700_000_000, ns: 111 }, ctime = { s: 1_700_000_000, ns: 222 };
  fs.write(f.ino, 0, Buffer.alloc(8192, 1));
  const a = fs.setattr(f.ino, { mtime, ctime });
  t.same([a.mtime, a.ctime], [mtime, ctime], 'both as given, over the pending write\'s');
  fs.sync();
  t.same([fs.getattr(f.ino).mtime, fs.getattr(f.ino).ctime], [mtime, ctime], 'the flush keeps them');
  fs.unmount();
  fs = mount(dev);
  t.same([fs.getattr(f.ino).mtime, fs.getattr(f.ino).ctime], [mtime, ctime], 'after a remount');
  const b = fs.setattr(f.ino, { mode: 0o600 });
  t.ok(ns(b.ctime) > ns(ctime), 'without one, setattr sets ctime to now');
  fs.unmount();
  fsck_ok(t, dev);
});

t.test('atime: relatime by default, strictatime, noatime, nodiratime', async (t) => {
  const dev = mkfs_mem(4096);
  const clock = clock_fixed(1_700_000_100, 1_000_000);
  const setup = mount(dev, { clock });
  const f = setup.create(1, 'f', 0o644);
  setup.write(f.ino, 0, Buffer.from('hello'));
  const d = setup.mkdir(1, 'd', 0o755);
  setup.unmount();
  const at = (fs: FileSystem, ino: number): bigint => ns(fs.getattr(ino).atime);
  const cases: { mode: 'relatime' | 'strictatime' | 'noatime'; nodiratime?: boolean; file: [boolean, boolean]; dir: [boolean, boolean] }[] = [
    // [moves on the first read after a change, moves on a second read]
    { mode: 'relatime', file: [true, false], dir: [true, false] },
    { mode: 'strictatime', file: [true, true], dir: [true, true] },
    { mode: 'noatime', file: [false, false], dir: [false, false] },
    { mode: 'relatime', nodiratime: true, file: [true, false], dir: [false, false] },
  ];
  for (const c of cases) {
    const fs = mount(dev, { clock, atime: c.mode, nodiratime: c.nodiratime ?? false });
    const what = `${c.mode}${c.nodiratime ? ',nodiratime' : ''}`;
    // a change first, so that atime is older than mtime/ctime
    fs.setattr(f.ino, { mtime: 'now' });
    fs.setattr(d.ino, { mtime: 'now' });
    for (const [ino, read, want] of [[f.ino, () => fs.read(f.ino, 0, 5), c.file], [d.ino, () => fs.readdir(d.ino), c.dir]] as const) {
      for (const [i, moves] of want.entries()) {
        const a0 = at(fs, ino);
        read();
        t.equal(at(fs, ino) > a0, moves, `${what}: ${ino === f.ino ? 'file read' : 'directory listing'} ${i + 1} ${moves ? 'moves' : 'keeps'} atime`);
      }
    }
    fs.unmount();
  }
  fsck_ok(t, dev);
});

t.test('remount read-only: everything durable, changes refused, nothing written; read-write again', async (t) => {
  const dev = SimDevice.from(mkfs_mem(4096).image(), { seed: 1 });
  const fs = mount(dev);
  const f = fs.create(1, 'f', 0o644);
  fs.write(f.ino, 0, Buffer.alloc(20_000, 7)); // buffered, never fsync'd
  fs.setxattr(f.ino, 'user.k', Buffer.from('v'));
  fs.remount(true);
  t.ok(fs.readOnly, 'read-only now');
  const writes = dev.writesIssued;
  for (const [what, op] of [
    ['write', () => fs.write(f.ino, 0, Buffer.from('x'))], ['create', () => fs.create(1, 'g', 0o644)], ['unlink', () => fs.unlink(1, 'f')],
    ['setxattr', () => fs.setxattr(f.ino, 'user.k', Buffer.from('w'))], ['truncate', () => fs.truncate(f.ino, 0)], ['mkdir', () => fs.mkdir(1, 'e', 0o755)],
    ['snapshot', () => fs.snapshot([{ op: 'create', name: 'S' }])],
  ] as const) {
    t.equal((t.throws(op) as FsError).code, 'EROFS', `${what}: EROFS`);
  }
  fs.fsync(f.ino);
  fs.sync();
  t.equal(fs.read(f.ino, 0, 10).toString('hex'), '07'.repeat(10), 'reads go on');
  fs.tick(Date.now() + 3_600_000);
  t.equal(dev.writesIssued, writes, 'nothing is written while read-only (fsync, sync, reads, the timer)');
  // a power cut now loses nothing: the remount made it all durable
  const after = SimDevice.from(dev.durableImage(), { seed: 2 });
  const back = mount(after, { readOnly: true });
  t.equal(back.getattr(f.ino).size, 20_000, 'after a power cut: the buffered write is there');
  t.equal(back.getxattr(f.ino, 'user.k').toString(), 'v', 'and the xattr');
  t.ok(back.vol.mount.clean, 'the remount left a clean checkpoint');
  back.unmount();
  fs.remount(false);
  fs.write(f.ino, 0, Buffer.from('again'));
  t.equal(fs.read(f.ino, 0, 5).toString(), 'again', 'read-write again');
  fs.unmount();
  fsck_ok(t, dev);
  const ro = mount(dev, { readOnly: true });
  t.equal((t.throws(() => ro.remount(false)) as FsError).code, 'EROFS', 'a volume opened read-only must be mounted again to write');
  ro.unmount();
});

t.test('EFBIG past the largest file, also at offsets of 2^53 and more', async (t) => {
  const dev = mkfs_mem(4096);
  const fs = mount(dev);
  const f = fs.create(1, 'f', 0o644);
  for (const off of [FILE_SIZE_MAX, 2 ** 53, 2 ** 53 + 4096, 2 ** 62]) {
    t.equal((t.throws(() => fs.write(f.ino, off, Buffer.from('x'))) as FsError).code, 'EFBIG', `write at ${off}: EFBIG`);
    t.equal((t.throws(() => fs.truncate(f.ino, off + 1)) as FsError).code, 'EFBIG', `truncate to ${off + 1}: EFBIG`);
  }
  t.equal((t.throws(() => fs.write(f.ino, -1, Buffer.from('x'))) as FsError).code, 'EINVAL', 'a negative offset is still EINVAL');
  t.equal(fs.write(f.ino, FILE_SIZE_MAX - 2, Buffer.from('abcd')), 2, 'a write across the limit is cut short there');
  t.equal(fs.getattr(f.ino).size, FILE_SIZE_MAX, 'the file is as large as a file can be');
  t.equal(fs.read(f.ino, FILE_SIZE_MAX - 2, 10).toString(), 'ab', 'and reads back');
  fs.truncate(f.ino, 0);
  fs.unmount();
  fsck_ok(t, dev);
});

t.test('a listing\'s attributes (getattr_listed): those getattr gives, and no inode is cached for them', async (t) => {
  const dev = mkfs_mem(8192);
  let fs = mount(dev, { inodeCacheMax: 64 });
  const files: number[] = [];
  for (let i = 0; i < 300; i++) {
    const a = fs.create(1, `f${i}`, 0o600 + (i % 64));
    fs.write(a.ino, 0, Buffer.alloc(i * 50 + 1, 1));
    files.push(a.ino);
  }
  fs.unmount();
  fs = mount(dev, { inodeCacheMax: 64 });
  // a buffered write to a cached inode: its size and times are not yet in its record
  fs.write(files[7]!, 100_000, Buffer.from('tail'));
  const cached = fs.memory().inodes;
  const listed = files.map((ino) => fs.getattr_listed(ino));
  t.equal(fs.memory().inodes, cached, `300 inodes listed, ${cached} cached before and after`);
  t.same(listed, files.map((ino) => fs.getattr(ino)), 'the same attributes as getattr, the buffered write\'s size included');
  t.equal(listed[7]!.size, 100_004, 'the size a buffered write made');
  t.equal((t.throws(() => fs.getattr_listed(999_999)) as FsError).code, 'ENOENT', 'an inode that does not exist: ENOENT');
  fs.unmount();
  fsck_ok(t, dev);
});

// so that a change of the small geometry is seen here too
t.equal(SMALL.fanout, 4, 'engine tests run at fanout 4');

t.test('xattrs_none: true only while an inode has no attribute in the tree, small or large', async (t) => {
  const dev = mkfs_mem(8192);
  const fs = mount(dev);
  const files = Array.from({ length: 4 }, (_v, i) => fs.create(1, `f${i}`, 0o644).ino);
  t.ok(files.every((ino) => fs.xattrs_none(ino)), 'new files have none');
  fs.setxattr(files[1]!, 'security.capability', Buffer.alloc(20, 1));
  fs.setxattr(files[2]!, 'user.big', value_of(4000, 2));
  t.same(files.map((ino) => fs.xattrs_none(ino)), [true, false, false, true], 'a small value and a large one (XBIG) each count; the neighbours are untouched');
  fs.removexattr(files[1]!, 'security.capability');
  fs.removexattr(files[2]!, 'user.big');
  t.ok(files.every((ino) => fs.xattrs_none(ino)), 'none again once removed');
  fs.unmount();
  fsck_ok(t, dev);
});
