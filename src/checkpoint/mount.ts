// Mounting: the superblock, the newest checkpoint that loads, its tables and trees, roll-forward,
// the tree to serve, and the checkpoint that starts a writable mount's epoch.
//
// Invariants:
// - only reading happens while checkpoints are tried: one that fails to load (its journal,
//   directory, tables or tree root) is skipped for an older one. Once one has loaded nothing
//   falls back any more: recovery writes;
// - the tree served is chosen before anything is written (a snapshot that may not be mounted
//   so is refused with nothing changed);
// - a mount that may write starts its epoch with one checkpoint, which names the tree served and
//   holds the try counted or the fallback noted: a power cut before it is durable leaves
//   everything as it was, and the next mount chooses again the same way.

import { BLOCK_SIZE } from '../device/device.js';
import type { BlockDevice } from '../device/device.js';
import { Trigger } from '../device/cause.js';
import { CP_FLAG_CLEAN, CP_FLAG_ERRORS, cp_header_decode, cp_journal_decode } from '../format/checkpoint.js';
import type { Checkpoint, CheckpointHeader } from '../format/checkpoint.js';
import { addr_in_main, cp_slot_addr } from '../format/geometry.js';
import type { Geometry } from '../format/geometry.js';
import { sb_decode } from '../format/superblock.js';
import type { Superblock } from '../format/superblock.js';
import { SNAP_FLAG_WRITABLE } from '../format/snapshot.js';
import { CorruptError, FsError } from '../util/errors.js';
import { nid_of } from '../util/ids.js';
import { not_replayed, recover, replay } from './rollforward.js';
import type { Replayed } from './rollforward.js';
import { BOOT_REPORT_NEW, mount_pick, tree_switch } from './trees.js';
import type { BootReport } from './trees.js';
import type { VolumeMake } from './mkfs.js';
import type { Volume, VolumeOptions } from './volume.js';

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
  /** fsck recorded errors in the checkpoint mounted */
  errors: boolean;
  /** a read-write mount was asked for and refused for that reason: the volume is read-only */
  erroredReadOnly: boolean;
}

/** What the record of errors (checkpoint flag ERRORS) says of the filesystem. */
export const ERRORS_FOUND = 'errors were found in this filesystem (by fsck, or by a mount that met a damaged block)';

/** What a mount says when fsck's record of errors makes it read-only. */
export const MOUNT_ERRORS_WARNING = `${ERRORS_FOUND}: mounted read-only; run cowlog fsck for the list, or mount with -o force to write anyway`;

