// `cowlog snapshot ...`: create, list, delete, roll back, clone and diff snapshots, on a running
// mount (through its server's control socket) or on an unmounted device.
//
// The control requests (answered by src/fuse/server.ts):
//   {"op":"snapshot","reqs":[SnapRequest...]}     → {"ok":true,"replies":[{ok,kept?,error?,errno?}...]}
//   {"op":"snapshot-list","usage":true}           → {"ok":true,"list":[SnapListEntry...],"heldBytes":N}
//   {"op":"snapshot-diff","a":"A","b":"B"}        → {"ok":true,"diff":{added,removed,changed}}

import fs from 'node:fs';
import path from 'node:path';
import type { Command } from './command.js';
import { args_parse, bytes_human, UsageError } from './command.js';
import { device_open } from '../device/file.js';
import { FileSystem } from '../fs/fs.js';
import type { SnapListEntry, SnapRequest } from '../fs/fs.js';
import type { TreeDiff } from '../snap/diff.js';
import { FsError } from '../util/errors.js';
import type { Errno } from '../util/errors.js';
import { control_request } from '../fuse/control.js';
import type { ControlReply } from '../fuse/control.js';
import { device_claim, device_ids, device_release, pid_alive, socket_path, state_read } from '../fuse/runtime.js';

const HELP = `usage:
  cowlog snapshot create TARGET NAME...         keep the current tree as NAME (read-only)
  cowlog snapshot list [--json] TARGET          every snapshot: type, when, checkpoint, and the
                                                bytes deleting it would free
  cowlog snapshot delete TARGET NAME...         delete snapshots, freeing what no other tree needs
  cowlog snapshot rollback [--discard] TARGET NAME
                                                make NAME's tree the live tree, in one checkpoint
  cowlog snapshot clone TARGET NAME NEW         a writable copy of NAME, mounted with
                                                'cowlog mount --snapshot NEW DEVICE MNT'
  cowlog snapshot diff [--json] TARGET A B      paths added (+), removed (-) and changed (M) from
                                                tree A to tree B

TARGET is the mountpoint of a running cowlog mount (its server does the work) or an unmounted
device or image file. A and B are snapshot or clone names, '@live' (the tree the mount serves,
with everything written so far) or '@main' (the main tree).

A snapshot costs nothing when it is taken: it keeps the current root, and blocks are shared until
one side changes them. Several names in one command, or several commands sent to a mount at the
same moment, become durable in one checkpoint: all of them or none if the power fails.

Rollback replaces the live tree atomically. The tree it replaces is kept as a snapshot named
before-rollback-SEQ (roll back to it to undo the rollback) unless --discard is given. On a mount,
rollback is refused while any file is open there; the kernel caches no attributes of a cowlog
mount (attr_timeout=0) and every request names a path that the server resolves in the new
tree, so nothing of the old tree is visible once the command returns (it waits out the
mount's entry_timeout, 1 s by default, so that cached names are looked up again).

Names: 1 to 96 ASCII letters, digits and . _ - + :, not starting with '-' or '.'.
Exit status: 0 done; 1 if anything was refused (each refusal is printed, the rest is done); 2 usage.`;

type Target = { kind: 'mount'; mnt: string } | { kind: 'device'; path: string };

function target_of(given: string): Target {
  const abs = path.resolve(given);
  const st = state_read(abs);
  if (st !== undefined && pid_alive(st.pid)) return { kind: 'mount', mnt: abs };
  let stat: fs.Stats;
  try {
    stat = fs.statSync(given);
  } catch {
    throw new FsError('ENOENT', `${given}: no such device, image file or cowlog mountpoint`);
  }
  if (stat.isDirectory()) throw new FsError('EINVAL', `${given}: a directory, but not the mountpoint of a running cowlog mount`);
  return { kind: 'device', path: given };
}

/** Opens an unmounted device (refusing one a server has mounted), runs fn, unmounts. */
function with_device<T>(dev: string, readOnly: boolean, fn: (fs: FileSystem) => T): T {
  const ids = device_ids(dev);
  const holder = device_claim(ids, `snapshot:${process.pid}`);
  if (holder !== undefined) throw new FsError('EBUSY', `${dev} is mounted on ${holder.mountpoint}: give the mountpoint instead of the device`);
  try {
    const file = device_open(dev, { exclusive: true, readOnly });
    try {
      const f = FileSystem.mount(file, { readOnly });
      try {
        return fn(f);
      } finally {
        f.unmount();
      }
    } finally {
      file.close();
    }
  } finally {
    device_release(ids);
  }
}

async function ask(mnt: string, req: { op: string; [k: string]: unknown }): Promise<ControlReply> {
  const r = await control_request(socket_path(mnt), req, 10 * 60_000);
  if (!r.ok) throw new FsError((r.errno as Errno | undefined) ?? 'EIO', r.error ?? `the server of ${mnt} refused`);
  return r;
}

interface Outcome { ok: boolean; kept?: string; error?: string }

async function apply(t: Target, reqs: SnapRequest[]): Promise<Outcome[]> {
  if (t.kind === 'mount') {
    const r = await ask(t.mnt, { op: 'snapshot', reqs });
    return (r.replies as Outcome[]);
  }
  return with_device(t.path, false, (f) => f.snapshot(reqs).map((x) => (x.ok ? { ok: true, ...(x.kept ? { kept: x.kept } : {}) } : { ok: false, error: x.error.message })));
}

