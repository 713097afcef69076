import { isAscii } from 'node:buffer';
import { ToolkitError, type ErrorCode } from '../errors/catalogue.js';
import { MAX_RANK, UNNAMED, type Tensor, type TensorMap } from '../core/tensor.js';
import { excerpt, quotedNames } from '../errors/excerpt.js';
import { setTensor } from './tensor-map.js';

/** Options for {@link nestedToTensor}. */
export interface NestedOptions {
  /** Names the value in error messages, for example `instances` or `inputs.x`. */
  label: string;
  /** Accept TensorFlow Serving `{"b64": "..."}` leaves, decoded to byte strings. */
  allowB64?: boolean;
  /** Error code for malformed values. */
  code?: ErrorCode;
  /** Most named inputs a record may hold (see `DecodeHints.maxInputs`); more are refused before any column is built. */
  maxInputs?: number;
  /**
   * Collects the strings of `{"b64"}` leaves whose bytes are not UTF-8 (one character per byte,
   * `binary`) and the other non-ASCII strings (`text`), so an answer can write the first back as
   * the bytes they came as (see `DecodedRequest.binaryStrings`).
   */
  strings?: { readonly binary: Set<string>; readonly text: Set<string> };
}

/**
 * Names beyond the model's inputs that are still decoded as usual, so that a request with a few
 * wrong names gets the precise error (a malformed entry, the names the model takes) from decoding
 * and the model; only more than this are refused before decoding, which is what bounds the cost.
 */
export const EXTRA_INPUTS_DECODED = 64;

/**
 * Refuses a request that names far more inputs than the model takes (`DecodeHints.maxInputs` plus
 * {@link EXTRA_INPUTS_DECODED}), before a tensor is built for each name.
 */
export function refuseExtraInputs(count: number, maxInputs: number | undefined, what: string): void {
  if (maxInputs === undefined || count <= maxInputs + EXTRA_INPUTS_DECODED) return;
  throw new ToolkitError('ERR_INPUT_MISMATCH', `${what} names ${count} inputs, but the model takes ${maxInputs}; send only the model's inputs`);
}

type LeafKind = 'number' | 'bool' | 'string' | 'b64';

/**
 * Converts a JSON value (a scalar or a rectangular nested array) to a tensor: numbers give
 * `float64`, booleans `bool`, strings and `{"b64": ...}` leaves `string` (see {@link bytesToString}).
 * Ragged arrays, mixed element types, `null` and objects are a 400 naming the position.
 */
