// What a long listing asks of a mount, counted by the server's own request counts (`cowlog info
// --stats --json`, the getxattr the binding answered included):
// - security.selinux is refused (EOPNOTSUPP) and not listed unless the mount keeps it with
//   -o selinux_xattr; other security. names are kept either way. Refused, `ls -l` learns once
//   that the filesystem has no labels and stops asking for each file's (two mounts compared).
// - A directory listed again within the timeouts costs no request per file: readdirplus leaves
//   out the entries of names the kernel holds (which would make it forget their cached ACLs),
//   and what `ls -l` shows stays right — sizes after writes, link counts after ln and rm.
// Servers run in processes of their own; the test process never touches a mount.

import t from 'tap';
import type { Test } from 'tap';
import fs from 'node:fs';
import { fuse_unavailable, mount_with } from '../helpers/fusemount.js';
import type { Mounted } from '../helpers/fusemount.js';
import { clean_after, cowlog_server, image_make, requests_served } from './helpers.js';

const FILES = 300;

/** The requests of each kind the kernel made of the mount so far (getxattr: those the binding answered too, noxattr.ts). */
async function requests(m: Mounted): Promise<Record<string, number>> {
  const s = await requests_served(m);
  return { ...s.requests, getxattr: (s.requests['getxattr'] ?? 0) + s.getxattrBinding };
}

async function getxattrs(m: Mounted): Promise<number> {
  return (await requests(m))['getxattr'] ?? 0;
}

/** Requests of all kinds `ls -l d` made, and its listing. */
async function ls_counted(m: Mounted): Promise<{ n: number; out: string }> {
  const total = async (): Promise<number> => Object.values(await requests(m)).reduce((a, b) => a + b, 0);
  const before = await total();
  const r = await m.run('ls', ['-l', '--time-style=+%s', 'd']);
  // info --stats itself is no request of the mount's
  return { n: (await total()) - before, out: r.stdout };
}

/** getxattr requests an `ls -l` of FILES files makes, the kernel's dentries and inodes dropped first. */
async function ls_getxattrs(t: Test, m: Mounted): Promise<number> {
  t.equal((await m.sh(`mkdir d && cd d && for i in $(seq 1 ${FILES}); do : > f$i; done`)).code, 0, `${FILES} files made`);
  // what the kernel cached (attributes, ACLs) goes, so that ls asks the mount again
  fs.writeFileSync('/proc/sys/vm/drop_caches', '2');
  const before = await getxattrs(m);
  const r = await m.run('ls', ['-l', 'd']);
  t.equal(r.stdout.split('\n').filter((l) => / f\d+$/.test(l)).length, FILES, 'ls -l lists every file');
  return (await getxattrs(m)) - before;
}

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  let refused = 0, kept = 0;

  t.test('by default security.selinux is refused and not listed; other security. names are kept', async (t) => {
    const image = await image_make(t, '64M');
    const m = await mount_with(t, cowlog_server(image));
    const r = await m.sh(`: > f
      setfattr -n security.selinux -v system_u:object_r:tmp_t:s0 f 2>&1 | grep -c 'not supported'
      getfattr -n security.selinux f 2>&1 | grep -c 'not supported'
      setfattr -n security.other -v 1 f && getfattr --only-values -n security.other f; echo
      getfattr -d -m - f | grep -c selinux || true`);
    t.equal(r.stdout, '1\n1\n1\n0\n', 'set and get of security.selinux: Operation not supported; security.other kept; the list has no label', { stderr: r.stderr });
    refused = await ls_getxattrs(t, m);
    await clean_after(t, m, image);
  });

  t.test('-o selinux_xattr keeps security.selinux as any other attribute', async (t) => {
    const image = await image_make(t, '64M');
    const m = await mount_with(t, cowlog_server(image, '-o', 'selinux_xattr'));
    const r = await m.sh(`: > f && setfattr -n security.selinux -v label f && getfattr --only-values -n security.selinux f; echo
      getfattr -d -m - f | grep -c selinux`);
    t.equal(r.stdout, 'label\n1\n', 'set, get and listed', { stderr: r.stderr });
    kept = await ls_getxattrs(t, m);
    await clean_after(t, m, image);
  });

  t.test('a directory listed again asks nothing per file, and shows what changed', async (t) => {
    const image = await image_make(t, '64M');
    const m = await mount_with(t, cowlog_server(image));
    t.equal((await m.sh(`mkdir d && cd d && for i in $(seq 1 ${FILES}); do : > f$i; done`)).code, 0, `${FILES} files made`);
    const first = await ls_counted(m);
    t.ok(first.n >= FILES, `the first ls -l asks for each file's ACL: ${first.n} requests`);
    const again = await ls_counted(m);
    t.ok(again.n < 20, `listed again: ${again.n} requests for ${FILES} files`);
    t.equal(again.out, first.out, 'the same listing');
    // changes made through the mount show at once: the kernel updated or dropped what it had
    t.equal((await m.sh('printf 12345 > d/f7 && ln d/f8 d/link && rm d/f9')).code, 0, 'a write, a link and an unlink');
    const changed = (await ls_counted(m)).out.split('\n');
    const line = (name: string): string[] => changed.find((l) => l.endsWith(` ${name}`))?.split(/\s+/) ?? [];
    t.equal(line('f7')[4], '5', 'the size written');
    t.same([line('f8')[1], line('link')[1]], ['2', '2'], 'both names of the linked file count 2 links');
    t.same(line('f9'), [], 'the unlinked name is gone');
    await clean_after(t, m, image);
  });

  t.test('ls -l asks a mount without labels for none after the first', async (t) => {
    // keeping labels, ls asks for each file's label and whatever ACLs the kernel has not cached;
    // refused, only for the ACLs: at least a request a file fewer
    t.ok(kept - refused >= FILES - 5, `getxattr requests for ls -l of ${FILES} files: ${refused} refusing labels, ${kept} keeping them`);
  });
}
