// `cowlog mount DEVICE MOUNTPOINT`: serves a cowlog filesystem through FUSE (src/fuse/).
//
// Without -f the command starts the server as a detached child of its own session, waits until
// the mount is live (the kernel's INIT reached the server) or has failed, prints one line and
// exits: the mount helper behaviour mount(8) and scripts expect. With -f the server runs in
// this process until the mount is unmounted.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from './command.js';
import { args_parse, pos_exact, UsageError } from './command.js';
import { mount_options_parse, mount_options_remount, MountOptionError, MOUNT_OPTIONS_HELP } from '../fuse/options.js';
import { control_request } from '../fuse/control.js';
import type { ControlReply, ControlRequest } from '../fuse/control.js';
import { cmd, pid_alive, state_read } from '../fuse/runtime.js';
import type { MountConfig } from '../fuse/options.js';
import { log_path_default, server_run } from '../fuse/server.js';

const HELPER_PATH = '/usr/local/sbin/cowlog';
const HELPER_MARK = '# cowlog mount helper';

const HELP = `usage: cowlog mount [-f] [-q] [-o OPTIONS] [--wear FILE] [--snapshot NAME] DEVICE MOUNTPOINT
       cowlog mount --install-helper

Mounts the cowlog filesystem on DEVICE (a block device such as /dev/loop0, or an image file)
at MOUNTPOINT through FUSE. The command returns once the mount is live (exit 0), or prints
why it could not mount (exit 1): DEVICE is not cowlog, damaged, already mounted, or the
mountpoint is taken. A stale mount left at MOUNTPOINT by a killed server is cleaned up first.
The server then runs in the background, logs to the file it names, writes a checkpoint every
30 s when something changed, and stops with 'cowlog umount MOUNTPOINT' (or umount(8)).

Which tree: a plain mount serves the default tree ('cowlog snapshot set-default'; the main
tree until one is set). While a tree is on trial ('set-default --trial N'), each plain mount
serves it and counts one of its N mounts, in the same checkpoint that starts the mount; once N
mounts went by without 'cowlog snapshot mark-good MOUNTPOINT', the next one serves the default
again and says so in its log and in 'cowlog info' (docs/AB-BOOT.md).

Durability is as on ext4: close(2) is not durable, fsync(2) and fdatasync(2) are; a checkpoint
(timer, 'cowlog umount') makes everything durable.

options:
  -f                 stay in the foreground (log lines also go to stderr)
  -q, --quiet        print nothing when the mount or remount succeeds, as mount(8) does
                     (errors and warnings still go to stderr); the helper passes it
  -o OPTIONS         mount options, see below; may be given more than once
  --wear FILE        count every block write in FILE (docs/WEARFILE.md), saved when the
                     server exits after an unmount; an existing FILE of this device is
                     continued
  --snapshot NAME    serve snapshot NAME instead of the default tree: read-only (a snapshot
                     never changes), or read-write when NAME is a clone
                     ('cowlog snapshot clone'), or '@main' / '@default'; as -o snapshot=NAME.
                     Counts no trial mount
  --install-helper   install ${HELPER_PATH}, which lets mount(8) and /etc/fstab mount
                     type fuse.cowlog (mount.fuse runs 'cowlog DEVICE MOUNTPOINT -o ...'),
                     and serves as the cowlog command otherwise

${MOUNT_OPTIONS_HELP}

examples:
  cowlog mount /dev/loop0 /mnt/c
  cowlog mount -o ro,noexec image.cowlog /mnt/c
  cowlog mount -o remount,ro /dev/loop0 /mnt/c     (or: mount -o remount,ro /mnt/c)
  mount -t fuse.cowlog /dev/loop0 /mnt/c
  /etc/fstab:  /dev/loop0  /mnt/c  fuse.cowlog  defaults,noauto  0  0`;

