// Inodes in memory.
//
// The tree holds an inode as its INODE record (`rec`). Writes are buffered (file.ts), so while a
// file has dirty pages the size and times users see run ahead of the record: `size`, `mtime`
// and `ctime` here. They reach the record when the pages are written to the log, together with
// the map records that name the new blocks — so the tree (and whatever fsync or a checkpoint
// makes durable) never claims data the log does not hold.
//
// Invariants: rec is exactly what the tree holds; size >= 0; pages only below ceil(size / 4096);
// an inode with dirty pages or open handles is never evicted.

import type { Timespec } from '../checkpoint/clock.js';
import type { Volume } from '../checkpoint/volume.js';
import { inode_decode, inode_encode, INODE_FLAG_INLINE, key, RecKind } from '../format/records.js';
import type { Inode } from '../format/records.js';
import { FsError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import { LruMap } from '../util/lru.js';
import { is_dir, is_reg } from './types.js';
import type { Attr } from './types.js';

export interface InodeMem {
  ino: number;
  rec: Inode;
  /** the size users see (the record's size plus buffered writes) */
  size: number;
  /** times of buffered writes not yet in the record */
  mtime: Timespec | null;
  ctime: Timespec | null;
  /** dirty data pages by file block index */
  pages: Map<number, Buffer>;
  /** dirty pages whose block index has no block mapped yet (they will need new space) */
  newPages: number;
  /**
   * dirty pages over a block that a snapshot or clone may hold: writing them takes a block and
   * frees none, so they need new space too (but add nothing to st_blocks)
   */
  heldPages: number;
  /** per dirty page, the byte range [lo, hi) changed since its content was last made durable */
  ranges: Map<number, [number, number]>;
  /**
   * dirty pages that fsync made durable as patches in the redo log: they stay here (and dirty)
   * until a flush writes them, at the latest before the next checkpoint
   */
  logged: Set<number>;
  /** open handles */
  open: number;
  /** where the last write ended, and the bytes written one after the other up to there: a file
   *  streamed sequentially is written back early (FileSystem.writeback) */
  streamEnd: number;
  streamBytes: number;
  /** known to carry no security.capability attribute (privs_kill looked; any setxattr forgets it) */
  noCaps: boolean;
  /** made by tmpfile() without O_EXCL and not linked yet: link() may give it its first name */
  linkable: boolean;
  /** FileSystem's data generation at the last change of this file's data (0: none since loaded) */
  dataGen?: number;
}

/**
 * The page maps of an inode without dirty pages: one set shared by every such inode and never
 * changed (three empty tables of its own took about 500 bytes an inode, half of a cached
 * inode, and most cached inodes have no dirty pages). pages_own gives an inode tables of its
 * own before anything is put in them; page_forget gives them back when its last page leaves.
 */
class SharedEmptyMap<K, V> extends Map<K, V> {
  override set(): this {
    throw new Error('a page put in the shared empty page map (pages_own first)');
  }
}
class SharedEmptySet<T> extends Set<T> {
  override add(): this {
    throw new Error('a page put in the shared empty page set (pages_own first)');
  }
}
const NO_PAGES: Map<number, Buffer> = new SharedEmptyMap();
const NO_RANGES: Map<number, [number, number]> = new SharedEmptyMap();
const NO_LOGGED: Set<number> = new SharedEmptySet();

/**
 * What an inode with dirty pages takes beside the pages' 4 KiB each: its page maps, a buffer's
 * objects per page, its times; and it is pinned in the inode cache beyond its share. The dirty
 * bound counts it (`DirtyCount`), so that many small files dirty at once stay within the bound
 * as a few large ones do (10,000 files of one page measured 1,089–1,091 bytes each on V8's
 * heap beside the page, test/engine/memory.test.ts).
 */
export const DIRTY_INODE_MEM_BYTES = 1536;

/** Inodes holding page maps of their own, over the file layer (DataCtx.dirty). */
export interface DirtyCount {
  inodes: number;
}

/** Gives `m` page maps of its own, before a page, a range or a logged page is put in them. */
export function pages_own(m: InodeMem, count: DirtyCount): void {
  if (m.pages !== NO_PAGES) return;
  m.pages = new Map();
  m.ranges = new Map();
  m.logged = new Set();
  count.inodes++;
}

/** Gives back `m`'s page maps once they are all empty (its last dirty page left). */
export function pages_release(m: InodeMem, count: DirtyCount): void {
  if (m.pages === NO_PAGES || m.pages.size !== 0 || m.ranges.size !== 0 || m.logged.size !== 0) return;
  m.pages = NO_PAGES;
  m.ranges = NO_RANGES;
  m.logged = NO_LOGGED;
  count.inodes--;
}

function inode_mem(ino: number, rec: Inode): InodeMem {
  return {
    ino, rec, size: rec.size, mtime: null, ctime: null, pages: NO_PAGES, newPages: 0, heldPages: 0, ranges: NO_RANGES,
    logged: NO_LOGGED, open: 0, streamEnd: -1, streamBytes: 0, noCaps: false, linkable: false,
  };
}

export function inode_key(ino: number) {
  return key(ino, RecKind.INODE, 0);
}

export class InodeCache {
  private readonly vol: Volume;
  /** least recently used first */
  private readonly map = new LruMap<number, InodeMem>();
  max: number;
  /**
   * the size at which the next eviction pass runs: `max`, or more after a pass that found too
   * many pinned inodes to get under it (each pass walks the whole cache, so passes are spaced
   * by a tenth of the cache's size: a cache full of pinned inodes costs a create O(1) steps
   * amortized, not a walk of the cache each)
   */
  private evictAt: number;

  constructor(vol: Volume, max = 4096) {
    this.vol = vol;
    this.max = max;
    this.evictAt = max;
  }

  /** counters for info and benchmarks */
  hits = 0;
  loads = 0;
  evictions = 0;
  /** entries eviction passes looked at */
  evictSteps = 0;

  /** The inode, from the cache or the tree; ENOENT if it does not exist. */
  get(ino: number): InodeMem {
    // to the young end: least recently used inodes go first
    const m = this.map.get(ino);
    if (m) {
      this.hits++;
      return m;
    }
    const fresh = inode_mem(ino, this.record(ino));
    this.loads++;
    // room first: the inode handed out is never the one evicted
    if (this.map.size >= Math.max(this.max, this.evictAt)) this.evict();
    this.map.set(ino, fresh);
    return fresh;
  }

  /**
   * The attributes of `ino`, without caching it if it is not: a listing (readdirplus) asks for
   * every entry's, and loading each would push the inodes in use out of the cache, an eviction
   * step an entry. An inode that is not cached has nothing buffered: its record is all of it.
   */
  attr(ino: number): Attr {
    const m = this.map.get(ino);
    if (m) {
      this.hits++;
      return attr_of(m);
    }
    const r = this.record(ino);
    return attr_of({ ino, rec: r, size: r.size, newPages: 0, mtime: null, ctime: null });
  }

  /** The inode's record, read from the tree; ENOENT if it does not exist. */
  private record(ino: number): Inode {
    if (!Number.isInteger(ino) || ino < 1 || ino > 0xffffffff) throw new FsError('ENOENT', `no inode ${ino}`);
    const rec = this.vol.get(inode_key(ino));
    if (!rec) throw new FsError('ENOENT', `no inode ${ino}`);
    return this.vol.decode(inode_key(ino), rec, inode_decode);
  }

  /** Inodes cached. */
  get size(): number {
    return this.map.size;
  }

  /** The inode if it is cached (nothing is read). */
  cached(ino: number): InodeMem | undefined {
    return this.map.peek(ino);
  }

  /** Whether the inode exists (without loading it into the cache). */
  exists(ino: number): boolean {
    return this.map.has(ino) || this.vol.get(inode_key(ino)) !== undefined;
  }

  /** A new inode: stored in the tree and cached. */
  create(ino: number, rec: Inode): InodeMem {
    assert(!this.map.has(ino), () => `inode ${ino} created twice`);
    this.vol.put(inode_key(ino), inode_encode(rec));
    const m = inode_mem(ino, rec);
    // a create makes room as a load does: a workload that only creates files would otherwise
    // keep every inode it made (600,000 inodes, 750 MiB of heap, in one million creates)
    if (this.map.size >= Math.max(this.max, this.evictAt)) this.evict();
    this.map.set(ino, m);
    return m;
  }

  /** Stores m.rec in the tree. */
  store(m: InodeMem): void {
    this.vol.put(inode_key(m.ino), inode_encode(m.rec));
  }

  /** Forgets an inode that was deleted. */
  forget(ino: number): void {
    this.map.delete(ino);
  }

  /** Inodes with dirty pages. */
  dirty(): InodeMem[] {
    const out: InodeMem[] = [];
    for (const m of this.map.values()) if (m.pages.size > 0 || m.mtime !== null) out.push(m);
    return out;
  }

  all(): IterableIterator<InodeMem> {
    return this.map.values();
  }

  /**
   * Evicts least recently used inodes down to 90 % of `max`. An inode with dirty pages, open
   * or with a change time still to store is pinned: it moves to the young end, so the next
   * eviction does not walk past it again. At most one pass over the cache; when the pinned
   * inodes alone fill it (files written and not yet flushed: bounded by the dirty-page budget),
   * the next pass waits until the cache has grown by a tenth.
   */
  private evict(): void {
    this.map.walk(this.evict_one);
    this.evictAt = this.map.size <= this.evict_target() ? this.max : this.map.size + Math.max(1, Math.floor(this.map.size / 10));
  }

  /** The size an eviction pass stops at: 90 % of `max`. */
  private evict_target(): number {
    return Math.floor(this.max * 0.9);
  }

  /** One step of an eviction pass (a bound method: the pass allocates nothing). */
  private readonly evict_one = (ino: number, m: InodeMem): boolean => {
    if (this.map.size <= this.evict_target()) return false;
    this.evictSteps++;
    if (m.pages.size === 0 && m.open === 0 && m.mtime === null) {
      this.map.delete(ino);
      this.evictions++;
    } else {
      this.map.get(ino);
    }
    return true;
  };

  /** A new share (the resident bound squeezing the caches, fuse/resident.ts): unpinned inodes beyond it go now. */
  max_set(n: number): void {
    this.max = n;
    this.evictAt = n;
    this.trim();
  }

  /**
   * Evicts down to the cache's share now if it is over it: after a flush has unpinned the
   * inodes whose pages it wrote, rather than at the next pass.
   */
  trim(): void {
    if (this.map.size > this.max) this.evict();
  }

  /** Forgets every cached inode (the tree changed under them: a rollback). */
  clear(): void {
    this.map.clear();
  }

  /** Drops every cached inode without dirty state (tests: force reloading). */
  drop_clean(): void {
    for (const [ino, m] of this.map.from_oldest()) if (m.pages.size === 0 && m.open === 0 && m.mtime === null) this.map.delete(ino);
  }
}

export function attr_of(m: Pick<InodeMem, 'ino' | 'rec' | 'size' | 'newPages' | 'mtime' | 'ctime'>): Attr {
  const r = m.rec;
  let blocks: number;
  if (is_reg(r.mode) || (r.mode & 0o170000) === 0o120000) {
    blocks = r.flags & INODE_FLAG_INLINE ? Math.ceil(m.size / 512) : (r.blocks + m.newPages) * 8;
  } else if (is_dir(r.mode)) {
    blocks = 8;
  } else {
    blocks = 0;
  }
  return {
    ino: m.ino,
    mode: r.mode,
    nlink: r.nlink,
    uid: r.uid,
    gid: r.gid,
    rdev: r.rdev,
    size: is_dir(r.mode) ? 4096 : m.size,
    blocks,
    blksize: 4096,
    atime: { s: r.atime_s, ns: r.atime_ns },
    mtime: m.mtime ?? { s: r.mtime_s, ns: r.mtime_ns },
    ctime: m.ctime ?? { s: r.ctime_s, ns: r.ctime_ns },
    btime: { s: r.btime_s, ns: r.btime_ns },
    generation: r.generation,
  };
}

/**
 * A change of the inode itself (link, unlink, rename, chmod, xattrs...) at time `t`. A buffered
 * write may still hold an older change time for its flush to apply: it gives way, so that ctime
 * never goes back, neither now nor when the pages reach the log.
 */
export function ctime_touch(m: InodeMem, t: Timespec): void {
  times_set(m.rec, 'c', t);
  if (m.ctime !== null) m.ctime = t;
}

export function times_set(r: Inode, which: 'a' | 'm' | 'c', t: Timespec): void {
  if (which === 'a') { r.atime_s = t.s; r.atime_ns = t.ns; }
  else if (which === 'm') { r.mtime_s = t.s; r.mtime_ns = t.ns; }
  else { r.ctime_s = t.s; r.ctime_ns = t.ns; }
}
