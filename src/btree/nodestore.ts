// The node cache: B+tree nodes by node id, loaded through the NAT, kept in memory while dirty and
// written to the log only at checkpoints (fsync writes logical redo records instead, so a node
// changed many times between checkpoints is written once).
//
// Invariants: a dirty node is never evicted (dirty nodes live in their own map, so eviction never
// walks past them); a node read from disk must name the node id the NAT gave for it; clean nodes
// beyond `cacheMax` (dirty ones counted), or beyond `cacheBytes` of memory, are evicted least
// recently used first: every hit moves a clean node to the young end of its map, O(1).
// `bytes` is the sum of what the cached nodes take, each counted as it entered its map or
// changed form (a clean node is not changed in place: it is dirtied first, and counted again
// when written).
//
// Clean leaves are kept decoded (a key object and a value view per record, what the tree works
// on) only while among the HOT_LEAVES most recently used; older ones keep their 4 KiB block
// alone and are decoded again when next used, as btrfs keeps tree blocks as pages and reads
// items from them in place. Decoded records take three times their block on V8's heap, and
// the heap grows by half of what is live before it collects: a cache of decoded leaves made
// most of the server's heap while files were created (docs/SCALE.md). A hot leaf is decoded
// once per stay among the hot ones; a leaf is never compacted while among the KEEP_RECENT most
// recently used (a tree operation holds the bodies of its path), as it is never evicted then.

import { Cause, tag_of } from '../device/cause.js';
import { device_writev, type BlockDevice } from '../device/device.js';
import { is_leaf, node_body_decode, node_decode, node_encode } from '../format/node.js';
import type { LeafBody, NodeBody } from '../format/node.js';
import { BlockKind, Head } from '../log/segments.js';
import type { SegLog } from '../log/segments.js';
import type { Nat } from '../nat/nat.js';
import { assert } from '../util/assert.js';
import { CorruptError } from '../util/errors.js';
import { LruMap } from '../util/lru.js';
import type { NodeId } from '../util/ids.js';
import type { NodeStore } from './store.js';

interface Entry {
  /**
   * the decoded node (null: a clean leaf kept as its block alone); replaced when written
   * (flush_all) or compacted: never hold it across a checkpoint
   */
  body: NodeBody | null;
  /** the node's block as read or last written (clean nodes; null while dirty) */
  block: Buffer | null;
  dirty: boolean;
  /** dirtied only to be moved by the cleaner: written to the cold node log */
  moved: boolean;
  /** what node_mem counted when it entered the cache or was last written */
  mem: number;
}

/**
 * Memory of one decoded record in the node cache: its key object, the Buffer object viewing its
 * value and their array slots. Measured at 195 bytes on the leaves of 20,000 files of 4 KiB
 * (61,425 records in 1,384 nodes, heap after gc); inner entries (a key and a child id) take
 * less, and are counted the same.
 */
export const NODE_REC_MEM_BYTES = 200;

/**
 * What a node takes in the cache: the 4 KiB block its values view (a node read or written; a
 * node changed since holds values of its own, about as many bytes) and its records. A leaf of 44
 * small records takes 12.7 KiB, three times its block.
 */
export function node_mem(body: NodeBody): number {
  return 4096 + body.keys.length * NODE_REC_MEM_BYTES;
}

/**
 * What a clean leaf kept as its block alone takes: the block, its Buffer object, the cache's
 * entry and its place in the LRU list (measured: test/engine/memory.test.ts).
 */
export const NODE_BLOCK_MEM_BYTES = 4096 + 256;

/** clean nodes never evicted, the most recently used: more than any tree operation's path holds */
export const KEEP_RECENT = 256;
/** clean leaves kept decoded, the most recently used (at least KEEP_RECENT) */
export const HOT_LEAVES = 1024;

export interface NodeStoreHooks {
  leaf_shared(body: LeafBody): void;
  leaf_dropped(body: LeafBody): void;
}

export class NodeCache implements NodeStore {
  readonly fanout: number;
  private readonly dev: BlockDevice;
  private readonly nat: Nat;
  private readonly log: SegLog;
  private readonly fsid: number;
  private readonly hooks: NodeStoreHooks;
  /** clean nodes, least recently used first */
  private readonly clean = new LruMap<NodeId, Entry>();
  /** the clean leaves kept decoded, least recently used first (a subset of `clean`) */
  private readonly hot = new LruMap<NodeId, Entry>();
  /** dirty nodes (pinned until a checkpoint writes them) */
  private readonly dirtyMap = new Map<NodeId, Entry>();
  cacheMax: number;
  /** memory the cache may take (node_mem summed; dirty nodes count, and may pass it until the next checkpoint) */
  cacheBytes: number;
  /** node_mem summed over clean and dirty nodes */
  private cleanBytes = 0;
  private dirtyBytes_ = 0;
  /** counters for info and benchmarks */
  loads = 0;
  writes = 0;
  hits = 0;
  evictions = 0;
  /** clean leaves decoded again from their block, and compacted to it */
  decodes = 0;
  compactions = 0;

