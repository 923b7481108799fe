// The server's resident bound: how much memory a mount may hold beyond what its server holds
// idle, and what keeps it there (docs/SCALE.md, "Memory"; docs/MOUNT.md `mem=`).
//
// The allowance is what the mount's parts may take by their own bounds: the metadata caches
// (`cache=`), the dirty and free file pages (64 MiB), the write-behind ring, the record of the
// inodes the kernel holds (held_max × HELD_BYTES), and V8's room for garbage — the old space may
// grow by half of what is live above idle (`--heap-growing-percent=50`; what is live above idle
// is the caches' share of the heap, at most the cache) and the young generation (two semi-spaces
// of 16 MiB). What no bound holds — malloc's free room around freed buffers, code V8 compiles,
// threads' stacks — came to 20–40 MiB at a million files, and more or less of it from one run to
// the next. So the server watches its resident set, and when it nears the bound lets the
// metadata caches and the dirty file pages take less of their shares (FileSystem.caches_scale):
// what the rest holds then comes out of their room instead of above the bound. They are the
// parts that can give way without changing what the filesystem promises: fewer cached nodes and
// pages cost reads, fewer dirty pages earlier flushes; dirty entries stay pinned, and the dirty
// nodes' bound follows the nodes' share, so checkpoints come sooner.
//
// Invariants: the caches are scaled down only while the resident set is above the high mark and
// has grown by GROWTH since the last step (freed memory stays with the process, so a resident
// set that stays high after a step is not lowered by more steps; what the caches free is what
// the next allocations reuse); never below SCALE_MIN of their shares; scaled back up a step a
// tick once the resident set is below the low mark. Nothing happens before start() has taken
// the idle size.

import { HELD_BYTES } from './held.js';
import { DIRTY_BYTES_MAX } from '../fs/fs.js';

/** V8's young generation in a 64-bit Node: two semi-spaces of 16 MiB at most */
export const YOUNG_BYTES = 32 << 20;
/** the least part of their shares the caches are left */
export const SCALE_MIN = 1 / 4;
/** how much of their shares the caches give or take back per step at least */
const STEP = 1 / 16;
/** growth of the resident set since the last step that makes another */
const GROWTH = 1 << 20;

export interface AllowanceParts {
  /** cache=: the metadata caches' budget */
  cache: number;
  /** the write-behind ring (0 without one) */
  ring: number;
  /** held_max= */
  heldMax: number;
}

/** What a mount may hold above its idle server, and its parts in words (bench-scale prints them). */
export function resident_allowance(p: AllowanceParts): { total: number; parts: [string, number][] } {
  const parts: [string, number][] = [
    ['cache', p.cache], ['dirty and free pages', DIRTY_BYTES_MAX], ['write ring', p.ring], ['inodes the kernel holds', p.heldMax * HELD_BYTES],
    ['old-space room, half the cache', p.cache / 2], ['young generation', YOUNG_BYTES],
  ];
  return { total: parts.reduce((a, [, n]) => a + n, 0), parts };
}

/** What gives way: the metadata caches and the dirty pages (FileSystem.caches_scale, caches_bytes). */
export interface Yielding {
  /** lets them take only `f` of their shares */
  scale(f: number): void;
  /** bytes their whole shares come to, and what they hold now */
  bytes(): { shares: number; used: number };
}

/** What the bound has done (`cowlog info --stats`). */
export interface ResidentStats {
  /** the resident set when the server was ready and idle (null before) */
  idleBytes: number | null;
  /** what it may hold above that */
  boundBytes: number;
  /** the part of their shares the caches may take now, and the least they were left */
  cacheScale: number;
  cacheScaleLowest: number;
  /** steps that scaled the caches down */
  squeezes: number;
}

export class ResidentBound {
  private idle: number | null = null;
  private scale = 1;
  private lowest = 1;
  private squeezes = 0;
  /** the resident set at the last step down (0: none since it was last below the high mark) */
  private mark = 0;

  /** `bound`: bytes above the idle size; `caches`: what gives way; `rss`: the resident set. */
  constructor(
    readonly bound: number,
    private readonly caches: Yielding,
    private readonly rss: () => number = () => process.memoryUsage.rss(),
  ) {}

  /** The server is ready and idle: what it holds now is the base the bound is counted from. */
  start(): void {
    this.idle = this.rss();
  }

  /** The part of their shares the caches may take now. */
  get cacheScale(): number {
    return this.scale;
  }

  /** Once a second: a step down while the resident set grows above the high mark, a step up below the low mark. */
  tick(): void {
    if (this.idle === null) return;
    const r = this.rss();
    const over = r - this.idle;
    const high = this.bound - this.bound / 8;
    const low = this.bound - this.bound / 4;
    if (over > high) {
      if (this.scale > SCALE_MIN && (this.mark === 0 || r > this.mark + GROWTH)) {
        // what is above the high mark comes out of what the caches hold (less than their shares
        // allow, often), and a step more
        const c = this.caches.bytes();
        this.set(Math.min(this.scale, c.used / c.shares) - Math.max(STEP, (over - high) / c.shares));
        this.squeezes++;
        this.mark = r;
      }
      return;
    }
    this.mark = 0;
    if (over < low && this.scale < 1) this.set(this.scale + STEP);
  }

  private set(f: number): void {
    this.scale = Math.min(1, Math.max(SCALE_MIN, f));
    this.lowest = Math.min(this.lowest, this.scale);
    this.caches.scale(this.scale);
  }

  stats(): ResidentStats {
    return { idleBytes: this.idle, boundBytes: this.bound, cacheScale: this.scale, cacheScaleLowest: this.lowest, squeezes: this.squeezes };
  }
}
