// lz4 compression of file data (src/fs/compress.ts, src/format/cluster.ts): every shape a
// cluster can take read back exactly, incompressible data stored plain, a damaged cluster is
// EIO naming its block, snapshots share compressed clusters and the cleaner moves them, df and
// du show the compressed size, the per-file attribute and its inheritance. Each test ends with
// fsck, which decompresses every cluster.

import t from 'tap';
import { BLOCK_SIZE } from '../../src/device/device.js';
import { FileSystem } from '../../src/fs/fs.js';
import { Volume } from '../../src/checkpoint/volume.js';
import { BlockKind } from '../../src/log/segments.js';
import { CLUSTER_BLOCKS } from '../../src/format/cluster.js';
import { clusterStats } from '../../src/checkpoint/cluster_read.js';
import { fsck } from '../../src/fsck/fsck.js';
import { Prng } from '../../src/util/prng.js';
import { fsck_ok, mkfs_mem, UUID } from '../helpers/engine.js';
import { content, content_text } from '../helpers/model.js';

const BLOCKS = 8192;
const LZ4 = { segBlocks: 64, fanout: 16, uuid: UUID, compress: 'lz4' } as const;
const C = CLUSTER_BLOCKS * BLOCK_SIZE;

/** the blocks of inode `ino` on the device: [file block, address, compressed] */
function data_blocks(dev: Parameters<typeof Volume.open>[0], ino: number): { idx: number; addr: number }[] {
  const v = Volume.open(dev, { readOnly: true });
  const out: { idx: number; addr: number }[] = [];
  for (let a = v.g.mainStart; a < v.g.mainStart + v.g.segCount * v.g.segBlocks; a++) {
    const s = v.log.summary(a);
    if (v.log.refs(a) > 0 && s.kind === BlockKind.DATA && s.owner === ino) out.push({ idx: s.offset, addr: a });
  }
  v.abandon();
  return out.sort((x, y) => x.idx - y.idx);
}

