// Directory entries: a directory's names live in DIRENT records keyed by (dir, hash(name)); a
// record holds the list of names that share a hash (almost always one).

import type { Volume } from '../checkpoint/volume.js';
import { dirents_decode, dirents_encode, key, KEY_MAX, name_hash, RecKind } from '../format/records.js';
import type { Dirent, Key } from '../format/records.js';
import type { DirEntry } from './types.js';

function list_get(vol: Volume, k: Key): Dirent[] {
  const rec = vol.get(k);
  return rec ? vol.decode(k, rec, dirents_decode) : [];
}

export function dirent_find(vol: Volume, dir: number, name: Buffer): Dirent | undefined {
  for (const d of list_get(vol, key(dir, RecKind.DIRENT, name_hash(name)))) if (d.name.equals(name)) return d;
  return undefined;
}

/** Adds a name; the caller has checked it is not there. */
export function dirent_add(vol: Volume, dir: number, name: Buffer, ino: number, type: number): void {
  const k = key(dir, RecKind.DIRENT, name_hash(name));
  const list = list_get(vol, k);
  list.push({ name: Buffer.from(name), ino, type });
  vol.put(k, dirents_encode(list));
}

/** Points an existing name at another inode (rename over an existing name). */
export function dirent_replace(vol: Volume, dir: number, name: Buffer, ino: number, type: number): void {
  const k = key(dir, RecKind.DIRENT, name_hash(name));
  const list = list_get(vol, k);
  const i = list.findIndex((d) => d.name.equals(name));
  if (i < 0) list.push({ name: Buffer.from(name), ino, type });
  else list[i] = { name: list[i]!.name, ino, type };
  vol.put(k, dirents_encode(list));
}

export function dirent_remove(vol: Volume, dir: number, name: Buffer): void {
  const k = key(dir, RecKind.DIRENT, name_hash(name));
  const old = list_get(vol, k);
  if (!old.length) return;
  const list = old.filter((d) => !d.name.equals(name));
  if (list.length) vol.put(k, dirents_encode(list));
  else vol.del(k);
}

export function dir_list(vol: Volume, dir: number): DirEntry[] {
  const out: DirEntry[] = [];
  vol.scan(key(dir, RecKind.DIRENT, 0), key(dir, RecKind.DIRENT, KEY_MAX.off), (k, v) => {
    for (const d of vol.decode(k, v, dirents_decode)) out.push({ name: d.name, ino: d.ino, type: d.type });
  });
  return out;
}

/** Names of one hash a position tells apart (more, practically never seen, are listed again). */
export const DIR_POS_PER_HASH = 16;

/**
 * Lists a directory from position `pos` (0: the start) in hash order, calling `fn` with each
 * entry and the position that continues after it, until `fn` returns false. A position is
 * hash × 16 + the index in that hash's list: it stays valid while the directory changes (a
 * name added or removed elsewhere does not move it), so telldir/seekdir cookies made of it
 * never skip a name that was there all along. A hash with more than 16 names (none was ever
 * seen: 48-bit hashes) gives its 16th and later names the 16th's position, so a listing
 * resumed there lists them again rather than skip one.
 */
export function dir_list_from(vol: Volume, dir: number, pos: number, fn: (e: DirEntry, next: number) => boolean): void {
  const h0 = Math.floor(pos / DIR_POS_PER_HASH);
  const i0 = pos % DIR_POS_PER_HASH;
  vol.scan(key(dir, RecKind.DIRENT, h0), key(dir, RecKind.DIRENT, KEY_MAX.off), (k, v) => {
    const list = vol.decode(k, v, dirents_decode);
    for (let i = k.off === h0 ? i0 : 0; i < list.length; i++) {
      const d = list[i]!;
      const last = i === list.length - 1;
      const next = last ? (k.off + 1) * DIR_POS_PER_HASH : k.off * DIR_POS_PER_HASH + Math.min(i + 1, DIR_POS_PER_HASH - 1);
      if (!fn({ name: d.name, ino: d.ino, type: d.type }, next)) return false;
    }
    return true;
  });
}

export function dir_is_empty(vol: Volume, dir: number): boolean {
  let empty = true;
  vol.scan(key(dir, RecKind.DIRENT, 0), key(dir, RecKind.DIRENT, KEY_MAX.off), () => {
    empty = false;
    return false;
  });
  return empty;
}
