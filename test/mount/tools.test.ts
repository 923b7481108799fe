// Ordinary tools on a cowlog mount: cp -a of a real source tree (part of the project's
// node_modules) into the mount and back out, tar round trips with hard links, sparse files and
// special files, git init/add/commit/gc, and rsync -a keeping times and modes.

import t from 'tap';
import type { Test } from 'tap';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fuse_unavailable, mount_with } from '../helpers/fusemount.js';
import type { Mounted } from '../helpers/fusemount.js';
import { clean_after, cowlog_server, image_make, ROOT, SOAK, tmp_dir } from './helpers.js';

/** The part of node_modules copied: many small files, a few large ones, symlinks (.bin). */
const TREE = SOAK ? ['.'] : ['@tapjs', 'typescript', 'vega-lite', '@types', '.bin'];

/**
 * One line per entry below '.': path, type, mode, size (not of directories: ext4 and cowlog size
 * them differently), mtime in ns, symlink target; no atime, ctime or inode numbers.
 */
const LISTING = `find . -mindepth 1 \\( -type d -printf '%p %y %m %T@\\n' \\) -o \\( ! -type d -printf '%p %y %m %s %T@ %l\\n' \\) | sort`;

async function bash(t: Test, m: Mounted, script: string, timeoutMs = 180_000): Promise<string> {
  const r = await m.run('bash', ['-c', `set -e -o pipefail\n${script}`], { timeoutMs });
  t.equal(r.code, 0, 'the script runs', { output: r.stderr.slice(-2000) + r.stdout.slice(-1000) });
  return r.stdout;
}

