// Corruption tests: damage each kind of block in turn. Mount must fall back to an older
// checkpoint or fail with an error naming the block; reads of damaged data fail with EIO naming
// the block; fsck reports every damaged metadata block. Never a crash, never silent wrong data.

import t from 'tap';
import { MemoryDevice } from '../../src/device/memory.js';
import { SimDevice } from '../../src/device/sim.js';
import { BLOCK_SIZE } from '../../src/device/device.js';
import { FileSystem } from '../../src/fs/fs.js';
import { Volume } from '../../src/checkpoint/volume.js';
import { fsck } from '../../src/fsck/fsck.js';
import { clock_fixed } from '../../src/checkpoint/clock.js';
import { CorruptError, FsError } from '../../src/util/errors.js';
import { cp_slot_addr } from '../../src/format/geometry.js';
import { BlockKind } from '../../src/log/segments.js';
import { mkfs_mem, mount, SMALL } from '../helpers/engine.js';
import { content } from '../helpers/model.js';

const BLOCKS = 4096;

/** A populated filesystem unmounted cleanly after several checkpoints. */
function populated(): { dev: MemoryDevice; big: Buffer; bigIno: number } {
  const dev = mkfs_mem(BLOCKS);
  const fs = mount(dev);
  const d = fs.mkdir(1, 'd', 0o755);
  for (let i = 0; i < 40; i++) {
    const f = fs.create(d.ino, `f${i}`, 0o644);
    fs.write(f.ino, 0, content(i, 100 + i * 37));
    if (i % 10 === 9) fs.sync();
  }
  const big = content(999, 300_000);
  const b = fs.create(1, 'big', 0o644);
  fs.write(b.ino, 0, big);
  fs.sync();
  fs.unmount();
  return { dev, big, bigIno: b.ino };
}

function flip(dev: MemoryDevice, addr: number, byte = 100): void {
  const b = dev.read(addr);
  b[byte]! ^= 0x40;
  dev.write(addr, b);
}

/** Blocks of each kind, from the summary of a read-only mount. */
function blocks_by_kind(dev: MemoryDevice): { node: { addr: number; level: number }[]; table: number[]; dirTable: number[]; data: number[]; dir: number[]; cpSlot: number; cpSeqs: number } {
  const v = Volume.open(dev, { readOnly: true });
  const out = { node: [] as { addr: number; level: number }[], table: [] as number[], dirTable: [] as number[], data: [] as number[], dir: [] as number[], cpSlot: v.slot, cpSeqs: v.seq };
  for (let a = v.g.mainStart; a < v.g.mainStart + v.g.segCount * v.g.segBlocks; a++) {
    if (v.log.refs(a) === 0) continue;
    const s = v.log.summary(a);
    if (s.kind === BlockKind.NODE) out.node.push({ addr: a, level: s.sub });
    else if (s.kind === BlockKind.TABLE && s.sub === 5) out.dirTable.push(a);
    else if (s.kind === BlockKind.TABLE) out.table.push(a);
    else if (s.kind === BlockKind.DATA) out.data.push(a);
    else if (s.kind === BlockKind.DIR) out.dir.push(a);
  }
  v.abandon();
  return out;
}

t.test('superblock copies', async (t) => {
  const { dev } = populated();
  flip(dev, 0);
  const fs = FileSystem.mount(dev);
  t.ok(fs.resolve('/big') > 1, 'mount reads the copy at block 1 when block 0 is damaged');
  fs.unmount();
  const r = fsck(dev, { readOnly: true });
  t.match(r.errors.join('\n'), /superblock copy at block 0: .*CRC32C/, 'fsck reports the damaged superblock');
  flip(dev, 1);
  t.throws(() => FileSystem.mount(dev), /corrupt superblock block at address 0: both copies damaged/, 'both copies damaged: a clear error');
  const zero = new MemoryDevice(BLOCKS);
  t.throws(() => FileSystem.mount(zero), /not a cowlog filesystem/, 'an empty device is not mistaken for cowlog');
});

