// The server's resident bound (src/fuse/resident.ts): its allowance adds up the mount's own
// bounds; above the high mark the caches are scaled down from what they hold, a step at a time
// while the resident set grows and not while it stays; never below SCALE_MIN; back up a step a
// tick below the low mark; nothing before the idle size was taken.

import t from 'tap';
import { HELD_BYTES } from '../../src/fuse/held.js';
import { resident_allowance, ResidentBound, SCALE_MIN, YOUNG_BYTES } from '../../src/fuse/resident.js';
import { DIRTY_BYTES_MAX } from '../../src/fs/fs.js';

const MiB = 1 << 20;

t.test('the allowance: the caches, the dirty pages, the ring, the kernel-held record, V8\'s room', async (t) => {
  const a = resident_allowance({ cache: 64 * MiB, ring: 32 * MiB, heldMax: 131072 });
  t.equal(a.total, 64 * MiB + DIRTY_BYTES_MAX + 32 * MiB + 131072 * HELD_BYTES + 32 * MiB + YOUNG_BYTES, 'the parts summed');
  t.equal(Math.round(a.total / MiB), 239, 'the default mount: 239 MiB');
  t.same(a.parts.map(([w]) => w), ['cache', 'dirty and free pages', 'write ring', 'inodes the kernel holds', 'old-space room, half the cache', 'young generation']);
  t.equal(resident_allowance({ cache: 16 * MiB, ring: 0, heldMax: 1000 }).total, 16 * MiB + DIRTY_BYTES_MAX + 1000 * HELD_BYTES + 8 * MiB + YOUNG_BYTES, 'no ring, a smaller cache');
});

/** A bound of 160 MiB over an idle 100 MiB (high mark 240 MiB, low 220), caches of 128 MiB shares. */
function rig(used = 64 * MiB): { b: ResidentBound; set: (mib: number) => void; scales: number[]; c: { used: number } } {
  let rss = 100 * MiB;
  const scales: number[] = [];
  const c = { used };
  const b = new ResidentBound(160 * MiB, { scale: (f) => { scales.push(f); }, bytes: () => ({ shares: 128 * MiB, used: c.used }) }, () => rss);
  return { b, set: (mib) => { rss = mib * MiB; }, scales, c };
}

t.test('nothing before the idle size is taken', async (t) => {
  const r = rig();
  r.set(900);
  r.b.tick();
  t.same(r.scales, [], 'no step');
  t.equal(r.b.stats().idleBytes, null);
});

t.test('above the high mark: a step down from what the caches hold, more only while it grows', async (t) => {
  const r = rig();
  r.b.start();
  r.set(239);
  r.b.tick();
  t.same(r.scales, [], 'below the high mark: nothing');
  r.set(250);
  r.b.tick();
  // the caches hold half their shares: the step starts from there, and takes what is 10 MiB above
  // the mark (10/128 of the shares, more than the least step of 1/16)
  t.equal(r.scales.length, 1, 'a step down');
  t.ok(Math.abs(r.scales[0]! - (0.5 - 10 / 128)) < 1e-9, `from the part held, less the excess (${r.scales[0]})`);
  r.set(250.5);
  r.b.tick();
  t.equal(r.scales.length, 1, 'the resident set stays (freed memory is not given back at once): no more steps');
  r.c.used = 128 * MiB;
  r.set(252);
  r.b.tick();
  t.equal(r.scales.length, 2, 'it grew by more than 1 MiB: another step');
  t.ok(Math.abs(r.scales[1]! - (r.scales[0]! - 12 / 128)) < 1e-9, 'from the last scale, when the caches hold more than it');
  for (let i = 0; i < 40; i++) {
    r.set(260 + i * 2);
    r.b.tick();
  }
  t.equal(r.b.cacheScale, SCALE_MIN, 'never below the least part');
  const steps = r.b.stats().squeezes;
  r.set(400);
  r.b.tick();
  t.equal(r.b.stats().squeezes, steps, 'at the least part no step is counted');
  t.equal(r.b.stats().cacheScaleLowest, SCALE_MIN);
});

t.test('between the marks it holds; below the low mark it gives back a sixteenth a tick', async (t) => {
  const r = rig(128 * MiB);
  r.b.start();
  r.set(260);
  r.b.tick();
  const down = r.b.cacheScale;
  t.ok(down < 1, `down to ${down}`);
  r.set(230);
  for (let i = 0; i < 5; i++) r.b.tick();
  t.equal(r.b.cacheScale, down, 'between the low and the high mark: held');
  r.set(200);
  r.b.tick();
  t.ok(Math.abs(r.b.cacheScale - (down + 1 / 16)) < 1e-9, 'below the low mark: a step up');
  for (let i = 0; i < 40; i++) r.b.tick();
  t.equal(r.b.cacheScale, 1, 'up to the whole shares, not beyond');
  const n = r.scales.length;
  r.b.tick();
  t.equal(r.scales.length, n, 'at the whole shares nothing more is asked of the caches');
  r.set(245);
  r.b.tick();
  t.ok(r.b.cacheScale < 1, 'crossing the high mark again steps down at once');
});
