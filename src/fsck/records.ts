// fsck of one tree as a filesystem: every name points at an inode of its type, link counts,
// '..' of directories, inline data and block maps against sizes, xattrs, orphans, the volume
// counters.
//
// The records are read once, in key order, as a stream: an inode's records follow its INODE
// record, so whatever concerns one inode alone is checked when the next inode starts. What
// links inodes — names — is kept in typed arrays (16 bytes per inode, 9 per name: 25 MiB for a
// million files), sorted once at the end and merged with the inodes. Names are not kept: the
// few that an error needs are looked up again in their directory.
//
// Invariants: the checks and their messages are those of a pass over all records held in memory
// (what this replaced); an error stops nothing but the tree's records being unreadable.

import { BLOCK_SIZE } from '../device/device.js';
import type { Volume } from '../checkpoint/volume.js';
import {
  counts_decode, dirents_decode, inode_decode, INODE_FLAG_COMPRESS, INODE_FLAG_INLINE, INODE_FLAG_NOCOMPRESS, INODE_FLAG_PREALLOC, INODE_FLAGS_ATTRS, INODE_FLAGS_KNOWN, key, key_str,
  KEY_MAX, KEY_MIN, map_decode, MAP_SLOTS, name_hash, RecKind, REC_KIND_MAX, xattrs_decode, xbigs_decode, XATTR_CHUNK_BYTES, xchunk_count,
} from '../format/records.js';
import type { Counts, Inode, Key, XattrBig } from '../format/records.js';
import { FEATURE_ATTRS } from '../format/superblock.js';
import { crc32c } from '../util/crc32c.js';
import type { NodeId } from '../util/ids.js';
import { dt_of, is_dir, is_lnk, is_reg, S_IFMT } from '../fs/types.js';

/** Counts fsck reports of the main tree. */
export interface RecordCounts {
  records: number;
  inodes: number;
  dirs: number;
  files: number;
}

/** A growable array of u32. */
class U32s {
  a = new Uint32Array(1024);
  n = 0;
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Uint32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  get bytes(): number {
    return this.a.byteLength;
  }
}

const DT_DIR = dt_of(0o040000);

/** What one inode's own records held (checked when the next inode starts). */
interface InodeState {
  ino: number;
  r: Inode;
  xnames: Set<string>;
  xbigs: XattrBig[];
  xchunks: Map<number, Buffer>;
  mapCount: number;
  mapMaxIdx: number;
  hasMap: boolean;
  inlineLen: number;
}

/** The name under which directory `dir` lists inode `ino` (for messages). */
function name_of(vol: Volume, root: NodeId, dir: number, ino: number): string {
  let found = `(an entry for inode ${ino})`;
  vol.tree.scan(root, key(dir, RecKind.DIRENT, 0), key(dir, RecKind.DIRENT, KEY_MAX.off), (_k, v) => {
    for (const d of dirents_decode(v)) if (d.ino === ino) { found = d.name.toString(); return false; }
    return true;
  });
  return found;
}

/**
 * Checks the records of the tree at `root`. `label` prefixes its messages (empty for the main
 * tree, whose numbers go to `counts`). Returns false when the records cannot be read at all;
 * `tick` is called every few thousand records (progress).
 */
