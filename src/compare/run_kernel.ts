// Runner for kernel filesystems (ext4, btrfs on the host; f2fs inside the QEMU guest, through
// run_kernel_on_device): mkfs, mount, replay a workload, sync, unmount, all traced with
// block:block_rq_issue, then a fresh mount to verify every file. Leaves OUT/<fs>/wear.bin,
// wear-mkfs.bin and result.json (src/compare/result.ts).
//
// Invariants:
// - the workload is validated against the device before anything is formatted;
// - the traced phase runs from just before mount to just after unmount, so host bytes include
//   the final sync and unmount and exclude mkfs (traced apart, reported as mkfsBytes);
// - verification happens on a second, untraced mount: data must survive the unmount, and the
//   verifier's reads (atime updates) never reach the counts;
// - every loop device, mount and tracer is undone by the Cleanup scope on any failure or signal.

import fs from 'node:fs';
import path from 'node:path';
import { TracefsTracer } from '../tracefs/tracefs.js';
import { trace_read } from '../workload/trace.js';
import type { Trace } from '../workload/trace.js';
import { ReplayTask } from '../workload/replay_worker.js';
import { wear_stats, waf } from '../wear/stats.js';
import { wear_encode } from '../wear/wearfile.js';
import type { WearRecord } from '../wear/wearfile.js';
import type { RunResult } from './result.js';
import { Cleanup, image_create, is_mounted, loop_attach, loop_detach_sync, packages_ensure, run, scratch_dir, umount_sync } from './sys.js';
import { btrfs_block_what, ext4_block_what, f2fs_block_what, layout_read } from './layout.js';

export type Log = (line: string) => void;

export interface KernelFsDef {
  /** mkfs argv before the user's options and the device */
  mkfs: string[];
  /** tool → Debian package, installed on first use */
  packages: Record<string, string>;
}

export const KERNEL_FS: Record<string, KernelFsDef> = {
  // -F/-f: the image is ours to overwrite; -q: quiet. Neither changes the format.
  ext4: { mkfs: ['mkfs.ext4', '-F', '-q'], packages: { 'mkfs.ext4': 'e2fsprogs', debugfs: 'e2fsprogs' } },
  // --mixed: data and metadata share block groups, which a 64 MiB device needs
  btrfs: { mkfs: ['mkfs.btrfs', '-f', '-q', '--mixed'], packages: { 'mkfs.btrfs': 'btrfs-progs' } },
  f2fs: { mkfs: ['mkfs.f2fs', '-f', '-q'], packages: { 'mkfs.f2fs': 'f2fs-tools' } },
  xfs: { mkfs: ['mkfs.xfs', '-f', '-q'], packages: { 'mkfs.xfs': 'xfsprogs' } },
};

export interface DeviceRunSpec {
  fs: string;
  device: string;
  deviceBytes: number;
  workloadPath: string;
  /** extra mkfs options, placed before the device */
  mkfsOptions: string[];
  /** mount -o value; '' for the defaults */
  mountOptions: string;
  /** OUT/<fs> */
  outDir: string;
  /** a directory for the mountpoint */
  scratch: string;
  log: Log;
  cleanup: Cleanup;
  /** the image behind the device, when there is one (f2fs reads its layout from it) */
  image?: string;
  notes?: string;
  /** a named variant (other mount or mkfs options), recorded beside the filesystem's name */
  variant?: string;
}

function mib(n: number | bigint): string {
  return `${(Number(n) / 1048576).toFixed(1)} MiB`;
}

