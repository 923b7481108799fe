// The generator's model of the namespace (files, directories, live bytes) and the helpers every
// profile uses to emit operations while keeping that model true.
//
// Invariants:
// - `files` holds exactly the files the emitted operations leave, with the size they leave;
// - `live` is the sum of those sizes (what live_peak recounts from the trace);
// - every draw comes from the one Prng, in emission order: the same seed, the same trace.

import { Prng } from '../util/prng.js';
import type { Gen, GenKind, Op } from './trace.js';

export const KiB = 1024, MiB = 1024 * 1024;
/** Files per directory before the generator opens a new one. */
const DIR_FILES_MAX = 64;

export interface GFile { path: string; dir: string; size: number }

/** The generator's model of the namespace: what exists, how big, for picking targets. */
export class Names {
  readonly files: GFile[] = [];
  private readonly index = new Map<string, number>();
  readonly dirFiles = new Map<string, number>();
  live = 0;
  private nextFile = 0;
  private nextDir = 0;
  constructor(readonly ops: Op[], readonly rng: Prng) {}

  emit(op: Op): void { this.ops.push(op); }

  dir_new(): string {
    const d = `d${this.nextDir++}`;
    this.emit({ op: 'mkdir', path: d });
    this.dirFiles.set(d, 0);
    return d;
  }

  /** A directory with room for one more file, made when every one is full. */
  dir_for_new(): string {
    const open = [...this.dirFiles].filter(([, n]) => n < DIR_FILES_MAX).map(([d]) => d);
    return open.length ? this.rng.pick(open) : this.dir_new();
  }

  file_new(): GFile {
    const dir = this.dir_for_new();
    const f: GFile = { path: `${dir}/f${this.nextFile++}`, dir, size: 0 };
    this.emit({ op: 'create', path: f.path });
    this.add(f);
    return f;
  }

  private add(f: GFile): void {
    this.index.set(f.path, this.files.length);
    this.files.push(f);
    this.dirFiles.set(f.dir, (this.dirFiles.get(f.dir) ?? 0) + 1);
  }

  private remove(f: GFile): void {
    const i = this.index.get(f.path)!;
    const last = this.files.pop()!;
    if (last !== f) { this.files[i] = last; this.index.set(last.path, i); }
    this.index.delete(f.path);
    this.dirFiles.set(f.dir, this.dirFiles.get(f.dir)! - 1);
  }

  pick(): GFile { return this.rng.pick(this.files); }

  unlink(f: GFile): void {
    this.emit({ op: 'unlink', path: f.path });
    this.live -= f.size;
    this.remove(f);
  }

  rename(f: GFile): void {
    this.remove(f);
    const dir = this.rng.chance(0.5) ? f.dir : this.dir_for_new();
    const to = `${dir}/f${this.nextFile++}`;
    this.emit({ op: 'rename', path: f.path, to });
    f.path = to;
    f.dir = dir;
    this.add(f);
  }

  /** Removes an empty directory other than the last one made (keeps the tree from only growing). */
  rmdir_some(): boolean {
    const empty = [...this.dirFiles].filter(([d, n]) => n === 0 && d !== `d${this.nextDir - 1}`).map(([d]) => d);
    if (!empty.length) return false;
    const d = this.rng.pick(empty);
    this.emit({ op: 'rmdir', path: d });
    this.dirFiles.delete(d);
    return true;
  }

  /** Deletes random files until `need` more bytes fit under `bound` (and below 90 % of it). */
  make_room(need: number, bound: number): void {
    if (this.live + need <= bound) return;
    while (this.files.length && this.live + need > bound * 0.9) this.unlink(this.pick());
  }

  gen(textShare: number): Gen {
    const kind: GenKind = this.rng.chance(textShare) ? 'text' : 'random';
    return { kind, seed: this.rng.u32() };
  }

  write(f: GFile, off: number, len: number, textShare: number): void {
    this.emit({ op: 'write', path: f.path, off, len, gen: this.gen(textShare) });
    if (off + len > f.size) { this.live += off + len - f.size; f.size = off + len; }
  }

  append(f: GFile, len: number, textShare: number): void {
    this.emit({ op: 'append', path: f.path, len, gen: this.gen(textShare) });
    f.size += len;
    this.live += len;
  }

  truncate(f: GFile, size: number): void {
    this.emit({ op: 'truncate', path: f.path, size });
    this.live += size - f.size;
    f.size = size;
  }

  /** A length between lo and hi, log-uniform: small sizes common, large ones present. */
  len_log(lo: number, hi: number): number {
    return Math.round(Math.exp(Math.log(lo) + this.rng.float() * (Math.log(hi) - Math.log(lo))));
  }

  sync_file(f: GFile, pData = 0.25): void {
    this.emit({ op: this.rng.chance(pData) ? 'fdatasync' : 'fsync', path: f.path });
  }

  range(f: GFile, lenMax: number): { off: number; len: number } {
    const off = this.rng.int(0, Math.max(0, f.size - 1));
    return { off, len: Math.min(lenMax, Math.max(1, f.size - off)) };
  }
}
