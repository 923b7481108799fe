// docs/FORMAT.md against the encoders and decoders.
//
// For every record the document draws, a record is built through the real encoder with a
// distinct, recognisable value in every field (bytes counting up from 0x21, so a hex dump shows
// which field is where), then every field is read back at the offset, size and type the document
// gives. Also: the fields of each record tile it exactly and reserved bytes are zero; every byte
// a decoder reads lies in a documented field, and every documented field is read (but for a
// short, explained list); constants, magic numbers, enumerations, geometry formulas, test vectors
// and diagrams agree with the code.
//
// Redraw the diagrams after editing a table:
//   COWLOG_FORMAT_DIAGRAMS_UPDATE=1 npx tap dist/test/format/spec.test.js

import { CAUSE_NAMES, TRIGGER_NAMES } from '../../src/device/cause.js';
import { CP_CAUSE_SLOTS, CP_TRIGGER_SLOTS } from '../../src/format/checkpoint.js';
import { snap_decode, snap_encode, SNAP_FLAG_USED, SNAP_FLAG_WRITABLE } from '../../src/format/snapshot.js';
import type { SnapEntry } from '../../src/format/snapshot.js';
import t from 'tap';
import type { Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { BLOCK_SIZE } from '../../src/device/device.js';
import {
  block_seal, counts_decode, counts_encode, COUNTS_BYTES, CP_DIR_MAX, CP_FLAG_CLEAN, CP_FLAG_ERRORS, CP_JOURNAL_BLOCKS, CP_MAGIC, cp_encode, cp_header_decode, cp_journal_decode, CP_SLOT_BLOCKS,
  CP_START, CRC_OFFSET, DIR_MAGIC, DIR_PER_BLOCK, dir_block_decode, dir_block_encode, dirents_decode, dirents_encode, FANOUT_MIN,
  FORMAT_VERSION, geometry_derive, HEAD_COUNT, INLINE_MAX_DEFAULT, INODE_BYTES, inode_decode, inode_encode, INODE_FLAG_INLINE, INODE_FLAG_PREALLOC, FEATURE_SHARED, FEATURE_ATTRS, INODE_FLAG_IMMUTABLE, INODE_FLAG_APPEND, INODE_FLAG_NODUMP, INODE_FLAG_NOATIME, INODE_FLAG_SYNC, INODE_FLAG_DIRSYNC,
  JOURNAL_BODY_BYTES, JOURNAL_HEADER_BYTES, JOURNAL_MAGIC, KEY_BYTES, key_read, key_write, log_header_write, map_decode, map_encode, map_new, MAP_SLOT_BYTES, MAP_SLOT_COMPRESSED, cluster_encode, CLUSTER_BLOCKS, CLUSTER_HEADER_BYTES, INODE_FLAG_COMPRESS, INODE_FLAG_NOCOMPRESS, FEATURE_COMPRESS_LZ4,
  MAP_SLOTS, MAX_SNAPSHOTS_DEFAULT, name_hash, NAME_MAX, NODE_BODY_BYTES, node_decode, node_encode, NODE_HEADER_BYTES, NODE_MAGIC,
  REC_KIND_NAMES, REDO_BODY_BYTES, redo_decode, REDO_DEL, redo_encode, REDO_FLAG_GROUP_END, REDO_HEADER_BYTES, REDO_MAGIC, REDO_PATCH, REDO_PUT,
  SB_ADDRS, SB_MAGIC, SB_SIGNATURE, sb_decode, sb_encode, SEG_BLOCKS_MAX, SEG_BLOCKS_MIN, TABLE_COUNT, TABLE_ENTRY_BYTES,
  TABLE_HEADER_BYTES, TABLE_MAGIC, TABLE_NAMES, table_block_decode, table_block_encode, VALUE_MAX, view_of, xattrs_decode, xattrs_encode, xbigs_decode, xbigs_encode, XBIG_ENTRY_FIXED, XATTR_CHUNK_BYTES, XATTR_SIZE_MAX,
} from '../../src/format/index.js';
import type { BootState, Checkpoint, Geometry, Inode, JournalEntry, Key, Superblock } from '../../src/format/index.js';
import { BOOT_BYTES, BOOT_FLAG_FELL_BACK, BOOT_FLAG_TRIAL } from '../../src/format/index.js';
import { geometry_for } from '../../src/checkpoint/volume.js';
import { MetaTable, PageCache } from '../../src/log/metatable.js';
import { BLOCK_KIND_NAMES, HEAD_NAMES, SegLog, SegState } from '../../src/log/segments.js';
import { Nat } from '../../src/nat/nat.js';
import { crc32c } from '../../src/util/crc32c.js';
import { nid_of } from '../../src/util/ids.js';
import { dt_of, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG, S_IFSOCK } from '../../src/fs/types.js';
import {
  BYTE_TYPES, crc32c_bitwise, doc_diagram, doc_diagrams_redraw, doc_table, FORMAT_MD, geometry_doc, mkfs_defaults_doc, name_hash_doc,
  record_diagram, record_read, records_read, SCALAR_BYTES, spec_load, spec_parse, type_split,
} from './spec_doc.js';
import type { Env, Value } from './spec_doc.js';

const spec = spec_load();

// ---- distinct values ----------------------------------------------------------------------------

/** Hands out values whose bytes count up from 0x21 (never 0), so each field is recognisable. */
class Pattern {
  private n = 0x21;
  private byte(): number {
    const b = this.n;
    this.n = this.n >= 0xfe ? 0x21 : this.n + 1;
    return b;
  }
  u8(): number { return this.byte(); }
  u16(): number { return this.byte() | (this.byte() << 8); }
  u32(): number { return (this.byte() | (this.byte() << 8) | (this.byte() << 16) | (this.byte() << 24)) >>> 0; }
  u48(): number { return this.u32() + this.u16() * 2 ** 32; }
  /** below 2^53, as cowlog keeps every u64 */
  u64(): number { return this.u32() + (this.byte() | (this.byte() << 8) | ((this.byte() & 0x0f) << 16)) * 2 ** 32; }
  bytes(n: number): Buffer { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = this.byte(); return b; }
}

// ---- one encoded record and what the document must read in it -----------------------------------

type Expect = Value | Uint8Array | ((v: Value) => string | null);

interface Case {
  record: string;
  what: string;
  buf: Uint8Array;
  base: number;
  env?: Env;
  /** bytes the record spans: its fields must cover exactly these */
  span: number;
  expect: Record<string, Expect>;
}

function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (Array.isArray(v)) return v.map(norm);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  return v;
}

function case_check(tt: Test, c: Case): void {
  const r = record_read(spec, c.buf, c.base, c.record, c.env ?? {});
  const sorted = [...r.fields].sort((a, b) => a.at - b.at || a.size - b.size);
  let p = c.base;
  for (const f of sorted) {
    tt.equal(f.at, p, `${c.what}: field '${f.field.name}' (FORMAT.md line ${f.field.line}) starts where the one before ends`);
    p = Math.max(p, f.at + f.size);
  }
  tt.equal(p - c.base, c.span, `${c.what}: the fields cover the record's ${c.span} bytes`);
  for (const f of r.fields) {
    if (f.field.name !== 'reserved') continue;
    const nz = Buffer.from(c.buf.subarray(f.at, f.at + f.size)).findIndex((b) => b !== 0);
    tt.equal(nz, -1, `${c.what}: reserved bytes at ${f.at - c.base}..${f.at - c.base + f.size} are zero${nz >= 0 ? ` (byte ${f.at - c.base + nz} is not)` : ''}`);
  }
  tt.same(Object.keys(r.values).sort(), Object.keys(c.expect).sort(), `${c.what}: the document's fields are the ones the encoder was given`);
  for (const [name, want] of Object.entries(c.expect)) {
    const got = r.values[name];
    if (got === undefined) continue;
    if (typeof want === 'function') {
      const err = want(got);
      tt.equal(err, null, `${c.what}.${name}: ${err ?? 'as expected'}`);
    } else {
      tt.same(norm(got), norm(want), `${c.what}.${name} read at the documented place`);
    }
  }
}

