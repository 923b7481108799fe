// The client side of the crash tests, run in its own process against a cowlog mount:
//
//   node crash-client.js write DIR JOURNAL SEED   writes until the mount fails under it
//   node crash-client.js verify DIR JOURNAL       checks every promise the journal records
//
// The writer creates files of random sizes, fsyncs some of them, replaces others atomically
// (write a temporary file, fsync, rename, fsync the directory), rewrites and unlinks some, and
// makes directories. After an fsync (or the directory fsync of a rename) has returned, it
// appends what is now promised to JOURNAL (outside the mount); before it touches a promised
// file again it appends that the promise is void. So after the server is killed, every file
// whose last journal entry is a promise must hold exactly the promised bytes.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Prng } from '../../src/util/prng.js';

type Entry = { name: string; sha: string; len: number } | { name: string; void: true } | { name: string; gone: true };

function sha(b: Buffer): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

function write_loop(dir: string, journal: string, seed: number): number {
  const rng = new Prng(seed);
  const j = fs.openSync(journal, 'a');
  const note = (e: Entry): void => { fs.writeSync(j, JSON.stringify(e) + '\n'); };
  const promised = new Set<string>();
  const names: string[] = [];
  let ops = 0;
  const data = (): Buffer => {
    const n = rng.float() < 0.6 ? rng.int(1, 8192) : rng.int(8193, 400_000);
    const b = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) b.writeUInt32LE(rng.u32(), i);
    for (; i < n; i++) b[i] = rng.u32() & 0xff;
    return b;
  };
  const dirfsync = (d: string): void => {
    const fd = fs.openSync(d, 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  };
  try {
    for (let i = 0; ; i++) {
      const r = rng.float();
      const sub = path.join(dir, `d${i % 7}`);
      if (i < 7) fs.mkdirSync(sub, { recursive: true });
      if (r < 0.45 || names.length < 5) {
        // a new file; fsync'd two times out of three
        const name = path.join(sub, `s${seed}-f${i}`);
        const b = data();
        const fd = fs.openSync(name, 'w');
        fs.writeSync(fd, b);
        const sync = rng.int(0, 2) > 0;
        if (sync) rng.float() < 0.5 ? fs.fsyncSync(fd) : fs.fdatasyncSync(fd);
        fs.closeSync(fd);
        if (sync) {
          // the name itself must be durable too: fsync makes every tree change so far durable
          // in cowlog, but POSIX asks for the directory's fsync
          dirfsync(sub);
          note({ name, sha: sha(b), len: b.length });
          promised.add(name);
        }
        names.push(name);
      } else if (r < 0.65) {
        // atomic replace: temporary file, fsync, rename over, fsync the directory
        const name = names[rng.int(0, names.length - 1)]!;
        if (promised.has(name)) { note({ name, void: true }); promised.delete(name); }
        const tmp = `${name}.tmp`;
        const b = data();
        const fd = fs.openSync(tmp, 'w');
        fs.writeSync(fd, b);
        fs.fsyncSync(fd);
        fs.closeSync(fd);
        fs.renameSync(tmp, name);
        dirfsync(path.dirname(name));
        note({ name, sha: sha(b), len: b.length });
        promised.add(name);
      } else if (r < 0.8) {
        // rewrite part of a file in place, without fsync: its promise is void from here on
        const name = names[rng.int(0, names.length - 1)]!;
        if (promised.has(name)) { note({ name, void: true }); promised.delete(name); }
        const fd = fs.openSync(name, 'r+');
        const b = data();
        fs.writeSync(fd, b, 0, b.length, rng.int(0, 100_000));
        fs.closeSync(fd);
      } else if (r < 0.9) {
        // unlink, and make that durable
        const k = rng.int(0, names.length - 1);
        const name = names[k]!;
        names.splice(k, 1);
        if (promised.has(name)) { note({ name, void: true }); promised.delete(name); }
        fs.unlinkSync(name);
        dirfsync(path.dirname(name));
        note({ name, gone: true });
      } else {
        // appends with fdatasync
        const name = names[rng.int(0, names.length - 1)]!;
        if (promised.has(name)) { note({ name, void: true }); promised.delete(name); }
        const fd = fs.openSync(name, 'a');
        fs.writeSync(fd, data());
        fs.fdatasyncSync(fd);
        fs.closeSync(fd);
        const b = fs.readFileSync(name);
        note({ name, sha: sha(b), len: b.length });
        promised.add(name);
      }
      ops++;
    }
  } catch (e) {
    // the server went away under us: that is the point
    process.stdout.write(`stopped after ${ops} operations: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
  }
  fs.closeSync(j);
  return 0;
}

function verify(dir: string, journal: string, from: string): number {
  const last = new Map<string, Entry>();
  for (const line of fs.readFileSync(journal, 'utf8').split('\n')) {
    if (!line) continue;
    let e: Entry;
    try {
      e = JSON.parse(line) as Entry;
    } catch {
      continue; // the last line may be torn: the writer was writing it when the server died
    }
    last.set(e.name, e);
  }
  let kept = 0, gone = 0;
  const bad: string[] = [];
  for (const e of last.values()) {
    const p = path.join(dir, path.relative(from, e.name));
    if ('gone' in e) {
      if (fs.existsSync(p)) bad.push(`${p}: unlinked and the directory fsync'd, but it is there`);
      else gone++;
      continue;
    }
    if (!('sha' in e)) continue;
    let b: Buffer;
    try {
      b = fs.readFileSync(p);
    } catch (err) {
      bad.push(`${p}: fsync'd (${e.len} bytes) but ${(err as NodeJS.ErrnoException).code}`);
      continue;
    }
    if (sha(b) !== e.sha) bad.push(`${p}: fsync'd ${e.len} bytes, holds ${b.length} other bytes`);
    else kept++;
  }
  process.stdout.write(`verified: ${kept} fsync'd files hold what was fsync'd, ${gone} unlinked files are gone, ${bad.length} broken promises\n`);
  for (const b of bad.slice(0, 20)) process.stdout.write(`BROKEN ${b}\n`);
  return bad.length ? 1 : 0;
}

const [mode, dir, journal, arg] = process.argv.slice(2);
if (mode === 'write' && dir && journal) process.exit(write_loop(dir, journal, Number(arg ?? 1)));
else if (mode === 'verify' && dir && journal) process.exit(verify(dir, journal, arg ?? dir));
else {
  process.stderr.write('usage: crash-client.js write DIR JOURNAL SEED | verify DIR JOURNAL [WRITTEN_DIR]\n');
  process.exit(2);
}
