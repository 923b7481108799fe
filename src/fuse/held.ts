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
// - Past `max` inodes held, the kernel is asked to drop the names of the ones held longest
//   (trim): it forgets those nothing uses, so this table, the kernel's inode cache and the
//   server's memory stay bounded however many files are looked up or listed.
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

/** How cached entries and attributes are dropped from the kernel (FuseMount). */
export interface FuseNotifier {
  /** attributes of `ino`, and its cached data from `off` (len 0: to the end; off -1: attributes only) */
  inval_inode(ino: number, off?: number, len?: number): void;
  /** the cached name `name` in `parent` (positive or negative) */
  inval_entry(parent: number, name: string): void;
  /** resolves once the kernel has taken every invalidation sent so far */
  invalidated(): Promise<void>;
}

/** Inodes the kernel may hold before the oldest names are invalidated (`-o held_max=`). */
export const HELD_MAX_DEFAULT = 131072;
/** bytes one held inode with a short name takes in this table (measured: test/fuse/held.test.ts) */
export const HELD_BYTES = 120;

/**
 * Per inode the kernel holds, a slot in parallel typed arrays (its lookups, its first name's
 * directory, when that name was last given, the clock's bit) and its first name in an array of
 * strings; names after the first (hard links) in a map by slot, only for the inodes that have
 * some. An object per inode took 72 bytes beside its name (141 in all); the table holds up to
 * `held_max` of them (docs/FUSE.md).
 */
export class KernelHeld {
  /** inode → its slot */
  private readonly held = new Map<number, number>();
  /** per slot: its inode (0: a free slot), what trim() sweeps */
  private inos = new Float64Array(0);
  /** per slot: the lookups counted, the first name's directory (0: no name known) */
  private lookups = new Float64Array(0);
  private parents = new Float64Array(0);
  /** per slot: when the first name was last given (stamp(): the clock's whole seconds + 1; 0: not known) */
  private at = new Uint32Array(0);
  /** per slot: given again since the sweep last passed (a second chance: the sweep skips it once) */
  private ref = new Uint8Array(0);
  /** per slot: the first name */
  private readonly names: string[] = [];
  /** per slot: names after the first, for the inodes that have some */
  private readonly more = new Map<number, HeldName[]>();
  /** slots freed (FORGET), taken again before new ones */
  private readonly free: number[] = [];
  /** slots ever used */
  private used = 0;
  /** "parent/name" → when its negative entry expires (ms, performance.now()) */
  private readonly negatives = new Map<string, number>();
  private readonly ghosts = new Map<number, Attr>();
  /** how the kernel's caches are invalidated: where trim() asks it to drop names, and the mount's own invalidations go (null: nothing is sent, as in tests) */
  notifier: FuseNotifier | null = null;
  /** inodes held past which the oldest are asked for (Infinity: never) */
  readonly max: number;
  /**
   * trim()'s clock hand: the next slot it looks at, continued from call to call. (An iterator
   * over `held` kept between calls held on to every table the map had outgrown or shrunk out
   * of since: V8 keeps them for live iterators, 26 MiB after four rounds of 100,000 files made
   * and removed.)
   */
  private hand = 0;
  /** new inodes given since the last trim */
  private givenSince = 0;
  /** names the kernel was asked to drop, in all */
  asked = 0;
  /** seconds, for when entries were given (a clock of the tests' own, or the process's) */
  private readonly clock: () => number;

  constructor(max = Infinity, clock: () => number = () => performance.now() / 1000) {
    this.max = max;
    this.clock = clock;
  }

  /** A slot for a new inode: a freed one, or the next, the arrays grown by half when full. */
  private slot_new(): number {
    const f = this.free.pop();
    if (f !== undefined) return f;
    if (this.used === this.lookups.length) {
      const cap = Math.max(1024, this.used + (this.used >> 1));
      const grow = <T extends Float64Array | Uint32Array | Uint8Array>(old: T, made: T): T => { made.set(old); return made; };
      this.inos = grow(this.inos, new Float64Array(cap));
      this.lookups = grow(this.lookups, new Float64Array(cap));
      this.parents = grow(this.parents, new Float64Array(cap));
      this.at = grow(this.at, new Uint32Array(cap));
      this.ref = grow(this.ref, new Uint8Array(cap));
    }
    return this.used++;
  }

  /** Inodes the kernel holds. */
  get size(): number {
    return this.held.size;
  }

  has(ino: number): boolean {
    return this.held.has(ino);
  }

  /**
   * An entry for `ino` was answered as `name` in `parent` (null: '.', '..' or by handle). A
   * directory starts with a second chance: dropping its name drops every name under it that
   * the kernel cached too.
   */
  entry_given(ino: number, parent: number, name: string | null, dir = false): void {
    const s = this.held.get(ino);
    if (s === undefined) {
      const n = this.slot_new();
      this.lookups[n] = 1;
      this.parents[n] = name === null ? 0 : parent;
      this.names[n] = name ?? '';
      this.at[n] = name === null ? 0 : this.stamp();
      this.ref[n] = dir ? 1 : 0;
      this.inos[n] = ino;
      this.held.set(ino, n);
      if (this.held.size > this.max && ++this.givenSince >= this.batch()) this.trim();
      return;
    }
    this.lookups[s] = this.lookups[s]! + 1;
    this.ref[s] = 1;
    if (name === null) return;
    if (this.parents[s] === parent && this.names[s] === name) {
      this.at[s] = this.stamp();
      return;
    }
    const more = this.more.get(s);
    if (this.parents[s] === 0) {
      this.parents[s] = parent;
      this.names[s] = name;
      this.at[s] = this.stamp();
    } else if (more === undefined) {
      this.more.set(s, [{ parent, name }]);
    } else if (!more.some((n) => n.parent === parent && n.name === name)) {
      more.push({ parent, name });
    }
  }

