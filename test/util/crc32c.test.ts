import t from 'tap';
import { crc32c, crc32c_js, crc32c_native } from '../../src/util/crc32c.js';
import { Prng } from '../../src/util/prng.js';

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

t.test('the native CRC32C agrees with the portable one', async (t) => {
  t.comment(crc32c_native ? 'hardware CRC32C in use' : 'portable CRC32C in use (native module unavailable)');
  const rng = new Prng(3);
  for (let i = 0; i < 200; i++) {
    const b = rng.fill(new Uint8Array(rng.int(0, 9000)));
    const s = rng.int(0, b.length);
    const e = rng.int(s, b.length);
    const seed = rng.u32();
    t.equal(crc32c(b, s, e, seed), crc32c_js(b, s, e, seed), `case ${i}`);
  }
  t.equal(crc32c_js(Buffer.from('123456789')), 0xe3069283, 'portable check value');
});
