// Wear with names: device bytes per file and per process from a wear file's timeline, and who
// wrote the hottest blocks.

import t from 'tap';
import { wear_by, WearNamesError } from '../../src/wear/names.js';
import type { WearRecord } from '../../src/wear/wearfile.js';

function rec(): WearRecord {
  // requests: (block, blocks, ino, pid)
  const reqs: [number, number, number, number][] = [[10, 2, 7, 100], [10, 1, 7, 100], [11, 1, 8, 200], [0, 1, 0, 0], [10, 1, 8, 200], [20, 4, 7, 100]];
  const counts = new Uint32Array(32);
  for (const [b, n] of reqs) for (let i = b; i < b + n; i++) counts[i]!++;
  return {
    meta: { fs: 'cowlog', source: 'cowlog-tracker', files: { 7: '/a', 8: '/b' }, processes: { 100: 'dd' } },
    blockSize: 4096, counts, bytes: BigInt(reqs.reduce((s, r) => s + r[1] * 4096, 0)), truncated: false,
    timeNs: BigUint64Array.from(reqs.map((_r, i) => BigInt(i))), offset: BigUint64Array.from(reqs.map((r) => BigInt(r[0] * 4096))),
    length: Uint32Array.from(reqs.map((r) => r[1] * 4096)), flags: new Uint32Array(reqs.length), cause: new Uint8Array(reqs.length),
    ino: Uint32Array.from(reqs.map((r) => r[2])), pid: Uint32Array.from(reqs.map((r) => r[3])),
  };
}

t.test('bytes by file and by process, largest first, summing to the run', async (t) => {
  const r = rec();
  const f = wear_by(r, 'file', 3);
  t.same(f.rows.map((x) => [x.name, x.bytes / 4096, x.requests]), [['/a', 7, 3], ['/b', 2, 2], ['(no file: checkpoints, tables, the cleaner)', 1, 1]], 'files, by the paths the mount saw');
  t.equal(f.rows.reduce((s, x) => s + x.bytes, 0), Number(r.bytes), 'the rows sum to the bytes of the run');
  const p = wear_by(r, 'process', 3);
  t.same(p.rows.map((x) => [x.name, x.bytes / 4096]), [['dd', 7], ['pid 200', 2], ['(no process known)', 1]], 'processes by name, or pid when the name is not known');
  t.same(f.hottest.map((h) => [h.block, h.writes]), [[10, 3], [11, 2], [0, 1]], 'the hottest blocks');
  t.same(f.hottest[0]!.by.map((x) => [x.name, x.writes]), [['/a', 2], ['/b', 1]], 'block 10: /a twice, /b once');
  t.same(p.hottest[1]!.by.map((x) => [x.name, x.writes]), [['dd', 1], ['pid 200', 1]], 'block 11: by dd and by pid 200');
});

t.test('refused where the timeline can not tell', async (t) => {
  t.throws(() => wear_by({ ...rec(), truncated: true }, 'file'), WearNamesError, 'a truncated timeline');
  const v1 = rec();
  delete v1.ino;
  t.throws(() => wear_by(v1, 'file'), WearNamesError, 'a record without the inode column');
});
