// The mount's memory and its damage record, tried as a new user would: `-o cache=16M` and `cowlog
// info --stats` showing each cache against its share of it; a filesystem whose fsck found errors
// mounts read-only with a warning (writes fail with EROFS) and `-o force` mounts it read-write.
// Servers run in processes of their own; the test process never touches a mount.

import t from 'tap';
import type { Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { fuse_unavailable, mount_with } from '../helpers/fusemount.js';
import type { RunResult } from '../helpers/fusemount.js';
import { clean_after, cowlog, cowlog_server, daemon_guard, image_make, mountpoint_make, tmp_dir } from './helpers.js';
import { device_open } from '../../src/device/file.js';
import { FileSystem } from '../../src/fs/fs.js';
import { key, RecKind } from '../../src/format/records.js';
import { cmd_run } from '../helpers/fusemount.js';
import { SCALE_MIN } from '../../src/fuse/resident.js';
import type { ResidentStats } from '../../src/fuse/resident.js';

const CREATE = `const fs=require('fs');for(let d=0;d<6;d++){fs.mkdirSync('d'+d);for(let i=0;i<500;i++)fs.writeFileSync('d'+d+'/f'+i,'x'.repeat(2000+i));}`;

/**
 * An image of 3,000 files made through a mount, then with the leaf holding /d4/f300's inode
 * damaged while nothing has it mounted; and a mountpoint for it.
 */
async function damaged_image(t: Test): Promise<{ img: string; mnt: string }> {
  const img = await image_make(t, '64M');
  const mnt = mountpoint_make(t);
  daemon_guard(t, mnt);
  let r = await cowlog(['mount', img, mnt]);
  t.equal(r.code, 0, r.stderr);
  r = await cmd_run(process.execPath, ['-e', CREATE], { cwd: mnt, timeoutMs: 300_000 });
  t.equal(r.code, 0, 'files created');
  t.equal((await cowlog(['umount', mnt])).code, 0, 'unmounted');
  const dev = device_open(img);
  const fsys = FileSystem.mount(dev, { readOnly: true });
  const leaf = fsys.vol.leaf_addr(key(fsys.resolve('/d4/f300'), RecKind.INODE, 0));
  fsys.unmount();
  const b = dev.read(leaf);
  b[500]! ^= 0x20;
  dev.write(leaf, b);
  dev.flush();
  dev.close();
  return { img, mnt };
}

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  t.test('-o cache=16M: info --stats shows each cache against its share', async (t) => {
    const img = await image_make(t, '256M');
    const m = await mount_with(t, cowlog_server(img, '-o', 'cache=16M'));
    const r = await m.run(process.execPath, ['-e', CREATE], { timeoutMs: 300_000 });
    t.equal(r.code, 0, `3,000 files created ${r.stderr}`);
    await m.run('ls', ['-lR', '.']);
    const st = await cowlog(['info', '--stats', '--json', m.mountpoint]);
    t.equal(st.code, 0, st.stderr);
    const mem = (JSON.parse(st.stdout) as { memory: Record<string, number> }).memory;
    t.equal(mem['budgetBytes'], 16 << 20, 'the budget given');
    t.equal(mem['tablePagesMax'], 1024, 'a quarter of it for table pages (4 KiB each)');
    t.ok(mem['nodes']! <= mem['nodesMax']! + mem['nodesDirty']!, `${mem['nodes']} nodes cached, at most ${mem['nodesMax']} clean and dirty`);
    t.ok(mem['inodes']! <= mem['inodesMax']! + mem['inodesPinned']!, `${mem['inodes']} inodes of ${mem['inodesMax']} (${mem['inodesPinned']} pinned by dirty pages or open)`);
    t.ok(mem['nodeEvictions']! > 0 || mem['nodes']! < mem['nodesMax']!, 'nodes beyond the share are evicted');
    t.ok(mem['rssBytes']! > 0, `the server holds ${(mem['rssBytes']! / 2 ** 20).toFixed(0)} MiB`);
    const text = await cowlog(['info', '--stats', m.mountpoint]);
    t.match(text.stdout, /^memory: budget 16\.0 MiB \(cache=\); the server holds/m, 'as text');
    t.match(text.stdout, /^ {2}tree nodes +\d+ of \d+ \(\d+ %\), \d+ changed and pinned/m, 'a line per cache');
    await clean_after(t, m, img);
  });

  t.test('-o mem=4M: a server held above its bound scales its caches down, and says so', async (t) => {
    const img = await image_make(t, '256M');
    const m = await mount_with(t, cowlog_server(img, '-o', 'mem=4M'));
    const r = await m.run(process.execPath, ['-e', CREATE], { timeoutMs: 300_000 });
    t.equal(r.code, 0, `3,000 files created ${r.stderr}`);
    // the bound looks once a second
    let res: ResidentStats | null = null;
    for (let i = 0; i < 50; i++) {
      const st = await cowlog(['info', '--stats', '--json', m.mountpoint]);
      t.equal(st.code, 0, st.stderr);
      res = (JSON.parse(st.stdout) as { memory: { resident: ResidentStats | null } }).memory.resident;
      if (res !== null && res.squeezes > 0) break;
      await new Promise((ok) => setTimeout(ok, 200));
    }
    t.ok(res !== null && res.idleBytes !== null && res.idleBytes > 0, 'the idle size was taken');
    t.equal(res?.boundBytes, 4 << 20, 'the bound given');
    t.ok(res !== null && res.squeezes > 0 && res.cacheScaleLowest < 1, `the caches were scaled down (${res?.squeezes} steps, to ${res?.cacheScaleLowest})`);
    t.ok(res !== null && res.cacheScaleLowest >= SCALE_MIN, 'never below a quarter of their shares');
    const text = await cowlog(['info', '--stats', m.mountpoint]);
    t.match(text.stdout, /^ {2}resident +[\d.]+ (?:[KMG]i)?B above its idle [\d.]+ MiB, of 4\.00 MiB \(mem=\); the caches may take \d+ % of their shares \(\d+ steps down, \d+ % at least\)$/m, 'as text');
    const ls = await m.run('ls', ['-lR', '.']);
    t.equal(ls.stdout.split('\n').filter((l) => l.startsWith('-')).length, 3000, 'every file is there');
    const rd = await m.run(process.execPath, ['-e', `const fs=require('fs');for(let d=0;d<6;d++)for(let i=0;i<500;i++)if(fs.readFileSync('d'+d+'/f'+i,'utf8')!=='x'.repeat(2000+i))throw new Error('d'+d+'/f'+i)`]);
    t.equal(rd.code, 0, `every file reads back ${rd.stderr}`);
    await clean_after(t, m, img);
  });

  t.test('-o mem=0: no bound', async (t) => {
    const img = await image_make(t, '64M');
    const m = await mount_with(t, cowlog_server(img, '-o', 'mem=0'));
    const st = await cowlog(['info', '--stats', '--json', m.mountpoint]);
    t.equal((JSON.parse(st.stdout) as { memory: { resident: unknown } }).memory.resident, null, 'none in the stats');
    t.match((await cowlog(['info', '--stats', m.mountpoint])).stdout, /^ {2}resident +no bound \(mem=0\)/m, 'and the text says so');
    await clean_after(t, m, img);
  });

  t.test('-o held_max=500: past it the kernel is asked to drop the oldest names and forgets them', async (t) => {
    const img = await image_make(t, '256M');
    const m = await mount_with(t, cowlog_server(img, '-o', 'held_max=500'));
    const r = await m.run(process.execPath, ['-e', CREATE], { timeoutMs: 300_000 });
    t.equal(r.code, 0, `3,000 files created ${r.stderr}`);
    const ls = await m.run('ls', ['-lR', '.']);
    t.equal(ls.stdout.split('\n').filter((l) => l.startsWith('-')).length, 3000, 'ls -lR lists every file');
    let mem: Record<string, number> = {};
    // FORGETs come when the kernel gets to them
    for (let i = 0; i < 50; i++) {
      const st = await cowlog(['info', '--stats', '--json', m.mountpoint]);
      t.equal(st.code, 0, st.stderr);
      mem = (JSON.parse(st.stdout) as { memory: Record<string, number> }).memory;
      if (mem['held']! <= 500 + 2 * 16) break;
      await new Promise((ok) => setTimeout(ok, 100));
    }
    t.equal(mem['heldMax'], 500, 'the bound given');
    t.ok(mem['held']! <= 500 + 2 * 16, `${mem['held']} inodes held by the kernel, within the bound and a batch`);
    t.ok(mem['heldAsked']! >= 3000 - 500, `${mem['heldAsked']} names the kernel was asked to drop`);
    const back = await m.run('sh', ['-c', 'cat d0/f0 | wc -c; stat -c %s d0/f1 d5/f499; find . -type f | wc -l']);
    t.same(back.stdout.trim().split('\n'), ['2000', '2001', '2499', '3000'], 'the dropped names are looked up again: every file is there');
    const text = await cowlog(['info', '--stats', m.mountpoint]);
    t.match(text.stdout, /^ {2}kernel-held +\d+ inodes of 500 \(held_max=\); \d+ names the kernel was asked to drop$/m, 'info --stats shows it');
    await clean_after(t, m, img);
  });

  t.test('fsck found errors: cowlog mount says so and mounts read-only; -o force writes, as does a remount with it', async (t) => {
    const { img, mnt } = await damaged_image(t);
    let r: RunResult;
    const f = await cowlog(['fsck', img]);
    t.equal(f.code, 4, 'fsck: errors');
    t.match(f.stdout, /recorded in the filesystem: it mounts read-only until fsck finds none \(or with -o force\)/, 'and says it recorded them');
    r = await cowlog(['mount', img, mnt]);
    t.equal(r.code, 0, 'the mount succeeds');
    t.match(r.stderr, /^cowlog mount: errors were found in this filesystem \(by fsck, or by a mount that met a damaged block\): mounted read-only; run cowlog fsck for the list, or mount with -o force to write anyway$/m, 'with a warning');
    const w = await cmd_run('sh', ['-c', 'echo x > new'], { cwd: mnt });
    t.match(w.stderr, /Read-only file system/, 'a write fails with EROFS');
    r = await cowlog(['mount', '-o', 'remount,rw', img, mnt]);
    t.equal(r.code, 1, 'remount,rw: refused (it said "remounted read-write" and stayed read-only)');
    t.match(r.stderr, /refused: EROFS: errors were found in this filesystem .*: it stays read-only; run cowlog fsck for the list, or remount with -o force to write anyway\n$/, 'saying why, in one line');
    t.match((await cmd_run('sh', ['-c', 'echo y > new1'], { cwd: mnt })).stderr, /Read-only file system/, 'still read-only');
    r = await cowlog(['mount', '-o', 'remount,rw,force', img, mnt]);
    t.equal(r.code, 0, 'remount,rw,force', { output: r.stderr });
    t.equal((await cmd_run('sh', ['-c', 'echo z > new2 && cat new2'], { cwd: mnt })).stdout, 'z\n', 'a write works');
    t.equal((await cowlog(['umount', mnt])).code, 0, 'unmounted');
    r = await cowlog(['mount', '-o', 'force', img, mnt]);
    t.equal(r.code, 0, 'forced');
    t.notMatch(r.stderr, /read-only/, 'no warning');
    const w2 = await cmd_run('sh', ['-c', 'echo x > new && cat new'], { cwd: mnt });
    t.equal(w2.stdout.trim(), 'x', 'a write works');
    t.equal((await cowlog(['umount', mnt])).code, 0, 'unmounted');
    t.ok(path.isAbsolute(img));
  });

  t.test('a mount that meets a damaged node turns read-only at once, and the next mount stays read-only', async (t) => {
    const { img, mnt } = await damaged_image(t);
    let r: RunResult;
    const logPath = path.join(tmp_dir(t), 'mount.log');
    r = await cowlog(['mount', '-o', `log=${logPath}`, img, mnt]);
    t.equal(r.code, 0, 'nothing is known yet: the mount succeeds');
    t.notMatch(r.stderr, /read-only/, 'read-write');
    const ok = await cmd_run('sh', ['-c', 'echo before > before && cat before'], { cwd: mnt });
    t.equal(ok.stdout.trim(), 'before', 'a write before the damage is met works');
    const s = await cmd_run('stat', ['d4/f300'], { cwd: mnt });
    t.match(s.stderr, /Input\/output error|Structure needs cleaning/, `the damaged leaf: an error (${s.stderr.trim()})`);
    const w = await cmd_run('sh', ['-c', 'echo x > new'], { cwd: mnt });
    t.match(w.stderr, /Read-only file system/, 'from then on a write fails with EROFS');
    const rm = await cmd_run('rm', ['d0/f1'], { cwd: mnt });
    t.match(rm.stderr, /Read-only file system/, 'and so does an unlink');
    const rd = await cmd_run('cat', ['d0/f2'], { cwd: mnt });
    t.equal(rd.stdout, 'x'.repeat(2002), 'reads go on');
    t.equal((await cowlog(['umount', mnt])).code, 0, 'unmounted');
    t.match(fs.readFileSync(logPath, 'utf8'), /the filesystem is damaged: the mount is read-only from now on/, 'the log says why');
    r = await cowlog(['mount', img, mnt]);
    t.equal(r.code, 0, 'mounted again');
    t.match(r.stderr, /errors were found in this filesystem .*: mounted read-only/, 'read-only, with the warning: the errors were recorded');
    const back = await cmd_run('cat', ['before'], { cwd: mnt });
    t.equal(back.stdout.trim(), 'before', 'what was written before the damage was met is there');
    t.equal((await cowlog(['umount', mnt])).code, 0, 'unmounted');
    const f = await cowlog(['fsck', '-n', img]);
    t.equal(f.code, 4, 'fsck -n finds the damage');
  });
}
