import t from 'tap';
import { PowerCutError, SECTOR_SIZE, SECTORS_PER_BLOCK, SimDevice } from '../../src/device/sim.js';
import type { SimDeviceOptions } from '../../src/device/sim.js';
import { BLOCK_SIZE } from '../../src/device/device.js';
import { FsError } from '../../src/util/errors.js';
import { AssertionError } from '../../src/util/assert.js';
import { Prng } from '../../src/util/prng.js';
import { pattern_block } from './loop.js';

const fill = (v: number, blocks = 1) => Buffer.alloc(blocks * BLOCK_SIZE, v);
const powerCut = { name: 'PowerCutError' };

t.test('reads see the newest write, flush makes it durable, counters and write log', async (t) => {
  const dev = new SimDevice(8, { writeLog: true, name: 'sim0' });
  t.equal(dev.name, 'sim0');
  dev.write(1, fill(1));
  dev.write(1, fill(2));
  dev.write(3, fill(3, 2));
  t.same(dev.read(1), fill(2), 'reads see the newest version, like a page cache');
  t.same(dev.read(3, 2), fill(3, 2));
  t.equal(dev.pendingBlocks, 3);
  t.same(dev.durableImage(), Buffer.alloc(8 * BLOCK_SIZE), 'nothing is durable before flush');
  t.same(dev.image().subarray(BLOCK_SIZE, 2 * BLOCK_SIZE), fill(2), 'image() shows what reads see');
  dev.flush();
  t.equal(dev.pendingBlocks, 0);
  t.same(dev.durableImage().subarray(BLOCK_SIZE, 5 * BLOCK_SIZE), Buffer.concat([fill(2), fill(0), fill(3, 2)]), 'flush made the newest versions durable');
  dev.discard(0, 8);
  t.equal(dev.writesIssued, 3);
  t.equal(dev.blocksWritten, 4, 'a 2-block request counts 2 blocks');
  t.equal(dev.flushes, 1);
  t.equal(dev.reads, 2);
  t.same(dev.writeLog, [{ addr: 1, count: 1 }, { addr: 1, count: 1 }, { addr: 3, count: 2 }]);
  t.equal(new SimDevice(2).writeLog, null, 'no log unless asked');
  const src = fill(9);
  dev.write(0, src);
  src.fill(0);
  t.same(dev.read(0), fill(9), 'write copies the caller\'s buffer');
  t.throws(() => dev.write(7, fill(0, 2)), RangeError);
  t.throws(() => dev.write(0, Buffer.alloc(100)), RangeError);
  dev.close();
  t.throws(() => dev.read(0), AssertionError, 'use after close is a bug');
});

t.test("powerCut('flushed') and ('all'): a new device, the old one dead", async (t) => {
  const dev = new SimDevice(4);
  dev.write(0, fill(1));
  dev.flush();
  dev.write(0, fill(2));
  dev.write(1, fill(3));
  dev.failRead(2);
  const flushed = dev.powerCut('flushed');
  t.ok(dev.isCut, 'powerCut cuts the power of the device it is called on');
  t.same(flushed.image(), Buffer.concat([fill(1), fill(0), fill(0), fill(0)]), 'only what was flushed survives');
  const all = dev.powerCut('all');
  t.same(all.image(), Buffer.concat([fill(2), fill(3), fill(0), fill(0)]), 'every write survives');
  t.not(flushed, dev);
  t.notOk(all.isCut, 'the survivor has power');
  t.equal(all.writesIssued, 0, 'and fresh counters');
  t.same(all.read(2), fill(0), 'and no faults');
  for (const op of [() => dev.read(0), () => dev.write(0, fill(5)), () => dev.flush(), () => dev.discard(0, 1)]) {
    t.throws(op, powerCut, 'every I/O of the old device throws PowerCutError');
  }
  try {
    dev.read(0);
  } catch (e) {
    t.ok(e instanceof PowerCutError && !(e instanceof FsError), 'PowerCutError is not an FsError');
  }
  dev.close(); // teardown still works
  // writes to the survivor do not leak into the device it came from (blocks are shared)
  all.write(0, fill(7));
  all.flush();
  t.same(dev.powerCut('all').read(0), fill(2), 'the survivor does not alias the original');
});

