// The comparison report: reads every OUT/<fs>/result.json (RunResult, src/compare/result.ts)
// and OUT/<fs>/wear.bin (docs/WEARFILE.md), and writes beside them
//   <fs>-heatmap.png   block grid of write counts
//   <fs>-timeline.png  time × address view
//   compare.png        host bytes / WAF / hottest block / spread, side by side
//   report.md          the table and the pictures
//   report.html        the same, self-contained (pictures inlined, no external URL)
// and returns the table for the terminal. docs/REPORT.md explains how to read each picture.
//
// Invariants:
// - one colour scale for all heatmaps of a report (top = the largest block count of any run) and
//   one for all timelines (top = the busiest pixel of any run): the same count is the same
//   colour in every picture;
// - a wear file is decoded, folded into its grid counts and timeline bins, and let go before the
//   next is read: memory holds one timeline at a time, whatever the number of filesystems;
// - disagreements between result.json and wear.bin are reported in the report, not hidden.

import { wear_by } from '../wear/names.js';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { wear_decode, type WearRecord } from '../wear/wearfile.js';
import { wear_stats, waf } from '../wear/stats.js';
import type { RunResult } from './result.js';
import { heatmap_render } from './render_heatmap.js';
import { timeline_bins, timeline_render, type TimelineAxis, type TimelineBins } from './render_timeline.js';
import { compare_render, type CompareRow } from './render_compare.js';
import { fmt_bytes, fmt_int, xml_escape } from './render_svg.js';
import { table_html, table_markdown, table_text, type ReportRow } from './report_table.js';
import { breakdown_of, checkpoints_of, checkpoints_text } from './breakdown.js';
import { breakdown_html, breakdown_markdown, causes_render } from './render_causes.js';

export interface ReportOptions {
  /** heading of report.md / report.html */
  title?: string;
  /** x axis of the time × address views; 'time' falls back to 'index' for runs without times */
  axis?: TimelineAxis;
}

/** Filesystems in this order first, then the others by name. */
const FS_ORDER = ['cowlog', 'ext4', 'btrfs', 'f2fs'];

export class ReportError extends Error {
  constructor(message: string) {
    super(`cowlog report: ${message}`);
    this.name = 'ReportError';
  }
}

function result_read(path: string): RunResult {
  let r: unknown;
  try {
    r = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ReportError(`${path}: not JSON (${(e as Error).message})`);
  }
  const o = r as Record<string, unknown>;
  const need: [string, string][] = [['fs', 'string'], ['hostBytes', 'number'], ['askedBytes', 'number'], ['mkfsBytes', 'number'],
    ['deviceBytes', 'number'], ['enospc', 'number'], ['runMs', 'number'], ['ops', 'number'], ['opsOk', 'number']];
  for (const [k, t] of need) {
    if (typeof o?.[k] !== t) throw new ReportError(`${path}: field ${k} is missing or not a ${t}`);
  }
  const v = o.verify as Record<string, unknown> | undefined;
  if (!v || typeof v.ok !== 'boolean' || typeof v.filesChecked !== 'number' || !Array.isArray(v.bad)) {
    throw new ReportError(`${path}: field verify must be { ok, filesChecked, bad[] }`);
  }
  return r as RunResult;
}

/** Safe for a file name: the folder name is used, but never with a path separator in it. */
const file_stem = (name: string): string => name.replace(/[^A-Za-z0-9._-]/g, '_');

interface Measured {
  row: ReportRow;
  /** the record without its timeline (counts, bytes, meta), kept for the heatmap */
  slim: WearRecord | undefined;
  bins: TimelineBins | undefined;
}

