// make bench-fuse: cowlog through FUSE against the ceiling of its stack and against ext4, in one
// run, on loop devices of the same size, with the same client (fuse_client.ts):
//
//   cowlog              `cowlog mkfs` + `cowlog mount` on a loop device (the default options)
//   cowlog + tracer     cowlog's own mount (in a directory of its own) with `cowlog trace`
//                       attached for each of its phases, which run next to cowlog's:
//                       the same device, server and moment, a tracer or not. Its aligned
//                       lines go to a file on /dev/shm and are counted after each phase
//                       (--tracer-to pipe: read and counted by this process as they come):
//                       what tracing costs, the tracer's own work on this machine included
//   cowlog (base)       with --base DIR: the same with another build of cowlog (a checkout
//                       of DIR, built), for a before/after comparison in one run
//   base + tracer       (basetraced) the base build's mount with the base build's own
//                       `cowlog trace` attached, as cowlog + tracer is to cowlog: what a
//                       tracer cost before, in the same run
//   nullfs (ceiling)    nullfs with the FUSE options cowlog uses (fuse_ceiling.ts): what the
//                       kernel, libfuse and fuse-native cost for the same requests
//   nullfs (defaults)   nullfs with the stack's defaults (1 s attribute cache, no
//                       default_permissions): the best case, for reference
//   ext4                mkfs.ext4 + mount on a loop device
//   device              the data phases on a bare loop device, no filesystem: what the device
//                       itself gives for the same requests (1 MiB writes then fdatasync, reads
//                       from a cold cache, 4 KiB write + fdatasync) — no filesystem that keeps
//                       its data on this device can beat it
//
// Each round makes every filesystem afresh, mounts them all, and runs each phase on each in
// turn: sequential write (then fsync), caches dropped, sequential read, 4 KiB random writes
// each followed by fsync, and create / stat / unlink of empty files. The table shows the
// median of the rounds and the ratios cowlog ÷ ceiling and cowlog ÷ ext4; a tracer and a base
// build are compared with cowlog round by round (geometric mean and range of the per-round
// ratios, and the mean of their logs ± two standard errors; the order of each pair swaps from
// round to round: use an even number of rounds). Below them, the CPU time each cowlog server
// spent per unit of each phase (median of the rounds): its main thread (/proc/PID/schedstat),
// then all its threads (the write-behind thread's device writes and V8's garbage collection on
// its helper threads besides).
//
// Usage: node dist/tools/bench/fuse.js [--size 1G] [--mib 256] [--rounds 3] [--files 5000]
//                                      [--seconds 5] [--only cowlog,traced,ceiling,defaults,ext4,device,base,basetraced]
//                                      [--base DIR] [--tracer-to file|pipe] [--wake-here Y|N] [--json FILE]
// --wake-here sets the kernel's fuse.wake_here for the run and puts it back after, on kernels
// that have the parameter (docs/FUSE.md); the setting is printed with the results either way.
// Needs root (loop devices, mounts, drop_caches).
//
// Invariants: whatever is attached or mounted is undone on the way out, also on an error or
// Ctrl-C (tools/compare/sys.ts Cleanup); the process that runs the clients serves no mount.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { caches_drop, Cleanup, repo_root, run, scratch_dir } from '../../src/compare/sys.js';
import { ceiling_mount, COWLOG, fs_make_mount, kernel_said, loop_new, mountpoint_new, wake_here_parse, wake_here_set } from './loopfs.js';
import { args_parse, size_parse } from '../../src/cli/command.js';
import { help_exit } from './usage.js';
import { state_read } from '../../src/fuse/runtime.js';
import { median } from '../../src/util/median.js';

