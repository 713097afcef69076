import { isAscii } from 'node:buffer';
import { ToolkitError } from '../errors/catalogue.js';
import { MAX_RANK, allocate, isBigIntDType, sizeOf, type DType, type Tensor, type TensorMap } from '../core/tensor.js';
import type { DecodeLimits, DecodedRequest, EncodeOptions, SoleInput, TypedBody, V2BinaryOutputs } from './codec.js';
import { checkDecodedSize } from './decode-limits.js';
import { toFloat16Bits } from '../core/float16.js';
import { tensorFlatToJson } from './json-write.js';
import { withNonFiniteTokens } from './json-tfs.js';
import { excerpt, jsonExcerpt } from '../errors/excerpt.js';
import { setTensor } from './tensor-map.js';
import { roundToBfloat16 } from '../core/float-rounding.js';
import { bytesToString } from './json-tensor.js';
import { statedDType } from '../core/dtype-convert.js';
import { V2_UNNAMED_OUTPUT, requestedOutputKeys } from './requested-outputs.js';
import { HIGH_HALF, LOW_HALF } from './word-order.js';

/** Triton's binary tensor data form on SageMaker (the `json-header-size` parameter follows). */
export const TRITON_BINARY_TYPE = 'application/vnd.sagemaker-triton.binary+json';

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

/**
 * An INT64/UINT64 value sent as a JSON number past ±2^53, which `JSON.parse` has rounded: the JSON
 * codecs read such a body again with its integer literals exact ({@link exactV2Body}); anyone else
 * answers it as the 400 it is.
 */
export class InexactInteger extends ToolkitError {}

/**
 * A v2 request parsed with its integer literals past ±2^53 as bigints (see `parseJsonWithNonFinite`),
 * with those outside the inputs' `data` (a shape, an id, parameters) back to the doubles `JSON.parse`
 * makes of them, so that only tensor data holds bigints.
 */
export function exactV2Body(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return toDoubles(value);
  const body = value as Record<string, unknown>;
  for (const key of Object.keys(body)) {
    const inputs = body[key];
    // The id stays exact too: it is echoed as the digits sent.
    if (key === 'id' && typeof inputs === 'bigint') continue;
    if (key !== 'inputs' || !Array.isArray(inputs)) {
      body[key] = toDoubles(inputs);
      continue;
    }
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i] as unknown;
      if (typeof input !== 'object' || input === null || Array.isArray(input)) inputs[i] = toDoubles(input);
      else for (const k of Object.keys(input)) if (k !== 'data') (input as Record<string, unknown>)[k] = toDoubles((input as Record<string, unknown>)[k]);
    }
  }
  return body;
}

/** `value` with every bigint in it a double, walked with a stack (the body may nest deeply). */
function toDoubles(value: unknown): unknown {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop() as Record<string, unknown> | unknown[];
    if (typeof node !== 'object' || node === null) continue;
    const keys = Array.isArray(node) ? node.keys() : Object.keys(node);
    for (const k of keys) {
      const v = (node as Record<string | number, unknown>)[k];
      if (typeof v === 'bigint') (node as Record<string | number, unknown>)[k] = Number(v);
      else if (typeof v === 'object' && v !== null) stack.push(v);
    }
  }
  return typeof value === 'bigint' ? Number(value) : value;
}

export { V2_UNNAMED_OUTPUT } from './requested-outputs.js';

/**
 * True when a parsed JSON body is a v2 inference request: an `inputs` array with an object that has
 * `name` or `datatype` (no TF Serving tensor element has either), so that a malformed entry beside
 * it is reported as a v2 error rather than as a TF Serving tensor.
 */
export function isV2Request(body: Record<string, unknown>): boolean {
  const inputs = body['inputs'];
  return Array.isArray(inputs) && inputs.some((i) => typeof i === 'object' && i !== null && !Array.isArray(i) && ('datatype' in i || 'name' in i));
}

/**
 * Decodes a v2 request body (already parsed) into named tensors.
 * @param binary The bytes after the JSON header of a binary tensor data request
 *   (`application/vnd.sagemaker-triton.binary+json`, see `triton-binary.ts`): inputs with
 *   `"parameters": {"binary_data_size": K}` take their next K bytes, in input order, and the request's
 *   binary output choices are read. Absent for `application/json`, where `binary_data_size` is a 400.
 */
