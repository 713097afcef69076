import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileWhereFolder } from './file-and-folder.js';

test('fileWhereFolder finds a path that is a folder of another, whichever comes first, and takes the same path twice or siblings as no clash', () => {
  const self = (p: string): string => p;
  assert.deepEqual(fileWhereFolder(['a.csv', 'a.csv/b.csv'], self), { file: 'a.csv', folder: 'a.csv/b.csv' });
  assert.deepEqual(fileWhereFolder(['a/b/c', 'x', 'a/b'], self), { file: 'a/b', folder: 'a/b/c' });
  assert.deepEqual(fileWhereFolder(['a/b', 'a/b/c/d'], self), { file: 'a/b', folder: 'a/b/c/d' });
  assert.equal(fileWhereFolder(['a.csv', 'a.csv-2/b', 'a/b', 'a/c', 'a/b'], self), undefined);
});
