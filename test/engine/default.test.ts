// The default tree and trial boots of an A/B root system, on the engine: a trial that is never
// marked good falls back by itself, mark-good keeps the new tree, the refusals that keep the boot
// state meaningful, and power cuts after every device request of set-default, of the try a mount
// counts and of mark-good — each time the next mount serves the tree the counts say, never a
// third state, and fsck is clean.

import t from 'tap';
import type { Test } from 'tap';
import { MemoryDevice } from '../../src/device/memory.js';
import type { SimDevice } from '../../src/device/sim.js';
import { cut_run } from '../../src/crash/table.js';
import type { PowerCutMode } from '../../src/device/sim.js';
import type { BlockDevice } from '../../src/device/device.js';
import { BLOCK_SIZE } from '../../src/device/device.js';
import { FileSystem } from '../../src/fs/fs.js';
import type { FsOptions, SnapRequest } from '../../src/fs/fs.js';
import { Volume } from '../../src/checkpoint/volume.js';
import { FORMAT_VERSION } from '../../src/format/geometry.js';
import { clock_fixed } from '../../src/checkpoint/clock.js';
import { block_seal } from '../../src/format/block.js';
import { BOOT_FLAG_TRIAL } from '../../src/format/boot.js';
import type { BootState } from '../../src/format/boot.js';
import { boot_choose } from '../../src/roots/default.js';
import { FsError } from '../../src/util/errors.js';
import { fsck } from '../../src/fsck/fsck.js';
import { system_a, system_b, tree_dump, dump_diff } from '../helpers/tree.js';
import { fsck_ok, UUID } from '../helpers/engine.js';

const SOAK = process.env.COWLOG_SOAK === '1';
let clockAt = 1_700_001_000;
const clock = (): ReturnType<typeof clock_fixed> => clock_fixed(clockAt += 10);

function mount(dev: BlockDevice, o: FsOptions = {}): FileSystem {
  return FileSystem.mount(dev, { clock: clock(), ...o });
}

function snap_ok(fs: FileSystem, reqs: SnapRequest[]): string[] {
  const r = fs.snapshot(reqs);
  return r.map((x) => {
    if (!x.ok) throw x.error;
    return x.note ?? '';
  });
}

/** System A in the main tree, a clone B of it upgraded to system B; returns the image and both dumps. */
function ab_image(): { img: Buffer; A: string; B: string } {
  const dev = new MemoryDevice(4096);
  FileSystem.mkfs(dev, { segBlocks: 8, fanout: 4, uuid: UUID, clock: clock_fixed() });
  let fs = mount(dev);
  system_a(fs, 60, 5);
  snap_ok(fs, [{ op: 'clone', from: '@main', name: 'B' }]);
  fs.unmount();
  fs = mount(dev, { snapshot: 'B' });
  system_b(fs, 6);
  fs.unmount();
  const dump = (o: FsOptions): string => { const f = mount(dev, { readOnly: true, ...o }); const d = JSON.stringify([...tree_dump(f)]); f.unmount(); return d; };
  return { img: dev.image(), A: dump({ snapshot: '@main' }), B: dump({ snapshot: 'B' }) };
}

const ab = ab_image();

/** Which system a mounted filesystem shows: 'A', 'B' or a description of neither. */
function system_of(fs: FileSystem): string {
  const d = JSON.stringify([...tree_dump(fs)]);
  if (d === ab.A) return 'A';
  if (d === ab.B) return 'B';
  return `neither A nor B (${dump_diff(new Map(JSON.parse(ab.A) as [string, string][]), tree_dump(fs), 2).join('; ')})`;
}

/** A plain mount as the FUSE server makes it: boots, serves, unmounts; what it served and why. */
function boot_once(dev: BlockDevice, log: string[] = []): { system: string; kind: string; tryNo: number; tries: number; failed: string | null } {
  const fs = mount(dev, { boot: true, log: (m) => log.push(m) });
  const r = fs.vol.mount.boot;
  const out = { system: system_of(fs), kind: r.kind, tryNo: r.tryNo, tries: r.tries, failed: r.failed };
  fs.unmount();
  return out;
}

function boot_state(dev: BlockDevice): BootState {
  const v = Volume.open(dev, { readOnly: true });
  const b = { ...v.boot };
  v.abandon();
  return b;
}

