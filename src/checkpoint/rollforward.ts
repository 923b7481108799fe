// Roll-forward: after mounting a checkpoint, the redo chain of its epoch is applied group by
// group, in memory; then recovery writes out what the groups' patches left (a mount that may
// write), or keeps those pages in memory (a read-only one).
//
// Invariants:
// - a group is applied only whole, and only if every data block its MAP records newly name
//   holds the CRC32C they record (its fsync's flush covered them: otherwise the fsync never
//   returned and the group is dropped);
// - the chain ends at the first block that is not the next block of this epoch: a block of an
//   earlier epoch or another kind at the address the previous block named is the normal end;
// - records are applied with Volume.put/del, so recovery repeats the original accounting of
//   reference counts exactly;
// - a patch logged under an older data_gen of its inode (the file shrank since) is dropped.

import { BLOCK_SIZE } from '../device/device.js';
import { Cause } from '../device/cause.js';
import { CLUSTER_BLOCKS } from '../format/cluster.js';
import { addr_in_main } from '../format/geometry.js';
import { inode_decode, inode_encode, key, key_str, map_decode, map_encode, map_new, MAP_SLOTS, RecKind } from '../format/records.js';
import type { Key, MapChunk } from '../format/records.js';
import { REDO_FLAG_GROUP_END, REDO_MAGIC, REDO_PATCH, REDO_PUT, redo_decode } from '../format/redo.js';
import type { RedoRecord } from '../format/redo.js';
import { block_magic } from '../format/block.js';
import { Head } from '../log/segments.js';
import { crc32c } from '../util/crc32c.js';
import { FsError } from '../util/errors.js';
import { block_read, cluster_compressed, cluster_raw, cluster_start } from './cluster_read.js';
import type { Volume } from './volume.js';

/** What roll-forward read (in memory), for recovery to write out. */
export interface Replayed {
  pages: Map<number, Map<number, Buffer>>;
  chainSegs: Set<number>;
}

type Overlay = Map<number, Map<number, { gen: number; page: Buffer }>>;

/** A map record changed: patched pages of the slots it changed are superseded. */
function overlay_invalidate(overlay: Overlay, k: Key, before: Buffer | undefined, after: Buffer | undefined): void {
  const pages = overlay.get(k.ino);
  if (!pages) return;
  const o = before ? map_decode(before) : null;
  const n = after ? map_decode(after) : null;
  for (let s = 0; s < MAP_SLOTS; s++) {
    if ((o ? o.addr[s]! : 0) === (n ? n.addr[s]! : 0)) continue;
    // a compressed cluster is written whole: every block of it was rewritten
    if (cluster_compressed(o, s) || cluster_compressed(n, s)) {
      const cs = cluster_start(s);
      for (let j = 0; j < CLUSTER_BLOCKS; j++) pages.delete(k.off * MAP_SLOTS + cs + j);
    } else pages.delete(k.off * MAP_SLOTS + s);
  }
}

/** Rolls forward the redo chain of the mounted checkpoint's epoch, in memory. */
export function replay(v: Volume): Replayed {
  const chainSegs = new Set<number>();
  const pages = redo_replay(v, chainSegs);
  v.counts_load();
  return { pages, chainSegs };
}

/** What a norecovery mount takes instead of replay(): nothing rolled forward, the counters of the checkpoint. */
export function not_replayed(v: Volume): Replayed {
  v.counts_load();
  v.mount.redoStop = 'not rolled forward (norecovery)';
  return { pages: new Map(), chainSegs: new Set() };
}

/**
 * Makes what roll-forward rebuilt part of the tree, for the checkpoint that starts the new epoch
 * (mount writes it). If anything was rolled forward (or the last unmount was not clean) the log
 * heads are abandoned first: blocks past them may hold rolled-forward data.
 */
export function recover(v: Volume, { pages, chainSegs }: Replayed): void {
  if (v.readOnly) {
    for (const [ino, m] of pages) v.replayPages.set(ino, m);
    return;
  }
  if (!v.mount.clean || v.mount.groups > 0) {
    v.log.heads_abandon();
    for (const s of chainSegs) v.log.seg_pin(s);
  }
  pages_write(v, pages);
}

