// `cowlog trace MOUNTPOINT`: the requests of a running mount as they happen, one line each
// (src/fuse/trace.ts records them in the server, trace_wire.ts carries them here, where the
// lines are made; docs/TRACE.md documents every field).

import os from 'node:os';
import type { Command } from './command.js';
import { args_parse, bytes_human, pos_exact, UsageError } from './command.js';
import { control_stream_bytes } from '../fuse/control.js';
import { FsError } from '../util/errors.js';
import { RING_EVENTS, trace_filter_parse } from '../fuse/trace.js';
import { event_text, ms_text, req_record_line, req_record_line_max, TRACE_HEADER } from '../fuse/trace_text.js';
import { event_json, REC_REQUEST, RecordReader, req_record_event } from '../fuse/trace_wire.js';
import type { TraceEvent, TraceFilter } from '../fuse/trace.js';
import { server_find, stream_exit } from './server_find.js';
import { TraceSummary } from './trace_summary.js';

/** how much nicer than its shell a trace runs, unless told (--nice) */
const NICE = 10;
/** bytes of output gathered before they are written */
const OUT_BYTES = 256 * 1024;

const HELP = `usage: cowlog trace [options] MOUNTPOINT

Prints every request the cowlog mount at MOUNTPOINT serves, as it is answered: the time it
arrived, the process (name and pid), the request, its result, how long cowlog took to answer
it (µs), the inode and the path, and offset and length where they apply. Several traces may
run at once; Ctrl-C stops this one and leaves the mount as it was. A trace that can not keep up
(its output is slow) never slows the mount down: it loses events and says how many.

options:
  --json              one JSON object per line instead (fields: docs/TRACE.md)
  --pid PID[,PID...]  only requests of these processes
  --comm NAME[,...]   only requests of processes of this name (as in ps -o comm)
  --path PREFIX       only this path and what is below it; relative to the mount ('/dir') or
                      absolute under the mountpoint; may be given more than once
  --op OP[,OP...]     only these requests, named as FUSE names them (getattr, open, create,
                      read, write, fsync, rename, unlink, ...: docs/TRACE.md lists them), or
                      data events (written, logged, durable)
  --slower-than MS    only requests that took longer than MS milliseconds (0.05 = 50 µs)
  --durability        follow written bytes instead of requests: 'written' when a write is
                      answered (in cowlog's page cache), 'logged' when its blocks go to the log,
                      'durable' when an fsync or a checkpoint made them durable (which one, and
                      how long they waited); at the end, per file, how long written data stayed
                      not yet durable (median, longest)
  --summary           print no events; at the end, a latency histogram per request kind
                      (power-of-two buckets) with its count, median, 99th percentile and maximum
  --duration S        stop after S seconds (as Ctrl-C does)
  --buffer EVENTS     events the server keeps for this trace while it is not reading
                      (default 16384, 64 to 1048576); more are dropped and counted
  --nice N            run this trace N steps nicer than the shell (default 10, 0 to 19; 0: as
                      the shell): on a busy machine the mount's own work goes first

Exit status: 0 stopped by Ctrl-C, --duration or the mount being unmounted; 1 MOUNTPOINT is not
a running cowlog mount, or its server went away; 2 usage (an unknown option, operation or value).`;

