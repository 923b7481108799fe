// Power-loss tests: a seeded workload of several hundred device writes is run again and again on
// a simulated device, with the power cut after write 1, 2, 3, ... in turn. Each time the device
// that survives (only flushed writes; every write; or a seeded mix of lost, kept, reordered and
// torn unflushed writes) is mounted, checked by fsck, and compared with what may be on it:
// - names, types, modes, links, xattrs and symlinks exactly as at the last durability point that
//   completed (checkpoint or fsync's redo group) — or at the one in progress when power went;
// - each file's content as it was after some operation between the last point that forced it
//   to the log (its fsync, a sync, a truncate) and that durability point. Unforced data may be
//   older, never garbage, never a mixture.

import t from 'tap';
import type { Test } from 'tap';
import { MemoryDevice } from '../../src/device/memory.js';
import { PowerCutError, SimDevice } from '../../src/device/sim.js';
import type { PowerCutMode } from '../../src/device/sim.js';
import { FileSystem } from '../../src/fs/fs.js';
import { fsck } from '../../src/fsck/fsck.js';
import { clock_fixed } from '../../src/checkpoint/clock.js';
import { Prng } from '../../src/util/prng.js';
import { compare, Model, op_random, op_run } from '../helpers/model.js';
import type { Op } from '../helpers/model.js';
import { SMALL } from '../helpers/engine.js';

const SOAK = process.env.COWLOG_SOAK === '1';
const BLOCKS = 2048;

interface Durable {
  model: Model;
  /** the operation during which the durability point started (ops before it are in) */
  op: number;
}

interface RunResult {
  sim: SimDevice;
  writes: number;
  crashed: boolean;
  committed: Durable;
  inflight: Durable | null;
  /** per inode: (op index, content after that op) */
  history: Map<number, { op: number; data: Buffer }[]>;
  /** per inode: op indices after which its content was forced to the log */
  forced: Map<number, number[]>;
}

function workload(seed: number, ops: number): Op[] {
  // generated against a model alone, so every run replays the same operations
  const m = new Model();
  const rng = new Prng(seed);
  const out: Op[] = [];
  let nextIno = 2;
  for (let i = 0; i < ops; i++) {
    const op = op_random(rng, m, {
      names: 8, fileSizeMax: 96 << 10, inlineMax: 1536,
      weights: { write: 30, fsync: 14, sync: 2, truncate: 4, rename: 5, unlink: 5 },
    });
    out.push(op);
    if (m.check(op) === null) {
      const created = op.op === 'create' || op.op === 'mkdir' || op.op === 'symlink';
      m.apply(op, created ? nextIno++ : 0);
    }
  }
  return out;
}

function base_image(): Buffer {
  const mem = new MemoryDevice(BLOCKS);
  FileSystem.mkfs(mem, { ...SMALL, clock: clock_fixed() });
  return mem.image();
}

function run(image: Buffer, ops: Op[], cut: number | null, seed: number): RunResult {
  const sim = SimDevice.from(image, { seed });
  if (cut !== null) sim.cutAfter(cut);
  const model = new Model();
  let opIndex = -1;
  const res: RunResult = {
    sim, writes: 0, crashed: false, committed: { model: model.snapshot(), op: 0 }, inflight: null,
    history: new Map(), forced: new Map(),
  };
  const onDurable = (phase: 'begin' | 'end'): void => {
    if (phase === 'begin') res.inflight = { model: model.snapshot(), op: Math.max(opIndex, 0) };
    else { res.committed = res.inflight!; res.inflight = null; }
  };
  let fs: FileSystem | null = null;
  try {
    fs = FileSystem.mount(sim, { clock: clock_fixed(1_700_000_100), onDurable, dirtyBytesMax: 64 << 10 });
    for (opIndex = 0; opIndex < ops.length; opIndex++) {
      const op = ops[opIndex]!;
      const want = model.check(op);
      const got = op_run(fs, op);
      const err = 'errno' in got ? got.errno : null;
      if (err !== want) throw new Error(`op ${opIndex} ${JSON.stringify(op)}: got ${err ?? 'success'}, model says ${want ?? 'success'}`);
      if (want) continue;
      model.apply(op, 'ino' in got ? got.ino : 0);
      const ino = 'ino' in got && got.ino ? got.ino : 'ino' in op ? op.ino : 0;
      if (op.op === 'create') res.history.set(ino, [{ op: opIndex, data: Buffer.alloc(0) }]);
      if (op.op === 'write' || op.op === 'truncate') res.history.get(ino)!.push({ op: opIndex, data: model.get(ino).data });
      if (op.op === 'fsync' || op.op === 'truncate') (res.forced.get(ino) ?? res.forced.set(ino, []).get(ino)!).push(opIndex);
      if (op.op === 'sync') for (const f of model.files()) (res.forced.get(f) ?? res.forced.set(f, []).get(f)!).push(opIndex);
    }
    fs.unmount();
  } catch (e) {
    if (!(e instanceof PowerCutError)) throw e;
    res.crashed = true;
  }
  res.writes = sim.writesIssued;
  return res;
}

