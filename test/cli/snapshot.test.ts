// `cowlog snapshot` on an unmounted image, tried as a new user would: create, list, diff,
// rollback, clone, delete, and the messages and exit codes of mistakes.

import t from 'tap';
import { FileDevice } from '../../src/device/file.js';
import { FileSystem } from '../../src/fs/fs.js';
import { cowlog, image_make } from '../mount/helpers.js';
import { dump_diff, system_a, system_b, tree_dump } from '../helpers/tree.js';

function with_fs<T>(img: string, fn: (fs: FileSystem) => T, readOnly = false): T {
  const dev = FileDevice.open(img, { readOnly });
  try {
    const fs = FileSystem.mount(dev, { readOnly });
    try { return fn(fs); } finally { fs.unmount(); }
  } finally {
    dev.close();
  }
}

t.test('snapshot commands on an image file', async (t) => {
  const img = await image_make(t, '32M');
  const A = with_fs(img, (fs) => { system_a(fs, 80, 11); return tree_dump(fs); });

  let r = await cowlog(['snapshot', 'create', img, 'A', 'A.copy']);
  t.equal(r.code, 0, `create two snapshots: ${r.stderr}`);
  r = await cowlog(['snapshot', 'create', img, 'A']);
  t.equal(r.code, 1, 'a duplicate name: exit 1');
  t.match(r.stderr, /cowlog snapshot create A: a snapshot named "A" exists already/, 'saying so');
  r = await cowlog(['snapshot', 'create', img, 'bad/name']);
  t.equal(r.code, 1, 'a bad name: exit 1');
  t.match(r.stderr, /use letters, digits and \. _ - \+ :/, 'saying which names are allowed');

  const B = with_fs(img, (fs) => { system_b(fs, 12); return tree_dump(fs); });
  r = await cowlog(['snapshot', 'list', img]);
  t.equal(r.code, 0, 'list');
  t.match(r.stdout, /^NAME\s+TYPE\s+CREATED\s+CHECKPOINT\s+FREES\s+FROM\n/, 'a table with a header');
  t.match(r.stdout, /\nA\s+snapshot\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d+\s+[\d.]+ (B|KiB|MiB)\s+@main\n/, 'a row per snapshot');
  t.match(r.stdout, /2 snapshots; together they hold [\d.]+ (KiB|MiB) that the live tree does not/, 'and what they hold');
  r = await cowlog(['snapshot', 'list', '--json', img]);
  const j = JSON.parse(r.stdout) as { snapshots: { name: string; exclusiveBytes: number }[]; heldBytes: number };
  t.same(j.snapshots.map((s) => s.name), ['A', 'A.copy'], 'list --json');
  t.ok(j.heldBytes > 0, `the snapshots hold ${j.heldBytes} bytes since B was made`);
  t.equal(j.snapshots[0]!.exclusiveBytes, 0, 'neither alone (they share everything)');

  r = await cowlog(['snapshot', 'diff', img, 'A', '@live']);
  t.equal(r.code, 0, 'diff');
  const lines = r.stdout.trim().split('\n');
  t.ok(lines.some((l) => l.startsWith('+ /etc/new.d')) && lines.some((l) => l.startsWith('- ')) && lines.some((l) => l.startsWith('M ')), `${lines.length} lines of +, - and M`);
  t.same(lines.filter((l) => !/^[+\-M] \//.test(l)), [], 'every line is a mark and a path');

  r = await cowlog(['snapshot', 'rollback', img, 'A']);
  t.equal(r.code, 0, `rollback: ${r.stderr}`);
  const kept = /kept as (before-rollback-\d+)/.exec(r.stdout)?.[1];
  t.ok(kept, `says where the replaced tree is: ${r.stdout.trim()}`);
  t.same(dump_diff(A, with_fs(img, tree_dump, true)), [], 'the image holds system A again');
  r = await cowlog(['snapshot', 'rollback', img, kept!]);
  t.equal(r.code, 0, 'roll forward');
  t.same(dump_diff(B, with_fs(img, tree_dump, true)), [], 'and B again');

  r = await cowlog(['snapshot', 'clone', img, 'A', 'work']);
  t.equal(r.code, 0, 'clone');
  r = await cowlog(['snapshot', 'list', img]);
  t.match(r.stdout, /\nwork\s+clone\s.*\sA\n/, 'the clone is listed, from A');
  r = await cowlog(['snapshot', 'delete', img, 'A.copy', 'nope']);
  t.equal(r.code, 1, 'delete of an existing and an unknown name: exit 1');
  t.match(r.stderr, /cowlog snapshot delete nope: no snapshot named "nope" \(there are: A, /, 'naming the unknown one and those that exist');
  r = await cowlog(['snapshot', 'list', '--json', img]);
  t.notOk((JSON.parse(r.stdout) as { snapshots: { name: string }[] }).snapshots.some((s) => s.name === 'A.copy'), 'the existing one was deleted');

  for (const [args, re] of [
    [['snapshot'], /missing subcommand/],
    [['snapshot', 'frob', img], /unknown subcommand 'frob'/],
    [['snapshot', 'create', img], /missing NAME/],
    [['snapshot', 'clone', img, 'A'], /missing NEW/],
    [['snapshot', 'rollback', '--force', img, 'A'], /unknown option --force/],
  ] as [string[], RegExp][]) {
    r = await cowlog(args);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, re, 'with the reason');
  }
  r = await cowlog(['snapshot', 'list', '/nonexistent/x.img']);
  t.equal(r.code, 1, 'a missing target: exit 1');
  t.match(r.stderr, /no such device, image file or cowlog mountpoint/, 'saying so');
  r = await cowlog(['fsck', '-n', img]);
  t.equal(r.code, 0, `fsck clean: ${r.stdout.trim()}`);
  r = await cowlog(['info', img]);
  t.match(r.stdout, /\nsnapshots {3}4 \(1 clones\), holding /, 'cowlog info shows the snapshots');
});
