// The cleaner: reclaims segments whose blocks have mostly died, so a log-structured filesystem
// can keep writing while its live data fits.
//
// A round picks victims greedily (fewest valid blocks first), moves their live blocks — data to
// the cold data log, B+tree nodes and table blocks by marking them to be rewritten — and writes a
// checkpoint, at which the emptied victims become PREFREE. They are handed out again only once a
// second checkpoint is durable (see log/segments.ts): the cleaner never breaks the checkpoint a
// mount might fall back to.
//
// Invariants: a round moves no more live blocks than there is free space for after reserving
// what the checkpoint itself will write; a block is moved only if the live tree (or the NAT, or
// the table directory) still points at it, and every pointer to it is updated.

import { Cause, tag_of, Trigger } from '../device/cause.js';
import type { Volume } from '../checkpoint/volume.js';
import { MAP_SLOTS } from '../format/records.js';
import { BlockKind, Head, SegState, SUB_SHARED } from '../log/segments.js';
import { assert } from '../util/assert.js';
import { FsError } from '../util/errors.js';
import { nid_of } from '../util/ids.js';

/** Segment openings between the most- and least-written segments that start wear levelling. */
export const WEAR_SPREAD = 16;
/** victims a round passes over for want of room before it gives up */
const VICTIM_SKIPS_MAX = 64;

export interface CleanerStats {
  rounds: number;
  /** idle-time rounds (cost-benefit) and segments moved for wear levelling */
  backgroundRounds: number;
  wearMoves: number;
  segmentsCleaned: number;
  blocksMoved: number;
  dataMoved: number;
  nodesMoved: number;
  metaMoved: number;
  checkpoints: number;
}

export class Cleaner {
  readonly vol: Volume;
  readonly stats: CleanerStats = { rounds: 0, backgroundRounds: 0, wearMoves: 0, segmentsCleaned: 0, blocksMoved: 0, dataMoved: 0, nodesMoved: 0, metaMoved: 0, checkpoints: 0 };
  /** where the bounded cost-benefit search starts next */
  private scanCursor = 0;

  /** the file layer writes a checkpoint once this many nodes are dirty */
  readonly dirtyNodesMax: number;

  constructor(vol: Volume, dirtyNodesMax: number) {
    this.vol = vol;
    this.dirtyNodesMax = dirtyNodesMax;
    vol.log.ssrBelow = this.headroom() + 2 * vol.g.segBlocks;
  }

  /**
   * An upper bound on the free space (whole free segments) the next checkpoint will use: every
   * dirty node, a NAT block per 338 of them, every table block too changed to ride in the
   * checkpoint's journal, what the checkpoint's own allocations dirty in the summary,
   * reference-count and usage tables, the directory — and a whole segment for each of the two
   * logs it writes to (the meta log and the cold node log), which may each have to open one.
   */
  ckpt_need(): number {
    const v = this.vol;
    const nodes = v.nodes.dirtyCount;
    const full = v.tabs.full_blocks();
    // pages fsync only logged are written (and their leaves dirtied) before the checkpoint
    const pages = v.beforeCheckpointBlocks();
    const pageNodes = pages ? Math.ceil(pages / 4) + 2 : 0;
    return nodes + pageNodes + Math.ceil((nodes + pageNodes) / v.g.tables[0]!.perBlock) + full + 4 + v.g.dirBlocks + 2 * v.g.segBlocks + (pages ? pages + v.g.segBlocks : 0);
  }

  /** The checkpoint bound when `dirtyNodesMax` nodes are dirty: what cleaning must always leave free. */
  ckpt_max(): number {
    const v = this.vol;
    return this.dirtyNodesMax + Math.ceil(this.dirtyNodesMax / v.g.tables[0]!.perBlock) + 8 + v.g.dirBlocks + 2 * v.g.segBlocks;
  }

  /** Free blocks kept back so that a cleaning round always has room to move blocks and checkpoint. */
  headroom(): number {
    const g = this.vol.g;
    return Math.max(g.reserveSegs * g.segBlocks, this.ckpt_max() + 2 * g.segBlocks);
  }

  /** Nodes a change of `records` tree records may dirty: a path per record, splits included. */
  growth_of(records: number): number {
    const height = this.vol.nodes.get(this.vol.root).level + 1;
    return records * (height + 2);
  }

