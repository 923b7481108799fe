// Loop-device and tmpfs helpers for device tests. Everything attached or mounted here is released
// by the caller's teardown, even when the test fails.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Why loop devices can not be used here, or null when they can. */
export function loop_unavailable(): string | null {
  try {
    execFileSync('losetup', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'losetup is not installed (util-linux)';
  }
  if (process.getuid?.() !== 0) return 'attaching loop devices needs root';
  if (!fs.existsSync('/dev/loop-control')) return '/dev/loop-control is missing (no loop driver)';
  return null;
}

/** Attaches `image` to a free loop device and returns its path (e.g. /dev/loop3). */
export function loop_attach(image: string, readOnly = false): string {
  const args = ['-f', '--show', ...(readOnly ? ['-r'] : []), image];
  return execFileSync('losetup', args, { encoding: 'utf8' }).trim();
}

export function loop_detach(dev: string): void {
  execFileSync('losetup', ['-d', dev], { stdio: 'ignore' });
}

export function mount(source: string, target: string, args: string[] = []): void {
  execFileSync('mount', [...args, source, target], { stdio: 'ignore' });
}

export function umount(target: string): void {
  execFileSync('umount', [target], { stdio: 'ignore' });
}

export type Defer = (fn: () => void) => void;

/** Returns `defer(fn)`: the deferred functions run at the end of test `t`, last deferred first
 *  (close before detach, umount before rmdir), all of them even when one throws. */
export function defer_make(t: { teardown(fn: () => void): void }): Defer {
  const stack: (() => void)[] = [];
  t.teardown(() => {
    let first: unknown = null;
    while (stack.length > 0) {
      try {
        stack.pop()!();
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== null) throw first;
  });
  return (fn) => { stack.push(fn); };
}

/** A fresh temporary directory, removed when the test ends. */
export function tmpdir_make(defer: Defer, prefix = 'cowlog-dev-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Block `i` of a test pattern: every byte depends on the block and the seed. */
export function pattern_block(i: number, seed = 1): Buffer {
  const b = Buffer.alloc(4096);
  for (let j = 0; j < b.length; j++) b[j] = (i * 31 + j * 7 + seed * 13) & 0xff;
  return b;
}
