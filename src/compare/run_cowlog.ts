// Runner for cowlog itself, through its command line on a loop device: `cowlog mkfs DEV`,
// `cowlog mount --wear WEARFILE DEV MNT` (returns once the mount is live), the replay, `sync`,
// `cowlog umount MNT` (checkpoints, unmounts, and completes the wear file). The engine's own
// tracker gives OUT/cowlog/wear.bin; the kernel tracer watches the same loop device at the same
// time and gives OUT/cowlog/wear-tracefs.bin, so the two counts can be checked against each other.
//
// Invariants:
// - the same phases as the kernel runners: mkfs traced apart; the counted phase from mount to
//   unmount; verification on a second mount whose wear file is thrown away;
// - the replayer runs in this process's worker and the FUSE server in cowlog's own process, so
//   synchronous calls on the mount never deadlock;
// - on failure or Ctrl-C the mount is undone (cowlog umount, then fusermount -uz / umount -l)
//   and the loop device detached.

import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { TracefsTracer } from '../tracefs/tracefs.js';
import { ReplayTask } from '../workload/replay_worker.js';
import { wear_decode, wear_encode } from '../wear/wearfile.js';
import { wear_stats, waf } from '../wear/stats.js';
import type { RunResult } from './result.js';
import type { HostRunSpec } from './run_kernel.js';
import { workload_load } from './run_kernel.js';
import { Cleanup, image_create, is_mounted, loop_attach, loop_detach_sync, repo_root, run, scratch_dir, umount_sync } from './sys.js';

/** The cowlog command line, as node + bin/cowlog.js of this checkout. */
export function cowlog_argv(...args: string[]): [string, string[]] {
  return [process.execPath, [path.join(repo_root(), 'bin', 'cowlog.js'), ...args]];
}

/** Why cowlog can not be measured yet (its mount command missing), or undefined. */
export function cowlog_unavailable(): string | undefined {
  const [cmd, args] = cowlog_argv('mount', '--help');
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status === 0 && /--wear/.test(r.stdout)) return undefined;
  if (r.status === 0) return "'cowlog mount' has no --wear option yet: the engine's tracker can not be recorded";
  return `'cowlog mount' is not available yet (${(r.stderr || r.stdout || '').trim().split('\n')[0] ?? 'no output'})`;
}

function cowlog_umount_sync(mnt: string): void {
  if (!is_mounted(mnt)) return;
  const [cmd, args] = cowlog_argv('umount', mnt);
  spawnSync(cmd, args, { stdio: 'ignore', timeout: 60_000 });
  if (is_mounted(mnt)) spawnSync('fusermount', ['-uz', mnt], { stdio: 'ignore' });
  umount_sync(mnt);
}

async function cowlog(...args: string[]): Promise<void> {
  const [cmd, a] = cowlog_argv(...args);
  await run(cmd, a);
}

