// B+tree keys and record values. One tree per root holds everything about its files, keyed so
// that an inode's records sit together (and small directories and small files share a leaf with
// their inode: the packing that decision 7 of the design asks for comes from the key order).
//
// Key = (ino u32, kind u8, off u48), compared in that order. Kinds:
//   INODE  (ino, 1, 0)          the inode
//   XATTR  (ino, 2, hash(name)) extended attributes whose names hash to `off` (a list: collisions)
//   DIRENT (dir, 3, hash(name)) directory entries whose names hash to `off` (a list: collisions)
//   INLINE (ino, 4, 0)          file data or symlink target kept in the tree (small files)
//   MAP    (ino, 5, chunk)      block map of file blocks [chunk*64, chunk*64+64): address + CRC32C
//   ORPHAN (0,   6, ino)        an open inode with no name (left, or yet: O_TMPFILE); freed at the next mount
//   COUNTS (0,   7, 0)          volume counters: next inode number, inodes in use (kept in the tree
//                               so that roll-forward brings them back with the records they count)
//   XBIG   (ino, 8, hash(name)) extended attributes too large for an XATTR list, by name hash: each
//                               entry names its value's length, CRC32C and chunk id
//   XCHUNK (ino, 9, id·2^16+i)  piece i of the value with chunk id `id` (XATTR_CHUNK_BYTES each, the
//                               last one shorter): large values are a run of ordinary records
//
// Invariants (checked on encode and decode): names are 1..255 bytes without '/' or NUL; lists are
// non-empty (kept in the order names were added); MAP slots are < 64, strictly increasing, with
// non-zero addresses.

import { crc32c } from '../util/crc32c.js';
import { u48_get, u48_set } from './block.js';
import { CLUSTER_BLOCKS } from './cluster.js';

/**
 * A zeroed buffer for an encoded record. Small ones come from Node's 8 KiB buffer pool, not a
 * malloc each: records are made and dropped by the hundred thousand, and one malloc a record,
 * freed in another order than it was made, left 23-37 MiB of holes in glibc's heap that it
 * never gave back; from the pool, 10-20 MiB less at the peak (docs/SCALE.md). A record kept
 * holds its slab; the records kept long are in dirty nodes, which a checkpoint re-encodes into
 * one block each.
 */
function rec_alloc(n: number): Buffer {
  return Buffer.allocUnsafe(n).fill(0);
}

export const enum RecKind {
  INODE = 1,
  XATTR = 2,
  DIRENT = 3,
  INLINE = 4,
  MAP = 5,
  ORPHAN = 6,
  COUNTS = 7,
  XBIG = 8,
  XCHUNK = 9,
}
export const REC_KIND_MAX = 9;
export const REC_KIND_NAMES: Record<number, string> = {
  1: 'inode', 2: 'xattr', 3: 'dirent', 4: 'inline', 5: 'map', 6: 'orphan', 7: 'counts', 8: 'xbig', 9: 'xchunk',
};

export interface Key {
  ino: number;
  kind: number;
  off: number;
}

export const KEY_BYTES = 11;
export const KEY_MIN: Key = Object.freeze({ ino: 0, kind: 0, off: 0 });
export const KEY_MAX: Key = Object.freeze({ ino: 0xffffffff, kind: 0xff, off: 0xffffffffffff });
export const NAME_MAX = 255;
export const MAP_SLOTS = 64;
export const MAP_SLOT_BYTES = 9;
/** Largest value a record may have: two records must always fit in one leaf. */
export const VALUE_MAX = 1800;

export function key(ino: number, kind: number, off: number): Key {
  return { ino, kind, off };
}

export function key_cmp(a: Key, b: Key): number {
  if (a.ino !== b.ino) return a.ino < b.ino ? -1 : 1;
  if (a.kind !== b.kind) return a.kind < b.kind ? -1 : 1;
  if (a.off !== b.off) return a.off < b.off ? -1 : 1;
  return 0;
}