export function decodeV2(body: Record<string, unknown>, binary?: Buffer, limits?: DecodeLimits): DecodedRequest {
  const id = body['id'];
  if (typeof id === 'number') checkNumericId(id);
  const inputs = body['inputs'] as Record<string, unknown>[];
  const tensors: TensorMap = {};
  let offset = 0;
  let decoded = 0;
  // Strings that came as bytes that are not UTF-8, and the non-ASCII ones that came as text: one in
  // both is left to UTF-8, since an output equal to it could be either.
  const binaryStrings = new Set<string>();
  const textStrings = new Set<string>();
  const jsonStrings: string[][] = [];
  inputs.forEach((input, index) => {
    const where = `inputs[${index}]`;
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      fail(`${where} is ${jsonExcerpt(input)}; each input is an object {"name", "shape", "datatype", "data"}`);
    }
    const name = input['name'];
    if (typeof name !== 'string' || name === '') fail(`${where}: "name" must be a non-empty string`);
    const label = `input '${excerpt(name as string)}'`;
    if (Object.hasOwn(tensors, name as string)) fail(`${label} appears twice; input names must be unique`);
    const datatype = input['datatype'];
    // Spelt as the protocol spells it: Triton, KServe and MLServer refuse "fp32", so a client that
    // sent it here would work until it met one of them.
    const dtype = typeof datatype === 'string' && Object.hasOwn(V2_DATATYPES, datatype) ? V2_DATATYPES[datatype] : undefined;
    if (dtype === undefined) {
      const upper = typeof datatype === 'string' ? datatype.toUpperCase() : '';
      const hint = upper !== datatype && Object.hasOwn(V2_DATATYPES, upper) ? ` (datatypes are upper case, as Triton and KServe read them: "${upper}")` : '';
      fail(`${label}: datatype ${jsonExcerpt(datatype)} is not one of ${Object.keys(V2_DATATYPES).join(', ')}${hint}`);
    }
    const shape = input['shape'];
    if (!Array.isArray(shape) || shape.length > MAX_RANK || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`${label}: "shape" must be an array of at most ${MAX_RANK} non-negative integers`);
    }
    // null is no parameters, as for "id": KServe's and MLServer's request schemas allow it.
    const params = (input['parameters'] ?? undefined) as Record<string, unknown> | undefined;
    if (params !== undefined && (typeof params !== 'object' || Array.isArray(params))) {
      fail(`${label}: "parameters" must be an object, found ${jsonExcerpt(params)}`);
    }
    if (params !== undefined && 'binary_data_size' in params) {
      if (binary === undefined) {
        fail(
          `${label}: "binary_data_size" needs the binary tensor data form: send the body as Content-Type ` +
            `${TRITON_BINARY_TYPE};json-header-size=N (N: the JSON's length in bytes), or send "data" as JSON`,
        );
      }
      // Triton's rule: each input sets exactly one of "data" and "binary_data_size".
      if ('data' in input) fail(`${label}: sets both "data" and "binary_data_size" in "parameters"; send its values one way only`);
      const t = readBinaryInput(binary, offset, params['binary_data_size'], dtype!, shape as number[], datatype as string, label, (cost) => {
        decoded += cost;
        checkDecodedSize(decoded, limits, `the binary data of ${label}`);
      }, binaryStrings, textStrings);
      offset += t.bytes;
      setTensor(tensors, name as string, statedDType(t.tensor));
      return;
    }
    if (!('data' in input)) fail(`${label}: "data" is missing${binary === undefined ? '' : ' (and no "binary_data_size" in "parameters")'}`);
    const raw = input['data'];
    const flat = Array.isArray(raw) ? (raw.some(Array.isArray) ? flatten(raw, label) : raw) : [raw];
    const expected = sizeOf(shape as number[]);
    if (flat.length !== expected) {
      fail(`${label}: shape [${(shape as number[]).join(', ')}] needs ${expected} values but "data" has ${flat.length}`);
    }
    const bf16 = datatype === 'BF16';
    const data = convert(flat, dtype!, label, bf16);
    if (dtype === 'string') jsonStrings.push(data as string[]);
    setTensor(tensors, name as string, statedDType({ dtype: dtype!, shape: shape as number[], data } as Tensor));
  });

  if (binary !== undefined && offset !== binary.length) {
    fail(
      `${binary.length - offset} bytes follow the JSON header beyond the inputs' binary_data_size (${offset} bytes in all); ` +
        'each binary input must give its exact size and the body must end with the last one',
    );
  }
  const request: DecodedRequest = { tensors, form: 'v2' };
  if (binaryStrings.size > 0) {
    for (const strings of jsonStrings) for (const text of strings) binaryStrings.delete(text);
    for (const text of textStrings) binaryStrings.delete(text);
    if (binaryStrings.size > 0) request.binaryStrings = binaryStrings;
  }
  // The protocol's id is a string, which the answer must echo; a number is echoed as one, and null
  // (which MLServer's request schema allows) as no id. A number that is not echoed as sent is refused
  // before the inputs are decoded ({@link checkNumericId}).
  if (typeof id === 'string' || typeof id === 'number' || typeof id === 'bigint') request.id = String(id);
  else if (id !== undefined && id !== null) fail(`"id" must be a string (it is echoed in the answer), found ${jsonExcerpt(id)}`);
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
  const parameters = body['parameters'] ?? undefined;
  if (parameters !== undefined) {
    if (typeof parameters !== 'object' || Array.isArray(parameters)) fail(`"parameters" must be an object, found ${jsonExcerpt(parameters)}`);
    request.parameters = parameters as Record<string, unknown>;
  }
  // Triton answers binary outputs to any v2 request that asks for them, application/json ones too.
  const choices = binaryOutputChoices(request.parameters, outputs as Record<string, unknown>[] | undefined);
  if (binary !== undefined || choices.all || [...choices.byName.values()].includes(true)) request.binaryOutputs = choices;
  const classifications = classificationCounts(outputs as Record<string, unknown>[] | undefined);
  if (classifications.size > 0) request.classifications = classifications;
  return request;
}

