// Synthetic wear records and RunResults for the renderer's tests and its sample report: small
// models of where ext4, btrfs, f2fs and cowlog put the writes of a "small write + fsync"
// workload. They are not measurements and are never reported as such: the report shows
// what the runners measured; these exist so the pictures can be drawn and checked without
// formatting real filesystems.
//
// Invariants:
// - every model is deterministic for its seed (src/util/prng.ts);
// - counts are derived from the timeline exactly as docs/WEARFILE.md says (a request counts once
//   for every 4 KiB block it touches), and bytes is the sum of request lengths, so the records
//   pass wear_encode's own checks.

import { Prng } from '../util/prng.js';
import { assert } from '../util/assert.js';
import type { WearMeta, WearRecord } from '../wear/wearfile.js';
import { WEAR_REQ_FLUSH } from '../wear/wearfile.js';
import type { RunResult } from './result.js';

export const SYNTH_BLOCK = 4096;

/** Accumulates write requests into a WearRecord. */
export class TraceBuilder {
  readonly counts: Uint32Array;
  private t: Float64Array;
  private off: Float64Array;
  private len: Uint32Array;
  private flg: Uint32Array;
  private n = 0;
  private bytes = 0;
  nowNs = 0;

  constructor(readonly blocks: number, capacity = 1 << 16) {
    this.counts = new Uint32Array(blocks);
    this.t = new Float64Array(capacity);
    this.off = new Float64Array(capacity);
    this.len = new Uint32Array(capacity);
    this.flg = new Uint32Array(capacity);
  }

  get requests(): number { return this.n; }

  private grow(): void {
    const cap = this.t.length * 2;
    const t = new Float64Array(cap); t.set(this.t); this.t = t;
    const o = new Float64Array(cap); o.set(this.off); this.off = o;
    const l = new Uint32Array(cap); l.set(this.len); this.len = l;
    const f = new Uint32Array(cap); f.set(this.flg); this.flg = f;
  }

  /** One write request of `nblocks` whole blocks at `block`, issued `dtNs` after the previous. */
  write(block: number, nblocks = 1, flush = false, dtNs = 40_000): void {
    this.write_bytes(block * SYNTH_BLOCK, nblocks * SYNTH_BLOCK, flush, dtNs);
  }

  /** One write request of any byte range (counts every 4 KiB block it touches). */
  write_bytes(offset: number, length: number, flush = false, dtNs = 40_000): void {
    assert(length > 0 && offset >= 0 && offset + length <= this.blocks * SYNTH_BLOCK,
      () => `synthetic write [${offset}, +${length}) outside a device of ${this.blocks} blocks`);
    if (this.n === this.t.length) this.grow();
    this.nowNs += dtNs;
    this.t[this.n] = this.nowNs;
    this.off[this.n] = offset;
    this.len[this.n] = length;
    this.flg[this.n] = flush ? WEAR_REQ_FLUSH : 0;
    this.n++;
    this.bytes += length;
    const b0 = Math.floor(offset / SYNTH_BLOCK), b1 = Math.floor((offset + length - 1) / SYNTH_BLOCK);
    for (let b = b0; b <= b1; b++) this.counts[b]!++;
  }

  /** Time passing without a request (a flush waiting, the workload thinking). */
  idle(dtNs: number): void { this.nowNs += dtNs; }

  record(meta: WearMeta): WearRecord {
    const n = this.n;
    const timeNs = new BigUint64Array(n), offset = new BigUint64Array(n);
    for (let i = 0; i < n; i++) { timeNs[i] = BigInt(this.t[i]!); offset[i] = BigInt(this.off[i]!); }
    return {
      meta: { deviceBytes: this.blocks * SYNTH_BLOCK, runMs: Math.round(this.nowNs / 1e6), ...meta },
      blockSize: SYNTH_BLOCK,
      counts: this.counts.slice(),
      bytes: BigInt(this.bytes),
      truncated: false,
      timeNs,
      offset,
      length: this.len.slice(0, n),
      flags: this.flg.slice(0, n),
    };
  }
}

/** The shared workload: small writes into a fixed set of files, fsync after every one. */
export interface SynthOp { file: number; block: number; bytes: number }

