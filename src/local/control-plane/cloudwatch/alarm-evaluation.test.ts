import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AlarmDefinition } from './alarm-definition.js';
import { evaluateAlarm, evaluationRangeLength, formatReasonTime, lowSampleMinimum, selectEvaluatedPeriods, type EvaluatedPeriod } from './alarm-evaluation.js';

const base: AlarmDefinition = {
  AlarmName: 'a',
  ActionsEnabled: true,
  OKActions: [],
  AlarmActions: [],
  InsufficientDataActions: [],
  Namespace: 'AWS/SageMaker',
  MetricName: 'Invocation5XXErrors',
  Dimensions: [],
  Statistic: 'Sum',
  Period: 60,
  EvaluationPeriods: 1,
  Threshold: 1,
  ComparisonOperator: 'GreaterThanOrEqualToThreshold',
};
const T0 = Date.UTC(2026, 10, 30, 6, 40, 0);
const range = (...values: Array<number | undefined>): EvaluatedPeriod[] => values.map((value, i) => (value === undefined ? { start: T0 + i * 60_000 } : { start: T0 + i * 60_000, value, sampleCount: 1 }));

test('one breaching datapoint of one goes to ALARM with the service-style reason', () => {
  const v = evaluateAlarm(base, range(3), T0 + 61_000)!;
  assert.equal(v.state, 'ALARM');
  assert.equal(v.reason, 'Threshold Crossed: 1 datapoint [3.0 (30/11/26 06:40:00)] was greater than or equal to the threshold (1.0).');
  const data = JSON.parse(v.reasonData);
  assert.equal(data.statistic, 'Sum');
  assert.deepEqual(data.recentDatapoints, [3]);
  assert.equal(data.threshold, 1);
});

test('below the threshold is OK; nothing at all is INSUFFICIENT_DATA by default', () => {
  assert.equal(evaluateAlarm(base, range(0.5), T0)!.reason, 'Threshold Crossed: 1 datapoint [0.5 (30/11/26 06:40:00)] was not greater than or equal to the threshold (1.0).');
  const none = evaluateAlarm({ ...base, EvaluationPeriods: 3 }, range(undefined, undefined, undefined), T0)!;
  assert.equal(none.state, 'INSUFFICIENT_DATA');
  assert.equal(none.reason, 'Insufficient Data: 3 datapoints were unknown.');
});

test('M out of N: DatapointsToAlarm counts breaching periods', () => {
  const def = { ...base, EvaluationPeriods: 5, DatapointsToAlarm: 3, ComparisonOperator: 'GreaterThanThreshold' as const, Threshold: 70 };
  assert.equal(evaluateAlarm(def, range(80, 10, 90, 10, 75), T0)!.state, 'ALARM');
  assert.match(evaluateAlarm(def, range(80, 10, 90, 10, 75), T0)!.reason, /^Threshold Crossed: 3 out of the last 5 datapoints \[75\.0 .*\] were greater than the threshold \(70\.0\) \(minimum 3 datapoints for OK -> ALARM transition\)\.$/);
  assert.equal(evaluateAlarm(def, range(80, 10, 90, 10, 10), T0)!.state, 'OK');
});

test('TreatMissingData decides what missing periods count as', () => {
  const def = { ...base, EvaluationPeriods: 3, DatapointsToAlarm: 2 };
  const gaps = range(5, undefined, undefined);
  assert.equal(evaluateAlarm({ ...def, TreatMissingData: 'breaching' }, gaps, T0)!.state, 'ALARM');
  assert.equal(evaluateAlarm({ ...def, TreatMissingData: 'notBreaching' }, gaps, T0)!.state, 'OK');
  assert.equal(evaluateAlarm({ ...def, TreatMissingData: 'missing' }, gaps, T0)!.state, 'OK');
  const allMissing = range(undefined, undefined, undefined);
  assert.equal(evaluateAlarm({ ...def, TreatMissingData: 'ignore' }, allMissing, T0), undefined);
  assert.equal(evaluateAlarm({ ...def, TreatMissingData: 'breaching' }, allMissing, T0)!.state, 'ALARM');
  assert.match(evaluateAlarm({ ...def, TreatMissingData: 'notBreaching' }, allMissing, T0)!.reason, /no datapoints were received for 3 periods and 3 missing datapoints were treated as \[NonBreaching\]/);
});

