// Moved to src/compare/result.ts (the cowlog CLI uses it, and the CLI imports nothing from tools/); this
// name stays for the benchmarks that import it from here.
export * from '../../src/compare/result.js';
