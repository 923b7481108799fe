// The bounded ring tracers read from: order kept, overflow dropped and counted, never grown.

import t from 'tap';
import { Ring } from '../../src/util/ring.js';
import { Prng } from '../../src/util/prng.js';

t.test('first in, first out; a full ring drops and counts', async (t) => {
  const r = new Ring<number>(4);
  for (let i = 0; i < 6; i++) r.push(i);
  t.equal(r.size, 4, 'holds its capacity');
  t.equal(r.lost, 2, 'two pushes dropped');
  t.same([r.shift(), r.shift()], [0, 1], 'the oldest come out first, the newest were dropped');
  r.push(6);
  r.push(7);
  r.push(8);
  t.equal(r.lost_take(), 3, 'lost_take counts every drop');
  t.equal(r.lost, 0, 'and clears it');
  const rest: number[] = [];
  for (let x = r.shift(); x !== undefined; x = r.shift()) rest.push(x);
  t.same(rest, [2, 3, 6, 7], 'wrapped around in order');
  t.equal(r.shift(), undefined, 'empty');
  t.throws(() => new Ring(0), /ring capacity 0/);
});

t.test('random pushes and shifts against an array', async (t) => {
  const rng = new Prng(3);
  const r = new Ring<number>(37);
  const model: number[] = [];
  let lost = 0;
  for (let i = 0; i < 20000; i++) {
    if (rng.float() < 0.55) {
      const ok = r.push(i);
      if (model.length < 37) model.push(i);
      else lost++;
      if (ok !== (model[model.length - 1] === i)) { t.fail(`push ${i}: ring said ${ok}`); break; }
    } else {
      const x = r.shift();
      if (x !== model.shift()) { t.fail(`shift at ${i}: ring ${x}`); break; }
    }
    if (r.size !== model.length || r.size > 37) { t.fail(`size ${r.size} against ${model.length}`); break; }
  }
  t.equal(r.lost, lost, `${lost} drops counted`);
});