const crc_of = (b: Uint8Array): number => crc32c(b, 0, CRC_OFFSET);
const zero_from = (b: Uint8Array, from: number) => (_body: Value): string | null => {
  const i = Buffer.from(b.subarray(from)).findIndex((x) => x !== 0);
  return i < 0 ? null : `byte ${from + i} after the last record is not zero`;
};

function boot_obj(b: BootState): Record<string, number> {
  return { default_tree: b.defaultTree, trial_tree: b.trialTree, flags: b.flags, trial_tries: b.trialTries, trial_left: b.trialLeft };
}

function key_obj(k: Key): { ino: number; kind: number; off: number } {
  return { ino: k.ino, kind: k.kind, off: k.off };
}

// ---- the cases ----------------------------------------------------------------------------------

function cases_build(): Case[] {
  const out: Case[] = [];
  const P = new Pattern();

  // log-header
  {
    const b = Buffer.alloc(32);
    const h = { magic: P.u32(), version: P.u16(), sub: P.u16(), fsid: P.u32(), addr: P.u32(), seq: P.u32(), id: P.u32() };
    log_header_write(view_of(b), h);
    out.push({ record: 'log-header', what: 'log header', buf: b, base: 0, span: 24, expect: { ...h } });
    t.equal(b.subarray(24).every((x) => x === 0), true, 'log_header_write writes 24 bytes');
  }

  // superblock: the encoder takes the geometry as given, so every field can get its own value
  {
    const g = {
      ...geometry_for(1024), blockCount: P.u32() + 2 ** 32, segBlocks: P.u32(), segCount: P.u32(), mainStart: P.u32(), cpSlots: P.u32(),
      reserveSegs: P.u32(), fanout: P.u32(), inlineMax: P.u32(), maxSnapshots: P.u32(),
    } as Geometry;
    const sb: Superblock = { version: P.u16(), geometry: g, uuid: P.bytes(16), createdMs: P.u64(), label: 'golden label ✓', features: P.u32() };
    const b = sb_encode(sb, 1);
    out.push({
      record: 'superblock', what: 'superblock', buf: b, base: 0, span: BLOCK_SIZE, expect: {
        magic: SB_MAGIC, version: sb.version, copy: 1, signature: SB_SIGNATURE, block_size: BLOCK_SIZE, block_count: g.blockCount % 2 ** 32, block_count_hi: 1,
        seg_blocks: g.segBlocks, seg_count: g.segCount, main_start: g.mainStart, cp_slots: g.cpSlots, reserve_segs: g.reserveSegs,
        fanout: g.fanout, inline_max: g.inlineMax, max_snapshots: g.maxSnapshots, features: sb.features, uuid: sb.uuid,
        created: sb.createdMs, label: sb.label, crc: crc_of(b),
      },
    });
  }

  // checkpoint header, its heads, two journal blocks and their entries
  {
    const journal: JournalEntry[] = [];
    for (let i = 0; i < 130; i++) journal.push({ table: i % TABLE_COUNT, index: P.u32(), data: P.bytes(TABLE_ENTRY_BYTES[i % TABLE_COUNT]!) });
    const heads = Array.from({ length: HEAD_COUNT }, (_, i) => ({ seg: i === 2 ? -1 : P.u32() & 0x7fffffff, off: P.u32() }));
    const cp: Checkpoint = {
      fsid: P.u32(), seq: P.u32(), slot: P.u32(), flags: P.u16(), timeMs: P.u64(), rootNid: P.u32(), nextIno: P.u32(), nextNid: P.u32(),
      inodes: P.u32(), validBlocks: P.u32(), redoStart: P.u32(), heads, dir: [P.u32(), P.u32(), P.u32()], journal,
      journalAddrs: [P.u32(), P.u32()], stats: { segmentsCleaned: P.u64(), blocksMoved: P.u64(), blocksRecycled: P.u64(), checkpoints: P.u64() },
      tree: P.u32(), boot: { defaultTree: P.u32(), trialTree: P.u32(), flags: BOOT_FLAG_TRIAL, trialTries: P.u16(), trialLeft: 0 },
      natUsed: P.u32(), metaBlocks: P.u32(),
      writes: { blocks: CAUSE_NAMES.map(() => P.u32() * 7), requests: CAUSE_NAMES.map(() => P.u32()), checkpoints: TRIGGER_NAMES.map(() => P.u32()) },
    };
    cp.boot.trialLeft = cp.boot.trialTries - 1;
    const { header: h, journal: jb } = cp_encode(cp);
    t.equal(jb.length, 2, '130 journal entries take two journal blocks');
    out.push({
      record: 'checkpoint', what: 'checkpoint header', buf: h!, base: 0, span: BLOCK_SIZE, expect: {
        magic: CP_MAGIC, version: FORMAT_VERSION, flags: cp.flags, fsid: cp.fsid, slot: cp.slot, seq: cp.seq, time_ms: cp.timeMs,
        root_nid: cp.rootNid, next_ino: cp.nextIno, next_nid: cp.nextNid, inodes: cp.inodes, valid_blocks: cp.validBlocks,
        redo_start: cp.redoStart, journal_entries: journal.length, journal_blocks: jb.length,
        journal_addr: [...cp.journalAddrs, 0, 0], journal_crc: [crc32c(jb[0]!, 0, BLOCK_SIZE - 4), crc32c(jb[1]!, 0, BLOCK_SIZE - 4), 0, 0],
        segments_cleaned: cp.stats.segmentsCleaned, blocks_moved: cp.stats.blocksMoved, blocks_recycled: cp.stats.blocksRecycled, checkpoints: cp.stats.checkpoints,
        tree: cp.tree, dir_count: cp.dir.length, heads, dir: cp.dir, crc: crc_of(h), boot: boot_obj(cp.boot), nat_used: cp.natUsed, meta_blocks: cp.metaBlocks,
        write_blocks: [...cp.writes.blocks, ...new Array<number>(CP_CAUSE_SLOTS - CAUSE_NAMES.length).fill(0)],
        write_requests: [...cp.writes.requests, ...new Array<number>(CP_CAUSE_SLOTS - CAUSE_NAMES.length).fill(0)],
        checkpoints_by: [...cp.writes.checkpoints, ...new Array<number>(CP_TRIGGER_SLOTS - TRIGGER_NAMES.length).fill(0)],
      },
    });
    out.push({ record: 'boot-state', what: 'boot state', buf: h, base: 196, span: BOOT_BYTES, expect: boot_obj(cp.boot) });
    heads.forEach((hd, i) => out.push({ record: 'checkpoint-head', what: `checkpoint head ${i}`, buf: h, base: 64 + 8 * i, span: 8, expect: { ...hd } }));
    // the packing rule: an entry never spans two blocks
    const per: JournalEntry[][] = [[]];
    let used = 0;
    for (const e of journal) {
      const need = 5 + e.data.length;
      if (used + need > JOURNAL_BODY_BYTES) { per.push([]); used = 0; }
      per[per.length - 1]!.push(e);
      used += need;
    }
    jb.forEach((b, i) => {
      const mine = per[i]!;
      const bytes = mine.reduce((s, e) => s + 5 + e.data.length, 0);
      out.push({
        record: 'journal-block', what: `journal block ${i}`, buf: b, base: 0, span: BLOCK_SIZE, expect: {
          magic: JOURNAL_MAGIC, version: FORMAT_VERSION, fsid: cp.fsid, addr: cp.journalAddrs[i]!, index: i, seq: cp.seq, used_bytes: bytes, count: mine.length,
          entries: (v) => ((v as Buffer).length === bytes ? null : `${(v as Buffer).length} bytes`), crc: crc_of(b),
        },
      });
      let p = 32;
      for (const e of mine) {
        out.push({ record: 'journal-entry', what: `journal block ${i} entry at ${p}`, buf: b, base: p, span: 5 + e.data.length, expect: { table: e.table, index: e.index, entry: e.data } });
        p += 5 + e.data.length;
      }
    });
  }

  const g = geometry_for(1024, { segBlocks: 16 });

  // directory blocks: a partial one and a full one
  {
    const addrs = new Uint32Array(DIR_PER_BLOCK + 37);
    for (let i = 0; i < addrs.length; i++) addrs[i] = P.u32();
    for (const index of [0, 1]) {
      const fsid = P.u32(), addr = P.u32(), seq = P.u32();
      const b = dir_block_encode(fsid, index, addr, seq, addrs);
      const held = [...addrs.subarray(index * DIR_PER_BLOCK, Math.min(addrs.length, (index + 1) * DIR_PER_BLOCK))];
      out.push({
        record: 'directory-block', what: `directory block ${index}`, buf: b, base: 0, span: BLOCK_SIZE,
        expect: { magic: DIR_MAGIC, version: FORMAT_VERSION, fsid, addr, seq, index, count: held.length, addrs: held, crc: crc_of(b) },
      });
    }
  }

  // table blocks of every table: the first block and the (partial) last one
  for (const tg of g.tables) {
    const page = tg.perBlock * tg.entryBytes;
    const backing = Buffer.concat([P.bytes(tg.entries * tg.entryBytes), Buffer.alloc(tg.blocks * page - tg.entries * tg.entryBytes)]);
    for (const index of new Set([0, tg.blocks - 1])) {
      const fsid = P.u32(), addr = P.u32(), seq = P.u32();
      const b = table_block_encode(tg, { fsid, table: tg.id, index, addr, seq }, backing.subarray(index * page, (index + 1) * page));
      const area = Buffer.alloc(page);
      backing.copy(area, 0, index * page, Math.min(tg.entries * tg.entryBytes, (index + 1) * page));
      out.push({
        record: 'table-block', what: `${tg.name} table block ${index}`, buf: b, base: 0, span: BLOCK_SIZE,
        env: { per_block: tg.perBlock, entry_bytes: tg.entryBytes },
        expect: { magic: TABLE_MAGIC, version: FORMAT_VERSION, table: tg.id, fsid, addr, seq, index, entries: area, crc: crc_of(b) },
      });
    }
  }

  // table entries, written by the layers that own them
  {
    const cache = new PageCache(64);
    const tables = g.tables.map((x) => new MetaTable(x, cache));
    const nat = new Nat(tables[0]!);
    const nid = nat.alloc(P.u32());
    const addr = P.u32(), birth = P.u32(), refs = P.u16();
    nat.place(nid, addr, birth);
    nat.refs_set(nid, refs);
    /** Where entry i of table ti is: its page's bytes and its offset there. */
    const where = (ti: number, i: number): { buf: Buffer; base: number } => {
      const p = tables[ti]!.page(i);
      return { buf: Buffer.from(p.bytes.buffer, p.bytes.byteOffset, p.bytes.byteLength), base: tables[ti]!.off(i) };
    };
    out.push({ record: 'nat-entry', what: 'NAT entry', ...where(0, nid), span: 12, expect: { addr, birth, refs, flags: 0 } });

    const heads = Array.from({ length: HEAD_COUNT }, () => ({ seg: -1, off: 0 }));
    const log = new SegLog(g, tables[1]!, tables[2]!, tables[3]!, heads);
    const a = g.mainStart + 5;
    const n = 0x0203;
    for (let i = 0; i < n; i++) log.ref_inc(a);
    out.push({ record: 'rct-entry', what: 'RCT entry', ...where(1, a), span: 2, expect: { refs: n } });
    const info = { valid: P.u16(), head: P.u8(), state: P.u8(), mtime: P.u32(), freedSeq: P.u32(), writes: P.u32() };
    log.seg_set(7, info);
    out.push({
      record: 'sut-entry', what: 'SUT entry', ...where(2, 7), span: 16,
      expect: { valid: info.valid, head: info.head, state: info.state, mtime: info.mtime, freed_seq: info.freedSeq, writes: info.writes },
    });
    const sm = { kind: P.u8(), sub: P.u8(), owner: P.u32(), offset: P.u32(), birth: P.u32() };
    log.summary_set(a, sm);
    out.push({ record: 'sst-entry', what: 'SST entry', ...where(3, a), span: 16, expect: { ...sm } });
    const dirAddr = P.u32();
    tables[5]!.set_u32(9, 0, dirAddr);
    out.push({ record: 'dir-entry', what: 'DIR entry', ...where(5, 9), span: 4, expect: { addr: dirAddr } });
    const se: SnapEntry = { flags: SNAP_FLAG_USED | SNAP_FLAG_WRITABLE, rootNid: P.u32() || 1, seq: P.u32(), parent: P.u32(), timeMs: P.u64(), name: 'golden-A.1:b+c_d' };
    const sb = snap_encode(se);
    out.push({
      record: 'snap-entry', what: 'SNAP entry', buf: sb, base: 0, span: 128,
      expect: { flags: se.flags, root_nid: se.rootNid, seq: se.seq, parent: se.parent, time_ms: se.timeMs, name_len: 16, name: (v) => (Buffer.from(v as Buffer).subarray(0, 16).toString() === se.name && (v as Buffer).subarray(16).every((x) => x === 0) ? null : 'name bytes differ') },
    });
    t.same(snap_decode(sb), se, 'snap_decode reads back what snap_encode wrote');
  }

  // key
  {
    const b = Buffer.alloc(24);
    const k = { ino: P.u32(), kind: P.u8(), off: P.u48() };
    key_write(view_of(b), 5, k);
    out.push({ record: 'key', what: 'key', buf: b, base: 5, span: KEY_BYTES, expect: { ...k } });
  }

  // B+tree nodes: a leaf and an inner node, and every record and entry in them
  {
    const keys = [{ ino: P.u32() & 0x7fffffff, kind: P.u8(), off: P.u48() }];
    keys.push({ ino: keys[0]!.ino + 1, kind: P.u8(), off: P.u48() }, { ino: keys[0]!.ino + 2, kind: P.u8(), off: P.u48() });
    const vals = [P.bytes(0), P.bytes(5), P.bytes(96)];
    const h = { fsid: P.u32(), nid: nid_of(P.u32()), addr: P.u32(), birth: P.u32() };
    const b = node_encode({ level: 0, keys, vals }, h);
    const bodyEnd = 32 + vals.reduce((s, v) => s + 13 + v.length, 0);
    out.push({
      record: 'node-block', what: 'leaf node', buf: b, base: 0, span: BLOCK_SIZE, expect: {
        magic: NODE_MAGIC, version: FORMAT_VERSION, level: 0, fsid: h.fsid, addr: h.addr, birth: h.birth, nid: h.nid, count: 3,
        body: zero_from(b.subarray(0, CRC_OFFSET), bodyEnd), crc: crc_of(b),
      },
    });
    let p = 32;
    keys.forEach((k, i) => {
      out.push({ record: 'leaf-record', what: `leaf record ${i}`, buf: b, base: p, span: 13 + vals[i]!.length, expect: { key: key_obj(k), value_len: vals[i]!.length, value: vals[i]! } });
      p += 13 + vals[i]!.length;
    });
    const kids = [nid_of(P.u32()), nid_of(P.u32())];
    const ih = { fsid: P.u32(), nid: nid_of(P.u32()), addr: P.u32(), birth: P.u32() };
    const level = P.u8();
    const ib = node_encode({ level, keys: keys.slice(0, 2), kids }, ih);
    out.push({
      record: 'node-block', what: 'inner node', buf: ib, base: 0, span: BLOCK_SIZE, expect: {
        magic: NODE_MAGIC, version: FORMAT_VERSION, level, fsid: ih.fsid, addr: ih.addr, birth: ih.birth, nid: ih.nid, count: 2,
        body: zero_from(ib.subarray(0, CRC_OFFSET), 32 + 2 * 15), crc: crc_of(ib),
      },
    });
    kids.forEach((kid, i) => out.push({ record: 'inner-entry', what: `inner entry ${i}`, buf: ib, base: 32 + 15 * i, span: 15, expect: { key: key_obj(keys[i]!), child: kid } }));
  }

  // record values
  {
    const ino: Inode = {
      mode: P.u32(), uid: P.u32(), gid: P.u32(), nlink: P.u32(), size: P.u64(), rdev: P.u32(), flags: P.u32(), generation: P.u32(),
      parent: P.u32(), atime_s: -P.u48(), mtime_s: P.u48(), ctime_s: P.u64(), btime_s: -1, atime_ns: P.u32(), mtime_ns: P.u32(),
      ctime_ns: P.u32(), btime_ns: P.u32(), blocks: P.u64(), data_gen: P.u32(),
    };
    const b = inode_encode(ino);
    out.push({ record: 'inode', what: 'inode', buf: b, base: 0, span: INODE_BYTES, expect: { ...ino } });
  }
  {
    const list = [
      { name: Buffer.from('alpha'), ino: P.u32(), type: P.u8() },
      { name: Buffer.alloc(NAME_MAX, 0x61), ino: P.u32(), type: P.u8() },
    ];
    const b = dirents_encode(list);
    out.push({ record: 'dirent-list', what: 'dirent list', buf: b, base: 0, span: b.length, env: { value_len: b.length }, expect: { count: 2, entries: b.subarray(2) } });
    let p = 2;
    list.forEach((d, i) => {
      out.push({ record: 'dirent', what: `dirent ${i}`, buf: b, base: p, span: 6 + d.name.length, expect: { ino: d.ino, type: d.type, name_len: d.name.length, name: d.name } });
      p += 6 + d.name.length;
    });
  }
  {
    const list = [{ name: Buffer.from('user.color'), value: P.bytes(300) }, { name: Buffer.from('trusted.x'), value: Buffer.alloc(0) }];
    const b = xattrs_encode(list);
    out.push({ record: 'xattr-list', what: 'xattr list', buf: b, base: 0, span: b.length, env: { value_len: b.length }, expect: { count: 2, entries: b.subarray(2) } });
    let p = 2;
    list.forEach((x, i) => {
      out.push({ record: 'xattr', what: `xattr ${i}`, buf: b, base: p, span: 3 + x.name.length + x.value.length, expect: { name_len: x.name.length, value_len: x.value.length, name: x.name, value: x.value } });
      p += 3 + x.name.length + x.value.length;
    });
  }
  {
    const list = [{ name: Buffer.from('user.big'), len: 40000, crc: 0xa1b2c3d4, id: 0x01020304 }, { name: Buffer.from('trusted.y'), len: 1501, crc: 7, id: 9 }];
    const b = xbigs_encode(list);
    out.push({ record: 'xbig-list', what: 'xbig list', buf: b, base: 0, span: b.length, env: { value_len: b.length }, expect: { count: 2, entries: b.subarray(2) } });
    let p = 2;
    list.forEach((x, i) => {
      out.push({ record: 'xbig', what: `xbig ${i}`, buf: b, base: p, span: XBIG_ENTRY_FIXED + x.name.length, expect: { name_len: x.name.length, len: x.len, crc: x.crc, id: x.id, name: x.name } });
      p += XBIG_ENTRY_FIXED + x.name.length;
    });
    const chunk = P.bytes(XATTR_CHUNK_BYTES);
    out.push({ record: 'xchunk', what: 'xattr chunk', buf: chunk, base: 0, span: chunk.length, env: { value_len: chunk.length }, expect: { bytes: chunk } });
  }
  {
    const data = P.bytes(INLINE_MAX_DEFAULT);
    out.push({ record: 'inline', what: 'inline data', buf: data, base: 0, span: data.length, env: { value_len: data.length }, expect: { data } });
    out.push({ record: 'orphan', what: 'orphan', buf: Buffer.alloc(0), base: 0, span: 0, env: { value_len: 0 }, expect: { empty: Buffer.alloc(0) } });
  }
  {
    const c = { nextIno: P.u32(), inodes: P.u32() };
    const b = counts_encode(c);
    out.push({ record: 'counts', what: 'counts', buf: b, base: 0, span: b.length, env: { value_len: b.length }, expect: { next_ino: c.nextIno, inodes: c.inodes } });
  }
  {
    const m = map_new();
    const slots = [0, 9, MAP_SLOTS - 1];
    for (const s of slots) { m.addr[s] = P.u32(); m.csum[s] = P.u32(); }
    const b = map_encode(m);
    const want = slots.map((s) => ({ slot: s, addr: m.addr[s]!, crc: m.csum[s]! }));
    out.push({ record: 'map', what: 'map', buf: b, base: 0, span: b.length, env: { value_len: b.length }, expect: { count: slots.length, slots: want } });
    want.forEach((w, i) => out.push({ record: 'map-slot', what: `map slot ${i}`, buf: b, base: 1 + 9 * i, span: MAP_SLOT_BYTES, expect: { ...w } }));
  }
  {
    // a compressed cluster stored in two blocks (slots 8 and 9) beside a plain block
    const m = map_new();
    for (const s of [8, 9, 16]) { m.addr[s] = P.u32(); m.csum[s] = P.u32(); m.comp[s] = s < 16 ? 1 : 0; }
    const b = map_encode(m);
    const want = [8, 9, 16].map((s) => ({ slot: s < 16 ? s | MAP_SLOT_COMPRESSED : s, addr: m.addr[s]!, crc: m.csum[s]! }));
    out.push({ record: 'map', what: 'map with a compressed cluster', buf: b, base: 0, span: b.length, env: { value_len: b.length }, expect: { count: 3, slots: want } });
  }
  {
    // a cluster of 8 blocks of text, through the real encoder
    const raw = Buffer.alloc(8 * BLOCK_SIZE);
    for (let at = 0; at < raw.length;) at += raw.write(`line ${at % 977} of a log that compresses\n`, at);
    const stored = Buffer.concat(cluster_encode(raw)!);
    const storedLen = stored.readUInt32LE(0);
    out.push({
      record: 'cluster', what: 'compressed cluster', buf: stored, base: 0, span: stored.length, env: { stored_blocks: stored.length / BLOCK_SIZE },
      expect: { stored_len: storedLen, raw_len: raw.length, lz4: stored.subarray(8, 4 + storedLen), padding: Buffer.alloc(stored.length - 4 - storedLen) },
    });
  }

  // redo block and its records
  {
    const recs = [
      { op: REDO_PUT, key: { ino: P.u32(), kind: P.u8(), off: P.u48() }, value: P.bytes(40) },
      { op: REDO_DEL, key: { ino: P.u32(), kind: P.u8(), off: P.u48() }, value: Buffer.alloc(0) },
      // a PATCH: 100 bytes at offset 1000 of block 7 of the file, logged under data_gen 0x0a0b0c0d
      { op: REDO_PATCH, key: { ino: P.u32(), kind: 0, off: 7 * 4096 + 1000 }, value: Buffer.concat([Buffer.from([0x0d, 0x0c, 0x0b, 0x0a]), P.bytes(100)]) },
    ];
    const rb = { fsid: P.u32(), epoch: P.u32(), index: P.u32(), addr: P.u32(), next: P.u32(), flags: P.u16(), records: recs };
    const b = redo_encode(rb);
    const end = 32 + recs.reduce((s, r) => s + 14 + r.value.length, 0);
    out.push({
      record: 'redo-block', what: 'redo block', buf: b, base: 0, span: BLOCK_SIZE, expect: {
        magic: REDO_MAGIC, version: FORMAT_VERSION, flags: rb.flags, fsid: rb.fsid, addr: rb.addr, epoch: rb.epoch, index: rb.index,
        next: rb.next, count: recs.length, body: zero_from(b.subarray(0, CRC_OFFSET), end), crc: crc_of(b),
      },
    });
    let p = 32;
    recs.forEach((r, i) => {
      out.push({ record: 'redo-record', what: `redo record ${i}`, buf: b, base: p, span: 14 + r.value.length, expect: { op: r.op, key: key_obj(r.key), value_len: r.value.length, value: r.value } });
      if (r.op === REDO_PATCH) {
        out.push({ record: 'patch-value', what: 'patch value', buf: b, base: p + 14, span: r.value.length, env: { value_len: r.value.length }, expect: { data_gen: 0x0a0b0c0d, bytes: r.value.subarray(4) } });
      }
      p += 14 + r.value.length;
    });
  }
  return out;
}

