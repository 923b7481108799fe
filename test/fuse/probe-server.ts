// A FUSE server for the tests of test/fuse/: nullfs whose every request is first written, with
// the caller context the patched binding saw, as one JSON line to a log file outside the mount.
//
//   node dist/test/fuse/probe-server.js MOUNTPOINT LOGFILE [options]
//     --hang PATH       never answer a read of PATH (a server stuck mid-operation)
//     --hold-fd         start a detached `sleep` holding this server's /dev/fuse descriptor, so
//                       that killing the server leaves the connection open (logged as "holder")
//     --no-big-writes, --no-use-ino, --attr-timeout S, --allow-other: as nullfs
//
// The log is written synchronously: it is a file under /tmp, never the mount itself.

import { appendFileSync, readdirSync, readlinkSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { FuseMount, fuse_serve } from '../../src/fuse/binding.js';
import type { FuseMountOptions, FuseOps } from '../../src/fuse/binding.js';
import { NullFs } from '../../tools/bench/nullfs-ops.js';

/** One line of the probe's log. */
export interface ProbeEvent {
  op: string;
  /** the handler's arguments without the callback; bigints and Buffers as strings */
  args: (string | number | boolean | null)[];
  caller: { uid: number; gid: number; pid: number; umask: number };
}

function arg_show(a: unknown): string | number | boolean | null {
  if (typeof a === 'bigint') return `${a}n`;
  if (Buffer.isBuffer(a)) return `<${a.length} bytes>`;
  if (typeof a === 'string' || typeof a === 'number' || typeof a === 'boolean') return a;
  return null;
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
  const opts: FuseMountOptions = { fsname: `cowlog-probe-${process.pid}`, subtype: 'cowlog-probe' };
  let hang: string | undefined;
  let hold_fd = false;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--hang') hang = rest[++i];
    else if (a === '--hold-fd') hold_fd = true;
    else if (a === '--no-big-writes') opts.bigWrites = false;
    else if (a === '--no-use-ino') opts.useIno = false;
    else if (a === '--allow-other') opts.allowOther = true;
    else if (a === '--attr-timeout') opts.attrTimeout = Number(rest[++i]);
    else throw new Error(`unknown option ${a}`);
  }
  const write = (ev: object): void => appendFileSync(log, JSON.stringify(ev) + '\n');

  // assigned just below, before the mount can deliver a request
  let mount: FuseMount;
  const fs = new NullFs({ caller: () => mount.caller() });
  const inner = fs.ops() as Record<string, (...args: unknown[]) => void>;
  const ops: Record<string, (...args: unknown[]) => void> = {};
  for (const [op, fn] of Object.entries(inner)) {
    ops[op] = (...args: unknown[]): void => {
      const ev: ProbeEvent = { op, args: args.filter((a) => typeof a !== 'function').map(arg_show), caller: mount.caller() };
      write(ev);
      if (op === 'read' && args[0] === hang) return; // never answered
      fn(...args);
    };
  }
  mount = new FuseMount(mnt, ops as FuseOps, opts);
  await fuse_serve(mount, () => {
    if (hold_fd) {
      const fd = fuse_fd_find();
      if (fd === undefined) throw new Error('no /dev/fuse descriptor found in /proc/self/fd');
      const holder = spawn('sleep', ['600'], { detached: true, stdio: ['ignore', 'ignore', 'ignore', fd] });
      holder.unref();
      write({ op: 'holder', args: [holder.pid ?? -1], caller: { uid: 0, gid: 0, pid: 0, umask: 0 } });
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
