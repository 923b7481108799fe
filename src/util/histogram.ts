// Latency histograms with power-of-two buckets, as bcc's biolatency draws them.
//
// Bucket 0 holds values in [0, 2), bucket k ≥ 1 holds [2^k, 2^(k+1)): a value v ≥ 2 goes to
// floor(log2 v). Values are whole units (cowlog uses microseconds); a fraction is rounded up
// first, so a request that took any time at all is never counted as 0.
//
// Invariants:
// - count equals the sum of the buckets; sum is the sum of the values added (rounded as stored);
//   max is the largest value added (0 when empty).
// - There are HIST_BUCKETS buckets; values at or beyond 2^HIST_BUCKETS land in the last one
//   (2^32 µs is 71 minutes: no request of a live mount waits that long).
// - A percentile is an estimate inside its bucket (linear interpolation), never outside the
//   bucket that holds the requested rank, and never above max.

import { assert } from './assert.js';

export const HIST_BUCKETS = 32;

/** A histogram as JSON: the buckets up to the last non-empty one. */
export interface HistogramJson {
  buckets: number[];
  count: number;
  sum: number;
  max: number;
}

export class Histogram {
  readonly buckets = new Float64Array(HIST_BUCKETS);
  count = 0;
  sum = 0;
  max = 0;

  /** The bucket a value (already whole) goes into. */
  static bucket_of(v: number): number {
    if (v < 2) return 0;
    const k = v >= 2 ** 31 ? Math.floor(Math.log2(v)) : 31 - Math.clz32(v);
    return Math.min(HIST_BUCKETS - 1, k);
  }

  /** The smallest value of bucket k; the bucket ends before bucket_lo(k + 1). */
  static bucket_lo(k: number): number {
    return k === 0 ? 0 : 2 ** k;
  }

  add(value: number): void {
    const v = Math.ceil(value);
    // every request adds one: no message closure unless it fails
    if (!(v >= 0 && v < Infinity)) assert(false, `histogram value ${value}`);
    this.buckets[Histogram.bucket_of(v)]!++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  /** Adds every value of another histogram. */
  merge(o: Histogram): void {
    for (let k = 0; k < HIST_BUCKETS; k++) this.buckets[k]! += o.buckets[k]!;
    this.count += o.count;
    this.sum += o.sum;
    if (o.max > this.max) this.max = o.max;
  }

  /**
   * What was added since `before` (an earlier copy of this histogram): the difference of the
   * buckets. max is this one's (a difference of maxima means nothing), bounded by the largest
   * non-empty bucket.
   */
  since(before: Histogram): Histogram {
    const d = new Histogram();
    let top = -1;
    for (let k = 0; k < HIST_BUCKETS; k++) {
      const n = this.buckets[k]! - before.buckets[k]!;
      assert(n >= 0, () => `bucket ${k} went down from ${before.buckets[k]} to ${this.buckets[k]}`);
      d.buckets[k] = n;
      if (n > 0) top = k;
    }
    d.count = this.count - before.count;
    d.sum = this.sum - before.sum;
    d.max = top < 0 ? 0 : Math.min(this.max, Histogram.bucket_lo(top + 1) - 1);
    return d;
  }

  /** The q-quantile (0 < q ≤ 1) estimated within its bucket; 0 when empty. */
  quantile(q: number): number {
    assert(q > 0 && q <= 1, () => `quantile ${q}`);
    if (this.count === 0) return 0;
    const rank = q * this.count;
    let seen = 0;
    for (let k = 0; k < HIST_BUCKETS; k++) {
      const n = this.buckets[k]!;
      if (n === 0) continue;
      if (seen + n >= rank) {
        const lo = Histogram.bucket_lo(k);
        const hi = Math.min(Histogram.bucket_lo(k + 1) - 1, this.max);
        const at = lo + ((rank - seen) / n) * (hi - lo);
        return Math.min(this.max, Math.max(lo, Math.round(at)));
      }
      seen += n;
    }
    return this.max;
  }

  copy(): Histogram {
    const h = new Histogram();
    h.merge(this);
    return h;
  }

  /** The buckets up to the last non-empty one, for JSON. */
  toJSON(): HistogramJson {
    let last = HIST_BUCKETS - 1;
    while (last >= 0 && this.buckets[last] === 0) last--;
    return { buckets: Array.from(this.buckets.subarray(0, last + 1)), count: this.count, sum: this.sum, max: this.max };
  }

  static from(j: HistogramJson): Histogram {
    assert(j.buckets.length <= HIST_BUCKETS, () => `${j.buckets.length} buckets, at most ${HIST_BUCKETS}`);
    const h = new Histogram();
    let n = 0;
    j.buckets.forEach((v, k) => { h.buckets[k] = v; n += v; });
    assert(n === j.count, () => `buckets add up to ${n}, count says ${j.count}`);
    h.count = j.count;
    h.sum = j.sum;
    h.max = j.max;
    return h;
  }

  /**
   * The histogram as biolatency prints it: one line per bucket from the first to the last
   * non-empty one, "lo -> hi : count |****|", stars scaled to the largest bucket.
   */
  render(unit = 'usecs', width = 40): string[] {
    let first = 0;
    while (first < HIST_BUCKETS && this.buckets[first] === 0) first++;
    let last = HIST_BUCKETS - 1;
    while (last >= 0 && this.buckets[last] === 0) last--;
    if (first > last) return [`${unit.padStart(20)} : count    (none)`];
    let top = 0;
    for (let k = first; k <= last; k++) top = Math.max(top, this.buckets[k]!);
    const lines = [`${unit.padStart(20)} : count     distribution`];
    for (let k = first; k <= last; k++) {
      const n = this.buckets[k]!;
      const stars = '*'.repeat(Math.round((n / top) * width));
      const range = `${Histogram.bucket_lo(k)} -> ${Histogram.bucket_lo(k + 1) - 1}`;
      lines.push(`${range.padStart(20)} : ${String(n).padEnd(8)} |${stars.padEnd(width)}|`);
    }
    return lines;
  }
}
