// The replayer's in-memory model of what every file and directory must hold, driven by what the
// filesystem actually answered (an operation that failed changes nothing in the model, except
// where POSIX leaves the outcome open).
//
// Invariants:
// - a file's bytes below `size` outside `unsure` are known exactly; bytes in `unsure` may hold
//   anything (a write that failed part-way may have written some of its bytes; a failed fsync or
//   sync may have lost what was written since the last good one);
// - size <= the true size <= sizeMax; sizeMax > size only after a failure left the size open;
// - content is kept in 64 KiB chunks; a missing chunk reads as zeros (holes).

import { assert } from '../util/assert.js';

const CHUNK = 64 * 1024;

/** Sorted, disjoint, non-adjacent half-open ranges [start, end). */
export class RangeSet {
  private r: number[] = []; // start0, end0, start1, end1, ...

  get empty(): boolean { return this.r.length === 0; }

  add(start: number, end: number): void {
    if (end <= start) return;
    const out: number[] = [];
    let i = 0;
    while (i < this.r.length && this.r[i + 1]! < start) { out.push(this.r[i]!, this.r[i + 1]!); i += 2; }
    let s = start, e = end;
    while (i < this.r.length && this.r[i]! <= e) { s = Math.min(s, this.r[i]!); e = Math.max(e, this.r[i + 1]!); i += 2; }
    out.push(s, e);
    while (i < this.r.length) { out.push(this.r[i]!, this.r[i + 1]!); i += 2; }
    this.r = out;
  }

  remove(start: number, end: number): void {
    if (end <= start || this.r.length === 0) return;
    const out: number[] = [];
    for (let i = 0; i < this.r.length; i += 2) {
      const s = this.r[i]!, e = this.r[i + 1]!;
      if (e <= start || s >= end) { out.push(s, e); continue; }
      if (s < start) out.push(s, start);
      if (e > end) out.push(end, e);
    }
    this.r = out;
  }

  /** True when every byte of [start, end) is in the set. */
  covers(start: number, end: number): boolean {
    for (let i = 0; i < this.r.length; i += 2) {
      if (this.r[i]! <= start && this.r[i + 1]! >= end) return true;
    }
    return end <= start;
  }

  has(x: number): boolean { return this.covers(x, x + 1); }

  union(o: RangeSet): void {
    for (let i = 0; i < o.r.length; i += 2) this.add(o.r[i]!, o.r[i + 1]!);
  }

  clear(): void { this.r = []; }

  ranges(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < this.r.length; i += 2) out.push([this.r[i]!, this.r[i + 1]!]);
    return out;
  }
}

export class FileModel {
  size = 0;
  sizeMax = 0;
  /** null: the mode was never set by chmod, so it is not checked */
  mode: number | null = null;
  readonly unsure = new RangeSet();
  /** bytes written since the last successful fsync of this file or sync */
  readonly unsynced = new RangeSet();
  private chunks = new Map<number, Buffer>();

  /** A successful write of `data` at `off`. */
  write(off: number, data: Uint8Array): void {
    const end = off + data.length;
    let p = 0;
    while (p < data.length) {
      const at = off + p;
      const ci = Math.floor(at / CHUNK), co = at % CHUNK;
      const n = Math.min(CHUNK - co, data.length - p);
      let c = this.chunks.get(ci);
      if (!c) { c = Buffer.alloc(CHUNK); this.chunks.set(ci, c); }
      c.set(data.subarray(p, p + n), co);
      p += n;
    }
    this.unsure.remove(off, end);
    this.unsynced.add(off, end);
    if (end > this.size) {
      // bytes between the old size and `off` are a hole: zeros, already zero in the chunks
      // unless an earlier truncate left data there (truncate clears it)
      this.size = end;
    }
    if (this.sizeMax < this.size) this.sizeMax = this.size;
  }

  /** A write that failed after `done` of its `len` bytes at `off` were written. */
  write_failed(off: number, len: number): void {
    if (len <= 0) return;
    this.unsure.add(off, off + len);
    this.unsynced.add(off, off + len);
    this.sizeMax = Math.max(this.sizeMax, off + len);
  }

