// The crash table: for each operation of crash/ops.ts, the power is cut at every request boundary
// of the operation — after each device write, and at and after each flush — and what survives is
// drawn in several ways: only what was flushed, everything written, and (per seed) any version of
// each unflushed block in any order, torn at a sector boundary (SimDevice's 'random' cut). Each
// survivor is recovered as the next mount would recover it, checked by fsck, and its state (crash/
// state.ts) compared with the state before the operation and the state after it.
//
// Invariants:
// - One row per (operation, crash point); its counts add up to 2 + seeds outcomes.
// - A row's outcome is 'before' or 'after' only when the recovered device mounts, fsck finds no
//   error and the state equals that one exactly; anything else is 'other', with the reason.
// - Everything follows from (seed, seeds, the build): the same arguments give the same table.

import type { BlockDevice } from '../device/device.js';
import { MemoryDevice } from '../device/memory.js';
import { PowerCutError, SimDevice } from '../device/sim.js';
import type { PowerCutMode } from '../device/sim.js';
import { FileSystem } from '../fs/fs.js';
import type { FsOptions } from '../fs/fs.js';
import { fsck } from '../fsck/fsck.js';
import { clock_fixed } from '../checkpoint/clock.js';
import { block_magic } from '../format/block.js';
import { CP_MAGIC, JOURNAL_MAGIC } from '../format/checkpoint.js';
import { DIR_MAGIC, TABLE_MAGIC } from '../format/table.js';
import { NODE_MAGIC } from '../format/node.js';
import { REDO_MAGIC } from '../format/redo.js';
import { BLOCK_SIZE } from '../device/device.js';
import { assert } from '../util/assert.js';
import { crash_image, crash_ops, op_clock } from './ops.js';
import type { CrashImage, CrashOp } from './ops.js';
import { fs_state, state_diff } from './state.js';

export type Outcome = 'before' | 'after' | 'other';

export interface CrashRow {
  op: string;
  durable: string;
  /** requests of the operation that completed before the power went (0 .. points) */
  point: number;
  /** requests the whole operation issues */
  points: number;
  /** the last request that completed, or '-' */
  last: string;
  /** the request the power cut refused, or '-' when the operation had returned */
  refused: string;
  /** blocks written since the last flush when the power went */
  unflushed: number;
  before: number;
  after: number;
  other: number;
  /** what the third states were: how the power went, and why the state is neither */
  others: string[];
}

export interface CrashTableOptions {
  /** seed of the random survivors (default 1) */
  seed?: number;
  /** random survivors drawn per crash point, beside 'flushed' and 'all' (default 8) */
  seeds?: number;
  /** operation names to run (default: all); 'create' runs both its fsync and its sync row sets */
  ops?: string[];
  /** a line per operation as it is done */
  progress?: (msg: string) => void;
  /** the operations to choose from (default: crash_ops(); tests add ones that are not atomic) */
  catalogue?: CrashOp[];
}

export interface CrashTable {
  seed: number;
  seeds: number;
  rows: CrashRow[];
  /** power cuts recovered and classified */
  cuts: number;
  before: number;
  after: number;
  other: number;
  /** each operation: its legend line */
  legend: { op: string; durable: string; what: string }[];
}

const KINDS: [number, string][] = [
  [CP_MAGIC, 'checkpoint header'], [JOURNAL_MAGIC, 'journal'], [TABLE_MAGIC, 'table'], [DIR_MAGIC, 'directory'],
  [NODE_MAGIC, 'node'], [REDO_MAGIC, 'redo'],
];

/** "node×3 + table" for the blocks of one write request (a block without a magic is data). */
function write_kinds(data: Uint8Array): string {
  const parts: { kind: string; n: number }[] = [];
  for (let i = 0; i < data.length / BLOCK_SIZE; i++) {
    const m = block_magic(data.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE));
    const kind = KINDS.find(([x]) => x === m)?.[1] ?? 'data';
    const last = parts[parts.length - 1];
    if (last && last.kind === kind) last.n++;
    else parts.push({ kind, n: 1 });
  }
  return parts.map((p) => (p.n > 1 ? `${p.kind}×${p.n}` : p.kind)).join(' + ');
}

/** Forwards to the simulated device and, once armed, names each request that completes. */
class Recorder implements BlockDevice {
  readonly requests: string[] = [];
  armed = false;
  private writes = 0;
  private flushes = 0;
  constructor(readonly sim: SimDevice) {}
  get name(): string { return this.sim.name; }
  get blockCount(): number { return this.sim.blockCount; }
  read(addr: number, count = 1): Buffer { return this.sim.read(addr, count); }
  write(addr: number, data: Uint8Array): void {
    this.sim.write(addr, data);
    if (this.armed) this.requests.push(`write ${++this.writes}: ${write_kinds(data)} @${addr}`);
  }
  flush(): void {
    this.sim.flush();
    if (this.armed) this.requests.push(`flush ${++this.flushes}`);
  }
  discard(addr: number, count: number): void { this.sim.discard(addr, count); }
  close(): void { this.sim.close(); }
}

export interface CutRun {
  sim: SimDevice;
  /** each request of the operation that completed, named ('write 2: node×3 @412', 'flush 1') */
  requests: string[];
  returned: boolean;
  /** blocks written since the last flush when the power went */
  unflushed: number;
  /** the device as the operation found it (after its mount, if it has one) */
  start: Buffer;
}

