import t from 'tap';
import { join } from 'node:path';
import { compare_render, compare_spec, compare_svg, fs_colour, type CompareRow } from '../../src/compare/render_compare.js';
import { png_read, tmp_dir } from './png.js';

const rows: CompareRow[] = [
  { fs: 'cowlog', hostBytes: 200 * 1048576, waf: 3.1, hottestCount: 40, spread: 2.5 },
  { fs: 'ext4', hostBytes: 500 * 1048576, waf: 7.9, hottestCount: 7000, spread: 300 },
  { fs: 'btrfs', hostBytes: 700 * 1048576, waf: 11.2, hottestCount: 31000, spread: 2500 },
  { fs: 'f2fs', hostBytes: 9000 * 1048576, waf: 1200 }, // no wear file: no hottest, no spread
];

interface Panel { title: { text: string }; data: { values: { fs: string; value: number; label: string }[] }; encoding: { y: { scale: { type?: string } } } }

t.test('the chart spec: four panels, log axes where values span orders of magnitude', async (t) => {
  const spec = compare_spec(rows, 'sub');
  const panels = spec.hconcat as Panel[];
  t.same(panels.map((p) => p.title.text), ['host bytes written', 'WAF (host ÷ asked)', 'hottest block', 'wear spread (hottest ÷ mean)']);
  t.equal(panels[0]!.encoding.y.scale.type, 'log', 'host bytes 200..9000 MiB: log');
  t.equal(panels[1]!.encoding.y.scale.type, 'log', 'WAF 3..1200: log');
  t.equal(panels[2]!.encoding.y.scale.type, 'log');
  t.same(panels[0]!.data.values.map((v) => v.label), ['200', '500', '700', '9,000'], 'bars carry their values');
  t.same(panels[2]!.data.values.map((v) => v.fs), ['cowlog', 'ext4', 'btrfs'], 'a run without a wear file has no bar, not a zero');
  const lin = compare_spec([{ fs: 'a', hostBytes: 1048576 * 10, waf: 2, hottestCount: 5, spread: 1.5 }, { fs: 'b', hostBytes: 1048576 * 12, waf: 2.5, hottestCount: 9, spread: 2 }]);
  t.notOk((lin.hconcat as Panel[])[1]!.encoding.y.scale.type, 'close values: a linear axis');
});

t.test('the chart renders: every filesystem in its own colour', async (t) => {
  const png = join(tmp_dir('compare'), 'compare.png');
  await compare_render(rows, png, 'synthetic rows');
  const img = png_read(png);
  t.ok(img.width > 800 && img.width < 2400, `width ${img.width}`);
  t.ok(img.height > 250 && img.height < 800, `height ${img.height}`);
  const order = rows.map((r) => r.fs);
  const rgb = (hex: string): [number, number, number] => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
  const px = order.map((fs) => img.count(rgb(fs_colour(fs, order))));
  for (let i = 0; i < order.length; i++) t.ok(px[i]! > 500, `${order[i]} bars are drawn (${px[i]} pixels)`);
  t.ok(px[3]! < px[1]!, 'f2fs has bars in two panels only, ext4 in four');
  const svg = await compare_svg(rows, 'synthetic rows');
  for (const s of ['cowlog', 'ext4', 'btrfs', 'f2fs', '31,000', '1,200', 'synthetic rows', 'log scale']) t.ok(svg.includes(s), `the chart shows "${s}"`);
  t.not(fs_colour('zfs', ['zfs', 'xfs']), fs_colour('xfs', ['zfs', 'xfs']), 'unknown filesystems get distinct colours');
});
