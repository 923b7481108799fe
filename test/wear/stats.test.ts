import t from 'tap';
import { waf, wear_stats } from '../../src/wear/stats.js';

t.test('wear_stats on a known array: hottest, spread, cv, never-written', async (t) => {
  // written blocks hold 5, 1, 2: mean 8/3, population variance ((7/3)² + (5/3)² + (2/3)²) / 3 = 26/9
  const s = wear_stats(Uint32Array.from([0, 5, 1, 0, 2, 0]));
  t.equal(s.blocks, 6);
  t.equal(s.blocksWritten, 3);
  t.equal(s.blocksNeverWritten, 3);
  t.equal(s.blockWrites, 8);
  t.equal(s.hottestBlock, 1);
  t.equal(s.hottestCount, 5);
  t.ok(Math.abs(s.meanOfWritten - 8 / 3) < 1e-12, 'mean over the written blocks only');
  t.ok(Math.abs(s.spread - 5 / (8 / 3)) < 1e-12, `spread = hottest / mean = 1.875 (${s.spread})`);
  t.ok(Math.abs(s.cv - Math.sqrt(26 / 9) / (8 / 3)) < 1e-12, `cv = population sd / mean ≈ 0.6374 (${s.cv})`);
});

t.test('wear_stats edge cases', async (t) => {
  const none = wear_stats(new Uint32Array(4));
  t.same(none, { blocks: 4, blocksWritten: 0, blocksNeverWritten: 4, blockWrites: 0, hottestBlock: -1, hottestCount: 0, meanOfWritten: 0, spread: 0, cv: 0 },
    'nothing written: no hottest block, no division by zero');
  const even = wear_stats(Uint32Array.from([3, 3, 3, 0]));
  t.equal(even.spread, 1, 'perfectly even wear: spread 1');
  t.equal(even.cv, 0, 'and cv 0');
  t.equal(wear_stats(Uint32Array.from([1, 7, 7, 2])).hottestBlock, 1, 'ties go to the lowest address');
  const huge = wear_stats(Uint32Array.from([0xffffffff, 0xffffffff]));
  t.equal(huge.blockWrites, 2 * 0xffffffff, 'sums do not wrap at 32 bits');
});

t.test('waf: host bytes / bytes asked', async (t) => {
  t.equal(waf(3000, 2000), 1.5);
  t.equal(waf(3n << 30n, 1n << 30n), 3, 'bigint inputs');
  t.equal(waf(100, 0), 0, 'nothing asked: 0, not Infinity');
});
