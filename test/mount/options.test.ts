// The parts of cowlog mount that need no FUSE: -o option parsing, the control channel's JSON
// lines, and the FUSE operations table driven directly against an engine on a memory device
// (errno mapping, files unlinked while open, the read-only turn after an internal error).

import t from 'tap';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mount_options_parse, mount_options_ro, MountOptionError } from '../../src/fuse/options.js';
import { control_listen, control_request, ControlUnreachable } from '../../src/fuse/control.js';
import { CowlogOps } from '../../src/fuse/ops.js';
import { logger_memory } from '../../src/fuse/log.js';
import { MemoryDevice } from '../../src/device/memory.js';
import { FileSystem } from '../../src/fs/fs.js';
import type { FuseOps, FuseStat } from '../../src/fuse/binding.js';

t.test('-o options: cowlog\'s own, kernel flags passed on, fstab words ignored, the rest refused', async (t) => {
  const d = mount_options_parse([], false);
  t.same(d, {
    readOnly: false, wear: null, log: null, allowOther: false, attrTimeout: 0, entryTimeout: 1, commit: null, kernel: [], snapshot: null,
    atime: 'relatime', nodiratime: false, remount: false, compress: null, cache: null, force: false,
  }, 'defaults for a user');
  t.equal(mount_options_parse(['force'], true).force, true, 'force: read-write even after fsck found errors');
  t.throws(() => mount_options_parse(['force=1'], true), MountOptionError, 'force takes no value');
  t.same(['cache=256M', 'cache=1G', 'cache=8388608', 'cache=64MiB'].map((o) => mount_options_parse([o], true).cache), [256 << 20, 1 << 30, 8 << 20, 64 << 20], 'cache= sizes');
  t.throws(() => mount_options_parse(['cache=1M'], true), /cache=1M: a size of at least 4M/, 'a budget too small to work in');
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

/** Calls a FUSE operation and resolves with its callback's arguments. */
function call<K extends keyof FuseOps>(ops: FuseOps, op: K, ...args: unknown[]): Promise<unknown[]> {
  return new Promise((ok) => {
    const fn = ops[op] as unknown as (...a: unknown[]) => void;
    fn(...args, (...r: unknown[]) => ok(r));
  });
}

t.test('the operations against an engine: errnos, handles, hidden names, a bug turns the mount read-only', async (t) => {
  const dev = new MemoryDevice(8192);
  FileSystem.mkfs(dev);
  const fsys = FileSystem.mount(dev);
  const log = logger_memory();
  const o = new CowlogOps({ fs: fsys, caller: () => ({ uid: 7, gid: 8, pid: 1, umask: 0 }), log });
  const ops = o.ops();
  t.same(await call(ops, 'getattr', '/nope'), [-2], 'ENOENT');
  t.same(await call(ops, 'mkdir', '/d', 0o755), [0], 'mkdir');
  const [e1, fh] = await call(ops, 'create', '/d/f', 0o100644, 0) as [number, number];
  t.equal(e1, 0, 'create');
  t.ok(fh > 0, 'answers a file handle');
  const st = (await call(ops, 'getattr', '/d/f'))[1] as FuseStat;
  t.same([st.uid, st.gid, st.mode], [7, 8, 0o100644], 'owned by the caller');
  t.same(await call(ops, 'write', '/d/f', fh, Buffer.from('hello'), 5, 0), [5], 'write through the handle');
  t.same(await call(ops, 'mkdir', '/d', 0o755), [-17], 'EEXIST');
  t.same(await call(ops, 'rmdir', '/d'), [-39], 'ENOTEMPTY');
  t.same(await call(ops, 'create', `/${'n'.repeat(256)}`, 0o100644, 0), [-36], 'ENAMETOOLONG');
  t.same(await call(ops, 'setxattr', '/d/f', 'system.posix_acl_access', Buffer.alloc(4), 0, 0), [-95], 'ACLs: EOPNOTSUPP');
  // libfuse hides an open file it is asked to unlink: a rename to .fuse_hidden...
  const hidden = '.fuse_hidden0000000300000001';
  t.same(await call(ops, 'rename', '/d/f', `/d/${hidden}`), [0], 'the hiding rename');
  t.same((await call(ops, 'readdir', '/d'))[1], ['.', '..'], 'lists no hidden name');
  t.same(await call(ops, 'rmdir', '/d'), [0], 'the directory is empty and goes');
  const buf = Buffer.alloc(16);
  t.same(await call(ops, 'read', '', fh, buf, 16, 0), [5], 'the open file reads by its handle, path "" (flag_nullpath_ok)');
  t.equal(buf.subarray(0, 5).toString(), 'hello', 'its data');
  t.equal(((await call(ops, 'fgetattr', '', fh))[1] as FuseStat).nlink, 0, 'fgetattr: link count 0');
  t.same(await call(ops, 'release', '', fh), [0], 'release frees it');
  t.same(await call(ops, 'unlink', `/d/${hidden}`), [-2], 'the hidden name is forgotten with the last release');

  // an exception that is not an FsError is a bug: logged, and the mount turns read-only
  const [, fh2] = await call(ops, 'create', '/g', 0o100644, 0) as [number, number];
  const real = fsys.write.bind(fsys);
  fsys.write = () => { throw new TypeError('a bug'); };
  t.same(await call(ops, 'write', '/g', fh2, Buffer.from('x'), 1, 0), [-5], 'the failing write gets EIO');
  fsys.write = real;
  t.match(o.broken, /write \/g: a bug/, 'the mount records why');
  t.match(log.lines.join('\n'), /error: write \/g: TypeError: a bug\n\s+at /, 'the stack is logged');
  t.same(await call(ops, 'mkdir', '/e', 0o755), [-5], 'later writers get EIO');
  t.same(await call(ops, 'fsync', '/g', 0, fh2), [-5], 'fsync too: nothing is claimed durable');
  t.equal((await call(ops, 'getattr', '/g'))[0], 0, 'readers go on');
  o.close();
  t.same(await call(ops, 'getattr', '/g'), [-5], 'after close every request is EIO');
});
