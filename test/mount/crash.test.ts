// kill -9 of the server in the middle of a workload, several times over: the stale mount is
// cleaned up by the next `cowlog mount` (and by `cowlog umount`), fsck finds the filesystem
// clean, and every file whose fsync returned holds what was fsync'd (test/mount/crash-client.ts
// keeps the journal of those promises outside the mount).

import t from 'tap';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cmd_run, DIST, fuse_unavailable, mountinfo_find } from '../helpers/fusemount.js';
import { mount_dead, state_read } from '../../src/fuse/runtime.js';
import { cowlog, daemon_guard, fsck, image_make, mountpoint_make, SOAK, tmp_dir, until } from './helpers.js';

const CLIENT = path.join(DIST, 'test/mount/crash-client.js');
const ROUNDS = SOAK ? 12 : 3;

function lines(file: string): number {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').length - 1;
  } catch {
    return 0;
  }
}

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  t.test(`kill -9 mid-workload, ${ROUNDS} times: fsck clean, fsync'd files intact, stale mounts cleaned`, async (t) => {
    const image = await image_make(t, '128M');
    const mnt = mountpoint_make(t);
    daemon_guard(t, mnt);
    const work = tmp_dir(t);
    const journal = path.join(work, 'journal.jsonl');
    let writer: ReturnType<typeof spawn> | undefined;
    t.teardown(() => { writer?.kill('SIGKILL'); });

    for (let round = 1; round <= ROUNDS; round++) {
      const r = await cowlog(['mount', image, mnt]);
      t.equal(r.code, 0, `round ${round}: cowlog mount returns once live`, { output: r.stderr });
      if (round > 1) {
        const log = fs.readFileSync(`${image}.log`, 'utf8');
        t.match(log.split('\n').filter((l) => l.includes(`[${state_read(mnt)?.pid}]`)).join('\n'), /stale mount at .* cleaned up/, 'the dead server\'s mount was cleaned up first');
        const v = await cmd_run(process.execPath, [CLIENT, 'verify', mnt, journal], { timeoutMs: 120_000 });
        t.equal(v.code, 0, v.stdout.trim().split('\n')[0] ?? 'verify', { output: v.stdout + v.stderr });
      }
      const st = state_read(mnt);
      t.ok(st !== undefined, 'the server recorded its state');
      const before = lines(journal);
      writer = spawn(process.execPath, [CLIENT, 'write', mnt, journal, String(round)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      writer.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
      writer.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
      const exited = new Promise<void>((ok) => writer!.on('exit', () => ok()));
      // let it make some promises, then kill the server mid-flight
      t.ok(await until(() => lines(journal) >= before + 40 + 20 * round, 60_000), 'the writer made fsync promises');
      process.kill(st!.pid, 'SIGKILL');
      await Promise.race([exited, new Promise((ok) => setTimeout(ok, 20_000).unref())]);
      t.match(out, /stopped after \d+ operations/, `the writer stopped when the server died (${out.trim()})`);
      t.ok(await mount_dead(mnt), 'the mount is stale: Transport endpoint is not connected');
      const f = await fsck(image, '-n');
      t.equal(f.code, 0, 'fsck -n of the killed filesystem: clean', { output: f.stdout + f.stderr });
      t.match(f.stdout, /rolled forward/, 'with fsync groups rolled forward');
    }

    // the last kill is cleaned up by cowlog umount instead
    const u = await cowlog(['umount', mnt]);
    t.equal(u.code, 0, 'cowlog umount of a dead server\'s mount succeeds');
    t.match(u.stderr, /the server of .* was gone; stale mount removed/, 'saying what it did');
    t.equal(await mountinfo_find(mnt), undefined, 'the mount is gone');
    const f = await fsck(image);
    t.equal(f.code, 0, 'fsck (recovering for real): clean', { output: f.stdout + f.stderr });
    const r = await cowlog(['mount', image, mnt]);
    t.equal(r.code, 0, 'mounted again');
    const v = await cmd_run(process.execPath, [CLIENT, 'verify', mnt, journal], { timeoutMs: 120_000 });
    t.equal(v.code, 0, v.stdout.trim().split('\n')[0] ?? 'verify', { output: v.stdout });
    const u2 = await cowlog(['umount', mnt]);
    t.equal(u2.code, 0, 'cowlog umount');
    const f2 = await fsck(image, '--data');
    t.equal(f2.code, 0, 'fsck --data after a clean unmount: clean', { output: f2.stdout + f2.stderr });
  });

  t.test('the timer checkpoint: without fsync, what was written before it survives kill -9', async (t) => {
    const image = await image_make(t, '32M');
    const mnt = mountpoint_make(t);
    daemon_guard(t, mnt);
    const kill_remount = async (): Promise<string> => {
      process.kill(state_read(mnt)!.pid, 'SIGKILL');
      t.ok(await until(() => mount_dead(mnt), 10_000), 'killed');
      t.equal((await cowlog(['mount', image, mnt])).code, 0, 'mounted again');
      const r = await cmd_run('sh', ['-c', `cat ${mnt}/note 2>&1`]);
      t.equal((await cowlog(['umount', mnt])).code, 0, 'unmounted');
      return r.stdout.trim();
    };
    t.equal((await cowlog(['mount', '-o', 'commit=1', image, mnt])).code, 0, 'mounted with -o commit=1');
    await cmd_run('sh', ['-c', `echo timed > ${mnt}/note`]);
    await new Promise((ok) => setTimeout(ok, 2500));
    t.equal(await kill_remount(), 'timed', 'a checkpoint within 2.5 s kept the file written without fsync');
    // and the contrast, so this test can fail: the default 30 s has not come yet
    t.equal((await cowlog(['mount', image, mnt])).code, 0, 'mounted with the default interval');
    await cmd_run('sh', ['-c', `echo lost > ${mnt}/note`]);
    await new Promise((ok) => setTimeout(ok, 2500));
    t.equal(await kill_remount(), 'timed', 'without fsync or a checkpoint the overwrite is gone: only what was durable is there');
  });
}
