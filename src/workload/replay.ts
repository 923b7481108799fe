// The replayer: applies a workload trace to any mounted directory with ordinary synchronous
// file-system calls, counts errors per operation kind without stopping, and verifies every file
// at the end against the content the trace implies.
//
// Invariants:
// - the whole trace is validated (trace_parse) before the first operation is applied;
// - every operation is applied in trace order, each with its own open/close, so a run is the
//   same sequence of system calls on every filesystem;
// - the model (model.ts) follows what the filesystem answered: an operation that failed changes
//   it only where POSIX leaves the outcome open, so verification is strict where it can be;
// - after `enospcLimit` ENOSPC errors the remaining operations are skipped, not applied;
// - never run inside the process that serves a FUSE mount (synchronous calls would deadlock it).
//
// Run as a program: node dist/src/workload/replay.js TRACE DIR [--result FILE]

import nodefs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { gen_bytes } from './content.js';
import { FsModel } from './model.js';
import type { FileModel } from './model.js';
import { TraceError, trace_read } from './trace.js';
import type { Op, Trace } from './trace.js';

const READ_CHUNK = 1024 * 1024;
const BAD_LIST_MAX = 100;

export interface OpErrors {
  /** errno name → count, e.g. { ENOSPC: 12 } */
  [errno: string]: number;
}

export interface ApplyResult {
  ops: number;
  opsOk: number;
  /** operations not applied because the ENOSPC limit was reached */
  opsSkipped: number;
  /** bytes of write and append payloads asked of the filesystem */
  askedBytes: number;
  /** bytes the filesystem accepted (write return values) */
  writtenBytes: number;
  /** file bytes written before the first ENOSPC; absent when none happened */
  usableBytes?: number;
  errors: Record<string, OpErrors>;
  enospc: number;
  /** reads and stats that returned what the model says is impossible (first few) */
  mismatches: string[];
  runMs: number;
}

export interface VerifyResult {
  ok: boolean;
  filesChecked: number;
  bad: string[];
  verifyMs: number;
}

export interface ReplayResult extends ApplyResult {
  verify: VerifyResult;
}

/**
 * The file-system calls the replayer makes: node:fs by default, or the same calls served by an
 * engine in this process (tools/bench/engine_fs.ts: workloads at engine speed, without FUSE).
 */
export interface ReplayFs {
  readonly constants: typeof nodefs.constants;
  openSync(p: string, flags: number, mode?: number): number;
  closeSync(fd: number): void;
  writeSync(fd: number, buf: Uint8Array, off: number, len: number, pos: number | null): number;
  readSync(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number;
  fstatSync(fd: number): { size: number; mode: number };
  statSync(p: string): { size: number; mode: number };
  truncateSync(p: string, size: number): void;
  fsyncSync(fd: number): void;
  fdatasyncSync(fd: number): void;
  mkdirSync(p: string, mode: number): void;
  rmdirSync(p: string): void;
  unlinkSync(p: string): void;
  renameSync(from: string, to: string): void;
  chmodSync(p: string, mode: number): void;
  readdirSync(p: string, o: { withFileTypes: true }): { name: string; isFile(): boolean; isDirectory(): boolean }[];
}

export interface ReplayOptions {
  /** the calls to make (default node:fs) */
  fs?: ReplayFs;
  /** syncfs(2) of the filesystem under `dir` (default: `sync -f DIR`) */
  syncfs?: (dir: string) => void;
  /** the command that syncs the filesystem under DIR, DIR appended (default: `sync -f`); a FUSE
   *  filesystem is not told of syncfs(2), so cowlog's runner gives `cowlog sync` here */
  syncCommand?: readonly string[];
  /** stop after this many ENOSPC errors (default: the trace header's, else never) */
  enospcLimit?: number;
  /** called about every 5 % of the operations */
  progress?: (done: number, total: number) => void;
}

function errno_of(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
  throw e; // not an answer from the filesystem: a bug, let it surface
}

export class Replayer {
  readonly model = new FsModel();
  private readonly errors: Record<string, OpErrors> = {};
  private readonly mismatches: string[] = [];
  private enospc = 0;
  private applied = false;

  private readonly fs: ReplayFs;

  constructor(readonly trace: Trace, readonly dir: string, readonly opts: ReplayOptions = {}) {
    this.fs = opts.fs ?? nodefs;
  }

  private abs(p: string): string { return path.join(this.dir, p); }

  private fail(kind: string, code: string): void {
    const e = (this.errors[kind] ??= {});
    e[code] = (e[code] ?? 0) + 1;
    if (code === 'ENOSPC') this.enospc++;
  }

