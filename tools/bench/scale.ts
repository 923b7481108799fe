// make bench-scale: cowlog on an 8 GiB and a 1 TiB sparse image, in one run, through FUSE, both
// mounted at once and each phase run on one then the other (ls -lR and find twice, in both
// orders, averaged: the machine's drift falls on both alike):
//   mkfs, mount of the empty filesystem;
//   FILES files of 4 KiB created in directories of PER_DIR (a process of its own writing them),
//   then the mount's sync (a checkpoint: FUSE has no syncfs); the server's memory;
//   unmount and mount again (with the files);
//   ls -lR and find over them (the kernel caches no attribute or name: attr_timeout=0,
//   entry_timeout=0, negative_timeout=0; or, with --kernel-cache, the mount's own 60 s caches
//   with the kernel's caches dropped before each walk, as a user's cold walk goes), and every
//   file read back and checked;
//   WRITE bytes written sequentially with dd, conv=fsync;
//   unmount; fsck -n of the image (time and peak memory);
//   the dd again on a fresh image of each size (mkfs, mount): the aged 8 GiB image is allocated
//   whole by then and the 1 TiB one is not, so there the host's filesystem allocates under every
//   pass on 1 TiB only; fresh, it allocates under both (docs/SCALE.md, "dd on a sparse image").
// and the ratio of each number on 1 TiB to the one on 8 GiB. With --passes N the two phases
// whose single runs moved most between runs are timed N times, the sizes taking turns to go
// first, and their ratios are the median of the passes' ratios: the creates (passes after the
// first make FILES/10 more files in a directory of their own, removed after) and the dd (the
// file removed and the host's page cache dropped before each pass). The goals (docs/SCALE.md): rates on
// 1 TiB at least 0.9 times those on 8 GiB, the server's memory within the cache budget and the
// dirty-page bound above what it held idle, fsck of a million files under a minute.
//
// Usage: node dist/tools/bench/scale.js [--files 1000000] [--per-dir 1000] [--write SIZE]
//          [--sizes 8G,1T] [--cache 64M] [--kernel-cache] [--passes 1] [--json]
// (--write: 10 GiB, or whole GiB up to three quarters of the smallest size if less: 6 GiB at 8 GiB)
// Images go to the scratch directory (COWLOG_SCRATCH, /var/tmp or /tmp, not a tmpfs); they are
// sparse, and hold what is written: about FILES × 4 KiB + WRITE each.
//
// Invariants: whatever is mounted or created is undone on the way out (Cleanup); the sizes run
// one after the other, never together.

import fs from 'node:fs';
import path from 'node:path';
import { caches_drop, Cleanup, image_create, repo_root, run, scratch_dir } from '../../src/compare/sys.js';
import { args_parse, bytes_human, size_parse } from '../../src/cli/command.js';
import { server_find } from '../../src/cli/server_find.js';
import { control_request } from '../../src/fuse/control.js';
import { RING_BYTES_DEFAULT } from '../../src/device/writebehind.js';
import { HELD_MAX_DEFAULT } from '../../src/fuse/held.js';
import { resident_allowance } from '../../src/fuse/resident.js';
import type { ResidentStats } from '../../src/fuse/resident.js';
import { median } from '../../src/util/median.js';
import { help_exit } from './usage.js';
import { COWLOG, mountpoint_new } from './loopfs.js';
import { fsck_goal, fsck_timed, HOUR, process_cpu_s, server_memory_read, timed, umount_undo } from './scale_common.js';

const CLIENT = path.join(repo_root(), 'dist', 'tools', 'bench', 'scale_client.js');

/** The server's memory as it reports it (fs.ts MemoryStats), the parts bench-scale shows. */
interface MemoryParts { rss: number; code: number; heapUsed: number; heapTotal: number; external: number; nodeBytes: number; nodeBytesMax: number; pagePool: number }

interface Opts { files: number; perDir: number; write: number; sizes: number[]; cache: number; kernelCache: boolean; passes: number; json: boolean }