export function key_str(k: Key): string {
  return `(${k.ino},${REC_KIND_NAMES[k.kind] ?? k.kind},${k.off})`;
}

export function key_write(v: DataView, at: number, k: Key): void {
  v.setUint32(at, k.ino, true);
  v.setUint8(at + 4, k.kind);
  u48_set(v, at + 5, k.off);
}

export function key_read(v: DataView, at: number): Key {
  return { ino: v.getUint32(at, true), kind: v.getUint8(at + 4), off: u48_get(v, at + 5) };
}

/** 48-bit hash of a name: where its DIRENT or XATTR list lives. */
export function name_hash(name: Uint8Array): number {
  const lo = crc32c(name);
  const hi = crc32c(name, 0, name.length, 0x5bd1e995) & 0xffff;
  return hi * 0x100000000 + lo;
}

// ---- inode ----------------------------------------------------------------------------------

export const INODE_BYTES = 104;
export const INODE_FLAG_INLINE = 1;
/** the file's data is stored in lz4 clusters where that saves blocks; a directory passes it on */
export const INODE_FLAG_COMPRESS = 2;
/** the file's data is never compressed (whatever the mount says); a directory passes it on */
export const INODE_FLAG_NOCOMPRESS = 4;
/** fallocate KEEP_SIZE: zero blocks may be mapped past the size */
export const INODE_FLAG_PREALLOC = 8;
/** chattr +i: nothing about the file or directory changes (its data, attributes, names in it) */
export const INODE_FLAG_IMMUTABLE = 16;
/** chattr +a: a file is only appended to, a directory only gains names; neither is removed */
export const INODE_FLAG_APPEND = 32;
/** chattr +d: dump(8) leaves the file out (kept, not acted on) */
export const INODE_FLAG_NODUMP = 64;
/** chattr +A: reads do not move the access time */
export const INODE_FLAG_NOATIME = 128;
/** chattr +S: each change of the file is durable when its call returns */
export const INODE_FLAG_SYNC = 256;
/** chattr +D: each change of the directory's names is durable when its call returns */
export const INODE_FLAG_DIRSYNC = 512;
/** the flags users set with chattr (superblock feature ATTRS) */
export const INODE_FLAGS_ATTRS = INODE_FLAG_IMMUTABLE | INODE_FLAG_APPEND | INODE_FLAG_NODUMP | INODE_FLAG_NOATIME | INODE_FLAG_SYNC | INODE_FLAG_DIRSYNC;
export const INODE_FLAGS_KNOWN = INODE_FLAG_INLINE | INODE_FLAG_COMPRESS | INODE_FLAG_NOCOMPRESS | INODE_FLAG_PREALLOC | INODE_FLAGS_ATTRS;

export interface Inode {
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  rdev: number;
  flags: number;
  generation: number;
  /** the directory holding a directory's name (0 for other inodes): gives '..' */
  parent: number;
  /** 4 KiB blocks the file's map points at (st_blocks / 8) */
  blocks: number;
  /**
   * Bumped whenever the file shrinks. A PATCH redo record carries the value it was logged
   * under; roll-forward drops a patch whose file has shrunk since (its bytes were cut off, and a
   * later extension must read zeros there).
   */
  data_gen: number;
  atime_s: number; atime_ns: number;
  mtime_s: number; mtime_ns: number;
  ctime_s: number; ctime_ns: number;
  btime_s: number; btime_ns: number;
}

function i64_set(v: DataView, at: number, n: number): void {
  const hi = Math.floor(n / 0x100000000);
  v.setUint32(at, n - hi * 0x100000000, true);
  v.setInt32(at + 4, hi, true);
}

function i64_get(v: DataView, at: number): number {
  return v.getInt32(at + 4, true) * 0x100000000 + v.getUint32(at, true);
}

