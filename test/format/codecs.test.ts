// Every codec of src/format: round trips, and rejection of what a damaged or foreign block can
// hold. A block decoder must answer a bad block with a CorruptError naming the record kind and
// the block address (EUCLEAN), never with a crash or a wrong record: wrong magic, any flipped
// bit (CRC), wrong own address, wrong fsid, wrong version, lengths running past the block,
// keys out of order. Record values are checked at their limits (VALUE_MAX, NAME_MAX, 64 slots).

import { CAUSE_NAMES, TRIGGER_NAMES } from '../../src/device/cause.js';
import t from 'tap';
import type { Test } from 'tap';
import { BLOCK_SIZE } from '../../src/device/device.js';
import {
  BOOT_FLAG_FELL_BACK, BOOT_FLAG_TRIAL,
  block_seal, counts_decode, counts_encode, COUNTS_BYTES, CP_DIR_MAX, CP_FLAG_CLEAN, cp_encode, cp_header_decode, cp_journal_decode, journal_pack, DIR_PER_BLOCK, dir_block_decode,
  dir_block_encode, dirents_decode, dirents_encode, FORMAT_VERSION, HEAD_COUNT, INODE_BYTES, inode_decode, inode_encode, journal_capacity_bytes,
  KEY_MAX, KEY_MIN, key_read, key_write, map_decode, map_encode, map_new, MAP_SLOTS, NAME_MAX, NODE_BODY_BYTES, node_decode, node_encode,
  redo_decode, REDO_DEL, redo_encode, REDO_FLAG_GROUP_END, REDO_PUT, REDO_REC_OVERHEAD, REDO_BODY_BYTES, sb_decode, sb_encode, TABLE_ENTRY_BYTES,
  table_block_decode, table_block_encode, VALUE_MAX, view_of, xattrs_decode, xattrs_encode, LEAF_REC_OVERHEAD,
} from '../../src/format/index.js';
import type { Checkpoint, Inode, Key, NodeBody, RedoBlock, Superblock } from '../../src/format/index.js';
import { geometry_for } from '../../src/checkpoint/volume.js';
import { CorruptError } from '../../src/util/errors.js';
import { crc32c } from '../../src/util/crc32c.js';
import { nid_of } from '../../src/util/ids.js';

const FSID = 0x5eed1234;
const g = geometry_for(1024, { segBlocks: 16 });
const MAIN = g.mainStart;

/** Asserts fn throws a CorruptError naming `kind` and `addr`, with a message matching `why`. */
function corrupt(t: Test, fn: () => unknown, kind: string, addr: number, why: RegExp, what: string): void {
  let err: unknown = null;
  try { fn(); } catch (e) { err = e; }
  if (!(err instanceof CorruptError)) {
    t.fail(`${what}: want a CorruptError, got ${err === null ? 'no error' : String(err)}`);
    return;
  }
  t.equal(err.kind, kind, `${what}: names the kind (${err.message})`);
  t.equal(err.addr, addr, `${what}: names the address`);
  t.equal(err.code, 'EUCLEAN', `${what}: errno EUCLEAN`);
  t.match(err.message, why, `${what}: says why`);
}

/** A copy of `b` changed by `fn` and sealed again, so only the change is wrong. */
function edited(b: Uint8Array, fn: (v: DataView, b: Buffer) => void): Buffer {
  const c = Buffer.from(b);
  fn(view_of(c), c);
  block_seal(c);
  return c;
}

/** Flips one bit in every byte of the block in turn; every copy must be rejected. */
function every_bit_flip(t: Test, b: Uint8Array, decode: (x: Buffer) => unknown, kind: string, addr: number): void {
  let rejected = 0;
  const wrongKinds: string[] = [];
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const c = Buffer.from(b);
    c[i] = c[i]! ^ (1 << (i % 8));
    try {
      decode(c);
    } catch (e) {
      if (e instanceof CorruptError && e.kind === kind && e.addr === addr) rejected++;
      else if (wrongKinds.length < 3) wrongKinds.push(`byte ${i}: ${String(e)}`);
    }
  }
  t.equal(rejected, BLOCK_SIZE, `${kind}: a flipped bit in any of the 4096 bytes is a CorruptError naming it${wrongKinds.length ? ` (${wrongKinds.join('; ')})` : ''}`);
}

// ---- fixtures ---------------------------------------------------------------------------------

function sb_make(): Superblock {
  return { version: FORMAT_VERSION, geometry: g, uuid: Buffer.from('5eed1234aabbccddeeff001122334455', 'hex'), createdMs: 1_700_000_000_123, label: 'codec test', features: 0 };
}

