// make bench-compress: what lz4 gives on a 64 MiB device, in one run (this machine is shared
// and noisy: ratios between columns of one run are what to quote).
//
//   capacity, text    a tree of real text files (the repository's node_modules, /usr/share/doc)
//                     copied again and again until ENOSPC: bytes of file data stored, cowlog
//                     without and with lz4, btrfs (--mixed) without and with compress=lzo
//   capacity, logs    generated log files (1 MiB each) until ENOSPC, the same four
//   capacity, random  random data until ENOSPC: lz4 must not cost space (≤ 1 % fewer bytes)
//   speed             sequential write (+ fsync) and read of 48 MiB, compressible (logs) and
//                     incompressible (random), without and with lz4, on an image file (writes
//                     land in the host's page cache) and on a modelled slow medium (20 MB/s
//                     written, 40 MB/s read: an SD card or eMMC of a small board)
//
// cowlog runs through the engine on an image file (capacity does not depend on FUSE); btrfs on
// a loop device of the host (root; skipped with a note otherwise).
//
// Usage: node dist/tools/bench/compress.js [--quick] [--json FILE]

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { device_open } from '../../src/device/file.js';
import type { BlockDevice } from '../../src/device/device.js';
import type { WriteTag } from '../../src/device/cause.js';
import { FileSystem } from '../../src/fs/fs.js';
import { FsError } from '../../src/util/errors.js';
import { Prng } from '../../src/util/prng.js';
import { log_text, text_files } from './text.js';

const MiB = 1 << 20;
const DEVICE = 64 * MiB;
const quick = process.argv.includes('--quick');
const jsonAt = process.argv.indexOf('--json');
const jsonFile = jsonAt > 0 ? process.argv[jsonAt + 1] : undefined;
const scratch = fs.mkdtempSync(path.join(fs.existsSync('/var/tmp') ? '/var/tmp' : os.tmpdir(), 'cowlog-bench-compress-'));

type Source = { name: string; files: () => Iterable<{ rel: string; data: Buffer }> };

/** the text tree, read once */
const TEXT = text_files([path.resolve('node_modules'), '/usr/share/doc'], (quick ? 16 : 48) * MiB).map((f) => ({ rel: f.rel, data: fs.readFileSync(f.path) }));
const textBytes = TEXT.reduce((n, f) => n + f.data.length, 0);

const SOURCES: Source[] = [
  { name: 'text files', files: function* () { for (let round = 0; ; round++) for (const f of TEXT) yield { rel: `r${round}/${f.rel}`, data: f.data }; } },
  { name: 'logs', files: function* () { for (let i = 0; ; i++) yield { rel: `log/app-${i}.log`, data: log_text(i, MiB) }; } },
  { name: 'random', files: function* () { const b = Buffer.alloc(MiB); const rng = new Prng(7); for (let i = 0; ; i++) { rng.fill(b); yield { rel: `rnd/r${i}.bin`, data: Buffer.from(b) }; } } },
];

interface Capacity { fs: string; source: string; bytes: number; files: number; note?: string }

/** cowlog: files written (and fsynced every 4 MiB) until ENOSPC; bytes of file data stored. */
function cowlog_fill(source: Source, compress: 'lz4' | 'none'): Capacity {
  const img = path.join(scratch, `cowlog-${compress}.img`);
  fs.writeFileSync(img, '');
  fs.truncateSync(img, DEVICE);
  const dev = device_open(img);
  FileSystem.mkfs(dev, { compress });
  const f = FileSystem.mount(dev, {});
  const dirs = new Map<string, number>([['', 1]]);
  const dir_of = (rel: string): number => {
    const d = path.dirname(rel) === '.' ? '' : path.dirname(rel);
    let ino = dirs.get(d);
    if (ino !== undefined) return ino;
    const parent = dir_of(d);
    ino = f.mkdir(parent, path.basename(d), 0o755).ino;
    dirs.set(d, ino);
    return ino;
  };
  let bytes = 0, files = 0, since = 0;
  try {
    for (const { rel, data } of source.files()) {
      const ino = f.create(dir_of(rel), path.basename(rel), 0o644).ino;
      f.write(ino, 0, data);
      files++;
      bytes += data.length;
      since += data.length;
      if (since >= 4 * MiB) { f.sync(); since = 0; }
    }
  } catch (e) {
    if (!(e instanceof FsError) || e.code !== 'ENOSPC') throw e;
  }
  // what was refused was not counted; what was accepted must reach the device
  f.unmount();
  dev.close();
  fs.rmSync(img, { force: true });
  return { fs: compress === 'lz4' ? 'cowlog lz4' : 'cowlog', source: source.name, bytes, files };
}

