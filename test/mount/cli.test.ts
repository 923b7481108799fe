// `cowlog mount` and `cowlog umount` as users run them: in the background on a loop device,
// with a log they name, the control socket (status, sync, unmount), the wear file, a busy
// mount, -o ro, mount(8) and fstab through mount.fuse, and a clear one-line error for a device
// that is not cowlog, one that is damaged, one already mounted, and bad mountpoints.

import t from 'tap';
import type { Test } from 'tap';
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cmd_run, fuse_unavailable, mountinfo_find } from '../helpers/fusemount.js';
import { control_request } from '../../src/fuse/control.js';
import { pid_alive, socket_path, state_read } from '../../src/fuse/runtime.js';
import { wear_decode } from '../../src/wear/wearfile.js';
import { loop_attach, loop_detach, loop_unavailable } from '../device/loop.js';
import { cowlog, daemon_guard, fsck, image_make, mountpoint_make, tmp_dir, until } from './helpers.js';

function sha(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** One line on stderr, no stack trace, exit 1. */
function one_line(t: Test, r: { code: number | null; stderr: string; stdout: string }, re: RegExp, what: string): void {
  t.equal(r.code, 1, `${what}: exit 1`);
  const lines = r.stderr.trim().split('\n');
  t.equal(lines.length, 1, `${what}: one line (${lines[0]})`);
  t.match(lines[0], re, `${what}: says why`);
  t.notMatch(r.stderr, /    at /, `${what}: no stack trace`);
}


const skip = (await fuse_unavailable()) ?? (process.getuid?.() !== 0 ? 'mount(8), loop devices and other users need root' : undefined);
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  t.test('a loop device mounted in the background: log, status, sync, wear file, busy, umount', async (t) => {
    const why = loop_unavailable();
    if (why !== null) { t.comment(`skipped: ${why}`); return; }
    const dir = tmp_dir(t);
    const img = path.join(dir, 'dev.img');
    fs.writeFileSync(img, '');
    fs.truncateSync(img, 64 << 20);
    const dev = loop_attach(img);
    t.teardown(() => loop_detach(dev));
    const mk = await cowlog(['mkfs', '-q', dev]);
    t.equal(mk.code, 0, `cowlog mkfs ${dev}`);
    const mnt = mountpoint_make(t);
    daemon_guard(t, mnt);
    const wear = path.join(dir, 'dev.wear');

    const r = await cowlog(['mount', '--wear', wear, dev, mnt]);
    t.equal(r.code, 0, 'cowlog mount returns 0', { output: r.stderr });
    const logPath = `/var/log/cowlog/${path.basename(dev)}.log`;
    t.equal(r.stdout, `cowlog: ${dev} mounted on ${mnt} (server pid ${state_read(mnt)?.pid}, log ${logPath})\n`, 'one line naming the server and its log');
    const m = await mountinfo_find(mnt);
    t.equal(m?.fstype, 'fuse.cowlog', 'mounted as fuse.cowlog');
    t.equal(m?.source, dev, 'with the device as its source');
    const st = state_read(mnt)!;
    t.ok(pid_alive(st.pid), 'the server runs in the background');
    t.match(fs.readFileSync(logPath, 'utf8'), new RegExp(`\\[${st.pid}\\] info: serving ${dev} on ${mnt}`), 'and logs to the file it named');

    const w = await cmd_run('sh', ['-c', `seq 1 200000 > ${mnt}/numbers && mkdir ${mnt}/d && cp ${mnt}/numbers ${mnt}/d/copy`]);
    t.equal(w.code, 0, 'files written');

    const s1 = await control_request(socket_path(mnt), { op: 'status' });
    t.equal(s1.ok, true, 'control: status');
    t.equal(s1.status?.pid, st.pid, 'status names the server');
    t.equal(s1.status?.device, dev, 'and the device');
    t.equal(s1.status?.readOnly, false, 'read-write');
    t.equal(s1.status?.broken, null, 'no internal error');
    t.ok((s1.status?.freeBytes ?? 0) > 0 && (s1.status?.freeBytes ?? 0) < (s1.status?.sizeBytes ?? 0), 'free space below the size');
    const sync = await control_request(socket_path(mnt), { op: 'sync' });
    t.equal(sync.ok, true, 'control: sync');
    const s2 = await control_request(socket_path(mnt), { op: 'status' });
    t.ok((s2.status?.checkpointSeq ?? 0) > (s1.status?.checkpointSeq ?? 0), `sync wrote a checkpoint (${s1.status?.checkpointSeq} → ${s2.status?.checkpointSeq})`);
    // sync(2) does not reach a FUSE filesystem; `cowlog sync` is the command that makes it durable
    t.equal((await cmd_run('sh', ['-c', `echo more > ${mnt}/more`])).code, 0, 'a file written after the sync');
    const cs = await cowlog(['sync', '--json', mnt]);
    t.equal(cs.code, 0, 'cowlog sync', { output: cs.stderr });
    t.match(JSON.parse(cs.stdout), { mountpoint: mnt, ok: true }, 'says which mount it synced');
    const s3 = await control_request(socket_path(mnt), { op: 'status' });
    t.ok((s3.status?.checkpointSeq ?? 0) > (s2.status?.checkpointSeq ?? 0), `cowlog sync wrote a checkpoint (${s2.status?.checkpointSeq} → ${s3.status?.checkpointSeq})`);
    const nosync = await cowlog(['sync', mountpoint_make(t)]);
    t.equal(nosync.code, 1, 'cowlog sync of a directory that is no mount fails');
    t.match(nosync.stderr, /^cowlog sync: .*not a mountpoint.*\n$/, 'in one line');
    const bad = await control_request(socket_path(mnt), { op: 'snapshot-nonsense' });
    t.equal(bad.ok, false, 'an unknown request is refused');
    t.match(bad.error, /unknown control request/, 'saying so');

    // a process working inside the mount keeps it busy, as on ext4
    const holder = spawn('sleep', ['60'], { cwd: path.join(mnt, 'd'), stdio: 'ignore' });
    t.teardown(() => { holder.kill('SIGKILL'); });
    await until(() => holder.pid !== undefined);
    const busy = await cowlog(['umount', mnt]);
    t.equal(busy.code, 1, 'cowlog umount of a busy mount fails');
    t.match(busy.stderr, /target is busy/, 'with "target is busy"');
    t.ok(pid_alive(st.pid), 'and the server goes on');
    holder.kill('SIGKILL');
    await new Promise((ok) => holder.on('exit', ok));

    const u = await cowlog(['umount', mnt]);
    t.equal(u.code, 0, 'cowlog umount', { output: u.stderr });
    t.notOk(pid_alive(st.pid), 'returns once the server has exited');
    t.equal(await mountinfo_find(mnt), undefined, 'the mount is gone');
    const rec = wear_decode(fs.readFileSync(wear), wear);
    t.equal(rec.meta.fs, 'cowlog', 'the wear file is complete: fs');
    t.equal(rec.meta.source, 'cowlog-tracker', 'source');
    t.ok(rec.bytes > 1_200_000n, `${rec.bytes} host bytes counted (the files, the checkpoints)`);
    t.equal(rec.counts.length, (64 << 20) / 4096, 'one count per block of the device');
    t.match(fs.readFileSync(logPath, 'utf8'), /stopping: unmounted by cowlog umount/, 'the log tells why it stopped');
    const f = await fsck(dev, '--data');
    t.equal(f.code, 0, 'fsck: clean', { output: f.stdout + f.stderr });

    // mounted again, the wear file goes on counting
    t.equal((await cowlog(['mount', '--wear', wear, dev, mnt])).code, 0, 'mounted again with the same wear file');
    const again = await cmd_run('cmp', [path.join(mnt, 'numbers'), path.join(mnt, 'd/copy')]);
    t.equal(again.code, 0, 'the files are there');
    t.equal((await cowlog(['umount', mnt])).code, 0, 'and unmounted');
    t.ok(wear_decode(fs.readFileSync(wear), wear).bytes > rec.bytes, 'the wear file continued the earlier count');

    // lazily: detached at once; the server serves the file still open, then finishes
    t.equal((await cowlog(['mount', dev, mnt])).code, 0, 'mounted once more');
    const pid2 = state_read(mnt)!.pid;
    const out = path.join(dir, 'read-after-detach');
    const opened = path.join(dir, 'opened');
    const go = path.join(dir, 'go');
    // the reader reads only once told to, after the detach (a fixed sleep lost the race to a
    // slow umount on a loaded machine: the file was read and closed before the detach)
    const reader = spawn('sh', ['-c', `exec 3<${mnt}/numbers; touch ${opened}; while [ ! -e ${go} ]; do sleep 0.05; done; head -c 8 <&3 > ${out}`], { stdio: 'ignore' });
    const readerDone = new Promise((ok) => reader.on('exit', ok));
    t.teardown(() => { reader.kill('SIGKILL'); });
    t.ok(await until(() => fs.existsSync(opened), 10_000), 'a reader holds a file open');
    const lz = await cowlog(['umount', '-l', mnt]);
    t.equal(lz.code, 0, 'cowlog umount -l with a file open');
    t.equal(await mountinfo_find(mnt), undefined, 'the mount is detached at once');
    t.ok(pid_alive(pid2), 'the server goes on serving the open file');
    fs.writeFileSync(go, '');
    await readerDone;
    t.equal(fs.readFileSync(out, 'utf8'), '1\n2\n3\n4\n', 'which reads on after the detach');
    t.ok(await until(() => !pid_alive(pid2), 15_000), 'once it is closed the server checkpoints and exits');
    const f3 = await fsck(dev);
    t.equal(f3.code, 0, 'fsck: clean', { output: f3.stdout + f3.stderr });
  });

  t.test('a device that is not cowlog, a damaged one, one already mounted, bad mountpoints: one line each', async (t) => {
    const dir = tmp_dir(t);
    const mnt = mountpoint_make(t);
    daemon_guard(t, mnt);
    const zeros = path.join(dir, 'zeros.img');
    fs.writeFileSync(zeros, Buffer.alloc(8 << 20));
    one_line(t, await cowlog(['mount', zeros, mnt]), /zeros\.img: not a cowlog filesystem/, 'zeros');
    const ext4 = path.join(dir, 'ext4.img');
    fs.writeFileSync(ext4, '');
    fs.truncateSync(ext4, 16 << 20);
    execFileSync('mkfs.ext4', ['-q', '-F', ext4]);
    one_line(t, await cowlog(['mount', ext4, mnt]), /ext4\.img: not a cowlog filesystem/, 'an ext4 image');
    one_line(t, await cowlog(['mount', path.join(dir, 'missing.img'), mnt]), /missing\.img: no such image file or device/, 'a missing device');

    const image = await image_make(t, '32M');
    const damaged = path.join(dir, 'damaged.img');
    fs.copyFileSync(image, damaged);
    const fd = fs.openSync(damaged, 'r+');
    for (const block of [0, 1]) fs.writeSync(fd, Buffer.from('garbage'), 0, 7, block * 4096 + 200);
    fs.closeSync(fd);
    one_line(t, await cowlog(['mount', damaged, mnt]), /EUCLEAN: corrupt superblock .*both copies damaged/, 'a damaged superblock');
    t.equal(await mountinfo_find(mnt), undefined, 'nothing was mounted');

    one_line(t, await cowlog(['mount', image, path.join(dir, 'nowhere')]), /nowhere: the mountpoint does not exist/, 'a missing mountpoint');
    one_line(t, await cowlog(['mount', image, zeros]), /zeros\.img: the mountpoint is not a directory/, 'a file as mountpoint');

    t.equal((await cowlog(['mount', image, mnt])).code, 0, 'the good image mounts');
    const other = mountpoint_make(t);
    daemon_guard(t, other);
    one_line(t, await cowlog(['mount', image, other]), new RegExp(`fs\\.img is already mounted on ${mnt} \\(cowlog server pid \\d+\\)`), 'the same image twice');
    one_line(t, await cowlog(['mount', image, mnt]), new RegExp(`${mnt} is already a mountpoint \\(fuse\\.cowlog from`), 'the same mountpoint twice');
    const u = await cowlog(['mount', '-o', 'nonsense', image, other]);
    t.equal(u.code, 2, 'an unknown -o option is a usage error');
    t.match(u.stderr, /unknown mount option 'nonsense'/, 'naming it');
    t.equal((await cowlog(['umount', mnt])).code, 0, 'cowlog umount');
    const nm = await cowlog(['umount', mnt]);
    t.equal(nm.code, 1, 'cowlog umount of what is not mounted fails');
    t.match(nm.stderr, /not mounted/, 'saying so');
  });

  t.test('-o ro: reads work, writes are EROFS, the device is not written', async (t) => {
    const image = await image_make(t, '32M');
    const mnt = mountpoint_make(t);
    daemon_guard(t, mnt);
    t.equal((await cowlog(['mount', image, mnt])).code, 0, 'mounted read-write');
    await cmd_run('sh', ['-c', `echo kept > ${mnt}/f && sync -f ${mnt}/f`]);
    t.equal((await cowlog(['umount', mnt])).code, 0, 'unmounted');
    const before = sha(image);
    t.equal((await cowlog(['mount', '-o', 'ro,noexec', image, mnt])).code, 0, 'mounted -o ro,noexec');
    t.match((await mountinfo_find(mnt)) !== undefined ? fs.readFileSync('/proc/self/mountinfo', 'utf8') : '', new RegExp(`${mnt} ro,`), 'the kernel mount is read-only');
    const r = await cmd_run('sh', ['-c', `cat ${mnt}/f; touch ${mnt}/g; echo x >> ${mnt}/f; mkdir ${mnt}/d`]);
    t.equal(r.stdout, 'kept\n', 'reads work');
    t.equal(r.stderr.match(/Read-only file system/g)?.length, 3, 'create, write and mkdir are EROFS');
    const s = await control_request(socket_path(mnt), { op: 'status' });
    t.equal(s.status?.readOnly, true, 'status says read-only');
    t.equal((await cowlog(['umount', mnt])).code, 0, 'unmounted');
    t.equal(sha(image), before, 'not a byte of the image changed');
  });

  t.test('a write-protected device is mounted read-only with a warning, as mount(8) does', async (t) => {
    const why = loop_unavailable();
    if (why !== null) { t.comment(`skipped: ${why}`); return; }
    const image = await image_make(t, '32M');
    const mnt = mountpoint_make(t);
    daemon_guard(t, mnt);
    t.equal((await cowlog(['mount', image, mnt])).code, 0, 'mounted read-write');
    await cmd_run('sh', ['-c', `echo kept > ${mnt}/f`]);
    t.equal((await cowlog(['umount', mnt])).code, 0, 'unmounted');
    const before = sha(image);
    const dev = loop_attach(image, true);
    t.teardown(() => loop_detach(dev));
    for (const quiet of [false, true]) {
      const r = await cowlog(['mount', ...(quiet ? ['-q'] : []), dev, mnt]);
      t.equal(r.code, 0, `cowlog mount${quiet ? ' -q' : ''} of a read-only loop device: mounted`, { output: r.stderr });
      t.equal(r.stderr, `cowlog mount: ${dev}: write-protected, mounted read-only\n`, 'the warning, on stderr even with -q');
      t.equal(r.stdout === '', quiet, quiet ? 'nothing else' : 'and the usual line on stdout');
      t.match(fs.readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(`${mnt} ro,`), 'the kernel mount is read-only');
      const w = await cmd_run('sh', ['-c', `cat ${mnt}/f; touch ${mnt}/g`]);
      t.same([w.stdout, /Read-only file system/.test(w.stderr)], ['kept\n', true], 'reads work, writes are EROFS');
      t.equal((await cowlog(['umount', mnt])).code, 0, 'unmounted');
    }
    t.equal(sha(image), before, 'not a byte of the image changed');
  });

  t.test('mount -t fuse.cowlog and fstab through mount.fuse; umount(8)', async (t) => {
    const inst = await cowlog(['mount', '--install-helper']);
    t.equal(inst.code, 0, 'cowlog mount --install-helper', { output: inst.stderr });
    const image = await image_make(t, '32M');
    const mnt = mountpoint_make(t);
    daemon_guard(t, mnt);
    const m = await cmd_run('mount', ['-t', 'fuse.cowlog', '-o', 'noatime,nodev', image, mnt], { timeoutMs: 60_000 });
    t.equal(m.code, 0, 'mount -t fuse.cowlog IMAGE MNT', { output: m.stderr });
    // scripts (xfstests among them) compare what mount(8) printed: nothing, for every filesystem
    t.same([m.stdout, m.stderr], ['', ''], 'and it prints nothing, as mount(8) does');
    t.equal((await mountinfo_find(mnt))?.fstype, 'fuse.cowlog', 'it is mounted, and live once mount returns');
    const w = await cmd_run('sh', ['-c', `echo via-mount > ${mnt}/f && cat ${mnt}/f`]);
    t.equal(w.stdout, 'via-mount\n', 'and usable');
    for (const mode of ['ro', 'rw']) {
      const rm = await cmd_run('mount', ['-o', `remount,${mode}`, mnt], { timeoutMs: 60_000 });
      t.same([rm.code, rm.stdout, rm.stderr], [0, '', ''], `mount -o remount,${mode} MNT: done, and silent`);
      t.equal(state_read(mnt)?.readOnly, mode === 'ro', `the server is ${mode === 'ro' ? 'read-only' : 'read-write'}`);
    }
    const pid = state_read(mnt)!.pid;
    const u = await cmd_run('umount', [mnt]);
    t.equal(u.code, 0, 'umount(8)');
    t.ok(await until(() => !pid_alive(pid), 15_000), 'the server notices, checkpoints and exits');
    t.match(fs.readFileSync(`${image}.log`, 'utf8'), /stopping: unmounted from outside/, 'as its log says');

    const fstab = path.join(tmp_dir(t), 'fstab');
    fs.writeFileSync(fstab, `${image} ${mnt} fuse.cowlog defaults,noauto,nofail 0 0\n`);
    const f = await cmd_run('mount', ['--fstab', fstab, mnt], { timeoutMs: 60_000 });
    t.equal(f.code, 0, 'mount MNT from an fstab line', { output: f.stderr });
    const c = await cmd_run('cat', [path.join(mnt, 'f')]);
    t.equal(c.stdout, 'via-mount\n', 'the file written before is there');
    t.equal((await cowlog(['umount', mnt])).code, 0, 'cowlog umount');
    const k = await fsck(image);
    t.equal(k.code, 0, 'fsck: clean');
  });
}
