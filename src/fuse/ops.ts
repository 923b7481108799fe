// The FUSE operations of a cowlog mount: fuse-native's path-based requests become FileSystem
// calls on inode numbers, and engine errors become negative errnos.
//
// Invariants:
// - Every handler answers exactly once, and all but read answer synchronously: the engine is
//   synchronous, so two requests never interleave inside it, and the callback is called outside
//   the try block so an exception from fuse-native itself can not answer twice. A read of at
//   least PARALLEL_READ_MIN bytes asks the engine for a plan (synchronously, like any request)
//   and reads the plan's device runs without blocking, so the reads of several requests reach
//   the device together; it answers when they are in, if no device write came in between and
//   every block passed its CRC32C, and otherwise reads again the ordinary, synchronous way.
// - An FsError becomes its errno. Any other exception is a bug: it is logged with its stack, and
//   the mount turns read-only from then on (writers get EIO, readers go on), so whatever state
//   the bug left in memory is never written; close() then drops the volume without a
//   checkpoint, and the next mount starts from the last durable state.
// - A file handle names an inode, not a path: reads and writes through an open descriptor
//   follow renames and outlive unlink. libfuse hands requests on an open file whose path it
//   can not build any more (its directory removed) the path "" (the patched flag_nullpath_ok):
//   they are served by the handle alone.
// - A file unlinked while open: libfuse 2 "hides" it by renaming it to `.fuse_hiddenNNNN` (16 hex
//   digits, unique per mount) and unlinks that name after the last release. cowlog unlinks it in
//   the engine at once instead (the engine keeps the inode as an orphan until its last release,
//   or frees it at the next mount after a crash) and answers the hidden name from `hidden`. So no
//   directory ever lists a hidden name, rmdir of its directory works, and fstat(2) of the
//   descriptor shows nlink 0 as on ext4. (Such a name is reserved: a rename of an open file to
//   it, in the same directory, is taken for libfuse's.)
// - `dirs` caches the inode numbers of directory paths only (a file's inode is looked up in its
//   parent each time). A directory's path changes only by rename or rmdir, and both forget
//   the path and every path below it before answering.
// - Names are bytes: the mount is made with rawNames, so paths, names, symlink targets and
//   xattr names arrive as latin1 strings (one character per byte) and go to the engine as the
//   Buffers of those bytes; names that are not UTF-8 survive as on ext4.
// - Nothing here is durable: the engine's fsync and checkpoints are. flush (close) is not fsync.

import { comm_read } from './comm.js';
import type { WriteTag } from '../device/cause.js';
import { constants as fsc } from 'node:fs';
import { constants as osc } from 'node:os';
import type { FileSystem, SnapReply, SnapRequest } from '../fs/fs.js';
import { plan_fill } from '../fs/file.js';
import type { ReadRun } from '../fs/file.js';
import { BLOCK_SIZE } from '../device/device.js';
import type { AsyncReader } from '../device/device.js';
import { crc32c } from '../util/crc32c.js';
import type { Attr } from '../fs/types.js';
import { is_dir, S_IFDIR, S_IFMT, S_IFREG } from '../fs/types.js';
import type { Timespec } from '../checkpoint/clock.js';
import { FsError } from '../util/errors.js';
import type { CallerContext, FuseOps, FuseStat, FuseStatfs, UtimeArg } from './binding.js';
import type { Logger } from './log.js';
import type { TraceHub, TraceSource } from './trace.js';
import { DirCache } from './dircache.js';

const E = osc.errno;
const ROOT = 1;
const S_ISGID = 0o2000;
/** chown(2)'s "leave unchanged" as libfuse hands it (uid_t -1) */
const ID_KEEP = 0xffffffff;
const O_ACCMODE = 3;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
const HIDDEN_PREFIX = '.fuse_hidden';
const HIDDEN_RE = /^\.fuse_hidden[0-9a-f]{16}$/;
/** file handles are int32 in fuse-native's open/create answer; 0 means "none" */
const FH_MAX = 0x7fffffff;
const DIR_CACHE_MAX = 65536;
/** files whose last writer is remembered (the map starts over beyond) */
const WRITERS_MAX = 65536;
/** reads of at least this many bytes take their device runs in parallel (smaller ones are
 *  cheaper answered at once than handed to a thread) */
const PARALLEL_READ_MIN = 32 * 1024;
/** xattr namespaces ext4 offers without ACLs; others are EOPNOTSUPP as there */
const XATTR_NAMESPACES = ['user.', 'trusted.', 'security.'];

