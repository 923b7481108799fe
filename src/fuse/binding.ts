// The typed door to fuse-native 2.2.6 as patched by patches/fuse-native+2.2.6.patch: libfuse 3's
// low-level API, served on Node's own thread (docs/FUSE.md). Nothing else in cowlog loads
// fuse-native.
//
// A filesystem gives FuseMount its LowOps: handlers named after FUSE's requests, which name
// inodes (the node id is the filesystem's inode number, 1 the root) and get a request id. Each
// request is answered exactly once through the FuseReplier (FuseMount is one): err, entry, attr,
// data... — at once or later (several requests may be outstanding). The bodies of the answers
// are encoded here, as the kernel's structs (include/uapi/linux/fuse.h, a stable ABI), and sent
// as they are.
//
// Invariants:
// - binding_load() returns only a module whose native half reports FUSE_PATCH_LEVEL; an
//   unpatched prebuild, a missing libfuse 3 or a failed build is a FuseBindingError saying what
//   to run.
// - Every entry answered (lookup, create, mknod, mkdir, symlink, link, and each entry of
//   readdirplus except '.' and '..') is one lookup the kernel counts and later returns through
//   forget(ino, n): the filesystem keeps such an inode answerable until then.
// - FuseMount.caller() is valid only in the synchronous part of a handler: the context belongs
//   to the request being dispatched and the next request overwrites it.
// - Buffers a handler receives (write data, xattr values) are libfuse's and detached when the
//   handler returns: copy what is kept.
// - The serving process never touches its own mount synchronously (that deadlocks): the
//   unmount watcher reads /proc/self/mountinfo, never the mountpoint; invalidations go to the
//   kernel from a thread of the binding's own.
// - fuse_serve() has its signal handlers in place before the mount exists, so no SIGTERM can
//   find the process with the default action and leave a stale mount behind.

import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { resolve as path_resolve } from 'node:path';
import { NoXattr } from './noxattr.js';

/** The patch level the native binding must report (`cowlog_patch` in the patch file). */
export const FUSE_PATCH_LEVEL = 12;

/** Why the binding can not be used, with the command that fixes it. */
export class FuseBindingError extends Error {
  readonly reason: 'missing' | 'unpatched' | 'stale';
  constructor(reason: 'missing' | 'unpatched' | 'stale', message: string) {
    super(message);
    this.name = 'FuseBindingError';
    this.reason = reason;
  }
}

// ---------------------------------------------------------------------------------------------
// What requests carry and answers hold.

export interface Timespec {
  s: number;
  ns: number;
}

/** Attributes as an answer carries them (st_*). Integers are 32-bit except ino, size and blocks. */
export interface FuseAttr {
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  /** 512-byte units */
  blocks: number;
  blksize?: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  /** the birth time, which only a statx answer carries */
  btime?: Timespec;
  /** statx's STATX_ATTR_* bits (chattr's flags as statx names them), in a statx answer */
  attributes?: number;
}

/** An entry: a name's inode, and how long the kernel may keep the name and the attributes. */
export interface FuseEntry {
  attr: FuseAttr;
  /** the inode's generation: (ino, generation) must never name two different files */
  generation: number;
  /** seconds */
  entryTimeout: number;
  attrTimeout: number;
}

export interface FuseStatfs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  namemax: number;
}

/** Who asked: fuse_req_ctx() of the request being dispatched. */
export interface CallerContext {
  uid: number;
  gid: number;
  pid: number;
  /** the caller's umask; the kernel sends it with create, mknod and mkdir (0 otherwise) */
  umask: number;
}

/** What INIT settled with the kernel. */
export interface ConnInfo {
  protoMinor: number;
  /** FUSE_CAP_* the kernel offers, and those in use */
  capable: number;
  want: number;
  maxWrite: number;
  maxReadahead: number;
  /** FUSE_INIT flags beyond libfuse's that were asked for (kernelWant) and the kernel offered */
  kernelGranted: number;
}

/** setattr's request: `valid` says which fields are meant (FUSE_SET_ATTR_*). */
export interface SetattrIn {
  valid: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
}

/**
 * The kernel's FUSE_INIT flags that libfuse 3.14 does not negotiate, granted by the binding
 * itself (FuseMountOptions.kernelWant). FUSE_HANDLE_KILLPRIV_V2: the filesystem clears
 * set-user-ID, set-group-ID and security.capability on write, truncate and chown, told by the
 * kernel per request whether the caller lacks CAP_FSETID (the `kill` argument of write, setattr
 * and open); the kernel then stops asking for security.capability before writes.
 */
export const FUSE_HANDLE_KILLPRIV_V2 = 1 << 28;
/**
 * FUSE_SETXATTR_EXT: setxattr requests say whether setting an access ACL takes set-group-ID
 * from the file (the caller is neither in its group nor holds CAP_FSETID: Linux's
 * posix_acl_update_mode), which the kernel leaves to a FUSE filesystem with POSIX ACLs (the
 * `kill` argument of setxattr).
 */
export const FUSE_SETXATTR_EXT = 1 << 29;

