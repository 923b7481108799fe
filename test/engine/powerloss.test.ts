// Power-loss tests: a seeded workload of several hundred device writes is run again and again on
// a simulated device, with the power cut after write 1, 2, 3, ... in turn. Each time the device
// that survives (only flushed writes; every write; or a seeded mix of lost, kept, reordered and
// torn unflushed writes) is mounted, checked by fsck, and compared with what may be on it (see
// test/helpers/crash.ts).

import t from 'tap';
import type { Test } from 'tap';
import type { Op } from '../helpers/model.js';
import type { PowerCutMode } from '../../src/device/sim.js';
import { Prng } from '../../src/util/prng.js';
import { base_image, crash_check, crash_run, workload } from '../helpers/crash.js';
import { content_mix } from '../helpers/model.js';
import { fsck } from '../../src/fsck/fsck.js';
import { SMALL } from '../helpers/engine.js';

const SOAK = process.env.COWLOG_SOAK === '1';
const BLOCKS = 2048;
const GEN = { names: 8, fileSizeMax: 96 << 10, weights: { write: 30, fsync: 14, sync: 2, truncate: 4, rename: 5, unlink: 5 } };

/** Cuts power after each write of the run in turn (the survivor drawn three ways, in rotation). */
function cut_every_write(t: Test, image: Buffer, ops: Op[], seed: number, writes: number): void {
  const modes: PowerCutMode[] = ['flushed', 'all', 'random'];
  let ok = 0, checked = 0;
  for (let cut = 0; cut <= writes; cut++) {
    const r = crash_run(image, ops, cut, seed + cut);
    const mode = modes[cut % modes.length]!;
    checked++;
    if (!crash_check(t, r, mode, `cut after write ${cut} (${mode})`)) break;
    ok++;
  }
  t.equal(ok, checked, `every one of ${checked} power cuts recovered to a valid state`);
}

t.test('power cut after every write of a workload', async (t) => {
  const image = base_image(BLOCKS);
  const seed = 11;
  const ops = workload(seed, SOAK ? 1000 : 520, GEN);
  const full = crash_run(image, ops, null, seed);
  t.notOk(full.crashed, 'the workload runs to the end without a cut');
  t.ok(full.writes >= 300, `the workload issues ${full.writes} device writes (at least a few hundred)`);
  cut_every_write(t, image, ops, seed, full.writes);
});

t.test('power cuts with lost, reordered and torn unflushed writes, several seeds', async (t) => {
  const image = base_image(BLOCKS);
  for (const seed of SOAK ? [21, 22, 23, 24, 25, 26, 27, 28] : [21, 22]) {
    const ops = workload(seed, 120, GEN);
    const full = crash_run(image, ops, null, seed);
    const rng = new Prng(seed);
    let ok = 0;
    const cuts = SOAK ? full.writes : 60;
    for (let k = 0; k < cuts; k++) {
      const cut = SOAK ? k : rng.int(0, full.writes);
      const r = crash_run(image, ops, cut, seed * 1000 + cut);
      // several outcomes of the same cut
      let all = true;
      for (let j = 0; j < 3 && all; j++) all = crash_check(t, r, 'random', `seed ${seed} cut ${cut} outcome ${j}`);
      if (!all) break;
      ok++;
    }
    t.equal(ok, cuts, `seed ${seed}: ${cuts} random cuts, each recovered to a valid state`);
  }
});

t.test('power cut after every write of a compressed workload', async (t) => {
  // the same workload with lz4: a quarter of the writes compressible (clusters written,
  // rewritten inside, truncated, logged as patches and rolled forward), the rest stored plain
  content_mix(true);
  try {
    const image = base_image(BLOCKS, { ...SMALL, compress: 'lz4' });
    const seed = 12;
    const ops = workload(seed, SOAK ? 1000 : 400, GEN);
    const full = crash_run(image, ops, null, seed);
    t.notOk(full.crashed, 'the workload runs to the end without a cut');
    t.ok(full.writes >= 200, `the workload issues ${full.writes} device writes`);
    const clusters = fsck(full.sim, { readOnly: true, data: true }).counts.compressedClusters;
    t.ok(clusters > 0, `it leaves ${clusters} compressed clusters`);
    cut_every_write(t, image, ops, seed, full.writes);
  } finally {
    content_mix(false);
  }
});

t.test('power cut after every write of a workload of O_TMPFILE files, named or not', async (t) => {
  // a file of no name made, written, named by link() (or never) and closed, in one operation of
  // the model: after a cut it is there named with what was written (or empty: not forced), or
  // not there at all; one never named leaves nothing, and fsck finds no orphan left over
  const image = base_image(BLOCKS);
  const seed = 23;
  const ops = workload(seed, 300, { ...GEN, weights: { ...GEN.weights, tmpfile: 12, create: 4 } });
  const named = ops.filter((o) => o.op === 'tmpfile' && o.name !== null).length;
  const unnamed = ops.filter((o) => o.op === 'tmpfile' && o.name === null).length;
  t.ok(named >= 10 && unnamed >= 3, `the workload makes ${named} O_TMPFILE files it names and ${unnamed} it does not`);
  const full = crash_run(image, ops, null, seed);
  t.notOk(full.crashed, 'the workload runs to the end without a cut');
  cut_every_write(t, image, ops, seed, full.writes);
});

t.test('power cut after every write of a workload of renames (exchanges, whiteouts)', async (t) => {
  // renames a quarter of the operations: a fifth of them exchanges, one in twenty a whiteout
  // (the rename and the whiteout's inode and name in one change: before or after, never half)
  const image = base_image(BLOCKS);
  const seed = 15;
  const ops = workload(seed, 400, { ...GEN, weights: { ...GEN.weights, rename: 25, mkdir: 4, create: 8 } });
  const whiteouts = ops.filter((o) => o.op === 'rename' && o.flags === 'whiteout').length;
  t.ok(whiteouts >= 5, `the workload has ${whiteouts} RENAME_WHITEOUTs`);
  const full = crash_run(image, ops, null, seed);
  t.notOk(full.crashed, 'the workload runs to the end without a cut');
  cut_every_write(t, image, ops, seed, full.writes);
});
