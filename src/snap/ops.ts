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
import type { SnapInfo } from './table.js';

/** The tree a name stands for: null = the mounted tree. */
function source_of(v: Volume, from: string | null): { root: NodeId; parent: number } {
  if (from === null) return { root: v.root, parent: v.treeIndex };
  const e = v.snaps.must(from);
  return { root: v.snap_root(e.index), parent: e.index + 1 };
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
  if (e.index === v.treeIndex - 1) throw new FsError('EBUSY', `${JSON.stringify(name)} is the tree this mount serves: unmount it first`);
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
