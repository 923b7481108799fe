// The operations `cowlog crash-table` cuts the power in, and the small filesystem they start from.
//
// Each operation is what a careful program does, ended by the durability point that makes it
// durable: a POSIX change followed by fsync(2) (the redo path: one redo group and one flush) or by
// sync(2) (a checkpoint: nodes, tables, journal, flush, header, flush); a snapshot operation (its
// own checkpoint); and the A/B boot steps — set-default, a mount that counts a trial try (and its
// unmount), mark-good on the mount that serves the tree on trial.
//
// Invariants: building an image and running an operation are deterministic (fixed UUID, fixed
// clocks, no randomness), so every run of an operation issues the same device requests, and a
// crash point names the same request in every run; every operation changes the state.

import { MemoryDevice } from '../device/memory.js';
import type { BlockDevice } from '../device/device.js';
import { FileSystem } from '../fs/fs.js';
import type { FsOptions } from '../fs/fs.js';
import { clock_fixed } from '../checkpoint/clock.js';
import { Prng } from '../util/prng.js';

export const CRASH_UUID = Buffer.from('c7a5a7ab1e000000000000000000c0de', 'hex');
/** 8 MiB, 8-block segments, fanout 4: trees several levels deep, tables and journal in play */
const IMAGE_BLOCKS = 2048;

/** The clock of the mount an operation runs in (the same in every run, so times match). */
export function op_clock(): ReturnType<typeof clock_fixed> {
  return clock_fixed(1_700_000_100);
}

function bytes(seed: number, n: number): Buffer {
  return Buffer.from(new Prng(seed).fill(new Uint8Array(n)).buffer);
}

function op_ok(fs: FileSystem, reqs: Parameters<FileSystem['snapshot']>[0]): void {
  const r = fs.snapshot(reqs);
  const bad = r.find((x) => !x.ok);
  if (bad && !bad.ok) throw new Error(`crash table: ${reqs.map((q) => q.op).join(', ')} refused: ${bad.error.message}`);
}

/** The images an operation may start from. */
export type CrashImage = 'base' | 'trial' | 'trial-unclean';

/**
 * The starting image: system A in the main tree (directories, inline, one-block and many-block
 * files), a read-only snapshot A of it, and a clone B upgraded to "version B". 'trial': B is also
 * on trial for two mounts; 'trial-unclean': and the last mount, of A, lost its power after two
 * fsyncs (a new file, then a small append logged as a patch), so the next mount rolls A forward
 * before it switches to B.
 */
export function crash_image(kind: CrashImage = 'base'): Buffer {
  const dev = new MemoryDevice(IMAGE_BLOCKS, 'crash-table');
  FileSystem.mkfs(dev, { segBlocks: 8, fanout: 4, uuid: Buffer.from(CRASH_UUID), clock: clock_fixed() });
  let fs = FileSystem.mount(dev, { clock: clock_fixed(1_700_000_010) });
  const etc = fs.mkdir(1, 'etc', 0o755).ino;
  const usr = fs.mkdir(1, 'usr', 0o755).ino;
  const lib = fs.mkdir(usr, 'lib', 0o755).ino;
  const v = fs.mkdir(1, 'var', 0o755).ino;
  const log = fs.mkdir(v, 'log', 0o750).ino;
  fs.write(fs.create(etc, 'os-release', 0o644).ino, 0, Buffer.from('NAME=cowlog-demo\nVERSION=A\n'));
  fs.write(fs.create(lib, 'big', 0o644).ino, 0, bytes(1, 40 * 1024));
  fs.write(fs.create(log, 'app.log', 0o640).ino, 0, bytes(2, 3000));
  fs.write(fs.create(usr, 'old', 0o644).ino, 0, bytes(3, 9000));
  for (let i = 0; i < 30; i++) fs.write(fs.create(lib, `f${i}`, 0o644).ino, 0, bytes(10 + i, 200 + i * 100));
  op_ok(fs, [{ op: 'create', name: 'A' }, { op: 'clone', from: 'A', name: 'B' }]);
  fs.unmount();
  fs = FileSystem.mount(dev, { clock: clock_fixed(1_700_000_020), snapshot: 'B' });
  const osr = fs.resolve('/etc/os-release');
  fs.truncate(osr, 0);
  fs.write(osr, 0, Buffer.from('NAME=cowlog-demo\nVERSION=B\n'));
  const opt = fs.mkdir(1, 'opt', 0o755).ino;
  fs.write(fs.create(opt, 'feature', 0o644).ino, 0, bytes(4, 6000));
  fs.unmount();
  if (kind !== 'base') {
    fs = FileSystem.mount(dev, { clock: clock_fixed(1_700_000_030) });
    op_ok(fs, [{ op: 'set-default', name: 'B', trial: 2 }]);
    fs.unmount();
  }
  if (kind === 'trial-unclean') {
    fs = FileSystem.mount(dev, { clock: clock_fixed(1_700_000_040), snapshot: '@main' });
    const ino = fs.create(fs.resolve('/var/log'), 'boot.log', 0o640).ino;
    fs.write(ino, 0, bytes(7, 6000));
    fs.fsync(ino);
    fs.write(ino, 6000, Buffer.from('last line before the power went\n'));
    fs.fsync(ino);
    fs.vol.abandon(); // no unmount: the power went
  }
  return dev.image();
}

