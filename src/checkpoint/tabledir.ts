// The metadata tables of a volume and where they are on the device: the tables themselves (NAT,
// RCT, SUT, SST, SNAP, DIR: log/metatable.ts), paged through one cache; the top directory (the
// address of every DIR table block) and its blocks, which the checkpoint lists; and the journal
// of the last durable checkpoint.
//
// Invariants:
// - the address of block b of table t (t ≠ DIR) is DIR entry dirBase(t) + b; of DIR block b,
//   top[b]; 0 when the block is all zeros and was never written. Every non-zero address holds
//   one reference in the RCT and a TABLE summary (sub = t, owner = b);
// - cpDir[d] holds the top directory block listing top[d·DIR_PER_BLOCK, (d+1)·DIR_PER_BLOCK);
// - metaBlocks counts the non-zero addresses of both levels and the top directory blocks;
// - the journal blocks of the last durable checkpoint hold one reference each until the next
//   checkpoint supersedes them;
// - assign() gives each block an address at most once per checkpoint, so its fixed point exists;
// - mount reads only the top directory: a table block is read when an entry of it is first
//   needed. A damaged one stops every later change (`failed`): nothing more is written, and
//   the filesystem stays as its last durable checkpoint left it.

import { Cause, tag_of } from '../device/cause.js';
import { BLOCK_SIZE, device_writev, type BlockDevice } from '../device/device.js';
import { journal_block_capacity, journal_capacity_bytes, journal_entry_bytes, journal_pack } from '../format/checkpoint.js';
import type { Checkpoint, JournalEntry } from '../format/checkpoint.js';
import { addr_in_main, cp_slot_addr, DIR_PER_BLOCK, TABLE_COUNT, TABLE_NAMES, TableId } from '../format/geometry.js';
import type { Geometry } from '../format/geometry.js';
import { dir_block_decode, dir_block_encode, table_block_decode, table_block_encode } from '../format/table.js';
import { DIRTY_FULL, MetaTable, PageCache } from '../log/metatable.js';
import { BlockKind, Head } from '../log/segments.js';
import type { SegLog } from '../log/segments.js';
import { assert } from '../util/assert.js';
import { CorruptError, FsError } from '../util/errors.js';

/** What one checkpoint writes of the tables: decided by assign(), written by write(). */
export interface TablePlan {
  entries: JournalEntry[];
  /** global table block indices (dirBase + block) rewritten */
  written: Set<number>;
  /** top directory blocks rewritten */
  dirs: Set<number>;
  journalAddrs: number[];
}

export class TableDir {
  readonly g: Geometry;
  readonly cache: PageCache;
  readonly tables: MetaTable[];
  /** address of every DIR table block, 0 = not on disk */
  readonly top: Uint32Array;
  /** addresses of the top directory blocks */
  readonly cpDir: number[];
  /** the journal blocks of the last durable checkpoint (freed when the next one supersedes them) */
  journalAddrs: number[];
  /** table and top directory blocks on the device (checkpoint's meta_blocks) */
  metaBlocks: number;
  /** table pages left dirty by the last checkpoint (their entries ride in its journal) */
  pinnedAfterCheckpoint = 0;
  /** the first damaged table block read, when one was: the volume changes nothing after it */
  failed: string | null = null;
  /** top directory blocks the cleaner asked to move */
  private readonly topRelocate = new Set<number>();
  private readonly dev: BlockDevice;
  private readonly fsid: number;

  constructor(dev: BlockDevice, fsid: number, g: Geometry, cp: Checkpoint, cachePages: number) {
    this.g = g;
    this.dev = dev;
    this.fsid = fsid;
    this.cache = new PageCache(cachePages);
    this.tables = g.tables.map((t) => new MetaTable(t, this.cache, (mt, bi) => this.page_read(mt, bi), (mt, bi) => this.block_addr(mt.geom.id, bi) !== 0));
    this.top = new Uint32Array(g.tables[TableId.DIR]!.blocks);
    this.cpDir = cp.dir.slice();
    this.journalAddrs = cp.journalAddrs.slice();
    this.metaBlocks = cp.metaBlocks;
  }

  private get dirT(): MetaTable {
    return this.tables[TableId.DIR]!;
  }

  /** The address of block `bi` of table `t` (0: never written, all zeros). */
  block_addr(t: number, bi: number): number {
    if (t === TableId.DIR) return this.top[bi]!;
    return this.dirT.u32(this.g.tables[t]!.dirBase + bi, 0);
  }

  private block_addr_set(t: number, bi: number, a: number): void {
    const old = this.block_addr(t, bi);
    if (old === a) return;
    if (old === 0) this.metaBlocks++;
    if (a === 0) this.metaBlocks--;
    if (t === TableId.DIR) this.top[bi] = a;
    else this.dirT.set_u32(this.g.tables[t]!.dirBase + bi, 0, a);
  }

