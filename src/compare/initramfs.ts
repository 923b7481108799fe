// The QEMU guest for filesystems the host kernel lacks (f2fs): Debian's kernel, and an initramfs
// of busybox-static plus the virtio and 9p modules, whose /init mounts the host's root read-only
// over 9p, a second read-write 9p share for results, and runs a job script chrooted into the
// host's files (so the guest uses the host's node, mkfs tools and this project).
//
// Invariants:
// - the modules are loaded in dependency order (GUEST_MODULES); one built into the kernel is
//   skipped, one missing altogether is an error at build time, not a hang at boot;
// - /init always powers the guest off, writing the job's exit code to the share first, so the
//   host learns the outcome from a file and never has to parse the console;
// - the initramfs is cached by kernel version and content hash; a changed /init makes a new one.

import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { run } from './sys.js';

/** Modules the guest needs before it can see the host, in load order. */
export const GUEST_MODULES = [
  'virtio_ring', 'virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'virtio_blk',
  '9pnet', '9pnet_virtio', 'netfs', 'fscache', '9p',
] as const;

export const BUSYBOX = '/bin/busybox';
/** Where the guest mounts things inside the host's tree (a tmpfs there, so the host's /tmp is untouched). */
export const GUEST_SHARE = '/tmp/share';
export const SHARE_TAG = 'share';
export const HOST_TAG = 'host';

export interface GuestKernel {
  version: string;
  vmlinuz: string;
  modulesDir: string;
}

/** The newest /boot/vmlinuz-* whose modules are installed, or undefined. */
export function guest_kernel(boot = '/boot', modulesRoot = '/lib/modules'): GuestKernel | undefined {
  let names: string[] = [];
  try { names = fs.readdirSync(boot); } catch { return undefined; }
  const versions = names
    .filter((n) => n.startsWith('vmlinuz-'))
    .map((n) => n.slice('vmlinuz-'.length))
    .filter((v) => fs.existsSync(path.join(modulesRoot, v, 'modules.dep')))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const v = versions.pop();
  return v ? { version: v, vmlinuz: path.join(boot, `vmlinuz-${v}`), modulesDir: path.join(modulesRoot, v) } : undefined;
}

/** Module name → path of its file (relative to modulesDir), from modules.dep; builtins map to null. */
export function modules_resolve(modulesDir: string, names: readonly string[]): Array<{ name: string; file: string | null }> {
  const norm = (s: string): string => s.replace(/-/g, '_');
  const dep = fs.readFileSync(path.join(modulesDir, 'modules.dep'), 'utf8');
  const byName = new Map<string, string>();
  for (const line of dep.split('\n')) {
    const file = line.split(':')[0];
    if (!file) continue;
    const base = path.basename(file).replace(/\.ko(\.(xz|zst|gz))?$/, '');
    byName.set(norm(base), file);
  }
  let builtin = '';
  try { builtin = fs.readFileSync(path.join(modulesDir, 'modules.builtin'), 'utf8'); } catch { /* none */ }
  const builtins = new Set(builtin.split('\n').map((l) => norm(path.basename(l).replace(/\.ko$/, ''))));
  return names.map((name) => {
    const f = byName.get(norm(name));
    if (f) return { name, file: f };
    if (builtins.has(norm(name))) return { name, file: null };
    throw new Error(`kernel module ${name} is neither in ${modulesDir}/modules.dep nor built in: the guest could not reach its disk or the host`);
  });
}

/** The guest's /init (busybox sh). `modules` are file names under /modules, in load order. */
export function init_script(modules: readonly string[]): string {
  return `#!/bin/busybox sh
# cowlog guest init: reach the host's files over 9p, run the job chrooted there, power off.
/bin/busybox mkdir -p /proc /sys /dev /host /tmp /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "cowlog-guest: kernel $(uname -r), loading modules"
for m in ${modules.map((m) => `/modules/${m}`).join(' ')}; do
  insmod "$m" || echo "cowlog-guest: insmod $m failed"
done
fail() { echo "cowlog-guest: $*"; poweroff -f; sleep 5; }
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 ${HOST_TAG} /host || fail "cannot mount the host's root over 9p"
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mount -t tmpfs tmpfs /host/tmp
mount -t tmpfs tmpfs /host/run
mkdir -p /host${GUEST_SHARE}
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 ${SHARE_TAG} /host${GUEST_SHARE} || fail "cannot mount the result share"
mount -t tracefs nodev /host/sys/kernel/tracing 2>/dev/null
echo "cowlog-guest: running the job"
chroot /host /bin/sh ${GUEST_SHARE}/job.sh
echo $? > /host${GUEST_SHARE}/exit-code
sync
umount /host${GUEST_SHARE}
echo "cowlog-guest: done, powering off"
poweroff -f
sleep 5
`;
}

export interface InitramfsBuild {
  path: string;
  kernel: GuestKernel;
  modules: Array<{ name: string; file: string | null }>;
  cached: boolean;
}

/** Builds (or reuses) the initramfs for `kernel` in `cacheDir`. */
export async function initramfs_build(kernel: GuestKernel, cacheDir: string): Promise<InitramfsBuild> {
  const mods = modules_resolve(kernel.modulesDir, GUEST_MODULES);
  const files = mods.filter((m) => m.file !== null).map((m) => m.file!);
  const staged = files.map((f) => path.basename(f).replace(/\.(xz|zst|gz)$/, ''));
  const init = init_script(staged);
  const hash = createHash('sha256').update(init).update(kernel.version).update(fs.readFileSync(BUSYBOX)).digest('hex').slice(0, 16);
  const out = path.join(cacheDir, `initramfs-${kernel.version}-${hash}.cpio.gz`);
  if (fs.existsSync(out)) return { path: out, kernel, modules: mods, cached: true };

  fs.mkdirSync(cacheDir, { recursive: true });
  const stage = fs.mkdtempSync(path.join(cacheDir, 'stage-'));
  try {
    for (const d of ['bin', 'modules', 'proc', 'sys', 'dev', 'host', 'tmp']) fs.mkdirSync(path.join(stage, d));
    fs.copyFileSync(BUSYBOX, path.join(stage, 'bin', 'busybox'));
    fs.chmodSync(path.join(stage, 'bin', 'busybox'), 0o755);
    fs.symlinkSync('busybox', path.join(stage, 'bin', 'sh'));
    for (const f of files) {
      const src = path.join(kernel.modulesDir, f);
      const dst = path.join(stage, 'modules', path.basename(f).replace(/\.(xz|zst|gz)$/, ''));
      // busybox insmod loads plain .ko files: decompress the ones Debian ships compressed
      const unpack = f.endsWith('.xz') ? 'xz' : f.endsWith('.zst') ? 'zstd' : f.endsWith('.gz') ? 'gzip' : null;
      if (unpack) await run('sh', ['-c', `${unpack} -dc "$0" > "$1"`, src, dst]);
      else fs.copyFileSync(src, dst);
    }
    fs.writeFileSync(path.join(stage, 'init'), init, { mode: 0o755 });
    const tmp = `${out}.tmp`;
    await run('sh', ['-c', `cd "${stage}" && find . -print0 | cpio --null -o -H newc --quiet | gzip -9 > "${tmp}"`]);
    fs.renameSync(tmp, out);
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
  return { path: out, kernel, modules: mods, cached: false };
}

/** Lists the files of a gzip'd newc archive (for checks). */
export async function initramfs_list(p: string): Promise<string[]> {
  const { stdout } = await run('sh', ['-c', `gzip -dc "${p}" | cpio -t --quiet`]);
  return stdout.split('\n').filter(Boolean).sort();
}
