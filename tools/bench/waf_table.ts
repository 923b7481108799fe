// The write-amplification sweep's figures and table (make bench-waf, tools/bench/waf.ts): one row
// per workload case, one column group per filesystem, and the ratio cowlog ÷ ext4. Pure: it
// formats what the runs measured, nothing is recomputed but medians and ranges.
//
// Invariants:
// - WAF is host bytes ÷ asked bytes of each run (shared/DESIGN.md), the ratio is taken per seed
//   and then summarised, so a ratio's range is that of the ratios, not a ratio of ranges;
// - over several seeds a cell is "median (min–max)"; over one seed, the value alone;
// - a run that failed shows FAILED, one whose files did not verify carries a "!" and a note
//   under the table: nothing is left out silently.

export interface WafRun {
  /** the sweep case, e.g. "mixed-sync30" */
  case: string;
  seed: number;
  /** "cowlog", "cowlog:lz4", "ext4", "btrfs" */
  label: string;
  ok: boolean;
  error?: string;
  askedBytes: number;
  hostBytes: number;
  waf: number;
  hottestCount: number;
  hottestBlock: number;
  hottestWhat?: string;
  verifyOk: boolean;
  enospc: number;
  /** cowlog: bytes by cause; others: bytes by region hit (by location) */
  parts: Record<string, number>;
  /** cowlog: checkpoints by trigger */
  checkpoints: Record<string, number>;
  runMs: number;
}

export interface Spread { median: number; min: number; max: number; n: number }

export function spread_of(xs: readonly number[]): Spread | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

function fmt(x: number, digits: number): string {
  return x >= 1000 ? Math.round(x).toLocaleString('en-US') : x.toFixed(digits);
}

