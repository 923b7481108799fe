// src/fuse/binding.ts: the options it builds, the patch check at load, and what requests carry
// (create's flags, fallocate's mode, offset and length).

import t from 'tap';
import { readFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { binding_load, errno_of, FUSE_PATCH_LEVEL, fuse_option_string } from '../../src/fuse/binding.js';
import { cmd_run, DIST, fuse_unavailable } from '../helpers/fusemount.js';
import { probe_mount } from './probe.js';

const ROOT = join(DIST, '..');

t.test('fuse_option_string builds the -o list libfuse 3 takes', async (t) => {
  t.equal(fuse_option_string({ fsname: 'cowlog-1' }), 'fsname=cowlog-1', 'fsname alone by default');
  t.equal(fuse_option_string({
    fsname: 'x', subtype: 'cowlog', defaultPermissions: true, allowOther: true, extra: ['max_read=65536', 'noatime'],
  }), 'fsname=x,subtype=cowlog,default_permissions,allow_other,max_read=65536,noatime', 'every option in order, extras last');
  t.throws(() => fuse_option_string({ fsname: 'a,b' }), RangeError, 'a comma in fsname would inject options');
  t.throws(() => fuse_option_string({ fsname: 'a', extra: ['x,y'] }), RangeError, 'so would one in an extra option');
  t.throws(() => fuse_option_string({ fsname: 'a', subtype: 'A B' }), RangeError, 'a subtype is one lower-case word');
});

t.test('errno_of maps names to positive errnos', async (t) => {
  t.equal(errno_of('ENOENT'), 2, 'ENOENT');
  t.equal(errno_of('ENOSPC'), 28, 'ENOSPC');
  t.equal(errno_of('NOT_AN_ERRNO'), 5, 'unknown names are EIO');
});

t.test('the loaded binding carries the patch level this code expects', async (t) => {
  const patch = await readFile(join(ROOT, 'patches/fuse-native+2.2.6.patch'), 'utf8');
  const m = /^\+static const uint32_t cowlog_patch = (\d+);$/m.exec(patch);
  t.ok(m, 'the patch declares its level');
  t.equal(Number(m?.[1]), FUSE_PATCH_LEVEL, 'patch file and binding.ts agree');
  t.equal(binding_load().COWLOG_PATCH, FUSE_PATCH_LEVEL, 'the built native module reports it');
});

t.test('an unpatched native module is refused with the command that fixes it', async (t) => {
  // PREBUILDS_ONLY makes node-gyp-build load fuse-native's own prebuilt, unpatched binary
  const probe = `import(${JSON.stringify(join(DIST, 'src/fuse/binding.js'))}).then((b) => {
    try { b.binding_load(); console.log('loaded'); } catch (e) { console.log(e.name, e.reason, e.message); }
  })`;
  const r = await cmd_run(process.execPath, ['-e', probe], { env: { ...process.env, PREBUILDS_ONLY: '1' } });
  // the prebuilt is built for libfuse 2: where libfuse.so.2 is not installed (a fresh machine:
  // cowlog needs only libfuse 3) it can not even load, and that is refused the same way
  const lib2 = (await cmd_run('sh', ['-c', 'ldconfig -p | grep -q "libfuse.so.2 "'])).code === 0;
  t.match(r.stdout, lib2 ? /^FuseBindingError unpatched .*make fuse/ : /^FuseBindingError missing .*libfuse\.so\.2.*make fuse/,
    `FuseBindingError, reason ${lib2 ? 'unpatched' : 'missing (no libfuse.so.2 here)'}`, { stderr: r.stderr });
});

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.test('FUSE operations', async (t) => t.plan(0, skip));
} else {
  t.test('create receives the open flags', async (t) => {
    const p = await probe_mount(t);
    const c = constants;
    const O_ACCMODE = 3;
    const open = (name: string, flags: number): Promise<unknown> => cmd_run(process.execPath, ['-e',
      `const fs = require('fs'); fs.closeSync(fs.openSync(${JSON.stringify(p.m.path(name))}, ${flags}, 0o600))`]);
    await open('excl', c.O_CREAT | c.O_EXCL | c.O_WRONLY | c.O_APPEND);
    await open('rdwr', c.O_CREAT | c.O_RDWR);
    const excl = await p.event_wait((e) => e.op === 'create' && e.path === '/excl');
    const rdwr = await p.event_wait((e) => e.op === 'create' && e.path === '/rdwr');
    // create(parent, name, mode, flags)
    const f1 = excl.args[3] as number, f2 = rdwr.args[3] as number;
    t.equal(f1 & O_ACCMODE, c.O_WRONLY, 'O_WRONLY');
    t.equal(f1 & (c.O_CREAT | c.O_EXCL | c.O_APPEND), c.O_CREAT | c.O_EXCL | c.O_APPEND, 'O_CREAT|O_EXCL|O_APPEND');
    t.equal(f2 & O_ACCMODE, c.O_RDWR, 'O_RDWR');
    t.equal(f2 & (c.O_EXCL | c.O_APPEND), 0, 'no O_EXCL or O_APPEND where none was asked');
    t.equal(excl.args[2], 0o100600, 'and the mode');
  });

  t.test('fallocate reaches the handler with mode, offset and length', async (t) => {
    const p = await probe_mount(t);
    const r = await p.m.sh([
      'set -e',
      'fallocate -l 1MiB f; stat -c %s f',
      'fallocate -n -o 0 -l 8MiB f; stat -c %s f',
      'fallocate -p -o 4096 -l 8192 f; stat -c %s f',
      'fallocate -o 1MiB -l 1MiB f; stat -c %s f',
    ].join('\n'));
    t.equal(r.code, 0, 'fallocate(1) works', { stderr: r.stderr });
    t.equal(r.stdout, '1048576\n1048576\n1048576\n2097152\n', 'sizes grow unless KEEP_SIZE');
    // fallocate(ino, fh, mode, offset, length)
    const calls = (await p.events()).filter((e) => e.op === 'fallocate').map((e) => [e.path, ...e.args.slice(2)]);
    t.same(calls, [
      ['/f', 0, 0, 1048576],
      ['/f', 1, 0, 8388608],
      ['/f', 3, 4096, 8192],
      ['/f', 0, 1048576, 1048576],
    ], '(path, mode, offset, length): plain, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, plain at an offset');
  });
}
