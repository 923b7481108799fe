// Wear with names: who the device bytes of a run were written for, from a wear file's timeline
// (version 2: an inode and a process per request) and the names its metadata keeps (`files`:
// inode → path, `processes`: pid → name, as the mount that recorded it saw them).
//
// Invariants: a row's bytes are the sum of the lengths of the requests written for it (a
// process row: of every process of that name); the rows
// of the writes made for no file (or no known process) are kept as one row of their own (id 0),
// so the rows sum to the bytes of the timeline; a timeline that was truncated is refused (the
// totals would not be the run's).

import { BLOCK_SIZE } from '../device/device.js';
import type { WearRecord } from './wearfile.js';

export type WearBy = 'file' | 'process';

export interface WearRow {
  /** inode or pid; 0 for writes made for no file / no known process (checkpoints, the cleaner) */
  id: number;
  name: string;
  bytes: number;
  requests: number;
}

export interface HotBlock {
  block: number;
  writes: number;
  /** who wrote it, most writes first */
  by: { id: number; name: string; writes: number }[];
}

export interface WearByReport {
  by: WearBy;
  rows: WearRow[];
  hottest: HotBlock[];
}

export class WearNamesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WearNamesError';
  }
}

function names_of(rec: WearRecord, by: WearBy): Record<string, string> {
  const m = rec.meta[by === 'file' ? 'files' : 'processes'];
  return typeof m === 'object' && m !== null ? m as Record<string, string> : {};
}

/**
 * Device bytes per file or per process, largest first, and for the `hottest` most-written
 * blocks, who wrote them.
 */
export function wear_by(rec: WearRecord, by: WearBy, hottest = 10): WearByReport {
  if (rec.truncated) throw new WearNamesError('the timeline of this wear file was truncated: its requests are not the whole run');
  const col = by === 'file' ? rec.ino : rec.pid;
  if (col === undefined) throw new WearNamesError('this wear record has no inode and process per request (a version 1 file)');
  const names = names_of(rec, by);
  const none = by === 'file' ? '(no file: checkpoints, tables, the cleaner)' : '(no process known)';
  const name = (id: number): string => (id === 0 ? none : names[id] ?? (by === 'file' ? `inode ${id}` : `pid ${id}`));
  // processes are counted by name (a shell loop starts a new dd for each file; they are one
  // row, with the first pid seen), files by inode
  const rows = new Map<string | number, WearRow>();
  for (let i = 0; i < col.length; i++) {
    const id = col[i]!;
    const k = by === 'process' && names[id] !== undefined ? names[id]! : id;
    let r = rows.get(k);
    if (r === undefined) { r = { id, name: name(id), bytes: 0, requests: 0 }; rows.set(k, r); }
    r.bytes += rec.length[i]!;
    r.requests++;
  }
  // the hottest blocks, then who wrote each (one pass over the timeline for all of them)
  const order = Array.from(rec.counts.keys()).filter((b) => rec.counts[b]! > 0).sort((a, b) => rec.counts[b]! - rec.counts[a]! || a - b).slice(0, hottest);
  const want = new Map<number, Map<string, { id: number; writes: number }>>(order.map((b) => [b, new Map()]));
  for (let i = 0; i < col.length; i++) {
    const first = Number(rec.offset[i]!) / BLOCK_SIZE;
    const end = (Number(rec.offset[i]!) + rec.length[i]!) / BLOCK_SIZE;
    for (let b = Math.floor(first); b < Math.ceil(end); b++) {
      const w = want.get(b);
      if (w === undefined) continue;
      const id = col[i]!;
      const k = name(id);
      const e = w.get(k);
      if (e === undefined) w.set(k, { id, writes: 1 });
      else e.writes++;
    }
  }
  return {
    by,
    rows: [...rows.values()].sort((a, b) => b.bytes - a.bytes || a.id - b.id),
    hottest: order.map((b) => ({
      block: b, writes: rec.counts[b]!,
      by: [...want.get(b)!].sort((x, y) => y[1].writes - x[1].writes || x[1].id - y[1].id).map(([nm, e]) => ({ id: e.id, name: nm, writes: e.writes })),
    })),
  };
}