const MiB = 1 << 20;
const KINDS = ['cowlog', 'traced', 'base', 'basetraced', 'ceiling', 'defaults', 'ext4', 'device'] as const;
type Kind = (typeof KINDS)[number];
const LABEL: Record<Kind, string> = {
  cowlog: 'cowlog', traced: 'cowlog + tracer', base: 'cowlog (base)', basetraced: 'base + tracer', ceiling: 'nullfs (ceiling)', defaults: 'nullfs (defaults)', ext4: 'ext4', device: 'device alone',
};
const METRICS = ['seqwrite', 'seqread', 'randsync', 'create', 'stat', 'unlink'] as const;
type Metric = (typeof METRICS)[number];
const METRIC_LABEL: Record<Metric, string> = {
  seqwrite: 'sequential write MB/s', seqread: 'sequential read MB/s', randsync: '4 KiB random write+fsync/s',
  create: 'create/s', stat: 'stat/s', unlink: 'unlink/s',
};
/** data operations: goal 70 % of the ceiling; metadata: 50 % */
const DATA: readonly Metric[] = ['seqwrite', 'seqread', 'randsync'];

/** where a tracer's lines go: a file on a tmpfs, or a pipe to this process */
type TracerTo = 'file' | 'pipe';
const SHM = '/dev/shm';

interface Opts { size: number; mib: number; rounds: number; files: number; seconds: number; only: Kind[]; json: string | undefined; base: string | undefined; tracerTo: TracerTo; wakeHere: 'Y' | 'N' | undefined }

function opts_parse(argv: string[]): Opts {
  const o: Opts = { size: 1 << 30, mib: 256, rounds: 3, files: 5000, seconds: 5, only: KINDS.filter((k) => k !== 'base' && k !== 'basetraced'), json: undefined, base: undefined, tracerTo: 'file', wakeHere: undefined };
  const a = args_parse(argv, { flags: ['--help', '-h'], values: ['--size', '--mib', '--rounds', '--files', '--seconds', '--json', '--base', '--only', '--tracer-to', '--wake-here'] });
  if (a.pos.length > 0) throw new Error(`unknown option ${a.pos[0]}`);
  if (a.flags.size > 0) help_exit(import.meta.url);
  const v = a.values;
  if (v.has('--size')) o.size = size_parse(v.get('--size')!);
  for (const [name, key] of [['--mib', 'mib'], ['--rounds', 'rounds'], ['--files', 'files'], ['--seconds', 'seconds']] as const) if (v.has(name)) o[key] = Number(v.get(name));
  if (v.has('--json')) o.json = v.get('--json');
  if (v.has('--wake-here')) o.wakeHere = wake_here_parse(v.get('--wake-here')!);
  if (v.has('--base')) o.base = path.resolve(v.get('--base')!);
  if (v.has('--only')) o.only = v.get('--only')!.split(',').map((k) => k.trim()) as Kind[];
  if (v.has('--tracer-to')) {
    const t = v.get('--tracer-to')!;
    if (t !== 'file' && t !== 'pipe') throw new Error(`--tracer-to is file or pipe, not '${t}'`);
    o.tracerTo = t;
  }
  if (o.tracerTo === 'file' && !fs.existsSync(SHM)) throw new Error(`--tracer-to file needs ${SHM} (a tmpfs); use --tracer-to pipe`);
  for (const k of o.only) if (!KINDS.includes(k)) throw new Error(`unknown filesystem '${k}' (${KINDS.join(', ')})`);
  if (o.base !== undefined && !o.only.includes('base')) o.only.push('base');
  if (o.only.includes('basetraced') && !o.only.includes('base')) o.only.push('base');
  if (o.only.includes('base') && (o.base === undefined || !fs.existsSync(path.join(o.base, 'bin', 'cowlog.js')))) throw new Error('base needs --base DIR: a built cowlog checkout (DIR/bin/cowlog.js)');
  if (o.mib * MiB > o.size / 2) throw new Error(`--mib ${o.mib} is more than half of the ${o.size / MiB} MiB device`);
  return o;
}

