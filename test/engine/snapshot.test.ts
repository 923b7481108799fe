// Snapshots and clones through the file layer: the A/B root story (snapshot, upgrade, roll back,
// roll forward), clones mounted read-write, read-only snapshot mounts, batching, space
// accounting, the cleaner moving shared blocks, diff, at least 64 snapshots, and every refusal.

import t from 'tap';
import type { Test } from 'tap';
import { FileSystem } from '../../src/fs/fs.js';
import type { SnapReply } from '../../src/fs/fs.js';
import { FsError } from '../../src/util/errors.js';
import { key, map_decode, RecKind } from '../../src/format/records.js';
import { fsck_ok, mkfs_mem, mount, UUID } from '../helpers/engine.js';
import { content } from '../helpers/model.js';
import { dump_diff, system_a, system_b, tree_dump } from '../helpers/tree.js';

const MiB = 1 << 20;
const GEO = { segBlocks: 8, fanout: 8, uuid: UUID };

function ok(t: Test, r: SnapReply[], what: string): void {
  const bad = r.filter((x) => !x.ok).map((x) => (x.ok ? '' : x.error.message));
  t.same(bad, [], what);
}

function same_tree(t: Test, a: Map<string, string>, b: Map<string, string>, what: string): void {
  const d = dump_diff(a, b);
  t.same(d, [], `${what} (${b.size} paths)`);
}

t.test('A/B: snapshot, upgrade, roll back, roll forward', async (t) => {
  const dev = mkfs_mem(8192, GEO);
  let fs = mount(dev);
  system_a(fs, 300);
  const A = tree_dump(fs);
  t.ok(A.size > 350, `system A has ${A.size} paths`);
  ok(t, fs.snapshot([{ op: 'create', name: 'A' }]), 'snapshot A taken');
  system_b(fs);
  const B = tree_dump(fs);
  t.ok(dump_diff(A, B, 1000).length > 100, 'system B differs from A in over a hundred paths');
  // the diff names what changed
  const d = fs.snapshot_diff('A', '@live');
  t.ok(d.added.includes('/etc/new.d') && d.added.length >= 51, `diff: ${d.added.length} added`);
  t.ok(d.removed.length >= 30, `diff: ${d.removed.length} removed`);
  t.ok(d.changed.length >= 40, `diff: ${d.changed.length} changed`);
  t.same(d.added.filter((p) => A.has(p) || !B.has(p)), [], 'every path added is in B and not in A');
  t.same(d.removed.filter((p) => !A.has(p) || B.has(p)), [], 'every path removed is in A and not in B');
  t.same(d.changed.filter((p) => A.get(p) === B.get(p)), [], 'every path changed looks different');
  t.same([...B.keys()].filter((p) => p !== '/' && A.has(p) && A.get(p) !== B.get(p) && !d.changed.includes(p)), [], 'every path that looks different is listed as changed');
  fs.unmount();
  fsck_ok(t, dev, 'B with snapshot A');

  fs = mount(dev);
  same_tree(t, B, tree_dump(fs), 'B survives a remount');
  const seq = fs.vol.seq;
  const r = fs.snapshot([{ op: 'rollback', name: 'A' }]);
  ok(t, r, 'rollback to A');
  t.equal(fs.vol.seq, seq + 1, 'the rollback is one checkpoint');
  const kept = r[0]!.ok ? r[0]!.kept : undefined;
  t.match(kept, /^before-rollback-\d+$/, `the replaced tree is kept as ${kept}`);
  same_tree(t, A, tree_dump(fs), 'the live tree is A again, byte for byte and metadata for metadata');
  fs.unmount();
  fsck_ok(t, dev, 'after the rollback');

  fs = mount(dev);
  same_tree(t, A, tree_dump(fs), 'A after a remount');
  t.same(fs.snapshot_list().map((s) => [s.name, s.auto]), [['A', false], [kept, true]], 'snapshots: A, and the automatic one');
  ok(t, fs.snapshot([{ op: 'rollback', name: kept!, discard: true }]), 'roll forward to B, discarding A-as-live');
  same_tree(t, B, tree_dump(fs), 'the live tree is B again');
  t.same(fs.snapshot_list().map((s) => s.name), ['A', kept], 'with --discard no new snapshot is kept');
  fs.unmount();
  fsck_ok(t, dev, 'after rolling forward');
});

