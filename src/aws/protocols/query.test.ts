import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { XMLParser } from 'fast-xml-parser';
import { escapeXml, parseQueryBody, QueryParseError, writeQueryError, writeQueryResponse } from './query.js';

test('a CLI-style PutMetricAlarm body parses into nested members, lists ordered by index', () => {
  const body =
    'Action=PutMetricAlarm&Version=2010-08-01&AlarmName=errors%20high&Dimensions.member.2.Name=VariantName&Dimensions.member.2.Value=AllTraffic' +
    '&Dimensions.member.1.Name=EndpointName&Dimensions.member.1.Value=ep-1&Period=60&Threshold=1.5&AlarmActions.member.1=arn%3Aaws%3Asns';
  const req = parseQueryBody(body);
  assert.equal(req.action, 'PutMetricAlarm');
  assert.equal(req.version, '2010-08-01');
  assert.deepEqual(req.params, {
    AlarmName: 'errors high',
    Dimensions: [
      { Name: 'EndpointName', Value: 'ep-1' },
      { Name: 'VariantName', Value: 'AllTraffic' },
    ],
    Period: '60',
    Threshold: '1.5',
    AlarmActions: ['arn:aws:sns'],
  });
});

test('maps travel as X.entry.N.key and X.entry.N.value (PutMetricData\'s Entity, as botocore serializes it) and parse into objects', () => {
  const prefix = 'EntityMetricData.member.1.Entity';
  const body = new URLSearchParams([
    ['Action', 'PutMetricData'],
    [`${prefix}.KeyAttributes.entry.2.key`, 'Name'],
    [`${prefix}.KeyAttributes.entry.2.value`, 'svc'],
    [`${prefix}.KeyAttributes.entry.1.key`, 'Type'],
    [`${prefix}.KeyAttributes.entry.1.value`, 'Service'],
    [`${prefix}.Attributes.entry.1.key`, '__proto__'],
    [`${prefix}.Attributes.entry.1.value`, 'x'],
    ['EntityMetricData.member.1.MetricData.member.1.MetricName', 'm'],
  ]).toString();
  const entity = (parseQueryBody(body).params as { EntityMetricData: Array<{ Entity: { KeyAttributes: object; Attributes: object } }> }).EntityMetricData[0]!.Entity;
  assert.deepEqual(Object.entries(entity.KeyAttributes), [['Type', 'Service'], ['Name', 'svc']]);
  assert.deepEqual(Object.getOwnPropertyNames(entity.Attributes), ['__proto__'], 'a key is an own property, never a prototype');
  assert.equal(Object.getPrototypeOf(entity.Attributes), Object.prototype);
  for (const bad of ['M.entry.1.key=a', 'M.entry.1.value=a', 'M.entry.1=a', 'M.entry.1.key=a&M.entry.1.value=b&M.entry.1.other=c', 'M.entry.1.key=a&M.entry.1.value=b&M.entry.2.key=a&M.entry.2.value=c', 'M.entry.0.key=a', 'M.entry.x.key=a', 'M.entry.1.key=a&M.entry.1.value=b&M.member.2=c', 'M.entry.1.key.x=a&M.entry.1.value=b']) {
    assert.throws(() => parseQueryBody(`Action=X&${bad}`), (err: unknown) => err instanceof QueryParseError && err.code === 'MalformedQueryString' && /\bM\b/.test(err.message), bad);
  }
});

test('bad bodies are QueryParseErrors with the protocol codes', () => {
  const cases: Array<[string, string]> = [
    ['', 'MissingAction'],
    ['Version=2010-08-01', 'MissingAction'],
    ['Action=Put%20Alarm', 'InvalidAction'],
    ['Action=X&A=1&A=2', 'MalformedQueryString'],
    ['Action=X&A=1&A.B=2', 'MalformedQueryString'],
    ['Action=X&A.B=2&A=1', 'MalformedQueryString'],
    ['Action=X&L.member.0=a', 'MalformedQueryString'],
    ['Action=X&L.member.x=a', 'MalformedQueryString'],
    ['Action=X&L.member=a', 'MalformedQueryString'],
    ['Action=X&L.member.1=a&L.other=b', 'MalformedQueryString'],
    ['Action=X&a..b=1', 'MalformedQueryString'],
    ['Action=X&__proto__.polluted=1', 'MalformedQueryString'],
    [`Action=ListMetrics&${Array.from({ length: 10_000 }, () => 'a').join('.')}=1`, 'MalformedQueryString'],
    [`Action=ListMetrics&MetricData${'.member.1'.repeat(5_000)}=1`, 'MalformedQueryString'],
  ];
  for (const [body, code] of cases) {
    assert.throws(() => parseQueryBody(body), (err: unknown) => err instanceof QueryParseError && err.code === code && err.message.length > 10, body);
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('property: any body gives a request or a QueryParseError, never another throw', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.stringMatching(/^(Action=[A-Za-z]{1,8}&)?([A-Za-z.0-9%=&]{0,60})$/)), (body) => {
      try {
        const req = parseQueryBody(body);
        assert.equal(typeof req.action, 'string');
      } catch (err) {
        assert.ok(err instanceof QueryParseError, `unexpected ${String(err)}`);
      }
    }),
    { numRuns: 2000 },
  );
});

