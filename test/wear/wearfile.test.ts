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
    cause: Uint8Array.from([1, 4, 12]),
    ino: Uint32Array.from([7, 0, 0]),
    pid: Uint32Array.from([4242, 0, 0]),
  };
}

/** A version 1 file of `rec` (24-byte entries, u32 flags, no cause, inode or process), built by hand. */
function v1_encode(rec: WearRecord): Buffer {
  const meta = Buffer.from(JSON.stringify(rec.meta), 'utf8');
  const metaPadded = Math.ceil(meta.length / 8) * 8;
  const n = rec.timeNs.length;
  const out = Buffer.alloc(64 + metaPadded + rec.counts.length * 4 + n * 24 + 4);
  WEAR_MAGIC.copy(out, 0);
  out.writeUInt32LE(1, 8);
  out.writeUInt32LE(rec.blockSize, 12);
  out.writeUInt32LE(rec.counts.length, 16);
  out.writeUInt32LE(meta.length, 20);
  out.writeBigUInt64LE(BigInt(n), 24);
  out.writeBigUInt64LE(rec.bytes, 32);
  meta.copy(out, 64);
  let p = 64 + metaPadded;
  for (const c of rec.counts) { out.writeUInt32LE(c, p); p += 4; }
  for (let i = 0; i < n; i++, p += 24) {
    out.writeBigUInt64LE(rec.timeNs[i]!, p);
    out.writeBigUInt64LE(rec.offset[i]!, p + 8);
    out.writeUInt32LE(rec.length[i]!, p + 16);
    out.writeUInt32LE(rec.flags[i]!, p + 20);
  }
  return reseal(out);
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
  t.equal(buf.readUInt32LE(8), 2, 'version');
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
  t.equal(buf.readBigUInt64LE(e + 32 * 2), 2n ** 63n, 'entry 2 time_ns');
  t.equal(buf.readBigUInt64LE(e + 32 * 2 + 8), 4608n, 'entry 2 offset');
  t.equal(buf.readUInt32LE(e + 32 * 2 + 16), 512, 'entry 2 length');
  t.equal(buf.readUInt16LE(e + 32 + 20), 1, 'entry 1 flags (u16)');
  t.same([0, 1, 2].map((i) => buf[e + 32 * i + 22]), [1, 4, 12], 'each entry\'s cause (u8 at 22)');
  t.equal(buf[e + 23], 0, 'reserved byte 23 is zero');
  t.equal(buf.readUInt32LE(e + 24), 7, 'entry 0 inode (u32 at 24)');
  t.equal(buf.readUInt32LE(e + 28), 4242, 'entry 0 process (u32 at 28)');
  t.equal(buf.length, e + 3 * 32 + 4, 'nothing after the trailer');
  t.equal(buf.readUInt32LE(buf.length - 4), crc32c(buf, 0, buf.length - 4), 'trailer is the CRC32C of everything before it');
});

t.test('decode returns what was encoded, whatever the metadata length', async (t) => {
  for (const notes of ['', 'a', 'ab', 'abcdefg', 'abcdefgh', 'ünïcödé ✓']) {
    const rec = record_make({ fs: 'cowlog', source: 'cowlog-tracker', notes, unknownKey: [1, 2] });
    const back = wear_decode(wear_encode(rec));
    t.same(back, rec, `metadata notes '${notes}'`);
  }
  const empty: WearRecord = {
    ...record_make(), counts: new Uint32Array(0), bytes: 0n, timeNs: new BigUint64Array(0), offset: new BigUint64Array(0), length: new Uint32Array(0), flags: new Uint32Array(0),
    cause: new Uint8Array(0), ino: new Uint32Array(0), pid: new Uint32Array(0),
  };
  t.same(wear_decode(wear_encode(empty)), empty, 'no blocks, no requests');
  const view = wear_encode(record_make());
  const shifted = Buffer.alloc(view.length + 3);
  view.copy(shifted, 3);
  t.same(wear_decode(shifted.subarray(3)), record_make(), 'decodes from a view that does not start at offset 0');
});

t.test('version 1 files still read: every request of cause 0, no inode, no process', async (t) => {
  const rec = record_make();
  const back = wear_decode(v1_encode(rec), 'old.wear');
  t.same({ ...back, cause: [...back.cause!], ino: [...back.ino!], pid: [...back.pid!] },
    { ...rec, cause: [0, 0, 0], ino: [0, 0, 0], pid: [0, 0, 0] }, 'the same record, cause unknown');
  // a record without the columns is written with zeros in them
  const bare: WearRecord = { ...rec };
  delete bare.cause; delete bare.ino; delete bare.pid;
  t.same([...wear_decode(wear_encode(bare)).cause!], [0, 0, 0], 'a record without causes is written as unknown');
});

t.test('per-cause totals must sum to the run\'s bytes', async (t) => {
  const ok = record_make({ fs: 'cowlog', source: 'cowlog-tracker', causes: { data: { requests: 1, blocks: 1, bytes: 4096 }, node: { requests: 2, blocks: 3, bytes: 8704 } } });
  t.same(wear_decode(wear_encode(ok)).meta.causes, ok.meta.causes, 'totals that add up round-trip');
  const off = record_make({ fs: 'cowlog', source: 'cowlog-tracker', causes: { data: { requests: 1, blocks: 1, bytes: 4096 } } });
  t.throws(() => wear_encode(off), /the causes' bytes sum to 4096, the run wrote 12800/, 'totals that do not add up are refused');
  t.throws(() => wear_encode(record_make({ fs: 'c', source: 's', causes: { data: { requests: -1, blocks: 1, bytes: 12800 } } })), /is not \{requests, blocks, bytes\}/, 'a negative count is refused');
});

t.test('encode refuses a record that breaks the invariants', async (t) => {
  t.throws(() => wear_encode({ ...record_make(), cause: Uint8Array.from([1]) }), RangeError, 'a cause column of another length');
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
  rejects(bad((b) => b.writeUInt32LE(3, 8)), /unsupported version 3 \(this cowlog reads 1 and 2\)/, 'version');
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