// ---- tests ----------------------------------------------------------------------------------------

t.test('every field of every record is where FORMAT.md says', async (t) => {
  const cases = cases_build();
  const covered = new Set(cases.map((c) => c.record));
  for (const name of spec.records.keys()) t.ok(covered.has(name), `record '${name}' is checked against an encoder`);
  for (const c of cases) t.test(c.what, async (tt) => case_check(tt, c));
});

t.test('the tables are well formed', async (t) => {
  const logHeader = spec.records.get('log-header')!.fields.map((f) => `${f.offset}+${f.size}`);
  for (const rec of spec.records.values()) {
    const names = rec.fields.map((f) => f.name).filter((n) => n !== 'reserved');
    t.equal(new Set(names).size, names.length, `${rec.name}: field names are distinct`);
    for (const f of rec.fields) {
      const { base, count } = type_split(f.type);
      const known = base in SCALAR_BYTES || BYTE_TYPES.has(base) || spec.records.has(base);
      t.ok(known, `${rec.name}.${f.name}: type '${f.type}' is a scalar, a byte type or a documented record`);
      if (count !== null) t.notOk(BYTE_TYPES.has(base), `${rec.name}.${f.name}: byte types take their length from the size column`);
      if (f.name === 'reserved') t.equal(f.type, 'bytes', `${rec.name}: reserved bytes are typed bytes`);
      t.ok(/^[a-z][a-z0-9_]*$/.test(f.name), `${rec.name}: field name '${f.name}' is snake_case`);
    }
  }
  // every block written into the log starts with the common header
  for (const name of ['table-block', 'directory-block', 'node-block', 'redo-block']) {
    const head = spec.records.get(name)!.fields.filter((f) => /^[0-9]+$/.test(f.offset) && Number(f.offset) < 24).map((f) => `${f.offset}+${f.size}`);
    t.same(head, logHeader, `${name} starts with the 24-byte log header`);
  }
});

