// The memory of a mount does not grow with the number of files: while 24,000 files of 4 KiB are
// created in directories of 1,000 under an 8 MiB budget, every cache stays within its share —
// the B+tree nodes counted by the bytes they take, not by their number (a decoded leaf of small
// records takes three times its 4 KiB block, a leaf kept as its block alone a little more than
// the block) — and the page buffers kept for reuse stay within the
// dirty-page bound beside the dirty pages. What the node cache counts is checked against the
// memory its nodes really hold (heap and buffers, measured around a collection). Ends with fsck.

import t from 'tap';
import v8 from 'node:v8';
import vm from 'node:vm';
import { HOT_LEAVES, KEEP_RECENT } from '../../src/btree/nodestore.js';
import { INODE_MEM_BYTES, NODE_MEM_BYTES } from '../../src/checkpoint/budget.js';
import { DIRTY_INODE_MEM_BYTES } from '../../src/fs/inode.js';
import { fsck_ok, mkfs_mem, mount, UUID } from '../helpers/engine.js';

const FILES = 24_000;
const PER_DIR = 1000;
const BUDGET = 8 << 20;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

t.test(`${FILES} files of 4 KiB under cache=8M: every cache within its share`, (t) => {
  const dev = mkfs_mem(1 << 16, { uuid: UUID });
  const f = mount(dev, { cacheBytes: BUDGET, dirtyBytesMax: 4 << 20 });
  const nodes = f.vol.nodes;
  t.equal(nodes.cacheBytes, (BUDGET * 5) / 8, 'the nodes\' share: five eighths of the budget, in bytes');
  const data = Buffer.alloc(4096);
  let dir = 0;
  const most = { nodeBytes: 0, nodes: 0, inodes: 0, pages: 0, poolAndDirty: 0 };
  for (let i = 0; i < FILES; i++) {
    if (i % PER_DIR === 0) dir = f.mkdir(1, `d${i / PER_DIR}`, 0o755).ino;
    data.writeUInt32LE(i, 0);
    const ino = f.create(dir, `f${i}`, 0o644).ino;
    f.write(ino, 0, data);
    if (i % 100 === 99) {
      const m = f.memory();
      most.nodeBytes = Math.max(most.nodeBytes, m.nodeBytes);
      most.nodes = Math.max(most.nodes, m.nodes);
      most.inodes = Math.max(most.inodes, m.inodes - m.inodesPinned);
      most.pages = Math.max(most.pages, m.tablePages - m.tablePagesDirty);
      most.poolAndDirty = Math.max(most.poolAndDirty, m.pagePoolBytes + m.dirtyMemBytes);
    }
  }
  f.sync();
  const m = f.memory();
  t.ok(m.nodeEvictions > 0, `nodes were evicted (${m.nodeEvictions}): ${FILES} files need more than the share`);
  // dirty nodes are pinned until the checkpoint their bytes trigger at half the share; between
  // two looks, the nodes one create dirtied (a few leaves and their parents) may pass it
  t.ok(most.nodeBytes <= nodes.cacheBytes + (64 << 10), `the node cache took at most ${(most.nodeBytes / 2 ** 20).toFixed(2)} MiB (${most.nodes} nodes), its share ${(nodes.cacheBytes / 2 ** 20).toFixed(2)} MiB`);
  t.ok(most.inodes <= m.inodesMax, `at most ${most.inodes} inodes cached and not pinned, of ${m.inodesMax}`);
  t.ok(most.pages <= m.tablePagesMax, `at most ${most.pages} clean table pages, of ${m.tablePagesMax}`);
  // (the bound is checked as each operation starts: a write that takes a page from the pool for a
  // new file adds what the file's inode takes beside it)
  t.ok(most.poolAndDirty <= m.dirtyPageBytesMax + DIRTY_INODE_MEM_BYTES, `dirty pages with their inodes and free pages kept at most ${(most.poolAndDirty / 2 ** 20).toFixed(2)} MiB together, the bound ${(m.dirtyPageBytesMax / 2 ** 20).toFixed(1)} MiB`);
  t.ok(m.pagesReused > FILES / 2, `pages written were reused by later files (${m.pagesReused} times)`);

  // inodes without dirty pages share one set of empty page maps: the sync gave theirs back
  const cached = [...f.icache.all()];
  const own = cached.filter((x) => x.pages !== cached[0]!.pages || x.ranges !== cached[0]!.ranges || x.logged !== cached[0]!.logged).length;
  t.equal(own, 0, `after the sync none of the ${cached.length} cached inodes holds page maps of its own`);
  // and what a cached inode takes is within what the budget counts for it
  gc(); gc();
  const heap0 = process.memoryUsage().heapUsed;
  const inodes = f.icache.size;
  f.icache.drop_clean();
  gc(); gc();
  const perInode = (heap0 - process.memoryUsage().heapUsed) / (inodes - f.icache.size);
  t.ok(perInode <= INODE_MEM_BYTES, `${inodes - f.icache.size} cached inodes dropped freed ${perInode.toFixed(0)} bytes each, at most ${INODE_MEM_BYTES}`);

  // what the cache counts against what its nodes hold: drop them all and measure what is freed,
  // with leaves in both forms (the sync wrote every leaf and kept it as its block; looking up
  // the files of a few directories decodes theirs again)
  t.equal(nodes.dirtyCount, 0, 'after the sync every node is clean');
  t.equal(nodes.hotCount, 0, 'after the sync every leaf is kept as its block alone');
  for (let i = 0; i < 5 * PER_DIR; i++) f.resolve(`/d${Math.floor(i / PER_DIR)}/f${i}`);
  const decoded = nodes.hotCount;
  t.ok(decoded > 0 && decoded <= HOT_LEAVES, `${decoded} leaves decoded again by looking up ${5 * PER_DIR} files (${nodes.decodes} decodes)`);
  const counted = nodes.bytes;
  const n = nodes.cachedCount;
  gc(); gc();
  const before = process.memoryUsage();
  nodes.drop_clean();
  gc(); gc();
  const after = process.memoryUsage();
  const freed = before.heapUsed + before.external - after.heapUsed - after.external;
  t.ok(freed <= counted * 1.2 && freed >= counted * 0.5, `${n} nodes counted at ${(counted / 2 ** 20).toFixed(2)} MiB hold ${(freed / 2 ** 20).toFixed(2)} MiB`);

  for (const i of [0, FILES / 2, FILES - 1]) t.equal(f.read(f.resolve(`/d${Math.floor(i / PER_DIR)}/f${i}`), 0, 4).readUInt32LE(0), i, `f${i} reads back`);
  f.unmount();
  fsck_ok(t, dev);
  t.end();
});