export function inode_encode(i: Inode): Buffer {
  if (!Number.isSafeInteger(i.size) || i.size < 0) throw new RangeError(`inode size ${i.size}`);
  const b = rec_alloc(INODE_BYTES);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  v.setUint32(0, i.mode, true);
  v.setUint32(4, i.uid, true);
  v.setUint32(8, i.gid, true);
  v.setUint32(12, i.nlink, true);
  v.setUint32(16, i.size % 0x100000000, true);
  v.setUint32(20, Math.floor(i.size / 0x100000000), true);
  v.setUint32(24, i.rdev, true);
  v.setUint32(28, i.flags, true);
  v.setUint32(32, i.generation, true);
  v.setUint32(36, i.parent, true);
  i64_set(v, 40, i.atime_s);
  i64_set(v, 48, i.mtime_s);
  i64_set(v, 56, i.ctime_s);
  i64_set(v, 64, i.btime_s);
  v.setUint32(72, i.atime_ns, true);
  v.setUint32(76, i.mtime_ns, true);
  v.setUint32(80, i.ctime_ns, true);
  v.setUint32(84, i.btime_ns, true);
  v.setUint32(88, i.blocks % 0x100000000, true);
  v.setUint32(92, Math.floor(i.blocks / 0x100000000), true);
  v.setUint32(96, i.data_gen, true);
  return b;
}

export function inode_decode(b: Uint8Array): Inode {
  if (b.length !== INODE_BYTES) throw new RangeError(`inode value of ${b.length} bytes, want ${INODE_BYTES}`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    mode: v.getUint32(0, true),
    uid: v.getUint32(4, true),
    gid: v.getUint32(8, true),
    nlink: v.getUint32(12, true),
    size: v.getUint32(16, true) + v.getUint32(20, true) * 0x100000000,
    rdev: v.getUint32(24, true),
    flags: v.getUint32(28, true),
    generation: v.getUint32(32, true),
    parent: v.getUint32(36, true),
    blocks: v.getUint32(88, true) + v.getUint32(92, true) * 0x100000000,
    data_gen: v.getUint32(96, true),
    atime_s: i64_get(v, 40),
    mtime_s: i64_get(v, 48),
    ctime_s: i64_get(v, 56),
    btime_s: i64_get(v, 64),
    atime_ns: v.getUint32(72, true),
    mtime_ns: v.getUint32(76, true),
    ctime_ns: v.getUint32(80, true),
    btime_ns: v.getUint32(84, true),
  };
}

// ---- directory entries ----------------------------------------------------------------------

export interface Dirent {
  name: Buffer;
  ino: number;
  /** DT_* type: 1 fifo, 2 chr, 4 dir, 6 blk, 8 reg, 10 lnk, 12 sock */
  type: number;
}

export function name_check(name: Uint8Array): void {
  if (name.length < 1 || name.length > NAME_MAX) throw new RangeError(`name of ${name.length} bytes`);
  for (const c of name) if (c === 0 || c === 0x2f) throw new RangeError('name contains NUL or /');
}

export function dirents_encode(list: readonly Dirent[]): Buffer {
  if (list.length === 0 || list.length > 0xffff) throw new RangeError(`dirent list of ${list.length}`);
  let n = 2;
  for (const d of list) { name_check(d.name); n += 6 + d.name.length; }
  if (n > VALUE_MAX) throw new RangeError(`dirent list of ${n} bytes exceeds ${VALUE_MAX}`);
  const b = rec_alloc(n);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  v.setUint16(0, list.length, true);
  let p = 2;
  for (const d of list) {
    v.setUint32(p, d.ino, true);
    v.setUint8(p + 4, d.type);
    v.setUint8(p + 5, d.name.length);
    d.name.copy(b, p + 6);
    p += 6 + d.name.length;
  }
  return b;
}

