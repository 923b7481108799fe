// The QEMU command line and the job files for one guest run (facts behind the choices:
// shared/notes on f2fs in QEMU: KVM guests fail on this machine kind, TCG with -cpu max works).
//
// Invariants:
// - the host's root is shared read-only; the only writable place the guest sees on the host is
//   the run's own share directory;
// - the test disk is the raw image as virtio /dev/vda with cache=none, so the guest's block layer
//   sees every write the filesystem issues, as a loop device does on the host.

import { GUEST_SHARE, HOST_TAG, SHARE_TAG } from './initramfs.js';

export interface QemuSpec {
  kernel: string;
  initrd: string;
  /** raw image of the device under test */
  disk: string;
  /** host directory shared read-write for job files and results */
  share: string;
  memMiB?: number;
  cpus?: number;
  qemu?: string;
}

export function qemu_args(q: QemuSpec): { cmd: string; args: string[] } {
  const args = [
    '-accel', 'tcg', '-cpu', 'max', '-smp', String(q.cpus ?? 2), '-m', String(q.memMiB ?? 2048),
    '-nographic', '-no-reboot', '-net', 'none',
    '-kernel', q.kernel, '-initrd', q.initrd,
    '-append', 'console=ttyS0 panic=-1 quiet loglevel=3',
    '-drive', `file=${q.disk},format=raw,if=virtio,cache=none`,
    '-virtfs', `local,path=/,mount_tag=${HOST_TAG},security_model=none,readonly=on,multidevs=remap`,
    '-virtfs', `local,path=${q.share},mount_tag=${SHARE_TAG},security_model=none`,
  ];
  return { cmd: q.qemu ?? 'qemu-system-x86_64', args };
}

export interface GuestJob {
  fs: string;
  deviceBytes: number;
  /** the workload, as the guest sees it (inside the share) */
  workload: string;
  /** the workload's path on the host, for the record */
  workloadHostPath: string;
  mkfsOptions: string[];
  mountOptions: string;
  /** modules to load in the guest before mkfs (e.g. f2fs) */
  modprobe: string[];
}

/** The job script the guest's /init runs chrooted into the host's root. */
export function job_script(nodePath: string, guestRunJs: string): string {
  return `#!/bin/sh
# run by the cowlog guest's /init, chrooted into the host's files
export HOME=/tmp PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
cd /
exec "${nodePath}" "${guestRunJs}" ${GUEST_SHARE}/job.json
`;
}
