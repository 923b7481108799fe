// FileDevice: a BlockDevice over a regular image file or a block device (/dev/loopN, /dev/sdX).
//
// Invariants:
// - blockCount is the number of WHOLE 4 KiB blocks in the file or device; a tail shorter than a
//   block is never read or written.
// - Every read and write moves all of its bytes or throws: the OS may move fewer bytes than asked
//   (signals, large requests), so both loop until done.
// - Errors from the OS during I/O become FsError('EIO') naming the device and the block where the
//   transfer stopped; a use after close() is a bug in the caller and fails an assertion.
// - A device opened read-only refuses write and discard with FsError('EROFS') before touching the
//   OS; a block device the kernel marks read-only is refused at a read-write open.
// - discard() validates its range and does nothing, unless a native discarder was given
//   (discarder_set: the FUSE binding's, which the mount server loads anyway; Node exposes neither
//   fallocate PUNCH_HOLE nor the BLKDISCARD ioctl): then it punches a hole (size kept) in an
//   image file or sends BLKDISCARD to a block device, after the write-behind thread has written
//   everything queued. Nothing above may rely on discarded blocks reading as zeros. A medium
//   that refuses (EOPNOTSUPP) is remembered: `discards` turns false.

import fs from 'node:fs';
import { BLOCK_SIZE, request_check } from './device.js';
import type { AsyncReader, BlockDevice } from './device.js';
import { FsError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import { WriteBehind } from './writebehind.js';

export interface FileDeviceOptions {
  /** open O_RDONLY; write and discard throw FsError('EROFS') */
  readOnly?: boolean;
  /** block devices only: open with O_EXCL, so a device that is mounted (or held exclusively by
   *  another program) is refused with FsError('EBUSY'). Regular files have no such kernel claim;
   *  the option is accepted and has no effect on them. */
  exclusive?: boolean;
  /** writes carried out by a thread of their own (writebehind.ts); the size of its ring in
   *  bytes, or true for the default. Ignored read-only. */
  writeBehind?: boolean | number;
}

export type DeviceKind = 'file' | 'block';

/** A native discard: punches [off, off + len) of an image file, or BLKDISCARDs it on a block device; 0 or -errno. */
export type Discarder = (fd: number, off: number, len: number, block: boolean) => number;

let discarder: Discarder | null = null;

/** Gives FileDevices a way to discard (the mount server's binding); null takes it back. */
export function discarder_set(d: Discarder | null): void {
  discarder = d;
}

const EOPNOTSUPP = 95;

/** A Linux dev_t split into its 32-bit major and minor numbers (glibc's gnu_dev_major/minor:
 *  minor bits 0..7 at 0..7, major bits 0..11 at 8..19, minor bits 8..31 at 20..43, major bits
 *  12..31 at 44..63). */
export function devt_decode(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n);
  return { major: Number(major), minor: Number(minor) };
}

/** The inverse of devt_decode. */
export function devt_encode(major: number, minor: number): bigint {
  const ma = BigInt(major), mi = BigInt(minor);
  return (mi & 0xffn) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | ((ma & 0xfffff000n) << 32n);
}

/** The sysfs directory of a block device: `size` (in 512-byte sectors), `ro`, `dev`. */
export function sysfs_block_dir(rdev: bigint): string {
  const { major, minor } = devt_decode(rdev);
  return `/sys/dev/block/${major}:${minor}`;
}

