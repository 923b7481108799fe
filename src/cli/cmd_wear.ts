// `cowlog wear ...`: workloads, replays, comparisons with kernel filesystems, heatmaps.
// The work is done by src/workload, src/compare, src/tracefs and src/vm; this file parses
// arguments and prints. They are imported when a subcommand runs, so the rest of the CLI never
// loads them (but the knob table, workload/knobs.ts, a dependency-free table the help text lists).

import fs from 'node:fs';
import path from 'node:path';
import type { Command } from './command.js';
import { UsageError, bytes_human, size_parse } from './command.js';
import { knobs_help } from '../workload/knobs.js';

const KNOBS_HELP = knobs_help();

const HELP = `usage:
  cowlog wear workload --profile P --ops N --seed S --device-size 64M [options] > w.jsonl
      profiles: smallsync (small files and appends, fsync after every write), mixed (files up to
      2 MiB, some fsync), inplace (small files overwritten 1 B-4 KiB inside, fsync after every
      write, chmod/rename/truncate between fsyncs), wal (a SQLite-like database: WAL frames
      appended and fsync'd, checkpoints into the database, the WAL truncated), maildir (write in
      tmp/, fsync, rename into new/, fsync of new/; later moves to cur/, flag renames, deletes),
      fill (1 MiB and 4 KiB files until ENOSPC: usable capacity), overwrite (fill to --fill-pct,
      then random 4 KiB overwrites: steady-state cleaning)
      --live-max PCT     live-data bound, % of the device (mixed 15, the others 12)
      the mix (a knob given to a profile that does not take it is an error):
${KNOBS_HELP}
      --fill-pct PCT     overwrite: how full before overwriting (default 80)
      --skew 80/20       overwrite: 80 % of the writes to 20 % of the blocks
      --sync-every N     overwrite: a sync after every N overwrites (default 1000)
      --enospc-limit N   fill: stop after N ENOSPC errors (default 32)
      -o FILE            write the trace to FILE instead of standard output
  cowlog wear replay TRACE DIR [--result FILE]
      apply a trace to a mounted directory, count errors, verify every file
  cowlog wear compare --fs cowlog,ext4,btrfs,f2fs --size 64M --workload w.jsonl --out DIR
                      [--mkfs-opt FS=OPTS]... [--mount-opt FS=OPTS]... [--guest-timeout MIN]
                      [--variant FS:NAME=MKFS_OPTS]... [--variant-mount FS:NAME=MOUNT_OPTS]...
      the same workload on a fresh device of each filesystem, traced; a variant runs FS again
      with other options into DIR/FS-NAME (cowlog with lz4: --variant cowlog:lz4='--compress
      lz4'; btrfs compressing: --variant-mount btrfs:lzo=compress=lzo --variant-mount
      btrfs:zstd=compress=zstd); then heatmaps, report.md,
      report.html and a table, with cowlog's host bytes by cause and the kernel filesystems' by
      the region of their layout each write hit (journal, superblock, metadata: by location).
      f2fs runs in a QEMU guest (minutes). Runs already in DIR for other filesystems stay in
      the report, so '--fs f2fs --out DIR' adds f2fs to an earlier comparison.
  cowlog wear heatmap DEVICE-or-WEARFILE [--by file|process [--top N]] [--cause NAME] [--out PNG]
      draw one wear file (or the one kept for a device) as a block-grid heatmap; --cause draws
      only the writes of one cause (data, redo, redo-patch, node, nat, rct, sut, sst, snap,
      table-dir, journal, checkpoint, cleaner-data, cleaner-node, wear-level, format, recovery:
      docs/WEARFILE.md), from a complete version 2 timeline of cowlog's own tracker; --by file
      (or process) also prints whom the device bytes were written for, largest first, and who
      wrote each of the --top N (default 10) most-written blocks: the files by the paths the
      mount last saw them under, the processes by name (a file's data and its fsync's redo go
      to its last writer; checkpoints and the cleaner to no file)

Docs: docs/WORKLOAD.md (the trace format), docs/COMPARE.md (how runs are made).`;

type Opts = { pos: string[]; one: Map<string, string>; many: Map<string, string[]> };

function args_parse(argv: string[], valued: readonly string[], repeated: readonly string[] = []): Opts {
  const o: Opts = { pos: [], one: new Map(), many: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-') || a === '-') { o.pos.push(a); continue; }
    const eq = a.indexOf('=');
    const name = eq > 0 && a.startsWith('--') ? a.slice(0, eq) : a;
    if (!valued.includes(name) && !repeated.includes(name)) throw new UsageError(`unknown option ${name}`);
    const v = eq > 0 && a.startsWith('--') ? a.slice(eq + 1) : argv[++i];
    if (v === undefined) throw new UsageError(`${name} needs a value`);
    if (repeated.includes(name)) o.many.set(name, [...(o.many.get(name) ?? []), v]);
    else o.one.set(name, v);
  }
  return o;
}