t.test('a decoder reads exactly the documented fields', async (t) => {
  const g = geometry_for(1024, { segBlocks: 16 });
  const fsid = 0x1234abcd;
  const canon = (x: unknown): string => JSON.stringify(norm(x instanceof Uint32Array ? [...x] : x), (_k, v) => (v instanceof Uint32Array ? [...v] : v));
  interface Probe {
    what: string;
    record: string;
    buf: Buffer;
    base: number;
    span: number;
    env?: Env;
    decode: (b: Buffer) => unknown;
    sealed: boolean;
    /** documented fields no decoder reads, and why */
    unread?: Record<string, string>;
  }
  const probes: Probe[] = [];
  {
    const sb: Superblock = { version: FORMAT_VERSION, geometry: g, uuid: Buffer.from('00112233445566778899aabbccddeeff', 'hex'), createdMs: 1_700_000_000_000, label: 'lbl', features: 0 };
    probes.push({
      what: 'superblock', record: 'superblock', buf: sb_encode(sb, 0), base: 0, span: BLOCK_SIZE, sealed: true, decode: (b) => sb_decode(b, 0),
    });
  }
  const cp: Checkpoint = {
    fsid, seq: 77, slot: 3, flags: CP_FLAG_CLEAN, timeMs: 1_700_000_000_123, rootNid: 5, nextIno: 40, nextNid: 9, inodes: 30, validBlocks: 300,
    redoStart: 600, heads: Array.from({ length: HEAD_COUNT }, (_, i) => ({ seg: i - 1, off: i })), dir: [g.mainStart + 3],
    journal: [{ table: 0, index: 5, data: Buffer.alloc(12, 7) }, { table: 1, index: 9, data: Buffer.from([1, 0]) }],
    journalAddrs: [11], stats: { segmentsCleaned: 3, blocksMoved: 4, blocksRecycled: 5, checkpoints: 77 }, tree: 2,
    boot: { defaultTree: 1, flags: BOOT_FLAG_TRIAL, trialTree: 2, trialTries: 3, trialLeft: 2 }, natUsed: 12, metaBlocks: 13,
    writes: { blocks: CAUSE_NAMES.map((_n, i) => 100 + i), requests: CAUSE_NAMES.map((_n, i) => 50 + i), checkpoints: TRIGGER_NAMES.map((_n, i) => 5 + i) },
  };
  const { header: cph, journal: [cpj] } = cp_encode(cp);
  probes.push({ what: 'checkpoint', record: 'checkpoint', buf: cph, base: 0, span: BLOCK_SIZE, sealed: true, decode: (b) => cp_header_decode(b, 10, fsid) });
  probes.push({
    what: 'journal block', record: 'journal-block', buf: cpj!, base: 0, span: BLOCK_SIZE, sealed: true,
    decode: (b) => cp_journal_decode(fsid, 77, [b.readUInt32LE(BLOCK_SIZE - 4)], [b], [11], 2),
  });
  for (const tg of [...g.tables.slice(0, 4), g.tables[5]!]) {
    const backing = Buffer.alloc(tg.perBlock * tg.entryBytes);
    for (let i = 0; i < Math.min(tg.entries * tg.entryBytes, backing.length); i++) backing[i] = (i * 7 + 1) & 0xff;
    const addr = g.mainStart + 20;
    probes.push({
      what: `${tg.name} table block`, record: 'table-block', buf: table_block_encode(tg, { fsid, table: tg.id, index: 0, addr, seq: 4 }, backing),
      base: 0, span: BLOCK_SIZE, sealed: true, env: { per_block: tg.perBlock, entry_bytes: tg.entryBytes },
      decode: (b) => crc32c(table_block_decode(tg, b, addr, 0, fsid)),
      unread: { seq: 'the checkpoint that wrote it: informational (the directory names the block)' },
    });
  }
  {
    const dir = new Uint32Array(g.tables[5]!.blocks + 1500).map((_, i) => 100 + i);
    probes.push({
      what: 'directory block', record: 'directory-block', buf: dir_block_encode(fsid, 0, 50, 4, dir), base: 0, span: BLOCK_SIZE, sealed: true,
      decode: (b) => { const into = new Uint32Array(dir.length); dir_block_decode(b, 50, 0, into, fsid); return crc32c(new Uint8Array(into.buffer)); },
      unread: { seq: 'the checkpoint that wrote it: informational (the checkpoint names the block)' },
    });
  }
  const keys = [{ ino: 1, kind: 1, off: 0 }, { ino: 1, kind: 3, off: 0x123456789a }, { ino: 2, kind: 1, off: 0 }];
  probes.push({
    what: 'leaf node', record: 'node-block', buf: node_encode({ level: 0, keys, vals: [Buffer.alloc(96, 1), Buffer.from('abc'), Buffer.alloc(0)] }, { fsid, nid: nid_of(7), addr: 60, birth: 3 }),
    base: 0, span: BLOCK_SIZE, sealed: true, decode: (b) => node_decode(b, 60, fsid),
  });
  probes.push({
    what: 'inner node', record: 'node-block', buf: node_encode({ level: 1, keys, kids: [nid_of(3), nid_of(4), nid_of(5)] }, { fsid, nid: nid_of(8), addr: 61, birth: 3 }),
    base: 0, span: BLOCK_SIZE, sealed: true, decode: (b) => node_decode(b, 61, fsid),
  });
  probes.push({
    what: 'redo block', record: 'redo-block', sealed: true, base: 0, span: BLOCK_SIZE,
    buf: redo_encode({ fsid, epoch: 9, index: 2, addr: 70, next: 71, flags: REDO_FLAG_GROUP_END, records: [{ op: REDO_PUT, key: keys[0]!, value: Buffer.from('v') }, { op: REDO_DEL, key: keys[1]!, value: Buffer.alloc(0) }] }),
    decode: (b) => redo_decode(b, 70, fsid),
  });
  {
    const ino: Inode = {
      mode: 0o100644, uid: 1, gid: 2, nlink: 3, size: 5e9, rdev: 4, flags: INODE_FLAG_INLINE, generation: 1, parent: 0, blocks: 6, data_gen: 9,
      atime_s: 1, atime_ns: 2, mtime_s: 3, mtime_ns: 4, ctime_s: 5, ctime_ns: 6, btime_s: -7, btime_ns: 8,
    };
    probes.push({ what: 'inode', record: 'inode', buf: inode_encode(ino), base: 0, span: INODE_BYTES, sealed: false, decode: inode_decode });
  }
  const dl = dirents_encode([{ name: Buffer.from('one'), ino: 5, type: 8 }, { name: Buffer.from('two'), ino: 6, type: 4 }]);
  probes.push({ what: 'dirent list', record: 'dirent-list', buf: dl, base: 0, span: dl.length, env: { value_len: dl.length }, sealed: false, decode: dirents_decode });
  const xl = xattrs_encode([{ name: Buffer.from('user.a'), value: Buffer.from('xyz') }]);
  probes.push({ what: 'xattr list', record: 'xattr-list', buf: xl, base: 0, span: xl.length, env: { value_len: xl.length }, sealed: false, decode: xattrs_decode });
  const xb = xbigs_encode([{ name: Buffer.from('user.big'), len: 9000, crc: 0x12345678, id: 77 }]);
  probes.push({ what: 'xbig list', record: 'xbig-list', buf: xb, base: 0, span: xb.length, env: { value_len: xb.length }, sealed: false, decode: xbigs_decode });
  const m = map_new();
  m.addr[3] = 99; m.csum[3] = 0xdeadbeef; m.addr[60] = 98; m.csum[60] = 1;
  const mb = map_encode(m);
  probes.push({ what: 'map', record: 'map', buf: mb, base: 0, span: mb.length, env: { value_len: mb.length }, sealed: false, decode: map_decode });
  {
    const cb = counts_encode({ nextIno: 0x01020304, inodes: 0x05060708 });
    probes.push({ what: 'counts', record: 'counts', buf: cb, base: 0, span: cb.length, env: { value_len: cb.length }, sealed: false, decode: counts_decode });
  }
  {
    const kb = Buffer.alloc(KEY_BYTES);
    key_write(view_of(kb), 0, { ino: 9, kind: 5, off: 3 });
    probes.push({ what: 'key', record: 'key', buf: kb, base: 0, span: KEY_BYTES, sealed: false, decode: (b) => key_read(view_of(b), 0) });
  }
  {
    // table entries: the decoders are the getters of the layers that own them
    const tables = g.tables.map((x) => new MetaTable(x, new PageCache(64)));
    const heads = Array.from({ length: HEAD_COUNT }, () => ({ seg: -1, off: 0 }));
    const log = new SegLog(g, tables[1]!, tables[2]!, tables[3]!, heads);
    const nat = new Nat(tables[0]!);
    const entry = (ti: number, i: number, b: Buffer): void => tables[ti]!.page(i).bytes.set(b, tables[ti]!.off(i));
    const at = g.mainStart + 1;
    probes.push({
      what: 'NAT entry', record: 'nat-entry', buf: Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 0]), base: 0, span: 12, sealed: false,
      decode: (b) => { entry(0, 2, b); return [nat.addr(nid_of(2)), nat.birth(nid_of(2)), nat.refs(nid_of(2))]; },
      unread: { flags: 'no NAT flag is defined in version 3' },
    });
    probes.push({ what: 'RCT entry', record: 'rct-entry', buf: Buffer.from([3, 1]), base: 0, span: 2, sealed: false, decode: (b) => { entry(1, at, b); return log.refs(at); } });
    probes.push({ what: 'SUT entry', record: 'sut-entry', buf: Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]), base: 0, span: 16, sealed: false, decode: (b) => { entry(2, 4, b); return log.seg(4); } });
    probes.push({ what: 'SST entry', record: 'sst-entry', buf: Buffer.from([1, 2, 0, 0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]), base: 0, span: 16, sealed: false, decode: (b) => { entry(3, at, b); return log.summary(at); } });
    probes.push({ what: 'DIR entry', record: 'dir-entry', buf: Buffer.from([1, 2, 3, 4]), base: 0, span: 4, sealed: false, decode: (b) => { entry(5, 3, b); return tables[5]!.u32(3, 0); } });
  }

  // Each field is changed whole (every byte XOR 0x01; the block resealed unless the field is its
  // CRC) and decoded again: a documented field must change what the decoder returns (or make it
  // refuse the block), a reserved one must not. The tiling check above makes sure no byte is left
  // outside a field.
  const decode_canon = (pr: Probe, b: Buffer): string => {
    try { return canon(pr.decode(b)); } catch (e) { return `throws ${(e as Error).message}`; }
  };
  for (const pr of probes) {
    const base = decode_canon(pr, Buffer.from(pr.buf));
    t.notMatch(base, /^throws/, `${pr.what}: the unmodified record decodes`);
    const layout = record_read(spec, pr.buf, pr.base, pr.record, pr.env ?? {}).fields.filter((f) => f.size > 0);
    const changes = (from: number, to: number): boolean => {
      const b = Buffer.from(pr.buf);
      for (let i = from; i < to; i++) b[i] = b[i]! ^ 0x01;
      if (pr.sealed && to <= CRC_OFFSET) block_seal(b);
      return decode_canon(pr, b) !== base;
    };
    for (const f of layout) {
      const read = changes(f.at, f.at + f.size);
      const where = `bytes ${f.at - pr.base}..${f.at - pr.base + f.size - 1}`;
      if (f.field.name === 'reserved') {
        let first = -1;
        if (read) for (let i = f.at; i < f.at + f.size && first < 0; i++) if (changes(i, i + 1)) first = i - pr.base;
        t.notOk(read, `${pr.what}: reserved ${where} are not read${read ? ` (the decoder reads byte ${first})` : ''}`);
        continue;
      }
      const why = pr.unread?.[f.field.name];
      if (why) t.notOk(read, `${pr.what}.${f.field.name} is not read: ${why}`);
      else t.ok(read, `${pr.what}.${f.field.name} (${where}): the decoder reads it`);
    }
  }
});