t.test('clones are writable trees of their own; snapshots mount read-only', async (t) => {
  const dev = mkfs_mem(4096, GEO);
  let fs = mount(dev);
  system_a(fs, 60, 3);
  ok(t, fs.snapshot([{ op: 'create', name: 'base' }, { op: 'clone', from: 'base', name: 'work' }]), 'snapshot and clone');
  const base = tree_dump(fs);
  fs.unmount();

  // the clone mounted read-write
  fs = mount(dev, { snapshot: 'work' });
  t.equal(fs.snapshotMounted, 'work', 'the mount serves the clone');
  same_tree(t, base, tree_dump(fs), 'the clone starts as its source');
  fs.write(fs.create(1, 'only-in-clone', 0o644).ino, 0, content(5, 50000));
  fs.unlink(fs.lookup(1, 'etc').ino, fs.readdir(fs.lookup(1, 'etc').ino).find((e) => e.type === 8)?.name.toString() ?? 'x');
  const work = tree_dump(fs);
  const f = fs.lookup(1, 'only-in-clone').ino;
  fs.fsync(f);
  const r = fs.snapshot([{ op: 'delete', name: 'work' }]);
  t.equal(r[0]!.ok ? '' : r[0]!.error.code, 'EBUSY', 'the clone a mount serves cannot be deleted');
  fs.unmount();
  fsck_ok(t, dev, 'after writing the clone');

  fs = mount(dev);
  same_tree(t, base, tree_dump(fs), 'the main tree did not change');
  fs.unmount();
  fs = mount(dev, { snapshot: 'work' });
  same_tree(t, work, tree_dump(fs), 'the clone kept its changes');
  fs.unmount();
  fs = mount(dev, { snapshot: 'base', readOnly: true });
  same_tree(t, base, tree_dump(fs), 'the snapshot, mounted read-only, is the source');
  t.throws(() => fs.create(1, 'x', 0o644), { code: 'EROFS' }, 'a read-only snapshot mount refuses writes');
  t.throws(() => fs.snapshot([{ op: 'create', name: 'y' }]), { code: 'EROFS' }, 'and snapshot changes');
  t.same(fs.snapshot_diff('base', 'work').added, ['/only-in-clone'], 'diff of snapshot and clone, from a read-only mount');
  fs.unmount();
  t.throws(() => mount(dev, { snapshot: 'base' }), { code: 'EROFS', message: /read-only: mount it read-only, or clone it/ }, 'a snapshot cannot be mounted read-write');
  t.throws(() => mount(dev, { snapshot: 'nope' }), { code: 'ENOENT', message: /no snapshot named "nope" \(there are: base, work\)/ }, 'an unknown snapshot is named with those that exist');

  // a power cut while the clone is mounted: its fsync'd file comes back in the clone
  fs = mount(dev, { snapshot: 'work' });
  const g = fs.create(1, 'fsynced', 0o644).ino;
  fs.write(g, 0, content(9, 7000));
  fs.fsync(g);
  fs.vol.abandon();
  fs = mount(dev, { snapshot: 'work', readOnly: true });
  t.same(fs.read(fs.lookup(1, 'fsynced').ino, 0, 7000), content(9, 7000), 'roll-forward applies the fsync to the clone (read-only mount)');
  fs.unmount();
  fs = mount(dev);
  t.throws(() => fs.lookup(1, 'fsynced'), { code: 'ENOENT' }, 'and not to the main tree');
  fs.unmount();
  fsck_ok(t, dev, 'after recovering the clone');
  fs = mount(dev, { snapshot: 'work' });
  t.same(fs.read(fs.lookup(1, 'fsynced').ino, 0, 7000), content(9, 7000), 'the clone kept the fsync across the main tree mount');
  fs.unmount();
});

