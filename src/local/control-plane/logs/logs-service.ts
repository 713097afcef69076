import { excerpt } from '../../../errors/excerpt.js';
import { createHash } from 'node:crypto';
import { partitionOf } from '../../../aws/partition.js';
import { AwsServiceError, type AwsService } from '../../../aws/service.js';
import { validateInput, withoutNulls, type ShapeRule } from '../../../aws/shapes/validate.js';
import { compileFilterPattern } from './filter-pattern.js';
import type { LogStore, StoredLogEvent, StoredLogGroup, StoredLogStream } from './log-store.js';
import { jsonNestsDeeperThan } from '../../../codecs/json-depth.js';

type Input = Record<string, unknown>;
type Output = Record<string, unknown>;

/** The operations the local CloudWatch Logs answers. */
export const LOGS_OPERATIONS = ['DescribeLogGroups', 'DescribeLogStreams', 'GetLogEvents', 'FilterLogEvents'] as const;

/** Most bytes of events in one GetLogEvents or FilterLogEvents page (1 MB), counted as CloudWatch counts them. */
export const MAX_PAGE_BYTES = 1_048_576;

/**
 * Most events one FilterLogEvents request looks at: past them its page ends, with a nextToken to go
 * on from, as the service's pages may be partly full or empty while more events are left. A pattern
 * that matches little would otherwise scan the whole group (millions of events at the store's cap)
 * while the control plane answers nothing else.
 */
export const MAX_EVENTS_SCANNED = 250_000;

/**
 * Most characters times terms one FilterLogEvents request searches (a term is looked for in every
 * character of a message at worst): past it the page ends as past {@link MAX_EVENTS_SCANNED}. A
 * pattern of hundreds of terms over megabyte messages otherwise took minutes in one request.
 */
export const MAX_SEARCH_WORK = 64 * 1024 * 1024;

/** FilterLogEvents with startFromHead false needs a startTime on or after 2024-01-01 00:00:00 UTC (the service model says so). */
const NEWEST_FIRST_SINCE_MS = Date.UTC(2024, 0, 1);

// Constraints from botocore's logs/2014-03-28/service-2.json.
const groupName: ShapeRule = { kind: 'string', min: 1, max: 512, pattern: '[\\.\\-_/#A-Za-z0-9]+' };
const groupIdentifier: ShapeRule = { kind: 'string', min: 1, max: 2048, pattern: '[\\w#+=/:,.@-]*' };
const streamName: ShapeRule = { kind: 'string', min: 1, max: 512, pattern: '[^:*]*' };
const nextToken: ShapeRule = { kind: 'string', min: 1 };
const describeLimit: ShapeRule = { kind: 'integer', min: 1, max: 50 };
const eventsLimit: ShapeRule = { kind: 'integer', min: 1, max: 10_000 };
// Epoch milliseconds: the model's `long`.
const timestamp: ShapeRule = { kind: 'integer', min: 0, long: true };
const bool: ShapeRule = { kind: 'boolean' };

const RULES: Record<(typeof LOGS_OPERATIONS)[number], ShapeRule & { kind: 'structure' }> = {
  DescribeLogGroups: {
    kind: 'structure',
    members: {
      accountIdentifiers: { kind: 'list', min: 0, max: 20, member: { kind: 'string', min: 12, max: 12, pattern: '^\\d{12}$' } },
      logGroupNamePrefix: groupName,
      logGroupNamePattern: { kind: 'string', min: 0, max: 512, pattern: '[\\.\\-_/#A-Za-z0-9]*' },
      nextToken,
      limit: describeLimit,
      includeLinkedAccounts: bool,
      logGroupClass: { kind: 'string', enum: ['STANDARD', 'INFREQUENT_ACCESS', 'DELIVERY'] },
      logGroupIdentifiers: { kind: 'list', min: 1, max: 50, member: groupIdentifier },
    },
  },
  DescribeLogStreams: {
    kind: 'structure',
    members: { logGroupName: groupName, logGroupIdentifier: groupIdentifier, logStreamNamePrefix: streamName, orderBy: { kind: 'string', enum: ['LogStreamName', 'LastEventTime'] }, descending: bool, nextToken, limit: describeLimit },
  },
  GetLogEvents: {
    kind: 'structure',
    required: ['logStreamName'],
    members: { logGroupName: groupName, logGroupIdentifier: groupIdentifier, logStreamName: streamName, startTime: timestamp, endTime: timestamp, nextToken, limit: eventsLimit, startFromHead: bool, unmask: bool },
  },
  FilterLogEvents: {
    kind: 'structure',
    members: {
      logGroupName: groupName,
      logGroupIdentifier: groupIdentifier,
      logStreamNames: { kind: 'list', min: 1, max: 100, member: streamName },
      logStreamNamePrefix: streamName,
      startTime: timestamp,
      endTime: timestamp,
      filterPattern: { kind: 'string', min: 0, max: 1024 },
      nextToken,
      limit: eventsLimit,
      startFromHead: bool,
      interleaved: bool,
      unmask: bool,
    },
  },
};

