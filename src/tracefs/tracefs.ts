// The kernel block-layer tracer: counts every write request that reaches one block device
// (tracefs event block:block_rq_issue) and writes it in the wear-file format of cowlog's own
// tracker (docs/WEARFILE.md) with source "tracefs".
//
// Invariants:
// - each tracer has its own tracefs instance (instances/cowlog-<pid>-<n>), so tracers of
//   different devices, or of different test processes, never disturb each other or the
//   top-level trace buffer;
// - the reader is a child process (tracefs_child.ts) that drains the ring buffer while the
//   caller blocks in synchronous I/O; a lost event fails the run loudly, never silently;
// - stop() resolves only when the wear file is written; kill() (for signal handlers) removes the
//   instance synchronously so nothing is left enabled.

import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { wear_decode } from '../wear/wearfile.js';
import type { WearMeta, WearRecord } from '../wear/wearfile.js';
import type { ChildConfig } from './tracefs_child.js';

export const TRACEFS = '/sys/kernel/tracing';
const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'tracefs_child.js');
let instanceSeq = 0;

/** Mounts tracefs if it is not mounted yet; returns why tracing can not work, or undefined. */
export function tracefs_ensure(root = TRACEFS): string | undefined {
  const ev = path.join(root, 'events/block/block_rq_issue');
  if (fs.existsSync(ev)) return undefined;
  if (!fs.existsSync(root)) return `${root} does not exist: this kernel has no tracefs`;
  const r = spawnSync('mount', ['-t', 'tracefs', 'nodev', root], { encoding: 'utf8' });
  if (fs.existsSync(ev)) return undefined;
  return `cannot mount tracefs at ${root} (${(r.stderr || '').trim() || 'no block:block_rq_issue event'}); tracing needs root`;
}

/** The device's kernel dev_t (major << 20 | minor) and size, from sysfs. */
export function device_info(device: string): { devKernel: number; bytes: number; name: string } {
  const real = fs.realpathSync(device);
  if (!fs.statSync(real).isBlockDevice()) throw new Error(`${device} is not a block device`);
  const name = path.basename(real);
  const sys = `/sys/class/block/${name}`;
  const [maj, min] = fs.readFileSync(`${sys}/dev`, 'utf8').trim().split(':').map(Number) as [number, number];
  const sectors = Number(fs.readFileSync(`${sys}/size`, 'utf8').trim());
  return { devKernel: (maj << 20) | min, bytes: sectors * 512, name };
}

export interface TracerOptions {
  /** the block device to trace, e.g. /dev/loop3 */
  device: string;
  /** where the wear file goes */
  out: string;
  /** wear-file metadata; fs is required, source is set to "tracefs" */
  meta: Omit<WearMeta, 'source'>;
  /** ring buffer per CPU (default 32 MiB) */
  bufferKb?: number;
  /** timeline entries kept (default 4 Mi; counts and bytes stay exact past it) */
  timelineMax?: number;
  tracefs?: string;
}

export class TracefsTracer {
  private done: Promise<{ ok: boolean; error?: string }>;
  private stopped = false;

  private constructor(
    private readonly child: ChildProcess,
    readonly instanceDir: string,
    readonly out: string,
    done: Promise<{ ok: boolean; error?: string }>,
  ) {
    this.done = done;
  }

  /** Starts tracing; resolves once the kernel is recording. */
  static async start(o: TracerOptions): Promise<TracefsTracer> {
    const root = o.tracefs ?? TRACEFS;
    const why = tracefs_ensure(root);
    if (why) throw new Error(why);
    stale_instances_remove(root);
    const info = device_info(o.device);
    const instance = `cowlog-${process.pid}-${instanceSeq++}`;
    const cfg: ChildConfig = {
      tracefs: root,
      instance,
      devKernel: info.devKernel,
      deviceBytes: info.bytes,
      bufferKb: o.bufferKb ?? 32768,
      timelineMax: o.timelineMax ?? 4 * 1024 * 1024,
      out: o.out,
      meta: { deviceBytes: info.bytes, device: o.device, ...o.meta, source: 'tracefs' } as WearMeta,
    };
    const child = spawn(process.execPath, [CHILD, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let outText = '';
    let readyResolve: (() => void) | undefined;
    const ready = new Promise<void>((res) => { readyResolve = res; });
    const done = new Promise<{ ok: boolean; error?: string }>((resolve) => {
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (d: string) => {
        outText += d;
        if (outText.includes('ready\n')) readyResolve?.();
      });
      child.on('close', (code) => {
        readyResolve?.();
        const last = outText.split('\n').filter((l) => l.startsWith('{')).pop();
        if (last) resolve(JSON.parse(last) as { ok: boolean; error?: string });
        else resolve({ ok: false, error: `tracer exited with code ${code} before reporting` });
      });
    });
    const tracer = new TracefsTracer(child, path.join(root, 'instances', instance), o.out, done);
    await ready;
    if (!outText.includes('ready\n')) {
      const r = await done;
      throw new Error(`tracefs: ${r.error ?? 'the tracer did not start'}`);
    }
    return tracer;
  }

  /** Stops tracing and returns the record (also written to `out`). Throws if events were lost. */
  async stop(): Promise<WearRecord> {
    if (this.stopped) throw new Error('tracer stopped twice');
    this.stopped = true;
    this.child.stdin!.end('stop\n');
    const r = await this.done;
    if (!r.ok) throw new Error(`tracefs: ${r.error}`);
    return wear_decode(fs.readFileSync(this.out), this.out);
  }

  /** For cleanup on failure or a signal: ends the reader and removes the instance, synchronously. */
  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
    instance_remove(this.instanceDir);
  }
}

function instance_remove(dir: string): void {
  try { fs.writeFileSync(path.join(dir, 'events/block/block_rq_issue/enable'), '0'); } catch { /* gone */ }
  // a killed reader may still hold trace_pipe open for a moment (EBUSY): retry for up to 2 s
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 200; i++) {
    try { fs.rmdirSync(dir); return; } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    }
    Atomics.wait(sleeper, 0, 0, 10);
  }
}

/** Removes instances left by cowlog processes that no longer exist. */
export function stale_instances_remove(root = TRACEFS): string[] {
  const removed: string[] = [];
  let names: string[] = [];
  try { names = fs.readdirSync(path.join(root, 'instances')); } catch { return removed; }
  for (const n of names) {
    const m = /^cowlog-(\d+)-\d+$/.exec(n);
    if (!m) continue;
    const pid = Number(m[1]);
    try { process.kill(pid, 0); continue; } catch { /* dead */ }
    instance_remove(path.join(root, 'instances', n));
    removed.push(n);
  }
  return removed;
}

/** Traces `device` while `fn` runs; returns fn's result and the record. */
export async function traced<T>(o: TracerOptions, fn: () => Promise<T> | T): Promise<{ value: T; wear: WearRecord }> {
  const tr = await TracefsTracer.start(o);
  let value: T;
  try {
    value = await fn();
  } catch (e) {
    tr.kill();
    throw e;
  }
  return { value, wear: await tr.stop() };
}
