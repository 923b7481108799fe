// The block counts of one cause: how many write requests of that cause touched each 4 KiB block,
// from the timeline's cause column (docs/WEARFILE.md), for `cowlog wear heatmap --cause NAME`.
//
// Invariants:
// - a request counts once for every block it touches, as the file's own counts do; so the
//   counts of every cause sum, block by block, to the file's counts, and the counts of one cause
//   sum to that cause's `blocks` in the metadata (checked: a file where they differ is refused);
// - only a complete timeline can be split: a truncated one, a version 1 file (no cause column),
//   a file whose requests carry no cause (a kernel tracer's) and an unknown name are refused
//   with one line saying which.

import { CAUSE_NAMES } from '../device/cause.js';
import type { WearRecord } from '../wear/wearfile.js';

export class CauseCountsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CauseCountsError';
  }
}

/** Per-block counts of the requests of cause `name`; `version` is the wear file's format version. */
export function cause_counts(rec: WearRecord, name: string, version: number, where = 'the wear file'): Uint32Array {
  const cause = CAUSE_NAMES.indexOf(name);
  if (cause < 0) throw new CauseCountsError(`unknown cause '${name}' (known: ${CAUSE_NAMES.slice(1).join(', ')})`);
  if (version < 2) throw new CauseCountsError(`${where} is a version ${version} wear file: its requests carry no cause (record it again with this cowlog)`);
  if (rec.truncated) {
    throw new CauseCountsError(`${where}: the timeline was truncated, so the blocks of one cause can not be told (the totals by cause are exact: cowlog wear heatmap without --cause draws them all)`);
  }
  const totals = rec.meta.causes;
  if (!totals || !Object.entries(totals).some(([n, t]) => n !== CAUSE_NAMES[0] && t.requests > 0)) {
    throw new CauseCountsError(`${where} records no causes (${rec.meta.source}: only cowlog's own tracker tags its writes)`);
  }
  const bs = rec.blockSize;
  const counts = new Uint32Array(rec.counts.length);
  const col = rec.cause!;
  let blocks = 0;
  for (let i = 0; i < rec.length.length; i++) {
    if (col[i] !== cause || rec.length[i] === 0) continue;
    const off = Number(rec.offset[i]!), end = off + rec.length[i]!;
    for (let b = Math.floor(off / bs); b * bs < end; b++) { counts[b]!++; blocks++; }
  }
  const expect = totals[name]?.blocks ?? 0;
  if (blocks !== expect) throw new CauseCountsError(`${where}: the timeline holds ${blocks} block writes of cause ${name}, its totals say ${expect}`);
  if (blocks === 0) {
    const present = Object.entries(totals).filter(([, t]) => t.requests > 0).map(([n]) => n);
    throw new CauseCountsError(`${where}: no request of cause '${name}' (present: ${present.join(', ')})`);
  }
  return counts;
}