const invalidParameter = (message: string): AwsServiceError => new AwsServiceError('InvalidParameterException', message, 400);
const invalidToken = (): AwsServiceError => invalidParameter('The specified nextToken is invalid.');

/** An opaque page token carrying a JSON position. */
function encodeToken(position: unknown): string {
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
}

function decodeToken<T>(token: string, valid: (v: unknown) => v is T): T {
  let parsed: unknown;
  try {
    // In the try: a token that is not a string (Buffer.from throws) is a bad token as any other.
    const text = Buffer.from(token, 'base64url').toString('utf8');
    // A token is a client's text: JSON.parse takes seconds over millions of brackets (see json-depth.ts).
    parsed = jsonNestsDeeperThan(text) ? undefined : JSON.parse(text);
  } catch {
    throw invalidToken();
  }
  if (!valid(parsed)) throw invalidToken();
  return parsed;
}

/**
 * A `{g: group, o: orderBy, d: descending, k: [number, string]}` DescribeLogStreams position: the
 * group and order it pages, and the last stream's sort number (0, or its last event time) and name.
 * The group and order are in it because a position in one group's listing, or in another order,
 * pages another listing wrongly (from an arbitrary stream on).
 */
const isStreamKey = (v: unknown): v is { g: string; o: string; d: boolean; k: [number, string] } => {
  const o = v as { g?: unknown; o?: unknown; d?: unknown; k?: unknown } | null;
  return typeof o === 'object' && o !== null && typeof o.g === 'string' && typeof o.o === 'string' && typeof o.d === 'boolean' && Array.isArray(o.k) && o.k.length === 2 && typeof o.k[0] === 'number' && typeof o.k[1] === 'string';
};
/** A `{g: group, k: [timestamp, order], h: fromHead}` FilterLogEvents position (the group's, for the reason above). */
const isEventKey = (v: unknown): v is { g: string; k: [number, number]; h: boolean } => {
  const o = v as { g?: unknown; k?: unknown; h?: unknown } | null;
  return typeof o === 'object' && o !== null && typeof o.g === 'string' && Array.isArray(o.k) && o.k.length === 2 && o.k.every((n) => typeof n === 'number') && typeof o.h === 'boolean';
};

/**
 * What a token's listing is, as a short digest: a `DescribeLogGroups` token carries its filters'
 * (`logGroupNamePrefix`, `logGroupNamePattern`, `logGroupIdentifiers`, `logGroupClass`), a
 * `GetLogEvents` token its group's and stream's, so one given with other filters or for another
 * stream is refused rather than paging that listing from an arbitrary place. A digest keeps the
 * token short where the filters can be 50 identifiers of 2048 characters.
 */
function listingTag(listing: unknown): string {
  return createHash('sha256').update(JSON.stringify(listing)).digest('base64url').slice(0, 22);
}

/** A `{f: listing tag, k: last group name}` DescribeLogGroups position. */
const isGroupKey = (v: unknown): v is { f: string; k: string } => {
  const o = v as { f?: unknown; k?: unknown } | null;
  return typeof o === 'object' && o !== null && typeof o.f === 'string' && typeof o.k === 'string';
};

/** First index in `events` (in time order) from `from` on whose timestamp is at least `t`. */
function firstAtOrAfter(events: readonly StoredLogEvent[], t: number, from: number): number {
  let lo = from;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid]!.timestamp < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index in `events` (in write order) from `from` on whose number is above `seq`. */
