export * from './block.js';
export * from './geometry.js';
export * from './superblock.js';
export * from './records.js';
export * from './node.js';
export * from './table.js';
export * from './checkpoint.js';
export * from './redo.js';
