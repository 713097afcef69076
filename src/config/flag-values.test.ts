import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkFolderToCreate, invalidPath, pathProblem } from './flag-values.js';

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

test('checkFolderToCreate takes a folder, a link to one, and a path missing several levels deep; it refuses a file and a path under one', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-folder-to-create-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'empty'));
  symlinkSync(path.join(dir, 'empty'), path.join(dir, 'link'));
  writeFileSync(path.join(dir, 'rows.csv'), '1,2\n');
  for (const ok of ['empty', 'link', 'link/new/deeper', 'missing/and/missing', '.']) {
    assert.doesNotThrow(() => checkFolderToCreate('--output', path.join(dir, ok), 'an output folder'), ok);
  }
  // Relative to the working folder, as typed.
  assert.doesNotThrow(() => checkFolderToCreate('--output', path.relative(process.cwd(), path.join(dir, 'missing')), 'an output folder'));
  const file = path.join(dir, 'rows.csv');
  assert.throws(() => checkFolderToCreate('--output', file, 'an output folder'), {
    code: 'ERR_CLI_USAGE',
    message: `--output=${JSON.stringify(file)} is invalid: expected an output folder; ${file} is a file.`,
  });
  const under = path.join(file, 'out', 'deeper');
  assert.throws(() => checkFolderToCreate('--output', under, 'an output folder'), {
    code: 'ERR_CLI_USAGE',
    message: `--output=${JSON.stringify(under)} is invalid: expected an output folder; ${under} cannot be created: ${file} is a file.`,
  });
});

test('checkFolderToCreate refuses "-", which reads as stdout (smkit invoke -o -), rather than let a folder named "-" be made', () => {
  assert.throws(() => checkFolderToCreate('--output', '-', 'an output folder'), {
    code: 'ERR_CLI_USAGE',
    message: '--output="-" is invalid: expected an output folder, named (such as ./out): the command writes files into a folder, not to stdout.',
  });
  assert.doesNotThrow(() => checkFolderToCreate('--output', './-out', 'an output folder'));
});
