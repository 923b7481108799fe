// nullfs (tools/bench/nullfs.ts) served from a child process through the patched binding and
// used by ordinary tools, as a benchmark would use it; and the benchmarks' ceiling
// (tools/bench/fuse_ceiling.ts), nullfs with cowlog's FUSE options.

import t from 'tap';
import { access } from 'node:fs/promises';
import { ceiling_server, fuse_unavailable, mount_with, mountinfo_find, nullfs_server, cmd_run } from '../helpers/fusemount.js';

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  t.test('directories, files, links and sizes through ordinary tools', async (t) => {
    const m = await mount_with(t, nullfs_server());
    const info = await mountinfo_find(m.mountpoint);
    t.equal(info?.fstype, 'fuse.nullfs', 'mounted with the nullfs subtype');
    t.match(info?.source, /^nullfs-\d+$/, 'fsname is the source, without the options folded into it');

    const r = await m.sh([
      'set -e',
      'mkdir -p a/b/c',
      'printf hello > a/b/c/f',
      'dd if=/dev/urandom of=big bs=64k count=5 status=none',
      'ln -s a/b/c/f sl',
      'mv a/b a/moved',
      'stat -c "%n %s %F" a/moved/c/f big sl',
      'readlink sl',
      'od -An -tx1 a/moved/c/f',
      'ls -a a/moved/c | tr "\\n" " "; echo',
      'truncate -s 10 big; stat -c %s big',
      'rm a/moved/c/f; rmdir a/moved/c; ls a/moved | wc -l',
    ].join('\n'));
    t.equal(r.code, 0, 'the script runs', { stderr: r.stderr });
    t.equal(r.stdout, [
      'a/moved/c/f 5 regular file',
      'big 327680 regular file',
      'sl 7 symbolic link',
      'a/b/c/f',
      ' 00 00 00 00 00',
      '. .. f ',
      '10',
      '0',
      '',
    ].join('\n'), 'sizes are kept, data reads back as zeros, rename moves a subtree');

    const long = 'n'.repeat(256);
    const e = await m.sh(`: > ${long}`);
    t.match(e.stderr, /File name too long/, 'a 256-byte name is ENAMETOOLONG');
    const ok = await m.sh(`: > ${'n'.repeat(255)} && echo ok`);
    t.equal(ok.stdout, 'ok\n', 'a 255-byte name is fine');

    const busy = await m.sh('rmdir a');
    t.match(busy.stderr, /Directory not empty/, 'rmdir of a non-empty directory is ENOTEMPTY');

    const df = await m.run('stat', ['-f', '-c', '%S %l', m.mountpoint]);
    t.equal(df.stdout, '4096 255\n', 'statfs answers block size and name length limit');

    const report = await m.teardown();
    t.same(report.steps, ['SIGTERM'], 'SIGTERM alone unmounts it');
    t.ok(report.clean, 'teardown is clean', { report });
    t.equal(m.server.exitCode, 0, 'the server exits 0');
    t.match(m.stderr(), /SIGTERM; \d+ bytes written/, 'the server reports the bytes it accepted');
    t.notOk(await m.mounted(), 'the mount is gone');
    await t.rejects(access(m.mountpoint), 'the mountpoint the harness made is removed');
  });

  t.test('nullfs exits by itself when unmounted from outside', async (t) => {
    const m = await mount_with(t, nullfs_server());
    const u = await cmd_run('fusermount', ['-u', m.mountpoint]);
    t.equal(u.code, 0, 'fusermount -u works', { stderr: u.stderr });
    const code = await new Promise<number | null>((ok) => {
      if (m.server.exitCode !== null) ok(m.server.exitCode);
      else m.server.once('exit', (c) => ok(c));
    });
    t.equal(code, 0, 'the server noticed and exited 0');
    t.match(m.stderr(), /unmounted from outside/, 'and said why');
  });

  t.test('the ceiling answers extended attributes as cowlog answers a file without any', async (t) => {
    // so that the kernel asks both the same: security.capability before a new file's first
    // write among them (ENOSYS would stop it asking, and the ceiling would make a round trip a
    // created file fewer than cowlog)
    const script = [
      'printf x > f',
      'getfattr -n user.a f 2>&1 >/dev/null; echo "get $?"',
      'setfattr -n user.a -v 1 f 2>&1; echo "set $?"',
      'getfattr -n security.selinux f 2>&1 >/dev/null; echo "selinux $?"',
      'getfattr -d -m - f; echo "list $?"',
    ].join('\n');
    const m = await mount_with(t, ceiling_server());
    const r = await m.sh(script);
    t.match(r.stdout, /f: user\.a: No such attribute\nget 1\n/, 'getxattr: no such attribute (ENODATA)');
    t.match(r.stdout, /Operation not supported\nset 1\n/, 'setxattr: not supported');
    t.match(r.stdout, /security\.selinux: Operation not supported\nselinux 1\n/, 'security.selinux refused, as cowlog refuses it');
    t.match(r.stdout, /\nlist 0\n$/, 'listxattr: none');
    t.ok((await m.teardown()).clean, 'teardown is clean');

    const n = await mount_with(t, ceiling_server('--no-xattr'));
    const q = await n.sh(script);
    t.match(q.stdout, /f: user\.a: Operation not supported\nget 1\n/, 'with --no-xattr, none: the kernel stops asking');
    t.ok((await n.teardown()).clean, 'teardown is clean');
  });

  t.test('a server that can not mount is reported with its stderr', async (t) => {
    await t.rejects(
      mount_with(t, { command: process.execPath, args: ['-e', 'console.error("cannot serve today"); process.exit(3)'] }),
      /exited \(code 3.*cannot serve today/s,
    );
  });
}
