// POSIX ACLs: the values of the system.posix_acl_access and system.posix_acl_default extended
// attributes, in the form the kernel hands them over (Linux's posix_acl_xattr, version 2), and
// the two rules the filesystem applies itself: a new inode inherits its directory's default
// ACL (POSIX.1e, as Linux's posix_acl_create), and chmod rewrites the access ACL's owner, group
// class and other entries (posix_acl_chmod). The kernel checks permissions against the ACLs it
// reads back (FUSE_POSIX_ACL with default_permissions); cowlog stores them as xattrs.
//
// Invariants:
// - A value is a u32 version (2) and entries of 8 bytes (u16 tag, u16 perm, u32 id), all
//   little-endian; perm is 0..7; USER_OBJ, GROUP_OBJ and OTHER appear once each; MASK at most
//   once, and it must be there when a named USER or GROUP entry is. Anything else is EINVAL.
// - Entries are kept in the order given (the kernel sorts them by tag and id before it sends
//   them).

import { FsError } from '../util/errors.js';

export const ACL_ACCESS = 'system.posix_acl_access';
export const ACL_DEFAULT = 'system.posix_acl_default';
const ACL_VERSION = 2;
const HEADER_BYTES = 4;
const ENTRY_BYTES = 8;

export const ACL_USER_OBJ = 0x01;
export const ACL_USER = 0x02;
export const ACL_GROUP_OBJ = 0x04;
export const ACL_GROUP = 0x08;
export const ACL_MASK = 0x10;
export const ACL_OTHER = 0x20;

export interface AclEntry {
  tag: number;
  perm: number;
  /** uid or gid of a named entry; unused (2^32 − 1 as the kernel writes it) otherwise */
  id: number;
}

/** Whether an xattr name is one of the two ACLs. */
export function acl_name(name: Buffer | string): boolean {
  const s = typeof name === 'string' ? name : name.toString('latin1');
  return s === ACL_ACCESS || s === ACL_DEFAULT;
}

export function acl_decode(b: Uint8Array): AclEntry[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < HEADER_BYTES || (b.length - HEADER_BYTES) % ENTRY_BYTES !== 0) throw new FsError('EINVAL', `an ACL of ${b.length} bytes`);
  if (v.getUint32(0, true) !== ACL_VERSION) throw new FsError('EINVAL', `ACL version ${v.getUint32(0, true)}, not ${ACL_VERSION}`);
  const out: AclEntry[] = [];
  const seen = new Map<number, number>();
  for (let o = HEADER_BYTES; o < b.length; o += ENTRY_BYTES) {
    const e = { tag: v.getUint16(o, true), perm: v.getUint16(o + 2, true), id: v.getUint32(o + 4, true) };
    if (![ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_GROUP, ACL_MASK, ACL_OTHER].includes(e.tag)) throw new FsError('EINVAL', `ACL tag 0x${e.tag.toString(16)}`);
    if (e.perm > 7) throw new FsError('EINVAL', `ACL permissions ${e.perm}`);
    seen.set(e.tag, (seen.get(e.tag) ?? 0) + 1);
    out.push(e);
  }
  for (const t of [ACL_USER_OBJ, ACL_GROUP_OBJ, ACL_OTHER]) if (seen.get(t) !== 1) throw new FsError('EINVAL', `an ACL needs exactly one entry of tag 0x${t.toString(16)}`);
  if ((seen.get(ACL_MASK) ?? 0) > 1) throw new FsError('EINVAL', 'an ACL with two masks');
  if ((seen.has(ACL_USER) || seen.has(ACL_GROUP)) && !seen.has(ACL_MASK)) throw new FsError('EINVAL', 'an ACL with named entries needs a mask');
  return out;
}

export function acl_encode(es: readonly AclEntry[]): Buffer {
  const b = Buffer.alloc(HEADER_BYTES + es.length * ENTRY_BYTES);
  b.writeUInt32LE(ACL_VERSION, 0);
  es.forEach((e, i) => {
    const o = HEADER_BYTES + i * ENTRY_BYTES;
    b.writeUInt16LE(e.tag, o);
    b.writeUInt16LE(e.perm, o + 2);
    b.writeUInt32LE(e.id >>> 0, o + 4);
  });
  return b;
}

/**
 * A new inode under a directory with default ACL `def`, asked for with mode `mode` (type and
 * permission bits, no umask: a default ACL replaces it): the ACL it gets — the default with
 * the owner, group class and other entries cut down to the mode — and its mode, cut down to
 * them. `equiv` says the ACL says no more than the mode (then none is stored).
 */
export function acl_inherit(def: readonly AclEntry[], mode: number): { acl: AclEntry[]; mode: number; equiv: boolean } {
  const acl = def.map((e) => ({ ...e }));
  let m = mode;
  let equiv = true;
  let group: AclEntry | undefined, mask: AclEntry | undefined;
  for (const e of acl) {
    if (e.tag === ACL_USER_OBJ) {
      e.perm &= (m >> 6) & 7;
      m &= ~0o700 | (e.perm << 6);
    } else if (e.tag === ACL_OTHER) {
      e.perm &= m & 7;
      m &= ~0o007 | e.perm;
    } else if (e.tag === ACL_GROUP_OBJ) {
      group = e;
    } else if (e.tag === ACL_MASK) {
      mask = e;
      equiv = false;
    } else {
      equiv = false;
    }
  }
  const g = mask ?? group!;
  g.perm &= (m >> 3) & 7;
  m &= ~0o070 | (g.perm << 3);
  return { acl, mode: m, equiv };
}

/**
 * An access ACL set on an inode of mode `mode`: the mode it gives (owner, group class — the
 * mask when there is one — and other bits; the set-ID and sticky bits stay), and whether the
 * ACL says no more than that mode (then the mode is all that is kept, as Linux's
 * posix_acl_update_mode does). The kernel leaves this to a FUSE filesystem.
 */
export function acl_mode(acl: readonly AclEntry[], mode: number): { mode: number; equiv: boolean } {
  let user = 0, group = 0, other = 0, mask = -1, equiv = true;
  for (const e of acl) {
    if (e.tag === ACL_USER_OBJ) user = e.perm;
    else if (e.tag === ACL_GROUP_OBJ) group = e.perm;
    else if (e.tag === ACL_OTHER) other = e.perm;
    else if (e.tag === ACL_MASK) { mask = e.perm; equiv = false; }
    else equiv = false;
  }
  const g = mask >= 0 ? mask : group;
  return { mode: (mode & ~0o777) | (user << 6) | (g << 3) | other, equiv };
}

/** chmod of an inode with access ACL `acl`: its owner, group class (the mask, if any) and other entries take the mode's bits. */
export function acl_chmod(acl: readonly AclEntry[], mode: number): AclEntry[] {
  const hasMask = acl.some((e) => e.tag === ACL_MASK);
  return acl.map((e) => {
    if (e.tag === ACL_USER_OBJ) return { ...e, perm: (mode >> 6) & 7 };
    if (e.tag === ACL_OTHER) return { ...e, perm: mode & 7 };
    if (e.tag === (hasMask ? ACL_MASK : ACL_GROUP_OBJ)) return { ...e, perm: (mode >> 3) & 7 };
    return { ...e };
  });
}
