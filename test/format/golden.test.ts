// The golden image: a small filesystem made by a fixed sequence of operations, compared byte for
// byte with a committed image, so that any change in what an encoder writes (or in what the
// engine decides to write) fails here and names the blocks that changed.
//
// Then the same image is read with nothing but docs/FORMAT.md's tables (test/format/spec_doc.ts
// imports nothing from src/): superblock, newest checkpoint, journal, directory, tables, the
// B+tree, inodes, directories, file data, xattrs, redo blocks — and compared with what the
// engine's own decoders see. That shows the document alone is enough to read the format.
//
// When a format change is intended, regenerate the fixture and commit it with the change:
//   npx tsc -p tsconfig.json && COWLOG_GOLDEN_UPDATE=1 npx tap dist/test/format/golden.test.js
// It writes test/format/golden/image.bin.gz (the whole image, gzip) and blocks.txt (each
// non-zero block: address, SHA-256, what it is).

import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { BLOCK_SIZE } from '../../src/device/device.js';
import { MemoryDevice } from '../../src/device/memory.js';
import { clock_fixed } from '../../src/checkpoint/clock.js';
import { Volume } from '../../src/checkpoint/volume.js';
import {
  block_magic, CP_MAGIC, cp_header_decode, cp_journal_decode, DIR_MAGIC, dir_block_decode, inode_decode, JOURNAL_MAGIC, KEY_MAX, KEY_MIN,
  NODE_MAGIC, node_decode, REDO_MAGIC, redo_decode, sb_decode, TABLE_MAGIC, table_block_decode,
} from '../../src/format/index.js';
import type { Geometry } from '../../src/format/index.js';
import { BLOCK_KIND_NAMES } from '../../src/log/segments.js';
import { FileSystem } from '../../src/fs/fs.js';
import { fsck } from '../../src/fsck/fsck.js';
import { crc32c } from '../../src/util/crc32c.js';
import {
  block_crc_ok, crc32c_bitwise, geometry_doc, name_hash_doc, record_read, records_read, scalar_read, spec_const, spec_enum, spec_load,
  spec_magic, lz4_block_decode_doc,
} from './spec_doc.js';
import type { GeometryDoc, Value } from './spec_doc.js';

const GOLDEN_DIR = fileURLToPath(new URL('../../../test/format/golden/', import.meta.url));
const IMAGE_GZ = `${GOLDEN_DIR}image.bin.gz`;
const MANIFEST = `${GOLDEN_DIR}blocks.txt`;
const UPDATE = process.env.COWLOG_GOLDEN_UPDATE === '1';

const DEVICE_BLOCKS = 1024;
const UUID = Buffer.from('c0ffee00112233445566778899aabbcc', 'hex');
const HELLO = 'hello, cowlog\nsecond line\n';
const LINK_TARGET = 'docs/hello.txt';
const BIG_BYTES = 30 * BLOCK_SIZE + 100;

function big_data(): Buffer {
  const b = Buffer.alloc(BIG_BYTES);
  let line = 0;
  for (let p = 0; p < b.length; line++) p += b.write(`line ${String(line).padStart(5, '0')} of big.bin, block ${Math.floor(p / BLOCK_SIZE)}\n`, p);
  return b;
}

const LOG_BYTES = 19 * BLOCK_SIZE + 300;

function log_data(): Buffer {
  const b = Buffer.alloc(LOG_BYTES);
  for (let p = 0, i = 0; p < b.length; i++) p += b.write(`2024-06-01T10:00:${String(i % 60).padStart(2, '0')}Z INFO request ${i} served in ${(i * 7) % 113} ms\n`, p);
  return b;
}

/** A 4000-byte attribute value: three pieces (1536, 1536, 928 bytes). */
function big_xattr(): Buffer {
  return Buffer.from('xattr value piece. '.repeat(211)).subarray(0, 4000);
}

