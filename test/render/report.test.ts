import t from 'tap';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { wear_encode, WearFileError } from '../../src/wear/wearfile.js';
import { wear_stats } from '../../src/wear/stats.js';
import { count_colour, scale_make } from '../../src/compare/render_scale.js';
import { heatmap_cell_rect, heatmap_svg } from '../../src/compare/render_heatmap.js';
import { ReportError, report_render } from '../../src/compare/report.js';
import { synth_btrfs, synth_cowlog, synth_ext4, synth_result, synth_workload } from '../../src/compare/render_synth.js';
import { png_read, tmp_dir } from './png.js';

const ops = synth_workload(2000, 7);
const runs = [synth_ext4(ops), synth_btrfs(ops), synth_cowlog(ops)];

function out_make(): string {
  const out = tmp_dir('report');
  for (const rec of runs) {
    const d = join(out, rec.meta.fs);
    mkdirSync(d);
    writeFileSync(join(d, 'wear.bin'), wear_encode(rec));
    const extra = rec.meta.fs === 'ext4' ? { hottestWhat: 'journal superblock' } : {};
    writeFileSync(join(d, 'result.json'), JSON.stringify(synth_result(rec, ops, extra)));
  }
  // a run that left only its result: ENOSPC, a failed verify, no wear file
  mkdirSync(join(out, 'f2fs'));
  writeFileSync(join(out, 'f2fs', 'result.json'), JSON.stringify(synth_result(runs[0]!, ops, {
    fs: 'f2fs', enospc: 12, errors: { write: { ENOSPC: 12, EIO: 1 } }, opsOk: 1987,
    verify: { ok: false, filesChecked: 300, bad: ['/f/12', '/f/13'] },
  })));
  mkdirSync(join(out, 'not-a-run')); // ignored: no result.json
  return out;
}

