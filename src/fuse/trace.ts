// The mount's tracing: every FUSE request with its process, file and latency, and the way of
// written bytes to durability, streamed to tracers (`cowlog trace`) through the control socket;
// per-process and per-file activity for `cowlog top`; latency histograms per request kind for
// `cowlog info --stats`. docs/TRACE.md documents every field.
//
// How a request is served (ops.ts hands every handler to wrap()):
// - Always: its latency goes into the histogram of its kind (two clock reads and a bucket).
// - Only while a tracer or a top is attached (`on`): the caller (pid, uid), the path and the
//   inode are noted in arrays indexed by request id when it arrives; once it is answered, the
//   activity table is told, and each tracer whose filter it passes gets a binary record of it
//   (trace_wire.ts) written straight into its queue: no object, no JSON, no text per event on
//   the serving thread. `cowlog trace` makes the lines; for a stream that asked for JSON or
//   text lines the server makes them, a queue chunk at a time, when it writes the socket.
//   Nothing of this is built while `on` is false.
// - Only while a tracer follows durability: the engine's observer (src/fs/observe.ts) is set,
//   and a ledger of written bytes (ledger.ts) turns its calls into written, logged and durable
//   events.
//
// Invariants:
// - The mount never waits for a tracer: events go into a bounded queue per tracer (RING_EVENTS
//   records) and are written to its socket only while the socket's own buffer is below
//   STREAM_HWM; what does not fit is dropped and counted, and the tracer is sent
//   {"lost":N,"time":...}.
// - Filters are applied here, before a record is written, so that a filtered trace loses only
//   events it asked for.
// - Event lines begin with {"time", the only other lines with {"lost" and {"end" (the last
//   line, when the mount goes away), so a reader can pass events on without parsing them.
// - Events are built and filtered on the serving thread, synchronously, and only from memory
//   and /proc (comm.ts): never from a path that could lie on a FUSE mount.
// - A failure inside the tracing code is logged and detaches every tracer; it never fails the
//   request (the answer is sent before the event is built).

import type { WriteTag } from '../device/cause.js';
import type { Socket } from 'node:net';
import { constants as osc } from 'node:os';
import type { FsObserver } from '../fs/observe.js';
import { Histogram } from '../util/histogram.js';
import type { HistogramJson } from '../util/histogram.js';
import { RecordQueue } from '../util/record_queue.js';
import { FsError } from '../util/errors.js';
import { Activity } from './activity.js';
import { FUSE_SET_ATTR_SIZE } from './binding.js';
import type { CallerContext, DirBuf, FuseAttr, FuseEntry, FuseReplier, FuseStatfs } from './binding.js';
import { CommCache } from './comm.js';
import type { Comm } from './comm.js';
import { WriteLedger } from './ledger.js';
import { record_text } from './trace_text.js';
import {
  F_BYTES, F_DATASYNC, F_DATASYNC_TRUE, F_LEN, F_NAME, F_OFF, F_PATH2, F_SIZE, REQUEST_OPS, iso_us,
  line_record, line_record_put, record_json, req_record_max, req_record_put,
} from './trace_wire.js';
import type { Batch } from './ledger.js';

/** events a tracer may have waiting (unless it asks for another number); more are dropped and counted */
export const RING_EVENTS = 16384;
/** bytes a tracer's socket may hold unsent before events wait in the queue */
export const STREAM_HWM = 256 * 1024;
/** a top whose socket holds this much unsent skips snapshots (the next one covers the gap) */
const TOP_HWM = 1 << 20;
/** how long an event may wait for others to share its write to the tracer (a full chunk goes at once) */
const FLUSH_MS = 20;
/** request ids are below this (the binding's slots) */
const REQ_IDS = 65536;

export { REQUEST_OPS, iso_us };
/** The events of written bytes (`cowlog trace --durability`). */
export const DATA_OPS = ['written', 'logged', 'durable'] as const;

/** Where a request's fields are among its handler's arguments (after the request id). */
interface Shape {
  /** the inode the request names */
  ino?: number;
  /** a name in a directory: the directory and the name */
  parent?: number;
  name?: number;
  /** rename and link: the new name; symlink: the target (path2) */
  parent2?: number;
  name2?: number;
  target?: number;
  /** copy_file_range: the file copied to (path2) */
  ino2?: number;
  fh?: number;
  off?: number;
  len?: number;
  /** write: the data (its length is `len`) */
  buf?: number;
  /** setattr: the new size, when it sets one */
  set?: number;
  /** xattr name */
  xname?: number;
  /** fsync's datasync flag (fdatasync, O_DSYNC) */
  datasync?: number;
  /** write: whether the kernel sends it back from its cache (the writer is the handle's opener) */
  writepage?: number;
  /** answers a byte count (read, write) rather than an errno */
  count?: boolean;
}

