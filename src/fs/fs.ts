// The file layer: POSIX semantics over a Volume, synchronous and usable without FUSE.
//
// Every public operation is atomic with respect to a crash: the device changes only at
// durability points (fsync's redo group, checkpoints) that run between operations, and an
// operation's tree changes all land in the same one.
//
// Invariants (fsck checks them on disk):
// - every directory entry names an existing inode; a directory's nlink is 2 + its subdirectories,
//   another inode's nlink the number of names it has;
// - a directory has exactly one name and its `parent` field names the directory holding it;
// - an inode without a name exists only while it is open, listed by an ORPHAN record, and is
//   freed when closed or at the next mount.

import type { BlockDevice } from '../device/device.js';
import { BLOCK_SIZE } from '../device/device.js';
import { Cause, tag_of, Trigger } from '../device/cause.js';
import { Volume } from '../checkpoint/volume.js';
import { INODE_MEM_BYTES, INODES_MIN, NODE_MEM_BYTES, TABLE_PAGES_MIN } from '../checkpoint/budget.js';
import { KEEP_RECENT } from '../btree/nodestore.js';
import type { MkfsOptions, VolumeOptions } from '../checkpoint/volume.js';
import { clock_wall, timespec_ms } from '../checkpoint/clock.js';
import type { Clock, Timespec } from '../checkpoint/clock.js';
import { Cleaner } from '../cleaner/cleaner.js';
import { HEAD_COUNT } from '../format/checkpoint.js';
import { INODE_FLAG_INLINE, inode_encode, key, KEY_MAX, map_encode, map_new, MAP_SLOTS, NAME_MAX, RecKind } from '../format/records.js';
import { Head } from '../log/segments.js';
import type { Inode } from '../format/records.js';
import type { Superblock } from '../format/superblock.js';
import { FEATURE_ATTRS, FEATURE_SHARED } from '../format/superblock.js';
import { attr_flags_get, attr_flags_set, attr_inherit, attr_xflags_get, attr_xflags_set, fixed, immutable, noatime, refuse_fixed, refuse_immutable, refuse_open, sync_wanted } from './chattr.js';
import { FALLOC_KEEP_SIZE, FALLOC_PUNCH_HOLE, FALLOC_ZERO_RANGE, range_alloc, range_clone, range_punch, range_seek, range_zero } from './range.js';
import { assert } from '../util/assert.js';
import { rss_file_bytes } from '../util/memory.js';
import { PagePool } from './page_pool.js';
import { FsError } from '../util/errors.js';
import { ACL_ACCESS, ACL_DEFAULT, acl_chmod, acl_decode, acl_encode, acl_inherit, acl_mode, acl_name } from './acl.js';
import { dir_is_empty, dir_list, dir_list_from, dirent_add, dirent_find, dirent_remove, dirent_replace } from './dir.js';
import { dirty_mem, file_flush, file_fsync, file_read, file_read_plan, file_truncate, file_write, inode_records_drop, logged_flush, map_key } from './file.js';
import type { DataCtx, ReadPlan } from './file.js';
import type { FsObserver } from './observe.js';
import { attr_of, ctime_touch, InodeCache, inode_key, pages_own, times_set } from './inode.js';
import type { InodeMem } from './inode.js';
import {
  dt_of, FILE_SIZE_MAX, is_dir, is_lnk, is_reg, mode_killed, NLINK_MAX, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, S_ISGID, S_IXGRP, SYMLINK_MAX,
} from './types.js';
import type { Attr, DirEntry, Name, RenameFlags, SetAttr, StatFs } from './types.js';
import { xattr_get, xattr_list, xattr_none, xattr_records, xattr_remove, xattr_set } from './xattr.js';
import { COMPRESS_XATTR, compress_stats_new, compress_xattr_get, compress_xattr_set, is_compress_xattr } from './compress.js';
import type { CompressMode, CompressStats } from './compress.js';
import { FEATURE_COMPRESS_LZ4 } from '../format/superblock.js';
import { snap_create, snap_delete, snap_mark_good, snap_rollback, snap_set_default } from '../snap/ops.js';
import { tree_name } from '../roots/default.js';
import type { BootReport } from '../checkpoint/volume.js';
import { snapshots_held, tree_exclusive } from '../snap/usage.js';
import { tree_diff } from '../snap/diff.js';
import type { TreeDiff } from '../snap/diff.js';
import type { NodeId } from '../util/ids.js';
import { SNAP_FLAG_AUTO, SNAP_FLAG_WRITABLE } from '../format/snapshot.js';

export interface FsOptions extends VolumeOptions {
  /**
   * dirty page-cache bytes before inodes are flushed to the log (default: 3/4 of the device, at
   * most 64 MiB; less while free space is short): data deleted or rewritten before the timer's
   * checkpoint is never written
   */
  dirtyBytesMax?: number;
  /**
   * dirty B+tree nodes before a checkpoint is written (default: 1/64 of the device's blocks, at
   * least 256, at most half the node cache: dirty nodes are pinned in it)
   */
  dirtyNodesMax?: number;
  /** pending tree changes (keys) beyond which fsync writes a checkpoint instead of a redo group */
  redoKeysMax?: number;
  /** time between checkpoints when something changed (tick() drives it) */
  checkpointIntervalMs?: number;
  /** time without a change before tick() cleans and levels wear in the background */
  idleMs?: number;
  inodeCacheMax?: number;
  /** when reads move atime (as the mount options of the same names; default relatime) */
  atime?: AtimeMode;
  /** directories keep their atime when listed */
  nodiratime?: boolean;
  /** files without a compression flag of their own: lz4 or none (default: what mkfs recorded) */
  compress?: CompressMode;
  /**
   * POSIX ACLs (acl.ts): system.posix_acl_access and _default are kept and checked, a new inode
   * inherits its directory's default ACL, chmod rewrites the access ACL. Off: those names are
   * refused with ENOTSUP, as by ext4 mounted noacl.
   */
  acl?: boolean;
}

/** The bound on dirty file pages and the free ones kept for reuse, together (less on devices under 85 MiB). */
export const DIRTY_BYTES_MAX = 64 << 20;

/** The caches against the memory budget, and the process's memory (bytes, counts). */
export interface MemoryStats {
  budgetBytes: number;
  /** the part of their shares the caches and the dirty pages may take now (1 unless the resident bound scaled them down: caches_scale) */
  cacheScale: number;
  tablePages: number;
  tablePagesDirty: number;
  tablePagesMax: number;
  tablePageLoads: number;
  tablePageEvictions: number;
  nodes: number;
  nodesDirty: number;
  nodesMax: number;
  /** what the cached nodes take (nodestore.ts node_mem), against their share of the budget */
  nodeBytes: number;
  nodeBytesMax: number;
  nodeLoads: number;
  nodeEvictions: number;
  /** clean leaves kept decoded (the most recently used), and those decoded again from their block */
  nodesDecoded: number;
  nodeDecodes: number;
  inodes: number;
  inodesPinned: number;
  inodesMax: number;
  dirtyPageBytes: number;
  /** inodes with dirty pages (or fsync's logged ones), and the memory of the dirty data: its pages and those inodes (dirty_mem), bounded by dirtyPageBytesMax */
  dirtyInodes: number;
  dirtyMemBytes: number;
  dirtyPageBytesMax: number;
  /** page buffers kept free for reuse (page_pool.ts), and how often one was reused */
  pagePoolBytes: number;
  pagesReused: number;
  /** the server's resident set (VmRSS), and of it what is mapped from files (node's code: the same whatever the mount does) */
  rssBytes: number;
  rssFileBytes: number;
  /** V8's heap: live objects, and what it has taken from the system (live, garbage not yet collected, room to allocate) */
  heapBytes: number;
  heapTotalBytes: number;
  /** memory outside V8's heap owned by JavaScript objects (Buffers, the write ring), live or not yet collected */
  externalBytes: number;
}

/**
 * When a read moves atime, as Linux's mount options: `relatime` when atime is not newer than
 * mtime or ctime, or is a day old; `strictatime` on every read; `noatime` never.
 */
export type AtimeMode = 'relatime' | 'strictatime' | 'noatime';

/**
 * Whether the caller is outside `m`'s group where that decides what it loses (mode_killed): a
 * file with set-group-ID and no group execute, changed by a caller without CAP_FSETID
 * (`suidgid`). `outside_of` is asked only then (it reads /proc).
 */
function sgid_outside(m: InodeMem, suidgid: boolean, outside_of: ((gid: number) => boolean) | undefined): boolean {
  return suidgid && (m.rec.mode & (S_ISGID | S_IXGRP)) === S_ISGID && outside_of !== undefined && outside_of(m.rec.gid);
}

/** A file's data as it was when a read was planned (FileSystem.data_stamp). */
export interface DataStamp {
  readonly m: InodeMem | undefined;
  readonly gen: number;
}

export interface MkfsFsOptions extends MkfsOptions {
  rootUid?: number;
  rootGid?: number;
  rootMode?: number;
}

const ROOT = 1;
/** a file counts as streamed once this many bytes were written to it one after the other; its
 *  dirty pages are then written back each time this many are dirty */
const STREAM_BYTES = 1 << 20;

/** One snapshot operation; several given together share one checkpoint. */
export type SnapRequest =
  | { op: 'create'; name: string }
  | { op: 'clone'; from: string; name: string }
  | { op: 'delete'; name: string }
  | { op: 'rollback'; name: string; discard?: boolean }
  /** '@main' or a clone becomes the default tree; with `trial`, goes on trial for that many mounts */
  | { op: 'set-default'; name: string; trial?: number }
  /**
   * The tree on trial becomes the default. name '@live': asked by the running mount, which must
   * serve it; '@trial': whatever tree is on trial (an unmounted device).
   */
  | { op: 'mark-good'; name: '@live' | '@trial' };

export type SnapReply = { ok: true; kept?: string; note?: string } | { ok: false; error: FsError };

/** The boot state as users see it (names, not table slots). */
export interface BootStatus {
  /** the tree a plain mount serves: '@main' or a clone's name */
  default: string;
  /** a trial pending: the tree and its mounts */
  trial: { tree: string; tries: number; left: number } | null;
  /** the last trial ran out without mark-good */
  fellBack: { tree: string; tries: number } | null;
  /** the tree this mount serves, and how it was chosen */
  served: string;
  mount: BootReport;
  /** the whole state in one line */
  text: string;
}

export interface SnapListEntry {
  name: string;
  /** the checkpoint that first included it */
  seq: number;
  timeMs: number;
  writable: boolean;
  /** kept by a rollback (the tree the rollback replaced) */
  auto: boolean;
  /** the tree it was taken from: '@main' or a snapshot's name ('' if that one is gone) */
  parent: string;
  /** whether this mount serves it */
  mounted: boolean;
  /** whether a plain mount serves it (the default tree) */
  default: boolean;
  /** on trial: mounts left of how many */
  trial: { left: number; tries: number } | null;
  /** bytes deleting it would free (with usage) */
  exclusiveBytes?: number;
}

