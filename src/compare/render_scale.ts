// The logarithmic colour scale that every heatmap and time × address view of one report shares.
//
// Invariants:
// - colour is a pure function of (count, scaleMax): the same count gets the same colour in every
//   picture drawn with the same scale, which is what lets two filesystems be compared by eye;
// - count 0 is NEVER_WRITTEN (heatmaps) or the background (timelines), a colour that does not occur
//   anywhere on the ramp, so "never written" can not be mistaken for "written once";
// - count 1 is the bottom of the ramp, counts >= scaleMax the top; in between the position is
//   ln(count) / ln(scaleMax), so equal ratios of counts are equal steps of colour.

import * as vega from 'vega';
import { assert } from '../util/assert.js';

export type Rgb = readonly [number, number, number];

/** Blocks with a count of 0. A cool grey: no colour of the inferno ramp is grey. */
export const NEVER_WRITTEN: Rgb = [0xc9, 0xcd, 0xd4];
/** Pixels of a time × address view where no write request landed. */
export const TIMELINE_BACKGROUND: Rgb = [0xff, 0xff, 0xff];

/** Where on the inferno ramp count 1 sits: its first tenth is so close to black that a dark
 *  region of rarely written blocks would read as a hole instead of as "written". */
const RAMP_START = 0.12;
const RAMP_STEPS = 1024;

function ramp_make(): Uint8Array {
  const interp = vega.scheme('inferno') as ((t: number) => string) | undefined;
  assert(typeof interp === 'function', 'vega has no continuous inferno scheme');
  const lut = new Uint8Array(RAMP_STEPS * 3);
  for (let i = 0; i < RAMP_STEPS; i++) {
    const css = interp(RAMP_START + (1 - RAMP_START) * (i / (RAMP_STEPS - 1)));
    const m = /^rgb\((\d+),\s*(\d+),\s*(\d+)\)$/.exec(css) ?? /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(css);
    assert(m !== null, () => `vega inferno gave an unexpected colour ${css}`);
    const base = css.startsWith('#') ? 16 : 10;
    lut[i * 3] = parseInt(m[1]!, base);
    lut[i * 3 + 1] = parseInt(m[2]!, base);
    lut[i * 3 + 2] = parseInt(m[3]!, base);
  }
  return lut;
}

const RAMP = ramp_make();

/** The colour at position t ∈ [0, 1] of the ramp (t is clamped). */
export function ramp_colour(t: number): Rgb {
  const i = Math.round(Math.min(1, Math.max(0, t)) * (RAMP_STEPS - 1));
  return [RAMP[i * 3]!, RAMP[i * 3 + 1]!, RAMP[i * 3 + 2]!];
}

export interface LogScale {
  /** the count drawn with the top colour; larger counts are clamped to it */
  readonly max: number;
}

/** A scale whose top is `max` (at least 2, so that count 1 and the top differ). */
export function scale_make(max: number): LogScale {
  assert(Number.isFinite(max) && max >= 0, () => `scale_make: bad max ${max}`);
  return { max: Math.max(2, Math.ceil(max)) };
}

/** Position of a count on the ramp: 0 for count 1, 1 for counts >= max. Count 0 has none. */
export function scale_position(scale: LogScale, count: number): number {
  assert(count >= 1, () => `scale_position: count ${count} has no place on the ramp`);
  return Math.min(1, Math.log(count) / Math.log(scale.max));
}

/** The colour of a count; `zero` is used for count 0. */
export function count_colour(scale: LogScale, count: number, zero: Rgb = NEVER_WRITTEN): Rgb {
  return count <= 0 ? zero : ramp_colour(scale_position(scale, count));
}

/** Legend ticks: powers of ten from 1 up to the max (and 2, 5 between them when the scale spans
 *  at most two decades), then the max itself; ticks closer than `minGap` of the bar to the next
 *  one are dropped so that labels never overlap. */
export function scale_ticks(scale: LogScale, minGap = 0.07): number[] {
  const cands: number[] = [];
  const decades = Math.log10(scale.max);
  if (scale.max <= 10) {
    for (let v = 1; v <= scale.max; v++) cands.push(v);
  } else {
    for (let p = 1; p <= scale.max; p *= 10) {
      cands.push(p);
      if (decades <= 2) {
        if (2 * p < scale.max) cands.push(2 * p);
        if (5 * p < scale.max) cands.push(5 * p);
      }
    }
  }
  const ticks: number[] = [];
  for (const v of cands) {
    const pos = scale_position(scale, v);
    const last = ticks.length ? scale_position(scale, ticks[ticks.length - 1]!) : -1;
    if (pos - last >= minGap && 1 - pos >= minGap) ticks.push(v);
  }
  ticks.push(scale.max);
  return ticks;
}

/** Hex form (#rrggbb) for SVG and CSS. */
export function rgb_hex(c: Rgb): string {
  return '#' + c.map((v) => v.toString(16).padStart(2, '0')).join('');
}