t.test('the newest checkpoint, its journal: mount falls back to the previous one', async (t) => {
  const { dev } = populated();
  const info = blocks_by_kind(dev);
  const newest = cp_slot_addr(info.cpSlot);
  flip(dev, newest);
  const v = Volume.open(dev, { readOnly: true });
  t.equal(v.seq, info.cpSeqs - 1, `mount falls back from checkpoint ${info.cpSeqs} to ${info.cpSeqs - 1}`);
  t.match(v.mount.skipped.join(' ') + JSON.stringify(v.mount), /./, 'the skipped checkpoint is reported');
  v.abandon();
  const r = fsck(dev, { readOnly: true, data: true });
  t.same(r.errors, [], 'fsck: a torn newest slot is no error');
  t.match(r.warnings.join('\n'), new RegExp(`checkpoint slot ${info.cpSlot}: .*corrupt checkpoint block at address ${newest}`), 'fsck names the damaged slot');
  const fs = FileSystem.mount(dev);
  t.ok(fs.resolve('/big') > 1, 'the previous checkpoint is a whole filesystem');
  fs.unmount();
  t.same(fsck(dev, { readOnly: true, data: true }).errors, [], 'fsck after mounting the fallback read-write: clean');
});

t.test('a damaged checkpoint journal block', async (t) => {
  const { dev } = populated();
  // make the newest checkpoint carry a journal, then damage its journal block
  const fs = mount(dev);
  fs.setattr(1, { mode: 0o700 });
  fs.unmount();
  const info = blocks_by_kind(dev);
  const slot = cp_slot_addr(info.cpSlot);
  const hdr = dev.read(slot);
  const jblocks = hdr.readUInt32LE(56);
  t.ok(jblocks >= 1, `the newest checkpoint has ${jblocks} journal blocks`);
  const jaddr = hdr.readUInt32LE(128);
  t.ok(jaddr >= 32, `its first journal block is in the log, at ${jaddr}`);
  flip(dev, jaddr);
  const v = Volume.open(dev, { readOnly: true });
  t.equal(v.seq, info.cpSeqs - 1, 'a damaged journal block makes mount fall back');
  v.abandon();
  const r = fsck(dev, { readOnly: true });
  t.match(r.errors.join('\n'), new RegExp(`address ${jaddr}`), 'fsck reports the damaged journal block as an error');
});

t.test('table and directory blocks: mount falls back or the first use stops changes; fsck reports the damage', async (t) => {
  for (const kind of ['table', 'dir'] as const) {
    const { dev } = populated();
    const info = blocks_by_kind(dev);
    // a block the newest checkpoint wrote (so the previous one does not need it); a small
    // filesystem whose DIR table rides in the journal may have no top directory block: then a
    // DIR table block is the directory
    const v0 = Volume.open(dev, { readOnly: true });
    const pool = kind === 'table' ? info.table : info.dir.length ? info.dir : info.dirTable;
    const newest = pool.filter((a) => v0.log.summary(a).birth === v0.seq);
    v0.abandon();
    if (pool.length === 0) {
      t.pass(`${kind}: none on the device (a small filesystem's directory entries all ride in the checkpoint journal)`);
      continue;
    }
    const target = newest[0] ?? pool[0]!;
    t.ok(target > 0, `${kind}: a block at ${target}`);
    flip(dev, target, 200);
    let v: Volume | null = null;
    try {
      v = Volume.open(dev, { readOnly: true });
      if (v.seq < info.cpSeqs) {
        t.pass(`${kind}: mount falls back to checkpoint ${v.seq}`);
        t.match(v.mount.skipped.join('\n'), new RegExp(`address ${target}`), `${kind}: the skipped checkpoint names the block`);
      } else {
        t.pass(`${kind}: mount reads table blocks when they are first needed`);
      }
      v.abandon();
    } catch (e) {
      t.ok(e instanceof CorruptError, `${kind}: or mount fails with a typed error`);
      t.match((e as Error).message, new RegExp(`${target}`), `${kind}: naming the block`);
    }
    const r = fsck(dev, { readOnly: true });
    t.ok(r.errors.length > 0, `${kind}: fsck reports an error, not just a warning`);
    t.match(r.errors.join('\n'), new RegExp(`address ${target}`), `${kind}: fsck names address ${target}`);
  }
});

