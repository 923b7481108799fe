// The typed door to fuse-native 2.2.6 as patched by patches/fuse-native+2.2.6.patch (docs/FUSE.md).
// Nothing else in cowlog loads fuse-native.
//
// Invariants:
// - binding_load() returns only a module whose native half reports FUSE_PATCH_LEVEL; an
//   unpatched prebuild, a missing libfuse or a failed build is a FuseBindingError saying what to run.
// - The mount options cowlog relies on are always set: use_ino and big_writes (carried inside
//   fsname, since fuse-native has no option for them), timeout: false (fuse-native's 15 s default
//   answers ETIMEDOUT and may crash when a late handler fills a freed buffer), and attribute and
//   entry timeouts passed as strings (fuse-native drops a numeric 0).
// - FuseMount.caller() is valid only in the synchronous part of a handler: the context belongs
//   to the request being dispatched and the next request overwrites it.
// - The serving process never touches its own mount synchronously (that deadlocks): the
//   unmount watcher reads /proc/self/mountinfo, never the mountpoint.
// - fuse_serve() has its signal handlers in place before the mount exists, so no SIGTERM can
//   find the process with the default action and leave a stale mount behind.

import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { resolve as path_resolve } from 'node:path';

/** The patch level the native binding must report (`cowlog_patch` in the patch file). */
export const FUSE_PATCH_LEVEL = 4;

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
// Handler types. Errors are negative errnos (0 for success), passed as the callback's first
// argument; read and write answer with a byte count or a negative errno instead.

/** A time as handed to getattr: nanoseconds (bigint), milliseconds (number) or a Date. */
export type StatTime = bigint | number | Date;

/** What getattr and readdir answer. Integers are 32-bit except size and blocks (53-bit). */
export interface FuseStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  /** shown to callers as st_ino because cowlog mounts with use_ino */
  ino: number;
  dev?: number;
  rdev?: number;
  blksize?: number;
  /** 512-byte units */
  blocks?: number;
  atime: StatTime;
  mtime: StatTime;
  ctime: StatTime;
}

/** statfs's answer; every field is 32-bit. */
export interface FuseStatfs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  fsid: number;
  flag: number;
  namemax: number;
}

/** One utimens time: nanoseconds since the epoch, or utimensat(2)'s UTIME_NOW / UTIME_OMIT. */
export type UtimeArg = bigint | 'now' | 'omit';

/** Who asked: read by the patched binding with fuse_get_context() on the FUSE thread. */
export interface CallerContext {
  uid: number;
  gid: number;
  pid: number;
  /** the caller's umask; libfuse 2.9 fills it for create, mknod and mkdir only (0 otherwise) */
  umask: number;
}

export type ErrCb = (err: number) => void;
export type ValueCb<T> = (err: number, value?: T) => void;

