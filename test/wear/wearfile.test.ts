import t from 'tap';
import { WEAR_MAGIC, WearFileError, wear_decode, wear_encode } from '../../src/wear/wearfile.js';
import type { WearRecord } from '../../src/wear/wearfile.js';
import { crc32c } from '../../src/util/crc32c.js';

function record_make(meta: WearRecord['meta'] = { fs: 'ext4', source: 'tracefs', device: '/dev/loop0', notes: 'é' }): WearRecord {
  return {
    meta,
    blockSize: 4096,
    counts: Uint32Array.from([0, 2, 1, 0, 0xffffffff]),
    bytes: 4096n + 8192n + 512n,
    truncated: false,
    timeNs: BigUint64Array.from([10n, 20n, 2n ** 63n]),
    offset: BigUint64Array.from([4096n, 4096n, 4608n]),
    length: Uint32Array.from([4096, 8192, 512]),
    flags: Uint32Array.from([0, 1, 0]),
  };
}

/** Re-seals a hand-edited file with a correct CRC, so that only the edit is wrong. */
function reseal(buf: Buffer): Buffer {
  buf.writeUInt32LE(crc32c(buf, 0, buf.length - 4), buf.length - 4);
  return buf;
}

t.test('encode lays out every byte as docs/WEARFILE.md draws it', async (t) => {
  const rec = record_make();
  const buf = wear_encode(rec);
  const metaJson = Buffer.from(JSON.stringify(rec.meta), 'utf8');
  const metaPadded = Math.ceil(metaJson.length / 8) * 8;
  t.ok(buf.subarray(0, 8).equals(Buffer.from('CLWEAR\0\x01', 'latin1')) && WEAR_MAGIC.length === 8, 'magic');
  t.equal(buf.readUInt32LE(8), 1, 'version');
  t.equal(buf.readUInt32LE(12), 4096, 'blksize');
  t.equal(buf.readUInt32LE(16), 5, 'blocks');
  t.equal(buf.readUInt32LE(20), metaJson.length, 'metalen is the UTF-8 byte length');
  t.equal(buf.readBigUInt64LE(24), 3n, 'requests');
  t.equal(buf.readBigUInt64LE(32), 12800n, 'bytes');
  t.equal(buf.readBigUInt64LE(40), 0n, 'flags');
  t.ok(buf.subarray(48, 64).equals(Buffer.alloc(16)), 'reserved is zero');
  t.ok(buf.subarray(64, 64 + metaJson.length).equals(metaJson), 'metadata JSON at 64');
  t.ok(buf.subarray(64 + metaJson.length, 64 + metaPadded).equals(Buffer.alloc(metaPadded - metaJson.length)), 'zero padding to a multiple of 8');
  const c = 64 + metaPadded;
  t.same([0, 1, 2, 3, 4].map((i) => buf.readUInt32LE(c + 4 * i)), [0, 2, 1, 0, 0xffffffff], 'counts');
  const e = c + 5 * 4;
  t.equal(buf.readBigUInt64LE(e + 24 * 2), 2n ** 63n, 'entry 2 time_ns');
  t.equal(buf.readBigUInt64LE(e + 24 * 2 + 8), 4608n, 'entry 2 offset');
  t.equal(buf.readUInt32LE(e + 24 * 2 + 16), 512, 'entry 2 length');
  t.equal(buf.readUInt32LE(e + 24 + 20), 1, 'entry 1 flags');
  t.equal(buf.length, e + 3 * 24 + 4, 'nothing after the trailer');
  t.equal(buf.readUInt32LE(buf.length - 4), crc32c(buf, 0, buf.length - 4), 'trailer is the CRC32C of everything before it');
});

