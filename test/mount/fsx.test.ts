// tools/fsx through a cowlog mount: at least 10,000 random writes, truncates, holes, appends and
// reads checked byte for byte against a model (100,000 per seed, three seeds, under make soak),
// then the same file after an unmount and a fresh mount; the same with the kernel's writeback
// cache (-o writeback_cache, fsx --writeback: st_blocks checked after an fsync). fsx on nullfs,
// which throws data away, must fail: the tester can tell.

import t from 'tap';
import path from 'node:path';
import { cmd_run, DIST, fuse_unavailable, mount_with, nullfs_server } from '../helpers/fusemount.js';
import { cowlog_server, fsck, image_make, SOAK } from './helpers.js';

const FSX = path.join(DIST, 'tools/fsx/fsx.js');
const OPS = SOAK ? 100_000 : 10_000;
const SEEDS = SOAK ? [1, 2, 3] : [1];

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  const runs = [...SEEDS.map((seed) => ({ seed, wb: false })), { seed: SEEDS.length + 1, wb: true }];
  for (const { seed, wb } of runs) {
    t.test(`fsx: ${OPS} operations, seed ${seed}, on a 64 MiB cowlog mount${wb ? ' with the kernel\'s writeback cache' : ''}`, async (t) => {
      const image = await image_make(t, '64M');
      const opts = wb ? ['-o', 'writeback_cache'] : [];
      const m = await mount_with(t, cowlog_server(image, ...opts));
      const r = await cmd_run(process.execPath, [FSX, '--ops', String(OPS), '--seed', String(seed), '--quiet', ...(wb ? ['--writeback'] : []), m.path('fsx.data')], { timeoutMs: SOAK ? 3_600_000 : 180_000 });
      if (r.code !== 0) t.comment((r.stderr + r.stdout).slice(-3000));
      t.equal(r.code, 0, 'fsx: every read, size and block count agrees with the model');
      t.match(r.stdout, new RegExp(`${OPS} operations .*: ok`), r.stdout.trim());
      const before = await m.run('sha256sum', ['fsx.data']);
      const rep = await m.teardown();
      t.ok(rep.clean, `unmounted (${rep.steps.join(', ')})`);
      const f = await fsck(image, '-n', '--data');
      t.equal(f.code, 0, 'fsck --data: clean', { output: f.stdout + f.stderr });
      const m2 = await mount_with(t, cowlog_server(image, ...opts));
      const after = await m2.run('sha256sum', ['fsx.data']);
      t.equal(after.stdout, before.stdout, 'the file reads the same after unmount and mount');
      await m2.teardown();
    });
  }

  t.test('fsx fails on nullfs, which discards what is written', async (t) => {
    const m = await mount_with(t, nullfs_server());
    const r = await cmd_run(process.execPath, [FSX, '--ops', '200', '--quiet', m.path('f')], { timeoutMs: 60_000 });
    t.equal(r.code, 1, 'fsx exits 1');
    t.match(r.stderr, /fsx: operation \d+ failed \(seed 1\): read of \d+ at \d+: byte/, 'naming the operation, the seed and the first wrong byte');
    t.match(r.stderr, /last operations:/, 'with the operations that led there');
  });
}
