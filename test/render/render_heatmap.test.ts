import t from 'tap';
import { join } from 'node:path';
import type { WearRecord } from '../../src/wear/wearfile.js';
import { NEVER_WRITTEN, count_colour, scale_make } from '../../src/compare/render_scale.js';
import { CELL_PX, heatmap_cell_rect, heatmap_grid, heatmap_png, heatmap_render, heatmap_svg, type HeatmapLayout } from '../../src/compare/render_heatmap.js';
import { png_read, tmp_dir, type Image } from './png.js';

const MiB = 1 << 20;

/** A record with the given per-block counts and no timeline. */
function record(blocks: number, set: Record<number, number>, fs = 'testfs'): WearRecord {
  const counts = new Uint32Array(blocks);
  for (const [b, c] of Object.entries(set)) counts[Number(b)] = c;
  return {
    meta: { fs, source: 'test' }, blockSize: 4096, counts, bytes: 0n, truncated: false,
    timeNs: new BigUint64Array(0), offset: new BigUint64Array(0), length: new Uint32Array(0), flags: new Uint32Array(0),
  };
}

/** The colour of a cell; throws (failing the test) unless all its pixels have that colour. */
function cell_colour(img: Image, layout: HeatmapLayout, cell: number): [number, number, number] {
  const r = heatmap_cell_rect(layout, cell);
  const c = img.at(r.x + 2, r.y + 2);
  for (let y = r.y; y < r.y + r.h; y++) for (let x = r.x; x < r.x + r.w; x++) {
    const p = img.at(x, y);
    if (p[0] !== c[0] || p[1] !== c[1] || p[2] !== c[2]) throw new Error(`cell ${cell} is not one colour: ${c} at its centre, ${p} at (${x}, ${y})`);
  }
  return c;
}

const dir = tmp_dir('heatmap');

t.test('64 MiB: 128 × 128 cells of one block, exact colours at cells of known count', async (t) => {
  // block 9000 is the hottest (1000); 1, 10 and 31 elsewhere; everything else never written
  const rec = record(16384, { 100: 1, 200: 10, 300: 31, 9000: 1000 });
  const png = join(dir, 'one.png');
  await heatmap_render(rec, png);
  const { layout, svg } = heatmap_svg(rec);
  const img = png_read(png);
  t.equal(img.width, layout.width, 'PNG width as laid out');
  t.equal(img.height, layout.height, 'PNG height as laid out');
  t.equal(layout.grid.columns, 128);
  t.equal(layout.grid.rows, 128);
  t.equal(layout.grid.blocksPerCell, 1);
  t.equal(CELL_PX, 5);
  t.ok(img.width >= 128 * 5 && img.height >= 128 * 5, 'the grid fits in the picture');
  const s = scale_make(1000);
  t.same(cell_colour(img, layout, 0), NEVER_WRITTEN, 'never written');
  t.same(cell_colour(img, layout, 16383), NEVER_WRITTEN, 'the last block, never written');
  t.same(cell_colour(img, layout, 100), count_colour(s, 1), 'count 1');
  t.same(cell_colour(img, layout, 200), count_colour(s, 10), 'count 10');
  t.same(cell_colour(img, layout, 300), count_colour(s, 31), 'count 31');
  t.same(cell_colour(img, layout, 9000), [252, 255, 164], 'the hottest block has the top colour');
  // row-major from the top left: block 300 is row 2, column 44
  const r = heatmap_cell_rect(layout, 300);
  t.equal(r.x, layout.gridX + 44 * 5);
  t.equal(r.y, layout.gridY + 2 * 5);
  // all never-written cells are grey, but for the few pixels the ring around the hottest covers
  const grey = img.count(NEVER_WRITTEN);
  t.ok(grey >= (16384 - 4) * 25 - 150 && grey <= (16384 - 4) * 25 + 400, `never-written cells drawn grey (${grey} pixels)`);
  t.match(svg, /one block per cell/);
  t.match(svg, /hottest: block 9,000/);
});

