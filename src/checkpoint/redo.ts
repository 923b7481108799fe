// Redo writing: what fsync makes durable without a checkpoint. Every tree change remembers its
// key here; fsync writes the current value (or deletion) of each as one redo group, with the
// small writes it logs as patches, and flushes once.
//
// Invariants:
// - a group holds the final value of every key changed since the previous group or checkpoint,
//   so roll-forward rebuilds a state the filesystem really was in;
// - redo blocks of one epoch are numbered from 0 and each names where the next one goes; the
//   last block of a group carries REDO_FLAG_GROUP_END;
// - a checkpoint starts a new epoch: the pending keys are dropped (the checkpoint holds them)
//   and numbering starts again;
// - past `keysMax` pending keys the keys are let go and the log is `overflowed`: no redo group
//   is written until a checkpoint (fsync writes one instead, as it would for that many keys).
//   Without the bound the keys of a long run of changes without fsync (rm -rf of 100,000
//   files: 30 MiB of them) were all held until the checkpoint.

import { Cause, tag_of } from '../device/cause.js';
import type { BlockDevice } from '../device/device.js';
import { key, key_cmp } from '../format/records.js';
import type { Key } from '../format/records.js';
import { REDO_BODY_BYTES, redo_encode, REDO_DEL, REDO_FLAG_GROUP_END, REDO_PATCH, REDO_PUT, redo_rec_bytes } from '../format/redo.js';
import type { RedoRecord } from '../format/redo.js';
import { Head } from '../log/segments.js';
import type { SegLog } from '../log/segments.js';
import { assert } from '../util/assert.js';

/** Bytes of one file block made durable by fsync without writing the block (see REDO_PATCH). */
export interface Patch {
  ino: number;
  /** byte offset in the file; off .. off + bytes.length stays inside one 4 KiB block */
  off: number;
  gen: number;
  bytes: Buffer;
}

function key_id(k: Key): string {
  return `${k.ino}:${k.kind}:${k.off}`;
}

export class RedoLog {
  /** keys changed since the last redo group or checkpoint */
  private readonly dirty = new Map<string, Key>();
  /** pending keys past which they are let go: fsync checkpoints instead (FileSystem's redoKeysMax) */
  keysMax = Infinity;
  /** more than keysMax keys changed since the last checkpoint: only a checkpoint makes them durable */
  private overflow = false;
  /** the next redo block's index in this epoch */
  private index = 0;
  /** where this epoch's chain starts (the checkpoint's redoStart) */
  start: number;

  constructor(start: number) {
    this.start = start;
  }

  /** A tree record changed: the next group carries its value. */
  note(k: Key): void {
    if (this.overflow) return;
    this.dirty.set(key_id(k), k);
    if (this.dirty.size > this.keysMax) {
      this.dirty.clear();
      this.overflow = true;
    }
  }

  /** Whether only a checkpoint can make what changed durable (more than keysMax keys changed). */
  get overflowed(): boolean {
    return this.overflow;
  }

  /** Whether the next redo group already carries key k (overflowed: the checkpoint carries every key). */
  pending(k: Key): boolean {
    return this.overflow || this.dirty.has(key_id(k));
  }

  /** Keys the next redo group would carry (Infinity once overflowed). */
  get pendingKeys(): number {
    return this.overflow ? Infinity : this.dirty.size;
  }

  /** Bytes the next group would take (an estimate used to decide on a checkpoint instead). */
  pending_bytes(get: (k: Key) => Buffer | undefined): number {
    if (this.overflow) return Infinity;
    let n = 0;
    for (const k of this.dirty.values()) n += 14 + (get(k)?.length ?? 0);
    return n;
  }

  /** Forgets the pending keys (a checkpoint or a tree switch writes them another way). */
  clear(): void {
    this.dirty.clear();
    this.overflow = false;
  }

  /** A checkpoint became durable: its epoch's chain starts at `start`, numbered from 0. */
  epoch_start(start: number): void {
    this.dirty.clear();
    this.overflow = false;
    this.index = 0;
    this.start = start;
  }

  /**
   * Writes the pending records and `patches` as one group of redo blocks of epoch `epoch` (the
   * caller flushes, then clears). `ino`: the file whose fsync this is, 0 for none. Returns the blocks written.
   */
  write(dev: BlockDevice, log: SegLog, fsid: number, epoch: number, get: (k: Key) => Buffer | undefined, patches: Patch[], ino: number): number {
    assert(!this.overflow, 'a redo group after its keys were let go: only a checkpoint makes them durable');
    const keys = [...this.dirty.values()].sort(key_cmp);
    const records: RedoRecord[] = keys.map((k) => {
      const v = get(k);
      return v === undefined ? { op: REDO_DEL, key: k, value: Buffer.alloc(0) } : { op: REDO_PUT, key: k, value: v };
    });
    for (const p of patches) {
      const value = Buffer.alloc(4 + p.bytes.length);
      value.writeUInt32LE(p.gen, 0);
      p.bytes.copy(value, 4);
      records.push({ op: REDO_PATCH, key: key(p.ino, 0, p.off), value });
    }
    assert(records.length > 0, 'an empty redo group');
    const blocks: RedoRecord[][] = [[]];
    let used = 0;
    for (const r of records) {
      const sz = redo_rec_bytes(r);
      if (used + sz > REDO_BODY_BYTES) { blocks.push([]); used = 0; }
      blocks[blocks.length - 1]!.push(r);
      used += sz;
    }
    blocks.forEach((recs, i) => {
      const addr = log.alloc(Head.REDO);
      const next = log.peek(Head.REDO);
      const buf = redo_encode({
        fsid, epoch, index: this.index++, addr, next,
        flags: i === blocks.length - 1 ? REDO_FLAG_GROUP_END : 0, records: recs,
      });
      // a block carrying patches was written for small writes of file data (and the records
      // of the same fsync); one with records alone for changes of the tree
      const cause = recs.some((r) => r.op === REDO_PATCH) ? Cause.REDO_PATCH : Cause.REDO;
      dev.write(addr, buf, ino !== 0 ? { cause, ino } : tag_of(cause));
    });
    return blocks.length;
  }
}
