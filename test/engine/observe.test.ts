// The file layer's observer (src/fs/observe.ts) and the write ledger (src/fuse/ledger.ts) fed
// by it: written, logged and durable come in the order the bytes really move, for fsync,
// checkpoints, memory pressure, inline files, patches and files deleted before they were durable.

import t from 'tap';
import type { FsObserver } from '../../src/fs/observe.js';
import { WriteLedger } from '../../src/fuse/ledger.js';
import { fsck_ok, mkfs_mem, mount } from '../helpers/engine.js';

/** Records every call as a short string, and feeds a ledger as the mount's tracer does. */
class Recorder implements FsObserver {
  readonly log: string[] = [];
  readonly ledger = new WriteLedger(true);
  readonly durable_writes = new Map<number, number>();
  private t = 0;
  data_written(ino: number, off: number, len: number, inline: boolean): void {
    this.log.push(`written ${ino} ${off}+${len}${inline ? ' inline' : ''}`);
    this.ledger.written(ino, ++this.t, len, 7);
    if (inline) this.ledger.logged(ino);
  }
  data_logged(ino: number, blocks: number, patchBytes: number): void {
    this.log.push(`logged ${ino} ${blocks}b ${patchBytes}p`);
    this.ledger.logged(ino);
  }
  data_dropped(ino: number): void {
    this.log.push(`dropped ${ino}`);
    this.ledger.drop(ino);
  }
  durable(phase: 'begin' | 'end', what: 'checkpoint' | 'redo'): void {
    this.log.push(`${phase} ${what}`);
    if (phase !== 'end') return;
    for (const ino of this.ledger.logged_inodes()) {
      const b = this.ledger.durable_take(ino)!;
      this.durable_writes.set(ino, (this.durable_writes.get(ino) ?? 0) + b.writes);
    }
  }
  take(): string[] {
    return this.log.splice(0);
  }
}

t.test('written, logged, durable: fsync, checkpoint, inline, patches', async (t) => {
  const dev = mkfs_mem(4096);
  const fs = mount(dev);
  const rec = new Recorder();
  fs.observe(rec);
  const big = fs.create(1, 'big', 0o644).ino;
  fs.write(big, 0, Buffer.alloc(3 * 4096, 1));
  t.same(rec.take(), [`written ${big} 0+12288`], 'a write is reported once accepted, nothing goes to the log');
  fs.fsync(big);
  t.same(rec.take(), [`logged ${big} 3b 0p`, 'begin redo', 'end redo'], 'fsync: the pages go to the log, then the redo group is durable');
  t.equal(rec.durable_writes.get(big), 1, 'the ledger made the write durable');

  const small = fs.create(1, 'small', 0o644).ino;
  fs.write(small, 0, Buffer.from('hello'));
  t.same(rec.take(), [`written ${small} 0+5 inline`], 'a small file is written into its inline record');
  fs.write(big, 100, Buffer.from('x'));
  fs.fsync(big);
  const log = rec.take();
  t.same(log, [`written ${big} 100+1`, `logged ${big} 0b 1p`, 'begin redo', 'end redo'], 'a one-byte change is logged as a patch of the redo group');
  t.equal(rec.durable_writes.get(small), 1, 'the redo group made the inline write of the other file durable too');
  t.equal(rec.durable_writes.get(big), 2, 'and the patched write');

  fs.write(big, 4 * 4096, Buffer.alloc(4096, 2));
  fs.sync();
  // the page fsync logged as a patch is written now too: two blocks
  t.same(rec.take(), [`written ${big} 16384+4096`, `logged ${big} 2b 0p`, 'begin checkpoint', 'end checkpoint'], 'sync: the pages go to the log, then a checkpoint');
  t.equal(rec.durable_writes.get(big), 3, 'durable by the checkpoint');
  t.equal(rec.ledger.pending().size, 0, 'nothing is pending');

  fs.observe(null);
  fs.write(big, 0, Buffer.alloc(10));
  fs.fsync(big);
  t.same(rec.take(), [], 'with the observer removed nothing is reported');
  fs.unmount();
  fsck_ok(t, dev);
});

t.test('memory pressure logs without durability; a file deleted first is dropped', async (t) => {
  const dev = mkfs_mem(4096);
  const fs = mount(dev, { dirtyBytesMax: 64 << 10 });
  const rec = new Recorder();
  fs.observe(rec);
  const a = fs.create(1, 'a', 0o644).ino;
  // dirty memory is bounded at no less than 1 MiB (FileSystem.dirty_limit): 300 pages pass it
  for (let i = 0; i < 300; i++) fs.write(a, i * 4096, Buffer.alloc(4096, i));
  const log = rec.take();
  const logged = log.findIndex((l) => l.startsWith(`logged ${a} `));
  t.ok(logged > 0, `dirty memory over its bound sends the pages to the log (${log[logged]})`);
  t.notOk(log.some((l) => l.startsWith('end')), 'without any durability point');
  t.ok(rec.ledger.pending().get(a)!.writes >= 1, 'the writes are still pending in the ledger');
  t.equal(rec.durable_writes.get(a), undefined, 'and none is durable');
  fs.unlink(1, 'a');
  t.ok(rec.take().includes(`dropped ${a}`), 'unlink of the last name drops the inode');
  t.equal(rec.ledger.pending().size, 0, 'and the ledger forgets its writes');
  fs.unmount();
  fsck_ok(t, dev);
});

t.test('the ledger on its own: batches, times, writers', async (t) => {
  const l = new WriteLedger(true);
  l.written(5, 10, 100, 1);
  l.written(5, 11, 50, 2);
  l.written(6, 12, 10, 1);
  t.equal(l.logged(7), undefined, 'nothing cached for an inode without writes');
  const b = l.logged(5)!;
  t.same([b.writes, b.bytes, b.first, b.last, b.pids, b.times], [2, 150, 10, 11, [1, 2], [10, 11]], 'logged takes every cached write of the inode');
  l.written(5, 13, 1, 3);
  t.same(l.logged_inodes(), [5], 'only inode 5 is logged');
  const d = l.durable_take(5)!;
  t.equal(d.writes, 2, 'a durability point takes what was logged, not what was written after');
  const p = l.pending();
  t.same([...p.keys()].sort(), [5, 6], 'pending: the later write of 5 and the write of 6');
  for (let pid = 0; pid < 20; pid++) l.written(6, 20, 1, pid);
  t.ok(l.pending().get(6)!.pidsMore, 'more writers than it keeps are noted');
  t.equal(l.pending().get(6)!.pids.length, 8, 'it keeps eight');
});
