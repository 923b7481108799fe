// nullfs: a do-nothing in-memory filesystem for fuse-native, the ceiling of cowlog's FUSE stack.
// Writes are accepted and discarded (only sizes are kept); reads return zeros. Directories,
// hard links, symlinks, modes, owners and nanosecond times are real, so ordinary tools work on it.
//
// Invariants:
// - Every inode reachable from the root has nlink equal to the number of names (plus 2 + its
//   subdirectories for a directory); an inode with nlink 0 is unreachable and dropped.
// - Handlers answer at once, synchronously: nothing here waits, so what a benchmark measures is
//   the kernel, libfuse and fuse-native, not this file.
// - Names longer than 255 bytes are ENAMETOOLONG here, because the kernel does not check for FUSE.

import { constants } from 'node:os';
import type { CallerContext, FuseOps, FuseStat, FuseStatfs, UtimeArg } from '../../src/fuse/binding.js';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE } from '../../src/fuse/binding.js';

const E = constants.errno;
const S_IFMT = 0o170000, S_IFDIR = 0o040000, S_IFREG = 0o100000, S_IFLNK = 0o120000, S_ISGID = 0o2000;
const NAME_BYTES_MAX = 255;
const SIZE_MAX = Number.MAX_SAFE_INTEGER;
const UINT32_NONE = 0xffffffff; // chown's "leave unchanged" (uid_t -1)

interface Inode {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  rdev: number;
  atime: bigint;
  mtime: bigint;
  ctime: bigint;
  /** directories only: name → inode */
  children: Map<string, Inode> | null;
  /** symlinks only */
  target: string;
}

/** Wall-clock time in nanoseconds, finer than Date.now()'s milliseconds. */
export function now_ns(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
}

export interface NullFsOptions {
  /** who is calling: the patched binding's caller context (FuseMount.caller) */
  caller: () => CallerContext;
}

export class NullFs {
  private readonly root: Inode;
  private ino_next = 2;
  private readonly caller: () => CallerContext;
  /** bytes accepted by write, for benchmarks */
  bytes_written = 0;

  constructor(opts: NullFsOptions) {
    this.caller = opts.caller;
    const t = now_ns();
    this.root = {
      ino: 1, mode: S_IFDIR | 0o777, uid: 0, gid: 0, size: 4096, nlink: 2, rdev: 0,
      atime: t, mtime: t, ctime: t, children: new Map(), target: '',
    };
  }

  private lookup(path: string): Inode | undefined {
    let node: Inode | undefined = this.root;
    for (const name of path.split('/')) {
      if (name === '') continue;
      node = node.children?.get(name);
      if (node === undefined) return undefined;
    }
    return node;
  }

  /** The parent directory and last name of `path`, or a negative errno. */
  private parent_of(path: string): { dir: Inode; name: string } | number {
    const cut = path.lastIndexOf('/');
    const name = path.slice(cut + 1);
    if (Buffer.byteLength(name) > NAME_BYTES_MAX) return -E.ENAMETOOLONG;
    const dir = this.lookup(path.slice(0, cut));
    if (dir === undefined) return -E.ENOENT;
    if (dir.children === null) return -E.ENOTDIR;
    return { dir, name };
  }

  private inode_new(mode: number, dir: Inode): Inode {
    const who = this.caller();
    const t = now_ns();
    // BSD group semantics under a set-group-ID directory, as ext4 does
    const inherit = (dir.mode & S_ISGID) !== 0;
    const isdir = (mode & S_IFMT) === S_IFDIR;
    return {
      ino: this.ino_next++,
      mode: inherit && isdir ? mode | S_ISGID : mode,
      uid: who.uid,
      gid: inherit ? dir.gid : who.gid,
      size: isdir ? 4096 : 0,
      nlink: isdir ? 2 : 1,
      rdev: 0,
      atime: t, mtime: t, ctime: t,
      children: isdir ? new Map() : null,
      target: '',
    };
  }

  private dirent_add(dir: Inode, name: string, node: Inode): void {
    dir.children!.set(name, node);
    if (node.children !== null) dir.nlink++;
    dir.mtime = dir.ctime = now_ns();
  }

  /** Takes the name out of `dir`; the inode keeps its own link count (rename re-adds it). */
  private dirent_detach(dir: Inode, name: string, node: Inode): void {
    dir.children!.delete(name);
    if (node.children !== null) dir.nlink--;
    const t = now_ns();
    dir.mtime = dir.ctime = t;
    node.ctime = t;
  }