t.test('refusals change nothing', async (t) => {
  const dev = mkfs_mem(4096, GEO);
  const fs = mount(dev);
  system_a(fs, 20, 4);
  ok(t, fs.snapshot([{ op: 'create', name: 'one' }]), 'one');
  const seq = fs.vol.seq;
  const before = JSON.stringify(fs.snapshot_list());
  const cases: [Parameters<FileSystem['snapshot']>[0][0], string, RegExp][] = [
    [{ op: 'create', name: 'one' }, 'EEXIST', /exists already/],
    [{ op: 'create', name: '' }, 'EINVAL', /empty/],
    [{ op: 'create', name: 'a/b' }, 'EINVAL', /use letters, digits/],
    [{ op: 'create', name: '-x' }, 'EINVAL', /not starting with/],
    [{ op: 'create', name: 'x'.repeat(97) }, 'EINVAL', /at most 96/],
    [{ op: 'delete', name: 'two' }, 'ENOENT', /no snapshot named "two" \(there are: one\)/],
    [{ op: 'rollback', name: 'two' }, 'ENOENT', /no snapshot named/],
    [{ op: 'clone', from: 'two', name: 'c' }, 'ENOENT', /no snapshot named/],
    [{ op: 'clone', from: 'one', name: 'one' }, 'EEXIST', /exists already/],
  ];
  for (const [req, code, re] of cases) {
    const [r] = fs.snapshot([req]);
    t.equal(r!.ok ? 'ok' : r!.error.code, code, `${JSON.stringify(req)}: ${code}`);
    if (!r!.ok) t.match(r!.error.message, re, 'with a message that says why');
  }
  // rollback with a file open
  const ino = fs.lookup(1, 'bin').ino;
  const f = fs.create(ino, 'open-file', 0o644).ino;
  fs.open(f);
  const [r] = fs.snapshot([{ op: 'rollback', name: 'one' }]);
  t.equal(r!.ok ? 'ok' : r!.error.code, 'EBUSY', 'rollback while a file is open: EBUSY');
  t.match(r!.ok ? '' : r!.error.message, /1 file is open: close it before rolling back/, 'saying what to do');
  t.ok(fs.lookup(ino, 'open-file'), 'the live tree is unchanged');
  fs.release(f);
  t.equal(JSON.stringify(fs.snapshot_list()), before, 'the snapshot list is unchanged');
  t.equal(fs.vol.seq, seq, 'no checkpoint was written for refused operations');
  fs.unmount();
  fsck_ok(t, dev);
});

t.test('a batch of snapshot operations is one checkpoint', async (t) => {
  const dev = mkfs_mem(4096, GEO);
  const fs = mount(dev);
  system_a(fs, 20, 5);
  const seq = fs.vol.seq;
  const reqs = Array.from({ length: 8 }, (_, i) => ({ op: 'create' as const, name: `s${i}` }));
  const r = fs.snapshot([...reqs, { op: 'create', name: 's3' }, { op: 'delete', name: 's0' }]);
  t.same(r.map((x) => x.ok), [true, true, true, true, true, true, true, true, false, true], 'eight creates, a duplicate refused, a delete');
  t.equal(fs.vol.seq, seq + 1, 'all of them in one checkpoint');
  t.same(fs.snapshot_list().map((s) => s.name), ['s1', 's2', 's3', 's4', 's5', 's6', 's7'], 'the list');
  fs.unmount();
  fsck_ok(t, dev);
});

