// make bench-scale: cowlog on an 8 GiB and a 1 TiB sparse image, in one run, through FUSE:
//   mkfs, mount of the empty filesystem;
//   FILES files of 4 KiB created in directories of PER_DIR (a process of its own writing them),
//   then syncfs; the server's memory;
//   unmount and mount again (with the files);
//   ls -lR and find over them (the kernel caches no attribute: attr_timeout=0), and every file
//   read back and checked;
//   WRITE bytes written sequentially with dd, conv=fsync;
//   unmount; fsck -n of the image (time and peak memory).
// and the ratio of each number on 1 TiB to the one on 8 GiB. The goals (docs/SCALE.md): rates on
// 1 TiB at least 0.9 times those on 8 GiB, the server's memory within the cache budget and the
// dirty-page bound above what it held idle, fsck of a million files under a minute.
//
// Usage: node dist/tools/bench/scale.js [--files 1000000] [--per-dir 1000] [--write 10G]
//          [--sizes 8G,1T] [--cache 64M] [--json]
// Images go to the scratch directory (COWLOG_SCRATCH, /var/tmp or /tmp, not a tmpfs); they are
// sparse, and hold what is written: about FILES × 4 KiB + WRITE each.
//
// Invariants: whatever is mounted or created is undone on the way out (Cleanup); the sizes run
// one after the other, never together.

import fs from 'node:fs';
import path from 'node:path';
import { Cleanup, image_create, is_mounted, repo_root, run, scratch_dir } from '../../src/compare/sys.js';
import { bytes_human, size_parse } from '../../src/cli/command.js';

const COWLOG = path.join(repo_root(), 'bin', 'cowlog.js');
const CLIENT = path.join(repo_root(), 'dist', 'tools', 'bench', 'scale_client.js');
const HOUR = 3_600_000;

interface Opts { files: number; perDir: number; write: number; sizes: number[]; cache: number; json: boolean }

interface Row {
  size: number;
  mkfsMs: number;
  mountEmptyMs: number;
  createPerS: number;
  serverIdleRss: number;
  serverRss: number;
  serverPeakRss: number;
  cacheUsed: { tablePages: number; nodes: number; inodes: number };
  unmountMs: number;
  mountFilesMs: number;
  lsPerS: number;
  findPerS: number;
  readPerS: number;
  writeMBps: number;
  unmountAfterWriteMs: number;
  fsckMs: number;
  fsckPeakRss: number;
  fsckInodes: number;
  imageBytes: number;
}

