// nullfs: a do-nothing in-memory filesystem served through the patched fuse-native (libfuse 3's
// low-level API), the ceiling of cowlog's FUSE stack. Writes are accepted and discarded (only
// sizes are kept); reads return zeros. Directories, hard links, symlinks, modes, owners and
// nanosecond times are real, so ordinary tools work on it.
//
// Invariants:
// - Every inode reachable from the root has nlink equal to the number of names (plus 2 + its
//   subdirectories for a directory); an inode leaves the table once it has no name and the
//   kernel forgot it.
// - Handlers answer at once, synchronously: nothing here waits, so what a benchmark measures is
//   the kernel, libfuse and the binding, not this file.
// - Names longer than 255 bytes are ENAMETOOLONG here, because the kernel does not check for FUSE.

import { constants } from 'node:os';
import { NOX_ACL_ACCESS, NOX_ACL_DEFAULT, NOX_CAPABILITY } from '../../src/fuse/noxattr.js';
import type { NoXattr } from '../../src/fuse/noxattr.js';
import type { CallerContext, FuseAttr, FuseEntry, FuseReplier, LowOps, SetattrIn, Timespec } from '../../src/fuse/binding.js';
import {
  DirBuf, dt_of_mode, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, FOPEN_KEEP_CACHE, FUSE_SET_ATTR_ATIME,
  FUSE_SET_ATTR_ATIME_NOW, FUSE_SET_ATTR_GID, FUSE_SET_ATTR_MODE, FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW, FUSE_SET_ATTR_SIZE,
  FUSE_SET_ATTR_UID, RENAME_EXCHANGE, RENAME_NOREPLACE,
} from '../../src/fuse/binding.js';

const E = constants.errno;
const S_IFMT = 0o170000, S_IFDIR = 0o040000, S_IFREG = 0o100000, S_IFLNK = 0o120000, S_ISGID = 0o2000;
const NAME_BYTES_MAX = 255;
const SIZE_MAX = Number.MAX_SAFE_INTEGER;

interface Inode {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  rdev: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  /** directories only: name (latin1) → inode */
  children: Map<string, Inode> | null;
  /** directories: the one holding it */
  parent: Inode | null;
  /** symlinks only (latin1) */
  target: string;
  /** lookups the kernel holds */
  lookups: number;
}

/** Wall-clock time now, finer than Date.now()'s milliseconds. */
export function now_ts(): Timespec {
  const ns = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  return { s: Number(ns / 1_000_000_000n), ns: Number(ns % 1_000_000_000n) };
}

export interface NullFsOptions {
  /** who is calling: FuseMount.caller */
  caller: () => CallerContext;
  /** seconds the kernel may cache attributes, names and missing names (default 1, 1, 0: libfuse's) */
  attrTimeout?: number;
  entryTimeout?: number;
  negativeTimeout?: number;
  /**
   * The binding's table of inodes without attributes (noxattr.ts): with it nullfs answers
   * extended-attribute requests as a filesystem that has them but holds none — getxattr
   * ENODATA, listxattr empty, setxattr and removexattr ENOTSUP, security.selinux refused
   * (EOPNOTSUPP) as cowlog's mount refuses it, so that `ls -l` stops asking — and notes new and
   * listed files in the table, which then answers those questions itself, as cowlog's mount
   * does. Without it nullfs leaves them out, the kernel hears ENOSYS once and stops asking: one
   * round trip a new file fewer than a filesystem with attributes costs (the kernel's
   * security.capability question before a file's first write).
   */
  xattrs?: NoXattr | null;
}

export class NullFs {
  private readonly root: Inode;
  private ino_next = 2;
  private readonly inodes = new Map<number, Inode>();
  private readonly caller: () => CallerContext;
  private readonly attrTimeout: number;
  private readonly entryTimeout: number;
  private readonly negativeTimeout: number;
  private readonly xattrs: NoXattr | null;
  /** bytes accepted by write, for benchmarks */
  bytes_written = 0;

