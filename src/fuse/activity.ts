// Who does what on a mount, for `cowlog top`: per process and per file, the requests served,
// bytes read and written, and a latency histogram, counted from the moment the first `top`
// attached. `top` asks for the rows that changed since its last look and turns the counters
// into rates itself.
//
// Invariants:
// - Counters only grow while the table lives; a row's `touched` is the table's sequence number
//   of its last change, and rows_since(s) returns exactly the rows changed after s.
// - At most PROC_ROWS_MAX processes and FILE_ROWS_MAX files have rows of their own; what comes
//   after that is counted in one row of "others" (pid -1, ino -1), so memory stays bounded and
//   every request is still counted somewhere.
// - `dev` (device bytes written on the row's behalf) is null until a device write is attributed
//   to the row: file data to its file and the process that last wrote it, fsync's redo blocks to
//   the file and the process that asked; checkpoint blocks to nobody.

import { Histogram } from '../util/histogram.js';
import type { HistogramJson } from '../util/histogram.js';

export const PROC_ROWS_MAX = 1024;
export const FILE_ROWS_MAX = 8192;
export const OTHERS = -1;

/** A row as snapshots carry it (cumulative since the table started). */
export interface ActivityRowJson {
  /** pid, or inode number; OTHERS for the row of everything past the bounds */
  id: number;
  /** the process name, or the file's last path */
  name: string;
  /** processes: the uid of the last request */
  uid: number;
  requests: number;
  readBytes: number;
  writeBytes: number;
  /** device bytes written on its behalf; null while none was */
  dev: number | null;
  lat: HistogramJson;
}

export interface ActivityRow extends Omit<ActivityRowJson, 'lat'> {
  lat: Histogram;
  /** the table's sequence number of its last change */
  touched: number;
}

export interface ActivitySnapshot {
  /** the table's sequence number at this snapshot: ask rows_since(seq) next time */
  seq: number;
  /** when the table started counting (ms since the epoch) */
  sinceMs: number;
  procs: ActivityRowJson[];
  files: ActivityRowJson[];
}

function row_new(id: number, name: string): ActivityRow {
  return { id, name, uid: 0, requests: 0, readBytes: 0, writeBytes: 0, dev: null, lat: new Histogram(), touched: 0 };
}

function row_json(r: ActivityRow): ActivityRowJson {
  return { id: r.id, name: r.name, uid: r.uid, requests: r.requests, readBytes: r.readBytes, writeBytes: r.writeBytes, dev: r.dev, lat: r.lat.toJSON() };
}

export class Activity {
  private readonly procs = new Map<number, ActivityRow>();
  private readonly files = new Map<number, ActivityRow>();
  private seq = 0;
  readonly sinceMs = Date.now();

  /** One request answered: `us` its latency, bytes read or written, `ino` 0 when it named no file. */
  request(pid: number, comm: () => string, uid: number, ino: number, path: string, us: number, read: number, written: number): void {
    const s = ++this.seq;
    const p = this.row(this.procs, PROC_ROWS_MAX, pid, comm);
    p.uid = uid;
    this.count(p, s, us, read, written);
    if (ino > 0) {
      const f = this.row(this.files, FILE_ROWS_MAX, ino, () => path);
      if (path !== '' && f.id !== OTHERS) f.name = path;
      this.count(f, s, us, read, written);
    }
  }

  /** A device write of `bytes` made for file `ino` (0: none) on behalf of process `pid` (0: none). */
  device(pid: number, comm: () => string, ino: number, bytes: number): void {
    const s = ++this.seq;
    for (const [m, max, id, name] of [[this.procs, PROC_ROWS_MAX, pid, comm], [this.files, FILE_ROWS_MAX, ino, () => '']] as const) {
      if (id <= 0) continue;
      const r = this.row(m, max, id, name);
      r.dev = (r.dev ?? 0) + bytes;
      r.touched = s;
    }
  }

  private row(m: Map<number, ActivityRow>, max: number, id: number, name: () => string): ActivityRow {
    let r = m.get(id);
    if (r !== undefined) return r;
    if (m.size >= max) id = OTHERS;
    r = m.get(id);
    if (r === undefined) {
      r = row_new(id, id === OTHERS ? '(others)' : name());
      m.set(id, r);
    }
    return r;
  }

  private count(r: ActivityRow, s: number, us: number, read: number, written: number): void {
    r.requests++;
    r.readBytes += read;
    r.writeBytes += written;
    r.lat.add(us);
    r.touched = s;
  }

  /** The rows changed after sequence number `after` (all rows for -1). */
  rows_since(after: number): ActivitySnapshot {
    const pick = (m: Map<number, ActivityRow>): ActivityRowJson[] => {
      const out: ActivityRowJson[] = [];
      for (const r of m.values()) if (r.touched > after) out.push(row_json(r));
      return out;
    };
    return { seq: this.seq, sinceMs: this.sinceMs, procs: pick(this.procs), files: pick(this.files) };
  }
}
