export * from './types.js';
export * from './fs.js';
export * from './observe.js';
