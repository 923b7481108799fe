// fsck: checks a cowlog device from its superblock down to every record.
//
// What is checked:
// - both superblock copies; the checkpoint ring (damaged slots are reported as warnings: the
//   ring exists so that a torn checkpoint write costs nothing);
// - every metadata block's CRC32C and self-description (done by decoding it): every table
//   block the directory lists is read, every node of every tree;
// - the B+tree: order, ranges, fanout, equal leaf depth;
// - reference counts recomputed from scratch: each node id's parents against the NAT, each block's
//   holders (node, table block, directory block, map slots) against the RCT — which also finds
//   double allocation — and each segment's valid count against the SUT; the counters the
//   checkpoint and the mount keep (nodes, valid blocks, table blocks, free segments);
// - the segment summary of every live block against what holds it;
// - POSIX structure (records.ts): every name points at an inode, link counts, '..' of
//   directories, inline data and block maps against file sizes, st_blocks counts, unreachable
//   inodes;
// - with `data`, every mapped data block's CRC32C.
// With readOnly (-n) nothing is written: pending fsync records are rolled forward in memory only.
//
// Memory: the tables and nodes go through the volume's caches (bounded); what fsck recounts is
// kept per segment and per NAT block that something uses (claims.ts), and the records pass
// keeps 25 bytes per inode and name: it follows what the filesystem holds, not the device.

import type { BlockDevice } from '../device/device.js';
import { BLOCK_SIZE } from '../device/device.js';
import { Volume } from '../checkpoint/volume.js';
import { is_leaf } from '../format/node.js';
import type { LeafBody } from '../format/node.js';
import { key, key_str, map_decode, MAP_SLOTS, RecKind } from '../format/records.js';
import { cp_header_decode } from '../format/checkpoint.js';
import { addr_in_main, cp_slot_addr, TABLE_NAMES, TableId } from '../format/geometry.js';
import { sb_decode } from '../format/superblock.js';
import { table_block_decode } from '../format/table.js';
import { BlockKind, SegState, SUB_SHARED } from '../log/segments.js';
import { crc32c } from '../util/crc32c.js';
import { cluster_compressed, cluster_raw } from '../checkpoint/cluster_read.js';
import { CLUSTER_BLOCKS } from '../format/cluster.js';
import { FsError } from '../util/errors.js';
import { nid_of } from '../util/ids.js';
import type { NodeId } from '../util/ids.js';
import { BlockClaims, ClaimKind, NodeParents } from './claims.js';
import { records_check } from './records.js';

/** Where fsck is, for a progress line: `done` of `total` (0: not known) in `phase`. */
export interface FsckProgress {
  phase: 'tables' | 'trees' | 'nodes' | 'records' | 'blocks';
  done: number;
  total: number;
}

export interface FsckOptions {
  /** never write (-n): roll pending fsync records forward in memory only */
  readOnly?: boolean;
  /** also read every data block and check its CRC32C */
  data?: boolean;
  /** progress and notes */
  log?: (msg: string) => void;
  /** called now and then while checking (a terminal shows it as a progress line) */
  progress?: (p: FsckProgress) => void;
  /** bytes the volume's caches may hold while fsck reads (the mount's budget otherwise) */
  cacheBytes?: number;
}

export interface FsckReport {
  errors: string[];
  warnings: string[];
  /** what was looked at */
  counts: { nodes: number; records: number; inodes: number; dirs: number; files: number; dataBlocks: number; compressedClusters: number; tableBlocks: number; snapshots: number };
  checkpointSeq: number;
  /** fsync groups rolled forward (in memory only with readOnly) */
  rolledForward: number;
  /** file blocks that roll-forward rebuilt from logged small writes, which recovery writes as data blocks (with readOnly they stay in memory and are not in dataBlocks) */
  pendingBlocks: number;
  /** whether fsck wrote a recovery checkpoint (not with readOnly) */
  recovered: boolean;
  /** whether every data block was read (--data) */
  dataChecked: boolean;
  /** bytes of fsck's own recount structures at their largest */
  memoryBytes: number;
  /**
   * What fsck recorded in the filesystem (not with readOnly): 'set' when it found errors (a
   * mount is then read-only unless forced), 'cleared' when it found none where an earlier fsck
   * had; null when nothing changed
   */
  errorsRecorded: 'set' | 'cleared' | null;
}

