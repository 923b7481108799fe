// The mount options cowlog needs and fuse-native lacks, carried in fsname: big_writes (writes
// arrive in 128 KiB pieces instead of 4 KiB) and use_ino (the ino of getattr is what callers see,
// so two names of one file show one inode). Each is checked against the same mount without it.

import t from 'tap';
import type { Test } from 'tap';
import { fuse_unavailable } from '../helpers/fusemount.js';
import { probe_mount } from './probe.js';

async function write_sizes(t: Test, ...options: string[]): Promise<number[][]> {
  const p = await probe_mount(t, ...options);
  const r = await p.m.sh('dd if=/dev/zero of=big bs=1M count=1 status=none');
  t.equal(r.code, 0, 'a 1 MiB write', { stderr: r.stderr });
  return (await p.events()).filter((e) => e.op === 'write' && e.args[0] === '/big')
    .map((e) => [e.args[3] as number, e.args[4] as number]);
}

async function inodes(t: Test, ...options: string[]): Promise<string[]> {
  const p = await probe_mount(t, ...options);
  const r = await p.m.sh(': > a && ln a b && stat -c %i a b');
  t.equal(r.code, 0, 'a file and a hard link to it', { stderr: r.stderr });
  return r.stdout.trim().split('\n');
}

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  t.test('big_writes: a 1 MiB write arrives as 8 writes of 128 KiB', async (t) => {
    const w = await write_sizes(t);
    t.same(w, Array.from({ length: 8 }, (_, i) => [131072, i * 131072]), '(length, offset) of each write');
  });

  t.test('without big_writes the same write arrives as 256 writes of 4 KiB', async (t) => {
    const w = await write_sizes(t, '--no-big-writes');
    t.equal(w.length, 256, '256 writes');
    t.ok(w.every(([len], i) => len === 4096 && w[i]![1] === i * 4096), 'every piece is 4096 bytes, in order');
  });

  t.test('use_ino: two names of one file show one inode, the server\'s', async (t) => {
    // nullfs numbers the root 1 and the first file 2
    t.same(await inodes(t), ['2', '2'], 'both names show ino 2');
  });

  t.test('without use_ino libfuse numbers each name itself', async (t) => {
    const [a, b] = await inodes(t, '--no-use-ino');
    t.not(a, b, 'the link shows another inode number');
  });
}