const GiB = 2 ** 30;
/** the sequential write asked for; less when it does not fit on the smallest size (write_fit) */
const WRITE_GOAL = 10 * GiB;

interface Row {
  size: number;
  mkfsMs: number;
  mountEmptyMs: number;
  createPerS: number;
  /** --passes: the rates of the passes after the first, FILES/10 files each */
  createAgainPerS: number[];
  serverIdleRss: number;
  serverRss: number;
  serverPeakRss: number;
  /** the phase by whose end the peak was reached (read after each phase) */
  serverPeakPhase: string;
  /** after the creates and the sync: what the resident set is made of */
  serverAfter: MemoryParts;
  cacheUsed: { tablePages: number; nodes: number; inodes: number };
  /** the server's resident bound: the least part of their shares it left the caches, and its steps down */
  cacheScaleLowest: number;
  squeezes: number;
  unmountMs: number;
  mountFilesMs: number;
  lsPerS: number;
  findPerS: number;
  readPerS: number;
  writeMBps: number;
  /** every pass's rate (writeMBps: their median) */
  writePassesMBps: number[];
  /** the dd on a fresh image of the same size: every pass, and their median */
  writeFreshPassesMBps: number[];
  writeFreshMBps: number;
  /** the server's CPU seconds for each dd pass, aged and fresh images */
  writeCpuS: number[];
  writeFreshCpuS: number[];
  unmountAfterWriteMs: number;
  fsckMs: number;
  fsckPeakRss: number;
  fsckInodes: number;
  imageBytes: number;
}

function args(): Opts {
  const o: Opts = { files: 1_000_000, perDir: 1000, write: 0, sizes: [8 * GiB, 2 ** 40], cache: 64 << 20, kernelCache: false, passes: 1, json: false };
  const argv = process.argv.slice(2);
  const usage = '(--files N, --per-dir N, --write SIZE, --sizes A,B, --cache SIZE, --kernel-cache, --passes N, --json)';
  let a;
  try {
    a = args_parse(argv, { flags: ['--json', '--kernel-cache', '--help', '-h'], values: ['--files', '--per-dir', '--write', '--sizes', '--cache', '--passes'] });
  } catch (e) {
    throw new Error(`${(e as Error).message} ${usage}`);
  }
  if (a.pos.length > 0) throw new Error(`unknown option ${a.pos[0]} ${usage}`);
  if (a.flags.has('--help') || a.flags.has('-h')) help_exit(import.meta.url);
  const v = a.values;
  o.json = a.flags.has('--json');
  o.kernelCache = a.flags.has('--kernel-cache');
  if (v.has('--files')) o.files = Number(v.get('--files'));
  if (v.has('--per-dir')) o.perDir = Number(v.get('--per-dir'));
  if (v.has('--write')) o.write = size_parse(v.get('--write')!);
  if (v.has('--sizes')) o.sizes = v.get('--sizes')!.split(',').map(size_parse);
  if (v.has('--cache')) o.cache = size_parse(v.get('--cache')!);
  if (v.has('--passes')) o.passes = Number(v.get('--passes'));
  if (!(o.files > 0 && o.perDir > 0)) throw new Error('--files and --per-dir must be positive');
  if (!Number.isInteger(o.passes) || o.passes < 1 || o.passes > 20) throw new Error(`--passes ${v.get('--passes')}: a whole number from 1 to 20`);
  write_fit(o);
  return o;
}

/**
 * The same bytes are written on every size, so they must fit on the smallest beside the files:
 * 10 GiB does not fit on 8 GiB. Unless --write says otherwise, the write is 10 GiB or whole GiB
 * up to three quarters of the smallest size, whichever is less; a --write that cannot fit is
 * refused before anything is made.
 */
