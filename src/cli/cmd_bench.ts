// `cowlog bench fsync DIR`: what durability costs on any filesystem, and what skipping it risks.
// For each of six modes it appends 4 KiB records and measures records per second; then a fresh
// run of each mode, in a child process, is killed with SIGKILL at a random moment, and the
// records the file reached on reopen are counted against those the writer had been told were
// written. The workload and the record format are in bench_fsync.ts.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from './command.js';
import { args_parse, pos_exact, UsageError } from './command.js';
import { FsError } from '../util/errors.js';
import { Prng } from '../util/prng.js';
import { mountinfo_read, state_read, pid_alive } from '../fuse/runtime.js';
import type { MountEntry } from '../fuse/runtime.js';
import { MODE_LABEL, MODES, records_count, records_write, syncs_per_record } from './bench_fsync.js';
import type { Mode } from './bench_fsync.js';

const HELP = `usage: cowlog bench fsync [--records N] [--kill writer|server] [--seed S] [--json] DIR

Appends 4 KiB records to a file in DIR (N per mode, 10,000 by default) in six modes: no fsync,
fsync after every record, after every 10, after every 100, the file opened O_SYNC, and
fdatasync after every record. For each it prints records per second and fsyncs per record.

Then, for each mode, a fresh run in a child process is killed with SIGKILL at a random moment
(once a random tenth to nine tenths of its records were acknowledged), the file is opened again, and the
intact records from its start (the length it reached) are counted against the records whose
write(2) had returned (the length acknowledged as written): lost = acknowledged − reached.
Each row ends with a sentence saying why its numbers are what they are.

--kill writer (the default) kills the writing process: what a program crash costs. --kill
server, for DIR on a cowlog mount only, kills the mount's server instead (as a kernel crash
would take ext4 down) and mounts the device again the way it was mounted, so the records that
were acknowledged but never made durable are lost: the risk of skipping fsync.

Works on any filesystem (a cowlog mount, ext4, tmpfs...). The files are removed at the end.

options:
  --records N     records per mode (default 10000)
  --kill WHAT     writer (default) or server (cowlog mounts only)
  --seed S        the seed of the kill moments (default: random, printed)
  --json          one JSON object instead of the table

Exit status: 0 done; 1 DIR can not be written, or a remount after --kill server failed; 2 usage.`;

interface KillResult {
  /** records whose write had returned when the kill came, and intact records after it */
  acked: number;
  reached: number;
  lost: number;
  /** ms from the first acknowledged record to the kill; null when the run ended first */
  atMs: number | null;
  /** the record count at which the kill was due */
  due: number;
}

interface Row {
  mode: Mode;
  label: string;
  recordsPerS: number;
  seconds: number;
  syncsPerRecord: number;
  kill: KillResult;
  why: string;
}

/** The mount that holds `dir` (the longest mountpoint that is a prefix of its real path). */
function mount_of(dir: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mountinfo_read()) {
    if (dir === m.mountpoint || dir.startsWith(m.mountpoint === '/' ? '/' : m.mountpoint + '/')) {
      if (best === undefined || m.mountpoint.length >= best.mountpoint.length) best = m;
    }
  }
  return best;
}

function rate_why(mode: Mode, fstype: string, r: number): string {
  const cowlog = fstype === 'fuse.cowlog';
  const rate = `${Math.round(r).toLocaleString('en-US')} records/s`;
  if (fstype === 'tmpfs') {
    return mode === 'none' ? `${rate}: tmpfs keeps everything in memory, and nothing ever reaches a disk`
      : `${rate}: tmpfs has no device to flush, so fsync and O_SYNC cost only their system call`;
  }
  const cache = cowlog ? "cowlog's page cache in its server (each write a FUSE round trip)" : "the kernel's page cache";
  switch (mode) {
    case 'none':
      return `${rate}: write(2) returns once the record is in ${cache}; nothing waits for the device (${cowlog ? 'a checkpoint within 30 s' : 'writeback, within about 30 s'} makes it durable)`;
    case 'fsync-1':
      return `${rate}: every record waits for a flush of the device${cowlog ? '; each fsync writes the record\'s data block and one redo block, then flushes once' : '; each fsync commits a journal transaction (data, journal blocks, commit block)'}`;
    case 'fsync-10':
    case 'fsync-100': {
      const k = mode === 'fsync-10' ? 10 : 100;
      return `${rate}: one flush per ${k} records, so the device's flush time is shared by ${k} records; up to ${k - 1} records wait in memory at any moment`;
    }
    case 'o_sync':
      return cowlog ? `${rate}: FUSE has no synchronous write of its own: the kernel follows every O_SYNC write with an fsync request, so it costs what fsync per record costs`
        : `${rate}: every write(2) is synchronous, as fsync per record but in one system call`;
    case 'fdatasync-1':
      return cowlog ? `${rate}: as fsync per record; cowlog's fdatasync does the same work as fsync (the record changes the file's size, which must be durable too)`
        : `${rate}: as fsync per record; fdatasync may skip metadata, but every record changes the file's size, which it must make durable`;
  }
}