function measured_read(outDir: string, name: string, axis: TimelineAxis): Measured {
  const dir = join(outDir, name);
  const result = result_read(join(dir, 'result.json'));
  const row: ReportRow = { name: file_stem(name), result, waf: waf(result.hostBytes, result.askedBytes), blockSize: 4096, warnings: [] };
  if (!result.verify.ok) {
    const shown = result.verify.bad.slice(0, 5).join(', ');
    row.warnings.push(`verify failed for ${result.verify.bad.length} file(s): ${shown}${result.verify.bad.length > 5 ? ', …' : ''}`);
  }
  if (result.opsOk < result.ops) row.warnings.push(`${fmt_int(result.ops - result.opsOk)} of ${fmt_int(result.ops)} operations failed`);
  const otherErrors = Object.entries(result.errors ?? {}).flatMap(([op, errs]) =>
    Object.entries(errs).filter(([e]) => e !== 'ENOSPC').map(([e, n]) => `${op}: ${e} × ${n}`));
  if (otherErrors.length) row.warnings.push(`errors other than ENOSPC: ${otherErrors.join(', ')}`);

  const wearPath = join(dir, 'wear.bin');
  if (!existsSync(wearPath)) {
    row.warnings.push('no wear.bin: no heatmap, timeline or wear figures for this run');
    return { row, slim: undefined, bins: undefined };
  }
  const rec = wear_decode(readFileSync(wearPath), wearPath);
  row.blockSize = rec.blockSize;
  row.stats = wear_stats(rec.counts);
  if (rec.bytes !== BigInt(result.hostBytes)) {
    row.warnings.push(`wear.bin holds ${fmt_int(Number(rec.bytes))} host bytes, result.json says ${fmt_int(result.hostBytes)}; the table uses result.json`);
  }
  const recDevice = rec.counts.length * rec.blockSize;
  if (recDevice !== result.deviceBytes) {
    row.warnings.push(`wear.bin covers ${fmt_bytes(recDevice)}, result.json says the device is ${fmt_bytes(result.deviceBytes)}`);
  }
  if (rec.meta.fs !== result.fs) row.warnings.push(`wear.bin was recorded for "${rec.meta.fs}", result.json for "${result.fs}"`);
  if (rec.truncated) row.warnings.push('the tracer truncated the timeline: the time × address view shows only the requests it kept');
  const br = breakdown_of(rec, result.layout);
  if (br) row.breakdown = br;
  const cps = checkpoints_of(rec);
  if (cps.length) row.checkpoints = cps;
  // cowlog's own tracker names the file and the process of each request
  if (!rec.truncated && rec.meta.source === 'cowlog-tracker' && rec.ino !== undefined && rec.ino.some((x) => x !== 0)) {
    row.names = { files: wear_by(rec, 'file', NAMES_HOT), processes: wear_by(rec, 'process', NAMES_HOT) };
  }
  const bins = timeline_bins(rec, axis);
  const slim: WearRecord = {
    ...rec,
    timeNs: new BigUint64Array(0), offset: new BigUint64Array(0), length: new Uint32Array(0), flags: new Uint32Array(0),
  };
  return { row, slim, bins };
}

function order_key(name: string): [number, string] {
  const i = FS_ORDER.indexOf(name);
  return [i < 0 ? FS_ORDER.length : i, name];
}

/** Renders the report of every run under outDir; returns the table for the terminal. */
export async function report_render(outDir: string, opts: ReportOptions = {}): Promise<string> {
  if (!existsSync(outDir) || !statSync(outDir).isDirectory()) throw new ReportError(`${outDir} is not a directory`);
  const names = readdirSync(outDir)
    .filter((n) => existsSync(join(outDir, n, 'result.json')))
    .sort((a, b) => {
      const [ia, na] = order_key(a), [ib, nb] = order_key(b);
      return ia - ib || (na < nb ? -1 : na > nb ? 1 : 0);
    });
  if (names.length === 0) throw new ReportError(`no ${join(outDir, '<fs>', 'result.json')} found`);

  const axis = opts.axis ?? 'time';
  const runs = names.map((n) => measured_read(outDir, n, axis));
  const heatMax = Math.max(0, ...runs.map((m) => m.row.stats?.hottestCount ?? 0));
  const timeMax = Math.max(0, ...runs.map((m) => m.bins?.max ?? 0));

  for (const m of runs) {
    if (!m.slim || !m.bins) continue;
    const what = m.row.result.hottestWhat;
    await heatmap_render(m.slim, join(outDir, `${m.row.name}-heatmap.png`), {
      scaleMax: heatMax, title: `${m.row.result.fs}: block writes`, ...(what ? { hottestWhat: what } : {}),
    });
    await timeline_render(m.slim, join(outDir, `${m.row.name}-timeline.png`), {
      scaleMax: timeMax, bins: m.bins, title: `${m.row.result.fs}: where writes land over the run`,
    });
    m.bins = undefined; // let the pixels go before the next run's
  }

  const rows = runs.map((m) => m.row);
  const compareRows: CompareRow[] = rows.map((r) => ({
    fs: r.result.fs, hostBytes: r.result.hostBytes, waf: r.waf,
    ...(r.stats ? { hottestCount: r.stats.hottestCount, spread: r.stats.spread } : {}),
  }));
  const subtitle = report_subtitle(rows);
  await compare_render(compareRows, join(outDir, 'compare.png'), subtitle);
  const withParts = rows.filter((r) => r.breakdown);
  if (withParts.length) {
    causes_render(withParts.map((r) => ({ fs: row_fs(r), breakdown: r.breakdown!, askedBytes: r.result.askedBytes })), join(outDir, 'causes.png'));
  }

  const title = opts.title ?? 'cowlog compare: where the writes land';
  writeFileSync(join(outDir, 'report.md'), report_markdown(title, subtitle, rows));
  writeFileSync(join(outDir, 'report.html'), report_html(outDir, title, subtitle, rows));
  return table_text(rows);
}

