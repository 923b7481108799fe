// Checkpoint records: one slot of the ring = a header block plus up to three journal blocks.
//
// A checkpoint is the batched root flip: it names the live tree root, the table directory
// blocks (through which the NAT and the other tables are found), the log heads, where this
// epoch's roll-forward (redo) chain starts, and carries a journal of table entries changed since
// their table block was last written (so a few NAT changes do not rewrite NAT blocks).
// Invariants: the header binds its journal blocks by CRC and sequence number, so a slot whose
// write was torn (some blocks new, some old) is rejected as a whole.

import { CorruptError } from '../util/errors.js';
import { BLOCK_SIZE } from '../device/device.js';
import { block_new, block_seal, block_verify, CRC_OFFSET, magic_of, u64_get, u64_set, view_of } from './block.js';
import { CP_DIR_MAX, CP_JOURNAL_BLOCKS, FORMAT_VERSION, TABLE_COUNT, TABLE_ENTRY_BYTES } from './geometry.js';
import { crc32c } from '../util/crc32c.js';

export const CP_MAGIC = magic_of('CLCP');
export const JOURNAL_MAGIC = magic_of('CLJN');
export const CP_FLAG_CLEAN = 1;
export const HEAD_COUNT = 8;
const HEADS_AT = 76;
const DIR_AT = 256;
export const JOURNAL_HEADER_BYTES = 28;
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
}

export function journal_entry_bytes(table: number): number {
  return 5 + TABLE_ENTRY_BYTES[table]!;
}

/**
 * Journal bytes that surely fit in the slot's journal blocks: an entry never spans two blocks,
 * so each block may leave up to one entry's size (less one byte) unused at its end.
 */
export function journal_capacity_bytes(): number {
  const entryMax = Math.max(...TABLE_ENTRY_BYTES) + 5;
  return CP_JOURNAL_BLOCKS * (JOURNAL_BODY_BYTES - (entryMax - 1));
}

/** Encodes a checkpoint into its slot's blocks: [header, journal0, journal1, ...]. */
export function cp_encode(cp: Checkpoint): Buffer[] {
  if (cp.dir.length > CP_DIR_MAX) throw new RangeError(`checkpoint: ${cp.dir.length} directory blocks`);
  if (cp.heads.length !== HEAD_COUNT) throw new RangeError(`checkpoint: ${cp.heads.length} heads`);
  // journal blocks first: the header records their CRCs
  const jblocks: Buffer[] = [];
  let cur: Buffer | null = null;
  let p = 0;
  let used = 0;
  const flush = (): void => {
    if (!cur) return;
    const v = view_of(cur);
    v.setUint32(0, JOURNAL_MAGIC, true);
    v.setUint16(4, FORMAT_VERSION, true);
    v.setUint32(8, cp.fsid, true);
    v.setUint32(12, jblocks.length, true);
    v.setUint32(16, cp.seq, true);
    v.setUint32(20, p - JOURNAL_HEADER_BYTES, true);
    v.setUint32(24, used, true);
    block_seal(cur);
    jblocks.push(cur);
    cur = null;
  };
  for (const e of cp.journal) {
    if (e.table < 0 || e.table >= TABLE_COUNT || e.data.length !== TABLE_ENTRY_BYTES[e.table]) {
      throw new RangeError(`journal entry for table ${e.table} with ${e.data.length} bytes`);
    }
    const need = 5 + e.data.length;
    if (!cur || p + need > JOURNAL_HEADER_BYTES + JOURNAL_BODY_BYTES) {
      flush();
      if (jblocks.length >= CP_JOURNAL_BLOCKS) throw new RangeError('checkpoint journal overflows its blocks');
      cur = block_new();
      p = JOURNAL_HEADER_BYTES;
      used = 0;
    }
    const v = view_of(cur);
    v.setUint8(p, e.table);
    v.setUint32(p + 1, e.index, true);
    cur.set(e.data, p + 5);
    p += need;
    used++;
  }
  flush();

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
  v.setUint32(56, jblocks.length, true);
  for (let i = 0; i < CP_JOURNAL_BLOCKS; i++) v.setUint32(60 + i * 4, jblocks[i] ? crc32c(jblocks[i]!, 0, CRC_OFFSET) : 0, true);
  v.setUint32(72, cp.dir.length, true);
  for (let i = 0; i < HEAD_COUNT; i++) {
    v.setInt32(HEADS_AT + i * 8, cp.heads[i]!.seg, true);
    v.setUint32(HEADS_AT + 4 + i * 8, cp.heads[i]!.off, true);
  }
  for (let i = 0; i < cp.dir.length; i++) v.setUint32(DIR_AT + i * 4, cp.dir[i]!, true);
  block_seal(h);
  return [h, ...jblocks];
}

