// make bench-writeback: what the kernel's writeback cache (`cowlog mount -o writeback_cache`)
// changes, on writes of every size, in one run: cowlog without it, cowlog with it and ext4, each
// on a loop device of the same size, made afresh every round, the three taking turns phase by
// phase (the order rotated from round to round). Every phase ends with its data durable (fsync),
// so what is timed is the same work on each:
//
//   dd 512 B      32 MiB in write(2) calls of 512 bytes, then fsync (dd conv=fsync)
//   dd 4 KiB      128 MiB in 4 KiB writes, then fsync
//   dd 1 MiB      256 MiB in 1 MiB writes, then fsync
//   fio 4 KiB     20,000 random 4 KiB writes over a 256 MiB file, then fsync (the seed changes
//                 from round to round)
//   small files   2,000 files of 10,000 bytes, each written in three unbuffered writes and
//                 closed, then sync
//
//   node dist/tools/bench/writeback.js [--rounds 3] [--size 1G] [--json FILE]
//
// It prints the median seconds of each phase on each filesystem and, per round, the ratio of
// cowlog with the cache to cowlog without (median and range of the rounds). Needs root (loop
// devices, mounts) and the Debian package fio (the make target installs it).
//
// Invariants: whatever is attached or mounted is undone on the way out (src/compare/sys.ts
// Cleanup); the process running the clients serves no mount.

import fs from 'node:fs';
import path from 'node:path';
import { Cleanup, scratch_dir } from '../../src/compare/sys.js';
import { args_parse, size_parse } from '../../src/cli/command.js';
import { median } from '../../src/util/median.js';
import { fs_make_mount, loop_new, mountpoint_new, timed } from './loopfs.js';
import { help_exit } from './usage.js';

const KINDS = ['cowlog', 'writeback', 'ext4'] as const;
type Kind = (typeof KINDS)[number];
const LABEL: Record<Kind, string> = { cowlog: 'cowlog', writeback: 'cowlog -o writeback_cache', ext4: 'ext4' };
const PHASES = ['dd512', 'dd4k', 'dd1m', 'fio4k', 'files'] as const;
type Phase = (typeof PHASES)[number];
const PHASE_LABEL: Record<Phase, string> = {
  dd512: 'dd 512 B, 32 MiB + fsync', dd4k: 'dd 4 KiB, 128 MiB + fsync', dd1m: 'dd 1 MiB, 256 MiB + fsync',
  fio4k: 'fio 20,000 random 4 KiB + fsync', files: '2,000 files of 10 KB + sync',
};

const SMALL_FILES = `import os, sys
d = sys.argv[1]
os.mkdir(d)
chunk = b"w" * 3334
for i in range(2000):
    fd = os.open(os.path.join(d, "f%d" % i), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, chunk); os.write(fd, chunk); os.write(fd, chunk[:3332])
    os.close(fd)
os.sync()
`;

/** The command of `phase` in directory `dir` (round `r`: fio's seed). */
function command(phase: Phase, dir: string, r: number): [string, string[]] {
  const dd = (bs: string, count: number, name: string): [string, string[]] =>
    ['dd', ['if=/dev/zero', `of=${path.join(dir, name)}`, `bs=${bs}`, `count=${count}`, 'conv=fsync', 'status=none']];
  switch (phase) {
    case 'dd512': return dd('512', 65536, 'dd512');
    case 'dd4k': return dd('4k', 32768, 'dd4k');
    case 'dd1m': return dd('1M', 256, 'dd1m');
    case 'fio4k': return ['fio', ['--name=wb', `--filename=${path.join(dir, 'fio')}`, '--size=256M', '--rw=randwrite', '--bs=4k', '--number_ios=20000',
      '--ioengine=psync', `--randseed=${r}`, '--end_fsync=1', '--output=/dev/null']];
    case 'files': return ['python3', ['-c', SMALL_FILES, path.join(dir, 'files')]];
  }
}

