// open(2) with O_TMPFILE and statx's birth time through the mount, made as programs make them
// (test/mount/calls_client.py): the kernel sends FUSE_TMPFILE and FUSE_STATX, which libfuse
// 3.14 answers ENOSYS and the binding hands to cowlog (patch level 12). A file of no name is
// written and counted by df, freed when closed, named by linkat(2) of /proc/self/fd/N unless
// opened with O_EXCL, made by another user where that user may write. kill -9 of the server
// with one such file open and another named: the mount after frees the first and keeps the
// second. With `-o btime`, `stat` shows when a file was born, and it stays when the file
// changes; without it, none (and no round trip for it). Each ends with fsck. On the default
// mount and with the kernel's writeback cache.

import t from 'tap';
import { spawn } from 'node:child_process';
import { as_user, cmd_run, fuse_unavailable, mount_with } from '../helpers/fusemount.js';
import type { Mounted } from '../helpers/fusemount.js';
import { mount_dead, state_read } from '../../src/fuse/runtime.js';
import { CowlogOps } from '../../src/fuse/ops.js';
import { logger_memory } from '../../src/fuse/log.js';
import { call as call_op, ReplyRecorder } from '../../tools/bench/replies.js';
import { fsck_ok, mkfs_mem, mount } from '../helpers/engine.js';
import { blocks_used, CALLS_CLIENT, calls_client, clean_after, cowlog, cowlog_server, daemon_guard, fsck, image_make, mountpoint_make, MOUNT_KINDS, sh_ok, until } from './helpers.js';

const CLIENT = CALLS_CLIENT;
const MiB = 1 << 20;
const call = calls_client;
const sh = sh_ok;
/** statfs through the mount: bytes in use. */
const used = async (m: Mounted): Promise<number> => (await blocks_used(m)) * 4096;

// the answer itself, from the handler: this kernel takes the birth time from it but not the
// attributes (STATX_ATTR_IMMUTABLE and the rest), so `statx` shows no chattr flags through FUSE
t.test('a statx answer carries the birth time and chattr\'s flags as statx attributes', async (t) => {
  const dev = mkfs_mem(2048);
  const fsys = mount(dev);
  const o = new CowlogOps({ fs: fsys, caller: () => ({ uid: 0, gid: 0, pid: 1, umask: 0 }), log: logger_memory(), btime: true });
  const rec = new ReplyRecorder();
  const ops = o.ops(rec);
  // (another handler set on the same engine; closing `o` unmounts it)
  const plain = new CowlogOps({ fs: fsys, caller: () => ({ uid: 0, gid: 0, pid: 1, umask: 0 }), log: logger_memory() });
  t.equal(plain.ops(rec).statx, undefined, 'without btime there is no statx handler: the kernel is told ENOSYS');
  const f = fsys.create(1, 'f', 0o644);
  fsys.attr_flags_set(f.ino, { fl: 0x10 | 0x40 | 0x80 });
  const r = await call_op(ops, rec, 'statx', f.ino, 0, 0xfff, 0);
  t.equal(r.kind, 'statx', 'answered as statx');
  t.same(r.attr!.btime, f.btime, 'with the birth time');
  t.equal(r.attr!.attributes, 0x10 | 0x40, 'immutable and nodump as STATX_ATTR_*; noatime has no statx bit');
  const g = await call_op(ops, rec, 'statx', 999, 0, 0xfff, 0);
  t.equal(g.errno, 2, 'an inode that is not there: ENOENT');
  o.close();
  fsck_ok(t, dev);
});

