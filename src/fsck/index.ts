export * from './fsck.js';
