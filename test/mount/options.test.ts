// The parts of cowlog mount that need no FUSE: -o option parsing, the control channel's JSON
// lines, and the FUSE operations table driven directly against an engine on a memory device
// (errno mapping, files unlinked while open, the read-only turn after an internal error).

import t from 'tap';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mount_options_parse, mount_options_remount, mount_options_ro, MountOptionError, remount_fixed_changed } from '../../src/fuse/options.js';
import { cowlog_fuse_options } from '../../src/fuse/server.js';
import { CAP, FOPEN_KEEP_CACHE } from '../../src/fuse/binding.js';
import { control_listen, control_request, ControlUnreachable } from '../../src/fuse/control.js';
import { CowlogOps } from '../../src/fuse/ops.js';
import { logger_memory } from '../../src/fuse/log.js';
import { MemoryDevice } from '../../src/device/memory.js';
import { FileSystem } from '../../src/fs/fs.js';
import { call, dirent_names, ReplyRecorder } from '../../tools/bench/replies.js';

t.test('-o remount: what it changes, and the options set at mount it compares', async (t) => {
  const ask = mount_options_remount(['rw,nosuid,relatime,user_id=0,group_id=0,default_permissions,allow_other,remount,ro', 'noatime,commit=5,compress=lz4,force,writeback_cache,cache=128M'], true);
  t.same(ask, { readOnly: true, atime: 'noatime', nodiratime: false, commit: 5, compress: 'lz4', force: true, fixed: { allow_other: true, writeback_cache: true, cache: 128 << 20 } },
    'ro, atime, commit=, compress= and force to apply; allow_other, writeback_cache and cache= to compare');
  t.same(mount_options_remount(['remount'], true), { readOnly: null, fixed: {} }, 'remount alone asks nothing');
  const mounted = mount_options_parse(['allow_other'], true);
  t.same(remount_fixed_changed(mounted, ask.fixed), ['writeback_cache', 'cache'], 'against a default mount: writeback_cache and cache= would change it');
  t.same(remount_fixed_changed(mount_options_parse(['writeback_cache,cache=128M'], true), ask.fixed), [], 'against a mount made with them: nothing');
  t.same(remount_fixed_changed(mounted, { nowriteback_cache: false, noacl: false, attr_timeout: 60 }), ['noacl'], 'the value compared, not the name: nowriteback_cache and attr_timeout=60 are what it has');
  const logged = mount_options_parse(['log=/var/log/x.log'], true);
  t.same(mount_options_remount([`remount,log=${path.relative(process.cwd(), '/var/log/x.log')}`], true).fixed, { log: '/var/log/x.log' }, 'a file given relative to where the remount runs is compared as an absolute path');
  t.same(remount_fixed_changed(logged, { log: '/var/log/x.log' }), [], 'the same log file: nothing changes');
  t.same(remount_fixed_changed(logged, { log: '/var/log/y.log' }), ['log'], 'another: refused');
});

