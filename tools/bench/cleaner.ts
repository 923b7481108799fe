// make bench-cleaner: space and write amplification on a 64 MiB device, the figures the cleaner
// is judged by. Each scenario is a workload trace (tools/workload) replayed on the engine in this
// process (a memory device wrapped in the wear tracker), verified against the trace's model at
// the end, then checked by fsck.
//
//   fill          1 MiB and 4 KiB files until ENOSPC: usable capacity = bytes written before the
//                 first ENOSPC / device size (target >= 93 %); then a file is deleted and writing
//                 works again
//   overwrite N%  fill N % of the device, then uniform random 4 KiB overwrites with a sync every
//                 1,000: steady-state WAF = host bytes after the fill / bytes of the overwrites
//   skew 80/20    the same at 80 %, 80 % of the overwrites to 20 % of the blocks
//   smallsync     30,000 small-file operations, fsync after every write, live data bounded to
//                 15 % of the device: WAF and hottest block
//
// Each runs twice: on a memory device in this process (fast), then on a loop device through a
// cowlog mount (tools/bench/cleaner_mount.ts: the figures to report).
//
// Usage: node dist/tools/bench/cleaner.js [--ops N] [--only NAME] [--memory-only | --mount-only] [--json FILE]

import fs from 'node:fs';
import { MemoryDevice } from '../../src/device/memory.js';
import { WearTracker } from '../../src/wear/tracker.js';
import { wear_stats } from '../../src/wear/stats.js';
import { FileSystem } from '../../src/fs/fs.js';
import { fsck } from '../../src/fsck/fsck.js';
import { workload_generate } from '../../src/workload/generate.js';
import type { GenOptions } from '../../src/workload/generate.js';
import { Replayer } from '../../src/workload/replay.js';
import type { Trace } from '../../src/workload/trace.js';
import { EngineFs } from './engine_fs.js';

const MiB = 1 << 20;
const DEVICE = 64 * MiB;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

export interface ScenarioResult {
  name: string;
  /** WAF in the measured phase, and the target it is judged against */
  waf: number;
  target: number | null;
  hostMiB: number;
  askedMiB: number;
  hottest: number;
  spread: number;
  /** usable capacity (fill) as a fraction of the device */
  usable?: number;
  checkpoints: number;
  segmentsCleaned: number;
  blocksMoved: number;
  ssrBlocks: number;
  verify: boolean;
  fsckErrors: number;
  seconds: number;
}

export interface RunOptions {
  name: string;
  gen: GenOptions;
  target: number | null;
  /** measure from the first sync (the end of the fill phase) */
  steady: boolean;
  deviceBytes?: number;
}

/** Replays one generated workload on a fresh engine and measures it. */
export function scenario_run(o: RunOptions): ScenarioResult {
  const g = workload_generate(o.gen);
  const trace: Trace = { header: g.header, ops: g.ops, source: o.name };
  const mem = new MemoryDevice((o.deviceBytes ?? DEVICE) / 4096);
  FileSystem.mkfs(mem, {});
  const dev = new WearTracker(mem);
  const engine = FileSystem.mount(dev, {});
  const efs = new EngineFs(engine);
  // the steady phase starts at the first sync: the end of the fill
  let mark: { bytes: bigint; counts: Uint32Array } | null = null;
  const syncfs = (): void => {
    efs.syncfs();
    if (o.steady && mark === null) mark = { bytes: dev.toRecord({ fs: 'cowlog', source: 'bench' }).bytes, counts: dev.toRecord({ fs: 'cowlog', source: 'bench' }).counts.slice() };
  };
  const r = new Replayer(trace, '/engine', { fs: efs, syncfs });
  const t0 = performance.now();
  const applied = r.apply();
  engine.unmount();
  const seconds = (performance.now() - t0) / 1000;
  const rec = dev.toRecord({ fs: 'cowlog', source: 'bench' });
  let host = rec.bytes;
  let counts = rec.counts;
  let asked = applied.askedBytes;
  if (o.steady) {
    const m = mark as { bytes: bigint; counts: Uint32Array } | null;
    if (!m) throw new Error(`${o.name}: the workload has no sync marking the end of its fill`);
    host = rec.bytes - m.bytes;
    counts = rec.counts.map((c, i) => c - m.counts[i]!);
    const firstSync = trace.ops.findIndex((op) => op.op === 'sync');
    asked = 0;
    for (const op of trace.ops.slice(firstSync + 1)) if (op.op === 'write' || op.op === 'append') asked += op.len;
  }
  const st = wear_stats(counts);
  // verify on a fresh mount, then fsck
  const again = FileSystem.mount(mem, {});
  const verify = r.verify('/engine', new EngineFs(again));
  again.unmount();
  const rep = fsck(mem, { readOnly: true, data: true });
  const usable = applied.usableBytes !== undefined ? applied.usableBytes / (o.deviceBytes ?? DEVICE) : undefined;
  return {
    name: o.name,
    waf: asked > 0 ? Number(host) / asked : 0,
    target: o.target,
    hostMiB: Number(host) / MiB,
    askedMiB: asked / MiB,
    hottest: st.hottestCount,
    spread: st.spread,
    ...(usable !== undefined ? { usable } : {}),
    checkpoints: engine.vol.stats.checkpoints,
    segmentsCleaned: engine.cleaner.stats.segmentsCleaned,
    blocksMoved: engine.cleaner.stats.blocksMoved,
    ssrBlocks: engine.vol.log.ssrBlocks,
    verify: verify.ok,
    fsckErrors: rep.errors.length,
    seconds,
  };
}

