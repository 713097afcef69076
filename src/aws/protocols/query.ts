/**
 * The AWS query protocol, both directions: a form-encoded `POST /` body
 * (`Action=PutMetricAlarm&Version=2010-08-01&Dimensions.member.1.Name=...`, as the AWS CLI and
 * boto3 send it for CloudWatch) parsed into a request, and outputs and errors written as the XML
 * the service documents (`<PutMetricAlarmResponse xmlns=...>`, `<ErrorResponse>`).
 */

/** A parsed query request: the action, the API version and the members, nested by their dotted keys. */
export interface QueryRequest {
  readonly action: string;
  readonly version?: string;
  /**
   * Members with string leaves; `X.member.N` keys become arrays (1-based, ordered by N), and
   * `X.entry.N.key` / `X.entry.N.value` pairs objects (maps, as botocore and the JS SDK send them).
   */
  readonly params: Record<string, unknown>;
}

/** A query body that cannot be parsed; it answers 400 with {@link QueryParseError.code}. */
export class QueryParseError extends Error {
  constructor(
    /** The query-protocol error code (`MissingAction`, `MalformedQueryString`). */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'QueryParseError';
  }
}

/** Most parameters one query body may carry: a full PutMetricData (1000 metrics, each with dimensions or values) needs tens of thousands; the 1 MiB body bounds the work. */
export const MAX_QUERY_PARAMETERS = 65_536;
/** Largest list index accepted in `X.member.N`. */
export const MAX_LIST_INDEX = 1000;
/** Most dotted parts one parameter name may have. */
export const MAX_KEY_SEGMENTS = 32;
const SEGMENT = /^[A-Za-z][A-Za-z0-9_]{0,127}$/;
const INDEX = /^[1-9][0-9]{0,5}$/;

type Node =
  | { kind: 'leaf'; value: string }
  | { kind: 'struct'; members: Map<string, Node> }
  | { kind: 'list'; items: Map<number, Node> }
  | { kind: 'map'; items: Map<number, Node>; name: string };

/** The segment before an item's index: `member` in a list, `entry` in a map (the query protocol's non-flattened forms). */
const ITEM_WORD = { list: 'member', map: 'entry' } as const;

function malformed(message: string): QueryParseError {
  return new QueryParseError('MalformedQueryString', message);
}

/**
 * Parses a form-encoded query body. Never throws anything but {@link QueryParseError}: any byte
 * string gives a request or an error naming what is wrong.
 */
export function parseQueryBody(body: string): QueryRequest {
  const pairs = [...new URLSearchParams(body)];
  if (pairs.length > MAX_QUERY_PARAMETERS) throw malformed(`The request has ${pairs.length} parameters; at most ${MAX_QUERY_PARAMETERS} are accepted.`);
  let action: string | undefined;
  let version: string | undefined;
  const root: Node = { kind: 'struct', members: new Map() };
  const seen = new Set<string>();
  for (const [key, value] of pairs) {
    if (seen.has(key)) throw malformed(`The parameter ${key} is given more than once.`);
    seen.add(key);
    if (key === 'Action') action = value;
    else if (key === 'Version') version = value;
    else insert(root, key, value);
  }
  if (action === undefined || action === '') throw new QueryParseError('MissingAction', 'The request must contain the parameter Action.');
  if (!SEGMENT.test(action)) throw new QueryParseError('InvalidAction', `The action ${action.slice(0, 100)} is not valid for this web service.`);
  return { action, ...(version !== undefined ? { version } : {}), params: toPlain(root) as Record<string, unknown> };
}

function insert(root: Node, key: string, value: string): void {
  const segments = key.split('.');
  // Members nest a few levels (Metrics.member.1.MetricStat.Metric.Dimensions.member.1.Name); far deeper keys only exhaust the stack.
  if (segments.length > MAX_KEY_SEGMENTS) throw malformed(`The parameter ${key.slice(0, 100)}... nests ${segments.length} levels deep; at most ${MAX_KEY_SEGMENTS} are accepted.`);
  let node = root;
  let i = 0;
  while (i < segments.length) {
    const seg = segments[i]!;
    if (node.kind === 'leaf') throw malformed(`The parameter ${key} nests inside ${segments.slice(0, i).join('.')}, which has a value of its own.`);
    if (node.kind === 'list' || node.kind === 'map') {
      const word = ITEM_WORD[node.kind];
      const index = segments[i + 1];
      if (seg !== word || index === undefined || !INDEX.test(index) || Number(index) > MAX_LIST_INDEX) {
        const what = node.kind === 'list' ? 'a list item' : 'a map entry';
        throw malformed(`The parameter ${key} names ${what} as "${segments.slice(i, i + 2).join('.')}": expected ${word}.N with N from 1 to ${MAX_LIST_INDEX}.`);
      }
      const last = i + 1 === segments.length - 1;
      node = child(node.items, Number(index), last ? value : undefined, segments[i + 2], key, segments.slice(0, i + 2).join('.'));
      i += 2;
      continue;
    }
    if (!SEGMENT.test(seg)) throw malformed(`The parameter name ${key} is not valid: each dotted part must be a member name.`);
    const last = i === segments.length - 1;
    node = child(node.members, seg, last ? value : undefined, segments[i + 1], key, segments.slice(0, i + 1).join('.'));
    i += 1;
  }
}

