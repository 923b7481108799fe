// fsck: checks a cowlog device from its superblock down to every record.
//
// What is checked:
// - both superblock copies; the checkpoint ring (damaged slots are reported as warnings: the
//   ring exists so that a torn checkpoint write costs nothing);
// - every metadata block's CRC32C and self-description (done by decoding it);
// - the B+tree: order, ranges, fanout, equal leaf depth;
// - reference counts recomputed from scratch: each node id's parents against the NAT, each block's
//   holders (node, table block, directory block, map slots) against the RCT — which also finds
//   double allocation — and each segment's valid count against the SUT;
// - the segment summary of every live block against what holds it;
// - POSIX structure: every name points at an inode, link counts, '..' of directories, inline data
//   and block maps against file sizes, st_blocks counts, unreachable inodes;
// - with `data`, every mapped data block's CRC32C.
// With readOnly (-n) nothing is written: pending fsync records are rolled forward in memory only.

import type { BlockDevice } from '../device/device.js';
import { BLOCK_SIZE } from '../device/device.js';
import { Volume } from '../checkpoint/volume.js';
import { is_leaf } from '../format/node.js';
import type { LeafBody } from '../format/node.js';
import {
  counts_decode, dirents_decode, inode_decode, INODE_FLAG_COMPRESS, INODE_FLAG_INLINE, INODE_FLAG_NOCOMPRESS, INODE_FLAGS_KNOWN, key_str, KEY_MAX, KEY_MIN, map_decode, MAP_SLOTS, name_hash, RecKind,
  xattrs_decode, xbigs_decode, REC_KIND_MAX, XATTR_CHUNK_BYTES, xchunk_count,
} from '../format/records.js';
import type { Counts, Inode, Key, XattrBig } from '../format/records.js';
import { cp_header_decode } from '../format/checkpoint.js';
import { cp_slot_addr, TABLE_NAMES } from '../format/geometry.js';
import { sb_decode } from '../format/superblock.js';
import { BlockKind, SegState } from '../log/segments.js';
import { crc32c } from '../util/crc32c.js';
import { cluster_compressed, cluster_raw } from '../checkpoint/cluster_read.js';
import { CLUSTER_BLOCKS } from '../format/cluster.js';
import { FsError } from '../util/errors.js';
import { nid_of } from '../util/ids.js';
import type { NodeId } from '../util/ids.js';
import { dt_of, is_dir, is_lnk, is_reg, S_IFMT } from '../fs/types.js';

export interface FsckOptions {
  /** never write (-n): roll pending fsync records forward in memory only */
  readOnly?: boolean;
  /** also read every data block and check its CRC32C */
  data?: boolean;
  /** progress and notes */
  log?: (msg: string) => void;
}

export interface FsckReport {
  errors: string[];
  warnings: string[];
  /** what was looked at */
  counts: { nodes: number; records: number; inodes: number; dirs: number; files: number; dataBlocks: number; compressedClusters: number; tableBlocks: number; snapshots: number };
  checkpointSeq: number;
  /** fsync groups rolled forward (in memory only with readOnly) */
  rolledForward: number;
  /** whether fsck wrote a recovery checkpoint (not with readOnly) */
  recovered: boolean;
}

export const FSCK_CLEAN = 0;
export const FSCK_ERRORS = 4;
export const FSCK_FAILED = 8;

const ERRORS_MAX = 200;

