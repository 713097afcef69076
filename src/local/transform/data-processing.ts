import { isUtf8 } from 'node:buffer';
import { ToolkitError } from '../../errors/catalogue.js';
import { MAX_JSON_DEPTH, jsonNestsDeeperThan } from '../../codecs/json-depth.js';

/**
 * `DataProcessing` of CreateTransformJob
 * (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DataProcessing.html): a JSONPath
 * `InputFilter` applied to each record before it is sent, `JoinSource=Input` to join each record
 * with its answer, and an `OutputFilter` applied to what is written.
 */
export interface DataProcessing {
  /** @defaultValue `$` */
  inputFilter?: string;
  /** @defaultValue `None` */
  joinSource?: 'None' | 'Input';
  /** @defaultValue `$` */
  outputFilter?: string;
}

/** `InputFilter` / `OutputFilter` longer than this are refused by CreateTransformJob. */
export const MAX_JSONPATH_LENGTH = 63;

type Slice = { start?: number; end?: number };
type Segment = { kind: 'names'; names: string[] } | { kind: 'wildcard' } | { kind: 'indexes'; items: (number | Slice)[] };

/** A record that the filters or the join cannot handle; it fails on its own. */
export class RecordProcessingError extends Error {}

const usage = (flag: string, expr: string, why: string): ToolkitError =>
  new ToolkitError(
    'ERR_CLI_USAGE',
    `${flag} ${JSON.stringify(expr)}: ${why}. SageMaker takes a JSONPath subset: $, .name, .*, ['a','b'], [0,-1], [1:] (e.g. "$[1:]", "$.features", "$['id','SageMakerOutput']")`,
  );

const INT = /^-?\d+$/;

/** Parses the JSONPath subset SageMaker documents (Supported JSONPath Operators); throws `ERR_CLI_USAGE` for anything else. */
export function parseJsonPath(expr: string, flag: string): Segment[] {
  if (expr.length > MAX_JSONPATH_LENGTH) throw usage(flag, expr, `longer than the ${MAX_JSONPATH_LENGTH} characters CreateTransformJob takes`);
  if (!expr.startsWith('$')) throw usage(flag, expr, 'a path starts with $');
  const segments: Segment[] = [];
  let i = 1;
  while (i < expr.length) {
    const last = segments[segments.length - 1];
    if (last && last.kind !== 'names' && !(last.kind === 'indexes' && last.items.length === 1 && typeof last.items[0] === 'number')) {
      throw usage(flag, expr, 'nothing may follow a wildcard, a slice or a list of indexes');
    }
    if (expr[i] === '.' && expr[i + 1] !== '[') {
      i++;
      if (expr[i] === '*') {
        segments.push({ kind: 'wildcard' });
        i++;
        continue;
      }
      const m = /^[^.[\]*'",\s]+/.exec(expr.slice(i));
      if (!m) throw usage(flag, expr, `a name is missing after the dot at character ${i}`);
      segments.push({ kind: 'names', names: [m[0]] });
      i += m[0].length;
      continue;
    }
    if (expr[i] === '.') i++;
    if (expr[i] !== '[') throw usage(flag, expr, `unexpected ${JSON.stringify(expr[i])} at character ${i}`);
    const close = expr.indexOf(']', i);
    if (close < 0) throw usage(flag, expr, `the [ at character ${i} is not closed`);
    const inside = expr.slice(i + 1, close).trim();
    i = close + 1;
    if (inside === '*') {
      segments.push({ kind: 'wildcard' });
      continue;
    }
    const parts = inside.split(',').map((p) => p.trim());
    if (parts.every((p) => /^'[^']*'$|^"[^"]*"$/.test(p))) {
      segments.push({ kind: 'names', names: parts.map((p) => p.slice(1, -1)) });
      continue;
    }
    const items: (number | Slice)[] = [];
    for (const p of parts) {
      if (INT.test(p)) {
        items.push(Number(p));
        continue;
      }
      const s = /^(-?\d+)?:(-?\d+)?$/.exec(p);
      if (!s) throw usage(flag, expr, `[${inside}] is not a list of quoted names, of indexes, or a start:end slice`);
      items.push({ ...(s[1] !== undefined ? { start: Number(s[1]) } : {}), ...(s[2] !== undefined ? { end: Number(s[2]) } : {}) });
    }
    if (items.filter((x) => typeof x !== 'number').length > 1) throw usage(flag, expr, `[${inside}] has more than one slice; SageMaker takes one range per filter`);
    segments.push({ kind: 'indexes', items });
  }
  return segments;
}

/**
 * A JSON number as the record wrote it: parsed into a JavaScript number, `12345678901234567890`
 * (a 64-bit id) would be written back as `12345678901234567000`, `1.0` as `1`, and `1e400` as
 * `null`. The filters and the join select and move values; they never do arithmetic.
 */
class JsonNumber {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof JsonNumber);

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/** Where the JSON number that starts at `i` ends (`-?\d+(\.\d+)?([eE][+-]?\d+)?`). */
function numberEnd(text: string, i: number): number {
  if (text.charCodeAt(i) === 0x2d) i++;
  while (isDigit(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) === 0x2e && isDigit(text.charCodeAt(i + 1))) {
    i += 2;
    while (isDigit(text.charCodeAt(i))) i++;
  }
  const e = text.charCodeAt(i);
  if (e === 0x65 || e === 0x45) {
    const sign = text.charCodeAt(i + 1) === 0x2b || text.charCodeAt(i + 1) === 0x2d ? 1 : 0;
    if (isDigit(text.charCodeAt(i + 1 + sign))) {
      i += 2 + sign;
      while (isDigit(text.charCodeAt(i))) i++;
    }
  }
  return i;
}

/**
 * Whether a JavaScript number writes the number text `text.slice(start, end)` back as it is, known
 * from its form alone (String() of each number of a large answer would take seconds): at most 15
 * digits (a double keeps 15), no exponent, no leading zero, no trailing zero after the point, not
 * `-0`, and not under 10^-6 (written with an exponent). Most numbers are (`1`, `0.25`, `-3.5`).
 */
function plainNumber(text: string, start: number, end: number): boolean {
  const negative = text.charCodeAt(start) === 0x2d;
  const intStart = negative ? start + 1 : start;
  let i = intStart;
  while (i < end && isDigit(text.charCodeAt(i))) i++;
  const intDigits = i - intStart;
  const zero = text.charCodeAt(intStart) === 0x30;
  if (intDigits === 0 || (zero && intDigits > 1)) return false;
  if (i === end) return intDigits <= 15 && !(negative && zero);
  if (text.charCodeAt(i) !== 0x2e) return false;
  const fracStart = ++i;
  while (i < end && isDigit(text.charCodeAt(i))) i++;
  return i === end && i > fracStart && intDigits + (end - fracStart) <= 15 && text.charCodeAt(end - 1) !== 0x30 && !(zero && text.startsWith('000000', fracStart));
}

/** Where the JSON string whose opening quote is at `i` ends (after its closing quote). */
function stringEnd(text: string, i: number): number {
  for (i++; ; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) i++;
    else if (c === 0x22 || Number.isNaN(c)) return i + 1;
  }
}

