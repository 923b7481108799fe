// The snapshot table in memory: the SNAP table's entries decoded, with lookup by name.
//
// A SNAP entry holds one NAT reference on its root node. The entries change only between
// checkpoints, in memory, and reach the device with the checkpoint that follows (journaled or
// as table blocks like every table), so a snapshot operation is atomic with that checkpoint.
//
// Invariants: `byName` holds exactly the used entries; names are unique; a free entry is all
// zeros in the table.

import { snap_decode, snap_encode } from '../format/snapshot.js';
import type { SnapEntry } from '../format/snapshot.js';
import type { MetaTable } from '../log/metatable.js';
import { CorruptError, FsError } from '../util/errors.js';

export interface SnapInfo extends SnapEntry {
  /** the entry's slot in the SNAP table */
  index: number;
}

export class SnapTable {
  readonly t: MetaTable;
  private readonly entries: (SnapInfo | null)[];
  private readonly byName = new Map<string, SnapInfo>();

  constructor(t: MetaTable) {
    this.t = t;
    this.entries = new Array<SnapInfo | null>(t.geom.entries).fill(null);
  }

  get capacity(): number {
    return this.entries.length;
  }

  get count(): number {
    return this.byName.size;
  }

  /**
   * Decodes every entry from the table bytes (mount). `where(i)` gives the address of the
   * table block holding entry i, for the error.
   */
  load(where: (i: number) => number): void {
    this.byName.clear();
    for (let i = 0; i < this.entries.length; i++) {
      let e: SnapEntry | null;
      try {
        e = snap_decode(this.t.entry(i));
      } catch (err) {
        throw new CorruptError('SNAP table', where(i), `entry ${i}: ${(err as Error).message}`);
      }
      if (e && this.byName.has(e.name)) throw new CorruptError('SNAP table', where(i), `entry ${i}: name ${JSON.stringify(e.name)} is used twice`);
      const info = e ? { ...e, index: i } : null;
      this.entries[i] = info;
      if (info) this.byName.set(info.name, info);
    }
  }

  /** Used entries in table order. */
  list(): SnapInfo[] {
    return this.entries.filter((e): e is SnapInfo => e !== null);
  }

  /** Used entries in no particular order, without copying (for scans on hot paths). */
  used(): IterableIterator<SnapInfo> {
    return this.byName.values();
  }

  find(name: string): SnapInfo | undefined {
    return this.byName.get(name);
  }

  /** The entry named `name`, or ENOENT naming what exists. */
  must(name: string): SnapInfo {
    const e = this.byName.get(name);
    if (e) return e;
    const have = this.list().map((x) => x.name);
    throw new FsError('ENOENT', `no snapshot named ${JSON.stringify(name)}${have.length ? ` (there are: ${have.slice(0, 8).join(', ')}${have.length > 8 ? ', ...' : ''})` : ' (there are none)'}`);
  }

  at(index: number): SnapInfo | null {
    return this.entries[index] ?? null;
  }

  /** Stores a new entry in the first free slot; returns it. */
  add(e: SnapEntry): SnapInfo {
    if (this.byName.has(e.name)) throw new FsError('EEXIST', `a snapshot named ${JSON.stringify(e.name)} exists already`);
    const i = this.entries.indexOf(null);
    if (i < 0) throw new FsError('ENOSPC', `the snapshot table is full (${this.entries.length} snapshots): delete one first`);
    const info = { ...e, index: i };
    this.write(i, info);
    return info;
  }

  remove(index: number): void {
    const e = this.entries[index];
    if (!e) return;
    this.byName.delete(e.name);
    this.entries[index] = null;
    this.t.entry_set(index, new Uint8Array(this.t.geom.entryBytes));
  }

  /** Points entry `index` at another root (a clone's root moves as it is written). */
  root_set(index: number, rootNid: number): void {
    const e = this.entries[index];
    if (!e || e.rootNid === rootNid) return;
    this.write(index, { ...e, rootNid });
  }

  /** Entries made from entry `index` now name `parent` as where they came from (`index` goes). */
  parent_pass(index: number, parent: number): void {
    for (const e of this.list()) if (e.parent === index + 1) this.write(e.index, { ...e, parent });
  }

  private write(i: number, info: SnapInfo): void {
    const old = this.entries[i];
    if (old) this.byName.delete(old.name);
    this.entries[i] = info;
    this.byName.set(info.name, info);
    const { index: _index, ...entry } = info;
    this.t.entry_set(i, snap_encode(entry));
  }
}
