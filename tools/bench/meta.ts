// make bench-meta: metadata through the mount against the kernel, in one run, on loop devices of
// the same size: fs_mark creates, `ls -lR` and `find` over the files made, stat of every file,
// then rename and unlink of every file — on cowlog, fuse2fs (ext4 served through FUSE by
// e2fsprogs: the C FUSE filesystem people would otherwise reach for), ext4 in the kernel, and
// nullfs with cowlog's FUSE options (tools/bench/fuse_ceiling.ts: the ceiling of the stack, what
// the kernel, libfuse and the binding cost for the same requests with a filesystem that does
// nothing, extended attributes answered as cowlog answers a file without any).
//
//   node dist/tools/bench/meta.js [--files 50000] [--size 2G] [--fs cowlog,ceiling,fuse2fs,ext4]
//                                 [--base DIR] [--wake-here Y|N] [--json FILE]
//
//   --files N   files fs_mark makes (4 KiB each, no fsync, 500 per directory in N/500 directories)
//   --fs LIST   which of cowlog, base, ceiling, noxattr (nullfs without extended attributes: the
//               kernel stops asking for them, one round trip a created file fewer than cowlog
//               and the ceiling make), fuse2fs, ext4
//   --base DIR  adds "cowlog (base)": the same on another cowlog build (DIR/bin/cowlog.js), for
//               a before/after comparison in one run
//   --wake-here Y|N  sets the kernel's fuse.wake_here for the run and puts it back after, on
//               kernels that have that parameter (/sys/module/fuse/parameters/wake_here: a
//               woken FUSE server or client runs on the waker's CPU; docs/FUSE.md). The
//               setting is printed with the results either way
//
// Each filesystem is made afresh and mounted; the phases run on all of them in turn (each phase
// on each filesystem before the next phase), so that what is compared runs minutes apart at
// most. Before ls -lR, find and stat the caches are dropped (echo 3 > drop_caches): the kernel's
// dentries, inodes and page cache, the loop device's too; a FUSE server keeps what it holds in
// its own memory, as it would. Times are wall clock of the whole command; rates are files/s.
// Needs root (loop devices, mounts, drop_caches) and the Debian packages fsmark, fuse2fs and
// e2fsprogs (the make target installs them).
//
// Invariants: whatever is attached or mounted is undone on the way out (tools/compare/sys.ts
// Cleanup); the process running the clients serves no mount.

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { caches_drop, Cleanup, is_mounted, repo_root, run, scratch_dir } from '../compare/sys.js';
import { ceiling_mount, COWLOG, fs_make_mount, loop_new, kernel_said, mountpoint_new, timed, wake_here_parse, wake_here_set } from './loopfs.js';
import { args_parse, size_parse } from '../../src/cli/command.js';
import { help_exit } from './usage.js';

const KINDS = ['cowlog', 'base', 'ceiling', 'noxattr', 'fuse2fs', 'ext4'] as const;
type Kind = (typeof KINDS)[number];
const LABEL: Record<Kind, string> = {
  cowlog: 'cowlog', base: 'cowlog (base)', ceiling: 'nullfs (ceiling)', noxattr: 'nullfs, no xattrs', fuse2fs: 'fuse2fs', ext4: 'ext4',
};
const METRICS = ['create', 'lsR', 'find', 'stat', 'rename', 'unlink'] as const;
type Metric = (typeof METRICS)[number];
const METRIC_LABEL: Record<Metric, string> = {
  create: 'fs_mark creates/s', lsR: 'ls -lR, seconds', find: 'find, seconds', stat: 'stat of every file/s', rename: 'rename/s', unlink: 'unlink/s',
};
/** metrics where smaller is better (times) */
const TIMES: readonly Metric[] = ['lsR', 'find'];
/** the targets: creates at least 0.3 × ext4's rate, ls -lR at most 3 × ext4's time */
const TARGET: Partial<Record<Metric, { ratio: number; what: string }>> = {
  create: { ratio: 0.3, what: '≥ 0.3 × ext4' },
  lsR: { ratio: 3, what: '≤ 3 × ext4' },
};
const PER_DIR = 500;
const DIST = path.join(repo_root(), 'dist');

interface Opts { files: number; size: number; only: Kind[]; base: string | undefined; wakeHere: 'Y' | 'N' | undefined; json: string | undefined }

