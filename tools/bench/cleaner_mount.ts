// The bench-cleaner scenarios on a 64 MiB loop device through a cowlog mount: `cowlog mkfs`,
// `cowlog mount --wear`, the workload replayed by this process through the kernel (the server is
// cowlog's own process, so synchronous calls here never deadlock), `cowlog umount`. The server's
// wear tracker counts every block write. For the overwrite scenarios the mount is remounted
// with a fresh wear file at the first sync (the end of the fill), so the steady phase is counted
// alone. Then a second mount verifies every file and `cowlog fsck -n` checks the device; the
// cleaner's counters come from `cowlog info --json`.

import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { WearTracker } from '../../src/wear/tracker.js';
import { wear_stats } from '../../src/wear/stats.js';
import { workload_generate } from '../../src/workload/generate.js';
import { Replayer } from '../../src/workload/replay.js';
import type { Trace } from '../../src/workload/trace.js';
import { Cleanup, image_create, is_mounted, loop_attach, loop_detach_sync, repo_root, scratch_dir } from '../../src/compare/sys.js';
import type { RunOptions, ScenarioResult } from './cleaner.js';

const MiB = 1 << 20;

function cowlog_sync(...args: string[]): string {
  const r = spawnSync(process.execPath, [path.join(repo_root(), 'bin', 'cowlog.js'), ...args], { encoding: 'utf8', timeout: 10 * 60_000 });
  if (r.status !== 0) throw new Error(`cowlog ${args.join(' ')}: ${(r.stderr || r.stdout || '').trim()}`);
  return r.stdout;
}

export async function scenario_run_mount(o: RunOptions): Promise<ScenarioResult> {
  const deviceBytes = o.deviceBytes ?? 64 * MiB;
  const g = workload_generate(o.gen);
  const trace: Trace = { header: g.header, ops: g.ops, source: o.name };
  const cleanup = new Cleanup((s) => process.stderr.write(`${s}\n`));
  try {
    const scratch = fs.mkdtempSync(path.join(scratch_dir(deviceBytes), 'cowlog-bench-cleaner-'));
    cleanup.push('scratch', () => fs.rmSync(scratch, { recursive: true, force: true }));
    const image = path.join(scratch, 'device.img');
    image_create(image, deviceBytes);
    const dev = await loop_attach(image);
    cleanup.push('loop', () => loop_detach_sync(dev));
    const mnt = path.join(scratch, 'mnt');
    fs.mkdirSync(mnt);
    cleanup.push('umount', () => {
      if (is_mounted(mnt)) spawnSync(process.execPath, [path.join(repo_root(), 'bin', 'cowlog.js'), 'umount', mnt], { timeout: 60_000 });
      if (is_mounted(mnt)) spawnSync('fusermount', ['-uz', mnt]);
    });
    cowlog_sync('mkfs', '-q', dev);
    const fillWear = path.join(scratch, 'fill.wear');
    const steadyWear = path.join(scratch, 'steady.wear');
    cowlog_sync('mount', '--wear', fillWear, dev, mnt);
    let marked = false;
    const syncfs = (dir: string): void => {
      if (o.steady && !marked) {
        marked = true;
        cowlog_sync('umount', mnt);
        cowlog_sync('mount', '--wear', steadyWear, dev, mnt);
        return;
      }
      spawnSync('sync', ['-f', dir]);
    };
    const r = new Replayer(trace, mnt, { syncfs });
    const t0 = performance.now();
    const applied = r.apply();
    cowlog_sync('umount', mnt);
    const seconds = (performance.now() - t0) / 1000;
    if (o.steady && !marked) throw new Error(`${o.name}: the workload has no sync marking the end of its fill`);
    const rec = WearTracker.load(o.steady ? steadyWear : fillWear);
    let asked = applied.askedBytes;
    if (o.steady) {
      const firstSync = trace.ops.findIndex((op) => op.op === 'sync');
      asked = 0;
      for (const op of trace.ops.slice(firstSync + 1)) if (op.op === 'write' || op.op === 'append') asked += op.len;
    }
    const st = wear_stats(rec.counts);
    cowlog_sync('mount', dev, mnt);
    const verify = r.verify(mnt);
    cowlog_sync('umount', mnt);
    const fsckOut = spawnSync(process.execPath, [path.join(repo_root(), 'bin', 'cowlog.js'), 'fsck', '-n', dev], { encoding: 'utf8' });
    const info = JSON.parse(cowlog_sync('info', '--json', dev)) as { sinceMkfs: { segmentsCleaned: number; blocksMoved: number; blocksRecycled: number; checkpoints: number } };
    const host = Number(rec.bytes);
    return {
      name: o.name,
      waf: asked > 0 ? host / asked : 0,
      target: o.target,
      hostMiB: host / MiB,
      askedMiB: asked / MiB,
      hottest: st.hottestCount,
      spread: st.spread,
      ...(applied.usableBytes !== undefined ? { usable: applied.usableBytes / deviceBytes } : {}),
      checkpoints: info.sinceMkfs.checkpoints,
      segmentsCleaned: info.sinceMkfs.segmentsCleaned,
      blocksMoved: info.sinceMkfs.blocksMoved,
      ssrBlocks: info.sinceMkfs.blocksRecycled,
      verify: verify.ok && applied.mismatches.length === 0,
      fsckErrors: fsckOut.status === 0 ? 0 : 1,
      seconds,
    };
  } finally {
    await cleanup.run();
  }
}
