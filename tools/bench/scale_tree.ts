// A large tree made in the engine, then checked and walked through a mount: what bench-scale
// takes hours to reach through FUSE on this machine. FILES files of 4 KiB in directories of
// PER_DIR are made on a sparse image by the engine itself (no FUSE: about 20,000 files/s), the
// image is unmounted; then
//   fsck -n of it (time and peak memory: the goal is a million files under a minute);
//   cowlog mount with the default options (time); find and ls -lR over the whole tree;
//   the server's memory after (VmHWM, VmRSS, heap, buffers) and the inodes the kernel holds
//   against held_max (without that bound the kernel held every inode ls -lR listed, and the
//   server a record of each).
//
// Usage: node dist/tools/bench/scale_tree.js [--files 1000000] [--per-dir 1000] [--size 8G] [--json]
// The image goes to the scratch directory (COWLOG_SCRATCH, /var/tmp or /tmp) and is removed at
// the end; it holds about FILES × 4 KiB.

import fs from 'node:fs';
import path from 'node:path';
import { Cleanup, image_create, run, scratch_dir } from '../../src/compare/sys.js';
import { args_parse, bytes_human, size_parse } from '../../src/cli/command.js';
import { device_open } from '../../src/device/file.js';
import { FileSystem } from '../../src/fs/fs.js';
import { help_exit } from './usage.js';
import { COWLOG, mountpoint_new } from './loopfs.js';
import { fsck_goal, fsck_timed, HOUR, server_memory_read, timed, umount_undo } from './scale_common.js';

interface Opts { files: number; perDir: number; size: number; json: boolean }

function args(): Opts {
  const o: Opts = { files: 1_000_000, perDir: 1000, size: 8 * 2 ** 30, json: false };
  const a = args_parse(process.argv.slice(2), { flags: ['--json', '--help', '-h'], values: ['--files', '--per-dir', '--size'] });
  if (a.flags.has('--help') || a.flags.has('-h')) help_exit(import.meta.url);
  if (a.pos.length > 0) throw new Error(`unknown option ${a.pos[0]} (--files N, --per-dir N, --size SIZE, --json)`);
  const v = a.values;
  if (v.has('--files')) o.files = Number(v.get('--files'));
  if (v.has('--per-dir')) o.perDir = Number(v.get('--per-dir'));
  if (v.has('--size')) o.size = size_parse(v.get('--size')!);
  o.json = a.flags.has('--json');
  if (!(Number.isSafeInteger(o.files) && o.files > 0 && Number.isSafeInteger(o.perDir) && o.perDir > 0)) throw new Error('--files and --per-dir must be positive whole numbers');
  if (o.files * 4096 * 1.3 > o.size * 0.85) throw new Error(`${o.files} files of 4 KiB do not fit on ${bytes_human(o.size)} (--size)`);
  return o;
}

/** Makes the tree in the engine: directory d<i / perDir>, file f<i>, 4 KiB whose first word is i. */
function tree_make(img: string, o: Opts, say: (s: string) => void): number {
  const t0 = performance.now();
  let dev = device_open(img);
  FileSystem.mkfs(dev);
  dev.close();
  dev = device_open(img);
  const fsys = FileSystem.mount(dev);
  const data = Buffer.alloc(4096);
  let dir = 0;
  for (let i = 0; i < o.files; i++) {
    if (i % o.perDir === 0) dir = fsys.mkdir(1, `d${i / o.perDir}`, 0o40755).ino;
    const a = fsys.create(dir, `f${i}`, 0o100644);
    fsys.open(a.ino);
    data.writeUInt32LE(i, 0);
    fsys.write(a.ino, 0, data);
    fsys.release(a.ino);
    if ((i + 1) % Math.max(1, Math.floor(o.files / 10)) === 0) say(`  made ${i + 1} of ${o.files} files`);
  }
  fsys.unmount();
  dev.close();
  return performance.now() - t0;
}