  truncate(size: number): void {
    const old = this.size;
    for (const [ci, c] of this.chunks) {
      if (ci * CHUNK >= size) this.chunks.delete(ci);
      else if ((ci + 1) * CHUNK > size) c.fill(0, size - ci * CHUNK);
    }
    this.size = size;
    this.sizeMax = size;
    this.unsure.remove(size, Number.MAX_SAFE_INTEGER);
    this.unsynced.remove(size, Number.MAX_SAFE_INTEGER);
    if (size > old) this.unsynced.add(old, size);
  }

  /** A failed truncate: the size may now be either. */
  truncate_failed(size: number): void {
    if (size < this.size) this.unsure.add(size, this.size);
    this.sizeMax = Math.max(this.sizeMax, size);
  }

  /** An fsync/fdatasync/sync that failed: what was not yet durable is now open. */
  sync_failed(): void {
    this.unsure.union(this.unsynced);
  }

  synced(): void { this.unsynced.clear(); }

  /** The model's bytes for [off, off+len) (zeros past the size and in holes). */
  read(off: number, len: number): Buffer {
    const out = Buffer.alloc(len);
    let p = 0;
    while (p < len) {
      const at = off + p;
      const ci = Math.floor(at / CHUNK), co = at % CHUNK;
      const n = Math.min(CHUNK - co, len - p);
      const c = this.chunks.get(ci);
      if (c) c.copy(out, p, co, co + n);
      p += n;
    }
    return out;
  }

  /**
   * Compares bytes read from the filesystem at `off` with the model. Returns the offset of the
   * first byte that can not be right, or -1.
   */
  mismatch(off: number, actual: Uint8Array): number {
    const expect = this.read(off, actual.length);
    if (expect.equals(actual)) return -1;
    for (let i = 0; i < actual.length; i++) {
      if (expect[i] === actual[i]) continue;
      const at = off + i;
      if (at >= this.size || this.unsure.has(at)) continue;
      return at;
    }
    return -1;
  }

  size_ok(actual: number): boolean {
    return actual >= this.size && actual <= this.sizeMax;
  }
}

export type Node = { kind: 'dir'; mode: number | null } | { kind: 'file'; file: FileModel };

/** The namespace: relative path → node; '' is the mount's root directory. */
export class FsModel {
  readonly nodes = new Map<string, Node>([['', { kind: 'dir', mode: null }]]);

  get(path: string): Node | undefined { return this.nodes.get(path); }

  file(path: string): FileModel | undefined {
    const n = this.nodes.get(path);
    return n?.kind === 'file' ? n.file : undefined;
  }

  create(path: string): FileModel {
    const existing = this.file(path);
    if (existing) { existing.truncate(0); return existing; }
    const f = new FileModel();
    this.nodes.set(path, { kind: 'file', file: f });
    return f;
  }

  mkdir(path: string): void { this.nodes.set(path, { kind: 'dir', mode: null }); }

  remove(path: string): void { this.nodes.delete(path); }

  /** rename(2) succeeded: the node (and everything below a directory) moves, replacing `to`. */
  rename(from: string, to: string): void {
    const n = this.nodes.get(from);
    assert(n !== undefined, () => `model rename of unknown ${from}`);
    if (from === to) return;
    this.nodes.delete(to);
    for (const p of [...this.nodes.keys()]) if (p.startsWith(to + '/')) this.nodes.delete(p);
    this.nodes.delete(from);
    this.nodes.set(to, n);
    if (n.kind === 'dir') {
      const prefix = from + '/';
      for (const [p, c] of [...this.nodes]) {
        if (p.startsWith(prefix)) { this.nodes.delete(p); this.nodes.set(to + '/' + p.slice(prefix.length), c); }
      }
    }
  }

  files(): Array<[string, FileModel]> {
    const out: Array<[string, FileModel]> = [];
    for (const [p, n] of this.nodes) if (n.kind === 'file') out.push([p, n.file]);
    return out;
  }
}