function kill_why(mode: Mode, fstype: string, kill: 'writer' | 'server', k: KillResult): string {
  const cowlog = fstype === 'fuse.cowlog';
  if (k.atMs === null) return `the run ended before the kill came: ${k.reached} of ${k.acked} records`;
  if (kill === 'writer') {
    if (k.lost === 0 && fstype === 'tmpfs') return `killing the writer lost none of its ${k.acked} acknowledged records: they were in tmpfs's memory, which outlives the process (and which a reboot empties, fsync or not)`;
    if (k.lost === 0) return `killing the writer lost none of its ${k.acked} acknowledged records: write(2) had put them in ${cowlog ? "the cowlog server's" : "the kernel's"} page cache, which outlives the process; only a crash of the ${cowlog ? "machine or of the mount's server" : 'machine'} loses what was not made durable`;
    return `${k.lost} of ${k.acked} acknowledged records were lost although only the writer died: that is a bug of this filesystem`;
  }
  const sync = syncs_per_record(mode) === 1 || mode === 'o_sync';
  if (k.lost === 0) {
    return sync ? `the server crash lost nothing: every acknowledged record had been made durable before write(2) returned, and the next mount rolled the fsync redo groups forward`
      : `the server crash lost nothing this time: the kill fell just after a durability point`;
  }
  const every = mode === 'none' ? 'no fsync at all, so everything since the last checkpoint (at most 30 s)' : `an fsync every ${mode === 'fsync-10' ? 10 : 100} records, so at most ${mode === 'fsync-10' ? 9 : 99}`;
  return `the server crash lost ${k.lost} of ${k.acked} acknowledged records: they were only in the server's page cache; with ${every} can be lost`;
}

/**
 * Starts a writer child and kills it (or the server) once it has acknowledged `at` records —
 * a random moment of its run, whatever speed the filesystem has at that minute — and counts.
 */
async function kill_run(mode: Mode, file: string, records: number, run: number, at: number, kill: 'writer' | 'server', mnt: string | null): Promise<KillResult> {
  const child = spawn(process.execPath, [process.argv[1]!, 'bench', 'fsync-child', mode, file, String(records), String(run)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let t0 = 0;
  let due_now: () => void = () => {};
  const due = new Promise<void>((ok) => { due_now = ok; });
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    if (t0 === 0) t0 = performance.now();
    out += d;
    // the count of the last whole line
    const end = out.lastIndexOf('\n');
    if (end > 0 && Number(out.slice(out.lastIndexOf('\n', end - 1) + 1, end)) >= at) due_now();
  });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<void>((ok) => child.on('close', () => ok()));
  await Promise.race([due, exited]);
  let atMs: number | null = null;
  if (child.exitCode === null && child.signalCode === null) {
    atMs = performance.now() - t0;
    if (kill === 'server') {
      const st = state_read(mnt!);
      if (st === undefined || !pid_alive(st.pid)) throw new FsError('EIO', `${mnt}: the cowlog server is gone`);
      const cmdline = fs.readFileSync(`/proc/${st.pid}/cmdline`, 'utf8').split('\0').filter((x) => x !== '');
      process.kill(st.pid, 'SIGKILL');
      child.kill('SIGKILL');
      await exited;
      await remount(cmdline, mnt!);
    } else {
      child.kill('SIGKILL');
      await exited;
    }
  } else if (child.exitCode !== 0) {
    throw new FsError('EIO', `the writer of ${file} failed: ${err.trim().split('\n').pop() ?? `exit ${child.exitCode}`}`);
  }
  const lines = out.split('\n');
  lines.pop(); // an unfinished last line was not acknowledged yet
  const acked = lines.length ? Number(lines[lines.length - 1]) : 0;
  const reached = records_count(file, run).records;
  return { acked, reached, lost: Math.max(0, acked - reached), atMs, due: at };
}