/**
 * Why the block at `addr` ends the chain when it does not decode as this epoch's next redo
 * block: null when that is the normal end (nothing, or something else, was written there since
 * the checkpoint), a reason when a redo block of this epoch is there but damaged.
 */
function chain_end(b: Buffer, addr: number, e: Error, index: number): string | null {
  // only a block that says it is a redo block can be a torn or damaged one of this chain
  if (block_magic(b) !== REDO_MAGIC) return null;
  return `block ${index} at ${addr}: ${e.message}`;
}

/**
 * Applies this epoch's complete redo groups. Returns the pages their patches leave: each
 * patched block's content (its mapped block, or zeros, with the patches laid over), for inodes
 * that still exist, have not shrunk since (data_gen), and whose block was not rewritten since.
 */
function redo_replay(v: Volume, chainSegs: Set<number>): Map<number, Map<number, Buffer>> {
  const g = v.g;
  let addr = v.redo.start;
  let index = 0;
  let group: RedoRecord[] = [];
  const rep = v.mount;
  rep.redoStop = 'end of chain';
  const overlay: Overlay = new Map();
  for (let guard = 0; guard < g.segCount * g.segBlocks; guard++) {
    if (!addr_in_main(g, addr)) { rep.redoStop = `next address ${addr} outside the log`; break; }
    let rb;
    const b = v.dev.read(addr);
    try {
      rb = redo_decode(b, addr, v.fsid);
    } catch (e) {
      if (!(e instanceof FsError)) throw e;
      const bad = index === 0 ? null : chain_end(b, addr, e, index);
      rep.redoStop = bad ?? (index === 0 ? 'no redo block written since the checkpoint' : `end of chain after ${index} blocks`);
      break;
    }
    if (rb.epoch !== v.seq || rb.index !== index) {
      rep.redoStop = index === 0 ? 'no redo block written since the checkpoint' : `end of chain after ${index} blocks`;
      break;
    }
    chainSegs.add(v.log.seg_of(addr));
    group.push(...rb.records);
    index++;
    if (rb.flags & REDO_FLAG_GROUP_END) {
      const bad = redo_group_check(v, group);
      if (bad) { rep.redoStop = `fsync group ${rep.groups + 1} incomplete: ${bad}`; break; }
      // a read-only volume rolls forward in memory too (it never writes the result out)
      v.replay_apply(() => {
        for (const r of group) {
          if (r.op === REDO_PATCH) continue;
          // a block written whole in this group supersedes what earlier patches left of it
          if (r.key.kind === RecKind.MAP) overlay_invalidate(overlay, r.key, v.get(r.key), r.op === REDO_PUT ? r.value : undefined);
          if (r.op === REDO_PUT) v.put(r.key, r.value);
          else v.del(r.key);
        }
      });
      for (const r of group) if (r.op === REDO_PATCH) patch_apply(v, overlay, r);
      rep.groups++;
      rep.records += group.length;
      group = [];
    }
    addr = rb.next;
  }
  if (group.length && !/incomplete/.test(rep.redoStop)) rep.redoStop += ` (an unfinished fsync group of ${group.length} records was dropped)`;
  if (rep.groups) v.msg(`rolled forward ${rep.groups} fsync groups (${rep.records} records); stopped: ${rep.redoStop}`);
  v.redo.clear();
  // what survives: the inode exists, has not shrunk since the patch, and still reaches the block
  const out = new Map<number, Map<number, Buffer>>();
  for (const [ino, pages] of overlay) {
    const rec = v.get(key(ino, RecKind.INODE, 0));
    if (!rec) continue;
    const inode = v.decode(key(ino, RecKind.INODE, 0), rec, inode_decode);
    for (const [idx, { gen, page }] of pages) {
      if (gen !== inode.data_gen || idx * BLOCK_SIZE >= inode.size) continue;
      const end = inode.size - idx * BLOCK_SIZE;
      if (end < BLOCK_SIZE) page.fill(0, end);
      let m = out.get(ino);
      if (!m) { m = new Map(); out.set(ino, m); }
      m.set(idx, page);
    }
  }
  return out;
}

