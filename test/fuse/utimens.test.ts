// Times through setattr: both reach the handler with nanoseconds, touch -a / -m set one and
// leave the other (UTIME_OMIT: its bit is not set), plain touch asks for "now" (FUSE_SET_ATTR_*_NOW).
// Times are checked by stat(1) in another process, so the nanoseconds of answers are checked too.

import t from 'tap';
import { FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_ATIME_NOW, FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW } from '../../src/fuse/binding.js';
import type { SetattrIn, Timespec } from '../../src/fuse/binding.js';
import { fuse_unavailable } from '../helpers/fusemount.js';
import { probe_mount } from './probe.js';

const UTC = { ...process.env, TZ: 'UTC' };

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  t.test('touch -m, touch -a, touch -d and touch with nanosecond times', async (t) => {
    const p = await probe_mount(t);
    const { m } = p;
    const times = async (): Promise<string> => (await m.run('stat', ['-c', '%x|%y', 'f'], { env: UTC })).stdout.trim();
    // setattr(ino, set, fh): which times it sets, as [atime, mtime], each 'omit', 'now' or nanoseconds
    const show = (set: SetattrIn, bit: number, now: number, ts: Timespec): string =>
      (set.valid & now) !== 0 ? 'now' : (set.valid & bit) !== 0 ? `${BigInt(ts.s) * 1_000_000_000n + BigInt(ts.ns)}n` : 'omit';
    const utimens_logged = async (n: number): Promise<string[][]> =>
      (await p.events()).filter((e) => e.op === 'setattr' && e.path === '/f').map((e) => e.args[1] as SetattrIn)
        .filter((set) => (set.valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) !== 0).slice(n)
        .map((set) => [show(set, FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_ATIME_NOW, set.atime), show(set, FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW, set.mtime)]);

    const created = Date.now();
    t.equal((await m.sh(': > f')).code, 0, 'create f');
    const [atime0] = (await times()).split('|');
    const born_ms = Number((await m.run('stat', ['-c', '%.9X', 'f'])).stdout) * 1000;
    t.ok(Math.abs(born_ms - created) < 5000, 'a new file has the time of its creation', { born_ms, created });

    let r = await m.run('touch', ['-m', '-d', '2001-02-03 04:05:06.123456789', 'f'], { env: UTC });
    t.equal(r.code, 0, 'touch -m works', { stderr: r.stderr });
    t.same(await utimens_logged(0), [['omit', '981173106123456789n']],
      'the handler gets atime UTIME_OMIT and mtime to the nanosecond');
    t.equal(await times(), `${atime0}|2001-02-03 04:05:06.123456789 +0000`, 'stat shows mtime set, atime kept');

    r = await m.run('touch', ['-a', '-d', '1999-12-31 23:59:59.987654321', 'f'], { env: UTC });
    t.equal(r.code, 0, 'touch -a works', { stderr: r.stderr });
    t.same(await utimens_logged(1), [['946684799987654321n', 'omit']], 'atime set, mtime UTIME_OMIT');
    t.equal(await times(), '1999-12-31 23:59:59.987654321 +0000|2001-02-03 04:05:06.123456789 +0000',
      'stat shows atime set, mtime kept');

    r = await m.run('touch', ['-d', '1960-06-15 12:00:00.000000001', 'f'], { env: UTC });
    t.equal(r.code, 0, 'touch -d before 1970 works', { stderr: r.stderr });
    t.same(await utimens_logged(2), [['-301233599999999999n', '-301233599999999999n']],
      'a time before the epoch arrives as negative nanoseconds');
    t.equal(await times(), '1960-06-15 12:00:00.000000001 +0000|1960-06-15 12:00:00.000000001 +0000',
      'and reads back exactly');

    const before = Date.now();
    r = await m.run('touch', ['f']);
    t.equal(r.code, 0, 'touch (now) works', { stderr: r.stderr });
    t.same(await utimens_logged(3), [['now', 'now']], 'plain touch hands UTIME_NOW for both');
    const s = await m.run('stat', ['-c', '%.9X %.9Y', 'f']);
    const [a, mt] = s.stdout.trim().split(' ').map((x) => Number(x) * 1000);
    t.ok(a! >= before - 1000 && a! <= Date.now() + 1000, `atime is now (${a} vs ${before})`);
    t.equal(a, mt, 'both times are the same now');
  });
}
