// `-o` mount options of `cowlog mount`, as a user, mount(8) or an fstab line gives them.
//
// Invariants:
// - Every option is either cowlog's own (ro, wear=, log=, attr_timeout=...), a kernel mount flag
//   libfuse 2 passes on (nosuid, noexec...), or one mount(8)/fstab use for themselves and that
//   has no meaning for the filesystem (defaults, noauto, _netdev, x-*...); anything else is a
//   usage error naming the option, never passed on blindly (libfuse would fail the mount with
//   a message about its own argv).
// - default_permissions is always on: the kernel checks mode bits, as for ext4.

export interface MountConfig {
  readOnly: boolean;
  /** the wear file to write when the server exits after an unmount */
  wear: string | null;
  /** the log file (null: the default for the device) */
  log: string | null;
  /** other users may use the mount (default: when root mounts) */
  allowOther: boolean;
  /**
   * Seconds the kernel may cache attributes. 0 by default: libfuse 2 gives each name of a hard
   * link its own kernel inode, so a cached link count or size seen through one name goes stale
   * when the file changes through another (`ln a b; stat a` would show nlink 1).
   */
  attrTimeout: number;
  /** seconds the kernel may cache name lookups */
  entryTimeout: number;
  /** seconds between timer checkpoints when something changed (null: the engine's 30 s), as ext4's commit= */
  commit: number | null;
  /** mount flags handed to the kernel through libfuse */
  kernel: string[];
  /** serve this snapshot (read-only) or clone instead of the default tree (counts no trial mount) */
  snapshot: string | null;
}

/** Flags libfuse 2.9 turns into mount(2) flags. */
const KERNEL_FLAGS = new Set(['suid', 'nosuid', 'dev', 'nodev', 'exec', 'noexec', 'async', 'sync', 'dirsync', 'atime', 'noatime']);
/** Options of mount(8), fstab and mount.fuse that mean nothing here (cowlog keeps relatime itself). */
const IGNORED = new Set([
  'defaults', 'auto', 'noauto', 'user', 'nouser', 'users', 'owner', 'group', '_netdev', 'nofail',
  'relatime', 'norelatime', 'strictatime', 'nostrictatime', 'lazytime', 'nolazytime', 'diratime', 'nodiratime',
  'default_permissions', 'rw', 'loud', 'silent', 'iversion', 'noiversion', 'nomand', 'mand',
]);
const IGNORED_PREFIX = ['x-', 'comment=', 'fsname=', 'subtype=', 'uhelper=', 'helper='];

export class MountOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MountOptionError';
  }
}

export const MOUNT_OPTIONS_HELP = `mount options (-o, comma-separated):
  ro                   read-only (the device is opened read-only, nothing is written)
  wear=FILE            record per-block wear in FILE (as --wear FILE)
  log=FILE             the server's log (default: /var/log/cowlog/DEVICE.log for a block
                       device, IMAGE.log beside an image file)
  allow_other          let other users in (default when root mounts)
  noallow_other        only the mounting user (and root) may enter
  attr_timeout=S       seconds the kernel caches attributes (default 0: hard links
                       show their true link count and size at once)
  entry_timeout=S      seconds the kernel caches name lookups (default 1)
  snapshot=NAME        serve snapshot NAME (read-only) or clone NAME (read-write) instead of
                       the default tree (as --snapshot NAME); counts no trial mount
  commit=S             seconds between timer checkpoints when something changed
                       (default 30; fsync is durable at once whatever this is)
  nosuid,nodev,noexec,sync,dirsync,noatime,...  kernel mount flags (FUSE mounts are
                       nosuid,nodev unless suid,dev are given)
  defaults,noauto,_netdev,nofail,x-*,...        fstab options, accepted and ignored`;

function seconds(name: string, v: string): number {
  const n = Number(v);
  if (v === '' || !Number.isFinite(n) || n < 0 || n > 86400) throw new MountOptionError(`${name}=${v}: seconds from 0 to 86400`);
  return n;
}

/** Parses the -o lists given (each comma-separated) into a MountConfig. */
export function mount_options_parse(lists: readonly string[], isRoot: boolean): MountConfig {
  const c: MountConfig = {
    readOnly: false, wear: null, log: null, allowOther: isRoot, attrTimeout: 0, entryTimeout: 1, commit: null, kernel: [], snapshot: null,
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
      else if (name === 'commit') c.commit = Math.max(1, seconds(name, need()));
      else if (name === 'snapshot') c.snapshot = need();
      else if (value === undefined && KERNEL_FLAGS.has(name)) { if (!c.kernel.includes(name)) c.kernel.push(name); }
      else if (value === undefined && IGNORED.has(name)) continue;
      else if (IGNORED_PREFIX.some((p) => o.startsWith(p))) continue;
      else throw new MountOptionError(`unknown mount option '${o}'`);
    }
  }
  return c;
}
