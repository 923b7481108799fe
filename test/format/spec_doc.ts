// Reads docs/FORMAT.md as data: the record tables (`| offset | size | type | field | meaning |`
// under ``Record `name` `` headings), the constants, the magic numbers and the enumerations,
// and decodes bytes with nothing but those tables.
//
// The point is independence: nothing here imports src/, so a test that decodes an image with
// these functions shows that the document alone is enough to read the format. CRC32C is
// implemented here bit by bit from the document's definition for the same reason.
//
// Invariants: every field resolves to a whole number of bytes inside the buffer; expressions
// only name constants, caller parameters and fields read earlier in the same record.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const FORMAT_MD = fileURLToPath(new URL('../../../docs/FORMAT.md', import.meta.url));

export interface SpecField {
  offset: string;
  size: string;
  type: string;
  name: string;
  meaning: string;
  /** 1-based line in FORMAT.md, for messages */
  line: number;
}

export interface SpecRecord {
  name: string;
  fields: SpecField[];
  line: number;
}

export interface SpecEnumValue {
  value: number;
  name: string;
  meaning: string;
}

export interface SpecMagic {
  record: string;
  ascii: string;
  value: number;
}

export interface Spec {
  text: string;
  records: Map<string, SpecRecord>;
  constants: Map<string, number | number[]>;
  magics: SpecMagic[];
  enums: Map<string, SpecEnumValue[]>;
}

export const RECORD_HEADER = '| offset | size | type | field | meaning |';
const CONST_HEADER = '| constant | value | meaning |';
const MAGIC_HEADER = '| record | ascii | u32 |';
const ENUM_HEADER = '| value | name | meaning |';

function cells(line: string): string[] {
  const inner = line.trim().replace(/^\|/, '').replace(/\|$/, '');
  return inner.split('|').map((c) => c.trim().replace(/^`(.*)`$/, '$1'));
}

function num_parse(s: string, where: string): number {
  const n = /^0x[0-9a-f]+$/i.test(s) ? parseInt(s, 16) : /^-?[0-9]+$/.test(s) ? parseInt(s, 10) : NaN;
  if (!Number.isFinite(n)) throw new Error(`FORMAT.md ${where}: '${s}' is not a number`);
  return n;
}