/** The fixed sequence of operations. Same code, same bytes. */
function golden_make(): Buffer {
  const dev = new MemoryDevice(DEVICE_BLOCKS, 'golden');
  FileSystem.mkfs(dev, { uuid: Buffer.from(UUID), clock: clock_fixed(), segBlocks: 16, fanout: 8, label: 'golden' });
  const fs = FileSystem.mount(dev, { clock: clock_fixed() });
  const docs = fs.mkdir(1, 'docs', 0o755);
  const hello = fs.create(docs.ino, 'hello.txt', 0o644);
  fs.write(hello.ino, 0, Buffer.from(HELLO.slice(0, 14))); // inline
  fs.write(hello.ino, 14, Buffer.from(HELLO.slice(14))); // inline, appended
  const big = fs.create(1, 'big.bin', 0o600);
  fs.write(big.ino, 0, big_data()); // 31 blocks: block maps, table blocks rewritten
  // compressed by its own attribute (the filesystem's default is none): two whole clusters and a
  // partial one, each stored in fewer blocks (map slots with COMPRESSED, cluster records)
  const log = fs.create(1, 'app.log', 0o644);
  fs.setxattr(log.ino, 'user.cowlog.compress', Buffer.from('lz4'));
  fs.write(log.ino, 0, log_data());
  fs.symlink(1, 'link', LINK_TARGET);
  fs.link(hello.ino, 1, 'hello-hard');
  fs.setxattr(hello.ino, 'user.color', Buffer.from('blue'));
  fs.setxattr(big.ino, 'user.note', big_xattr()); // large: XBIG and XCHUNK records
  fs.fsync(big.ino); // a redo group
  fs.rename(docs.ino, 'hello.txt', 1, 'renamed.txt');
  fs.unlink(1, 'hello-hard');
  const tmp = fs.create(1, 'tmp', 0o644);
  fs.open(tmp.ino);
  fs.unlink(1, 'tmp'); // open and unlinked: an ORPHAN record
  fs.fsync(hello.ino); // a second redo group, carrying the orphan
  fs.release(tmp.ino);
  // an A/B upgrade begun: a clone of the main tree, on trial for two mounts (boot-state, snap-entry)
  const r = fs.snapshot([{ op: 'clone', from: '@main', name: 'B' }, { op: 'set-default', name: 'B', trial: 2 }]);
  if (!r.every((x) => x.ok)) throw new Error('golden: clone and set-default failed');
  fs.unmount();
  return dev.image();
}

// ---- describing blocks with the codecs (for failure messages and the manifest) ------------------

interface BlockInfo {
  what: string;
  /** decoded fields, flattened to strings; null for blocks without a header (data) */
  fields: Record<string, string> | null;
}

function short(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v, (_k, x) => (x && x.type === 'Buffer' && Array.isArray(x.data) ? Buffer.from(x.data).toString('hex') : x));
  return s.length > 72 ? `${s.slice(0, 69)}...` : s;
}

function flat(o: Record<string, unknown>, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) out[prefix + k] = short(v);
  return out;
}

interface ImageCtx {
  img: Buffer;
  g: Geometry | null;
  fsid: number;
  vol: Volume | null;
}

function image_ctx(img: Buffer): ImageCtx {
  let g: Geometry | null = null;
  let fsid = 0;
  let vol: Volume | null = null;
  try {
    const sb = sb_decode(img.subarray(0, BLOCK_SIZE), 0);
    g = sb.geometry;
    fsid = sb.uuid.readUInt32LE(0);
    vol = Volume.open(MemoryDevice.from(img), { readOnly: true });
  } catch {
    // a broken image is described block by block as far as the codecs go
  }
  return { img, g, fsid, vol };
}

function block_info(ctx: ImageCtx, a: number): BlockInfo {
  const info = block_info_raw(ctx, a);
  const m = block_magic(ctx.img.subarray(a * BLOCK_SIZE, (a + 1) * BLOCK_SIZE));
  const counted = m === NODE_MAGIC || m === TABLE_MAGIC || m === DIR_MAGIC;
  if (counted && ctx.vol && ctx.g && a >= ctx.g.mainStart && ctx.vol.log.refs(a) === 0) info.what += ' (dead: superseded)';
  return info;
}

