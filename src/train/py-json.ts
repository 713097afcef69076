/**
 * A faithful model of the Python values the SageMaker training toolkit (STT) works with, so the
 * `SM_*` variables come out byte-for-byte as STT writes them (https://github.com/aws/sagemaker-training-toolkit).
 *
 * JavaScript's own JSON loses what Python keeps: `1.0` stays a float (printed `1.0`, not `1`),
 * integers are unbounded, object keys keep insertion order (JS puts `"1"` before `"a"`), and
 * Python's `json.dumps` escapes non-ASCII while `str()` prints `True`, `None` and `['a', 1]`.
 */

/** A Python `int` (unbounded). */
export class PyInt {
  constructor(readonly value: bigint) {}
}

/** A Python `float`. */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** A Python `dict` with string keys, in insertion order. */
export class PyDict {
  readonly entries: Map<string, PyValue>;
  constructor(entries: Iterable<readonly [string, PyValue]> = []) {
    this.entries = new Map(entries);
  }
  get(key: string): PyValue | undefined {
    return this.entries.get(key);
  }
  has(key: string): boolean {
    return this.entries.has(key);
  }
  keys(): string[] {
    return [...this.entries.keys()];
  }
}

/** Any value `json.loads` can produce (`None` is `null`). */
export type PyValue = null | boolean | string | PyInt | PyFloat | PyValue[] | PyDict;

/** Raised by {@link pyJsonLoads} for text Python's `json.loads` would reject. */
export class PyJsonError extends Error {
  constructor(message: string, readonly position: number) {
    super(`${message} at position ${position}`);
    this.name = 'PyJsonError';
  }
}

const WS = new Set([' ', '\t', '\n', '\r']);
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?/y;
const SIMPLE_ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/**
 * Parses JSON text as Python's `json.loads` does (strict strings, `NaN`/`Infinity` accepted,
 * duplicate keys: last value wins at the first key's position). Throws {@link PyJsonError}.
 */
export function pyJsonLoads(text: string): PyValue {
  let i = 0;
  const skip = () => {
    while (i < text.length && WS.has(text[i]!)) i++;
  };
  const value = (): PyValue => {
    skip();
    const c = text[i];
    if (c === undefined) throw new PyJsonError('Expecting value', i);
    if (c === '"') return string();
    if (c === '{') return object();
    if (c === '[') return array();
    for (const [word, v] of [
      ['null', null],
      ['true', true],
      ['false', false],
      ['NaN', new PyFloat(NaN)],
      ['Infinity', new PyFloat(Infinity)],
      ['-Infinity', new PyFloat(-Infinity)],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) throw new PyJsonError('Expecting value', i);
    i += m[0].length;
    return m[1] !== undefined || m[2] !== undefined ? new PyFloat(Number(m[0])) : new PyInt(BigInt(m[0]));
  };
  const string = (): string => {
    const start = i;
    i++;
    let out = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) throw new PyJsonError('Unterminated string starting', start);
      if (c === '"') {
        i++;
        return out;
      }
      if (c.charCodeAt(0) < 0x20) throw new PyJsonError('Invalid control character', i);
      if (c !== '\\') {
        out += c;
        i++;
        continue;
      }
      const e = text[i + 1];
      if (e !== undefined && e in SIMPLE_ESCAPES) {
        out += SIMPLE_ESCAPES[e];
        i += 2;
      } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
        out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
        i += 6;
      } else {
        throw new PyJsonError('Invalid \\escape', i);
      }
    }
  };
  const array = (): PyValue[] => {
    i++;
    const out: PyValue[] = [];
    skip();
    if (text[i] === ']') {
      i++;
      return out;
    }
    for (;;) {
      out.push(value());
      skip();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === ']') {
        i++;
        return out;
      }
      throw new PyJsonError("Expecting ',' delimiter", i);
    }
  };
  const object = (): PyDict => {
    i++;
    const out = new PyDict();
    skip();
    if (text[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      skip();
      if (text[i] !== '"') throw new PyJsonError('Expecting property name enclosed in double quotes', i);
      const key = string();
      skip();
      if (text[i] !== ':') throw new PyJsonError("Expecting ':' delimiter", i);
      i++;
      out.entries.set(key, value());
      skip();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        return out;
      }
      throw new PyJsonError("Expecting ',' delimiter", i);
    }
  };
  const result = value();
  skip();
  if (i !== text.length) throw new PyJsonError('Extra data', i);
  return result;
}

/** Python's `json.loads(v)` where it parses, else `v` itself (STT `read_hyperparameters`). */
export function parseHyperparameterValue(v: PyValue): PyValue {
  if (typeof v !== 'string') return v;
  try {
    return pyJsonLoads(v);
  } catch {
    return v;
  }
}