/** Encodes a nested value the way botocore's query serializer does. */
function encode(prefix: string, value: unknown, out: Array<[string, string]>): void {
  if (Array.isArray(value)) value.forEach((item, i) => encode(`${prefix}.member.${i + 1}`, item, out));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) encode(prefix ? `${prefix}.${k}` : k, v, out);
  else out.push([prefix, String(value)]);
}

test('property: botocore-style encodings of nested members parse back to the same members', () => {
  const name = fc.stringMatching(/^[A-Z][A-Za-z0-9]{0,8}$/);
  const leaf = fc.string({ maxLength: 20 });
  const value = fc.letrec((tie) => ({
    node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('node'), { minLength: 1, maxLength: 3 }), fc.dictionary(name, tie('node'), { minKeys: 1, maxKeys: 3 })),
  })).node;
  fc.assert(
    // At the top level `Action` and `Version` name the call itself, not a member.
    fc.property(fc.dictionary(name.filter((n) => n !== 'Action' && n !== 'Version'), value, { minKeys: 1, maxKeys: 5 }), (params) => {
      const pairs: Array<[string, string]> = [['Action', 'DescribeAlarms']];
      encode('', params, pairs);
      const body = new URLSearchParams(pairs).toString();
      assert.deepEqual(parseQueryBody(body).params, JSON.parse(JSON.stringify(params)));
    }),
    { numRuns: 500 },
  );
});

test('responses and errors are the XML the service documents, escaped', () => {
  const parser = new XMLParser({ ignoreAttributes: false });
  const ok = parser.parse(
    writeQueryResponse('DescribeAlarms', { MetricAlarms: [{ AlarmName: 'a<&>"b', Period: 60, ActionsEnabled: true, StateUpdatedTimestamp: new Date(0) }], NextToken: undefined }, 'http://monitoring.amazonaws.com/doc/2010-08-01/', 'rid-1'),
  );
  const response = ok.DescribeAlarmsResponse;
  assert.equal(response['@_xmlns'], 'http://monitoring.amazonaws.com/doc/2010-08-01/');
  assert.equal(response.DescribeAlarmsResult.MetricAlarms.member.AlarmName, 'a<&>"b');
  assert.equal(response.DescribeAlarmsResult.MetricAlarms.member.StateUpdatedTimestamp, '1970-01-01T00:00:00.000Z');
  assert.equal(response.ResponseMetadata.RequestId, 'rid-1');
  const empty = parser.parse(writeQueryResponse('PutMetricAlarm', {}, 'ns', 'rid-2'));
  assert.equal(empty.PutMetricAlarmResponse.PutMetricAlarmResult, undefined);
  const err = parser.parse(writeQueryError('ResourceNotFound', 'Alarm x does not exist.', 'Sender', 'ns', 'rid-3')).ErrorResponse;
  assert.deepEqual(err.Error, { Type: 'Sender', Code: 'ResourceNotFound', Message: 'Alarm x does not exist.' });
  assert.equal(err.RequestId, 'rid-3');
  // A query handler that names no namespace gets none on the front door's refusals, not xmlns="".
  assert.equal(writeQueryError('RequestEntityTooLarge', 'a<&>b', 'Sender', '', 'rid-4'), '<ErrorResponse><Error><Type>Sender</Type><Code>RequestEntityTooLarge</Code><Message>a&lt;&amp;&gt;b</Message></Error><RequestId>rid-4</RequestId></ErrorResponse>');
  assert.equal(escapeXml('a\u0001b'), 'a\uFFFDb');
});
