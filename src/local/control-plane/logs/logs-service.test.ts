// The local CloudWatch Logs over HTTP, through the front door `smkit local` serves, with the real
// @aws-sdk/client-cloudwatch-logs: listing and paging groups and streams, reading a stream with
// forward and backward tokens, filtering a group, the per-stream cap, and the service's errors.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CloudWatchLogsClient,
  CloudWatchLogsServiceException,
  DescribeLogGroupsCommand,
  DescribeLogStreamsCommand,
  FilterLogEventsCommand,
  GetLogEventsCommand,
  InvalidParameterException,
  ResourceNotFoundException,
  type GetLogEventsCommandInput,
} from '@aws-sdk/client-cloudwatch-logs';
import { createFrontDoor } from '../../front-door/app.js';
import { LogStore, type StoredLogEvent, type StoredLogStream } from './log-store.js';
import { CloudWatchLogsService } from './logs-service.js';

let server: Server;
let logs: CloudWatchLogsClient;
let clock = 1_800_000_000_000;
const store = new LogStore({ maxStreamBytes: 64 * 1024, now: () => clock });

/** Writes `lines` to a stream, each one millisecond after the last. */
function write(group: string, stream: string, lines: readonly string[]): void {
  const sink = store.sink(group, stream);
  for (const line of lines) {
    clock += 1;
    sink(line);
  }
}

/** Calls `read` for each element of `stream`'s events that is read (its private array, replaced by a counting proxy). */
function countReads(stream: StoredLogStream, read: () => void): void {
  const kept = (stream as unknown as { kept: StoredLogEvent[] }).kept;
  const counted = new Proxy(kept, { get: (target, key, receiver) => (typeof key === 'string' && /^\d+$/.test(key) && read(), Reflect.get(target, key, receiver)) });
  Object.defineProperty(stream, 'kept', { value: counted });
}

