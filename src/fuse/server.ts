// The cowlog FUSE server: one device served at one mountpoint until it is unmounted
// (`cowlog umount`, umount(8), fusermount -u) or gets SIGTERM/SIGINT.
//
// Life of a server:
//   1. checks: the mountpoint (a stale cowlog mount there is cleaned up first), the device
//      claim (runtime.ts), the device opened exclusively, the filesystem mounted by the engine
//      (roll-forward of what fsync made durable happens here);
//   2. serving: FUSE requests (ops.ts, each through the trace hub: trace.ts), a 1 s timer
//      driving fs.tick() (a checkpoint every 30 s when something changed), the control socket
//      (control.ts), tracers and tops streaming from it;
//   3. stopping: the mount is gone, then the final checkpoint, the device closed, the wear file
//      saved, the state files removed — in that order, so `cowlog umount` (which waits for this
//      process to exit) returns with everything on disk.
//
// Invariants:
// - The process never touches its own mount: the log and wear files must lie outside it, and
//   the mount's liveness is read from /proc/self/mountinfo.
// - The parent waiting on `readyFd` gets exactly one JSON line: {"ready":true,...} once the
//   kernel's INIT reached the handlers, or {"error":"..."} with a one-line reason.
// - No exception ends the process silently: engine bugs break the mount read-only (ops.ts),
//   anything else reaching the event loop is logged with its stack and does the same.

import fs from 'node:fs';
import path from 'node:path';
import { device_open, discarder_set, write_protected } from '../device/file.js';
import type { FileDevice } from '../device/file.js';
import type { BlockDevice } from '../device/device.js';
import { FileSystem } from '../fs/fs.js';
import type { SnapReply, SnapRequest } from '../fs/fs.js';
import type { BootReport } from '../checkpoint/volume.js';
import { ERRORS_FOUND, MOUNT_ERRORS_WARNING } from '../checkpoint/mount.js';
import { WearTracker } from '../wear/tracker.js';
import { FsError } from '../util/errors.js';
import { binding_load, CAP, FuseBindingError, FuseMount, FUSE_HANDLE_KILLPRIV_V2, FUSE_SETXATTR_EXT, fuse_serve } from './binding.js';
import type { FuseMountOptions } from './binding.js';
import { control_listen, STREAM } from './control.js';
import type { ControlReply, ControlRequest, ControlStatus } from './control.js';
import { logger_open } from './log.js';
import type { Logger } from './log.js';
import { CowlogOps } from './ops.js';
import { RING_EVENTS, TraceHub, trace_filter_parse } from './trace.js';
import { remount_fixed_changed } from './options.js';
import type { MountConfig } from './options.js';
import { resident_allowance, ResidentBound } from './resident.js';
import { RING_BYTES_DEFAULT } from '../device/writebehind.js';
import { SNAP_FLAG_WRITABLE } from '../format/snapshot.js';
import {
  cmd, device_claim_stopping, device_claim_wait, device_ids, device_release, fuse_readahead_set, mount_find, mountpoint_stale_clean, run_dir,
  socket_path, state_remove, state_write, states_sweep,
} from './runtime.js';
import type { ServerState } from './runtime.js';

/** What a remount read-write answers when the filesystem's recorded errors keep it read-only. */
const REMOUNT_ERRORS_REFUSAL = `${ERRORS_FOUND}: it stays read-only; run cowlog fsck for the list, or remount with -o force to write anyway`;

export const LOG_DIR_DEFAULT = '/var/log/cowlog';
const TICK_MS = 1000;
/** snapshot requests this close together share one checkpoint */
const SNAP_BATCH_MS = 20;

export interface ServerOptions {
  device: string;
  mountpoint: string;
  config: MountConfig;
  /** a pipe to the parent `cowlog mount` that waits for one JSON line (daemon mode) */
  readyFd: number | null;
  /** copy log lines to stderr (foreground mode) */
  echo: boolean;
}

/** The log of a device when none is named: beside an image file, under /var/log/cowlog for a block device. */
export function log_path_default(device: string): string {
  const abs = path.resolve(device);
  try {
    if (fs.statSync(abs).isFile()) return `${abs}.log`;
  } catch {
    // missing: the mount fails later with the reason; the log goes to the default place
  }
  return path.join(LOG_DIR_DEFAULT, `${path.basename(abs)}.log`);
}