function name_buf(name: Name): Buffer {
  const b = typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
  if (b.length === 0) throw new FsError('ENOENT', 'empty name');
  if (b.length > NAME_MAX) throw new FsError('ENAMETOOLONG', `name of ${b.length} bytes (at most ${NAME_MAX})`);
  if (b.includes(0x2f) || b.includes(0)) throw new FsError('EINVAL', `name ${JSON.stringify(b.toString())} contains '/' or NUL`);
  return b;
}

function is_dot(b: Buffer): boolean {
  return (b.length === 1 && b[0] === 0x2e) || (b.length === 2 && b[0] === 0x2e && b[1] === 0x2e);
}

const ACL_ACCESS_B = Buffer.from(ACL_ACCESS);
const ACL_DEFAULT_B = Buffer.from(ACL_DEFAULT);
/** file capabilities: what a write takes from a file (privs_kill) */
const CAPS_B = Buffer.from('security.capability');

function inode_new(mode: number, uid: number, gid: number, now: Timespec, rdev = 0, generation = 1): Inode {
  return {
    mode, uid, gid, nlink: 1, size: 0, rdev, flags: is_reg(mode) || is_lnk(mode) ? INODE_FLAG_INLINE : 0, generation,
    parent: 0, blocks: 0, data_gen: 0,
    atime_s: now.s, atime_ns: now.ns, mtime_s: now.s, mtime_ns: now.ns, ctime_s: now.s, ctime_ns: now.ns, btime_s: now.s, btime_ns: now.ns,
  };
}

export class FileSystem {
  readonly vol: Volume;
  readonly cleaner: Cleaner;
  readonly icache: InodeCache;
  /** the caches' shares as the mount began, which caches_scale() scales */
  private readonly cacheShares: { tablePages: number; nodeBytes: number; inodes: number; dirtyBytes: number };
  /** the part of their shares the caches may take now (caches_scale) */
  private scale = 1;
  readonly clock: Clock;
  private readonly ctx: DataCtx;
  private readonly dirtyNodesMax: number;
  /**
   * table pages changed since the last checkpoint before one is written (half the table cache:
   * changed pages are pinned in it); pages a checkpoint left pinned for its journal do not count
   */
  private readonly dirtyPagesMax: number;
  private readonly redoKeysMax: number;
  /** the time between timer checkpoints when something changed, in ms (commit=; a remount may change it) */
  intervalMs: number;
  private lastCheckpointMs: number;
  private lastOpMs = 0;
  private readonly idleMs: number;
  private changedSinceCheckpoint = false;
  private unmounted = false;
  /** remounted read-only: everything is durable and nothing changes until remount(false) */
  private frozen = false;
  /** halted after a bug (halt()): nothing more is written */
  private halted = false;
  /** counts changes of files' data (write, truncate, fallocate, copy, rollback): data_stamp */
  private dataGen = 0;
  atime: AtimeMode;
  nodiratime: boolean;
  /** the inode whose atime the last read moved (0: none since atime_moved() asked) */
  private atimeMovedIno = 0;
  /** POSIX ACLs are kept and applied (FsOptions.acl) */
  readonly acl: boolean;