export function dirents_decode(b: Uint8Array): Dirent[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < 2) throw new RangeError('dirent list shorter than its count');
  const count = v.getUint16(0, true);
  if (count === 0) throw new RangeError('empty dirent list');
  const out: Dirent[] = [];
  let p = 2;
  for (let i = 0; i < count; i++) {
    if (p + 6 > b.length) throw new RangeError('dirent list truncated');
    const len = v.getUint8(p + 5);
    if (p + 6 + len > b.length) throw new RangeError('dirent name truncated');
    const name = Buffer.from(b.subarray(p + 6, p + 6 + len));
    name_check(name);
    out.push({ ino: v.getUint32(p, true), type: v.getUint8(p + 4), name });
    p += 6 + len;
  }
  if (p !== b.length) throw new RangeError(`dirent list has ${b.length - p} trailing bytes`);
  return out;
}

// ---- extended attributes --------------------------------------------------------------------

export interface Xattr {
  name: Buffer;
  value: Buffer;
}

export function xattrs_encode(list: readonly Xattr[]): Buffer {
  if (list.length === 0 || list.length > 0xffff) throw new RangeError(`xattr list of ${list.length}`);
  let n = 2;
  for (const x of list) {
    if (x.name.length < 1 || x.name.length > NAME_MAX) throw new RangeError(`xattr name of ${x.name.length} bytes`);
    n += 3 + x.name.length + x.value.length;
  }
  if (n > VALUE_MAX) throw new RangeError(`xattr list of ${n} bytes exceeds ${VALUE_MAX}`);
  const b = rec_alloc(n);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  v.setUint16(0, list.length, true);
  let p = 2;
  for (const x of list) {
    v.setUint8(p, x.name.length);
    v.setUint16(p + 1, x.value.length, true);
    x.name.copy(b, p + 3);
    x.value.copy(b, p + 3 + x.name.length);
    p += 3 + x.name.length + x.value.length;
  }
  return b;
}

export function xattrs_decode(b: Uint8Array): Xattr[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < 2) throw new RangeError('xattr list shorter than its count');
  const count = v.getUint16(0, true);
  if (count === 0) throw new RangeError('empty xattr list');
  const out: Xattr[] = [];
  let p = 2;
  for (let i = 0; i < count; i++) {
    if (p + 3 > b.length) throw new RangeError('xattr list truncated');
    const nl = v.getUint8(p);
    const vl = v.getUint16(p + 1, true);
    if (nl === 0 || p + 3 + nl + vl > b.length) throw new RangeError('xattr entry truncated');
    out.push({ name: Buffer.from(b.subarray(p + 3, p + 3 + nl)), value: Buffer.from(b.subarray(p + 3 + nl, p + 3 + nl + vl)) });
    p += 3 + nl + vl;
  }
  if (p !== b.length) throw new RangeError(`xattr list has ${b.length - p} trailing bytes`);
  return out;
}

// ---- large extended attributes --------------------------------------------------------------

/** Bytes of a large xattr value held by one XCHUNK record (the last one holds the rest). */
export const XATTR_CHUNK_BYTES = 1536;
/** The largest xattr value (Linux's XATTR_SIZE_MAX): 43 chunks. */
export const XATTR_SIZE_MAX = 65536;
export const XBIG_ENTRY_FIXED = 13;

/** A large attribute: its value is `len` bytes in XCHUNK records (ino, XCHUNK, id·2^16 + i). */
export interface XattrBig {
  name: Buffer;
  len: number;
  crc: number;
  id: number;
}

export function xchunk_off(id: number, index: number): number {
  return id * 0x10000 + index;
}

/** How many chunks hold a value of `len` bytes. */
export function xchunk_count(len: number): number {
  return Math.ceil(len / XATTR_CHUNK_BYTES);
}

