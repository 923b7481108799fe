// The "where the host bytes went" chart: one horizontal stacked bar per filesystem, its length
// the host bytes (one MiB scale for all bars), its segments the parts of its breakdown
// (breakdown.ts): cowlog's by cause, a kernel filesystem's by location (the region of its layout
// each request hit). The picture says which is which, under every bar.
//
// Invariants:
// - a segment's width is its bytes on the shared scale, placed in the breakdown's order; the
//   segments of a bar end exactly at its total (rounding is carried, not dropped);
// - a cause has one colour in every report (CAUSE_COLOURS by cause number); a region takes the
//   colour of its kind, in shades when one filesystem has several regions of a kind;
// - a bar's legend lists every part with its MiB and share, so a part too thin to see is still
//   read.

import { CAUSE_NAMES } from '../device/cause.js';
import { assert } from '../util/assert.js';
import type { Breakdown, Part } from './breakdown.js';
import type { RegionKind } from './regions.js';
import { fmt_int, png_write, svg_open, svg_png, svg_text, xml_escape } from './render_svg.js';

export interface CausesRow {
  /** the filesystem as the report names it */
  fs: string;
  breakdown: Breakdown;
  /** bytes the workload asked for (for the WAF beside the bar) */
  askedBytes: number;
}

/** A colour per cause number (index = Cause), distinct neighbours within a family. */
const CAUSE_COLOURS: readonly string[] = [
  '#bdbdbd', // unknown
  '#2ca02c', // data
  '#1f77b4', // redo
  '#6baed6', // redo-patch
  '#9467bd', // node
  '#ff7f0e', // nat
  '#ffbb78', // rct
  '#d6616b', // sut
  '#e7969c', // sst
  '#8c564b', // snap
  '#c49c94', // table-dir
  '#bcbd22', // journal
  '#d62728', // checkpoint
  '#17becf', // cleaner-data
  '#9edae5', // cleaner-node
  '#7f7f7f', // wear-level
  '#f7b6d2', // format
  '#e377c2', // recovery
];

/** Region colours, by kind: none of them is a cause's, so a place is never read as a cause. */
const KIND_SHADES: Record<RegionKind, readonly string[]> = {
  superblock: ['#a50f15', '#ef3b2c', '#67000d'],
  journal: ['#a63603', '#fd8d3c', '#7f2704'],
  metadata: ['#54278f', '#9e9ac8', '#3f007d', '#bcbddc'],
  rest: ['#a8a8a8', '#d4d4d4', '#808080'],
};

/** The colour of a part of a breakdown (its index among the parts of the same kind for shades). */
export function part_colour(p: Part, sameKindIndex = 0): string {
  if (p.kind === undefined) {
    const i = CAUSE_NAMES.indexOf(p.name);
    return CAUSE_COLOURS[i >= 0 ? i : 0]!;
  }
  const shades = KIND_SHADES[p.kind];
  return shades[sameKindIndex % shades.length]!;
}

export interface Segment { part: Part; colour: string; x: number; w: number }
export interface BarLayout { fs: string; y: number; h: number; x: number; w: number; segments: Segment[] }
export interface CausesLayout { width: number; height: number; barX: number; barW: number; mibMax: number; bars: BarLayout[] }

const W = 980, BAR_X = 118, BAR_W = 640, BAR_H = 26, TOP = 84;
const MiB = 1048576;
const CHAR_PX = 7.1; // DejaVu Sans at 12 px, for laying out legend items

function pct(x: number, total: number): string {
  const p = total > 0 ? (100 * x) / total : 0;
  return p >= 9.95 || p === 0 ? `${p.toFixed(0)} %` : p >= 0.95 ? `${p.toFixed(1)} %` : `${p.toFixed(2)} %`;
}

/** "124 MiB", "1.4 MiB", "0.51 MiB", "3.0 KiB" */
function amount(n: number): string {
  const v = n / MiB;
  if (v >= 100) return `${fmt_int(v)} MiB`;
  if (v >= 1) return `${v.toFixed(1)} MiB`;
  if (v >= 0.01) return `${v.toFixed(2)} MiB`;
  return `${(n / 1024).toFixed(1)} KiB`;
}

