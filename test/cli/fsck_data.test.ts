// `cowlog fsck` on an image whose file data is damaged, tried as a new user would: a plain fsck
// checks metadata only and says so ("metadata clean; file data not checked (--data)"), never a
// bare "clean"; --data reads every data block and reports the one that fails its CRC32C.

import t from 'tap';
import { FileDevice } from '../../src/device/file.js';
import { FileSystem } from '../../src/fs/fs.js';
import { key, map_decode, RecKind } from '../../src/format/records.js';
import { cowlog, image_make } from '../mount/helpers.js';

t.test('fsck without --data says file data was not checked; --data finds the damage', async (t) => {
  const img = await image_make(t, '32M');
  const dev = FileDevice.open(img);
  let addr: number;
  try {
    const fs = FileSystem.mount(dev);
    const ino = fs.create(1, 'f', 0o644).ino;
    fs.write(ino, 0, Buffer.alloc(3 * 4096, 0x5a));
    fs.unmount();
    const v = FileSystem.mount(dev, { readOnly: true });
    const rec = v.vol.get(key(ino, RecKind.MAP, 0));
    t.ok(rec, 'the file has a block map');
    addr = map_decode(rec!).addr[1]!;
    v.unmount();
    t.ok(addr > 0, `its second block is at ${addr}`);
    const b = dev.read(addr);
    b[17]! ^= 0x01;
    dev.write(addr, b);
    dev.flush();
  } finally {
    dev.close();
  }

  let r = await cowlog(['fsck', '-n', img]);
  t.equal(r.code, 0, `fsck -n: exit 0 (${r.stderr.trim()})`);
  t.match(r.stdout, /: metadata clean; file data not checked \(--data\)\n$/, 'says what it did not check');
  t.notMatch(r.stdout, /: clean\b/, 'never a bare "clean"');

  r = await cowlog(['fsck', '-n', '--data', img]);
  t.equal(r.code, 4, 'fsck -n --data: errors (exit 4)');
  t.match(r.stdout, new RegExp(`^error: data block ${addr} \\(inode \\d+ block 1\\) fails its CRC32C check$`, 'm'), 'names the damaged block');
  t.match(r.stdout, /\n1 error found/, 'one error');
});
