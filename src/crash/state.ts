// The whole state of a cowlog device as its users can observe it, as one comparable string: the
// boot state (default tree, trial, fallback), the snapshot list (names and kinds), and every tree
// — the main tree and each snapshot and clone — dumped path by path (fs/dump.ts). Two devices are
// in the same state for their users exactly when these strings are equal; nothing else (checkpoint
// numbers, where blocks lie, clean flags) is part of it.

import type { BlockDevice } from '../device/device.js';
import { FileSystem } from '../fs/fs.js';
import { tree_dump } from '../fs/dump.js';
import { clock_fixed } from '../checkpoint/clock.js';

/** A clock for read-only mounts: they read no time into anything the state holds. */
const CLOCK = (): ReturnType<typeof clock_fixed> => clock_fixed(1_700_000_900);

function dump_lines(fs: FileSystem): string {
  return [...tree_dump(fs)].map(([p, d]) => `  ${p} ${d}`).join('\n');
}

/** Reads the state of `dev` without writing to it (read-only mounts; roll-forward in memory). */
export function fs_state(dev: BlockDevice): string {
  const fs = FileSystem.mount(dev, { readOnly: true, clock: CLOCK() });
  const boot = fs.boot_status();
  const list = fs.snapshot_list();
  fs.unmount();
  const out = [
    `boot: ${boot.text}`,
    `snapshots: ${list.map((s) => `${s.name}(${s.writable ? 'clone' : s.auto ? 'auto' : 'snapshot'})`).join(' ') || 'none'}`,
  ];
  for (const name of ['@main', ...list.map((s) => s.name)]) {
    const t = FileSystem.mount(dev, { readOnly: true, snapshot: name, clock: CLOCK() });
    out.push(`tree ${name}:\n${dump_lines(t)}`);
    t.unmount();
  }
  return out.join('\n');
}

/** A state as keys ('boot', 'snapshots', 'TREE PATH') and what each says. */
function state_map(state: string): Map<string, string> {
  const m = new Map<string, string>();
  let tree = '';
  for (const l of state.split('\n')) {
    if (l.startsWith('tree ')) { tree = l.slice(5, -1); continue; }
    if (l.startsWith('  ')) {
      const sp = l.indexOf(' ', 2);
      m.set(`${tree} ${l.slice(2, sp)}`, l.slice(sp + 1));
    } else {
      const c = l.indexOf(':');
      m.set(l.slice(0, c), l.slice(c + 1));
    }
  }
  return m;
}

/** How state `got` differs from `want`: 'TREE PATH added', '... missing', '... changed', 'boot changed'. */
export function state_diff(got: string, want: string, max = 3): string[] {
  const a = state_map(got);
  const b = state_map(want);
  const out: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    if (a.get(k) === b.get(k)) continue;
    out.push(`${k} ${!b.has(k) ? 'added' : !a.has(k) ? 'missing' : 'changed'}`);
  }
  return out.length > max ? [...out.slice(0, max), `${out.length - max} more`] : out;
}
