// The layering rule: no module imports itself back through others, no area (top-level folder
// of src/) reaches back into one that depends on it, not even lazily, and src/deploy (a client of the
// SageMaker API) never loads src/local. scripts/import-cycles.mjs prints the same report from the
// command line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './helpers/serve-process.js';

interface CycleFinder {
  FORBIDDEN_REACH: Array<[string, string]>;
  forbiddenReach(dir: string, pairs?: Array<[string, string]>): string[][];
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

test('src/deploy never imports src/local, directly, through another area, or lazily', () => {
  assert.deepEqual(finder.FORBIDDEN_REACH, [['deploy', 'local']]);
  assert.deepEqual(finder.forbiddenReach(SRC), []);
});

test('the forbidden-reach check sees a direct import, a path through a third area and a lazy import()', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-reach-'));
  try {
    for (const d of ['deploy', 'shared', 'local']) mkdirSync(path.join(dir, d));
    writeFileSync(path.join(dir, 'local', 'fleet.js'), 'export const fleet = 1;\n');
    writeFileSync(path.join(dir, 'shared', 'neutral.js'), 'export const neutral = 1;\n');
    writeFileSync(path.join(dir, 'shared', 'bridge.js'), "export { fleet } from '../local/fleet.js';\n");
    writeFileSync(path.join(dir, 'deploy', 'a-direct.js'), "import { fleet } from '../local/fleet.js';\nexport const a = fleet;\n");
    writeFileSync(path.join(dir, 'deploy', 'b-through.js'), "import { neutral } from '../shared/neutral.js';\nimport { fleet } from '../shared/bridge.js';\nexport const b = neutral + fleet;\n");
    writeFileSync(path.join(dir, 'deploy', 'c-lazy.js'), "export const c = () => import('../local/fleet.js');\n");
    writeFileSync(path.join(dir, 'deploy', 'd-clean.js'), "import { neutral } from '../shared/neutral.js';\nexport const d = neutral;\n");
    assert.deepEqual(finder.forbiddenReach(dir, [['deploy', 'local']]), [
      ['deploy/a-direct.js', 'local/fleet.js'],
      ['deploy/b-through.js', 'shared/bridge.js', 'local/fleet.js'],
      ['deploy/c-lazy.js', 'local/fleet.js'],
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
