// The workload trace format (docs/WORKLOAD.md): one JSON header line, then one JSON object per
// operation. Content is described by a generator and a seed, never stored, so a trace of 30,000
// operations stays a few MiB and every reader regenerates the same bytes.
//
// Invariants enforced by trace_parse (before anything is formatted or mounted):
// - every line is a JSON object; the first is the header, every other one a known operation with
//   exactly its fields, integers non-negative and safe;
// - paths are relative, never absolute, never with '.', '..' or empty components, at most 255
//   bytes per component and 4095 in all;
// - no single write or truncate reaches past the device, the header's device is no larger than
//   the device the trace is run on, and the live data the trace builds (every operation assumed
//   to succeed) never exceeds the device unless the header says the trace runs until ENOSPC.

import fs from 'node:fs';

export const TRACE_FORMAT = 'cowlog-workload';
export const TRACE_VERSION = 1;

export type GenKind = 'text' | 'random' | 'zero';
export interface Gen {
  kind: GenKind;
  /** u32 seed of the generator: the same (kind, seed, len) always gives the same bytes */
  seed: number;
}

export type Op =
  | { op: 'create'; path: string; mode?: number }
  | { op: 'write'; path: string; off: number; len: number; gen: Gen }
  | { op: 'append'; path: string; len: number; gen: Gen }
  | { op: 'truncate'; path: string; size: number }
  | { op: 'fsync'; path: string }
  | { op: 'fdatasync'; path: string }
  | { op: 'read'; path: string; off: number; len: number }
  | { op: 'stat'; path: string }
  | { op: 'unlink'; path: string }
  | { op: 'rename'; path: string; to: string }
  | { op: 'mkdir'; path: string; mode?: number }
  | { op: 'rmdir'; path: string }
  | { op: 'chmod'; path: string; mode: number }
  | { op: 'sync' };

export type OpKind = Op['op'];

export interface TraceHeader {
  format: typeof TRACE_FORMAT;
  version: typeof TRACE_VERSION;
  /** short name used in reports, e.g. "smallsync-30000-s1" */
  name: string;
  profile: string;
  seed: number;
  /** device size the trace was generated for */
  deviceBytes: number;
  /** number of operation lines that follow */
  ops: number;
  /** the live-data bound the generator kept (bytes of file data alive at any time) */
  liveMaxBytes: number;
  /** the largest live data the trace builds, every operation assumed to succeed */
  livePeakBytes: number;
  /** bytes of write and append payloads in the trace */
  askedBytes: number;
  /** the trace is meant to run into ENOSPC (fill): live data may exceed the device */
  untilEnospc?: boolean;
  /** after this many ENOSPC errors the replayer stops applying operations */
  enospcLimit?: number;
  /** the generator's parameters, for the record */
  params?: Record<string, unknown>;
  /** what the bound means, in words */
  note?: string;
}

export interface Trace {
  header: TraceHeader;
  ops: Op[];
  /** where it was read from, for messages */
  source: string;
}

/** A trace that can not be run; the message names the file and the line. */
export class TraceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TraceError';
  }
}

const OP_FIELDS: Record<OpKind, readonly string[]> = {
  create: ['path', 'mode?'],
  write: ['path', 'off', 'len', 'gen'],
  append: ['path', 'len', 'gen'],
  truncate: ['path', 'size'],
  fsync: ['path'],
  fdatasync: ['path'],
  read: ['path', 'off', 'len'],
  stat: ['path'],
  unlink: ['path'],
  rename: ['path', 'to'],
  mkdir: ['path', 'mode?'],
  rmdir: ['path'],
  chmod: ['path', 'mode'],
  sync: [],
};
export const OP_KINDS = Object.keys(OP_FIELDS) as OpKind[];

/** Why `p` is not an acceptable trace path, or null when it is. */
export function path_problem(p: unknown): string | null {
  if (typeof p !== 'string') return 'is not a string';
  if (p.length === 0) return 'is empty';
  if (p.startsWith('/')) return `'${p}' is absolute (paths are relative to the mount)`;
  if (p.includes('\0')) return 'contains a NUL byte';
  if (Buffer.byteLength(p) > 4095) return 'is longer than 4095 bytes';
  for (const c of p.split('/')) {
    if (c === '..') return `'${p}' contains '..' (it would leave the mount)`;
    if (c === '.' || c === '') return `'${p}' has an empty or '.' component`;
    if (Buffer.byteLength(c) > 255) return `'${p}' has a component longer than 255 bytes`;
  }
  return null;
}