async function main(): Promise<number> {
  const o = args();
  const say = (s: string): void => { process.stderr.write(`bench-scale-tree: ${s}\n`); };
  const cleanup = new Cleanup(say);
  const scratch = scratch_dir(o.files * 4096 * 1.3);
  const img = path.join(scratch, `scale-tree-${process.pid}.img`);
  const mnt = mountpoint_new(scratch, 'scale-tree', cleanup);
  cleanup.push(`rm ${img}`, () => { fs.rmSync(img, { force: true }); fs.rmSync(`${img}.log`, { force: true }); });
  try {
    image_create(img, o.size);
    say(`making ${o.files} files of 4 KiB in directories of ${o.perDir} in the engine, on ${bytes_human(o.size)}`);
    const makeMs = tree_make(img, o, say);
    const f = await fsck_timed(img, 'the tree');
    say(`fsck -n ${(f.ms / 1000).toFixed(1)} s, ${f.inodes} inodes, peak ${bytes_human(f.peak)}`);
    const m = await timed(() => run(process.execPath, [COWLOG, 'mount', img, mnt], { timeoutMs: HOUR }));
    umount_undo(cleanup, mnt);
    const idle = await server_memory_read(mnt);
    const find = await timed(() => run('sh', ['-c', `find '${mnt}' | wc -l`], { timeoutMs: 24 * HOUR }));
    say(`find: ${find.v.stdout.trim()} entries in ${(find.ms / 1000).toFixed(1)} s`);
    const ls = await timed(() => run('sh', ['-c', `ls -lR '${mnt}' | grep -c '^-'`], { timeoutMs: 24 * HOUR }));
    if (Number(ls.v.stdout.trim()) !== o.files) throw new Error(`ls -lR listed ${ls.v.stdout.trim()} files, not ${o.files}`);
    say(`ls -lR: ${o.files} files in ${(ls.ms / 1000).toFixed(1)} s`);
    const after = await server_memory_read(mnt);
    const r = {
      files: o.files, size: o.size, makeS: makeMs / 1000, fsckS: f.ms / 1000, fsckPeakBytes: f.peak, mountMs: m.ms,
      findS: find.ms / 1000, lsS: ls.ms / 1000, lsPerS: o.files / (ls.ms / 1000),
      serverIdleBytes: idle.memory['rssBytes']!, serverPeakBytes: after.peak, serverRssBytes: after.rss,
      heapBytes: after.memory['heapBytes']!, heapTotalBytes: after.memory['heapTotalBytes']!, externalBytes: after.memory['externalBytes']!,
      held: after.memory['held']!, heldMax: after.memory['heldMax']!, heldAsked: after.memory['heldAsked']!,
    };
    if (o.json) {
      process.stdout.write(JSON.stringify(r) + '\n');
    } else {
      const rows: [string, string][] = [
        [`made in the engine (${o.files} files, ${bytes_human(o.size)})`, `${r.makeS.toFixed(1)} s`],
        ['fsck -n', `${r.fsckS.toFixed(1)} s, peak ${bytes_human(r.fsckPeakBytes)}`],
        ['mount', `${r.mountMs.toFixed(0)} ms`],
        ['find', `${r.findS.toFixed(1)} s`],
        ['ls -lR', `${r.lsS.toFixed(1)} s (${r.lsPerS.toFixed(0)} files/s)`],
        ['server memory: idle, peak (VmHWM), after', `${bytes_human(r.serverIdleBytes)}, ${bytes_human(r.serverPeakBytes)}, ${bytes_human(r.serverRssBytes)}`],
        ['… heap live of taken, buffers', `${bytes_human(r.heapBytes)} of ${bytes_human(r.heapTotalBytes)}, ${bytes_human(r.externalBytes)}`],
        ['inodes the kernel holds (held_max), names it was asked to drop', `${r.held} (${r.heldMax}), ${r.heldAsked}`],
      ];
      const w = Math.max(...rows.map(([k]) => k.length));
      process.stdout.write(rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n');
      process.stdout.write(fsck_goal(f.ms, f.inodes, '') + '\n');
    }
    return 0;
  } finally {
    await cleanup.run();
  }
}

main().then((c) => process.exit(c), (e: unknown) => {
  process.stderr.write(`bench-scale-tree: ${(e as Error).message}\n`);
  process.exit(1);
});