function write_fit(o: Opts): void {
  const smallest = Math.min(...o.sizes);
  const files = o.files + (o.passes > 1 ? create_again_files(o) : 0);
  const room = smallest * 0.85 - files * 4096 * 1.3;
  if (o.write === 0) {
    o.write = Math.min(WRITE_GOAL, Math.floor((smallest * 0.75) / GiB) * GiB);
    if (o.write < WRITE_GOAL) process.stderr.write(`bench-scale: ${bytes_human(o.write)} written sequentially, not ${bytes_human(WRITE_GOAL)}: that much does not fit on ${bytes_human(smallest)}\n`);
  }
  if (o.write <= 0 || o.write > room) throw new Error(`--write ${bytes_human(o.write)}: ${o.files} files and that much do not fit on ${bytes_human(smallest)} (at most ${bytes_human(Math.max(0, room))})`);
}

/**
 * What the mount may hold beyond its idle size: the server's own bound with the bench's mount
 * options (src/fuse/resident.ts, docs/SCALE.md "Memory").
 */
function memory_budget(cache: number): { total: number; parts: string } {
  const a = resident_allowance({ cache, ring: RING_BYTES_DEFAULT, heldMax: HELD_MAX_DEFAULT });
  return { total: a.total, parts: a.parts.map(([w, n]) => `${w} ${bytes_human(n)}`).join(', ') };
}

/** The server's memory as `cowlog info --stats` reports it, and its peak (VmHWM). */
async function server_memory(mnt: string): Promise<{ rss: number; peak: number; caches: Row['cacheUsed']; parts: MemoryParts; resident: ResidentStats | null }> {
  const { memory: m, peak } = await server_memory_read(mnt);
  const parts: MemoryParts = {
    rss: m['rssBytes']!, code: m['rssFileBytes'] ?? 0, heapUsed: m['heapBytes']!, heapTotal: m['heapTotalBytes'] ?? 0, external: m['externalBytes']!,
    nodeBytes: m['nodeBytes'] ?? 0, nodeBytesMax: m['nodeBytesMax'] ?? 0, pagePool: m['pagePoolBytes'] ?? 0,
  };
  const resident = (m as unknown as { resident?: ResidentStats | null }).resident ?? null;
  return { rss: m['rssBytes']!, peak, caches: { tablePages: m['tablePages']!, nodes: m['nodes']!, inodes: m['inodes']! }, parts, resident };
}

