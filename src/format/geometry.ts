// Device geometry: where everything lives, derived from a few numbers mkfs chooses.
//
//   block 0            superblock
//   block 1            superblock copy
//   blocks 2 ..        checkpoint ring: cpSlots slots of cpSlotBlocks blocks each
//   mainStart ..       the main area: segCount segments of segBlocks blocks, the log
//
// Invariants:
// - mainStart is a multiple of segBlocks, so segment s covers
//   [mainStart + s*segBlocks, mainStart + (s+1)*segBlocks);
// - block addresses are u32: a filesystem spans at most 2^32 blocks (16 TiB);
// - every metadata table (NAT, RCT, SUT, SST, SNAP, DIR) has a fixed number of entries derived
//   from the geometry; its blocks live in the log. The DIR table holds the address of every
//   block of the other five; its own blocks are listed by the top directory blocks, which the
//   checkpoint lists (at most CP_DIR_MAX of them): two levels reach 256 × 1015 × 1015 table
//   blocks, enough for 16 TiB.

import { BLOCK_SIZE } from '../device/device.js';
import { addr_of, seg_of } from '../util/ids.js';
import type { BlockAddr, SegNo } from '../util/ids.js';

/**
 * 3: the table directory is a table of its own (DIR, paged like the others) under a top
 * directory, for devices up to 16 TiB; the superblock's block count has 64 bits; the checkpoint
 * counts the NAT entries and the table blocks in use. 2: the checkpoint header carries the boot
 * state (format/boot.ts); large xattrs in XBIG and XCHUNK records. Older images are refused
 * with a one-line error.
 */
export const FORMAT_VERSION = 3;
/** the largest filesystem: block addresses are u32 (16 TiB of 4 KiB blocks) */
export const BLOCK_COUNT_MAX = 2 ** 32;
export const SB_ADDRS = [0, 1] as const;
export const CP_START = 2;
/** a checkpoint slot is its header block; the journal blocks live in the log */
export const CP_SLOT_BLOCKS = 1;
/** journal blocks a checkpoint may have */
export const CP_JOURNAL_BLOCKS = 4;
export const CP_DIR_MAX = 256;
export const TABLE_HEADER_BYTES = 32;
export const DIR_PER_BLOCK = (BLOCK_SIZE - TABLE_HEADER_BYTES - 4) / 4; // 1015
export const MAX_SNAPSHOTS_DEFAULT = 1024;
export const SEG_BLOCKS_MIN = 4;
export const SEG_BLOCKS_MAX = 512;
export const FANOUT_MIN = 4;
export const INLINE_MAX_DEFAULT = 1536;
/** an INLINE record's value is the file's data: at most VALUE_MAX (records.ts) */
export const INLINE_MAX_LIMIT = 1800;

export const enum TableId {
  NAT = 0,
  RCT = 1,
  SUT = 2,
  SST = 3,
  SNAP = 4,
  /** the table directory: the address of every block of the tables above */
  DIR = 5,
}
export const TABLE_COUNT = 6;
export const TABLE_NAMES = ['NAT', 'RCT', 'SUT', 'SST', 'SNAP', 'DIR'] as const;
/** Entry sizes in bytes: see docs/FORMAT.md for each entry's layout. */
export const TABLE_ENTRY_BYTES = [12, 2, 16, 16, 128, 4] as const;

export interface TableGeom {
  id: TableId;
  name: string;
  entryBytes: number;
  perBlock: number;
  entries: number;
  blocks: number;
  /**
   * index of this table's first block in the DIR table (for DIR itself: the number of blocks
   * of the other tables, so that dirBase + block numbers every table block once)
   */
  dirBase: number;
}

/** The numbers mkfs chooses and the superblock stores. */
export interface GeometryParams {
  blockCount: number;
  segBlocks: number;
  cpSlots: number;
  reserveSegs: number;
  fanout: number;
  inlineMax: number;
  maxSnapshots: number;
}

export interface Geometry extends GeometryParams {
  mainStart: number;
  segCount: number;
  tables: TableGeom[];
  /** blocks of all six tables */
  tableBlocks: number;
  /** top directory blocks: they list the DIR table's blocks, the checkpoint lists them */
  dirBlocks: number;
}

