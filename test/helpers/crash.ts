// Crash testing: a seeded workload run again and again on a simulated device with the power cut
// after write 1, 2, 3, ... (or a sample of them); each surviving device is mounted, checked by
// fsck, and compared with the states it may be in:
// - names, types, modes, links, xattrs and symlinks exactly as at the last durability point that
//   completed (checkpoint or fsync's redo group) — or at the one in progress when power went;
// - each file's content as it was after some operation between the last point that forced it
//   to the log (its fsync, a sync, a truncate) and that durability point. Unforced data may be
//   older, never garbage, never a mixture.

import type { Test } from 'tap';
import { MemoryDevice } from '../../src/device/memory.js';
import { PowerCutError, SimDevice } from '../../src/device/sim.js';
import type { PowerCutMode } from '../../src/device/sim.js';
import { FileSystem } from '../../src/fs/fs.js';
import type { FsOptions, MkfsFsOptions } from '../../src/fs/fs.js';
import { fsck } from '../../src/fsck/fsck.js';
import { clock_fixed } from '../../src/checkpoint/clock.js';
import { Prng } from '../../src/util/prng.js';
import { compare, Model, op_random, op_run } from './model.js';
import type { GenOptions, Op } from './model.js';
import { SMALL } from './engine.js';

export interface Durable {
  model: Model;
  /** the operation during which the durability point started (ops before it are in) */
  op: number;
}

export interface RunResult {
  sim: SimDevice;
  writes: number;
  crashed: boolean;
  committed: Durable;
  inflight: Durable | null;
  /** per inode: (op index, content after that op) */
  history: Map<number, { op: number; data: Buffer }[]>;
  /** per inode: op indices after which its content was forced to the log */
  forced: Map<number, number[]>;
  /** write indices (1-based) issued while the cleaner was moving blocks */
  cleaningWrites: number[];
}

/** Operations generated against a model alone, so every run replays the same ones. */
export function workload(seed: number, ops: number, gen: Omit<GenOptions, 'inlineMax'> & { inlineMax?: number }): Op[] {
  const m = new Model();
  const rng = new Prng(seed);
  const out: Op[] = [];
  let nextIno = 2;
  for (let i = 0; i < ops; i++) {
    const op = op_random(rng, m, { inlineMax: 1536, ...gen });
    out.push(op);
    if (m.check(op) === null) {
      m.apply(op, m.makes_inode(op) ? nextIno++ : 0);
    }
  }
  return out;
}

export function base_image(blocks: number, o: MkfsFsOptions = SMALL): Buffer {
  const mem = new MemoryDevice(blocks);
  FileSystem.mkfs(mem, { ...o, clock: clock_fixed() });
  return mem.image();
}

/** Runs ops on a fresh simulated device made from image, cutting power after write `cut`. */
export function crash_run(image: Buffer, ops: Op[], cut: number | null, seed: number, fo: FsOptions = {}): RunResult {
  const sim = SimDevice.from(image, { seed });
  if (cut !== null) sim.cutAfter(cut);
  const model = new Model();
  let opIndex = -1;
  const res: RunResult = {
    sim, writes: 0, crashed: false, committed: { model: model.snapshot(), op: 0 }, inflight: null,
    history: new Map(), forced: new Map(), cleaningWrites: [],
  };
  const onDurable = (phase: 'begin' | 'end'): void => {
    if (phase === 'begin') res.inflight = { model: model.snapshot(), op: Math.max(opIndex, 0) };
    else { res.committed = res.inflight!; res.inflight = null; }
  };
  let fs: FileSystem | null = null;
  try {
    // small bounds, so that flushes and checkpoints (the durability points under test) come often
    fs = FileSystem.mount(sim, { clock: clock_fixed(1_700_000_100), onDurable, dirtyBytesMax: 64 << 10, dirtyNodesMax: 16, ...fo });
    // remember which writes the cleaner issued, so tests can cut power inside cleaning
    const cleaner = fs.cleaner;
    const move = cleaner.seg_move.bind(cleaner);
    cleaner.seg_move = (s: number): void => {
      const from = sim.writesIssued;
      move(s);
      for (let w = from + 1; w <= sim.writesIssued; w++) res.cleaningWrites.push(w);
    };
    for (opIndex = 0; opIndex < ops.length; opIndex++) {
      const op = ops[opIndex]!;
      const want = model.check(op);
      const got = op_run(fs, op);
      const err = 'errno' in got ? got.errno : null;
      if (err === 'ENOSPC' && want === null) continue; // a full device: nothing changed
      if (err !== want) throw new Error(`op ${opIndex} ${JSON.stringify(op)}: got ${err ?? 'success'}, model says ${want ?? 'success'}`);
      if (want) continue;
      model.apply(op, 'ino' in got ? got.ino : 0);
      const ino = 'ino' in got && got.ino ? got.ino : 'ino' in op ? op.ino : 0;
      if (op.op === 'create') res.history.set(ino, [{ op: opIndex, data: Buffer.alloc(0) }]);
      // named after it was written: empty or written, as a created file written at once
      if (op.op === 'tmpfile' && op.name !== null) res.history.set(ino, [{ op: opIndex, data: Buffer.alloc(0) }, { op: opIndex, data: model.get(ino).data }]);
      const force = (f: number): void => { (res.forced.get(f) ?? res.forced.set(f, []).get(f)!).push(opIndex); };
      // range operations write the file's pages first (range.ts): they force it, as truncate does
      const ranged = op.op === 'punch' || op.op === 'alloc' || op.op === 'zero';
      if (op.op === 'write' || op.op === 'truncate' || ranged) res.history.get(ino)!.push({ op: opIndex, data: model.get(ino).data });
      if (op.op === 'fsync' || op.op === 'truncate' || ranged) force(ino);
      // a clone shares blocks (after writing both files' pages) or copies through the page cache:
      // which one is the engine's choice, so it forces nothing here
      if (op.op === 'clone') res.history.get(op.dst)!.push({ op: opIndex, data: model.get(op.dst).data });
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

/** Cuts power (mode), mounts, runs fsck and compares; false (with a failed assertion) if wrong. */
export function crash_check(t: Test, r: RunResult, mode: PowerCutMode, label: string): boolean {
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