const SHAPES: Record<string, Shape> = {
  init: {}, lookup: { parent: 0, name: 1 }, getattr: { ino: 0, fh: 1 }, setattr: { ino: 0, set: 1, fh: 2 }, readlink: { ino: 0 },
  mknod: { parent: 0, name: 1 }, mkdir: { parent: 0, name: 1 }, create: { parent: 0, name: 1 },
  unlink: { parent: 0, name: 1 }, rmdir: { parent: 0, name: 1 },
  symlink: { target: 0, parent: 1, name: 2 }, rename: { parent: 0, name: 1, parent2: 2, name2: 3 },
  link: { ino: 0, parent2: 1, name2: 2 }, open: { ino: 0 }, opendir: { ino: 0 },
  read: { ino: 0, fh: 1, len: 2, off: 3, count: true }, write: { ino: 0, fh: 1, buf: 2, off: 3, writepage: 4, count: true },
  flush: { ino: 0, fh: 1 }, release: { ino: 0, fh: 1 }, releasedir: { ino: 0, fh: 1 },
  fsync: { ino: 0, fh: 1, datasync: 2 }, fsyncdir: { ino: 0, fh: 1, datasync: 2 },
  readdir: { ino: 0, fh: 1, len: 2, off: 3 }, readdirplus: { ino: 0, fh: 1, len: 2, off: 3 }, statfs: { ino: 0 },
  setxattr: { ino: 0, xname: 1 }, getxattr: { ino: 0, xname: 1 }, listxattr: { ino: 0 }, removexattr: { ino: 0, xname: 1 },
  access: { ino: 0 }, fallocate: { ino: 0, fh: 1, off: 3, len: 4 }, copy_file_range: { ino: 0, off: 1, fh: 2, ino2: 3, len: 6 },
  lseek: { ino: 0, fh: 1, off: 2 }, ioctl: { ino: 0, fh: 1 },
};

/** What the tracing needs of the operations (ops.ts). */
export interface TraceSource {
  /** the caller of the request being dispatched (valid before the handler's first await) */
  caller(): CallerContext;
  /** a path of an inode the kernel holds ('' when none is known) */
  path_of(ino: number): string;
  /** the path of `name` in directory `parent` */
  child_path(parent: number, name: string): string;
  /** the inode an open handle names, 0 when none */
  ino_fh(fh: number): number;
  /** who opened a handle (the writer of what the kernel writes back from its cache) */
  opener_of(fh: number): { pid: number; uid: number } | null;
  /** sets the engine's observer (src/fs/observe.ts) */
  observe(o: FsObserver | null): void;
  /** sets the listener told of every device write with its tag (null: none) */
  device_listen(fn: ((tag: WriteTag | undefined, bytes: number) => void) | null): void;
  /** the process that last wrote or fsync'd inode `ino`, 0 when not known */
  writer_of(ino: number): number;
  /** someone follows requests (on) or no one does: while on, every request reaches a handler */
  following(on: boolean): void;
}

// ---- filters ------------------------------------------------------------------------------------

/** A tracer's filter, as `cowlog trace` sends it in {"op":"trace","filter":{...}}. */
export interface TraceFilter {
  /** only these processes (null: any) */
  pids: number[] | null;
  /** only processes with these names (/proc/PID/comm) */
  comms: string[] | null;
  /** only paths equal to or below one of these (relative to the mount, starting with '/') */
  paths: string[] | null;
  /** only these events (requests and/or written, logged, durable); null: every request, or
   *  with durability every data event */
  ops: string[] | null;
  /** only requests that took longer (µs); data events are not filtered by it */
  slowerUs: number;
  /** follow written bytes to durability (written, logged and durable events) */
  durability: boolean;
}

export const FILTER_NONE: TraceFilter = { pids: null, comms: null, paths: null, ops: null, slowerUs: 0, durability: false };

function list_of<T>(v: unknown, what: string, ok: (x: unknown) => x is T): T[] | null {
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || v.length === 0 || !v.every(ok)) throw new FsError('EINVAL', `trace filter "${what}" must be a non-empty list`);
  return v;
}

