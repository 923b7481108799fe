export * from './store.js';
export * from './btree.js';
export * from './nodestore.js';
export * from './search.js';