  constructor(opts: NullFsOptions) {
    this.caller = opts.caller;
    this.attrTimeout = opts.attrTimeout ?? 1;
    this.entryTimeout = opts.entryTimeout ?? 1;
    this.negativeTimeout = opts.negativeTimeout ?? 0;
    this.xattrs = opts.xattrs ?? null;
    this.xattrs?.names_set(NOX_CAPABILITY | NOX_ACL_ACCESS | NOX_ACL_DEFAULT);
    const t = now_ts();
    this.root = {
      ino: 1, mode: S_IFDIR | 0o777, uid: 0, gid: 0, size: 4096, nlink: 2, rdev: 0,
      atime: t, mtime: t, ctime: t, children: new Map(), parent: null, target: '', lookups: 1,
    };
    this.root.parent = this.root;
    this.inodes.set(1, this.root);
  }

  /** A path of an inode (for logs), '' when it has none. */
  path_of(ino: number): string {
    const n = this.inodes.get(ino);
    if (n === undefined) return '';
    if (n === this.root) return '/';
    for (const d of this.inodes.values()) {
      if (d.children === null) continue;
      for (const [name, c] of d.children) if (c === n) return (d === this.root ? '' : this.path_of(d.ino)) + '/' + name;
    }
    return '';
  }

  /** The path of `name` in directory `parent` (for logs). */
  child_path(parent: number, name: string): string {
    const d = this.path_of(parent);
    return d === '' ? '' : (d === '/' ? '/' : d + '/') + name;
  }

  private attr_of(n: Inode): FuseAttr {
    return { ino: n.ino, mode: n.mode, nlink: n.nlink, uid: n.uid, gid: n.gid, rdev: n.rdev, size: n.size, blocks: 0, atime: n.atime, mtime: n.mtime, ctime: n.ctime };
  }

  private entry_of(n: Inode): FuseEntry {
    n.lookups++;
    return { attr: this.attr_of(n), generation: 1, entryTimeout: this.entryTimeout, attrTimeout: this.attrTimeout };
  }

  private dir(ino: number): Inode | number {
    const d = this.inodes.get(ino);
    if (d === undefined) return E.ENOENT;
    if (d.children === null) return E.ENOTDIR;
    return d;
  }

  private inode_new(mode: number, dir: Inode): Inode {
    const who = this.caller();
    const t = now_ts();
    // BSD group semantics under a set-group-ID directory, as ext4 does
    const inherit = (dir.mode & S_ISGID) !== 0;
    const isdir = (mode & S_IFMT) === S_IFDIR;
    const n: Inode = {
      ino: this.ino_next++,
      mode: inherit && isdir ? mode | S_ISGID : mode,
      uid: who.uid,
      gid: inherit ? dir.gid : who.gid,
      size: isdir ? 4096 : 0,
      nlink: isdir ? 2 : 1,
      rdev: 0,
      atime: t, mtime: t, ctime: t,
      children: isdir ? new Map() : null,
      parent: isdir ? dir : null,
      target: '',
      lookups: 0,
    };
    this.inodes.set(n.ino, n);
    return n;
  }

  private dirent_add(dir: Inode, name: string, node: Inode): void {
    dir.children!.set(name, node);
    if (node.children !== null) { dir.nlink++; node.parent = dir; }
    dir.mtime = dir.ctime = now_ts();
  }

  /** Takes the name out of `dir`; the inode keeps its own link count (rename re-adds it). */
  private dirent_detach(dir: Inode, name: string, node: Inode): void {
    dir.children!.delete(name);
    if (node.children !== null) dir.nlink--;
    const t = now_ts();
    dir.mtime = dir.ctime = t;
    node.ctime = t;
  }

  /** Takes the name out of `dir` and drops the inode's link for it. */
  private dirent_remove(dir: Inode, name: string, node: Inode): void {
    this.dirent_detach(dir, name, node);
    node.nlink = node.children !== null ? 0 : node.nlink - 1;
    this.drop_maybe(node);
  }