/** The contents a file may have after recovery to durability point d. */
function contents_allowed(r: RunResult, ino: number, d: Durable): Buffer[] {
  const h = r.history.get(ino) ?? [];
  const before = h.filter((e) => e.op < d.op);
  const forcedOps = (r.forced.get(ino) ?? []).filter((f) => f < d.op);
  const floor = forcedOps.length ? Math.max(...forcedOps) : -1;
  // the content current at the last forcing, and every later one before d
  let startIdx = 0;
  for (let i = 0; i < before.length; i++) if (before[i]!.op <= floor) startIdx = i;
  return before.slice(startIdx).map((e) => e.data);
}

function check(t: Test, r: RunResult, mode: PowerCutMode, label: string): boolean {
  const dev = r.sim.powerCut(mode);
  let fs: FileSystem;
  try {
    fs = FileSystem.mount(dev, { clock: clock_fixed(1_700_000_200) });
  } catch (e) {
    t.fail(`${label}: mount after the cut failed: ${(e as Error).message}`);
    return false;
  }
  const cands = [r.committed, ...(r.inflight ? [r.inflight] : [])];
  let best: string[] | null = null;
  for (const d of cands) {
    const diffs = compare(fs, d.model, (ino, got) => contents_allowed(r, ino, d).some((c) => c.equals(got)));
    if (diffs.length === 0) { best = []; break; }
    if (!best || diffs.length < best.length) best = diffs;
  }
  fs.unmount();
  const rep = fsck(dev, { readOnly: true, data: true });
  if (rep.errors.length) { t.same(rep.errors, [], `${label}: fsck clean`); return false; }
  if (best!.length) { t.same(best, [], `${label}: the recovered tree is a state it may be in (last durable op ${r.committed.op}${r.inflight ? `, in flight ${r.inflight.op}` : ''})`); return false; }
  return true;
}

t.test('power cut after every write of a workload', async (t) => {
  const image = base_image();
  const seed = 11;
  const ops = workload(seed, SOAK ? 1000 : 520);
  const full = run(image, ops, null, seed);
  t.notOk(full.crashed, 'the workload runs to the end without a cut');
  t.ok(full.writes >= 300, `the workload issues ${full.writes} device writes (at least a few hundred)`);
  const modes: PowerCutMode[] = ['flushed', 'all', 'random'];
  let ok = 0, checked = 0;
  for (let cut = 0; cut <= full.writes; cut++) {
    const r = run(image, ops, cut, seed + cut);
    const mode = modes[cut % modes.length]!;
    checked++;
    if (!check(t, r, mode, `cut after write ${cut} (${mode})`)) break;
    ok++;
  }
  t.equal(ok, checked, `every one of ${checked} power cuts recovered to a valid state`);
});

t.test('power cuts with lost, reordered and torn unflushed writes, several seeds', async (t) => {
  const image = base_image();
  for (const seed of SOAK ? [21, 22, 23, 24, 25, 26, 27, 28] : [21, 22]) {
    const ops = workload(seed, 120);
    const full = run(image, ops, null, seed);
    const rng = new Prng(seed);
    let ok = 0;
    const cuts = SOAK ? full.writes : 60;
    for (let k = 0; k < cuts; k++) {
      const cut = SOAK ? k : rng.int(0, full.writes);
      const r = run(image, ops, cut, seed * 1000 + cut);
      // several outcomes of the same cut
      let all = true;
      for (let j = 0; j < 3 && all; j++) all = check(t, r, 'random', `seed ${seed} cut ${cut} outcome ${j}`);
      if (!all) break;
      ok++;
    }
    t.equal(ok, cuts, `seed ${seed}: ${cuts} random cuts, each recovered to a valid state`);
  }
});
