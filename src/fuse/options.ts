// `-o` mount options of `cowlog mount`, as a user, mount(8) or an fstab line gives them.
//
// Invariants:
// - Every option is either cowlog's own (ro, wear=, log=, attr_timeout=...), a kernel mount flag
//   libfuse passes on (nosuid, noexec...), or one mount(8)/fstab use for themselves and that
//   has no meaning for the filesystem (defaults, noauto, _netdev, x-*...); anything else is a
//   usage error naming the option, never passed on blindly (libfuse would fail the mount with
//   a message about its own argv).
// - default_permissions is always on: the kernel checks mode bits, as for ext4.

import path from 'node:path';
import type { AtimeMode } from '../fs/fs.js';
import { HELD_MAX_DEFAULT } from './held.js';

export interface MountConfig {
  readOnly: boolean;
  /** the wear file to write when the server exits after an unmount */
  wear: string | null;
  /** the log file (null: the default for the device) */
  log: string | null;
  /** other users may use the mount (default: when root mounts) */
  allowOther: boolean;
  /**
   * Seconds the kernel may cache attributes, names and names that do not exist. The kernel
   * keeps one inode per cowlog inode (both names of a hard link show one link count) and
   * updates its caches with every change made through the mount; what cowlog changes itself
   * (atime moved by a read, a rollback) it invalidates. Long by default (ATTR_TIMEOUT_DEFAULT).
   */
  attrTimeout: number;
  entryTimeout: number;
  negativeTimeout: number;
  /** seconds between timer checkpoints when something changed (null: the engine's 30 s), as ext4's commit= */
  commit: number | null;
  /** mount flags handed to the kernel through libfuse */
  kernel: string[];
  /** serve this snapshot (read-only) or clone instead of the default tree (counts no trial mount) */
  snapshot: string | null;
  /** when reads move atime: relatime (default), strictatime, noatime */
  atime: AtimeMode;
  /** directories keep their atime when listed */
  nodiratime: boolean;
  /** -o remount: change a running mount (ro/rw, atime options, commit=, compress=) instead of mounting */
  remount: boolean;
  /** POSIX ACLs kept, inherited and enforced by the kernel (default on, as ext4; noacl turns them off) */
  acl: boolean;
  /** selinux_xattr: keep security.selinux as any other attribute (default: refused, docs/FUSE.md) */
  selinuxXattr: boolean;
  /** btime: answer statx's birth time (FUSE_STATX), a round trip more per inode for callers that ask (default off) */
  btime: boolean;
  /** compress=lz4|none: files without their own user.cowlog.compress (null: what mkfs recorded) */
  compress: 'lz4' | 'none' | null;
  /** cache=SIZE: bytes the engine's metadata caches may hold (null: 64 MiB) */
  cache: number | null;
  /** mem=SIZE: what the server may hold above its idle size before the caches give way (null: resident_allowance; 0: no bound) */
  mem: number | null;
  /** held_max=N: inodes the kernel may hold before cowlog asks it to drop the oldest names (held.ts) */
  heldMax: number;
  /** force: mount read-write even though fsck recorded errors (else read-only, with a warning) */
  force: boolean;
  /** norecovery (noload): with ro, serve the last checkpoint without rolling forward the redo log */
  noRecovery: boolean;
  /** spin=US: microseconds the server keeps reading /dev/fuse after a request before it sleeps */
  spinUs: number;
  /**
   * writeback_cache: the kernel keeps written data in its page cache and sends it later, in
   * pages gathered (FUSE_CAP_WRITEBACK_CACHE; default off: docs/MOUNT.md says what changes)
   */
  writebackCache: boolean;
}

/** spin= by default: a client's next request usually comes within this (docs/FUSE.md, measured). */
export const SPIN_US_DEFAULT = 200;
/** spin= at most */
const SPIN_US_MAX = 100_000;

/** Seconds the kernel caches attributes and names by default (docs/FUSE.md says why). */
export const ATTR_TIMEOUT_DEFAULT = 60;

