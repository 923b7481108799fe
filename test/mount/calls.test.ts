// The calls the path-based binding could not answer, through the mount with the system calls
// programs make (test/mount/calls_client.py): renameat2 RENAME_NOREPLACE, RENAME_EXCHANGE and
// RENAME_WHITEOUT with their refusals, fallocate's modes with df telling the truth and ENOSPC,
// SEEK_DATA and SEEK_HOLE, FITRIM (fstrim) giving an image file back what was deleted,
// copy_file_range sharing blocks (a 64 MiB copy takes ~no space; writing the copy leaves the
// original intact; deleting either frees only what the other does not hold), and kill -9 of the
// server while they run. Each ends with fsck. All of it on the default mount and
// with the kernel's writeback cache.

import t from 'tap';
import path from 'node:path';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { cmd_run, fuse_unavailable, mount_with } from '../helpers/fusemount.js';
import { mount_dead, state_read } from '../../src/fuse/runtime.js';
import { blocks_used, CALLS_CLIENT, calls_client, clean_after, cowlog, cowlog_server, daemon_guard, fsck, image_make, mountpoint_make, MOUNT_KINDS, sh_ok, tmp_dir, until } from './helpers.js';

const CLIENT = CALLS_CLIENT;
const MiB = 1 << 20;
const call = calls_client;
const used = blocks_used;
const sh = sh_ok;

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  // each test on the default mount, then with the kernel's writeback cache
  for (const [label, opts] of MOUNT_KINDS) {
    t.test('renameat2: RENAME_NOREPLACE, RENAME_EXCHANGE and RENAME_WHITEOUT, and what they refuse' + label, async (t) => {
      const image = await image_make(t, '64M');
      const m = await mount_with(t, cowlog_server(image, ...opts));
      await sh(t, m, 'mkdir -p d1/sub d2; echo one > a; echo two > b; echo three > d2/c; ln a a2; stat -c %h a b >/dev/null');
      t.equal(await call(m, 'rename2', 'a', 'b', 'noreplace'), 'EEXIST', 'NOREPLACE onto a name that exists: EEXIST');
      t.equal(await call(m, 'rename2', 'a', 'new', 'noreplace'), 'ok', 'NOREPLACE onto a free name');
      t.equal(await sh(t, m, 'cat new; test ! -e a && echo gone'), 'one\ngone\n', 'it moved');
      t.equal(await call(m, 'rename2', 'new', 'b', 'exchange'), 'ok', 'EXCHANGE of two files');
      t.equal(await sh(t, m, 'cat new b; stat -c %h b a2'), 'two\none\n2\n2\n', 'the names swapped; the hard link count shows through both names at once');
      t.equal(await call(m, 'rename2', 'd1', 'd2/c', 'exchange'), 'ok', 'EXCHANGE of a directory and a file in another directory');
      t.equal(await sh(t, m, 'cat d1; ls d2/c; stat -c %h . d2 d2/c'), 'three\nsub\n3\n3\n3\n', 'swapped across parents, link counts of both parents right');
      t.equal(await call(m, 'rename2', 'd2/c', 'd2/c/sub', 'exchange'), 'EINVAL', 'a directory exchanged into itself: EINVAL');
      t.equal(await call(m, 'rename2', 'b', 'nothere', 'exchange'), 'ENOENT', 'EXCHANGE with a missing name: ENOENT');
      t.equal(await call(m, 'rename2', 'b', 'new', 'both'), 'EINVAL', 'both flags: EINVAL');
      // RENAME_WHITEOUT (overlayfs' call): the old name is left a character device 0:0, mode 0
      t.equal(await call(m, 'rename2', 'b', 'w1', 'whiteout'), 'ok', 'WHITEOUT onto a free name');
      t.equal(await sh(t, m, "cat w1; stat -c '%F %t:%T %a %u %h' b"), 'one\ncharacter special file 0:0 0 0 1\n', 'it moved; a whiteout is left at the old name');
      t.equal(await call(m, 'rename2', 'w1', 'a2', 'whiteout'), 'ok', 'WHITEOUT over an existing name (a hard link of the same file: nothing moves)');
      t.equal(await sh(t, m, "cat w1 a2; stat -c %h a2"), 'one\none\n2\n', 'two names of one inode: both stay, as in Linux');
      t.equal(await call(m, 'rename2', 'd2/c/sub', 'w2', 'whiteout+noreplace'), 'ok', 'WHITEOUT with NOREPLACE, of a directory');
      t.equal(await sh(t, m, "stat -c '%F' w2 d2/c/sub; stat -c %h d2/c"), 'directory\ncharacter special file\n2\n', 'the directory moved, its old parent lost a link, a whiteout is left');
      t.equal(await call(m, 'rename2', 'w2', 'b', 'whiteout+noreplace'), 'EEXIST', 'WHITEOUT with NOREPLACE onto a name that exists: EEXIST');
      t.equal(await call(m, 'rename2', 'w2', 'b', 'whiteout+exchange'), 'EINVAL', 'WHITEOUT with EXCHANGE: EINVAL');
      t.equal(await sh(t, m, "rm b d2/c/sub; ls d2/c | wc -l"), '0\n', 'a whiteout is removed as any other name');
      await clean_after(t, m, image);
    });

    t.test('fstrim: the image gives back what was deleted' + label, async (t) => {
      const image = await image_make(t, '128M');
      const m = await mount_with(t, cowlog_server(image, ...opts));
      /** bytes the image file holds on its own filesystem (a sparse file) */
      const held = (): number => fs.statSync(image).blocks * 512;
      await sh(t, m, 'head -c 48M /dev/urandom > big; head -c 3M /dev/urandom > small; md5sum small > small.md5');
      const trimmed = (out: string): number => Number(/\((\d+) bytes\) trimmed/.exec(out)?.[1] ?? NaN);
      const first = trimmed(await sh(t, m, 'fstrim -v .'));
      t.ok(first > 0, `fstrim -v: ${(first / MiB).toFixed(1)} MiB never written`);
      const h0 = held();
      t.ok(h0 >= 48 * MiB, `the image holds the data (${(h0 / MiB).toFixed(1)} MiB)`);
      const second = trimmed(await sh(t, m, 'rm big; fstrim -v .'));
      const h1 = held();
      t.ok(second >= first + 44 * MiB, `after rm: ${(second / MiB).toFixed(1)} MiB trimmed`);
      t.ok(h0 - h1 >= 44 * MiB, `the image gave back ${((h0 - h1) / MiB).toFixed(1)} MiB`);
      const free = Number((await m.run('stat', ['-f', '-c', '%a', '.'])).stdout) * 4096;
      t.ok(second <= free, 'no more than df shows free');
      t.equal(await sh(t, m, 'md5sum -c --quiet small.md5 && echo intact'), 'intact\n', 'the file left reads as written');
      const r = await m.sh('setpriv --reuid=65534 --regid=65534 --clear-groups fstrim . 2>&1');
      t.match(r.stdout, /Operation not permitted/, 'another user: EPERM');
      await clean_after(t, m, image);
    });

    t.test('fallocate: modes, df, ENOSPC; SEEK_DATA and SEEK_HOLE' + label, async (t) => {
      const image = await image_make(t, '64M');
      const m = await mount_with(t, cowlog_server(image, ...opts));
      const u0 = await used(m);
      t.equal(await call(m, 'falloc', 'f', 'alloc', '0', String(8 * MiB)), `ok ${8 * MiB} ${8 * MiB / 512}`, 'default mode: size and blocks of 8 MiB');
      const u1 = await used(m);
      t.ok(u1 - u0 >= 2048 && u1 - u0 <= 2048 + 16, `df counts the 2048 blocks (${u1 - u0})`);
      t.equal(await call(m, 'falloc', 'f', 'keep', String(8 * MiB), String(4 * MiB)), `ok ${8 * MiB} ${12 * MiB / 512}`, 'KEEP_SIZE: the size stays, the blocks count');
      t.equal(await call(m, 'falloc', 'f', 'punch', String(MiB), String(2 * MiB)), `ok ${8 * MiB} ${10 * MiB / 512}`, 'PUNCH_HOLE: 2 MiB given back');
      t.equal(await call(m, 'seek', 'f', 'hole', '0'), `ok ${MiB}`, 'SEEK_HOLE finds the hole');
      t.equal(await call(m, 'seek', 'f', 'data', String(MiB + 5)), `ok ${3 * MiB}`, 'SEEK_DATA the data after it');
      t.equal(await call(m, 'seek', 'f', 'data', String(9 * MiB)), 'ENXIO', 'SEEK_DATA past the end: ENXIO');
      t.same([await call(m, 'seek', 'f', 'data', '-1'), await call(m, 'seek', 'f', 'hole', '-4096')], ['ENXIO', 'ENXIO'], 'a negative offset: ENXIO, as on ext4 (xfstests generic/448)');
      t.equal(await sh(t, m, 'printf xyz | dd of=f bs=1 seek=100 conv=notrunc status=none; od -An -c -j 99 -N 5 f | tr -s " "'), ' \\0 x y z \\0\n', 'a write into allocated space');
      t.equal(await call(m, 'falloc', 'f', 'zero', '0', '4196'), `ok ${8 * MiB} ${10 * MiB / 512}`, 'ZERO_RANGE');
      t.equal(await sh(t, m, 'od -An -c -j 99 -N 5 f | tr -s " "'), ' \\0 \\0 \\0 \\0 \\0\n', 'zeroed');
      t.match(await call(m, 'falloc', 'f', 'collapse', '0', '4096'), /^(EOPNOTSUPP|ENOTSUP)$/, 'COLLAPSE_RANGE: EOPNOTSUPP');
      const free = Number((await m.run('stat', ['-f', '-c', '%a', '.'])).stdout) * 4096;
      t.equal(await call(m, 'falloc', 'g', 'alloc', '0', String(free + 4 * MiB)), 'ENOSPC', 'more than df says is free: ENOSPC');
      t.equal(await sh(t, m, 'stat -c %s g'), '0\n', 'nothing was allocated');
      t.equal(await call(m, 'falloc', 'g', 'alloc', '0', String(free - 2 * MiB)), `ok ${free - 2 * MiB} ${(free - 2 * MiB) / 512}`, 'what df says is free can be allocated');
      t.equal(await sh(t, m, 'dd if=/dev/urandom of=g bs=1M count=8 conv=notrunc,fsync status=none && echo written'), 'written\n', 'and written without ENOSPC');
      await clean_after(t, m, image);
    });

    t.test('copy_file_range: a 64 MiB copy shares its blocks' + label, async (t) => {
      const image = await image_make(t, '256M');
      const m = await mount_with(t, cowlog_server(image, ...opts));
      await sh(t, m, 'dd if=/dev/urandom of=orig bs=1M count=64 conv=fsync status=none');
      const sum = (await sh(t, m, 'sha256sum orig')).split(' ')[0]!;
      const u0 = await used(m);
      t.equal(await call(m, 'copy', 'orig', 'copy'), `ok ${64 * MiB}`, 'copy_file_range copies 64 MiB');
      const u1 = await used(m);
      // the copy's map records: 256 of them, about 150 KiB, and the tree nodes they dirty
      t.ok(u1 - u0 <= 164, `df grows by ${u1 - u0} blocks (${((u1 - u0) * 4096 / 1024).toFixed(0)} KiB, at most 1 %) for a 64 MiB copy`);
      t.equal((await sh(t, m, 'sha256sum copy')).split(' ')[0], sum, 'the copy reads as the original');
      await sh(t, m, 'dd if=/dev/urandom of=copy bs=1M count=1 seek=10 conv=notrunc,fsync status=none');
      t.equal((await sh(t, m, 'sha256sum orig')).split(' ')[0], sum, 'writing 1 MiB of the copy leaves the original intact');
      const u2 = await used(m);
      t.ok(u2 - u1 >= 256 && u2 - u1 <= 256 + 64, `and takes the 1 MiB it changed (${u2 - u1} blocks)`);
      await sh(t, m, 'rm orig');
      const u3 = await used(m);
      t.ok(u2 - u3 >= 200 && u2 - u3 <= 256 + 164, `deleting the original frees only what the copy does not hold: the 1 MiB and its records (${u2 - u3} blocks)`);
      t.notMatch(await sh(t, m, 'sha256sum copy'), sum, 'the copy keeps its own bytes');
      await sh(t, m, 'rm copy');
      const u4 = await used(m);
      t.ok(u3 - u4 >= 16000, `deleting the copy frees the rest (${u3 - u4} blocks)`);
      // cp, as a user runs it
      await sh(t, m, 'dd if=/dev/urandom of=x bs=1M count=16 status=none; cp x y; cmp x y');
      await clean_after(t, m, image);
    });

    t.test('kill -9 while renames, fallocate and copies run: fsck clean, every fsync kept' + label, async (t) => {
      const image = await image_make(t, '64M');
      const mnt = mountpoint_make(t);
      daemon_guard(t, mnt);
      const work = tmp_dir(t);
      const journal = path.join(work, 'journal.jsonl');
      for (let round = 1; round <= 3; round++) {
        const r = await cowlog(['mount', ...opts, image, mnt]);
        t.equal(r.code, 0, `round ${round}: mounted`, { output: r.stderr });
        if (round > 1) {
          const v = await cmd_run('python3', [CLIENT, 'verify', mnt, journal], { timeoutMs: 60_000 });
          t.match(v.stdout, /^ok/, `after kill -9: ${v.stdout.trim()}`);
        }
        const st = state_read(mnt)!;
        const lines = (): number => (fs.existsSync(journal) ? fs.readFileSync(journal, 'utf8').split('\n').length : 0);
        const before = lines();
        const w = spawn('python3', [CLIENT, 'work', mnt, journal, String(round)], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        w.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
        w.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
        t.teardown(() => { w.kill('SIGKILL'); });
        const exited = new Promise<void>((ok) => w.on('exit', () => ok()));
        t.ok(await until(() => lines() >= before + 30 + 10 * round, 90_000), 'the client fsync\'d operations');
        process.kill(st.pid, 'SIGKILL');
        await Promise.race([exited, new Promise((ok) => setTimeout(ok, 20_000).unref())]);
        t.match(out, /stopped after \d+ operations/, `the client stopped when the server died (${out.trim().split('\n').pop()})`);
        t.ok(await mount_dead(mnt), 'the mount is stale');
        await cmd_run('fusermount', ['-uz', mnt]);
        const f = await fsck(image, '-n');
        t.equal(f.code, 0, 'fsck after kill -9: clean', { output: f.stdout + f.stderr });
      }
      const r = await cowlog(['mount', ...opts, image, mnt]);
      t.equal(r.code, 0, 'mounted a last time');
      const v = await cmd_run('python3', [CLIENT, 'verify', mnt, journal], { timeoutMs: 60_000 });
      t.match(v.stdout, /^ok/, v.stdout.trim());
      t.equal((await cowlog(['umount', mnt])).code, 0, 'unmounted');
      const f = await fsck(image, '-n', '--data');
      t.equal(f.code, 0, 'fsck --data: clean', { output: f.stdout + f.stderr });
    });
  }
}
