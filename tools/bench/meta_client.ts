// The client of make bench-meta for the phases no standard tool times alone: stat of every file
// of a list, rename of each, unlink of each. Run in its own process (never the one serving the
// mount), it prints one JSON object { files, seconds, perSecond }.
//
//   node dist/tools/bench/meta_client.js stat|rename|unlink LISTFILE
//
// LISTFILE holds one path per line (find's output, kept outside the mount). rename gives each
// file the name NAME.r in its own directory; unlink removes NAME.r when the renames ran first,
// NAME otherwise.

import fs from 'node:fs';

function main(argv: string[]): void {
  const [phase, list] = argv;
  if ((phase !== 'stat' && phase !== 'rename' && phase !== 'unlink') || list === undefined) {
    throw new Error('usage: meta_client.js stat|rename|unlink LISTFILE');
  }
  const paths = fs.readFileSync(list, 'utf8').split('\n').filter((l) => l !== '');
  const renamed = phase === 'unlink' && paths.length > 0 && fs.existsSync(`${paths[0]}.r`);
  const t0 = performance.now();
  if (phase === 'stat') for (const p of paths) fs.lstatSync(p);
  else if (phase === 'rename') for (const p of paths) fs.renameSync(p, `${p}.r`);
  else for (const p of paths) fs.unlinkSync(renamed ? `${p}.r` : p);
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ files: paths.length, seconds, perSecond: paths.length / seconds }) + '\n');
}

try {
  main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`meta_client: ${(e as Error).message}\n`);
  process.exit(1);
}