t.test('every cluster shape reads back what was written, before and after a remount', async (t) => {
  const mem = mkfs_mem(BLOCKS, LZ4);
  let fs = FileSystem.mount(mem);
  const want = new Map<string, Buffer>();
  const file = (name: string, size: number): number => {
    const f = fs.create(1, name, 0o644);
    want.set(name, Buffer.alloc(size));
    return f.ino;
  };
  const put = (name: string, ino: number, off: number, b: Buffer): void => {
    fs.write(ino, off, b);
    const w = want.get(name)!;
    const grown = Buffer.alloc(Math.max(w.length, off + b.length));
    w.copy(grown);
    b.copy(grown, off);
    want.set(name, grown);
  };
  // whole clusters and a partial last one (3 blocks and 100 bytes)
  const a = file('whole', 0);
  put('whole', a, 0, content_text(1, 5 * C + 3 * BLOCK_SIZE + 100));
  // holes: a cluster with a hole in the middle, a cluster that is all hole, data after
  const b = file('holes', 0);
  put('holes', b, 0, content_text(2, 2 * BLOCK_SIZE));
  put('holes', b, 5 * BLOCK_SIZE, content_text(3, 2 * BLOCK_SIZE));
  put('holes', b, 3 * C, content_text(4, C));
  // a file of two blocks: the shortest cluster that can save one
  const c = file('two', 0);
  put('two', c, 0, content_text(5, BLOCK_SIZE + 1));
  fs.sync();
  t.ok(fs.compression.stats.clusters >= 7, `${fs.compression.stats.clusters} clusters written compressed`);
  // overwrites inside compressed clusters: a few bytes, a whole block, across two clusters
  put('whole', a, 3 * BLOCK_SIZE + 17, Buffer.from('overwritten inside a cluster'));
  put('whole', a, C + 2 * BLOCK_SIZE, content_text(6, BLOCK_SIZE));
  put('whole', a, 2 * C - 500, content_text(7, 1000));
  fs.fsync(a);
  // extending the partial last cluster, and writing into a cluster's hole
  put('whole', a, 5 * C + 3 * BLOCK_SIZE + 100, content_text(8, 2 * BLOCK_SIZE));
  put('holes', b, 3 * BLOCK_SIZE, content_text(9, 100));
  fs.sync();
  t.ok(fs.compression.stats.rmwLoads >= 3, `${fs.compression.stats.rmwLoads} clusters read for a write into them`);
  // truncates: inside a compressed cluster, at a cluster boundary, to inside the first block
  const d = file('trunc', 0);
  put('trunc', d, 0, content_text(10, 4 * C));
  fs.sync();
  fs.truncate(d, 2 * C + 3 * BLOCK_SIZE + 10);
  want.set('trunc', want.get('trunc')!.subarray(0, 2 * C + 3 * BLOCK_SIZE + 10));
  t.same(fs.read(d, 0, 4 * C), want.get('trunc'), 'cut inside a cluster');
  // extending after the cut reads zeros past the old end
  fs.truncate(d, 3 * C);
  want.set('trunc', Buffer.concat([want.get('trunc')!, Buffer.alloc(3 * C - want.get('trunc')!.length)]));
  t.same(fs.read(d, 0, 4 * C), want.get('trunc'), 'extended: zeros where the cut was');
  fs.truncate(d, C);
  want.set('trunc', want.get('trunc')!.subarray(0, C));
  fs.truncate(d, 100);
  want.set('trunc', want.get('trunc')!.subarray(0, 100));
  const check = (label: string): void => {
    for (const [name, w] of want) {
      const ino = fs.lookup(1, name).ino;
      t.same(fs.read(ino, 0, w.length + 10000), w, `${label}: ${name} (${w.length} bytes)`);
      // and in small reads that cross blocks and clusters
      const rng = new Prng(w.length);
      for (let i = 0; i < 40; i++) {
        const off = rng.int(0, w.length);
        const len = rng.int(1, 3 * BLOCK_SIZE);
        if (!fs.read(ino, off, len).equals(w.subarray(off, off + len))) { t.fail(`${label}: ${name}: ${len} bytes at ${off}`); return; }
      }
    }
  };
  check('cached');
  fs.sync();
  fs.cache_drop();
  check('from the device');
  fs.unmount();
  fs = FileSystem.mount(mem);
  check('after a remount');
  fs.unmount();
  const r = fsck(mem, { readOnly: true, data: true });
  t.ok(r.counts.compressedClusters >= 8, `fsck decompressed ${r.counts.compressedClusters} clusters`);
  fsck_ok(t, mem);
});

/** A device with one file 'f' of four clusters of text (seed `seed`), unmounted. */
function four_clusters(seed: number): { mem: ReturnType<typeof mkfs_mem>; ino: number; data: Buffer } {
  const mem = mkfs_mem(BLOCKS, LZ4);
  const fs = FileSystem.mount(mem);
  const f = fs.create(1, 'f', 0o644);
  const data = content_text(seed, 4 * C);
  fs.write(f.ino, 0, data);
  fs.unmount();
  return { mem, ino: f.ino, data };
}

t.test('a cluster is decompressed once for reads of its blocks one at a time', async (t) => {
  const { mem, ino, data } = four_clusters(20);
  const f = { ino };
  const again = FileSystem.mount(mem);
  const before = clusterStats.decompressed;
  let same = 0;
  for (let off = 0; off < data.length; off += BLOCK_SIZE) if (again.read(f.ino, off, BLOCK_SIZE).equals(data.subarray(off, off + BLOCK_SIZE))) same++;
  t.equal(same, 32, 'every block reads back');
  t.equal(clusterStats.decompressed - before, 4, '32 reads of 4 KiB, 4 clusters decompressed');
  again.unmount();
  fsck_ok(t, mem);
});

