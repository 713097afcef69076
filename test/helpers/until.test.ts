import { test } from 'node:test';
import assert from 'node:assert/strict';
import { until } from './until.js';

test('until returns the first value that is not undefined, null or false', async () => {
  let calls = 0;
  const probes: unknown[] = [undefined, null, false, 0, 'never reached'];
  const value = await until('a value', () => probes[calls++], { intervalMs: 0 });
  assert.equal(value, 0, '0 is a value, not "not yet"');
  assert.equal(calls, 4);
});

test('until fails after its deadline with a message naming what was awaited and the detail', async () => {
  await assert.rejects(until('the moon to turn blue', () => false, { timeoutMs: 30, intervalMs: 5, detail: () => 'last colour: grey' }), {
    message: /^timed out after 30 ms waiting for the moon to turn blue\nlast colour: grey$/,
  });
});

test('a throwing probe fails at once unless retryErrors is set; then the last error is named on timeout', async () => {
  let calls = 0;
  await assert.rejects(until('a server', () => {
    calls++;
    throw new Error('ECONNREFUSED');
  }), /ECONNREFUSED/);
  assert.equal(calls, 1);
  await assert.rejects(until('a server', () => Promise.reject(new Error('ECONNREFUSED')), { timeoutMs: 30, intervalMs: 5, retryErrors: true }), {
    message: 'timed out after 30 ms waiting for a server (last error: ECONNREFUSED)',
  });
  let attempts = 0;
  assert.equal(await until('a server', () => (++attempts < 3 ? Promise.reject(new Error('not yet')) : 'up'), { intervalMs: 0, retryErrors: true }), 'up');
});

test('between runs instead of the pause, once per failed probe', async () => {
  let steps = 0;
  await until('three steps', () => steps >= 3, { between: async () => void steps++ });
  assert.equal(steps, 3);
});
