// The cleaner's victim choice: greedy (fewest valid blocks, oldest first), only segments that give
// back at least an eighth of themselves, never a log head's; a round empties its victims and the
// filesystem checks clean after.

import t from 'tap';
import { fsck_ok, mkfs_mem, mount } from '../helpers/engine.js';
import { SegState } from '../../src/log/segments.js';

t.test('victims in greedy order, within the bound, never a head; a round frees them', async (t) => {
  const dev = mkfs_mem(4096, { segBlocks: 16, fanout: 8, uuid: Buffer.alloc(16, 3) });
  const fs = mount(dev);
  const log = fs.vol.log;
  const g = fs.vol.g;
  // files of 16 blocks written one after another fill whole segments of the warm data log
  const inos: number[] = [];
  for (let i = 0; i < 24; i++) {
    const ino = fs.create(1, `f${i}`, 0o644).ino;
    fs.write(ino, 0, Buffer.alloc(16 * 4096, i + 1));
    fs.sync();
    inos.push(ino);
  }
  // file i loses i % 8 of its blocks (punched by truncating and rewriting elsewhere is not
  // needed: a hole at the end is enough)
  for (let i = 0; i < inos.length; i++) fs.truncate(inos[i]!, (16 - (i % 9)) * 4096);
  fs.sync();
  const v = fs.cleaner.victims();
  t.ok(v.length > 3, `${v.length} victims`);
  const validMax = g.segBlocks - Math.max(1, g.segBlocks >> 3);
  for (let i = 0; i < v.length; i++) {
    const s = v[i]!;
    t.equal(log.seg_state(s), SegState.INUSE, `segment ${s} in use`);
    t.notOk(log.is_head_seg(s), `segment ${s} is no log head's`);
    t.ok(log.seg_valid(s) > 0 && log.seg_valid(s) <= validMax, `segment ${s}: ${log.seg_valid(s)} valid of ${g.segBlocks} (at most ${validMax})`);
    if (i > 0) {
      const p = v[i - 1]!;
      const order = log.seg_valid(p) - log.seg_valid(s) || log.seg(p).mtime - log.seg(s).mtime || p - s;
      t.ok(order < 0, `segment ${p} (${log.seg_valid(p)} valid, age ${log.seg(p).mtime}) before ${s} (${log.seg_valid(s)}, ${log.seg(s).mtime})`);
    }
  }
  // segments with more than 7/8 valid are left alone
  for (let s = 0; s < g.segCount; s++) {
    if (log.seg_state(s) === SegState.INUSE && !log.is_head_seg(s) && log.seg_valid(s) > validMax) t.notOk(v.includes(s), `segment ${s} (${log.seg_valid(s)} valid) is not worth cleaning`);
  }
  const first = v[0]!;
  const freeBefore = log.segs_free();
  const cleaned = fs.cleaner.round(Infinity);
  t.ok(cleaned > 0, `a round cleaned ${cleaned} segments`);
  t.equal(log.seg_valid(first), 0, `the first victim (${first}) is empty`);
  fs.sync();
  t.ok(log.segs_free() > freeBefore - 2, `free segments ${freeBefore} -> ${log.segs_free()}`);
  for (let i = 0; i < inos.length; i++) t.equal(fs.read(inos[i]!, 0, 4096)[0], i + 1, `file ${i} reads back after the move`);
  fs.unmount();
  fsck_ok(t, dev);
});
