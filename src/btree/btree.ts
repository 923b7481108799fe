// A copy-on-write B+tree of variable-size records over node ids (see store.ts for the
// copy-on-write rule). Operations take a root node id and return the new one: the root changes
// when it splits, collapses, or was shared and had to be copied.
//
// Invariants (checked by check()):
// - keys strictly increase within a node; every key of child i of an inner node is >= keys[i]
//   (i > 0) and < keys[i+1]; keys[0] is <= every key below child 0;
// - all leaves are at level 0 and every path from the root has the same length;
// - a node holds at most `fanout` entries and fits NODE_BODY_BYTES; only the root may be empty
//   (a leaf) or have a single child;
// - values handed out are never mutated: a change replaces the value.

import { assert } from '../util/assert.js';
import type { NodeId } from '../util/ids.js';
import { INNER_ENTRY_BYTES, is_leaf, leaf_bytes, LEAF_REC_OVERHEAD, NODE_BODY_BYTES, node_bytes } from '../format/node.js';
import type { InnerBody, LeafBody, NodeBody } from '../format/node.js';
import { key_cmp, key_str, VALUE_MAX } from '../format/records.js';
import type { Key } from '../format/records.js';
import type { NodeStore } from './store.js';
import { child_index, lower_bound } from './search.js';

const HEIGHT_MAX = 32;

function entry_bytes(n: NodeBody, i: number): number {
  return is_leaf(n) ? LEAF_REC_OVERHEAD + n.vals[i]!.length : INNER_ENTRY_BYTES;
}

interface InsResult {
  nid: NodeId;
  split?: { key: Key; nid: NodeId };
}

interface RmResult {
  nid: NodeId;
  under: boolean;
}

export interface TreeCheckIssue {
  nid: NodeId;
  what: string;
}

export class BTree {
  readonly store: NodeStore;

  constructor(store: NodeStore) {
    this.store = store;
  }

  private over(n: NodeBody): boolean {
    return n.keys.length > this.store.fanout || node_bytes(n) > NODE_BODY_BYTES;
  }

  private under(n: NodeBody): boolean {
    return n.keys.length * 2 < this.store.fanout && node_bytes(n) * 2 < NODE_BODY_BYTES;
  }

  private fits(count: number, bytes: number): boolean {
    return count <= this.store.fanout && bytes <= NODE_BODY_BYTES;
  }

  /** An empty tree: one empty leaf. */
  create_empty(): NodeId {
    return this.store.create({ level: 0, keys: [], vals: [] });
  }

  get(root: NodeId, k: Key): Buffer | undefined {
    let nid = root;
    for (let depth = 0; depth < HEIGHT_MAX; depth++) {
      const n = this.store.get(nid);
      if (is_leaf(n)) {
        const i = lower_bound(n.keys, k);
        return i < n.keys.length && key_cmp(n.keys[i]!, k) === 0 ? n.vals[i] : undefined;
      }
      nid = n.kids[child_index(n.keys, k)]!;
    }
    assert(false, `B+tree deeper than ${HEIGHT_MAX} under root ${root}`);
  }

  /**
   * The leaf of the tree at `root` that holds (or would hold) key k; null when the path is
   * deeper than any tree can be (a cycle: the caller reports the damage).
   */
  leaf_of(root: NodeId, k: Key): NodeId | null {
    let nid = root;
    for (let depth = 0; depth < HEIGHT_MAX; depth++) {
      const n = this.store.get(nid);
      if (is_leaf(n)) return nid;
      nid = n.kids[child_index(n.keys, k)]!;
    }
    return null;
  }

  /**
   * Calls fn for every record with lo <= key <= hi, in key order; fn returns false to stop.
   * Do not change the tree from inside fn.
   */
  scan(root: NodeId, lo: Key, hi: Key, fn: (k: Key, v: Buffer) => boolean | void): void {
    this.scan_node(root, lo, hi, fn, 0);
  }

  private scan_node(nid: NodeId, lo: Key, hi: Key, fn: (k: Key, v: Buffer) => boolean | void, depth: number): boolean {
    assert(depth < HEIGHT_MAX, `B+tree deeper than ${HEIGHT_MAX}`);
    const n = this.store.get(nid);
    if (is_leaf(n)) {
      for (let i = lower_bound(n.keys, lo); i < n.keys.length; i++) {
        if (key_cmp(n.keys[i]!, hi) > 0) return false;
        if (fn(n.keys[i]!, n.vals[i]!) === false) return false;
      }
      return true;
    }
    for (let i = child_index(n.keys, lo); i < n.kids.length; i++) {
      if (i > 0 && key_cmp(n.keys[i]!, hi) > 0) return false;
      if (!this.scan_node(n.kids[i]!, lo, hi, fn, depth + 1)) return false;
    }
    return true;
  }

