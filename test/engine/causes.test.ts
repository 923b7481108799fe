// Every block cowlog writes has a cause: a scenario for each cause (and each checkpoint trigger)
// that must produce it, counted by a WearTracker under the engine. Nothing is untagged, and the
// causes sum exactly to the tracker's totals. (That the tracker's total is the kernel's, on a loop
// device, is test/compare/run_cowlog.test.ts.)

import t from 'tap';
import type { Test } from 'tap';
import { Cause, CAUSE_NAMES, Trigger, TRIGGER_NAMES } from '../../src/device/cause.js';
import { MemoryDevice } from '../../src/device/memory.js';
import { SimDevice } from '../../src/device/sim.js';
import { FileSystem } from '../../src/fs/fs.js';
import { clock_fixed } from '../../src/checkpoint/clock.js';
import { WearTracker } from '../../src/wear/tracker.js';
import { fsck_ok, SMALL } from '../helpers/engine.js';

/** Bytes of a pattern unlike any other seed's (so nothing compresses or repeats by chance). */
function content(seed: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; }
  return b;
}

/** Requests of cause `c` since `before` (a copy of causeRequests). */
function since(tr: WearTracker, before: Float64Array, c: Cause): number {
  return tr.causeRequests[c]! - before[c]!;
}

function checkpoints_since(tr: WearTracker, before: Float64Array, k: Trigger): number {
  return tr.checkpoints[k]! - before[k]!;
}

/** The tracker's invariants: every request under exactly one cause, causes summing to the totals. */
function sums_ok(t: Test, tr: WearTracker, what: string): void {
  let req = 0, bytes = 0, blocks = 0;
  for (let c = 0; c < tr.causeRequests.length; c++) { req += tr.causeRequests[c]!; bytes += tr.causeBytes[c]!; blocks += tr.causeBlocks[c]!; }
  t.equal(tr.causeRequests[Cause.UNKNOWN], 0, `${what}: no write without a cause`);
  t.equal(req, tr.writeRequests, `${what}: the causes' requests sum to the requests`);
  t.equal(bytes, tr.hostBytes, `${what}: the causes' bytes sum to the host bytes`);
  t.equal(blocks * 4096, tr.hostBytes, `${what}: and their blocks to the blocks written`);
}

t.test('each cause and each checkpoint trigger, from a scenario that must produce it', async (t) => {
  const mem = new MemoryDevice(4096);
  const tr = new WearTracker(mem);
  let now = 1_700_000_000;
  const clock = (): { s: number; ns: number } => ({ s: now, ns: 0 });
  FileSystem.mkfs(tr, { ...SMALL, clock });
  t.ok(tr.causeRequests[Cause.FORMAT]! >= 2, 'mkfs: the zeroed metadata area and the superblocks (format)');
  t.equal(tr.checkpoints[Trigger.MKFS], 2, 'mkfs writes two checkpoints (trigger mkfs)');
  let snap = tr.causeRequests.slice();
  let cps = tr.checkpoints.slice();
  const fs = FileSystem.mount(tr, { clock, idleMs: 1000, checkpointIntervalMs: 30_000 });
  t.equal(checkpoints_since(tr, cps, Trigger.MOUNT), 1, 'a mount that may write: one checkpoint (trigger mount)');

  const step = (what: string, cause: Cause | null, trigger: Trigger | null, fn: () => void): void => {
    snap = tr.causeRequests.slice();
    cps = tr.checkpoints.slice();
    fn();
    if (cause !== null) t.ok(since(tr, snap, cause) > 0, `${what}: ${CAUSE_NAMES[cause]} written (${since(tr, snap, cause)} requests)`);
    if (trigger !== null) t.ok(checkpoints_since(tr, cps, trigger) > 0, `${what}: a checkpoint with trigger ${TRIGGER_NAMES[trigger]}`);
  };

  const big = fs.create(1, 'big', 0o644).ino;
  step('a 64 KiB write and fsync', Cause.DATA, null, () => { fs.write(big, 0, content(1, 65536)); fs.fsync(big); });
  t.equal(since(tr, snap, Cause.REDO), 1, 'and one redo block with its records');
  step('a 100-byte overwrite inside a block-mapped file, fsync', Cause.REDO_PATCH, null, () => { fs.write(big, 5000, content(2, 100)); fs.fsync(big); });
  t.equal(since(tr, snap, Cause.DATA), 0, 'the block itself is not rewritten then');
  t.equal(since(tr, snap, Cause.REDO), 0, 'the redo block carrying the patch counts as redo-patch');
  step('the commit timer after 30 s with something changed', Cause.CHECKPOINT, Trigger.TIMER, () => { now += 31; fs.tick(now * 1000); });
  t.ok(since(tr, snap, Cause.NODE) > 0, 'the checkpoint writes B+tree nodes');
  t.ok(since(tr, snap, Cause.DATA) > 0, 'and the page fsync only patched');
  t.ok(since(tr, snap, Cause.NAT) + since(tr, snap, Cause.JOURNAL) + since(tr, snap, Cause.SST) + since(tr, snap, Cause.RCT) > 0, 'and table blocks or their journal');
  t.ok(since(tr, snap, Cause.TABLE_DIR) + since(tr, snap, Cause.JOURNAL) > 0, 'and the directory or the journal');
  step('sync', Cause.CHECKPOINT, Trigger.SYNC, () => { fs.write(big, 0, content(3, 10)); fs.sync(); });
  step('a snapshot', null, Trigger.SNAPSHOT, () => { fs.snapshot([{ op: 'create', name: 'S' }]); });
  t.ok(since(tr, snap, Cause.SNAP) + since(tr, snap, Cause.JOURNAL) > 0, 'its SNAP table entry written, as a table block or in the journal');
  step('remount read-only and read-write', null, Trigger.REMOUNT, () => { fs.remount(true); fs.remount(false); });
  t.equal(checkpoints_since(tr, cps, Trigger.REMOUNT), 2, 'two checkpoints, both remount');

  // too many dirty nodes: many files between checkpoints at a low bound
  const fs2opts = { clock, dirtyNodesMax: 4 };
  fs.unmount();
  const fs2 = FileSystem.mount(tr, fs2opts);
  step('dirty nodes over their bound', null, Trigger.DIRTY_NODES, () => {
    for (let i = 0; i < 200; i++) fs2.write(fs2.create(1, `f${i}`, 0o644).ino, 0, content(10 + i, 200));
  });
  fs2.unmount();
  const fs3 = FileSystem.mount(tr, { clock, redoKeysMax: 10, dirtyNodesMax: 200 });
  step('fsync with more pending changes than redo is worth', null, Trigger.FSYNC, () => {
    for (let i = 0; i < 12; i++) fs3.create(1, `g${i}`, 0o644);
    fs3.fsync(1);
  });
  step('unmount', null, Trigger.UNMOUNT, () => fs3.unmount());
  sums_ok(t, tr, 'after all of that');
  fsck_ok(t, tr);
});