/** Checks a filter from the wire (or from the command line); unknown names are EINVAL. */
export function trace_filter_parse(raw: unknown): TraceFilter {
  const o = (raw ?? {}) as Record<string, unknown>;
  if (typeof o !== 'object') throw new FsError('EINVAL', 'a trace filter is a JSON object');
  for (const k of Object.keys(o)) {
    if (!(k in FILTER_NONE)) throw new FsError('EINVAL', `unknown trace filter "${k}" (${Object.keys(FILTER_NONE).join(', ')})`);
  }
  const pids = list_of(o['pids'], 'pids', (x): x is number => Number.isSafeInteger(x) && (x as number) >= 0);
  const comms = list_of(o['comms'], 'comms', (x): x is string => typeof x === 'string' && x.length > 0);
  const paths = list_of(o['paths'], 'paths', (x): x is string => typeof x === 'string' && x.startsWith('/'));
  const ops = list_of(o['ops'], 'ops', (x): x is string => typeof x === 'string');
  const known = new Set<string>([...REQUEST_OPS, ...DATA_OPS]);
  for (const op of ops ?? []) {
    if (!known.has(op)) throw new FsError('EINVAL', `unknown operation '${op}' (requests: ${REQUEST_OPS.join(', ')}; data: ${DATA_OPS.join(', ')})`);
  }
  const slowerUs = o['slowerUs'] ?? 0;
  if (typeof slowerUs !== 'number' || !(slowerUs >= 0) || !Number.isFinite(slowerUs)) throw new FsError('EINVAL', `trace filter "slowerUs" must be a number of µs >= 0, not ${JSON.stringify(slowerUs)}`);
  const durability = o['durability'] ?? false;
  if (typeof durability !== 'boolean') throw new FsError('EINVAL', 'trace filter "durability" must be true or false');
  return { pids, comms, paths, ops, slowerUs, durability };
}

/** Whether `path` is `prefix` or below it ('/' holds everything). */
export function path_under(path: string, prefix: string): boolean {
  if (prefix === '/' || path === prefix) return true;
  return path.startsWith(prefix.endsWith('/') ? prefix : prefix + '/');
}

// ---- events -------------------------------------------------------------------------------------

/** One line of a trace (docs/TRACE.md). Fields that do not apply are absent. */
export interface TraceEvent {
  /** ISO 8601, UTC, with microseconds: when the request arrived, or when the data event happened */
  time: string;
  op: string;
  pid: number;
  comm: string;
  uid: number;
  ino: number;
  path: string;
  path2?: string;
  off?: number;
  len?: number;
  bytes?: number;
  size?: number;
  name?: string;
  datasync?: boolean;
  /** requests: 0, or the errno name of the failure */
  result?: 0 | string;
  /** requests: the time cowlog took to answer, µs, rounded up */
  us?: number;
  // data events
  inline?: boolean;
  blocks?: number;
  patchBytes?: number;
  writes?: number;
  via?: 'fsync' | 'checkpoint';
  seq?: number;
  waitUsMax?: number;
  waitUsMin?: number;
  flushUs?: number;
  cause?: string;
  causeIno?: number;
  causePath?: string;
  pids?: number[];
}

/** iso_us's inverse: wall-clock ms with the microseconds as a fraction (NaN if not such a time). */
export function iso_ms(iso: string): number {
  const m = /^(.{19}\.\d{3})(\d{3})?Z$/.exec(iso);
  if (m === null) return NaN;
  return Date.parse(`${m[1]}Z`) + (m[2] !== undefined ? Number(m[2]) / 1000 : 0);
}

/** Wall-clock ms (fractional) of a performance.now() reading. */
function wall_of(perfMs: number): number {
  return performance.timeOrigin + perfMs;
}

/** A path as a person reads it (paths arrive as latin1 strings, one character per byte). */
function shown(raw: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(raw) ? raw : Buffer.from(raw, 'latin1').toString('utf8');
}

/** Where each request's fields are, by its index in REQUEST_OPS. */
const SHAPE_OF: Shape[] = REQUEST_OPS.map((op) => SHAPES[op] ?? {});

interface Tracer {
  f: TraceFilter;
  ops: Set<string>;
  /** per request (its index in REQUEST_OPS): 1 when this tracer wants it */
  opMask: Uint8Array;
  /** the path prefixes as the bytes of paths arrive (one latin1 character per byte) */
  rawPaths: string[] | null;
  data: boolean;
  /** the records waiting for the socket */
  queue: RecordQueue;
  /** what the socket carries: the records themselves, or JSON or text lines made of them */
  format: TraceFormat;
  sock: Socket;
  /** a pump is queued with setImmediate, or waits for FLUSH_MS */
  scheduled: boolean;
  timer: NodeJS.Timeout | null;
  closed: boolean;
}