function block_info_raw(ctx: ImageCtx, a: number): BlockInfo {
  const b = ctx.img.subarray(a * BLOCK_SIZE, (a + 1) * BLOCK_SIZE);
  if (b.every((x) => x === 0)) return { what: 'zero', fields: {} };
  try {
    if (a < 2) {
      const sb = sb_decode(b, a);
      const { tables: _t, ...geo } = sb.geometry;
      return { what: `superblock copy ${a}`, fields: { ...flat(geo, 'geometry.'), uuid: sb.uuid.toString('hex'), created: String(sb.createdMs), label: sb.label, features: String(sb.features), copy: String(b.readUInt16LE(6)) } };
    }
    const m = block_magic(b);
    if (m === CP_MAGIC) {
      const h = cp_header_decode(b, a, ctx.fsid);
      const { journal: _j, ...rest } = h;
      return { what: `checkpoint seq ${h.seq} in slot ${h.slot}${h.flags & 1 ? ' (clean)' : ''}, ${h.journalEntries} journal entries`, fields: flat(rest) };
    }
    if (m === JOURNAL_MAGIC) {
      const seq = b.readUInt32LE(16);
      const count = b.readUInt32LE(24);
      const entries = cp_journal_decode(ctx.fsid, seq, [b.readUInt32LE(BLOCK_SIZE - 4)], [b], [a], count);
      const fields: Record<string, string> = { seq: String(seq), index: String(b.readUInt32LE(12)) };
      entries.forEach((e, i) => { fields[`entry ${i}`] = `table ${e.table} [${e.index}] = ${Buffer.from(e.data).toString('hex')}`; });
      return { what: `checkpoint journal block ${b.readUInt32LE(12)} of checkpoint ${seq}, ${count} entries`, fields };
    }
    if (m === TABLE_MAGIC && ctx.g) {
      const tg = ctx.g.tables[b.readUInt16LE(6)]!;
      const index = b.readUInt32LE(20);
      const page = table_block_decode(tg, b, a, index, ctx.fsid);
      const seq = b.readUInt32LE(16);
      const fields: Record<string, string> = { seq: String(seq) };
      const first = index * tg.perBlock;
      for (let i = first; i < Math.min(tg.entries, first + tg.perBlock); i++) {
        const e = page.subarray((i - first) * tg.entryBytes, (i - first + 1) * tg.entryBytes);
        if (e.some((x) => x !== 0)) fields[`${tg.name}[${i}]`] = Buffer.from(e).toString('hex');
      }
      return { what: `${tg.name} table block ${index} (checkpoint ${seq})`, fields };
    }
    if (m === DIR_MAGIC && ctx.g) {
      const index = b.readUInt32LE(20);
      const into = new Uint32Array(ctx.g.tables[5]!.blocks);
      dir_block_decode(b, a, index, into, ctx.fsid);
      const fields: Record<string, string> = {};
      into.forEach((x, i) => { if (x) fields[`dir[${i}]`] = String(x); });
      return { what: `table directory block ${index}`, fields };
    }
    if (m === NODE_MAGIC) {
      const { header, body } = node_decode(b, a, ctx.fsid);
      const fields: Record<string, string> = { nid: String(header.nid), birth: String(header.birth), level: String(body.level) };
      body.keys.forEach((k, i) => {
        fields[`(${k.ino},${k.kind},${k.off})`] = 'vals' in body ? Buffer.from(body.vals[i]!).toString('hex') : `child ${body.kids[i]}`;
      });
      return { what: `B+tree ${body.level === 0 ? 'leaf' : `inner node (level ${body.level})`}: node ${header.nid}, ${body.keys.length} entries, birth ${header.birth}`, fields };
    }
    if (m === REDO_MAGIC) {
      const rb = redo_decode(b, a, ctx.fsid);
      const fields: Record<string, string> = { epoch: String(rb.epoch), index: String(rb.index), next: String(rb.next), flags: String(rb.flags) };
      rb.records.forEach((r, i) => { fields[`record ${i}`] = `${r.op === 1 ? 'PUT' : 'DEL'} (${r.key.ino},${r.key.kind},${r.key.off}) ${r.value.toString('hex')}`; });
      return { what: `redo block ${rb.index} of epoch ${rb.epoch}, ${rb.records.length} records${rb.flags & 1 ? ', group end' : ''}`, fields };
    }
  } catch (e) {
    return { what: `undecodable: ${(e as Error).message}`, fields: null };
  }
  if (ctx.vol && ctx.g && a >= ctx.g.mainStart) {
    const refs = ctx.vol.log.refs(a);
    const sm = ctx.vol.log.summary(a);
    if (refs > 0 && sm.kind === 1) return { what: `data block of inode ${sm.owner}, file block ${sm.offset}`, fields: null };
    return { what: `dead block (last summary: ${BLOCK_KIND_NAMES[sm.kind] ?? sm.kind} of ${sm.owner})`, fields: null };
  }
  return { what: 'block without a header', fields: null };
}

function manifest_of(img: Buffer): string {
  const ctx = image_ctx(img);
  const lines = [
    `# cowlog golden image: ${img.length / BLOCK_SIZE} blocks of ${BLOCK_SIZE} bytes; blocks not listed are zero.`,
    '# Made by test/format/golden.test.ts; regenerate with COWLOG_GOLDEN_UPDATE=1 (see docs/FORMAT.md).',
    '# address  sha256  what',
  ];
  for (let a = 0; a < img.length / BLOCK_SIZE; a++) {
    const b = img.subarray(a * BLOCK_SIZE, (a + 1) * BLOCK_SIZE);
    if (b.every((x) => x === 0)) continue;
    lines.push(`${a}  ${createHash('sha256').update(b).digest('hex')}  ${block_info(ctx, a).what}`);
  }
  return lines.join('\n') + '\n';
}

