// The trace hub in-process, on the FUSE handlers of an engine on a memory device: the records
// it writes for a binary tracer carry the inode each request named — the one an unlink or a
// rmdir removed and the one a rename moved (not the one it replaced), told by the handlers
// that look them up — and the filters keep out what a trace did not ask for.

import t from 'tap';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { MemoryDevice } from '../../src/device/memory.js';
import { FileSystem } from '../../src/fs/fs.js';
import { CowlogOps } from '../../src/fuse/ops.js';
import { logger_memory } from '../../src/fuse/log.js';
import { FILTER_NONE, TraceHub } from '../../src/fuse/trace.js';
import type { TraceEvent } from '../../src/fuse/trace.js';
import { REC_REQUEST, RecordReader, req_record_event } from '../../src/fuse/trace_wire.js';
import { ReplyRecorder } from '../../tools/bench/replies.js';
import { fsck_ok } from '../helpers/engine.js';

t.test('records name the inode each request named', async (t) => {
  const dev = new MemoryDevice(16384);
  FileSystem.mkfs(dev);
  const fsys = FileSystem.mount(dev);
  const caller = { uid: 7, gid: 7, pid: process.pid, umask: 0o022 };
  const o = new CowlogOps({ fs: fsys, caller: () => caller, log: logger_memory() });
  const hub = new TraceHub(o.trace_source());
  const rec = new ReplyRecorder();
  const ops = o.ops(rec, hub);
  const attach = (filter: typeof FILTER_NONE): TraceEvent[] => {
    const events: TraceEvent[] = [];
    const reader = new RecordReader();
    const sock = new EventEmitter() as unknown as Socket & { writableLength: number };
    Object.assign(sock, {
      writableLength: 0, end: () => sock,
      write: (b: Buffer) => { reader.feed(b, (buf, p) => { if (buf[p + 4] === REC_REQUEST) events.push(req_record_event(buf, p)); }); return true; },
    });
    hub.trace_attach(sock, filter, 1024, 'binary');
    return events;
  };
  const all = attach(FILTER_NONE);
  const unlinks = attach({ ...FILTER_NONE, ops: ['unlink', 'rename'] });
  const ask = async (fn: (id: number) => void): Promise<import('../../tools/bench/replies.js').Reply> => {
    const r = rec.request();
    fn(r.id);
    return r.reply;
  };
  const make = async (name: string): Promise<number> => {
    const c = await ask((id) => ops.create!(id, 1, name, 0o100644, 0o101));
    await ask((id) => ops.release!(id, c.entry!.attr.ino, c.fh!, 0));
    return c.entry!.attr.ino;
  };
  const a = await make('a'), b = await make('b'), c = await make('c');
  const d = (await ask((id) => ops.mkdir!(id, 1, 'd', 0o755))).entry!.attr.ino;
  t.equal((await ask((id) => ops.rename!(id, 1, 'a', 1, 'b', 0))).errno, 0, 'a renamed over b');
  t.equal((await ask((id) => ops.unlink!(id, 1, 'c'))).errno, 0, 'c unlinked');
  t.equal((await ask((id) => ops.unlink!(id, 1, 'nothing'))).errno, 2, 'a missing name: ENOENT');
  t.equal((await ask((id) => ops.rmdir!(id, 1, 'd'))).errno, 0, 'd removed');
  await new Promise((ok) => setTimeout(ok, 60)); // the hub writes a queue within 20 ms
  const of = (op: string): TraceEvent[] => all.filter((e) => e.op === op);
  t.same(of('create').map((e) => [e.path, e.ino]), [['/a', a], ['/b', b], ['/c', c]], 'creates: the new inodes');
  t.same(of('rename').map((e) => [e.path, e.path2, e.ino]), [['/a', '/b', a]], 'rename: the inode moved, not the one replaced');
  t.same(of('unlink').map((e) => [e.path, e.ino, e.result]), [['/c', c, 0], ['/nothing', 0, 'ENOENT']], 'unlink: the inode removed; none for a missing name');
  t.same(of('rmdir').map((e) => [e.path, e.ino]), [['/d', d]], 'rmdir: the directory removed');
  t.ok(all.every((e) => e.pid === process.pid && e.uid === 7 && e.us! >= 1), 'every event: the caller and a latency');
  t.same(unlinks.map((e) => e.op), ['rename', 'unlink', 'unlink'], 'a filtered trace gets only what it asked for');
  t.same(unlinks.map((e) => e.ino), [a, c, 0], 'the same records');
  hub.close('test over');
  fsys.unmount();
  fsck_ok(t, dev);
});
