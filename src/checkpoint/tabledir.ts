// The metadata tables of a volume and where they are on the device: the tables themselves (NAT,
// RCT, SUT, SST, SNAP: log/metatable.ts), the table directory (the address of every table block)
// and the directory blocks a checkpoint lists, and the journal of the last durable checkpoint.
//
// Invariants:
// - dir[dirBase + b] is the address of table block b, 0 when the block is all zeros and was
//   never written; every non-zero address holds one reference in the RCT and a TABLE summary;
// - cpDir[d] holds the directory block listing entries [d·DIR_PER_BLOCK, (d+1)·DIR_PER_BLOCK);
// - the journal blocks of the last durable checkpoint hold one reference each until the next
//   checkpoint supersedes them;
// - assign() gives each block an address at most once per checkpoint, so its fixed point exists.

import { BLOCK_SIZE } from '../device/device.js';
import { Cause, tag_of } from '../device/cause.js';
import type { BlockDevice } from '../device/device.js';
import { journal_block_capacity, journal_capacity_bytes, journal_entry_bytes, journal_pack } from '../format/checkpoint.js';
import type { Checkpoint, JournalEntry } from '../format/checkpoint.js';
import { cp_slot_addr, DIR_PER_BLOCK, TABLE_COUNT, TABLE_NAMES, addr_in_main } from '../format/geometry.js';
import type { Geometry } from '../format/geometry.js';
import { dir_block_decode, dir_block_encode, table_block_decode, table_block_encode } from '../format/table.js';
import { DIRTY_FULL, MetaTable } from '../log/metatable.js';
import { BlockKind, Head } from '../log/segments.js';
import type { SegLog } from '../log/segments.js';
import { assert } from '../util/assert.js';
import { CorruptError } from '../util/errors.js';

/** What one checkpoint writes of the tables: decided by assign(), written by write(). */
export interface TablePlan {
  entries: JournalEntry[];
  /** global table block indices rewritten */
  written: Set<number>;
  /** directory blocks rewritten */
  dirs: Set<number>;
  journalAddrs: number[];
}

export class TableDir {
  readonly g: Geometry;
  readonly tables: MetaTable[];
  /** address of every table block (index = table's dirBase + block), 0 = not on disk */
  readonly dir: Uint32Array;
  /** addresses of the directory blocks */
  readonly cpDir: number[];
  /** the journal blocks of the last durable checkpoint (freed when the next one supersedes them) */
  journalAddrs: number[];
  /** directory blocks the cleaner asked to move */
  private readonly dirRelocate = new Set<number>();

  constructor(g: Geometry, cp: Checkpoint) {
    this.g = g;
    this.tables = g.tables.map((t) => new MetaTable(t));
    this.dir = new Uint32Array(g.tableBlocks);
    this.cpDir = cp.dir.slice();
    this.journalAddrs = cp.journalAddrs.slice();
  }

  /** The address of block `bi` of table `t` (0: never written, all zeros). */
  block_addr(t: number, bi: number): number {
    return this.dir[this.g.tables[t]!.dirBase + bi]!;
  }

  /** Table and directory blocks on the device now (they count as metadata, not user data). */
  live_blocks(): number {
    let n = 0;
    for (const a of this.dir) if (a !== 0) n++;
    for (const a of this.cpDir) if (a !== 0) n++;
    return n;
  }

  /** Table blocks too changed to ride in a checkpoint's journal: each is rewritten whole. */
  full_blocks(): number {
    let n = 0;
    for (const t of this.tables) for (const d of t.dirty.values()) if (d === DIRTY_FULL) n++;
    return n;
  }

  /** The cleaner found table block `bi` of table `t` at `a`: rewrite it at the next checkpoint. */
  table_relocate(t: number, bi: number, a: number): void {
    const mt = this.tables[t];
    assert(mt !== undefined && this.dir[mt.geom.dirBase + bi] === a, () => `block ${a}: summary says table ${t} block ${bi}, the directory disagrees`);
    mt.mark_block(bi);
  }

