// The write-amplification floor of a workload trace: the least any filesystem writing whole 4 KiB
// blocks must write to run it with the durability it asks for. bench-waf prints it beside the
// measured WAFs, so that "how close to the floor" is a number, not a claim.
//
// The model (docs/COMPARE.md, the write-amplification sweep):
// - an fsync (or fdatasync) of a file makes the blocks written since its last one durable: it
//   costs the number of distinct 4 KiB blocks dirtied since then, and at least one block when
//   anything of the file changed (the issue's floor: a write of ≤ 4 KiB with fsync is one block);
// - an fsync of a directory costs one block when an entry in it changed since its last one;
// - everything else is written once, at the end (sync or unmount), and only if it is still there:
//   blocks of a file deleted or truncated away before that cost nothing; rewrites of a block
//   between two durability points cost nothing;
// - metadata costs nothing beyond the one block an fsync already counts.
// It is a floor, not an estimate: a real page cache is bounded, a real fsync also writes the
// inode, a journal or a log record. A measured WAF below it means the counting is wrong.
//
// Invariants: floor bytes are a multiple of 4096; asked bytes are the trace header's.

import fs from 'node:fs';
import path from 'node:path';
import { trace_read } from '../../src/workload/trace.js';
import type { Op, TraceHeader } from '../../src/workload/trace.js';

const BLOCK = 4096;

export interface WafFloor {
  askedBytes: number;
  floorBytes: number;
  /** floorBytes ÷ askedBytes */
  floorWaf: number;
  /** fsyncs of files and of directories that cost a block or more */
  fsyncs: number;
  /** of the floor: blocks made durable by fsync, and written once at the end */
  fsyncBytes: number;
  endBytes: number;
}

interface FileState {
  size: number;
  dirty: Set<number>;
  changed: boolean;
}

const parent_of = (p: string): string => {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
};

/** The floor of one trace (its header and operations). */
export function waf_floor(header: Pick<TraceHeader, 'askedBytes'>, ops: readonly Op[]): WafFloor {
  const files = new Map<string, FileState>();
  const dirs = new Map<string, boolean>([['', false]]); // directory → an entry changed since its last fsync
  let fsyncBlocks = 0;
  let fsyncs = 0;
  const file = (p: string): FileState => {
    let f = files.get(p);
    if (!f) { f = { size: 0, dirty: new Set(), changed: true }; files.set(p, f); }
    return f;
  };
  const touch_dir = (p: string): void => { dirs.set(parent_of(p), true); };
  const write = (f: FileState, off: number, len: number): void => {
    if (len === 0) return;
    for (let b = Math.floor(off / BLOCK); b <= Math.floor((off + len - 1) / BLOCK); b++) f.dirty.add(b);
    f.size = Math.max(f.size, off + len);
    f.changed = true;
  };
  const end_blocks = (): number => {
    let n = 0;
    for (const f of files.values()) { n += f.dirty.size; f.dirty.clear(); f.changed = false; }
    for (const d of dirs.keys()) dirs.set(d, false);
    return n;
  };
  let endBlocks = 0;
  for (const o of ops) {
    switch (o.op) {
      case 'create': file(o.path); touch_dir(o.path); break;
      case 'mkdir': dirs.set(o.path, true); touch_dir(o.path); break;
      case 'write': write(file(o.path), o.off, o.len); break;
      case 'append': { const f = file(o.path); write(f, f.size, o.len); break; }
      case 'truncate': {
        const f = file(o.path);
        const keep = Math.ceil(o.size / BLOCK);
        for (const b of [...f.dirty]) if (b >= keep) f.dirty.delete(b);
        f.size = o.size;
        f.changed = true;
        break;
      }
      case 'fsync':
      case 'fdatasync': {
        if (dirs.has(o.path)) {
          if (dirs.get(o.path)) { fsyncBlocks++; fsyncs++; dirs.set(o.path, false); }
          break;
        }
        const f = files.get(o.path);
        if (!f || (!f.changed && f.dirty.size === 0)) break;
        fsyncBlocks += Math.max(1, f.dirty.size);
        fsyncs++;
        f.dirty.clear();
        f.changed = false;
        break;
      }
      case 'unlink': files.delete(o.path); touch_dir(o.path); break;
      case 'rmdir': dirs.delete(o.path); touch_dir(o.path); break;
      case 'rename': {
        const f = files.get(o.path);
        if (f) { files.delete(o.path); files.set(o.to, f); f.changed = true; }
        else if (dirs.has(o.path)) {
          // a directory renamed: its subtree moves with it
          for (const [p, s] of [...files]) if (p.startsWith(o.path + '/')) { files.delete(p); files.set(o.to + p.slice(o.path.length), s); }
          for (const [p, s] of [...dirs]) if (p === o.path || p.startsWith(o.path + '/')) { dirs.delete(p); dirs.set(o.to + p.slice(o.path.length), s); }
        }
        touch_dir(o.path);
        touch_dir(o.to);
        break;
      }
      case 'chmod': {
        const f = files.get(o.path);
        if (f) f.changed = true;
        else touch_dir(o.path);
        break;
      }
      case 'sync': endBlocks += end_blocks(); break;
      case 'read': case 'stat': break;
    }
  }
  endBlocks += end_blocks();
  const floorBytes = (fsyncBlocks + endBlocks) * BLOCK;
  return {
    askedBytes: header.askedBytes,
    floorBytes,
    floorWaf: header.askedBytes > 0 ? floorBytes / header.askedBytes : 0,
    fsyncs,
    fsyncBytes: fsyncBlocks * BLOCK,
    endBytes: endBlocks * BLOCK,
  };
}

