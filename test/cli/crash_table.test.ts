// `cowlog crash-table`, tried as a new user would: the whole table on a short seed set (every
// row before or after, never anything else — this is the CI run of the table), replay by seed,
// --help and usage errors; the table's own detector shown to catch an operation that is not
// all-or-nothing; and docs/CRASH-TABLE.md made by the command for the operations of this build.

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { cowlog, ROOT } from '../mount/helpers.js';
import { crash_table } from '../../src/crash/table.js';
import type { CrashRow, CrashTable } from '../../src/crash/table.js';
import { crash_ops } from '../../src/crash/ops.js';
import type { CrashOp } from '../../src/crash/ops.js';

const OPS = crash_ops();

t.test('the whole table on a short seed set: every survivor comes back before or after', async (t) => {
  const r = await cowlog(['crash-table', '--json', '--seeds', '1', '--seed', '3'], { timeoutMs: 600_000 });
  t.equal(r.code, 0, `exit 0: ${r.stderr.slice(0, 500)}`);
  const tab = JSON.parse(r.stdout) as CrashTable & { summary: string };
  const neither = tab.rows.filter((x) => x.other > 0);
  t.same(neither.map((x) => `${x.op} (${x.durable}) point ${x.point}: ${x.others.join('; ')}`), [], 'no row has a survivor that is neither before nor after');
  t.same([...new Set(tab.rows.map((x) => `${x.op}/${x.durable}`))], OPS.map((o) => `${o.name}/${o.durable}`), `every operation has rows (${OPS.length})`);
  for (const n of ['create', 'append', 'overwrite', 'truncate', 'unlink', 'rename', 'hard link', 'mkdir', 'snapshot create', 'rollback', 'set-default']) {
    t.ok(OPS.some((o) => o.name === n), `'${n}' is one of them`);
  }
  const per = 2 + 1;
  t.ok(tab.rows.every((x) => x.before + x.after + x.other === per), `each row counts ${per} survivors (flushed, all, one random)`);
  t.equal(tab.cuts, tab.rows.length * per, `${tab.cuts} power cuts in all`);
  const byOp = new Map<string, CrashRow[]>();
  for (const x of tab.rows) byOp.set(`${x.op}/${x.durable}`, [...(byOp.get(`${x.op}/${x.durable}`) ?? []), x]);
  for (const [op, rows] of byOp) {
    const first = rows[0]!, last = rows[rows.length - 1]!;
    if (first.before !== per || last.after !== per || rows.length !== last.points + 1 || !rows.every((x, i) => x.point === i)) {
      t.fail(`${op}: points 0..${last.points}, before everywhere at point 0 and after everywhere once it returned (got ${first.before} and ${last.after})`);
    }
    if (!rows.some((x) => /flush/.test(x.refused)) || !rows.some((x) => /^write/.test(x.last))) t.fail(`${op}: cut after a write and at a flush`);
  }
  t.pass(`${byOp.size} operations: before at point 0, after once they returned, cuts after writes and at flushes`);
  t.ok(tab.rows.some((x) => x.before > 0 && x.after > 0), 'some crash points come back either way, by what survived');
  t.ok(tab.rows.some((x) => x.unflushed > 1), 'crash points with several unflushed blocks (lost, kept, reordered, torn)');
  t.match(tab.summary, new RegExp(`^${tab.rows.length} crash points in ${OPS.length} operations, ${tab.cuts} power cuts .*seed 3\\): \\d+ came back as before, \\d+ as after, 0 as anything else$`), tab.summary);
});