/** btrfs --mixed on a loop device, compress option as given: the same files until ENOSPC. */
function btrfs_fill(source: Source, compress: string | null): Capacity {
  const name = compress ? `btrfs ${compress.replace('compress=', '')}` : 'btrfs';
  const img = path.join(scratch, 'btrfs.img');
  fs.writeFileSync(img, '');
  fs.truncateSync(img, DEVICE);
  const mnt = fs.mkdtempSync(path.join(scratch, 'mnt-'));
  let loop = '';
  let mounted = false;
  let bytes = 0, files = 0;
  try {
    loop = execFileSync('losetup', ['-f', '--show', img]).toString().trim();
    execFileSync('mkfs.btrfs', ['-f', '-q', '--mixed', loop]);
    execFileSync('mount', ['-t', 'btrfs', ...(compress ? ['-o', compress] : []), loop, mnt]);
    mounted = true;
    let since = 0;
    try {
      for (const { rel, data } of source.files()) {
        const p = path.join(mnt, rel);
        fs.mkdirSync(path.dirname(p), { recursive: true });
        fs.writeFileSync(p, data);
        files++;
        bytes += data.length;
        since += data.length;
        // btrfs admits writes into its page cache and fails them at writeback: sync often, and
        // count only what a sync accepted
        if (since >= 4 * MiB) { execFileSync('sync', ['-f', mnt]); since = 0; }
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOSPC' && !/No space/.test(String((e as Error).message))) throw e;
    }
    return { fs: name, source: source.name, bytes, files };
  } finally {
    if (mounted) execFileSync('umount', [mnt]);
    if (loop) execFileSync('losetup', ['-d', loop]);
    fs.rmSync(img, { force: true });
  }
}

function btrfs_available(): string | null {
  if (process.getuid?.() !== 0) return 'not root';
  try {
    execFileSync('bash', ['tools/ensure-packages.sh', 'btrfs-progs'], { stdio: 'ignore' });
    execFileSync('modprobe', ['btrfs'], { stdio: 'ignore' });
  } catch { /* /proc/filesystems decides */ }
  return fs.readFileSync('/proc/filesystems', 'utf8').includes('btrfs') ? null : 'no btrfs in this kernel';
}

interface Speed { data: string; compress: string; medium: string; writeMBs: number; readMBs: number; blocks: number }

/**
 * A device that moves bytes no faster than a slow medium (an SD card or eMMC of a small board:
 * 20 MB/s written, 40 MB/s read), over an image file: each request waits out its transfer time.
 * A model, named as such in the table.
 */
class SlowDevice implements BlockDevice {
  readonly blockCount: number;
  readonly name: string;
  private readonly cell = new Int32Array(new SharedArrayBuffer(4));
  constructor(private readonly dev: BlockDevice, private readonly writeBps: number, private readonly readBps: number) {
    this.blockCount = dev.blockCount;
    this.name = `${dev.name} at ${writeBps / 1e6}/${readBps / 1e6} MB/s`;
  }
  private wait(bytes: number, bps: number): void {
    Atomics.wait(this.cell, 0, 0, (bytes / bps) * 1000);
  }
  read(addr: number, count = 1): Buffer {
    this.wait(count * 4096, this.readBps);
    return this.dev.read(addr, count);
  }
  write(addr: number, data: Uint8Array, tag?: WriteTag): void {
    this.wait(data.length, this.writeBps);
    this.dev.write(addr, data, tag);
  }
  flush(): void { this.dev.flush(); }
  discard(addr: number, count: number): void { this.dev.discard(addr, count); }
  close(): void { this.dev.close(); }
}

/** sequential write + fsync and read back of 48 MiB, 128 KiB at a time, on an image file */
function speed(kind: 'logs' | 'random', compress: 'lz4' | 'none', slow: boolean): Speed {
  const size = (quick ? 24 : 48) * MiB;
  const img = path.join(scratch, `speed-${compress}.img`);
  fs.writeFileSync(img, '');
  fs.truncateSync(img, 256 * MiB);
  const file = device_open(img);
  const dev: BlockDevice = slow ? new SlowDevice(file, 20e6, 40e6) : file;
  FileSystem.mkfs(dev, { compress });
  const f = FileSystem.mount(dev, {});
  const chunks: Buffer[] = [];
  const rng = new Prng(11);
  for (let i = 0; i < 16; i++) chunks.push(kind === 'logs' ? log_text(100 + i, 128 << 10) : Buffer.from(rng.fill(new Uint8Array(128 << 10))));
  const a = f.create(1, 'seq', 0o644);
  const t0 = performance.now();
  for (let off = 0, i = 0; off < size; off += 128 << 10, i++) f.write(a.ino, off, chunks[i % chunks.length]!);
  f.fsync(a.ino);
  const ws = (performance.now() - t0) / 1000;
  const blocks = f.getattr(a.ino).blocks / 8;
  f.cache_drop();
  const t1 = performance.now();
  let n = 0;
  for (let off = 0; off < size; off += 128 << 10) n += f.read(a.ino, off, 128 << 10).length;
  const rs = (performance.now() - t1) / 1000;
  if (n !== size) throw new Error(`read ${n} of ${size} bytes`);
  f.unmount();
  dev.close();
  fs.rmSync(img, { force: true });
  return { data: kind, compress, medium: slow ? 'slow medium (20/40 MB/s, modelled)' : 'image file (page cache)', writeMBs: size / MiB / ws, readMBs: size / MiB / rs, blocks };
}

const log = (s: string): void => { process.stderr.write(`bench-compress: ${s}\n`); };
const caps: Capacity[] = [];
const btrfsWhy = btrfs_available();
try {
  log(`text tree: ${TEXT.length} files, ${(textBytes / MiB).toFixed(1)} MiB (node_modules, /usr/share/doc)`);
  for (const src of SOURCES) {
    for (const c of ['none', 'lz4'] as const) { log(`cowlog ${c}, ${src.name} ...`); caps.push(cowlog_fill(src, c)); }
    if (!btrfsWhy) {
      for (const c of [null, 'compress=lzo'] as const) {
        log(`btrfs ${c ?? ''}, ${src.name} ...`);
        try { caps.push(btrfs_fill(src, c)); } catch (e) { caps.push({ fs: c ? `btrfs ${c.slice(9)}` : 'btrfs', source: src.name, bytes: 0, files: 0, note: (e as Error).message.split('\n')[0]! }); }
      }
    }
  }
  const speeds: Speed[] = [];
  for (const slow of [false, true]) {
    for (const k of ['logs', 'random'] as const) for (const c of ['none', 'lz4'] as const) { log(`speed ${k} ${c}${slow ? ' (slow medium)' : ''} ...`); speeds.push(speed(k, c, slow)); }
  }

  const out: string[] = [];
  const date = new Date().toISOString().slice(0, 10);
  out.push(`cowlog bench-compress, ${date}, node ${process.version}, ${os.cpus().length} cores; 64 MiB devices`);
  out.push('');
  out.push('usable capacity: file data stored before ENOSPC (MiB)');
  const fsNames = [...new Set(caps.map((c) => c.fs))];
  out.push(`| data | ${fsNames.join(' | ')} | cowlog lz4 ÷ cowlog |`);
  out.push(`|---|${fsNames.map(() => '---:').join('|')}|---:|`);
  for (const src of SOURCES) {
    const row = fsNames.map((n) => caps.find((c) => c.fs === n && c.source === src.name));
    const plain = caps.find((c) => c.fs === 'cowlog' && c.source === src.name)!.bytes;
    const lz = caps.find((c) => c.fs === 'cowlog lz4' && c.source === src.name)!.bytes;
    out.push(`| ${src.name} | ${row.map((c) => (c ? (c.note ? `failed: ${c.note}` : (c.bytes / MiB).toFixed(1)) : '-')).join(' | ')} | ${(lz / plain).toFixed(3)} |`);
  }
  if (btrfsWhy) out.push(`(btrfs skipped: ${btrfsWhy})`);
  out.push('');
  out.push(`sequential speed, ${quick ? 24 : 48} MiB in 128 KiB requests (MB/s of file data), engine without FUSE`);
  out.push('| device | data | compression | write + fsync | read | blocks stored | write lz4 ÷ none | read lz4 ÷ none |');
  out.push('|---|---|---|---:|---:|---:|---:|---:|');
  for (const s of speeds) {
    const base = speeds.find((x) => x.data === s.data && x.medium === s.medium && x.compress === 'none')!;
    const rel = s.compress === 'lz4' ? [(s.writeMBs / base.writeMBs).toFixed(2), (s.readMBs / base.readMBs).toFixed(2)] : ['', ''];
    out.push(`| ${s.medium} | ${s.data} | ${s.compress} | ${s.writeMBs.toFixed(0)} | ${s.readMBs.toFixed(0)} | ${s.blocks} | ${rel[0]} | ${rel[1]} |`);
  }
  process.stdout.write(out.join('\n') + '\n');
  if (jsonFile) fs.writeFileSync(jsonFile, JSON.stringify({ date, capacity: caps, speed: speeds, textFiles: TEXT.length, textBytes }, null, 2));
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}
