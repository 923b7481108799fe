// What differs between two trees (snapshots, clones, the mounted tree): paths added, removed and
// changed.
//
// Which inodes changed comes from the B+tree: records in nodes both trees share are equal, so
// only the leaves one tree does not share with the other are compared record by record. Paths
// come from walking both namespaces. A path is changed when it names another inode than before,
// or when its inode's attributes, xattrs or data changed (a directory whose entries changed has
// a new mtime, so it shows as changed too, as `zfs diff` shows it).

import type { Volume } from '../checkpoint/volume.js';
import { is_leaf } from '../format/node.js';
import { dirents_decode, key, KEY_MAX, RecKind } from '../format/records.js';
import type { Key } from '../format/records.js';
import type { NodeId } from '../util/ids.js';

export interface TreeDiff {
  added: string[];
  removed: string[];
  changed: string[];
}

const DT_DIR = 4;

function nodes_of(v: Volume, root: NodeId): Set<NodeId> {
  const out = new Set<NodeId>();
  const walk = (nid: NodeId): void => {
    if (out.has(nid)) return;
    out.add(nid);
    const n = v.nodes.get(nid);
    if (!is_leaf(n)) for (const kid of n.kids) walk(kid);
  };
  walk(root);
  return out;
}

/** Every path of the tree at `root` with its inode and type (the root directory is '/'). */
function paths_of(v: Volume, root: NodeId): Map<string, { ino: number; type: number }> {
  const out = new Map<string, { ino: number; type: number }>();
  out.set('/', { ino: 1, type: DT_DIR });
  const todo: { ino: number; path: string }[] = [{ ino: 1, path: '' }];
  while (todo.length) {
    const d = todo.pop()!;
    v.tree.scan(root, key(d.ino, RecKind.DIRENT, 0), key(d.ino, RecKind.DIRENT, KEY_MAX.off), (k, val) => {
      for (const e of v.decode(k, val, dirents_decode)) {
        const p = `${d.path}/${e.name.toString('utf8')}`;
        out.set(p, { ino: e.ino, type: e.type });
        if (e.type === DT_DIR) todo.push({ ino: e.ino, path: p });
      }
    });
  }
  return out;
}

/** Inodes whose records (other than directory entries) differ between the trees. */
function inodes_changed(v: Volume, a: NodeId, b: NodeId): Set<number> {
  const changed = new Set<number>();
  if (a === b) return changed;
  const na = nodes_of(v, a);
  const nb = nodes_of(v, b);
  const keys = new Map<string, Key>();
  for (const [mine, other] of [[na, nb], [nb, na]] as const) {
    for (const nid of mine) {
      if (other.has(nid)) continue;
      const n = v.nodes.get(nid);
      if (!is_leaf(n)) continue;
      for (const k of n.keys) if (k.kind !== RecKind.DIRENT && k.ino !== 0) keys.set(`${k.ino}:${k.kind}:${k.off}`, k);
    }
  }
  for (const k of keys.values()) {
    if (changed.has(k.ino)) continue;
    const va = v.tree.get(a, k);
    const vb = v.tree.get(b, k);
    if (va === undefined || vb === undefined || !va.equals(vb)) changed.add(k.ino);
  }
  return changed;
}

/** The difference from the tree at `a` to the tree at `b`. */
export function tree_diff(v: Volume, a: NodeId, b: NodeId): TreeDiff {
  const changed = inodes_changed(v, a, b);
  const pa = paths_of(v, a);
  const pb = paths_of(v, b);
  const out: TreeDiff = { added: [], removed: [], changed: [] };
  for (const [p, ea] of pa) {
    const eb = pb.get(p);
    if (!eb || eb.type !== ea.type) out.removed.push(p);
    else if (eb.ino !== ea.ino || changed.has(ea.ino)) out.changed.push(p);
  }
  for (const [p, eb] of pb) {
    const ea = pa.get(p);
    if (!ea || ea.type !== eb.type) out.added.push(p);
  }
  for (const l of [out.added, out.removed, out.changed]) l.sort();
  return out;
}
