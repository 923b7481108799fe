// `node dist/tools/bench/nullfs.js MOUNTPOINT [options]` — serves nullfs (nullfs-ops.ts) at
// MOUNTPOINT until SIGTERM, SIGINT or an outside unmount. It is the ceiling of cowlog's FUSE
// stack: whatever a benchmark measures through it is the cost of the kernel, libfuse and
// fuse-native alone.
//
// Invariants:
// - The process exits once the mount is gone, whoever removed it, so a harness that unmounts
//   it is never left with an orphan server.
// - It never touches its own mount (that would deadlock); it only watches /proc/self/mountinfo.

import { FuseMount, FuseBindingError, fuse_serve } from '../../src/fuse/binding.js';
import type { FuseMountOptions } from '../../src/fuse/binding.js';
import { NullFs } from './nullfs-ops.js';

const USAGE = `usage: node dist/tools/bench/nullfs.js MOUNTPOINT [options]

Serves a do-nothing in-memory filesystem: writes are discarded (sizes kept), reads return zeros.

options:
  --fsname NAME          mount source name (default nullfs-PID); must be unique among mounts
  --attr-timeout S       attribute cache seconds (default 1)
  --entry-timeout S      name cache seconds (default 1)
  --no-big-writes        4 KiB writes instead of up to 128 KiB
  --no-use-ino           let libfuse number inodes (hard links then show two inode numbers)
  --allow-other          let other users in (root only, or user_allow_other in /etc/fuse.conf)
  --debug                libfuse's request trace on stderr
`;

function args_parse(argv: string[]): { mountpoint: string; opts: FuseMountOptions } | string {
  let mountpoint: string | undefined;
  const opts: FuseMountOptions = { fsname: `nullfs-${process.pid}`, subtype: 'nullfs' };
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
    else if (a === '--attr-timeout') opts.attrTimeout = seconds();
    else if (a === '--entry-timeout') opts.entryTimeout = seconds();
    else if (a === '--no-big-writes') opts.bigWrites = false;
    else if (a === '--no-use-ino') opts.useIno = false;
    else if (a === '--allow-other') opts.allowOther = true;
    else if (a === '--debug') opts.debug = true;
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else if (mountpoint === undefined) mountpoint = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (mountpoint === undefined) throw new Error('MOUNTPOINT is missing');
  return { mountpoint, opts };
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
  const fs = new NullFs({ caller: () => mount!.caller() });
  let why: string;
  try {
    mount = new FuseMount(parsed.mountpoint, fs.ops(), parsed.opts);
    const m = mount;
    why = await fuse_serve(m, () => {
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
