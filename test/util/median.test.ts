// median: the middle of an odd count, the mean of the two middles of an even one, 0 for none,
// and the list given is left as it was.

import t from 'tap';
import { median } from '../../src/util/median.js';

t.test('median', async (t) => {
  t.equal(median([]), 0, 'none: 0');
  t.equal(median([7]), 7, 'one');
  const xs = [5, 1, 3];
  t.equal(median(xs), 3, 'odd count: the middle once sorted');
  t.same(xs, [5, 1, 3], 'the list given is not sorted in place');
  t.equal(median([4, 1, 3, 2]), 2.5, 'even count: the mean of the two middles');
  t.equal(median([10, 2, 30, 4]), 7, 'sorted as numbers, not as strings');
});
