// A node:fs-shaped façade over an engine FileSystem, in the same process: the workload replayer
// (tools/workload/replay.ts) drives it exactly as it drives a mounted directory, so workloads run
// on a memory device at engine speed (benchmarks of the cleaner, the 30,000-operation test)
// without FUSE.
//
// Paths are absolute under `root` (default "/engine"); file descriptors map to inode numbers, so
// an open file follows renames; errors carry `.code` with the errno name, as node's do.

import nodefs from 'node:fs';
import { FileSystem } from '../../src/fs/fs.js';
import { FsError } from '../../src/util/errors.js';
import { S_IFDIR, S_IFMT, S_IFREG } from '../../src/fs/types.js';
import type { Attr } from '../../src/fs/types.js';

const C = nodefs.constants;

export interface EngineStats {
  size: number;
  mode: number;
  ino: number;
  nlink: number;
  blocks: number;
  isFile(): boolean;
  isDirectory(): boolean;
}

export interface EngineDirent {
  name: string;
  isFile(): boolean;
  isDirectory(): boolean;
}

function stats_of(a: Attr): EngineStats {
  return {
    size: a.size, mode: a.mode, ino: a.ino, nlink: a.nlink, blocks: a.blocks,
    isFile: () => (a.mode & S_IFMT) === S_IFREG,
    isDirectory: () => (a.mode & S_IFMT) === S_IFDIR,
  };
}

export class EngineFs {
  readonly constants = C;
  private readonly fds = new Map<number, { ino: number; flags: number }>();
  private nextFd = 3;

  constructor(readonly fs: FileSystem, readonly root = '/engine') {}

  private rel(p: string): string {
    if (p !== this.root && !p.startsWith(this.root + '/')) throw new FsError('EXDEV', `${p} is outside ${this.root}`);
    return p.slice(this.root.length) || '/';
  }

  private split(p: string): { dir: number; name: string } {
    const r = this.rel(p).replace(/\/+$/, '');
    const i = r.lastIndexOf('/');
    return { dir: this.fs.resolve(r.slice(0, i) || '/'), name: r.slice(i + 1) };
  }

  private ino(p: string): number {
    return this.fs.resolve(this.rel(p));
  }

  private fd(fd: number): { ino: number; flags: number } {
    const f = this.fds.get(fd);
    if (!f) throw new FsError('EBADF', `file descriptor ${fd} is not open`);
    return f;
  }

  openSync(p: string, flags: number = C.O_RDONLY, mode = 0o666): number {
    const { dir, name } = this.split(p);
    let ino: number;
    try {
      ino = this.fs.lookup(dir, name).ino;
      if ((flags & C.O_CREAT) && (flags & C.O_EXCL)) throw new FsError('EEXIST', `${p} exists`);
    } catch (e) {
      if (!(e instanceof FsError) || e.code !== 'ENOENT' || !(flags & C.O_CREAT)) throw e;
      ino = this.fs.create(dir, name, S_IFREG | (mode & 0o7777)).ino;
    }
    const a = this.fs.getattr(ino);
    if ((a.mode & S_IFMT) === S_IFDIR && (flags & (C.O_WRONLY | C.O_RDWR))) throw new FsError('EISDIR', `${p} is a directory`);
    if ((flags & C.O_TRUNC) && a.size > 0) this.fs.truncate(ino, 0);
    this.fs.open(ino);
    const fd = this.nextFd++;
    this.fds.set(fd, { ino, flags });
    return fd;
  }

  closeSync(fd: number): void {
    const f = this.fd(fd);
    this.fds.delete(fd);
    this.fs.release(f.ino);
  }

  writeSync(fd: number, buf: Uint8Array, off = 0, len = buf.length - off, pos: number | null = null): number {
    const f = this.fd(fd);
    const at = pos === null || (f.flags & C.O_APPEND) ? this.fs.getattr(f.ino).size : pos;
    return this.fs.write(f.ino, at, buf.subarray(off, off + len));
  }

  readSync(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number {
    const f = this.fd(fd);
    const data = this.fs.read(f.ino, pos, len);
    buf.set(data, off);
    return data.length;
  }

  fstatSync(fd: number): EngineStats {
    return stats_of(this.fs.getattr(this.fd(fd).ino));
  }

  statSync(p: string): EngineStats {
    return stats_of(this.fs.getattr(this.ino(p)));
  }

  truncateSync(p: string, size = 0): void {
    this.fs.truncate(this.ino(p), size);
  }

  fsyncSync(fd: number): void {
    this.fs.fsync(this.fd(fd).ino, false);
  }

  fdatasyncSync(fd: number): void {
    this.fs.fsync(this.fd(fd).ino, true);
  }

  mkdirSync(p: string, mode = 0o777): void {
    const { dir, name } = this.split(p);
    this.fs.mkdir(dir, name, mode);
  }

  rmdirSync(p: string): void {
    const { dir, name } = this.split(p);
    this.fs.rmdir(dir, name);
  }

  unlinkSync(p: string): void {
    const { dir, name } = this.split(p);
    this.fs.unlink(dir, name);
  }

  renameSync(from: string, to: string): void {
    const a = this.split(from);
    const b = this.split(to);
    this.fs.rename(a.dir, a.name, b.dir, b.name);
  }

  chmodSync(p: string, mode: number): void {
    this.fs.setattr(this.ino(p), { mode });
  }

  readdirSync(p: string, _o?: { withFileTypes: true }): EngineDirent[] {
    return this.fs.readdir(this.ino(p)).map((e) => ({
      name: e.name.toString(),
      isFile: () => e.type === 8,
      isDirectory: () => e.type === 4,
    }));
  }

  /** syncfs(2) of the whole filesystem: a checkpoint. */
  syncfs(): void {
    this.fs.sync();
  }

  /** Descriptors still open (a replay leaves none). */
  get openCount(): number {
    return this.fds.size;
  }
}
