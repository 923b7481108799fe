// Where running cowlog servers are found, and how a dead one's leftovers are cleaned up.
//
// A server keeps, in the run directory (/run/cowlog for root):
//   m-<hash of the mountpoint>.json   its ServerState: pid, device, mountpoint, log, wear...
//   m-<hash of the mountpoint>.sock   its control socket (control.ts)
//   d-<hash of the device>.lock       the device claim: the pid of the server holding it
// so `cowlog umount MOUNTPOINT` finds its server from the mountpoint alone, and a second
// `cowlog mount` of the same device (image file, loop device or the loop device's backing
// file) is refused while the first server lives.
//
// Invariants:
// - A claim is taken with O_EXCL: of two servers starting on one device at the same moment,
//   one gets it. A claim whose pid is dead is stale and may be taken over.
// - Nothing here touches a mountpoint synchronously: whether a mount answers is asked of a
//   child process (`stat -f`) with a time limit, so a dead or hung mount never hangs the caller.
// - A stale mount is one whose server is gone: its connection is aborted (fusectl) and the
//   mount detached (fusermount -uz), so callers blocked on it get errors instead of hanging.

import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { devt_decode } from '../device/file.js';
import { mountinfo_unescape } from './binding.js';

const FUSECTL = '/sys/fs/fuse/connections';

/** The directory of server state: $COWLOG_RUN_DIR, /run/cowlog for root, else per user. */
export function run_dir(): string {
  const env = process.env['COWLOG_RUN_DIR'];
  if (env) return env;
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return '/run/cowlog';
  const xdg = process.env['XDG_RUNTIME_DIR'];
  return xdg ? path.join(xdg, 'cowlog') : `/tmp/cowlog-${uid}`;
}

function hash16(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 16);
}

export function state_path(mountpoint: string): string {
  return path.join(run_dir(), `m-${hash16(path.resolve(mountpoint))}.json`);
}

export function socket_path(mountpoint: string): string {
  return path.join(run_dir(), `m-${hash16(path.resolve(mountpoint))}.sock`);
}

/** What a running server records about itself. */
export interface ServerState {
  pid: number;
  device: string;
  mountpoint: string;
  socket: string;
  log: string;
  wear: string | null;
  readOnly: boolean;
  fsname: string;
  startedAt: string;
}

/** Whether a process exists and has not exited (a zombie waiting to be reaped has). */
export function pid_alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // "pid (comm) S ...": the state follows the last ')'
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export function state_write(st: ServerState): void {
  fs.mkdirSync(run_dir(), { recursive: true, mode: 0o755 });
  const file = state_path(st.mountpoint);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(st, null, 2) + '\n', { mode: 0o644 });
  fs.renameSync(tmp, file);
}

export function state_read(mountpoint: string): ServerState | undefined {
  try {
    return JSON.parse(fs.readFileSync(state_path(mountpoint), 'utf8')) as ServerState;
  } catch {
    return undefined;
  }
}

/** Removes the state and socket of `mountpoint`, but only if they are `pid`'s (or any, without pid). */
export function state_remove(mountpoint: string, pid?: number): void {
  const st = state_read(mountpoint);
  if (pid !== undefined && st !== undefined && st.pid !== pid) return;
  for (const f of [state_path(mountpoint), socket_path(mountpoint)]) {
    try { fs.unlinkSync(f); } catch { /* already gone */ }
  }
}

/**
 * Removes what servers killed without a chance to clean up left behind: states and claims of
 * dead pids, whose mountpoints are no longer mounted (a still-listed dead mount is
 * mountpoint_stale_clean's to remove, with its state).
 */