  /**
   * growth_of for `records` map records of one file's block run (consecutive keys, as a large
   * fallocate or a clone writes them): they fill leaves side by side instead of each dirtying
   * a path of its own. A leaf takes at least 4 of the largest map records; every leaf may split
   * (two nodes) and the paths above are counted twice.
   */
  growth_of_run(records: number): number {
    const height = this.vol.nodes.get(this.vol.root).level + 1;
    return Math.min(this.growth_of(records), 2 * Math.ceil(records / 4) + 2 * (height + 2));
  }

  /**
   * Called before an operation changes anything: makes sure it can write `blocks` blocks and dirty
   * `nodes` more nodes while a checkpoint stays writable afterwards (free >= checkpoint need is
   * the invariant that keeps cowlog from wedging). Checkpoints and redo blocks take whole free
   * segments; file data (`data`) may also go into the holes of dirty segments, which the log
   * heads for user data switch to when free segments fall below `log.ssrBelow`.
   * - 'system' (deletes, renames, flushing data already admitted, checkpoints): ENOSPC only when
   *   even the bare need cannot be met — the headroom is theirs to use.
   * - 'user' (new data and new names): ENOSPC unless the headroom stays free after the operation,
   *   so a full filesystem always keeps room to delete, rename and clean.
   * Cleaning starts early, while the headroom is still free: a round needs room to move blocks.
   */
  prepare(blocks: number, nodes: number, mode: 'system' | 'user' = 'system', data = false): void {
    const v = this.vol;
    const log = v.log;
    const headroom = this.headroom();
    const growth = nodes + Math.ceil(nodes / v.g.tables[0]!.perBlock);
    // user data turns to the holes of dirty segments before it eats into what the next
    // checkpoint needs: that grows with the pages fsync logged, beyond the headroom's bound
    log.ssrBelow = Math.max(headroom, this.ckpt_need() + growth) + 2 * v.g.segBlocks;
    // whole free segments metadata needs (checkpoint, redo), and room for the data blocks:
    // free segments above what metadata needs (a head may open one more), or holes for data
    const fits = (keepHeadroom: boolean): boolean => {
      const keep = this.ckpt_need() + growth + (keepHeadroom ? headroom : 0);
      const free = log.blocks_free();
      if (free < keep) return false;
      if (blocks === 0) return true;
      const spare = free - keep - v.g.segBlocks;
      if (spare >= blocks) return true;
      return data && Math.max(0, free - Math.max(keep, log.ssrBelow)) + log.blocks_ssr() >= blocks;
    };
    for (let attempt = 0; attempt < 64; attempt++) {
      if (fits(true)) return;
      const need = this.ckpt_need();
      const free = log.blocks_free();
      // A checkpoint gives back every block freed in this epoch (emptied segments, and holes for
      // recycling). Write one when that is needed, or when it gives back well over its cost —
      // never just because something is pending, or every operation would checkpoint.
      const back = log.freedThisEpoch;
      if (free >= need && back > 0 && (!fits(false) || back >= 2 * need + blocks)) { this.checkpoint(Trigger.SPACE); continue; }
      if (this.round(blocks + growth + headroom) > 0) continue;
      // nothing to clean: a checkpoint still turns dirty nodes into written ones
      if (v.nodes.dirtyCount > 0 && free >= need && !fits(false)) { this.checkpoint(Trigger.SPACE); continue; }
      break;
    }
    if (fits(mode === 'user')) return;
    throw new FsError('ENOSPC', this.enospc_text(blocks, growth, mode === 'user', data));
  }

