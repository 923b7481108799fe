// The thread of a WriteBehind (writebehind.ts): it takes commands from the shared queue in order
// and carries each out with a blocking system call, so the engine's thread never waits for the
// kernel to copy or move a write. Protocol and shared layout: writebehind.ts.
//
// Invariants:
// - Commands are carried out one at a time, in the order they were queued; DONE is raised (and
//   waiters woken) only after the command's system call returned.
// - After the first failed write, no later write reaches the device: the error stays in ERR_*
//   and each later command only completes. Nothing queued after a failure can become durable,
//   so a checkpoint written after a lost write never lands (the caller's flush throws first).

import fs from 'node:fs';
import { workerData } from 'node:worker_threads';
import { BLOCK_SIZE } from './device.js';
import { C, CMD_FIELDS, OP_STOP, OP_WRITE, QUEUE_SLOTS } from './writebehind_layout.js';
import type { WriteBehindShared } from './writebehind_layout.js';

const shared = workerData as WriteBehindShared;
const ctl = new Int32Array(shared.ctl);
const cmds = new Float64Array(shared.cmds);
const ring = Buffer.from(shared.ring);
const fd = shared.fd;

function fail(errno: number, pos: number): void {
  Atomics.store(ctl, C.ERR_ERRNO, errno === 0 ? 5 : Math.abs(errno));
  Atomics.store(ctl, C.ERR_BLOCK, Math.floor(pos / BLOCK_SIZE));
}

function write(off: number, len: number, pos: number): void {
  let done = 0;
  while (done < len) {
    try {
      done += fs.writeSync(fd, ring, off + done, len - done, pos + done);
    } catch (e) {
      fail((e as NodeJS.ErrnoException).errno ?? 5, pos + done);
      return;
    }
  }
}

function serve(): void {
  let next = Atomics.load(ctl, C.DONE);
  for (;;) {
    while (Atomics.load(ctl, C.SUBMITTED) === next) Atomics.wait(ctl, C.SUBMITTED, next);
    const at = (next >>> 0) % QUEUE_SLOTS * CMD_FIELDS;
    const op = cmds[at]!;
    const failed = Atomics.load(ctl, C.ERR_ERRNO) !== 0;
    if (op === OP_WRITE && !failed) write(cmds[at + 1]!, cmds[at + 2]!, cmds[at + 3]!);
    next = (next + 1) | 0;
    Atomics.store(ctl, C.DONE, next);
    Atomics.notify(ctl, C.DONE);
    if (op === OP_STOP) return;
  }
}

try {
  serve();
} catch (e) {
  // a bug here must not leave the engine waiting for ever: say so and complete nothing more
  Atomics.store(ctl, C.ERR_ERRNO, 5);
  Atomics.store(ctl, C.DEAD, 1);
  Atomics.notify(ctl, C.DONE);
  throw e;
}