t.test('decode returns what was encoded, whatever the metadata length', async (t) => {
  for (const notes of ['', 'a', 'ab', 'abcdefg', 'abcdefgh', 'ünïcödé ✓']) {
    const rec = record_make({ fs: 'cowlog', source: 'cowlog-tracker', notes, unknownKey: [1, 2] });
    const back = wear_decode(wear_encode(rec));
    t.same(back, rec, `metadata notes '${notes}'`);
  }
  const empty: WearRecord = { ...record_make(), counts: new Uint32Array(0), bytes: 0n, timeNs: new BigUint64Array(0), offset: new BigUint64Array(0), length: new Uint32Array(0), flags: new Uint32Array(0) };
  t.same(wear_decode(wear_encode(empty)), empty, 'no blocks, no requests');
  const view = wear_encode(record_make());
  const shifted = Buffer.alloc(view.length + 3);
  view.copy(shifted, 3);
  t.same(wear_decode(shifted.subarray(3)), record_make(), 'decodes from a view that does not start at offset 0');
});

t.test('encode refuses a record that breaks the invariants', async (t) => {
  t.throws(() => wear_encode({ ...record_make(), length: Uint32Array.from([1]) }), RangeError, 'timeline arrays of different lengths');
  t.throws(() => wear_encode({ ...record_make(), bytes: 1n }), RangeError, 'bytes not the sum of the lengths');
  t.doesNotThrow(() => wear_encode({ ...record_make(), bytes: 1n << 40n, truncated: true }), 'unless the timeline is truncated');
});

t.test('decode rejects a damaged or inconsistent file, naming what is wrong', async (t) => {
  const good = wear_encode(record_make());
  const bad = (edit: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(good);
    edit(b);
    return b;
  };
  const rejects = (buf: Buffer, why: RegExp, what: string) =>
    t.throws(() => wear_decode(buf, 'x.wear'), { name: 'WearFileError', message: new RegExp(`^x\\.wear: not a valid cowlog wear file: ${why.source}`) }, what);
  rejects(good.subarray(0, 20), /only 20 bytes/, 'too short');
  rejects(bad((b) => { b[0] = 0x41; }), /bad magic/, 'magic');
  rejects(bad((b) => b.writeUInt32LE(2, 8)), /unsupported version 2/, 'version');
  rejects(Buffer.concat([good, Buffer.alloc(8)]), /length \d+ but header implies \d+/, 'extra bytes');
  rejects(bad((b) => b.writeBigUInt64LE(4n, 24)), /length \d+ but header implies/, 'requests disagree with the length');
  rejects(bad((b) => { b[70]! ^= 1; }), /CRC32C mismatch/, 'a flipped bit in the metadata');
  rejects(bad((b) => { b[b.length - 10]! ^= 0x80; }), /CRC32C mismatch/, 'a flipped bit in the timeline');
  rejects(reseal(bad((b) => b.writeBigUInt64LE(12801n, 32))), /bytes 12801 != sum of request lengths 12800/, 'bytes disagree with the timeline');
  t.doesNotThrow(() => wear_decode(reseal(bad((b) => { b.writeBigUInt64LE(12801n, 32); b.writeBigUInt64LE(1n, 40); }))), 'fine when the timeline is truncated');
  // Replaces the 24 metadata bytes of a {"fs":"x","source":"y"} record (23 bytes of JSON and one
  // of padding) with `json` padded by spaces, keeping every offset of the file as it was.
  const withMeta = (json: string): Buffer => {
    const b = Buffer.from(wear_encode(record_make({ fs: 'x', source: 'y' })));
    t.equal(b.readUInt32LE(20), 23);
    b.write(json.padEnd(24, ' '), 64, 24, 'utf8');
    b.writeUInt32LE(24, 20);
    return reseal(b);
  };
  t.doesNotThrow(() => wear_decode(withMeta('{"fs":"a","source":"b"}')), 'the edit itself keeps a valid file valid');
  rejects(withMeta('{"fs":"a","source":'), /metadata is not JSON/, 'metadata that is not JSON');
  rejects(withMeta('[1,2,3]'), /metadata is not a JSON object/, 'metadata that is not an object');
  rejects(withMeta('{"fs":"a"}'), /metadata lacks the string keys 'fs' and 'source'/, 'metadata without source');
});