/** How a trace stream carries its events (docs/TRACE.md, the control channel). */
export type TraceFormat = 'binary' | 'json' | 'text';

interface Watcher {
  sock: Socket;
  last: number;
  timer: NodeJS.Timeout;
}

export interface TraceStats {
  sinceMs: number;
  latency: Record<string, HistogramJson>;
}

export class TraceHub implements FsObserver {
  /** a tracer or a top is attached: requests are attributed (checked before anything is built) */
  on = false;
  private readonly latency = new Map<string, Histogram>();
  private readonly sinceMs = Date.now();
  private readonly tracers = new Set<Tracer>();
  private readonly watchers = new Set<Watcher>();
  private activity: Activity | null = null;
  private ledger: WriteLedger | null = null;
  private readonly comms = new CommCache();
  /** per request id: when it arrived and the histogram of its kind (until it is answered) */
  private readonly t0 = new Float64Array(REQ_IDS);
  private readonly hists: (Histogram | undefined)[] = new Array<Histogram | undefined>(REQ_IDS);
  /**
   * Requests being followed (only while `on`), by id, from their arrival to their answer: the
   * request (its index in REQUEST_OPS + 1; 0: not followed), caller, inode, paths, arguments.
   */
  private readonly fOp = new Uint8Array(REQ_IDS);
  private readonly fPid = new Uint32Array(REQ_IDS);
  private readonly fUid = new Uint32Array(REQ_IDS);
  private readonly fIno = new Float64Array(REQ_IDS);
  private readonly fPath: string[] = new Array<string>(REQ_IDS).fill('');
  private readonly fPath2: (string | undefined)[] = new Array<string | undefined>(REQ_IDS);
  private readonly fArgs: (unknown[] | undefined)[] = new Array<unknown[] | undefined>(REQ_IDS);
  /** off, len, bytes, size of the record being written */
  private readonly opt = new Float64Array(4);
  /** the followed request being served (engine events happen during it), or -1 */
  private cur = -1;
  /** why the engine works when no request is being served (timer, sync, unmount...) */
  private internal = 'engine';
  private flushT0 = 0;

  constructor(private readonly src: TraceSource, private readonly log: (msg: string) => void = () => {}) {}

  // ---- requests -----------------------------------------------------------------------------

  /** The latency histogram of a request kind. */
  hist_of(op: string): Histogram {
    let h = this.latency.get(op);
    if (h === undefined) {
      h = new Histogram();
      this.latency.set(op, h);
    }
    return h;
  }

  /**
   * A handler whose requests are timed (and, while someone follows, attributed): `fn` gets the
   * request id first, as every answered handler of binding.ts's LowOps.
   */
  wrap(op: string, fn: (...a: unknown[]) => void): (...a: unknown[]) => void {
    const h = this.hist_of(op);
    const ix = REQUEST_OPS.indexOf(op as (typeof REQUEST_OPS)[number]);
    return (...args: unknown[]): void => {
      const id = args[0] as number;
      this.t0[id] = performance.now();
      this.hists[id] = h;
      const prev = this.cur;
      this.cur = -1;
      if (this.on && ix >= 0) {
        try {
          this.req_begin(id, ix, args);
          this.cur = id;
        } catch (e) {
          this.fail(e);
        }
      }
      try {
        fn(...args);
      } finally {
        this.cur = prev;
      }
    };
  }

  /** The replier `r`, telling the hub of every answer (latency, and the event when traced). */
  replier(r: FuseReplier): FuseReplier {
    const end = (id: number, first: number, ino = 0): void => this.end(id, first, ino);
    return {
      err: (id, errno) => { r.err(id, errno); end(id, errno === 0 ? 0 : -errno); },
      entry: (id, e: FuseEntry) => { r.entry(id, e); end(id, 0, e.attr.ino); },
      negative: (id, timeout) => { r.negative(id, timeout); end(id, -osc.errno.ENOENT); },
      attr: (id, a: FuseAttr, timeout) => { r.attr(id, a, timeout); end(id, 0); },
      statx: (id, a: FuseAttr, timeout) => { r.statx(id, a, timeout); end(id, 0); },
      open: (id, fh, flags) => { r.open(id, fh, flags); end(id, 0); },
      create: (id, e: FuseEntry, fh, flags) => { r.create(id, e, fh, flags); end(id, 0, e.attr.ino); },
      data: (id, buf, len) => { r.data(id, buf, len); end(id, len); },
      write: (id, n) => { r.write(id, n); end(id, n); },
      xattr_size: (id, n) => { r.xattr_size(id, n); end(id, 0); },
      statfs: (id, st: FuseStatfs) => { r.statfs(id, st); end(id, 0); },
      lseek: (id, off) => { r.lseek(id, off); end(id, 0); },
      dirents: (id, d: DirBuf) => { r.dirents(id, d); end(id, 0); },
      ioctl: (id, result, out) => { r.ioctl(id, result, out); end(id, result < 0 ? result : 0); },
      none: (id) => { r.none(id); end(id, 0); },
    };
  }

