// The workload of make bench-scale inside a mount (run as its own process: the process that
// serves a mount must never touch it): `create DIR FILES PER_DIR` makes FILES files of 4 KiB in
// directories of PER_DIR, `read DIR FILES PER_DIR` reads them back; each prints one JSON line
// {"ms": ..., "files": ...}. Progress goes to standard error every 10 %.

import fs from 'node:fs';
import path from 'node:path';

function main(): number {
  const [op, dir, filesArg, perDirArg] = process.argv.slice(2);
  const files = Number(filesArg);
  const perDir = Number(perDirArg);
  if ((op !== 'create' && op !== 'read') || !dir || !(files > 0) || !(perDir > 0)) {
    process.stderr.write('usage: node scale_client.js create|read DIR FILES PER_DIR\n');
    return 2;
  }
  const data = Buffer.alloc(4096);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
  const t0 = performance.now();
  let bad = 0;
  for (let i = 0; i < files; i++) {
    const d = path.join(dir, `d${Math.floor(i / perDir)}`);
    if (op === 'create') {
      if (i % perDir === 0) fs.mkdirSync(d, { recursive: true });
      data.writeUInt32LE(i, 0);
      fs.writeFileSync(path.join(d, `f${i}`), data);
    } else {
      const b = fs.readFileSync(path.join(d, `f${i}`));
      if (b.length !== 4096 || b.readUInt32LE(0) !== i) bad++;
    }
    if ((i + 1) % Math.max(1, Math.floor(files / 10)) === 0) process.stderr.write(`  ${op}: ${i + 1} of ${files} (${Math.round(((i + 1) * 1000) / (performance.now() - t0))}/s)\n`);
  }
  process.stdout.write(JSON.stringify({ ms: performance.now() - t0, files, bad }) + '\n');
  return bad ? 1 : 0;
}

process.exitCode = main();
