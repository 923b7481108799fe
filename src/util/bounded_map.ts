// A Map kept under a bound by starting over: when a new key would pass `max` entries, every
// entry goes first. For what is only remembered to be shown (who last wrote a file, a process's
// name): losing it all at once now and then costs a "-" in a trace line, and keeps no order,
// no timestamps and no cost per access, where an LRU (lru.ts) would keep all three.
//
// Invariant: after bounded_set the map holds at most `max` entries (max ≥ 1), `k` among them.

/** Sets k → v in `m`, clearing `m` first when k is new and `m` already holds `max` entries. */
export function bounded_set<K, V>(m: Map<K, V>, k: K, v: V, max: number): void {
  if (m.size >= max && !m.has(k)) m.clear();
  m.set(k, v);
}