  /** Reads table block bi of `mt` for its page (null: never written, zeros). */
  private page_read(mt: MetaTable, bi: number): Uint8Array | null {
    const t = mt.geom.id;
    const a = this.block_addr(t, bi);
    if (a === 0) return null;
    try {
      if (!addr_in_main(this.g, a)) throw new CorruptError(`${TABLE_NAMES[t]} table`, a, 'address outside the main area');
      return table_block_decode(mt.geom, this.dev.read(a), a, bi, this.fsid);
    } catch (e) {
      if (e instanceof FsError && this.failed === null) this.failed = e.message;
      throw e;
    }
  }

  /** Table blocks too changed to ride in a checkpoint's journal: each is rewritten whole. */
  full_blocks(): number {
    let n = 0;
    for (const t of this.tables) n += t.fullBlocks;
    return n;
  }

  /** Table pages pinned in memory because they changed since they were last written. */
  dirty_pages(): number {
    let n = 0;
    for (const t of this.tables) n += t.dirty.size;
    return n;
  }

  /** The cleaner found table block `bi` of table `t` at `a`: rewrite it at the next checkpoint. */
  table_relocate(t: number, bi: number, a: number): void {
    const mt = this.tables[t];
    assert(mt !== undefined && this.block_addr(t, bi) === a, () => `block ${a}: summary says table ${t} block ${bi}, the directory disagrees`);
    mt.mark_block(bi);
  }

  /** The cleaner found top directory block `di` at `a`: rewrite it at the next checkpoint. */
  dir_relocate(di: number, a: number): void {
    assert(this.cpDir[di] === a && di < this.g.dirBlocks, () => `block ${a}: summary says directory block ${di}`);
    this.topRelocate.add(di);
  }

  /**
   * Reads the top directory the checkpoint lists, then lays the checkpoint's journal over the
   * tables: DIR entries first, since they say where the other tables' blocks are.
   */
  load(cp: Checkpoint): void {
    for (let di = 0; di < this.cpDir.length; di++) {
      const a = this.cpDir[di]!;
      if (a === 0) continue;
      if (!addr_in_main(this.g, a)) throw new CorruptError('table directory', a, 'address outside the main area');
      dir_block_decode(this.dev.read(a), a, di, this.top, this.fsid);
    }
    const order = [...cp.journal.filter((e) => e.table === TableId.DIR), ...cp.journal.filter((e) => e.table !== TableId.DIR)];
    for (const e of order) {
      const mt = this.tables[e.table]!;
      if (e.index >= mt.geom.entries) throw new CorruptError('checkpoint journal', cp.journalAddrs[0] ?? cp_slot_addr(cp.slot), `entry ${e.index} of table ${TABLE_NAMES[e.table]} is outside it`);
      mt.entry_set(e.index, e.data);
    }
  }

  /** A table block gets a new address (`gi`: its global index) and its summary. */
  private place(log: SegLog, t: number, bi: number): void {
    const a = log.alloc(Head.META);
    log.summary_set(a, { kind: BlockKind.TABLE, sub: t, owner: bi, offset: 0, birth: log.birth });
    log.ref_inc(a);
    this.block_addr_set(t, bi, a);
  }

