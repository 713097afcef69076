import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideScaling, type ScalingSituation } from './target-tracking.js';

const policy = { targetValue: 70, highAlarm: 'OK' as const, lowAlarm: 'OK' as const, metricValue: 50, scaleOutCooldownMs: 1000, scaleInCooldownMs: 5000, disableScaleIn: false };
const base: ScalingSituation = { current: 2, minCapacity: 1, maxCapacity: 4, policy, scaleOutSuspended: false, scaleInSuspended: false, now: 100_000 };

test('capacity outside min..max is brought inside at once', () => {
  assert.deepEqual(decideScaling({ ...base, current: 1, minCapacity: 2 })?.desired, 2);
  assert.deepEqual(decideScaling({ ...base, current: 6 })?.desired, 4);
});

test('high alarm scales out proportionally, at least one, at most max, after the cooldown', () => {
  assert.equal(decideScaling({ ...base, policy: { ...policy, highAlarm: 'ALARM', metricValue: 105 } })?.desired, 3);
  assert.equal(decideScaling({ ...base, policy: { ...policy, highAlarm: 'ALARM', metricValue: 71 } })?.desired, 3);
  assert.equal(decideScaling({ ...base, policy: { ...policy, highAlarm: 'ALARM', metricValue: 1000 } })?.desired, 4);
  assert.equal(decideScaling({ ...base, current: 4, policy: { ...policy, highAlarm: 'ALARM', metricValue: 1000 } }), undefined);
  assert.equal(decideScaling({ ...base, lastScaleOutAt: 99_500, policy: { ...policy, highAlarm: 'ALARM', metricValue: 105 } }), undefined);
  assert.equal(decideScaling({ ...base, lastScaleOutAt: 99_000, policy: { ...policy, highAlarm: 'ALARM', metricValue: 105 } })?.direction, 'out');
  assert.equal(decideScaling({ ...base, scaleOutSuspended: true, policy: { ...policy, highAlarm: 'ALARM', metricValue: 105 } }), undefined);
});

test('during the scale-out cooldown only a larger scale-out happens: the capacity the initiating scale-out added counts (ScaleOutCooldown reference)', () => {
  // Scaled out from 1 to 3 at 99 500; the cooldown (1 s) runs until 100 500.
  const cooling = { ...base, current: 3, lastScaleOutAt: 99_500, scaleOutFrom: 1 };
  assert.equal(decideScaling({ ...cooling, policy: { ...policy, highAlarm: 'ALARM', metricValue: 140 } }), undefined, 'ceil(1 × 140 / 70) = 2 is no more than 3');
  assert.deepEqual(decideScaling({ ...cooling, policy: { ...policy, highAlarm: 'ALARM', metricValue: 250 } })?.desired, 4, 'ceil(1 × 250 / 70) = 4 is a larger scale-out');
  assert.equal(decideScaling({ ...cooling, current: 4, maxCapacity: 8, policy: { ...policy, highAlarm: 'ALARM', metricValue: 250 } }), undefined);
  assert.equal(decideScaling({ ...cooling, maxCapacity: 8, now: 100_500, policy: { ...policy, highAlarm: 'ALARM', metricValue: 140 } })?.desired, 6, 'after the cooldown, from the current capacity');
});

test('low alarm scales in, never below min, respecting cooldown, DisableScaleIn and suspension', () => {
  const low = { ...policy, lowAlarm: 'ALARM' as const, metricValue: 10 };
  assert.equal(decideScaling({ ...base, current: 4, policy: low })?.desired, 1);
  assert.equal(decideScaling({ ...base, current: 4, minCapacity: 2, policy: low })?.desired, 2);
  assert.equal(decideScaling({ ...base, current: 4, policy: { ...low, metricValue: 60 } })?.desired, 3);
  assert.equal(decideScaling({ ...base, current: 1, policy: low }), undefined);
  assert.equal(decideScaling({ ...base, lastScaleInAt: 96_000, policy: low }), undefined);
  assert.equal(decideScaling({ ...base, policy: { ...low, disableScaleIn: true } }), undefined);
  assert.equal(decideScaling({ ...base, scaleInSuspended: true, policy: low }), undefined);
  assert.equal(decideScaling({ ...base, policy: { ...low, lowAlarm: 'INSUFFICIENT_DATA' } }), undefined);
});

test('with MinCapacity 0 (an asynchronous endpoint) the low alarm takes the last instance away, and only the high alarm brings one back', () => {
  const zero = { ...base, minCapacity: 0 };
  const low = { ...policy, lowAlarm: 'ALARM' as const, metricValue: 0 };
  assert.deepEqual(decideScaling({ ...zero, current: 1, policy: low }), { desired: 0, direction: 'in', cause: 'the low alarm is in ALARM: 0 invocations per instance per minute against a target of 70' });
  assert.equal(decideScaling({ ...zero, current: 0, policy: low }), undefined);
  assert.equal(decideScaling({ ...zero, current: 0, policy: { ...policy, metricValue: 70 } }), undefined);
  assert.equal(decideScaling({ ...zero, current: 0, policy: { ...policy, highAlarm: 'ALARM', metricValue: 71 } })?.desired, 1);
});

test('a target of 0 or below has no proportion: each step is one instance', () => {
  for (const targetValue of [0, -5]) {
    assert.equal(decideScaling({ ...base, policy: { ...policy, targetValue, highAlarm: 'ALARM', metricValue: 50 } })?.desired, 3);
    assert.equal(decideScaling({ ...base, current: 3, policy: { ...policy, targetValue, lowAlarm: 'ALARM', metricValue: -50 } })?.desired, 2);
    assert.equal(decideScaling({ ...base, lastScaleOutAt: 99_500, scaleOutFrom: 1, policy: { ...policy, targetValue, highAlarm: 'ALARM', metricValue: 50 } }), undefined, 'no larger scale-out to compute in the cooldown');
  }
});
