// Extended attributes: XATTR records keyed by (ino, hash(name)), each a list of the attributes
// whose names share the hash.

import type { Volume } from '../checkpoint/volume.js';
import { key, KEY_MAX, name_hash, RecKind, xattrs_decode, xattrs_encode } from '../format/records.js';
import type { Key, Xattr } from '../format/records.js';
import { FsError } from '../util/errors.js';

/** Largest value: the record must fit in half a node with its name. */
export const XATTR_VALUE_MAX = 1500;

function list_get(vol: Volume, k: Key): Xattr[] {
  const rec = vol.get(k);
  return rec ? vol.decode(k, rec, xattrs_decode) : [];
}

export function xattr_get(vol: Volume, ino: number, name: Buffer): Buffer | undefined {
  for (const x of list_get(vol, key(ino, RecKind.XATTR, name_hash(name)))) if (x.name.equals(name)) return x.value;
  return undefined;
}

export function xattr_set(vol: Volume, ino: number, name: Buffer, value: Buffer, mode: 'create' | 'replace' | 'any'): void {
  if (name.length === 0 || name.length > 255) throw new FsError('ERANGE', `xattr name of ${name.length} bytes`);
  if (value.length > XATTR_VALUE_MAX) throw new FsError('E2BIG', `xattr value of ${value.length} bytes (cowlog keeps at most ${XATTR_VALUE_MAX})`);
  const k = key(ino, RecKind.XATTR, name_hash(name));
  const list = list_get(vol, k);
  const i = list.findIndex((x) => x.name.equals(name));
  if (i >= 0 && mode === 'create') throw new FsError('EEXIST', `xattr ${name.toString()} exists`);
  if (i < 0 && mode === 'replace') throw new FsError('ENODATA', `no xattr ${name.toString()}`);
  const entry = { name: Buffer.from(name), value: Buffer.from(value) };
  if (i >= 0) list[i] = entry;
  else list.push(entry);
  let enc: Buffer;
  try {
    enc = xattrs_encode(list);
  } catch {
    throw new FsError('ENOSPC', `xattrs of inode ${ino} sharing one hash do not fit a record`);
  }
  vol.put(k, enc);
}

export function xattr_remove(vol: Volume, ino: number, name: Buffer): void {
  const k = key(ino, RecKind.XATTR, name_hash(name));
  const list = list_get(vol, k);
  const rest = list.filter((x) => !x.name.equals(name));
  if (rest.length === list.length) throw new FsError('ENODATA', `no xattr ${name.toString()}`);
  if (rest.length) vol.put(k, xattrs_encode(rest));
  else vol.del(k);
}

export function xattr_list(vol: Volume, ino: number): Buffer[] {
  const out: Buffer[] = [];
  vol.scan(key(ino, RecKind.XATTR, 0), key(ino, RecKind.XATTR, KEY_MAX.off), (k, v) => {
    for (const x of vol.decode(k, v, xattrs_decode)) out.push(x.name);
  });
  return out;
}
