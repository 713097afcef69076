import { test } from 'node:test';
import assert from 'node:assert/strict';
import { secondsText } from './seconds-text.js';

test('secondsText: a sub-second duration keeps two significant digits, never "0"; from 10 s, whole seconds', () => {
  assert.equal(secondsText(250), '0.25');
  assert.equal(secondsText(500), '0.5');
  assert.equal(secondsText(5), '0.005');
  assert.equal(secondsText(1500), '1.5');
  assert.equal(secondsText(3000), '3');
  assert.equal(secondsText(60_000), '60');
  assert.equal(secondsText(60_400), '60');
  assert.equal(secondsText(900_000), '900');
});
