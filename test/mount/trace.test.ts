// The mount explains itself, tried as a new user would: `cowlog trace` shows the requests of a
// process with a known name (dd) with its pid, path, length and latency; the JSON lines carry
// every documented field; a write followed by fsync is written, logged and durable in that
// order; `cowlog top` and `cowlog info --stats` name the processes and files; a tracer that
// stops reading loses events (and is told) while the mount keeps its speed; bad input and a
// server that goes away end in one line and a documented exit status. The server runs in a
// child process; the test process never touches the mount.

import t from 'tap';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cmd_run, fuse_unavailable, mount_with } from '../helpers/fusemount.js';
import type { Mounted } from '../helpers/fusemount.js';
import { clean_after, COWLOG, cowlog, cowlog_server, image_make, tmp_dir, until } from './helpers.js';
import type { TraceEvent } from '../../src/fuse/trace.js';

/** The fields docs/TRACE.md promises on every request line, and on read and write lines. */
const FIELDS = ['time', 'op', 'pid', 'comm', 'uid', 'ino', 'path', 'result', 'us'];
const ISO_US = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

interface Tracer {
  child: ChildProcess;
  out(): string;
  err(): string;
  /** SIGINT (Ctrl-C); resolves with the exit code once it has exited */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

/**
 * Starts `cowlog trace ARGS MNT` and waits until it sees requests: probe files it finds in its
 * output, looked up with stat (requests) or written (data events).
 */
async function tracer_start(m: Mounted, args: string[], probe: 'stat' | 'write' | 'header' = 'stat'): Promise<Tracer> {
  const child = spawn(process.execPath, [COWLOG, 'trace', ...args, m.mountpoint], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const exited = new Promise<number | null>((ok) => child.on('close', (c) => ok(c)));
  t.teardown(() => { child.kill('SIGKILL'); });
  const tr: Tracer = {
    child, out: () => out, err: () => err, exited,
    stop: async () => { child.kill('SIGINT'); return exited; },
  };
  if (probe === 'header') {
    // the aligned text's header is printed once the server has attached the trace
    if (!await until(() => out.includes('TIME(UTC)') || child.exitCode !== null, 20_000) || child.exitCode !== null) throw new Error(`the tracer did not start: ${err}`);
  } else {
    let k = 0;
    const seen = await until(async () => {
      if (probe === 'stat') await cmd_run('stat', [m.path(`.probe-${++k}`)]);
      else await cmd_run('sh', ['-c', `echo x > '${m.path(`.probe-${++k}`)}'`]);
      return out.includes('.probe-') || child.exitCode !== null;
    }, 20_000);
    if (!seen || child.exitCode !== null) throw new Error(`the tracer did not start: ${err}`);
  }
  return tr;
}

/** Runs dd in its own process (no shell: its pid is the requests' pid from the first one). */
async function dd(args: string[]): Promise<number> {
  const child = spawn('dd', args, { stdio: 'ignore', cwd: '/' });
  const code = await new Promise<number | null>((ok) => child.on('close', (c) => ok(c)));
  if (code !== 0) throw new Error(`dd ${args.join(' ')}: exit ${code}`);
  return child.pid!;
}

function events(text: string): (TraceEvent & { lost?: number; summary?: unknown })[] {
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as TraceEvent);
}

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  t.test('trace, durability, top and stats through a mount', async (t) => {
    const img = await image_make(t, '64M');
    const m = await mount_with(t, cowlog_server(img));

    // -- the requests of dd, as JSON lines
    let tr = await tracer_start(m, ['--json']);
    const second = await tracer_start(m, ['--json', '--op', 'write'], 'write');
    const pid = await dd(['if=/dev/zero', `of=${m.path('f')}`, 'bs=4096', 'count=3', 'conv=fsync']);
    // dd's own release of /f, not any release: the probes of the second tracer make some, and
    // dd's events may still wait in the server's queue (flushed every 20 ms) when those arrive
    const released = (text: string): boolean => text.split('\n').some((l) => l.includes('"op":"release"') && l.includes('"path":"/f"'));
    t.ok(await until(() => released(tr.out()) && (second.out().match(/"op":"write"/g) ?? []).length >= 3, 10_000), 'dd\'s release of /f reached the first trace, its writes the second');
    t.equal(await tr.stop(), 0, 'Ctrl-C stops the trace with exit 0');
    t.equal(await second.stop(), 0, 'and the second one, attached at the same time');
    t.same(events(second.out()).filter((e) => e.pid === pid).map((e) => [e.op, e.off]), [['write', 0], ['write', 4096], ['write', 8192]], 'which saw dd\'s writes through its own filter');
    let all = events(tr.out());
    t.ok(all.length > 10, `every line parses as JSON (${all.length} lines)`);
    const mine = all.filter((e) => e.pid === pid);
    t.ok(mine.every((e) => e.comm === 'dd'), `dd's requests carry its pid ${pid} and its name`);
    const create = mine.find((e) => e.op === 'create');
    t.ok(create !== undefined && create.path === '/f' && create.ino > 1, `create /f (inode ${create?.ino})`);
    const writes = mine.filter((e) => e.op === 'write');
    t.same(writes.map((e) => [e.path, e.off, e.len, e.bytes, e.ino, e.result]), [0, 4096, 8192].map((off) => ['/f', off, 4096, 4096, create?.ino, 0]),
      'three writes of 4096 bytes at 0, 4096 and 8192, each answered in full');
    t.ok(mine.some((e) => e.op === 'fsync' && e.path === '/f' && e.result === 0), 'the fsync of conv=fsync');
    // the kernel asks for security.capability before the first write to a new file; the binding
    // answers that itself for a file without attributes (noxattr.ts), except while followed
    t.ok(mine.some((e) => e.op === 'getxattr' && e.path === '/f' && e.result === 'ENODATA'), 'the kernel\'s question for security.capability before the first write is traced');
    const missing = all.filter((e) => !FIELDS.every((f) => f in e) || ((e.op === 'read' || e.op === 'write') && !('off' in e && 'len' in e)));
    t.same(missing, [], 'every line carries every documented field');
    t.ok(all.every((e) => ISO_US.test(e.time)), 'times are ISO 8601 with microseconds');
    t.ok(all.every((e) => typeof e.us === 'number' && e.us > 0), 'and every latency is above zero');
    t.ok(all.some((e) => e.result === 'ENOENT'), 'failures carry their errno name (the lookups before create)');

    // -- filters and the aligned text
    tr = await tracer_start(m, ['--comm', 'dd', '--op', 'write,create', '--path', m.path('sub')], 'header');
    const slow = await tracer_start(m, ['--slower-than', '60000'], 'header');
    await cmd_run('mkdir', [m.path('sub')]);
    await dd(['if=/dev/zero', `of=${m.path('sub/x')}`, 'bs=512', 'count=2']);
    await dd(['if=/dev/zero', `of=${m.path('y')}`, 'bs=512', 'count=2']);
    await until(() => (tr.out().match(/ write /g) ?? []).length >= 2, 5000);
    t.equal(await tr.stop(), 0, 'stopped');
    t.equal(await slow.stop(), 0, 'and the one for requests slower than a minute');
    t.equal(slow.out().trim().split('\n').length, 1, 'which saw none: a header only');
    const lines = tr.out().trim().split('\n');
    t.match(lines[0]!, /^TIME\(UTC\)\s+COMM\s+PID\s+OP\s+RESULT\s+LAT\(us\)\s+INO\s+PATH$/, 'a header');
    const cols = lines.slice(1).map((l) => l.split(/\s+/));
    t.same(cols.map((c) => [c[1], c[3], c[4], c[7], c[8] ?? '']), [['dd', 'create', '0', '/sub/x', ''], ['dd', 'write', '0', '/sub/x', 'off=0'], ['dd', 'write', '0', '/sub/x', 'off=512']],
      'only dd\'s creates and writes below /sub: not mkdir, not /y', { lines });
    t.ok(cols.every((c) => Number(c[5]) > 0 && c[2] === cols[0]![2]), 'one pid, latencies above zero');

    // -- written, logged, durable
    tr = await tracer_start(m, ['--durability', '--json'], 'write');
    await dd(['if=/dev/zero', `of=${m.path('g')}`, 'bs=4096', 'count=3', 'conv=fsync']);
    await until(() => tr.out().includes('"op":"durable"'), 5000);
    t.equal(await tr.stop(), 0, 'stopped');
    all = events(tr.out());
    const ino = all.find((e) => e.op === 'written' && e.path === '/g')?.ino;
    t.ok(ino !== undefined, `dd's writes of /g are followed (inode ${ino})`);
    const g = all.filter((e) => e.ino === ino);
    t.same(g.map((e) => e.op), ['written', 'written', 'written', 'logged', 'durable'], 'written three times, then logged, then durable');
    t.same(g.slice(0, 3).map((e) => [e.comm, e.off, e.len]), [['dd', 0, 4096], ['dd', 4096, 4096], ['dd', 8192, 4096]], 'each write with its offset and length');
    const [lg, du] = [g[3]!, g[4]!];
    t.same([lg.blocks, lg.writes, lg.bytes, lg.cause], [3, 3, 12288, 'fsync'], 'three blocks to the log during the fsync');
    t.same([du.via, du.writes, du.bytes, du.cause, du.causePath], ['fsync', 3, 12288, 'fsync', '/g'], 'made durable by the fsync of /g');
    t.ok(du.waitUsMax! >= du.waitUsMin! && du.waitUsMin! > 0 && du.flushUs! > 0, `waited ${du.waitUsMax} µs at most, the flush took ${du.flushUs} µs`);
    const sum = all.find((e) => e.summary !== undefined)?.summary as { durability: { path: string; writes: number; waitMsMedian: number; waitMsMax: number }[] } | undefined;
    const row = sum?.durability.find((r) => r.path === '/g');
    t.ok(row !== undefined && row.writes === 3 && row.waitMsMax >= row.waitMsMedian && row.waitMsMedian > 0, `the summary at Ctrl-C: /g waited ${row?.waitMsMedian} ms (median), ${row?.waitMsMax} ms at most`);

    // -- top, while dd and cat work
    const work = m.sh('for i in $(seq 60); do dd if=/dev/zero of=t bs=64k count=4 conv=fsync 2>/dev/null; cat t >/dev/null; sleep 0.05; done', { timeoutMs: 60_000 });
    await new Promise((ok) => setTimeout(ok, 300));
    const top = await cowlog(['top', '--once', '--json', '--interval', '1', m.mountpoint]);
    await work;
    t.equal(top.code, 0, `top --once --json: ${top.stderr}`);
    const snap = JSON.parse(top.stdout) as { intervalS: number; procs: { comm: string; pid: number; writeBytes: number; readBytes: number; requests: number; p50Us: number; p99Us: number; devBytes: number | null }[]; files: { path: string; writeBytes: number; readBytes: number; devBytes: number | null }[] };
    const ddRow = snap.procs.find((p) => p.comm === 'dd');
    const catRow = snap.procs.find((p) => p.comm === 'cat');
    t.ok(ddRow !== undefined && ddRow.writeBytes > 0 && ddRow.writeBytes % 65536 === 0, `top lists dd with the bytes it wrote (${ddRow?.writeBytes})`);
    t.ok(catRow !== undefined && catRow.readBytes > 0, `and cat with the bytes it read (${catRow?.readBytes})`);
    t.ok(ddRow!.requests > 0 && ddRow!.p99Us >= ddRow!.p50Us && ddRow!.p50Us > 0, `with requests and latency percentiles (${ddRow!.p50Us}/${ddRow!.p99Us} µs)`);
    // dd's fsync writes the file's data and a redo block for it: device bytes written for dd and /t
    t.ok(ddRow!.devBytes !== null && ddRow!.devBytes >= ddRow!.writeBytes, `device bytes written on dd's behalf: ${ddRow!.devBytes} (it wrote ${ddRow!.writeBytes})`);
    t.equal(catRow!.devBytes, null, 'none on behalf of cat, which only read');
    const tRow = snap.files.find((f) => f.path === '/t');
    t.ok(tRow !== undefined && tRow.writeBytes > 0 && tRow.readBytes > 0, 'the file /t with its bytes read and written');
    t.ok(tRow!.devBytes !== null && tRow!.devBytes > 0, `and the device bytes written for it (${tRow!.devBytes})`);
    const topText = await cowlog(['top', '--once', '--interval', '0.5', m.mountpoint]);
    t.equal(topText.code, 0, 'top --once as a table');
    t.match(topText.stdout, /^PROCESSES\n\s+PID COMM\s+UID\s+REQ\/s\s+READ\s+WRITE\s+P50\(us\)\s+P99\(us\)\s+DEV-W$/m, 'with its columns');

    // -- info --stats
    const st = await cowlog(['info', '--stats', '--json', m.mountpoint]);
    t.equal(st.code, 0, `info --stats: ${st.stderr}`);
    const stats = JSON.parse(st.stdout) as { requests: Record<string, number>; latency: Record<string, { count: number; buckets: number[]; p50: number; p99: number }> };
    t.ok(stats.latency['write']!.count >= 6 && stats.latency['write']!.count <= stats.requests['write']!, `write latency histogram of ${stats.latency['write']!.count} requests`);
    t.equal(stats.latency['write']!.buckets.reduce((a, b) => a + b, 0), stats.latency['write']!.count, 'whose buckets add up');
    const stText = await cowlog(['info', '--stats', m.mountpoint]);
    t.match(stText.stdout, /^write: \d+ requests, median \d+ us, p99 \d+ us/m, 'and as text');
    t.match(stText.stdout, /usecs : count\s+distribution/, 'with histograms');

    // -- the trace ends cleanly when the mount goes
    tr = await tracer_start(m, []);
    await clean_after(t, m, img);
    t.equal(await tr.exited, 0, 'a trace of a mount that is unmounted ends with exit 0');
    t.match(tr.err(), /the mount was unmounted/, 'saying so');
  });

