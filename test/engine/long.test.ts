// The long run: 30,000 operations of the mixed workload (creates, appends, overwrites, fsyncs,
// renames, deletes over a directory tree) on a 64 MiB memory device with live data bounded to a
// fifth of it, through the file layer; many times the device is written, so the log wraps and the
// cleaner runs. Then a fresh mount reads every file back and fsck checks every block.

import t from 'tap';
import { MemoryDevice } from '../../src/device/memory.js';
import { FileSystem } from '../../src/fs/fs.js';
import { fsck } from '../../src/fsck/fsck.js';
import { WearTracker } from '../../src/wear/tracker.js';
import { workload_generate } from '../../src/workload/generate.js';
import { Replayer } from '../../src/workload/replay.js';
import type { Trace } from '../../src/workload/trace.js';
import { EngineFs } from '../../tools/bench/engine_fs.js';

const MiB = 1 << 20;
const DEVICE = 64 * MiB;

t.test('30,000 mixed operations on a 64 MiB device, live data about 20 %', async (t) => {
  const g = workload_generate({ profile: 'mixed', ops: 30_000, seed: 2026, deviceBytes: DEVICE, livePct: 20 });
  const trace: Trace = { header: g.header, ops: g.ops, source: 'long' };
  t.equal(g.ops.length, 30_000, '30,000 operations generated');
  t.ok(g.header.livePeakBytes >= 0.15 * DEVICE && g.header.livePeakBytes <= 0.2 * DEVICE,
    `live data peaks at ${(g.header.livePeakBytes / MiB).toFixed(1)} MiB (${((100 * g.header.livePeakBytes) / DEVICE).toFixed(0)} % of the device)`);
  const mem = new MemoryDevice(DEVICE / 4096);
  FileSystem.mkfs(mem, {});
  const dev = new WearTracker(mem);
  const engine = FileSystem.mount(dev, {});
  const efs = new EngineFs(engine);
  const r = new Replayer(trace, '/engine', { fs: efs, syncfs: () => efs.syncfs() });
  const applied = r.apply();
  t.equal(applied.opsOk, applied.ops, `all ${applied.ops} operations succeeded`);
  t.same(applied.errors, {}, 'no operation failed (no ENOSPC while live data fits)');
  t.same(applied.mismatches, [], 'every read and stat during the run matched the model');
  const stats = engine.cleaner.stats;
  engine.unmount();
  const written = Number(dev.toRecord({ fs: 'cowlog', source: 'long' }).bytes);
  // at 20 % live most segments die whole before the log comes round again; the cleaner only
  // tidies what is left
  t.ok(written > 2 * DEVICE, `${(written / MiB).toFixed(0)} MiB written to the device: the log went round ${(written / DEVICE).toFixed(1)} times (the cleaner emptied ${stats.segmentsCleaned} segments)`);
  const again = FileSystem.mount(mem, {});
  const v = r.verify('/engine', new EngineFs(again));
  t.ok(v.ok, `a fresh mount reads back all ${v.filesChecked} files${v.bad.length ? `: ${v.bad.slice(0, 3).join('; ')}` : ''}`);
  again.unmount();
  const rep = fsck(mem, { readOnly: true, data: true });
  t.same(rep.errors, [], `fsck clean (${rep.counts.inodes} inodes, ${rep.counts.dataBlocks} data blocks)`);
});
