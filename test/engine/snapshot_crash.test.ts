// Power cuts during snapshot operations: for create, delete, clone, rollback and a batch of
// them, the power is cut after every single device write the operation issues, with unflushed
// writes kept, lost, or some of each in any order. Each time the device must mount, fsck clean,
// and be entirely before or entirely after the operation: the main tree, the snapshot list and
// every snapshot's tree.

import t from 'tap';
import { MemoryDevice } from '../../src/device/memory.js';
import { PowerCutError, SimDevice } from '../../src/device/sim.js';
import type { PowerCutMode } from '../../src/device/sim.js';
import type { BlockDevice } from '../../src/device/device.js';
import { FileSystem } from '../../src/fs/fs.js';
import type { SnapRequest } from '../../src/fs/fs.js';
import { fsck } from '../../src/fsck/fsck.js';
import { clock_fixed } from '../../src/checkpoint/clock.js';
import { system_a, system_b, tree_dump } from '../helpers/tree.js';
import { UUID } from '../helpers/engine.js';

const SOAK = process.env.COWLOG_SOAK === '1';

/** Everything a snapshot operation may change, as one comparable string per tree. */
function state(dev: BlockDevice): string {
  const fs = FileSystem.mount(dev, { readOnly: true, clock: clock_fixed(1_700_000_300) });
  const list = fs.snapshot_list();
  const out = [`main ${JSON.stringify([...tree_dump(fs)])}`, `list ${JSON.stringify(list.map((s) => [s.name, s.writable, s.auto]))}`];
  fs.unmount();
  for (const s of list) {
    const ss = FileSystem.mount(dev, { readOnly: true, snapshot: s.name, clock: clock_fixed(1_700_000_300) });
    out.push(`${s.name} ${JSON.stringify([...tree_dump(ss)])}`);
    ss.unmount();
  }
  return out.join('\n');
}

function base_image(): Buffer {
  const mem = new MemoryDevice(2048);
  FileSystem.mkfs(mem, { segBlocks: 8, fanout: 4, uuid: UUID, clock: clock_fixed() });
  const fs = FileSystem.mount(mem, { clock: clock_fixed(1_700_000_100) });
  system_a(fs, 40, 7);
  fs.snapshot([{ op: 'create', name: 'A' }]);
  system_b(fs, 8);
  fs.snapshot([{ op: 'clone', from: 'A', name: 'c' }]);
  fs.unmount();
  return mem.image();
}

/** Runs `reqs` on a simulated device from image; power goes after `cut` of its writes (null: never). */
function run(image: Buffer, reqs: SnapRequest[], cut: number | null, seed: number): { sim: SimDevice; first: number; last: number; crashed: boolean } {
  const sim = SimDevice.from(image, { seed });
  const fs = FileSystem.mount(sim, { clock: clock_fixed(1_700_000_100) });
  const first = sim.writesIssued + 1;
  if (cut !== null) sim.cutAfter(cut);
  try {
    const r = fs.snapshot(reqs);
    if (!r.every((x) => x.ok)) throw new Error(`${JSON.stringify(reqs)} failed: ${r.map((x) => (x.ok ? 'ok' : x.error.message)).join('; ')}`);
    return { sim, first, last: sim.writesIssued, crashed: false };
  } catch (e) {
    if (!(e instanceof PowerCutError)) throw e;
    return { sim, first, last: sim.writesIssued, crashed: true };
  }
}

const OPS: { what: string; reqs: SnapRequest[] }[] = [
  { what: 'create', reqs: [{ op: 'create', name: 'new' }] },
  { what: 'delete', reqs: [{ op: 'delete', name: 'A' }] },
  { what: 'clone', reqs: [{ op: 'clone', from: 'A', name: 'c2' }] },
  { what: 'rollback', reqs: [{ op: 'rollback', name: 'A' }] },
  { what: 'rollback --discard', reqs: [{ op: 'rollback', name: 'c', discard: true }] },
  { what: 'a batch', reqs: [{ op: 'create', name: 'x' }, { op: 'delete', name: 'c' }, { op: 'clone', from: 'x', name: 'y' }] },
];

const image = base_image();

