// System plumbing for the comparison runners: commands, scratch space, images, loop devices,
// mounts, and a cleanup scope that undoes them on failure and on Ctrl-C.
//
// Invariants:
// - every loop device attached and every mount made through a Cleanup is detached/unmounted
//   when the scope ends, whether the run succeeded, threw, or the process got SIGINT/SIGTERM/
//   SIGHUP (the main thread never blocks for long: replays run in a worker, so signal handlers
//   get to run);
// - scratch images never go on a tmpfs (a 64 MiB image per run would eat memory) nor on a
//   filesystem without room for them.

import fs from 'node:fs';
import path from 'node:path';
import { execFile, spawnSync } from 'node:child_process';

export class CommandError extends Error {
  constructor(readonly cmd: string, readonly code: number | null, readonly stderr: string) {
    super(`${cmd} failed${code !== null ? ` (exit ${code})` : ''}${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' / ')}` : ''}`);
    this.name = 'CommandError';
  }
}

/**
 * Writes out what is dirty, then drops the kernel's page cache, dentries and inodes (root only):
 * what comes next starts cold in the kernel, loop devices included.
 */
export async function caches_drop(): Promise<void> {
  await run('sync', []);
  await fs.promises.writeFile('/proc/sys/vm/drop_caches', '3');
}

/** Runs a command to completion; rejects with its stderr on a non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? 0, env: opts.env ?? process.env, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const code = typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null;
        reject(new CommandError([cmd, ...args].join(' '), code, stderr || err.message));
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

/** True when `tool` is on PATH (or /sbin, /usr/sbin). */
export function tool_exists(tool: string): boolean {
  const dirs = (process.env['PATH'] ?? '').split(':').concat(['/sbin', '/usr/sbin', '/usr/local/sbin']);
  return dirs.some((d) => { try { fs.accessSync(path.join(d, tool), fs.constants.X_OK); return true; } catch { return false; } });
}

/** The repository root (the compiled file lives in dist/src/compare/). */
export function repo_root(): string {
  return path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..');
}

/** Installs Debian packages through the project's script when a tool is missing. */
export async function packages_ensure(tools: Record<string, string>, log: (s: string) => void): Promise<void> {
  const missing = Object.entries(tools).filter(([t]) => !(t.startsWith('/') ? fs.existsSync(t) : tool_exists(t))).map(([, p]) => p);
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing)];
  log(`installing Debian packages: ${pkgs.join(' ')} (first use only)`);
  await run('bash', [path.join(repo_root(), 'tools', 'ensure-packages.sh'), ...pkgs]);
}

const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;

/** A directory for scratch images with room for `bytes` (and some to spare), not on a tmpfs. */
export function scratch_dir(bytes: number): string {
  const tried: string[] = [];
  for (const d of [process.env['COWLOG_SCRATCH'], '/var/tmp', '/tmp'].filter((x): x is string => !!x)) {
    let st: fs.StatsFs;
    try { st = fs.statfsSync(d); } catch { continue; }
    const free = st.bavail * st.bsize;
    if (st.type === TMPFS_MAGIC || st.type === RAMFS_MAGIC) { tried.push(`${d} is a tmpfs`); continue; }
    if (free < bytes * 2 + 256 * 1024 * 1024) { tried.push(`${d} has only ${Math.floor(free / 1048576)} MiB free`); continue; }
    return d;
  }
  throw new Error(`no place for a ${bytes}-byte scratch image (${tried.join('; ')}); set COWLOG_SCRATCH to a directory on a disk`);
}

/** A sparse image file of exactly `bytes`. */
export function image_create(file: string, bytes: number): void {
  // ftruncate takes a negative size (an int32 overflow such as 2 << 30) as 0: an empty image
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`image ${file}: size ${bytes} bytes is not a positive whole number`);
  const fd = fs.openSync(file, 'w');
  try { fs.ftruncateSync(fd, bytes); } finally { fs.closeSync(fd); }
}

export async function loop_attach(image: string): Promise<string> {
  const { stdout } = await run('losetup', ['--find', '--show', image]);
  const dev = stdout.trim();
  if (!/^\/dev\/loop\d+$/.test(dev)) throw new Error(`losetup printed '${dev}', not a loop device`);
  return dev;
}

/** Loop devices currently backed by `image`. */
export function loops_of(image: string): string[] {
  const r = spawnSync('losetup', ['-j', image], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n').map((l) => l.split(':')[0]!).filter((d) => d.startsWith('/dev/loop'));
}

export function loop_detach_sync(dev: string): void {
  for (let i = 0; i < 20; i++) {
    const r = spawnSync('losetup', ['-d', dev], { encoding: 'utf8' });
    if (r.status === 0 || /No such device|not a block device|No such device or address/.test(r.stderr ?? '')) return;
    sleep_sync(100);
  }
}

/** Mountpoints (from /proc/self/mountinfo, which never blocks), with their sources. */
export function mounts(): Array<{ mountpoint: string; source: string; fstype: string }> {
  const out: Array<{ mountpoint: string; source: string; fstype: string }> = [];
  const unescape = (s: string): string => s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const parts = line.split(' ');
    const dash = parts.indexOf('-');
    if (dash < 0) continue;
    out.push({ mountpoint: unescape(parts[4]!), fstype: parts[dash + 1]!, source: unescape(parts[dash + 2]!) });
  }
  return out;
}

export function is_mounted(mnt: string): boolean {
  const abs = path.resolve(mnt);
  return mounts().some((m) => m.mountpoint === abs);
}

/** Unmounts, escalating to a lazy unmount; never throws. */
export function umount_sync(mnt: string): void {
  if (!is_mounted(mnt)) return;
  for (let i = 0; i < 10 && is_mounted(mnt); i++) {
    spawnSync('umount', [mnt]);
    if (is_mounted(mnt)) sleep_sync(200);
  }
  if (is_mounted(mnt)) spawnSync('umount', ['-l', mnt]);
}

export function sleep_sync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

type Undo = { what: string; fn: () => void | Promise<void> };
const scopes = new Set<Cleanup>();
let signalsInstalled = false;

function signals_install(): void {
  if (signalsInstalled) return;
  signalsInstalled = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\ncowlog: ${sig}: cleaning up (unmounting, detaching loop devices)\n`);
      void Promise.all([...scopes].map((s) => s.run())).finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
    });
  }
}

/**
 * A stack of undo actions. Each runner makes one, pushes an undo for every resource it takes,
 * and calls run() in a finally block; a signal runs every live scope.
 */
export class Cleanup {
  private undos: Undo[] = [];
  private running: Promise<void> | undefined;

  constructor(private readonly log: (s: string) => void = () => {}) {
    signals_install();
    scopes.add(this);
  }

  push(what: string, fn: () => void | Promise<void>): void { this.undos.push({ what, fn }); }

  /** Drops an undo whose resource was released normally. */
  drop(what: string): void { this.undos = this.undos.filter((u) => u.what !== what); }

  run(): Promise<void> {
    this.running ??= (async () => {
      while (this.undos.length) {
        const u = this.undos.pop()!;
        try {
          await u.fn();
        } catch (e) {
          this.log(`cleanup: ${u.what} failed: ${(e as Error).message}`);
        }
      }
      scopes.delete(this);
    })();
    return this.running;
  }
}
