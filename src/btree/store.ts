// What the B+tree needs from below: nodes by id, and reference counts on them.
//
// The copy-on-write rule (lazy reference counting, as in btrfs and Rodeh's "B-trees, shadowing,
// and clones"): a node id may be named by several parents — the live root, snapshot roots, and
// inner nodes of different trees. refs(nid) counts them. A node with refs === 1 belongs to
// exactly one path and may be changed in place (its NAT entry moves when it is written); a node
// with refs > 1 is copied to a new node id first, and the copy takes a reference on each child.

import type { LeafBody, NodeBody } from '../format/node.js';
import type { NodeId } from '../util/ids.js';

export interface NodeStore {
  /** maximum entries per node */
  readonly fanout: number;
  /** the node's body; callers mutate it only after making it exclusive, then call dirty() */
  get(nid: NodeId): NodeBody;
  /** a new node id with one reference, holding body */
  create(body: NodeBody): NodeId;
  /** body of nid was changed in place */
  dirty(nid: NodeId): void;
  refs(nid: NodeId): number;
  ref_inc(nid: NodeId): void;
  /**
   * Drops one reference. When it was the last one the node id is freed; the tree has already
   * released or handed over everything the node pointed to.
   */
  ref_dec(nid: NodeId): void;
  /** a shared leaf was copied: everything its records point to gained a holder */
  leaf_shared(body: LeafBody): void;
  /** a leaf lost its last holder: everything its records point to lost one */
  leaf_dropped(body: LeafBody): void;
}
