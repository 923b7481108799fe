// Space accounting for snapshots, from the reference counts:
// - what deleting one snapshot would free: the nodes reached from its root through nodes with a
//   single reference (nothing else names them), and the data blocks those leaves alone map.
//   The walk visits only that part, so it costs what the snapshot holds alone, not the volume;
// - what all snapshots hold together (what deleting every one would free): the nodes and data
//   blocks reachable from a snapshot and from neither the mounted tree nor the main tree.

import type { Volume } from '../checkpoint/volume.js';
import { is_leaf } from '../format/node.js';
import { map_decode, MAP_SLOTS, RecKind } from '../format/records.js';
import type { LeafBody } from '../format/node.js';
import type { NodeId } from '../util/ids.js';

export interface Usage {
  nodes: number;
  data: number;
}

function leaf_data(b: LeafBody, fn: (addr: number) => void): void {
  for (let i = 0; i < b.keys.length; i++) {
    if (b.keys[i]!.kind !== RecKind.MAP) continue;
    const m = map_decode(b.vals[i]!);
    for (let s = 0; s < MAP_SLOTS; s++) if (m.addr[s] !== 0) fn(m.addr[s]!);
  }
}

/** Blocks that only the tree at `root` holds (what dropping it would free). */
export function tree_exclusive(v: Volume, root: NodeId): Usage {
  const u: Usage = { nodes: 0, data: 0 };
  const walk = (nid: NodeId): void => {
    if (v.nat.refs(nid) !== 1) return;
    u.nodes++;
    const n = v.nodes.get(nid);
    if (is_leaf(n)) leaf_data(n, (a) => { if (v.log.refs(a) === 1) u.data++; });
    else for (const kid of n.kids) walk(kid);
  };
  walk(root);
  return u;
}

/** Blocks held by snapshots and clones and by neither the mounted tree nor the main tree. */
export function snapshots_held(v: Volume): Usage {
  const u: Usage = { nodes: 0, data: 0 };
  const roots = v.roots();
  const live = v.treeIndex === 0 ? 1 : 2;
  if (roots.length === live) return u;
  const liveNodes = new Set<NodeId>();
  const liveData = new Set<number>();
  const mark = (nid: NodeId): void => {
    if (liveNodes.has(nid)) return;
    liveNodes.add(nid);
    const n = v.nodes.get(nid);
    if (is_leaf(n)) leaf_data(n, (a) => liveData.add(a));
    else for (const kid of n.kids) mark(kid);
  };
  for (const r of roots.slice(0, live)) mark(r);
  const seen = new Set<NodeId>();
  const seenData = new Set<number>();
  const walk = (nid: NodeId): void => {
    if (liveNodes.has(nid) || seen.has(nid)) return;
    seen.add(nid);
    u.nodes++;
    const n = v.nodes.get(nid);
    if (is_leaf(n)) {
      leaf_data(n, (a) => {
        if (liveData.has(a) || seenData.has(a)) return;
        seenData.add(a);
        u.data++;
      });
    } else {
      for (const kid of n.kids) walk(kid);
    }
  };
  for (const r of roots.slice(live)) walk(r);
  return u;
}