t.test('space: snapshots hold what they need, deleting gives it back exactly', async (t) => {
  const dev = mkfs_mem(8192, { uuid: UUID }); // 32 MiB, default geometry
  let fs = mount(dev);
  const f = fs.create(1, 'big', 0o644).ino;
  fs.write(f, 0, content(1, 10 * MiB));
  fs.sync();
  const used0 = fs.statfs().blocks - fs.statfs().bfree;
  ok(t, fs.snapshot([{ op: 'create', name: 'before' }]), 'snapshot');
  t.equal(fs.snapshot_list({ usage: true })[0]!.exclusiveBytes, 0, 'a fresh snapshot holds nothing alone');
  t.equal(fs.snapshot_held_bytes(), 0, 'and snapshots hold nothing beyond the live tree');
  fs.write(f, 0, content(2, 10 * MiB));
  fs.sync();
  const used1 = fs.statfs().blocks - fs.statfs().bfree;
  const grew = (used1 - used0) * 4096;
  t.ok(grew >= 10 * MiB && grew < 10.5 * MiB, `statfs: ${(grew / MiB).toFixed(2)} MiB more used after overwriting 10 MiB under a snapshot`);
  const excl = fs.snapshot_list({ usage: true })[0]!.exclusiveBytes!;
  t.ok(excl >= 10 * MiB && excl < 10.2 * MiB, `the snapshot alone holds ${(excl / MiB).toFixed(2)} MiB`);
  t.equal(fs.snapshot_held_bytes(), excl, 'which is what snapshots hold together');
  ok(t, fs.snapshot([{ op: 'delete', name: 'before' }]), 'delete the snapshot');
  const used2 = fs.statfs().blocks - fs.statfs().bfree;
  t.ok(Math.abs(used2 - used0) <= 8, `statfs: back to ${used2} blocks used (${used0} before the snapshot)`);
  t.equal(used1 - used2, excl / 4096, 'deleting freed exactly what the list said it would');
  fs.unmount();
  fsck_ok(t, dev, 'after the space round');

  // fill to ENOSPC with a snapshot holding the old data: honest ENOSPC, and deleting makes room
  fs = mount(dev);
  ok(t, fs.snapshot([{ op: 'create', name: 'hold' }]), 'snapshot of the 10 MiB file');
  fs.unlink(1, 'big');
  let written = 0;
  const g = fs.create(1, 'fill', 0o644).ino;
  try {
    for (;;) { fs.write(g, written, content(3, 256 * 1024)); written += 256 * 1024; }
  } catch (e) {
    t.ok(e instanceof FsError && e.code === 'ENOSPC', `ENOSPC after ${(written / MiB).toFixed(1)} MiB (the snapshot keeps 10 MiB of a 32 MiB device)`);
  }
  const st = fs.statfs();
  t.ok(st.bavail * 4096 < 1.5 * MiB, `statfs at ENOSPC: ${(st.bavail * 4096 / MiB).toFixed(2)} MiB available`);
  t.ok(written > 14 * MiB && written < 22 * MiB, 'the space the snapshot holds was not handed out');
  ok(t, fs.snapshot([{ op: 'delete', name: 'hold' }]), 'deleting the snapshot on a full filesystem works');
  const more = fs.statfs().bavail * 4096;
  t.ok(more >= 9.5 * MiB, `and gives back ${(more / MiB).toFixed(1)} MiB`);
  fs.write(g, written, content(4, 8 * MiB));
  t.pass('which can be written again');
  fs.unmount();
  fsck_ok(t, dev, 'after filling with a snapshot');
});

t.test('overwrites of blocks a snapshot holds are charged for space before they are admitted', async (t) => {
  const dev = mkfs_mem(1024, { segBlocks: 8, fanout: 4, uuid: UUID });
  const fs = mount(dev);
  const a = fs.create(1, 'a', 0o644).ino;
  let n = 0;
  try {
    for (;; n++) { fs.write(a, n * 4096, content(n, 4096)); if (n % 16 === 15) fs.sync(); }
  } catch (e) {
    t.ok(e instanceof FsError && e.code === 'ENOSPC', `filled after ${n} blocks`);
  }
  const keep = Math.floor(n * 0.6);
  fs.truncate(a, keep * 4096);
  fs.sync();
  const free0 = fs.statfs().bfree;
  ok(t, fs.snapshot([{ op: 'create', name: 'S' }]), 'snapshot of the file');
  // the mapped blocks the file overwrites stay with S: each overwrite needs a block of its own
  fs.write(a, 0, content(999, 4096));
  t.equal(fs.statfs().bfree, free0 - 1, 'one overwrite of a held block: one block less free at once');
  let ok_ = 1;
  try {
    for (let i = 1; i < keep; i++) { fs.write(a, i * 4096, content(1000 + i, 4096)); ok_++; }
    t.fail('every overwrite admitted although the snapshot holds every old block');
  } catch (e) {
    t.ok(e instanceof FsError && e.code === 'ENOSPC', `ENOSPC after ${ok_} of ${keep} overwrites (${free0} blocks were free)`);
  }
  t.ok(ok_ <= free0, 'no more overwrites admitted than there were free blocks');
  fs.sync();
  t.pass('sync writes every admitted overwrite');
  t.same(fs.read(a, 0, 4096), content(999, 4096), 'the first overwrite reads back');
  ok(t, fs.snapshot([{ op: 'delete', name: 'S' }]), 'delete the snapshot');
  // with no other root, overwrites free their old blocks: nothing to charge
  const free1 = fs.statfs().bfree;
  for (let i = 0; i < 8; i++) fs.write(a, i * 4096, content(2000 + i, 4096));
  t.equal(fs.statfs().bfree, free1, 'without snapshots an overwrite costs no extra space');
  fs.unmount();
  fsck_ok(t, dev, 'after overwriting under a snapshot');
});

