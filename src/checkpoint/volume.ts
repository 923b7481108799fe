// A mounted cowlog volume: the state the other parts of checkpoint/ work on, and the surface the
// cleaner, fsck, snapshots and the file layer use — records (get/put/del), data blocks, fsync's
// redo groups and checkpoints. The work itself lives beside it, one concept per file:
//   mkfs.ts            geometry for a device, an empty filesystem
//   mount.ts           superblock, checkpoint ring, table loading and checks
//   trees.ts           which tree a mount serves (explicit, default, trial boot)
//   rollforward.ts     applying the redo chain, recovery of patched pages
//   refs.ts            data-block reference counts kept by MAP records
//   redo.ts            writing redo groups (fsync)
//   tabledir.ts        the tables, their directory, the checkpoint journal
//   checkpoint_write.ts the checkpoint itself
//   data.ts            data blocks written and read checked
//
// Invariants:
// - The device changes only at durability points: data and redo blocks written by fsync or by
//   memory pressure into free log space, and checkpoints. A crash between them loses nothing
//   that a durable checkpoint or a complete redo group names.
// - Every change to the tree goes through put()/del(): they keep data-block reference counts
//   (MAP records) and remember the key for the next redo group. Roll-forward calls the same two
//   functions, so recovery repeats exactly the accounting of the original run.
// - Each mount that may write starts a new epoch with a checkpoint, so redo blocks of an earlier,
//   interrupted epoch can never be taken for this one's.

import { Trigger, TRIGGER_COUNT } from '../device/cause.js';
import { CountedDevice } from '../device/counted.js';
import type { WriteTag } from '../device/cause.js';
import type { BlockDevice } from '../device/device.js';
import { BTree } from '../btree/btree.js';
import { key_index } from '../btree/search.js';
import { NodeCache } from '../btree/nodestore.js';
import type { LeafBody } from '../format/node.js';
import { CP_FLAG_ERRORS } from '../format/checkpoint.js';
import type { Checkpoint, CpStats } from '../format/checkpoint.js';
import { addr_in_main } from '../format/geometry.js';
import type { Geometry } from '../format/geometry.js';
import { counts_decode, counts_encode, key, key_str, map_decode, map_encode, map_names_any, MAP_SLOTS, RecKind } from '../format/records.js';
import type { Key } from '../format/records.js';
import type { Superblock } from '../format/superblock.js';
import { SNAP_FLAG_WRITABLE } from '../format/snapshot.js';
import { BOOT_FLAG_FELL_BACK, BOOT_FLAG_TRIAL, boot_problem } from '../format/boot.js';
import type { BootState } from '../format/boot.js';
import { cp_slot_addr } from '../format/geometry.js';
import type { MetaTable } from '../log/metatable.js';
import { SegLog } from '../log/segments.js';
import type { Head } from '../log/segments.js';
import { Nat } from '../nat/nat.js';
import { SnapTable } from '../roots/table.js';
import { boot_describe } from '../roots/default.js';
import { assert } from '../util/assert.js';
import { CorruptError, FsError } from '../util/errors.js';
import { nid_of } from '../util/ids.js';
import type { NodeId } from '../util/ids.js';
import { cluster_cache_drop } from './cluster_read.js';
import { clock_wall } from './clock.js';
import type { Clock } from './clock.js';
import { checkpoint_write } from './checkpoint_write.js';
import { data_read_run, data_write } from './data.js';
import { volume_format } from './mkfs.js';
import type { MkfsOptions } from './mkfs.js';
import { superblock_read, volume_open } from './mount.js';
import type { MountReport } from './mount.js';
import { RedoLog } from './redo.js';
import type { Patch } from './redo.js';
import { leaf_refs, map_refs } from './refs.js';
import { TableDir } from './tabledir.js';
import { budget_split, CACHE_BYTES_DEFAULT, CACHE_BYTES_MIN } from './budget.js';
import type { BudgetSplit } from './budget.js';
import { tree_check, tree_of } from './trees.js';