const DIST = path.join(repo_root(), 'dist');
/** the kinds that are another kind with `cowlog trace` attached, and that kind */
const TRACED_OF: Partial<Record<Kind, Kind>> = { traced: 'cowlog', basetraced: 'base' };

async function client(phase: string, dir: string, o: Opts, target?: string): Promise<Record<string, number>> {
  const args = [path.join(DIST, 'tools/bench/fuse_client.js'), phase, dir, '--files', String(o.files), '--seconds', String(o.seconds),
    '--mib', String(phase === 'randsync' ? 64 : o.mib), ...(target !== undefined ? ['--target', target] : [])];
  const { stdout } = await run(process.execPath, args, { timeoutMs: 600_000 });
  return JSON.parse(stdout) as Record<string, number>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}

/** Mounts one filesystem afresh; resolves with its mountpoint (cleanup undoes everything). */
async function fs_up(kind: Kind, o: Opts, scratch: string, cleanup: Cleanup): Promise<string> {
  const mnt = mountpoint_new(scratch, kind, cleanup);
  if (kind === 'ceiling' || kind === 'defaults') {
    await ceiling_mount(mnt, cleanup, kind === 'defaults');
    return mnt;
  }
  const dev = await loop_new(scratch, kind, o.size, cleanup);
  if (kind === 'device') return dev;
  // (cowlog + tracer: a cowlog mount of its own, to which round() attaches a tracer per phase)
  if (kind === 'ext4') await fs_make_mount('ext4', dev, mnt, scratch, cleanup);
  else await fs_make_mount('cowlog', dev, mnt, scratch, cleanup, kind === 'base' ? path.join(o.base!, 'bin', 'cowlog.js') : COWLOG);
  return mnt;
}

/** What the tracers of the rounds saw, per traced kind: events written and events they were told they lost. */
const traced = new Map<Kind, { events: number; lost: number }>();

/**
 * CPU time the main thread of a process has used so far, in µs (/proc/PID/schedstat, nanoseconds:
 * the thread-group leader's alone, so a cowlog server's write-behind thread and V8's helper
 * threads are not in it); 0 when gone.
 */
function cpu_us(pid: number): number {
  try {
    return schedstat_us(`/proc/${pid}`);
  } catch {
    return 0;
  }
}

/** The CPU time of the task at `dir` (/proc/PID or /proc/PID/task/TID), in µs: schedstat's first field, in ns. */
function schedstat_us(dir: string): number {
  return Number(fs.readFileSync(`${dir}/schedstat`, 'utf8').split(' ')[0]) / 1000;
}

/**
 * CPU time each thread of a process has used so far, in µs, by thread id (/proc/PID/task/TID/
 * schedstat): with threads_spent, what all of a server's threads spent on a phase — the
 * write-behind thread's device writes and V8's garbage collection on its helper threads
 * besides the main thread. A thread that ends within the phase takes its time with it.
 */
