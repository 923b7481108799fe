// Promises a filesystem user relies on, through a cowlog mount, made with the same calls as
// xfstests makes them:
// - umount(8) then mount at once, again and again (scripts, boots, A/B switches): never "already
//   mounted", and no server stop that waits out a timer;
// - mount -o remount,ro / remount,rw through mount(8) and cowlog mount, also of a mount made
//   read-only with a file open;
// - ctime after link, rename, unlink and chmod of a file with a buffered write, never older than
//   the operation;
// - relatime (the default), strictatime, noatime and nodiratime;
// - xattr values up to 64 KiB, and the errors Linux gives (E2BIG, ERANGE);
// - EFBIG, not EINVAL, for offsets past the largest file (2^53 and up) on write, truncate and
//   copy_file_range.

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { cmd_run, fuse_unavailable, mountinfo_find } from '../helpers/fusemount.js';
import type { RunResult } from '../helpers/fusemount.js';
import { state_read } from '../../src/fuse/runtime.js';
import { control_request } from '../../src/fuse/control.js';
import { socket_path } from '../../src/fuse/runtime.js';
import { COWLOG, cowlog, daemon_guard, fsck, image_make, mountpoint_make, SOAK } from './helpers.js';

/** A shell command in a child process (the test process never touches a mount itself). */
function sh(script: string, timeoutMs = 60_000): Promise<RunResult> {
  return cmd_run('sh', ['-c', script], { timeoutMs });
}

/** A python3 snippet in a child process; prints what it prints. */
function py(code: string): Promise<RunResult> {
  return cmd_run('python3', ['-c', code], { timeoutMs: 60_000 });
}

/** Nanoseconds since the epoch of a time field of stat(2), through a child process. */
async function stat_ns(file: string, field: 'atime' | 'ctime' | 'mtime'): Promise<bigint> {
  const r = await py(`import os; print(os.stat(${JSON.stringify(file)}).st_${field}_ns)`);
  if (r.code !== 0) throw new Error(`stat ${file}: ${r.stderr}`);
  return BigInt(r.stdout.trim());
}

/** The per-mount flags of the mount at `mnt` (ro or rw first), from /proc/self/mountinfo. */
function mount_flags(mnt: string): string[] {
  const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === mnt).pop();
  return (line?.split(' ')[5] ?? '').split(',');
}

async function log_of(image: string): Promise<string> {
  return fs.readFileSync(`${image}.log`, 'utf8');
}

