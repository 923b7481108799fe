// The time × address view: x = time since the start of the run (or the request's index when the
// tracer gave no times), y = device address; every write request is drawn as a vertical segment
// covering the bytes it wrote. Journal hammering shows as a horizontal line, a log head as a
// diagonal sweep, cleaning as bursts of sweeps that re-read and re-write (docs/REPORT.md).
//
// Invariants:
// - drawing is binned, never per request: a run of millions of requests is folded into a
//   PLOT_WIDTH × PLOT_HEIGHT array of counts in one pass, so time and memory depend on the
//   number of pixels and not on the number of requests; the picture says how it was binned;
// - a pixel's count is the number of requests whose time falls in its column and whose byte
//   range overlaps its address band; the colour is count_colour(scale, count) with the scale the
//   report shares between filesystems, and an empty pixel is TIMELINE_BACKGROUND;
// - the rate bar above the plot sums request bytes per column: its total is the run's host bytes.

import type { WearRecord } from '../wear/wearfile.js';
import { wear_stats } from '../wear/stats.js';
import { assert } from '../util/assert.js';
import { TIMELINE_BACKGROUND, count_colour, scale_make } from './render_scale.js';
import {
  Raster, fmt_bytes, fmt_compact, fmt_int, legend_svg, png_write, svg_open, svg_png, svg_text,
  type LegendGeometry,
} from './render_svg.js';

export const PLOT_WIDTH = 880;
export const PLOT_HEIGHT = 512;

export type TimelineAxis = 'time' | 'index';

export interface TimelineBins {
  width: number;
  height: number;
  axis: TimelineAxis;
  /** the x extent: nanoseconds (time axis) or requests (index axis) */
  span: number;
  requests: number;
  deviceBytes: number;
  /** requests per pixel, row-major, row 0 = address 0 */
  values: Uint32Array;
  /** host bytes per column */
  columnBytes: Float64Array;
  max: number;
}

/** Folds the timeline of a record into pixels. `axis` 'time' falls back to 'index' when the
 *  record carries no times (all zero). */
export function timeline_bins(rec: WearRecord, axis: TimelineAxis = 'time', width = PLOT_WIDTH, height = PLOT_HEIGHT): TimelineBins {
  const n = rec.timeNs.length;
  const deviceBytes = rec.counts.length * rec.blockSize;
  assert(deviceBytes > 0, 'timeline_bins: a device of zero bytes');
  let tMax = 0;
  if (axis === 'time') {
    for (let i = 0; i < n; i++) { const t = Number(rec.timeNs[i]!); if (t > tMax) tMax = t; }
    if (tMax === 0) axis = 'index';
  }
  const span = axis === 'time' ? tMax : Math.max(1, n);
  const values = new Uint32Array(width * height);
  const columnBytes = new Float64Array(width);
  const xScale = width / span, yScale = height / deviceBytes;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const xv = axis === 'time' ? Number(rec.timeNs[i]!) : i;
    const x = Math.min(width - 1, Math.floor(xv * xScale));
    const off = Number(rec.offset[i]!), len = rec.length[i]!;
    columnBytes[x]! += len;
    if (len === 0) continue;
    const y0 = Math.min(height - 1, Math.floor(off * yScale));
    const y1 = Math.min(height - 1, Math.floor((off + len - 1) * yScale));
    for (let y = y0, p = y0 * width + x; y <= y1; y++, p += width) {
      const v = values[p]! + 1;
      values[p] = v;
      if (v > max) max = v;
    }
  }
  return { width, height, axis, span, requests: n, deviceBytes, values, columnBytes, max };
}

