// make bench-engine: the engine's own speed, without FUSE, on a memory device and on a file
// device (an image file in /var/tmp, flushed with fdatasync).
//
//   sequential write   one 192 MiB file written in 128 KiB pieces, then fsync
//   sequential read    the same file read back in 128 KiB pieces (caches dropped first)
//   random 4 KiB       20,000 writes at random aligned offsets of a 64 MiB file, then fsync
//   random 4 KiB+fsync 2,000 writes, each followed by fsync
//   creates            20,000 empty files in directories of 1,000, then sync
//   overwrites in lz4  small overwrites inside a 32 MiB file of log text, stored with lz4 and
//                      without (one run, so the ratio is what counts): each 100-byte write into
//                      a compressed cluster reads, decompresses and rewrites its whole cluster
//
// Usage: node dist/tools/bench/engine.js [--quick] [--json FILE]

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MemoryDevice } from '../../src/device/memory.js';
import { device_open } from '../../src/device/file.js';
import type { BlockDevice } from '../../src/device/device.js';
import { FileSystem } from '../../src/fs/fs.js';
import { Prng } from '../../src/util/prng.js';
import { log_text } from './text.js';

const MiB = 1 << 20;
const quick = process.argv.includes('--quick');
const jsonAt = process.argv.indexOf('--json');
const jsonFile = jsonAt > 0 ? process.argv[jsonAt + 1] : undefined;

interface Row {
  device: string;
  test: string;
  value: number;
  unit: string;
  detail: string;
}

function now(): number {
  return performance.now();
}

function fresh(devName: 'memory' | 'file', bytes: number, compress: 'lz4' | 'none' = 'none'): { dev: BlockDevice; fs: FileSystem; done: () => void } {
  let dev: BlockDevice;
  let img = '';
  if (devName === 'memory') dev = new MemoryDevice(bytes / 4096);
  else {
    const dir = fs.existsSync('/var/tmp') ? '/var/tmp' : os.tmpdir();
    img = path.join(dir, `cowlog-bench-${process.pid}.img`);
    fs.writeFileSync(img, '');
    fs.truncateSync(img, bytes);
    dev = device_open(img);
  }
  FileSystem.mkfs(dev, { compress });
  const filesystem = FileSystem.mount(dev, {});
  return {
    dev, fs: filesystem,
    done: () => {
      try { filesystem.unmount(); } catch { /* already */ }
      dev.close();
      if (img) fs.rmSync(img, { force: true });
    },
  };
}

function bench_seq(devName: 'memory' | 'file', rows: Row[]): void {
  const size = (quick ? 48 : 192) * MiB;
  const { fs: f, done } = fresh(devName, 512 * MiB);
  try {
    const chunk = Buffer.alloc(128 << 10);
    new Prng(1).fill(chunk);
    const a = f.create(1, 'seq', 0o644);
    const t0 = now();
    for (let off = 0; off < size; off += chunk.length) f.write(a.ino, off, chunk);
    f.fsync(a.ino);
    const ws = (now() - t0) / 1000;
    rows.push({ device: devName, test: 'sequential write', value: size / MiB / ws, unit: 'MB/s', detail: `${size / MiB} MiB in 128 KiB writes + fsync, ${ws.toFixed(2)} s` });
    f.cache_drop();
    const t1 = now();
    let sum = 0;
    for (let off = 0; off < size; off += chunk.length) sum += f.read(a.ino, off, chunk.length).length;
    const rs = (now() - t1) / 1000;
    if (sum !== size) throw new Error(`read back ${sum} bytes of ${size}`);
    rows.push({ device: devName, test: 'sequential read', value: size / MiB / rs, unit: 'MB/s', detail: `${size / MiB} MiB in 128 KiB reads, CRC-checked, ${rs.toFixed(2)} s` });
  } finally {
    done();
  }
}

function bench_random(devName: 'memory' | 'file', rows: Row[]): void {
  const { fs: f, done } = fresh(devName, 256 * MiB);
  try {
    const fileBytes = 64 * MiB;
    const a = f.create(1, 'rand', 0o644);
    const chunk = Buffer.alloc(128 << 10, 1);
    for (let off = 0; off < fileBytes; off += chunk.length) f.write(a.ino, off, chunk);
    f.sync();
    const rng = new Prng(2);
    const block = Buffer.alloc(4096);
    const n = quick ? 5000 : 20000;
    const t0 = now();
    for (let i = 0; i < n; i++) {
      rng.fill(block.subarray(0, 64));
      f.write(a.ino, rng.int(0, fileBytes / 4096 - 1) * 4096, block);
    }
    f.fsync(a.ino);
    const s = (now() - t0) / 1000;
    rows.push({ device: devName, test: 'random 4 KiB writes', value: n / s, unit: 'ops/s', detail: `${n} writes over a 64 MiB file, page cache bounded, then fsync; ${s.toFixed(2)} s` });
    const m = quick ? 500 : 2000;
    const t1 = now();
    for (let i = 0; i < m; i++) {
      rng.fill(block.subarray(0, 64));
      f.write(a.ino, rng.int(0, fileBytes / 4096 - 1) * 4096, block);
      f.fsync(a.ino);
    }
    const s1 = (now() - t1) / 1000;
    rows.push({ device: devName, test: 'random 4 KiB writes + fsync', value: m / s1, unit: 'ops/s', detail: `${m} writes, each followed by fsync; ${s1.toFixed(2)} s` });
  } finally {
    done();
  }
}

