// make bench-waf: the write-amplification sweep. Every workload case at 30,000 operations on
// cowlog, ext4 and btrfs, each on a fresh 64 MiB loop device with every write request counted
// (cowlog by its own tracker, checked against tracefs; the others by tracefs), with the runners
// of `cowlog wear compare` (tools/compare/compare.ts). Prints per case: the WAF of each, cowlog ÷
// ext4, the hottest block of each, cowlog's three largest causes and its checkpoints by trigger.
//
// Usage: node dist/tools/bench/waf.js [--profiles a,b] [--ops 30000] [--seeds 1,2,3 | 1-5]
//          [--fs cowlog,ext4,btrfs] [--size 64M] [--cowlog-variant NAME=MKFS_OPTS]...
//          [--cowlog-variant-mount NAME=MOUNT_OPTS]... [--out DIR] [--json] [--help]
// Needs root (loop devices, mounts, tracefs).
//
// Invariants:
// - every option, every workload of every case and seed, and every variant's mkfs options are
//   checked before the first device is formatted: a bad value is one line and exit code 2;
// - the same trace file is replayed on every filesystem of a case and seed;
// - whatever a run attaches or mounts is undone by its runner, also on failure; a failed run is
//   reported in the table and the sweep goes on (exit code 1 at the end).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { size_parse } from '../../src/cli/command.js';
import { wear_decode } from '../../src/wear/wearfile.js';
import { wear_stats, waf } from '../../src/wear/stats.js';
import { FS_KNOWN, fs_run, job_label } from '../compare/compare.js';
import type { FsJob } from '../compare/compare.js';
import { breakdown_of, checkpoints_of } from '../compare/breakdown.js';
import { cowlog_argv } from '../compare/run_cowlog.js';
import type { RunResult } from '../compare/result.js';
import { scratch_dir } from '../compare/sys.js';
import { workload_generate, workload_text } from '../workload/generate.js';
import type { GenOptions, Profile } from '../workload/generate.js';
import type { Knobs } from '../workload/knobs.js';
import { KnobError } from '../workload/knobs.js';
import { waf_floor } from './waf_floor.js';
import { waf_table } from './waf_table.js';
import type { FloorOf, WafRun } from './waf_table.js';

/** The sweep's workload cases: a profile and its knobs (docs/WORKLOAD.md). */
export const WAF_CASES: ReadonlyArray<{ name: string; profile: Profile; knobs: Knobs; what: string }> = [
  { name: 'smallsync', profile: 'smallsync', knobs: {}, what: 'small files and appends, fsync after every write' },
  { name: 'mixed', profile: 'mixed', knobs: {}, what: 'files up to 2 MiB, fsync after a fifth of the writes' },
  { name: 'mixed-sync30', profile: 'mixed', knobs: { fsyncPct: 30, textPct: 50 }, what: "files up to 2 MiB, 30 % of writes fsync'd, half of the content text" },
  { name: 'inplace', profile: 'inplace', knobs: {}, what: 'overwrites of 1 B–4 KiB inside small files, fsync after every write, chmod/rename/truncate between' },
  { name: 'wal', profile: 'wal', knobs: {}, what: "a SQLite-like database: WAL frames appended and fsync'd, checkpoints, the WAL truncated" },
  { name: 'maildir', profile: 'maildir', knobs: {}, what: 'maildir delivery: tmp/, fsync, rename into new/, fsync of new/; cur/ and deletes' },
];

const HELP = `usage: make bench-waf [WAF_ARGS='...']   or   node dist/tools/bench/waf.js [options]

The write-amplification sweep: every workload case on cowlog, ext4 and btrfs, each on a fresh
loop device with every write request counted; prints per case the WAF of each filesystem,
cowlog ÷ ext4, the hottest block of each, cowlog's three largest causes and its checkpoints by
trigger. Takes long: about a minute and a half per case and seed at 30,000 operations.

options:
  --profiles A,B        the cases to run (default all: ${WAF_CASES.map((c) => c.name).join(', ')})
  --ops N               operations per workload (default 30000)
  --seeds LIST          seeds, e.g. 1,2,3 or 1-5 (default 1); with several, every cell is
                        "median (min–max)" over the seeds
  --fs LIST             filesystems (default cowlog,ext4,btrfs; f2fs runs in a QEMU guest: slow)
  --size SIZE           device size (default 64M)
  --cowlog-variant NAME=MKFS_OPTS
                        cowlog again with extra mkfs options, as another column "cowlog:NAME"
                        (e.g. a later compression setting); repeatable
  --cowlog-variant-mount NAME=MOUNT_OPTS
                        mount options (-o) of a variant (made with no extra mkfs options if
                        --cowlog-variant does not name it). Without either, the sweep has the
                        column cowlog:lz4 (mkfs --compress lz4) beside cowlog
  --no-lz4              no cowlog:lz4 column
  --out DIR             keep every run (DIR/<case>-s<seed>/<fs>/) and render each report there
                        (default: runs go to a scratch directory that is removed)
  --json                print the runs and the table as JSON on standard output
  --help                this text

cases:
${WAF_CASES.map((c) => `  ${c.name.padEnd(14)}${c.what}`).join('\n')}

Needs root. Docs: docs/COMPARE.md ("The write-amplification sweep"), docs/WORKLOAD.md.`;