/**
 * Refuses a numeric v2 `id` that would not be echoed as sent, before any input is decoded. An integer
 * past ±2^53 has been rounded by JSON.parse (12345678901234567891 as …7000): the JSON codecs then read
 * the body again with it exact ({@link InexactInteger}), and it is echoed as the digits sent. One
 * JSON.parse made infinite (1e400, or 400 digits) or the NaN/Infinity tokens would be echoed as
 * "Infinity" or "NaN", which no client sent: a 400 asking for a string.
 */
function checkNumericId(id: number): void {
  if (!Number.isFinite(id)) fail(`"id" is ${String(id)} as a number (a literal past the largest double, or a NaN/Infinity token); send the id as a string`);
  if (Number.isInteger(id) && !Number.isSafeInteger(id)) {
    throw new InexactInteger('ERR_JSON_PARSE', `v2 request: "id" ${String(id)} is a number past ±2^53, which is not read exactly; send the id as a string`);
  }
}

/**
 * Triton's raw binary request (`json-header-size=0`): the whole body is the data of the model's only
 * input, in its datatype, with no JSON request. The shape is the input's: a dynamic dimension takes
 * what the body's size leaves; with two, the first is the batch axis and 1 (Triton reads a raw request
 * as a batch of one); a BYTES input takes the body as its one element. Every output is answered as
 * binary data, as Triton answers a raw request.
 * @param input The model's only input (`DecodeHints.soleInput`); absent, the request is refused.
 */