  /**
   * Why `blocks` blocks do not fit, with numbers that add up: the free blocks (whole segments)
   * shared out in order to what stays kept — the next checkpoint, (for users) deletes and
   * cleaning, the log heads — and what is left, plus for file data the holes of used segments.
   * The same sums as prepare()'s fits().
   */
  private enospc_text(blocks: number, growth: number, user: boolean, data: boolean): string {
    const log = this.vol.log;
    const segBlocks = this.vol.g.segBlocks;
    const free = log.blocks_free();
    const ckpt = this.ckpt_need() + growth;
    const headroom = user ? this.headroom() : 0;
    const keep = ckpt + headroom;
    // file data may go into holes once free segments are below ssrBelow: then what is kept for
    // the heads is what ssrBelow keeps beyond the rest; otherwise one open segment
    const holes = data ? log.blocks_ssr() : 0;
    const viaHoles = data && Math.max(0, free - Math.max(keep, log.ssrBelow)) + holes > free - keep - segBlocks;
    const heads = viaHoles ? Math.max(0, log.ssrBelow - keep) : segBlocks;
    let rest = free;
    const take = (n: number): number => { const t = Math.min(rest, n); rest -= t; return t; };
    const parts = [`${take(ckpt)} for the next checkpoint`];
    if (user) parts.push(`${take(headroom)} for deletes and cleaning`);
    parts.push(`${take(heads)} for the log heads`);
    const left = rest + (viaHoles ? holes : 0);
    return `no space left: ${blocks} blocks wanted, ${left} left: ${free} free blocks, of which ${parts.join(', ')}, leave ${rest}` +
      `${viaHoles ? `, and ${holes} in holes of used segments` : ''}; nothing more to clean`;
  }

  /** prepare() for writing `blocks` blocks of one inode's data (already admitted). */
  ensure(blocks: number, run = false): void {
    const records = Math.ceil(blocks / MAP_SLOTS) + 2;
    this.prepare(blocks, run ? this.growth_of_run(records) : this.growth_of(records), 'system', true);
  }

  private checkpoint(trigger: Trigger): void {
    this.vol.checkpoint(false, trigger);
    this.stats.checkpoints++;
  }

  /**
   * Victims in greedy order: fewest valid blocks first, oldest on ties. A victim must give back
   * at least an eighth of a segment: moving a nearly full one costs more (its blocks written
   * again, a checkpoint) than it returns. The whole list (tests, tools): a round takes them one
   * at a time from the log's index instead.
   */
  victims(): number[] {
    return [...this.vol.log.index.victims()];
  }

  /**
   * One cleaning round aiming to make `want` blocks writable. Returns the number of segments
   * emptied (0 when there was nothing worth cleaning or no room to move anything).
   */
  round(want: number): number {
    const v = this.vol;
    const log = v.log;
    const segBlocks = log.g.segBlocks;
    let cleaned = 0;
    let gained = 0;
    let seen = 0;
    let skipped = 0;
    for (const s of log.index.victims()) {
      if (seen++ === 0) this.stats.rounds++;
      // a round looks at a bounded number of victims that do not fit: the ones after them hold
      // more valid blocks, and looking costs a census of each
      if (skipped > VICTIM_SKIPS_MAX) break;
      // moving a segment writes its data blocks now (into free segments, or holes when free
      // segments are short) and dirties a leaf for each of them, and marks its node and table
      // blocks to be written by the checkpoint into free segments: all of that must still fit
      const { data, leaves, meta } = this.seg_census(s);
      const ckpt = this.ckpt_need() + leaves + Math.ceil(leaves / this.vol.g.tables[0]!.perBlock) + meta + segBlocks;
      const free = log.blocks_free();
      if (free < ckpt || data > free - ckpt + (free < log.ssrBelow + segBlocks ? log.blocks_ssr() : 0)) { skipped++; continue; }
      this.seg_move(s);
      cleaned++;
      gained += segBlocks - data - meta;
      // a round costs a checkpoint: aim to give back several times that
      if (gained >= Math.max(want, 4 * this.ckpt_need())) break;
    }
    if (cleaned === 0) return 0;
    // the victims become PREFREE now and free at the next checkpoint; those of the previous
    // round become free with this one
    this.checkpoint(Trigger.CLEANER);
    this.stats.segmentsCleaned += cleaned;
    return cleaned;
  }

