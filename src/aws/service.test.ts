import { test } from 'node:test';
import assert from 'node:assert/strict';
import { internalFailureLogger } from './service.js';

test('internalFailureLogger: without a log there is no hook (the cause becomes a process warning); with one, each cause is logged as a warning naming where, with its message and stack', () => {
  assert.equal(internalFailureLogger(undefined), undefined);
  const logged: Array<[string, string, Record<string, unknown>]> = [];
  const hook = internalFailureLogger((level, msg, fields) => logged.push([level, msg, fields]));
  assert.ok(hook);
  const err = new Error('boom');
  hook('CloudWatch', err);
  hook('front door', 'not an Error');
  assert.deepEqual(logged, [
    ['warn', 'the local CloudWatch failed (its caller was not told the cause)', { message: 'boom', stack: err.stack }],
    ['warn', 'the local front door failed (its caller was not told the cause)', { message: 'not an Error' }],
  ]);
});
