import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { run_kernel_host } from '../../src/compare/run_kernel.js';
import { mounts } from '../../src/compare/sys.js';
import { tracefs_ensure } from '../../src/tracefs/tracefs.js';
import { workload_generate, workload_text } from '../../src/workload/generate.js';
import { wear_decode } from '../../src/wear/wearfile.js';
import type { RunResult } from '../../src/compare/result.js';

// real devices, mkfs and mounts: slower than tap's 30 s default on a busy 2-core machine
t.setTimeout(240_000);

const why = process.getuid?.() !== 0 ? 'loop devices and mounts need root' : tracefs_ensure();
if (why !== undefined) t.plan(0, why);

const MiB = 1024 * 1024;
const DEV = 64 * MiB;

// this test's images, loop devices and mounts all live under its own scratch directory
const scratch = fs.mkdtempSync('/var/tmp/cowlog-runner-scratch-');
process.env['COWLOG_SCRATCH'] = scratch;
t.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }));
function loops(): string[] {
  return (spawnSync('losetup', ['-a'], { encoding: 'utf8' }).stdout ?? '').split('\n').filter((l) => l.includes(scratch));
}
function our_mounts(): string[] {
  return mounts().filter((m) => m.mountpoint.startsWith(scratch)).map((m) => m.mountpoint);
}
function instances(): string[] {
  try { return fs.readdirSync('/sys/kernel/tracing/instances').filter((n) => n.startsWith(`cowlog-${process.pid}-`)); } catch { return []; }
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cowlog-runner-test-'));
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
const trace = path.join(work, 'w.jsonl');
fs.writeFileSync(trace, workload_text(workload_generate({ profile: 'smallsync', ops: 400, seed: 4, deviceBytes: DEV })));

for (const fsName of ['ext4', 'btrfs']) {
  t.test(`${fsName}: a short smallsync run end to end`, async (t) => {
    const out = path.join(work, 'out');
    const lines: string[] = [];
    const r = await run_kernel_host({ fs: fsName, deviceBytes: DEV, workloadPath: trace, mkfsOptions: [], mountOptions: '', out, log: (l) => lines.push(l) });
    const onDisk = JSON.parse(fs.readFileSync(path.join(out, fsName, 'result.json'), 'utf8')) as RunResult;
    t.same(onDisk, r, 'result.json holds the returned result');
    const wear = wear_decode(fs.readFileSync(path.join(out, fsName, 'wear.bin')), 'wear.bin');
    t.equal(wear.meta.fs, fsName);
    t.equal(wear.meta.source, 'tracefs');
    t.equal(wear.counts.length, DEV / 4096, 'one count per 4 KiB block');
    t.equal(Number(wear.bytes), r.hostBytes, 'host bytes are the wear file\'s');
    t.equal(wear.meta.mkfsBytes, r.mkfsBytes);
    t.ok(r.mkfsBytes > 0, 'mkfs traced apart');
    t.equal(r.ops, 400);
    t.equal(r.opsOk, 400, 'every operation succeeded');
    t.equal(r.enospc, 0);
    t.ok(r.verify.ok, `verified after a fresh mount (${r.verify.bad.join('; ')})`);
    t.ok(r.verify.filesChecked > 5);
    t.ok(r.hostBytes > r.askedBytes, 'fsync after every small write costs more than it asks');
    t.match(r.mkfs, fsName === 'btrfs' ? /^mkfs\.btrfs .*--mixed/ : /^mkfs\.ext4 /);
    t.match(r.hottestWhat ?? '', fsName === 'btrfs' ? /btrfs/ : /ext4/, `hottest block named: ${r.hottestWhat}`);
    // the layout read after the run: the regions a request can hit, kinds the report splits by
    const kinds = new Set(r.layout?.regions.map((x) => x.kind));
    t.ok(kinds.has('superblock') && (fsName === 'btrfs' ? kinds.has('metadata') : kinds.has('journal')), `layout regions: ${[...kinds].join(', ')}`);
    t.ok(lines.some((l) => /replay \d+\/400/.test(l)), 'progress lines');
    t.same(loops(), [], 'no loop device left');
    t.same(our_mounts(), [], 'nothing left mounted');
  });
}

t.test('a run that fails halfway leaves no loop device, mount or tracer behind', async (t) => {
  const out = path.join(work, 'fail');
  const log = (): void => {};
  // mkfs fails after the loop device is attached
  await t.rejects(run_kernel_host({ fs: 'ext4', deviceBytes: DEV, workloadPath: trace, mkfsOptions: ['-O', 'no_such_feature'], mountOptions: '', out, log }), /mkfs\.ext4/);
  t.same(loops(), [], 'after a failed mkfs: no loop device');
  // mount fails after mkfs, with the workload tracer running
  await t.rejects(run_kernel_host({ fs: 'ext4', deviceBytes: DEV, workloadPath: trace, mkfsOptions: [], mountOptions: 'no_such_option', out, log }), /mount/);
  t.same(loops(), [], 'after a failed mount: no loop device');
  t.same(our_mounts(), [], 'nothing mounted');
  t.same(instances(), [], 'no tracing instance left enabled');
  // a trace that asks for more than the device: refused before anything is made
  await t.rejects(run_kernel_host({ fs: 'ext4', deviceBytes: 32 * MiB, workloadPath: trace, mkfsOptions: [], mountOptions: '', out, log }), /larger than this 33554432-byte one/);
  t.same(fs.readdirSync(scratch), [], 'no image was made, and the failed runs removed theirs');
});