/** What changed between two images, block by block, decoded. */
function image_diff(want: Buffer, got: Buffer, limit = 12): string[] {
  if (want.equals(got)) return [];
  const cw = image_ctx(want);
  const cg = image_ctx(got);
  const out: string[] = [];
  const blocks = Math.max(want.length, got.length) / BLOCK_SIZE;
  let n = 0;
  for (let a = 0; a < blocks; a++) {
    const bw = want.subarray(a * BLOCK_SIZE, (a + 1) * BLOCK_SIZE);
    const bg = got.subarray(a * BLOCK_SIZE, (a + 1) * BLOCK_SIZE);
    if (bw.equals(bg)) continue;
    if (++n > limit) continue;
    const iw = block_info(cw, a);
    const ig = block_info(cg, a);
    let first = 0;
    while (first < BLOCK_SIZE && bw[first] === bg[first]) first++;
    const lines = [`block ${a}: expected ${iw.what}; got ${ig.what} (first differing byte at offset ${first})`];
    if (iw.fields && ig.fields) {
      const keys = [...new Set([...Object.keys(iw.fields), ...Object.keys(ig.fields)])];
      const changed = keys.filter((k) => iw.fields![k] !== ig.fields![k]);
      for (const k of changed.slice(0, 8)) lines.push(`    ${k}: ${iw.fields[k] ?? '(absent)'} -> ${ig.fields[k] ?? '(absent)'}`);
      if (changed.length > 8) lines.push(`    ... ${changed.length - 8} more fields`);
    }
    out.push(lines.join('\n'));
  }
  if (n > limit) out.push(`... ${n - limit} more blocks differ`);
  return out;
}

// ---- reading the image with FORMAT.md only ------------------------------------------------------

const spec = spec_load();

type Rec = { [k: string]: Value };

class DocImage {
  readonly img: Buffer;
  readonly bs: number;
  readonly sb: Rec;
  readonly fsid: number;
  readonly geo: GeometryDoc;
  readonly cp: Rec;
  readonly cpAddr: number;
  readonly tables: Buffer[];
  readonly journal: Rec[] = [];

  constructor(img: Buffer) {
    this.img = img;
    this.bs = spec_const(spec, 'block_size');
    const b0 = this.block(0);
    this.check(scalar_read(b0, 0, 'u32') === spec_magic(spec, 'superblock') && block_crc_ok(spec, b0), 'superblock magic and CRC');
    this.sb = record_read(spec, b0, 0, 'superblock').values;
    this.check(this.sb['version'] === spec_const(spec, 'format_version'), 'superblock version');
    this.fsid = (this.sb['uuid'] as Buffer).readUInt32LE(0);
    this.geo = geometry_doc(spec, { block_count: this.num(this.sb, 'block_count'), seg_blocks: this.num(this.sb, 'seg_blocks'), cp_slots: this.num(this.sb, 'cp_slots'), max_snapshots: this.num(this.sb, 'max_snapshots') });
    this.check(this.geo.main_start === this.sb['main_start'] && this.geo.seg_count === this.sb['seg_count'], 'stored geometry equals the derived one');

    // the newest valid checkpoint
    let best: { h: Rec; a: number } | null = null;
    for (let s = 0; s < this.num(this.sb, 'cp_slots'); s++) {
      const a = spec_const(spec, 'cp_start') + spec_const(spec, 'cp_slot_blocks') * s;
      const b = this.block(a);
      if (scalar_read(b, 0, 'u32') !== spec_magic(spec, 'checkpoint') || !block_crc_ok(spec, b)) continue;
      const h = record_read(spec, b, 0, 'checkpoint').values;
      if (h['version'] !== spec_const(spec, 'format_version') || h['fsid'] !== this.fsid || h['slot'] !== s) continue;
      if (!best || this.num(h, 'seq') > this.num(best.h, 'seq')) best = { h, a };
    }
    this.check(best !== null, 'a valid checkpoint');
    this.cp = best!.h;
    this.cpAddr = best!.a;

    // its journal
    const crcs = this.cp['journal_crc'] as number[];
    for (let i = 0; i < this.num(this.cp, 'journal_blocks'); i++) {
      const jb = this.block((this.cp['journal_addr'] as number[])[i]!);
      this.check(crc32c_bitwise(jb.subarray(0, jb.length - 4)) === crcs[i], `journal block ${i} matches the CRC its header recorded`);
      this.check(block_crc_ok(spec, jb) && scalar_read(jb, 0, 'u32') === spec_magic(spec, 'journal-block'), `journal block ${i} magic and CRC`);
      const j = record_read(spec, jb, 0, 'journal-block').values;
      this.check(j['fsid'] === this.fsid && j['index'] === i && j['seq'] === this.cp['seq'], `journal block ${i} belongs to the checkpoint`);
      const { items } = records_read(spec, jb, spec_const(spec, 'journal_header_bytes'), 'journal-entry', this.num(j, 'count'));
      for (const it of items) this.journal.push(it.values);
    }
    this.check(this.journal.length === this.cp['journal_entries'], 'journal entry count');

    // the top directory, the DIR table and the journal's DIR entries (they say where the other
    // tables' blocks are), then the other tables and the rest of the journal over them
    const dirT = this.geo.tables[5]!;
    const top = new Array<number>(dirT.blocks).fill(0);
    (this.cp['dir'] as number[]).forEach((da, di) => {
      if (da === 0) return;
      const r = this.log_block(da, 'directory-block');
      this.check(r['index'] === di, `directory block ${di} index`);
      (r['addrs'] as number[]).forEach((x, k) => { top[di * spec_const(spec, 'dir_per_block') + k] = x; });
    });
    const table_read = (ti: number, addr_of: (bi: number) => number): Buffer => {
      const tg = this.geo.tables[ti]!;
      const bytes = Buffer.alloc(tg.entries * tg.entry_bytes);
      for (let bi = 0; bi < tg.blocks; bi++) {
        const ta = addr_of(bi);
        if (ta === 0) continue;
        const r = this.log_block(ta, 'table-block', { per_block: tg.per_block, entry_bytes: tg.entry_bytes });
        this.check(r['table'] === ti && r['index'] === bi, `table block ${ti}/${bi} names its place`);
        const start = bi * tg.per_block * tg.entry_bytes;
        (r['entries'] as Buffer).copy(bytes, start, 0, Math.min(bytes.length - start, tg.per_block * tg.entry_bytes));
      }
      return bytes;
    };
    const journal_apply = (e: Rec, into: Buffer): void => {
      const tg = this.geo.tables[this.num(e, 'table')]!;
      this.check(this.num(e, 'index') < tg.entries, 'journal entry inside its table');
      (e['entry'] as Buffer).copy(into, this.num(e, 'index') * tg.entry_bytes);
    };
    const dir = table_read(5, (bi) => top[bi]!);
    for (const e of this.journal) if (this.num(e, 'table') === 5) journal_apply(e, dir);
    this.tables = this.geo.tables.map((tg, ti) => (ti === 5 ? dir : table_read(ti, (bi) => dir.readUInt32LE((tg.dir_base + bi) * 4))));
    for (const e of this.journal) if (this.num(e, 'table') !== 5) journal_apply(e, this.tables[this.num(e, 'table')]!);
  }