/** The filter of the command line, checked as the server checks it. */
function filter_of(a: ReturnType<typeof args_parse>, mnt: string): TraceFilter {
  const list = (name: string): string[] | null => {
    const v = a.values.get(name);
    if (v === undefined) return null;
    const xs = v.split(',').map((x) => x.trim()).filter((x) => x !== '');
    if (xs.length === 0) throw new UsageError(`${name} needs a value`);
    return xs;
  };
  const pids = list('--pid')?.map((p) => {
    const n = Number(p);
    if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--pid: '${p}' is not a process id`);
    return n;
  }) ?? null;
  const paths = a.many.get('--path')?.map((p) => {
    if (p === mnt || p.startsWith(mnt + '/')) p = p.slice(mnt.length) || '/';
    if (!p.startsWith('/')) throw new UsageError(`--path: '${p}' is neither absolute under ${mnt} nor relative to the mount ('/dir')`);
    return p.length > 1 ? p.replace(/\/+$/, '') : p;
  }) ?? null;
  let slowerUs = 0;
  const slow = a.values.get('--slower-than');
  if (slow !== undefined) {
    const ms = Number(slow);
    if (slow.trim() === '' || !Number.isFinite(ms) || ms < 0) throw new UsageError(`--slower-than: '${slow}' is not a number of milliseconds`);
    slowerUs = ms * 1000;
  }
  try {
    return trace_filter_parse({ pids, comms: list('--comm'), paths, ops: list('--op'), slowerUs, durability: a.flags.has('--durability') });
  } catch (e) {
    if (e instanceof FsError) throw new UsageError(e.message.replace(/^EINVAL: /, ''));
    throw e;
  }
}

function summary_text(s: TraceSummary, durability: boolean, nowMs: number): string[] {
  const lines: string[] = [];
  if (s.lost > 0) lines.push(`(${s.lost} events were lost: the summary is missing them)`);
  for (const [op, h] of [...s.latency].sort((a, b) => b[1].count - a[1].count)) {
    lines.push('', `${op}: ${h.count} requests, median ${h.quantile(0.5)} us, p99 ${h.quantile(0.99)} us, max ${h.max} us`, ...h.render());
  }
  if (durability) {
    const rows = s.durability(nowMs);
    lines.push('', 'how long written data stayed not yet durable, per file (from written to durable):');
    if (rows.length === 0) lines.push('  no writes seen');
    else {
      lines.push(`  ${'INO'.padStart(8)} ${'WRITES'.padStart(7)} ${'BYTES'.padStart(10)} ${'MEDIAN'.padStart(9)} ${'MAX'.padStart(9)}  ${'NOT DURABLE AT THE END'.padEnd(26)} PATH`);
      for (const r of rows) {
        const pend = r.pendingWrites > 0 ? `${r.pendingWrites} writes, ${bytes_human(r.pendingBytes)}, ${ms_text(r.pendingMsOldest)}` : '-';
        lines.push(`  ${String(r.ino).padStart(8)} ${String(r.writes).padStart(7)} ${bytes_human(r.bytes).padStart(10)} ${(r.writes ? ms_text(r.waitMsMedian) : '-').padStart(9)} ${(r.writes ? ms_text(r.waitMsMax) : '-').padStart(9)}  ${pend.padEnd(26)} ${r.path || '-'}`);
      }
    }
  }
  return lines;
}

export const cmd_trace: Command = {
  name: 'trace',
  summary: 'print the requests of a running mount as they happen (process, file, latency, durability)',
  help: HELP,
  async run(argv) {
    const a = args_parse(argv, {
      flags: ['--json', '--durability', '--summary'],
      values: ['--pid', '--comm', '--op', '--slower-than', '--duration', '--buffer', '--nice'],
      repeated: ['--path'],
    });
    const [given] = pos_exact(a, ['MOUNTPOINT']);
    let durationS: number | undefined;
    if (a.values.has('--duration')) {
      durationS = Number(a.values.get('--duration'));
      if (!(durationS > 0)) throw new UsageError(`--duration must be a positive number of seconds, not '${a.values.get('--duration')}'`);
    }
    const ring = Number(a.values.get('--buffer') ?? RING_EVENTS);
    if (!Number.isSafeInteger(ring) || ring < 64 || ring > 1 << 20) throw new UsageError(`--buffer must be 64 to 1048576 events, not '${a.values.get('--buffer')}'`);
    const nice = Number(a.values.get('--nice') ?? NICE);
    if (!Number.isInteger(nice) || nice < 0 || nice > 19) throw new UsageError(`--nice must be 0 to 19, not '${a.values.get('--nice')}'`);
    const st = server_find(given!);
    // an observer yields the CPU to what it observes: on a busy machine the mount's clients and
    // server run first, and this trace catches up through its buffer (or is told what it lost)
    if (nice > 0) {
      try { os.setPriority(0, Math.min(19, os.getPriority(0) + nice)); } catch { /* keeps the priority it has */ }
    }
    const filter = filter_of(a, st.mountpoint);
    const json = a.flags.has('--json');
    const quiet = a.flags.has('--summary');
    const summary = new TraceSummary();
    const wantSummary = quiet || filter.durability;
    // output that can not keep up (a pipe to a slow reader) stops the reading of events: the
    // server then keeps them in its bounded buffer and drops the rest, never this process's memory
    let stream: Awaited<ReturnType<typeof control_stream_bytes>> | undefined;
    let paused = false;
    const out = (s: string | Buffer): void => {
      if (process.stdout.write(s) || paused || stream === undefined) return;
      paused = true;
      stream.pause();
      process.stdout.once('drain', () => { paused = false; stream?.resume(); });
    };
    let gone: string | null = null;
    let ended: string | null = null;
    let finish: () => void = () => {};
    const done = new Promise<void>((ok) => { finish = ok; });
    const end_of = (line: string): void => {
      try {
        ended = (JSON.parse(line) as { end: string }).end;
      } catch {
        ended = 'the server ended the trace';
      }
      finish();
    };
    // the server sends binary records (trace_wire.ts); the lines are made here, not in the
    // server, which only writes a few numbers and bytes per event while it serves the mount
    const reader = new RecordReader();
    const lost_text = (line: string): string => {
      const n = (JSON.parse(line) as { lost: number }).lost;
      return json ? line + '\n' : `--- ${n} events lost: this trace did not keep up ---\n`;
    };
    // what this process prints, gathered per chunk received: text lines are written as bytes
    // (req_record_line), without a string per event
    let ob = Buffer.allocUnsafe(OUT_BYTES);
    let o = 0;
    const flush = (): void => {
      if (o === 0) return;
      out(ob.subarray(0, o));
      ob = Buffer.allocUnsafe(OUT_BYTES);
      o = 0;
    };
    const put = (s: string): void => {
      if (o + 3 * s.length > ob.length) {
        flush();
        if (3 * s.length > ob.length) { out(s); return; }
      }
      o += ob.write(s, o, 'utf8');
    };
    const on_bytes = (chunk: Buffer): void => {
      reader.feed(chunk, (buf, p) => {
        let ev: TraceEvent & { lost?: number };
        if (buf[p + 4] === REC_REQUEST) {
          if (!json && !wantSummary) {
            if (o + req_record_line_max(buf, p) + 1 > ob.length) flush();
            o = req_record_line(buf, p, ob, o);
            ob[o++] = 10;
            return true;
          }
          ev = req_record_event(buf, p);
          if (wantSummary) summary.add(ev);
          if (!quiet) put((json ? event_json(ev) : event_text(ev)) + '\n');
          return true;
        }
        const line = buf.toString('utf8', p + 5, p + buf.readUInt32LE(p));
        if (line.startsWith('{"end"')) { end_of(line); return false; }
        try {
          ev = JSON.parse(line) as typeof ev;
        } catch {
          return true;
        }
        summary.add(ev);
        if (quiet) return true;
        if (ev.lost !== undefined) put(lost_text(line));
        else put(json ? line + '\n' : event_text(ev) + '\n');
        return true;
      });
      flush();
    };
    stream = await control_stream_bytes(st.socket, { op: 'trace', filter, ring, format: 'binary' }, on_bytes, (why) => {
      if (why !== null) gone = why;
      finish();
    });
    if (!stream.reply.ok) {
      if (stream.reply.errno === 'EINVAL') throw new UsageError(stream.reply.error ?? 'refused');
      throw new FsError('EIO', `${st.mountpoint}: ${stream.reply.error ?? 'the server refused to trace'}`);
    }
    if (!json && !quiet) out(TRACE_HEADER + '\n');
    const stop = (): void => finish();
    // a reader that went away (| head) ends the trace as Ctrl-C does
    process.stdout.on('error', stop);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const timer = durationS !== undefined ? setTimeout(stop, durationS * 1000) : undefined;
    await done;
    stream.close();
    if (timer !== undefined) clearTimeout(timer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    const nowMs = Date.now();
    if (wantSummary) {
      if (json) {
        out(JSON.stringify({
          summary: {
            events: summary.events, lost: summary.lost,
            latency: Object.fromEntries([...summary.latency].map(([op, h]) => [op, { ...h.toJSON(), p50: h.quantile(0.5), p99: h.quantile(0.99) }])),
            ...(filter.durability ? { durability: summary.durability(nowMs) } : {}),
          },
        }) + '\n');
      } else {
        out(summary_text(summary, filter.durability, nowMs).join('\n') + '\n');
      }
    }
    return stream_exit('trace', st.mountpoint, ended, gone) ?? 0;
  },
};
