#!/usr/bin/env node
// Runs the compiled CLI. `make build` (or any make target) compiles it first.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'src', 'cli', 'index.js');
if (!existsSync(entry)) {
  process.stderr.write(`cowlog: not built yet: run 'make build' in ${root}\n`);
  process.exit(1);
}
await import(entry);