function threads_us(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[] = [];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      out.set(tid, schedstat_us(`/proc/${pid}/task/${tid}`));
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** µs the threads spent between two threads_us readings (a thread born between them from 0). */
function threads_spent(before: Map<string, number>, after: Map<string, number>): number {
  let us = 0;
  for (const [tid, t] of after) us += t - (before.get(tid) ?? 0);
  return us;
}

const CPU_PHASES = ['seqwrite', 'seqread', 'randsync', 'meta'] as const;
type CpuPhase = (typeof CPU_PHASES)[number];
const CPU_LABEL: Record<CpuPhase, string> = {
  seqwrite: 'sequential write, per MiB', seqread: 'sequential read, per MiB', randsync: '4 KiB write+fsync, per operation', meta: 'create+stat+unlink, per file',
};
/** per cowlog kind and round: CPU µs per unit of each phase (the server's main thread, all its threads, and the tracer's) */
interface CpuSpent { server: Record<CpuPhase, number>; threads: Record<CpuPhase, number>; tracer: Record<CpuPhase, number> }
const cpu = new Map<Kind, CpuSpent[]>();

/**
 * Attaches `cowlog trace MNT` (aligned text, as a person would run it) and waits until it
 * shows a request. Its lines go to a file on a tmpfs (`--tracer-to file`, the default: as
 * `cowlog trace MNT > trace.log` records a session; not a file on the disk under the loop
 * devices, whose flushes it would compete with) and are counted after the phase; or, with
 * `--tracer-to pipe`, through a pipe to this process, which counts them as they come (a fourth
 * busy process on the machine, as a terminal reading the trace is). Resolves with its pid and
 * its stop.
 */
async function tracer_attach(mnt: string, bin: string, to: TracerTo, seen: { events: number; lost: number }): Promise<{ pid: number; stop: () => Promise<void> }> {
  const file = to === 'file' ? path.join(SHM, `cowlog-bench-fuse-trace-${process.pid}`) : undefined;
  const fd = file !== undefined ? fs.openSync(file, 'w') : undefined;
  const tr = spawn(process.execPath, [bin, 'trace', mnt], { stdio: ['ignore', fd ?? 'pipe', 'pipe'] });
  if (fd !== undefined) fs.closeSync(fd);
  let err = '';
  const count = lines_counter();
  tr.stdout?.on('data', (d: Buffer) => count.add(d));
  tr.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<void>((ok) => tr.on('close', () => ok()));
  const stop = async (): Promise<void> => {
    tr.kill('SIGINT');
    await exited;
    if (file !== undefined) {
      for await (const d of fs.createReadStream(file, { highWaterMark: 1 << 20 })) count.add(d as Buffer);
      fs.rmSync(file, { force: true });
    }
    seen.events += Math.max(0, count.lines - 1); // the header
    seen.lost += count.lost;
  };
  /** lines the tracer has written so far */
  const shown = (): number => (file !== undefined ? fs.readFileSync(file, 'latin1').split('\n').length - 1 : count.lines);
  for (let i = 0; ; i++) {
    await run('stat', [path.join(mnt, `.tracer-probe-${i}`)]).catch(() => {});
    if (shown() > 1) return { pid: tr.pid ?? 0, stop };
    if (i > 200 || tr.exitCode !== null) {
      await stop();
      throw new Error(`the tracer did not attach: ${err}`);
    }
    await sleep(25);
  }
}

/**
 * Counts the lines of a tracer's output as its bytes come, and the events it was told it lost
 * (a loss notice is a line of its own, `--- N events lost`): on the bytes, as cheaply as a
 * reader can, so that what is measured is the tracer, not this count.
 */
function lines_counter(): { add: (d: Buffer) => void; lines: number; lost: number } {
  const LOST = Buffer.from('\n--- ');
  /** the last line received, while it is not whole */
  let carry = Buffer.alloc(0);
  const c = {
    lines: 0, lost: 0,
    add(d: Buffer): void {
      for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) c.lines++;
      if ((carry.length > 0 ? carry[0] : d[0]) === 0x2d || d.includes(LOST)) {
        const text = Buffer.concat([carry, d]);
        for (const m of text.toString('latin1', 0, text.lastIndexOf(10) + 1).matchAll(/^--- (\d+) events lost/gm)) { c.lost += Number(m[1]); c.lines--; }
      }
      const nl = d.lastIndexOf(10);
      carry = nl >= 0 ? Buffer.from(d.subarray(nl + 1)) : Buffer.concat([carry, d]);
    },
  };
  return c;
}

/**
 * One round: every filesystem made afresh and mounted at once, then each phase run on each of
 * them in turn (the order rotated from round to round), so that the runs compared are seconds
 * apart rather than minutes: this machine's speed changes by a factor of two within minutes.
 * cowlog and cowlog + tracer share one mount, each in a directory of its own, the tracer's
 * phase right before or after cowlog's (alternately).
 */
