// `cowlog top MOUNTPOINT`: which processes and which files keep a running mount busy, like
// iotop: per interval, requests per second, bytes read and written, and latency percentiles.
// The server counts (src/fuse/activity.ts) while a top is attached; this side turns its
// cumulative counters into the interval's figures.

import type { Command } from './command.js';
import { args_parse, bytes_human, pos_exact, UsageError } from './command.js';
import { control_stream } from '../fuse/control.js';
import type { ActivityRowJson, ActivitySnapshot } from '../fuse/activity.js';
import { OTHERS } from '../fuse/activity.js';
import { iso_ms } from '../fuse/trace.js';
import { FsError } from '../util/errors.js';
import { Histogram } from '../util/histogram.js';
import { server_find, stream_exit } from './server_find.js';

const HELP = `usage: cowlog top [--interval S] [--once] [--json] [-n ROWS] [--sort KEY] MOUNTPOINT

Shows, every interval, the processes and the files that kept the cowlog mount at MOUNTPOINT
busy: requests per second, bytes read and written per second, and the median and 99th
percentile of the time cowlog took to answer them (µs, estimated within power-of-two
buckets). Counting starts when the first top attaches and stops when the last one leaves;
requests nobody watches cost nothing.

The DEV-W column: device bytes written on a process's or file's behalf (its data blocks, the
redo blocks and patches of its fsyncs; a checkpoint or cleaning round counts for the request it
served, if any). A file's data written later (writeback) counts for its last writer.

options:
  --interval S   seconds between updates (default 1; 0.1 to 3600)
  --once         print one interval and exit (with --json: one JSON object, for scripts)
  --json         JSON instead of tables: one object per interval (fields: docs/TRACE.md)
  -n ROWS        rows per table (default 20)
  --sort KEY     requests (default), read, write or p99

Exit status: 0 stopped by Ctrl-C, after --once, or because the mount was unmounted; 1
MOUNTPOINT is not a running cowlog mount, or its server went away; 2 usage.`;

const SORTS = ['requests', 'read', 'write', 'p99'] as const;
type SortKey = (typeof SORTS)[number];

/** One row's figures over one interval (`devBytes`: null while not measured). */
export interface TopRow extends Omit<ActivityRowJson, 'lat' | 'dev'> {
  devBytes: number | null;
  p50Us: number;
  p99Us: number;
}

/** The interval's rows: each changed row against what it was at the previous snapshot. */
function rows_diff(prev: Map<number, ActivityRowJson>, changed: ActivityRowJson[]): TopRow[] {
  const out: TopRow[] = [];
  for (const cur of changed) {
    const p = prev.get(cur.id);
    const lat = Histogram.from(cur.lat).since(p !== undefined ? Histogram.from(p.lat) : new Histogram());
    prev.set(cur.id, cur);
    if (lat.count === 0 && p !== undefined) continue;
    out.push({
      id: cur.id, name: cur.name, uid: cur.uid, requests: cur.requests - (p?.requests ?? 0),
      readBytes: cur.readBytes - (p?.readBytes ?? 0), writeBytes: cur.writeBytes - (p?.writeBytes ?? 0),
      devBytes: cur.dev === null ? null : cur.dev - (p?.dev ?? 0), p50Us: lat.quantile(0.5), p99Us: lat.quantile(0.99),
    });
  }
  return out;
}

function sort_rows(rows: TopRow[], key: SortKey): TopRow[] {
  const v = (r: TopRow): number => (key === 'read' ? r.readBytes : key === 'write' ? r.writeBytes : key === 'p99' ? r.p99Us : r.requests);
  return rows.sort((a, b) => v(b) - v(a) || b.requests - a.requests);
}

function table(title: string, idHead: string, nameHead: string, rows: TopRow[], secs: number, n: number, procs: boolean): string[] {
  const rate = (x: number): string => `${bytes_human(Math.round(x / secs))}/s`;
  const lines = [title, `${idHead.padStart(8)} ${nameHead.padEnd(procs ? 16 : 32)} ${procs ? 'UID'.padStart(6) + ' ' : ''}${'REQ/s'.padStart(9)} ${'READ'.padStart(12)} ${'WRITE'.padStart(12)} ${'P50(us)'.padStart(8)} ${'P99(us)'.padStart(8)} ${'DEV-W'.padStart(10)}`];
  for (const r of rows.slice(0, n)) {
    const id = r.id === OTHERS ? '-' : String(r.id);
    const name = procs ? r.name.slice(0, 16).padEnd(16) : (r.name.length > 32 ? '…' + r.name.slice(-31) : r.name.padEnd(32));
    lines.push(`${id.padStart(8)} ${name} ${procs ? String(r.uid).padStart(6) + ' ' : ''}${(r.requests / secs).toFixed(1).padStart(9)} ${rate(r.readBytes).padStart(12)} ${rate(r.writeBytes).padStart(12)} ${String(r.p50Us).padStart(8)} ${String(r.p99Us).padStart(8)} ${(r.devBytes === null ? '-' : rate(r.devBytes)).padStart(10)}`);
  }
  if (rows.length === 0) lines.push('  (no requests)');
  else if (rows.length > n) lines.push(`  ... ${rows.length - n} more`);
  return lines;
}

