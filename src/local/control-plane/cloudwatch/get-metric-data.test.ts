import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CloudWatchService } from './cloudwatch-service.js';
import { CloudWatchError } from './errors.js';
import { rejectsWithCloudWatchError } from '../../../../test/helpers/cloudwatch-errors.js';
import { createMetricClock } from './metric-clock.js';
import { MetricStore } from './metric-store.js';

// On a minute boundary, so minute periods start at NOW - k minutes.
const NOW = 1_000_000 * 60_000;

function setup() {
  const clock = createMetricClock(60, () => NOW);
  const metrics = new MetricStore(clock);
  return { metrics, cw: new CloudWatchService({ metrics, clock }) };
}

const rejects = rejectsWithCloudWatchError;

const stat = (id: string, metricName: string, s: string, extra: Record<string, unknown> = {}) => ({
  Id: id,
  MetricStat: { Metric: { Namespace: 'MyApp', MetricName: metricName }, Period: 60, Stat: s },
  ...extra,
});
const range = { StartTime: (NOW - 10 * 60_000) / 1000, EndTime: (NOW + 60_000) / 1000 };
type Result = { Id: string; Label: string; Timestamps: number[]; Values: number[]; StatusCode: string; Messages: unknown[] };

/** Puts `value` once a minute for the last `minutes` minutes (oldest first). */
async function putMinutes(cw: CloudWatchService, metricName: string, values: number[]): Promise<void> {
  await cw.call('PutMetricData', {
    Namespace: 'MyApp',
    MetricData: values.map((v, i) => ({ MetricName: metricName, Value: v, Timestamp: (NOW - (values.length - i) * 60_000 + 5000) / 1000 })),
  });
}

test('MetricStat queries: statistics, percentiles, labels, ReturnData, newest first by default', async () => {
  const { cw } = setup();
  await putMinutes(cw, 'Quality', [1, 2, 3]);
  await cw.call('PutMetricData', { Namespace: 'MyApp', MetricData: [{ MetricName: 'Quality', Value: 5, Timestamp: (NOW - 60_000 + 9000) / 1000 }] });
  const out = await cw.call('GetMetricData', {
    ...range,
    MetricDataQueries: [stat('sum', 'Quality', 'Sum'), stat('p', 'Quality', 'p50', { Label: 'median' }), stat('hidden', 'Quality', 'Maximum', { ReturnData: false }), stat('none', 'Absent', 'Sum')],
  });
  const results = out.MetricDataResults as Result[];
  assert.deepEqual(results.map((r) => [r.Id, r.Label, r.StatusCode]), [['sum', 'Quality', 'Complete'], ['p', 'median', 'Complete'], ['none', 'Absent', 'Complete']]);
  assert.deepEqual(results[0]!.Values, [8, 2, 1]);
  assert.deepEqual(results[0]!.Timestamps, [(NOW - 60_000) / 1000, (NOW - 120_000) / 1000, (NOW - 180_000) / 1000]);
  assert.deepEqual(results[1]!.Values, [3, 2, 1], 'nearest-rank median of [3, 5] is 3');
  assert.deepEqual(results[2]!.Values, []);
  assert.deepEqual(out.Messages, []);
  assert.equal(out.NextToken, undefined);
  const asc = await cw.call('GetMetricData', { ...range, ScanBy: 'TimestampAscending', MetricDataQueries: [stat('avg', 'Quality', 'Average')] });
  assert.deepEqual((asc.MetricDataResults as Result[])[0]!.Values, [1, 2, 4]);
});

test('Period 20 reads 20-second periods, in GetMetricData and GetMetricStatistics (1, 5, 10, 20, 30 or a multiple of 60 in the references)', async () => {
  const { cw } = setup();
  await cw.call('PutMetricData', { Namespace: 'MyApp', MetricData: [5, 15, 25].map((sec, i) => ({ MetricName: 'Quality', Value: i + 1, Timestamp: (NOW - 60_000 + sec * 1000) / 1000 })) });
  const out = await cw.call('GetMetricData', { ...range, ScanBy: 'TimestampAscending', MetricDataQueries: [{ Id: 's', MetricStat: { ...stat('s', 'Quality', 'Sum').MetricStat, Period: 20 } }] });
  assert.deepEqual((out.MetricDataResults as Result[])[0]!.Values, [3, 3]);
  const stats = await cw.call('GetMetricStatistics', { Namespace: 'MyApp', MetricName: 'Quality', StartTime: range.StartTime, EndTime: range.EndTime, Period: 20, Statistics: ['Sum'] });
  assert.deepEqual((stats.Datapoints as Array<{ Sum: number }>).map((d) => d.Sum), [3, 3]);
});

