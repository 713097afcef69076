import { AwsServiceError } from '../service.js';
import { timestampMillis } from './timestamp.js';
import { firstChars } from '../../errors/text-cut.js';

/**
 * A constraint on one member, as the service model states it (min/max, pattern, enum, required).
 * A string's min/max count its JavaScript length, or its UTF-8 bytes with `bytes` (where the API
 * reference states the limit in bytes). An integer is the service model's 32-bit `integer` unless
 * `long` (its 64-bit `long`).
 */
export type ShapeRule =
  | { kind: 'string'; min?: number; max?: number; bytes?: true; pattern?: string; enum?: readonly string[] }
  | { kind: 'integer'; min?: number; max?: number; long?: true }
  | { kind: 'float'; min?: number; max?: number }
  | { kind: 'boolean' }
  | { kind: 'timestamp' }
  | { kind: 'list'; min?: number; max?: number; member: ShapeRule }
  | { kind: 'map'; min?: number; max?: number; key?: ShapeRule; value?: ShapeRule }
  | { kind: 'structure'; required?: readonly string[]; members: Readonly<Record<string, ShapeRule>> };

/** One failed constraint, worded as AWS services word request validation. */
export interface Violation {
  value: string;
  path: string;
  constraint: string;
}

/** `productionVariants.1.member.variantName`: the service's member paths (lower camel case, lists counted from 1). */
function memberPath(parent: string, member: string): string {
  const name = member.charAt(0).toLowerCase() + member.slice(1);
  return parent === '' ? name : `${parent}.${name}`;
}

/** JSON text of a request value; a value nested too deeply to write (stack overflow) is described instead. */
function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Array.isArray(value) ? '[...]' : '{...}';
  }
}

function show(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  const text = typeof value === 'string' ? value : jsonText(value);
  return text.length > 200 ? `${firstChars(text, 200)}...` : text;
}

/**
 * A map as the services quote it, Java's `{key=value, key=value}` ("Value '{batch_size=32, epochs=10, ...}'
 * at 'hyperParameters'", sagemaker-python-sdk#314), cut as {@link show} cuts: built only that far.
 */
function showMap(entries: ReadonlyArray<readonly [string, unknown]>): string {
  let text = '{';
  for (const [i, [k, v]] of entries.entries()) {
    text += `${i === 0 ? '' : ', '}${k}=${typeof v === 'string' ? v : jsonText(v)}`;
    if (text.length > 200) return `${firstChars(text, 200)}...`;
  }
  return `${text}}`;
}

const INT32_MAX = 2_147_483_647;
const INT32_MIN = -2_147_483_648;

function typeError(path: string, expected: string, value: unknown): AwsServiceError {
  // A number past the double range (1e400) parses as Infinity, which JSON writes as null: the caller sent no null.
  const got = typeof value === 'number' && !Number.isFinite(value) ? String(value) : jsonText(value);
  return new AwsServiceError('SerializationException', `${path || 'the input'} must be ${expected} (got ${firstChars(got, 100)}).`, 400);
}

const compiled = new Map<string, RegExp>();
function matches(pattern: string, value: string): boolean {
  let re = compiled.get(pattern);
  if (!re) {
    re = new RegExp(`^(?:${pattern})$`, 'u');
    compiled.set(pattern, re);
  }
  return re.test(value);
}

/** Every constraint of a map's key or value shape, in the services' order (maximum, minimum, pattern), as a map violation lists them. */
function constraintsOf(rule: ShapeRule): string[] {
  if (rule.kind !== 'string') return [];
  const unit = rule.bytes ? ' bytes (UTF-8)' : '';
  return [
    ...(rule.max === undefined ? [] : [`Member must have length less than or equal to ${rule.max}${unit}`]),
    ...(rule.min === undefined ? [] : [`Member must have length greater than or equal to ${rule.min}${unit}`]),
    ...(rule.pattern === undefined ? [] : [`Member must satisfy regular expression pattern: ${rule.pattern}`]),
    ...(rule.enum === undefined ? [] : [`Member must satisfy enum value set: [${rule.enum.join(', ')}]`]),
  ];
}

