import { ToolkitError } from '../errors/catalogue.js';
import { MAX_RANK, allocate, sizeOf, type DType, type Tensor, type TensorMap } from '../core/tensor.js';
import type { DecodedRequest, EncodeOptions } from './codec.js';
import { toFloat16Bits } from '../core/float16.js';
import { tensorFlatToJson } from './json-write.js';
import { excerpt, quotedNames } from '../errors/excerpt.js';
import { setTensor } from './tensor-map.js';
import { roundToBfloat16 } from '../core/float-rounding.js';

/** Open Inference Protocol v2 datatype names and the smkit dtype each maps to. */
export const V2_DATATYPES: Readonly<Record<string, DType>> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  // bfloat16 values are exact in float32; no runtime here takes bfloat16 tensors, so they travel as float32.
  BF16: 'float32',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};

const DTYPE_TO_V2: Readonly<Record<DType, string>> = Object.fromEntries(
  Object.entries(V2_DATATYPES).map(([v2, dtype]) => [dtype, v2]),
) as Record<DType, string>;

/** Name given to an unnamed tensor in a v2 response. */
export const V2_UNNAMED_OUTPUT = 'output0';

/**
 * True when a parsed JSON body is a v2 inference request: an `inputs` array with an object that has
 * `name` or `datatype` (no TF Serving tensor element has either), so that a malformed entry beside
 * it is reported as a v2 error rather than as a TF Serving tensor.
 */
export function isV2Request(body: Record<string, unknown>): boolean {
  const inputs = body['inputs'];
  return Array.isArray(inputs) && inputs.some((i) => typeof i === 'object' && i !== null && !Array.isArray(i) && ('datatype' in i || 'name' in i));
}

/** Decodes a v2 request body (already parsed) into named tensors. */
export function decodeV2(body: Record<string, unknown>): DecodedRequest {
  const inputs = body['inputs'] as Record<string, unknown>[];
  const tensors: TensorMap = {};
  inputs.forEach((input, index) => {
    const where = `inputs[${index}]`;
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      fail(`${where} is ${excerpt(String(JSON.stringify(input)))}; each input is an object {"name", "shape", "datatype", "data"}`);
    }
    const name = input['name'];
    if (typeof name !== 'string' || name === '') fail(`${where}: "name" must be a non-empty string`);
    const label = `input '${excerpt(name as string)}'`;
    if (Object.hasOwn(tensors, name as string)) fail(`${label} appears twice; input names must be unique`);
    const datatype = input['datatype'];
    const dtype = typeof datatype === 'string' ? V2_DATATYPES[datatype.toUpperCase()] : undefined;
    if (dtype === undefined) fail(`${label}: datatype ${excerpt(String(JSON.stringify(datatype)))} is not one of ${Object.keys(V2_DATATYPES).join(', ')}`);
    const shape = input['shape'];
    if (!Array.isArray(shape) || shape.length > MAX_RANK || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`${label}: "shape" must be an array of at most ${MAX_RANK} non-negative integers`);
    }
    const params = input['parameters'] as Record<string, unknown> | undefined;
    if (params && typeof params === 'object' && 'binary_data_size' in params) {
      fail(`${label}: the binary data extension (binary_data_size) is not supported; send "data" as JSON`);
    }
    if (!('data' in input)) fail(`${label}: "data" is missing`);
    const raw = input['data'];
    const flat = Array.isArray(raw) ? (raw.some(Array.isArray) ? flatten(raw, label) : raw) : [raw];
    const expected = sizeOf(shape as number[]);
    if (flat.length !== expected) {
      fail(`${label}: shape [${(shape as number[]).join(', ')}] needs ${expected} values but "data" has ${flat.length}`);
    }
    const bf16 = (datatype as string).toUpperCase() === 'BF16';
    setTensor(tensors, name as string, { dtype: dtype!, shape: shape as number[], data: convert(flat, dtype!, label, bf16) } as Tensor);
  });

  const request: DecodedRequest = { tensors, form: 'v2' };
  const id = body['id'];
  if (typeof id === 'string' || typeof id === 'number') request.id = String(id);
  const outputs = body['outputs'];
  if (outputs !== undefined) {
    if (!Array.isArray(outputs) || !outputs.every((o) => typeof o === 'object' && o !== null && typeof (o as { name?: unknown }).name === 'string')) {
      fail('"outputs" must be an array of {"name": "..."} objects');
    }
    const names = (outputs as { name: string }[]).map((o) => o.name);
    // Each name is answered with its whole tensor, so a repeated name would multiply the answer's size.
    const seen = new Set<string>();
    const repeated = names.find((n) => seen.size === seen.add(n).size);
    if (repeated !== undefined) fail(`output '${excerpt(repeated)}' is requested twice in "outputs"; output names must be unique`);
    request.requestedOutputs = names;
  }
  const parameters = body['parameters'];
  if (parameters !== undefined) {
    if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters)) fail('"parameters" must be an object');
    request.parameters = parameters as Record<string, unknown>;
  }
  return request;
}