function fmt(v: number): string {
  return !Number.isFinite(v) ? '-' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

async function main(): Promise<number> {
  const a = args_parse(process.argv.slice(2), { flags: ['--help', '-h'], values: ['--rounds', '--size', '--json'] });
  if (a.flags.size > 0) help_exit(import.meta.url);
  if (a.pos.length > 0) throw new Error(`unknown option ${a.pos[0]}`);
  const rounds = Number(a.values.get('--rounds') ?? 3);
  const size = size_parse(a.values.get('--size') ?? '1G');
  if (!Number.isSafeInteger(rounds) || rounds < 1) throw new Error('--rounds: a positive number');
  if (size < 768 << 20) throw new Error('--size: at least 768M (the phases keep about 600 MiB)');
  if (process.getuid?.() !== 0) throw new Error('bench-writeback needs root: loop devices and mounts');
  const secs = new Map<Kind, Record<Phase, number[]>>(KINDS.map((k) => [k, Object.fromEntries(PHASES.map((p) => [p, []])) as unknown as Record<Phase, number[]>]));
  const t0 = Date.now();
  for (let r = 1; r <= rounds; r++) {
    const scratch = fs.mkdtempSync(path.join(scratch_dir(size * KINDS.length), 'cowlog-bench-writeback-'));
    const cleanup = new Cleanup((s) => process.stderr.write(`bench-writeback: ${s}\n`));
    try {
      const dirs = new Map<Kind, string>();
      for (const k of KINDS) {
        const dev = await loop_new(scratch, k, size, cleanup);
        const mnt = mountpoint_new(scratch, k, cleanup);
        await fs_make_mount(k === 'ext4' ? 'ext4' : 'cowlog', dev, mnt, scratch, cleanup, undefined, k === 'writeback' ? ['writeback_cache'] : []);
        dirs.set(k, mnt);
      }
      const order = KINDS.map((_, i) => KINDS[(i + r - 1) % KINDS.length]!);
      for (const p of PHASES) {
        process.stderr.write(`bench-writeback: round ${r}/${rounds}: ${PHASE_LABEL[p]}\n`);
        for (const k of order) {
          const [cmd, args] = command(p, dirs.get(k)!, r);
          secs.get(k)![p].push(await timed(cmd, args));
        }
      }
    } finally {
      await cleanup.run();
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  }
  const rows = PHASES.map((p) => {
    const s = (k: Kind): number[] => secs.get(k)![p];
    const ratios = s('writeback').map((x, i) => s('cowlog')[i]! / x);
    return [PHASE_LABEL[p], ...KINDS.map((k) => fmt(median(s(k)))),
      `${fmt(median(ratios))} (${fmt(Math.min(...ratios))}–${fmt(Math.max(...ratios))})`, fmt(median(s('ext4')) / median(s('writeback')))];
  });
  const head = ['phase, seconds (median)', ...KINDS.map((k) => LABEL[k]), 'speed-up with the cache, per round', 'ext4 ÷ with the cache'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ')} |`;
  process.stdout.write([
    `bench-writeback: ${rounds} rounds on loop devices of ${size >> 20} MiB, ${((Date.now() - t0) / 60000).toFixed(1)} minutes`,
    '(seconds: smaller is better; a speed-up above 1 is the cache faster; ext4 ÷ with the cache below 1 is ext4 faster)',
    line(head), `|${w.map((n, i) => (i === 0 ? '-'.repeat(n + 2) : `${'-'.repeat(n + 1)}:`)).join('|')}|`, ...rows.map(line), '',
  ].join('\n'));
  const json = a.values.get('--json');
  if (json !== undefined) fs.writeFileSync(json, JSON.stringify({ rounds, size, seconds: Object.fromEntries(secs) }, null, 2) + '\n');
  return 0;
}

main().then((c) => process.exit(c), (e: unknown) => {
  process.stderr.write(`bench-writeback: ${(e as Error).message}\n`);
  process.exit(1);
});
