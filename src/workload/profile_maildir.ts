// maildir: mail delivered into maildirs and read by a mail client, as a delivery agent and an
// IMAP server do it (four mailboxes m0..m3, each with tmp/, new/ and cur/):
// - delivery: create tmp/NAME, write the message (64 KiB at a time), fsync it, rename it into
//   new/, then fsync new/ itself (the directory) so the rename is durable — for --dirsync-pct of
//   the deliveries (all of them by default);
// - the client later moves a message from new/ to cur/ ("NAME:2,"), changes its flags with a
//   rename inside cur/ ("NAME:2,S", "NAME:2,RS"), reads it, and deletes it;
// - messages are 1–64 KiB, log-uniform, one in twenty 64 KiB–1 MiB (attachments); mostly text.
//
// Invariants:
// - every path the trace names exists at that point (the generator's own model);
// - live data (the messages) stays within the bound: old messages are deleted first.

import { KiB, MiB } from './names.js';
import type { Names } from './names.js';

export interface MaildirMix {
  /** fraction of deliveries followed by an fsync of new/ */
  dirsync: number;
  text: number;
}

const BOXES = 4;
const FLAGS = ['', 'S', 'RS', 'FS'];
interface Msg { box: number; name: string; dir: 'new' | 'cur'; flags: string; size: number }

function msg_path(m: Msg): string {
  return m.dir === 'new' ? `m${m.box}/new/${m.name}` : `m${m.box}/cur/${m.name}:2,${m.flags}`;
}

export function gen_maildir(n: Names, count: number, bound: number, mix: MaildirMix): void {
  for (let b = 0; b < BOXES; b++) {
    n.emit({ op: 'mkdir', path: `m${b}` });
    for (const d of ['tmp', 'new', 'cur']) n.emit({ op: 'mkdir', path: `m${b}/${d}` });
  }
  const msgs: Msg[] = [];
  let live = 0, seq = 0;
  const remove = (i: number): void => {
    const m = msgs[i]!;
    n.emit({ op: 'unlink', path: msg_path(m) });
    live -= m.size;
    msgs.splice(i, 1);
  };
  const pick_in = (dir: 'new' | 'cur'): number => {
    const idx: number[] = [];
    for (let i = 0; i < msgs.length; i++) if (msgs[i]!.dir === dir) idx.push(i);
    return idx.length ? n.rng.pick(idx) : -1;
  };
  while (n.ops.length < count) {
    const r = n.rng.float();
    if (r < 0.4 || msgs.length === 0) {
      const size = n.rng.chance(0.05) ? n.len_log(64 * KiB, MiB) : n.len_log(KiB, 64 * KiB);
      // the oldest messages go first when the mailboxes are full (msgs is roughly in age order)
      while (msgs.length && live + size > bound) remove(0);
      const m: Msg = { box: n.rng.int(0, BOXES - 1), name: `${1700000000 + seq}.M${n.rng.int(0, 999999)}P${seq}.cowlog`, dir: 'new', flags: '', size };
      seq++;
      const tmp = `m${m.box}/tmp/${m.name}`;
      n.emit({ op: 'create', path: tmp });
      for (let off = 0; off < size; off += 64 * KiB) n.emit({ op: 'write', path: tmp, off, len: Math.min(64 * KiB, size - off), gen: n.gen(mix.text) });
      n.emit({ op: 'fsync', path: tmp });
      n.emit({ op: 'rename', path: tmp, to: msg_path(m) });
      if (n.rng.chance(mix.dirsync)) n.emit({ op: 'fsync', path: `m${m.box}/new` });
      msgs.push(m);
      live += size;
    } else if (r < 0.6) {
      const i = pick_in('new');
      if (i < 0) continue;
      const m = msgs[i]!, from = msg_path(m);
      m.dir = 'cur';
      n.emit({ op: 'rename', path: from, to: msg_path(m) });
    } else if (r < 0.7) {
      const i = pick_in('cur');
      if (i < 0) continue;
      const m = msgs[i]!, from = msg_path(m);
      m.flags = n.rng.pick(FLAGS.filter((f) => f !== m.flags));
      n.emit({ op: 'rename', path: from, to: msg_path(m) });
    } else if (r < 0.85) {
      const m = n.rng.pick(msgs);
      if (n.rng.chance(0.3)) n.emit({ op: 'stat', path: msg_path(m) });
      else n.emit({ op: 'read', path: msg_path(m), off: 0, len: Math.min(m.size, 64 * KiB) });
    } else {
      const i = pick_in('cur');
      if (i >= 0) remove(i);
    }
  }
}
