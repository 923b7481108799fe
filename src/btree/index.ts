export * from './store.js';
export * from './btree.js';
export * from './nodestore.js';