export function decodeV2Raw(body: Buffer, input: SoleInput | undefined, limits?: DecodeLimits): DecodedRequest {
  if (input === undefined) {
    fail(
      "json-header-size=0 (Triton's raw request: the body is the data of the model's only input, with no JSON) needs a model " +
        'of exactly one input that takes the request as it comes (no handler code, custom steps or steps before it) to give ' +
        "that input's name, datatype and shape; send the v2 JSON request first and its length as json-header-size",
    );
  }
  const label = `input '${excerpt(input.name)}' (a raw request, json-header-size=0)`;
  const declared = `[${input.shape.join(', ')}]`;
  const dims = input.shape.map((d) => (typeof d === 'number' && Number.isSafeInteger(d) && d >= 0 ? d : -1));
  const dynamic = dims.flatMap((d, i) => (d < 0 ? [i] : []));
  if (dynamic.length > 2) mismatch(`${label}: the model's input shape ${declared} has more than two dynamic dimensions, so the body's size cannot give the shape; send a v2 JSON request with "shape"`);
  if (dynamic.length === 2) dims[dynamic.shift()!] = 1;
  const binaryStrings = new Set<string>();
  let tensor: Tensor;
  if (input.dtype === 'string') {
    if (dynamic.length === 1) dims[dynamic[0]!] = 1;
    if (sizeOf(dims) !== 1) mismatch(`${label}: a raw request carries one BYTES element, but the model's input shape ${declared} holds more; send a v2 request with "shape"`);
    checkDecodedSize(8 + 2 * body.length, limits, `the body of ${label}`);
    const s = bytesToString(body);
    if (s.length === body.length && !isAscii(body)) binaryStrings.add(s);
    tensor = { dtype: 'string', shape: dims, data: [s] };
  } else {
    const datatype = DTYPE_TO_V2[input.dtype];
    const itemSize = V2_ITEM_SIZE[datatype]!;
    if (dynamic.length === 1) {
      const row = sizeOf(dims.map((d) => (d < 0 ? 1 : d))) * itemSize;
      if (row === 0 ? body.length !== 0 : body.length % row !== 0) {
        const shown = `[${dims.map((d) => (d < 0 ? '-1' : String(d))).join(', ')}]`;
        mismatch(`${label}: the body's ${body.length} bytes are not a whole number of ${datatype} slices of the model's input shape ${shown} (${row} bytes each)`);
      }
      dims[dynamic[0]!] = row === 0 ? 0 : body.length / row;
    } else if (sizeOf(dims) * itemSize !== body.length) {
      mismatch(`${label}: the model's input shape [${dims.join(', ')}] of ${datatype} needs ${sizeOf(dims) * itemSize} bytes, but the body has ${body.length}`);
    }
    tensor = readBinaryInput(body, 0, body.length, input.dtype, dims, datatype, label, (cost) => checkDecodedSize(cost, limits, `the body of ${label}`), binaryStrings, new Set()).tensor;
  }
  const tensors: TensorMap = {};
  setTensor(tensors, input.name, tensor);
  const request: DecodedRequest = { tensors, form: 'v2', binaryOutputs: { all: true, byName: new Map() } };
  if (binaryStrings.size > 0) request.binaryStrings = binaryStrings;
  return request;
}

/** Triton's binary output choices: `binary_data` on an output, else the request's `binary_data_output`, else JSON. */
function binaryOutputChoices(parameters: Record<string, unknown> | undefined, outputs: Record<string, unknown>[] | undefined): V2BinaryOutputs {
  const all = parameters?.['binary_data_output'];
  if (all !== undefined && typeof all !== 'boolean') fail(`"parameters": "binary_data_output" must be true or false, found ${jsonExcerpt(all)}`);
  const byName = new Map<string, boolean>();
  for (const o of outputs ?? []) {
    const p = o['parameters'] ?? undefined;
    if (p === undefined) continue;
    if (typeof p !== 'object' || Array.isArray(p)) fail(`output '${excerpt(o['name'] as string)}': "parameters" must be an object, found ${jsonExcerpt(p)}`);
    const b = (p as Record<string, unknown>)['binary_data'];
    if (b === undefined) continue;
    if (typeof b !== 'boolean') fail(`output '${excerpt(o['name'] as string)}': "binary_data" must be true or false, found ${jsonExcerpt(b)}`);
    byName.set(o['name'] as string, b);
  }
  return { all: all === true, byName };
}

/** Triton's classification extension: `"parameters": {"classification": k}` on an output, k > 0 (0 means none, as in Triton). */
function classificationCounts(outputs: Record<string, unknown>[] | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  for (const o of outputs ?? []) {
    const k = (o['parameters'] as Record<string, unknown> | undefined)?.['classification'];
    if (k === undefined) continue;
    if (typeof k !== 'number' || !Number.isSafeInteger(k) || k < 0) {
      fail(`output '${excerpt(o['name'] as string)}': "classification" must be a non-negative integer (how many top classes to return), found ${jsonExcerpt(k)}`);
    }
    if (k > 0) counts.set(o['name'] as string, k);
  }
  return counts;
}

/**
 * `prediction` with each output a v2 request asked for as a classification replaced by it (see
 * {@link classify}), and `options` without the classifications: so that an answer in any type (CSV,
 * NPY, JSON lines as well as v2 JSON) holds the top-k strings the client asked for, not the scores
 * silently, and the v2 writer does not rank them twice. Any other prediction or request as it is.
 * @throws ToolkitError 400 for an output that cannot be classified.
 */