/** Decodes the header block only; journal blocks are checked by cp_journal_decode. */
export interface CheckpointHeader extends Checkpoint {
  journalEntries: number;
  journalBlocks: number;
  journalCrcs: number[];
}

export function cp_header_decode(buf: Uint8Array, addr: number, fsid: number): CheckpointHeader {
  const v = block_verify(buf, CP_MAGIC, 'checkpoint', addr);
  const version = v.getUint16(4, true);
  if (version !== FORMAT_VERSION) throw new CorruptError('checkpoint', addr, `format version ${version}`);
  const cpFsid = v.getUint32(8, true);
  if (cpFsid !== fsid) throw new CorruptError('checkpoint', addr, `belongs to another filesystem (fsid 0x${cpFsid.toString(16)})`);
  const dirCount = v.getUint32(72, true);
  if (dirCount > CP_DIR_MAX) throw new CorruptError('checkpoint', addr, `${dirCount} directory blocks`);
  const journalBlocks = v.getUint32(56, true);
  if (journalBlocks > CP_JOURNAL_BLOCKS) throw new CorruptError('checkpoint', addr, `${journalBlocks} journal blocks`);
  const heads: HeadState[] = [];
  for (let i = 0; i < HEAD_COUNT; i++) heads.push({ seg: v.getInt32(HEADS_AT + i * 8, true), off: v.getUint32(HEADS_AT + 4 + i * 8, true) });
  const dir: number[] = [];
  for (let i = 0; i < dirCount; i++) dir.push(v.getUint32(DIR_AT + i * 4, true));
  const journalCrcs: number[] = [];
  for (let i = 0; i < CP_JOURNAL_BLOCKS; i++) journalCrcs.push(v.getUint32(60 + i * 4, true));
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
    journalEntries: v.getUint32(52, true),
    journalBlocks,
    journalCrcs,
  };
}

/** Verifies the journal blocks against the header and returns their entries, in order. */
export function cp_journal_decode(fsid: number, seq: number, journalCrcs: number[], blocks: Uint8Array[], addrs: number[], entriesExpected: number): JournalEntry[] {
  const out: JournalEntry[] = [];
  blocks.forEach((b, i) => {
    const addr = addrs[i]!;
    const v = block_verify(b, JOURNAL_MAGIC, 'checkpoint journal', addr);
    if (v.getUint32(CRC_OFFSET, true) !== journalCrcs[i]) throw new CorruptError('checkpoint journal', addr, 'is not the block its checkpoint header recorded (torn checkpoint write)');
    if (v.getUint16(4, true) !== FORMAT_VERSION) throw new CorruptError('checkpoint journal', addr, `format version ${v.getUint16(4, true)}`);
    if (v.getUint32(8, true) !== fsid) throw new CorruptError('checkpoint journal', addr, 'belongs to another filesystem');
    if (v.getUint32(12, true) !== i) throw new CorruptError('checkpoint journal', addr, `is journal block ${v.getUint32(12, true)}, expected ${i}`);
    if (v.getUint32(16, true) !== seq) throw new CorruptError('checkpoint journal', addr, `belongs to checkpoint ${v.getUint32(16, true)}, not ${seq}`);
    const bytes = v.getUint32(20, true);
    const used = v.getUint32(24, true);
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
