// A FUSE server for the tests of test/fuse/: nullfs whose every request is first written, with
// the caller context the patched binding saw, as one JSON line to a log file outside the mount.
//
//   node dist/test/fuse/probe-server.js MOUNTPOINT LOGFILE [options]
//     --hang PATH       never answer a read of PATH (a server stuck mid-operation)
//     --hold-fd         start a detached `sleep` holding this server's /dev/fuse descriptor, so
//                       that killing the server leaves the connection open (logged as "holder")
//     --max-write N     largest write request (default: libfuse's 1 MiB)
//     --writeback       the kernel's write-back cache
//     --attr-timeout S, --entry-timeout S, --negative-timeout S, --allow-other: as nullfs
//
// The log is written synchronously: it is a file under /tmp, never the mount itself.

import { appendFileSync, readdirSync, readlinkSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { CAP, FuseMount, fuse_serve } from '../../src/fuse/binding.js';
import type { FuseMountOptions, LowOps } from '../../src/fuse/binding.js';
import { NullFs } from '../../tools/bench/nullfs-ops.js';

/** One line of the probe's log. */
export interface ProbeEvent {
  op: string;
  /** the path the request names (its inode's, or the name in its directory), '' when none */
  path: string;
  /** the handler's arguments after the request id; Buffers as "<N bytes>", objects as JSON */
  args: unknown[];
  caller: { uid: number; gid: number; pid: number; umask: number };
}

/** Requests that name (directory, name) first; symlink after its target. */
const NAMED_AT: Record<string, number> = { lookup: 0, mknod: 0, mkdir: 0, unlink: 0, rmdir: 0, create: 0, rename: 0, symlink: 1 };

function arg_show(a: unknown): unknown {
  if (Buffer.isBuffer(a)) return `<${a.length} bytes>`;
  return a;
}

function fuse_fd_find(): number | undefined {
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) === '/dev/fuse') return Number(name);
    } catch {
      // closed while listing
    }
  }
  return undefined;
}

async function main(argv: string[]): Promise<number> {
  const [mnt, log, ...rest] = argv;
  if (mnt === undefined || log === undefined) throw new Error('usage: probe-server.js MOUNTPOINT LOGFILE [options]');
  const opts: FuseMountOptions = { fsname: `cowlog-probe-${process.pid}`, subtype: 'cowlog_probe' };
  let hang: string | undefined;
  let hold_fd = false;
  let attrTimeout = 1, entryTimeout = 1, negativeTimeout = 0;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--hang') hang = rest[++i];
    else if (a === '--hold-fd') hold_fd = true;
    else if (a === '--allow-other') opts.allowOther = true;
    else if (a === '--max-write') opts.maxWrite = Number(rest[++i]);
    else if (a === '--writeback') opts.want = (opts.want ?? 0) | CAP.WRITEBACK_CACHE;
    else if (a === '--attr-timeout') attrTimeout = Number(rest[++i]);
    else if (a === '--entry-timeout') entryTimeout = Number(rest[++i]);
    else if (a === '--negative-timeout') negativeTimeout = Number(rest[++i]);
    else throw new Error(`unknown option ${a}`);
  }
  const write = (ev: object): void => appendFileSync(log, JSON.stringify(ev) + '\n');

  // assigned just below, before the mount can deliver a request
  let mount: FuseMount;
  const fs = new NullFs({ caller: () => mount.caller(), attrTimeout, entryTimeout, negativeTimeout });
  mount = new FuseMount(mnt, opts);
  const inner = fs.ops(mount) as Record<string, (...args: unknown[]) => void>;
  const ops: Record<string, (...args: unknown[]) => void> = {};
  for (const [op, fn] of Object.entries(inner)) {
    ops[op] = (...args: unknown[]): void => {
      // forget and init carry no request id
      const rest = op === 'forget' || op === 'init' ? args : args.slice(1);
      const at = NAMED_AT[op];
      const path = at !== undefined
        ? fs.child_path(rest[at] as number, rest[at + 1] as string)
        : typeof rest[0] === 'number' ? fs.path_of(rest[0]) : '';
      const ev: ProbeEvent = { op, path, args: rest.map(arg_show), caller: mount.caller() };
      write(ev);
      if (op === 'read' && path === hang) return; // never answered
      fn(...args);
    };
  }
  await fuse_serve(mount, ops as LowOps, () => {
    if (hold_fd) {
      const fd = fuse_fd_find();
      if (fd === undefined) throw new Error('no /dev/fuse descriptor found in /proc/self/fd');
      const holder = spawn('sleep', ['600'], { detached: true, stdio: ['ignore', 'ignore', 'ignore', fd] });
      holder.unref();
      write({ op: 'holder', path: '', args: [holder.pid ?? -1], caller: { uid: 0, gid: 0, pid: 0, umask: 0 } });
    }
    process.stderr.write(`probe: serving ${mount.mountpoint}\n`);
  });
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`probe: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  },
);