  /**
   * Idle-time work, bounded: cost-benefit cleaning, then static wear levelling. Returns the
   * segments it moved.
   *
   * Cleaning runs while free segments are below a tenth of the device, or (as f2fs's background
   * collector decides) while the used segments hold more dead blocks than live-block room they
   * would need and free segments are below 40 %: a fragmented filesystem is compacted while
   * nobody waits, so that a later burst finds whole free segments. One call moves at most
   * `victimsMax` segments.
   *
   * Cost-benefit (Rosenblum and Ousterhout's LFS): score = (1 − u) · age / (1 + u), u the
   * segment's utilisation and age the checkpoints since it was filled: an old, cold segment is
   * worth cleaning at a higher utilisation than a young one whose blocks may still die on their
   * own. The search looks at `scanMax` segments from a rotating cursor.
   */
  background(victimsMax = 16, scanMax = 1024): number {
    let moved = 0;
    if (this.background_wanted()) {
      const v = this.vol;
      const log = v.log;
      const g = v.g;
      const now = log.birth;
      const scored: { s: number; score: number }[] = [];
      const validMax = g.segBlocks - Math.max(1, g.segBlocks >> 3);
      for (let k = 0; k < Math.min(scanMax, g.segCount); k++) {
        const s = (this.scanCursor + k) % g.segCount;
        if (log.seg_state(s) !== SegState.INUSE || log.is_head_seg(s)) continue;
        const valid = log.seg_valid(s);
        if (valid === 0 || valid > validMax) continue;
        const u = valid / g.segBlocks;
        const age = Math.max(1, now - log.seg(s).mtime);
        scored.push({ s, score: ((1 - u) * age) / (1 + u) });
      }
      this.scanCursor = (this.scanCursor + Math.min(scanMax, g.segCount)) % g.segCount;
      scored.sort((a, b) => b.score - a.score);
      moved += this.move_some(scored.slice(0, victimsMax).map((x) => x.s));
      if (moved) this.stats.backgroundRounds++;
    }
    moved += this.wear_level();
    return moved;
  }

  /** Whether idle-time cleaning is worth doing now (see background). */
  background_wanted(): boolean {
    const log = this.vol.log;
    const g = this.vol.g;
    const free = log.segs_free();
    if (free < Math.max(Math.ceil(g.segCount / 10), 2 * g.reserveSegs)) return true;
    if (free >= g.segCount * 0.4) return false;
    const { segs: used, valid } = log.used_segs();
    // dead blocks in used segments worth at least 40 % of them, and at least one whole segment
    const dead = used * g.segBlocks - valid;
    return dead >= Math.max(g.segBlocks, 0.4 * used * g.segBlocks);
  }

  /**
   * Static wear levelling: when the most-written segment has been opened more than
   * `WEAR_SPREAD` times beyond the least-written one still holding data, that one holds
   * cold data that keeps it out of use. Its blocks move to the most-written free segment (cold
   * data rests on worn segments) and it goes back to the pool, where allocation (least written
   * first) hands it to the hot logs next.
   */
  wear_level(): number {
    const log = this.vol.log;
    const coldest = log.index.used_least_written();
    if (coldest === null || log.writesMax - coldest.writes <= WEAR_SPREAD) return 0;
    log.coldOnWorn = true;
    try {
      const n = this.move_some([coldest.seg]);
      this.stats.wearMoves += n;
      return n;
    } finally {
      log.coldOnWorn = false;
    }
  }

  /** Moves the given segments while there is room, then checkpoints; returns how many moved. */
  private move_some(victims: number[]): number {
    const log = this.vol.log;
    const segBlocks = this.vol.g.segBlocks;
    let n = 0;
    for (const s of victims) {
      const { data, leaves, meta } = this.seg_census(s);
      const ckpt = this.ckpt_need() + leaves + Math.ceil(leaves / this.vol.g.tables[0]!.perBlock) + meta + segBlocks;
      const free = log.blocks_free();
      // idle work keeps the headroom untouched
      if (free < ckpt + this.headroom() || data > free - ckpt - this.headroom()) break;
      this.seg_move(s);
      n++;
    }
    if (n) {
      this.checkpoint(Trigger.CLEANER);
      this.stats.segmentsCleaned += n;
    }
    return n;
  }

  /**
   * Live data blocks and live node/table/directory blocks of segment s, and how many leaves
   * moving its data may dirty: at most one per holder of each data block (its reference count),
   * since moving patches leaves in place and copies nothing above them.
   */
  seg_census(s: number): { data: number; leaves: number; meta: number } {
    const log = this.vol.log;
    const start = log.seg_start(s);
    let data = 0, leaves = 0, meta = 0;
    for (let a = start; a < start + log.g.segBlocks; a++) {
      const r = log.refs(a);
      if (r === 0) continue;
      if (log.summary(a).kind === BlockKind.DATA) { data++; leaves += r; }
      else meta++;
    }
    return { data, leaves, meta };
  }