t.test('the cleaner and wear levelling move blocks, and say so', async (t) => {
  const tr = new WearTracker(new MemoryDevice(2048));
  FileSystem.mkfs(tr, { uuid: Buffer.alloc(16, 9), segBlocks: 16, clock: clock_fixed() });
  const fs = FileSystem.mount(tr, { clock: clock_fixed(1_700_000_100), idleMs: 0 });
  const cold = fs.create(1, 'cold', 0o644).ino;
  fs.write(cold, 0, content(1, 600 * 1024));
  fs.sync();
  const hot = fs.create(1, 'hot', 0o644).ino;
  for (let i = 0; i < 1200 && fs.cleaner.stats.wearMoves === 0; i++) {
    fs.write(hot, 0, content(100 + i, 256 * 1024));
    fs.sync();
    if (i % 20 === 19) for (let k = 0; k < 4; k++) fs.tick(1e15 + i * 10 + k);
  }
  // then holes: files written, every other one deleted, and a cleaning round
  const names: string[] = [];
  for (let i = 0; i < 120; i++) {
    names.push(`p${i}`);
    fs.write(fs.create(1, `p${i}`, 0o644).ino, 0, content(1000 + i, 16384));
    if (i % 10 === 9) fs.sync();
  }
  for (let i = 0; i < names.length; i += 2) fs.unlink(1, names[i]!);
  fs.sync();
  t.ok(fs.cleaner.round(1 << 20) > 0, 'a cleaning round emptied segments');
  t.ok(fs.cleaner.stats.wearMoves > 0, `wear levelling moved segments (${fs.cleaner.stats.wearMoves})`);
  t.ok(tr.causeRequests[Cause.WEAR_LEVEL]! > 0, `wear-level writes (${tr.causeRequests[Cause.WEAR_LEVEL]})`);
  t.ok(tr.causeRequests[Cause.CLEANER_DATA]! > 0, `cleaner-data writes (${tr.causeRequests[Cause.CLEANER_DATA]})`);
  t.ok(tr.causeRequests[Cause.CLEANER_NODE]! > 0, `cleaner-node writes (${tr.causeRequests[Cause.CLEANER_NODE]})`);
  t.ok(tr.checkpoints[Trigger.CLEANER]! > 0, `checkpoints ending cleaning rounds (${tr.checkpoints[Trigger.CLEANER]})`);
  t.ok(tr.checkpoints[Trigger.SPACE]! + tr.checkpoints[Trigger.CLEANER]! > 0, 'space given back by checkpoints');
  t.same(fs.read(cold, 0, 600 * 1024), content(1, 600 * 1024), 'the cold file is intact');
  fs.unmount();
  sums_ok(t, tr, 'cleaning');
  fsck_ok(t, tr);
});

t.test('recovery writes what roll-forward rebuilt from patches', async (t) => {
  const sim = SimDevice.from(new MemoryDevice(4096).image());
  FileSystem.mkfs(sim, { ...SMALL, clock: clock_fixed() });
  const fs = FileSystem.mount(sim, { clock: clock_fixed(1_700_000_100) });
  const f = fs.create(1, 'f', 0o644).ino;
  fs.write(f, 0, content(1, 20_000));
  fs.fsync(f);
  fs.write(f, 100, Buffer.from('patched'));
  fs.fsync(f); // a patch only: the block stays in the cache
  const image = sim.durableImage(); // the power goes here
  const tr = new WearTracker(MemoryDevice.from(image));
  const back = FileSystem.mount(tr, { clock: clock_fixed(1_700_000_200) });
  t.ok(tr.causeRequests[Cause.RECOVERY]! > 0, `the patched page written at mount (recovery: ${tr.causeRequests[Cause.RECOVERY]})`);
  t.equal(back.read(f, 100, 7).toString(), 'patched', 'with the patch in it');
  back.unmount();
  sums_ok(t, tr, 'recovery');
  fsck_ok(t, tr);
});