  private drop_maybe(n: Inode): void {
    if (n.nlink === 0 && n.lookups <= 0 && n !== this.root) this.inodes.delete(n.ino);
  }

  private make(parent: number, name: string, mode: number): Inode | number {
    if (name.length > NAME_BYTES_MAX) return E.ENAMETOOLONG;
    const d = this.dir(parent);
    if (typeof d === 'number') return d;
    if (d.children!.has(name)) return E.EEXIST;
    const n = this.inode_new(mode, d);
    this.dirent_add(d, name, n);
    return n;
  }

  /** The low-level operations, answering through `r`. */
  ops(r: FuseReplier): LowOps {
    const entry_or = (req: number, n: Inode | number): void => {
      if (typeof n === 'number') r.err(req, n);
      else r.entry(req, this.entry_of(n));
    };
    const ops: LowOps = {
      forget: (ino, nlookup) => {
        const n = this.inodes.get(ino);
        if (n === undefined) return;
        n.lookups -= nlookup;
        this.drop_maybe(n);
      },
      statfs: (req) => r.statfs(req, {
        bsize: 4096, frsize: 4096, blocks: 0x7fffffff, bfree: 0x7fffffff, bavail: 0x7fffffff,
        files: 0x7fffffff, ffree: 0x7fffffff - this.ino_next, namemax: NAME_BYTES_MAX,
      }),
      lookup: (req, parent, name) => {
        if (name.length > NAME_BYTES_MAX) return r.err(req, E.ENAMETOOLONG);
        const d = this.dir(parent);
        if (typeof d === 'number') return r.err(req, d);
        const n = name === '.' ? d : name === '..' ? d.parent! : d.children!.get(name);
        if (n === undefined) return r.negative(req, this.negativeTimeout);
        r.entry(req, this.entry_of(n));
      },
      getattr: (req, ino) => {
        const n = this.inodes.get(ino);
        if (n === undefined) return r.err(req, E.ENOENT);
        r.attr(req, this.attr_of(n), this.attrTimeout);
      },
      setattr: (req, ino, set) => {
        const n = this.inodes.get(ino);
        if (n === undefined) return r.err(req, E.ENOENT);
        this.setattr(n, set);
        r.attr(req, this.attr_of(n), this.attrTimeout);
      },
      readlink: (req, ino) => {
        const n = this.inodes.get(ino);
        if (n === undefined) return r.err(req, E.ENOENT);
        if ((n.mode & S_IFMT) !== S_IFLNK) return r.err(req, E.EINVAL);
        const b = Buffer.from(n.target, 'latin1');
        r.data(req, b, b.length);
      },
      open: (req, ino) => (this.inodes.has(ino) ? r.open(req, 0, FOPEN_KEEP_CACHE) : r.err(req, E.ENOENT)),
      opendir: (req, ino) => (this.inodes.has(ino) ? r.open(req, 0, 0) : r.err(req, E.ENOENT)),
      release: (req) => r.err(req, 0),
      releasedir: (req) => r.err(req, 0),
      fsync: (req) => r.err(req, 0),
      fsyncdir: (req) => r.err(req, 0),
      create: (req, parent, name, mode) => {
        const n = this.make(parent, name, S_IFREG | (mode & 0o7777));
        if (typeof n === 'number') return r.err(req, n);
        this.xattrs?.note(n.ino, true);
        r.create(req, this.entry_of(n), 0, FOPEN_KEEP_CACHE);
      },
      mknod: (req, parent, name, mode, rdev) => {
        const n = this.make(parent, name, mode);
        if (typeof n !== 'number') n.rdev = rdev;
        entry_or(req, n);
      },
      mkdir: (req, parent, name, mode) => entry_or(req, this.make(parent, name, S_IFDIR | (mode & 0o7777))),
      symlink: (req, target, parent, name) => {
        const n = this.make(parent, name, S_IFLNK | 0o777);
        if (typeof n !== 'number') {
          n.target = target;
          n.size = target.length;
        }
        entry_or(req, n);
      },
      link: (req, ino, newparent, newname) => {
        const n = this.inodes.get(ino);
        if (n === undefined) return r.err(req, E.ENOENT);
        if (n.children !== null) return r.err(req, E.EPERM);
        if (newname.length > NAME_BYTES_MAX) return r.err(req, E.ENAMETOOLONG);
        const d = this.dir(newparent);
        if (typeof d === 'number') return r.err(req, d);
        if (d.children!.has(newname)) return r.err(req, E.EEXIST);
        n.nlink++;
        n.ctime = now_ts();
        this.dirent_add(d, newname, n);
        r.entry(req, this.entry_of(n));
      },
      unlink: (req, parent, name) => {
        const d = this.dir(parent);
        if (typeof d === 'number') return r.err(req, d);
        const n = d.children!.get(name);
        if (n === undefined) return r.err(req, E.ENOENT);
        if (n.children !== null) return r.err(req, E.EISDIR);
        this.dirent_remove(d, name, n);
        r.err(req, 0);
      },
      rmdir: (req, parent, name) => {
        const d = this.dir(parent);
        if (typeof d === 'number') return r.err(req, d);
        const n = d.children!.get(name);
        if (n === undefined) return r.err(req, E.ENOENT);
        if (n.children === null) return r.err(req, E.ENOTDIR);
        if (n.children.size > 0) return r.err(req, E.ENOTEMPTY);
        this.dirent_remove(d, name, n);
        r.err(req, 0);
      },
      rename: (req, parent, name, newparent, newname, flags) => r.err(req, this.rename(parent, name, newparent, newname, flags)),
      fallocate: (req, ino, _fh, mode, offset, length) => {
        if ((mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) !== 0) return r.err(req, E.EOPNOTSUPP);
        const n = this.inodes.get(ino);
        if (n === undefined) return r.err(req, E.ENOENT);
        if (n.children !== null) return r.err(req, E.EISDIR);
        if (offset + length > SIZE_MAX) return r.err(req, E.EFBIG);
        if ((mode & FALLOC_FL_KEEP_SIZE) === 0) n.size = Math.max(n.size, offset + length);
        n.mtime = n.ctime = now_ts();
        r.err(req, 0);
      },
      read: (req, ino, _fh, size, off) => {
        const n = this.inodes.get(ino);
        if (n === undefined) return r.err(req, E.ENOENT);
        const count = Math.max(0, Math.min(size, n.size - off));
        r.data(req, zeros(count), count);
      },
      write: (req, ino, _fh, buf, off) => {
        const n = this.inodes.get(ino);
        if (n === undefined) return r.err(req, E.ENOENT);
        if (off + buf.length > SIZE_MAX) return r.err(req, E.EFBIG);
        n.size = Math.max(n.size, off + buf.length);
        n.mtime = n.ctime = now_ts();
        this.bytes_written += buf.length;
        r.write(req, buf.length);
      },
      readdir: (req, ino, _fh, size, off) => this.readdir(r, req, ino, size, off, false),
      readdirplus: (req, ino, _fh, size, off) => this.readdir(r, req, ino, size, off, true),
    };
    if (this.xattrs === null) return ops;
    const table = this.xattrs;
    const exists = (req: number, ino: number): boolean => {
      if (this.inodes.has(ino)) return true;
      r.err(req, E.ENOENT);
      return false;
    };
    return {
      ...ops,
      getxattr: (req, ino, name) => {
        if (!exists(req, ino)) return;
        if (name === 'security.selinux') return r.err(req, E.EOPNOTSUPP);
        table.note(ino, true);
        r.err(req, E.ENODATA);
      },
      listxattr: (req, ino, size) => {
        if (!exists(req, ino)) return;
        if (size === 0) r.xattr_size(req, 0);
        else r.data(req, Buffer.alloc(0), 0);
      },
      setxattr: (req, ino) => exists(req, ino) && r.err(req, E.ENOTSUP),
      removexattr: (req, ino) => exists(req, ino) && r.err(req, E.ENOTSUP),
    };
  }