  /** A request was answered: its latency, and its event if it is followed. */
  private end(id: number, first: number, ino: number): void {
    const now = performance.now();
    const us = (now - this.t0[id]!) * 1000;
    this.hists[id]?.add(us);
    this.hists[id] = undefined;
    const op = this.fOp[id]!;
    if (op === 0) return;
    this.fOp[id] = 0;
    try {
      if (this.fIno[id] === 0) this.fIno[id] = ino;
      this.req_end(id, op - 1, first, us, now);
    } catch (e) {
      this.fail(e);
    } finally {
      this.fArgs[id] = undefined;
      this.fPath2[id] = undefined;
    }
  }

  /** Notes who asked for request `id` (REQUEST_OPS[ix]) and what it names, before it is served. */
  private req_begin(id: number, ix: number, a: unknown[]): void {
    const shape = SHAPE_OF[ix]!;
    let pid = 0, uid = 0;
    try {
      const who = this.src.caller();
      pid = who.pid;
      uid = who.uid;
    } catch {
      // init comes without a caller
    }
    // the arguments after the request id: a[k + 1] is the shape's argument k
    let ino = 0;
    let path = '';
    let path2: string | undefined;
    if (shape.ino !== undefined) {
      ino = a[shape.ino + 1] as number;
      if (shape.fh !== undefined && ino === 0) ino = this.src.ino_fh(a[shape.fh + 1] as number);
      path = this.src.path_of(ino);
    } else if (shape.parent !== undefined) {
      const parent = a[shape.parent + 1] as number, name = a[shape.name! + 1] as string;
      path = this.src.child_path(parent, name);
    }
    if (shape.parent2 !== undefined) path2 = this.src.child_path(a[shape.parent2 + 1] as number, a[shape.name2! + 1] as string);
    else if (shape.target !== undefined) path2 = a[shape.target + 1] as string;
    else if (shape.ino2 !== undefined) path2 = this.src.path_of(a[shape.ino2 + 1] as number);
    // what the kernel writes back from its cache comes with the context of whoever made it
    // write (a flusher thread, an fsync): the writer is the process that opened the handle
    if (shape.writepage !== undefined && (a[shape.writepage + 1] === true || pid === 0)) {
      const w = this.src.opener_of(a[shape.fh! + 1] as number);
      if (w !== null) { pid = w.pid; uid = w.uid; }
    }
    this.fOp[id] = ix + 1;
    this.fPid[id] = pid;
    this.fUid[id] = uid;
    this.fIno[id] = ino;
    this.fPath[id] = path;
    this.fPath2[id] = path2;
    this.fArgs[id] = a;
  }