  constructor(dev: BlockDevice, nat: Nat, log: SegLog, fsid: number, fanout: number, hooks: NodeStoreHooks, cacheMax = 8192, cacheBytes = Infinity) {
    this.dev = dev;
    this.nat = nat;
    this.log = log;
    this.fsid = fsid;
    this.fanout = fanout;
    this.hooks = hooks;
    this.cacheMax = cacheMax;
    this.cacheBytes = cacheBytes;
  }

  /** Memory the cached nodes take (node_mem summed), clean and dirty. */
  get bytes(): number {
    return this.cleanBytes + this.dirtyBytes_;
  }

  /** Memory the dirty nodes take (node_mem when each was dirtied). */
  get dirtyBytes(): number {
    return this.dirtyBytes_;
  }

  private clean_add(nid: NodeId, e: Entry): void {
    this.clean.set(nid, e);
    this.cleanBytes += e.mem;
  }

  private clean_remove(nid: NodeId, e: Entry): void {
    this.clean.delete(nid);
    this.hot.delete(nid);
    this.cleanBytes -= e.mem;
  }

  /** A clean entry's form changed: counts what it takes now. */
  private clean_recount(e: Entry, mem: number): void {
    this.cleanBytes += mem - e.mem;
    e.mem = mem;
  }

  /**
   * The body of a clean entry just used: a leaf kept as its block is decoded again, and a leaf
   * goes to the young end of the hot ones, the oldest beyond HOT_LEAVES compacted.
   */
  private clean_body(nid: NodeId, e: Entry): NodeBody {
    let body = e.body;
    if (body === null) {
      body = node_body_decode(e.block!, this.nat.addr(nid));
      e.body = body;
      this.decodes++;
      this.clean_recount(e, node_mem(body));
      this.hot_touch(nid, e);
      // decoded, it takes three times its block: older nodes make room, as for a node read
      this.evict();
    } else if (is_leaf(body)) {
      this.hot_touch(nid, e);
    }
    return body;
  }

  /** A decoded clean leaf was used: to the young end of the hot ones, the oldest beyond HOT_LEAVES compacted. */
  private hot_touch(nid: NodeId, e: Entry): void {
    this.hot.set(nid, e);
    while (this.hot.size > HOT_LEAVES) {
      const o = this.hot.oldest_entry()!;
      this.hot.delete(o.key);
      o.value.body = null;
      this.compactions++;
      this.clean_recount(o.value, NODE_BLOCK_MEM_BYTES);
    }
  }

  private dirty_add(nid: NodeId, e: Entry): void {
    this.dirtyMap.set(nid, e);
    this.dirtyBytes_ += e.mem;
  }

  private dirty_remove(nid: NodeId, e: Entry): void {
    this.dirtyMap.delete(nid);
    this.dirtyBytes_ -= e.mem;
  }

  get dirtyCount(): number {
    return this.dirtyMap.size;
  }

  /** clean leaves kept decoded */
  get hotCount(): number {
    return this.hot.size;
  }

  get cachedCount(): number {
    return this.clean.size + this.dirtyMap.size;
  }

  get(nid: NodeId): NodeBody {
    const d = this.dirtyMap.get(nid);
    if (d) { this.hits++; return d.body!; }
    // to the young end: a hit keeps the node longest
    const e = this.clean.get(nid);
    if (e) {
      this.hits++;
      return this.clean_body(nid, e);
    }
    const addr = this.nat.addr(nid);
    if (this.nat.refs(nid) === 0 || addr === 0) {
      throw new CorruptError('B+tree node', addr, `node id ${nid} is referenced but the NAT has no block for it (refs ${this.nat.refs(nid)})`);
    }
    const block = this.dev.read(addr);
    const { header, body } = node_decode(block, addr, this.fsid);
    if (header.nid !== nid) throw new CorruptError('B+tree node', addr, `holds node ${header.nid}, the NAT says node ${nid}`);
    this.loads++;
    const ne: Entry = { body, block, dirty: false, moved: false, mem: node_mem(body) };
    this.clean_add(nid, ne);
    if (is_leaf(body)) this.hot_touch(nid, ne);
    this.evict();
    return body;
  }

  /** A new memory share (the resident bound squeezing the caches, fuse/resident.ts): clean nodes beyond it go now. */
  bytes_set(bytes: number): void {
    this.cacheBytes = bytes;
    this.evict();
  }

  /**
   * Evicts least recently used clean nodes while the cache holds more than cacheMax nodes or
   * cacheBytes of memory, but never
   * the KEEP_RECENT most recently used: a tree operation holds the bodies of the nodes on its
   * path between reading and dirtying them, and dirty nodes alone may fill the cache (a flush
   * of many files changes many leaves before the checkpoint that writes them).
   */
  private evict(): void {
    while ((this.clean.size + this.dirtyMap.size > this.cacheMax || this.bytes > this.cacheBytes) && this.clean.size > KEEP_RECENT) {
      const e = this.clean.oldest_entry()!;
      this.clean_remove(e.key, e.value);
      this.evictions++;
    }
  }

