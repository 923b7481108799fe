// Runs inside the QEMU guest (chrooted into the host's files): loads the filesystem's module,
// then makes the same traced run as on the host (run_kernel_on_device) on /dev/vda, writing
// wear.bin, wear-mkfs.bin and result.json into the result share.
//
// Usage (from the guest's job script): node dist/src/compare/guest_run.js /tmp/share/job.json

import fs from 'node:fs';
import path from 'node:path';
import { run_kernel_on_device } from './run_kernel.js';
import { Cleanup, run } from './sys.js';
import type { GuestJob } from './qemu.js';

const DISK = '/dev/vda';

async function main(jobPath: string): Promise<number> {
  const job = JSON.parse(fs.readFileSync(jobPath, 'utf8')) as GuestJob;
  const share = path.dirname(jobPath);
  const t0 = performance.now();
  const log = (l: string): void => {
    process.stdout.write(`[guest ${((performance.now() - t0) / 1000).toFixed(0)} s] ${l}\n`);
  };
  for (const m of job.modprobe) await run('modprobe', [m]);
  const cleanup = new Cleanup(log);
  try {
    const r = await run_kernel_on_device({
      fs: job.fs,
      device: DISK,
      deviceBytes: job.deviceBytes,
      workloadPath: job.workload,
      mkfsOptions: job.mkfsOptions,
      mountOptions: job.mountOptions,
      outDir: path.join(share, 'out', job.fs),
      scratch: '/tmp',
      log,
      cleanup,
      notes: `ran in a QEMU guest (TCG, Debian kernel ${fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}), traced there with tracefs`,
    });
    // the record names the host's copy of the workload, not the share's
    const rp = path.join(share, 'out', job.fs, 'result.json');
    fs.writeFileSync(rp, JSON.stringify({ ...r, workloadPath: job.workloadHostPath }, null, 2) + '\n');
    return 0;
  } catch (e) {
    log(`failed: ${(e as Error).message}`);
    fs.writeFileSync(path.join(share, 'error.txt'), `${(e as Error).message}\n`);
    return 1;
  } finally {
    await cleanup.run();
  }
}

main(process.argv[2] ?? '/tmp/share/job.json').then((c) => process.exit(c), (e: unknown) => {
  process.stderr.write(`guest_run: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
