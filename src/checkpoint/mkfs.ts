// mkfs: choosing the geometry for a device and writing an empty filesystem.
//
// Invariants:
// - the metadata area is zeroed first, so no superblock or checkpoint of an earlier filesystem
//   survives;
// - two checkpoints are written, so that even a new filesystem has one to fall back to;
// - the superblock is written last: an interrupted mkfs never leaves something that looks like
//   a cowlog filesystem.

import { randomBytes } from 'node:crypto';
import { BLOCK_SIZE } from '../device/device.js';
import type { BlockDevice } from '../device/device.js';
import { Cause, tag_of, Trigger } from '../device/cause.js';
import { write_counts_zero } from '../device/counted.js';
import type { WriteCounts } from '../device/counted.js';
import { BOOT_NONE } from '../format/boot.js';
import { HEAD_COUNT } from '../format/checkpoint.js';
import type { Checkpoint, HeadState } from '../format/checkpoint.js';
import {
  cp_slots_default, FORMAT_VERSION, geometry_derive, INLINE_MAX_DEFAULT, main_start_for, MAX_SNAPSHOTS_DEFAULT,
  reserve_segs_default, seg_blocks_default,
} from '../format/geometry.js';
import type { Geometry } from '../format/geometry.js';
import { FEATURE_ATTRS, FEATURE_COMPRESS_LZ4, FEATURE_SHARED, sb_encode } from '../format/superblock.js';
import type { Superblock } from '../format/superblock.js';
import { clock_wall, timespec_ms } from './clock.js';
import type { Clock } from './clock.js';
import { BOOT_REPORT_NEW } from './trees.js';
import type { MountReport } from './mount.js';
import type { Volume, VolumeOptions } from './volume.js';

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

const DEFAULT_FANOUT = 256;

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

/** What mkfs writes besides its checkpoints: the zeroed metadata area and the superblocks (counted ahead). */
function format_writes(g: Geometry): WriteCounts {
  const w = write_counts_zero();
  w.blocks[Cause.FORMAT] = g.mainStart + 2;
  w.requests[Cause.FORMAT] = 2;
  return w;
}

/** Builds a Volume over a checkpoint that is not on the device (mkfs's checkpoint 0). */
export type VolumeMake = (dev: BlockDevice, sb: Superblock, cp: Checkpoint, opts: VolumeOptions, report: MountReport) => Volume;

/**
 * Formats `dev`. `init` fills the empty tree (the file layer creates the root directory) before
 * the first checkpoint is written.
 */
export function volume_format(dev: BlockDevice, o: MkfsOptions, make: VolumeMake, init: (v: Volume) => void): Superblock {
  const g = geometry_for(dev.blockCount, o);
  const uuid = o.uuid ?? randomBytes(16);
  if (uuid.readUInt32LE(0) === 0) uuid.writeUInt32LE(1, 0);
  const clock = o.clock ?? clock_wall();
  const now = clock();
  const sb: Superblock = {
    version: FORMAT_VERSION, geometry: g, uuid, createdMs: timespec_ms(now), label: o.label ?? '',
    features: FEATURE_SHARED | FEATURE_ATTRS | (o.compress === 'lz4' ? FEATURE_COMPRESS_LZ4 : 0),
  };
  // the metadata area: no stale superblock or checkpoint of an earlier filesystem survives
  const zeros = Buffer.alloc(g.mainStart * BLOCK_SIZE);
  dev.write(0, zeros, tag_of(Cause.FORMAT));
  const heads: HeadState[] = Array.from({ length: HEAD_COUNT }, () => ({ seg: -1, off: 0 }));
  const cp0: Checkpoint = {
    fsid: uuid.readUInt32LE(0), seq: 0, slot: g.cpSlots - 1, flags: 0, timeMs: 0, rootNid: 0, nextIno: 2, nextNid: 1,
    inodes: 0, validBlocks: 0, redoStart: 0, heads, dir: new Array(g.dirBlocks).fill(0), journal: [], journalAddrs: [],
    stats: { segmentsCleaned: 0, blocksMoved: 0, blocksRecycled: 0, checkpoints: 0 }, tree: 0, boot: { ...BOOT_NONE },
    natUsed: 0, metaBlocks: 0, writes: format_writes(g),
  };
  const report: MountReport = { seq: 0, skipped: [], clean: true, groups: 0, records: 0, redoStop: 'new filesystem', boot: BOOT_REPORT_NEW, errors: false, erroredReadOnly: false };
  const v = make(dev, sb, cp0, { clock }, report);
  v.tables_load(cp0);
  v.root = v.tree.create_empty();
  init(v);
  // two checkpoints, so that even a new filesystem has one to fall back to
  v.checkpoint(true, Trigger.MKFS);
  v.checkpoint(true, Trigger.MKFS);
  dev.write(0, Buffer.concat([sb_encode(sb, 0), sb_encode(sb, 1)]), tag_of(Cause.FORMAT));
  dev.flush();
  return sb;
}