  create(body: NodeBody): NodeId {
    const nid = this.nat.alloc(this.log.birth);
    this.dirty_add(nid, { body, block: null, dirty: true, moved: false, mem: node_mem(body) });
    // a new node takes memory as a loaded one does: clean ones make room
    this.evict();
    return nid;
  }

  dirty(nid: NodeId): void {
    let e = this.dirtyMap.get(nid);
    if (e === undefined) {
      e = this.clean.peek(nid);
      assert(e !== undefined && e.body !== null, () => `dirtying node ${nid} that is not in the cache, or not decoded`);
      this.clean_remove(nid, e);
      e.block = null;
      this.dirty_add(nid, e);
    }
    e.dirty = true;
    e.moved = false;
  }

  /** The cleaner found node nid in a victim segment: rewrite it at the next checkpoint. */
  relocate(nid: NodeId): void {
    this.get(nid);
    if (this.dirtyMap.has(nid)) return;
    const e = this.clean.peek(nid)!;
    this.clean_remove(nid, e);
    e.block = null;
    e.dirty = true;
    e.moved = true;
    this.dirty_add(nid, e);
  }

  refs(nid: NodeId): number {
    return this.nat.refs(nid);
  }

  ref_inc(nid: NodeId): void {
    this.nat.refs_set(nid, this.nat.refs(nid) + 1);
  }

  ref_dec(nid: NodeId): void {
    const n = this.nat.refs(nid);
    assert(n > 0, () => `node ${nid}: reference count already 0`);
    this.nat.refs_set(nid, n - 1);
    if (n === 1) {
      const addr = this.nat.free(nid);
      if (addr !== 0) this.log.ref_dec(addr);
      const c = this.clean.peek(nid);
      if (c) this.clean_remove(nid, c);
      const d = this.dirtyMap.get(nid);
      if (d) this.dirty_remove(nid, d);
    }
  }

  leaf_shared(body: LeafBody): void {
    this.hooks.leaf_shared(body);
  }

  leaf_dropped(body: LeafBody): void {
    this.hooks.leaf_dropped(body);
  }

  /**
   * Writes every dirty node to the log (checkpoint time): nodes changed since the last checkpoint
   * to the meta log (with the table blocks: all of them are rewritten at checkpoints, so they
   * die together), nodes dirtied only to be moved by the cleaner to the cold node log. A
   * checkpoint writes through two logs only, so it opens at most two segments beyond the blocks
   * it writes. Each run of consecutive addresses goes to the device as one request.
   */
  flush_all(): number {
    if (this.dirtyMap.size === 0) return 0;
    const groups: NodeId[][] = [[], []];
    for (const [nid, e] of this.dirtyMap) groups[e.moved ? 1 : 0]!.push(nid);
    const heads = [Head.META, Head.COLD_NODE];
    let n = 0;
    groups.forEach((nids, gi) => {
      if (nids.length === 0) return;
      nids.sort((a, b) => a - b);
      let k = 0;
      for (const run of this.log.alloc_runs(heads[gi]!, nids.length)) {
        const bufs: Buffer[] = [];
        for (let j = 0; j < run.count; j++, k++) {
          const nid = nids[k]!;
          const e = this.dirtyMap.get(nid)!;
          const addr = run.addr + j;
          const birth = this.log.birth;
          const body = e.body!;
          const enc = node_encode(body, { fsid: this.fsid, nid, addr, birth });
          bufs.push(enc);
          // kept as a node read back from the device would be: a leaf as its block alone,
          // decoded again when next used (the keys and values each change allocated on their
          // own took three to four times the memory: 15 KiB a leaf of small records against
          // 4 KiB), an inner node decoded with its children's ids
          e.block = enc;
          e.body = is_leaf(body) ? null : node_body_decode(enc, addr);
          e.mem = e.body === null ? NODE_BLOCK_MEM_BYTES : node_mem(e.body);
          const old = this.nat.addr(nid);
          this.nat.place(nid, addr, birth);
          this.log.summary_set(addr, { kind: BlockKind.NODE, sub: body.level, owner: nid, offset: 0, birth });
          this.log.ref_inc(addr);
          if (old !== 0) this.log.ref_dec(old);
          e.dirty = false;
          e.moved = false;
        }
        // as one request without joining the blocks: they stay in the cache, a copy would be garbage
        device_writev(this.dev, run.addr, bufs, tag_of(gi === 0 ? Cause.NODE : Cause.CLEANER_NODE));
        n += run.count;
      }
    });
    // written: clean again, at the young end
    for (const [nid, e] of this.dirtyMap) this.clean_add(nid, e);
    this.dirtyMap.clear();
    this.dirtyBytes_ = 0;
    this.writes += n;
    this.evict();
    return n;
  }

  /** Forgets every clean node (after roll-forward, or to test reloading from disk). */
  drop_clean(): void {
    this.clean.clear();
    this.hot.clear();
    this.cleanBytes = 0;
  }
}
