// `cowlog info --stats MOUNTPOINT`: what a running mount has served since it started — requests
// per kind with their latency histograms (power-of-two buckets, as biolatency draws them) and
// the engine's counters — asked of its server through the control socket.

import { control_request } from '../fuse/control.js';
import { FsError } from '../util/errors.js';
import { Histogram } from '../util/histogram.js';
import type { HistogramJson } from '../util/histogram.js';
import { server_find } from './server_find.js';
import { bytes_human } from './command.js';
import type { MemoryStats } from '../fs/fs.js';
import type { ResidentStats } from '../fuse/resident.js';

export interface MountStats {
  sinceMs: number;
  latency: Record<string, HistogramJson>;
  requests: Record<string, number>;
  engine: Record<string, number>;
  /** the caches against the memory budget (absent from servers older than this cowlog) */
  memory?: MountMemory;
  /** requests the binding answered without a handler (src/fuse/noxattr.ts; absent from older servers) */
  binding?: { getxattrNone: number };
}

/** The engine's memory, and the inodes the kernel holds of the mount (held.ts; absent from older servers). */
export type MountMemory = MemoryStats & { held?: number; heldMax?: number; heldAsked?: number; resident?: ResidentStats | null };

/** The memory lines of `info --stats`: each cache against its share of the budget. */
export function memory_lines(m: MountMemory): string[] {
  const pct = (a: number, b: number): string => `${b ? Math.round((100 * a) / b) : 0} %`;
  return [
    `memory: budget ${bytes_human(m.budgetBytes)} (cache=); the server holds ${bytes_human(m.rssBytes)}${m.rssFileBytes === undefined ? '' : ` (code ${bytes_human(m.rssFileBytes)})`}; heap ${bytes_human(m.heapBytes)} live${m.heapTotalBytes === undefined ? '' : ` of ${bytes_human(m.heapTotalBytes)} taken`}, buffers ${bytes_human(m.externalBytes)}`,
    `  table pages  ${m.tablePages} of ${m.tablePagesMax} (${pct(m.tablePages, m.tablePagesMax)}), ${m.tablePagesDirty} changed and pinned; ${m.tablePageLoads} read, ${m.tablePageEvictions} evicted`,
    `  tree nodes   ${m.nodes} of ${m.nodesMax} (${pct(m.nodes, m.nodesMax)}), ${m.nodesDirty} changed and pinned; ${m.nodeLoads} read, ${m.nodeEvictions} evicted${m.nodesDecoded === undefined ? '' : `, ${m.nodesDecoded} leaves decoded (${m.nodeDecodes} again)`}${m.nodeBytes === undefined ? '' : `; ${bytes_human(m.nodeBytes)} of ${bytes_human(m.nodeBytesMax)}`}`,
    `  inodes       ${m.inodes} of ${m.inodesMax} (${pct(m.inodes, m.inodesMax)}), ${m.inodesPinned} open or with dirty pages`,
    m.dirtyMemBytes === undefined
      ? `  dirty pages  ${bytes_human(m.dirtyPageBytes)} of ${bytes_human(m.dirtyPageBytesMax)} (file data not yet written)`
      : `  dirty pages  ${bytes_human(m.dirtyPageBytes)} in ${m.dirtyInodes} files, ${bytes_human(m.dirtyMemBytes)} with them of ${bytes_human(m.dirtyPageBytesMax)} (file data not yet written)`,
    ...(m.resident === undefined ? [] : [resident_line(m.rssBytes, m.resident)]),
    ...(m.held === undefined ? [] : [`  kernel-held  ${m.held} inodes of ${m.heldMax} (held_max=); ${m.heldAsked ?? 0} names the kernel was asked to drop`]),
  ];
}

/** The resident bound's line: what the server holds above its idle size against mem=, and what the caches were left. */
function resident_line(rss: number, r: ResidentStats | null): string {
  if (r === null) return '  resident     no bound (mem=0): the caches keep their shares whatever the server holds';
  const pct = (f: number): string => `${Math.round(f * 100)} %`;
  const above = r.idleBytes === null ? 'not yet counted' : `${bytes_human(Math.max(0, rss - r.idleBytes))} above its idle ${bytes_human(r.idleBytes)}`;
  return `  resident     ${above}, of ${bytes_human(r.boundBytes)} (mem=); the caches may take ${pct(r.cacheScale)} of their shares${r.squeezes ? ` (${r.squeezes} steps down, ${pct(r.cacheScaleLowest)} at least)` : ''}`;
}

export async function info_stats(given: string, json: boolean): Promise<number> {
  const st = server_find(given);
  const r = await control_request(st.socket, { op: 'stats' }, 10_000);
  if (!r.ok) throw new FsError('EIO', `${st.mountpoint}: ${r.error ?? 'the server refused'}${r.errno === 'EINVAL' ? ' (a server older than this cowlog?)' : ''}`);
  const s = r['stats'] as MountStats;
  if (json) {
    const latency = Object.fromEntries(Object.entries(s.latency).map(([op, j]) => {
      const h = Histogram.from(j);
      return [op, { ...j, p50: h.quantile(0.5), p99: h.quantile(0.99) }];
    }));
    process.stdout.write(JSON.stringify({ mountpoint: st.mountpoint, device: st.device, pid: st.pid, since: new Date(s.sinceMs).toISOString(), requests: s.requests, binding: s.binding ?? null, latency, engine: s.engine, memory: s.memory ?? null }, null, 2) + '\n');
    return 0;
  }
  const total = Object.values(s.requests).reduce((a, b) => a + b, 0);
  const e = s.engine;
  const lines = [
    `${st.mountpoint}: cowlog mount of ${st.device} (server pid ${st.pid}), serving since ${new Date(s.sinceMs).toISOString()}: ${total} requests${s.binding === undefined ? '' : `, and ${s.binding.getxattrNone} getxattr the binding answered (no attributes: src/fuse/noxattr.ts)`}`,
    `engine: ${e['checkpoints'] ?? 0} checkpoints, ${e['redoGroups'] ?? 0} fsync redo groups (${e['redoBlocks'] ?? 0} blocks), ${e['dataBlocksWritten'] ?? 0} data blocks, ${e['nodesWritten'] ?? 0} tree nodes and ${e['tableBlocksWritten'] ?? 0} table blocks written`,
    ...(s.memory ? memory_lines(s.memory) : []),
    '',
    'time cowlog took to answer, per request kind (µs; median and p99 estimated within their bucket):',
  ];
  for (const [op, j] of Object.entries(s.latency)) {
    const h = Histogram.from(j);
    lines.push('', `${op}: ${h.count} requests, median ${h.quantile(0.5)} us, p99 ${h.quantile(0.99)} us, max ${h.max} us`, ...h.render());
  }
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
