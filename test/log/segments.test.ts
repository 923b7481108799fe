// The segment log on its own: allocation from log heads (fresh segments, wear order, slack-space
// recycling into holes), reference counts and segment usage, and when freed space comes back.

import t from 'tap';
import type * as Tap from 'tap';
import { geometry_for } from '../../src/checkpoint/mkfs.js';
import { HEAD_COUNT } from '../../src/format/checkpoint.js';
import type { Geometry } from '../../src/format/geometry.js';
import { MetaTable, PageCache } from '../../src/log/metatable.js';
import { BlockKind, Head, SegLog, SegState } from '../../src/log/segments.js';

function log_new(blocks = 4096, segBlocks = 16): { g: Geometry; log: SegLog } {
  const g = geometry_for(blocks, { segBlocks });
  const cache = new PageCache(64);
  const tables = g.tables.map((tg) => new MetaTable(tg, cache));
  const heads = Array.from({ length: HEAD_COUNT }, () => ({ seg: -1, off: 0 }));
  const log = new SegLog(g, tables[1]!, tables[2]!, tables[3]!, heads);
  log.durable_set(1);
  log.load(0);
  return { g, log };
}

/** The counters every operation asks for must be what a scan of the SUT gives. */
function counters_ok(t: Tap.Test, log: SegLog): void {
  t.same(log.check(), [], 'counters agree with a scan of the segment usage table');
}

/** Allocates n blocks of head h and gives each a reference, as a writer would. */
function fill(log: SegLog, h: Head, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = log.alloc(h);
    log.summary_set(a, { kind: BlockKind.DATA, sub: 0, owner: 7, offset: i, birth: log.birth });
    log.ref_inc(a);
    out.push(a);
  }
  return out;
}

t.test('a head fills a fresh segment from its start, in runs of consecutive addresses', async (t) => {
  const { g, log } = log_new();
  const free0 = log.segs_free();
  t.equal(free0, g.segCount, `every one of ${g.segCount} segments is free`);
  const runs = log.alloc_runs(Head.WARM_DATA, g.segBlocks + 3);
  t.same(runs, [{ addr: g.mainStart, count: g.segBlocks + 3 }], 'segments 0 and 1 are adjacent: one run');
  const live = fill(log, Head.COLD_DATA, 1)[0]!;
  t.equal(log.seg_of(live), 2, 'another head opens the next free segment');
  t.equal(log.segs_free(), free0 - 3, 'three segments taken by two heads');
  t.equal(log.seg_state(0), SegState.INUSE);
  t.equal(log.seg(0).writes, 1, 'opening a segment counts as a write of it (wear)');
  counters_ok(t, log);
});

t.test('reference counts keep segment usage and the valid total; a double free is caught', async (t) => {
  const { g, log } = log_new();
  const a = fill(log, Head.HOT_DATA, 5);
  t.equal(log.validBlocks, 5);
  t.equal(log.seg_valid(log.seg_of(a[0]!)), 5);
  log.ref_inc(a[0]!);
  t.equal(log.refs(a[0]!), 2, 'a shared block');
  t.equal(log.seg_valid(0), 5, 'a second reference adds no valid block');
  log.ref_dec(a[0]!);
  log.ref_dec(a[0]!);
  t.equal(log.validBlocks, 4, 'the last reference frees the block');
  t.equal(log.freedThisEpoch, 1, 'given back by the next checkpoint');
  t.throws(() => log.ref_dec(a[0]!), /double free/, 'one more release is an assertion');
  t.throws(() => log.ref_inc(g.mainStart - 1), /outside the main area/, 'metadata-area addresses are never counted');
  counters_ok(t, log);
});

t.test('space freed in an epoch comes back only once a checkpoint is durable', async (t) => {
  const { g, log } = log_new();
  const a = fill(log, Head.HOT_DATA, g.segBlocks);
  // move the head off segment 0 so it can become PREFREE
  fill(log, Head.HOT_DATA, 1);
  for (const x of a) log.ref_dec(x);
  t.notOk(log.hole(a[0]!), 'a block freed in this epoch is not a hole: the checkpoint still names it');
  const before = log.segs_free();
  t.equal(log.prefree_pass(2), 1, 'the emptied segment becomes PREFREE at checkpoint 2');
  t.equal(log.seg_state(0), SegState.PREFREE);
  t.equal(log.segs_free(), before, 'not allocatable before checkpoint 2 is durable');
  log.durable_set(2);
  t.equal(log.segs_free(), before + 1, 'allocatable once it is');
  t.ok(log.hole(a[0]!), 'and its blocks are holes again');
  counters_ok(t, log);
});

t.test('allocation levels wear: least-written free segment first, the most-written for cold data on worn ones', async (t) => {
  const { g, log } = log_new(4096, 16);
  // open and empty segments 0..3 three times: they are more worn than the rest
  for (let round = 2; round < 5; round++) {
    const used = fill(log, Head.HOT_DATA, 4 * g.segBlocks);
    fill(log, Head.HOT_DATA, 1);
    for (const x of used) log.ref_dec(x);
    log.prefree_pass(round);
    log.durable_set(round);
  }
  const writes = (s: number): number => log.seg(s).writes;
  const fresh = log.alloc(Head.COLD_DATA);
  t.equal(writes(log.seg_of(fresh)), 1, `a cold head opens a never-written segment (${log.seg_of(fresh)})`);
  log.coldOnWorn = true;
  const worn = log.alloc(Head.COLD_NODE);
  log.coldOnWorn = false;
  let max = 0;
  for (let s = 0; s < g.segCount; s++) if (log.seg_state(s) !== SegState.INUSE || s === log.seg_of(worn)) max = Math.max(max, s === log.seg_of(worn) ? writes(s) - 1 : writes(s));
  t.equal(writes(log.seg_of(worn)) - 1, max, `with coldOnWorn the most-written free segment (${log.seg_of(worn)}, opened ${writes(log.seg_of(worn))} times)`);
  counters_ok(t, log);
});

t.test('slack-space recycling writes user data into the dead blocks of a dirty segment', async (t) => {
  const { g, log } = log_new(1024, 16);
  const a = fill(log, Head.WARM_DATA, g.segBlocks);
  const b = fill(log, Head.WARM_DATA, 1);
  // every other block of segment 0 dies, and the one block of segment 1 (the head's then, so it
  // stays in use, with nothing to recycle in); a checkpoint makes them holes
  for (let i = 0; i < a.length; i += 2) log.ref_dec(a[i]!);
  log.ref_dec(b[0]!);
  log.prefree_pass(2);
  log.durable_set(2);
  t.equal(log.blocks_ssr(), g.segBlocks / 2, 'holes counted for recycling');
  log.ssrBelow = Infinity;
  log.heads_abandon();
  const got = fill(log, Head.HOT_DATA, 3);
  t.same(got, [a[0]!, a[2]!, a[4]!], 'the holes, in order, skipping live blocks');
  t.equal(log.ssrBlocks, 3, 'counted as recycled');
  t.equal(log.blocks_ssr(), 0, 'a head\'s own segment is not counted for recycling');
  t.equal(log.seg_valid(0), g.segBlocks / 2 + 3);
  counters_ok(t, log);
});
