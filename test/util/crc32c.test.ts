import t from 'tap';
import { crc32c } from '../../src/util/crc32c.js';

t.test('crc32c check value and incremental use', async (t) => {
  t.equal(crc32c(Buffer.from('123456789')), 0xe3069283, 'standard check value');
  t.equal(crc32c(Buffer.alloc(0)), 0, 'empty input');
  const data = Buffer.alloc(4096);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
  const whole = crc32c(data);
  const split = crc32c(data, 1000, 4096, crc32c(data, 0, 1000));
  t.equal(split, whole, 'seeded continuation equals one pass');
  // bytewise reference
  let c = ~0 >>> 0;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  t.equal(whole, ~c >>> 0, 'slice-by-8 equals the bitwise definition');
  t.throws(() => crc32c(data, 10, 5000), RangeError);
});