  t.test('with the kernel\'s writeback cache, a write-back is the writer\'s: the process that opened the file', async (t) => {
    const img = await image_make(t, '64M');
    const m = await mount_with(t, cowlog_server(img, '-o', 'writeback_cache'));
    const tr = await tracer_start(m, ['--json', '--op', 'write'], 'write');
    // two writes of 4 KiB, then sync (another process: the kernel's flusher sends the pages),
    // then close: the pages reach cowlog as one write-back, sent by someone else
    const py = 'import os, subprocess, sys\nfd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)\n' +
      'os.write(fd, b"a" * 4096); os.write(fd, b"b" * 4096)\nsubprocess.run(["sync"], check=True)\nprint(os.getpid(), flush=True)\nos.close(fd)\n';
    const r = await cmd_run('python3', ['-c', py, m.path('wb')]);
    t.equal(r.code, 0, 'written, synced, closed', { stderr: r.stderr });
    const writer = Number(r.stdout.trim());
    t.ok(await until(() => /"path":"\/wb"/.test(tr.out()), 5000), 'the write-back of /wb reached the trace');
    t.equal(await tr.stop(), 0, 'stopped');
    const wb = events(tr.out()).filter((e) => e.op === 'write' && e.path === '/wb');
    t.same(wb.map((e) => [e.off, e.len, e.pid, e.comm]), [[0, 8192, writer, 'python3']],
      'one write of 8 KiB (the two gathered), attributed to the process that opened the file');
    await clean_after(t, m, img);
  });