function cp_make(journal = 3): Checkpoint {
  return {
    fsid: FSID, seq: 41, slot: 2, flags: CP_FLAG_CLEAN, timeMs: 1_700_000_000_456, rootNid: 3, nextIno: 17, nextNid: 12, inodes: 15, natUsed: 23, metaBlocks: 31,
    validBlocks: 99, redoStart: MAIN + 40, heads: Array.from({ length: HEAD_COUNT }, (_, i) => ({ seg: i === 6 ? -1 : i * 2, off: i })),
    dir: [MAIN + 7],
    journal: Array.from({ length: journal }, (_, i) => ({ table: i % 6, index: i * 3, data: Buffer.alloc(TABLE_ENTRY_BYTES[i % 6]!, i + 1) })),
    journalAddrs: [],
    stats: { segmentsCleaned: 2 ** 33 + 5, blocksMoved: 77, blocksRecycled: 6, checkpoints: 41 },
    writes: { blocks: CAUSE_NAMES.map((_n, i) => 2 ** 40 + i), requests: CAUSE_NAMES.map((_n, i) => i * 3), checkpoints: TRIGGER_NAMES.map((_n, i) => i + 1) },
    tree: 3,
    boot: { defaultTree: 2, flags: BOOT_FLAG_TRIAL, trialTree: 3, trialTries: 3, trialLeft: 1 },
  };
}

/** cp_make with its journal blocks placed at 11, 12, ... (as many as the journal packs into). */
function cp_placed(journal = 3): Checkpoint {
  const cp = cp_make(journal);
  cp.journalAddrs = journal_pack(cp.journal).map((_, i) => 11 + i);
  return cp;
}

const K = (ino: number, kind: number, off: number): Key => ({ ino, kind, off });

function leaf_make(): NodeBody {
  return { level: 0, keys: [K(1, 1, 0), K(1, 3, 0xabcdef123456), K(2, 1, 0), K(2, 4, 0)], vals: [Buffer.alloc(96, 1), Buffer.from('dirents'), Buffer.alloc(96, 2), Buffer.from('inline data')] };
}

function redo_make(): RedoBlock {
  return {
    fsid: FSID, epoch: 41, index: 3, addr: MAIN + 40, next: MAIN + 41, flags: REDO_FLAG_GROUP_END,
    records: [{ op: REDO_PUT, key: K(5, 1, 0), value: Buffer.alloc(96, 5) }, { op: REDO_DEL, key: K(5, 4, 0), value: Buffer.alloc(0) }],
  };
}

// ---- round trips ------------------------------------------------------------------------------

/** A sealed block's own CRC (0 for a buffer too short to have one). */
function stored_crc(b: Buffer): number {
  return b.length >= BLOCK_SIZE ? b.readUInt32LE(BLOCK_SIZE - 4) : 0;
}