function pow2_ceil(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** The segment size mkfs picks for a device: about 512 segments, 16 to 512 blocks each. */
export function seg_blocks_default(blockCount: number): number {
  return Math.min(SEG_BLOCKS_MAX, Math.max(16, pow2_ceil(Math.ceil(blockCount / 512))));
}

/** Segments kept back for the cleaner: 1 % of the device, at least 4. */
export function reserve_segs_default(segCount: number): number {
  return Math.min(64, Math.max(4, Math.ceil(segCount * 0.01)));
}

export function main_start_for(segBlocks: number, cpSlots: number): number {
  const meta = CP_START + cpSlots * CP_SLOT_BLOCKS;
  return Math.ceil(meta / segBlocks) * segBlocks;
}

/** Checkpoint slots: as many as fill the metadata segment(s), 8 to 64 (more slots, less wear each). */
export function cp_slots_default(segBlocks: number): number {
  const mainStart = main_start_for(segBlocks, 8);
  return Math.max(8, Math.min(64, Math.floor((mainStart - CP_START) / CP_SLOT_BLOCKS)));
}

export function geometry_derive(p: GeometryParams): Geometry {
  if (!Number.isSafeInteger(p.blockCount) || p.blockCount > BLOCK_COUNT_MAX) {
    throw new RangeError(`device of ${p.blockCount} blocks: cowlog addresses at most ${BLOCK_COUNT_MAX} blocks (16 TiB)`);
  }
  if (p.segBlocks < SEG_BLOCKS_MIN || p.segBlocks > SEG_BLOCKS_MAX || (p.segBlocks & (p.segBlocks - 1)) !== 0) {
    throw new RangeError(`segment size ${p.segBlocks} blocks: must be a power of two from ${SEG_BLOCKS_MIN} to ${SEG_BLOCKS_MAX}`);
  }
  if (p.fanout < FANOUT_MIN || p.fanout > 1024) throw new RangeError(`B+tree fanout ${p.fanout}: must be 4 to 1024`);
  if (p.cpSlots < 3) throw new RangeError(`${p.cpSlots} checkpoint slots: at least 3 are needed`);
  if (!Number.isInteger(p.inlineMax) || p.inlineMax < 0 || p.inlineMax > INLINE_MAX_LIMIT) throw new RangeError(`inline limit ${p.inlineMax} bytes: must be 0 to ${INLINE_MAX_LIMIT}`);
  if (!Number.isInteger(p.maxSnapshots) || p.maxSnapshots < 1 || p.maxSnapshots > 65536) throw new RangeError(`${p.maxSnapshots} snapshots: must be 1 to 65536`);
  const mainStart = main_start_for(p.segBlocks, p.cpSlots);
  const segCount = Math.floor((p.blockCount - mainStart) / p.segBlocks);
  if (segCount < p.reserveSegs + 12) {
    throw new RangeError(`device of ${p.blockCount} blocks holds ${Math.max(0, segCount)} segments of ${p.segBlocks} blocks: too small (at least ${p.reserveSegs + 12} needed)`);
  }
  const per = (id: number): number => Math.floor((BLOCK_SIZE - TABLE_HEADER_BYTES - 4) / TABLE_ENTRY_BYTES[id]!);
  const entries = [p.blockCount, p.blockCount, segCount, p.blockCount, p.maxSnapshots];
  const tables: TableGeom[] = [];
  let dirBase = 0;
  for (let id = 0; id < TableId.DIR; id++) {
    const n = entries[id]!;
    const blocks = Math.ceil(n / per(id));
    tables.push({ id: id as TableId, name: TABLE_NAMES[id]!, entryBytes: TABLE_ENTRY_BYTES[id]!, perBlock: per(id), entries: n, blocks, dirBase });
    dirBase += blocks;
  }
  const dirTableBlocks = Math.ceil(dirBase / per(TableId.DIR));
  tables.push({ id: TableId.DIR, name: 'DIR', entryBytes: TABLE_ENTRY_BYTES[TableId.DIR], perBlock: per(TableId.DIR), entries: dirBase, blocks: dirTableBlocks, dirBase });
  const dirBlocks = Math.ceil(dirTableBlocks / DIR_PER_BLOCK);
  if (dirBlocks > CP_DIR_MAX) throw new RangeError(`device too large: ${dirBlocks} top directory blocks (at most ${CP_DIR_MAX})`);
  return { ...p, mainStart, segCount, tables, tableBlocks: dirBase + dirTableBlocks, dirBlocks };
}

export function seg_start(g: Geometry, s: SegNo): BlockAddr {
  return addr_of(g.mainStart + s * g.segBlocks);
}

/** The segment holding a main-area address, or -1 for metadata-area addresses. */
export function seg_of_addr(g: Geometry, a: number): SegNo {
  if (a < g.mainStart) return seg_of(-1);
  return seg_of(Math.floor((a - g.mainStart) / g.segBlocks));
}

export function addr_in_main(g: Geometry, a: number): boolean {
  return a >= g.mainStart && a < g.mainStart + g.segCount * g.segBlocks;
}

export function cp_slot_addr(slot: number): BlockAddr {
  return addr_of(CP_START + slot * CP_SLOT_BLOCKS);
}