/**
 * Whether every number of `text` (JSON that JSON.parse has accepted) is one a JavaScript number
 * writes back as it is: then JSON.parse's value loses nothing, and the slower
 * {@link parseKeepingNumbers} is not needed. Strings are skipped (their digits are no numbers), and
 * nothing is allocated for a plain number: an answer of millions of numbers costs one pass.
 */
function numbersReadBack(text: string): boolean {
  const n = text.length;
  for (let i = 0; i < n; ) {
    const c = text.charCodeAt(i);
    if (c === 0x22) i = stringEnd(text, i);
    else if (c === 0x2d || isDigit(c)) {
      const end = numberEnd(text, i);
      if (!plainNumber(text, i, end)) {
        const t = text.slice(i, end);
        if (String(Number(t)) !== t) return false;
      }
      i = end;
    } else i++;
  }
  return true;
}

/**
 * Parses JSON text that JSON.parse has accepted (and whose nesting is bounded), keeping the text of
 * each number that a JavaScript number would write differently ({@link JsonNumber}); strings,
 * objects and the rest are as JSON.parse gives them.
 */
function parseKeepingNumbers(text: string): unknown {
  let i = 0;
  const seen = new Map<string, JsonNumber>();
  const space = (): void => {
    for (let c = text.charCodeAt(i); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = text.charCodeAt(++i));
  };
  const string = (): string => {
    const start = i;
    i = stringEnd(text, i);
    const raw = text.slice(start + 1, i - 1);
    return raw.includes('\\') ? (JSON.parse(text.slice(start, i)) as string) : raw;
  };
  const value = (): unknown => {
    space();
    const c = text.charCodeAt(i);
    if (c === 0x22) return string();
    if (c === 0x5b) {
      i++;
      const arr: unknown[] = [];
      space();
      if (text.charCodeAt(i) === 0x5d) {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value());
        space();
        if (text.charCodeAt(i++) === 0x5d) return arr;
      }
    }
    if (c === 0x7b) {
      i++;
      const obj: Record<string, unknown> = {};
      space();
      if (text.charCodeAt(i) === 0x7d) {
        i++;
        return obj;
      }
      for (;;) {
        space();
        const key = string();
        space();
        i++; // ':'
        // "__proto__" defined, not assigned: it is an attribute, as JSON.parse makes it.
        if (key === '__proto__') Object.defineProperty(obj, key, { value: value(), enumerable: true, writable: true, configurable: true });
        else obj[key] = value();
        space();
        if (text.charCodeAt(i++) === 0x7d) return obj;
      }
    }
    if (c === 0x74) return (i += 4), true;
    if (c === 0x66) return (i += 5), false;
    if (c === 0x6e) return (i += 4), null;
    const start = i;
    i = numberEnd(text, i);
    const t = text.slice(start, i);
    if (plainNumber(text, start, i)) return Number(t);
    // One object for each text met again (Python writes whole floats as 1.0 and 0.0): an answer of
    // millions of them holds a reference each, not an object and a string each.
    let kept = seen.get(t);
    if (kept === undefined) {
      kept = new JsonNumber(t);
      if (seen.size < 4096) seen.set(t, kept);
    }
    return kept;
  };
  return value();
}

