#!/usr/bin/env node
// Reads a TAP 14 stream (tap --reporter=tap) on stdin and prints one line:
// "N passed, N failed". A "test" is a named test() block inside a test file (depth 1);
// a test file that fails without any failing test inside it (a crash, a timeout) counts as one
// failed test of its own, so nothing can fail silently. A test skipped (# SKIP) is neither
// passed nor failed: a line before the last says how many were skipped, and why.
import { readFileSync } from 'node:fs';

const text = readFileSync(0, 'utf8');
let passed = 0, failed = 0;
const skipped = [];
let fileFailedInside = 0;
const failures = [];
for (const line of text.split('\n')) {
  let m = /^    (not )?ok \d+ - (.*?)(?: # (?:time|SKIP|TODO).*)?$/.exec(line);
  if (m) {
    const skip = / # SKIP(.*)$/.exec(line);
    if (m[1]) { failed++; fileFailedInside++; failures.push(m[2]); } else if (skip) skipped.push(skip[1].trim() || m[2]); else passed++;
    continue;
  }
  m = /^(not )?ok \d+ - (.*?)(?: # .*)?$/.exec(line);
  if (m) {
    if (m[1] && fileFailedInside === 0) { failed++; failures.push(`${m[2]} (the file itself failed)`); }
    fileFailedInside = 0;
  }
}
if (failures.length) process.stderr.write(`failed:\n${failures.map((f) => `  - ${f}`).join('\n')}\n`);
if (skipped.length) process.stdout.write(`${skipped.length} skipped: ${skipped.join('; ')}\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