/** Compares strings by code point, as Python sorts `str`. */
export function comparePyStrings(a: string, b: string): number {
  const ai = a[Symbol.iterator]();
  const bi = b[Symbol.iterator]();
  for (;;) {
    const x = ai.next();
    const y = bi.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

/** Python `sorted()` of string keys. */
export function sortedKeys(keys: Iterable<string>): string[] {
  return [...keys].sort(comparePyStrings);
}

/** Python `float.__repr__` for finite values (`0.1`, `3.0`, `1e-05`, `1e+16`). */
function finiteFloatRepr(x: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  // toExponential() without digits gives the shortest round-trip digits, as Python's repr does.
  const [mantissa, expText] = Math.abs(x).toExponential().split('e') as [string, string];
  const digits = mantissa.replace('.', '');
  const e = Number(expText);
  if (e < -4 || e >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  if (e < 0) return `${sign}0.${'0'.repeat(-e - 1)}${digits}`;
  const whole = digits.length > e + 1 ? digits.slice(0, e + 1) : digits.padEnd(e + 1, '0');
  return `${sign}${whole}.${digits.slice(e + 1) || '0'}`;
}

function floatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  return finiteFloatRepr(x);
}

const JSON_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

/** Python `json.dumps` string encoding with `ensure_ascii=True`. */
function jsonString(s: string): string {
  let out = '"';
  for (let k = 0; k < s.length; k++) {
    const c = s[k]!;
    const code = s.charCodeAt(k);
    if (c in JSON_ESCAPES) out += JSON_ESCAPES[c];
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += c;
  }
  return out + '"';
}

/** How {@link pyJsonDumps} lays out containers: Python's `sort_keys` and `separators`. */
export interface PyJsonDumpsOptions {
  /** @defaultValue true */
  readonly sortKeys?: boolean;
  /** `(item, key)` separators. @defaultValue `[',', ':']` */
  readonly separators?: readonly [string, string];
}

/** Python's `json.dumps(v)` with no options: insertion order, `', '` and `': '`, as the SageMaker Python SDK encodes hyperparameters. */
export const PY_JSON_DUMPS_DEFAULTS: PyJsonDumpsOptions = { sortKeys: false, separators: [', ', ': '] };

/**
 * Python `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`, the encoding STT
 * uses for every non-string `SM_*` value; `options` give other `sort_keys` and `separators`.
 */
export function pyJsonDumps(v: PyValue, options: PyJsonDumpsOptions = {}): string {
  const { sortKeys = true, separators: [item, key] = [',', ':'] } = options;
  if (v === null) return 'null';
  if (v === true) return 'true';
  if (v === false) return 'false';
  if (typeof v === 'string') return jsonString(v);
  if (v instanceof PyInt) return v.value.toString();
  if (v instanceof PyFloat) {
    if (Number.isNaN(v.value)) return 'NaN';
    if (v.value === Infinity) return 'Infinity';
    if (v.value === -Infinity) return '-Infinity';
    return finiteFloatRepr(v.value);
  }
  if (Array.isArray(v)) return `[${v.map((x) => pyJsonDumps(x, options)).join(item)}]`;
  return `{${(sortKeys ? sortedKeys(v.entries.keys()) : [...v.entries.keys()])
    .map((k) => `${jsonString(k)}${key}${pyJsonDumps(v.entries.get(k)!, options)}`)
    .join(item)}}`;
}

const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

/** Python `repr(str)`: picks the quote, escapes backslash, quote and non-printable characters. */
function strRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch !== ' ' && NON_PRINTABLE.test(ch)) {
      const hex = cp.toString(16);
      out += cp < 0x100 ? `\\x${hex.padStart(2, '0')}` : cp < 0x10000 ? `\\u${hex.padStart(4, '0')}` : `\\U${hex.padStart(8, '0')}`;
    } else out += ch;
  }
  return out + quote;
}

/** Python `repr(v)`. */
export function pyRepr(v: PyValue): string {
  if (typeof v === 'string') return strRepr(v);
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (v instanceof PyDict) return `{${[...v.entries].map(([k, x]) => `${strRepr(k)}: ${pyRepr(x)}`).join(', ')}}`;
  return pyStr(v);
}

/** Python `str(v)`: strings verbatim, `None`, `True`, floats as `1.0`, containers via repr. */
export function pyStr(v: PyValue): string {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'string') return v;
  if (v instanceof PyInt) return v.value.toString();
  if (v instanceof PyFloat) return floatRepr(v.value);
  return pyRepr(v);
}

/** Python truthiness (`None`, `False`, `0`, `0.0`, `""`, `[]`, `{}` are false). */
export function pyTruthy(v: PyValue | undefined): boolean {
  if (v === undefined || v === null || v === false) return false;
  if (v === true) return true;
  if (typeof v === 'string') return v.length > 0;
  if (v instanceof PyInt) return v.value !== 0n;
  if (v instanceof PyFloat) return v.value !== 0;
  if (Array.isArray(v)) return v.length > 0;
  return v.entries.size > 0;
}

/** Converts a plain JavaScript value to a {@link PyValue} (integers become `int`). */
export function toPy(v: unknown): PyValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? new PyInt(BigInt(v)) : new PyFloat(v);
  if (typeof v === 'bigint') return new PyInt(v);
  if (v instanceof PyInt || v instanceof PyFloat || v instanceof PyDict) return v;
  if (Array.isArray(v)) return v.map(toPy);
  if (typeof v === 'object') return new PyDict(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, toPy(x)] as const));
  throw new TypeError(`cannot represent ${typeof v} as a Python value`);
}