  /**
   * How many nodes, at every level, hold keys in [lo, hi] (the nodes whose key span meets the
   * range). Removing the records of such a range dirties at most these nodes and, on each level,
   * the neighbours a merge or a borrow reaches: far fewer than a path per record.
   */
  range_nodes(root: NodeId, lo: Key, hi: Key): number {
    return this.range_nodes_of(root, lo, hi, 0);
  }

  private range_nodes_of(nid: NodeId, lo: Key, hi: Key, depth: number): number {
    assert(depth < HEIGHT_MAX, `B+tree deeper than ${HEIGHT_MAX}`);
    const n = this.store.get(nid);
    if (is_leaf(n)) return 1;
    let count = 1;
    for (let i = child_index(n.keys, lo); i < n.kids.length; i++) {
      if (i > 0 && key_cmp(n.keys[i]!, hi) > 0) break;
      count += this.range_nodes_of(n.kids[i]!, lo, hi, depth + 1);
    }
    return count;
  }

  /** Makes nid safe to change: itself if unshared, else a private copy (the caller relinks it). */
  private own(nid: NodeId): NodeId {
    const s = this.store;
    if (s.refs(nid) === 1) return nid;
    const n = s.get(nid);
    let copy: NodeBody;
    if (is_leaf(n)) {
      copy = { level: 0, keys: n.keys.slice(), vals: n.vals.slice() };
      s.leaf_shared(copy);
    } else {
      copy = { level: n.level, keys: n.keys.slice(), kids: n.kids.slice() };
      for (const kid of copy.kids) s.ref_inc(kid);
    }
    const c = s.create(copy);
    s.ref_dec(nid);
    return c;
  }

  /** Inserts or replaces the record for k. Returns the new root. */
  put(root: NodeId, k: Key, v: Buffer): NodeId {
    assert(v.length <= VALUE_MAX, () => `value of ${v.length} bytes for ${key_str(k)} exceeds ${VALUE_MAX}`);
    const r = this.ins(root, k, v, 0);
    if (!r.split) return r.nid;
    const left = this.store.get(r.nid);
    const top: InnerBody = { level: left.level + 1, keys: [left.keys[0]!, r.split.key], kids: [r.nid, r.split.nid] };
    return this.store.create(top);
  }

  private ins(nid0: NodeId, k: Key, v: Buffer, depth: number): InsResult {
    assert(depth < HEIGHT_MAX, `B+tree deeper than ${HEIGHT_MAX}`);
    const s = this.store;
    const nid = this.own(nid0);
    const n = s.get(nid);
    if (is_leaf(n)) {
      const i = lower_bound(n.keys, k);
      if (i < n.keys.length && key_cmp(n.keys[i]!, k) === 0) n.vals[i] = v;
      else { n.keys.splice(i, 0, k); n.vals.splice(i, 0, v); }
      s.dirty(nid);
    } else {
      const ci = child_index(n.keys, k);
      const r = this.ins(n.kids[ci]!, k, v, depth + 1);
      let changed = false;
      if (r.nid !== n.kids[ci]) { n.kids[ci] = r.nid; changed = true; }
      if (ci === 0 && key_cmp(k, n.keys[0]!) < 0) { n.keys[0] = k; changed = true; }
      if (r.split) { n.keys.splice(ci + 1, 0, r.split.key); n.kids.splice(ci + 1, 0, r.split.nid); changed = true; }
      if (changed) s.dirty(nid);
    }
    if (!this.over(n)) return { nid };
    const right = this.split_off(n);
    s.dirty(nid);
    return { nid, split: { key: right.keys[0]!, nid: s.create(right) } };
  }

  /** Chooses where to cut n so both halves fit and are as even in bytes as possible. */
  private split_point(n: NodeBody): number {
    const count = n.keys.length;
    const total = node_bytes(n);
    let best = -1, bestDiff = Infinity, left = 0;
    for (let j = 1; j < count; j++) {
      left += entry_bytes(n, j - 1);
      if (!this.fits(j, left) || !this.fits(count - j, total - left)) continue;
      const diff = Math.abs(total - 2 * left);
      if (diff < bestDiff) { bestDiff = diff; best = j; }
    }
    assert(best > 0, () => `cannot split a node of ${count} entries and ${total} bytes`);
    return best;
  }

