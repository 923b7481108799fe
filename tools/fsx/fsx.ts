// fsx for cowlog: random writes, truncates, holes, appends and reads on one file, each checked
// byte for byte against an in-memory model of what the file must hold (after the fsx of the
// BSD and Linux test suites).
//
//   node dist/tools/fsx/fsx.js [options] FILE
//
// Invariants:
// - Every operation is drawn from a seeded PRNG: the same seed replays the same run, and a
//   failure prints the seed and the operations that led to it.
// - The model is the truth: a read (at any offset, also across the end of file), fstat's size
//   and, for files too large to be inline, st_blocks (at least every 4 KiB block holding a
//   non-zero byte, at most the blocks below the end of file) must agree with it. With
//   --writeback (a mount whose kernel keeps a writeback cache: written data reaches the
//   filesystem, which reports st_blocks, only when the kernel writes it back) the lower bound is
//   checked right after an fsync of the file.
// - The file is closed and opened again now and then: the kernel drops its page cache of a FUSE
//   file at open, so reads go to the filesystem itself, not to the kernel's copy.
// - It runs in its own process: never inside the process serving the mount.

import fs from 'node:fs';
import { Prng } from '../../src/util/prng.js';

const USAGE = `usage: node dist/tools/fsx/fsx.js [options] FILE

Random operations on FILE (created, truncated to empty first) checked against a model.

options:
  --ops N            operations to run (default 10000)
  --seed N           PRNG seed (default 1)
  --max-size BYTES   largest file size (default 4 MiB)
  --max-io BYTES     largest single read or write (default 256 KiB)
  --reopen PCT       chance in percent that an operation is preceded by close + open (default 2)
  --writeback        the mount keeps a kernel writeback cache: st_blocks must count the data
                     once an fsync has sent it, not before (checked after an fsync)
  --quiet            print only the summary or the failure
`;

export interface FsxOptions {
  ops: number;
  seed: number;
  maxSize: number;
  maxIo: number;
  reopenPct: number;
  writeback: boolean;
  quiet: boolean;
}

type OpName = 'write' | 'read' | 'truncate' | 'append' | 'hole' | 'fsync' | 'fdatasync' | 'stat' | 'reopen';

/** Relative weights of the operations. */
const WEIGHTS: [OpName, number][] = [
  ['write', 30], ['read', 30], ['truncate', 8], ['append', 8], ['hole', 6], ['fsync', 3], ['fdatasync', 3], ['stat', 8],
];
const WEIGHT_SUM = WEIGHTS.reduce((s, [, w]) => s + w, 0);
const BLOCK = 4096;
/** cowlog keeps files up to this size inside the tree, where st_blocks counts 512-byte units of the size */
const INLINE_MAX = 1536;

export class FsxFailure extends Error {}

export interface FsxResult {
  ops: number;
  counts: Record<string, number>;
  bytesWritten: number;
  bytesRead: number;
  finalSize: number;
}

function fill(rng: Prng, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let i = 0;
  for (; i + 4 <= n; i += 4) b.writeUInt32LE(rng.u32(), i);
  for (; i < n; i++) b[i] = rng.u32() & 0xff;
  return b;
}

