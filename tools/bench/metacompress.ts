// Would compressing metadata pay? Runs three metadata-heavy workloads on the engine and, for
// every B+tree node, redo block and table block written, measures its lz4 size. Between two
// flushes of the device (one durability point: a checkpoint or an fsync group) the blocks of one
// kind could have been packed, compressed, several to a block: the estimate is
// ceil(Σ (lz4 size + 8 bytes of per-record header) / 4092) per kind and interval, against the
// blocks really written. docs/DESIGN.md quotes the result.
//
// Usage: node dist/tools/bench/metacompress.js

import { createRequire } from 'node:module';
import { MemoryDevice } from '../../src/device/memory.js';
import type { BlockDevice } from '../../src/device/device.js';
import type { WriteTag } from '../../src/device/cause.js';
import { CAUSE_NAMES } from '../../src/device/cause.js';
import { FileSystem } from '../../src/fs/fs.js';
import { Prng } from '../../src/util/prng.js';
import { log_text } from './text.js';

const lz4 = createRequire(import.meta.url)('lz4-wasm-nodejs') as { compress(b: Uint8Array): Uint8Array };
const KINDS = new Set(['node', 'redo', 'redo-patch', 'nat', 'rct', 'sut', 'sst', 'snap', 'table-dir', 'journal']);

class MeasuringDevice implements BlockDevice {
  readonly blockCount: number;
  readonly name = 'measuring';
  /** per kind: blocks written, blocks if packed compressed */
  readonly by = new Map<string, { blocks: number; packed: number; lz4Bytes: number }>();
  private pending = new Map<string, number>();
  constructor(private readonly dev: BlockDevice) { this.blockCount = dev.blockCount; }
  read(addr: number, count = 1): Buffer { return this.dev.read(addr, count); }
  write(addr: number, data: Uint8Array, tag?: WriteTag): void {
    const kind = CAUSE_NAMES[tag?.cause ?? 0] ?? 'unknown';
    if (KINDS.has(kind)) {
      for (let o = 0; o < data.length; o += 4096) {
        const n = lz4.compress(data.subarray(o, o + 4096)).length;
        const e = this.by.get(kind) ?? { blocks: 0, packed: 0, lz4Bytes: 0 };
        e.blocks++;
        e.lz4Bytes += n;
        this.by.set(kind, e);
        this.pending.set(kind, (this.pending.get(kind) ?? 0) + n + 8);
      }
    }
    this.dev.write(addr, data, tag);
  }
  flush(): void {
    for (const [kind, bytes] of this.pending) this.by.get(kind)!.packed += Math.ceil(bytes / 4092);
    this.pending.clear();
    this.dev.flush();
  }
  discard(addr: number, count: number): void { this.dev.discard(addr, count); }
  close(): void { this.dev.close(); }
}

function run(name: string, work: (fs: FileSystem) => void): void {
  const mem = new MemoryDevice(65536);
  FileSystem.mkfs(mem, {});
  const dev = new MeasuringDevice(mem);
  const fs = FileSystem.mount(dev, {});
  work(fs);
  fs.unmount();
  dev.flush();
  let blocks = 0, packed = 0;
  const parts: string[] = [];
  for (const [k, e] of [...dev.by].sort((a, b) => b[1].blocks - a[1].blocks)) {
    blocks += e.blocks;
    packed += e.packed;
    parts.push(`${k} ${e.blocks} → ${e.packed} (lz4 ${(e.lz4Bytes / e.blocks / 4096 * 100).toFixed(0)} %)`);
  }
  process.stdout.write(`| ${name} | ${blocks} | ${packed} | ${((1 - packed / blocks) * 100).toFixed(0)} % | ${parts.join('; ')} |\n`);
}

process.stdout.write('| workload | metadata blocks written | packed and compressed (estimate) | saved | by kind: written → packed (mean lz4 size of one block) |\n|---|---:|---:|---:|---|\n');
run('20,000 small files in 100 directories, sync every 500', (fs) => {
  const dirs: number[] = [];
  for (let d = 0; d < 100; d++) dirs.push(fs.mkdir(1, `d${d}`, 0o755).ino);
  for (let i = 0; i < 20000; i++) {
    const f = fs.create(dirs[i % 100]!, `file-${i}.txt`, 0o644);
    fs.write(f.ino, 0, log_text(i, 200 + (i % 1200)));
    if (i % 500 === 499) fs.sync();
  }
});
run('30,000 appends of 100 bytes with fsync, 50 log files', (fs) => {
  const files = Array.from({ length: 50 }, (_, i) => fs.create(1, `log${i}`, 0o644).ino);
  const size = new Array<number>(50).fill(0);
  for (let i = 0; i < 30000; i++) {
    const k = i % 50;
    fs.write(files[k]!, size[k]!, log_text(i, 100));
    size[k]! += 100;
    fs.fsync(files[k]!);
  }
});
run('20,000 random 4 KiB overwrites of a 64 MiB file, sync every 1,000', (fs) => {
  const f = fs.create(1, 'db', 0o644).ino;
  for (let off = 0; off < 64 << 20; off += 1 << 20) fs.write(f, off, log_text(off, 1 << 20));
  fs.sync();
  const rng = new Prng(5);
  for (let i = 0; i < 20000; i++) {
    fs.write(f, rng.int(0, 16383) * 4096, log_text(i, 4096));
    if (i % 1000 === 999) fs.sync();
  }
});
