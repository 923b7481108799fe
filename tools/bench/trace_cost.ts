// What tracing costs the server per request, measured in-process where this machine's noise
// (other work on its two cores moves FUSE timings by a factor of two) can not hide a few
// microseconds: the FUSE handlers of ops.ts on an engine on a memory device, called directly,
// (a) as before tracing existed (no hub), (b) through the trace hub with nobody attached
// (latency histograms only), (c) with one tracer attached that takes every event (its socket
// accepts everything at once; it asks for binary records, as `cowlog trace` does, so writing
// them and batching are counted, the kernel's socket
// copy is not). Requests: getattr, a 4 KiB write, and creat()+close()+unlink() of a new file
// (five requests and a forget, per file). Rounds alternate the three (in a rotating order); the best round of each is reported, the figure
// least disturbed by other work.
//
// Usage: node dist/tools/bench/trace_cost.js [--rounds 40] [--ops 20000]

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { MemoryDevice } from '../../src/device/memory.js';
import { FileSystem } from '../../src/fs/fs.js';
import { CowlogOps } from '../../src/fuse/ops.js';
import { logger_memory } from '../../src/fuse/log.js';
import { FILTER_NONE, TraceHub } from '../../src/fuse/trace.js';
import type { LowOps } from '../../src/fuse/binding.js';
import { ReplyRecorder } from './replies.js';

interface Setup { plain: LowOps; idle: LowOps; traced: LowOps; rec: ReplyRecorder }

function setup(): Setup {
  const dev = new MemoryDevice(65536);
  FileSystem.mkfs(dev);
  const fsys = FileSystem.mount(dev);
  const caller = { uid: 0, gid: 0, pid: process.pid, umask: 0 };
  const rec = new ReplyRecorder();
  const make = (): { o: CowlogOps; hub: TraceHub } => {
    const o = new CowlogOps({ fs: fsys, caller: () => caller, log: logger_memory() });
    return { o, hub: new TraceHub(o.trace_source()) };
  };
  const a = make(), b = make(), c = make();
  const sock = new EventEmitter() as unknown as Socket & { writableLength: number };
  Object.assign(sock, { writableLength: 0, write: () => true, end: () => sock });
  c.hub.trace_attach(sock, FILTER_NONE, undefined, 'binary');
  return { plain: a.o.ops(rec), idle: b.o.ops(rec, b.hub), traced: c.o.ops(rec, c.hub), rec };
}

/** µs per request of `n` requests of `kind`, yielding to the event loop every 500 (the tracer's batches go out there). */
const KINDS = ['getattr', 'write', 'create'] as const;
type Kind = (typeof KINDS)[number];
const KIND_LABEL: Record<Kind, string> = { getattr: 'getattr', write: 'write 4 KiB', create: 'creat+unlink' };

/** Every handler here answers synchronously: the recorder's last answer is this request's. */
async function run(s: Setup, ops: LowOps, kind: Kind, n: number, w: { ino: number; fh: number }, d: number, files: number[], tag: string): Promise<number> {
  const buf = Buffer.alloc(4096, 1);
  const rec = s.rec;
  const id = (): number => rec.request().id;
  const t0 = performance.now();
  for (let i = 0; i < n; i += 500) {
    for (let j = 0; j < 500; j++) {
      if (kind === 'getattr') ops.getattr!(id(), files[j % files.length]!, 0);
      else if (kind === 'write') ops.write!(id(), w.ino, w.fh, buf, ((i + j) % 1024) * 4096, false, false);
      else {
        // what the kernel sends for creat(), close() and unlink() of a new file: lookup (a
        // negative answer), create, flush, release, unlink
        const name = `${tag}${i + j}`;
        ops.lookup!(id(), d, name);
        ops.create!(id(), d, name, 0o100644, 0o101);
        const fh = rec.last?.fh ?? 0, ino = rec.last?.attr?.ino ?? 0;
        ops.flush?.(id(), ino, fh);
        ops.release!(id(), ino, fh, 0);
        ops.unlink!(id(), d, name);
        ops.forget!(ino, 1);
      }
    }
    await new Promise((ok) => setImmediate(ok));
  }
  return ((performance.now() - t0) * 1000) / n;
}

function signed(x: number): string {
  return `${x < 0 ? '−' : '+'}${Math.abs(x).toFixed(2)}`;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let rounds = 40, n = 20000;
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === '--rounds') rounds = Number(argv[i + 1]);
    else if (argv[i] === '--ops') n = Number(argv[i + 1]);
    else throw new Error(`unknown option ${argv[i]}`);
  }
  const s = setup();
  const ask = async (r: { id: number; reply: Promise<import('./replies.js').Reply> }, fn: (id: number) => void): Promise<import('./replies.js').Reply> => {
    fn(r.id);
    const a = await r.reply;
    if (a.errno !== 0) throw new Error(`errno ${a.errno}`);
    return a;
  };
  const d = (await ask(s.rec.request(), (id) => s.plain.mkdir!(id, 1, 'd', 0o755))).attr!.ino;
  const files: number[] = [];
  for (let i = 0; i < 100; i++) {
    const c = await ask(s.rec.request(), (id) => s.plain.create!(id, d, `f${i}`, 0o100644, 0));
    files.push(c.attr!.ino);
    await ask(s.rec.request(), (id) => s.plain.release!(id, c.attr!.ino, c.fh!, 0));
  }
  const w = (await ask(s.rec.request(), (id) => s.plain.create!(id, 1, 'w', 0o100644, 0))).attr!.ino;
  const fhs = { plain: { ino: w, fh: 0 }, idle: { ino: w, fh: 0 }, traced: { ino: w, fh: 0 } };
  for (const k of ['plain', 'idle', 'traced'] as const) fhs[k].fh = (await ask(s.rec.request(), (id) => s[k].open!(id, w, 2, false))).fh!;
  const best: Record<string, number> = {};
  for (let r = 0; r < rounds; r++) {
    for (const kind of KINDS) {
      // rotated, so that periodic engine work (a checkpoint every so many files) falls on each in turn
      const three = ['plain', 'idle', 'traced'] as const;
      for (const k of three.map((_, i) => three[(i + r) % 3]!)) {
        const us = await run(s, s[k], kind, kind === 'create' ? n / 10 : n, fhs[k], d, files, `${k}${r}-`);
        best[`${kind} ${k}`] = Math.min(best[`${kind} ${k}`] ?? Infinity, us);
      }
    }
  }
  const row = (kind: string, label: string): string => {
    const p = best[`${kind} plain`]!, i = best[`${kind} idle`]!, t = best[`${kind} traced`]!;
    return `${label.padEnd(14)} ${p.toFixed(2).padStart(8)} ${i.toFixed(2).padStart(14)} ${t.toFixed(2).padStart(12)} ${signed(i - p).padStart(12)} ${signed(t - p).padStart(12)}`;
  };
  process.stdout.write([
    `trace cost: µs per request in the server's handlers (engine on a memory device), best of ${rounds} rounds of ${n}`,
    `${'request'.padEnd(14)} ${'no hub'.padStart(8)} ${'nobody traces'.padStart(14)} ${'one tracer'.padStart(12)} ${'idle cost'.padStart(12)} ${'tracer cost'.padStart(12)}`,
    ...KINDS.map((k) => row(k, KIND_LABEL[k])),
    '',
  ].join('\n'));
}

main().catch((e: unknown) => {
  process.stderr.write(`trace_cost: ${(e as Error).message}\n`);
  process.exit(1);
});
