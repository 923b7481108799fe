// What `cowlog trace` prints when it stops: latency histograms per request kind (--summary) and,
// with --durability, per file how long written data stayed not yet durable. Built from the
// events the tracer received, so events it lost (it is told how many) are missing from it.

import { Histogram } from '../util/histogram.js';
import { median } from '../util/median.js';
import { WriteLedger } from '../fuse/ledger.js';
import { iso_ms } from '../fuse/trace.js';
import type { TraceEvent } from '../fuse/trace.js';

export interface FileDurability {
  ino: number;
  path: string;
  /** writes and bytes made durable while tracing */
  writes: number;
  bytes: number;
  /** how long they waited from written to durable, ms */
  waitMsMedian: number;
  waitMsMax: number;
  /** writes still not durable when the trace stopped, and how long the oldest had waited by then */
  pendingWrites: number;
  pendingBytes: number;
  pendingMsOldest: number;
}

export class TraceSummary {
  readonly latency = new Map<string, Histogram>();
  private readonly ledger = new WriteLedger(true);
  private readonly files = new Map<number, { path: string; waits: number[]; bytes: number }>();
  events = 0;
  lost = 0;

  /** One line of the stream, parsed. */
  add(ev: TraceEvent & { lost?: number }): void {
    if (ev.lost !== undefined) { this.lost += ev.lost; return; }
    this.events++;
    const t = iso_ms(ev.time);
    switch (ev.op) {
      case 'written':
        this.ledger.written(ev.ino, t, ev.len ?? 0, ev.pid);
        this.path_note(ev);
        return;
      case 'logged':
        this.ledger.logged(ev.ino);
        return;
      case 'durable': {
        const b = this.ledger.durable_take(ev.ino);
        if (b === undefined) return;
        const f = this.path_note(ev);
        for (const w of b.times!) f.waits.push(t - w);
        f.bytes += b.bytes;
        return;
      }
      default: {
        if (ev.us === undefined) return;
        let h = this.latency.get(ev.op);
        if (h === undefined) {
          h = new Histogram();
          this.latency.set(ev.op, h);
        }
        h.add(ev.us);
      }
    }
  }

  private path_note(ev: TraceEvent): { path: string; waits: number[]; bytes: number } {
    let f = this.files.get(ev.ino);
    if (f === undefined) {
      f = { path: ev.path, waits: [], bytes: 0 };
      this.files.set(ev.ino, f);
    }
    if (ev.path !== '') f.path = ev.path;
    return f;
  }

  /** Per file, longest wait first. `nowMs`: when the trace stopped. */
  durability(nowMs: number): FileDurability[] {
    const pending = this.ledger.pending();
    const inos = new Set([...this.files.keys(), ...pending.keys()]);
    const out: FileDurability[] = [];
    for (const ino of inos) {
      const f = this.files.get(ino);
      const p = pending.get(ino);
      out.push({
        ino, path: f?.path ?? '', writes: f?.waits.length ?? 0, bytes: f?.bytes ?? 0,
        waitMsMedian: median(f?.waits ?? []), waitMsMax: Math.max(0, ...(f?.waits ?? [])),
        pendingWrites: p?.writes ?? 0, pendingBytes: p?.bytes ?? 0, pendingMsOldest: p !== undefined ? nowMs - p.first : 0,
      });
    }
    return out.sort((a, b) => Math.max(b.waitMsMax, b.pendingMsOldest) - Math.max(a.waitMsMax, a.pendingMsOldest));
  }
}