/** Round steps (1, 2, 5 × 10^k) for an axis of length `span` with about `want` ticks. */
function nice_step(span: number, want: number): number {
  const raw = span / want;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

function fmt_seconds(ns: number, stepNs: number): string {
  if (stepNs >= 1e9) return `${+(ns / 1e9).toFixed(0)} s`;
  if (stepNs >= 1e8) return `${+(ns / 1e9).toFixed(1)} s`;
  if (stepNs >= 1e6) return `${+(ns / 1e6).toFixed(0)} ms`;
  return `${+(ns / 1e3).toFixed(0)} µs`;
}

export interface TimelineOptions {
  /** the count (requests per pixel) drawn with the top colour; a report shares it */
  scaleMax?: number;
  title?: string;
  axis?: TimelineAxis;
  hottestWhat?: string;
}

export interface TimelineLayout {
  width: number;
  height: number;
  plotX: number;
  plotY: number;
  bins: TimelineBins;
  legend: LegendGeometry;
}

const MARGIN_LEFT = 78, MARGIN_RIGHT = 70, RATE_HEIGHT = 40;

export function timeline_svg(rec: WearRecord, bins: TimelineBins, opts: TimelineOptions = {}): { svg: string; layout: TimelineLayout } {
  const scale = scale_make(opts.scaleMax ?? bins.max);
  const W = bins.width, H = bins.height;
  const plotX = MARGIN_LEFT, rateY = 80, plotY = rateY + RATE_HEIGHT + 8;
  const parts: string[] = [];

  const title = opts.title ?? `${rec.meta.fs}: where writes land over the run`;
  parts.push(svg_text(plotX, 26, title, 'font-size="20" font-weight="bold" fill="#111"'));
  const pxX = bins.axis === 'time' ? `${fmt_seconds(bins.span / W, bins.span / W)}` : `${+(bins.span / W).toPrecision(3)} requests`;
  parts.push(svg_text(plotX, 46,
    `${fmt_int(bins.requests)} write requests, ${fmt_bytes(Number(rec.bytes))}, binned into ${W} × ${H} pixels: one pixel = ${pxX} × ${fmt_bytes(bins.deviceBytes / H)}`,
    'font-size="12.5" fill="#444"'));
  parts.push(svg_text(plotX, 63,
    rec.truncated ? 'the tracer truncated the timeline: the picture shows only the requests it kept (counts and bytes stay exact)'
      : 'every request is drawn; colour = requests per pixel, so busy regions stay visible at any length of run',
    `font-size="12.5" fill="${rec.truncated ? '#b00020' : '#444'}"`));

  // rate bar: bytes per column, linear, so bursts (cleaning, checkpoints) stand out
  const rate = new Raster(W, RATE_HEIGHT, [0xf4, 0xf5, 0xf7]);
  let rateMax = 0;
  for (let x = 0; x < W; x++) rateMax = Math.max(rateMax, bins.columnBytes[x]!);
  for (let x = 0; x < W && rateMax > 0; x++) {
    const h = Math.round((bins.columnBytes[x]! / rateMax) * RATE_HEIGHT);
    if (h > 0) rate.rect(x, RATE_HEIGHT - h, 1, h, [0x5a, 0x6b, 0x80]);
  }
  parts.push(rate.svg_image(plotX, rateY));
  parts.push(svg_text(plotX + W + 6, rateY + 11, 'bytes per', 'font-size="10.5" fill="#555"'));
  parts.push(svg_text(plotX + W + 6, rateY + 24, 'column', 'font-size="10.5" fill="#555"'));
  parts.push(svg_text(plotX + W + 6, rateY + 37, `≤ ${fmt_bytes(rateMax)}`, 'font-size="10.5" fill="#555"'));

  const plot = new Raster(W, H, TIMELINE_BACKGROUND);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const v = bins.values[y * W + x]!;
      if (v) plot.rect(x, y, 1, 1, count_colour(scale, v, TIMELINE_BACKGROUND));
    }
  }
  parts.push(plot.svg_image(plotX, plotY));
  // the frame stands 2 px off the pixels, so a hammered block at address 0 or at the end of the
  // device is not hidden under it
  parts.push(`<rect x="${plotX - 2.5}" y="${plotY - 2.5}" width="${W + 5}" height="${H + 5}" fill="none" stroke="#666" stroke-width="1"/>`);

  // y axis: device address, 0 at the top as in the block grid
  // address steps are powers of two, as device sizes are (64 MiB → 8 MiB)
  const yStep = Math.pow(2, Math.ceil(Math.log2(bins.deviceBytes / 8)));
  for (let a = 0; a <= bins.deviceBytes; a += yStep) {
    const y = Math.round(plotY + (a / bins.deviceBytes) * H) - 0.5;
    parts.push(`<line x1="${plotX - 7}" y1="${y}" x2="${plotX - 3}" y2="${y}" stroke="#444"/>`);
    parts.push(svg_text(plotX - 8, y + 4, a === 0 ? '0' : fmt_bytes(a), 'font-size="11" fill="#333" text-anchor="end"'));
  }
  parts.push(svg_text(18, plotY + H / 2, 'device address (0 at top)',
    `font-size="12" fill="#333" text-anchor="middle" transform="rotate(-90 18 ${plotY + H / 2})"`));

  // x axis
  const xStep = nice_step(bins.span, 8);
  for (let v = 0; v <= bins.span; v += xStep) {
    const x = Math.round(plotX + (v / bins.span) * W) + 0.5;
    parts.push(`<line x1="${x}" y1="${plotY + H + 3}" x2="${x}" y2="${plotY + H + 8}" stroke="#444"/>`);
    const label = bins.axis === 'time' ? fmt_seconds(v, xStep) : fmt_compact(v);
    parts.push(svg_text(x, plotY + H + 21, label, 'font-size="11" fill="#333" text-anchor="middle"'));
  }
  parts.push(svg_text(plotX + W / 2, plotY + H + 36,
    bins.axis === 'time' ? 'time since the start of the workload' : 'request index (the tracer recorded no times)',
    'font-size="12" fill="#333" text-anchor="middle"'));

  // the hottest block, marked on the address axis
  const stats = wear_stats(rec.counts);
  if (stats.hottestCount > 0) {
    const y = plotY + ((stats.hottestBlock + 0.5) * rec.blockSize / bins.deviceBytes) * H;
    const x = plotX + W + 4;
    parts.push(`<path d="M ${x} ${y} l 9 -6 l 0 12 z" fill="#00b4ff"/>`);
    parts.push(svg_text(x + 12, y + 4, 'hottest', 'font-size="10.5" fill="#0077aa"'));
  }

  const legendY = plotY + H + 48;
  const leg = legend_svg(plotX, legendY, 470, scale, 'write requests per pixel (log scale, shared by all filesystems of this report)',
    { colour: TIMELINE_BACKGROUND, label: 'no write' });
  parts.push(leg.svg);

  const width = plotX + W + MARGIN_RIGHT;
  const height = legendY + leg.height + 12;
  return { svg: svg_open(width, height) + parts.join('') + '</svg>', layout: { width, height, plotX, plotY, bins, legend: leg.geometry } };
}

/** Draws the time × address view of one record to a PNG file. */
export async function timeline_render(rec: WearRecord, pngPath: string, opts: TimelineOptions & { bins?: TimelineBins } = {}): Promise<TimelineLayout> {
  const bins = opts.bins ?? timeline_bins(rec, opts.axis ?? 'time');
  const { svg, layout } = timeline_svg(rec, bins, opts);
  png_write(pngPath, svg_png(svg));
  return layout;
}