t.test('-o options: cowlog\'s own, kernel flags passed on, fstab words ignored, the rest refused', async (t) => {
  const d = mount_options_parse([], false);
  t.same(d, {
    readOnly: false, wear: null, log: null, allowOther: false, attrTimeout: 60, entryTimeout: 60, negativeTimeout: 60, commit: null, kernel: [], snapshot: null,
    atime: 'relatime', nodiratime: false, remount: false, acl: true, selinuxXattr: false, btime: false, compress: null, cache: null, mem: null, heldMax: 131072, force: false, noRecovery: false, spinUs: 200, writebackCache: false,
  }, 'defaults for a user');
  t.same(['selinux_xattr', 'selinux_xattr,noselinux_xattr'].map((o) => mount_options_parse([o], true).selinuxXattr), [true, false], 'selinux_xattr keeps SELinux labels; the last given wins');
  t.same(['btime', 'btime,nobtime'].map((o) => mount_options_parse([o], true).btime), [true, false], 'btime answers birth times; the last given wins');
  t.equal(mount_options_parse(['held_max=5000'], true).heldMax, 5000, 'held_max=');
  t.throws(() => mount_options_parse(['held_max=10'], true), /held_max=10: a number of inodes, at least 64/, 'a bound too small to work in');
  t.throws(() => mount_options_parse(['held_max=many'], true), MountOptionError, 'a number that is not one');
  t.same(['writeback_cache', 'writeback_cache,nowriteback_cache'].map((o) => mount_options_parse([o], true).writebackCache), [true, false], 'writeback_cache: the kernel\'s writeback cache; the last given wins');
  const wants = (o: string): boolean => ((cowlog_fuse_options(mount_options_parse([o], true)).want ?? 0) & CAP.WRITEBACK_CACHE) !== 0;
  t.same([wants('writeback_cache'), wants('')], [true, false], 'asked of the kernel only when given');
  t.equal(mount_options_parse([''], true).spinUs, 200, 'spin= by default');
  t.equal(mount_options_parse(['spin=0'], true).spinUs, 0, 'spin=0: the server sleeps at once');
  t.throws(() => mount_options_parse(['spin=-1'], true), /spin=-1: microseconds, 0 to 100000/, 'a negative spin');
  t.throws(() => mount_options_parse(['spin=1.5'], true), MountOptionError, 'a spin of part of a microsecond');
  t.equal(mount_options_parse(['force'], true).force, true, 'force: read-write even after fsck found errors');
  t.throws(() => mount_options_parse(['force=1'], true), MountOptionError, 'force takes no value');
  t.same(['cache=256M', 'cache=1G', 'cache=8388608', 'cache=64MiB'].map((o) => mount_options_parse([o], true).cache), [256 << 20, 1 << 30, 8 << 20, 64 << 20], 'cache= sizes');
  t.throws(() => mount_options_parse(['cache=1M'], true), /cache=1M: a size of at least 4M/, 'a budget too small to work in');
  t.same(['mem=300M', 'mem=1G', 'mem=0'].map((o) => mount_options_parse([o], true).mem), [300 << 20, 1 << 30, 0], 'mem= sizes, and 0 for no bound');
  t.throws(() => mount_options_parse(['mem=1M'], true), /mem=1M: a size of at least 4M/, 'a bound too small to work in');
  t.throws(() => mount_options_parse(['cache=lots'], true), MountOptionError, 'a size that is not one');
  t.same(['compress=lz4', 'compress=none'].map((o) => mount_options_parse([o], true).compress), ['lz4', 'none'], 'compress=');
  t.throws(() => mount_options_parse(['compress=zstd'], true), /compress=zstd: lz4 or none/, 'other compressors refused');
  t.same(['strictatime', 'norelatime', 'noatime', 'relatime', 'noatime,atime'].map((o) => mount_options_parse([o], true).atime),
    ['strictatime', 'strictatime', 'noatime', 'relatime', 'relatime'], 'atime options, cowlog\'s own (FUSE leaves atime to the filesystem)');
  t.same(mount_options_parse(['noatime'], true).kernel, ['noatime'], 'noatime also goes to the kernel, so /proc/mounts shows it');
  t.equal(mount_options_parse(['nodiratime'], true).nodiratime, true, 'nodiratime');
  t.equal(mount_options_parse(['rw,nosuid,relatime,user_id=0,group_id=0,default_permissions,allow_other,remount,ro'], true).remount, true,
    'a remount as mount(8) hands it over (the options of the mount as /proc/mounts shows them, then the new ones)');
  t.same([mount_options_ro(['rw,remount,ro']), mount_options_ro(['ro', 'rw']), mount_options_ro(['remount,noatime'])], [true, false, null], 'the last ro/rw given wins');
  t.equal(mount_options_parse(['snapshot=A'], false).snapshot, 'A', 'snapshot= names the snapshot or clone to serve');
  t.equal(mount_options_parse(['commit=5'], true).commit, 5, 'commit= sets the checkpoint interval');
  t.same([mount_options_parse(['ro,norecovery'], true).noRecovery, mount_options_parse(['noload', 'ro'], true).noRecovery], [true, true], 'norecovery (and ext4\'s noload) with ro');
  t.throws(() => mount_options_parse(['norecovery'], true), /norecovery needs ro/, 'norecovery without ro: a usage error');
  t.equal(mount_options_parse([], true).allowOther, true, 'allow_other by default when root mounts');
  const c = mount_options_parse(['rw,nosuid,nodev,noexec,relatime,defaults,noauto,_netdev,x-systemd.automount', 'ro,wear=/w/f.wear,log=/l/f.log', 'attr_timeout=1.5,entry_timeout=0,noallow_other,nosuid'], true);
  t.equal(c.readOnly, true, 'ro (the last of rw/ro wins)');
  t.equal(c.wear, '/w/f.wear', 'wear=');
  t.equal(c.log, '/l/f.log', 'log=');
  t.equal(c.attrTimeout, 1.5, 'attr_timeout=');
  t.equal(c.entryTimeout, 0, 'entry_timeout=0');
  t.equal(c.allowOther, false, 'noallow_other');
  t.same(c.kernel, ['nosuid', 'nodev', 'noexec'], 'kernel flags once each; relatime and fstab words dropped');
  t.equal(c.atime, 'relatime', 'relatime kept by cowlog itself');
  t.throws(() => mount_options_parse(['bogus'], true), MountOptionError, 'an unknown option');
  t.throws(() => mount_options_parse(['wear'], true), /wear needs a value/, 'wear without a file');
  t.throws(() => mount_options_parse(['attr_timeout=-1'], true), /seconds from 0/, 'a negative timeout');
  t.throws(() => mount_options_parse(['nosuid=1'], true), MountOptionError, 'a flag with a value');
});

