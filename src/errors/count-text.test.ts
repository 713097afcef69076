import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countText } from './count-text.js';

test('countText groups digits by three with spaces from 10 000 up, as the docs write limits, and leaves smaller or unsafe numbers as String does', () => {
  const cases: [number, string][] = [
    [3, '3'],
    [1000, '1000'],
    [9999, '9999'],
    [10_000, '10 000'],
    [100_000, '100 000'],
    [250_000, '250 000'],
    [1_000_000, '1 000 000'],
    [-12_345, '-12 345'],
    [1.5, '1.5'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
  ];
  for (const [n, text] of cases) assert.equal(countText(n), text, String(n));
});