  /** inodes asked for per trim: a 64th of the bound, so that asking is spread over what is given */
  private batch(): number {
    return Math.max(16, Math.floor(this.max / 64));
  }

  /**
   * Over the bound: asks the kernel to drop the names of inodes it holds, sweeping the slots
   * as a clock (the hand goes on from where the last sweep stopped, so each is asked once per
   * pass over the table, the oldest slots first), except those given again since the hand last
   * passed them (the next pass asks them unless they are given again).
   * The kernel drops a name nothing uses and then forgets its inode (FORGET); one in use (an
   * open file, a working directory) stays held, and is asked again on the next pass.
   */
  private trim(): void {
    this.givenSince = 0;
    const n = this.notifier;
    if (n === null) return;
    let want = this.held.size - this.max + this.batch();
    for (let guard = this.used; want > 0 && guard > 0; guard--) {
      if (this.hand >= this.used) this.hand = 0;
      const s = this.hand++;
      const ino = this.inos[s]!;
      if (ino === 0 || ino === ROOT || this.parents[s] === 0) continue;
      if (this.ref[s] !== 0) {
        this.ref[s] = 0;
        continue;
      }
      this.names_inval(n, s);
      // the kernel drops the name if nothing uses it: a listing gives its entry again
      this.at[s] = 0;
      this.asked++;
      want--;
    }
  }

  /**
   * Whether the kernel holds `ino` under `name` in `parent`, its first name, given less than
   * `within` seconds ago: its entry and attributes are still in the kernel's cache unless
   * cowlog invalidated them (then the kernel asks again).
   */
  fresh(ino: number, parent: number, name: string, within: number): boolean {
    const s = this.held.get(ino);
    return s !== undefined && this.at[s]! > 0 && this.parents[s] === parent && this.names[s] === name && this.stamp() - this.at[s]! < within;
  }

  /** Asks the kernel to drop every name of the inode in slot `s`. */
  private names_inval(n: FuseNotifier, s: number): void {
    if (this.parents[s] !== 0) n.inval_entry(this.parents[s]!, this.names[s]!);
    const more = this.more.get(s);
    if (more !== undefined) for (const x of more) n.inval_entry(x.parent, x.name);
  }

  /** Now, in whole seconds of the clock, from 1 (0 means "not known"). */
  private stamp(): number {
    return Math.floor(this.clock()) + 1;
  }

  /** FORGET: the kernel dropped `n` of its lookups of `ino`. */
  forget(ino: number, n: number): void {
    const s = this.held.get(ino);
    if (s === undefined) return;
    this.lookups[s] = this.lookups[s]! - n;
    if (this.lookups[s]! > 0) return;
    this.held.delete(ino);
    this.ghosts.delete(ino);
    this.inos[s] = 0;
    this.names[s] = '';
    this.more.delete(s);
    this.free.push(s);
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

  /**
   * `name` in `parent` was made (create, mkdir, link, a rename's new name): the kernel put the
   * new entry in place of its negative one, so there is nothing left to invalidate. A workload
   * that looks up each name before creating it (fs_mark, tar) would otherwise fill the table
   * with names that exist until their timeout passed, and leave nothing for other negatives.
   */
  negative_gone(parent: number, name: string): void {
    if (this.negatives.size !== 0) this.negatives.delete(`${parent}/${name}`);
  }

  /** Negative entries remembered (unexpired or not yet dropped). */
  get negativeCount(): number {
    return this.negatives.size;
  }

  /** `name` in `parent`, which named `ino`, is gone (unlink, rmdir, or replaced by a rename). */
  name_gone(ino: number, parent: number, name: string): void {
    const s = this.held.get(ino);
    if (s === undefined) return;
    let more = this.more.get(s);
    if (this.parents[s] === parent && this.names[s] === name) {
      const next = more?.shift();
      this.parents[s] = next?.parent ?? 0;
      this.names[s] = next?.name ?? '';
      this.at[s] = 0;
    } else if (more !== undefined) {
      more = more.filter((n) => n.parent !== parent || n.name !== name);
      this.more.set(s, more);
    }
    if (more?.length === 0) this.more.delete(s);
  }

  /** `ino` moved from (parent, name) to (parent2, name2). */
  name_moved(ino: number, parent: number, name: string, parent2: number, name2: string): void {
    const s = this.held.get(ino);
    if (s === undefined) return;
    this.name_gone(ino, parent, name);
    // the new name becomes the first (paths are built from it)
    if (this.parents[s] !== 0) {
      const first = { parent: this.parents[s]!, name: this.names[s]! };
      const more = this.more.get(s);
      if (more === undefined) this.more.set(s, [first]);
      else more.unshift(first);
    }
    this.parents[s] = parent2;
    this.names[s] = name2;
    this.at[s] = 0;
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
      const s = this.held.get(cur);
      if (s === undefined || this.parents[s] === 0 || depth >= PATH_DEPTH_MAX) return '';
      p = '/' + this.names[s]! + p;
      cur = this.parents[s]!;
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
    for (const [ino, s] of this.held) {
      this.names_inval(n, s);
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