/** Mounts a killed server's device again as it was mounted (its command line, in the background). */
async function remount(cmdline: string[], mnt: string): Promise<void> {
  const at = cmdline.indexOf('mount');
  if (at < 2) throw new FsError('EIO', `can not tell how ${mnt} was mounted from its server's command line: ${cmdline.join(' ')}`);
  const args: string[] = [];
  for (let i = at + 1; i < cmdline.length; i++) {
    if (cmdline[i] === '-f') continue;
    if (cmdline[i] === '--ready-fd') { i++; continue; }
    args.push(cmdline[i]!);
  }
  const r = spawn(process.execPath, [cmdline[at - 1]!, 'mount', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  r.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const code = await new Promise<number | null>((ok) => r.on('close', (c) => ok(c)));
  if (code !== 0) throw new FsError('EIO', `mounting ${mnt} again after the kill failed: ${err.trim()}`);
}

export async function bench_fsync(argv: string[]): Promise<number> {
  const a = args_parse(argv, { flags: ['--json'], values: ['--records', '--kill', '--seed'] });
  const [dirGiven] = pos_exact(a, ['DIR']);
  const records = Number(a.values.get('--records') ?? '10000');
  if (!Number.isSafeInteger(records) || records < 100) throw new UsageError(`--records must be a whole number of at least 100, not '${a.values.get('--records')}'`);
  const kill = (a.values.get('--kill') ?? 'writer') as 'writer' | 'server';
  if (kill !== 'writer' && kill !== 'server') throw new UsageError(`--kill must be writer or server, not '${kill}'`);
  const seed = a.values.has('--seed') ? Number(a.values.get('--seed')) : Math.floor(Math.random() * 2 ** 31);
  if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed must be a whole number, not '${a.values.get('--seed')}'`);
  const json = a.flags.has('--json');
  let dir: string;
  try {
    dir = fs.realpathSync(dirGiven!);
    if (!fs.statSync(dir).isDirectory()) throw new FsError('ENOTDIR', `${dirGiven} is not a directory`);
  } catch (e) {
    if (e instanceof FsError) throw e;
    throw new FsError('ENOENT', `${dirGiven}: ${(e as Error).message}`);
  }
  const m = mount_of(dir);
  const fstype = m?.fstype ?? 'unknown';
  if (kill === 'server' && fstype !== 'fuse.cowlog') throw new UsageError(`--kill server needs DIR on a cowlog mount; ${dir} is on ${fstype}`);
  const rng = new Prng(seed);
  const file = (what: string): string => path.join(dir, `cowlog-bench-fsync-${process.pid}-${what}.dat`);
  const progress = (s: string): void => { if (process.stderr.isTTY) process.stderr.write(`\r${s.padEnd(70)}`); };
  const rows: Row[] = [];
  try {
    for (const mode of MODES) {
      progress(`bench fsync: ${MODE_LABEL[mode]}: ${records} records...`);
      const f = file(mode);
      const seconds = records_write(f, mode, records, rng.u32());
      fs.rmSync(f, { force: true });
      const rate = records / seconds;
      progress(`bench fsync: ${MODE_LABEL[mode]}: killed at a random moment...`);
      const run = rng.u32();
      const at = Math.round((0.1 + 0.8 * rng.float()) * records);
      const k = await kill_run(mode, f, records, run, at, kill, m?.mountpoint ?? null);
      fs.rmSync(f, { force: true });
      rows.push({ mode, label: MODE_LABEL[mode], recordsPerS: rate, seconds, syncsPerRecord: syncs_per_record(mode), kill: k, why: `${rate_why(mode, fstype, rate)}; ${kill_why(mode, fstype, kill, k)}.` });
    }
  } finally {
    for (const mode of MODES) fs.rmSync(file(mode), { force: true });
    progress('');
    if (process.stderr.isTTY) process.stderr.write('\r');
  }
  const where = `${dir} (${fstype}${m ? ` from ${m.source}` : ''})`;
  if (json) {
    process.stdout.write(JSON.stringify({ dir, fstype, source: m?.source ?? null, records, recordBytes: 4096, kill, seed, rows }, null, 2) + '\n');
    return 0;
  }
  const head = ['mode', 'records/s', 'fsyncs/record', `${kill} killed at record`, 'acknowledged', 'reached', 'lost'];
  const cells = rows.map((r) => [
    r.label, Math.round(r.recordsPerS).toString(), r.mode === 'o_sync' ? '0 (every write sync)' : String(r.syncsPerRecord),
    r.kill.atMs === null ? 'after the end' : `${r.kill.due} (${Math.round(r.kill.atMs)} ms)`, String(r.kill.acked), String(r.kill.reached), String(r.kill.lost),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ');
  process.stdout.write([
    `cowlog bench fsync ${where}: ${records} records of 4 KiB per mode; the ${kill} killed with SIGKILL at a random moment (seed ${seed})`,
    '',
    line(head),
    ...cells.map(line),
    '',
    ...rows.map((r) => `${r.label}: ${r.why}`),
    '',
  ].join('\n'));
  return 0;
}

/** The writer child of a kill run: appends, printing the count of acknowledged records after each. */
function fsync_child(argv: string[]): number {
  const [mode, file, n, run] = argv;
  if (!MODES.includes(mode as Mode) || file === undefined) throw new UsageError('fsync-child MODE FILE RECORDS RUN');
  records_write(file, mode as Mode, Number(n), Number(run), (k) => { fs.writeSync(1, `${k}\n`); });
  return 0;
}

export const cmd_bench: Command = {
  name: 'bench',
  summary: 'measure: fsync (what durability costs on any filesystem, and what a crash loses without it)',
  help: HELP,
  async run(argv) {
    const [what, ...rest] = argv;
    if (what === 'fsync') return bench_fsync(rest);
    if (what === 'fsync-child') return fsync_child(rest);
    throw new UsageError(what === undefined ? 'missing what to measure (fsync)' : `unknown benchmark '${what}' (fsync)`);
  },
};
