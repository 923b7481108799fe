// An ordered map for least-recently-used caches: a Map for lookup and a doubly linked list for
// the order, so moving an entry to the young end costs O(1) whatever the cache's size.
//
// Why not a Map alone (its insertion order, an entry moved by delete + set): V8 leaves a hole for
// every delete and clears the holes by rehashing the whole table; for a key touched again and
// again (a directory's inode, the root node of a tree) in a large map that rehash comes often.
// Measured on Node 20 here: 0.35 µs per move with 1,000 entries, 2.5 µs with 8,192, 13.6 µs with
// 20,000 — a created file touches its directory's inode several times.
//
// Invariants: every key in `map` is on the list exactly once; `oldest` has no prev, `youngest`
// no next; the list runs oldest to youngest.

interface Link<K, V> {
  key: K;
  value: V;
  older: Link<K, V> | null;
  younger: Link<K, V> | null;
}

export class LruMap<K, V> {
  private readonly map = new Map<K, Link<K, V>>();
  private oldest: Link<K, V> | null = null;
  private youngest: Link<K, V> | null = null;

  get size(): number {
    return this.map.size;
  }

  has(k: K): boolean {
    return this.map.has(k);
  }

  /** The value, without moving it. */
  peek(k: K): V | undefined {
    return this.map.get(k)?.value;
  }

  /** The value, moved to the young end: it is evicted last. */
  get(k: K): V | undefined {
    const l = this.map.get(k);
    if (l === undefined) return undefined;
    this.to_young(l);
    return l.value;
  }

  /** Sets the value and moves it to the young end. */
  set(k: K, v: V): void {
    const l = this.map.get(k);
    if (l !== undefined) {
      l.value = v;
      this.to_young(l);
      return;
    }
    const n: Link<K, V> = { key: k, value: v, older: null, younger: null };
    this.map.set(k, n);
    this.append(n);
  }

  delete(k: K): boolean {
    const l = this.map.get(k);
    if (l === undefined) return false;
    this.map.delete(k);
    this.unlink(l);
    return true;
  }

  clear(): void {
    this.map.clear();
    this.oldest = this.youngest = null;
  }

  /**
   * Entries from the oldest, at most `limit` of them (default: all there are now). The caller
   * may delete the entry it was given, or move it to the young end (get, set), before it takes
   * the next: the walk has stepped past it already, and with `limit` at most the size when the
   * walk began, an entry moved is not given twice.
   */
  *from_oldest(limit = this.map.size): IterableIterator<[K, V]> {
    let l = this.oldest;
    for (let i = 0; l !== null && i < limit; i++) {
      const next = l.younger;
      yield [l.key, l.value];
      l = next;
    }
  }

  /**
   * Calls `visit` for entries from the oldest, at most `limit` of them, until it returns false;
   * `visit` has the freedom from_oldest gives. Allocates nothing: for eviction passes, which run
   * on creates.
   */
  walk(visit: (k: K, v: V) => boolean, limit = this.map.size): void {
    let l = this.oldest;
    for (let i = 0; l !== null && i < limit; i++) {
      const next = l.younger;
      if (!visit(l.key, l.value)) return;
      l = next;
    }
  }

  /** The least recently used key (undefined when empty). */
  oldest_key(): K | undefined {
    return this.oldest?.key;
  }

  /** The least recently used entry, read where the cache holds it (undefined when empty): use it before changing the cache. */
  oldest_entry(): { readonly key: K; readonly value: V } | undefined {
    return this.oldest ?? undefined;
  }

  /** Values from the oldest; the same freedom to delete or move the one given as from_oldest. */
  *values(): IterableIterator<V> {
    for (const [, v] of this.from_oldest()) yield v;
  }

  /** Keys from the oldest; the same freedom to delete or move the one given as from_oldest. */
  *keys(): IterableIterator<K> {
    for (const [k] of this.from_oldest()) yield k;
  }

  private to_young(l: Link<K, V>): void {
    if (l === this.youngest) return;
    this.unlink(l);
    this.append(l);
  }

  private unlink(l: Link<K, V>): void {
    if (l.older !== null) l.older.younger = l.younger;
    else this.oldest = l.younger;
    if (l.younger !== null) l.younger.older = l.older;
    else this.youngest = l.older;
    l.older = l.younger = null;
  }

  private append(l: Link<K, V>): void {
    l.older = this.youngest;
    l.younger = null;
    if (this.youngest !== null) this.youngest.younger = l;
    else this.oldest = l;
    this.youngest = l;
  }
}
