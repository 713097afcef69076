// The layering rule: no module imports itself back through others, and no area (top-level folder
// of src/) reaches back into one that depends on it, not even lazily. scripts/import-cycles.mjs
// prints the same report from the command line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
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

test('the finder sees a module cycle, an area cycle through a lazy import(), and ignores a lazy module edge', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-cycles-'));
  try {
    for (const d of ['low', 'high']) mkdirSync(path.join(dir, d));
    writeFileSync(path.join(dir, 'low', 'a.js'), "import { b } from './b.js';\nexport const a = 1;\n");
    writeFileSync(path.join(dir, 'low', 'b.js'), "import {\n  a,\n} from './a.js';\nexport const b = 2;\nexport const later = () => import('../high/h.js');\n");
    writeFileSync(path.join(dir, 'high', 'h.js'), "export { b } from '../low/b.js';\n");
    assert.deepEqual(finder.findCycles(dir), [['low/a.js', 'low/b.js']]);
    assert.deepEqual(finder.findAreaCycles(dir), [['high', 'low']]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