export type { MkfsOptions } from './mkfs.js';
export { geometry_for } from './mkfs.js';
export type { MountReport } from './mount.js';
export type { BootReport } from './trees.js';
export type { Patch } from './redo.js';

export interface VolumeOptions {
  readOnly?: boolean;
  clock?: Clock;
  /**
   * bytes the metadata caches may hold (budget.ts: table pages, B+tree nodes, inodes); default
   * 64 MiB whatever the device's size
   */
  cacheBytes?: number;
  /** B+tree nodes kept in memory (instead of the budget's share) */
  nodeCacheMax?: number;
  /** diagnostics (fallback to an older checkpoint, records rolled forward) */
  log?: (msg: string) => void;
  /**
   * Read-only mounts only: the last checkpoint as it is, without rolling forward the redo
   * groups written after it (mount -o norecovery); EINVAL otherwise.
   */
  noRecovery?: boolean;
  /**
   * Called when a durability point starts writing and once it is durable (after its last
   * flush). Crash tests use it to know which states the device may come back in.
   */
  onDurable?: (phase: 'begin' | 'end', what: 'checkpoint' | 'redo') => void;
  /**
   * Mount this snapshot or clone (or '@main', '@default') instead of the default tree. A snapshot
   * only read-only; a clone read-write too. Counts no trial try.
   */
  snapshot?: string;
  /**
   * Mount read-write even though fsck recorded errors in the filesystem (without it such a
   * filesystem mounts read-only, with a warning: as ext4's errors=remount-ro).
   */
  force?: boolean;
  /**
   * A boot (the FUSE server's plain mount): serve the tree on trial while tries are left and count
   * one in the checkpoint that starts the epoch, or fall back to the default once they are used
   * up (roots/default.ts). Without it a plain open serves the default tree and changes no count.
   * A read-only boot chooses the same way but records nothing.
   */
  boot?: boolean;
}

const COUNTS_KEY = key(0, RecKind.COUNTS, 0);

export class Volume {
  /** the device, through the engine's own count of writes by cause (kept in every checkpoint) */
  readonly dev: CountedDevice;
  readonly sb: Superblock;
  readonly g: Geometry;
  readonly fsid: number;
  readonly readOnly: boolean;
  readonly clock: Clock;
  /** the tables, their directory and the checkpoint journal */
  readonly tabs: TableDir;
  /** the memory budget of the metadata caches, and how it is shared between them */
  readonly budgetBytes: number;
  readonly budget: BudgetSplit;
  readonly log: SegLog;
  readonly nat: Nat;
  readonly nodes: NodeCache;
  readonly tree: BTree;
  /** the root of the tree this volume reads and changes (see `treeIndex`) */
  root: NodeId;
  /**
   * Which tree `root` is: 0 = the main tree, k = the snapshot or clone in SNAP entry k − 1. Its
   * holder (the checkpoint's root_nid, or the entry) is brought up to date at each checkpoint.
   */
  treeIndex = 0;
  /** the main tree's root while another tree is mounted (trees.ts) */
  mainRoot: NodeId = nid_of(0);
  /**
   * Which tree a plain mount serves and a trial of another (roots/default.ts). Changed in memory
   * by snapshot operations and written by the next checkpoint, like the SNAP table.
   */
  boot: BootState;
  readonly snaps: SnapTable;
  /** the last durable checkpoint */
  seq: number;
  slot: number;
  /** the volume counters (stored in the tree's COUNTS record by counts_store) */
  nextIno: number;
  inodes: number;
  /** tree changes since the last redo group or checkpoint, and the redo chain of this epoch */
  readonly redo: RedoLog;
  /** bumped whenever the cleaner moves data blocks: readers holding map records look again */
  moveGen = 0;
  /**
   * fsck or the mount found errors (the checkpoint flag ERRORS): every checkpoint carries it on until an
   * fsck that finds none clears it
   */
  errors: boolean;
  /**
   * Set by the file layer: work a checkpoint must do first (write the pages fsync only logged as
   * patches), and how many blocks that writes (part of what the checkpoint needs).
   */
  beforeCheckpoint: (() => void) | null = null;
  beforeCheckpointBlocks: () => number = () => 0;
  /** pages rolled forward from patches that a read-only mount keeps in memory: ino → block → page */
  readonly replayPages = new Map<number, Map<number, Buffer>>();
  /** statistics for info and benchmarks */
  readonly stats = {
    checkpoints: 0, redoGroups: 0, redoBlocks: 0, dataBlocksWritten: 0, tableBlocksWritten: 0, nodesWritten: 0,
    /** checkpoints written by this volume, by Trigger */
    checkpointsBy: new Array<number>(TRIGGER_COUNT).fill(0),
  };
  /** counters since mkfs, kept in every checkpoint (the cleaner adds to them) */
  readonly totals: CpStats;
  /** slack-space blocks already added to totals.blocksRecycled (checkpoint_write.ts) */
  recycledSeen = 0;
  readonly mount: MountReport;
  readonly msg: (m: string) => void;
  readonly onDurable: (phase: 'begin' | 'end', what: 'checkpoint' | 'redo') => void;
  private closed = false;
  /** roll-forward in progress: a read-only volume applies fsync groups in memory */
  private replaying = false;

