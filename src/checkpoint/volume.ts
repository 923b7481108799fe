// A mounted cowlog volume: the tables, the node cache, the live tree, and the two ways state
// becomes durable — checkpoints (batched root flips) and roll-forward (redo) records written by
// fsync.
//
// Invariants:
// - The device changes only at durability points: data and redo blocks written by fsync or by
//   memory pressure into free log space, and checkpoints. A crash between them loses nothing
//   that a durable checkpoint or a complete redo group names.
// - Every change to the tree goes through put()/del(): they keep data-block reference counts
//   (MAP records) and remember the key for the next redo group. Roll-forward calls the same two
//   functions, so recovery repeats exactly the accounting of the original run.
// - A checkpoint is written in two phases, each ended by a flush: first everything it names
//   (nodes, table blocks, directory blocks), then the checkpoint slot. The slot ring rotates, so
//   the previous checkpoint stays intact and mount can fall back to it.
// - Each mount that may write starts a new epoch with a checkpoint, so redo blocks of an earlier,
//   interrupted epoch can never be taken for this one's.

import { BLOCK_SIZE, device_writev } from '../device/device.js';
import { Cause, tag_of, Trigger, TRIGGER_COUNT } from '../device/cause.js';
import { CountedDevice, write_counts_zero } from '../device/counted.js';
import type { WriteCounts } from '../device/counted.js';
import type { WriteTag } from '../device/cause.js';
import type { BlockDevice } from '../device/device.js';
import { BTree } from '../btree/btree.js';
import { NodeCache } from '../btree/nodestore.js';
import type { LeafBody } from '../format/node.js';
import {
  CP_FLAG_CLEAN, cp_encode, cp_header_decode, cp_journal_decode, HEAD_COUNT, journal_block_capacity, journal_capacity_bytes,
  journal_entry_bytes, journal_pack,
} from '../format/checkpoint.js';
import type { Checkpoint, CheckpointHeader, CpStats, HeadState, JournalEntry } from '../format/checkpoint.js';
import {
  cp_slot_addr, DIR_PER_BLOCK, FORMAT_VERSION, geometry_derive, TABLE_COUNT, TABLE_NAMES,
  cp_slots_default, INLINE_MAX_DEFAULT, MAX_SNAPSHOTS_DEFAULT, reserve_segs_default, seg_blocks_default, main_start_for,
} from '../format/geometry.js';
import type { Geometry } from '../format/geometry.js';
import { counts_decode, counts_encode, inode_decode, inode_encode, key, key_cmp, key_str, map_decode, map_encode, map_names_any, map_new, MAP_SLOTS, RecKind } from '../format/records.js';
import type { Key, MapChunk } from '../format/records.js';
import { REDO_BODY_BYTES, redo_decode, redo_encode, REDO_DEL, REDO_FLAG_GROUP_END, REDO_PATCH, REDO_PUT, redo_rec_bytes } from '../format/redo.js';
import type { RedoRecord } from '../format/redo.js';
import { FEATURE_COMPRESS_LZ4, FEATURE_SHARED, sb_decode, sb_encode } from '../format/superblock.js';
import type { Superblock } from '../format/superblock.js';
import { dir_block_decode, dir_block_encode, table_block_decode, table_block_encode } from '../format/table.js';
import { MetaTable, DIRTY_FULL } from '../log/metatable.js';
import { BlockKind, Head, SegLog, SUB_SHARED } from '../log/segments.js';
import { Nat } from '../nat/nat.js';
import { assert } from '../util/assert.js';
import { crc32c } from '../util/crc32c.js';
import { block_read, cluster_cache_drop, cluster_compressed, cluster_raw, cluster_start } from './cluster_read.js';
import { CLUSTER_BLOCKS } from '../format/cluster.js';
import { CorruptError, FsError } from '../util/errors.js';
import { nid_of } from '../util/ids.js';
import { SnapTable } from '../snap/table.js';
import type { SnapInfo } from '../snap/table.js';
import { SNAP_FLAG_WRITABLE } from '../format/snapshot.js';
import { BOOT_FLAG_FELL_BACK, BOOT_FLAG_TRIAL, BOOT_NONE } from '../format/boot.js';
import type { BootState } from '../format/boot.js';
import { boot_choose, boot_describe, tree_name, TREE_DEFAULT, TREE_MAIN } from '../snap/default.js';
import type { BootKind } from '../snap/default.js';
import type { NodeId } from '../util/ids.js';
import { clock_wall, timespec_ms } from './clock.js';
import type { Clock } from './clock.js';
import { randomBytes } from 'node:crypto';

export interface MkfsOptions {
  segBlocks?: number;
  fanout?: number;
  inlineMax?: number;
  reserveSegs?: number;
  cpSlots?: number;
  maxSnapshots?: number;
  label?: string;
  uuid?: Buffer;
  clock?: Clock;
  /** what new files are compressed with unless the mount or their directory says otherwise (default none) */
  compress?: 'lz4' | 'none';
}

/** Bytes of one file block made durable by fsync without writing the block (see REDO_PATCH). */
export interface Patch {
  ino: number;
  /** byte offset in the file; off .. off + bytes.length stays inside one 4 KiB block */
  off: number;
  gen: number;
  bytes: Buffer;
}

