// The B+tree's own check (BTree.check, what fsck runs on every tree): a tree built by put/del is
// valid at small fanout, and each broken invariant, made by hand in a node, is reported.

import t from 'tap';
import { BTree } from '../../src/btree/btree.js';
import { child_index, key_index, lower_bound } from '../../src/btree/search.js';
import type { NodeStore } from '../../src/btree/store.js';
import type { InnerBody, LeafBody, NodeBody } from '../../src/format/node.js';
import { key, RecKind } from '../../src/format/records.js';
import { nid_of } from '../../src/util/ids.js';
import type { NodeId } from '../../src/util/ids.js';

/** Nodes in a map, reference counts beside them: the smallest store the tree runs on. */
class MapStore implements NodeStore {
  readonly fanout: number;
  readonly nodes = new Map<NodeId, NodeBody>();
  readonly counts = new Map<NodeId, number>();
  private next = 1;
  constructor(fanout: number) { this.fanout = fanout; }
  get(nid: NodeId): NodeBody {
    const n = this.nodes.get(nid);
    if (!n) throw new Error(`no node ${nid}`);
    return n;
  }
  create(body: NodeBody): NodeId {
    const nid = nid_of(this.next++);
    this.nodes.set(nid, body);
    this.counts.set(nid, 1);
    return nid;
  }
  dirty(): void {}
  refs(nid: NodeId): number { return this.counts.get(nid) ?? 0; }
  ref_inc(nid: NodeId): void { this.counts.set(nid, this.refs(nid) + 1); }
  ref_dec(nid: NodeId): void {
    const n = this.refs(nid) - 1;
    this.counts.set(nid, n);
    if (n === 0) this.nodes.delete(nid);
  }
  leaf_shared(): void {}
  leaf_dropped(): void {}
}

const k = (i: number) => key(i, RecKind.INODE, 0);
const val = (i: number) => Buffer.from(`v${i}`);

function tree_of(n: number, fanout = 4): { s: MapStore; tree: BTree; root: NodeId } {
  const s = new MapStore(fanout);
  const tree = new BTree(s);
  let root = tree.create_empty();
  for (let i = 0; i < n; i++) root = tree.put(root, k((i * 37) % n + 1), val(i));
  return { s, tree, root };
}

function inner_of(s: MapStore, root: NodeId): InnerBody {
  const n = s.get(root);
  if (n.level === 0) throw new Error('root is a leaf');
  return n as InnerBody;
}

t.test('binary searches over a node', async (t) => {
  const keys = [k(2), k(4), k(6)];
  t.same([1, 2, 3, 4, 5, 6, 7].map((i) => lower_bound(keys, k(i))), [0, 0, 1, 1, 2, 2, 3]);
  t.same([1, 2, 3, 4, 5, 6, 7].map((i) => child_index(keys, k(i))), [0, 0, 0, 1, 1, 2, 2]);
  t.same([2, 3, 6].map((i) => key_index(keys, k(i))), [0, -1, 2]);
});

t.test('a tree built by puts and deletes checks clean at fanout 4', async (t) => {
  const { s, tree } = tree_of(300);
  let { root } = tree_of(0);
  const tree2 = new BTree(s);
  root = tree2.create_empty();
  for (let i = 1; i <= 300; i++) root = tree2.put(root, k(i), val(i));
  for (let i = 1; i <= 300; i += 3) root = tree2.del(root, k(i)).root;
  t.same(tree2.check(root), [], 'no issue');
  t.ok(s.get(root).level >= 3, `deep tree (root at level ${s.get(root).level})`);
  let n = 0;
  tree.scan(root, k(0), k(1000), () => { n++; });
  t.equal(n, 200, 'the records left');
});

t.test('each broken invariant is reported with its node', async (t) => {
  {
    const { s, tree, root } = tree_of(100);
    const leafId = tree.leaf_of(root, k(50))!;
    const leaf = s.get(leafId) as LeafBody;
    [leaf.keys[0], leaf.keys[1]] = [leaf.keys[1]!, leaf.keys[0]!];
    const issues = tree.check(root);
    t.ok(issues.some((i) => i.nid === leafId && /out of order/.test(i.what)), `keys out of order in leaf ${leafId}: ${JSON.stringify(issues)}`);
  }
  {
    const { s, tree, root } = tree_of(100);
    const leafId = tree.leaf_of(root, k(1))!;
    const leaf = s.get(leafId) as LeafBody;
    leaf.keys.push(k(1000));
    leaf.vals.push(val(1000));
    const issues = tree.check(root);
    t.ok(issues.some((i) => i.nid === leafId && /at or above its range/.test(i.what)), 'a key outside the range its parent gives');
  }
  {
    const { s, tree, root } = tree_of(100);
    const top = inner_of(s, root);
    top.kids[1] = nid_of(9999);
    const issues = tree.check(root);
    t.ok(issues.some((i) => i.nid === 9999 && /no node 9999/.test(i.what)), 'a child that cannot be read');
  }
  {
    const { s, tree, root } = tree_of(100);
    const top = inner_of(s, root);
    const sub = inner_of(s, top.kids[0]!);
    // a leaf hung one level too high: leaves at different depths
    sub.kids[0] = tree.leaf_of(root, k(1))!;
    top.kids[0] = sub.kids[0]!;
    const issues = tree.check(root);
    t.ok(issues.some((i) => /level|depth/.test(i.what)), `a child at the wrong level: ${issues.map((i) => i.what).join('; ')}`);
  }
  {
    const { s, tree, root } = tree_of(100);
    const leafId = tree.leaf_of(root, k(50))!;
    const leaf = s.get(leafId) as LeafBody;
    for (let i = 0; i < 4; i++) { leaf.keys.splice(1, 0, key(leaf.keys[0]!.ino, RecKind.INODE, i + 1)); leaf.vals.splice(1, 0, val(i)); }
    const issues = tree.check(root);
    t.ok(issues.some((i) => i.nid === leafId && /exceed fanout/.test(i.what)), 'more entries than the fanout');
  }
  {
    const { s, tree, root } = tree_of(100);
    const top = inner_of(s, root);
    top.kids[1] = root;
    const issues = tree.check(root);
    t.ok(issues.length > 0, `a cycle is reported, not followed forever (${issues.length} issues)`);
  }
});
