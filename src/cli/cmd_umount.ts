// `cowlog umount MOUNTPOINT`: asks the mount's server, through its control socket, to unmount,
// write its final checkpoint and wear file and exit; returns when the server has exited.
// A mount whose server died (kill -9, a crash) is cleaned up instead.

import path from 'node:path';
import type { Command } from './command.js';
import { args_parse, pos_exact } from './command.js';
import { control_request, ControlUnreachable } from '../fuse/control.js';
import {
  cmd, mount_dead, mount_find, mount_stale_remove, pid_alive, socket_path, state_read, state_remove,
} from '../fuse/runtime.js';

const HELP = `usage: cowlog umount [-l] MOUNTPOINT

Unmounts the cowlog filesystem at MOUNTPOINT: its server writes the final checkpoint, saves
the wear file if it keeps one, and exits; this command returns once it has. Fails with
"target is busy" while files are open there or a process works inside it, as umount(8).

A mount whose server is gone (killed, crashed: "Transport endpoint is not connected") is
removed instead, and the next mount rolls forward what fsync made durable.

options:
  -l    lazy: detach the mount now, the server finishes once nothing uses it any more`;

function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}

async function exit_wait(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (pid_alive(pid)) {
    if (Date.now() > end) return false;
    await sleep(25);
  }
  return true;
}

export const cmd_umount: Command = {
  name: 'umount',
  summary: 'unmount a cowlog mount: final checkpoint, wear file, server exit',
  help: HELP,
  async run(argv) {
    const a = args_parse(argv, { flags: ['-l'] });
    const [given] = pos_exact(a, ['MOUNTPOINT']);
    // path.resolve, not realpath: a dead mount can not be stat'ed
    const mnt = path.resolve(given!);
    const lazy = a.flags.has('-l');
    const st = state_read(mnt);
    if (st !== undefined && pid_alive(st.pid)) {
      try {
        const r = await control_request(socket_path(mnt), { op: 'unmount', lazy }, 10 * 60_000);
        if (!r.ok) {
          process.stderr.write(`cowlog umount: ${r.error ?? 'the server refused'}\n`);
          return 1;
        }
        // lazily: detached now; the server finishes when the last open file is closed
        if (lazy) return 0;
        if (!(await exit_wait(st.pid, 60_000))) {
          process.stderr.write(`cowlog umount: ${mnt} is unmounted but its server (pid ${st.pid}) has not exited after 60 s; see ${st.log}\n`);
          return 1;
        }
        return 0;
      } catch (e) {
        if (!(e instanceof ControlUnreachable)) throw e;
        // no answer: fall through and judge the mount itself
        if (pid_alive(st.pid) && e.code === 'ETIMEDOUT') {
          process.stderr.write(`cowlog umount: ${e.message}; see ${st.log}\n`);
          return 1;
        }
      }
    }
    const m = mount_find(mnt);
    if (m === undefined) {
      if (st !== undefined) state_remove(mnt);
      process.stderr.write(`cowlog umount: ${mnt}: not mounted\n`);
      return 1;
    }
    if (!m.fstype.startsWith('fuse')) {
      process.stderr.write(`cowlog umount: ${mnt} is not a cowlog mount (${m.fstype} from ${m.source})\n`);
      return 1;
    }
    const serverGone = st !== undefined && !pid_alive(st.pid);
    if (serverGone || (await mount_dead(mnt))) {
      const did = await mount_stale_remove(m);
      process.stderr.write(`cowlog umount: the server of ${mnt} was gone; stale mount removed (${did.join(', ')}). ` +
        'The next mount rolls forward what fsync made durable.\n');
      return 0;
    }
    if (m.fstype !== 'fuse.cowlog') {
      process.stderr.write(`cowlog umount: ${mnt} is not a cowlog mount (${m.fstype} from ${m.source})\n`);
      return 1;
    }
    // a live cowlog mount without a control socket we can reach (another user's run directory):
    // an ordinary unmount; its server notices, writes its checkpoint and exits by itself
    const r = await cmd('fusermount', [lazy ? '-uz' : '-u', mnt], 60_000);
    if (r.code !== 0) {
      process.stderr.write(`cowlog umount: ${r.stderr.trim() || `fusermount failed on ${mnt}`}\n`);
      return 1;
    }
    process.stderr.write(`cowlog umount: ${mnt} unmounted without its control socket (${socket_path(mnt)}); the server finishes on its own\n`);
    return 0;
  },
};