  /** Built by mkfs.ts and mount.ts only (through Volume.format and Volume.open). */
  private constructor(dev: BlockDevice, sb: Superblock, cp: Checkpoint, opts: VolumeOptions, report: MountReport) {
    this.dev = new CountedDevice(dev, { blocks: cp.writes.blocks.slice(), requests: cp.writes.requests.slice(), checkpoints: cp.writes.checkpoints.slice() });
    this.sb = sb;
    this.g = sb.geometry;
    this.fsid = sb.uuid.readUInt32LE(0);
    this.readOnly = opts.readOnly ?? false;
    this.clock = opts.clock ?? clock_wall();
    this.msg = opts.log ?? (() => {});
    this.onDurable = opts.onDurable ?? (() => {});
    this.mount = report;
    this.budgetBytes = Math.max(CACHE_BYTES_MIN, opts.cacheBytes ?? CACHE_BYTES_DEFAULT);
    this.budget = budget_split(this.budgetBytes);
    this.tabs = new TableDir(this.dev, this.fsid, this.g, cp, this.budget.tablePages);
    const t = this.tabs.tables;
    this.log = new SegLog(this.g, t[1]!, t[2]!, t[3]!, cp.heads);
    this.nat = new Nat(t[0]!);
    this.nodes = new NodeCache(this.dev, this.nat, this.log, this.fsid, this.g.fanout, {
      leaf_shared: (b) => leaf_refs(this.log, b, +1),
      leaf_dropped: (b) => leaf_refs(this.log, b, -1),
    }, opts.nodeCacheMax ?? this.budget.nodes, opts.nodeCacheMax === undefined ? this.budget.nodeBytes : Infinity);
    this.tree = new BTree(this.nodes);
    this.snaps = new SnapTable(t[4]!);
    this.root = nid_of(cp.rootNid);
    this.treeIndex = cp.tree;
    this.boot = { ...cp.boot };
    this.seq = cp.seq;
    this.slot = cp.slot;
    this.nextIno = cp.nextIno;
    this.inodes = cp.inodes;
    this.redo = new RedoLog(cp.redoStart);
    this.errors = (cp.flags & CP_FLAG_ERRORS) !== 0;
    this.totals = { ...cp.stats };
    this.log.durable_set(cp.seq);
  }

  private static make(dev: BlockDevice, sb: Superblock, cp: Checkpoint, opts: VolumeOptions, report: MountReport): Volume {
    return new Volume(dev, sb, cp, opts, report);
  }

  // ---- formatting and mounting (mkfs.ts, mount.ts) -------------------------------------------

  /**
   * Formats `dev`. `init` fills the empty tree (the file layer creates the root directory) before
   * the first checkpoint is written.
   */
  static format(dev: BlockDevice, o: MkfsOptions, init: (v: Volume) => void): Superblock {
    return volume_format(dev, o, Volume.make, init);
  }