t.test('a read-only mount of a snapshot after a crash does not see the main tree\'s fsync', async (t) => {
  for (const born of ['before', 'after'] as const) {
    const dev = mkfs_mem(4096, { uuid: UUID });
    const fs = mount(dev);
    if (born === 'after') ok(t, fs.snapshot([{ op: 'create', name: 'S' }]), 'snapshot of an empty tree');
    const a = fs.create(1, 'a', 0o644).ino;
    fs.write(a, 0, Buffer.alloc(8192, 0x41));
    fs.sync();
    if (born === 'before') ok(t, fs.snapshot([{ op: 'create', name: 'S' }]), 'snapshot of the file');
    fs.write(a, 10, Buffer.from('MAIN-ONLY'));
    fs.fsync(a);
    fs.vol.abandon(); // power cut: the fsync lives in the redo log only
    const ro = FileSystem.mount(dev, { readOnly: true, snapshot: 'S' });
    if (born === 'before') t.same(ro.read(ro.lookup(1, 'a').ino, 0, 24), Buffer.alloc(24, 0x41), 'the snapshot reads as it was taken');
    else t.throws(() => ro.lookup(1, 'a'), { code: 'ENOENT' }, 'a file made after the snapshot is not in it');
    ro.unmount();
    const main = FileSystem.mount(dev, { readOnly: true });
    t.equal(main.read(main.lookup(1, 'a').ino, 10, 9).toString(), 'MAIN-ONLY', 'the main tree has its fsync');
    main.unmount();
  }
});

t.test('a snapshot made from a deleted one names where that one came from', async (t) => {
  const dev = mkfs_mem(2048, { uuid: UUID });
  const fs = mount(dev);
  ok(t, fs.snapshot([{ op: 'create', name: 'P' }]), 'snapshot P');
  ok(t, fs.snapshot([{ op: 'clone', name: 'C', from: 'P' }]), 'clone C of P');
  ok(t, fs.snapshot([{ op: 'delete', name: 'P' }]), 'delete P');
  ok(t, fs.snapshot([{ op: 'create', name: 'X' }]), 'X takes the free slot');
  const from = new Map(fs.snapshot_list().map((e) => [e.name, e.parent]));
  t.equal(from.get('C'), '@main', 'C now comes from the main tree, not from X');
  fs.unmount();
  fsck_ok(t, dev, 'after the parent change');
});

