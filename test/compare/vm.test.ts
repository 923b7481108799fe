import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GUEST_MODULES, guest_kernel, init_script, initramfs_build, initramfs_list, modules_resolve } from '../../src/compare/initramfs.js';
import { job_script, qemu_args } from '../../src/compare/qemu.js';

// real devices, mkfs and mounts: slower than tap's 30 s default on a busy 2-core machine
t.setTimeout(240_000);

t.test('the QEMU command line: TCG, the image as virtio vda, host root read-only, a writable share', async (t) => {
  const { cmd, args } = qemu_args({ kernel: '/boot/vmlinuz-X', initrd: '/c/i.gz', disk: '/s/d.img', share: '/s/share' });
  t.equal(cmd, 'qemu-system-x86_64');
  const line = args.join(' ');
  t.match(line, /-accel tcg -cpu max -smp 2 -m 2048/);
  t.match(line, /-kernel \/boot\/vmlinuz-X -initrd \/c\/i\.gz/);
  t.match(line, /-drive file=\/s\/d\.img,format=raw,if=virtio,cache=none/);
  t.match(line, /-virtfs local,path=\/,mount_tag=host,security_model=none,readonly=on,multidevs=remap/);
  t.match(line, /-virtfs local,path=\/s\/share,mount_tag=share,security_model=none(\s|$)/);
  t.notMatch(line, /path=\/s\/share[^ ]*readonly/, 'the share is writable');
  t.ok(args.includes('-no-reboot') && args.includes('-nographic'));
  t.equal(args[args.indexOf('-append') + 1], 'console=ttyS0 panic=-1 quiet loglevel=3');
});

t.test('the guest init loads modules in order, mounts both shares, records the exit code, powers off', async (t) => {
  const s = init_script(['a.ko', 'b.ko']);
  t.match(s, /^#!\/bin\/busybox sh\n/);
  t.match(s, /for m in \/modules\/a\.ko \/modules\/b\.ko; do/);
  t.match(s, /mount -t 9p -o trans=virtio,version=9p2000\.L,ro,msize=262144 host \/host/);
  t.match(s, /mount -t 9p -o trans=virtio,version=9p2000\.L,msize=262144 share \/host\/tmp\/share/);
  t.match(s, /chroot \/host \/bin\/sh \/tmp\/share\/job\.sh\necho \$\? > \/host\/tmp\/share\/exit-code/);
  t.match(s, /poweroff -f\n/);
  const j = job_script('/usr/bin/node', '/repo/dist/src/compare/guest_run.js');
  t.match(j, /exec "\/usr\/bin\/node" "\/repo\/dist\/src\/compare\/guest_run\.js" \/tmp\/share\/job\.json/);
});

const kernel = guest_kernel();
t.test('the initramfs holds busybox, /init and every module, and is cached', { skip: kernel ? false : 'no Debian kernel installed (linux-image-amd64): the f2fs runner installs it on first use' }, async (t) => {
  const mods = modules_resolve(kernel!.modulesDir, GUEST_MODULES);
  t.same(mods.map((m) => m.name), [...GUEST_MODULES], 'every module resolved, in order');
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'cowlog-vm-test-'));
  t.teardown(() => fs.rmSync(cache, { recursive: true, force: true }));
  const b = await initramfs_build(kernel!, cache);
  t.equal(b.cached, false);
  const files = await initramfs_list(b.path);
  t.ok(files.includes('init') && files.includes('bin/busybox'), 'init and busybox');
  const staged = mods.filter((m) => m.file).map((m) => `modules/${path.basename(m.file!).replace(/\.(xz|zst|gz)$/, '')}`);
  for (const f of staged) t.ok(files.includes(f), `${f} inside`);
  const again = await initramfs_build(kernel!, cache);
  t.equal(again.cached, true, 'the second build reuses the first');
  t.equal(again.path, b.path);
  t.throws(() => modules_resolve(kernel!.modulesDir, ['no_such_module_x']), /neither in .*modules\.dep nor built in/);
});
