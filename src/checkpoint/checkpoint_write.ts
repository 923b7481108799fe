// Writing a checkpoint: the batched root flip that makes everything so far durable.
//
// Invariants:
// - two phases, each ended by a flush: first everything the header names (dirty nodes, table
//   blocks, directory blocks, journal blocks), then the header in the next slot of the ring. The
//   ring rotates, so the previous checkpoint stays intact and mount can fall back to it;
// - the write counts the header carries include the header's own write;
// - once the header is durable: the log may reuse what this checkpoint freed, the redo chain of
//   the new epoch starts where the header says, numbered from 0.

import { Cause, Trigger } from '../device/cause.js';
import type { WriteCounts } from '../device/counted.js';
import { CP_FLAG_CLEAN, CP_FLAG_ERRORS, cp_encode } from '../format/checkpoint.js';
import type { Checkpoint } from '../format/checkpoint.js';
import { cp_slot_addr } from '../format/geometry.js';
import { Head } from '../log/segments.js';
import { assert } from '../util/assert.js';
import { timespec_ms } from './clock.js';
import type { Volume } from './volume.js';

/** The write counts as they will be once this checkpoint's header is written too. */
function writes_with_header(v: Volume, trigger: Trigger): WriteCounts {
  const w = v.dev.counts;
  const out = { blocks: w.blocks.slice(), requests: w.requests.slice(), checkpoints: w.checkpoints.slice() };
  out.blocks[Cause.CHECKPOINT]!++;
  out.requests[Cause.CHECKPOINT]!++;
  out.checkpoints[trigger]!++;
  return out;
}

/**
 * Writes a checkpoint: every dirty node and table block, then the next slot of the ring.
 * `trigger` says what called for it (counted in stats and carried by the header's write tag).
 */
export function checkpoint_write(v: Volume, clean: boolean, trigger: Trigger): void {
  v.stats.checkpointsBy[trigger]!++;
  v.onDurable('begin', 'checkpoint');
  v.beforeCheckpoint?.();
  const newSeq = v.seq + 1;
  if (v.treeIndex !== 0) v.snaps.root_set(v.treeIndex - 1, v.root);
  const redoStart = v.log.peek(Head.REDO);
  v.stats.nodesWritten += v.nodes.flush_all();
  const plan = v.tabs.assign(v.log, newSeq);
  const slot = (v.slot + 1) % v.g.cpSlots;
  v.totals.checkpoints++;
  v.totals.blocksRecycled += v.log.ssrBlocks - v.recycledSeen;
  v.recycledSeen = v.log.ssrBlocks;
  const cp: Checkpoint = {
    fsid: v.fsid, seq: newSeq, slot, flags: (clean ? CP_FLAG_CLEAN : 0) | (v.errors ? CP_FLAG_ERRORS : 0), timeMs: timespec_ms(v.clock()),
    rootNid: v.main_root(), nextIno: v.nextIno, nextNid: v.nat.cursor_hint, inodes: v.inodes,
    validBlocks: v.log.validBlocks, redoStart, heads: v.log.heads.map((h) => ({ ...h })), dir: v.tabs.cpDir.slice(),
    journal: plan.entries, journalAddrs: plan.journalAddrs, stats: { ...v.totals }, tree: v.treeIndex, boot: { ...v.boot },
    natUsed: v.nat.used, metaBlocks: v.tabs.metaBlocks,
    writes: writes_with_header(v, trigger),
  };
  const enc = cp_encode(cp);
  assert(enc.journal.length === plan.journalAddrs.length, () => `journal of ${enc.journal.length} blocks for ${plan.journalAddrs.length} addresses`);
  v.stats.tableBlocksWritten += v.tabs.write(v.dev, newSeq, plan, enc.journal);
  v.dev.flush();
  v.dev.write(cp_slot_addr(slot), enc.header, { cause: Cause.CHECKPOINT, detail: trigger });
  v.dev.flush();
  v.tabs.journalAddrs = plan.journalAddrs;
  v.seq = newSeq;
  v.slot = slot;
  v.log.durable_set(newSeq);
  v.redo.epoch_start(redoStart);
  v.stats.checkpoints++;
  v.onDurable('end', 'checkpoint');
}