export const FUSE_SET_ATTR_MODE = 1 << 0;
export const FUSE_SET_ATTR_UID = 1 << 1;
export const FUSE_SET_ATTR_GID = 1 << 2;
export const FUSE_SET_ATTR_SIZE = 1 << 3;
export const FUSE_SET_ATTR_ATIME = 1 << 4;
export const FUSE_SET_ATTR_MTIME = 1 << 5;
export const FUSE_SET_ATTR_ATIME_NOW = 1 << 7;
export const FUSE_SET_ATTR_MTIME_NOW = 1 << 8;
export const FUSE_SET_ATTR_CTIME = 1 << 10;

/** libfuse's FUSE_CAP_* (fuse_common.h). */
export const CAP = {
  ASYNC_READ: 1 << 0,
  POSIX_LOCKS: 1 << 1,
  ATOMIC_O_TRUNC: 1 << 3,
  EXPORT_SUPPORT: 1 << 4,
  DONT_MASK: 1 << 6,
  SPLICE_WRITE: 1 << 7,
  SPLICE_MOVE: 1 << 8,
  SPLICE_READ: 1 << 9,
  FLOCK_LOCKS: 1 << 10,
  IOCTL_DIR: 1 << 11,
  AUTO_INVAL_DATA: 1 << 12,
  READDIRPLUS: 1 << 13,
  READDIRPLUS_AUTO: 1 << 14,
  ASYNC_DIO: 1 << 15,
  WRITEBACK_CACHE: 1 << 16,
  PARALLEL_DIROPS: 1 << 18,
  POSIX_ACL: 1 << 19,
  HANDLE_KILLPRIV: 1 << 20,
  CACHE_SYMLINKS: 1 << 23,
  EXPLICIT_INVAL_DATA: 1 << 25,
} as const;

/** open answers: FOPEN_* */
export const FOPEN_DIRECT_IO = 1;
export const FOPEN_KEEP_CACHE = 2;
export const FOPEN_CACHE_DIR = 8;

/** rename flags (renameat2) */
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const RENAME_WHITEOUT = 4;

/** fallocate(2) mode bits. */
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_ZERO_RANGE = 0x10;

/** lseek whence values that reach a filesystem */
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

/** ioctl flags */
export const FUSE_IOCTL_DIR = 1 << 4;

/**
 * The operations (every one optional; a missing one answers ENOSYS, which for flush, access,
 * lseek, copy_file_range and fallocate the kernel remembers and stops asking). Each handler's
 * first argument is the request id its answer names; forget and init are not answered.
 */
export interface LowOps {
  init?(conn: ConnInfo): void;
  lookup?(req: number, parent: number, name: string): void;
  forget?(ino: number, nlookup: number): void;
  getattr?(req: number, ino: number, fh: number): void;
  /** `kill`: with FUSE_HANDLE_KILLPRIV_V2, a truncate by a caller without CAP_FSETID */
  setattr?(req: number, ino: number, set: SetattrIn, fh: number, kill: boolean): void;
  readlink?(req: number, ino: number): void;
  mknod?(req: number, parent: number, name: string, mode: number, rdev: number): void;
  mkdir?(req: number, parent: number, name: string, mode: number): void;
  unlink?(req: number, parent: number, name: string): void;
  rmdir?(req: number, parent: number, name: string): void;
  symlink?(req: number, target: string, parent: number, name: string): void;
  rename?(req: number, parent: number, name: string, newparent: number, newname: string, flags: number): void;
  link?(req: number, ino: number, newparent: number, newname: string): void;
  /** `kill`: with FUSE_HANDLE_KILLPRIV_V2, an O_TRUNC open by a caller without CAP_FSETID */
  open?(req: number, ino: number, flags: number, kill: boolean): void;
  read?(req: number, ino: number, fh: number, size: number, off: number): void;
  /**
   * `writepage`: a write-back of the kernel's page cache, whose caller context is not the writer;
   * `kill`: with FUSE_HANDLE_KILLPRIV_V2, the writer lacks CAP_FSETID
   */
  write?(req: number, ino: number, fh: number, buf: Buffer, off: number, writepage: boolean, kill: boolean): void;
  flush?(req: number, ino: number, fh: number): void;
  release?(req: number, ino: number, fh: number, flags: number): void;
  fsync?(req: number, ino: number, fh: number, datasync: number): void;
  opendir?(req: number, ino: number, flags: number): void;
  readdir?(req: number, ino: number, fh: number, size: number, off: number): void;
  readdirplus?(req: number, ino: number, fh: number, size: number, off: number): void;
  releasedir?(req: number, ino: number, fh: number): void;
  fsyncdir?(req: number, ino: number, fh: number, datasync: number): void;
  statfs?(req: number, ino: number): void;
  /**
   * `kill`: the caller is neither in the file's group nor holds CAP_FSETID, and the name is
   * system.posix_acl_access — set-group-ID goes (FUSE_SETXATTR_EXT's ACL_KILL_SGID; always false
   * without it)
   */
  setxattr?(req: number, ino: number, name: string, value: Buffer, flags: number, kill: boolean): void;
  /** size 0 asks for the value's length (xattr_size); otherwise ERANGE when it is larger */
  getxattr?(req: number, ino: number, name: string, size: number): void;
  listxattr?(req: number, ino: number, size: number): void;
  removexattr?(req: number, ino: number, name: string): void;
  access?(req: number, ino: number, mask: number): void;
  create?(req: number, parent: number, name: string, mode: number, flags: number): void;
  fallocate?(req: number, ino: number, fh: number, mode: number, off: number, len: number): void;
  copy_file_range?(req: number, inoIn: number, offIn: number, fhIn: number, inoOut: number, offOut: number, fhOut: number, len: number, flags: number): void;
  lseek?(req: number, ino: number, fh: number, off: number, whence: number): void;
  /**
   * `arg`: the caller's third argument as it passed it — for an ioctl whose data FUSE does not
   * carry (FS_IOC_SHUTDOWN's flags: an _IOR the kernel sends no input for), the address of that
   * data in the caller's memory
   */
  ioctl?(req: number, ino: number, fh: number, cmd: number, flags: number, inBuf: Buffer | null, outSize: number, arg: number): void;
  /**
   * open(2) with O_TMPFILE in directory `parent` (FUSE_TMPFILE, which libfuse 3.14 does not
   * know: the binding reads it as a create): answered as a create is, with an inode of no name
   */
  tmpfile?(req: number, parent: number, mode: number, flags: number): void;
  /**
   * statx(2) asking for more than the basic fields (FUSE_STATX, read by the binding as a
   * getattr): `mask` the STATX_* fields asked for, `flags` statx's AT_* flags; answered with
   * statx()
   */
  statx?(req: number, ino: number, fh: number, mask: number, flags: number): void;
}