t.test('the control channel: one JSON line per request and per answer', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cowlog-ctl-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'c.sock');
  fs.writeFileSync(sock, 'stale'); // a leftover file is replaced
  let slow: () => void = () => {};
  const srv = await control_listen(sock, async (req) => {
    if (req.op === 'echo') return { ok: true, got: req['value'] };
    if (req.op === 'slow') { await new Promise<void>((ok) => { slow = ok; }); return { ok: true, slow: true }; }
    throw Object.assign(new Error('no such thing'), { code: 'ENOENT' });
  });
  t.teardown(() => srv.close());
  t.equal(fs.statSync(sock).mode & 0o777, 0o600, 'the socket is 0600');
  t.same(await control_request(sock, { op: 'echo', value: [1, 'x'] }), { ok: true, got: [1, 'x'] }, 'a request and its answer');
  t.same(await control_request(sock, { op: 'nope' }), { ok: false, error: 'no such thing', errno: 'ENOENT' }, 'a failing handler answers ok:false with its errno');
  // raw lines: two requests on one connection are answered in order; bad JSON is refused
  const raw = await new Promise<string>((ok) => {
    const c = net.createConnection(sock);
    let buf = '';
    c.on('data', (d) => { buf += d.toString(); if (buf.split('\n').length > 3) { c.end(); ok(buf); } });
    c.write('{"op":"echo","value":1}\nnot json\n{"op":"echo","value":2}\n');
  });
  const lines = raw.trim().split('\n').map((l) => JSON.parse(l) as { ok: boolean; got?: number; errno?: string });
  t.same(lines.map((l) => l.got ?? l.errno), [1, 'EIO', 2], 'answers in order; a line that is not JSON gets an error answer');
  const pending = control_request(sock, { op: 'slow' });
  await new Promise((ok) => setTimeout(ok, 50)); // the request reaches the server
  let drained = false;
  const d = srv.drain().then(() => { drained = true; });
  await new Promise((ok) => setTimeout(ok, 50));
  t.notOk(drained, 'drain waits for a request being handled');
  slow();
  t.same(await pending, { ok: true, slow: true }, 'which then answers');
  await d;
  t.ok(drained, 'and drain resolves');
  await t.rejects(control_request(path.join(dir, 'none.sock'), { op: 'status' }), ControlUnreachable, 'no server: ControlUnreachable');
});

