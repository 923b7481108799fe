// getxattr answered by the binding for files without attributes (src/fuse/noxattr.ts), tried as
// a new user would: `ls -l` of 300 files asks the server's handlers for no attribute (the kernel
// asks for each file's POSIX ACL), yet every attribute set afterwards is seen at once —
// security.capability and an ACL set on listed files, an ACL a new file inherits from its
// directory's default ACL, and attributes a rollback brings back. Counted by the server's own
// counts (`info --stats --json`: requests.getxattr reached a handler, binding.getxattrNone was
// answered by the binding). Servers run in processes of their own; the test process never
// touches a mount.

import t from 'tap';
import { fuse_unavailable, mount_with } from '../helpers/fusemount.js';
import type { Mounted } from '../helpers/fusemount.js';
import path from 'node:path';
import { clean_after, cowlog, cowlog_server, image_make, requests_served, ROOT } from './helpers.js';

/** ACLs set and read as their xattrs, without the acl package's tools */
const ACL = `python3 ${path.join(ROOT, 'test/mount/acl_client.py')}`;

interface Counts { handler: number; binding: number }

async function getxattrs(m: Mounted): Promise<Counts> {
  const s = await requests_served(m);
  return { handler: s.requests['getxattr'] ?? 0, binding: s.getxattrBinding };
}

/** A VFS_CAP_REVISION_2 value: CAP_NET_BIND_SERVICE permitted. */
const CAP = '0x0000000200040000000000000000000000000000';

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  t.test('ls -l of files without attributes costs their handler nothing; attributes set later are seen', async (t) => {
    const image = await image_make(t, '64M');
    const m = await mount_with(t, cowlog_server(image));
    t.equal((await m.sh('mkdir d && for i in $(seq 300); do : > d/f$i; done')).code, 0, '300 empty files');
    // the kernel forgets what it cached (the ACLs among it): ls asks for each file's again
    await m.sh('sync; echo 3 > /proc/sys/vm/drop_caches');
    const before = await getxattrs(m);
    const ls = await m.sh('ls -l d | wc -l');
    t.equal(ls.stdout, '301\n', 'ls -l lists them', { stderr: ls.stderr });
    const after = await getxattrs(m);
    t.ok(after.binding - before.binding >= 300, `the binding answered ${after.binding - before.binding} getxattr of the 300 files`);
    t.ok(after.handler - before.handler <= 3, `their handler was asked ${after.handler - before.handler} (one per file when the binding answers none)`);

    // attributes set on files the binding answered for: the next question reaches the handler
    const caps = await m.sh(`setfattr -n security.capability -v ${CAP} d/f1
      getfattr -e hex --only-values -n security.capability d/f1 | od -An -tx1 | tr -d ' \\n'; echo`);
    t.equal(caps.stdout, `${CAP.slice(2)}\n`, 'security.capability set on a listed file is read back', { stderr: caps.stderr });
    const acl = await m.sh(`${ACL} setacl d/f2 access u::rw-,u:65534:r--,g::r--,m::r--,o::r-- && sync && echo 3 > /proc/sys/vm/drop_caches && ${ACL} getacl d/f2 access`);
    t.equal(acl.stdout.trim().split('\n').pop(), 'u::rw-,u:65534:r--,g::r--,m::r--,o::r--', 'an ACL set on a listed file is read back after the kernel forgot it', { stderr: acl.stderr });
    const inherited = await m.sh(`mkdir e && ${ACL} setacl e default u::rwx,u:65534:rw-,g::r-x,m::rwx,o::r-x && : > e/g && ${ACL} getacl e/g access`);
    t.match(inherited.stdout, /u:65534:rw-/, 'a new file with an ACL from its directory\'s default shows it', { stderr: inherited.stderr });

    // a rollback gives a listed file its attribute back
    t.equal((await m.sh(`setfattr -n security.capability -v ${CAP} d/f3`)).code, 0, 'capability on f3');
    const snap = await cowlog(['snapshot', 'create', m.mountpoint, 'before']);
    t.equal(snap.code, 0, 'snapshot', { stderr: snap.stderr });
    t.equal((await m.sh('setfattr -x security.capability d/f3 && ls -l d > /dev/null')).code, 0, 'removed, listed again');
    const rb = await cowlog(['snapshot', 'rollback', m.mountpoint, 'before']);
    t.equal(rb.code, 0, 'rollback', { stderr: rb.stderr });
    const back = await m.sh('getfattr -e hex --only-values -n security.capability d/f3 | od -An -tx1 | tr -d " \\n"; echo');
    t.equal(back.stdout, `${CAP.slice(2)}\n`, 'the rolled-back file has its capability again', { stderr: back.stderr });
    await clean_after(t, m, image);
  });
}