t.test('a trial of 2 mounts without mark-good falls back on the third mount', async (t) => {
  const dev = MemoryDevice.from(ab.img);
  let fs = mount(dev);
  const [note] = snap_ok(fs, [{ op: 'set-default', name: 'B', trial: 2 }]);
  t.match(note, /default @main; B on trial, 2 of 2 mounts left/, `set-default --trial 2 B: ${note}`);
  fs.unmount();
  const log: string[] = [];
  t.same(boot_once(dev, log), { system: 'B', kind: 'trial', tryNo: 1, tries: 2, failed: null }, 'mount 1 serves B on trial, try 1 of 2');
  t.match(log.join('\n'), /serving B on trial: mount 1 of 2/, 'and says so in the log');
  fsck_ok(t, dev, 'after mount 1');
  t.same(boot_once(dev), { system: 'B', kind: 'trial', tryNo: 2, tries: 2, failed: null }, 'mount 2 serves B on trial, try 2 of 2');
  t.same(boot_state(dev), { defaultTree: 0, flags: BOOT_FLAG_TRIAL, trialTree: 1, trialTries: 2, trialLeft: 0 }, 'no try left');
  fsck_ok(t, dev, 'after mount 2');
  log.length = 0;
  t.same(boot_once(dev, log), { system: 'A', kind: 'fallback', tryNo: 0, tries: 2, failed: 'B' }, 'mount 3 falls back: system A, by itself');
  t.match(log.join('\n'), /the trial of B ran out after 2 mounts without mark-good: serving the default @main again/, 'the log says so');
  fs = mount(dev, { readOnly: true });
  const st = fs.boot_status();
  t.same([st.default, st.trial, st.fellBack], ['@main', null, { tree: 'B', tries: 2 }], 'the boot state records the fallback');
  t.match(st.text, /the trial of B ran out after 2 mounts without mark-good, so @main is served again/, 'in words (cowlog info shows this)');
  fs.unmount();
  t.same(boot_once(dev), { system: 'A', kind: 'default', tryNo: 0, tries: 0, failed: null }, 'mount 4: A, the default, as every mount from now on');
  fs = mount(dev);
  t.same(fs.vol.mount.boot.kind, 'default', 'a plain open (no boot) serves the default too');
  t.equal(system_of(fs), 'A', 'system A');
  fs.unmount();
  fsck_ok(t, dev, 'after the fallback');
});

t.test('mark-good on the second mount keeps B', async (t) => {
  const dev = MemoryDevice.from(ab.img);
  let fs = mount(dev);
  snap_ok(fs, [{ op: 'set-default', name: 'B', trial: 2 }]);
  fs.unmount();
  t.equal(boot_once(dev).system, 'B', 'mount 1: B on trial, not marked good');
  fs = mount(dev, { boot: true });
  t.same([system_of(fs), fs.vol.mount.boot.kind, fs.vol.mount.boot.tryNo], ['B', 'trial', 2], 'mount 2: B on trial, try 2');
  t.same(snap_ok(fs, [{ op: 'mark-good', name: '@live' }]), ['B is the default now'], 'mark-good on the running mount');
  t.same(fs.boot_status().default, 'B', 'B is the default at once');
  t.match(fs.snapshot_list().find((s) => s.name === 'B'), { default: true, trial: null, mounted: true }, 'snapshot_list marks it');
  fs.unmount();
  fsck_ok(t, dev, 'after mark-good');
  for (let i = 3; i <= 5; i++) t.same(boot_once(dev), { system: 'B', kind: 'default', tryNo: 0, tries: 0, failed: null }, `mount ${i}: B, the default`);
  t.same(boot_state(dev), { defaultTree: 1, flags: 0, trialTree: 0, trialTries: 0, trialLeft: 0 }, 'nothing on trial any more');
  fs = mount(dev, { boot: true });
  t.same(snap_ok(fs, [{ op: 'mark-good', name: '@live' }]), ['nothing on trial: B is the default already'], 'mark-good again (a boot script runs it every time): nothing to do');
  fs.unmount();
  fsck_ok(t, dev, 'at the end');
});

