// Trial boots through FUSE mounts, tried as a new user would: system A in the main tree, a clone
// B upgraded, B on trial; each plain `cowlog mount` says which tree it serves and counts a try;
// `cowlog snapshot mark-good MOUNTPOINT` on the mount that booted B keeps B; a trial set through
// a running mount and never marked good falls back by itself, and the log and `cowlog info` say
// so. The test process never touches the mount: shell children do.

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { cmd_run } from '../helpers/fusemount.js';
import { control_request } from '../../src/fuse/control.js';
import { socket_path } from '../../src/fuse/runtime.js';
import { cowlog, daemon_guard, fsck, image_make, mountpoint_make } from './helpers.js';

async function sh(script: string): Promise<string> {
  const r = await cmd_run('sh', ['-c', script], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`sh -c ${script}: ${r.stderr}`);
  return r.stdout;
}

t.test('a trial boot marked good through its running mount, and one that falls back', async (t) => {
  const img = await image_make(t, '32M');
  const mnt = mountpoint_make(t);
  daemon_guard(t, mnt);
  const log = `${img}.log`;
  const mount = async (what: string, ...extra: string[]): Promise<string> => {
    const r = await cowlog(['mount', ...extra, img, mnt]);
    t.equal(r.code, 0, `${what}: ${r.stderr}`);
    return r.stdout;
  };
  const umount = async (): Promise<void> => {
    const r = await cowlog(['umount', mnt]);
    t.equal(r.code, 0, `unmounted: ${r.stderr}`);
  };
  const version = (): Promise<string> => sh(`cat '${mnt}/etc/version'`);

  let out = await mount('mount the new filesystem');
  t.notMatch(out, /serving/, 'a plain mount of the main tree says nothing about trees');
  await sh(`mkdir -p '${mnt}/etc' '${mnt}/usr/lib' && echo A > '${mnt}/etc/version' && seq 1 3000 > '${mnt}/usr/lib/data'`);
  await umount();
  let r = await cowlog(['snapshot', 'clone', img, '@main', 'B']);
  t.equal(r.code, 0, `clone @main as B: ${r.stderr}`);
  out = await mount('mount the clone B', '--snapshot', 'B');
  t.match(out, /; serving B \(named at mount\)\n$/, 'names the tree');
  await sh(`echo B > '${mnt}/etc/version' && seq 1 5000 > '${mnt}/usr/lib/data'`);
  await umount();
  r = await cowlog(['snapshot', 'set-default', '--trial', '2', img, 'B']);
  t.equal(r.code, 0, `set-default --trial 2 B: ${r.stderr}`);

  out = await mount('boot 1');
  t.match(out, /; serving B on trial \(mount 1 of 2; 'cowlog snapshot mark-good MOUNTPOINT' keeps it\)\n$/, `boot 1: ${out.trim()}`);
  t.equal(await version(), 'B\n', 'system B');
  await umount();
  out = await mount('boot 2');
  t.match(out, /serving B on trial \(mount 2 of 2;/, 'boot 2: the last try');
  r = await cowlog(['snapshot', 'mark-good', mnt]);
  t.equal(r.code, 0, `mark-good through the running mount: ${r.stderr}`);
  t.equal(r.stdout, 'B is the default now\n', 'B is kept');
  r = await cowlog(['snapshot', 'list', mnt]);
  t.match(r.stdout, /\nB \*\s+clone \[default\]\s/, 'list through the mount: B is served and the default');
  r = await cowlog(['snapshot', 'mark-good', mnt]);
  t.equal([r.code, r.stdout].join(' '), '0 nothing on trial: B is the default already\n', 'mark-good again: nothing to do, exit 0');
  const raw = await control_request(socket_path(mnt), { op: 'snapshot', reqs: [{ op: 'mark-good' }] });
  t.same(raw.replies, [{ ok: true, note: 'nothing on trial: B is the default already' }], 'the control request needs no name');
  await umount();
  out = await mount('boot 3');
  t.match(out, /; serving B \(the default tree\)\n$/, 'boot 3: B, the default');
  t.equal(await version(), 'B\n', 'system B');

  r = await cowlog(['snapshot', 'set-default', '--trial', '1', mnt, '@main']);
  t.equal(r.code, 0, `set-default --trial 1 @main through the mount: ${r.stderr}`);
  t.match(r.stdout, /^default B; @main on trial, 1 of 1 mount left .*\n\(this mount keeps serving its tree; the change takes effect at the next mount\)\n$/, r.stdout.trim());
  t.equal(await version(), 'B\n', 'the running mount still serves B');
  r = await cowlog(['snapshot', 'mark-good', mnt]);
  t.equal(r.code, 1, 'mark-good on a mount that does not serve the tree on trial: exit 1');
  t.match(r.stderr, /this mount serves B, but @main is on trial/, 'saying why');
  await umount();
  out = await mount('boot 4');
  t.match(out, /serving @main on trial \(mount 1 of 1;/, 'boot 4: A on trial');
  t.equal(await version(), 'A\n', 'system A');
  await umount();
  out = await mount('boot 5');
  t.match(out, /; serving B again: the trial of @main ran out after 1 mount without mark-good\n$/, `boot 5 falls back by itself: ${out.trim()}`);
  t.equal(await version(), 'B\n', 'system B again');
  t.match(fs.readFileSync(log, 'utf8'), /warn: serving B again: the trial of @main ran out after 1 mount without mark-good/, 'the log has it as a warning');
  await umount();
  r = await cowlog(['info', img]);
  t.match(r.stdout, /\nboot {8}default B; the trial of @main ran out after 1 mount without mark-good, so B is served again\n/, 'and cowlog info');

  // an fstab line is a plain mount too: it boots, and counts
  r = await cowlog(['mount', '--install-helper']);
  t.equal(r.code, 0, 'cowlog mount --install-helper');
  r = await cowlog(['snapshot', 'set-default', '--trial', '1', img, '@main']);
  t.equal(r.code, 0, 'A on trial again, for one mount');
  const fstab = path.join(path.dirname(img), 'fstab');
  fs.writeFileSync(fstab, `${img} ${mnt} fuse.cowlog defaults,noauto 0 0\n`);
  const m = await cmd_run('mount', ['--fstab', fstab, mnt], { timeoutMs: 60_000 });
  t.equal(m.code, 0, `mount MNT from an fstab line: ${m.stderr}`);
  t.equal(await version(), 'A\n', 'it serves A, on trial');
  t.equal(fs.readFileSync(log, 'utf8').match(/info: serving @main on trial \(mount 1 of 1;/g)?.length, 2, 'the log says so (the second time, after boot 4)');
  await umount();
  r = await cowlog(['info', img]);
  t.match(r.stdout, /\nboot {8}default B; @main on trial, 0 of 1 mount left/, 'the fstab mount counted its try');
  r = await fsck(img, '-n');
  t.equal(r.code, 0, `fsck clean: ${r.stdout.trim()}`);
});
