// Binary searches over the sorted keys of one B+tree node. Every lookup in the tree and every
// in-place patch of a leaf (the cleaner's) goes through these two, so a node's order is read the
// same way everywhere.
//
// Invariants: `keys` strictly increase (BTree.check); both searches take O(log n) comparisons.

import { key_cmp } from '../format/records.js';
import type { Key } from '../format/records.js';

/** Index of the first key >= k (keys.length if none). */
export function lower_bound(keys: readonly Key[], k: Key): number {
  let lo = 0, hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (key_cmp(keys[mid]!, k) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The child of an inner node whose range holds k: the last i with keys[i] <= k, and 0 when k is
 * below every key (keys[0] bounds child 0 from below only loosely).
 */
export function child_index(keys: readonly Key[], k: Key): number {
  let lo = 1, hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (key_cmp(keys[mid]!, k) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** Index of key k in `keys`, or -1. */
export function key_index(keys: readonly Key[], k: Key): number {
  const i = lower_bound(keys, k);
  return i < keys.length && key_cmp(keys[i]!, k) === 0 ? i : -1;
}
