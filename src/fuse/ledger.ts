// The ledger of written bytes on their way to durability: per inode, what was written and is
// still in the page cache ("cached"), and what has gone to the log but is not durable yet
// ("logged"). The mount's tracer keeps one to say, at each flush and durability point, how many
// writes and bytes moved and how long they waited; `cowlog trace --durability` keeps one with
// the time of every write, to give the median and the longest wait per file at the end.
//
// Invariants:
// - A write is in at most one of cached and logged; logged() moves all of an inode's cached
//   writes (the engine writes or logs all of an inode's dirty pages at once), durable_take()
//   removes an inode's logged writes (a durability point covers everything logged before it).
// - first ≤ last are the times of the oldest and newest write in a batch; writes ≥ 1 in a batch.
// - pids holds at most PIDS_MAX writers (more sets `pidsMore`): the ledger's memory per inode is
//   bounded unless times are kept, and then it is one number per write until it is durable.

export const PIDS_MAX = 8;

export interface Batch {
  writes: number;
  bytes: number;
  /** time of the oldest and the newest write (the caller's clock, e.g. ms) */
  first: number;
  last: number;
  /** the processes that wrote (at most PIDS_MAX), and whether there were more */
  pids: number[];
  pidsMore: boolean;
  /** the time of every write, in order, when the ledger keeps them */
  times: number[] | null;
}

function batch_new(t: number, keepTimes: boolean): Batch {
  return { writes: 0, bytes: 0, first: t, last: t, pids: [], pidsMore: false, times: keepTimes ? [] : null };
}

function batch_merge(into: Batch, b: Batch): void {
  into.writes += b.writes;
  into.bytes += b.bytes;
  into.first = Math.min(into.first, b.first);
  into.last = Math.max(into.last, b.last);
  for (const p of b.pids) pid_add(into, p);
  into.pidsMore ||= b.pidsMore;
  if (into.times !== null && b.times !== null) into.times.push(...b.times);
}

function pid_add(b: Batch, pid: number): void {
  if (b.pids.includes(pid)) return;
  if (b.pids.length < PIDS_MAX) b.pids.push(pid);
  else b.pidsMore = true;
}

export class WriteLedger {
  private readonly cached = new Map<number, Batch>();
  private readonly logged_ = new Map<number, Batch>();

  constructor(private readonly keepTimes = false) {}

  /** `bytes` written to `ino` by `pid` at time `t`, now in the page cache. */
  written(ino: number, t: number, bytes: number, pid: number): void {
    let b = this.cached.get(ino);
    if (b === undefined) {
      b = batch_new(t, this.keepTimes);
      this.cached.set(ino, b);
    }
    b.writes++;
    b.bytes += bytes;
    b.last = Math.max(b.last, t);
    pid_add(b, pid);
    b.times?.push(t);
  }

  /** Every cached write of `ino` went to the log: returns them (undefined when there were none). */
  logged(ino: number): Batch | undefined {
    const b = this.cached.get(ino);
    if (b === undefined) return undefined;
    this.cached.delete(ino);
    const l = this.logged_.get(ino);
    if (l === undefined) this.logged_.set(ino, b);
    else batch_merge(l, b);
    return b;
  }

  /** The logged writes of `ino` became durable: returns and forgets them. */
  durable_take(ino: number): Batch | undefined {
    const b = this.logged_.get(ino);
    this.logged_.delete(ino);
    return b;
  }

  /** Inodes with logged writes (what a durability point makes durable). */
  logged_inodes(): number[] {
    return [...this.logged_.keys()];
  }

  /** Forgets `ino` (its file was freed). */
  drop(ino: number): void {
    this.cached.delete(ino);
    this.logged_.delete(ino);
  }

  /** What is not durable yet, per inode: cached and logged writes together. */
  pending(): Map<number, Batch> {
    const out = new Map<number, Batch>();
    for (const m of [this.cached, this.logged_]) {
      for (const [ino, b] of m) {
        const o = out.get(ino);
        if (o === undefined) out.set(ino, { ...b, pids: [...b.pids], times: b.times === null ? null : [...b.times] });
        else batch_merge(o, b);
      }
    }
    return out;
  }
}