const skip = await fuse_unavailable();
if (skip === undefined) {
  for (const [label, opts] of MOUNT_KINDS) {
    t.test('O_TMPFILE: unnamed, counted, freed at close, named by linkat' + label, async (t) => {
      const image = await image_make(t, '64M');
      const m = await mount_with(t, cowlog_server(image, ...opts));
      await sh(t, m, 'mkdir d; chmod 1777 d; sync');
      const u0 = await used(m);
      // held open (printing first) by a client in the background
      const held = spawn('python3', [CLIENT, 'tmpfile', m.path('d'), String(16 * MiB), '-', 'hold'], { stdio: ['ignore', 'pipe', 'pipe'] });
      t.teardown(() => { held.kill('SIGKILL'); });
      let out = '';
      held.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
      t.ok(await until(() => out.includes('\n'), 60_000), 'the client made its file');
      t.match(out, /^ok 0 0 /, 'an open file of no name: nlink 0');
      t.equal(await sh(t, m, 'ls -A d | wc -l'), '0\n', 'ls does not list it');
      await sh(t, m, 'sync');
      const u1 = await used(m);
      t.ok(u1 - u0 >= 15 * MiB, `df counts its 16 MiB (${((u1 - u0) / MiB).toFixed(1)} MiB more in use)`);
      const gone = new Promise<void>((ok) => held.on('exit', () => ok()));
      held.kill('SIGKILL');
      await gone;
      t.ok(await until(async () => { await sh(t, m, 'sync'); return (await used(m)) - u0 < MiB; }, 20_000), 'closed: df gives its space back');

      const named = await call(m, 'tmpfile', 'd', String(3 * MiB + 5), 'named');
      t.match(named, /^ok 0 1 [0-9a-f]{32}$/, 'linkat names it: nlink 0, then 1');
      t.equal(await sh(t, m, 'md5sum < d/named | cut -d" " -f1; stat -c %h d/named'), `${named.split(' ')[3]}\n1\n`, 'the name reads what was written');
      t.equal(await call(m, 'tmpfile', 'd', '4096', 'excl', 'excl'), 'ENOENT', 'opened with O_EXCL: linkat ENOENT');
      t.equal(await sh(t, m, 'ls d'), 'named\n', 'nothing else got a name');
      const [cmd, args] = as_user(65534, 65534, '/usr/bin/python3', [CLIENT, 'tmpfile', m.path('d'), '100', 'theirs']);
      const r = await m.run(cmd, args, { cwd: '/' });
      t.match(r.stdout, /^ok 0 1 /, 'another user makes and names one in a directory they may write', { stderr: r.stderr });
      t.equal(await sh(t, m, 'stat -c "%u %g %a" d/theirs'), '65534 65534 640\n', 'theirs, with the mode asked for');
      const [cmd2, args2] = as_user(65534, 65534, '/usr/bin/python3', [CLIENT, 'tmpfile', m.path('.'), '100', '-']);
      t.equal((await m.run(cmd2, args2, { cwd: '/' })).stdout.trim(), 'EACCES', 'and not where they may not');
      await clean_after(t, m, image);
    });

    t.test('statx birth times with -o btime, none without' + label, async (t) => {
      const image = await image_make(t, '32M');
      const plain = await mount_with(t, cowlog_server(image, ...opts));
      t.equal(await sh(t, plain, 'touch a; stat -c %W a'), '0\n', 'by default stat shows no birth time');
      await clean_after(t, plain, image);
      const m = await mount_with(t, cowlog_server(image, ...opts, '-o', 'btime'));
      // statx: the birth time (FUSE_STATX), which stays when the file changes
      const born = (await sh(t, m, 'touch b; stat -c "%W %Y" b')).trim().split(' ').map(Number);
      t.ok(born[0]! > 0 && Math.abs(born[0]! - born[1]!) <= 1, `with -o btime stat shows when the file was born (${born[0]}, modified ${born[1]})`);
      t.equal((await sh(t, m, 'sleep 1.1; echo more >> b; touch -m -d 2001-02-03 b; stat -c "%W %Y" b')).trim(), `${born[0]} 981158400`, 'changed and its times set: the birth time stays');
      t.ok(Number((await sh(t, m, 'stat -c %W a')).trim()) > 0, 'a file made on the mount before has one too');
      t.match(await call(m, 'tmpfile', '.', '100', 'named'), /^ok 0 1 /, 'a file made with O_TMPFILE and named');
      t.ok(Number((await sh(t, m, 'stat -c %W named')).trim()) > 0, 'has one too');
      await clean_after(t, m, image);
    });

    t.test('kill -9 with a file of no name open: the next mount frees it, keeps the named one' + label, async (t) => {
      const image = await image_make(t, '64M');
      const mnt = mountpoint_make(t);
      daemon_guard(t, mnt);
      let r = await cowlog(['mount', ...opts, image, mnt]);
      t.equal(r.code, 0, 'mounted', { output: r.stderr });
      const u = async (): Promise<number> => {
        const s = await cmd_run('stat', ['-f', '-c', '%b %a', mnt]);
        const [blocks, avail] = s.stdout.trim().split(' ').map(Number) as [number, number];
        return (blocks - avail) * 4096;
      };
      const u0 = await u();
      const named = await cmd_run('python3', [CLIENT, 'tmpfile', mnt, String(2 * MiB), 'named'], { timeoutMs: 60_000 });
      t.match(named.stdout, /^ok 0 1 /, 'one named and fsync\'d');
      const held = spawn('python3', [CLIENT, 'tmpfile', mnt, String(12 * MiB), '-', 'hold'], { stdio: ['ignore', 'pipe', 'pipe'] });
      t.teardown(() => { held.kill('SIGKILL'); });
      let out = '';
      held.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
      t.ok(await until(() => out.includes('\n'), 60_000), 'one of no name, written, fsync\'d and held open');
      process.kill(state_read(mnt)!.pid, 'SIGKILL');
      t.ok(await until(() => mount_dead(mnt), 20_000), 'kill -9: the mount is stale');
      held.kill('SIGKILL');
      await cmd_run('fusermount', ['-uz', mnt]);
      const f = await fsck(image, '-n');
      t.equal(f.code, 0, 'fsck after kill -9: clean (the file of no name is an orphan)', { output: f.stdout + f.stderr });
      r = await cowlog(['mount', ...opts, image, mnt]);
      t.equal(r.code, 0, 'mounted again', { output: r.stderr });
      const md5 = await cmd_run('sh', ['-c', `md5sum < ${mnt}/named | cut -d" " -f1; ls -A ${mnt}`]);
      t.equal(md5.stdout, `${named.stdout.trim().split(' ')[3]}\nnamed\n`, 'the named one is there with its data, nothing else');
      const u1 = await u();
      t.ok(u1 - u0 < 4 * MiB, `the one of no name was freed: ${((u1 - u0) / MiB).toFixed(1)} MiB more in use than before both`);
      t.equal((await cowlog(['umount', mnt])).code, 0, 'unmounted');
      const f2 = await fsck(image, '-n', '--data');
      t.equal(f2.code, 0, 'fsck --data: clean', { output: f2.stdout + f2.stderr });
    });
  }
}