t.test('an inode with dirty pages takes at most DIRTY_INODE_MEM_BYTES beside them, and the dirty bound counts it', (t) => {
  const N = 10_000;
  const dev = mkfs_mem(1 << 17, { uuid: UUID });
  const f = mount(dev, { cacheBytes: 64 << 20, dirtyBytesMax: 256 << 20 });
  const dir = f.mkdir(1, 'd', 0o755).ino;
  const inos: number[] = [];
  for (let i = 0; i < N; i++) inos.push(f.create(dir, `f${i}`, 0o644).ino);
  f.sync();
  t.equal(f.memory().dirtyInodes, 0, 'after the sync no inode holds dirty pages');
  const page = Buffer.alloc(4096, 7);
  gc(); gc();
  const heap0 = process.memoryUsage().heapUsed;
  for (const ino of inos) f.write(ino, 0, page);
  gc(); gc();
  // on V8's heap: the page maps, the pages' buffer objects, the times, and the tree's leaves the
  // writes changed (decoded and pinned until the checkpoint)
  const perInode = (process.memoryUsage().heapUsed - heap0) / N;
  const m = f.memory();
  t.equal(m.dirtyInodes, N, `${N} inodes hold a dirty page each`);
  t.equal(m.dirtyMemBytes, m.dirtyPageBytes + N * DIRTY_INODE_MEM_BYTES, 'the dirty memory counts the pages and the inodes holding them');
  t.ok(perInode <= DIRTY_INODE_MEM_BYTES, `an inode with one dirty page took ${perInode.toFixed(0)} bytes of heap beside its page, at most ${DIRTY_INODE_MEM_BYTES}`);
  f.sync();
  t.equal(f.memory().dirtyInodes, 0, 'the sync wrote them: no inode holds page maps of its own');
  f.unmount();

  // under a small bound, files of one page each are written back for the inodes they pin, not
  // only for their pages: 2,000 such files take 8 MiB of pages but 11 MiB with their inodes
  const f2 = mount(dev, { cacheBytes: 64 << 20, dirtyBytesMax: 8 << 20 });
  let most = 0;
  for (let i = 0; i < 2000; i++) {
    f2.write(f2.create(dir, `g${i}`, 0o644).ino, 0, page);
    most = Math.max(most, f2.memory().dirtyMemBytes);
  }
  t.ok(most <= (8 << 20) + 4096 + DIRTY_INODE_MEM_BYTES, `dirty memory stayed within the 8 MiB bound (at most ${(most / 2 ** 20).toFixed(2)} MiB)`);
  f2.unmount();
  fsck_ok(t, dev);
  t.end();
});