  /** Reads the superblock (block 0, or its copy at block 1). */
  static superblock_read(dev: BlockDevice): Superblock {
    return superblock_read(dev);
  }

  static open(dev: BlockDevice, opts: VolumeOptions = {}): Volume {
    return volume_open(dev, opts, Volume.make);
  }

  /** The metadata tables (NAT, RCT, SUT, SST, SNAP, DIR). */
  get tables(): readonly MetaTable[] {
    return this.tabs.tables;
  }

  /**
   * Reads what the checkpoint lists of the tables (the top directory and the journal), then the
   * counters kept beside them: the segment usage summary (one pass over the SUT), the NAT's.
   */
  tables_load(cp: Checkpoint): void {
    this.tabs.load(cp);
    this.log.load(cp.validBlocks);
    this.nat.load(cp.natUsed, cp.nextNid);
  }

  // ---- trees ---------------------------------------------------------------------------------

  /** The main tree's root. */
  main_root(): NodeId {
    return this.treeIndex === 0 ? this.root : this.mainRoot;
  }

  /** Every tree root held: the mounted tree's, then the main tree's (if another), then the snapshots'. */
  roots(): NodeId[] {
    const out: NodeId[] = [this.root];
    if (this.treeIndex !== 0) out.push(this.mainRoot);
    for (const e of this.snaps.list()) if (e.index !== this.treeIndex - 1) out.push(nid_of(e.rootNid));
    return out;
  }

  /**
   * Whether overwriting data block `a` of the mounted tree may leave it held by another root, so
   * that the overwrite takes a block without freeing one. `bornMax` comes from held_birth_max()
   * (0: the mounted tree is the only root, and holds all it maps alone).
   */
  block_held(a: number, bornMax: number): boolean {
    // a block shared by two files (a clone) is held by the other one, snapshots or not
    return this.log.refs(a) > 1 || (bornMax > 0 && this.log.summary(a).birth <= bornMax);
  }

  /**
   * Blocks born at or before this checkpoint may be held by another root: 0 with no snapshot
   * or clone. A snapshot holds only blocks born by its checkpoint; a clone takes blocks after
   * its creation that a rollback can share with the mounted tree, so with a clone every block
   * counts as possibly held.
   */
  held_birth_max(): number {
    let max = 0;
    // asked on every write: a scan of the used entries, no copy of the table
    for (const e of this.snaps.used()) {
      if (e.flags & SNAP_FLAG_WRITABLE) return Infinity;
      if (e.seq > max) max = e.seq;
    }
    return max;
  }

  /** The root of SNAP entry `index` (the mounted tree's current root if it is that one). */
  snap_root(index: number): NodeId {
    if (index === this.treeIndex - 1) return this.root;
    const e = this.snaps.at(index);
    assert(e !== null, () => `SNAP entry ${index} is free`);
    return nid_of(e.rootNid);
  }

  /** The tree `name` names (trees.ts): 0 for '@main', entry + 1 for a snapshot or clone. */
  tree_of(name: string): number {
    return tree_of(this, name);
  }

  /** The tree `name` names, if this volume may mount it (ENOENT, EROFS otherwise). */
  tree_check(name: string): number {
    return tree_check(this, name);
  }

  /** The boot state in one line (cowlog info, the mount's log). */
  boot_describe(): string {
    return boot_describe(this.snaps, this.boot);
  }

  /** A snapshot operation changed the boot state: the next checkpoint writes it. */
  boot_set(b: BootState): void {
    const bad = boot_problem(b);
    assert(bad === null, () => `boot state ${JSON.stringify(b)}: ${bad}`);
    this.boot = b;
  }

  /** Whether a trial is pending, or the last one fell back. */
  get bootFlags(): { trial: boolean; fellBack: boolean } {
    return { trial: (this.boot.flags & BOOT_FLAG_TRIAL) !== 0, fellBack: (this.boot.flags & BOOT_FLAG_FELL_BACK) !== 0 };
  }

