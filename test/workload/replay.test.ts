import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { workload_generate, workload_text } from '../../src/workload/generate.js';
import { TraceError, trace_format, trace_parse } from '../../src/workload/trace.js';
import type { Op, TraceHeader } from '../../src/workload/trace.js';
import { Replayer, replay } from '../../src/workload/replay.js';

const MiB = 1024 * 1024;
const REPLAY_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'workload', 'replay.js');

function header(ops: Op[], extra: Partial<TraceHeader> = {}): TraceHeader {
  return {
    format: 'cowlog-workload', version: 1, name: 'hand', profile: 'hand', seed: 0,
    deviceBytes: 64 * MiB, ops: ops.length, liveMaxBytes: 0, livePeakBytes: 0, askedBytes: 0, ...extra,
  };
}
const text_of = (ops: Op[], extra: Partial<TraceHeader> = {}): string => trace_format(header(ops, extra), ops);

function tmpdir(t: { teardown(fn: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'cowlog-replay-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

t.test('validation names the line and the problem, before anything runs', async (t) => {
  const ok: Op[] = [{ op: 'mkdir', path: 'd' }, { op: 'create', path: 'd/f' }];
  t.doesNotThrow(() => trace_parse(text_of(ok), 'w.jsonl'));
  const lines = text_of(ok).split('\n');
  const bad = (s: string, re: RegExp, what: string): void => {
    t.throws(() => trace_parse(s, 'w.jsonl', { deviceBytes: 64 * MiB }), re, what);
    t.throws(() => trace_parse(s, 'w.jsonl', { deviceBytes: 64 * MiB }), TraceError);
  };
  bad([lines[0], lines[1], '{"op":"create","path":"d/g"', ''].join('\n'), /w\.jsonl:3: not valid JSON/, 'bad JSON line');
  bad(text_of([{ op: 'create', path: '../escape' }]), /w\.jsonl:2: path '..\/escape' contains '\.\.'/, 'path outside the mount');
  bad(text_of([{ op: 'create', path: '/etc/passwd' }]), /w\.jsonl:2: .*absolute/, 'absolute path');
  bad(text_of([{ op: 'rename', path: 'a', to: 'x/../../b' }]), /w\.jsonl:2: .*'\.\.'/, 'rename target outside');
  bad(text_of([{ op: 'create', path: 'f' }, { op: 'write', path: 'f', off: 60 * MiB, len: 8 * MiB, gen: { kind: 'text', seed: 1 } }]),
    /w\.jsonl:3: write of 8388608 bytes at 62914560 reaches past the 67108864-byte device/, 'write past the device');
  const big: Op[] = [];
  for (let i = 0; i < 5; i++) {
    big.push({ op: 'create', path: `f${i}` }, { op: 'write', path: `f${i}`, off: 0, len: 16 * MiB, gen: { kind: 'random', seed: i } });
  }
  bad(text_of(big), /w\.jsonl:11: the trace builds 83886080 bytes of live data, more than the 67108864-byte device/, 'more live data than the device');
  t.throws(() => trace_parse(text_of(ok), 'w.jsonl', { deviceBytes: 32 * MiB }), /made for a 67108864-byte device, larger than this 33554432-byte one/, 'trace for a larger device');
  bad(text_of([{ op: 'frobnicate', path: 'a' } as unknown as Op]), /w\.jsonl:2: unknown op "frobnicate"/, 'unknown op');
  bad(text_of([{ op: 'create', path: 'a', size: 3 } as unknown as Op]), /w\.jsonl:2: create has no field 'size'/, 'unknown field');
  bad(text_of([{ op: 'truncate', path: 'a', size: -1 }]), /w\.jsonl:2: 'size' must be a non-negative integer/, 'negative size');
  bad('{"op":"create","path":"a"}\n', /w\.jsonl:1: the first line must be the header/, 'no header');
  bad(lines[0]!.replace('"ops":2', '"ops":3') + '\n' + lines.slice(1).join('\n'), /announces 3 operations but 2 follow/, 'truncated trace');
});

t.test('the replayer applies a generated workload and verifies it; corruption is caught', async (t) => {
  const dir = tmpdir(t);
  const g = workload_generate({ profile: 'smallsync', ops: 3000, seed: 11, deviceBytes: 64 * MiB });
  const trace = trace_parse(workload_text(g), 'smallsync');
  const r = new Replayer(trace, dir);
  const a = r.apply();
  t.equal(a.ops, 3000);
  t.equal(a.opsOk, 3000, 'every operation succeeds on a roomy filesystem');
  t.same(a.errors, {}, 'no errors');
  t.equal(a.askedBytes, g.header.askedBytes, 'asked bytes as the header says');
  t.equal(a.writtenBytes, a.askedBytes);
  t.equal(a.usableBytes, undefined, 'no ENOSPC, no usable-capacity figure');
  const v = r.verify();
  t.ok(v.ok, `clean verification (${v.bad.join('; ')})`);
  t.ok(v.filesChecked > 10, `${v.filesChecked} files checked`);

  // flip one byte in the middle of the largest file
  const files = [...r.model.files()].sort((x, y) => y[1].size - x[1].size);
  const [victim, vf] = files[0]!;
  const fd = fs.openSync(path.join(dir, victim), 'r+');
  const at = Math.floor(vf.size / 2);
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, at);
  b[0] = b[0]! ^ 0x5a;
  fs.writeSync(fd, b, 0, 1, at);
  fs.closeSync(fd);
  // and lose another file, and leave a stray one
  const [gone] = files[1]!;
  fs.unlinkSync(path.join(dir, gone));
  fs.writeFileSync(path.join(dir, 'stray'), 'x');
  const v2 = r.verify();
  t.notOk(v2.ok, 'verification fails');
  t.ok(v2.bad.some((s) => s.startsWith(`${victim}: content differs at byte ${at}`)), `names the corrupted file and byte: ${v2.bad.join('; ')}`);
  t.ok(v2.bad.some((s) => s.startsWith(`${gone}: missing`)), 'names the lost file');
  t.ok(v2.bad.some((s) => s.startsWith('stray: exists')), 'names the stray file');
  t.equal(v2.bad.length, 3, 'and nothing else');
});

t.test('errors are counted per operation kind without stopping', async (t) => {
  const dir = tmpdir(t);
  const ops: Op[] = [
    { op: 'mkdir', path: 'd' },
    { op: 'create', path: 'd/f' },
    { op: 'write', path: 'nope', off: 0, len: 10, gen: { kind: 'text', seed: 1 } },
    { op: 'append', path: 'd/f', len: 5000, gen: { kind: 'text', seed: 2 } },
    { op: 'mkdir', path: 'd' },
    { op: 'rmdir', path: 'd' },
    { op: 'unlink', path: 'nope' },
    { op: 'unlink', path: 'nope2' },
    { op: 'rename', path: 'd/f', to: 'd/g' },
    { op: 'truncate', path: 'd/g', size: 100 },
    { op: 'write', path: 'd/g', off: 8192, len: 100, gen: { kind: 'random', seed: 3 } },
    { op: 'chmod', path: 'd/g', mode: 0o600 },
    { op: 'fsync', path: 'd/g' },
    { op: 'read', path: 'd/g', off: 0, len: 9000 },
    { op: 'stat', path: 'd/g' },
    { op: 'sync' },
  ];
  const rp = new Replayer(trace_parse(text_of(ops), 'hand'), dir);
  const r = { ...rp.apply(), verify: rp.verify() };
  t.same(r.errors, { write: { ENOENT: 1 }, mkdir: { EEXIST: 1 }, rmdir: { ENOTEMPTY: 1 }, unlink: { ENOENT: 2 } });
  t.equal(r.opsOk, ops.length - 5);
  t.equal(r.askedBytes, 5110, 'asked counts every write issued, failed ones too');
  t.equal(r.writtenBytes, 5100);
  t.ok(r.verify.ok, r.verify.bad.join('; '));
  t.equal(fs.statSync(path.join(dir, 'd/g')).size, 8292, 'a write past the end leaves a hole');
  t.equal(fs.statSync(path.join(dir, 'd/g')).mode & 0o777, 0o600);
  // the mode is checked too
  fs.chmodSync(path.join(dir, 'd/g'), 0o644);
  t.same(rp.verify().bad, ['d/g: mode 644, expected 600'], 'a changed mode is caught');
  t.match(replay(trace_parse(text_of([{ op: 'mkdir', path: 'e' }]), 'hand'), dir).verify.bad.join('\n'), /^d: exists but the trace never left it there/, 'another trace does not match this tree');
});

t.test('ENOSPC on a small tmpfs: counted, a partial write modelled, the limit stops the run', { skip: process.getuid?.() !== 0 ? 'mounting a tmpfs needs root' : false }, async (t) => {
  const dir = tmpdir(t);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'cowlog-test', dir]);
  t.teardown(() => { spawnSync('umount', [dir]); });
  const ops: Op[] = [{ op: 'mkdir', path: 'd' }];
  for (let i = 0; i < 10; i++) {
    ops.push({ op: 'create', path: `d/f${i}` }, { op: 'write', path: `d/f${i}`, off: 0, len: 300 * 1024, gen: { kind: 'random', seed: i } });
  }
  const text = text_of(ops, { untilEnospc: true, enospcLimit: 2 });
  const r = replay(trace_parse(text, 'fill-small', { deviceBytes: 64 * MiB }), dir);
  t.equal(r.enospc, 2, 'stopped at the limit');
  t.ok(r.opsSkipped > 0, `${r.opsSkipped} operations skipped`);
  t.ok(r.errors['write']?.['ENOSPC'] ?? 0 >= 1, 'write ENOSPC counted');
  t.ok(r.usableBytes !== undefined && r.usableBytes > 900 * 1024 && r.usableBytes <= MiB, `usable bytes ${r.usableBytes}`);
  t.ok(r.verify.ok, `partial writes verify (${r.verify.bad.join('; ')})`);
});

t.test('replay.js runs as a program and writes its result', async (t) => {
  const dir = tmpdir(t);
  const tr = path.join(tmpdir(t), 'w.jsonl');
  fs.writeFileSync(tr, workload_text(workload_generate({ profile: 'mixed', ops: 300, seed: 2, deviceBytes: 64 * MiB })));
  const res = path.join(path.dirname(tr), 'r.json');
  const p = spawnSync(process.execPath, [REPLAY_JS, tr, dir, '--result', res], { encoding: 'utf8' });
  t.equal(p.status, 0, p.stderr);
  t.match(p.stdout, /300\/300 operations succeeded/);
  const j = JSON.parse(fs.readFileSync(res, 'utf8')) as { verify: { ok: boolean } };
  t.equal(j.verify.ok, true);
  fs.writeFileSync(tr, '{"format":"cowlog-workload","version":1}\nnot json\n');
  const bad = spawnSync(process.execPath, [REPLAY_JS, tr, dir], { encoding: 'utf8' });
  t.equal(bad.status, 2, 'a bad trace exits 2');
  t.match(bad.stderr, /header field/);
});