/** One image and its mount: the commands that act on it. */
class Subject {
  readonly label: string;
  readonly img: string;
  readonly mnt: string;
  readonly mountArgs: string[];
  readonly row: Row;
  /** `tag`: a name part for a second image of the same size ('fresh') */
  constructor(readonly o: Opts, scratch: string, readonly size: number, cleanup: Cleanup, tag = '') {
    this.label = tag ? `${bytes_human(size)} ${tag}` : bytes_human(size);
    const base = path.join(scratch, `scale${tag ? `-${tag}` : ''}-${size}`);
    this.img = `${base}.img`;
    this.mnt = mountpoint_new(scratch, 'scale', cleanup);
    // the kernel keeps no attribute, name or missing name (its 60 s caches would answer the
    // second ls -lR and find): every stat, lookup and readdir is served by cowlog. With
    // --kernel-cache the mount's defaults, and the kernel's caches are dropped before each walk
    const timeouts = o.kernelCache ? '' : ',attr_timeout=0,entry_timeout=0,negative_timeout=0';
    this.mountArgs = ['mount', '-o', `log=${base}.log,cache=${o.cache}${timeouts}`, this.img, this.mnt];
    this.row = {
      size, mkfsMs: 0, mountEmptyMs: 0, createPerS: 0, createAgainPerS: [], serverIdleRss: 0, serverRss: 0, serverPeakRss: 0, serverPeakPhase: '',
      serverAfter: { rss: 0, code: 0, heapUsed: 0, heapTotal: 0, external: 0, nodeBytes: 0, nodeBytesMax: 0, pagePool: 0 }, cacheUsed: { tablePages: 0, nodes: 0, inodes: 0 }, cacheScaleLowest: 1, squeezes: 0,
      unmountMs: 0, mountFilesMs: 0, lsPerS: 0, findPerS: 0, readPerS: 0, writeMBps: 0, writePassesMBps: [], writeFreshPassesMBps: [], writeFreshMBps: 0, writeCpuS: [], writeFreshCpuS: [], unmountAfterWriteMs: 0, fsckMs: 0, fsckPeakRss: 0, fsckInodes: 0, imageBytes: 0,
    };
    const img = this.img, mnt = this.mnt;
    image_create(img, size);
    cleanup.push(`rm ${img}`, () => fs.rmSync(img, { force: true }));
    umount_undo(cleanup, mnt);
  }
  say(s: string): void { process.stderr.write(`bench-scale ${this.label}: ${s}\n`); }
  async mount(): Promise<number> { return (await timed(() => run(process.execPath, [COWLOG, ...this.mountArgs], { timeoutMs: HOUR }))).ms; }
  async umount(): Promise<number> { return (await timed(() => run(process.execPath, [COWLOG, 'umount', this.mnt], { timeoutMs: HOUR }))).ms; }
  /** Everything so far made durable: the mount's sync (a checkpoint), asked through its control socket. */
  async sync(): Promise<void> {
    const r = await control_request(server_find(this.mnt).socket, { op: 'sync' }, HOUR);
    if (!r.ok) throw new Error(`${this.mnt}: sync refused: ${r.error}`);
  }
  /** Reads the server's memory after `phase` (returned); the peak's phase is the first that saw it. */
  async memory(phase: string): Promise<Awaited<ReturnType<typeof server_memory>>> {
    const m = await server_memory(this.mnt);
    this.row.serverRss = Math.max(this.row.serverRss, m.rss);
    if (m.peak > this.row.serverPeakRss) this.row.serverPeakPhase = phase;
    this.row.serverPeakRss = Math.max(this.row.serverPeakRss, m.peak);
    if (m.resident !== null) {
      this.row.cacheScaleLowest = Math.min(this.row.cacheScaleLowest, m.resident.cacheScaleLowest);
      this.row.squeezes = Math.max(this.row.squeezes, m.resident.squeezes);
    }
    return m;
  }
}

/** Files each create pass after the first makes: a tenth of the files, at least a directory's worth. */
function create_again_files(o: Opts): number {
  return Math.max(o.perDir, Math.floor(o.files / 10));
}

/**
 * The ratio b ÷ a of a phase timed in passes: the median of the passes' own ratios (each pass
 * ran on both sizes minutes apart), with their range when there are several.
 */
function pass_ratio(a: number[], b: number[]): { median: number; lo: number; hi: number; n: number } {
  const r = a.map((x, i) => b[i]! / x);
  return { median: median(r), lo: Math.min(...r), hi: Math.max(...r), n: r.length };
}

/**
 * WRITE bytes written with dd conv=fsync on each subject, --passes times, the sizes taking turns
 * to go first and the file removed (and a checkpoint made, which frees its space) before each
 * pass: every pass's rate in MB/s and the server's CPU seconds for it, per subject. `memory`:
 * the server's memory read after each.
 *
 * Each pass starts from the same host state: what is dirty written out and the host's page
 * cache dropped. Without the drop the first pass after a large removal was the cheapest
 * whichever size ran it (the later ones, written while the host's page cache held the images'
 * earlier writes, took about 1.5 times the server's CPU, most of it the host's kernel under the
 * write-behind thread's writes), and the first pass always ran on the first size
 * (docs/SCALE.md, "The dd's first pass").
 */
