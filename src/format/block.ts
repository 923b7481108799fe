// Helpers shared by every metadata block codec.
//
// Every metadata block is exactly 4096 bytes and ends with a CRC32C of bytes [0, 4092).
// Every block written into the log also names its own address, so a block read from the wrong
// place (a misdirected write, a stale copy) is caught as well as a damaged one.

import { BLOCK_SIZE } from '../device/device.js';
import { crc32c } from '../util/crc32c.js';
import { CorruptError } from '../util/errors.js';

export const CRC_OFFSET = BLOCK_SIZE - 4;

export function view_of(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

export function block_new(): Buffer {
  return Buffer.alloc(BLOCK_SIZE);
}

/** Writes the trailing CRC32C of a metadata block. */
export function block_seal(buf: Uint8Array): void {
  if (buf.length !== BLOCK_SIZE) throw new RangeError(`block_seal: ${buf.length} bytes, want ${BLOCK_SIZE}`);
  view_of(buf).setUint32(CRC_OFFSET, crc32c(buf, 0, CRC_OFFSET), true);
}

/** Checks length, magic and CRC of a metadata block; throws CorruptError naming it. */
export function block_verify(buf: Uint8Array, magic: number, kind: string, addr: number): DataView {
  if (buf.length !== BLOCK_SIZE) throw new CorruptError(kind, addr, `length ${buf.length}`);
  const v = view_of(buf);
  const m = v.getUint32(0, true);
  if (m !== magic) {
    const allZero = buf.every((b) => b === 0);
    throw new CorruptError(kind, addr, allZero ? 'block is all zeros (never written)' : `bad magic 0x${m.toString(16)} (want 0x${magic.toString(16)})`);
  }
  const want = v.getUint32(CRC_OFFSET, true);
  const got = crc32c(buf, 0, CRC_OFFSET);
  if (want !== got) throw new CorruptError(kind, addr, `CRC32C mismatch (stored 0x${want.toString(16)}, computed 0x${got.toString(16)})`);
  return v;
}

/**
 * The header every block written into the log starts with (24 bytes):
 *   0 magic u32 · 4 version u16 · 6 kind-specific u16 · 8 fsid u32 · 12 own address u32 ·
 *   16 sequence u32 (birth checkpoint or epoch) · 20 kind-specific u32 (node id, index)
 * `fsid` comes from the superblock's UUID, so blocks left by an earlier filesystem on the same
 * device are never taken for live ones.
 */
export interface LogHeader {
  magic: number;
  version: number;
  sub: number;
  fsid: number;
  addr: number;
  seq: number;
  id: number;
}

export function log_header_write(v: DataView, h: LogHeader): void {
  v.setUint32(0, h.magic, true);
  v.setUint16(4, h.version, true);
  v.setUint16(6, h.sub, true);
  v.setUint32(8, h.fsid, true);
  v.setUint32(12, h.addr, true);
  v.setUint32(16, h.seq, true);
  v.setUint32(20, h.id, true);
}

/** Verifies magic, CRC, version, fsid and own address of a log block; returns its header. */
export function log_header_verify(buf: Uint8Array, magic: number, kind: string, addr: number, fsid: number, version: number): { v: DataView; h: LogHeader } {
  const v = block_verify(buf, magic, kind, addr);
  const h: LogHeader = {
    magic,
    version: v.getUint16(4, true),
    sub: v.getUint16(6, true),
    fsid: v.getUint32(8, true),
    addr: v.getUint32(12, true),
    seq: v.getUint32(16, true),
    id: v.getUint32(20, true),
  };
  if (h.version !== version) throw new CorruptError(kind, addr, `format version ${h.version}, this cowlog reads ${version}`);
  if (h.fsid !== fsid) throw new CorruptError(kind, addr, `belongs to another filesystem (fsid 0x${h.fsid.toString(16)}, this one 0x${fsid.toString(16)})`);
  if (h.addr !== addr) throw new CorruptError(kind, addr, `block says it belongs at address ${h.addr}`);
  return { v, h };
}

/** The kind-specific u16 of a log block's header (a node's level), read without verifying the block again. */
export function log_header_sub(buf: Uint8Array): number {
  return view_of(buf).getUint16(6, true);
}

/** Reads the magic of a block without verifying it (for identifying what a block is). */
export function block_magic(buf: Uint8Array): number {
  return view_of(buf).getUint32(0, true);
}

/** Little-endian 4-byte magic from a 4-character ASCII tag. */
export function magic_of(tag: string): number {
  if (tag.length !== 4) throw new RangeError(`magic tag '${tag}' is not 4 characters`);
  return (tag.charCodeAt(0) | (tag.charCodeAt(1) << 8) | (tag.charCodeAt(2) << 16) | (tag.charCodeAt(3) << 24)) >>> 0;
}

/** u64 helpers: cowlog stores 64-bit values as two u32 halves and keeps them below 2^53. */
export function u64_set(v: DataView, off: number, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`u64_set: ${n} is not a safe non-negative integer`);
  v.setUint32(off, n % 0x100000000, true);
  v.setUint32(off + 4, Math.floor(n / 0x100000000), true);
}

export function u64_get(v: DataView, off: number): number {
  return v.getUint32(off, true) + v.getUint32(off + 4, true) * 0x100000000;
}

/** u48 (offsets in keys): u32 low then u16 high. */
export function u48_set(v: DataView, off: number, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffffffff) throw new RangeError(`u48_set: ${n} out of range`);
  v.setUint32(off, n % 0x100000000, true);
  v.setUint16(off + 4, Math.floor(n / 0x100000000), true);
}

export function u48_get(v: DataView, off: number): number {
  return v.getUint32(off, true) + v.getUint16(off + 4, true) * 0x100000000;
}
