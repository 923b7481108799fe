// The boot state: which tree a plain mount serves, and a trial of another tree. 16 bytes inside
// every checkpoint header (docs/FORMAT.md, record `boot-state`), so it changes exactly when a
// checkpoint becomes durable — never half.
//
//   0  u32 default_tree  the tree a plain mount serves: 0 = the main tree, k = SNAP entry k − 1
//   4  u32 trial_tree    TRIAL: the tree on trial; FELL_BACK: the tree whose trial ran out
//   8  u16 flags         bit 0 TRIAL, bit 1 FELL_BACK
//  10  u16 trial_tries   the N of `set-default --trial N`
//  12  u16 trial_left    mounts that may still serve trial_tree
//  14  u16 reserved      zero
//
// Invariants (checked on decode; the trees named are checked against the SNAP table at mount):
// - TRIAL and FELL_BACK never both; with neither, trial_tree, trial_tries and trial_left are 0;
// - with either, 1 ≤ trial_tries and trial_left ≤ trial_tries; with FELL_BACK trial_left is 0.

import { CorruptError } from '../util/errors.js';

export const BOOT_BYTES = 16;
export const BOOT_FLAG_TRIAL = 1;
export const BOOT_FLAG_FELL_BACK = 2;
const BOOT_FLAGS_KNOWN = BOOT_FLAG_TRIAL | BOOT_FLAG_FELL_BACK;
/** most tries a trial may have (trial_tries is a u16) */
export const BOOT_TRIES_MAX = 0xffff;

export interface BootState {
  /** the tree a plain mount serves: 0 = the main tree, k = SNAP entry k − 1 */
  defaultTree: number;
  /** BOOT_FLAG_TRIAL, BOOT_FLAG_FELL_BACK or 0 */
  flags: number;
  /** the tree on trial (TRIAL), or whose trial ran out (FELL_BACK); 0 otherwise */
  trialTree: number;
  trialTries: number;
  trialLeft: number;
}

/** The state of a new filesystem: the main tree is the default, nothing on trial. */
export const BOOT_NONE: Readonly<BootState> = Object.freeze({ defaultTree: 0, flags: 0, trialTree: 0, trialTries: 0, trialLeft: 0 });

/** Why `b` cannot be, or null. */
export function boot_problem(b: BootState): string | null {
  if ((b.flags & ~BOOT_FLAGS_KNOWN) !== 0) return `boot flags 0x${b.flags.toString(16)}`;
  if (b.flags === (BOOT_FLAG_TRIAL | BOOT_FLAG_FELL_BACK)) return 'boot state both on trial and fallen back';
  if (b.flags === 0) {
    if (b.trialTree !== 0 || b.trialTries !== 0 || b.trialLeft !== 0) return `no trial, yet trial tree ${b.trialTree}, ${b.trialLeft} of ${b.trialTries} tries`;
    return null;
  }
  if (b.trialTries < 1 || b.trialTries > BOOT_TRIES_MAX) return `a trial of ${b.trialTries} tries`;
  if (b.trialLeft > b.trialTries) return `${b.trialLeft} of ${b.trialTries} tries left`;
  if (b.flags === BOOT_FLAG_FELL_BACK && b.trialLeft !== 0) return `fallen back with ${b.trialLeft} tries left`;
  return null;
}

export function boot_encode(v: DataView, at: number, b: BootState): void {
  const bad = boot_problem(b);
  if (bad) throw new RangeError(`boot state: ${bad}`);
  v.setUint32(at, b.defaultTree, true);
  v.setUint32(at + 4, b.trialTree, true);
  v.setUint16(at + 8, b.flags, true);
  v.setUint16(at + 10, b.trialTries, true);
  v.setUint16(at + 12, b.trialLeft, true);
  v.setUint16(at + 14, 0, true);
}

/** Decodes the boot state of the checkpoint header at `addr`. */
export function boot_decode(v: DataView, at: number, addr: number): BootState {
  const b: BootState = {
    defaultTree: v.getUint32(at, true),
    trialTree: v.getUint32(at + 4, true),
    flags: v.getUint16(at + 8, true),
    trialTries: v.getUint16(at + 10, true),
    trialLeft: v.getUint16(at + 12, true),
  };
  const bad = boot_problem(b);
  if (bad) throw new CorruptError('checkpoint', addr, bad);
  return b;
}

export function boot_equal(a: BootState, b: BootState): boolean {
  return a.defaultTree === b.defaultTree && a.flags === b.flags && a.trialTree === b.trialTree && a.trialTries === b.trialTries && a.trialLeft === b.trialLeft;
}
