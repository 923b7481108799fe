// Deterministic file content for workload traces: a (kind, seed, length) triple always gives the
// same bytes, so traces describe content instead of storing it and the verifier regenerates it.
//
// Invariants:
// - gen_bytes(g, n) is a prefix of gen_bytes(g, m) for n <= m (a short write of a long payload
//   wrote exactly the payload's first bytes);
// - 'text' is printable ASCII words, spaces and newlines (compressible like real text files);
//   'random' is incompressible; 'zero' is all zero bytes.

import { Prng } from '../util/prng.js';
import type { Gen } from './trace.js';

const WORDS = (
  'the of and to in is that it for on with as was at by be this from are or have an not but log ' +
  'block segment write read file data node tree root checkpoint snapshot device wear copy sync ' +
  'space clean index table journal inode record entry value time page cache disk order system'
).split(' ');
const WORD_BYTES = WORDS.map((w) => Buffer.from(w, 'latin1'));

/** The bytes a generator describes, `len` of them. */
export function gen_bytes(g: Gen, len: number): Buffer {
  const out = Buffer.alloc(len);
  if (g.kind === 'zero' || len === 0) return out;
  const rng = new Prng(g.seed);
  if (g.kind === 'random') {
    rng.fill(out);
    return out;
  }
  // text: words separated by spaces, a newline every 8–15 words, a capital after a newline
  let p = 0;
  let untilNewline = rng.int(8, 15);
  while (p < len) {
    const w = WORD_BYTES[rng.u32() % WORD_BYTES.length]!;
    const n = Math.min(w.length, len - p);
    w.copy(out, p, 0, n);
    p += n;
    if (p >= len) break;
    if (--untilNewline === 0) {
      out[p++] = 0x0a;
      untilNewline = rng.int(8, 15);
    } else {
      out[p++] = 0x20;
    }
  }
  return out;
}