  private constructor(vol: Volume, o: FsOptions) {
    this.vol = vol;
    this.clock = o.clock ?? vol.clock;
    // Dirty nodes are bounded by memory, not by the headroom: a checkpoint writes each dirty node
    // once however often it changed, so fewer checkpoints write fewer nodes. When free space runs
    // short, Cleaner.prepare checkpoints early (its need counts every dirty node); the headroom
    // is planned for a checkpoint of the old, smaller bound.
    this.dirtyNodesMax = o.dirtyNodesMax ?? Math.min(Math.max(256, Math.floor(vol.g.blockCount / 64)), Math.max(256, Math.floor(vol.nodes.cacheMax / 2)));
    this.dirtyPagesMax = Math.max(32, Math.floor(vol.budget.tablePages / 2));
    this.cleaner = new Cleaner(vol, Math.min(this.dirtyNodesMax, Math.max(16, Math.floor(vol.g.blockCount / 256))));
    this.icache = new InodeCache(vol, o.inodeCacheMax ?? vol.budget.inodes);
    const devBytes = vol.g.blockCount * BLOCK_SIZE;
    this.ctx = {
      vol,
      icache: this.icache,
      clock: this.clock,
      cleaner: this.cleaner,
      dirty: { bytes: 0, newPages: 0, inodes: 0, max: o.dirtyBytesMax ?? Math.min(DIRTY_BYTES_MAX, Math.max(1 << 20, Math.floor((devBytes * 3) / 4))) },
      space_admit: (n, run) => this.space_admit(n, 4, run === true),
      logged: { inodes: new Set(), pages: 0 },
      observer: null,
      compress: { on: (o.compress ?? (vol.sb.features & FEATURE_COMPRESS_LZ4 ? 'lz4' : 'none')) === 'lz4', stats: compress_stats_new() },
      // free pages are kept only within the dirty-page bound, beside the dirty ones
      pages: new PagePool(() => this.ctx.dirty.max - dirty_mem(this.ctx.dirty)),
    };
    this.cacheShares = { tablePages: vol.tabs.cache.budgetPages, nodeBytes: vol.nodes.cacheBytes, inodes: this.icache.max, dirtyBytes: this.ctx.dirty.max };
    // pages fsync only logged are written before any checkpoint, whoever writes it
    vol.beforeCheckpoint = vol.readOnly ? null : () => logged_flush(this.ctx);
    vol.beforeCheckpointBlocks = () => this.ctx.logged.pages;
    // a read-only mount keeps the pages roll-forward rebuilt from patches in its cache
    for (const [ino, pages] of vol.replayPages) {
      const m = this.icache.get(ino);
      pages_own(m, this.ctx.dirty);
      for (const [idx, page] of pages) m.pages.set(idx, page);
    }
    this.redoKeysMax = o.redoKeysMax ?? 2048;
    // more keys than fsync would write as a redo group are not remembered
    vol.redo_limit(this.redoKeysMax);
    this.intervalMs = o.checkpointIntervalMs ?? 30_000;
    this.idleMs = o.idleMs ?? 1000;
    this.atime = o.atime ?? 'relatime';
    this.nodiratime = o.nodiratime ?? false;
    this.acl = o.acl ?? false;
    this.lastCheckpointMs = timespec_ms(this.clock());
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  static mkfs(dev: BlockDevice, o: MkfsFsOptions = {}): Superblock {
    const clock = o.clock ?? clock_wall();
    return Volume.format(dev, { ...o, clock }, (v) => {
      const root = inode_new(S_IFDIR | ((o.rootMode ?? 0o755) & 0o7777), o.rootUid ?? 0, o.rootGid ?? 0, clock());
      root.nlink = 2;
      root.parent = ROOT;
      v.put(inode_key(ROOT), inode_encode(root));
      v.inodes = 1;
      v.nextIno = ROOT + 1;
      v.counts_store();
    });
  }

  static mount(dev: BlockDevice, o: FsOptions = {}): FileSystem {
    // durability points reach the observer too (none is set while the volume opens)
    let self: FileSystem | undefined;
    const onDurable = (phase: 'begin' | 'end', what: 'checkpoint' | 'redo'): void => {
      o.onDurable?.(phase, what);
      self?.ctx.observer?.durable(phase, what, self.vol.seq);
    };
    const vol = Volume.open(dev, { ...o, onDurable });
    const fs = new FileSystem(vol, o);
    self = fs;
    if (!vol.readOnly) fs.orphans_free();
    return fs;
  }

  /** Whether nothing may change: mounted read-only, remounted so, or halted. */
  get readOnly(): boolean {
    return this.vol.readOnly || this.frozen || this.halted;
  }

  /**
   * After a bug met in the middle of a change (the mount's requests turn read-only, fuse/ops.ts):
   * what is in memory may be half changed, so from now on nothing is written — no flush, no
   * checkpoint, not even the unmount's (the caller abandons the volume), no atime — while reads
   * go on from what is there. The next mount recovers the last durable state.
   */
  halt(): void {
    this.halted = true;
  }

  /**
   * mount -o remount,ro / remount,rw. Read-only: everything written so far is flushed and made
   * durable by a clean checkpoint, and from then on every change is refused with EROFS and
   * nothing is written (fsync and sync succeed: there is nothing to make durable). Read-write
   * again: a checkpoint starts a new epoch, as a mount that may write does. A volume opened
   * read-only (the device itself) can not be remounted read-write here: EROFS, and the caller
   * mounts the device again.
   */
  remount(readOnly: boolean): void {
    if (this.unmounted) throw new FsError('EIO', 'the filesystem is unmounted');
    if (this.vol.readOnly) {
      if (readOnly) return;
      throw new FsError('EROFS', 'the device was opened read-only: mount it again to write');
    }
    if (this.halted) throw new FsError('EIO', 'the filesystem halted after an internal error: mount it again');
    if (readOnly === this.frozen) return;
    if (readOnly) {
      this.op_begin();
      this.flush_all();
      this.cleaner.prepare(0, 0);
      this.vol.checkpoint(true, Trigger.REMOUNT);
      this.lastCheckpointMs = timespec_ms(this.clock());
      this.changedSinceCheckpoint = false;
      this.frozen = true;
    } else {
      this.frozen = false;
      this.checkpoint_now(Trigger.REMOUNT);
    }
  }

  /** Sets (or with null, removes) the observer told where written bytes go (observe.ts). */
  observe(o: FsObserver | null): void {
    this.ctx.observer = o;
  }

  /** The observer set, if any. */
  get observer(): FsObserver | null {
    return this.ctx.observer;
  }

  /** Frees inodes left open-but-unlinked by the previous mount. */
  private orphans_free(): void {
    const orphans: number[] = [];
    this.vol.scan(key(0, RecKind.ORPHAN, 0), key(0, RecKind.ORPHAN, KEY_MAX.off), (k) => { orphans.push(k.off); });
    for (const ino of orphans) {
      if (this.icache.exists(ino)) this.inode_free(this.icache.get(ino));
      this.vol.del(key(0, RecKind.ORPHAN, ino));
    }
    if (orphans.length) this.changedSinceCheckpoint = true;
  }

  /** Flushes everything and writes the final checkpoint. The caller closes the device. */
  unmount(): void {
    if (this.unmounted) return;
    if (!this.readOnly) {
      for (const m of [...this.icache.all()]) {
        if (m.open === 0) continue;
        m.open = 0;
        if (m.rec.nlink === 0) {
          this.inode_free(m);
          this.vol.del(key(0, RecKind.ORPHAN, m.ino));
        }
      }
      this.flush_all();
      this.cleaner.prepare(0, 0);
    }
    // remounted read-only: its clean checkpoint is the last word
    this.vol.close(!this.readOnly);
    this.unmounted = true;
  }

  // ---- durability -----------------------------------------------------------------------------

  /** Makes everything durable with a checkpoint (sync(2), syncfs; the commit timer). */
  sync(trigger: Trigger = Trigger.SYNC): void {
    if (this.halted) throw new FsError('EIO', 'the filesystem halted after an internal error: nothing more is made durable');
    if (this.frozen) return;
    this.op_begin();
    this.flush_all();
    this.checkpoint_now(trigger);
  }

  private checkpoint_now(trigger: Trigger): void {
    this.cleaner.prepare(0, 0);
    this.vol.checkpoint(false, trigger);
    this.lastCheckpointMs = timespec_ms(this.clock());
    this.changedSinceCheckpoint = false;
  }

  /**
   * fsync(2)/fdatasync(2): the inode's data and every tree change so far become durable as one
   * redo group — no checkpoint, unless so much is pending that a checkpoint costs less.
   */
  fsync(ino: number, _datasync = false): void {
    if (this.readOnly) return;
    this.op_begin();
    const m = this.icache.get(ino);
    const patches = file_fsync(this.ctx, m);
    if (this.vol.redo_pending_keys > this.redoKeysMax) {
      this.checkpoint_now(Trigger.FSYNC);
      return;
    }
    let bytes = 0;
    for (const p of patches) bytes += p.bytes.length + 18;
    this.cleaner.prepare(Math.ceil(this.vol.redo_pending_keys / 16) + Math.ceil(bytes / 4000) + 2, 0);
    this.vol.redo_flush(patches, ino);
  }

  /**
   * Periodic work: a checkpoint when the interval has passed and something changed; after
   * `idleMs` without a change, idle-time cleaning and wear levelling (bounded), and the free
   * page buffers let go (V8's memory reducer collects them when the process stays quiet).
   */
  tick(nowMs = timespec_ms(this.clock())): void {
    if (this.readOnly || this.unmounted) return;
    if (this.changedSinceCheckpoint && nowMs - this.lastCheckpointMs >= this.intervalMs) this.sync(Trigger.TIMER);
    if (nowMs - this.lastOpMs >= this.idleMs) {
      this.ctx.pages.release();
      if (this.cleaner.background() > 0) this.lastCheckpointMs = nowMs;
    }
  }

  private flush_all(): void {
    for (const m of this.icache.dirty()) file_flush(this.ctx, m);
    this.icache.trim();
  }

  /** After every change. The bounds are enforced at the start of the next operation (maintain). */
  private after_change(): void {
    this.changedSinceCheckpoint = true;
  }

  /**
   * At the start of every operation that changes something: bound dirty memory and dirty nodes.
   * Doing it here rather than at the end of the previous operation means every durability point
   * falls before an operation changes the tree, never between its changes.
   */
  private op_begin(): void {
    this.writable();
    this.lastOpMs = timespec_ms(this.clock());
    // the space bound as the operation starts: the flushes below write blocks and would lower it
    // as they go, flushing more than the half they aim for
    const limit = this.dirty_limit();
    if (this.dirty_over(1, limit)) {
      const dirty = this.icache.dirty().sort((a, b) => b.pages.size - a.pages.size);
      for (const m of dirty) {
        if (!this.dirty_over(1 / 2, limit)) break;
        file_flush(this.ctx, m);
      }
      this.icache.trim();
    }
    if (this.vol.nodes.dirtyCount > this.dirtyNodesMax || this.vol.nodes.dirtyBytes > this.vol.nodes.cacheBytes / 2 || this.vol.tabs.dirty_pages() - this.vol.tabs.pinnedAfterCheckpoint > this.dirtyPagesMax) this.checkpoint_now(Trigger.DIRTY_NODES);
  }

  /**
   * Whether dirty file data passes `part` of its bounds: its pages the space bound `limit`
   * (dirty_limit), or its memory (the pages and the inodes holding them, dirty_mem) the bound.
   */
  private dirty_over(part: number, limit: number): boolean {
    const d = this.ctx.dirty;
    return d.bytes > limit * part || dirty_mem(d) > d.max * part;
  }

  /**
   * Dirty page bytes allowed now: the bound, but never more than half the space free or freed
   * beyond the cleaner's headroom (every dirty page takes a new block when written, an overwrite
   * too), so a large bound on a small, full device does not turn into cleaning for pages not
   * yet written.
   */
  private dirty_limit(): number {
    // what a checkpoint gives back counts: the next one makes it writable without moving anything
    const log = this.vol.log;
    const free = log.blocks_free() + log.blocks_ssr() + log.freedThisEpoch - this.cleaner.headroom();
    return Math.min(this.ctx.dirty.max, Math.max(1 << 20, Math.floor(free / 2) * BLOCK_SIZE));
  }

  private writable(): void {
    if (this.readOnly) throw new FsError('EROFS', 'the filesystem is mounted read-only');
    if (this.unmounted) throw new FsError('EIO', 'the filesystem is unmounted');
  }

  // ---- memory ---------------------------------------------------------------------------------

  /**
   * What the metadata caches hold against the mount's budget (`cowlog info --stats`): table
   * pages, B+tree nodes and inodes, each with the part pinned because it changed, and the
   * process's memory.
   */
  memory(): MemoryStats {
    const v = this.vol;
    const t = v.tabs.cache.stats();
    const m = process.memoryUsage();
    let dirtyInodes = 0;
    for (const x of this.icache.all()) if (x.pages.size > 0 || x.mtime !== null || x.open > 0) dirtyInodes++;
    return {
      budgetBytes: v.budgetBytes, cacheScale: this.cacheScale,
      tablePages: t.pages, tablePagesDirty: t.dirtyPages, tablePagesMax: t.budgetPages, tablePageLoads: t.loads, tablePageEvictions: t.evictions,
      nodes: v.nodes.cachedCount, nodesDirty: v.nodes.dirtyCount, nodesMax: v.nodes.cacheMax, nodeBytes: v.nodes.bytes, nodeBytesMax: v.nodes.cacheBytes, nodeLoads: v.nodes.loads, nodeEvictions: v.nodes.evictions,
      nodesDecoded: v.nodes.hotCount, nodeDecodes: v.nodes.decodes,
      inodes: this.icache.size, inodesPinned: dirtyInodes, inodesMax: this.icache.max,
      dirtyPageBytes: this.ctx.dirty.bytes, dirtyInodes: this.ctx.dirty.inodes, dirtyMemBytes: dirty_mem(this.ctx.dirty), dirtyPageBytesMax: this.ctx.dirty.max, pagePoolBytes: this.ctx.pages.bytes, pagesReused: this.ctx.pages.reused,
      rssBytes: m.rss, rssFileBytes: rss_file_bytes(), heapBytes: m.heapUsed, heapTotalBytes: m.heapTotal, externalBytes: m.external, // arrayBuffers (Buffers, the write ring) are counted in external already
    };
  }

  /**
   * Lets the metadata caches — table pages, B+tree nodes, inodes — and the dirty file pages take
   * only `f` (0 < f ≤ 1) of their shares, evicting what is clean beyond it now and letting free
   * page buffers beyond it go: what the server's resident bound does when its memory nears the
   * bound (fuse/resident.ts), and undoes as it falls. Each share keeps its working minimum;
   * dirty entries stay pinned (the dirty nodes' bound follows the nodes' share, so checkpoints
   * come sooner, and files are flushed sooner).
   */
  caches_scale(f: number): void {
    assert(f > 0 && f <= 1, () => `caches scaled by ${f}`);
    const c = this.cacheShares;
    const part = (n: number, least: number): number => Math.min(n, Math.max(least, Math.floor(n * f)));
    this.scale = f;
    this.vol.tabs.cache.budget_set(part(c.tablePages, TABLE_PAGES_MIN));
    // the nodes keep room for the KEEP_RECENT most recently used ones, which are never evicted,
    // and as much again of dirty ones before a checkpoint
    if (Number.isFinite(c.nodeBytes)) this.vol.nodes.bytes_set(part(c.nodeBytes, 2 * KEEP_RECENT * NODE_MEM_BYTES));
    this.icache.max_set(part(c.inodes, INODES_MIN));
    this.ctx.dirty.max = part(c.dirtyBytes, 4 << 20);
    this.ctx.pages.trim();
  }

  /** The part of their shares the caches and the dirty pages may take now (caches_scale). */
  get cacheScale(): number {
    return this.scale;
  }

  /** Bytes the caches' whole shares come to, and what they hold now, as caches_scale counts them. */
  caches_bytes(): { shares: number; used: number } {
    const c = this.cacheShares;
    const nodes = Number.isFinite(c.nodeBytes) ? c.nodeBytes : 0;
    return {
      shares: c.tablePages * BLOCK_SIZE + nodes + c.inodes * INODE_MEM_BYTES + c.dirtyBytes,
      used: this.vol.tabs.cache.size * BLOCK_SIZE + (nodes ? this.vol.nodes.bytes : 0) + this.icache.size * INODE_MEM_BYTES + dirty_mem(this.ctx.dirty) + this.ctx.pages.bytes,
    };
  }

  // ---- space ----------------------------------------------------------------------------------

  /** Blocks of user data the filesystem can hold (the rest is reserved for metadata and the cleaner). */
  capacity_blocks(): number {
    const g = this.vol.g;
    return g.segCount * g.segBlocks - HEAD_COUNT * g.segBlocks - this.cleaner.headroom() - g.tableBlocks - g.dirBlocks;
  }

  /** Live blocks counted against capacity: valid blocks minus table blocks, plus pages waiting for space. */
  used_blocks(): number {
    return this.vol.log.validBlocks - this.vol.tabs.metaBlocks + this.ctx.dirty.newPages + this.vol.nodes.dirtyCount;
  }

  /**
   * Admits `blocks` blocks of new user data (or a new name, blocks = 0): they must fit the
   * capacity, and — with every dirty page still to be written — the free log space, keeping the
   * cleaner's headroom (cleaning first if needed).
   */
  private space_admit(blocks: number, records = 4, run = false): void {
    const cap = this.capacity_blocks(), used = this.used_blocks();
    const free = cap - used;
    // the numbers given add up: free = usable - in use (in use may pass what is usable: the
    // pages and nodes waiting to be written are counted before they have a place)
    if (blocks > free || free <= 0) throw new FsError('ENOSPC', `no space left on device (${blocks} blocks wanted, ${Math.max(0, free)} free: ${used} of ${cap} usable blocks in use)`);
    const pending = this.ctx.dirty.bytes / BLOCK_SIZE;
    // the blocks of one run (range.ts) are mapped by records with consecutive keys
    const nodes = run
      ? this.cleaner.growth_of(records + Math.ceil(pending / 64)) + this.cleaner.growth_of_run(Math.ceil(blocks / 64))
      : this.cleaner.growth_of(records + Math.ceil((pending + blocks) / 64));
    this.cleaner.prepare(pending + blocks, nodes, 'user', true);
  }

  statfs(): StatFs {
    const cap = this.capacity_blocks();
    const free = Math.max(0, cap - this.used_blocks());
    return {
      bsize: BLOCK_SIZE,
      frsize: BLOCK_SIZE,
      blocks: cap,
      bfree: free,
      bavail: free,
      files: 0xffffffff - 1,
      ffree: 0xffffffff - this.vol.nextIno,
      namemax: NAME_MAX,
    };
  }

  // ---- snapshots ------------------------------------------------------------------------------

  /**
   * Applies snapshot operations in order and makes them durable with one checkpoint (batched
   * root flips): either all of a batch's successful operations are on the device or none. An
   * operation that fails changes nothing and the others still apply. Everything written before
   * is flushed first, so a snapshot holds what the files held when it was asked for.
   */
  snapshot(reqs: SnapRequest[]): SnapReply[] {
    if (this.readOnly) throw new FsError('EROFS', 'the filesystem is mounted read-only: snapshots cannot change');
    this.op_begin();
    this.flush_all();
    this.cleaner.prepare(0, 0);
    let rolledBack = false;
    const out = reqs.map((r): SnapReply => {
      try {
        switch (r.op) {
          case 'create':
            snap_create(this.vol, r.name);
            return { ok: true };
          case 'clone':
            snap_create(this.vol, r.name, { from: r.from, writable: true });
            return { ok: true };
          case 'delete':
            snap_delete(this.vol, r.name);
            return { ok: true };
          case 'set-default':
            snap_set_default(this.vol, r.name, r.trial);
            return { ok: true, note: this.vol.boot_describe() };
          case 'mark-good': {
            const changed = snap_mark_good(this.vol, r.name === '@live');
            return { ok: true, note: changed ? `${tree_name(this.vol.snaps, this.vol.boot.defaultTree)} is the default now` : `nothing on trial: ${tree_name(this.vol.snaps, this.vol.boot.defaultTree)} is the default already` };
          }
          case 'rollback': {
            const busy = [...this.icache.all()].filter((m) => m.open > 0).length;
            if (busy) throw new FsError('EBUSY', `${busy} file${busy > 1 ? 's are' : ' is'} open: close ${busy > 1 ? 'them' : 'it'} before rolling back`);
            this.vol.snaps.must(r.name);
            this.icache_reset();
            const kept = snap_rollback(this.vol, r.name, { discard: r.discard === true });
            rolledBack = true;
            return kept ? { ok: true, kept: kept.name } : { ok: true };
          }
        }
      } catch (e) {
        if (e instanceof FsError && !(e.code === 'EUCLEAN' || e.code === 'EIO')) return { ok: false, error: e };
        throw e;
      }
    });
    if (rolledBack) {
      this.icache_reset();
      this.orphans_free();
    }
    if (out.some((r) => r.ok)) this.checkpoint_now(Trigger.SNAPSHOT);
    return out;
  }

  /** Forgets every cached inode (the tree under them changed); nothing may be dirty or open. */
  private icache_reset(): void {
    this.flush_all();
    for (const m of this.icache.all()) assert(m.open === 0 && m.pages.size === 0 && m.mtime === null, () => `inode ${m.ino} still open or dirty`);
    this.icache.clear();
    this.dataGen++;
  }

  /** The snapshots and clones, oldest slot first; with `usage`, what deleting each would free. */
  snapshot_list(o: { usage?: boolean } = {}): SnapListEntry[] {
    const v = this.vol;
    return v.snaps.list().map((e) => {
      const parent = e.parent === 0 ? '@main' : (v.snaps.at(e.parent - 1)?.name ?? '');
      const out: SnapListEntry = {
        name: e.name, seq: e.seq, timeMs: e.timeMs, writable: (e.flags & SNAP_FLAG_WRITABLE) !== 0, auto: (e.flags & SNAP_FLAG_AUTO) !== 0,
        parent, mounted: e.index === v.treeIndex - 1, default: e.index + 1 === v.boot.defaultTree,
        trial: v.bootFlags.trial && v.boot.trialTree === e.index + 1 ? { left: v.boot.trialLeft, tries: v.boot.trialTries } : null,
      };
      if (o.usage) {
        const u = tree_exclusive(v, v.snap_root(e.index));
        out.exclusiveBytes = (u.nodes + u.data) * BLOCK_SIZE;
      }
      return out;
    });
  }

  /** The default tree, a trial, a fallback, and what this mount serves. */
  boot_status(): BootStatus {
    const v = this.vol;
    const b = v.boot;
    const name = (k: number): string => tree_name(v.snaps, k);
    const f = v.bootFlags;
    return {
      default: name(b.defaultTree),
      trial: f.trial ? { tree: name(b.trialTree), tries: b.trialTries, left: b.trialLeft } : null,
      fellBack: f.fellBack ? { tree: name(b.trialTree), tries: b.trialTries } : null,
      served: name(v.treeIndex),
      mount: v.mount.boot,
      text: v.boot_describe(),
    };
  }

  /** Bytes the snapshots and clones hold that neither the mounted tree nor the main tree does. */
  snapshot_held_bytes(): number {
    const u = snapshots_held(this.vol);
    return (u.nodes + u.data) * BLOCK_SIZE;
  }

  /** The mounted tree's name: null for the main tree. */
  get snapshotMounted(): string | null {
    const i = this.vol.treeIndex;
    return i === 0 ? null : (this.vol.snaps.at(i - 1)?.name ?? null);
  }

  /**
   * Paths added, removed and changed from tree `a` to tree `b`: snapshot or clone names, '@live'
   * for the mounted tree (with everything written so far), '@main' for the main tree and
   * '@default' for the default tree.
   */
  snapshot_diff(a: string, b: string): TreeDiff {
    if (!this.readOnly) {
      this.op_begin();
      this.flush_all();
    }
    const root = (n: string): NodeId => {
      if (n === '@live') return this.vol.root;
      const k = this.vol.tree_of(n);
      return k === 0 ? this.vol.main_root() : this.vol.snap_root(k - 1);
    };
    return tree_diff(this.vol, root(a), root(b));
  }

  // ---- lookups --------------------------------------------------------------------------------

  private dir_get(ino: number): InodeMem {
    const m = this.icache.get(ino);
    if (!is_dir(m.rec.mode)) throw new FsError('ENOTDIR', `inode ${ino} is not a directory`);
    return m;
  }

  lookup(parent: number, name: Name): Attr {
    return attr_of(this.icache.get(this.lookup_ino(parent, name)));
  }

  /**
   * lookup() answering null for a name that is not there: the mount's lookups of new names (each
   * create begins with one) miss, and building an error for each would cost more than the lookup.
   */
  lookup_opt(parent: number, name: Name): Attr | null {
    const d = this.dir_get(parent);
    const b = name_buf(name);
    if (is_dot(b)) return attr_of(this.icache.get(b.length === 1 ? parent : d.rec.parent || ROOT));
    const e = dirent_find(this.vol, parent, b);
    return e ? attr_of(this.icache.get(e.ino)) : null;
  }

  private lookup_ino(parent: number, name: Name): number {
    const d = this.dir_get(parent);
    const b = name_buf(name);
    if (b.length === 1 && b[0] === 0x2e) return parent;
    if (b.length === 2 && b[0] === 0x2e && b[1] === 0x2e) return d.rec.parent || ROOT;
    const e = dirent_find(this.vol, parent, b);
    if (!e) throw new FsError('ENOENT', `no entry ${JSON.stringify(b.toString())} in directory ${parent}`);
    return e.ino;
  }

  /** Resolves an absolute path (no symlinks followed) to an inode number. */
  resolve(path: string): number {
    let ino = ROOT;
    for (const part of path.split('/')) {
      if (part === '' || part === '.') continue;
      ino = this.lookup_ino(ino, part);
    }
    return ino;
  }

  getattr(ino: number): Attr {
    return attr_of(this.icache.get(ino));
  }

  /** getattr() for an entry of a listing: an inode not cached stays so (InodeCache.attr). */
  getattr_listed(ino: number): Attr {
    return this.icache.attr(ino);
  }

  /**
   * The entries of directory `ino` from position `pos` (0: the start; dir_list_from), each with
   * the position after it, while `fn` returns true. Listing from the start is a read, for atime.
   */
  readdir_from(ino: number, pos: number, fn: (e: DirEntry, next: number) => boolean): void {
    const d = this.dir_get(ino);
    dir_list_from(this.vol, ino, pos, fn);
    if (pos === 0) this.atime_touch(d);
  }

  /** The entries of a directory; a listing is a read, for atime. */
  readdir(ino: number): DirEntry[] {
    const d = this.dir_get(ino);
    const out = dir_list(this.vol, ino);
    this.atime_touch(d);
    return out;
  }

  // ---- creating names -------------------------------------------------------------------------

  /** Before an operation changes anything: room for `blocks` blocks and `records` tree records. */
  private prepare(records: number, blocks = 0): void {
    this.cleaner.prepare(blocks, this.cleaner.growth_of(records));
  }

  /**
   * prepare() for an operation that drops records of inode `m` (its map records, when it is
   * freed or truncated) and changes `records` others. The dropped records are one key range
   * (every record of an inode has its number first), so what dropping them may dirty is the
   * nodes holding the range plus a merge's neighbours on each level — not a path per record, an
   * estimate that outgrew a full device's free space for a file of 40 MiB and made its unlink
   * fail with ENOSPC.
   */
  private drop_prepare_of(m: InodeMem, records: number, blocks = 0): void {
    const dropped = this.cleaner.growth_of(Math.ceil(m.rec.blocks / MAP_SLOTS));
    const height = this.vol.nodes.get(this.vol.root).level + 1;
    // the range holds a node on every level at least: a small file needs no walk
    const range = dropped <= 3 * height ? dropped
      : this.vol.range_nodes(key(m.ino, 0, 0), key(m.ino, KEY_MAX.kind, KEY_MAX.off)) + 2 * height;
    this.cleaner.prepare(blocks, this.cleaner.growth_of(records) + Math.min(dropped, range));
  }

  /** Directory `parent`, where something new is about to go: there, not removed, not immutable. */
  private dir_open_to(parent: number, what: string): InodeMem {
    this.op_begin();
    const d = this.dir_get(parent);
    if (d.rec.nlink === 0) throw new FsError('ENOENT', `directory ${parent} was removed`);
    refuse_immutable(d.rec, parent, what);
    return d;
  }

  private name_new(parent: number, name: Name): { d: InodeMem; b: Buffer } {
    const d = this.dir_open_to(parent, 'a new name');
    const b = name_buf(name);
    if (is_dot(b) || dirent_find(this.vol, parent, b)) throw new FsError('EEXIST', `${JSON.stringify(b.toString())} exists in directory ${parent}`);
    this.space_admit(1, 6);
    return { d, b };
  }

  /**
   * A new inode made in directory `d`: its mode from `d`'s default ACL (inherited with it) or
   * the umask, the flags `d` passes on, a fresh number and generation; `init` sets what differs
   * by kind (the link count, a directory's parent) before the record is stored.
   */
  private inode_make(d: InodeMem, mode: number, uid: number, gid: number, umask: number, now: Timespec, rdev = 0,
    init: (r: Inode) => void = () => {}): InodeMem {
    const dir = is_dir(mode);
    const a = this.acl_new(d, mode, umask, dir);
    const ino = this.ino_alloc();
    const r = inode_new(a.mode, uid, gid, now, rdev, this.generation_new());
    r.flags |= attr_inherit(d.rec, dir);
    init(r);
    const m = this.icache.create(ino, r);
    for (const [n, v] of a.xattrs) xattr_set(this.vol, ino, n, v, 'create');
    return m;
  }

  /**
   * The generation of an inode made now: the epoch (checkpoint sequence + 1, never 0). Inode
   * numbers are not reused within a tree's history, but a rollback returns to a tree whose next
   * inode number is smaller, and the numbers come again; they are made in a later epoch than
   * before the rollback, so (inode, generation) never names two files — what a file handle
   * (name_to_handle_at, NFS) needs to say ESTALE rather than open another file.
   */
  private generation_new(): number {
    return ((this.vol.seq + 1) % 0xffffffff) + 1;
  }

  private ino_alloc(): number {
    return this.vol.ino_take();
  }

  private parent_touch(d: InodeMem, now: Timespec): void {
    times_set(d.rec, 'm', now);
    times_set(d.rec, 'c', now);
    this.icache.store(d);
  }

  /**
   * The mode and ACLs of a new inode in directory `d`: its default ACL, if it has one (and ACLs
   * are on), replaces the umask and is inherited (acl_inherit); otherwise the umask applies.
   */
  private acl_new(d: InodeMem, mode: number, umask: number, dir: boolean): { mode: number; xattrs: [Buffer, Buffer][] } {
    const def = this.acl ? xattr_get(this.vol, d.ino, ACL_DEFAULT_B) : undefined;
    if (def === undefined) return { mode: mode & ~(umask & 0o777), xattrs: [] };
    this.prepare(4);
    const r = acl_inherit(acl_decode(def), mode);
    const xattrs: [Buffer, Buffer][] = [];
    if (!r.equiv) xattrs.push([ACL_ACCESS_B, acl_encode(r.acl)]);
    if (dir) xattrs.push([ACL_DEFAULT_B, def]);
    return { mode: r.mode, xattrs };
  }

  /**
   * Creates a regular file, FIFO, socket or device node (mode carries the type; default
   * regular). `umask` is applied here when the kernel leaves it to the filesystem (0 when the
   * mode arrives with it applied); a default ACL of the directory replaces it.
   */
  create(parent: number, name: Name, mode: number, uid = 0, gid = 0, rdev = 0, umask = 0): Attr {
    const { d, b } = this.name_new(parent, name);
    if ((mode & S_IFMT) === 0) mode |= S_IFREG;
    if (is_dir(mode) || is_lnk(mode)) throw new FsError('EINVAL', 'create makes files; use mkdir or symlink');
    const now = this.clock();
    const m = this.inode_make(d, mode, uid, gid, umask, now, rdev);
    dirent_add(this.vol, parent, b, m.ino, dt_of(mode));
    this.parent_touch(d, now);
    this.after_change();
    this.names_synced(d);
    return attr_of(m);
  }

  /**
   * open(2) with O_TMPFILE: a regular file in directory `parent` without a name (nlink 0),
   * opened once. It is an orphan — freed at its last release, or by the next mount after a
   * crash — unless link() gives it a name first, which it may when `linkable` (O_TMPFILE
   * without O_EXCL; the kernel checks that too). The directory does not change.
   */
  tmpfile(parent: number, mode: number, uid = 0, gid = 0, umask = 0, linkable = true): Attr {
    const d = this.dir_open_to(parent, 'a new file');
    this.space_admit(1, 6);
    const m = this.inode_make(d, S_IFREG | (mode & 0o7777), uid, gid, umask, this.clock(), 0, (r) => { r.nlink = 0; });
    m.open = 1;
    m.linkable = linkable;
    this.vol.put(key(0, RecKind.ORPHAN, m.ino), Buffer.alloc(0));
    this.after_change();
    return attr_of(m);
  }

  mkdir(parent: number, name: Name, mode: number, uid = 0, gid = 0, umask = 0): Attr {
    const { d, b } = this.name_new(parent, name);
    if (d.rec.nlink >= NLINK_MAX) throw new FsError('EMLINK', `directory ${parent} has ${d.rec.nlink} links`);
    const now = this.clock();
    const m = this.inode_make(d, S_IFDIR | (mode & 0o7777), uid, gid, umask, now, 0, (r) => { r.nlink = 2; r.parent = parent; });
    dirent_add(this.vol, parent, b, m.ino, dt_of(S_IFDIR));
    d.rec.nlink++;
    this.parent_touch(d, now);
    this.after_change();
    this.names_synced(d);
    return attr_of(m);
  }

  symlink(parent: number, name: Name, target: Name, uid = 0, gid = 0): Attr {
    const t = typeof target === 'string' ? Buffer.from(target, 'utf8') : target;
    if (t.length === 0) throw new FsError('ENOENT', 'empty symlink target');
    if (t.length > SYMLINK_MAX) throw new FsError('ENAMETOOLONG', `symlink target of ${t.length} bytes`);
    const { d, b } = this.name_new(parent, name);
    // a long target goes to a data block first, so no durability point falls between the
    // inode and its name
    let block: { addr: number; csum: number } | null = null;
    if (t.length > this.vol.g.inlineMax) {
      this.space_admit(1);
      this.cleaner.ensure(1);
      const page = Buffer.alloc(BLOCK_SIZE);
      t.copy(page);
      block = this.vol.data_write(Head.WARM_DATA, [page], tag_of(Cause.DATA))[0]!;
    }
    const now = this.clock();
    const ino = this.ino_alloc();
    const r = inode_new(S_IFLNK | 0o777, uid, gid, now, 0, this.generation_new());
    r.size = t.length;
    if (block) {
      r.flags &= ~INODE_FLAG_INLINE;
      r.blocks = 1;
      const mc = map_new();
      mc.addr[0] = block.addr;
      mc.csum[0] = block.csum;
      this.vol.put(map_key(ino, 0), map_encode(mc));
    } else {
      this.vol.put(key(ino, RecKind.INLINE, 0), Buffer.from(t));
    }
    const m = this.icache.create(ino, r);
    dirent_add(this.vol, parent, b, ino, dt_of(S_IFLNK));
    this.parent_touch(d, now);
    this.after_change();
    this.names_synced(d);
    return attr_of(m);
  }

  readlink(ino: number): Buffer {
    const m = this.icache.get(ino);
    if (!is_lnk(m.rec.mode)) throw new FsError('EINVAL', `inode ${ino} is not a symlink`);
    return file_read(this.ctx, m, 0, m.size);
  }

  link(ino: number, parent: number, name: Name): Attr {
    const m = this.icache.get(ino);
    if (is_dir(m.rec.mode)) throw new FsError('EPERM', 'hard links to directories are not allowed');
    if (m.rec.nlink === 0 && !m.linkable) throw new FsError('ENOENT', `inode ${ino} has been removed`);
    if (m.rec.nlink >= NLINK_MAX) throw new FsError('EMLINK', `inode ${ino} has ${m.rec.nlink} links`);
    refuse_fixed(m.rec, ino, 'a hard link');
    const { d, b } = this.name_new(parent, name);
    const now = this.clock();
    dirent_add(this.vol, parent, b, ino, dt_of(m.rec.mode));
    // a file made by tmpfile() gets its first name: no longer an orphan
    if (m.rec.nlink === 0) {
      this.vol.del(key(0, RecKind.ORPHAN, ino));
      m.linkable = false;
    }
    m.rec.nlink++;
    ctime_touch(m, now);
    this.icache.store(m);
    this.parent_touch(d, now);
    this.after_change();
    this.names_synced(d);
    return attr_of(m);
  }

  // ---- removing names -------------------------------------------------------------------------

  /** Drops one name of a non-directory inode; frees it when no name and no handle is left. */
  private name_drop(m: InodeMem, now: Timespec): void {
    assert(m.rec.nlink > 0, () => `inode ${m.ino}: dropping a name with nlink 0`);
    m.rec.nlink--;
    ctime_touch(m, now);
    if (m.rec.nlink > 0) { this.icache.store(m); return; }
    if (m.open > 0) {
      this.icache.store(m);
      this.vol.put(key(0, RecKind.ORPHAN, m.ino), Buffer.alloc(0));
      return;
    }
    this.inode_free(m);
  }

  private inode_free(m: InodeMem): void {
    inode_records_drop(this.ctx, m);
    this.icache.forget(m.ino);
    this.vol.ino_freed();
  }

  unlink(parent: number, name: Name): void {
    this.op_begin();
    const d = this.dir_get(parent);
    this.drop_prepare(parent, name);
    const b = name_buf(name);
    const e = dirent_find(this.vol, parent, b);
    if (!e) throw new FsError('ENOENT', `no entry ${JSON.stringify(b.toString())} in directory ${parent}`);
    const m = this.icache.get(e.ino);
    this.removable(d, m, 'unlink');
    if (is_dir(m.rec.mode)) throw new FsError('EISDIR', `${JSON.stringify(b.toString())} is a directory`);
    const now = this.clock();
    dirent_remove(this.vol, parent, b);
    this.parent_touch(d, now);
    this.name_drop(m, now);
    this.after_change();
    this.names_synced(d);
  }

  rmdir(parent: number, name: Name): void {
    this.op_begin();
    const d = this.dir_get(parent);
    this.prepare(4);
    const b = name_buf(name);
    if (b.length === 1 && b[0] === 0x2e) throw new FsError('EINVAL', "rmdir of '.'");
    if (is_dot(b)) throw new FsError('ENOTEMPTY', "rmdir of '..'");
    const e = dirent_find(this.vol, parent, b);
    if (!e) throw new FsError('ENOENT', `no entry ${JSON.stringify(b.toString())} in directory ${parent}`);
    const m = this.icache.get(e.ino);
    this.removable(d, m, 'rmdir');
    if (!is_dir(m.rec.mode)) throw new FsError('ENOTDIR', `${JSON.stringify(b.toString())} is not a directory`);
    if (!dir_is_empty(this.vol, e.ino)) throw new FsError('ENOTEMPTY', `directory ${JSON.stringify(b.toString())} is not empty`);
    const now = this.clock();
    dirent_remove(this.vol, parent, b);
    d.rec.nlink--;
    this.parent_touch(d, now);
    m.rec.nlink = 0;
    this.inode_free(m);
    this.after_change();
    this.names_synced(d);
  }

  /** prepare() for removing a name: a file losing its last name drops all its records. */
  private drop_prepare(dir: number, name: Name, extra = 4): void {
    let m: InodeMem | undefined;
    try {
      const e = dirent_find(this.vol, dir, name_buf(name));
      if (e) m = this.icache.get(e.ino);
    } catch (e) {
      if (!(e instanceof FsError)) throw e;
    }
    if (m === undefined) this.prepare(extra);
    else this.drop_prepare_of(m, extra + 4);
  }

  /** Is `ino` the directory `anc` or below it? */
  private is_under(ino: number, anc: number): boolean {
    for (let cur = ino, guard = 0; guard < 100000; guard++) {
      if (cur === anc) return true;
      if (cur === ROOT) return false;
      cur = this.icache.get(cur).rec.parent || ROOT;
    }
    assert(false, `directory parent chain from ${ino} does not reach the root`);
  }

  rename(op: number, oname: Name, np: number, nname: Name, flags: RenameFlags = {}): void {
    this.op_begin();
    const od = this.dir_get(op);
    const nd = this.dir_get(np);
    const ob = name_buf(oname);
    const nb = name_buf(nname);
    if (is_dot(ob) || is_dot(nb)) throw new FsError('EBUSY', "rename of '.' or '..'");
    const src = dirent_find(this.vol, op, ob);
    if (!src) throw new FsError('ENOENT', `no entry ${JSON.stringify(ob.toString())} in directory ${op}`);
    const sm = this.icache.get(src.ino);
    const dst = dirent_find(this.vol, np, nb);
    if (flags.noreplace && flags.exchange) throw new FsError('EINVAL', 'rename: NOREPLACE and EXCHANGE together');
    if (flags.whiteout && flags.exchange) throw new FsError('EINVAL', 'rename: WHITEOUT and EXCHANGE together');
    if (flags.noreplace && dst) throw new FsError('EEXIST', `${JSON.stringify(nb.toString())} exists`);
    if (flags.exchange && !dst) throw new FsError('ENOENT', `no entry ${JSON.stringify(nb.toString())} to exchange with`);
    if (is_dir(sm.rec.mode) && this.is_under(np, src.ino)) throw new FsError('EINVAL', 'cannot move a directory below itself');
    if (dst && dst.ino === src.ino) return; // two names of one inode: nothing to do
    const dm = dst ? this.icache.get(dst.ino) : undefined;
    // chattr +i and +a: a name leaves the old directory (it comes back there in an exchange)
    this.removable(od, sm, 'rename');
    if (dm !== undefined) this.removable(nd, dm, 'rename over');
    else refuse_immutable(nd.rec, np, 'a new name');
    if (flags.exchange) {
      if (is_dir(dm!.rec.mode) && this.is_under(op, dst!.ino)) throw new FsError('EINVAL', 'cannot move a directory below itself');
    } else if (dm !== undefined) {
      if (is_dir(sm.rec.mode)) {
        if (!is_dir(dm.rec.mode)) throw new FsError('ENOTDIR', `${JSON.stringify(nb.toString())} is not a directory`);
        if (!dir_is_empty(this.vol, dm.ino)) throw new FsError('ENOTEMPTY', `directory ${JSON.stringify(nb.toString())} is not empty`);
      } else if (is_dir(dm.rec.mode)) {
        throw new FsError('EISDIR', `${JSON.stringify(nb.toString())} is a directory`);
      }
    }
    // checked first, so that a full device refuses only a rename that would otherwise be made;
    // room for the records (a whiteout's inode and name too) before anything changes
    this.drop_prepare(np, nname, flags.whiteout ? 8 : 6);
    const now = this.clock();
    if (flags.exchange && dst && dm !== undefined) {
      dirent_replace(this.vol, op, ob, dst.ino, dst.type);
      dirent_replace(this.vol, np, nb, src.ino, src.type);
      if (op !== np) {
        this.dir_moved(sm, od, nd);
        this.dir_moved(dm, nd, od);
      }
      ctime_touch(sm, now); this.icache.store(sm);
      ctime_touch(dm, now); this.icache.store(dm);
      this.parent_touch(od, now);
      if (op !== np) this.parent_touch(nd, now);
      this.after_change();
      this.names_synced(od, nd);
      return;
    }
    if (dm !== undefined) {
      dirent_remove(this.vol, op, ob);
      dirent_replace(this.vol, np, nb, src.ino, src.type);
      if (is_dir(dm.rec.mode)) {
        nd.rec.nlink--;
        dm.rec.nlink = 0;
        this.inode_free(dm);
      } else {
        this.name_drop(dm, now);
      }
    } else {
      dirent_remove(this.vol, op, ob);
      dirent_add(this.vol, np, nb, src.ino, src.type);
    }
    if (op !== np) this.dir_moved(sm, od, nd);
    ctime_touch(sm, now);
    this.icache.store(sm);
    if (flags.whiteout) this.whiteout_make(op, ob, flags.whiteout.uid, flags.whiteout.gid, now);
    this.parent_touch(od, now);
    if (op !== np) this.parent_touch(nd, now);
    this.after_change();
    this.names_synced(od, nd);
  }

  /**
   * Whether a name of `m` may leave directory `d` (unlink, rmdir, rename), as Linux's
   * may_delete: not from an immutable or append-only directory, not of such an inode.
   */
  private removable(d: InodeMem, m: InodeMem, what: string): void {
    refuse_fixed(d.rec, d.ino, `${what} in the directory`);
    refuse_fixed(m.rec, m.ino, what);
  }

  /** After a change of `m` itself: durable now when it asks it (chattr +S). */
  private change_synced(m: InodeMem): void {
    if (sync_wanted(m.rec, false)) this.fsync(m.ino);
  }

  /** After a change of names in `dirs`: durable now when one of them asks it (chattr +D or +S). */
  private names_synced(...dirs: InodeMem[]): void {
    const d = dirs.find((x) => sync_wanted(x.rec, true));
    if (d !== undefined) this.fsync(d.ino);
  }

  /** The whiteout a RENAME_WHITEOUT leaves at the old name: a character device 0:0 with mode 0. */
  private whiteout_make(dir: number, b: Buffer, uid: number, gid: number, now: Timespec): void {
    const r = inode_new(S_IFCHR, uid, gid, now, 0, this.generation_new());
    const ino = this.ino_alloc();
    this.icache.create(ino, r);
    dirent_add(this.vol, dir, b, ino, dt_of(S_IFCHR));
  }

  /** A directory changed parents: its '..' and both parents' link counts follow. */
  private dir_moved(m: InodeMem, from: InodeMem, to: InodeMem): void {
    if (!is_dir(m.rec.mode)) return;
    m.rec.parent = to.ino;
    from.rec.nlink--;
    to.rec.nlink++;
    if (to.rec.nlink > NLINK_MAX) throw new FsError('EMLINK', `directory ${to.ino} would have ${to.rec.nlink} links`);
  }

  // ---- attributes -----------------------------------------------------------------------------

  /** `outside_of`: as privs_kill's, for what a truncate with `a.kill` takes (not a chown's). */
  setattr(ino: number, a: SetAttr, outside_of?: (gid: number) => boolean): Attr {
    this.op_begin();
    const m = this.icache.get(ino);
    // (kill: the capability attribute's record may go too)
    const extra = a.kill !== undefined ? 1 : 0;
    if (a.size !== undefined) this.drop_prepare_of(m, 4 + extra, m.pages.size + 1);
    else this.prepare(1 + extra);
    this.attrs_changeable(m, a);
    const now = this.clock();
    if (a.size !== undefined) {
      if (is_dir(m.rec.mode)) throw new FsError('EISDIR', `inode ${ino} is a directory`);
      if (!is_reg(m.rec.mode)) throw new FsError('EINVAL', `inode ${ino} is not a regular file`);
      file_truncate(this.ctx, m, a.size);
      this.data_changed(m);
      times_set(m.rec, 'm', now);
    }
    if (a.mode !== undefined) {
      m.rec.mode = (m.rec.mode & S_IFMT) | (a.mode & 0o7777);
      // the access ACL's owner, group class and other entries are the mode's (POSIX.1e)
      const acl = this.acl ? xattr_get(this.vol, ino, ACL_ACCESS_B) : undefined;
      if (acl !== undefined) {
        this.prepare(2);
        xattr_set(this.vol, ino, ACL_ACCESS_B, acl_encode(acl_chmod(acl_decode(acl), m.rec.mode)), 'replace');
      }
    }
    if (a.uid !== undefined) m.rec.uid = a.uid;
    if (a.gid !== undefined) m.rec.gid = a.gid;
    if (a.kill !== undefined) this.privs_drop(m, a.kill, sgid_outside(m, a.kill, outside_of));
    if (a.atime !== undefined) times_set(m.rec, 'a', a.atime === 'now' ? now : a.atime);
    if (a.mtime !== undefined) {
      // an explicit mtime wins over one a buffered write left pending
      const t = a.mtime === 'now' ? now : a.mtime;
      m.mtime = null;
      times_set(m.rec, 'm', t);
    }
    times_set(m.rec, 'c', a.ctime ?? now);
    m.ctime = null;
    this.icache.store(m);
    this.after_change();
    this.change_synced(m);
    return attr_of(m);
  }

  /**
   * chattr +i and +a against a setattr, as Linux's notify_change and truncate: no size, mode,
   * owner or explicit time changes either; times set to now (touch) on an append-only file only.
   * The times the kernel sends after buffered writes pass (an mtime with its own ctime and
   * nothing else; so does `touch -m -d` on a writeback-cache mount, which looks the same).
   */
  private attrs_changeable(m: InodeMem, a: SetAttr): void {
    if (!fixed(m.rec)) return;
    const kernelTimes = a.ctime !== undefined && a.mtime !== undefined && a.mtime !== 'now' && a.atime === undefined &&
      a.mode === undefined && a.uid === undefined && a.gid === undefined && a.size === undefined;
    if (kernelTimes) return;
    if (a.size !== undefined) refuse_fixed(m.rec, m.ino, 'truncate');
    if (a.mode !== undefined || a.uid !== undefined || a.gid !== undefined) refuse_fixed(m.rec, m.ino, 'chmod or chown');
    const set = (t: SetAttr['atime']): boolean => t !== undefined && t !== 'now';
    if (set(a.atime) || set(a.mtime)) refuse_fixed(m.rec, m.ino, 'setting times');
    if (a.atime !== undefined || a.mtime !== undefined) refuse_immutable(m.rec, m.ino, 'touching times');
  }

  // ---- privileges -----------------------------------------------------------------------------

  /**
   * What Linux takes from a file that is written (or truncated, or given away: setattr's
   * `kill`), left to the filesystem by a mount with FUSE_HANDLE_KILLPRIV_V2: its
   * security.capability attribute and, with `suidgid` (the writer lacks CAP_FSETID),
   * set-user-ID, and set-group-ID when group execute is set or the caller is outside the file's
   * group (`outside_of(gid)`, asked only for a file with set-group-ID and no group execute).
   * Directories keep theirs. Costs no lookup once the inode is known to carry no capabilities.
   * Returns whether the mode changed.
   */
  privs_kill(ino: number, suidgid: boolean, outside_of?: (gid: number) => boolean): boolean {
    const m = this.icache.get(ino);
    if (is_dir(m.rec.mode) || (!suidgid && m.noCaps)) return false;
    const outside = sgid_outside(m, suidgid, outside_of);
    if (mode_killed(m.rec.mode, suidgid, outside) === m.rec.mode && (m.noCaps || !this.caps_held(m))) return false;
    this.op_begin();
    this.prepare(2);
    const changed = this.privs_drop(m, suidgid, outside);
    ctime_touch(m, this.clock());
    this.icache.store(m);
    this.after_change();
    return changed;
  }

  /** Whether `m` carries security.capability (remembered when it does not). */
  private caps_held(m: InodeMem): boolean {
    if (m.noCaps) return false;
    const held = xattr_get(this.vol, m.ino, CAPS_B) !== undefined;
    m.noCaps = !held;
    return held;
  }

  /** privs_kill's change to `m` (the caller stores it); whether the mode changed. */
  private privs_drop(m: InodeMem, suidgid: boolean, outside = false): boolean {
    if (is_dir(m.rec.mode)) return false;
    if (this.caps_held(m)) {
      xattr_remove(this.vol, m.ino, CAPS_B);
      m.noCaps = true;
    }
    const mode = mode_killed(m.rec.mode, suidgid, outside);
    if (mode === m.rec.mode) return false;
    m.rec.mode = mode;
    return true;
  }

  // ---- data -----------------------------------------------------------------------------------

  /** Counts an open handle: an inode whose last name goes while open lives until release(). */
  open(ino: number): Attr {
    const m = this.icache.get(ino);
    m.open++;
    return attr_of(m);
  }

  release(ino: number): void {
    const m = this.icache.get(ino);
    assert(m.open > 0, () => `inode ${ino}: release without open`);
    m.open--;
    if (m.open === 0 && m.rec.nlink === 0 && !this.readOnly) {
      this.op_begin();
      this.drop_prepare_of(m, 4);
      this.inode_free(m);
      this.vol.del(key(0, RecKind.ORPHAN, ino));
      this.after_change();
    }
  }

  read(ino: number, off: number, len: number): Buffer {
    const m = this.icache.get(ino);
    if (is_dir(m.rec.mode)) throw new FsError('EISDIR', `inode ${ino} is a directory`);
    const out = file_read(this.ctx, m, off, len);
    this.atime_touch(m);
    return out;
  }

  /**
   * A stamp of inode `ino`'s data as it is now. A read planned now and finished later (the
   * mount's parallel reads) answers what it read only while data_unchanged(stamp): a write
   * answered in between may sit in the page cache, where no device write shows it.
   */
  data_stamp(ino: number): DataStamp {
    return { m: this.icache.cached(ino), gen: this.dataGen };
  }

  /** Whether nothing changed the stamped file's data since data_stamp (false when unsure). */
  data_unchanged(s: DataStamp): boolean {
    if (s.gen === this.dataGen) return true;
    // the inode was changed since (or left the cache, which may have hidden a change)
    const m = s.m;
    return m !== undefined && this.icache.cached(m.ino) === m && (m.dataGen ?? 0) <= s.gen;
  }

  private data_changed(m: InodeMem): void {
    m.dataGen = ++this.dataGen;
  }

  /**
   * read() for a caller that takes the device runs itself (the mount reads them in parallel):
   * what to copy from memory and which blocks to read, with their CRC32Cs. The plan holds as long
   * as nothing is written to the device (any write may move or reuse a block) and the file's
   * data does not change (data_stamp), and its copies must be made (plan_fill) before the engine
   * runs again. atime is set first, so that nothing this call writes comes after the plan.
   */
  read_plan(ino: number, off: number, len: number): ReadPlan {
    const m = this.icache.get(ino);
    if (is_dir(m.rec.mode)) throw new FsError('EISDIR', `inode ${ino} is a directory`);
    if (off < 0 || len < 0) throw new FsError('EINVAL', `read at ${off} of ${len} bytes`);
    this.atime_touch(m);
    return file_read_plan(this.ctx, m, off, len);
  }

  /** Whether a read of `m` now would move its atime (the atime mode's rule). */
  private atime_due(m: InodeMem, now: Timespec): boolean {
    if (this.readOnly || this.atime === 'noatime' || noatime(m.rec) || (this.nodiratime && is_dir(m.rec.mode))) return false;
    if (this.atime === 'strictatime') return true;
    const r = m.rec;
    const at = r.atime_s * 1e9 + r.atime_ns;
    const mt = (m.mtime ? m.mtime.s * 1e9 + m.mtime.ns : r.mtime_s * 1e9 + r.mtime_ns);
    const ct = (m.ctime ? m.ctime.s * 1e9 + m.ctime.ns : r.ctime_s * 1e9 + r.ctime_ns);
    return !(at > mt && at > ct && now.s - r.atime_s < 86400);
  }

  /**
   * Whether reads of `ino` from now on could move its atime: a mount that caches file data in
   * the kernel must then let the next read through (the kernel keeps no atime of its own).
   */
  atime_pending(ino: number): boolean {
    return this.atime_due(this.icache.get(ino), this.clock());
  }

  /** Whether the last read or listing of `ino` moved its atime (asked once: it resets). */
  atime_moved(ino: number): boolean {
    if (this.atimeMovedIno !== ino) return false;
    this.atimeMovedIno = 0;
    return true;
  }

  /** A read of a file or listing of a directory: atime moves as the atime mode says. */
  private atime_touch(m: InodeMem): void {
    const r = m.rec;
    const now = this.clock();
    if (!this.atime_due(m, now)) return;
    // atime is best effort: a read never fails for want of space to record it
    try {
      this.op_begin();
      this.prepare(1);
    } catch (e) {
      if (e instanceof FsError && e.code === 'ENOSPC') return;
      throw e;
    }
    times_set(r, 'a', now);
    this.icache.store(m);
    this.changedSinceCheckpoint = true;
    this.atimeMovedIno = m.ino;
  }

  write(ino: number, off: number, data: Uint8Array): number {
    this.op_begin();
    const m = this.icache.get(ino);
    if (is_dir(m.rec.mode)) throw new FsError('EISDIR', `inode ${ino} is a directory`);
    if (!is_reg(m.rec.mode)) throw new FsError('EINVAL', `inode ${ino} is not a regular file`);
    // as Linux: a write that starts below the largest file size is cut short there; one that
    // starts at or past it is EFBIG (file_write)
    if (off < FILE_SIZE_MAX && off + data.length > FILE_SIZE_MAX) data = data.subarray(0, FILE_SIZE_MAX - off);
    // an inline file changes the tree at once: room for its records first
    if (m.rec.flags & INODE_FLAG_INLINE) this.space_admit(0, 3);
    file_write(this.ctx, m, off, data);
    this.data_changed(m);
    if (data.length > 0) this.ctx.observer?.data_written(ino, off, data.length, (m.rec.flags & INODE_FLAG_INLINE) !== 0);
    m.streamBytes = off === m.streamEnd ? m.streamBytes + data.length : data.length;
    m.streamEnd = off + data.length;
    this.after_change();
    this.change_synced(m);
    return data.length;
  }

  /**
   * Streaming writeback: when `ino` was written sequentially for at least STREAM_BYTES and holds
   * that many bytes of dirty pages or more, they go to the log now. The mount calls it after answering
   * a write, so that the work of a large sequential write is spread over its requests (done while
   * the kernel prepares the next one) instead of stalling one request when dirty memory passes
   * its bound. Files written at random keep their pages until the bound, fsync or a checkpoint,
   * so that rewrites of a page in between cost nothing. Returns whether it wrote.
   */
  writeback(ino: number): boolean {
    const m = this.icache.cached(ino);
    if (m === undefined || m.streamBytes < STREAM_BYTES || m.pages.size * BLOCK_SIZE < STREAM_BYTES) return false;
    // below half the dirty limit nothing is written early: a file deleted or rewritten before the
    // timer's checkpoint costs nothing (as the kernel's dirty_background_ratio, half its
    // dirty_ratio); above it, streamed files go out in STREAM_BYTES pieces, so that reaching the
    // limit is not one long stall
    if (!this.dirty_over(1 / 2, this.dirty_limit())) return false;
    this.op_begin();
    if (m.pages.size === 0) return false; // op_begin's own flush took them
    file_flush(this.ctx, m);
    return true;
  }

  truncate(ino: number, size: number): Attr {
    return this.setattr(ino, { size });
  }

  // ---- ranges (range.ts) ----------------------------------------------------------------------

  /** A regular file for a range operation (EISDIR, ENODEV for other types, as Linux). */
  private file_of(ino: number): InodeMem {
    const m = this.icache.get(ino);
    if (is_dir(m.rec.mode)) throw new FsError('EISDIR', `inode ${ino} is a directory`);
    if (!is_reg(m.rec.mode)) throw new FsError('ENODEV', `inode ${ino} is not a regular file`);
    return m;
  }

  /**
   * fallocate(2): mode 0 (allocate, the size grows), KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE
   * (with or without KEEP_SIZE); anything else is EOPNOTSUPP. ENOSPC before anything changes
   * when the blocks to allocate do not fit. One operation: durable as a whole or not at all.
   */
  fallocate(ino: number, mode: number, off: number, len: number): Attr {
    this.op_begin();
    if ((mode & ~(FALLOC_KEEP_SIZE | FALLOC_PUNCH_HOLE | FALLOC_ZERO_RANGE)) !== 0) throw new FsError('ENOTSUP', `fallocate mode 0x${mode.toString(16)}`);
    const punch = (mode & FALLOC_PUNCH_HOLE) !== 0, zero = (mode & FALLOC_ZERO_RANGE) !== 0, keep = (mode & FALLOC_KEEP_SIZE) !== 0;
    if ((punch && !keep) || (punch && zero)) throw new FsError('ENOTSUP', `fallocate mode 0x${mode.toString(16)}: a hole is punched with KEEP_SIZE alone`);
    const m = this.file_of(ino);
    refuse_immutable(m.rec, ino, 'fallocate');
    if ((punch || zero) && fixed(m.rec)) refuse_fixed(m.rec, ino, 'punching or zeroing');
    if ((keep && !punch) && !this.sharedOk) throw new FsError('ENOTSUP', 'preallocation past the end needs a filesystem made by a newer mkfs (feature SHARED)');
    // records: a map record per chunk the range touches (one run of keys), the inode, the counters
    const chunks = Math.ceil(len / BLOCK_SIZE / MAP_SLOTS) + 2;
    if (punch) this.drop_prepare_of(m, 4, 2);
    else this.cleaner.prepare(0, this.cleaner.growth_of_run(chunks) + this.cleaner.growth_of(4));
    if (punch) range_punch(this.ctx, m, off, len);
    else if (zero) range_zero(this.ctx, m, off, len, keep);
    else range_alloc(this.ctx, m, off, len, keep);
    this.data_changed(m);
    this.after_change();
    this.change_synced(m);
    return attr_of(m);
  }

  /** lseek(2) SEEK_DATA (`data` true) or SEEK_HOLE from `off`; ENXIO at or past the end. */
  seek(ino: number, off: number, data: boolean): number {
    return range_seek(this.ctx, this.file_of(ino), off, data);
  }

  /**
   * copy_file_range(2): `len` bytes of `src` from `offIn` to `dst` at `offOut`; returns the bytes
   * copied (fewer at the end of `src`). Whole blocks are shared, not copied, where both offsets
   * sit at the same place in a block and the filesystem has the SHARED feature: the copy takes
   * no space until one side is written.
   */
  copy_range(src: number, offIn: number, dst: number, offOut: number, len: number): number {
    this.op_begin();
    const s = this.file_of(src);
    const d = this.file_of(dst);
    refuse_fixed(d.rec, dst, 'copy_file_range into it');
    // the destination's map records: one run of keys
    this.cleaner.prepare(0, this.cleaner.growth_of_run(Math.ceil(len / BLOCK_SIZE / MAP_SLOTS) + 2) + this.cleaner.growth_of(6));
    const n = range_clone(this.ctx, s, offIn, d, offOut, len, this.sharedOk);
    this.data_changed(d);
    if (n > 0) this.after_change();
    if (n > 0) this.change_synced(d);
    return n;
  }

  /** Whether blocks may be shared between files and preallocated past the end (superblock feature). */
  private get sharedOk(): boolean {
    return (this.vol.sb.features & FEATURE_SHARED) !== 0;
  }

  // ---- FITRIM ----------------------------------------------------------------------------------

  /**
   * FITRIM (fstrim): makes a checkpoint, then tells the device which of its bytes in
   * [start, start + len) no checkpoint refers to — whole free segments, in runs of at least
   * `minLen` bytes — so that an SSD or a thin image (a sparse file, a loop device over one) gets
   * them back. Free segments beyond the free space df shows are left (the cleaner's reserve,
   * written next), so what is trimmed never passes it. Returns the bytes discarded. EINVAL for a
   * start past the device, a length under a block or a minimum above the device, as ext4;
   * EOPNOTSUPP when the device does not discard.
   */
  trim(start: number, len: number, minLen: number): number {
    if (this.readOnly) throw new FsError('EROFS', 'the filesystem is read-only');
    if (this.halted) throw new FsError('EIO', 'the filesystem halted after an internal error');
    const dev = this.vol.dev;
    const g = this.vol.g;
    const devBytes = dev.blockCount * BLOCK_SIZE;
    if (start >= devBytes) throw new FsError('EINVAL', `FITRIM from byte ${start}: the device has ${devBytes}`);
    if (len < BLOCK_SIZE) throw new FsError('EINVAL', `FITRIM of ${len} bytes: less than a block`);
    if (minLen > devBytes) throw new FsError('EINVAL', `FITRIM of runs of at least ${minLen} bytes: the device has ${devBytes}`);
    if (!dev.discards) throw new FsError('ENOTSUP', `${dev.name} does not discard (FITRIM)`);
    // as f2fs: a checkpoint first, so that what was deleted before the call is free to trim (a
    // segment is free once the checkpoint that emptied it is durable)
    this.sync(Trigger.SYNC);
    const end = Math.min(devBytes, start + len);
    const segBytes = g.segBlocks * BLOCK_SIZE;
    const log = this.vol.log;
    // left untrimmed: as many free segments as the free space df shows leaves over (the
    // cleaner's reserve, which is written next, and the room kept for heads and tables)
    const free_seg = (s: number): boolean => log.seg_allocatable(s) && log.seg_valid(s) === 0;
    let freeSegs = 0;
    for (let s = 0; s < g.segCount; s++) if (free_seg(s)) freeSegs++;
    let keep = Math.max(0, freeSegs - Math.floor(this.statfs().bfree / g.segBlocks));
    let trimmed = 0;
    let run = -1, runLen = 0;
    const flush = (): void => {
      if (runLen > 0 && runLen * segBytes >= minLen) {
        dev.discard(log.seg_start(run), runLen * g.segBlocks);
        trimmed += runLen * segBytes;
      }
      run = -1;
      runLen = 0;
    };
    for (let s = 0; s < g.segCount; s++) {
      const a = log.seg_start(s) * BLOCK_SIZE;
      const free = a >= start && a + segBytes <= end && free_seg(s);
      if (free && keep > 0) { keep--; flush(); continue; }
      if (!free) { flush(); continue; }
      if (run < 0) run = s;
      runLen++;
    }
    flush();
    return trimmed;
  }

  // ---- attribute flags (chattr.ts) ------------------------------------------------------------

  /** FS_IOC_GETFLAGS: chattr's flags of `ino` as Linux's FS_*_FL bits. */
  attr_flags(ino: number): number {
    return attr_flags_get(this.icache.get(ino).rec);
  }

  /** FS_IOC_FSGETXATTR: the fsx_xflags of `ino`. */
  attr_xflags(ino: number): number {
    return attr_xflags_get(this.icache.get(ino).rec);
  }

  /** Whether `ino` is immutable (chattr +i): the mount refuses writes through handles opened before. */
  immutable(ino: number): boolean {
    return immutable(this.icache.get(ino).rec);
  }

  /** An open of `ino` that chattr +i or +a refuses (EPERM), as Linux's may_open. */
  open_check(ino: number, write: boolean, append: boolean, trunc: boolean): void {
    refuse_open(this.icache.get(ino).rec, ino, write, append, trunc);
  }

  /**
   * FS_IOC_SETFLAGS (`fl`, FS_*_FL bits) or FS_IOC_FSSETXATTR (`x`): sets chattr's flags. The
   * kernel has checked ownership and, for i and a, CAP_LINUX_IMMUTABLE. A filesystem made
   * before the feature ATTRS refuses (EOPNOTSUPP), as an older cowlog would not keep them.
   */
  attr_flags_set(ino: number, set: { fl: number } | { x: number; extsize: number; projid: number; cowextsize: number }): Attr {
    if ((this.vol.sb.features & FEATURE_ATTRS) === 0) throw new FsError('ENOTSUP', 'attribute flags (chattr) need a filesystem made by a newer mkfs (feature ATTRS)');
    this.op_begin();
    const m = this.icache.get(ino);
    this.prepare(1);
    if ('fl' in set) attr_flags_set(m.rec, set.fl);
    else attr_xflags_set(m.rec, set.x, set.extsize, set.projid, set.cowextsize);
    ctime_touch(m, this.clock());
    this.icache.store(m);
    this.after_change();
    this.change_synced(m);
    return attr_of(m);
  }

  // ---- xattrs ---------------------------------------------------------------------------------

  /**
   * `killSgid` (an access ACL only): the caller is neither in the file's group nor holds
   * CAP_FSETID, so set-group-ID goes with the change, as Linux's posix_acl_update_mode takes it.
   */
  setxattr(ino: number, name: Name, value: Uint8Array, mode: 'create' | 'replace' | 'any' = 'any', killSgid = false): void {
    this.op_begin();
    const m = this.icache.get(ino);
    refuse_fixed(m.rec, ino, 'setting an extended attribute');
    m.noCaps = false;
    if (acl_name(name)) {
      if (!this.acl) throw new FsError('ENOTSUP', `${name.toString()}: ACLs are off on this mount (noacl)`);
      const entries = acl_decode(value);
      if (name.toString() === ACL_DEFAULT && !is_dir(m.rec.mode)) throw new FsError('EACCES', 'a default ACL is for directories only');
      if (name.toString() === ACL_ACCESS) {
        // the mode follows the access ACL (the kernel checks the ACL only when the mode's
        // group bits are not 0); an ACL that says no more than the mode is not kept
        this.space_admit(0, xattr_records(value.length));
        const am = acl_mode(entries, m.rec.mode);
        m.rec.mode = killSgid ? am.mode & ~S_ISGID : am.mode;
        if (am.equiv) {
          if (xattr_get(this.vol, ino, ACL_ACCESS_B) !== undefined) xattr_remove(this.vol, ino, ACL_ACCESS_B);
        } else {
          xattr_set(this.vol, ino, ACL_ACCESS_B, Buffer.from(value), mode);
        }
        ctime_touch(m, this.clock());
        this.icache.store(m);
        this.after_change();
        return;
      }
    }
    this.space_admit(0, xattr_records(value.length));
    // user.cowlog.compress is the inode's compression flag, not a stored attribute
    if (is_compress_xattr(name)) compress_xattr_set(m.rec, value, mode);
    else xattr_set(this.vol, ino, typeof name === 'string' ? Buffer.from(name) : name, Buffer.from(value), mode);
    ctime_touch(m, this.clock());
    this.icache.store(m);
    this.after_change();
  }

  getxattr(ino: number, name: Name): Buffer {
    const v = this.getxattr_opt(ino, name);
    if (v === undefined) throw new FsError('ENODATA', `no xattr ${name.toString()} on inode ${ino}`);
    return v;
  }

  /** getxattr() answering undefined for an attribute that is not there (the kernel asks for security.capability before every write). */
  getxattr_opt(ino: number, name: Name): Buffer | undefined {
    if (is_compress_xattr(name)) return compress_xattr_get(this.icache.get(ino).rec);
    // the inode is not loaded into the cache for it: `ls -l` asks every file listed for its ACL
    if (!this.icache.exists(ino)) throw new FsError('ENOENT', `no inode ${ino}`);
    return xattr_get(this.vol, ino, typeof name === 'string' ? Buffer.from(name) : name);
  }

  /**
   * Whether inode `ino` carries no extended attribute stored in the tree (the compression
   * setting, kept in the inode, is not one of those: see COMPRESS_XATTR).
   */
  xattrs_none(ino: number): boolean {
    return xattr_none(this.vol, ino);
  }

  listxattr(ino: number): Buffer[] {
    const m = this.icache.get(ino);
    const list = xattr_list(this.vol, ino);
    if (compress_xattr_get(m.rec)) list.push(Buffer.from(COMPRESS_XATTR));
    return list;
  }

  removexattr(ino: number, name: Name): void {
    this.op_begin();
    const m = this.icache.get(ino);
    refuse_fixed(m.rec, ino, 'removing an extended attribute');
    this.prepare(2);
    if (is_compress_xattr(name)) compress_xattr_set(m.rec, null);
    else xattr_remove(this.vol, ino, typeof name === 'string' ? Buffer.from(name) : name);
    ctime_touch(m, this.clock());
    this.icache.store(m);
    this.after_change();
  }

  // ---- for tests and tools --------------------------------------------------------------------

  /** Drops cached clean inodes and nodes so the next operations read the device. */
  cache_drop(): void {
    this.icache.drop_clean();
    this.vol.cache_drop();
  }

  get dirtyBytes(): number {
    return this.ctx.dirty.bytes;
  }

  /** What the engine compressed since mount, and whether files follow lz4 by default. */
  get compression(): { on: boolean; stats: CompressStats } {
    return this.ctx.compress;
  }

  /** Whether data of files without their own user.cowlog.compress is compressed from now on (compress=, changed by a remount). */
  compress_default_set(on: boolean): void {
    this.ctx.compress.on = on;
  }
}
