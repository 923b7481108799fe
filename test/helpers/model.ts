// A simple in-memory model of POSIX file semantics, a seeded generator of random operations,
// and comparison of a cowlog FileSystem against the model. Random-operation tests run the same
// operation on both and expect the same result (or the same errno); the model is the oracle.

import { Prng } from '../../src/util/prng.js';
import { FsError } from '../../src/util/errors.js';
import type { FileSystem } from '../../src/fs/fs.js';
import { S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from '../../src/fs/types.js';

export interface MInode {
  ino: number;
  /** file, directory, symlink, whiteout (a character device 0:0 a RENAME_WHITEOUT left) */
  type: 'f' | 'd' | 'l' | 'c';
  mode: number;
  nlink: number;
  data: Buffer;
  xattrs: Map<string, Buffer>;
  parent: number;
  entries: Map<string, number>;
}

export type Op =
  | { op: 'create'; dir: number; name: string; mode: number }
  | { op: 'mkdir'; dir: number; name: string }
  | { op: 'write'; ino: number; off: number; len: number; seed: number }
  | { op: 'truncate'; ino: number; size: number }
  | { op: 'unlink'; dir: number; name: string }
  | { op: 'rmdir'; dir: number; name: string }
  | { op: 'rename'; odir: number; oname: string; ndir: number; nname: string; flags?: 'noreplace' | 'exchange' | 'whiteout' }
  | { op: 'link'; ino: number; dir: number; name: string }
  | { op: 'symlink'; dir: number; name: string; target: string }
  | { op: 'setxattr'; ino: number; name: string; value: string }
  | { op: 'removexattr'; ino: number; name: string }
  | { op: 'chmod'; ino: number; mode: number }
  | { op: 'fsync'; ino: number }
  | { op: 'punch'; ino: number; off: number; len: number }
  | { op: 'alloc'; ino: number; off: number; len: number; keep: boolean }
  | { op: 'zero'; ino: number; off: number; len: number; keep: boolean }
  | { op: 'clone'; src: number; offIn: number; dst: number; offOut: number; len: number }
  /** open(O_TMPFILE) in dir, `len` bytes written, then named by link() (name null: never named), closed */
  | { op: 'tmpfile'; dir: number; name: string | null; mode: number; len: number; seed: number }
  | { op: 'sync' }
  | { op: 'remount' };

/** whether content() makes a quarter of all writes text-like (compressible): content_mix() */
let textMix = false;

/**
 * From now on (in this process), writes whose seed is a multiple of 4 carry text-like bytes that
 * lz4 compresses, the others random bytes: compression tests see both in one workload.
 */
export function content_mix(on: boolean): void {
  textMix = on;
}

const PHRASES = ['request served', 'cache miss on block', 'checkpoint written', 'segment cleaned', 'fsync group logged', 'client connected from', 'retrying after error:', 'mount ok'];
const LEVELS = ['INFO', 'INFO', 'INFO', 'WARN', 'DEBUG'];

/** Text-like bytes, log lines drawn from the seed: lz4 stores them in about a third. */
export function content_text(seed: number, len: number): Buffer {
  const rng = new Prng(seed);
  const out = Buffer.alloc(len);
  let at = 0;
  for (let i = 0; at < len; i++) {
    const t = String(rng.int(0, 59)).padStart(2, '0');
    at += out.write(`2024-06-01T10:${t}:${t}Z ${rng.pick(LEVELS)} worker-${rng.int(1, 4)} ${rng.pick(PHRASES)} ${rng.int(0, 9999)} ms\n`, at);
  }
  return out;
}

export function content(seed: number, len: number): Buffer {
  if (textMix && seed % 4 === 0) return content_text(seed, len);
  return Buffer.from(new Prng(seed).fill(new Uint8Array(len)).buffer);
}

function clone(i: MInode): MInode {
  return { ...i, data: i.data, xattrs: new Map(i.xattrs), entries: new Map(i.entries) };
}

export class Model {
  inodes = new Map<number, MInode>();

  constructor() {
    this.inodes.set(1, { ino: 1, type: 'd', mode: S_IFDIR | 0o755, nlink: 2, data: Buffer.alloc(0), xattrs: new Map(), parent: 1, entries: new Map() });
  }

  /** A deep copy of names and attributes (file data buffers are never mutated in place). */
  snapshot(): Model {
    const m = new Model();
    m.inodes = new Map([...this.inodes].map(([k, v]) => [k, clone(v)]));
    return m;
  }

  get(ino: number): MInode {
    const i = this.inodes.get(ino);
    if (!i) throw new Error(`model: no inode ${ino}`);
    return i;
  }

  dirs(): number[] {
    return [...this.inodes.values()].filter((i) => i.type === 'd').map((i) => i.ino);
  }

  files(): number[] {
    return [...this.inodes.values()].filter((i) => i.type === 'f').map((i) => i.ino);
  }

  private is_under(ino: number, anc: number): boolean {
    for (let cur = ino; ; cur = this.get(cur).parent) {
      if (cur === anc) return true;
      if (cur === 1) return false;
    }
  }

  /**
   * Whether `op`, applied now, makes an inode (whose number the filesystem gives) — an
   * O_TMPFILE one never named too: it takes a number, and nothing is left of it.
   */
  makes_inode(op: Op): boolean {
    if (op.op === 'create' || op.op === 'mkdir' || op.op === 'symlink' || op.op === 'tmpfile') return true;
    // a RENAME_WHITEOUT that moves a name makes one at the old name
    return op.op === 'rename' && op.flags === 'whiteout' && this.get(op.odir).entries.get(op.oname) !== this.get(op.ndir).entries.get(op.nname);
  }

  /**
   * Applies op to the model given the inode number the filesystem assigned (for creations).
   * Returns the errno the operation must fail with, or null when it succeeds.
   */
  check(op: Op): string | null {
    switch (op.op) {
      case 'create': case 'mkdir': case 'symlink': {
        const d = this.get(op.dir);
        if (d.entries.has(op.name)) return 'EEXIST';
        return null;
      }
      case 'write': case 'truncate': case 'fsync': case 'chmod': case 'setxattr':
        return null;
      case 'removexattr':
        return this.get(op.ino).xattrs.has(op.name) ? null : 'ENODATA';
      case 'unlink': {
        const t = this.get(op.dir).entries.get(op.name);
        if (t === undefined) return 'ENOENT';
        return this.get(t).type === 'd' ? 'EISDIR' : null;
      }
      case 'rmdir': {
        const t = this.get(op.dir).entries.get(op.name);
        if (t === undefined) return 'ENOENT';
        const ti = this.get(t);
        if (ti.type !== 'd') return 'ENOTDIR';
        return ti.entries.size ? 'ENOTEMPTY' : null;
      }
      case 'rename': {
        const s = this.get(op.odir).entries.get(op.oname);
        if (s === undefined) return 'ENOENT';
        const si = this.get(s);
        const dst = this.get(op.ndir).entries.get(op.nname);
        if (op.flags === 'noreplace' && dst !== undefined) return 'EEXIST';
        if (op.flags === 'exchange') {
          if (dst === undefined) return 'ENOENT';
          if (si.type === 'd' && this.is_under(op.ndir, s)) return 'EINVAL';
          if (this.get(dst).type === 'd' && this.is_under(op.odir, dst)) return 'EINVAL';
          return null;
        }
        if (si.type === 'd' && this.is_under(op.ndir, s)) return 'EINVAL';
        if (dst === undefined || dst === s) return null;
        const di = this.get(dst);
        if (si.type === 'd') {
          if (di.type !== 'd') return 'ENOTDIR';
          if (di.entries.size) return 'ENOTEMPTY';
        } else if (di.type === 'd') return 'EISDIR';
        return null;
      }
      case 'link': {
        if (this.get(op.dir).entries.has(op.name)) return 'EEXIST';
        return null;
      }
      case 'tmpfile':
        return op.name !== null && this.get(op.dir).entries.has(op.name) ? 'EEXIST' : null;
      case 'clone': {
        const n = Math.max(0, Math.min(op.len, this.get(op.src).data.length - op.offIn));
        return n > 0 && op.src === op.dst && op.offIn < op.offOut + n && op.offOut < op.offIn + n ? 'EINVAL' : null;
      }
      default:
        return null;
    }
  }

  /** Data with [from, to) set to `bytes` (zeros when null), grown with zeros as needed. */
  private static spliced(data: Buffer, from: number, to: number, bytes: Buffer | null, size = Math.max(data.length, to)): Buffer {
    const nd = Buffer.alloc(size);
    data.copy(nd, 0, 0, Math.min(data.length, size));
    if (bytes) bytes.copy(nd, from, 0, to - from);
    else nd.fill(0, from, Math.min(to, size));
    return nd;
  }

  apply(op: Op, ino: number): void {
    switch (op.op) {
      case 'create':
        this.inodes.set(ino, { ino, type: 'f', mode: S_IFREG | (op.mode & 0o7777), nlink: 1, data: Buffer.alloc(0), xattrs: new Map(), parent: 0, entries: new Map() });
        this.get(op.dir).entries.set(op.name, ino);
        break;
      case 'mkdir':
        this.inodes.set(ino, { ino, type: 'd', mode: S_IFDIR | 0o755, nlink: 2, data: Buffer.alloc(0), xattrs: new Map(), parent: op.dir, entries: new Map() });
        this.get(op.dir).entries.set(op.name, ino);
        this.get(op.dir).nlink++;
        break;
      case 'symlink':
        this.inodes.set(ino, { ino, type: 'l', mode: S_IFLNK | 0o777, nlink: 1, data: Buffer.from(op.target), xattrs: new Map(), parent: 0, entries: new Map() });
        this.get(op.dir).entries.set(op.name, ino);
        break;
      case 'write': {
        const f = this.get(op.ino);
        const end = op.off + op.len;
        const nd = Buffer.alloc(Math.max(f.data.length, end));
        f.data.copy(nd);
        content(op.seed, op.len).copy(nd, op.off);
        f.data = nd;
        break;
      }
      case 'truncate': {
        const f = this.get(op.ino);
        const nd = Buffer.alloc(op.size);
        f.data.copy(nd, 0, 0, Math.min(op.size, f.data.length));
        f.data = nd;
        break;
      }
      case 'unlink': {
        const d = this.get(op.dir);
        const t = d.entries.get(op.name)!;
        d.entries.delete(op.name);
        this.unref(t);
        break;
      }
      case 'rmdir': {
        const d = this.get(op.dir);
        const t = d.entries.get(op.name)!;
        d.entries.delete(op.name);
        d.nlink--;
        this.inodes.delete(t);
        break;
      }
      case 'rename': {
        const od = this.get(op.odir);
        const nd = this.get(op.ndir);
        const s = od.entries.get(op.oname)!;
        const dst = nd.entries.get(op.nname);
        if (dst === s) break;
        if (op.flags === 'exchange') {
          od.entries.set(op.oname, dst!);
          nd.entries.set(op.nname, s);
          const si = this.get(s), di = this.get(dst!);
          if (op.odir !== op.ndir) {
            if (si.type === 'd') { si.parent = op.ndir; od.nlink--; nd.nlink++; }
            if (di.type === 'd') { di.parent = op.odir; nd.nlink--; od.nlink++; }
          }
          break;
        }
        const si = this.get(s);
        if (dst !== undefined) {
          const di = this.get(dst);
          if (di.type === 'd') { nd.nlink--; this.inodes.delete(dst); }
          else this.unref(dst);
        }
        od.entries.delete(op.oname);
        nd.entries.set(op.nname, s);
        if (si.type === 'd' && op.odir !== op.ndir) { si.parent = op.ndir; od.nlink--; nd.nlink++; }
        if (op.flags === 'whiteout') {
          this.inodes.set(ino, { ino, type: 'c', mode: S_IFCHR, nlink: 1, data: Buffer.alloc(0), xattrs: new Map(), parent: 0, entries: new Map() });
          od.entries.set(op.oname, ino);
        }
        break;
      }
      case 'link':
        this.get(op.dir).entries.set(op.name, op.ino);
        this.get(op.ino).nlink++;
        break;
      case 'tmpfile':
        if (op.name === null) break;
        this.inodes.set(ino, { ino, type: 'f', mode: S_IFREG | (op.mode & 0o7777), nlink: 1, data: content(op.seed, op.len), xattrs: new Map(), parent: 0, entries: new Map() });
        this.get(op.dir).entries.set(op.name, ino);
        break;
      case 'setxattr':
        this.get(op.ino).xattrs.set(op.name, Buffer.from(op.value));
        break;
      case 'removexattr':
        this.get(op.ino).xattrs.delete(op.name);
        break;
      case 'chmod': {
        const i = this.get(op.ino);
        i.mode = (i.mode & S_IFMT) | (op.mode & 0o7777);
        break;
      }
      case 'punch': {
        const f = this.get(op.ino);
        f.data = Model.spliced(f.data, op.off, op.off + op.len, null, f.data.length);
        break;
      }
      case 'alloc': case 'zero': {
        const f = this.get(op.ino);
        const size = op.keep ? f.data.length : Math.max(f.data.length, op.off + op.len);
        f.data = op.op === 'zero' ? Model.spliced(f.data, op.off, op.off + op.len, null, size) : Model.spliced(f.data, 0, 0, null, size);
        break;
      }
      case 'clone': {
        const s = this.get(op.src).data;
        const n = Math.max(0, Math.min(op.len, s.length - op.offIn));
        if (n === 0) break;
        const f = this.get(op.dst);
        f.data = Model.spliced(f.data, op.offOut, op.offOut + n, Buffer.from(s.subarray(op.offIn, op.offIn + n)));
        break;
      }
      default:
        break;
    }
  }

  private unref(ino: number): void {
    const i = this.get(ino);
    i.nlink--;
    if (i.nlink === 0) this.inodes.delete(ino);
  }

  /** Inodes reachable from the root, with one path each (for messages). */
  paths(): Map<number, string> {
    const out = new Map<number, string>([[1, '/']]);
    const walk = (d: number, p: string): void => {
      for (const [n, c] of this.get(d).entries) {
        if (!out.has(c)) out.set(c, p + n);
        if (this.get(c).type === 'd') walk(c, p + n + '/');
      }
    };
    walk(1, '/');
    return out;
  }
}

export interface GenOptions {
  names: number;
  fileSizeMax: number;
  inlineMax: number;
  /** relative weights; missing = default */
  weights?: Partial<Record<Op['op'], number>>;
}

const DEFAULT_WEIGHTS: Record<Op['op'], number> = {
  create: 10, mkdir: 4, write: 30, truncate: 5, unlink: 6, rmdir: 3, rename: 6, link: 3, symlink: 2,
  setxattr: 3, removexattr: 1, chmod: 2, fsync: 6, sync: 1, remount: 0, punch: 2, alloc: 2, zero: 1, clone: 3,
  tmpfile: 0,
};

export function op_random(rng: Prng, m: Model, o: GenOptions): Op {
  const w = { ...DEFAULT_WEIGHTS, ...(o.weights ?? {}) };
  const kinds = Object.keys(w) as Op['op'][];
  let total = 0;
  for (const k of kinds) total += w[k];
  for (let tries = 0; tries < 100; tries++) {
    let r = rng.float() * total;
    let kind: Op['op'] = 'write';
    for (const k of kinds) { r -= w[k]; if (r < 0) { kind = k; break; } }
    const dirs = m.dirs();
    const files = m.files();
    const dir = rng.pick(dirs);
    const name = `n${rng.int(0, o.names - 1)}`;
    const all = [...m.inodes.keys()];
    switch (kind) {
      case 'create': return { op: 'create', dir, name, mode: rng.pick([0o644, 0o600, 0o755]) };
      case 'mkdir': return { op: 'mkdir', dir, name };
      case 'symlink': return { op: 'symlink', dir, name, target: rng.chance(0.1) ? 'x'.repeat(rng.int(o.inlineMax + 1, 4000)) : `target-${rng.int(0, 999)}` };
      case 'write': {
        if (!files.length) continue;
        const ino = rng.pick(files);
        const size = m.get(ino).data.length;
        const small = rng.chance(0.5);
        const off = rng.chance(0.3) ? size : rng.int(0, small ? o.inlineMax : o.fileSizeMax);
        const len = small ? rng.int(1, 300) : rng.int(1, 64 * 1024);
        if (off + len > o.fileSizeMax) continue;
        return { op: 'write', ino, off, len, seed: rng.u32() };
      }
      case 'truncate': {
        if (!files.length) continue;
        const ino = rng.pick(files);
        const size = m.get(ino).data.length;
        return { op: 'truncate', ino, size: rng.chance(0.5) ? rng.int(0, size) : rng.int(0, o.fileSizeMax) };
      }
      case 'unlink': case 'rmdir': {
        const d = m.get(dir);
        const names = [...d.entries.keys()];
        return { op: kind, dir, name: names.length && rng.chance(0.9) ? rng.pick(names) : name };
      }
      case 'rename': {
        const d = m.get(dir);
        const names = [...d.entries.keys()];
        if (!names.length) continue;
        // one in five swaps two names (RENAME_EXCHANGE), one in ten may not replace (NOREPLACE),
        // one in twenty leaves a whiteout (RENAME_WHITEOUT)
        const ndir = rng.pick(dirs);
        const there = [...m.get(ndir).entries.keys()];
        const r = rng.float();
        if (r < 0.2 && there.length) return { op: 'rename', odir: dir, oname: rng.pick(names), ndir, nname: rng.pick(there), flags: 'exchange' };
        if (r < 0.3) return { op: 'rename', odir: dir, oname: rng.pick(names), ndir, nname: name, flags: 'noreplace' };
        if (r < 0.35) return { op: 'rename', odir: dir, oname: rng.pick(names), ndir, nname: rng.chance(0.5) && there.length ? rng.pick(there) : name, flags: 'whiteout' };
        return { op: 'rename', odir: dir, oname: rng.pick(names), ndir, nname: name };
      }
      case 'punch': case 'alloc': case 'zero': {
        if (!files.length) continue;
        const ino = rng.pick(files);
        const size = m.get(ino).data.length;
        const off = rng.chance(0.5) ? rng.int(0, Math.max(0, size)) : rng.int(0, o.fileSizeMax - 1);
        const len = rng.int(1, Math.min(o.fileSizeMax - off, rng.chance(0.5) ? 16 * 1024 : 128 * 1024));
        if (kind === 'punch') return { op: 'punch', ino, off, len };
        return { op: kind, ino, off, len, keep: rng.chance(0.4) };
      }
      case 'clone': {
        if (!files.length) continue;
        const src = rng.pick(files), dst = rng.pick(files);
        const ss = m.get(src).data.length;
        // mostly at the same place in a block (shared), sometimes not (copied)
        const offIn = rng.chance(0.5) ? 0 : rng.int(0, Math.max(0, ss)) & (rng.chance(0.7) ? ~4095 : ~0);
        const offOut = rng.chance(0.5) ? offIn % 4096 + 4096 * rng.int(0, 8) : rng.int(0, o.fileSizeMax / 2);
        const len = rng.chance(0.5) ? ss : rng.int(1, 96 * 1024);
        if (offOut + len > o.fileSizeMax) continue;
        return { op: 'clone', src, offIn, dst, offOut, len };
      }
      case 'link': {
        if (!files.length) continue;
        return { op: 'link', ino: rng.pick(files), dir, name };
      }
      case 'tmpfile': {
        // a free name (the link comes after the inode is made: a taken one would still use a
        // number), or one in four never named
        if (m.get(dir).entries.has(name)) continue;
        const len = rng.chance(0.5) ? rng.int(0, o.inlineMax) : rng.int(1, 64 * 1024);
        return { op: 'tmpfile', dir, name: rng.chance(0.25) ? null : name, mode: rng.pick([0o644, 0o600]), len, seed: rng.u32() };
      }
      case 'setxattr': {
        // one in ten is large: stored in pieces (XBIG and XCHUNK records)
        const len = rng.chance(0.1) ? rng.int(1501, 8000) : rng.int(0, 200);
        return { op: 'setxattr', ino: rng.pick(all), name: `user.a${rng.int(0, 4)}`, value: String.fromCharCode(97 + rng.int(0, 25)).repeat(len) };
      }
      case 'removexattr': return { op: 'removexattr', ino: rng.pick(all), name: `user.a${rng.int(0, 4)}` };
      case 'chmod': return { op: 'chmod', ino: rng.pick(all), mode: rng.pick([0o644, 0o600, 0o700, 0o4755]) };
      case 'fsync': {
        if (!files.length) continue;
        return { op: 'fsync', ino: rng.pick(files) };
      }
      case 'sync': return { op: 'sync' };
      case 'remount': return { op: 'remount' };
    }
  }
  return { op: 'sync' };
}

function lookup_or_0(fs: FileSystem, dir: number, name: string): number {
  try {
    return fs.lookup(dir, name).ino;
  } catch (e) {
    if (e instanceof FsError && e.code === 'ENOENT') return 0;
    throw e;
  }
}

/** Runs op on the filesystem. Returns the new inode number (creations) or 0, or an errno string. */
export function op_run(fs: FileSystem, op: Op): { ino: number } | { errno: string } {
  try {
    switch (op.op) {
      case 'create': return { ino: fs.create(op.dir, op.name, op.mode).ino };
      case 'mkdir': return { ino: fs.mkdir(op.dir, op.name, 0o755).ino };
      case 'symlink': return { ino: fs.symlink(op.dir, op.name, op.target).ino };
      case 'write': fs.write(op.ino, op.off, content(op.seed, op.len)); break;
      case 'truncate': fs.truncate(op.ino, op.size); break;
      case 'unlink': fs.unlink(op.dir, op.name); break;
      case 'rmdir': fs.rmdir(op.dir, op.name); break;
      case 'rename': {
        if (op.flags === 'whiteout') {
          const same = fs.lookup(op.odir, op.oname).ino === lookup_or_0(fs, op.ndir, op.nname);
          fs.rename(op.odir, op.oname, op.ndir, op.nname, { whiteout: { uid: 0, gid: 0 } });
          // the whiteout's inode number (none when the two names were one inode's: nothing moved)
          return { ino: same ? 0 : fs.lookup(op.odir, op.oname).ino };
        }
        fs.rename(op.odir, op.oname, op.ndir, op.nname, op.flags === 'exchange' ? { exchange: true } : op.flags === 'noreplace' ? { noreplace: true } : {});
        break;
      }
      case 'link': fs.link(op.ino, op.dir, op.name); break;
      case 'setxattr': fs.setxattr(op.ino, op.name, Buffer.from(op.value)); break;
      case 'removexattr': fs.removexattr(op.ino, op.name); break;
      case 'chmod': fs.setattr(op.ino, { mode: op.mode }); break;
      case 'fsync': fs.fsync(op.ino); break;
      case 'punch': fs.fallocate(op.ino, 0x03, op.off, op.len); break;
      case 'alloc': fs.fallocate(op.ino, op.keep ? 0x01 : 0, op.off, op.len); break;
      case 'zero': fs.fallocate(op.ino, op.keep ? 0x11 : 0x10, op.off, op.len); break;
      case 'clone': fs.copy_range(op.src, op.offIn, op.dst, op.offOut, op.len); break;
      case 'tmpfile': {
        const ino = fs.tmpfile(op.dir, op.mode).ino;
        try {
          if (op.len > 0) fs.write(ino, 0, content(op.seed, op.len));
          if (op.name !== null) fs.link(ino, op.dir, op.name);
        } catch (e) {
          // refused (ENOSPC): closed, as a program would; anything else (a power cut) ends the run
          if (e instanceof FsError) fs.release(ino);
          throw e;
        }
        fs.release(ino);
        return { ino };
      }
      case 'sync': fs.sync(); break;
      case 'remount': break;
    }
    return { ino: 0 };
  } catch (e) {
    if (e instanceof FsError) return { errno: e.code };
    throw e;
  }
}

/**
 * Compares the filesystem's namespace and attributes with the model. With `data`, file contents
 * must be equal too; otherwise `dataOk(ino, got)` decides (crash tests accept earlier contents).
 * Returns a list of differences (empty: equal).
 */
export function compare(fs: FileSystem, m: Model, dataOk?: (ino: number, got: Buffer) => boolean): string[] {
  const diffs: string[] = [];
  const seen = new Set<number>();
  const walk = (dino: number, path: string): void => {
    const want = m.get(dino);
    let got;
    try {
      got = fs.readdir(dino);
    } catch (e) {
      diffs.push(`${path}: readdir failed: ${(e as Error).message}`);
      return;
    }
    const gotNames = got.map((e) => e.name.toString()).sort();
    const wantNames = [...want.entries.keys()].sort();
    if (gotNames.join('/') !== wantNames.join('/')) diffs.push(`${path}: entries ${JSON.stringify(gotNames)} want ${JSON.stringify(wantNames)}`);
    const dotdot = fs.lookup(dino, '..').ino;
    if (dotdot !== want.parent) diffs.push(`${path}: '..' is ${dotdot}, want ${want.parent}`);
    for (const e of got) {
      const n = e.name.toString();
      const wi = want.entries.get(n);
      if (wi === undefined) continue;
      if (e.ino !== wi) { diffs.push(`${path}${n}: inode ${e.ino}, want ${wi}`); continue; }
      const mi = m.get(wi);
      const a = fs.getattr(e.ino);
      const p = path + n;
      if (a.mode !== mi.mode) diffs.push(`${p}: mode ${a.mode.toString(8)}, want ${mi.mode.toString(8)}`);
      if (a.nlink !== mi.nlink) diffs.push(`${p}: nlink ${a.nlink}, want ${mi.nlink}`);
      if (seen.has(wi)) continue;
      seen.add(wi);
      const xs = fs.listxattr(e.ino).map((x) => x.toString()).sort();
      const wx = [...mi.xattrs.keys()].sort();
      if (xs.join(',') !== wx.join(',')) diffs.push(`${p}: xattrs ${xs} want ${wx}`);
      else for (const x of wx) if (!fs.getxattr(e.ino, x).equals(mi.xattrs.get(x)!)) diffs.push(`${p}: xattr ${x} differs`);
      if (mi.type === 'd') walk(wi, p + '/');
      else if (mi.type === 'c') {
        if (a.rdev !== 0 || a.size !== 0) diffs.push(`${p}: a whiteout with rdev ${a.rdev}, size ${a.size}`);
      } else if (mi.type === 'l') {
        const t = fs.readlink(e.ino);
        if (!t.equals(mi.data)) diffs.push(`${p}: symlink target differs`);
      } else {
        const data = fs.read(e.ino, 0, a.size + 10);
        if (dataOk) {
          if (!dataOk(wi, data)) diffs.push(`${p} (inode ${wi}): content of ${data.length} bytes matches no acceptable version`);
        } else {
          if (a.size !== mi.data.length) diffs.push(`${p}: size ${a.size}, want ${mi.data.length}`);
          if (!data.equals(mi.data)) {
            let i = 0;
            while (i < data.length && data[i] === mi.data[i]) i++;
            diffs.push(`${p}: content differs from byte ${i}`);
          }
        }
      }
    }
  };
  walk(1, '/');
  return diffs;
}
