// The harness's teardown when things go wrong: a server killed in the middle of a request, a
// stale "Transport endpoint is not connected" mountpoint, and a connection that stays open
// after the server died because another process holds its /dev/fuse descriptor (only the
// fusectl abort file frees the callers blocked on it).

import t from 'tap';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { cmd_run, fuse_conn_alive, fuse_unavailable, mount_with, mounts_stale_clean, MOUNT_PREFIX, nullfs_server } from '../helpers/fusemount.js';
import type { RunResult } from '../helpers/fusemount.js';
import { probe_mount } from './probe.js';

async function exists(p: string): Promise<boolean> {
  return access(p).then(() => true, () => false);
}

function settled<T>(p: Promise<T>): () => boolean {
  let done = false;
  p.then(() => { done = true; }, () => { done = true; });
  return () => done;
}

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  t.test('a server SIGKILLed mid-read: the reader fails, teardown leaves nothing', async (t) => {
    const p = await probe_mount(t, '--hang', '/hang');
    const { m } = p;
    t.ok(m.conn !== undefined && await fuse_conn_alive(m.conn), 'fusectl shows the connection');
    t.equal((await m.sh('echo data > hang')).code, 0, 'make the file');
    const reader = m.run('cat', ['hang'], { timeoutMs: 20_000 });
    await p.event_wait((e) => e.op === 'read' && e.path === '/hang');
    process.kill(m.server.pid!, 'SIGKILL');

    const r: RunResult = await reader;
    t.not(r.code, 0, 'the blocked read fails instead of hanging');
    t.notOk(r.timedOut, 'and it does so at once');
    t.match(r.stderr, /Software caused connection abort|Transport endpoint is not connected/, 'ECONNABORTED or ENOTCONN');
    const st = await cmd_run('stat', ['-f', m.mountpoint], { timeoutMs: 5000 });
    t.match(st.stderr, /Transport endpoint is not connected/, 'the mountpoint is stale now');

    const report = await m.teardown();
    t.ok(report.clean, 'teardown is clean', { report });
    t.notOk(report.steps.includes('SIGTERM'), 'no SIGTERM for a server already dead');
    t.notOk(await m.mounted(), 'the mount is gone');
    t.notOk(await fuse_conn_alive(m.conn!), 'the connection is gone');
    t.notOk(await exists(m.mountpoint), 'the mountpoint is removed');
  });

  t.test('mounts_stale_clean finds and removes a dead server\'s mountpoint', async (t) => {
    const p = await probe_mount(t);
    const { m } = p;
    process.kill(m.server.pid!, 'SIGKILL');
    await new Promise((ok) => m.server.once('exit', ok));
    t.ok(await m.mounted(), 'killing the server leaves the mount listed');

    // confined to this mount: other tests running alongside may hold dead mounts on purpose
    const cleaned = await mounts_stale_clean({ prefix: m.mountpoint });
    t.ok(cleaned.includes(m.mountpoint), 'it is found and cleaned', { cleaned });
    t.notOk(await m.mounted(), 'the mount is gone');
    t.notOk(await exists(m.mountpoint), 'the harness\'s mountpoint is removed too');
    const report = await m.teardown();
    t.ok(report.clean, 'a teardown afterwards has nothing left to do', { report });
  });

  t.test('the automatic clean-up takes only mounts whose harness process is gone', async (t) => {
    // 4194305 is above the kernel's largest pid (pid_max is at most 2^22), so its owner is gone
    const orphan_dir = await mkdtemp(`${MOUNT_PREFIX}4194305-`);
    t.teardown(() => rm(orphan_dir, { recursive: true, force: true }));
    const ours = await probe_mount(t);
    const orphan = await mount_with(t, { ...nullfs_server(), mountpoint: orphan_dir });
    for (const m of [ours.m, orphan]) {
      process.kill(m.server.pid!, 'SIGKILL');
      await new Promise((ok) => m.server.once('exit', ok));
    }
    const cleaned = await mounts_stale_clean({ orphansOnly: true });
    t.ok(cleaned.includes(orphan_dir), 'the orphan is cleaned', { cleaned });
    t.notOk(cleaned.includes(ours.m.mountpoint), 'a dead mount of a live harness is left to it');
    t.ok(await ours.m.mounted(), 'and is still there');
    t.notOk(await orphan.mounted(), 'the orphan is gone');
  });

  t.test('a connection held open by a survivor is aborted through fusectl', async (t) => {
    const p = await probe_mount(t, '--hold-fd', '--hang', '/hang');
    const { m } = p;
    const holder = Number((await p.event_wait((e) => e.op === 'holder')).args[0]);
    t.ok(holder > 0, 'a detached process holds the server\'s /dev/fuse descriptor');
    t.teardown(() => {
      try {
        process.kill(holder, 'SIGKILL');
      } catch {
        // already gone
      }
    });
    t.equal((await m.sh('echo data > hang')).code, 0, 'make the file');
    const reader = m.run('cat', ['hang'], { timeoutMs: 30_000 });
    const reader_done = settled(reader);
    await p.event_wait((e) => e.op === 'read' && e.path === '/hang');

    process.kill(m.server.pid!, 'SIGKILL');
    await new Promise((ok) => m.server.once('exit', ok));
    await new Promise((ok) => setTimeout(ok, 300));
    t.notOk(reader_done(), 'with the descriptor still open the reader stays blocked after the server died');
    t.ok(await fuse_conn_alive(m.conn!), 'the connection is alive');

    const report = await m.teardown();
    t.ok(report.steps.includes(`abort connection ${m.conn!.id}`), 'teardown had to abort the connection', { report });
    t.ok(report.clean, 'and then it is clean', { report });
    const r = await reader;
    t.notOk(r.timedOut, 'the reader was released by the abort');
    t.not(r.code, 0, 'with an error');
    t.notOk(await m.mounted(), 'the mount is gone');
    t.notOk(await fuse_conn_alive(m.conn!), 'the connection is gone');
  });
}
