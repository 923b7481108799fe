// WearTracker: a BlockDevice that forwards everything to the device it wraps and counts where the
// writes land, in the wear-file model of docs/WEARFILE.md.
//
// Invariants:
// - It never writes to the measured device except by forwarding the caller's writes, and it never
//   saves its wear file onto that device (save() refuses the device's own path).
// - A write request is counted once it has returned from the device below: one count for every
//   4 KiB block it touches, its length added to the host bytes, and one timeline entry.
//   A request the device refused (EIO, power cut) moved nothing and is not counted.
// - Flushes are counted apart (metadata key `flushes`), never as timeline entries: the format
//   records no length-0 requests.
// - The timeline holds at most `timelineMax` entries; past that `truncated` is set and only the
//   timeline stops: counts, host bytes and flushes stay exact. Counts saturate at 2^32 - 1
//   rather than wrap.
// - Timeline times are non-decreasing nanoseconds since the start of the run; a tracker that
//   continues an earlier record starts its clock where that record ended (its last entry, or
//   its runMs if later).

import fs from 'node:fs';
import path from 'node:path';
import { BLOCK_SIZE, device_writev } from '../device/device.js';
import type { BlockDevice } from '../device/device.js';
import { FsError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import { wear_decode, wear_encode } from './wearfile.js';
import type { WearMeta, WearRecord } from './wearfile.js';

/** Default cap on timeline entries: 16 Mi entries, 384 MiB once saved. */
export const TIMELINE_MAX_DEFAULT = 16 * 1024 * 1024;
/** Where wear files of block devices live (never on the device measured). */
export const WEAR_DIR_DEFAULT = '/var/lib/cowlog/wear';
const TIMELINE_START = 1024;
const COUNT_MAX = 0xffffffff;

export interface WearTrackerOptions {
  /** monotonic nanosecond clock (default process.hrtime.bigint) */
  clock?: () => bigint;
  /** cap on timeline entries (default TIMELINE_MAX_DEFAULT) */
  timelineMax?: number;
}

export class WearTracker implements BlockDevice {
  readonly inner: BlockDevice;
  readonly name: string;
  readonly blockCount: number;
  readonly timelineMax: number;
  /** write requests that completed, including those past the timeline cap (a continued record
   *  contributes its timeline entries: a truncated one's later requests are not known) */
  writeRequests = 0;
  /** flushes that completed */
  flushes = 0;
  /** host bytes: the sum of completed write requests' lengths */
  hostBytes = 0;
  /** true once the timeline reached timelineMax and stopped recording */
  truncated = false;

  private readonly clock: () => bigint;
  private t0: bigint;
  /** nanoseconds added to every new timeline time (the end of a continued record) */
  private timeBaseNs = 0;
  private readonly countsArr: Uint32Array;
  // Timeline columns. Times and offsets are kept as float64 (exact below 2^53, i.e. 104 days of
  // nanoseconds and 8 PiB of offsets) so that recording a write allocates no BigInt.
  private n = 0;
  private timeNs: Float64Array;
  private offset: Float64Array;
  private length: Uint32Array;
  private flags: Uint32Array;
  private baseMeta: Partial<WearMeta> = {};

  constructor(inner: BlockDevice, opts: WearTrackerOptions = {}) {
    const max = opts.timelineMax ?? TIMELINE_MAX_DEFAULT;
    if (!Number.isInteger(max) || max < 0) throw new RangeError(`WearTracker: timelineMax must be a non-negative integer, got ${max}`);
    this.inner = inner;
    this.name = inner.name;
    this.blockCount = inner.blockCount;
    this.timelineMax = max;
    this.clock = opts.clock ?? process.hrtime.bigint;
    this.t0 = this.clock();
    this.countsArr = new Uint32Array(inner.blockCount);
    const cap = Math.min(TIMELINE_START, max);
    this.timeNs = new Float64Array(cap);
    this.offset = new Float64Array(cap);
    this.length = new Uint32Array(cap);
    this.flags = new Uint32Array(cap);
  }

  /** Per-block write counts (live view: do not modify). */
  get counts(): Uint32Array {
    return this.countsArr;
  }

  /** Number of timeline entries held. */
  get timelineLength(): number {
    return this.n;
  }

  read(addr: number, count?: number): Buffer {
    return this.inner.read(addr, count);
  }

  write(addr: number, data: Uint8Array): void {
    this.inner.write(addr, data);
    // The device below validated the request: addr and the block count are in range.
    const count = data.length / BLOCK_SIZE;
    const counts = this.countsArr;
    for (let b = addr; b < addr + count; b++) if (counts[b]! !== COUNT_MAX) counts[b]!++;
    this.writeRequests++;
    this.hostBytes += data.length;
    this.timeline_add(addr * BLOCK_SIZE, data.length);
  }

  writev(addr: number, parts: readonly Uint8Array[]): void {
    device_writev(this.inner, addr, parts);
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    const count = bytes / BLOCK_SIZE;
    const counts = this.countsArr;
    for (let b = addr; b < addr + count; b++) if (counts[b]! !== COUNT_MAX) counts[b]!++;
    this.writeRequests++;
    this.hostBytes += bytes;
    this.timeline_add(addr * BLOCK_SIZE, bytes);
  }

  flush(): void {
    this.inner.flush();
    this.flushes++;
  }

  discard(addr: number, count: number): void {
    this.inner.discard(addr, count);
  }

  close(): void {
    this.inner.close();
  }

  /** Takes over an earlier record of the same device (an earlier mount) so that counts, bytes,
   *  flushes and the timeline keep accumulating. Call it on a fresh tracker, before any I/O. */
  continueFrom(rec: WearRecord): void {
    assert(this.writeRequests === 0 && this.flushes === 0, () => `continueFrom on a tracker that already counted ${this.writeRequests} writes and ${this.flushes} flushes`);
    if (rec.blockSize !== BLOCK_SIZE || rec.counts.length !== this.blockCount) {
      throw new FsError('EINVAL',
        `wear record of ${String(rec.meta.device ?? 'a device')} counts ${rec.counts.length} blocks of ${rec.blockSize} bytes, ` +
        `but ${this.name} has ${this.blockCount} blocks of ${BLOCK_SIZE} bytes: the geometry changed since it was written; ` +
        'move the wear file aside to start a new one');
    }
    this.countsArr.set(rec.counts);
    this.hostBytes = Number(rec.bytes);
    const flushes = rec.meta['flushes'];
    this.flushes = typeof flushes === 'number' && Number.isSafeInteger(flushes) && flushes >= 0 ? flushes : 0;
    const m = rec.timeNs.length;
    this.writeRequests = m;
    const keep = Math.min(m, this.timelineMax);
    this.truncated = rec.truncated || keep < m;
    this.timeline_reserve(keep);
    for (let i = 0; i < keep; i++) {
      this.timeNs[i] = Number(rec.timeNs[i]!);
      this.offset[i] = Number(rec.offset[i]!);
      this.length[i] = rec.length[i]!;
      this.flags[i] = rec.flags[i]!;
    }
    this.n = keep;
    const lastNs = m > 0 ? Number(rec.timeNs[m - 1]!) : 0;
    const runMs = rec.meta.runMs;
    this.timeBaseNs = Math.max(lastNs, typeof runMs === 'number' && runMs > 0 ? runMs * 1e6 : 0);
    this.t0 = this.clock();
    this.baseMeta = rec.meta;
  }

  /** A snapshot of what was counted, as a wear-file record. Metadata: the continued record's
   *  keys, then device and deviceBytes of the wrapped device, then `meta`, then `flushes`. */
  toRecord(meta: WearMeta): WearRecord {
    const n = this.n;
    const timeNs = new BigUint64Array(n), offset = new BigUint64Array(n);
    for (let i = 0; i < n; i++) {
      timeNs[i] = BigInt(this.timeNs[i]!);
      offset[i] = BigInt(this.offset[i]!);
    }
    return {
      meta: { ...this.baseMeta, device: this.name, deviceBytes: this.blockCount * BLOCK_SIZE, ...meta, flushes: this.flushes },
      blockSize: BLOCK_SIZE,
      counts: this.countsArr.slice(),
      bytes: BigInt(this.hostBytes),
      truncated: this.truncated,
      timeNs,
      offset,
      length: this.length.slice(0, n),
      flags: this.flags.slice(0, n),
    };
  }

  /** Saves toRecord(meta) to `file` atomically. Refuses to write onto the measured device. */
  save(file: string, meta: WearMeta): void {
    if (same_file(file, this.name)) {
      throw new FsError('EINVAL', `${file}: refusing to save the wear file onto the device it measures (${this.name})`);
    }
    wear_write(file, this.toRecord(meta));
  }

  /** Reads and validates a wear file (WearFileError when it is damaged). */
  static load(file: string): WearRecord {
    return wear_decode(fs.readFileSync(file), file);
  }

  private timeline_add(offsetBytes: number, lengthBytes: number): void {
    if (this.truncated) return;
    if (this.n === this.timelineMax) {
      this.truncated = true;
      return;
    }
    this.timeline_reserve(this.n + 1);
    const i = this.n++;
    this.timeNs[i] = this.timeBaseNs + Number(this.clock() - this.t0);
    this.offset[i] = offsetBytes;
    this.length[i] = lengthBytes;
    // flags stay 0: this tracker sees flushes as calls of their own, never as flags on a write
  }

  /** Grows the timeline columns (doubling, up to timelineMax) to hold `want` entries. */
  private timeline_reserve(want: number): void {
    assert(want <= this.timelineMax, () => `timeline of ${want} entries over its cap ${this.timelineMax}`);
    if (want <= this.length.length) return;
    let cap = Math.max(this.length.length, TIMELINE_START);
    while (cap < want) cap *= 2;
    cap = Math.min(cap, this.timelineMax);
    this.timeNs = grown(this.timeNs, new Float64Array(cap), this.n);
    this.offset = grown(this.offset, new Float64Array(cap), this.n);
    this.length = grown(this.length, new Uint32Array(cap), this.n);
    this.flags = grown(this.flags, new Uint32Array(cap), this.n);
  }
}

function grown<T extends Float64Array | Uint32Array>(from: T, to: T, n: number): T {
  to.set(from.subarray(0, n));
  return to;
}

/** Writes a wear record to `file` atomically: FILE.tmp is written and fsynced, then renamed over
 *  FILE and the directory fsynced, so a crash leaves the old file or the new one, never half. */
export function wear_write(file: string, rec: WearRecord): void {
  const buf = wear_encode(rec);
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    let done = 0;
    while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  const dfd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}

/** True when both paths name the same existing file or device node. */
function same_file(a: string, b: string): boolean {
  try {
    const sa = fs.statSync(a, { bigint: true }), sb = fs.statSync(b, { bigint: true });
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false; // one of them does not exist (a new wear file, a memory device)
  }
}

/** Where the wear file of a device lives by default: `<image>.wear` beside a regular image file
 *  (or a path that does not exist yet), `/var/lib/cowlog/wear/<basename>.wear` for a block
 *  device, which has no "beside" that is not the device itself. */
export function wear_path_default(devicePath: string, wearDir = WEAR_DIR_DEFAULT): string {
  let isBlock = false;
  try {
    isBlock = fs.statSync(devicePath).isBlockDevice();
  } catch {
    // not there yet: an image file about to be created
  }
  return isBlock ? path.join(wearDir, `${path.basename(devicePath)}.wear`) : `${devicePath}.wear`;
}
