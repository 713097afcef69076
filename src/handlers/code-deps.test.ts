import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareCodeDir } from './code-deps.js';
import type { Logger } from '../core/context.js';

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/handlers/code-deps');
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

test('code/package.json dependencies install when the home folder cannot be written (a read-only root filesystem): npm keeps its cache in the temp dir', (t) => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'smkit-code-deps-'));
  const saved = { HOME: process.env['HOME'], TMPDIR: process.env['TMPDIR'], npm_config_cache: process.env['npm_config_cache'], NPM_CONFIG_CACHE: process.env['NPM_CONFIG_CACHE'] };
  t.after(() => {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
    rmSync(tmp, { recursive: true, force: true });
  });
  cpSync(FIXTURE, path.join(tmp, 'model'), { recursive: true });
  // A file where the home folder should be: ~/.npm cannot be made, as under `docker run --read-only` (root is not stopped by modes).
  writeFileSync(path.join(tmp, 'home'), '');
  process.env['HOME'] = path.join(tmp, 'home');
  process.env['TMPDIR'] = path.join(tmp);
  delete process.env['npm_config_cache']; // `npm test` sets it for its scripts
  delete process.env['NPM_CONFIG_CACHE'];
  const codeDir = prepareCodeDir(path.join(tmp, 'model'), 'auto', silent);
  assert.equal(path.dirname(codeDir), tmp);
  assert.ok(existsSync(path.join(codeDir, 'node_modules', 'greet', 'index.js')));
  assert.ok(existsSync(path.join(tmp, 'smkit-npm-cache')), 'npm\'s cache is in the temp dir');
});
