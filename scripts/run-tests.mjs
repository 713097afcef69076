#!/usr/bin/env node
// Runs every compiled test file (dist/**/*.test.js) with Node's built-in test runner, each file in
// its own process, a few at a time.
//
// Files start longest first, by scripts/test-durations.json (seconds each file took): `node --test`
// sorts the files by path, which started the slowest end-to-end files last, so a run ended with one
// long file going while the other lanes sat idle. A file missing from the list counts as a short one.
//
// Usage: node scripts/run-tests.mjs [--record] [substring ...]
//   substrings: only the files whose path contains one of them
//   --record:   rewrite scripts/test-durations.json with what this run measured
// SMKIT_TEST_CONCURRENCY sets how many files run at once (default 3).
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';

const durationsFile = new URL('./test-durations.json', import.meta.url);
const args = process.argv.slice(2);
const record = args.includes('--record');
const filters = args.filter((a) => a !== '--record');
const concurrency = Number(process.env.SMKIT_TEST_CONCURRENCY || 3);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error(`run-tests: SMKIT_TEST_CONCURRENCY must be a whole number of at least 1, got "${process.env.SMKIT_TEST_CONCURRENCY}"`);
  process.exit(1);
}

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

/** `dist/test/e2e/x.test.js` → `test/e2e/x`: the key in test-durations.json. */
const keyOf = (file) => file.replace(/^dist[\\/]/, '').replace(/\.test\.js$/, '').split('\\').join('/');

const durations = JSON.parse(readFileSync(durationsFile, 'utf8'));
const files = walk('dist', [])
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort((a, b) => (durations[keyOf(b)] ?? 1) - (durations[keyOf(a)] ?? 1) || a.localeCompare(b));
if (files.length === 0) {
  console.error('run-tests: no test files found under dist/ (did the build run?)');
  process.exit(1);
}

// ONNX Runtime's telemetry stays off in tests that load it themselves (smkit turns it off on its own,
// and test/e2e/onnx-telemetry.test.ts checks that without this variable).
process.env.ORT_DISABLE_TELEMETRY ||= '1';

const measured = new Map();
const stream = run({ files, concurrency });
stream.on('test:fail', (data) => {
  if (!data.todo) process.exitCode = 1;
});
if (record) {
  for (const event of ['test:pass', 'test:fail']) {
    stream.on(event, (data) => {
      if (data.nesting !== 0 || !data.file) return;
      const key = keyOf(relative(process.cwd(), data.file));
      measured.set(key, (measured.get(key) ?? 0) + (data.details?.duration_ms ?? 0) / 1000);
    });
  }
  stream.on('end', () => {
    const merged = { ...durations };
    for (const [key, seconds] of measured) merged[key] = Math.max(1, Math.round(seconds));
    const sorted = Object.entries(merged).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    writeFileSync(durationsFile, `${JSON.stringify(Object.fromEntries(sorted), null, 2)}\n`);
  });
}
stream.compose(new spec()).pipe(process.stdout);