function rows_json(rows: TopRow[], secs: number, procs: boolean): object[] {
  return rows.map((r) => ({
    ...(procs ? { pid: r.id, comm: r.name, uid: r.uid } : { ino: r.id, path: r.name }),
    requests: r.requests, reqPerS: r.requests / secs, readBytes: r.readBytes, writeBytes: r.writeBytes,
    readPerS: r.readBytes / secs, writePerS: r.writeBytes / secs, devBytes: r.devBytes, p50Us: r.p50Us, p99Us: r.p99Us,
  }));
}

export const cmd_top: Command = {
  name: 'top',
  summary: 'which processes and files keep a running mount busy (requests, bytes, latency)',
  help: HELP,
  async run(argv) {
    const a = args_parse(argv, { flags: ['--once', '--json'], values: ['--interval', '-n', '--sort'] });
    const [given] = pos_exact(a, ['MOUNTPOINT']);
    const interval = Number(a.values.get('--interval') ?? '1');
    if (!(interval >= 0.1 && interval <= 3600)) throw new UsageError(`--interval must be 0.1 to 3600 seconds, not '${a.values.get('--interval')}'`);
    const n = Number(a.values.get('-n') ?? '20');
    if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`-n must be a positive number of rows, not '${a.values.get('-n')}'`);
    const sort = (a.values.get('--sort') ?? 'requests') as SortKey;
    if (!SORTS.includes(sort)) throw new UsageError(`--sort must be one of ${SORTS.join(', ')}, not '${sort}'`);
    const once = a.flags.has('--once');
    const json = a.flags.has('--json');
    const st = server_find(given!);
    const procs = new Map<number, ActivityRowJson>();
    const files = new Map<number, ActivityRowJson>();
    let lastMs = NaN;
    let shown = 0;
    let gone: string | null = null;
    let ended: string | null = null;
    let finish: () => void = () => {};
    const done = new Promise<void>((ok) => { finish = ok; });
    const tty = process.stdout.isTTY === true && !json;
    const show = (timeIso: string, snap: ActivitySnapshot): void => {
      const t = iso_ms(timeIso);
      const first = Number.isNaN(lastMs);
      const secs = first ? 0 : (t - lastMs) / 1000;
      lastMs = t;
      const p = sort_rows(rows_diff(procs, snap.procs), sort);
      const f = sort_rows(rows_diff(files, snap.files), sort);
      // the first snapshot is what was counted before: the baseline of the first interval
      if (first || secs <= 0) return;
      shown++;
      if (json) {
        process.stdout.write(JSON.stringify({ time: timeIso, intervalS: secs, procs: rows_json(p, secs, true), files: rows_json(f, secs, false) }) + '\n');
      } else {
        const lines = [
          `cowlog top ${st.mountpoint} — ${timeIso.slice(11, 19)} UTC, ${secs.toFixed(1)} s`, '',
          ...table('PROCESSES', 'PID', 'COMM', p, secs, n, true), '',
          ...table('FILES', 'INO', 'PATH', f, secs, n, false), '',
        ];
        process.stdout.write((tty ? '\x1b[H\x1b[2J' : '') + lines.join('\n') + '\n');
      }
      if (once) finish();
    };
    const on_lines = (lines: string): void => {
      for (const line of lines.split('\n')) {
        let m: { time: string; top?: ActivitySnapshot; end?: string };
        try {
          m = JSON.parse(line) as typeof m;
        } catch {
          continue;
        }
        if (m.end !== undefined) { ended = m.end; finish(); return; }
        if (m.top !== undefined) show(m.time, m.top);
      }
    };
    const stream = await control_stream(st.socket, { op: 'top', intervalMs: Math.round(interval * 1000) }, on_lines, (why) => {
      if (why !== null) gone = why;
      finish();
    });
    if (!stream.reply.ok) throw new FsError('EIO', `${st.mountpoint}: ${stream.reply.error ?? 'the server refused top'}`);
    const stop = (): void => finish();
    process.stdout.on('error', stop);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    await done;
    stream.close();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    return stream_exit('top', st.mountpoint, ended, gone) ?? (once && shown === 0 ? 1 : 0);
  },
};
