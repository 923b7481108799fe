export * from './wearfile.js';
export * from './stats.js';
export * from './tracker.js';
