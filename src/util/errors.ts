// Two kinds of failure, kept apart on purpose:
// - FsError: something a user can act on (ENOENT, ENOSPC, a corrupt block named by address).
//   It carries an errno name and is turned into a negative errno by the FUSE layer and into a
//   one-line message by the CLI.
// - AssertionError (from assert()): a broken invariant in memory. Never caught to be hidden,
//   never stripped; its message carries the numbers that prove the breakage.

import { constants } from 'node:os';

export type Errno =
  | 'EPERM' | 'ENOENT' | 'EIO' | 'EBADF' | 'EACCES' | 'EEXIST' | 'EXDEV' | 'ENOTDIR' | 'EISDIR'
  | 'EINVAL' | 'EFBIG' | 'ENOSPC' | 'EROFS' | 'EMLINK' | 'ERANGE' | 'ENAMETOOLONG' | 'ENOTEMPTY'
  | 'ELOOP' | 'ENODATA' | 'EBUSY' | 'ENOTSUP' | 'EUCLEAN' | 'E2BIG' | 'EOVERFLOW' | 'ENXIO' | 'ENODEV' | 'ENOTTY'
  | 'ESTALE' | 'ESHUTDOWN';

export class FsError extends Error {
  readonly code: Errno;
  constructor(code: Errno, message: string) {
    super(`${code}: ${message}`);
    this.name = 'FsError';
    this.code = code;
  }
  /** The positive errno number for this error on this platform. */
  get errno(): number {
    const n = (constants.errno as Record<string, number | undefined>)[this.code];
    return n ?? 5; /* EIO */
  }
}

/** A metadata block that failed validation on read: names the block and the record kind. */
export class CorruptError extends FsError {
  readonly addr: number;
  readonly kind: string;
  constructor(kind: string, addr: number, why: string) {
    super('EUCLEAN', `corrupt ${kind} block at address ${addr}: ${why}`);
    this.name = 'CorruptError';
    this.addr = addr;
    this.kind = kind;
  }
}

export function fs_error(code: Errno, message: string): FsError {
  return new FsError(code, message);
}
