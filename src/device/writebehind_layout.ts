// What the engine's thread and the write-behind thread share (writebehind.ts,
// writebehind_worker.ts): a control array of Int32 counters, a queue of commands, and the ring of
// bytes the writes are copied into.

/** Indices into the control Int32Array. Counters wrap at 2^32 and are compared by difference. */
export const C = {
  /** commands queued (the engine's thread raises it and wakes the worker) */
  SUBMITTED: 0,
  /** commands carried out (the worker raises it and wakes waiters) */
  DONE: 1,
  /** the errno of the first failed write (positive), 0 while none failed */
  ERR_ERRNO: 2,
  /** the block where it failed */
  ERR_BLOCK: 3,
  /** 1 when the worker died of a bug */
  DEAD: 4,
} as const;
export const CTL_INTS = 8;

/** Commands: [op, ring offset, length, device byte position] as float64s. */
export const CMD_FIELDS = 4;
export const QUEUE_SLOTS = 1024;
export const OP_WRITE = 1;
export const OP_STOP = 2;

export interface WriteBehindShared {
  ctl: SharedArrayBuffer;
  cmds: SharedArrayBuffer;
  ring: SharedArrayBuffer;
  fd: number;
}
