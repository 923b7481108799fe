// The tracefs reader, run as its own process for the length of a traced run (the replayer in
// the parent blocks its event loop with synchronous calls, so the parent could not drain the
// kernel's buffer in time). Started by tracefs.ts; not meant to be run by hand.
//
// Protocol: argv[2] is a JSON ChildConfig. The child prints "ready" once the event is enabled
// and the start marker written; on a line "stop" on stdin (or stdin closing) it writes the stop
// marker, drains the pipe up to it, checks that the kernel lost nothing, writes the wear file and
// prints one JSON line {"ok":true,...} or {"ok":false,"error":...}. It removes its tracing
// instance in every case.
//
// Invariants:
// - only write requests to the traced device are counted (kernel filter dev == D && rwbs ~ *W*,
//   checked again here); pure flushes carry no W and no bytes and are not recorded;
// - a request counts once for every 4 KiB block it touches (docs/WEARFILE.md);
// - events lost by the kernel (ring-buffer overrun, dropped events, "LOST" lines) fail the run.

import fs from 'node:fs';
import path from 'node:path';
import { wear_encode, WEAR_REQ_FLUSH } from '../wear/wearfile.js';
import type { WearMeta } from '../wear/wearfile.js';

export interface ChildConfig {
  /** the tracefs mount, normally /sys/kernel/tracing */
  tracefs: string;
  /** name of the tracing instance to create under instances/ */
  instance: string;
  /** kernel dev_t of the device: major << 20 | minor */
  devKernel: number;
  deviceBytes: number;
  /** ring buffer per CPU, KiB */
  bufferKb: number;
  /** timeline entries kept before the timeline is marked truncated */
  timelineMax: number;
  /** where to write the wear file */
  out: string;
  meta: WearMeta;
}

const BLOCK = 4096;
// "<task>-<pid> [cpu] flags 12345.678901: block_rq_issue: 7,0 WS 4096 () 8 + 8 none,0,0 [dd]"
// (older kernels print no ioprio field; the part we read is the same)
const ISSUE_RE = /\s(\d+)\.(\d+): block_rq_issue: (\d+),(\d+) (\S+) (\d+) \((.*?)\) (\d+) \+ (\d+)/;
const MARK_RE = /\s(\d+)\.(\d+): tracing_mark_write: cowlog-(start|stop) (\S+)/;
const LOST_RE = /LOST (\d+) EVENTS/;

class Growable {
  timeUs: Float64Array;
  offset: Float64Array;
  length: Uint32Array;
  flags: Uint32Array;
  n = 0;
  constructor(cap: number) {
    this.timeUs = new Float64Array(cap);
    this.offset = new Float64Array(cap);
    this.length = new Uint32Array(cap);
    this.flags = new Uint32Array(cap);
  }
  push(t: number, off: number, len: number, fl: number): void {
    if (this.n === this.timeUs.length) {
      const grow = <T extends Float64Array | Uint32Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      this.timeUs = grow(this.timeUs); this.offset = grow(this.offset);
      this.length = grow(this.length); this.flags = grow(this.flags);
    }
    this.timeUs[this.n] = t; this.offset[this.n] = off; this.length[this.n] = len; this.flags[this.n] = fl;
    this.n++;
  }
}