export class BenchUsageError extends Error {}

export interface WafOpts {
  cases: string[];
  ops: number;
  seeds: number[];
  fs: string[];
  size: number;
  variants: Array<{ name: string; mkfsOptions: string[]; mountOptions: string }>;
  out: string | undefined;
  json: boolean;
  help: boolean;
}

function seeds_parse(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new BenchUsageError(`--seeds takes a list like 1,2,3 or a range like 1-5, not '${text}'`);
    const a = Number(m[1]), b = Number(m[2] ?? m[1]);
    if (b < a || b - a > 1000) throw new BenchUsageError(`--seeds range ${part} is empty or too long`);
    for (let s = a; s <= b; s++) if (!out.includes(s)) out.push(s);
  }
  if (!out.length) throw new BenchUsageError('--seeds needs at least one seed');
  return out;
}

/** the column every sweep has beside cowlog: the same runs with mkfs --compress lz4 */
export const LZ4_VARIANT = { name: 'lz4', mkfsOptions: ['--compress', 'lz4'], mountOptions: '' } as const;

export function opts_parse(argv: string[]): WafOpts {
  const o: WafOpts = { cases: WAF_CASES.map((c) => c.name), ops: 30000, seeds: [1], fs: ['cowlog', 'ext4', 'btrfs'], size: 64 * 1048576, variants: [], out: undefined, json: false, help: false };
  const mounts = new Map<string, string>();
  let noLz4 = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    // --opt=value or --opt value (a variant's value holds '=' itself: the first one splits)
    const name = eq > 0 ? a.slice(0, eq) : a;
    const inline = eq > 0 ? a.slice(eq + 1) : undefined;
    const v = (): string => {
      if (inline !== undefined) return inline;
      const x = argv[++i];
      if (x === undefined) throw new BenchUsageError(`${name} needs a value`);
      return x;
    };
    switch (name) {
      case '--help': case '-h': o.help = true; break;
      case '--json': o.json = true; break;
      case '--profiles': {
        const list = v().split(',').map((s) => s.trim()).filter(Boolean);
        for (const c of list) if (!WAF_CASES.some((k) => k.name === c)) throw new BenchUsageError(`unknown case '${c}' (known: ${WAF_CASES.map((k) => k.name).join(', ')})`);
        if (!list.length) throw new BenchUsageError('--profiles needs at least one case');
        o.cases = list;
        break;
      }
      case '--ops': {
        const t = v(), n = Number(t);
        if (!Number.isSafeInteger(n) || n < 1) throw new BenchUsageError(`--ops must be a positive integer, not '${t}'`);
        o.ops = n;
        break;
      }
      case '--seeds': o.seeds = seeds_parse(v()); break;
      case '--fs': {
        const list = v().split(',').map((s) => s.trim()).filter(Boolean);
        for (const f of list) if (!FS_KNOWN.includes(f)) throw new BenchUsageError(`unknown filesystem '${f}' (known: ${FS_KNOWN.join(', ')})`);
        if (!list.length) throw new BenchUsageError('--fs needs at least one filesystem');
        o.fs = list;
        break;
      }
      case '--size': {
        const t = v();
        try { o.size = size_parse(t); } catch (e) { throw new BenchUsageError(`--size: ${(e as Error).message}`); }
        break;
      }
      case '--cowlog-variant':
      case '--cowlog-variant-mount': {
        const t = v(), at = t.indexOf('=');
        const vn = at > 0 ? t.slice(0, at) : '';
        if (!/^[a-z0-9][a-z0-9_-]{0,31}$/.test(vn)) throw new BenchUsageError(`${name} takes NAME=OPTIONS with a NAME of a-z, 0-9, - and _ (e.g. ${name} lz4='--compress lz4'), not '${t}'`);
        if (name === '--cowlog-variant-mount') { mounts.set(vn, t.slice(at + 1)); break; }
        if (o.variants.some((x) => x.name === vn)) throw new BenchUsageError(`--cowlog-variant ${vn} is given twice`);
        o.variants.push({ name: vn, mkfsOptions: t.slice(at + 1).split(/\s+/).filter(Boolean), mountOptions: '' });
        break;
      }
      case '--out': o.out = v(); break;
      case '--no-lz4': noLz4 = true; break;
      default: throw new BenchUsageError(`unknown option ${name}`);
    }
  }
  for (const [vn, m] of mounts) {
    const x = o.variants.find((y) => y.name === vn);
    if (x) x.mountOptions = m; else o.variants.push({ name: vn, mkfsOptions: [], mountOptions: m });
  }
  if (o.variants.length && !o.fs.includes('cowlog')) throw new BenchUsageError('--cowlog-variant needs cowlog among --fs');
  // cowlog with lz4 is a column of its own unless variants are named or --no-lz4 is given
  if (!o.variants.length && !noLz4 && o.fs.includes('cowlog')) o.variants.push({ ...LZ4_VARIANT, mkfsOptions: [...LZ4_VARIANT.mkfsOptions] });
  return o;
}

