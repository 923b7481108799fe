// What the kernel does with the options libfuse 3's low-level API gives it, seen from a probe
// server: writes of up to 1 MiB (max_write), one kernel inode per node id (both names of a hard
// link show one inode and one link count), the write-back cache (small writes reach the server
// gathered, marked as write-backs), and cached attributes (a second stat is not asked).

import t from 'tap';
import type { Test } from 'tap';
import { fuse_unavailable } from '../helpers/fusemount.js';
import { probe_mount } from './probe.js';
import type { Probe } from './probe.js';

/** (length, offset) of every write of /big after `script`. */
async function write_sizes(t: Test, script: string, ...options: string[]): Promise<{ p: Probe; w: number[][] }> {
  const p = await probe_mount(t, ...options);
  const r = await p.m.sh(script);
  t.equal(r.code, 0, script, { stderr: r.stderr });
  // write(ino, fh, buf, off, writepage): buf is logged as "<N bytes>"
  const w = (await p.events()).filter((e) => e.op === 'write' && e.path === '/big')
    .map((e) => [Number(/^<(\d+) bytes>$/.exec(String(e.args[2]))![1]), e.args[3] as number]);
  return { p, w };
}

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  t.test('max_write: a 1 MiB write arrives as one request', async (t) => {
    const { w } = await write_sizes(t, 'dd if=/dev/zero of=big bs=1M count=2 status=none');
    t.same(w, [[1048576, 0], [1048576, 1048576]], '(length, offset) of each write');
  });

  t.test('with max_write=131072 the same writes arrive in 128 KiB pieces', async (t) => {
    const { w } = await write_sizes(t, 'dd if=/dev/zero of=big bs=1M count=1 status=none', '--max-write', '131072');
    t.same(w, Array.from({ length: 8 }, (_, i) => [131072, i * 131072]), '(length, offset) of each write');
  });

  t.test('without the write-back cache every write(2) is a request', async (t) => {
    const { w } = await write_sizes(t, 'dd if=/dev/zero of=big bs=4k count=64 status=none');
    t.equal(w.length, 64, '64 requests of 4 KiB');
  });

  t.test('with the write-back cache small writes reach the server gathered, marked as write-backs', async (t) => {
    const { p, w } = await write_sizes(t, 'dd if=/dev/zero of=big bs=4k count=64 status=none conv=fsync', '--writeback');
    t.ok(w.length < 64, `${w.length} requests for 64 writes`);
    t.equal(w.reduce((n, [len]) => n + len!, 0), 262144, 'every byte arrives');
    const marked = (await p.events()).filter((e) => e.op === 'write' && e.path === '/big').every((e) => e.args[4] === true);
    t.ok(marked, 'each says it comes from the kernel\'s cache');
  });

  t.test('node ids: two names of one file are one inode, with one link count', async (t) => {
    const p = await probe_mount(t);
    const r = await p.m.sh(': > a && stat -c %i:%h a && ln a b && stat -c %i:%h a b');
    t.equal(r.code, 0, 'a file and a hard link to it', { stderr: r.stderr });
    // nullfs numbers the root 1 and the first file 2
    t.same(r.stdout.trim().split('\n'), ['2:1', '2:2', '2:2'], 'both names show ino 2 and, once linked, 2 links');
  });

  t.test('cached attributes: a second stat within attr_timeout is not asked', async (t) => {
    const p = await probe_mount(t, '--attr-timeout', '60', '--entry-timeout', '60', '--negative-timeout', '60');
    const r = await p.m.sh(': > f && stat -c %s f >/dev/null && stat -c %s f >/dev/null && stat -c %s nothere 2>/dev/null; stat -c %s nothere 2>/dev/null; true');
    t.equal(r.code, 0, 'stat twice', { stderr: r.stderr });
    const ev = await p.events();
    t.equal(ev.filter((e) => e.op === 'getattr' && e.path === '/f').length, 0, 'the create\'s answer carried the attributes');
    t.equal(ev.filter((e) => e.op === 'lookup' && e.path === '/nothere').length, 1, 'a negative answer is cached too');
  });
}
