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

import type { Volume } from '../checkpoint/volume.js';
import { key, map_decode, map_encode, MAP_SLOTS, RecKind } from '../format/records.js';
import { DIR_PER_BLOCK } from '../format/geometry.js';
import { BlockKind, Head, SegState } from '../log/segments.js';
import { assert } from '../util/assert.js';
import { FsError } from '../util/errors.js';
import { nid_of } from '../util/ids.js';

export interface CleanerStats {
  rounds: number;
  segmentsCleaned: number;
  blocksMoved: number;
  dataMoved: number;
  nodesMoved: number;
  metaMoved: number;
  checkpoints: number;
}

export class Cleaner {
  readonly vol: Volume;
  readonly stats: CleanerStats = { rounds: 0, segmentsCleaned: 0, blocksMoved: 0, dataMoved: 0, nodesMoved: 0, metaMoved: 0, checkpoints: 0 };

  constructor(vol: Volume) {
    this.vol = vol;
  }

  /** An upper bound on the blocks the next checkpoint will write. */
  ckpt_need(): number {
    const v = this.vol;
    const nodes = v.nodes.dirtyCount;
    let tableBlocks = 0;
    for (const t of v.tables) tableBlocks += t.dirty.size;
    const natBlocks = Math.min(nodes, v.g.tables[0]!.blocks);
    // the checkpoint's own allocations dirty summary, refcount and usage blocks as well
    const perBlockTables = 3 * (Math.ceil((nodes + tableBlocks + natBlocks) / 200) + 1);
    return nodes + natBlocks + tableBlocks + perBlockTables + v.g.dirBlocks + 2;
  }

  /** Segments that will be free after one or two checkpoints, without moving anything. */
  private pending_free(): number {
    const log = this.vol.log;
    let n = 0;
    for (let s = 0; s < log.g.segCount; s++) {
      const st = log.seg_state(s);
      if (st === SegState.INUSE && log.seg_valid(s) === 0 && !log.is_head_seg(s)) n++;
      else if (st === SegState.PREFREE && !log.seg_allocatable(s)) n++;
    }
    return n;
  }

  /**
   * Makes sure `blocks` more blocks can be written now, on top of what the next checkpoint needs:
   * writes checkpoints to release freed segments, cleans if that is not enough.
   */
  ensure(blocks: number): void {
    const v = this.vol;
    for (let attempt = 0; attempt < 64; attempt++) {
      if (v.log.blocks_free() >= blocks + this.ckpt_need()) return;
      if (this.pending_free() > 0) {
        this.checkpoint();
        if (v.log.blocks_free() >= blocks + this.ckpt_need()) return;
        if (this.pending_free() > 0) { this.checkpoint(); continue; }
      }
      if (this.round(blocks) === 0) break;
    }
    if (v.log.blocks_free() >= blocks + this.ckpt_need()) return;
    throw new FsError('ENOSPC', `no space left: ${blocks} blocks wanted, ${v.log.blocks_free()} free and nothing left to clean`);
  }

  private checkpoint(): void {
    this.vol.checkpoint(false);
    this.stats.checkpoints++;
  }

  /** Victims in greedy order: fewest valid blocks first, oldest on ties. */
  victims(): number[] {
    const log = this.vol.log;
    const out: number[] = [];
    for (let s = 0; s < log.g.segCount; s++) {
      if (log.seg_state(s) !== SegState.INUSE || log.is_head_seg(s)) continue;
      const valid = log.seg_valid(s);
      if (valid === 0 || valid >= log.g.segBlocks) continue;
      out.push(s);
    }
    out.sort((a, b) => log.seg_valid(a) - log.seg_valid(b) || log.seg(a).mtime - log.seg(b).mtime || a - b);
    return out;
  }

  /**
   * One cleaning round aiming to make `want` blocks writable. Returns the number of segments
   * emptied (0 when there was nothing worth cleaning or no room to move anything).
   */
  round(want: number): number {
    const v = this.vol;
    const log = v.log;
    const segBlocks = log.g.segBlocks;
    const cands = this.victims();
    if (cands.length === 0) return 0;
    this.stats.rounds++;
    let cleaned = 0;
    let gained = 0;
    for (const s of cands) {
      const valid = log.seg_valid(s);
      const room = log.blocks_free() - this.ckpt_need() - 2 * segBlocks / 32;
      if (valid > room) break;
      this.seg_move(s);
      cleaned++;
      gained += segBlocks - valid;
      if (gained >= want + segBlocks && cleaned >= 2) break;
    }
    if (cleaned === 0) return 0;
    this.checkpoint();
    this.checkpoint();
    this.stats.segmentsCleaned += cleaned;
    return cleaned;
  }

  /** Moves every live block out of segment s. */
  seg_move(s: number): void {
    const v = this.vol;
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
        case BlockKind.TABLE: {
          const t = v.tables[sm.sub];
          assert(t !== undefined && v.dir[t.geom.dirBase + sm.owner] === a, () => `block ${a}: summary says table ${sm.sub} block ${sm.owner}, the directory disagrees`);
          t.mark_block(sm.owner);
          this.stats.metaMoved++;
          break;
        }
        case BlockKind.DIR:
          assert(v.cpDir[sm.owner] === a && sm.owner < Math.ceil(v.dir.length / DIR_PER_BLOCK), () => `block ${a}: summary says directory block ${sm.owner}`);
          v.dir_relocate(sm.owner);
          this.stats.metaMoved++;
          break;
        default:
          assert(false, `block ${a} in segment ${s} is live but its summary says kind ${sm.kind}`);
      }
      this.stats.blocksMoved++;
    }
    if (data.length) this.data_move(data);
  }

  /** Copies live data blocks to the cold data log and points their map records at the copies. */
  private data_move(items: { addr: number; ino: number; idx: number; birth: number }[]): void {
    const v = this.vol;
    const bufs = items.map((it) => v.dev.read(it.addr));
    const placed = v.data_write(Head.COLD_DATA, bufs);
    // group by map record so each record is rewritten once
    const byChunk = new Map<string, { ino: number; chunk: number; moves: { slot: number; from: number; to: number; birth: number }[] }>();
    items.forEach((it, i) => {
      const chunk = Math.floor(it.idx / MAP_SLOTS);
      const id = `${it.ino}:${chunk}`;
      let g = byChunk.get(id);
      if (!g) { g = { ino: it.ino, chunk, moves: [] }; byChunk.set(id, g); }
      g.moves.push({ slot: it.idx % MAP_SLOTS, from: it.addr, to: placed[i]!.addr, birth: it.birth });
    });
    for (const g of byChunk.values()) {
      const k = key(g.ino, RecKind.MAP, g.chunk);
      const rec = v.get(k);
      assert(rec !== undefined, () => `inode ${g.ino} map chunk ${g.chunk}: gone while its blocks are live`);
      const m = map_decode(rec);
      for (const mv of g.moves) {
        assert(m.addr[mv.slot] === mv.from, () => `inode ${g.ino} block ${g.chunk * MAP_SLOTS + mv.slot}: map says ${m.addr[mv.slot]}, summary says ${mv.from}`);
        m.addr[mv.slot] = mv.to;
      }
      v.put(k, map_encode(m));
      for (const mv of g.moves) {
        const sm = v.log.summary(mv.to);
        v.log.summary_set(mv.to, { ...sm, birth: mv.birth });
      }
      this.stats.dataMoved += g.moves.length;
    }
  }
}