/** The requests in the native binding's order (fuse-native.c OP_NAMES). */
export const FUSE_OPS = [
  'init', 'lookup', 'forget', 'getattr', 'setattr', 'readlink', 'mknod', 'mkdir', 'unlink', 'rmdir', 'symlink',
  'rename', 'link', 'open', 'read', 'write', 'flush', 'release', 'fsync', 'opendir', 'readdir', 'releasedir',
  'fsyncdir', 'statfs', 'setxattr', 'getxattr', 'listxattr', 'removexattr', 'access', 'create', 'fallocate',
  'readdirplus', 'copy_file_range', 'lseek', 'ioctl', 'tmpfile', 'statx',
] as const;
export type FuseOpName = (typeof FUSE_OPS)[number];

/** How requests are answered (FuseMount; tests record them instead). */
export interface FuseReplier {
  /** errno: positive (ENOENT = 2) */
  err(req: number, errno: number): void;
  entry(req: number, e: FuseEntry): void;
  /** a name that does not exist, cached by the kernel for `timeout` seconds */
  negative(req: number, timeout: number): void;
  attr(req: number, a: FuseAttr, timeout: number): void;
  /** a statx answer: the attributes with the birth time and statx's attribute bits */
  statx(req: number, a: FuseAttr, timeout: number): void;
  open(req: number, fh: number, flags: number): void;
  create(req: number, e: FuseEntry, fh: number, flags: number): void;
  /** read, readlink, getxattr and listxattr answers: the first `len` bytes of `buf` */
  data(req: number, buf: Uint8Array, len: number): void;
  write(req: number, n: number): void;
  xattr_size(req: number, n: number): void;
  statfs(req: number, st: FuseStatfs): void;
  lseek(req: number, off: number): void;
  dirents(req: number, d: DirBuf): void;
  ioctl(req: number, result: number, out: Buffer | null): void;
  /** forget-like requests that take no answer */
  none(req: number): void;
}

// ---------------------------------------------------------------------------------------------
// The kernel's structs.

const ATTR_BYTES = 88;
const ENTRY_OUT_BYTES = 40 + ATTR_BYTES;
const ATTR_OUT_BYTES = 16 + ATTR_BYTES;
/** fuse_statx_out: attr_valid, its nanoseconds, flags, two spare u64, then fuse_statx (256) */
const STATX_OUT_BYTES = 32 + 256;
/** STATX_BASIC_STATS | STATX_BTIME: the fields a statx answer carries */
const STATX_ANSWERED = 0x7ff | 0x800;
/** the STATX_ATTR_* bits cowlog can answer: COMPRESSED, IMMUTABLE, APPEND, NODUMP */
export const STATX_ATTR_KNOWN = 0x04 | 0x10 | 0x20 | 0x40;
const OPEN_OUT_BYTES = 16;
const STATFS_OUT_BYTES = 80;
const DIRENT_BYTES = 24;
const U32 = 2 ** 32;

function u64_set(v: DataView, at: number, n: number): void {
  // two's complement for negative seconds (times before 1970)
  const hi = Math.floor(n / U32);
  v.setUint32(at, n - hi * U32, true);
  v.setUint32(at + 4, hi >>> 0, true);
}

function seconds_set(v: DataView, at: number, nsAt: number, t: number): void {
  const s = Math.floor(t);
  u64_set(v, at, s);
  v.setUint32(nsAt, Math.min(999_999_999, Math.round((t - s) * 1e9)), true);
}

