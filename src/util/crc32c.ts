// CRC32C (Castagnoli, reflected polynomial 0x82F63B78).
//
// Every metadata block of cowlog and every data block's map entry carries one, so it is on the
// hot path of every write and read. The hardware instruction (SSE4.2 crc32, through the
// @node-rs/crc32 native module) is used when it loads; crc32c_js (slice-by-8) is the fallback and
// the reference the tests compare it with.
// crc32c(Buffer.from('123456789')) === 0xE3069283 (the standard check value).

import { createRequire } from 'node:module';

const POLY = 0x82f63b78;

function tables_make(): Uint32Array[] {
  const t: Uint32Array[] = [];
  for (let k = 0; k < 8; k++) t.push(new Uint32Array(256));
  const t0 = t[0]!;
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let j = 0; j < 8; j++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t0[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    let c = t0[i]!;
    for (let k = 1; k < 8; k++) {
      c = (c >>> 8) ^ t0[c & 0xff]!;
      t[k]![i] = c >>> 0;
    }
  }
  return t;
}

const T = tables_make();
const T0 = T[0]!, T1 = T[1]!, T2 = T[2]!, T3 = T[3]!, T4 = T[4]!, T5 = T[5]!, T6 = T[6]!, T7 = T[7]!;

type NativeCrc = (input: Buffer, initial?: number) => number;

function native_load(): NativeCrc | null {
  if (process.env.COWLOG_CRC32C_JS === '1') return null;
  try {
    const mod = createRequire(import.meta.url)('@node-rs/crc32') as { crc32c?: NativeCrc };
    const f = mod.crc32c;
    if (typeof f !== 'function' || f(Buffer.from('123456789')) !== 0xe3069283) return null;
    return f;
  } catch {
    return null;
  }
}

const native = native_load();

/** Whether the hardware CRC32C is in use (shown by benchmarks). */
export const crc32c_native = native !== null;

/** CRC32C of bytes[start, end); `seed` continues an earlier crc32c() result. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length, seed = 0): number {
  if (native) {
    if (start < 0 || end > bytes.length || start > end) {
      throw new RangeError(`crc32c range [${start}, ${end}) outside 0..${bytes.length}`);
    }
    const whole = start === 0 && end === bytes.length && Buffer.isBuffer(bytes);
    return native(whole ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start), seed) >>> 0;
  }
  return crc32c_js(bytes, start, end, seed);
}

/** The portable implementation (slice-by-8). */
export function crc32c_js(bytes: Uint8Array, start = 0, end = bytes.length, seed = 0): number {
  if (start < 0 || end > bytes.length || start > end) {
    throw new RangeError(`crc32c range [${start}, ${end}) outside 0..${bytes.length}`);
  }
  let c = ~seed >>> 0;
  let i = start;
  const end8 = end - ((end - i) & 7);
  while (i < end8) {
    const lo = (c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) >>> 0;
    const hi = bytes[i + 4]! | (bytes[i + 5]! << 8) | (bytes[i + 6]! << 16) | (bytes[i + 7]! << 24);
    c =
      T7[lo & 0xff]! ^ T6[(lo >>> 8) & 0xff]! ^ T5[(lo >>> 16) & 0xff]! ^ T4[lo >>> 24]! ^
      T3[hi & 0xff]! ^ T2[(hi >>> 8) & 0xff]! ^ T1[(hi >>> 16) & 0xff]! ^ T0[hi >>> 24]!;
    i += 8;
  }
  while (i < end) c = (c >>> 8) ^ T0[(c ^ bytes[i++]!) & 0xff]!;
  return ~c >>> 0;
}
