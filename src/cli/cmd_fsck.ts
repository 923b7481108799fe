// `cowlog fsck DEVICE`: checks a cowlog filesystem; exit codes as e2fsck's.

import type { Command } from './command.js';
import { args_parse, pos_exact } from './command.js';
import { device_open } from '../device/file.js';
import { fsck, fsck_exit_code, FSCK_CLEAN, FSCK_ERRORS, FSCK_FAILED } from '../fsck/fsck.js';
import type { FsckProgress } from '../fsck/fsck.js';

const PHASES: Record<FsckProgress['phase'], string> = {
  tables: 'table blocks', trees: 'tree nodes', nodes: 'NAT blocks', records: 'records', blocks: 'segments',
};

/**
 * A progress line on standard error when it is a terminal (redrawn at most every 200 ms, cleared
 * when done); nothing otherwise.
 */
function progress_line(): { show: (p: FsckProgress) => void; clear: () => void } {
  if (!process.stderr.isTTY) return { show: () => {}, clear: () => {} };
  let last = 0;
  let shown = false;
  return {
    show: (p) => {
      const now = Date.now();
      if (now - last < 200) return;
      last = now;
      const of = p.total > 0 ? ` of ${p.total} (${Math.min(100, Math.floor((100 * p.done) / p.total))} %)` : '';
      process.stderr.write(`\rcowlog fsck: checking ${PHASES[p.phase]}: ${p.done}${of}\x1b[K`);
      shown = true;
    },
    clear: () => {
      if (shown) process.stderr.write('\r\x1b[K');
      shown = false;
    },
  };
}
import { FsError } from '../util/errors.js';

const HELP = `usage: cowlog fsck [-n] [--data] [-v] [--json] DEVICE

Checks the cowlog filesystem on DEVICE: both superblock copies, the checkpoint ring, every
metadata block's CRC32C, the B+tree, reference counts against the NAT and the refcount table
(which also finds blocks claimed twice), segment usage, segment summaries, and the directory
structure (names, link counts, '..', file sizes against their block maps).

Without --data, file data is not read: a clean result says "metadata clean; file data not
checked (--data)".

If the filesystem was not unmounted cleanly, fsck first rolls forward what fsync made durable
and writes a checkpoint, as mount would. With -n nothing is written: the roll-forward is done in
memory only. When fsck finds errors (and -n is not given) it records them in the filesystem:
a mount is then read-only, with a warning, unless given -o force; an fsck that finds none
again clears the record.

fsck reads the tables and the trees through caches of bounded size, and keeps its own recounts
per segment and per NAT block in use (a few bytes per block the filesystem holds and per inode
and name): its memory follows what the filesystem holds, not the device's size. On a terminal
it shows its progress on standard error.

options:
  -n        never write to DEVICE
  --data    also read every data block and check its CRC32C
  -v        list warnings and counts even when clean
  --json    print the report as one JSON object

exit codes: 0 no errors, 4 errors found, 8 could not check (not cowlog, I/O error).
The filesystem must not be mounted (fsck opens a block device exclusively).`;

export const cmd_fsck: Command = {
  name: 'fsck',
  summary: 'check a cowlog filesystem (exit 0 clean, 4 errors)',
  help: HELP,
  async run(argv) {
    const a = args_parse(argv, { flags: ['-n', '--data', '-v', '-y', '-f', '-p', '--json'] });
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
      const bar = progress_line();
      const rep = fsck(dev, { readOnly, data: a.flags.has('--data'), log: (m) => { bar.clear(); process.stderr.write(`cowlog fsck: ${m}\n`); }, progress: bar.show });
      bar.clear();
      const c = rep.counts;
      if (a.flags.has('--json')) {
        process.stdout.write(JSON.stringify({ device: path, ...rep, ms: Date.now() - t0, maxRssBytes: process.resourceUsage().maxRSS * 1024 }, null, 2) + '\n');
        return fsck_exit_code(rep);
      }
      for (const w of rep.warnings) process.stdout.write(`warning: ${w}\n`);
      for (const e of rep.errors) process.stdout.write(`error: ${e}\n`);
      const summary = `${path}: checkpoint ${rep.checkpointSeq}${rep.rolledForward ? `, ${rep.rolledForward} fsync groups rolled forward${readOnly ? ' (in memory only)' : ''}` : ''}${rep.recovered ? ', recovered after an unclean unmount' : ''}; ` +
        `${c.inodes} inodes (${c.dirs} directories, ${c.files} files), ${c.dataBlocks} data blocks${rep.pendingBlocks ? ` (and ${rep.pendingBlocks} rolled forward in memory, written as blocks by the next mount)` : ''}, ${c.nodes} tree nodes, ${c.tableBlocks} table blocks${c.snapshots ? `, ${c.snapshots} snapshots (each checked as a whole tree)` : ''}`;
      if (rep.errorsRecorded === 'cleared') process.stdout.write('the errors an earlier fsck recorded are gone: mounts write again\n');
      if (rep.errors.length) {
        const rec = rep.errorsRecorded === 'set' ? '; recorded in the filesystem: it mounts read-only until fsck finds none (or with -o force)' : '';
        process.stdout.write(`${summary}\n${rep.errors.length} error${rep.errors.length === 1 ? '' : 's'} found${rec} (${Date.now() - t0} ms)\n`);
        return FSCK_ERRORS;
      }
      const clean = rep.dataChecked ? 'clean (metadata and file data)' : 'metadata clean; file data not checked (--data)';
      process.stdout.write(`${summary}: ${clean}${rep.warnings.length ? ` (${rep.warnings.length} warnings)` : ''}${a.flags.has('-v') ? ` (${Date.now() - t0} ms)` : ''}\n`);
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
