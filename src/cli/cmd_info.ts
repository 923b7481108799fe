// `cowlog info DEVICE`: geometry, checkpoint, space, segment usage and wear, without mounting.

import fs from 'node:fs';
import type { Command } from './command.js';
import { args_parse, bytes_human, pos_exact } from './command.js';
import { device_open } from '../device/file.js';
import { BLOCK_SIZE } from '../device/device.js';
import { Volume } from '../checkpoint/volume.js';
import { cp_header_decode } from '../format/checkpoint.js';
import { cp_slot_addr } from '../format/geometry.js';
import { HEAD_NAMES, SegState } from '../log/segments.js';
import { WearTracker, wear_path_default } from '../wear/tracker.js';
import { wear_stats } from '../wear/stats.js';
import { snapshots_held } from '../snap/usage.js';
import { WEAR_SPREAD } from '../cleaner/cleaner.js';
import { SNAP_FLAG_WRITABLE } from '../format/snapshot.js';
import { tree_name } from '../roots/default.js';
import { compress_usage } from '../fs/compress.js';
import { FEATURE_COMPRESS_LZ4 } from '../format/superblock.js';
import { CAUSE_NAMES, TRIGGER_NAMES } from '../device/cause.js';
import type { WriteCounts } from '../device/counted.js';
import { info_stats } from './info_stats.js';

const HELP = `usage: cowlog info [--json] [--wear FILE] DEVICE
       cowlog info --stats [--json] MOUNTPOINT

Describes the cowlog filesystem on DEVICE without changing it: geometry, the newest checkpoint
(and whether the last unmount was clean), space (and what snapshots hold), the default tree and
a trial boot (or a trial that fell back), what was written since mkfs and why (blocks by cause:
file data, fsync redo, B+tree nodes, each table, checkpoints, cleaner and wear-levelling moves;
checkpoints by what triggered them), a histogram of segment utilisation, the log heads, how
often segments have been written (wear), and the per-block wear recorded in the wear file kept
beside the device (see docs/WEARFILE.md), if there is one.

With --stats, describes a running mount instead, asking its server: what its caches hold
against the memory budget (-o cache=), what the server holds against its resident bound
(-o mem=) and how far that bound scaled the caches down, the requests it served
since it started, a latency histogram per request kind (power-of-two buckets of µs, as
biolatency draws them; the time cowlog took to answer, the kernel's part not included), and
the engine's counts of checkpoints, fsync redo groups and blocks written.

options:
  --stats      MOUNTPOINT is a running mount: its requests and latency histograms
  --json       print the same as one JSON object
  --wear FILE  the wear file to summarise (default: beside the image, or
               /var/lib/cowlog/wear/<device>.wear for a block device)`;

/** The engine's write counts (cause.ts) by name, the causes and triggers with none left out. */
function writes_info(w: WriteCounts): { blocks: number; requests: number; byCause: Record<string, { blocks: number; requests: number }>; checkpointsBy: Record<string, number> } {
  const byCause: Record<string, { blocks: number; requests: number }> = {};
  let blocks = 0, requests = 0;
  w.blocks.forEach((b, c) => {
    if (b === 0 && w.requests[c] === 0) return;
    byCause[CAUSE_NAMES[c]!] = { blocks: b, requests: w.requests[c]! };
    blocks += b;
    requests += w.requests[c]!;
  });
  const checkpointsBy: Record<string, number> = {};
  w.checkpoints.forEach((n, k) => { if (n > 0) checkpointsBy[TRIGGER_NAMES[k]!] = n; });
  return { blocks, requests, byCause, checkpointsBy };
}

/** "data 61 %, node 20 %, ..." largest first. */
function shares(by: Record<string, { blocks: number }>, total: number): string {
  return Object.entries(by).sort((x, y) => y[1].blocks - x[1].blocks)
    .map(([k, c]) => `${k} ${total ? ((100 * c.blocks) / total).toFixed(c.blocks * 1000 < total ? 2 : 1) : '0'} %`).join(', ');
}