export function withClassifications(prediction: unknown, options: EncodeOptions, isMap: (v: unknown) => v is TensorMap): { prediction: unknown; options: EncodeOptions } {
  const counts = options.request?.classifications;
  if (counts === undefined || counts.size === 0 || options.request?.form !== 'v2' || !isMap(prediction)) return { prediction, options };
  const out: TensorMap = {};
  for (const name of Object.keys(prediction)) {
    const wire = name === '' ? V2_UNNAMED_OUTPUT : name;
    const k = counts.get(wire);
    Object.defineProperty(out, name, { value: k === undefined ? prediction[name] : classify(prediction[name]!, k, wire), enumerable: true, writable: true, configurable: true });
  }
  const { classifications: _ranked, ...request } = options.request!;
  return { prediction: out, options: { ...options, request } };
}

/** Triton refuses to classify rows larger than this (classification.cc, kMaxClassificationElements). */
const MAX_CLASSIFICATION_ELEMENTS = 1_000_000;

/** Up to this many classes a row's top ones are found in one pass; more sort the row. */
const TOP_K_BY_INSERTION = 64;

/**
 * An output as Triton's classification extension answers it: BYTES of shape `[rows, min(k, classes)]`
 * (`[min(k, classes)]` for an output of rank 0 or 1), each `"<value>:<index>"` for the k highest
 * values of a row, highest first. Rows are the first axis of an output of rank 2 or more (Triton
 * takes it for a model that batches; smkit has no such flag). Values are printed as C++'s
 * `std::to_string` prints them (`0.900000` for floats), as Triton does.
 */
function classify(t: Tensor, k: number, wire: string): Tensor<'string'> {
  const datatype = DTYPE_TO_V2[t.dtype];
  if (t.dtype === 'string' || t.dtype === 'bool' || t.dtype === 'float16') {
    throw new ToolkitError('ERR_BAD_REQUEST', `output '${excerpt(wire)}' is ${datatype}, which cannot be classified; ask for "classification" only on numeric outputs (not ${datatype})`);
  }
  const data = t.data as Exclude<Tensor['data'], string[]>;
  const batched = t.shape.length >= 2;
  const rows = batched ? t.shape[0]! : 1;
  const perRow = batched ? sizeOf(t.shape.slice(1)) : data.length;
  if (perRow > MAX_CLASSIFICATION_ELEMENTS) {
    throw new ToolkitError('ERR_BAD_REQUEST', `output '${excerpt(wire)}' has ${perRow} values per row, more than the ${MAX_CLASSIFICATION_ELEMENTS} a "classification" may rank (as in Triton); ask for it without "classification"`);
  }
  const count = Math.min(k, perRow);
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    const at = r * perRow;
    // Highest first, ties by index; NaN last (C++'s > never takes it).
    const better = (i: number, j: number): boolean => {
      const x = data[at + i]!;
      const y = data[at + j]!;
      if (x !== x) return y !== y && i < j;
      return y !== y || x > y || (x === y && i < j);
    };
    let top: number[];
    if (count <= TOP_K_BY_INSERTION) {
      // A few classes of many (the usual ask): kept in order as the row is read, instead of sorting it all.
      top = [];
      for (let i = 0; i < perRow; i++) {
        if (top.length === count && !better(i, top[count - 1]!)) continue;
        let p = top.length === count ? count - 1 : top.length;
        for (; p > 0 && better(i, top[p - 1]!); p--) top[p] = top[p - 1]!;
        top[p] = i;
      }
    } else {
      top = Array.from({ length: perRow }, (_, i) => i).sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0));
    }
    for (let c = 0; c < count; c++) out.push(`${cppToString(data[at + top[c]!]!, t.dtype)}:${top[c]}`);
  }
  return { dtype: 'string', shape: batched ? [rows, count] : [count], data: out };
}

/** A value as C++'s `std::to_string` writes it: integers in decimal, floats as `%f` (6 decimals, `nan`, `inf`). */
function cppToString(v: number | bigint, dtype: DType): string {
  if (typeof v === 'bigint' || (dtype !== 'float32' && dtype !== 'float64')) return String(v);
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  const sign = v < 0 || Object.is(v, -0) ? '-' : '';
  const a = Math.abs(v);
  // toFixed switches to exponent form from 1e21; %f never does.
  return sign + (a < 1e21 ? a.toFixed(6) : `${BigInt(a)}.000000`);
}

/** What a string remembered in a Set costs beyond the string (about 21 bytes measured on Node 20, more while the Set grows). */
const SET_ENTRY_BYTES = 32;

