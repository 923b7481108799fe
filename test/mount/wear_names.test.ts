// Wear with names, through a mount: the wear file a mount records names, for each write request,
// the file it was written for and the process that last wrote that file; `cowlog wear heatmap
// --by file|process` says whom the device bytes went to and who wrote the hottest blocks.

import t from 'tap';
import path from 'node:path';
import { fuse_unavailable, mount_with } from '../helpers/fusemount.js';
import { WearTracker } from '../../src/wear/tracker.js';
import { clean_after, cowlog, cowlog_server, image_make, tmp_dir } from './helpers.js';

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  t.test('the wear file names files and processes; heatmap --by file and --by process', async (t) => {
    const img = await image_make(t, '64M');
    const dir = tmp_dir(t);
    const wear = path.join(dir, 'w.wear');
    const m = await mount_with(t, cowlog_server(img, '--wear', wear));
    // dd writes and fsyncs one file many times (its data and redo: the most bytes); cp another
    const r = await m.sh('for i in $(seq 20); do dd if=/dev/urandom of=busy.dat bs=64k count=2 conv=fsync,notrunc status=none; done; head -c 100000 /dev/urandom > other.dat && sync -f .');
    t.equal(r.code, 0, 'written', { output: r.stderr });
    await clean_after(t, m, img);
    const rec = WearTracker.load(wear);
    t.ok(rec.ino!.some((x) => x !== 0), 'the wear file names an inode for the requests written for files');
    t.ok(Object.values(rec.meta['files'] as Record<string, string>).includes('/busy.dat'), 'and keeps the path of each');
    t.ok(Object.values(rec.meta['processes'] as Record<string, string>).includes('dd'), 'and the name of the process');
    const byFile = await cowlog(['wear', 'heatmap', wear, '--by', 'file', '--out', path.join(dir, 'f.png')]);
    t.equal(byFile.code, 0, byFile.stderr);
    const first = byFile.stdout.split('device bytes by file, largest first:\n')[1]?.split('\n')[0] ?? '';
    t.match(first, /\/busy\.dat$/, `the file written for most: ${first.trim()}`);
    t.match(byFile.stdout, /the 10 most-written blocks, and by whom:\n\s+block\s+\d+\s+\d+ writes: /, 'and who wrote the hottest blocks');
    const byProc = await cowlog(['wear', 'heatmap', wear, '--by', 'process', '--out', path.join(dir, 'p.png')]);
    t.equal(byProc.code, 0, byProc.stderr);
    const firstP = byProc.stdout.split('device bytes by process, largest first:\n')[1]?.split('\n')[0] ?? '';
    t.match(firstP, / dd$/, `the process written for most: ${firstP.trim()}`);
    const bad = await cowlog(['wear', 'heatmap', wear, '--by', 'colour']);
    t.equal(bad.code, 2, 'a bad --by: exit 2');
    t.match(bad.stderr, /--by colour: file or process/, 'saying what it takes');
  });
}
