// The default tree and trial boots of an A/B root system, as pure functions over the boot state
// every checkpoint carries (format/boot.ts).
//
// - A plain mount serves the default tree: the main tree or a clone. An explicit tree (--snapshot,
//   -o snapshot=) wins and counts nothing.
// - `set-default --trial N T` puts T on trial and leaves the default as it was. A mount that boots
//   (the FUSE server's plain mount) serves T while tries are left and counts one in the checkpoint
//   that starts its epoch; once they are used up, the next such mount serves the default again
//   and records that it fell back. `mark-good` makes T the default for good.
// - Each state below is what one checkpoint holds, and each change is written by one checkpoint,
//   so a power cut leaves the state before or the state after: a try is counted exactly when the
//   mount that used it became durable.
//
// Invariants: every function returns a state boot_problem() accepts; a tree named by the default
// or by a pending trial is a clone or the main tree and cannot be deleted (snap/ops.ts).

import { BOOT_FLAG_FELL_BACK, BOOT_FLAG_TRIAL, BOOT_TRIES_MAX, boot_problem } from '../format/boot.js';
import type { BootState } from '../format/boot.js';
import { assert } from '../util/assert.js';
import type { SnapTable } from './table.js';

/** Names with a meaning of their own wherever a tree is named: never a snapshot's (snap_name_problem). */
export const TREE_MAIN = '@main';
export const TREE_DEFAULT = '@default';

/** How a mount chose its tree. */
export type BootKind = 'explicit' | 'default' | 'trial' | 'fallback';

export interface BootChoice {
  /** the tree to serve: 0 = the main tree, k = SNAP entry k − 1 */
  tree: number;
  kind: Exclude<BootKind, 'explicit'>;
  /** the boot state the mount's first checkpoint writes */
  next: BootState;
  /** a trial boot: which try this is, 1-based */
  tryNo: number;
}

function checked(b: BootState): BootState {
  const bad = boot_problem(b);
  assert(bad === null, () => `boot state ${JSON.stringify(b)}: ${bad}`);
  return b;
}

/** What a booting mount serves, and the state it leaves: one try counted, or the fallback noted. */
export function boot_choose(b: BootState): BootChoice {
  if (b.flags & BOOT_FLAG_TRIAL) {
    if (b.trialLeft > 0) {
      return { tree: b.trialTree, kind: 'trial', tryNo: b.trialTries - b.trialLeft + 1, next: checked({ ...b, trialLeft: b.trialLeft - 1 }) };
    }
    return { tree: b.defaultTree, kind: 'fallback', tryNo: 0, next: checked({ ...b, flags: BOOT_FLAG_FELL_BACK }) };
  }
  return { tree: b.defaultTree, kind: 'default', tryNo: 0, next: b };
}

/** `tree` becomes the default; a pending trial and a fallback note are forgotten. */
export function boot_default_set(_b: BootState, tree: number): BootState {
  return checked({ defaultTree: tree, flags: 0, trialTree: 0, trialTries: 0, trialLeft: 0 });
}

/** `tree` goes on trial for `tries` mounts; the default stays what it is. */
export function boot_trial_set(b: BootState, tree: number, tries: number): BootState {
  assert(Number.isInteger(tries) && tries >= 1 && tries <= BOOT_TRIES_MAX, () => `a trial of ${tries} tries`);
  assert(tree !== b.defaultTree, () => `tree ${tree} on trial is the default already`);
  return checked({ defaultTree: b.defaultTree, flags: BOOT_FLAG_TRIAL, trialTree: tree, trialTries: tries, trialLeft: tries });
}

/** The tree on trial becomes the default. */
export function boot_mark_good(b: BootState): BootState {
  assert((b.flags & BOOT_FLAG_TRIAL) !== 0, () => `mark-good without a trial (boot flags ${b.flags})`);
  return boot_default_set(b, b.trialTree);
}

/** SNAP entry `tree` − 1 is being deleted: a fallback note naming it goes (it may not be the default or on trial). */
export function boot_tree_dropped(b: BootState, tree: number): BootState {
  assert(tree !== 0 && tree !== b.defaultTree && !((b.flags & BOOT_FLAG_TRIAL) && b.trialTree === tree), () => `tree ${tree} dropped while the boot state names it`);
  if ((b.flags & BOOT_FLAG_FELL_BACK) && b.trialTree === tree) return checked({ ...b, flags: 0, trialTree: 0, trialTries: 0, trialLeft: 0 });
  return b;
}

/** Why the boot state cannot keep tree `tree` from being deleted, or null. */
export function boot_holds(b: BootState, tree: number): string | null {
  if (tree === b.defaultTree) return 'the default tree';
  if ((b.flags & BOOT_FLAG_TRIAL) && b.trialTree === tree) return 'on trial as the next default';
  return null;
}

/** A tree's name: '@main' or its SNAP entry's name. */
export function tree_name(snaps: SnapTable, tree: number): string {
  if (tree === 0) return TREE_MAIN;
  return snaps.at(tree - 1)?.name ?? `(SNAP entry ${tree - 1})`;
}

/** What the boot state says, in one line (cowlog info, snapshot list, the mount's log). */
export function boot_describe(snaps: SnapTable, b: BootState): string {
  const def = tree_name(snaps, b.defaultTree);
  if (b.flags & BOOT_FLAG_TRIAL) {
    const t = tree_name(snaps, b.trialTree);
    return `default ${def}; ${t} on trial, ${b.trialLeft} of ${b.trialTries} mount${b.trialTries > 1 ? 's' : ''} left (mark-good keeps it, else ${def} comes back)`;
  }
  if (b.flags & BOOT_FLAG_FELL_BACK) {
    return `default ${def}; the trial of ${tree_name(snaps, b.trialTree)} ran out after ${b.trialTries} mount${b.trialTries > 1 ? 's' : ''} without mark-good, so ${def} is served again`;
  }
  return `default ${def}`;
}