t.test('round trips', async (t) => {
  const sb = sb_make();
  for (const copy of [0, 1]) {
    const d = sb_decode(sb_encode(sb, copy), copy);
    t.same({ ...d, geometry: { ...d.geometry } }, { ...sb, geometry: { ...sb.geometry } }, `superblock copy ${copy}`);
  }

  for (const n of [0, 3, 250]) {
    const cp = cp_placed(n);
    const { header: h, journal: jb } = cp_encode(cp);
    const dh = cp_header_decode(h!, 10, FSID);
    const entries = cp_journal_decode(FSID, cp.seq, dh.journalCrcs, jb, jb.map((_, i) => 11 + i), dh.journalEntries);
    const { journalEntries, journalCrcs, ...rest } = dh;
    t.same({ ...rest, journal: entries.map((e) => ({ ...e, data: Buffer.from(e.data) })) }, cp, `checkpoint with ${n} journal entries in ${jb.length} blocks`);
    t.equal(journalEntries, n, 'journal entry count');
    t.equal(dh.journalAddrs.length, jb.length, 'journal block count');
    t.equal(journalCrcs.filter((c) => c !== 0).length, jb.length, 'a CRC per journal block');
  }
  t.throws(() => cp_encode(cp_placed(Math.ceil(journal_capacity_bytes() / 17) + 200)), RangeError, 'a journal larger than four blocks is refused');
  t.throws(() => cp_encode(cp_make(300)), RangeError, 'a journal with no blocks placed for it is refused');

  for (const tg of g.tables) {
    const page = tg.perBlock * tg.entryBytes;
    const backing = Buffer.alloc(tg.blocks * page);
    for (let i = 0; i < tg.entries * tg.entryBytes; i++) backing[i] = (i * 13 + tg.id) & 0xff;
    const into = Buffer.alloc(backing.length);
    for (let bi = 0; bi < tg.blocks; bi++) {
      const b = table_block_encode(tg, { fsid: FSID, table: tg.id, index: bi, addr: MAIN + bi, seq: 8 }, backing.subarray(bi * page, (bi + 1) * page));
      into.set(table_block_decode(tg, b, MAIN + bi, bi, FSID), bi * page);
      if (bi === 0) t.same([b.readUInt16LE(6), b.readUInt32LE(12), b.readUInt32LE(16), b.readUInt32LE(20)], [tg.id, MAIN, 8, 0], `${tg.name} table block header`);
    }
    t.ok(into.equals(backing), `${tg.name}: ${tg.blocks} table blocks carry the whole table`);
  }

  const addrs = new Uint32Array(DIR_PER_BLOCK * 2 + 5).map((_, i) => MAIN + i);
  const back = new Uint32Array(addrs.length);
  for (let di = 0; di < 3; di++) dir_block_decode(dir_block_encode(FSID, di, MAIN + 100 + di, 8, addrs), MAIN + 100 + di, di, back, FSID);
  t.same([...back], [...addrs], 'three directory blocks, the last partial');

  const leaf = leaf_make();
  const dl = node_decode(node_encode(leaf, { fsid: FSID, nid: nid_of(9), addr: MAIN + 3, birth: 5 }), MAIN + 3, FSID);
  t.same(dl, { header: { fsid: FSID, nid: 9, addr: MAIN + 3, birth: 5 }, body: leaf }, 'leaf node');
  const inner: NodeBody = { level: 2, keys: [KEY_MIN, K(7, 1, 0), KEY_MAX], kids: [nid_of(4), nid_of(5), nid_of(0xffffffff)] };
  t.same(node_decode(node_encode(inner, { fsid: FSID, nid: nid_of(10), addr: MAIN + 4, birth: 6 }), MAIN + 4, FSID).body, inner, 'inner node, keys at the extremes');
  const empty: NodeBody = { level: 0, keys: [], vals: [] };
  t.same(node_decode(node_encode(empty, { fsid: FSID, nid: nid_of(1), addr: MAIN, birth: 1 }), MAIN, FSID).body, empty, 'an empty root leaf');

  for (const k of [KEY_MIN, KEY_MAX, K(0x12345678, 6, 0x0000ffffffff), K(1, 5, 2 ** 32)]) {
    const b = Buffer.alloc(11);
    key_write(view_of(b), 0, k);
    t.same(key_read(view_of(b), 0), k, `key (${k.ino},${k.kind},${k.off})`);
  }

  const ino: Inode = {
    mode: 0o100644, uid: 1000, gid: 100, nlink: 2, size: 2 ** 40 + 3, rdev: 0x0801, flags: 1, generation: 7, parent: 0, blocks: 2 ** 33 + 1, data_gen: 0xfffffffe,
    atime_s: -1, atime_ns: 999_999_999, mtime_s: 2 ** 40, mtime_ns: 0, ctime_s: -(2 ** 35), ctime_ns: 1, btime_s: 0, btime_ns: 5,
  };
  t.same(inode_decode(inode_encode(ino)), ino, 'inode: 64-bit sizes, negative and large times');

  const dents = [{ name: Buffer.from('a'), ino: 2, type: 8 }, { name: Buffer.alloc(NAME_MAX, 0x7a), ino: 0xffffffff, type: 4 }];
  t.same(dirents_decode(dirents_encode(dents)), dents, 'dirents, a 1-byte and a 255-byte name');
  const xs = [{ name: Buffer.from('user.empty'), value: Buffer.alloc(0) }, { name: Buffer.alloc(NAME_MAX, 0x78), value: Buffer.alloc(1000, 3) }];
  t.same(xattrs_decode(xattrs_encode(xs)), xs, 'xattrs, an empty value and a 255-byte name');

  const full = map_new();
  for (let s = 0; s < MAP_SLOTS; s++) { full.addr[s] = MAIN + s; full.csum[s] = crc32c(Buffer.from([s])); }
  const fb = map_encode(full);
  t.equal(fb.length, 1 + MAP_SLOTS * 9, 'a full map is 577 bytes');
  t.same(map_decode(fb), full, 'map with all 64 slots');
  const sparse = map_new();
  sparse.addr[63] = 0xffffffff; sparse.csum[63] = 0xffffffff;
  t.same(map_decode(map_encode(sparse)), sparse, 'map with only the last slot');

  const rb = redo_make();
  t.same(redo_decode(redo_encode(rb), rb.addr, FSID), rb, 'redo block');

  const counts = { nextIno: 0xfffffffe, inodes: 0x12345678 };
  t.same(counts_decode(counts_encode(counts)), counts, 'volume counters');
});

// ---- rejection: every block decoder --------------------------------------------------------------

interface BlockKindCase {
  kind: string;
  addr: number;
  buf: Buffer;
  decode: (b: Buffer, addr?: number, fsid?: number) => unknown;
  /** own address checked by the codec */
  addrChecked: boolean;
  fsidAt: number | null;
  versionChecked: boolean;
}