export function nestedToTensor(value: unknown, options: NestedOptions): Tensor {
  const shape: number[] = [];
  let probe = value;
  while (Array.isArray(probe)) {
    if (shape.length === MAX_RANK) {
      throw new ToolkitError(options.code ?? 'ERR_JSON_PARSE', `${options.label}: arrays are nested more than ${MAX_RANK} levels deep; a tensor has at most ${MAX_RANK} dimensions`);
    }
    shape.push(probe.length);
    if (probe.length === 0) break;
    probe = probe[0];
  }
  const depth = shape.length;
  const empty = depth > 0 && shape[depth - 1] === 0;
  const kind: LeafKind = empty ? 'number' : leafKind(probe, options, []);
  let size = 1;
  for (const d of shape) size *= d;
  // The shape comes from the first element at each depth alone: `[[[0 × 1000], 0 × 999], 0 × 999]`
  // (6 kB) claims 10^9 elements. A large claim is allocated only once the arrays are seen to hold it;
  // else the walk below writes into nothing and stops at the first misfit with its message.
  const alloc = size <= PRECHECK_ELEMENTS || isRectangular(value, shape) ? size : 0;

  const path: number[] = [];
  const fail = (message: string): never => {
    throw new ToolkitError(options.code ?? 'ERR_JSON_PARSE', `${options.label}${formatPath(path)}: ${message}`, {
      details: { path: `${options.label}${formatPath(path)}` },
    });
  };

  switch (kind) {
    case 'number': {
      const out = new Float64Array(alloc);
      let k = 0;
      const walk = (v: unknown, d: number): void => {
        if (d === depth) {
          if (typeof v !== 'number') fail(mixedMessage(v, 'number'));
          out[k++] = v as number;
          return;
        }
        const arr = checkArray(v, d);
        path.push(0);
        if (d === depth - 1) {
          for (let i = 0; i < arr.length; i++) {
            const x = arr[i];
            if (typeof x !== 'number') {
              path[d] = i;
              fail(mixedMessage(x, 'number'));
            }
            out[k++] = x as number;
          }
        } else {
          for (let i = 0; i < arr.length; i++) {
            path[d] = i;
            walk(arr[i], d + 1);
          }
        }
        path.pop();
      };
      walk(value, 0);
      return { dtype: 'float64', shape, data: out };
    }
    case 'bool': {
      const out = new Uint8Array(alloc);
      let k = 0;
      walkLeaves(value, 0, (v) => {
        if (typeof v !== 'boolean') fail(mixedMessage(v, 'boolean'));
        out[k++] = v ? 1 : 0;
      });
      return { dtype: 'bool', shape, data: out };
    }
    case 'string': {
      const out = new Array<string>(alloc);
      let k = 0;
      walkLeaves(value, 0, (v) => {
        if (typeof v !== 'string') fail(mixedMessage(v, 'string'));
        if (options.strings && !ASCII_ONLY.test(v as string)) options.strings.text.add(v as string);
        out[k++] = v as string;
      });
      return { dtype: 'string', shape, data: out };
    }
    case 'b64': {
      // TF Serving decodes {"b64"} values to byte strings (DT_STRING elements), whatever their lengths.
      const out = new Array<string>(alloc);
      let k = 0;
      walkLeaves(value, 0, (v) => {
        if (leafKind(v, options, path) !== 'b64') fail(mixedMessage(v, '{"b64": ...}'));
        const bytes = decodeB64(v, options, path);
        const s = bytesToString(bytes);
        // UTF-8 gives fewer characters than bytes to non-ASCII bytes; only the one-character-per-byte fallback gives as many.
        if (options.strings && !isAscii(bytes)) (s.length === bytes.length ? options.strings.binary : options.strings.text).add(s);
        out[k++] = s;
      });
      return { dtype: 'string', shape, data: out };
    }
  }

  function checkArray(v: unknown, d: number): unknown[] {
    if (!Array.isArray(v)) fail(`expected an array of ${shape[d]} elements (like the first one), found ${describe(v)}; nested arrays must be rectangular`);
    const arr = v as unknown[];
    if (arr.length !== shape[d]) fail(`ragged array: found ${arr.length} elements but the first one at this depth has ${shape[d]}; nested arrays must be rectangular`);
    return arr;
  }

  function walkLeaves(v: unknown, d: number, leaf: (v: unknown) => void): void {
    if (d === depth) {
      leaf(v);
      return;
    }
    const arr = checkArray(v, d);
    path.push(0);
    for (let i = 0; i < arr.length; i++) {
      path[d] = i;
      walkLeaves(arr[i], d + 1, leaf);
    }
    path.pop();
  }
}

/**
 * Tensors up to this many elements (8 MB of float64) are allocated at once, the walk refusing a
 * misfit after; a larger claim is checked first (see {@link isRectangular}), which costs a visit of
 * each array but not of its leaves.
 */
const PRECHECK_ELEMENTS = 1 << 20;

/**
 * True when `value` is nested arrays of exactly `shape` down to its last axis (leaves unchecked),
 * so that it holds the elements the shape claims. It visits each array once, not the leaves;
 * recursion is bounded by the rank (at most `MAX_RANK`).
 */
function isRectangular(value: unknown, shape: readonly number[], d = 0): boolean {
  if (!Array.isArray(value) || value.length !== shape[d]) return false;
  if (d + 1 < shape.length) for (const child of value) if (!isRectangular(child, shape, d + 1)) return false;
  return true;
}

