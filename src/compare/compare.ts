// `cowlog wear compare`: the same workload on the same device size, for each filesystem in
// turn, then the report. A filesystem whose run fails is reported and skipped; the others go on.
//
// Invariants:
// - the workload is validated against the device before any filesystem is touched;
// - each run leaves OUT/<fs>/{wear.bin,result.json} (src/compare/result.ts); runs of other
//   filesystems already in OUT stay, so f2fs can be added to an earlier comparison later;
// - the host runs a kernel filesystem it has (/proc/filesystems); one it lacks runs in the QEMU
//   guest on Debian's kernel.

import fs from 'node:fs';
import path from 'node:path';
import { run_kernel_host, workload_load, KERNEL_FS } from './run_kernel.js';
import type { Log } from './run_kernel.js';
import { run_fs_in_guest } from './run_f2fs.js';
import { run_cowlog_host } from './run_cowlog.js';
import type { RunResult } from './result.js';
import { wear_stats, waf } from '../wear/stats.js';
import { wear_decode } from '../wear/wearfile.js';
import { run } from './sys.js';

export interface CompareSpec {
  fsList: string[];
  deviceBytes: number;
  workloadPath: string;
  out: string;
  /** fs → extra mkfs options */
  mkfsOptions: Record<string, string[]>;
  /** fs → mount -o value */
  mountOptions: Record<string, string>;
  guestTimeoutMin?: number;
  log: Log;
  /**
   * a filesystem again with other mkfs/mount options (cowlog with lz4, btrfs with compress=zstd),
   * each in OUT/FS-NAME/, run after the filesystem itself; `fs` absent means cowlog
   */
  variants?: CowlogVariant[];
  /** false: no heatmaps, no report (a sweep that only wants the figures) */
  render?: boolean;
}

export interface CompareOutcome {
  results: RunResult[];
  failures: Array<{ fs: string; error: string }>;
  /** the terminal table (from the renderer when it is there) */
  table: string;
  /** where report.html is, when the renderer wrote one */
  report?: string;
}

export const FS_KNOWN = ['cowlog', ...Object.keys(KERNEL_FS)];

/** True when the running kernel can mount `fsName` (built in, or as a module it can load). */
export async function host_has_fs(fsName: string): Promise<boolean> {
  const listed = (): boolean => fs.readFileSync('/proc/filesystems', 'utf8').split('\n').some((l) => l.split('\t').pop() === fsName);
  if (listed()) return true;
  try { await run('modprobe', [fsName]); } catch { return false; }
  return listed();
}

/** A named variant: the same runner with extra mkfs and mount options (OUT/FS-NAME/). */
export interface CowlogVariant {
  /** the filesystem it varies (default cowlog) */
  fs?: string;
  name: string;
  mkfsOptions: string[];
  mountOptions: string;
}

/** One run to make: a filesystem, or a cowlog variant. */
export interface FsJob {
  fs: string;
  variant?: string;
  mkfsOptions: string[];
  mountOptions: string;
}

/** "cowlog", "ext4", "cowlog:lz4" */
export function job_label(j: { fs: string; variant?: string }): string {
  return j.variant ? `${j.fs}:${j.variant}` : j.fs;
}

/** Runs one filesystem on a fresh device of the host (or the QEMU guest for one the host lacks). */
export async function fs_run(j: FsJob, c: { deviceBytes: number; workloadPath: string; out: string; log: Log; guestTimeoutMin?: number }): Promise<RunResult> {
  const spec = {
    fs: j.fs, deviceBytes: c.deviceBytes, workloadPath: c.workloadPath,
    mkfsOptions: j.mkfsOptions, mountOptions: j.mountOptions, out: c.out, log: c.log,
    ...(j.variant ? { variant: j.variant } : {}),
  };
  if (j.fs === 'cowlog') return run_cowlog_host(spec);
  if (await host_has_fs(j.fs)) return run_kernel_host(spec);
  if (j.variant) throw new Error(`${job_label(j)}: variants of a filesystem the host lacks are not run in the guest`);
  c.log(`${j.fs}: this kernel has no ${j.fs}; running it in a QEMU guest on Debian's kernel (TCG: minutes)`);
  return run_fs_in_guest({ ...spec, ...(c.guestTimeoutMin ? { timeoutMin: c.guestTimeoutMin } : {}) });
}