t.test('the legend runs from 1 to the scale max, with the ramp drawn exactly', async (t) => {
  const rec = record(16384, { 5: 3, 6: 700 });
  const { png, layout, svg } = heatmap_png(rec, { scaleMax: 5000, title: 'legend check' });
  const img = png_read(png);
  const g = layout.legend;
  const midY = g.barY + (g.barHeight >> 1);
  t.equal(g.ticks[0], 1, 'first tick is 1');
  t.equal(g.ticks[g.ticks.length - 1], 5000, 'last tick is the scale max');
  const s = scale_make(5000);
  t.same(img.at(g.barX, midY), count_colour(s, 1), 'left end of the bar = count 1');
  t.same(img.at(g.barX + g.barWidth - 1, midY), count_colour(s, 5000), 'right end = the max');
  t.match(svg, />≥ 5,000</, 'the max is labelled');
  t.match(svg, />1k</, 'decades are labelled');
  t.match(svg, /never written/, 'the zero swatch is labelled');
  t.match(svg, /write requests per 4 KiB block \(log scale/, 'the units are named');
  t.match(svg, /legend check/, 'the title is drawn');
  // the cell of count 700 uses the given scale, not its own max
  t.same(cell_colour(img, layout, 6), count_colour(s, 700));
  t.notSame(count_colour(s, 700), count_colour(scale_make(700), 700));
});

t.test('one scale shared by two records gives the same count the same colour', async (t) => {
  const a = record(16384, { 10: 100, 11: 40 }, 'a');
  const b = record(16384, { 20: 100, 21: 20000 }, 'b');
  const shared = 20000;
  const pa = heatmap_png(a, { scaleMax: shared }), pb = heatmap_png(b, { scaleMax: shared }), po = heatmap_png(a);
  const ia = png_read(pa.png), ib = png_read(pb.png), own = png_read(po.png);
  const la = pa.layout, lb = pb.layout;
  const ca = cell_colour(ia, la, 10), cb = cell_colour(ib, lb, 20);
  t.same(ca, cb, 'count 100 has one colour in both pictures');
  t.same(ca, count_colour(scale_make(shared), 100));
  t.notSame(cell_colour(own, po.layout, 10), ca, 'on its own scale, 100 would be the top colour');
  t.same(cell_colour(own, po.layout, 10), [252, 255, 164]);
});

t.test('larger devices fold several blocks into a cell by maximum and say so', async (t) => {
  // 256 MiB: 65,536 blocks, 4 per cell; cell 77 holds blocks 308..311
  const rec = record(256 * MiB / 4096, { 308: 2, 311: 50, 65535: 9 });
  const grid = heatmap_grid(rec.counts);
  t.equal(grid.blocksPerCell, 4);
  t.equal(grid.rows, 128);
  t.equal(grid.values[77], 50, 'a cell is the largest count of its blocks');
  t.equal(grid.values[16383], 9);
  const { png, layout, svg } = heatmap_png(rec, { scaleMax: 100 });
  const img = png_read(png);
  t.equal(img.width, layout.width);
  t.equal(img.height, layout.height);
  t.same(cell_colour(img, layout, 77), count_colour(scale_make(100), 50));
  t.match(svg, /4 blocks per cell/);
  t.match(svg, /largest of the 4 blocks of a cell/, 'the legend says how cells aggregate');

  const gib = heatmap_grid(new Uint32Array(1024 * MiB / 4096));
  t.equal(gib.blocksPerCell, 16);
  t.equal(gib.rows, 128);
  const odd = heatmap_grid(new Uint32Array(16385));
  t.equal(odd.blocksPerCell, 2, 'one block more than 64 MiB needs two blocks per cell');
  t.equal(odd.cells, 8193);
});

t.test('smaller devices get fewer rows, one block per cell', async (t) => {
  const rec = record(16 * MiB / 4096, { 4095: 7 });
  const { png, layout } = heatmap_png(rec);
  t.equal(layout.grid.rows, 32);
  const img = png_read(png);
  t.equal(img.height, layout.height);
  t.ok(layout.height < 400, 'the picture shrinks with the device');
  t.same(cell_colour(img, layout, 4095), [252, 255, 164]);
});
