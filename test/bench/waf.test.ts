import t from 'tap';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tracefs_ensure } from '../../src/tracefs/tracefs.js';
import { cowlog_unavailable } from '../../src/compare/run_cowlog.js';

// real devices, mkfs and mounts: a short sweep, one case, cowlog and ext4
t.setTimeout(240_000);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const why = process.getuid?.() !== 0 ? 'loop devices and mounts need root' : tracefs_ensure() ?? cowlog_unavailable();
if (why !== undefined) t.plan(0, why);

// inplace (chmod, rename, truncate between fsyncs) and maildir (directory fsync, renames between
// directories) through cowlog's runner and ext4's, every file verified
t.test('bench-waf --ops 300: cowlog (with and without lz4) and ext4 measured, the ratio and the causes reported', async (t) => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist/tools/bench/waf.js'), '--ops', '300', '--profiles', 'inplace,maildir', '--fs', 'cowlog,ext4', '--json'],
    { encoding: 'utf8', timeout: 200_000 });
  t.equal(r.status, 0, r.stderr.split('\n').slice(-8).join('\n'));
  const out = JSON.parse(r.stdout) as { runs: Array<{ label: string; ok: boolean; waf: number; hostBytes: number; askedBytes: number; verifyOk: boolean; parts: Record<string, number>; checkpoints: Record<string, number>; hottestCount: number }>; table: string };
  // cowlog:lz4 is a default column
  t.same(out.runs.map((x) => x.label), ['cowlog', 'cowlog:lz4', 'ext4', 'cowlog', 'cowlog:lz4', 'ext4']);
  for (const x of out.runs) {
    t.ok(x.ok && x.verifyOk, `${x.label}: ran and verified`);
    t.ok(x.waf > 0 && Math.abs(x.waf - x.hostBytes / x.askedBytes) < 1e-9, `${x.label}: WAF ${x.waf.toFixed(2)} = host ÷ asked`);
    t.ok(x.hottestCount >= 1);
    t.equal(Object.values(x.parts).reduce((s, v) => s + v, 0), x.hostBytes, `${x.label}: the parts sum to the host bytes`);
  }
  const [cow, , ext, cowMail] = out.runs;
  t.ok((cowMail!.parts['redo'] ?? 0) > 0, 'maildir: the directory fsyncs and file fsyncs write redo');
  t.ok(cow!.parts['data'] !== undefined || cow!.parts['redo'] !== undefined, `cowlog by cause (${Object.keys(cow!.parts).join(', ')})`);
  t.ok(Object.keys(ext!.parts).some((k) => /journal/.test(k)), `ext4 by location (${Object.keys(ext!.parts).join(', ')})`);
  t.ok((cow!.checkpoints['unmount'] ?? 0) >= 1, 'the unmount checkpoint is counted by its trigger');
  const row = out.table.split('\n').find((l) => l.startsWith('| inplace'))!;
  t.ok(row.includes((cow!.waf / ext!.waf).toFixed(2)), 'the table carries cowlog ÷ ext4');
});