export function states_sweep(): void {
  let names: string[];
  try {
    names = fs.readdirSync(run_dir());
  } catch {
    return;
  }
  const mounted = new Set(mountinfo_read().map((m) => m.mountpoint));
  for (const name of names) {
    const file = path.join(run_dir(), name);
    try {
      if (name.startsWith('m-') && name.endsWith('.json')) {
        const st = JSON.parse(fs.readFileSync(file, 'utf8')) as ServerState;
        if (!pid_alive(st.pid) && !mounted.has(st.mountpoint)) state_remove(st.mountpoint, st.pid);
      } else if (name.startsWith('d-') && name.endsWith('.lock')) {
        const c = claim_read(file);
        if (c !== undefined && !pid_alive(c.pid)) fs.rmSync(file, { force: true });
      }
    } catch {
      // another server is writing or removing it
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Device claims

/**
 * Names of what a device path is, for the claim: the block device's number, the image file's
 * inode, and for a loop device also its backing file's inode (mounting /dev/loop0 and its image
 * at once would be two writers on one medium).
 */
export function device_ids(device: string): string[] {
  const st = fs.statSync(device, { bigint: true });
  if (st.isFile()) return [`file:${st.dev}:${st.ino}`];
  if (!st.isBlockDevice()) return [`path:${path.resolve(device)}`];
  const { major, minor } = devt_decode(st.rdev);
  const ids = [`block:${major}:${minor}`];
  try {
    const backing = fs.readFileSync(`/sys/dev/block/${major}:${minor}/loop/backing_file`, 'utf8').trim();
    const b = fs.statSync(backing, { bigint: true });
    ids.push(`file:${b.dev}:${b.ino}`);
  } catch {
    // not a loop device, or its backing file is gone
  }
  return ids;
}

function claim_path(id: string): string {
  return path.join(run_dir(), `d-${hash16(id)}.lock`);
}

export interface ClaimHolder {
  pid: number;
  mountpoint: string;
  /** the server is stopping: its mount is gone, it writes its last checkpoint and exits */
  stopping?: boolean;
}

function claim_read(file: string): ClaimHolder | undefined {
  try {
    const c = JSON.parse(fs.readFileSync(file, 'utf8')) as ClaimHolder;
    return typeof c.pid === 'number' ? c : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Claims every id of the device for this process. Resolves with the live holder if another
 * server has one of them; takes over claims whose holder is dead.
 */
export function device_claim(ids: string[], mountpoint: string): ClaimHolder | undefined {
  fs.mkdirSync(run_dir(), { recursive: true, mode: 0o755 });
  const taken: string[] = [];
  const me = JSON.stringify({ pid: process.pid, mountpoint });
  for (const id of ids) {
    const file = claim_path(id);
    for (let attempt = 0; ; attempt++) {
      try {
        fs.writeFileSync(file, me, { flag: 'wx', mode: 0o644 });
        taken.push(file);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 3) throw e;
        const holder = claim_read(file);
        if (holder !== undefined && holder.pid !== process.pid && pid_alive(holder.pid)) {
          for (const f of taken) fs.rmSync(f, { force: true });
          return holder;
        }
        fs.rmSync(file, { force: true }); // stale: its server died
      }
    }
  }
  return undefined;
}

/**
 * Marks this process's claims as stopping: a `cowlog mount` of the device that comes now waits
 * for the release (device_claim_wait) instead of failing.
 */
export function device_claim_stopping(ids: string[]): void {
  for (const id of ids) {
    const file = claim_path(id);
    const c = claim_read(file);
    if (c?.pid !== process.pid) continue;
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ ...c, stopping: true }), { mode: 0o644 });
    fs.renameSync(tmp, file);
  }
}

/** How long a new server waits for the previous server of its device to finish stopping. */
export const CLAIM_WAIT_MS = 15_000;

/**
 * device_claim(), waiting while the holder is on its way out. umount(8) returns as soon as the
 * kernel has let go of the mount, while its server is still writing the final checkpoint
 * (usually for a few milliseconds): a `cowlog mount` right after it — a script, a boot, an A/B
 * switch — waits for that server to release the device, for at most `waitMs`. A holder whose
 * mount is live is answered at once. Resolves with the holder that is still there, if any, and
 * whether it was seen stopping.
 */
export async function device_claim_wait(ids: string[], mountpoint: string, waitMs = CLAIM_WAIT_MS): Promise<{ holder: ClaimHolder | undefined; waitedMs: number }> {
  const t0 = Date.now();
  for (;;) {
    const holder = device_claim(ids, mountpoint);
    const waitedMs = Date.now() - t0;
    if (holder === undefined) return { holder, waitedMs };
    // its mount is live (and it is not stopping): it is really mounted there
    const live = !holder.stopping && mount_find(holder.mountpoint)?.fstype.startsWith('fuse') === true;
    if (live || waitedMs >= waitMs) return { holder, waitedMs };
    await new Promise((ok) => setTimeout(ok, 5));
  }
}

export function device_release(ids: string[]): void {
  for (const id of ids) {
    const file = claim_path(id);
    if (claim_read(file)?.pid === process.pid) fs.rmSync(file, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Mounts

export interface MountEntry {
  mountpoint: string;
  fstype: string;
  source: string;
  major: number;
  minor: number;
}

/** /proc/self/mountinfo, which never blocks on a hung filesystem. */
export function mountinfo_read(): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (dash < 6) continue;
    const [major, minor] = (f[2] ?? '').split(':').map(Number);
    out.push({
      mountpoint: mountinfo_unescape(f[4]!),
      fstype: f[dash + 1] ?? '',
      source: mountinfo_unescape(f[dash + 2] ?? ''),
      major: major ?? 0,
      minor: minor ?? 0,
    });
  }
  return out;
}

/**
 * How far the kernel reads ahead in a file of the mount, in KiB. The kernel starts a FUSE mount
 * at 128 KiB, one request of fuse-native's largest size, so a sequential reader has a single
 * request in flight and waits a round trip for each; 1 MiB keeps several in flight (cowlog reads
 * their blocks from the device in parallel). ext4 reads ahead as far as its device: 128 KiB
 * to a few MiB.
 */
export const FUSE_READAHEAD_KB = 1024;

/**
 * Sets the read-ahead of the mount at `mountpoint` (its backing-device info in sysfs; needs
 * root). Reads /proc/self/mountinfo and sysfs only, never the mount. Returns why it could not,
 * or null.
 */
export function fuse_readahead_set(mountpoint: string, kb = FUSE_READAHEAD_KB): string | null {
  const m = mount_find(mountpoint);
  if (m === undefined) return `${mountpoint} is not in /proc/self/mountinfo`;
  const file = `/sys/class/bdi/${m.major}:${m.minor}/read_ahead_kb`;
  try {
    fs.writeFileSync(file, `${kb}\n`);
    return null;
  } catch (e) {
    return `${file}: ${(e as Error).message}`;
  }
}

/** The topmost mount at `mountpoint`, if any. */
export function mount_find(mountpoint: string): MountEntry | undefined {
  const abs = path.resolve(mountpoint);
  return mountinfo_read().filter((m) => m.mountpoint === abs).pop();
}

export interface CmdResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a command in a child process with a time limit; never rejects. */
export function cmd(file: string, args: string[], timeoutMs = 10_000): Promise<CmdResult> {
  return new Promise((ok) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string }) | null;
      const code = e === null ? 0 : typeof e.code === 'number' ? e.code : null;
      ok({ code, stdout, stderr: stderr || (e !== null && code === null ? e.message : ''), timedOut: e?.killed === true });
    });
  });
}

