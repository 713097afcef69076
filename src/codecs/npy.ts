import { ToolkitError } from '../errors/catalogue.js';
import { countText } from '../errors/count-text.js';
import { excerpt } from '../errors/excerpt.js';
import { MAX_RANK, UNNAMED, sizeOf, type DType, type Tensor } from '../core/tensor.js';
import { statedDType } from '../core/dtype-convert.js';
import { isAscii } from 'node:buffer';
import type { Codec, DecodeLimits, DecodedRequest, EncodeOptions } from './codec.js';
import { chargedElements, checkDecodedSize } from './decode-limits.js';
import { toSingleTensor } from './single-output.js';
import { bytesToString } from './json-tensor.js';

/** `application/x-npy` media type. */
export const NPY_MEDIA_TYPE = 'application/x-npy';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
/** numpy aligns the data start to this many bytes (`numpy.lib.format.ARRAY_ALIGN`). */
const ARRAY_ALIGN = 64;
/**
 * The longest header, in characters, np.load reads by default (`numpy.lib.format._MAX_HEADER_SIZE`,
 * its `max_header_size`): a longer one is refused before it is parsed, as numpy refuses it.
 */
export const NPY_MAX_HEADER_SIZE = 10_000;
/** Spare header room numpy leaves so the first axis can grow in place (`GROWTH_AXIS_MAX_DIGITS`). */
const GROWTH_AXIS_MAX_DIGITS = 21;

type NumericDType = Exclude<DType, 'string'>;
type TypedCtor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => Exclude<Tensor['data'], string[]>;

const NUMERIC: Record<string, { dtype: NumericDType; ctor: TypedCtor }> = {
  f2: { dtype: 'float16', ctor: Uint16Array },
  f4: { dtype: 'float32', ctor: Float32Array },
  f8: { dtype: 'float64', ctor: Float64Array },
  i1: { dtype: 'int8', ctor: Int8Array },
  i2: { dtype: 'int16', ctor: Int16Array },
  i4: { dtype: 'int32', ctor: Int32Array },
  i8: { dtype: 'int64', ctor: BigInt64Array },
  u1: { dtype: 'uint8', ctor: Uint8Array },
  u2: { dtype: 'uint16', ctor: Uint16Array },
  u4: { dtype: 'uint32', ctor: Uint32Array },
  u8: { dtype: 'uint64', ctor: BigUint64Array },
  b1: { dtype: 'bool', ctor: Uint8Array },
};

const DESCR: Record<NumericDType, string> = {
  float16: '<f2',
  float32: '<f4',
  float64: '<f8',
  int8: '|i1',
  int16: '<i2',
  int32: '<i4',
  int64: '<i8',
  uint8: '|u1',
  uint16: '<u2',
  uint32: '<u4',
  uint64: '<u8',
  bool: '|b1',
};

/**
 * Reads an NPY file (format versions 1, 2 and 3). Little-endian numeric and bool arrays are
 * returned as a view of `buf` when the data is aligned for its element size (no copy), else copied;
 * big-endian data is byte-swapped; Fortran-order data is reordered to C order; `<U` and `|S`
 * string arrays become string tensors (`|S` bytes that are not UTF-8 as binary strings, see
 * `bytesToString`). Object arrays (`|O`, which need pickle) are refused.
 *
 * @throws ToolkitError 400 `ERR_NPY_PICKLE` for object arrays, `ERR_NPY_PARSE` for anything malformed or unsupported.
 */
