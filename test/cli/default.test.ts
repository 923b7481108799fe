// `cowlog snapshot set-default` and `mark-good` on an unmounted image, tried as a new user would:
// the default tree marked in `snapshot list` and named by '@default', a trial that runs out
// (shown by `cowlog info`), a trial marked good, and the messages and exit codes of mistakes.

import t from 'tap';
import { FileDevice } from '../../src/device/file.js';
import { FileSystem } from '../../src/fs/fs.js';
import type { FsOptions } from '../../src/fs/fs.js';
import { cowlog, image_make } from '../mount/helpers.js';
import { system_a, system_b, tree_dump } from '../helpers/tree.js';

function with_fs<T>(img: string, fn: (fs: FileSystem) => T, o: FsOptions = {}): T {
  const dev = FileDevice.open(img, { readOnly: o.readOnly === true });
  try {
    const fs = FileSystem.mount(dev, o);
    try { return fn(fs); } finally { fs.unmount(); }
  } finally {
    dev.close();
  }
}

/** What a plain mount of the FUSE server would serve next (a boot), as a dump; counts a try. */
function boot(img: string): string {
  return with_fs(img, (fs) => JSON.stringify([...tree_dump(fs)]), { boot: true });
}

t.test('set-default and mark-good on an image file', async (t) => {
  const img = await image_make(t, '32M');
  const A = with_fs(img, (fs) => { system_a(fs, 60, 21); return JSON.stringify([...tree_dump(fs)]); });
  let r = await cowlog(['snapshot', 'clone', img, '@main', 'B']);
  t.equal(r.code, 0, `clone @main as B: ${r.stderr}`);
  const B = with_fs(img, (fs) => { system_b(fs, 22); return JSON.stringify([...tree_dump(fs)]); }, { snapshot: 'B' });

  r = await cowlog(['snapshot', 'list', img]);
  t.match(r.stdout, /\nboot: default @main\n$/, `list ends with the boot state: ${r.stdout.trim().split('\n').pop()}`);
  r = await cowlog(['snapshot', 'set-default', '--trial', '2', img, 'B']);
  t.equal(r.code, 0, `set-default --trial 2: ${r.stderr}`);
  t.equal(r.stdout, "default @main; B on trial, 2 of 2 mounts left (mark-good keeps it, else @main comes back)\n", 'says what happens next');
  r = await cowlog(['snapshot', 'list', img]);
  t.match(r.stdout, /\nB\s+clone \[trial, 2 of 2 left\]\s/, 'list marks B as on trial');
  r = await cowlog(['snapshot', 'list', '--json', img]);
  const j = JSON.parse(r.stdout) as { snapshots: { name: string; default: boolean; trial: unknown }[]; boot: { default: string; trial: unknown } };
  t.same([j.boot.default, j.boot.trial, j.snapshots[0]!.trial], ['@main', { tree: 'B', tries: 2, left: 2 }, { left: 2, tries: 2 }], 'list --json has the boot state');

  t.equal(boot(img), B, 'boot 1 serves B');
  t.equal(boot(img), B, 'boot 2 serves B');
  r = await cowlog(['info', img]);
  t.match(r.stdout, /\nboot {8}default @main; B on trial, 0 of 2 mounts left/, 'info: no mount left');
  t.equal(boot(img), A, 'boot 3 falls back to A');
  r = await cowlog(['info', img]);
  t.match(r.stdout, /\nboot {8}default @main; the trial of B ran out after 2 mounts without mark-good, so @main is served again\n/, 'info says the trial ran out');
  r = await cowlog(['info', '--json', img]);
  t.same((JSON.parse(r.stdout) as { boot: unknown }).boot, {
    default: '@main', trial: null, fellBack: { tree: 'B', tries: 2 },
    text: 'default @main; the trial of B ran out after 2 mounts without mark-good, so @main is served again',
  }, 'info --json too');
  r = await cowlog(['snapshot', 'mark-good', img]);
  t.equal(r.code, 1, 'mark-good after the trial ran out: exit 1');
  t.equal(r.stderr, 'cowlog snapshot mark-good: no tree is on trial (the default is @main)\n', 'one line saying why');

  r = await cowlog(['snapshot', 'set-default', '--trial', '1', img, 'B']);
  t.equal(r.code, 0, 'a second trial');
  t.equal(boot(img), B, 'its boot serves B');
  r = await cowlog(['snapshot', 'mark-good', img]);
  t.equal(r.code, 0, `mark-good on the device: ${r.stderr}`);
  t.equal(r.stdout, 'B is the default now\n', 'B is kept');
  t.equal(boot(img), B, 'from now on B is served');
  r = await cowlog(['snapshot', 'list', img]);
  t.match(r.stdout, /\nB\s+clone \[default\]\s/, 'list marks B as the default');
  t.match(r.stdout, /\nboot: default B\n$/, 'and says so');
  r = await cowlog(['snapshot', 'diff', img, '@main', '@default']);
  t.equal(r.code, 0, "diff names the default tree '@default'");
  t.match(r.stdout, /^\+ \/etc\/new\.d$/m, 'and shows what B added');

  r = await cowlog(['snapshot', 'set-default', img, '@main']);
  t.equal([r.code, r.stdout].join(' '), '0 default @main\n', "set-default '@main' (no trial)");
  t.equal(boot(img), A, 'A is served again');

  r = await cowlog(['snapshot', 'create', img, 'ro']);
  for (const [args, code, re] of [
    [['snapshot', 'set-default', img], 2, /^cowlog snapshot: missing NAME \(try cowlog snapshot --help\)\n$/],
    [['snapshot', 'set-default', '--trial', '0', img, 'B'], 2, /--trial 0: the number of mounts the trial gets, 1 to 65535/],
    [['snapshot', 'set-default', '--trial', 'x', img, 'B'], 2, /--trial x: the number of mounts/],
    [['snapshot', 'set-default', img, 'B', 'C'], 2, /unexpected argument 'C'/],
    [['snapshot', 'mark-good', img, 'B'], 2, /unexpected argument 'B'/],
    [['snapshot', 'set-default', img, 'ro'], 1, /^cowlog snapshot set-default ro: "ro" is a read-only snapshot and a plain mount is read-write: clone it \('cowlog snapshot clone TARGET ro NEW'\) and make the clone the default\n$/],
    [['snapshot', 'set-default', img, 'nope'], 1, /no snapshot named "nope" \(there are: B, ro\)/],
    [['snapshot', 'set-default', '--trial', '3', img, '@main'], 1, /@main is the default already \(set-default without --trial ends a pending trial\)/],
  ] as [string[], number, RegExp][]) {
    r = await cowlog(args);
    t.equal(r.code, code, `${args.slice(1).join(' ')}: exit ${code}`);
    t.match(r.stderr, re, 'with the reason');
  }
  r = await cowlog(['snapshot', 'set-default', img, 'B']);
  r = await cowlog(['snapshot', 'delete', img, 'B']);
  t.equal(r.code, 1, 'the default cannot be deleted');
  t.match(r.stderr, /"B" is the default tree: make another tree the default first/, 'saying what to do');
  r = await cowlog(['snapshot', '--help']);
  t.match(r.stdout, /set-default \[--trial N\] TARGET NAME/, '--help lists set-default');
  t.match(r.stdout, /mark-good TARGET/, 'and mark-good');
  r = await cowlog(['fsck', '-n', img]);
  t.equal(r.code, 0, `fsck clean: ${r.stdout.trim()}`);
});
