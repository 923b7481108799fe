// The FUSE operations of a cowlog mount: libfuse 3's low-level requests (binding.ts) become
// FileSystem calls, and engine errors become errnos. Requests name inodes: the node id the
// kernel uses is cowlog's inode number (1 is the root), stable for the life of the file and
// never reused, so the kernel keeps one inode per file (hard links show one link count) and a
// file handle (name_to_handle_at) stays valid across cache eviction.
//
// Invariants:
// - Every request is answered exactly once, through `reply`; all but read are answered
//   synchronously (the engine is synchronous, so two requests never interleave inside it), and
//   the answer is sent outside the try block, so an exception from the binding can not answer
//   twice. A read of at least PARALLEL_READ_MIN bytes asks the engine for a plan (synchronously,
//   like any request) and reads the plan's device runs without blocking, so the reads of several
//   requests reach the device together; it answers when they are in, if no device write came in
//   between, nothing changed the file's data (a write answered meanwhile may sit in the page
//   cache) and every block passed its CRC32C, and otherwise reads again the ordinary way.
// - An FsError becomes its errno. Any other exception is a bug: it is logged with its stack, and
//   the mount turns read-only from then on (writers get EIO, readers go on), so whatever state
//   the bug left in memory is never written; close() then drops the volume without a
//   checkpoint, and the next mount starts from the last durable state.
// - `held` (held.ts) is what the kernel holds: the lookups it counts per inode, the names it may
//   have cached (negative ones too) — the paths traces show, and what a rollback invalidates.
//   An inode the kernel holds that leaves the tree (a directory removed while open) is answered
//   as a ghost (its last attributes, link count 0) until the kernel forgets it: fstat(2) of an
//   open descriptor of a removed directory works as on ext4.
// - The kernel caches attributes and names (attrTimeout, entryTimeout) and keeps them right by
//   itself for every change made through the mount (each answer carries the new attributes; it
//   drops what a request made stale). What cowlog changes on its own is invalidated here: atime
//   moved by a read, and everything at a rollback. So a readdirplus may leave out the entry of
//   a name the kernel holds and was given less than half the timeouts ago: what the kernel has
//   for it is right.
// - A file handle names an inode, not a path: reads and writes follow renames and outlive
//   unlink (the engine keeps an open inode without a name as an orphan until its last release,
//   or frees it at the next mount after a crash).
// - Names are bytes: they arrive as latin1 strings (one character per byte) and go to the engine
//   as the Buffers of those bytes; names that are not UTF-8 survive as on ext4.
// - Nothing here is durable: the engine's fsync and checkpoints are. close(2) is not fsync (the
//   flush request is not implemented: the kernel stops sending it).

