// make bench-fsync: `cowlog bench fsync` on cowlog and on ext4, each on a loop device of the
// same size, in one run, and the two tables side by side (docs/TRACE.md shows one).
//
//   cowlog, writer killed    the program dies: what a process crash costs
//   ext4, writer killed      the same on ext4
//   cowlog, server killed    cowlog's server dies (as a kernel crash would take ext4 down) and
//                            the device is mounted again: what skipping fsync risks
//
// Usage: node dist/tools/bench/fsync.js [--records N] [--size 512M] [--seed S]
// Needs root (loop devices, mounts).
//
// Invariants: whatever is attached or mounted is undone on the way out (tools/compare/sys.ts
// Cleanup); the runs follow each other, never overlap.

import fs from 'node:fs';
import path from 'node:path';
import { Cleanup, run, scratch_dir } from '../../src/compare/sys.js';
import { size_parse } from '../../src/cli/command.js';
import { COWLOG, fs_make_mount, loop_new, mountpoint_new } from './loopfs.js';

interface Row { label: string; recordsPerS: number; syncsPerRecord: number; mode: string; kill: { acked: number; reached: number; lost: number; atMs: number | null }; why: string }
interface Result { fstype: string; rows: Row[] }

async function bench(dir: string, records: number, seed: number, kill: 'writer' | 'server'): Promise<Result> {
  const { stdout } = await run(process.execPath, [COWLOG, 'bench', 'fsync', '--records', String(records), '--seed', String(seed), '--kill', kill, '--json', dir], { timeoutMs: 3_600_000 });
  return JSON.parse(stdout) as Result;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let records = 10000, size = 512 << 20, seed = Math.floor(Math.random() * 2 ** 31);
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${argv[i]} needs a value`);
    if (argv[i] === '--records') records = Number(v);
    else if (argv[i] === '--size') size = size_parse(v);
    else if (argv[i] === '--seed') seed = Number(v);
    else throw new Error(`unknown option ${argv[i]}`);
  }
  if (process.getuid?.() !== 0) throw new Error('bench-fsync needs root: loop devices and mounts');
  const scratch = fs.mkdtempSync(path.join(scratch_dir(size * 2), 'cowlog-bench-fsync-'));
  const cleanup = new Cleanup((s) => process.stderr.write(`${s}\n`));
  const out: Record<string, Result> = {};
  const t0 = Date.now();
  try {
    const mnts: Record<string, string> = {};
    for (const kind of ['cowlog', 'ext4'] as const) {
      const dev = await loop_new(scratch, kind, size, cleanup);
      const mnt = mountpoint_new(scratch, kind, cleanup);
      await fs_make_mount(kind, dev, mnt, scratch, cleanup);
      mnts[kind] = mnt;
    }
    process.stderr.write('bench-fsync: cowlog, writer killed\n');
    out['cowlog'] = await bench(mnts['cowlog']!, records, seed, 'writer');
    process.stderr.write('bench-fsync: ext4, writer killed\n');
    out['ext4'] = await bench(mnts['ext4']!, records, seed, 'writer');
    process.stderr.write('bench-fsync: cowlog, server killed\n');
    out['cowlogServer'] = await bench(mnts['cowlog']!, records, seed, 'server');
  } finally {
    await cleanup.run();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  const c = out['cowlog']!.rows, e = out['ext4']!.rows, s = out['cowlogServer']!.rows;
  const lost = (r: Row): string => (r.kill.atMs === null ? 'ended first' : `${r.kill.lost} of ${r.kill.acked}`);
  const head = ['mode', 'fsyncs/record', 'cowlog records/s', 'ext4 records/s', 'cowlog ÷ ext4', 'writer killed: lost (cowlog)', 'writer killed: lost (ext4)', 'cowlog server killed: lost'];
  const cells = c.map((r, i) => [
    r.label, r.mode === 'o_sync' ? '0 (sync writes)' : String(r.syncsPerRecord), Math.round(r.recordsPerS).toString(), Math.round(e[i]!.recordsPerS).toString(),
    `${((100 * r.recordsPerS) / e[i]!.recordsPerS).toFixed(0)} %`, lost(r), lost(e[i]!), lost(s[i]!),
  ]);
  const md = [
    `| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...cells.map((x) => `| ${x.join(' | ')} |`),
  ];
  process.stdout.write([
    `bench-fsync: ${records} records of 4 KiB per mode, loop devices of ${size >> 20} MiB, seed ${seed}, ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    '',
    ...md,
    '',
    'why (cowlog, writer killed):', ...c.map((r) => `- ${r.label}: ${r.why}`), '',
    'why (ext4, writer killed):', ...e.map((r) => `- ${r.label}: ${r.why}`), '',
    'why (cowlog, server killed):', ...s.map((r) => `- ${r.label}: ${r.why}`), '',
  ].join('\n'));
  return 0;
}

main().then((c) => process.exit(c), (e: unknown) => {
  process.stderr.write(`bench-fsync: ${(e as Error).message}\n`);
  process.exit(1);
});