const skip = await fuse_unavailable();
if (skip !== undefined) {
  t.plan(0, skip);
} else {
  execFileSync('bash', [path.join(ROOT, 'tools/ensure-packages.sh'), 'rsync', 'git'], { stdio: ['ignore', 'ignore', 'inherit'] });

  t.test('cp -a of a source tree into the mount and back out is identical', async (t) => {
    const image = await image_make(t, SOAK ? '1G' : '256M');
    const m = await mount_with(t, cowlog_server(image));
    const out = tmp_dir(t);
    const src = path.join(ROOT, 'node_modules');
    const list = TREE.map((d) => `'${d}'`).join(' ');
    const res = await bash(t, m, `
      mkdir in; (cd ${src} && cp -a --parents ${list} ${m.mountpoint}/in/)
      cp -a in ${out}/back
      diff -r --no-dereference -q ${src}/${TREE[0]} in/${TREE[0]} && echo diff-in same
      for d in ${list}; do diff -r --no-dereference -q "${src}/$d" "${out}/back/$d"; done && echo diff-back same
      (cd ${src} && for d in ${list}; do (${LISTING.replace('.', '"$d"')}); done) > ${out}/src.list
      (cd ${out}/back && for d in ${list}; do (${LISTING.replace('.', '"$d"')}); done) > ${out}/back.list
      (cd in && for d in ${list}; do (${LISTING.replace('.', '"$d"')}); done) > ${out}/in.list
      cmp ${out}/src.list ${out}/in.list && echo meta-in same
      cmp ${out}/src.list ${out}/back.list && echo meta-back same
      echo files "$(wc -l < ${out}/src.list)"
    `);
    t.match(res, /diff-in same/, 'the copy in the mount has the same contents');
    t.match(res, /diff-back same/, 'the copy back out has the same contents');
    t.match(res, /meta-in same/, 'types, modes, sizes, nanosecond mtimes and symlink targets are kept in the mount');
    t.match(res, /meta-back same/, 'and on the way back out');
    const files = Number(/files (\d+)/.exec(res)?.[1] ?? 0);
    t.ok(files > 2000, `${files} entries copied`);
    await clean_after(t, m, image);
  });

  t.test('tar c / tar x round trip with hard links, a sparse file, special files and odd modes', async (t) => {
    const image = await image_make(t, '128M');
    const m = await mount_with(t, cowlog_server(image));
    const work = tmp_dir(t);
    const res = await bash(t, m, `
      mkdir ${work}/src && cd ${work}/src
      mkdir -p a/b/c; echo one > a/one; ln a/one a/b/hard; ln a/one a/b/c/hard2
      dd if=/dev/urandom of=rand bs=1k count=700 status=none
      truncate -s 20M sparse; printf tail >> sparse; dd if=/dev/urandom of=sparse bs=4k seek=100 count=3 conv=notrunc status=none
      ln -s a/one sl; mkfifo fifo; chmod 1751 a/b; chmod 4755 rand; chmod 000 a/b/c/hard2; touch -d '1975-05-05 05:05:05.5' a/one
      cd ${m.mountpoint}; mkdir x; tar c -C ${work}/src --sparse --format=posix . | tar x -C x
      diff -r --no-dereference -x fifo ${work}/src x && echo diff same
      (cd ${work}/src && ${LISTING}) > ${work}/l1; (cd x && ${LISTING}) > ${work}/l2; cmp ${work}/l1 ${work}/l2 && echo meta same
      echo links "$(stat -c %h x/a/one)" "$(stat -c %i x/a/one x/a/b/hard x/a/b/c/hard2 | sort -u | wc -l)"
      echo sparse "$(stat -c '%s %b' x/sparse)"
      mkdir ${work}/back; tar c -C x --sparse --format=posix . | tar x -C ${work}/back; diff -r --no-dereference -x fifo ${work}/src ${work}/back && echo back same
    `);
    t.match(res, /diff same/, 'tar x into the mount: identical contents');
    t.match(res, /meta same/, 'and identical types, modes, sizes, mtimes');
    t.match(res, /links 3 1/, 'the three hard links are one inode with link count 3');
    t.match(res, /sparse 20971524 (\d+)/, 'the sparse file has its size');
    const blocks = Number(/sparse \d+ (\d+)/.exec(res)?.[1] ?? -1);
    t.ok(blocks >= 24 && blocks <= 40, `and only its written blocks (${blocks} × 512 bytes)`);
    t.match(res, /back same/, 'tar c out of the mount: identical again');
    await clean_after(t, m, image);
  });

  t.test('git init, add, commit, branch, gc and fsck inside the mount', async (t) => {
    const image = await image_make(t, '128M');
    const m = await mount_with(t, cowlog_server(image));
    const res = await bash(t, m, `
      export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.org HOME=/tmp
      git init -q -b main repo && cd repo
      cp -r ${ROOT}/src ${ROOT}/docs .
      git add -A && git commit -q -m first
      git checkout -q -b other && git mv docs documentation && echo more >> src/fuse/ops.ts && git commit -qam second
      git checkout -q main && test -d docs && test ! -d documentation && echo checkout ok
      git merge -q other && test -d documentation && echo merge ok
      git gc -q && git fsck --full --strict 2>&1 && echo fsck ok
      echo status "$(git status --porcelain | wc -l)"
      echo commits "$(git rev-list --count HEAD)"
      git diff --stat HEAD~1 HEAD -- src/fuse/ops.ts | tail -1
    `);
    t.match(res, /checkout ok/, 'git checkout switches trees');
    t.match(res, /merge ok/, 'git merge');
    t.match(res, /fsck ok/, 'git gc and git fsck --full --strict');
    t.match(res, /status 0/, 'the work tree is clean');
    t.match(res, /commits 2/, 'two commits');
    t.match(res, /1 insertion/, 'the change is there');
    await clean_after(t, m, image);
  });

  t.test('rsync -a keeps times and modes: a second run finds nothing to do', async (t) => {
    const image = await image_make(t, '128M');
    const m = await mount_with(t, cowlog_server(image));
    const work = tmp_dir(t);
    const res = await bash(t, m, `
      cp -a ${ROOT}/src ${ROOT}/docs ${work}/; chmod 640 ${work}/docs/*.md; chmod 2750 ${work}/src/fuse; touch -d '2002-02-02 02:02:02.123456789' ${work}/src/fs/fs.ts
      rsync -a ${work}/ rs/
      echo again "$(rsync -a --itemize-changes ${work}/ rs/ | wc -l)"
      (cd ${work} && ${LISTING}) > ${work}.l1; (cd rs && ${LISTING}) > ${work}.l2; cmp ${work}.l1 ${work}.l2 && echo meta same; rm -f ${work}.l1 ${work}.l2
      echo ns "$(stat -c %y rs/src/fs/fs.ts)"
      rsync -a --delete rs/ ${work}/ --itemize-changes | wc -l | sed 's/^/back /'
    `);
    t.match(res, /again 0/, 'a second rsync -a transfers nothing: every time and mode was kept');
    t.match(res, /meta same/, 'types, modes, sizes and nanosecond mtimes are equal');
    t.match(res, /ns 2002-02-02 02:02:02.123456789/, 'to the nanosecond');
    t.match(res, /back 0/, 'and rsync from the mount back to the source finds nothing to do');
    await clean_after(t, m, image);
  });
}
