// What the kernel holds of a cowlog mount: the inodes it looked up (with the count FORGET gives
// back), the names it may have cached for each, and the names it was told do not exist
// (negative entries). With attribute and entry caching on, this is what cowlog must invalidate
// when it changes the tree behind the kernel's back (a rollback), and it names the paths that
// traces and logs show.
//
// Invariants:
// - `lookups` of an inode is the number of entries answered for it (lookup, create, mknod,
//   mkdir, symlink, link, readdirplus) minus what FORGET returned; the inode is dropped from
//   here when it reaches 0, as the kernel drops it.
// - An inode's names are every (directory, name) an entry was answered under and that no
//   request has since removed or moved: a superset of the dentries the kernel may hold (it may
//   drop one silently, never make one up). The first is the one paths are built from.
// - A negative entry is kept until its timeout passes, at most NEGATIVE_MAX at once; past that
//   bound the answer carries no timeout (nothing is cached that could not be invalidated).
// - A ghost is an inode the kernel holds that left the tree (a directory removed while open):
//   its last attributes with link count 0, answered until the kernel forgets it.

import type { Attr } from '../fs/types.js';

const ROOT = 1;
/** negative entries remembered at once (each a cached "does not exist" the kernel may hold) */
export const NEGATIVE_MAX = 65536;
/** path components followed at most (a loop in the names would otherwise never end) */
const PATH_DEPTH_MAX = 4096;

/** A name of an inode in a directory (names are latin1 strings: one character per byte). */
export interface HeldName {
  parent: number;
  name: string;
}

interface Held {
  lookups: number;
  names: HeldName[];
}

/** How cached entries and attributes are dropped from the kernel (FuseMount). */
export interface FuseNotifier {
  /** attributes of `ino`, and its cached data from `off` (len 0: to the end; off -1: attributes only) */
  inval_inode(ino: number, off?: number, len?: number): void;
  /** the cached name `name` in `parent` (positive or negative) */
  inval_entry(parent: number, name: string): void;
  /** resolves once the kernel has taken every invalidation sent so far */
  invalidated(): Promise<void>;
}

export class KernelHeld {
  private readonly held = new Map<number, Held>();
  /** "parent/name" → when its negative entry expires (ms, performance.now()) */
  private readonly negatives = new Map<string, number>();
  private readonly ghosts = new Map<number, Attr>();

  /** Inodes the kernel holds. */
  get size(): number {
    return this.held.size;
  }

  has(ino: number): boolean {
    return this.held.has(ino);
  }

  /** An entry for `ino` was answered as `name` in `parent` (null: '.', '..' or by handle). */
  entry_given(ino: number, parent: number, name: string | null): void {
    let h = this.held.get(ino);
    if (h === undefined) {
      h = { lookups: 0, names: [] };
      this.held.set(ino, h);
    }
    h.lookups++;
    if (name !== null && !h.names.some((n) => n.parent === parent && n.name === name)) h.names.push({ parent, name });
  }

  /** FORGET: the kernel dropped `n` of its lookups of `ino`. */
  forget(ino: number, n: number): void {
    const h = this.held.get(ino);
    if (h === undefined) return;
    h.lookups -= n;
    if (h.lookups > 0) return;
    this.held.delete(ino);
    this.ghosts.delete(ino);
  }

  /**
   * The timeout to give a negative answer for `name` in `parent`, remembered so that it can be
   * invalidated; 0 (not cached) once NEGATIVE_MAX unexpired ones are remembered.
   */
  negative_given(parent: number, name: string, timeout_s: number, now_ms: number): number {
    if (timeout_s <= 0) return 0;
    // the map is in the order the answers were given (a name answered again moves to the end),
    // so the expired ones are at its front: dropping them costs what they cost to add
    if (this.negatives.size >= NEGATIVE_MAX) {
      for (const [k, until] of this.negatives) {
        if (until > now_ms) break;
        this.negatives.delete(k);
      }
      if (this.negatives.size >= NEGATIVE_MAX) return 0;
    }
    const k = `${parent}/${name}`;
    this.negatives.delete(k);
    this.negatives.set(k, now_ms + timeout_s * 1000);
    return timeout_s;
  }

  /** `name` in `parent`, which named `ino`, is gone (unlink, rmdir, or replaced by a rename). */
  name_gone(ino: number, parent: number, name: string): void {
    const h = this.held.get(ino);
    if (h !== undefined) h.names = h.names.filter((n) => n.parent !== parent || n.name !== name);
  }

  /** `ino` moved from (parent, name) to (parent2, name2). */
  name_moved(ino: number, parent: number, name: string, parent2: number, name2: string): void {
    const h = this.held.get(ino);
    if (h === undefined) return;
    const i = h.names.findIndex((n) => n.parent === parent && n.name === name);
    if (i >= 0) h.names.splice(i, 1);
    h.names.unshift({ parent: parent2, name: name2 });
  }

  /** An inode the kernel holds left the tree: `a` is answered for it from now on. */
  ghost_set(a: Attr): void {
    if (this.held.has(a.ino)) this.ghosts.set(a.ino, a);
  }

  ghost(ino: number): Attr | undefined {
    return this.ghosts.get(ino);
  }

  /** A path of an inode the kernel holds, from the names it was answered under ('' when unknown). */
  path_of(ino: number): string {
    if (ino === ROOT) return '/';
    let p = '';
    for (let cur = ino, depth = 0; cur !== ROOT; depth++) {
      const n = this.held.get(cur)?.names[0];
      if (n === undefined || depth >= PATH_DEPTH_MAX) return '';
      p = '/' + n.name + p;
      cur = n.parent;
    }
    return p;
  }

  /** The path of `name` in directory `parent` ('' when the directory's is unknown). */
  child_path(parent: number, name: string): string {
    const d = this.path_of(parent);
    return d === '' ? '' : (d === '/' ? '/' : d + '/') + name;
  }

  /**
   * The tree changed behind the kernel (a rollback): every name it may hold, negative ones
   * too, and every inode's attributes and cached data are invalidated, and ghosts forgotten
   * (the inode may exist again). Resolves when the kernel has taken all of it.
   */
  invalidate_all(n: FuseNotifier, now_ms: number): Promise<void> {
    n.inval_inode(ROOT, 0, 0);
    for (const [ino, h] of this.held) {
      for (const x of h.names) n.inval_entry(x.parent, x.name);
      n.inval_inode(ino, 0, 0);
    }
    for (const [k, until] of this.negatives) {
      if (until <= now_ms) continue;
      const slash = k.indexOf('/');
      n.inval_entry(Number(k.slice(0, slash)), k.slice(slash + 1));
    }
    this.negatives.clear();
    this.ghosts.clear();
    return n.invalidated();
  }
}
