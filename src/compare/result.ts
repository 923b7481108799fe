// The contract between the comparison runners (which produce measurements) and the renderer
// (which draws them). One run of one filesystem on one device with one workload leaves, in
// OUT/<fs>/:
//   wear.bin     the wear file (docs/WEARFILE.md) of the workload phase: mkfs excluded
//   result.json  a RunResult (below)
// The renderer reads every OUT/*/result.json and its wear.bin, and writes OUT/report.md,
// OUT/report.html and the PNGs beside them.

import type { Layout } from './regions.js';
import type { OpErrors } from '../workload/replay.js';

export type { OpErrors } from '../workload/replay.js';

export interface RunResult {
  /** "cowlog", "ext4", "btrfs", "f2fs" */
  fs: string;
  /** mkfs command line actually used, e.g. "mkfs.btrfs --mixed -f /dev/loop3" */
  mkfs: string;
  /** mount options used */
  mountOptions: string;
  deviceBytes: number;
  /** how the device was traced: "tracefs" (block:block_rq_issue) or "cowlog-tracker" */
  tracer: string;
  /** the workload's name (profile, ops, seed) and the path of its JSONL trace */
  workload: string;
  workloadPath: string;
  /** operations in the trace, and how many were applied without error */
  ops: number;
  opsOk: number;
  /** bytes the workload asked to write (write and append payloads) */
  askedBytes: number;
  /** host bytes of the workload phase (final sync and unmount included, mkfs excluded) */
  hostBytes: number;
  /** bytes mkfs wrote, reported apart */
  mkfsBytes: number;
  /** errors per operation kind: { write: { ENOSPC: 3 }, create: { ENOSPC: 1 } } */
  errors: Record<string, OpErrors>;
  enospc: number;
  /** the replayer's final check of every file against the content the trace implies */
  verify: { ok: boolean; filesChecked: number; bad: string[] };
  /** wall-clock time of the workload phase */
  runMs: number;
  /** what the hottest block holds, where the runner can tell (e.g. "ext4 journal superblock") */
  hottestWhat?: string;
  /** file bytes written before the first ENOSPC, when one happened: usable capacity is
   *  usableBytes / deviceBytes for a run from an empty filesystem (the fill profile) */
  usableBytes?: number;
  /** free-form notes, e.g. "ran in a QEMU guest (TCG)" */
  notes?: string;
  /** the device's layout read after the run (kernel filesystems): the regions by location */
  layout?: Layout;
  /** a named variant of the filesystem (extra mkfs or mount options), shown as fs:variant;
   *  its results live in OUT/<fs>-<variant>/ */
  variant?: string;
}
