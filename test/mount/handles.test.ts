// What the path-based binding could not do, through the mount (test/mount/handles_client.py
// makes the calls): an open descriptor of a directory removed or renamed over answers fstat
// (link count 0) as on ext4, file handles (name_to_handle_at, open_by_handle_at) open the file
// again after a remount and say ESTALE once it is gone, and telldir/seekdir cookies resume a
// listing — in another handle, after the directory changed — without skipping a name. All of it
// on the default mount and with the kernel's writeback cache.

import t from 'tap';
import path from 'node:path';
import { fuse_unavailable, mount_with } from '../helpers/fusemount.js';
import type { Mounted } from '../helpers/fusemount.js';
import { clean_after, cowlog, cowlog_server, daemon_guard, fsck, image_make, mountpoint_make, MOUNT_KINDS, ROOT } from './helpers.js';
import { cmd_run } from '../helpers/fusemount.js';

const CLIENT = path.join(ROOT, 'test/mount/handles_client.py');

async function call(m: Mounted | string, ...args: string[]): Promise<Record<string, unknown>> {
  const r = typeof m === 'string'
    ? await cmd_run('python3', [CLIENT, ...args], { cwd: m, timeoutMs: 120_000 })
    : await m.run('python3', [CLIENT, ...args], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`handles_client ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  // each test on the default mount, then with the kernel's writeback cache
  for (const [label, opts] of MOUNT_KINDS) {
    t.test('an open directory removed or renamed over: fstat answers, the listing is empty' + label, async (t) => {
      const image = await image_make(t, '64M');
      const m = await mount_with(t, cowlog_server(image, ...opts));
      const rm = await call(m, 'dir-fd', 'gone', 'rmdir');
      t.same(rm['fstat'], { nlink: 0, dir: true }, 'fstat of a removed directory: link count 0, still a directory');
      t.ok(Array.isArray(rm['list']) ? (rm['list'] as unknown[]).length === 0 : rm['list'] === 'ENOENT', `listing it: nothing (${JSON.stringify(rm['list'])})`);
      const over = await call(m, 'dir-fd', 'old', 'rename');
      t.same(over['fstat'], { nlink: 0, dir: true }, 'fstat of a directory renamed over: link count 0');
      await clean_after(t, m, image);
    });

    t.test('file handles: open_by_handle_at after a remount, ESTALE once the file is gone' + label, async (t) => {
      const image = await image_make(t, '64M');
      const mnt = mountpoint_make(t);
      daemon_guard(t, mnt);
      t.equal((await cowlog(['mount', ...opts, image, mnt])).code, 0, 'mounted');
      const w = await cmd_run('sh', ['-c', 'echo hello > h && mkdir d && echo there > d/f'], { cwd: mnt });
      t.equal(w.code, 0, 'files made');
      const h = await call(mnt, 'handle', 'h');
      const hd = await call(mnt, 'handle', 'd/f');
      t.ok(typeof h['bytes'] === 'string' && (h['bytes'] as string).length > 0, `name_to_handle_at gives a handle (${JSON.stringify(h)})`);
      t.same(await call(mnt, 'open-handle', mnt, String(h['type']), h['bytes'] as string), { data: 'hello\n' }, 'open_by_handle_at opens it');
      t.equal((await cowlog(['umount', mnt])).code, 0, 'unmounted');
      t.equal((await cowlog(['mount', ...opts, image, mnt])).code, 0, 'mounted again: the kernel holds none of its inodes');
      t.same(await call(mnt, 'open-handle', mnt, String(h['type']), h['bytes'] as string), { data: 'hello\n' }, 'the handle opens the file after the remount');
      t.same(await call(mnt, 'open-handle', mnt, String(hd['type']), hd['bytes'] as string), { data: 'there\n' }, 'and one in a subdirectory');
      t.equal((await cmd_run('rm', ['h'], { cwd: mnt })).code, 0, 'the file removed');
      t.same(await call(mnt, 'open-handle', mnt, String(h['type']), h['bytes'] as string), { error: 'ESTALE' }, 'its handle: ESTALE');
      t.equal((await cowlog(['umount', mnt])).code, 0, 'unmounted');
      const f = await fsck(image, '-n');
      t.equal(f.code, 0, 'fsck: clean', { output: f.stdout + f.stderr });
    });

    t.test('telldir/seekdir cookies: another handle, a changed directory, no name skipped' + label, async (t) => {
      const image = await image_make(t, '64M');
      const m = await mount_with(t, cowlog_server(image, ...opts));
      t.equal((await m.sh('mkdir big')).code, 0, 'a directory');
      const r = await call(m, 'seekdir', m.path('big'), '600');
      t.same([r['listed'], r['distinct']], [600, 600], 'the listing has every name once');
      t.equal(r['same_handle_order'], true, 'seekdir to a cookie, in a new handle, lists on from there');
      t.same(r['missing_after_change'], [], 'after names were added and removed, a cookie told before skips none of those still there');
      t.equal(r['repeated_after_change'], 0, 'and lists none twice');
      await clean_after(t, m, image);
    });
  }
}
