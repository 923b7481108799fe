// Runner for filesystems the host kernel lacks (f2fs): the same traced run as run_kernel.ts,
// made inside a QEMU guest booted on Debian's kernel (src/compare/). The host prepares an image,
// an initramfs and a share with the job; the guest writes wear.bin and result.json into the
// share; the host copies them to OUT/<fs>/.
//
// Invariants:
// - the workload is validated on the host before the guest boots;
// - the guest's console is streamed to the log, with the elapsed time every 30 s, and the run
//   is killed after `timeoutMin` minutes;
// - QEMU is killed and the scratch directory removed on failure and on Ctrl-C.

import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { guest_kernel, initramfs_build, GUEST_SHARE, BUSYBOX } from './initramfs.js';
import { job_script, qemu_args } from './qemu.js';
import type { GuestJob } from './qemu.js';
import { KERNEL_FS, workload_load } from './run_kernel.js';
import type { HostRunSpec } from './run_kernel.js';
import type { RunResult } from './result.js';
import { Cleanup, image_create, packages_ensure, repo_root, scratch_dir } from './sys.js';
import { f2fs_block_what, f2fs_regions } from './layout.js';
import { wear_decode } from '../wear/wearfile.js';
import { wear_stats } from '../wear/stats.js';

export interface GuestRunSpec extends HostRunSpec {
  /** minutes before the guest is killed (default 60) */
  timeoutMin?: number;
  memMiB?: number;
}

export const VM_CACHE = '/var/tmp/cowlog-vm';

