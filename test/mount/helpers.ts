// Helpers of the cowlog mount tests: images, the cowlog server under the FUSE harness
// (test/helpers/fusemount.ts: server in a child process, escalating teardown), the command line,
// and the clean-up of background servers started by `cowlog mount`.
//
// Invariants:
// - Every image, loop device, mount and server a test makes is undone by tap's teardown, also
//   when the test fails: background servers are killed by the pid in their state file and their
//   mount is aborted and detached when they do not go by themselves.
// - The test process never touches a mount: everything runs in child processes with time limits.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cmd_run, DIST, fuse_conn_abort, fuse_conn_of, mountinfo_find } from '../helpers/fusemount.js';
import type { FuseMountOptions, Mounted, RunOptions, RunResult } from '../helpers/fusemount.js';
import type { Test } from 'tap';
import { mountinfo_read, pid_alive, state_read } from '../../src/fuse/runtime.js';

export const ROOT = path.join(DIST, '..');
export const COWLOG = path.join(ROOT, 'bin', 'cowlog.js');
export const SOAK = process.env['COWLOG_SOAK'] === '1';

interface Teardown { teardown(fn: () => unknown): void }

/** The system calls' client (test/mount/calls_client.py). */
export const CALLS_CLIENT = path.join(ROOT, 'test/mount/calls_client.py');

/** Runs the calls client in the mount (cwd): its output, trimmed. */
export async function calls_client(m: Mounted, ...args: string[]): Promise<string> {
  const r = await m.run('python3', [CALLS_CLIENT, ...args], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`calls_client ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** statfs through the mount: 4 KiB blocks in use. */
export async function blocks_used(m: Mounted): Promise<number> {
  const r = await m.run('stat', ['-f', '-c', '%b %a', '.']);
  const [blocks, avail] = r.stdout.trim().split(' ').map(Number) as [number, number];
  return blocks - avail;
}

/** A shell script in the mount, under `set -e`, asserted to succeed: its stdout. */
export async function sh_ok(t: Test, m: Mounted, script: string): Promise<string> {
  const r = await m.sh(`set -e\n${script}`);
  t.equal(r.code, 0, 'the script runs', { stderr: r.stderr });
  return r.stdout;
}

/** Runs the cowlog command line in a child process. */
export function cowlog(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return cmd_run(process.execPath, [COWLOG, ...args], { timeoutMs: 120_000, ...opts });
}

/**
 * The requests a mount's server has answered so far, by kind (`cowlog info --stats --json`), and
 * the getxattr requests its binding answered without a handler (src/fuse/noxattr.ts).
 */
export async function requests_served(m: Mounted): Promise<{ requests: Record<string, number>; getxattrBinding: number }> {
  const r = await cowlog(['info', '--stats', '--json', m.mountpoint]);
  if (r.code !== 0) throw new Error(`info --stats: ${r.stderr}`);
  const s = JSON.parse(r.stdout) as { requests: Record<string, number>; binding: { getxattrNone: number } | null };
  return { requests: s.requests, getxattrBinding: s.binding?.getxattrNone ?? 0 };
}

/** A temporary directory removed at the end of the test (after the mounts in it are gone). */
export function tmp_dir(t: Teardown, prefix = 'cowlog-mount-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => {
    // COWLOG_TEST_KEEP=1 keeps images and server logs for a look after a failure
    if (process.env['COWLOG_TEST_KEEP'] === '1') { process.stderr.write(`kept ${dir}\n`); return; }
    // a mount its teardown could not remove stays, with its directory: rm -r would walk into it
    if (mountinfo_read().some((m) => m.mountpoint.startsWith(dir + '/'))) return;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** A freshly formatted image file of `size` (e.g. '64M') in its own temporary directory. */
export async function image_make(t: Teardown, size = '64M', mkfs: string[] = []): Promise<string> {
  const dir = tmp_dir(t, 'cowlog-img-');
  const img = path.join(dir, 'fs.img');
  const r = await cowlog(['mkfs', '-q', '--size', size, ...mkfs, img]);
  if (r.code !== 0) throw new Error(`cowlog mkfs failed: ${r.stderr}`);
  return img;
}

/** The harness server: `cowlog mount -f [extra] IMAGE MNT` (SIGTERM makes it checkpoint and exit). */
export function cowlog_server(image: string, ...extra: string[]): Pick<FuseMountOptions, 'command' | 'args'> {
  return { command: process.execPath, args: [COWLOG, 'mount', '-f', ...extra, image, '{mnt}'] };
}

/** The options of a mount with the kernel's writeback cache. */
export const WRITEBACK: readonly string[] = ['-o', 'writeback_cache'];

/**
 * The two kinds of mount the tests of what the kernel's caches touch run on: the default, and
 * with the kernel's writeback cache (`-o writeback_cache`): a label to add to each test's name,
 * and the options to mount with.
 */
export const MOUNT_KINDS: readonly (readonly [label: string, options: readonly string[]])[] = [
  ['', []],
  [' (-o writeback_cache)', WRITEBACK],
];

/** `cowlog fsck -n`: resolves with its output; the test asserts on the exit code. */
export function fsck(image: string, ...opts: string[]): Promise<RunResult> {
  return cowlog(['fsck', ...opts, image]);
}

/**
 * Registers the teardown of a background mount at `mnt`: `cowlog umount`, and if that fails
 * SIGKILL to its server, abort of the connection and a lazy unmount.
 */
export function daemon_guard(t: Teardown, mnt: string): void {
  t.teardown(async () => {
    const st = state_read(mnt);
    if ((await mountinfo_find(mnt)) !== undefined) await cowlog(['umount', mnt], { timeoutMs: 30_000 });
    if (st !== undefined && pid_alive(st.pid)) {
      try { process.kill(st.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    const m = await mountinfo_find(mnt);
    if (m !== undefined) {
      const c = await fuse_conn_of(m);
      if (c !== undefined) await fuse_conn_abort(c).catch(() => false);
      await cmd_run('fusermount', ['-uz', mnt], { timeoutMs: 5000 });
    }
  });
}

/**
 * A mountpoint directory of our own (for background mounts, which the harness does not make).
 * Not under the harness's prefix: its orphan clean-up would probe these mounts as its own.
 */
export function mountpoint_make(t: Teardown): string {
  const dir = tmp_dir(t, 'cowlog-mnt-');
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(mnt);
  return mnt;
}

/** Waits until `pred` holds, polling; false after `ms`. */
export async function until(pred: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await pred()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Tears a mount down by SIGTERM alone (the server unmounts and exits by itself), then fsck -n is clean. */
export async function clean_after(t: Test, m: Mounted, image: string): Promise<void> {
  const rep = await m.teardown();
  t.ok(rep.clean && rep.steps.join() === 'SIGTERM', `the server unmounted and exited on SIGTERM (${rep.steps.join(', ')})`, { stderr: m.stderr().split('\n').slice(-12).join('\n') });
  const f = await fsck(image, '-n');
  t.equal(f.code, 0, 'fsck: clean', { stdout: f.stdout, stderr: f.stderr });
}
