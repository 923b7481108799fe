// Snapshots of a mounted filesystem, tried as a new user would: the A/B root story through the
// mount (snapshot, upgrade, roll back, roll forward), batching of requests sent together, the
// refusal to roll back under open files, and snapshots and clones mounted with --snapshot.
// The test process never touches the mount: shell and node children do. All of it on the
// default mount and with the kernel's writeback cache.

import t from 'tap';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { cmd_run } from '../helpers/fusemount.js';
import { cowlog, daemon_guard, image_make, mountpoint_make, fsck, MOUNT_KINDS } from './helpers.js';
import { control_request } from '../../src/fuse/control.js';
import { socket_path } from '../../src/fuse/runtime.js';

/** A node child building "system A" in dir: files, a symlink, a hard link, modes, an xattr-free tree. */
const BUILD_A = `
const fs = require('fs'), p = require('path'), d = process.argv[1];
for (const sub of ['etc', 'usr/lib', 'usr/bin', 'var/log']) fs.mkdirSync(p.join(d, sub), { recursive: true });
for (let i = 0; i < 150; i++) {
  const f = p.join(d, ['etc', 'usr/lib', 'usr/bin', 'var/log'][i % 4], 'f' + i);
  fs.writeFileSync(f, Buffer.alloc((i * 997) % 20000, i));
  fs.chmodSync(f, [0o644, 0o600, 0o755][i % 3]);
}
fs.writeFileSync(p.join(d, 'etc/version'), 'A\\n');
fs.symlinkSync('../etc/version', p.join(d, 'usr/version'));
fs.linkSync(p.join(d, 'etc/f0'), p.join(d, 'usr/f0-link'));
`;

/** Turns it into "system B": modify, delete, add, rename. */
const BUILD_B = `
const fs = require('fs'), p = require('path'), d = process.argv[1];
fs.writeFileSync(p.join(d, 'etc/version'), 'B\\n');
for (let i = 0; i < 150; i += 7) fs.unlinkSync(p.join(d, ['etc', 'usr/lib', 'usr/bin', 'var/log'][i % 4], 'f' + i));
for (let i = 1; i < 150; i += 11) fs.appendFileSync(p.join(d, ['etc', 'usr/lib', 'usr/bin', 'var/log'][i % 4], 'f' + i), 'upgraded');
fs.mkdirSync(p.join(d, 'opt/new'), { recursive: true });
for (let i = 0; i < 40; i++) fs.writeFileSync(p.join(d, 'opt/new', 'n' + i), 'new ' + i);
fs.renameSync(p.join(d, 'usr/bin/f2'), p.join(d, 'usr/bin/f2.renamed'));
`;

/** Everything a user sees of the tree: paths, types, modes, link counts, sizes, targets, digests. */
async function listing(dir: string): Promise<string> {
  const r = await cmd_run('sh', ['-c', `cd '${dir}' && find . -printf '%p %y %m %n %s %l\\n' | sort && find . -type f -exec sha1sum {} + | sort -k2`], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`listing ${dir}: ${r.stderr}`);
  return r.stdout;
}

async function node_in(dir: string, script: string): Promise<void> {
  const r = await cmd_run(process.execPath, ['-e', script, dir], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`node child in ${dir}: ${r.stderr}`);
}