/** Flags libfuse turns into mount(2) flags (atime and noatime are also cowlog's own, below). */
const KERNEL_FLAGS = new Set(['suid', 'nosuid', 'dev', 'nodev', 'exec', 'noexec', 'async', 'sync', 'dirsync']);
/**
 * atime options: FUSE leaves atime to the filesystem, so cowlog applies them itself; the two
 * libfuse knows also go to the kernel (so /proc/mounts shows them).
 */
const ATIME_OPTIONS: Record<string, (c: MountConfig) => void> = {
  relatime: (c) => { c.atime = 'relatime'; },
  strictatime: (c) => { c.atime = 'strictatime'; },
  norelatime: (c) => { c.atime = 'strictatime'; },
  nostrictatime: (c) => { c.atime = 'relatime'; },
  noatime: (c) => { c.atime = 'noatime'; },
  atime: (c) => { if (c.atime === 'noatime') c.atime = 'relatime'; },
  nodiratime: (c) => { c.nodiratime = true; },
  diratime: (c) => { c.nodiratime = false; },
};
/** Options of mount(8), fstab and mount.fuse that mean nothing here. */
const IGNORED = new Set([
  'defaults', 'auto', 'noauto', 'user', 'nouser', 'users', 'owner', 'group', '_netdev', 'nofail',
  'lazytime', 'nolazytime', 'default_permissions', 'loud', 'silent', 'iversion', 'noiversion', 'nomand', 'mand',
]);
/** ...and those with a value: user_id=/group_id= are what /proc/mounts shows of a FUSE mount, and come back on a remount */
const IGNORED_PREFIX = ['x-', 'comment=', 'fsname=', 'subtype=', 'uhelper=', 'helper=', 'user_id=', 'group_id=', 'rootmode=', 'max_read=', 'blksize='];

export class MountOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MountOptionError';
  }
}