export function fsx_run(file: string, o: FsxOptions, say: (s: string) => void = () => {}): FsxResult {
  const rng = new Prng(o.seed);
  let model = Buffer.alloc(0);
  const history: string[] = [];
  const counts: Record<string, number> = {};
  let bytesWritten = 0, bytesRead = 0;
  let fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o644);
  let afd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND);

  const note = (s: string): void => {
    history.push(s);
    if (history.length > 64) history.shift();
  };
  const fail = (i: number, why: string): never => {
    throw new FsxFailure(`fsx: operation ${i} failed (seed ${o.seed}): ${why}\nlast operations:\n  ${history.join('\n  ')}`);
  };
  const resize = (size: number): void => {
    if (size === model.length) return;
    const nb = Buffer.alloc(size);
    model.copy(nb, 0, 0, Math.min(size, model.length));
    model = nb;
  };
  const write_at = (off: number, data: Buffer): void => {
    if (off + data.length > model.length) resize(off + data.length);
    data.copy(model, off);
  };
  const check_read = (i: number, off: number, len: number): void => {
    const buf = Buffer.alloc(len);
    let got = 0;
    while (got < len) {
      const n = fs.readSync(fd, buf, got, len - got, off + got);
      if (n === 0) break;
      got += n;
    }
    bytesRead += got;
    const want = Math.max(0, Math.min(len, model.length - off));
    if (got !== want) fail(i, `read of ${len} at ${off} returned ${got} bytes, the model holds ${want} there (size ${model.length})`);
    const a = buf.subarray(0, got);
    const b = model.subarray(off, off + want);
    if (!a.equals(b)) {
      let k = 0;
      while (k < got && a[k] === b[k]) k++;
      fail(i, `read of ${len} at ${off}: byte ${off + k} is 0x${a[k]!.toString(16)}, the model has 0x${b[k]!.toString(16)}`);
    }
  };
  const check_stat = (i: number, deep: boolean): void => {
    let st = fs.fstatSync(fd);
    if (st.size !== model.length) fail(i, `fstat size ${st.size}, the model's is ${model.length}`);
    const top = Math.ceil(model.length / BLOCK) * BLOCK;
    if (st.blocks * 512 > Math.max(top, Math.ceil(model.length / 512) * 512)) {
      fail(i, `st_blocks ${st.blocks} (${st.blocks * 512} bytes) exceeds the ${top} bytes below the end of file`);
    }
    if (deep && model.length > INLINE_MAX) {
      if (o.writeback) {
        fs.fsyncSync(fd);
        st = fs.fstatSync(fd);
      }
      let used = 0;
      for (let p = 0; p < model.length; p += BLOCK) {
        const end = Math.min(p + BLOCK, model.length);
        for (let q = p; q < end; q++) if (model[q] !== 0) { used++; break; }
      }
      if (st.blocks * 512 < used * BLOCK) fail(i, `st_blocks ${st.blocks} is less than the ${used} blocks holding data (a sparse file must still count its data)`);
    }
  };
  const pick = (): OpName => {
    let r = rng.int(0, WEIGHT_SUM - 1);
    for (const [name, w] of WEIGHTS) {
      if (r < w) return name;
      r -= w;
    }
    return 'read';
  };
  const io_len = (): number => {
    // mostly small, sometimes large: both the page-sized and the 128 KiB paths get exercised
    const r = rng.float();
    if (r < 0.5) return rng.int(1, 4096);
    if (r < 0.85) return rng.int(1, 65536);
    return rng.int(1, o.maxIo);
  };

  try {
    for (let i = 1; i <= o.ops; i++) {
      if (rng.int(0, 99) < o.reopenPct) {
        fs.closeSync(fd);
        fs.closeSync(afd);
        fd = fs.openSync(file, fs.constants.O_RDWR);
        afd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND);
        note(`${i}: reopen`);
        counts['reopen'] = (counts['reopen'] ?? 0) + 1;
      }
      const op = pick();
      counts[op] = (counts[op] ?? 0) + 1;
      switch (op) {
        case 'write': {
          const len = Math.min(io_len(), o.maxSize);
          const off = rng.int(0, Math.max(0, Math.min(o.maxSize - len, model.length + 65536)));
          const data = fill(rng, len);
          note(`${i}: write ${len} at ${off} (size ${model.length})`);
          const n = fs.writeSync(fd, data, 0, len, off);
          if (n !== len) fail(i, `write of ${len} at ${off} wrote ${n}`);
          write_at(off, data);
          bytesWritten += len;
          break;
        }
        case 'hole': {
          // a write well past the end of file: the gap must read as zeros and cost no blocks
          const len = rng.int(1, 8192);
          const gap = rng.int(BLOCK, 1 << 20);
          const off = Math.min(model.length + gap, o.maxSize - len);
          if (off < model.length) { counts[op]!--; break; }
          const data = fill(rng, len);
          note(`${i}: hole: write ${len} at ${off} (size ${model.length})`);
          fs.writeSync(fd, data, 0, len, off);
          write_at(off, data);
          bytesWritten += len;
          break;
        }
        case 'append': {
          const len = Math.min(io_len(), Math.max(1, o.maxSize - model.length));
          if (model.length + len > o.maxSize) { counts[op]!--; break; }
          const data = fill(rng, len);
          note(`${i}: append ${len} (size ${model.length})`);
          fs.writeSync(afd, data);
          write_at(model.length, data);
          bytesWritten += len;
          break;
        }
        case 'read': {
          const len = io_len();
          const off = rng.int(0, model.length + 4096);
          note(`${i}: read ${len} at ${off} (size ${model.length})`);
          check_read(i, off, len);
          break;
        }
        case 'truncate': {
          const r = rng.float();
          const size = r < 0.3 ? rng.int(0, Math.min(model.length, o.maxSize)) : r < 0.6 ? rng.int(0, o.maxSize) : Math.max(0, model.length - rng.int(0, 8192));
          note(`${i}: truncate to ${size} (size ${model.length})`);
          fs.ftruncateSync(fd, size);
          resize(size);
          break;
        }
        case 'fsync':
          note(`${i}: fsync`);
          fs.fsyncSync(fd);
          break;
        case 'fdatasync':
          note(`${i}: fdatasync`);
          fs.fdatasyncSync(fd);
          break;
        case 'stat':
          note(`${i}: fstat (size ${model.length})`);
          check_stat(i, rng.int(0, 9) === 0);
          break;
        case 'reopen':
          break;
      }
      if (!o.quiet && i % 1000 === 0) say(`fsx: ${i} operations, size ${model.length}`);
    }
    // the whole file once more, from a fresh descriptor
    fs.closeSync(fd);
    fd = fs.openSync(file, fs.constants.O_RDWR);
    note('final: reopen and read the whole file');
    check_stat(o.ops + 1, true);
    for (let off = 0; off < model.length + 1; off += 1 << 20) check_read(o.ops + 1, off, 1 << 20);
  } catch (e) {
    if (e instanceof FsxFailure) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new FsxFailure(`fsx: ${err.code ?? ''} ${err.message} (seed ${o.seed})\nlast operations:\n  ${history.join('\n  ')}`);
  } finally {
    try { fs.closeSync(fd); } catch { /* closed */ }
    try { fs.closeSync(afd); } catch { /* closed */ }
  }
  return { ops: o.ops, counts, bytesWritten, bytesRead, finalSize: model.length };
}