  /**
   * Replaces the mounted tree's root (rollback). The caller has taken a reference on `root` and
   * decides what becomes of the old one; the volume counters are read from the new tree. The
   * caller writes a checkpoint before anything else changes.
   */
  root_replace(root: NodeId): void {
    this.writable();
    this.root = root;
    this.redo.clear();
    this.counts_load();
  }

  // ---- records ------------------------------------------------------------------------------

  /** Reads the volume counters from the tree (they follow roll-forward there). */
  counts_load(): void {
    const rec = this.get(COUNTS_KEY);
    if (!rec) throw new CorruptError('checkpoint', cp_slot_addr(this.slot), 'the volume counters record is missing from the tree');
    const c = this.decode(COUNTS_KEY, rec, counts_decode);
    this.nextIno = c.nextIno;
    this.inodes = c.inodes;
  }

  /** Stores the volume counters (after an inode is created or freed). */
  counts_store(): void {
    this.put(COUNTS_KEY, counts_encode({ nextIno: this.nextIno, inodes: this.inodes }));
  }

  /** Takes the next inode number (never reused) and counts one more inode; ENOSPC when none is left. */
  ino_take(): number {
    const ino = this.nextIno;
    if (ino > 0xfffffffe) throw new FsError('ENOSPC', 'inode numbers exhausted');
    this.nextIno = ino + 1;
    this.inodes++;
    this.counts_store();
    return ino;
  }

  /** An inode was freed. */
  ino_freed(): void {
    assert(this.inodes > 0, 'inode count underflow');
    this.inodes--;
    this.counts_store();
  }

  /** The cleaner emptied a segment, moving `blocks` live blocks (counted since mkfs). */
  cleaned_note(segments: number, blocks: number): void {
    this.totals.segmentsCleaned += segments;
    this.totals.blocksMoved += blocks;
  }

  get(k: Key): Buffer | undefined {
    return this.tree.get(this.root, k);
  }

  /**
   * Decodes a record value read from the tree. A value that does not decode, inside a node whose
   * CRC was fine, is corruption too: report it naming the leaf that holds the record.
   */
  decode<T>(k: Key, v: Buffer, fn: (b: Buffer) => T): T {
    try {
      return fn(v);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      throw new CorruptError('B+tree leaf', this.leaf_addr(k), `record ${key_str(k)}: ${e.message}`);
    }
  }

  /** The block of the leaf that holds (or would hold) key k. */
  leaf_addr(k: Key): number {
    return this.nat.addr(this.leaf_of(this.root, k));
  }

  /** The leaf of the tree at `root` that holds (or would hold) key k. */
  leaf_of(root: NodeId, k: Key): NodeId {
    const nid = this.tree.leaf_of(root, k);
    if (nid === null) throw new CorruptError('B+tree node', this.nat.addr(root), `tree under root ${root} deeper than any tree can be`);
    return nid;
  }

  /**
   * The cleaner moved data blocks of one map chunk: points every leaf, in every tree, that maps
   * a moved block at its new address — in place, without copying shared leaves, because what the
   * leaf means does not change (the same bytes, elsewhere). Each patched leaf is rewritten at the
   * checkpoint that ends the cleaning round, and every tree sharing it sees the new address
   * through the NAT: sharing is kept. Returns how many leaf slots were patched per moved block.
   */
  data_relocate(ino: number, chunk: number, moves: { slot: number; from: number; to: number }[]): number[] {
    this.writable();
    const k = key(ino, RecKind.MAP, chunk);
    const patched = moves.map(() => 0);
    const done = new Set<NodeId>();
    for (const root of this.roots()) {
      const nid = this.leaf_of(root, k);
      if (done.has(nid)) continue;
      done.add(nid);
      const leaf = this.nodes.get(nid) as LeafBody;
      const i = key_index(leaf.keys, k);
      if (i < 0) continue;
      const m = this.decode(k, leaf.vals[i]!, map_decode);
      let changed = false;
      moves.forEach((mv, j) => {
        if (m.addr[mv.slot] !== mv.from) return;
        m.addr[mv.slot] = mv.to;
        patched[j]!++;
        changed = true;
      });
      if (!changed) continue;
      // values are never changed in place: the leaf gets a new one
      leaf.vals[i] = map_encode(m);
      this.nodes.dirty(nid);
    }
    this.moveGen++;
    return patched;
  }

