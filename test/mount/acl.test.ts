// POSIX ACLs and the shutdown ioctl through the mount (test/mount/acl_client.py makes the
// calls): an ACL grants and denies another user what the mode alone would not, a default ACL is
// inherited by new files and directories (replacing the umask), chmod rewrites the ACL's mask,
// noacl refuses them; a setter outside the file's group loses set-group-ID; FS_IOC_SHUTDOWN
// stops the filesystem at once, and the next mount shows what was durable: fsync'd data, not
// what was only written — unless its flags (read from the caller) ask for a flush first. All of
// it on the default mount and with the kernel's writeback cache.

import t from 'tap';
import path from 'node:path';
import { as_user, cmd_run, fuse_unavailable, mount_with } from '../helpers/fusemount.js';
import type { Mounted } from '../helpers/fusemount.js';
import { clean_after, cowlog_server, fsck, image_make, MOUNT_KINDS, ROOT } from './helpers.js';

const CLIENT = path.join(ROOT, 'test/mount/acl_client.py');
const NOBODY = 65534;

async function acl(m: Mounted, ...args: string[]): Promise<string> {
  const r = await m.run('python3', [CLIENT, ...args.map((a, i) => (i === 1 ? m.path(a) : a))], { cwd: '/', timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`acl_client ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** `sh -c script` as nobody, from '/' (absolute paths): its exit code and output. */
async function as_nobody(m: Mounted, script: string): Promise<{ code: number | null; out: string }> {
  const [cmd, args] = as_user(NOBODY, NOBODY, 'sh', ['-c', script]);
  const r = await m.run(cmd, args, { cwd: '/' });
  return { code: r.code, out: (r.stdout + r.stderr).trim() };
}

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  // each test on the default mount, then with the kernel's writeback cache
  for (const [label, opts] of MOUNT_KINDS) {
    t.test('ACLs: the kernel enforces them, directories hand them down, chmod keeps them in step' + label, async (t) => {
      const image = await image_make(t, '64M');
      const m = await mount_with(t, cowlog_server(image, ...opts, '-o', 'allow_other'));
      t.equal((await m.sh('echo secret > f && chmod 600 f && echo open > g && chmod 644 g && mkdir d && chmod 755 d')).code, 0, 'files as root');
      const f = m.path('f'), g = m.path('g');
      t.not((await as_nobody(m, `cat ${f}`)).code, 0, 'mode 600: nobody may not read f');
      t.equal(await acl(m, 'setacl', 'f', 'access', `u::rw-,u:${NOBODY}:r--,g::---,m::r--,o::---`), 'ok', 'an ACL granting nobody read');
      t.same(await as_nobody(m, `cat ${f}`), { code: 0, out: 'secret' }, 'nobody reads f through the ACL');
      t.equal(await acl(m, 'getacl', 'f', 'access'), `u::rw-,u:${NOBODY}:r--,g::---,m::r--,o::---`, 'getxattr gives the ACL back');
      t.equal((await m.run('stat', ['-c', '%a', 'f'])).stdout.trim(), '640', 'the mode shows the mask in its group bits');
      t.equal(await acl(m, 'setacl', 'g', 'access', `u::rw-,u:${NOBODY}:---,g::r--,m::r--,o::r--`), 'ok', 'an ACL denying nobody');
      t.not((await as_nobody(m, `cat ${g}`)).code, 0, 'mode 644 but a named entry without read: nobody may not read g');
      t.equal((await m.sh('chmod 600 f')).code, 0, 'chmod 600 f');
      t.equal(await acl(m, 'getacl', 'f', 'access'), `u::rw-,u:${NOBODY}:r--,g::---,m::---,o::---`, 'chmod set the mask from the group bits');
      t.not((await as_nobody(m, `cat ${f}`)).code, 0, 'and the mask now denies nobody');
      // a default ACL: new files and directories inherit it, and it replaces the umask
      t.equal(await acl(m, 'setacl', 'd', 'default', `u::rwx,u:${NOBODY}:rwx,g::r-x,m::rwx,o::---`), 'ok', 'a default ACL on d');
      t.equal((await m.sh('umask 077; echo x > d/new && mkdir d/sub')).code, 0, 'a file and a directory made in d with umask 077');
      t.equal(await acl(m, 'getacl', 'd/new', 'access'), `u::rw-,u:${NOBODY}:rwx,g::r-x,m::rw-,o::---`, 'd/new inherits it, cut to its mode (0666: the umask does not apply)');
      t.equal((await m.run('stat', ['-c', '%a', 'd/new', 'd/sub'])).stdout, '660\n770\n', 'modes follow the ACL, not the umask');
      t.equal(await acl(m, 'getacl', 'd/sub', 'default'), `u::rwx,u:${NOBODY}:rwx,g::r-x,m::rwx,o::---`, 'd/sub inherits the default ACL as its own');
      t.same(await as_nobody(m, `echo by-nobody >> ${m.path('d/new')} && cat ${m.path('d/new')}`), { code: 0, out: 'x\nby-nobody' }, 'nobody writes d/new through the inherited ACL');
      t.equal((await m.sh('umask 077; echo y > plain; stat -c %a plain')).stdout, '600\n', 'outside d the umask applies as before');
      t.equal(await acl(m, 'setacl', 'f', 'default', 'u::rwx,g::r-x,o::---'), 'EACCES', 'a default ACL on a file: EACCES');
      // set-group-ID and an access ACL (xfstests generic/375): the owner sets one; the bit stays
      // when the owner is in the file's group and goes when not (nor holding CAP_FSETID), as
      // Linux's posix_acl_update_mode has it — the kernel says which per request
      for (const [name, make] of [['s', 'touch s'], ['sd', 'mkdir sd']] as const) {
        for (const [gid, kept] of [[100, true], [101, false]] as const) {
          await m.sh(`rm -rf ${name}; ${make}; chown 100:100 ${name}; chmod 2755 ${name}`);
          // (python3 by its path: a PATH of root's may name a copy other users can not run)
          const [cmd, args] = as_user(100, gid, '/usr/bin/python3', [CLIENT, 'setacl', m.path(name), 'access', 'u::rwx,g::rwx,o::rwx']);
          t.equal((await m.run(cmd, args, { cwd: '/' })).stdout.trim(), 'ok', `the owner sets an access ACL on ${name}, as group ${gid}`);
          const want = `${make.startsWith('mkdir') ? 'd' : '-'}rwxrw${kept ? 's' : 'x'}rwx`;
          t.equal((await m.run('stat', ['-c', '%A', name])).stdout.trim(), want, `set-group-ID ${kept ? 'stays' : 'goes'}: ${want}`);
        }
      }
      await clean_after(t, m, image);
    });

    t.test('noacl: the ACL names are refused, as by ext4 mounted noacl' + label, async (t) => {
      const image = await image_make(t, '64M');
      const m = await mount_with(t, cowlog_server(image, ...opts, '-o', 'noacl'));
      t.equal((await m.sh('echo x > f')).code, 0, 'a file');
      t.match(await acl(m, 'setacl', 'f', 'access', 'u::rw-,g::r--,o::r--'), /^(EOPNOTSUPP|ENOTSUP)$/, 'setting an ACL: EOPNOTSUPP');
      await clean_after(t, m, image);
    });

    t.test('FS_IOC_SHUTDOWN: nothing more is written; the next mount has what was durable' + label, async (t) => {
      const image = await image_make(t, '64M');
      let m = await mount_with(t, cowlog_server(image, ...opts));
      t.equal((await m.sh('echo durable > a && sync a && python3 -c "import os; fd=os.open(\'a\', os.O_RDONLY); os.fsync(fd)" && echo lost > b')).code, 0, 'a fsync\'d, b only written');
      t.equal(await acl(m, 'shutdown', '.'), 'ok', 'the shutdown ioctl on the mountpoint');
      const after = await m.sh('cat a; echo more > c');
      t.match(after.stderr, /Input\/output error/, 'every request fails with EIO afterwards');
      const rep = await m.teardown();
      t.ok(rep.clean, 'the mount goes away', { rep });
      const f = await fsck(image, '-n');
      t.equal(f.code, 0, 'fsck: clean', { output: f.stdout + f.stderr });
      m = await mount_with(t, cowlog_server(image, ...opts));
      const r = await m.sh('cat a; test -e b && echo b-survived; test -e c && echo c-survived; true');
      t.equal(r.stdout, 'durable\n', 'the next mount has the fsync\'d file, not what was only written');
      // the flags, which FUSE does not carry, are read from the caller: LOGFLUSH (xfstests'
      // godown -f) and DEFAULT make what was written durable first; a flag beyond them is EINVAL
      t.equal(await acl(m, 'shutdown', '.', '3'), 'EINVAL', 'flags 3: EINVAL, and the mount goes on');
      t.equal((await m.sh('echo written > d && mkdir e')).code, 0, 'd and e only written');
      t.equal(await acl(m, 'shutdown', '.', '1'), 'ok', 'the shutdown ioctl, LOGFLUSH');
      t.match((await m.sh('cat d')).stderr, /Input\/output error/, 'EIO afterwards');
      t.ok((await m.teardown()).clean, 'the mount goes away');
      m = await mount_with(t, cowlog_server(image, ...opts));
      t.equal((await m.sh('cat a d; test -d e && echo e-there')).stdout, 'durable\nwritten\ne-there\n', 'the next mount has what was written before it');
      await clean_after(t, m, image);
    });
  }
}
