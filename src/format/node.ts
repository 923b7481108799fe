// B+tree node blocks. A node is addressed by its node id (NodeId) through the NAT; the block
// records its own node id, address and birth checkpoint so that the cleaner and fsck can tell
// what a block in a segment is, and a misplaced block is caught.
//
// Invariants: keys strictly increasing; a leaf holds (key, value) records, an inner node holds
// (key, child node id) pairs where key i is the smallest key reachable through child i (the first
// key of the first child is the parent's own lower bound); the encoded body fits NODE_BODY_BYTES.

import { BLOCK_SIZE } from '../device/device.js';
import { CorruptError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import { block_new, block_seal, log_header_sub, log_header_verify, log_header_write, magic_of, view_of } from './block.js';
import { FORMAT_VERSION } from './geometry.js';
import { KEY_BYTES, key_cmp, key_read, key_write, VALUE_MAX } from './records.js';
import type { Key } from './records.js';
import type { NodeId } from '../util/ids.js';

export const NODE_MAGIC = magic_of('CLND');
export const NODE_HEADER_BYTES = 32;
export const NODE_BODY_BYTES = BLOCK_SIZE - NODE_HEADER_BYTES - 4;
export const LEAF_REC_OVERHEAD = KEY_BYTES + 2;
export const INNER_ENTRY_BYTES = KEY_BYTES + 4;
export const INNER_FANOUT_MAX = Math.floor(NODE_BODY_BYTES / INNER_ENTRY_BYTES);

export interface NodeHeader {
  fsid: number;
  nid: NodeId;
  addr: number;
  birth: number;
}

export interface LeafBody {
  level: 0;
  keys: Key[];
  vals: Buffer[];
}

export interface InnerBody {
  level: number; // >= 1
  keys: Key[];
  kids: NodeId[];
}

export type NodeBody = LeafBody | InnerBody;

export function is_leaf(n: NodeBody): n is LeafBody {
  return n.level === 0;
}

export function leaf_bytes(n: LeafBody): number {
  let s = 0;
  for (const v of n.vals) s += LEAF_REC_OVERHEAD + v.length;
  return s;
}

export function node_bytes(n: NodeBody): number {
  return is_leaf(n) ? leaf_bytes(n) : n.keys.length * INNER_ENTRY_BYTES;
}

export function node_encode(n: NodeBody, h: NodeHeader): Buffer {
  const b = block_new();
  const v = view_of(b);
  const count = n.keys.length;
  assert(node_bytes(n) <= NODE_BODY_BYTES, () => `node ${h.nid}: body of ${node_bytes(n)} bytes exceeds ${NODE_BODY_BYTES}`);
  assert(count <= 0xffff && n.level <= 0xff, () => `node ${h.nid}: ${count} entries at level ${n.level}`);
  log_header_write(v, { magic: NODE_MAGIC, version: FORMAT_VERSION, sub: n.level, fsid: h.fsid, addr: h.addr, seq: h.birth, id: h.nid });
  v.setUint16(24, count, true);
  let p = NODE_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const k = n.keys[i]!;
    if (i > 0) assert(key_cmp(n.keys[i - 1]!, k) < 0, () => `node ${h.nid}: keys out of order at ${i}`);
    key_write(v, p, k);
    p += KEY_BYTES;
    if (is_leaf(n)) {
      const val = n.vals[i]!;
      assert(val.length <= VALUE_MAX, () => `node ${h.nid}: value ${i} of ${val.length} bytes exceeds ${VALUE_MAX}`);
      v.setUint16(p, val.length, true);
      val.copy(b, p + 2);
      p += 2 + val.length;
    } else {
      const kid = n.kids[i]!;
      assert(kid !== 0, () => `node ${h.nid}: child ${i} is node id 0`);
      v.setUint32(p, kid, true);
      p += 4;
    }
  }
  block_seal(b);
  return b;
}

/**
 * Verifies a node block and decodes it. A leaf's values are views into `buf` (one block per
 * node in memory, not a buffer per value): `buf` must not change afterwards.
 */
export function node_decode(buf: Uint8Array, addr: number, fsid: number): { header: NodeHeader; body: NodeBody } {
  const { h } = log_header_verify(buf, NODE_MAGIC, 'B+tree node', addr, fsid, FORMAT_VERSION);
  const header: NodeHeader = { fsid, nid: h.id as NodeId, addr, birth: h.seq };
  return { header, body: node_body_decode(buf, addr) };
}

/**
 * Decodes the body of a node block node_decode verified before (the node cache decodes a
 * leaf it kept as its block alone again, without a second checksum). Its structure is still
 * checked: the entries stay within the block and in order.
 */
export function node_body_decode(buf: Uint8Array, addr: number): NodeBody {
  const v = view_of(buf);
  const level = log_header_sub(buf);
  const count = v.getUint16(24, true);
  const keys: Key[] = [];
  const vals: Buffer[] = [];
  const kids: NodeId[] = [];
  let p = NODE_HEADER_BYTES;
  const end = NODE_HEADER_BYTES + NODE_BODY_BYTES;
  for (let i = 0; i < count; i++) {
    if (p + KEY_BYTES > end) throw new CorruptError('B+tree node', addr, `entry ${i} runs past the block`);
    const k = key_read(v, p);
    if (i > 0 && key_cmp(keys[i - 1]!, k) >= 0) throw new CorruptError('B+tree node', addr, `keys out of order at entry ${i}`);
    keys.push(k);
    p += KEY_BYTES;
    if (level === 0) {
      if (p + 2 > end) throw new CorruptError('B+tree node', addr, `entry ${i} runs past the block`);
      const len = v.getUint16(p, true);
      if (len > VALUE_MAX || p + 2 + len > end) throw new CorruptError('B+tree node', addr, `value ${i} of ${len} bytes runs past the block`);
      // a view, not a copy: a node's values share its one block (a copy per value took three
      // times the memory in the node cache); the caller never changes `buf` after decoding
      vals.push(Buffer.from(buf.buffer, buf.byteOffset + p + 2, len));
      p += 2 + len;
    } else {
      if (p + 4 > end) throw new CorruptError('B+tree node', addr, `entry ${i} runs past the block`);
      const kid = v.getUint32(p, true) as NodeId;
      if (kid === 0) throw new CorruptError('B+tree node', addr, `child ${i} is node id 0`);
      kids.push(kid);
      p += 4;
    }
  }
  return level === 0 ? { level: 0, keys, vals } : { level, keys, kids };
}
