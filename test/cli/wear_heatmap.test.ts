import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WEAR_MAGIC, wear_encode } from '../../src/wear/wearfile.js';
import type { WearRecord } from '../../src/wear/wearfile.js';
import { cause_counts } from '../../src/compare/cause_counts.js';
import { crc32c } from '../../src/util/crc32c.js';
import { png_read } from '../render/png.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const COWLOG = path.join(ROOT, 'bin', 'cowlog.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cowlog-heatmap-cause-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const cowlog = (...args: string[]): { status: number | null; stdout: string; stderr: string } =>
  spawnSync(process.execPath, [COWLOG, ...args], { encoding: 'utf8', cwd: dir });

/** 64 blocks; data writes to blocks 0-3 (twice to block 2), redo to block 10, a checkpoint to block 63. */
function record(truncated = false): WearRecord {
  const reqs: Array<[number, number, number]> = [[0, 8192, 1], [8192, 8192, 1], [8192, 4096, 1], [40960, 4096, 2], [63 * 4096, 4096, 12]];
  const counts = new Uint32Array(64);
  const causes: Record<string, { requests: number; blocks: number; bytes: number }> = {};
  const names: Record<number, string> = { 1: 'data', 2: 'redo', 12: 'checkpoint' };
  for (const [o, l, c] of reqs) {
    const e = (causes[names[c]!] ??= { requests: 0, blocks: 0, bytes: 0 });
    e.requests++; e.bytes += l;
    for (let b = o / 4096; b * 4096 < o + l; b++) { counts[b]!++; e.blocks++; }
  }
  return {
    meta: { fs: 'cowlog', source: 'cowlog-tracker', causes, checkpoints: { unmount: 1 } }, blockSize: 4096, counts,
    bytes: BigInt(reqs.reduce((s, [, l]) => s + l, 0)), truncated,
    timeNs: BigUint64Array.from(reqs.map((_r, i) => BigInt(i + 1))), offset: BigUint64Array.from(reqs.map(([o]) => BigInt(o))),
    length: Uint32Array.from(reqs.map(([, l]) => l)), flags: new Uint32Array(reqs.length), cause: Uint8Array.from(reqs.map(([, , c]) => c)),
    ino: new Uint32Array(reqs.length), pid: new Uint32Array(reqs.length),
  };
}

t.test('cause_counts: the blocks of one cause, summing with the others to the counts', async (t) => {
  const rec = record();
  const data = cause_counts(rec, 'data', 2);
  t.same([...data.subarray(0, 5)], [1, 1, 2, 1, 0], 'data: blocks 0-3, block 2 twice');
  t.equal(data.reduce((s, c) => s + c, 0), 5);
  const sum = new Uint32Array(64);
  for (const c of ['data', 'redo', 'checkpoint']) cause_counts(rec, c, 2).forEach((v, i) => { sum[i]! += v; });
  t.same([...sum], [...rec.counts], 'the causes together give the file\'s counts');
  t.throws(() => cause_counts(rec, 'nonsense', 2), /unknown cause 'nonsense' \(known: data, redo,/);
  t.throws(() => cause_counts(rec, 'data', 1), /version 1 wear file/);
  t.throws(() => cause_counts(record(true), 'data', 2), /timeline was truncated/);
  t.throws(() => cause_counts(rec, 'recovery', 2), /no request of cause 'recovery' \(present: data, redo, checkpoint\)/);
  t.throws(() => cause_counts({ ...rec, meta: { fs: 'ext4', source: 'tracefs' } }, 'data', 2), /records no causes/);
});

t.test('cowlog wear heatmap --cause: draws one cause; refuses what can not be split, in one line', async (t) => {
  const wear = path.join(dir, 'w.bin');
  fs.writeFileSync(wear, wear_encode(record()));
  const r = cowlog('wear', 'heatmap', wear, '--cause', 'redo');
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^w-redo-heatmap\.png: cowlog \(cowlog-tracker\), cause redo, 4\.00 KiB written, hottest block 10 \(1 write\), 1 of 64 blocks written/);
  t.ok(png_read(path.join(dir, 'w-redo-heatmap.png')).width > 100, 'a picture');
  const all = cowlog('wear', 'heatmap', wear);
  t.match(all.stdout, /hottest block 2 \(2 writes\), 6 of 64 blocks written/, 'without --cause: every write');

  const unknown = cowlog('wear', 'heatmap', wear, '--cause', 'bogus');
  t.equal(unknown.status, 1);
  t.match(unknown.stderr, /^cowlog wear heatmap: unknown cause 'bogus' \(known: [^\n]*\)\n$/);

  const trunc = path.join(dir, 't.bin');
  fs.writeFileSync(trunc, wear_encode(record(true)));
  const rt = cowlog('wear', 'heatmap', trunc, '--cause', 'data');
  t.equal(rt.status, 1);
  t.match(rt.stderr, /^cowlog wear heatmap: .*t\.bin: the timeline was truncated[^\n]*\n$/);

  // a version 1 file, made by hand: 24-byte entries, no cause column
  const v2 = record();
  const meta = Buffer.from(JSON.stringify({ fs: 'cowlog', source: 'cowlog-tracker' }));
  const metaPadded = Math.ceil(meta.length / 8) * 8;
  const n = v2.length.length;
  const v1 = Buffer.alloc(64 + metaPadded + 64 * 4 + n * 24 + 4);
  WEAR_MAGIC.copy(v1, 0);
  v1.writeUInt32LE(1, 8); v1.writeUInt32LE(4096, 12); v1.writeUInt32LE(64, 16); v1.writeUInt32LE(meta.length, 20);
  v1.writeBigUInt64LE(BigInt(n), 24); v1.writeBigUInt64LE(v2.bytes, 32);
  meta.copy(v1, 64);
  let p = 64 + metaPadded;
  for (const c of v2.counts) { v1.writeUInt32LE(c, p); p += 4; }
  for (let i = 0; i < n; i++, p += 24) { v1.writeBigUInt64LE(v2.timeNs[i]!, p); v1.writeBigUInt64LE(v2.offset[i]!, p + 8); v1.writeUInt32LE(v2.length[i]!, p + 16); }
  v1.writeUInt32LE(crc32c(v1, 0, v1.length - 4), v1.length - 4);
  const old = path.join(dir, 'old.bin');
  fs.writeFileSync(old, v1);
  t.equal(cowlog('wear', 'heatmap', old).status, 0, 'a version 1 file is still drawn whole');
  const r1 = cowlog('wear', 'heatmap', old, '--cause', 'data');
  t.equal(r1.status, 1);
  t.match(r1.stderr, /^cowlog wear heatmap: .*old\.bin is a version 1 wear file: its requests carry no cause[^\n]*\n$/);
});