t.test('incompressible data is stored as it is, in no more blocks than without compression', async (t) => {
  const plain = mkfs_mem(BLOCKS, { ...LZ4, compress: 'none' });
  const comp = mkfs_mem(BLOCKS, LZ4);
  const used: number[] = [];
  for (const mem of [plain, comp]) {
    const fs = FileSystem.mount(mem);
    const f = fs.create(1, 'random', 0o644);
    fs.write(f.ino, 0, content(30, 64 * C + 5000));
    fs.sync();
    used.push(fs.getattr(f.ino).blocks / 8);
    if (mem === comp) {
      const s = fs.compression.stats;
      t.equal(s.clusters, 0, 'no cluster written compressed');
      t.ok(s.skippedEntropy >= 60, `${s.skippedEntropy} clusters skipped by the entropy sample, ${s.plainFallback} tried and kept plain`);
    }
    t.same(fs.read(f.ino, 0, 64 * C + 5000), content(30, 64 * C + 5000), 'reads back');
    fs.unmount();
    fsck_ok(t, mem);
  }
  t.equal(used[1], used[0], `${used[1]} blocks with lz4, ${used[0]} without`);
});

t.test('rewriting compressed data with random data: admitted at write(2), never ENOSPC later', async (t) => {
  // a 4 MiB device: fill it with compressed text, then overwrite all of it with random bytes
  const mem = mkfs_mem(1024, { segBlocks: 16, fanout: 16, uuid: UUID, compress: 'lz4' });
  const fs = FileSystem.mount(mem, { dirtyBytesMax: 1 << 20 });
  const f = fs.create(1, 'f', 0o644);
  let size = 0;
  for (;;) {
    try {
      fs.write(f.ino, size, content_text(40 + size, C));
      size += C;
      fs.sync();
    } catch (e) {
      t.equal((e as { code?: string }).code, 'ENOSPC', `filled with ${size >> 10} KiB of text`);
      break;
    }
  }
  const cap = fs.statfs().blocks;
  t.ok(size / BLOCK_SIZE > cap, `${size / BLOCK_SIZE} blocks of text stored in a capacity of ${cap}`);
  // half of it goes: room for a part of the rest to be rewritten with incompressible data
  size = Math.floor(size / 2 / C) * C;
  fs.truncate(f.ino, size);
  fs.sync();
  let rewritten = 0;
  for (let off = 0; off < size; off += C) {
    try {
      fs.write(f.ino, off, content(off, C));
      rewritten += C;
    } catch (e) {
      t.equal((e as { code?: string }).code, 'ENOSPC', `write(2) itself refused at ${off >> 10} KiB`);
      break;
    }
    // everything write(2) accepted reaches the device
    fs.fsync(f.ino);
  }
  t.ok(rewritten > 0 && rewritten < size, `${rewritten >> 10} of ${size >> 10} KiB rewritten with random data before ENOSPC`);
  fs.unmount();
  fsck_ok(t, mem);
});

t.test('a damaged compressed block: EIO naming the block, the other clusters read fine', async (t) => {
  const { mem, ino, data } = four_clusters(50);
  const f = { ino };
  // the second cluster's first stored block
  const target = data_blocks(mem, f.ino).find((b) => b.idx === CLUSTER_BLOCKS)!;
  t.ok(target, `cluster 1 is stored from address ${target.addr}`);
  const b = mem.read(target.addr);
  b[10]! ^= 0x40;
  mem.write(target.addr, b);
  const again = FileSystem.mount(mem);
  t.same(again.read(f.ino, 0, C), data.subarray(0, C), 'cluster 0 reads fine');
  t.same(again.read(f.ino, 2 * C, 2 * C), data.subarray(2 * C), 'clusters 2 and 3 read fine');
  for (let j = 0; j < CLUSTER_BLOCKS; j++) {
    t.throws(() => again.read(f.ino, C + j * BLOCK_SIZE + 5, 10), { code: 'EIO', message: new RegExp(`address ${target.addr} \\(inode ${f.ino}, file block ${CLUSTER_BLOCKS}\\)`) }, `block ${CLUSTER_BLOCKS + j} of the damaged cluster`);
  }
  t.throws(() => again.write(f.ino, C + 100, Buffer.from('x')), { code: 'EIO' }, 'a write into it needs its content: EIO too');
  again.unmount();
  const r = fsck(mem, { readOnly: true, data: true });
  t.ok(r.errors.some((e) => e.includes(`data block ${target.addr}`)), `fsck names the block: ${r.errors[0]}`);
});

