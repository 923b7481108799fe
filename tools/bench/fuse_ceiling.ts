// The ceiling of make bench-fuse: nullfs (tools/bench/nullfs-ops.ts: writes discarded, reads
// return zeros, answers at once) mounted with exactly the FUSE options `cowlog mount` uses, so
// that both ask the kernel for the same requests: default_permissions, allow_other (as root),
// readdirplus, cowlog's attribute, entry and negative timeouts, and the read-ahead cowlog's
// server sets (FUSE_READAHEAD_KB) — or with --fuse-defaults, libfuse's own defaults (no
// default_permissions, 1 s caches, 128 KiB read-ahead).
//
// Extended attributes are answered as cowlog answers a file that has none (ENODATA, by the
// binding itself for new and listed files): the kernel then makes the same requests of both,
// the security.capability question before each new file's first write among them. With
// --no-xattr nullfs leaves them out, the kernel stops asking after the first ENOSYS, and the
// ceiling is that of a filesystem without extended attributes (one round trip a created file
// fewer: what bench-meta's ceiling was before 2026-12-07).
//
//   node dist/tools/bench/fuse_ceiling.js MOUNTPOINT [--fuse-defaults] [--no-xattr]
//
// It serves until SIGTERM/SIGINT or an outside unmount, like nullfs.js.

import { FuseMount, fuse_serve } from '../../src/fuse/binding.js';
import type { FuseMountOptions } from '../../src/fuse/binding.js';
import { mount_options_parse } from '../../src/fuse/options.js';
import { cowlog_fuse_options } from '../../src/fuse/server.js';
import { fuse_readahead_set } from '../../src/fuse/runtime.js';
import { NullFs } from './nullfs-ops.js';

async function main(argv: string[]): Promise<number> {
  const mnt = argv.find((a) => !a.startsWith('-'));
  if (mnt === undefined) {
    process.stderr.write('usage: fuse_ceiling.js MOUNTPOINT [--fuse-defaults] [--no-xattr]\n');
    return 2;
  }
  const like = mount_options_parse([], process.getuid?.() === 0);
  const defaults = argv.includes('--fuse-defaults');
  const opts: FuseMountOptions = defaults
    ? { fsname: `ceiling-${process.pid}`, subtype: 'nullfs' }
    : { ...cowlog_fuse_options(like), fsname: `ceiling-${process.pid}`, subtype: 'nullfs' };
  const m = new FuseMount(mnt, opts);
  const xattrs = argv.includes('--no-xattr') ? null : m.noXattr;
  const fs = defaults
    ? new NullFs({ caller: () => m.caller(), xattrs })
    : new NullFs({ caller: () => m.caller(), attrTimeout: like.attrTimeout, entryTimeout: like.entryTimeout, negativeTimeout: like.negativeTimeout, xattrs });
  const why = await fuse_serve(m, fs.ops(m), () => {
    const ra = defaults ? null : fuse_readahead_set(m.mountpoint);
    if (ra !== null) process.stderr.write(`fuse_ceiling: the kernel's read-ahead stays at its default: ${ra}\n`);
    process.stderr.write(`fuse_ceiling: serving ${m.mountpoint}\n`);
  });
  process.stderr.write(`fuse_ceiling: ${why}\n`);
  return 0;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (e: unknown) => {
  process.stderr.write(`fuse_ceiling: ${(e as Error).message}\n`);
  process.exit(1);
});