export function records_check(vol: Volume, root: NodeId, label: string, counts: RecordCounts | null, err: (m: string) => void, tick: (records: number) => void = () => {}): boolean {
  const g = vol.g;
  const count = (what: keyof RecordCounts): void => { if (counts) counts[what]++; };
  const inoA = new U32s(), modeA = new U32s(), nlinkA = new U32s(), parentA = new U32s();
  const nameTarget = new U32s(), nameDir = new U32s();
  let nameType = new Uint8Array(1024);
  const orphans = new Set<number>();
  let volCounts: Counts | null = null;
  let cur: InodeState | null = null;
  let lastKey: Key | null = null;
  let records = 0;

  const inode_done = (st: InodeState): void => {
    const { ino, r } = st;
    // large xattr values: every chunk present, of the right length, the whole matching its
    // CRC32C; no chunk that no value names
    for (const b of st.xbigs) {
      const n = xchunk_count(b.len);
      const parts: Buffer[] = [];
      for (let i = 0; i < n; i++) {
        const at = b.id * 0x10000 + i;
        const c = st.xchunks.get(at);
        const want = i < n - 1 ? XATTR_CHUNK_BYTES : b.len - (n - 1) * XATTR_CHUNK_BYTES;
        if (c === undefined) { err(`${label}inode ${ino}: xattr ${b.name.toString()}: chunk ${i} of ${n} is missing`); continue; }
        st.xchunks.delete(at);
        if (c.length !== want) err(`${label}inode ${ino}: xattr ${b.name.toString()}: chunk ${i} holds ${c.length} bytes, not ${want}`);
        parts.push(c);
      }
      if (parts.length === n && crc32c(Buffer.concat(parts)) !== b.crc) err(`${label}inode ${ino}: xattr ${b.name.toString()} fails its CRC32C check`);
    }
    for (const off of st.xchunks.keys()) err(`${label}xattr chunk (${ino}, xchunk, ${off}) belongs to no attribute`);
    if ((r.flags & INODE_FLAGS_ATTRS) && !(vol.sb.features & FEATURE_ATTRS)) err(`${label}inode ${ino}: attribute flags 0x${(r.flags & INODE_FLAGS_ATTRS).toString(16)} on a filesystem without the feature ATTRS`);
    const fmt = r.mode & S_IFMT;
    if (is_dir(r.mode)) {
      if (st.hasMap || st.inlineLen >= 0) err(`${label}directory ${ino} has file data`);
      return;
    }
    if (fmt !== 0o100000 && fmt !== 0o120000 && (st.hasMap || st.inlineLen >= 0)) err(`${label}inode ${ino} of type ${fmt.toString(8)} has data`);
    if (r.flags & ~INODE_FLAGS_KNOWN) err(`${label}inode ${ino}: unknown flag bits 0x${(r.flags & ~INODE_FLAGS_KNOWN).toString(16)}`);
    if ((r.flags & INODE_FLAG_COMPRESS) && (r.flags & INODE_FLAG_NOCOMPRESS)) err(`${label}inode ${ino}: flagged both compressed and not`);
    if ((r.flags & INODE_FLAG_INLINE) !== 0) {
      if (st.hasMap) err(`${label}inode ${ino} is inline but has block maps`);
      const len = Math.max(0, st.inlineLen);
      if (len !== r.size) err(`${label}inode ${ino}: inline data of ${len} bytes, size ${r.size}`);
      if (r.size > g.inlineMax) err(`${label}inode ${ino}: inline size ${r.size} above the limit ${g.inlineMax}`);
    } else {
      if (st.inlineLen >= 0) err(`${label}inode ${ino} has inline data but is not inline`);
      // preallocated blocks (fallocate KEEP_SIZE) may lie past the size; the inode says so
      if (st.hasMap && st.mapMaxIdx >= Math.ceil(r.size / BLOCK_SIZE) && !(r.flags & INODE_FLAG_PREALLOC)) err(`${label}inode ${ino}: block ${st.mapMaxIdx} mapped beyond its size ${r.size}`);
      if (st.mapCount !== r.blocks) err(`${label}inode ${ino}: ${st.mapCount} blocks mapped, its block count says ${r.blocks}`);
    }
    if (is_lnk(r.mode) && r.size === 0) err(`${label}symlink ${ino} is empty`);
  };

  const xname_add = (st: InodeState, name: Buffer): void => {
    const n = name.toString('latin1');
    if (st.xnames.has(n)) err(`${label}inode ${st.ino}: xattr ${name.toString()} is stored twice`);
    st.xnames.add(n);
  };

  const record = (k: Key, v: Buffer): void => {
    lastKey = k;
    records++;
    if ((records & 4095) === 0) tick(records);
    count('records');
    if (k.kind < 1 || k.kind > REC_KIND_MAX) { err(`${label}record ${key_str(k)} of unknown kind`); return; }
    try {
      if (k.ino === 0) {
        if (k.kind === RecKind.ORPHAN) orphans.add(k.off);
        else if (k.kind === RecKind.COUNTS && k.off === 0) volCounts = counts_decode(v);
        else err(`${label}record ${key_str(k)} under inode 0`);
        return;
      }
      if (k.kind === RecKind.INODE) {
        if (k.off !== 0) err(`${label}inode record ${key_str(k)} with a non-zero offset`);
        if (cur) inode_done(cur);
        const r = inode_decode(v);
        cur = { ino: k.ino, r, xnames: new Set(), xbigs: [], xchunks: new Map(), mapCount: 0, mapMaxIdx: -1, hasMap: false, inlineLen: -1 };
        inoA.push(k.ino); modeA.push(r.mode); nlinkA.push(r.nlink); parentA.push(r.parent);
        return;
      }
      const st: InodeState | null = cur;
      if (st === null || st.ino !== k.ino) { err(`${label}record ${key_str(k)} belongs to inode ${k.ino}, which has no inode record`); return; }
      switch (k.kind) {
        case RecKind.DIRENT:
          for (const d of dirents_decode(v)) {
            if (name_hash(d.name) !== k.off) err(`${label}directory ${k.ino}: entry ${JSON.stringify(d.name.toString())} filed under the wrong hash`);
            if (nameTarget.n === nameType.length) { const b = new Uint8Array(nameType.length * 2); b.set(nameType); nameType = b; }
            nameType[nameTarget.n] = d.type;
            nameTarget.push(d.ino);
            nameDir.push(k.ino);
          }
          break;
        case RecKind.XATTR:
          for (const x of xattrs_decode(v)) {
            if (name_hash(x.name) !== k.off) err(`${label}inode ${k.ino}: xattr ${x.name.toString()} filed under the wrong hash`);
            xname_add(st, x.name);
          }
          break;
        case RecKind.XBIG:
          for (const b of xbigs_decode(v)) {
            if (name_hash(b.name) !== k.off) err(`${label}inode ${k.ino}: xattr ${b.name.toString()} filed under the wrong hash`);
            xname_add(st, b.name);
            st.xbigs.push(b);
          }
          break;
        case RecKind.XCHUNK:
          st.xchunks.set(k.off, v);
          break;
        case RecKind.INLINE:
          st.inlineLen = v.length;
          break;
        case RecKind.MAP: {
          const m = map_decode(v);
          st.hasMap = true;
          for (let s = 0; s < MAP_SLOTS; s++) {
            if (m.addr[s] === 0) continue;
            st.mapCount++;
            st.mapMaxIdx = Math.max(st.mapMaxIdx, k.off * MAP_SLOTS + s);
          }
          break;
        }
        default:
          err(`${label}record ${key_str(k)} of kind ${k.kind} under an inode`);
      }
    } catch (e) {
      err(`${label}record ${key_str(k)}: ${(e as Error).message}`);
    }
  };

  try {
    vol.tree.scan(root, KEY_MIN, KEY_MAX, (k, v) => { record(k, v); });
  } catch (e) {
    err(`${label}records after ${lastKey ? key_str(lastKey) : 'the start'} are unreadable: ${(e as Error).message}`);
    return false;
  }
  if (cur) inode_done(cur);

  // names against inodes: names sorted by the inode they name, merged with the inodes (which
  // the scan produced in order)
  const n = inoA.n;
  const ino = inoA.a, mode = modeA.a, nlink = nlinkA.a, parent = parentA.a;
  const index_of = (x: number): number => {
    let lo = 0, hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ino[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo < n && ino[lo] === x ? lo : -1;
  };
  const names = new Uint32Array(n);
  const subdirs = new Uint32Array(n);
  const order = new Uint32Array(nameTarget.n);
  for (let i = 0; i < order.length; i++) order[i] = i;
  const tgt = nameTarget.a, dir = nameDir.a;
  order.sort((a, b) => tgt[a]! - tgt[b]! || a - b);
  let lastDirTarget = -1, lastDirParent = -1;
  for (let j = 0; j < order.length; j++) {
    const i = order[j]!;
    const target = tgt[i]!, d = dir[i]!, type = nameType[i]!;
    if (type === DT_DIR) {
      const di = index_of(d);
      if (di >= 0) subdirs[di]!++;
      if (target === lastDirTarget) err(`${label}directory ${target} has two names (in ${lastDirParent} and ${d})`);
      lastDirTarget = target;
      lastDirParent = d;
    }
    const ti = index_of(target);
    if (ti < 0) { err(`${label}directory ${d}: entry ${JSON.stringify(name_of(vol, root, d, target))} names inode ${target}, which does not exist`); continue; }
    names[ti]!++;
    if (type !== dt_of(mode[ti]!)) err(`${label}directory ${d}: entry ${JSON.stringify(name_of(vol, root, d, target))} says type ${type}, inode ${target} is type ${dt_of(mode[ti]!)}`);
    if (is_dir(mode[ti]!) && parent[ti] !== d) err(`${label}directory ${target} is named in ${d} but its '..' is ${parent[ti]}`);
  }
  const root1 = index_of(1);
  if (root1 < 0 || !is_dir(mode[root1]!)) err(label + 'the root directory (inode 1) is missing');
  let maxIno = 0;
  for (let i = 0; i < n; i++) {
    const x = ino[i]!;
    maxIno = Math.max(maxIno, x);
    count('inodes');
    if (is_dir(mode[i]!)) {
      count('dirs');
      const want = 2 + subdirs[i]!;
      if (nlink[i] !== want) err(`${label}directory ${x}: nlink ${nlink[i]}, expected ${want}`);
      if (x !== 1 && names[i] === 0) err(`${label}directory ${x} has no name (unreachable)`);
      if (x === 1 && parent[i] !== 1) err(`${label}root directory's '..' is ${parent[i]}`);
      continue;
    }
    if (is_reg(mode[i]!)) count('files');
    const nm = names[i]!;
    if (nlink[i] !== nm && !(nm === 0 && nlink[i] === 0 && orphans.has(x))) {
      err(`${label}inode ${x}: nlink ${nlink[i]} but ${nm} names${nm === 0 && !orphans.has(x) ? ' (unreachable, not an orphan)' : ''}`);
    }
  }
  for (const o of orphans) {
    const i = index_of(o);
    if (i < 0) err(`${label}orphan list names inode ${o}, which does not exist`);
    else if (nlink[i] !== 0) err(`${label}orphan ${o} still has ${nlink[i]} links`);
  }
  const c = volCounts as Counts | null;
  if (!c) err(label + 'the volume counters record is missing');
  else {
    if (c.inodes !== n) err(`${label}the volume counters say ${c.inodes} inodes, the tree holds ${n}`);
    if (c.nextIno <= maxIno) err(`${label}next inode number ${c.nextIno} is not above the largest in use (${maxIno})`);
  }
  return true;
}