/** The trace options of a case and seed. */
export function case_gen(name: string, seed: number, o: Pick<WafOpts, 'ops' | 'size'>): GenOptions {
  const c = WAF_CASES.find((k) => k.name === name)!;
  return { profile: c.profile, ops: o.ops, seed, deviceBytes: o.size, knobs: c.knobs };
}

/** Checks a variant's mkfs options by formatting a small image file (never a device). */
function variant_check(v: WafOpts['variants'][number], scratch: string): void {
  const img = path.join(scratch, `variant-${v.name}.img`);
  const [cmd, args] = cowlog_argv('mkfs', '-q', '--force', '--size', '64M', ...v.mkfsOptions, img);
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  fs.rmSync(img, { force: true });
  if (r.status !== 0) {
    const why = (r.stderr || r.stdout || '').trim().split('\n')[0] ?? '';
    throw new BenchUsageError(`--cowlog-variant ${v.name}: cowlog mkfs refuses '${v.mkfsOptions.join(' ')}': ${why}`);
  }
}

/** The figures of one finished run, read from its result.json and wear.bin. */
function run_summary(c: string, seed: number, label: string, r: RunResult, dir: string): WafRun {
  const rec = wear_decode(fs.readFileSync(path.join(dir, 'wear.bin')), path.join(dir, 'wear.bin'));
  const st = wear_stats(rec.counts);
  const br = breakdown_of(rec, r.layout);
  const parts: Record<string, number> = {};
  for (const p of br?.parts ?? []) parts[p.short] = (parts[p.short] ?? 0) + p.bytes;
  return {
    case: c, seed, label, ok: true,
    askedBytes: r.askedBytes, hostBytes: r.hostBytes, waf: waf(r.hostBytes, r.askedBytes),
    hottestCount: st.hottestCount, hottestBlock: st.hottestBlock, ...(r.hottestWhat ? { hottestWhat: r.hottestWhat } : {}),
    verifyOk: r.verify.ok, enospc: r.enospc, parts, checkpoints: Object.fromEntries(checkpoints_of(rec)), runMs: r.runMs,
  };
}

