// cowlog through FUSE as ordinary tools see it: the kata, names, links, renames, special files,
// attributes, times, extended attributes, O_APPEND, sparse files, statfs, files unlinked while
// open, and permissions enforced by the kernel for other users. Each mount ends with fsck. All
// of it twice: on the default mount and with the kernel's writeback cache (-o writeback_cache).

import t from 'tap';
import type { Test } from 'tap';
import { as_user, fuse_unavailable, mount_with } from '../helpers/fusemount.js';
import type { Mounted } from '../helpers/fusemount.js';
import { clean_after, cowlog_server, image_make, MOUNT_KINDS, ROOT, tmp_dir } from './helpers.js';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

/** Runs a bash script in the mount; fails the test with its stderr if it does not exit 0. */
async function bash(t: Test, m: Mounted, script: string, opts: { cwd?: string } = {}): Promise<string> {
  const r = await m.run('bash', ['-c', `set -e\n${script}`], { timeoutMs: 60_000, ...opts });
  t.equal(r.code, 0, 'the script runs', { stderr: r.stderr, stdout: r.stdout });
  return r.stdout;
}

/** "key value..." lines of a script's output as a map. */
function kv(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0) m.set(line.slice(0, sp), line.slice(sp + 1));
  }
  return m;
}

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  execFileSync('bash', [path.join(ROOT, 'tools/ensure-packages.sh'), 'attr'], { stdio: ['ignore', 'ignore', 'inherit'] });

  // each test on the default mount, then with the kernel's writeback cache
  for (const [label, opts] of MOUNT_KINDS) {
    t.test('the kata: a hard link shows one inode twice with link count 2, rm leaves 1' + label, async (t) => {
      const image = await image_make(t);
      const m = await mount_with(t, cowlog_server(image, ...opts));
      // verbatim: bash -c "cd MNT && touch a && ln a b && ls -li"
      const r = await m.run('bash', ['-c', `cd ${m.mountpoint} && touch a && ln a b && ls -li`], { cwd: '/' });
      t.equal(r.code, 0, 'touch, ln and ls -li run', { stderr: r.stderr });
      const rows = r.stdout.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
      t.equal(rows.length, 2, 'two names listed');
      t.same(rows.map((f) => f[9]), ['a', 'b'], 'a and b');
      t.equal(rows[0]![0], rows[1]![0], `one inode number twice (${rows[0]![0]})`);
      t.same(rows.map((f) => f[2]), ['2', '2'], 'link count 2 through both names');
      const r2 = await m.run('bash', ['-c', `cd ${m.mountpoint} && rm b && ls -li`], { cwd: '/' });
      const rest = r2.stdout.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
      t.equal(rest.length, 1, 'rm b leaves one name');
      t.equal(rest[0]![9], 'a', 'a');
      t.equal(rest[0]![2], '1', 'with link count 1');
      t.equal(rest[0]![0], rows[0]![0], 'and the same inode number');
      const e = await m.sh('echo hello > a && cat a');
      t.equal(e.stdout, 'hello\n', 'echo hello > a && cat a round-trips');
      await clean_after(t, m, image);
    });

    t.test('names: renames over files and empty directories, across parents, ENOTEMPTY, links, symlinks, special files' + label, async (t) => {
      const image = await image_make(t);
      const m = await mount_with(t, cowlog_server(image, ...opts));
      const out = kv(await bash(t, m, `
      mkdir d1 d2; echo x > d1/f; mv d1/f d2/g; echo across "$(cat d2/g)" "$(ls d1 | wc -l)"
      echo 1 > p; echo 2 > q; exec 3<q; mv p q; echo overfile "$(cat q)" "$(cat <&3)"; exec 3<&-
      mkdir e1 e2; touch e1/x; mv -T e1 e2; echo overdir "$(ls e2)" "$(ls -d e1 2>/dev/null | wc -l)"
      mkdir f1 f2; touch f2/y
      mv -T f1 f2 2>/dev/null && echo notempty renamed || echo notempty refused
      python3 -c 'import os
try: os.rename("f1", "f2")
except OSError as e: print("renameerr", e.errno == 39 and "ENOTEMPTY" or e.errno)'
      rmdir f2 2>/dev/null && echo rmdir removed || echo rmdir refused
      mkdir -p p1/c/deep p2; mv p1/c p2/; echo dirmove "$(ls p2)" "$(stat -c %h p1)" "$(stat -c %h p2)" "$(ls p2/c)"
      python3 -c 'import os
try: os.rename("p2", "p2/c/deep/x")
except OSError as e: print("intoself", e.errno == 22 and "EINVAL" or e.errno)'
      python3 -c 'import os
try: os.rename("d2/g", "p2")
except OSError as e: print("fileoverdir", e.errno == 21 and "EISDIR" or e.errno)'
      touch h1; ln h1 h2; ln h2 h3; echo links "$(stat -c %h h1)" "$(stat -c %i h1)" "$(stat -c %i h3)"
      python3 -c 'import os; os.rename("h3", "h1")'; echo linkrename "$(stat -c %h h1)" "$(ls h* | tr '\\n' ' ')"
      ln -s ../target sl; echo symlink "$(readlink sl)" "$(stat -c %F sl)" "$(stat -c %s sl)"
      ln -s "$(printf 'L%.0s' $(seq 3000))" longsl; echo longsymlink "$(readlink longsl | wc -c)"
      mkfifo ff; echo fifo "$(stat -c %F ff)"
      mknod cdev c 1 3; echo chardev "$(stat -c '%F %t %T' cdev)"
      python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.bind("sock")'; echo socket "$(stat -c %F sock)"
      touch "$(printf 'n%.0s' $(seq 255))" && echo name255 ok
      touch "$(printf 'n%.0s' $(seq 256))" 2>/dev/null && echo name256 created || echo name256 refused
      touch 'sp ace' 'uni-ü€' && echo odd "$(ls | grep -c 'sp ace\\|uni-ü€')"
      mkdir dd; rmdir dd; echo rmdirempty "$(ls -d dd 2>/dev/null | wc -l)"
      echo dots "$(ls -a p2 | head -2 | tr '\\n' ' ')" "$(python3 -c 'import os; print(sorted(e.name for e in os.scandir("p2"))[:1], os.stat("p2/c/..").st_ino == os.stat("p2").st_ino)')"
    `));
      t.equal(out.get('across'), 'x 0', 'a file moves across directories');
      t.equal(out.get('overfile'), '1 2', 'rename over a file replaces it; an open descriptor keeps the old content');
      t.equal(out.get('overdir'), 'x 0', 'a directory renames over an empty one');
      t.equal(out.get('notempty'), 'refused', 'not over a non-empty one');
      t.equal(out.get('renameerr'), 'ENOTEMPTY', 'which is ENOTEMPTY');
      t.equal(out.get('rmdir'), 'refused', 'rmdir of a non-empty directory is refused');
      t.equal(out.get('dirmove'), 'c 2 3 deep', 'a directory moves across parents; both link counts follow');
      t.equal(out.get('intoself'), 'EINVAL', 'a directory can not move below itself');
      t.equal(out.get('fileoverdir'), 'EISDIR', 'a file can not replace a directory');
      const links = out.get('links')!.split(' ');
      t.equal(links[0], '3', 'three names, link count 3');
      t.equal(links[1], links[2], 'one inode number');
      t.equal(out.get('linkrename'), '3 h1 h2 h3 ', 'renaming one name of an inode over another of the same inode does nothing (POSIX)');
      t.equal(out.get('symlink'), '../target symbolic link 9', 'symlink, readlink, size');
      t.equal(out.get('longsymlink'), '3001', 'a 3000-byte symlink target');
      t.equal(out.get('fifo'), 'fifo', 'mkfifo');
      t.equal(out.get('chardev'), 'character special file 1 3', 'mknod c 1 3');
      t.equal(out.get('socket'), 'socket', 'a Unix socket');
      t.equal(out.get('name255'), 'ok', 'a 255-byte name');
      t.equal(out.get('name256'), 'refused', 'a 256-byte name is ENAMETOOLONG');
      t.equal(out.get('odd'), '2', 'names with spaces and UTF-8');
      t.equal(out.get('rmdirempty'), '0', 'rmdir of an empty directory');
      t.equal(out.get('dots'), ". ..  ['c'] True", "readdir lists . and .., and .. is the parent");
      await clean_after(t, m, image);
    });

    t.test('attributes: modes, owners, nanosecond times, xattrs, O_APPEND, sparse files, statfs' + label, async (t) => {
      const image = await image_make(t, '128M');
      const m = await mount_with(t, cowlog_server(image, ...opts));
      const out = kv(await bash(t, m, `
      touch f; chmod 4751 f; echo mode "$(stat -c %a f)"
      chown 1234:5678 f; echo owner "$(stat -c '%u %g %a' f)"
      touch -d '2001-02-03 04:05:06.123456789' f; echo both "$(stat -c '%x|%y' f)"
      touch -m -d '1999-01-01 00:00:00.5' f; echo mtime "$(stat -c '%x|%y' f)"
      touch -a -d '1960-06-07 08:09:10.25' f; echo atime "$(stat -c '%x|%y' f)"
      c1=$(stat -c %Z f); sleep 1.1; chmod 600 f; c2=$(stat -c %Z f); [ "$c2" -gt "$c1" ] && echo ctime moves
      setfattr -n user.colour -v blue f; setfattr -n user.empty f; setfattr -n trusted.t -v 1 f
      echo xattr "$(getfattr --only-values -n user.colour f)" "$(getfattr -d -m - f | grep -c =)"
      setfattr -x user.colour f; getfattr -n user.colour f 2>/dev/null || echo xattrgone yes
      setfattr -n system.posix_acl_access -v 0 f 2>/dev/null || echo acl refused
      python3 -c 'import os
os.setxattr("f", "user.x", b"1", os.XATTR_CREATE)
try: os.setxattr("f", "user.x", b"2", os.XATTR_CREATE)
except OSError as e: print("xcreate", e.errno == 17 and "EEXIST" or e.errno)
try: os.setxattr("f", "user.nope", b"2", os.XATTR_REPLACE)
except OSError as e: print("xreplace", e.errno == 61 and "ENODATA" or e.errno)'
      echo a > ap; echo b >> ap; printf c >> ap; echo append "$(cat ap | tr '\\n' .)"
      exec 4>>ap2; printf 12345 > ap2; printf x >&4; exec 4>&-; echo append2 "$(cat ap2)"
      dd if=/dev/urandom of=sp bs=4k seek=1000 count=2 status=none; echo sparse "$(stat -c '%s %b' sp)" "$(cmp -n 4096000 sp /dev/zero && echo zeros)"
      truncate -s 1G big; echo bigsparse "$(stat -c '%s %b' big)"
      dd if=/dev/zero of=big bs=64k seek=8192 count=1 conv=notrunc status=none; echo bigwrite "$(stat -c '%s %b' big)"
      dd if=/dev/urandom of=full bs=1M count=3 status=none; echo full "$(stat -c '%s %b' full)"
      truncate -s 5000 full; echo shrunk "$(stat -c '%s %b' full)"
      printf tiny > tiny; echo tiny "$(stat -c '%s %b' tiny)"
      echo statfs "$(stat -f -c '%S %l' .)"
    `));
      t.equal(out.get('mode'), '4751', 'chmod keeps set-user-ID');
      t.equal(out.get('owner'), '1234 5678 751', 'chown, which clears set-user-ID as on ext4');
      t.equal(out.get('both'), '2001-02-03 04:05:06.123456789 +0000|2001-02-03 04:05:06.123456789 +0000', 'touch -d sets both times to the nanosecond');
      t.equal(out.get('mtime'), '2001-02-03 04:05:06.123456789 +0000|1999-01-01 00:00:00.500000000 +0000', 'touch -m sets mtime only');
      t.equal(out.get('atime'), '1960-06-07 08:09:10.250000000 +0000|1999-01-01 00:00:00.500000000 +0000', 'touch -a sets atime only, before 1970 too');
      t.equal(out.get('ctime'), 'moves', 'chmod moves ctime');
      t.equal(out.get('xattr'), 'blue 3', 'user. and trusted. attributes, an empty value too');
      t.equal(out.get('xattrgone'), 'yes', 'removexattr');
      t.equal(out.get('acl'), 'refused', 'POSIX ACLs are refused (not enforced through libfuse 2)');
      t.equal(out.get('xcreate'), 'EEXIST', 'XATTR_CREATE on an existing name');
      t.equal(out.get('xreplace'), 'ENODATA', 'XATTR_REPLACE on a missing name');
      t.equal(out.get('append'), 'a.b.c', 'O_APPEND appends');
      t.equal(out.get('append2'), '12345x', 'an O_APPEND descriptor writes at the end the file has now');
      t.equal(out.get('sparse'), '4104192 16 zeros', 'a hole costs no blocks and reads as zeros');
      t.equal(out.get('bigsparse'), '1073741824 0', 'a 1 GiB sparse file has no blocks');
      t.equal(out.get('bigwrite'), '1073741824 128', 'a write in it counts only its blocks');
      t.equal(out.get('full'), '3145728 6144', 'a written file counts all its blocks');
      t.equal(out.get('shrunk'), '5000 16', 'truncate releases the blocks past the end');
      t.equal(out.get('tiny'), '4 1', 'a small file kept inline counts its bytes');
      t.equal(out.get('statfs'), '4096 255', 'statfs: 4 KiB blocks, 255-byte names');
      await clean_after(t, m, image);
    });

    t.test('names are bytes: names that are not UTF-8 survive, in directories, links, symlinks and xattrs' + label, async (t) => {
      const image = await image_make(t);
      const m = await mount_with(t, cowlog_server(image, ...opts));
      const work = tmp_dir(t);
      const out = kv(await bash(t, m, `
      mkdir $'d\\xe9j\\xe0'; touch $'d\\xe9j\\xe0/\\xff\\xfe\\x80' $'caf\\xc3\\xa9'; ln -s $'\\xe9\\x80tarball' $'sym\\xff'
      echo listing "$(ls -A | od -An -tx1 | tr -s ' \\n' ' ')"
      echo inner "$(ls $'d\\xe9j\\xe0' | od -An -tx1 | tr -d ' \\n')"
      echo target "$(readlink $'sym\\xff' | od -An -tx1 | tr -d ' \\n')"
      setfattr -n $'user.\\xe9t\\xe9' -v 1 $'caf\\xc3\\xa9'; echo xattr "$(getfattr -d -e hex $'caf\\xc3\\xa9' | grep -c '^user')"
      python3 -c 'import os; print("xname", os.listxattr(os.fsencode("caf\\u00e9"))[0].encode("utf-8", "surrogateescape").hex())'
      tar c --format=posix . | tar x -C ${work}; diff -r --no-dereference . ${work} && echo tar same
      mv $'d\\xe9j\\xe0' $'\\xfd'; echo moved "$(ls $'\\xfd' | od -An -tx1 | tr -d ' \\n')"
    `));
      t.equal(out.get('listing'), ' 63 61 66 c3 a9 0a 64 e9 6a e0 0a 73 79 6d ff 0a ', 'readdir returns the bytes given: UTF-8 café, Latin-1 déjà, sym\\xff');
      t.equal(out.get('inner'), 'fffe800a', 'a name that is no text at all');
      t.equal(out.get('target'), 'e98074617262616c6c0a', 'a symlink target that is not UTF-8');
      t.equal(out.get('xattr'), '1', 'an xattr whose name is not UTF-8');
      t.equal(out.get('xname'), '757365722ee974e9', 'listxattr gives its bytes back');
      t.equal(out.get('tar'), 'same', 'tar out of the mount and back: identical names');
      t.equal(out.get('moved'), 'fffe800a', 'rename to another such name');
      await clean_after(t, m, image);
    });

    t.test('files unlinked while open, descriptors that follow renames, rmdir around them' + label, async (t) => {
      const image = await image_make(t);
      const m = await mount_with(t, cowlog_server(image, ...opts));
      const out = kv(await bash(t, m, `
      exec 3<>gone; echo data >&3; rm gone
      echo hidden "$(ls -A | grep -c fuse_hidden || true)"
      echo reads "$(cat /proc/self/fd/3)" "$(stat -L -c 'nlink=%h size=%s' /proc/self/fd/3)"
      echo more >&3; echo still "$(cat /proc/self/fd/3 | tr '\\n' .)"
      exec 3>&-; echo after "$(ls -A | wc -l)"
      mkdir h; exec 4>h/f; rm h/f; rmdir h && echo rmdiropen ok; echo x >&4; exec 4>&-
      exec 5>w1; mv w1 w2; mkdir sub; mv w2 sub/w3; echo hi >&5; exec 5>&-; echo follow "$(cat sub/w3)"
      echo 1 > r1; echo 2 > r2; exec 6<r2; mv r1 r2; echo overopen "$(cat r2)" "$(cat <&6)" "$(ls -A | grep -c fuse_hidden || true)"; exec 6<&-
    `));
      t.equal(out.get('hidden'), '0', 'no .fuse_hidden name appears');
      t.equal(out.get('reads'), 'data nlink=0 size=5', 'the open file reads on, with link count 0');
      t.equal(out.get('still'), 'data.more.', 'and takes writes');
      t.equal(out.get('after'), '0', 'nothing is left once closed');
      t.equal(out.get('rmdiropen'), 'ok', 'its directory can be removed while it is open');
      t.equal(out.get('follow'), 'hi', 'a descriptor writes to its file wherever it was renamed');
      t.equal(out.get('overopen'), '1 2 0', 'a rename over an open file: the name takes the new file, the descriptor keeps the old');
      await clean_after(t, m, image);
    });

    t.test('permissions: default_permissions for other users, umask, set-group-ID directories' + label, async (t) => {
      if (process.getuid?.() !== 0) { t.comment('skipped: needs root to run clients as other users'); return; }
      const image = await image_make(t);
      const m = await mount_with(t, cowlog_server(image, ...opts));
      await bash(t, m, 'mkdir priv pub sg; chmod 700 priv; echo secret > priv/s; chmod 1777 pub; echo ro > ro; chmod 644 ro; chgrp 100 sg; chmod 2775 sg');
      const other = async (script: string): Promise<string> => {
        const [cmd, args] = as_user(65534, 65534, 'bash', ['-c', `umask 027; cd ${m.mountpoint}; ${script}`]);
        const r = await m.run(cmd, args, { cwd: '/', timeoutMs: 30_000 });
        return r.stdout + r.stderr;
      };
      t.match(await other('ls priv'), /Permission denied/, 'a 0700 directory of root is closed to nobody');
      t.match(await other('cat priv/s'), /Permission denied/, 'and what is in it');
      t.match(await other('echo x >> ro'), /Permission denied/, 'a 0644 file of root is read-only to nobody');
      t.equal(await other('cat ro'), 'ro\n', 'but readable');
      t.equal(await other('touch pub/mine && stat -c "%u %g %a" pub/mine'), '65534 65534 640\n', 'a new file is the creator\'s, with the umask applied');
      t.equal(await other('mkdir pub/d && stat -c "%u %g %a" pub/d'), '65534 65534 750\n', 'a new directory too');
      t.match(await other('rm ro'), /Permission denied/, 'no unlink in a directory nobody can not write');
      t.match(await other('chmod 777 ro'), /Operation not permitted/, 'no chmod of another\'s file');
      const sg = await bash(t, m, 'touch sg/f; mkdir sg/d; stat -c "%g %a" sg/f sg/d');
      t.equal(sg, '100 644\n100 2755\n', 'under a set-group-ID directory: the directory\'s group, and subdirectories inherit the bit');
      await clean_after(t, m, image);
    });
  }
}
