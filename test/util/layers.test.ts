// The layer table of docs/DESIGN.md, checked against the imports of every file in src/: a layer
// imports only layers above it (or in its own row), no two layers import each other, and
// nothing in src/ reaches into tools/ (the benchmarks and scripts).

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SRC = path.join(ROOT, 'src');

/** Layer directory → its row in the table (0 = top). */
function layer_rows(): Map<string, number> {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'DESIGN.md'), 'utf8');
  const start = doc.indexOf('## The layers');
  const rows = new Map<string, number>();
  let row = 0;
  for (const line of doc.slice(start).split('\n').slice(1)) {
    if (line.startsWith('## ')) break;
    const m = /^\| ((?:`[a-z]+\/`(?:, )?)+) \|/.exec(line);
    if (!m) continue;
    for (const d of m[1]!.matchAll(/`([a-z]+)\/`/g)) rows.set(d[1]!, row);
    row++;
  }
  return rows;
}

function ts_files(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...ts_files(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Every relative import (static or dynamic with a literal) of a file, resolved. */
function imports_of(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)) out.push(path.resolve(path.dirname(file), m[1]!));
  return out;
}

t.test('every directory of src/ is a layer of the table, and imports only layers above it', async (t) => {
  const rows = layer_rows();
  t.ok(rows.size >= 15, `${rows.size} layers in docs/DESIGN.md`);
  const dirs = fs.readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  for (const d of dirs) t.ok(rows.has(d), `src/${d}/ is in the layer table`);
  const edges = new Map<string, Set<string>>();
  const bad: string[] = [];
  for (const f of ts_files(SRC)) {
    const from = path.relative(SRC, f).split(path.sep)[0]!;
    for (const target of imports_of(f)) {
      const rel = path.relative(SRC, target);
      if (rel.startsWith('..')) { bad.push(`${path.relative(ROOT, f)} imports ${path.relative(ROOT, target)}, outside src/`); continue; }
      const to = rel.split(path.sep)[0]!;
      if (to === from) continue;
      if (!edges.has(from)) edges.set(from, new Set());
      edges.get(from)!.add(to);
      if ((rows.get(to) ?? Infinity) > (rows.get(from) ?? -1)) bad.push(`${path.relative(ROOT, f)} (${from}/) imports ${to}/, a layer below it`);
    }
  }
  t.same(bad, [], 'no import goes down the table or out of src/');
  const cycles: string[] = [];
  for (const [a, tos] of edges) for (const b of tos) if (edges.get(b)?.has(a) && a < b) cycles.push(`${a}/ <-> ${b}/`);
  t.same(cycles, [], 'no two layers import each other');
});

t.test('the cowlog command imports nothing from tools/', async (t) => {
  const cli = ts_files(path.join(SRC, 'cli'));
  t.ok(cli.length > 10, `${cli.length} files in src/cli/`);
  for (const f of cli) {
    const text = fs.readFileSync(f, 'utf8');
    t.notMatch(text, /['"](?:\.\.\/)+tools\//, `${path.relative(ROOT, f)} names no tools/ path`);
  }
});