  private mismatch(kind: string, what: string): void {
    this.fail(kind, 'MISMATCH');
    if (this.mismatches.length < 20) this.mismatches.push(what);
  }

  /** Applies every operation; returns the counts. */
  apply(): ApplyResult {
    if (this.applied) throw new Error('Replayer.apply called twice');
    this.applied = true;
    const ops = this.trace.ops;
    const limit = this.opts.enospcLimit ?? this.trace.header.enospcLimit ?? Number.POSITIVE_INFINITY;
    const every = Math.max(1, Math.floor(ops.length / 20));
    let ok = 0, asked = 0, skipped = 0;
    const written = { bytes: 0 };
    let usable: number | undefined;
    const t0 = performance.now();
    for (let i = 0; i < ops.length; i++) {
      if (this.enospc >= limit) { skipped = ops.length - i; break; }
      const op = ops[i]!;
      if (op.op === 'write' || op.op === 'append') asked += op.len;
      const before = this.enospc;
      if (this.op_apply(op, written)) ok++;
      // a write that ran out of space part-way still wrote its first bytes: they count
      if (usable === undefined && this.enospc > before) usable = written.bytes;
      if ((i + 1) % every === 0) this.opts.progress?.(i + 1, ops.length);
    }
    this.opts.progress?.(ops.length - skipped, ops.length);
    return {
      ops: ops.length,
      opsOk: ok,
      opsSkipped: skipped,
      askedBytes: asked,
      writtenBytes: written.bytes,
      ...(usable !== undefined ? { usableBytes: usable } : {}),
      errors: this.errors,
      enospc: this.enospc,
      mismatches: this.mismatches,
      runMs: Math.round(performance.now() - t0),
    };
  }

  /** Applies one operation; true when it succeeded. */
  private op_apply(op: Op, written: { bytes: number }): boolean {
    try {
      switch (op.op) {
        case 'create': {
          this.fs.closeSync(this.fs.openSync(this.abs(op.path), this.fs.constants.O_CREAT | this.fs.constants.O_WRONLY | this.fs.constants.O_TRUNC, op.mode ?? 0o644));
          this.model.create(op.path);
          return true;
        }
        case 'write':
        case 'append': {
          const append = op.op === 'append';
          const data = gen_bytes(op.gen, op.len);
          const fd = this.fs.openSync(this.abs(op.path), this.fs.constants.O_WRONLY | (append ? this.fs.constants.O_APPEND : 0));
          const f = this.model.file(op.path);
          let off = append ? (f?.size ?? 0) : op.off;
          let done = 0;
          try {
            if (append && f && f.size !== f.sizeMax) off = this.fs.fstatSync(fd).size;
            if (append && f && !f.size_ok(off)) this.mismatch(op.op, `${op.path}: size ${off} before append, model says ${f.size}..${f.sizeMax}`);
            while (done < data.length) {
              done += this.fs.writeSync(fd, data, done, data.length - done, append ? null : off + done);
            }
          } catch (e) {
            const code = errno_of(e);
            if (f) { f.write(off, data.subarray(0, done)); f.write_failed(off + done, data.length - done); }
            written.bytes += done;
            this.fs.closeSync(fd);
            this.fail(op.op, code);
            return false;
          }
          if (f) f.write(off, data);
          written.bytes += done;
          this.fs.closeSync(fd);
          return true;
        }
        case 'truncate': {
          const f = this.model.file(op.path);
          try {
            this.fs.truncateSync(this.abs(op.path), op.size);
          } catch (e) {
            const code = errno_of(e);
            f?.truncate_failed(op.size);
            this.fail(op.op, code);
            return false;
          }
          f?.truncate(op.size);
          return true;
        }
        case 'fsync':
        case 'fdatasync': {
          const f = this.model.file(op.path);
          const fd = this.fs.openSync(this.abs(op.path), this.fs.constants.O_RDONLY);
          try {
            if (op.op === 'fsync') this.fs.fsyncSync(fd); else this.fs.fdatasyncSync(fd);
          } catch (e) {
            const code = errno_of(e);
            f?.sync_failed();
            this.fs.closeSync(fd);
            this.fail(op.op, code);
            return false;
          }
          f?.synced();
          this.fs.closeSync(fd);
          return true;
        }
        case 'read': {
          const fd = this.fs.openSync(this.abs(op.path), this.fs.constants.O_RDONLY);
          const buf = Buffer.alloc(op.len);
          let got = 0;
          try {
            for (;;) {
              const n = this.fs.readSync(fd, buf, got, op.len - got, op.off + got);
              if (n === 0) break;
              got += n;
              if (got === op.len) break;
            }
          } finally {
            this.fs.closeSync(fd);
          }
          const f = this.model.file(op.path);
          if (f) {
            const expectMin = Math.max(0, Math.min(op.len, f.size - op.off));
            if (got < expectMin) this.mismatch('read', `${op.path}: read ${got} bytes at ${op.off}, the file holds at least ${op.off + expectMin}`);
            const bad = f.mismatch(op.off, buf.subarray(0, got));
            if (bad >= 0) this.mismatch('read', `${op.path}: byte ${bad} read back wrong`);
          }
          return true;
        }
        case 'stat': {
          const st = this.fs.statSync(this.abs(op.path));
          const f = this.model.file(op.path);
          if (f && !f.size_ok(st.size)) this.mismatch('stat', `${op.path}: size ${st.size}, model says ${f.size}..${f.sizeMax}`);
          return true;
        }
        case 'unlink': this.fs.unlinkSync(this.abs(op.path)); this.model.remove(op.path); return true;
        case 'rmdir': this.fs.rmdirSync(this.abs(op.path)); this.model.remove(op.path); return true;
        case 'mkdir': this.fs.mkdirSync(this.abs(op.path), op.mode ?? 0o755); this.model.mkdir(op.path); return true;
        case 'rename': {
          this.fs.renameSync(this.abs(op.path), this.abs(op.to));
          if (this.model.get(op.path)) this.model.rename(op.path, op.to);
          else this.mismatch('rename', `${op.path}: renamed, but the model says it does not exist`);
          return true;
        }
        case 'chmod': {
          this.fs.chmodSync(this.abs(op.path), op.mode);
          const n = this.model.get(op.path);
          if (n?.kind === 'file') n.file.mode = op.mode; else if (n) n.mode = op.mode;
          return true;
        }
        case 'sync': {
          // sync -f: syncfs(2) on the mount (Node has no binding for sync or syncfs)
          const [cmd, ...args] = this.opts.syncCommand ?? ['sync', '-f'];
          const r = this.opts.syncfs ? syncfs_call(this.opts.syncfs, this.dir) : spawnSync(cmd!, [...args, this.dir], { stdio: ['ignore', 'ignore', 'pipe'] });
          const files = this.model.files();
          if (r.status !== 0) {
            for (const [, f] of files) f.sync_failed();
            const m = /\((E[A-Z]+)\)|: (.*)$/.exec(r.stderr?.toString() ?? '');
            this.fail('sync', m?.[1] ?? 'EIO');
            return false;
          }
          for (const [, f] of files) f.synced();
          return true;
        }
      }
    } catch (e) {
      this.fail(op.op, errno_of(e));
      return false;
    }
  }

