// Extended attributes.
//
// A value of up to XATTR_INLINE_MAX bytes lives in an XATTR record keyed (ino, hash(name)), a
// list of the attributes whose names share the hash. A larger one, up to 64 KiB (Linux's
// XATTR_SIZE_MAX, what FUSE filesystems are expected to take), is split into XCHUNK records of
// 1536 bytes under a chunk id, and an XBIG record keyed like XATTR names it with the value's
// length and CRC32C. Both are ordinary tree records: copy-on-write, snapshots, redo at fsync and
// fsck need nothing of their own, and a large value costs a few leaf records, not a block map.
//
// Invariants:
// - A name is in at most one of the two lists (XATTR or XBIG) of its inode.
// - An XBIG entry's chunks are exactly (ino, XCHUNK, id·2^16 + i) for i < ceil(len / 1536), the
//   last one holding the rest; no other XCHUNK records exist for that inode. Chunk ids are
//   unique within an inode.

import type { Volume } from '../checkpoint/volume.js';
import {
  key, KEY_MAX, name_hash, RecKind, xattrs_decode, xattrs_encode, xbigs_decode, xbigs_encode, XATTR_CHUNK_BYTES, XATTR_SIZE_MAX,
  xchunk_count, xchunk_off,
} from '../format/records.js';
import type { Key, Xattr, XattrBig } from '../format/records.js';
import { crc32c } from '../util/crc32c.js';
import { CorruptError, FsError } from '../util/errors.js';

/** Values up to this size stay in the XATTR list (with a 255-byte name the list still fits a record). */
export const XATTR_INLINE_MAX = 1500;
export { XATTR_SIZE_MAX };

/** Tree records a set of a value of `len` bytes may add or change (for space admission). */
export function xattr_records(len: number): number {
  return len > XATTR_INLINE_MAX ? 2 + xchunk_count(len) : 2;
}

function list_get(vol: Volume, k: Key): Xattr[] {
  const rec = vol.get(k);
  return rec ? vol.decode(k, rec, xattrs_decode) : [];
}

function bigs_get(vol: Volume, k: Key): XattrBig[] {
  const rec = vol.get(k);
  return rec ? vol.decode(k, rec, xbigs_decode) : [];
}

/** Reads a large value's chunks and checks them against its length and CRC32C. */
function big_read(vol: Volume, ino: number, b: XattrBig): Buffer {
  const n = xchunk_count(b.len);
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const k = key(ino, RecKind.XCHUNK, xchunk_off(b.id, i));
    const part = vol.get(k);
    const want = i < n - 1 ? XATTR_CHUNK_BYTES : b.len - (n - 1) * XATTR_CHUNK_BYTES;
    if (part === undefined || part.length !== want) {
      throw new CorruptError('B+tree leaf', vol.leaf_addr(k), `inode ${ino}: xattr ${b.name.toString()}: chunk ${i} of ${n} is ${part === undefined ? 'missing' : `${part.length} bytes, not ${want}`}`);
    }
    parts.push(part);
  }
  const value = Buffer.concat(parts);
  if (crc32c(value) !== b.crc) {
    throw new CorruptError('B+tree leaf', vol.leaf_addr(key(ino, RecKind.XBIG, name_hash(b.name))), `inode ${ino}: xattr ${b.name.toString()} fails its CRC32C check`);
  }
  return value;
}

function big_chunks_drop(vol: Volume, ino: number, b: XattrBig): void {
  const n = xchunk_count(b.len);
  for (let i = 0; i < n; i++) vol.del(key(ino, RecKind.XCHUNK, xchunk_off(b.id, i)));
}

/** A chunk id no other large value of the inode uses: the name's CRC32C, probed upwards. */
function big_id_new(vol: Volume, ino: number, name: Buffer): number {
  let id = crc32c(name) >>> 0;
  for (let guard = 0; guard < 1 << 20; guard++, id = (id + 1) >>> 0) {
    if (vol.get(key(ino, RecKind.XCHUNK, xchunk_off(id, 0))) === undefined) return id;
  }
  throw new FsError('ENOSPC', `inode ${ino}: no free chunk id for a large xattr`);
}

/** Whether inode `ino` has no extended attribute: no XATTR list and no XBIG value (two tree looks). */
export function xattr_none(vol: Volume, ino: number): boolean {
  let any = false;
  const found = (): boolean => { any = true; return false; };
  vol.scan(key(ino, RecKind.XATTR, 0), key(ino, RecKind.XATTR, KEY_MAX.off), found);
  if (!any) vol.scan(key(ino, RecKind.XBIG, 0), key(ino, RecKind.XBIG, KEY_MAX.off), found);
  return !any;
}