export async function run_cowlog_host(h: HostRunSpec): Promise<RunResult> {
  const trace = workload_load(h.workloadPath, h.deviceBytes);
  const why = cowlog_unavailable();
  if (why) throw new Error(`cowlog: ${why}`);
  const log = h.log;
  const outDir = path.join(h.out, h.variant ? `cowlog-${h.variant}` : 'cowlog');
  const who = h.variant ? `cowlog:${h.variant}` : 'cowlog';
  fs.mkdirSync(outDir, { recursive: true });
  const cleanup = new Cleanup(log);
  try {
    const scratch = fs.mkdtempSync(path.join(scratch_dir(h.deviceBytes), 'cowlog-cowlog-'));
    cleanup.push(`remove ${scratch}`, () => fs.rmSync(scratch, { recursive: true, force: true }));
    const image = path.join(scratch, 'device.img');
    image_create(image, h.deviceBytes);
    const dev = await loop_attach(image);
    cleanup.push(`detach ${dev}`, () => loop_detach_sync(dev));
    log(`${who}: ${(h.deviceBytes / 1048576).toFixed(0)} MiB image on ${dev}`);

    const mkfsArgs = ['mkfs', ...h.mkfsOptions, dev];
    log(`${who}: cowlog ${mkfsArgs.join(' ')}`);
    const mkTr = await TracefsTracer.start({ device: dev, out: path.join(outDir, 'wear-mkfs.bin'), meta: { fs: 'cowlog', notes: 'mkfs phase' } });
    cleanup.push('mkfs tracer', () => mkTr.kill());
    await cowlog(...mkfsArgs);
    cleanup.drop('mkfs tracer');
    const mkfsBytes = Number((await mkTr.stop()).bytes);
    log(`${who}: mkfs wrote ${(mkfsBytes / 1048576).toFixed(1)} MiB`);

    const mnt = fs.mkdtempSync(path.join(scratch, 'cowlog-cowlog-mnt-'));
    const engineWear = path.join(scratch, 'engine.wear');
    const kernelWear = path.join(outDir, 'wear-tracefs.bin');
    const mountOpt = h.mountOptions ? ['-o', h.mountOptions] : [];
    const tracer = await TracefsTracer.start({ device: dev, out: kernelWear, meta: { fs: 'cowlog', workload: trace.header.name, mkfsBytes } });
    cleanup.push('tracer', () => tracer.kill());
    const t0 = performance.now();
    cleanup.push(`umount ${mnt}`, () => cowlog_umount_sync(mnt));
    await cowlog('mount', '--wear', engineWear, ...mountOpt, dev, mnt);
    if (!is_mounted(mnt)) throw new Error(`cowlog mount returned but ${mnt} is not mounted`);
    log(`${who}: mounted ${dev} on ${mnt}; replaying ${trace.ops.length} operations of ${trace.header.name}`);
    let lastPct = -1;
    // the workload's sync operations: syncfs(2) does not reach a FUSE filesystem, so they are
    // `cowlog sync` (a checkpoint), the durability the kernel filesystems give `sync -f`
    const [node, nodeArgs] = cowlog_argv('sync');
    const task = new ReplayTask({ tracePath: h.workloadPath, dir: mnt, deviceBytes: h.deviceBytes, syncCommand: [node, ...nodeArgs] }, (done, total) => {
      const pct = Math.floor((done / total) * 100);
      if (pct >= lastPct + 10 || (done === total && lastPct !== pct)) { lastPct = pct; log(`${who}: replay ${done}/${total} operations (${pct} %)`); }
    });
    cleanup.push('replay worker', () => task.terminate());
    const applied = await task.applied();
    log(`${who}: sync and unmount`);
    await run('sync', ['-f', mnt]); // the unmount's checkpoint makes it all durable
    await cowlog('umount', mnt);
    cleanup.drop(`umount ${mnt}`);
    const runMs = Math.round(performance.now() - t0);
    cleanup.drop('tracer');
    const kernel = await tracer.stop();

    log(`${who}: mounting again to verify every file`);
    cleanup.push(`umount ${mnt}`, () => cowlog_umount_sync(mnt));
    await cowlog('mount', '--wear', path.join(scratch, 'verify.wear'), ...mountOpt, dev, mnt);
    const verify = await task.verify(mnt);
    cleanup.drop('replay worker');
    await cowlog('umount', mnt);
    cleanup.drop(`umount ${mnt}`);

    const engine = wear_decode(fs.readFileSync(engineWear), engineWear);
    const wear = { ...engine, meta: { ...engine.meta, fs: 'cowlog', workload: trace.header.name, mkfsBytes, runMs, device: dev, deviceBytes: h.deviceBytes } };
    fs.writeFileSync(path.join(outDir, 'wear.bin'), wear_encode(wear));
    const st = wear_stats(engine.counts);
    const agree = engine.bytes === kernel.bytes ? 'the same host bytes' : `${kernel.bytes} host bytes (engine: ${engine.bytes})`;
    const result: RunResult = {
      fs: 'cowlog',
      mkfs: `cowlog ${mkfsArgs.join(' ')}`,
      mountOptions: h.mountOptions || 'defaults',
      deviceBytes: h.deviceBytes,
      tracer: 'cowlog-tracker',
      workload: trace.header.name,
      workloadPath: path.resolve(h.workloadPath),
      ops: applied.ops,
      opsOk: applied.opsOk,
      askedBytes: applied.askedBytes,
      hostBytes: Number(engine.bytes),
      mkfsBytes,
      errors: applied.errors,
      enospc: applied.enospc,
      verify: { ok: verify.ok, filesChecked: verify.filesChecked, bad: verify.bad },
      runMs,
      ...(applied.usableBytes !== undefined ? { usableBytes: applied.usableBytes } : {}),
      ...(h.variant ? { variant: h.variant } : {}),
      notes: `FUSE mount; tracefs on the loop device counted ${agree} (wear-tracefs.bin)` +
        (applied.opsSkipped ? `; ${applied.opsSkipped} operations skipped after the ENOSPC limit` : ''),
    };
    fs.writeFileSync(path.join(outDir, 'result.json'), JSON.stringify(result, null, 2) + '\n');
    log(`${who}: ${(result.hostBytes / 1048576).toFixed(1)} MiB written for ${(result.askedBytes / 1048576).toFixed(1)} MiB asked ` +
      `(WAF ${waf(result.hostBytes, result.askedBytes).toFixed(2)}), hottest block ${st.hottestBlock} x${st.hottestCount}, ` +
      `${result.enospc} ENOSPC, verify ${verify.ok ? 'ok' : `FAILED (${verify.bad.length})`}`);
    return result;
  } finally {
    await cleanup.run();
  }
}