t.test('after a write through an O_DIRECT handle, opens drop what the kernel cached of the file', async (t) => {
  // (a buffered reader racing a direct write may have cached the bytes from before it, and the
  // kernel keeps them after an asynchronous direct write: xfstests generic/451)
  const dev = new MemoryDevice(8192);
  FileSystem.mkfs(dev);
  const fsys = FileSystem.mount(dev, { atime: 'noatime' });
  const o = new CowlogOps({ fs: fsys, caller: () => ({ uid: 0, gid: 0, pid: 1, umask: 0 }), log: logger_memory() });
  const rec = new ReplyRecorder();
  const ops = o.ops(rec);
  const KEEP = FOPEN_KEEP_CACHE;
  const c = await call(ops, rec, 'create', 1, 'f', 0o100644, fs.constants.O_RDWR);
  const ino = c.attr!.ino;
  const open = async (flags: number): Promise<{ fh: number; keep: boolean }> => {
    const r = await call(ops, rec, 'open', ino, flags, false);
    return { fh: r.fh!, keep: (r.flags! & KEEP) !== 0 };
  };
  t.equal((await open(fs.constants.O_RDONLY)).keep, true, 'an open keeps the kernel\'s cache');
  await call(ops, rec, 'write', ino, c.fh, Buffer.alloc(4096, 1), 0, false, false);
  t.equal((await open(fs.constants.O_RDONLY)).keep, true, 'also after a buffered write (the kernel cached what it wrote)');
  const d = await open(fs.constants.O_RDWR | fs.constants.O_DIRECT);
  await call(ops, rec, 'write', ino, d.fh, Buffer.alloc(4096, 2), 0, false, false);
  t.equal((await open(fs.constants.O_RDONLY)).keep, false, 'after a direct write the next open drops it');
  t.equal((await open(fs.constants.O_RDONLY)).keep, false, 'and every open after, while the kernel holds the inode');
  ops.forget!(ino, 1); // the lookup the create's answer counted
  t.equal((await open(fs.constants.O_RDONLY)).keep, true, 'once it forgot the inode (and its pages), opens keep the cache again');
  o.close();
});