function write_file(p: string, v: string): void {
  fs.writeFileSync(p, v);
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2]!) as ChildConfig;
  // the parent decides when to stop; a Ctrl-C meant for the whole run must not kill the reader
  // before the parent has unmounted and asked for the result
  process.on('SIGINT', () => {});
  const inst = path.join(cfg.tracefs, 'instances', cfg.instance);
  const tag = `${process.pid}-${Date.now()}`;
  let pipeFd = -1;
  const cleanup = (): void => {
    if (pipeFd >= 0) { try { fs.closeSync(pipeFd); } catch { /* closed */ } pipeFd = -1; }
    try { write_file(path.join(inst, 'events/block/block_rq_issue/enable'), '0'); } catch { /* gone */ }
    try { fs.rmdirSync(inst); } catch { /* gone or busy */ }
  };
  const fail = (why: string): never => {
    cleanup();
    process.stdout.write(JSON.stringify({ ok: false, error: why }) + '\n');
    process.exit(1);
  };
  process.on('SIGTERM', () => fail('stopped by SIGTERM'));

  try {
    fs.mkdirSync(inst);
  } catch (e) {
    fail(`cannot create tracing instance ${inst}: ${(e as Error).message}`);
  }
  const ev = path.join(inst, 'events/block/block_rq_issue');
  let userFilterOnly = false;
  try {
    write_file(path.join(inst, 'buffer_size_kb'), String(cfg.bufferKb));
    try { write_file(path.join(inst, 'trace_clock'), 'mono'); } catch { /* the default clock works too */ }
    try {
      write_file(path.join(ev, 'filter'), `dev == ${cfg.devKernel} && rwbs ~ "*W*"`);
    } catch {
      write_file(path.join(ev, 'filter'), `dev == ${cfg.devKernel}`);
      userFilterOnly = true;
    }
    write_file(path.join(ev, 'enable'), '1');
    write_file(path.join(inst, 'tracing_on'), '1');
    pipeFd = fs.openSync(path.join(inst, 'trace_pipe'), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    write_file(path.join(inst, 'trace_marker'), `cowlog-start ${tag}\n`);
  } catch (e) {
    fail(`cannot enable block:block_rq_issue in ${inst}: ${(e as Error).message}`);
  }

  const blocks = Math.floor(cfg.deviceBytes / BLOCK);
  const counts = new Uint32Array(blocks);
  const tl = new Growable(1 << 16);
  let bytes = 0n;
  let requests = 0;
  let truncated = false;
  let lost = 0;
  let t0Us: number | undefined;
  let stopped = false;
  let outside = 0;
  let partial = '';
  const buf = Buffer.alloc(1 << 20);

  const line_take = (line: string): void => {
    const m = ISSUE_RE.exec(line);
    if (m) {
      const rwbs = m[5]!;
      const opAt = rwbs.startsWith('F') ? 1 : 0; // a leading F is PREFLUSH
      if (rwbs[opAt] !== 'W') return; // discard, read, flush, write-zeroes ("N")
      if (userFilterOnly && (Number(m[3]) << 20 | Number(m[4])) !== cfg.devKernel) return;
      const sector = Number(m[8]), nr = Number(m[9]);
      if (nr === 0) return;
      const off = sector * 512, len = nr * 512;
      if (off + len > cfg.deviceBytes) { outside++; return; }
      const tUs = Number(m[1]) * 1e6 + Number(m[2]);
      const fl = opAt === 1 || rwbs.slice(opAt + 1).includes('F') ? WEAR_REQ_FLUSH : 0;
      for (let b = Math.floor(off / BLOCK), last = Math.floor((off + len - 1) / BLOCK); b <= last; b++) counts[b]!++;
      bytes += BigInt(len);
      requests++;
      if (tl.n < cfg.timelineMax) tl.push(tUs, off, len, fl); else truncated = true;
      return;
    }
    const mk = MARK_RE.exec(line);
    if (mk && mk[4] === tag) {
      if (mk[3] === 'start') t0Us = Number(mk[1]) * 1e6 + Number(mk[2]);
      else stopped = true;
      return;
    }
    const lm = LOST_RE.exec(line);
    if (lm) lost += Number(lm[1]);
  };

  /** Reads what the pipe holds now; false when it was empty. */
  const drain = (): boolean => {
    let any = false;
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(pipeFd, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return any;
        throw e;
      }
      if (n === 0) return any;
      any = true;
      const text = partial + buf.toString('latin1', 0, n);
      const lines = text.split('\n');
      partial = lines.pop()!;
      for (const l of lines) line_take(l);
    }
  };

  let stopAsked = false;
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d: string) => { if (d.includes('stop')) stopAsked = true; });
  process.stdin.on('end', () => { stopAsked = true; });
  process.stdin.on('error', () => { stopAsked = true; });
  process.stdout.write('ready\n');

  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  while (!stopAsked) {
    try { drain(); } catch (e) { fail(`reading trace_pipe: ${(e as Error).message}`); }
    await sleep(20);
  }
  try {
    write_file(path.join(inst, 'trace_marker'), `cowlog-stop ${tag}\n`);
  } catch (e) {
    fail(`cannot write the stop marker: ${(e as Error).message}`);
  }
  const deadline = Date.now() + 30_000;
  while (!stopped) {
    if (!drain()) {
      if (Date.now() > deadline) fail('the stop marker never came through trace_pipe');
      await sleep(10);
    }
  }
  // the kernel's own account of what it could not keep
  try {
    for (const cpu of fs.readdirSync(path.join(inst, 'per_cpu'))) {
      const stats = fs.readFileSync(path.join(inst, 'per_cpu', cpu, 'stats'), 'utf8');
      for (const key of ['overrun', 'dropped events']) {
        const m = new RegExp(`^${key}: (\\d+)`, 'm').exec(stats);
        if (m) lost += Number(m[1]);
      }
    }
  } catch { /* per_cpu stats absent: rely on LOST lines */ }
  cleanup();
  if (lost > 0) fail(`the kernel lost ${lost} trace events (ring buffer of ${cfg.bufferKb} KiB per CPU too small or the reader too slow): the counts would be wrong`);
  if (outside > 0) fail(`${outside} write requests fell outside the ${cfg.deviceBytes}-byte device: wrong device size?`);
  if (t0Us === undefined) fail('the start marker never came through trace_pipe');

  const n = tl.n;
  const timeNs = new BigUint64Array(n), offset = new BigUint64Array(n);
  for (let i = 0; i < n; i++) {
    timeNs[i] = BigInt(Math.max(0, Math.round((tl.timeUs[i]! - t0Us!) * 1000)));
    offset[i] = BigInt(tl.offset[i]!);
  }
  const rec = {
    meta: cfg.meta,
    blockSize: BLOCK,
    counts,
    bytes,
    truncated,
    timeNs,
    offset,
    length: tl.length.slice(0, n),
    flags: tl.flags.slice(0, n),
  };
  fs.writeFileSync(cfg.out + '.tmp', wear_encode(rec));
  fs.renameSync(cfg.out + '.tmp', cfg.out);
  process.stdout.write(JSON.stringify({ ok: true, requests, bytes: Number(bytes), truncated }) + '\n');
  process.exit(0);
}

main().catch((e: unknown) => {
  process.stdout.write(JSON.stringify({ ok: false, error: (e as Error).stack ?? String(e) }) + '\n');
  process.exit(1);
});