  /** Compares the directory tree with the model, byte for byte. `dir` defaults to the replay dir
   *  (a runner may verify after an unmount and a fresh mount elsewhere, through `via`). */
  verify(dir = this.dir, via: ReplayFs = this.fs): VerifyResult {
    const fs = via;
    const t0 = performance.now();
    const bad: string[] = [];
    let badCount = 0;
    const report = (what: string): void => { badCount++; if (bad.length < BAD_LIST_MAX) bad.push(what); };
    const seen = new Set<string>();
    const walk = (rel: string): void => {
      let entries: { name: string; isFile(): boolean; isDirectory(): boolean }[];
      try {
        entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true });
      } catch (e) {
        report(`${rel || '.'}: cannot list (${errno_of(e)})`);
        return;
      }
      for (const d of entries) {
        const p = rel ? `${rel}/${d.name}` : d.name;
        if (!rel && d.name === 'lost+found' && d.isDirectory() && !this.model.get(p)) continue;
        seen.add(p);
        const n = this.model.get(p);
        if (!n) { report(`${p}: exists but the trace never left it there`); continue; }
        if (n.kind === 'dir') {
          if (!d.isDirectory()) { report(`${p}: should be a directory`); continue; }
          walk(p);
        } else if (!d.isFile()) {
          report(`${p}: should be a regular file`);
        }
      }
    };
    walk('');
    let checked = 0;
    for (const [p, n] of this.model.nodes) {
      if (p === '') continue;
      if (!seen.has(p)) { report(`${p}: missing (the trace left a ${n.kind === 'dir' ? 'directory' : 'file'} there)`); continue; }
      if (n.kind === 'dir') {
        if (n.mode !== null) {
          const st = fs.statSync(path.join(dir, p));
          if ((st.mode & 0o7777) !== n.mode) report(`${p}: mode ${(st.mode & 0o7777).toString(8)}, expected ${n.mode.toString(8)}`);
        }
        continue;
      }
      checked++;
      const why = file_check(fs, path.join(dir, p), n.file);
      if (why) report(`${p}: ${why}`);
    }
    if (badCount > bad.length) bad.push(`... and ${badCount - bad.length} more`);
    return { ok: badCount === 0, filesChecked: checked, bad, verifyMs: Math.round(performance.now() - t0) };
  }
}