/** The table rows (cells) that follow line index `from`, stopping at the next heading. */
function table_after(lines: string[], from: number, header: string): { rows: { c: string[]; line: number }[]; at: number } | null {
  for (let i = from + 1; i < lines.length; i++) {
    const l = lines[i]!;
    if (/^#{1,6} /.test(l)) return null;
    if (l.trim() === header) {
      const rows: { c: string[]; line: number }[] = [];
      let j = i + 2; // skip the |---| row
      for (; j < lines.length && lines[j]!.trim().startsWith('|'); j++) rows.push({ c: cells(lines[j]!), line: j + 1 });
      return { rows, at: i + 1 };
    }
  }
  return null;
}

export function spec_parse(text: string): Spec {
  const lines = text.split('\n');
  const records = new Map<string, SpecRecord>();
  const enums = new Map<string, SpecEnumValue[]>();
  const constants = new Map<string, number | number[]>();
  const magics: SpecMagic[] = [];
  lines.forEach((l, i) => {
    let m = /^#{2,4} Record `([a-z0-9-]+)`\s*$/.exec(l);
    if (m) {
      const name = m[1]!;
      if (records.has(name)) throw new Error(`FORMAT.md line ${i + 1}: record ${name} documented twice`);
      const tab = table_after(lines, i, RECORD_HEADER);
      if (!tab) throw new Error(`FORMAT.md line ${i + 1}: record ${name} has no field table`);
      const fields = tab.rows.map(({ c, line }) => {
        if (c.length !== 5) throw new Error(`FORMAT.md line ${line}: ${c.length} cells, want 5`);
        return { offset: c[0]!, size: c[1]!, type: c[2]!, name: c[3]!, meaning: c[4]!, line };
      });
      records.set(name, { name, fields, line: i + 1 });
      return;
    }
    m = /^#{2,4} Enum `([a-z0-9-]+)`\s*$/.exec(l);
    if (m) {
      const tab = table_after(lines, i, ENUM_HEADER);
      if (!tab) throw new Error(`FORMAT.md line ${i + 1}: enum ${m[1]} has no table`);
      enums.set(m[1]!, tab.rows.map(({ c, line }) => ({ value: num_parse(c[0]!, `line ${line}`), name: c[1]!, meaning: c[2]! })));
      return;
    }
    if (l.trim() === CONST_HEADER) {
      const tab = table_after(lines, i - 1, CONST_HEADER)!;
      for (const { c, line } of tab.rows) {
        const parts = c[1]!.split(',').map((s) => num_parse(s.trim(), `line ${line}`));
        constants.set(c[0]!, parts.length === 1 ? parts[0]! : parts);
      }
      return;
    }
    if (l.trim() === MAGIC_HEADER) {
      const tab = table_after(lines, i - 1, MAGIC_HEADER)!;
      for (const { c, line } of tab.rows) magics.push({ record: c[0]!, ascii: c[1]!, value: num_parse(c[2]!, `line ${line}`) });
    }
  });
  return { text, records, constants, magics, enums };
}

let cached: Spec | null = null;

export function spec_load(): Spec {
  if (!cached) cached = spec_parse(readFileSync(FORMAT_MD, 'utf8'));
  return cached;
}

export function spec_record(spec: Spec, name: string): SpecRecord {
  const r = spec.records.get(name);
  if (!r) throw new Error(`FORMAT.md documents no record '${name}'`);
  return r;
}

export function spec_const(spec: Spec, name: string): number {
  const v = spec.constants.get(name);
  if (typeof v !== 'number') throw new Error(`FORMAT.md has no numeric constant '${name}'`);
  return v;
}

export function spec_magic(spec: Spec, record: string): number {
  const m = spec.magics.find((x) => x.record === record);
  if (!m) throw new Error(`FORMAT.md gives no magic for '${record}'`);
  return m.value;
}

export function spec_enum(spec: Spec, name: string, member: string): number {
  const e = spec.enums.get(name)?.find((x) => x.name === member);
  if (!e) throw new Error(`FORMAT.md enum '${name}' has no '${member}'`);
  return e.value;
}

// ---- expressions: numbers, names, name[expr], + - × * and parentheses ------------------------

export type Env = Record<string, number | number[] | unknown>;

export function expr_eval(src: string, env: Env): number {
  const toks = src.replace(/−/g, '-').match(/0x[0-9a-fA-F]+|[0-9]+|[A-Za-z_][A-Za-z0-9_]*|[-+×*()[\]]|\S/g) ?? [];
  let i = 0;
  const peek = (): string | undefined => toks[i];
  const take = (want?: string): string => {
    const t = toks[i++];
    if (t === undefined || (want !== undefined && t !== want)) throw new Error(`expression '${src}': expected ${want ?? 'more'} at token ${i}`);
    return t;
  };
  const factor = (): number => {
    const t = take();
    if (t === '(') { const v = sum(); take(')'); return v; }
    if (/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(t)) return Number(t);
    if (/^[A-Za-z_]/.test(t)) {
      const v = env[t];
      if (peek() === '[') {
        take('[');
        const k = sum();
        take(']');
        if (!Array.isArray(v) || typeof v[k] !== 'number') throw new Error(`expression '${src}': ${t}[${k}] is not defined`);
        return v[k] as number;
      }
      if (typeof v !== 'number') throw new Error(`expression '${src}': '${t}' is not defined here`);
      return v;
    }
    throw new Error(`expression '${src}': unexpected '${t}'`);
  };
  const product = (): number => {
    let v = factor();
    while (peek() === '×' || peek() === '*') { take(); v *= factor(); }
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (peek() === '+' || peek() === '-') v = take() === '+' ? v + product() : v - product();
    return v;
  };
  const v = sum();
  if (i !== toks.length) throw new Error(`expression '${src}': trailing '${toks[i]}'`);
  return v;
}

// ---- reading bytes through the tables ---------------------------------------------------------

export const SCALAR_BYTES: Record<string, number> = { u8: 1, u16: 2, u32: 4, u48: 6, u64: 8, i32: 4, i64: 8 };
export const BYTE_TYPES = new Set(['bytes', 'ascii', 'utf8z']);

export type Value = number | string | Buffer | Value[] | { [k: string]: Value };

export interface FieldAt {
  field: SpecField;
  /** absolute offset in the buffer */
  at: number;
  size: number;
  value: Value;
}

export interface RecordRead {
  /** field name → value (reserved fields are left out) */
  values: { [k: string]: Value };
  fields: FieldAt[];
  /** bytes the record spans from its base: the end of its last field */
  size: number;
}

export function scalar_read(buf: Uint8Array, at: number, type: string): number {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  switch (type) {
    case 'u8': return v.getUint8(at);
    case 'u16': return v.getUint16(at, true);
    case 'u32': return v.getUint32(at, true);
    case 'i32': return v.getInt32(at, true);
    case 'u48': return v.getUint32(at, true) + v.getUint16(at + 4, true) * 2 ** 32;
    case 'u64': return v.getUint32(at, true) + v.getUint32(at + 4, true) * 2 ** 32;
    case 'i64': return v.getUint32(at, true) + v.getInt32(at + 4, true) * 2 ** 32;
    default: throw new Error(`not a scalar type: ${type}`);
  }
}

/** Splits `T[n]` into T and n; a plain type has no count. */
export function type_split(type: string): { base: string; count: string | null } {
  const m = /^([a-z0-9-]+)\[(.+)\]$/.exec(type);
  return m ? { base: m[1]!, count: m[2]! } : { base: type, count: null };
}

/**
 * Reads record `name` at `base` of `buf` with the document's table. `env` supplies the named
 * parameters its expressions use (`per_block`, `value_len` of an enclosing record, ...);
 * fields read earlier in the record are visible to later expressions.
 */
export function record_read(spec: Spec, buf: Uint8Array, base: number, name: string, env: Env = {}): RecordRead {
  const rec = spec_record(spec, name);
  const consts: Env = Object.fromEntries(spec.constants);
  const scope: Env = { ...consts, ...env };
  const values: { [k: string]: Value } = {};
  const fields: FieldAt[] = [];
  let end = 0;
  for (const f of rec.fields) {
    const off = expr_eval(f.offset, scope);
    const size = expr_eval(f.size, scope);
    const at = base + off;
    if (!Number.isInteger(off) || !Number.isInteger(size) || size < 0 || off < 0 || at + size > buf.length) {
      throw new RangeError(`${name}.${f.name} (FORMAT.md line ${f.line}): bytes [${at}, ${at + size}) outside the buffer of ${buf.length}`);
    }
    const { base: t, count } = type_split(f.type);
    let value: Value;
    if (count === null && t in SCALAR_BYTES) {
      if (size !== SCALAR_BYTES[t]) throw new Error(`${name}.${f.name}: ${t} of ${size} bytes`);
      value = scalar_read(buf, at, t);
    } else if (count === null && BYTE_TYPES.has(t)) {
      const b = Buffer.from(buf.subarray(at, at + size));
      if (t === 'bytes') value = b;
      else if (t === 'ascii') value = b.toString('latin1');
      else { const z = b.indexOf(0); value = b.toString('utf8', 0, z < 0 ? b.length : z); }
    } else {
      const n = count === null ? 1 : expr_eval(count, scope);
      const items: Value[] = [];
      let p = at;
      for (let k = 0; k < n; k++) {
        if (t in SCALAR_BYTES) {
          items.push(scalar_read(buf, p, t));
          p += SCALAR_BYTES[t]!;
        } else {
          const sub = record_read(spec, buf, p, t, env);
          items.push(sub.values);
          p += sub.size;
        }
      }
      if (p - at !== size) throw new Error(`${name}.${f.name} (FORMAT.md line ${f.line}): ${n} × ${t} span ${p - at} bytes, the size column says ${size}`);
      value = count === null ? items[0]! : items;
    }
    fields.push({ field: f, at, size, value });
    if (f.name !== 'reserved') {
      values[f.name] = value;
      if (typeof value === 'number') scope[f.name] = value;
    }
    end = Math.max(end, off + size);
  }
  return { values, fields, size: end };
}

/** Reads `count` records of kind `name` packed one after another from `base`. */
export function records_read(spec: Spec, buf: Uint8Array, base: number, name: string, count: number, env: Env = {}): { items: RecordRead[]; size: number } {
  const items: RecordRead[] = [];
  let p = base;
  for (let i = 0; i < count; i++) {
    const r = record_read(spec, buf, p, name, env);
    items.push(r);
    p += r.size;
  }
  return { items, size: p - base };
}

// ---- CRC32C from the document's definition -----------------------------------------------------

/** CRC32C, bit by bit: reflected polynomial 0x82F63B78; `seed` continues an earlier result. */
export function crc32c_bitwise(bytes: Uint8Array, seed = 0): number {
  let c = ~seed >>> 0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

/** A metadata block's stored CRC (offset crc_offset) against the computed one. */
export function block_crc_ok(spec: Spec, block: Uint8Array): boolean {
  const off = spec_const(spec, 'crc_offset');
  return scalar_read(block, off, 'u32') === crc32c_bitwise(block.subarray(0, off));
}

/** The document's 48-bit name hash. */
export function name_hash_doc(spec: Spec, name: Uint8Array): number {
  const lo = crc32c_bitwise(name);
  const hi = crc32c_bitwise(name, spec_const(spec, 'name_hash_seed')) & 0xffff;
  return hi * 2 ** 32 + lo;
}

// ---- diagrams ---------------------------------------------------------------------------------

const DIAG_CELL = 8; // characters per byte
const DIAG_LEFT = 6; // width of the offset column
const DIAG_ROW = 8; // bytes per row

interface DiagCell { from: number; to: number; text: string }
type DiagRow = { start: number; collapsed: string } | { start: number; cells: DiagCell[] };

function diag_label(text: string, width: number): string {
  return ` ${text}`.slice(0, width).padEnd(width, ' ');
}

/**
 * The diagram of a record, drawn from its table: one row per 8 bytes for the fields of fixed
 * offset and size, then one row per field of variable size or offset.
 */
export function record_diagram(rec: SpecRecord): string {
  const isNum = (s: string): boolean => /^[0-9]+$/.test(s);
  const fixed: { off: number; size: number; name: string }[] = [];
  const tail: SpecField[] = [];
  for (const f of rec.fields) {
    if (tail.length === 0 && isNum(f.offset) && isNum(f.size)) fixed.push({ off: Number(f.offset), size: Number(f.size), name: f.name });
    else tail.push(f);
  }
  const rows: DiagRow[] = [];
  for (const f of fixed) {
    let a = f.off;
    const end = f.off + f.size;
    let first = true;
    while (a < end) {
      const rowStart = a - (a % DIAG_ROW);
      if (a % DIAG_ROW === 0 && end - a >= 3 * DIAG_ROW) {
        const whole = Math.floor((end - a) / DIAG_ROW) * DIAG_ROW;
        rows.push({ start: a, collapsed: first ? `${f.name} (${f.size} bytes)` : `…${f.name} (${f.size} bytes in all)` });
        a += whole;
        first = false;
        continue;
      }
      const to = Math.min(end, rowStart + DIAG_ROW);
      const cell = { from: a - rowStart, to: to - rowStart, text: first ? f.name : '…' };
      const last = rows[rows.length - 1];
      if (last && 'cells' in last && last.start === rowStart) last.cells.push(cell);
      else rows.push({ start: rowStart, cells: [cell] });
      a = to;
      first = false;
    }
  }
  const width = (r: DiagRow | null): number => (r && 'cells' in r ? Math.max(...r.cells.map((c) => c.to)) : DIAG_ROW);
  const bounds = (r: DiagRow | null): Set<number> => {
    const b = new Set<number>();
    if (!r) return b;
    b.add(0);
    b.add(width(r));
    if ('cells' in r) for (const c of r.cells) { b.add(c.from); b.add(c.to); }
    return b;
  };
  const sep = (r1: DiagRow | null, r2: DiagRow | null): string => {
    const w = Math.max(r1 ? width(r1) : 0, r2 ? width(r2) : 0);
    const b = new Set([...bounds(r1), ...bounds(r2)]);
    let s = ' '.repeat(DIAG_LEFT);
    for (let k = 0; k <= w * DIAG_CELL; k++) s += k % DIAG_CELL === 0 && b.has(k / DIAG_CELL) ? '+' : '-';
    return s;
  };
  const off_col = (n: string): string => n.padStart(DIAG_LEFT - 1) + ' ';
  const out: string[] = [];
  let ruler = ' '.repeat(DIAG_LEFT);
  for (let k = 0; k < DIAG_ROW; k++) ruler += String(k).padEnd(DIAG_CELL);
  out.push(ruler.trimEnd());
  let prev: DiagRow | null = null;
  for (const r of rows) {
    out.push(sep(prev, r));
    if ('cells' in r) out.push(off_col(String(r.start)) + '|' + r.cells.map((c) => diag_label(c.text, (c.to - c.from) * DIAG_CELL - 1) + '|').join(''));
    else out.push(off_col(String(r.start)) + '|' + diag_label(r.collapsed, DIAG_ROW * DIAG_CELL - 1) + '|');
    prev = r;
  }
  if (prev) out.push(sep(prev, null));
  const full = ' '.repeat(DIAG_LEFT) + '+' + '-'.repeat(DIAG_ROW * DIAG_CELL - 1) + '+';
  if (tail.length && !prev) out.push(full);
  if (!rows.length && !tail.length) out.push(full, off_col('0') + '|' + diag_label('(empty: 0 bytes)', DIAG_ROW * DIAG_CELL - 1) + '|', full);
  for (const f of tail) {
    const text = `${f.name} (${f.size} bytes)` + (isNum(f.offset) && isNum(f.size) ? '' : ' ~');
    out.push(off_col(isNum(f.offset) ? f.offset : '') + '|' + diag_label(text, DIAG_ROW * DIAG_CELL - 1) + '|');
    out.push(full);
  }
  return out.join('\n');
}

/** The diagram block written above a record's table, or null when there is none. */
export function doc_diagram(text: string, rec: SpecRecord): string | null {
  const lines = text.split('\n');
  let i = rec.line; // the line after the heading (rec.line is 1-based)
  for (; i < lines.length && lines[i]!.trim() !== RECORD_HEADER; i++) {
    if (lines[i] === '```text') {
      const j = lines.indexOf('```', i + 1);
      return lines.slice(i + 1, j).join('\n');
    }
  }
  return null;
}

/** FORMAT.md with every record's diagram redrawn from its table. */
export function doc_diagrams_redraw(text: string): string {
  const spec = spec_parse(text);
  const lines = text.split('\n');
  const out: string[] = [];
  let pending: SpecRecord | null = null;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const m = /^#{2,4} Record `([a-z0-9-]+)`\s*$/.exec(l);
    if (m) pending = spec.records.get(m[1]!) ?? null;
    if (pending && l === '```text') {
      // an existing diagram: skip it (and the blank line after it)
      const j = lines.indexOf('```', i + 1);
      i = lines[j + 1] === '' ? j + 1 : j;
      continue;
    }
    if (pending && l.trim() === RECORD_HEADER) {
      out.push('```text', record_diagram(pending), '```', '');
      pending = null;
    }
    out.push(l);
  }
  return out.join('\n');
}

// ---- geometry, as the document's formulas give it ---------------------------------------------

export interface GeometryDoc {
  main_start: number;
  seg_count: number;
  tables: { entries: number; per_block: number; blocks: number; dir_base: number; entry_bytes: number }[];
  table_blocks: number;
  dir_blocks: number;
}

export function geometry_doc(spec: Spec, p: { block_count: number; seg_blocks: number; cp_slots: number; max_snapshots: number }): GeometryDoc {
  const c = (n: string): number => spec_const(spec, n);
  const entryBytes = spec.constants.get('table_entry_bytes') as number[];
  const main_start = Math.ceil((c('cp_start') + c('cp_slot_blocks') * p.cp_slots) / p.seg_blocks) * p.seg_blocks;
  const seg_count = Math.floor((p.block_count - main_start) / p.seg_blocks);
  const entries = [p.block_count, p.block_count, seg_count, p.block_count, p.max_snapshots];
  const body = c('block_size') - c('table_header_bytes') - 4;
  const tables: GeometryDoc['tables'] = [];
  let dir_base = 0;
  entries.forEach((n, t) => {
    const per_block = Math.floor(body / entryBytes[t]!);
    const blocks = Math.ceil(n / per_block);
    tables.push({ entries: n, per_block, blocks, dir_base, entry_bytes: entryBytes[t]! });
    dir_base += blocks;
  });
  // the DIR table: one entry per block of the five tables above; its own blocks are listed by
  // the top directory blocks, which the checkpoint lists
  const dirPer = Math.floor(body / entryBytes[5]!);
  const dirBlocks = Math.ceil(dir_base / dirPer);
  tables.push({ entries: dir_base, per_block: dirPer, blocks: dirBlocks, dir_base, entry_bytes: entryBytes[5]! });
  return { main_start, seg_count, tables, table_blocks: dir_base + dirBlocks, dir_blocks: Math.ceil(dirBlocks / c('dir_per_block')) };
}

/** What mkfs chooses for a device of `block_count` blocks (with `seg_blocks` when given). */
export function mkfs_defaults_doc(block_count: number, seg_blocks_given?: number): { seg_blocks: number; cp_slots: number; reserve_segs: number } {
  let p2 = 1;
  while (p2 < Math.ceil(block_count / 512)) p2 *= 2;
  const seg_blocks = seg_blocks_given ?? Math.min(512, Math.max(16, p2));
  const cp_slots = Math.max(8, Math.min(64, Math.ceil(10 / seg_blocks) * seg_blocks - 2));
  const main_start = Math.ceil((2 + cp_slots) / seg_blocks) * seg_blocks;
  const seg_count = Math.floor((block_count - main_start) / seg_blocks);
  const reserve_segs = Math.min(64, Math.max(4, Math.ceil(seg_count * 0.01)));
  return { seg_blocks, cp_slots, reserve_segs };
}

/** Rows of any markdown table whose header row starts with `| first |`. */
export function doc_table(text: string, first: string): string[][] {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.startsWith(`| ${first} |`));
  if (i < 0) throw new Error(`FORMAT.md has no table starting with '${first}'`);
  const rows: string[][] = [];
  for (let j = i + 2; j < lines.length && lines[j]!.startsWith('|'); j++) rows.push(cells(lines[j]!));
  return rows;
}

