// The node cache after a checkpoint: a leaf written is kept as the block just written, and
// decoded from it when next used, its values views into that one 4 KiB block (not a buffer of
// their own each); a change gives the leaf a new value and leaves the written block alone; what
// is cached reads the same as the device, before and after a remount, with the cleaner at work.
// Beyond the HOT_LEAVES most recently used, clean leaves are kept as their block alone and
// decoded again when used: counted as such, read as the device, and changed as any other.

import t from 'tap';
import { HOT_LEAVES, NODE_BLOCK_MEM_BYTES, node_mem } from '../../src/btree/nodestore.js';
import { BLOCK_SIZE } from '../../src/device/device.js';
import { is_leaf, node_decode } from '../../src/format/node.js';
import type { LeafBody } from '../../src/format/node.js';
import type { FileSystem } from '../../src/fs/fs.js';
import type { NodeId } from '../../src/util/ids.js';
import { fsck_ok, mkfs_mem, mount } from '../helpers/engine.js';
import { content } from '../helpers/model.js';
import { tree_dump } from '../helpers/tree.js';

/** Every leaf of the live tree, with its node id. */
function leaves(fs: FileSystem): { nid: NodeId; leaf: LeafBody }[] {
  const out: { nid: NodeId; leaf: LeafBody }[] = [];
  fs.vol.tree.leaves(fs.vol.root, new Set(), (nid, leaf) => out.push({ nid, leaf }));
  return out;
}

/** Leaves whose values are not all views into one block of BLOCK_SIZE bytes. */
function not_views(fs: FileSystem): number {
  let n = 0;
  for (const { leaf } of leaves(fs)) {
    const b = leaf.vals[0]?.buffer;
    if (leaf.vals.some((v) => v.buffer !== b || v.buffer.byteLength !== BLOCK_SIZE)) n++;
  }
  return n;
}

/** Leaves whose cached keys and values differ from the block the NAT names. */
function unlike_device(fs: FileSystem): number {
  let n = 0;
  for (const { nid, leaf } of leaves(fs)) {
    const addr = fs.vol.nat.addr(nid);
    const d = node_decode(fs.vol.dev.read(addr), addr, fs.vol.fsid).body;
    if (!is_leaf(d) || JSON.stringify([d.keys, d.vals]) !== JSON.stringify([leaf.keys, leaf.vals])) n++;
  }
  return n;
}

t.test('written nodes keep their block: values are views into it, and read as the device does', async (t) => {
  const dev = mkfs_mem(2048, { segBlocks: 16, fanout: 32, uuid: Buffer.alloc(16, 7) });
  let fs = mount(dev);
  const inos: number[] = [];
  for (let i = 0; i < 300; i++) {
    const ino = fs.create(1, `f${i}`, 0o644).ino;
    fs.write(ino, 0, content(i, i % 3 === 0 ? 9000 : 100 + i));
    fs.setxattr(ino, 'user.n', Buffer.from(`value ${i}`));
    inos.push(ino);
  }
  fs.sync();
  const n = leaves(fs).length;
  t.ok(n > 10, `${n} leaves`);
  t.equal(not_views(fs), 0, 'after a checkpoint every leaf\'s values are views into its one block');
  t.equal(unlike_device(fs), 0, 'and equal to the block on the device');

  // changes put new values in the leaves; the written blocks stay as they were
  for (let i = 0; i < 300; i += 7) fs.setxattr(inos[i]!, 'user.n', Buffer.from(`changed ${i}`));
  t.ok(not_views(fs) > 0, 'a changed leaf holds values of its own until written');
  fs.sync();
  t.equal(not_views(fs), 0, 'written again: views again');
  t.equal(unlike_device(fs), 0, 'equal to the device');

  // overwrites make the cleaner move nodes and reuse the blocks they were read from
  for (let round = 0; round < 6; round++) {
    for (let i = round; i < 300; i += 5) fs.write(inos[i]!, 0, content(1000 * round + i, 8000));
    fs.sync();
    fs.cleaner.round(1 << 30);
  }
  t.ok(fs.cleaner.stats.segmentsCleaned > 0, `the cleaner ran (${fs.cleaner.stats.segmentsCleaned} segments)`);
  t.equal(unlike_device(fs), 0, 'cached leaves still read as the device after cleaning');
  for (let i = 0; i < 300; i += 7) t.equal(fs.getxattr(inos[i]!, 'user.n').toString(), `changed ${i}`, `xattr of f${i}`);
  const before = JSON.stringify([...tree_dump(fs)]);
  fs.unmount();
  fsck_ok(t, dev);
  fs = mount(dev);
  t.equal(JSON.stringify([...tree_dump(fs)]), before, 'the same tree after a remount');
  fs.unmount();
});

