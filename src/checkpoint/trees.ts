// Choosing the tree a mount serves: '@main', a snapshot or clone named explicitly, the default
// tree, or (a boot) the tree on trial while it has tries left (roots/default.ts decides).
//
// Invariants:
// - the choice is made before anything is written, so a snapshot that may not be mounted this
//   way is refused with nothing changed;
// - a writable mount's first checkpoint names the tree served and carries the boot state the
//   choice leads to: a try is counted exactly when that checkpoint is durable;
// - switching trees at mount drops the redo keys and replayed pages of the tree served before
//   (the checkpoint that follows writes its changes).

import { SNAP_FLAG_WRITABLE } from '../format/snapshot.js';
import type { BootState } from '../format/boot.js';
import { boot_choose, tree_name, TREE_DEFAULT, TREE_MAIN } from '../roots/default.js';
import type { BootKind } from '../roots/default.js';
import { FsError } from '../util/errors.js';
import { nid_of } from '../util/ids.js';
import type { Volume } from './volume.js';

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

export const BOOT_REPORT_NEW: BootReport = Object.freeze({ kind: 'default', tree: TREE_MAIN, tryNo: 0, tries: 0, failed: null, counted: false });

/** What a mount asks for: a tree by name, or a boot. */
export interface TreeAsk {
  snapshot?: string;
  boot?: boolean;
}

/**
 * The tree `name` names: '@main' (0), '@default' (the default tree) or a snapshot or clone
 * (its entry + 1); ENOENT naming what exists otherwise.
 */
export function tree_of(v: Volume, name: string): number {
  if (name === TREE_MAIN) return 0;
  if (name === TREE_DEFAULT) return v.boot.defaultTree;
  return v.snaps.must(name).index + 1;
}

/** The tree `name` names, if this volume may mount it (ENOENT, EROFS otherwise). */
export function tree_check(v: Volume, name: string): number {
  const k = tree_of(v, name);
  const e = k === 0 ? null : v.snaps.at(k - 1)!;
  if (e && !v.readOnly && (e.flags & SNAP_FLAG_WRITABLE) === 0) {
    throw new FsError('EROFS', `snapshot ${JSON.stringify(e.name)} is read-only: mount it read-only, or clone it and mount the clone`);
  }
  return k;
}

/**
 * Which tree this mount serves and the boot state its first checkpoint writes: the tree named
 * explicitly, the choice of a boot (a try counted, or the fallback), or the default tree.
 */
export function mount_pick(v: Volume, ask: TreeAsk): { tree: number; next: BootState; report: BootReport } {
  const b = v.boot;
  if (ask.snapshot !== undefined) {
    const k = tree_check(v, ask.snapshot);
    return { tree: k, next: b, report: { kind: 'explicit', tree: tree_name(v.snaps, k), tryNo: 0, tries: 0, failed: null, counted: false } };
  }
  if (!ask.boot) {
    return { tree: b.defaultTree, next: b, report: { kind: 'default', tree: tree_name(v.snaps, b.defaultTree), tryNo: 0, tries: 0, failed: null, counted: false } };
  }
  const c = boot_choose(b);
  const counted = !v.readOnly && c.kind !== 'default';
  const report: BootReport = {
    kind: c.kind, tree: tree_name(v.snaps, c.tree), tryNo: c.tryNo, tries: c.kind === 'default' ? 0 : b.trialTries,
    failed: c.kind === 'fallback' ? tree_name(v.snaps, b.trialTree) : null, counted,
  };
  const ro = v.readOnly ? ' (read-only: not recorded)' : '';
  if (c.kind === 'trial') v.msg(`serving ${report.tree} on trial: mount ${c.tryNo} of ${b.trialTries}${ro}; 'cowlog snapshot mark-good' makes it the default`);
  if (c.kind === 'fallback') v.msg(`the trial of ${report.failed} ran out after ${b.trialTries} mount${b.trialTries > 1 ? 's' : ''} without mark-good: serving the default ${report.tree} again${ro}`);
  return { tree: c.tree, next: c.next, report };
}

/**
 * Makes tree `k` the mounted one (mount only, before the checkpoint that starts the epoch): a
 * writable volume's checkpoint then names it, so that the redo chain of the new epoch applies
 * to it, and writes out what recovery left in the tree served before.
 */
export function tree_switch(v: Volume, k: number): void {
  if (k === v.treeIndex) return;
  // pages roll-forward rebuilt belong to the tree the checkpoint named, not to this one
  v.replayPages.clear();
  // recovery's changes to the old tree are written by the checkpoint that follows, not as redo
  v.redo.clear();
  if (v.treeIndex === 0) v.mainRoot = v.root;
  else v.snaps.root_set(v.treeIndex - 1, v.root);
  v.root = k === 0 ? v.mainRoot : nid_of(v.snaps.at(k - 1)!.rootNid);
  v.treeIndex = k;
  v.counts_load();
}