  /** The cleaner found directory block `di` at `a`: rewrite it at the next checkpoint. */
  dir_relocate(di: number, a: number): void {
    assert(this.cpDir[di] === a && di < Math.ceil(this.dir.length / DIR_PER_BLOCK), () => `block ${a}: summary says directory block ${di}`);
    this.dirRelocate.add(di);
  }

  /** Loads the table directory, every table block, then the checkpoint's journal over them. */
  load(dev: BlockDevice, fsid: number, cp: Checkpoint): void {
    for (let di = 0; di < this.cpDir.length; di++) {
      const a = this.cpDir[di]!;
      if (a === 0) continue;
      this.main_check(a, 'table directory');
      dir_block_decode(dev.read(a), a, di, this.dir, fsid);
    }
    for (let t = 0; t < TABLE_COUNT; t++) {
      const mt = this.tables[t]!;
      const geom = mt.geom;
      for (let bi = 0; bi < geom.blocks; bi++) {
        const a = this.dir[geom.dirBase + bi]!;
        if (a === 0) continue;
        this.main_check(a, `${TABLE_NAMES[t]} table`);
        table_block_decode(geom, dev.read(a), a, bi, mt.bytes, fsid);
      }
      mt.dirty.clear();
    }
    for (const e of cp.journal) {
      const mt = this.tables[e.table]!;
      if (e.index >= mt.geom.entries) throw new CorruptError('checkpoint journal', cp.journalAddrs[0] ?? cp_slot_addr(cp.slot), `entry ${e.index} of table ${TABLE_NAMES[e.table]} is outside it`);
      mt.entry_set(e.index, e.data);
    }
  }

  private main_check(a: number, kind: string): void {
    if (!addr_in_main(this.g, a)) throw new CorruptError(kind, a, 'address outside the main area');
  }

  /** A table block gets a new address (`gi`: its global index) and its summary. */
  private place(log: SegLog, t: number, bi: number, gi: number): number {
    const a = log.alloc(Head.META);
    log.summary_set(a, { kind: BlockKind.TABLE, sub: t, owner: bi, offset: 0, birth: log.birth });
    log.ref_inc(a);
    this.dir[gi] = a;
    return a;
  }