t.test('set-default, @default, explicit trees, read-only boots and the refusals', async (t) => {
  const dev = MemoryDevice.from(ab.img);
  let fs = mount(dev);
  const refused = (reqs: SnapRequest[], code: string, re: RegExp, what: string): void => {
    const r = fs.snapshot(reqs)[0]!;
    t.ok(!r.ok && r.error.code === code && re.test(r.error.message), `${what}: ${r.ok ? 'accepted!' : r.error.message}`);
  };
  snap_ok(fs, [{ op: 'create', name: 'ro' }]);
  refused([{ op: 'set-default', name: 'ro' }], 'EINVAL', /read-only snapshot and a plain mount is read-write: clone it/, 'a read-only snapshot cannot be the default');
  refused([{ op: 'set-default', name: 'nope' }], 'ENOENT', /no snapshot named "nope"/, 'nor a name that does not exist');
  refused([{ op: 'set-default', name: '@main', trial: 2 }], 'EINVAL', /@main is the default already/, 'the default cannot go on trial');
  refused([{ op: 'set-default', name: 'B', trial: 0 }], 'EINVAL', /--trial 0: the number of mounts, 1 to 65535/, 'a trial of no mounts');
  refused([{ op: 'mark-good', name: '@trial' }], 'EINVAL', /no tree is on trial \(the default is @main\)/, 'mark-good with nothing on trial (a device)');
  t.same(snap_ok(fs, [{ op: 'mark-good', name: '@live' }]), ['nothing on trial: @main is the default already'], 'mark-good on the mount of the default: nothing to do');
  t.match(snap_ok(fs, [{ op: 'set-default', name: 'B' }])[0], /^default B$/, 'set-default B');
  t.equal(system_of(fs), 'A', 'this mount keeps serving its tree');
  refused([{ op: 'delete', name: 'B' }], 'EBUSY', /"B" is the default tree: make another tree the default first/, 'the default cannot be deleted');
  t.same(fs.snapshot_diff('@main', '@default'), fs.snapshot_diff('@live', 'B'), "'@default' names B in diff");
  snap_ok(fs, [{ op: 'clone', from: '@default', name: 'C' }, { op: 'clone', from: '@live', name: 'L' }]);
  t.same(fs.snapshot_diff('L', '@main'), { added: [], removed: [], changed: [] }, "a clone of '@live' is the tree this mount serves (A)");
  fs.unmount();
  fs = mount(dev);
  t.equal(system_of(fs), 'B', 'a plain open now serves B');
  t.match(fs.snapshot_list().find((s) => s.name === 'C'), { parent: 'B' }, "a clone of '@default' is a clone of B");
  snap_ok(fs, [{ op: 'set-default', name: '@main', trial: 3 }]);
  refused([{ op: 'mark-good', name: '@live' }], 'EINVAL', /this mount serves B, but @main is on trial: mark-good is run on the mount that serves the tree on trial/, 'mark-good from a mount of another tree');
  fs.unmount();
  fs = mount(dev, { snapshot: '@main' });
  t.equal(system_of(fs), 'A', 'an explicit tree wins over the trial');
  t.equal(fs.vol.mount.boot.kind, 'explicit', 'and is reported so');
  refused([{ op: 'delete', name: 'B' }], 'EBUSY', /is the default tree/, 'B is still the default while @main is on trial');
  fs.unmount();
  fs = mount(dev, { snapshot: '@default', readOnly: true });
  t.equal(system_of(fs), 'B', "'@default' mounts the default tree");
  fs.unmount();
  fs = mount(dev, { boot: true, readOnly: true });
  t.same([system_of(fs), fs.vol.mount.boot.kind, fs.vol.mount.boot.counted], ['A', 'trial', false], 'a read-only boot serves the tree on trial, counting nothing');
  fs.unmount();
  t.equal(boot_state(dev).trialLeft, 3, 'explicit and read-only mounts left the 3 tries');
  fs = mount(dev);
  t.same(snap_ok(fs, [{ op: 'mark-good', name: '@trial' }]), ['@main is the default now'], 'mark-good on the device keeps whatever is on trial');
  fs.unmount();
  fs = mount(dev);
  snap_ok(fs, [{ op: 'delete', name: 'C' }, { op: 'delete', name: 'B' }, { op: 'delete', name: 'L' }]);
  t.same(fs.snapshot_list().map((s) => s.name), ['ro'], 'B deletes once no boot state names it');
  fs.unmount();
  fsck_ok(t, dev, 'at the end');
});

