export * from './metatable.js';
export * from './segments.js';