t.test('a damaged table block read after mount: the filesystem stops changing, nothing more is written', async (t) => {
  // enough files that table blocks are written out (a small filesystem's changes all ride in the
  // checkpoint journal)
  const dev = mkfs_mem(BLOCKS);
  const fs0 = mount(dev);
  for (let i = 0; i < 1500; i++) fs0.create(1, `f${i}`, 0o644);
  fs0.unmount();
  const info = blocks_by_kind(dev);
  const fs = mount(dev);
  fs.vol.cache_drop();
  // a table block whose page is not in memory (changed pages stay pinned until written)
  const target = info.table.find((a) => {
    const sm = fs.vol.log.summary(a);
    return fs.vol.log.refs(a) > 0 && sm.sub !== 5 && !fs.vol.tabs.tables[sm.sub]!.resident(sm.owner);
  })!;
  t.ok(target > 0, `table block at ${target}`);
  const { sub, owner } = fs.vol.log.summary(target);
  fs.vol.cache_drop();
  flip(dev, target, 200);
  t.throws(() => fs.vol.tabs.tables[sub]!.page_at(owner), { code: 'EUCLEAN' }, 'reading the damaged block: a typed error');
  t.throws(() => fs.create(1, 'after', 0o644), /stopped changing after a damaged table block.*run cowlog fsck/, 'the next change: EIO naming why');
  const before = dev.read(0, BLOCKS);
  fs.unmount();
  t.ok(dev.read(0, BLOCKS).equals(before), 'unmount writes nothing more');
  const r = fsck(dev, { readOnly: true });
  t.match(r.errors.join('\n'), new RegExp(`address ${target}`), 'fsck names the block');
});

t.test('B+tree nodes: the damage shows where the node is needed, naming it', async (t) => {
  for (const kind of ['inner', 'leaf'] as const) {
    const { dev } = populated();
    const info = blocks_by_kind(dev);
    const target = info.node.find((n) => (kind === 'inner' ? n.level > 0 : n.level === 0))!.addr;
    flip(dev, target, 200);
    let mounted: FileSystem | null = null;
    try {
      mounted = FileSystem.mount(dev, { readOnly: true });
    } catch (e) {
      t.ok(e instanceof FsError, `${kind}: mount fails with a typed error`);
      t.match((e as Error).message, new RegExp(`${target}`), `${kind}: naming the block (${(e as Error).message.slice(0, 120)})`);
    }
    if (mounted) {
      let seen: Error | null = null;
      try {
        const walk = (ino: number): void => {
          for (const e of mounted!.readdir(ino)) {
            const a = mounted!.getattr(e.ino);
            if ((a.mode & 0o170000) === 0o040000) walk(e.ino);
            else mounted!.read(e.ino, 0, a.size);
          }
        };
        walk(1);
      } catch (e) {
        seen = e as Error;
      }
      t.ok(seen instanceof FsError, `${kind}: reading everything fails with a typed error`);
      t.match(seen?.message ?? '', new RegExp(`address ${target}`), `${kind}: the error names address ${target}`);
    }
    const r = fsck(dev, { readOnly: true });
    t.match(r.errors.join('\n'), new RegExp(`address ${target}`), `${kind}: fsck names address ${target}`);
  }
});

