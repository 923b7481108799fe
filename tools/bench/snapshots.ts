// make bench-snapshots: what snapshot operations cost on a filesystem with 10,000 files — the
// time each takes and the bytes it writes to the device — on an image file flushed with
// fdatasync (the engine without FUSE; through a mount the control socket adds about a
// millisecond).
//
//   create           one snapshot of the live tree (then 100 files are changed)
//   create x10       ten snapshots in one request: one checkpoint
//   list (usage)     every snapshot with the bytes deleting it would free
//   diff             a snapshot against the live tree (paths added, removed, changed)
//   delete (N)       a snapshot from which N files (of 10,000) differ: the time follows N
//   clone            a writable copy of a snapshot
//   rollback         the live tree replaced by a snapshot's, the old one kept
//
// Usage: node dist/tools/bench/snapshots.js [--files N] [--json FILE]

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { device_open } from '../../src/device/file.js';
import { FileSystem } from '../../src/fs/fs.js';
import type { SnapRequest } from '../../src/fs/fs.js';
import { WearTracker } from '../../src/wear/tracker.js';
import { fsck } from '../../src/fsck/fsck.js';

const MiB = 1 << 20;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

interface Row {
  op: string;
  ms: number;
  bytes: number;
  checkpoints: number;
  detail: string;
}

function main(): void {
  const files = Number(arg('--files') ?? 10_000);
  const jsonFile = arg('--json');
  const dir = fs.existsSync('/var/tmp') ? '/var/tmp' : os.tmpdir();
  const img = path.join(dir, `cowlog-bench-snap-${process.pid}.img`);
  fs.writeFileSync(img, '');
  fs.truncateSync(img, 256 * MiB);
  const file = device_open(img);
  const dev = new WearTracker(file);
  const rows: Row[] = [];
  try {
    FileSystem.mkfs(dev, {});
    const fsys = FileSystem.mount(dev, {});
    process.stderr.write(`bench-snapshots: ${files} files on a 256 MiB image ...\n`);
    const inos: number[] = [];
    const per = 500;
    for (let d = 0; d * per < files; d++) {
      const dino = fsys.mkdir(1, `d${d}`, 0o755).ino;
      for (let i = d * per; i < Math.min(files, (d + 1) * per); i++) {
        const ino = fsys.create(dino, `f${i}`, 0o644).ino;
        fsys.write(ino, 0, Buffer.alloc(i % 3 === 0 ? 6000 : 700, i & 0xff));
        inos.push(ino);
      }
    }
    fsys.sync();
    const bytes = (): number => Number(dev.toRecord({ fs: 'cowlog', source: 'bench' }).bytes);
    const change = (n: number, tag: number): void => {
      for (let i = 0; i < n; i++) fsys.write(inos[(i * 97 + tag * 13) % inos.length]!, 0, Buffer.alloc(900, tag));
      fsys.sync();
    };
    const measure = (op: string, detail: string, fn: () => void): void => {
      const b0 = bytes();
      const c0 = fsys.vol.stats.checkpoints;
      const t0 = performance.now();
      fn();
      const ms = performance.now() - t0;
      rows.push({ op, ms, bytes: bytes() - b0, checkpoints: fsys.vol.stats.checkpoints - c0, detail });
    };
    const snap = (reqs: SnapRequest[]): void => {
      const r = fsys.snapshot(reqs);
      const bad = r.find((x) => !x.ok);
      if (bad && !bad.ok) throw bad.error;
    };
    measure('create', '1 snapshot', () => snap([{ op: 'create', name: 'base' }]));
    change(100, 1);
    measure('create x10', '10 snapshots, one request', () => snap(Array.from({ length: 10 }, (_, i) => ({ op: 'create' as const, name: `s${i}` }))));
    let listed = 0;
    measure('list (usage)', '11 snapshots, bytes each would free', () => { listed = fsys.snapshot_list({ usage: true }).length; });
    change(100, 2);
    let diffLines = 0;
    measure('diff', 'base against the live tree', () => {
      const d = fsys.snapshot_diff('base', '@live');
      diffLines = d.added.length + d.removed.length + d.changed.length;
    });
    rows[rows.length - 1]!.detail += ` (${diffLines} paths)`;
    // each delete three times (a fresh snapshot, n files changed, delete): the median is shown
    for (const n of [10, 100, 1000]) {
      const runs: Row[] = [];
      for (let k = 0; k < 3; k++) {
        snap([{ op: 'create', name: `d${n}.${k}` }]);
        change(n, 10 + n + k);
        fsys.cache_drop();
        const loads0 = fsys.vol.nodes.loads;
        measure(`delete (${n})`, `${n} files changed since it was taken`, () => snap([{ op: 'delete', name: `d${n}.${k}` }]));
        const r = rows.pop()!;
        r.detail += `; ${fsys.vol.nodes.loads - loads0} nodes read`;
        runs.push(r);
      }
      runs.sort((a, b) => a.ms - b.ms);
      rows.push({ ...runs[1]!, detail: `${runs[1]!.detail} (median of 3)` });
    }
    measure('clone', 'a writable copy of base', () => snap([{ op: 'clone', from: 'base', name: 'work' }]));
    measure('rollback', 'to base, the live tree kept', () => snap([{ op: 'rollback', name: 'base' }]));
    fsys.unmount();
    const rep = fsck(dev, { readOnly: true });
    process.stdout.write(`cowlog snapshots on a filesystem with ${files} files (256 MiB image file, fdatasync; ${listed} snapshots listed; fsck ${rep.errors.length ? `FAILED: ${rep.errors[0]}` : 'clean'})\n`);
    const pad = (s: string, n: number): string => s.padStart(n);
    process.stdout.write(`${'operation'.padEnd(14)} ${pad('ms', 8)} ${pad('bytes written', 14)} ${pad('ckpts', 6)}  detail\n`);
    for (const r of rows) {
      process.stdout.write(`${r.op.padEnd(14)} ${pad(r.ms.toFixed(1), 8)} ${pad(r.bytes.toLocaleString('en-US'), 14)} ${pad(String(r.checkpoints), 6)}  ${r.detail}\n`);
    }
    if (jsonFile) fs.writeFileSync(jsonFile, JSON.stringify({ files, rows }, null, 2) + '\n');
    if (rep.errors.length) process.exitCode = 1;
  } finally {
    file.close();
    fs.rmSync(img, { force: true });
  }
}

main();