function attr_put(v: DataView, o: number, a: FuseAttr): void {
  u64_set(v, o, a.ino);
  u64_set(v, o + 8, a.size);
  u64_set(v, o + 16, a.blocks);
  u64_set(v, o + 24, a.atime.s);
  u64_set(v, o + 32, a.mtime.s);
  u64_set(v, o + 40, a.ctime.s);
  v.setUint32(o + 48, a.atime.ns, true);
  v.setUint32(o + 52, a.mtime.ns, true);
  v.setUint32(o + 56, a.ctime.ns, true);
  v.setUint32(o + 60, a.mode, true);
  v.setUint32(o + 64, a.nlink, true);
  v.setUint32(o + 68, a.uid, true);
  v.setUint32(o + 72, a.gid, true);
  v.setUint32(o + 76, a.rdev, true);
  v.setUint32(o + 80, a.blksize ?? 4096, true);
  v.setUint32(o + 84, 0, true);
}

/** struct fuse_statx at o (fuse_sx_time: i64 seconds, u32 nanoseconds, i32 reserved). */
function statx_put(v: DataView, o: number, a: FuseAttr): void {
  new Uint8Array(v.buffer, v.byteOffset + o, 256).fill(0);
  const time = (at: number, t: Timespec): void => { u64_set(v, at, t.s); v.setUint32(at + 8, t.ns, true); };
  v.setUint32(o, a.btime !== undefined ? STATX_ANSWERED : STATX_ANSWERED & ~0x800, true);
  v.setUint32(o + 4, a.blksize ?? 4096, true);
  u64_set(v, o + 8, a.attributes ?? 0);
  v.setUint32(o + 16, a.nlink, true);
  v.setUint32(o + 20, a.uid, true);
  v.setUint32(o + 24, a.gid, true);
  v.setUint16(o + 28, a.mode, true);
  u64_set(v, o + 32, a.ino);
  u64_set(v, o + 40, a.size);
  u64_set(v, o + 48, a.blocks);
  u64_set(v, o + 56, STATX_ATTR_KNOWN);
  time(o + 64, a.atime);
  if (a.btime !== undefined) time(o + 80, a.btime);
  time(o + 96, a.ctime);
  time(o + 112, a.mtime);
  // rdev as the kernel's new_encode_dev packs it (major above minor's low 8 bits)
  v.setUint32(o + 128, (a.rdev >>> 8) & 0xfff, true);
  v.setUint32(o + 132, (a.rdev & 0xff) | ((a.rdev >>> 12) & 0xfff00), true);
}

/** fuse_entry_out at o (nodeid 0: a negative entry). */
function entry_put(v: DataView, o: number, e: FuseEntry | null, negTimeout = 0): void {
  if (e === null) {
    new Uint8Array(v.buffer, v.byteOffset + o, ENTRY_OUT_BYTES).fill(0);
    seconds_set(v, o + 16, o + 32, negTimeout);
    return;
  }
  u64_set(v, o, e.attr.ino);
  u64_set(v, o + 8, e.generation);
  seconds_set(v, o + 16, o + 32, e.entryTimeout);
  seconds_set(v, o + 24, o + 36, e.attrTimeout);
  attr_put(v, o + 40, e.attr);
}

/** The DT_* type of a mode. */
export function dt_of_mode(mode: number): number {
  return (mode >>> 12) & 0o17;
}

/**
 * A readdir or readdirplus answer being filled: entries are added while they fit `size` (what
 * the kernel asked for). Each entry carries the offset at which a later readdir continues after
 * it (telldir's value).
 */