import { comm_read } from './comm.js';
import type { WriteTag } from '../device/cause.js';
import { constants as fsc } from 'node:fs';
import { constants as osc } from 'node:os';
import type { DataStamp, FileSystem, SnapReply, SnapRequest } from '../fs/fs.js';
import { plan_fill } from '../fs/file.js';
import { caller_fsetid, caller_in_group } from './creds.js';
import { caller_u32 } from './caller_mem.js';
import type { ReadRun } from '../fs/file.js';
import { BLOCK_SIZE } from '../device/device.js';
import type { AsyncReader } from '../device/device.js';
import { bounded_set } from '../util/bounded_map.js';
import { crc32c } from '../util/crc32c.js';
import type { Attr, SetAttr } from '../fs/types.js';
import { is_dir, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from '../fs/types.js';
import type { Timespec } from '../checkpoint/clock.js';
import { CorruptError, FsError } from '../util/errors.js';
import {
  CAP, DirBuf, dt_of_mode, FOPEN_KEEP_CACHE, FUSE_HANDLE_KILLPRIV_V2, FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_ATIME_NOW, FUSE_SET_ATTR_GID, FUSE_SET_ATTR_MODE,
  FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW, FUSE_SET_ATTR_CTIME, FUSE_SET_ATTR_SIZE, FUSE_SET_ATTR_UID, RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT, SEEK_DATA,
  SEEK_HOLE,
} from './binding.js';
import type { CallerContext, ConnInfo, FuseAttr, FuseEntry, FuseReplier, FuseStatfs, LowOps, SetattrIn } from './binding.js';
import { STATX_ATTR_KNOWN } from './binding.js';
import type { Logger } from './log.js';
import type { TraceHub, TraceSource } from './trace.js';
import { acl_name } from '../fs/acl.js';
import { KernelHeld } from './held.js';
import type { FuseNotifier } from './held.js';
import { NOX_ACL_ACCESS, NOX_ACL_DEFAULT, NOX_CAPABILITY } from './noxattr.js';
import type { NoXattr } from './noxattr.js';

const E = osc.errno;
const ROOT = 1;
const S_ISGID = 0o2000;
const O_ACCMODE = 3;
/** setattr's time fields: all a ghost (an inode gone from the tree, still held) takes */
const SETATTR_TIMES = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
/** _IOR('X', 125, __u32): xfs's GOINGDOWN, which Linux filesystems answer as FS_IOC_SHUTDOWN */
const FS_IOC_SHUTDOWN = 0x8004587d;
/** chattr's flags (chattr.ts): _IOR('f', 1, long), _IOW('f', 2, long) — FUSE carries 4 bytes, an int */
const FS_IOC_GETFLAGS = 0x80086601;
const FS_IOC_SETFLAGS = 0x40086602;
/** _IOR('X', 31, struct fsxattr), _IOW('X', 32, ...): xflags, extsize, nextents, projid, cowextsize, 8 bytes pad */
const FS_IOC_FSGETXATTR = 0x801c581f;
const FS_IOC_FSSETXATTR = 0x401c5820;
const FSXATTR_BYTES = 28;
/** _IOWR('X', 121, struct fstrim_range): start, len, minlen (u64 each); len comes back as the bytes trimmed */
const FITRIM = 0xc0185879;
/** its flags (Linux's FS_SHUTDOWN_FLAGS_*), by value: make everything durable first, flush the log first, neither */
const SHUTDOWN_NAMES = ['DEFAULT', 'LOGFLUSH', 'NOLOGFLUSH'];
const SHUTDOWN_NOLOGFLUSH = 2;
/** the kernel does not check the name length for FUSE */
const NAME_BYTES_MAX = 255;
/** file handles: small positive integers; 0 means "no handle" in requests */
const FH_MAX = 0x7fffffff;
/** files whose last writer is remembered (the map starts over beyond) */
const WRITERS_MAX = 65536;
/** reads of at least this many bytes take their device runs in parallel (smaller ones are
 *  cheaper answered at once than handed to a thread) */
const PARALLEL_READ_MIN = 32 * 1024;
/** xattr namespaces ext4 offers without ACLs; others are EOPNOTSUPP as there */
const XATTR_NAMESPACES = ['user.', 'trusted.', 'security.'];
/** the SELinux label's name: refused unless the mount keeps it (selinux_xattr) */
const SELINUX_XATTR = 'security.selinux';

export interface Handle {
  ino: number;
  /** open(2) flags */
  flags: number;
  /** opendir's handles are 'dir' */
  kind: 'file' | 'dir';
  /** who opened it: writes the kernel sends back from its cache are theirs (trace) */
  pid: number;
  uid: number;
}

export interface CowlogOpsOptions {
  fs: FileSystem;
  /** who sent the request being handled (FuseMount.caller) */
  caller: () => CallerContext;
  log: Logger;
  /** the device, when it can read without blocking: large reads then overlap */
  reader?: AsyncReader;
  /** seconds the kernel may keep attributes, names and negative names (default 0, 1, 0) */
  attrTimeout?: number;
  entryTimeout?: number;
  negativeTimeout?: number;
  /** inodes the kernel may hold before the oldest names are invalidated (held.ts; default: no bound) */
  heldMax?: number;
  /** keep security.selinux as any other attribute (default: refused with EOPNOTSUPP) */
  selinuxXattr?: boolean;
  /**
   * answer statx's birth time (the mount's btime; default off): the kernel then asks for it
   * (FUSE_STATX) the first time a caller wants it of each inode — a round trip more per file
   * for stat(1), Node's and Rust's stat, which always want it. Without a statx handler the
   * kernel is told ENOSYS once and answers every stat from the attributes it has.
   */
  btime?: boolean;
  /** remember the path each file was last written by, for the wear file's names (writers_named; default: no) */
  writerPaths?: boolean;
}

/** Whether every block a run read matches its CRC32C. */
function run_verified(b: Buffer, r: ReadRun): boolean {
  for (let j = 0; j < r.count; j++) if (crc32c(b, j * BLOCK_SIZE, (j + 1) * BLOCK_SIZE) !== r.csums[j]) return false;
  return true;
}

/** The bytes of a name handed over as a latin1 string. */
function bytes(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** A name or path as a person reads it, for the log. */
function shown(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}

function name_check(name: string): void {
  if (name.length > NAME_BYTES_MAX) throw new FsError('ENAMETOOLONG', `name of ${name.length} bytes (at most ${NAME_BYTES_MAX})`);
}

export class CowlogOps {
  /** the engine; replaced (engine_replace) when a read-only mount is remounted read-write */
  fs: FileSystem;
  /** why the mount turned read-only after a bug, or null */
  broken: string | null = null;
  /** the damaged B+tree block a request met, or null: the mount refuses changes from then on */
  damaged: string | null = null;
  /** set by close(): the engine is gone, every request fails */
  closed = false;
  /** shut down by FS_IOC_SHUTDOWN: every request fails and nothing more is written */
  down = false;
  readonly handles = new Map<number, Handle>();
  /**
   * Inodes written through an O_DIRECT handle: every open of them has the kernel drop what it
   * cached (no FOPEN_KEEP_CACHE), as a FUSE filesystem that never keeps the cache does. A
   * buffered reader racing a direct write may have cached the bytes from before it, and the
   * kernel does not drop them after an asynchronous direct write (xfstests generic/451); had
   * only the next open dropped them, a reader opening just after could still read them before
   * that open's opener got to dropping them. An inode the kernel forgets has no cached pages
   * left: it leaves the set then.
   */
  private readonly directWritten = new Set<number>();
  readonly held: KernelHeld;
  /** seconds after it was given that a held name is still in the kernel's cache for sure (half the shorter timeout; 0: never) */
  private readonly heldFresh: number;
  /** security.selinux kept as any other attribute (selinux_xattr), or refused */
  private readonly selinuxXattr: boolean;
  /** statx answered with the birth time (btime) */
  private readonly btime: boolean;
  /** the inodes whose getxattr the binding answers (noxattr.ts; null: every one comes here) */
  private nox: NoXattr | null = null;
  /** someone follows requests (trace, top): then every getxattr comes here, to be seen */
  private following = false;
  private fhNext = 1;
  private readonly caller: () => CallerContext;
  private readonly log: Logger;
  private readonly warned = new Map<string, number>();
  /** requests served per operation */
  readonly requests = new Map<string, number>();
  /** COWLOG_FUSE_DEBUG=1: every failed request is logged */
  private readonly debug = process.env['COWLOG_FUSE_DEBUG'] === '1';
  private reader: AsyncReader | null;
  /** how requests are answered (set by ops()) */
  private r!: FuseReplier;
  /** tells the trace hub the inode a request names, where only the handler looks it up (unlink, rmdir, rename) */
  private named: (ino: number) => void = () => {};
  attrTimeout: number;
  entryTimeout: number;
  negativeTimeout: number;
  /** what INIT settled (null until then, and for tests driving the table directly) */
  private conn: ConnInfo | null = null;
  /** the kernel granted FUSE_HANDLE_KILLPRIV_V2: privileges are cowlog's to take on write, truncate and chown */
  private killpriv = false;
  /** buffers for parallel reads, reused once their answer is sent */
  private readonly readBufs: Buffer[] = [];
  /** per inode, the process that last wrote, truncated or fsync'd it (bounded: WRITERS_MAX) */
  private readonly writers = new Map<number, number>();
  /** and the path it used, when the wear file names files (null: not kept; a path per inode took 4 MiB at the bound) */
  private readonly writerPaths: Map<number, string> | null;
  /** the name of each writer process, read once when first seen */
  private readonly comms = new Map<number, string>();
  private deviceListener: ((tag: WriteTag | undefined, bytes: number) => void) | null = null;

  constructor(o: CowlogOpsOptions) {
    this.fs = o.fs;
    this.caller = o.caller;
    this.log = o.log;
    this.reader = o.reader ?? null;
    this.attrTimeout = o.attrTimeout ?? 0;
    this.entryTimeout = o.entryTimeout ?? 1;
    this.negativeTimeout = o.negativeTimeout ?? 0;
    this.held = new KernelHeld(o.heldMax);
    this.heldFresh = Math.min(this.attrTimeout, this.entryTimeout) / 2;
    this.selinuxXattr = o.selinuxXattr ?? false;
    this.btime = o.btime ?? false;
    this.writerPaths = o.writerPaths === true ? new Map() : null;
  }

  // ---- errors ---------------------------------------------------------------------------------

  private guard(mutating: boolean): void {
    if (this.closed) throw new FsError('EIO', 'the filesystem is being unmounted');
    if (this.down) throw new FsError('EIO', 'the filesystem was shut down (FS_IOC_SHUTDOWN)');
    if (mutating && this.broken !== null) throw new FsError('EIO', `the mount is read-only after an internal error (${this.broken})`);
    if (mutating && this.damaged !== null) throw new FsError('EROFS', `the filesystem is damaged (${this.damaged}): read-only until cowlog fsck finds no error`);
  }

  /** The errno (positive) for an exception; a non-FsError is a bug and breaks the mount. */
  private fail(op: string, what_of: string | (() => string), e: unknown): number {
    // what the request named is built only when something is logged: most failures are
    // ENOENT and ENODATA, answered and forgotten
    const what = (): string => (typeof what_of === 'string' ? what_of : what_of());
    if (this.debug) this.log.info(`${op} ${what()}: ${e instanceof Error ? e.message : String(e)}`);
    if (e instanceof FsError) {
      if (e instanceof CorruptError && e.kind.startsWith('B+tree')) this.damage_note(`${op} ${what()}`, e);
      else if (e.code === 'EIO' || e.code === 'EUCLEAN' || e.code === 'ENOSPC') this.warn_once(e.code, `${op} ${what()}: ${e.message}`);
      return e.errno;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    if (this.broken === null) {
      this.broken = `${op} ${what()}: ${err.message}`;
      // the engine may be half way through a change: it writes nothing more (reads go on)
      this.fs.halt();
      this.log.error(`${op} ${what()}: ${err.stack ?? err.message}`);
      this.log.error('this is a bug in cowlog; the mount is read-only from now on (writers get EIO) and will not write a checkpoint at unmount');
    } else {
      this.log.error(`${op} ${what()} (mount already read-only): ${err.stack ?? err.message}`);
    }
    return E.EIO;
  }

  /**
   * A request met a damaged B+tree block: as ext4 mounted errors=remount-ro, nothing more is
   * changed (writers get EROFS before they change anything; readers go on), and the volume
   * records the errors, so that every later mount is read-only too until an fsck finds none
   * (or -o force). Checkpoints go on, so the flag and what was changed before are durable.
   */
  private damage_note(request: string, e: CorruptError): void {
    if (this.damaged !== null || this.fs.readOnly) {
      this.warn_once('damage', `${request}: ${e.message}`);
      return;
    }
    this.damaged = e.message;
    this.fs.vol.errors = true;
    this.log.error(`${request}: ${e.message}`);
    this.log.error('the filesystem is damaged: the mount is read-only from now on (writes fail with EROFS), and so is every later mount until cowlog fsck finds no error (or with -o force)');
  }

  /**
   * Streaming writeback after a write was answered (FileSystem.writeback). Its errors are not
   * the answered write's: the pages stay dirty and the next fsync or flush meets the error; a
   * bug breaks the mount as in any request.
   */
  private writeback(ino: number): void {
    if (this.closed || this.broken !== null || this.down) return;
    try {
      this.fs.writeback(ino);
    } catch (e) {
      if (!(e instanceof FsError)) this.fail('writeback', `inode ${ino}`, e);
    }
  }

  /** Logs a kind of error at most once a minute. */
  private warn_once(kind: string, msg: string): void {
    const now = Date.now();
    if (now - (this.warned.get(kind) ?? -Infinity) < 60_000) return;
    this.warned.set(kind, now);
    this.log.warn(`${msg} (further ${kind} errors are logged at most once a minute)`);
  }

  /**
   * Runs a request that changes nothing with stack traces off: an FsError costs 10-30 µs to
   * build with its stack and 2 µs without, and lookups of names that do not exist (ENOENT) and
   * attributes that are absent (ENODATA) are most of what tools like cp, git and node's module
   * resolution ask. A bug (not an FsError) is run again with stacks on, so the log still shows
   * where it happened: these requests only read.
   */
  private quiet<T>(fn: () => T): T {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return fn();
    } catch (e) {
      if (e instanceof FsError) throw e;
      Error.stackTraceLimit = limit;
      return fn();
    } finally {
      Error.stackTraceLimit = limit;
    }
  }

  /** Runs `fn` and answers 0, or the errno it fails with. */
  private status(req: number, op: string, what: () => string, mutating: boolean, fn: () => void): void {
    let r = 0;
    try {
      this.guard(mutating);
      fn();
    } catch (e) {
      r = this.fail(op, what, e);
    }
    this.r.err(req, r);
  }

  /** Runs `fn`; on failure answers its errno and returns undefined. */
  private attempt<T>(req: number, op: string, what: () => string, mutating: boolean, fn: () => T): T | undefined {
    try {
      this.guard(mutating);
      return fn();
    } catch (e) {
      this.r.err(req, this.fail(op, what, e));
      return undefined;
    }
  }

  // ---- what the kernel holds ------------------------------------------------------------------

  /** A path of an inode the kernel holds, as its names were last answered ('' when unknown). */
  path_of(ino: number): string {
    return this.held.path_of(ino);
  }

  /** The path of `name` in directory `parent`. */
  private child_path(parent: number, name: string): string {
    return this.held.child_path(parent, name);
  }

  /** Where invalidations go (the mount); set before serving. */
  notifier_set(n: FuseNotifier | null): void {
    this.held.notifier = n;
  }

  /** The binding's table of inodes without extended attributes (noxattr.ts); set before serving. */
  noxattr_set(n: NoXattr | null): void {
    this.nox = n;
    this.nox_names();
  }

  /** The names the binding answers for such inodes: none while requests are followed. */
  private nox_names(): void {
    const acl = this.fs.acl ? NOX_ACL_ACCESS | NOX_ACL_DEFAULT : 0;
    this.nox?.names_set(this.following ? 0 : NOX_CAPABILITY | acl);
  }

  /**
   * Tells the binding whether `ino` has extended attributes: after a create (the kernel asks
   * for security.capability before the first write), for each entry of a readdirplus (`ls -l`
   * asks for each file's ACLs), and after a getxattr found nothing. Not after a lookup: most
   * are followed by no such question, and the look would cost every one of them.
   */
  private nox_note(ino: number): void {
    const n = this.nox;
    if (n === null || n.names === 0) return;
    let none = false;
    try {
      none = this.quiet(() => this.fs.xattrs_none(ino));
    } catch {
      // unreadable: the handler answers, and says why
    }
    n.note(ino, none);
  }

  private entry_of(a: Attr): FuseEntry {
    return { attr: a, generation: a.generation, entryTimeout: this.entryTimeout, attrTimeout: this.attrTimeout };
  }

  /**
   * Answers an entry for `a`, found or made (`made`) as `name` in `parent` (null: '.', '..' or a
   * handle's inode).
   */
  private entry(req: number, a: Attr, parent: number, name: string | null, made = false): void {
    this.held.entry_given(a.ino, parent, name, is_dir(a.mode));
    if (made && name !== null) this.held.negative_gone(parent, name);
    this.r.entry(req, this.entry_of(a));
  }

  /** The attributes of an inode, or of one the kernel still holds that left the tree. */
  private attr_get(ino: number): Attr {
    try {
      return this.quiet(() => this.fs.getattr(ino));
    } catch (e) {
      const g = this.held.ghost(ino);
      if (g !== undefined && e instanceof FsError && e.code === 'ENOENT') return g;
      throw e;
    }
  }

  /**
   * A statx answer: the attributes with the birth time, and chattr's flags as statx names them
   * (STATX_ATTR_IMMUTABLE, APPEND, NODUMP, COMPRESSED carry FS_IOC_GETFLAGS's values).
   */
  private statx_get(ino: number): FuseAttr {
    const a = this.attr_get(ino);
    const attributes = this.fs.icache.exists(ino) ? this.fs.attr_flags(ino) & STATX_ATTR_KNOWN : 0;
    return { ...a, attributes };
  }

  /** Before a name goes (unlink, rmdir, rename over it): the inode it names, or null. */
  private victim_of(parent: number, name: string): Attr | null {
    try {
      return this.quiet(() => this.fs.lookup(parent, bytes(name)));
    } catch {
      return null;
    }
  }

  /** The name went: if its inode left the tree while the kernel holds it, it becomes a ghost. */
  private victim_settle(v: Attr | null, parent: number, name: string, now: Timespec): void {
    if (v === null) return;
    this.held.name_gone(v.ino, parent, name);
    if (!this.fs.icache.exists(v.ino)) this.held.ghost_set({ ...v, nlink: 0, ctime: now });
  }

  /**
   * A read or listing may have moved atime: the kernel's cached attributes of `ino` are dropped
   * so that stat(2) shows it (the kernel does not keep atime of FUSE files itself).
   */
  private atime_settle(ino: number): void {
    if (this.fs.atime_moved(ino) && this.attrTimeout > 0) this.held.notifier?.inval_inode(ino, -1, 0);
  }

  // ---- handles --------------------------------------------------------------------------------

  /** A new handle of `ino` (`counted`: the engine has counted its opening already). */
  private handle_open(ino: number, flags: number, dir: boolean, counted = false): number {
    if (!dir && !counted) this.fs.open(ino);
    let fh = this.fhNext;
    while (this.handles.has(fh)) fh = fh >= FH_MAX ? 1 : fh + 1;
    this.fhNext = fh >= FH_MAX ? 1 : fh + 1;
    const who = this.caller();
    this.handles.set(fh, { ino, flags, kind: dir ? 'dir' : 'file', pid: who.pid, uid: who.uid });
    return fh;
  }

  /** The inode of an open handle (fh 0: the request names the inode alone). */
  private ino_fh(fh: number, ino: number): number {
    if (fh === 0) return ino;
    const h = this.handles.get(fh);
    if (h === undefined) throw new FsError('EBADF', `no open handle ${fh}`);
    return h.ino;
  }

  private handle_release(fh: number, dir: boolean): void {
    const h = this.handles.get(fh);
    if (h === undefined) return;
    this.handles.delete(fh);
    if (!dir) this.fs.release(h.ino);
  }

  /** Who opened handle `fh` (for writes the kernel sends from its cache), or null. */
  opener_of(fh: number): { pid: number; uid: number } | null {
    const h = this.handles.get(fh);
    return h === undefined ? null : { pid: h.pid, uid: h.uid };
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  /**
   * Serves from another engine of the same device from now on (a read-only mount remounted
   * read-write: the device opened again). The same tree, so inode numbers hold; every open
   * handle is opened again there.
   */
  engine_replace(next: FileSystem, reader: AsyncReader | null): void {
    next.observe(this.fs.observer);
    next.vol.dev.listener = this.deviceListener;
    this.fs = next;
    this.nox?.clear();
    this.nox_names();
    this.reader = reader;
    for (const h of this.handles.values()) if (h.kind === 'file') next.open(h.ino);
  }

  /**
   * mount -o remount: read-only (everything made durable, then EROFS for changes) or read-write
   * again (FileSystem.remount); EROFS when the engine was opened read-only (engine_replace).
   */
  remount(readOnly: boolean): void {
    this.guard(!readOnly);
    try {
      this.fs.remount(readOnly);
    } catch (e) {
      if (e instanceof FsError) throw e;
      const r = this.fail('remount', '(control)', e);
      throw new FsError('EIO', `remount failed (errno ${r}); see the log`);
    }
  }

  /**
   * Ends the engine's part: open handles are released and the final checkpoint written, unless
   * the mount broke (then nothing more is written). Later requests get EIO. The caller closes
   * the device.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.broken !== null || this.down) {
      this.fs.vol.abandon();
      return;
    }
    this.fs.unmount();
  }

  /** Periodic work (timer checkpoints); a failure breaks the mount like a failed request. */
  tick(nowMs: number): void {
    if (this.closed || this.broken !== null || this.down) return;
    try {
      this.fs.tick(nowMs);
    } catch (e) {
      this.fail('checkpoint', '(timer)', e);
    }
  }

  /** A checkpoint now (the control channel's sync). */
  sync(): void {
    this.guard(true);
    try {
      this.fs.sync();
    } catch (e) {
      const r = this.fail('sync', '(control)', e);
      if (e instanceof FsError) throw e;
      throw new FsError('EIO', `sync failed (errno ${r}); see the log`);
    }
  }

  /**
   * Snapshot operations from the control channel, as one batch (one checkpoint). A rollback is
   * refused while any file is open on the mount.
   */
  snapshot(reqs: SnapRequest[]): SnapReply[] {
    this.guard(true);
    const open = [...this.handles.values()].filter((h) => h.kind === 'file').length;
    const busy = (r: SnapRequest): boolean => r.op === 'rollback' && open > 0;
    const allowed = reqs.filter((r) => !busy(r));
    // a rollback may give any inode its attributes back
    if (allowed.some((r) => r.op === 'rollback')) this.nox?.clear();
    let done: SnapReply[];
    try {
      done = allowed.length ? this.fs.snapshot(allowed) : [];
    } catch (e) {
      const r = this.fail('snapshot', '(control)', e);
      if (e instanceof FsError) throw e;
      throw new FsError('EIO', `snapshot operation failed (errno ${r}); see the log`);
    }
    let k = 0;
    return reqs.map((r) => (busy(r)
      ? { ok: false, error: new FsError('EBUSY', `${open} file${open > 1 ? 's are' : ' is'} open on the mount: close ${open > 1 ? 'them' : 'it'} before rolling back`) }
      : done[k++]!));
  }

  // ---- the operations -------------------------------------------------------------------------

  /**
   * The handlers, answering through `reply`; with `trace`, each request is timed and followed
   * (trace.ts) and its answer goes through the hub.
   */
  ops(reply: FuseReplier, trace?: TraceHub): LowOps {
    this.r = trace !== undefined ? trace.replier(reply) : reply;
    this.named = trace !== undefined ? (ino) => trace.named(ino) : () => {};
    const table = this.table() as Record<string, (...a: unknown[]) => void>;
    const out: Record<string, (...a: unknown[]) => void> = {};
    for (const [name, fn] of Object.entries(table)) {
      if (name === 'init' || name === 'forget') { out[name] = fn; continue; }
      out[name] = trace === undefined ? (...args: unknown[]): void => {
        this.requests.set(name, (this.requests.get(name) ?? 0) + 1);
        fn(...args);
      } : trace.wrap(name, (...args: unknown[]): void => {
        this.requests.set(name, (this.requests.get(name) ?? 0) + 1);
        fn(...args);
      });
    }
    return out as LowOps;
  }

  /** What tracing needs to know about requests (trace.ts); its lookups change nothing. */
  trace_source(): TraceSource {
    return {
      caller: () => this.caller(),
      path_of: (ino) => this.path_of(ino),
      child_path: (parent, name) => this.child_path(parent, name),
      ino_fh: (fh) => this.handles.get(fh)?.ino ?? 0,
      opener_of: (fh) => this.opener_of(fh),
      observe: (o) => this.fs.observe(o),
      device_listen: (fn) => { this.deviceListener = fn; this.fs.vol.dev.listener = fn; },
      writer_of: (ino) => this.writer_of(ino),
      following: (on) => { this.following = on; this.nox_names(); },
    };
  }

  /** The process that last wrote, truncated or fsync'd inode `ino` (0: not known). */
  writer_of(ino: number): number {
    return this.writers.get(ino) ?? 0;
  }

  /**
   * What is known of the files and processes behind writes, for the wear file: for each inode
   * asked, its last path; for each process asked, its name when first seen.
   */
  writers_named(inos: Iterable<number>, pids: Iterable<number>): { files: Record<string, string>; processes: Record<string, string> } {
    const files: Record<string, string> = {};
    const processes: Record<string, string> = {};
    if (this.writerPaths !== null) {
      for (const ino of inos) {
        const p = this.writerPaths.get(ino);
        if (p !== undefined) files[ino] = p;
      }
    }
    for (const pid of pids) {
      const comm = this.comms.get(pid);
      if (comm !== undefined) processes[pid] = comm;
    }
    return { files, processes };
  }

  /** Remembers who changed a file's data last (and by which path, if kept), for attributing the device writes made for it. */
  private writer_note(ino: number, writer?: number): void {
    if (ino === 0) return;
    let pid = writer ?? 0;
    if (writer === undefined) {
      try { pid = this.caller().pid; } catch { return; }
    }
    bounded_set(this.writers, ino, pid, WRITERS_MAX);
    if (this.writerPaths !== null) {
      const path = this.path_of(ino);
      if (path !== '') bounded_set(this.writerPaths, ino, shown(path), WRITERS_MAX);
    }
    if (!this.comms.has(pid)) bounded_set(this.comms, pid, comm_read(pid), WRITERS_MAX);
  }

  private table(): LowOps {
    return {
      init: (conn) => {
        this.conn = conn;
        this.killpriv = (conn.kernelGranted & FUSE_HANDLE_KILLPRIV_V2) !== 0;
      },
      forget: (ino, n) => {
        this.held.forget(ino, n);
        if (!this.held.has(ino)) this.directWritten.delete(ino);
      },

      statfs: (req) => {
        const st = this.attempt(req, 'statfs', () => '/', false, (): FuseStatfs => {
          const s = this.fs.statfs();
          return { bsize: s.bsize, frsize: s.frsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, namemax: s.namemax };
        });
        if (st !== undefined) this.r.statfs(req, st);
      },

      lookup: (req, parent, name) => {
        let a: Attr | null;
        try {
          this.guard(false);
          name_check(name);
          a = this.quiet(() => {
            // '.' of any inode: how the kernel turns a file handle back into an inode
            if (name === '.') return this.attr_get(parent);
            if (this.held.ghost(parent) !== undefined) return null;
            return this.fs.lookup_opt(parent, bytes(name));
          });
        } catch (e) {
          if (e instanceof FsError && e.code === 'ENOENT') a = null;
          else { this.r.err(req, this.fail('lookup', this.child_path(parent, name), e)); return; }
        }
        if (a === null) this.r.negative(req, this.held.negative_given(parent, name, this.negativeTimeout, performance.now()));
        else this.entry(req, a, parent, name === '.' || name === '..' ? null : name);
      },

      getattr: (req, ino, fh) => {
        const a = this.attempt(req, 'getattr', () => this.path_of(ino), false, () => this.attr_get(this.ino_fh(fh, ino)));
        if (a !== undefined) this.r.attr(req, a, this.attrTimeout);
      },

      ...(this.btime ? {
        statx: (req: number, ino: number, fh: number): void => {
          const a = this.attempt(req, 'statx', () => this.path_of(ino), false, () => this.statx_get(this.ino_fh(fh, ino)));
          if (a !== undefined) this.r.statx(req, a, this.attrTimeout);
        },
      } : {}),

      setattr: (req, ino, set, fh, kill) => {
        const a = this.attempt(req, 'setattr', () => this.path_of(ino), true, () => {
          const i = this.ino_fh(fh, ino);
          if ((set.valid & FUSE_SET_ATTR_SIZE) !== 0) this.writer_note(i);
          return this.setattr(i, set, kill);
        });
        if (a !== undefined) this.r.attr(req, a, this.attrTimeout);
      },

      readlink: (req, ino) => {
        const t = this.attempt(req, 'readlink', () => this.path_of(ino), false, () => this.quiet(() => this.fs.readlink(ino)));
        if (t !== undefined) this.r.data(req, t, t.length);
      },

      mknod: (req, parent, name, mode, rdev) => {
        const a = this.attempt(req, 'mknod', () => this.child_path(parent, name), true, () => {
          name_check(name);
          const o = this.owner_new(parent, (mode & S_IFMT) === 0 ? mode | S_IFREG : mode);
          return this.fs.create(parent, bytes(name), o.mode, o.uid, o.gid, rdev, o.umask);
        });
        if (a !== undefined) this.entry(req, a, parent, name, true);
      },

      mkdir: (req, parent, name, mode) => {
        const a = this.attempt(req, 'mkdir', () => this.child_path(parent, name), true, () => {
          name_check(name);
          const o = this.owner_new(parent, S_IFDIR | (mode & 0o7777));
          return this.fs.mkdir(parent, bytes(name), o.mode, o.uid, o.gid, o.umask);
        });
        if (a !== undefined) this.entry(req, a, parent, name, true);
      },

      symlink: (req, target, parent, name) => {
        const a = this.attempt(req, 'symlink', () => this.child_path(parent, name), true, () => {
          name_check(name);
          const o = this.owner_new(parent, S_IFLNK | 0o777);
          return this.fs.symlink(parent, bytes(name), bytes(target), o.uid, o.gid);
        });
        if (a !== undefined) this.entry(req, a, parent, name, true);
      },

      link: (req, ino, newparent, newname) => {
        const a = this.attempt(req, 'link', () => this.child_path(newparent, newname), true, () => {
          name_check(newname);
          return this.fs.link(ino, newparent, bytes(newname));
        });
        if (a !== undefined) this.entry(req, a, newparent, newname, true);
      },

      unlink: (req, parent, name) => this.status(req, 'unlink', () => this.child_path(parent, name), true, () => {
        name_check(name);
        const v = this.victim_of(parent, name);
        if (v !== null) this.named(v.ino);
        this.fs.unlink(parent, bytes(name));
        this.victim_settle(v, parent, name, this.fs.clock());
      }),

      rmdir: (req, parent, name) => this.status(req, 'rmdir', () => this.child_path(parent, name), true, () => {
        name_check(name);
        const v = this.victim_of(parent, name);
        if (v !== null) this.named(v.ino);
        this.fs.rmdir(parent, bytes(name));
        this.victim_settle(v, parent, name, this.fs.clock());
      }),

      rename: (req, parent, name, newparent, newname, flags) => this.status(req, 'rename', () => this.child_path(parent, name), true, () => {
        name_check(name);
        name_check(newname);
        if ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) !== 0) throw new FsError('EINVAL', `rename flags ${flags}: only RENAME_NOREPLACE, RENAME_EXCHANGE and RENAME_WHITEOUT`);
        // the whiteout is the caller's, as a node it made there would be (the kernel has
        // checked CAP_MKNOD)
        const whiteout = (flags & RENAME_WHITEOUT) !== 0 ? this.owner_new(parent, S_IFCHR) : undefined;
        const src = this.quiet(() => this.fs.lookup(parent, bytes(name)));
        this.named(src.ino);
        const exchange = (flags & RENAME_EXCHANGE) !== 0;
        const v = exchange ? null : this.victim_of(newparent, newname);
        const other = exchange ? this.quiet(() => this.fs.lookup(newparent, bytes(newname))) : null;
        this.fs.rename(parent, bytes(name), newparent, bytes(newname), { noreplace: (flags & RENAME_NOREPLACE) !== 0, exchange, whiteout });
        if (v !== null && v.ino !== src.ino) this.victim_settle(v, newparent, newname, this.fs.clock());
        this.held.name_moved(src.ino, parent, name, newparent, newname);
        this.held.negative_gone(newparent, newname);
        if (other !== null) this.held.name_moved(other.ino, newparent, newname, parent, name);
      }),

      // -- files
      open: (req, ino, flags, kill) => {
        const fh = this.attempt(req, 'open', () => this.path_of(ino), false, () => {
          const a = this.fs.getattr(ino);
          if (is_dir(a.mode)) throw new FsError('EISDIR', `${this.path_of(ino)} is a directory`);
          const writes = (flags & O_ACCMODE) !== fsc.O_RDONLY || (flags & fsc.O_TRUNC) !== 0;
          if (writes) {
            if (this.broken !== null) this.guard(true);
            // remounted read-only: refused at open, as the kernel does for a read-only mount
            if (this.fs.readOnly) throw new FsError('EROFS', `${this.path_of(ino)}: the filesystem is read-only`);
          }
          // chattr +i and +a (the kernel does not know them through FUSE)
          this.fs.open_check(ino, (flags & O_ACCMODE) !== fsc.O_RDONLY, (flags & fsc.O_APPEND) !== 0, (flags & fsc.O_TRUNC) !== 0);
          // atomic_o_trunc: the truncate of open(O_TRUNC) comes with the open (and what it
          // takes from the file, when the mount handles privileges)
          if ((flags & fsc.O_TRUNC) !== 0 && (a.mode & S_IFMT) === S_IFREG) {
            if (this.killpriv) this.privs_kill(ino, kill);
            if (a.size > 0) this.fs.truncate(ino, 0);
          }
          return this.handle_open(ino, flags, false);
        });
        if (fh !== undefined) this.r.open(req, fh, this.open_flags(ino));
      },

      create: (req, parent, name, mode, flags) => {
        let a: Attr | undefined;
        const fh = this.attempt(req, 'create', () => this.child_path(parent, name), true, () => {
          name_check(name);
          const o = this.owner_new(parent, (mode & S_IFMT) === 0 ? mode | S_IFREG : mode);
          try {
            a = this.fs.create(parent, bytes(name), o.mode, o.uid, o.gid, 0, o.umask);
          } catch (e) {
            // another opener made it between the kernel's lookup and this create: without
            // O_EXCL, open(2) opens what is there
            if (!(e instanceof FsError) || e.code !== 'EEXIST' || (flags & fsc.O_EXCL) !== 0) throw e;
            a = this.fs.lookup(parent, bytes(name));
            if (is_dir(a.mode)) throw new FsError('EISDIR', `${this.child_path(parent, name)} is a directory`);
            if ((flags & fsc.O_TRUNC) !== 0 && (a.mode & S_IFMT) === S_IFREG) a = this.fs.truncate(a.ino, 0);
          }
          return this.handle_open(a.ino, flags, false);
        });
        if (fh === undefined) return;
        this.held.entry_given(a!.ino, parent, name);
        this.held.negative_gone(parent, name);
        this.nox_note(a!.ino);
        this.r.create(req, this.entry_of(a!), fh, this.open_flags(a!.ino));
      },

      // open(2) with O_TMPFILE: a file of no name, freed at its last release unless linkat(2)
      // names it (which O_EXCL forbids)
      tmpfile: (req, parent, mode, flags) => {
        let a: Attr | undefined;
        const fh = this.attempt(req, 'tmpfile', () => this.path_of(parent), true, () => {
          const o = this.owner_new(parent, S_IFREG | (mode & 0o7777));
          a = this.fs.tmpfile(parent, o.mode, o.uid, o.gid, o.umask, (flags & fsc.O_EXCL) === 0);
          return this.handle_open(a.ino, flags, false, true);
        });
        if (fh === undefined) return;
        this.held.entry_given(a!.ino, parent, null);
        this.nox_note(a!.ino);
        this.r.create(req, this.entry_of(a!), fh, this.open_flags(a!.ino));
      },

      release: (req, _ino, fh) => {
        // after a shutdown the handle is only counted down: nothing is written
        if (this.down) { this.handles.delete(fh); this.r.err(req, 0); return; }
        this.release_file(req, fh);
      },

      releasedir: (req, _ino, fh) => {
        if (this.down) { this.handles.delete(fh); this.r.err(req, 0); return; }
        this.status(req, 'releasedir', () => `handle ${fh}`, false, () => this.handle_release(fh, true));
      },

      fsync: (req, ino, fh, datasync) => this.status(req, 'fsync', () => this.path_of(ino), false, () => {
        const i = this.ino_fh(fh, ino);
        // a broken mount writes nothing: fsync fails rather than claim durability
        this.guard(true);
        this.writer_note(i);
        this.fs.fsync(i, datasync !== 0);
      }),

      read: (req, ino, fh, size, off) => {
        if (this.reader !== null && size >= PARALLEL_READ_MIN) { this.read_parallel(this.reader, req, ino, fh, size, off); return; }
        const data = this.attempt(req, 'read', () => this.path_of(ino), false, () => this.fs.read(this.ino_fh(fh, ino), off, size));
        if (data !== undefined) this.r.data(req, data, data.length);
        this.atime_settle(ino);
      },

      write: (req, ino, fh, buf, off, writepage, kill) => {
        // buf is libfuse's and detached after the handler: the engine copies what it keeps
        const n = this.attempt(req, 'write', () => this.path_of(ino), true, () => {
          const i = this.ino_fh(fh, ino);
          // a handle opened before chattr +i writes no more (as ext4); pages the kernel cached
          // before are written back
          if (!writepage && this.fs.immutable(i)) throw new FsError('EPERM', `${this.path_of(ino)}: immutable (chattr +i)`);
          if (this.killpriv) this.privs_kill(i, kill);
          // a write-back from the kernel's cache comes from whoever made the kernel write: the
          // writer is the process that opened the handle it came through
          this.writer_note(i, writepage ? this.opener_of(fh)?.pid : undefined);
          const n = this.fs.write(i, off, buf);
          if (!writepage && ((this.handles.get(fh)?.flags ?? 0) & fsc.O_DIRECT) !== 0) this.directWritten.add(i);
          return n;
        });
        if (n === undefined) return;
        this.r.write(req, n);
        // a write-back (the mount keeps a kernel writeback cache): the kernel keeps the file's
        // size and times itself but its block count from cowlog's last answer, which did not
        // count these pages; it asks again at the next stat
        if (writepage && this.attrTimeout > 0) this.held.notifier?.inval_inode(ino, -1, 0);
        // answered: the kernel prepares the next request while the engine writes back
        this.writeback(ino);
      },

      // FS_IOC_SHUTDOWN and FITRIM on any file or directory of the mount (IOCTL_DIR); chattr's flags,
      // which the kernel asks for as FS_IOC_GETFLAGS/SETFLAGS or FS_IOC_FSGETXATTR/FSSETXATTR
      // (its fileattr calls, made after its own checks); others are ENOTTY
      ioctl: (req, ino, _fh, cmd, _flags, inBuf, outSize, arg) => {
        const c = cmd >>> 0;
        if (c === FS_IOC_GETFLAGS || c === FS_IOC_FSGETXATTR) {
          const out = this.attempt(req, 'ioctl', () => this.path_of(ino), false, () => {
            const b = Buffer.alloc(c === FS_IOC_GETFLAGS ? 4 : FSXATTR_BYTES);
            if (outSize < b.length) throw new FsError('EINVAL', `ioctl 0x${c.toString(16)}: ${outSize} bytes for the answer, ${b.length} needed`);
            b.writeUInt32LE(c === FS_IOC_GETFLAGS ? this.fs.attr_flags(ino) : this.fs.attr_xflags(ino), 0);
            return b;
          });
          if (out !== undefined) this.r.ioctl(req, 0, out);
          return;
        }
        if (c === FS_IOC_SETFLAGS || c === FS_IOC_FSSETXATTR) {
          const done = this.attempt(req, 'ioctl', () => this.path_of(ino), true, () => {
            const need = c === FS_IOC_SETFLAGS ? 4 : FSXATTR_BYTES;
            if (inBuf === null || inBuf.length < need) throw new FsError('EINVAL', `ioctl 0x${c.toString(16)}: ${inBuf?.length ?? 0} bytes given, ${need} needed`);
            const r = this.fs.attr_flags_set(ino, c === FS_IOC_SETFLAGS ? { fl: inBuf.readUInt32LE(0) }
              : { x: inBuf.readUInt32LE(0), extsize: inBuf.readUInt32LE(4), projid: inBuf.readUInt32LE(12), cowextsize: inBuf.readUInt32LE(16) });
            this.log.info(`chattr by pid ${this.caller().pid} on ${this.path_of(ino) || `inode ${ino}`}: flags 0x${this.fs.attr_flags(ino).toString(16)}`);
            return r;
          });
          if (done === undefined) return;
          this.r.ioctl(req, 0, null);
          // the change time moved; the kernel keeps the attributes it holds until told
          if (this.attrTimeout > 0) this.held.notifier?.inval_inode(ino, -1, 0);
          return;
        }
        if (c === FITRIM) {
          const out = this.attempt(req, 'fitrim', () => this.path_of(ino), true, () => {
            // as the kernel asks of every filesystem: CAP_SYS_ADMIN (here: root)
            if (this.caller().uid !== 0) throw new FsError('EPERM', 'FITRIM: root only');
            if (inBuf === null || inBuf.length < 24 || outSize < 24) throw new FsError('EINVAL', 'FITRIM: a struct fstrim_range of 24 bytes');
            // u64s; beyond 2^53 (fstrim -o 2^64-1) they are past any device all the same
            const big = (o: number): number => { const v = inBuf.readBigUInt64LE(o); return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v); };
            const trimmed = this.fs.trim(big(0), big(8), big(16));
            this.log.info(`FITRIM by pid ${this.caller().pid}: ${trimmed} bytes discarded`);
            const b = Buffer.from(inBuf.subarray(0, 24));
            b.writeBigUInt64LE(BigInt(trimmed), 8);
            return b;
          });
          if (out !== undefined) this.r.ioctl(req, 0, out);
          return;
        }
        if (c !== FS_IOC_SHUTDOWN) { this.r.err(req, E.ENOTTY); return; }
        const who = this.caller();
        // as the kernel asks of every filesystem: CAP_SYS_ADMIN (here: root)
        if (who.uid !== 0) { this.r.err(req, E.EPERM); return; }
        if (this.closed) { this.r.err(req, E.EIO); return; }
        // the flags FUSE does not carry, from the caller's memory (caller_mem.ts); unread, the strictest
        const flags = caller_u32(who.pid, arg);
        if (flags !== null && flags > SHUTDOWN_NOLOGFLUSH) { this.r.err(req, E.EINVAL); return; }
        const how = flags ?? SHUTDOWN_NOLOGFLUSH;
        this.log.info(`FS_IOC_SHUTDOWN by pid ${who.pid} on ${this.path_of(ino) || `inode ${ino}`}, flags ${flags === null ? 'unread: NOLOGFLUSH' : SHUTDOWN_NAMES[how]}`);
        this.shutdown(how);
        this.r.ioctl(req, 0, null);
      },

      // -- ranges (src/fs/range.ts)
      fallocate: (req, ino, fh, mode, off, len) => this.status(req, 'fallocate', () => this.path_of(ino), true, () => {
        const i = this.ino_fh(fh, ino);
        this.writer_note(i);
        // as for a write: the kernel takes nothing from the file itself and, unlike a write's,
        // a fallocate request does not say whether the caller holds CAP_FSETID (xfstests generic/683-685)
        if (this.killpriv) this.privs_kill(i, !caller_fsetid(this.caller()));
        this.fs.fallocate(i, mode, off, len);
      }),

      // the kernel answers SEEK_SET, SEEK_CUR and SEEK_END itself
      lseek: (req, ino, fh, off, whence) => {
        const at = this.attempt(req, 'lseek', () => this.path_of(ino), false, () => {
          if (whence !== SEEK_DATA && whence !== SEEK_HOLE) throw new FsError('EINVAL', `lseek whence ${whence}`);
          return this.fs.seek(this.ino_fh(fh, ino), off, whence === SEEK_DATA);
        });
        if (at !== undefined) this.r.lseek(req, at);
      },

      copy_file_range: (req, inoIn, offIn, fhIn, inoOut, offOut, fhOut, len, flags) => {
        const n = this.attempt(req, 'copy_file_range', () => this.path_of(inoOut), true, () => {
          if (flags !== 0) throw new FsError('EINVAL', `copy_file_range flags ${flags}`);
          const out = this.ino_fh(fhOut, inoOut);
          this.writer_note(out);
          return this.fs.copy_range(this.ino_fh(fhIn, inoIn), offIn, out, offOut, len);
        });
        if (n !== undefined) this.r.write(req, n);
      },

      // -- directories
      opendir: (req, ino, flags) => {
        const fh = this.attempt(req, 'opendir', () => this.path_of(ino), false, () => {
          if (!is_dir(this.attr_get(ino).mode)) throw new FsError('ENOTDIR', `${this.path_of(ino)} is not a directory`);
          return this.handle_open(ino, flags, true);
        });
        if (fh !== undefined) this.r.open(req, fh, 0);
      },

      readdir: (req, ino, fh, size, off) => this.readdir(req, ino, fh, size, off, false),
      readdirplus: (req, ino, fh, size, off) => this.readdir(req, ino, fh, size, off, true),


      fsyncdir: (req, ino, _fh, datasync) => this.status(req, 'fsyncdir', () => this.path_of(ino), false, () => {
        // a broken mount writes nothing: fsync fails rather than claim durability
        this.guard(true);
        if (this.held.ghost(ino) !== undefined) return;
        this.fs.fsync(ino, datasync !== 0);
      }),

      // -- extended attributes
      setxattr: (req, ino, name, value, flags, kill) => this.status(req, 'setxattr', () => this.path_of(ino), true, () => {
        this.xattr_name_check(name);
        // before the change: the binding must not answer for this inode from now on
        this.nox?.note(ino, false);
        const mode = (flags & XATTR_CREATE) !== 0 ? 'create' : (flags & XATTR_REPLACE) !== 0 ? 'replace' : 'any';
        // kill: an access ACL set by a caller outside the file's group without CAP_FSETID
        // (the kernel drops its attributes after setting an ACL: the mode it shows comes from here)
        this.fs.setxattr(ino, bytes(name), value, mode, kill);
      }),

      getxattr: (req, ino, name, size) => {
        const v = this.attempt(req, 'getxattr', () => this.path_of(ino), false, () => {
          this.xattr_name_check(name);
          return this.quiet(() => this.fs.getxattr_opt(ino, bytes(name))) ?? null;
        });
        if (v === undefined) return;
        if (v === null) {
          // asked once, the binding answers the next questions for this inode
          this.nox_note(ino);
          this.r.err(req, E.ENODATA);
          return;
        }
        if (size === 0) this.r.xattr_size(req, v.length);
        else if (v.length > size) this.r.err(req, E.ERANGE);
        else this.r.data(req, v, v.length);
      },

      listxattr: (req, ino, size) => {
        const list = this.attempt(req, 'listxattr', () => this.path_of(ino), false, () => {
          const names = this.quiet(() => this.fs.listxattr(ino)).filter((b) => this.selinuxXattr || b.toString('latin1') !== SELINUX_XATTR);
          return Buffer.concat(names.flatMap((b) => [b, Buffer.alloc(1)]));
        });
        if (list === undefined) return;
        if (size === 0) this.r.xattr_size(req, list.length);
        else if (list.length > size) this.r.err(req, E.ERANGE);
        else this.r.data(req, list, list.length);
      },

      removexattr: (req, ino, name) => this.status(req, 'removexattr', () => this.path_of(ino), true, () => {
        this.xattr_name_check(name);
        this.fs.removexattr(ino, bytes(name));
      }),
    };
  }

  /**
   * FOPEN_* of an open or create answer: the kernel keeps a file's cached pages across opens
   * (nothing changes a file behind the kernel but a rollback, which drops them), unless the
   * next read must reach cowlog to move atime (the kernel keeps no atime of FUSE files), or the
   * file was written directly (directWritten).
   */
  private open_flags(ino: number): number {
    if (this.directWritten.has(ino)) return 0;
    return this.fs.atime_pending(ino) ? 0 : FOPEN_KEEP_CACHE;
  }

  private release_file(req: number, fh: number): void {
    this.status(req, 'release', () => `handle ${fh}`, false, () => {
      // a broken mount still counts its handles down, but frees nothing more
      if (this.broken !== null) { this.handles.delete(fh); return; }
      this.handle_release(fh, false);
    });
  }

  /**
   * A write, an O_TRUNC open: with FUSE_HANDLE_KILLPRIV_V2 the kernel leaves to cowlog what
   * Linux takes from a written file (privs_kill; `kill`: the caller lacks CAP_FSETID). The
   * kernel's cached mode is dropped when it changed (a write's answer carries no attributes).
   */
  private privs_kill(ino: number, kill: boolean): void {
    // (the caller's groups are asked for only for a file with set-group-ID and no group execute)
    if (this.fs.privs_kill(ino, kill, this.outside_of)) this.held.notifier?.inval_inode(ino, -1, 0);
  }

  /** Whether the caller of the request being handled is outside group `gid` (read only when that decides). */
  private readonly outside_of = (gid: number): boolean => !caller_in_group(this.caller(), gid);

  private setattr(ino: number, set: SetattrIn, kill = false): Attr {
    const v = set.valid;
    const a: SetAttr = {};
    if (v & FUSE_SET_ATTR_MODE) a.mode = set.mode;
    if (v & FUSE_SET_ATTR_UID) a.uid = set.uid;
    if (v & FUSE_SET_ATTR_GID) a.gid = set.gid;
    if (v & FUSE_SET_ATTR_SIZE) a.size = set.size;
    if (v & FUSE_SET_ATTR_ATIME_NOW) a.atime = 'now';
    else if (v & FUSE_SET_ATTR_ATIME) a.atime = set.atime;
    if (v & FUSE_SET_ATTR_MTIME_NOW) a.mtime = 'now';
    else if (v & FUSE_SET_ATTR_MTIME) a.mtime = set.mtime;
    // a kernel with a writeback cache keeps the times of buffered writes and sends them later
    if (v & FUSE_SET_ATTR_CTIME) a.ctime = set.ctime;
    // with FUSE_HANDLE_KILLPRIV_V2: a chown takes set-user-ID (and set-group-ID if
    // group-executable) whoever asks, a truncate only from a caller without CAP_FSETID — and
    // then set-group-ID without group execute too when the caller is outside the file's group
    // (as a write); both take file capabilities
    const chown = (v & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) !== 0;
    if (this.killpriv && chown) a.kill = true;
    else if (this.killpriv && (v & FUSE_SET_ATTR_SIZE) !== 0) a.kill = kill;
    const g = this.held.ghost(ino);
    if (g !== undefined) {
      // a file gone from the tree that the kernel still holds: a kernel with a writeback cache
      // sends the times of its last buffered writes as it lets go of the inode, which change
      // nothing stored (answered ENOENT, they failed the next syncfs of the whole mount)
      if ((v & ~SETATTR_TIMES) !== 0) throw new FsError('ENOENT', `inode ${ino} was removed`);
      const now = this.fs.clock();
      const t = (x: Timespec | 'now' | undefined, was: Timespec): Timespec => (x === undefined ? was : x === 'now' ? now : x);
      const n: Attr = { ...g, atime: t(a.atime, g.atime), mtime: t(a.mtime, g.mtime), ctime: a.ctime ?? now };
      this.held.ghost_set(n);
      return n;
    }
    return this.fs.setattr(ino, a, chown ? undefined : this.outside_of);
  }

  /**
   * A listing, `size` bytes of it from offset `off`. Offsets are telldir's cookies: 1 and 2
   * follow '.' and '..', and 2 + the engine's directory position (dir.ts: hash order) follows
   * each name — valid in any handle of the directory and while it changes, so seekdir to a
   * cookie told earlier lists on from there, never skipping a name that was there all along.
   */
  private readdir(req: number, ino: number, fh: number, size: number, off: number, plus: boolean): void {
    const d = this.attempt(req, 'readdir', () => this.path_of(ino), false, () => {
      if (!this.handles.has(fh)) throw new FsError('EBADF', `no open handle ${fh}`);
      const gone = this.held.ghost(ino) !== undefined;
      const out = new DirBuf(size, plus);
      if (off === 0 && !out.add('.', ino, dt_of_mode(S_IFDIR), 1)) return out;
      if (off <= 1) {
        const up = ino === ROOT || gone ? ROOT : this.quiet(() => this.fs.lookup(ino, '..')).ino;
        if (!out.add('..', up, dt_of_mode(S_IFDIR), 2)) return out;
      }
      if (gone) return out;
      this.fs.readdir_from(ino, Math.max(0, off - 2), (e, next) => {
        const name = e.name.toString('latin1');
        let fe: FuseEntry | null = null;
        // a name the kernel holds, given within half its timeouts, goes without its entry (node
        // id 0: the kernel lists the name and leaves what it cached as it is). A readdirplus
        // entry would make the kernel forget the inode's cached ACLs, and `ls -l` ask each
        // file's again: listing a directory a second time then costs no request per file
        if (plus && !(this.heldFresh > 0 && this.held.fresh(e.ino, ino, name, this.heldFresh))) {
          try {
            fe = this.entry_of(this.quiet(() => this.fs.getattr_listed(e.ino)));
          } catch {
            return true; // an entry whose inode can not be read: listed by plain readdir only
          }
        }
        if (!out.add(name, e.ino, e.type, 2 + next, fe)) return false;
        if (fe !== null) {
          this.held.entry_given(e.ino, ino, name, is_dir(fe.attr.mode));
          this.nox_note(e.ino);
        }
        return true;
      });
      if (off <= 2) this.atime_settle(ino);
      return out;
    });
    if (d !== undefined) this.r.dirents(req, d);
  }

  /** A large read: the engine plans it, the device runs are read in parallel (see the top). */
  private read_parallel(reader: AsyncReader, req: number, ino: number, fh: number, size: number, off: number): void {
    const buf = this.readBufs.pop() ?? Buffer.allocUnsafeSlow(1 << 20);
    const give = (): void => { if (this.readBufs.length < 16 && buf.length >= size) this.readBufs.push(buf); };
    const into = buf.length >= size ? buf : Buffer.allocUnsafeSlow(size);
    const again = (): void => {
      const data = this.attempt(req, 'read', () => this.path_of(ino), false, () => this.fs.read(this.ino_fh(fh, ino), off, size));
      if (data !== undefined) this.r.data(req, data, data.length);
      give();
    };
    let plan, stamp: DataStamp;
    try {
      this.guard(false);
      plan = this.fs.read_plan(this.ino_fh(fh, ino), off, size);
      stamp = this.fs.data_stamp(this.ino_fh(fh, ino));
      this.atime_settle(ino);
      plan_fill(plan, into);
    } catch (e) {
      this.r.err(req, this.fail('read', this.path_of(ino), e));
      give();
      return;
    }
    const n = plan.n;
    if (plan.runs.length === 0) { this.r.data(req, into, n); give(); return; }
    const gen = reader.writeCount;
    let left = plan.runs.length;
    let ok = true;
    for (const r of plan.runs) {
      // an aligned run goes straight into the answer; a partial one through a buffer of whole
      // blocks, which the CRC32Cs need
      const direct = r.skip === 0 && r.take === r.count * BLOCK_SIZE;
      const dst = direct ? into.subarray(r.at, r.at + r.take) : Buffer.allocUnsafe(r.count * BLOCK_SIZE);
      try {
        reader.read_async(r.addr, r.count, dst, (err) => {
          if (err !== null || !run_verified(dst, r)) ok = false;
          else if (!direct) dst.copy(into, r.at, r.skip, r.skip + r.take);
          if (--left > 0) return;
          // a write may have moved or reused a block since the plan, or changed the file in the
          // page cache (answered before this read is: what it read is stale); a failed block is
          // read again the ordinary way, which names it
          if (ok && reader.writeCount === gen && !this.closed && this.fs.data_unchanged(stamp)) { this.r.data(req, into, n); give(); } else again();
        });
      } catch {
        // the device refused the request at once (it is closing): nothing of this run is in flight
        ok = false;
        if (--left === 0) again();
      }
    }
  }

  /**
   * Owner and mode of a new inode: the caller's, with BSD group semantics under a set-group-ID
   * directory (as ext4). When the kernel leaves the umask to the filesystem (FUSE_CAP_DONT_MASK,
   * asked with ACLs) it goes to the engine, which applies it unless the directory's default ACL
   * replaces it.
   */
  private owner_new(parent: number, mode: number): { uid: number; gid: number; mode: number; umask: number } {
    const who = this.caller();
    const umask = this.conn !== null && (this.conn.want & CAP.DONT_MASK) !== 0 && (mode & S_IFMT) !== S_IFLNK ? who.umask & 0o777 : 0;
    const p = this.fs.getattr(parent);
    if ((p.mode & S_ISGID) === 0) return { uid: who.uid, gid: who.gid, mode, umask };
    return { uid: who.uid, gid: p.gid, mode: is_dir(mode) ? mode | S_ISGID : mode, umask };
  }

  /**
   * As ext4: user., trusted. and security. names, and with ACLs on the mount the two POSIX ACLs
   * (system.posix_acl_access, _default); other names (and the ACLs on a noacl mount) are
   * refused with EOPNOTSUPP, which cp -a and rsync -A carry on without. security.selinux is
   * refused too unless the mount keeps it (selinux_xattr): SELinux labels a FUSE mount by its
   * context, never by this attribute, and `ls -l`, told once that a filesystem has no labels,
   * stops asking for each file's (a round trip a file; docs/FUSE.md). A label stored before
   * stays on the device, unseen until a mount keeps labels again.
   */
  private xattr_name_check(name: string): void {
    if (this.fs.acl && acl_name(name)) return;
    if (name === SELINUX_XATTR && !this.selinuxXattr) throw new FsError('ENOTSUP', 'extended attribute security.selinux: this mount keeps no SELinux labels (mount with -o selinux_xattr to keep them)');
    if (!XATTR_NAMESPACES.some((p) => name.startsWith(p) && name.length > p.length)) {
      throw new FsError('ENOTSUP', `extended attribute ${shown(name)}: cowlog keeps user., trusted. and security. attributes${this.fs.acl ? ' and POSIX ACLs' : ''} only`);
    }
  }

  /**
   * FS_IOC_SHUTDOWN (xfstests' godown, xfs_io shutdown): the filesystem stops writing, as after
   * a power cut — every later request fails with EIO, and the unmount writes no checkpoint, so
   * the next mount recovers what the last durability point made durable. With NOLOGFLUSH it
   * stops at once; with DEFAULT and LOGFLUSH (sync first, flush the log first) a checkpoint
   * makes everything written durable first — for LOGFLUSH more than XFS promises (its data
   * may be lost), never less.
   */
  private shutdown(how: number): void {
    if (this.down) return;
    let synced = false;
    if (how !== SHUTDOWN_NOLOGFLUSH && this.broken === null) {
      try {
        this.fs.sync();
        synced = true;
      } catch (e) {
        // shut down all the same: the next mount has the last durable state
        this.log.warn(`FS_IOC_SHUTDOWN: the checkpoint before it failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    this.down = true;
    this.log.warn(synced
      ? 'shut down (FS_IOC_SHUTDOWN): everything written was made durable first; nothing more is written'
      : 'shut down (FS_IOC_SHUTDOWN): nothing more is written; the next mount recovers the last durable state');
  }
}