/** Reads the superblock (block 0, or its copy at block 1). */
export function superblock_read(dev: BlockDevice): Superblock {
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

/** What a checkpoint header says that its geometry makes impossible, or null. */
function cp_geometry_check(h: Checkpoint, g: Geometry): string | null {
  if (h.dir.length !== g.dirBlocks) return `lists ${h.dir.length} directory blocks, the geometry has ${g.dirBlocks}`;
  for (let i = 0; i < h.heads.length; i++) {
    const hd = h.heads[i]!;
    if (hd.seg < -1 || hd.seg >= g.segCount || hd.off > g.segBlocks || (hd.seg === -1 && hd.off !== 0)) return `log head ${i} at segment ${hd.seg} offset ${hd.off} is outside the geometry`;
  }
  if (h.redoStart !== 0 && !addr_in_main(g, h.redoStart)) return `redo chain starts at ${h.redoStart}, outside the log`;
  for (const a of h.dir) if (a !== 0 && !addr_in_main(g, a)) return `directory block at ${a}, outside the log`;
  if (h.nextNid >= g.tables[0]!.entries) return `next node id ${h.nextNid} beyond the NAT`;
  if (h.natUsed >= g.tables[0]!.entries || h.validBlocks > g.segCount * g.segBlocks || h.metaBlocks > g.tableBlocks + g.dirBlocks) return `counts ${h.natUsed} nodes, ${h.validBlocks} valid blocks and ${h.metaBlocks} table blocks: more than the geometry holds`;
  return null;
}

/**
 * After the tables loaded: what they say must agree with itself — the tree roots with the NAT,
 * the boot state and the tree written with the SNAP table (segment usage against the reference
 * counts is fsck's: it reads every table block). Sets the root of the tree the checkpoint names.
 */
function tables_check(v: Volume, cp: Checkpoint): void {
  const snapGeom = v.g.tables[4]!;
  const snap_block = (i: number): number => v.tabs.block_addr(4, Math.floor(i / snapGeom.perBlock));
  v.snaps.load(snap_block);
  if (v.root === 0 || v.nat.refs(v.root) === 0) throw new CorruptError('checkpoint', cp_slot_addr(cp.slot), `tree root node ${v.root} is not in the NAT`);
  for (const e of v.snaps.list()) {
    if (v.nat.refs(nid_of(e.rootNid)) === 0) throw new CorruptError('SNAP table', snap_block(e.index), `snapshot ${JSON.stringify(e.name)}: root node ${e.rootNid} is not in the NAT`);
  }
  const b = v.boot;
  for (const [what, k] of [['default tree', b.defaultTree], ['tree on trial', b.flags !== 0 ? b.trialTree : 0]] as const) {
    if (k === 0) continue;
    const e = v.snaps.at(k - 1);
    if (!e || (e.flags & SNAP_FLAG_WRITABLE) === 0) throw new CorruptError('checkpoint', cp_slot_addr(cp.slot), `names SNAP entry ${k - 1} as the ${what}, which is not a clone`);
  }
  if (v.treeIndex !== 0) {
    const e = v.snaps.at(v.treeIndex - 1);
    if (!e || (e.flags & SNAP_FLAG_WRITABLE) === 0) throw new CorruptError('checkpoint', cp_slot_addr(cp.slot), `names SNAP entry ${v.treeIndex - 1} as the tree it writes, which is not a clone`);
    v.mainRoot = v.root;
    v.root = nid_of(e.rootNid);
  }
}

/** Opens the filesystem on `dev`: the newest checkpoint that loads, rolled forward. */
export function volume_open(dev: BlockDevice, opts: VolumeOptions, make: VolumeMake): Volume {
  const sb = superblock_read(dev);
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
  if (opts.noRecovery === true && opts.readOnly !== true) throw new FsError('EINVAL', 'norecovery is for read-only mounts: a filesystem written to must roll its log forward first');
  cands.sort((a, b) => b.seq - a.seq);
  const failures: string[] = [];
  let found: { v: Volume; replayed: Replayed } | null = null;
  for (const h of cands) {
    try {
      for (const a of h.journalAddrs) if (!addr_in_main(g, a)) throw new CorruptError('checkpoint', cp_slot_addr(h.slot), `journal block at ${a}, outside the log`);
      const jblocks = h.journalAddrs.map((a) => dev.read(a));
      h.journal = cp_journal_decode(fsid, h.seq, h.journalCrcs, jblocks, h.journalAddrs, h.journalEntries);
      const errors = (h.flags & CP_FLAG_ERRORS) !== 0;
      const erroredReadOnly = errors && !opts.readOnly && !opts.force;
      const report: MountReport = { seq: h.seq, skipped: failures.slice(), clean: (h.flags & CP_FLAG_CLEAN) !== 0, groups: 0, records: 0, redoStop: '', boot: BOOT_REPORT_NEW, errors, erroredReadOnly };
      const v = make(dev, sb, h, erroredReadOnly ? { ...opts, readOnly: true } : opts, report);
      v.tables_load(h);
      tables_check(v, h);
      found = { v, replayed: opts.noRecovery === true ? not_replayed(v) : replay(v) };
      break;
    } catch (e) {
      if (!(e instanceof FsError)) throw e;
      failures.push(`checkpoint ${h.seq}: ${e.message}`);
    }
  }
  if (!found) {
    const why = [...failures, ...skipped];
    throw new CorruptError('checkpoint', cp_slot_addr(0), `no valid checkpoint in ${g.cpSlots} slots${why.length ? ` (${why.join('; ')})` : ''}`);
  }
  const v = found.v;
  if (failures.length) v.msg(`checkpoint ${v.seq} mounted; newer ones were damaged: ${failures.join('; ')}`);
  if (v.mount.erroredReadOnly) v.msg(MOUNT_ERRORS_WARNING);
  const pick = mount_pick(v, opts);
  recover(v, found.replayed);
  tree_switch(v, pick.tree);
  v.mount.boot = pick.report;
  if (!v.readOnly) {
    v.boot = pick.next;
    v.checkpoint(false, Trigger.MOUNT);
  }
  return v;
}