/** The operations of the patched fuse-native; every one is optional. */
export interface FuseOps {
  init?(cb: ErrCb): void;
  error?(cb: ErrCb): void;
  access?(path: string, mode: number, cb: ErrCb): void;
  statfs?(path: string, cb: ValueCb<FuseStatfs>): void;
  getattr?(path: string, cb: ValueCb<FuseStat>): void;
  /** patched: the file handle of an fstat-like request; `path` is "" when the name of the open file is gone */
  fgetattr?(path: string, fd: number, cb: ValueCb<FuseStat>): void;
  flush?(path: string, fd: number, cb: ErrCb): void;
  fsync?(path: string, datasync: number, fd: number, cb: ErrCb): void;
  fsyncdir?(path: string, datasync: number, fd: number, cb: ErrCb): void;
  readdir?(path: string, cb: (err: number, names?: string[], stats?: FuseStat[]) => void): void;
  truncate?(path: string, size: number, cb: ErrCb): void;
  ftruncate?(path: string, fd: number, size: number, cb: ErrCb): void;
  /** patched: both times, nanosecond precision, 'now'/'omit' passed through */
  utimens?(path: string, atime: UtimeArg, mtime: UtimeArg, cb: ErrCb): void;
  readlink?(path: string, cb: ValueCb<string>): void;
  chown?(path: string, uid: number, gid: number, cb: ErrCb): void;
  chmod?(path: string, mode: number, cb: ErrCb): void;
  mknod?(path: string, mode: number, dev: number, cb: ErrCb): void;
  setxattr?(path: string, name: string, value: Buffer, position: number, flags: number, cb: ErrCb): void;
  /** answer with the value; fuse-native copies it and answers ENODATA for undefined */
  getxattr?(path: string, name: string, position: number, cb: ValueCb<Buffer>): void;
  listxattr?(path: string, cb: ValueCb<string[]>): void;
  removexattr?(path: string, name: string, cb: ErrCb): void;
  /** answer with a file handle (32-bit); 0 leaves the handle unset */
  open?(path: string, flags: number, cb: ValueCb<number>): void;
  opendir?(path: string, flags: number, cb: ValueCb<number>): void;
  /** fill `buf` (valid until cb returns: copy nothing out of it later); answer bytes read or -errno */
  read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (result: number) => void): void;
  /** `buf` is detached after cb: copy what you keep; answer bytes written or -errno */
  write?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (result: number) => void): void;
  release?(path: string, fd: number, cb: ErrCb): void;
  releasedir?(path: string, fd: number, cb: ErrCb): void;
  /** patched: `flags` are the open(2) flags of the creating call */
  create?(path: string, mode: number, flags: number, cb: ValueCb<number>): void;
  unlink?(path: string, cb: ErrCb): void;
  /** libfuse 2 has no rename flags: renameat2 with flags answers EINVAL before reaching here */
  rename?(src: string, dest: string, cb: ErrCb): void;
  link?(src: string, dest: string, cb: ErrCb): void;
  /** `target` is the link's content, `path` the new name */
  symlink?(target: string, path: string, cb: ErrCb): void;
  mkdir?(path: string, mode: number, cb: ErrCb): void;
  rmdir?(path: string, cb: ErrCb): void;
  /** patched: fallocate(2)'s mode (FALLOC_FL_*), offset and length */
  fallocate?(path: string, fd: number, mode: number, offset: number, length: number, cb: ErrCb): void;
}

/** fallocate(2) mode bits. */
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_ZERO_RANGE = 0x10;

// ---------------------------------------------------------------------------------------------
// Mount options.

export interface FuseMountOptions {
  /** the name shown as the mount's source; must be unique among live mounts, no commas */
  fsname: string;
  /** mount type becomes fuse.SUBTYPE */
  subtype?: string;
  /** seconds the kernel may cache attributes (default 1, as libfuse) */
  attrTimeout?: number;
  /** seconds the kernel may cache name lookups (default 1) */
  entryTimeout?: number;
  /** let the kernel check permissions from the mode bits (default false) */
  defaultPermissions?: boolean;
  /** let users other than the mounting one in (root may always; others need user_allow_other) */
  allowOther?: boolean;
  /** use_ino: the kernel shows the ino from getattr (default true) */
  useIno?: boolean;
  /** big_writes: writes arrive up to 128 KiB instead of 4 KiB (default true) */
  bigWrites?: boolean;
  /** more -o options, each "name" or "name=value" */
  extra?: string[];
  /** create the mountpoint if it is missing */
  mkdir?: boolean;
  /** libfuse's debug trace on stderr */
  debug?: boolean;
  /**
   * Paths, names, symlink targets and xattr names reach the handlers as latin1 strings, one
   * character per byte (Buffer.from(s, 'latin1') gives the bytes), and readdir, readlink and
   * listxattr answer the same way: names that are not UTF-8 survive. Default: UTF-8 strings.
   */
  rawNames?: boolean;
}

/** fuse-native's own option object, as fuse_native_options() builds it. */
export interface NativeOptions {
  fsname: string;
  subtype?: string;
  timeout: false;
  attrTimeout: string;
  entryTimeout: string;
  defaultPermissions?: boolean;
  allowOther?: boolean;
  mkdir?: boolean;
  debug?: boolean;
  rawNames?: boolean;
}