  t.test('a tracer that stops reading loses events, and the mount keeps its speed', async (t) => {
    const img = await image_make(t, '64M');
    const m = await mount_with(t, cowlog_server(img));
    await m.sh(': > f');
    const STATS = 6000;
    const load = async (): Promise<number> => {
      // names never asked before: the kernel caches attributes and answers (negative ones too),
      // so each stat must name another file to reach the server
      const r = await m.run(process.execPath, ['-e', `const fs=require('fs');const t0=performance.now();for(let i=0;i<${STATS};i++){try{fs.statSync(process.argv[1]+'-'+Math.random())}catch{}}console.log(performance.now()-t0)`, m.path('f')], { timeoutMs: 120_000 });
      if (r.code !== 0) throw new Error(r.stderr);
      return Number(r.stdout);
    };
    const free = await load();
    const tr = await tracer_start(m, ['--json', '--buffer', '256']);
    tr.child.stdout!.pause();
    const stalled = await load();
    t.ok(await m.mounted(), 'the mount is still there');
    t.ok(stalled < 3 * free + 2000, `${STATS} stats took ${stalled.toFixed(0)} ms with a tracer that does not read, ${free.toFixed(0)} ms without one`);
    // (the server sends binary records of about 60 bytes: the socket's and the pipe's buffers
    // hold thousands of them, and a second load makes sure the events outrun them)
    await load();
    tr.child.stdout!.resume();
    await new Promise((ok) => setTimeout(ok, 500));
    await tr.stop();
    const lost = events(tr.out()).filter((e) => e.lost !== undefined).reduce((n, e) => n + e.lost!, 0);
    t.ok(lost > 0, `the tracer was told it lost ${lost} events`);
    const text = await tracer_start(m, ['--buffer', '64']);
    text.child.stdout!.pause();
    // (requests answered from the kernel's caches never reach cowlog: two loads make sure the
    // events outrun the pipe the paused reader leaves full)
    await load();
    await load();
    text.child.stdout!.resume();
    await new Promise((ok) => setTimeout(ok, 500));
    await text.stop();
    t.match(text.out(), /^--- \d+ events lost: this trace did not keep up ---$/m, 'as text too');
    await clean_after(t, m, img);
  });

