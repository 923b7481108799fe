import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { PROFILES, workload_generate, workload_text } from '../../src/workload/generate.js';
import type { GenOptions } from '../../src/workload/generate.js';
import { KnobError, knob_parse } from '../../src/workload/knobs.js';
import { WAL_FRAME, WAL_HEADER } from '../../src/workload/profile_wal.js';
import { live_peak, trace_parse } from '../../src/workload/trace.js';
import type { Op } from '../../src/workload/trace.js';
import { replay } from '../../src/workload/replay.js';

const MiB = 1024 * 1024;
const DEV = 64 * MiB;
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const gen = (o: Partial<GenOptions> & Pick<GenOptions, 'profile'>): ReturnType<typeof workload_generate> =>
  workload_generate({ ops: 6000, seed: 3, deviceBytes: DEV, ...o });
type W = Extract<Op, { op: 'write' }>;

t.test('every profile: the same seed, the same trace; another seed, another; valid and within its bound', async (t) => {
  for (const profile of PROFILES) {
    const a = workload_text(gen({ profile, ops: 3000 }));
    t.equal(sha(a), sha(workload_text(gen({ profile, ops: 3000 }))), `${profile}: deterministic`);
    t.not(sha(a), sha(workload_text(gen({ profile, ops: 3000, seed: 4 }))), `${profile}: the seed matters`);
    const tr = trace_parse(a, profile, { deviceBytes: DEV });
    if (!tr.header.untilEnospc) t.ok(tr.header.livePeakBytes <= tr.header.liveMaxBytes, `${profile}: peak ${tr.header.livePeakBytes} within ${tr.header.liveMaxBytes}`);
    t.equal(live_peak(tr.ops).peak, tr.header.livePeakBytes, `${profile}: the header's peak is the recount`);
  }
});

/** Sizes of files as the trace leaves them, op by op: calls `visit` with the size before each op. */
function walk_sizes(ops: readonly Op[], visit: (op: Op, sizeBefore: number | undefined, i: number) => void): void {
  const sizes = new Map<string, number>();
  ops.forEach((op, i) => {
    const p = 'path' in op ? op.path : '';
    visit(op, sizes.get(p), i);
    if (op.op === 'create') sizes.set(op.path, 0);
    else if (op.op === 'write') sizes.set(op.path, Math.max(sizes.get(op.path) ?? 0, op.off + op.len));
    else if (op.op === 'append') sizes.set(op.path, (sizes.get(op.path) ?? 0) + op.len);
    else if (op.op === 'truncate') sizes.set(op.path, op.size);
    else if (op.op === 'unlink') sizes.delete(op.path);
    else if (op.op === 'rename' && sizes.has(op.path)) { sizes.set(op.to, sizes.get(op.path)!); sizes.delete(op.path); }
  });
}

function inplace_mix(ops: readonly Op[]): { overwrite: number; meta: number; unsynced: number; outside: number; lenMax: number } {
  let writes = 0, inside = 0, meta = 0, unsynced = 0, outside = 0, lenMax = 0;
  walk_sizes(ops, (op, size, i) => {
    if (op.op === 'write' || op.op === 'append') {
      writes++;
      const next = ops[i + 1];
      if (i + 1 < ops.length && !(next?.op === 'fsync' && next.path === op.path)) unsynced++;
      if (op.op === 'write' && size !== undefined && size > 0) {
        inside++;
        lenMax = Math.max(lenMax, op.len);
        if (size === undefined || op.off + op.len > size) outside++;
      }
    }
    if (op.op === 'chmod' || op.op === 'rename' || op.op === 'truncate') meta++;
  });
  return { overwrite: inside / writes, meta: meta / ops.length, unsynced, outside, lenMax };
}