  /** Request `id` (REQUEST_OPS[ix]) was answered with `first` (a count, or -errno) after `us`: the activity table, and a record for each tracer that wants it. */
  private req_end(id: number, ix: number, first: number, us: number, now: number): void {
    const s = SHAPE_OF[ix]!;
    const pid = this.fPid[id]!, path = this.fPath[id]!, path2 = this.fPath2[id];
    const failed = first < 0;
    const bytes = s.count && !failed ? first : -1;
    if (this.activity !== null) {
      const op = REQUEST_OPS[ix];
      this.activity.request(pid, () => this.comms.comm_of(pid), this.fUid[id]!, this.fIno[id]!, shown(path), us,
        op === 'read' ? Math.max(0, bytes) : 0, op === 'write' ? Math.max(0, bytes) : 0);
    }
    let comm: Comm | undefined;
    // the record, once written into the first queue that takes it, is copied into the others
    let rec: Buffer | null = null;
    let recAt = 0, recLen = 0;
    for (const t of this.tracers) {
      if (t.opMask[ix] === 0 || (t.f.slowerUs > 0 && us <= t.f.slowerUs)) continue;
      if (t.f.pids !== null && !t.f.pids.includes(pid)) continue;
      if (t.rawPaths !== null && !t.rawPaths.some((p) => path_under(path, p) || (path2 !== undefined && path_under(path2, p)))) continue;
      comm ??= this.comms.entry_of(pid, now);
      if (t.f.comms !== null && !t.f.comms.includes(comm.comm)) continue;
      const q = t.queue;
      if (rec !== null) {
        if (!q.reserve(recLen)) continue;
        rec.copy(q.buf, q.pos, recAt, recAt + recLen);
        q.commit(q.pos + recLen);
      } else {
        const a = this.fArgs[id]!;
        const opt = this.opt;
        let flags = path2 !== undefined ? F_PATH2 : 0;
        if (s.off !== undefined) { flags |= F_OFF; opt[0] = a[s.off + 1] as number; }
        if (s.len !== undefined) { flags |= F_LEN; opt[1] = a[s.len + 1] as number; }
        else if (s.buf !== undefined) { flags |= F_LEN; opt[1] = (a[s.buf + 1] as Buffer).length; }
        if (bytes >= 0) { flags |= F_BYTES; opt[2] = bytes; }
        if (s.set !== undefined) {
          const set = a[s.set + 1] as { valid: number; size: number };
          if ((set.valid & FUSE_SET_ATTR_SIZE) !== 0) { flags |= F_SIZE; opt[3] = set.size; }
        }
        let name: string | undefined;
        if (s.xname !== undefined) { flags |= F_NAME; name = String(a[s.xname + 1]); }
        if (s.datasync !== undefined) flags |= F_DATASYNC | (a[s.datasync + 1] !== 0 ? F_DATASYNC_TRUE : 0);
        if (!q.reserve(req_record_max(path, comm.bytes, path2, name))) continue;
        rec = q.buf;
        recAt = q.pos;
        const end = req_record_put(rec, recAt, ix, flags, wall_of(this.t0[id]!), pid, this.fUid[id]!, this.fIno[id]!,
          failed ? -first : 0, Math.max(1, Math.ceil(us)), opt, path, comm.bytes, path2, name);
        recLen = end - recAt;
        q.commit(end);
      }
      this.queued(t);
    }
  }

  /**
   * The request being served names inode `ino`: what unlink, rmdir and rename remove or move,
   * which their handlers look up anyway (ops.ts), told here rather than looked up again.
   */
  named(ino: number): void {
    if (this.cur >= 0) this.fIno[this.cur] = ino;
  }

  /** Runs engine work done outside any request (timer, sync, snapshot, unmount) under a name. */
  during<T>(why: string, fn: () => T): T {
    const prev = this.internal;
    this.internal = why;
    try {
      return fn();
    } finally {
      this.internal = prev;
    }
  }

  // ---- the engine's observer: written, logged, durable ----------------------------------------

  data_written(ino: number, off: number, len: number, inline: boolean): void {
    const l = this.ledger;
    if (l === null) return;
    const t = wall_of(performance.now());
    const c = this.cur;
    const pid = c >= 0 ? this.fPid[c]! : 0;
    l.written(ino, t, len, pid);
    const path = shown(this.src.path_of(ino));
    this.data_emit({ time: iso_us(t), op: 'written', pid, comm: '', uid: c >= 0 ? this.fUid[c]! : 0, ino, path, off, len, inline }, [pid]);
    if (inline) this.data_logged(ino, 0, 0);
  }

  data_logged(ino: number, blocks: number, patchBytes: number): void {
    const l = this.ledger;
    if (l === null) return;
    const b = l.logged(ino);
    if (b === undefined && blocks === 0 && patchBytes === 0) return;
    const t = wall_of(performance.now());
    const ev = this.cause_event(t, 'logged', ino, b);
    ev.blocks = blocks;
    ev.patchBytes = patchBytes;
    if (b !== undefined) ev.waitUsMax = Math.round((t - b.first) * 1000);
    this.data_emit(ev, b?.pids ?? []);
  }

  data_dropped(ino: number): void {
    this.ledger?.drop(ino);
  }

  durable(phase: 'begin' | 'end', what: 'checkpoint' | 'redo', seq: number): void {
    const l = this.ledger;
    if (l === null) return;
    const t = wall_of(performance.now());
    if (phase === 'begin') {
      this.flushT0 = t;
      return;
    }
    for (const ino of l.logged_inodes()) {
      const b = l.durable_take(ino)!;
      const ev = this.cause_event(t, 'durable', ino, b);
      ev.via = what === 'redo' ? 'fsync' : 'checkpoint';
      ev.seq = seq;
      ev.waitUsMax = Math.round((t - b.first) * 1000);
      ev.waitUsMin = Math.round((t - b.last) * 1000);
      ev.flushUs = Math.max(1, Math.ceil((t - this.flushT0) * 1000));
      this.data_emit(ev, b.pids);
    }
  }

