// The caller context of the patched binding: uid, gid, pid and umask of the process that made
// each request, read with fuse_req_ctx() as each request is dispatched. Clients run as other users
// through setpriv; the probe server logs what it saw and nullfs makes files owned by the caller.

import t from 'tap';
import { as_user, fuse_unavailable } from '../helpers/fusemount.js';
import { probe_mount } from './probe.js';

const NOBODY = 65534;
const USERS_GID = 100;

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  t.test('a non-root caller is seen with its uid, gid, pid and umask', async (t) => {
    const p = await probe_mount(t, '--allow-other');
    const { m } = p;
    // cwd '/': a cwd inside the mount would be entered by the spawning child while still root
    const script = `umask 027; echo $$; id -u; id -g; : > ${m.path('owned')}; exec mkdir ${m.path('dir')}`;
    const [cmd, args] = as_user(NOBODY, USERS_GID, 'sh', ['-c', script]);
    const r = await m.run(cmd, args, { cwd: '/' });
    t.equal(r.code, 0, 'nobody creates a file and a directory', { stderr: r.stderr });
    const [pid, uid, gid] = r.stdout.trim().split('\n').map(Number);
    t.same([uid, gid], [NOBODY, USERS_GID], 'the client really ran as nobody:users');

    const create = await p.event_wait((e) => e.op === 'create' && e.path === '/owned');
    t.same(create.caller, { uid: NOBODY, gid: USERS_GID, pid, umask: 0o027 }, 'create sees the caller');
    t.equal(create.args[2], 0o100640, 'the mode arrives with the umask already applied by the kernel');
    const mkdir = await p.event_wait((e) => e.op === 'mkdir' && e.path === '/dir');
    t.same(mkdir.caller, { uid: NOBODY, gid: USERS_GID, pid, umask: 0o027 }, 'mkdir sees the caller');

    const st = await m.run('stat', ['-c', '%n %u %g %a', 'owned', 'dir']);
    t.equal(st.stdout, `owned ${NOBODY} ${USERS_GID} 640\ndir ${NOBODY} ${USERS_GID} 750\n`,
      'new files and directories belong to their creator');
  });

  t.test('every request carries its own caller; root is uid 0', async (t) => {
    const p = await probe_mount(t, '--allow-other');
    const { m } = p;
    const r = await m.sh('echo $$; : > rootfile');
    t.equal(r.code, 0, 'root creates a file', { stderr: r.stderr });
    const root_pid = Number(r.stdout.trim());
    // a directory listing is never answered from the kernel's caches, so it reaches the server
    const [cmd, args] = as_user(NOBODY, NOBODY, 'sh', ['-c', `echo $$; exec ls -n ${m.mountpoint}`]);
    const s = await m.run(cmd, args, { cwd: '/' });
    t.equal(s.code, 0, 'nobody lists the directory', { stderr: s.stderr });
    const nobody_pid = Number(s.stdout.split('\n')[0]);

    const create = await p.event_wait((e) => e.op === 'create' && e.path === '/rootfile');
    t.same(create.caller, { uid: 0, gid: 0, pid: root_pid, umask: 0o022 }, 'root\'s create');
    // `exec ls` keeps the shell's pid, so ls's own requests carry it
    const seen = (await p.events()).filter((e) => e.caller.pid === nobody_pid);
    t.ok(seen.some((e) => e.op === 'readdir' || e.op === 'readdirplus'), 'nobody\'s listing reached the server');
    t.same(seen.filter((e) => e.caller.uid !== NOBODY || e.caller.gid !== NOBODY), [], 'each of its requests carries nobody');
    t.match(s.stdout, /^-rw-r--r-- +1 0 0 +0 .* rootfile$/m, 'and sees root as the owner');
  });
}