t.test('deleting the tree whose trial ran out forgets the fallback note', async (t) => {
  const dev = MemoryDevice.from(ab.img);
  let fs = mount(dev);
  snap_ok(fs, [{ op: 'set-default', name: 'B', trial: 1 }]);
  fs.unmount();
  boot_once(dev);
  t.equal(boot_once(dev).kind, 'fallback', 'the trial of 1 mount ran out');
  fs = mount(dev);
  snap_ok(fs, [{ op: 'delete', name: 'B' }]);
  t.same([fs.boot_status().fellBack, fs.boot_status().text], [null, 'default @main'], 'the note went with B (its slot may be reused)');
  snap_ok(fs, [{ op: 'clone', from: '@main', name: 'B2' }]);
  t.equal(fs.snapshot_list()[0]!.name, 'B2', 'the slot is reused');
  fs.unmount();
  t.equal(boot_once(dev).kind, 'default', 'and nothing is said of it');
  fsck_ok(t, dev);
});

t.test('an image of an older format (1 or 2) is refused with one line', async (t) => {
  for (const version of [1, 2]) {
    const img = Buffer.from(ab.img);
    for (const a of [0, 1]) {
      const b = img.subarray(a * BLOCK_SIZE, (a + 1) * BLOCK_SIZE);
      b.writeUInt16LE(version, 4);
      block_seal(b);
    }
    const dev = MemoryDevice.from(img);
    let err: unknown;
    try { Volume.open(dev); } catch (e) { err = e; }
    t.ok(err instanceof FsError && err.code === 'EINVAL', `format ${version}: EINVAL, not a damaged filesystem`);
    const msg = (err as Error).message;
    t.match(msg, new RegExp(`memory: made by an older cowlog \\(format ${version}\\); this cowlog reads format ${FORMAT_VERSION}: copy the files off`), msg);
    t.notMatch(msg, /\n/, 'one line');
    t.throws(() => fsck(dev, { readOnly: true }), { code: 'EINVAL' }, 'fsck says the same');
  }
});

// ---- power cuts ------------------------------------------------------------------------------

interface Step {
  what: string;
  image: Buffer;
  /** the mount the step runs in (null: the step is a mount) */
  open: FsOptions | null;
  run(dev: BlockDevice, fs: FileSystem | null): void;
}

const trialImage = ((): Buffer => {
  const dev = MemoryDevice.from(ab.img);
  const fs = mount(dev);
  snap_ok(fs, [{ op: 'set-default', name: 'B', trial: 2 }]);
  fs.unmount();
  return dev.image();
})();

/** B on trial, and the last mount (of A) crashed after fsyncs: the next mount rolls A forward, then switches to B. */
const uncleanImage = ((): Buffer => {
  const dev = MemoryDevice.from(trialImage);
  const fs = mount(dev, { snapshot: '@main' });
  const ino = fs.create(1, 'fsynced-on-A', 0o644).ino;
  fs.write(ino, 0, Buffer.alloc(6000, 0x5a));
  fs.fsync(ino);
  fs.write(ino, 6000, Buffer.from('a small append, logged as a patch'));
  fs.fsync(ino);
  fs.vol.abandon(); // the power went: no unmount
  return dev.image();
})();

const STEPS: Step[] = [
  { what: 'set-default --trial 2 B', image: ab.img, open: {}, run: (_d, fs) => { snap_ok(fs!, [{ op: 'set-default', name: 'B', trial: 2 }]); } },
  { what: 'set-default B', image: ab.img, open: {}, run: (_d, fs) => { snap_ok(fs!, [{ op: 'set-default', name: 'B' }]); } },
  { what: 'the try a mount counts (mount, then unmount)', image: trialImage, open: null, run: (dev) => { FileSystem.mount(dev, { clock: clock_fixed(1_700_002_000), boot: true }).unmount(); } },
  { what: 'the try a mount counts after a crash that left fsync groups on A', image: uncleanImage, open: null, run: (dev) => { FileSystem.mount(dev, { clock: clock_fixed(1_700_002_000), boot: true }).unmount(); } },
  { what: 'mark-good on the mount that booted B', image: trialImage, open: { boot: true }, run: (_d, fs) => { snap_ok(fs!, [{ op: 'mark-good', name: '@live' }]); } },
];

/** Runs a step on a simulated device; the power goes after `cut` of its write and flush requests (null: never). */
function step_run(s: Step, cut: number | null, seed: number): { sim: SimDevice; requests: number; returned: boolean; start: BootState } {
  const r = cut_run(s.image, s.open, s.run, seed, cut);
  return { sim: r.sim, requests: r.requests.length, returned: r.returned, start: boot_state(MemoryDevice.from(r.start)) };
}