/** Bytes per element of each fixed-size v2 datatype in binary tensor data. */
const V2_ITEM_SIZE: Readonly<Record<string, number>> = {
  BOOL: 1, UINT8: 1, UINT16: 2, UINT32: 4, UINT64: 8, INT8: 1, INT16: 2, INT32: 4, INT64: 8, BF16: 2, FP16: 2, FP32: 4, FP64: 8,
};

/**
 * One binary input: the next `size` bytes of `binary` from `offset`, checked against the shape and
 * datatype before anything is allocated (so nothing larger than the body is), little-endian and
 * row-major; BYTES elements each a 4-byte little-endian length and the bytes; BOOL one byte.
 */
function readBinaryInput(
  binary: Buffer,
  offset: number,
  size: unknown,
  dtype: DType,
  shape: number[],
  datatype: string,
  label: string,
  charge: (bytes: number) => void,
  binaryStrings: Set<string>,
  textStrings: Set<string>,
): { tensor: Tensor; bytes: number } {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    fail(`${label}: "binary_data_size" must be a non-negative integer byte count, found ${jsonExcerpt(size)}`);
  }
  const left = binary.length - offset;
  if (size > left) {
    fail(`${label}: binary_data_size ${size} runs past the end of the body: ${left} bytes are left after the JSON header${offset > 0 ? ' and the inputs before it' : ''}`);
  }
  const bytes = binary.subarray(offset, offset + size);
  const count = sizeOf(shape);
  const shown = `shape [${shape.join(', ')}]`;
  if (dtype === 'string') {
    // Each element takes at least its 4-byte length, so a count past size / 4 cannot fit: refuse it before allocating.
    if (count > size / 4) fail(`${label}: ${shown} has ${count} BYTES elements, which need at least ${count * 4} bytes (a 4-byte length each) but binary_data_size is ${size}`);
    // At most what the decoded-size budget charges: a reference per element, two bytes a character.
    charge(count * 8 + 2 * (size - 4 * count));
    const out = new Array<string>(count);
    const remembered = binaryStrings.size + textStrings.size;
    let at = 0;
    for (let i = 0; i < count; i++) {
      if (at + 4 > size) fail(`${label}: BYTES element ${i}'s 4-byte length runs past the input's binary_data_size ${size}`);
      const length = bytes.readUInt32LE(at);
      at += 4;
      if (length > size - at) fail(`${label}: BYTES element ${i} claims ${length} bytes but only ${size - at} are left of the input's binary_data_size ${size}`);
      const element = bytes.subarray(at, at + length);
      const s = bytesToString(element);
      // UTF-8 gives fewer characters than bytes to non-ASCII bytes; only the one-character-per-byte
      // fallback gives as many, and those strings must go back out as their bytes, not as UTF-8.
      if (s.length !== length) textStrings.add(s);
      else if (!isAscii(element)) binaryStrings.add(s);
      out[i] = s;
      at += length;
    }
    if (at !== size) fail(`${label}: ${shown} has ${count} BYTES elements, which end after ${at} bytes, but binary_data_size is ${size}`);
    charge(SET_ENTRY_BYTES * (binaryStrings.size + textStrings.size - remembered));
    return { tensor: { dtype, shape, data: out }, bytes: size };
  }
  const itemSize = V2_ITEM_SIZE[datatype]!;
  if (count * itemSize !== size) {
    fail(`${label}: ${shown} of ${datatype} needs ${count * itemSize} bytes (${count} elements × ${itemSize}) but binary_data_size is ${size}`);
  }
  charge(datatype === 'BF16' ? 2 * size : size);
  let data: Tensor['data'];
  if (datatype === 'BF16') {
    // bfloat16 is the top half of a float32.
    const out = new Float32Array(count);
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) bits[i] = bytes.readUInt16LE(2 * i) << 16;
    data = out;
  } else {
    const out = allocate(dtype, count) as Exclude<Tensor['data'], string[]>;
    new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
    // numpy's bool is any non-zero byte; smkit's is 0 or 1.
    if (dtype === 'bool') for (let i = 0; i < count; i++) if (out[i] !== 0) out[i] = 1;
    data = out;
  }
  return { tensor: { dtype, shape, data } as Tensor, bytes: size };
}