const skip = (await fuse_unavailable()) ?? (process.getuid?.() !== 0 ? 'mount(8) and remounts need root' : undefined);
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  t.test('umount(8) then mount at once, over and over: every mount succeeds, no stop waits out a timer', async (t) => {
    const image = await image_make(t, '64M');
    const mnt = mountpoint_make(t);
    daemon_guard(t, mnt);
    const rounds = SOAK ? 200 : 40;
    t.equal((await cowlog(['mount', image, mnt])).code, 0, 'mounted');
    let failed = 0;
    for (let i = 0; i < rounds; i++) {
      // a change each round, so that every stop writes its final checkpoint
      const r = await sh(`echo round ${i} > ${mnt}/f${i % 7} && umount ${mnt} && ${process.execPath} ${COWLOG} mount ${image} ${mnt}`);
      if (r.code !== 0) {
        failed++;
        t.fail(`round ${i}: ${r.stderr.trim()}`);
        if ((await mountinfo_find(mnt)) === undefined && (await cowlog(['mount', image, mnt])).code !== 0) break;
      }
    }
    t.equal(failed, 0, `${rounds} × (umount; mount): no mount failed`);
    const check = await sh(`for i in 0 1 2 3 4 5 6; do cat ${mnt}/f$i; done`);
    t.match(check.stdout, new RegExp(`round ${rounds - 1}\\n`), 'the last round\'s file is there');
    t.equal((await cowlog(['umount', mnt])).code, 0, 'cowlog umount');
    const log = await log_of(image);
    const stops = [...log.matchAll(/\((\d+) ms to stop\)/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
    t.equal(stops.length, rounds + 1, 'each server logged how long it took to stop');
    t.comment(`server stop times over ${stops.length} stops: median ${stops[stops.length >> 1]} ms, max ${stops[stops.length - 1]} ms; ${[...log.matchAll(/waited \d+ ms for the previous server/g)].length} mounts waited for the previous server`);
    // a missed wake-up of the write-behind thread showed as a wait that ran into its 1 s limit
    t.notMatch(log, /waits for the write thread ended by their time limit/, 'no wait for the write-behind thread ended by its time limit');
    t.equal((await fsck(image, '-n')).code, 0, 'fsck: clean');
  });

  t.test('mount -o remount,ro and remount,rw: through mount(8) and cowlog mount', async (t) => {
    const image = await image_make(t, '64M');
    const mnt = mountpoint_make(t);
    daemon_guard(t, mnt);
    t.equal((await cowlog(['mount', '--install-helper'])).code, 0, 'cowlog mount --install-helper (mount(8) reaches cowlog through mount.fuse)');
    t.equal((await cowlog(['mount', image, mnt])).code, 0, 'mounted read-write');
    t.equal((await sh(`dd if=/dev/urandom of=${mnt}/data bs=64k count=8 status=none && sha256sum ${mnt}/data > ${mnt}/../data.sum`)).code, 0, 'a file written, never fsync\'d');
    const ro = await cmd_run('mount', ['-o', 'remount,ro', mnt], { timeoutMs: 60_000 });
    t.equal(ro.code, 0, 'mount -o remount,ro MNT', { output: ro.stderr });
    t.equal(mount_flags(mnt)[0], 'ro', '/proc/self/mountinfo says ro');
    const w = await sh(`echo x > ${mnt}/new`);
    t.match(w.stderr, /Read-only file system/, 'a write is refused: EROFS');
    const c = await sh(`touch ${mnt}/data`);
    t.match(c.stderr, /Read-only file system/, 'so is a change of times');
    t.equal((await sh(`sha256sum -c ${mnt}/../data.sum`)).code, 0, 'reads go on');
    // the remount made everything durable: a kill -9 now loses nothing
    const pid = state_read(mnt)!.pid;
    process.kill(pid, 'SIGKILL');
    await sh(`while kill -0 ${pid} 2>/dev/null; do sleep 0.05; done; umount -l ${mnt}`);
    t.equal((await cowlog(['mount', image, mnt])).code, 0, 'mounted again after kill -9');
    t.match([...(await log_of(image)).matchAll(/mounted checkpoint \d+ \(([^)]*)\)/g)].pop()?.[1], /^clean unmount$/, 'the checkpoint found is the clean one the remount wrote');
    t.equal((await sh(`sha256sum -c ${mnt}/../data.sum`)).code, 0, 'the file written before the remount is there, whole');
    t.equal((await cmd_run('mount', ['-o', 'remount,ro', mnt], { timeoutMs: 60_000 })).code, 0, 'remount,ro again');
    const rw = await cmd_run('mount', ['-o', 'remount,rw', mnt], { timeoutMs: 60_000 });
    t.equal(rw.code, 0, 'mount -o remount,rw MNT', { output: rw.stderr });
    t.equal((await sh(`echo x > ${mnt}/new && cat ${mnt}/new`)).stdout, 'x\n', 'writable again');
    // the same through cowlog mount
    const c1 = await cowlog(['mount', '-o', 'remount,ro', image, mnt]);
    t.equal(c1.code, 0, 'cowlog mount -o remount,ro', { output: c1.stderr });
    t.equal(c1.stdout, `cowlog: ${mnt} remounted read-only\n`, 'one line saying so');
    t.match((await sh(`rm ${mnt}/new`)).stderr, /Read-only file system/, 'rm refused');
    t.equal((await cowlog(['mount', '-o', 'remount,rw', image, mnt])).code, 0, 'cowlog mount -o remount,rw');
    t.equal((await sh(`rm ${mnt}/new`)).code, 0, 'rm works again');
    const other = await cowlog(['mount', '-o', 'remount,ro', image, path.join(mnt, '..')]);
    t.equal(other.code, 1, 'remount of something that is not a cowlog mount: exit 1');
    t.match(other.stderr, /is not a running cowlog mount/, 'saying so');
    t.equal((await cowlog(['umount', mnt])).code, 0, 'cowlog umount');
    t.equal((await fsck(image, '-n')).code, 0, 'fsck: clean');
  });

  t.test('remount: commit= and compress= take effect; what is set when mounting is refused, and nothing changes', async (t) => {
    const image = await image_make(t, '64M');
    const mnt = mountpoint_make(t);
    daemon_guard(t, mnt);
    t.equal((await cowlog(['mount', image, mnt])).code, 0, 'mounted (no compression: mkfs recorded none)');
    const text = `yes cowlog | head -c 1048576`;
    t.equal((await sh(`${text} > ${mnt}/a`)).code, 0, '1 MiB of text written');
    t.equal((await cowlog(['umount', mnt])).code, 0, 'unmounted: its blocks are on the device, plain');
    t.equal((await cowlog(['mount', image, mnt])).code, 0, 'mounted again');
    const wb = await cowlog(['mount', '-o', 'remount,writeback_cache', image, mnt]);
    t.equal(wb.code, 1, 'remount,writeback_cache: exit 1');
    t.equal(wb.stderr, `cowlog mount: remount of ${mnt} refused: EINVAL: a remount can not change writeback_cache: it is set when mounting (unmount and mount again)\n`, 'one line saying why');
    const two = await cowlog(['mount', '-o', 'remount,ro,noacl,cache=128M', image, mnt]);
    t.equal(two.code, 1, 'remount,ro,noacl,cache=128M: exit 1');
    t.match(two.stderr, /can not change noacl, cache: they are set when mounting/, 'naming both');
    t.equal(mount_flags(mnt)[0], 'rw', 'nothing changed: still read-write');
    t.equal((await sh(`echo x > ${mnt}/new`)).code, 0, 'and writable');
    const same = await cowlog(['mount', '-o', 'remount,rw,allow_other,acl,attr_timeout=60', image, mnt]);
    t.equal(same.code, 0, 'the options the mount has, given again (as mount(8) passes back /proc/mounts): accepted', { output: same.stderr });
    const c = await cowlog(['mount', '-o', 'remount,commit=2,compress=lz4', image, mnt]);
    t.equal(c.code, 0, 'remount,commit=2,compress=lz4', { output: c.stderr });
    t.match(await log_of(image), /remounted read-write; atime relatime, commit=2, compress=lz4/, 'the log says what the mount now does');
    t.equal((await sh(`${text} > ${mnt}/b && sync -f ${mnt}/b`)).code, 0, 'the same text written again');
    // commit=2: a timer checkpoint within seconds makes what was written durable without fsync
    t.equal((await sh(`echo kept > ${mnt}/c; sleep 5`)).code, 0, 'a file written, never fsync\'d, 5 s waited');
    const pid = state_read(mnt)!.pid;
    process.kill(pid, 'SIGKILL');
    await sh(`while kill -0 ${pid} 2>/dev/null; do sleep 0.05; done; umount -l ${mnt}`);
    t.equal((await cowlog(['mount', image, mnt])).code, 0, 'mounted again after kill -9');
    t.equal((await sh(`cat ${mnt}/c`)).stdout, 'kept\n', 'the file is there: the timer checkpointed within commit=2 (30 s by default)');
    t.equal((await cowlog(['umount', mnt])).code, 0, 'unmounted');
    const info = JSON.parse((await cowlog(['info', '--json', image])).stdout) as { compression: { clusterBlocks: number; plainBlocks: number } };
    t.equal(info.compression.clusterBlocks, 256, 'b is in lz4 clusters (256 blocks of file data), a is not');
    t.equal((await fsck(image, '-n', '--data')).code, 0, 'fsck --data: clean');
  });

  t.test('a mount made read-only, remounted read-write with a file open', async (t) => {
    const image = await image_make(t, '64M');
    const mnt = mountpoint_make(t);
    daemon_guard(t, mnt);
    t.equal((await cowlog(['mount', image, mnt])).code, 0, 'mounted');
    t.equal((await sh(`seq 1 5000 > ${mnt}/numbers`)).code, 0, 'a file');
    t.equal((await cowlog(['umount', mnt])).code, 0, 'unmounted');
    t.equal((await cowlog(['mount', '-o', 'ro', image, mnt])).code, 0, 'mounted read-only (the device opened read-only)');
    // a reader holds the file open across the remount, then reads on
    const r = await sh(`exec 3< ${mnt}/numbers; head -c 10 <&3 > /dev/null; ${process.execPath} ${COWLOG} mount -o remount,rw ${image} ${mnt} && cat <&3 | tail -1 && echo more >> ${mnt}/numbers && tail -1 ${mnt}/numbers`);
    t.equal(r.code, 0, 'remount,rw while a file is open', { output: r.stderr });
    t.match(r.stdout, /remounted read-write\n5000\nmore\n$/, 'the open file reads on; writing works');
    t.match(await log_of(image), /remounted read-write: the device opened again/, 'the server opened the device again');
    t.equal((await cowlog(['umount', mnt])).code, 0, 'cowlog umount');
    t.equal((await fsck(image, '-n')).code, 0, 'fsck: clean');
  });

  t.test('ctime after link, rename, unlink and chmod is never older than the operation', async (t) => {
    const image = await image_make(t, '64M');
    const mnt = mountpoint_make(t);
    daemon_guard(t, mnt);
    t.equal((await cowlog(['mount', image, mnt])).code, 0, 'mounted');
    const f = path.join(mnt, 'f');
    for (const [what, cmd] of [['link', `ln ${f} ${mnt}/hard`], ['rename', `mv ${f} ${mnt}/g && mv ${mnt}/g ${f}`], ['unlink', `rm ${mnt}/hard`], ['chmod', `chmod 600 ${f}`]] as const) {
      // a buffered write to a file past the inline size: its ctime is pending until writeback
      t.equal((await sh(`dd if=/dev/zero of=${f} bs=8k count=1 conv=notrunc status=none`)).code, 0, `${what}: dd`);
      await new Promise((ok) => setTimeout(ok, 20));
      const r = await py(`import os, subprocess, time; t0 = time.time_ns(); subprocess.run(${JSON.stringify(cmd)}, shell=True, check=True); print(t0, os.stat(${JSON.stringify(f)}).st_ctime_ns)`);
      t.equal(r.code, 0, `${what}: ran`, { output: r.stderr });
      const [before, ctime] = r.stdout.trim().split(' ').map(BigInt) as [bigint, bigint];
      t.ok(ctime >= before, `${what}: ctime ${ctime} is not older than the operation (started ${before})`);
      t.equal((await control_request(socket_path(mnt), { op: 'sync' })).ok, true, `${what}: a checkpoint (the buffered write reaches the log)`);
      t.equal(await stat_ns(f, 'ctime'), ctime, `${what}: unchanged after writeback`);
    }
    const last = await stat_ns(f, 'ctime');
    t.equal((await cowlog(['umount', mnt])).code, 0, 'unmounted');
    t.equal((await cowlog(['mount', image, mnt])).code, 0, 'mounted again');
    t.equal(await stat_ns(f, 'ctime'), last, 'ctime the same after a remount');
    t.equal((await cowlog(['umount', mnt])).code, 0, 'cowlog umount');
    t.equal((await fsck(image, '-n')).code, 0, 'fsck: clean');
  });

  t.test('atime: relatime by default, strictatime, noatime, nodiratime', async (t) => {
    const image = await image_make(t, '64M');
    const mnt = mountpoint_make(t);
    daemon_guard(t, mnt);
    t.equal((await cowlog(['mount', image, mnt])).code, 0, 'mounted');
    t.equal((await sh(`mkdir ${mnt}/d && echo hello > ${mnt}/d/f`)).code, 0, 'a directory and a file');
    t.equal((await cowlog(['umount', mnt])).code, 0, 'unmounted');
    const cases: [string, boolean, boolean, boolean][] = [
      // options, first read moves atime, second read moves it, directory listing moves it
      ['', true, false, true],
      ['strictatime', true, true, true],
      ['noatime', false, false, false],
      ['nodiratime', true, false, false],
    ];
    for (const [opts, first, second, dir] of cases) {
      const what = opts || 'default (relatime)';
      t.equal((await cowlog(['mount', ...(opts ? ['-o', opts] : []), image, mnt])).code, 0, `${what}: mounted`);
      // a change first, so that atime is older than mtime and ctime
      t.equal((await sh(`sleep 0.02; touch -m ${mnt}/d/f ${mnt}/d; sleep 0.02`)).code, 0, `${what}: touch -m`);
      const a0 = await stat_ns(`${mnt}/d/f`, 'atime');
      await sh(`cat ${mnt}/d/f > /dev/null; sleep 0.02`);
      const a1 = await stat_ns(`${mnt}/d/f`, 'atime');
      await sh(`cat ${mnt}/d/f > /dev/null`);
      const a2 = await stat_ns(`${mnt}/d/f`, 'atime');
      t.equal(a1 > a0, first, `${what}: the first read ${first ? 'moves' : 'keeps'} atime`);
      t.equal(a2 > a1, second, `${what}: a second read ${second ? 'moves' : 'keeps'} atime`);
      const d0 = await stat_ns(`${mnt}/d`, 'atime');
      await sh(`ls ${mnt}/d > /dev/null`);
      t.equal((await stat_ns(`${mnt}/d`, 'atime')) > d0, dir, `${what}: ls ${dir ? 'moves' : 'keeps'} the directory's atime`);
      t.equal((await cowlog(['umount', mnt])).code, 0, `${what}: unmounted`);
    }
    t.equal((await fsck(image, '-n')).code, 0, 'fsck: clean');
  });

  t.test('xattr values up to 64 KiB; E2BIG and ERANGE as Linux gives them', async (t) => {
    const image = await image_make(t, '64M');
    const mnt = mountpoint_make(t);
    daemon_guard(t, mnt);
    t.equal((await cowlog(['mount', image, mnt])).code, 0, 'mounted');
    const f = JSON.stringify(path.join(mnt, 'f'));
    const r = await py(`
import errno, os
f = ${f}
open(f, 'w').close()
ok = []
for n in (1500, 1501, 4096, 40000, 65536):
    v = bytes((i * 7 + n) & 255 for i in range(n))
    os.setxattr(f, 'user.v%d' % n, v)
    ok.append(os.getxattr(f, 'user.v%d' % n) == v)
print('roundtrip', all(ok))
print('list', sorted(os.listxattr(f)))
for what, fn in (('big', lambda: os.setxattr(f, 'user.big', b'x' * 65537)), ('name', lambda: os.setxattr(f, 'user.' + 'n' * 251, b'x'))):
    try:
        fn(); print(what, 'accepted')
    except OSError as e:
        print(what, errno.errorcode[e.errno])
os.setxattr(f, 'user.v65536', b'small now')
print('replaced', os.getxattr(f, 'user.v65536'))
os.removexattr(f, 'user.v40000')
print('after remove', len(os.listxattr(f)))
`);
    t.equal(r.code, 0, 'python3 setxattr/getxattr through the mount', { output: r.stderr });
    t.match(r.stdout, /^roundtrip True$/m, 'values of 1500, 1501, 4096, 40000 and 65536 bytes read back');
    t.match(r.stdout, /^list \['user.v1500', 'user.v1501', 'user.v40000', 'user.v4096', 'user.v65536'\]$/m, 'listxattr names them');
    t.match(r.stdout, /^big E2BIG$/m, 'a value of 65537 bytes: E2BIG');
    t.match(r.stdout, /^name ERANGE$/m, 'a name of 256 bytes: ERANGE');
    t.match(r.stdout, /^replaced b'small now'$/m, 'a 64 KiB value replaced by a small one');
    t.match(r.stdout, /^after remove 4$/m, 'a large value removed');
    t.equal((await cowlog(['umount', mnt])).code, 0, 'cowlog umount');
    t.equal((await cowlog(['mount', image, mnt])).code, 0, 'mounted again');
    const g = await sh(`getfattr --only-values -n user.v4096 ${mnt}/f | wc -c`);
    t.equal(g.stdout.trim(), '4096', 'getfattr reads a large value after a remount');
    t.equal((await cowlog(['umount', mnt])).code, 0, 'cowlog umount');
    t.equal((await fsck(image, '-n')).code, 0, 'fsck: clean');
  });

  t.test('EFBIG, not EINVAL, past the largest file: write, truncate, copy_file_range', async (t) => {
    const image = await image_make(t, '64M');
    const mnt = mountpoint_make(t);
    daemon_guard(t, mnt);
    t.equal((await cowlog(['mount', image, mnt])).code, 0, 'mounted');
    const r = await py(`
import errno, os
d = ${JSON.stringify(mnt)}
src = os.open(d + '/src', os.O_RDWR | os.O_CREAT, 0o644)
os.write(src, b'x' * 4096)
dst = os.open(d + '/dst', os.O_RDWR | os.O_CREAT, 0o644)
def code(fn):
    try:
        fn(); return 'ok'
    except OSError as e:
        return errno.errorcode[e.errno]
for off in (2**44, 2**53, 2**53 + 4096, 2**62):
    print('write', off, code(lambda: os.pwrite(dst, b'y', off)))
    print('truncate', off, code(lambda: os.ftruncate(dst, off)))
    print('copy', off, code(lambda: os.copy_file_range(src, dst, 4096, 0, off)))
print('size', os.fstat(dst).st_size)
`);
    t.equal(r.code, 0, 'python3 through the mount', { output: r.stderr });
    const lines = r.stdout.trim().split('\n');
    for (const l of lines.filter((x) => !x.startsWith('size'))) t.match(l, /^(write|truncate|copy) \d+ EFBIG$/, l);
    t.equal(lines.length, 13, 'twelve refusals and the size');
    t.match(r.stdout, /^size 0$/m, 'the file is unchanged');
    t.equal((await cowlog(['umount', mnt])).code, 0, 'cowlog umount');
    t.equal((await fsck(image, '-n')).code, 0, 'fsck: clean');
  });
}