/**
 * Whether a listed FUSE mount has lost its server: statfs (never answered from the kernel's
 * caches) from a child says "Transport endpoint is not connected", or does not answer in time
 * when `hungIsDead`.
 */
export async function mount_dead(mountpoint: string, hungIsDead = false): Promise<boolean> {
  const r = await cmd('stat', ['-f', '-c', '%t', mountpoint], 3000);
  if (/Transport endpoint is not connected|Software caused connection abort/.test(r.stderr)) return true;
  return hungIsDead && r.timedOut;
}

async function fusectl_ensure(): Promise<boolean> {
  if (mountinfo_read().some((m) => m.fstype === 'fusectl')) return true;
  return (await cmd('mount', ['-t', 'fusectl', 'none', FUSECTL], 5000)).code === 0;
}

/**
 * Removes a FUSE mount whose server is gone: aborts its connection (so nothing stays blocked
 * on it), detaches it, and drops the state files of the mountpoint. Resolves with what it did.
 */
export async function mount_stale_remove(m: MountEntry): Promise<string[]> {
  const did: string[] = [];
  const id = m.major * 2 ** 20 + m.minor;
  if (await fusectl_ensure()) {
    try {
      fs.writeFileSync(path.join(FUSECTL, String(id), 'abort'), '1');
      did.push(`aborted FUSE connection ${id}`);
    } catch {
      // already closed
    }
  }
  let r = await cmd('fusermount', ['-uz', m.mountpoint], 5000);
  if (r.code !== 0) r = await cmd('umount', ['-l', m.mountpoint], 5000);
  if (mount_find(m.mountpoint) === undefined) did.push(`detached ${m.mountpoint}`);
  else throw new Error(`${m.mountpoint}: could not detach the stale mount: ${r.stderr.trim()}`);
  state_remove(m.mountpoint);
  return did;
}

/**
 * If `mountpoint` holds a FUSE mount whose server is dead (by its state file, or by statfs),
 * removes it. Resolves with what was done (empty when there was nothing stale).
 */
export async function mountpoint_stale_clean(mountpoint: string): Promise<string[]> {
  const m = mount_find(mountpoint);
  const st = state_read(mountpoint);
  if (m === undefined || !m.fstype.startsWith('fuse')) {
    if (st !== undefined && !pid_alive(st.pid)) state_remove(mountpoint);
    return [];
  }
  const serverGone = st !== undefined && !pid_alive(st.pid);
  if (!serverGone && !(await mount_dead(m.mountpoint))) return [];
  return mount_stale_remove(m);
}
