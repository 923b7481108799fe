// The comparison chart: host bytes, WAF, hottest block and wear spread of every filesystem of a
// report, side by side, drawn with vega-lite → vega → SVG → resvg → PNG.
//
// Invariants:
// - each filesystem has one colour in every panel (fs_colour), in the report's order;
// - a panel whose values span more than LOG_RATIO is drawn on a log axis (and says so in its
//   title), because WAF and hottest counts of different filesystems differ by orders of
//   magnitude and a linear axis would flatten all but the largest; every bar carries its value
//   as text, so the exact figure is read, not estimated;
// - a filesystem without a value for a panel (no wear file) has no bar there, never a zero bar.

import * as vega from 'vega';
import { compile } from 'vega-lite';
import { FONT, fmt_int, png_write, svg_png } from './render_svg.js';

export interface CompareRow {
  fs: string;
  hostBytes: number;
  waf: number;
  /** undefined when the run left no wear file */
  hottestCount?: number;
  spread?: number;
}

const FS_COLOURS: Record<string, string> = {
  cowlog: '#1b9e77',
  ext4: '#d95f02',
  btrfs: '#7570b3',
  f2fs: '#e7298a',
};
const OTHER_COLOURS = ['#66a61e', '#e6ab02', '#a6761d', '#666666', '#1f78b4', '#b15928'];

/** The colour of a filesystem in every chart of a report. */
export function fs_colour(fs: string, order: readonly string[]): string {
  const known = FS_COLOURS[fs];
  if (known) return known;
  const others = order.filter((f) => !(f in FS_COLOURS));
  return OTHER_COLOURS[Math.max(0, others.indexOf(fs)) % OTHER_COLOURS.length]!;
}

const LOG_RATIO = 30;

/** Powers of ten from lo up to the first at or above hi. */
function decades(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let k = Math.round(Math.log10(lo)); out.length < 16; k++) {
    out.push(Math.pow(10, k));
    if (Math.pow(10, k) >= hi) break;
  }
  return out;
}

interface Panel { title: string; unit: string; pick: (r: CompareRow) => number | undefined; label: (v: number) => string }

const PANELS: Panel[] = [
  { title: 'host bytes written', unit: 'MiB', pick: (r) => r.hostBytes / 1048576, label: (v) => (v >= 100 ? fmt_int(v) : v.toFixed(1)) },
  { title: 'WAF (host ÷ asked)', unit: '×', pick: (r) => r.waf, label: (v) => (v >= 100 ? fmt_int(v) : v.toFixed(v >= 10 ? 1 : 2)) },
  { title: 'hottest block', unit: 'writes', pick: (r) => r.hottestCount, label: (v) => fmt_int(v) },
  { title: 'wear spread (hottest ÷ mean)', unit: '×', pick: (r) => r.spread, label: (v) => (v >= 100 ? fmt_int(v) : v.toFixed(1)) },
];

/** The vega-lite specification of the chart (exported so tests can inspect what is drawn). */
export function compare_spec(rows: readonly CompareRow[], subtitle = ''): Record<string, unknown> {
  const order = rows.map((r) => r.fs);
  const colours = order.map((f) => fs_colour(f, order));
  const panels = PANELS.map((p) => {
    const values = rows.flatMap((r) => {
      const v = p.pick(r);
      return v !== undefined && Number.isFinite(v) && v > 0 ? [{ fs: r.fs, value: v, label: p.label(v) }] : [];
    });
    const vs = values.map((v) => v.value);
    const lo = vs.length ? Math.min(...vs) : 1, hi = vs.length ? Math.max(...vs) : 1;
    const log = vs.length > 1 && hi / lo > LOG_RATIO;
    // log bars need a baseline above zero: a power of ten below the smallest value, far enough
    // below that the smallest bar still shows (a spread of 1.0 on a baseline of 1 would not)
    const e = Math.floor(Math.log10(lo));
    const base = Math.pow(10, lo / Math.pow(10, e) < 3 ? e - 1 : e);
    const y = {
      field: 'value', type: 'quantitative',
      scale: log ? { type: 'log', domain: [base, Math.pow(10, Math.ceil(Math.log10(hi * 1.6)))] } : { zero: true, nice: true, domain: [0, hi * 1.18] },
      axis: {
        title: `${p.unit}${log ? ' (log scale)' : ''}`, grid: true, gridColor: '#e4e4e4',
        // a log axis is labelled at powers of ten only; a linear one with plain thousands
        ...(log ? { values: decades(base, hi * 1.6), format: ',~g' } : { tickCount: 5, format: ',~r' }),
      },
    };
    return {
      title: { text: p.title, fontSize: 14 },
      width: Math.max(150, 46 * rows.length),
      height: 260,
      data: { values },
      encoding: {
        x: { field: 'fs', type: 'nominal', sort: order, scale: { domain: order }, axis: { labelAngle: 0, title: null, labelFontSize: 12 } },
        y,
      },
      layer: [
        {
          mark: { type: 'bar', width: { band: 0.7 } },
          encoding: {
            color: { field: 'fs', type: 'nominal', scale: { domain: order, range: colours }, legend: null },
            ...(log ? { y2: { datum: base } } : {}),
          },
        },
        { mark: { type: 'text', dy: -7, fontSize: 11.5, color: '#222' }, encoding: { text: { field: 'label' } } },
      ],
    };
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Write amplification and wear, side by side', subtitle, fontSize: 18, subtitleFontSize: 12.5, anchor: 'start', offset: 14 },
    background: 'white',
    padding: 16,
    config: {
      font: FONT,
      view: { stroke: null },
      axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', domainColor: '#888', tickColor: '#888' },
      concat: { spacing: 34 },
    },
    hconcat: panels,
  };
}

/** The chart as SVG text. */
export async function compare_svg(rows: readonly CompareRow[], subtitle = ''): Promise<string> {
  const vl = compare_spec(rows, subtitle);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const spec = compile(vl as any).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Draws the comparison chart to a PNG file. */
export async function compare_render(rows: readonly CompareRow[], pngPath: string, subtitle = ''): Promise<void> {
  png_write(pngPath, svg_png(await compare_svg(rows, subtitle)));
}
