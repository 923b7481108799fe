// `cowlog sync MOUNTPOINT...`: make everything written to running cowlog mounts durable, with a
// checkpoint each. The kernel does not pass sync(2) or syncfs(2) on to a FUSE filesystem (it
// does for virtiofs only), so `sync` alone makes nothing of a cowlog mount durable; this is the
// command that does (docs/MOUNT.md, durability).

import type { Command } from './command.js';
import { args_parse, UsageError } from './command.js';
import { control_request, ControlUnreachable } from '../fuse/control.js';
import { server_find, NoServer } from './server_find.js';

const HELP = `usage: cowlog sync [--json] MOUNTPOINT...

Makes everything written so far to each cowlog mount durable: the server writes a checkpoint
(every dirty page and tree node, then the checkpoint header) and answers once the device has
flushed it. Use it where 'sync' would be used on a kernel filesystem: sync(2) and syncfs(2) are
not passed on to FUSE filesystems, so 'sync' makes nothing of a cowlog mount durable (fsync(2)
of a file or a directory does, and so does the 30 s commit timer, at most 30 s late).

A read-only mount has nothing to write and answers at once.

options:
  --json   one JSON object per mount: {"mountpoint", "ok", "ms", "error"?}

Exit status: 0 every mount synced; 1 one of them is not a running cowlog mount or failed; 2 usage.`;

export const cmd_sync: Command = {
  name: 'sync',
  summary: 'make everything written to a running mount durable (sync(2) does not reach FUSE)',
  help: HELP,
  async run(argv) {
    const a = args_parse(argv, { flags: ['--json'] });
    if (a.pos.length === 0) throw new UsageError('missing MOUNTPOINT');
    const json = a.flags.has('--json');
    let failed = 0;
    for (const mnt of a.pos) {
      const t0 = process.hrtime.bigint();
      let error: string | undefined;
      try {
        const st = server_find(mnt);
        const r = await control_request(st.socket, { op: 'sync' }, 10 * 60_000);
        if (!r.ok) error = r.error ?? 'the server refused';
      } catch (e) {
        if (!(e instanceof NoServer) && !(e instanceof ControlUnreachable)) throw e;
        error = e.message;
      }
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (error !== undefined) failed++;
      if (json) process.stdout.write(JSON.stringify({ mountpoint: mnt, ok: error === undefined, ms: Math.round(ms * 10) / 10, ...(error !== undefined ? { error } : {}) }) + '\n');
      else if (error !== undefined) process.stderr.write(`cowlog sync: ${mnt}: ${error}\n`);
    }
    return failed > 0 ? 1 : 0;
  },
};
