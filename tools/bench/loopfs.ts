// Filesystems on fresh loop devices for the benchmarks (bench-fuse, bench-fsync): a sparse image
// in the scratch directory, attached with `losetup -f --show`, made and mounted; every step
// registers its undo with the caller's Cleanup, so an error or Ctrl-C leaves nothing behind.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cleanup, image_create, is_mounted, loop_attach, loop_detach_sync, repo_root, run, umount_sync } from '../../src/compare/sys.js';

export const COWLOG = path.join(repo_root(), 'bin', 'cowlog.js');

/** A loop device over a new sparse image `name`.img of `bytes` in `scratch`. */
export async function loop_new(scratch: string, name: string, bytes: number, cleanup: Cleanup): Promise<string> {
  const img = path.join(scratch, `${name}.img`);
  image_create(img, bytes);
  cleanup.push(`rm ${img}`, () => fs.rmSync(img, { force: true }));
  const dev = await loop_attach(img);
  cleanup.push(`detach ${dev}`, () => loop_detach_sync(dev));
  return dev;
}

/** A fresh mountpoint directory in `scratch`, removed when nothing is mounted on it any more. */
export function mountpoint_new(scratch: string, name: string, cleanup: Cleanup): string {
  const mnt = fs.mkdtempSync(path.join(scratch, `mnt-${name}-`));
  cleanup.push(`rmdir ${mnt}`, () => { if (!is_mounted(mnt)) fs.rmSync(mnt, { recursive: true, force: true }); });
  return mnt;
}

function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}

/**
 * Mounts nullfs at `mnt` with cowlog's FUSE options (tools/bench/fuse_ceiling.ts; `defaults`:
 * libfuse's own; `xattrs` false: without extended attributes) and resolves once it serves; the
 * cleanup stops it.
 */
export async function ceiling_mount(mnt: string, cleanup: Cleanup, defaults = false, xattrs = true): Promise<void> {
  const args = [path.join(repo_root(), 'dist', 'tools/bench/fuse_ceiling.js'), mnt, ...(defaults ? ['--fuse-defaults'] : []), ...(xattrs ? [] : ['--no-xattr'])];
  const srv = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  srv.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  cleanup.push(`stop the ceiling at ${mnt}`, async () => {
    if (srv.exitCode === null) srv.kill('SIGTERM');
    for (let i = 0; i < 100 && srv.exitCode === null && srv.signalCode === null; i++) await sleep(50);
    if (is_mounted(mnt)) await run('fusermount', ['-uz', mnt]).catch(() => {});
  });
  for (let i = 0; !/serving/.test(err); i++) {
    if (i > 400 || srv.exitCode !== null) throw new Error(`the ceiling server did not mount: ${err}`);
    await sleep(25);
  }
}

/**
 * Makes `fstype` on `dev` and mounts it at `mnt`: cowlog (with the build at `bin`, its log in
 * `scratch`, `options` added to its -o list) or ext4. The cleanup unmounts it.
 */
export async function fs_make_mount(fstype: 'cowlog' | 'ext4', dev: string, mnt: string, scratch: string, cleanup: Cleanup, bin = COWLOG, options: string[] = []): Promise<void> {
  if (fstype === 'cowlog') {
    await run(process.execPath, [bin, 'mkfs', '-q', dev]);
    await run(process.execPath, [bin, 'mount', '-o', [`log=${path.join(scratch, `cowlog-${path.basename(mnt)}.log`)}`, ...options].join(','), dev, mnt]);
    cleanup.push(`umount ${mnt}`, async () => {
      await run(process.execPath, [bin, 'umount', mnt], { timeoutMs: 120_000 }).catch(() => {});
      if (is_mounted(mnt)) await run('fusermount', ['-uz', mnt]).catch(() => {});
    });
    return;
  }
  await run('mkfs.ext4', ['-q', '-F', dev]);
  await run('mount', [dev, mnt]);
  cleanup.push(`umount ${mnt}`, () => umount_sync(mnt));
}

/**
 * The kernel's fuse.wake_here parameter, on kernels that have it (this machine's 6.18 build;
 * not mainline Linux): Y wakes a FUSE server or client on the CPU of the task that woke it
 * (docs/FUSE.md). A setting of the whole machine, so benchmarks only set it when asked.
 */
export const WAKE_HERE = '/sys/module/fuse/parameters/wake_here';

/** fuse.wake_here now (Y or N), or null on a kernel without it. */
export function wake_here_read(): string | null {
  try {
    return fs.readFileSync(WAKE_HERE, 'latin1').trim();
  } catch {
    return null;
  }
}

/** A --wake-here value: Y or N, on a kernel that has the parameter. */
export function wake_here_parse(v: string): 'Y' | 'N' {
  const w = v.toUpperCase();
  if (w !== 'Y' && w !== 'N') throw new Error(`--wake-here takes Y or N, not '${v}'`);
  if (wake_here_read() === null) throw new Error(`--wake-here: this kernel has no ${WAKE_HERE}`);
  return w;
}

/**
 * Sets fuse.wake_here to `want` for the run (the cleanup puts the old value back); undefined
 * leaves it. Answers the setting the run has (null: the kernel has none).
 */
export function wake_here_set(want: 'Y' | 'N' | undefined, cleanup: Cleanup): string | null {
  const was = wake_here_read();
  if (want !== undefined && was !== null && was !== want) {
    fs.writeFileSync(WAKE_HERE, want);
    cleanup.push(`fuse.wake_here back to ${was}`, () => fs.writeFileSync(WAKE_HERE, was));
  }
  return wake_here_read();
}

/** The kernel a run had, as the benchmarks print it: its release, and fuse.wake_here if it has one. */
export function kernel_said(wakeHere: string | null): string {
  return `kernel ${os.release()}${wakeHere === null ? '' : `, fuse.wake_here=${wakeHere}`}`;
}

/** Runs a command with its output thrown away; resolves with the seconds it took. */
export function timed(cmd: string, args: string[]): Promise<number> {
  return new Promise((ok, fail) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('close', (code) => (code === 0 ? ok((performance.now() - t0) / 1000) : fail(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err.trim()}`))));
  });
}
