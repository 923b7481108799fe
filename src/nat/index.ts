export * from './nat.js';