/** The floor of a trace file. */
export function waf_floor_file(file: string): WafFloor {
  const t = trace_read(file);
  return waf_floor(t.header, t.ops);
}

// `node dist/tools/bench/waf_floor.js DIR`: the floor of every run kept by
// `make bench-waf WAF_ARGS='--out DIR'`, beside the WAFs measured there.
async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv.includes('--help')) {
    process.stdout.write('usage: node dist/tools/bench/waf_floor.js DIR [--json]\n  DIR: a bench-waf --out directory (DIR/<case>-s<seed>/workload.jsonl and <fs>/result.json)\n');
    return argv.length === 0 ? 2 : 0;
  }
  const dir = argv[0]!;
  const rows: Record<string, unknown>[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const w = path.join(dir, name, 'workload.jsonl');
    if (!fs.existsSync(w)) continue;
    const f = waf_floor_file(w);
    const row: Record<string, unknown> = { run: name, asked: f.askedBytes, floorWaf: f.floorWaf, fsyncs: f.fsyncs };
    for (const fsName of fs.readdirSync(path.join(dir, name))) {
      const r = path.join(dir, name, fsName, 'result.json');
      if (!fs.existsSync(r)) continue;
      const res = JSON.parse(fs.readFileSync(r, 'utf8')) as { askedBytes: number; hostBytes: number };
      row[fsName] = res.hostBytes / res.askedBytes;
    }
    rows.push(row);
  }
  if (argv.includes('--json')) {
    process.stdout.write(JSON.stringify(rows, null, 1) + '\n');
    return 0;
  }
  const fss = [...new Set(rows.flatMap((r) => Object.keys(r).filter((k) => !['run', 'asked', 'floorWaf', 'fsyncs'].includes(k))))].sort();
  process.stdout.write(`| run | fsyncs | floor WAF | ${fss.map((f) => `${f} WAF | ${f} ÷ floor`).join(' | ')} |\n`);
  process.stdout.write(`|:--|--:|--:|${fss.map(() => '--:|--:').join('|')}|\n`);
  for (const r of rows) {
    const fl = r.floorWaf as number;
    const cells = fss.map((f) => (typeof r[f] === 'number' ? `${(r[f] as number).toFixed(2)} | ${((r[f] as number) / fl).toFixed(2)}` : '– | –'));
    process.stdout.write(`| ${r.run as string} | ${(r.fsyncs as number).toLocaleString('en-US')} | ${fl.toFixed(2)} | ${cells.join(' | ')} |\n`);
  }
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then((c) => { process.exitCode = c; }, (e: Error) => { process.stderr.write(`waf_floor: ${e.message}\n`); process.exitCode = 1; });
}
