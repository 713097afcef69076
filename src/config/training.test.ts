import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadTrainingSettings } from './training.js';
import { loadSettings } from './settings.js';

const messageOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail('no error');
};

test("smkit train refuses a log level between Python's levels with the forms it takes, as smkit serve words it", () => {
  const train = messageOf(() => loadTrainingSettings({ SMKIT_LOG_LEVEL: '25' }));
  assert.match(train, /^SMKIT_LOG_LEVEL="25" is invalid: expected a Python level number \(0, 10, 20, 30, 40, 50\) or name \(NOTSET, DEBUG, INFO, WARNING, ERROR, CRITICAL\)/);
  assert.equal(train, messageOf(() => loadSettings({ SMKIT_LOG_LEVEL: '25' }, {}, 4)));
  // Each form the message names is taken.
  for (const level of ['0', '10', '50', 'notset', 'CRITICAL', 'trace', 'warn', 'fatal', 'silent']) {
    assert.doesNotThrow(() => loadTrainingSettings({ SMKIT_LOG_LEVEL: level }), level);
  }
});