export function scenarios(ops: number): RunOptions[] {
  const base = { seed: 1, deviceBytes: DEVICE };
  return [
    { name: 'fill', gen: { ...base, profile: 'fill', ops: 0 }, target: null, steady: false },
    ...[50, 80, 90].map((pct) => ({
      name: `overwrite ${pct}%`, gen: { ...base, profile: 'overwrite' as const, ops, fillPct: pct }, target: pct === 50 ? 1.6 : pct === 80 ? 3.2 : 5.5, steady: true,
    })),
    { name: 'skew 80/20 at 80%', gen: { ...base, profile: 'overwrite', ops, fillPct: 80, skew: '80/20' }, target: 2.2, steady: true },
    { name: 'smallsync 30,000', gen: { ...base, profile: 'smallsync', ops: 30000, livePct: 15 }, target: 3.0, steady: false },
  ];
}

function table(title: string, rows: ScenarioResult[]): string {
  const pad = (x: string, n: number): string => x.padStart(n);
  const out = [title, `${'scenario'.padEnd(20)} ${pad('WAF', 6)} ${pad('target', 7)} ${pad('usable', 7)} ${pad('host MiB', 9)} ${pad('asked', 7)} ${pad('hottest', 8)} ${pad('spread', 7)} ${pad('ckpts', 6)} ${pad('cleaned', 8)} ${pad('moved', 8)} ${pad('recycled', 9)} verify fsck ${pad('s', 5)}`];
  for (const r of rows) {
    out.push(`${r.name.padEnd(20)} ${pad(r.waf.toFixed(2), 6)} ${pad(r.target === null ? '-' : `<=${r.target}`, 7)} ${pad(r.usable === undefined ? '-' : `${(r.usable * 100).toFixed(1)}%`, 7)} ${pad(r.hostMiB.toFixed(1), 9)} ${pad(r.askedMiB.toFixed(1), 7)} ${pad(String(r.hottest), 8)} ${pad(r.spread.toFixed(2), 7)} ${pad(String(r.checkpoints), 6)} ${pad(String(r.segmentsCleaned), 8)} ${pad(String(r.blocksMoved), 8)} ${pad(String(r.ssrBlocks), 9)} ${r.verify ? 'ok    ' : 'FAILED'} ${r.fsckErrors ? 'ERR ' : 'ok  '} ${pad(r.seconds.toFixed(1), 5)}`);
  }
  return out.join('\n') + '\n';
}

async function main(): Promise<void> {
  const ops = Number(arg('--ops') ?? 100000);
  const only = arg('--only');
  const memory = !process.argv.includes('--mount-only');
  const mount = !process.argv.includes('--memory-only');
  const chosen = scenarios(ops).filter((s) => !only || s.name.startsWith(only));
  const result: { memory?: ScenarioResult[]; mount?: ScenarioResult[] } = {};
  if (memory) {
    const rows: ScenarioResult[] = [];
    for (const s of chosen) {
      process.stderr.write(`bench-cleaner: ${s.name} (memory device) ...\n`);
      rows.push(scenario_run(s));
    }
    result.memory = rows;
    process.stdout.write(table('cowlog cleaner and space on a 64 MiB memory device (the engine without FUSE; WAF of the steady phase after the fill)', rows));
  }
  if (mount) {
    const { scenario_run_mount } = await import('./cleaner_mount.js');
    const rows: ScenarioResult[] = [];
    for (const s of chosen) {
      process.stderr.write(`bench-cleaner: ${s.name} (loop device through the mount) ...\n`);
      rows.push(await scenario_run_mount(s));
    }
    result.mount = rows;
    if (memory) process.stdout.write('\n');
    process.stdout.write(table('cowlog cleaner and space on a 64 MiB loop device through the FUSE mount (the reported figures; counters since mkfs)', rows));
  }
  const json = arg('--json');
  if (json) fs.writeFileSync(json, JSON.stringify(result, null, 2));
  const all = [...(result.memory ?? []), ...(result.mount ?? [])];
  if (all.some((r) => !r.verify || r.fsckErrors)) process.exitCode = 1;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/dist\//, 'dist/'))) void main();
