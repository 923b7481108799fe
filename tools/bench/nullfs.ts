// `node dist/tools/bench/nullfs.js MOUNTPOINT [options]` — serves nullfs (nullfs-ops.ts) at
// MOUNTPOINT until SIGTERM, SIGINT or an outside unmount. It is the ceiling of cowlog's FUSE
// stack: whatever a benchmark measures through it is the cost of the kernel, libfuse and
// the binding alone.
//
// Invariants:
// - The process exits once the mount is gone, whoever removed it, so a harness that unmounts
//   it is never left with an orphan server.
// - It never touches its own mount (that would deadlock); it only watches /proc/self/mountinfo.

import { CAP, FuseMount, FuseBindingError, fuse_serve } from '../../src/fuse/binding.js';
import type { FuseMountOptions } from '../../src/fuse/binding.js';
import { NullFs } from './nullfs-ops.js';

const USAGE = `usage: node dist/tools/bench/nullfs.js MOUNTPOINT [options]

Serves a do-nothing in-memory filesystem: writes are discarded (sizes kept), reads return zeros.

options:
  --fsname NAME          mount source name (default nullfs-PID); must be unique among mounts
  --attr-timeout S       attribute cache seconds (default 1)
  --entry-timeout S      name cache seconds (default 1)
  --negative-timeout S   seconds a missing name is cached (default 0)
  --max-write BYTES      largest write request (default 1 MiB)
  --writeback            the kernel's write-back cache (writes reach nullfs in large pieces, later)
  --allow-other          let other users in (root only, or user_allow_other in /etc/fuse.conf)
  --debug                libfuse's request trace on stderr
`;

interface Parsed { mountpoint: string; opts: FuseMountOptions; attrTimeout: number; entryTimeout: number; negativeTimeout: number }

function args_parse(argv: string[]): Parsed | string {
  let mountpoint: string | undefined;
  const opts: FuseMountOptions = { fsname: `nullfs-${process.pid}`, subtype: 'nullfs' };
  let attrTimeout = 1, entryTimeout = 1, negativeTimeout = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const seconds = (): number => {
      const v = Number(value());
      if (!(v >= 0)) throw new Error(`${a} needs seconds >= 0`);
      return v;
    };
    if (a === '--help' || a === '-h') return USAGE;
    else if (a === '--fsname') opts.fsname = value();
    else if (a === '--attr-timeout') attrTimeout = seconds();
    else if (a === '--entry-timeout') entryTimeout = seconds();
    else if (a === '--negative-timeout') negativeTimeout = seconds();
    else if (a === '--max-write') opts.maxWrite = Math.floor(seconds());
    else if (a === '--writeback') opts.want = (opts.want ?? 0) | CAP.WRITEBACK_CACHE;
    else if (a === '--allow-other') opts.allowOther = true;
    else if (a === '--debug') opts.debug = true;
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else if (mountpoint === undefined) mountpoint = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (mountpoint === undefined) throw new Error('MOUNTPOINT is missing');
  return { mountpoint, opts, attrTimeout, entryTimeout, negativeTimeout };
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = args_parse(argv);
  } catch (e) {
    process.stderr.write(`nullfs: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (typeof parsed === 'string') {
    process.stdout.write(parsed);
    return 0;
  }
  let mount: FuseMount | undefined;
  const fs = new NullFs({ caller: () => mount!.caller(), attrTimeout: parsed.attrTimeout, entryTimeout: parsed.entryTimeout, negativeTimeout: parsed.negativeTimeout });
  let why: string;
  try {
    mount = new FuseMount(parsed.mountpoint, parsed.opts);
    const m = mount;
    why = await fuse_serve(m, fs.ops(m), () => {
      process.stderr.write(`nullfs: serving ${m.mountpoint} as ${parsed.opts.fsname}\n`);
    });
  } catch (e) {
    process.stderr.write(`nullfs: ${e instanceof FuseBindingError ? e.message : (e as Error).message}\n`);
    return 1;
  }
  process.stderr.write(`nullfs: ${why}; ${fs.bytes_written} bytes written\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`nullfs: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(70);
  },
);