function block_cases(): BlockKindCase[] {
  const jblocks = cp_encode(cp_placed(3)).journal;
  const jb = jblocks[0]!;
  const nat = g.tables[0]!;
  const backing = Buffer.alloc(nat.entries * nat.entryBytes, 0x11);
  const dir = new Uint32Array(g.tableBlocks).fill(MAIN + 1);
  return [
    { kind: 'superblock', addr: 0, buf: sb_encode(sb_make(), 0), decode: (b, a = 0) => sb_decode(b, a), addrChecked: false, fsidAt: null, versionChecked: true },
    { kind: 'checkpoint', addr: 10, buf: cp_encode(cp_placed(3)).header, decode: (b, a = 10, f = FSID) => cp_header_decode(b, a, f), addrChecked: false, fsidAt: 8, versionChecked: true },
    {
      kind: 'checkpoint journal', addr: 11, buf: jb, addrChecked: true, fsidAt: 8, versionChecked: true,
      // the header's CRC for the block is recomputed, so the journal block's own checks are what is tested
      decode: (b, a = 11, f = FSID) => cp_journal_decode(f, 41, [stored_crc(b)], [b], [a], 3),
    },
    { kind: 'NAT table', addr: MAIN + 2, buf: table_block_encode(nat, { fsid: FSID, table: 0, index: 1, addr: MAIN + 2, seq: 4 }, backing.subarray(0, nat.perBlock * nat.entryBytes)), decode: (b, a = MAIN + 2, f = FSID) => table_block_decode(nat, b, a, 1, f), addrChecked: true, fsidAt: 8, versionChecked: true },
    { kind: 'table directory', addr: MAIN + 3, buf: dir_block_encode(FSID, 0, MAIN + 3, 4, dir), decode: (b, a = MAIN + 3, f = FSID) => dir_block_decode(b, a, 0, new Uint32Array(dir.length), f), addrChecked: true, fsidAt: 8, versionChecked: true },
    { kind: 'B+tree node', addr: MAIN + 4, buf: node_encode(leaf_make(), { fsid: FSID, nid: nid_of(9), addr: MAIN + 4, birth: 5 }), decode: (b, a = MAIN + 4, f = FSID) => node_decode(b, a, f), addrChecked: true, fsidAt: 8, versionChecked: true },
    { kind: 'redo', addr: MAIN + 40, buf: redo_encode(redo_make()), decode: (b, a = MAIN + 40, f = FSID) => redo_decode(b, a, f), addrChecked: true, fsidAt: 8, versionChecked: true },
  ];
}

t.test('block decoders reject damaged and foreign blocks', async (t) => {
  for (const c of block_cases()) {
    t.test(c.kind, async (t) => {
      t.doesNotThrow(() => c.decode(c.buf), 'the original decodes');
      corrupt(t, () => c.decode(edited(c.buf, (v) => v.setUint32(0, 0x12345678, true))), c.kind, c.addr, /bad magic 0x12345678/, 'wrong magic');
      corrupt(t, () => c.decode(Buffer.alloc(BLOCK_SIZE)), c.kind, c.addr, /all zeros/, 'a block never written');
      corrupt(t, () => c.decode(c.buf.subarray(0, BLOCK_SIZE - 1)), c.kind, c.addr, /length 4095/, 'a short buffer');
      corrupt(t, () => c.decode(Buffer.from(c.buf).fill(0x5a, 100, 101)), c.kind, c.addr, /CRC32C mismatch/, 'a changed byte');
      every_bit_flip(t, c.buf, (b) => c.decode(b), c.kind, c.addr);
      if (c.versionChecked && c.kind === 'superblock') {
        // a sound superblock of another version is not damage: a one-line EINVAL naming both versions
        for (const [v, who] of [[FORMAT_VERSION + 1, 'newer'], [FORMAT_VERSION - 1, 'older']] as const) {
          t.throws(() => c.decode(edited(c.buf, (d) => d.setUint16(4, v, true))),
            { code: 'EINVAL', message: new RegExp(`made by an? ${who} cowlog \\(format ${v}\\); this cowlog reads format ${FORMAT_VERSION}`) }, `a superblock of format ${v}: EINVAL, not corruption`);
        }
      } else if (c.versionChecked) {
        corrupt(t, () => c.decode(edited(c.buf, (v) => v.setUint16(4, FORMAT_VERSION + 1, true))), c.kind, c.addr, new RegExp(`version ${FORMAT_VERSION + 1}`), 'a newer format version');
      }
      if (c.fsidAt !== null) {
        corrupt(t, () => c.decode(edited(c.buf, (v) => v.setUint32(c.fsidAt!, FSID ^ 1, true))), c.kind, c.addr, /another filesystem/, 'another filesystem\'s block');
        corrupt(t, () => c.decode(c.buf, undefined, FSID ^ 0x100), c.kind, c.addr, /another filesystem/, 'read by another filesystem');
      }
      if (c.addrChecked) {
        corrupt(t, () => c.decode(c.buf, c.addr + 1), c.kind, c.addr + 1, new RegExp(`belongs at address ${c.addr}`), 'found at the wrong address');
      }
    });
  }
});

t.test('superblock: signature, block size, geometry', async (t) => {
  const b = sb_encode(sb_make(), 0);
  corrupt(t, () => sb_decode(edited(b, (_v, c) => c.write('COWLOGFX', 8, 'latin1')), 0), 'superblock', 0, /bad signature/, 'signature');
  corrupt(t, () => sb_decode(edited(b, (v) => v.setUint32(16, 8192, true)), 0), 'superblock', 0, /block size 8192/, 'block size');
  corrupt(t, () => sb_decode(edited(b, (v) => v.setUint32(24, 48, true)), 0), 'superblock', 0, /impossible geometry.*power of two/, 'segment size not a power of two');
  corrupt(t, () => sb_decode(edited(b, (v) => v.setUint32(44, 2, true)), 0), 'superblock', 0, /impossible geometry.*fanout/, 'fanout too small');
  corrupt(t, () => sb_decode(edited(b, (v) => v.setUint32(20, 100, true)), 0), 'superblock', 0, /impossible geometry.*too small/, 'device too small');
  corrupt(t, () => sb_decode(edited(b, (v) => v.setUint32(28, g.segCount + 1, true)), 0), 'superblock', 0, /disagree with the geometry/, 'stored segment count');
  corrupt(t, () => sb_decode(edited(b, (v) => v.setUint32(32, g.mainStart + 16, true)), 0), 'superblock', 0, /disagree with the geometry/, 'stored main start');
  t.throws(() => sb_encode({ ...sb_make(), label: 'x'.repeat(64) }, 0), RangeError, 'a label of 64 bytes is refused');
  t.equal(sb_decode(sb_encode({ ...sb_make(), label: 'y'.repeat(63) }, 0), 0).label, 'y'.repeat(63), 'a label of 63 bytes fits');
  t.throws(() => sb_encode({ ...sb_make(), uuid: Buffer.alloc(15) }, 0), RangeError, 'a uuid must be 16 bytes');
});