/** "workload …, 64 MiB device": what the runs share (or each one's, when they differ). */
function report_subtitle(rows: readonly ReportRow[]): string {
  const uniq = <T>(xs: T[]): T[] => [...new Set(xs)];
  const workloads = uniq(rows.map((r) => r.result.workload));
  const devices = uniq(rows.map((r) => fmt_bytes(r.result.deviceBytes)));
  const w = workloads.length === 1 ? `workload ${workloads[0]}` : `workloads differ: ${workloads.join('; ')}`;
  const d = devices.length === 1 ? `${devices[0]} device` : `devices differ: ${devices.join(', ')}`;
  return `${w} · ${d}`;
}

const PARTS_NOTE = 'cowlog\'s host bytes are split by cause: the engine tags every write with why it made it (file data, fsync redo, ' +
  'B+tree nodes, each table, checkpoints, cleaner moves...). The kernel filesystems say no such thing; their bytes are split by ' +
  'location: the region of their layout (journal, superblocks, metadata areas, the rest) each write request hit, read from the ' +
  'device after the run. That tells where, not why: "the rest" holds file data, directories and extent or tree blocks alike.';

const DEFINITIONS = [
  ['host MiB', 'bytes of write requests that reached the device during the workload, final sync and unmount included, mkfs excluded (mkfs MiB, apart)'],
  ['WAF', 'host bytes ÷ bytes the workload asked to write'],
  ['hottest block', 'the largest per-block write count, the block\'s number and address, and what it holds where the runner knows'],
  ['spread', 'hottest ÷ mean write count of the blocks written; CV is their coefficient of variation (standard deviation ÷ mean)'],
  ['never written', 'blocks of the device that no write request touched'],
  ['ENOSPC', 'operations that failed for lack of space'],
  ['verify', 'every file read back and compared with what the workload wrote'],
  ['largest shares', 'the three largest parts of the host bytes: cowlog\'s by cause (tagged by the engine), the others\' by location (the region of their layout each request hit, not why it was written)'],
] as const;

/** The name a report gives a run: its filesystem, and its variant when it has one. */
function row_fs(r: ReportRow): string {
  return r.result.variant ? `${r.result.fs}:${r.result.variant}` : r.result.fs;
}

function run_facts(r: ReportRow): string[] {
  const x = r.result;
  const facts = [
    `mkfs: \`${x.mkfs}\` (wrote ${fmt_bytes(x.mkfsBytes)}, not counted)`,
    `mount options: \`${x.mountOptions}\``,
    `traced by ${x.tracer}; ${fmt_int(x.opsOk)} of ${fmt_int(x.ops)} operations applied; asked to write ${fmt_bytes(x.askedBytes)}`,
  ];
  if (x.notes) facts.push(`notes: ${x.notes}`);
  if (r.checkpoints) facts.push(`checkpoints by trigger: ${checkpoints_text(r.checkpoints)}`);
  return facts;
}

/** How many files, processes and hottest blocks the report names. */
const NAMES_HOT = 8;

