// `cowlog snapshot ...`: create, list, delete, roll back, clone and diff snapshots, choose the
// default tree and trial boots, on a running mount (through its server's control socket) or on
// an unmounted device.
//
// The control requests (answered by src/fuse/server.ts):
//   {"op":"snapshot","reqs":[SnapRequest...]}     → {"ok":true,"replies":[{ok,kept?,error?,errno?}...]}
//   {"op":"snapshot-list","usage":true}           → {"ok":true,"list":[SnapListEntry...],"heldBytes":N,"boot":BootStatus}
//   {"op":"snapshot-diff","a":"A","b":"B"}        → {"ok":true,"diff":{added,removed,changed}}

import fs from 'node:fs';
import path from 'node:path';
import type { Command } from './command.js';
import { args_parse, bytes_human, UsageError } from './command.js';
import { device_open } from '../device/file.js';
import { FileSystem } from '../fs/fs.js';
import type { BootStatus, SnapListEntry, SnapRequest } from '../fs/fs.js';
import type { TreeDiff } from '../snap/diff.js';
import { FsError } from '../util/errors.js';
import { BOOT_TRIES_MAX } from '../format/boot.js';
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
  cowlog snapshot set-default [--trial N] TARGET NAME
                                                make NAME (a clone, or '@main') the tree a plain
                                                mount serves; with --trial N, only for the next N
                                                mounts, until mark-good
  cowlog snapshot mark-good TARGET              the tree on trial becomes the default for good
                                                (run by the booted system on its own mount)

TARGET is the mountpoint of a running cowlog mount (its server does the work) or an unmounted
device or image file. A, B and the NAME a clone copies are snapshot or clone names, '@live'
(the tree the mount serves, with everything written so far), '@main' (the main tree) or
'@default' (the default tree). On an unmounted device, '@live' is the default tree.

A snapshot costs nothing when it is taken: it keeps the current root, and blocks are shared until
one side changes them. Several names in one command, or several commands sent to a mount at the
same moment, become durable in one checkpoint: all of them or none if the power fails.

Rollback replaces the live tree atomically. The tree it replaces is kept as a snapshot named
before-rollback-SEQ (roll back to it to undo the rollback) unless --discard is given. On a mount,
rollback is refused while any file is open there; the command returns once the kernel has
dropped every name, attribute and page it cached of the old tree, so nothing of it is visible
afterwards.

Default tree and trial boots (A/B roots, docs/AB-BOOT.md): a plain 'cowlog mount' or
'mount -t fuse.cowlog' serves the default tree, the main tree until set-default names another.
'set-default --trial N DEV B' leaves the default as it is and puts B on trial: each of the next
N plain mounts serves B and counts itself in the checkpoint that starts it. If B's system is
healthy it runs 'cowlog snapshot mark-good /' (its own mountpoint) and B is the default for
good; if N mounts go by without that, the next plain mount serves the default again and says
so in its log and in 'cowlog info'. A power cut at any moment leaves the count before or
after, never between. A tree that is the default or on trial cannot be deleted. set-default on
a running mount takes effect at the next mount; mark-good on a mount keeps the tree that mount
serves (it succeeds, doing nothing, when that is the default and nothing is on trial).

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

interface Outcome { ok: boolean; kept?: string; note?: string; error?: string }

async function apply(t: Target, reqs: SnapRequest[]): Promise<Outcome[]> {
  if (t.kind === 'mount') {
    const r = await ask(t.mnt, { op: 'snapshot', reqs });
    return (r.replies as Outcome[]);
  }
  return with_device(t.path, false, (f) => f.snapshot(reqs).map((x) => (x.ok ? { ok: true, ...(x.kept ? { kept: x.kept } : {}), ...(x.note ? { note: x.note } : {}) } : { ok: false, error: x.error.message })));
}

