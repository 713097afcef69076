import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMediaType, parseMediaTypeList } from './media-type.js';

test('parseMediaType lower-cases the type and keeps parameters (C-1.13)', () => {
  assert.deepEqual(parseMediaType('Application/JSON; charset=UTF-8'), { mediaType: 'application/json', params: { charset: 'UTF-8' } });
  assert.deepEqual(parseMediaType('text/csv'), { mediaType: 'text/csv', params: {} });
});

test('parseMediaType tolerates odd spacing, quotes and empty parameters', () => {
  assert.equal(parseMediaType('  application/json ;charset = "utf-8" ; ').mediaType, 'application/json');
  assert.equal(parseMediaType('  application/json ;charset = "utf-8" ; ').params['charset'], 'utf-8');
  assert.equal(parseMediaType('text / csv').mediaType, 'text/csv');
  assert.equal(parseMediaType('text/csv;').mediaType, 'text/csv');
});

test('parseMediaType answers an empty type for a missing or blank header', () => {
  assert.deepEqual(parseMediaType(undefined), { mediaType: '', params: {} });
  assert.deepEqual(parseMediaType('   '), { mediaType: '', params: {} });
});

test('parseMediaTypeList splits Accept entries, keeping q and skipping empty entries', () => {
  assert.deepEqual(
    parseMediaTypeList('a/b ; q=1, c/d,,  E/F;q=0.5').map((m) => [m.mediaType, m.params['q']]),
    [['a/b', '1'], ['c/d', undefined], ['e/f', '0.5']],
  );
});

test('a header parsed again gives the same answer, frozen so no caller can change it for the next', () => {
  const first = parseMediaType('Text/CSV; Header=Present');
  const again = parseMediaType('Text/CSV; Header=Present');
  assert.deepEqual(again, { mediaType: 'text/csv', params: { header: 'Present' } });
  assert.deepEqual(again, first);
  assert.ok(Object.isFrozen(again) && Object.isFrozen(again.params));
  // Thousands of different headers (a hostile client) keep being parsed right; the cache stays bounded.
  for (let i = 0; i < 2000; i++) assert.equal(parseMediaType(`application/x-${i}`).mediaType, `application/x-${i}`);
  assert.deepEqual(parseMediaType('(((; a'), parseMediaType('(((; a'));
});