/** Whom cowlog's host bytes were written for, and who wrote its hottest blocks (markdown lines). */
function names_markdown(n: NonNullable<ReportRow['names']>, host: number): string[] {
  const pct = (b: number): string => `${host ? ((100 * b) / host).toFixed(1) : '0'} %`;
  const out = ['Whom the host bytes were written for (a file\'s data and its fsync\'s redo go to its last writer; checkpoints and the cleaner to no file):', '',
    '| file | bytes | share | | process | bytes | share |', '|:--|--:|--:|--|:--|--:|--:|'];
  for (let i = 0; i < NAMES_HOT; i++) {
    const f = n.files.rows[i], p = n.processes.rows[i];
    if (!f && !p) break;
    out.push(`| ${f ? `\`${f.name}\`` : ''} | ${f ? fmt_bytes(f.bytes) : ''} | ${f ? pct(f.bytes) : ''} | | ${p ? p.name : ''} | ${p ? fmt_bytes(p.bytes) : ''} | ${p ? pct(p.bytes) : ''} |`);
  }
  out.push('', 'The most-written blocks, and whom they were written for:', '', '| block | writes | files | processes |', '|--:|--:|:--|:--|');
  n.files.hottest.forEach((h, i) => {
    const p = n.processes.hottest[i]!;
    out.push(`| ${h.block} | ${h.writes} | ${h.by.slice(0, 3).map((x) => `${x.name} ${x.writes}`).join(', ')} | ${p.by.slice(0, 3).map((x) => `${x.name} ${x.writes}`).join(', ')} |`);
  });
  out.push('');
  return out;
}

export function report_markdown(title: string, subtitle: string, rows: readonly ReportRow[]): string {
  const out: string[] = [`# ${title}`, '', subtitle, '', table_markdown(rows)];
  for (const [k, v] of DEFINITIONS) out.push(`- **${k}**: ${v}`);
  out.push('', '![comparison chart](compare.png)', '');
  if (rows.some((r) => r.breakdown)) {
    out.push('## Where the host bytes went', '', PARTS_NOTE, '', '![where the host bytes went](causes.png)', '');
  }
  for (const r of rows) {
    out.push(`## ${row_fs(r)}`, '');
    for (const f of run_facts(r)) out.push(`- ${f}`);
    for (const w of r.warnings) out.push(`- **warning**: ${w}`);
    out.push('');
    if (r.breakdown) out.push(`${r.breakdown.basis === 'cause' ? 'Host bytes by cause' : 'Host bytes by location (the region each request hit; not by cause)'}:`, '', breakdown_markdown(r.breakdown));
    if (r.names) out.push(...names_markdown(r.names, r.result.hostBytes));
    if (r.stats) {
      out.push(`![${r.result.fs} block writes](${r.name}-heatmap.png)`, '');
      out.push(`![${r.result.fs} time × address](${r.name}-timeline.png)`, '');
    }
  }
  out.push('All heatmaps share one logarithmic colour scale, and all time × address views another, so the same colour means the same count in every picture.', '');
  return out.join('\n');
}

const CSS = `
body { font-family: "DejaVu Sans", Verdana, sans-serif; margin: 24px 32px; color: #1b1b1b; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 32px 0 8px; border-bottom: 2px solid #e3e3e3; padding-bottom: 4px; }
p.sub { color: #555; margin: 0 0 18px; }
table.summary { border-collapse: collapse; font-size: 13.5px; margin: 8px 0 12px; }
table.summary th { background: #27364a; color: #fff; text-align: left; padding: 6px 10px; font-weight: 600; }
table.summary td { padding: 5px 10px; border-bottom: 1px solid #e2e2e2; }
table.summary tbody tr:nth-child(even) td { background: #f5f7fa; }
table.summary .num { text-align: right; font-variant-numeric: tabular-nums; }
table.summary td.bad { color: #b00020; font-weight: bold; }
dl.defs { font-size: 13px; color: #333; display: grid; grid-template-columns: max-content auto; gap: 2px 12px; }
dl.defs dt { font-weight: bold; } dl.defs dd { margin: 0; }
ul.facts { font-size: 13.5px; color: #333; } ul.facts code { background: #f1f1f1; padding: 0 3px; }
li.warn { color: #b00020; }
.pics { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.pics img, img.compare { max-width: 100%; border: 1px solid #ddd; }
`;

export function report_html(outDir: string, title: string, subtitle: string, rows: readonly ReportRow[]): string {
  const img = (file: string, alt: string, cls = ''): string => {
    const data = readFileSync(join(outDir, file)).toString('base64');
    return `<img${cls ? ` class="${cls}"` : ''} alt="${xml_escape(alt)}" src="data:image/png;base64,${data}">`;
  };
  const code = (s: string): string => xml_escape(s).replace(/`([^`]*)`/g, '<code>$1</code>');
  const out: string[] = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${xml_escape(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head><body>',
    `<h1>${xml_escape(title)}</h1>`,
    `<p class="sub">${xml_escape(subtitle)}</p>`,
    table_html(rows),
    '<dl class="defs">',
    ...DEFINITIONS.map(([k, v]) => `<dt>${xml_escape(k)}</dt><dd>${xml_escape(v)}</dd>`),
    '</dl>',
    img('compare.png', 'comparison chart', 'compare'),
  ];
  if (rows.some((r) => r.breakdown)) {
    out.push('<h2 id="parts">Where the host bytes went</h2>', `<p class="sub">${xml_escape(PARTS_NOTE)}</p>`, img('causes.png', 'where the host bytes went', 'compare'));
  }
  for (const r of rows) {
    out.push(`<h2 id="fs-${xml_escape(r.name)}">${xml_escape(row_fs(r))}</h2>`, '<ul class="facts">');
    for (const f of run_facts(r)) out.push(`<li>${code(f)}</li>`);
    for (const w of r.warnings) out.push(`<li class="warn">warning: ${xml_escape(w)}</li>`);
    out.push('</ul>');
    if (r.breakdown) {
      out.push(`<p class="sub">${r.breakdown.basis === 'cause' ? 'Host bytes by cause' : 'Host bytes by location (the region each request hit; not by cause)'}:</p>`, breakdown_html(r.breakdown));
    }
    if (r.stats) {
      out.push('<div class="pics">', img(`${r.name}-heatmap.png`, `${r.result.fs} block writes`),
        img(`${r.name}-timeline.png`, `${r.result.fs} time × address`), '</div>');
    }
  }
  out.push('<p class="sub">All heatmaps share one logarithmic colour scale, and all time × address views another, so the same colour means the same count in every picture.</p>');
  out.push('</body></html>', '');
  return out.join('\n');
}