/**
 * Runs an operation on a simulated device made from `image`: mounted with `open` first (null:
 * the operation mounts), then `run`, with the power cut after `cut` of its write and flush
 * requests (null: never). The engine tests of trial boots cut power the same way.
 */
export function cut_run(image: Buffer, open: FsOptions | null, run: CrashOp['run'], seed: number, cut: number | null): CutRun {
  const sim = SimDevice.from(image, { seed, name: 'crash-table' });
  const rec = new Recorder(sim);
  const fs = open ? FileSystem.mount(rec, { clock: op_clock(), ...open }) : null;
  const start = sim.image();
  rec.armed = true;
  if (cut !== null) sim.cutAfterRequests(cut);
  let returned = false;
  try {
    run(rec, fs);
    returned = true;
  } catch (e) {
    if (!(e instanceof PowerCutError)) throw e;
  }
  return { sim, requests: rec.requests, returned, unflushed: sim.pendingBlocks, start };
}

/**
 * What a user finds after the power came back: the next mount's recovery (a read-write mount
 * and unmount), fsck, then the state. A string starting with '!' says why there is no state.
 */
function settle(dev: BlockDevice): string {
  try {
    FileSystem.mount(dev, { clock: clock_fixed(1_700_000_500) }).unmount();
  } catch (e) {
    return `!the next mount failed: ${(e as Error).message}`;
  }
  const rep = fsck(dev, { readOnly: true, data: true });
  if (rep.errors.length) return `!fsck: ${rep.errors[0]}${rep.errors.length > 1 ? ` (and ${rep.errors.length - 1} more)` : ''}`;
  try {
    return fs_state(dev);
  } catch (e) {
    return `!reading the recovered state failed: ${(e as Error).message}`;
  }
}

function seed_of(seed: number, op: number, point: number): number {
  // distinct, reproducible seeds per (run, operation, point); never 0
  return (((seed * 1_000_003) ^ (op * 7919) ^ (point * 104_729)) >>> 0) || 1;
}

/** Builds the table. Throws (a bug in the table itself) when an operation fails without a power cut. */
export function crash_table(o: CrashTableOptions = {}): CrashTable {
  const seed = o.seed ?? 1;
  const seeds = o.seeds ?? 8;
  const all = o.catalogue ?? crash_ops();
  const wanted = o.ops ?? null;
  if (wanted) {
    const unknown = wanted.filter((w) => !all.some((x) => x.name === w));
    if (unknown.length) throw new RangeError(`no operation named ${unknown.map((u) => JSON.stringify(u)).join(', ')} (there are: ${[...new Set(all.map((x) => x.name))].join(', ')})`);
  }
  const images = new Map<CrashImage, Buffer>();
  const image_of = (k: CrashImage): Buffer => {
    let img = images.get(k);
    if (!img) { img = crash_image(k); images.set(k, img); }
    return img;
  };
  const modes: PowerCutMode[] = ['flushed', 'all', ...Array.from({ length: seeds }, () => 'random' as const)];
  const out: CrashTable = { seed, seeds, rows: [], cuts: 0, before: 0, after: 0, other: 0, legend: [] };
  all.forEach((op, oi) => {
    if (wanted && !wanted.includes(op.name)) return;
    out.legend.push({ op: op.name, durable: op.durable, what: op.what });
    const image = image_of(op.image);
    const full = cut_run(image, op.mount, op.run, seed_of(seed, oi, 0), null);
    assert(full.returned, () => `${op.name}: did not return without a power cut`);
    const before = settle(MemoryDevice.from(full.start));
    const after = settle(MemoryDevice.from(full.sim.image()));
    assert(!before.startsWith('!') && !after.startsWith('!'), () => `${op.name} (${op.durable}): the state before or after cannot be read: ${before.startsWith('!') ? before : after}`);
    assert(before !== after, () => `${op.name} (${op.durable}): the operation changes nothing the state shows`);
    const points = full.requests.length;
    for (let p = 0; p <= points; p++) {
      const run = cut_run(image, op.mount, op.run, seed_of(seed, oi, p), p === points ? null : p);
      assert(run.returned === (p === points), () => `${op.name}: cut after ${p} of ${points} requests, yet it ${run.returned ? 'returned' : 'did not return'}`);
      assert(run.requests.length === p, () => `${op.name}: cut after ${p} requests, ${run.requests.length} completed`);
      const row: CrashRow = {
        op: op.name, durable: op.durable, point: p, points, last: p === 0 ? '-' : full.requests[p - 1]!, refused: p === points ? '-' : full.requests[p]!,
        unflushed: run.unflushed, before: 0, after: 0, other: 0, others: [],
      };
      modes.forEach((mode, k) => {
        const got = settle(run.sim.powerCut(mode));
        out.cuts++;
        if (got === before) { row.before++; out.before++; return; }
        if (got === after) { row.after++; out.after++; return; }
        row.other++;
        out.other++;
        const how = mode === 'random' ? `random #${k - 1} (seed ${run.sim.seed})` : mode;
        row.others.push(`${how}: ${got.startsWith('!') ? got.slice(1)
          : `a third state: against before, ${state_diff(got, before).join(', ')}; against after, ${state_diff(got, after).join(', ')}`}`);
      });
      out.rows.push(row);
    }
    o.progress?.(`${op.name} (${op.durable}): ${points + 1} crash points, ${(points + 1) * modes.length} power cuts`);
  });
  return out;
}
