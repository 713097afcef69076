import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { invalidPath, pathProblem } from './flag-values.js';

test('pathProblem words what fs refused after the path, permission included (which root never meets, so the CLI tests only see it as another user)', () => {
  const err = (code: string) => Object.assign(new Error(code), { code });
  assert.equal(pathProblem(err('ENOENT')), 'does not exist');
  assert.equal(pathProblem(err('ENOTDIR')), 'does not exist');
  assert.equal(pathProblem(err('EISDIR')), 'is a directory');
  assert.equal(pathProblem(err('EACCES')), 'cannot be read (permission denied)');
  assert.equal(pathProblem(err('EPERM'), 'written'), 'cannot be written (permission denied)');
  assert.equal(pathProblem(err('ELOOP')), 'cannot be read (ELOOP)');
  const e = invalidPath('--file', 'rows.csv', 'the request body, a file', pathProblem(err('EACCES')));
  assert.equal(e.code, 'ERR_CLI_USAGE');
  assert.equal(e.message, `--file="rows.csv" is invalid: expected the request body, a file; ${path.resolve('rows.csv')} cannot be read (permission denied).`);
});