export function xattr_get(vol: Volume, ino: number, name: Buffer): Buffer | undefined {
  const h = name_hash(name);
  for (const x of list_get(vol, key(ino, RecKind.XATTR, h))) if (x.name.equals(name)) return x.value;
  for (const b of bigs_get(vol, key(ino, RecKind.XBIG, h))) if (b.name.equals(name)) return big_read(vol, ino, b);
  return undefined;
}

/** Stores a list under its key, or deletes the key when the list is empty. */
function list_put<T>(vol: Volume, k: Key, list: T[], encode: (l: T[]) => Buffer, ino: number): void {
  if (list.length === 0) { vol.del(k); return; }
  let enc: Buffer;
  try {
    enc = encode(list);
  } catch {
    throw new FsError('ENOSPC', `xattrs of inode ${ino} sharing one hash do not fit a record`);
  }
  vol.put(k, enc);
}

export function xattr_set(vol: Volume, ino: number, name: Buffer, value: Buffer, mode: 'create' | 'replace' | 'any'): void {
  if (name.length === 0 || name.length > 255) throw new FsError('ERANGE', `xattr name of ${name.length} bytes`);
  if (value.length > XATTR_SIZE_MAX) throw new FsError('E2BIG', `xattr value of ${value.length} bytes (at most ${XATTR_SIZE_MAX})`);
  const h = name_hash(name);
  const kx = key(ino, RecKind.XATTR, h);
  const kb = key(ino, RecKind.XBIG, h);
  const list = list_get(vol, kx);
  const bigs = bigs_get(vol, kb);
  const i = list.findIndex((x) => x.name.equals(name));
  const j = bigs.findIndex((b) => b.name.equals(name));
  const exists = i >= 0 || j >= 0;
  if (exists && mode === 'create') throw new FsError('EEXIST', `xattr ${name.toString()} exists`);
  if (!exists && mode === 'replace') throw new FsError('ENODATA', `no xattr ${name.toString()}`);
  // the new entry first (its list may not fit: nothing has changed then), the old one after
  if (value.length <= XATTR_INLINE_MAX) {
    const entry = { name: Buffer.from(name), value: Buffer.from(value) };
    if (i >= 0) list[i] = entry;
    else list.push(entry);
    list_put(vol, kx, list, xattrs_encode, ino);
    if (j >= 0) {
      big_chunks_drop(vol, ino, bigs[j]!);
      bigs.splice(j, 1);
      list_put(vol, kb, bigs, xbigs_encode, ino);
    }
    return;
  }
  const id = big_id_new(vol, ino, name);
  const big: XattrBig = { name: Buffer.from(name), len: value.length, crc: crc32c(value), id };
  const old = j >= 0 ? bigs[j]! : null;
  if (old) bigs[j] = big;
  else bigs.push(big);
  list_put(vol, kb, bigs, xbigs_encode, ino);
  for (let c = 0, at = 0; at < value.length; c++, at += XATTR_CHUNK_BYTES) {
    vol.put(key(ino, RecKind.XCHUNK, xchunk_off(id, c)), Buffer.from(value.subarray(at, Math.min(value.length, at + XATTR_CHUNK_BYTES))));
  }
  if (old) big_chunks_drop(vol, ino, old);
  if (i >= 0) {
    list.splice(i, 1);
    list_put(vol, kx, list, xattrs_encode, ino);
  }
}

export function xattr_remove(vol: Volume, ino: number, name: Buffer): void {
  const h = name_hash(name);
  const kx = key(ino, RecKind.XATTR, h);
  const list = list_get(vol, kx);
  const rest = list.filter((x) => !x.name.equals(name));
  if (rest.length !== list.length) { list_put(vol, kx, rest, xattrs_encode, ino); return; }
  const kb = key(ino, RecKind.XBIG, h);
  const bigs = bigs_get(vol, kb);
  const j = bigs.findIndex((b) => b.name.equals(name));
  if (j < 0) throw new FsError('ENODATA', `no xattr ${name.toString()}`);
  big_chunks_drop(vol, ino, bigs[j]!);
  bigs.splice(j, 1);
  list_put(vol, kb, bigs, xbigs_encode, ino);
}

export function xattr_list(vol: Volume, ino: number): Buffer[] {
  const out: Buffer[] = [];
  vol.scan(key(ino, RecKind.XATTR, 0), key(ino, RecKind.XATTR, KEY_MAX.off), (k, v) => {
    for (const x of vol.decode(k, v, xattrs_decode)) out.push(x.name);
  });
  vol.scan(key(ino, RecKind.XBIG, 0), key(ino, RecKind.XBIG, KEY_MAX.off), (k, v) => {
    for (const b of vol.decode(k, v, xbigs_decode)) out.push(b.name);
  });
  return out;
}