/** Each tree's dump, by tree number (0 = the main tree, 1 = B). */
function trees_of(dev: BlockDevice): string[] {
  return ['@main', 'B'].map((n) => { const f = mount(dev, { readOnly: true, snapshot: n }); const d = JSON.stringify([...tree_dump(f)]); f.unmount(); return d; });
}

/**
 * The next mount after the cut: the boot state it finds must be before or after, and it must
 * serve what that state says — the tree with the contents it had (the step changes no file).
 */
function cut_check(t: Test, dev: BlockDevice, before: BootState, after: BootState, trees: string[], label: string): 'before' | 'after' | null {
  const rep = fsck(dev, { readOnly: true, data: true });
  if (rep.errors.length) { t.same(rep.errors, [], `${label}: fsck clean`); return null; }
  const found = boot_state(dev);
  const which = JSON.stringify(found) === JSON.stringify(before) ? 'before' : JSON.stringify(found) === JSON.stringify(after) ? 'after' : null;
  if (!which) { t.fail(`${label}: a third boot state ${JSON.stringify(found)} (before ${JSON.stringify(before)}, after ${JSON.stringify(after)})`); return null; }
  const want = boot_choose(found);
  const fs = mount(dev, { boot: true });
  const got = { ...fs.vol.mount.boot, dump: JSON.stringify([...tree_dump(fs)]) };
  fs.unmount();
  const name = want.tree === 0 ? '@main' : 'B';
  if (got.dump !== trees[want.tree] || got.kind !== want.kind || got.tryNo !== want.tryNo) {
    const served = trees.indexOf(got.dump);
    t.fail(`${label}: the boot state is ${which} the step, so the next mount must serve ${name} (${want.kind}, try ${want.tryNo}); it served ${served < 0 ? 'a tree that is neither' : served === 0 ? '@main' : 'B'} (${got.kind}, try ${got.tryNo})`);
    return null;
  }
  if (JSON.stringify(boot_state(dev)) !== JSON.stringify(want.next)) { t.fail(`${label}: that mount left ${JSON.stringify(boot_state(dev))}, not ${JSON.stringify(want.next)}`); return null; }
  const rep2 = fsck(dev, { readOnly: true, data: true });
  if (rep2.errors.length) { t.same(rep2.errors, [], `${label}: fsck clean after the next mount`); return null; }
  return which;
}

for (const s of STEPS) {
  t.test(`power cut after every device request of ${s.what}: the next mount serves a tree consistent with the counts`, async (t) => {
    const full = step_run(s, null, 1);
    t.ok(full.returned, 'the step completes without a cut');
    const before = full.start;
    const after = boot_state(MemoryDevice.from(full.sim.image()));
    const trees = trees_of(MemoryDevice.from(full.sim.image()));
    t.same(trees_of(MemoryDevice.from(s.image)), trees, 'the step changes no file of either tree');
    t.not(JSON.stringify(after), JSON.stringify(before), `it changes the boot state: ${JSON.stringify(before)} → ${JSON.stringify(after)}`);
    t.ok(full.requests >= 4, `it issues ${full.requests} write and flush requests`);
    const modes: PowerCutMode[] = ['flushed', 'all', ...Array.from({ length: SOAK ? 12 : 3 }, () => 'random' as const)];
    let nBefore = 0, nAfter = 0;
    for (let cut = 0; cut <= full.requests; cut++) {
      const r = step_run(s, cut === full.requests ? null : cut, 7 + cut);
      if (r.returned !== (cut === full.requests)) { t.fail(`cut after request ${cut}: the step ${r.returned ? 'returned' : 'did not return'}`); return; }
      for (const mode of modes) {
        const which = cut_check(t, r.sim.powerCut(mode), before, after, trees, `${s.what}, cut after request ${cut} of ${full.requests} (${mode})`);
        if (which === null) return;
        if (which === 'before') nBefore++;
        else nAfter++;
      }
    }
    t.pass(`${nBefore + nAfter} cuts: ${nBefore} came back before, ${nAfter} after; each next mount served the tree its counts say, fsck clean`);
    t.ok(nBefore > 0 && nAfter > 0, 'both sides were seen');
  });
}
