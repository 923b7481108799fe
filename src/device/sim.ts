// SimDevice: the simulated device of crash and fault tests. Every decision comes from a seed, so
// a failure replays exactly from (seed, sequence of calls).
//
// Invariants:
// - The device is the durable image plus, per block, the versions written since the last flush
//   in issue order. Reads see the newest version (a page cache); flush() makes the newest
//   version of every block durable and forgets the others.
// - Stored block buffers are immutable once stored: writes store fresh copies and flipBit
//   replaces a buffer rather than editing it. That is what lets powerCut() share buffers with the
//   new device instead of copying the image, so a test can cut power after every single write.
// - Blocks never written are absent from the maps and read as zeros.
// - After a power cut (cutAfter or cutAfterRequests fired, or powerCut() was called) every read,
//   write, flush and discard throws PowerCutError; close() still works so that teardown code runs.
// - Counters count requests that completed: a write refused by the power cut or by an injected
//   fault moved no bytes and is not counted (cutAfter's n counts every write request, though).
// - An injected write fault rejects the whole request: none of its blocks change.

import { BLOCK_SIZE, request_check } from './device.js';
import type { BlockDevice } from './device.js';
import { FsError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import { Prng } from '../util/prng.js';

export const SECTOR_SIZE = 512;
export const SECTORS_PER_BLOCK = BLOCK_SIZE / SECTOR_SIZE;
const ZERO_BLOCK = Buffer.alloc(BLOCK_SIZE);

/** Thrown by a SimDevice after power is cut. Deliberately not an FsError: engine code that
 *  handles I/O errors must never catch this and carry on as if the device were still there. */
export class PowerCutError extends Error {
  constructor(name: string, what: string) {
    super(`${name}: power is cut; ${what} refused`);
    this.name = 'PowerCutError';
  }
}

/** What survives a power cut: 'flushed' = only what was flushed; 'all' = every write;
 *  'random' = per block, the seeded PRNG picks the durable content or any one unflushed version,
 *  and may tear it at a sector boundary. */
export type PowerCutMode = 'flushed' | 'all' | 'random';

export interface SimDeviceOptions {
  /** seed of every random decision (default 1) */
  seed?: number;
  name?: string;
  /** record (addr, count) of each completed write in `writeLog` */
  writeLog?: boolean;
  /** in 'random' power cuts, the probability that a block whose chosen content is an unflushed
   *  version is torn: sectors [0, k) from that version, [k, 8) from the version before it,
   *  1 <= k <= 7 (default 0.25) */
  tearProbability?: number;
}

export interface WriteLogEntry {
  addr: number;
  count: number;
}

export class SimDevice implements BlockDevice {
  readonly name: string;
  readonly blockCount: number;
  readonly seed: number;
  readonly tearProbability: number;
  /** completed write requests */
  writesIssued = 0;
  /** blocks written by completed write requests (a 3-block request adds 3) */
  blocksWritten = 0;
  /** completed flushes */
  flushes = 0;
  /** completed read requests */
  reads = 0;
  /** (addr, count) of each completed write, when the writeLog option is set */
  readonly writeLog: WriteLogEntry[] | null;

  private readonly prng: Prng;
  private durable: Map<number, Buffer>;
  private readonly pending = new Map<number, Buffer[]>();
  private readonly readFaults = new Set<number>();
  private readonly writeFaults = new Set<number>();
  /** writes still allowed before the cut; null = no cut armed */
  private cutCountdown: number | null = null;
  /** writes and flushes still allowed before the cut; null = no cut armed */
  private requestCountdown: number | null = null;
  private cut = false;
  private closed = false;

  constructor(blockCount: number, opts: SimDeviceOptions = {}) {
    if (!Number.isInteger(blockCount) || blockCount < 0) throw new RangeError(`SimDevice: bad block count ${blockCount}`);
    const tear = opts.tearProbability ?? 0.25;
    if (!(tear >= 0 && tear <= 1)) throw new RangeError(`SimDevice: tearProbability ${tear} outside [0, 1]`);
    this.blockCount = blockCount;
    this.name = opts.name ?? 'sim';
    this.seed = opts.seed ?? 1;
    this.tearProbability = tear;
    this.writeLog = opts.writeLog ? [] : null;
    this.prng = new Prng(this.seed);
    this.durable = new Map();
  }

  /** A device whose durable content is a copy of `image` (a whole number of 4 KiB blocks). */
  static from(image: Uint8Array, opts: SimDeviceOptions = {}): SimDevice {
    if (image.length % BLOCK_SIZE !== 0) {
      throw new RangeError(`SimDevice.from: image of ${image.length} bytes is not a whole number of 4 KiB blocks`);
    }
    const dev = new SimDevice(image.length / BLOCK_SIZE, opts);
    const bytes = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
    for (let addr = 0; addr < dev.blockCount; addr++) {
      const block = bytes.subarray(addr * BLOCK_SIZE, (addr + 1) * BLOCK_SIZE);
      if (!block.equals(ZERO_BLOCK)) dev.durable.set(addr, Buffer.from(block));
    }
    return dev;
  }

  /** True once power has been cut (by cutAfter or powerCut). */
  get isCut(): boolean {
    return this.cut;
  }

  /** Number of blocks with unflushed versions. */
  get pendingBlocks(): number {
    return this.pending.size;
  }

  read(addr: number, count = 1): Buffer {
    this.power_check('read');
    request_check(this, addr, count);
    for (let a = addr; a < addr + count; a++) {
      if (this.readFaults.has(a)) throw new FsError('EIO', `${this.name}: read of block ${a} failed: injected fault`);
    }
    const out = Buffer.alloc(count * BLOCK_SIZE);
    for (let i = 0; i < count; i++) {
      const block = this.newest(addr + i);
      if (block) block.copy(out, i * BLOCK_SIZE);
    }
    this.reads++;
    return out;
  }

  write(addr: number, data: Uint8Array): void {
    this.power_check('write');
    const count = data.length / BLOCK_SIZE;
    request_check(this, addr, count);
    if (this.cutCountdown !== null) {
      if (this.cutCountdown === 0) {
        this.cut = true;
        throw new PowerCutError(this.name, `write of block ${addr}`);
      }
      this.cutCountdown--;
    }
    this.request_count(`write of block ${addr}`);
    for (let a = addr; a < addr + count; a++) {
      if (this.writeFaults.has(a)) throw new FsError('EIO', `${this.name}: write of block ${a} failed: injected fault`);
    }
    for (let i = 0; i < count; i++) {
      const copy = Buffer.from(data.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE));
      const versions = this.pending.get(addr + i);
      if (versions) versions.push(copy);
      else this.pending.set(addr + i, [copy]);
    }
    this.writesIssued++;
    this.blocksWritten += count;
    this.writeLog?.push({ addr, count });
  }

  flush(): void {
    this.power_check('flush');
    this.request_count('flush');
    for (const [addr, versions] of this.pending) this.durable.set(addr, versions[versions.length - 1]!);
    this.pending.clear();
    this.flushes++;
  }

  discard(addr: number, count: number): void {
    this.power_check('discard');
    request_check(this, addr, count);
    // No-op, as on FileDevice: the engine must not rely on discarded blocks reading as zeros.
  }

  close(): void {
    this.closed = true;
  }

  /** Arms a power cut: the next `n` write requests complete, the one after is lost and from then
   *  on every I/O throws PowerCutError. n = 0: the very next write is lost. */
  cutAfter(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`cutAfter: n must be a non-negative integer, got ${n}`);
    this.cutCountdown = n;
  }

  /** Arms a power cut at a request boundary: the next `n` write and flush requests complete, the
   *  one after is refused and from then on every I/O throws PowerCutError. Unlike cutAfter, a
   *  flush can be the request that is refused: n counts the boundaries between all requests, so
   *  a test can cut "after write k" and "at flush j" alike. */
  cutAfterRequests(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`cutAfterRequests: n must be a non-negative integer, got ${n}`);
    this.requestCountdown = n;
  }

  /** Cuts power now (if cutAfter has not already) and returns a NEW device, without faults or
   *  armed cut, holding what survived. Each call draws fresh random decisions, so calling it
   *  several times explores several outcomes of the same cut; the sequence replays by seed. */
  powerCut(mode: PowerCutMode): SimDevice {
    this.cut = true;
    const survivor = new SimDevice(this.blockCount, {
      seed: this.prng.u32(),
      name: this.name,
      tearProbability: this.tearProbability,
      writeLog: this.writeLog !== null,
    });
    const image = new Map(this.durable);
    if (mode === 'all') {
      for (const [addr, versions] of this.pending) image.set(addr, versions[versions.length - 1]!);
    } else if (mode === 'random') {
      // Ascending addresses, so the outcome depends on the seed and the writes, not on Map order.
      const addrs = [...this.pending.keys()].sort((a, b) => a - b);
      for (const addr of addrs) {
        const versions = this.pending.get(addr)!;
        // 0 = the durable content survives; i >= 1 = unflushed version i-1 reached the medium.
        const pick = this.prng.int(0, versions.length);
        if (pick === 0) continue;
        const chosen = versions[pick - 1]!;
        const before = pick >= 2 ? versions[pick - 2]! : this.durable.get(addr);
        if (this.prng.chance(this.tearProbability)) {
          const k = this.prng.int(1, SECTORS_PER_BLOCK - 1);
          image.set(addr, block_tear(chosen, before, k));
        } else {
          image.set(addr, chosen);
        }
      }
    } else {
      assert(mode === 'flushed', () => `powerCut: unknown mode '${String(mode)}'`);
    }
    survivor.durable = image;
    return survivor;
  }

  /** Every read request touching `addr` fails with EIO until clearFaults(). */
  failRead(addr: number): void {
    request_check(this, addr, 1);
    this.readFaults.add(addr);
  }

  /** Every write request touching `addr` fails with EIO (and writes nothing) until clearFaults(). */
  failWrite(addr: number): void {
    request_check(this, addr, 1);
    this.writeFaults.add(addr);
  }

  /** Flips bit `bitIndex` (0 = lowest bit of byte 0) of block `addr` in the durable content and
   *  in every unflushed version: the medium rotted under the data. */
  flipBit(addr: number, bitIndex: number): void {
    request_check(this, addr, 1);
    if (!Number.isInteger(bitIndex) || bitIndex < 0 || bitIndex >= BLOCK_SIZE * 8) {
      throw new RangeError(`flipBit: bit ${bitIndex} outside a block's ${BLOCK_SIZE * 8} bits`);
    }
    this.durable.set(addr, bit_flipped(this.durable.get(addr), bitIndex));
    const versions = this.pending.get(addr);
    if (versions) for (let i = 0; i < versions.length; i++) versions[i] = bit_flipped(versions[i], bitIndex);
  }

  /** Removes the read and write faults (flipped bits stay flipped: they changed the content). */
  clearFaults(): void {
    this.readFaults.clear();
    this.writeFaults.clear();
  }

  /** A copy of what reads see now (durable content overlaid with the newest unflushed versions). */
  image(): Buffer {
    const out = this.durableImage();
    for (const [addr, versions] of this.pending) versions[versions.length - 1]!.copy(out, addr * BLOCK_SIZE);
    return out;
  }

  /** A copy of the durable content only. */
  durableImage(): Buffer {
    const out = Buffer.alloc(this.blockCount * BLOCK_SIZE);
    for (const [addr, block] of this.durable) block.copy(out, addr * BLOCK_SIZE);
    return out;
  }

  private newest(addr: number): Buffer | undefined {
    const versions = this.pending.get(addr);
    return versions ? versions[versions.length - 1] : this.durable.get(addr);
  }

  private request_count(what: string): void {
    if (this.requestCountdown === null) return;
    if (this.requestCountdown === 0) {
      this.cut = true;
      throw new PowerCutError(this.name, what);
    }
    this.requestCountdown--;
  }

  private power_check(what: string): void {
    assert(!this.closed, () => `${this.name}: used after close()`);
    if (this.cut) throw new PowerCutError(this.name, what);
  }
}

/** Sectors [0, k) from `chosen`, [k, 8) from `before` (zeros when undefined). */
function block_tear(chosen: Buffer, before: Buffer | undefined, k: number): Buffer {
  const out = Buffer.alloc(BLOCK_SIZE);
  chosen.copy(out, 0, 0, k * SECTOR_SIZE);
  if (before) before.copy(out, k * SECTOR_SIZE, k * SECTOR_SIZE, BLOCK_SIZE);
  return out;
}

function bit_flipped(block: Buffer | undefined, bitIndex: number): Buffer {
  const out = block ? Buffer.from(block) : Buffer.alloc(BLOCK_SIZE);
  out[bitIndex >>> 3]! ^= 1 << (bitIndex & 7);
  return out;
}