function int_opt(o: Opts, name: string): number | undefined {
  const v = o.one.get(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`${name} must be a non-negative integer, not '${v}'`);
  return n;
}

function pct_opt(o: Opts, name: string): number | undefined {
  const v = o.one.get(name);
  if (v === undefined) return undefined;
  const n = Number(v.replace(/%$/, ''));
  if (!(n > 0 && n <= 100)) throw new UsageError(`${name} must be a percentage in (0, 100], not '${v}'`);
  return n;
}

async function workload(argv: string[]): Promise<number> {
  const { KNOBS, KnobError, knob_parse } = await import('../workload/knobs.js');
  const knobFlags = Object.values(KNOBS).map((d) => d.flag);
  const o = args_parse(argv, ['--profile', '--ops', '--seed', '--device-size', '--live-max', '--fill-pct', '--skew', '--sync-every', '--enospc-limit', '-o', ...knobFlags]);
  const { PROFILES, workload_generate, workload_text } = await import('../workload/generate.js');
  const profile = o.one.get('--profile');
  if (!profile) throw new UsageError(`--profile is required (${PROFILES.join(', ')})`);
  if (!(PROFILES as readonly string[]).includes(profile)) throw new UsageError(`unknown profile '${profile}' (${PROFILES.join(', ')})`);
  const ops = int_opt(o, '--ops');
  if (ops === undefined && profile !== 'fill') throw new UsageError('--ops is required');
  const dev = o.one.get('--device-size');
  if (!dev) throw new UsageError('--device-size is required (e.g. 64M)');
  let g;
  try {
    const knobs: Record<string, number> = {};
    for (const [k, d] of Object.entries(KNOBS)) {
      const v = o.one.get(d.flag);
      if (v !== undefined) knobs[k] = knob_parse(k as keyof typeof KNOBS, v);
    }
    g = workload_generate({
      profile: profile as (typeof PROFILES)[number],
      ops: ops ?? 0,
      seed: int_opt(o, '--seed') ?? 1,
      deviceBytes: size_parse(dev),
      knobs,
      ...(pct_opt(o, '--live-max') !== undefined ? { livePct: pct_opt(o, '--live-max')! } : {}),
      ...(pct_opt(o, '--fill-pct') !== undefined ? { fillPct: pct_opt(o, '--fill-pct')! } : {}),
      ...(o.one.has('--skew') ? { skew: o.one.get('--skew')! } : {}),
      ...(int_opt(o, '--sync-every') !== undefined ? { syncEvery: int_opt(o, '--sync-every')! } : {}),
      ...(int_opt(o, '--enospc-limit') !== undefined ? { enospcLimit: int_opt(o, '--enospc-limit')! } : {}),
    });
  } catch (e) {
    if (e instanceof KnobError) throw new UsageError(e.message);
    throw e;
  }
  const text = workload_text(g);
  const out = o.one.get('-o');
  if (out) fs.writeFileSync(out, text); else process.stdout.write(text);
  process.stderr.write(`cowlog wear workload: ${g.header.name}: ${g.header.ops} operations, ` +
    `${(g.header.askedBytes / 1048576).toFixed(1)} MiB asked; ${g.boundNote}\n`);
  return 0;
}

async function replay(argv: string[]): Promise<number> {
  const o = args_parse(argv, ['--result']);
  if (o.pos.length !== 2) throw new UsageError('replay needs TRACE and DIR');
  const { trace_read, TraceError } = await import('../workload/trace.js');
  const { replay: replay_run, replay_summary } = await import('../workload/replay.js');
  const [tracePath, dir] = o.pos as [string, string];
  let trace;
  try {
    trace = trace_read(tracePath);
  } catch (e) {
    if (e instanceof TraceError) { process.stderr.write(`cowlog wear replay: ${e.message}\n`); return 1; }
    throw e;
  }
  if (!fs.statSync(dir).isDirectory()) throw new UsageError(`${dir} is not a directory`);
  const r = replay_run(trace, dir, { progress: (d, t) => process.stderr.write(`replay: ${d}/${t} operations\n`) });
  process.stdout.write(replay_summary(r) + '\n');
  const res = o.one.get('--result');
  if (res) fs.writeFileSync(res, JSON.stringify(r, null, 2) + '\n');
  return r.verify.ok ? 0 : 1;
}