async function round(kinds: Kind[], o: Opts, scratch: string, r: number): Promise<Map<Kind, Record<Metric, number>>> {
  const cleanup = new Cleanup();
  try {
    const mnt = new Map<Kind, string>();
    // a traced kind shares the mount of the kind it traces, each in a directory of its own
    const tracer_of = (k: Kind): Kind | undefined => (Object.keys(TRACED_OF) as Kind[]).find((t) => TRACED_OF[t] === k && kinds.includes(t));
    const sharing = (k: Kind): boolean => TRACED_OF[k] !== undefined && kinds.includes(TRACED_OF[k]!);
    const shares = (k: Kind): boolean => sharing(k) || tracer_of(k) !== undefined;
    for (const k of kinds) if (!sharing(k)) mnt.set(k, await fs_up(k, o, scratch, cleanup));
    for (const k of kinds) if (sharing(k)) mnt.set(k, mnt.get(TRACED_OF[k]!)!);
    // where each works: its own directory on a shared mount, the mount (or device) otherwise
    const dir = new Map<Kind, string>();
    for (const k of kinds) {
      if (shares(k)) await run('mkdir', [path.join(mnt.get(k)!, k)]);
      dir.set(k, shares(k) ? path.join(mnt.get(k)!, k) : mnt.get(k)!);
    }
    // the order rotates from round to round; a traced kind always next to the kind it traces
    const rot = kinds.filter((k) => !sharing(k));
    const order = rot.map((_, i) => rot[(i + r) % rot.length]!).flatMap((k): Kind[] => {
      const t = tracer_of(k);
      return t === undefined ? [k] : r % 2 ? [k, t] : [t, k];
    });
    // a warm-up of every server first (a new process runs its code cold): compare steady states
    for (const k of order) {
      if (k === 'device' || sharing(k)) continue;
      await client('seqwrite', dir.get(k)!, { ...o, mib: 32 });
      await client('meta', dir.get(k)!, { ...o, files: 500 });
      await run('rm', ['-f', path.join(dir.get(k)!, 'seq')]);
    }
    const res = new Map<Kind, Record<Metric, number>>(kinds.map((k) => [k, { seqwrite: NaN, seqread: NaN, randsync: NaN, create: NaN, stat: NaN, unlink: NaN }]));
    // the CPU time cowlog's server (and the tracer) spent on each phase, per unit of work: less
    // disturbed by the machine's other work than the rates
    const cows = kinds.filter((k) => k === 'cowlog' || k === 'traced' || k === 'base' || k === 'basetraced');
    const spent = new Map<Kind, CpuSpent>(cows.map((k) => [k, { server: {} as Record<CpuPhase, number>, threads: {} as Record<CpuPhase, number>, tracer: {} as Record<CpuPhase, number> }]));
    const measured = async (k: Kind, phase: CpuPhase): Promise<Record<string, number>> => {
      const sp = spent.get(k);
      if (TRACED_OF[k] !== undefined && !traced.has(k)) traced.set(k, { events: 0, lost: 0 });
      const tracer = TRACED_OF[k] !== undefined ? await tracer_attach(mnt.get(k)!, k === 'basetraced' ? path.join(o.base!, 'bin', 'cowlog.js') : COWLOG, o.tracerTo, traced.get(k)!) : undefined;
      const pid = sp !== undefined ? state_read(mnt.get(k)!)?.pid ?? 0 : 0;
      const s0 = cpu_us(pid), a0 = threads_us(pid), t0 = cpu_us(tracer?.pid ?? 0);
      try {
        // the device alone has no filesystem: the data phases on the device itself, no metadata
        const out = k === 'device' ? await client(phase, scratch, o, mnt.get(k)) : await client(phase, dir.get(k)!, o);
        if (sp !== undefined) {
          const units = phase === 'randsync' ? out['ops']! : phase === 'meta' ? o.files : o.mib;
          sp.server[phase] = (cpu_us(pid) - s0) / units;
          sp.threads[phase] = threads_spent(a0, threads_us(pid)) / units;
          sp.tracer[phase] = tracer !== undefined ? (cpu_us(tracer.pid) - t0) / units : 0;
        }
        return out;
      } finally {
        await tracer?.stop();
      }
    };
    // what a phase leaves behind goes before the next, so that a shared mount never fills up
    const rm_on = async (k: Kind, name: string): Promise<void> => {
      if (k !== 'device') await run('rm', ['-f', path.join(dir.get(k)!, name)]);
    };
    for (const k of order) res.get(k)!.seqwrite = (await measured(k, 'seqwrite'))['value']!;
    await caches_drop();
    for (const k of order) res.get(k)!.seqread = (await measured(k, 'seqread'))['value']!;
    for (const k of order) await rm_on(k, 'seq');
    for (const k of order) {
      res.get(k)!.randsync = (await measured(k, 'randsync'))['value']!;
      await rm_on(k, 'rand');
    }
    for (const k of order) {
      if (k === 'device') continue;
      const m = await measured(k, 'meta');
      Object.assign(res.get(k)!, { create: m['create']!, stat: m['stat']!, unlink: m['unlink']! });
    }
    for (const [k, sp] of spent) cpu.set(k, [...(cpu.get(k) ?? []), sp]);
    return res;
  } finally {
    await cleanup.run();
  }
}