function check(value: unknown, rule: ShapeRule, path: string, out: Violation[]): void {
  const fail = (constraint: string): void => void out.push({ value: show(value), path, constraint });
  switch (rule.kind) {
    case 'string': {
      if (typeof value !== 'string') throw typeError(path, 'a string', value);
      const [length, unit] = rule.bytes ? [Buffer.byteLength(value), ' bytes (UTF-8)'] : [value.length, ''];
      if (rule.min !== undefined && length < rule.min) fail(`Member must have length greater than or equal to ${rule.min}${unit}`);
      if (rule.max !== undefined && length > rule.max) fail(`Member must have length less than or equal to ${rule.max}${unit}`);
      if (rule.pattern !== undefined && !matches(rule.pattern, value)) fail(`Member must satisfy regular expression pattern: ${rule.pattern}`);
      if (rule.enum !== undefined && !rule.enum.includes(value)) fail(`Member must satisfy enum value set: [${rule.enum.join(', ')}]`);
      return;
    }
    case 'integer':
    case 'float':
      if (typeof value !== 'number' || !Number.isFinite(value) || (rule.kind === 'integer' && !Number.isInteger(value))) {
        throw typeError(path, rule.kind === 'integer' ? 'an integer' : 'a number', value);
      }
      // The service reads an `integer` member as a 32-bit integer: a larger number is not one, whatever the member's range
      // (MaxConcurrentTransforms 3000000000, with no maximum in the model, reached the container and failed it).
      if (rule.kind === 'integer' && rule.long !== true && (value > INT32_MAX || value < INT32_MIN)) {
        throw typeError(path, `a 32-bit integer, ${INT32_MIN} to ${INT32_MAX}`, value);
      }
      if (rule.min !== undefined && value < rule.min) fail(`Member must have value greater than or equal to ${rule.min}`);
      if (rule.max !== undefined && value > rule.max) fail(`Member must have value less than or equal to ${rule.max}`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') throw typeError(path, 'true or false', value);
      return;
    case 'timestamp':
      // Text that names no date (or 1e400, read as Infinity) would filter by NaN.
      if (timestampMillis(value) === undefined) throw typeError(path, 'a timestamp: epoch seconds, or an ISO 8601 date such as "2024-05-01T12:00:00Z"', value);
      return;
    case 'list':
      if (!Array.isArray(value)) throw typeError(path, 'a list', value);
      if (rule.min !== undefined && value.length < rule.min) fail(`Member must have length greater than or equal to ${rule.min}`);
      // Past its maximum the list is refused as a whole; checking every item too would multiply the answer.
      if (rule.max !== undefined && value.length > rule.max) return fail(`Member must have length less than or equal to ${rule.max}`);
      value.forEach((item, i) => check(item, rule.member, `${path}.${i + 1}.member`, out));
      return;
    case 'map': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw typeError(path, 'a map', value);
      const entries = Object.entries(value);
      const failMap = (constraint: string): void => void out.push({ value: showMap(entries), path, constraint });
      if (rule.min !== undefined && entries.length < rule.min) failMap(`Member must have length greater than or equal to ${rule.min}`);
      if (rule.max !== undefined && entries.length > rule.max) return failMap(`Member must have length less than or equal to ${rule.max}`);
      // The services report a map's keys and values as a whole, at the map, listing every constraint of
      // the key or value shape ("Value '{...}' at 'hyperParameters' failed to satisfy constraint: Map
      // value must satisfy constraint: [Member must have length less than or equal to 2500, ...]").
      const keys: Violation[] = [];
      const values: Violation[] = [];
      for (const [k, v] of entries) {
        if (rule.key) check(k, rule.key, path, keys);
        if (rule.value) check(v, rule.value, path, values);
      }
      if (keys.length > 0 && rule.key) failMap(`Map keys must satisfy constraint: [${constraintsOf(rule.key).join(', ')}]`);
      if (values.length > 0 && rule.value) failMap(`Map value must satisfy constraint: [${constraintsOf(rule.value).join(', ')}]`);
      return;
    }
    case 'structure': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw typeError(path, 'a structure', value);
      const obj = value as Record<string, unknown>;
      for (const name of rule.required ?? []) {
        if (obj[name] === undefined || obj[name] === null) out.push({ value: 'null', path: memberPath(path, name), constraint: 'Member must not be null' });
      }
      for (const [name, memberRule] of Object.entries(rule.members)) {
        const v = obj[name];
        if (v !== undefined && v !== null) check(v, memberRule, memberPath(path, name), out);
      }
      return;
    }
  }
}

/**
 * Validates an operation's input against its shape and throws the service's
 * `ValidationException` ("2 validation errors detected: Value 'x' at 'endpointName' failed to
 * satisfy constraint: ...") when anything fails; a value of the wrong JSON type is a
 * `SerializationException`, as the services answer it. Members the rule does not name are ignored,
 * as the services ignore unknown members.
 */
export function validateInput(input: Record<string, unknown>, rule: ShapeRule & { kind: 'structure' }): void {
  const out: Violation[] = [];
  check(input, rule, '', out);
  if (out.length === 0) return;
  throw new AwsServiceError('ValidationException', describeViolations(out), 400);
}

/**
 * The most violations one message spells out. A list with no maximum (`DesiredWeightsAndCapacities`)
 * of bad entries fills a 5 MiB body with 240 000 of them, which spelt out made a 43 MB answer.
 */
export const MAX_LISTED_VIOLATIONS = 100;

/**
 * "N validation error(s) detected: Value 'x' at 'member' failed to satisfy constraint: ...", as AWS
 * words them; past {@link MAX_LISTED_VIOLATIONS}, the count is of them all and the rest are not listed.
 */
export function describeViolations(out: readonly Violation[]): string {
  const parts = out.slice(0, MAX_LISTED_VIOLATIONS).map((v) => `Value ${v.value === 'null' ? 'null' : `'${v.value}'`} at '${v.path}' failed to satisfy constraint: ${v.constraint}`);
  const unlisted = out.length - parts.length;
  return `${out.length} validation error${out.length === 1 ? '' : 's'} detected: ${parts.join('; ')}${unlisted > 0 ? `; and ${unlisted} more, not listed` : ''}`;
}

/**
 * The input with every `null` member and list item removed, recursively: in the AWS JSON protocols
 * a null member means "not set", and operations then see it as absent. Only arrays and plain
 * objects (what JSON.parse makes) are copied; anything else (a Date a query-protocol reader made) is
 * kept as it is. Each array or object is copied once, however often the input refers to it, so an
 * input whose parts are shared (as a tree, far larger than it is) costs what its distinct parts do.
 */
export function withoutNulls<T>(value: T, copies = new Map<object, unknown>()): T {
  if (typeof value !== 'object' || value === null) return value;
  const known = copies.get(value);
  if (known !== undefined) return known as T;
  let copy: unknown;
  if (Array.isArray(value)) copy = value.filter((v) => v !== null).map((v) => withoutNulls(v, copies));
  else {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return value;
    // Each member is defined on the copy, not assigned: a `__proto__` key (an Environment variable,
    // a member no shape names) stays a member instead of setting the copy's prototype, which would
    // hand the operation members validation never saw.
    copy = Object.fromEntries(Object.entries(value).flatMap(([k, v]) => (v === null ? [] : [[k, withoutNulls(v, copies)]])));
  }
  copies.set(value, copy);
  return copy as T;
}
