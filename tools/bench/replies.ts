// A FuseReplier that keeps the answers, so that a LowOps table (ops.ts, nullfs) can be driven
// directly, without FUSE: by tests (test/mount/options.test.ts, readpar.test.ts) and by the
// in-process benchmark of tracing (trace_cost.ts).
//
// Invariants: request ids are handed out by `call` and each must be answered exactly once (a
// second answer throws, as the binding refuses one).

import type { DirBuf, FuseAttr, FuseEntry, FuseReplier, FuseStatfs, LowOps } from '../../src/fuse/binding.js';

/** One answer. `errno` is 0 for a plain success. */
export interface Reply {
  kind: 'err' | 'entry' | 'negative' | 'attr' | 'statx' | 'open' | 'create' | 'data' | 'write' | 'xattr_size' | 'statfs' | 'lseek' | 'dirents' | 'ioctl' | 'none';
  errno: number;
  entry?: FuseEntry;
  attr?: FuseAttr;
  fh?: number;
  flags?: number;
  /** data, dirents: a copy of the bytes */
  data?: Buffer;
  /** write, xattr_size, lseek, ioctl result */
  n?: number;
  statfs?: FuseStatfs;
  /** dirents: how many entries */
  count?: number;
}

export class ReplyRecorder implements FuseReplier {
  private nextId = 1;
  private readonly waiting = new Map<number, (r: Reply) => void>();
  /** answers seen (for benchmarks that do not wait) */
  answered = 0;
  /** the last answer (a synchronous handler's, right after it returns) */
  last: Reply | null = null;

  /** A fresh request id and the promise of its answer. */
  request(): { id: number; reply: Promise<Reply> } {
    const id = this.nextId++;
    if (this.nextId >= 65536) this.nextId = 1;
    const reply = new Promise<Reply>((ok) => this.waiting.set(id, ok));
    return { id, reply };
  }

  private put(id: number, r: Reply): void {
    this.answered++;
    this.last = r;
    const w = this.waiting.get(id);
    if (w === undefined) throw new Error(`answer to request ${id}, which is not outstanding`);
    this.waiting.delete(id);
    w(r);
  }

  err(id: number, errno: number): void { this.put(id, { kind: 'err', errno }); }
  entry(id: number, e: FuseEntry): void { this.put(id, { kind: 'entry', errno: 0, entry: e, attr: e.attr }); }
  negative(id: number): void { this.put(id, { kind: 'negative', errno: 2 }); }
  attr(id: number, a: FuseAttr): void { this.put(id, { kind: 'attr', errno: 0, attr: a }); }
  statx(id: number, a: FuseAttr): void { this.put(id, { kind: 'statx', errno: 0, attr: a }); }
  open(id: number, fh: number, flags: number): void { this.put(id, { kind: 'open', errno: 0, fh, flags }); }
  create(id: number, e: FuseEntry, fh: number, flags: number): void { this.put(id, { kind: 'create', errno: 0, entry: e, attr: e.attr, fh, flags }); }
  data(id: number, buf: Uint8Array, len: number): void { this.put(id, { kind: 'data', errno: 0, data: Buffer.from(buf.subarray(0, len)), n: len }); }
  write(id: number, n: number): void { this.put(id, { kind: 'write', errno: 0, n }); }
  xattr_size(id: number, n: number): void { this.put(id, { kind: 'xattr_size', errno: 0, n }); }
  statfs(id: number, st: FuseStatfs): void { this.put(id, { kind: 'statfs', errno: 0, statfs: st }); }
  lseek(id: number, off: number): void { this.put(id, { kind: 'lseek', errno: 0, n: off }); }
  dirents(id: number, d: DirBuf): void { this.put(id, { kind: 'dirents', errno: 0, data: Buffer.from(d.buf.subarray(0, d.len)), count: d.count }); }
  ioctl(id: number, result: number, out: Buffer | null): void { this.put(id, { kind: 'ioctl', errno: result < 0 ? -result : 0, n: result, ...(out ? { data: Buffer.from(out) } : {}) }); }
  none(id: number): void { this.put(id, { kind: 'none', errno: 0 }); }
}

/** Calls `op` of `ops` with a fresh request id and resolves with its answer. */
export function call<K extends keyof LowOps>(ops: LowOps, rec: ReplyRecorder, op: K, ...args: unknown[]): Promise<Reply> {
  const { id, reply } = rec.request();
  const fn = ops[op] as unknown as (...a: unknown[]) => void;
  fn(id, ...args);
  return reply;
}

/** The names of a readdir answer's bytes (fuse_dirent records; `plus`: fuse_direntplus). */
export function dirent_names(data: Buffer, plus = false): string[] {
  const out: string[] = [];
  for (let o = 0; o < data.length;) {
    if (plus) o += 128;
    const len = data.readUInt32LE(o + 16);
    out.push(data.toString('latin1', o + 24, o + 24 + len));
    o += (24 + len + 7) & ~7;
  }
  return out;
}