function args(): Opts {
  const o: Opts = { files: 1_000_000, perDir: 1000, write: 10 * 2 ** 30, sizes: [8 * 2 ** 30, 2 ** 40], cache: 64 << 20, json: false };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') { o.json = true; continue; }
    const v = argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value`);
    if (a === '--files') o.files = Number(v);
    else if (a === '--per-dir') o.perDir = Number(v);
    else if (a === '--write') o.write = size_parse(v);
    else if (a === '--sizes') o.sizes = v.split(',').map(size_parse);
    else if (a === '--cache') o.cache = size_parse(v);
    else throw new Error(`unknown option ${a} (--files N, --per-dir N, --write SIZE, --sizes A,B, --cache SIZE, --json)`);
  }
  if (!(o.files > 0 && o.perDir > 0)) throw new Error('--files and --per-dir must be positive');
  return o;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; v: T }> {
  const t0 = performance.now();
  const v = await fn();
  return { ms: performance.now() - t0, v };
}

/** The server's memory as `cowlog info --stats` reports it, and its peak (VmHWM). */
async function server_memory(mnt: string): Promise<{ rss: number; peak: number; caches: Row['cacheUsed'] }> {
  const { stdout } = await run(process.execPath, [COWLOG, 'info', '--stats', '--json', mnt]);
  const j = JSON.parse(stdout) as { pid: number; memory: { rssBytes: number; tablePages: number; nodes: number; inodes: number } };
  const status = fs.readFileSync(`/proc/${j.pid}/status`, 'utf8');
  const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
  return { rss: j.memory.rssBytes, peak: hwm ? Number(hwm[1]) * 1024 : 0, caches: { tablePages: j.memory.tablePages, nodes: j.memory.nodes, inodes: j.memory.inodes } };
}

async function one_size(o: Opts, scratch: string, size: number): Promise<Row> {
  const label = bytes_human(size);
  const say = (s: string): void => { process.stderr.write(`bench-scale ${label}: ${s}\n`); };
  const cleanup = new Cleanup((s) => process.stderr.write(`${s}\n`));
  const img = path.join(scratch, `scale-${size}.img`);
  const mnt = fs.mkdtempSync(path.join(scratch, 'mnt-scale-'));
  const mountArgs = ['mount', '-o', `log=${path.join(scratch, `scale-${size}.log`)},cache=${o.cache}`, img, mnt];
  const umount = async (): Promise<number> => (await timed(() => run(process.execPath, [COWLOG, 'umount', mnt], { timeoutMs: HOUR }))).ms;
  try {
    image_create(img, size);
    cleanup.push(`rm ${img}`, () => fs.rmSync(img, { force: true }));
    cleanup.push(`rmdir ${mnt}`, () => { if (!is_mounted(mnt)) fs.rmSync(mnt, { recursive: true, force: true }); });
    const mkfs = await timed(() => run(process.execPath, [COWLOG, 'mkfs', '-q', img], { timeoutMs: HOUR }));
    say(`mkfs ${mkfs.ms.toFixed(0)} ms`);
    const m0 = await timed(() => run(process.execPath, [COWLOG, ...mountArgs], { timeoutMs: HOUR }));
    cleanup.push(`umount ${mnt}`, async () => { if (is_mounted(mnt)) await run(process.execPath, [COWLOG, 'umount', mnt], { timeoutMs: HOUR }).catch(() => run('fusermount', ['-uz', mnt])); });
    const idle = await server_memory(mnt);
    say(`mounted (${m0.ms.toFixed(0)} ms, server ${bytes_human(idle.rss)}); creating ${o.files} files of 4 KiB in directories of ${o.perDir}`);
    const created = await timed(async () => {
      const r = await run(process.execPath, [CLIENT, 'create', mnt, String(o.files), String(o.perDir)], { timeoutMs: 24 * HOUR });
      await run('sync', ['-f', mnt], { timeoutMs: HOUR });
      return r;
    });
    const mem = await server_memory(mnt);
    say(`${o.files} files in ${(created.ms / 1000).toFixed(1)} s; server ${bytes_human(mem.rss)} (peak ${bytes_human(mem.peak)})`);
    const unmount1 = await umount();
    const m1 = await timed(() => run(process.execPath, [COWLOG, ...mountArgs], { timeoutMs: HOUR }));
    say(`unmount ${unmount1.toFixed(0)} ms, mount with the files ${m1.ms.toFixed(0)} ms`);
    const entries = o.files + Math.ceil(o.files / o.perDir);
    const ls = await timed(() => run('sh', ['-c', `ls -lR '${mnt}' > /dev/null`], { timeoutMs: 24 * HOUR }));
    const find = await timed(() => run('sh', ['-c', `find '${mnt}' -type f | wc -l`], { timeoutMs: 24 * HOUR }));
    const found = Number(find.v.stdout.trim());
    if (found !== o.files) throw new Error(`find counted ${found} files, not ${o.files}`);
    const read = await timed(() => run(process.execPath, [CLIENT, 'read', mnt, String(o.files), String(o.perDir)], { timeoutMs: 24 * HOUR }));
    say(`ls -lR ${(ls.ms / 1000).toFixed(1)} s, find ${(find.ms / 1000).toFixed(1)} s, every file read back in ${(read.ms / 1000).toFixed(1)} s`);
    const mem2 = await server_memory(mnt);
    const blocks = Math.floor(o.write / 2 ** 20);
    const wr = await timed(() => run('dd', ['if=/dev/zero', `of=${path.join(mnt, 'big')}`, 'bs=1M', `count=${blocks}`, 'conv=fsync', 'status=none'], { timeoutMs: 24 * HOUR }));
    const mem3 = await server_memory(mnt);
    say(`${bytes_human(blocks * 2 ** 20)} written in ${(wr.ms / 1000).toFixed(1)} s`);
    const unmount2 = await umount();
    cleanup.drop(`umount ${mnt}`);
    const fsck = await timed(() => run(process.execPath, [COWLOG, 'fsck', '-n', '--json', img], { timeoutMs: 24 * HOUR }));
    const fj = JSON.parse(fsck.v.stdout) as { errors: string[]; counts: { inodes: number }; maxRssBytes: number };
    if (fj.errors.length) throw new Error(`fsck found errors: ${fj.errors.slice(0, 3).join('; ')}`);
    say(`fsck -n ${(fsck.ms / 1000).toFixed(1)} s, ${fj.counts.inodes} inodes, peak ${bytes_human(fj.maxRssBytes)}`);
    return {
      size, mkfsMs: mkfs.ms, mountEmptyMs: m0.ms, createPerS: (o.files * 1000) / created.ms,
      serverIdleRss: idle.rss, serverRss: Math.max(mem.rss, mem2.rss, mem3.rss), serverPeakRss: Math.max(mem.peak, mem2.peak, mem3.peak), cacheUsed: mem.caches,
      unmountMs: unmount1, mountFilesMs: m1.ms, lsPerS: (entries * 1000) / ls.ms, findPerS: (entries * 1000) / find.ms, readPerS: (o.files * 1000) / read.ms,
      writeMBps: (blocks * 2 ** 20) / 1e6 / (wr.ms / 1000), unmountAfterWriteMs: unmount2,
      fsckMs: fsck.ms, fsckPeakRss: fj.maxRssBytes, fsckInodes: fj.counts.inodes, imageBytes: fs.statSync(img).blocks * 512,
    };
  } finally {
    await cleanup.run();
  }
}

async function main(): Promise<number> {
  const o = args();
  const need = o.files * 4096 * 1.3 + o.write + (256 << 20);
  const scratch = scratch_dir(need);
  const t0 = Date.now();
  const rows: Row[] = [];
  for (const size of o.sizes) rows.push(await one_size(o, scratch, size));
  if (o.json) {
    process.stdout.write(JSON.stringify({ files: o.files, perDir: o.perDir, write: o.write, cache: o.cache, rows }, null, 2) + '\n');
    return 0;
  }
  const mib = (n: number): string => (n / 2 ** 20).toFixed(0);
  const lines: [string, (r: Row) => number, (n: number) => string, 'rate' | 'time' | 'size'][] = [
    ['mkfs (ms)', (r) => r.mkfsMs, (n) => n.toFixed(0), 'time'],
    ['mount, empty (ms)', (r) => r.mountEmptyMs, (n) => n.toFixed(0), 'time'],
    [`create ${o.files} files of 4 KiB (files/s)`, (r) => r.createPerS, (n) => n.toFixed(0), 'rate'],
    ['unmount after the files (ms)', (r) => r.unmountMs, (n) => n.toFixed(0), 'time'],
    ['mount with the files (ms)', (r) => r.mountFilesMs, (n) => n.toFixed(0), 'time'],
    ['ls -lR (entries/s)', (r) => r.lsPerS, (n) => n.toFixed(0), 'rate'],
    ['find (entries/s)', (r) => r.findPerS, (n) => n.toFixed(0), 'rate'],
    ['read every file back (files/s)', (r) => r.readPerS, (n) => n.toFixed(0), 'rate'],
    [`${bytes_human(o.write)} written with dd conv=fsync (MB/s)`, (r) => r.writeMBps, (n) => n.toFixed(0), 'rate'],
    ['unmount after the write (ms)', (r) => r.unmountAfterWriteMs, (n) => n.toFixed(0), 'time'],
    ['fsck -n (s)', (r) => r.fsckMs / 1000, (n) => n.toFixed(1), 'time'],
    ['fsck -n peak memory (MiB)', (r) => r.fsckPeakRss, mib, 'size'],
    ['server memory, idle after mount (MiB)', (r) => r.serverIdleRss, mib, 'size'],
    ['server memory, most seen (MiB)', (r) => r.serverRss, mib, 'size'],
    ['server memory, peak (VmHWM, MiB)', (r) => r.serverPeakRss, mib, 'size'],
    ['image on disk (MiB)', (r) => r.imageBytes, mib, 'size'],
  ];
  const head = ['', ...rows.map((r) => bytes_human(r.size)), ...(rows.length === 2 ? [`${bytes_human(rows[1]!.size)} ÷ ${bytes_human(rows[0]!.size)}`] : [])];
  const md = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i ? '---:' : '---')).join('|')}|`];
  for (const [name, get, fmt] of lines) {
    const cells = rows.map((r) => fmt(get(r)));
    if (rows.length === 2) cells.push((get(rows[1]!) / get(rows[0]!)).toFixed(2));
    md.push(`| ${name} | ${cells.join(' | ')} |`);
  }
  const goals: string[] = [];
  if (rows.length === 2) {
    const [a, b] = rows as [Row, Row];
    for (const [name, get, , kind] of lines) {
      if (kind !== 'rate') continue;
      const r = get(b) / get(a);
      goals.push(`${r >= 0.9 ? 'met' : 'MISSED'}: ${name.replace(/ \(.*\)$/, '')} on ${bytes_human(b.size)} at ${r.toFixed(2)}× ${bytes_human(a.size)} (goal ≥ 0.9)`);
    }
  }
  for (const r of rows) {
    const over = r.serverPeakRss - r.serverIdleRss;
    const allowed = o.cache + (64 << 20);
    goals.push(`${over <= allowed ? 'met' : 'MISSED'}: server memory on ${bytes_human(r.size)} rose ${bytes_human(over)} above idle (budget ${bytes_human(o.cache)} + 64 MiB of dirty pages)`);
    goals.push(`${r.fsckMs / 1000 * (1e6 / Math.max(1, r.fsckInodes)) < 60 ? 'met' : 'MISSED'}: fsck of ${r.fsckInodes} inodes on ${bytes_human(r.size)} in ${(r.fsckMs / 1000).toFixed(1)} s (goal: a million under a minute: ${(r.fsckMs / 1000 * (1e6 / Math.max(1, r.fsckInodes))).toFixed(1)} s at this rate)`);
  }
  process.stdout.write([
    `bench-scale: ${o.files} files of 4 KiB in directories of ${o.perDir}, ${bytes_human(o.write)} written, cache=${bytes_human(o.cache)}; ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    '', ...md, '', ...goals, '',
  ].join('\n'));
  return 0;
}

main().then((c) => { process.exitCode = c; }, (e: unknown) => { process.stderr.write(`bench-scale: ${(e as Error).message}\n`); process.exitCode = 1; });
