// Workload generator: deterministic traces (docs/WORKLOAD.md) from a profile, an operation
// count, a seed and a device size.
//
// Invariants:
// - the same (profile, options) always gives the same trace, byte for byte;
// - the live data a trace builds (every operation assumed to succeed) never exceeds the bound
//   written in its header (liveMaxBytes); only 'fill' is meant to pass the device and says so
//   with untilEnospc;
// - the generator only names files and directories that exist in its own model at that point,
//   so on a filesystem with room every operation is expected to succeed.

import { Prng } from '../util/prng.js';
import { KiB, MiB, Names } from './names.js';
import type { GFile } from './names.js';
import { KnobError, knob_values } from './knobs.js';
import type { Knobs } from './knobs.js';
import { gen_inplace } from './profile_inplace.js';
import { gen_maildir } from './profile_maildir.js';
import { gen_wal } from './profile_wal.js';
import { TRACE_FORMAT, TRACE_VERSION, live_peak, trace_format } from './trace.js';
import type { Op, TraceHeader } from './trace.js';

export const PROFILES = ['smallsync', 'mixed', 'inplace', 'wal', 'maildir', 'fill', 'overwrite'] as const;
export type Profile = (typeof PROFILES)[number];

/** mkfs.f2fs's defaults leave 16 MiB of a 64 MiB device usable: the tightest of the compared
 *  filesystems. A bound above this fraction is said to risk ENOSPC there. */
const F2FS_USABLE_FRACTION = 0.25;

export interface GenOptions {
  profile: Profile;
  /** operations to generate (overwrite: the random overwrites after the fill phase;
   *  fill: an upper bound, the default being "until 1.25 x the device is asked") */
  ops: number;
  seed: number;
  deviceBytes: number;
  /** live-data bound in percent of the device (mixed 15, the others 12 by default) */
  livePct?: number;
  /** the mix knobs (src/workload/knobs.ts): shares of text, fsyncs, overwrites, metadata
   *  changes, directory fsyncs; checkpoint interval */
  knobs?: Knobs;
  /** overwrite: fill to this percentage before overwriting (default 80) */
  fillPct?: number;
  /** overwrite: "80/20" sends 80 % of the overwrites to 20 % of the blocks */
  skew?: string;
  /** overwrite: a sync after this many overwrites (default 1000) */
  syncEvery?: number;
  /** fill: stop applying operations after this many ENOSPC errors (default 32) */
  enospcLimit?: number;
}

export interface Generated {
  header: TraceHeader;
  ops: Op[];
  /** one line for the user about the live-data bound */
  boundNote: string;
}

/** smallsync: small files, appends and small overwrites, each write followed by fsync. */
function gen_smallsync(n: Names, count: number, bound: number, text: number): void {
  const fileMax = 256 * KiB;
  n.dir_new();
  while (n.ops.length < count) {
    const r = n.rng.float();
    if (n.files.length === 0 || r < 0.12) {
      const len = n.len_log(256, 32 * KiB);
      n.make_room(len, bound);
      const f = n.file_new();
      n.write(f, 0, len, text);
      n.sync_file(f);
    } else if (r < 0.55) {
      const f = n.pick();
      const len = n.len_log(128, 16 * KiB);
      if (f.size + len > fileMax) { n.truncate(f, 0); n.sync_file(f); continue; }
      n.make_room(len, bound);
      if (!n.files.includes(f)) continue;
      n.append(f, len, text);
      n.sync_file(f);
    } else if (r < 0.72) {
      const f = n.pick();
      const off = n.rng.int(0, f.size);
      const len = Math.min(n.len_log(128, 8 * KiB), fileMax - off);
      n.make_room(Math.max(0, off + len - f.size), bound);
      if (!n.files.includes(f) || len <= 0) continue;
      n.write(f, off, len, text);
      n.sync_file(f);
    } else if (r < 0.80) {
      const f = n.pick();
      const { off, len } = n.range(f, 16 * KiB);
      n.emit({ op: 'read', path: f.path, off, len });
    } else if (r < 0.86) {
      n.emit({ op: 'stat', path: n.pick().path });
    } else if (r < 0.895) {
      n.rename(n.pick());
    } else if (r < 0.92) {
      const f = n.pick();
      n.truncate(f, Math.floor(f.size * n.rng.float()));
      n.sync_file(f);
    } else if (r < 0.94) {
      n.emit({ op: 'chmod', path: n.pick().path, mode: n.rng.pick([0o600, 0o640, 0o644, 0o444]) });
    } else if (r < 0.99) {
      n.unlink(n.pick());
    } else if (!n.rmdir_some()) {
      n.emit({ op: 'stat', path: n.pick().path });
    }
  }
}

