// Space through the mount: statfs's free space is what can really be written, ENOSPC reaches
// the writer as ENOSPC and the filesystem stays usable (delete works, writing works again), and
// a file of 1 GiB on a large enough device reads back exactly.

import t from 'tap';
import path from 'node:path';
import { cmd_run, fuse_unavailable, mount_with } from '../helpers/fusemount.js';
import type { Mounted } from '../helpers/fusemount.js';
import { cowlog_server, fsck, image_make, SOAK, tmp_dir } from './helpers.js';

const MiB = 1 << 20;

/** statfs through the mount, from another process: [free bytes for users, size] */
async function df(m: Mounted): Promise<[number, number]> {
  const r = await m.run('stat', ['-f', '-c', '%a %b %S', '.']);
  const [avail, blocks, bsize] = r.stdout.trim().split(' ').map(Number) as [number, number, number];
  return [avail * bsize, blocks * bsize];
}

// writes a file of `mib` MiB whose every MiB is derived from its index, then reads it back
// through a fresh descriptor and compares: prints "written N read N same"
const BIG_CLIENT = `
const fs = require('fs'), crypto = require('crypto');
const [file, mib, mode] = [process.argv[1], Number(process.argv[2]), process.argv[3]];
const chunk = (i) => { const b = Buffer.alloc(1 << 20); crypto.createHash('sha256').update(String(i)).digest().copy(b); b.fill(i & 0xff, 32, 4096); b.writeUInt32LE(i, 8192); b.fill(0x5a ^ (i & 0xff), 1 << 19); return b; };
if (mode === 'ends') {
  // the first and the last MiB, as written
  const fd = fs.openSync(file, 'r'); const b = Buffer.alloc(1 << 20); let ok = true;
  for (const i of [0, mib - 1]) { fs.readSync(fd, b, 0, b.length, i * (1 << 20)); ok = ok && b.equals(chunk(i)); }
  console.log('size', fs.fstatSync(fd).size, ok ? 'ends same' : 'ends DIFFERENT');
  process.exit(0);
}
let fd = fs.openSync(file, 'w');
const hw = crypto.createHash('sha256');
for (let i = 0; i < mib; i++) { const c = chunk(i); fs.writeSync(fd, c); hw.update(c); }
fs.fsyncSync(fd); fs.closeSync(fd);
const st = fs.statSync(file);
fd = fs.openSync(file, 'r');
const hr = crypto.createHash('sha256'); const b = Buffer.alloc(1 << 20); let n, total = 0;
while ((n = fs.readSync(fd, b, 0, b.length, null)) > 0) { hr.update(b.subarray(0, n)); total += n; }
fs.closeSync(fd);
console.log('written', st.size, 'blocks', st.blocks, 'read', total, hw.digest('hex') === hr.digest('hex') ? 'same' : 'DIFFERENT');
`;

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  t.test('statfs free space is what can be written; ENOSPC reaches the writer; delete and write again', async (t) => {
    const image = await image_make(t, '48M');
    const m = await mount_with(t, cowlog_server(image));
    const [free0, size] = await df(m);
    t.ok(free0 > 36 * MiB && free0 <= size, `statfs: ${(free0 / MiB).toFixed(1)} MiB free of ${(size / MiB).toFixed(1)} MiB`);
    const dd = await m.run('dd', ['if=/dev/urandom', 'of=fill', 'bs=1M', 'status=none'], { timeoutMs: 120_000 });
    t.not(dd.code, 0, 'dd stops with an error');
    t.match(dd.stderr, /No space left on device/, 'which is ENOSPC');
    const wrote = Number((await m.run('stat', ['-c', '%s', 'fill'])).stdout);
    t.ok(wrote <= free0, `written ${(wrote / MiB).toFixed(2)} MiB ≤ the ${(free0 / MiB).toFixed(2)} MiB statfs promised`);
    t.ok(wrote >= free0 - Math.max(MiB, free0 * 0.02), `and within 2 % (or 1 MiB) of it: statfs tells what can really be written`);
    const [free1] = await df(m);
    t.ok(free1 < MiB, `statfs now says ${(free1 / 1024).toFixed(0)} KiB free`);
    const more = await m.sh('echo x > small; mkdir dir');
    t.ok(more.code === 0 || /No space left on device/.test(more.stderr), 'small creates either fit or fail with ENOSPC, never EIO', { output: more.stderr });
    const rm = await m.sh('rm fill && sync -f .');
    t.equal(rm.code, 0, 'rm works on a full filesystem', { output: rm.stderr });
    const [free2] = await df(m);
    t.ok(free2 >= free0 - MiB, `the space comes back (${(free2 / MiB).toFixed(1)} MiB free)`);
    const again = await m.run('dd', ['if=/dev/zero', 'of=again', 'bs=1M', `count=${Math.floor(free2 / MiB) - 2}`, 'conv=fsync', 'status=none'], { timeoutMs: 120_000 });
    t.equal(again.code, 0, 'and can be written again', { output: again.stderr });
    // small files until full: ENOSPC again, never anything else
    // (the error goes to a file outside the mount: inside, there is no room for it)
    const err = path.join(tmp_dir(t), 'err');
    // bash, not sh: dash's echo reports every failed write as "I/O error", whatever the errno;
    // stderr is redirected first, so that a create refused for space is reported there too
    const many = await m.run('bash', ['-c', `i=0; while echo "file $i" 2>${err} > f$i; do i=$((i+1)); [ $i -gt 200000 ] && break; done; cat ${err}; rm -f f*; echo removed`], { timeoutMs: 180_000 });
    t.match(many.stdout + many.stderr, /No space left on device/, 'creating small files ends with ENOSPC');
    t.notMatch(many.stdout + many.stderr, /Input\/output error/, 'never EIO');
    t.match(many.stdout, /removed/, 'and they can all be removed');
    const rep = await m.teardown();
    t.ok(rep.clean, 'unmounted');
    const f = await fsck(image, '--data');
    t.equal(f.code, 0, 'fsck: clean', { output: f.stdout + f.stderr });
  });

  t.test('a file of 1 GiB on a large enough device', async (t) => {
    const image = await image_make(t, '1300M');
    const m = await mount_with(t, cowlog_server(image));
    const mib = 1024;
    const r = await m.run(process.execPath, ['-e', BIG_CLIENT, m.path('big'), String(mib)], { timeoutMs: 600_000 });
    t.equal(r.code, 0, 'written, fsync\'d and read back', { output: r.stderr });
    t.match(r.stdout, new RegExp(`^written ${mib * MiB} blocks ${mib * 2048} read ${mib * MiB} same`), r.stdout.trim());
    const rep = await m.teardown();
    t.ok(rep.clean, 'unmounted');
    if (SOAK) {
      const f = await fsck(image, '--data');
      t.equal(f.code, 0, 'fsck --data: clean', { output: f.stdout + f.stderr });
    }
    const m2 = await mount_with(t, cowlog_server(image, '-o', 'ro'));
    const e = await m2.run(process.execPath, ['-e', BIG_CLIENT, m2.path('big'), String(mib), 'ends'], { timeoutMs: 60_000 });
    t.equal(e.stdout, `size ${mib * MiB} ends same\n`, 'mounted again (read-only): the file is there, its first and last MiB as written');
  });
}
