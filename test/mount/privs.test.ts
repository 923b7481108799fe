// What a write, truncate or chown takes from a file through the mount, and what asking it costs.
// cowlog takes over from the kernel what Linux clears (FUSE_HANDLE_KILLPRIV_V2, granted by the
// binding), so that the kernel stops asking for security.capability before every write(2):
// - set-user-ID goes on a write, truncate or fallocate by a user without CAP_FSETID, and on any
//   chown; set-group-ID with it when group execute is set or the user is outside the file's
//   group (as ext4 on this kernel: Linux's setattr_should_drop_sgid); root's writes keep both;
// - security.capability goes on any write;
// - stat shows the cleared mode at once (the kernel's cached attributes are dropped);
// - 500 writes of 4 KiB to one open file ask for no attribute after the first (a getxattr per
//   write(2) without it: counted by the server's own request counts, `info --stats --json`,
//   those the binding answered included).
// Each on the default mount and with the kernel's writeback cache. Servers run in processes of
// their own; the test process never touches a mount.

import t from 'tap';
import { as_user, fuse_unavailable, mount_with } from '../helpers/fusemount.js';
import type { Mounted } from '../helpers/fusemount.js';
import { clean_after, cowlog_server, image_make, MOUNT_KINDS, requests_served } from './helpers.js';

const NOBODY = 65534;

/** getxattr requests the kernel made: those its handler answered and those the binding did (noxattr.ts). */
async function getxattrs(m: Mounted): Promise<number> {
  const s = await requests_served(m);
  return (s.requests['getxattr'] ?? 0) + s.getxattrBinding;
}

/** `sh -c script` in the mount as the user nobody (no capabilities, no groups). */
function as_nobody(m: Mounted, script: string): ReturnType<Mounted['run']> {
  const [cmd, args] = as_user(NOBODY, NOBODY, 'sh', ['-c', script]);
  return m.run(cmd, args);
}

/** The octal permission bits of each file, one line each. */
async function modes(m: Mounted, files: string[]): Promise<string> {
  return (await m.run('stat', ['-c', '%n %a', ...files])).stdout;
}

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  // each test on the default mount, then with the kernel's writeback cache
  for (const [label, opts] of MOUNT_KINDS) {
    t.test('write, truncate, fallocate and chown clear set-user-ID and set-group-ID as Linux does' + label, async (t) => {
      const image = await image_make(t, '64M');
      const m = await mount_with(t, cowlog_server(image, ...opts));
      const made = await m.sh(`for f in w1 w2 w3 w4 r1 t1 t2 c1 d1 f1 f2; do : > $f; done
        chmod 6777 w1 r1 t1 && chmod 2767 w2 w4 t2 && chgrp ${NOBODY} w4 && chmod 4777 w3 && chmod 6755 c1 && mkdir d && chmod 2777 d
        chmod 6666 f1 f2
        stat -c '%n %a' w1 w2 w3 w4 r1 t1 t2 c1 d f1 f2`);
      t.equal(made.stdout, 'w1 6777\nw2 2767\nw3 4777\nw4 2767\nr1 6777\nt1 6777\nt2 2767\nc1 6755\nd 2777\nf1 6666\nf2 6666\n', 'modes set', { stderr: made.stderr });
      const w = await as_nobody(m, 'echo x >> w1 && echo x >> w2 && echo x >> w3 && echo x >> w4 && truncate -s 0 t1 && truncate -s 0 t2 && fallocate -l 64k f1');
      t.equal(w.code, 0, 'nobody writes, truncates and fallocates', { stderr: w.stderr });
      t.equal((await m.sh('echo x >> r1 && chown 1:1 c1 && echo x > d/f && fallocate -l 64k f2')).code, 0, 'root writes, chowns and fallocates');
      t.equal(await modes(m, ['w1', 'w2', 'w3', 'w4', 'r1', 't1', 't2', 'c1', 'd', 'f1', 'f2']),
        'w1 777\nw2 767\nw3 777\nw4 2767\nr1 6777\nt1 777\nt2 767\nc1 755\nd 2777\nf1 666\nf2 6666\n',
        'nobody\'s write, truncate and fallocate cleared set-user-ID, and set-group-ID with group execute or outside the group (w4 is nobody\'s group: kept); root\'s write and fallocate kept both; chown cleared them; a directory keeps its own');
      await clean_after(t, m, image);
      // after a remount (what the device holds, not what the kernel cached)
      const m2 = await mount_with(t, cowlog_server(image, ...opts));
      t.equal(await modes(m2, ['w1', 'w2', 'r1', 'c1', 'f1']), 'w1 777\nw2 767\nr1 6777\nc1 755\nf1 666\n', 'the modes were written');
      await clean_after(t, m2, image);
    });

    t.test('a write takes security.capability; writes ask for no attribute after the first' + label, async (t) => {
      const image = await image_make(t, '64M');
      const m = await mount_with(t, cowlog_server(image, ...opts));
      // a VFS_CAP_REVISION_2 value: CAP_NET_BIND_SERVICE permitted
      const caps = await m.sh(`: > f && setfattr -n security.capability -v 0x0000000200040000000000000000000000000000 f
        getfattr -e hex --only-values -n security.capability f | od -An -tx1 | tr -d ' \\n'; echo
        echo x >> f; getfattr -n security.capability f 2>&1 | grep -c 'No such attribute'`);
      t.equal(caps.stdout, '0000000200040000000000000000000000000000\n1\n', 'set, then gone after a write by root', { stderr: caps.stderr });
      const before = await getxattrs(m);
      const w = await m.run('python3', ['-c', `import os
fd = os.open('g', os.O_CREAT | os.O_WRONLY, 0o644)
for i in range(500): os.pwrite(fd, b'y' * 4096, (i * 7919 % 1024) * 4096)
os.close(fd)`]);
      t.equal(w.code, 0, '500 writes of 4 KiB', { stderr: w.stderr });
      const asked = (await getxattrs(m)) - before;
      t.ok(asked <= 2, `getxattr requests for 500 writes: ${asked} (one per write(2) when the kernel checks capabilities itself)`);
      await clean_after(t, m, image);
    });
  }
}
