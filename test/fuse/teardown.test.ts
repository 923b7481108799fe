// The harness's teardown when things go wrong: a server killed in the middle of a request, a
// stale "Transport endpoint is not connected" mountpoint, and a connection that stays open
// after the server died because another process holds its /dev/fuse descriptor (only the
// fusectl abort file frees the callers blocked on it).

import t from 'tap';
import { access } from 'node:fs/promises';
import { cmd_run, fuse_conn_alive, fuse_unavailable, mounts_stale_clean } from '../helpers/fusemount.js';
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
    await p.event_wait((e) => e.op === 'read' && e.args[0] === '/hang');
    process.kill(m.server.pid!, 'SIGKILL');

    const r: RunResult = await reader;
    t.not(r.code, 0, 'the blocked read fails instead of hanging');
    t.notOk(r.timedOut, 'and it does so at once');
    t.match(r.stderr, /Software caused connection abort|Transport endpoint is not connected/);
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

    const cleaned = await mounts_stale_clean();
    t.ok(cleaned.includes(m.mountpoint), 'it is found and cleaned', { cleaned });
    t.notOk(await m.mounted(), 'the mount is gone');
    t.notOk(await exists(m.mountpoint), 'the harness\'s mountpoint is removed too');
    const report = await m.teardown();
    t.ok(report.clean, 'a teardown afterwards has nothing left to do', { report });
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
    await p.event_wait((e) => e.op === 'read' && e.args[0] === '/hang');

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
