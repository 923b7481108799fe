// The file layer's public types: attributes as stat(2) shows them, and the mode bits.

import type { Timespec } from '../checkpoint/clock.js';

export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

export const NLINK_MAX = 65000;
export const SYMLINK_MAX = 4095;
/** file block offsets are 32-bit in the segment summary: 16 TiB files */
export const FILE_SIZE_MAX = 2 ** 32 * 4096 - 1;

export function is_dir(mode: number): boolean {
  return (mode & S_IFMT) === S_IFDIR;
}
export function is_reg(mode: number): boolean {
  return (mode & S_IFMT) === S_IFREG;
}

const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const S_IXGRP = 0o0010;

/**
 * `mode` less what Linux clears when a file is written, truncated or given away (with
 * `suidgid`: the caller lacks CAP_FSETID): set-user-ID, and set-group-ID when group execute is
 * set or the caller is outside the file's group (`outside`; without group execute the bit marks
 * mandatory locking, and a member of the group keeps it) — Linux's setattr_should_drop_sgid.
 */
export function mode_killed(mode: number, suidgid: boolean, outside = false): number {
  if (!suidgid) return mode;
  const gid = (mode & S_ISGID) !== 0 && ((mode & S_IXGRP) !== 0 || outside) ? S_ISGID : 0;
  return mode & ~(S_ISUID | gid);
}
export function is_lnk(mode: number): boolean {
  return (mode & S_IFMT) === S_IFLNK;
}

/** The DT_* type readdir reports for a mode. */
export function dt_of(mode: number): number {
  return (mode & S_IFMT) >>> 12;
}

export interface Attr {
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  /** 512-byte units, as st_blocks */
  blocks: number;
  blksize: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  btime: Timespec;
  generation: number;
}

export interface SetAttr {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  /** a time, or 'now' */
  atime?: Timespec | 'now';
  mtime?: Timespec | 'now';
  /**
   * The change time to record instead of now: the kernel's own, sent with the mtime of
   * buffered writes when it keeps a writeback cache (the time they were made, not sent).
   */
  ctime?: Timespec;
  /**
   * The file also loses what Linux takes on a truncate or chown (privs_kill): security.capability,
   * and when true, set-user-ID and set-group-ID if group-executable. Only given by a mount
   * that handles privileges itself (FUSE_HANDLE_KILLPRIV_V2).
   */
  kill?: boolean;
}

export interface DirEntry {
  name: Buffer;
  ino: number;
  /** DT_* type */
  type: number;
}

export interface StatFs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  namemax: number;
}

export interface RenameFlags {
  noreplace?: boolean;
  exchange?: boolean;
  /** RENAME_WHITEOUT: the old name is left naming a whiteout (a character device 0:0, mode 0)
   *  owned by this caller, made in the same change as the rename (what overlayfs asks for) */
  whiteout?: { uid: number; gid: number } | undefined;
}

export type Name = string | Buffer;
