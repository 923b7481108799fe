// The node address table: node id → (block address, birth checkpoint, reference count).
//
// B+tree nodes point at their children by node id, so rewriting a node (to a new place in the
// log) changes one NAT entry and never the parent: the tree does not "wander" up to its root.
// The reference count is the number of parents (inner nodes, tree roots of the live tree and of
// snapshots) that name the node id; above 1 the node is shared and must be copied before change.
//
// Entry (12 bytes): addr u32 · birth u32 · refs u16 · flags u16.
// Invariants: an entry is free iff refs === 0, and then addr === 0; an allocated node that has
// not been written yet has refs > 0 and addr === 0 (only in memory: a checkpoint writes every
// dirty node first); node id 0 is never used.

import type { MetaTable } from '../log/metatable.js';
import { assert } from '../util/assert.js';
import { FsError } from '../util/errors.js';
import { nid_of } from '../util/ids.js';
import type { NodeId } from '../util/ids.js';

export class Nat {
  readonly t: MetaTable;
  /** where the next free-entry search starts */
  private cursor = 1;
  /** entries with refs > 0 */
  used = 0;

  constructor(t: MetaTable) {
    this.t = t;
  }

  get capacity(): number {
    return this.t.geom.entries;
  }

  addr(nid: NodeId): number {
    return this.t.view.getUint32(this.t.at(nid), true);
  }

  birth(nid: NodeId): number {
    return this.t.view.getUint32(this.t.at(nid) + 4, true);
  }

  refs(nid: NodeId): number {
    return this.t.view.getUint16(this.t.at(nid) + 8, true);
  }

  /** Points nid at a newly written block. */
  place(nid: NodeId, addr: number, birth: number): void {
    assert(this.refs(nid) > 0, () => `NAT: placing free node ${nid}`);
    const o = this.t.at(nid);
    this.t.view.setUint32(o, addr, true);
    this.t.view.setUint32(o + 4, birth, true);
    this.t.mark(nid);
  }

  refs_set(nid: NodeId, n: number): void {
    assert(nid !== 0 && n >= 0 && n <= 0xffff, () => `NAT: refs ${n} for node ${nid}`);
    this.t.view.setUint16(this.t.at(nid) + 8, n, true);
    this.t.mark(nid);
  }

  /** Takes a free node id with one reference and no block yet. */
  alloc(birth: number): NodeId {
    const cap = this.capacity;
    for (let n = 0; n < cap; n++) {
      const nid = this.cursor;
      this.cursor = this.cursor + 1 >= cap ? 1 : this.cursor + 1;
      if (this.refs(nid_of(nid)) === 0) {
        const o = this.t.at(nid);
        this.t.view.setUint32(o, 0, true);
        this.t.view.setUint32(o + 4, birth, true);
        this.t.view.setUint16(o + 8, 1, true);
        this.t.view.setUint16(o + 10, 0, true);
        this.t.mark(nid);
        this.used++;
        return nid_of(nid);
      }
    }
    throw new FsError('ENOSPC', `node address table full (${cap - 1} nodes)`);
  }

  /** Releases a node id whose last reference is gone. Returns the block it occupied (or 0). */
  free(nid: NodeId): number {
    assert(this.refs(nid) === 0, () => `NAT: freeing node ${nid} with ${this.refs(nid)} references`);
    const o = this.t.at(nid);
    const addr = this.t.view.getUint32(o, true);
    this.t.view.setUint32(o, 0, true);
    this.t.view.setUint32(o + 4, 0, true);
    this.t.view.setUint16(o + 10, 0, true);
    this.t.mark(nid);
    this.used--;
    return addr;
  }

  /** Recounts used entries (mount). */
  recount(hint: number): void {
    let n = 0;
    for (let i = 1; i < this.capacity; i++) if (this.refs(nid_of(i)) > 0) n++;
    this.used = n;
    this.cursor = hint >= 1 && hint < this.capacity ? hint : 1;
  }

  get cursor_hint(): number {
    return this.cursor;
  }
}