function is_u(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/** Checks one parsed line as an operation; returns it typed or throws naming the problem. */
function op_check(o: unknown, where: string, deviceBytes: number): Op {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new TraceError(`${where}: not a JSON object`);
  const rec = o as Record<string, unknown>;
  const kind = rec['op'];
  if (typeof kind !== 'string' || !(kind in OP_FIELDS)) {
    throw new TraceError(`${where}: unknown op ${JSON.stringify(kind)} (known: ${OP_KINDS.join(', ')})`);
  }
  const fields = OP_FIELDS[kind as OpKind];
  const allowed = new Set(['op', ...fields.map((f) => f.replace('?', ''))]);
  for (const k of Object.keys(rec)) {
    if (!allowed.has(k)) throw new TraceError(`${where}: ${kind} has no field '${k}'`);
  }
  for (const f of fields) {
    const name = f.replace('?', '');
    const v = rec[name];
    if (v === undefined) {
      if (f.endsWith('?')) continue;
      throw new TraceError(`${where}: ${kind} needs '${name}'`);
    }
    if (name === 'path' || name === 'to') {
      const why = path_problem(v);
      if (why) throw new TraceError(`${where}: path ${why}`);
    } else if (name === 'gen') {
      const g = v as Record<string, unknown>;
      if (typeof g !== 'object' || g === null || !['text', 'random', 'zero'].includes(g['kind'] as string) ||
          !is_u(g['seed']) || g['seed'] > 0xffffffff || Object.keys(g).length !== 2) {
        throw new TraceError(`${where}: gen must be {"kind":"text"|"random"|"zero","seed":0..4294967295}`);
      }
    } else if (name === 'mode') {
      if (!is_u(v) || v > 0o7777) throw new TraceError(`${where}: mode must be an integer 0..4095 (0o7777)`);
    } else if (!is_u(v)) {
      throw new TraceError(`${where}: '${name}' must be a non-negative integer, not ${JSON.stringify(v)}`);
    }
  }
  const op = rec as unknown as Op;
  if (op.op === 'write' || op.op === 'read') {
    if (op.off + op.len > deviceBytes) {
      throw new TraceError(`${where}: ${op.op} of ${op.len} bytes at ${op.off} reaches past the ${deviceBytes}-byte device`);
    }
  } else if (op.op === 'append') {
    if (op.len > deviceBytes) throw new TraceError(`${where}: append of ${op.len} bytes is larger than the ${deviceBytes}-byte device`);
  } else if (op.op === 'truncate') {
    if (op.size > deviceBytes) throw new TraceError(`${where}: truncate to ${op.size} bytes is larger than the ${deviceBytes}-byte device`);
  }
  return op;
}

function header_check(o: unknown, where: string): TraceHeader {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new TraceError(`${where}: the header is not a JSON object`);
  const h = o as Record<string, unknown>;
  if (h['format'] !== TRACE_FORMAT) {
    throw new TraceError(`${where}: the first line must be the header {"format":"${TRACE_FORMAT}","version":1,...} (make one with 'cowlog wear workload')`);
  }
  if (h['version'] !== TRACE_VERSION) throw new TraceError(`${where}: unsupported trace version ${JSON.stringify(h['version'])}`);
  for (const k of ['deviceBytes', 'ops', 'seed', 'liveMaxBytes', 'livePeakBytes', 'askedBytes']) {
    if (!is_u(h[k])) throw new TraceError(`${where}: header field '${k}' must be a non-negative integer`);
  }
  if (typeof h['name'] !== 'string' || typeof h['profile'] !== 'string') {
    throw new TraceError(`${where}: header fields 'name' and 'profile' must be strings`);
  }
  if (h['enospcLimit'] !== undefined && !is_u(h['enospcLimit'])) {
    throw new TraceError(`${where}: header field 'enospcLimit' must be a non-negative integer`);
  }
  return h as unknown as TraceHeader;
}

/**
 * The largest live data (sum of file sizes) the trace builds if every operation succeeds, and the
 * 1-based line where it is first reached. Directories and metadata are not counted.
 */
export function live_peak(ops: readonly Op[]): { peak: number; line: number } {
  const sizes = new Map<string, number>();
  let live = 0, peak = 0, line = 0;
  ops.forEach((op, i) => {
    switch (op.op) {
      case 'create': live -= sizes.get(op.path) ?? 0; sizes.set(op.path, 0); break;
      case 'write': {
        const s = sizes.get(op.path);
        if (s !== undefined && op.off + op.len > s) { live += op.off + op.len - s; sizes.set(op.path, op.off + op.len); }
        break;
      }
      case 'append': {
        const s = sizes.get(op.path);
        if (s !== undefined) { live += op.len; sizes.set(op.path, s + op.len); }
        break;
      }
      case 'truncate': {
        const s = sizes.get(op.path);
        if (s !== undefined) { live += op.size - s; sizes.set(op.path, op.size); }
        break;
      }
      case 'unlink': live -= sizes.get(op.path) ?? 0; sizes.delete(op.path); break;
      case 'rename': {
        const s = sizes.get(op.path);
        if (s !== undefined) {
          live -= sizes.get(op.to) ?? 0;
          sizes.delete(op.path);
          sizes.set(op.to, s);
        } else {
          // a directory: every file below it moves
          const from = op.path + '/';
          for (const [p, sz] of [...sizes]) {
            if (p.startsWith(from)) { sizes.delete(p); sizes.set(op.to + '/' + p.slice(from.length), sz); }
          }
        }
        break;
      }
      default: break;
    }
    if (live > peak) { peak = live; line = i + 2; }
  });
  return { peak, line };
}

export interface ParseOptions {
  /** the device the trace will run on: the trace may not ask for more */
  deviceBytes?: number;
}

/** Parses and validates a whole trace held in memory; throws TraceError naming the line. */
export function trace_parse(text: string, source = 'trace', opts: ParseOptions = {}): Trace {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new TraceError(`${source}: empty (expected a header line, then one operation per line)`);
  const parse = (i: number): unknown => {
    const line = lines[i]!;
    try {
      return JSON.parse(line) as unknown;
    } catch (e) {
      const shown = line.length > 60 ? line.slice(0, 60) + '…' : line;
      throw new TraceError(`${source}:${i + 1}: not valid JSON (${(e as Error).message}): ${shown}`);
    }
  };
  const header = header_check(parse(0), `${source}:1`);
  if (opts.deviceBytes !== undefined && header.deviceBytes > opts.deviceBytes) {
    throw new TraceError(`${source}: the trace was made for a ${header.deviceBytes}-byte device, larger than this ${opts.deviceBytes}-byte one (make it again with --device-size)`);
  }
  const deviceBytes = opts.deviceBytes ?? header.deviceBytes;
  const ops: Op[] = [];
  for (let i = 1; i < lines.length; i++) ops.push(op_check(parse(i), `${source}:${i + 1}`, deviceBytes));
  if (ops.length !== header.ops) {
    throw new TraceError(`${source}: the header announces ${header.ops} operations but ${ops.length} follow (a truncated file?)`);
  }
  if (!header.untilEnospc) {
    const { peak, line } = live_peak(ops);
    if (peak > deviceBytes) {
      throw new TraceError(`${source}:${line}: the trace builds ${peak} bytes of live data, more than the ${deviceBytes}-byte device holds (only a trace with "untilEnospc":true may)`);
    }
  }
  return { header, ops, source };
}

export function trace_read(path: string, opts: ParseOptions = {}): Trace {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw new TraceError(`${path}: cannot read the trace (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return trace_parse(text, path, opts);
}

/** Serialises a trace: the header line, then one line per operation. */
export function trace_format(header: TraceHeader, ops: readonly Op[]): string {
  const out: string[] = [JSON.stringify(header)];
  for (const op of ops) out.push(JSON.stringify(op));
  return out.join('\n') + '\n';
}
