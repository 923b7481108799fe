import t from 'tap';
import { spread_of, spread_text, waf_table } from '../../tools/bench/waf_table.js';
import type { WafRun } from '../../tools/bench/waf_table.js';
import { case_gen, opts_parse, BenchUsageError } from '../../tools/bench/waf.js';
import { workload_generate } from '../../src/workload/generate.js';

const MiB = 1048576;
function run(c: string, seed: number, label: string, wafv: number, extra: Partial<WafRun> = {}): WafRun {
  return {
    case: c, seed, label, ok: true, askedBytes: 10 * MiB, hostBytes: wafv * 10 * MiB, waf: wafv, hottestCount: label === 'cowlog' ? 5 + seed : 1000 * seed,
    hottestBlock: 1, verifyOk: true, enospc: 0, runMs: 1000,
    parts: label === 'cowlog' ? { data: 60, redo: 30, node: 8, checkpoint: 2 } : { rest: 70, journal: 30 },
    checkpoints: label === 'cowlog' ? { fsync: 10 * seed, unmount: 1 } : {}, ...extra,
  };
}

t.test('spreads: median and range', async (t) => {
  t.same(spread_of([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
  t.equal(spread_of([1, 2, 3, 10])!.median, 2.5);
  t.equal(spread_text(spread_of([1.234])), '1.23');
  t.equal(spread_text(spread_of([1, 2, 3])), '2.00 (1.00–3.00)');
  t.equal(spread_text(undefined), '–');
});

t.test('the table: WAF of each, cowlog ÷ ext4 per seed, hottest, causes, checkpoints, failures said', async (t) => {
  const runs = [
    run('wal', 1, 'cowlog', 1.2), run('wal', 1, 'ext4', 1.5), run('wal', 1, 'btrfs', 3),
    run('wal', 2, 'cowlog', 1.0), run('wal', 2, 'ext4', 2.0), run('wal', 2, 'btrfs', 3.2),
    run('maildir', 1, 'cowlog', 2.0), run('maildir', 1, 'ext4', 2.5, { verifyOk: false }),
    { ...run('maildir', 1, 'btrfs', 0), ok: false, error: 'mkfs.btrfs failed' },
  ];
  const table = waf_table(runs, { cases: ['wal', 'maildir'], labels: ['cowlog', 'ext4', 'btrfs'] });
  const lines = table.split('\n');
  t.same(lines[0]!.split('|').map((c) => c.trim()).filter(Boolean), ['profile', 'asked MiB', 'cowlog WAF', 'ext4 WAF', 'btrfs WAF', 'cowlog ÷ ext4',
    'hottest cowlog', 'hottest ext4', 'hottest btrfs', "cowlog's largest causes", 'cowlog checkpoints by trigger']);
  const wal = lines.find((l) => l.startsWith('| wal'))!;
  const cells = wal.split('|').map((c) => c.trim());
  t.equal(cells[3], '1.10 (1.00–1.20)', 'cowlog WAF over two seeds');
  t.equal(cells[6], '0.65 (0.50–0.80)', 'the ratio is taken per seed (1.2/1.5 and 1.0/2.0), then summarised');
  t.equal(cells[7], '7 (6–7)', 'hottest cowlog');
  t.equal(cells[10], 'data 60 %, redo 30 %, node 8.0 %', "cowlog's three largest causes");
  t.equal(cells[11], '16 (11–21): fsync 15 (10–20), unmount 1', 'checkpoints by trigger');
  const md = lines.find((l) => l.startsWith('| maildir'))!.split('|').map((c) => c.trim());
  t.equal(md[4], '2.50!', 'a run whose files did not verify is marked');
  t.equal(md[5], 'FAILED');
  t.match(table, /! maildir seed 1, ext4: files did not verify/);
  t.match(table, /! maildir seed 1, btrfs: FAILED: mkfs\.btrfs failed/);
  t.equal(new Set(lines.filter((l) => l.startsWith('|')).map((l) => l.length)).size, 1, 'aligned');
  const variants = waf_table([run('wal', 1, 'cowlog', 1.2), run('wal', 1, 'cowlog:lz4', 0.6), run('wal', 1, 'ext4', 1.5)],
    { cases: ['wal'], labels: ['cowlog', 'cowlog:lz4', 'ext4'] });
  t.match(variants, /cowlog:lz4 WAF .* cowlog ÷ ext4 \| +cowlog:lz4 ÷ ext4 \|/, 'a variant is a column of its own, with its ratio');
  t.match(variants.split('\n')[2]!, /\| +0\.80 \| +0\.40 \|/);
});

t.test('options: refused in one line before anything runs', async (t) => {
  const bad: Array<[string[], RegExp]> = [
    [['--profiles', 'nope'], /unknown case 'nope'/],
    [['--ops', '0'], /--ops must be a positive integer/],
    [['--seeds', 'x'], /--seeds takes a list/],
    [['--fs', 'zfs'], /unknown filesystem 'zfs'/],
    [['--cowlog-variant', 'no equals'], /NAME=OPTIONS/],
    [['--cowlog-variant', 'a=-x', '--cowlog-variant', 'a=-y'], /given twice/],
    [['--fs', 'ext4', '--cowlog-variant', 'a=-x'], /needs cowlog among --fs/],
    [['--frobnicate'], /unknown option --frobnicate/],
  ];
  for (const [argv, re] of bad) t.throws(() => opts_parse(argv), re, argv.join(' '));
  t.ok((() => { try { opts_parse(['--ops']); } catch (e) { return e instanceof BenchUsageError; } return false; })(), 'a missing value is a usage error');
  const o = opts_parse(['--seeds', '1-3,7', '--profiles', 'wal,maildir', '--cowlog-variant=lz4=--compress lz4', '--cowlog-variant-mount', 'lz4=compress']);
  t.same(o.seeds, [1, 2, 3, 7]);
  t.same(o.cases, ['wal', 'maildir']);
  t.same(o.variants, [{ name: 'lz4', mkfsOptions: ['--compress', 'lz4'], mountOptions: 'compress' }]);
  t.same(opts_parse([]).variants, [{ name: 'lz4', mkfsOptions: ['--compress', 'lz4'], mountOptions: '' }], 'by default the sweep runs cowlog with lz4 too');
  t.same(opts_parse(['--no-lz4']).variants, [], '--no-lz4 leaves it out');
  t.same(opts_parse(['--fs', 'ext4,btrfs']).variants, [], 'and so does a sweep without cowlog');
  const g = workload_generate(case_gen('mixed-sync30', 1, { ops: 2000, size: 64 * MiB }));
  t.match(g.header.params, { fsyncPct: 30, textPct: 50 }, 'mixed-sync30 is mixed with its knobs');
});

t.test('with floors: the floor of each case and cowlog ÷ floor per seed', async (t) => {
  const runs = [run('wal', 1, 'cowlog', 1.2), run('wal', 1, 'ext4', 1.5), run('wal', 2, 'cowlog', 1.0), run('wal', 2, 'ext4', 2.0)];
  const table = waf_table(runs, { cases: ['wal'], labels: ['cowlog', 'ext4'], floors: [{ case: 'wal', seed: 1, waf: 1.0 }, { case: 'wal', seed: 2, waf: 0.5 }] });
  const [head, , row] = table.split('\n');
  const cells = (l: string) => l.split('|').slice(1, -1).map((x) => x.trim());
  const h = cells(head!);
  const r = cells(row!);
  t.equal(r[h.indexOf('floor WAF')], '0.75 (0.50–1.00)');
  t.equal(r[h.indexOf('cowlog ÷ floor')], '1.60 (1.20–2.00)', 'per seed: 1.2 ÷ 1.0 and 1.0 ÷ 0.5');
  t.notMatch(waf_table(runs, { cases: ['wal'], labels: ['cowlog', 'ext4'] }), /floor/, 'no floors given, no floor columns');
});