async function dd_passes(o: Opts, subs: Subject[], memory: boolean): Promise<{ rates: number[][]; cpu: number[][] }> {
  const blocks = Math.floor(o.write / 2 ** 20);
  const rates = subs.map((): number[] => []);
  const cpu = subs.map((): number[] => []);
  for (let k = 0; k < o.passes; k++) {
    for (const s of k % 2 === 1 ? [...subs].reverse() : subs) {
      const big = path.join(s.mnt, 'big');
      if (k > 0) {
        await run('rm', ['-f', big]);
        await s.sync();
      }
      await caches_drop();
      const pid = server_find(s.mnt).pid;
      const c0 = process_cpu_s(pid);
      const w = await timed(() => run('dd', ['if=/dev/zero', `of=${big}`, 'bs=1M', `count=${blocks}`, 'conv=fsync', 'status=none'], { timeoutMs: 24 * HOUR }));
      const c = process_cpu_s(pid) - c0;
      const i = subs.indexOf(s);
      rates[i]!.push((blocks * 2 ** 20) / 1e6 / (w.ms / 1000));
      cpu[i]!.push(c);
      if (memory) await s.memory(`dd${o.passes > 1 ? ` pass ${k + 1}` : ''}`);
      s.say(`${o.passes > 1 ? `pass ${k + 1}: ` : ''}${bytes_human(blocks * 2 ** 20)} written in ${(w.ms / 1000).toFixed(1)} s, server CPU ${c.toFixed(2)} s`);
    }
  }
  return { rates, cpu };
}