/** mixed: files up to 2 MiB written in chunks, overwrites, appends, reads, some fsync: after 30 %
 *  of new files and 20 % of other writes, or after `fsync` of all writes when the knob is given. */
function gen_mixed(n: Names, count: number, bound: number, text: number, fsync: number | null): void {
  const fileMax = 2 * MiB;
  const chunk = 256 * KiB;
  n.dir_new();
  while (n.ops.length < count) {
    const r = n.rng.float();
    if (n.files.length === 0 || r < 0.12) {
      const c = n.rng.float();
      const size = c < 0.8 ? n.len_log(1, 64 * KiB) : c < 0.99 ? n.len_log(64 * KiB, 512 * KiB) : n.len_log(512 * KiB, fileMax);
      n.make_room(size, bound);
      const f = n.file_new();
      for (let off = 0; off < size; off += chunk) n.write(f, off, Math.min(chunk, size - off), text);
      if (n.rng.chance(fsync ?? 0.3)) n.sync_file(f);
    } else if (r < 0.35) {
      const f = n.pick();
      const len = n.len_log(4 * KiB, 32 * KiB);
      const off = n.rng.int(0, Math.min(f.size, fileMax - len));
      n.make_room(Math.max(0, off + len - f.size), bound);
      if (!n.files.includes(f)) continue;
      n.write(f, off, len, text);
      if (n.rng.chance(fsync ?? 0.2)) n.sync_file(f);
    } else if (r < 0.47) {
      const f = n.pick();
      const len = n.len_log(1 * KiB, 32 * KiB);
      if (f.size + len > fileMax) { n.truncate(f, n.rng.int(0, f.size)); continue; }
      n.make_room(len, bound);
      if (!n.files.includes(f)) continue;
      n.append(f, len, text);
      if (n.rng.chance(fsync ?? 0.2)) n.sync_file(f);
    } else if (r < 0.65) {
      const f = n.pick();
      const { off, len } = n.range(f, 256 * KiB);
      n.emit({ op: 'read', path: f.path, off, len });
    } else if (r < 0.75) {
      n.emit({ op: 'stat', path: n.pick().path });
    } else if (r < 0.8) {
      n.rename(n.pick());
    } else if (r < 0.84) {
      const f = n.pick();
      n.truncate(f, Math.floor(f.size * n.rng.float()));
    } else if (r < 0.87) {
      n.emit({ op: 'chmod', path: n.pick().path, mode: n.rng.pick([0o600, 0o640, 0o644, 0o444]) });
    } else if (r < 0.965) {
      n.unlink(n.pick());
    } else if (r < 0.97) {
      n.emit({ op: 'sync' });
    } else if (!n.rmdir_some()) {
      n.dir_new();
    }
  }
}

/** fill: files of 1 MiB (one in four) and 4 KiB, random content, until the device is passed. */
function gen_fill(n: Names, count: number, deviceBytes: number): void {
  const askedMax = Math.ceil(deviceBytes * 1.25);
  let asked = 0;
  n.dir_new();
  while (asked < askedMax && n.ops.length + 3 <= count) {
    const len = n.rng.chance(0.25) ? MiB : 4 * KiB;
    const f = n.file_new();
    n.write(f, 0, len, 0);
    asked += len;
  }
  n.emit({ op: 'sync' });
}