t.test('constants agree with the code', async (t) => {
  const lastWritten = (): number => {
    const b = Buffer.alloc(64);
    log_header_write(view_of(b), { magic: 0xffffffff, version: 0xffff, sub: 0xffff, fsid: 0xffffffff, addr: 0xffffffff, seq: 0xffffffff, id: 0xffffffff });
    return b.lastIndexOf(0xff) + 1;
  };
  const derives = (p: Partial<Parameters<typeof geometry_derive>[0]>): boolean => {
    try { geometry_derive({ blockCount: 65536, segBlocks: 16, cpSlots: 7, reserveSegs: 4, fanout: 8, inlineMax: 100, maxSnapshots: 8, ...p }); return true; } catch { return false; }
  };
  const code: Record<string, number | readonly number[]> = {
    format_version: FORMAT_VERSION, block_size: BLOCK_SIZE, crc_offset: CRC_OFFSET, sb_copies: SB_ADDRS.length, cp_start: CP_START,
    cp_slot_blocks: CP_SLOT_BLOCKS, cp_journal_blocks: CP_JOURNAL_BLOCKS, cp_dir_max: CP_DIR_MAX, head_count: HEAD_COUNT,
    log_header_bytes: lastWritten(), table_header_bytes: TABLE_HEADER_BYTES, dir_per_block: DIR_PER_BLOCK, table_count: TABLE_COUNT,
    table_entry_bytes: TABLE_ENTRY_BYTES, journal_header_bytes: JOURNAL_HEADER_BYTES,
    journal_body_bytes: JOURNAL_BODY_BYTES, node_header_bytes: NODE_HEADER_BYTES, node_body_bytes: NODE_BODY_BYTES,
    redo_header_bytes: REDO_HEADER_BYTES, redo_body_bytes: REDO_BODY_BYTES, key_bytes: KEY_BYTES, value_max: VALUE_MAX, name_max: NAME_MAX,
    map_slots: MAP_SLOTS, map_slot_bytes: MAP_SLOT_BYTES, inode_bytes: INODE_BYTES, counts_bytes: COUNTS_BYTES,
    xattr_size_max: XATTR_SIZE_MAX, xattr_chunk_bytes: XATTR_CHUNK_BYTES, cluster_blocks: CLUSTER_BLOCKS, cluster_header_bytes: CLUSTER_HEADER_BYTES, seg_blocks_min: SEG_BLOCKS_MIN, seg_blocks_max: SEG_BLOCKS_MAX,
    fanout_min: FANOUT_MIN, fanout_max: derives({ fanout: 1024 }) && !derives({ fanout: 1025 }) ? 1024 : -1,
    cp_slots_min: derives({ cpSlots: 3 }) && !derives({ cpSlots: 2 }) ? 3 : -1, fanout_default: geometry_for(16384).fanout,
    inline_max_default: INLINE_MAX_DEFAULT, max_snapshots_default: MAX_SNAPSHOTS_DEFAULT,
    name_hash_seed: ['a', 'hello.txt', 'x'.repeat(255)].every((s) => name_hash(Buffer.from(s)) === name_hash_doc(spec, Buffer.from(s))) ? spec.constants.get('name_hash_seed') as number : -1,
  };
  t.same([...spec.constants.keys()].sort(), Object.keys(code).sort(), 'FORMAT.md lists exactly the constants this test knows');
  for (const [k, v] of Object.entries(code)) t.same(spec.constants.get(k), Array.isArray(v) ? [...v] : v, `constant ${k}`);
  t.equal(derives({ fanout: FANOUT_MIN }) && !derives({ fanout: FANOUT_MIN - 1 }), true, 'fanout_min is the smallest fanout accepted');
  t.equal(derives({ segBlocks: SEG_BLOCKS_MAX, blockCount: 1 << 20 }) && !derives({ segBlocks: SEG_BLOCKS_MAX * 2, blockCount: 1 << 20 }), true, 'seg_blocks_max is the largest segment accepted');
  t.equal(derives({ segBlocks: SEG_BLOCKS_MIN }) && !derives({ segBlocks: SEG_BLOCKS_MIN / 2 }), true, 'seg_blocks_min is the smallest segment accepted');
});

