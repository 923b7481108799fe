// A mount with the kernel's writeback cache (`-o writeback_cache`): the kernel keeps what is
// written and sends it later, gathered. Checked through the mount:
// - small writes reach cowlog gathered (far fewer write requests than write(2) calls: the
//   option is in effect), and what they wrote reads back, after a remount too; appends (the
//   kernel places them) and a partial overwrite through a write-only descriptor (the kernel
//   reads the page around it) come out right; the kernel's mtime is the one kept;
// - st_blocks counts the data once an fsync has sent it (cowlog drops the kernel's cached
//   attributes after each write-back);
// - fsync is as durable as without: kill -9 of the server right after it, and the data is there;
// - ENOSPC, which write(2) can no longer report, is reported by fsync and close, and the
//   filesystem is whole afterwards.
// Every test ends with fsck. Servers run in processes of their own; the test process never
// touches a mount.

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { fuse_unavailable, mount_with } from '../helpers/fusemount.js';
import { clean_after, cowlog_server, fsck, image_make, requests_served, tmp_dir, WRITEBACK } from './helpers.js';

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  t.test('small writes are gathered, and read back right', async (t) => {
    const image = await image_make(t, '64M');
    const src = path.join(tmp_dir(t), 'src');
    fs.writeFileSync(src, Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 7 + (i >> 9)) & 0xff)));
    const m = await mount_with(t, cowlog_server(image, ...WRITEBACK));
    const before = (await requests_served(m)).requests['write'] ?? 0;
    // 2,048 write(2) calls of 512 bytes, then close
    const dd = await m.run('dd', [`if=${src}`, 'of=small', 'bs=512', 'status=none']);
    t.equal(dd.code, 0, 'dd of 512-byte writes', { stderr: dd.stderr });
    const writes = ((await requests_served(m)).requests['write'] ?? 0) - before;
    t.ok(writes > 0 && writes <= 64, `2,048 writes of 512 bytes reached cowlog as ${writes} write requests`);
    const start = Math.floor(Date.now() / 1000);
    const r = await m.sh([
      'echo one >> log && echo two >> log && echo three >> log',
      'printf 0123456789 > p && printf XY | dd of=p bs=1 seek=3 conv=notrunc status=none',
      'touch -d "2020-01-02 03:04:05" old && printf more >> old',
      'cat log p; echo',
    ].join('\n'));
    t.equal(r.stdout, 'one\ntwo\nthree\n012XY56789\n', 'appends land in order; a partial overwrite keeps the bytes around it', { stderr: r.stderr });
    const sums = async (mm: typeof m): Promise<string> => (await mm.sh(`sha256sum small | cut -c1-64; stat -c '%s %Y' small p old`)).stdout;
    const want = (await m.run('sha256sum', [src])).stdout.slice(0, 64);
    const seen = await sums(m);
    t.equal(seen.split('\n')[0], want, 'the file reads back as written');
    const old = seen.split('\n')[3]!.split(' ');
    t.equal(old[0], '4', 'the write after touch -d made 4 bytes');
    t.ok(Number(old[1]) >= start - 1, `and moved mtime from 2020 to the write's time (${old[1]}, the script began at ${start})`);
    await clean_after(t, m, image);

    const m2 = await mount_with(t, cowlog_server(image, ...WRITEBACK));
    t.equal(await sums(m2), seen, 'after a remount: the same data, sizes and the kernel\'s mtimes');
    const r2 = await m2.run('cat', ['log', 'p']);
    t.equal(r2.stdout, 'one\ntwo\nthree\n012XY56789', 'and the same small files');
    await clean_after(t, m2, image);
  });

  t.test('a file written, closed and removed: syncfs of the mount reports no error', async (t) => {
    // the kernel sends the times of the last buffered writes as it lets go of the inode, after
    // the name is gone: answered ENOENT, they failed the next syncfs of the whole mount
    const image = await image_make(t, '64M');
    const m = await mount_with(t, cowlog_server(image, ...WRITEBACK));
    const r = await m.sh('printf abc > f && touch -d "2020-01-01" g && printf abc >> g && rm f g && sync -f . && echo synced');
    t.equal(r.stdout, 'synced\n', 'sync -f of the mount: no error', { stderr: r.stderr });
    await clean_after(t, m, image);
  });

  t.test('st_blocks counts the data once an fsync has sent it', async (t) => {
    const image = await image_make(t, '64M');
    const m = await mount_with(t, cowlog_server(image, ...WRITEBACK));
    // 64 blocks of data in a sparse file of 1 MiB
    const r = await m.sh(`dd if=/dev/urandom of=f bs=4k count=64 seek=128 status=none && python3 -c "import os; fd=os.open('f', os.O_RDWR); os.fsync(fd); print(os.fstat(fd).st_blocks)"`);
    t.equal(r.code, 0, 'written and fsync\'d', { stderr: r.stderr });
    t.equal(Number(r.stdout.trim()), 64 * 8, 'st_blocks: the 64 blocks written, in 512-byte units');
    await clean_after(t, m, image);
  });

  t.test('fsync is durable: kill -9 of the server right after it', async (t) => {
    const image = await image_make(t, '64M');
    const m = await mount_with(t, cowlog_server(image, ...WRITEBACK));
    const r = await m.sh('head -c 3000000 /dev/urandom > /dev/shm/cowlog-wb-$$ && dd if=/dev/shm/cowlog-wb-$$ of=f bs=4k conv=fsync status=none && sha256sum < /dev/shm/cowlog-wb-$$ | cut -c1-64; rm -f /dev/shm/cowlog-wb-$$');
    t.equal(r.code, 0, 'written with fsync', { stderr: r.stderr });
    m.server.kill('SIGKILL');
    const rep = await m.teardown();
    t.ok(rep.clean, `the killed server's mount is gone (${rep.steps.join(', ')})`);
    const f = await fsck(image, '-n', '--data');
    t.equal(f.code, 0, 'fsck --data after kill -9: clean', { output: f.stdout + f.stderr });
    const m2 = await mount_with(t, cowlog_server(image, ...WRITEBACK));
    t.equal((await m2.sh('sha256sum < f | cut -c1-64')).stdout, r.stdout, 'the fsync\'d data is there');
    await clean_after(t, m2, image);
  });

  t.test('ENOSPC is reported by fsync and close instead of write', async (t) => {
    const image = await image_make(t, '64M');
    const m = await mount_with(t, cowlog_server(image, ...WRITEBACK));
    const full = await m.run('dd', ['if=/dev/zero', 'of=big', 'bs=1M', 'count=100', 'conv=fsync']);
    t.not(full.code, 0, 'dd of 100 MiB to a 64 MiB filesystem fails');
    t.match(full.stderr, /No space left on device/, `and says why: ${full.stderr.trim().split('\n').pop()}`);
    // the write-back errors nobody saw yet go to the next syncfs, once (as on any Linux filesystem)
    const cleared = await m.sh('rm -f big; sync -f . 2>/dev/null; sync -f . && echo synced');
    t.equal(cleared.stdout, 'synced\n', 'after rm, a second sync -f of the mount reports no error', { stderr: cleared.stderr });
    // on the emptied filesystem again (a full one may refuse the file itself, at open)
    const closed = await m.run('dd', ['if=/dev/zero', 'of=big2', 'bs=1M', 'count=100', 'status=none']);
    t.equal(closed.code, 1, 'without fsync, dd fails too');
    t.match(closed.stderr, /closing output file .*No space left on device/, 'close reported it');
    const synced = await m.sh('rm -f big2; sync -f . 2>/dev/null; sync -f . && echo synced');
    t.equal(synced.stdout, 'synced\n', 'and after rm again, no error', { stderr: synced.stderr });
    const freed = await m.sh('dd if=/dev/zero of=after bs=1M count=8 conv=fsync status=none && stat -c %s after');
    t.equal(freed.stdout, `${8 << 20}\n`, 'removing the files gives the space back', { stderr: freed.stderr });
    await clean_after(t, m, image);
  });
}
