// The records a trace stream carries: each reads back as the event it was written from, its
// JSON line is JSON.stringify of that event, its aligned line (made from the bytes) is
// event_text's, byte for byte; a stream cut anywhere is read whole.

import t from 'tap';
import {
  F_BYTES, F_DATASYNC, F_DATASYNC_TRUE, F_LEN, F_NAME, F_OFF, F_PATH2, F_SIZE, REC_LINE, REQUEST_OPS, RecordReader,
  event_json, iso_us, line_record, record_json, req_record_event, req_record_max, req_record_put,
} from '../../src/fuse/trace_wire.js';
import { event_text, record_text, req_record_line, req_record_line_max } from '../../src/fuse/trace_text.js';

interface Case { op: string; flags: number; errno: number; path: string; comm: string; path2?: string; name?: string; opt: number[] }

/** Paths arrive as latin1 strings, one character per byte: this is how the kernel gives 'é' and a byte that is not UTF-8. */
const latin1 = (utf8: string): string => Buffer.from(utf8, 'utf8').toString('latin1');

const CASES: Case[] = [
  { op: 'lookup', flags: 0, errno: 2, path: '/d/meta', comm: 'node', opt: [0, 0, 0, 0] },
  { op: 'create', flags: 0, errno: 0, path: '/d/f1', comm: 'dd', opt: [0, 0, 0, 0] },
  { op: 'write', flags: F_OFF | F_LEN | F_BYTES, errno: 0, path: '/big', comm: 'fio', opt: [1 << 40, 4096, 4096, 0] },
  { op: 'read', flags: F_OFF | F_LEN | F_BYTES, errno: 0, path: '', comm: '-', opt: [8192, 131072, 17, 0] },
  { op: 'setattr', flags: F_SIZE, errno: 0, path: '/t', comm: 'truncate', opt: [0, 0, 0, 123456789] },
  { op: 'fsync', flags: F_DATASYNC | F_DATASYNC_TRUE, errno: 0, path: '/db', comm: 'sqlite3', opt: [0, 0, 0, 0] },
  { op: 'fsync', flags: F_DATASYNC, errno: 5, path: '/db', comm: 'sqlite3', opt: [0, 0, 0, 0] },
  { op: 'rename', flags: F_PATH2, errno: 0, path: '/a', comm: 'mv', path2: '/b/c', opt: [0, 0, 0, 0] },
  { op: 'symlink', flags: F_PATH2, errno: 17, path: '/l', comm: 'ln', path2: '../target', opt: [0, 0, 0, 0] },
  { op: 'getxattr', flags: F_NAME, errno: 61, path: '/x', comm: 'ls', name: 'security.capability', opt: [0, 0, 0, 0] },
  { op: 'unlink', flags: 0, errno: 36, path: latin1('/été/ß'), comm: 'rm', opt: [0, 0, 0, 0] },
  { op: 'open', flags: 0, errno: 0, path: '/bad\xff\xfename', comm: 'cat', opt: [0, 0, 0, 0] },
  { op: 'open', flags: 0, errno: 0, path: '/x', comm: 'ümlaut-prozess', opt: [0, 0, 0, 0] },
  { op: 'open', flags: 0, errno: 0, path: '/x', comm: 'a-very-long-name-indeed', opt: [0, 0, 0, 0] },
  { op: 'fallocate', flags: F_OFF | F_LEN, errno: 95, path: '/f', comm: 'fallocate', opt: [0, 1 << 30, 0, 0] },
];

function record_of(c: Case, timeMs: number, us: number, ino: number): Buffer {
  const comm = Buffer.from(c.comm, 'utf8');
  const buf = Buffer.alloc(req_record_max(c.path, comm, c.path2, c.name) + 7);
  const end = req_record_put(buf, 3, REQUEST_OPS.indexOf(c.op as (typeof REQUEST_OPS)[number]), c.flags, timeMs, 4242, 1000, ino,
    c.errno, us, Float64Array.from(c.opt), c.path, comm, c.path2, c.name);
  t.equal(buf.readUInt32LE(3), end - 3, `${c.op}: the record's length is its first field`);
  return buf.subarray(3, end);
}