export function synth_workload(ops: number, seed: number, files = 300, blocksPerFile = 8): SynthOp[] {
  const rng = new Prng(seed);
  const out: SynthOp[] = [];
  for (let i = 0; i < ops; i++) {
    // a few files are hot, as in a real mix of logs and databases
    const file = rng.chance(0.3) ? rng.int(0, 9) : rng.int(0, files - 1);
    out.push({ file, block: rng.int(0, blocksPerFile - 1), bytes: rng.int(64, 512) });
  }
  return out;
}

/** A log-structured device area: segments, log heads, greedy cleaning. */
class LogArea {
  private readonly owner: Int32Array;
  private readonly valid: Uint32Array;
  private readonly free: number[] = [];
  private readonly heads = new Map<string, { seg: number; next: number }>();
  readonly where = new Map<number, number>();
  cleanedBlocks = 0;

  constructor(private readonly tb: TraceBuilder, private readonly first: number, private readonly segBlocks: number,
    private readonly segs: number, private readonly reserveSegs: number) {
    this.owner = new Int32Array(segs * segBlocks).fill(-1);
    this.valid = new Uint32Array(segs);
    for (let s = 0; s < segs; s++) this.free.push(s);
  }

  /** Free segments, counting none of those held by heads. */
  get freeSegs(): number { return this.free.length; }

  private seg_take(): number {
    const s = this.free.shift();
    assert(s !== undefined, 'synthetic log area ran out of segments');
    return s;
  }

  /** Writes logical block `id` at the head of `log`; returns the device block it landed on. */
  append(id: number, log: string, flush: boolean, dtNs = 40_000): number {
    const old = this.where.get(id);
    if (old !== undefined) {
      const rel = old - this.first;
      this.owner[rel] = -1;
      this.valid[Math.floor(rel / this.segBlocks)]!--;
    }
    let h = this.heads.get(log);
    if (!h || h.next === this.segBlocks) {
      if (log !== 'gc') this.clean_while_low();
      h = { seg: this.seg_take(), next: 0 };
      this.heads.set(log, h);
    }
    const rel = h.seg * this.segBlocks + h.next++;
    this.owner[rel] = id;
    this.valid[h.seg]!++;
    this.where.set(id, this.first + rel);
    this.tb.write(this.first + rel, 1, flush, dtNs);
    return this.first + rel;
  }

  private clean_while_low(): void {
    for (let guard = 0; this.free.length <= this.reserveSegs && guard < this.segs; guard++) {
      const busy = new Set([...this.heads.values()].map((h) => h.seg));
      let victim = -1;
      for (let s = 0; s < this.segs; s++) {
        if (busy.has(s) || this.free.includes(s)) continue;
        if (victim < 0 || this.valid[s]! < this.valid[victim]!) victim = s;
      }
      if (victim < 0) return;
      for (let b = 0; b < this.segBlocks; b++) {
        const id = this.owner[victim * this.segBlocks + b]!;
        if (id >= 0) { this.append(id, 'gc', false, 15_000); this.cleanedBlocks++; }
      }
      assert(this.valid[victim] === 0, () => `synthetic cleaner left ${this.valid[victim]} blocks in segment ${victim}`);
      this.free.push(victim);
    }
  }
}

const BLOCKS_64M = 16384;
const FLUSH_NS = 1_500_000;

/** ext4-like: data overwritten in place, every fsync commits a journal transaction; the journal
 *  superblock is rewritten on every few commits and the inode table at checkpoints. */
export function synth_ext4(ops: SynthOp[]): WearRecord {
  const tb = new TraceBuilder(BLOCKS_64M);
  const inodeTable = 1060, journal = 8192, journalBlocks = 1024, dataStart = 1600;
  let head = 1; // block 0 of the journal is its superblock
  const dataBlock = (op: SynthOp): number => {
    const b = dataStart + op.file * 23 + op.block; // files laid out one after another
    return b >= journal ? b + journalBlocks : b;
  };
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    tb.write(dataBlock(op), 1, false, 30_000);
    if (head + 3 > journalBlocks) head = 1;
    tb.write(journal + head, 2, false, 20_000); // descriptor + inode table copy
    tb.write(journal + head + 2, 1, true, 20_000); // commit block, FUA
    tb.idle(FLUSH_NS);
    head += 3;
    if (i % 4 === 3) tb.write(journal, 1, true, 20_000); // journal superblock: the tail moved
    if (i % 200 === 199) { // checkpoint: metadata written home
      for (let k = 0; k < 6; k++) tb.write(inodeTable + k * 8, 1, false, 25_000);
      tb.write(35, 1, false, 25_000); // block bitmap
    }
  }
  return tb.record({ fs: 'ext4', source: 'synthetic', workload: 'synthetic smallsync' });
}