/** The machine's CPU counters from /proc/stat: all time and the time the host took (steal). */
function cpu_times(): { total: number; steal: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { total: f.slice(0, 8).reduce((a, b) => a + b, 0), steal: f[7] ?? 0 };
}

function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

async function main(): Promise<number> {
  const o = opts_parse(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('bench-fuse needs root: loop devices, mounts and drop_caches');
  const scratch = fs.mkdtempSync(path.join(scratch_dir(o.mib * MiB * 2 * o.only.length), 'cowlog-bench-fuse-'));
  const results = new Map<Kind, Record<Metric, number>[]>();
  const t0 = Date.now();
  const cpu0 = cpu_times();
  const knob = new Cleanup();
  let wakeHere: string | null = null;
  try {
    wakeHere = wake_here_set(o.wakeHere, knob);
    for (let r = 1; r <= o.rounds; r++) {
      process.stderr.write(`bench-fuse: round ${r}/${o.rounds}: ${o.only.map((k) => LABEL[k]).join(', ')}\n`);
      for (const [kind, res] of await round(o.only, o, scratch, r)) results.set(kind, [...(results.get(kind) ?? []), res]);
    }
  } finally {
    await knob.run();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  const cpu1 = cpu_times();
  const steal = cpu1.total > cpu0.total ? (100 * (cpu1.steal - cpu0.steal)) / (cpu1.total - cpu0.total) : 0;
  const med = new Map<Kind, Record<Metric, number>>();
  for (const [k, rs] of results) {
    med.set(k, Object.fromEntries(METRICS.map((m) => [m, median(rs.map((x) => x[m]))])) as Record<Metric, number>);
  }
  const cols: { head: string; cell: (m: Metric) => string }[] = [
    { head: 'measure', cell: (m) => METRIC_LABEL[m] },
    ...o.only.map((k) => ({ head: LABEL[k], cell: (m: Metric) => fmt(med.get(k)?.[m]) })),
  ];
  const ratio = (a: Kind, b: Kind, m: Metric): number | undefined => {
    const x = med.get(a)?.[m], y = med.get(b)?.[m];
    return x !== undefined && y !== undefined && y > 0 ? x / y : undefined;
  };
  if (o.only.includes('cowlog') && o.only.includes('ceiling')) {
    cols.push({ head: 'cowlog/ceiling', cell: (m) => { const v = ratio('cowlog', 'ceiling', m); return v === undefined ? '-' : `${(v * 100).toFixed(0)} %`; } });
    cols.push({ head: 'goal', cell: (m) => (DATA.includes(m) ? '70 %' : '50 %') });
  }
  if (o.only.includes('device') && o.only.includes('ceiling')) {
    cols.push({ head: 'device/ceiling', cell: (m) => { const v = DATA.includes(m) ? ratio('device', 'ceiling', m) : undefined; return v === undefined ? '-' : `${(v * 100).toFixed(0)} %`; } });
  }
  // a build or a tracer against cowlog: the ratio within each round (its runs seconds apart),
  // the geometric mean and range over the rounds. The pair's order swaps from round to round,
  // and which of the two goes first moves a round's ratio by as much as a factor of four (the
  // second sequential read of a round was slower in every round, whichever kind it was): an
  // order effect that multiplies one order's ratios and divides the other's, which the
  // geometric mean of an even number of rounds cancels and a median does not
  const paired = (a: Kind, b: Kind, m: Metric): string => {
    const xs = (results.get(a) ?? []).map((x, i) => x[m] / results.get(b)![i]![m]).filter((v) => Number.isFinite(v) && v > 0).sort((p, q) => p - q);
    if (xs.length === 0) return '-';
    const pc = (v: number): string => (v * 100).toFixed(0);
    // the mean of the log ratios (its exponential: the geometric mean) ± two standard errors:
    // how far the noise leaves it
    const logs = xs.map(Math.log);
    const mu = logs.reduce((a, x) => a + x, 0) / logs.length;
    const se = logs.length > 1 ? Math.sqrt(logs.reduce((a, x) => a + (x - mu) ** 2, 0) / (logs.length - 1) / logs.length) : NaN;
    const band = Number.isFinite(se) ? ` [${pc(Math.exp(mu - 2 * se))}-${pc(Math.exp(mu + 2 * se))}]` : '';
    return `${pc(Math.exp(mu))} % (${pc(xs[0]!)}-${pc(xs[xs.length - 1]!)})${band}`;
  };
  if (o.only.includes('cowlog') && o.only.includes('traced')) cols.push({ head: 'tracer/cowlog per round (geomean, range) [±2 SE]', cell: (m) => paired('traced', 'cowlog', m) });
  if (o.only.includes('base') && o.only.includes('basetraced')) cols.push({ head: 'base tracer/base per round (geomean, range) [±2 SE]', cell: (m) => paired('basetraced', 'base', m) });
  if (o.only.includes('cowlog') && o.only.includes('base')) cols.push({ head: 'cowlog/base per round (geomean, range) [±2 SE]', cell: (m) => paired('cowlog', 'base', m) });
  if (o.only.includes('cowlog') && o.only.includes('ext4')) {
    cols.push({ head: 'cowlog/ext4', cell: (m) => { const v = ratio('cowlog', 'ext4', m); return v === undefined ? '-' : `${(v * 100).toFixed(0)} %`; } });
  }
  const rows = [cols.map((c) => c.head), ...METRICS.map((m) => cols.map((c) => c.cell(m)))];
  const table = (rs: string[][]): string[] => {
    const widths = rs[0]!.map((_, i) => Math.max(...rs.map((r) => r[i]!.length)));
    return rs.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  };
  // CPU µs per unit, medians over the rounds; the tracer's own CPU beside the server's
  const cpuKinds = o.only.filter((k) => cpu.has(k));
  const cpu_med = (k: Kind, p: CpuPhase, who: 'server' | 'threads' | 'tracer'): number => median(cpu.get(k)!.map((x) => x[who][p]));
  const both = (a: Kind, b: Kind): boolean => cpuKinds.includes(a) && cpuKinds.includes(b);
  /** x µs more (or less), and as a share of `of` */
  const pct = (x: number, of: number): string => `${x >= 0 ? '+' : '−'}${fmt(Math.abs(x))} (${x >= 0 ? '+' : '−'}${Math.abs((100 * x) / of).toFixed(0)} %)`;
  const cpuRows = cpuKinds.length === 0 ? [] : table([
    ['CPU µs, the main thread (median of rounds)', ...cpuKinds.flatMap((k) => (TRACED_OF[k] !== undefined ? [`${LABEL[k]}: server + tracer`, '(of it the tracer)'] : [`${LABEL[k]} server`])),
      ...(both('traced', 'cowlog') ? ['tracer cost'] : []), ...(both('basetraced', 'base') ? ['base tracer cost'] : []), ...(both('base', 'cowlog') ? ['cowlog − base'] : [])],
    ...CPU_PHASES.map((p) => {
      const srv = (k: Kind): number => (cpuKinds.includes(k) ? cpu_med(k, p, 'server') : NaN);
      const tot = (k: Kind): number => (cpuKinds.includes(k) ? cpu_med(k, p, 'server') + cpu_med(k, p, 'tracer') : NaN);
      return [CPU_LABEL[p], ...cpuKinds.flatMap((k) => (TRACED_OF[k] !== undefined ? [fmt(tot(k)), fmt(cpu_med(k, p, 'tracer'))] : [fmt(srv(k))])),
        ...(both('traced', 'cowlog') ? [pct(tot('traced') - srv('cowlog'), srv('cowlog'))] : []),
        ...(both('basetraced', 'base') ? [pct(tot('basetraced') - srv('base'), srv('base'))] : []),
        ...(both('base', 'cowlog') ? [pct(srv('cowlog') - srv('base'), srv('cowlog'))] : [])];
    }),
  ]);
  // every thread of the server: its device writes (the write-behind thread) and V8's garbage
  // collection (helper threads) besides the main thread
  const threadRows = cpuKinds.length === 0 ? [] : table([
    ['CPU µs, all the server\'s threads', ...cpuKinds.flatMap((k) => [LABEL[k], '(off the main thread)']), ...(both('base', 'cowlog') ? ['cowlog − base'] : [])],
    ...CPU_PHASES.map((p) => {
      const all = (k: Kind): number => cpu_med(k, p, 'threads');
      const off = (k: Kind): number => all(k) - cpu_med(k, p, 'server');
      return [CPU_LABEL[p], ...cpuKinds.flatMap((k) => [fmt(all(k)), `${fmt(off(k))} (${((100 * off(k)) / all(k)).toFixed(0)} %)`]),
        ...(both('base', 'cowlog') ? [pct(all('cowlog') - all('base'), all('cowlog'))] : [])];
    }),
  ]);
  process.stdout.write([
    `bench-fuse: ${o.rounds} rounds, medians; loop devices of ${o.size / MiB} MiB; sequential ${o.mib} MiB in 1 MiB requests (fsync included),`,
    `random 4 KiB writes + fsync on a 64 MiB file for ${o.seconds} s, ${o.files} empty files; ${((Date.now() - t0) / 1000).toFixed(0)} s;`,
    `CPU time the host took from this machine during the run (steal): ${steal.toFixed(1)} %; ${kernel_said(wakeHere)}`,
    ...[...traced].map(([k, n]) => `${LABEL[k]}: the tracer wrote ${n.events} events and was told it lost ${n.lost}`),
    '',
    ...table(rows),
    '',
    ...(cpuRows.length ? [...cpuRows, ''] : []),
    ...(threadRows.length ? [...threadRows, ''] : []),
  ].join('\n'));
  if (o.json) fs.writeFileSync(o.json, JSON.stringify({ options: o, kernel: os.release(), wakeHere, stealPercent: steal, rounds: Object.fromEntries(results), medians: Object.fromEntries(med), cpuUs: Object.fromEntries(cpu), traced: Object.fromEntries(traced) }, null, 2) + '\n');
  return 0;
}

main().then((c) => process.exit(c), (e: unknown) => {
  process.stderr.write(`bench-fuse: ${(e as Error).message}\n`);
  process.exit(1);
});
