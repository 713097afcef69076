/**
 * bin/smkit.js when the CLI's code cannot be loaded: an install that was not built, or that lacks a
 * package. The launcher runs as it is, beside a stand-in for dist/src/cli/main.js (as the real one
 * does, it requires a package rather than importing it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/serve-process.js';
import { tempDirForSync, type Cleanup } from '../helpers/temp-dir.js';

/** A folder holding bin/smkit.js and, when given, `dist/src/cli/main.js` with `main`'s source. */
function install(t: Cleanup, main?: string): string {
  const root = tempDirForSync(t, 'smkit-launcher-');
  mkdirSync(path.join(root, 'bin'));
  copyFileSync(path.join(REPO_ROOT, 'bin', 'smkit.js'), path.join(root, 'bin', 'smkit.js'));
  writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'smkit', type: 'module' }));
  if (main !== undefined) {
    mkdirSync(path.join(root, 'dist', 'src', 'cli'), { recursive: true });
    writeFileSync(path.join(root, 'dist', 'src', 'cli', 'main.js'), main);
  }
  return root;
}

function smkit(root: string): { status: number | null; stdout: string; stderr: string } {
  // NODE_COMPILE_CACHE unset: the launcher would otherwise make a cache folder for this throwaway install.
  const env = { ...process.env, NODE_DISABLE_COMPILE_CACHE: '1' };
  return spawnSync(process.execPath, [path.join(root, 'bin', 'smkit.js'), '--version'], { env, encoding: 'utf8', timeout: 60_000 });
}

const DIST_MISSING = 'smkit: dist/ is missing or incomplete; run `npm run build` first.\n';

test('no dist/: the launcher says to build', (t) => {
  const r = smkit(install(t));
  assert.equal(r.status, 1);
  assert.equal(r.stderr, DIST_MISSING);
});

test('a dist/ that lacks one of its own modules: the launcher says to build', (t) => {
  const r = smkit(install(t, "import './missing-module.js';\nexport async function main() {}\n"));
  assert.equal(r.status, 1);
  assert.equal(r.stderr, DIST_MISSING);
});

test('a package the CLI requires is not installed: the launcher names it, and does not say to build', (t) => {
  const r = smkit(install(t, "import { createRequire } from 'node:module';\ncreateRequire(import.meta.url)('smkit-absent-package/lib/x.js');\nexport async function main() {}\n"));
  assert.equal(r.status, 1);
  assert.equal(r.stderr, "smkit: the package smkit-absent-package is not installed; install smkit's dependencies (npm ci, or npm install), or reinstall smkit.\n");
});

test('a package the CLI imports is not installed (a scoped one): the launcher names it', (t) => {
  const r = smkit(install(t, "import '@smkit-absent/package';\nexport async function main() {}\n"));
  assert.equal(r.status, 1);
  assert.equal(r.stderr, "smkit: the package @smkit-absent/package is not installed; install smkit's dependencies (npm ci, or npm install), or reinstall smkit.\n");
});

test("once the CLI's code is loaded, main runs, and what it throws is printed as it is", (t) => {
  const root = install(t, "export async function main(argv) {\n  console.log(JSON.stringify(argv.slice(2)));\n  throw Object.assign(new Error(\"Cannot find module 'a-handler-package'\"), { code: 'MODULE_NOT_FOUND' });\n}\n");
  const r = smkit(root);
  assert.equal(r.stdout, '["--version"]\n');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^Error: Cannot find module 'a-handler-package'\n/);
  assert.doesNotMatch(r.stderr, /not installed|npm run build/);
});