/** btrfs-like: CoW metadata in a metadata chunk, the tree log and the superblock at 64 KiB on
 *  every fsync. */
export function synth_btrfs(ops: SynthOp[]): WearRecord {
  const tb = new TraceBuilder(BLOCKS_64M);
  const meta = new LogArea(tb, 2048, 256, 16, 2);
  const data = new LogArea(tb, 6144, 256, 40, 2);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    data.append(op.file * 64 + op.block, 'data', false, 30_000);
    for (let k = 0; k < 3; k++) meta.append(100_000 + ((op.file * 7 + k * 131 + (i & 15)) % 1500), 'meta', false, 20_000);
    tb.write(16, 1, true, 20_000); // the superblock, FUA
    tb.idle(FLUSH_NS);
  }
  return tb.record({ fs: 'btrfs', source: 'synthetic', workload: 'synthetic smallsync' });
}

/** f2fs-like: 2 MiB segments, hot data and warm node logs, a checkpoint pack on every fsync,
 *  and a main area of which overprovisioning leaves little, so the cleaner runs constantly. */
export function synth_f2fs(ops: SynthOp[]): WearRecord {
  const tb = new TraceBuilder(BLOCKS_64M);
  const main = new LogArea(tb, 3584, 512, 25, 15);
  let cp = 0;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    main.append(op.file * 64 + op.block, 'data', false, 30_000);
    main.append(1_000_000 + op.file, 'node', true, 20_000);
    const pack = 512 + (cp++ & 1) * 512; // two checkpoint packs, used in turn
    tb.write(pack, 2, false, 20_000);
    tb.write(2048 + (op.file % 64), 1, false, 20_000); // NAT block
    tb.write(pack + 2, 1, true, 20_000); // checkpoint end, FUA
    tb.idle(FLUSH_NS);
  }
  return tb.record({ fs: 'f2fs', source: 'synthetic', workload: 'synthetic smallsync' });
}

/** cowlog-like: 256 KiB segments over the whole device, data and node logs, fsync without a
 *  checkpoint, checkpoints rotating through a ring of slots. */
export function synth_cowlog(ops: SynthOp[]): WearRecord {
  const tb = new TraceBuilder(BLOCKS_64M);
  const log = new LogArea(tb, 64, 64, 255, 4);
  let slot = 0;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    log.append(op.file * 64 + op.block, 'data', false, 30_000);
    log.append(1_000_000 + op.file, 'node', true, 20_000);
    tb.idle(FLUSH_NS);
    if (i % 64 === 63) { tb.write(2 + (slot++ % 31) * 2, 2, true, 20_000); tb.idle(FLUSH_NS); }
  }
  return tb.record({ fs: 'cowlog', source: 'synthetic', workload: 'synthetic smallsync' });
}

/** A RunResult that agrees with its record. */
export function synth_result(rec: WearRecord, ops: SynthOp[], extra: Partial<RunResult> = {}): RunResult {
  const asked = ops.reduce((s, o) => s + o.bytes, 0);
  const fs = rec.meta.fs;
  return {
    fs,
    mkfs: fs === 'cowlog' ? 'cowlog mkfs /dev/loop0' : `mkfs.${fs} /dev/loop0`,
    mountOptions: 'defaults',
    deviceBytes: rec.counts.length * rec.blockSize,
    tracer: 'synthetic',
    workload: `synthetic smallsync, ${ops.length} ops`,
    workloadPath: '/dev/null',
    ops: ops.length,
    opsOk: ops.length,
    askedBytes: asked,
    hostBytes: Number(rec.bytes),
    mkfsBytes: 1 << 20,
    errors: {},
    enospc: 0,
    verify: { ok: true, filesChecked: 300, bad: [] },
    runMs: Number(rec.meta.runMs ?? 0),
    ...extra,
  };
}
