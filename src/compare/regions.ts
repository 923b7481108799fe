// Where a kernel filesystem's writes landed, by the region of its layout they hit: superblocks,
// journal, metadata areas, and the rest. The kernel filesystems do not say why they write (their
// tracer records no cause), but their layout tells what lives where; this file splits the traced
// requests by region. It is *by location, not by cause*: a write into ext4's journal is a journal
// write, but a write into "the rest" may be file data, a directory or an extent block alike, and
// btrfs in mixed block groups keeps trees and data in the same place.
//
// Invariants:
// - regions are byte ranges [from, to) of the device, sorted, not overlapping (checked);
// - every byte of every request is counted in exactly one region (bytes outside all regions go to
//   the rest), so the regions' bytes sum to the bytes classified; a request counts once, in the
//   region of its first byte; each 4 KiB block it touches counts once, in the region of the
//   first byte of the request inside that block — so requests and block writes sum exactly too;
// - a truncated timeline is said so: only the requests the tracer kept are classified.

import { assert } from '../util/assert.js';
import type { WearRecord } from '../wear/wearfile.js';

export type RegionKind = 'superblock' | 'journal' | 'metadata' | 'rest';
export const REGION_KINDS: readonly RegionKind[] = ['superblock', 'journal', 'metadata', 'rest'];

export interface Region {
  /** what the layout says lives there, e.g. "ext4 journal" */
  name: string;
  kind: RegionKind;
  /** byte range [from, to) */
  from: number;
  to: number;
}

/** The layout a runner read from the device after the run (result.json's `layout`). */
export interface Layout {
  /** how it was read, e.g. "dumpe2fs and debugfs 'stat <8>'" */
  source: string;
  /** the name of everything no region covers, e.g. "ext4 data, directories and extent blocks" */
  rest: string;
  regions: Region[];
}

export interface RegionTotals {
  name: string;
  kind: RegionKind;
  requests: number;
  blocks: number;
  bytes: number;
}

export interface LocationBreakdown {
  /** one entry per region name (regions of the same name summed), the rest last; largest first within a kind */
  totals: RegionTotals[];
  /** requests classified (all of them unless the timeline was truncated) */
  requests: number;
  bytes: number;
  truncated: boolean;
}

/** Sorts and checks regions: non-empty, inside [0, deviceBytes), not overlapping. */
export function regions_check(regions: readonly Region[], deviceBytes: number): Region[] {
  const out = [...regions].filter((r) => r.from < deviceBytes).map((r) => ({ ...r, to: Math.min(r.to, deviceBytes) }))
    .sort((a, b) => a.from - b.from);
  for (let i = 0; i < out.length; i++) {
    const r = out[i]!;
    assert(r.from >= 0 && r.to > r.from, () => `region ${r.name} [${r.from}, ${r.to}) is empty or negative`);
    if (i > 0) assert(out[i - 1]!.to <= r.from, () => `regions ${out[i - 1]!.name} [${out[i - 1]!.from}, ${out[i - 1]!.to}) and ${r.name} [${r.from}, ${r.to}) overlap`);
  }
  return out;
}

/** The index of the region holding byte `at` in sorted regions, or -1 (the rest). */
function region_at(regions: readonly Region[], at: number): number {
  let lo = 0, hi = regions.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = regions[mid]!;
    if (at < r.from) hi = mid - 1;
    else if (at >= r.to) lo = mid + 1;
    else return mid;
  }
  return -1;
}

/** The index of the first region starting after byte `at` (regions.length when none does). */
function region_after(regions: readonly Region[], at: number): number {
  let lo = 0, hi = regions.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (regions[mid]!.from <= at) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/** Splits every request of a wear record's timeline by the region it hits. */
export function location_classify(rec: WearRecord, layout: Layout): LocationBreakdown {
  const deviceBytes = rec.counts.length * rec.blockSize;
  const regions = regions_check(layout.regions, deviceBytes);
  const bs = rec.blockSize;
  // per region index, the rest at regions.length
  const req = new Float64Array(regions.length + 1), blk = new Float64Array(regions.length + 1), byt = new Float64Array(regions.length + 1);
  const slot = (i: number): number => (i < 0 ? regions.length : i);
  const n = rec.length.length;
  let bytes = 0;
  for (let q = 0; q < n; q++) {
    const off = Number(rec.offset[q]!), len = rec.length[q]!;
    if (len === 0) continue;
    const end = off + len;
    bytes += len;
    req[slot(region_at(regions, off))]!++;
    // bytes: walk the pieces of [off, end) between region boundaries
    for (let at = off; at < end;) {
      const i = region_at(regions, at);
      let stop: number;
      if (i >= 0) stop = Math.min(end, regions[i]!.to);
      else {
        // in the rest: up to the next region's start
        const j = region_after(regions, at);
        stop = Math.min(end, j < regions.length ? regions[j]!.from : end);
      }
      byt[slot(i)]! += stop - at;
      at = stop;
    }
    // block writes: each 4 KiB block touched, in the region of the request's first byte in it
    for (let b = Math.floor(off / bs); b * bs < end; b++) blk[slot(region_at(regions, Math.max(off, b * bs)))]!++;
  }
  const byName = new Map<string, RegionTotals>();
  const add = (name: string, kind: RegionKind, i: number): void => {
    const t = byName.get(name) ?? { name, kind, requests: 0, blocks: 0, bytes: 0 };
    t.requests += req[i]!; t.blocks += blk[i]!; t.bytes += byt[i]!;
    byName.set(name, t);
  };
  regions.forEach((r, i) => add(r.name, r.kind, i));
  add(layout.rest, 'rest', regions.length);
  const totals = [...byName.values()].sort((a, b) =>
    REGION_KINDS.indexOf(a.kind) - REGION_KINDS.indexOf(b.kind) || b.bytes - a.bytes || (a.name < b.name ? -1 : 1));
  const sum = totals.reduce((s, t) => s + t.bytes, 0);
  assert(sum === bytes, () => `location_classify: regions hold ${sum} bytes, the requests ${bytes}`);
  return { totals, requests: n, bytes, truncated: rec.truncated };
}
