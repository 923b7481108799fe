import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mounts } from '../../src/compare/sys.js';
import { tracefs_ensure } from '../../src/tracefs/tracefs.js';

// real devices, mkfs and mounts: slower than tap's 30 s default on a busy 2-core machine
t.setTimeout(240_000);

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const COWLOG = path.join(ROOT, 'bin', 'cowlog.js');
const why = process.getuid?.() !== 0 ? 'loop devices and mounts need root' : tracefs_ensure();
if (why !== undefined) t.plan(0, why);

const scratch = fs.mkdtempSync('/var/tmp/cowlog-cli-scratch-');
const work = fs.mkdtempSync('/tmp/cowlog-cli-test-');
t.teardown(() => { fs.rmSync(scratch, { recursive: true, force: true }); fs.rmSync(work, { recursive: true, force: true }); });
const env = { ...process.env, COWLOG_SCRATCH: scratch };
const cowlog = (...args: string[]): { status: number | null; stdout: string; stderr: string } =>
  spawnSync(process.execPath, [COWLOG, ...args], { encoding: 'utf8', env });
const loops = (): string[] => (spawnSync('losetup', ['-a'], { encoding: 'utf8' }).stdout ?? '').split('\n').filter((l) => l.includes(scratch));

t.test('cowlog wear workload: deterministic JSONL on stdout, the bound on stderr', async (t) => {
  const a = cowlog('wear', 'workload', '--profile', 'smallsync', '--ops', '500', '--seed', '9', '--device-size', '64M');
  const b = cowlog('wear', 'workload', '--profile', 'smallsync', '--ops', '500', '--seed', '9', '--device-size', '64M');
  t.equal(a.status, 0, a.stderr);
  t.equal(a.stdout, b.stdout, 'same seed, same trace');
  const lines = a.stdout.trim().split('\n');
  t.equal(lines.length, 501, 'a header and 500 operations');
  t.match(JSON.parse(lines[0]!), { format: 'cowlog-workload', profile: 'smallsync', ops: 500, seed: 9, deviceBytes: 64 * 1024 * 1024 });
  t.match(a.stderr, /live data kept at or below 7\.7 MiB \(12 % of the 64\.0 MiB device\)/);
  const bad = cowlog('wear', 'workload', '--profile', 'nope', '--ops', '5', '--device-size', '64M');
  t.equal(bad.status, 2);
  t.match(bad.stderr, /unknown profile 'nope'/);
});

t.test('compare refuses a bad trace with a clear error before anything is formatted', async (t) => {
  const good = cowlog('wear', 'workload', '--profile', 'smallsync', '--ops', '200', '--seed', '1', '--device-size', '64M').stdout;
  const cases: Array<[string, string, RegExp]> = [
    ['badjson', good.split('\n').slice(0, 3).join('\n') + '\n{"op":"stat",\n', /badjson\.jsonl:4: not valid JSON/],
    ['outside', good.replace('"path":"d0/f0"', '"path":"../../etc/f0"'), /outside\.jsonl:\d+: path '\.\.\/\.\.\/etc\/f0' contains '\.\.'/],
    ['toolarge', good, /made for a 67108864-byte device, larger than this 16777216-byte one/],
  ];
  for (const [name, text, re] of cases) {
    const p = path.join(work, `${name}.jsonl`);
    fs.writeFileSync(p, text);
    const r = cowlog('wear', 'compare', '--fs', 'ext4,btrfs', '--size', name === 'toolarge' ? '16M' : '64M', '--workload', p, '--out', path.join(work, 'out'));
    t.equal(r.status, 1, `${name}: exit 1`);
    t.match(r.stderr, re, `${name}: names the problem`);
    t.notMatch(r.stderr, /mkfs/, `${name}: nothing formatted`);
  }
  t.same(fs.readdirSync(scratch), [], 'no image made');
  const u = cowlog('wear', 'compare', '--fs', 'ext4,zfs', '--workload', 'x', '--out', 'y');
  t.equal(u.status, 2);
  t.match(u.stderr, /unknown filesystem 'zfs'/);
});

t.test('Ctrl-C in the middle of a run leaves no loop device, mount or tracer behind', async (t) => {
  const w = path.join(work, 'long.jsonl');
  t.equal(cowlog('wear', 'workload', '--profile', 'smallsync', '--ops', '30000', '--seed', '2', '--device-size', '64M', '-o', w).status, 0);
  const child = spawn(process.execPath, [COWLOG, 'wear', 'compare', '--fs', 'ext4', '--size', '64M', '--workload', w, '--out', path.join(work, 'int')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  const replaying = new Promise<void>((resolve) => {
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); if (/ext4: replay \d+\/30000/.test(err)) resolve(); });
    child.on('close', () => resolve());
  });
  await replaying;
  t.equal(loops().length, 1, `a loop device is attached while the replay runs (${err.slice(-300)})`);
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  t.equal(code, 130, 'exits 130 after SIGINT');
  t.match(err, /SIGINT: cleaning up/);
  t.same(loops(), [], 'no loop device left');
  t.same(mounts().filter((m) => m.mountpoint.startsWith(scratch)), [], 'nothing mounted');
  t.same(fs.readdirSync('/sys/kernel/tracing/instances').filter((n) => n.startsWith(`cowlog-${child.pid}-`)), [], 'no tracing instance left');
  t.same(fs.readdirSync(scratch), [], 'scratch image removed');
});

t.test('cowlog wear heatmap draws a wear file, and says where a device\'s wear file should be', async (t) => {
  const { wear_encode } = await import('../../src/wear/wearfile.js');
  const counts = new Uint32Array(16384);
  counts[0] = 100; counts[5000] = 3; counts[16383] = 1;
  const rec = {
    meta: { fs: 'ext4', source: 'tracefs' }, blockSize: 4096, counts, bytes: 4096n, truncated: false,
    timeNs: BigUint64Array.of(0n), offset: BigUint64Array.of(0n), length: Uint32Array.of(4096), flags: Uint32Array.of(0),
  };
  const wf = path.join(work, 'x.wear');
  fs.writeFileSync(wf, wear_encode(rec));
  const png = path.join(work, 'x.png');
  const r = cowlog('wear', 'heatmap', wf, '--out', png);
  t.equal(r.status, 0, r.stderr);
  t.same([...fs.readFileSync(png).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
  t.match(r.stdout, /hottest block 0 \(100 writes\), 3 of 16384 blocks written/);
  const img = path.join(work, 'plain.img');
  fs.writeFileSync(img, Buffer.alloc(8192));
  const d = cowlog('wear', 'heatmap', img);
  t.equal(d.status, 1);
  t.match(d.stderr, /is not a wear file, and the device has none at .*plain/);
});
