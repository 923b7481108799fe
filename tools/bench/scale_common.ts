// What bench-scale (scale.ts) and bench-scale-tree (scale_tree.ts) both do: time a step, read a
// mount's server memory, run fsck -n on an image, and unmount on the way out.

import fs from 'node:fs';
import { is_mounted, run } from '../../src/compare/sys.js';
import type { Cleanup } from '../../src/compare/sys.js';
import { proc_status_bytes } from '../../src/util/memory.js';
import { COWLOG } from './loopfs.js';

export const HOUR = 3_600_000;

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; v: T }> {
  const t0 = performance.now();
  const v = await fn();
  return { ms: performance.now() - t0, v };
}

/** A mount's server as `cowlog info --stats --json` reports it, with its VmRSS and peak (VmHWM) from /proc. */
export async function server_memory_read(mnt: string): Promise<{ pid: number; memory: Record<string, number>; rss: number; peak: number }> {
  const { stdout } = await run(process.execPath, [COWLOG, 'info', '--stats', '--json', mnt]);
  const j = JSON.parse(stdout) as { pid: number; memory: Record<string, number> };
  return { pid: j.pid, memory: j.memory, rss: proc_status_bytes(['VmRSS'], j.pid), peak: proc_status_bytes(['VmHWM'], j.pid) };
}

/**
 * Seconds of CPU a process has used, all its threads (the server's write-behind thread and V8's
 * helpers too) and the kernel's work on its behalf: utime + stime of /proc/PID/stat, in the
 * kernel's clock ticks of 1/100 s.
 */
export function process_cpu_s(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // "pid (comm) S ppid ...": utime and stime are the 12th and 13th fields after the state
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** `cowlog fsck -n` of `img`, timed; throws if it found errors (`what` names the image). */
export async function fsck_timed(img: string, what: string): Promise<{ ms: number; inodes: number; peak: number }> {
  const f = await timed(() => run(process.execPath, [COWLOG, 'fsck', '-n', '--json', img], { timeoutMs: 24 * HOUR }));
  const fj = JSON.parse(f.v.stdout) as { errors: string[]; counts: { inodes: number }; maxRssBytes: number };
  if (fj.errors.length) throw new Error(`fsck of ${what} found errors: ${fj.errors.slice(0, 3).join('; ')}`);
  return { ms: f.ms, inodes: fj.counts.inodes, peak: fj.maxRssBytes };
}

/** Registers with `cleanup` the unmount of `mnt`, if it is still mounted then (lazily, if cowlog umount fails). */
export function umount_undo(cleanup: Cleanup, mnt: string): void {
  cleanup.push(`umount ${mnt}`, async () => { if (is_mounted(mnt)) await run(process.execPath, [COWLOG, 'umount', mnt], { timeoutMs: HOUR }).catch(() => run('fusermount', ['-uz', mnt])); });
}

/** The line saying whether fsck met its goal, a million inodes under a minute, at the rate it ran (`where`: of what). */
export function fsck_goal(ms: number, inodes: number, where: string): string {
  const perMillion = (ms / 1000) * (1e6 / Math.max(1, inodes));
  return `${perMillion < 60 ? 'met' : 'MISSED'}: fsck of ${inodes} inodes${where} in ${(ms / 1000).toFixed(1)} s (goal: a million under a minute: ${perMillion.toFixed(1)} s at this rate)`;
}