  /**
   * Decides, for every dirty table block, whether its changed entries ride in the checkpoint's
   * journal or the block is rewritten; gives rewritten blocks (and the directory blocks listing
   * them) new addresses. Allocating changes the tables again, so this runs to a fixed point; it
   * ends because every block is given an address at most once and journal sets only grow.
   */
  assign(log: SegLog, newSeq: number): TablePlan {
    const cap = journal_capacity_bytes();
    const decided = new Map<number, number>(); // global block index → journaled entry count, or -1 = written
    const written = new Set<number>();
    const dirAssigned = new Set<number>();
    const dirDirty = new Set<number>(this.dirRelocate);
    this.dirRelocate.clear();
    let jbytes = 0;
    // the previous checkpoint's journal is superseded by this one's
    for (const a of this.journalAddrs) log.ref_dec(a);
    const journalAddrs: number[] = [];
    for (let round = 0; ; round++) {
      assert(round < 10000, 'table assignment does not converge');
      let progress = log.prefree_pass(newSeq) > 0;
      // the blocks with the fewest journal bytes go to the journal first
      const cands: { t: number; bi: number; d: Set<number> | true; bytes: number }[] = [];
      for (let t = 0; t < TABLE_COUNT; t++) {
        for (const [bi, d] of this.tables[t]!.dirty) cands.push({ t, bi, d, bytes: d === DIRTY_FULL ? Infinity : d.size * journal_entry_bytes(t) });
      }
      cands.sort((a, b) => a.bytes - b.bytes);
      for (const { t, bi } of cands) {
        const mt = this.tables[t]!;
        // read again: allocating earlier in this pass may have added entries to the block
        const d = mt.dirty.get(bi)!;
        const gi = mt.geom.dirBase + bi;
        const prev = decided.get(gi);
        if (prev === -1) {
          // A block found all zeros is left unwritten (its directory entry 0 reads as zeros).
          // If an allocation of this very checkpoint (a node, a table or journal block) gave
          // one of its entries a value since, it must be written after all: without this, the
          // checkpoint's tables disagreed with its tree and the next mount fell back to an
          // older checkpoint.
          if (this.dir[gi] === 0 && !mt.block_is_zero(bi)) {
            progress = true;
            this.place(log, t, bi, gi);
            dirDirty.add(Math.floor(gi / DIR_PER_BLOCK));
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
        const old = this.dir[gi]!;
        if (mt.block_is_zero(bi)) this.dir[gi] = 0;
        else this.place(log, t, bi, gi);
        if (old !== 0) log.ref_dec(old);
        if (old !== this.dir[gi]) dirDirty.add(Math.floor(gi / DIR_PER_BLOCK));
      }
      // journal blocks for what the journal holds so far (it only grows: blocks are never released)
      while (journalAddrs.length < Math.ceil(jbytes / journal_block_capacity())) {
        const a = log.alloc(Head.META);
        log.summary_set(a, { kind: BlockKind.JOURNAL, sub: 0, owner: journalAddrs.length, offset: 0, birth: log.birth });
        log.ref_inc(a);
        journalAddrs.push(a);
        progress = true;
      }
      for (const di of dirDirty) {
        if (dirAssigned.has(di)) continue;
        dirAssigned.add(di);
        progress = true;
        const a = log.alloc(Head.META);
        log.summary_set(a, { kind: BlockKind.DIR, sub: 0, owner: di, offset: 0, birth: log.birth });
        log.ref_inc(a);
        const old = this.cpDir[di]!;
        this.cpDir[di] = a;
        if (old !== 0) log.ref_dec(old);
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
   * Encodes and writes the table and directory blocks assign() gave addresses to, and the
   * journal blocks; one request per run of consecutive blocks of one cause. Returns the blocks
   * written.
   */
  write(dev: BlockDevice, fsid: number, newSeq: number, plan: TablePlan, journal: Buffer[]): number {
    const out: { addr: number; buf: Buffer; cause: Cause }[] = journal.map((buf, i) => ({ addr: plan.journalAddrs[i]!, buf, cause: Cause.JOURNAL }));
    for (let t = 0; t < TABLE_COUNT; t++) {
      const mt = this.tables[t]!;
      for (const bi of [...mt.dirty.keys()]) {
        const gi = mt.geom.dirBase + bi;
        if (!plan.written.has(gi)) continue;
        mt.dirty.delete(bi);
        const a = this.dir[gi]!;
        if (a === 0) continue;
        out.push({ addr: a, buf: table_block_encode(mt.geom, { fsid, table: t, index: bi, addr: a, seq: newSeq }, mt.bytes), cause: (Cause.NAT + t) as Cause });
      }
    }
    for (const di of plan.dirs) {
      const a = this.cpDir[di]!;
      if (a !== 0) out.push({ addr: a, buf: dir_block_encode(fsid, di, a, newSeq, this.dir), cause: Cause.TABLE_DIR });
    }
    out.sort((x, y) => x.addr - y.addr);
    for (let i = 0; i < out.length;) {
      let j = i + 1;
      while (j < out.length && out[j]!.addr === out[j - 1]!.addr + 1 && out[j]!.cause === out[i]!.cause) j++;
      const run = out.slice(i, j);
      dev.write(run[0]!.addr, run.length === 1 ? run[0]!.buf : Buffer.concat(run.map((r) => r.buf)), tag_of(run[0]!.cause));
      i = j;
    }
    assert(out.every((o) => o.buf.length === BLOCK_SIZE), 'a table block of the wrong size');
    return out.length;
  }
}
