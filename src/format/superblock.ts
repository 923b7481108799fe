// The superblock: written by mkfs only (blocks 0 and 1), never again. It holds the geometry
// parameters; everything that changes lives in checkpoints and the log.

import { block_new, block_seal, block_verify, magic_of, u64_get, u64_set } from './block.js';
import { FORMAT_VERSION, geometry_derive } from './geometry.js';
import type { Geometry, GeometryParams } from './geometry.js';
import { BLOCK_SIZE } from '../device/device.js';
import { CorruptError, FsError } from '../util/errors.js';

export const SB_MAGIC = magic_of('CLSB');
export const SB_SIGNATURE = 'COWLOGFS';
/** feature bit: new files are compressed with lz4 unless the mount or their directory says otherwise */
export const FEATURE_COMPRESS_LZ4 = 1;
/**
 * Feature bit: data blocks may be shared between files and offsets (clones, copy_file_range;
 * their summary says so: SUB_SHARED) and mapped past a file's size (INODE_FLAG_PREALLOC). A
 * cowlog that does not know it must not mount the filesystem: its cleaner finds a block's
 * holders by the summary alone. mkfs sets it; a filesystem without it copies instead.
 */
export const FEATURE_SHARED = 2;
/**
 * Feature bit: inodes may carry attribute flags (chattr: immutable, append-only, no atime, sync,
 * dirsync, no dump; INODE_FLAGS_ATTRS). A cowlog that does not know it must not mount the
 * filesystem: it would change immutable files. mkfs sets it; a filesystem without it refuses
 * chattr.
 */
export const FEATURE_ATTRS = 4;
/** feature bits this version understands */
export const FEATURES_KNOWN = FEATURE_COMPRESS_LZ4 | FEATURE_SHARED | FEATURE_ATTRS;

export interface Superblock {
  version: number;
  geometry: Geometry;
  uuid: Buffer;
  createdMs: number;
  label: string;
  features: number;
}

export function sb_encode(sb: Superblock, copy: number): Buffer {
  const b = block_new();
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const g = sb.geometry;
  if (sb.uuid.length !== 16) throw new RangeError('sb_encode: uuid must be 16 bytes');
  const label = Buffer.from(sb.label, 'utf8');
  if (label.length > 63) throw new RangeError('sb_encode: label longer than 63 bytes');
  v.setUint32(0, SB_MAGIC, true);
  v.setUint16(4, sb.version, true);
  v.setUint16(6, copy, true);
  b.write(SB_SIGNATURE, 8, 'latin1');
  v.setUint32(16, BLOCK_SIZE, true);
  v.setUint32(20, g.blockCount % 2 ** 32, true);
  v.setUint32(60, Math.floor(g.blockCount / 2 ** 32), true);
  v.setUint32(24, g.segBlocks, true);
  v.setUint32(28, g.segCount, true);
  v.setUint32(32, g.mainStart, true);
  v.setUint32(36, g.cpSlots, true);
  v.setUint32(40, g.reserveSegs, true);
  v.setUint32(44, g.fanout, true);
  v.setUint32(48, g.inlineMax, true);
  v.setUint32(52, g.maxSnapshots, true);
  v.setUint32(56, sb.features, true);
  sb.uuid.copy(b, 64);
  u64_set(v, 80, sb.createdMs);
  label.copy(b, 96);
  block_seal(b);
  return b;
}

export function sb_decode(buf: Uint8Array, addr: number): Superblock {
  const v = block_verify(buf, SB_MAGIC, 'superblock', addr);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.toString('latin1', 8, 16) !== SB_SIGNATURE) throw new CorruptError('superblock', addr, 'bad signature');
  const version = v.getUint16(4, true);
  // a sound superblock of another version is not damage: say which cowlog reads it
  if (version !== FORMAT_VERSION) {
    throw new FsError('EINVAL', version < FORMAT_VERSION
      ? `made by an older cowlog (format ${version}); this cowlog reads format ${FORMAT_VERSION}: copy the files off with the cowlog that made it, then mkfs again`
      : `made by a newer cowlog (format ${version}); this cowlog reads format ${FORMAT_VERSION}`);
  }
  const copy = v.getUint16(6, true);
  if (copy !== addr) throw new CorruptError('superblock', addr, `copy ${copy} found at block ${addr}`);
  const features = v.getUint32(56, true);
  if ((features & ~FEATURES_KNOWN) !== 0) throw new CorruptError('superblock', addr, `unknown feature bits 0x${(features & ~FEATURES_KNOWN).toString(16)} (a newer cowlog made this filesystem)`);
  const blockSize = v.getUint32(16, true);
  if (blockSize !== BLOCK_SIZE) throw new CorruptError('superblock', addr, `block size ${blockSize}`);
  const p: GeometryParams = {
    blockCount: v.getUint32(60, true) * 2 ** 32 + v.getUint32(20, true),
    segBlocks: v.getUint32(24, true),
    cpSlots: v.getUint32(36, true),
    reserveSegs: v.getUint32(40, true),
    fanout: v.getUint32(44, true),
    inlineMax: v.getUint32(48, true),
    maxSnapshots: v.getUint32(52, true),
  };
  let g: Geometry;
  try {
    g = geometry_derive(p);
  } catch (e) {
    throw new CorruptError('superblock', addr, `impossible geometry: ${(e as Error).message}`);
  }
  if (g.segCount !== v.getUint32(28, true) || g.mainStart !== v.getUint32(32, true)) {
    throw new CorruptError('superblock', addr, `stored segCount/mainStart ${v.getUint32(28, true)}/${v.getUint32(32, true)} disagree with the geometry (${g.segCount}/${g.mainStart})`);
  }
  const labelEnd = b.indexOf(0, 96);
  return {
    version,
    geometry: g,
    uuid: Buffer.from(b.subarray(64, 80)),
    createdMs: u64_get(v, 80),
    label: b.toString('utf8', 96, labelEnd < 0 || labelEnd > 160 ? 160 : labelEnd),
    features: v.getUint32(56, true),
  };
}