t.test('snapshots share compressed clusters; the cleaner moves them and both trees still read', async (t) => {
  // segments of 8 blocks: the file's blocks lie in several, most of them no head's
  const mem = mkfs_mem(BLOCKS, { ...LZ4, segBlocks: 8 });
  const fs = FileSystem.mount(mem);
  const f = fs.create(1, 'f', 0o644);
  const old = content_text(60, 6 * C);
  fs.write(f.ino, 0, old);
  const r1 = fs.snapshot([{ op: 'create', name: 'before' }]);
  t.ok(r1[0]!.ok, 'snapshot taken');
  const usedShared = fs.statfs().blocks - fs.statfs().bfree;
  // change one block in the live tree: its cluster is rewritten, the snapshot keeps the old one
  const now = Buffer.from(old);
  Buffer.from('changed after the snapshot').copy(now, 2 * C + 10);
  fs.write(f.ino, 2 * C + 10, Buffer.from('changed after the snapshot'));
  fs.sync();
  const grew = fs.statfs().blocks - fs.statfs().bfree - usedShared;
  t.ok(grew > 0 && grew < CLUSTER_BLOCKS, `the rewritten cluster took ${grew} blocks more (shared ones are not copied)`);
  // move every segment holding blocks of the file
  const before = data_blocks(mem, f.ino);
  const segs = new Set(before.map((b) => fs.vol.log.seg_of(b.addr)));
  let moved = 0;
  for (const s of segs) if (!fs.vol.log.is_head_seg(s)) { fs.cleaner.seg_move(s); moved++; }
  fs.sync();
  const after = data_blocks(mem, f.ino);
  const stayed = after.filter((b) => before.some((x) => x.addr === b.addr)).length;
  t.ok(moved > 0 && fs.cleaner.stats.dataMoved > 0, `${moved} segments moved, ${fs.cleaner.stats.dataMoved} data blocks`);
  t.ok(stayed < before.length, `${before.length - stayed} of ${before.length} stored blocks (both trees') now elsewhere`);
  fs.cache_drop();
  t.same(fs.read(f.ino, 0, 6 * C), now, 'the live tree reads its data');
  fs.unmount();
  const snap = FileSystem.mount(mem, { snapshot: 'before', readOnly: true });
  t.same(snap.read(f.ino, 0, 6 * C), old, 'the snapshot reads the old data');
  snap.unmount();
  fsck_ok(t, mem);
});

t.test('df and du show the compressed size', async (t) => {
  const plain = mkfs_mem(BLOCKS, { ...LZ4, compress: 'none' });
  const comp = mkfs_mem(BLOCKS, LZ4);
  const seen: { used: number; du: number }[] = [];
  for (const mem of [plain, comp]) {
    const fs = FileSystem.mount(mem);
    const before = fs.statfs();
    const f = fs.create(1, 'log', 0o644);
    fs.write(f.ino, 0, content_text(70, 256 * BLOCK_SIZE));
    fs.sync();
    const after = fs.statfs();
    seen.push({ used: before.bfree - after.bfree, du: fs.getattr(f.ino).blocks / 8 });
    fs.unmount();
    fsck_ok(t, mem);
  }
  t.equal(seen[0]!.du, 256, 'without compression: 256 blocks');
  t.ok(seen[1]!.du < 128, `with lz4: st_blocks says ${seen[1]!.du} blocks`);
  t.ok(seen[1]!.used < seen[0]!.used / 2, `df: ${seen[1]!.used} blocks used with lz4, ${seen[0]!.used} without`);
});

