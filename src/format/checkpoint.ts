// Checkpoint records: the ring of checkpoint slots holds one header block per checkpoint; the
// checkpoint's journal blocks live in the log like table blocks.
//
// A checkpoint is the batched root flip: it names the live tree root, the table directory
// blocks (through which the NAT and the other tables are found), the log heads, where this
// epoch's roll-forward (redo) chain starts, the journal blocks carrying table entries changed
// since their table block was last written (so a few NAT changes do not rewrite NAT blocks),
// cumulative counters of what the cleaner did, and the boot state (which tree a plain mount
// serves, and a trial of another: format/boot.ts).
// Invariants: the header binds its journal blocks by address, CRC and sequence number; journal
// blocks are written (and flushed) before the header, so a torn checkpoint is a torn header.

import { CorruptError } from '../util/errors.js';
import { BLOCK_SIZE } from '../device/device.js';
import { block_new, block_seal, block_verify, CRC_OFFSET, log_header_verify, log_header_write, magic_of, u64_get, u64_set, view_of } from './block.js';
import { CP_DIR_MAX, CP_JOURNAL_BLOCKS, FORMAT_VERSION, TABLE_COUNT, TABLE_ENTRY_BYTES } from './geometry.js';
import { boot_decode, boot_encode } from './boot.js';
import type { BootState } from './boot.js';
import type { WriteCounts } from '../device/counted.js';
import { CAUSE_COUNT, TRIGGER_COUNT } from '../device/cause.js';

export const CP_MAGIC = magic_of('CLCP');
export const JOURNAL_MAGIC = magic_of('CLJN');
export const CP_FLAG_CLEAN = 1;
/** fsck, or a mount that met a damaged B+tree block, found errors: a mount is read-only unless forced (cleared by an fsck that finds none) */
export const CP_FLAG_ERRORS = 2;
export const HEAD_COUNT = 8;
const HEADS_AT = 64;
const JADDR_AT = 128;
const JCRC_AT = 144;
const STATS_AT = 160;
const TREE_AT = 192;
const BOOT_AT = 196;
const NAT_USED_AT = 212;
const META_BLOCKS_AT = 216;
const DIR_AT = 256;
/**
 * Write counts since mkfs, at the end of the header (the directory list grows towards them):
 * blocks u64[CP_CAUSE_SLOTS], requests u64[CP_CAUSE_SLOTS], checkpoints u64[CP_TRIGGER_SLOTS].
 */
const COUNTS_AT = 3576;
export const CP_CAUSE_SLOTS = 24;
export const CP_TRIGGER_SLOTS = 16;
export const JOURNAL_HEADER_BYTES = 32;
export const JOURNAL_BODY_BYTES = BLOCK_SIZE - JOURNAL_HEADER_BYTES - 4;

export interface HeadState {
  /** current segment of the head, or -1 when it has none */
  seg: number;
  /** next block offset inside that segment */
  off: number;
}

export interface JournalEntry {
  table: number;
  index: number;
  data: Uint8Array;
}

/** Cumulative counters since mkfs (cowlog info shows them). */
export interface CpStats {
  segmentsCleaned: number;
  blocksMoved: number;
  blocksRecycled: number;
  checkpoints: number;
}

export interface Checkpoint {
  fsid: number;
  seq: number;
  slot: number;
  flags: number;
  timeMs: number;
  rootNid: number;
  nextIno: number;
  nextNid: number;
  inodes: number;
  validBlocks: number;
  redoStart: number;
  heads: HeadState[];
  dir: number[];
  journal: JournalEntry[];
  /** addresses of the journal blocks (in the log), one per block the journal takes */
  journalAddrs: number[];
  stats: CpStats;
  /**
   * The tree this checkpoint's mount writes, to which its redo chain applies: 0 = the main tree
   * (root_nid), k = the clone in SNAP entry k − 1 (whose root the entry holds).
   */
  tree: number;
  /** the default tree and a trial boot (format/boot.ts): changes only with a checkpoint */
  boot: BootState;
  /** NAT entries in use (nodes) */
  natUsed: number;
  /** table blocks (all six tables) and top directory blocks on the device */
  metaBlocks: number;
  /**
   * Blocks and requests written since mkfs by cause, and checkpoints by trigger (cause.ts), as
   * of this checkpoint — its own header write included. Writes made after the last checkpoint
   * before a crash are not in any.
   */
  writes: WriteCounts;
}

