import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { excerpt, jsonExcerpt } from './excerpt.js';

test('jsonExcerpt: the first max characters of JSON.stringify, for any JSON value', () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.integer({ min: 1, max: 80 }), (value, max) => {
      assert.equal(jsonExcerpt(value, max), excerpt(String(JSON.stringify(value)), max));
    }),
    { numRuns: 500 },
  );
});

test('jsonExcerpt: values nested 1 000 000 deep or 10^6 long are written only as far as the excerpt', () => {
  let deep: unknown = 1;
  for (let i = 0; i < 1_000_000; i++) deep = i % 2 ? [deep] : { a: deep };
  assert.equal(jsonExcerpt(deep, 12), '[{"a":[{"a":…');
  assert.equal(jsonExcerpt(['x'.repeat(1_000_000)], 5), '["xxx…');
  assert.equal(jsonExcerpt(undefined), 'undefined');
  assert.equal(jsonExcerpt(Number.NaN), 'null');
});