function bench_creates(devName: 'memory' | 'file', rows: Row[]): void {
  const { fs: f, done } = fresh(devName, 256 * MiB);
  try {
    const n = quick ? 5000 : 20000;
    const t0 = now();
    let dir = 1;
    for (let i = 0; i < n; i++) {
      if (i % 1000 === 0) dir = f.mkdir(1, `d${i / 1000}`, 0o755).ino;
      f.create(dir, `file-${i}`, 0o644);
    }
    f.sync();
    const s = (now() - t0) / 1000;
    rows.push({ device: devName, test: 'file creates', value: n / s, unit: 'creates/s', detail: `${n} empty files in directories of 1,000, then sync; ${s.toFixed(2)} s` });
  } finally {
    done();
  }
}

/**
 * Small overwrites inside compressed clusters against the same file stored plain: ops/s and
 * data blocks written per overwrite (a read-modify-write of the cluster, against one block).
 */
function bench_rmw(devName: 'memory' | 'file', rows: Row[]): void {
  const fileBytes = 32 * MiB;
  const n = quick ? 2000 : 10000;
  const got: Record<string, { ops: number; blocks: number; fileBlocks: number }> = {};
  for (const mode of ['none', 'lz4'] as const) {
    const { fs: f, done } = fresh(devName, 256 * MiB, mode);
    try {
      const a = f.create(1, 'log', 0o644);
      for (let off = 0; off < fileBytes; off += MiB) f.write(a.ino, off, log_text(off / MiB, MiB));
      f.sync();
      f.cache_drop();
      const rng = new Prng(3);
      const patch = Buffer.alloc(100);
      const before = f.vol.stats.dataBlocksWritten;
      const t0 = now();
      for (let i = 0; i < n; i++) {
        patch.write(`overwrite ${i} `.padEnd(100, '.'));
        f.write(a.ino, rng.int(0, fileBytes - 100), patch);
        // flushed every 64 writes: the page cache does not get to merge the clusters' rewrites
        if (i % 64 === 63) f.sync();
      }
      f.sync();
      const s = (now() - t0) / 1000;
      got[mode] = { ops: n / s, blocks: (f.vol.stats.dataBlocksWritten - before) / n, fileBlocks: f.getattr(a.ino).blocks / 8 };
    } finally {
      done();
    }
  }
  for (const mode of ['none', 'lz4'] as const) {
    const g = got[mode]!;
    rows.push({
      device: devName, test: `100-byte overwrites, ${mode}`, value: g.ops, unit: 'ops/s',
      detail: `${n} at random in 32 MiB of log text (${g.fileBlocks} blocks stored), sync every 64; ${g.blocks.toFixed(2)} data blocks written per overwrite${mode === 'lz4' ? `; ${(g.ops / got['none']!.ops).toFixed(2)}x the speed without lz4` : ''}`,
    });
  }
}

const rows: Row[] = [];
for (const d of ['memory', 'file'] as const) {
  process.stderr.write(`bench-engine: ${d} device ...\n`);
  bench_seq(d, rows);
  bench_random(d, rows);
  bench_creates(d, rows);
  bench_rmw(d, rows);
}
const w = Math.max(...rows.map((r) => r.test.length));
process.stdout.write(`cowlog engine, without FUSE (node ${process.version}, ${os.cpus().length} cores)\n`);
process.stdout.write(`${'device'.padEnd(7)} ${'test'.padEnd(w)} ${'result'.padStart(12)}  detail\n`);
for (const r of rows) process.stdout.write(`${r.device.padEnd(7)} ${r.test.padEnd(w)} ${(r.value.toFixed(r.value >= 100 ? 0 : 1) + ' ' + r.unit).padStart(16)}  ${r.detail}\n`);
if (jsonFile) fs.writeFileSync(jsonFile, JSON.stringify(rows, null, 2));
