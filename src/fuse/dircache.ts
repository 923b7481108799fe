// The directory paths a mount has looked up, with their inode numbers: FUSE requests name paths,
// and resolving a deep path name by name costs a lookup per component.
//
// Invariants:
// - a path is cached only for a directory (a directory's path changes only by rename or rmdir);
// - forgetting a directory forgets every path below it, in O(log n + k) for the k paths
//   forgotten: the paths are also kept in order (sorted-btree), so those below `p` are the
//   range [p + '/', p + '0') ('0' follows '/'), not a scan of the cache;
// - the cache holds at most `max` paths; when full it starts over (what a path costs to look up
//   again is one lookup per component).

import SB from 'sorted-btree';

const BTree = SB.default;

export class DirCache {
  private readonly map = new Map<string, number>();
  private readonly order = new BTree<string, undefined>();
  readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  get size(): number {
    return this.map.size;
  }

  get(path: string): number | undefined {
    return this.map.get(path);
  }

  set(path: string, ino: number): void {
    if (this.map.size >= this.max) this.clear();
    if (!this.map.has(path)) this.order.set(path, undefined);
    this.map.set(path, ino);
  }

  /** Forgets a directory path and every path below it; returns how many were forgotten. */
  forget(path: string): number {
    let n = 0;
    if (this.map.delete(path)) { this.order.delete(path); n++; }
    const below: string[] = [];
    this.order.forRange(path + '/', path + '0', false, (k) => { below.push(k); });
    for (const k of below) this.map.delete(k);
    if (below.length) this.order.deleteRange(path + '/', path + '0', false);
    return n + below.length;
  }

  clear(): void {
    this.map.clear();
    this.order.clear();
  }
}