async function side_by_side(o: Opts, scratch: string): Promise<Row[]> {
  const cleanup = new Cleanup((s) => process.stderr.write(`${s}\n`));
  try {
    const subs = o.sizes.map((size) => new Subject(o, scratch, size, cleanup));
    // a phase runs on each size in turn; timed twice, in both orders, where noise matters
    const each = async (fn: (s: Subject) => Promise<void>): Promise<void> => { for (const s of subs) await fn(s); };
    const both_orders = async (fn: (s: Subject) => Promise<number>, set: (s: Subject, ms: number) => void): Promise<void> => {
      const ms = new Map<Subject, number[]>();
      for (const s of [...subs, ...[...subs].reverse()]) ms.set(s, [...(ms.get(s) ?? []), await fn(s)]);
      for (const s of subs) set(s, ms.get(s)!.reduce((a, b) => a + b, 0) / ms.get(s)!.length);
    };
    await each(async (s) => {
      s.row.mkfsMs = (await timed(() => run(process.execPath, [COWLOG, 'mkfs', '-q', s.img], { timeoutMs: HOUR }))).ms;
      s.row.mountEmptyMs = await s.mount();
      s.row.serverIdleRss = (await server_memory(s.mnt)).rss;
      s.say(`mkfs ${s.row.mkfsMs.toFixed(0)} ms, mount ${s.row.mountEmptyMs.toFixed(0)} ms, server ${bytes_human(s.row.serverIdleRss)}`);
    });
    await each(async (s) => {
      s.say(`creating ${o.files} files of 4 KiB in directories of ${o.perDir}, then sync`);
      const c = await timed(async () => {
        await run(process.execPath, [CLIENT, 'create', s.mnt, String(o.files), String(o.perDir)], { timeoutMs: 24 * HOUR });
        await s.sync();
      });
      s.row.createPerS = (o.files * 1000) / c.ms;
      const m = await s.memory('the creates');
      s.row.cacheUsed = m.caches;
      s.row.serverAfter = m.parts;
      const p = m.parts;
      s.say(`${(c.ms / 1000).toFixed(1)} s (${s.row.createPerS.toFixed(0)} files/s); server ${bytes_human(m.rss)} (code ${bytes_human(p.code)}, heap ${bytes_human(p.heapUsed)} of ${bytes_human(p.heapTotal)}, buffers ${bytes_human(p.external)}), peak ${bytes_human(m.peak)}`);
    });
    // --passes: more creates among the files made, the sizes taking turns to go first
    const again = create_again_files(o);
    for (let k = 1; k < o.passes; k++) {
      for (const s of k % 2 === 1 ? [...subs].reverse() : subs) {
        const dir = path.join(s.mnt, `again${k}`);
        const c = await timed(async () => {
          await run(process.execPath, [CLIENT, 'create', dir, String(again), String(o.perDir)], { timeoutMs: 24 * HOUR });
          await s.sync();
        });
        s.row.createAgainPerS.push((again * 1000) / c.ms);
        await s.memory(`create pass ${k + 1}`);
        await run('rm', ['-rf', dir], { timeoutMs: 24 * HOUR });
        await s.sync();
        await s.memory(`the removal of pass ${k + 1}`);
        s.say(`pass ${k + 1}: ${again} more files in ${(c.ms / 1000).toFixed(1)} s (${((again * 1000) / c.ms).toFixed(0)} files/s), removed`);
      }
    }
    await each(async (s) => {
      s.row.unmountMs = await s.umount();
      s.row.mountFilesMs = await s.mount();
      s.say(`unmount ${s.row.unmountMs.toFixed(0)} ms, mount with the files ${s.row.mountFilesMs.toFixed(0)} ms`);
    });
    const entries = o.files + Math.ceil(o.files / o.perDir);
    // --kernel-cache: each walk starts cold in the kernel (dentries, inodes, page cache); the
    // server keeps what it holds, as it would
    const cold = async (): Promise<void> => {
      if (o.kernelCache) await caches_drop();
    };
    await both_orders(async (s) => { await cold(); return (await timed(() => run('sh', ['-c', `ls -lR '${s.mnt}' > /dev/null`], { timeoutMs: 24 * HOUR }))).ms; },
      (s, ms) => { s.row.lsPerS = (entries * 1000) / ms; s.say(`ls -lR ${(ms / 1000).toFixed(1)} s`); });
    await each(async (s) => { await s.memory('ls -lR'); });
    await both_orders(async (s) => {
      await cold();
      const f = await timed(() => run('sh', ['-c', `find '${s.mnt}' -type f | wc -l`], { timeoutMs: 24 * HOUR }));
      if (Number(f.v.stdout.trim()) !== o.files) throw new Error(`find counted ${f.v.stdout.trim()} files on ${s.label}, not ${o.files}`);
      return f.ms;
    }, (s, ms) => { s.row.findPerS = (entries * 1000) / ms; s.say(`find ${(ms / 1000).toFixed(1)} s`); });
    await each(async (s) => { await s.memory('find'); });
    await each(async (s) => {
      const r = await timed(() => run(process.execPath, [CLIENT, 'read', s.mnt, String(o.files), String(o.perDir)], { timeoutMs: 24 * HOUR }));
      s.row.readPerS = (o.files * 1000) / r.ms;
      await s.memory('the read back');
      s.say(`every file read back and checked in ${(r.ms / 1000).toFixed(1)} s`);
    });
    const dd = await dd_passes(o, subs, true);
    subs.forEach((s, i) => { s.row.writePassesMBps = dd.rates[i]!; s.row.writeMBps = median(dd.rates[i]!); s.row.writeCpuS = dd.cpu[i]!; });
    await each(async (s) => {
      s.row.unmountAfterWriteMs = await s.umount();
      const f = await fsck_timed(s.img, s.label);
      s.row.fsckMs = f.ms;
      s.row.fsckPeakRss = f.peak;
      s.row.fsckInodes = f.inodes;
      s.row.imageBytes = fs.statSync(s.img).blocks * 512;
      s.say(`fsck -n ${(f.ms / 1000).toFixed(1)} s, ${f.inodes} inodes, peak ${bytes_human(f.peak)}`);
      // only one image of this size at once on the scratch disk
      fs.rmSync(s.img, { force: true });
    });
    // the dd again where the host allocates under both sizes alike: a fresh image of each
    const fresh = o.sizes.map((size) => new Subject(o, scratch, size, cleanup, 'fresh'));
    for (const s of fresh) {
      await run(process.execPath, [COWLOG, 'mkfs', '-q', s.img], { timeoutMs: HOUR });
      await s.mount();
    }
    const ddFresh = await dd_passes(o, fresh, false);
    for (const s of fresh) await s.umount();
    subs.forEach((s, i) => { s.row.writeFreshPassesMBps = ddFresh.rates[i]!; s.row.writeFreshMBps = median(ddFresh.rates[i]!); s.row.writeFreshCpuS = ddFresh.cpu[i]!; });
    return subs.map((s) => s.row);
  } finally {
    await cleanup.run();
  }
}