t.test('text output, replay by seed, --help and mistakes', async (t) => {
  const args = ['crash-table', '--op', 'rename', '--op', 'trial mount', '--seeds', '3', '--seed', '9'];
  const a = await cowlog(args);
  t.equal(a.code, 0, 'exit 0');
  t.match(a.stdout, /^OPERATION\s+DURABLE BY\s+POINT\s+LAST REQUEST DONE\s+REFUSED BY THE CUT\s+UNFLUSHED\s+BEFORE\s+AFTER\s+OTHER\n/, 'a table with a header');
  t.match(a.stdout, /\nrename\s+fsync\s+1\/2\s+write 1: redo @\d+\s+flush 1\s+1\s+\d+\s+\d+\s+0\n/, 'a row per crash point: after the redo block, at its flush');
  t.match(a.stdout, /\ntrial mount\s+mount\s+\d+\/\d+\s+write \d: checkpoint header @\d+\s+flush \d/, 'the trial mount, cut at the flush of its checkpoint');
  t.match(a.stdout, /\n\d+ crash points in 3 operations, \d+ power cuts \(flushed, all, and 3 random per point; seed 9\): \d+ came back as before, \d+ as after, 0 as anything else\n$/, 'a summary line');
  const b = await cowlog(args);
  t.equal(b.stdout, a.stdout, 'the same seed gives the same table');
  const j1 = await cowlog([...args, '--json']);
  const j2 = await cowlog([...args.slice(0, -1), '10', '--json']);
  const rows = (s: string): string[] => (JSON.parse(s) as CrashTable).rows.map((x) => `${x.op} ${x.point} ${x.last} ${x.refused}`);
  t.same(rows(j2.stdout), rows(j1.stdout), 'another seed: the same crash points (the requests do not depend on it)');

  const h = await cowlog(['crash-table', '--help']);
  t.equal(h.code, 0, '--help');
  t.match(h.stdout, /usage: cowlog crash-table \[--json \| --markdown\] \[--seed N\] \[--seeds N\] \[--op NAME\]/, 'usage');
  t.match(h.stdout, /--seed N +seed of the random survivors/, 'explains the options');
  for (const [argv, re] of [
    [['crash-table', '--seeds', 'x'], /--seeds must be a non-negative integer, not 'x'/],
    [['crash-table', '--op', 'frob'], /no operation named 'frob' \(there are: create, append, /],
    [['crash-table', '--json', '--markdown'], /--json and --markdown: choose one/],
    [['crash-table', 'extra'], /unexpected argument 'extra'/],
  ] as [string[], RegExp][]) {
    const r = await cowlog(argv);
    t.equal(r.code, 2, `${argv.slice(1).join(' ')}: exit 2`);
    t.match(r.stderr, re, 'with the reason');
  }
});

t.test('an operation that is not all-or-nothing shows up as OTHER', async (t) => {
  // two files, each made durable by its own fsync: a cut between the two fsyncs leaves the first
  // file without the second, a state that is neither before nor after the operation
  const twoSteps: CrashOp = {
    name: 'two fsyncs', durable: 'fsync', what: 'create /x and fsync, create /y and fsync', image: 'base', mount: {},
    run: (_dev, f) => {
      for (const n of ['x', 'y']) f!.fsync(f!.create(1, n, 0o644).ino);
    },
  };
  const tab = crash_table({ catalogue: [twoSteps], seeds: 1 });
  t.ok(tab.other > 0, `${tab.other} survivors are neither before nor after`);
  const mid = tab.rows.filter((x) => x.other > 0);
  t.same(mid.map((x) => x.last.replace(/@\d+/, '@A')), ['write 1: redo @A', 'flush 1', 'write 2: redo @A'], 'the crash points between the two fsyncs, and the one whose redo block may be lost');
  t.equal(mid[1]!.other, 3, 'after the first flush every survivor is a third state');
  t.equal(mid[1]!.others[0], 'flushed: a third state: against before, @main /x added, @main / changed; against after, @main / changed, @main /y missing',
    'and the row says how it differs');
  t.equal(tab.rows[0]!.before, 3, 'before the first write: before');
  t.equal(tab.rows[tab.rows.length - 1]!.after, 3, 'once it returned: after');
});

t.test('docs/CRASH-TABLE.md is the command\'s output for the operations of this build', async (t) => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'CRASH-TABLE.md'), 'utf8');
  t.match(doc, /^# The crash table\n\nGenerated by `cowlog crash-table --markdown[^`]*`/, 'made by cowlog crash-table --markdown');
  t.match(doc, /\*\*\d+ crash points in \d+ operations, \d+ power cuts \(flushed, all, and \d+ random per point; seed \d+\): \d+ came back as before, \d+ as after, 0 as anything else\.\*\*/, 'its summary: nothing but before and after');
  const at = doc.indexOf('| operation | durable by | what it does |\n');
  t.ok(at > 0, 'a legend of the operations');
  const legend = doc.slice(at, doc.indexOf('\n\n', at)).split('\n').slice(2).map((l) => l.split(' | ').slice(0, 2).join('/').replace(/^\| /, ''));
  t.same(legend, OPS.map((o) => `${o.name}/${o.durable}`), 'it covers exactly the operations this build runs');
  t.notMatch(doc, /## Third states/, 'and lists no third state');
});
