// The layering rule: no module imports itself back through others, and no area (top-level folder
// of src/) reaches back into one that depends on it, not even lazily. scripts/import-cycles.mjs
// prints the same report from the command line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './helpers/serve-process.js';

interface CycleFinder {
  findCycles(dir: string): string[][];
  findAreaCycles(dir: string): string[][];
  importGraph(dir: string): Map<string, string[]>;
}

const finder = (await import(pathToFileURL(path.join(REPO_ROOT, 'scripts', 'import-cycles.mjs')).href)) as CycleFinder;
const SRC = path.join(REPO_ROOT, 'dist', 'src');

test('no import cycles between modules', () => {
  assert.ok(finder.importGraph(SRC).size > 100, 'the compiled sources are there');
  assert.deepEqual(finder.findCycles(SRC), []);
});

test('no cycles between areas (src/<folder>), counting lazy import() too', () => {
  assert.deepEqual(finder.findAreaCycles(SRC), []);
});