  block(a: number): Buffer {
    return this.img.subarray(a * this.bs, (a + 1) * this.bs);
  }

  num(r: Rec, k: string): number {
    const v = r[k];
    if (typeof v !== 'number') throw new Error(`field ${k} is not a number`);
    return v;
  }

  check(cond: boolean, what: string): void {
    if (!cond) throw new Error(`FORMAT.md reader: ${what} failed`);
  }

  /** A block written into the log: magic, CRC, version, fsid and own address checked. */
  log_block(a: number, record: string, env = {}): Rec {
    this.check(a >= this.geo.main_start && a < this.geo.main_start + this.geo.seg_count * this.num(this.sb, 'seg_blocks'), `${record} at ${a} is inside the main area`);
    const b = this.block(a);
    this.check(scalar_read(b, 0, 'u32') === spec_magic(spec, record) && block_crc_ok(spec, b), `${record} at ${a}: magic and CRC`);
    const r = record_read(spec, b, 0, record, env).values;
    this.check(r['version'] === spec_const(spec, 'format_version') && r['fsid'] === this.fsid && r['addr'] === a, `${record} at ${a}: version, fsid, own address`);
    return r;
  }

  entry(table: number, index: number, record: string): Rec {
    return record_read(spec, this.tables[table]!, index * this.geo.tables[table]!.entry_bytes, record).values;
  }

  node(nid: number): { level: number; items: Rec[]; addr: number } {
    const ne = this.entry(spec_enum(spec, 'table-id', 'NAT'), nid, 'nat-entry');
    this.check(this.num(ne, 'refs') > 0, `node ${nid} is allocated`);
    const addr = this.num(ne, 'addr');
    const r = this.log_block(addr, 'node-block');
    this.check(r['nid'] === nid, `node block at ${addr} is node ${nid}`);
    const level = this.num(r, 'level');
    const { items } = records_read(spec, this.block(addr), spec_const(spec, 'node_header_bytes'), level === 0 ? 'leaf-record' : 'inner-entry', this.num(r, 'count'));
    return { level, items: items.map((i) => i.values), addr };
  }

  /** Every record of the tree under `nid`, in key order, and the nodes visited. */
  walk(nid: number, out: { key: Rec; value: Buffer }[], nodes: { nid: number; addr: number; level: number }[]): void {
    const n = this.node(nid);
    nodes.push({ nid, addr: n.addr, level: n.level });
    for (const it of n.items) {
      if (n.level === 0) out.push({ key: it['key'] as Rec, value: it['value'] as Buffer });
      else this.walk(this.num(it, 'child'), out, nodes);
    }
  }
}

function key_text(k: Rec): string {
  return `(${k['ino']},${k['kind']},${k['off']})`;
}

// ---- tests --------------------------------------------------------------------------------------