export function fsck(dev: BlockDevice, o: FsckOptions = {}): FsckReport {
  const rep: FsckReport = {
    errors: [], warnings: [],
    counts: { nodes: 0, records: 0, inodes: 0, dirs: 0, files: 0, dataBlocks: 0, compressedClusters: 0, tableBlocks: 0, snapshots: 0 },
    checkpointSeq: 0, rolledForward: 0, recovered: false,
  };
  const err = (m: string): void => {
    if (rep.errors.length < ERRORS_MAX) rep.errors.push(m);
    else if (rep.errors.length === ERRORS_MAX) rep.errors.push('... more errors not listed');
  };
  const warn = (m: string): void => { rep.warnings.push(m); };

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

  let vol: Volume;
  try {
    vol = Volume.open(dev, { readOnly: true, ...(o.log ? { log: o.log } : {}) });
    if (!o.readOnly && (vol.mount.groups > 0 || !vol.mount.clean)) {
      // recover for real, as mount would, and leave the filesystem cleanly unmounted; then check
      const groups = vol.mount.groups;
      vol.abandon();
      Volume.open(dev, o.log ? { log: o.log } : {}).close();
      vol = Volume.open(dev, { readOnly: true });
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
  const mainStart = g.mainStart;
  const mainEnd = g.mainStart + g.segCount * g.segBlocks;
  /** holders of each block, recomputed */
  const holders = new Uint32Array(g.blockCount);
  const holderWhat = new Map<number, string>();
  const hold = (a: number, what: string): void => {
    if (a < mainStart || a >= mainEnd) { err(`${what} points at block ${a}, outside the log`); return; }
    holders[a]!++;
    const prev = holderWhat.get(a);
    // only data blocks may have several holders (leaves shared between snapshots)
    if (prev !== undefined && !(prev.startsWith('data') && what.startsWith('data'))) err(`block ${a} is claimed twice: by ${prev} and by ${what}`);
    if (prev === undefined) holderWhat.set(a, what);
  };

  // the checkpoint's journal blocks, the tables and the directory
  vol.journal_addrs().forEach((a, i) => {
    hold(a, `checkpoint journal block ${i}`);
    const sm = log.summary(a);
    if (sm.kind !== BlockKind.JOURNAL || sm.owner !== i) err(`checkpoint journal block ${i} at ${a}: its summary says kind ${sm.kind} owner ${sm.owner}`);
  });
  for (let di = 0; di < vol.tabs.cpDir.length; di++) {
    const a = vol.tabs.cpDir[di]!;
    if (a === 0) continue;
    hold(a, `table directory block ${di}`);
    const sm = log.summary(a);
    if (sm.kind !== BlockKind.DIR || sm.owner !== di) err(`table directory block ${di} at ${a}: its summary says kind ${sm.kind} owner ${sm.owner}`);
  }
  for (const t of g.tables) {
    for (let bi = 0; bi < t.blocks; bi++) {
      const a = vol.tabs.block_addr(t.id, bi);
      if (a === 0) continue;
      rep.counts.tableBlocks++;
      hold(a, `${TABLE_NAMES[t.id]} table block ${bi}`);
      const sm = log.summary(a);
      if (sm.kind !== BlockKind.TABLE || sm.sub !== t.id || sm.owner !== bi) err(`${TABLE_NAMES[t.id]} table block ${bi} at ${a}: its summary disagrees (kind ${sm.kind}, table ${sm.sub}, block ${sm.owner})`);
    }
  }

  // the trees (the main tree, then every snapshot and clone): structure, node parents, and every
  // node read from the device; each node once, however many trees share it, and with it the data
  // blocks its map records hold (a block's holders are the distinct leaves mapping it)
  // (the volume serves the default tree, which may be a clone: the main tree is main_root())
  const trees: { root: NodeId; label: string }[] = [{ root: vol.main_root(), label: '' }];
  for (const e of vol.snaps.list()) trees.push({ root: vol.snap_root(e.index), label: `snapshot ${JSON.stringify(e.name)}: ` });
  rep.counts.snapshots = trees.length - 1;
  const parents = new Map<NodeId, number>();
  for (const tr of trees) parents.set(tr.root, (parents.get(tr.root) ?? 0) + 1);
  const seen = new Set<NodeId>();
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
        hold(a, `data of inode ${k.ino} block ${idx}`);
        if (a < mainStart || a >= mainEnd) continue;
        const sm = log.summary(a);
        if (sm.kind !== BlockKind.DATA || sm.owner !== k.ino || sm.offset !== idx) err(`data block ${a} (inode ${k.ino} block ${idx}): its summary says kind ${sm.kind} owner ${sm.owner} offset ${sm.offset}`);
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
  for (const tr of trees) {
    if (checked.has(tr.root)) continue;
    checked.add(tr.root);
    let issues: { nid: NodeId; what: string }[];
    try {
      issues = vol.tree.check(tr.root, (nid, n) => {
        if (seen.has(nid)) return;
        seen.add(nid);
        rep.counts.nodes++;
        if (is_leaf(n)) leaf_data(nid, n);
        else for (const kid of n.kids) parents.set(kid, (parents.get(kid) ?? 0) + 1);
      });
    } catch (e) {
      err(`${tr.label}B+tree walk failed: ${(e as Error).message}`);
      issues = [];
    }
    for (const i of issues) err(`${tr.label}B+tree node ${i.nid}: ${i.what}`);
  }

  // NAT against the recomputed parents
  let natUsed = 0;
  for (let i = 1; i < vol.nat.capacity; i++) {
    const nid = nid_of(i);
    const refs = vol.nat.refs(nid);
    const addr = vol.nat.addr(nid);
    const want = parents.get(nid) ?? 0;
    if (refs === 0) {
      if (addr !== 0) err(`NAT entry ${i} is free but holds address ${addr}`);
      if (want !== 0) err(`node ${i} is referenced ${want} times but its NAT entry is free`);
      continue;
    }
    natUsed++;
    if (refs !== want) err(`node ${i}: NAT says ${refs} references, the trees hold ${want}${want === 0 ? ' (leaked node)' : ''}`);
    if (addr === 0) { if (!o.readOnly || !vol.mount.groups) err(`node ${i} has no block`); continue; }
    hold(addr, `node ${i}`);
    const sm = log.summary(addr);
    if (sm.kind !== BlockKind.NODE || sm.owner !== i) err(`node ${i} at ${addr}: its summary says kind ${sm.kind} owner ${sm.owner}`);
  }
  if (natUsed !== seen.size) err(`${natUsed} NAT entries in use, ${seen.size} nodes reachable`);

  // each tree is a whole filesystem: its records, checked once per distinct root
  const posixDone = new Set<NodeId>();
  for (const tr of trees) {
    if (posixDone.has(tr.root)) continue;
    posixDone.add(tr.root);
    if (!records_check(vol, tr.root, tr.label, rep, err)) break;
  }

  // reference counts and segment usage
  const segValid = new Uint32Array(g.segCount);
  for (let a = mainStart; a < mainEnd; a++) {
    const want = holders[a]!;
    const have = log.refs(a);
    if (want !== have) err(`block ${a}: reference count ${have}, held ${want} times${holderWhat.has(a) ? ` (by ${holderWhat.get(a)})` : ''}`);
    if (have > 0) segValid[log.seg_of(a)]!++;
  }
  for (let s = 0; s < g.segCount; s++) {
    const info = log.seg(s);
    if (info.valid !== segValid[s]) err(`segment ${s}: usage table says ${info.valid} valid blocks, reference counts give ${segValid[s]}`);
    if (segValid[s]! > 0 && info.state !== SegState.INUSE) err(`segment ${s} holds ${segValid[s]} live blocks but is marked ${info.state === SegState.FREE ? 'free' : 'prefree'}`);
  }
  // the check itself writes nothing
  vol.abandon();
  return rep;
}

/**
 * The POSIX structure of one tree: every name points at an inode, link counts, '..' of
 * directories, inline data and block maps against sizes, the volume counters. Inode, directory
 * and file counts are those of the main tree (the first checked). Returns false when the records
 * cannot be read at all.
 */
function records_check(vol: Volume, root: NodeId, label: string, rep: FsckReport, err: (m: string) => void): boolean {
  const g = vol.g;
  const main = label === '';
  const count = (what: 'records' | 'inodes' | 'dirs' | 'files'): void => { if (main) rep.counts[what]++; };
  // records: one pass in key order
  const inodes = new Map<number, Inode>();
  const names = new Map<number, number>(); // ino → names pointing at it
  const subdirs = new Map<number, number>(); // dir → subdirectories named in it
  const dirParentSeen = new Map<number, number>(); // dir → the directory naming it
  const mapped = new Map<number, { count: number; maxIdx: number }>();
  const inlineLen = new Map<number, number>();
  const orphans = new Set<number>();
  const pendingNames: { dir: number; name: string; ino: number; type: number }[] = [];
  // xattr names per inode (both lists), large values and the chunks found
  const xnames = new Map<number, Set<string>>();
  const xbigs: { ino: number; b: XattrBig }[] = [];
  const xchunks = new Map<string, Buffer>(); // `${ino}:${off}` → chunk
  const xname_add = (ino: number, name: Buffer): void => {
    let set = xnames.get(ino);
    if (!set) { set = new Set(); xnames.set(ino, set); }
    const n = name.toString('latin1');
    if (set.has(n)) err(`${label}inode ${ino}: xattr ${name.toString()} is stored twice`);
    set.add(n);
  };
  let counts: Counts | null = null;
  let cur = -1;
  const recs: { k: Key; v: Buffer }[] = [];
  try {
    vol.tree.scan(root, KEY_MIN, KEY_MAX, (k, v) => { recs.push({ k, v }); });
  } catch (e) {
    err(`${label}records after ${recs.length ? key_str(recs[recs.length - 1]!.k) : 'the start'} are unreadable: ${(e as Error).message}`);
    return false;
  }
  for (const { k, v } of recs) {
    count('records');
    if (k.kind < 1 || k.kind > REC_KIND_MAX) { err(`${label}record ${key_str(k)} of unknown kind`); continue; }
    try {
      if (k.ino === 0) {
        if (k.kind === RecKind.ORPHAN) orphans.add(k.off);
        else if (k.kind === RecKind.COUNTS && k.off === 0) counts = counts_decode(v);
        else err(`${label}record ${key_str(k)} under inode 0`);
        continue;
      }
      if (k.kind === RecKind.INODE) {
        if (k.off !== 0) err(`${label}inode record ${key_str(k)} with a non-zero offset`);
        inodes.set(k.ino, inode_decode(v));
        cur = k.ino;
        continue;
      }
      if (cur !== k.ino) { err(`${label}record ${key_str(k)} belongs to inode ${k.ino}, which has no inode record`); continue; }
      switch (k.kind) {
        case RecKind.DIRENT: {
          const list = dirents_decode(v);
          for (const d of list) {
            if (name_hash(d.name) !== k.off) err(`${label}directory ${k.ino}: entry ${JSON.stringify(d.name.toString())} filed under the wrong hash`);
            names.set(d.ino, (names.get(d.ino) ?? 0) + 1);
            if (d.type === dt_of(0o040000)) {
              subdirs.set(k.ino, (subdirs.get(k.ino) ?? 0) + 1);
              if (dirParentSeen.has(d.ino)) err(`${label}directory ${d.ino} has two names (in ${dirParentSeen.get(d.ino)} and ${k.ino})`);
              dirParentSeen.set(d.ino, k.ino);
            }
            pendingNames.push({ dir: k.ino, name: d.name.toString(), ino: d.ino, type: d.type });
          }
          break;
        }
        case RecKind.XATTR:
          for (const x of xattrs_decode(v)) {
            if (name_hash(x.name) !== k.off) err(`${label}inode ${k.ino}: xattr ${x.name.toString()} filed under the wrong hash`);
            xname_add(k.ino, x.name);
          }
          break;
        case RecKind.XBIG:
          for (const b of xbigs_decode(v)) {
            if (name_hash(b.name) !== k.off) err(`${label}inode ${k.ino}: xattr ${b.name.toString()} filed under the wrong hash`);
            xname_add(k.ino, b.name);
            xbigs.push({ ino: k.ino, b });
          }
          break;
        case RecKind.XCHUNK:
          xchunks.set(`${k.ino}:${k.off}`, v);
          break;
        case RecKind.INLINE:
          inlineLen.set(k.ino, v.length);
          break;
        case RecKind.MAP: {
          const m = map_decode(v);
          const st = mapped.get(k.ino) ?? { count: 0, maxIdx: -1 };
          for (let s = 0; s < MAP_SLOTS; s++) {
            if (m.addr[s] === 0) continue;
            st.count++;
            st.maxIdx = Math.max(st.maxIdx, k.off * MAP_SLOTS + s);
          }
          mapped.set(k.ino, st);
          break;
        }
        default:
          err(`${label}record ${key_str(k)} of kind ${k.kind} under an inode`);
      }
    } catch (e) {
      err(`${label}record ${key_str(k)}: ${(e as Error).message}`);
    }
  }

  // large xattr values: every chunk present, of the right length, the whole matching its CRC32C;
  // no chunk that no value names
  for (const { ino, b } of xbigs) {
    const n = xchunk_count(b.len);
    const parts: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const at = `${ino}:${b.id * 0x10000 + i}`;
      const c = xchunks.get(at);
      const want = i < n - 1 ? XATTR_CHUNK_BYTES : b.len - (n - 1) * XATTR_CHUNK_BYTES;
      if (c === undefined) { err(`${label}inode ${ino}: xattr ${b.name.toString()}: chunk ${i} of ${n} is missing`); continue; }
      xchunks.delete(at);
      if (c.length !== want) err(`${label}inode ${ino}: xattr ${b.name.toString()}: chunk ${i} holds ${c.length} bytes, not ${want}`);
      parts.push(c);
    }
    if (parts.length === n && crc32c(Buffer.concat(parts)) !== b.crc) err(`${label}inode ${ino}: xattr ${b.name.toString()} fails its CRC32C check`);
  }
  for (const at of xchunks.keys()) err(`${label}xattr chunk (${at.replace(':', ', xchunk, ')}) belongs to no attribute`);

  // names against inodes
  for (const n of pendingNames) {
    const t = inodes.get(n.ino);
    if (!t) { err(`${label}directory ${n.dir}: entry ${JSON.stringify(n.name)} names inode ${n.ino}, which does not exist`); continue; }
    if (n.type !== dt_of(t.mode)) err(`${label}directory ${n.dir}: entry ${JSON.stringify(n.name)} says type ${n.type}, inode ${n.ino} is type ${dt_of(t.mode)}`);
    if (is_dir(t.mode) && t.parent !== n.dir) err(`${label}directory ${n.ino} is named in ${n.dir} but its '..' is ${t.parent}`);
  }
  if (!inodes.has(1) || !is_dir(inodes.get(1)!.mode)) err(label + 'the root directory (inode 1) is missing');
  let maxIno = 0;
  for (const [ino, r] of inodes) {
    maxIno = Math.max(maxIno, ino);
    count('inodes');
    const fmt = r.mode & S_IFMT;
    if (is_dir(r.mode)) {
      count('dirs');
      const want = 2 + (subdirs.get(ino) ?? 0);
      if (r.nlink !== want) err(`${label}directory ${ino}: nlink ${r.nlink}, expected ${want}`);
      if (ino !== 1 && !names.has(ino)) err(`${label}directory ${ino} has no name (unreachable)`);
      if (ino === 1 && r.parent !== 1) err(`${label}root directory's '..' is ${r.parent}`);
      if (mapped.has(ino) || inlineLen.has(ino)) err(`${label}directory ${ino} has file data`);
      continue;
    }
    if (is_reg(r.mode)) count('files');
    const nm = names.get(ino) ?? 0;
    if (r.nlink !== nm) {
      if (!(nm === 0 && r.nlink === 0 && orphans.has(ino))) err(`${label}inode ${ino}: nlink ${r.nlink} but ${nm} names${nm === 0 && !orphans.has(ino) ? ' (unreachable, not an orphan)' : ''}`);
    }
    if (fmt !== 0o100000 && fmt !== 0o120000 && (mapped.has(ino) || inlineLen.has(ino))) err(`${label}inode ${ino} of type ${fmt.toString(8)} has data`);
    const inline = (r.flags & INODE_FLAG_INLINE) !== 0;
    if (r.flags & ~INODE_FLAGS_KNOWN) err(`${label}inode ${ino}: unknown flag bits 0x${(r.flags & ~INODE_FLAGS_KNOWN).toString(16)}`);
    if ((r.flags & INODE_FLAG_COMPRESS) && (r.flags & INODE_FLAG_NOCOMPRESS)) err(`${label}inode ${ino}: flagged both compressed and not`);
    const m = mapped.get(ino);
    if (inline) {
      if (m) err(`${label}inode ${ino} is inline but has block maps`);
      const len = inlineLen.get(ino) ?? 0;
      if (len !== r.size) err(`${label}inode ${ino}: inline data of ${len} bytes, size ${r.size}`);
      if (r.size > g.inlineMax) err(`${label}inode ${ino}: inline size ${r.size} above the limit ${g.inlineMax}`);
    } else {
      if (inlineLen.has(ino)) err(`${label}inode ${ino} has inline data but is not inline`);
      if (m && m.maxIdx >= Math.ceil(r.size / BLOCK_SIZE)) err(`${label}inode ${ino}: block ${m.maxIdx} mapped beyond its size ${r.size}`);
      if ((m?.count ?? 0) !== r.blocks) err(`${label}inode ${ino}: ${m?.count ?? 0} blocks mapped, its block count says ${r.blocks}`);
    }
    if (is_lnk(r.mode) && r.size === 0) err(`${label}symlink ${ino} is empty`);
  }
  for (const ino of orphans) {
    const r = inodes.get(ino);
    if (!r) err(`${label}orphan list names inode ${ino}, which does not exist`);
    else if (r.nlink !== 0) err(`${label}orphan ${ino} still has ${r.nlink} links`);
  }
  if (!counts) err(label + 'the volume counters record is missing');
  else {
    if (counts.inodes !== inodes.size) err(`${label}the volume counters say ${counts.inodes} inodes, the tree holds ${inodes.size}`);
    if (counts.nextIno <= maxIno) err(`${label}next inode number ${counts.nextIno} is not above the largest in use (${maxIno})`);
  }
  return true;
}

export function fsck_exit_code(rep: FsckReport): number {
  return rep.errors.length ? FSCK_ERRORS : FSCK_CLEAN;
}
