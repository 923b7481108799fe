import t from 'tap';
import { bounded_set } from '../../src/util/bounded_map.js';

t.test('a new key past the bound starts the map over; a known key does not', async (t) => {
  const m = new Map<number, string>();
  for (let i = 0; i < 4; i++) bounded_set(m, i, `v${i}`, 4);
  t.equal(m.size, 4);
  bounded_set(m, 2, 'again', 4);
  t.equal(m.size, 4, 'an update of a key held keeps the rest');
  t.equal(m.get(2), 'again');
  bounded_set(m, 9, 'new', 4);
  t.same([...m.entries()], [[9, 'new']], 'a fifth key clears the four before it');
  for (let i = 0; i < 100; i++) {
    bounded_set(m, i, 'x', 4);
    t.ok(m.size <= 4 && m.has(i), `never past the bound, and the key just set is there (${i})`);
  }
});
