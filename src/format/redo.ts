// Roll-forward (redo) blocks: what fsync writes instead of a checkpoint.
//
// Each epoch (the time after checkpoint N) has one chain of redo blocks. The checkpoint names
// where the chain starts; each block names where the next one will be written, so mount can
// follow the chain without scanning. A block carries logical tree changes (PUT key value, DEL
// key); a group of blocks ending with GROUP_END is one fsync and is applied whole or not at all.
// Invariants: a block names its epoch, its index in the chain and its own address; mount stops
// at the first block that is missing, damaged, or of another epoch or index.

import { BLOCK_SIZE } from '../device/device.js';
import { CorruptError } from '../util/errors.js';
import { block_new, block_seal, log_header_verify, log_header_write, magic_of, view_of } from './block.js';
import { FORMAT_VERSION } from './geometry.js';
import { KEY_BYTES, key_read, key_write, VALUE_MAX } from './records.js';
import type { Key } from './records.js';

export const REDO_MAGIC = magic_of('CLRD');
export const REDO_HEADER_BYTES = 32;
export const REDO_BODY_BYTES = BLOCK_SIZE - REDO_HEADER_BYTES - 4;
export const REDO_FLAG_GROUP_END = 1;
export const REDO_PUT = 1;
export const REDO_DEL = 2;
/**
 * Bytes written into one file block, logged instead of writing the block (small writes made
 * durable by fsync): key = (ino, 0, byte offset in the file), value = the inode's data_gen (u32)
 * then the bytes, all inside one 4 KiB block of the file. Roll-forward applies the patches of a
 * group after its tree records, in order.
 */
export const REDO_PATCH = 3;
export const REDO_REC_OVERHEAD = 1 + KEY_BYTES + 2;
/** A PATCH value is not a tree record: it may fill a redo block (data_gen and the bytes of up to a whole file block). */
export const PATCH_VALUE_MAX = 4 + 4096;

export interface RedoRecord {
  op: number;
  key: Key;
  /** the value for PUT; empty for DEL */
  value: Buffer;
}

export interface RedoBlock {
  fsid: number;
  epoch: number;
  index: number;
  addr: number;
  next: number;
  flags: number;
  records: RedoRecord[];
}

export function redo_rec_bytes(r: RedoRecord): number {
  return REDO_REC_OVERHEAD + r.value.length;
}

export function redo_encode(rb: RedoBlock): Buffer {
  const b = block_new();
  const v = view_of(b);
  log_header_write(v, { magic: REDO_MAGIC, version: FORMAT_VERSION, sub: rb.flags, fsid: rb.fsid, addr: rb.addr, seq: rb.epoch, id: rb.index });
  v.setUint32(24, rb.next, true);
  v.setUint16(28, rb.records.length, true);
  let p = REDO_HEADER_BYTES;
  for (const r of rb.records) {
    if (r.value.length > (r.op === REDO_PATCH ? PATCH_VALUE_MAX : VALUE_MAX)) throw new RangeError(`redo record value of ${r.value.length} bytes`);
    if (p + redo_rec_bytes(r) > REDO_HEADER_BYTES + REDO_BODY_BYTES) throw new RangeError('redo records overflow the block');
    v.setUint8(p, r.op);
    key_write(v, p + 1, r.key);
    v.setUint16(p + 1 + KEY_BYTES, r.value.length, true);
    b.set(r.value, p + REDO_REC_OVERHEAD);
    p += redo_rec_bytes(r);
  }
  block_seal(b);
  return b;
}

export function redo_decode(buf: Uint8Array, addr: number, fsid: number): RedoBlock {
  const { v, h } = log_header_verify(buf, REDO_MAGIC, 'redo', addr, fsid, FORMAT_VERSION);
  const rb: RedoBlock = { fsid, epoch: h.seq, index: h.id, addr, next: v.getUint32(24, true), flags: h.sub, records: [] };
  const count = v.getUint16(28, true);
  let p = REDO_HEADER_BYTES;
  const end = REDO_HEADER_BYTES + REDO_BODY_BYTES;
  for (let i = 0; i < count; i++) {
    if (p + REDO_REC_OVERHEAD > end) throw new CorruptError('redo', addr, `record ${i} runs past the block`);
    const op = v.getUint8(p);
    if (op !== REDO_PUT && op !== REDO_DEL && op !== REDO_PATCH) throw new CorruptError('redo', addr, `record ${i} has op ${op}`);
    const key = key_read(v, p + 1);
    const len = v.getUint16(p + 1 + KEY_BYTES, true);
    if (len > (op === REDO_PATCH ? PATCH_VALUE_MAX : VALUE_MAX) || p + REDO_REC_OVERHEAD + len > end) throw new CorruptError('redo', addr, `record ${i} value runs past the block`);
    const value = Buffer.from(buf.subarray(p + REDO_REC_OVERHEAD, p + REDO_REC_OVERHEAD + len));
    if (op === REDO_PATCH && (len < 5 || (key.off % 4096) + len - 4 > 4096)) throw new CorruptError('redo', addr, `patch record ${i} of ${len - 4} bytes at file offset ${key.off} crosses a block`);
    rb.records.push({ op, key, value });
    p += REDO_REC_OVERHEAD + len;
  }
  return rb;
}
