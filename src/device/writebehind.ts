// WriteBehind: the writes of a FileDevice carried out by a thread of their own.
//
// A write is copied into a ring of shared memory and queued; the calling thread goes on at once
// while the worker (writebehind_worker.ts) hands the bytes to the kernel: the kernel's copy into
// the page cache is the worker's time, not the engine's. Small writes while nothing is queued
// (an fsync's redo block) are better written by the caller itself, as is the fdatasync of a
// flush once the queue is drained: waking the worker and being woken back costs more than the
// system call (inline_ok, drain_checked). Either way the BlockDevice contract (nothing is durable
// before flush returns) holds unchanged.
//
// Invariants:
// - Commands are carried out in the order they are queued; the caller writes inline only while
//   nothing is queued, and flushes only after the queue drained, so writes reach the kernel in
//   the order they were made and a flush covers every one made before it.
// - A read of blocks that a queued write has not yet reached waits for that write (the device
//   calls wait_blocks() before it reads), so it never returns what a queued write is about to
//   replace.
// - The ring holds a write's bytes from queueing until the worker is done with them; bytes are
//   copied in, so the caller may reuse its buffers as soon as write() returns.
// - After the first failed queued write the device is failed for good: every later write and
//   flush throws EIO naming that failure, and nothing queued after it reaches the device. (A
//   write or fdatasync the caller makes itself throws at once, as without write-behind.)
// - Waiting is Atomics.wait on the shared counters: the engine's thread blocks only when the
//   ring is full, a read needs a queued write, or a flush waits for the queue to drain.

import { constants } from 'node:os';
import { Worker } from 'node:worker_threads';
import { BLOCK_SIZE } from './device.js';
import { C, CMD_FIELDS, CTL_INTS, OP_STOP, OP_WRITE, QUEUE_SLOTS } from './writebehind_layout.js';
import type { WriteBehindShared } from './writebehind_layout.js';
import { FsError } from '../util/errors.js';

/** the largest write inline_ok lets the caller make itself: an fsync's redo blocks, a data block or two */
export const INLINE_BYTES = 16 << 10;
/** a wait for the worker looks again after this long even without a wake-up (DEAD is checked then) */
const WAIT_MS = 1000;
/** default ring size: a few flushes' worth of 128 KiB requests, small against any page cache */
export const RING_BYTES_DEFAULT = 32 << 20;

interface Pending {
  seq: number;
  ringStart: number;
  ringEnd: number;
  block: number;
  count: number;
}

const ERRNO_NAME = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [v, k]));

export class WriteBehind {
  private readonly ctl: Int32Array;
  private readonly cmds: Float64Array;
  private readonly ring: Buffer;
  private readonly worker: Worker;
  /** writes queued and not known to be done, oldest first (from `head` on) */
  private pending: Pending[] = [];
  /**
   * Waits that ended by their time limit rather than by the worker's wake-up. A wake-up is never
   * missed (wait_change), and a write to the kernel's page cache takes far less than WAIT_MS, so
   * anything but 0 is worth a line in the log.
   */
  timeouts = 0;
  private head = 0;
  private closed = false;

  /**
   * `fd` is the descriptor the worker writes through (the caller's, who closes it after
   * close()); `name` names the device in messages.
   */
  constructor(fd: number, readonly name: string, ringBytes = RING_BYTES_DEFAULT) {
    const shared: WriteBehindShared = {
      ctl: new SharedArrayBuffer(CTL_INTS * 4),
      cmds: new SharedArrayBuffer(QUEUE_SLOTS * CMD_FIELDS * 8),
      ring: new SharedArrayBuffer(Math.max(BLOCK_SIZE, Math.floor(ringBytes / BLOCK_SIZE) * BLOCK_SIZE)),
      fd,
    };
    this.ctl = new Int32Array(shared.ctl);
    this.cmds = new Float64Array(shared.cmds);
    this.ring = Buffer.from(shared.ring);
    this.worker = new Worker(new URL('./writebehind_worker.js', import.meta.url), { workerData: shared });
    this.worker.unref();
  }

  /** Queues the concatenation of `parts` (whole blocks) for block `block`. */
  write(block: number, parts: readonly Uint8Array[]): void {
    this.usable();
    const chunkMax = Math.max(BLOCK_SIZE, Math.floor(this.ring.length / 4 / BLOCK_SIZE) * BLOCK_SIZE);
    let total = 0;
    for (const p of parts) total += p.length;
    let i = 0, skip = 0, done = 0;
    while (done < total) {
      const len = Math.min(chunkMax, total - done);
      const off = this.ring_alloc(len);
      let at = off;
      while (at < off + len) {
        const p = parts[i]!;
        const n = Math.min(p.length - skip, off + len - at);
        this.ring.set(n === p.length ? p : p.subarray(skip, skip + n), at);
        at += n;
        skip += n;
        if (skip === p.length) { i++; skip = 0; }
      }
      const seq = this.submit(OP_WRITE, off, len, block * BLOCK_SIZE + done);
      this.pending.push({ seq, ringStart: off, ringEnd: off + len, block: block + done / BLOCK_SIZE, count: len / BLOCK_SIZE });
      done += len;
    }
  }

