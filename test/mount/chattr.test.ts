// chattr and lsattr through the mount, tried as a new user would (e2fsprogs' tools; the kernel
// asks cowlog with FS_IOC_GETFLAGS/SETFLAGS, and with FS_IOC_FSGETXATTR for xfs_io's view):
// immutable and append-only files and directories refuse what Linux refuses them with EPERM,
// the kernel's own checks (the owner; CAP_LINUX_IMMUTABLE for i and a) hold, a handle opened
// before chattr +i writes no more (on a mount with the kernel's writeback cache, pages it took
// before are still written back), and the flags outlive a remount. Each ends with fsck.

import t from 'tap';
import type { Test } from 'tap';
import { fuse_unavailable, mount_with } from '../helpers/fusemount.js';
import type { Mounted } from '../helpers/fusemount.js';
import { clean_after, cowlog_server, image_make, MOUNT_KINDS } from './helpers.js';

/** Runs `script` in the mount; its stdout and stderr together (so refusals show). */
async function sh(m: Mounted, script: string): Promise<string> {
  const r = await m.sh(`${script} 2>&1`);
  return r.stdout;
}

/** Each line of `script` run alone: 'ok' or the error's text, one per line. */
async function each(m: Mounted, script: string): Promise<string[]> {
  const lines = script.trim().split('\n').map((l) => l.trim());
  const out: string[] = [];
  for (const l of lines) {
    const r = await m.sh(`${l} 2>&1`);
    out.push(r.code === 0 ? 'ok' : /Operation not permitted/.test(r.stdout) ? 'EPERM' : r.stdout.trim());
  }
  return out;
}

/** FS_IOC_FSGETXATTR's fsx_xflags of `file`, as xfs_io lsattr reads them. */
const XFLAGS = (file: string): string => `python3 -c "import fcntl,os,struct; fd=os.open('${file}',os.O_RDONLY); print(hex(struct.unpack('<I', fcntl.ioctl(fd, 0x801c581f, bytes(28))[:4])[0]))"`;

async function flags(m: Mounted, file: string): Promise<string> {
  return (await sh(m, `lsattr -d ${file}`)).split(' ')[0]!.replace(/-/g, '');
}

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  for (const [label, opts] of MOUNT_KINDS) {
    t.test('chattr +i: a file and a directory that do not change' + label, async (t: Test) => {
      const image = await image_make(t, '64M');
      const m = await mount_with(t, cowlog_server(image, ...opts));
      await sh(m, 'echo data > f; echo other > g; mkdir d; echo x > d/x; setfattr -n user.a -v 1 f');
      t.equal((await sh(m, 'chattr +i f d; echo $?')).trim(), '0', 'chattr +i');
      t.equal(await flags(m, 'f'), 'i', 'lsattr shows it');
      t.equal((await sh(m, XFLAGS('f'))).trim(), '0x8', 'FS_IOC_FSGETXATTR: FS_XFLAG_IMMUTABLE');
      t.same(await each(m, `
        sh -c 'echo more >> f'
        sh -c 'echo new > f'
        truncate -s 0 f
        rm -f f
        mv f h
        ln f h
        chmod 600 f
        chown 1 f
        touch f
        touch -d @5 f
        setfattr -n user.b -v 2 f
        setfattr -x user.a f
        mv g f
        touch d/new
        mkdir d/new
        rm d/x
        mv d/x y
        mv g d/g
        rmdir d`), Array(19).fill('EPERM'), 'writing, truncating, removing, renaming, linking, chmod, chown, touch, xattrs; names in the directory: each EPERM');
      t.equal(await sh(m, 'cat f; getfattr --only-values -n user.a f; echo; cat d/x; ls d'), 'data\n1\nx\nx\n', 'reads and listings work, nothing changed');
      t.equal(await sh(m, 'echo y > d/x && cat d/x'), 'y\n', 'a file in an immutable directory is not immutable itself');
      t.equal((await sh(m, 'chattr -i f d && rm f && touch d/new && ls d')), 'new\nx\n', 'with the flag cleared, all of it works again');
      await clean_after(t, m, image);
    });

    t.test('chattr +a: only added to; the kernel\'s own checks; a handle opened before +i' + label, async (t: Test) => {
      const image = await image_make(t, '64M');
      const m = await mount_with(t, cowlog_server(image, ...opts));
      const wb = opts.length > 0;
      await sh(m, 'echo one > f; mkdir d; echo x > d/x; chmod 777 d');
      t.equal((await sh(m, 'chattr +a f d; echo $?')).trim(), '0', 'chattr +a');
      t.same(await each(m, `
        sh -c 'echo two >> f'
        sh -c 'echo new > f'
        truncate -s 0 f
        rm -f f
        ln f h
        chmod 600 f
        touch -d @5 f
        touch f
        touch d/new
        rm d/x
        mv d/x y`), ['ok', 'EPERM', 'EPERM', 'EPERM', 'EPERM', 'EPERM', 'EPERM', wb ? 'EPERM' : 'ok', 'ok', 'EPERM', 'EPERM'],
      'appending works, overwriting and truncating do not; touch to now works (not with the writeback cache: the kernel sends now as a time), to a time does not; a directory takes names and gives none');
      t.equal(await sh(m, 'sync; cat f; ls d'), 'one\ntwo\nnew\nx\n', 'the append landed');
      // the kernel checks the owner, and CAP_LINUX_IMMUTABLE for i and a, before asking cowlog
      t.match(await sh(m, 'setpriv --reuid=65534 --regid=65534 --clear-groups chattr +d f'), /Operation not permitted/, 'another user: EPERM');
      t.match(await sh(m, 'setpriv --inh-caps=-linux_immutable --bounding-set=-linux_immutable chattr -a f'), /Operation not permitted/, 'root without CAP_LINUX_IMMUTABLE can not clear a');
      t.equal((await sh(m, 'setpriv --inh-caps=-linux_immutable --bounding-set=-linux_immutable chattr +d f; echo $?')).trim(), '0', 'but sets d');
      t.equal(await flags(m, 'f'), 'ad', 'lsattr: a and d');
      t.equal((await sh(m, 'chattr -a f d; echo $?')).trim(), '0', 'chattr -a');
      // a handle opened before chattr +i
      const py = `python3 -c "
import os, subprocess
fd = os.open('f', os.O_WRONLY | os.O_APPEND)
subprocess.run(['chattr', '+i', 'f'], check=True)
try:
    os.write(fd, b'late\\n'); os.fsync(fd); print('written')
except OSError as e:
    print(os.strerror(e.errno))
"`;
      t.equal((await sh(m, py)).trim(), wb ? 'written' : 'Operation not permitted',
        wb ? 'writeback cache: the kernel took the write before asking; cowlog writes its pages back' : 'the write through it is refused: EPERM');
      t.equal(await sh(m, 'cat f'), wb ? 'one\ntwo\nlate\n' : 'one\ntwo\n', 'the file holds what was accepted');
      await clean_after(t, m, image);
      // the flags outlive the remount
      const m2 = await mount_with(t, cowlog_server(image, ...opts));
      t.equal(await flags(m2, 'f'), 'id', 'after a remount: i and d');
      t.match(await sh(m2, 'rm -f f'), /Operation not permitted/, 'still immutable');
      await sh(m2, 'chattr -i f');
      await clean_after(t, m2, image);
    });
  }
}
