// Snapshot operations on a volume, in memory: each changes tree roots, reference counts and the
// SNAP table, and becomes durable (atomically) with the next checkpoint, which the caller writes
// — one checkpoint for a whole batch of operations (batched root flips).
//
// Sharing is by lazy reference counts (docs/DESIGN.md): taking a snapshot adds one NAT
// reference to a root, O(1); the B+tree copies a shared node before changing it; deleting a tree
// drops what only it held, visiting only the nodes whose count falls to zero.
//
// Each operation checks everything it needs before it changes anything, so a refused operation
// changes nothing.

import type { Volume } from '../checkpoint/volume.js';
import { SNAP_FLAG_AUTO, SNAP_FLAG_USED, SNAP_FLAG_WRITABLE, snap_name_problem } from '../format/snapshot.js';
import { timespec_ms } from '../checkpoint/clock.js';
import { FsError } from '../util/errors.js';
import { nid_of } from '../util/ids.js';
import type { NodeId } from '../util/ids.js';
import type { SnapInfo } from '../roots/table.js';
import { boot_default_set, boot_holds, boot_mark_good, boot_trial_set, boot_tree_dropped, tree_name } from '../roots/default.js';
import { BOOT_FLAG_TRIAL, BOOT_TRIES_MAX } from '../format/boot.js';

/** The root of tree k (0 = the main tree, k = SNAP entry k − 1), the mounted tree's current one if it is k. */
function tree_root(v: Volume, k: number): NodeId {
  return k === 0 ? v.main_root() : v.snap_root(k - 1);
}

/** The tree a name stands for: null or '@live' = the mounted tree; '@main', '@default' or a snapshot's name. */
function source_of(v: Volume, from: string | null): { root: NodeId; parent: number } {
  if (from === null || from === '@live') return { root: v.root, parent: v.treeIndex };
  const k = v.tree_of(from);
  return { root: tree_root(v, k), parent: k };
}

function name_check(v: Volume, name: string): void {
  const bad = snap_name_problem(name);
  if (bad) throw new FsError('EINVAL', bad);
  if (v.snaps.find(name)) throw new FsError('EEXIST', `a snapshot named ${JSON.stringify(name)} exists already`);
  if (v.snaps.count >= v.snaps.capacity) throw new FsError('ENOSPC', `the snapshot table is full (${v.snaps.capacity} snapshots): delete one first`);
}

/**
 * Keeps the tree `from` (null: the mounted tree) under `name`: a read-only snapshot, or a
 * writable clone. O(1): one reference on the root.
 */
export function snap_create(v: Volume, name: string, o: { from?: string | null; writable?: boolean } = {}): SnapInfo {
  name_check(v, name);
  const src = source_of(v, o.from ?? null);
  v.nodes.ref_inc(src.root);
  return v.snaps.add({
    flags: SNAP_FLAG_USED | (o.writable ? SNAP_FLAG_WRITABLE : 0),
    rootNid: src.root, seq: v.seq + 1, parent: src.parent, timeMs: timespec_ms(v.clock()), name,
  });
}

/** Drops snapshot `name` and everything only it held. */
export function snap_delete(v: Volume, name: string): void {
  const e = v.snaps.must(name);
  const held = boot_holds(v.boot, e.index + 1);
  if (held) throw new FsError('EBUSY', `${JSON.stringify(name)} is ${held}: make another tree the default first ('cowlog snapshot set-default')`);
  if (e.index === v.treeIndex - 1) throw new FsError('EBUSY', `${JSON.stringify(name)} is the tree this mount serves: unmount it first`);
  v.boot_set(boot_tree_dropped(v.boot, e.index + 1));
  const root = nid_of(e.rootNid);
  v.snaps.remove(e.index);
  // a later entry may take this slot: what was made from it now comes from its parent
  v.snaps.parent_pass(e.index, e.parent);
  v.tree.drop(root);
}