  /** Takes the name out of `dir` and drops the inode's link for it. */
  private dirent_remove(dir: Inode, name: string, node: Inode): void {
    this.dirent_detach(dir, name, node);
    node.nlink = node.children !== null ? 0 : node.nlink - 1;
  }

  private make(path: string, mode: number): number {
    const p = this.parent_of(path);
    if (typeof p === 'number') return p;
    if (p.dir.children!.has(p.name)) return -E.EEXIST;
    this.dirent_add(p.dir, p.name, this.inode_new(mode, p.dir));
    return 0;
  }

  private static stat_of(n: Inode): FuseStat {
    return {
      mode: n.mode, uid: n.uid, gid: n.gid, size: n.size, nlink: n.nlink, ino: n.ino, rdev: n.rdev,
      blksize: 4096, blocks: 0, atime: n.atime, mtime: n.mtime, ctime: n.ctime,
    };
  }

  /** The fuse-native operations; `this` is bound. */
  ops(): FuseOps {
    return {
      init: (cb) => cb(0),
      access: (_path, _mode, cb) => cb(0),
      statfs: (_path, cb) => {
        const st: FuseStatfs = {
          bsize: 4096, frsize: 4096, blocks: 0x7fffffff, bfree: 0x7fffffff, bavail: 0x7fffffff,
          files: 0x7fffffff, ffree: 0x7fffffff - this.ino_next, favail: 0x7fffffff - this.ino_next,
          fsid: 0, flag: 0, namemax: NAME_BYTES_MAX,
        };
        cb(0, st);
      },
      getattr: (path, cb) => {
        const n = this.lookup(path);
        if (n === undefined) cb(-E.ENOENT);
        else cb(0, NullFs.stat_of(n));
      },
      readdir: (path, cb) => {
        const n = this.lookup(path);
        if (n === undefined) return cb(-E.ENOENT);
        if (n.children === null) return cb(-E.ENOTDIR);
        cb(0, ['.', '..', ...n.children.keys()]);
      },
      open: (path, _flags, cb) => cb(this.lookup(path) ? 0 : -E.ENOENT, 0),
      opendir: (path, _flags, cb) => cb(this.lookup(path) ? 0 : -E.ENOENT, 0),
      release: (_path, _fd, cb) => cb(0),
      releasedir: (_path, _fd, cb) => cb(0),
      flush: (_path, _fd, cb) => cb(0),
      fsync: (_path, _datasync, _fd, cb) => cb(0),
      fsyncdir: (_path, _datasync, _fd, cb) => cb(0),
      create: (path, mode, _flags, cb) => {
        const err = this.make(path, S_IFREG | (mode & 0o7777));
        cb(err, 0);
      },
      mknod: (path, mode, dev, cb) => {
        const err = this.make(path, mode);
        if (err === 0) this.lookup(path)!.rdev = dev;
        cb(err);
      },
      mkdir: (path, mode, cb) => cb(this.make(path, S_IFDIR | (mode & 0o7777))),
      symlink: (target, path, cb) => {
        const err = this.make(path, S_IFLNK | 0o777);
        if (err === 0) {
          const n = this.lookup(path)!;
          n.target = target;
          n.size = Buffer.byteLength(target);
        }
        cb(err);
      },
      readlink: (path, cb) => {
        const n = this.lookup(path);
        if (n === undefined) return cb(-E.ENOENT);
        if ((n.mode & S_IFMT) !== S_IFLNK) return cb(-E.EINVAL);
        cb(0, n.target);
      },
      link: (src, dest, cb) => {
        const n = this.lookup(src);
        if (n === undefined) return cb(-E.ENOENT);
        if (n.children !== null) return cb(-E.EPERM);
        const p = this.parent_of(dest);
        if (typeof p === 'number') return cb(p);
        if (p.dir.children!.has(p.name)) return cb(-E.EEXIST);
        n.nlink++;
        n.ctime = now_ns();
        this.dirent_add(p.dir, p.name, n);
        cb(0);
      },
      unlink: (path, cb) => {
        const p = this.parent_of(path);
        if (typeof p === 'number') return cb(p);
        const n = p.dir.children!.get(p.name);
        if (n === undefined) return cb(-E.ENOENT);
        if (n.children !== null) return cb(-E.EISDIR);
        this.dirent_remove(p.dir, p.name, n);
        cb(0);
      },
      rmdir: (path, cb) => {
        const p = this.parent_of(path);
        if (typeof p === 'number') return cb(p);
        const n = p.dir.children!.get(p.name);
        if (n === undefined) return cb(-E.ENOENT);
        if (n.children === null) return cb(-E.ENOTDIR);
        if (n.children.size > 0) return cb(-E.ENOTEMPTY);
        this.dirent_remove(p.dir, p.name, n);
        cb(0);
      },
      rename: (src, dest, cb) => cb(this.rename(src, dest)),
      chmod: (path, mode, cb) => {
        const n = this.lookup(path);
        if (n === undefined) return cb(-E.ENOENT);
        n.mode = (n.mode & S_IFMT) | (mode & 0o7777);
        n.ctime = now_ns();
        cb(0);
      },
      chown: (path, uid, gid, cb) => {
        const n = this.lookup(path);
        if (n === undefined) return cb(-E.ENOENT);
        if (uid !== UINT32_NONE) n.uid = uid;
        if (gid !== UINT32_NONE) n.gid = gid;
        n.ctime = now_ns();
        cb(0);
      },
      utimens: (path, atime, mtime, cb) => {
        const n = this.lookup(path);
        if (n === undefined) return cb(-E.ENOENT);
        const t = now_ns();
        const pick = (v: UtimeArg, old: bigint): bigint => (v === 'omit' ? old : v === 'now' ? t : v);
        n.atime = pick(atime, n.atime);
        n.mtime = pick(mtime, n.mtime);
        n.ctime = t;
        cb(0);
      },
      truncate: (path, size, cb) => cb(this.resize(path, size)),
      ftruncate: (path, _fd, size, cb) => cb(this.resize(path, size)),
      fallocate: (path, _fd, mode, offset, length, cb) => {
        if ((mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) !== 0) return cb(-E.EOPNOTSUPP);
        const n = this.lookup(path);
        if (n === undefined) return cb(-E.ENOENT);
        if (n.children !== null) return cb(-E.EISDIR);
        if (offset + length > SIZE_MAX) return cb(-E.EFBIG);
        if ((mode & FALLOC_FL_KEEP_SIZE) === 0) n.size = Math.max(n.size, offset + length);
        n.mtime = n.ctime = now_ns();
        cb(0);
      },
      read: (path, _fd, buf, len, pos, cb) => {
        const n = this.lookup(path);
        if (n === undefined) return cb(-E.ENOENT);
        const count = Math.max(0, Math.min(len, n.size - pos));
        buf.fill(0, 0, count);
        cb(count);
      },
      write: (path, _fd, _buf, len, pos, cb) => {
        const n = this.lookup(path);
        if (n === undefined) return cb(-E.ENOENT);
        if (pos + len > SIZE_MAX) return cb(-E.EFBIG);
        n.size = Math.max(n.size, pos + len);
        n.mtime = n.ctime = now_ns();
        this.bytes_written += len;
        cb(len);
      },
    };
  }

  private resize(path: string, size: number): number {
    const n = this.lookup(path);
    if (n === undefined) return -E.ENOENT;
    if (n.children !== null) return -E.EISDIR;
    n.size = size;
    n.mtime = n.ctime = now_ns();
    return 0;
  }

  private rename(src: string, dest: string): number {
    const from = this.parent_of(src);
    if (typeof from === 'number') return from;
    const to = this.parent_of(dest);
    if (typeof to === 'number') return to;
    const n = from.dir.children!.get(from.name);
    if (n === undefined) return -E.ENOENT;
    if (n.children !== null && (dest + '/').startsWith(src + '/')) return -E.EINVAL;
    const old = to.dir.children!.get(to.name);
    if (old === n) return 0;
    if (old !== undefined) {
      if (old.children !== null && n.children === null) return -E.EISDIR;
      if (old.children === null && n.children !== null) return -E.ENOTDIR;
      if (old.children !== null && old.children.size > 0) return -E.ENOTEMPTY;
      this.dirent_remove(to.dir, to.name, old);
    }
    this.dirent_detach(from.dir, from.name, n);
    this.dirent_add(to.dir, to.name, n);
    return 0;
  }
}