  /** Moves the upper part of n into a new body, which it returns. */
  private split_off(n: NodeBody): NodeBody {
    const j = this.split_point(n);
    if (is_leaf(n)) return { level: 0, keys: n.keys.splice(j), vals: n.vals.splice(j) };
    return { level: n.level, keys: n.keys.splice(j), kids: n.kids.splice(j) };
  }

  /** Removes the record for k. Returns the new root and the value removed (if any). */
  del(root: NodeId, k: Key): { root: NodeId; old: Buffer | undefined } {
    const old = this.get(root, k);
    if (old === undefined) return { root, old };
    const r = this.rm(root, k, 0);
    let nid = r.nid;
    // an inner root left with a single child hands the tree to that child
    for (;;) {
      const n = this.store.get(nid);
      if (is_leaf(n) || n.kids.length !== 1) break;
      assert(this.store.refs(nid) === 1, () => `collapsing shared root ${nid}`);
      const kid = n.kids[0]!;
      n.kids.length = 0;
      n.keys.length = 0;
      this.store.ref_dec(nid); // the root's reference to kid passes to the caller
      nid = kid;
    }
    return { root: nid, old };
  }

  private rm(nid0: NodeId, k: Key, depth: number): RmResult {
    assert(depth < HEIGHT_MAX, `B+tree deeper than ${HEIGHT_MAX}`);
    const s = this.store;
    const nid = this.own(nid0);
    const n = s.get(nid);
    if (is_leaf(n)) {
      const i = lower_bound(n.keys, k);
      assert(i < n.keys.length && key_cmp(n.keys[i]!, k) === 0, () => `rm: ${key_str(k)} missing from leaf ${nid}`);
      n.keys.splice(i, 1);
      n.vals.splice(i, 1);
      s.dirty(nid);
      return { nid, under: this.under(n) };
    }
    const ci = child_index(n.keys, k);
    const r = this.rm(n.kids[ci]!, k, depth + 1);
    if (r.nid !== n.kids[ci]) { n.kids[ci] = r.nid; s.dirty(nid); }
    if (r.under && n.kids.length > 1) this.rebalance(nid, n, ci);
    return { nid, under: this.under(n) };
  }

  /** Child ci of parent underflowed: merge it with a neighbour, or share entries evenly. */
  private rebalance(pid: NodeId, p: InnerBody, ci: number): void {
    const s = this.store;
    const li = ci > 0 ? ci - 1 : ci;
    const ri = li + 1;
    const lid = this.own(p.kids[li]!);
    const rid = this.own(p.kids[ri]!);
    p.kids[li] = lid;
    p.kids[ri] = rid;
    s.dirty(pid);
    const L = s.get(lid);
    const R = s.get(rid);
    assert(L.level === R.level, () => `siblings ${lid} and ${rid} at levels ${L.level} and ${R.level}`);
    // concatenate R into L; for inner nodes R's first entry takes the parent's separator as key
    if (is_leaf(L) && is_leaf(R)) {
      L.keys.push(...R.keys);
      L.vals.push(...R.vals);
      R.keys.length = 0;
      R.vals.length = 0;
    } else if (!is_leaf(L) && !is_leaf(R)) {
      L.keys.push(p.keys[ri]!, ...R.keys.slice(1));
      L.kids.push(...R.kids);
      R.keys.length = 0;
      R.kids.length = 0;
    }
    s.dirty(lid);
    if (this.fits(L.keys.length, node_bytes(L))) {
      // merged: R's entries (and the references they hold) now live in L
      p.keys.splice(ri, 1);
      p.kids.splice(ri, 1);
      s.ref_dec(rid);
      return;
    }
    const upper = this.split_off(L);
    if (is_leaf(R) && is_leaf(upper)) { R.keys.push(...upper.keys); R.vals.push(...upper.vals); }
    else if (!is_leaf(R) && !is_leaf(upper)) { R.keys.push(...upper.keys); R.kids.push(...upper.kids); }
    p.keys[ri] = R.keys[0]!;
    s.dirty(rid);
  }

  /** Releases one reference to a whole tree (a snapshot root); frees what nothing else holds. */
  drop(root: NodeId): void {
    this.drop_node(root, 0);
  }

