import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { misspeltSmkitVariables, misspeltSmkitVariableWarnings, SMKIT_VARIABLES } from './smkit-variables.js';
import { REPO_ROOT } from '../../test/helpers/serve-process.js';

test('a misspelt SMKIT_ variable is found with the name meant; known names, and SMKIT_ names near none, are not', () => {
  assert.deepEqual(misspeltSmkitVariables({ SMKIT_BATCH_MAX_SIZ: '8', SMKIT_BATCH_MAX_SIZE: '8', SMKIT_LOG_LEVL: 'debug', smkit_debug: '1', SMKIT_SOMETHING_ELSE_ENTIRELY: 'x', PATH: '/bin' }), [
    { variable: 'SMKIT_BATCH_MAX_SIZ', meant: ['SMKIT_BATCH_MAX_SIZE'] },
    { variable: 'SMKIT_LOG_LEVL', meant: ['SMKIT_LOG_LEVEL'] },
    { variable: 'smkit_debug', meant: ['SMKIT_DEBUG'] },
  ]);
  assert.deepEqual(misspeltSmkitVariables(Object.fromEntries(SMKIT_VARIABLES.map((v) => [v, '1']))), []);
});

test('the warning quotes the names meant and lists them as the other did-you-mean messages do', () => {
  assert.deepEqual(
    misspeltSmkitVariableWarnings({ SMKIT_CONNECTIONEBALANCING: 'true', SMKIT_BATCH_MAX_SIZ: '8' }).map((w) => w.message),
    [
      'SMKIT_CONNECTIONEBALANCING is not a setting smkit reads, so it is ignored: did you mean "SMKIT_CONNECTION_BALANCING" or "SMKIT_CONNECTION_REBALANCING"?',
      'SMKIT_BATCH_MAX_SIZ is not a setting smkit reads, so it is ignored: did you mean "SMKIT_BATCH_MAX_SIZE"?',
    ],
  );
});

test('SMKIT_VARIABLES holds every SMKIT_ variable the source and README name, so none of them is taken for a typo', () => {
  const named = new Set<string>();
  const scan = (text: string) => {
    for (const m of text.matchAll(/\bSMKIT_[A-Z0-9_]*[A-Z0-9]\b/g)) named.add(m[0]);
  };
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      // Test files name typos on purpose (this one, serve-process's SMKIT_BATCH_MAX_SIZ); the test tools they read are named in test/helpers and the e2e files.
      else if (/\.(ts|mjs|js|sh|md)$/.test(entry.name) && !entry.name.endsWith('.test.ts')) scan(readFileSync(file, 'utf8'));
    }
  };
  // Read by serve, local, train and deploy (src), the images (Dockerfile, docker/), the scripts and test tools (shell ones too), and documented (README, docs/).
  for (const dir of ['src', 'scripts', 'docker', 'test/helpers', 'docs']) walk(path.join(REPO_ROOT, dir));
  for (const file of ['README.md', 'Dockerfile']) scan(readFileSync(path.join(REPO_ROOT, file), 'utf8'));
  for (const entry of readdirSync(path.join(REPO_ROOT, 'test/e2e'))) {
    // The e2e files read test settings (SMKIT_TEST_AWS_CLI) by process.env.
    for (const m of readFileSync(path.join(REPO_ROOT, 'test/e2e', entry), 'utf8').matchAll(/process\.env\.(SMKIT_[A-Z0-9_]*[A-Z0-9])\b/g)) named.add(m[1]!);
  }
  // A warning's name (process.emitWarning's type), not a variable.
  named.delete('SMKIT_INTERNAL_FAILURE');
  named.delete('SMKIT_VARIABLES');
  // A setting proposed and not made, in the benchmarks' history.
  named.delete('SMKIT_MAX_PENDING_INVOCATIONS');
  assert.deepEqual([...named].filter((n) => !(SMKIT_VARIABLES as readonly string[]).includes(n)).sort(), []);
});