export function xbigs_encode(list: readonly XattrBig[]): Buffer {
  if (list.length === 0 || list.length > 0xffff) throw new RangeError(`large xattr list of ${list.length}`);
  let n = 2;
  for (const x of list) {
    if (x.name.length < 1 || x.name.length > NAME_MAX) throw new RangeError(`xattr name of ${x.name.length} bytes`);
    if (!Number.isInteger(x.len) || x.len < 1 || x.len > XATTR_SIZE_MAX) throw new RangeError(`large xattr value of ${x.len} bytes`);
    n += XBIG_ENTRY_FIXED + x.name.length;
  }
  if (n > VALUE_MAX) throw new RangeError(`large xattr list of ${n} bytes exceeds ${VALUE_MAX}`);
  const b = rec_alloc(n);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  v.setUint16(0, list.length, true);
  let p = 2;
  for (const x of list) {
    v.setUint8(p, x.name.length);
    v.setUint32(p + 1, x.len, true);
    v.setUint32(p + 5, x.crc >>> 0, true);
    v.setUint32(p + 9, x.id >>> 0, true);
    x.name.copy(b, p + XBIG_ENTRY_FIXED);
    p += XBIG_ENTRY_FIXED + x.name.length;
  }
  return b;
}

export function xbigs_decode(b: Uint8Array): XattrBig[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < 2) throw new RangeError('large xattr list shorter than its count');
  const count = v.getUint16(0, true);
  if (count === 0) throw new RangeError('empty large xattr list');
  const out: XattrBig[] = [];
  let p = 2;
  for (let i = 0; i < count; i++) {
    if (p + XBIG_ENTRY_FIXED > b.length) throw new RangeError('large xattr list truncated');
    const nl = v.getUint8(p);
    const len = v.getUint32(p + 1, true);
    if (nl === 0 || p + XBIG_ENTRY_FIXED + nl > b.length) throw new RangeError('large xattr entry truncated');
    if (len < 1 || len > XATTR_SIZE_MAX) throw new RangeError(`large xattr value of ${len} bytes`);
    out.push({ name: Buffer.from(b.subarray(p + XBIG_ENTRY_FIXED, p + XBIG_ENTRY_FIXED + nl)), len, crc: v.getUint32(p + 5, true), id: v.getUint32(p + 9, true) });
    p += XBIG_ENTRY_FIXED + nl;
  }
  if (p !== b.length) throw new RangeError(`large xattr list has ${b.length - p} trailing bytes`);
  return out;
}

// ---- volume counters ------------------------------------------------------------------------

export const COUNTS_BYTES = 16;

export interface Counts {
  nextIno: number;
  inodes: number;
}

export function counts_encode(c: Counts): Buffer {
  const b = rec_alloc(COUNTS_BYTES);
  b.writeUInt32LE(c.nextIno, 0);
  b.writeUInt32LE(c.inodes, 4);
  return b;
}