function args_parse(argv: string[]): { file: string; o: FsxOptions } | string {
  const o: FsxOptions = { ops: 10000, seed: 1, maxSize: 4 << 20, maxIo: 256 << 10, reopenPct: 2, writeback: false, quiet: false };
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${a} needs a non-negative integer`);
      return v;
    };
    if (a === '--help' || a === '-h') return USAGE;
    else if (a === '--ops') o.ops = num();
    else if (a === '--seed') o.seed = num();
    else if (a === '--max-size') o.maxSize = Math.max(1, num());
    else if (a === '--max-io') o.maxIo = Math.max(1, num());
    else if (a === '--reopen') o.reopenPct = Math.min(100, num());
    else if (a === '--quiet') o.quiet = true;
    else if (a === '--writeback') o.writeback = true;
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else if (file === undefined) file = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (file === undefined) throw new Error('FILE is missing');
  return { file, o };
}

function main(argv: string[]): number {
  let parsed;
  try {
    parsed = args_parse(argv);
  } catch (e) {
    process.stderr.write(`fsx: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (typeof parsed === 'string') {
    process.stdout.write(parsed);
    return 0;
  }
  const t0 = performance.now();
  try {
    const r = fsx_run(parsed.file, parsed.o, (s) => process.stderr.write(s + '\n'));
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    process.stdout.write(`fsx: ${r.ops} operations on ${parsed.file} (seed ${parsed.o.seed}) in ${s} s: ok; ` +
      `${Object.entries(r.counts).map(([k, n]) => `${k} ${n}`).join(', ')}; ${r.bytesWritten} bytes written, ${r.bytesRead} read, final size ${r.finalSize}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) process.exit(main(process.argv.slice(2)));