/** Gets or creates the child `k` (named `name` in the request) of a container; its kind follows the next key segment. */
function child<K>(container: Map<K, Node>, k: K, leafValue: string | undefined, next: string | undefined, key: string, name: string): Node {
  const existing = container.get(k);
  const wanted: Node['kind'] = leafValue !== undefined ? 'leaf' : next === 'member' ? 'list' : next === 'entry' ? 'map' : 'struct';
  if (existing) {
    if (existing.kind !== wanted) throw malformed(`The parameter ${key} conflicts with another parameter of the same prefix.`);
    if (wanted === 'leaf') throw malformed(`The parameter ${key} is given more than once.`);
    return existing;
  }
  const created: Node =
    wanted === 'leaf'
      ? { kind: 'leaf', value: leafValue! }
      : wanted === 'list'
        ? { kind: 'list', items: new Map() }
        : wanted === 'map'
          ? { kind: 'map', items: new Map(), name }
          : { kind: 'struct', members: new Map() };
  container.set(k, created);
  return created;
}

function toPlain(node: Node): unknown {
  switch (node.kind) {
    case 'leaf':
      return node.value;
    case 'struct': {
      const out: Record<string, unknown> = {};
      for (const [k, v] of node.members) out[k] = toPlain(v);
      return out;
    }
    case 'list':
      return [...node.items.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => toPlain(v));
    case 'map': {
      const entries = new Map<string, unknown>();
      for (const [n, entry] of [...node.items.entries()].sort((a, b) => a[0] - b[0])) {
        const at = `${node.name}.entry.${n}`;
        const k = entry.kind === 'struct' ? entry.members.get('key') : undefined;
        const v = entry.kind === 'struct' ? entry.members.get('value') : undefined;
        if (entry.kind !== 'struct' || k?.kind !== 'leaf' || v === undefined || entry.members.size !== 2) {
          throw malformed(`The map entry ${at} must be given as ${at}.key and ${at}.value, and nothing else.`);
        }
        if (entries.has(k.value)) throw malformed(`The map ${node.name} has the key ${k.value.slice(0, 100)} more than once.`);
        entries.set(k.value, toPlain(v));
      }
      // Object.fromEntries defines each key as an own property, so a key such as __proto__ sets no prototype.
      return Object.fromEntries(entries);
    }
  }
}

const INVALID_XML_CHARS = /[^\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** Escapes text for an XML element (and replaces characters XML 1.0 cannot carry). */
export function escapeXml(text: string): string {
  return text
    .replace(INVALID_XML_CHARS, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** How to write an output: which members are maps (`<entry><key/><value/></entry>`) rather than structures. */
export interface XmlWriteOptions {
  readonly mapMembers?: ReadonlySet<string>;
  /** Members holding timestamps as epoch seconds (the JSON form), or lists of them, written as ISO 8601. */
  readonly timestampMembers?: ReadonlySet<string>;
}

/** Writes one value as the query protocol's XML: lists as `<member>` items, dates as ISO 8601. */
export function toXml(name: string, value: unknown, opts: XmlWriteOptions = {}): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) {
    const timestamps = opts.timestampMembers?.has(name) === true;
    return `<${name}>${value.map((item) => (timestamps && typeof item === 'number' ? `<member>${new Date(item * 1000).toISOString()}</member>` : toXml('member', item, opts))).join('')}</${name}>`;
  }
  if (value instanceof Date) return `<${name}>${value.toISOString()}</${name}>`;
  if (typeof value === 'number' && opts.timestampMembers?.has(name)) return `<${name}>${new Date(value * 1000).toISOString()}</${name}>`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (opts.mapMembers?.has(name)) {
      return `<${name}>${entries.map(([k, v]) => `<entry><key>${escapeXml(k)}</key>${toXml('value', v, opts)}</entry>`).join('')}</${name}>`;
    }
    return `<${name}>${entries.map(([k, v]) => toXml(k, v, opts)).join('')}</${name}>`;
  }
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

/**
 * The XML body of a successful query response: `<{Action}Response xmlns>` holding
 * `<{Action}Result>` (omitted when the output is empty) and `<ResponseMetadata><RequestId>`.
 */
export function writeQueryResponse(action: string, output: Record<string, unknown>, xmlns: string, requestId: string, opts: XmlWriteOptions = {}): string {
  const members = Object.entries(output).filter(([, v]) => v !== undefined);
  const result = members.length === 0 ? '' : `<${action}Result>${members.map(([k, v]) => toXml(k, v, opts)).join('')}</${action}Result>`;
  return `<${action}Response xmlns="${escapeXml(xmlns)}">${result}<ResponseMetadata><RequestId>${escapeXml(requestId)}</RequestId></ResponseMetadata></${action}Response>`;
}

/** The XML body of a query-protocol error (`<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>`); an empty `xmlns` is left out. */
export function writeQueryError(code: string, message: string, fault: 'Sender' | 'Receiver', xmlns: string, requestId: string): string {
  return `<ErrorResponse${xmlns === '' ? '' : ` xmlns="${escapeXml(xmlns)}"`}><Error><Type>${fault}</Type><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error><RequestId>${escapeXml(requestId)}</RequestId></ErrorResponse>`;
}