  /**
   * data_relocate for shared blocks (SUB_SHARED: clones map them at other inodes and offsets):
   * every leaf of every tree is looked through, each once, and every slot still naming a moved
   * block is pointed at its copy, in place. Returns how many slots were patched per block. Its
   * cost is a walk of every leaf: the price of sharing blocks between files, paid only by
   * cleaning rounds that move such a block.
   */
  data_relocate_shared(moves: Map<number, number>): Map<number, number> {
    this.writable();
    const patched = new Map<number, number>();
    const seen = new Set<NodeId>();
    for (const root of this.roots()) {
      this.tree.leaves(root, seen, (nid, leaf) => {
        for (let i = 0; i < leaf.keys.length; i++) {
          const k = leaf.keys[i]!;
          if (k.kind !== RecKind.MAP) continue;
          // most records name no moved block: only those that do are decoded
          if (!map_names_any(leaf.vals[i]!, moves)) continue;
          const m = this.decode(k, leaf.vals[i]!, map_decode);
          for (let s = 0; s < MAP_SLOTS; s++) {
            const a = m.addr[s]!;
            const to = moves.get(a);
            if (to === undefined) continue;
            m.addr[s] = to;
            patched.set(a, (patched.get(a) ?? 0) + 1);
          }
          leaf.vals[i] = map_encode(m);
          this.nodes.dirty(nid);
        }
      });
    }
    this.moveGen++;
    return patched;
  }

  scan(lo: Key, hi: Key, fn: (k: Key, v: Buffer) => boolean | void): void {
    this.tree.scan(this.root, lo, hi, fn);
  }

  /** Nodes of the live tree holding keys in [lo, hi] (BTree.range_nodes). */
  range_nodes(lo: Key, hi: Key): number {
    return this.tree.range_nodes(this.root, lo, hi);
  }

  put(k: Key, v: Buffer): void {
    this.writable();
    if (k.kind === RecKind.MAP) {
      const before = this.get(k);
      map_refs(this.log, k, before ? this.decode(k, before, map_decode) : null, map_decode(v));
    }
    this.root = this.tree.put(this.root, k, v);
    this.redo.note(k);
  }

  del(k: Key): Buffer | undefined {
    this.writable();
    const r = this.tree.del(this.root, k);
    this.root = r.root;
    if (r.old !== undefined) {
      if (k.kind === RecKind.MAP) map_refs(this.log, k, this.decode(k, r.old, map_decode), null);
      this.redo.note(k);
    }
    return r.old;
  }

  /** Runs roll-forward's changes (rollforward.ts): a read-only volume applies them in memory. */
  replay_apply(fn: () => void): void {
    this.replaying = true;
    try {
      fn();
    } finally {
      this.replaying = false;
    }
  }

  private writable(): void {
    // roll-forward changes only the tree in memory; a read-only volume never writes it out
    if (this.readOnly && !this.replaying) throw new FsError('EROFS', 'the filesystem is mounted read-only');
    if (this.tabs.failed !== null) throw new FsError('EIO', `the filesystem stopped changing after a damaged table block: ${this.tabs.failed}; run cowlog fsck`);
    assert(!this.closed, 'volume used after close');
  }

  // ---- data blocks (data.ts) -----------------------------------------------------------------

  /**
   * Writes data blocks to the log head `head` (consecutive addresses go out as one request) and
   * returns where each went and its CRC32C. The caller records them in MAP records.
   */
  data_write(head: Head, blocks: Buffer[], tag: WriteTag): { addr: number; csum: number }[] {
    this.writable();
    const out = data_write(this.dev, this.log, head, blocks, tag);
    this.stats.dataBlocksWritten += blocks.length;
    return out;
  }