  /** A logged or durable event: the bytes moved, and the request (or internal work) that moved them. */
  private cause_event(t: number, op: 'logged' | 'durable', ino: number, b: Batch | undefined): TraceEvent {
    const c = this.cur;
    const ev: TraceEvent = {
      time: iso_us(t), op, pid: c >= 0 ? this.fPid[c]! : 0, comm: '', uid: c >= 0 ? this.fUid[c]! : 0, ino, path: shown(this.src.path_of(ino)),
      writes: b?.writes ?? 0, bytes: b?.bytes ?? 0,
    };
    ev.cause = c >= 0 ? REQUEST_OPS[this.fOp[c]! - 1]! : this.internal;
    if (c >= 0 && this.fIno[c]! > 0) {
      ev.causeIno = this.fIno[c]!;
      ev.causePath = shown(this.fPath[c]!);
    }
    if (b !== undefined) ev.pids = b.pids;
    return ev;
  }

  /** Hands a data event to the tracers that follow durability and match it (by its path, the writers or the cause). */
  private data_emit(ev: TraceEvent, writers: number[]): void {
    let line: string | undefined;
    for (const t of this.tracers) {
      if (!t.data || !t.ops.has(ev.op)) continue;
      if (t.f.paths !== null && !t.f.paths.some((p) => path_under(ev.path, p))) continue;
      if (t.f.pids !== null && !t.f.pids.includes(ev.pid) && !writers.some((p) => t.f.pids!.includes(p))) continue;
      if (t.f.comms !== null && ![ev.pid, ...writers].some((p) => t.f.comms!.includes(this.comms.comm_of(p)))) continue;
      if (ev.comm === '') ev.comm = this.comms.comm_of(ev.pid);
      line ??= JSON.stringify(ev);
      if (!t.queue.reserve(5 + 3 * line.length)) continue;
      t.queue.commit(line_record_put(t.queue.buf, t.queue.pos, line));
      this.queued(t);
    }
  }

  // ---- tracers --------------------------------------------------------------------------------

  /**
   * A record was queued for `t`. The socket is written FLUSH_MS after the first record waiting,
   * or at once when a chunk is full: one write (and one wake-up of the tracer) per chunk, not
   * per event.
   */
  private queued(t: Tracer): void {
    if (t.closed) return;
    if (t.queue.full || t.queue.size >= t.queue.capacity / 2) this.pump_soon(t);
    else if (t.timer === null) {
      t.timer = setTimeout(() => {
        t.timer = null;
        this.pump(t);
      }, FLUSH_MS);
      t.timer.unref();
    }
  }

  private pump_soon(t: Tracer): void {
    if (t.scheduled) return;
    t.scheduled = true;
    setImmediate(() => {
      t.scheduled = false;
      this.pump(t);
    });
  }

  /** Writes what the queue holds while the socket takes it; the rest waits for 'drain'. */
  private pump(t: Tracer): void {
    if (t.closed) return;
    while (t.sock.writableLength < STREAM_HWM) {
      const chunk = t.queue.take();
      if (chunk === null) break;
      t.sock.write(t.format === 'binary' ? chunk : chunk_lines(chunk, t.format));
    }
    if (t.queue.lost > 0) t.sock.write(this.framed(t, JSON.stringify({ lost: t.queue.lost_take(), time: iso_us(wall_of(performance.now())) })));
    // more to send and room for it: go on after other work; otherwise 'drain' calls again
    if (t.queue.size > 0 && t.sock.writableLength < STREAM_HWM) this.pump_soon(t);
  }

  /** A line of the stream's own (lost, end) as `t`'s format carries it. */
  private framed(t: Tracer, line: string): string | Buffer {
    return t.format === 'binary' ? line_record(line) : line + '\n';
  }

