import t from 'tap';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { breakdown_of, checkpoints_of, parts_top } from '../../src/compare/breakdown.js';
import type { Breakdown } from '../../src/compare/breakdown.js';
import { causes_render, causes_svg, part_colour } from '../../src/compare/render_causes.js';
import { report_render } from '../../src/compare/report.js';
import { synth_cowlog, synth_ext4, synth_result, synth_workload } from '../../src/compare/render_synth.js';
import { wear_encode } from '../../src/wear/wearfile.js';
import type { WearRecord } from '../../src/wear/wearfile.js';
import type { Layout } from '../../src/compare/regions.js';
import { png_read, tmp_dir } from './png.js';

const MiB = 1048576;
const rgb = (hex: string): [number, number, number] => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];

/** cowlog's synthetic record, its requests given causes and the totals to match. */
function cowlog_tagged(rec: WearRecord): WearRecord {
  const names = ['data', 'redo-patch', 'node', 'checkpoint'];
  const codes = [1, 3, 4, 12];
  const cause = new Uint8Array(rec.length.length);
  const causes: Record<string, { requests: number; blocks: number; bytes: number }> = {};
  for (let i = 0; i < cause.length; i++) {
    const k = i % 10 < 5 ? 0 : i % 10 < 8 ? 1 : i % 10 < 9 ? 2 : 3;
    cause[i] = codes[k]!;
    const c = (causes[names[k]!] ??= { requests: 0, blocks: 0, bytes: 0 });
    const off = Number(rec.offset[i]!), len = rec.length[i]!;
    c.requests++; c.bytes += len; c.blocks += Math.floor((off + len - 1) / 4096) - Math.floor(off / 4096) + 1;
  }
  return { ...rec, cause, meta: { ...rec.meta, causes, checkpoints: { fsync: 30, timer: 4, unmount: 1 } } };
}

const ops = synth_workload(1500, 3);
const cow = cowlog_tagged(synth_cowlog(ops));
const ext = synth_ext4(ops);
const extLayout: Layout = {
  source: 'a test layout', rest: 'ext4 data (the rest)',
  regions: [
    { name: 'ext4 superblocks and group descriptors', kind: 'superblock', from: 0, to: 8192 },
    { name: 'ext4 inode tables', kind: 'metadata', from: 8192, to: 1 * MiB },
    { name: 'ext4 journal (jbd2 log)', kind: 'journal', from: 32 * MiB, to: 36 * MiB },
  ],
};

t.test('breakdowns: cowlog by cause from the wear file, ext4 by location from its layout', async (t) => {
  const bc = breakdown_of(cow, undefined)!;
  t.equal(bc.basis, 'cause');
  t.same(bc.parts.map((p) => p.name), ['data', 'redo-patch', 'node', 'checkpoint'], 'largest first');
  t.equal(bc.parts.reduce((s, p) => s + p.bytes, 0), Number(cow.bytes), 'the causes sum to the host bytes');
  t.match(parts_top(bc), /^data \d+ %, redo-patch \d+(\.\d)? %, node \d+(\.\d)? %$/, 'the three largest');
  t.same(checkpoints_of(cow), [['fsync', 30], ['timer', 4], ['unmount', 1]]);
  const be = breakdown_of(ext, extLayout)!;
  t.equal(be.basis, 'location');
  t.match(be.source, /^the region each request hit, from a test layout$/);
  t.equal(be.parts.reduce((s, p) => s + p.bytes, 0), Number(ext.bytes), 'the regions sum to the host bytes');
  t.match(parts_top(be), /^at: /, 'the table says the shares are places');
  t.equal(breakdown_of(ext, undefined), undefined, 'no causes and no layout: no breakdown, nothing guessed');
});

t.test('the stacked bars: one per filesystem, segments in proportion, each in its colour', async (t) => {
  const rows = [
    { fs: 'cowlog', breakdown: breakdown_of(cow, undefined)!, askedBytes: ops.reduce((s, o) => s + o.bytes, 0) },
    { fs: 'ext4', breakdown: breakdown_of(ext, extLayout)!, askedBytes: ops.reduce((s, o) => s + o.bytes, 0) },
  ];
  const { svg, layout } = causes_svg(rows);
  t.match(svg, /by location, not by cause/, 'the picture says the kernel bars are by location');
  const longest = Math.max(...rows.map((r) => r.breakdown.bytes));
  for (const [i, bar] of layout.bars.entries()) {
    const b: Breakdown = rows[i]!.breakdown;
    t.equal(bar.w, Math.round((b.bytes / longest) * layout.barW), `${bar.fs}: length in proportion to its host bytes`);
    t.equal(bar.segments.reduce((s, g) => s + g.w, 0), bar.w, `${bar.fs}: the segments fill the bar exactly`);
    t.equal(bar.segments[0]!.x, layout.barX);
    for (const g of bar.segments) {
      t.ok(Math.abs(g.w - (g.part.bytes / b.bytes) * bar.w) <= 1, `${bar.fs} ${g.part.name}: ${g.w} px for ${(100 * g.part.bytes / b.bytes).toFixed(1)} %`);
    }
  }
  t.not(part_colour({ name: 'data', short: 'data', requests: 0, blocks: 0, bytes: 0 }), part_colour({ name: 'redo', short: 'redo', requests: 0, blocks: 0, bytes: 0 }), 'causes differ in colour');
  const png = join(tmp_dir('causes'), 'causes.png');
  const lay = causes_render(rows, png);
  const img = png_read(png);
  t.equal(img.width, lay.width);
  for (const bar of lay.bars) {
    for (const g of bar.segments.filter((s) => s.w >= 4)) {
      t.same(img.at(g.x + Math.floor(g.w / 2), bar.y + Math.floor(bar.h / 2)), rgb(g.colour), `${bar.fs} ${g.part.name} drawn in its colour`);
    }
  }
});

t.test('the report: the chart, a table per filesystem, checkpoints by trigger, the largest shares in the printed table', async (t) => {
  const out = tmp_dir('report-causes');
  for (const [rec, extra] of [[cow, {}], [ext, { layout: extLayout }]] as const) {
    const d = join(out, rec.meta.fs);
    mkdirSync(d);
    writeFileSync(join(d, 'wear.bin'), wear_encode(rec));
    writeFileSync(join(d, 'result.json'), JSON.stringify(synth_result(rec, ops, extra)));
  }
  const table = await report_render(out);
  t.ok(existsSync(join(out, 'causes.png')), 'causes.png written');
  const lines = table.trimEnd().split('\n');
  t.match(lines[0]!, /largest shares/);
  t.match(lines.find((l) => l.startsWith('cowlog'))!, /data \d+ %, redo-patch \d+(\.\d)? %, node/);
  t.match(lines.find((l) => l.startsWith('ext4'))!, /at: .*journal/);
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  t.match(md, /## Where the host bytes went/);
  t.match(md, /!\[where the host bytes went\]\(causes\.png\)/);
  t.match(md, /\| cause \| bytes \| share \| requests \| block writes \|\n\|:---\|---:\|---:\|---:\|---:\|\n\| data \|/);
  t.match(md, /\| region \(by location\) \| bytes/);
  t.match(md, /checkpoints by trigger: 35: fsync 30, timer 4, unmount 1/);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  t.match(html, /Where the host bytes went/);
  t.match(html, /region \(by location\)/);
  t.notMatch(html, /src="(?!data:)/, 'every image is inlined');
});