t.test('leaves beyond the most recently used are kept as their block, decoded again when used', async (t) => {
  const dev = mkfs_mem(1 << 14, { segBlocks: 64, fanout: 32, uuid: Buffer.alloc(16, 9) });
  let fs = mount(dev);
  const FILES = 10000;
  const inos: number[] = [];
  for (let i = 0; i < FILES; i++) {
    const ino = fs.create(1, `f${i}`, 0o644).ino;
    fs.setxattr(ino, 'user.n', Buffer.from(`value ${i}`));
    inos.push(ino);
  }
  fs.sync();
  const nodes = fs.vol.nodes;
  t.equal(nodes.hotCount, 0, 'a checkpoint keeps the leaves it wrote as their blocks');
  const inner: number[] = [];
  t.same(fs.vol.tree.check(fs.vol.root, (_nid, body) => { if (!is_leaf(body)) inner.push(node_mem(body)); }), [], 'the tree checks');
  const all = leaves(fs);
  t.ok(all.length > HOT_LEAVES, `${all.length} leaves, more than the ${HOT_LEAVES} kept decoded`);
  t.equal(nodes.hotCount, HOT_LEAVES, 'after a walk of all of them, the most recently used are decoded');
  t.ok(nodes.compactions >= all.length - HOT_LEAVES, `the older ones were compacted (${nodes.compactions})`);
  // what the cache counts: each leaf decoded as node_mem says, each kept as its block alone at
  // NODE_BLOCK_MEM_BYTES, the inner nodes decoded
  const hot = new Set(all.slice(-HOT_LEAVES).map((l) => l.nid));
  let expect = 0;
  for (const { nid, leaf } of all) expect += hot.has(nid) ? node_mem(leaf) : NODE_BLOCK_MEM_BYTES;
  expect += inner.reduce((a, b) => a + b, 0);
  t.equal(nodes.bytes, expect, `counted ${nodes.bytes} bytes: ${HOT_LEAVES} leaves decoded, ${all.length - HOT_LEAVES} as blocks, ${inner.length} inner nodes`);
  const decodes = nodes.decodes;
  t.equal(unlike_device(fs), 0, 'every leaf, decoded again from its block, reads as the device');
  t.ok(nodes.decodes > decodes, 'the walk decoded compacted leaves again');
  t.equal(not_views(fs), 0, 'their values are views into the one block');

  // a leaf compacted long ago changes as any other: decoded, dirtied, written
  for (const i of [0, 1, FILES - 1]) fs.setxattr(inos[i]!, 'user.n', Buffer.from(`changed ${i}`));
  fs.sync();
  t.equal(unlike_device(fs), 0, 'after the changes are written, the cache reads as the device');
  const before = JSON.stringify([...tree_dump(fs)]);
  fs.unmount();
  fsck_ok(t, dev);
  fs = mount(dev);
  for (const i of [0, 1, 2, FILES - 1]) t.equal(fs.getxattr(inos[i]!, 'user.n').toString(), i === 2 ? 'value 2' : `changed ${i}`, `xattr of f${i} after a remount`);
  t.equal(JSON.stringify([...tree_dump(fs)]), before, 'the same tree after a remount');
  fs.unmount();
});