function helper_install(): number {
  const root = path.resolve(path.dirname(process.argv[1] ?? '.'), '..');
  const entry = path.join(root, 'bin', 'cowlog.js');
  if (!fs.existsSync(entry)) throw new UsageError(`can not find bin/cowlog.js beside ${process.argv[1]}`);
  const script = `#!/bin/sh
${HELPER_MARK}, installed by \`cowlog mount --install-helper\` from ${root}.
# mount -t fuse.cowlog runs mount.fuse, which runs "cowlog DEVICE MOUNTPOINT -o OPTIONS" through
# sh without PATH: a first argument holding a '/' is a device, so that is a mount, silent when
# it succeeds as mount(8) is. Anything else is an ordinary cowlog command line.
case "$1" in
  */*) exec ${process.execPath} ${entry} mount --quiet "$@" ;;
esac
exec ${process.execPath} ${entry} "$@"
`;
  if (fs.existsSync(HELPER_PATH) && !fs.readFileSync(HELPER_PATH, 'utf8').includes(HELPER_MARK)) {
    throw new UsageError(`${HELPER_PATH} exists and is not cowlog's helper; remove it first`);
  }
  fs.mkdirSync(path.dirname(HELPER_PATH), { recursive: true });
  const tmp = `${HELPER_PATH}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, script, { mode: 0o755 });
  fs.renameSync(tmp, HELPER_PATH);
  process.stdout.write(`cowlog: installed ${HELPER_PATH} (mount -t fuse.cowlog DEVICE MOUNTPOINT now works)\n`);
  return 0;
}

/**
 * `-o remount,...`: changes a running mount. The server is asked first (read-only: it flushes,
 * writes a clean checkpoint and refuses changes from then on), then the kernel's own flag is
 * changed (`mount -i -o remount,ro|rw`, which calls no helper), so that /proc/mounts shows it and
 * the kernel refuses writes before they reach the server. atime options, commit= and compress=
 * take effect too; an option the mount keeps for its life (REMOUNT_FIXED: writeback_cache,
 * cache=...) given with another value than it has is refused by the server, and nothing changes.
 */
async function remount_run(device: string, mountpoint: string, lists: readonly string[], quiet: boolean): Promise<number> {
  const st = state_read(mountpoint);
  if (st === undefined || !pid_alive(st.pid)) {
    process.stderr.write(`cowlog mount: ${mountpoint} is not a running cowlog mount: nothing to remount\n`);
    return 1;
  }
  const same = (a: string, b: string): boolean => {
    try { return fs.realpathSync(a) === fs.realpathSync(b); } catch { return path.resolve(a) === path.resolve(b); }
  };
  if (!same(device, st.device)) {
    process.stderr.write(`cowlog mount: ${mountpoint} serves ${st.device}, not ${device}\n`);
    return 1;
  }
  const ask = mount_options_remount(lists, process.getuid?.() === 0);
  const ro = ask.readOnly ?? st.readOnly;
  const req: Record<string, unknown> = { op: 'remount', ...ask, readOnly: ro };
  let reply: ControlReply;
  try {
    reply = await control_request(st.socket, req as ControlRequest, 120_000);
  } catch (e) {
    process.stderr.write(`cowlog mount: ${mountpoint}: ${(e as Error).message}\n`);
    return 1;
  }
  if (!reply.ok) {
    process.stderr.write(`cowlog mount: remount of ${mountpoint} refused: ${reply.error ?? 'unknown error'}\n`);
    return 1;
  }
  const k = await cmd('mount', ['-i', '-o', `remount,${ro ? 'ro' : 'rw'}`, mountpoint], 60_000);
  if (k.code !== 0) {
    process.stderr.write(`cowlog mount: ${mountpoint} is ${ro ? 'read-only' : 'read-write'} in cowlog, but the kernel's flag did not change: ${k.stderr.trim()}\n`);
    return 1;
  }
  if (!quiet) process.stdout.write(`cowlog: ${mountpoint} remounted ${ro ? 'read-only' : 'read-write'}\n`);
  return 0;
}

/**
 * How V8 may grow the server's heap (docs/SCALE.md, "Memory"). The server allocates fast while
 * files are created (requests, records, tree changes) and most of it dies at once. After each
 * full collection V8 lets the old space grow to up to four times what was live before it
 * collects again: creating 20,000 files through a mount, the server took 200 MiB of heap for
 * 45 MiB live, and peaked at 375 MiB. With `--heap-growing-percent=50` (half as much again as
 * was live) it peaked at 255 MiB. This is not a limit: the heap still grows with what is live
 * (a large directory), only the room for garbage above it is smaller, paid for with more
 * frequent collections (the engine alone created files at 0.7–0.9 times the rate). A young
 * generation of 1 MiB semi-spaces as well took 24 MiB less again but cost another quarter of
 * the rate, so V8's default is kept there. Flags the caller gave (its own or NODE_OPTIONS) are
 * kept as they are.
 */
export const SERVER_V8_FLAGS: readonly string[] = ['--heap-growing-percent=50'];

/** The node flags the server runs with: the caller's, and SERVER_V8_FLAGS where it gave none of its own. */
export function server_node_args(): string[] {
  const given = [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)];
  const name = (f: string): string => f.split('=')[0]!.replace(/_/g, '-');
  return [...process.execArgv, ...SERVER_V8_FLAGS.filter((f) => !given.some((g) => name(g) === name(f)))];
}