function opts_parse(argv: string[]): Opts {
  const o: Opts = { files: 50_000, size: 2 * 2 ** 30, only: ['cowlog', 'ceiling', 'fuse2fs', 'ext4'], base: undefined, wakeHere: undefined, json: undefined };
  const a = args_parse(argv, { flags: ['--help', '-h'], values: ['--files', '--size', '--fs', '--base', '--wake-here', '--json'] });
  if (a.pos.length > 0) throw new Error(`unknown option ${a.pos[0]}`);
  if (a.flags.size > 0) help_exit(import.meta.url);
  const v = a.values;
  if (v.has('--files')) o.files = Number(v.get('--files'));
  if (v.has('--size')) o.size = size_parse(v.get('--size')!);
  if (v.has('--fs')) o.only = v.get('--fs')!.split(',').map((k) => k.trim()) as Kind[];
  if (v.has('--base')) o.base = path.resolve(v.get('--base')!);
  if (v.has('--json')) o.json = v.get('--json');
  if (v.has('--wake-here')) o.wakeHere = wake_here_parse(v.get('--wake-here')!);
  // (fs_mark takes no -D 1: at least two directories)
  if (!Number.isInteger(o.files) || o.files < 2 * PER_DIR || o.files % PER_DIR !== 0) throw new Error(`--files must be a multiple of ${PER_DIR}, at least ${2 * PER_DIR}`);
  for (const k of o.only) if (!KINDS.includes(k)) throw new Error(`unknown filesystem '${k}' (${KINDS.join(', ')})`);
  if (o.base !== undefined && !o.only.includes('base')) o.only.splice(1, 0, 'base');
  if (o.only.includes('base') && (o.base === undefined || !fs.existsSync(path.join(o.base, 'bin', 'cowlog.js')))) throw new Error('base needs --base DIR: a built cowlog checkout (DIR/bin/cowlog.js)');
  return o;
}

async function fs_up(kind: Kind, o: Opts, scratch: string, cleanup: Cleanup): Promise<string> {
  const mnt = mountpoint_new(scratch, kind, cleanup);
  if (kind === 'ceiling' || kind === 'noxattr') {
    await ceiling_mount(mnt, cleanup, false, kind === 'ceiling');
    return mnt;
  }
  const dev = await loop_new(scratch, kind, o.size, cleanup);
  if (kind === 'ext4') await fs_make_mount('ext4', dev, mnt, scratch, cleanup);
  else if (kind === 'cowlog' || kind === 'base') await fs_make_mount('cowlog', dev, mnt, scratch, cleanup, kind === 'base' ? path.join(o.base!, 'bin', 'cowlog.js') : COWLOG);
  else {
    await run('mkfs.ext4', ['-q', '-F', dev]);
    // fuse2fs as e2fsprogs ships it: it goes to the background once mounted
    await run('fuse2fs', [dev, mnt, '-o', 'allow_other']);
    cleanup.push(`umount ${mnt}`, async () => {
      await run('umount', [mnt]).catch(() => {});
      if (is_mounted(mnt)) await run('fusermount', ['-uz', mnt]).catch(() => {});
    });
  }
  return mnt;
}

/** fs_mark in `dir`, run from `cwd` (it keeps its log there, and takes directory names of at most 40 bytes). */
function fs_mark_run(cwd: string, dir: string, args: string[]): Promise<string> {
  return new Promise((ok, fail) => {
    execFile('fs_mark', ['-d', path.relative(cwd, dir), ...args], { cwd, maxBuffer: 16 << 20, timeout: 3_600_000 }, (e, stdout, stderr) => {
      if (e) fail(new Error(`fs_mark in ${dir}: ${stderr.trim().split('\n').slice(-2).join(' / ') || e.message}`));
      else ok(stdout);
    });
  });
}

async function fs_mark_rate(cwd: string, dir: string, files: number): Promise<number> {
  // one thread, 4 KiB files, no fsync, kept; PER_DIR files in each of files / PER_DIR directories
  const stdout = await fs_mark_run(cwd, dir, ['-n', String(files), '-s', '4096', '-S', '0', '-k', '-t', '1', '-D', String(files / PER_DIR), '-N', String(PER_DIR), '-L', '1']);
  // the result line: FSUse% Count Size Files/sec App Overhead
  const line = stdout.split('\n').find((l) => /^\s*\d+\s+\d+\s+\d+\s+[\d.]+\s+\d+/.test(l));
  if (line === undefined) throw new Error(`fs_mark printed no result: ${stdout.slice(-400)}`);
  return Number(line.trim().split(/\s+/)[3]);
}

async function client(phase: string, list: string): Promise<number> {
  const { stdout } = await run(process.execPath, [path.join(DIST, 'tools/bench/meta_client.js'), phase, list], { timeoutMs: 3_600_000 });
  return (JSON.parse(stdout) as { perSecond: number }).perSecond;
}

function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r, j) => {
    const line = `| ${r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ')} |`;
    return j === 0 ? `${line}\n|${w.map((n, i) => (i === 0 ? '-'.repeat(n + 2) : `${'-'.repeat(n + 1)}:`)).join('|')}|` : line;
  }).join('\n');
}

