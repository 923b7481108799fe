// Faults seen while testing large filesystems, each shown as a user meets it:
// - a filesystem whose fsck found damage mounts read-only with a warning unless forced, and an
//   fsck that finds none lets it write again;
// - fsck -n after an unclean shutdown counts the data blocks recovery will leave;
// - the normal end of the redo chain is not reported as a damaged block;
// - ENOSPC says numbers that add up;
// - fsck reports its progress and keeps its recounts small.

import t from 'tap';
import type { Test } from 'tap';
import { FileSystem } from '../../src/fs/fs.js';
import { Volume } from '../../src/checkpoint/volume.js';
import { fsck } from '../../src/fsck/fsck.js';
import type { FsckProgress } from '../../src/fsck/fsck.js';
import { BlockKind } from '../../src/log/segments.js';
import { FsError } from '../../src/util/errors.js';
import { fsck_ok, mkfs_mem, mount, SMALL } from '../helpers/engine.js';
import { content } from '../helpers/model.js';
import type { MemoryDevice } from '../../src/device/memory.js';

/** The address of a leaf holding records of inode `ino`. */
function leaf_of(dev: MemoryDevice, ino: number): number {
  const v = Volume.open(dev, { readOnly: true });
  let addr = 0;
  for (let a = v.g.mainStart; a < v.g.mainStart + v.g.segCount * v.g.segBlocks && addr === 0; a++) {
    if (v.log.refs(a) === 0) continue;
    const sm = v.log.summary(a);
    if (sm.kind !== BlockKind.NODE || sm.sub !== 0) continue;
    const n = v.nodes.get(sm.owner as never);
    if (n.keys.some((k) => k.ino === ino)) addr = a;
  }
  v.abandon();
  return addr;
}

t.test('fsck found damage: mounts read-only with a warning unless forced; an fsck that finds none clears it', async (t) => {
  const dev = mkfs_mem(4096);
  let fs = mount(dev);
  const d = fs.mkdir(1, 'd', 0o755).ino;
  for (let i = 0; i < 60; i++) fs.write(fs.create(d, `f${i}`, 0o644).ino, 0, content(i, 200));
  const victim = fs.create(1, 'victim', 0o644).ino;
  fs.write(victim, 0, content(99, 300));
  fs.unmount();
  const addr = leaf_of(dev, victim);
  t.ok(addr > 0, `a leaf of the file at ${addr}`);
  const good = dev.read(addr);
  const bad = Buffer.from(good);
  bad[300]! ^= 0x10;
  dev.write(addr, bad);

  const ro = fsck(dev, { readOnly: true });
  t.ok(ro.errors.length > 0, `fsck -n finds the damage (${ro.errors[0]})`);
  t.equal(ro.errorsRecorded, null, 'and -n writes nothing');
  t.equal(FileSystem.mount(dev).readOnly, false, 'before fsck ran, a mount writes (nothing is known yet)');

  const r = fsck(dev, {});
  t.equal(r.errorsRecorded, 'set', 'fsck records what it found');
  const msgs: string[] = [];
  fs = FileSystem.mount(dev, { log: (m) => msgs.push(m) });
  t.equal(fs.readOnly, true, 'the next mount is read-only');
  t.match(msgs.join('\n'), /errors were found in this filesystem \(by fsck, or by a mount that met a damaged block\): mounted read-only; run cowlog fsck.*-o force/, 'with a warning saying why and what to do');
  t.ok(fs.vol.mount.erroredReadOnly, 'the mount report says so');
  t.throws(() => fs.unlink(d, 'f1'), { code: 'EROFS' }, 'an unlink is refused');
  fs.unmount();
  fs = FileSystem.mount(dev, { force: true });
  t.equal(fs.readOnly, false, 'forced: read-write');
  fs.unlink(d, 'f1');
  fs.unmount();
  const ro2 = FileSystem.mount(dev, { readOnly: true });
  t.equal(ro2.vol.mount.erroredReadOnly, false, 'a read-only mount is what was asked for: no warning needed');
  ro2.unmount();

  dev.write(addr, good);
  const r2 = fsck(dev, {});
  // the forced mount unlinked f1 in a tree whose leaf was damaged then; with the leaf restored
  // the filesystem is whole again
  t.same(r2.errors, [], 'with the block restored fsck finds nothing');
  t.equal(r2.errorsRecorded, 'cleared', 'and clears the record');
  fs = mount(dev);
  t.equal(fs.readOnly, false, 'mounts write again');
  fs.unmount();
  fsck_ok(t, dev);
});