function fs_opts(list: string[] | undefined, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of list ?? []) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new UsageError(`${name} takes FS=OPTIONS, e.g. ${name} ext4='-O ^has_journal'`);
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

async function compare(argv: string[]): Promise<number> {
  const o = args_parse(argv, ['--fs', '--size', '--workload', '--out', '--guest-timeout'], ['--mkfs-opt', '--mount-opt', '--variant', '--variant-mount']);
  const { compare_run, FS_KNOWN } = await import('../compare/compare.js');
  const { TraceError } = await import('../workload/trace.js');
  const fsList = (o.one.get('--fs') ?? 'cowlog,ext4,btrfs,f2fs').split(',').map((s) => s.trim()).filter(Boolean);
  for (const f of fsList) if (!FS_KNOWN.includes(f)) throw new UsageError(`unknown filesystem '${f}' (known: ${FS_KNOWN.join(', ')})`);
  const workloadPath = o.one.get('--workload');
  if (!workloadPath) throw new UsageError('--workload is required (make one with: cowlog wear workload ...)');
  const out = o.one.get('--out');
  if (!out) throw new UsageError('--out is required (e.g. heatmaps/mine)');
  if (process.getuid?.() !== 0) throw new UsageError('compare needs root (loop devices, mounts, tracefs)');
  const mkfs = fs_opts(o.many.get('--mkfs-opt'), '--mkfs-opt');
  const mkfsOptions: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(mkfs)) mkfsOptions[k] = v.split(/\s+/).filter(Boolean);
  // FS:NAME=OPTIONS, the options given to mkfs (--variant) or to mount -o (--variant-mount)
  const variants: Array<{ fs: string; name: string; mkfsOptions: string[]; mountOptions: string }> = [];
  for (const flag of ['--variant', '--variant-mount'] as const) {
    for (const v of o.many.get(flag) ?? []) {
      const m = /^([a-z0-9]+):([A-Za-z0-9_.-]+)=(.*)$/.exec(v);
      if (!m) throw new UsageError(`${flag} takes FS:NAME=OPTIONS, e.g. ${flag === '--variant' ? "cowlog:lz4='--compress lz4'" : 'btrfs:zstd=compress=zstd'}`);
      const [, f, name, opts] = m as unknown as [string, string, string, string];
      if (!fsList.includes(f)) throw new UsageError(`${flag} ${v}: ${f} is not among --fs`);
      let x = variants.find((y) => y.fs === f && y.name === name);
      if (!x) { x = { fs: f, name, mkfsOptions: [], mountOptions: '' }; variants.push(x); }
      if (flag === '--variant') x.mkfsOptions = opts.split(/\s+/).filter(Boolean);
      else x.mountOptions = opts;
    }
  }
  const t0 = Date.now();
  const stamp = (): string => {
    const s = Math.round((Date.now() - t0) / 1000);
    return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  };
  let outcome;
  try {
    outcome = await compare_run({
      fsList,
      deviceBytes: size_parse(o.one.get('--size') ?? '64M'),
      workloadPath,
      out,
      mkfsOptions,
      mountOptions: fs_opts(o.many.get('--mount-opt'), '--mount-opt'),
      variants,
      ...(int_opt(o, '--guest-timeout') ? { guestTimeoutMin: int_opt(o, '--guest-timeout')! } : {}),
      log: (l) => process.stderr.write(`[${stamp()}] ${l}\n`),
    });
  } catch (e) {
    if (e instanceof TraceError) { process.stderr.write(`cowlog wear compare: ${e.message}\n`); return 1; }
    throw e;
  }
  process.stdout.write(outcome.table.trimEnd() + '\n');
  for (const f of outcome.failures) process.stdout.write(`${f.fs}: FAILED: ${f.error}\n`);
  const bad = outcome.results.filter((r) => !r.verify.ok).map((r) => r.fs);
  if (bad.length) process.stdout.write(`verification FAILED for ${bad.join(', ')}: files do not hold what the workload wrote (see result.json)\n`);
  process.stdout.write(`results: ${path.resolve(out)}${outcome.report ? `\nreport: ${path.resolve(outcome.report)}` : ''}\n`);
  return outcome.failures.length || bad.length ? 1 : 0;
}

