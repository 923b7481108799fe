// SNAP table entries: one per kept tree root (a snapshot or a clone), 128 bytes each.
//
//   0  u32 flags     bit 0 USED, bit 1 WRITABLE (a clone), bit 2 AUTO (kept by a rollback)
//   4  u32 root_nid  the root node of its tree; the entry holds one NAT reference on it
//   8  u32 seq       the checkpoint that first included it
//  12  u32 parent    the tree it was taken from: 0 = the main tree, k = SNAP entry k − 1
//  16  u64 time_ms   when it was taken (milliseconds since 1970-01-01 UTC)
//  24  6 bytes       reserved, zero
//  30  u8  name_len  1 to SNAP_NAME_MAX
//  31  u8  reserved  zero
//  32  name_len bytes of name (the rest of the 96 bytes is zero)
//
// Invariants: an entry is free exactly when flags is 0, and then it is all zeros; names are
// unique among used entries; root_nid of a used entry has a NAT reference count of at least 1.

import { u64_get, u64_set } from './block.js';

export const SNAP_ENTRY_BYTES = 128;
export const SNAP_NAME_MAX = 96;
export const SNAP_FLAG_USED = 1;
export const SNAP_FLAG_WRITABLE = 2;
export const SNAP_FLAG_AUTO = 4;
const SNAP_FLAGS_KNOWN = SNAP_FLAG_USED | SNAP_FLAG_WRITABLE | SNAP_FLAG_AUTO;

export interface SnapEntry {
  flags: number;
  rootNid: number;
  seq: number;
  /** 0 = the main tree, k = SNAP entry k − 1 */
  parent: number;
  timeMs: number;
  name: string;
}

/**
 * Why `name` cannot name a snapshot, or null. Names are 1 to 96 bytes of ASCII letters, digits
 * and `. _ - + :`, not starting with '-' or '.': safe in a shell, a path and a log line. The
 * command line's own names (`@live`) start with '@' and so never clash with one.
 */
export function snap_name_problem(name: string): string | null {
  if (name.length === 0) return 'a snapshot name cannot be empty';
  if (Buffer.byteLength(name) > SNAP_NAME_MAX) return `snapshot name of ${Buffer.byteLength(name)} bytes (at most ${SNAP_NAME_MAX})`;
  if (!/^[A-Za-z0-9_+:][A-Za-z0-9._+:-]*$/.test(name)) {
    return `snapshot name ${JSON.stringify(name)}: use letters, digits and . _ - + : (not starting with '-' or '.')`;
  }
  return null;
}

export function snap_encode(e: SnapEntry): Uint8Array {
  const b = new Uint8Array(SNAP_ENTRY_BYTES);
  const v = new DataView(b.buffer);
  const name = Buffer.from(e.name, 'utf8');
  if (name.length === 0 || name.length > SNAP_NAME_MAX) throw new RangeError(`snapshot name of ${name.length} bytes`);
  v.setUint32(0, e.flags, true);
  v.setUint32(4, e.rootNid, true);
  v.setUint32(8, e.seq, true);
  v.setUint32(12, e.parent, true);
  u64_set(v, 16, e.timeMs);
  v.setUint8(30, name.length);
  b.set(name, 32);
  return b;
}

/** Decodes a used entry; null for a free one. Throws RangeError for one that cannot be. */
export function snap_decode(b: Uint8Array): SnapEntry | null {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const flags = v.getUint32(0, true);
  if (flags === 0) {
    if (b.some((x) => x !== 0)) throw new RangeError('free snapshot entry that is not all zeros');
    return null;
  }
  if ((flags & SNAP_FLAG_USED) === 0 || (flags & ~SNAP_FLAGS_KNOWN) !== 0) throw new RangeError(`snapshot flags 0x${flags.toString(16)}`);
  const len = v.getUint8(30);
  if (len === 0 || len > SNAP_NAME_MAX) throw new RangeError(`snapshot name length ${len}`);
  const rootNid = v.getUint32(4, true);
  if (rootNid === 0) throw new RangeError('snapshot with root node 0');
  return {
    flags,
    rootNid,
    seq: v.getUint32(8, true),
    parent: v.getUint32(12, true),
    timeMs: u64_get(v, 16),
    name: Buffer.from(b.subarray(32, 32 + len)).toString('utf8'),
  };
}
