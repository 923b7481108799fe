// `cowlog bench fsync --kill server` on a cowlog mount: the server is killed at a random moment
// in each mode and the device mounted again as it was; what fsync (or O_SYNC) made durable is
// never lost, and the mount works afterwards and fsck finds it clean.

import t from 'tap';
import { cmd_run, fuse_unavailable } from '../helpers/fusemount.js';
import { cowlog, COWLOG, daemon_guard, fsck, image_make, mountpoint_make } from './helpers.js';

interface Row { mode: string; kill: { acked: number; reached: number; lost: number; atMs: number | null } }

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  t.test('the server killed in each mode: fsync\'d records survive', async (t) => {
    const img = await image_make(t, '64M');
    const mnt = mountpoint_make(t);
    daemon_guard(t, mnt);
    let r = await cowlog(['mount', img, mnt]);
    t.equal(r.code, 0, r.stderr);
    r = await cmd_run(process.execPath, [COWLOG, 'bench', 'fsync', '--records', '300', '--kill', 'server', '--json', mnt], { timeoutMs: 300_000 });
    t.equal(r.code, 0, `exit 0: ${r.stderr}`);
    const rows = (JSON.parse(r.stdout) as { rows: Row[] }).rows;
    for (const x of rows) {
      const durable = x.mode === 'fsync-1' || x.mode === 'fdatasync-1' || x.mode === 'o_sync';
      if (durable) t.equal(x.kill.lost, 0, `${x.mode}: nothing lost of ${x.kill.acked} acknowledged records (${x.kill.reached} reached)`);
      else {
        const bound = x.mode === 'fsync-10' ? 9 : x.mode === 'fsync-100' ? 99 : x.kill.acked;
        t.ok(x.kill.lost <= bound, `${x.mode}: lost ${x.kill.lost} of ${x.kill.acked}, at most ${bound}`);
      }
    }
    r = await cmd_run('sh', ['-c', `echo after > '${mnt}/after' && cat '${mnt}/after'`]);
    t.equal(r.stdout, 'after\n', 'the mount works after the last remount');
    r = await cowlog(['umount', mnt]);
    t.equal(r.code, 0, 'unmounted');
    const f = await fsck(img);
    t.equal(f.code, 0, 'fsck: clean', { output: f.stdout + f.stderr });
  });
}