test('StartTime is inclusive, EndTime exclusive; Unit must match the unit the data was put with', async () => {
  const { cw } = setup();
  await putMinutes(cw, 'Quality', [1, 2, 3]);
  const out = await cw.call('GetMetricData', { StartTime: (NOW - 120_000) / 1000, EndTime: (NOW - 60_000) / 1000, MetricDataQueries: [stat('s', 'Quality', 'Sum')] });
  assert.deepEqual((out.MetricDataResults as Result[])[0]!.Values, [2]);
  const unit = async (u: string) => ((await cw.call('GetMetricData', { ...range, MetricDataQueries: [{ Id: 'u', MetricStat: { Metric: { Namespace: 'MyApp', MetricName: 'Quality' }, Period: 60, Stat: 'Sum', Unit: u } }] })).MetricDataResults as Result[])[0]!.Values;
  assert.deepEqual(await unit('None'), [3, 2, 1]);
  assert.deepEqual(await unit('Seconds'), []);
});

test('MaxDatapoints pages through every query with NextToken and PartialData', async () => {
  const { cw } = setup();
  await putMinutes(cw, 'a', [1, 2, 3]);
  await putMinutes(cw, 'b', [10, 20]);
  const queries = [stat('qa', 'a', 'Sum'), stat('qb', 'b', 'Sum')];
  const seen: Record<string, number[]> = { qa: [], qb: [] };
  let token: unknown;
  let pages = 0;
  do {
    const out = await cw.call('GetMetricData', { ...range, ScanBy: 'TimestampAscending', MaxDatapoints: 2, MetricDataQueries: queries, ...(token ? { NextToken: token } : {}) });
    const results = out.MetricDataResults as Result[];
    const count = results.reduce((n, r) => n + r.Values.length, 0);
    assert.ok(count <= 2, `page ${pages} has ${count} datapoints`);
    for (const r of results) {
      seen[r.Id]!.push(...r.Values);
      if (out.NextToken === undefined) assert.equal(r.StatusCode, 'Complete');
    }
    if (pages === 0) assert.deepEqual(results.map((r) => [r.StatusCode, r.Values]), [['PartialData', [1, 2]], ['PartialData', []]]);
    token = out.NextToken;
    pages++;
  } while (token !== undefined && pages < 10);
  assert.equal(pages, 3);
  assert.deepEqual(seen, { qa: [1, 2, 3], qb: [10, 20] });
  await rejects(cw.call('GetMetricData', { ...range, MetricDataQueries: queries, NextToken: 'not-a-token' }), 'InvalidNextToken', 'InvalidNextToken', 'The NextToken is not one GetMetricData gave: pass the NextToken of the previous GetMetricData answer as it came, or none for the first page.');
});

