// Metadata table blocks and the top directory.
//
// The tables (NAT, RCT, SUT, SST, SNAP, DIR: see geometry.ts) are arrays of fixed-size entries
// stored in the log as table blocks; the DIR table lists the address of every block of the other
// five (0 = never written: all entries zero), the top directory blocks list the DIR table's
// blocks, and the checkpoint lists the top directory blocks.
// Invariants: a table block names its table, its index in the table, its own address and the
// checkpoint that wrote it; the entries area is exactly perBlock * entryBytes bytes.

import { CorruptError } from '../util/errors.js';
import { block_new, block_seal, log_header_verify, log_header_write, magic_of, view_of } from './block.js';
import { DIR_PER_BLOCK, FORMAT_VERSION, TABLE_COUNT, TABLE_HEADER_BYTES, TABLE_NAMES } from './geometry.js';
import type { TableGeom } from './geometry.js';

export const TABLE_MAGIC = magic_of('CLTB');
export const DIR_MAGIC = magic_of('CLDR');

export interface TableBlockHeader {
  fsid: number;
  table: number;
  index: number;
  addr: number;
  seq: number;
}

/** Entries of block `index` past the table's end: they are zero in the block. */
function entries_in(t: TableGeom, index: number): number {
  return Math.min(t.perBlock, t.entries - index * t.perBlock);
}

/** Encodes table block `h.index` from its entries (perBlock · entryBytes bytes: one page). */
export function table_block_encode(t: TableGeom, h: TableBlockHeader, entries: Uint8Array): Buffer {
  if (entries.length !== t.perBlock * t.entryBytes) throw new RangeError(`table block of ${entries.length} entry bytes, ${t.name} blocks hold ${t.perBlock * t.entryBytes}`);
  const b = block_new();
  const v = view_of(b);
  log_header_write(v, { magic: TABLE_MAGIC, version: FORMAT_VERSION, sub: t.id, fsid: h.fsid, addr: h.addr, seq: h.seq, id: h.index });
  b.set(entries.subarray(0, entries_in(t, h.index) * t.entryBytes), TABLE_HEADER_BYTES);
  block_seal(b);
  return b;
}

/** Verifies a table block; returns its entries (perBlock · entryBytes bytes: one page). */
export function table_block_decode(t: TableGeom, buf: Uint8Array, addr: number, index: number, fsid: number): Uint8Array {
  const kind = `${TABLE_NAMES[t.id]} table`;
  const { h: lh } = log_header_verify(buf, TABLE_MAGIC, kind, addr, fsid, FORMAT_VERSION);
  if (lh.sub !== t.id) throw new CorruptError(kind, addr, `block belongs to table ${TABLE_NAMES[lh.sub] ?? lh.sub}`);
  if (lh.id !== index) throw new CorruptError(kind, addr, `block is index ${lh.id}, directory says ${index}`);
  const out = new Uint8Array(t.perBlock * t.entryBytes);
  out.set(buf.subarray(TABLE_HEADER_BYTES, TABLE_HEADER_BYTES + entries_in(t, index) * t.entryBytes));
  return out;
}

export function dir_block_encode(fsid: number, index: number, addr: number, seq: number, addrs: Uint32Array): Buffer {
  const b = block_new();
  const v = view_of(b);
  log_header_write(v, { magic: DIR_MAGIC, version: FORMAT_VERSION, sub: 0, fsid, addr, seq, id: index });
  const start = index * DIR_PER_BLOCK;
  const end = Math.min(addrs.length, start + DIR_PER_BLOCK);
  v.setUint32(24, end - start, true);
  for (let i = start; i < end; i++) v.setUint32(TABLE_HEADER_BYTES + (i - start) * 4, addrs[i]!, true);
  block_seal(b);
  return b;
}

export function dir_block_decode(buf: Uint8Array, addr: number, index: number, into: Uint32Array, fsid: number): void {
  const { v, h } = log_header_verify(buf, DIR_MAGIC, 'table directory', addr, fsid, FORMAT_VERSION);
  if (h.id !== index) throw new CorruptError('table directory', addr, `block is index ${h.id}, checkpoint says ${index}`);
  const start = index * DIR_PER_BLOCK;
  const n = v.getUint32(24, true);
  if (n !== Math.min(into.length, start + DIR_PER_BLOCK) - start) throw new CorruptError('table directory', addr, `holds ${n} entries, geometry expects ${Math.min(into.length, start + DIR_PER_BLOCK) - start}`);
  for (let i = 0; i < n; i++) into[start + i] = v.getUint32(TABLE_HEADER_BYTES + i * 4, true);
}

export function table_id_check(id: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= TABLE_COUNT) throw new RangeError(`table id ${id}`);
}