/** The chart as SVG with its geometry (for tests). */
export function causes_svg(rows: readonly CausesRow[], subtitle = ''): { svg: string; layout: CausesLayout } {
  assert(rows.length > 0, 'causes_svg: no rows');
  const bytesMax = Math.max(1, ...rows.map((r) => r.breakdown.bytes));
  const parts: string[] = [];
  parts.push(svg_text(24, 30, 'Where the host bytes went', 'font-size="20" font-weight="bold" fill="#111"'));
  parts.push(svg_text(24, 50, 'cowlog: by cause (the engine tags every write with why it made it). ext4, btrfs, f2fs: by location, not by cause:',
    'font-size="12.5" fill="#333"'));
  parts.push(svg_text(24, 66, `the region of their layout each write request hit (journal, superblock, metadata areas, the rest).${subtitle ? ` ${subtitle}` : ''}`,
    'font-size="12.5" fill="#333"'));
  const bars: BarLayout[] = [];
  let y = TOP;
  for (const r of rows) {
    const b = r.breakdown;
    const barW = Math.round((b.bytes / bytesMax) * BAR_W);
    const kindSeen = new Map<string, number>();
    const segments: Segment[] = [];
    let acc = 0, x0 = BAR_X;
    for (const p of b.parts) {
      const k = p.kind ?? '';
      const idx = kindSeen.get(k) ?? 0;
      kindSeen.set(k, idx + 1);
      acc += p.bytes;
      // the right edge of a segment is the rounded cumulative position: widths never drift
      const x1 = BAR_X + Math.round((acc / Math.max(1, b.bytes)) * barW);
      segments.push({ part: p, colour: part_colour(p, idx), x: x0, w: x1 - x0 });
      x0 = x1;
    }
    parts.push(svg_text(BAR_X - 10, y + BAR_H / 2 + 5, r.fs, 'font-size="14" font-weight="bold" fill="#222" text-anchor="end"'));
    for (const s of segments) {
      if (s.w > 0) parts.push(`<rect x="${s.x}" y="${y}" width="${s.w}" height="${BAR_H}" fill="${s.colour}"/>`);
    }
    parts.push(`<rect x="${BAR_X - 0.5}" y="${y - 0.5}" width="${barW + 1}" height="${BAR_H + 1}" fill="none" stroke="#555" stroke-width="1"/>`);
    const waf = r.askedBytes > 0 ? ` · WAF ${(b.bytes / r.askedBytes).toFixed(2)}` : '';
    parts.push(svg_text(BAR_X + barW + 8, y + BAR_H / 2 + 5, `${amount(b.bytes)}${b.truncated ? ' (kept timeline)' : ''}${waf}`, 'font-size="12.5" fill="#222"'));
    bars.push({ fs: r.fs, y, h: BAR_H, x: BAR_X, w: barW, segments });
    y += BAR_H + 8;
    const basis = b.basis === 'cause' ? 'by cause' : 'by location, not by cause';
    parts.push(svg_text(BAR_X, y + 10, `${basis}: ${b.source}${b.truncated ? '; truncated timeline: only the requests kept are split' : ''}`,
      'font-size="11" fill="#555" font-style="italic"'));
    y += 18;
    // the legend of this bar: every part, in order, wrapped to the width
    let lx = BAR_X;
    for (const s of segments) {
      const label = `${s.part.short} ${amount(s.part.bytes)} (${pct(s.part.bytes, b.bytes)})`;
      const w = 16 + label.length * CHAR_PX + 14;
      if (lx + w > W - 16 && lx > BAR_X) { lx = BAR_X; y += 18; }
      parts.push(`<rect x="${lx}" y="${y}" width="11" height="11" fill="${s.colour}" stroke="#555" stroke-width="0.5"/>`);
      parts.push(svg_text(lx + 16, y + 10, label, 'font-size="12" fill="#222"'));
      lx += w;
    }
    y += 34;
  }
  const height = y + 4;
  const svg = svg_open(W, height) + parts.join('') + '</svg>';
  return { svg, layout: { width: W, height, barX: BAR_X, barW: BAR_W, mibMax: bytesMax / MiB, bars } };
}

/** Draws the chart to a PNG file. */
export function causes_render(rows: readonly CausesRow[], pngPath: string, subtitle = ''): CausesLayout {
  const { svg, layout } = causes_svg(rows, subtitle);
  png_write(pngPath, svg_png(svg));
  return layout;
}

/** The breakdown as a Markdown table: part, basis, MiB, share, requests, block writes. */
export function breakdown_markdown(b: Breakdown): string {
  const head = `| ${b.basis === 'cause' ? 'cause' : 'region (by location)'} | bytes | share | requests | block writes |\n|:---|---:|---:|---:|---:|`;
  const rows = b.parts.map((p) => `| ${p.name.replace(/\|/g, '\\|')} | ${amount(p.bytes)} | ${pct(p.bytes, b.bytes)} | ${fmt_int(p.requests)} | ${fmt_int(p.blocks)} |`);
  return [head, ...rows].join('\n') + '\n';
}

/** The same table in HTML. */
export function breakdown_html(b: Breakdown): string {
  const th = [b.basis === 'cause' ? 'cause' : 'region (by location)', 'bytes', 'share', 'requests', 'block writes'];
  const body = b.parts.map((p, i) => {
    const sw = `<span style="display:inline-block;width:10px;height:10px;background:${part_colour(p, b.parts.slice(0, i).filter((q) => q.kind === p.kind).length)};margin-right:6px"></span>`;
    return `<tr><td>${sw}${xml_escape(p.name)}</td><td class="num">${amount(p.bytes)}</td><td class="num">${pct(p.bytes, b.bytes)}</td>` +
      `<td class="num">${fmt_int(p.requests)}</td><td class="num">${fmt_int(p.blocks)}</td></tr>`;
  }).join('\n');
  return `<table class="summary">\n<thead><tr>${th.map((h, i) => `<th class="${i ? 'num' : ''}">${xml_escape(h)}</th>`).join('')}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>\n`;
}