t.test('user.cowlog.compress: set per file and directory, inherited by new files, listed', async (t) => {
  const mem = mkfs_mem(BLOCKS, { ...LZ4, compress: 'none' });
  const fs = FileSystem.mount(mem);
  const d = fs.mkdir(1, 'logs', 0o755);
  t.throws(() => fs.getxattr(d.ino, 'user.cowlog.compress'), { code: 'ENODATA' }, 'unset: follows the mount');
  fs.setxattr(d.ino, 'user.cowlog.compress', Buffer.from('lz4'));
  t.same(fs.getxattr(d.ino, 'user.cowlog.compress').toString(), 'lz4', 'set on the directory');
  t.ok(fs.listxattr(d.ino).some((n) => n.toString() === 'user.cowlog.compress'), 'listed');
  t.throws(() => fs.setxattr(d.ino, 'user.cowlog.compress', Buffer.from('zstd')), { code: 'EINVAL' }, 'only lz4 or none');
  const sub = fs.mkdir(d.ino, 'sub', 0o755);
  const f = fs.create(sub.ino, 'app.log', 0o644);
  t.same(fs.getxattr(f.ino, 'user.cowlog.compress').toString(), 'lz4', 'inherited through a new subdirectory');
  const g = fs.create(1, 'plain.log', 0o644);
  for (const ino of [f.ino, g.ino]) fs.write(ino, 0, content_text(80, 64 * BLOCK_SIZE));
  fs.sync();
  t.ok(fs.getattr(f.ino).blocks / 8 < 32, `the file under logs/ is compressed (${fs.getattr(f.ino).blocks / 8} blocks)`);
  t.equal(fs.getattr(g.ino).blocks / 8, 64, 'the file outside follows the mount: plain');
  // per file: none inside a compressing directory
  const h = fs.create(d.ino, 'media', 0o644);
  fs.setxattr(h.ino, 'user.cowlog.compress', Buffer.from('none'));
  fs.write(h.ino, 0, content_text(81, 64 * BLOCK_SIZE));
  fs.removexattr(d.ino, 'user.cowlog.compress');
  t.throws(() => fs.getxattr(d.ino, 'user.cowlog.compress'), { code: 'ENODATA' }, 'removed');
  fs.unmount();
  const again = FileSystem.mount(mem, { compress: 'lz4' });
  t.same(again.getxattr(h.ino, 'user.cowlog.compress').toString(), 'none', 'kept across a remount');
  t.equal(again.getattr(h.ino).blocks / 8, 64, 'the file set to none is plain');
  // the mount option decides for files without a flag
  const k = again.create(1, 'new.log', 0o644);
  again.write(k.ino, 0, content_text(82, 64 * BLOCK_SIZE));
  again.sync();
  t.ok(again.getattr(k.ino).blocks / 8 < 32, 'compress=lz4 at mount: new data compressed');
  again.unmount();
  fsck_ok(t, mem);
});

t.test('small appends with fsync: logged as patches, the cluster written whole at the checkpoint', async (t) => {
  const mem = mkfs_mem(BLOCKS, LZ4);
  const fs = FileSystem.mount(mem);
  const f = fs.create(1, 'wal', 0o644);
  const lines: Buffer[] = [];
  let size = 0;
  for (let i = 0; i < 600; i++) {
    const line = Buffer.from(`${i} 2024-06-01T10:00:00 INFO request served in ${i % 97} ms\n`);
    fs.write(f.ino, size, line);
    size += line.length;
    lines.push(line);
    fs.fsync(f.ino);
    if (i % 150 === 149) fs.sync();
  }
  fs.sync();
  const want = Buffer.concat(lines);
  t.same(fs.read(f.ino, 0, size), want, 'reads back');
  t.ok(fs.getattr(f.ino).blocks / 8 < Math.ceil(size / BLOCK_SIZE), `${fs.getattr(f.ino).blocks / 8} blocks for ${Math.ceil(size / BLOCK_SIZE)} blocks of log`);
  fs.unmount();
  const again = FileSystem.mount(mem);
  t.same(again.read(f.ino, 0, size), want, 'after a remount');
  again.unmount();
  fsck_ok(t, mem);
});
