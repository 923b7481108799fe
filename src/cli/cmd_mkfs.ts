// `cowlog mkfs DEVICE`: formats a block device or an image file.

import fs from 'node:fs';
import type { Command } from './command.js';
import { args_parse, bytes_human, int_arg, pos_exact, size_parse, UsageError } from './command.js';
import { device_open } from '../device/file.js';
import { signature_probe } from '../device/probe.js';
import { BLOCK_SIZE } from '../device/device.js';
import { FileSystem } from '../fs/fs.js';
import { geometry_for } from '../checkpoint/volume.js';
import { FsError } from '../util/errors.js';

const HELP = `usage: cowlog mkfs [options] DEVICE

Formats DEVICE (a block device such as /dev/loop0, or an image file) with cowlog.
It refuses to overwrite an existing ext2/3/4, btrfs, f2fs, xfs, swap or cowlog signature,
or a device in use, unless --force is given.

options:
  --force              overwrite whatever DEVICE holds
  --size SIZE          create the image file DEVICE of this size (e.g. 64M) if it does not exist
  --segment-size SIZE  segment size, a power of two from 16K to 2M
                       (default: chosen for the device, about 512 segments: 128K for 64 MiB)
  --reserve N          segments kept back for the cleaner (default: 1 % of them, at least 4)
  --label TEXT         a label of up to 63 bytes
  --fanout N           B+tree node fanout limit (default 256; small values are for testing)
  --inline-max BYTES   largest file kept inside the tree (default 1536)
  --compress lz4|none  what new files are compressed with (default none): with lz4, file
                       data goes to the device in lz4 clusters of 32 KiB wherever that saves
                       at least one 4 KiB block (text, logs, source trees take a half to a
                       third); mount -o compress= and the user.cowlog.compress attribute of a
                       file or directory override it
  -q, --quiet          print nothing on success

The geometry chosen is printed; 'cowlog info DEVICE' shows it later.`;

export const cmd_mkfs: Command = {
  name: 'mkfs',
  summary: 'format a device or image file with cowlog',
  help: HELP,
  async run(argv) {
    const a = args_parse(argv, {
      flags: ['--force', '-q', '--quiet'],
      values: ['--size', '--segment-size', '--reserve', '--label', '--fanout', '--inline-max', '--compress'],
    });
    const [path] = pos_exact(a, ['DEVICE']);
    const force = a.flags.has('--force');
    const quiet = a.flags.has('-q') || a.flags.has('--quiet');
    const size = a.values.get('--size');
    if (size !== undefined) {
      const bytes = size_parse(size);
      if (bytes < 1 << 20) throw new UsageError(`--size ${size}: at least 1M`);
      if (!fs.existsSync(path!)) fs.writeFileSync(path!, '');
      if (fs.statSync(path!).isFile()) fs.truncateSync(path!, bytes);
      else throw new UsageError(`--size is for image files; ${path} is not one`);
    }
    if (!fs.existsSync(path!)) throw new FsError('ENOENT', `${path}: no such device or file (use --size to create an image file)`);
    const segSize = a.values.get('--segment-size');
    let segBlocks: number | undefined;
    if (segSize !== undefined) {
      const bytes = size_parse(segSize);
      segBlocks = bytes / BLOCK_SIZE;
      if (!Number.isInteger(segBlocks) || segBlocks < 16 || segBlocks > 512 || (segBlocks & (segBlocks - 1)) !== 0) {
        throw new UsageError(`--segment-size ${segSize}: a power of two from 64K to 2M`);
      }
    }
    const compress = a.values.get('--compress') ?? 'none';
    if (compress !== 'lz4' && compress !== 'none') throw new UsageError(`--compress ${compress}: lz4 or none`);
    const label = a.values.get('--label') ?? '';
    if (Buffer.byteLength(label) > 63) throw new UsageError('--label: at most 63 bytes');
    const dev = device_open(path!, { exclusive: true });
    try {
      const sig = signature_probe(dev);
      if (sig && !force) {
        throw new FsError('EEXIST', `${path} holds ${sig.fs === 'cowlog' ? 'a cowlog filesystem' : /^[aeiou]/.test(sig.fs) ? `an ${sig.fs} filesystem` : sig.fs.includes(' ') ? sig.fs : `a ${sig.fs} filesystem`} (signature at ${sig.where}); use --force to overwrite it`);
      }
      const opts = {
        ...(segBlocks !== undefined ? { segBlocks } : {}),
        ...(int_arg(a, '--reserve') !== undefined ? { reserveSegs: int_arg(a, '--reserve')! } : {}),
        ...(int_arg(a, '--fanout') !== undefined ? { fanout: int_arg(a, '--fanout')! } : {}),
        ...(int_arg(a, '--inline-max') !== undefined ? { inlineMax: int_arg(a, '--inline-max')! } : {}),
        label,
        compress: compress as 'lz4' | 'none',
      };
      let g;
      try {
        g = geometry_for(dev.blockCount, opts);
      } catch (e) {
        throw new FsError('EINVAL', `${path}: ${(e as Error).message}`);
      }
      if (g.inlineMax > 1536 || g.inlineMax < 0) throw new UsageError('--inline-max: 0 to 1536 bytes');
      const sb = FileSystem.mkfs(dev, { ...opts, rootUid: process.getuid?.() ?? 0, rootGid: process.getgid?.() ?? 0 });
      dev.flush();
      if (!quiet) {
        process.stdout.write([
          `cowlog: formatted ${path}: ${bytes_human(g.blockCount * BLOCK_SIZE)} (${g.blockCount} blocks of 4 KiB)`,
          `  ${g.segCount} segments of ${bytes_human(g.segBlocks * BLOCK_SIZE)} from block ${g.mainStart}, ${g.reserveSegs} kept for the cleaner`,
          `  ${g.cpSlots} checkpoint slots, B+tree fanout ${g.fanout}, files up to ${g.inlineMax} bytes kept inline`,
          `  new files compressed: ${compress === 'lz4' ? 'lz4 (mount -o compress=none or user.cowlog.compress=none to turn it off)' : 'no (--compress lz4 turns it on)'}`,
          `  uuid ${sb.uuid.toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-')}${label ? `, label '${label}'` : ''}`,
        ].join('\n') + '\n');
      }
    } finally {
      dev.close();
    }
    return 0;
  },
};