t.test('a damaged data block: EIO naming it, never wrong data', async (t) => {
  const { dev, bigIno } = populated();
  const v = Volume.open(dev, { readOnly: true });
  let target = 0;
  for (let a = v.g.mainStart; a < v.g.mainStart + v.g.segCount * v.g.segBlocks && !target; a++) {
    const s = v.log.summary(a);
    if (v.log.refs(a) > 0 && s.kind === BlockKind.DATA && s.owner === bigIno && s.offset === 5) target = a;
  }
  v.abandon();
  t.ok(target, `block 5 of the big file is at ${target}`);
  flip(dev, target, 7);
  const fs = FileSystem.mount(dev);
  t.same(fs.read(bigIno, 0, 4096).length, 4096, 'undamaged blocks read fine');
  t.throws(() => fs.read(bigIno, 5 * BLOCK_SIZE, 10), { code: 'EIO', message: new RegExp(`address ${target} \\(inode ${bigIno}, file block 5\\)`) }, 'the damaged block gives EIO naming it');
  fs.unmount();
  const r = fsck(dev, { readOnly: true, data: true });
  t.match(r.errors.join('\n'), new RegExp(`data block ${target} .* fails its CRC32C`), 'fsck --data reports it');
});

t.test('roll-forward stops at a damaged redo block and at a group whose data never reached the disk', async (t) => {
  // one fsync group per file; then damage the second group's redo block, or its data
  for (const damage of ['redo', 'data'] as const) {
    const mem = mkfs_mem(BLOCKS);
    const sim = SimDevice.from(mem.image(), { seed: 5, writeLog: true });
    const fs = FileSystem.mount(sim, { clock: clock_fixed(1_700_000_100) });
    const groups: { ino: number; redoAddr: number; dataAddrs: number[] }[] = [];
    for (let i = 0; i < 3; i++) {
      const f = fs.create(1, `g${i}`, 0o644);
      fs.write(f.ino, 0, content(50 + i, 20_000));
      const before = sim.writeLog!.length;
      fs.fsync(f.ino);
      const w = sim.writeLog!.slice(before);
      // the fsync wrote the file's data (one request), then the redo block
      groups.push({ ino: f.ino, redoAddr: w[w.length - 1]!.addr, dataAddrs: w.slice(0, -1).flatMap((x) => Array.from({ length: x.count }, (_, j) => x.addr + j)) });
    }
    const dev = sim.powerCut('all');
    const g = groups[1]!;
    if (damage === 'redo') {
      const b = dev.read(g.redoAddr);
      b[300]! ^= 1;
      dev.write(g.redoAddr, b);
    } else {
      dev.write(g.dataAddrs[2]!, Buffer.alloc(BLOCK_SIZE));
    }
    dev.flush();
    const fs2 = FileSystem.mount(dev);
    t.equal(fs2.vol.mount.groups, 1, `${damage}: only the group before the damage is rolled forward`);
    t.match(fs2.vol.mount.redoStop, damage === 'redo' ? /CRC32C/ : /incomplete: data block/, `${damage}: says why it stopped (${fs2.vol.mount.redoStop})`);
    t.same(fs2.read(fs2.resolve('/g0'), 0, 30_000), content(50, 20_000), `${damage}: the first fsync'd file is whole`);
    t.throws(() => fs2.resolve('/g1'), { code: 'ENOENT' }, `${damage}: the damaged group is not applied`);
    t.throws(() => fs2.resolve('/g2'), { code: 'ENOENT' }, `${damage}: nothing after it is applied`);
    fs2.unmount();
    const r = fsck(dev, { readOnly: true, data: true });
    t.same(r.errors, [], `${damage}: fsck clean after recovery`);
  }
});

t.test('a device of the wrong size or a foreign filesystem', async (t) => {
  const { dev } = populated();
  const small = MemoryDevice.from(dev.image().subarray(0, 1024 * BLOCK_SIZE));
  t.throws(() => FileSystem.mount(small), /needs 4096 blocks but the device has 1024/, 'a truncated device is refused');
  const ext4ish = new MemoryDevice(64);
  const b = Buffer.alloc(BLOCK_SIZE);
  b.writeUInt16LE(0xef53, 1080 - 1024);
  ext4ish.write(0, Buffer.concat([Buffer.alloc(BLOCK_SIZE), b]));
  t.throws(() => FileSystem.mount(ext4ish), /not a cowlog filesystem/, 'a foreign device: not a cowlog filesystem');
  void SMALL;
});