function report(reqs: SnapRequest[], out: Outcome[]): number {
  let bad = 0;
  out.forEach((o, i) => {
    const r = reqs[i]!;
    if (!o.ok) {
      bad++;
      process.stderr.write(`cowlog snapshot ${r.op} ${r.name}: ${(o.error ?? 'refused').replace(/^E[A-Z]+: /, '')}\n`);
    } else if (r.op === 'rollback') {
      process.stdout.write(o.kept ? `rolled back to ${r.name}; the tree it replaced is kept as ${o.kept}\n` : `rolled back to ${r.name}; the tree it replaced is discarded\n`);
    }
  });
  return bad ? 1 : 0;
}

function when(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function list_print(list: SnapListEntry[], held: number): void {
  if (list.length === 0) {
    process.stdout.write('no snapshots\n');
    return;
  }
  const rows = list.map((s) => [
    s.name + (s.mounted ? ' *' : ''), s.writable ? 'clone' : s.auto ? 'auto' : 'snapshot', when(s.timeMs), String(s.seq),
    bytes_human(s.exclusiveBytes ?? 0), s.parent,
  ]);
  const head = ['NAME', 'TYPE', 'CREATED', 'CHECKPOINT', 'FREES', 'FROM'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 3 || i === 4 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ').trimEnd();
  process.stdout.write([line(head), ...rows.map(line)].join('\n') + '\n');
  process.stdout.write(`${list.length} snapshot${list.length > 1 ? 's' : ''}; together they hold ${bytes_human(held)} that the live tree does not` +
    `${list.some((s) => s.mounted) ? ' (* = the tree this mount serves)' : ''}\n`);
}

function diff_print(d: TreeDiff): void {
  const lines = [...d.added.map((p) => `+ ${p}`), ...d.removed.map((p) => `- ${p}`), ...d.changed.map((p) => `M ${p}`)];
  lines.sort((a, b) => (a.slice(2) < b.slice(2) ? -1 : a.slice(2) > b.slice(2) ? 1 : 0));
  process.stdout.write(lines.length ? lines.join('\n') + '\n' : '');
}

export const cmd_snapshot: Command = {
  name: 'snapshot',
  summary: 'snapshots: create, list, delete, rollback, clone, diff (on a mount or a device)',
  help: HELP,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === undefined) throw new UsageError('missing subcommand (create, list, delete, rollback, clone, diff)');
    const a = args_parse(rest, { flags: sub === 'rollback' ? ['--discard'] : sub === 'list' || sub === 'diff' ? ['--json'] : [] });
    const need = (n: number, names: string): void => {
      if (a.pos.length < n) throw new UsageError(`missing ${names.split(' ').slice(a.pos.length).join(' ')}`);
    };
    switch (sub) {
      case 'create':
      case 'delete': {
        need(2, 'TARGET NAME');
        const reqs: SnapRequest[] = a.pos.slice(1).map((name) => ({ op: sub, name }));
        return report(reqs, await apply(target_of(a.pos[0]!), reqs));
      }
      case 'rollback': {
        need(2, 'TARGET NAME');
        if (a.pos.length > 2) throw new UsageError(`unexpected argument '${a.pos[2]}'`);
        const reqs: SnapRequest[] = [{ op: 'rollback', name: a.pos[1]!, discard: a.flags.has('--discard') }];
        return report(reqs, await apply(target_of(a.pos[0]!), reqs));
      }
      case 'clone': {
        need(3, 'TARGET NAME NEW');
        if (a.pos.length > 3) throw new UsageError(`unexpected argument '${a.pos[3]}'`);
        const reqs: SnapRequest[] = [{ op: 'clone', from: a.pos[1]!, name: a.pos[2]! }];
        return report(reqs, await apply(target_of(a.pos[0]!), reqs));
      }
      case 'list': {
        need(1, 'TARGET');
        if (a.pos.length > 1) throw new UsageError(`unexpected argument '${a.pos[1]}'`);
        const t = target_of(a.pos[0]!);
        let list: SnapListEntry[], held: number;
        if (t.kind === 'mount') {
          const r = await ask(t.mnt, { op: 'snapshot-list', usage: true });
          list = r.list as SnapListEntry[];
          held = r.heldBytes as number;
        } else {
          ({ list, held } = with_device(t.path, true, (f) => ({ list: f.snapshot_list({ usage: true }), held: f.snapshot_held_bytes() })));
        }
        if (a.flags.has('--json')) process.stdout.write(JSON.stringify({ snapshots: list, heldBytes: held }, null, 2) + '\n');
        else list_print(list, held);
        return 0;
      }
      case 'diff': {
        need(3, 'TARGET A B');
        if (a.pos.length > 3) throw new UsageError(`unexpected argument '${a.pos[3]}'`);
        const t = target_of(a.pos[0]!);
        const [x, y] = [a.pos[1]!, a.pos[2]!];
        const d = t.kind === 'mount'
          ? (await ask(t.mnt, { op: 'snapshot-diff', a: x, b: y })).diff as TreeDiff
          : with_device(t.path, true, (f) => f.snapshot_diff(x, y));
        if (a.flags.has('--json')) process.stdout.write(JSON.stringify(d, null, 2) + '\n');
        else diff_print(d);
        return 0;
      }
      default:
        throw new UsageError(`unknown subcommand '${sub}' (create, list, delete, rollback, clone, diff)`);
    }
  },
};