export const MOUNT_OPTIONS_HELP = `mount options (-o, comma-separated):
  ro                   read-only (the device is opened read-only, nothing is written)
  norecovery, noload   with ro: the last checkpoint as it is, without rolling forward what
                       was fsync'd after it (as ext4's noload; to look before recovering)
  wear=FILE            record per-block wear in FILE (as --wear FILE)
  log=FILE             the server's log (default: /var/log/cowlog/DEVICE.log for a block
                       device, IMAGE.log beside an image file)
  allow_other          let other users in (default when root mounts)
  noallow_other        only the mounting user (and root) may enter
  attr_timeout=S       seconds the kernel caches attributes (default 60: changes made
                       through the mount update the cache, rollback invalidates it)
  entry_timeout=S      seconds the kernel caches name lookups (default 60)
  negative_timeout=S   seconds the kernel remembers that a name does not exist (default 60)
  acl, noacl           POSIX ACLs (system.posix_acl_access/_default) kept, inherited by new
                       files and enforced by the kernel (default acl, as ext4)
  selinux_xattr, noselinux_xattr
                       keep security.selinux as any other attribute, or not (the default): the
                       name is then refused (EOPNOTSUPP, as by a filesystem without labels):
                       SELinux labels a FUSE mount by its mount context, not by this
                       attribute, and ls -l stops asking for it, one request a file fewer
  btime, nobtime       answer statx's birth time (stat's Birth:, %W), or not (the default):
                       the kernel then asks once per inode, a round trip more for every file
                       a program that asks for it (stat(1), Node, Rust) looks at first
  snapshot=NAME        serve snapshot NAME (read-only) or clone NAME (read-write) instead of
                       the default tree (as --snapshot NAME); counts no trial mount
  relatime             a read moves atime when it is older than mtime or ctime, or a day
                       old (the default, as on ext4)
  strictatime          every read moves atime (also norelatime)
  noatime              reads never move atime
  nodiratime           listing a directory never moves its atime
  remount              change a running mount: with ro, everything is flushed and made
                       durable by a checkpoint, then changes fail with EROFS; with rw,
                       writable again (a mount made with -o ro reopens its device); atime
                       options, commit=, compress= and force take effect too; the other
                       options are the mount's for its life, and a remount giving one
                       another value is refused. Also through mount(8): mount -o remount,ro MNT
  compress=lz4|none    whether data written to files without their own
                       user.cowlog.compress attribute is compressed (lz4 clusters of
                       32 KiB, kept only when they save space); default: what
                       'cowlog mkfs --compress' recorded. Data already written stays as it is
  cache=SIZE           memory for the metadata caches: table pages, B+tree nodes and
                       inodes (K, M, G suffixes; default 64M, at least 4M, whatever the
                       device's size; 'cowlog info --stats' shows what is used)
  mem=SIZE             memory the server may hold above its idle size: near it the
                       metadata caches take less of cache= (down to a quarter) so that
                       the server stays within it (default: cache=, dirty pages 64M, the
                       write ring 32M, held_max's record, V8's room; 239M in all by
                       default; 0: no bound)
  held_max=N           inodes the kernel may hold of this mount (looked up or listed by
                       ls -l) before cowlog asks it to drop the names held longest; the
                       kernel then forgets those not in use (default 131072: at most
                       18 MiB of the server's memory)
  writeback_cache      the kernel keeps what is written in its page cache and sends it to
                       cowlog later, gathered into requests of up to 1 MiB (512-byte
                       writes 4-6x as fast, 4 KiB writes 1.4-2x); an error such as
                       ENOSPC is then reported by fsync or close rather than by
                       write. fsync is as durable as without. Default off; set at
                       mount (a remount can not change it)
  spin=US              microseconds the server keeps reading requests after the last one
                       before it sleeps (default 200; 0: sleep at once): a client that
                       sends one request after another (creates, unlinks) is then not
                       waited for by a server that fell asleep, at the price of a CPU
                       kept busy that long after each request
  force                mount read-write even though errors were found in the filesystem
                       (without it such a filesystem is mounted read-only, with a warning)
  commit=S             seconds between timer checkpoints when something changed
                       (default 30; fsync is durable at once whatever this is)
  nosuid,nodev,noexec,sync,dirsync,...  kernel mount flags (FUSE mounts are
                       nosuid,nodev unless suid,dev are given)
  defaults,noauto,_netdev,nofail,x-*,...        fstab options, accepted and ignored`;

/** A size with an optional K, M or G suffix (powers of 1024), at least 4 MiB. */
function size_of(name: string, v: string): number {
  const m = /^(\d+)([KMG]?)i?B?$/i.exec(v);
  const n = m ? Number(m[1]) * 1024 ** ' KMG'.indexOf((m[2] || ' ').toUpperCase()) : NaN;
  if (!Number.isSafeInteger(n) || n < 4 << 20) throw new MountOptionError(`${name}=${v}: a size of at least 4M (K, M, G suffixes)`);
  return n;
}

function seconds(name: string, v: string): number {
  const n = Number(v);
  if (v === '' || !Number.isFinite(n) || n < 0 || n > 86400) throw new MountOptionError(`${name}=${v}: seconds from 0 to 86400`);
  return n;
}