t.test('a request record reads back as its event, in JSON and in text', async (t) => {
  const times = [1733450000123.456, 1733450000999.9995, 1733450001000, 1733450059009.001];
  for (const [i, c] of CASES.entries()) {
    const rec = record_of(c, times[i % times.length]!, [1, 99, 123456789, 7][i % 4]!, [0, 3, 2 ** 40, 12345678][i % 4]!);
    const ev = req_record_event(rec, 0);
    t.equal(ev.op, c.op);
    t.equal(ev.time, iso_us(times[i % times.length]!));
    t.equal(ev.path, Buffer.from(c.path, 'latin1').toString('utf8'), `${c.op}: the path as UTF-8`);
    t.equal(ev.comm, c.comm);
    t.equal(ev.result, c.errno === 0 ? 0 : ['', '', 'ENOENT', '', '', 'EIO'][c.errno] ?? ev.result);
    if (c.flags & F_OFF) t.equal(ev.off, c.opt[0]); else t.notOk('off' in ev);
    if (c.flags & F_LEN) t.equal(ev.len, c.opt[1]); else t.notOk('len' in ev);
    if (c.flags & F_BYTES) t.equal(ev.bytes, c.opt[2]); else t.notOk('bytes' in ev);
    if (c.flags & F_SIZE) t.equal(ev.size, c.opt[3]); else t.notOk('size' in ev);
    if (c.flags & F_DATASYNC) t.equal(ev.datasync, (c.flags & F_DATASYNC_TRUE) !== 0); else t.notOk('datasync' in ev);
    if (c.flags & F_NAME) t.equal(ev.name, c.name); else t.notOk('name' in ev);
    if (c.flags & F_PATH2) t.equal(ev.path2, c.path2); else t.notOk('path2' in ev);
    t.equal(event_json(ev), JSON.stringify(ev), `${c.op}: the JSON line is JSON.stringify's`);
    t.equal(record_json(rec, 0), JSON.stringify(ev));
    t.same(Object.keys(JSON.parse(record_json(rec, 0)) as object).slice(0, 7), ['time', 'op', 'pid', 'comm', 'uid', 'ino', 'path'], 'fields in the documented order');
    const out = Buffer.alloc(req_record_line_max(rec, 0) + 5, 0x55);
    const o = req_record_line(rec, 0, out, 2);
    t.equal(out.toString('utf8', 2, o), event_text(ev), `${c.op}: the line made from bytes is event_text's`);
    t.equal(out[o], 0x55, 'and nothing is written after it');
    t.equal(record_text(rec, 0), event_text(ev));
  }
});

t.test('line records, and a stream cut anywhere', async (t) => {
  const lines = ['{"lost":12,"time":"x"}', '{"time":"t","op":"written","path":"/é"}', '{"end":"the mount was unmounted"}'];
  const recs = [
    record_of(CASES[2]!, 1733450000123.456, 5, 9), line_record(lines[0]!), record_of(CASES[7]!, 1733450000124, 6, 10),
    line_record(lines[1]!), record_of(CASES[10]!, 1733450000125, 7, 11), line_record(lines[2]!),
  ];
  const all = Buffer.concat(recs);
  const want = recs.map((r) => record_json(r, 0));
  t.equal(want[1], lines[0], 'a line record carries its line');
  t.equal(recs[1]![4], REC_LINE);
  for (const cut of [1, 3, 4, 5, 17, 44, 70, all.length - 1]) {
    const r = new RecordReader();
    const got: string[] = [];
    for (let i = 0; i < all.length; i += cut) r.feed(all.subarray(i, Math.min(all.length, i + cut)), (b, p) => { got.push(record_json(b, p)); });
    t.same(got, want, `fed ${cut} bytes at a time`);
  }
  const r = new RecordReader();
  const got: string[] = [];
  r.feed(all, (b, p) => { got.push(record_json(b, p)); return got.length < 2; });
  t.equal(got.length, 2, 'a reader that answers false stops there');
  t.throws(() => new RecordReader().feed(Buffer.from([1, 0, 0, 0, 1]), () => {}), /a record of 1 bytes/);
});