t.test('caches scaled down (the resident bound) evict to the smaller shares at once and stay within them', (t) => {
  const dev = mkfs_mem(1 << 16, { uuid: UUID });
  const f = mount(dev, { cacheBytes: BUDGET, dirtyBytesMax: 32 << 20 });
  const data = Buffer.alloc(4096);
  let made = 0;
  const create = (n: number, each?: () => void): void => {
    for (let i = 0; i < n; i++, made++) {
      if (made % PER_DIR === 0) f.mkdir(1, `d${made / PER_DIR}`, 0o755);
      data.writeUInt32LE(made, 0);
      f.write(f.create(f.resolve(`/d${Math.floor(made / PER_DIR)}`), `f${made}`, 0o644).ino, 0, data);
      if (i % 100 === 99) each?.();
    }
  };
  create(8000);
  const whole = f.memory();
  const full = f.caches_bytes();
  t.ok(full.used > full.shares / 4, `the caches hold ${(full.used / 2 ** 20).toFixed(1)} MiB of ${(full.shares / 2 ** 20).toFixed(1)} MiB of shares`);

  f.caches_scale(0.25);
  let m = f.memory();
  t.equal(m.cacheScale, 0.25);
  t.equal(m.nodeBytesMax, Math.max(2 * KEEP_RECENT * NODE_MEM_BYTES, Math.floor(whole.nodeBytesMax / 4)), 'the nodes\' share a quarter, or room for the nodes never evicted and as many dirty');
  t.equal(m.tablePagesMax, Math.max(64, Math.floor(whole.tablePagesMax / 4)), 'the table pages\' share');
  t.equal(m.inodesMax, Math.max(256, Math.floor(whole.inodesMax / 4)), 'the inodes\' share');
  t.equal(m.dirtyPageBytesMax, 8 << 20, 'the dirty pages\' bound a quarter of 32 MiB');
  const nodes = f.vol.nodes;
  t.ok(nodes.bytes <= nodes.cacheBytes || nodes.cachedCount - nodes.dirtyCount <= KEEP_RECENT, `clean nodes beyond the share went at once (${(nodes.bytes / 2 ** 20).toFixed(2)} MiB, ${(nodes.dirtyBytes / 2 ** 20).toFixed(2)} of it dirty)`);
  t.ok(m.tablePages - m.tablePagesDirty <= m.tablePagesMax, 'clean table pages beyond the share went at once');
  t.ok(m.pagePoolBytes + m.dirtyMemBytes <= m.dirtyPageBytesMax || m.pagePoolBytes === 0, 'free pages beyond the lower bound let go');

  const most = { nodeBytes: 0, pages: 0, inodes: 0, dirty: 0 };
  create(8000, () => {
    const x = f.memory();
    most.nodeBytes = Math.max(most.nodeBytes, x.nodeBytes);
    most.pages = Math.max(most.pages, x.tablePages - x.tablePagesDirty);
    most.inodes = Math.max(most.inodes, x.inodes - x.inodesPinned);
    most.dirty = Math.max(most.dirty, x.dirtyMemBytes + x.pagePoolBytes);
  });
  m = f.memory();
  t.ok(most.nodeBytes <= m.nodeBytesMax + (64 << 10), `8,000 more files: the nodes took at most ${(most.nodeBytes / 2 ** 20).toFixed(2)} MiB of ${(m.nodeBytesMax / 2 ** 20).toFixed(2)}`);
  t.ok(most.pages <= m.tablePagesMax, `at most ${most.pages} clean table pages of ${m.tablePagesMax}`);
  t.ok(most.inodes <= m.inodesMax, `at most ${most.inodes} unpinned inodes of ${m.inodesMax}`);
  t.ok(most.dirty <= m.dirtyPageBytesMax + DIRTY_INODE_MEM_BYTES, `dirty and free pages at most ${(most.dirty / 2 ** 20).toFixed(2)} MiB of ${(m.dirtyPageBytesMax / 2 ** 20).toFixed(0)}`);

  f.caches_scale(1);
  m = f.memory();
  t.same([m.nodeBytesMax, m.tablePagesMax, m.inodesMax, m.dirtyPageBytesMax], [whole.nodeBytesMax, whole.tablePagesMax, whole.inodesMax, 32 << 20], 'scaled back: the whole shares again');
  for (let i = 0; i < made; i += 997) t.equal(f.read(f.resolve(`/d${Math.floor(i / PER_DIR)}/f${i}`), 0, 4).readUInt32LE(0), i, `file ${i} reads back`);
  f.sync();
  f.unmount();
  fsck_ok(t, dev);
  t.end();
});