/** Parses the -o lists given (each comma-separated) into a MountConfig. */
export function mount_options_parse(lists: readonly string[], isRoot: boolean): MountConfig {
  const c: MountConfig = {
    readOnly: false, wear: null, log: null, allowOther: isRoot, attrTimeout: ATTR_TIMEOUT_DEFAULT, entryTimeout: ATTR_TIMEOUT_DEFAULT,
    negativeTimeout: ATTR_TIMEOUT_DEFAULT, commit: null, kernel: [], snapshot: null,
    atime: 'relatime', nodiratime: false, remount: false, acl: true, selinuxXattr: false, btime: false, compress: null, cache: null, mem: null, heldMax: HELD_MAX_DEFAULT, force: false, noRecovery: false, spinUs: SPIN_US_DEFAULT, writebackCache: false,
  };
  for (const list of lists) {
    for (const raw of list.split(',')) {
      const o = raw.trim();
      if (o === '') continue;
      const eq = o.indexOf('=');
      const name = eq < 0 ? o : o.slice(0, eq);
      const value = eq < 0 ? undefined : o.slice(eq + 1);
      const need = (): string => {
        if (value === undefined || value === '') throw new MountOptionError(`${name} needs a value (${name}=...)`);
        return value;
      };
      if (name === 'ro') c.readOnly = true;
      else if (name === 'rw') c.readOnly = false;
      else if (name === 'wear') c.wear = need();
      else if (name === 'log') c.log = need();
      else if (name === 'allow_other') c.allowOther = true;
      else if (name === 'noallow_other') c.allowOther = false;
      else if (name === 'attr_timeout') c.attrTimeout = seconds(name, need());
      else if (name === 'entry_timeout') c.entryTimeout = seconds(name, need());
      else if (name === 'negative_timeout') c.negativeTimeout = seconds(name, need());
      else if (name === 'commit') c.commit = Math.max(1, seconds(name, need()));
      else if (name === 'snapshot') c.snapshot = need();
      else if (name === 'compress') {
        const v = need();
        if (v !== 'lz4' && v !== 'none') throw new MountOptionError(`compress=${v}: lz4 or none`);
        c.compress = v;
      }
      else if (name === 'cache') c.cache = size_of(name, need());
      else if (name === 'mem') {
        const v = need();
        c.mem = v === '0' ? 0 : size_of(name, v);
      }
      else if (name === 'spin') {
        const n = Number(need());
        if (!Number.isSafeInteger(n) || n < 0 || n > SPIN_US_MAX) throw new MountOptionError(`spin=${value}: microseconds, 0 to ${SPIN_US_MAX}`);
        c.spinUs = n;
      } else if (name === 'held_max') {
        const n = Number(need());
        if (!Number.isSafeInteger(n) || n < 64) throw new MountOptionError(`held_max=${value}: a number of inodes, at least 64`);
        c.heldMax = n;
      }
      else if (name === 'force' && value === undefined) c.force = true;
      else if ((name === 'norecovery' || name === 'noload') && value === undefined) c.noRecovery = true;
      else if (name === 'remount' && value === undefined) c.remount = true;
      else if (name === 'acl' && value === undefined) c.acl = true;
      else if (name === 'noacl' && value === undefined) c.acl = false;
      else if (name === 'writeback_cache' && value === undefined) c.writebackCache = true;
      else if (name === 'nowriteback_cache' && value === undefined) c.writebackCache = false;
      else if (name === 'selinux_xattr' && value === undefined) c.selinuxXattr = true;
      else if (name === 'noselinux_xattr' && value === undefined) c.selinuxXattr = false;
      else if (name === 'btime' && value === undefined) c.btime = true;
      else if (name === 'nobtime' && value === undefined) c.btime = false;
      else if (value === undefined && ATIME_OPTIONS[name] !== undefined) ATIME_OPTIONS[name]!(c);
      else if (value === undefined && KERNEL_FLAGS.has(name)) { if (!c.kernel.includes(name)) c.kernel.push(name); }
      else if (value === undefined && IGNORED.has(name)) continue;
      else if (IGNORED_PREFIX.some((p) => o.startsWith(p))) continue;
      else throw new MountOptionError(`unknown mount option '${o}'`);
    }
  }
  if (c.noRecovery && !c.readOnly && !c.remount) throw new MountOptionError(`${'norecovery'} needs ro: a filesystem written to must roll its log forward first`);
  // libfuse passes noatime on to the kernel: /proc/mounts then says so
  c.kernel = c.kernel.filter((k) => k !== 'noatime');
  if (c.atime === 'noatime') c.kernel.push('noatime');
  return c;
}