  t.test('bad input and a server that goes away: one line, a documented exit status', async (t) => {
    const dir = tmp_dir(t);
    let r = await cowlog(['trace', dir]);
    t.equal(r.code, 1, 'not a mountpoint: exit 1');
    t.match(r.stderr, /^cowlog trace: .* is not a mountpoint: give the mountpoint of a running cowlog mount\n$/, r.stderr);
    r = await cowlog(['top', '--once', '/proc']);
    t.equal(r.code, 1, 'top of /proc: exit 1');
    t.match(r.stderr, /^cowlog top: \/proc is not a cowlog mount \(it is proc from proc\)\n$/, r.stderr);
    r = await cowlog(['info', '--stats', '/proc']);
    t.equal(r.code, 1, 'info --stats of /proc: exit 1');
    const img = await image_make(t, '64M');
    const m = await mount_with(t, cowlog_server(img));
    for (const [args, msg] of [
      [['--op', 'write,bogus'], /unknown operation 'bogus'/],
      [['--slower-than', 'soon'], /--slower-than: 'soon' is not a number/],
      [['--pid', '-3'], /--pid: '-3' is not a process id/],
      [['--path', 'rel'], /--path: 'rel' is neither absolute/],
      [['--frobnicate'], /unknown option --frobnicate/],
      [['--nice', '20'], /--nice must be 0 to 19, not '20'/],
    ] as const) {
      r = await cowlog(['trace', ...args, m.mountpoint]);
      t.equal(r.code, 2, `trace ${args.join(' ')}: exit 2`);
      t.match(r.stderr, msg, r.stderr.trim());
      t.equal(r.stderr.trim().split('\n').length, 1, 'on one line');
    }
    r = await cowlog(['top', '--interval', '0', m.mountpoint]);
    t.equal(r.code, 2, 'top --interval 0: exit 2');
    const tr = await tracer_start(m, ['--json']);
    // field 19 of /proc/PID/stat (after the name in parentheses) is the nice value
    const nice_of = (pid: number): number => Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[16]);
    t.equal(nice_of(tr.child.pid!), Math.min(19, nice_of(process.pid) + 10), 'a trace runs 10 steps nicer than its shell');
    process.kill(m.server.pid!, 'SIGKILL');
    const code = await Promise.race([tr.exited, new Promise((ok) => setTimeout(() => ok('hung'), 10_000))]);
    t.equal(code, 1, 'a trace whose server is killed ends with exit 1, at once');
    t.match(tr.err(), /^cowlog trace: .*: the server went away \(.*\)\n$/, tr.err().trim());
    r = await cowlog(['trace', m.mountpoint], { timeoutMs: 20_000 });
    t.equal(r.code, 1, 'a trace of the dead mount: exit 1');
    t.match(r.stderr, /its cowlog server \(pid \d+\) is gone/, r.stderr.trim());
  });
}
