// Large reads through the FUSE operations take their device runs in parallel (ops.ts): driven
// directly, without FUSE, against an engine on an image file. What they answer must be what the
// ordinary read answers, also when the device is written while they are in flight, when a block
// is damaged, and when the file has dirty pages, holes and an unaligned end.

import t from 'tap';
import type { Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { CowlogOps } from '../../src/fuse/ops.js';
import { logger_memory } from '../../src/fuse/log.js';
import { device_open } from '../../src/device/file.js';
import type { FileDevice } from '../../src/device/file.js';
import type { AsyncReader } from '../../src/device/device.js';
import { FileSystem } from '../../src/fs/fs.js';
import { Volume } from '../../src/checkpoint/volume.js';
import { BlockKind } from '../../src/log/segments.js';
import { Prng } from '../../src/util/prng.js';
import type { LowOps } from '../../src/fuse/binding.js';
import { call as call_op, ReplyRecorder } from '../../tools/bench/replies.js';
import { content } from '../helpers/model.js';
import { defer_make, tmpdir_make } from '../device/loop.js';

const KiB = 1024;

/** A reader that counts the runs it is asked for and can hold them back until released. */
class SpyReader implements AsyncReader {
  runs = 0;
  held: (() => void)[] = [];
  hold = false;
  constructor(private readonly dev: FileDevice) {}
  get writeCount(): number { return this.dev.writeCount; }
  read_async(addr: number, count: number, into: Uint8Array, cb: (err: Error | null) => void): void {
    this.runs++;
    const go = (): void => this.dev.read_async(addr, count, into, cb);
    if (this.hold) this.held.push(go);
    else go();
  }
  release(): void {
    for (const go of this.held.splice(0)) go();
  }
}

/**
 * The test's view of a request: read answers [bytes, copied into buf] or [-errno], write
 * [n], create [0, fh, ino].
 */
type Caller = (op: 'create' | 'write' | 'read', ...a: unknown[]) => Promise<unknown[]>;

function caller_of(ops: LowOps, rec: ReplyRecorder): Caller {
  return async (op, ...a) => {
    if (op === 'create') {
      const r = await call_op(ops, rec, 'create', 1, a[0], a[1], a[2]);
      return r.errno ? [-r.errno] : [0, r.fh, r.attr!.ino];
    }
    if (op === 'write') {
      // (ino, fh, buf, off)
      const r = await call_op(ops, rec, 'write', a[0], a[1], a[2], a[3], false);
      return r.errno ? [-r.errno] : [r.n];
    }
    // (ino, fh, buf, len, off): the answer is copied into buf, as the kernel would
    const r = await call_op(ops, rec, 'read', a[0], a[1], a[3], a[4]);
    if (r.errno) return [-r.errno];
    r.data!.copy(a[2] as Buffer);
    return [r.data!.length];
  };
}

function setup(t: Test): { img: string; dev: FileDevice; fsys: FileSystem; spy: SpyReader; o: CowlogOps; call: Caller } {
  const defer = defer_make(t);
  const img = path.join(tmpdir_make(defer, 'cowlog-readpar-'), 'disk.img');
  fs.writeFileSync(img, '');
  fs.truncateSync(img, 64 << 20);
  const mk = device_open(img);
  FileSystem.mkfs(mk);
  mk.close();
  const dev = device_open(img);
  const fsys = FileSystem.mount(dev);
  const spy = new SpyReader(dev);
  const o = new CowlogOps({ fs: fsys, caller: () => ({ uid: 0, gid: 0, pid: 1, umask: 0 }), log: logger_memory(), reader: spy });
  defer(() => { if (!o.closed) o.close(); dev.close(); });
  const rec = new ReplyRecorder();
  return { img, dev, fsys, spy, o, call: caller_of(o.ops(rec), rec) };
}

t.test('parallel reads answer what the file holds: runs, dirty pages, holes, an unaligned end', async (t) => {
  const { fsys, spy, call } = setup(t);
  const size = 3 * 1024 * KiB + 1234;
  const want = Buffer.alloc(size);
  const [, fh, ino] = await call('create', 'f', 0o100644, 0) as [number, number, number];
  const put = async (off: number, b: Buffer): Promise<void> => {
    t.same(await call('write', ino, fh, b, off), [b.length]);
    b.copy(want, off);
  };
  await put(0, content(1, 1024 * KiB));
  await put(2048 * KiB, content(2, 1024 * KiB + 1234)); // a hole between
  fsys.sync();
  await put(100 * KiB + 5, content(3, 9000)); // dirty pages inside a run
  await put(3 * 1024 * KiB, content(4, 1234)); // the dirty tail
  const rng = new Prng(3);
  const reads: Promise<void>[] = [];
  let bad = 0;
  for (let i = 0; i < 60; i++) {
    const off = i < 24 ? i * 128 * KiB : rng.int(0, size);
    const len = i < 24 ? 128 * KiB : rng.int(32 * KiB, 300 * KiB);
    const buf = Buffer.alloc(len, 0xee);
    // all in flight together, as the kernel sends them
    reads.push(call('read', ino, fh, buf, len, off).then(([n]) => {
      const exp = want.subarray(Math.min(off, size), Math.min(off + len, size));
      if (n !== exp.length || !buf.subarray(0, exp.length).equals(exp)) bad++;
    }));
  }
  await Promise.all(reads);
  t.equal(bad, 0, '60 reads in flight together, each equal to the file');
  t.ok(spy.runs >= 24, `the device runs went through the parallel reader (${spy.runs})`);
  const small = Buffer.alloc(100);
  const runs = spy.runs;
  t.same(await call('read', ino, fh, small, 100, 7), [100], 'a small read');
  t.same(small, want.subarray(7, 107), 'answers the same bytes');
  t.equal(spy.runs, runs, 'and is answered at once, without the parallel reader');
});

t.test('a device write while a read is in flight: the read is made again and answers the new bytes', async (t) => {
  const { fsys, spy, call } = setup(t);
  const [, fh, ino] = await call('create', 'f', 0o100644, 0) as [number, number, number];
  const a = content(5, 256 * KiB);
  const b = content(6, 256 * KiB);
  await call('write', ino, fh, a, 0);
  fsys.sync();
  spy.hold = true;
  const buf = Buffer.alloc(256 * KiB);
  let answered: unknown[] | null = null;
  const p = call('read', ino, fh, buf, buf.length, 0).then((r) => { answered = r; });
  await new Promise((ok) => setImmediate(ok));
  t.ok(spy.held.length > 0 && answered === null, 'the read waits for its device runs');
  // the file changes and reaches the device; a checkpoint may reuse what the plan named
  await call('write', ino, fh, b, 0);
  fsys.sync();
  spy.hold = false;
  spy.release();
  await p;
  t.same(answered, [buf.length], 'the read answers in full');
  t.ok(buf.equals(b), 'with the bytes written after it was planned: it was read again');
});

t.test('a write answered while a read is in flight, still in the page cache: the read answers its bytes', async (t) => {
  // no device write in between (an O_DIRECT writer beside buffered readers: xfstests generic/451)
  const { fsys, spy, call } = setup(t);
  const [, fh, ino] = await call('create', 'f', 0o100644, 0) as [number, number, number];
  const [, fh2, ino2] = await call('create', 'g', 0o100644, 0) as [number, number, number];
  const a = content(7, 256 * KiB);
  const b = content(8, 16 * KiB);
  await call('write', ino, fh, a, 0);
  await call('write', ino2, fh2, a, 0);
  fsys.sync();
  spy.hold = true;
  const buf = Buffer.alloc(256 * KiB), other = Buffer.alloc(256 * KiB);
  const p = call('read', ino, fh, buf, buf.length, 0);
  const q = call('read', ino2, fh2, other, other.length, 0);
  await new Promise((ok) => setImmediate(ok));
  const runs = spy.runs;
  t.same(await call('write', ino, fh, b, 16 * KiB), [b.length], 'a write into the range being read, answered at once');
  spy.hold = false;
  spy.release();
  t.same(await p, [buf.length], 'the read answers in full');
  const want = Buffer.from(a);
  b.copy(want, 16 * KiB);
  t.ok(buf.equals(want), 'with the bytes of the write answered before it');
  t.same(await q, [other.length]);
  t.ok(other.equals(a), 'a read of another file answers too');
  t.equal(spy.runs, runs, 'from the runs it planned: a write to another file does not make it read again');
});

t.test('a damaged block: the parallel read falls back to the ordinary one, which answers EIO', async (t) => {
  const { img, dev, fsys, call, o } = setup(t);
  const [, fh, ino] = await call('create', 'f', 0o100644, 0) as [number, number, number];
  const data = content(7, 512 * KiB);
  await call('write', ino, fh, data, 0);
  fsys.sync();
  const v = Volume.open(device_open(img, { readOnly: true }), { readOnly: true });
  let target = 0;
  for (let a = v.g.mainStart; a < v.g.mainStart + v.g.segCount * v.g.segBlocks && !target; a++) {
    const s = v.log.summary(a);
    if (v.log.refs(a) > 0 && s.kind === BlockKind.DATA && s.owner === ino && s.offset === 40) target = a;
  }
  v.abandon();
  v.dev.close();
  t.ok(target > 0, `file block 40 is at ${target}`);
  const blk = dev.read(target);
  blk[10]! ^= 0x20;
  dev.write(target, blk);
  fsys.cache_drop();
  const buf = Buffer.alloc(128 * KiB);
  t.same(await call('read', ino, fh, buf, buf.length, 0), [buf.length], 'a range before it reads');
  t.ok(buf.equals(data.subarray(0, 128 * KiB)), 'correctly');
  t.same(await call('read', ino, fh, buf, buf.length, 128 * KiB), [-5], 'the range holding it: EIO');
  t.equal(o.broken, null, 'a damaged block is no bug: the mount stays writable');
});

t.test('after close, a read in flight answers EIO', async (t) => {
  const { fsys, spy, call, o } = setup(t);
  const [, fh, ino] = await call('create', 'f', 0o100644, 0) as [number, number, number];
  const data = content(8, 128 * KiB);
  await call('write', ino, fh, data, 0);
  fsys.sync();
  spy.hold = true;
  const buf = Buffer.alloc(128 * KiB);
  const p = call('read', ino, fh, buf, buf.length, 0);
  await new Promise((ok) => setImmediate(ok));
  o.close();
  spy.release();
  t.same(await p, [-5], 'EIO, not bytes of a volume that is gone');
});