/** Starts the server detached and waits for its one line on fd 3. */
function daemon_start(device: string, mountpoint: string, c: MountConfig, quiet: boolean): Promise<number> {
  const logPath = path.resolve(c.log ?? log_path_default(device));
  let out: number | 'ignore' = 'ignore';
  try {
    fs.mkdirSync(path.dirname(logPath), { recursive: true });
    out = fs.openSync(logPath, 'a', 0o640);
  } catch {
    // the server falls back to another log place and says so
  }
  const entry = process.argv[1]!;
  // the server runs in / (it must not keep the caller's directory busy): every path absolute
  const config: MountConfig = { ...c, wear: c.wear === null ? null : path.resolve(c.wear), log: logPath };
  const args = ['mount', '-f', '--ready-fd', '3', '--config', JSON.stringify(config), device, mountpoint];
  const child = spawn(process.execPath, [...server_node_args(), entry, ...args], {
    cwd: '/',
    detached: true,
    stdio: ['ignore', out, out, 'pipe'],
  });
  if (typeof out === 'number') fs.closeSync(out);
  const pipe = child.stdio[3] as NodeJS.ReadableStream;
  return new Promise((ok) => {
    let buf = '';
    let done = false;
    const finish = (code: number, line: string, stream: 'out' | 'err'): void => {
      if (done) return;
      done = true;
      (pipe as unknown as { destroy(): void }).destroy();
      child.unref();
      if (stream === 'err' || !quiet) (stream === 'out' ? process.stdout : process.stderr).write(line + '\n');
      ok(code);
    };
    pipe.setEncoding('utf8');
    pipe.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let msg: { ready?: boolean; error?: string; pid?: number; log?: string; serving?: string; warning?: string };
      try {
        msg = JSON.parse(buf.slice(0, nl)) as typeof msg;
      } catch {
        finish(1, `cowlog mount: the server said something unexpected: ${buf.slice(0, nl)}`, 'err');
        return;
      }
      if (msg.ready && msg.warning) process.stderr.write(`cowlog mount: ${msg.warning}\n`);
      if (msg.ready) finish(0, `cowlog: ${device} mounted on ${mountpoint} (server pid ${msg.pid}, log ${msg.log})${msg.serving ? `; serving ${msg.serving}` : ''}`, 'out');
      else finish(1, `cowlog mount: ${msg.error ?? 'failed'}`, 'err');
    });
    pipe.on('error', () => {});
    child.on('exit', (code, signal) => {
      // a line written just before exiting may still be in the pipe: let it arrive first
      setTimeout(() => finish(1, `cowlog mount: the server exited (${signal ?? `code ${code}`}) before the mount was ready; see ${logPath}`, 'err'), 200);
    });
    child.on('error', (e) => finish(1, `cowlog mount: can not start the server: ${e.message}`, 'err'));
  });
}

export const cmd_mount: Command = {
  name: 'mount',
  summary: 'mount a cowlog device through FUSE (returns once the mount is live)',
  help: HELP,
  async run(argv) {
    // --ready-fd and --config are how a backgrounding `cowlog mount` talks to the server it starts
    const a = args_parse(argv, { flags: ['-f', '-q', '--quiet', '--install-helper'], values: ['--wear', '--ready-fd', '--config', '--snapshot'], repeated: ['-o'] });
    if (a.flags.has('--install-helper')) {
      pos_exact(a, []);
      return helper_install();
    }
    const [device, mountpoint] = pos_exact(a, ['DEVICE', 'MOUNTPOINT']);
    const lists = a.many.get('-o') ?? [];
    let c: MountConfig;
    const given = a.values.get('--config');
    try {
      c = given !== undefined ? JSON.parse(given) as MountConfig : mount_options_parse(lists, process.getuid?.() === 0);
    } catch (e) {
      if (e instanceof MountOptionError) throw new UsageError(e.message);
      throw e;
    }
    const quiet = a.flags.has('-q') || a.flags.has('--quiet');
    if (c.remount && given === undefined) return remount_run(path.resolve(device!), path.resolve(mountpoint!), lists, quiet);
    const wear = a.values.get('--wear');
    if (wear !== undefined) c.wear = wear;
    const snap = a.values.get('--snapshot');
    if (snap !== undefined) c.snapshot = snap;
    if (!a.flags.has('-f')) return daemon_start(path.resolve(device!), path.resolve(mountpoint!), c, quiet);
    const fd = a.values.get('--ready-fd');
    const readyFd = fd === undefined ? null : Number(fd);
    if (readyFd !== null && !(Number.isInteger(readyFd) && readyFd >= 0)) throw new UsageError(`--ready-fd ${fd}: a file descriptor number`);
    const code = await server_run({ device: device!, mountpoint: mountpoint!, config: c, readyFd, echo: readyFd === null });
    // fuse-native keeps the event loop referenced after an unmount: end here (docs/FUSE.md)
    process.exit(code);
  },
};
