import t from 'tap';
import { join } from 'node:path';
import type { WearRecord } from '../../src/wear/wearfile.js';
import { TIMELINE_BACKGROUND, count_colour, scale_make } from '../../src/compare/render_scale.js';
import { TraceBuilder } from '../../src/compare/render_synth.js';
import { PLOT_HEIGHT, PLOT_WIDTH, timeline_bins, timeline_render, timeline_svg } from '../../src/compare/render_timeline.js';
import { png_read, tmp_dir } from './png.js';

const BLOCKS = 16384; // 64 MiB
const dir = tmp_dir('timeline');

/** A journal block hammered all run long, and a log head sweeping the device once. */
function journal_and_sweep(): WearRecord {
  const tb = new TraceBuilder(BLOCKS);
  for (let i = 0; i < 1024; i++) {
    tb.write(8192, 1, true, 500_000); // the "journal": block 8192 = 32 MiB = row 256
    tb.write(i * 16, 1, false, 500_000); // the sweep: 0 → 64 MiB over the run
  }
  return tb.record({ fs: 'pattern', source: 'test' });
}

t.test('binning: requests land in the pixel of their time and address', async (t) => {
  const rec = journal_and_sweep();
  const bins = timeline_bins(rec);
  t.equal(bins.width, PLOT_WIDTH);
  t.equal(bins.height, PLOT_HEIGHT);
  t.equal(bins.axis, 'time');
  t.equal(bins.requests, 2048);
  let total = 0, row256 = 0;
  for (let i = 0; i < bins.values.length; i++) total += bins.values[i]!;
  for (let x = 0; x < bins.width; x++) row256 += bins.values[256 * bins.width + x]!;
  t.equal(total, 2048, 'each one-block request fills exactly one pixel');
  t.ok(row256 >= 1024, 'every journal write is in row 256 (32 MiB of 64)');
  t.ok(row256 <= 1024 + 2, 'and little else (the sweep crosses it once)');
  let colBytes = 0;
  for (let x = 0; x < bins.width; x++) colBytes += bins.columnBytes[x]!;
  t.equal(colBytes, Number(rec.bytes), 'the rate bar adds up to the host bytes');
  // the sweep: request 2k+1 writes block 16k at time (2k+2)·0.5 ms
  const x_of = (i: number): number => Math.min(bins.width - 1, Math.floor((Number(rec.timeNs[i]!) * bins.width) / bins.span));
  for (const k of [0, 300, 700, 1023]) {
    const i = 2 * k + 1, y = Math.floor((k * 16 * 4096 * bins.height) / bins.deviceBytes);
    t.ok(bins.values[y * bins.width + x_of(i)]! >= 1, `sweep request ${k} is in its pixel`);
  }
});

t.test('the picture: a hammered row, a diagonal sweep, white elsewhere', async (t) => {
  const rec = journal_and_sweep();
  const png = join(dir, 'pattern.png');
  const layout = await timeline_render(rec, png, { scaleMax: 10 });
  const img = png_read(png);
  t.equal(img.width, layout.width, 'PNG width as laid out');
  t.equal(img.height, layout.height, 'PNG height as laid out');
  t.ok(img.width >= PLOT_WIDTH && img.height >= PLOT_HEIGHT);
  const { plotX, plotY, bins } = layout;
  const s = scale_make(10);
  let hammered = 0;
  const wrong: string[] = [];
  for (let x = 0; x < bins.width; x++) {
    const v = bins.values[256 * bins.width + x]!;
    const px = img.at(plotX + x, plotY + 256);
    const want = count_colour(s, v, TIMELINE_BACKGROUND);
    if (px.join() !== want.join()) wrong.push(`x=${x}: ${px} for count ${v}, want ${want}`);
    if (v) hammered++;
  }
  t.same(wrong, [], 'every pixel of the journal row has the colour of its count');
  t.ok(hammered > bins.width * 0.9, `the journal row is drawn across the run (${hammered} columns)`);
  // a region no request touched stays white: the top right corner is above the sweep
  t.same(img.at(plotX + bins.width - 5, plotY + 20), TIMELINE_BACKGROUND);
  t.same(img.at(plotX + 5, plotY + bins.height - 20), TIMELINE_BACKGROUND);
  // the legend runs from 1 to the shared max
  const g = layout.legend;
  t.same(g.ticks[0], 1);
  t.same(g.ticks[g.ticks.length - 1], 10);
  t.same(img.at(g.barX, g.barY + 5), count_colour(s, 1));
  t.same(img.at(g.barX + g.barWidth - 1, g.barY + 5), count_colour(s, 10));
  const { svg } = timeline_svg(rec, bins, { scaleMax: 10 });
  t.match(svg, /2,048 write requests/);
  t.match(svg, /binned into 880 × 512 pixels/, 'the picture says it is binned');
  t.match(svg, /time since the start of the workload/);
  t.match(svg, /write requests per pixel \(log scale/);
  t.match(svg, />hottest</, 'the hottest block is marked on the address axis');
});

t.test('without times the x axis is the request index, and says so', async (t) => {
  const rec = journal_and_sweep();
  rec.timeNs.fill(0n);
  const bins = timeline_bins(rec);
  t.equal(bins.axis, 'index');
  t.equal(bins.span, 2048);
  // request 2k+1 (the sweep) is at x = floor((2k+1)·880 / 2048)
  const k = 600, i = 2 * k + 1;
  const y = Math.floor((k * 16 * 4096 * bins.height) / bins.deviceBytes);
  t.ok(bins.values[y * bins.width + Math.floor((i * bins.width) / 2048)]! >= 1);
  const { svg } = timeline_svg(rec, bins);
  t.match(svg, /request index/);
  t.equal(timeline_bins(journal_and_sweep(), 'index').axis, 'index', 'the index axis can be asked for');
});

t.test('a truncated timeline is called out in the picture', async (t) => {
  const rec = journal_and_sweep();
  rec.truncated = true;
  t.match(timeline_svg(rec, timeline_bins(rec)).svg, /truncated/);
});

t.test('a long run is binned in one pass: a million requests, exact totals', async (t) => {
  const n = 1_000_000;
  const tb = new TraceBuilder(BLOCKS, n);
  for (let i = 0; i < n; i++) tb.write((i * 7919) % BLOCKS, 1, false, 1000);
  const rec = tb.record({ fs: 'long', source: 'test' });
  const bins = timeline_bins(rec);
  let total = 0;
  for (let i = 0; i < bins.values.length; i++) total += bins.values[i]!;
  t.equal(total, n, 'every request is counted once');
  t.equal(bins.requests, n);
  const png = join(dir, 'long.png');
  const layout = await timeline_render(rec, png, { bins });
  t.equal(png_read(png).width, layout.width);
  // requests spanning several address bands count in each band they touch
  const wide = new TraceBuilder(BLOCKS);
  wide.write(0, 64, false, 1000); // 256 KiB: two rows of 128 KiB
  const wb = timeline_bins(wide.record({ fs: 'wide', source: 'test' }));
  t.equal(wb.values[0 * wb.width + wb.width - 1], 1);
  t.equal(wb.values[1 * wb.width + wb.width - 1], 1);
  t.equal(wb.values[2 * wb.width + wb.width - 1], 0);
});
