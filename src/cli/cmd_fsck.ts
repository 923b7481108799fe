// `cowlog fsck DEVICE`: checks a cowlog filesystem; exit codes as e2fsck's.

import type { Command } from './command.js';
import { args_parse, pos_exact } from './command.js';
import { device_open } from '../device/file.js';
import { fsck, FSCK_CLEAN, FSCK_ERRORS, FSCK_FAILED } from '../fsck/fsck.js';
import { FsError } from '../util/errors.js';

const HELP = `usage: cowlog fsck [-n] [--data] [-v] DEVICE

Checks the cowlog filesystem on DEVICE: both superblock copies, the checkpoint ring, every
metadata block's CRC32C, the B+tree, reference counts against the NAT and the refcount table
(which also finds blocks claimed twice), segment usage, segment summaries, and the directory
structure (names, link counts, '..', file sizes against their block maps).

If the filesystem was not unmounted cleanly, fsck first rolls forward what fsync made durable
and writes a checkpoint, as mount would. With -n nothing is written: the roll-forward is done in
memory only.

options:
  -n        never write to DEVICE
  --data    also read every data block and check its CRC32C
  -v        list warnings and counts even when clean

exit codes: 0 no errors, 4 errors found, 8 could not check (not cowlog, I/O error).
The filesystem must not be mounted (fsck opens a block device exclusively).`;

export const cmd_fsck: Command = {
  name: 'fsck',
  summary: 'check a cowlog filesystem (exit 0 clean, 4 errors)',
  help: HELP,
  async run(argv) {
    const a = args_parse(argv, { flags: ['-n', '--data', '-v', '-y', '-f', '-p'] });
    const [path] = pos_exact(a, ['DEVICE']);
    const readOnly = a.flags.has('-n');
    let dev;
    try {
      dev = device_open(path!, { exclusive: true, readOnly });
    } catch (e) {
      process.stderr.write(`cowlog fsck: ${(e as Error).message}\n`);
      return FSCK_FAILED;
    }
    try {
      const t0 = Date.now();
      const rep = fsck(dev, { readOnly, data: a.flags.has('--data'), log: (m) => process.stderr.write(`cowlog fsck: ${m}\n`) });
      const c = rep.counts;
      for (const w of rep.warnings) process.stdout.write(`warning: ${w}\n`);
      for (const e of rep.errors) process.stdout.write(`error: ${e}\n`);
      const summary = `${path}: checkpoint ${rep.checkpointSeq}${rep.rolledForward ? `, ${rep.rolledForward} fsync groups rolled forward${readOnly ? ' (in memory only)' : ''}` : ''}${rep.recovered ? ', recovered after an unclean unmount' : ''}; ` +
        `${c.inodes} inodes (${c.dirs} directories, ${c.files} files), ${c.dataBlocks} data blocks, ${c.nodes} tree nodes, ${c.tableBlocks} table blocks${c.snapshots ? `, ${c.snapshots} snapshots (each checked as a whole tree)` : ''}`;
      if (rep.errors.length) {
        process.stdout.write(`${summary}\n${rep.errors.length} error${rep.errors.length === 1 ? '' : 's'} found (${Date.now() - t0} ms)\n`);
        return FSCK_ERRORS;
      }
      process.stdout.write(`${summary}: clean${rep.warnings.length ? ` (${rep.warnings.length} warnings)` : ''}${a.flags.has('-v') ? ` (${Date.now() - t0} ms)` : ''}\n`);
      return FSCK_CLEAN;
    } catch (e) {
      if (e instanceof FsError) {
        process.stderr.write(`cowlog fsck: ${e.message}\n`);
        return FSCK_FAILED;
      }
      throw e;
    } finally {
      dev.close();
    }
  },
};