t.test('report_render writes the PNGs, report.md, report.html and returns the table', async (t) => {
  const out = out_make();
  const table = await report_render(out, { title: 'test report' });
  for (const f of ['ext4-heatmap.png', 'ext4-timeline.png', 'btrfs-heatmap.png', 'btrfs-timeline.png', 'cowlog-heatmap.png',
    'cowlog-timeline.png', 'compare.png', 'report.md', 'report.html']) {
    t.ok(existsSync(join(out, f)), `${f} written`);
  }
  t.notOk(existsSync(join(out, 'f2fs-heatmap.png')), 'no heatmap without a wear file');

  const lines = table.trimEnd().split('\n');
  t.match(lines[0]!, /^fs\s+host MiB\s+WAF\s+hottest block\s+spread\s+CV\s+never written\s+ENOSPC\s+verify\s+run time\s+largest shares/);
  t.same(lines.slice(2).map((l) => l.split(/\s+/)[0]), ['cowlog', 'ext4', 'btrfs', 'f2fs'], 'cowlog first, then ext4, btrfs, f2fs');
  const lastCol = lines[0]!.indexOf('largest shares');
  t.same(new Set(lines.map((l) => l.slice(0, lastCol).length)).size, 1, 'columns are aligned: every line has the same width up to the last column');
  t.ok(lines.slice(2).every((l) => l[lastCol - 1] === ' ' && l[lastCol] !== ' '), 'the last column starts at its heading');
  const hdr = lines[0]!;
  const wafEnd = hdr.indexOf('WAF') + 3;
  for (const l of lines.slice(2)) t.match(l.slice(wafEnd - 4, wafEnd), /\d$/, 'WAF values are right-aligned under their heading');

  // the figures are those of the definitions
  const ext4 = runs[0]!, st = wear_stats(ext4.counts);
  const asked = ops.reduce((s, o) => s + o.bytes, 0);
  const ext4Line = lines.find((l) => l.startsWith('ext4'))!;
  t.ok(ext4Line.includes((Number(ext4.bytes) / asked).toFixed(1)), 'WAF = host bytes ÷ asked bytes');
  t.ok(ext4Line.includes(`${st.hottestCount.toLocaleString('en-US')} × block ${st.hottestBlock.toLocaleString('en-US')}`), 'hottest count and block');
  t.match(ext4Line, /journal superblock/, 'what the hottest block holds');
  t.ok(ext4Line.includes(st.spread.toFixed(1)) && ext4Line.includes(st.cv.toFixed(2)), 'spread and CV');
  t.ok(ext4Line.includes(st.blocksNeverWritten.toLocaleString('en-US')), 'blocks never written');
  const f2fsLine = lines.find((l) => l.startsWith('f2fs'))!;
  t.match(f2fsLine, /–.*–.*–/, 'no wear figures without a wear file');
  t.match(f2fsLine, / 12 /, 'ENOSPC count');
  t.match(f2fsLine, /FAILED \(2 of 300\)/, 'verify failure');

  const md = readFileSync(join(out, 'report.md'), 'utf8');
  t.match(md, /^# test report/);
  t.match(md, /\| fs \| host MiB \| WAF \|/);
  t.match(md, /!\[ext4 block writes\]\(ext4-heatmap\.png\)/);
  t.match(md, /!\[comparison chart\]\(compare\.png\)/);
  t.match(md, /no wear\.bin/, 'the missing wear file is reported');
  t.match(md, /EIO × 1/, 'errors other than ENOSPC are reported');
  t.match(md, /verify failed for 2 file\(s\): \/f\/12, \/f\/13/);

  const html = readFileSync(join(out, 'report.html'), 'utf8');
  t.notMatch(html, /https?:\/\//, 'no external URL');
  t.notMatch(html, /src="(?!data:)/, 'every image is inlined');
  t.equal(html.match(/src="data:image\/png;base64,/g)?.length, 7, 'three heatmaps, three timelines and the chart');
  t.match(html, /<table class="summary">/);

  // one scale for every heatmap: the top is btrfs's superblock count, ext4's hottest is below it
  const top = Math.max(...runs.map((r) => wear_stats(r.counts).hottestCount));
  t.equal(top, wear_stats(runs[1]!.counts).hottestCount, 'btrfs has the hottest block of the report');
  const img = png_read(join(out, 'ext4-heatmap.png'));
  const layout = heatmap_svg(ext4, { scaleMax: top }).layout;
  const r = heatmap_cell_rect(layout, st.hottestBlock);
  t.same(img.at(r.x + 2, r.y + 2), count_colour(scale_make(top), st.hottestCount), 'ext4 hottest drawn on the shared scale');
  t.notSame(img.at(r.x + 2, r.y + 2), [252, 255, 164], 'so it is not the top colour');
});

t.test('report_render refuses what it can not read, naming the file', async (t) => {
  await t.rejects(report_render(tmp_dir('empty')), ReportError, 'no runs');
  await t.rejects(report_render('/nonexistent/cowlog'), /not a directory/);
  const bad = tmp_dir('bad');
  mkdirSync(join(bad, 'ext4'));
  writeFileSync(join(bad, 'ext4', 'result.json'), '{"fs": "ext4"');
  await t.rejects(report_render(bad), /ext4\/result\.json: not JSON/);
  writeFileSync(join(bad, 'ext4', 'result.json'), '{"fs": "ext4"}');
  await t.rejects(report_render(bad), /field hostBytes is missing/);
  const corrupt = out_make();
  const wb = join(corrupt, 'ext4', 'wear.bin');
  const bytes = readFileSync(wb);
  bytes[bytes.length - 10]! ^= 0xff;
  writeFileSync(wb, bytes);
  await t.rejects(report_render(corrupt), WearFileError, 'a corrupt wear file is an error');
});

t.test('disagreements between result.json and wear.bin are reported', async (t) => {
  const out = out_make();
  const p = join(out, 'cowlog', 'result.json');
  const r = JSON.parse(readFileSync(p, 'utf8')) as { hostBytes: number; deviceBytes: number };
  r.hostBytes += 4096;
  r.deviceBytes *= 2;
  writeFileSync(p, JSON.stringify(r));
  await report_render(out);
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  t.match(md, /wear\.bin holds [\d,]+ host bytes, result\.json says/);
  t.match(md, /wear\.bin covers 64 MiB, result\.json says the device is 128 MiB/);
});
