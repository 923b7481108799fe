// POSIX ACLs in the engine (src/fs/acl.ts, FileSystem with `acl`): values checked, the mode
// following an access ACL, inheritance of a directory's default ACL in place of the umask,
// chmod rewriting the ACL, durability across a remount, and refusal with ACLs off.

import t from 'tap';
import { ACL_ACCESS, ACL_DEFAULT, acl_decode, acl_encode, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, ACL_USER, ACL_USER_OBJ } from '../../src/fs/acl.js';
import type { AclEntry } from '../../src/fs/acl.js';
import { FsError } from '../../src/util/errors.js';
import { fsck_ok, mkfs_mem, mount } from '../helpers/engine.js';

const NOBODY = 65534;
const U = 0xffffffff;

function acl(...es: [number, number, number?][]): Buffer {
  return acl_encode(es.map(([tag, perm, id]): AclEntry => ({ tag, perm, id: id ?? U })));
}

function code(fn: () => unknown): string {
  try {
    fn();
    return 'success';
  } catch (e) {
    if (e instanceof FsError) return e.code;
    throw e;
  }
}

t.test('ACL values: what the kernel sends is checked', async (t) => {
  const good = acl([ACL_USER_OBJ, 6], [ACL_USER, 4, NOBODY], [ACL_GROUP_OBJ, 0], [ACL_MASK, 4], [ACL_OTHER, 0]);
  t.same(acl_decode(good).map((e) => e.tag), [ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER], 'five entries read back');
  t.equal(code(() => acl_decode(good.subarray(0, 11))), 'EINVAL', 'a torn value');
  t.equal(code(() => acl_decode(acl([ACL_USER_OBJ, 6], [ACL_USER, 4, 1], [ACL_GROUP_OBJ, 0], [ACL_OTHER, 0]))), 'EINVAL', 'named entries without a mask');
  t.equal(code(() => acl_decode(acl([ACL_USER_OBJ, 6], [ACL_OTHER, 0]))), 'EINVAL', 'no group entry');
  t.equal(code(() => acl_decode(acl([ACL_USER_OBJ, 9], [ACL_GROUP_OBJ, 0], [ACL_OTHER, 0]))), 'EINVAL', 'permissions above 7');
});

t.test('access ACLs set the mode, default ACLs are inherited, chmod rewrites them', async (t) => {
  const dev = mkfs_mem(4096);
  let fs = mount(dev, { acl: true });
  const f = fs.create(1, 'f', 0o100600).ino;
  fs.setxattr(f, ACL_ACCESS, acl([ACL_USER_OBJ, 6], [ACL_USER, 4, NOBODY], [ACL_GROUP_OBJ, 0], [ACL_MASK, 4], [ACL_OTHER, 0]));
  t.equal(fs.getattr(f).mode & 0o777, 0o640, 'the mode takes the mask as its group bits');
  fs.setattr(f, { mode: 0o600 });
  t.same(acl_decode(fs.getxattr(f, ACL_ACCESS)).find((e) => e.tag === ACL_MASK)?.perm, 0, 'chmod 600 sets the mask to ---');
  const g = fs.create(1, 'g', 0o100600).ino;
  fs.setxattr(g, ACL_ACCESS, acl([ACL_USER_OBJ, 7], [ACL_GROUP_OBJ, 5], [ACL_OTHER, 4]));
  t.equal(fs.getattr(g).mode & 0o777, 0o754, 'an ACL with only the three base entries is the mode');
  t.equal(code(() => fs.getxattr(g, ACL_ACCESS)), 'ENODATA', 'and is not kept');
  t.equal(code(() => fs.setxattr(f, ACL_DEFAULT, acl([ACL_USER_OBJ, 7], [ACL_GROUP_OBJ, 5], [ACL_OTHER, 0]))), 'EACCES', 'a default ACL on a file');
  const d = fs.mkdir(1, 'd', 0o755).ino;
  const def = acl([ACL_USER_OBJ, 7], [ACL_USER, 7, NOBODY], [ACL_GROUP_OBJ, 5], [ACL_MASK, 7], [ACL_OTHER, 0]);
  fs.setxattr(d, ACL_DEFAULT, def);
  const n = fs.create(d, 'n', 0o100666, 0, 0, 0, 0o077);
  t.equal(n.mode & 0o777, 0o660, 'a file made in d: its mode is cut by the default ACL, not the umask');
  t.same(acl_decode(fs.getxattr(n.ino, ACL_ACCESS)).map((e) => [e.tag, e.perm]), [[ACL_USER_OBJ, 6], [ACL_USER, 7], [ACL_GROUP_OBJ, 5], [ACL_MASK, 6], [ACL_OTHER, 0]], 'and it inherits the ACL');
  t.equal(code(() => fs.getxattr(n.ino, ACL_DEFAULT)), 'ENODATA', 'a file gets no default ACL');
  const sub = fs.mkdir(d, 'sub', 0o777, 0, 0, 0o077);
  t.equal(sub.mode & 0o777, 0o770, 'a directory made in d');
  t.ok(fs.getxattr(sub.ino, ACL_DEFAULT).equals(def), 'inherits the default ACL as its own');
  const p = fs.create(1, 'plain', 0o100666, 0, 0, 0, 0o027);
  t.equal(p.mode & 0o777, 0o640, 'outside d the umask applies');
  fs.unmount();
  fsck_ok(t, dev);
  fs = mount(dev, { acl: true });
  t.equal(fs.getattr(fs.lookup(d, 'n').ino).mode & 0o777, 0o660, 'it all survives a remount');
  t.ok(fs.getxattr(fs.lookup(d, 'n').ino, ACL_ACCESS).length > 4, 'the inherited ACL too');
  fs.unmount();
  const off = mount(dev);
  t.equal(code(() => off.setxattr(1, ACL_ACCESS, acl([ACL_USER_OBJ, 7], [ACL_GROUP_OBJ, 5], [ACL_OTHER, 0]))), 'ENOTSUP', 'with ACLs off: ENOTSUP');
  t.equal(off.create(d, 'm', 0o100666, 0, 0, 0, 0o022).mode & 0o777, 0o644, 'and the umask applies in d too');
  off.unmount();
  fsck_ok(t, dev);
});
