// Words in a caller's memory: the data of an ioctl that FUSE does not carry. FS_IOC_SHUTDOWN is
// declared _IOR, so the kernel sends a FUSE filesystem none of its input, yet its flags (sync
// first, flush the log first, or neither) sit in the caller's memory at the address it passed,
// and the caller waits in the ioctl until it is answered: they are read from /proc/PID/mem.
//
// Invariants:
// - Only /proc is read. What can not be read (the process gone, or not allowed: reading another
//   process's memory needs ptrace's access, which root has unless the machine's Yama forbids
//   it) is null, and the caller decides what that means.

import fs from 'node:fs';
import os from 'node:os';

/** The u32 at `addr` in process `pid`'s memory (the machine's byte order), or null. */
export function caller_u32(pid: number, addr: number): number | null {
  if (pid <= 0 || !Number.isSafeInteger(addr) || addr <= 0) return null;
  let fd = -1;
  try {
    fd = fs.openSync(`/proc/${pid}/mem`, 'r');
    const b = Buffer.alloc(4);
    if (fs.readSync(fd, b, 0, 4, addr) !== 4) return null;
    return os.endianness() === 'LE' ? b.readUInt32LE(0) : b.readUInt32BE(0);
  } catch {
    return null;
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}