for (const { what, reqs } of OPS) {
  t.test(`power cut during ${what}`, async (t) => {
    const before = state(MemoryDevice.from(image));
    const full = run(image, reqs, null, 1);
    t.notOk(full.crashed, 'the operation completes without a cut');
    const after = state(full.sim);
    t.not(after, before, 'and changes something');
    const writes = full.last - full.first + 1;
    t.ok(writes >= 2, `it issues ${writes} device write requests (what the checkpoint names, then its header)`);
    let n = 0, nBefore = 0, nAfter = 0;
    const modes: PowerCutMode[] = ['flushed', 'all', 'random'];
    const seeds = SOAK ? 16 : 4;
    // cut == writes: the power goes right after the operation returned
    for (let cut = 0; cut <= writes; cut++) {
      for (let k = 0; k < modes.length * seeds; k++) {
        const mode = modes[k % modes.length]!;
        const r = run(image, reqs, cut, cut * 101 + k);
        if (r.crashed !== cut < writes) { t.fail(`cut after write ${cut}: the operation ${r.crashed ? 'did not finish' : 'finished anyway'}`); return; }
        const dev = r.sim.powerCut(mode);
        const rep = fsck(dev, { readOnly: true, data: true });
        if (rep.errors.length) { t.same(rep.errors, [], `cut after write ${cut} (${mode}): fsck clean`); return; }
        const got = state(dev);
        if (got === before) nBefore++;
        else if (got === after) nAfter++;
        else { t.fail(`cut after write ${cut} (${mode}): the device is neither before nor after ${what}`); return; }
        n++;
      }
    }
    t.pass(`${n} cuts: ${nBefore} came back before ${what}, ${nAfter} after, none in between; fsck clean every time`);
    t.ok(nBefore > 0, 'a cut before the checkpoint header is durable leaves the state before');
    t.ok(nAfter > 0, 'once the operation returned, a cut leaves the state after');
  });
}

t.test('power cuts while the cleaner moves blocks that snapshots share', async (t) => {
  // a small device kept nearly full: live files churn beside two snapshots, so cleaning moves
  // shared blocks; every cut must leave fsck clean and the snapshots exactly as they were
  const mem = new MemoryDevice(1024);
  FileSystem.mkfs(mem, { segBlocks: 8, fanout: 4, uuid: UUID, clock: clock_fixed() });
  const fs0 = FileSystem.mount(mem, { clock: clock_fixed(1_700_000_100) });
  system_a(fs0, 30, 9);
  fs0.snapshot([{ op: 'create', name: 'A' }]);
  system_b(fs0, 10);
  fs0.snapshot([{ op: 'create', name: 'B' }]);
  fs0.unmount();
  const img = mem.image();
  const snaps = (dev: BlockDevice): string => state(dev).split('\n').filter((l) => !l.startsWith('main ')).join('\n');
  const before = snaps(MemoryDevice.from(img));
  const churn = (sim: SimDevice, cleaning: number[] | null): boolean => {
    const fs = FileSystem.mount(sim, { clock: clock_fixed(1_700_000_100), dirtyBytesMax: 64 << 10 });
    if (cleaning) {
      const move = fs.cleaner.seg_move.bind(fs.cleaner);
      fs.cleaner.seg_move = (s: number): void => {
        const from = sim.writesIssued;
        move(s);
        for (let w = from + 1; w <= sim.writesIssued; w++) cleaning.push(w);
      };
    }
    try {
      const d = fs.mkdir(1, 'churn', 0o755).ino;
      for (let i = 0; i < 400; i++) {
        const name = `f${i % 16}`;
        let ino: number;
        try { ino = fs.lookup(d, name).ino; } catch { ino = fs.create(d, name, 0o644).ino; }
        fs.write(ino, (i % 5) * 16384, Buffer.alloc(48 * 1024, i));
        if (i % 7 === 6) { try { fs.unlink(d, `f${(i * 5) % 16}`); } catch { /* already gone */ } }
        if (i % 10 === 9) fs.sync();
      }
      fs.unmount();
      return false;
    } catch (e) {
      if (!(e instanceof PowerCutError)) throw e;
      return true;
    }
  };
  const cleaning: number[] = [];
  const full = SimDevice.from(img, { seed: 1 });
  t.notOk(churn(full, cleaning), 'the churn runs to the end');
  t.ok(cleaning.length >= 20, `the cleaner issued ${cleaning.length} of ${full.writesIssued} writes`);
  t.equal(snaps(full), before, 'the snapshots are unchanged after it');
  const picks = SOAK ? cleaning : cleaning.filter((_, i) => i % Math.max(1, Math.floor(cleaning.length / 25)) === 0);
  let n = 0;
  for (const w of picks) {
    const sim = SimDevice.from(img, { seed: w });
    sim.cutAfter(w - 1);
    if (!churn(sim, null)) { t.fail(`cut after write ${w}: the churn finished anyway`); return; }
    const dev = sim.powerCut(w % 2 ? 'random' : 'flushed');
    const rep = fsck(dev, { readOnly: true, data: true });
    if (rep.errors.length) { t.same(rep.errors, [], `cut inside cleaning at write ${w}: fsck clean`); return; }
    if (snaps(dev) !== before) { t.fail(`cut inside cleaning at write ${w}: a snapshot changed`); return; }
    n++;
  }
  t.pass(`${n} cuts inside cleaning: fsck clean and both snapshots intact every time`);
});