t.test('the golden image', async (t) => {
  const img = golden_make();
  t.equal(img.length, DEVICE_BLOCKS * BLOCK_SIZE, 'image size');
  const again = golden_make();
  t.ok(img.equals(again), 'the same operations give the same bytes');
  const rep = fsck(MemoryDevice.from(img), { readOnly: true, data: true });
  t.same(rep.errors, [], 'fsck finds no error');
  t.same(rep.warnings, [], 'fsck finds nothing to warn about');

  if (UPDATE) {
    mkdirSync(GOLDEN_DIR, { recursive: true });
    writeFileSync(IMAGE_GZ, gzipSync(img, { level: 9 }));
    writeFileSync(MANIFEST, manifest_of(img));
    t.comment(`golden fixture written to ${GOLDEN_DIR}`);
  }
  t.ok(existsSync(IMAGE_GZ), `the fixture exists (make it with COWLOG_GOLDEN_UPDATE=1)`);
  const want = gunzipSync(readFileSync(IMAGE_GZ));
  const diff = image_diff(want, img);
  t.same(diff, [], diff.length
    ? `the image differs from test/format/golden/image.bin.gz in the blocks listed (an intended format change: regenerate with COWLOG_GOLDEN_UPDATE=1 and update docs/FORMAT.md)`
    : 'the image equals test/format/golden/image.bin.gz');
  t.equal(readFileSync(MANIFEST, 'utf8'), manifest_of(want), 'blocks.txt describes the committed image');
  t.ok(readFileSync(IMAGE_GZ).length < 100 * 1024, 'the fixture stays small');
});