export interface CrashOp {
  /** the operation, as the table names it */
  name: string;
  /** what makes it durable: 'fsync', 'sync', 'checkpoint' (its own) or 'mount' */
  durable: string;
  /** one line for the table's legend */
  what: string;
  /** the image it starts from */
  image: CrashImage;
  /** how the device is mounted before the operation starts; null: the operation mounts */
  mount: FsOptions | null;
  /** the operation itself, ended by its durability point (power may go at any request inside) */
  run(dev: BlockDevice, fs: FileSystem | null): void;
}

type Posix = (fs: FileSystem) => number;

/** The POSIX changes: each returns the inode its fsync makes durable (`synced` names it). */
const POSIX: { name: string; what: string; synced?: string; change: Posix }[] = [
  { name: 'create', what: 'create /etc/new.conf (empty)', change: (fs) => fs.create(fs.resolve('/etc'), 'new.conf', 0o644).ino },
  {
    name: 'append', what: 'append 5000 bytes to /var/log/app.log (3000 bytes)',
    change: (fs) => { const ino = fs.resolve('/var/log/app.log'); fs.write(ino, fs.getattr(ino).size, bytes(5, 5000)); return ino; },
  },
  {
    name: 'overwrite', what: 'overwrite 8 KiB in the middle of /usr/lib/big (40 KiB)',
    change: (fs) => { const ino = fs.resolve('/usr/lib/big'); fs.write(ino, 12288, bytes(6, 8192)); return ino; },
  },
  { name: 'truncate', what: 'truncate /usr/lib/big from 40 KiB to 5000 bytes', change: (fs) => { const ino = fs.resolve('/usr/lib/big'); fs.truncate(ino, 5000); return ino; } },
  { name: 'unlink', what: 'unlink /usr/old (9000 bytes)', synced: '/usr', change: (fs) => { const usr = fs.resolve('/usr'); fs.unlink(usr, 'old'); return usr; } },
  {
    name: 'rename', what: 'rename /var/log/app.log to /var/app.log.1 (another directory)', synced: '/var',
    change: (fs) => { const v = fs.resolve('/var'); fs.rename(fs.resolve('/var/log'), 'app.log', v, 'app.log.1'); return v; },
  },
  { name: 'hard link', what: 'link /etc/os-release as /usr/os-release', change: (fs) => fs.link(fs.resolve('/etc/os-release'), fs.resolve('/usr'), 'os-release').ino },
  { name: 'mkdir', what: 'mkdir /opt', change: (fs) => fs.mkdir(1, 'opt', 0o755).ino },
];

function snap_op(name: string, what: string, reqs: Parameters<FileSystem['snapshot']>[0], image: CrashImage = 'base', mount: FsOptions = {}): CrashOp {
  return { name, durable: 'checkpoint', what, image, mount, run: (_dev, fs) => op_ok(fs!, reqs) };
}

/** Every operation of the table, in its order. */
export function crash_ops(): CrashOp[] {
  const out: CrashOp[] = [];
  for (const durable of ['fsync', 'sync'] as const) {
    for (const p of POSIX) {
      out.push({
        name: p.name, durable, what: `${p.what}, then ${durable === 'fsync' ? `fsync(2) ${p.synced ?? 'it'}` : 'sync(2)'}`, image: 'base', mount: {},
        run: (_dev, fs) => {
          const ino = p.change(fs!);
          if (durable === 'fsync') fs!.fsync(ino);
          else fs!.sync();
        },
      });
    }
  }
  out.push(snap_op('snapshot create', 'cowlog snapshot create DEV S', [{ op: 'create', name: 'S' }]));
  out.push(snap_op('rollback', 'cowlog snapshot rollback DEV A (the replaced tree kept as before-rollback-N)', [{ op: 'rollback', name: 'A' }]));
  out.push(snap_op('set-default', 'cowlog snapshot set-default DEV B', [{ op: 'set-default', name: 'B' }]));
  out.push(snap_op('set-default --trial', 'cowlog snapshot set-default --trial 2 DEV B', [{ op: 'set-default', name: 'B', trial: 2 }]));
  out.push({
    name: 'trial mount', durable: 'mount', what: 'a plain mount with B on trial (counts a try), then unmount', image: 'trial', mount: null,
    run: (dev) => FileSystem.mount(dev, { clock: op_clock(), boot: true }).unmount(),
  });
  out.push({
    name: 'trial mount after a crash', durable: 'mount', image: 'trial-unclean', mount: null,
    what: 'the same after a power cut that left two fsyncs on A: A rolled forward, then B served (one checkpoint)',
    run: (dev) => FileSystem.mount(dev, { clock: op_clock(), boot: true }).unmount(),
  });
  out.push(snap_op('mark-good', 'cowlog snapshot mark-good MNT on the mount that booted B on trial', [{ op: 'mark-good', name: '@live' }], 'trial', { boot: true }));
  return out;
}