t.test('checkpoint: counts, torn slots', async (t) => {
  const cp = cp_placed(3);
  const { header: h, journal: [j] } = cp_encode(cp);
  corrupt(t, () => cp_header_decode(edited(h!, (v) => v.setUint32(60, CP_DIR_MAX + 1, true)), 10, FSID), 'checkpoint', 10, /257 directory blocks/, 'too many directory blocks');
  corrupt(t, () => cp_header_decode(edited(h!, (v) => v.setUint32(56, 5, true)), 10, FSID), 'checkpoint', 10, /5 journal blocks/, 'too many journal blocks');
  t.same(cp_header_decode(h!, 10, FSID).boot, cp.boot, 'the boot state round-trips');
  const boot = (f: (v: DataView) => void) => cp_header_decode(edited(h!, f), 10, FSID);
  corrupt(t, () => boot((v) => v.setUint16(204, 4, true)), 'checkpoint', 10, /boot flags 0x4/, 'an unknown boot flag');
  corrupt(t, () => boot((v) => v.setUint16(204, BOOT_FLAG_TRIAL | BOOT_FLAG_FELL_BACK, true)), 'checkpoint', 10, /both on trial and fallen back/, 'on trial and fallen back at once');
  corrupt(t, () => boot((v) => v.setUint16(208, 4, true)), 'checkpoint', 10, /4 of 3 tries left/, 'more tries left than the trial has');
  corrupt(t, () => boot((v) => v.setUint16(206, 0, true)), 'checkpoint', 10, /a trial of 0 tries/, 'a trial of no tries');
  corrupt(t, () => boot((v) => v.setUint16(204, BOOT_FLAG_FELL_BACK, true)), 'checkpoint', 10, /fallen back with 1 tries left/, 'fallen back with tries left');
  corrupt(t, () => boot((v) => v.setUint16(204, 0, true)), 'checkpoint', 10, /no trial, yet trial tree 3/, 'trial fields without a trial');
  t.throws(() => cp_encode({ ...cp, boot: { ...cp.boot, trialLeft: 9 } }), RangeError, 'an impossible boot state is not written');
  const dh = cp_header_decode(h!, 10, FSID);
  const jd = (b: Buffer, crcs = [stored_crc(b)], seq = cp.seq, count = 3, addr = 11) => cp_journal_decode(FSID, seq, crcs, [b], [addr], count);
  t.equal(jd(j!, dh.journalCrcs).length, 3, 'the journal block matches its header');
  corrupt(t, () => jd(Buffer.from(j!).fill(7, 40, 41), dh.journalCrcs), 'checkpoint journal', 11, /CRC32C mismatch/, 'a damaged journal block');
  const older = cp_encode({ ...cp, seq: cp.seq - 1, journal: cp.journal.map((e) => ({ ...e, index: e.index + 1 })) }).journal[0]!;
  corrupt(t, () => jd(older, dh.journalCrcs), 'checkpoint journal', 11, /not the block its checkpoint header recorded/, 'an older checkpoint\'s journal block at the address');
  corrupt(t, () => jd(j!, undefined, cp.seq + 1), 'checkpoint journal', 11, /belongs to checkpoint 41, not 42/, 'a journal block of another checkpoint');
  corrupt(t, () => cp_journal_decode(FSID, cp.seq, [0, j!.readUInt32LE(BLOCK_SIZE - 4)], [Buffer.alloc(BLOCK_SIZE), j!], [11, 12], 3), 'checkpoint journal', 11, /never written/, 'a missing first journal block');
  corrupt(t, () => cp_journal_decode(FSID, cp.seq, [j!.readUInt32LE(BLOCK_SIZE - 4), j!.readUInt32LE(BLOCK_SIZE - 4)], [j!, j!], [11, 12], 6), 'checkpoint journal', 12, /belongs at address 11/, 'a journal block in the wrong place');
  corrupt(t, () => jd(j!, undefined, cp.seq, 4), 'checkpoint journal', 11, /holds 3 entries, header says 4/, 'fewer entries than the header says');
  corrupt(t, () => jd(edited(j!, (v) => v.setUint32(24, 4061, true))), 'checkpoint journal', 11, /4061 bytes of entries/, 'entry bytes beyond the journal body');
  corrupt(t, () => jd(edited(j!, (v) => v.setUint32(24, 20, true))), 'checkpoint journal', 11, /entry 1 runs past its bytes/, 'entries running past their byte count');
  corrupt(t, () => jd(edited(j!, (v) => v.setUint32(28, 4, true)), undefined, cp.seq, 4), 'checkpoint journal', 11, /entry 3 runs past its bytes/, 'more entries than bytes');
  corrupt(t, () => jd(edited(j!, (v) => v.setUint8(32, 6))), 'checkpoint journal', 11, /names table 6/, 'an entry for a table that does not exist');
});

