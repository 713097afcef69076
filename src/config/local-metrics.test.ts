import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ToolkitError } from '../errors/catalogue.js';
import { loadLocalMetricsSettings } from './local-metrics.js';

test('SMKIT_LOCAL_SECONDS_PER_MINUTE: real time by default, fractions allowed, bad values name the variable', () => {
  assert.deepEqual(loadLocalMetricsSettings({}), { secondsPerMinute: 60 });
  assert.equal(loadLocalMetricsSettings({ SMKIT_LOCAL_SECONDS_PER_MINUTE: '0.5' }).secondsPerMinute, 0.5);
  assert.ok(Object.isFrozen(loadLocalMetricsSettings({})));
  for (const bad of ['0', '-1', '61', 'fast', '1e9']) {
    assert.throws(
      () => loadLocalMetricsSettings({ SMKIT_LOCAL_SECONDS_PER_MINUTE: bad }),
      (err: unknown) => err instanceof ToolkitError && err.code === 'ERR_CONFIG_INVALID' && err.message.includes('SMKIT_LOCAL_SECONDS_PER_MINUTE'),
      bad,
    );
  }
});