  /** Moves every live block out of segment s. */
  seg_move(s: number): void {
    const v = this.vol;
    v.cleaned_note(1, 0);
    const log = v.log;
    const start = log.seg_start(s);
    const data: { addr: number; ino: number; idx: number; birth: number }[] = [];
    for (let a = start; a < start + log.g.segBlocks; a++) {
      if (log.refs(a) === 0) continue;
      const sm = log.summary(a);
      switch (sm.kind) {
        case BlockKind.DATA:
          data.push({ addr: a, ino: sm.owner, idx: sm.offset, birth: sm.birth });
          break;
        case BlockKind.NODE: {
          const nid = nid_of(sm.owner);
          assert(v.nat.addr(nid) === a, () => `block ${a}: summary says node ${nid}, which the NAT places at ${v.nat.addr(nid)}`);
          v.nodes.relocate(nid);
          this.stats.nodesMoved++;
          break;
        }
        case BlockKind.TABLE:
          v.tabs.table_relocate(sm.sub, sm.owner, a);
          this.stats.metaMoved++;
          break;
        case BlockKind.JOURNAL:
          // the checkpoint that ends this round writes a new journal and frees this one
          break;
        case BlockKind.DIR:
          v.tabs.dir_relocate(sm.owner, a);
          this.stats.metaMoved++;
          break;
        default:
          assert(false, `block ${a} in segment ${s} is live but its summary says kind ${sm.kind}`);
      }
      this.stats.blocksMoved++;
      if (sm.kind !== BlockKind.JOURNAL) v.cleaned_note(0, 1);
    }
    if (data.length) this.data_move(data);
  }

  /** Copies live data blocks to the cold data log and points their map records at the copies. */
  private data_move(items: { addr: number; ino: number; idx: number; birth: number }[]): void {
    const v = this.vol;
    const bufs = items.map((it) => v.dev.read(it.addr));
    // wear levelling puts cold data on worn segments; the cleaner's own moves do not
    const placed = v.data_write(Head.COLD_DATA, bufs, tag_of(v.log.coldOnWorn ? Cause.WEAR_LEVEL : Cause.CLEANER_DATA));
    // group by map record so each record is rewritten once
    const byChunk = new Map<string, { ino: number; chunk: number; moves: { slot: number; from: number; to: number; birth: number }[] }>();
    items.forEach((it, i) => {
      const chunk = Math.floor(it.idx / MAP_SLOTS);
      const id = `${it.ino}:${chunk}`;
      let g = byChunk.get(id);
      if (!g) { g = { ino: it.ino, chunk, moves: [] }; byChunk.set(id, g); }
      g.moves.push({ slot: it.idx % MAP_SLOTS, from: it.addr, to: placed[i]!.addr, birth: it.birth });
    });
    // every leaf of every tree mapping a moved block is pointed at the copy, in place: found by
    // the block's summary (inode and offset), and for a shared block (a clone) by a walk of the
    // trees for the slots the summary does not name
    const done: { ino: number; idx: number; from: number; to: number; birth: number; sub: number; n: number }[] = [];
    const rest = new Map<number, number>();
    for (const g of byChunk.values()) {
      const patched = v.data_relocate(g.ino, g.chunk, g.moves);
      g.moves.forEach((mv, j) => {
        const sub = v.log.summary(mv.from).sub;
        done.push({ ino: g.ino, idx: g.chunk * MAP_SLOTS + mv.slot, from: mv.from, to: mv.to, birth: mv.birth, sub, n: patched[j]! });
        if (sub === SUB_SHARED && patched[j]! < v.log.refs(mv.from)) rest.set(mv.from, mv.to);
      });
      this.stats.dataMoved += g.moves.length;
    }
    const more = rest.size > 0 ? v.data_relocate_shared(rest) : new Map<number, number>();
    for (const d of done) {
      const n = d.n + (more.get(d.from) ?? 0);
      assert(n > 0 && n === v.log.refs(d.from), () => `inode ${d.ino} block ${d.idx} at ${d.from}: ${v.log.refs(d.from)} holders, ${n} leaf slots found mapping it`);
      v.log.summary_set(d.to, { kind: BlockKind.DATA, sub: d.sub, owner: d.ino, offset: d.idx, birth: d.birth });
      for (let i = 0; i < n; i++) {
        v.log.ref_inc(d.to);
        v.log.ref_dec(d.from);
      }
    }
  }
}