export interface Handle {
  ino: number;
  /** open(2) flags */
  flags: number;
}

export interface CowlogOpsOptions {
  fs: FileSystem;
  /** who sent the request being handled (FuseMount.caller) */
  caller: () => CallerContext;
  log: Logger;
  /** the device, when it can read without blocking: large reads then overlap */
  reader?: AsyncReader;
}

/** Whether every block a run read matches its CRC32C. */
function run_verified(b: Buffer, r: ReadRun): boolean {
  for (let j = 0; j < r.count; j++) if (crc32c(b, j * BLOCK_SIZE, (j + 1) * BLOCK_SIZE) !== r.csums[j]) return false;
  return true;
}

/** Nanoseconds since the epoch as fuse-native's stat wants them. */
function ts_ns(t: Timespec): bigint {
  return BigInt(t.s) * 1_000_000_000n + BigInt(t.ns);
}

function ns_ts(ns: bigint): Timespec {
  let s = ns / 1_000_000_000n;
  let rest = ns - s * 1_000_000_000n;
  if (rest < 0n) { rest += 1_000_000_000n; s -= 1n; }
  return { s: Number(s), ns: Number(rest) };
}

export function stat_of(a: Attr): FuseStat {
  return {
    mode: a.mode, uid: a.uid, gid: a.gid, size: a.size, nlink: a.nlink, ino: a.ino, rdev: a.rdev,
    blksize: a.blksize, blocks: a.blocks, atime: ts_ns(a.atime), mtime: ts_ns(a.mtime), ctime: ts_ns(a.ctime),
  };
}

