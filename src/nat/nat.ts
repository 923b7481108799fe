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
// dirty node first); node id 0 is never used; `used` counts the entries with refs > 0 (every
// checkpoint records it, so mount reads no NAT block to know it).
//
// A free id is searched for from a cursor that moves on and wraps: ids are handed out in order,
// so a search reads NAT pages one after another, and reuses freed ids once it has come round.

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
    return this.t.u32(nid, 0);
  }

  birth(nid: NodeId): number {
    return this.t.u32(nid, 4);
  }

  refs(nid: NodeId): number {
    return this.t.u16(nid, 8);
  }

  /** Points nid at a newly written block. */
  place(nid: NodeId, addr: number, birth: number): void {
    assert(this.refs(nid) > 0, () => `NAT: placing free node ${nid}`);
    this.t.set_u32(nid, 0, addr);
    this.t.set_u32(nid, 4, birth);
  }

  refs_set(nid: NodeId, n: number): void {
    assert(nid !== 0 && n >= 0 && n <= 0xffff, () => `NAT: refs ${n} for node ${nid}`);
    this.t.set_u16(nid, 8, n);
  }

  /** Takes a free node id with one reference and no block yet. */
  alloc(birth: number): NodeId {
    const cap = this.capacity;
    for (let n = 0; n < cap; n++) {
      const nid = this.cursor;
      this.cursor = this.cursor + 1 >= cap ? 1 : this.cursor + 1;
      if (this.refs(nid_of(nid)) === 0) {
        this.t.set_u32(nid, 0, 0);
        this.t.set_u32(nid, 4, birth);
        this.t.set_u16(nid, 8, 1);
        this.t.set_u16(nid, 10, 0);
        this.used++;
        return nid_of(nid);
      }
    }
    throw new FsError('ENOSPC', `node address table full (${cap - 1} nodes)`);
  }

  /** Releases a node id whose last reference is gone. Returns the block it occupied (or 0). */
  free(nid: NodeId): number {
    assert(this.refs(nid) === 0, () => `NAT: freeing node ${nid} with ${this.refs(nid)} references`);
    const addr = this.addr(nid);
    this.t.set_u32(nid, 0, 0);
    this.t.set_u32(nid, 4, 0);
    this.t.set_u16(nid, 10, 0);
    this.used--;
    return addr;
  }

  /** Takes the count of used entries and the search hint from the checkpoint (mount). */
  load(used: number, hint: number): void {
    this.used = used;
    this.cursor = hint >= 1 && hint < this.capacity ? hint : 1;
  }

  get cursor_hint(): number {
    return this.cursor;
  }
}
