// Renders a sample report from synthetic runs (src/compare/render_synth.ts) so that the
// pictures can be looked at without formatting real filesystems:
//   node dist/src/compare/render-sample.js [OUT] [OPS]
// OUT defaults to /tmp/cowlog-report-sample, OPS (operations of the workload) to 30000.
// The numbers in it are those of the synthetic models, not measurements.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { wear_encode } from '../wear/wearfile.js';
import { report_render } from './report.js';
import { synth_btrfs, synth_cowlog, synth_ext4, synth_f2fs, synth_result, synth_workload } from './render_synth.js';

async function main(): Promise<void> {
  const out = process.argv[2] ?? '/tmp/cowlog-report-sample';
  const ops = Number(process.argv[3] ?? 30000);
  if (!Number.isInteger(ops) || ops <= 0) throw new Error(`OPS must be a positive integer, not ${process.argv[3]}`);
  rmSync(out, { recursive: true, force: true });
  const workload = synth_workload(ops, 1);
  const models = [
    { rec: synth_cowlog(workload), extra: { hottestWhat: 'checkpoint slot' } },
    { rec: synth_ext4(workload), extra: { hottestWhat: 'ext4 journal superblock' } },
    { rec: synth_btrfs(workload), extra: { hottestWhat: 'btrfs superblock (primary copy)' } },
    { rec: synth_f2fs(workload), extra: { hottestWhat: 'f2fs checkpoint pack', notes: 'synthetic model of a run in a QEMU guest' } },
  ];
  for (const { rec, extra } of models) {
    const dir = join(out, rec.meta.fs);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'wear.bin'), wear_encode(rec));
    writeFileSync(join(dir, 'result.json'), JSON.stringify(synth_result(rec, workload, extra), null, 2) + '\n');
  }
  const t0 = Date.now();
  const table = await report_render(out, { title: 'cowlog compare (synthetic sample data)' });
  process.stdout.write(table);
  process.stdout.write(`\nrendered in ${Date.now() - t0} ms: ${join(out, 'report.html')}, ${join(out, 'report.md')} and the PNGs beside them\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
