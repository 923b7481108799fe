// Whole-tree comparisons for snapshot tests (tree_dump and dump_diff live in src/fs/dump.ts,
// which `cowlog crash-table` uses too), and the "system A" / "system B" trees of the A/B root
// story.

import type { FileSystem } from '../../src/fs/fs.js';
import { Prng } from '../../src/util/prng.js';
import { content } from './model.js';

export { dump_diff, tree_dump } from '../../src/fs/dump.js';

const DT_DIR = 4;

/**
 * "System A": nested directories with hundreds of files of many sizes (inline, one block, many
 * blocks, sparse), symlinks, hard links, xattrs, modes and owners.
 */
export function system_a(fs: FileSystem, files = 300, seed = 1): void {
  const rng = new Prng(seed);
  const dirs = [1];
  for (const name of ['bin', 'etc', 'lib', 'usr', 'var']) dirs.push(fs.mkdir(1, name, 0o755).ino);
  for (let i = 0; i < 12; i++) dirs.push(fs.mkdir(rng.pick(dirs.slice(1)), `d${i}`, 0o750 + (i % 8)).ino);
  const made: { dir: number; name: string; ino: number }[] = [];
  for (let i = 0; i < files; i++) {
    const dir = rng.pick(dirs);
    const name = `f${i}`;
    const ino = fs.create(dir, name, rng.pick([0o644, 0o600, 0o755, 0o4755]), i % 3, i % 5).ino;
    const size = rng.pick([0, 17, 900, 1600, 4096, 5000, 20000, 70000]);
    if (size) fs.write(ino, 0, content(seed * 100000 + i, size));
    if (i % 37 === 0) fs.write(ino, 300000, content(i, 100)); // sparse tail
    if (i % 11 === 0) fs.setxattr(ino, `user.tag${i % 3}`, Buffer.from(`value ${i}`));
    made.push({ dir, name, ino });
  }
  for (let i = 0; i < 30; i++) {
    const target = rng.pick(made);
    fs.symlink(rng.pick(dirs), `s${i}`, i % 2 ? `../${target.name}` : `/usr/lib/${'x'.repeat(i * 60)}`);
  }
  for (let i = 0; i < 20; i++) {
    const target = made[(i * 7) % made.length]!;
    fs.link(target.ino, rng.pick(dirs), `h${i}`);
  }
  fs.setxattr(1, 'user.system', Buffer.from('A'));
}

/** Turns system A into "system B": modify, delete, add, rename, chmod, re-link. */
export function system_b(fs: FileSystem, seed = 2): void {
  const rng = new Prng(seed);
  const etc = fs.lookup(1, 'etc').ino;
  const usr = fs.lookup(1, 'usr').ino;
  const all: { dir: number; name: string }[] = [];
  const walk = (ino: number): void => {
    for (const e of fs.readdir(ino)) {
      const n = e.name.toString();
      if (n === '.' || n === '..') continue;
      if (e.type === DT_DIR) walk(e.ino);
      else all.push({ dir: ino, name: n });
    }
  };
  walk(1);
  rng.shuffle(all);
  let k = 0;
  const n = all.length;
  // modify an eighth of the files (overwrite part, append, truncate)
  for (; k < Math.floor(n / 8); k++) {
    const f = all[k]!;
    const a = fs.lookup(f.dir, f.name);
    if ((a.mode & 0o170000) !== 0o100000) continue;
    const ino = a.ino;
    if (k % 3 === 0) fs.write(ino, Math.floor(a.size / 2), content(seed * 1000 + k, 3000));
    else if (k % 3 === 1) fs.write(ino, a.size, content(seed * 1000 + k, 9000));
    else fs.truncate(ino, Math.floor(a.size / 3));
  }
  // delete a tenth
  for (; k < Math.floor(n / 8 + n / 10); k++) fs.unlink(all[k]!.dir, all[k]!.name);
  // rename a sixteenth (some across directories)
  for (; k < Math.floor(n / 8 + n / 10 + n / 16); k++) fs.rename(all[k]!.dir, all[k]!.name, k % 2 ? usr : all[k]!.dir, `renamed-${k}`);
  // chmod and xattrs on a thirty-second
  for (; k < Math.floor(n / 8 + n / 10 + n / 16 + n / 32); k++) {
    const a = fs.lookup(all[k]!.dir, all[k]!.name);
    if ((a.mode & 0o170000) === 0o120000) continue;
    fs.setattr(a.ino, { mode: 0o600 });
    fs.setxattr(a.ino, 'user.upgraded', Buffer.from('yes'));
  }
  // add 50 new files and a directory
  const nd = fs.mkdir(etc, 'new.d', 0o755).ino;
  for (let i = 0; i < Math.min(50, Math.ceil(n / 6)); i++) fs.write(fs.create(i % 2 ? nd : usr, `new${i}`, 0o644).ino, 0, content(seed * 7000 + i, 100 + i * 500));
  fs.setxattr(1, 'user.system', Buffer.from('B'));
}