t.test('inplace: fsync after every write, the overwrite and metadata shares follow their knobs', async (t) => {
  const d = inplace_mix(gen({ profile: 'inplace' }).ops);
  t.equal(d.unsynced, 0, 'every write and append is followed by an fsync of its file');
  t.equal(d.outside, 0, 'every overwrite stays inside its file');
  t.ok(d.lenMax <= 4096, `overwrites of at most 4 KiB (largest ${d.lenMax})`);
  t.ok(Math.abs(d.overwrite - 0.33) < 0.05, `a third of the writes overwrite (${(d.overwrite * 100).toFixed(1)} %)`);
  t.ok(Math.abs(d.meta - 0.15) < 0.04, `15 % metadata changes (${(d.meta * 100).toFixed(1)} %)`);
  const hi = inplace_mix(gen({ profile: 'inplace', knobs: { overwritePct: 80, metaPct: 40 } }).ops);
  t.ok(Math.abs(hi.overwrite - 0.8) < 0.05, `--overwrite-pct 80 (${(hi.overwrite * 100).toFixed(1)} %)`);
  t.ok(Math.abs(hi.meta - 0.4) < 0.05, `--meta-pct 40 (${(hi.meta * 100).toFixed(1)} %)`);
  const none = inplace_mix(gen({ profile: 'inplace', knobs: { overwritePct: 0, metaPct: 0 } }).ops);
  t.equal(none.overwrite, 0, '--overwrite-pct 0: no overwrites');
  t.equal(none.meta, 0, '--meta-pct 0: no metadata changes');
  // chmod, rename and truncate come between fsyncs: none of them is followed by an fsync of its path
  const ops = gen({ profile: 'inplace' }).ops;
  const metaSynced = ops.filter((op, i) => op.op === 'chmod' && ops[i + 1]?.op === 'fsync' && (ops[i + 1] as { path: string }).path === op.path).length;
  t.equal(metaSynced, 0, 'no fsync of its own after a chmod');
});

t.test('wal: frames of 4 KiB + 24 B appended and fsync\'d; checkpoints copy pages, fsync, truncate the log', async (t) => {
  for (const every of [200, 50]) {
    const g = gen({ profile: 'wal', ops: 20000, ...(every !== 200 ? { knobs: { checkpointEvery: every } } : {}) });
    t.equal(g.header.params?.['checkpointEvery'], every, 'the interval is recorded in the header');
    const ops = g.ops;
    let frames = 0, tx = 0, badOffset = 0, checkpoints = 0, unsyncedCommits = 0;
    const intervals: number[] = [];
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.op === 'write' && op.path === 'db/main.db-wal' && op.len === WAL_FRAME) {
        if (op.off !== WAL_HEADER + frames * WAL_FRAME) badOffset++;
        frames++;
      } else if (op.op === 'fsync' && op.path === 'db/main.db-wal' && ops[i - 1]?.op === 'write') {
        tx++;
      } else if (op.op === 'write' && op.path === 'db/main.db-wal' && op.len !== WAL_HEADER) {
        t.fail(`a log write that is neither a frame nor the header at ${i + 2}`);
      } else if (op.op === 'truncate' && op.path === 'db/main.db-wal') {
        t.equal(op.size, 0, 'the log is truncated to nothing');
        t.match(ops[i - 1], { op: 'fsync', path: 'db/main.db' }, 'after the database is fsync\'d');
        t.match(ops[i + 1] ?? { op: 'fsync', path: 'db/main.db-wal' }, { op: 'fsync', path: 'db/main.db-wal' }, 'and the truncation fsync\'d');
        intervals.push(tx);
        checkpoints++;
        frames = 0;
        tx = 0;
      }
      if (op.op === 'write' && op.path === 'db/main.db-wal' && op.len === WAL_FRAME) {
        // a commit is one or more frames then an fsync of the log
        let j = i + 1;
        while (ops[j]?.op === 'write' && (ops[j] as W).path === 'db/main.db-wal') j++;
        if (j < ops.length && !(ops[j]!.op === 'fsync' && (ops[j] as { path: string }).path === 'db/main.db-wal')) unsyncedCommits++;
      }
    }
    t.equal(badOffset, 0, 'every frame is appended at the end of the log');
    t.equal(unsyncedCommits, 0, 'every transaction ends with an fsync of the log');
    t.ok(checkpoints >= 3, `${checkpoints} checkpoints`);
    t.ok(intervals.every((n) => n >= Math.floor(every * 0.75) && n <= Math.ceil(every * 1.25)),
      `every ~${every} transactions (${Math.min(...intervals)}..${Math.max(...intervals)})`);
  }
});

