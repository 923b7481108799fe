// Reference counts of data blocks, kept by the records that map them. A data block's count in the
// RCT is the number of leaves whose MAP records name it (several only when snapshots or clones
// share the block); every change of a MAP record, and every leaf copied from or dropped by a
// shared tree, moves the counts of exactly the slots that differ.
//
// Invariants: a block gets its summary (inode, file block, birth) when its count leaves 0; a
// block mapped at another (inode, block) than its summary names is marked SUB_SHARED (a clone);
// a count never goes below 0 (SegLog.ref_dec asserts it).

import type { LeafBody } from '../format/node.js';
import { map_decode, MAP_SLOTS, RecKind } from '../format/records.js';
import type { Key, MapChunk } from '../format/records.js';
import { BlockKind, SUB_SHARED } from '../log/segments.js';
import type { SegLog } from '../log/segments.js';

/** Reference-count changes for a MAP record going from `o` to `n` (null: no record). */
export function map_refs(log: SegLog, k: Key, o: MapChunk | null, n: MapChunk | null): void {
  for (let i = 0; i < MAP_SLOTS; i++) {
    const oa = o ? o.addr[i]! : 0;
    const na = n ? n.addr[i]! : 0;
    if (oa === na) continue;
    if (na !== 0) {
      const idx = k.off * MAP_SLOTS + i;
      if (log.refs(na) === 0) {
        log.summary_set(na, { kind: BlockKind.DATA, sub: 0, owner: k.ino, offset: idx, birth: log.birth });
      } else {
        // mapped at another (inode, offset) than its summary names: a clone (range.ts); the
        // cleaner and fsck then look for all its holders. Roll-forward comes here too.
        const sm = log.summary(na);
        if (sm.sub !== SUB_SHARED && (sm.owner !== k.ino || sm.offset !== idx)) log.summary_set(na, { ...sm, sub: SUB_SHARED });
      }
      log.ref_inc(na);
    }
    if (oa !== 0) log.ref_dec(oa);
  }
}

/** A leaf copied from (+1) or dropped by (-1) a shared tree: its data blocks follow. */
export function leaf_refs(log: SegLog, b: LeafBody, d: 1 | -1): void {
  for (let i = 0; i < b.keys.length; i++) {
    if (b.keys[i]!.kind !== RecKind.MAP) continue;
    const m = map_decode(b.vals[i]!);
    for (let s = 0; s < MAP_SLOTS; s++) {
      const a = m.addr[s]!;
      if (a === 0) continue;
      if (d > 0) log.ref_inc(a);
      else log.ref_dec(a);
    }
  }
}