t.test('magic numbers agree with the code', async (t) => {
  const code: Record<string, number> = {
    superblock: SB_MAGIC, checkpoint: CP_MAGIC, 'journal-block': JOURNAL_MAGIC, 'table-block': TABLE_MAGIC, 'directory-block': DIR_MAGIC,
    'node-block': NODE_MAGIC, 'redo-block': REDO_MAGIC,
  };
  t.same(spec.magics.map((m) => m.record).sort(), Object.keys(code).sort(), 'every block with a magic is listed');
  for (const m of spec.magics) {
    t.equal(m.value, code[m.record], `${m.record}: 0x${m.value.toString(16).toUpperCase()} is the code's magic`);
    t.equal(Buffer.from(m.ascii, 'latin1').readUInt32LE(0), m.value, `${m.record}: '${m.ascii}' stored in order reads as 0x${m.value.toString(16).toUpperCase()}`);
    const field = spec.records.get(m.record)!.fields.find((f) => f.name === 'magic')!;
    t.match(field.meaning, `0x${m.value.toString(16).toUpperCase().padStart(8, '0')}`, `${m.record}: the magic field names the same value`);
    t.match(field.meaning, m.ascii, `${m.record}: the magic field names the same letters`);
  }
  t.match(spec.records.get('superblock')!.fields.find((f) => f.name === 'signature')!.meaning, SB_SIGNATURE, 'the signature');
});

