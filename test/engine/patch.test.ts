// fsync of small writes logs patches in the redo group instead of rewriting blocks. After a
// crash, roll-forward must rebuild exactly what was fsync'd: patches laid over the block in
// order, dropped when the block was written whole afterwards, when the file shrank (even if it
// grew again), or when the file is gone — on a read-write mount (written out as blocks) and on a
// read-only one (kept in memory).

import t from 'tap';
import type { Test } from 'tap';
import { FileSystem } from '../../src/fs/fs.js';
import type { MemoryDevice } from '../../src/device/memory.js';
import { fsck_ok, mkfs_mem, mount } from '../helpers/engine.js';
import { content } from '../helpers/model.js';

/** Opens after a crash: the volume is dropped without unmounting. */
function crash(fs: FileSystem): void {
  fs.vol.abandon();
}

function read_all(fs: FileSystem, path: string): Buffer {
  const ino = fs.resolve(path);
  return fs.read(ino, 0, fs.getattr(ino).size);
}

function check_both(t: Test, dev: MemoryDevice, path: string, want: Buffer, what: string): void {
  const ro = FileSystem.mount(dev, { readOnly: true });
  t.same(read_all(ro, path), want, `${what}: read-only mount`);
  ro.unmount();
  const rw = mount(dev);
  t.same(read_all(rw, path), want, `${what}: read-write mount`);
  rw.unmount();
  const again = mount(dev);
  t.same(read_all(again, path), want, `${what}: after the recovery checkpoint`);
  again.unmount();
  fsck_ok(t, dev, what);
}

t.test('small appends with fsync are rolled forward from patches', async (t) => {
  const dev = mkfs_mem(4096);
  const fs = mount(dev);
  const f = fs.create(1, 'log', 0o644).ino;
  let want = content(1, 6000); // block-mapped from the start
  fs.write(f, 0, want);
  fs.fsync(f);
  const blocksBefore = fs.vol.stats.dataBlocksWritten;
  for (let i = 0; i < 20; i++) {
    const piece = content(100 + i, 300 + i * 10);
    fs.write(f, want.length, piece);
    want = Buffer.concat([want, piece]);
    fs.fsync(f);
  }
  t.equal(fs.vol.stats.dataBlocksWritten, blocksBefore, 'no data block was written by the 20 small fsyncs');
  t.ok(fs.vol.stats.redoGroups >= 21, 'each fsync wrote a redo group');
  crash(fs);
  check_both(t, dev, '/log', want, 'appends');
});

t.test('a patch is dropped when its block is written whole afterwards', async (t) => {
  const dev = mkfs_mem(4096);
  const fs = mount(dev);
  const f = fs.create(1, 'f', 0o644).ino;
  fs.write(f, 0, content(2, 8192));
  fs.fsync(f);
  fs.write(f, 100, Buffer.from('patched'));
  fs.fsync(f); // a patch
  const whole = content(3, 4096);
  fs.write(f, 0, whole);
  fs.fsync(f); // the whole block: written, not patched
  const want = Buffer.concat([whole, content(2, 8192).subarray(4096)]);
  crash(fs);
  check_both(t, dev, '/f', want, 'rewrite');
});

t.test('a file that shrank and grew again reads zeros where a patch was', async (t) => {
  const dev = mkfs_mem(4096);
  const fs = mount(dev);
  const f = fs.create(1, 'f', 0o644).ino;
  fs.write(f, 0, content(4, 10000));
  fs.fsync(f);
  fs.write(f, 9000, Buffer.from('old tail bytes'));
  fs.fsync(f); // patch in block 2
  fs.truncate(f, 1000);
  fs.write(f, 11000, Buffer.from('new end'));
  fs.fsync(f); // the file grew over block 2 again, which must read as zeros
  const want = Buffer.alloc(11007);
  content(4, 1000).copy(want);
  want.write('new end', 11000);
  crash(fs);
  check_both(t, dev, '/f', want, 'truncate and extend');
});

t.test('a patch into a hole is dropped when the file shrank past it and grew again', async (t) => {
  // the block was never mapped, before or after: only the file's data generation tells
  const dev = mkfs_mem(4096);
  const fs = mount(dev);
  const f = fs.create(1, 'f', 0o644).ino;
  fs.write(f, 0, content(7, 5000));
  fs.fsync(f);
  fs.write(f, 9000, Buffer.from('in a hole'));
  fs.fsync(f); // patch over the unmapped block 2
  fs.truncate(f, 1000);
  fs.write(f, 12000, Buffer.from('new end'));
  fs.fsync(f);
  const want = Buffer.alloc(12007);
  content(7, 1000).copy(want);
  want.write('new end', 12000);
  crash(fs);
  check_both(t, dev, '/f', want, 'hole');
});

t.test('patches of a file unlinked afterwards do not come back', async (t) => {
  const dev = mkfs_mem(4096);
  const fs = mount(dev);
  const f = fs.create(1, 'gone', 0o644).ino;
  fs.write(f, 0, content(5, 5000));
  fs.fsync(f);
  fs.write(f, 4500, Buffer.from('patch'));
  fs.fsync(f);
  fs.unlink(1, 'gone');
  const g = fs.create(1, 'other', 0o644).ino;
  fs.write(g, 0, Buffer.from('x'));
  fs.fsync(g); // makes the unlink durable
  crash(fs);
  const rw = mount(dev);
  t.throws(() => rw.resolve('/gone'), { code: 'ENOENT' }, 'the unlinked file stays gone');
  t.same(read_all(rw, '/other'), Buffer.from('x'), 'the other file is there');
  rw.unmount();
  fsck_ok(t, dev, 'unlink');
});

t.test('many small fsyncs of one block, then a checkpoint writes it once', async (t) => {
  const dev = mkfs_mem(4096);
  const fs = mount(dev);
  const f = fs.create(1, 'f', 0o644).ino;
  const base = content(6, 4096 * 3);
  fs.write(f, 0, base);
  fs.sync();
  for (let i = 0; i < 50; i++) {
    fs.write(f, 4096 + i * 40, Buffer.from(`${i}`.padStart(40, '.')));
    fs.fsync(f);
  }
  const before = fs.vol.stats.dataBlocksWritten;
  fs.sync();
  t.equal(fs.vol.stats.dataBlocksWritten - before, 1, 'the checkpoint writes the patched block once');
  const want = Buffer.from(base);
  for (let i = 0; i < 50; i++) want.write(`${i}`.padStart(40, '.'), 4096 + i * 40);
  t.same(read_all(fs, '/f'), want, 'the content is right before unmounting');
  fs.unmount();
  check_both(t, dev, '/f', want, 'after a checkpoint');
});