/** The last `ro` or `rw` among the -o lists (true: ro), or null when neither is given. */
export function mount_options_ro(lists: readonly string[]): boolean | null {
  let ro: boolean | null = null;
  for (const list of lists) for (const o of list.split(',')) {
    if (o.trim() === 'ro') ro = true;
    else if (o.trim() === 'rw') ro = false;
  }
  return ro;
}

/**
 * Options a remount can not change, and the setting each sets: they are the mount's for its
 * life (negotiated with the kernel when it mounted, or sizing what the server set up then).
 * A remount may name them (mount(8) passes back what /proc/mounts shows, allow_other among
 * them), but only with the value the mount has.
 */
export const REMOUNT_FIXED: Readonly<Record<string, keyof MountConfig>> = {
  writeback_cache: 'writebackCache', nowriteback_cache: 'writebackCache', acl: 'acl', noacl: 'acl',
  selinux_xattr: 'selinuxXattr', noselinux_xattr: 'selinuxXattr', btime: 'btime', nobtime: 'btime', allow_other: 'allowOther', noallow_other: 'allowOther',
  attr_timeout: 'attrTimeout', entry_timeout: 'entryTimeout', negative_timeout: 'negativeTimeout',
  cache: 'cache', mem: 'mem', held_max: 'heldMax', spin: 'spinUs', snapshot: 'snapshot', wear: 'wear', log: 'log',
};

/** What a remount asks of the running server: the changes it makes, and the fixed options given (to be checked). */
export interface RemountAsk {
  /** ro or rw, when given */
  readOnly: boolean | null;
  atime?: AtimeMode;
  nodiratime?: boolean;
  commit?: number;
  compress?: 'lz4' | 'none';
  force?: true;
  /** each REMOUNT_FIXED option given, with the setting it asks for */
  fixed: Record<string, unknown>;
}

/**
 * The remount the -o lists ask for: ro/rw, atime options, commit=, compress= and force take
 * effect on the running mount; the options of REMOUNT_FIXED are passed on to be compared with
 * the mount's own.
 */
export function mount_options_remount(lists: readonly string[], isRoot: boolean): RemountAsk {
  const c = mount_options_parse(lists, isRoot);
  const names = lists.flatMap((l) => l.split(',')).map((o) => o.trim().split('=')[0]!).filter((n) => n !== '');
  const ask: RemountAsk = { readOnly: mount_options_ro(lists), fixed: {} };
  if (mount_options_atime_given(lists)) { ask.atime = c.atime; ask.nodiratime = c.nodiratime; }
  if (names.includes('commit')) ask.commit = c.commit!;
  if (names.includes('compress')) ask.compress = c.compress!;
  if (c.force) ask.force = true;
  for (const n of names) {
    const field = REMOUNT_FIXED[n];
    if (field !== undefined) ask.fixed[n] = path_setting(field, c[field]);
  }
  return ask;
}

/** A setting as compared by a remount: the files (log=, wear=) as absolute paths, as the server keeps them. */
function path_setting(field: keyof MountConfig, v: unknown): unknown {
  return (field === 'log' || field === 'wear') && typeof v === 'string' ? path.resolve(v) : v;
}

/**
 * The options among `fixed` (RemountAsk.fixed) whose setting differs from the mount's `c`:
 * what a remount must refuse.
 */
export function remount_fixed_changed(c: MountConfig, fixed: Readonly<Record<string, unknown>>): string[] {
  return Object.entries(fixed).filter(([n, v]) => {
    const field = REMOUNT_FIXED[n];
    return field === undefined || path_setting(field, c[field]) !== v;
  }).map(([n]) => n);
}

/** Whether any atime option is among the -o lists. */
export function mount_options_atime_given(lists: readonly string[]): boolean {
  return lists.some((l) => l.split(',').some((o) => ATIME_OPTIONS[o.trim()] !== undefined));
}
