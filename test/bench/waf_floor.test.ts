import t from 'tap';
import { waf_floor } from '../../tools/bench/waf_floor.js';
import type { Op } from '../../src/workload/trace.js';
import { workload_generate } from '../../tools/workload/generate.js';

const g = { kind: 'random' as const, seed: 1 };
const floor_of = (ops: Op[]) => {
  const asked = ops.reduce((n, o) => n + (o.op === 'write' || o.op === 'append' ? o.len : 0), 0);
  return waf_floor({ askedBytes: asked }, ops);
};

t.test('a small write with fsync costs one block; blocks touched between fsyncs count once', async (t) => {
  const f = floor_of([
    { op: 'create', path: 'a' },
    { op: 'write', path: 'a', off: 0, len: 100, gen: g },
    { op: 'fsync', path: 'a' }, // 1 block
    { op: 'write', path: 'a', off: 10, len: 10, gen: g },
    { op: 'write', path: 'a', off: 20, len: 10, gen: g },
    { op: 'write', path: 'a', off: 4090, len: 10, gen: g }, // blocks 0 and 1
    { op: 'fsync', path: 'a' }, // 2 blocks
    { op: 'fsync', path: 'a' }, // nothing changed: free
  ]);
  t.equal(f.fsyncBytes, 3 * 4096);
  t.equal(f.endBytes, 0);
  t.equal(f.fsyncs, 2);
  t.equal(f.floorWaf, (3 * 4096) / 130);
});

t.test('unsynced data is written once at the end, unless deleted or truncated away first', async (t) => {
  const f = floor_of([
    { op: 'create', path: 'keep' },
    { op: 'write', path: 'keep', off: 0, len: 8192, gen: g },
    { op: 'write', path: 'keep', off: 0, len: 8192, gen: g }, // rewrite in cache: free
    { op: 'create', path: 'gone' },
    { op: 'append', path: 'gone', len: 40960, gen: g },
    { op: 'unlink', path: 'gone' },
    { op: 'create', path: 'cut' },
    { op: 'append', path: 'cut', len: 12288, gen: g },
    { op: 'truncate', path: 'cut', size: 4096 },
  ]);
  t.equal(f.fsyncBytes, 0);
  t.equal(f.endBytes, (2 + 1) * 4096, 'keep: 2 blocks, cut: 1 block, gone: none');
});

t.test('metadata-only fsync and directory fsync cost one block when something changed', async (t) => {
  const f = floor_of([
    { op: 'mkdir', path: 'tmp' },
    { op: 'mkdir', path: 'new' },
    { op: 'create', path: 'tmp/m' },
    { op: 'append', path: 'tmp/m', len: 10, gen: g },
    { op: 'fsync', path: 'tmp/m' }, // 1
    { op: 'rename', path: 'tmp/m', to: 'new/m' },
    { op: 'fsync', path: 'new' }, // 1: an entry arrived
    { op: 'fsync', path: 'new' }, // 0
    { op: 'chmod', path: 'new/m', mode: 0o600 },
    { op: 'fsync', path: 'new/m' }, // 1: the inode changed
    { op: 'sync' },
  ]);
  t.equal(f.fsyncBytes, 3 * 4096);
  t.equal(f.fsyncs, 3);
  t.equal(f.endBytes, 0, 'nothing dirty was left for the end');
});

t.test('generated profiles: the floor is positive, block-aligned and, with fsync everywhere, above 1', async (t) => {
  for (const profile of ['smallsync', 'wal', 'maildir', 'inplace', 'mixed'] as const) {
    const w = workload_generate({ profile, ops: 2000, seed: 3, deviceBytes: 64 << 20 });
    const f = waf_floor(w.header, w.ops);
    t.ok(f.floorBytes > 0 && f.floorBytes % 4096 === 0, `${profile}: ${f.floorBytes} bytes`);
    t.equal(f.floorBytes, f.fsyncBytes + f.endBytes);
    if (profile === 'smallsync') t.ok(f.floorWaf > 1, `smallsync floor WAF ${f.floorWaf.toFixed(2)} > 1: every small write is fsync'd`);
  }
});