t.test('maildir: write in tmp/, fsync, rename into new/, fsync of new/; moves to cur/ and deletes', async (t) => {
  const stats = (pct: number | undefined): { deliveries: number; dirsyncs: number; bad: number; toCur: number; deletes: number } => {
    const ops = gen({ profile: 'maildir', ...(pct !== undefined ? { knobs: { dirsyncPct: pct } } : {}) }).ops;
    let deliveries = 0, dirsyncs = 0, bad = 0, toCur = 0, deletes = 0;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.op === 'create') {
        if (!/^m\d\/tmp\//.test(op.path)) bad++;
        let j = i + 1;
        while (ops[j]?.op === 'write') j++;
        const sync = ops[j], ren = ops[j + 1];
        if (j + 1 >= ops.length) continue; // cut by the operation count
        deliveries++;
        if (!(sync?.op === 'fsync' && sync.path === op.path)) bad++;
        if (!(ren?.op === 'rename' && ren.path === op.path && ren.to === op.path.replace('/tmp/', '/new/'))) bad++;
        const dir = ops[j + 2];
        if (dir?.op === 'fsync' && dir.path === op.path.replace(/\/tmp\/.*$/, '/new')) dirsyncs++;
      }
      if (op.op === 'rename' && op.path.includes('/new/') && op.to.includes('/cur/')) toCur++;
      if (op.op === 'unlink') deletes++;
    }
    return { deliveries, dirsyncs, bad, toCur, deletes };
  };
  const d = stats(undefined);
  t.equal(d.bad, 0, 'every delivery: tmp/, fsync, rename into new/');
  t.equal(d.dirsyncs, d.deliveries, 'and an fsync of new/ after each one by default');
  t.ok(d.toCur > 0 && d.deletes > 0, `moves to cur/ (${d.toCur}) and deletes (${d.deletes})`);
  t.equal(stats(0).dirsyncs, 0, '--dirsync-pct 0: no directory fsync');
  const half = stats(50);
  t.ok(Math.abs(half.dirsyncs / half.deliveries - 0.5) < 0.07, `--dirsync-pct 50 (${half.dirsyncs} of ${half.deliveries})`);
});

t.test('mixed --fsync-pct 30 --text-pct 50: the issue\'s "files up to 2 MiB, 30 % of writes fsync\'d, half text"', async (t) => {
  const share = (g: ReturnType<typeof workload_generate>): { fsynced: number; text: number } => {
    let writes = 0, synced = 0, text = 0, payloads = 0;
    const ops = g.ops;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.op === 'write' || op.op === 'append') { payloads++; if (op.gen.kind === 'text') text++; }
      // a "write" is the whole of a new file (several chunks), an overwrite or an append
      const next = ops[i + 1];
      const continued = op.op === 'write' && next?.op === 'write' && next.path === op.path && next.off === op.off + op.len;
      if ((op.op === 'write' || op.op === 'append') && !continued) {
        writes++;
        const n = ops[i + 1];
        if ((n?.op === 'fsync' || n?.op === 'fdatasync') && n.path === op.path) synced++;
      }
    }
    return { fsynced: synced / writes, text: text / payloads };
  };
  const g = gen({ profile: 'mixed', ops: 20000, knobs: { fsyncPct: 30, textPct: 50 } });
  const s = share(g);
  t.ok(Math.abs(s.fsynced - 0.3) < 0.04, `30 % of writes fsync'd (${(s.fsynced * 100).toFixed(1)} %)`);
  t.ok(Math.abs(s.text - 0.5) < 0.04, `half of the content text (${(s.text * 100).toFixed(1)} %)`);
  const all = share(gen({ profile: 'mixed', ops: 5000, knobs: { fsyncPct: 100, textPct: 0 } }));
  t.equal(all.fsynced, 1, '--fsync-pct 100: every write');
  t.equal(all.text, 0, '--text-pct 0: no text');
  t.equal(sha(workload_text(gen({ profile: 'mixed' })).split('\n').slice(1).join('\n')),
    sha(workload_text(gen({ profile: 'mixed', knobs: { textPct: 50 } })).split('\n').slice(1).join('\n')),
    'the default text share is 50 %: giving it changes no operation');
});

