// Why a block is written. The layer that asks for a device write knows why; it passes a WriteTag
// down with the write, so that a WearTracker counts every block by cause without guessing, and
// the causes of a run sum exactly to its host bytes. Devices that do not count ignore the tag.
//
// Invariants: cause numbers are stable (the wear file stores them, docs/WEARFILE.md); 0 is
// "not tagged" (the kernel filesystems' tracers, and nothing cowlog writes).

/** Why a write request was made. */
export const enum Cause {
  UNKNOWN = 0,
  /** file data: a flush at fsync, memory pressure, streaming writeback or before a checkpoint */
  DATA = 1,
  /** fsync's redo blocks holding tree records (roll-forward) */
  REDO = 2,
  /** fsync's redo blocks carrying patches of small writes (with the records of the same fsync) */
  REDO_PATCH = 3,
  /** B+tree nodes written by a checkpoint */
  NODE = 4,
  /** table blocks, by table (NAT, RCT, SUT, SST, SNAP: Cause.NAT + table id) */
  NAT = 5,
  RCT = 6,
  SUT = 7,
  SST = 8,
  SNAP = 9,
  /** the table directory blocks a checkpoint lists */
  TABLE_DIR = 10,
  /** checkpoint journal blocks (small table changes carried by the checkpoint) */
  JOURNAL = 11,
  /** the checkpoint header in its ring slot (the tag's detail is the Trigger) */
  CHECKPOINT = 12,
  /** data blocks the cleaner moved out of a victim segment */
  CLEANER_DATA = 13,
  /** B+tree nodes the cleaner or wear levelling moved, written by the checkpoint that follows */
  CLEANER_NODE = 14,
  /** data blocks moved by static wear levelling */
  WEAR_LEVEL = 15,
  /** mkfs: the superblocks and the zeroed metadata area */
  FORMAT = 16,
  /** pages roll-forward rebuilt from patches, written when a mount recovers */
  RECOVERY = 17,
}

export const CAUSE_COUNT = 18;

/** Names as the wear file, `cowlog info` and the reports print them (index = Cause). */
export const CAUSE_NAMES: readonly string[] = [
  'unknown', 'data', 'redo', 'redo-patch', 'node', 'nat', 'rct', 'sut', 'sst', 'snap', 'table-dir', 'journal', 'checkpoint',
  'cleaner-data', 'cleaner-node', 'wear-level', 'format', 'recovery',
];

/** What made a checkpoint be written (the detail of a Cause.CHECKPOINT write). */
export const enum Trigger {
  /** mkfs writes the first two */
  MKFS = 0,
  /** a mount that may write starts its epoch (and recovery) */
  MOUNT = 1,
  /** the commit timer: something changed and the interval passed */
  TIMER = 2,
  /** sync(2)/syncfs, the control channel's sync */
  SYNC = 3,
  /** the final checkpoint of an unmount */
  UNMOUNT = 4,
  /** snapshot operations (create, delete, clone, rollback, set-default...) */
  SNAPSHOT = 5,
  /** too many dirty B+tree nodes in memory */
  DIRTY_NODES = 6,
  /** fsync with so many pending tree changes that a checkpoint costs less than redo */
  FSYNC = 7,
  /** the end of a cleaning round (its victims become free with it) */
  CLEANER = 8,
  /** free space: blocks freed in this epoch are given back by a checkpoint */
  SPACE = 9,
  /** mount -o remount (read-only: the clean checkpoint; read-write: a new epoch) */
  REMOUNT = 10,
  /** a mount switching to another tree (a snapshot or clone, a trial boot) */
  TREE = 11,
}

export const TRIGGER_COUNT = 12;

export const TRIGGER_NAMES: readonly string[] = [
  'mkfs', 'mount', 'timer', 'sync', 'unmount', 'snapshot', 'dirty-nodes', 'fsync', 'cleaner', 'space', 'remount', 'tree',
];

/** What a write is for: its cause, the inode it was made for (0: none or several), and a detail (the Trigger of a checkpoint). */
export interface WriteTag {
  cause: Cause;
  ino?: number;
  detail?: number;
}

/** Tags without an inode, made once (writes are hot paths). */
const PLAIN: readonly WriteTag[] = Array.from({ length: CAUSE_COUNT }, (_v, c) => Object.freeze({ cause: c as Cause }));

export function tag_of(cause: Cause): WriteTag {
  return PLAIN[cause]!;
}