t.test('cutAfter(n): n writes complete, the next is lost, then everything throws', async (t) => {
  const dev = new SimDevice(8);
  dev.cutAfter(3);
  dev.write(0, fill(1));
  dev.flush(); // a flush is not a write request
  dev.write(1, fill(2, 2));
  t.same(dev.read(0), fill(1), 'reads work before the cut');
  dev.write(3, fill(3));
  t.throws(() => dev.write(4, fill(4)), powerCut, 'the 4th write is lost');
  t.ok(dev.isCut);
  t.throws(() => dev.read(0), powerCut);
  t.throws(() => dev.flush(), powerCut);
  t.throws(() => dev.write(5, fill(5)), powerCut);
  const all = dev.powerCut('all');
  t.same(all.image().subarray(0, 5 * BLOCK_SIZE), Buffer.concat([fill(1), fill(2, 2), fill(3), fill(0)]), 'exactly the writes before the cut exist');
  t.same(dev.powerCut('flushed').image().subarray(0, 2 * BLOCK_SIZE), Buffer.concat([fill(1), fill(0)]), 'and only the first was flushed');
  t.equal(dev.writesIssued, 3, 'the lost write is not counted');

  const zero = new SimDevice(2);
  zero.cutAfter(0);
  t.throws(() => zero.write(0, fill(1)), powerCut, 'cutAfter(0): the next write is already lost');
  t.same(zero.powerCut('all').image(), Buffer.alloc(2 * BLOCK_SIZE));
  t.throws(() => zero.cutAfter(-1), RangeError);
});

t.test('cutAfterRequests(n): writes and flushes both count, and a flush can be the request refused', async (t) => {
  // write, flush, write, flush: cut after each of the 0..4 requests
  const seen: string[] = [];
  for (let n = 0; n <= 4; n++) {
    const dev = new SimDevice(4);
    dev.cutAfterRequests(n);
    let done = 0;
    try {
      dev.write(0, fill(1)); done++;
      dev.flush(); done++;
      dev.write(1, fill(2)); done++;
      dev.flush(); done++;
    } catch (e) {
      t.equal((e as Error).name, 'PowerCutError', `cut after ${n} requests: a power cut`);
    }
    t.equal(done, n, `cut after ${n} requests: exactly ${n} completed`);
    t.ok(dev.isCut || n === 4, n === 4 ? 'four requests run through' : 'the device is dead');
    const f = dev.powerCut('flushed').image();
    seen.push(`${f[0]}${f[BLOCK_SIZE]}`);
  }
  t.same(seen, ['00', '00', '10', '10', '12'], 'what survives with unflushed writes lost: each flush makes its write durable, the refused one does not');
  t.throws(() => new SimDevice(1).cutAfterRequests(-1), RangeError);
});

t.test('cutting power after every write of a sequence leaves exactly each prefix', async (t) => {
  // The loop crash tests run: replay the same writes, cut after n, check what survived.
  const writes = Array.from({ length: 12 }, (_, i) => ({ addr: (i * 5) % 7, data: pattern_block(i) }));
  let ok = true;
  for (let n = 0; n <= writes.length; n++) {
    const dev = new SimDevice(7);
    dev.cutAfter(n);
    const model = new Map<number, Buffer>();
    for (const [i, w] of writes.entries()) {
      try {
        dev.write(w.addr, w.data);
        model.set(w.addr, w.data);
      } catch (e) {
        if (!(e instanceof PowerCutError) || i !== n) ok = false;
        break;
      }
    }
    const img = dev.powerCut('all').image();
    for (let a = 0; a < 7; a++) ok &&= img.subarray(a * BLOCK_SIZE, (a + 1) * BLOCK_SIZE).equals(model.get(a) ?? fill(0));
  }
  t.ok(ok, 'for n = 0..12, the survivor holds the first n writes and the cut fell on write n');
});

/** Writes `versions` unflushed versions to each of `blocks` blocks over a durable image. Every
 *  sector of version v holds byte v (1..versions); the durable content is 0xd0. */
function versioned_device(opts: SimDeviceOptions, blocks: number, versions: number): SimDevice {
  const dev = SimDevice.from(Buffer.alloc(blocks * BLOCK_SIZE, 0xd0), opts);
  for (let v = 1; v <= versions; v++) for (let a = 0; a < blocks; a++) dev.write(a, fill(v));
  return dev;
}

type Outcome = { kind: 'durable' } | { kind: 'version'; v: number } | { kind: 'torn'; v: number; k: number } | { kind: 'invalid' };

/** Classifies a surviving block of versioned_device: intact durable content, an intact version,
 *  or version v torn at sector k over the version before it (durable when v = 1). */