/** A name for the tree a rollback replaces: before-rollback-SEQ (made unique). */
function auto_name(v: Volume): string {
  const base = `before-rollback-${v.seq + 1}`;
  let name = base;
  for (let i = 2; v.snaps.find(name); i++) name = `${base}.${i}`;
  return name;
}

/**
 * Makes snapshot `name`'s tree the mounted tree. The tree it replaces is kept as an automatic
 * snapshot (returned) unless `discard`, in which case what only it held is freed.
 */
export function snap_rollback(v: Volume, name: string, o: { discard?: boolean } = {}): SnapInfo | null {
  const e = v.snaps.must(name);
  if (e.index === v.treeIndex - 1) throw new FsError('EINVAL', `${JSON.stringify(name)} is the tree this mount serves already`);
  const keep = o.discard ? null : auto_name(v);
  if (keep !== null && v.snaps.count >= v.snaps.capacity) {
    throw new FsError('ENOSPC', `the snapshot table is full (${v.snaps.capacity} snapshots): no room to keep the tree the rollback replaces (delete a snapshot, or roll back with --discard)`);
  }
  const root = v.snap_root(e.index);
  const old = v.root;
  v.nodes.ref_inc(root);
  v.root_replace(root);
  if (keep === null) {
    v.tree.drop(old);
    return null;
  }
  // the old root's reference passes from the mounted tree to the new entry
  return v.snaps.add({ flags: SNAP_FLAG_USED | SNAP_FLAG_AUTO, rootNid: old, seq: v.seq + 1, parent: v.treeIndex, timeMs: timespec_ms(v.clock()), name: keep });
}

/**
 * Makes `name` ('@main' or a clone) the tree a plain mount serves from the next mount on; with
 * `trial`, puts it on trial for that many mounts instead and keeps the default as it is.
 */
export function snap_set_default(v: Volume, name: string, trial?: number): void {
  const k = v.tree_of(name);
  const e = k === 0 ? null : v.snaps.at(k - 1)!;
  if (e && (e.flags & SNAP_FLAG_WRITABLE) === 0) {
    throw new FsError('EINVAL', `${JSON.stringify(e.name)} is a read-only snapshot and a plain mount is read-write: clone it ('cowlog snapshot clone TARGET ${e.name} NEW') and make the clone the default`);
  }
  if (trial === undefined) {
    v.boot_set(boot_default_set(v.boot, k));
    return;
  }
  if (!Number.isInteger(trial) || trial < 1 || trial > BOOT_TRIES_MAX) throw new FsError('EINVAL', `--trial ${trial}: the number of mounts, 1 to ${BOOT_TRIES_MAX}`);
  if (k === v.boot.defaultTree) {
    throw new FsError('EINVAL', `${tree_name(v.snaps, k)} is the default already (set-default without --trial ends a pending trial)`);
  }
  v.boot_set(boot_trial_set(v.boot, k, trial));
}

/**
 * The tree on trial becomes the default for good. `served`: asked by a running mount (the booted
 * system), which must serve that tree — or serve the default with no trial pending, when there is
 * nothing to do. Returns false when nothing changed.
 */
export function snap_mark_good(v: Volume, served: boolean): boolean {
  const b = v.boot;
  const trial = (b.flags & BOOT_FLAG_TRIAL) !== 0;
  const here = tree_name(v.snaps, v.treeIndex);
  if (!served) {
    if (!trial) throw new FsError('EINVAL', `no tree is on trial (the default is ${tree_name(v.snaps, b.defaultTree)})`);
    v.boot_set(boot_mark_good(b));
    return true;
  }
  if (trial && b.trialTree === v.treeIndex) {
    v.boot_set(boot_mark_good(b));
    return true;
  }
  if (!trial && b.defaultTree === v.treeIndex) return false;
  throw new FsError('EINVAL', trial
    ? `this mount serves ${here}, but ${tree_name(v.snaps, b.trialTree)} is on trial: mark-good is run on the mount that serves the tree on trial`
    : `this mount serves ${here}, which is not the default (${tree_name(v.snaps, b.defaultTree)}) and nothing is on trial`);
}
