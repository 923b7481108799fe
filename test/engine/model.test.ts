// Model-based random tests of the file layer: thousands of seeded operations run on cowlog and
// on the in-memory model, with remounts in between, at small segments and B+tree fanout 4.
// Every run ends with fsck. A failure prints the seed and the operation index to replay it.

import t from 'tap';
import type { Test } from 'tap';
import { Prng } from '../../src/util/prng.js';
import { compare, content_mix, Model, op_random, op_run } from '../helpers/model.js';
import type { MkfsFsOptions } from '../../src/fs/fs.js';
import type { Op } from '../helpers/model.js';
import { fsck_ok, mkfs_mem, mount, SMALL } from '../helpers/engine.js';
import type { FileSystem } from '../../src/fs/fs.js';

const SOAK = process.env.COWLOG_SOAK === '1';
const ALLOCATING = new Set<Op['op']>(['write', 'create', 'mkdir', 'symlink', 'link', 'setxattr', 'truncate', 'alloc', 'zero', 'punch', 'clone', 'tmpfile']);

function run(t: Test, seed: number, ops: number, fanout: number, blocks: number, mo: MkfsFsOptions = {}): void {
  const dev = mkfs_mem(blocks, { ...SMALL, fanout, ...mo });
  let fs: FileSystem = mount(dev, { dirtyBytesMax: 256 << 10 });
  const model = new Model();
  const rng = new Prng(seed);
  const gen = { names: 12, fileSizeMax: 256 << 10, inlineMax: fs.vol.g.inlineMax, weights: { remount: 1, tmpfile: 2 } };
  let last: Op | null = null;
  let enospc = 0;
  for (let i = 0; i < ops; i++) {
    const op = op_random(rng, model, gen);
    last = op;
    const want = model.check(op);
    const got = op_run(fs, op);
    const gotErr = 'errno' in got ? got.errno : null;
    if (gotErr === 'ENOSPC' && want === null && ALLOCATING.has(op.op)) {
      // the model does not know how full the device is: ENOSPC is right when statfs agrees
      const st = fs.statfs();
      if (st.bavail > st.blocks / 4) { t.fail(`seed ${seed} op ${i} ${JSON.stringify(op)}: ENOSPC with ${st.bavail} of ${st.blocks} blocks free`); return; }
      enospc++;
      continue;
    }
    if (gotErr !== want) {
      t.fail(`seed ${seed} op ${i} ${JSON.stringify(op)}: got ${gotErr ?? 'success'}, model says ${want ?? 'success'}`);
      return;
    }
    if (!want) model.apply(op, 'ino' in got ? got.ino : 0);
    // the invariant that keeps cowlog from wedging: a checkpoint always fits in the free space
    const free = fs.vol.log.blocks_free();
    const need = fs.cleaner.ckpt_need();
    if (free < need) { t.fail(`seed ${seed} op ${i} ${op.op}: ${free} blocks free, a checkpoint may need ${need}`); return; }
    if (op.op === 'remount' || i % 500 === 499) {
      fs.unmount();
      fs = mount(dev, { dirtyBytesMax: 256 << 10 });
      const d = compare(fs, model);
      if (d.length) { t.same(d, [], `seed ${seed} after op ${i} and a remount: equal to the model`); return; }
    }
  }
  const d = compare(fs, model);
  t.same(d, [], `seed ${seed}: ${ops} operations (${enospc} refused for space), equal to the model before unmount (last ${last?.op})`);
  fs.unmount();
  const fs2 = mount(dev);
  t.same(compare(fs2, model), [], `seed ${seed}: equal to the model after a final remount`);
  t.ok(fs2.vol.stats.checkpoints >= 1, 'mount wrote its checkpoint');
  fs2.unmount();
  fsck_ok(t, dev, `seed ${seed}`);
}

for (const [fanout, seeds] of [[4, [1, 2, 3]], [10, [4]], [32, [5]]] as const) {
  t.test(`random operations against the model, fanout ${fanout}`, async (t) => {
    for (const seed of seeds) run(t, seed, SOAK ? 20000 : 2500, fanout, 4096);
  });
}

t.test('random operations on a nearly full small device (cleaner at work)', async (t) => {
  // 2 MiB device, files up to 256 KiB: the live data stays within what fits, while overwrites
  // keep the cleaner busy
  run(t, 77, SOAK ? 20000 : 3000, 4, 1024);
});

t.test('random operations with lz4 compression, a quarter of the writes compressible', async (t) => {
  content_mix(true);
  try {
    run(t, 91, SOAK ? 20000 : 2500, 4, 4096, { compress: 'lz4' });
    // nearly full: clusters rewritten, moved by the cleaner, refused for space honestly
    run(t, 92, SOAK ? 20000 : 3000, 4, 1024, { compress: 'lz4' });
  } finally {
    content_mix(false);
  }
});