t.test('tables and the directory: misplaced blocks', async (t) => {
  const [nat, rct] = [g.tables[0]!, g.tables[1]!];
  const backing = Buffer.alloc(nat.perBlock * nat.entryBytes);
  const b = table_block_encode(nat, { fsid: FSID, table: 0, index: 1, addr: MAIN, seq: 2 }, backing);
  corrupt(t, () => table_block_decode(rct, b, MAIN, 1, FSID), 'RCT table', MAIN, /belongs to table NAT/, 'a NAT block where the RCT was expected');
  corrupt(t, () => table_block_decode(nat, b, MAIN, 2, FSID), 'NAT table', MAIN, /is index 1, directory says 2/, 'a table block of another index');
  t.throws(() => table_block_encode(nat, { fsid: FSID, table: 0, index: 1, addr: MAIN, seq: 2 }, Buffer.alloc(8)), RangeError, 'a page of the wrong size');
  const dir = new Uint32Array(45);
  const d = dir_block_encode(FSID, 0, MAIN, 2, dir);
  corrupt(t, () => dir_block_decode(d, MAIN, 1, new Uint32Array(DIR_PER_BLOCK + 5), FSID), 'table directory', MAIN, /is index 0, checkpoint says 1/, 'a directory block of another index');
  corrupt(t, () => dir_block_decode(edited(d, (v) => v.setUint32(24, dir.length + 1, true)), MAIN, 0, new Uint32Array(dir.length), FSID), 'table directory', MAIN, /holds 46 entries, geometry expects 45/, 'a count the geometry does not give');
  corrupt(t, () => dir_block_decode(d, MAIN, 0, new Uint32Array(dir.length + 1), FSID), 'table directory', MAIN, /geometry expects 46/, 'a directory from another geometry');
});

t.test('nodes: lengths, order, children', async (t) => {
  const h = { fsid: FSID, nid: nid_of(9), addr: MAIN, birth: 1 };
  const leaf = node_encode(leaf_make(), h);
  const nd = (b: Buffer) => node_decode(b, MAIN, FSID);
  const rec1 = 32 + 11 + 2 + 96; // offset of record 1
  corrupt(t, () => nd(edited(leaf, (v) => v.setUint16(24, 400, true))), 'B+tree node', MAIN, /runs past the block|out of order/, 'a count beyond the records');
  corrupt(t, () => nd(edited(leaf, (v) => v.setUint16(24, 0xffff, true))), 'B+tree node', MAIN, /./, 'count 65535');
  corrupt(t, () => nd(edited(leaf, (v) => v.setUint16(32 + 11, VALUE_MAX + 1, true))), 'B+tree node', MAIN, /value 0 of 1801 bytes/, 'a value longer than VALUE_MAX');
  corrupt(t, () => nd(edited(leaf, (v) => v.setUint16(32 + 11, 4060, true))), 'B+tree node', MAIN, /runs past the block/, 'a value running past the block');
  corrupt(t, () => nd(edited(leaf, (v, b) => { b.copy(b, rec1, 32, 32 + 11); void v; })), 'B+tree node', MAIN, /keys out of order at entry 1/, 'two equal keys');
  corrupt(t, () => nd(edited(leaf, (v) => v.setUint32(rec1, 0, true))), 'B+tree node', MAIN, /keys out of order at entry 1/, 'a smaller key after a larger one');
  // a leaf exactly full: one record takes the whole body
  const fullVal = Buffer.alloc(NODE_BODY_BYTES - LEAF_REC_OVERHEAD);
  t.throws(() => node_encode({ level: 0, keys: [K(1, 1, 0), K(1, 2, 0)], vals: [fullVal, Buffer.alloc(1)] }, h), /exceeds 4060/, 'node_encode refuses a body over 4060 bytes');
  const three = node_encode({ level: 0, keys: [K(1, 1, 0), K(1, 2, 0), K(1, 3, 0)], vals: [Buffer.alloc(VALUE_MAX, 1), Buffer.alloc(VALUE_MAX, 2), Buffer.alloc(NODE_BODY_BYTES - 3 * LEAF_REC_OVERHEAD - 2 * VALUE_MAX, 3)] }, h);
  t.same((nd(three).body as { vals: Buffer[] }).vals.map((v) => v.length), [VALUE_MAX, VALUE_MAX, 421], 'two VALUE_MAX values and a body filled to the last byte');
  const inner = node_encode({ level: 1, keys: [K(1, 1, 0), K(5, 1, 0)], kids: [nid_of(3), nid_of(4)] }, h);
  corrupt(t, () => nd(edited(inner, (v) => v.setUint32(32 + 15 + 11, 0, true))), 'B+tree node', MAIN, /child 1 is node id 0/, 'a child node id 0');
  corrupt(t, () => nd(edited(inner, (v) => v.setUint16(24, 271, true))), 'B+tree node', MAIN, /runs past the block|out of order/, 'more inner entries than fit');
  t.throws(() => node_encode({ level: 0, keys: [K(2, 1, 0), K(1, 1, 0)], vals: [Buffer.alloc(0), Buffer.alloc(0)] }, h), /out of order/, 'node_encode refuses keys out of order');
});