/** "1.38" or "1.38 (1.31–1.45)" */
export function spread_text(s: Spread | undefined, digits = 2): string {
  if (!s) return '–';
  return s.n === 1 || s.min === s.max ? fmt(s.median, digits) : `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
}

/** "data 41 %, redo 30 %, node 12 %" from bytes by part (summed over the runs given). */
export function top_parts(runs: readonly WafRun[], n = 3): string {
  const sum: Record<string, number> = {};
  let total = 0;
  for (const r of runs) for (const [k, v] of Object.entries(r.parts)) { sum[k] = (sum[k] ?? 0) + v; total += v; }
  const top = Object.entries(sum).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, n);
  if (!top.length || total === 0) return '–';
  return top.map(([k, v]) => {
    const p = (100 * v) / total;
    return `${k} ${p >= 9.95 ? p.toFixed(0) : p.toFixed(1)} %`;
  }).join(', ');
}

/** "fsync 300, timer 12, unmount 1" (median per run by trigger, over the runs given). */
export function checkpoints_cell(runs: readonly WafRun[]): string {
  const triggers = new Set(runs.flatMap((r) => Object.keys(r.checkpoints)));
  const med = [...triggers].map((k) => [k, spread_of(runs.map((r) => r.checkpoints[k] ?? 0))!] as const)
    .sort((a, b) => b[1].median - a[1].median || (a[0] < b[0] ? -1 : 1));
  if (!med.length) return '–';
  const total = spread_of(runs.map((r) => Object.values(r.checkpoints).reduce((s, n) => s + n, 0)))!;
  return `${spread_text(total, 0)}: ${med.map(([k, s]) => `${k} ${spread_text(s, 0)}`).join(', ')}`;
}

/** A workload's write-amplification floor (waf_floor.ts), per case and seed. */
export interface FloorOf { case: string; seed: number; waf: number }

export interface TableSpec {
  cases: readonly string[];
  /** the floors of the workloads run; without them the table has no floor columns */
  floors?: readonly FloorOf[];
  /** column groups, in order: "cowlog", variants, "ext4", "btrfs" */
  labels: readonly string[];
}

/** The sweep's table as an aligned Markdown table, then its notes (failures, verify). */
export function waf_table(runs: readonly WafRun[], spec: TableSpec): string {
  const cowlogs = spec.labels.filter((l) => l === 'cowlog' || l.startsWith('cowlog:'));
  const hasExt4 = spec.labels.includes('ext4');
  const hasFloor = (spec.floors?.length ?? 0) > 0;
  const head = ['profile', 'asked MiB', ...(hasFloor ? ['floor WAF'] : []), ...spec.labels.map((l) => `${l} WAF`)];
  if (hasExt4) head.push(...cowlogs.map((c) => `${c} ÷ ext4`));
  if (hasFloor) head.push(...cowlogs.map((c) => `${c} ÷ floor`));
  head.push(...spec.labels.map((l) => `hottest ${l}`));
  if (cowlogs.includes('cowlog')) head.push("cowlog's largest causes", 'cowlog checkpoints by trigger');
  const rows: string[][] = [head];
  const notes: string[] = [];
  for (const c of spec.cases) {
    const of = (label: string): WafRun[] => runs.filter((r) => r.case === c && r.label === label);
    const good = (label: string): WafRun[] => of(label).filter((r) => r.ok);
    const mark = (label: string): string => {
      const bad = of(label).filter((r) => !r.ok);
      const unverified = good(label).filter((r) => !r.verifyOk || r.enospc > 0);
      for (const r of bad) notes.push(`${c} seed ${r.seed}, ${label}: FAILED: ${r.error ?? 'no result'}`);
      for (const r of unverified) notes.push(`${c} seed ${r.seed}, ${label}: ${!r.verifyOk ? 'files did not verify' : ''}${!r.verifyOk && r.enospc ? ', ' : ''}${r.enospc ? `${r.enospc} ENOSPC` : ''}`);
      return bad.length && !good(label).length ? 'FAILED' : unverified.length || bad.length ? '!' : '';
    };
    const asked = spread_of(runs.filter((r) => r.case === c && r.ok).map((r) => r.askedBytes / 1048576));
    const floorOf = (seed: number): number | undefined => spec.floors?.find((f) => f.case === c && f.seed === seed)?.waf;
    const row = [c, asked ? fmt(asked.median, 1) : '–'];
    if (hasFloor) row.push(spread_text(spread_of((spec.floors ?? []).filter((f) => f.case === c).map((f) => f.waf))));
    for (const l of spec.labels) {
      const m = mark(l);
      row.push(m === 'FAILED' ? m : spread_text(spread_of(good(l).map((r) => r.waf))) + m);
    }
    if (hasExt4) {
      for (const cl of cowlogs) {
        const ratios: number[] = [];
        for (const r of good(cl)) {
          const e = good('ext4').find((x) => x.seed === r.seed);
          if (e && e.waf > 0) ratios.push(r.waf / e.waf);
        }
        row.push(spread_text(spread_of(ratios)));
      }
    }
    if (hasFloor) {
      for (const cl of cowlogs) {
        const ratios = good(cl).flatMap((r) => { const f = floorOf(r.seed); return f ? [r.waf / f] : []; });
        row.push(spread_text(spread_of(ratios)));
      }
    }
    for (const l of spec.labels) row.push(spread_text(spread_of(good(l).map((r) => r.hottestCount)), 0));
    if (cowlogs.includes('cowlog')) row.push(top_parts(good('cowlog')), checkpoints_cell(good('cowlog')));
    rows.push(row);
  }
  const w = head.map((_h, i) => Math.max(...rows.map((r) => [...r[i]!].length)));
  const numeric = (i: number): boolean => i > 0 && i < head.length - (cowlogs.includes('cowlog') ? 2 : 0);
  const line = (r: string[]): string => `| ${r.map((x, i) => (numeric(i) ? x.padStart(w[i]!) : x.padEnd(w[i]!))).join(' | ')} |`;
  const rule = `|${w.map((n, i) => (numeric(i) ? `${'-'.repeat(n + 1)}:` : `:${'-'.repeat(n + 1)}`)).join('|')}|`;
  const out = [line(rows[0]!), rule, ...rows.slice(1).map(line)];
  if (notes.length) out.push('', ...notes.map((n) => `! ${n}`));
  return out.join('\n') + '\n';
}