const OPTION_RE = /^[a-z_]+(=[^,]+)?$/;

/** Turns cowlog's options into fuse-native's, folding the options it lacks into fsname. */
export function fuse_native_options(opts: FuseMountOptions): NativeOptions {
  if (!/^[^,\s=]+$/.test(opts.fsname)) {
    throw new RangeError(`fsname '${opts.fsname}' must be one word without commas or '='`);
  }
  const folded: string[] = [];
  if (opts.useIno ?? true) folded.push('use_ino');
  if (opts.bigWrites ?? true) folded.push('big_writes');
  for (const o of opts.extra ?? []) {
    if (!OPTION_RE.test(o)) throw new RangeError(`mount option '${o}' is not name or name=value`);
    folded.push(o);
  }
  const seconds = (v: number | undefined, name: string): string => {
    const s = v ?? 1;
    if (!(Number.isFinite(s) && s >= 0)) throw new RangeError(`${name} must be >= 0 seconds, got ${s}`);
    return String(s); // a string: fuse-native drops a numeric 0
  };
  const out: NativeOptions = {
    fsname: [opts.fsname, ...folded].join(','),
    timeout: false,
    attrTimeout: seconds(opts.attrTimeout, 'attrTimeout'),
    entryTimeout: seconds(opts.entryTimeout, 'entryTimeout'),
  };
  if (opts.subtype !== undefined) out.subtype = opts.subtype;
  if (opts.defaultPermissions) out.defaultPermissions = true;
  if (opts.allowOther) out.allowOther = true;
  if (opts.mkdir) out.mkdir = true;
  if (opts.debug) out.debug = true;
  if (opts.rawNames) out.rawNames = true;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Loading.

interface NativeFuse {
  caller: CallerContext | null;
  mount(cb: (err: Error | null) => void): void;
  unmount(cb: (err: Error | null) => void): void;
  /** patched: called on the main thread once the FUSE loop has ended (the kernel ended the connection) */
  cowlogEnded?: () => void;
  /** patched: releases the native side without running fusermount */
  cowlogRelease(): void;
}
export interface FuseModule {
  new (mnt: string, ops: FuseOps, opts: NativeOptions): NativeFuse;
  COWLOG_PATCH?: number;
  unmount(mnt: string, cb: (err: Error | null) => void): void;
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
      `fuse-native can not be loaded (${why}); run \`make fuse\` (Debian packages fuse libfuse2, and the patched build)`);
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
  loaded = mod;
  return mod;
}

// ---------------------------------------------------------------------------------------------
// Mounting.

/**
 * One mounted filesystem served by this process.
 *
 * Its end is known two ways: the patched binding calls back the moment the kernel ends the
 * connection (an unmount, umount -l once the last open file is closed, an abort through
 * fusectl), and /proc/self/mountinfo stops listing it (a lazy unmount with files still open
 * detaches the name first). The mount is recognised by its device number, not its path alone:
 * once it is gone, the same mountpoint may already hold somebody else's mount, which an
 * unmount by path would take away.
 */
export class FuseMount {
  readonly mountpoint: string;
  private readonly fuse: NativeFuse;
  private state: 'new' | 'mounting' | 'mounted' | 'unmounted' = 'new';
  private gone: Promise<void> | undefined;
  /** the mount's device number in /proc/self/mountinfo ("major:minor"), once it is live */
  private dev: string | null = null;
  private endedNow = false;
  /** resolves when the kernel ended the connection: nothing more will be asked */
  readonly ended: Promise<void>;

  constructor(mountpoint: string, ops: FuseOps, opts: FuseMountOptions) {
    const Fuse = binding_load();
    this.mountpoint = path_resolve(mountpoint);
    this.fuse = new Fuse(this.mountpoint, ops, fuse_native_options(opts));
    this.ended = new Promise((ok) => {
      this.fuse.cowlogEnded = () => { this.endedNow = true; ok(); };
    });
  }