test('every comparison operator', () => {
  const at = (op: AlarmDefinition['ComparisonOperator'], value: number) => evaluateAlarm({ ...base, ComparisonOperator: op }, range(value), T0)!.state;
  assert.equal(at('GreaterThanOrEqualToThreshold', 1), 'ALARM');
  assert.equal(at('GreaterThanThreshold', 1), 'OK');
  assert.equal(at('LessThanThreshold', 0.99), 'ALARM');
  assert.equal(at('LessThanThreshold', 1), 'OK');
  assert.equal(at('LessThanOrEqualToThreshold', 1), 'ALARM');
  assert.equal(formatReasonTime(Date.UTC(2026, 0, 2, 3, 4, 5)), '02/01/26 03:04:05');
});

test('the evaluation range looks further back: the latest real datapoints win over missing periods', () => {
  assert.equal(evaluationRangeLength(1), 6);
  assert.equal(evaluationRangeLength(15), 30);
  const starts = (r: EvaluatedPeriod[]) => r.map((p) => (p.start - T0) / 60_000);
  // Enough real datapoints: the 3 most recent, the gap skipped.
  assert.deepEqual(starts(selectEvaluatedPeriods(range(1, 2, undefined, 3, undefined), 3)), [0, 1, 3]);
  // Too few: every real one plus the most recent missing ones.
  assert.deepEqual(starts(selectEvaluatedPeriods(range(1, undefined, undefined, undefined, 5), 3)), [0, 3, 4]);
  assert.deepEqual(starts(selectEvaluatedPeriods(range(undefined, undefined, undefined), 2)), [1, 2]);
  // A 15-of-15 low alarm survives one empty minute in a trickle.
  const trickle = range(...Array.from({ length: 20 }, (_, i) => (i === 12 ? undefined : 2)));
  const low = { ...base, EvaluationPeriods: 15, ComparisonOperator: 'LessThanThreshold' as const, Threshold: 9 };
  assert.equal(evaluateAlarm(low, selectEvaluatedPeriods(trickle, 15), T0)!.state, 'ALARM');
  assert.equal(evaluateAlarm(low, trickle.slice(-15), T0)!.state, 'OK', 'without the longer range the gap would reset it');
});

test('EvaluateLowSampleCountPercentile ignore keeps the state while a period has too few samples for its percentile', () => {
  // 10/(1-p) from p50 up, 10/p below (user guide, "Percentile-based alarms and low data samples").
  assert.ok(Math.abs(lowSampleMinimum(99) - 1000) < 1e-6);
  assert.equal(lowSampleMinimum(50), 20);
  assert.equal(lowSampleMinimum(10), 100);
  assert.equal(lowSampleMinimum(100), 0);
  const p99 = { ...base, Statistic: undefined, ExtendedStatistic: 'p99', ComparisonOperator: 'GreaterThanThreshold' as const, Threshold: 100 };
  const at = (sampleCount: number) => [{ start: T0, value: 500, sampleCount }];
  assert.equal(evaluateAlarm({ ...p99, EvaluateLowSampleCountPercentile: 'ignore' }, at(999), T0), undefined, 'p99 needs 1000 samples');
  assert.equal(evaluateAlarm({ ...p99, EvaluateLowSampleCountPercentile: 'ignore' }, at(1000), T0)!.state, 'ALARM');
  assert.equal(evaluateAlarm({ ...p99, EvaluateLowSampleCountPercentile: 'evaluate' }, at(3), T0)!.state, 'ALARM');
  assert.equal(evaluateAlarm(p99, at(3), T0)!.state, 'ALARM', 'evaluate is the default');
});