async function heatmap(argv: string[]): Promise<number> {
  const o = args_parse(argv, ['--out', '--cause', '--by', '--top']);
  const by = o.one.get('--by');
  if (by !== undefined && by !== 'file' && by !== 'process') throw new UsageError(`--by ${by}: file or process`);
  const top = int_opt(o, '--top') ?? 10;
  if (o.pos.length !== 1) throw new UsageError('heatmap needs one DEVICE or WEARFILE');
  const target = o.pos[0]!;
  const { wear_decode, WEAR_MAGIC } = await import('../wear/wearfile.js');
  let wearPath = target;
  const head = Buffer.alloc(12);
  const read_head = (p: string): void => {
    const fd = fs.openSync(p, 'r');
    try { fs.readSync(fd, head, 0, 12, 0); } finally { fs.closeSync(fd); }
  };
  read_head(target);
  if (!head.subarray(0, 8).equals(WEAR_MAGIC)) {
    const { wear_path_default } = await import('../wear/tracker.js');
    wearPath = wear_path_default(target);
    if (!fs.existsSync(wearPath)) {
      process.stderr.write(`cowlog wear heatmap: ${target} is not a wear file, and the device has none at ${wearPath} (mount it with cowlog to record one)\n`);
      return 1;
    }
    read_head(wearPath);
  }
  const rec = wear_decode(fs.readFileSync(wearPath), wearPath);
  const cause = o.one.get('--cause');
  let drawn = rec;
  if (cause !== undefined) {
    const { cause_counts, CauseCountsError } = await import('../compare/cause_counts.js');
    try {
      drawn = { ...rec, counts: cause_counts(rec, cause, head.readUInt32LE(8), wearPath) };
    } catch (e) {
      if (e instanceof CauseCountsError) { process.stderr.write(`cowlog wear heatmap: ${e.message}\n`); return 1; }
      throw e;
    }
  }
  const stem = path.basename(wearPath).replace(/\.(bin|wear)$/, '');
  const png = o.one.get('--out') ?? `${stem}${cause ? `-${cause}` : ''}-heatmap.png`;
  const rendererPath = '../compare/render_heatmap.js';
  const r = (await import(rendererPath)) as { heatmap_render(rec: unknown, png: string, opts?: { title?: string }): Promise<void> };
  await r.heatmap_render(drawn, png, cause ? { title: `${rec.meta.fs}: block writes of cause ${cause}` } : {});
  const { wear_stats } = await import('../wear/stats.js');
  const st = wear_stats(drawn.counts);
  const bytes = cause ? rec.meta.causes?.[cause]?.bytes ?? 0 : Number(rec.bytes);
  process.stdout.write(`${png}: ${rec.meta.fs} (${rec.meta.source})${cause ? `, cause ${cause}` : ''}, ${bytes_human(bytes)} written, hottest block ${st.hottestBlock} (${st.hottestCount} ${st.hottestCount === 1 ? 'write' : 'writes'}), ` +
    `${st.blocksWritten} of ${st.blocks} blocks written\n`);
  if (by !== undefined) {
    const { wear_by, WearNamesError } = await import('../wear/names.js');
    let rep;
    try {
      rep = wear_by(rec, by, top);
    } catch (e) {
      if (e instanceof WearNamesError) { process.stderr.write(`cowlog wear heatmap: --by ${by}: ${e.message}\n`); return 1; }
      throw e;
    }
    const total = Number(rec.bytes);
    process.stdout.write(`\ndevice bytes by ${by}, largest first:\n`);
    for (const r of rep.rows.slice(0, top)) {
      process.stdout.write(`  ${bytes_human(r.bytes).padStart(10)}  ${(total ? (100 * r.bytes) / total : 0).toFixed(1).padStart(5)} %  ${String(r.requests).padStart(8)} requests  ${r.name}\n`);
    }
    if (rep.rows.length > top) process.stdout.write(`  ... ${rep.rows.length - top} more\n`);
    process.stdout.write(`\nthe ${rep.hottest.length} most-written blocks, and by whom:\n`);
    for (const h of rep.hottest) {
      process.stdout.write(`  block ${String(h.block).padStart(8)}  ${String(h.writes).padStart(6)} writes: ${h.by.slice(0, 3).map((x) => `${x.name} ${x.writes}`).join(', ')}${h.by.length > 3 ? ', ...' : ''}\n`);
    }
  }
  return 0;
}

export const cmd_wear: Command = {
  name: 'wear',
  summary: 'workloads, traced runs against ext4/btrfs/f2fs, heatmaps and write amplification',
  help: HELP,
  async run(argv: string[]): Promise<number> {
    const [sub, ...rest] = argv;
    switch (sub) {
      case 'workload': return workload(rest);
      case 'replay': return replay(rest);
      case 'compare': return compare(rest);
      case 'heatmap': return heatmap(rest);
      case undefined: throw new UsageError('which one: workload, replay, compare or heatmap?');
      default: throw new UsageError(`unknown subcommand '${sub}' (workload, replay, compare, heatmap)`);
    }
  },
};