  /** Whether the kernel has ended the connection. */
  get connectionEnded(): boolean {
    return this.endedNow;
  }

  /**
   * Resolves once the kernel's INIT reached the handlers: the mount is live. Rejects if
   * mounting fails, or if the mount is taken away before INIT arrived (fuse-native would
   * otherwise never call back).
   */
  mount(): Promise<void> {
    if (this.state !== 'new') return Promise.reject(new Error(`${this.mountpoint}: mount() called twice`));
    this.state = 'mounting';
    return new Promise((ok, fail) => {
      let settled = false;
      const lost = (): void => {
        if (settled) return;
        settled = true;
        this.state = 'unmounted';
        fail(new Error(`${this.mountpoint} was unmounted before the kernel's INIT reached the filesystem`));
      };
      this.fuse.mount((err) => {
        if (settled) return;
        if (err) {
          settled = true;
          this.state = 'unmounted';
          fail(new Error(`mounting ${this.mountpoint} failed: ${err.message}`));
          return;
        }
        // the mount(2) call was made before the FUSE thread started, so it is listed now
        // unless it is already gone again
        mountinfo_dev(this.mountpoint).then((dev) => {
          if (settled) return;
          if (this.endedNow) { lost(); return; }
          settled = true;
          this.dev = dev;
          this.state = 'mounted';
          ok();
        }, (e: unknown) => {
          if (settled) return;
          settled = true;
          fail(e instanceof Error ? e : new Error(String(e)));
        });
      });
      this.ended.then(lost, () => {});
    });
  }

  /**
   * Ends this process's part in the mount: unmounts it (fusermount -uz) if it is still listed
   * at its mountpoint, and releases the binding's hold on the event loop. Once the kernel has
   * ended the connection nothing is unmounted: the mountpoint may hold another mount by now.
   */
  async unmount(): Promise<void> {
    const was = this.state;
    this.state = 'unmounted';
    if (was === 'mounted') {
      if (this.endedNow || !(await this.listed())) {
        this.fuse.cowlogRelease();
        return;
      }
      return new Promise((ok, fail) => {
        this.fuse.unmount((err) => {
          if (!err) return ok();
          // fusermount fails on a mount someone else removed already: that is done, not failed
          this.listed().then((has) => (has ? fail(err) : ok()), () => fail(err));
        });
      });
    }
    // mounting (or a mount that never reached INIT): detach whatever the kernel has
    if (was === 'mounting') {
      const Fuse = binding_load();
      return new Promise((ok) => Fuse.unmount(this.mountpoint, () => ok()));
    }
  }

  /** Whether this mount (by its device number) is still listed at its mountpoint. */
  private async listed(): Promise<boolean> {
    const dev = await mountinfo_dev(this.mountpoint);
    return dev !== null && dev === this.dev;
  }

  /** The caller of the request being handled; call it before the handler's first await. */
  caller(): CallerContext {
    const c = this.fuse.caller;
    if (c === null) throw new Error('FuseMount.caller() called outside a FUSE request handler');
    return c;
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
}

/**
 * Serves `mount` until SIGTERM or SIGINT (a second one exits at once) or an outside unmount,
 * then unmounts. The signal handlers are installed before mounting, so a signal that arrives
 * while the mount comes up is not lost. `on_ready` runs once the mount is live. `stop_when`
 * stops serving when it resolves (with the reason), as a signal does. Resolves with why it
 * stopped; rejects if mounting fails.
 */
export async function fuse_serve(mount: FuseMount, on_ready?: () => void, stop_when?: Promise<string>): Promise<string> {
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
    const mounting = mount.mount();
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

/** A negative errno for fuse-native callbacks, from an errno name (EIO when unknown). */
export function errno_neg(name: string): number {
  const n = (constants.errno as Record<string, number | undefined>)[name];
  return -(n ?? 5);
}