/** Writes a v2 response: `{"model_name", "id"?, "outputs": [{name, shape, datatype, data}]}` with flat data. */
export function encodeV2(outputs: TensorMap, options: EncodeOptions): string {
  return encodeV2Parts(outputs, options).json;
}

/**
 * A v2 response with the outputs the request's {@link V2BinaryOutputs} choose written as binary
 * tensor data: their JSON entries carry `"parameters": {"binary_data_size": K}` instead of `data`,
 * and `binary` holds their bytes, in output order, to follow the JSON.
 */
export function encodeV2Parts(outputs: TensorMap, options: EncodeOptions): { json: string; binary: Uint8Array[] } {
  // An unnamed output is answered as output0, so that is the name a client asks for it by.
  const names = requestedOutputKeys(outputs, options.request?.requestedOutputs);
  const choices = options.request?.binaryOutputs;
  const binary: Uint8Array[] = [];
  const parts = [`{"model_name":${JSON.stringify(options.modelName ?? 'model')}`];
  if (options.request?.id !== undefined) parts.push(`,"id":${JSON.stringify(options.request.id)}`);
  parts.push(',"outputs":[');
  const classifications = options.request?.classifications;
  names.forEach((name, i) => {
    const wire = name === '' ? V2_UNNAMED_OUTPUT : name;
    const k = classifications?.get(wire);
    const t = k === undefined ? outputs[name]! : classify(outputs[name]!, k, wire);
    parts.push(i > 0 ? ',' : '', `{"name":${JSON.stringify(wire)},"shape":[${t.shape.join(',')}],"datatype":"${DTYPE_TO_V2[t.dtype]}",`);
    if (choices !== undefined && (choices.byName.get(wire) ?? choices.all)) {
      const bytes = tensorBytes(t, options.request?.binaryStrings);
      binary.push(bytes);
      parts.push(`"parameters":{"binary_data_size":${bytes.byteLength}}}`);
    } else {
      parts.push('"data":', v2DataJson(t), '}');
    }
  });
  parts.push(']}');
  return { json: parts.join(''), binary };
}

/**
 * A v2 answer as Triton gives it on SageMaker: with outputs asked for as binary data, the JSON then
 * their bytes under `application/vnd.sagemaker-triton.binary+json;json-header-size=<JSON length>`;
 * with none, the plain v2 JSON as `application/json`.
 */
export function encodeV2Answer(outputs: TensorMap, options: EncodeOptions): TypedBody {
  const { json, binary } = encodeV2Parts(outputs, options);
  if (binary.length === 0) return { body: Buffer.from(json, 'utf8'), contentType: 'application/json' };
  const head = Buffer.from(json, 'utf8');
  return { body: Buffer.concat([head, ...binary]), contentType: `${TRITON_BINARY_TYPE};json-header-size=${head.length}` };
}

/**
 * A tensor's flat `data` as Triton writes it (rapidjson, `kWriteNanAndInfFlag`): INT64/UINT64 as
 * exact integer literals, also past ±2^53; NaN and ±Infinity as the tokens `NaN`, `Infinity` and
 * `-Infinity`, which the v2 decoder reads back (JSON has no literal for them; `null` would be no number).
 */
function v2DataJson(t: Tensor): string {
  if (isBigIntDType(t.dtype)) return `[${(t.data as BigInt64Array).join(',')}]`;
  return withNonFiniteTokens(tensorFlatToJson(t), t);
}

/**
 * A tensor as v2 binary tensor data: its little-endian elements; BYTES each a 4-byte length and its
 * UTF-8 bytes, or for a string the request's binary data held as bytes (`binaryStrings`), those bytes.
 */
function tensorBytes(t: Tensor, binaryStrings: ReadonlySet<string> | undefined): Uint8Array {
  if (t.dtype !== 'string') {
    const d = t.data as Exclude<Tensor['data'], string[]>;
    return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  }
  const encoded = (t.data as string[]).map((s) => Buffer.from(s, binaryStrings?.has(s) ? 'latin1' : 'utf8'));
  const out = Buffer.allocUnsafe(encoded.reduce((n, b) => n + 4 + b.length, 0));
  let at = 0;
  for (const b of encoded) {
    out.writeUInt32LE(b.length, at);
    b.copy(out, at + 4);
    at += 4 + b.length;
  }
  return out;
}