t.test('bad knobs are refused with one line naming the flag', async (t) => {
  const bad: Array<[Partial<GenOptions> & Pick<GenOptions, 'profile'>, RegExp]> = [
    [{ profile: 'inplace', knobs: { overwritePct: 101 } }, /^--overwrite-pct must be a percentage from 0 to 100, not '101'$/],
    [{ profile: 'inplace', knobs: { metaPct: 95 } }, /^--meta-pct must be a number from 0 to 90/],
    [{ profile: 'inplace', knobs: { metaPct: Number.NaN } }, /^--meta-pct must be/],
    [{ profile: 'wal', knobs: { overwritePct: 10 } }, /^--overwrite-pct does not apply to profile 'wal' \(it applies to: inplace\)$/],
    [{ profile: 'smallsync', knobs: { dirsyncPct: 10 } }, /^--dirsync-pct does not apply to profile 'smallsync'/],
    [{ profile: 'wal', knobs: { checkpointEvery: 0 } }, /^--checkpoint-every must be an integer from 1 to 100000/],
    [{ profile: 'wal', knobs: { checkpointEvery: 2.5 } }, /^--checkpoint-every must be an integer/],
    [{ profile: 'wal', knobs: { checkpointEvery: 5000 } }, /^--checkpoint-every 5000: a log of up to .* leaves no room/],
    [{ profile: 'maildir', knobs: { dirsyncPct: -1 } }, /^--dirsync-pct must be a percentage/],
    [{ profile: 'fill', knobs: { textPct: 50 } }, /^--text-pct does not apply to profile 'fill'/],
    [{ profile: 'fill', livePct: 10 }, /^--live-max does not apply to profile 'fill'/],
    [{ profile: 'smallsync', fillPct: 50 }, /^--fill-pct does not apply to profile 'smallsync'/],
  ];
  for (const [o, re] of bad) {
    const e = (() => { try { gen(o); return undefined; } catch (x) { return x as Error; } })();
    t.ok(e instanceof KnobError, `${JSON.stringify(o)} refused`);
    t.match(e?.message ?? '', re);
    t.notMatch(e?.message ?? '', /\n/, 'on one line');
  }
  t.throws(() => knob_parse('textPct', 'lots'), /--text-pct must be a number, not 'lots'/);
  t.equal(knob_parse('textPct', '30%'), 30);
});

t.test('the new profiles replay on a real directory: directory fsync and renames included, every file verified', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cowlog-profiles-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  for (const profile of ['inplace', 'wal', 'maildir'] as const) {
    const g = workload_generate({ profile, ops: 1500, seed: 9, deviceBytes: DEV });
    const tr = trace_parse(workload_text(g), profile, { deviceBytes: DEV });
    const dir = fs.mkdtempSync(path.join(root, `${profile}-`));
    const r = replay(tr, dir);
    t.equal(r.opsOk, r.ops, `${profile}: every operation succeeded (${JSON.stringify(r.errors)})`);
    t.ok(r.verify.ok, `${profile}: verified (${r.verify.bad.join('; ')})`);
    t.equal(r.askedBytes, g.header.askedBytes, `${profile}: asked bytes as the header says`);
  }
});