async function main(): Promise<number> {
  const o = args();
  if (process.getuid?.() !== 0) throw new Error("bench-scale needs root: each dd pass drops the host's page cache (drop_caches)");
  // every size's image is there at once
  const need = (o.files * 4096 * 1.3 + o.write + (256 << 20)) * o.sizes.length;
  const scratch = scratch_dir(need);
  const t0 = Date.now();
  const rows = await side_by_side(o, scratch);
  if (o.json) {
    process.stdout.write(JSON.stringify({ files: o.files, perDir: o.perDir, write: o.write, cache: o.cache, kernelCache: o.kernelCache, passes: o.passes, rows }, null, 2) + '\n');
    return 0;
  }
  const mib = (n: number): string => (n / 2 ** 20).toFixed(0);
  /** a row: its name, value, format, kind, and for a phase timed in passes every pass's value */
  type Line = [string, (r: Row) => number, (n: number) => string, 'rate' | 'time' | 'size', ((r: Row) => number[]) | undefined] | [string, (r: Row) => number, (n: number) => string, 'rate' | 'time' | 'size'];
  const createPasses = (r: Row): number[] => [r.createPerS, ...r.createAgainPerS];
  const lines: Line[] = [
    ['mkfs (ms)', (r) => r.mkfsMs, (n) => n.toFixed(0), 'time'],
    ['mount, empty (ms)', (r) => r.mountEmptyMs, (n) => n.toFixed(0), 'time'],
    [`create ${o.files} files of 4 KiB (files/s)`, (r) => r.createPerS, (n) => n.toFixed(0), 'rate', o.passes > 1 ? createPasses : undefined],
    ...(o.passes > 1 ? [[`… passes 2–${o.passes}: ${create_again_files(o)} more files each (files/s, median)`, (r: Row) => median(r.createAgainPerS), (n: number) => n.toFixed(0), 'size'] as Line] : []),
    ['unmount after the files (ms)', (r) => r.unmountMs, (n) => n.toFixed(0), 'time'],
    ['mount with the files (ms)', (r) => r.mountFilesMs, (n) => n.toFixed(0), 'time'],
    ['ls -lR (entries/s)', (r) => r.lsPerS, (n) => n.toFixed(0), 'rate'],
    ['find (entries/s)', (r) => r.findPerS, (n) => n.toFixed(0), 'rate'],
    ['read every file back (files/s)', (r) => r.readPerS, (n) => n.toFixed(0), 'rate'],
    [`${bytes_human(o.write)} written with dd conv=fsync (MB/s${o.passes > 1 ? `, median of ${o.passes}` : ''})`, (r) => r.writeMBps, (n) => n.toFixed(0), 'rate', o.passes > 1 ? (r) => r.writePassesMBps : undefined],
    [`${bytes_human(o.write)} written with dd conv=fsync on a fresh image (MB/s${o.passes > 1 ? `, median of ${o.passes}` : ''})`, (r) => r.writeFreshMBps, (n) => n.toFixed(0), 'rate', o.passes > 1 ? (r) => r.writeFreshPassesMBps : undefined],
    ["… the server's CPU per dd pass (s, median, aged and fresh images)", (r) => median([...r.writeCpuS, ...r.writeFreshCpuS]), (n) => n.toFixed(2), 'size'],
    ['unmount after the write (ms)', (r) => r.unmountAfterWriteMs, (n) => n.toFixed(0), 'time'],
    ['fsck -n (s)', (r) => r.fsckMs / 1000, (n) => n.toFixed(1), 'time'],
    ['fsck -n peak memory (MiB)', (r) => r.fsckPeakRss, mib, 'size'],
    ['server memory, idle after mount (MiB)', (r) => r.serverIdleRss, mib, 'size'],
    ['server memory after the creates and sync (MiB)', (r) => r.serverAfter.rss, mib, 'size'],
    ['… mapped from files: node\'s code (MiB)', (r) => r.serverAfter.code, mib, 'size'],
    ['… V8 heap taken (MiB)', (r) => r.serverAfter.heapTotal, mib, 'size'],
    ['… V8 heap live (MiB)', (r) => r.serverAfter.heapUsed, mib, 'size'],
    ['… buffers: write ring, blocks, pages (MiB)', (r) => r.serverAfter.external, mib, 'size'],
    ['… tree nodes cached (MiB)', (r) => r.serverAfter.nodeBytes, mib, 'size'],
    ['server memory, most seen (MiB)', (r) => r.serverRss, mib, 'size'],
    ['server memory, peak (VmHWM, MiB)', (r) => r.serverPeakRss, mib, 'size'],
    ["… the caches' least part of their shares, the resident bound's doing (%)", (r) => r.cacheScaleLowest, (n) => (n * 100).toFixed(0), 'size'],
    ['… steps that scaled the caches down', (r) => r.squeezes, (n) => n.toFixed(0), 'size'],
    ['image on disk (MiB)', (r) => r.imageBytes, mib, 'size'],
  ];
  const head = ['', ...rows.map((r) => bytes_human(r.size)), ...(rows.length === 2 ? [`${bytes_human(rows[1]!.size)} ÷ ${bytes_human(rows[0]!.size)}`] : [])];
  const md = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i ? '---:' : '---')).join('|')}|`];
  /** b ÷ a for a row: over passes, the median of the passes' ratios and their range */
  const ratio = (l: Line, a: Row, b: Row): { r: number; text: string } => {
    const passes = l[4];
    if (passes === undefined) return { r: l[1](b) / l[1](a), text: (l[1](b) / l[1](a)).toFixed(2) };
    const p = pass_ratio(passes(a), passes(b));
    return { r: p.median, text: `${p.median.toFixed(2)} [${p.lo.toFixed(2)}–${p.hi.toFixed(2)}]` };
  };
  for (const l of lines) {
    const cells = rows.map((r) => l[2](l[1](r)));
    if (rows.length === 2) cells.push(ratio(l, rows[0]!, rows[1]!).text);
    md.push(`| ${l[0]} | ${cells.join(' | ')} |`);
  }
  const goals: string[] = [];
  if (rows.length === 2) {
    const [a, b] = rows as [Row, Row];
    for (const l of lines) {
      if (l[3] !== 'rate') continue;
      const { r, text } = ratio(l, a, b);
      const over = l[4] !== undefined ? ` (the median of ${o.passes} passes' ratios, their range in brackets)` : '';
      goals.push(`${r >= 0.9 ? 'met' : 'MISSED'}: ${l[0].replace(/ \(.*\)$/, '')} on ${bytes_human(b.size)} at ${text}× ${bytes_human(a.size)}${over} (goal ≥ 0.9)`);
    }
  }
  for (const r of rows) {
    const over = r.serverPeakRss - r.serverIdleRss;
    const b = memory_budget(o.cache);
    goals.push(`${over <= b.total ? 'met' : 'MISSED'}: server peak memory on ${bytes_human(r.size)} ${bytes_human(over)} above idle (by the end of ${r.serverPeakPhase}); allowed ${bytes_human(b.total)} (${b.parts})`);
    goals.push(fsck_goal(r.fsckMs, r.fsckInodes, ` on ${bytes_human(r.size)}`));
  }
  process.stdout.write([
    `bench-scale: ${o.files} files of 4 KiB in directories of ${o.perDir}, ${bytes_human(o.write)} written, cache=${bytes_human(o.cache)}, ${o.kernelCache ? 'the kernel\'s caches on (dropped before each walk)' : 'the kernel caching nothing'}${o.passes > 1 ? `, creates and dd in ${o.passes} passes` : ''}; ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    '', ...md, '', ...goals, '',
  ].join('\n'));
  return 0;
}

main().then((c) => { process.exitCode = c; }, (e: unknown) => { process.stderr.write(`bench-scale: ${(e as Error).message}\n`); process.exitCode = 1; });
