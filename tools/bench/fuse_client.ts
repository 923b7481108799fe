// The client of make bench-fuse: one measurement on one mounted filesystem, run in its own
// process (never the one serving the mount), printing one JSON object.
//
//   node dist/tools/bench/fuse_client.js PHASE DIR [options]
//     seqwrite   a file of --mib MiB in 1 MiB writes, then fsync        → MB/s (fsync included)
//     seqread    that file in 1 MiB reads (the caller drops caches first) → MB/s
//     randsync   4 KiB writes at random aligned offsets of a --mib MiB file, each followed by
//                fsync, for --seconds (at most --ops)                    → operations/s
//     meta       --files empty files created, then stat'ed, then unlinked → three rates
//   --target PATH: the data phases work on PATH instead of DIR/seq and DIR/rand (a block device:
//   what the device itself does for the same requests, with no filesystem)
//
// Invariants: the same code, sizes and seeds for every filesystem; timing covers only the
// operations measured (the random-write file is written and fsync'd before the clock starts).

import fs from 'node:fs';
import path from 'node:path';
import { Prng } from '../../src/util/prng.js';

const MiB = 1 << 20;

interface Args { phase: string; dir: string; mib: number; seconds: number; ops: number; files: number; target: string | undefined }

function args_parse(argv: string[]): Args {
  const [phase, dir, ...rest] = argv;
  if (!phase || !dir) throw new Error('usage: fuse_client.js seqwrite|seqread|randsync|meta DIR [--mib N] [--seconds S] [--ops N] [--files N]');
  const a: Args = { phase, dir, mib: 256, seconds: 5, ops: 20000, files: 5000, target: undefined };
  for (let i = 0; i < rest.length; i += 2) {
    if (rest[i] === '--target') { a.target = rest[i + 1]; continue; }
    const v = Number(rest[i + 1]);
    if (!(v > 0)) throw new Error(`${rest[i]} needs a positive number`);
    if (rest[i] === '--mib') a.mib = v;
    else if (rest[i] === '--seconds') a.seconds = v;
    else if (rest[i] === '--ops') a.ops = v;
    else if (rest[i] === '--files') a.files = v;
    else throw new Error(`unknown option ${rest[i]}`);
  }
  return a;
}

/** The file a data phase works on: DIR/NAME, or --target (a block device: no filesystem at all). */
function target(a: Args, name: string): string {
  return a.target ?? path.join(a.dir, name);
}

function pattern(bytes: number, seed: number): Buffer {
  const rng = new Prng(seed);
  const b = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i += 4) b.writeUInt32LE(rng.u32(), i);
  return b;
}

function seqwrite(a: Args): object {
  const buf = pattern(MiB, 1);
  const file = target(a, 'seq');
  const t0 = performance.now();
  const fd = fs.openSync(file, 'w');
  for (let i = 0; i < a.mib; i++) {
    buf.writeUInt32LE(i, 0); // every MiB differs
    fs.writeSync(fd, buf);
  }
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  const s = (performance.now() - t0) / 1000;
  return { phase: 'seqwrite', mib: a.mib, seconds: s, value: a.mib / s, unit: 'MiB/s' };
}

function seqread(a: Args): object {
  const buf = Buffer.allocUnsafe(MiB);
  const file = target(a, 'seq');
  const t0 = performance.now();
  const fd = fs.openSync(file, 'r');
  let total = 0, n: number;
  while (total < a.mib * MiB && (n = fs.readSync(fd, buf, 0, MiB, null)) > 0) total += n;
  fs.closeSync(fd);
  const s = (performance.now() - t0) / 1000;
  return { phase: 'seqread', mib: total / MiB, seconds: s, value: total / MiB / s, unit: 'MiB/s' };
}

function randsync(a: Args): object {
  const file = target(a, 'rand');
  const fd = fs.openSync(file, 'w+');
  const chunk = pattern(MiB, 2);
  for (let i = 0; i < a.mib; i++) fs.writeSync(fd, chunk);
  fs.fsyncSync(fd);
  const rng = new Prng(3);
  const page = pattern(4096, 4);
  const blocks = (a.mib * MiB) / 4096;
  const t0 = performance.now();
  const end = t0 + a.seconds * 1000;
  let ops = 0;
  while (ops < a.ops && performance.now() < end) {
    page.writeUInt32LE(ops, 0);
    fs.writeSync(fd, page, 0, 4096, rng.int(0, blocks - 1) * 4096);
    fs.fsyncSync(fd);
    ops++;
  }
  const s = (performance.now() - t0) / 1000;
  fs.closeSync(fd);
  return { phase: 'randsync', ops, seconds: s, value: ops / s, unit: 'ops/s' };
}

function meta(a: Args): object {
  const dir = path.join(a.dir, 'meta');
  fs.mkdirSync(dir);
  const names = Array.from({ length: a.files }, (_, i) => path.join(dir, `f${i}`));
  const rate = (fn: (p: string) => void): number => {
    const t0 = performance.now();
    for (const p of names) fn(p);
    return a.files / ((performance.now() - t0) / 1000);
  };
  const create = rate((p) => fs.closeSync(fs.openSync(p, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o644)));
  const stat = rate((p) => { fs.statSync(p); });
  const unlink = rate((p) => fs.unlinkSync(p));
  fs.rmdirSync(dir);
  return { phase: 'meta', files: a.files, create, stat, unlink, unit: 'ops/s' };
}

try {
  const a = args_parse(process.argv.slice(2));
  const run = { seqwrite, seqread, randsync, meta }[a.phase];
  if (!run) throw new Error(`unknown phase ${a.phase}`);
  process.stdout.write(JSON.stringify(run(a)) + '\n');
} catch (e) {
  process.stderr.write(`fuse_client: ${(e as Error).message}\n`);
  process.exit(1);
}