t.test('FORMAT.md alone reads the golden image', async (t) => {
  const img = gunzipSync(readFileSync(IMAGE_GZ));
  const d = new DocImage(img);
  const kind = (name: string): number => spec_enum(spec, 'record-kind', name);

  // superblock and checkpoint, compared with the codecs
  const sb = sb_decode(img.subarray(0, BLOCK_SIZE), 0);
  t.same(
    [d.sb['block_count'], d.sb['seg_blocks'], d.sb['cp_slots'], d.sb['fanout'], d.sb['inline_max'], d.sb['label'], (d.sb['uuid'] as Buffer).toString('hex')],
    [sb.geometry.blockCount, sb.geometry.segBlocks, sb.geometry.cpSlots, sb.geometry.fanout, sb.geometry.inlineMax, sb.label, sb.uuid.toString('hex')],
    'superblock',
  );
  const vol = Volume.open(MemoryDevice.from(img), { readOnly: true });
  t.equal(d.cp['seq'], vol.seq, 'the newest checkpoint is the one the engine mounts');
  t.equal(d.cp['root_nid'], vol.root, 'tree root');
  t.equal(d.num(d.cp, 'flags') & spec_enum(spec, 'checkpoint-flags', 'CLEAN'), 1, 'unmount left a clean checkpoint');
  t.ok(d.journal.length > 0, `the checkpoint carries ${d.journal.length} journal entries`);
  t.same(d.cp['boot'], { default_tree: 0, trial_tree: 1, flags: spec_enum(spec, 'boot-flags', 'TRIAL'), trial_tries: 2, trial_left: 2 },
    'boot state: the main tree is the default, SNAP entry 0 on trial for two mounts');
  t.same(vol.boot, { defaultTree: 0, trialTree: 1, flags: 1, trialTries: 2, trialLeft: 2 }, 'as the engine reads it');
  const snap0 = d.entry(4, 0, 'snap-entry');
  t.same([snap0['flags'], (snap0['name'] as Buffer).subarray(0, d.num(snap0, 'name_len')).toString(), snap0['root_nid']], [3, 'B', d.cp['root_nid']],
    'SNAP entry 0: the clone B (USED | WRITABLE) of the main tree, sharing its root');
  for (let ti = 0; ti < d.tables.length; ti++) {
    const mt = vol.tables[ti]!;
    const engine = Buffer.alloc(mt.geom.entries * mt.geom.entryBytes);
    for (let bi = 0; bi < mt.geom.blocks; bi++) Buffer.from(mt.block_bytes(bi)).copy(engine, bi * mt.pageBytes, 0, Math.min(mt.pageBytes, engine.length - bi * mt.pageBytes));
    t.ok(d.tables[ti]!.equals(engine), `table ${mt.geom.name}: the document's reading equals the engine's`);
  }

  // the tree: every record, in order
  const recs: { key: Rec; value: Buffer }[] = [];
  const nodes: { nid: number; addr: number; level: number }[] = [];
  d.walk(d.num(d.cp, 'root_nid'), recs, nodes);
  t.ok(nodes.some((n) => n.level > 0), `the tree has inner nodes (${nodes.length} nodes)`);
  const engine: string[] = [];
  vol.scan(KEY_MIN, KEY_MAX, (k, v) => { engine.push(`(${k.ino},${k.kind},${k.off}) ${v.toString('hex')}`); });
  t.same(recs.map((r) => `${key_text(r.key)} ${r.value.toString('hex')}`), engine, `the ${recs.length} records read through FORMAT.md are the engine's`);
  for (const r of recs) {
    if (r.key['kind'] !== kind('inode')) continue;
    const doc = record_read(spec, r.value, 0, 'inode').values;
    t.same(doc, inode_decode(r.value), `inode ${r.key['ino']} read through the table equals inode_decode`);
  }

  // the SUT, RCT and SST invariants, through the document's entries
  const segBlocks = d.num(d.sb, 'seg_blocks');
  for (let s = 0; s < d.geo.seg_count; s++) {
    let live = 0;
    for (let a = d.geo.main_start + s * segBlocks; a < d.geo.main_start + (s + 1) * segBlocks; a++) if (d.num(d.entry(1, a, 'rct-entry'), 'refs') > 0) live++;
    if (d.entry(2, s, 'sut-entry')['valid'] !== live) t.fail(`segment ${s}: SUT valid ${d.entry(2, s, 'sut-entry')['valid']}, RCT counts ${live}`);
  }
  for (const n of nodes) {
    const sst = d.entry(3, n.addr, 'sst-entry');
    t.same([d.entry(1, n.addr, 'rct-entry')['refs'], sst['kind'], sst['owner'], sst['sub']], [1, spec_enum(spec, 'block-kind', 'node'), n.nid, n.level], `node ${n.nid}: RCT and SST entries`);
  }

  // files, through directory entries, inodes, inline data, maps and xattrs
  const find = (ino: number, k: number, off: number): Buffer | undefined => recs.find((r) => r.key['ino'] === ino && r.key['kind'] === k && r.key['off'] === off)?.value;
  const lookup = (dir: number, name: string): number => {
    const v = find(dir, kind('dirent'), name_hash_doc(spec, Buffer.from(name)));
    if (!v) return 0;
    const list = record_read(spec, v, 0, 'dirent-list', { value_len: v.length }).values;
    const { items } = records_read(spec, v, 2, 'dirent', d.num(list, 'count'));
    const hit = items.find((i) => (i.values['name'] as Buffer).toString() === name);
    return hit ? d.num(hit.values, 'ino') : 0;
  };
  const inode = (ino: number): Rec => record_read(spec, find(ino, kind('inode'), 0)!, 0, 'inode').values;
  const contents = (ino: number): Buffer => {
    const ir = inode(ino);
    if (d.num(ir, 'flags') & spec_enum(spec, 'inode-flags', 'INLINE')) return find(ino, kind('inline'), 0) ?? Buffer.alloc(0);
    const out = Buffer.alloc(d.num(ir, 'size'));
    const cb = spec_const(spec, 'cluster_blocks');
    for (const r of recs) {
      if (r.key['ino'] !== ino || r.key['kind'] !== kind('map')) continue;
      const m = record_read(spec, r.value, 0, 'map', { value_len: r.value.length }).values;
      // stored blocks of compressed clusters, by cluster
      const clusters = new Map<number, Buffer[]>();
      for (const s of m['slots'] as Rec[]) {
        const slot = d.num(s, 'slot') & 63;
        const blk = d.block(d.num(s, 'addr'));
        t.equal(crc32c_bitwise(blk), s['crc'], `inode ${ino} block ${d.num(r.key, 'off') * 64 + slot}: CRC32C as its map slot says`);
        const at = (d.num(r.key, 'off') * spec_const(spec, 'map_slots') + slot) * d.bs;
        if (d.num(s, 'slot') & 0x80) {
          const c = slot - (slot % cb);
          clusters.set(c, [...(clusters.get(c) ?? []), blk]);
        } else blk.copy(out, at);
      }
      for (const [c, blocks] of clusters) {
        const stored = Buffer.concat(blocks);
        const cl = record_read(spec, stored, 0, 'cluster', { stored_blocks: blocks.length }).values;
        const raw = lz4_block_decode_doc(cl['lz4'] as Buffer, d.num(cl, 'raw_len'));
        t.ok((cl['padding'] as Buffer).every((x) => x === 0), `inode ${ino} cluster at slot ${c}: ${blocks.length} stored blocks for ${raw.length / d.bs}, zero padding`);
        raw.copy(out, (d.num(r.key, 'off') * spec_const(spec, 'map_slots') + c) * d.bs, 0, Math.min(raw.length, out.length - (d.num(r.key, 'off') * spec_const(spec, 'map_slots') + c) * d.bs));
      }
    }
    return out;
  };
  const counts = find(0, kind('counts'), 0);
  t.ok(counts, 'the COUNTS record');
  if (counts) {
    const c = record_read(spec, counts, 0, 'counts', { value_len: counts.length }).values;
    t.same([c['next_ino'], c['inodes']], [vol.nextIno, vol.inodes], 'volume counters');
  }
  const root = inode(1);
  t.equal(d.num(root, 'mode') & 0o170000, 0o040000, 'inode 1 is a directory');
  t.equal(root['parent'], 1, "the root's parent is itself");
  t.equal(lookup(1, 'hello-hard'), 0, 'the unlinked name is gone');
  t.equal(lookup(1, 'tmp'), 0, 'the orphan has no name');
  const docs = lookup(1, 'docs');
  t.equal(lookup(docs, 'hello.txt'), 0, 'hello.txt was renamed away');
  const renamed = lookup(1, 'renamed.txt');
  t.ok(renamed > 0, 'renamed.txt is in the root');
  t.equal(contents(renamed).toString(), HELLO, 'inline file contents');
  t.equal(inode(renamed)['nlink'], 1, 'one name left after the unlink');
  const xv = find(renamed, kind('xattr'), name_hash_doc(spec, Buffer.from('user.color')))!;
  const xl = record_read(spec, xv, 0, 'xattr-list', { value_len: xv.length }).values;
  const xs = records_read(spec, xv, 2, 'xattr', d.num(xl, 'count')).items.map((i) => [(i.values['name'] as Buffer).toString(), (i.values['value'] as Buffer).toString()]);
  t.same(xs, [['user.color', 'blue']], 'xattr');
  {
    // a large attribute: its xbig entry, then its pieces as xchunk records
    const bigIno = lookup(1, 'big.bin');
    const bv = find(bigIno, kind('xbig'), name_hash_doc(spec, Buffer.from('user.note')))!;
    const bl = record_read(spec, bv, 0, 'xbig-list', { value_len: bv.length }).values;
    const [e] = records_read(spec, bv, 2, 'xbig', d.num(bl, 'count')).items.map((i) => i.values);
    t.equal((e!['name'] as Buffer).toString(), 'user.note', 'xbig: the name');
    const len = d.num(e!, 'len');
    const chunk = spec_const(spec, 'xattr_chunk_bytes');
    const pieces: Buffer[] = [];
    for (let i = 0; i * chunk < len; i++) {
      const cv = find(bigIno, kind('xchunk'), d.num(e!, 'id') * 65536 + i)!;
      pieces.push(record_read(spec, cv, 0, 'xchunk', { value_len: cv.length }).values['bytes'] as Buffer);
    }
    const value = Buffer.concat(pieces);
    t.same([value.length, pieces.length], [4000, 3], 'xchunk: three pieces');
    t.ok(value.equals(big_xattr()), 'the large value, read through the document');
    t.equal(crc32c_bitwise(value), d.num(e!, 'crc'), 'its CRC32C');
  }
  t.equal(contents(lookup(1, 'link')).toString(), LINK_TARGET, 'symlink target');
  t.equal(inode(lookup(1, 'link'))['mode'], 0o120777, 'symlink mode');
  const big = lookup(1, 'big.bin');
  t.ok(contents(big).equals(big_data()), 'the 31-block file, through map records and data CRCs');
  t.equal(inode(big)['blocks'], 31, 'big.bin maps 31 blocks');
  const appLog = lookup(1, 'app.log');
  t.ok(contents(appLog).equals(log_data()), 'the compressed file, through map records, cluster records and an LZ4 decoder written from the document');
  t.ok(d.num(inode(appLog), 'flags') & spec_enum(spec, 'inode-flags', 'COMPRESS'), 'app.log carries the COMPRESS flag');
  t.ok(d.num(inode(appLog), 'blocks') < 10, `app.log: 20 blocks stored in ${d.num(inode(appLog), 'blocks')}`);

  // redo blocks left in the log: the fsync groups, with the orphan record
  const redo: Rec[] = [];
  for (let a = d.geo.main_start; a < d.geo.main_start + d.geo.seg_count * segBlocks; a++) {
    const b = d.block(a);
    if (scalar_read(b, 0, 'u32') !== spec_magic(spec, 'redo-block') || !block_crc_ok(spec, b)) continue;
    const r = d.log_block(a, 'redo-block');
    const { items } = records_read(spec, b, spec_const(spec, 'redo_header_bytes'), 'redo-record', d.num(r, 'count'));
    redo.push(...items.map((i) => ({ ...i.values, epoch: r['epoch']!, flags: r['flags']! })));
    const rb = redo_decode(b, a, d.fsid);
    t.same(items.map((i) => [key_text(i.values['key'] as Rec), (i.values['value'] as Buffer).toString('hex')]), rb.records.map((x) => [`(${x.key.ino},${x.key.kind},${x.key.off})`, x.value.toString('hex')]), `redo block at ${a}`);
  }
  const orphan = redo.find((r) => (r['key'] as Rec)['kind'] === kind('orphan'));
  t.ok(orphan, 'a redo record lists the orphan');
  t.equal(orphan?.['op'], spec_enum(spec, 'redo-op', 'PUT'), 'put');
  t.equal(orphan?.['value_len'], 0, 'an orphan record has an empty value');
  t.ok(redo.every((r) => r['epoch'] !== d.cp['seq']), 'no redo block belongs to the clean checkpoint\'s epoch');
});