  /** Attaches a tracer to `sock` (after its reply line was written); it lives until the socket closes. */
  trace_attach(sock: Socket, f: TraceFilter, ring = RING_EVENTS, format: TraceFormat = 'json'): void {
    const ops = new Set<string>(f.ops ?? (f.durability ? DATA_OPS : REQUEST_OPS));
    const data = f.durability || DATA_OPS.some((o) => ops.has(o));
    const t: Tracer = {
      f, ops, opMask: Uint8Array.from(REQUEST_OPS, (o) => (ops.has(o) ? 1 : 0)), data,
      rawPaths: f.paths?.map((p) => Buffer.from(p, 'utf8').toString('latin1')) ?? null,
      queue: new RecordQueue(ring), format, sock, scheduled: false, timer: null, closed: false,
    };
    const gone = (): void => {
      if (t.closed) return;
      t.closed = true;
      this.tracers.delete(t);
      this.flags();
    };
    sock.on('drain', () => this.pump(t));
    sock.on('close', gone);
    sock.on('error', gone);
    // the tracer sends nothing after its request; a line from it means it wants to stop
    sock.on('data', () => sock.end());
    this.tracers.add(t);
    this.flags();
  }

  /**
   * A device write (while a top is attached): file data is counted for its file and the process
   * that last wrote it; a write without a file (redo of an fsync of no file, a checkpoint's
   * nodes and tables) for the request being served, if any.
   */
  device_written(tag: WriteTag | undefined, bytes: number): void {
    const a = this.activity;
    if (a === null) return;
    const c = this.cur;
    let ino = tag?.ino ?? 0;
    let pid = ino !== 0 ? this.src.writer_of(ino) : 0;
    if (ino === 0 && c >= 0) { ino = this.fIno[c]!; pid = this.fPid[c]!; }
    if (pid === 0 && c >= 0 && this.fIno[c] === ino) pid = this.fPid[c]!;
    if (ino === 0 && pid === 0) return;
    a.device(pid, () => this.comms.comm_of(pid), ino, bytes);
  }

  /** Attaches a `top`: a snapshot of the activity table now and every `intervalMs`. */
  top_attach(sock: Socket, intervalMs: number): void {
    if (this.activity === null) {
      this.activity = new Activity();
      this.src.device_listen((tag, bytes) => this.device_written(tag, bytes));
    }
    const w: Watcher = { sock, last: -1, timer: setInterval(() => send(), intervalMs) };
    const send = (): void => {
      if (this.activity === null || sock.writableLength > TOP_HWM) return;
      const snap = this.activity.rows_since(w.last);
      w.last = snap.seq;
      sock.write(JSON.stringify({ time: iso_us(Date.now()), top: snap }) + '\n');
    };
    const gone = (): void => {
      if (!this.watchers.delete(w)) return;
      clearInterval(w.timer);
      if (this.watchers.size === 0) {
        this.activity = null;
        this.src.device_listen(null);
      }
      this.flags();
    };
    sock.on('close', gone);
    sock.on('error', gone);
    sock.on('data', () => sock.end());
    this.watchers.add(w);
    this.flags();
    send();
  }

  private flags(): void {
    const on = this.tracers.size > 0 || this.watchers.size > 0;
    if (on !== this.on) this.src.following(on);
    this.on = on;
    const data = [...this.tracers].some((t) => t.data);
    if (data && this.ledger === null) {
      this.ledger = new WriteLedger();
      this.src.observe(this);
    } else if (!data && this.ledger !== null) {
      this.ledger = null;
      this.src.observe(null);
    }
  }

  /** A bug in the tracing code: logged, and every tracer and top detached so the mount goes on. */
  private fail(e: unknown): void {
    this.log(`tracing failed, tracers detached: ${(e as Error)?.stack ?? String(e)}`);
    this.close('tracing failed inside the server (see its log)');
  }

  /** Ends every stream with {"end": why} (the mount is going away). */
  close(why: string): void {
    const line = JSON.stringify({ end: why, time: iso_us(Date.now()) });
    for (const t of [...this.tracers]) {
      this.pump(t);
      t.sock.end(this.framed(t, line));
    }
    for (const w of [...this.watchers]) w.sock.end(line + '\n');
    this.tracers.clear();
    for (const w of this.watchers) clearInterval(w.timer);
    this.watchers.clear();
    this.activity = null;
    this.flags();
  }

  /** Latency histograms per request kind since the mount started. */
  stats(): TraceStats {
    const latency: Record<string, HistogramJson> = {};
    for (const [op, h] of [...this.latency].sort((a, b) => b[1].count - a[1].count)) if (h.count > 0) latency[op] = h.toJSON();
    return { sinceMs: this.sinceMs, latency };
  }
}

/** The lines (JSON, or the aligned text) of a chunk of records, each ending with a newline. */
function chunk_lines(chunk: Buffer, format: 'json' | 'text'): string {
  let out = '';
  for (let p = 0; p < chunk.length; p += chunk.readUInt32LE(p)) out += (format === 'json' ? record_json(chunk, p) : record_text(chunk, p)) + '\n';
  return out;
}