test('validation: ids, Expression and MetricStat, statistics, periods, limits', async () => {
  const { cw } = setup();
  const get = (input: Record<string, unknown>) => cw.call('GetMetricData', { ...range, ...input });
  const v = (input: Record<string, unknown>, message: string | RegExp) => rejects(get(input), 'ValidationException', 'ValidationError', message);
  const ipv = (input: Record<string, unknown>, message: string | RegExp) => rejects(get(input), 'InvalidParameterValueException', 'InvalidParameterValue', message);
  await rejects(cw.call('GetMetricData', { MetricDataQueries: [stat('a', 'm', 'Sum')] }), 'ValidationException', 'ValidationError', /^2 validation errors detected: .*'startTime'.*not be null.*'endTime'.*not be null/);
  await v({}, /^1 validation error detected: Value null at 'metricDataQueries' failed to satisfy constraint: Member must not be null$/);
  await v({ MetricDataQueries: [] }, 'The parameter MetricDataQueries must contain at least one query.');
  await v({ MetricDataQueries: Array.from({ length: 501 }, (_, i) => stat(`q${i}`, 'm', 'Sum')) }, 'The collection MetricDataQueries must not have a size greater than 500.');
  await get({ MetricDataQueries: Array.from({ length: 500 }, (_, i) => stat(`q${i}`, 'm', 'Sum')) });
  await v({ MetricDataQueries: [stat('Upper', 'm', 'Sum')] }, 'The value for parameter MetricDataQueries.member.1.Id is not matching the expected pattern ^[a-z][a-zA-Z0-9_]*$.');
  await v({ MetricDataQueries: [stat('a-b', 'm', 'Sum')] }, /MetricDataQueries\.member\.1\.Id is not matching/);
  await v({ MetricDataQueries: [{ MetricStat: stat('x', 'm', 'Sum').MetricStat }] }, /at 'metricDataQueries\.1\.member\.id' failed to satisfy constraint: Member must not be null/);
  await v({ MetricDataQueries: [stat('a', 'm', 'Sum'), stat('a', 'n', 'Sum')] }, 'The values for parameter id in MetricDataQueries are not unique.');
  await v({ MetricDataQueries: [{ Id: 'e', Expression: 'SUM(METRICS())' }] }, /^MetricDataQueries\.member\.1\.Expression: metric math expressions and Metrics Insights queries are not supported by the local CloudWatch/);
  await v({ MetricDataQueries: [{ ...stat('e', 'm', 'Sum'), Expression: 'a' }] }, 'The parameters MetricDataQueries.member.1.Expression and MetricDataQueries.member.1.MetricStat are mutually exclusive and you have specified both.');
  await v({ MetricDataQueries: [{ Id: 'e' }] }, 'The parameter MetricDataQueries.member.1 must specify either Expression or MetricStat.');
  await v({ MetricDataQueries: [stat('a', 'm', 'Sum', { Period: 60 })] }, 'The parameters MetricDataQueries.member.1.Period and MetricDataQueries.member.1.MetricStat are mutually exclusive and you have specified both.');
  await ipv({ MetricDataQueries: [stat('a', 'm', 'tm99')] }, /^The value tm99 for parameter MetricDataQueries\.member\.1\.Stat is not supported by the local CloudWatch/);
  await ipv({ MetricDataQueries: [stat('a', 'm', 'TM(10%:90%)')] }, /^The value TM\(10%:90%\) for parameter MetricDataQueries\.member\.1\.Stat is not supported by the local CloudWatch/);
  // No statistic at all (a typo) is CloudWatch's ValidationError, not one "not supported locally".
  await v({ MetricDataQueries: [stat('a', 'm', 'Sum'), stat('b', 'm', 'Avg')] }, 'The value Avg for parameter MetricDataQueries.member.2.MetricStat.Stat is not a valid statistic.');
  // An empty Stat too (the model sets no minimum length), as yet-another-cloudwatch-exporter users report it.
  await v({ MetricDataQueries: [stat('a', 'm', '')] }, 'The value for parameter MetricDataQueries.member.1.MetricStat.Stat is not a valid statistic.');
  // Quoted in part, with whole characters only (a lone surrogate in the JSON answer is a string boto3 cannot print).
  await v({ MetricDataQueries: [stat('a', 'm', `a${'😀'.repeat(40)}`)] }, `The value a${'😀'.repeat(31)} for parameter MetricDataQueries.member.1.MetricStat.Stat is not a valid statistic.`);
  await ipv({ MetricDataQueries: [{ Id: 'a', MetricStat: { ...stat('a', 'm', 'Sum').MetricStat, Period: 5 } }] }, /^The parameter MetricDataQueries\.member\.1\.MetricStat\.Period must be 10, 20, 30 or a multiple of 60 locally/);
  await v({ MetricDataQueries: [{ Id: 'a', MetricStat: { Metric: { Namespace: 'n' }, Period: 0, Stat: 'Sum', Unit: 'Parsecs' } }] }, /^3 validation errors detected: .*metricStat\.metric\.metricName.*metricStat\.period.*metricStat\.unit/);
  await v({ MetricDataQueries: [stat('a', 'm', 'Sum')], ScanBy: 'Sideways' }, /at 'scanBy' failed to satisfy constraint: Member must satisfy enum value set: \[TimestampDescending, TimestampAscending\]/);
  await v({ MetricDataQueries: [stat('a', 'm', 'Sum')], MaxDatapoints: 0 }, /at 'maxDatapoints'/);
  await ipv({ MetricDataQueries: [stat('a', 'm', 'Sum')], StartTime: range.EndTime }, 'The parameter StartTime must be less than the parameter EndTime.');
  await ipv({ MetricDataQueries: [stat('a', 'm', 'Sum', { AccountId: '123456789012' })] }, /cross-account queries are not supported by the local CloudWatch/);
});

/** A metric's values as a list of PutMetricData forms: single values, values with counts, statistic sets. */
// CloudWatch refuses magnitudes under 2^-360 (other than 0), so those become 0.
const value = fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }).map((v) => (Math.abs(v) < 1e-100 ? 0 : v));
const entry = fc.oneof(
  value.map((v) => ({ kind: 'value' as const, v })),
  fc.array(fc.tuple(value, fc.integer({ min: 1, max: 5 })), { minLength: 1, maxLength: 5 }).map((pairs) => ({ kind: 'values' as const, pairs })),
  fc.tuple(value, value, fc.integer({ min: 1, max: 9 })).map(([a, b, n]) => ({ kind: 'set' as const, min: Math.min(a, b), max: Math.max(a, b), n })),
);