t.test('redo blocks: lengths and ops', async (t) => {
  const rb = redo_make();
  const b = redo_encode(rb);
  const rd = (x: Buffer) => redo_decode(x, rb.addr, FSID);
  corrupt(t, () => rd(edited(b, (v) => v.setUint16(28, 300, true))), 'redo', rb.addr, /record 2 has op 0|runs past/, 'a count beyond the records');
  corrupt(t, () => rd(edited(b, (v) => v.setUint8(32, 4))), 'redo', rb.addr, /record 0 has op 4/, 'an unknown op');
  corrupt(t, () => rd(edited(b, (v) => v.setUint16(32 + 12, VALUE_MAX + 1, true))), 'redo', rb.addr, /record 0 value runs past the block/, 'a value longer than VALUE_MAX');
  corrupt(t, () => rd(edited(b, (v) => v.setUint16(28, 0xffff, true))), 'redo', rb.addr, /./, 'count 65535');
  const big = {
    ...rb, records: [
      { op: REDO_PUT, key: K(1, 4, 0), value: Buffer.alloc(VALUE_MAX, 9) }, { op: REDO_PUT, key: K(1, 5, 0), value: Buffer.alloc(VALUE_MAX, 8) },
      { op: REDO_PUT, key: K(1, 5, 1), value: Buffer.alloc(REDO_BODY_BYTES - 3 * REDO_REC_OVERHEAD - 2 * VALUE_MAX, 7) },
    ],
  };
  t.same(rd(redo_encode(big)).records, big.records, 'two VALUE_MAX values and a body filled to the last byte');
  t.throws(() => redo_encode({ ...rb, records: [{ op: REDO_PUT, key: K(1, 4, 0), value: Buffer.alloc(VALUE_MAX + 1) }] }), RangeError, 'redo_encode refuses a value above VALUE_MAX');
  t.throws(() => redo_encode({ ...big, records: [...big.records, { op: REDO_DEL, key: K(1, 6, 0), value: Buffer.alloc(0) }] }), RangeError, 'redo_encode refuses records that overflow the block');
});