function firstAfterSeq(events: readonly StoredLogEvent[], seq: number, from: number): number {
  let lo = from;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid]!.seq <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index in `events` (in time order) from `from` on whose (timestamp, order) comes after `key`. */
function firstAfterKey(events: readonly StoredLogEvent[], key: readonly [number, number], from: number): number {
  let lo = from;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const e = events[mid]!;
    if ((e.timestamp - key[0] || e.order - key[1]) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Options of {@link CloudWatchLogsService}. */
export interface CloudWatchLogsServiceOptions {
  readonly store: LogStore;
  /** @defaultValue `us-east-1` */
  readonly region?: string;
  /** @defaultValue `000000000000` */
  readonly accountId?: string;
  /** @defaultValue {@link MAX_EVENTS_SCANNED} (tests) */
  readonly maxEventsScanned?: number;
  /** @defaultValue {@link MAX_SEARCH_WORK} (tests) */
  readonly maxSearchWork?: number;
}

/**
 * The local CloudWatch Logs (`Logs_20140328`, awsJson 1.1, signing name `logs`): the reading
 * operations `DescribeLogGroups`, `DescribeLogStreams`, `GetLogEvents` and `FilterLogEvents` over
 * the {@link LogStore} that training jobs, transform jobs and endpoint instances write their
 * output to. Request members are checked against the service model's constraints
 * (`InvalidParameterException`); a missing group or stream is `ResourceNotFoundException` worded
 * as the service words it.
 */
export class CloudWatchLogsService implements AwsService {
  readonly targetPrefix = 'Logs_20140328';
  readonly signingName = 'logs';
  private readonly store: LogStore;
  private readonly region: string;
  private readonly accountId: string;
  private readonly maxEventsScanned: number;
  private readonly maxSearchWork: number;

  constructor(opts: CloudWatchLogsServiceOptions) {
    this.store = opts.store;
    this.region = opts.region ?? 'us-east-1';
    this.accountId = opts.accountId ?? '000000000000';
    this.maxEventsScanned = opts.maxEventsScanned ?? MAX_EVENTS_SCANNED;
    this.maxSearchWork = opts.maxSearchWork ?? MAX_SEARCH_WORK;
  }

  call(operation: string, raw: Input): Promise<Output> {
    return Promise.resolve().then(() => {
      if (!(LOGS_OPERATIONS as readonly string[]).includes(operation)) {
        throw new AwsServiceError('UnknownOperationException', `The local CloudWatch Logs does not implement the operation ${excerpt(operation, 100)} (it answers ${LOGS_OPERATIONS.join(', ')}).`, 400);
      }
      const op = operation as (typeof LOGS_OPERATIONS)[number];
      const input = withoutNulls(raw);
      try {
        validateInput(input, RULES[op]);
      } catch (err) {
        // CloudWatch Logs reports constraint violations as InvalidParameterException.
        if (err instanceof AwsServiceError && err.type === 'ValidationException') throw invalidParameter(err.message);
        throw err;
      }
      switch (op) {
        case 'DescribeLogGroups':
          return this.describeLogGroups(input);
        case 'DescribeLogStreams':
          return this.describeLogStreams(input);
        case 'GetLogEvents':
          return this.getLogEvents(input);
        case 'FilterLogEvents':
          return this.filterLogEvents(input);
      }
    });
  }

  private groupArn(name: string): string {
    return `arn:${partitionOf(this.region)}:logs:${this.region}:${this.accountId}:log-group:${name}`;
  }

  /** The group `logGroupName` or `logGroupIdentifier` (a name or an ARN) names: exactly one of them must be given. */
  private group(input: Input): StoredLogGroup {
    const name = input.logGroupName as string | undefined;
    const identifier = input.logGroupIdentifier as string | undefined;
    if (name !== undefined && identifier !== undefined) throw invalidParameter('LogGroupName and LogGroupIdentifier are mutually exclusive: give one of them.');
    if (name === undefined && identifier === undefined) throw invalidParameter('Either LogGroupName or LogGroupIdentifier must be given.');
    const found = this.store.groups.get(name ?? this.nameOf(identifier!));
    if (!found) throw new AwsServiceError('ResourceNotFoundException', 'The specified log group does not exist.', 400);
    return found;
  }

  /** A log group's name from its name or ARN (with or without the trailing `:*`). */
  private nameOf(identifier: string): string {
    const m = /^arn:[^:]+:logs:[^:]*:[^:]*:log-group:([^:]+)(?::\*)?$/.exec(identifier);
    return m ? m[1]! : identifier;
  }

  private describeLogGroups(input: Input): Output {
    const prefix = input.logGroupNamePrefix as string | undefined;
    const pattern = input.logGroupNamePattern as string | undefined;
    const identifiers = input.logGroupIdentifiers as string[] | undefined;
    if (prefix !== undefined && pattern !== undefined) throw invalidParameter('logGroupNamePrefix and logGroupNamePattern are mutually exclusive: give one of them.');
    if (identifiers !== undefined && (prefix !== undefined || pattern !== undefined)) throw invalidParameter('logGroupIdentifiers cannot be combined with logGroupNamePrefix or logGroupNamePattern.');
    const names = identifiers === undefined ? undefined : new Set(identifiers.map((i) => this.nameOf(i)));
    // Every local group is of the STANDARD class.
    const otherClass = input.logGroupClass !== undefined && input.logGroupClass !== 'STANDARD';
    const tag = listingTag([prefix ?? null, pattern ?? null, names === undefined ? null : [...names].sort(), input.logGroupClass ?? null]);
    const position = input.nextToken === undefined ? undefined : decodeToken(input.nextToken as string, isGroupKey);
    if (position && position.f !== tag) throw invalidToken();
    const after = position?.k;
    const matching = [...this.store.groups.values()]
      .filter((g) => !otherClass && (prefix === undefined || g.name.startsWith(prefix)) && (pattern === undefined || g.name.includes(pattern)) && (names === undefined || names.has(g.name)))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .filter((g) => after === undefined || g.name > after);
    const limit = (input.limit as number | undefined) ?? 50;
    const page = matching.slice(0, limit);
    return {
      logGroups: page.map((g) => {
        const arn = `${this.groupArn(g.name)}:*`;
        // With logGroupNamePattern the service returns only these three members.
        if (pattern !== undefined) return { logGroupName: g.name, creationTime: g.creationTime, arn };
        return { logGroupName: g.name, creationTime: g.creationTime, metricFilterCount: 0, arn, storedBytes: g.storedBytes, logGroupClass: 'STANDARD', logGroupArn: this.groupArn(g.name) };
      }),
      ...(matching.length > limit ? { nextToken: encodeToken({ f: tag, k: page.at(-1)!.name }) } : {}),
    };
  }

  private describeLogStreams(input: Input): Output {
    const prefix = input.logStreamNamePrefix as string | undefined;
    const byTime = input.orderBy === 'LastEventTime';
    if (byTime && prefix !== undefined) throw invalidParameter('Cannot order by LastEventTime with a logStreamNamePrefix.');
    const group = this.group(input);
    const descending = input.descending === true;
    const key = (s: StoredLogStream): [number, string] => [byTime ? (s.lastEvent?.timestamp ?? 0) : 0, s.name];
    const compare = (a: [number, string], b: [number, string]): number => {
      const c = a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);
      return descending ? -c : c;
    };
    const orderBy = byTime ? 'LastEventTime' : 'LogStreamName';
    const position = input.nextToken === undefined ? undefined : decodeToken(input.nextToken as string, isStreamKey);
    if (position && (position.g !== group.name || position.o !== orderBy || position.d !== descending)) throw invalidToken();
    const after = position?.k;
    const matching = [...group.streams.values()]
      .filter((s) => prefix === undefined || s.name.startsWith(prefix))
      .map((s) => ({ s, k: key(s) }))
      .sort((a, b) => compare(a.k, b.k))
      .filter((x) => after === undefined || compare(x.k, after) > 0);
    const limit = (input.limit as number | undefined) ?? 50;
    const page = matching.slice(0, limit);
    return {
      logStreams: page.map(({ s }) => {
        const last = s.lastEvent;
        return {
          logStreamName: s.name,
          creationTime: s.creationTime,
          ...(last ? { firstEventTimestamp: s.firstEventTimestamp, lastEventTimestamp: last.timestamp, lastIngestionTime: last.ingestionTime } : {}),
          arn: `${this.groupArn(group.name)}:log-stream:${s.name}`,
          // The service reports 0 for streams (the member is no longer supported for them).
          storedBytes: 0,
        };
      }),
      ...(matching.length > limit ? { nextToken: encodeToken({ g: group.name, o: orderBy, d: descending, k: page.at(-1)!.k }) } : {}),
    };
  }

  /**
   * Events of one stream, a page at a time. A forward token `f/<n>/<tag>` reads the events written
   * after event n, a backward token `b/<n>/<tag>` those before it; the tag is the stream's (see
   * {@link listingTag}), as n numbers that stream's events only. At either end of the stream the
   * token passed in comes back unchanged, which is how tailing clients (the SageMaker Python SDK)
   * know they have read everything for now.
   */
  private getLogEvents(input: Input): Output {
    const group = this.group(input);
    const stream = group.streams.get(input.logStreamName as string);
    if (!stream) throw new AwsServiceError('ResourceNotFoundException', 'The specified log stream does not exist.', 400);
    const events = stream.keptArray;
    const base = stream.firstKept;
    let lo = input.startTime === undefined ? base : firstAtOrAfter(events, input.startTime as number, base);
    let hi = input.endTime === undefined ? events.length : firstAtOrAfter(events, input.endTime as number, base);
    const token = input.nextToken as string | undefined;
    const tag = listingTag([group.name, stream.name]);
    let forward = input.startFromHead === true;
    let tokenSeq: number | undefined;
    if (token !== undefined) {
      const m = /^([fb])\/(\d{1,15})\/([\w-]+)$/.exec(token);
      if (!m || m[3] !== tag) throw invalidToken();
      forward = m[1] === 'f';
      tokenSeq = Number(m[2]);
      if (forward) lo = Math.max(lo, firstAfterSeq(events, tokenSeq, base));
      else hi = Math.min(hi, firstAfterSeq(events, tokenSeq - 1, base));
    }
    const limit = (input.limit as number | undefined) ?? 10_000;
    let from = lo;
    let to = lo;
    if (hi > lo) {
      let bytes = 0;
      if (forward) {
        to = lo;
        while (to < hi && to - lo < limit && (to === lo || bytes + events[to]!.bytes <= MAX_PAGE_BYTES)) bytes += events[to++]!.bytes;
      } else {
        from = to = hi;
        while (from > lo && to - from < limit && (from === hi || bytes + events[from - 1]!.bytes <= MAX_PAGE_BYTES)) bytes += events[--from]!.bytes;
      }
    }
    const page = events.slice(from, to);
    let nextForwardToken: string;
    let nextBackwardToken: string;
    if (page.length > 0) {
      nextForwardToken = `f/${page.at(-1)!.seq}/${tag}`;
      nextBackwardToken = `b/${page[0]!.seq}/${tag}`;
    } else if (token !== undefined) {
      nextForwardToken = forward ? token : `f/${Math.max(0, tokenSeq! - 1)}/${tag}`;
      // Past the stream's last event (a forward token beyond it), b/<last + 1> reads what b/<n + 1> would
      // and stays within the 15 digits a token is read with.
      nextBackwardToken = forward ? `b/${Math.min(tokenSeq! + 1, stream.lastWrittenSeq + 1)}/${tag}` : token;
    } else {
      nextForwardToken = `f/${stream.lastWrittenSeq}/${tag}`;
      nextBackwardToken = `b/${stream.lastWrittenSeq + 1}/${tag}`;
    }
    return {
      events: page.map((e) => ({ timestamp: e.timestamp, message: e.message, ingestionTime: e.ingestionTime })),
      nextForwardToken,
      nextBackwardToken,
    };
  }

  /** Events of several streams of a group, interleaved by time, that match the filter pattern. */
  private filterLogEvents(input: Input): Output {
    const names = input.logStreamNames as string[] | undefined;
    const prefix = input.logStreamNamePrefix as string | undefined;
    if (names !== undefined && prefix !== undefined) throw invalidParameter('logStreamNames and logStreamNamePrefix are mutually exclusive: give one of them.');
    const startTime = input.startTime as number | undefined;
    const endTime = input.endTime as number | undefined;
    const matches = compileFilterPattern(input.filterPattern as string | undefined);
    const group = this.group(input);
    const position = input.nextToken === undefined ? undefined : decodeToken(input.nextToken as string, isEventKey);
    if (position && position.g !== group.name) throw invalidToken();
    const fromHead = position?.h ?? input.startFromHead !== false;
    if (!fromHead && position === undefined && startTime !== undefined && startTime < NEWEST_FIRST_SINCE_MS) {
      throw invalidParameter('startFromHead false (newest events first) needs a startTime on or after Jan 1, 2024 00:00:00 UTC (1704067200000).');
    }
    const wanted = names === undefined ? undefined : new Set(names);
    const ahead = fromHead ? 1 : -1;
    // Each stream is in (timestamp, order) order already: the page is merged from them, so a request
    // looks at the events up to its page (and the next match), never sorting or copying the group.
    type Source = { stream: string; events: readonly StoredLogEvent[]; next: number; stop: number };
    const sources: Source[] = [];
    for (const s of group.streams.values()) {
      if ((wanted !== undefined && !wanted.has(s.name)) || (prefix !== undefined && !s.name.startsWith(prefix))) continue;
      const events = s.keptArray;
      const base = s.firstKept;
      let lo = startTime === undefined ? base : firstAtOrAfter(events, startTime, base);
      let hi = endTime === undefined ? events.length : firstAtOrAfter(events, endTime + 1, base);
      if (position !== undefined) {
        const after = firstAfterKey(events, position.k, base);
        if (fromHead) lo = Math.max(lo, after);
        else hi = Math.min(hi, firstAfterKey(events, [position.k[0], position.k[1] - 1], base));
      }
      if (lo < hi) sources.push({ stream: s.name, events, next: fromHead ? lo : hi - 1, stop: fromHead ? hi : lo - 1 });
    }
    // The sources in a heap by their next event, so that each event costs log(streams), not streams:
    // a group of a thousand training jobs' streams is scanned as fast as one of a few.
    const precedes = (a: Source, b: Source): boolean => {
      const x = a.events[a.next]!;
      const y = b.events[b.next]!;
      return ahead * (x.timestamp - y.timestamp || x.order - y.order) < 0;
    };
    const siftDown = (i: number): void => {
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let first = i;
        if (l < sources.length && precedes(sources[l]!, sources[first]!)) first = l;
        if (r < sources.length && precedes(sources[r]!, sources[first]!)) first = r;
        if (first === i) return;
        const moved = sources[i]!;
        sources[i] = sources[first]!;
        sources[first] = moved;
        i = first;
      }
    };
    for (let i = (sources.length >>> 1) - 1; i >= 0; i--) siftDown(i);
    /** The next matching event in page order, or undefined when none is left. */
    let scanned = 0;
    let work = 0;
    let lastScanned: StoredLogEvent | undefined;
    const nextMatch = (): { stream: string; e: StoredLogEvent } | undefined => {
      while (sources.length > 0 && scanned < this.maxEventsScanned && work < this.maxSearchWork) {
        const top = sources[0]!;
        const e = top.events[top.next]!;
        scanned++;
        work += e.message.length * matches.terms;
        lastScanned = e;
        top.next += ahead;
        if (top.next === top.stop) {
          const last = sources.pop()!;
          if (sources.length > 0) sources[0] = last;
        }
        siftDown(0);
        if (matches(e.message)) return { stream: top.stream, e };
      }
      return undefined;
    };
    const limit = (input.limit as number | undefined) ?? 10_000;
    const page: Array<{ stream: string; e: StoredLogEvent }> = [];
    let bytes = 0;
    let pending = nextMatch();
    while (pending && page.length < limit && (page.length === 0 || bytes + pending.e.bytes <= MAX_PAGE_BYTES)) {
      page.push(pending);
      bytes += pending.e.bytes;
      pending = nextMatch();
    }
    // Where the next page starts: after the last event of this one while more match, or after the
    // last event looked at when the scan stopped at its budget with events left.
    const last = pending ? page.at(-1)!.e : sources.length > 0 ? lastScanned : undefined;
    return {
      events: page.map(({ stream, e }) => ({ logStreamName: stream, timestamp: e.timestamp, message: e.message, ingestionTime: e.ingestionTime, eventId: String(e.order) })),
      // No longer supported by the service, which returns an empty list.
      searchedLogStreams: [],
      ...(last ? { nextToken: encodeToken({ g: group.name, k: [last.timestamp, last.order], h: fromHead }) } : {}),
    };
  }
}