export class DirBuf {
  readonly buf: Buffer;
  private readonly v: DataView;
  len = 0;
  /** entries added */
  count = 0;
  constructor(readonly size: number, readonly plus: boolean) {
    this.buf = Buffer.alloc(Math.min(size, 1 << 20));
    this.v = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /**
   * Adds `name` (latin1: one character per byte) unless it does not fit: false then. For
   * readdirplus, `e` is its entry (null for '.' and '..', which the kernel does not look up).
   */
  add(name: string, ino: number, type: number, off: number, e: FuseEntry | null = null): boolean {
    const n = name.length;
    const rec = (DIRENT_BYTES + n + 7) & ~7;
    const need = (this.plus ? ENTRY_OUT_BYTES : 0) + rec;
    if (this.len + need > this.buf.length) return false;
    let o = this.len;
    if (this.plus) {
      entry_put(this.v, o, e);
      o += ENTRY_OUT_BYTES;
    }
    u64_set(this.v, o, ino);
    u64_set(this.v, o + 8, off);
    this.v.setUint32(o + 16, n, true);
    this.v.setUint32(o + 20, type, true);
    this.buf.write(name, o + DIRENT_BYTES, 'latin1');
    this.buf.fill(0, o + DIRENT_BYTES + n, o + rec);
    this.len += need;
    this.count++;
    return true;
  }
}

// ---------------------------------------------------------------------------------------------
// Mount options.

export interface FuseMountOptions {
  /** the name shown as the mount's source; must be unique among live mounts, no commas */
  fsname: string;
  /** mount type becomes fuse.SUBTYPE */
  subtype?: string;
  /** let the kernel check permissions from the mode bits (and POSIX ACLs) (default false) */
  defaultPermissions?: boolean;
  /** let users other than the mounting one in (root may always; others need user_allow_other) */
  allowOther?: boolean;
  /** more -o options the kernel or libfuse takes (ro, nosuid, noatime...), each "name" or "name=value" */
  extra?: string[];
  /** FUSE_CAP_* to ask for beyond libfuse's defaults, and libfuse defaults to turn off */
  want?: number;
  unwant?: number;
  /** kernel FUSE_INIT flags libfuse does not know, granted when the kernel offers them (FUSE_HANDLE_KILLPRIV_V2) */
  kernelWant?: number;
  /**
   * microseconds the session keeps reading the device after its last request, while every
   * request is answered, before it waits in the event loop (0, the default: at once)
   */
  spinUs?: number;
  /** largest write request in bytes (default: libfuse's 1 MiB) */
  maxWrite?: number;
  /** the kernel's read-ahead for the mount, bytes */
  maxReadahead?: number;
  /** requests the kernel keeps in flight in the background (read-ahead, write-back) */
  maxBackground?: number;
  /** libfuse's debug trace on stderr */
  debug?: boolean;
}

const OPTION_RE = /^[a-z_]+(=[^,]+)?$/;

/** The -o string for libfuse. */
export function fuse_option_string(opts: FuseMountOptions): string {
  if (!/^[^,\s=]+$/.test(opts.fsname)) {
    throw new RangeError(`fsname '${opts.fsname}' must be one word without commas or '='`);
  }
  const out = [`fsname=${opts.fsname}`];
  if (opts.subtype !== undefined) {
    if (!/^[a-z0-9_]+$/.test(opts.subtype)) throw new RangeError(`subtype '${opts.subtype}' must be lower-case letters, digits or _`);
    out.push(`subtype=${opts.subtype}`);
  }
  if (opts.defaultPermissions) out.push('default_permissions');
  if (opts.allowOther) out.push('allow_other');
  if (opts.debug) out.push('debug');
  for (const o of opts.extra ?? []) {
    if (!OPTION_RE.test(o)) throw new RangeError(`mount option '${o}' is not name or name=value`);
    out.push(o);
  }
  return out.join(',');
}

// ---------------------------------------------------------------------------------------------
// Loading.

interface Native {
  session_mount(mnt: string, opts: string, handlers: unknown[], conf: Uint32Array, ctx: Int32Array, self: object, nox?: Float64Array): number;
  session_unmount(sid: number): void;
  session_release(sid: number): void;
  reply_err(sid: number, id: number, errno: number): void;
  reply_none(sid: number, id: number): void;
  reply_buf(sid: number, id: number, buf: Uint8Array | null, len: number): void;
  reply_write(sid: number, id: number, n: number): void;
  reply_xattr(sid: number, id: number, n: number): void;
  reply_lseek(sid: number, id: number, off: number): void;
  reply_ioctl(sid: number, id: number, result: number, out: Buffer | null): void;
  notify_inval_inode(sid: number, ino: number, off: number, len: number): number;
  notify_inval_entry(sid: number, parent: number, name: string): number;
  notify_delete(sid: number, parent: number, child: number, name: string): number;
  /** not FUSE's: FITRIM's discard of a range of the device (src/device/file.ts discarder_set) */
  discard_range(fd: number, off: number, len: number, block: boolean): number;
}
export interface FuseModule {
  COWLOG_PATCH?: number;
  LIBFUSE_VERSION?: number;
  OP_NAMES: string[];
  native: Native;
}

let loaded: FuseModule | undefined;

/** Loads the patched fuse-native, or throws a FuseBindingError naming the fix. */
export function binding_load(): FuseModule {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  let mod: FuseModule;
  try {
    mod = require('fuse-native') as FuseModule;
  } catch (e) {
    const why = (e as Error).message.split('\n')[0] ?? String(e);
    throw new FuseBindingError('missing',
      `fuse-native can not be loaded (${why}); run \`make fuse\` (Debian packages fuse3 libfuse3-3, and the patched build)`);
  }
  const level = mod.COWLOG_PATCH;
  if (level === undefined) {
    throw new FuseBindingError('unpatched',
      'fuse-native is loaded without cowlog\'s patch (its prebuilt binary or unpatched sources); run `make fuse`');
  }
  if (level !== FUSE_PATCH_LEVEL) {
    throw new FuseBindingError('stale',
      `fuse-native carries cowlog patch level ${level}, this cowlog needs ${FUSE_PATCH_LEVEL}; run \`make fuse\``);
  }
  if (mod.OP_NAMES.join() !== FUSE_OPS.join()) {
    throw new FuseBindingError('stale', `fuse-native's operations (${mod.OP_NAMES.join(' ')}) are not this cowlog's; run \`make fuse\``);
  }
  loaded = mod;
  return mod;
}

// ---------------------------------------------------------------------------------------------
// Mounting.

const CONF_COUNT = 9;
const SETATTR_ARGS = 14;

/**
 * One mounted filesystem served by this process, and the replier of its requests.
 *
 * Its end is known two ways: the native side calls back the moment the kernel ends the
 * connection (an unmount, umount -l once the last open file is closed, an abort through
 * fusectl), and /proc/self/mountinfo stops listing it (a lazy unmount with files still open
 * detaches the name first). The mount is recognised by its device number, not its path alone:
 * once it is gone, the same mountpoint may already hold somebody else's mount, which an
 * unmount by path would take away.
 */
export class FuseMount implements FuseReplier {
  readonly mountpoint: string;
  private readonly opts: FuseMountOptions;
  private readonly native: Native;
  private sid = -1;
  private state: 'new' | 'mounting' | 'mounted' | 'unmounted' = 'new';
  private released = false;
  private gone: Promise<void> | undefined;
  /** the mount's device number in /proc/self/mountinfo ("major:minor"), once it is live */
  private dev: string | null = null;
  private endedNow = false;
  private endedOk: () => void = () => {};
  /** resolves when the kernel ended the connection: nothing more will be asked */
  readonly ended: Promise<void>;
  private readonly ctx = new Int32Array(4);
  /** inodes known to have no extended attribute, whose getxattr the binding answers (noxattr.ts) */
  readonly noXattr = new NoXattr();
  /** what INIT settled, once it arrived */
  conn: ConnInfo | null = null;
  private initOk: (() => void) | null = null;
  private readonly scratch = Buffer.alloc(512);
  private readonly sv = new DataView(this.scratch.buffer, this.scratch.byteOffset, this.scratch.byteLength);
  /** invalidations: the last one queued and the last one the kernel has taken */
  private noteSeq = 0;
  private noteDone = 0;
  private readonly noteWaiters: { seq: number; ok: () => void }[] = [];