  private drop_node(nid: NodeId, depth: number): void {
    assert(depth < HEIGHT_MAX, `B+tree deeper than ${HEIGHT_MAX}`);
    const s = this.store;
    if (s.refs(nid) === 1) {
      const n = s.get(nid);
      if (is_leaf(n)) s.leaf_dropped(n);
      else for (const kid of n.kids) this.drop_node(kid, depth + 1);
    }
    s.ref_dec(nid);
  }

  /**
   * Calls `fn` for every leaf under `root` not in `seen` (and adds each node it reaches to it):
   * walking several trees with one `seen` visits each shared node once.
   */
  leaves(root: NodeId, seen: Set<NodeId>, fn: (nid: NodeId, leaf: LeafBody) => void): void {
    const walk = (nid: NodeId, depth: number): void => {
      assert(depth < HEIGHT_MAX, `B+tree deeper than ${HEIGHT_MAX}`);
      if (seen.has(nid)) return;
      seen.add(nid);
      const n = this.store.get(nid);
      if (is_leaf(n)) fn(nid, n);
      else for (const kid of n.kids) walk(kid, depth + 1);
    };
    walk(root, 0);
  }

  /** Walks the whole tree and reports every broken invariant (empty list: valid). */
  check(root: NodeId, visit?: (nid: NodeId, n: NodeBody) => void): TreeCheckIssue[] {
    const issues: TreeCheckIssue[] = [];
    let leafDepth = -1;
    const walk = (nid: NodeId, lo: Key | null, hi: Key | null, depth: number, isRoot: boolean): void => {
      if (depth >= HEIGHT_MAX) { issues.push({ nid, what: 'tree too deep (a cycle?)' }); return; }
      let n: NodeBody;
      try {
        n = this.store.get(nid);
      } catch (e) {
        issues.push({ nid, what: (e as Error).message });
        return;
      }
      visit?.(nid, n);
      const count = n.keys.length;
      if (count > this.store.fanout) issues.push({ nid, what: `${count} entries exceed fanout ${this.store.fanout}` });
      if (node_bytes(n) > NODE_BODY_BYTES) issues.push({ nid, what: `${node_bytes(n)} bytes exceed a node` });
      if (!isRoot && count === 0) issues.push({ nid, what: 'empty non-root node' });
      if (!is_leaf(n) && n.kids.length !== count) issues.push({ nid, what: 'keys and children differ in number' });
      for (let i = 1; i < count; i++) if (key_cmp(n.keys[i - 1]!, n.keys[i]!) >= 0) issues.push({ nid, what: `keys out of order at ${i}` });
      if (is_leaf(n)) {
        if (leafDepth < 0) leafDepth = depth;
        else if (leafDepth !== depth) issues.push({ nid, what: `leaf at depth ${depth}, others at ${leafDepth}` });
        if (count > 0) {
          if (lo && key_cmp(n.keys[0]!, lo) < 0) issues.push({ nid, what: `key ${key_str(n.keys[0]!)} below its range ${key_str(lo)}` });
          if (hi && key_cmp(n.keys[count - 1]!, hi) >= 0) issues.push({ nid, what: `key ${key_str(n.keys[count - 1]!)} at or above its range ${key_str(hi)}` });
        }
        if (leaf_bytes(n) !== node_bytes(n)) issues.push({ nid, what: 'size mismatch' });
        return;
      }
      if (!isRoot && count < 1) return;
      if (isRoot && count === 1 && depth === 0) issues.push({ nid, what: 'inner root with a single child' });
      for (let i = 0; i < count; i++) {
        const kid = n.kids[i]!;
        const kidLo = i === 0 ? lo : n.keys[i]!;
        const kidHi = i + 1 < count ? n.keys[i + 1]! : hi;
        if (i > 0 && lo && key_cmp(n.keys[i]!, lo) < 0) issues.push({ nid, what: `separator ${i} below the node's range` });
        const child = (() => { try { return this.store.get(kid); } catch { return null; } })();
        if (child && child.level !== n.level - 1) issues.push({ nid, what: `child ${kid} at level ${child.level}, parent at ${n.level}` });
        if (i === 0 && child && child.keys.length > 0 && key_cmp(child.keys[0]!, n.keys[0]!) < 0) issues.push({ nid, what: `first key ${key_str(n.keys[0]!)} above child ${kid}'s keys` });
        walk(kid, kidLo, kidHi, depth + 1, false);
      }
    };
    walk(root, null, null, 0, true);
    return issues;
  }
}
