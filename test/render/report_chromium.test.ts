// The HTML report as a person sees it: opened in headless Chromium (Debian's `chromium`,
// installed here through tools/ensure-packages.sh), screenshotted, and its DOM dumped.

import t from 'tap';
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { wear_encode } from '../../src/wear/wearfile.js';
import { wear_stats } from '../../src/wear/stats.js';
import { NEVER_WRITTEN } from '../../src/compare/render_scale.js';
import { fs_colour } from '../../src/compare/render_compare.js';
import { repo_root } from '../../src/compare/render_svg.js';
import { report_render } from '../../src/compare/report.js';
import { synth_cowlog, synth_ext4, synth_f2fs, synth_result, synth_workload } from '../../src/compare/render_synth.js';
import { png_read, tmp_dir } from './png.js';

const run = promisify(execFile);
const WIDTH = 1400, HEIGHT = 3000;

function chromium_args(profile: string): string[] {
  return ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--hide-scrollbars', '--force-device-scale-factor=1', `--user-data-dir=${profile}`];
}

t.test('report.html in headless Chromium: a real page with the table and the pictures', async (t) => {
  execFileSync('bash', [join(repo_root(), 'tools/ensure-packages.sh'), 'chromium', 'fonts-dejavu-core'], { stdio: ['ignore', 'ignore', 'inherit'] });

  const out = tmp_dir('html');
  const ops = synth_workload(1500, 3);
  const recs = [synth_cowlog(ops), synth_ext4(ops), synth_f2fs(ops)];
  for (const rec of recs) {
    mkdirSync(join(out, rec.meta.fs));
    writeFileSync(join(out, rec.meta.fs, 'wear.bin'), wear_encode(rec));
    const extra = rec.meta.fs === 'ext4' ? { hottestWhat: 'ext4 journal superblock' } : {};
    writeFileSync(join(out, rec.meta.fs, 'result.json'), JSON.stringify(synth_result(rec, ops, extra)));
  }
  await report_render(out, { title: 'headless check' });
  const url = `file://${join(out, 'report.html')}`;

  const shot = join(out, 'screenshot.png');
  await run('chromium', [...chromium_args(tmp_dir('chromium')), `--window-size=${WIDTH},${HEIGHT}`,
    `--screenshot=${shot}`, url], { timeout: 120_000 });
  const img = png_read(shot);
  t.equal(img.width, WIDTH, 'screenshot width');
  t.equal(img.height, HEIGHT, 'screenshot height');
  const distinct = img.distinct();
  t.ok(distinct > 200, `many distinct colours, not a blank page (${distinct})`);
  t.ok(img.count([0x27, 0x36, 0x4a]) > 2000, 'the table heading is drawn with its style');
  const order = recs.map((r) => r.meta.fs);
  for (const fs of order) {
    const hex = fs_colour(fs, order);
    const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
    t.ok(img.count(c) > 500, `the comparison chart shows ${fs}'s bars`);
  }
  t.ok(img.count(NEVER_WRITTEN) > 20000, 'the inlined heatmaps are displayed (never-written cells)');

  const dom = (await run('chromium', [...chromium_args(tmp_dir('chromium')), '--dump-dom', url],
    { timeout: 120_000, maxBuffer: 64 << 20 })).stdout;
  t.match(dom, /<h1>headless check<\/h1>/);
  t.match(dom, /<table class="summary">/);
  for (const h of ['host MiB', 'WAF', 'hottest block', 'spread', 'CV', 'never written', 'ENOSPC', 'verify', 'run time']) {
    t.ok(dom.includes(`>${h}</th>`), `column "${h}" in the table`);
  }
  const st = wear_stats(recs[1]!.counts);
  t.ok(dom.includes(`${st.hottestCount.toLocaleString('en-US')} × block ${st.hottestBlock.toLocaleString('en-US')}`), 'ext4 hottest block in the table');
  t.match(dom, /ext4 journal superblock/);
  t.equal(dom.match(/<img /g)?.length, 7, 'the chart, three heatmaps and three timelines');
});