/** An in-process syncfs, answered like `sync -f`. */
function syncfs_call(f: (dir: string) => void, dir: string): { status: number; stderr: string } {
  try {
    f(dir);
    return { status: 0, stderr: '' };
  } catch (e) {
    return { status: 1, stderr: `(${errno_of(e)})` };
  }
}

/** Why the file at `abs` does not hold what the model says, or null. */
function file_check(fs: ReplayFs, abs: string, f: FileModel): string | null {
  let fd: number;
  try {
    fd = fs.openSync(abs, fs.constants.O_RDONLY);
  } catch (e) {
    return `cannot open (${errno_of(e)})`;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!f.size_ok(st.size)) {
      return f.size === f.sizeMax ? `size ${st.size}, expected ${f.size}` : `size ${st.size}, expected ${f.size}..${f.sizeMax}`;
    }
    if (f.mode !== null && (st.mode & 0o7777) !== f.mode) return `mode ${(st.mode & 0o7777).toString(8)}, expected ${f.mode.toString(8)}`;
    const buf = Buffer.alloc(READ_CHUNK);
    for (let off = 0; off < st.size; off += READ_CHUNK) {
      const want = Math.min(READ_CHUNK, st.size - off);
      let got = 0;
      while (got < want) {
        const n = fs.readSync(fd, buf, got, want - got, off + got);
        if (n === 0) return `short read at ${off + got} of ${st.size}`;
        got += n;
      }
      const at = f.mismatch(off, buf.subarray(0, want));
      if (at >= 0) {
        const expect = f.read(at, 1)[0]!, found = buf[at - off]!;
        return `content differs at byte ${at} (expected 0x${expect.toString(16).padStart(2, '0')}, found 0x${found.toString(16).padStart(2, '0')})`;
      }
    }
    return null;
  } catch (e) {
    return `read failed (${errno_of(e)})`;
  } finally {
    fs.closeSync(fd);
  }
}

/** Applies a trace to `dir` and verifies the result in place. */
export function replay(trace: Trace, dir: string, opts: ReplayOptions = {}): ReplayResult {
  const r = new Replayer(trace, dir, opts);
  const applied = r.apply();
  return { ...applied, verify: r.verify() };
}

/** A one-paragraph account of a replay for a terminal. */
export function replay_summary(r: ReplayResult): string {
  const errs = Object.entries(r.errors).map(([k, e]) => `${k}: ${Object.entries(e).map(([c, n]) => `${c} x${n}`).join(', ')}`);
  return [
    `${r.opsOk}/${r.ops} operations succeeded${r.opsSkipped ? ` (${r.opsSkipped} skipped after the ENOSPC limit)` : ''}, ` +
      `${r.askedBytes} bytes asked, ${r.writtenBytes} written, ${r.runMs} ms`,
    errs.length ? `errors: ${errs.join('; ')}` : 'errors: none',
    ...(r.usableBytes !== undefined ? [`bytes written before the first ENOSPC: ${r.usableBytes}`] : []),
    r.verify.ok
      ? `verify: all ${r.verify.filesChecked} files hold what the trace implies`
      : `verify: FAILED, ${r.verify.bad.length} problems:\n  ${r.verify.bad.join('\n  ')}`,
  ].join('\n');
}

function main(argv: string[]): number {
  const usage = 'usage: node dist/src/workload/replay.js TRACE DIR [--result FILE]';
  const pos: string[] = [];
  let resultPath: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--result') resultPath = argv[++i];
    else if (a === '-h' || a === '--help') { process.stdout.write(usage + '\n'); return 0; }
    else if (a.startsWith('-')) { process.stderr.write(`replay: unknown option ${a}\n${usage}\n`); return 2; }
    else pos.push(a);
  }
  if (pos.length !== 2) { process.stderr.write(usage + '\n'); return 2; }
  const [tracePath, dir] = pos as [string, string];
  let trace: Trace;
  try {
    if (!nodefs.statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
    trace = trace_read(tracePath);
  } catch (e) {
    process.stderr.write(`replay: ${e instanceof TraceError ? e.message : (e as Error).message}\n`);
    return 2;
  }
  const r = replay(trace, dir, {
    progress: (d, t) => process.stderr.write(`replay: ${d}/${t} operations\n`),
  });
  process.stdout.write(replay_summary(r) + '\n');
  if (resultPath) nodefs.writeFileSync(resultPath, JSON.stringify(r, null, 2) + '\n');
  return r.verify.ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