export function journal_entry_bytes(table: number): number {
  return 5 + TABLE_ENTRY_BYTES[table]!;
}

/** Journal bytes one journal block surely holds: an entry never spans two blocks. */
export function journal_block_capacity(): number {
  const entryMax = Math.max(...TABLE_ENTRY_BYTES) + 5;
  return JOURNAL_BODY_BYTES - (entryMax - 1);
}

/** Journal bytes that surely fit in the most journal blocks a checkpoint may have. */
export function journal_capacity_bytes(): number {
  return CP_JOURNAL_BLOCKS * journal_block_capacity();
}

/** Splits journal entries into blocks (an entry never spans two). */
export function journal_pack(entries: readonly JournalEntry[]): JournalEntry[][] {
  const out: JournalEntry[][] = [];
  let used = JOURNAL_BODY_BYTES;
  for (const e of entries) {
    if (e.table < 0 || e.table >= TABLE_COUNT || e.data.length !== TABLE_ENTRY_BYTES[e.table]) {
      throw new RangeError(`journal entry for table ${e.table} with ${e.data.length} bytes`);
    }
    const need = 5 + e.data.length;
    if (used + need > JOURNAL_BODY_BYTES) { out.push([]); used = 0; }
    out[out.length - 1]!.push(e);
    used += need;
  }
  return out;
}

/**
 * Encodes a checkpoint: its journal blocks (at cp.journalAddrs, which must be as many as
 * journal_pack gives, or more: extra blocks are written empty) and its header block.
 */