export const cmd_info: Command = {
  name: 'info',
  summary: 'describe a cowlog filesystem: geometry, checkpoint, space, segments, wear; --stats: a running mount\'s latencies',
  help: HELP,
  async run(argv) {
    const a = args_parse(argv, { flags: ['--json', '--stats'], values: ['--wear'] });
    if (a.flags.has('--stats')) return info_stats(pos_exact(a, ['MOUNTPOINT'])[0]!, a.flags.has('--json'));
    const [path] = pos_exact(a, ['DEVICE']);
    const dev = device_open(path!, { readOnly: true });
    try {
      const v = Volume.open(dev, { readOnly: true });
      const g = v.g;
      const log = v.log;
      // segment utilisation histogram, in tenths, and wear per segment
      const hist = new Array<number>(11).fill(0);
      let free = 0, prefree = 0, inuse = 0, wMin = Infinity, wMax = 0, wSum = 0;
      for (let s = 0; s < g.segCount; s++) {
        const i = log.seg(s);
        wMin = Math.min(wMin, i.writes);
        wMax = Math.max(wMax, i.writes);
        wSum += i.writes;
        if (i.state === SegState.FREE) free++;
        else if (i.state === SegState.PREFREE) prefree++;
        else { inuse++; hist[Math.min(10, Math.floor((i.valid / g.segBlocks) * 10))]!++; }
      }
      let cpTime = 0;
      try { cpTime = cp_header_decode(dev.read(cp_slot_addr(v.slot)), cp_slot_addr(v.slot), v.fsid).timeMs; } catch { /* shown as unknown */ }
      const wearPath = a.values.get('--wear') ?? wear_path_default(path!);
      let wear: ReturnType<typeof wear_stats> & { file: string; hostBytes: number; requests: number } | null = null;
      if (fs.existsSync(wearPath)) {
        const rec = WearTracker.load(wearPath);
        wear = { ...wear_stats(rec.counts), file: wearPath, hostBytes: Number(rec.bytes), requests: rec.timeNs.length };
      }
      const info = {
        device: path,
        label: v.sb.label,
        uuid: v.sb.uuid.toString('hex'),
        created: new Date(v.sb.createdMs).toISOString(),
        geometry: {
          bytes: g.blockCount * BLOCK_SIZE, blocks: g.blockCount, segmentBlocks: g.segBlocks, segments: g.segCount,
          mainStart: g.mainStart, reserveSegments: g.reserveSegs, checkpointSlots: g.cpSlots, fanout: g.fanout,
          inlineMax: g.inlineMax, tableBlocks: g.tableBlocks,
        },
        checkpoint: {
          seq: v.seq, slot: v.slot, time: cpTime ? new Date(cpTime).toISOString() : null, cleanUnmount: v.mount.clean,
          skippedDamaged: v.mount.skipped, pendingFsyncGroups: v.mount.groups,
        },
        space: {
          validBlocks: log.validBlocks, inodes: v.inodes, nextInode: v.nextIno, nodes: v.nat.used,
          segmentsFree: free, segmentsPrefree: prefree, segmentsInUse: inuse,
        },
        segmentUtilisation: hist.map((n, i) => ({ range: i === 10 ? '100%' : `${i * 10}-${i * 10 + 9}%`, segments: n })),
        heads: log.heads.map((h, i) => ({ head: HEAD_NAMES[i], segment: h.seg, offset: h.off })),
        segmentWrites: { min: wMin, mean: wSum / g.segCount, max: wMax, spread: wSum ? wMax / (wSum / g.segCount) : 0, range: wMax - wMin, levelBound: WEAR_SPREAD },
        sinceMkfs: { ...v.totals },
        writes: writes_info(v.dev.counts),
        snapshots: (() => {
          const list = v.snaps.list();
          const held = snapshots_held(v);
          return { count: list.length, clones: list.filter((e) => (e.flags & SNAP_FLAG_WRITABLE) !== 0).length, heldBytes: (held.nodes + held.data) * BLOCK_SIZE };
        })(),
        boot: (() => {
          const b = v.boot;
          const f = v.bootFlags;
          return {
            default: tree_name(v.snaps, b.defaultTree),
            trial: f.trial ? { tree: tree_name(v.snaps, b.trialTree), tries: b.trialTries, left: b.trialLeft } : null,
            fellBack: f.fellBack ? { tree: tree_name(v.snaps, b.trialTree), tries: b.trialTries } : null,
            text: v.boot_describe(),
          };
        })(),
        compression: (() => {
          const u = compress_usage(v);
          const logical = u.plainBlocks + u.clusterBlocks;
          const stored = u.plainBlocks + u.storedBlocks;
          return {
            newFiles: v.sb.features & FEATURE_COMPRESS_LZ4 ? 'lz4' : 'none', ...u,
            dataBytes: logical * BLOCK_SIZE, storedBytes: stored * BLOCK_SIZE, savedBytes: (logical - stored) * BLOCK_SIZE,
            ratio: stored ? logical / stored : 1,
          };
        })(),
        wear,
      };
      v.abandon();
      if (a.flags.has('--json')) {
        process.stdout.write(JSON.stringify(info, null, 2) + '\n');
        return 0;
      }
      const pct = (n: number, d: number): string => (d ? `${((100 * n) / d).toFixed(1)} %` : '-');
      const lines = [
        `${path}: cowlog${info.label ? ` '${info.label}'` : ''}, uuid ${info.uuid}, created ${info.created}`,
        `geometry    ${bytes_human(info.geometry.bytes)}: ${g.segCount} segments of ${bytes_human(g.segBlocks * BLOCK_SIZE)} from block ${g.mainStart}; ${g.reserveSegs} reserved; ${g.cpSlots} checkpoint slots; fanout ${g.fanout}; inline up to ${g.inlineMax} B`,
        `checkpoint  #${v.seq} in slot ${v.slot}${info.checkpoint.time ? ` at ${info.checkpoint.time}` : ''}, ${v.mount.clean ? 'unmounted cleanly' : 'NOT unmounted cleanly'}${v.mount.groups ? `; ${v.mount.groups} fsync groups to roll forward at mount` : ''}${v.mount.skipped.length ? `; ${v.mount.skipped.length} newer damaged checkpoints skipped` : ''}`,
        `space       ${bytes_human(log.validBlocks * BLOCK_SIZE)} live in ${log.validBlocks} blocks (${pct(log.validBlocks, g.segCount * g.segBlocks)} of the log); ${v.inodes} inodes; ${v.nat.used} tree nodes`,
        `snapshots   ${info.snapshots.count ? `${info.snapshots.count} (${info.snapshots.clones} clones), holding ${bytes_human(info.snapshots.heldBytes)} the live tree does not (cowlog snapshot list shows each)` : 'none'}`,
        `boot        ${info.boot.text}`,
        `compression new files: ${info.compression.newFiles === 'lz4' ? 'lz4' : 'none'} (mount -o compress=, user.cowlog.compress); ${info.compression.clusters
          ? `${info.compression.clusters} lz4 clusters hold ${bytes_human(info.compression.clusterBlocks * BLOCK_SIZE)} in ${bytes_human(info.compression.storedBlocks * BLOCK_SIZE)}; file data ${bytes_human(info.compression.dataBytes)} stored in ${bytes_human(info.compression.storedBytes)}: ratio ${info.compression.ratio.toFixed(2)}, ${bytes_human(info.compression.savedBytes)} saved${info.compression.damaged ? `; ${info.compression.damaged} damaged clusters (run cowlog fsck)` : ''}`
          : 'no compressed data'}`,
        `segments    ${inuse} in use, ${free} free, ${prefree} freed awaiting a checkpoint`,
        'utilisation of segments in use:',
        ...hist.map((n, i) => `  ${(i === 10 ? '100%' : `${i * 10}-${i * 10 + 9}%`).padStart(7)}  ${String(n).padStart(6)}  ${'#'.repeat(Math.round((60 * n) / Math.max(1, inuse)))}`),
        `log heads   ${log.heads.map((h, i) => `${HEAD_NAMES[i]} ${h.seg < 0 ? '-' : `${h.seg}+${h.off}`}`).join(', ')}`,
        `writes      since mkfs: ${bytes_human(info.writes.blocks * BLOCK_SIZE)} in ${info.writes.requests} requests: ${shares(info.writes.byCause, info.writes.blocks)}`,
        `checkpoints since mkfs: ${Object.values(info.writes.checkpointsBy).reduce((x, y) => x + y, 0)}: ${Object.entries(info.writes.checkpointsBy).sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`,
        `cleaner     since mkfs: ${v.totals.segmentsCleaned} segments cleaned, ${v.totals.blocksMoved} blocks moved, ${v.totals.blocksRecycled} blocks written into holes of dirty segments; ${v.totals.checkpoints} checkpoints`,
        `segment wear  times each segment was written: min ${wMin}, mean ${(wSum / g.segCount).toFixed(2)}, max ${wMax}; max − min ${wMax - wMin} (static wear levelling acts beyond ${WEAR_SPREAD})`,
        wear
          ? `block wear  (${wear.file}) ${bytes_human(wear.hostBytes)} in ${wear.requests} requests; hottest block ${wear.hottestBlock} written ${wear.hottestCount === 1 ? 'once' : `${wear.hottestCount} times`}; mean ${wear.meanOfWritten.toFixed(2)} over ${wear.blocksWritten} blocks written; spread ${wear.spread.toFixed(2)}, CV ${wear.cv.toFixed(2)}; ${wear.blocksNeverWritten} never written`
          : `block wear  no wear file at ${wearPath} (mount with --wear to record one)`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
      return 0;
    } finally {
      dev.close();
    }
  },
};