t.test('record values at their limits', async (t) => {
  // inode
  t.throws(() => inode_decode(Buffer.alloc(INODE_BYTES - 1)), RangeError, 'an inode value of 95 bytes');
  t.throws(() => inode_decode(Buffer.alloc(INODE_BYTES + 1)), RangeError, 'an inode value of 97 bytes');
  t.throws(() => inode_encode({ ...inode_decode(Buffer.alloc(INODE_BYTES)), size: -1 }), RangeError, 'a negative size');

  // volume counters
  t.throws(() => counts_decode(Buffer.alloc(COUNTS_BYTES - 1)), RangeError, 'a counts value of 15 bytes');
  t.throws(() => counts_decode(Buffer.alloc(COUNTS_BYTES + 1)), RangeError, 'a counts value of 17 bytes');

  // dirents: names 1..255 without NUL or '/', the list within VALUE_MAX
  const d = (name: Buffer, ino = 5) => ({ name, ino, type: 8 });
  t.throws(() => dirents_encode([d(Buffer.alloc(NAME_MAX + 1, 0x61))]), RangeError, 'a 256-byte name');
  t.throws(() => dirents_encode([d(Buffer.alloc(0))]), RangeError, 'an empty name');
  t.throws(() => dirents_encode([d(Buffer.from('a/b'))]), RangeError, "a name with '/'");
  t.throws(() => dirents_encode([d(Buffer.from('a\0b'))]), RangeError, 'a name with NUL');
  t.throws(() => dirents_encode([]), RangeError, 'an empty list');
  // 2 + 6 × (6 + 255) + (6 + 226) = 1800
  const atMax = [...Array.from({ length: 6 }, (_, i) => d(Buffer.alloc(NAME_MAX, 0x61 + i))), d(Buffer.alloc(226, 0x71))];
  t.equal(dirents_encode(atMax).length, VALUE_MAX, 'a dirent list of exactly VALUE_MAX bytes');
  t.same(dirents_decode(dirents_encode(atMax)), atMax, 'and it decodes');
  t.throws(() => dirents_encode([...atMax.slice(0, 6), d(Buffer.alloc(227, 0x71))]), RangeError, 'one byte more is refused');
  const ok = dirents_encode([d(Buffer.from('abc'))]);
  t.throws(() => dirents_decode(ok.subarray(0, ok.length - 1)), RangeError, 'a truncated name');
  t.throws(() => dirents_decode(Buffer.concat([ok, Buffer.from([0])])), RangeError, 'trailing bytes');
  t.throws(() => dirents_decode(Buffer.from([0, 0])), RangeError, 'a count of 0');
  t.throws(() => dirents_decode(Buffer.from([1])), RangeError, 'shorter than its count');
  const slash = Buffer.from(ok); slash[7] = 0x2f;
  t.throws(() => dirents_decode(slash), RangeError, "a stored name with '/'");

  // xattrs
  const x = (n: number, v: number) => ({ name: Buffer.alloc(n, 0x6e), value: Buffer.alloc(v, 0x76) });
  t.throws(() => xattrs_encode([x(NAME_MAX + 1, 1)]), RangeError, 'a 256-byte xattr name');
  t.throws(() => xattrs_encode([x(0, 1)]), RangeError, 'an empty xattr name');
  t.equal(xattrs_encode([x(NAME_MAX, VALUE_MAX - 2 - 3 - NAME_MAX)]).length, VALUE_MAX, 'an xattr list of exactly VALUE_MAX bytes');
  t.throws(() => xattrs_encode([x(NAME_MAX, VALUE_MAX - 2 - 3 - NAME_MAX + 1)]), RangeError, 'one byte more is refused');
  const xb = xattrs_encode([x(4, 4)]);
  t.throws(() => xattrs_decode(xb.subarray(0, xb.length - 1)), RangeError, 'a truncated value');
  t.throws(() => xattrs_decode(Buffer.concat([xb, Buffer.from([1])])), RangeError, 'trailing bytes');
  const zeroName = Buffer.from(xb); zeroName[2] = 0;
  t.throws(() => xattrs_decode(zeroName), RangeError, 'a stored name of 0 bytes');

  // maps: 1..64 slots, strictly increasing, below 64, non-zero addresses
  t.throws(() => map_encode(map_new()), RangeError, 'a map with no slot is deleted, not stored');
  const m = map_new();
  m.addr[1] = 10; m.addr[2] = 11;
  const mb = map_encode(m);
  const mod = (fn: (b: Buffer) => void): Buffer => { const c = Buffer.from(mb); fn(c); return c; };
  t.throws(() => map_decode(mod((b) => { b[1] = 2; })), /out of order/, 'two slots with the same number');
  t.throws(() => map_decode(mod((b) => { b[1] = 3; })), /out of order/, 'slots decreasing');
  t.throws(() => map_decode(mod((b) => { b[10] = 64; })), /out of order/, 'slot 64');
  t.throws(() => map_decode(mod((b) => { b.writeUInt32LE(0, 2); })), /address 0/, 'a slot with address 0');
  t.throws(() => map_decode(mod((b) => { b[0] = 3; })), /claims 3 slots/, 'a count beyond the bytes');
  t.throws(() => map_decode(mod((b) => { b[0] = 0; })), /claims 0 slots/, 'a count of 0');
  const full = map_new();
  for (let s = 0; s < MAP_SLOTS; s++) full.addr[s] = s + 1;
  const fb = map_encode(full);
  t.throws(() => map_decode(Buffer.concat([Buffer.from([65]), fb.subarray(1), Buffer.alloc(9, 1)])), /claims 65 slots/, '65 slots');
  t.throws(() => map_decode(Buffer.alloc(0)), RangeError, 'an empty value');
});

// Checks the format relies on, beyond CRCs and magic numbers.
function throws(fn: () => unknown): boolean {
  try { fn(); return false; } catch { return true; }
}

t.test('cross-checks of the codecs', async (t) => {
  const h = { fsid: FSID, nid: nid_of(9), addr: MAIN, birth: 1 };
  t.ok(throws(() => node_encode({ level: 0, keys: [K(1, 1, 0)], vals: [Buffer.alloc(VALUE_MAX + 1)] }, h)),
    'node_encode refuses a value above VALUE_MAX, which node_decode rejects');
  const a = cp_encode(cp_placed(3));
  const b = cp_encode({ ...cp_placed(3), seq: 99 });
  t.not(cp_header_decode(a.header, 10, FSID).journalCrcs[0], cp_header_decode(b.header, 10, FSID).journalCrcs[0],
    'the header\'s journal CRC tells two journal blocks apart');
  t.equal(cp_header_decode(a.header, 10, FSID).journalCrcs[0], a.journal[0]!.readUInt32LE(BLOCK_SIZE - 4), 'the header records each journal block\'s own CRC');
  t.ok(throws(() => sb_decode(sb_encode(sb_make(), 1), 0)), 'a superblock whose copy field says 1 is noticed at block 0');
  t.ok(throws(() => sb_decode(edited(sb_encode(sb_make(), 0), (v) => v.setUint32(56, 0x80000000, true)), 0)), 'a superblock with an unknown feature bit is refused');
  const j = cp_encode(cp_placed(3)).journal[0]!;
  const newer = edited(j, (v) => v.setUint16(4, FORMAT_VERSION + 1, true));
  t.ok(throws(() => cp_journal_decode(FSID, 41, [newer.readUInt32LE(BLOCK_SIZE - 4)], [newer], [11], 3)), 'a journal block of another format version is refused');
});