function outcome_of(block: Buffer): Outcome {
  const sectors: number[] = [];
  for (let s = 0; s < SECTORS_PER_BLOCK; s++) {
    const sec = block.subarray(s * SECTOR_SIZE, (s + 1) * SECTOR_SIZE);
    if (!sec.equals(Buffer.alloc(SECTOR_SIZE, sec[0]!))) return { kind: 'invalid' };
    sectors.push(sec[0]!);
  }
  const first = sectors[0]!;
  if (sectors.every((x) => x === first)) return first === 0xd0 ? { kind: 'durable' } : { kind: 'version', v: first };
  const k = sectors.findIndex((x) => x !== first);
  const before = first === 1 ? 0xd0 : first - 1;
  if (first !== 0xd0 && sectors.slice(k).every((x) => x === before)) return { kind: 'torn', v: first, k };
  return { kind: 'invalid' };
}

t.test("powerCut('random'): each block is the durable content, one version, or a sector-torn version", async (t) => {
  const blocks = 400, versions = 3;
  const dev = versioned_device({ seed: 11, tearProbability: 0.3 }, blocks, versions);
  const img = dev.powerCut('random').image();
  const seen = { durable: 0, version: new Set<number>(), torn: 0, tornK: new Set<number>(), invalid: 0 };
  for (let a = 0; a < blocks; a++) {
    const o = outcome_of(img.subarray(a * BLOCK_SIZE, (a + 1) * BLOCK_SIZE));
    if (o.kind === 'durable') seen.durable++;
    else if (o.kind === 'version') seen.version.add(o.v);
    else if (o.kind === 'torn') { seen.torn++; seen.tornK.add(o.k); }
    else seen.invalid++;
  }
  t.equal(seen.invalid, 0, 'no block holds anything else (tears fall on 512-byte sector boundaries)');
  t.ok(seen.durable > 0, `some blocks kept their durable content (${seen.durable})`);
  t.same([...seen.version].sort(), [1, 2, 3], 'every unflushed version, not only the newest, can survive');
  t.ok(seen.torn > 0, `some blocks are torn (${seen.torn})`);
  t.same([...seen.tornK].sort(), [1, 2, 3, 4, 5, 6, 7], 'tears happen at every sector boundary 1..7');
  // With these numbers about 30 % of the 300 or so non-durable picks tear.
  t.ok(seen.torn > 40 && seen.torn < 150, `tear rate follows tearProbability (${seen.torn} torn)`);

  const never = versioned_device({ seed: 11, tearProbability: 0 }, 100, 2).powerCut('random').image();
  const always = versioned_device({ seed: 11, tearProbability: 1 }, 100, 2).powerCut('random').image();
  let tornNever = 0, intactAlways = 0;
  for (let a = 0; a < 100; a++) {
    if (outcome_of(never.subarray(a * BLOCK_SIZE, (a + 1) * BLOCK_SIZE)).kind === 'torn') tornNever++;
    if (outcome_of(always.subarray(a * BLOCK_SIZE, (a + 1) * BLOCK_SIZE)).kind === 'version') intactAlways++;
  }
  t.equal(tornNever, 0, 'tearProbability 0: nothing torn');
  t.equal(intactAlways, 0, 'tearProbability 1: every surviving version is torn');
});

t.test("powerCut('random') tears over a never-written block with zeros, and leaves flushed blocks alone", async (t) => {
  const dev = new SimDevice(64, { seed: 5, tearProbability: 1 });
  dev.write(63, fill(0x77));
  dev.flush();
  for (let a = 0; a < 63; a++) dev.write(a, fill(0x42));
  const img = dev.powerCut('random').image();
  t.same(img.subarray(63 * BLOCK_SIZE), fill(0x77), 'a flushed block is never touched');
  let ok = true, torn = 0;
  for (let a = 0; a < 63; a++) {
    const b = img.subarray(a * BLOCK_SIZE, (a + 1) * BLOCK_SIZE);
    if (b.equals(fill(0))) continue;
    const k = b.indexOf(0);
    ok &&= k > 0 && k % SECTOR_SIZE === 0 && b.subarray(0, k).equals(Buffer.alloc(k, 0x42)) && b.subarray(k).equals(Buffer.alloc(BLOCK_SIZE - k));
    torn++;
  }
  t.ok(torn > 0, `${torn} blocks torn`);
  t.ok(ok, 'a torn block is the new sectors then zeros, split at a sector boundary');
});

