// The running server of a mountpoint, for commands that talk to a mount (trace, top,
// info --stats), with a one-line reason when there is none; and how a stream from it ended.
//
// Invariants: nothing here touches the mountpoint itself (a hung mount would hang the command):
// the server's state file in the run directory, /proc and /proc/self/mountinfo only.

import path from 'node:path';
import { mount_find, pid_alive, run_dir, state_read } from '../fuse/runtime.js';
import type { ServerState } from '../fuse/runtime.js';

/** Why a path has no cowlog server to ask; the message is the whole line (exit status 1). */
export class NoServer extends Error {
  constructor(readonly code: 'ENOENT' | 'EINVAL', message: string) {
    super(message);
    this.name = 'NoServer';
  }
}

/** The state of the server serving `given`, or NoServer saying why there is none. */
export function server_find(given: string): ServerState {
  const mnt = path.resolve(given);
  const st = state_read(mnt);
  if (st !== undefined && pid_alive(st.pid)) return st;
  const m = mount_find(mnt);
  if (st !== undefined) {
    throw new NoServer('ENOENT', `${mnt}: its cowlog server (pid ${st.pid}) is gone${m !== undefined ? `; 'cowlog umount ${mnt}' removes the dead mount` : ''}`);
  }
  if (m === undefined) throw new NoServer('ENOENT', `${mnt} is not a mountpoint: give the mountpoint of a running cowlog mount`);
  if (m.fstype !== 'fuse.cowlog') throw new NoServer('EINVAL', `${mnt} is not a cowlog mount (it is ${m.fstype} from ${m.source})`);
  throw new NoServer('ENOENT', `${mnt} is a cowlog mount, but no server of it is recorded in ${run_dir()} (mounted by another user, or with another COWLOG_RUN_DIR)`);
}

/**
 * How a stream (trace, top) ended, said in one line on stderr: the server ended it (`ended`,
 * the mount went away: exit 0) or the connection broke (`gone`: exit 1); null when it was
 * stopped from this side.
 */
export function stream_exit(cmd: string, mountpoint: string, ended: string | null, gone: string | null): number | null {
  if (ended !== null) {
    process.stderr.write(`cowlog ${cmd}: ${mountpoint}: ${ended}\n`);
    return 0;
  }
  if (gone !== null) {
    process.stderr.write(`cowlog ${cmd}: ${mountpoint}: the server went away (${gone})\n`);
    return 1;
  }
  return null;
}