t.test('the cleaner moves shared blocks once and keeps them shared', async (t) => {
  const dev = mkfs_mem(4096, { ...GEO, segBlocks: 16 }); // 16 MiB
  const fs = mount(dev, { idleMs: 0 });
  // the kept file's blocks interleaved with a temporary file's, which is then deleted: its
  // segments are left half empty, so the cleaner has to move the kept file's blocks
  const keep = fs.create(1, 'keep', 0o644).ino;
  const temp = fs.create(1, 'temp', 0o644).ino;
  for (let off = 0; off < 3 * MiB; off += 32 * 1024) {
    fs.write(keep, off, content(1, 3 * MiB).subarray(off, off + 32 * 1024));
    fs.sync();
    fs.write(temp, off, content(2, 32 * 1024));
    fs.sync();
  }
  fs.unlink(1, 'temp');
  fs.sync();
  ok(t, fs.snapshot([{ op: 'create', name: 's' }]), 'snapshot');
  const s = fs.vol.snaps.must('s');
  const addrs = (root: number): number[] => {
    const out: number[] = [];
    for (let c = 0; c < 12; c++) {
      const v = fs.vol.tree.get(root as never, key(keep, RecKind.MAP, c));
      if (v) out.push(...map_decode(v).addr.filter((a) => a !== 0));
    }
    return out;
  };
  const before = addrs(s.rootNid);
  // fill most of the rest, then let idle-time cleaning compact the half-empty segments
  const hot = fs.create(1, 'hot', 0o644).ino;
  fs.write(hot, 0, content(100, 8 * MiB));
  fs.sync();
  // keep writing a little with idle periods in between: the idle-time cleaner compacts the
  // half-empty segments, moving the shared blocks
  const more = fs.create(1, 'more', 0o644).ino;
  for (let k = 0; k < 400 && fs.cleaner.stats.dataMoved < 900; k++) {
    fs.write(more, (k % 8) * 65536, content(200 + k, 65536));
    fs.sync();
    fs.tick(1e15 + k);
  }
  const live = addrs(fs.vol.root);
  const snap = addrs(fs.vol.snap_root(s.index));
  const moved = live.filter((a, i) => a !== before[i]).length;
  t.ok(moved > 300, `the cleaner moved ${moved} of the ${before.length} shared blocks`);
  t.same(snap, live, 'the snapshot and the live tree still map the same blocks');
  t.ok(live.every((a) => fs.vol.log.refs(a) === 2 || fs.vol.log.refs(a) === 1), 'each held by the leaves that map it');
  t.equal(fs.snapshot_list({ usage: true })[0]!.exclusiveBytes! < 64 * 1024, true, 'the snapshot still holds (almost) nothing alone');
  t.same(fs.read(keep, 0, 3 * MiB), content(1, 3 * MiB), 'the file reads back');
  fs.unmount();
  fsck_ok(t, dev, 'after cleaning shared blocks');
  const ro = mount(dev, { snapshot: 's', readOnly: true });
  t.same(ro.read(ro.lookup(1, 'keep').ino, 0, 3 * MiB), content(1, 3 * MiB), 'and so does the snapshot');
  ro.unmount();
});

t.test('a hundred snapshots, deleted in time proportional to what changed', async (t) => {
  const dev = mkfs_mem(8192, GEO);
  const fs = mount(dev);
  system_a(fs, 400, 6);
  fs.sync();
  const files = fs.readdir(fs.lookup(1, 'usr').ino).filter((e) => e.type === 8).map((e) => e.ino);
  for (let i = 0; i < 100; i++) {
    ok(t, fs.snapshot([{ op: 'create', name: `n${i}` }]), i === 0 ? 'snapshots n0..n99' : `n${i}`);
    fs.write(files[i % files.length]!, 0, content(1000 + i, 3000));
  }
  t.equal(fs.snapshot_list().length, 100, '100 snapshots');
  fs.unmount();
  fsck_ok(t, dev, 'with 100 snapshots');
  const fs2 = mount(dev);
  const held = fs2.snapshot_held_bytes() / 4096;
  const free0 = fs2.statfs().bfree;
  t.ok(held > 100, `the snapshots hold ${held} blocks the live tree does not`);
  // deleting one snapshot visits what it holds alone, not the tree
  fs2.cache_drop();
  const loads0 = fs2.vol.nodes.loads;
  ok(t, fs2.snapshot([{ op: 'delete', name: 'n50' }]), 'delete n50');
  const loads = fs2.vol.nodes.loads - loads0;
  const total = fs2.vol.nat.used;
  t.ok(loads < 40, `deleting it read ${loads} nodes of ${total}`);
  for (let i = 0; i < 100; i++) if (i !== 50) ok(t, fs2.snapshot([{ op: 'delete', name: `n${i}` }]), i === 0 ? 'delete the rest' : `delete n${i}`);
  fs2.sync();
  const freed = fs2.statfs().bfree - free0;
  t.ok(Math.abs(freed - held) < 16, `deleting them all freed ${freed} blocks: what they held (${held})`);
  fs2.unmount();
  fsck_ok(t, dev, 'after deleting them all');
});
