// The harness every FUSE test uses: a filesystem server runs in a CHILD process (serving and
// touching a mount from one process deadlocks), the test talks to the mount through other child
// processes, and teardown always leaves the machine clean.
//
// Invariants:
// - fuse_mount() resolves only once the mountpoint is listed in /proc/self/mountinfo; on a
//   timeout or an early exit of the server it rejects with the server's stderr, after tearing down.
// - The test process itself never touches the mount: it runs clients (mount.run) with a time
//   limit, and learns the mount's state from /proc/self/mountinfo, which never blocks.
// - fuse_teardown() escalates until the mount is gone and its connection closed: SIGTERM to the
//   server, fusermount -u, SIGKILL to the server's process group, fusermount -uz, and last
//   `echo 1 > /sys/fs/fuse/connections/N/abort`. It never throws; it reports the steps it took.
// - mount_with(t, ...) registers the teardown with tap, so it runs even when the test fails.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { access, mkdtemp, readFile, rmdir, stat, writeFile } from 'node:fs/promises';
import { constants as fs_constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled tree's root (dist/), found from this file's place in dist/test/helpers/. */
export const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/**
 * Mountpoints this harness makes start with this, then the pid of the process that made them
 * and a dash: mounts_stale_clean looks for them, and leaves alone those of a live harness.
 */
export const MOUNT_PREFIX = join(tmpdir(), 'cowlog-fuse-');
const FUSECTL = '/sys/fs/fuse/connections';

/** Why FUSE tests can not run here, or undefined when they can. */
export async function fuse_unavailable(): Promise<string | undefined> {
  try {
    await access('/dev/fuse', fs_constants.R_OK | fs_constants.W_OK);
  } catch {
    return '/dev/fuse is absent or not usable: this machine can not mount FUSE filesystems';
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// /proc/self/mountinfo

export interface MountInfo {
  mountpoint: string;
  fstype: string;
  source: string;
  /** the superblock's device number: fusectl names the connection directory after it */
  major: number;
  minor: number;
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export async function mountinfo_read(): Promise<MountInfo[]> {
  const out: MountInfo[] = [];
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (dash < 6) continue;
    const [major, minor] = (f[2] ?? '').split(':').map(Number);
    out.push({
      mountpoint: unescape(f[4]!),
      fstype: f[dash + 1] ?? '',
      source: unescape(f[dash + 2] ?? ''),
      major: major ?? 0,
      minor: minor ?? 0,
    });
  }
  return out;
}

export async function mountinfo_find(mountpoint: string): Promise<MountInfo | undefined> {
  const all = await mountinfo_read();
  // the last entry wins: it is the one on top if several are stacked
  return all.filter((m) => m.mountpoint === mountpoint).pop();
}

/** fusectl's directory name for a mount: the kernel's dev_t (MKDEV: major << 20 | minor). */
export function fuse_conn_id(m: MountInfo): number {
  return m.major * 2 ** 20 + m.minor;
}

/**
 * One FUSE connection, named by its fusectl directory and that directory's inode number. The
 * number alone is not enough: it is freed when the superblock dies and the next mount may get
 * it at once, so a directory of that name may be another mount's. fusectl gives every new
 * directory a new inode number, so (id, dirIno) names one connection for good.
 */
export interface FuseConn {
  id: number;
  dirIno: number;
}

/** The connection of a mount that is listed now, or undefined if fusectl does not show it. */
export async function fuse_conn_of(m: MountInfo): Promise<FuseConn | undefined> {
  const id = fuse_conn_id(m);
  try {
    return { id, dirIno: (await stat(join(FUSECTL, String(id)))).ino };
  } catch {
    return undefined;
  }
}

/** Whether that very connection still exists (its superblock is alive). */
export async function fuse_conn_alive(c: FuseConn): Promise<boolean> {
  try {
    return (await stat(join(FUSECTL, String(c.id)))).ino === c.dirIno;
  } catch {
    return false;
  }
}

/** Aborts the connection if it still exists: every request waiting on it fails with ECONNABORTED. */
export async function fuse_conn_abort(c: FuseConn): Promise<boolean> {
  if (!(await fuse_conn_alive(c))) return false;
  await writeFile(join(FUSECTL, String(c.id), 'abort'), '1');
  return true;
}

/** Makes sure fusectl is mounted so that connections can be aborted (systemd does this at boot). */
export async function fusectl_ensure(): Promise<boolean> {
  const all = await mountinfo_read();
  if (all.some((m) => m.fstype === 'fusectl')) return true;
  const r = await cmd_run('mount', ['-t', 'fusectl', 'none', FUSECTL], { timeoutMs: 5000 });
  return r.code === 0;
}

// ---------------------------------------------------------------------------------------------
// Running commands (never synchronously: a hung mount must not hang the test process)

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  timeoutMs?: number;
  cwd?: string;
  input?: string;
  env?: NodeJS.ProcessEnv;
}

/** Runs a command in a child process; resolves with its outcome, killing it at the time limit. */
export function cmd_run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((ok) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? '/',
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '', stderr = '', timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, opts.timeoutMs ?? 20_000);
    child.on('error', (e) => { stderr += String(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      ok({ code, signal, stdout, stderr, timedOut });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** The argument vector that runs `cmd args` as another user (setpriv, no supplementary groups). */
export function as_user(uid: number, gid: number, cmd: string, args: string[]): [string, string[]] {
  return ['setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', cmd, ...args]];
}

function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function exit_wait(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((ok) => {
    const timer = setTimeout(() => { child.off('exit', on_exit); ok(false); }, ms);
    const on_exit = (): void => { clearTimeout(timer); ok(true); };
    child.once('exit', on_exit);
  });
}

async function unmounted_wait(mountpoint: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if ((await mountinfo_find(mountpoint)) === undefined) return true;
    if (Date.now() >= end) return false;
    await sleep(25);
  }
}

// ---------------------------------------------------------------------------------------------
// Mounting

export interface FuseMountOptions {
  /** the server: argv[0] and its arguments; the literal '{mnt}' in args becomes the mountpoint */
  command: string;
  args: string[];
  /** where to mount (created if missing); default: a fresh directory under MOUNT_PREFIX */
  mountpoint?: string;
  /** how long the mount may take to appear (default 15 s) */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface TeardownReport {
  /** the steps that were needed, in order */
  steps: string[];
  /** true when the mount is gone and the server has exited */
  clean: boolean;
  /** what did not work (the report never throws) */
  problems: string[];
}

export interface Mounted {
  readonly mountpoint: string;
  readonly server: ChildProcess;
  readonly info: MountInfo;
  /** the kernel connection (undefined only if fusectl could not be mounted) */
  readonly conn: FuseConn | undefined;
  /** everything the server wrote on stderr so far */
  stderr(): string;
  /** a path inside the mount */
  path(rel: string): string;
  /** runs a client command (its cwd is the mountpoint unless given) */
  run(cmd: string, args: string[], opts?: RunOptions): Promise<RunResult>;
  /** runs `sh -c script` in the mountpoint */
  sh(script: string, opts?: RunOptions): Promise<RunResult>;
  /** whether the mount is still listed in /proc/self/mountinfo */
  mounted(): Promise<boolean>;
  /** the escalating teardown; safe to call more than once */
  teardown(): Promise<TeardownReport>;
}

let stale_cleaned = false;

/** Starts the server in a child process and resolves once its mount appears. */
export async function fuse_mount(opts: FuseMountOptions): Promise<Mounted> {
  if (!stale_cleaned) {
    // mounts that tests running alongside kill on purpose are theirs: only orphans are taken
    stale_cleaned = true;
    await mounts_stale_clean({ orphansOnly: true });
  }
  await fusectl_ensure();
  const mountpoint = opts.mountpoint ?? await mkdtemp(`${MOUNT_PREFIX}${process.pid}-`);
  const made = opts.mountpoint === undefined;
  const args = opts.args.map((a) => (a === '{mnt}' ? mountpoint : a));
  // its own process group, so that teardown can kill whatever the server started too
  const server = spawn(opts.command, args, {
    cwd: '/',
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let err = '';
  server.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  server.stdout!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  let spawn_error: Error | undefined;
  server.on('error', (e) => { spawn_error = e; });

  let info: MountInfo | undefined;
  const end = Date.now() + (opts.timeoutMs ?? 15_000);
  while (info === undefined) {
    const m = await mountinfo_find(mountpoint);
    if (m !== undefined && m.fstype.startsWith('fuse')) { info = m; break; }
    const why = spawn_error ? `could not start: ${spawn_error.message}`
      : exited(server) ? `exited (code ${server.exitCode}, signal ${server.signalCode}) before mounting`
      : Date.now() >= end ? `did not mount within ${opts.timeoutMs ?? 15_000} ms`
      : undefined;
    if (why !== undefined) {
      // no FUSE mount appeared, so there is no connection of ours to abort
      await teardown_run(server, mountpoint, undefined, made);
      throw new Error(`FUSE server '${opts.command} ${args.join(' ')}' ${why}; its stderr:\n${err || '(empty)'}`);
    }
    await sleep(20);
  }

  const found = info;
  const conn = await fuse_conn_of(found);
  // Listed is not live: the kernel queues requests until the server has answered INIT. A
  // client that stats the root returns once the server answers; a test that unmounted before
  // then would leave a server that never saw its mount come up.
  const live = await cmd_run('stat', ['-c', '%i', mountpoint], { timeoutMs: Math.max(1000, end - Date.now()) });
  if (live.code !== 0) {
    const report = await teardown_run(server, mountpoint, conn, made);
    const why = live.timedOut ? 'did not answer its first request in time' : `failed its first request (${live.stderr.trim()})`;
    throw new Error(`FUSE server '${opts.command} ${args.join(' ')}' mounted but ${why}; teardown: ${report.steps.join(', ')}; its stderr:\n${err || '(empty)'}`);
  }
  let report: Promise<TeardownReport> | undefined;
  const mounted: Mounted = {
    mountpoint,
    server,
    info: found,
    conn,
    stderr: () => err,
    path: (rel) => join(mountpoint, rel),
    run: (cmd, cargs, ropts = {}) => cmd_run(cmd, cargs, { cwd: mountpoint, ...ropts }),
    sh: (script, ropts = {}) => cmd_run('sh', ['-c', script], { cwd: mountpoint, ...ropts }),
    mounted: async () => (await mountinfo_find(mountpoint)) !== undefined,
    teardown: () => (report ??= teardown_run(server, mountpoint, conn, made)),
  };
  return mounted;
}

/** fuse_mount() whose teardown tap runs after the test, pass or fail. */
export async function mount_with(
  t: { teardown(fn: () => unknown): void },
  opts: FuseMountOptions,
): Promise<Mounted> {
  const m = await fuse_mount(opts);
  t.teardown(async () => {
    const r = await m.teardown();
    if (!r.clean) process.stderr.write(`fusemount: teardown of ${m.mountpoint} left: ${r.problems.join('; ')}\n`);
  });
  return m;
}

/** The escalating teardown of shared use; see the invariants at the top. */
async function teardown_run(
  server: ChildProcess,
  mountpoint: string,
  conn: FuseConn | undefined,
  made: boolean,
): Promise<TeardownReport> {
  const steps: string[] = [];
  const problems: string[] = [];
  const pgid = server.pid;
  const group_kill = (sig: NodeJS.Signals): void => {
    if (pgid === undefined) return;
    try {
      process.kill(-pgid, sig);
    } catch {
      // the group is already empty
    }
  };
  const still_mounted = async (): Promise<boolean> => (await mountinfo_find(mountpoint)) !== undefined;

  // 1. Politely: the server unmounts itself and exits.
  if (!exited(server)) {
    steps.push('SIGTERM');
    server.kill('SIGTERM');
    await exit_wait(server, 3000);
    await unmounted_wait(mountpoint, exited(server) ? 500 : 0);
  }
  // 2. Still mounted: an ordinary unmount (fails while the mount is busy).
  if (await still_mounted()) {
    steps.push('fusermount -u');
    await cmd_run('fusermount', ['-u', mountpoint], { timeoutMs: 5000 });
  }
  // 3. The server (and whatever it started in its group) dies now.
  if (!exited(server)) {
    steps.push('SIGKILL');
    group_kill('SIGKILL');
    if (!(await exit_wait(server, 3000))) problems.push(`server pid ${pgid} survived SIGKILL`);
  } else {
    group_kill('SIGKILL');
  }
  // 4. Detach the mount whatever holds it.
  if (await still_mounted()) {
    steps.push('fusermount -uz');
    const r = await cmd_run('fusermount', ['-uz', mountpoint], { timeoutMs: 5000 });
    if (r.code !== 0) {
      const u = await cmd_run('umount', ['-l', mountpoint], { timeoutMs: 5000 });
      if (u.code !== 0) problems.push(`fusermount -uz: ${r.stderr.trim()}; umount -l: ${u.stderr.trim()}`);
    }
  }
  // 5. A connection still open (its /dev/fuse held by a survivor, or requests stuck): abort it.
  //    Once detached, the superblock lives only while someone holds the connection, so a
  //    connection still alive here is stuck for good.
  if (conn !== undefined && (await fuse_conn_alive(conn))) {
    steps.push(`abort connection ${conn.id}`);
    try {
      await fuse_conn_abort(conn);
    } catch (e) {
      problems.push(`abort connection ${conn.id}: ${(e as Error).message}`);
    }
    if (!exited(server) && !(await exit_wait(server, 3000))) problems.push(`server pid ${pgid} still alive after abort`);
    if (await still_mounted()) await cmd_run('fusermount', ['-uz', mountpoint], { timeoutMs: 5000 });
  }
  if (await still_mounted()) problems.push(`${mountpoint} is still mounted`);
  if (made && !(await still_mounted())) {
    try {
      await rmdir(mountpoint);
    } catch (e) {
      // ENOENT: mounts_stale_clean already removed it
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') problems.push(`rmdir ${mountpoint}: ${(e as Error).message}`);
    }
  }
  return { steps, clean: problems.length === 0 && exited(server), problems };
}

// ---------------------------------------------------------------------------------------------
// Stale mounts

export interface StaleCleanOptions {
  /** only mountpoints starting with this (default MOUNT_PREFIX); '/' for all FUSE mounts */
  prefix?: string;
  /** also clean mounts that do not answer within `probeMs` (default: only dead ones) */
  hung?: boolean;
  probeMs?: number;
  /** only mounts made by a harness process that no longer exists (pid in the mountpoint name) */
  orphansOnly?: boolean;
}

function pid_alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Finds FUSE mounts whose server is gone ("Transport endpoint is not connected") and removes
 * them: abort the connection, fusermount -uz, and rmdir the mountpoint if it is one of ours.
 * Resolves with the mountpoints cleaned.
 */
export async function mounts_stale_clean(opts: StaleCleanOptions = {}): Promise<string[]> {
  const prefix = opts.prefix ?? MOUNT_PREFIX;
  const cleaned: string[] = [];
  for (const m of await mountinfo_read()) {
    if (!m.fstype.startsWith('fuse') || !m.mountpoint.startsWith(prefix)) continue;
    if (opts.orphansOnly) {
      const owner = /^(\d+)-/.exec(m.mountpoint.slice(MOUNT_PREFIX.length));
      if (!m.mountpoint.startsWith(MOUNT_PREFIX) || (owner !== null && pid_alive(Number(owner[1])))) continue;
    }
    // statfs in a child: if the mount hangs, only the child waits, and it is killed at the
    // limit. statfs, unlike stat, is never answered from the kernel's attribute cache.
    const r = await cmd_run('stat', ['-f', '-c', '%t', m.mountpoint], { timeoutMs: opts.probeMs ?? 2000 });
    const dead = /Transport endpoint is not connected/.test(r.stderr);
    if (!dead && !(opts.hung && r.timedOut)) continue;
    // still listed, so the connection of that number is this mount's
    const conn = await fuse_conn_of(m);
    if (conn !== undefined) await fuse_conn_abort(conn).catch(() => false);
    const u = await cmd_run('fusermount', ['-uz', m.mountpoint], { timeoutMs: 5000 });
    if (u.code !== 0) await cmd_run('umount', ['-l', m.mountpoint], { timeoutMs: 5000 });
    if ((await mountinfo_find(m.mountpoint)) !== undefined) continue;
    if (m.mountpoint.startsWith(MOUNT_PREFIX)) await rmdir(m.mountpoint).catch(() => {});
    cleaned.push(m.mountpoint);
  }
  return cleaned;
}

// ---------------------------------------------------------------------------------------------
// Servers shipped with cowlog

/** The server command for nullfs (tools/bench/nullfs.ts) with extra options. */
export function nullfs_server(...extra: string[]): Pick<FuseMountOptions, 'command' | 'args'> {
  return { command: process.execPath, args: [join(DIST, 'tools/bench/nullfs.js'), '{mnt}', ...extra] };
}

/** The server command for the benchmarks' ceiling (tools/bench/fuse_ceiling.ts) with extra options. */
export function ceiling_server(...extra: string[]): Pick<FuseMountOptions, 'command' | 'args'> {
  return { command: process.execPath, args: [join(DIST, 'tools/bench/fuse_ceiling.js'), '{mnt}', ...extra] };
}