  constructor(mountpoint: string, opts: FuseMountOptions) {
    this.native = binding_load().native;
    this.mountpoint = path_resolve(mountpoint);
    this.opts = opts;
    fuse_option_string(opts); // refuses bad options now, not at mount
    this.ended = new Promise((ok) => { this.endedOk = ok; });
  }

  /** Whether the kernel has ended the connection. */
  get connectionEnded(): boolean {
    return this.endedNow;
  }

  /**
   * Mounts and serves `ops`. Resolves once the kernel's INIT reached the handlers: the mount is
   * live. Rejects if mounting fails, or if the mount is taken away before INIT arrived.
   */
  mount(ops: LowOps): Promise<void> {
    if (this.state !== 'new') return Promise.reject(new Error(`${this.mountpoint}: mount() called twice`));
    this.state = 'mounting';
    return new Promise((ok, fail) => {
      let settled = false;
      let initArrived = false;
      const lost = (): void => {
        if (settled || initArrived) return;
        settled = true;
        this.state = 'unmounted';
        fail(new Error(`${this.mountpoint} was unmounted before the kernel's INIT reached the filesystem`));
      };
      this.initOk = () => {
        // from here the mount is live: requests are served while its device number is read,
        // and one taken away meanwhile was unmounted (the caller sees `ended`), not lost
        initArrived = true;
        // the mount(2) call was made before serving started, so it is listed now unless it is gone again
        mountinfo_dev(this.mountpoint).then((dev) => {
          if (settled) return;
          settled = true;
          this.dev = dev;
          this.state = 'mounted';
          ok();
        }, (e: unknown) => {
          if (settled) return;
          settled = true;
          fail(e instanceof Error ? e : new Error(String(e)));
        });
      };
      try {
        this.sid = this.native.session_mount(this.mountpoint, fuse_option_string(this.opts), this.handlers(ops), this.conf(), this.ctx, {
          ended: () => { this.endedNow = true; this.endedOk(); },
          notified: (seq: number) => this.notified(seq),
        }, this.noXattr.table);
      } catch (e) {
        settled = true;
        this.state = 'unmounted';
        fail(new Error(`mounting ${this.mountpoint} failed: ${(e as Error).message}`));
        return;
      }
      this.ended.then(lost, () => {});
    });
  }

  private conf(): Uint32Array {
    const o = this.opts;
    const c = new Uint32Array(CONF_COUNT);
    c[0] = o.want ?? 0;
    c[1] = o.unwant ?? 0;
    c[2] = o.maxWrite ?? 0;
    c[3] = o.maxReadahead ?? 0;
    c[4] = o.maxBackground ?? 0;
    c[5] = 0;
    c[6] = 1;
    c[7] = o.kernelWant ?? 0;
    c[8] = o.spinUs ?? 0;
    return c;
  }

  /** The native handler array: each op's arguments as the LowOps signature takes them. */
  private handlers(ops: LowOps): unknown[] {
    const h: unknown[] = new Array(FUSE_OPS.length).fill(undefined);
    h[0] = (protoMinor: number, capable: number, want: number, maxWrite: number, maxReadahead: number, kernelGranted: number): void => {
      this.conn = { protoMinor, capable, want, maxWrite, maxReadahead, kernelGranted };
      ops.init?.(this.conn);
      this.initOk?.();
      this.initOk = null;
    };
    FUSE_OPS.forEach((name, i) => {
      if (i === 0) return;
      const fn = (ops as Record<string, ((...a: unknown[]) => void) | undefined>)[name];
      if (fn === undefined) return;
      if (name === 'setattr') {
        h[i] = (id: number, ino: number, ...a: unknown[]): void => {
          if (a.length !== SETATTR_ARGS - 1) throw new Error(`setattr with ${a.length} arguments`);
          const r = a as number[];
          const set: SetattrIn = {
            valid: r[0]!, mode: r[1]!, uid: r[2]!, gid: r[3]!, size: r[4]!,
            atime: { s: r[5]!, ns: r[6]! }, mtime: { s: r[7]!, ns: r[8]! }, ctime: { s: r[9]!, ns: r[10]! },
          };
          fn.call(ops, id, ino, set, r[11], a[12] === true);
        };
      } else {
        h[i] = fn.bind(ops);
      }
    });
    return h;
  }