/** Lays one patch over its block's content in the overlay. */
function patch_apply(v: Volume, overlay: Overlay, r: RedoRecord): void {
  const ino = r.key.ino;
  const idx = Math.floor(r.key.off / BLOCK_SIZE);
  const at = r.key.off % BLOCK_SIZE;
  const gen = r.value.readUInt32LE(0);
  let pages = overlay.get(ino);
  if (!pages) { pages = new Map(); overlay.set(ino, pages); }
  let e = pages.get(idx);
  if (!e || e.gen !== gen) {
    const mk = key(ino, RecKind.MAP, Math.floor(idx / MAP_SLOTS));
    const chunk = v.get(mk);
    const m = chunk ? v.decode(mk, chunk, map_decode) : null;
    const page = block_read(v, m, ino, idx);
    e = { gen, page };
    pages.set(idx, e);
  }
  r.value.copy(e.page, at, 4);
}

/** Writes the pages roll-forward rebuilt as blocks, as a flush would (after the heads moved on). */
function pages_write(v: Volume, pages: Map<number, Map<number, Buffer>>): void {
  for (const [ino, m] of pages) {
    const ik = key(ino, RecKind.INODE, 0);
    const inode = v.decode(ik, v.get(ik)!, inode_decode);
    const chunk_get = (c: number): MapChunk | null => {
      const old = v.get(key(ino, RecKind.MAP, c));
      return old ? v.decode(key(ino, RecKind.MAP, c), old, map_decode) : null;
    };
    // a patched block of a compressed cluster: the whole cluster is written out plain (the
    // rest of its blocks from the cluster), which keeps recovery simple and rare work
    for (const idx of [...m.keys()]) {
      const mc = chunk_get(Math.floor(idx / MAP_SLOTS));
      if (!cluster_compressed(mc, idx)) continue;
      const raw = cluster_raw(v, mc!, ino, idx);
      const cs = cluster_start(idx);
      for (let j = 0; j * BLOCK_SIZE < raw.length; j++) if (!m.has(cs + j)) m.set(cs + j, Buffer.from(raw.subarray(j * BLOCK_SIZE, (j + 1) * BLOCK_SIZE)));
    }
    const idxs = [...m.keys()].sort((a, b) => a - b);
    const placed = v.data_write(Head.WARM_DATA, idxs.map((i) => m.get(i)!), { cause: Cause.RECOVERY, ino });
    // one map record per chunk, stored once all its slots changed (a cluster's shape holds
    // only then)
    let chunk = -1;
    let mc: MapChunk | null = null;
    const put = (): void => {
      if (mc) v.put(key(ino, RecKind.MAP, chunk), map_encode(mc));
    };
    idxs.forEach((idx, j) => {
      const c = Math.floor(idx / MAP_SLOTS);
      if (c !== chunk) {
        put();
        chunk = c;
        mc = chunk_get(c) ?? map_new();
      }
      const s = idx % MAP_SLOTS;
      if (mc!.addr[s] === 0) inode.blocks++;
      mc!.addr[s] = placed[j]!.addr;
      mc!.csum[s] = placed[j]!.csum;
      mc!.comp[s] = 0;
    });
    put();
    v.put(ik, inode_encode(inode));
  }
}

/** Every data block a group's MAP records newly point at must hold the data they name. */
function redo_group_check(v: Volume, group: RedoRecord[]): string | null {
  for (const r of group) {
    if (r.op !== REDO_PUT || r.key.kind !== RecKind.MAP) continue;
    let m;
    try {
      m = map_decode(r.value);
    } catch (e) {
      return `bad map record ${key_str(r.key)}: ${(e as Error).message}`;
    }
    const old = v.get(r.key);
    const om = old ? v.decode(r.key, old, map_decode) : null;
    for (let i = 0; i < MAP_SLOTS; i++) {
      const a = m.addr[i]!;
      if (a === 0 || (om && om.addr[i] === a)) continue;
      if (!addr_in_main(v.g, a)) return `data address ${a} outside the log`;
      if (crc32c(v.dev.read(a)) !== m.csum[i]) return `data block ${a} of inode ${r.key.ino} does not hold what the record names`;
    }
  }
  return null;
}