t.test('fsck -n after an unclean shutdown counts the data blocks recovery leaves', async (t) => {
  const dev = mkfs_mem(4096);
  const fs = mount(dev);
  const inos: number[] = [];
  for (let i = 0; i < 6; i++) {
    const ino = fs.create(1, `log${i}`, 0o644).ino;
    inos.push(ino);
    fs.write(ino, 0, content(i, 5000));
    fs.fsync(ino);
    // small appends made durable by fsync are logged, not written: pages rolled forward
    for (let k = 0; k < 5; k++) {
      fs.write(ino, 5000 + k * 300, content(100 + k, 300));
      fs.fsync(ino);
    }
  }
  fs.write(inos[0]!, 9000, content(7, 200)); // onto a new block, logged
  fs.fsync(inos[0]!);
  fs.vol.abandon(); // the power goes
  const n = fsck(dev, { readOnly: true, data: true });
  t.same(n.errors, [], 'fsck -n: no error');
  t.ok(n.rolledForward > 0, `${n.rolledForward} fsync groups rolled forward in memory`);
  t.ok(n.pendingBlocks > 0, `${n.pendingBlocks} file blocks held as rolled-forward pages`);
  const rec = fsck(dev, { data: true });
  t.same(rec.errors, [], 'fsck that recovers: no error');
  t.equal(n.counts.dataBlocks + n.pendingBlocks, rec.counts.dataBlocks, `-n: ${n.counts.dataBlocks} blocks and ${n.pendingBlocks} pages; after recovery ${rec.counts.dataBlocks} blocks`);
  t.equal(rec.pendingBlocks, 0, 'nothing left pending once recovered');
  const m = mount(dev);
  for (let i = 0; i < 6; i++) t.equal(m.getattr(inos[i]!).size, i === 0 ? 9200 : 6500, `file ${i} has every fsync'd byte`);
  m.unmount();
});

t.test('the normal end of the redo chain is not reported as a damaged block', async (t) => {
  const dev = mkfs_mem(4096);
  const fs = mount(dev);
  const ino = fs.create(1, 'f', 0o644).ino;
  for (let i = 0; i < 5; i++) {
    fs.write(ino, i * 100, content(i, 100));
    fs.fsync(ino);
  }
  fs.vol.abandon();
  const msgs: string[] = [];
  const m = FileSystem.mount(dev, { log: (x) => msgs.push(x) });
  t.equal(m.vol.mount.groups, 5, 'five fsync groups rolled forward');
  t.match(m.vol.mount.redoStop, /^end of chain after \d+ blocks$/, `stopped at the end: ${m.vol.mount.redoStop}`);
  t.notMatch(msgs.join('\n'), /corrupt|CRC|magic/i, 'nothing logged as damage');
  m.unmount();
  fsck_ok(t, dev);
});

/** Checks that the numbers of an ENOSPC message, from the file layer or the cleaner, add up. */
function enospc_adds_up(t: Test, msg: string): void {
  const f = /\((\d+) blocks wanted, (\d+) free: (\d+) of (\d+) usable blocks in use\)/.exec(msg);
  const c = /(\d+) blocks wanted, (\d+) left: (\d+) free blocks, of which (.*), leave (\d+)(?:, and (\d+) in holes of used segments)?; nothing more to clean/.exec(msg);
  t.ok(f || c, `ENOSPC with its numbers: ${msg}`);
  if (f) {
    const [wanted, free, used, cap] = f.slice(1).map(Number) as [number, number, number, number];
    t.equal(free, Math.max(0, cap - used), `free ${free} = usable ${cap} − in use ${used}, or 0`);
    t.ok(wanted > free || free === 0, `refused: ${wanted} wanted, ${free} free`);
  }
  if (c) {
    const parts = [...c[4]!.matchAll(/(\d+) for /g)].map((x) => Number(x[1]));
    t.equal(parts.reduce((a, b) => a + b, 0) + Number(c[5]), Number(c[3]), 'what is kept and what is left make the free blocks');
    t.equal(Number(c[5]) + Number(c[6] ?? 0), Number(c[2]), 'what is left, with the holes, is what is said to be left');
    t.ok(Number(c[1]) > Number(c[2]), 'more is wanted than is left');
  }
}

