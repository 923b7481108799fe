// The memory budget of a mount: how the bytes given (`-o cache=`, default 64 MiB, whatever the
// device's size or the number of files) are shared between the caches that hold metadata.
//
// Invariants: each share is at least a working minimum; dirty entries are pinned in their cache
// and may take it past its share, which is what the dirty bounds (dirty nodes, dirty table pages)
// are derived from: they make a checkpoint write them before they pass half of it.

import { NODE_BLOCK_MEM_BYTES } from '../btree/nodestore.js';

/** the budget when nothing is said */
export const CACHE_BYTES_DEFAULT = 64 << 20;
/** the smallest budget a mount accepts */
export const CACHE_BYTES_MIN = 4 << 20;
/**
 * The least one B+tree node takes in the node cache, for the bound on their number: a clean
 * leaf kept as its block alone (nodestore.ts NODE_BLOCK_MEM_BYTES). What each node really takes
 * (a decoded one about 200 bytes per record more: 12.7 KiB for a leaf of 44 small records) is
 * counted by the cache itself, which keeps the nodes within their share in bytes.
 */
export const NODE_MEM_BYTES = NODE_BLOCK_MEM_BYTES;
/** the fewest table pages and inodes a cache is given, whatever its share */
export const TABLE_PAGES_MIN = 64;
export const INODES_MIN = 256;
/** Memory of one cached inode (its record decoded, the maps and sets around it; no pages). */
export const INODE_MEM_BYTES = 1 << 10;

export interface BudgetSplit {
  /** table pages (4 KiB each) */
  tablePages: number;
  /** B+tree nodes */
  nodes: number;
  /** bytes the B+tree nodes may take (node_mem summed) */
  nodeBytes: number;
  /** inodes of the file layer */
  inodes: number;
}

/** Shares `bytes`: a quarter for table pages, five eighths for nodes, an eighth for inodes. */
export function budget_split(bytes: number): BudgetSplit {
  const b = Math.max(CACHE_BYTES_MIN, bytes);
  return {
    tablePages: Math.max(TABLE_PAGES_MIN, Math.floor(b / 4 / 4096)),
    nodes: Math.max(128, Math.floor((b * 5) / 8 / NODE_MEM_BYTES)),
    nodeBytes: Math.max(128 * NODE_MEM_BYTES, Math.floor((b * 5) / 8)),
    inodes: Math.max(INODES_MIN, Math.floor(b / 8 / INODE_MEM_BYTES)),
  };
}