export function counts_decode(b: Uint8Array): Counts {
  if (b.length !== COUNTS_BYTES) throw new RangeError(`counts value of ${b.length} bytes, want ${COUNTS_BYTES}`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { nextIno: v.getUint32(0, true), inodes: v.getUint32(4, true) };
}

// ---- block map ------------------------------------------------------------------------------

/**
 * One chunk of a file's block map: 64 slots, each a block address (0 = hole), its CRC32C, and
 * whether the block holds part of a compressed cluster (format/cluster.ts: the cluster's stored
 * blocks sit in its first slots, the rest of the cluster has none).
 */
export interface MapChunk {
  addr: Uint32Array; // MAP_SLOTS entries
  csum: Uint32Array; // MAP_SLOTS entries
  comp: Uint8Array; // MAP_SLOTS entries: 1 = a stored block of a compressed cluster
}

/** bit of a map slot's `slot` byte: the block is a stored block of a compressed cluster */
export const MAP_SLOT_COMPRESSED = 0x80;

export function map_new(): MapChunk {
  // one backing store for the three arrays: each of their own was a malloc'd ArrayBuffer for
  // the garbage collector to track, and a file's flush makes two map chunks
  const b = new ArrayBuffer(MAP_SLOTS * 9);
  return { addr: new Uint32Array(b, 0, MAP_SLOTS), csum: new Uint32Array(b, MAP_SLOTS * 4, MAP_SLOTS), comp: new Uint8Array(b, MAP_SLOTS * 8, MAP_SLOTS) };
}

export function map_count(m: MapChunk): number {
  let n = 0;
  for (let i = 0; i < MAP_SLOTS; i++) if (m.addr[i] !== 0) n++;
  return n;
}

/**
 * Why the compressed slots of a map break the cluster shape, or null: in each cluster (slots
 * aligned to CLUSTER_BLOCKS) with a compressed slot, the compressed slots are its first M (1 ≤
 * M < CLUSTER_BLOCKS) and it has no other slot.
 */
export function map_clusters_check(m: MapChunk): string | null {
  for (let cs = 0; cs < MAP_SLOTS; cs += CLUSTER_BLOCKS) {
    let any = false;
    for (let j = 0; j < CLUSTER_BLOCKS; j++) if (m.addr[cs + j] !== 0 && m.comp[cs + j]) any = true;
    if (!any) continue;
    let M = 0;
    while (M < CLUSTER_BLOCKS && m.addr[cs + M] !== 0 && m.comp[cs + M]) M++;
    if (M === 0 || M === CLUSTER_BLOCKS) return `compressed cluster at slot ${cs} stored in ${M} slots`;
    for (let j = M; j < CLUSTER_BLOCKS; j++) if (m.addr[cs + j] !== 0) return `compressed cluster at slot ${cs} also maps slot ${cs + j}`;
  }
  return null;
}

export function map_encode(m: MapChunk): Buffer {
  const bad = map_clusters_check(m);
  if (bad) throw new RangeError(`map_encode: ${bad}`);
  const n = map_count(m);
  if (n === 0) throw new RangeError('map_encode: a map record with no blocks must be deleted instead');
  const b = rec_alloc(1 + n * MAP_SLOT_BYTES);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  v.setUint8(0, n);
  let p = 1;
  for (let i = 0; i < MAP_SLOTS; i++) {
    const a = m.addr[i]!;
    if (a === 0) continue;
    v.setUint8(p, m.comp[i] ? i | MAP_SLOT_COMPRESSED : i);
    v.setUint32(p + 1, a, true);
    v.setUint32(p + 5, m.csum[i]!, true);
    p += MAP_SLOT_BYTES;
  }
  return b;
}

/** Whether an encoded map value names any address in `addrs` (without decoding it). */
export function map_names_any(b: Uint8Array, addrs: ReadonlyMap<number, unknown>): boolean {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = b.length >= 1 ? v.getUint8(0) : 0;
  for (let i = 0, p = 1; i < n && p + MAP_SLOT_BYTES <= b.length; i++, p += MAP_SLOT_BYTES) if (addrs.has(v.getUint32(p + 1, true))) return true;
  return false;
}

export function map_decode(b: Uint8Array): MapChunk {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < 1) throw new RangeError('empty map value');
  const n = v.getUint8(0);
  if (n === 0 || n > MAP_SLOTS || b.length !== 1 + n * MAP_SLOT_BYTES) throw new RangeError(`map value of ${b.length} bytes claims ${n} slots`);
  const m = map_new();
  let prev = -1;
  let comp = false;
  for (let i = 0, p = 1; i < n; i++, p += MAP_SLOT_BYTES) {
    const byte = v.getUint8(p);
    if (byte & MAP_SLOT_COMPRESSED) comp = true;
    const slot = byte & ~MAP_SLOT_COMPRESSED;
    const a = v.getUint32(p + 1, true);
    if (slot >= MAP_SLOTS || slot <= prev) throw new RangeError(`map slot ${slot} out of order`);
    if (a === 0) throw new RangeError(`map slot ${slot} has address 0`);
    m.addr[slot] = a;
    m.comp[slot] = byte & MAP_SLOT_COMPRESSED ? 1 : 0;
    m.csum[slot] = v.getUint32(p + 5, true);
    prev = slot;
  }
  return m;
}