t.test('ENOSPC: the numbers in the message add up', async (t) => {
  const dev = mkfs_mem(2048, SMALL);
  const fs = mount(dev);
  let err: FsError | null = null;
  try {
    for (let i = 0; i < 10_000; i++) fs.write(fs.create(1, `f${i}`, 0o644).ino, 0, content(i, 40_000));
  } catch (e) {
    if (!(e instanceof FsError) || e.code !== 'ENOSPC') throw e;
    err = e;
  }
  t.ok(err, 'the device fills');
  t.comment(err!.message);
  t.match(err!.message, /^ENOSPC: no space left on device \(/, 'from the file layer');
  enospc_adds_up(t, err!.message);
  // the cleaner's own refusal, for file data (which may use holes) and for metadata
  for (const [mode, data] of [['user', true], ['system', false]] as const) {
    let msg = '';
    try { fs.cleaner.prepare(1_000_000, 0, mode, data); } catch (e) { msg = (e as Error).message; }
    t.comment(msg);
    t.match(msg, /nothing more to clean$/, `${mode}${data ? ', file data' : ''}: the cleaner refuses`);
    enospc_adds_up(t, msg);
    t.equal(/for deletes and cleaning/.test(msg), mode === 'user', 'the headroom is kept from users only');
  }
  fs.unmount();
  fsck_ok(t, dev);
});

t.test('ENOSPC from overwrites of a full device: the numbers add up, whichever layer refuses', async (t) => {
  // overwriting mapped blocks asks for no new block at once while the pages already waiting
  // are counted in use: the file layer may refuse with in use past what is usable, or the
  // cleaner when it finds nothing more to clean
  const dev = mkfs_mem(1024, { segBlocks: 16, fanout: 32, uuid: SMALL.uuid! });
  const fs = mount(dev);
  const inos: number[] = [];
  for (let i = 0; i < 300; i++) {
    const ino = fs.create(1, `f${i}`, 0o644).ino;
    fs.write(ino, 0, content(i, i % 3 === 0 ? 9000 : 100 + i));
    inos.push(ino);
  }
  fs.sync();
  let msg = '';
  try {
    for (let round = 0; round < 20; round++) for (let i = round % 5; i < 300; i += 5) fs.write(inos[i]!, 0, content(1000 * round + i, 8000));
  } catch (e) {
    if (!(e instanceof FsError) || e.code !== 'ENOSPC') throw e;
    msg = e.message;
  }
  t.comment(msg);
  enospc_adds_up(t, msg);
  fs.unmount();
  fsck_ok(t, dev);
});

t.test('fsck tells its progress and keeps its recounts small', async (t) => {
  const dev = mkfs_mem(16384, { uuid: SMALL.uuid! });
  const fs = mount(dev);
  for (let d = 0; d < 4; d++) {
    const dir = fs.mkdir(1, `d${d}`, 0o755).ino;
    for (let i = 0; i < 500; i++) fs.write(fs.create(dir, `f${i}`, 0o644).ino, 0, content(i, i % 5 === 0 ? 6000 : 500));
  }
  fs.unmount();
  const seen = new Map<string, number>();
  const r = fsck(dev, { readOnly: true, progress: (p: FsckProgress) => { seen.set(p.phase, Math.max(seen.get(p.phase) ?? 0, p.done)); } });
  t.same(r.errors, [], 'clean');
  for (const phase of ['tables', 'trees', 'nodes', 'records', 'blocks']) t.ok(seen.has(phase), `progress of ${phase} (${seen.get(phase)})`);
  t.ok(r.memoryBytes < 256 << 10, `recounts of ${r.counts.inodes} inodes in ${(r.memoryBytes / 1024).toFixed(0)} KiB`);
});

t.test('fsck writes nothing when a newer checkpoint is damaged: what it would write loses it for good', async (t) => {
  const dev = mkfs_mem(4096);
  const fs = mount(dev);
  for (let i = 0; i < 200; i++) fs.write(fs.create(1, `f${i}`, 0o644).ino, 0, content(i, 300));
  fs.unmount();
  // the leaf with the volume counters: the newest checkpoint does not load without it
  const v = Volume.open(dev, { readOnly: true });
  const addr = v.leaf_addr({ ino: 0, kind: 7, off: 0 } as never);
  v.abandon();
  const b = dev.read(addr);
  b[200]! ^= 0x08;
  dev.write(addr, b);
  const before = dev.image();
  const r = fsck(dev, {});
  t.match(r.errors.join('\n'), /newer checkpoint .* is damaged; mounted checkpoint \d+ instead and lost what came after/, 'the damaged checkpoint is an error');
  t.match(r.warnings.join('\n'), /nothing was written: a newer checkpoint than \d+ is damaged/, 'and fsck says it wrote nothing');
  t.equal(r.recovered, false, 'no recovery checkpoint');
  t.ok(dev.image().equals(before), 'the device is as it was');
});
