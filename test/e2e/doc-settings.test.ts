// Every variable src/config reads (the only place settings are read) is documented: the serving
// settings each in a row of the README's settings table, the others (local SageMaker, training,
// deploy) on a page of docs/ or in the README, so a new setting cannot ship unexplained.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CONFIG = path.join(REPO_ROOT, 'src', 'config');
const VARIABLE = /\b(?:SMKIT|SAGEMAKER|SM)_[A-Z0-9_]+\b/g;

const read = (file: string): string => readFileSync(file, 'utf8');
const variablesIn = (file: string): string[] => [...new Set(read(path.join(CONFIG, file)).match(VARIABLE) ?? [])].sort();
const readme = read(path.join(REPO_ROOT, 'README.md'));
const docs = readdirSync(path.join(REPO_ROOT, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .map((f) => read(path.join(REPO_ROOT, 'docs', f)));

test("every serving setting has a row in the README's settings table", () => {
  const variables = variablesIn('settings.ts');
  assert.ok(variables.length > 40, `only ${variables.length} variables found in src/config/settings.ts`);
  const rows = new Set([...readme.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1]));
  assert.deepEqual(variables.filter((v) => !rows.has(v)), []);
});

test('every other variable src/config reads is named in the README or a page of docs/', () => {
  const files = readdirSync(CONFIG).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'settings.ts');
  const missing = files.flatMap((f) => variablesIn(f).filter((v) => ![readme, ...docs].some((page) => page.includes(`\`${v}\``))).map((v) => `${v} (src/config/${f})`));
  assert.deepEqual(missing, []);
});