  /** Reads a data block and checks it against the CRC32C its map records. */
  data_read(addr: number, csum: number, ino: number, idx: number): Buffer {
    return data_read_run(this.dev, this.g, addr, 1, [csum], 0, ino, idx);
  }

  /**
   * Reads `count` data blocks at consecutive addresses from `addr` in one request and checks
   * block j against csums[at + j]; they are blocks idx .. idx + count - 1 of inode `ino`.
   */
  data_read_run(addr: number, count: number, csums: ArrayLike<number>, at: number, ino: number, idx: number): Buffer {
    return data_read_run(this.dev, this.g, addr, count, csums, at, ino, idx);
  }

  // ---- durability (redo.ts, checkpoint_write.ts) ---------------------------------------------

  /** Bytes the next redo group would take (an estimate used to decide on a checkpoint instead). */
  redo_pending_bytes(): number {
    return this.redo.pending_bytes((k) => this.get(k));
  }

  /** Whether the next redo group already carries key k. */
  redo_pending(k: Key): boolean {
    return this.redo.pending(k);
  }

  /** Keys the next redo group would carry (Infinity once more than the limit changed: only a checkpoint makes them durable). */
  get redo_pending_keys(): number {
    return this.redo.pendingKeys;
  }

  /** Whether more keys changed since the last checkpoint than a redo group may carry. */
  get redo_overflowed(): boolean {
    return this.redo.overflowed;
  }

  /** Pending keys past which they are let go and fsync writes a checkpoint instead. */
  redo_limit(keys: number): void {
    this.redo.keysMax = keys;
  }

  /**
   * Makes every tree change so far durable without a checkpoint: writes them as one redo group
   * (the fsync mark is the group's last block) and flushes the device. Data blocks the records
   * name were written before and are covered by the same flush; roll-forward checks their CRCs.
   * `ino`: the file whose fsync this is (its redo blocks are written for it), 0 for none.
   */
  redo_flush(patches: Patch[] = [], ino = 0): void {
    this.writable();
    this.onDurable('begin', 'redo');
    if (this.redo.pendingKeys === 0 && patches.length === 0) {
      this.dev.flush();
      this.onDurable('end', 'redo');
      return;
    }
    const blocks = this.redo.write(this.dev, this.log, this.fsid, this.seq, (k) => this.get(k), patches, ino);
    this.dev.flush();
    this.redo.clear();
    this.onDurable('end', 'redo');
    this.stats.redoGroups++;
    this.stats.redoBlocks += blocks;
  }

  /**
   * Writes a checkpoint: every dirty node and table block, then the next slot of the ring.
   * `trigger` says what called for it (counted in stats and carried by the header's write tag).
   */
  checkpoint(clean: boolean, trigger: Trigger): void {
    this.writable();
    checkpoint_write(this, clean, trigger);
  }

  /**
   * Writes the final (clean) checkpoint, unless `checkpoint` is false (a filesystem remounted
   * read-only wrote its clean checkpoint then). The device stays open: whoever opened it closes it.
   */
  close(checkpoint = !this.readOnly): void {
    if (this.closed) return;
    // after a damaged table block nothing more is written: the last checkpoint stays the word
    if (checkpoint && this.tabs.failed === null) this.checkpoint(true, Trigger.UNMOUNT);
    this.closed = true;
  }

  /** Drops the volume without writing anything (after a simulated power cut). */
  abandon(): void {
    this.closed = true;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** For tests: forget cached clean nodes so the next reads come from the device. */
  cache_drop(): void {
    this.nodes.drop_clean();
    this.tabs.cache.drop_clean();
    cluster_cache_drop(this);
  }

  /** The journal blocks of the last durable checkpoint (fsck counts them as held). */
  journal_addrs(): readonly number[] {
    return this.tabs.journalAddrs;
  }

  /** A node id's block address (fsck and the cleaner). */
  node_addr(nid: NodeId): number {
    return this.nat.addr(nid);
  }

  addr_valid(a: number): boolean {
    return addr_in_main(this.g, a);
  }
}
