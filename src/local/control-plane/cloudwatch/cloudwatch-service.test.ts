import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CloudWatchService } from './cloudwatch-service.js';
import { CloudWatchError } from './errors.js';
import { rejectsWithCloudWatchError } from '../../../../test/helpers/cloudwatch-errors.js';
import { invocation5xxAlarm } from '../../../../test/helpers/metric-alarms.js';
import { createMetricClock } from './metric-clock.js';
import { MetricStore } from './metric-store.js';

function setup() {
  // One second past a minute boundary: alarms evaluate a second after each period ends.
  const t = { now: 1_000_000 * 60_000 + 1000 };
  const clock = createMetricClock(60, () => t.now);
  const metrics = new MetricStore(clock);
  const cw = new CloudWatchService({ metrics, clock, region: 'eu-west-1', accountId: '123456789012' });
  return { t, metrics, cw };
}

const alarm = invocation5xxAlarm('ep-5xx', 'ep', 'AllTraffic');

const rejects = rejectsWithCloudWatchError;

test('put, describe with filters, set state, delete', async () => {
  const { cw } = setup();
  await cw.call('PutMetricAlarm', alarm);
  await cw.call('PutMetricAlarm', { ...alarm, AlarmName: 'other', TreatMissingData: 'notBreaching' });
  const all = (await cw.call('DescribeAlarms', {})).MetricAlarms as Array<Record<string, unknown>>;
  assert.deepEqual(all.map((a) => a.AlarmName), ['ep-5xx', 'other']);
  assert.equal(all[0]!.StateValue, 'INSUFFICIENT_DATA');
  assert.equal(all[0]!.StateReason, 'Unchecked: Initial alarm creation');
  assert.equal(all[0]!.AlarmArn, 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:ep-5xx');
  assert.equal(all[0]!.StateUpdatedTimestamp, 1_000_000 * 60 + 1);
  assert.deepEqual(((await cw.call('DescribeAlarms', { AlarmNamePrefix: 'ep' })).MetricAlarms as unknown[]).length, 1);
  await cw.call('SetAlarmState', { AlarmName: 'other', StateValue: 'ALARM', StateReason: 'testing' });
  const alarmed = (await cw.call('DescribeAlarms', { StateValue: 'ALARM' })).MetricAlarms as Array<Record<string, unknown>>;
  assert.deepEqual(alarmed.map((a) => [a.AlarmName, a.StateReason]), [['other', 'testing']]);
  // The relatives of an alarm are composite alarms, of which there are none locally: not every metric alarm.
  assert.deepEqual(await cw.call('DescribeAlarms', { ParentsOfAlarmName: 'ep-5xx' }), { MetricAlarms: [], CompositeAlarms: [] });
  assert.deepEqual(await cw.call('DescribeAlarms', { ChildrenOfAlarmName: 'composite', MaxRecords: 1 }), { MetricAlarms: [], CompositeAlarms: [] });
  await rejects(cw.call('DescribeAlarms', { ChildrenOfAlarmName: 'composite', StateValue: 'OK' }), 'ValidationException', 'ValidationError', /^ChildrenOfAlarmName cannot be used with StateValue/);
  await rejects(cw.call('DescribeAlarms', { ParentsOfAlarmName: '' }), 'ValidationException', 'ValidationError', /'parentsOfAlarmName'/);
  const paged = await cw.call('DescribeAlarms', { MaxRecords: 1 });
  assert.equal((paged.MetricAlarms as unknown[]).length, 1);
  const next = await cw.call('DescribeAlarms', { MaxRecords: 1, NextToken: paged.NextToken });
  assert.equal((next.MetricAlarms as Array<Record<string, unknown>>)[0]!.AlarmName, 'other');
  // An unknown name does not stop the others from being deleted (DeleteAlarms reference).
  assert.deepEqual(await cw.call('DeleteAlarms', { AlarmNames: ['ep-5xx', 'missing'] }), {});
  assert.deepEqual(((await cw.call('DescribeAlarms', {})).MetricAlarms as Array<Record<string, unknown>>).map((a) => a.AlarmName), ['other']);
  await cw.call('DeleteAlarms', { AlarmNames: ['other'] });
  assert.deepEqual((await cw.call('DescribeAlarms', {})).MetricAlarms, []);
});

test('errors as the service names them', async () => {
  const { cw } = setup();
  await rejects(cw.call('PutMetricAlarm', { ...alarm, Period: 45 }), 'ValidationException', 'ValidationError', 'Period must be 10, 20, 30 or a multiple of 60');
  await rejects(cw.call('PutMetricAlarm', { ...alarm, ExtendedStatistic: 'p99' }), 'InvalidParameterCombinationException', 'InvalidParameterCombination', /Exactly one/);
  await rejects(cw.call('PutMetricAlarm', { ...alarm, EvaluationPeriods: 2, DatapointsToAlarm: 3 }), 'ValidationException', 'ValidationError', 'DatapointsToAlarm must be less than or equal to EvaluationPeriods');
  await rejects(cw.call('PutMetricAlarm', { ...alarm, ComparisonOperator: 'Bigger' }), 'ValidationException', 'ValidationError', /^1 validation error detected: Value 'Bigger' at 'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set/);
  await rejects(cw.call('PutMetricAlarm', { ...alarm, EvaluationPeriods: 0, AlarmName: '' }), 'ValidationException', 'ValidationError', /^2 validation errors detected/);
  await rejects(
    cw.call('PutMetricAlarm', { ...alarm, Tags: [{ Key: '', Value: 'v' }, { Key: 'k', Value: 'v'.repeat(257) }, { Key: 'k' }] }),
    'ValidationException',
    'ValidationError',
    /^3 validation errors detected: Value '' at 'tags\.1\.member\.key' .*at 'tags\.2\.member\.value' failed to satisfy constraint: Member must have length less than or equal to 256; Value null at 'tags\.3\.member\.value'/,
  );
  await cw.call('PutMetricAlarm', { ...alarm, AlarmName: 'tagged', Tags: [{ Key: 'team', Value: '' }] });
  await rejects(cw.call('PutMetricAlarm', { ...alarm, TreatMissingData: 'sometimes' }), 'InvalidParameterValueException', 'InvalidParameterValue', /TreatMissingData/);
  await rejects(cw.call('PutMetricAlarm', { ...alarm, Period: 60, EvaluationPeriods: 1441 }), 'ValidationException', 'ValidationError', 'Metrics cannot be checked across more than a day (EvaluationPeriods * Period must be <= 86400) for alarms using period < 3600');
  await rejects(cw.call('PutMetricAlarm', { ...alarm, Period: 3600, EvaluationPeriods: 169 }), 'ValidationException', 'ValidationError', 'Metrics cannot be checked across more than a week (EvaluationPeriods * Period must be <= 604800) for alarms using period >= 3600');
  // What the local service does not evaluate is refused, never taken and silently evaluated otherwise.
  await rejects(cw.call('PutMetricAlarm', { AlarmName: 'promql', EvaluationCriteria: { PromQLCriteria: { Query: 'up == 0' } }, EvaluationInterval: 60 }), 'InvalidParameterValueException', 'InvalidParameterValue', /^PromQL alarms .* are not evaluated by the local CloudWatch/);
  await rejects(cw.call('PutMetricAlarm', { ...alarm, EvaluationInterval: 60 }), 'InvalidParameterValueException', 'InvalidParameterValue', /^PromQL alarms/);
  await rejects(cw.call('PutMetricAlarm', { ...alarm, EvaluationWindow: { WallClockWindow: { Timezone: 'UTC' } } }), 'InvalidParameterValueException', 'InvalidParameterValue', /WallClockWindow is not/);
  await cw.call('PutMetricAlarm', { ...alarm, AlarmName: 'sliding', EvaluationWindow: { SlidingWindow: {} } });
  await rejects(cw.call('SetAlarmState', { AlarmName: 'nope', StateValue: 'OK', StateReason: 'x' }), 'ResourceNotFound', 'ResourceNotFound', /Alarm nope does not exist/);
  await cw.call('PutMetricAlarm', alarm);
  await rejects(cw.call('SetAlarmState', { AlarmName: 'ep-5xx', StateValue: 'OK', StateReason: 'x', StateReasonData: '{' }), 'InvalidFormatFault', 'InvalidFormat', /JSON/);
  await rejects(cw.call('DescribeAlarms', { AlarmNames: ['a'], AlarmNamePrefix: 'a' }), 'InvalidParameterCombinationException', 'InvalidParameterCombination', /together/);
  await rejects(cw.call('DescribeAlarms', { NextToken: 'garbage' }), 'InvalidNextToken', 'InvalidNextToken', /NextToken/);
  await rejects(cw.call('PutDashboard', {}), 'UnknownOperationException', 'InvalidAction', /PutDashboard/);
});

test('alarms evaluate complete periods of what endpoints measure; SetAlarmState holds until the next evaluation', async () => {
  const { t, metrics, cw } = setup();
  await cw.call('PutMetricAlarm', alarm);
  const state = async () => ((await cw.call('DescribeAlarms', { AlarmNames: ['ep-5xx'] })).MetricAlarms as Array<Record<string, unknown>>)[0]!;
  const changes: string[] = [];
  cw.onStateChange((c) => changes.push(`${c.previous}->${c.state}`));
  cw.evaluateDue(t.now);
  assert.equal((await state()).StateValue, 'INSUFFICIENT_DATA');
  metrics.record({ endpoint: 'ep', variant: 'AllTraffic', at: t.now + 1000, outcome: '5xx', instanceCount: 1 });
  metrics.record({ endpoint: 'ep', variant: 'AllTraffic', at: t.now + 2000, outcome: '5xx', instanceCount: 1 });
  cw.evaluateDue(t.now + 30_000);
  assert.equal((await state()).StateValue, 'INSUFFICIENT_DATA', 'the period is not complete yet and not due');
  t.now += 60_000;
  cw.evaluateDue(t.now);
  const alarmed = await state();
  assert.equal(alarmed.StateValue, 'ALARM');
  assert.match(String(alarmed.StateReason), /^Threshold Crossed: 1 datapoint \[2\.0 \(\d\d\/\d\d\/\d\d \d\d:\d\d:00\)\] was greater than or equal to the threshold \(1\.0\)\.$/);
  metrics.record({ endpoint: 'ep', variant: 'AllTraffic', at: t.now + 1000, outcome: 'ok', instanceCount: 1 });
  t.now += 60_000;
  cw.evaluateDue(t.now);
  assert.equal((await state()).StateValue, 'OK');
  await cw.call('SetAlarmState', { AlarmName: 'ep-5xx', StateValue: 'ALARM', StateReason: 'forced by a test' });
  cw.evaluateDue(t.now + 30_000);
  assert.equal((await state()).StateValue, 'ALARM', 'a forced state holds until the next evaluation');
  t.now += 61_000;
  cw.evaluateDue(t.now);
  assert.equal((await state()).StateValue, 'OK', 'the next evaluation reads the latest period with data, before the idle one');
  // Past the evaluation range (1 + 5 periods) without data: nothing left to evaluate.
  t.now += 5 * 60_000;
  cw.evaluateDue(t.now);
  assert.equal((await state()).StateValue, 'INSUFFICIENT_DATA');
  assert.deepEqual(changes, ['INSUFFICIENT_DATA->ALARM', 'ALARM->OK', 'OK->ALARM', 'ALARM->OK', 'OK->INSUFFICIENT_DATA']);
  // Updating the alarm keeps its state.
  await cw.call('PutMetricAlarm', { ...alarm, Threshold: 5 });
  assert.equal((await state()).StateValue, 'INSUFFICIENT_DATA');
  assert.equal((await state()).Threshold, 5);
});

test('GetMetricStatistics and ListMetrics read the same store', async () => {
  const { t, metrics, cw } = setup();
  for (let i = 0; i < 4; i++) metrics.record({ endpoint: 'ep', variant: 'AllTraffic', at: t.now + i * 1000, outcome: 'ok', modelLatencyMicros: (i + 1) * 100, instanceCount: 1 });
  const stats = await cw.call('GetMetricStatistics', {
    Namespace: 'AWS/SageMaker',
    MetricName: 'ModelLatency',
    Dimensions: alarm.Dimensions,
    StartTime: new Date(t.now - 120_000),
    EndTime: new Date(t.now + 60_000),
    Period: 60,
    Statistics: ['Average', 'Maximum', 'SampleCount'],
    ExtendedStatistics: ['p50'],
  });
  const points = stats.Datapoints as Array<Record<string, unknown>>;
  assert.equal(points.length, 1);
  assert.deepEqual({ ...points[0], Timestamp: undefined }, { Timestamp: undefined, Average: 250, Maximum: 400, SampleCount: 4, Unit: 'Microseconds', ExtendedStatistics: { p50: 200 } });
  const listed = (await cw.call('ListMetrics', { Namespace: 'AWS/SageMaker', Dimensions: [{ Name: 'EndpointName', Value: 'ep' }] })).Metrics as Array<Record<string, unknown>>;
  assert.deepEqual(listed.map((m) => m.MetricName).sort(), ['Invocation4XXErrors', 'Invocation5XXErrors', 'InvocationModelErrors', 'Invocations', 'InvocationsPerInstance', 'ModelLatency']);
  await rejects(cw.call('GetMetricStatistics', { Namespace: 'n', MetricName: 'm', StartTime: new Date(0), EndTime: new Date(t.now), Period: 60, Statistics: ['Sum'] }), 'InvalidParameterCombinationException', 'InvalidParameterCombination', /1,440/);
  // A statistic outside the enum is InvalidParameterValue, as CloudWatch answers it; too many is the model's ValidationError.
  const range = { Namespace: 'n', MetricName: 'm', StartTime: new Date(t.now - 120_000), EndTime: new Date(t.now), Period: 60 };
  await rejects(cw.call('GetMetricStatistics', { ...range, Statistics: ['Sum', 'p99'] }), 'InvalidParameterValueException', 'InvalidParameterValue', /^The parameter Statistics\.member\.2 must be a value in the set \[ Minimum, Maximum, Average, SampleCount, Sum \]\.$/);
  await rejects(cw.call('GetMetricStatistics', { ...range, Statistics: ['Sum', 'Sum', 'Sum', 'Sum', 'Sum', 'Sum'] }), 'ValidationException', 'ValidationError', /statistics/);
});

test('DescribeAlarmHistory records creation, updates and every state change, newest first; DescribeAlarmsForMetric; Enable/DisableAlarmActions', async () => {
  const { t, cw } = setup();
  await cw.call('PutMetricAlarm', alarm);
  t.now += 1000;
  await cw.call('SetAlarmState', { AlarmName: 'ep-5xx', StateValue: 'ALARM', StateReason: 'forced', StateReasonData: '{"a":1}' });
  t.now += 1000;
  await cw.call('PutMetricAlarm', { ...alarm, Threshold: 2 });
  const history = (await cw.call('DescribeAlarmHistory', { AlarmName: 'ep-5xx' })).AlarmHistoryItems as Array<Record<string, unknown>>;
  assert.deepEqual(history.map((h) => [h.HistoryItemType, h.HistorySummary]), [
    ['ConfigurationUpdate', 'Alarm "ep-5xx" updated'],
    ['StateUpdate', 'Alarm updated from INSUFFICIENT_DATA to ALARM'],
    ['ConfigurationUpdate', 'Alarm "ep-5xx" created'],
  ]);
  assert.deepEqual(JSON.parse(history[1]!.HistoryData as string).newState, { stateValue: 'ALARM', stateReason: 'forced', stateReasonData: { a: 1 } });
  const states = await cw.call('DescribeAlarmHistory', { HistoryItemType: 'StateUpdate', ScanBy: 'TimestampAscending', MaxRecords: 1 });
  assert.equal((states.AlarmHistoryItems as unknown[]).length, 1);
  assert.equal(states.NextToken, undefined);
  const paged = await cw.call('DescribeAlarmHistory', { MaxRecords: 2 });
  // Items recorded between two pages neither repeat nor hide the ones already paged past.
  t.now += 1000;
  await cw.call('SetAlarmState', { AlarmName: 'ep-5xx', StateValue: 'OK', StateReason: 'between pages' });
  const rest = (await cw.call('DescribeAlarmHistory', { MaxRecords: 2, NextToken: paged.NextToken })).AlarmHistoryItems as Array<Record<string, unknown>>;
  assert.deepEqual(rest.map((h) => h.HistorySummary), ['Alarm "ep-5xx" created']);
  const ascending = await cw.call('DescribeAlarmHistory', { MaxRecords: 3, ScanBy: 'TimestampAscending' });
  const after = (await cw.call('DescribeAlarmHistory', { MaxRecords: 3, ScanBy: 'TimestampAscending', NextToken: ascending.NextToken })).AlarmHistoryItems as Array<Record<string, unknown>>;
  assert.deepEqual(after.map((h) => h.HistorySummary), ['Alarm updated from ALARM to OK']);

  await cw.call('PutMetricAlarm', { ...alarm, AlarmName: 'other-metric', MetricName: 'Invocations' });
  const forMetric = (await cw.call('DescribeAlarmsForMetric', { Namespace: 'AWS/SageMaker', MetricName: 'Invocation5XXErrors', Dimensions: [...alarm.Dimensions].reverse() })).MetricAlarms as Array<Record<string, unknown>>;
  assert.deepEqual(forMetric.map((a) => a.AlarmName), ['ep-5xx']);
  // The dimensions are part of the metric: without them (or with a part of them) it is another metric.
  assert.deepEqual((await cw.call('DescribeAlarmsForMetric', { Namespace: 'AWS/SageMaker', MetricName: 'Invocation5XXErrors' })).MetricAlarms, []);
  assert.deepEqual((await cw.call('DescribeAlarmsForMetric', { Namespace: 'AWS/SageMaker', MetricName: 'Invocation5XXErrors', Dimensions: alarm.Dimensions.slice(0, 1) })).MetricAlarms, []);
  await rejects(
    cw.call('DescribeAlarmsForMetric', { Namespace: 'AWS/SageMaker', MetricName: 'Invocation5XXErrors', Statistic: 'Median', Period: 0, Unit: 'Parsecs' }),
    'ValidationException',
    'ValidationError',
    /^3 validation errors detected: Value 'Median' at 'statistic' .*Value '0' at 'period' .*Value 'Parsecs' at 'unit'/,
  );
  await cw.call('DisableAlarmActions', { AlarmNames: ['ep-5xx'] });
  assert.equal(((await cw.call('DescribeAlarms', { AlarmNames: ['ep-5xx'] })).MetricAlarms as Array<Record<string, unknown>>)[0]!.ActionsEnabled, false);
  await cw.call('EnableAlarmActions', { AlarmNames: ['ep-5xx'] });
  assert.equal(((await cw.call('DescribeAlarms', { AlarmNames: ['ep-5xx'] })).MetricAlarms as Array<Record<string, unknown>>)[0]!.ActionsEnabled, true);
});

test('a high-resolution alarm of Period 20 is taken and evaluated on 20-second periods (PutMetricAlarm: 10, 20, 30 or a multiple of 60)', async () => {
  const { t, metrics, cw } = setup();
  await cw.call('PutMetricAlarm', { ...alarm, Period: 20 });
  const state = async () => ((await cw.call('DescribeAlarms', { AlarmNames: ['ep-5xx'] })).MetricAlarms as Array<Record<string, unknown>>)[0]!;
  assert.equal((await state()).Period, 20);
  metrics.record({ endpoint: 'ep', variant: 'AllTraffic', at: t.now + 1000, outcome: '5xx', instanceCount: 1 });
  t.now += 20_000;
  cw.evaluateDue(t.now);
  assert.equal((await state()).StateValue, 'ALARM');
  assert.equal(metrics.periodIndex(t.now, 20) - metrics.periodIndex(t.now - 20_000, 20), 1);
});

test('an alarm of an hour or more may look back seven days, and reads data older than a day from the hourly buckets', async () => {
  const { t, metrics, cw } = setup();
  await cw.call('PutMetricAlarm', { ...alarm, AlarmName: 'hourly', Period: 3600, EvaluationPeriods: 168 });
  for (let i = 0; i < 3; i++) metrics.record({ endpoint: 'ep', variant: 'AllTraffic', at: t.now + i * 1000, outcome: '5xx', instanceCount: 1 });
  // Two days on, a new write rolls the first day's 10-second buckets into their hour.
  t.now += 2 * 86_400_000;
  metrics.record({ endpoint: 'ep', variant: 'AllTraffic', at: t.now, outcome: 'ok', instanceCount: 1 });
  await cw.call('PutMetricAlarm', { ...alarm, Period: 86_400, EvaluationPeriods: 7, DatapointsToAlarm: 1, Threshold: 3 });
  cw.evaluateDue(t.now);
  assert.equal(cw.alarmState('ep-5xx'), 'ALARM');
  const described = ((await cw.call('DescribeAlarms', { AlarmNames: ['ep-5xx'] })).MetricAlarms as Array<Record<string, unknown>>)[0]!;
  assert.match(String(described.StateReason), /^Threshold Crossed: 1 out of the last 7 datapoints \[3\.0 /);
  // A forced state lasts until the next evaluation, a minute on whatever the period, not a day.
  await cw.call('SetAlarmState', { AlarmName: 'ep-5xx', StateValue: 'OK', StateReason: 'forced' });
  cw.evaluateDue(t.now + 30_000);
  assert.equal(cw.alarmState('ep-5xx'), 'OK');
  cw.evaluateDue(t.now + 61_000);
  assert.equal(cw.alarmState('ep-5xx'), 'ALARM');
});

test('DescribeAlarmHistory: HistoryData cut to its 4095 characters keeps whole characters (a lone surrogate in the JSON answer is a string boto3 cannot print)', async () => {
  const { t, cw } = setup();
  await cw.call('PutMetricAlarm', alarm);
  const lone = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
  const StateReasonData = JSON.stringify({ r: '😀'.repeat(1990) });
  // Reasons of either parity, so that one of the two items is cut inside a pair.
  for (const [StateValue, StateReason] of [['ALARM', '😀'.repeat(511)], ['OK', `x${'😀'.repeat(511)}`], ['ALARM', `xy${'😀'.repeat(510)}`]] as const) {
    t.now += 1000;
    await cw.call('SetAlarmState', { AlarmName: 'ep-5xx', StateValue, StateReason, StateReasonData });
  }
  const items = (await cw.call('DescribeAlarmHistory', { AlarmName: 'ep-5xx', HistoryItemType: 'StateUpdate' })).AlarmHistoryItems as Array<Record<string, unknown>>;
  assert.equal(items.length, 3);
  for (const item of items) {
    const data = item.HistoryData as string;
    assert.ok(data.length <= 4095 && data.length >= 4094, String(data.length));
    assert.doesNotMatch(data, lone);
  }
});