t.test('replay by seed: same seed, same survivor; different seeds, different outcomes', async (t) => {
  const run = (seed: number): Buffer => {
    const dev = new SimDevice(300, { seed });
    const prng = new Prng(99); // the workload is the same for every seed
    for (let i = 0; i < 900; i++) {
      const data = Buffer.alloc(BLOCK_SIZE);
      prng.fill(data);
      dev.write(prng.int(0, 299), data);
      if (i === 300) dev.flush();
    }
    return dev.powerCut('random').image();
  };
  const a = run(1), b = run(1), c = run(2);
  t.ok(a.equals(b), 'the same seed gives the same surviving image, byte for byte');
  let differ = 0;
  for (let i = 0; i < 300; i++) if (!a.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE).equals(c.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE))) differ++;
  t.ok(differ > 50, `another seed gives another outcome (${differ} of 300 blocks differ)`);

  // Successive cuts of one device explore different outcomes, and replay as a sequence.
  const seq = (seed: number) => {
    const dev = versioned_device({ seed }, 50, 3);
    return [dev.powerCut('random').image(), dev.powerCut('random').image()];
  };
  const [s1, s2] = seq(3), [r1, r2] = seq(3);
  t.ok(s1!.equals(r1!) && s2!.equals(r2!), 'a sequence of cuts replays');
  t.notOk(s1!.equals(s2!), 'two cuts of the same state differ');
  // The survivor's own random cuts are seeded too.
  const child = (seed: number) => {
    const s = versioned_device({ seed }, 50, 2).powerCut('all');
    for (let a = 0; a < 50; a++) s.write(a, fill(9));
    return s.powerCut('random').image();
  };
  t.ok(child(4).equals(child(4)), 'a survivor\'s power cuts replay from the parent seed');
});

t.test('faults: failRead, failWrite, flipBit, clearFaults', async (t) => {
  const dev = new SimDevice(8, { writeLog: true });
  dev.write(2, fill(0x21));
  dev.write(3, fill(0x31));
  dev.flush();
  dev.failRead(3);
  t.throws(() => dev.read(3), { name: 'FsError', code: 'EIO', message: /block 3/ }, 'EIO naming the block');
  t.throws(() => dev.read(1, 4), { name: 'FsError', code: 'EIO', message: /block 3/ }, 'a multi-block read touching it fails');
  t.same(dev.read(2), fill(0x21), 'other blocks read fine');

  dev.failWrite(5);
  t.throws(() => dev.write(4, fill(0x44, 2)), { name: 'FsError', code: 'EIO', message: /write of block 5/ });
  t.same(dev.read(4), fill(0), 'a failed request writes none of its blocks');
  t.equal(dev.writesIssued, 2, 'and is not counted');
  t.equal(dev.writeLog?.length, 2);

  dev.write(2, fill(0x22)); // pending over the durable 0x21
  dev.flipBit(2, 13);
  const flipped = (v: number) => { const b = fill(v); b[1]! ^= 0x20; return b; };
  t.same(dev.read(2), flipped(0x22), 'the pending version has the bit flipped (byte 1, bit 5)');
  t.same(dev.powerCut('flushed').read(2), flipped(0x21), 'and so has the durable content');
  const fresh = new SimDevice(2);
  fresh.flipBit(1, BLOCK_SIZE * 8 - 1);
  const top = fill(0);
  top[BLOCK_SIZE - 1] = 0x80;
  t.same(fresh.read(1), top, 'a bit flipped in a never-written block');
  t.throws(() => fresh.flipBit(1, BLOCK_SIZE * 8), RangeError);

  const after = dev.powerCut('all');
  t.same(after.read(3), fill(0x31), 'faults are not carried over a power cut');
  after.failRead(0);
  after.failWrite(1);
  after.clearFaults();
  t.doesNotThrow(() => { after.read(0); after.write(1, fill(1)); }, 'clearFaults removes read and write faults');
  t.same(after.read(2), flipped(0x22), 'flipped bits stay flipped');
});

t.test('SimDevice.from keeps the image as durable content', async (t) => {
  const src = Buffer.concat([pattern_block(0), fill(0), pattern_block(2)]);
  const dev = SimDevice.from(src);
  src.fill(0);
  t.same(dev.powerCut('flushed').image(), Buffer.concat([pattern_block(0), fill(0), pattern_block(2)]));
  t.throws(() => SimDevice.from(Buffer.alloc(100)), RangeError);
  t.throws(() => new SimDevice(4, { tearProbability: 2 }), RangeError);
});