/** Whether `v` holds a {@link JsonNumber} (then JSON.stringify would not write it as it was read). */
function holdsKeptNumber(v: unknown): boolean {
  if (v instanceof JsonNumber) return true;
  if (Array.isArray(v)) return v.some(holdsKeptNumber);
  return isObject(v) && Object.values(v).some(holdsKeptNumber);
}

/** JSON.stringify for values of {@link parseKeepingNumbers}: each number written as it was read. */
function stringifyJson(v: unknown): string {
  return holdsKeptNumber(v) ? stringifyKeeping(v) : JSON.stringify(v);
}

function stringifyKeeping(v: unknown): string {
  if (v instanceof JsonNumber) return v.text;
  if (Array.isArray(v)) return `[${v.map(stringifyKeeping).join(',')}]`;
  if (isObject(v)) return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${stringifyKeeping(x)}`).join(',')}}`;
  return JSON.stringify(v);
}

/** Applies a parsed path: one name or one index selects a value; several names an object of them; a wildcard, a slice or a list an array. */
export function applyJsonPath(value: unknown, segments: readonly Segment[], expr: string): unknown {
  let v = value;
  for (const seg of segments) {
    if (seg.kind === 'names') {
      if (!isObject(v)) throw new RecordProcessingError(`${expr}: selects ${seg.names.map((n) => `'${n}'`).join(',')} but the value is not a JSON object`);
      for (const n of seg.names) if (!Object.hasOwn(v, n)) throw new RecordProcessingError(`${expr}: the record has no attribute '${n}'`);
      const from = v;
      v = seg.names.length === 1 ? from[seg.names[0]!] : Object.fromEntries(seg.names.map((n) => [n, from[n]]));
    } else if (seg.kind === 'wildcard') {
      if (!isObject(v) && !Array.isArray(v)) throw new RecordProcessingError(`${expr}: * needs an object or an array`);
      v = Array.isArray(v) ? v : Object.values(v);
    } else {
      if (!Array.isArray(v)) throw new RecordProcessingError(`${expr}: indexes need an array (a CSV row, or a JSON array)`);
      const arr = v;
      const at = (n: number): unknown => {
        const k = n < 0 ? arr.length + n : n;
        if (k < 0 || k >= arr.length) throw new RecordProcessingError(`${expr}: index ${n} is outside the ${arr.length} element(s) of the record`);
        return arr[k];
      };
      v = seg.items.length === 1 && typeof seg.items[0] === 'number' ? at(seg.items[0]) : seg.items.flatMap((x) => (typeof x === 'number' ? [at(x)] : arr.slice(x.start ?? 0, x.end ?? arr.length)));
    }
  }
  return v;
}

/** Splits one CSV row (RFC 4180: quoted fields, "" inside quotes) into its fields. */
export function parseCsvRow(line: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let field = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) throw new RecordProcessingError('a quoted CSV field is not closed (SageMaker takes no newlines inside CSV fields)');
        field += line.slice(i, q);
        if (line[q + 1] === '"') {
          field += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      fields.push(field);
      if (i >= line.length) return fields;
      if (line[i] !== ',') throw new RecordProcessingError(`unexpected ${JSON.stringify(line[i])} after a quoted CSV field`);
      i++;
    } else {
      const comma = line.indexOf(',', i);
      fields.push(comma < 0 ? line.slice(i) : line.slice(i, comma));
      if (comma < 0) return fields;
      i = comma + 1;
    }
  }
}