export function cp_encode(cp: Checkpoint): { header: Buffer; journal: Buffer[] } {
  if (cp.dir.length > CP_DIR_MAX) throw new RangeError(`checkpoint: ${cp.dir.length} directory blocks`);
  if (cp.heads.length !== HEAD_COUNT) throw new RangeError(`checkpoint: ${cp.heads.length} heads`);
  const packed = journal_pack(cp.journal);
  if (cp.journalAddrs.length < packed.length || cp.journalAddrs.length > CP_JOURNAL_BLOCKS) {
    throw new RangeError(`checkpoint journal of ${packed.length} blocks given ${cp.journalAddrs.length} addresses (at most ${CP_JOURNAL_BLOCKS})`);
  }
  const journal = cp.journalAddrs.map((addr, i) => {
    const b = block_new();
    const v = view_of(b);
    log_header_write(v, { magic: JOURNAL_MAGIC, version: FORMAT_VERSION, sub: 0, fsid: cp.fsid, addr, seq: cp.seq, id: i });
    let p = JOURNAL_HEADER_BYTES;
    for (const e of packed[i] ?? []) {
      v.setUint8(p, e.table);
      v.setUint32(p + 1, e.index, true);
      b.set(e.data, p + 5);
      p += 5 + e.data.length;
    }
    v.setUint32(24, p - JOURNAL_HEADER_BYTES, true);
    v.setUint32(28, (packed[i] ?? []).length, true);
    block_seal(b);
    return b;
  });

  const h = block_new();
  const v = view_of(h);
  v.setUint32(0, CP_MAGIC, true);
  v.setUint16(4, FORMAT_VERSION, true);
  v.setUint16(6, cp.flags, true);
  v.setUint32(8, cp.fsid, true);
  v.setUint32(12, cp.slot, true);
  v.setUint32(16, cp.seq, true);
  u64_set(v, 20, cp.timeMs);
  v.setUint32(28, cp.rootNid, true);
  v.setUint32(32, cp.nextIno, true);
  v.setUint32(36, cp.nextNid, true);
  v.setUint32(40, cp.inodes, true);
  v.setUint32(44, cp.validBlocks, true);
  v.setUint32(48, cp.redoStart, true);
  v.setUint32(52, cp.journal.length, true);
  v.setUint32(56, journal.length, true);
  v.setUint32(60, cp.dir.length, true);
  for (let i = 0; i < HEAD_COUNT; i++) {
    v.setInt32(HEADS_AT + i * 8, cp.heads[i]!.seg, true);
    v.setUint32(HEADS_AT + 4 + i * 8, cp.heads[i]!.off, true);
  }
  for (let i = 0; i < journal.length; i++) {
    v.setUint32(JADDR_AT + i * 4, cp.journalAddrs[i]!, true);
    v.setUint32(JCRC_AT + i * 4, journal[i]!.readUInt32LE(CRC_OFFSET), true);
  }
  u64_set(v, STATS_AT, cp.stats.segmentsCleaned);
  u64_set(v, STATS_AT + 8, cp.stats.blocksMoved);
  u64_set(v, STATS_AT + 16, cp.stats.blocksRecycled);
  u64_set(v, STATS_AT + 24, cp.stats.checkpoints);
  v.setUint32(TREE_AT, cp.tree, true);
  boot_encode(v, BOOT_AT, cp.boot);
  v.setUint32(NAT_USED_AT, cp.natUsed, true);
  v.setUint32(META_BLOCKS_AT, cp.metaBlocks, true);
  for (let i = 0; i < cp.dir.length; i++) v.setUint32(DIR_AT + i * 4, cp.dir[i]!, true);
  if (cp.writes.blocks.length > CP_CAUSE_SLOTS || cp.writes.requests.length > CP_CAUSE_SLOTS || cp.writes.checkpoints.length > CP_TRIGGER_SLOTS) {
    throw new RangeError(`checkpoint: write counts of ${cp.writes.blocks.length} causes and ${cp.writes.checkpoints.length} triggers`);
  }
  cp.writes.blocks.forEach((n, i) => u64_set(v, COUNTS_AT + i * 8, n));
  cp.writes.requests.forEach((n, i) => u64_set(v, COUNTS_AT + CP_CAUSE_SLOTS * 8 + i * 8, n));
  cp.writes.checkpoints.forEach((n, i) => u64_set(v, COUNTS_AT + 2 * CP_CAUSE_SLOTS * 8 + i * 8, n));
  block_seal(h);
  return { header: h, journal };
}

export interface CheckpointHeader extends Checkpoint {
  journalEntries: number;
  journalCrcs: number[];
}

