// What a caller may do beyond the uid and gid a FUSE request carries, read from
// /proc/PID/status: whether it holds CAP_FSETID, and its supplementary groups. The kernel says
// neither, yet Linux's rules for what a write or fallocate takes from a file need both (with
// FUSE_HANDLE_KILLPRIV_V2 they are the filesystem's to apply: set-group-ID goes from a file
// without group execute only when the caller is outside the file's group).
//
// Invariants:
// - Only /proc is read (never a path on a FUSE mount). A process that is gone (or pid 0, the
//   kernel's own requests) reads as null, and the callers then fall back on the request's own
//   uid and gid: root as holding CAP_FSETID, the request's gid as the only group.
// - Nothing is cached: a fallocate reads CapEff once (its request says nothing of it; fallocates
//   are few), and a write, truncate or ACL reads the groups only for a file with set-group-ID
//   and no group execute, the one case they decide.

import fs from 'node:fs';

const CAP_FSETID = 4;

export interface Creds {
  /** CAP_FSETID is in the effective set */
  fsetid: boolean;
  /** the supplementary groups */
  groups: number[];
}

/** A process's credentials beyond uid and gid, or null when /proc has no such process. */
export function creds_read(pid: number): Creds | null {
  if (pid <= 0) return null;
  let s: string;
  try {
    s = fs.readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return null;
  }
  const cap = /^CapEff:\s*([0-9a-f]+)$/m.exec(s);
  const groups = /^Groups:[ \t]*(.*)$/m.exec(s);
  if (cap === null || groups === null) return null;
  return {
    fsetid: ((BigInt(`0x${cap[1]}`) >> BigInt(CAP_FSETID)) & 1n) === 1n,
    groups: groups[1]!.trim() === '' ? [] : groups[1]!.trim().split(/\s+/).map(Number),
  };
}

/** Whether the caller (a request's pid, uid and gid) holds CAP_FSETID. */
export function caller_fsetid(who: { pid: number; uid: number }): boolean {
  return creds_read(who.pid)?.fsetid ?? who.uid === 0;
}

/** Whether the caller is in group `gid`: its request's gid or one of its supplementary groups. */
export function caller_in_group(who: { pid: number; gid: number }, gid: number): boolean {
  return who.gid === gid || (creds_read(who.pid)?.groups.includes(gid) ?? false);
}
