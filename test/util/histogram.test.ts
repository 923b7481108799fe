// The power-of-two latency histogram: buckets as biolatency draws them, quantiles within their
// bucket, differences of cumulative histograms, JSON round trips.

import t from 'tap';
import { Histogram, HIST_BUCKETS } from '../../src/util/histogram.js';
import { Prng } from '../../src/util/prng.js';

t.test('bucket boundaries', async (t) => {
  const cases: [number, number][] = [[0, 0], [1, 0], [2, 1], [3, 1], [4, 2], [7, 2], [8, 3], [1023, 9], [1024, 10], [2 ** 31 - 1, 30], [2 ** 31, 31], [2 ** 40, 31]];
  for (const [v, k] of cases) t.equal(Histogram.bucket_of(v), k, `${v} goes to bucket ${k}`);
  for (let k = 1; k < HIST_BUCKETS; k++) {
    t.equal(Histogram.bucket_of(Histogram.bucket_lo(k)), k, `bucket ${k} starts at ${Histogram.bucket_lo(k)}`);
    t.equal(Histogram.bucket_of(Histogram.bucket_lo(k) - 1), k - 1, `and ${Histogram.bucket_lo(k) - 1} is in the one before`);
  }
  const h = new Histogram();
  h.add(0.2);
  t.equal(h.max, 1, 'a fraction is rounded up: any time at all is at least 1');
  t.throws(() => h.add(-1), /histogram value -1/, 'a negative value is a bug');
});

t.test('quantiles stay inside the bucket that holds the rank', async (t) => {
  const rng = new Prng(11);
  for (let round = 0; round < 20; round++) {
    const h = new Histogram();
    const xs: number[] = [];
    const n = rng.int(1, 3000);
    for (let i = 0; i < n; i++) {
      // log-uniform, as latencies are
      const v = Math.ceil(2 ** (rng.float() * 20));
      xs.push(v);
      h.add(v);
    }
    xs.sort((a, b) => a - b);
    t.equal(h.count, n);
    t.equal(h.sum, xs.reduce((a, b) => a + b, 0), 'sum');
    t.equal(h.max, xs[n - 1], 'max');
    for (const q of [0.5, 0.9, 0.99, 1]) {
      const exact = xs[Math.max(0, Math.ceil(q * n) - 1)]!;
      const est = h.quantile(q);
      const k = Histogram.bucket_of(exact);
      if (Histogram.bucket_of(est) !== k || est > h.max) {
        t.fail(`round ${round}: q ${q}: estimate ${est} not in bucket ${k} of the exact ${exact} (max ${h.max})`);
      }
    }
  }
  t.equal(new Histogram().quantile(0.5), 0, 'an empty histogram answers 0');
});

t.test('since, merge and JSON', async (t) => {
  const a = new Histogram();
  for (const v of [1, 5, 5, 100]) a.add(v);
  const before = a.copy();
  for (const v of [3, 700, 6]) a.add(v);
  const d = a.since(before);
  t.equal(d.count, 3, 'three added since');
  t.equal(d.sum, 709, 'their sum');
  t.same(Array.from(d.buckets.subarray(0, 10)), [0, 1, 1, 0, 0, 0, 0, 0, 0, 1], 'in buckets 1, 2 and 9');
  t.ok(d.max >= 512 && d.max <= 1023, `max ${d.max} is bounded by the top non-empty bucket`);
  t.throws(() => before.since(a), /went down/, 'a histogram never shrinks');
  const m = before.copy();
  m.merge(d);
  t.same(Array.from(m.buckets), Array.from(a.buckets), 'before + since = now');
  const j = JSON.parse(JSON.stringify(a)) as ReturnType<Histogram['toJSON']>;
  t.equal(j.buckets.length, 10, 'JSON keeps the buckets up to the last non-empty one');
  const back = Histogram.from(j);
  t.same(Array.from(back.buckets), Array.from(a.buckets), 'and reads back');
  t.throws(() => Histogram.from({ ...j, count: j.count + 1 }), /add up to/, 'a count that does not add up is refused');
  const lines = a.render();
  t.match(lines[0]!, /usecs : count\s+distribution/, 'rendered with a header');
  t.match(lines.find((l) => /512 -> 1023/.test(l)) ?? '', /: 1\s+\|\*+\s*\|/, 'and a line per bucket');
});
