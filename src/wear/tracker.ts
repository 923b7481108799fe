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
// - Every counted request is counted under exactly one cause (its WriteTag's, Cause.UNKNOWN when
//   untagged): the causes' requests, blocks and bytes sum to writeRequests, the blocks written
//   and hostBytes, exactly. A checkpoint header's write also counts its trigger.

import fs from 'node:fs';
import path from 'node:path';
import { BLOCK_SIZE, device_writev } from '../device/device.js';
import type { BlockDevice } from '../device/device.js';
import { Cause, CAUSE_COUNT, CAUSE_NAMES, TRIGGER_COUNT, TRIGGER_NAMES } from '../device/cause.js';
import type { WriteTag } from '../device/cause.js';
import { FsError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import { wear_decode, wear_encode } from './wearfile.js';
import type { CauseTotals, WearMeta, WearRecord } from './wearfile.js';

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
  /** per Cause: requests, blocks and bytes written (exact, whatever the timeline holds) */
  readonly causeRequests = new Float64Array(CAUSE_COUNT);
  readonly causeBlocks = new Float64Array(CAUSE_COUNT);
  readonly causeBytes = new Float64Array(CAUSE_COUNT);
  /** checkpoint headers written, per Trigger */
  readonly checkpoints = new Float64Array(TRIGGER_COUNT);
  /**
   * The process a write for inode `ino` is made on behalf of (the last one that dirtied the
   * file), when somebody knows: a mount sets it. 0: not known.
   */
  pidOf: ((ino: number) => number) | null = null;

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
  private cause: Uint8Array;
  private ino: Uint32Array;
  private pid: Uint32Array;
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
    this.cause = new Uint8Array(cap);
    this.ino = new Uint32Array(cap);
    this.pid = new Uint32Array(cap);
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

  write(addr: number, data: Uint8Array, tag?: WriteTag): void {
    this.inner.write(addr, data, tag);
    // The device below validated the request: addr and the block count are in range.
    this.counted(addr, data.length, tag);
  }

  writev(addr: number, parts: readonly Uint8Array[], tag?: WriteTag): void {
    device_writev(this.inner, addr, parts, tag);
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    this.counted(addr, bytes, tag);
  }

  /** Counts a completed write request of `bytes` at block `addr`. */
  private counted(addr: number, bytes: number, tag: WriteTag | undefined): void {
    const count = bytes / BLOCK_SIZE;
    const counts = this.countsArr;
    for (let b = addr; b < addr + count; b++) if (counts[b]! !== COUNT_MAX) counts[b]!++;
    this.writeRequests++;
    this.hostBytes += bytes;
    const c = tag?.cause ?? Cause.UNKNOWN;
    this.causeRequests[c]!++;
    this.causeBlocks[c]! += count;
    this.causeBytes[c]! += bytes;
    if (c === Cause.CHECKPOINT && tag?.detail !== undefined) this.checkpoints[tag.detail]!++;
    const ino = tag?.ino ?? 0;
    this.timeline_add(addr * BLOCK_SIZE, bytes, c, ino, ino !== 0 && this.pidOf !== null ? this.pidOf(ino) : 0);
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
    // the causes go on from the record's; a record without them (version 1) counts as unknown
    const causes = rec.meta.causes ?? { unknown: { requests: rec.timeNs.length, blocks: rec.counts.reduce((a, b) => a + b, 0), bytes: Number(rec.bytes) } };
    for (const [name, t] of Object.entries(causes)) {
      const c = Math.max(0, CAUSE_NAMES.indexOf(name));
      this.causeRequests[c]! += t.requests;
      this.causeBlocks[c]! += t.blocks;
      this.causeBytes[c]! += t.bytes;
    }
    for (const [name, n] of Object.entries(rec.meta.checkpoints ?? {})) {
      const k = TRIGGER_NAMES.indexOf(name);
      if (k >= 0 && Number.isSafeInteger(n)) this.checkpoints[k]! += n;
    }
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
      this.cause[i] = rec.cause?.[i] ?? 0;
      this.ino[i] = rec.ino?.[i] ?? 0;
      this.pid[i] = rec.pid?.[i] ?? 0;
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
    const causes: Record<string, CauseTotals> = {};
    for (let c = 0; c < CAUSE_COUNT; c++) {
      if (this.causeRequests[c]! > 0) causes[CAUSE_NAMES[c]!] = { requests: this.causeRequests[c]!, blocks: this.causeBlocks[c]!, bytes: this.causeBytes[c]! };
    }
    const checkpoints: Record<string, number> = {};
    for (let k = 0; k < TRIGGER_COUNT; k++) if (this.checkpoints[k]! > 0) checkpoints[TRIGGER_NAMES[k]!] = this.checkpoints[k]!;
    return {
      meta: { ...this.baseMeta, device: this.name, deviceBytes: this.blockCount * BLOCK_SIZE, ...meta, flushes: this.flushes, causes, checkpoints },
      blockSize: BLOCK_SIZE,
      counts: this.countsArr.slice(),
      bytes: BigInt(this.hostBytes),
      truncated: this.truncated,
      timeNs,
      offset,
      length: this.length.slice(0, n),
      flags: this.flags.slice(0, n),
      cause: this.cause.slice(0, n),
      ino: this.ino.slice(0, n),
      pid: this.pid.slice(0, n),
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

  private timeline_add(offsetBytes: number, lengthBytes: number, cause: number, ino: number, pid: number): void {
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
    this.cause[i] = cause;
    this.ino[i] = ino;
    this.pid[i] = pid;
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
    this.cause = grown(this.cause, new Uint8Array(cap), this.n);
    this.ino = grown(this.ino, new Uint32Array(cap), this.n);
    this.pid = grown(this.pid, new Uint32Array(cap), this.n);
  }
}

function grown<T extends Float64Array | Uint32Array | Uint8Array>(from: T, to: T, n: number): T {
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
