// Everything a user can observe of a tree, as one line per path: type, mode, owner, link count,
// size, times, a digest of the content, the symlink target, xattrs, and which paths are hard links
// of one another. Two trees are the same for their users exactly when their dumps are equal: the
// snapshot tests and `cowlog crash-table` compare trees this way.

import { createHash } from 'node:crypto';
import type { FileSystem } from './fs.js';
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from './types.js';

const DT_DIR = 4;

/** path → one line describing everything a user can observe about it ('/' for the root). */
export function tree_dump(fs: FileSystem): Map<string, string> {
  const out = new Map<string, string>();
  const firstPath = new Map<number, string>();
  const xattrs_of = (ino: number): string => fs.listxattr(ino).map((n) => n.toString()).sort().map((n) => `${n}=${fs.getxattr(ino, n).toString('hex')}`).join(' ');
  const walk = (ino: number, path: string): void => {
    const entries = fs.readdir(ino).filter((e) => e.name.toString() !== '.' && e.name.toString() !== '..');
    entries.sort((a, b) => Buffer.compare(a.name, b.name));
    for (const e of entries) {
      const p = `${path}/${e.name.toString()}`;
      const a = fs.getattr(e.ino);
      const fmt = a.mode & S_IFMT;
      let body = '';
      if (fmt === S_IFREG) body = createHash('sha1').update(fs.read(e.ino, 0, a.size)).digest('hex');
      else if (fmt === S_IFLNK) body = `-> ${fs.readlink(e.ino).toString()}`;
      let group = '';
      if (fmt !== S_IFDIR && a.nlink > 1) {
        if (!firstPath.has(e.ino)) firstPath.set(e.ino, p);
        group = ` link-of ${firstPath.get(e.ino)}`;
      }
      out.set(p, `mode ${a.mode.toString(8)} uid ${a.uid} gid ${a.gid} nlink ${a.nlink} size ${fmt === S_IFDIR ? '-' : a.size} mtime ${a.mtime.s}.${a.mtime.ns} ctime ${a.ctime.s}.${a.ctime.ns} ${body} [${xattrs_of(e.ino)}]${group}`);
      if (e.type === DT_DIR) walk(e.ino, p);
    }
  };
  walk(1, '');
  const r = fs.getattr(1);
  out.set('/', `mode ${r.mode.toString(8)} uid ${r.uid} gid ${r.gid} nlink ${r.nlink} mtime ${r.mtime.s}.${r.mtime.ns} ctime ${r.ctime.s}.${r.ctime.ns} [${xattrs_of(1)}]`);
  return out;
}

/** The paths whose descriptions differ (a's, then b's), for a readable failure. */
export function dump_diff(a: Map<string, string>, b: Map<string, string>, max = 10): string[] {
  const out: string[] = [];
  for (const [p, d] of a) if (b.get(p) !== d) out.push(`${p}: ${d} | ${b.get(p) ?? '(missing)'}`);
  for (const p of b.keys()) if (!a.has(p)) out.push(`${p}: (missing) | ${b.get(p)}`);
  return out.slice(0, max);
}