/** Decodes the header block only; journal blocks are checked by cp_journal_decode. */
export function cp_header_decode(buf: Uint8Array, addr: number, fsid: number): CheckpointHeader {
  const v = block_verify(buf, CP_MAGIC, 'checkpoint', addr);
  const version = v.getUint16(4, true);
  if (version !== FORMAT_VERSION) throw new CorruptError('checkpoint', addr, `format version ${version}`);
  const cpFsid = v.getUint32(8, true);
  if (cpFsid !== fsid) throw new CorruptError('checkpoint', addr, `belongs to another filesystem (fsid 0x${cpFsid.toString(16)})`);
  const dirCount = v.getUint32(60, true);
  if (dirCount > CP_DIR_MAX) throw new CorruptError('checkpoint', addr, `${dirCount} directory blocks`);
  const journalBlocks = v.getUint32(56, true);
  if (journalBlocks > CP_JOURNAL_BLOCKS) throw new CorruptError('checkpoint', addr, `${journalBlocks} journal blocks`);
  const heads: HeadState[] = [];
  for (let i = 0; i < HEAD_COUNT; i++) heads.push({ seg: v.getInt32(HEADS_AT + i * 8, true), off: v.getUint32(HEADS_AT + 4 + i * 8, true) });
  const dir: number[] = [];
  for (let i = 0; i < dirCount; i++) dir.push(v.getUint32(DIR_AT + i * 4, true));
  const journalAddrs: number[] = [];
  const journalCrcs: number[] = [];
  for (let i = 0; i < journalBlocks; i++) {
    journalAddrs.push(v.getUint32(JADDR_AT + i * 4, true));
    journalCrcs.push(v.getUint32(JCRC_AT + i * 4, true));
  }
  return {
    fsid,
    seq: v.getUint32(16, true),
    slot: v.getUint32(12, true),
    flags: v.getUint16(6, true),
    timeMs: u64_get(v, 20),
    rootNid: v.getUint32(28, true),
    nextIno: v.getUint32(32, true),
    nextNid: v.getUint32(36, true),
    inodes: v.getUint32(40, true),
    validBlocks: v.getUint32(44, true),
    redoStart: v.getUint32(48, true),
    heads,
    dir,
    journal: [],
    journalAddrs,
    stats: {
      segmentsCleaned: u64_get(v, STATS_AT),
      blocksMoved: u64_get(v, STATS_AT + 8),
      blocksRecycled: u64_get(v, STATS_AT + 16),
      checkpoints: u64_get(v, STATS_AT + 24),
    },
    tree: v.getUint32(TREE_AT, true),
    boot: boot_decode(v, BOOT_AT, addr),
    natUsed: v.getUint32(NAT_USED_AT, true),
    metaBlocks: v.getUint32(META_BLOCKS_AT, true),
    writes: {
      blocks: Array.from({ length: CAUSE_COUNT }, (_x, i) => u64_get(v, COUNTS_AT + i * 8)),
      requests: Array.from({ length: CAUSE_COUNT }, (_x, i) => u64_get(v, COUNTS_AT + CP_CAUSE_SLOTS * 8 + i * 8)),
      checkpoints: Array.from({ length: TRIGGER_COUNT }, (_x, i) => u64_get(v, COUNTS_AT + 2 * CP_CAUSE_SLOTS * 8 + i * 8)),
    },
    journalEntries: v.getUint32(52, true),
    journalCrcs,
  };
}

/** Verifies the journal blocks against the header and returns their entries, in order. */
export function cp_journal_decode(fsid: number, seq: number, journalCrcs: number[], blocks: Uint8Array[], addrs: number[], entriesExpected: number): JournalEntry[] {
  const out: JournalEntry[] = [];
  blocks.forEach((b, i) => {
    const addr = addrs[i]!;
    const { v, h } = log_header_verify(b, JOURNAL_MAGIC, 'checkpoint journal', addr, fsid, FORMAT_VERSION);
    if (v.getUint32(CRC_OFFSET, true) !== journalCrcs[i]) throw new CorruptError('checkpoint journal', addr, 'is not the block its checkpoint header recorded');
    if (h.id !== i) throw new CorruptError('checkpoint journal', addr, `is journal block ${h.id}, expected ${i}`);
    if (h.seq !== seq) throw new CorruptError('checkpoint journal', addr, `belongs to checkpoint ${h.seq}, not ${seq}`);
    const bytes = v.getUint32(24, true);
    const used = v.getUint32(28, true);
    if (bytes > JOURNAL_BODY_BYTES) throw new CorruptError('checkpoint journal', addr, `${bytes} bytes of entries`);
    let p = JOURNAL_HEADER_BYTES;
    const end = JOURNAL_HEADER_BYTES + bytes;
    for (let k = 0; k < used; k++) {
      if (p + 5 > end) throw new CorruptError('checkpoint journal', addr, `entry ${k} runs past its bytes`);
      const table = v.getUint8(p);
      if (table >= TABLE_COUNT) throw new CorruptError('checkpoint journal', addr, `entry ${k} names table ${table}`);
      const size = TABLE_ENTRY_BYTES[table]!;
      if (p + 5 + size > end) throw new CorruptError('checkpoint journal', addr, `entry ${k} runs past its bytes`);
      out.push({ table, index: v.getUint32(p + 1, true), data: Buffer.from(b.subarray(p + 5, p + 5 + size)) });
      p += 5 + size;
    }
  });
  if (out.length !== entriesExpected) throw new CorruptError('checkpoint journal', addrs[0] ?? 0, `holds ${out.length} entries, header says ${entriesExpected}`);
  return out;
}