/** The bytes of a name or path handed over as a latin1 string (the binding's rawNames). */
function bytes(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** A path as a person reads it, for the log. */
function shown(path: string): string {
  return Buffer.from(path, 'latin1').toString('utf8');
}

function split(path: string): { parent: string; name: string } {
  const cut = path.lastIndexOf('/');
  return { parent: cut <= 0 ? '/' : path.slice(0, cut), name: path.slice(cut + 1) };
}

export class CowlogOps {
  /** the engine; replaced (engine_replace) when a read-only mount is remounted read-write */
  fs: FileSystem;
  /** why the mount turned read-only after a bug, or null */
  broken: string | null = null;
  /** set by close(): the engine is gone, every request fails */
  closed = false;
  readonly handles = new Map<number, Handle>();
  /** open handles per inode (libfuse hides a name only while its inode is open) */
  private readonly opens = new Map<number, number>();
  private readonly hidden = new Map<string, number>();
  private readonly dirs = new DirCache(DIR_CACHE_MAX);
  private fhNext = 1;
  private readonly caller: () => CallerContext;
  private readonly log: Logger;
  private readonly warned = new Map<string, number>();
  /** requests served per operation */
  readonly requests = new Map<string, number>();
  /** COWLOG_FUSE_DEBUG=1: every failed request is logged */
  private readonly debug = process.env['COWLOG_FUSE_DEBUG'] === '1';

  private reader: AsyncReader | null;
  /** the inode the request being served resolved last (for the trace: it names the inode without a lookup of its own) */
  private inoLast = 0;
  /** per inode, the process that last wrote, truncated or fsync'd it and the path it used (bounded: WRITERS_MAX) */
  private readonly writers = new Map<number, { pid: number; path: string }>();
  /** the name of each writer process, read once when first seen */
  private readonly comms = new Map<number, string>();
  private deviceListener: ((tag: WriteTag | undefined, bytes: number) => void) | null = null;

  constructor(o: CowlogOpsOptions) {
    this.fs = o.fs;
    this.caller = o.caller;
    this.log = o.log;
    this.reader = o.reader ?? null;
  }

  /** A large read: the engine plans it, the device runs are read in parallel (see the top). */
  private read_parallel(reader: AsyncReader, path: string, fh: number, buf: Buffer, len: number, pos: number, cb: (r: number) => void): void {
    const again = (): void => this.count('read', path, false, () => {
      const data = this.fs.read(this.ino_fh(fh, path), pos, len);
      data.copy(buf);
      return data.length;
    }, cb);
    let plan;
    try {
      this.guard(false);
      plan = this.fs.read_plan(this.ino_fh(fh, path), pos, len);
      plan_fill(plan, buf);
    } catch (e) {
      cb(this.fail('read', path, e));
      return;
    }
    const n = plan.n;
    if (plan.runs.length === 0) { cb(n); return; }
    const gen = reader.writeCount;
    let left = plan.runs.length;
    let ok = true;
    for (const r of plan.runs) {
      // an aligned run goes straight into the answer; a partial one through a buffer of whole
      // blocks, which the CRC32Cs need
      const direct = r.skip === 0 && r.take === r.count * BLOCK_SIZE;
      const into = direct ? buf.subarray(r.at, r.at + r.take) : Buffer.allocUnsafe(r.count * BLOCK_SIZE);
      try {
        reader.read_async(r.addr, r.count, into, (err) => {
          if (err !== null || !run_verified(into, r)) ok = false;
          else if (!direct) into.copy(buf, r.at, r.skip, r.skip + r.take);
          if (--left > 0) return;
          // a write may have moved or reused a block since the plan; a failed block is read
          // again the ordinary way, which names it
          if (ok && reader.writeCount === gen && !this.closed) cb(n);
          else again();
        });
      } catch {
        // the device refused the request at once (it is closing): nothing of this run is in flight
        ok = false;
        if (--left === 0) again();
      }
    }
  }

  // ---- errors ---------------------------------------------------------------------------------

  private guard(mutating: boolean): void {
    if (this.closed) throw new FsError('EIO', 'the filesystem is being unmounted');
    if (mutating && this.broken !== null) throw new FsError('EIO', `the mount is read-only after an internal error (${this.broken})`);
  }

  /** The negative errno for an exception; a non-FsError is a bug and breaks the mount. */
  private fail(op: string, path: string, e: unknown): number {
    if (this.debug) this.log.info(`${op} ${shown(path)}: ${e instanceof Error ? e.message : String(e)}`);
    if (e instanceof FsError) {
      if (e.code === 'EIO' || e.code === 'EUCLEAN' || e.code === 'ENOSPC') this.warn_once(e.code, `${op} ${shown(path)}: ${e.message}`);
      return -e.errno;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    if (this.broken === null) {
      this.broken = `${op} ${shown(path)}: ${err.message}`;
      this.log.error(`${op} ${shown(path)}: ${err.stack ?? err.message}`);
      this.log.error('this is a bug in cowlog; the mount is read-only from now on (writers get EIO) and will not write a checkpoint at unmount');
    } else {
      this.log.error(`${op} ${shown(path)} (mount already read-only): ${err.stack ?? err.message}`);
    }
    return -E.EIO;
  }

  /**
   * Streaming writeback after a write was answered (FileSystem.writeback). Its errors are not
   * the answered write's: the pages stay dirty and the next fsync or flush meets the error; a
   * bug breaks the mount as in any request.
   */
  private writeback(ino: number): void {
    if (this.closed || this.broken !== null) return;
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

  private status(op: string, path: string, mutating: boolean, fn: () => void, cb: (err: number) => void): void {
    let r = 0;
    try {
      this.guard(mutating);
      fn();
    } catch (e) {
      r = this.fail(op, path, e);
    }
    cb(r);
  }

  private value<T>(op: string, path: string, mutating: boolean, fn: () => T, cb: (err: number, v?: T) => void): void {
    let v: T;
    try {
      this.guard(mutating);
      v = fn();
    } catch (e) {
      cb(this.fail(op, path, e));
      return;
    }
    cb(0, v);
  }

  /** read and write answer a byte count or a negative errno. */
  private count(op: string, path: string, mutating: boolean, fn: () => number, cb: (r: number) => void): void {
    let r: number;
    try {
      this.guard(mutating);
      r = fn();
    } catch (e) {
      r = this.fail(op, path, e);
    }
    cb(r);
  }

  // ---- paths ----------------------------------------------------------------------------------

  /** The inode a path names (no symlink followed: the kernel resolved those). */
  ino_of(path: string): number {
    return this.inoLast = this.ino_find(path);
  }

  private ino_find(path: string): number {
    if (path === '/') return ROOT;
    const d = this.dirs.get(path);
    if (d !== undefined) return d;
    const { parent, name } = split(path);
    if (name.startsWith(HIDDEN_PREFIX)) {
      const h = this.hidden.get(name);
      if (h !== undefined) return h;
    }
    const a = this.fs.lookup(this.dir_ino(parent), bytes(name));
    if (is_dir(a.mode)) this.dir_remember(path, a.ino);
    return a.ino;
  }

  private dir_ino(path: string): number {
    if (path === '/') return ROOT;
    const d = this.dirs.get(path);
    if (d !== undefined) return d;
    const { parent, name } = split(path);
    const a = this.fs.lookup(this.dir_ino(parent), bytes(name));
    if (!is_dir(a.mode)) throw new FsError('ENOTDIR', `${shown(path)} is not a directory`);
    this.dir_remember(path, a.ino);
    return a.ino;
  }

  private dir_remember(path: string, ino: number): void {
    this.dirs.set(path, ino);
  }

  /** Forgets a directory path and every path below it. */
  private dirs_forget(path: string): void {
    if (this.dirs.size === 0) return;
    this.dirs.forget(path);
  }

  /** The attributes of what a path names: one lookup in its parent, as ino_of. */
  private attr_of(path: string): Attr {
    const a = this.attr_find(path);
    this.inoLast = a.ino;
    return a;
  }

  private attr_find(path: string): Attr {
    if (path === '/') return this.fs.getattr(ROOT);
    const d = this.dirs.get(path);
    if (d !== undefined) return this.fs.getattr(d);
    const { parent, name } = split(path);
    if (name.startsWith(HIDDEN_PREFIX)) {
      const h = this.hidden.get(name);
      if (h !== undefined) return this.fs.getattr(h);
    }
    const a = this.fs.lookup(this.dir_ino(parent), bytes(name));
    if (is_dir(a.mode)) this.dir_remember(path, a.ino);
    return a;
  }

  /**
   * Runs a request that changes nothing with stack traces off: an FsError costs 10-30 µs to
   * build with its stack and 2 µs without, and lookups of names that do not exist (ENOENT) and
   * attributes that are absent (ENODATA, asked by the kernel before every write) are most of
   * what tools like cp, git and node's module resolution ask. A bug (not an FsError) is run
   * again with stacks on, so the log still shows where it happened: these requests only read.
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

  /** Owner and mode of a new inode: the caller's, with BSD group semantics under a set-group-ID directory (as ext4). */
  private owner_new(parent: number, mode: number): { uid: number; gid: number; mode: number } {
    const who = this.caller();
    const p = this.fs.getattr(parent);
    if ((p.mode & S_ISGID) === 0) return { uid: who.uid, gid: who.gid, mode };
    return { uid: who.uid, gid: p.gid, mode: is_dir(mode) ? mode | S_ISGID : mode };
  }

  // ---- handles --------------------------------------------------------------------------------

  private handle_open(ino: number, flags: number): number {
    this.inoLast = ino;
    this.fs.open(ino);
    let fh = this.fhNext;
    while (this.handles.has(fh)) fh = fh >= FH_MAX ? 1 : fh + 1;
    this.fhNext = fh >= FH_MAX ? 1 : fh + 1;
    this.handles.set(fh, { ino, flags });
    this.opens.set(ino, (this.opens.get(ino) ?? 0) + 1);
    return fh;
  }

  /** The inode of an open handle; a request without one (fh 0) falls back to the path. */
  private ino_fh(fh: number, path: string): number {
    return this.inoLast = this.ino_fh_find(fh, path);
  }

  private ino_fh_find(fh: number, path: string): number {
    const h = this.handles.get(fh);
    if (h !== undefined) return h.ino;
    if (fh !== 0) throw new FsError('EBADF', `no open handle ${fh}`);
    return this.ino_of(path);
  }

  private handle_release(fh: number): void {
    const h = this.handles.get(fh);
    if (h === undefined) return;
    this.handles.delete(fh);
    const n = (this.opens.get(h.ino) ?? 1) - 1;
    if (n > 0) {
      this.opens.set(h.ino, n);
    } else {
      this.opens.delete(h.ino);
      // libfuse unlinks the hidden name after this release, unless it could not build its path
      // (its directory removed): then nothing else would forget it
      for (const [name, ino] of this.hidden) if (ino === h.ino) this.hidden.delete(name);
    }
    this.fs.release(h.ino);
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  /**
   * Serves from another engine of the same device from now on (a read-only mount remounted
   * read-write: the device opened again). The same tree, so inode numbers and cached paths hold;
   * every open handle is opened again there.
   */
  engine_replace(next: FileSystem, reader: AsyncReader | null): void {
    next.observe(this.fs.observer);
    next.vol.dev.listener = this.deviceListener;
    this.fs = next;
    this.reader = reader;
    for (const h of this.handles.values()) next.open(h.ino);
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
      throw new FsError('EIO', `remount failed (errno ${-r}); see the log`);
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
    if (this.broken !== null) {
      this.fs.vol.abandon();
      return;
    }
    this.fs.unmount();
  }

  /** Periodic work (timer checkpoints); a failure breaks the mount like a failed request. */
  tick(nowMs: number): void {
    if (this.closed || this.broken !== null) return;
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
      throw new FsError('EIO', `sync failed (errno ${-r}); see the log`);
    }
  }

  /**
   * Snapshot operations from the control channel, as one batch (one checkpoint). A rollback is
   * refused while any file is open on the mount; after one, the cached directory paths are
   * forgotten (they named the old tree's inodes).
   */
  snapshot(reqs: SnapRequest[]): SnapReply[] {
    this.guard(true);
    const open = this.handles.size;
    const busy = (r: SnapRequest): boolean => r.op === 'rollback' && open > 0;
    const allowed = reqs.filter((r) => !busy(r));
    let done: SnapReply[];
    try {
      done = allowed.length ? this.fs.snapshot(allowed) : [];
    } catch (e) {
      const r = this.fail('snapshot', '(control)', e);
      if (e instanceof FsError) throw e;
      throw new FsError('EIO', `snapshot operation failed (errno ${-r}); see the log`);
    }
    if (allowed.some((r, i) => r.op === 'rollback' && done[i]!.ok)) {
      this.dirs.clear();
      this.hidden.clear();
    }
    let k = 0;
    return reqs.map((r) => (busy(r)
      ? { ok: false, error: new FsError('EBUSY', `${open} file${open > 1 ? 's are' : ' is'} open on the mount: close ${open > 1 ? 'them' : 'it'} before rolling back`) }
      : done[k++]!));
  }

  // ---- the operations -------------------------------------------------------------------------

  /** The handlers; with `trace`, each request is served through it (latency, tracers: trace.ts). */
  ops(trace?: TraceHub): FuseOps {
    const table = this.table();
    // requests counted per operation, for the log at unmount
    const counted: Record<string, unknown> = {};
    for (const [name, fn] of Object.entries(table) as [string, (...args: unknown[]) => void][]) {
      const hist = trace?.hist_of(name);
      counted[name] = trace === undefined ? (...args: unknown[]): void => {
        this.requests.set(name, (this.requests.get(name) ?? 0) + 1);
        fn(...args);
      } : (...args: unknown[]): void => {
        this.requests.set(name, (this.requests.get(name) ?? 0) + 1);
        trace.serve(name, hist!, fn, args);
      };
    }
    return counted as FuseOps;
  }

  /** What tracing needs to know about requests (trace.ts); its lookups change nothing. */
  trace_source(): TraceSource {
    return {
      caller: () => this.caller(),
      ino_last: (reset) => {
        const ino = this.inoLast;
        if (reset) this.inoLast = 0;
        return ino;
      },
      ino_fh: (fh) => this.handles.get(fh)?.ino ?? 0,
      ino_peek: (path) => {
        if (this.closed) return 0;
        try {
          return this.quiet(() => this.ino_of(path));
        } catch {
          return 0;
        }
      },
      observe: (o) => this.fs.observe(o),
      device_listen: (fn) => { this.deviceListener = fn; this.fs.vol.dev.listener = fn; },
      writer_of: (ino) => this.writer_of(ino),
    };
  }

  /** The process that last wrote, truncated or fsync'd inode `ino` (0: not known). */
  writer_of(ino: number): number {
    return this.writers.get(ino)?.pid ?? 0;
  }

  /**
   * What is known of the files and processes behind writes, for the wear file: for each inode
   * asked, its last path; for each process asked, its name when first seen.
   */
  writers_named(inos: Iterable<number>, pids: Iterable<number>): { files: Record<string, string>; processes: Record<string, string> } {
    const files: Record<string, string> = {};
    const processes: Record<string, string> = {};
    for (const ino of inos) {
      const w = this.writers.get(ino);
      if (w !== undefined) files[ino] = w.path;
    }
    for (const pid of pids) {
      const comm = this.comms.get(pid);
      if (comm !== undefined) processes[pid] = comm;
    }
    return { files, processes };
  }

  /** Remembers who changed a file's data last (and by which path), for attributing the device writes made for it. */
  private writer_note(ino: number, path: string): void {
    if (ino === 0) return;
    let pid = 0;
    try { pid = this.caller().pid; } catch { return; }
    if (this.writers.size >= WRITERS_MAX && !this.writers.has(ino)) this.writers.clear();
    const prev = this.writers.get(ino);
    this.writers.set(ino, { pid, path: path !== '' ? shown(path) : prev?.path ?? '' });
    if (!this.comms.has(pid)) {
      if (this.comms.size >= WRITERS_MAX) this.comms.clear();
      this.comms.set(pid, comm_read(pid));
    }
  }

  private table(): FuseOps {
    return {
      init: (cb) => cb(0),
      statfs: (path, cb) => this.value('statfs', path, false, () => {
        const s = this.fs.statfs();
        const clamp = (n: number): number => Math.min(n, 0xffffffff);
        const st: FuseStatfs = {
          bsize: s.bsize, frsize: s.frsize, blocks: clamp(s.blocks), bfree: clamp(s.bfree), bavail: clamp(s.bavail),
          files: clamp(s.files), ffree: clamp(s.ffree), favail: clamp(s.ffree),
          fsid: this.fs.vol.sb.uuid.readUInt32LE(0), flag: 0, namemax: s.namemax,
        };
        return st;
      }, cb),
      access: (path, _mode, cb) => this.status('access', path, false, () => { this.quiet(() => this.ino_of(path)); }, cb),
      getattr: (path, cb) => this.value('getattr', path, false, () => stat_of(this.quiet(() => this.attr_of(path))), cb),
      fgetattr: (path, fh, cb) => this.value('fgetattr', path, false, () => stat_of(this.quiet(() => this.fs.getattr(this.ino_fh(fh, path)))), cb),
      readdir: (path, cb) => {
        let names: string[];
        let stats: FuseStat[];
        try {
          this.guard(false);
          const ino = this.ino_of(path);
          const entries = this.fs.readdir(ino);
          const up = path === '/' ? ROOT : this.fs.lookup(ino, '..').ino;
          names = ['.', '..'];
          // libfuse takes only st_ino and the type from these (readdir's d_ino and d_type)
          stats = [
            { ino, mode: S_IFDIR, uid: 0, gid: 0, size: 0, nlink: 1, atime: 0, mtime: 0, ctime: 0 },
            { ino: up, mode: S_IFDIR, uid: 0, gid: 0, size: 0, nlink: 1, atime: 0, mtime: 0, ctime: 0 },
          ];
          for (const e of entries) {
            names.push(e.name.toString('latin1'));
            stats.push({ ino: e.ino, mode: (e.type << 12) & S_IFMT, uid: 0, gid: 0, size: 0, nlink: 1, atime: 0, mtime: 0, ctime: 0 });
          }
        } catch (e) {
          cb(this.fail('readdir', path, e));
          return;
        }
        cb(0, names, stats);
      },
      opendir: (path, _flags, cb) => this.value('opendir', path, false, () => {
        if (!is_dir(this.attr_of(path).mode)) throw new FsError('ENOTDIR', `${shown(path)} is not a directory`);
        return 0;
      }, cb),
      releasedir: (_path, _fh, cb) => cb(0),
      fsyncdir: (path, datasync, _fh, cb) => this.status('fsyncdir', path, false, () => {
        const ino = this.ino_of(path);
        // a broken mount writes nothing: fsync fails rather than claim durability
        this.guard(true);
        this.fs.fsync(ino, datasync !== 0);
      }, cb),

      // -- files
      open: (path, flags, cb) => this.value('open', path, false, () => {
        const ino = this.ino_of(path);
        const a = this.fs.getattr(ino);
        if (is_dir(a.mode)) throw new FsError('EISDIR', `${shown(path)} is a directory`);
        if ((flags & O_ACCMODE) !== fsc.O_RDONLY || (flags & fsc.O_TRUNC) !== 0) {
          if (this.broken !== null) this.guard(true);
          // remounted read-only: refused at open, as the kernel does for a read-only mount
          if (this.fs.readOnly) throw new FsError('EROFS', `${shown(path)}: the filesystem is read-only`);
        }
        return this.handle_open(ino, flags);
      }, cb),
      create: (path, mode, flags, cb) => this.value('create', path, true, () => {
        const { parent, name } = split(path);
        const dir = this.dir_ino(parent);
        const o = this.owner_new(dir, (mode & S_IFMT) === 0 ? mode | S_IFREG : mode);
        let ino: number;
        try {
          ino = this.fs.create(dir, bytes(name), o.mode, o.uid, o.gid).ino;
        } catch (e) {
          // another opener made it between the kernel's lookup and this create: without
          // O_EXCL, open(2) opens what is there
          if (!(e instanceof FsError) || e.code !== 'EEXIST' || (flags & fsc.O_EXCL) !== 0) throw e;
          const a = this.fs.lookup(dir, bytes(name));
          if (is_dir(a.mode)) throw new FsError('EISDIR', `${shown(path)} is a directory`);
          ino = a.ino;
          if ((flags & fsc.O_TRUNC) !== 0 && (a.mode & S_IFMT) === S_IFREG) this.fs.truncate(ino, 0);
        }
        return this.handle_open(ino, flags);
      }, cb),
      release: (path, fh, cb) => this.status('release', path, false, () => {
        // a broken mount still counts its handles down, but frees nothing more
        if (this.broken !== null) { this.handles.delete(fh); return; }
        this.handle_release(fh);
      }, cb),
      flush: (_path, _fh, cb) => cb(0),
      fsync: (path, datasync, fh, cb) => this.status('fsync', path, false, () => {
        const ino = this.ino_fh(fh, path);
        // a broken mount writes nothing: fsync fails rather than claim durability
        this.guard(true);
        this.writer_note(ino, path);
        this.fs.fsync(ino, datasync !== 0);
      }, cb),
      read: (path, fh, buf, len, pos, cb) => (this.reader !== null && len >= PARALLEL_READ_MIN) ? this.read_parallel(this.reader, path, fh, buf, len, pos, cb) : this.count('read', path, false, () => {
        const data = this.fs.read(this.ino_fh(fh, path), pos, len);
        data.copy(buf);
        return data.length;
      }, cb),
      write: (path, fh, buf, len, pos, cb) => {
        let ino = 0;
        this.count('write', path, true, () => {
          const h = this.handles.get(fh);
          ino = h?.ino ?? this.ino_fh(fh, path);
          // O_APPEND is decided here, at the engine's end of file: the kernel computes the
          // offset from its own idea of the size, which is stale for a file written through
          // another name (libfuse gives each name of a hard link its own kernel inode)
          const at = h !== undefined && (h.flags & fsc.O_APPEND) !== 0 ? this.fs.getattr(ino).size : pos;
          this.writer_note(ino, path);
          // buf is fuse-native's and detached after the answer: the engine copies what it keeps
          return this.fs.write(ino, at, buf.subarray(0, len));
        }, cb);
        // answered: the kernel prepares the next request while the engine writes back
        if (ino !== 0) this.writeback(ino);
      },
      truncate: (path, size, cb) => this.status('truncate', path, true, () => {
        const ino = this.ino_of(path);
        this.writer_note(ino, path);
        this.fs.truncate(ino, size);
      }, cb),
      ftruncate: (path, fh, size, cb) => this.status('ftruncate', path, true, () => {
        const ino = this.ino_fh(fh, path);
        this.writer_note(ino, path);
        this.fs.truncate(ino, size);
      }, cb),

      // -- attributes
      chmod: (path, mode, cb) => this.status('chmod', path, true, () => { this.fs.setattr(this.ino_of(path), { mode }); }, cb),
      chown: (path, uid, gid, cb) => this.status('chown', path, true, () => {
        const a: { uid?: number; gid?: number } = {};
        if (uid !== ID_KEEP) a.uid = uid;
        if (gid !== ID_KEEP) a.gid = gid;
        this.fs.setattr(this.ino_of(path), a);
      }, cb),
      utimens: (path, atime, mtime, cb) => this.status('utimens', path, true, () => {
        const t = (v: UtimeArg): Timespec | 'now' | undefined => (v === 'omit' ? undefined : v === 'now' ? 'now' : ns_ts(v));
        const a: { atime?: Timespec | 'now'; mtime?: Timespec | 'now' } = {};
        const at = t(atime), mt = t(mtime);
        if (at !== undefined) a.atime = at;
        if (mt !== undefined) a.mtime = mt;
        this.fs.setattr(this.ino_of(path), a);
      }, cb),

      // -- names
      mknod: (path, mode, dev, cb) => this.status('mknod', path, true, () => {
        const { parent, name } = split(path);
        const dir = this.dir_ino(parent);
        const o = this.owner_new(dir, (mode & S_IFMT) === 0 ? mode | S_IFREG : mode);
        this.fs.create(dir, bytes(name), o.mode, o.uid, o.gid, dev);
      }, cb),
      mkdir: (path, mode, cb) => this.status('mkdir', path, true, () => {
        const { parent, name } = split(path);
        const dir = this.dir_ino(parent);
        const o = this.owner_new(dir, S_IFDIR | (mode & 0o7777));
        this.fs.mkdir(dir, bytes(name), o.mode, o.uid, o.gid);
      }, cb),
      symlink: (target, path, cb) => this.status('symlink', path, true, () => {
        const { parent, name } = split(path);
        const dir = this.dir_ino(parent);
        const who = this.caller();
        const p = this.fs.getattr(dir);
        this.fs.symlink(dir, bytes(name), bytes(target), who.uid, (p.mode & S_ISGID) !== 0 ? p.gid : who.gid);
      }, cb),
      readlink: (path, cb) => this.value('readlink', path, false, () => this.quiet(() => this.fs.readlink(this.ino_of(path))).toString('latin1'), cb),
      link: (src, dest, cb) => this.status('link', dest, true, () => {
        const ino = this.ino_of(src);
        const { parent, name } = split(dest);
        this.fs.link(ino, this.dir_ino(parent), bytes(name));
      }, cb),
      unlink: (path, cb) => this.status('unlink', path, true, () => {
        const { parent, name } = split(path);
        // libfuse unlinks a hidden name after the last release: the engine freed the inode then
        if (name.startsWith(HIDDEN_PREFIX) && this.hidden.delete(name)) return;
        this.fs.unlink(this.dir_ino(parent), bytes(name));
      }, cb),
      rmdir: (path, cb) => this.status('rmdir', path, true, () => {
        const { parent, name } = split(path);
        this.fs.rmdir(this.dir_ino(parent), bytes(name));
        this.dirs_forget(path);
      }, cb),
      rename: (src, dest, cb) => this.status('rename', src, true, () => {
        const s = split(src);
        const d = split(dest);
        const sdir = this.dir_ino(s.parent);
        const a = this.fs.lookup(sdir, bytes(s.name));
        if (HIDDEN_RE.test(d.name) && s.parent === d.parent && (this.opens.get(a.ino) ?? 0) > 0 && !is_dir(a.mode)) {
          // libfuse hiding a name whose inode is open (unlink, or a rename over it)
          this.fs.unlink(sdir, bytes(s.name));
          this.hidden.set(d.name, a.ino);
          return;
        }
        this.fs.rename(sdir, bytes(s.name), this.dir_ino(d.parent), bytes(d.name));
        if (is_dir(a.mode)) this.dirs_forget(src);
        this.dirs_forget(dest);
      }, cb),

      // -- extended attributes
      setxattr: (path, name, value, _position, flags, cb) => this.status('setxattr', path, true, () => {
        this.xattr_name_check(name);
        const mode = (flags & XATTR_CREATE) !== 0 ? 'create' : (flags & XATTR_REPLACE) !== 0 ? 'replace' : 'any';
        this.fs.setxattr(this.ino_of(path), bytes(name), value, mode);
      }, cb),
      getxattr: (path, name, _position, cb) => this.value('getxattr', path, false, () => {
        this.xattr_name_check(name);
        return this.quiet(() => this.fs.getxattr(this.ino_of(path), bytes(name)));
      }, cb),
      listxattr: (path, cb) => this.value('listxattr', path, false, () => this.quiet(() => this.fs.listxattr(this.ino_of(path))).map((b) => b.toString('latin1')), cb),
      removexattr: (path, name, cb) => this.status('removexattr', path, true, () => {
        this.xattr_name_check(name);
        this.fs.removexattr(this.ino_of(path), bytes(name));
      }, cb),
    };
  }

  /**
   * ext4 without ACLs: user., trusted. and security. names; system.posix_acl_* would be stored
   * but never enforced (libfuse 2 can not ask the kernel to), so they are refused as ext4
   * mounted noacl refuses them, and cp -a / rsync -A carry on without.
   */
  private xattr_name_check(name: string): void {
    if (!XATTR_NAMESPACES.some((p) => name.startsWith(p) && name.length > p.length)) {
      throw new FsError('ENOTSUP', `extended attribute ${shown(name)}: cowlog keeps user., trusted. and security. attributes only`);
    }
  }
}
