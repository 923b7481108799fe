// Where a run's host bytes went, as parts that sum to its host bytes:
// - cowlog: by cause, from the wear file's `causes` (every write tagged by the engine with why
//   it was made; docs/WEARFILE.md);
// - a kernel filesystem: by location, from the layout its runner read (result.json `layout`):
//   the region each traced request hit (regions.ts). That says where, not why.
// Also cowlog's checkpoints by trigger (the wear file's `checkpoints`).
//
// Invariants:
// - the parts' bytes sum to the wear record's bytes exactly (cause totals are checked by the
//   wear-file codec; location totals by location_classify), unless the timeline was truncated,
//   which the breakdown says;
// - parts are ordered largest first (by cause) or by kind then size (by location);
// - nothing is inferred: a record with neither causes nor a layout has no breakdown.

import { CAUSE_NAMES } from '../device/cause.js';
import type { WearRecord } from '../wear/wearfile.js';
import type { Layout, RegionKind } from './regions.js';
import { location_classify } from './regions.js';

export type Basis = 'cause' | 'location';

export interface Part {
  /** the cause name, or the region name */
  name: string;
  /** short label for tables: the cause name, or the region name without the filesystem's prefix */
  short: string;
  /** region kind (by location only) */
  kind?: RegionKind;
  requests: number;
  blocks: number;
  bytes: number;
}

export interface Breakdown {
  basis: Basis;
  parts: Part[];
  /** bytes the parts cover (the host bytes, or what a truncated timeline kept) */
  bytes: number;
  /** by location: the timeline was truncated, so only the requests the tracer kept are split */
  truncated: boolean;
  /** how it was told, for the report (after "by cause: " or "by location, not by cause: ") */
  source: string;
}

/** A region's name without the filesystem's prefix and the parenthesis: "ext4 journal (jbd2 log)" → "journal". */
export function region_short(name: string): string {
  return name.replace(/^(ext[234]|btrfs|f2fs) /, '').replace(/ \([^)]*\)$/, '');
}

/** The breakdown of one run, or undefined when neither causes nor a layout tell it. */
export function breakdown_of(rec: WearRecord, layout: Layout | undefined): Breakdown | undefined {
  const causes = rec.meta.causes;
  const tagged = causes !== undefined && Object.entries(causes).some(([n, c]) => n !== CAUSE_NAMES[0] && c.bytes > 0);
  if (tagged) {
    const parts = Object.entries(causes)
      .filter(([, c]) => c.bytes > 0 || c.requests > 0)
      .map(([name, c]) => ({ name, short: name, requests: c.requests, blocks: c.blocks, bytes: c.bytes }))
      .sort((a, b) => b.bytes - a.bytes || (a.name < b.name ? -1 : 1));
    return { basis: 'cause', parts, bytes: Number(rec.bytes), truncated: false, source: 'the engine tags each write with why it made it' };
  }
  if (!layout) return undefined;
  const loc = location_classify(rec, layout);
  return {
    basis: 'location',
    parts: loc.totals.filter((t) => t.requests > 0 || t.bytes > 0).map((t) => ({
      name: t.name, short: t.name === layout.rest ? 'rest' : region_short(t.name), kind: t.kind, requests: t.requests, blocks: t.blocks, bytes: t.bytes,
    })),
    bytes: loc.bytes,
    truncated: loc.truncated,
    source: `the region each request hit, from ${layout.source}`,
  };
}

/** "data 41 %, redo-patch 30 %, node 12 %": the `n` largest parts (by location: prefixed "at"). */
export function parts_top(b: Breakdown, n = 3): string {
  const top = [...b.parts].sort((x, y) => y.bytes - x.bytes).slice(0, n);
  const pct = (x: number): string => {
    const p = b.bytes > 0 ? (100 * x) / b.bytes : 0;
    return p >= 9.95 || p === 0 ? `${p.toFixed(0)} %` : `${p.toFixed(1)} %`;
  };
  const list = top.map((p) => `${p.short} ${pct(p.bytes)}`).join(', ');
  return b.basis === 'cause' ? list : `at: ${list}`;
}

/** Checkpoints by trigger, most first: [["fsync", 300], ["timer", 12]]. */
export function checkpoints_of(rec: WearRecord): Array<[string, number]> {
  const c = rec.meta.checkpoints;
  if (!c || typeof c !== 'object') return [];
  return Object.entries(c).filter(([, n]) => typeof n === 'number' && n > 0).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

/** "363: fsync 300, timer 40, unmount 1", or "" when the record has none. */
export function checkpoints_text(list: ReadonlyArray<[string, number]>): string {
  if (!list.length) return '';
  return `${list.reduce((s, [, n]) => s + n, 0)}: ${list.map(([k, n]) => `${k} ${n}`).join(', ')}`;
}
