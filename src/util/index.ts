export * from './crc32c.js';
export * from './errors.js';
export * from './assert.js';
export * from './ids.js';
export * from './prng.js';