export async function compare_run(c: CompareSpec): Promise<CompareOutcome> {
  for (const f of c.fsList) {
    if (!FS_KNOWN.includes(f)) throw new Error(`unknown filesystem '${f}' (known: ${FS_KNOWN.join(', ')})`);
  }
  const trace = workload_load(c.workloadPath, c.deviceBytes);
  c.log(`workload ${trace.header.name}: ${trace.ops.length} operations, ${(trace.header.askedBytes / 1048576).toFixed(1)} MiB asked, ` +
    `live data up to ${(trace.header.livePeakBytes / 1048576).toFixed(1)} MiB; device ${(c.deviceBytes / 1048576).toFixed(0)} MiB`);
  fs.mkdirSync(c.out, { recursive: true });
  const jobs: FsJob[] = [];
  for (const f of c.fsList) {
    jobs.push({ fs: f, mkfsOptions: c.mkfsOptions[f] ?? [], mountOptions: c.mountOptions[f] ?? '' });
    for (const v of c.variants ?? []) if ((v.fs ?? 'cowlog') === f) jobs.push({ fs: f, variant: v.name, mkfsOptions: v.mkfsOptions, mountOptions: v.mountOptions });
  }
  const results: RunResult[] = [];
  const failures: Array<{ fs: string; error: string }> = [];
  for (const [i, j] of jobs.entries()) {
    const t0 = Date.now();
    const label = job_label(j);
    c.log(`[${i + 1}/${jobs.length}] ${label}`);
    try {
      results.push(await fs_run(j, c));
      c.log(`[${i + 1}/${jobs.length}] ${label} done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    } catch (e) {
      const msg = (e as Error).message;
      failures.push({ fs: label, error: msg });
      c.log(`[${i + 1}/${jobs.length}] ${label} FAILED: ${msg}`);
    }
  }
  if (c.render === false) return { results, failures, table: '' };
  let table: string;
  let report: string | undefined;
  const rendererPath = './report.js';
  let renderer: { report_render(out: string): Promise<string> } | undefined;
  try {
    renderer = (await import(rendererPath)) as { report_render(out: string): Promise<string> };
  } catch {
    renderer = undefined;
  }
  if (renderer) {
    c.log('rendering heatmaps and the report');
    table = await renderer.report_render(c.out);
    report = path.join(c.out, 'report.html');
  } else {
    table = summary_plain(c.out);
  }
  return { results, failures, table, ...(report ? { report } : {}) };
}

/** A plain table of every OUT/<fs>/result.json, for when the renderer is not there. */
export function summary_plain(out: string): string {
  const rows: string[][] = [['fs', 'host bytes', 'WAF', 'hottest block', 'spread', 'never written', 'ENOSPC', 'verify', 'run time']];
  for (const d of fs.readdirSync(out).sort()) {
    const rp = path.join(out, d, 'result.json');
    if (!fs.existsSync(rp)) continue;
    const r = JSON.parse(fs.readFileSync(rp, 'utf8')) as RunResult;
    const st = wear_stats(wear_decode(fs.readFileSync(path.join(out, d, 'wear.bin')), 'wear.bin').counts);
    rows.push([
      r.fs, `${(r.hostBytes / 1048576).toFixed(1)} MiB`, waf(r.hostBytes, r.askedBytes).toFixed(2),
      `${st.hottestCount} (#${st.hottestBlock}${r.hottestWhat ? `, ${r.hottestWhat}` : ''})`, st.spread.toFixed(1),
      String(st.blocksNeverWritten), String(r.enospc), r.verify.ok ? 'ok' : 'FAILED', `${(r.runMs / 1000).toFixed(1)} s`,
    ]);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ')).join('\n');
}
