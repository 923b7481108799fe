// Attribute flags: what chattr(1) sets and lsattr(1) shows (Linux's FS_IOC_GETFLAGS and
// FS_IOC_SETFLAGS, and FS_IOC_FSGETXATTR/FSSETXATTR as xfs_io asks), kept in the inode's flags
// (format/records.ts, superblock feature ATTRS), and the rules they impose, as Linux imposes them:
//
// - i, immutable: the file's data, size, mode, owner, times and extended attributes do not
//   change; it gets no new name and loses none; a directory gains and loses no names.
// - a, append-only: a file is opened for writing only with O_APPEND and never truncated; a
//   directory gains names but loses none; neither loses its names, gets a hard link, or has its
//   mode, owner, explicit times or extended attributes changed.
// - A, no atime: reads and listings leave the access time.
// - S, sync: each write or change of the file is durable when its call returns. D, dirsync: the
//   same for the names in a directory.
// - d, no dump: kept for dump(8); cowlog does nothing with it.
// - c and m: compress and do not compress, the same as `user.cowlog.compress` = lz4 and none.
//
// On a mount with the kernel's writeback cache the kernel sends a time set to now as a time, so
// `touch` of an append-only file is refused there as a time set explicitly is; and an mtime
// with the kernel's ctime alone passes, as the kernel sends it after buffered writes.
//
// The kernel asks for CAP_LINUX_IMMUTABLE before i or a change and for ownership before any
// change; cowlog checks the rest (FUSE gives the kernel none of these flags, so it can not).
// Flags pass from a directory to what is made in it as ext4 passes them: d, A, S, c, m, and D to
// directories.

import {
  INODE_FLAG_APPEND, INODE_FLAG_COMPRESS, INODE_FLAG_DIRSYNC, INODE_FLAG_IMMUTABLE, INODE_FLAG_NOATIME, INODE_FLAG_NOCOMPRESS,
  INODE_FLAG_NODUMP, INODE_FLAG_SYNC,
} from '../format/records.js';
import type { Inode } from '../format/records.js';
import { FsError } from '../util/errors.js';
import { is_dir } from './types.js';

/** Linux's FS_*_FL values (linux/fs.h) that cowlog keeps, and the inode flag of each. */
const FL: ReadonlyArray<readonly [fl: number, inode: number, letter: string]> = [
  [0x00000004, INODE_FLAG_COMPRESS, 'c'], // FS_COMPR_FL
  [0x00000008, INODE_FLAG_SYNC, 'S'], // FS_SYNC_FL
  [0x00000010, INODE_FLAG_IMMUTABLE, 'i'], // FS_IMMUTABLE_FL
  [0x00000020, INODE_FLAG_APPEND, 'a'], // FS_APPEND_FL
  [0x00000040, INODE_FLAG_NODUMP, 'd'], // FS_NODUMP_FL
  [0x00000080, INODE_FLAG_NOATIME, 'A'], // FS_NOATIME_FL
  [0x00000400, INODE_FLAG_NOCOMPRESS, 'm'], // FS_NOCOMP_FL
  [0x00010000, INODE_FLAG_DIRSYNC, 'D'], // FS_DIRSYNC_FL
];

/** Linux's FS_XFLAG_* values (the fsxattr of FS_IOC_FSGETXATTR) that have an FS_*_FL here. */
const XFLAG: ReadonlyArray<readonly [xflag: number, inode: number]> = [
  [0x00000008, INODE_FLAG_IMMUTABLE],
  [0x00000010, INODE_FLAG_APPEND],
  [0x00000020, INODE_FLAG_SYNC],
  [0x00000040, INODE_FLAG_NOATIME],
  [0x00000080, INODE_FLAG_NODUMP],
];

/** the inode flags chattr sets (INODE_FLAGS_ATTRS and the two compression flags) */
const SETTABLE = FL.reduce((a, [, f]) => a | f, 0);
const XSETTABLE = XFLAG.reduce((a, [, f]) => a | f, 0);
/** what a new inode takes from its directory (ext4's inherited flags that cowlog keeps) */
const INHERITED = INODE_FLAG_NODUMP | INODE_FLAG_NOATIME | INODE_FLAG_SYNC | INODE_FLAG_COMPRESS | INODE_FLAG_NOCOMPRESS;

/** The inode flags Linux's bits `bits` say by `table`, and the bits the table does not know. */
function flags_from(table: ReadonlyArray<readonly [number, number, ...unknown[]]>, bits: number): { want: number; unknown: number } {
  let want = 0;
  let known = 0;
  for (const [bit, f] of table) {
    known |= bit;
    if (bits & bit) want |= f;
  }
  return { want, unknown: (bits >>> 0) & ~known };
}