/** What a float datatype's data must hold. */
const NUMBERS = 'numbers (NaN and ±Infinity as the bare tokens NaN, Infinity and -Infinity, as Triton writes them, not null)';

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
      // Doubles past these are out of range whatever literal they were rounded from.
      const [least, most] = dtype === 'int64' ? [-(2 ** 63), 2 ** 63] : [0, 2 ** 64];
      // Safe integers, the common case, are written as their two 32-bit halves rather than through
      // a BigInt each (which made INT64 data a third slower to read than FP64).
      const halves = new Int32Array(o.buffer, o.byteOffset, 2 * n);
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        if (typeof v === 'number' && Number.isSafeInteger(v)) {
          if (v < least) bad(i, `values in the ${dtype} range`);
          const high = Math.floor(v / 4294967296);
          halves[2 * i + LOW_HALF] = v - high * 4294967296;
          halves[2 * i + HIGH_HALF] = high;
          continue;
        }
        // A number past ±2^53 has been rounded by JSON.parse (9007199254740993 parses as …992): the
        // JSON codecs then parse the body again with such literals as bigints, as Triton reads them
        // exactly. Only one written with a fraction or exponent (9e18), a double, stays inexact.
        if (typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v)) {
          if (v < least || v > most) bad(i, `values in the ${dtype} range`);
          throw new InexactInteger(
            'ERR_JSON_PARSE',
            `v2 request: ${label}: data[${i}] is ${shownValue(v)} but datatype ${DTYPE_TO_V2[dtype]} needs integers in its range, exact: past ±2^53 written ` +
              'as plain digits (9007199254740993) or as a string ("9007199254740993"), not with an exponent or a fraction',
          );
        }
        let big: bigint;
        if (typeof v === 'bigint') big = v;
        else if (typeof v === 'number' && Number.isInteger(v)) big = BigInt(v);
        else if (typeof v === 'string' && /^-?\d+$/.test(v)) {
          // BigInt takes about a microsecond a digit, and no int64 or uint64 has more than 20: a longer
          // string (leading zeros aside) is out of range, refused before BigInt reads its millions of digits.
          const text = v.replace(/^(-?)0+(?=\d)/, '$1');
          big = text.length > 21 ? bad(i, `values in the ${dtype} range`) : BigInt(text);
        } else big = bad(i, 'integers');
        o[i] = big;
        if (o[i] !== big) bad(i, `values in the ${dtype} range`);
      }
      return o;
    }
    case 'float16': {
      const o = out as Uint16Array;
      for (let i = 0; i < n; i++) {
        const v = number(flat[i]);
        if (typeof v !== 'number') bad(i, NUMBERS);
        o[i] = toFloat16Bits(v as number);
        if ((o[i]! & 0x7fff) === 0x7c00 && Number.isFinite(v)) bad(i, 'values in the FP16 range (±65504)');
      }
      return o;
    }
    case 'float32':
    case 'float64': {
      const o = out as Float32Array | Float64Array;
      for (let i = 0; i < n; i++) {
        const v = number(flat[i]);
        if (typeof v !== 'number') bad(i, NUMBERS);
        o[i] = bf16 ? roundToBfloat16(v as number) : (v as number);
        if (!Number.isFinite(o[i]!) && Number.isFinite(v)) bad(i, `values in the ${bf16 ? 'BF16' : 'FP32'} range`);
      }
      return o;
    }
    default: {
      const o = out as Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        if (typeof v === 'bigint') bad(i, `values in the ${dtype} range`);
        if (typeof v !== 'number' || !Number.isInteger(v)) bad(i, 'integers');
        o[i] = v as number;
        if (o[i] !== v) bad(i, `values in the ${dtype} range`);
      }
      return o;
    }
  }
}

/** A bigint (an exact integer literal, read for INT64 data) as the double JSON.parse makes of it. */
function number(v: unknown): unknown {
  return typeof v === 'bigint' ? Number(v) : v;
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
  // JSON.parse reads a number past the largest double (1e400) as Infinity: name both sources.
  if (v === Infinity || v === -Infinity) return `${v} (the token ${v}, or a number past the largest double such as ${v < 0 ? '-' : ''}1e400)`;
  return typeof v === 'number' || typeof v === 'bigint' ? String(v) : jsonExcerpt(v);
}

function fail(message: string): never {
  throw new ToolkitError('ERR_JSON_PARSE', `v2 request: ${message}`);
}

function mismatch(message: string): never {
  throw new ToolkitError('ERR_INPUT_MISMATCH', `v2 request: ${message}`);
}
