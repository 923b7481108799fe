// Space and the cleaner: honest ENOSPC (statfs agrees, the filesystem never wedges, deleting
// makes room again), what still works on a full filesystem, idle-time cost-benefit cleaning, wear
// levelling, and power cuts while the cleaner moves blocks.

import t from 'tap';
import { FileSystem } from '../../src/fs/fs.js';
import { FsError } from '../../src/util/errors.js';
import { SegState } from '../../src/log/segments.js';
import { WEAR_SPREAD } from '../../src/cleaner/cleaner.js';
import { Prng } from '../../src/util/prng.js';
import { fsck_ok, mkfs_mem, mount } from '../helpers/engine.js';
import { content } from '../helpers/model.js';
import { base_image, crash_check, crash_run, workload } from '../helpers/crash.js';

const SOAK = process.env.COWLOG_SOAK === '1';
const MiB = 1 << 20;

/** Writes 1 MiB and 4 KiB files until ENOSPC; returns the bytes written before it. */
function fill(fs: FileSystem, dir: number, tag: string, seed: number): { bytes: number; files: string[] } {
  const rng = new Prng(seed);
  let bytes = 0;
  const files: string[] = [];
  for (let i = 0; ; i++) {
    const size = rng.chance(0.25) ? MiB : 4096;
    const name = `${tag}${i}`;
    let ino: number;
    try {
      ino = fs.create(dir, name, 0o644).ino;
    } catch (e) {
      if (e instanceof FsError && e.code === 'ENOSPC') return { bytes, files };
      throw e;
    }
    files.push(name);
    try {
      for (let off = 0; off < size; off += 128 << 10) {
        const n = Math.min(128 << 10, size - off);
        fs.write(ino, off, content(seed * 1000 + i, n));
        bytes += n;
      }
    } catch (e) {
      if (e instanceof FsError && e.code === 'ENOSPC') return { bytes, files };
      throw e;
    }
  }
}

t.test('fill to ENOSPC, delete, fill again: honest and never wedged', async (t) => {
  const blocks = 4096; // 16 MiB, default geometry
  const dev = mkfs_mem(blocks, { uuid: Buffer.alloc(16, 7) });
  const fs = mount(dev);
  const d = fs.mkdir(1, 'd', 0o755).ino;
  const first = fill(fs, d, 'a', 1);
  const usable = first.bytes / (blocks * 4096);
  t.ok(usable > 0.85, `${(usable * 100).toFixed(1)} % of the device written before ENOSPC`);
  const st = fs.statfs();
  t.ok(st.bavail * 4096 < 1.2 * MiB + 8192, `statfs at ENOSPC says ${st.bavail} blocks free: about what a new 1 MiB file could not get`);
  t.throws(() => fs.write(fs.create(d, 'extra', 0o644).ino, 0, Buffer.alloc(2 * MiB)), { code: 'ENOSPC' }, 'a 2 MiB write is refused');
  // what must keep working on a full filesystem
  fs.rename(d, first.files[0]!, d, 'renamed');
  fs.truncate(fs.lookup(d, 'renamed').ino, 100);
  fs.mkdir(1, 'e', 0o755);
  fs.rmdir(1, 'e');
  fs.setattr(fs.lookup(d, 'renamed').ino, { mode: 0o600 });
  fs.sync();
  t.pass('rename, truncate, rmdir, chmod and sync work on a full filesystem');
  for (let round = 0; round < 3; round++) {
    // delete a third of the files, then fill again
    const names = fs.readdir(d).map((e) => e.name.toString());
    let freed = 0;
    for (const n of names.filter((_, i) => i % 3 === round % 3)) {
      freed += fs.getattr(fs.lookup(d, n).ino).size;
      fs.unlink(d, n);
    }
    const before = fs.statfs().bavail;
    t.ok(before * 4096 >= freed * 0.9, `round ${round}: statfs shows the ${(freed / MiB).toFixed(1)} MiB deleted as free (${(before * 4096 / MiB).toFixed(1)} MiB)`);
    const again = fill(fs, d, `r${round}-`, 10 + round);
    t.ok(again.bytes >= freed * 0.9, `round ${round}: ${(again.bytes / MiB).toFixed(1)} MiB written again after deleting ${(freed / MiB).toFixed(1)} MiB`);
  }
  fs.unmount();
  fsck_ok(t, dev, 'after three fill-delete rounds');
  const fs2 = mount(dev);
  t.ok(fs2.readdir(d).length > 0, 'remounts with its files');
  fs2.unmount();
});