export interface VolumeOptions {
  readOnly?: boolean;
  clock?: Clock;
  /** clean B+tree nodes kept in memory */
  nodeCacheMax?: number;
  /** diagnostics (fallback to an older checkpoint, records rolled forward) */
  log?: (msg: string) => void;
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
   * A boot (the FUSE server's plain mount): serve the tree on trial while tries are left and count
   * one in the checkpoint that starts the epoch, or fall back to the default once they are used
   * up (snap/default.ts). Without it a plain open serves the default tree and changes no count.
   * A read-only boot chooses the same way but records nothing.
   */
  boot?: boolean;
}

/** How a mount chose the tree it serves. */
export interface BootReport {
  kind: BootKind;
  /** the tree served: '@main' or a SNAP entry's name */
  tree: string;
  /** a trial boot: this try's number and the tries the trial has */
  tryNo: number;
  tries: number;
  /** a fallback: the tree whose trial ran out */
  failed: string | null;
  /** whether the mount's checkpoint recorded the try or the fallback (false when read-only) */
  counted: boolean;
}

export interface MountReport {
  /** the checkpoint mounted */
  seq: number;
  /** newer checkpoints that were damaged and skipped, with why */
  skipped: string[];
  /** whether the checkpoint mounted was written by a clean unmount */
  clean: boolean;
  /** redo groups (fsyncs) rolled forward and records applied */
  groups: number;
  records: number;
  /** why roll-forward stopped where it did */
  redoStop: string;
  /** which tree the mount serves, and why */
  boot: BootReport;
}

const DEFAULT_FANOUT = 256;
const BOOT_REPORT_NEW: BootReport = Object.freeze({ kind: 'default', tree: TREE_MAIN, tryNo: 0, tries: 0, failed: null, counted: false });
const COUNTS_KEY = key(0, RecKind.COUNTS, 0);

/** Builds the geometry mkfs would choose for a device of `blockCount` blocks. */
export function geometry_for(blockCount: number, o: MkfsOptions = {}): Geometry {
  const segBlocks = o.segBlocks ?? seg_blocks_default(blockCount);
  const cpSlots = o.cpSlots ?? cp_slots_default(segBlocks);
  const segCount = Math.floor((blockCount - main_start_for(segBlocks, cpSlots)) / segBlocks);
  return geometry_derive({
    blockCount,
    segBlocks,
    cpSlots,
    reserveSegs: o.reserveSegs ?? reserve_segs_default(Math.max(0, segCount)),
    fanout: o.fanout ?? DEFAULT_FANOUT,
    inlineMax: o.inlineMax ?? INLINE_MAX_DEFAULT,
    maxSnapshots: o.maxSnapshots ?? MAX_SNAPSHOTS_DEFAULT,
  });
}

/** One buffer holding `parts` in order: a view when they are already adjacent in memory. */
/**
 * Blocks as few pieces as possible: consecutive blocks that are also adjacent in memory (pages of
 * one page-cache slab) become one view, so a run of the log goes out as one request of a few
 * large parts and nothing is copied.
 */
function blocks_coalesce(blocks: readonly Buffer[], from: number, count: number): Buffer[] {
  const parts: Buffer[] = [];
  let start = blocks[from]!;
  let len = BLOCK_SIZE;
  for (let j = from + 1; j < from + count; j++) {
    const b = blocks[j]!;
    if (b.buffer === start.buffer && b.byteOffset === start.byteOffset + len) { len += BLOCK_SIZE; continue; }
    parts.push(len === start.length ? start : Buffer.from(start.buffer, start.byteOffset, len));
    start = b;
    len = BLOCK_SIZE;
  }
  parts.push(len === start.length ? start : Buffer.from(start.buffer, start.byteOffset, len));
  return parts;
}

/** What mkfs writes besides its checkpoints: the zeroed metadata area and the superblocks (counted ahead). */
function format_writes(g: Geometry): WriteCounts {
  const w = write_counts_zero();
  w.blocks[Cause.FORMAT] = g.mainStart + 2;
  w.requests[Cause.FORMAT] = 2;
  return w;
}

/** What a checkpoint header says that its geometry makes impossible, or null. */
function cp_geometry_check(h: Checkpoint, g: Geometry): string | null {
  if (h.dir.length !== g.dirBlocks) return `lists ${h.dir.length} directory blocks, the geometry has ${g.dirBlocks}`;
  for (let i = 0; i < h.heads.length; i++) {
    const hd = h.heads[i]!;
    if (hd.seg < -1 || hd.seg >= g.segCount || hd.off > g.segBlocks || (hd.seg === -1 && hd.off !== 0)) return `log head ${i} at segment ${hd.seg} offset ${hd.off} is outside the geometry`;
  }
  const mainEnd = g.mainStart + g.segCount * g.segBlocks;
  if (h.redoStart !== 0 && (h.redoStart < g.mainStart || h.redoStart >= mainEnd)) return `redo chain starts at ${h.redoStart}, outside the log`;
  for (const a of h.dir) if (a !== 0 && (a < g.mainStart || a >= mainEnd)) return `directory block at ${a}, outside the log`;
  if (h.nextNid >= g.tables[0]!.entries) return `next node id ${h.nextNid} beyond the NAT`;
  return null;
}

/** A map record changed: patched pages of the slots it changed are superseded. */
function overlay_invalidate(overlay: Map<number, Map<number, unknown>>, k: Key, before: Buffer | undefined, after: Buffer | undefined): void {
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

/** What roll-forward read (in memory), for recovery to write out. */
interface Replayed {
  pages: Map<number, Map<number, Buffer>>;
  chainSegs: Set<number>;
}

function key_id(k: Key): string {
  return `${k.ino}:${k.kind}:${k.off}`;
}

export class Volume {
  /** the device, through the engine's own count of writes by cause (kept in every checkpoint) */
  readonly dev: CountedDevice;
  readonly sb: Superblock;
  readonly g: Geometry;
  readonly fsid: number;
  readonly readOnly: boolean;
  readonly clock: Clock;
  readonly tables: MetaTable[];
  /** address of every table block (index = table's dirBase + block), 0 = not on disk */
  readonly dir: Uint32Array;
  /** addresses of the directory blocks */
  readonly cpDir: number[];
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
  /** the main tree's root while another tree is mounted */
  private mainRoot: NodeId = nid_of(0);
  /**
   * Which tree a plain mount serves and a trial of another (snap/default.ts). Changed in memory
   * by snapshot operations and written by the next checkpoint, like the SNAP table.
   */
  boot: BootState;
  readonly snaps: SnapTable;
  /** the last durable checkpoint */
  seq: number;
  slot: number;
  nextIno: number;
  inodes: number;
  /** directory blocks the cleaner asked to move */
  private readonly dirRelocate = new Set<number>();
  /** keys changed since the last redo group or checkpoint */
  private readonly redoDirty = new Map<string, Key>();
  private redoIndex = 0;
  private redoStart = 0;
  /** bumped whenever the cleaner moves data blocks: readers holding map records look again */
  moveGen = 0;
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
  /** the journal blocks of the last durable checkpoint (freed when the next one supersedes them) */
  private journalAddrs: number[];
  private recycledSeen = 0;
  readonly mount: MountReport;
  private readonly msg: (m: string) => void;
  private readonly onDurable: (phase: 'begin' | 'end', what: 'checkpoint' | 'redo') => void;
  private closed = false;
  /** roll-forward in progress: a read-only volume applies fsync groups in memory */
  private replaying = false;

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
    this.tables = this.g.tables.map((t) => new MetaTable(t));
    this.dir = new Uint32Array(this.g.tableBlocks);
    this.cpDir = cp.dir.slice();
    this.log = new SegLog(this.g, this.tables[1]!, this.tables[2]!, this.tables[3]!, cp.heads);
    this.nat = new Nat(this.tables[0]!);
    this.nodes = new NodeCache(this.dev, this.nat, this.log, this.fsid, this.g.fanout, {
      leaf_shared: (b) => this.leaf_refs(b, +1),
      leaf_dropped: (b) => this.leaf_refs(b, -1),
    }, opts.nodeCacheMax);
    this.tree = new BTree(this.nodes);
    this.snaps = new SnapTable(this.tables[4]!);
    this.root = nid_of(cp.rootNid);
    this.treeIndex = cp.tree;
    this.boot = { ...cp.boot };
    this.seq = cp.seq;
    this.slot = cp.slot;
    this.nextIno = cp.nextIno;
    this.inodes = cp.inodes;
    this.redoStart = cp.redoStart;
    this.journalAddrs = cp.journalAddrs.slice();
    this.totals = { ...cp.stats };
    this.log.durable_set(cp.seq);
  }

  // ---- formatting ----------------------------------------------------------------------------

  /**
   * Formats `dev`. `init` fills the empty tree (the file layer creates the root directory) before
   * the first checkpoint is written. The superblock is written last, so an interrupted mkfs never
   * leaves something that looks like a cowlog filesystem.
   */
  static format(dev: BlockDevice, o: MkfsOptions, init: (v: Volume) => void): Superblock {
    const g = geometry_for(dev.blockCount, o);
    const uuid = o.uuid ?? randomBytes(16);
    if (uuid.readUInt32LE(0) === 0) uuid.writeUInt32LE(1, 0);
    const clock = o.clock ?? clock_wall();
    const now = clock();
    const sb: Superblock = {
      version: FORMAT_VERSION, geometry: g, uuid, createdMs: timespec_ms(now), label: o.label ?? '',
      features: FEATURE_SHARED | (o.compress === 'lz4' ? FEATURE_COMPRESS_LZ4 : 0),
    };
    // the metadata area: no stale superblock or checkpoint of an earlier filesystem survives
    const zeros = Buffer.alloc(g.mainStart * BLOCK_SIZE);
    dev.write(0, zeros, tag_of(Cause.FORMAT));
    const heads: HeadState[] = Array.from({ length: HEAD_COUNT }, () => ({ seg: -1, off: 0 }));
    const cp0: Checkpoint = {
      fsid: uuid.readUInt32LE(0), seq: 0, slot: g.cpSlots - 1, flags: 0, timeMs: 0, rootNid: 0, nextIno: 2, nextNid: 1,
      inodes: 0, validBlocks: 0, redoStart: 0, heads, dir: new Array(g.dirBlocks).fill(0), journal: [], journalAddrs: [],
      stats: { segmentsCleaned: 0, blocksMoved: 0, blocksRecycled: 0, checkpoints: 0 }, tree: 0, boot: { ...BOOT_NONE },
      writes: format_writes(g),
    };
    const report: MountReport = { seq: 0, skipped: [], clean: true, groups: 0, records: 0, redoStop: 'new filesystem', boot: BOOT_REPORT_NEW };
    const v = new Volume(dev, sb, cp0, { clock }, report);
    v.root = v.tree.create_empty();
    init(v);
    // two checkpoints, so that even a new filesystem has one to fall back to
    v.checkpoint(true, Trigger.MKFS);
    v.checkpoint(true, Trigger.MKFS);
    dev.write(0, Buffer.concat([sb_encode(sb, 0), sb_encode(sb, 1)]), tag_of(Cause.FORMAT));
    dev.flush();
    return sb;
  }

  // ---- mounting ------------------------------------------------------------------------------

  /** Reads the superblock (block 0, or its copy at block 1). */
  static superblock_read(dev: BlockDevice): Superblock {
    if (dev.blockCount < 2) throw new FsError('EINVAL', `${dev.name}: not a cowlog filesystem (${dev.blockCount * BLOCK_SIZE} bytes is too small to hold one)`);
    const both = dev.read(0, 2);
    const errors: string[] = [];
    for (const a of [0, 1]) {
      try {
        return sb_decode(both.subarray(a * BLOCK_SIZE, (a + 1) * BLOCK_SIZE), a);
      } catch (e) {
        // a sound superblock of another format version: the other copy says the same
        if (e instanceof FsError && !(e instanceof CorruptError)) throw new FsError(e.code, `${dev.name}: ${e.message.replace(/^[A-Z0-9]+: /, '')}`);
        errors.push((e as Error).message);
      }
    }
    const sig = both.toString('latin1', 8, 16);
    if (sig !== 'COWLOGFS' && both.toString('latin1', BLOCK_SIZE + 8, BLOCK_SIZE + 16) !== 'COWLOGFS') {
      throw new FsError('EINVAL', `${dev.name}: not a cowlog filesystem (no cowlog superblock at block 0 or 1)`);
    }
    throw new CorruptError('superblock', 0, `both copies damaged: ${errors.join('; ')}`);
  }

  static open(dev: BlockDevice, opts: VolumeOptions = {}): Volume {
    const sb = Volume.superblock_read(dev);
    const g = sb.geometry;
    if (g.blockCount > dev.blockCount) {
      throw new FsError('EINVAL', `${dev.name}: the filesystem needs ${g.blockCount} blocks but the device has ${dev.blockCount}`);
    }
    const fsid = sb.uuid.readUInt32LE(0);
    const cands: CheckpointHeader[] = [];
    const skipped: string[] = [];
    for (let s = 0; s < g.cpSlots; s++) {
      const a = cp_slot_addr(s);
      try {
        const h = cp_header_decode(dev.read(a), a, fsid);
        if (h.slot !== s) { skipped.push(`slot ${s}: header says slot ${h.slot}`); continue; }
        const bad = cp_geometry_check(h, g);
        if (bad) throw new CorruptError('checkpoint', a, bad);
        cands.push(h);
      } catch (e) {
        if (!(e instanceof CorruptError) || !/all zeros/.test(e.message)) skipped.push((e as Error).message);
      }
    }
    cands.sort((a, b) => b.seq - a.seq);
    const failures: string[] = [];
    // Only reading happens inside the loop: a checkpoint that fails to load is skipped for an
    // older one. Once one has loaded, nothing falls back any more: recovery writes.
    let found: { v: Volume; replayed: Replayed } | null = null;
    for (const h of cands) {
      try {
        const mainEnd = g.mainStart + g.segCount * g.segBlocks;
        for (const a of h.journalAddrs) if (a < g.mainStart || a >= mainEnd) throw new CorruptError('checkpoint', cp_slot_addr(h.slot), `journal block at ${a}, outside the log`);
        const jblocks = h.journalAddrs.map((a) => dev.read(a));
        h.journal = cp_journal_decode(fsid, h.seq, h.journalCrcs, jblocks, h.journalAddrs, h.journalEntries);
        const report: MountReport = { seq: h.seq, skipped: failures.slice(), clean: (h.flags & CP_FLAG_CLEAN) !== 0, groups: 0, records: 0, redoStop: '', boot: BOOT_REPORT_NEW };
        const v = new Volume(dev, sb, h, opts, report);
        v.tables_load(h);
        found = { v, replayed: v.replay() };
        break;
      } catch (e) {
        if (!(e instanceof FsError)) throw e;
        failures.push(`checkpoint ${h.seq}: ${e.message}`);
      }
    }
    if (found) {
      const v = found.v;
      if (failures.length) v.msg(`checkpoint ${v.seq} mounted; newer ones were damaged: ${failures.join('; ')}`);
      // chosen (and a snapshot that cannot be mounted so refused) before anything is written
      const pick = v.mount_pick(opts);
      v.recover(found.replayed);
      v.tree_switch(pick.tree);
      v.mount.boot = pick.report;
      // One checkpoint starts the epoch: it names the tree served (the redo chain applies to it)
      // and holds the try counted or the fallback noted, so a power cut before it is durable
      // leaves everything as it was, and the next mount chooses again the same way.
      if (!v.readOnly) {
        v.boot = pick.next;
        v.checkpoint(false, Trigger.MOUNT);
      }
      return v;
    }
    const why = [...failures, ...skipped];
    throw new CorruptError('checkpoint', cp_slot_addr(0), `no valid checkpoint in ${g.cpSlots} slots${why.length ? ` (${why.join('; ')})` : ''}`);
  }

  /** Loads the table directory, every table block, then the checkpoint's journal over them. */
  private tables_load(cp: Checkpoint): void {
    for (let di = 0; di < this.cpDir.length; di++) {
      const a = this.cpDir[di]!;
      if (a === 0) continue;
      this.main_addr_check(a, 'table directory');
      dir_block_decode(this.dev.read(a), a, di, this.dir, this.fsid);
    }
    for (let t = 0; t < TABLE_COUNT; t++) {
      const mt = this.tables[t]!;
      const geom = mt.geom;
      for (let bi = 0; bi < geom.blocks; bi++) {
        const a = this.dir[geom.dirBase + bi]!;
        if (a === 0) continue;
        this.main_addr_check(a, `${TABLE_NAMES[t]} table`);
        table_block_decode(geom, this.dev.read(a), a, bi, mt.bytes, this.fsid);
      }
      mt.dirty.clear();
    }
    for (const e of cp.journal) {
      const mt = this.tables[e.table]!;
      if (e.index >= mt.geom.entries) throw new CorruptError('checkpoint journal', cp.journalAddrs[0] ?? cp_slot_addr(cp.slot), `entry ${e.index} of table ${TABLE_NAMES[e.table]} is outside it`);
      mt.entry_set(e.index, e.data);
    }
    const { mismatches } = this.log.valid_recount();
    if (mismatches.length) {
      const s = mismatches[0]!;
      throw new CorruptError('segment usage table', this.dir[this.g.tables[2]!.dirBase + Math.floor(s / this.g.tables[2]!.perBlock)] ?? 0,
        `segment ${s} records ${this.log.seg_valid(s)} valid blocks but the reference counts give another number (${mismatches.length} segments disagree)`);
    }
    this.nat.recount(cp.nextNid);
    const snapGeom = this.g.tables[4]!;
    this.snaps.load((i) => this.dir[snapGeom.dirBase + Math.floor(i / snapGeom.perBlock)] ?? 0);
    if (this.root === 0 || this.nat.refs(this.root) === 0) throw new CorruptError('checkpoint', cp_slot_addr(cp.slot), `tree root node ${this.root} is not in the NAT`);
    for (const e of this.snaps.list()) {
      if (this.nat.refs(nid_of(e.rootNid)) === 0) throw new CorruptError('SNAP table', this.dir[snapGeom.dirBase + Math.floor(e.index / snapGeom.perBlock)] ?? 0, `snapshot ${JSON.stringify(e.name)}: root node ${e.rootNid} is not in the NAT`);
    }
    const b = this.boot;
    for (const [what, k] of [['default tree', b.defaultTree], ['tree on trial', b.flags !== 0 ? b.trialTree : 0]] as const) {
      if (k === 0) continue;
      const e = this.snaps.at(k - 1);
      if (!e || (e.flags & SNAP_FLAG_WRITABLE) === 0) throw new CorruptError('checkpoint', cp_slot_addr(cp.slot), `names SNAP entry ${k - 1} as the ${what}, which is not a clone`);
    }
    if (this.treeIndex !== 0) {
      const e = this.snaps.at(this.treeIndex - 1);
      if (!e || (e.flags & SNAP_FLAG_WRITABLE) === 0) throw new CorruptError('checkpoint', cp_slot_addr(cp.slot), `names SNAP entry ${this.treeIndex - 1} as the tree it writes, which is not a clone`);
      this.mainRoot = this.root;
      this.root = nid_of(e.rootNid);
    }
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

  /**
   * The tree `name` names: '@main' (0), '@default' (the default tree) or a snapshot or clone
   * (its entry + 1); ENOENT naming what exists otherwise.
   */
  tree_of(name: string): number {
    if (name === TREE_MAIN) return 0;
    if (name === TREE_DEFAULT) return this.boot.defaultTree;
    return this.snaps.must(name).index + 1;
  }

  /** The tree `name` names, if this volume may mount it (ENOENT, EROFS otherwise). */
  tree_check(name: string): number {
    const k = this.tree_of(name);
    const e = k === 0 ? null : this.snaps.at(k - 1)!;
    if (e && !this.readOnly && (e.flags & SNAP_FLAG_WRITABLE) === 0) {
      throw new FsError('EROFS', `snapshot ${JSON.stringify(e.name)} is read-only: mount it read-only, or clone it and mount the clone`);
    }
    return k;
  }

  /**
   * Which tree this mount serves and the boot state its first checkpoint writes: the tree named
   * explicitly, the choice of a boot (a try counted, or the fallback), or the default tree.
   */
  private mount_pick(opts: VolumeOptions): { tree: number; next: BootState; report: BootReport } {
    const b = this.boot;
    if (opts.snapshot !== undefined) {
      const k = this.tree_check(opts.snapshot);
      return { tree: k, next: b, report: { kind: 'explicit', tree: tree_name(this.snaps, k), tryNo: 0, tries: 0, failed: null, counted: false } };
    }
    if (!opts.boot) {
      return { tree: b.defaultTree, next: b, report: { kind: 'default', tree: tree_name(this.snaps, b.defaultTree), tryNo: 0, tries: 0, failed: null, counted: false } };
    }
    const c = boot_choose(b);
    const counted = !this.readOnly && c.kind !== 'default';
    const report: BootReport = {
      kind: c.kind, tree: tree_name(this.snaps, c.tree), tryNo: c.tryNo, tries: c.kind === 'default' ? 0 : b.trialTries,
      failed: c.kind === 'fallback' ? tree_name(this.snaps, b.trialTree) : null, counted,
    };
    const ro = this.readOnly ? ' (read-only: not recorded)' : '';
    if (c.kind === 'trial') this.msg(`serving ${report.tree} on trial: mount ${c.tryNo} of ${b.trialTries}${ro}; 'cowlog snapshot mark-good' makes it the default`);
    if (c.kind === 'fallback') this.msg(`the trial of ${report.failed} ran out after ${b.trialTries} mount${b.trialTries > 1 ? 's' : ''} without mark-good: serving the default ${report.tree} again${ro}`);
    return { tree: c.tree, next: c.next, report };
  }

  /** The boot state in one line (cowlog info, the mount's log). */
  boot_describe(): string {
    return boot_describe(this.snaps, this.boot);
  }

  /** Whether a trial is pending, or the last one fell back. */
  get bootFlags(): { trial: boolean; fellBack: boolean } {
    return { trial: (this.boot.flags & BOOT_FLAG_TRIAL) !== 0, fellBack: (this.boot.flags & BOOT_FLAG_FELL_BACK) !== 0 };
  }

  /**
   * Makes tree `k` the mounted one (mount only, before the checkpoint that starts the epoch): a
   * writable volume's checkpoint then names it, so that the redo chain of the new epoch applies
   * to it, and writes out what recovery left in the tree served before.
   */
  private tree_switch(k: number): void {
    if (k === this.treeIndex) return;
    // pages roll-forward rebuilt belong to the tree the checkpoint named, not to this one
    this.replayPages.clear();
    // recovery's changes to the old tree are written by the checkpoint that follows, not as redo
    this.redoDirty.clear();
    if (this.treeIndex === 0) this.mainRoot = this.root;
    else this.snaps.root_set(this.treeIndex - 1, this.root);
    this.root = k === 0 ? this.mainRoot : nid_of(this.snaps.at(k - 1)!.rootNid);
    this.treeIndex = k;
    this.counts_load();
  }

  /**
   * Replaces the mounted tree's root (rollback). The caller has taken a reference on `root` and
   * decides what becomes of the old one; the volume counters are read from the new tree. The
   * caller writes a checkpoint before anything else changes.
   */
  root_replace(root: NodeId): void {
    this.writable();
    this.root = root;
    this.redoDirty.clear();
    this.counts_load();
  }

  private main_addr_check(a: number, kind: string): void {
    if (a < this.g.mainStart || a >= this.g.mainStart + this.g.segCount * this.g.segBlocks) {
      throw new CorruptError(kind, a, 'address outside the main area');
    }
  }

  /** Rolls forward the redo chain of this epoch, in memory. */
  private replay(): Replayed {
    const chainSegs = new Set<number>();
    const pages = this.redo_replay(chainSegs);
    this.counts_load();
    return { pages, chainSegs };
  }

  /**
   * Makes what roll-forward rebuilt part of the tree, for the checkpoint that starts the new epoch
   * (Volume.open writes it). If anything was rolled forward (or the last unmount was not clean)
   * the log heads are abandoned first: blocks past them may hold rolled-forward data.
   */
  private recover({ pages, chainSegs }: Replayed): void {
    if (this.readOnly) {
      for (const [ino, m] of pages) this.replayPages.set(ino, m);
      return;
    }
    if (!this.mount.clean || this.mount.groups > 0) {
      this.log.heads_abandon();
      for (const s of chainSegs) this.log.seg_pin(s);
    }
    this.pages_write(pages);
  }

  /**
   * Applies this epoch's complete redo groups. Returns the pages their patches leave: each
   * patched block's content (its mapped block, or zeros, with the patches laid over), for inodes
   * that still exist, have not shrunk since (data_gen), and whose block was not rewritten since.
   */
  private redo_replay(chainSegs: Set<number>): Map<number, Map<number, Buffer>> {
    let addr = this.redoStart;
    let index = 0;
    let group: RedoRecord[] = [];
    const rep = this.mount;
    rep.redoStop = 'end of chain';
    const overlay = new Map<number, Map<number, { gen: number; page: Buffer }>>();
    const mainEnd = this.g.mainStart + this.g.segCount * this.g.segBlocks;
    for (let guard = 0; guard < this.g.segCount * this.g.segBlocks; guard++) {
      if (addr < this.g.mainStart || addr >= mainEnd) { rep.redoStop = `next address ${addr} outside the log`; break; }
      let rb;
      try {
        rb = redo_decode(this.dev.read(addr), addr, this.fsid);
      } catch (e) {
        if (!(e instanceof FsError)) throw e;
        rep.redoStop = index === 0 ? 'no redo block written since the checkpoint' : `block ${index} at ${addr}: ${e.message}`;
        break;
      }
      if (rb.epoch !== this.seq || rb.index !== index) {
        rep.redoStop = index === 0 ? 'no redo block written since the checkpoint' : `block at ${addr} is from epoch ${rb.epoch} index ${rb.index}, not ${this.seq}/${index}`;
        break;
      }
      chainSegs.add(this.log.seg_of(addr));
      group.push(...rb.records);
      index++;
      if (rb.flags & REDO_FLAG_GROUP_END) {
        const bad = this.redo_group_check(group);
        if (bad) { rep.redoStop = `fsync group ${rep.groups + 1} incomplete: ${bad}`; break; }
        // a read-only volume rolls forward in memory too (it never writes the result out)
        this.replaying = true;
        try {
          for (const r of group) {
            if (r.op === REDO_PATCH) continue;
            // a block written whole in this group supersedes what earlier patches left of it
            if (r.key.kind === RecKind.MAP) overlay_invalidate(overlay, r.key, this.get(r.key), r.op === REDO_PUT ? r.value : undefined);
            if (r.op === REDO_PUT) this.put(r.key, r.value);
            else this.del(r.key);
          }
        } finally {
          this.replaying = false;
        }
        for (const r of group) if (r.op === REDO_PATCH) this.patch_apply(overlay, r);
        rep.groups++;
        rep.records += group.length;
        group = [];
      }
      addr = rb.next;
    }
    if (group.length && !/incomplete/.test(rep.redoStop)) rep.redoStop += ` (an unfinished fsync group of ${group.length} records was dropped)`;
    if (rep.groups) this.msg(`rolled forward ${rep.groups} fsync groups (${rep.records} records); stopped: ${rep.redoStop}`);
    this.redoDirty.clear();
    // what survives: the inode exists, has not shrunk since the patch, and still reaches the block
    const out = new Map<number, Map<number, Buffer>>();
    for (const [ino, pages] of overlay) {
      const rec = this.get(key(ino, RecKind.INODE, 0));
      if (!rec) continue;
      const inode = this.decode(key(ino, RecKind.INODE, 0), rec, inode_decode);
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
  private patch_apply(overlay: Map<number, Map<number, { gen: number; page: Buffer }>>, r: RedoRecord): void {
    const ino = r.key.ino;
    const idx = Math.floor(r.key.off / BLOCK_SIZE);
    const at = r.key.off % BLOCK_SIZE;
    const gen = r.value.readUInt32LE(0);
    let pages = overlay.get(ino);
    if (!pages) { pages = new Map(); overlay.set(ino, pages); }
    let e = pages.get(idx);
    if (!e || e.gen !== gen) {
      const chunk = this.get(key(ino, RecKind.MAP, Math.floor(idx / MAP_SLOTS)));
      const m = chunk ? this.decode(key(ino, RecKind.MAP, Math.floor(idx / MAP_SLOTS)), chunk, map_decode) : null;
      const page = block_read(this, m, ino, idx);
      e = { gen, page };
      pages.set(idx, e);
    }
    r.value.copy(e.page, at, 4);
  }

  /** Writes the pages roll-forward rebuilt as blocks, as a flush would (after the heads moved on). */
  private pages_write(pages: Map<number, Map<number, Buffer>>): void {
    for (const [ino, m] of pages) {
      const ik = key(ino, RecKind.INODE, 0);
      const inode = this.decode(ik, this.get(ik)!, inode_decode);
      const chunk_get = (c: number): MapChunk | null => {
        const old = this.get(key(ino, RecKind.MAP, c));
        return old ? this.decode(key(ino, RecKind.MAP, c), old, map_decode) : null;
      };
      // a patched block of a compressed cluster: the whole cluster is written out plain (the
      // rest of its blocks from the cluster), which keeps recovery simple and rare work
      for (const idx of [...m.keys()]) {
        const mc = chunk_get(Math.floor(idx / MAP_SLOTS));
        if (!cluster_compressed(mc, idx)) continue;
        const raw = cluster_raw(this, mc!, ino, idx);
        const cs = cluster_start(idx);
        for (let j = 0; j * BLOCK_SIZE < raw.length; j++) if (!m.has(cs + j)) m.set(cs + j, Buffer.from(raw.subarray(j * BLOCK_SIZE, (j + 1) * BLOCK_SIZE)));
      }
      const idxs = [...m.keys()].sort((a, b) => a - b);
      const placed = this.data_write(Head.WARM_DATA, idxs.map((i) => m.get(i)!), { cause: Cause.RECOVERY, ino });
      // one map record per chunk, stored once all its slots changed (a cluster's shape holds
      // only then)
      let chunk = -1;
      let mc: MapChunk | null = null;
      const put = (): void => {
        if (mc) this.put(key(ino, RecKind.MAP, chunk), map_encode(mc));
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
      this.put(ik, inode_encode(inode));
    }
  }

  /** Every data block a group's MAP records newly point at must hold the data they name. */
  private redo_group_check(group: RedoRecord[]): string | null {
    for (const r of group) {
      if (r.op !== REDO_PUT || r.key.kind !== RecKind.MAP) continue;
      let m;
      try {
        m = map_decode(r.value);
      } catch (e) {
        return `bad map record ${key_str(r.key)}: ${(e as Error).message}`;
      }
      const old = this.get(r.key);
      const om = old ? this.decode(r.key, old, map_decode) : null;
      for (let i = 0; i < MAP_SLOTS; i++) {
        const a = m.addr[i]!;
        if (a === 0 || (om && om.addr[i] === a)) continue;
        if (a < this.g.mainStart || a >= this.g.mainStart + this.g.segCount * this.g.segBlocks) return `data address ${a} outside the log`;
        if (crc32c(this.dev.read(a)) !== m.csum[i]) return `data block ${a} of inode ${r.key.ino} does not hold what the record names`;
      }
    }
    return null;
  }

  // ---- records ------------------------------------------------------------------------------

  /** Reads the volume counters from the tree (they follow roll-forward there). */
  private counts_load(): void {
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
    let nid = root;
    for (let depth = 0; depth < 64; depth++) {
      const n = this.nodes.get(nid);
      if (n.level === 0) return nid;
      const inner = n as { keys: Key[]; kids: NodeId[] };
      let lo = 1, hi = inner.keys.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (key_cmp(inner.keys[mid]!, k) <= 0) lo = mid + 1;
        else hi = mid;
      }
      nid = inner.kids[lo - 1]!;
    }
    throw new CorruptError('B+tree node', this.nat.addr(root), `tree under root ${root} deeper than 64 levels`);
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
      let lo = 0, hi = leaf.keys.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (key_cmp(leaf.keys[mid]!, k) < 0) lo = mid + 1;
        else hi = mid;
      }
      if (lo >= leaf.keys.length || key_cmp(leaf.keys[lo]!, k) !== 0) continue;
      const m = this.decode(k, leaf.vals[lo]!, map_decode);
      let changed = false;
      moves.forEach((mv, j) => {
        if (m.addr[mv.slot] !== mv.from) return;
        m.addr[mv.slot] = mv.to;
        patched[j]!++;
        changed = true;
      });
      if (!changed) continue;
      // values are never changed in place: the leaf gets a new one
      leaf.vals[lo] = map_encode(m);
      this.nodes.dirty(nid);
    }
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
    if (k.kind === RecKind.MAP) this.map_refs(k, this.get(k), v);
    this.root = this.tree.put(this.root, k, v);
    this.redoDirty.set(key_id(k), k);
  }

  del(k: Key): Buffer | undefined {
    this.writable();
    const r = this.tree.del(this.root, k);
    this.root = r.root;
    if (r.old !== undefined) {
      if (k.kind === RecKind.MAP) this.map_refs(k, r.old, undefined);
      this.redoDirty.set(key_id(k), k);
    }
    return r.old;
  }

  /** Reference-count changes for a MAP record going from `before` to `after`. */
  private map_refs(k: Key, before: Buffer | undefined, after: Buffer | undefined): void {
    const o = before ? this.decode(k, before, map_decode) : null;
    const n = after ? map_decode(after) : null;
    for (let i = 0; i < MAP_SLOTS; i++) {
      const oa = o ? o.addr[i]! : 0;
      const na = n ? n.addr[i]! : 0;
      if (oa === na) continue;
      if (na !== 0) {
        const idx = k.off * MAP_SLOTS + i;
        if (this.log.refs(na) === 0) {
          this.log.summary_set(na, { kind: BlockKind.DATA, sub: 0, owner: k.ino, offset: idx, birth: this.log.birth });
        } else {
          // mapped at another (inode, offset) than its summary names: a clone (range.ts); the
          // cleaner and fsck then look for all its holders. Roll-forward comes here too.
          const sm = this.log.summary(na);
          if (sm.sub !== SUB_SHARED && (sm.owner !== k.ino || sm.offset !== idx)) this.log.summary_set(na, { ...sm, sub: SUB_SHARED });
        }
        this.log.ref_inc(na);
      }
      if (oa !== 0) this.log.ref_dec(oa);
    }
  }

  /** A leaf copied from (+1) or dropped by (-1) a shared tree: its data blocks follow. */
  private leaf_refs(b: LeafBody, d: 1 | -1): void {
    for (let i = 0; i < b.keys.length; i++) {
      if (b.keys[i]!.kind !== RecKind.MAP) continue;
      const m = map_decode(b.vals[i]!);
      for (let s = 0; s < MAP_SLOTS; s++) {
        const a = m.addr[s]!;
        if (a === 0) continue;
        if (d > 0) this.log.ref_inc(a);
        else this.log.ref_dec(a);
      }
    }
  }

  private writable(): void {
    // roll-forward changes only the tree in memory; a read-only volume never writes it out
    if (this.readOnly && !this.replaying) throw new FsError('EROFS', 'the filesystem is mounted read-only');
    assert(!this.closed, 'volume used after close');
  }

  // ---- data blocks ---------------------------------------------------------------------------

  /**
   * Writes data blocks to the log head `head` (consecutive addresses go out as one request) and
   * returns where each went and its CRC32C. The caller records them in MAP records.
   */
  data_write(head: Head, blocks: Buffer[], tag: WriteTag): { addr: number; csum: number }[] {
    this.writable();
    const out: { addr: number; csum: number }[] = [];
    let k = 0;
    for (const run of this.log.alloc_runs(head, blocks.length)) {
      for (let j = 0; j < run.count; j++) {
        const b = blocks[k + j]!;
        assert(b.length === BLOCK_SIZE, () => `data block of ${b.length} bytes`);
        out.push({ addr: run.addr + j, csum: crc32c(b) });
      }
      device_writev(this.dev, run.addr, blocks_coalesce(blocks, k, run.count), tag);
      k += run.count;
    }
    this.stats.dataBlocksWritten += blocks.length;
    return out;
  }

  /** Reads a data block and checks it against the CRC32C its map records. */
  data_read(addr: number, csum: number, ino: number, idx: number): Buffer {
    return this.data_read_run(addr, 1, [csum], 0, ino, idx);
  }

  /**
   * Reads `count` data blocks at consecutive addresses from `addr` in one request and checks
   * block j against csums[at + j]; they are blocks idx .. idx + count - 1 of inode `ino` (for
   * the messages).
   */
  data_read_run(addr: number, count: number, csums: ArrayLike<number>, at: number, ino: number, idx: number): Buffer {
    const end = this.g.mainStart + this.g.segCount * this.g.segBlocks;
    if (addr < this.g.mainStart || addr + count > end) {
      throw new CorruptError('data', addr, count === 1
        ? `inode ${ino} block ${idx} maps to an address outside the log`
        : `inode ${ino} blocks ${idx}..${idx + count - 1} map to addresses outside the log`);
    }
    const b = this.dev.read(addr, count);
    for (let j = 0; j < count; j++) {
      if (crc32c(b, j * BLOCK_SIZE, (j + 1) * BLOCK_SIZE) !== csums[at + j]) {
        throw new FsError('EIO', `data block at address ${addr + j} (inode ${ino}, file block ${idx + j}) fails its CRC32C check`);
      }
    }
    return b;
  }

  // ---- roll-forward records (fsync) ----------------------------------------------------------

  /** Bytes the next redo group would take (an estimate used to decide on a checkpoint instead). */
  redo_pending_bytes(): number {
    let n = 0;
    for (const k of this.redoDirty.values()) n += 14 + (this.get(k)?.length ?? 0);
    return n;
  }

  /** Whether the next redo group already carries key k. */
  redo_pending(k: Key): boolean {
    return this.redoDirty.has(key_id(k));
  }

  get redo_pending_keys(): number {
    return this.redoDirty.size;
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
    if (this.redoDirty.size === 0 && patches.length === 0) {
      this.dev.flush();
      this.onDurable('end', 'redo');
      return;
    }
    const keys = [...this.redoDirty.values()].sort(key_cmp);
    const records: RedoRecord[] = keys.map((k) => {
      const v = this.get(k);
      return v === undefined ? { op: REDO_DEL, key: k, value: Buffer.alloc(0) } : { op: REDO_PUT, key: k, value: v };
    });
    for (const p of patches) {
      const value = Buffer.alloc(4 + p.bytes.length);
      value.writeUInt32LE(p.gen, 0);
      p.bytes.copy(value, 4);
      records.push({ op: REDO_PATCH, key: key(p.ino, 0, p.off), value });
    }
    const blocks: RedoRecord[][] = [[]];
    let used = 0;
    for (const r of records) {
      const sz = redo_rec_bytes(r);
      if (used + sz > REDO_BODY_BYTES) { blocks.push([]); used = 0; }
      blocks[blocks.length - 1]!.push(r);
      used += sz;
    }
    blocks.forEach((records, i) => {
      const addr = this.log.alloc(Head.REDO);
      const next = this.log.peek(Head.REDO);
      const buf = redo_encode({
        fsid: this.fsid, epoch: this.seq, index: this.redoIndex++, addr, next,
        flags: i === blocks.length - 1 ? REDO_FLAG_GROUP_END : 0, records,
      });
      // a block carrying patches was written for small writes of file data (and the records
      // of the same fsync); one with records alone for changes of the tree
      const cause = records.some((r) => r.op === REDO_PATCH) ? Cause.REDO_PATCH : Cause.REDO;
      this.dev.write(addr, buf, ino !== 0 ? { cause, ino } : tag_of(cause));
    });
    this.dev.flush();
    this.redoDirty.clear();
    this.onDurable('end', 'redo');
    this.stats.redoGroups++;
    this.stats.redoBlocks += blocks.length;
  }

  // ---- checkpoints ---------------------------------------------------------------------------

  /**
   * Writes a checkpoint: every dirty node and table block, then the next slot of the ring.
   * `trigger` says what called for it (counted in stats and carried by the header's write tag).
   */
  checkpoint(clean: boolean, trigger: Trigger): void {
    this.writable();
    this.stats.checkpointsBy[trigger]!++;
    this.onDurable('begin', 'checkpoint');
    this.beforeCheckpoint?.();
    const newSeq = this.seq + 1;
    if (this.treeIndex !== 0) this.snaps.root_set(this.treeIndex - 1, this.root);
    const redoStart = this.log.peek(Head.REDO);
    this.stats.nodesWritten += this.nodes.flush_all();
    const assigned = this.tables_assign(newSeq);
    const slot = (this.slot + 1) % this.g.cpSlots;
    this.totals.checkpoints++;
    this.totals.blocksRecycled += this.log.ssrBlocks - this.recycledSeen;
    this.recycledSeen = this.log.ssrBlocks;
    const cp: Checkpoint = {
      fsid: this.fsid, seq: newSeq, slot, flags: clean ? CP_FLAG_CLEAN : 0, timeMs: timespec_ms(this.clock()),
      rootNid: this.main_root(), nextIno: this.nextIno, nextNid: this.nat.cursor_hint, inodes: this.inodes,
      validBlocks: this.log.validBlocks, redoStart, heads: this.log.heads.map((h) => ({ ...h })), dir: this.cpDir.slice(),
      journal: assigned.entries, journalAddrs: assigned.journalAddrs, stats: { ...this.totals }, tree: this.treeIndex, boot: { ...this.boot },
      writes: this.writes_with_header(trigger),
    };
    const enc = cp_encode(cp);
    this.tables_write(newSeq, assigned.written, assigned.dirs, enc.journal.map((buf, i) => ({ addr: assigned.journalAddrs[i]!, buf })));
    this.dev.flush();
    this.dev.write(cp_slot_addr(slot), enc.header, { cause: Cause.CHECKPOINT, detail: trigger });
    this.dev.flush();
    this.journalAddrs = assigned.journalAddrs;
    this.seq = newSeq;
    this.slot = slot;
    this.log.durable_set(newSeq);
    this.redoDirty.clear();
    this.redoIndex = 0;
    this.redoStart = redoStart;
    this.stats.checkpoints++;
    this.onDurable('end', 'checkpoint');
  }

  /**
   * Decides, for every dirty table block, whether its changed entries ride in the checkpoint's
   * journal or the block is rewritten; gives rewritten blocks (and the directory blocks listing
   * them) new addresses. Allocating changes the tables again, so this runs to a fixed point; it
   * ends because every block is given an address at most once and journal sets only grow.
   */
  private tables_assign(newSeq: number): { entries: JournalEntry[]; written: Set<number>; dirs: Set<number>; journalAddrs: number[] } {
    const cap = journal_capacity_bytes();
    const decided = new Map<number, number>(); // global block index → journaled entry count, or -1 = written
    const written = new Set<number>();
    const dirAssigned = new Set<number>();
    const dirDirty = new Set<number>(this.dirRelocate);
    this.dirRelocate.clear();
    let jbytes = 0;
    // the previous checkpoint's journal is superseded by this one's
    for (const a of this.journalAddrs) this.log.ref_dec(a);
    const journalAddrs: number[] = [];
    for (let round = 0; ; round++) {
      assert(round < 10000, 'table assignment does not converge');
      let progress = this.log.prefree_pass(newSeq) > 0;
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
        {
          const prev = decided.get(gi);
          if (prev === -1) {
            // A block found all zeros is left unwritten (its directory entry 0 reads as zeros).
            // If an allocation of this very checkpoint (a node, a table or journal block) gave
            // one of its entries a value since, it must be written after all: without this, the
            // checkpoint's tables disagreed with its tree and the next mount fell back to an
            // older checkpoint.
            if (this.dir[gi] === 0 && !mt.block_is_zero(bi)) {
              progress = true;
              const a = this.log.alloc(Head.META);
              this.log.summary_set(a, { kind: BlockKind.TABLE, sub: t, owner: bi, offset: 0, birth: this.log.birth });
              this.log.ref_inc(a);
              this.dir[gi] = a;
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
          if (mt.block_is_zero(bi)) {
            this.dir[gi] = 0;
          } else {
            const a = this.log.alloc(Head.META);
            this.log.summary_set(a, { kind: BlockKind.TABLE, sub: t, owner: bi, offset: 0, birth: this.log.birth });
            this.log.ref_inc(a);
            this.dir[gi] = a;
          }
          if (old !== 0) this.log.ref_dec(old);
          if (old !== this.dir[gi]) dirDirty.add(Math.floor(gi / DIR_PER_BLOCK));
        }
      }
      // journal blocks for what the journal holds so far (it only grows: blocks are never released)
      while (journalAddrs.length < Math.ceil(jbytes / journal_block_capacity())) {
        const a = this.log.alloc(Head.META);
        this.log.summary_set(a, { kind: BlockKind.JOURNAL, sub: 0, owner: journalAddrs.length, offset: 0, birth: this.log.birth });
        this.log.ref_inc(a);
        journalAddrs.push(a);
        progress = true;
      }
      for (const di of dirDirty) {
        if (dirAssigned.has(di)) continue;
        dirAssigned.add(di);
        progress = true;
        const a = this.log.alloc(Head.META);
        this.log.summary_set(a, { kind: BlockKind.DIR, sub: 0, owner: di, offset: 0, birth: this.log.birth });
        this.log.ref_inc(a);
        const old = this.cpDir[di]!;
        this.cpDir[di] = a;
        if (old !== 0) this.log.ref_dec(old);
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

  /** Encodes and writes the table and directory blocks tables_assign gave addresses to. */
  private tables_write(newSeq: number, written: Set<number>, dirAssigned: Set<number>, journal: { addr: number; buf: Buffer }[]): void {
    const out: { addr: number; buf: Buffer; cause: Cause }[] = journal.map((j) => ({ ...j, cause: Cause.JOURNAL }));
    for (let t = 0; t < TABLE_COUNT; t++) {
      const mt = this.tables[t]!;
      for (const bi of [...mt.dirty.keys()]) {
        const gi = mt.geom.dirBase + bi;
        if (!written.has(gi)) continue;
        mt.dirty.delete(bi);
        const a = this.dir[gi]!;
        if (a === 0) continue;
        out.push({ addr: a, buf: table_block_encode(mt.geom, { fsid: this.fsid, table: t, index: bi, addr: a, seq: newSeq }, mt.bytes), cause: (Cause.NAT + t) as Cause });
      }
    }
    const dirsTouched = new Set<number>(dirAssigned);
    for (const di of dirsTouched) {
      const a = this.cpDir[di]!;
      if (a !== 0) out.push({ addr: a, buf: dir_block_encode(this.fsid, di, a, newSeq, this.dir), cause: Cause.TABLE_DIR });
    }
    out.sort((x, y) => x.addr - y.addr);
    for (let i = 0; i < out.length;) {
      let j = i + 1;
      // one request per run of consecutive blocks of one cause
      while (j < out.length && out[j]!.addr === out[j - 1]!.addr + 1 && out[j]!.cause === out[i]!.cause) j++;
      const run = out.slice(i, j);
      this.dev.write(run[0]!.addr, run.length === 1 ? run[0]!.buf : Buffer.concat(run.map((r) => r.buf)), tag_of(run[0]!.cause));
      i = j;
    }
    this.stats.tableBlocksWritten += out.length;
  }

  /** The write counts as they will be once this checkpoint's header is written too. */
  private writes_with_header(trigger: Trigger): WriteCounts {
    const w = this.dev.counts;
    const out = { blocks: w.blocks.slice(), requests: w.requests.slice(), checkpoints: w.checkpoints.slice() };
    out.blocks[Cause.CHECKPOINT]!++;
    out.requests[Cause.CHECKPOINT]!++;
    out.checkpoints[trigger]!++;
    return out;
  }

  /**
   * Writes the final (clean) checkpoint, unless `checkpoint` is false (a filesystem remounted
   * read-only wrote its clean checkpoint then). The device stays open: whoever opened it closes it.
   */
  close(checkpoint = !this.readOnly): void {
    if (this.closed) return;
    if (checkpoint) this.checkpoint(true, Trigger.UNMOUNT);
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
    cluster_cache_drop(this);
  }

  /** The journal blocks of the last durable checkpoint (fsck counts them as held). */
  journal_addrs(): readonly number[] {
    return this.journalAddrs;
  }

  /** The cleaner found directory block `di` in a victim segment: rewrite it at the next checkpoint. */
  dir_relocate(di: number): void {
    this.dirRelocate.add(di);
  }

  /** A node id's block address (fsck and the cleaner). */
  node_addr(nid: NodeId): number {
    return this.nat.addr(nid);
  }

  addr_valid(a: number): boolean {
    return a >= this.g.mainStart && a < this.g.mainStart + this.g.segCount * this.g.segBlocks;
  }
}
