import t from 'tap';
import { createHash } from 'node:crypto';
import { workload_generate, workload_text } from '../../src/workload/generate.js';
import { live_peak, trace_parse } from '../../src/workload/trace.js';
import { gen_bytes } from '../../src/workload/content.js';

const MiB = 1024 * 1024;
const DEV = 64 * MiB;
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

t.test('the same seed gives the same trace; another seed another', async (t) => {
  for (const profile of ['smallsync', 'mixed', 'fill', 'overwrite'] as const) {
    const a = workload_text(workload_generate({ profile, ops: 2000, seed: 7, deviceBytes: DEV }));
    const b = workload_text(workload_generate({ profile, ops: 2000, seed: 7, deviceBytes: DEV }));
    const c = workload_text(workload_generate({ profile, ops: 2000, seed: 8, deviceBytes: DEV }));
    t.equal(sha(a), sha(b), `${profile}: deterministic`);
    t.not(sha(a), sha(c), `${profile}: the seed matters`);
    const tr = trace_parse(a, profile, { deviceBytes: DEV });
    t.equal(tr.ops.length, tr.header.ops, `${profile}: header counts the operations`);
  }
});

t.test('content generators are deterministic, prefix-stable and of their kind', async (t) => {
  const text = gen_bytes({ kind: 'text', seed: 5 }, 5000);
  t.same(gen_bytes({ kind: 'text', seed: 5 }, 5000), text, 'same bytes again');
  t.same(gen_bytes({ kind: 'text', seed: 5 }, 123), text.subarray(0, 123), 'a shorter write is a prefix');
  t.ok([...text].every((b) => b === 0x0a || (b >= 0x20 && b < 0x7f)), 'text is printable');
  const rnd = gen_bytes({ kind: 'random', seed: 5 }, 4096);
  t.ok(new Set(rnd).size > 200, 'random uses the whole byte range');
  t.same(gen_bytes({ kind: 'random', seed: 5 }, 100), rnd.subarray(0, 100), 'random is prefix-stable');
  t.ok(gen_bytes({ kind: 'zero', seed: 1 }, 64).every((b) => b === 0), 'zero is zeros');
});

t.test('smallsync: fsync after every write, live data within its 12 % bound, 30-60 MiB asked for 30,000 operations', async (t) => {
  const g = workload_generate({ profile: 'smallsync', ops: 30000, seed: 1, deviceBytes: DEV });
  t.equal(g.ops.length, 30000);
  t.equal(g.header.liveMaxBytes, Math.floor(DEV * 0.12), 'default bound is 12 % of the device');
  t.ok(g.header.livePeakBytes <= g.header.liveMaxBytes, `peak ${g.header.livePeakBytes} within the bound`);
  t.ok(g.header.livePeakBytes > g.header.liveMaxBytes * 0.8, 'live data gets near the bound (around 15 %)');
  t.ok(g.header.askedBytes >= 30 * MiB && g.header.askedBytes <= 60 * MiB, `asked ${(g.header.askedBytes / MiB).toFixed(1)} MiB`);
  t.equal(live_peak(g.ops).peak, g.header.livePeakBytes, 'header peak matches a recount');
  let unsynced = 0;
  for (let i = 0; i + 1 < g.ops.length; i++) {
    const op = g.ops[i]!;
    if (op.op === 'write' || op.op === 'append') {
      const next = g.ops[i + 1]!;
      if (!((next.op === 'fsync' || next.op === 'fdatasync') && next.path === op.path)) unsynced++;
    }
  }
  t.equal(unsynced, 0, 'every write is followed by an fsync of its file');
  const lenMax = Math.max(...g.ops.map((op) => (op.op === 'write' || op.op === 'append' ? op.len : 0)));
  t.ok(lenMax <= 32 * 1024, `small writes (largest ${lenMax})`);
  t.match(g.boundNote, /f2fs/, 'the bound is explained');
});

t.test('mixed: files up to 2 MiB, some fsync, within a 15 % bound', async (t) => {
  const g = workload_generate({ profile: 'mixed', ops: 5000, seed: 3, deviceBytes: DEV });
  const sizes = new Map<string, number>();
  let maxSize = 0, fsyncs = 0, writes = 0;
  for (const op of g.ops) {
    if (op.op === 'create') sizes.set(op.path, 0);
    if (op.op === 'write') { sizes.set(op.path, Math.max(sizes.get(op.path) ?? 0, op.off + op.len)); writes++; }
    if (op.op === 'append') sizes.set(op.path, (sizes.get(op.path) ?? 0) + op.len);
    if (op.op === 'truncate') sizes.set(op.path, op.size);
    if (op.op === 'rename') { sizes.set(op.to, sizes.get(op.path) ?? 0); sizes.delete(op.path); }
    if (op.op === 'fsync' || op.op === 'fdatasync') fsyncs++;
    if ('path' in op) maxSize = Math.max(maxSize, sizes.get(op.path) ?? 0);
  }
  t.ok(maxSize <= 2 * MiB, `largest file ${maxSize}`);
  t.ok(maxSize > 512 * 1024, 'some files are large');
  t.ok(fsyncs > 0 && fsyncs < writes, `some fsync (${fsyncs} for ${writes} writes)`);
  t.ok(g.header.livePeakBytes <= DEV * 0.15, 'live data within 15 %');
  const g30 = workload_generate({ profile: 'mixed', ops: 5000, seed: 3, deviceBytes: DEV, livePct: 30 });
  t.match(g30.boundNote, /expect ENOSPC/, 'a bound above what f2fs holds is said so');
});

t.test('fill runs past the device and says so; overwrite fills then writes 4 KiB blocks', async (t) => {
  const f = workload_generate({ profile: 'fill', ops: 0, seed: 1, deviceBytes: DEV });
  t.equal(f.header.untilEnospc, true);
  t.equal(f.header.enospcLimit, 32);
  t.ok(f.header.askedBytes > DEV, 'asks more than the device');
  const lens = new Set(f.ops.filter((o) => o.op === 'write').map((o) => (o as { len: number }).len));
  t.same([...lens].sort((a, b) => a - b), [4096, MiB], 'a mix of 4 KiB and 1 MiB files');
  t.doesNotThrow(() => trace_parse(workload_text(f), 'fill', { deviceBytes: DEV }), 'valid although past the device');

  const o = workload_generate({ profile: 'overwrite', ops: 3000, seed: 1, deviceBytes: DEV, fillPct: 50, skew: '80/20' });
  t.equal(o.header.livePeakBytes, DEV / 2, 'filled to 50 %');
  const over = o.ops.slice(o.ops.findIndex((x) => x.op === 'sync') + 1);
  const writes = over.filter((x) => x.op === 'write') as Array<{ off: number; len: number; path: string }>;
  t.equal(writes.length, 3000, '--ops counts the overwrites');
  t.ok(writes.every((w) => w.len === 4096 && w.off % 4096 === 0), 'aligned 4 KiB overwrites');
  t.equal(over.filter((x) => x.op === 'sync').length, 3, 'a sync every 1,000 writes');
  // hot set: the first 20 % of the blocks = files d0/f0 .. d0/f6 (32 MiB / 1 MiB files, 20 % = 6.4)
  const hot = writes.filter((w) => Number(/f(\d+)$/.exec(w.path)![1]) < 6).length;
  t.ok(hot / writes.length > 0.7, `skew sends most writes to the hot 20 % (${(hot / writes.length * 100).toFixed(0)} %)`);
  t.throws(() => workload_generate({ profile: 'overwrite', ops: 10, seed: 1, deviceBytes: DEV, skew: '80/30' }), /--skew/);
});