function csvField(v: unknown): string {
  const s = typeof v === 'string' ? v : v === null || v === undefined ? '' : v instanceof JsonNumber ? v.text : typeof v === 'object' ? stringifyJson(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Data formats DataProcessing works on (JSON and CSV only, as the developer guide says). */
export type RecordFormat = 'csv' | 'json';

/** The format of a content type DataProcessing can work on, or undefined. */
export function recordFormat(contentType: string): RecordFormat | undefined {
  const t = contentType.split(';')[0]!.trim().toLowerCase();
  if (t === 'text/csv') return 'csv';
  if (t === 'application/json' || t === 'application/jsonlines' || t === 'application/x-jsonlines') return 'json';
  return undefined;
}

function parseRecord(data: Buffer, format: RecordFormat, what = 'the record'): unknown {
  // Decoded leniently, bytes that are not UTF-8 would be sent (or written) as U+FFFD: changed, not refused.
  if (!isUtf8(data)) throw new RecordProcessingError(`${what} is not valid UTF-8; DataProcessing reads ${format === 'csv' ? 'CSV' : 'JSON'} records as UTF-8 text`);
  let text = data.toString('utf8').replace(/\r?\n$/, '');
  if (format === 'csv') {
    try {
      return parseCsvRow(text);
    } catch (err) {
      throw new RecordProcessingError(`${what} is not a CSV row: ${(err as Error).message}`);
    }
  }
  // A byte order mark before the first record of a file a Windows tool wrote: JSON parsers may
  // ignore it (RFC 8259 §8.1), as the container's own JSON codecs do; JSON.parse refuses it.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // As a request body: JSON.parse takes seconds over millions of brackets, and the value is written back (JSON.stringify recurses).
  if (jsonNestsDeeperThan(text)) throw new RecordProcessingError(`${what} nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep, the limit for JSON records`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new RecordProcessingError(`${what} is not valid JSON`);
  }
  return numbersReadBack(text) ? parsed : parseKeepingNumbers(text);
}

function serialize(value: unknown, format: RecordFormat): string {
  return format === 'csv' ? (Array.isArray(value) ? value.map(csvField).join(',') : csvField(value)) : stringifyJson(value);
}

/** DataProcessing compiled for one job: the paths parsed once. */
export interface CompiledDataProcessing {
  /** True when answers are parsed (a join or an output filter); false when they are written as they came. */
  readonly touchesOutput: boolean;
  /** JoinSource=Input. */
  readonly join: boolean;
  /** The record as it is sent: the input filter applied (a trailing newline is kept). */
  filterInput(record: Buffer): Buffer;
  /** What is written for one record: its answer, joined with the record when JoinSource=Input, through the output filter. */
  finish(record: Buffer, answer: Buffer): Buffer;
}

/** How the job reads and writes records, which DataProcessing has to fit. */
export interface RecordFraming {
  contentType: string;
  /** `TransformOutput.Accept`; the answers are taken to be in `contentType` when absent. */
  accept?: string;
  splitType: string;
  assembleWith: string;
}

/**
 * Parses and checks the filters: `ERR_CLI_USAGE` for a path outside SageMaker's subset or over 63
 * characters, a content type DataProcessing cannot read, or CSV not split and assembled by line.
 * Returns undefined when nothing is to be done.
 */
export function compileDataProcessing(dp: DataProcessing, framing: RecordFraming): CompiledDataProcessing | undefined {
  const { contentType, splitType, assembleWith } = framing;
  const inputFormat = recordFormat(contentType);
  const outputFormat = recordFormat(framing.accept ?? contentType);
  const inputExpr = dp.inputFilter ?? '$';
  const outputExpr = dp.outputFilter ?? '$';
  const inputPath = parseJsonPath(inputExpr, '--input-filter');
  const outputPath = parseJsonPath(outputExpr, '--output-filter');
  const join = dp.joinSource === 'Input';
  if (inputPath.length === 0 && outputPath.length === 0 && !join) return undefined;
  if (!inputFormat || !outputFormat) {
    throw new ToolkitError('ERR_CLI_USAGE', `--input-filter, --join-source and --output-filter work on text/csv, application/json and application/jsonlines records (got --content-type ${contentType}); give --content-type and --accept as one of those`);
  }
  if (join && inputFormat !== outputFormat) {
    throw new ToolkitError('ERR_CLI_USAGE', '--join-source Input joins a record with its answer in one format: give --content-type and --accept both CSV (text/csv) or both JSON (application/json, application/jsonlines)');
  }
  const touchesOutput = join || outputPath.length > 0;
  if (inputFormat === 'csv' && splitType !== 'Line') {
    // A CSV record is one row: split otherwise, the filters would read the file's newlines as field text.
    throw new ToolkitError('ERR_CLI_USAGE', `--input-filter, --join-source and --output-filter on text/csv need --split-type Line (one row per record), as SageMaker requires (got ${splitType})`);
  }
  if (touchesOutput && outputFormat === 'csv' && assembleWith !== 'Line') {
    // Each joined or filtered row is written without a newline of its own.
    throw new ToolkitError('ERR_CLI_USAGE', `--join-source Input and --output-filter writing text/csv need --assemble-with Line (one row per line), as SageMaker requires (got ${assembleWith})`);
  }
  return {
    touchesOutput,
    join,
    filterInput(record) {
      if (inputPath.length === 0) return record;
      const newline = /\r?\n$/.exec(record.toString('latin1'))?.[0] ?? '';
      return Buffer.from(serialize(applyJsonPath(parseRecord(record, inputFormat), inputPath, inputExpr), inputFormat) + newline);
    },
    finish(record, answer) {
      let value: unknown;
      const out = parseRecord(answer, outputFormat, 'the answer');
      if (!join) value = out;
      else if (inputFormat === 'csv') value = [...(parseRecord(record, 'csv') as string[]), ...(out as string[])];
      else {
        const input = parseRecord(record, 'json');
        value = isObject(input) ? { ...input, SageMakerOutput: out } : { SageMakerInput: input, SageMakerOutput: out };
      }
      return Buffer.from(serialize(applyJsonPath(value, outputPath, outputExpr), outputFormat));
    },
  };
}

/**
 * Cuts a multi-record answer into one answer per record, at newlines; throws when the count does
 * not match. `needs` names what needs it, for the message.
 */
export function answersPerRecord(body: Buffer, count: number, needs = 'JoinSource=Input and OutputFilter need'): Buffer[] {
  if (count === 1) return [body];
  // Cut as bytes (a newline byte is never inside a UTF-8 character): decoded first, bytes that are
  // not UTF-8 became U+FFFD and the answer's check for UTF-8 let them through, changed.
  const lines: Buffer[] = [];
  let start = 0;
  for (let nl = body.indexOf(0x0a); nl !== -1; start = nl + 1, nl = body.indexOf(0x0a, start)) lines.push(body.subarray(start, nl > start && body[nl - 1] === 0x0d ? nl - 1 : nl));
  if (start < body.length) lines.push(body.subarray(start));
  if (lines.length !== count) throw new RecordProcessingError(`the answer to ${count} records has ${lines.length} line(s); ${needs} one line per record (or --strategy SingleRecord)`);
  return lines;
}

/**
 * `DataCaptureConfig.GenerateInferenceId`: one record's output with an inference id (a random UUID)
 * and the job's start time appended, as the developer guide's "Capture data from batch transform
 * job" shows: two more CSV fields, or `SageMakerInferenceId` and `SageMakerInferenceTime` in a JSON
 * object (a JSON answer that is not an object goes into `SageMakerOutput`, as a join puts it).
 */
export function withInferenceId(output: Buffer, format: RecordFormat, id: string, time: string): Buffer {
  const value = parseRecord(output, format);
  if (format === 'csv') return Buffer.from(serialize([...(value as string[]), id, time], 'csv'));
  const fields = { SageMakerInferenceId: id, SageMakerInferenceTime: time };
  if (isObject(value) && (Object.hasOwn(value, 'SageMakerInferenceId') || Object.hasOwn(value, 'SageMakerInferenceTime'))) return Buffer.from(serialize({ ...value, ...fields }, 'json'));
  // The answer's text is kept, on one line (a raw newline is whitespace between tokens in valid
  // JSON): parsed and written again, numbers past 2^53 were rounded, 1.0 became 1 and integer-like
  // keys moved first.
  const text = output.toString('utf8').replace(/\r\n|\r|\n/g, ' ').trim();
  const added = JSON.stringify(fields).slice(1, -1);
  if (!isObject(value)) return Buffer.from(`{"SageMakerOutput":${text},${added}}`);
  return Buffer.from(`${text.slice(0, -1).trimEnd()}${Object.keys(value).length > 0 ? ',' : ''}${added}}`);
}