  /**
   * Detaches the mount (fusermount -uz) if it is still listed at its mountpoint. Requests go on
   * being served: files still open on a lazily detached mount keep working until they are
   * closed (the kernel then ends the connection) or close() is called. Once the kernel has
   * ended the connection nothing is unmounted: the mountpoint may hold another mount by now.
   */
  async unmount(): Promise<void> {
    const was = this.state;
    this.state = 'unmounted';
    if (was === 'mounted' || was === 'mounting') {
      if (!this.endedNow && (was === 'mounting' || await this.listed())) {
        const err = await new Promise<Error | null>((ok) => execFile('fusermount', ['-uz', this.mountpoint], (e) => ok(e)));
        if (err !== null && was === 'mounted' && await this.listed()) throw err;
      }
    }
  }

  /**
   * Lets go of the native session: serving stops, and a connection still alive (files open on
   * a detached mount) ends, so its callers get ENOTCONN instead of waiting. A process that
   * exits needs no close().
   */
  close(): void {
    this.state = 'unmounted';
    this.release();
  }

  private release(): void {
    if (this.released || this.sid < 0) return;
    this.released = true;
    this.native.session_release(this.sid);
    for (const w of this.noteWaiters.splice(0)) w.ok();
  }

  /** Whether this mount (by its device number) is still listed at its mountpoint. */
  private async listed(): Promise<boolean> {
    const dev = await mountinfo_dev(this.mountpoint);
    return dev !== null && (this.dev === null || dev === this.dev);
  }

  /** The caller of the request being handled; call it before the handler's first await. */
  caller(): CallerContext {
    const c = this.ctx;
    return { uid: c[0]! >>> 0, gid: c[1]! >>> 0, pid: c[2]!, umask: c[3]! };
  }

  /**
   * Resolves when the mount is gone: the kernel ended the connection, or (checked every
   * `interval_ms` once the mount is live) it is no longer listed at its mountpoint, as after
   * a lazy unmount that leaves files open. The timer keeps no process alive.
   */
  unmounted(interval_ms = 200): Promise<void> {
    this.gone ??= new Promise((ok) => {
      const tick = (): void => {
        if (this.endedNow) return;
        if (this.state !== 'mounted') { setTimeout(tick, interval_ms).unref(); return; }
        this.listed().then((has) => {
          if (!has) ok();
          else setTimeout(tick, interval_ms).unref();
        }, () => setTimeout(tick, interval_ms).unref());
      };
      this.ended.then(() => ok(), () => {});
      tick();
    });
    return this.gone;
  }

  // ---- invalidations ------------------------------------------------------------------------

  /** Drops the kernel's attributes of `ino`, and its cached data from `off` (len 0: to the end; off -1: none). */
  inval_inode(ino: number, off = 0, len = 0): void {
    if (this.live()) this.noteSeq = this.native.notify_inval_inode(this.sid, ino, off, len);
  }

  /** Drops the kernel's cached name `name` in directory `parent` (and a negative entry). */
  inval_entry(parent: number, name: string): void {
    if (this.live()) this.noteSeq = this.native.notify_inval_entry(this.sid, parent, name);
  }

  /** Tells the kernel that `name` in `parent`, naming `child`, is gone. */
  delete_entry(parent: number, child: number, name: string): void {
    if (this.live()) this.noteSeq = this.native.notify_delete(this.sid, parent, child, name);
  }

  /** Resolves once the kernel has taken every invalidation queued so far. */
  invalidated(): Promise<void> {
    const seq = this.noteSeq;
    if (seq <= this.noteDone || !this.live()) return Promise.resolve();
    return new Promise((ok) => this.noteWaiters.push({ seq, ok }));
  }

  private live(): boolean {
    return this.sid >= 0 && !this.released && !this.endedNow;
  }

  private notified(seq: number): void {
    this.noteDone = seq;
    for (let i = 0; i < this.noteWaiters.length;) {
      if (this.noteWaiters[i]!.seq <= seq) this.noteWaiters.splice(i, 1)[0]!.ok();
      else i++;
    }
  }

  // ---- replies --------------------------------------------------------------------------------
  // After the session is released (the mount is gone) answers have nobody to go to: dropped.

  err(req: number, errno: number): void {
    if (!this.released) this.native.reply_err(this.sid, req, errno);
  }

  entry(req: number, e: FuseEntry): void {
    if (this.released) return;
    entry_put(this.sv, 0, e);
    this.native.reply_buf(this.sid, req, this.scratch, ENTRY_OUT_BYTES);
  }

  negative(req: number, timeout: number): void {
    if (this.released) return;
    if (timeout <= 0) { this.native.reply_err(this.sid, req, constants.errno.ENOENT); return; }
    entry_put(this.sv, 0, null, timeout);
    this.native.reply_buf(this.sid, req, this.scratch, ENTRY_OUT_BYTES);
  }

