// The comparison table, in three forms: aligned text for the terminal, Markdown and HTML.
// One function (row_cells) turns a measured row into cell texts, so the three can not disagree.
//
// Invariants:
// - every figure comes from the RunResult (host bytes, asked bytes, ENOSPC, verify, run time)
//   or from wear_stats over the wear file's counts (hottest, spread, CV, never written), with the
//   definitions of docs/REPORT.md; nothing is recomputed here;
// - a run without a wear file shows "–" for the wear figures, never a made-up zero.

import type { WearByReport } from '../wear/names.js';
import type { WearStats } from '../wear/stats.js';
import type { Breakdown } from './breakdown.js';
import { parts_top } from './breakdown.js';
import type { RunResult } from './result.js';
import { fmt_addr, fmt_int, xml_escape } from './render_svg.js';

export interface ReportRow {
  /** the OUT/<name>/ folder, also the prefix of the row's PNGs */
  name: string;
  result: RunResult;
  waf: number;
  blockSize: number;
  /** undefined when the run left no wear file */
  stats?: WearStats;
  /** where the host bytes went: by cause (cowlog) or by location (kernel filesystems) */
  breakdown?: Breakdown;
  /** checkpoints by trigger, most first (cowlog) */
  checkpoints?: Array<[string, number]>;
  /** whom the host bytes were written for, and who wrote the hottest blocks (cowlog's own wear file) */
  names?: { files: WearByReport; processes: WearByReport };
  warnings: string[];
}

export interface Column {
  key: string;
  head: string;
  /** right-aligned in the terminal */
  numeric: boolean;
  /** shown only in report.md and report.html */
  reportOnly?: boolean;
}

export const COLUMNS: readonly Column[] = [
  { key: 'fs', head: 'fs', numeric: false },
  { key: 'host', head: 'host MiB', numeric: true },
  { key: 'waf', head: 'WAF', numeric: true },
  { key: 'hottest', head: 'hottest block', numeric: false },
  { key: 'spread', head: 'spread', numeric: true },
  { key: 'cv', head: 'CV', numeric: true },
  { key: 'never', head: 'never written', numeric: true },
  { key: 'enospc', head: 'ENOSPC', numeric: true },
  { key: 'verify', head: 'verify', numeric: false },
  { key: 'time', head: 'run time', numeric: true },
  { key: 'top', head: 'largest shares (cowlog: causes; others: regions hit)', numeric: false },
  { key: 'mkfs', head: 'mkfs MiB', numeric: true, reportOnly: true },
];

const DASH = '–';

export function fmt_waf(w: number): string {
  if (!Number.isFinite(w) || w <= 0) return DASH;
  return w >= 100 ? fmt_int(w) : w.toFixed(w >= 10 ? 1 : 2);
}

export function fmt_ms(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

const mib = (n: number): string => {
  const v = n / 1048576;
  return v >= 100 ? fmt_int(v) : v.toFixed(1);
};

/** The hottest block: "7,500 × block 8,192 (32 MiB): ext4 journal superblock". */
export function fmt_hottest(row: ReportRow): string {
  const st = row.stats;
  if (!st) return DASH;
  if (st.hottestCount === 0) return '0 (nothing written)';
  const what = row.result.hottestWhat ? `: ${row.result.hottestWhat}` : '';
  return `${fmt_int(st.hottestCount)} × block ${fmt_int(st.hottestBlock)} (${fmt_addr(st.hottestBlock * row.blockSize)})${what}`;
}

export function row_cells(row: ReportRow): Record<string, string> {
  const r = row.result, st = row.stats;
  const never = st ? `${fmt_int(st.blocksNeverWritten)} (${((100 * st.blocksNeverWritten) / Math.max(1, st.blocks)).toFixed(1)}%)` : DASH;
  const verify = r.verify.ok ? `ok (${fmt_int(r.verify.filesChecked)} files)` : `FAILED (${fmt_int(r.verify.bad.length)} of ${fmt_int(r.verify.filesChecked)})`;
  return {
    fs: r.variant ? `${r.fs}:${r.variant}` : r.fs,
    host: mib(r.hostBytes),
    waf: fmt_waf(row.waf),
    hottest: fmt_hottest(row),
    spread: st && st.blocksWritten ? st.spread.toFixed(1) : DASH,
    cv: st && st.blocksWritten ? st.cv.toFixed(2) : DASH,
    never,
    enospc: fmt_int(r.enospc),
    verify,
    time: fmt_ms(r.runMs),
    mkfs: mib(r.mkfsBytes),
    top: row.breakdown ? parts_top(row.breakdown) : DASH,
  };
}

/** The terminal table: aligned columns, numbers to the right. */
export function table_text(rows: readonly ReportRow[]): string {
  const cols = COLUMNS.filter((c) => !c.reportOnly);
  const cells = rows.map(row_cells);
  const widths = cols.map((c) => Math.max(c.head.length, ...cells.map((r) => [...r[c.key]!].length)));
  const pad = (s: string, w: number, right: boolean): string => {
    const fill = ' '.repeat(Math.max(0, w - [...s].length));
    return right ? fill + s : s + fill;
  };
  const line = (vals: string[]): string => vals.map((v, i) => pad(v, widths[i]!, cols[i]!.numeric)).join('  ').trimEnd();
  const out = [line(cols.map((c) => c.head)), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of cells) out.push(line(cols.map((c) => r[c.key]!)));
  return out.join('\n') + '\n';
}

const md_cell = (s: string): string => s.replace(/\|/g, '\\|');

export function table_markdown(rows: readonly ReportRow[]): string {
  const head = `| ${COLUMNS.map((c) => c.head).join(' | ')} |`;
  const rule = `|${COLUMNS.map((c) => (c.numeric ? '---:' : ':---')).join('|')}|`;
  const body = rows.map((r) => {
    const cells = row_cells(r);
    return `| ${COLUMNS.map((c) => md_cell(cells[c.key]!)).join(' | ')} |`;
  });
  return [head, rule, ...body].join('\n') + '\n';
}

export function table_html(rows: readonly ReportRow[]): string {
  const head = COLUMNS.map((c) => `<th class="${c.numeric ? 'num' : ''}">${xml_escape(c.head)}</th>`).join('');
  const body = rows.map((r) => {
    const cells = row_cells(r);
    const tds = COLUMNS.map((c) => {
      const bad = (c.key === 'verify' && !r.result.verify.ok) || (c.key === 'enospc' && r.result.enospc > 0);
      return `<td class="${c.numeric ? 'num' : ''}${bad ? ' bad' : ''}">${xml_escape(cells[c.key]!)}</td>`;
    }).join('');
    return `<tr>${tds}</tr>`;
  }).join('\n');
  return `<table class="summary">\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>\n`;
}