function elapsed(t0: number): string {
  const s = (performance.now() - t0) / 1000;
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** Reads and validates a workload for a device, before anything is formatted. */
export function workload_load(p: string, deviceBytes: number): Trace {
  return trace_read(p, { deviceBytes });
}

async function hottest_what(fsName: string, device: string, image: string | undefined, block: number): Promise<string | undefined> {
  if (block < 0) return undefined;
  try {
    if (fsName === 'ext4' || fsName === 'ext3' || fsName === 'ext2') return await ext4_block_what(device, block);
    if (fsName === 'btrfs') return btrfs_block_what(block);
    if (fsName === 'f2fs') return f2fs_block_what(image ?? device, block);
  } catch { /* the layout tools failed: say nothing rather than guess */ }
  return undefined;
}

/** mkfs, traced: returns the bytes it wrote. */
async function mkfs_traced(s: DeviceRunSpec, argv: string[]): Promise<number> {
  const tr = await TracefsTracer.start({ device: s.device, out: path.join(s.outDir, 'wear-mkfs.bin'), meta: { fs: s.fs, notes: 'mkfs phase' } });
  s.cleanup.push('mkfs tracer', () => tr.kill());
  await run(argv[0]!, argv.slice(1)); // on failure the cleanup scope kills the tracer
  s.cleanup.drop('mkfs tracer');
  const rec = await tr.stop();
  return Number(rec.bytes);
}

/** One traced run on an existing block device (the host's loop device or the guest's vda). */
export async function run_kernel_on_device(s: DeviceRunSpec): Promise<RunResult> {
  const def = KERNEL_FS[s.fs];
  if (!def) throw new Error(`no runner for filesystem '${s.fs}' (known: ${Object.keys(KERNEL_FS).join(', ')}, cowlog)`);
  const trace = workload_load(s.workloadPath, s.deviceBytes);
  fs.mkdirSync(s.outDir, { recursive: true });
  const mkfsArgv = [...def.mkfs, ...s.mkfsOptions, s.device];
  s.log(`${s.fs}: mkfs: ${mkfsArgv.join(' ')}`);
  const mkfsBytes = await mkfs_traced(s, mkfsArgv);
  s.log(`${s.fs}: mkfs wrote ${mib(mkfsBytes)}`);

  const mnt = fs.mkdtempSync(path.join(s.scratch, `cowlog-${s.fs}-mnt-`));
  s.cleanup.push(`remove ${mnt}`, () => { umount_sync(mnt); fs.rmSync(mnt, { recursive: true, force: true }); });
  const mountArgs = ['-t', s.fs, ...(s.mountOptions ? ['-o', s.mountOptions] : []), s.device, mnt];

  const wearPath = path.join(s.outDir, 'wear.bin');
  const tracer = await TracefsTracer.start({
    device: s.device, out: wearPath,
    meta: { fs: s.fs, workload: trace.header.name, mkfsBytes, startedAt: new Date().toISOString() },
  });
  s.cleanup.push('tracer', () => tracer.kill());
  const t0 = performance.now();
  await run('mount', mountArgs);
  s.cleanup.push(`umount ${mnt}`, () => umount_sync(mnt));
  s.log(`${s.fs}: mounted ${s.device} on ${mnt}; replaying ${trace.ops.length} operations of ${trace.header.name}`);
  let lastPct = -1;
  const task = new ReplayTask({ tracePath: s.workloadPath, dir: mnt, deviceBytes: s.deviceBytes }, (done, total) => {
    const pct = Math.floor((done / total) * 100);
    if (pct >= lastPct + 10 || (done === total && lastPct !== pct)) { lastPct = pct; s.log(`${s.fs}: replay ${done}/${total} operations (${pct} %), ${elapsed(t0)}`); }
  });
  s.cleanup.push('replay worker', () => task.terminate());
  const applied = await task.applied();
  s.log(`${s.fs}: sync and unmount`);
  await run('sync', ['-f', mnt]);
  await run('umount', [mnt]);
  s.cleanup.drop(`umount ${mnt}`);
  const runMs = Math.round(performance.now() - t0);
  s.cleanup.drop('tracer');
  const traced = await tracer.stop();

  s.log(`${s.fs}: mounting again to verify every file`);
  await run('mount', mountArgs);
  s.cleanup.push(`umount ${mnt}`, () => umount_sync(mnt));
  const verify = await task.verify(mnt);
  s.cleanup.drop('replay worker');
  await run('umount', [mnt]);
  s.cleanup.drop(`umount ${mnt}`);

  const st = wear_stats(traced.counts);
  const what = await hottest_what(s.fs, s.device, s.image, st.hottestBlock);
  // the layout at the end of the run, for splitting the writes by the region they hit
  const layout = await layout_read(s.fs, s.device, s.image);
  const wear: WearRecord = { ...traced, meta: { ...traced.meta, runMs } };
  fs.writeFileSync(wearPath, wear_encode(wear));
  const errorsTotal = Object.values(applied.errors).reduce((a, e) => a + Object.values(e).reduce((x, y) => x + y, 0), 0);
  const result: RunResult = {
    fs: s.fs,
    ...(s.variant ? { variant: s.variant } : {}),
    mkfs: mkfsArgv.join(' '),
    mountOptions: s.mountOptions || 'defaults',
    deviceBytes: s.deviceBytes,
    tracer: 'tracefs',
    workload: trace.header.name,
    workloadPath: path.resolve(s.workloadPath),
    ops: applied.ops,
    opsOk: applied.opsOk,
    askedBytes: applied.askedBytes,
    hostBytes: Number(traced.bytes),
    mkfsBytes,
    errors: applied.errors,
    enospc: applied.enospc,
    verify: { ok: verify.ok, filesChecked: verify.filesChecked, bad: verify.bad },
    runMs,
    ...(applied.usableBytes !== undefined ? { usableBytes: applied.usableBytes } : {}),
    ...(what ? { hottestWhat: what } : {}),
    ...(layout ? { layout } : {}),
    ...(s.notes || applied.opsSkipped ? { notes: [s.notes, applied.opsSkipped ? `${applied.opsSkipped} operations skipped after the ENOSPC limit` : ''].filter(Boolean).join('; ') } : {}),
  };
  fs.writeFileSync(path.join(s.outDir, 'result.json'), JSON.stringify(result, null, 2) + '\n');
  s.log(`${s.fs}: ${mib(result.hostBytes)} written for ${mib(result.askedBytes)} asked (WAF ${waf(result.hostBytes, result.askedBytes).toFixed(2)}), ` +
    `hottest block ${st.hottestBlock} x${st.hottestCount}${what ? ` (${what})` : ''}, ${errorsTotal} errors (${result.enospc} ENOSPC), ` +
    `verify ${verify.ok ? 'ok' : `FAILED (${verify.bad.length})`}, ${elapsed(t0)}`);
  return result;
}

export interface HostRunSpec {
  fs: string;
  deviceBytes: number;
  workloadPath: string;
  mkfsOptions: string[];
  mountOptions: string;
  /** OUT: results go to OUT/<fs>/ (OUT/<fs>-<variant>/ for a variant) */
  out: string;
  log: Log;
  /** a named variant (e.g. btrfs with compress=lzo): its own folder, and its name beside the filesystem's */
  variant?: string;
}

/** A kernel filesystem on a fresh loop device of the host. */
export async function run_kernel_host(h: HostRunSpec): Promise<RunResult> {
  const def = KERNEL_FS[h.fs];
  if (!def) throw new Error(`no runner for filesystem '${h.fs}' (known: ${Object.keys(KERNEL_FS).join(', ')}, cowlog)`);
  workload_load(h.workloadPath, h.deviceBytes); // a bad trace fails here, before anything exists
  await packages_ensure(def.packages, h.log);
  const cleanup = new Cleanup(h.log);
  try {
    const scratch = fs.mkdtempSync(path.join(scratch_dir(h.deviceBytes), `cowlog-${h.fs}-`));
    cleanup.push(`remove ${scratch}`, () => fs.rmSync(scratch, { recursive: true, force: true }));
    const image = path.join(scratch, 'device.img');
    image_create(image, h.deviceBytes);
    const dev = await loop_attach(image);
    cleanup.push(`detach ${dev}`, () => loop_detach_sync(dev));
    h.log(`${h.fs}: ${(h.deviceBytes / 1048576).toFixed(0)} MiB image on ${dev}`);
    return await run_kernel_on_device({
      fs: h.fs, device: dev, deviceBytes: h.deviceBytes, workloadPath: h.workloadPath,
      mkfsOptions: h.mkfsOptions, mountOptions: h.mountOptions, outDir: path.join(h.out, h.variant ? `${h.fs}-${h.variant}` : h.fs),
      scratch, log: h.log, cleanup, image, ...(h.variant ? { variant: h.variant } : {}),
    });
  } finally {
    await cleanup.run();
  }
}

export { is_mounted };