describe('logs service', () => {
  before(async () => {
    // Written before any request: the tests below read them concurrently and change nothing.
    for (const name of ['b-job/algo-1-1', 'a-job/algo-1-1', 'c-job/algo-1-1']) write('/aws/sagemaker/TrainingJobs', name, [`${name} started`]);
    write('/aws/sagemaker/TrainingJobs', 'a-job/algo-1-1', ['a-job last']);
    write('/aws/sagemaker/Endpoints/ep', 'AllTraffic/i-0', ['GET /ping 200', 'POST /invocations 200', 'ERROR model failed: bad input', 'POST /invocations 500']);
    write('/aws/sagemaker/Endpoints/ep', 'AllTraffic/i-1', ['GET /ping 200', 'WARN slow request', 'ERROR "quoted" failure']);
    write('/aws/sagemaker/Endpoints/ep', 'Shadow/i-2', ['ERROR shadow']);
    write('/tail', 's', Array.from({ length: 7 }, (_, i) => `line ${i + 1}`));
    server = createServer(createFrontDoor({ endpoints: new Map(), services: [new CloudWatchLogsService({ store, region: 'eu-west-1', accountId: '111122223333' })] }));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    logs = new CloudWatchLogsClient({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, region: 'eu-west-1', credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local' }, maxAttempts: 1 });
  });

  after(async () => {
    logs?.destroy();
    await new Promise<void>((ok) => server.close(() => ok()));
  });

  /** The error a command rejects with (fails the test when it resolves). */
  async function refusal(promise: Promise<unknown>): Promise<CloudWatchLogsServiceException> {
    try {
      await promise;
    } catch (err) {
      assert.ok(err instanceof CloudWatchLogsServiceException, String(err));
      return err;
    }
    assert.fail('the request succeeded');
  }

  describe('local CloudWatch Logs', { concurrency: true }, () => {
    test('DescribeLogGroups lists groups by name, with their ARNs, a prefix filter and pages', async () => {
      const all = await logs.send(new DescribeLogGroupsCommand({}));
      assert.deepEqual(
        all.logGroups?.map((g) => g.logGroupName),
        ['/aws/sagemaker/Endpoints/ep', '/aws/sagemaker/TrainingJobs', '/tail'],
      );
      const training = all.logGroups![1]!;
      assert.equal(training.arn, 'arn:aws:logs:eu-west-1:111122223333:log-group:/aws/sagemaker/TrainingJobs:*');
      assert.equal(training.logGroupArn, 'arn:aws:logs:eu-west-1:111122223333:log-group:/aws/sagemaker/TrainingJobs');
      assert.equal(training.storedBytes, ['b-job/algo-1-1 started', 'a-job/algo-1-1 started', 'c-job/algo-1-1 started', 'a-job last'].reduce((n, m) => n + m.length + 26, 0));
      const first = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/aws/sagemaker/', limit: 1 }));
      assert.deepEqual(first.logGroups?.map((g) => g.logGroupName), ['/aws/sagemaker/Endpoints/ep']);
      const second = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/aws/sagemaker/', limit: 1, nextToken: first.nextToken }));
      assert.deepEqual(second.logGroups?.map((g) => g.logGroupName), ['/aws/sagemaker/TrainingJobs']);
      assert.equal(second.nextToken, undefined);
    });

    test('DescribeLogStreams orders by name or by last event time, either way round, filters by prefix and pages', async () => {
      const group = '/aws/sagemaker/TrainingJobs';
      const byName = await logs.send(new DescribeLogStreamsCommand({ logGroupName: group }));
      assert.deepEqual(byName.logStreams?.map((s) => s.logStreamName), ['a-job/algo-1-1', 'b-job/algo-1-1', 'c-job/algo-1-1']);
      const a = byName.logStreams![0]!;
      assert.equal(a.arn, 'arn:aws:logs:eu-west-1:111122223333:log-group:/aws/sagemaker/TrainingJobs:log-stream:a-job/algo-1-1');
      assert.ok(a.firstEventTimestamp! < a.lastEventTimestamp!);
      const newestFirst = await logs.send(new DescribeLogStreamsCommand({ logGroupName: group, orderBy: 'LastEventTime', descending: true }));
      assert.deepEqual(newestFirst.logStreams?.map((s) => s.logStreamName), ['a-job/algo-1-1', 'c-job/algo-1-1', 'b-job/algo-1-1']);
      const prefixed = await logs.send(new DescribeLogStreamsCommand({ logGroupName: group, logStreamNamePrefix: 'b-job/' }));
      assert.deepEqual(prefixed.logStreams?.map((s) => s.logStreamName), ['b-job/algo-1-1']);

      const names: string[] = [];
      let nextToken: string | undefined;
      do {
        const page = await logs.send(new DescribeLogStreamsCommand({ logGroupIdentifier: `arn:aws:logs:eu-west-1:111122223333:log-group:${group}`, descending: true, limit: 2, nextToken }));
        assert.ok(page.logStreams!.length <= 2);
        names.push(...page.logStreams!.map((s) => s.logStreamName!));
        nextToken = page.nextToken;
      } while (nextToken);
      assert.deepEqual(names, ['c-job/algo-1-1', 'b-job/algo-1-1', 'a-job/algo-1-1']);
    });

    test('GetLogEvents read from the head page by page; at the end the same forward token comes back, so a tail loop stops', async () => {
      const read: string[] = [];
      let token: string | undefined;
      const tokens: string[] = [];
      for (;;) {
        const page = await logs.send(new GetLogEventsCommand({ logGroupName: '/tail', logStreamName: 's', startFromHead: true, limit: 3, ...(token ? { nextToken: token } : {}) }));
        read.push(...page.events!.map((e) => e.message!));
        assert.ok(page.nextForwardToken && page.nextBackwardToken);
        if (page.nextForwardToken === token) {
          assert.equal(page.events!.length, 0);
          break;
        }
        token = page.nextForwardToken;
        tokens.push(token);
        assert.ok(tokens.length < 10, 'the tail loop did not end');
      }
      assert.deepEqual(read, ['line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6', 'line 7']);
      assert.equal(tokens.length, 3);
    });

    test('GetLogEvents takes back every token it gives: at the end of a forward token numbered past the stream (the largest one read), the backward token reads the stream from its newest event', async () => {
      const tag = (await logs.send(new GetLogEventsCommand({ logGroupName: '/tail', logStreamName: 's', limit: 1 }))).nextForwardToken!.split('/')[2];
      const past = await logs.send(new GetLogEventsCommand({ logGroupName: '/tail', logStreamName: 's', startFromHead: true, nextToken: `f/999999999999999/${tag}` }));
      assert.deepEqual(past.events, []);
      const back = await logs.send(new GetLogEventsCommand({ logGroupName: '/tail', logStreamName: 's', limit: 2, nextToken: past.nextBackwardToken }));
      assert.deepEqual(back.events!.map((e) => e.message), ['line 6', 'line 7']);
    });

    test('GetLogEvents without startFromHead gives the newest events, then older ones with the backward token; a time range limits them', async () => {
      const base: GetLogEventsCommandInput = { logGroupName: '/tail', logStreamName: 's', limit: 3 };
      const newest = await logs.send(new GetLogEventsCommand(base));
      assert.deepEqual(newest.events?.map((e) => e.message), ['line 5', 'line 6', 'line 7']);
      const older = await logs.send(new GetLogEventsCommand({ ...base, nextToken: newest.nextBackwardToken }));
      assert.deepEqual(older.events?.map((e) => e.message), ['line 2', 'line 3', 'line 4']);
      const oldest = await logs.send(new GetLogEventsCommand({ ...base, nextToken: older.nextBackwardToken }));
      assert.deepEqual(oldest.events?.map((e) => e.message), ['line 1']);
      const none = await logs.send(new GetLogEventsCommand({ ...base, nextToken: oldest.nextBackwardToken }));
      assert.deepEqual(none.events, []);
      assert.equal(none.nextBackwardToken, oldest.nextBackwardToken);

      const t = newest.events![0]!.timestamp!;
      // startTime is inclusive, endTime exclusive.
      const window = await logs.send(new GetLogEventsCommand({ logGroupName: '/tail', logStreamName: 's', startFromHead: true, startTime: t - 1, endTime: t + 1 }));
      assert.deepEqual(window.events?.map((e) => e.message), ['line 4', 'line 5']);
      assert.ok(window.events!.every((e) => e.ingestionTime === e.timestamp));
    });

    test('FilterLogEvents interleaves the streams by time and matches terms, phrases, exclusions and alternatives', async () => {
      const group = '/aws/sagemaker/Endpoints/ep';
      const messages = async (input: Omit<ConstructorParameters<typeof FilterLogEventsCommand>[0], 'logGroupName'>): Promise<string[]> =>
        (await logs.send(new FilterLogEventsCommand({ logGroupName: group, ...input }))).events!.map((e) => `${e.logStreamName}: ${e.message}`);
      assert.deepEqual(await messages({ filterPattern: 'ERROR' }), ['AllTraffic/i-0: ERROR model failed: bad input', 'AllTraffic/i-1: ERROR "quoted" failure', 'Shadow/i-2: ERROR shadow']);
      assert.deepEqual(await messages({ filterPattern: 'ERROR -shadow -quoted', logStreamNamePrefix: 'AllTraffic/' }), ['AllTraffic/i-0: ERROR model failed: bad input']);
      assert.deepEqual(await messages({ filterPattern: '"model failed: bad"' }), ['AllTraffic/i-0: ERROR model failed: bad input']);
      // A quote in a phrase is written \" (as the AWS CDK's FilterPattern.allTerms writes one).
      assert.deepEqual(await messages({ filterPattern: '"ERROR \\"quoted\\" fail"' }), ['AllTraffic/i-1: ERROR "quoted" failure']);
      assert.deepEqual(await messages({ filterPattern: '?WARN ?500', logStreamNames: ['AllTraffic/i-0', 'AllTraffic/i-1'] }), ['AllTraffic/i-0: POST /invocations 500', 'AllTraffic/i-1: WARN slow request']);
      assert.deepEqual(await messages({ filterPattern: 'error' }), [], 'terms are case-sensitive');

      const pages: string[][] = [];
      let nextToken: string | undefined;
      do {
        const page = await logs.send(new FilterLogEventsCommand({ logGroupName: group, filterPattern: 'GET', limit: 1, nextToken }));
        pages.push(page.events!.map((e) => e.logStreamName!));
        assert.deepEqual(page.searchedLogStreams, []);
        nextToken = page.nextToken;
      } while (nextToken);
      assert.deepEqual(pages, [['AllTraffic/i-0'], ['AllTraffic/i-1']]);
      const newestFirst = await logs.send(new FilterLogEventsCommand({ logGroupName: group, filterPattern: 'ERROR', startFromHead: false, limit: 2 }));
      assert.deepEqual(newestFirst.events?.map((e) => e.logStreamName), ['Shadow/i-2', 'AllTraffic/i-1']);
      const rest = await logs.send(new FilterLogEventsCommand({ logGroupName: group, filterPattern: 'ERROR', nextToken: newestFirst.nextToken }));
      assert.deepEqual(rest.events?.map((e) => e.logStreamName), ['AllTraffic/i-0']);
      assert.equal(rest.nextToken, undefined);
    });

    test('a missing group or stream is ResourceNotFoundException, worded as the service words it', async () => {
      const group = await refusal(logs.send(new DescribeLogStreamsCommand({ logGroupName: '/aws/sagemaker/TrainingJobs-nope' })));
      assert.ok(group instanceof ResourceNotFoundException);
      assert.equal(group.message, 'The specified log group does not exist.');
      assert.equal(group.$metadata.httpStatusCode, 400);
      const stream = await refusal(logs.send(new GetLogEventsCommand({ logGroupName: '/tail', logStreamName: 'nope' })));
      assert.ok(stream instanceof ResourceNotFoundException);
      assert.equal(stream.message, 'The specified log stream does not exist.');
    });

    test('bad parameters are InvalidParameterException: LastEventTime with a prefix, limits, both stream filters, unsupported patterns, foreign tokens', async () => {
      // A token pages the listing that gave it: another group's, stream's, filter's (or order's) is foreign.
      const groupsToken = (await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/aws/sagemaker/', limit: 1 }))).nextToken;
      const streamsToken = (await logs.send(new DescribeLogStreamsCommand({ logGroupName: '/aws/sagemaker/TrainingJobs', limit: 1 }))).nextToken;
      const eventsToken = (await logs.send(new FilterLogEventsCommand({ logGroupName: '/aws/sagemaker/Endpoints/ep', limit: 1 }))).nextToken;
      const tail = await logs.send(new GetLogEventsCommand({ logGroupName: '/tail', logStreamName: 's', startFromHead: true, limit: 1 }));
      assert.ok(groupsToken && streamsToken && eventsToken && tail.nextForwardToken && tail.nextBackwardToken);
      const aJob = { logGroupName: '/aws/sagemaker/TrainingJobs', logStreamName: 'a-job/algo-1-1' };
      const cases: Array<[Promise<unknown>, RegExp]> = [
        [logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/aws/', limit: 1, nextToken: groupsToken })), /^The specified nextToken is invalid\.$/],
        [logs.send(new DescribeLogGroupsCommand({ logGroupNamePattern: 'sagemaker', limit: 1, nextToken: groupsToken })), /^The specified nextToken is invalid\.$/],
        [logs.send(new DescribeLogGroupsCommand({ nextToken: groupsToken })), /^The specified nextToken is invalid\.$/],
        [logs.send(new GetLogEventsCommand({ ...aJob, startFromHead: true, nextToken: tail.nextForwardToken })), /^The specified nextToken is invalid\.$/],
        [logs.send(new GetLogEventsCommand({ ...aJob, nextToken: tail.nextBackwardToken })), /^The specified nextToken is invalid\.$/],
        [logs.send(new DescribeLogStreamsCommand({ logGroupName: '/tail', nextToken: streamsToken })), /^The specified nextToken is invalid\.$/],
        [logs.send(new DescribeLogStreamsCommand({ logGroupName: '/aws/sagemaker/TrainingJobs', descending: true, nextToken: streamsToken })), /^The specified nextToken is invalid\.$/],
        [logs.send(new DescribeLogStreamsCommand({ logGroupName: '/aws/sagemaker/TrainingJobs', orderBy: 'LastEventTime', nextToken: streamsToken })), /^The specified nextToken is invalid\.$/],
        [logs.send(new FilterLogEventsCommand({ logGroupName: '/tail', nextToken: eventsToken })), /^The specified nextToken is invalid\.$/],
        [logs.send(new DescribeLogStreamsCommand({ logGroupName: '/tail', orderBy: 'LastEventTime', logStreamNamePrefix: 's' })), /^Cannot order by LastEventTime with a logStreamNamePrefix\.$/],
        [logs.send(new DescribeLogStreamsCommand({ logGroupName: '/tail', limit: 51 })), /^1 validation error detected: Value '51' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 50$/],
        [logs.send(new GetLogEventsCommand({ logGroupName: '/tail', logStreamName: 's', limit: 0 })), /at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1/],
        [logs.send(new GetLogEventsCommand({ logGroupName: '/tail', logStreamName: 's', nextToken: 'x/1' })), /^The specified nextToken is invalid\.$/],
        [logs.send(new DescribeLogStreamsCommand({ logGroupName: '/tail', nextToken: 'bm90IGpzb24' })), /^The specified nextToken is invalid\.$/],
        [logs.send(new DescribeLogStreamsCommand({})), /LogGroupName or LogGroupIdentifier/],
        [logs.send(new FilterLogEventsCommand({ logGroupName: '/tail', logStreamNames: ['s'], logStreamNamePrefix: 's' })), /mutually exclusive/],
        [logs.send(new FilterLogEventsCommand({ logGroupName: '/tail', filterPattern: '{ $.level = "error" }' })), /JSON patterns are not supported by the local CloudWatch Logs/],
        [logs.send(new FilterLogEventsCommand({ logGroupName: '/tail', filterPattern: '"unclosed' })), /no closing "/],
        [logs.send(new FilterLogEventsCommand({ logGroupName: '/tail', startFromHead: false, startTime: 0 })), /on or after Jan 1, 2024/],
      ];
      for (const [promise, message] of cases) {
        const err = await refusal(promise);
        assert.ok(err instanceof InvalidParameterException, `${err.name}: ${err.message}`);
        assert.match(err.message, message);
        assert.equal(err.$metadata.httpStatusCode, 400);
      }
    });
  });

  test('FilterLogEvents merges many streams reading each event a few times, not once per stream, and in time order both ways', async () => {
    // 300 streams of 3 events: merged by scanning every stream for each event, a search reads some
    // 300 events per event (a group of a thousand training jobs took seconds per request).
    let now = 1_800_000_000_000;
    const many = new LogStore({ maxStreamBytes: 1024 * 1024, now: () => now });
    const sinks = Array.from({ length: 300 }, (_, i) => many.sink('/aws/sagemaker/TrainingJobs', `job-${String(i).padStart(3, '0')}/algo-1-1`));
    for (let round = 0; round < 3; round++) {
      for (const [i, sink] of sinks.entries()) {
        if (i % 7 === 0) now++;
        sink(`round ${round} stream ${i}`);
      }
    }
    let reads = 0;
    for (const s of many.groups.get('/aws/sagemaker/TrainingJobs')!.streams.values()) countReads(s, () => reads++);
    const service = new CloudWatchLogsService({ store: many });
    const expected = Array.from({ length: 3 }, (_, round) => sinks.map((_, i) => `round ${round} stream ${i}`)).flat();
    const forward = await service.call('FilterLogEvents', { logGroupName: '/aws/sagemaker/TrainingJobs', filterPattern: 'round' });
    assert.deepEqual((forward.events as Array<{ message: string }>).map((e) => e.message), expected);
    assert.ok(reads < 900 * 40, `${reads} reads of 900 events`);
    const backward = await service.call('FilterLogEvents', { logGroupName: '/aws/sagemaker/TrainingJobs', startTime: 1_800_000_000_000, startFromHead: false });
    assert.deepEqual((backward.events as Array<{ message: string }>).map((e) => e.message), expected.reverse());
  });

  test('a stream keeps at most its cap: the oldest events are dropped, and tokens still read on from where they were', async () => {
    const small = new LogStore({ maxStreamBytes: 10 * (26 + 6), now: () => 1_800_000_000_000 });
    const sink = small.sink('/g', 's');
    for (let i = 0; i < 10; i++) sink(`line-${i}`);
    const service = new CloudWatchLogsService({ store: small });
    const head = await service.call('GetLogEvents', { logGroupName: '/g', logStreamName: 's', startFromHead: true, limit: 2 });
    assert.deepEqual((head.events as Array<{ message: string }>).map((e) => e.message), ['line-0', 'line-1']);
    for (let i = 10; i < 15; i++) sink(`line-${i}`);
    const all = await service.call('GetLogEvents', { logGroupName: '/g', logStreamName: 's', startFromHead: true });
    assert.deepEqual((all.events as Array<{ message: string }>).map((e) => e.message), ['line-6', 'line-7', 'line-8', 'line-9', 'line-10', 'line-11', 'line-12', 'line-13', 'line-14']);
    // 9 events of 32 or 33 bytes (message and 26) fit in 320; a forward token past dropped events goes on with the oldest kept.
    const next = await service.call('GetLogEvents', { logGroupName: '/g', logStreamName: 's', startFromHead: true, limit: 1, nextToken: head.nextForwardToken });
    assert.deepEqual((next.events as Array<{ message: string }>).map((e) => e.message), ['line-6']);
  });

  test('a read of a stream that dropped its oldest events reads the events of its page, not every event the stream keeps', async () => {
    // Events of 35 bytes in a cap of 64 KB: 1,872 kept, and some dropped since the last compaction.
    let now = 1_800_000_000_000;
    const capped = new LogStore({ maxStreamBytes: 64 * 1024, now: () => ++now });
    const sink = capped.sink('/aws/sagemaker/Endpoints/full', 'AllTraffic/i-0');
    for (let i = 0; i < 3000; i++) sink(`line-${String(i).padStart(4, '0')}`);
    const stream = capped.stream('/aws/sagemaker/Endpoints/full', 'AllTraffic/i-0');
    assert.ok(stream.eventCount > 1800 && stream.eventCount < 3000, 'the stream has dropped its oldest events');
    const oldestKept = stream.events[0]!.message;
    let reads = 0;
    countReads(stream, () => reads++);
    const service = new CloudWatchLogsService({ store: capped });
    const newest = await service.call('GetLogEvents', { logGroupName: '/aws/sagemaker/Endpoints/full', logStreamName: 'AllTraffic/i-0', limit: 1 });
    assert.deepEqual((newest.events as Array<{ message: string }>).map((e) => e.message), ['line-2999']);
    const oldest = await service.call('FilterLogEvents', { logGroupName: '/aws/sagemaker/Endpoints/full', limit: 1 });
    assert.deepEqual((oldest.events as Array<{ message: string }>).map((e) => e.message), [oldestKept]);
    assert.ok(reads < 100, `${reads} events read for two events`);
  });

  test('FilterLogEvents looks at a bounded number of events per request: past it the page ends, empty or not, with a nextToken to go on from', async () => {
    let now = 1_800_000_000_000;
    const sparse = new LogStore({ maxStreamBytes: 1024 * 1024, now: () => ++now });
    const a = sparse.sink('/g', 'a');
    const b = sparse.sink('/g', 'b');
    for (let i = 1; i <= 25; i++) (i % 2 ? a : b)(i === 3 || i === 24 ? `hit ${i}` : `miss ${i}`);
    const service = new CloudWatchLogsService({ store: sparse, maxEventsScanned: 10 });
    for (const [startFromHead, expected] of [
      [true, [['hit 3'], [], ['hit 24']]],
      [false, [['hit 24'], [], ['hit 3']]],
    ] as const) {
      const pages: string[][] = [];
      let nextToken: string | undefined;
      do {
        const page = await service.call('FilterLogEvents', { logGroupName: '/g', filterPattern: 'hit', startTime: 1_800_000_000_000, startFromHead, nextToken });
        pages.push((page.events as Array<{ message: string }>).map((e) => e.message));
        nextToken = page.nextToken as string | undefined;
      } while (nextToken !== undefined && pages.length < 10);
      assert.deepEqual(pages, expected);
    }
    // So are the characters times terms it searches: 25 messages of 5 to 7 characters, 2 terms, 100 at most a page (9 events).
    const bounded = new CloudWatchLogsService({ store: sparse, maxSearchWork: 100 });
    const pages: string[][] = [];
    let nextToken: string | undefined;
    do {
      const page = await bounded.call('FilterLogEvents', { logGroupName: '/g', filterPattern: '?hit ?none', nextToken });
      pages.push((page.events as Array<{ message: string }>).map((e) => e.message));
      nextToken = page.nextToken as string | undefined;
    } while (nextToken !== undefined && pages.length < 20);
    assert.deepEqual(pages.flat(), ['hit 3', 'hit 24']);
    assert.ok(pages.length >= 3 && pages.length < 20, `${pages.length} pages`);
  });

  test('FilterLogEvents pages that stop at the scan budget, mid-stream among equal timestamps, read on to exactly the events of one unbounded request', async () => {
    // 4 streams written round-robin out of step, 5 events a millisecond: a page stops inside a
    // stream and between events of one timestamp, at its limit or at the budget, either way round.
    let now = 1_800_000_000_000;
    const store = new LogStore({ maxStreamBytes: 1024 * 1024, now: () => now });
    const sinks = ['a', 'b', 'c', 'd'].map((name) => store.sink('/g', name));
    for (let i = 0; i < 60; i++) {
      if (i % 5 === 0) now++;
      sinks[(i * 7) % 4]!(`${i % 3 === 0 ? 'hit' : 'miss'} ${i}`);
    }
    const read = (e: { logStreamName?: string; message?: string }): string => `${e.logStreamName}: ${e.message}`;
    const unbounded = new CloudWatchLogsService({ store });
    for (const startFromHead of [true, false]) {
      for (const filterPattern of ['hit', '']) {
        const request = { logGroupName: '/g', filterPattern, startTime: 1_800_000_000_000, startFromHead };
        const expected = ((await unbounded.call('FilterLogEvents', request)).events as Array<{ logStreamName: string; message: string }>).map(read);
        assert.equal(expected.length, filterPattern === '' ? 60 : 20);
        for (const maxEventsScanned of [1, 3, 7]) {
          const bounded = new CloudWatchLogsService({ store, maxEventsScanned });
          for (const limit of [1, 2, 10_000]) {
            const got: string[] = [];
            let nextToken: string | undefined;
            let pages = 0;
            do {
              const page = await bounded.call('FilterLogEvents', { ...request, limit, nextToken });
              got.push(...(page.events as Array<{ logStreamName: string; message: string }>).map(read));
              nextToken = page.nextToken as string | undefined;
            } while (nextToken !== undefined && ++pages < 100);
            assert.deepEqual(got, expected, `startFromHead ${startFromHead}, pattern '${filterPattern}', budget ${maxEventsScanned}, limit ${limit}`);
          }
        }
      }
    }
  });

  test('all streams keep at most the total cap together: the oldest events of the largest stream are dropped, as GetLogEvents shows', async () => {
    // Messages of 4 bytes: 30 bytes each as CloudWatch counts them; the total cap holds 10.
    let now = 1_800_000_000_000;
    const capped = new LogStore({ maxStreamBytes: 1024 * 1024, maxTotalBytes: 10 * 30, now: () => ++now });
    const a = capped.sink('/aws/sagemaker/Endpoints/cap', 'AllTraffic/i-a');
    const b = capped.sink('/aws/sagemaker/Endpoints/cap', 'AllTraffic/i-b');
    for (let i = 0; i < 6; i++) a(`a-0${i}`);
    for (let i = 0; i < 7; i++) b(`b-0${i}`);
    assert.equal(capped.storedBytes, 300);
    const door = createServer(createFrontDoor({ endpoints: new Map(), services: [new CloudWatchLogsService({ store: capped, region: 'eu-west-1', accountId: '111122223333' })] }));
    await new Promise<void>((ok) => door.listen(0, '127.0.0.1', ok));
    const client = new CloudWatchLogsClient({ endpoint: `http://127.0.0.1:${(door.address() as AddressInfo).port}`, region: 'eu-west-1', credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local' }, maxAttempts: 1 });
    try {
      const read = async (stream: string) =>
        (await client.send(new GetLogEventsCommand({ logGroupName: '/aws/sagemaker/Endpoints/cap', logStreamName: stream, startFromHead: true }))).events!.map((e) => e.message);
      // b-04 made A (6 events) the largest: a-00 went; b-05 and b-06 made B the largest: b-00 and b-01 went.
      assert.deepEqual(await read('AllTraffic/i-a'), ['a-01', 'a-02', 'a-03', 'a-04', 'a-05']);
      assert.deepEqual(await read('AllTraffic/i-b'), ['b-02', 'b-03', 'b-04', 'b-05', 'b-06']);
      const { logStreams } = await client.send(new DescribeLogStreamsCommand({ logGroupName: '/aws/sagemaker/Endpoints/cap' }));
      assert.deepEqual(logStreams!.map((s) => s.logStreamName), ['AllTraffic/i-a', 'AllTraffic/i-b']);
    } finally {
      client.destroy();
      await new Promise<void>((ok) => door.close(() => ok()));
    }
  });
});