/** FS_IOC_GETFLAGS: the inode's flags as FS_*_FL bits. */
export function attr_flags_get(rec: Inode): number {
  let fl = 0;
  for (const [bit, f] of FL) if (rec.flags & f) fl |= bit;
  return fl;
}

/**
 * FS_IOC_SETFLAGS: the inode's flags become `fl` (FS_*_FL bits); the caller stores the inode.
 * A bit cowlog does not keep is EOPNOTSUPP, as ext4 answers for one it does not know; both
 * compression flags at once EINVAL; D on a file is dropped, as ext4 drops it.
 */
export function attr_flags_set(rec: Inode, fl: number): void {
  const r = flags_from(FL, fl);
  let want = r.want;
  const unknown = r.unknown;
  if (unknown !== 0) throw new FsError('ENOTSUP', `attribute flags 0x${unknown.toString(16)}: cowlog keeps ${FL.map(([, , l]) => l).join('')} only`);
  if ((want & INODE_FLAG_COMPRESS) && (want & INODE_FLAG_NOCOMPRESS)) throw new FsError('EINVAL', 'attribute flags c and m together');
  if (!is_dir(rec.mode)) want &= ~INODE_FLAG_DIRSYNC;
  rec.flags = (rec.flags & ~SETTABLE) | want;
}

/** FS_IOC_FSGETXATTR's fsx_xflags. */
export function attr_xflags_get(rec: Inode): number {
  let x = 0;
  for (const [bit, f] of XFLAG) if (rec.flags & f) x |= bit;
  return x;
}

/**
 * FS_IOC_FSSETXATTR: the flags fsx_xflags can say become `x`; the others (c, m, D) stay. An
 * xflag without an FS_*_FL here (real-time, extent size hints, DAX, project inheritance...)
 * EOPNOTSUPP, as are a nonzero extent size, project id or CoW extent size.
 */
export function attr_xflags_set(rec: Inode, x: number, extsize: number, projid: number, cowextsize: number): void {
  const { want, unknown } = flags_from(XFLAG, x);
  if (unknown !== 0) throw new FsError('ENOTSUP', `fsxattr flags 0x${unknown.toString(16)}: cowlog keeps immutable, append, sync, noatime and nodump only`);
  if (extsize !== 0 || projid !== 0 || cowextsize !== 0) throw new FsError('ENOTSUP', 'fsxattr: cowlog has no extent size hints and no project ids');
  rec.flags = (rec.flags & ~XSETTABLE) | want;
}

/** The flags a new inode takes from directory `dir`. */
export function attr_inherit(dir: Inode, newIsDir: boolean): number {
  return dir.flags & (INHERITED | (newIsDir ? INODE_FLAG_DIRSYNC : 0));
}

/** chattr +i */
export function immutable(rec: Inode): boolean {
  return (rec.flags & INODE_FLAG_IMMUTABLE) !== 0;
}

/** chattr +i or +a: the inode keeps its names, mode, owner and extended attributes */
export function fixed(rec: Inode): boolean {
  return (rec.flags & (INODE_FLAG_IMMUTABLE | INODE_FLAG_APPEND)) !== 0;
}

/** EPERM when `rec` is immutable: `what` is refused. */
export function refuse_immutable(rec: Inode, ino: number, what: string): void {
  if (immutable(rec)) throw new FsError('EPERM', `${what}: inode ${ino} is immutable (chattr +i)`);
}

/** EPERM when `rec` is immutable or append-only: `what` is refused. */
export function refuse_fixed(rec: Inode, ino: number, what: string): void {
  if (fixed(rec)) throw new FsError('EPERM', `${what}: inode ${ino} is ${immutable(rec) ? 'immutable (chattr +i)' : 'append-only (chattr +a)'}`);
}

/**
 * An open's refusal, as Linux's may_open: writing an immutable file; writing an append-only
 * one without O_APPEND, or truncating it.
 */
export function refuse_open(rec: Inode, ino: number, write: boolean, append: boolean, trunc: boolean): void {
  if (write || trunc) refuse_immutable(rec, ino, 'open for writing');
  if ((rec.flags & INODE_FLAG_APPEND) && ((write && !append) || trunc)) {
    throw new FsError('EPERM', `open ${trunc ? 'with O_TRUNC' : 'for writing without O_APPEND'}: inode ${ino} is append-only (chattr +a)`);
  }
}

/** Whether reads and listings leave the access time (chattr +A). */
export function noatime(rec: Inode): boolean {
  return (rec.flags & INODE_FLAG_NOATIME) !== 0;
}

/** Whether a change of the file (S) or of the names in the directory (D) is made durable at once. */
export function sync_wanted(rec: Inode, names: boolean): boolean {
  return (rec.flags & (names ? INODE_FLAG_DIRSYNC | INODE_FLAG_SYNC : INODE_FLAG_SYNC)) !== 0;
}