/** Writes a v2 response: `{"model_name", "id"?, "outputs": [{name, shape, datatype, data}]}` with flat data. */
export function encodeV2(outputs: TensorMap, options: EncodeOptions): string {
  let names = Object.keys(outputs);
  const requested = options.request?.requestedOutputs;
  if (requested !== undefined && requested.length > 0) {
    const missing = requested.filter((n) => !Object.hasOwn(outputs, n));
    if (missing.length > 0) {
      throw new ToolkitError(
        'ERR_BAD_REQUEST',
        `Requested output(s) ${quotedNames(missing)} do not exist; the model produces: ${quotedNames(names)}`,
      );
    }
    names = requested;
  }
  const parts = [`{"model_name":${JSON.stringify(options.modelName ?? 'model')}`];
  if (options.request?.id !== undefined) parts.push(`,"id":${JSON.stringify(options.request.id)}`);
  parts.push(',"outputs":[');
  names.forEach((name, i) => {
    const t = outputs[name]!;
    parts.push(
      i > 0 ? ',' : '',
      `{"name":${JSON.stringify(name === '' ? V2_UNNAMED_OUTPUT : name)},"shape":[${t.shape.join(',')}],"datatype":"${DTYPE_TO_V2[t.dtype]}","data":`,
      tensorFlatToJson(t),
      '}',
    );
  });
  parts.push(']}');
  return parts.join('');
}

function convert(flat: unknown[], dtype: DType, label: string, bf16 = false): Tensor['data'] {
  const n = flat.length;
  const out = allocate(dtype, n);
  const bad = (i: number, expected: string): never =>
    fail(`${label}: data[${i}] is ${shownValue(flat[i])} but datatype ${bf16 ? 'BF16' : DTYPE_TO_V2[dtype]} needs ${expected}`);
  switch (dtype) {
    case 'string': {
      const o = out as string[];
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        if (typeof v !== 'string') bad(i, 'strings');
        o[i] = v as string;
      }
      return o;
    }
    case 'bool': {
      const o = out as Uint8Array;
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        if (typeof v === 'boolean') o[i] = v ? 1 : 0;
        else if (v === 0 || v === 1) o[i] = v;
        else bad(i, 'true/false');
      }
      return o;
    }
    case 'int64':
    case 'uint64': {
      const o = out as BigInt64Array | BigUint64Array;
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        // Large int64 values may arrive as strings so that JSON parsers do not round them; a number
        // past ±2^53 has already been rounded (9007199254740993 parses as …992), so it is refused.
        if (typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v)) {
          bad(i, `integers within ±2^53 when sent as numbers (past that JSON numbers lose precision); send the value as a string, for example "9007199254740993"`);
        }
        if (typeof v === 'number' && Number.isInteger(v)) o[i] = BigInt(v);
        else if (typeof v === 'string' && /^-?\d+$/.test(v)) o[i] = BigInt(v);
        else bad(i, 'integers');
        if (o[i] !== BigInt(typeof v === 'string' ? v : (v as number))) bad(i, `values in the ${dtype} range`);
      }
      return o;
    }
    case 'float16': {
      const o = out as Uint16Array;
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        if (typeof v !== 'number') bad(i, 'numbers');
        o[i] = toFloat16Bits(v as number);
        if ((o[i]! & 0x7fff) === 0x7c00 && Number.isFinite(v)) bad(i, 'values in the FP16 range (±65504)');
      }
      return o;
    }
    case 'float32':
    case 'float64': {
      const o = out as Float32Array | Float64Array;
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        if (typeof v !== 'number') bad(i, 'numbers');
        o[i] = bf16 ? roundToBfloat16(v as number) : (v as number);
        if (!Number.isFinite(o[i]!) && Number.isFinite(v)) bad(i, `values in the ${bf16 ? 'BF16' : 'FP32'} range`);
      }
      return o;
    }
    default: {
      const o = out as Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        if (typeof v !== 'number' || !Number.isInteger(v)) bad(i, 'integers');
        o[i] = v as number;
        if (o[i] !== v) bad(i, `values in the ${dtype} range`);
      }
      return o;
    }
  }
}

/** Flattens nested `data` without recursion, refusing nesting deeper than a tensor's rank can be. */
function flatten(raw: unknown[], label: string): unknown[] {
  const out: unknown[] = [];
  const stack: { arr: unknown[]; i: number }[] = [{ arr: raw, i: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.i === top.arr.length) {
      stack.pop();
      continue;
    }
    const v = top.arr[top.i++];
    if (Array.isArray(v)) {
      if (stack.length === MAX_RANK) fail(`${label}: "data" is nested more than ${MAX_RANK} levels deep; send it flat (row-major) or nested as the shape`);
      stack.push({ arr: v, i: 0 });
    } else out.push(v);
  }
  return out;
}

/** An element as an error message shows it: numbers as JS writes them (NaN, not JSON's null), anything else as short JSON. */
function shownValue(v: unknown): string {
  return typeof v === 'number' ? String(v) : excerpt(String(JSON.stringify(v)));
}

function fail(message: string): never {
  throw new ToolkitError('ERR_JSON_PARSE', `v2 request: ${message}`);
}