// on the default mount, then with the kernel's writeback cache
for (const [label, opts] of MOUNT_KINDS) {
  t.test('snapshots through a running mount' + label, async (t) => {
    const img = await image_make(t, '64M');
    const mnt = mountpoint_make(t);
    daemon_guard(t, mnt);
    let r = await cowlog(['mount', ...opts, img, mnt]);
    t.equal(r.code, 0, `mounted: ${r.stderr}`);
    await node_in(mnt, BUILD_A);
    const A = await listing(mnt);
    t.ok(A.split('\n').length > 300, 'system A written through the mount');

    r = await cowlog(['snapshot', 'create', mnt, 'A']);
    t.equal(r.code, 0, `snapshot A through the mount: ${r.stderr}`);

    // requests sent at the same moment share one checkpoint
    const sock = socket_path(mnt);
    const seq0 = ((await control_request(sock, { op: 'status' })).status!).checkpointSeq;
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => control_request(sock, { op: 'snapshot', reqs: [{ op: 'create', name: `s${i}` }] })));
    t.ok(replies.every((x) => x.ok && (x.replies as { ok: boolean }[])[0]!.ok), 'eight snapshot requests from eight connections all succeed');
    const seq1 = ((await control_request(sock, { op: 'status' })).status!).checkpointSeq;
    t.ok(seq1 - seq0 <= 2, `and take ${seq1 - seq0} checkpoint(s) between them`);

    await node_in(mnt, BUILD_B);
    const B = await listing(mnt);
    let w0: Awaited<ReturnType<typeof cmd_run>>;
    t.not(B, A, 'system B differs');
    r = await cowlog(['snapshot', 'diff', mnt, 'A', '@live']);
    t.equal(r.code, 0, 'diff through the mount');
    t.match(r.stdout, /^\+ \/opt\/new$/m, 'shows added paths');
    t.match(r.stdout, /^- \/etc\/f0$/m, 'removed ones');
    t.match(r.stdout, /^M \/etc\/version$/m, 'and changed ones');

    // refused while a file is open
    const holder = spawn('sh', ['-c', `exec 3<'${path.join(mnt, 'etc/version')}'; exec sleep 30`], { stdio: 'ignore' });
    t.teardown(() => { holder.kill('SIGKILL'); });
    await new Promise((ok) => setTimeout(ok, 300));
    r = await cowlog(['snapshot', 'rollback', mnt, 'A']);
    t.equal(r.code, 1, 'rollback with a file open: exit 1');
    t.match(r.stderr, /1 file is open on the mount: close it before rolling back/, 'saying why');
    holder.kill('SIGKILL');
    await new Promise((ok) => holder.once('exit', ok));
    await new Promise((ok) => setTimeout(ok, 300));
    t.equal(await listing(mnt), B, 'nothing changed');

    // the kernel caches names, attributes, data and names that do not exist (60 s by default)
    w0 = await cmd_run('sh', ['-c', `cd '${mnt}' && stat -c %s etc/f0; stat -c %s opt/new/n1; cat etc/version`]);
    t.equal(w0.stdout, 'new 1'.length + '\nB\n', 'B seen: etc/f0 is gone (a cached negative entry now), opt/new/n1 is there');
    r = await cowlog(['snapshot', 'rollback', mnt, 'A']);
    t.equal(r.code, 0, `rollback through the mount: ${r.stderr}`);
    const kept = /kept as (before-rollback-\d+)/.exec(r.stdout)?.[1];
    t.ok(kept, r.stdout.trim());
    w0 = await cmd_run('sh', ['-c', `cd '${mnt}' && stat -c %s etc/f0; stat -c %s opt/new/n1; cat etc/version`]);
    t.equal(w0.stdout, '0\nA\n', 'the command returned with the kernel\'s caches dropped: etc/f0 is back, opt/new/n1 gone, the data is A\'s');
    t.equal(await listing(mnt), A, 'the mount shows system A at once: every path, mode, link count, size and byte');
    r = await cowlog(['snapshot', 'rollback', mnt, kept!]);
    t.equal(r.code, 0, 'roll forward');
    t.equal(await listing(mnt), B, 'the mount shows system B again');
    r = await cowlog(['snapshot', 'clone', mnt, 'A', 'work']);
    t.equal(r.code, 0, 'clone through the mount');
    r = await cowlog(['snapshot', 'list', mnt]);
    t.match(r.stdout, /^A\s+snapshot\s/m, 'list through the mount');
    t.match(r.stdout, /^work\s+clone\s/m, 'with the clone');
    t.match(r.stdout, new RegExp(`^${kept!.replace(/\./g, '\\.')}\\s+auto\\s`, 'm'), 'and the automatic snapshot');
    r = await cowlog(['umount', mnt]);
    t.equal(r.code, 0, 'unmounted');

    // a snapshot mounts read-only, a clone read-write
    r = await cowlog(['mount', ...opts, '--snapshot', 'A', img, mnt]);
    t.equal(r.code, 0, `mount --snapshot A: ${r.stderr}`);
    t.equal(await listing(mnt), A, 'the snapshot shows system A');
    let w = await cmd_run('sh', ['-c', `touch '${mnt}/x'`]);
    t.not(w.code, 0, 'and cannot be written');
    t.match(w.stderr, /Read-only file system/, 'EROFS');
    r = await cowlog(['umount', mnt]);
    t.equal(r.code, 0, 'unmounted');
    r = await cowlog(['mount', ...opts, '--snapshot', 'work', img, mnt]);
    t.equal(r.code, 0, `mount --snapshot work (a clone): ${r.stderr}`);
    w = await cmd_run('sh', ['-c', `echo clone > '${mnt}/etc/version' && cat '${mnt}/etc/version'`]);
    t.equal(w.stdout, 'clone\n', 'the clone is writable');
    r = await cowlog(['snapshot', 'delete', mnt, 'work']);
    t.equal(r.code, 1, 'the clone being served cannot be deleted');
    t.match(r.stderr, /is the tree this mount serves/, 'saying why');
    r = await cowlog(['umount', mnt]);
    t.equal(r.code, 0, 'unmounted');
    r = await cowlog(['mount', ...opts, img, mnt]);
    t.equal(r.code, 0, 'the main tree mounts again');
    t.equal(await listing(mnt), B, 'unchanged by the clone');
    r = await cowlog(['umount', mnt]);
    t.equal(r.code, 0, 'unmounted');
    r = await fsck(img, '-n');
    t.equal(r.code, 0, `fsck clean: ${r.stdout.trim()}`);
  });
}