t.test('idle-time cleaning (cost-benefit) gives segments back', async (t) => {
  const dev = mkfs_mem(4096, { uuid: Buffer.alloc(16, 8) });
  const fs = mount(dev, { idleMs: 0 });
  // fragment: many small files, delete two of every three
  const d = fs.mkdir(1, 'd', 0o755).ino;
  for (let i = 0; i < 1500; i++) fs.write(fs.create(d, `f${i}`, 0o644).ino, 0, content(i, 5000));
  fs.sync();
  for (let i = 0; i < 1500; i++) if (i % 3) fs.unlink(d, `f${i}`);
  fs.sync();
  const log = fs.vol.log;
  const freeBefore = log.segs_free();
  let partial = 0;
  for (let s = 0; s < fs.vol.g.segCount; s++) if (log.seg_state(s) === SegState.INUSE && log.seg_valid(s) > 0 && log.seg_valid(s) < fs.vol.g.segBlocks / 2) partial++;
  t.ok(partial > 10, `${partial} segments are less than half full`);
  for (let k = 0; k < 20; k++) fs.tick(1e15 + k);
  t.ok(fs.cleaner.stats.backgroundRounds > 0, `${fs.cleaner.stats.backgroundRounds} idle-time rounds ran`);
  t.ok(log.segs_free() > freeBefore, `free segments ${freeBefore} -> ${log.segs_free()}`);
  for (let i = 0; i < 1500; i += 3) t.equal(fs.read(fs.lookup(d, `f${i}`).ino, 0, 5000).equals(content(i, 5000)), true, `f${i} intact`);
  fs.unmount();
  fsck_ok(t, dev, 'after idle-time cleaning');
});

t.test('static wear levelling moves cold data off little-worn segments', async (t) => {
  // cold data written once, then a hot file rewritten again and again with idle periods in
  // between; the same run without idle periods is the control
  const run = (idle: boolean): { min: number; max: number; moves: number } => {
    const dev = mkfs_mem(2048, { uuid: Buffer.alloc(16, 9), segBlocks: 16 });
    const fs = mount(dev, { idleMs: 0 });
    const cold = fs.create(1, 'cold', 0o644).ino;
    fs.write(cold, 0, content(1, 600 * 1024));
    fs.sync();
    const hot = fs.create(1, 'hot', 0o644).ino;
    for (let i = 0; i < 1200; i++) {
      fs.write(hot, 0, content(100 + i, 256 * 1024));
      fs.sync();
      if (idle && i % 20 === 19) for (let k = 0; k < 4; k++) fs.tick(1e15 + i * 10 + k);
    }
    let min = Infinity, max = 0;
    const log = fs.vol.log;
    // the open segments of idle logs (opened once at mkfs, nothing written) are left out
    for (let s = 0; s < fs.vol.g.segCount; s++) {
      if (log.is_head_seg(s)) continue;
      const w = log.seg(s).writes;
      min = Math.min(min, w);
      max = Math.max(max, w);
    }
    t.same(fs.read(cold, 0, 600 * 1024), content(1, 600 * 1024), `${idle ? 'levelled' : 'control'}: the cold file is intact`);
    const moves = fs.cleaner.stats.wearMoves;
    fs.unmount();
    fsck_ok(t, dev, idle ? 'after wear levelling' : 'control');
    return { min, max, moves };
  };
  const control = run(false);
  const levelled = run(true);
  t.ok(levelled.moves > 0, `wear levelling moved ${levelled.moves} segments`);
  t.ok(levelled.max - levelled.min < control.max - control.min,
    `segment openings spread ${levelled.min}..${levelled.max} with levelling, ${control.min}..${control.max} without`);
  t.ok(levelled.max - levelled.min <= 2 * WEAR_SPREAD, `the spread stays within twice the threshold (${WEAR_SPREAD})`);
});

