// The table of inodes without extended attributes that the binding reads (src/fuse/noxattr.ts):
// a slot says "none" only for the inode whose number it holds; two inodes sharing a slot cost a
// request, never a wrong answer; clearing a slot for another inode leaves it alone.

import t from 'tap';
import { NOX_ACL_ACCESS, NOX_CAPABILITY, NoXattr } from '../../src/fuse/noxattr.js';

t.test('slots, collisions, clear and names', async (t) => {
  const n = new NoXattr(8);
  t.equal(n.table.length, 10, 'two header slots and eight for inodes');
  t.notOk(n.has(3), 'nothing known at first');
  n.note(3, true);
  t.ok(n.has(3), 'noted without attributes');
  t.equal(n.table[2 + 3], 3, 'in its slot (2 + ino % slots), as the binding reads it');
  n.note(11, true);
  t.ok(n.has(11) && !n.has(3), 'inode 11 takes the slot of 3: 3 is no longer known, never wrongly answered');
  n.note(3, false);
  t.ok(n.has(11), 'clearing 3 leaves 11 alone');
  n.note(11, false);
  t.notOk(n.has(11), 'cleared');
  n.note(2 ** 40 + 5, true);
  t.ok(n.has(2 ** 40 + 5) && !n.has(5), 'inode numbers above 32 bits');
  n.clear();
  t.notOk(n.has(2 ** 40 + 5), 'clear forgets every inode');
  t.equal(n.names, 0, 'no names answered until set');
  n.names_set(NOX_CAPABILITY | NOX_ACL_ACCESS);
  t.equal(n.table[0], 3, 'the names, in slot 0');
  t.equal(n.answered, 0, 'none answered');
  t.throws(() => new NoXattr(0), RangeError, 'at least one slot');
});
