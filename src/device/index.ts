export * from './device.js';
export * from './file.js';
export * from './memory.js';
export * from './sim.js';
export * from './cause.js';
export * from './counted.js';