t.test('the operations against an engine: errnos, handles, unlinked open files, a bug turns the mount read-only', async (t) => {
  const dev = new MemoryDevice(8192);
  FileSystem.mkfs(dev);
  const fsys = FileSystem.mount(dev);
  const log = logger_memory();
  const o = new CowlogOps({ fs: fsys, caller: () => ({ uid: 7, gid: 8, pid: 1, umask: 0 }), log });
  const rec = new ReplyRecorder();
  const ops = o.ops(rec);
  const ROOT = 1;
  t.same((await call(ops, rec, 'getattr', 99, 0)).errno, 2, 'an inode that does not exist: ENOENT');
  t.same((await call(ops, rec, 'lookup', ROOT, 'nope')).kind, 'negative', 'a name that does not exist: a negative entry');
  const d = await call(ops, rec, 'mkdir', ROOT, 'd', 0o755);
  t.equal(d.kind, 'entry', 'mkdir answers an entry');
  const dino = d.attr!.ino;
  const c = await call(ops, rec, 'create', dino, 'f', 0o100644, 0);
  t.equal(c.kind, 'create', 'create');
  const fh = c.fh!;
  const ino = c.attr!.ino;
  t.ok(fh > 0, 'answers a file handle');
  t.same([c.attr!.uid, c.attr!.gid, c.attr!.mode], [7, 8, 0o100644], 'owned by the caller');
  t.same((await call(ops, rec, 'write', ino, fh, Buffer.from('hello'), 0, false)).n, 5, 'write through the handle');
  t.same((await call(ops, rec, 'mkdir', ROOT, 'd', 0o755)).errno, 17, 'EEXIST');
  t.same((await call(ops, rec, 'rmdir', ROOT, 'd')).errno, 39, 'ENOTEMPTY');
  t.same((await call(ops, rec, 'create', ROOT, 'n'.repeat(256), 0o100644, 0)).errno, 36, 'ENAMETOOLONG');
  t.same((await call(ops, rec, 'setxattr', ino, 'trusted.x', Buffer.alloc(4), 0)).errno, 0, 'an xattr');
  // the kernel sends unlink for an open file as for any other: the engine keeps it while open
  t.same((await call(ops, rec, 'unlink', dino, 'f')).errno, 0, 'unlink of the open file');
  t.same(dirent_names((await call(ops, rec, 'readdir', dino, (await call(ops, rec, 'opendir', dino, 0)).fh, 4096, 0)).data!), ['.', '..'], 'the directory lists no name');
  t.same((await call(ops, rec, 'rmdir', ROOT, 'd')).errno, 0, 'and goes');
  const r = await call(ops, rec, 'read', ino, fh, 16, 0);
  t.equal(r.data?.toString(), 'hello', 'the open file still reads by its handle');
  t.equal((await call(ops, rec, 'getattr', ino, fh)).attr!.nlink, 0, 'getattr: link count 0');
  t.same((await call(ops, rec, 'release', ino, fh, 0)).errno, 0, 'release frees it');
  t.same((await call(ops, rec, 'getattr', ino, 0)).errno, 2, 'the inode is gone with the last release');

  // an exception that is not an FsError is a bug: logged, and the mount turns read-only
  const g = await call(ops, rec, 'create', ROOT, 'g', 0o100644, 0);
  const real = fsys.write.bind(fsys);
  fsys.write = () => { throw new TypeError('a bug'); };
  t.same((await call(ops, rec, 'write', g.attr!.ino, g.fh, Buffer.from('x'), 0, false)).errno, 5, 'the failing write gets EIO');
  fsys.write = real;
  t.match(o.broken, /write \/g: a bug/, 'the mount records why');
  t.match(log.lines.join('\n'), /error: write \/g: TypeError: a bug\n\s+at /, 'the stack is logged');
  t.same((await call(ops, rec, 'mkdir', ROOT, 'e', 0o755)).errno, 5, 'later writers get EIO');
  t.same((await call(ops, rec, 'fsync', g.attr!.ino, g.fh, 0)).errno, 5, 'fsync too: nothing is claimed durable');
  t.equal((await call(ops, rec, 'getattr', g.attr!.ino, 0)).kind, 'attr', 'readers go on');
  // the engine itself writes nothing more: what it holds may be half changed
  const atime = (await call(ops, rec, 'getattr', g.attr!.ino, 0)).attr!.atime;
  let writes = 0;
  const devWrite = dev.write.bind(dev);
  dev.write = (addr: number, data: Uint8Array) => { writes++; devWrite(addr, data); };
  t.equal((await call(ops, rec, 'read', g.attr!.ino, g.fh, 16, 0)).kind, 'data', 'a read is answered');
  t.same((await call(ops, rec, 'getattr', g.attr!.ino, 0)).attr!.atime, atime, 'and moves no atime');
  t.equal(fsys.readOnly, true, 'the engine is halted');
  t.throws(() => fsys.sync(), { code: 'EIO' }, 'a sync makes nothing durable: EIO');
  t.equal(writes, 0, 'and not a block was written');
  o.close();
  t.same((await call(ops, rec, 'getattr', g.attr!.ino, 0)).errno, 5, 'after close every request is EIO');
});