function fmt_elapsed(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** Packages the guest run needs, as tool-or-file → Debian package. */
export const GUEST_PACKAGES: Record<string, string> = {
  'qemu-system-x86_64': 'qemu-system-x86',
  cpio: 'cpio',
  [BUSYBOX]: 'busybox-static',
  'mkfs.f2fs': 'f2fs-tools',
};

export async function run_fs_in_guest(g: GuestRunSpec): Promise<RunResult> {
  if (!KERNEL_FS[g.fs]) throw new Error(`no runner for filesystem '${g.fs}'`);
  workload_load(g.workloadPath, g.deviceBytes);
  await packages_ensure({ ...GUEST_PACKAGES, ...KERNEL_FS[g.fs]!.packages }, g.log);
  if (!guest_kernel()) await packages_ensure({ '/nonexistent-kernel-marker': 'linux-image-amd64' }, g.log);
  const kernel = guest_kernel();
  if (!kernel) throw new Error('no kernel with modules under /boot and /lib/modules even after installing linux-image-amd64');
  const ird = await initramfs_build(kernel, VM_CACHE);
  g.log(`${g.fs}: guest kernel ${kernel.version}, initramfs ${ird.cached ? 'reused' : 'built'}: ${ird.path}`);

  const cleanup = new Cleanup(g.log);
  let qemu: ChildProcess | undefined;
  try {
    const scratch = fs.mkdtempSync(path.join(scratch_dir(g.deviceBytes), `cowlog-${g.fs}-vm-`));
    cleanup.push(`remove ${scratch}`, () => fs.rmSync(scratch, { recursive: true, force: true }));
    const image = path.join(scratch, 'device.img');
    image_create(image, g.deviceBytes);
    const share = path.join(scratch, 'share');
    fs.mkdirSync(share);
    fs.copyFileSync(g.workloadPath, path.join(share, 'workload.jsonl'));
    const job: GuestJob = {
      fs: g.fs,
      deviceBytes: g.deviceBytes,
      workload: `${GUEST_SHARE}/workload.jsonl`,
      workloadHostPath: path.resolve(g.workloadPath),
      mkfsOptions: g.mkfsOptions,
      mountOptions: g.mountOptions,
      modprobe: [g.fs],
    };
    fs.writeFileSync(path.join(share, 'job.json'), JSON.stringify(job, null, 2));
    fs.writeFileSync(path.join(share, 'job.sh'), job_script(process.execPath, path.join(repo_root(), 'dist', 'src', 'compare', 'guest_run.js')), { mode: 0o755 });

    const { cmd, args } = qemu_args({ kernel: kernel.vmlinuz, initrd: ird.path, disk: image, share, ...(g.memMiB ? { memMiB: g.memMiB } : {}) });
    g.log(`${g.fs}: booting the guest (TCG, minutes for a long workload): ${cmd} ${args.join(' ')}`);
    const t0 = Date.now();
    const timeoutMs = (g.timeoutMin ?? 60) * 60_000;
    const exited = await new Promise<{ code: number | null; timedOut: boolean; tail: string[] }>((resolve) => {
      const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      qemu = child;
      cleanup.push('kill qemu', () => { if (child.exitCode === null) child.kill('SIGKILL'); });
      const tail: string[] = [];
      let partial = '';
      const take = (d: Buffer): void => {
        // the console carries the firmware's terminal escapes: keep the text only
        const text = (partial + d.toString('utf8')).replace(/\x1b(\[[0-9;?]*[A-Za-z]|c)/g, '').replace(/\r/g, '');
        const lines = text.split('\n');
        partial = lines.pop()!;
        for (const l of lines) {
          if (!l.trim()) continue;
          tail.push(l);
          if (tail.length > 30) tail.shift();
          g.log(`${g.fs} guest | ${l}`);
        }
      };
      child.stdout!.on('data', take);
      child.stderr!.on('data', take);
      let timedOut = false;
      const tick = setInterval(() => g.log(`${g.fs}: guest running for ${fmt_elapsed(Date.now() - t0)}`), 30_000);
      const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
      child.on('close', (code) => { clearInterval(tick); clearTimeout(timer); resolve({ code, timedOut, tail }); });
      child.on('error', (e) => { clearInterval(tick); clearTimeout(timer); tail.push(e.message); resolve({ code: -1, timedOut, tail }); });
    });
    cleanup.drop('kill qemu');
    if (exited.timedOut) throw new Error(`${g.fs}: the guest did not finish within ${g.timeoutMin ?? 60} minutes (killed)`);
    const codeFile = path.join(share, 'exit-code');
    const code = fs.existsSync(codeFile) ? fs.readFileSync(codeFile, 'utf8').trim() : '';
    if (code !== '0') {
      const err = fs.existsSync(path.join(share, 'error.txt')) ? fs.readFileSync(path.join(share, 'error.txt'), 'utf8').trim() : '';
      throw new Error(`${g.fs}: the guest run failed${code ? ` (exit ${code})` : ' (no exit code: it never reached the job)'}${err ? `: ${err}` : ''}\n  last guest lines:\n  ${exited.tail.slice(-10).join('\n  ')}`);
    }
    const from = path.join(share, 'out', g.fs);
    const to = path.join(g.out, g.fs);
    fs.mkdirSync(to, { recursive: true });
    for (const f of fs.readdirSync(from)) fs.copyFileSync(path.join(from, f), path.join(to, f));
    const result = JSON.parse(fs.readFileSync(path.join(to, 'result.json'), 'utf8')) as RunResult;
    // the layout, read again on the host from the image the guest formatted
    if (g.fs === 'f2fs') {
      const st = wear_stats(wear_decode(fs.readFileSync(path.join(to, 'wear.bin')), 'wear.bin').counts);
      if (st.hottestBlock >= 0) result.hottestWhat = f2fs_block_what(image, st.hottestBlock);
      const layout = f2fs_regions(image);
      if (layout) result.layout = layout;
    }
    result.notes = [result.notes, `guest wall time ${fmt_elapsed(Date.now() - t0)}`].filter(Boolean).join('; ');
    fs.writeFileSync(path.join(to, 'result.json'), JSON.stringify(result, null, 2) + '\n');
    g.log(`${g.fs}: guest finished in ${fmt_elapsed(Date.now() - t0)}; results in ${to}`);
    return result;
  } finally {
    if (qemu && qemu.exitCode === null) qemu.kill('SIGKILL');
    await cleanup.run();
  }
}