export async function bench_waf(o: WafOpts, log: (l: string) => void): Promise<{ runs: WafRun[]; table: string }> {
  const keep = o.out !== undefined;
  const root = o.out ?? fs.mkdtempSync(path.join(scratch_dir(o.size), 'cowlog-bench-waf-'));
  fs.mkdirSync(root, { recursive: true });
  const jobs: FsJob[] = [];
  for (const f of o.fs) {
    jobs.push({ fs: f, mkfsOptions: [], mountOptions: '' });
    if (f === 'cowlog') for (const v of o.variants) jobs.push({ fs: 'cowlog', variant: v.name, mkfsOptions: v.mkfsOptions, mountOptions: v.mountOptions });
  }
  const labels = jobs.map(job_label);
  const runs: WafRun[] = [];
  const floors: FloorOf[] = [];
  try {
    // everything that can be refused is refused here, before the first device is formatted
    const traces = new Map<string, string>();
    for (const c of o.cases) {
      for (const s of o.seeds) {
        let text: string;
        try {
          const gen = workload_generate(case_gen(c, s, o));
          floors.push({ case: c, seed: s, waf: waf_floor(gen.header, gen.ops).floorWaf });
          text = workload_text(gen);
        } catch (e) {
          if (e instanceof KnobError) throw new BenchUsageError(`${c}: ${e.message}`);
          throw e;
        }
        const dir = path.join(root, `${c}-s${s}`);
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, 'workload.jsonl'), text);
        traces.set(`${c}/${s}`, dir);
      }
    }
    for (const v of o.variants) variant_check(v, root);
    const total = o.cases.length * o.seeds.length * jobs.length;
    let n = 0;
    const t0 = Date.now();
    for (const c of o.cases) {
      for (const s of o.seeds) {
        const dir = traces.get(`${c}/${s}`)!;
        for (const j of jobs) {
          n++;
          const label = job_label(j);
          const elapsed = Math.round((Date.now() - t0) / 1000);
          log(`[${n}/${total}] ${c} seed ${s}: ${label} (${Math.floor(elapsed / 60)} min ${elapsed % 60} s so far)`);
          try {
            const r = await fs_run(j, { deviceBytes: o.size, workloadPath: path.join(dir, 'workload.jsonl'), out: dir, log: (l) => log(`  ${l}`) });
            const w = run_summary(c, s, label, r, path.join(dir, j.variant ? `cowlog-${j.variant}` : j.fs));
            runs.push(w);
            log(`[${n}/${total}] ${c} seed ${s}: ${label}: WAF ${w.waf.toFixed(2)}, hottest block ${w.hottestCount}${w.verifyOk ? '' : ', VERIFY FAILED'}`);
          } catch (e) {
            const msg = (e as Error).message.split('\n')[0] ?? '';
            runs.push({ case: c, seed: s, label, ok: false, error: msg, askedBytes: 0, hostBytes: 0, waf: 0, hottestCount: 0, hottestBlock: -1, verifyOk: false, enospc: 0, parts: {}, checkpoints: {}, runMs: 0 });
            log(`[${n}/${total}] ${c} seed ${s}: ${label} FAILED: ${msg}`);
          }
        }
        if (keep) {
          const { report_render } = await import('../compare/report.js');
          await report_render(dir, { title: `bench-waf: ${c}, seed ${s}` });
        }
      }
    }
  } finally {
    if (!keep) fs.rmSync(root, { recursive: true, force: true });
  }
  return { runs, table: waf_table(runs, { cases: o.cases, labels, floors }) };
}

async function main(argv: string[]): Promise<number> {
  let o: WafOpts;
  try {
    o = opts_parse(argv);
  } catch (e) {
    if (e instanceof BenchUsageError) { process.stderr.write(`bench-waf: ${e.message} (try --help)\n`); return 2; }
    throw e;
  }
  if (o.help) { process.stdout.write(HELP + '\n'); return 0; }
  if (process.getuid?.() !== 0) { process.stderr.write('bench-waf: needs root (loop devices, mounts, tracefs)\n'); return 2; }
  const started = new Date();
  const command = `make bench-waf${argv.length ? ` WAF_ARGS='${argv.join(' ')}'` : ''}`;
  const log = (l: string): void => { process.stderr.write(`${l}\n`); };
  log(`bench-waf: ${o.cases.length} cases × ${o.seeds.length} seed(s) × ${o.fs.length + o.variants.length} filesystems, ${o.ops} operations, ${(o.size / 1048576).toFixed(0)} MiB device`);
  let res;
  try {
    res = await bench_waf(o, log);
  } catch (e) {
    if (e instanceof BenchUsageError) { process.stderr.write(`bench-waf: ${e.message}\n`); return 2; }
    throw e;
  }
  const head = `bench-waf ${started.toISOString().slice(0, 10)}: ${o.ops.toLocaleString('en-US')} operations per workload, seed${o.seeds.length > 1 ? 's' : ''} ${o.seeds.join(',')}, ` +
    `${(o.size / 1048576).toFixed(0)} MiB loop device each, ${os.cpus().length} CPUs; ${command}`;
  const failed = res.runs.some((r) => !r.ok || !r.verifyOk);
  if (o.json) {
    process.stdout.write(JSON.stringify({ command, date: started.toISOString(), ops: o.ops, seeds: o.seeds, deviceBytes: o.size, fs: o.fs, variants: o.variants, cases: o.cases, runs: res.runs, table: res.table }, null, 2) + '\n');
  } else {
    process.stdout.write(`${head}\n\n${res.table}`);
    if (o.out) process.stdout.write(`\nruns and reports: ${path.resolve(o.out)}\n`);
  }
  return failed ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
    process.stderr.write(`bench-waf: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  });
}