t.test('power cuts while the cleaner moves blocks', async (t) => {
  // a small device kept nearly full by overwrites, so the cleaner runs all the time
  // (this configuration also found a flush that read its dirty pages before cleaning had
  // checkpointed, and so flushed, some of them)
  const blocks = 512;
  const image = base_image(blocks);
  const seed = 31;
  const ops = workload(seed, SOAK ? 2000 : 800, { names: 10, fileSizeMax: 100 << 10, weights: { write: 40, fsync: 8, sync: 3, truncate: 3, rename: 2, unlink: 3, create: 6, mkdir: 1, rmdir: 1, link: 1, symlink: 1, setxattr: 1, chmod: 1 } });
  const full = crash_run(image, ops, null, seed);
  t.notOk(full.crashed, 'the workload runs to the end');
  t.ok(full.cleaningWrites.length >= 30, `the cleaner issued ${full.cleaningWrites.length} of ${full.writes} writes`);
  const rng = new Prng(seed);
  const cuts = new Set<number>();
  const want = SOAK ? full.cleaningWrites.length : Math.min(60, full.cleaningWrites.length);
  while (cuts.size < want) cuts.add(rng.pick(full.cleaningWrites));
  let ok = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    const r = crash_run(image, ops, cut, seed + cut);
    if (!crash_check(t, r, cut % 2 ? 'random' : 'flushed', `cut after write ${cut}, inside cleaning`)) break;
    ok++;
  }
  t.equal(ok, cuts.size, `all ${cuts.size} power cuts during cleaning recovered to a valid state`);
});

t.test('one large file fills the device; its unlink or truncate still fits (streamed or not)', (t) => {
  // the last case: the checkpoint after the unlink finds a table block all zeros (the file's
  // blocks freed) and then fills it again with its own allocations; it must write it (it once
  // left it out, and the next mount fell back to the checkpoint before)
  for (const [streamed, drop, opts] of [
    [false, 'unlink', {}], [true, 'unlink', {}], [false, 'truncate', {}], [false, 'unlink', { dirtyNodesMax: 256, dirtyBytesMax: 6 << 20 }],
  ] as const) {
    // the default geometry of a 48 MiB device, as a user's mkfs makes it
    const dev = mkfs_mem((48 << 20) / 4096, {});
    const fs = mount(dev, opts);
    const a = fs.create(1, 'fill', 0o100644);
    const chunk = Buffer.alloc(128 << 10, 7);
    let off = 0;
    t.throws(() => {
      for (;;) {
        fs.write(a.ino, off, chunk);
        off += chunk.length;
        if (streamed) fs.writeback(a.ino);
      }
    }, { code: 'ENOSPC' }, `${streamed ? 'streamed' : 'buffered'}: written until ENOSPC`);
    fs.fsync(a.ino, false);
    t.ok(off > 40 << 20, `the file holds most of the device (${(off / 2 ** 20).toFixed(1)} MiB)`);
    if (drop === 'unlink') t.doesNotThrow(() => fs.unlink(1, 'fill'), 'unlink of the file on a full device works');
    else t.doesNotThrow(() => fs.truncate(a.ino, 0), 'truncating the file to 0 on a full device works');
    fs.sync();
    t.ok(fs.statfs().bfree * 4096 > 40 << 20, 'and its space comes back');
    fs.unmount();
    fsck_ok(t, dev);
  }
  t.end();
});