function report(reqs: SnapRequest[], out: Outcome[]): number {
  let bad = 0;
  out.forEach((o, i) => {
    const r = reqs[i]!;
    if (!o.ok) {
      bad++;
      process.stderr.write(`cowlog snapshot ${r.op === 'mark-good' ? r.op : `${r.op} ${r.name}`}: ${(o.error ?? 'refused').replace(/^E[A-Z]+: /, '')}\n`);
    } else if (r.op === 'set-default' || r.op === 'mark-good') {
      process.stdout.write(`${o.note ?? 'done'}\n`);
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

function list_print(list: SnapListEntry[], held: number, boot: BootStatus): void {
  if (list.length === 0) {
    process.stdout.write(`no snapshots; ${boot.text}\n`);
    return;
  }
  const type = (s: SnapListEntry): string => (s.writable ? 'clone' : s.auto ? 'auto' : 'snapshot') +
    (s.default ? ' [default]' : '') + (s.trial ? ` [trial, ${s.trial.left} of ${s.trial.tries} left]` : '');
  const rows = list.map((s) => [
    s.name + (s.mounted ? ' *' : ''), type(s), when(s.timeMs), String(s.seq),
    bytes_human(s.exclusiveBytes ?? 0), s.parent,
  ]);
  const head = ['NAME', 'TYPE', 'CREATED', 'CHECKPOINT', 'FREES', 'FROM'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 3 || i === 4 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ').trimEnd();
  process.stdout.write([line(head), ...rows.map(line)].join('\n') + '\n');
  process.stdout.write(`${list.length} snapshot${list.length > 1 ? 's' : ''}; together they hold ${bytes_human(held)} that the live tree does not` +
    `${list.some((s) => s.mounted) ? ' (* = the tree this mount serves)' : ''}\n`);
  process.stdout.write(`boot: ${boot.text}\n`);
}

function diff_print(d: TreeDiff): void {
  const lines = [...d.added.map((p) => `+ ${p}`), ...d.removed.map((p) => `- ${p}`), ...d.changed.map((p) => `M ${p}`)];
  lines.sort((a, b) => (a.slice(2) < b.slice(2) ? -1 : a.slice(2) > b.slice(2) ? 1 : 0));
  process.stdout.write(lines.length ? lines.join('\n') + '\n' : '');
}

export const cmd_snapshot: Command = {
  name: 'snapshot',
  summary: 'snapshots: create, list, delete, rollback, clone, diff, set-default, mark-good (on a mount or a device)',
  help: HELP,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === undefined) throw new UsageError('missing subcommand (create, list, delete, rollback, clone, diff, set-default, mark-good)');
    const a = args_parse(rest, {
      flags: sub === 'rollback' ? ['--discard'] : sub === 'list' || sub === 'diff' ? ['--json'] : [],
      values: sub === 'set-default' ? ['--trial'] : [],
    });
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
        let list: SnapListEntry[], held: number, boot: BootStatus;
        if (t.kind === 'mount') {
          const r = await ask(t.mnt, { op: 'snapshot-list', usage: true });
          list = r.list as SnapListEntry[];
          held = r.heldBytes as number;
          boot = r.boot as BootStatus;
        } else {
          // nothing serves a tree of an unmounted device (the open to read it serves the default)
          ({ list, held, boot } = with_device(t.path, true, (f) => ({
            list: f.snapshot_list({ usage: true }).map((s) => ({ ...s, mounted: false })), held: f.snapshot_held_bytes(), boot: f.boot_status(),
          })));
        }
        if (a.flags.has('--json')) process.stdout.write(JSON.stringify({ snapshots: list, heldBytes: held, boot }, null, 2) + '\n');
        else list_print(list, held, boot);
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
      case 'set-default': {
        need(2, 'TARGET NAME');
        if (a.pos.length > 2) throw new UsageError(`unexpected argument '${a.pos[2]}'`);
        const given = a.values.get('--trial');
        let trial: number | undefined;
        if (given !== undefined) {
          trial = Number(given);
          if (!/^\d+$/.test(given) || trial < 1 || trial > BOOT_TRIES_MAX) throw new UsageError(`--trial ${given}: the number of mounts the trial gets, 1 to ${BOOT_TRIES_MAX}`);
        }
        const reqs: SnapRequest[] = [{ op: 'set-default', name: a.pos[1]!, ...(trial !== undefined ? { trial } : {}) }];
        const t = target_of(a.pos[0]!);
        const code = report(reqs, await apply(t, reqs));
        if (code === 0 && t.kind === 'mount') process.stdout.write('(this mount keeps serving its tree; the change takes effect at the next mount)\n');
        return code;
      }
      case 'mark-good': {
        need(1, 'TARGET');
        if (a.pos.length > 1) throw new UsageError(`unexpected argument '${a.pos[1]}'`);
        const t = target_of(a.pos[0]!);
        const reqs: SnapRequest[] = [{ op: 'mark-good', name: t.kind === 'mount' ? '@live' : '@trial' }];
        return report(reqs, await apply(t, reqs));
      }
      default:
        throw new UsageError(`unknown subcommand '${sub}' (create, list, delete, rollback, clone, diff, set-default, mark-good)`);
    }
  },
};