test('property: what PutMetricData puts, GetMetricStatistics and GetMetricData read back (SampleCount, Sum, Minimum, Maximum)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 20 }), async (entries) => {
      const { cw } = setup();
      let count = 0;
      let sum = 0;
      let min = Infinity;
      let max = -Infinity;
      const data = entries.map((e) => {
        if (e.kind === 'value') {
          count += 1;
          sum += e.v;
          min = Math.min(min, e.v);
          max = Math.max(max, e.v);
          return { MetricName: 'm', Value: e.v };
        }
        if (e.kind === 'values') {
          for (const [v, c] of e.pairs) {
            count += c;
            sum += v * c;
            min = Math.min(min, v);
            max = Math.max(max, v);
          }
          return { MetricName: 'm', Values: e.pairs.map(([v]) => v), Counts: e.pairs.map(([, c]) => c) };
        }
        const setSum = e.min * (e.n - 1) + e.max;
        count += e.n;
        sum += setSum;
        min = Math.min(min, e.min);
        max = Math.max(max, e.max);
        return { MetricName: 'm', StatisticValues: { SampleCount: e.n, Sum: setSum, Minimum: e.min, Maximum: e.max } };
      });
      await cw.call('PutMetricData', { Namespace: 'MyApp', MetricData: data.map((d) => ({ ...d, Timestamp: (NOW - 30_000) / 1000 })) });
      const gms = (
        (await cw.call('GetMetricStatistics', { Namespace: 'MyApp', MetricName: 'm', ...range, Period: 60, Statistics: ['SampleCount', 'Sum', 'Minimum', 'Maximum'] })).Datapoints as Array<Record<string, number>>
      )[0]!;
      assert.equal(gms.SampleCount, count);
      assert.ok(Math.abs(gms.Sum! - sum) <= 1e-6 * Math.max(1, Math.abs(sum), count * 1e6), `sum ${gms.Sum} vs ${sum}`);
      assert.equal(gms.Minimum, min);
      assert.equal(gms.Maximum, max);
      const gmd = (
        await cw.call('GetMetricData', {
          ...range,
          MetricDataQueries: (['SampleCount', 'Sum', 'Minimum', 'Maximum'] as const).map((s) => stat(s.toLowerCase(), 'm', s)),
        })
      ).MetricDataResults as Result[];
      assert.deepEqual(gmd.map((r) => r.Values), [[gms.SampleCount], [gms.Sum], [gms.Minimum], [gms.Maximum]]);
    }),
    { numRuns: 200 },
  );
});

test('property: any shaped GetMetricData input gets an answer or a CloudWatch 4xx, never another error', async () => {
  const { cw } = setup();
  await putMinutes(cw, 'm', [1, 2]);
  const member = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 3 }));
  const query = fc.record(
    {
      Id: fc.oneof(member, fc.constantFrom('a', 'b', 'x_1')),
      MetricStat: fc.oneof(member, fc.record({ Metric: fc.oneof(member, fc.record({ Namespace: fc.oneof(member, fc.constant('MyApp')), MetricName: fc.oneof(member, fc.constant('m')), Dimensions: member })), Period: fc.oneof(member, fc.constantFrom(10, 60, 61)), Stat: fc.oneof(member, fc.constantFrom('Sum', 'p99', 'tm90')), Unit: member }, { requiredKeys: [] })),
      Expression: member,
      Label: member,
      ReturnData: member,
      Period: member,
    },
    { requiredKeys: [] },
  );
  await fc.assert(
    fc.asyncProperty(
      fc.record({ MetricDataQueries: fc.oneof(member, fc.array(query, { maxLength: 4 })), StartTime: fc.oneof(member, fc.constant(range.StartTime)), EndTime: fc.oneof(member, fc.constant(range.EndTime)), ScanBy: member, MaxDatapoints: member, NextToken: member }, { requiredKeys: [] }),
      async (input) => {
        try {
          const out = await cw.call('GetMetricData', input);
          assert.ok(Array.isArray(out.MetricDataResults));
        } catch (err) {
          assert.ok(err instanceof CloudWatchError, String(err));
          assert.ok(err.status >= 400 && err.status < 500);
        }
      },
    ),
    { numRuns: 300 },
  );
});