export function decodeNpy(buf: Buffer, what = 'NPY body', limits?: DecodeLimits, bytes?: NpyBytes): Tensor {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) fail(`${what} does not start with the NPY magic string \\x93NUMPY`);
  const major = buf[6]!;
  let headerStart: number;
  let headerLength: number;
  // numpy reads only 1.0, 2.0 and 3.0 (format.py's _check_version): a minor version it does not know
  // may lay the file out otherwise, so it is refused rather than read as its .0.
  if (buf[7] !== 0 && major >= 1 && major <= 3) fail(`${what} uses NPY format version ${major}.${buf[7]}; versions 1.0, 2.0 and 3.0 are supported, as numpy reads them`);
  if (major === 1) {
    headerStart = 10;
    headerLength = buf.readUInt16LE(8);
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) fail(`${what} is truncated`);
    headerStart = 12;
    headerLength = buf.readUInt32LE(8);
  } else {
    return fail(`${what} uses NPY format version ${major}.${buf[7]}; versions 1, 2 and 3 are supported`);
  }
  const dataStart = headerStart + headerLength;
  if (dataStart > buf.length) fail(`${what} is truncated inside its header`);
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', headerStart, dataStart);
  // numpy counts the decoded header's characters (code points: a 4-byte UTF-8 one in a version 3 header is one).
  const headerChars = major === 3 ? codePoints(header) : header.length;
  if (headerChars > NPY_MAX_HEADER_SIZE) {
    fail(
      `${what}'s header is ${headerChars} characters long, more than the ${countText(NPY_MAX_HEADER_SIZE)} np.load reads by default ` +
        "(numpy's max_header_size); numpy.save writes a short one: save the array with numpy.save",
    );
  }

  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header)?.[1];
  if (descr === undefined) {
    if (/['"]descr['"]\s*:\s*\[/.test(header)) fail(`${what} holds a structured (record) array; send plain arrays`);
    fail(`${what} has no readable 'descr' in its header`);
  }
  checkHeaderKeys(header, what);
  const orderText = /['"]fortran_order['"]\s*:\s*([^,}\s]*)/.exec(header)?.[1];
  // numpy writes the Python literals and refuses anything else; a `true` or `1` read as C order would transpose silently.
  if (orderText !== undefined && orderText !== 'True' && orderText !== 'False') fail(`${what} has 'fortran_order': ${shortText(orderText)}; it must be True or False`);
  const fortran = orderText === 'True';
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (shapeText === undefined) fail(`${what} has no readable 'shape' in its header`);
  // A Python tuple: (), (3,) or (2, 3) with an optional trailing comma. (3) is the number 3, which
  // np.load refuses ("shape is not valid"), as it does (3,,4); a 1-D array's is written (3,).
  const parts = shapeText!.split(',').map((s) => s.trim());
  if (parts.length === 1 && parts[0] !== '') fail(`${what} has 'shape': (${shortText(parts[0]!)}), a number rather than a tuple: a 1-dimensional shape is written (${shortText(parts[0]!)},), as numpy writes it and np.load requires`);
  if (parts.some((s, i) => s === '' && i < parts.length - 1)) fail(`${what} has an invalid shape (${shortText(shapeText!)}): dimensions must be non-negative integers separated by commas`);
  const shape = parts
    .map((s) => s.replace(/L$/, ''))
    .filter((s) => s !== '')
    .map((s) => {
      const d = /^\d+$/.test(s) ? Number(s) : NaN;
      if (!Number.isSafeInteger(d)) fail(`${what} has an invalid shape (${shortText(shapeText!)}): dimensions must be non-negative integers`);
      return d;
    });
  if (shape.length > MAX_RANK) fail(`${what} has ${shape.length} dimensions; at most ${MAX_RANK} are supported`);
  const size = sizeOf(shape);

  const m = /^([<>|=]?)([a-zA-Z])(\d*)$/.exec(descr!);
  if (m === null) return fail(`${what} has an unsupported dtype '${shortText(descr!)}'`);
  const [, order, kind, width] = m as unknown as [string, string, string, string];
  if (kind === 'O') {
    throw new ToolkitError('ERR_NPY_PICKLE', `${what} is an object array ('${descr}'), which needs pickle to read; smkit refuses pickles. Save a numeric array (for example arr.astype(np.float32)).`);
  }
  const itemSize = Number(width);
  const bigEndian = order === '>';

  let t: Tensor;
  if (kind === 'U' || kind === 'S') {
    const charBytes = kind === 'U' ? 4 : 1;
    if (itemSize === 0 && size > 0) fail(`${what} has dtype '${descr}': strings of width 0 hold nothing`);
    checkLength(buf, dataStart, size * itemSize * charBytes, what);
    // A JS string array costs a reference per element plus two bytes a character at most.
    checkDecodedSize(chargedElements(shape) * (8 + 2 * itemSize), limits, what);
    if (kind === 'S' && bytes !== undefined) bytes.found = true;
    t = { dtype: 'string', shape, data: readStrings(buf, dataStart, size, itemSize, kind === 'U', bigEndian, what, kind === 'S' ? bytes : undefined) };
  } else {
    // Kinds are case-sensitive, as numpy reads them: '<I4' and '<F4' are not int32 and float32 ('I' is uint32's code, 'F' complex64's); numpy refuses them.
    const spec = NUMERIC[`${kind}${width}`];
    if (spec === undefined) return fail(`${what} has dtype '${shortText(descr!)}', which smkit does not read; send float16/32/64, int8-64, uint8-64 or bool`);
    const byteLength = size * itemSize;
    checkLength(buf, dataStart, byteLength, what);
    checkDecodedSize(chargedElements(shape) * itemSize, limits, what);
    let data: Exclude<Tensor['data'], string[]>;
    const offset = buf.byteOffset + dataStart;
    if (!bigEndian && offset % itemSize === 0) {
      data = new spec.ctor(buf.buffer, offset, size);
    } else {
      const copy = Buffer.allocUnsafeSlow(byteLength);
      buf.copy(copy, 0, dataStart, dataStart + byteLength);
      if (bigEndian && itemSize === 2) copy.swap16();
      else if (bigEndian && itemSize === 4) copy.swap32();
      else if (bigEndian && itemSize === 8) copy.swap64();
      data = new spec.ctor(copy.buffer, copy.byteOffset, size);
    }
    // numpy's bool is any non-zero byte; smkit's (and ONNX Runtime's) is 0 or 1: Not of a 2 is 3, true.
    // The body is left as sent (data capture records it), so a copy takes the 0s and 1s.
    if (spec.dtype === 'bool' && (data as Uint8Array).some((b) => b > 1)) data = Uint8Array.from(data as Uint8Array, (b) => (b === 0 ? 0 : 1));
    t = { dtype: spec.dtype, shape, data } as Tensor;
  }
  return statedDType(fortran && shape.length > 1 ? fortranToC(t) : t);
}

/**
 * Writes a tensor as an NPY version 1.0 file byte for byte as `numpy.save` does: the header dict
 * `{'descr': ..., 'fortran_order': False, 'shape': (...), }` padded with spaces (including numpy's
 * growth room) and a newline so the data starts on a 64-byte boundary. Strings are written as `<U{maxlen}`.
 */
export function encodeNpy(t: Tensor): Buffer {
  const size = t.data.length;
  let descr: string;
  let payload: Uint8Array;
  if (t.dtype === 'string') {
    const strings = t.data as string[];
    // Widths by loop, not Math.max(...): spreading a million elements overflows the stack (a 500).
    let width = 1;
    for (const s of strings) width = Math.max(width, codePointCount(s));
    const codes = new Uint32Array(size * width);
    for (let i = 0; i < size; i++) {
      let at = i * width;
      for (const c of strings[i]!) codes[at++] = c.codePointAt(0)!;
    }
    descr = `<U${width}`;
    payload = new Uint8Array(codes.buffer);
  } else {
    descr = DESCR[t.dtype];
    const d = t.data as Exclude<Tensor['data'], string[]>;
    payload = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  }
  const header = npyHeader(descr, t.shape);
  const out = Buffer.allocUnsafe(header.length + payload.byteLength);
  header.copy(out, 0);
  out.set(payload, header.length);
  return out;
}

/** The preamble numpy writes for a C-order array: magic, version 1.0, length and padded header dict. */
export function npyHeader(descr: string, shape: readonly number[]): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  if (shape.length > 0) dict += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  const pad = ARRAY_ALIGN - ((MAGIC.length + 2 + 2 + dict.length + 1) % ARRAY_ALIGN);
  // numpy pads a whole 64 when the dict already ends on the boundary (`_wrap_header`).
  const text = `${dict}${' '.repeat(pad)}\n`;
  const out = Buffer.alloc(10 + text.length);
  MAGIC.copy(out, 0);
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(text.length, 8);
  out.write(text, 10, 'latin1');
  return out;
}

/** The UTF-32 code unit at byte `at`. */
function codeAt(buf: Buffer, at: number, bigEndian: boolean): number {
  return bigEndian ? buf.readUInt32BE(at) : buf.readUInt32LE(at);
}

/**
 * What a `|S` (bytes) array's elements were, filled in by {@link decodeNpy} when given: `found` when
 * the array was `|S`; `binary` the elements whose bytes were not UTF-8 (one character per byte),
 * `text` the non-ASCII ones that were (a string in both could have been either).
 */
export interface NpyBytes {
  found: boolean;
  readonly binary: Set<string>;
  readonly text: Set<string>;
}

function readStrings(buf: Buffer, start: number, size: number, width: number, utf32: boolean, bigEndian: boolean, what: string, bytes?: NpyBytes): string[] {
  const out = new Array<string>(size);
  const codes: number[] = [];
  for (let i = 0; i < size; i++) {
    if (utf32) {
      codes.length = 0;
      let text = '';
      // numpy strips trailing NULs only: one inside the string is kept.
      let length = width;
      while (length > 0 && codeAt(buf, start + (i * width + length - 1) * 4, bigEndian) === 0) length--;
      for (let c = 0; c < length; c++) {
        const code = codeAt(buf, start + (i * width + c) * 4, bigEndian);
        if (code > 0x10ffff) fail(`${what}: element ${i} holds ${code.toString(16)}, which is not a Unicode code point`);
        codes.push(code);
        // Spread in bounded chunks: one call with millions of arguments would overflow the stack.
        if (codes.length === 4096) {
          text += String.fromCodePoint(...codes);
          codes.length = 0;
        }
      }
      out[i] = text + String.fromCodePoint(...codes);
    } else {
      const from = start + i * width;
      let end = from + width;
      while (end > from && buf[end - 1] === 0) end--;
      // '|S' elements are bytes: text when they are UTF-8, else a binary string (one character per
      // byte) that keeps them, as the JSON and v2 decoders keep bytes; UTF-8 decoding would put U+FFFD in their place.
      const element = buf.subarray(from, end);
      const text = bytesToString(element);
      out[i] = text;
      if (bytes !== undefined && !isAscii(element)) (text.length === element.length ? bytes.binary : bytes.text).add(text);
    }
  }
  return out;
}

function shortText(s: string): string {
  return excerpt(s, 60);
}

/** Reorders column-major (Fortran) data to row-major for the same shape. */
function fortranToC(t: Tensor): Tensor {
  const { shape } = t;
  const n = t.data.length;
  // float32 is moved as its bits: a float32 read into a number and stored again loses a signalling NaN's payload.
  const src = (t.data instanceof Float32Array ? new Uint32Array(t.data.buffer, t.data.byteOffset, n) : t.data) as unknown as ArrayLike<unknown> & { constructor: unknown };
  const out = (Array.isArray(src) ? new Array<string>(n) : new (src.constructor as new (n: number) => Record<number, unknown>)(n)) as Record<number, unknown>;
  const rank = shape.length;
  const fStride = new Array<number>(rank);
  let s = 1;
  for (let d = 0; d < rank; d++) {
    fStride[d] = s;
    s *= shape[d]!;
  }
  const idx = new Array<number>(rank).fill(0);
  let f = 0;
  for (let c = 0; c < n; c++) {
    out[c] = src[f];
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      f += fStride[d]!;
      if (idx[d]! < shape[d]!) break;
      f -= fStride[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  const data = t.data instanceof Float32Array ? new Float32Array((out as unknown as Uint32Array).buffer) : out;
  return { dtype: t.dtype, shape, data: data as unknown as Tensor['data'] } as Tensor;
}

/**
 * np.load reads a header only with exactly the keys 'descr', 'fortran_order' and 'shape': a missing
 * 'fortran_order' read as C order would transpose Fortran data silently. A repeated key, which
 * numpy never writes, is refused too: np.load would read the last, the regexes here the first.
 */
function checkHeaderKeys(header: string, what: string): void {
  const keys: string[] = [];
  // Nine are enough to tell and to show: a header of millions of keys is not listed whole.
  const key = /['"]([^'"]*)['"]\s*:/g;
  for (let m = key.exec(header); m !== null && keys.length < 9; m = key.exec(header)) keys.push(m[1]!);
  const expected = ['descr', 'fortran_order', 'shape'];
  if (keys.length === expected.length && expected.every((k) => keys.includes(k))) return;
  const repeated = keys.find((k, i) => keys.indexOf(k) !== i);
  if (repeated !== undefined && keys.every((k) => expected.includes(k)) && expected.every((k) => keys.includes(k))) {
    fail(`${what}'s header has '${repeated}' more than once; numpy writes each of 'descr', 'fortran_order' and 'shape' once (np.load would read the last), so smkit refuses it rather than guess`);
  }
  const shown = keys.slice(0, 8).map((k) => `'${shortText(k)}'`).join(', ') + (keys.length > 8 ? ', …' : '');
  fail(`${what}'s header has the keys ${shown}; np.load reads exactly 'descr', 'fortran_order' and 'shape'`);
}

function codePoints(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n--;
      i++;
    }
  }
  return n;
}

function checkLength(buf: Buffer, start: number, bytes: number, what: string): void {
  if (buf.length - start < bytes) fail(`${what} is truncated: its header promises ${bytes} data bytes but ${buf.length - start} follow`);
}

function fail(message: string): never {
  throw new ToolkitError('ERR_NPY_PARSE', message);
}

/** The code points of `s` (a surrogate pair is one; a lone surrogate too, as numpy writes it). */
function codePointCount(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/**
 * A string tensor as a numpy bytes array (`|S{width}`, numpy's padding NULs after each element):
 * each element's UTF-8, except one of `binaryStrings`, which is the bytes it came as.
 */
function encodeNpyBytes(t: Tensor, binaryStrings: ReadonlySet<string> | undefined): Buffer {
  const encoded = (t.data as string[]).map((s) => Buffer.from(s, binaryStrings?.has(s) ? 'latin1' : 'utf8'));
  let width = 1;
  for (const b of encoded) width = Math.max(width, b.length);
  const header = npyHeader(`|S${width}`, t.shape);
  const out = Buffer.alloc(header.length + encoded.length * width);
  header.copy(out, 0);
  encoded.forEach((b, i) => b.copy(out, header.length + i * width));
  return out;
}

/** The `application/x-npy` codec: one array in, one array out. */
export const npyCodec: Codec = {
  mediaType: NPY_MEDIA_TYPE,
  decode(body: Buffer, _params: Readonly<Record<string, string>>, limits?: DecodeLimits): DecodedRequest {
    const bytes: NpyBytes = { found: false, binary: new Set(), text: new Set() };
    const request: DecodedRequest = { tensors: { [UNNAMED]: decodeNpy(body, 'NPY body', limits, bytes) }, form: 'tensor' };
    if (bytes.found) {
      // A '|S' array: answered as '|S' in NPY, its elements that were not UTF-8 as the bytes they came as.
      request.npyBytes = true;
      for (const text of bytes.text) bytes.binary.delete(text);
      if (bytes.binary.size > 0) request.binaryStrings = bytes.binary;
    }
    return request;
  },
  encode(prediction: unknown, options: EncodeOptions): Buffer {
    const t = toSingleTensor(prediction, NPY_MEDIA_TYPE);
    const request = options.request;
    if (t.dtype === 'string' && request !== undefined) {
      const binary = request.binaryStrings;
      if (request.npyBytes === true || (binary !== undefined && (t.data as string[]).some((s) => binary.has(s)))) return encodeNpyBytes(t, binary);
    }
    return encodeNpy(t);
  },
};