/** overwrite: fill to fillPct with 1 MiB files, sync, then random 4 KiB overwrites. */
function gen_overwrite(n: Names, count: number, fillBytes: number, hotPct: number, hotBlockPct: number, syncEvery: number): void {
  n.dir_new();
  const files: GFile[] = [];
  for (let left = fillBytes; left > 0;) {
    const len = Math.min(MiB, left);
    const f = n.file_new();
    n.write(f, 0, len, 0);
    files.push(f);
    left -= len;
  }
  n.emit({ op: 'sync' });
  // block i of the filled data lives in file floor(i / 256) (every file but the last is 1 MiB)
  const blocks = Math.floor(fillBytes / (4 * KiB));
  if (blocks === 0) return;
  const hotBlocks = Math.max(1, Math.floor(blocks * hotBlockPct / 100));
  for (let i = 1; i <= count; i++) {
    const hot = hotPct > 0 && n.rng.chance(hotPct / 100);
    const b = hot ? n.rng.int(0, hotBlocks - 1) : hotPct > 0 ? n.rng.int(hotBlocks, blocks - 1) : n.rng.int(0, blocks - 1);
    const f = files[Math.floor(b / 256)]!;
    n.write(f, (b % 256) * 4 * KiB, 4 * KiB, 0);
    if (i % syncEvery === 0) n.emit({ op: 'sync' });
  }
}

function bytes_mib(n: number): string {
  return `${(n / MiB).toFixed(1)} MiB`;
}