t.test('enumerations agree with the code', async (t) => {
  const names = (n: readonly string[]) => n.map((name, value) => ({ value, name })).filter((x) => x.name !== undefined);
  const code: Record<string, { value: number; name: string }[]> = {
    'table-id': names(TABLE_NAMES),
    'record-kind': Object.entries(REC_KIND_NAMES).map(([v, name]) => ({ value: Number(v), name })),
    head: names(HEAD_NAMES),
    'segment-state': [{ value: SegState.FREE, name: 'free' }, { value: SegState.INUSE, name: 'in-use' }, { value: SegState.PREFREE, name: 'prefree' }],
    'block-kind': names(BLOCK_KIND_NAMES),
    'redo-op': [{ value: REDO_PUT, name: 'PUT' }, { value: REDO_DEL, name: 'DEL' }, { value: REDO_PATCH, name: 'PATCH' }],
    'checkpoint-flags': [{ value: CP_FLAG_CLEAN, name: 'CLEAN' }, { value: CP_FLAG_ERRORS, name: 'ERRORS' }],
    'boot-flags': [{ value: BOOT_FLAG_TRIAL, name: 'TRIAL' }, { value: BOOT_FLAG_FELL_BACK, name: 'FELL_BACK' }],
    'redo-flags': [{ value: REDO_FLAG_GROUP_END, name: 'GROUP_END' }],
    'write-cause': names(CAUSE_NAMES),
    'checkpoint-trigger': names(TRIGGER_NAMES),
    'inode-flags': [{ value: INODE_FLAG_INLINE, name: 'INLINE' }, { value: INODE_FLAG_COMPRESS, name: 'COMPRESS' }, { value: INODE_FLAG_NOCOMPRESS, name: 'NOCOMPRESS' }, { value: INODE_FLAG_PREALLOC, name: 'PREALLOC' },
      { value: INODE_FLAG_IMMUTABLE, name: 'IMMUTABLE' }, { value: INODE_FLAG_APPEND, name: 'APPEND' }, { value: INODE_FLAG_NODUMP, name: 'NODUMP' },
      { value: INODE_FLAG_NOATIME, name: 'NOATIME' }, { value: INODE_FLAG_SYNC, name: 'SYNC' }, { value: INODE_FLAG_DIRSYNC, name: 'DIRSYNC' }],
    features: [{ value: FEATURE_COMPRESS_LZ4, name: 'COMPRESS_LZ4' }, { value: FEATURE_SHARED, name: 'SHARED' }, { value: FEATURE_ATTRS, name: 'ATTRS' }],
    'dirent-type': [
      { value: dt_of(S_IFIFO), name: 'FIFO' }, { value: dt_of(S_IFCHR), name: 'CHR' }, { value: dt_of(S_IFDIR), name: 'DIR' },
      { value: dt_of(S_IFBLK), name: 'BLK' }, { value: dt_of(S_IFREG), name: 'REG' }, { value: dt_of(S_IFLNK), name: 'LNK' },
      { value: dt_of(S_IFSOCK), name: 'SOCK' },
    ],
  };
  t.same([...spec.enums.keys()].sort(), Object.keys(code).sort(), 'FORMAT.md documents exactly these enumerations');
  for (const [k, v] of Object.entries(code)) {
    t.same(spec.enums.get(k)?.map((e) => ({ value: e.value, name: e.name })), v, `enum ${k}`);
  }
});