  /** A listing from offset `off` (the index of the next entry); with `plus`, each entry is a lookup. */
  private readdir(r: FuseReplier, req: number, ino: number, size: number, off: number, plus: boolean): void {
    const d = this.dir(ino);
    if (typeof d === 'number') return r.err(req, d);
    const out = new DirBuf(size, plus);
    const names = ['.', '..', ...d.children!.keys()];
    for (let i = off; i < names.length; i++) {
      const n = i === 0 ? d : i === 1 ? d.parent! : d.children!.get(names[i]!)!;
      const e = plus && i >= 2 ? { attr: this.attr_of(n), generation: 1, entryTimeout: this.entryTimeout, attrTimeout: this.attrTimeout } : null;
      if (!out.add(names[i]!, n.ino, dt_of_mode(n.mode), i + 1, e)) break;
      if (e === null) continue;
      n.lookups++;
      this.xattrs?.note(n.ino, true);
    }
    r.dirents(req, out);
  }

  private setattr(n: Inode, set: SetattrIn): void {
    const v = set.valid;
    const t = now_ts();
    if (v & FUSE_SET_ATTR_MODE) n.mode = (n.mode & S_IFMT) | (set.mode & 0o7777);
    if (v & FUSE_SET_ATTR_UID) n.uid = set.uid;
    if (v & FUSE_SET_ATTR_GID) n.gid = set.gid;
    if (v & FUSE_SET_ATTR_SIZE) { n.size = set.size; n.mtime = t; }
    if (v & FUSE_SET_ATTR_ATIME_NOW) n.atime = t;
    else if (v & FUSE_SET_ATTR_ATIME) n.atime = set.atime;
    if (v & FUSE_SET_ATTR_MTIME_NOW) n.mtime = t;
    else if (v & FUSE_SET_ATTR_MTIME) n.mtime = set.mtime;
    n.ctime = t;
  }

