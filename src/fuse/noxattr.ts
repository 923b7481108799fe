// Inodes known to carry no extended attribute, shared with the binding, which answers the
// getxattr requests the kernel and `ls -l` make of nearly every file (security.capability
// before a file's first write, the POSIX ACLs of every file listed) without calling JavaScript.
//
// The table is a Float64Array the native half reads (fuse-native.c, nox_answer): [0] the names
// it may answer (NOX_*; 0: none, every getxattr goes to the handler), [1] how many it answered,
// then `slots` slots, an inode's at 2 + ino % slots. A slot holding an inode's number says that
// inode has no extended attribute; anything else says nothing (two inodes sharing a slot only
// cost a request).
//
// Invariants:
// - A slot holds an inode's number only while that inode has no XATTR or XBIG record: it is set
//   from a look at the tree (FileSystem.xattrs_none) after a create, for each entry of a
//   readdirplus and after a getxattr that found nothing (ops.ts, nox_note), and cleared before
//   a setxattr on it runs; a rollback, which may give any inode attributes back, clears them all.
// - The binding only reads the slots: JavaScript, on the same thread, is the only writer.

/** getxattr of security.capability (the kernel's question before a write clears privileges) */
export const NOX_CAPABILITY = 1;
/** getxattr of system.posix_acl_access (`ls -l`, and the kernel's ACL cache) */
export const NOX_ACL_ACCESS = 2;
/** getxattr of system.posix_acl_default */
export const NOX_ACL_DEFAULT = 4;

/** slots by default: a power of two at least the default bound of inodes the kernel holds (held.ts) */
export const NOX_SLOTS = 1 << 17;

export class NoXattr {
  readonly table: Float64Array;
  private readonly slots: number;

  constructor(slots = NOX_SLOTS) {
    if (!Number.isSafeInteger(slots) || slots < 1) throw new RangeError(`slots must be a positive integer, not ${slots}`);
    this.slots = slots;
    this.table = new Float64Array(2 + slots);
  }

  /** The names the binding may answer (NOX_* or'ed; 0: none). */
  names_set(names: number): void {
    this.table[0] = names;
  }

  get names(): number {
    return this.table[0]!;
  }

  /** getxattr requests the binding answered. */
  get answered(): number {
    return this.table[1]!;
  }

  /** Whether `ino` is known to carry no extended attribute. */
  has(ino: number): boolean {
    return this.table[2 + (ino % this.slots)] === ino;
  }

  /** What was found of `ino`: no extended attribute (true), or maybe some (false). */
  note(ino: number, none: boolean): void {
    const i = 2 + (ino % this.slots);
    if (none) this.table[i] = ino;
    else if (this.table[i] === ino) this.table[i] = 0;
  }

  /** Forgets every inode (a rollback). */
  clear(): void {
    this.table.fill(0, 2);
  }
}