/** Generates a whole trace in memory. */
export function workload_generate(o: GenOptions): Generated {
  if (!Number.isSafeInteger(o.ops) || o.ops < 0) throw new KnobError(`--ops must be a non-negative integer, not ${o.ops}`);
  if (!Number.isSafeInteger(o.deviceBytes) || o.deviceBytes < MiB) throw new KnobError(`the device must be at least 1 MiB, not ${o.deviceBytes} bytes`);
  const rng = new Prng(o.seed);
  const ops: Op[] = [];
  const n = new Names(ops, rng);
  const params: Record<string, unknown> = { ops: o.ops };
  let liveMax: number;
  let untilEnospc = false;
  let enospcLimit: number | undefined;
  let note: string;
  const pctCheck = (p: number, what: string): void => {
    if (!(p > 0 && p <= 100)) throw new KnobError(`${what} must be a percentage in (0, 100], not ${p}`);
  };
  if (!(PROFILES as readonly string[]).includes(o.profile)) throw new KnobError(`unknown profile '${o.profile as string}' (known: ${PROFILES.join(', ')})`);
  const k = knob_values(o.profile, o.knobs ?? {});
  const only = (given: unknown, flag: string, profiles: readonly Profile[]): void => {
    if (given !== undefined && !profiles.includes(o.profile)) throw new KnobError(`${flag} does not apply to profile '${o.profile}' (it applies to: ${profiles.join(', ')})`);
  };
  only(o.livePct, '--live-max', ['smallsync', 'mixed', 'inplace', 'wal', 'maildir']);
  only(o.fillPct, '--fill-pct', ['overwrite']);
  only(o.skew, '--skew', ['overwrite']);
  only(o.syncEvery, '--sync-every', ['overwrite']);
  only(o.enospcLimit, '--enospc-limit', ['fill']);
  const share = (v: number | null | undefined): number => (v ?? 0) / 100;
  switch (o.profile) {
    case 'smallsync':
    case 'mixed':
    case 'inplace':
    case 'wal':
    case 'maildir': {
      const pct = o.livePct ?? (o.profile === 'mixed' ? 15 : 12);
      pctCheck(pct, '--live-max');
      liveMax = Math.floor(o.deviceBytes * pct / 100);
      params['livePct'] = pct;
      const text = share(k.textPct);
      if (o.profile === 'smallsync') gen_smallsync(n, o.ops, liveMax, text);
      else if (o.profile === 'mixed') gen_mixed(n, o.ops, liveMax, text, k.fsyncPct == null ? null : share(k.fsyncPct));
      else if (o.profile === 'inplace') gen_inplace(n, o.ops, liveMax, { overwrite: share(k.overwritePct), meta: share(k.metaPct), text });
      else if (o.profile === 'wal') gen_wal(n, o.ops, liveMax, { checkpointEvery: k.checkpointEvery!, text });
      else gen_maildir(n, o.ops, liveMax, { dirsync: share(k.dirsyncPct), text });
      ops.length = Math.min(ops.length, o.ops);
      for (const [name, v] of Object.entries(k)) if (v !== null) params[name] = v;
      note = `live data kept at or below ${bytes_mib(liveMax)} (${pct} % of the ${bytes_mib(o.deviceBytes)} device)` +
        (pct / 100 <= F2FS_USABLE_FRACTION * 0.8
          ? ': within what every compared filesystem holds, f2fs at its default overprovisioning included'
          : ': more than f2fs at its default overprovisioning may hold (about 25 % of a 64 MiB device); expect ENOSPC there');
      break;
    }
    case 'fill': {
      liveMax = Math.ceil(o.deviceBytes * 1.25);
      untilEnospc = true;
      enospcLimit = o.enospcLimit ?? 32;
      params['enospcLimit'] = enospcLimit;
      gen_fill(n, o.ops > 0 ? o.ops : Number.MAX_SAFE_INTEGER, o.deviceBytes);
      note = `no live-data bound: writes ${bytes_mib(liveMax)} (1.25 x the device) to run into ENOSPC; ` +
        `the replayer stops after ${enospcLimit} ENOSPC errors and reports the bytes written before the first`;
      break;
    }
    case 'overwrite': {
      const fillPct = o.fillPct ?? 80;
      pctCheck(fillPct, '--fill-pct');
      const syncEvery = o.syncEvery ?? 1000;
      if (!Number.isSafeInteger(syncEvery) || syncEvery < 1) throw new KnobError(`--sync-every must be a positive integer, not ${syncEvery}`);
      let hotPct = 0, hotBlockPct = 0;
      if (o.skew !== undefined) {
        const m = /^(\d+)\/(\d+)$/.exec(o.skew);
        if (!m || Number(m[1]) + Number(m[2]) !== 100 || Number(m[2]) === 0 || Number(m[2]) === 100) {
          throw new KnobError(`--skew must be like 80/20 (percent of writes / percent of blocks, summing to 100), not '${o.skew}'`);
        }
        hotPct = Number(m[1]);
        hotBlockPct = Number(m[2]);
        params['skew'] = o.skew;
      }
      liveMax = Math.floor(o.deviceBytes * fillPct / 100 / 4096) * 4096;
      params['fillPct'] = fillPct;
      params['syncEvery'] = syncEvery;
      gen_overwrite(n, o.ops, liveMax, hotPct, hotBlockPct, syncEvery);
      note = `fills ${bytes_mib(liveMax)} (${fillPct} % of the ${bytes_mib(o.deviceBytes)} device) then overwrites ${o.ops} random 4 KiB blocks` +
        (fillPct / 100 <= F2FS_USABLE_FRACTION * 0.8
          ? ''
          : `; more than f2fs at its default overprovisioning holds (about 25 % of a 64 MiB device): expect ENOSPC there`);
      break;
    }
    default:
      throw new RangeError(`unknown profile '${o.profile as string}' (known: ${PROFILES.join(', ')})`);
  }
  let asked = 0;
  for (const op of ops) if (op.op === 'write' || op.op === 'append') asked += op.len;
  const { peak } = live_peak(ops);
  const header: TraceHeader = {
    format: TRACE_FORMAT,
    version: TRACE_VERSION,
    name: `${o.profile}-${o.ops}-s${o.seed}`,
    profile: o.profile,
    seed: o.seed,
    deviceBytes: o.deviceBytes,
    ops: ops.length,
    liveMaxBytes: liveMax,
    livePeakBytes: peak,
    askedBytes: asked,
    ...(untilEnospc ? { untilEnospc } : {}),
    ...(enospcLimit !== undefined ? { enospcLimit } : {}),
    params,
    note,
  };
  return { header, ops, boundNote: note };
}

/** The trace as JSONL text. */
export function workload_text(g: Generated): string {
  return trace_format(g.header, g.ops);
}