export const FSCK_CLEAN = 0;
export const FSCK_ERRORS = 4;
export const FSCK_FAILED = 8;

const ERRORS_MAX = 200;

export function fsck(dev: BlockDevice, o: FsckOptions = {}): FsckReport {
  const rep: FsckReport = {
    errors: [], warnings: [],
    counts: { nodes: 0, records: 0, inodes: 0, dirs: 0, files: 0, dataBlocks: 0, compressedClusters: 0, tableBlocks: 0, snapshots: 0 },
    checkpointSeq: 0, rolledForward: 0, pendingBlocks: 0, recovered: false, dataChecked: o.data === true, memoryBytes: 0, errorsRecorded: null,
  };
  const err = (m: string): void => {
    if (rep.errors.length < ERRORS_MAX) rep.errors.push(m);
    else if (rep.errors.length === ERRORS_MAX) rep.errors.push('... more errors not listed');
  };
  const warn = (m: string): void => { rep.warnings.push(m); };
  const progress = o.progress ?? (() => {});

  // superblock copies (superblock_read names a device that cannot be cowlog at all)
  Volume.superblock_read(dev);
  const sbBlocks = dev.read(0, 2);
  for (const a of [0, 1]) {
    try {
      sb_decode(sbBlocks.subarray(a * BLOCK_SIZE, (a + 1) * BLOCK_SIZE), a);
    } catch (e) {
      (a === 0 ? err : warn)(`superblock copy at block ${a}: ${(e as Error).message}`);
    }
  }
  {
    // the copies differ only in their copy number and CRC; compare the rest
    const a = Buffer.from(sbBlocks.subarray(0, BLOCK_SIZE));
    const b = Buffer.from(sbBlocks.subarray(BLOCK_SIZE));
    a.writeUInt16LE(0, 6); b.writeUInt16LE(0, 6);
    a.writeUInt32LE(0, BLOCK_SIZE - 4); b.writeUInt32LE(0, BLOCK_SIZE - 4);
    if (!a.equals(b)) warn('the two superblock copies differ');
  }

  const cache = o.cacheBytes ? { cacheBytes: o.cacheBytes } : {};
  let writes = !o.readOnly;
  const log = o.log ? { log: o.log } : {};
  let vol: Volume;
  try {
    vol = Volume.open(dev, { readOnly: true, ...cache, ...log });
    // a newer checkpoint that is damaged (not just torn) is evidence: recovery would write a
    // checkpoint after the older one mounted and lose it for good, so fsck then writes nothing
    const damaged = vol.mount.skipped.some((s) => !/corrupt checkpoint block/.test(s));
    if (damaged) writes = false;
    if (writes && (vol.mount.groups > 0 || !vol.mount.clean)) {
      // recover for real, as mount would, and leave the filesystem cleanly unmounted; then check
      const groups = vol.mount.groups;
      vol.abandon();
      Volume.open(dev, { ...cache, ...log }).close();
      vol = Volume.open(dev, { readOnly: true, ...cache });
      rep.rolledForward = groups;
      rep.recovered = true;
    } else {
      rep.rolledForward = vol.mount.groups;
    }
  } catch (e) {
    if (e instanceof FsError && e.code === 'EINVAL') throw e;
    err(`cannot mount: ${(e as Error).message}`);
    return rep;
  }
  try {
    check(vol, dev, o, rep, err, warn, progress);
  } finally {
    // the check itself writes nothing
    vol.abandon();
  }
  // the result goes into the filesystem (a checkpoint flag): a filesystem with errors mounts
  // read-only until an fsck finds none again
  const found = rep.errors.length > 0;
  if (!writes && !o.readOnly) warn(`nothing was written: a newer checkpoint than ${rep.checkpointSeq} is damaged, and a mount that writes will go on from checkpoint ${rep.checkpointSeq}, losing what came after`);
  if (writes && found !== vol.errors) {
    try {
      const w = Volume.open(dev, { force: true, ...cache });
      w.errors = found;
      w.close();
      rep.errorsRecorded = found ? 'set' : 'cleared';
    } catch (e) {
      if (!(e instanceof FsError)) throw e;
      warn(`the result could not be recorded in the filesystem: ${e.message}`);
    }
  }
  return rep;
}