t.test('geometry: formulas, defaults and worked examples', async (t) => {
  for (const bc of [700, 1024, 5000, 16384, 100_000, 262_144, 1 << 20, 3_000_001]) {
    for (const seg of [undefined, 16, 64]) {
      let g;
      try { g = geometry_for(bc, seg === undefined ? {} : { segBlocks: seg }); } catch { continue; }
      const d = mkfs_defaults_doc(bc, seg);
      const geo = geometry_doc(spec, { block_count: bc, seg_blocks: d.seg_blocks, cp_slots: d.cp_slots, max_snapshots: MAX_SNAPSHOTS_DEFAULT });
      const what = `${bc} blocks${seg ? `, segBlocks ${seg}` : ''}`;
      t.same(
        { ...d, main_start: geo.main_start, seg_count: geo.seg_count, table_blocks: geo.table_blocks, dir_blocks: geo.dir_blocks, tables: geo.tables.map((x) => [x.per_block, x.entries, x.blocks, x.dir_base]) },
        { seg_blocks: g.segBlocks, cp_slots: g.cpSlots, reserve_segs: g.reserveSegs, main_start: g.mainStart, seg_count: g.segCount, table_blocks: g.tableBlocks, dir_blocks: g.dirBlocks, tables: g.tables.map((x) => [x.perBlock, x.entries, x.blocks, x.dirBase]) },
        `${what}: the document's formulas give the code's geometry and defaults`,
      );
    }
  }
  for (const row of doc_table(spec.text, 'device')) {
    const bc = Number(row[1]);
    const seg = /segBlocks: (\d+)/.exec(row[0]!);
    const g = geometry_for(bc, seg ? { segBlocks: Number(seg[1]) } : {});
    t.same(row.slice(1).map(Number), [g.blockCount, g.segBlocks, g.cpSlots, g.mainStart, g.segCount, g.reserveSegs, g.tableBlocks, g.dirBlocks], `worked example: ${row[0]}`);
  }
  const g = geometry_for(16384);
  for (const row of doc_table(spec.text, 'table')) {
    const tg = g.tables.find((x) => x.name === row[0]);
    t.same([Number(row[1]), Number(row[2])], [tg?.entryBytes, tg?.perBlock], `table ${row[0]}: entry size and entries per block`);
  }
});

t.test('test vectors in the text', async (t) => {
  const check = /crc32c\("123456789"\) = 0x([0-9A-F]+)/.exec(spec.text);
  t.ok(check, 'the CRC32C check value is given');
  t.equal(crc32c(Buffer.from('123456789')), parseInt(check![1]!, 16), 'crc32c check value (code)');
  t.equal(crc32c_bitwise(Buffer.from('123456789')), parseInt(check![1]!, 16), 'crc32c check value (document definition)');
  const zeros = /`crc32c` of 4096 zero bytes is 0x([0-9A-F]+)/.exec(spec.text);
  t.equal(crc32c(Buffer.alloc(4096)), parseInt(zeros![1]!, 16), 'crc32c of a zero block');
  const vecs = [...spec.text.matchAll(/name_hash\("([^"]+)"\) =\s+0x([0-9A-F]+)/g)];
  t.equal(vecs.length, 3, 'three name hash vectors');
  for (const [, name, hex] of vecs) {
    t.equal(name_hash(Buffer.from(name!)), parseInt(hex!, 16), `name_hash("${name}") (code)`);
    t.equal(name_hash_doc(spec, Buffer.from(name!)), parseInt(hex!, 16), `name_hash("${name}") (document definition)`);
  }
});

t.test('diagrams are drawn from the tables', async (t) => {
  const text = readFileSync(FORMAT_MD, 'utf8');
  if (process.env.COWLOG_FORMAT_DIAGRAMS_UPDATE === '1') {
    writeFileSync(FORMAT_MD, doc_diagrams_redraw(text));
    t.pass('diagrams redrawn');
    return;
  }
  const s = spec_parse(text);
  for (const rec of s.records.values()) {
    t.equal(doc_diagram(text, rec), record_diagram(rec), `record ${rec.name}: diagram matches its table (COWLOG_FORMAT_DIAGRAMS_UPDATE=1 redraws)`);
  }
});

t.test('records_read walks packed records', async (t) => {
  // a small self-check of the reader the golden test relies on
  const b = dirents_encode([{ name: Buffer.from('a'), ino: 1, type: 8 }, { name: Buffer.from('bc'), ino: 2, type: 4 }]);
  const { items, size } = records_read(spec, b, 2, 'dirent', 2);
  t.equal(size, b.length - 2, 'two dirents fill the list');
  t.same(items.map((i) => [i.values['ino'], Buffer.from(i.values['name'] as Buffer).toString()]), [[1, 'a'], [2, 'bc']], 'names and inode numbers');
});