  /** Waits until no queued write covers blocks [block, block + count) (at once when none does). */
  wait_blocks(block: number, count: number): void {
    this.prune();
    let last = -1;
    for (let j = this.head; j < this.pending.length; j++) {
      const p = this.pending[j]!;
      if (p.block < block + count && block < p.block + p.count) last = j;
    }
    if (last >= 0) this.wait_seq(this.pending[last]!.seq);
  }

  /**
   * Whether the caller should write `bytes` itself, synchronously, rather than queue them: a
   * small write (at most INLINE_BYTES) while nothing is queued, so that the order of writes
   * stays the order of calls. Throws the first failure, as write() would.
   */
  inline_ok(bytes: number): boolean {
    this.usable();
    if (bytes > INLINE_BYTES) return false;
    this.prune();
    return this.head === this.pending.length;
  }

  /** Waits for every queued write, then throws the first failure if there was one; the caller
   *  flushes the descriptor itself. */
  drain_checked(): void {
    this.usable();
    this.drain();
    this.usable();
  }

  /** Waits for every queued write. */
  private drain(): void {
    const sub = Atomics.load(this.ctl, C.SUBMITTED);
    if (sub !== Atomics.load(this.ctl, C.DONE)) this.wait_seq((sub - 1) | 0);
    this.prune();
  }

  /** The first failure, if a queued write failed. */
  error(): FsError | null {
    const errno = Atomics.load(this.ctl, C.ERR_ERRNO);
    if (errno === 0) return null;
    const what = Atomics.load(this.ctl, C.DEAD) !== 0 ? 'the write-behind thread failed'
      : `write of block ${Atomics.load(this.ctl, C.ERR_BLOCK)} failed`;
    return new FsError('EIO', `${this.name}: ${what}: ${ERRNO_NAME.get(errno) ?? `errno ${errno}`} (nothing written after it reaches the device)`);
  }

  /** Waits for everything queued and stops the worker. The descriptor stays the caller's. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (Atomics.load(this.ctl, C.DEAD) === 0) this.wait_seq(this.submit(OP_STOP, 0, 0, 0));
    this.pending = [];
    this.head = 0;
  }

  private usable(): void {
    if (this.closed) throw new FsError('EIO', `${this.name}: used after close()`);
    const e = this.error();
    if (e) throw e;
  }

  private submit(op: number, off: number, len: number, pos: number): number {
    const seq = Atomics.load(this.ctl, C.SUBMITTED);
    // a free queue slot: at most QUEUE_SLOTS commands in flight
    for (let seen = Atomics.load(this.ctl, C.DONE); ((seq - seen) | 0) >= QUEUE_SLOTS; seen = Atomics.load(this.ctl, C.DONE)) this.wait_change(seen);
    const at = (seq >>> 0) % QUEUE_SLOTS * CMD_FIELDS;
    this.cmds[at] = op;
    this.cmds[at + 1] = off;
    this.cmds[at + 2] = len;
    this.cmds[at + 3] = pos;
    Atomics.store(this.ctl, C.SUBMITTED, (seq + 1) | 0);
    Atomics.notify(this.ctl, C.SUBMITTED);
    return seq;
  }

  private done(seq: number): boolean {
    return ((Atomics.load(this.ctl, C.DONE) - seq) | 0) > 0;
  }

  private wait_seq(seq: number): void {
    for (let seen = Atomics.load(this.ctl, C.DONE); ((seen - seq) | 0) <= 0; seen = Atomics.load(this.ctl, C.DONE)) this.wait_change(seen);
  }

  /**
   * Blocks until the worker completes more than `seen` commands (or died). `seen` must be the
   * count the caller's decision to wait was made on, read before that decision: a count read
   * again here could already include the completion being waited for, and the wait would then
   * sleep until its timeout (a missed wake-up that made one unmount in twenty take 1 s).
   */
  private wait_change(seen: number): void {
    if (Atomics.load(this.ctl, C.DEAD) !== 0) throw this.error()!;
    if (Atomics.wait(this.ctl, C.DONE, seen, WAIT_MS) === 'timed-out') this.timeouts++;
  }

  private prune(): void {
    while (this.head < this.pending.length && this.done(this.pending[this.head]!.seq)) this.head++;
    if (this.head === this.pending.length) {
      this.pending = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
  }

  /** Room for `len` contiguous bytes in the ring, waiting for the worker when there is none. */
  private ring_alloc(len: number): number {
    const size = this.ring.length;
    for (;;) {
      // the count the decision below is made on: prune() and the ring's state follow from it or later ones
      const seen = Atomics.load(this.ctl, C.DONE);
      this.prune();
      if (this.head === this.pending.length) return 0;
      const first = this.pending[this.head]!;
      const last = this.pending[this.pending.length - 1]!;
      if (last.ringStart >= first.ringStart) {
        // used: [first.ringStart, last.ringEnd); free: the end of the ring, then its start
        if (size - last.ringEnd >= len) return last.ringEnd;
        if (first.ringStart >= len) return 0;
      } else if (first.ringStart - last.ringEnd >= len) {
        // wrapped: used [first.ringStart, size) and [0, last.ringEnd)
        return last.ringEnd;
      }
      this.wait_change(seen);
    }
  }
}
