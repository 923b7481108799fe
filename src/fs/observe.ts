// What the file layer tells an observer about the way of written bytes to durability: written
// (accepted into the page cache, or into a small file's inline record), logged (the dirty pages
// handed to the log as data blocks, or logged as patches of the next redo group) and durable
// (a redo group or a checkpoint, flushed). The mount's tracer (src/fuse/trace.ts) listens; the
// engine knows nothing about it.
//
// Invariants:
// - The observer is null unless someone listens, and every call site is `observer?.…`: with
//   nobody listening the engine does one null check per event and nothing else.
// - Calls come synchronously, in the order the engine does the work, and carry no time: the
//   engine stays deterministic, the observer stamps what it hears.
// - data_logged(ino) means every byte written to `ino` before it has left the page cache (the
//   flush writes all of an inode's dirty pages, or logs them as patches at fsync); durable('end')
//   means everything logged before it is durable: a redo group holds every tree change since the
//   last group or checkpoint, a checkpoint the whole tree, and both flush the device first.

export interface FsObserver {
  /** `len` bytes at `off` of `ino` accepted; `inline`: they went into the tree (the file is inline) */
  data_written(ino: number, off: number, len: number, inline: boolean): void;
  /** the dirty pages of `ino` went to the log: `blocks` data blocks written, `patchBytes` logged as patches */
  data_logged(ino: number, blocks: number, patchBytes: number): void;
  /** `ino` and its records were dropped (last name and handle gone): its pending bytes never will be durable */
  data_dropped(ino: number): void;
  /** a durability point starts or has ended (`seq`: the checkpoint the volume is at after it) */
  durable(phase: 'begin' | 'end', what: 'checkpoint' | 'redo', seq: number): void;
}