function check(vol: Volume, dev: BlockDevice, o: FsckOptions, rep: FsckReport, err: (m: string) => void, warn: (m: string) => void, progress: (p: FsckProgress) => void): void {
  rep.checkpointSeq = vol.seq;
  // A checkpoint whose header verifies but whose journal, directory, tables or tree are damaged
  // cannot come from a power cut (they are flushed before the header is written): corruption.
  // A torn header is what the ring exists for: a warning.
  for (const s of vol.mount.skipped) {
    if (/corrupt checkpoint block/.test(s)) warn(`newer checkpoint skipped: ${s}`);
    else err(`newer checkpoint ${s.replace(/^checkpoint /, '')} is damaged; mounted checkpoint ${vol.seq} instead and lost what came after`);
  }
  const g = vol.g;
  // the ring: damaged slots
  for (let s = 0; s < g.cpSlots; s++) {
    const a = cp_slot_addr(s);
    const b = dev.read(a);
    if (b.every((x) => x === 0)) continue;
    try {
      cp_header_decode(b, a, vol.fsid);
    } catch (e) {
      warn(`checkpoint slot ${s}: ${(e as Error).message}`);
    }
  }

  const log = vol.log;
  const tabs = vol.tabs;
  const claims = new BlockClaims(g);
  const KIND_NAMES = ['', 'data', 'metadata'];
  /** A claim of block a by `what`: inside the log, and claimed once unless it is data. */
  const hold = (a: number, what: string, kind: ClaimKind): boolean => {
    if (!addr_in_main(g, a)) { err(`${what} points at block ${a}, outside the log`); return false; }
    const prev = claims.claim(a, kind);
    if (prev !== 0) err(`block ${a} is claimed twice: by ${KIND_NAMES[prev]} (its summary: kind ${log.summary(a).kind} owner ${log.summary(a).owner}) and by ${what}`);
    return true;
  };
  /** The sub-kind a block's summary records (-1: the summary cannot be read; summary_is says why). */
  const summary_sub = (a: number): number => {
    try {
      return log.summary(a).sub;
    } catch {
      return -1;
    }
  };
  const summary_is = (a: number, what: string, kind: BlockKind, sub: number | null, owner: number | null, offset: number | null = null): void => {
    let sm;
    try {
      sm = log.summary(a);
    } catch (e) {
      err(`${what} at ${a}: its summary cannot be read: ${(e as Error).message}`);
      return;
    }
    if (sm.kind !== kind || (sub !== null && sm.sub !== sub) || (owner !== null && sm.owner !== owner) || (offset !== null && sm.offset !== offset)) {
      err(`${what} at ${a}: its summary says kind ${sm.kind}${sub !== null ? `, sub ${sm.sub}` : ''} owner ${sm.owner}${offset !== null ? ` offset ${sm.offset}` : ''}`);
    }
  };

  // ---- the checkpoint's journal, the top directory, every table block -------------------------
  vol.journal_addrs().forEach((a, i) => {
    if (hold(a, `checkpoint journal block ${i}`, ClaimKind.META)) summary_is(a, `checkpoint journal block ${i}`, BlockKind.JOURNAL, null, i);
  });
  let metaBlocks = 0;
  for (let di = 0; di < tabs.cpDir.length; di++) {
    const a = tabs.cpDir[di]!;
    if (a === 0) continue;
    metaBlocks++;
    if (hold(a, `table directory block ${di}`, ClaimKind.META)) summary_is(a, `table directory block ${di}`, BlockKind.DIR, null, di);
  }
  const dirT = tabs.tables[TableId.DIR]!;
  const table_block = (t: number, bi: number, a: number): void => {
    rep.counts.tableBlocks++;
    metaBlocks++;
    const what = `${TABLE_NAMES[t]} table block ${bi}`;
    if (!hold(a, what, ClaimKind.META)) return;
    summary_is(a, what, BlockKind.TABLE, t, bi);
    try {
      table_block_decode(g.tables[t]!, dev.read(a), a, bi, vol.fsid);
    } catch (e) {
      err(`${what}: ${(e as Error).message}`);
    }
  };
  // the DIR table's blocks, then through them every other table block
  const dirOk = new Uint8Array(dirT.geom.blocks);
  for (let dbi = 0; dbi < dirT.geom.blocks; dbi++) {
    const a = tabs.block_addr(TableId.DIR, dbi);
    if (a !== 0) table_block(TableId.DIR, dbi, a);
  }
  for (let dbi = 0; dbi < dirT.geom.blocks; dbi++) {
    progress({ phase: 'tables', done: dbi, total: dirT.geom.blocks });
    if (tabs.block_addr(TableId.DIR, dbi) === 0 && !dirT.dirty.has(dbi)) continue;
    let view;
    try {
      view = dirT.page_at(dbi).view;
      dirOk[dbi] = 1;
    } catch {
      continue; // reported above: the entries it holds cannot be known
    }
    const first = dbi * dirT.geom.perBlock;
    const end = Math.min(dirT.geom.entries, first + dirT.geom.perBlock);
    for (let gi = first; gi < end; gi++) {
      const a = view.getUint32((gi - first) * 4, true);
      if (a === 0) continue;
      const t = g.tables.findIndex((x) => x.id !== TableId.DIR && gi >= x.dirBase && gi < x.dirBase + x.blocks);
      table_block(t, gi - g.tables[t]!.dirBase, a);
    }
  }
  if (metaBlocks !== tabs.metaBlocks) err(`the checkpoint counts ${tabs.metaBlocks} table and directory blocks, the directory lists ${metaBlocks}`);
  /** Table blocks of table t that may hold a non-zero entry: on the device, or changed in memory. */
  const blocks_of = (t: number): number[] => {
    const mt = tabs.tables[t]!;
    const out = new Set<number>(mt.dirty.keys());
    for (let bi = 0; bi < mt.geom.blocks; bi++) {
      const dbi = Math.floor((mt.geom.dirBase + bi) / dirT.geom.perBlock);
      if (tabs.block_addr(TableId.DIR, dbi) === 0 && !dirT.dirty.has(dbi)) { bi = (dbi + 1) * dirT.geom.perBlock - mt.geom.dirBase - 1; continue; }
      if (!dirOk[dbi]) continue;
      if (tabs.block_addr(t, bi) !== 0) out.add(bi);
    }
    return [...out].sort((x, y) => x - y);
  };

  // ---- the trees ------------------------------------------------------------------------------
  // the main tree, then every snapshot and clone: structure, node parents, and every node read
  // from the device; each node once, however many trees share it, and with it the data blocks
  // its map records hold (a block's holders are the distinct leaves mapping it). The volume
  // serves the default tree, which may be a clone: the main tree is main_root().
  const trees: { root: NodeId; label: string }[] = [{ root: vol.main_root(), label: '' }];
  for (const e of vol.snaps.list()) trees.push({ root: vol.snap_root(e.index), label: `snapshot ${JSON.stringify(e.name)}: ` });
  rep.counts.snapshots = trees.length - 1;
  const parents = new NodeParents(g.tables[TableId.NAT]!.perBlock);
  for (const tr of trees) parents.parent_add(tr.root);
  const leaf_data = (nid: NodeId, n: LeafBody): void => {
    for (let i = 0; i < n.keys.length; i++) {
      const k = n.keys[i]!;
      if (k.kind !== RecKind.MAP) continue;
      let m;
      try {
        m = map_decode(n.vals[i]!);
      } catch (e) {
        err(`node ${nid}: record ${key_str(k)}: ${(e as Error).message}`);
        continue;
      }
      for (let s = 0; s < MAP_SLOTS; s++) {
        const a = m.addr[s]!;
        if (a === 0) continue;
        const idx = k.off * MAP_SLOTS + s;
        rep.counts.dataBlocks++;
        const what = `data of inode ${k.ino} block ${idx}`;
        if (!hold(a, what, ClaimKind.DATA)) continue;
        // a shared block (a clone) may be mapped anywhere; any other only where its summary says
        if (summary_sub(a) === SUB_SHARED) summary_is(a, `shared data block (inode ${k.ino} block ${idx})`, BlockKind.DATA, SUB_SHARED, null);
        else summary_is(a, `data block (inode ${k.ino} block ${idx})`, BlockKind.DATA, 0, k.ino, idx);
        if (o.data && crc32c(dev.read(a)) !== m.csum[s]) err(`data block ${a} (inode ${k.ino} block ${idx}) fails its CRC32C check`);
      }
      // compressed clusters: the stored bytes (each block's CRC32C above) must decompress to the
      // length their header gives (map_decode already checked the clusters' shape)
      if (o.data) {
        for (let cs = 0; cs < MAP_SLOTS; cs += CLUSTER_BLOCKS) {
          if (!cluster_compressed(m, cs)) continue;
          rep.counts.compressedClusters++;
          try {
            cluster_raw(vol, m, k.ino, k.off * MAP_SLOTS + cs);
          } catch (e) {
            if (!(e instanceof FsError)) throw e;
            err(e.message.replace(/^EIO: /, ''));
          }
        }
      }
    }
  };
  const checked = new Set<NodeId>();
  const nodesTotal = Math.max(1, vol.nat.used);
  progress({ phase: 'trees', done: 0, total: nodesTotal });
  for (const tr of trees) {
    if (checked.has(tr.root)) continue;
    checked.add(tr.root);
    let issues: { nid: NodeId; what: string }[];
    try {
      issues = vol.tree.check(tr.root, (nid, n) => {
        if (!parents.see(nid)) return;
        rep.counts.nodes++;
        if ((rep.counts.nodes & 1023) === 0) progress({ phase: 'trees', done: rep.counts.nodes, total: nodesTotal });
        if (is_leaf(n)) leaf_data(nid, n);
        else for (const kid of n.kids) parents.parent_add(kid);
      });
    } catch (e) {
      err(`${tr.label}B+tree walk failed: ${(e as Error).message}`);
      issues = [];
    }
    for (const i of issues) err(`${tr.label}B+tree node ${i.nid}: ${i.what}`);
  }
  // pages roll-forward rebuilt from logged small writes (-n keeps them in memory): those of slots
  // no block maps yet are the blocks recovery adds when it writes them
  for (const [ino, pages] of vol.replayPages) {
    for (const idx of pages.keys()) {
      const mk = key(ino, RecKind.MAP, Math.floor(idx / MAP_SLOTS));
      const rec = vol.get(mk);
      if (!rec || map_decode(rec).addr[idx % MAP_SLOTS] === 0) rep.pendingBlocks++;
    }
  }

  // ---- the NAT against the recomputed parents --------------------------------------------------
  const nat = tabs.tables[TableId.NAT]!;
  const natBlocks = new Set<number>([...blocks_of(TableId.NAT), ...parents.blocks()]);
  let natUsed = 0;
  let natDone = 0;
  for (const bi of [...natBlocks].sort((x, y) => x - y)) {
    if ((natDone++ & 63) === 0) progress({ phase: 'nodes', done: natDone, total: natBlocks.size });
    const first = Math.max(1, bi * nat.geom.perBlock);
    const end = Math.min(nat.geom.entries, (bi + 1) * nat.geom.perBlock);
    for (let i = first; i < end; i++) {
      const nid = nid_of(i);
      let refs, addr;
      try {
        refs = vol.nat.refs(nid);
        addr = vol.nat.addr(nid);
      } catch (e) {
        err(`NAT block ${bi} cannot be read: ${(e as Error).message}`);
        break;
      }
      const want = parents.parents(nid);
      if (refs === 0) {
        if (addr !== 0) err(`NAT entry ${i} is free but holds address ${addr}`);
        if (want !== 0) err(`node ${i} is referenced ${want} times but its NAT entry is free`);
        continue;
      }
      natUsed++;
      if (refs !== want) err(`node ${i}: NAT says ${refs} references, the trees hold ${want}${want === 0 ? ' (leaked node)' : ''}`);
      if (addr === 0) { if (!o.readOnly || !vol.mount.groups) err(`node ${i} has no block`); continue; }
      if (hold(addr, `node ${i}`, ClaimKind.META)) summary_is(addr, `node ${i}`, BlockKind.NODE, null, i);
    }
  }
  if (natUsed !== parents.seenCount) err(`${natUsed} NAT entries in use, ${parents.seenCount} nodes reachable`);
  if (natUsed !== vol.nat.used) err(`the checkpoint counts ${vol.nat.used} nodes, the NAT holds ${natUsed}`);

  // ---- each tree is a whole filesystem: its records, checked once per distinct root ------------
  const posixDone = new Set<NodeId>();
  for (const tr of trees) {
    if (posixDone.has(tr.root)) continue;
    posixDone.add(tr.root);
    const main = tr.label === '';
    const tick = (records: number): void => progress({ phase: 'records', done: records, total: 0 });
    if (!records_check(vol, tr.root, tr.label, main ? rep.counts : null, err, tick)) break;
  }

  // ---- reference counts and segment usage ---------------------------------------------------
  // only segments that something claims, or whose reference counts or usage are on the device,
  // can disagree: the rest read as zeros everywhere
  const rct = tabs.tables[TableId.RCT]!;
  const sut = tabs.tables[TableId.SUT]!;
  const segs = new Set<number>(claims.segments());
  const segOf = (a: number): number => Math.floor((a - g.mainStart) / g.segBlocks);
  for (const bi of blocks_of(TableId.RCT)) {
    const lo = Math.max(g.mainStart, bi * rct.geom.perBlock);
    const hi = Math.min(g.mainStart + g.segCount * g.segBlocks, (bi + 1) * rct.geom.perBlock) - 1;
    if (lo > hi) continue;
    for (let s = segOf(lo); s <= segOf(hi); s++) segs.add(s);
  }
  for (const bi of blocks_of(TableId.SUT)) {
    for (let s = bi * sut.geom.perBlock; s < Math.min(g.segCount, (bi + 1) * sut.geom.perBlock); s++) segs.add(s);
  }
  let validTotal = 0;
  let segDone = 0;
  for (const s of [...segs].sort((x, y) => x - y)) {
    if ((segDone++ & 255) === 0) progress({ phase: 'blocks', done: segDone, total: segs.size });
    const start = g.mainStart + s * g.segBlocks;
    let valid = 0;
    try {
      for (let a = start; a < start + g.segBlocks; a++) {
        const want = claims.count(a);
        const have = log.refs(a);
        if (want !== have) err(`block ${a}: reference count ${have}, held ${want} times${want > 0 ? ` (its summary: kind ${log.summary(a).kind} owner ${log.summary(a).owner})` : ''}`);
        if (have > 0) valid++;
      }
      const info = log.seg(s);
      if (info.valid !== valid) err(`segment ${s}: usage table says ${info.valid} valid blocks, reference counts give ${valid}`);
      if (valid > 0 && info.state !== SegState.INUSE) err(`segment ${s} holds ${valid} live blocks but is marked ${info.state === SegState.FREE ? 'free' : 'prefree'}`);
    } catch (e) {
      err(`segment ${s}: its reference counts or usage cannot be read: ${(e as Error).message}`);
    }
    validTotal += valid;
  }
  if (validTotal !== log.validBlocks) err(`the checkpoint counts ${log.validBlocks} valid blocks, the reference counts give ${validTotal}`);
  try {
    for (const m of log.check()) err(`segment counters: ${m}`);
  } catch (e) {
    err(`segment usage cannot be read: ${(e as Error).message}`);
  }
  rep.memoryBytes = claims.bytes + parents.bytes;
}

export function fsck_exit_code(rep: FsckReport): number {
  return rep.errors.length ? FSCK_ERRORS : FSCK_CLEAN;
}