  /**
   * Decides, for every dirty table block, whether its changed entries ride in the checkpoint's
   * journal or the block is rewritten; gives rewritten blocks (and the DIR blocks and top
   * directory blocks listing them) new addresses. Allocating changes the tables again, so this
   * runs to a fixed point; it ends because every block is given an address at most once and
   * journal sets only grow.
   */
  assign(log: SegLog, newSeq: number): TablePlan {
    const cap = journal_capacity_bytes();
    const decided = new Map<number, number>(); // global block index → journaled entry count, or -1 = written
    const written = new Set<number>();
    const dirAssigned = new Set<number>();
    const topDirty = new Set<number>(this.topRelocate);
    this.topRelocate.clear();
    let jbytes = 0;
    // the previous checkpoint's journal is superseded by this one's
    for (const a of this.journalAddrs) log.ref_dec(a);
    const journalAddrs: number[] = [];
    const top_of = (t: number, bi: number): void => {
      if (t === TableId.DIR) topDirty.add(Math.floor(bi / DIR_PER_BLOCK));
    };
    for (let round = 0; ; round++) {
      assert(round < 10000, 'table assignment does not converge');
      let progress = log.prefree_pass(newSeq) > 0;
      // the blocks with the fewest journal bytes go to the journal first
      const cands: { t: number; bi: number; bytes: number }[] = [];
      for (let t = 0; t < TABLE_COUNT; t++) {
        for (const [bi, d] of this.tables[t]!.dirty) cands.push({ t, bi, bytes: d === DIRTY_FULL ? Infinity : d.size * journal_entry_bytes(t) });
      }
      cands.sort((a, b) => a.bytes - b.bytes);
      for (const { t, bi } of cands) {
        const mt = this.tables[t]!;
        // read again: allocating earlier in this pass may have added entries to the block
        const d = mt.dirty.get(bi)!;
        const gi = mt.geom.dirBase + bi;
        const prev = decided.get(gi);
        if (prev === -1) {
          // A block found all zeros is left unwritten (its address 0 reads as zeros). If an
          // allocation of this very checkpoint (a node, a table or journal block) gave one of
          // its entries a value since, it must be written after all: without this, the
          // checkpoint's tables disagreed with its tree and the next mount fell back to an
          // older checkpoint.
          if (this.block_addr(t, bi) === 0 && !mt.block_is_zero(bi)) {
            progress = true;
            this.place(log, t, bi);
            top_of(t, bi);
          }
          continue;
        }
        const size = d === DIRTY_FULL ? Infinity : d.size;
        if (prev !== undefined) {
          if (prev === size) continue;
          jbytes -= prev * journal_entry_bytes(t);
        }
        const need = size * journal_entry_bytes(t);
        if (size !== Infinity && jbytes + need <= cap) {
          decided.set(gi, size);
          jbytes += need;
          continue;
        }
        decided.set(gi, -1);
        progress = true;
        written.add(gi);
        const old = this.block_addr(t, bi);
        if (mt.block_is_zero(bi)) this.block_addr_set(t, bi, 0);
        else this.place(log, t, bi);
        if (old !== 0) log.ref_dec(old);
        if (old !== this.block_addr(t, bi)) top_of(t, bi);
      }
      // journal blocks for what the journal holds so far (it only grows: blocks are never released)
      while (journalAddrs.length < Math.ceil(jbytes / journal_block_capacity())) {
        const a = log.alloc(Head.META);
        log.summary_set(a, { kind: BlockKind.JOURNAL, sub: 0, owner: journalAddrs.length, offset: 0, birth: log.birth });
        log.ref_inc(a);
        journalAddrs.push(a);
        progress = true;
      }
      for (const di of topDirty) {
        if (dirAssigned.has(di)) continue;
        dirAssigned.add(di);
        progress = true;
        const a = log.alloc(Head.META);
        log.summary_set(a, { kind: BlockKind.DIR, sub: 0, owner: di, offset: 0, birth: log.birth });
        log.ref_inc(a);
        const old = this.cpDir[di]!;
        this.cpDir[di] = a;
        if (old !== 0) log.ref_dec(old);
        else this.metaBlocks++;
      }
      if (!progress) break;
    }
    const entries: JournalEntry[] = [];
    for (let t = 0; t < TABLE_COUNT; t++) {
      const mt = this.tables[t]!;
      for (const [bi, d] of mt.dirty) {
        if (decided.get(mt.geom.dirBase + bi) === -1) continue;
        assert(d !== DIRTY_FULL, () => `table ${t} block ${bi}: full block left for the journal`);
        for (const i of [...d].sort((a, b) => a - b)) entries.push({ table: t, index: i, data: Buffer.from(mt.entry(i)) });
      }
    }
    assert(journal_pack(entries).length <= journalAddrs.length, () => `journal of ${entries.length} entries needs more than ${journalAddrs.length} blocks`);
    return { entries, written, dirs: dirAssigned, journalAddrs };
  }

  /**
   * Encodes and writes the table and top directory blocks assign() gave addresses to, and the
   * journal blocks; one request per run of consecutive blocks of one cause. Returns the blocks
   * written.
   */
  write(dev: BlockDevice, newSeq: number, plan: TablePlan, journal: Buffer[]): number {
    const out: { addr: number; buf: Buffer; cause: Cause }[] = journal.map((buf, i) => ({ addr: plan.journalAddrs[i]!, buf, cause: Cause.JOURNAL }));
    for (let t = 0; t < TABLE_COUNT; t++) {
      const mt = this.tables[t]!;
      for (const bi of [...mt.dirty.keys()]) {
        if (!plan.written.has(mt.geom.dirBase + bi)) continue;
        const a = this.block_addr(t, bi);
        if (a !== 0) out.push({ addr: a, buf: table_block_encode(mt.geom, { fsid: this.fsid, table: t, index: bi, addr: a, seq: newSeq }, mt.block_bytes(bi)), cause: (Cause.NAT + t) as Cause });
        mt.clean(bi);
      }
    }
    for (const di of plan.dirs) {
      const a = this.cpDir[di]!;
      if (a !== 0) out.push({ addr: a, buf: dir_block_encode(this.fsid, di, a, newSeq, this.top), cause: Cause.TABLE_DIR });
    }
    out.sort((x, y) => x.addr - y.addr);
    for (let i = 0; i < out.length;) {
      let j = i + 1;
      while (j < out.length && out[j]!.addr === out[j - 1]!.addr + 1 && out[j]!.cause === out[i]!.cause) j++;
      const run = out.slice(i, j);
      device_writev(dev, run[0]!.addr, run.map((r) => r.buf), tag_of(run[0]!.cause));
      i = j;
    }
    assert(out.every((o) => o.buf.length === BLOCK_SIZE), 'a table block of the wrong size');
    this.pinnedAfterCheckpoint = this.dirty_pages();
    return out.length;
  }
}
