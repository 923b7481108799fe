// Compression through the mount, as a user sees it: mkfs --compress lz4 and mount -o
// compress=none|lz4, the user.cowlog.compress attribute with getfattr/setfattr and its
// inheritance, df and du showing the compressed size, cowlog info's ratio, and fsck after.

import t from 'tap';
import { fuse_unavailable, mount_with } from '../helpers/fusemount.js';
import type { Mounted } from '../helpers/fusemount.js';
import { cowlog, cowlog_server, fsck, image_make } from './helpers.js';

const MiB = 1 << 20;

/** writes `mib` MiB of log lines to FILE and fsyncs it (node, from another process) */
const LOG = `
const fs = require('fs');
const [file, mib] = [process.argv[1], Number(process.argv[2])];
let s = '';
for (let i = 0; s.length < mib * (1 << 20); i++) s += '2024-06-01T10:00:' + String(i % 60).padStart(2, '0') + 'Z INFO worker-' + (i % 4) + ' request ' + i + ' served in ' + ((i * 7) % 113) + ' ms\\n';
const fd = fs.openSync(file, 'w');
fs.writeSync(fd, s.slice(0, mib * (1 << 20)));
// written to the device now: until then st_blocks and df count the pages uncompressed
if (file !== '/dev/stdout') fs.fsyncSync(fd);
fs.closeSync(fd);
`;

async function used(m: Mounted): Promise<number> {
  const r = await m.run('stat', ['-f', '-c', '%b %f %S', '.']);
  const [blocks, free, bsize] = r.stdout.trim().split(' ').map(Number) as [number, number, number];
  return (blocks - free) * bsize;
}

async function du(m: Mounted, file: string): Promise<number> {
  const r = await m.run('stat', ['-c', '%b', file]);
  return Number(r.stdout.trim()) * 512;
}

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  t.test('mkfs --compress lz4: df and du show the compressed size; compress=none at mount turns it off', async (t) => {
    const image = await image_make(t, '64M', ['--compress', 'lz4']);
    const m = await mount_with(t, cowlog_server(image));
    const u0 = await used(m);
    const w = await m.run(process.execPath, ['-e', LOG, 'app.log', '8']);
    t.equal(w.code, 0, 'wrote 8 MiB of log', { output: w.stderr });
    t.equal((await m.run('sync', ['-f', '.'])).code, 0, 'synced');
    const du1 = await du(m, 'app.log');
    const used1 = (await used(m)) - u0;
    t.ok(du1 < 4 * MiB, `du: ${(du1 / MiB).toFixed(2)} MiB for 8 MiB of log`);
    t.ok(used1 < 4.5 * MiB, `df: ${(used1 / MiB).toFixed(2)} MiB more used`);
    const cmp = await m.sh(`node -e ${JSON.stringify(LOG.replace(/\n/g, ' '))} /dev/stdout 8 | cmp - app.log && echo same`);
    t.match(cmp.stdout, /same/, 'reads back what was written', { output: cmp.stderr });
    t.equal((await m.teardown()).clean, true, 'unmounted');
    const info = await cowlog(['info', image]);
    t.match(info.stdout, /compression new files: lz4.*ratio [0-9.]+, [0-9.]+ MiB saved/, 'cowlog info shows the ratio and the bytes saved', { output: info.stdout });
    // compress=none: new data plain
    const m2 = await mount_with(t, cowlog_server(image, '-o', 'compress=none'));
    await m2.run(process.execPath, ['-e', LOG, 'plain.log', '2']);
    await m2.run('sync', ['-f', '.']);
    const du2 = await du(m2, 'plain.log');
    t.ok(du2 >= 2 * MiB, `compress=none: du ${(du2 / MiB).toFixed(2)} MiB for 2 MiB`);
    t.equal((await m2.teardown()).clean, true, 'unmounted');
    const f = await fsck(image, '--data');
    t.equal(f.code, 0, 'fsck: clean', { output: f.stdout + f.stderr });
  });

  t.test('user.cowlog.compress: setfattr on a directory, inherited by new files, shown by getfattr', async (t) => {
    const image = await image_make(t, '64M');
    const m = await mount_with(t, cowlog_server(image));
    const mk = await m.sh('mkdir logs && setfattr -n user.cowlog.compress -v lz4 logs && mkdir logs/old');
    t.equal(mk.code, 0, 'setfattr on a directory', { output: mk.stderr });
    await m.run(process.execPath, ['-e', LOG, 'logs/old/a.log', '4']);
    await m.run(process.execPath, ['-e', LOG, 'b.log', '4']);
    await m.run('sync', ['-f', '.']);
    const g = await m.run('getfattr', ['-n', 'user.cowlog.compress', '--only-values', 'logs/old/a.log']);
    t.equal(g.stdout, 'lz4', 'getfattr shows what the file inherited', { output: g.stderr });
    const d = await m.run('getfattr', ['-d', 'logs']);
    t.match(d.stdout, /user\.cowlog\.compress="lz4"/, 'getfattr -d lists it');
    t.ok((await du(m, 'logs/old/a.log')) < 2 * MiB, 'the file under logs/ is compressed');
    t.ok((await du(m, 'b.log')) >= 4 * MiB, 'the one outside follows the mount (none)');
    const bad = await m.run('setfattr', ['-n', 'user.cowlog.compress', '-v', 'zstd', 'b.log']);
    t.not(bad.code, 0, 'setfattr with another value fails');
    t.match(bad.stderr, /Invalid argument/, 'with EINVAL');
    t.equal((await m.teardown()).clean, true, 'unmounted');
    const f = await fsck(image, '--data');
    t.equal(f.code, 0, 'fsck: clean', { output: f.stdout + f.stderr });
  });

  t.test('mount -o compress= refuses values other than lz4 and none', async (t) => {
    const image = await image_make(t, '64M');
    const r = await cowlog(['mount', '-o', 'compress=zstd', image, '/nonexistent']);
    t.not(r.code, 0, 'refused');
    t.match(r.stderr, /compress=zstd: lz4 or none/, 'with a one-line reason');
  });
}
