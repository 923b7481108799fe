import t from 'tap';
import {
  NEVER_WRITTEN, TIMELINE_BACKGROUND, count_colour, ramp_colour, rgb_hex, scale_make, scale_position, scale_ticks,
} from '../../src/compare/render_scale.js';
import { luma } from './png.js';

t.test('the log scale puts count 1 at the bottom, the max at the top, equal ratios at equal steps', async (t) => {
  const s = scale_make(10000);
  t.equal(s.max, 10000);
  t.equal(scale_position(s, 1), 0);
  t.equal(scale_position(s, 10000), 1);
  t.equal(scale_position(s, 50000), 1, 'counts above the max are clamped');
  t.ok(Math.abs(scale_position(s, 100) - 0.5) < 1e-12, '100 is half way between 1 and 10,000');
  t.ok(Math.abs(scale_position(s, 10) - 0.25) < 1e-12);
  t.equal(scale_make(1).max, 2, 'a scale of max 1 is widened so that 1 and the top differ');
  t.equal(scale_make(0).max, 2);
  t.throws(() => scale_position(s, 0), 'count 0 has no place on the ramp');
});

t.test('colours: the inferno ramp from count 1 to the max, a distinct colour for zero', async (t) => {
  const s = scale_make(1000);
  t.same(count_colour(s, 0), NEVER_WRITTEN);
  t.same(count_colour(s, 0, TIMELINE_BACKGROUND), [255, 255, 255]);
  t.same(count_colour(s, 1000), [252, 255, 164], 'top = the last colour of inferno (#fcffa4)');
  t.same(count_colour(s, 123456), [252, 255, 164], 'above the max = top');
  t.same(count_colour(s, 1), [31, 12, 71], 'count 1 = inferno at 0.12, a dark purple, not black');
  // inferno grows in lightness along the ramp, so larger counts are lighter
  let prev = -1;
  for (const c of [1, 2, 5, 10, 50, 100, 500, 1000]) {
    const l = luma(count_colour(s, c));
    t.ok(l > prev, `count ${c} is lighter than the count before it`);
    prev = l;
  }
  // no colour of the ramp is the never-written grey, nor white
  for (let i = 0; i <= 1000; i++) {
    const c = ramp_colour(i / 1000);
    if (rgb_hex(c) === rgb_hex(NEVER_WRITTEN) || rgb_hex(c) === '#ffffff') t.fail(`ramp hits a reserved colour at ${i / 1000}`);
  }
  t.equal(rgb_hex([1, 171, 255]), '#01abff');
});

t.test('legend ticks run from 1 to the max and never crowd', async (t) => {
  const big = scale_ticks(scale_make(30000));
  t.equal(big[0], 1);
  t.equal(big[big.length - 1], 30000);
  t.same(big, [1, 10, 100, 1000, 10000, 30000]);
  const small = scale_ticks(scale_make(36));
  t.same(small, [1, 2, 5, 10, 20, 36]);
  t.same(scale_ticks(scale_make(4)), [1, 2, 3, 4]);
  const s = scale_make(12000);
  const ticks = scale_ticks(s);
  for (let i = 1; i < ticks.length - 1; i++) {
    t.ok(scale_position(s, ticks[i]!) - scale_position(s, ticks[i - 1]!) >= 0.07, 'ticks are spread out');
  }
  t.equal(ticks[ticks.length - 1], 12000);
});
