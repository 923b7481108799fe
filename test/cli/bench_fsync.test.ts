// `cowlog bench fsync` on whatever filesystem the temporary directory is on: six modes, their
// rates and fsyncs per record, a writer killed in each with nothing acknowledged lost, the
// record format's count after a crash, and its files removed.

import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cmd_run } from '../helpers/fusemount.js';
import { COWLOG } from '../mount/helpers.js';
import { record_make, records_count, RECORD_BYTES } from '../../src/cli/bench_fsync.js';

interface Row { mode: string; recordsPerS: number; syncsPerRecord: number; kill: { acked: number; reached: number; lost: number; atMs: number | null }; why: string }

t.test('six modes, a writer killed in each, nothing acknowledged lost', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cowlog-bench-fsync-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const r = await cmd_run(process.execPath, [COWLOG, 'bench', 'fsync', '--records', '300', '--seed', '7', '--json', dir], { timeoutMs: 120_000 });
  t.equal(r.code, 0, `exit 0: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { records: number; kill: string; seed: number; rows: Row[] };
  t.same(out.rows.map((x) => [x.mode, x.syncsPerRecord]), [['none', 0], ['fsync-1', 1], ['fsync-10', 0.1], ['fsync-100', 0.01], ['o_sync', 0], ['fdatasync-1', 1]], 'six modes with their fsyncs per record');
  t.ok(out.rows.every((x) => x.recordsPerS > 0 && x.why.length > 40), 'each with a rate and a sentence saying why');
  for (const x of out.rows) {
    t.equal(x.kill.lost, 0, `${x.mode}: killing the writer after ${x.kill.atMs?.toFixed(0) ?? 'the end'} ms lost none of ${x.kill.acked} acknowledged records (${x.kill.reached} reached)`);
    t.ok(x.kill.reached - x.kill.acked <= 1, 'and the file is at most the record in flight ahead');
  }
  t.same(fs.readdirSync(dir), [], 'the record files are removed');
  const bad = await cmd_run(process.execPath, [COWLOG, 'bench', 'fsync', '--kill', 'server', dir]);
  t.equal(bad.code, 2, '--kill server off a cowlog mount: usage error');
  t.match(bad.stderr, /--kill server needs DIR on a cowlog mount/, bad.stderr.trim());
});

t.test('records are counted up to the first that is missing or damaged', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cowlog-bench-rec-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const f = path.join(dir, 'r');
  const b = Buffer.alloc(RECORD_BYTES);
  const all = Buffer.concat([0, 1, 2, 3, 4].map((i) => Buffer.from(record_make(9, i, b))));
  fs.writeFileSync(f, all);
  t.same(records_count(f, 9), { records: 5, bytes: 5 * RECORD_BYTES }, 'five intact records');
  t.equal(records_count(f, 8).records, 0, 'records of another run do not count');
  fs.writeFileSync(f, all.subarray(0, 3 * RECORD_BYTES + 100));
  t.equal(records_count(f, 9).records, 3, 'a torn last record does not count');
  const torn = Buffer.from(all);
  torn[2 * RECORD_BYTES + 50]! ^= 1;
  fs.writeFileSync(f, torn);
  t.equal(records_count(f, 9).records, 2, 'nor does one with a flipped bit, or anything after it');
  const hole = Buffer.from(all);
  hole.fill(0, RECORD_BYTES, 2 * RECORD_BYTES);
  fs.writeFileSync(f, hole);
  t.equal(records_count(f, 9).records, 1, 'a record of zeros (a hole after a crash) ends the count');
  t.same(records_count(path.join(dir, 'none'), 9), { records: 0, bytes: 0 }, 'a missing file has none');
});