function os_errno(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Maps the OS errors of stat/open to FsErrors a user can act on; others pass through. */
function open_error(devicePath: string, e: unknown, exclusive: boolean): unknown {
  if (e instanceof FsError) return e; // already explained
  const code = os_errno(e);
  const msg = (e as Error).message;
  switch (code) {
    case 'ENOENT': return new FsError('ENOENT', `${devicePath}: no such image file or device`);
    case 'EACCES': case 'EPERM': return new FsError('EACCES', `${devicePath}: permission denied (${msg})`);
    case 'EROFS': return new FsError('EROFS', `${devicePath}: the device or image is read-only; open it read-only`);
    case 'EBUSY':
      return new FsError('EBUSY', exclusive
        ? `${devicePath}: device is in use (mounted, or held open exclusively by another program); unmount it first`
        : `${devicePath}: device is busy`);
    case 'ENXIO': case 'ENODEV': return new FsError('EIO', `${devicePath}: no medium behind this device (${msg})`);
    default: return e;
  }
}

function kind_of(devicePath: string, st: fs.BigIntStats): DeviceKind {
  if (st.isFile()) return 'file';
  if (st.isBlockDevice()) return 'block';
  throw new FsError('EINVAL', `${devicePath}: not a regular image file or a block device`);
}

/** A non-negative integer attribute of a block device from sysfs. */
function sysfs_number(devicePath: string, rdev: bigint, attr: string): number {
  const sysPath = `${sysfs_block_dir(rdev)}/${attr}`;
  let text: string;
  try {
    text = fs.readFileSync(sysPath, 'utf8').trim();
  } catch (e) {
    throw new FsError('EIO', `${devicePath}: can not read ${sysPath} (${(e as Error).message}); is /sys mounted?`);
  }
  if (!/^\d+$/.test(text)) throw new FsError('EIO', `${devicePath}: ${sysPath} holds '${text}', not a number`);
  return Number(text);
}

function size_of(devicePath: string, st: fs.BigIntStats, kind: DeviceKind): number {
  return kind === 'file' ? Number(st.size) : sysfs_number(devicePath, st.rdev, 'size') * 512;
}

/** stat of an image file or block device, its errors as open's. */
function device_stat(devicePath: string): fs.BigIntStats {
  try {
    return fs.statSync(devicePath, { bigint: true });
  } catch (e) {
    throw open_error(devicePath, e, false);
  }
}

/** The size in bytes of an image file or a block device (not rounded to whole blocks). */
export function device_size_bytes(devicePath: string): number {
  const st = device_stat(devicePath);
  return size_of(devicePath, st, kind_of(devicePath, st));
}

/**
 * Whether an image file or block device can not be written whoever asks: a block device marked
 * read-only (a write-protected card, `blockdev --setro`, `losetup -r`), or an image file on a
 * read-only filesystem. Missing permission is not this (the open says so itself).
 */
export function write_protected(devicePath: string): boolean {
  const st = device_stat(devicePath);
  if (kind_of(devicePath, st) === 'block') return sysfs_number(devicePath, st.rdev, 'ro') !== 0;
  try {
    fs.accessSync(devicePath, fs.constants.W_OK);
    return false;
  } catch (e) {
    return os_errno(e) === 'EROFS';
  }
}

export class FileDevice implements BlockDevice, AsyncReader {
  readonly name: string;
  readonly blockCount: number;
  readonly kind: DeviceKind;
  readonly readOnly: boolean;
  /** the size in bytes the file or device had at open, before rounding down to whole blocks */
  readonly sizeBytes: number;
  /** write requests completed (write and writev) */
  writeCount = 0;
  private fd: number;
  /** read_async calls not yet finished; close() leaves the descriptor open for them */
  private inflight = 0;
  /** the descriptor close() took away while reads were in flight, closed after the last */
  private fdClosing = -1;
  /** the write-behind thread, when the device was opened with writeBehind */
  private wb: WriteBehind | null = null;

  private constructor(name: string, fd: number, kind: DeviceKind, sizeBytes: number, readOnly: boolean) {
    this.name = name;
    this.fd = fd;
    this.kind = kind;
    this.sizeBytes = sizeBytes;
    this.blockCount = Math.floor(sizeBytes / BLOCK_SIZE);
    this.readOnly = readOnly;
  }

  static open(devicePath: string, opts: FileDeviceOptions = {}): FileDevice {
    const readOnly = opts.readOnly ?? false;
    const exclusive = opts.exclusive ?? false;
    let fd = -1;
    try {
      // The type decides whether O_EXCL may be passed (without O_CREAT it is only defined for
      // block devices); fstat after open confirms the same kind of object was opened.
      const pre = fs.statSync(devicePath, { bigint: true });
      const kind = kind_of(devicePath, pre);
      // Linux lets a read-only block device be opened for writing and fails each write with
      // EPERM; refusing at open gives the user the reason once.
      if (kind === 'block' && !readOnly && sysfs_number(devicePath, pre.rdev, 'ro') !== 0) {
        throw new FsError('EROFS', `${devicePath}: the device is read-only; open it read-only`);
      }
      let flags = readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR;
      if (exclusive && kind === 'block') flags |= fs.constants.O_EXCL;
      fd = fs.openSync(devicePath, flags);
      const st = fs.fstatSync(fd, { bigint: true });
      if (kind_of(devicePath, st) !== kind) throw new FsError('EINVAL', `${devicePath}: changed type while being opened`);
      const dev = new FileDevice(devicePath, fd, kind, size_of(devicePath, st, kind), readOnly);
      if (opts.writeBehind && !readOnly) dev.wb = new WriteBehind(fd, devicePath, opts.writeBehind === true ? undefined : opts.writeBehind);
      return dev;
    } catch (e) {
      if (fd >= 0) fs.closeSync(fd);
      throw open_error(devicePath, e, exclusive);
    }
  }

  /** Whether writes go through a write-behind thread. */
  get writeBehind(): boolean {
    return this.wb !== null;
  }

  private wbTimeouts = 0;
  /** Waits for the write-behind thread that ended by their time limit (WriteBehind.timeouts). */
  get writeBehindTimeouts(): number {
    return this.wbTimeouts + (this.wb?.timeouts ?? 0);
  }

  /** Waits for queued writes to blocks [addr, addr + count) before they are read. */
  private read_barrier(addr: number, count: number): void {
    this.wb?.wait_blocks(addr, count);
  }

  read(addr: number, count = 1): Buffer {
    this.open_check();
    request_check(this, addr, count);
    this.read_barrier(addr, count);
    // every byte is read below or zeroed at a short read: no need to zero it first
    const buf = Buffer.allocUnsafe(count * BLOCK_SIZE);
    let done = 0;
    while (done < buf.length) {
      let n: number;
      try {
        n = fs.readSync(this.fd, buf, done, buf.length - done, addr * BLOCK_SIZE + done);
      } catch (e) {
        throw this.io_error('read', addr + Math.floor(done / BLOCK_SIZE), e);
      }
      // End of file: the file shrank under us; the rest reads as zeros.
      if (n === 0) { buf.fill(0, done); break; }
      done += n;
    }
    return buf;
  }

  write(addr: number, data: Uint8Array): void {
    this.open_check();
    // a length that is not a whole, non-zero number of blocks gives a fractional or zero count,
    // which request_check refuses
    request_check(this, addr, data.length / BLOCK_SIZE);
    if (this.readOnly) throw new FsError('EROFS', `${this.name}: opened read-only; write of block ${addr} refused`);
    if (this.wb !== null && !this.wb.inline_ok(data.length)) {
      this.wb.write(addr, [data]);
      this.writeCount++;
      return;
    }
    let done = 0;
    while (done < data.length) {
      try {
        done += fs.writeSync(this.fd, data, done, data.length - done, addr * BLOCK_SIZE + done);
      } catch (e) {
        this.writeCount++; // some of it may have landed
        throw this.io_error('write', addr + Math.floor(done / BLOCK_SIZE), e);
      }
    }
    this.writeCount++;
  }

  writev(addr: number, parts: readonly Uint8Array[]): void {
    this.open_check();
    let total = 0;
    for (const p of parts) {
      assert(p.length % BLOCK_SIZE === 0 && p.length > 0, () => `${this.name}: writev part of ${p.length} bytes`);
      total += p.length;
    }
    request_check(this, addr, total / BLOCK_SIZE);
    if (this.readOnly) throw new FsError('EROFS', `${this.name}: opened read-only; write of block ${addr} refused`);
    if (this.wb !== null && !this.wb.inline_ok(total)) {
      this.wb.write(addr, parts);
      this.writeCount++;
      return;
    }
    let done = 0;
    let i = 0; // the first part not yet written in full
    let skip = 0; // bytes of parts[i] already written
    while (done < total) {
      // at most IOV_MAX (1024) parts per call; a short write resumes inside a part
      const batch: Uint8Array[] = [];
      for (let j = i; j < parts.length && batch.length < 1024; j++) batch.push(j === i && skip > 0 ? parts[j]!.subarray(skip) : parts[j]!);
      let n: number;
      try {
        n = fs.writevSync(this.fd, batch, addr * BLOCK_SIZE + done);
      } catch (e) {
        this.writeCount++; // some of it may have landed
        throw this.io_error('write', addr + Math.floor(done / BLOCK_SIZE), e);
      }
      done += n;
      n += skip;
      while (i < parts.length && n >= parts[i]!.length) { n -= parts[i]!.length; i++; }
      skip = n;
    }
    this.writeCount++;
  }

  read_async(addr: number, count: number, into: Uint8Array, cb: (err: Error | null) => void): void {
    this.open_check();
    request_check(this, addr, count);
    assert(into.length === count * BLOCK_SIZE, () => `${this.name}: read_async of ${count} blocks into ${into.length} bytes`);
    this.read_barrier(addr, count);
    const fd = this.fd;
    this.inflight++;
    const finish = (err: Error | null): void => {
      this.inflight--;
      if (this.inflight === 0 && this.fdClosing >= 0) {
        const c = this.fdClosing;
        this.fdClosing = -1;
        fs.close(c, () => {});
      }
      cb(err);
    };
    const step = (done: number): void => {
      fs.read(fd, into, done, into.length - done, addr * BLOCK_SIZE + done, (e, n) => {
        if (e) { finish(this.io_error('read', addr + Math.floor(done / BLOCK_SIZE), e)); return; }
        if (n === 0) { into.fill(0, done); finish(null); return; } // as read(): past the end reads zeros
        if (done + n < into.length) { step(done + n); return; }
        finish(null);
      });
    };
    step(0);
  }

  flush(): void {
    this.open_check();
    if (this.readOnly) return; // nothing of ours to make durable
    // the fdatasync itself runs here: a hand-off to the thread and back would only add latency
    this.wb?.drain_checked();
    try {
      fs.fdatasyncSync(this.fd);
    } catch (e) {
      throw new FsError('EIO', `${this.name}: flush failed: ${(e as Error).message}`);
    }
  }

  /** whether the medium said it can not discard */
  private discardRefused = false;

  get discards(): boolean {
    return discarder !== null && !this.readOnly && !this.discardRefused;
  }

  discard(addr: number, count: number): void {
    this.open_check();
    request_check(this, addr, count);
    if (this.readOnly) throw new FsError('EROFS', `${this.name}: opened read-only; discard of block ${addr} refused`);
    if (!this.discards) return; // see the invariants at the top of this file
    // a queued write to these blocks must not land after the hole is punched
    this.wb?.drain_checked();
    const r = discarder!(this.fd, addr * BLOCK_SIZE, count * BLOCK_SIZE, this.kind === 'block');
    if (r === -EOPNOTSUPP) { this.discardRefused = true; return; }
    if (r < 0) throw new FsError('EIO', `${this.name}: discard of blocks [${addr}, +${count}) failed: errno ${-r}`);
  }

  close(): void {
    if (this.fd < 0) return;
    if (this.wb !== null) {
      // whatever was queued is handed to the kernel first, as a synchronous write would have been
      this.wb.close();
      this.wbTimeouts += this.wb.timeouts;
      this.wb = null;
    }
    const fd = this.fd;
    this.fd = -1;
    // reads in flight still use the descriptor: the last of them closes it
    if (this.inflight > 0) this.fdClosing = fd;
    else fs.closeSync(fd);
  }

  private open_check(): void {
    assert(this.fd >= 0, () => `${this.name}: used after close()`);
  }

  private io_error(op: 'read' | 'write', block: number, e: unknown): FsError {
    // Every OS error here means the bytes did not move (EIO from the medium, ENOSPC/EDQUOT of a
    // sparse image on a full host filesystem, ENXIO of a detached device): for the engine the
    // medium failed, so they surface as EIO naming the block; only a device made read-only
    // after open (EPERM, EROFS on write) is reported as EROFS.
    const code = os_errno(e);
    const errno = op === 'write' && (code === 'EPERM' || code === 'EROFS') ? 'EROFS' : 'EIO';
    return new FsError(errno, `${this.name}: ${op} of block ${block} failed: ${(e as Error).message}`);
  }
}

/** Opens an image file or a block device as a BlockDevice. */
export function device_open(devicePath: string, opts: FileDeviceOptions = {}): FileDevice {
  return FileDevice.open(devicePath, opts);
}