function inside(dir: string, p: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** fuse-native's fsname must be one word; the device path is, nearly always. */
function fsname_of(device: string): string {
  return /^[^,\s=]+$/.test(device) ? device : `cowlog-${Buffer.from(device).toString('hex').slice(-24)}`;
}

/** The tree a mount serves and why, for its log and the line `cowlog mount` prints. */
function boot_note(b: BootReport): string {
  switch (b.kind) {
    case 'explicit': return `${b.tree} (named at mount)`;
    case 'default': return `${b.tree} (the default tree)`;
    case 'trial': return `${b.tree} on trial (mount ${b.tryNo} of ${b.tries}${b.counted ? '' : ', read-only: not counted'}; 'cowlog snapshot mark-good MOUNTPOINT' keeps it)`;
    case 'fallback': return `${b.tree} again: the trial of ${b.failed} ran out after ${b.tries} mount${b.tries > 1 ? 's' : ''} without mark-good`;
  }
}

function message_of(e: unknown): string {
  if (e instanceof FsError || e instanceof FuseBindingError) return e.message;
  const err = e as NodeJS.ErrnoException;
  return err?.message ?? String(e);
}

/**
 * The FUSE options of a cowlog mount (the benchmark's ceiling mounts nullfs with the same ones):
 * default_permissions always; set-user-ID, set-group-ID and file capabilities are cleared on
 * write, truncate and chown by cowlog (FUSE_HANDLE_KILLPRIV_V2, which the binding grants itself:
 * the kernel then stops asking for security.capability before every write; without it the
 * kernel clears them, as for ext4); readdirplus when the kernel sees a listing's entries are looked up (ls -l), plain
 * readdir otherwise (find); file handles (name_to_handle_at, open_by_handle_at: the kernel
 * looks an inode up by node id and generation when it holds it no longer); POSIX ACLs, which
 * the kernel enforces and caches while cowlog keeps and inherits them (the umask is then the
 * filesystem's to apply: a default ACL replaces it; set-group-ID taken away when a caller
 * outside the file's group sets its ACL: FUSE_SETXATTR_EXT, granted by the binding too); ioctls
 * on directories too (the shutdown ioctl and FITRIM are sent to the mountpoint, chattr's to
 * directories as well as files); no locks, no
 * splicing; cached data is dropped only when cowlog says so (a rollback), never because a
 * cached mtime moved (auto_inval_data); the device read for `spin=` microseconds after each
 * request before the server sleeps; with `writeback_cache`, the kernel's writeback cache (it
 * keeps written pages and their times, and sends both later: write-backs and setattr).
 */
export function cowlog_fuse_options(c: MountConfig): FuseMountOptions {
  return {
    fsname: 'cowlog', subtype: 'cowlog', defaultPermissions: true, allowOther: c.allowOther,
    want: CAP.ATOMIC_O_TRUNC | CAP.READDIRPLUS | CAP.READDIRPLUS_AUTO | CAP.PARALLEL_DIROPS | CAP.EXPORT_SUPPORT | CAP.IOCTL_DIR |
      (c.acl ? CAP.POSIX_ACL | CAP.DONT_MASK : 0) | (c.writebackCache ? CAP.WRITEBACK_CACHE : 0),
    unwant: CAP.HANDLE_KILLPRIV | CAP.POSIX_LOCKS | CAP.FLOCK_LOCKS | CAP.SPLICE_READ | CAP.SPLICE_WRITE | CAP.SPLICE_MOVE |
      CAP.AUTO_INVAL_DATA,
    kernelWant: FUSE_HANDLE_KILLPRIV_V2 | FUSE_SETXATTR_EXT,
    spinUs: c.spinUs,
  };
}

/** Serves until unmounted; resolves with the exit code. */
export async function server_run(o: ServerOptions): Promise<number> {
  const device = path.resolve(o.device);
  const mountpoint = path.resolve(o.mountpoint);
  const c = o.config;
  const t0 = Date.now();
  const startedAt = new Date(t0).toISOString();

  let readyFd = o.readyFd;
  const parent_tell = (msg: object): void => {
    if (readyFd === null) return;
    try {
      fs.writeSync(readyFd, JSON.stringify(msg) + '\n');
      fs.closeSync(readyFd);
    } catch {
      // the parent is gone
    }
    readyFd = null;
  };

  // -- the log first, so that every later failure is recorded
  const explicitLog = c.log !== null;
  let logPath = path.resolve(c.log ?? log_path_default(device));
  const wearPath = c.wear === null ? null : path.resolve(c.wear);
  for (const [what, p] of [['log', logPath], ['wear file', wearPath]] as const) {
    if (p !== null && inside(mountpoint, p)) {
      const msg = `the ${what} ${p} lies inside the mountpoint ${mountpoint}: it must be outside the filesystem it describes`;
      parent_tell({ error: msg });
      process.stderr.write(`cowlog mount: ${msg}\n`);
      return 2;
    }
  }
  let log: Logger;
  try {
    log = logger_open(logPath, o.echo);
  } catch (e) {
    if (explicitLog) {
      const msg = `can not open the log ${logPath}: ${message_of(e)}`;
      parent_tell({ error: msg });
      process.stderr.write(`cowlog mount: ${msg}\n`);
      return 1;
    }
    logPath = path.join(run_dir(), `${path.basename(device)}.log`);
    log = logger_open(logPath, o.echo);
  }
  const fail = (msg: string, code = 1): number => {
    log.error(`mount failed: ${msg}`);
    parent_tell({ error: msg, log: logPath });
    if (o.readyFd === null && !o.echo) process.stderr.write(`cowlog mount: ${msg}\n`);
    log.close();
    return code;
  };
  log.info(`cowlog mount ${device} ${mountpoint}: ${c.readOnly ? 'ro' : 'rw'}, attr_timeout=${c.attrTimeout}, ` +
    `entry_timeout=${c.entryTimeout}, negative_timeout=${c.negativeTimeout}${c.commit !== null ? `, commit=${c.commit}` : ''}${c.allowOther ? ', allow_other' : ''}${c.kernel.length ? `, ${c.kernel.join(',')}` : ''}` +
    `${wearPath ? `, wear ${wearPath}` : ''}`);

  // -- the mountpoint: a stale cowlog mount left by a killed server is cleaned up
  try {
    const did = await mountpoint_stale_clean(mountpoint);
    if (did.length) log.warn(`stale mount at ${mountpoint} cleaned up: ${did.join(', ')}`);
  } catch (e) {
    return fail(message_of(e));
  }
  const there = mount_find(mountpoint);
  if (there !== undefined) return fail(`${mountpoint} is already a mountpoint (${there.fstype} from ${there.source})`);
  try {
    const st = await fs.promises.stat(mountpoint);
    if (!st.isDirectory()) return fail(`${mountpoint}: the mountpoint is not a directory`);
  } catch (e) {
    return fail(`${mountpoint}: the mountpoint ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `can not be used (${message_of(e)})`}`);
  }

  // -- the device: claimed, opened exclusively, mounted by the engine
  let ids: string[];
  try {
    ids = device_ids(device);
  } catch (e) {
    return fail((e as NodeJS.ErrnoException).code === 'ENOENT' ? `${device}: no such image file or device` : `${device}: ${message_of(e)}`);
  }
  states_sweep();
  const claim = await device_claim_wait(ids, mountpoint);
  const holder = claim.holder;
  if (holder !== undefined) {
    return fail(holder.stopping
      ? `${device}: its previous server (pid ${holder.pid}, unmounted from ${holder.mountpoint}) has not finished stopping after ${(claim.waitedMs / 1000).toFixed(0)} s; see its log`
      : `${device} is already mounted on ${holder.mountpoint} (cowlog server pid ${holder.pid})`);
  }
  if (claim.waitedMs > 0) log.info(`waited ${claim.waitedMs} ms for the previous server of ${device} to finish stopping`);
  let file: FileDevice | undefined;
  let tracker: WearTracker | undefined;
  let fsys: FileSystem;
  /**
   * Opens the device and mounts the engine on it (at the start, and when a read-only mount is
   * remounted read-write). `carried` continues a wear record of this server's.
   */
  const engine_open = (readOnly: boolean, carried: WearTracker | undefined): { file: FileDevice; tracker: WearTracker | undefined; fsys: FileSystem } => {
    const f = device_open(device, { exclusive: true, readOnly, writeBehind: process.env['COWLOG_WRITE_BEHIND'] !== '0' });
    try {
      let dev: BlockDevice = f;
      let tr: WearTracker | undefined;
      if (wearPath !== null) {
        tr = new WearTracker(f);
        if (carried !== undefined) tr.continueFrom(carried.toRecord({ fs: 'cowlog', source: 'cowlog-tracker' }));
        else if (fs.existsSync(wearPath)) tr.continueFrom(WearTracker.load(wearPath));
        dev = tr;
      }
      const engine_mount = (ro: boolean): FileSystem => FileSystem.mount(dev, {
        readOnly: ro, log: (m) => log.info(`engine: ${m}`), atime: c.atime, nodiratime: c.nodiratime, acl: c.acl,
        // norecovery: the read-only mount asked for; a remount read-write rolls forward
        ...(ro && c.noRecovery ? { noRecovery: true } : {}),
        ...(c.compress !== null ? { compress: c.compress } : {}),
        ...(c.cache !== null ? { cacheBytes: c.cache } : {}),
        ...(c.force ? { force: true } : {}),
        ...(c.commit !== null ? { checkpointIntervalMs: c.commit * 1000 } : {}),
        // a plain mount boots: the tree on trial while tries are left, else the default tree
        // (a read-only one counts no try; its remount read-write does)
        ...(c.snapshot !== null ? { snapshot: c.snapshot } : { boot: true }),
      });
      let e2: FileSystem;
      try {
        e2 = engine_mount(readOnly);
      } catch (e) {
        // a snapshot (not a clone) is served read-only without being asked to
        if (!(c.snapshot !== null && !readOnly && e instanceof FsError && e.code === 'EROFS')) throw e;
        c.readOnly = true;
        log.info(`snapshot ${c.snapshot} is read-only: mounting it read-only`);
        e2 = engine_mount(true);
      }
      // the root inode is the first thing every client asks for: damage there fails the mount
      e2.getattr(1);
      return { file: f, tracker: tr, fsys: e2 };
    } catch (e) {
      f.close();
      throw e;
    }
  };
  const warnings: string[] = [];
  try {
    // a device nothing may write is mounted read-only with a warning, as mount(8) mounts a
    // kernel filesystem on one ("source write-protected, mounted read-only")
    if (!c.readOnly && write_protected(device)) {
      c.readOnly = true;
      warnings.push(`${device}: write-protected, mounted read-only`);
      log.warn(warnings[0]!);
    }
    ({ file, tracker, fsys } = engine_open(c.readOnly, undefined));
  } catch (e) {
    device_release(ids);
    return fail(message_of(e));
  }
  const r = fsys.vol.mount;
  log.info(`mounted checkpoint ${r.seq} (${r.clean ? 'clean unmount' : `NOT unmounted cleanly; ${r.groups} fsync groups rolled forward`})`);
  const serving = boot_note(r.boot);
  if (r.erroredReadOnly) {
    log.warn(MOUNT_ERRORS_WARNING);
    warnings.push(MOUNT_ERRORS_WARNING);
  }
  if (r.boot.kind === 'fallback') log.warn(`serving ${serving}`);
  else log.info(`serving ${serving}; boot state: ${fsys.vol.boot_describe()}`);
  if (!c.readOnly) log.info(`device writes: ${file!.writeBehind ? 'on a thread of their own' : 'synchronous (COWLOG_WRITE_BEHIND=0)'}`);

  let mount: FuseMount | undefined;
  const ops = new CowlogOps({
    fs: fsys, caller: () => mount!.caller(), log, reader: file!,
    attrTimeout: c.attrTimeout, entryTimeout: c.entryTimeout, negativeTimeout: c.negativeTimeout, heldMax: c.heldMax,
    selinuxXattr: c.selinuxXattr, btime: c.btime, writerPaths: wearPath !== null,
  });
  // the server's memory within mem= (resident.ts): near the bound the metadata caches give way
  const allowance = resident_allowance({ cache: fsys.vol.budgetBytes, ring: file!.writeBehind ? RING_BYTES_DEFAULT : 0, heldMax: c.heldMax }).total;
  const resident = c.mem === 0 ? null : new ResidentBound(c.mem ?? allowance, { scale: (f) => fsys.caches_scale(f), bytes: () => fsys.caches_bytes() });
  // the wear file names, per request, the process that last changed the file it was written for
  const wear_names = (): void => { if (tracker !== undefined) tracker.pidOf = (ino) => ops.writer_of(ino); };
  wear_names();
  /**
   * mount -o remount. Read-only: the engine flushes, writes a clean checkpoint and refuses
   * changes. Read-write: the engine writes again — or, when the mount was made read-only (the
   * device opened read-only), the device is opened again read-write and mounted anew (roll-forward
   * and recovery happen then), every open file carried over; if that fails, the read-only mount
   * is restored and the error returned. atime options take effect on the engine.
   */
  const remount = (o: { readOnly: boolean; atime: MountConfig['atime']; nodiratime: boolean }): string => {
    fsys.atime = c.atime = o.atime;
    fsys.nodiratime = c.nodiratime = o.nodiratime;
    if (o.readOnly || !fsys.vol.readOnly) {
      ops.remount(o.readOnly);
      c.readOnly = o.readOnly;
      return o.readOnly ? 'read-only: everything is durable (clean checkpoint), changes are refused' : 'read-write';
    }
    if (c.snapshot !== null && (fsys.vol.snaps.must(c.snapshot).flags & SNAP_FLAG_WRITABLE) === 0) {
      throw new FsError('EROFS', `snapshot ${c.snapshot} is read-only (clone it to write): it can not be remounted read-write`);
    }
    const old = { file: file!, tracker, fsys };
    fsys.unmount();
    file!.close();
    let next: ReturnType<typeof engine_open>;
    try {
      next = engine_open(false, old.tracker);
    } catch (e) {
      log.error(`remount read-write failed: ${message_of(e)}; serving read-only again`);
      ({ file, tracker, fsys } = engine_open(true, old.tracker));
      ops.engine_replace(fsys, file);
      wear_names();
      throw e instanceof FsError ? e : new FsError('EIO', message_of(e));
    }
    // the boot that chose the read-only tree chooses again: the same tree, or the mount would
    // change under its open files
    if (next.fsys.vol.treeIndex !== old.fsys.vol.treeIndex) {
      const was = boot_note(old.fsys.vol.mount.boot), now = boot_note(next.fsys.vol.mount.boot);
      next.fsys.unmount();
      next.file.close();
      ({ file, tracker, fsys } = engine_open(true, old.tracker));
      ops.engine_replace(fsys, file);
      wear_names();
      throw new FsError('EBUSY', `opened read-write the device would serve ${now}, not ${was}: unmount and mount again`);
    }
    ({ file, tracker, fsys } = next);
    ops.engine_replace(fsys, file);
    wear_names();
    // recorded errors keep the engine read-only unless forced: the mount stays as it was
    if (fsys.vol.mount.erroredReadOnly) throw new FsError('EROFS', REMOUNT_ERRORS_REFUSAL);
    c.readOnly = false;
    const mr = fsys.vol.mount;
    return `read-write: the device opened again, checkpoint ${mr.seq} mounted${mr.groups ? ` (${mr.groups} fsync groups rolled forward)` : ''}, serving ${boot_note(mr.boot)}`;
  };
  const hub = new TraceHub(ops.trace_source(), (m) => log.error(m));
  const close_engine = (): boolean => {
    let ok = true;
    try {
      hub.during('unmount', () => ops.close());
    } catch (e) {
      ok = false;
      log.error(`final checkpoint failed: ${(e as Error).stack ?? message_of(e)}`);
    }
    try { file!.close(); } catch { /* closed */ }
    if (file!.writeBehindTimeouts > 0) log.warn(`write-behind: ${file!.writeBehindTimeouts} waits for the write thread ended by their time limit`);
    if (tracker !== undefined && wearPath !== null) {
      try {
        const rec = tracker.toRecord({ fs: 'cowlog', source: 'cowlog-tracker' });
        const prev = rec.meta.runMs;
        // the files and processes the timeline names, by the paths and names this server saw
        // (an earlier run's stay, where this one saw nothing newer)
        const named = ops.writers_named(new Set(rec.ino ?? []), new Set(rec.pid ?? []));
        const old = (k: string): Record<string, string> => (typeof rec.meta[k] === 'object' && rec.meta[k] !== null ? rec.meta[k] as Record<string, string> : {});
        tracker.save(wearPath, {
          fs: 'cowlog', source: 'cowlog-tracker', startedAt,
          runMs: (typeof prev === 'number' ? prev : 0) + (Date.now() - t0),
          files: { ...old('files'), ...named.files }, processes: { ...old('processes'), ...named.processes },
        });
        log.info(`wear file ${wearPath}: ${tracker.hostBytes} host bytes in ${tracker.writeRequests} write requests`);
      } catch (e) {
        ok = false;
        log.error(`saving the wear file ${wearPath} failed: ${message_of(e)}`);
      }
    }
    return ok;
  };

  const on_uncaught = (e: unknown): void => {
    const err = e instanceof Error ? e : new Error(String(e));
    log.error(`uncaught: ${err.stack ?? err.message}`);
    ops.broken ??= `uncaught ${err.message}`;
  };
  process.on('uncaughtException', on_uncaught);
  process.on('unhandledRejection', on_uncaught);

  const extra = [...c.kernel];
  if (c.readOnly) extra.push('ro');
  try {
    mount = new FuseMount(mountpoint, { ...cowlog_fuse_options(c), fsname: fsname_of(device), extra });
    // FITRIM's discards go through the binding's native half, loaded now (device/file.ts)
    const native = binding_load().native;
    discarder_set((fd, off, len, block) => native.discard_range(fd, off, len, block));
  } catch (e) {
    close_engine();
    device_release(ids);
    return fail(message_of(e));
  }

  // -- serving
  let stop_now: (why: string) => void = () => {};
  const stop_when = new Promise<string>((ok) => { stop_now = ok; });
  let finished_ok: () => void = () => {};
  const finished = new Promise<void>((ok) => { finished_ok = ok; });
  let stopping = false;
  /** why the mount is going, when a control request asked for it */
  let unmountAsked: string | null = null;
  const status = (): ControlStatus => {
    const s = fsys.statfs();
    return {
      pid: process.pid, device, mountpoint, readOnly: c.readOnly, broken: ops.broken, log: logPath, wear: wearPath,
      startedAt, openHandles: ops.handles.size, sizeBytes: s.blocks * s.frsize, freeBytes: s.bavail * s.frsize,
      checkpointSeq: fsys.vol.seq,
    };
  };
  // Snapshot requests arriving within SNAP_BATCH_MS of each other are applied together: one
  // checkpoint for all of them (batched root flips). A rollback's answer waits until the kernel
  // has dropped every name, attribute and page it cached of the tree before (held.ts), so that
  // nothing of the old tree is seen once it returns.
  let snapQueue: { reqs: SnapRequest[]; answer: (r: ControlReply) => void }[] = [];
  let snapTimer: NodeJS.Timeout | null = null;
  const snap_flush = (): void => {
    snapTimer = null;
    const q = snapQueue;
    snapQueue = [];
    const all = q.flatMap((x) => x.reqs);
    let replies: SnapReply[];
    try {
      replies = hub.during('snapshot', () => ops.snapshot(all));
    } catch (e) {
      const err = e instanceof FsError ? e : new FsError('EIO', message_of(e));
      replies = all.map(() => ({ ok: false, error: err }));
    }
    const okCount = replies.filter((r) => r.ok).length;
    if (okCount) log.info(`snapshot: ${all.map((r, i) => `${r.op} ${r.name}${replies[i]!.ok ? '' : ' (refused)'}`).join(', ')} in checkpoint ${fsys.vol.seq}`);
    const rolled = all.some((r, i) => r.op === 'rollback' && replies[i]!.ok);
    const send = (): void => {
      let k = 0;
      for (const x of q) {
        const mine = replies.slice(k, k + x.reqs.length);
        k += x.reqs.length;
        x.answer({
          ok: true, checkpointSeq: fsys.vol.seq,
          replies: mine.map((r) => (r.ok ? { ok: true, ...(r.kept ? { kept: r.kept } : {}), ...(r.note ? { note: r.note } : {}) } : { ok: false, error: r.error.message, errno: r.error.code })),
        });
      }
    };
    if (rolled) {
      ops.held.invalidate_all(mount!, performance.now()).then(send, (e: unknown) => {
        log.warn(`rollback: invalidating the kernel's caches failed: ${message_of(e)}`);
        send();
      });
    } else {
      send();
    }
  };
  const snap_requests = (raw: unknown): SnapRequest[] => {
    if (!Array.isArray(raw) || raw.length === 0 || raw.length > 1024) throw new FsError('EINVAL', '"reqs" must be a list of 1 to 1024 snapshot requests');
    return raw.map((r: unknown): SnapRequest => {
      const x = r as Record<string, unknown>;
      // asked through the mount: the tree it serves is the one to keep (no name needed)
      if (x?.['op'] === 'mark-good') return { op: 'mark-good', name: '@live' };
      const name = x?.['name'];
      if (typeof name !== 'string') throw new FsError('EINVAL', 'each snapshot request needs a string "name"');
      switch (x['op']) {
        case 'create': case 'delete': return { op: x['op'], name };
        case 'rollback': return { op: 'rollback', name, discard: x['discard'] === true };
        case 'clone':
          if (typeof x['from'] !== 'string') throw new FsError('EINVAL', 'a clone request needs a string "from"');
          return { op: 'clone', from: x['from'], name };
        case 'set-default': {
          const trial = x['trial'];
          if (trial !== undefined && typeof trial !== 'number') throw new FsError('EINVAL', 'a set-default request\'s "trial" is a number of mounts');
          return { op: 'set-default', name, ...(trial !== undefined ? { trial } : {}) };
        }
        default: throw new FsError('EINVAL', `unknown snapshot request '${String(x?.['op'])}' (create, delete, rollback, clone, set-default, mark-good)`);
      }
    });
  };
  const control = async (req: ControlRequest): Promise<ControlReply> => {
    switch (req.op) {
      case 'snapshot': {
        const reqs = snap_requests(req['reqs']);
        if (c.readOnly) throw new FsError('EROFS', `${mountpoint} is mounted read-only: snapshots cannot change through it`);
        return new Promise<ControlReply>((answer) => {
          snapQueue.push({ reqs, answer });
          snapTimer ??= setTimeout(snap_flush, SNAP_BATCH_MS);
        });
      }
      case 'snapshot-list': {
        // what snapshots hold takes walks of whole trees on the serving thread: only when asked
        const usage = req['usage'] === true;
        return { ok: true, list: fsys.snapshot_list({ usage }), ...(usage ? { heldBytes: fsys.snapshot_held_bytes() } : {}), mounted: fsys.snapshotMounted, boot: fsys.boot_status() };
      }
      case 'snapshot-diff': {
        const a = req['a'], b = req['b'];
        if (typeof a !== 'string' || typeof b !== 'string') throw new FsError('EINVAL', 'snapshot-diff needs string "a" and "b"');
        return { ok: true, diff: fsys.snapshot_diff(a, b) };
      }
      case 'status':
        return { ok: true, status: status() };
      case 'remount': {
        const ro = req['readOnly'];
        const atime = req['atime'] ?? c.atime;
        const nodiratime = req['nodiratime'] ?? c.nodiratime;
        const commit = req['commit'] ?? c.commit;
        const compress = req['compress'] ?? c.compress;
        const fixed = req['fixed'] ?? {};
        if (typeof ro !== 'boolean' || !['relatime', 'strictatime', 'noatime'].includes(atime as string) || typeof nodiratime !== 'boolean' ||
          !(commit === null || (typeof commit === 'number' && commit >= 1 && commit <= 86400)) || !(compress === null || compress === 'lz4' || compress === 'none') ||
          typeof fixed !== 'object' || fixed === null) {
          throw new FsError('EINVAL', 'remount needs a boolean "readOnly" (and optional "atime", "nodiratime", "commit", "compress", "force", "fixed")');
        }
        const changed = remount_fixed_changed(c, fixed as Record<string, unknown>);
        if (changed.length > 0) {
          throw new FsError('EINVAL', `a remount can not change ${changed.join(', ')}: ${changed.length > 1 ? 'they are' : 'it is'} set when mounting (unmount and mount again)`);
        }
        // force decides whether a read-write engine opens despite recorded errors: before
        if (req['force'] === true) c.force = true;
        const did = remount({ readOnly: ro, atime: atime as MountConfig['atime'], nodiratime });
        // on the engine serving now (a remount read-write may have opened another)
        if (commit !== c.commit) { c.commit = commit as number; fsys.intervalMs = c.commit * 1000; }
        if (compress !== c.compress) { c.compress = compress as 'lz4' | 'none'; fsys.compress_default_set(c.compress === 'lz4'); }
        log.info(`remounted ${did}; atime ${c.atime}${c.nodiratime ? ', nodiratime' : ''}${c.commit !== null ? `, commit=${c.commit}` : ''}${c.compress !== null ? `, compress=${c.compress}` : ''}`);
        if (state !== undefined && state.readOnly !== c.readOnly) {
          state.readOnly = c.readOnly;
          try { state_write(state); } catch (e) { log.warn(`can not update the server state: ${message_of(e)}`); }
        }
        return { ok: true, readOnly: c.readOnly };
      }
      case 'stats':
        return { ok: true, stats: { ...hub.stats(), requests: Object.fromEntries(ops.requests), binding: { getxattrNone: mount?.noXattr.answered ?? 0 }, engine: { ...fsys.vol.stats }, memory: { ...fsys.memory(), held: ops.held.size, heldMax: ops.held.max, heldAsked: ops.held.asked, resident: resident?.stats() ?? null } } };
      case 'trace': {
        const f = trace_filter_parse(req['filter']);
        const ring = req['ring'] ?? RING_EVENTS;
        if (typeof ring !== 'number' || !Number.isSafeInteger(ring) || ring < 64 || ring > 1 << 20) throw new FsError('EINVAL', '"ring" must be 64 to 1048576 events');
        const format = req['format'] ?? 'json';
        if (format !== 'json' && format !== 'text' && format !== 'binary') throw new FsError('EINVAL', '"format" must be "json", "text" or "binary"');
        return { ok: true, [STREAM]: (sock) => hub.trace_attach(sock, f, ring, format) };
      }
      case 'top': {
        const ms = req['intervalMs'] ?? 1000;
        if (typeof ms !== 'number' || !(ms >= 100 && ms <= 3_600_000)) throw new FsError('EINVAL', '"intervalMs" must be 100 to 3600000');
        return { ok: true, [STREAM]: (sock) => hub.top_attach(sock, ms) };
      }
      case 'sync':
        if (c.readOnly) return { ok: true };
        hub.during('sync', () => ops.sync());
        log.info('checkpoint written (control: sync)');
        return { ok: true };
      case 'unmount': {
        const lazy = req.lazy === true;
        if (!stopping) {
          // the kernel may tell of the unmount (FuseMount.ended) before fusermount returns
          unmountAsked = lazy ? 'detached by cowlog umount -l' : 'unmounted by cowlog umount';
          const u = await cmd('fusermount', [lazy ? '-uz' : '-u', mountpoint], 60_000);
          if (u.code !== 0) unmountAsked = null;
          if (u.code !== 0 && mount_find(mountpoint) !== undefined) {
            const busy = /busy/i.test(u.stderr);
            return { ok: false, errno: busy ? 'EBUSY' : 'EIO',
              error: busy ? `${mountpoint}: target is busy (files are open or a process works inside it; close them, or unmount lazily with -l)`
                : `${mountpoint}: fusermount failed: ${u.stderr.trim()}` };
          }
          stop_now(lazy ? 'detached by cowlog umount -l' : 'unmounted by cowlog umount');
        }
        // detached lazily, the server finishes when the last open file is closed: no waiting
        if (lazy) return { ok: true, detached: true, openFiles: ops.handles.size };
        await finished;
        return { ok: true, wear: wearPath };
      }
      default:
        return { ok: false, errno: 'EINVAL', error: `unknown control request '${req.op}' (status, stats, trace, top, sync, remount, unmount, snapshot, snapshot-list, snapshot-diff)` };
    }
  };

  // a foreground server whose terminal goes away unmounts cleanly instead of dying by SIGHUP
  const on_hup = (): void => stop_now('SIGHUP');
  process.on('SIGHUP', on_hup);
  let ctl: Awaited<ReturnType<typeof control_listen>> | undefined;
  let state: ServerState | undefined;
  const timer = setInterval(() => hub.during('timer', () => {
    ops.tick(Date.now());
    if (resident === null || stopping) return;
    // an engine mounted anew (remount) starts with whole shares
    if (fsys.cacheScale !== resident.cacheScale) fsys.caches_scale(resident.cacheScale);
    resident.tick();
  }), TICK_MS);
  timer.unref();
  let why: string;
  try {
    ops.notifier_set(mount);
    ops.noxattr_set(mount.noXattr);
    why = await fuse_serve(mount, ops.ops(mount, hub), () => {
      state = {
        pid: process.pid, device, mountpoint, socket: socket_path(mountpoint), log: logPath, wear: wearPath,
        readOnly: c.readOnly, fsname: fsname_of(device), startedAt,
      };
      try {
        state_write(state);
      } catch (e) {
        log.warn(`can not write the server state in ${run_dir()}: ${message_of(e)}; cowlog umount will fall back to fusermount`);
      }
      resident?.start();
      const sock = state.socket;
      control_listen(sock, control).then((s) => { ctl = s; }, (e: unknown) => {
        log.warn(`no control socket at ${sock}: ${message_of(e)}`);
      });
      const ra = fuse_readahead_set(mountpoint);
      if (ra !== null) log.info(`the kernel's read-ahead stays at its default: ${ra}`);
      log.info(`serving ${device} on ${mountpoint} (pid ${process.pid}, log ${logPath})`);
      // the tree is named when there is a choice to tell about (not a plain mount of the main tree)
      const told = r.boot.kind === 'default' && r.boot.tree === '@main' ? {} : { serving };
      parent_tell({ ready: true, pid: process.pid, log: logPath, device, mountpoint, ...told, ...(warnings.length > 0 ? { warning: warnings.join('; ') } : {}) });
    }, stop_when);
  } catch (e) {
    clearInterval(timer);
    close_engine();
    state_remove(mountpoint, process.pid);
    device_release(ids);
    return fail(message_of(e));
  }
  stopping = true;
  if (why === 'unmounted from outside' && unmountAsked !== null) why = unmountAsked;
  // a `cowlog mount` of this device from now on waits for the release below instead of failing
  try {
    device_claim_stopping(ids);
  } catch (e) {
    log.warn(`can not mark the device claim as stopping: ${message_of(e)}`);
  }
  // Detached while files are still open (umount -l, fusermount -uz, cowlog umount -l): the
  // kernel keeps the connection, and the server keeps serving those files until the last one
  // is closed, as the kernel keeps a lazily unmounted filesystem. The kernel may end the
  // connection with that last close without sending its release, so the connection's end
  // (fusectl) counts as well. A signal stops it at once.
  if (!/^SIG/.test(why) && ops.handles.size > 0) {
    log.info(`${why}: ${ops.handles.size} files are still open; serving them until they are closed`);
    let signalled = false;
    const on_sig = (): void => { signalled = true; };
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(sig, on_sig);
    while (ops.handles.size > 0 && !signalled && !mount.connectionEnded) await Promise.race([mount.ended, new Promise((ok) => setTimeout(ok, 100))]);
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.off(sig, on_sig);
  }
  clearInterval(timer);
  const tStop = Date.now();
  log.info(`stopping: ${why}`);
  const ok = close_engine();
  // the engine is gone: a connection still alive (a signal while files were open) ends now
  mount.close();
  hub.close('the mount was unmounted');
  state_remove(mountpoint, process.pid);
  finished_ok();
  if (ctl !== undefined) await ctl.drain();
  ctl?.close();
  // last: a new server of this device may start the moment the claim is gone
  device_release(ids);
  log.info(`requests: ${[...ops.requests].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`);
  log.info(`stopped after ${((Date.now() - t0) / 1000).toFixed(1)} s (${Date.now() - tStop} ms to stop)${ops.broken ? ` (read-only since: ${ops.broken})` : ''}`);
  log.close();
  process.off('uncaughtException', on_uncaught);
  process.off('unhandledRejection', on_uncaught);
  process.off('SIGHUP', on_hup);
  return ok ? 0 : 1;
}