async function main(): Promise<number> {
  const o = opts_parse(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('bench-meta needs root: loop devices, mounts and drop_caches');
  const scratch = fs.mkdtempSync(path.join(scratch_dir(o.size * o.only.length), 'cowlog-bench-meta-'));
  const cleanup = new Cleanup((s) => process.stderr.write(`bench-meta: ${s}\n`));
  const res = new Map<Kind, Partial<Record<Metric, number>>>(o.only.map((k) => [k, {}]));
  const say = (s: string): void => { process.stderr.write(`bench-meta: ${s}\n`); };
  const t0 = Date.now();
  let wakeHere: string | null = null;
  try {
    wakeHere = wake_here_set(o.wakeHere, cleanup);
    const dirs = new Map<Kind, string>();
    for (const k of o.only) {
      const mnt = await fs_up(k, o, scratch, cleanup);
      const d = path.join(mnt, 'fsm');
      fs.mkdirSync(d);
      dirs.set(k, d);
    }
    const list = (k: Kind): string => path.join(scratch, `list-${k}.txt`);
    const each = async (what: string, fn: (k: Kind, dir: string) => Promise<void>): Promise<void> => {
      for (const k of o.only) {
        say(`${what} on ${LABEL[k]}`);
        await fn(k, dirs.get(k)!);
      }
    };
    await each(`fs_mark: ${o.files} files of 4 KiB`, async (k, d) => { res.get(k)!.create = await fs_mark_rate(scratch, d, o.files); });
    await each('ls -lR', async (k, d) => {
      await caches_drop();
      res.get(k)!.lsR = await timed('ls', ['-lR', d]);
    });
    await each('find', async (k, d) => {
      await caches_drop();
      res.get(k)!.find = await timed('find', [d]);
      // the list of files for the phases below (kept outside the mount)
      const { stdout } = await run('find', [d, '-type', 'f'], { timeoutMs: 3_600_000 });
      fs.writeFileSync(list(k), stdout);
    });
    await each('stat of every file', async (k) => {
      await caches_drop();
      res.get(k)!.stat = await client('stat', list(k));
    });
    await each('rename of every file', async (k) => { res.get(k)!.rename = await client('rename', list(k)); });
    await each('unlink of every file', async (k) => { res.get(k)!.unlink = await client('unlink', list(k)); });
  } finally {
    await cleanup.run();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  const head = ['measure', ...o.only.map((k) => LABEL[k])];
  const ratio = (a: Kind, b: Kind, m: Metric): number | undefined => {
    const x = res.get(a)?.[m], y = res.get(b)?.[m];
    return x !== undefined && y !== undefined && y > 0 ? x / y : undefined;
  };
  const cols: { head: string; cell: (m: Metric) => string }[] = [];
  if (o.only.includes('cowlog') && o.only.includes('ext4')) {
    cols.push({ head: 'cowlog ÷ ext4', cell: (m) => fmt(ratio('cowlog', 'ext4', m)) });
    cols.push({ head: 'target', cell: (m) => TARGET[m]?.what ?? '' });
    cols.push({ head: 'met', cell: (m) => { const tg = TARGET[m], r = ratio('cowlog', 'ext4', m); return tg === undefined || r === undefined ? '' : (TIMES.includes(m) ? r <= tg.ratio : r >= tg.ratio) ? 'yes' : 'NO'; } });
  }
  if (o.only.includes('ceiling') && o.only.includes('ext4')) cols.push({ head: 'ceiling ÷ ext4', cell: (m) => fmt(ratio('ceiling', 'ext4', m)) });
  if (o.only.includes('cowlog') && o.only.includes('ceiling')) cols.push({ head: 'cowlog ÷ ceiling', cell: (m) => fmt(ratio('cowlog', 'ceiling', m)) });
  if (o.only.includes('cowlog') && o.only.includes('fuse2fs')) cols.push({ head: 'cowlog ÷ fuse2fs', cell: (m) => fmt(ratio('cowlog', 'fuse2fs', m)) });
  if (o.only.includes('cowlog') && o.only.includes('base')) cols.push({ head: 'cowlog ÷ base', cell: (m) => fmt(ratio('cowlog', 'base', m)) });
  if (o.only.includes('cowlog') && o.only.includes('noxattr')) cols.push({ head: 'cowlog ÷ no xattrs', cell: (m) => fmt(ratio('cowlog', 'noxattr', m)) });
  const rows = [[...head, ...cols.map((c) => c.head)], ...METRICS.map((m) => [METRIC_LABEL[m], ...o.only.map((k) => fmt(res.get(k)?.[m])), ...cols.map((c) => c.cell(m))])];
  process.stdout.write(`bench-meta: ${o.files} files, ${(o.size / 2 ** 30).toFixed(1)} GiB loop devices, ${((Date.now() - t0) / 60000).toFixed(1)} minutes; ${kernel_said(wakeHere)}\n`);
  process.stdout.write(`(times: smaller is better, so a ratio below 1 is cowlog faster; rates: larger is better)\n${table(rows)}\n`);
  if (o.json !== undefined) fs.writeFileSync(o.json, JSON.stringify({ files: o.files, size: o.size, kernel: os.release(), wakeHere, results: Object.fromEntries(res) }, null, 2) + '\n');
  return 0;
}

main().then((c) => process.exit(c), (e: unknown) => {
  process.stderr.write(`bench-meta: ${(e as Error).message}\n`);
  process.exit(1);
});