  attr(req: number, a: FuseAttr, timeout: number): void {
    if (this.released) return;
    seconds_set(this.sv, 0, 8, timeout);
    this.sv.setUint32(12, 0, true);
    attr_put(this.sv, 16, a);
    this.native.reply_buf(this.sid, req, this.scratch, ATTR_OUT_BYTES);
  }

  statx(req: number, a: FuseAttr, timeout: number): void {
    if (this.released) return;
    seconds_set(this.sv, 0, 8, timeout);
    this.sv.setUint32(12, 0, true);
    u64_set(this.sv, 16, 0);
    u64_set(this.sv, 24, 0);
    statx_put(this.sv, 32, a);
    this.native.reply_buf(this.sid, req, this.scratch, STATX_OUT_BYTES);
  }

  private open_put(o: number, fh: number, flags: number): void {
    u64_set(this.sv, o, fh);
    this.sv.setUint32(o + 8, flags, true);
    this.sv.setUint32(o + 12, 0, true);
  }

  open(req: number, fh: number, flags: number): void {
    if (this.released) return;
    this.open_put(0, fh, flags);
    this.native.reply_buf(this.sid, req, this.scratch, OPEN_OUT_BYTES);
  }

  create(req: number, e: FuseEntry, fh: number, flags: number): void {
    if (this.released) return;
    entry_put(this.sv, 0, e);
    this.open_put(ENTRY_OUT_BYTES, fh, flags);
    this.native.reply_buf(this.sid, req, this.scratch, ENTRY_OUT_BYTES + OPEN_OUT_BYTES);
  }

  data(req: number, buf: Uint8Array, len: number): void {
    if (!this.released) this.native.reply_buf(this.sid, req, buf, len);
  }

  write(req: number, n: number): void {
    if (!this.released) this.native.reply_write(this.sid, req, n);
  }

  xattr_size(req: number, n: number): void {
    if (!this.released) this.native.reply_xattr(this.sid, req, n);
  }

  statfs(req: number, st: FuseStatfs): void {
    if (this.released) return;
    const v = this.sv;
    this.scratch.fill(0, 0, STATFS_OUT_BYTES);
    u64_set(v, 0, st.blocks);
    u64_set(v, 8, st.bfree);
    u64_set(v, 16, st.bavail);
    u64_set(v, 24, st.files);
    u64_set(v, 32, st.ffree);
    v.setUint32(40, st.bsize, true);
    v.setUint32(44, st.namemax, true);
    v.setUint32(48, st.frsize, true);
    this.native.reply_buf(this.sid, req, this.scratch, STATFS_OUT_BYTES);
  }

  lseek(req: number, off: number): void {
    if (!this.released) this.native.reply_lseek(this.sid, req, off);
  }

  dirents(req: number, d: DirBuf): void {
    if (!this.released) this.native.reply_buf(this.sid, req, d.buf, d.len);
  }

  ioctl(req: number, result: number, out: Buffer | null): void {
    if (!this.released) this.native.reply_ioctl(this.sid, req, result, out);
  }

  none(req: number): void {
    if (!this.released) this.native.reply_none(this.sid, req);
  }
}

/**
 * Serves `ops` on `mount` until SIGTERM or SIGINT (a second one exits at once) or an outside
 * unmount, then unmounts. The signal handlers are installed before mounting, so a signal that
 * arrives while the mount comes up is not lost. `on_ready` runs once the mount is live.
 * `stop_when` stops serving when it resolves (with the reason), as a signal does. Resolves with
 * why it stopped; rejects if mounting fails.
 */
export async function fuse_serve(mount: FuseMount, ops: LowOps, on_ready?: () => void, stop_when?: Promise<string>): Promise<string> {
  let stop: (why: string) => void = () => {};
  const stopped = new Promise<string>((ok) => { stop = ok; });
  stop_when?.then((why) => stop(why), () => {});
  let signals = 0;
  const on_signal = (sig: NodeJS.Signals): void => {
    if (++signals > 1) process.exit(128 + (constants.signals[sig] ?? 15));
    stop(sig);
  };
  process.on('SIGTERM', on_signal);
  process.on('SIGINT', on_signal);
  try {
    const mounting = mount.mount(ops);
    mounting.catch(() => {}); // when a signal wins the race, a late failure is not news
    const first = await Promise.race([mounting.then(() => undefined), stopped]);
    if (first !== undefined) {
      await mount.unmount();
      return first;
    }
    on_ready?.();
    const why = await Promise.race([stopped, mount.unmounted().then(() => 'unmounted from outside')]);
    await mount.unmount();
    return why;
  } finally {
    process.off('SIGTERM', on_signal);
    process.off('SIGINT', on_signal);
  }
}

/** Decodes the octal escapes (\040 for a space...) of a /proc/self/mountinfo path. */
export function mountinfo_unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The device number ("major:minor") of the topmost mount at `mountpoint`, or null. */
async function mountinfo_dev(mountpoint: string): Promise<string | null> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  let dev: string | null = null;
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f[4] !== undefined && mountinfo_unescape(f[4]) === mountpoint) dev = f[2] ?? null;
  }
  return dev;
}

/** A positive errno from an errno name (EIO when unknown). */
export function errno_of(name: string): number {
  const n = (constants.errno as Record<string, number | undefined>)[name];
  return n ?? 5;
}
