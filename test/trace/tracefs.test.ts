import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { TracefsTracer, tracefs_ensure, stale_instances_remove, TRACEFS } from '../../src/tracefs/tracefs.js';
import { image_create, loop_attach, loop_detach_sync, scratch_dir } from '../../src/compare/sys.js';
import { wear_decode } from '../../src/wear/wearfile.js';

// real devices, mkfs and mounts: slower than tap's 30 s default on a busy 2-core machine
t.setTimeout(240_000);

const why = process.getuid?.() !== 0 ? 'tracing a loop device needs root' : tracefs_ensure();
if (why !== undefined) t.plan(0, why);

const MiB = 1024 * 1024;

async function loop_make(t: Tap, bytes: number): Promise<string> {
  const dir = fs.mkdtempSync(path.join(scratch_dir(bytes), 'cowlog-trace-test-'));
  const img = path.join(dir, 'dev.img');
  image_create(img, bytes);
  const dev = await loop_attach(img);
  t.teardown(() => { loop_detach_sync(dev); fs.rmSync(dir, { recursive: true, force: true }); });
  return dev;
}
type Tap = { teardown(fn: () => void): void };

/** dd of `bytes` at byte offset `off`, one direct write request. */
function dd(dev: string, off: number, bytes: number): void {
  execFileSync('dd', ['if=/dev/urandom', `of=${dev}`, `bs=${bytes}`, 'count=1', `seek=${off}`, 'oflag=direct,seek_bytes', 'conv=notrunc', 'status=none']);
}

t.test('dd of known blocks at known offsets gives exactly those counts and bytes', async (t) => {
  const dev = await loop_make(t, 16 * MiB);
  const other = await loop_make(t, 16 * MiB);
  const out = path.join(fs.mkdtempSync('/tmp/cowlog-trace-'), 'wear.bin');
  t.teardown(() => fs.rmSync(path.dirname(out), { recursive: true, force: true }));
  const tr = await TracefsTracer.start({ device: dev, out, meta: { fs: 'raw', workload: 'dd-pattern' } });
  t.teardown(() => tr.kill());
  const writes: Array<[number, number]> = [
    [0, 4096],               // block 0
    [10 * 4096, 4096],       // block 10, three times
    [10 * 4096, 4096],
    [10 * 4096, 4096],
    [100 * 4096, 32768],     // blocks 100..107 in one request
    [4608, 512],             // half a sector pair inside block 1: counts block 1 once
    [16 * MiB - 8192, 8192], // the last two blocks
  ];
  for (const [off, len] of writes) dd(dev, off, len);
  // not counted: reads, a discard, writes to another device
  execFileSync('dd', [`if=${dev}`, 'of=/dev/null', 'bs=65536', 'count=4', 'iflag=direct', 'status=none']);
  execFileSync('blkdiscard', ['-o', String(MiB), '-l', String(MiB), dev]);
  dd(other, 0, 65536);
  const rec = await tr.stop();

  const expect = new Map<number, number>([[0, 1], [10, 3], [1, 1], [4095, 1], [4094, 1]]);
  for (let b = 100; b < 108; b++) expect.set(b, 1);
  const got = new Map<number, number>();
  rec.counts.forEach((c, i) => { if (c) got.set(i, c); });
  t.same([...got].sort((a, b) => a[0] - b[0]), [...expect].sort((a, b) => a[0] - b[0]), 'per-block counts');
  t.equal(rec.bytes, BigInt(writes.reduce((s, [, l]) => s + l, 0)), 'host bytes');
  t.equal(rec.timeNs.length, writes.length, 'one timeline entry per request');
  t.same([...rec.offset].map(Number), writes.map(([o]) => o), 'timeline in issue order with byte offsets');
  t.same([...rec.length], writes.map(([, l]) => l), 'timeline lengths');
  for (let i = 1; i < rec.timeNs.length; i++) t.ok(rec.timeNs[i]! >= rec.timeNs[i - 1]!, 'time runs forward');
  t.equal(rec.meta.source, 'tracefs');
  t.equal(rec.meta.fs, 'raw');
  t.equal(rec.meta.deviceBytes, 16 * MiB);
  t.equal(rec.counts.length, 4096);
  const again = wear_decode(fs.readFileSync(out), out);
  t.same([...again.counts], [...rec.counts], 'the wear file on disk holds the same');
  t.notOk(fs.existsSync(path.join(TRACEFS, 'instances', path.basename(tr.instanceDir))), 'the tracing instance is gone');
});

t.test('a filesystem\'s flushes are flags, not requests; two tracers run side by side', async (t) => {
  const a = await loop_make(t, 16 * MiB);
  const b = await loop_make(t, 16 * MiB);
  const dir = fs.mkdtempSync('/tmp/cowlog-trace-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const ta = await TracefsTracer.start({ device: a, out: path.join(dir, 'a.bin'), meta: { fs: 'raw' } });
  const tb = await TracefsTracer.start({ device: b, out: path.join(dir, 'b.bin'), meta: { fs: 'raw' } });
  t.teardown(() => { ta.kill(); tb.kill(); });
  dd(a, 0, 4096);
  dd(b, 8192, 4096);
  dd(b, 8192, 4096);
  // a synchronous write through the page cache plus fsync: the flush shows as a flag or not at all
  execFileSync('dd', ['if=/dev/zero', `of=${a}`, 'bs=4096', 'count=1', 'seek=5', 'conv=fsync', 'status=none']);
  const ra = await ta.stop();
  const rb = await tb.stop();
  t.equal(ra.counts[0], 1);
  t.equal(ra.counts[5], 1);
  t.equal(ra.bytes, 8192n, 'pure flushes add no bytes');
  t.equal(rb.counts[2], 2);
  t.equal(rb.bytes, 8192n);
  t.equal(ra.counts.reduce((s, c) => s + c, 0), 2, 'nothing of b in a');
});

t.test('instances of dead tracers are removed', async (t) => {
  const name = 'cowlog-999999999-0';
  fs.mkdirSync(path.join(TRACEFS, 'instances', name));
  t.teardown(() => { try { fs.rmdirSync(path.join(TRACEFS, 'instances', name)); } catch { /* removed */ } });
  t.ok(stale_instances_remove().includes(name));
  t.notOk(fs.existsSync(path.join(TRACEFS, 'instances', name)));
});
