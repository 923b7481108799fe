// The replayer in a worker thread, so the runner's main thread stays free while a replay runs
// for minutes: it prints progress, and its SIGINT handler can unmount and detach on Ctrl-C.
//
// Protocol: the worker validates the trace and applies it, posting {type:'progress'} and then
// {type:'applied'}; it keeps its model and waits for {type:'verify', dir} (the runner unmounts,
// and mounts again in between), answers {type:'verified'} and exits.

import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Replayer } from './replay.js';
import type { ApplyResult, VerifyResult } from './replay.js';
import { trace_read } from './trace.js';

interface Init { tracePath: string; dir: string; deviceBytes: number; syncCommand?: readonly string[] }
type Msg =
  | { type: 'progress'; done: number; total: number }
  | { type: 'applied'; result: ApplyResult }
  | { type: 'verified'; result: VerifyResult }
  | { type: 'error'; message: string };

export class ReplayTask {
  private readonly worker: Worker;
  private appliedP: Promise<ApplyResult>;
  private verifiedResolve: ((v: VerifyResult) => void) | undefined;
  private verifiedReject: ((e: Error) => void) | undefined;
  private failed: Error | undefined;

  constructor(init: Init, onProgress: (done: number, total: number) => void = () => {}) {
    this.worker = new Worker(new URL(import.meta.url), { workerData: init });
    this.appliedP = new Promise<ApplyResult>((resolve, reject) => {
      this.worker.on('message', (m: Msg) => {
        if (m.type === 'progress') onProgress(m.done, m.total);
        else if (m.type === 'applied') resolve(m.result);
        else if (m.type === 'verified') this.verifiedResolve?.(m.result);
        else { const e = new Error(m.message); this.failed = e; reject(e); this.verifiedReject?.(e); }
      });
      this.worker.on('error', (e) => { this.failed = e; reject(e); this.verifiedReject?.(e); });
      this.worker.on('exit', (code) => {
        const e = new Error(`the replay worker exited (code ${code})`);
        reject(e);
        this.verifiedReject?.(e);
      });
    });
  }

  applied(): Promise<ApplyResult> { return this.appliedP; }

  verify(dir: string): Promise<VerifyResult> {
    if (this.failed) return Promise.reject(this.failed);
    const p = new Promise<VerifyResult>((resolve, reject) => { this.verifiedResolve = resolve; this.verifiedReject = reject; });
    this.worker.postMessage({ type: 'verify', dir });
    return p;
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  const init = workerData as Init;
  try {
    const trace = trace_read(init.tracePath, { deviceBytes: init.deviceBytes });
    const r = new Replayer(trace, init.dir, { ...(init.syncCommand ? { syncCommand: init.syncCommand } : {}), progress: (done, total) => port.postMessage({ type: 'progress', done, total }) });
    port.postMessage({ type: 'applied', result: r.apply() });
    port.on('message', (m: { type: string; dir: string }) => {
      if (m.type !== 'verify') return;
      try {
        port.postMessage({ type: 'verified', result: r.verify(m.dir) });
      } catch (e) {
        port.postMessage({ type: 'error', message: (e as Error).stack ?? String(e) });
      }
      port.close();
    });
  } catch (e) {
    port.postMessage({ type: 'error', message: (e as Error).message });
    port.close();
  }
}
