import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { cowlog_unavailable, run_cowlog_host } from '../../src/compare/run_cowlog.js';
import { tracefs_ensure } from '../../src/tracefs/tracefs.js';
import { workload_generate, workload_text } from '../../src/workload/generate.js';
import { wear_decode } from '../../src/wear/wearfile.js';

// real devices, mkfs and mounts: slower than tap's 30 s default on a busy 2-core machine
t.setTimeout(240_000);

const why = process.getuid?.() !== 0 ? 'loop devices and mounts need root' : tracefs_ensure() ?? cowlog_unavailable();
if (why !== undefined) t.plan(0, why);

const MiB = 1024 * 1024;

t.test('cowlog on its loop device: the engine\'s tracker and the kernel tracer agree', async (t) => {
  const scratch = fs.mkdtempSync('/var/tmp/cowlog-cowlog-scratch-');
  process.env['COWLOG_SCRATCH'] = scratch;
  t.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }));
  const work = fs.mkdtempSync('/tmp/cowlog-cowlog-test-');
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
  const trace = path.join(work, 'w.jsonl');
  fs.writeFileSync(trace, workload_text(workload_generate({ profile: 'smallsync', ops: 400, seed: 5, deviceBytes: 64 * MiB })));
  const out = path.join(work, 'out');
  const r = await run_cowlog_host({ fs: 'cowlog', deviceBytes: 64 * MiB, workloadPath: trace, mkfsOptions: [], mountOptions: '', out, log: () => {} });
  t.ok(r.verify.ok, `verified (${r.verify.bad.join('; ')})`);
  t.equal(r.opsOk, r.ops);
  const engine = wear_decode(fs.readFileSync(path.join(out, 'cowlog', 'wear.bin')), 'wear.bin');
  const kernel = wear_decode(fs.readFileSync(path.join(out, 'cowlog', 'wear-tracefs.bin')), 'wear-tracefs.bin');
  t.equal(engine.meta.fs, 'cowlog');
  t.equal(kernel.meta.source, 'tracefs');
  t.equal(engine.bytes, kernel.bytes, 'the same host bytes');
  t.same([...engine.counts], [...kernel.counts], 'the same per-block counts');
  const causes = engine.meta.causes ?? {};
  t.notOk(causes['unknown'], `every request the engine made has a cause (${Object.keys(causes).join(', ')})`);
  t.equal(Object.values(causes).reduce((a, c) => a + c.bytes, 0), Number(kernel.bytes), 'the causes sum to what the kernel saw');
  t.equal(r.hostBytes, Number(engine.bytes));
  t.ok(r.mkfsBytes > 0);
  t.same(fs.readdirSync(scratch), [], 'nothing left in scratch');
});