/**
 * An LZ4 block (the LZ4 block format: sequences of a token, literals and a match; no frame)
 * decoded from its published description alone, for reading compressed clusters through the
 * document (record `cluster`). Throws on anything out of bounds.
 */
export function lz4_block_decode_doc(src: Uint8Array, rawLen: number): Buffer {
  const out = Buffer.alloc(rawLen);
  let ip = 0, op = 0;
  const more = (n: number): number => {
    let b: number;
    do {
      if (ip >= src.length) throw new Error('lz4: length runs past the input');
      b = src[ip++]!;
      n += b;
    } while (b === 255);
    return n;
  };
  while (ip < src.length) {
    const token = src[ip++]!;
    let lit = token >> 4;
    if (lit === 15) lit = more(lit);
    if (ip + lit > src.length || op + lit > rawLen) throw new Error('lz4: literals out of bounds');
    out.set(src.subarray(ip, ip + lit), op);
    ip += lit;
    op += lit;
    if (ip >= src.length) break; // the last sequence has literals only
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    let len = token & 15;
    if (len === 15) len = more(len);
    len += 4;
    if (offset === 0 || offset > op || op + len > rawLen) throw new Error('lz4: match out of bounds');
    for (let k = 0; k < len; k++, op++) out[op] = out[op - offset]!;
  }
  if (op !== rawLen) throw new Error(`lz4: ${op} bytes decoded, ${rawLen} expected`);
  return out;
}
