export * from './types.js';
export * from './fs.js';
