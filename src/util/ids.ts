// Branded ids for what must never be mixed up. They are plain numbers at run time.
// Conversions are explicit (`addr_of(n)`), so a segment number can not be passed where a block
// address is wanted without the compiler noticing.

/** A device block address, in 4 KiB blocks from the start of the device. 0 means "none". */
export type BlockAddr = number & { readonly __brand: 'BlockAddr' };
/** A segment number (main-area segments are numbered from 0). */
export type SegNo = number & { readonly __brand: 'SegNo' };
/** A node id, resolved to a BlockAddr through the NAT. 0 means "none". */
export type NodeId = number & { readonly __brand: 'NodeId' };
/** An inode number. The root directory is 1. */
export type Ino = number & { readonly __brand: 'Ino' };
/** A checkpoint sequence number; blocks record the one they were born in. */
export type CpSeq = number & { readonly __brand: 'CpSeq' };

export const addr_of = (n: number): BlockAddr => n as BlockAddr;
export const seg_of = (n: number): SegNo => n as SegNo;
export const nid_of = (n: number): NodeId => n as NodeId;
export const ino_of = (n: number): Ino => n as Ino;
export const seq_of = (n: number): CpSeq => n as CpSeq;

export const ADDR_NONE = 0 as BlockAddr;
export const NID_NONE = 0 as NodeId;
export const ROOT_INO = 1 as Ino;