/**
 * Stacks records (TensorFlow Serving instances, JSON lines) into a batch. When every record is an
 * object, each key becomes a named tensor of shape `[N, ...]`; otherwise the records form one
 * unnamed tensor of shape `[N, ...]`.
 */
export function stackRecords(records: readonly unknown[], options: NestedOptions): TensorMap {
  const isObject = (r: unknown): r is Record<string, unknown> =>
    typeof r === 'object' && r !== null && !Array.isArray(r) && !(options.allowB64 && isB64Leaf(r));
  if (records.length === 0 || !isObject(records[0])) return { [UNNAMED]: nestedToTensor(records, options) };

  const names = Object.keys(records[0]);
  refuseExtraInputs(names.length, options.maxInputs, `${options.label}[0]`);
  if (names.length === 0) throw new ToolkitError(options.code ?? 'ERR_JSON_PARSE', `${options.label}[0]: an empty object names no inputs`);
  const columns = Object.create(null) as Record<string, unknown[]>;
  for (const name of names) columns[name] = new Array<unknown>(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (!isObject(r)) {
      throw new ToolkitError(options.code ?? 'ERR_JSON_PARSE', `${options.label}[${i}]: expected an object of named inputs like the first record, found ${describe(r)}`);
    }
    const keys = Object.keys(r);
    if (keys.length !== names.length || !keys.every((k) => k in columns)) {
      throw new ToolkitError(
        options.code ?? 'ERR_JSON_PARSE',
        `${options.label}[${i}]: has inputs ${quotedNames(keys)} but the first record has ${quotedNames(names)}; every record must name the same inputs`,
      );
    }
    for (const k of keys) columns[k]![i] = r[k];
  }
  const out: TensorMap = {};
  for (const name of names) setTensor(out, name, nestedToTensor(columns[name], { ...options, label: `${options.label}.${excerpt(name)}` }));
  return out;
}

/** True for a TensorFlow Serving binary leaf `{"b64": "..."}`. */
export function isB64Leaf(v: unknown): v is { b64: string } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && keys[0] === 'b64' && typeof (v as { b64: unknown }).b64 === 'string';
}

function leafKind(v: unknown, options: NestedOptions, path: number[]): LeafKind {
  switch (typeof v) {
    case 'number':
      return 'number';
    case 'boolean':
      return 'bool';
    case 'string':
      return 'string';
  }
  if (options.allowB64 && isB64Leaf(v)) return 'b64';
  throw new ToolkitError(
    options.code ?? 'ERR_JSON_PARSE',
    `${options.label}${formatPath(path)}: ${describe(v)} is not a tensor element; use numbers, booleans or strings${options.allowB64 ? ' (or {"b64": "..."})' : ''}`,
  );
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const ASCII_ONLY = /^[\x00-\x7f]*$/;

/**
 * smkit strings are text, fed to runtimes as UTF-8. Bytes that are valid UTF-8 become that text (so
 * they reach the model byte for byte); other bytes become a binary string, one character per byte
 * (code points 0-255), for user code and custom steps to read with `Buffer.from(s, 'latin1')`.
 */
export function bytesToString(bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  }
}

function decodeB64(v: unknown, options: NestedOptions, path: number[]): Buffer {
  const s = (v as { b64: string }).b64;
  const text = s.replace(/\s+/g, '');
  // Base64 of n bytes never leaves one character over a multiple of four: Node would drop that character's bits silently.
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text) || text.replace(/=+$/, '').length % 4 === 1) {
    throw new ToolkitError(options.code ?? 'ERR_JSON_PARSE', `${options.label}${formatPath(path)}: "b64" is not valid base64`);
  }
  return Buffer.from(s, 'base64');
}

function mixedMessage(v: unknown, expected: string): string {
  return `found ${describe(v)} where a ${expected} was expected (the first element decides the type; elements must not be mixed and arrays must be rectangular)`;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

function formatPath(path: readonly number[]): string {
  return path.map((i) => `[${i}]`).join('');
}