  private rename(parent: number, name: string, newparent: number, newname: string, flags: number): number {
    if (name.length > NAME_BYTES_MAX || newname.length > NAME_BYTES_MAX) return E.ENAMETOOLONG;
    const from = this.dir(parent);
    if (typeof from === 'number') return from;
    const to = this.dir(newparent);
    if (typeof to === 'number') return to;
    const n = from.children!.get(name);
    if (n === undefined) return E.ENOENT;
    for (let d: Inode = to; ; d = d.parent!) {
      if (d === n) return E.EINVAL;
      if (d === this.root) break;
    }
    const old = to.children!.get(newname);
    if ((flags & RENAME_NOREPLACE) !== 0 && old !== undefined) return E.EEXIST;
    if ((flags & RENAME_EXCHANGE) !== 0) {
      if (old === undefined) return E.ENOENT;
      this.dirent_detach(from, name, n);
      this.dirent_detach(to, newname, old);
      this.dirent_add(to, newname, n);
      this.dirent_add(from, name, old);
      return 0;
    }
    if (old === n) return 0;
    if (old !== undefined) {
      if (old.children !== null && n.children === null) return E.EISDIR;
      if (old.children === null && n.children !== null) return E.ENOTDIR;
      if (old.children !== null && old.children.size > 0) return E.ENOTEMPTY;
      this.dirent_remove(to, newname, old);
    }
    this.dirent_detach(from, name, n);
    this.dirent_add(to, newname, n);
    return 0;
  }
}

let ZEROS = Buffer.alloc(1 << 20);
function zeros(n: number): Buffer {
  if (n > ZEROS.length) ZEROS = Buffer.alloc(n);
  return ZEROS;
}
