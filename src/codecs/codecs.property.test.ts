import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { zipSync } from 'fflate';
import { ERROR_CATALOGUE, ToolkitError } from '../errors/catalogue.js';
import { UNNAMED, tensor, toFlatArray, type DType, type Tensor } from '../core/tensor.js';
import { fromFloat16Bits, toFloat16Bits } from '../core/float16.js';
import type { Codec, DecodeHints, DecodedRequest } from './codec.js';
import { csvCodec, tensorToCsv } from './csv.js';
import { parseNumericCsv } from './csv-parse.js';
import { jsonCodec } from './json.js';
import { jsonLinesCodec } from './jsonlines.js';
import { decodeNpy, encodeNpy, npyCodec } from './npy.js';
import { npzCodec } from './npz.js';
import { rawCodec } from './raw.js';
import { tritonBinaryCodec } from './triton-binary.js';
import { plainToTensor, safeIntegersToInt64 } from './single-output.js';
import { type FormPart, decodeFormParts } from './multipart.js';
import { bigintToJsonValue, int64JsonValues } from './json-write.js';
import { createDefaultCodecs } from './defaults.js';
import { chargedElements } from './decode-limits.js';
import { mutatedBodies } from '../../test/helpers/hostile-bodies.js';
import { nearPowerOfTwo } from '../../test/helpers/near-powers-of-two.js';

/**
 * Property tests for every non-image codec: value-exact decoding against a reference, round trips
 * for every dtype, and "any byte string decodes or is refused with a catalogued 4xx, never another
 * exception" (a hang fails the test runner's timeout; a big allocation trips the budget asserted below).
 */

const RUNS = { numRuns: 300 };

// --- number text: up to 25 digits, signs, leading zeros, fractions, exponents -------------------

const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });
const numberText = fc
  .record({
    sign: fc.constantFrom('', '-', '+'),
    zeros: fc.constantFrom('', '', '0', '000000'),
    int: digits(1, 25),
    frac: fc.option(digits(0, 25), { nil: undefined }),
    exp: fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '-', '+'), fc.integer({ min: 0, max: 330 })), { nil: undefined }),
  })
  .map(({ sign, zeros, int, frac, exp }) => `${sign}${zeros}${int}${frac === undefined ? '' : `.${frac || '0'}`}${exp ? `${exp[0]}${exp[1]}${exp[2]}` : ''}`);

/**
 * Integers of 1 to 22 digits (random digits, digits then zeros, and what String(x) and toFixed
 * write for doubles): the CSV integer fast path must stay exact past 15 digits.
 */
const integerText = fc.oneof(
  fc.tuple(fc.constantFrom('', '-'), fc.integer({ min: 1, max: 9 }), digits(0, 21)).map(([s, d, rest]) => `${s}${d}${rest}`),
  fc.tuple(fc.integer({ min: 1, max: 9 }), digits(0, 17), fc.integer({ min: 0, max: 8 })).map(([d, rest, zeros]) => `${d}${rest}${'0'.repeat(zeros)}`),
  fc.double({ min: -1e22, max: 1e22, noNaN: true }).map((x) => x.toFixed(0)),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
);

/** Doubles next to a power of two, where the spacing halves below it: `0.9999999999999999` was read as 1. */
const nearPowerOfTwoText = nearPowerOfTwo(-70, 70);

test('CSV: every field equals Number(field), for integers up to 22 digits and decimals up to 25+25 digits', () => {
  fc.assert(
    fc.property(fc.array(fc.array(fc.oneof(numberText, integerText, nearPowerOfTwoText), { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 8 }), (rows) => {
      const t = parseNumericCsv(Buffer.from(rows.map((r) => r.join(',')).join('\n')));
      assert.deepEqual(t.shape, [rows.length, 3]);
      rows.flat().forEach((field, i) => assert.ok(Object.is(t.data[i], Number(field)), `${field}: ${t.data[i]} != ${Number(field)}`));
    }),
    { numRuns: 2000 },
  );
});

test('CSV header=present: any RFC 4180 header row (names with commas, quotes, line breaks) is skipped whole', () => {
  const name = fc.string({ unit: fc.constantFrom(...'ab ,"\n\r1;'), maxLength: 12 });
  const quote = (n: string) => (/[",\r\n]/.test(n) ? `"${n.replace(/"/g, '""')}"` : n);
  fc.assert(
    fc.property(fc.array(name, { minLength: 1, maxLength: 4 }), fc.array(fc.array(fc.integer({ min: -99, max: 99 }), { minLength: 2, maxLength: 2 }), { minLength: 1, maxLength: 4 }), (names, rows) => {
      // A header whose first name is blank would start with a blank line; give it a letter.
      const header = [`h${names[0]}`, ...names.slice(1)].map(quote).join(',');
      const body = rows.map((r) => r.join(',')).join('\n');
      const t = csvCodec.decode!(Buffer.from(`${header}\n${body}\n`), { header: 'present' }).tensors[UNNAMED]!;
      assert.deepEqual(t.shape, [rows.length, 2]);
      assert.deepEqual(Array.from(t.data as Float64Array), rows.flat());
    }),
    RUNS,
  );
});

test('JSON and JSON lines: a leading UTF-8 byte order mark changes nothing', () => {
  const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
  const shown = (r: DecodedRequest) => JSON.stringify(Object.entries(r.tensors).map(([k, t]) => [k, t.dtype, t.shape, Array.from(t.data as ArrayLike<unknown>, String)]));
  const outcome = (codec: Codec, body: Buffer) => {
    try {
      return shown(codec.decode!(body, {}));
    } catch (err) {
      return `${(err as ToolkitError).code}`;
    }
  };
  fc.assert(
    fc.property(fc.oneof(fc.json(), fc.array(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 2, maxLength: 2 }), { minLength: 1 }).map((a) => JSON.stringify(a))), (text) => {
      for (const codec of [jsonCodec, jsonLinesCodec]) {
        const plain = outcome(codec, Buffer.from(text));
        assert.equal(outcome(codec, Buffer.concat([BOM, Buffer.from(text)])), plain, codec.mediaType);
      }
    }),
    RUNS,
  );
});

test('JSON: the byte-level number scanner equals JSON.parse for nested numeric arrays', () => {
  const jsonNumber = numberText.map((s) => s.replace(/^\+/, '').replace(/^(-?)0+(?=\d)/, '$1'));
  fc.assert(
    fc.property(fc.array(fc.array(fc.oneof(jsonNumber, integerText, nearPowerOfTwoText), { minLength: 2, maxLength: 2 }), { minLength: 1, maxLength: 6 }), fc.boolean(), (rows, wrap) => {
      const text = `[${rows.map((r) => `[${r.join(',')}]`).join(',')}]`;
      const want = (JSON.parse(text) as number[][]).flat();
      const body = Buffer.from(wrap ? `{"instances": ${text}}` : text);
      if (wrap && want.some((v) => Math.abs(v) === Infinity)) {
        // TF Serving refuses a number past the largest double, where JSON.parse makes it infinite.
        assert.throws(() => jsonCodec.decode!(body, {}), (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_JSON_PARSE' && /past the largest double/.test(e.message));
        return;
      }
      const r = jsonCodec.decode!(body, {});
      const got = Array.from(r.tensors[UNNAMED]!.data as Float64Array);
      want.forEach((v, i) => assert.ok(Object.is(got[i], v), `${rows.flat()[i]}`));
    }),
    { numRuns: 1000 },
  );
});

test('float32 hint: CSV, JSON and JSON lines give each float64 value rounded to float32, or float64 itself when a finite value overflows', () => {
  const jsonNumber = numberText.map((s) => s.replace(/^\+/, '').replace(/^(-?)0+(?=\d)/, '$1'));
  const rowsOf = (n: fc.Arbitrary<string>) => fc.array(fc.array(fc.oneof(n, integerText), { minLength: 2, maxLength: 2 }), { minLength: 1, maxLength: 6 });
  const bodies = fc.oneof(
    rowsOf(numberText).map((rows) => ({ codec: csvCodec, text: rows.map((r) => r.join(',')).join('\n') })),
    rowsOf(jsonNumber).map((rows) => ({ codec: jsonCodec, text: JSON.stringify(rows.map((r) => r.map(Number))).replaceAll('null', '0') })),
    // Numbers past the largest double are a 400 in TF Serving's form (see the test above).
    rowsOf(jsonNumber)
      .filter((rows) => rows.flat().every((n) => Math.abs(Number(n)) !== Infinity))
      .map((rows) => ({ codec: jsonCodec, text: `{"instances": [${rows.map((r) => `[${r.join(',')}]`).join(',')}]}` })),
    rowsOf(jsonNumber).map((rows) => ({ codec: jsonLinesCodec, text: rows.map((r) => `[${r.join(',')}]`).join('\n') })),
  );
  const decode = (b: { codec: Codec; text: string }, float32: boolean): Tensor => b.codec.decode!(Buffer.from(b.text), {}, undefined, { float32 }).tensors[UNNAMED]!;
  fc.assert(
    fc.property(bodies, bodies, (a, b) => {
      const wide = decode(a, false);
      const narrow = decode(a, true);
      // A second parse reuses the parsers' scratch buffer: the first result must not change.
      const before = Array.from(narrow.data as Float32Array);
      decode(b, true);
      assert.deepEqual(Array.from(narrow.data as Float32Array), before, 'a later parse changed an earlier tensor');
      assert.deepEqual(narrow.shape, wide.shape);
      const w = wide.data as Float64Array;
      const overflows = w.some((v) => Number.isFinite(v) && !Number.isFinite(Math.fround(v)));
      assert.equal(narrow.dtype, overflows ? 'float64' : 'float32', a.text);
      w.forEach((v, i) => assert.ok(Object.is(narrow.data[i], overflows ? v : Math.fround(v)), `${a.text} @${i}`));
    }),
    { numRuns: 1000 },
  );
});

// --- round trips -----------------------------------------------------------------------------

const NUMERIC: Exclude<DType, 'string'>[] = ['float16', 'float32', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool'];

/** A random tensor of `dtype` (every bit pattern for the numeric types, NaN and infinities included). */
function tensorOf(dtype: DType, finite = false): fc.Arbitrary<Tensor> {
  return fc
    .array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 3 })
    .chain((shape) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const values: fc.Arbitrary<unknown> = (() => {
        switch (dtype) {
          case 'float16':
            return fc.integer({ min: 0, max: 0xffff }).filter((b) => !finite || (b & 0x7c00) !== 0x7c00);
          case 'float32':
            return fc.float({ noNaN: finite, noDefaultInfinity: finite });
          case 'float64':
            return fc.double({ noNaN: finite, noDefaultInfinity: finite });
          case 'int64':
            return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
          case 'uint64':
            return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
          case 'bool':
            return fc.integer({ min: 0, max: 1 });
          case 'string':
            return fc.string({ unit: 'binary', maxLength: 6 }).filter((s) => !s.includes('\u0000'));
          default: {
            const bits = { int8: 8, uint8: 8, int16: 16, uint16: 16, int32: 32, uint32: 32 }[dtype as 'int8']!;
            const signed = dtype.startsWith('int');
            return fc.integer({ min: signed ? -(2 ** (bits - 1)) : 0, max: signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1 });
          }
        }
      })();
      return fc.array(values, { minLength: size, maxLength: size }).map((v) => ({ shape, v }));
    })
    .map(({ shape, v }) => {
      if (dtype === 'string') return tensor('string', shape, v as string[]);
      const Ctor = { float16: Uint16Array, float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array, bool: Uint8Array }[dtype];
      return tensor(dtype, shape, (Ctor as unknown as { from(a: unknown[]): Float64Array }).from(v)) as Tensor;
    });
}

/**
 * The elements as comparable values: float16 decoded, NaN kept. `signedZero` tells -0 from 0: every
 * format keeps the sign, but a test that re-sends a parsed answer with JSON.stringify loses it.
 */
function values(t: Tensor, signedZero = false): unknown[] {
  return toFlatArray(t).map((v) => (typeof v === 'number' ? (Object.is(v, -0) && signedZero ? '-0' : Number.isNaN(v) ? 'NaN' : v === 0 ? 0 : v) : v));
}

test('NPY: every dtype round-trips bit for bit (encode → decode), strings included', () => {
  for (const dtype of [...NUMERIC, 'string'] as DType[]) {
    fc.assert(
      fc.property(tensorOf(dtype), (t) => {
        const back = decodeNpy(encodeNpy(t));
        assert.equal(back.dtype, t.dtype);
        assert.deepEqual(back.shape, t.shape);
        if (dtype === 'float16') assert.deepEqual(Array.from(back.data as Uint16Array), Array.from(t.data as Uint16Array));
        else assert.deepEqual(values(back, true), values(t, true));
      }),
      { numRuns: 60 },
    );
  }
});

/**
 * The same array as numpy may write it: format version 1, 2 or 3, C or Fortran order, little- or
 * big-endian (`>f4`; UTF-32 strings swapped per code unit), built from `encodeNpy`'s own bytes.
 */
function npyLayout(t: Tensor, version: 1 | 2 | 3, fortran: boolean, bigEndian: boolean): Buffer {
  const c = encodeNpy(t);
  const dataStart = 10 + c.readUInt16LE(8);
  const descr = /'descr': '([^']*)'/.exec(c.toString('latin1', 10, dataStart))![1]!;
  const data = c.subarray(dataStart);
  const size = t.shape.reduce((a, b) => a * b, 1);
  const item = size === 0 ? 0 : data.length / size;
  const out = Buffer.alloc(data.length);
  // Fortran order: the first axis varies fastest. p is the Fortran position, flat the C one.
  const strides = t.shape.map((_, k) => t.shape.slice(k + 1).reduce((a, b) => a * b, 1));
  for (let p = 0; p < size; p++) {
    let rest = p;
    let flat = 0;
    for (let k = 0; k < t.shape.length; k++) {
      flat += (rest % t.shape[k]!) * strides[k]!;
      rest = Math.floor(rest / t.shape[k]!);
    }
    data.copy(out, (fortran ? p : flat) * item, flat * item, (flat + 1) * item);
  }
  const unit = descr.includes('U') ? 4 : item;
  const swap = bigEndian && descr.startsWith('<') && unit > 1;
  if (swap) for (let at = 0; at < out.length; at += unit) out.subarray(at, at + unit).reverse();
  const dict = `{'descr': '${swap ? `>${descr.slice(1)}` : descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': (${t.shape.join(', ')}${t.shape.length === 1 ? ',' : ''}), }`;
  const prefix = version === 1 ? 10 : 12;
  const header = dict.padEnd(Math.ceil((prefix + dict.length + 1) / 64) * 64 - prefix - 1, ' ') + '\n';
  const head = Buffer.alloc(prefix);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]).copy(head);
  if (version === 1) head.writeUInt16LE(header.length, 8);
  else head.writeUInt32LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, version === 3 ? 'utf8' : 'latin1'), out]);
}

test('NPY: an array written in any format version, C or Fortran order, little- or big-endian decodes to the same tensor, bit for bit', () => {
  for (const dtype of [...NUMERIC, 'string'] as DType[]) {
    fc.assert(
      fc.property(tensorOf(dtype), fc.constantFrom<1 | 2 | 3>(1, 2, 3), fc.boolean(), fc.boolean(), (t, version, fortran, bigEndian) => {
        const back = decodeNpy(npyLayout(t, version, fortran, bigEndian));
        assert.equal(back.dtype, t.dtype);
        assert.deepEqual(back.shape, t.shape);
        if (dtype === 'string') assert.deepEqual(back.data, t.data);
        else {
          const bytes = (d: Tensor['data']) => Buffer.from((d as Uint8Array).buffer, (d as Uint8Array).byteOffset, (d as Uint8Array).byteLength);
          assert.deepEqual(bytes(back.data), bytes(t.data));
        }
      }),
      { numRuns: 40 },
    );
  }
});

test('NPZ: archives of several arrays (stored or deflated) give every array back', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...NUMERIC).chain((d) => tensorOf(d)), { minLength: 1, maxLength: 4 }), fc.boolean(), (list, compress) => {
      const files = Object.fromEntries(list.map((t, i) => [`t${i}.npy`, new Uint8Array(encodeNpy(t))]));
      const r = npzCodec.decode!(Buffer.from(zipSync(files, { level: compress ? 6 : 0 })), {});
      list.forEach((t, i) => assert.deepEqual(values(r.tensors[`t${i}`]!), values(t)));
    }),
    { numRuns: 100 },
  );
});

test('JSON (plain, TF Serving, v2) and JSON lines: finite values of every dtype round-trip through encode → decode (-0 keeps its sign)', () => {
  for (const dtype of [...NUMERIC, 'string'] as DType[]) {
    fc.assert(
      fc.property(tensorOf(dtype, true).filter((t) => t.shape.length > 0 && t.data.length > 0), (t) => {
        const asNumbers = (x: Tensor, signedZero = false) => values(x, signedZero).map((v) => (typeof v === 'boolean' ? Number(v) : v));
        const expected = asNumbers(t);
        const signed = asNumbers(t, true);
        // v2 keeps the dtype.
        const v2Request: DecodedRequest = { tensors: {}, form: 'v2' };
        const back = jsonCodec.decode!(v2AnswerAsRequest(jsonCodec.encode!({ y: t }, { request: v2Request })), {});
        assert.equal(back.tensors['y']!.dtype, t.dtype);
        assert.deepEqual(asNumbers(back.tensors['y']!), expected);
        // Plain and TF Serving forms give numbers (float64), booleans or strings with the same values.
        for (const form of dtype === 'int64' || dtype === 'uint64' ? [] : (['tensor', 'tfs-inputs', 'tfs-instances'] as const)) {
          const text = jsonCodec.encode!({ y: t }, { request: { tensors: {}, form } }).toString();
          const body = form === 'tensor' ? text : form === 'tfs-inputs' ? text.replace('"outputs"', '"inputs"') : text.replace('"predictions"', '"instances"');
          const again = jsonCodec.decode!(Buffer.from(body), {}).tensors[UNNAMED]!;
          assert.deepEqual(again.shape, t.shape);
          assert.deepEqual(asNumbers(again, true), signed, form);
        }
        // 64-bit values past 2^53 are written as strings (no client rounds them), so only the other dtypes read back as one tensor.
        if (dtype !== 'int64' && dtype !== 'uint64') {
          const lines = jsonLinesCodec.decode!(jsonLinesCodec.encode!({ y: t }, {}), {}).tensors[UNNAMED]!;
          assert.deepEqual(lines.shape, t.shape);
          assert.deepEqual(asNumbers(lines, true), signed);
        }
      }),
      { numRuns: 40 },
    );
  }
});

test('v2 INT64/UINT64: a decimal string or a JSON integer literal decodes exactly, past ±2^53 too (as Triton reads it), in application/json and the binary form; out of range is a 400', () => {
  const int64Range = fc.oneof(
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
    fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
    // Safe integers, read without a BigInt each: negatives, -1 and the 32-bit boundaries among them.
    fc.maxSafeInteger().map(BigInt),
    fc.constantFrom(-1n, -(2n ** 31n), 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, -(2n ** 32n), -(2n ** 32n) - 1n, 2n ** 53n - 1n, -(2n ** 53n) + 1n),
  );
  fc.assert(
    fc.property(int64Range, fc.constantFrom('INT64', 'UINT64'), fc.boolean(), fc.boolean(), (value, datatype, asString, binaryForm) => {
      const inRange = datatype === 'INT64' ? value >= -(2n ** 63n) && value < 2n ** 63n : value >= 0n && value < 2n ** 64n;
      // Beside it a parameter past 2^53, which stays the double JSON.parse makes of it, and an id past 2^53, echoed as sent.
      const json = `{"id": 9007199254740993, "parameters": {"p": [9007199254740993]}, "inputs": [{"name": "x", "shape": [1], "datatype": "${datatype}", "data": [${asString ? `"${value}"` : value}]}]}`;
      const decode = () =>
        binaryForm ? tritonBinaryCodec.decode!(Buffer.from(json), { 'json-header-size': String(Buffer.byteLength(json)) }) : jsonCodec.decode!(Buffer.from(json), {});
      if (inRange) {
        const r = decode();
        assert.equal((r.tensors['x']!.data as BigInt64Array)[0], value);
        assert.deepEqual(r.parameters, { p: [9007199254740992] });
        assert.equal(r.id, '9007199254740993');
        return;
      }
      assert.throws(decode, (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_JSON_PARSE' && e.status === 400 && /range/.test(e.message));
    }),
    RUNS,
  );
});

test('v2 INT64: a value past ±2^53 written with a fraction or an exponent (a double, not exact) is a 400 saying to write digits or a string', () => {
  for (const literal of ['9e18', '9007199254740993.0', '-9.2e18']) {
    const body = Buffer.from(`{"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [${literal}]}]}`);
    assert.throws(
      () => jsonCodec.decode!(body, {}),
      (e: unknown) => e instanceof ToolkitError && e.status === 400 && /exact: past ±2\^53 written as plain digits \(9007199254740993\) or as a string/.test(e.message),
      literal,
    );
  }
});

test('v2 INT64/UINT64: a number past the range whatever it was rounded from is a 400 saying so, not one asking for exact digits', () => {
  const cases: [string, string][] = [
    ['INT64', '1e20'],
    ['INT64', '-9.3e18'],
    ['INT64', '1180591620717411303424'], // 22 digits: longer than any int64, left a double by the exact parse
    ['UINT64', '-9007199254740993'],
    ['UINT64', '118059162071741130342400000000'],
  ];
  for (const [datatype, literal] of cases) {
    const body = Buffer.from(`{"inputs": [{"name": "x", "shape": [1], "datatype": "${datatype}", "data": [${literal}]}]}`);
    assert.throws(
      () => jsonCodec.decode!(body, {}),
      (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_JSON_PARSE' && new RegExp(`needs values in the ${datatype.toLowerCase()} range`).test(e.message) && !/exact/.test(e.message),
      `${datatype} ${literal}`,
    );
  }
});

test('v2: a refused element is quoted short (numbers as written, NaN as NaN), however long the value', () => {
  const element = fc.oneof(
    fc.string({ maxLength: 5000 }),
    fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1.5, -129, 1e39),
    fc.dictionary(fc.string(), fc.string({ maxLength: 3000 })),
    fc.array(fc.string({ maxLength: 3000 }), { maxLength: 3 }).map((a) => [a]),
  );
  fc.assert(
    fc.property(element, fc.constantFrom('BOOL', 'INT8', 'INT64', 'FP32', 'FP16'), (v, datatype) => {
      const text = typeof v === 'number' ? String(v) : JSON.stringify(v);
      const body = Buffer.from(`{"inputs": [{"name": "x", "shape": [1], "datatype": "${datatype}", "data": [${text}]}]}`);
      try {
        jsonCodec.decode!(body, {});
        return; // an element the datatype takes (or nested arrays, which refuse by count)
      } catch (err) {
        assert.ok(err instanceof ToolkitError && err.status === 400, String(err));
        assert.ok(err.message.length < 300, `a ${err.message.length}-character message`);
        if (typeof v === 'number' && /data\[0\] is/.test(err.message)) assert.match(err.message, new RegExp(`data\\[0\\] is ${String(v).replace('+', '\\+')} `));
      }
    }),
    RUNS,
  );
});

test('CSV: float and integer outputs round-trip exactly (NaN, infinities and -0 included)', () => {
  for (const dtype of ['float64', 'float32', 'float16', 'int32', 'uint8', 'int8'] as DType[]) {
    fc.assert(
      fc.property(tensorOf(dtype).filter((t) => t.shape.length === 2 && t.data.length > 0), (t) => {
        const back = csvCodec.decode!(Buffer.from(tensorToCsv(t), 'latin1'), {}).tensors[UNNAMED]!;
        assert.deepEqual(back.shape, t.shape);
        const want = dtype === 'float16' ? Array.from(t.data as Uint16Array, fromFloat16Bits) : Array.from(t.data as ArrayLike<number>);
        want.forEach((v, i) => assert.ok(Object.is((back.data as Float64Array)[i], v), `${v}`));
      }),
      { numRuns: 80 },
    );
  }
});

/**
 * Reads CSV as Python's `csv.reader` does with its defaults (smkit's own CSV decoder reads numbers
 * only): RFC 4180 quoting with `""` for a quote, and an empty line as a row of no fields.
 */
function readCsvAsPython(text: string): string[][] {
  const rows: string[][] = [];
  let i = 0;
  while (i < text.length) {
    const row: string[] = [];
    if (text[i] === '\n') {
      rows.push(row);
      i++;
      continue;
    }
    for (;;) {
      let field = '';
      if (text[i] === '"') {
        i++;
        for (;;) {
          const q = text.indexOf('"', i);
          if (q < 0) throw new Error(`unclosed quote in ${JSON.stringify(text)}`);
          field += text.slice(i, q);
          i = q + 1;
          if (text[i] !== '"') break;
          field += '"';
          i++;
        }
      } else {
        while (i < text.length && text[i] !== ',' && text[i] !== '\n') field += text[i++];
      }
      row.push(field);
      if (text[i++] !== ',') break;
    }
    rows.push(row);
  }
  return rows;
}

test('CSV: string outputs read back row for row as Python csv reads them (empty strings, commas, quotes, CR and LF), a row of one empty string included', () => {
  const field = fc.stringMatching(/^[a ,"\r\n]{0,4}$/);
  const shapes = fc.oneof(fc.tuple(fc.integer({ min: 0, max: 5 })), fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 3 })), fc.constant([] as number[]));
  fc.assert(
    fc.property(
      shapes.chain((shape) => fc.array(field, { minLength: shape.reduce((a, d) => a * d, 1), maxLength: shape.reduce((a, d) => a * d, 1) }).map((data) => tensor('string', shape, data))),
      (t) => {
        const data = t.data as string[];
        const rows = t.shape.length === 0 ? 1 : t.shape[0]!;
        const cols = t.shape.length === 2 ? t.shape[1]! : 1;
        const want = Array.from({ length: rows }, (_, r) => data.slice(r * cols, (r + 1) * cols));
        assert.deepEqual(readCsvAsPython(tensorToCsv(t)), want);
      },
    ),
    RUNS,
  );
});

test('TF Serving: non-finite floats are written as NaN/Infinity tokens and read back as the same values, -0 included', () => {
  fc.assert(
    fc.property(tensorOf('float64').filter((t) => t.shape.length >= 1 && t.data.length > 0), fc.constantFrom('tfs-inputs' as const, 'tfs-instances' as const), (t, form) => {
      const text = jsonCodec.encode!({ y: t }, { request: { tensors: {}, form } }).toString();
      const body = form === 'tfs-inputs' ? text.replace('"outputs"', '"inputs"') : text.replace('"predictions"', '"instances"');
      const back = jsonCodec.decode!(Buffer.from(body), {}).tensors[UNNAMED]!;
      assert.deepEqual(values(back, true), values(t, true));
    }),
    RUNS,
  );
});

test('Triton binary tensor data: every dtype round-trips bit for bit (binary answer → binary request)', () => {
  const request: DecodedRequest = { tensors: {}, form: 'v2', binaryOutputs: { all: true, byName: new Map() } };
  for (const dtype of [...NUMERIC, 'string'] as DType[]) {
    fc.assert(
      fc.property(tensorOf(dtype), (t) => {
        const answer = tritonBinaryCodec.encodeAnswer({ y: t }, { request });
        const headerSize = Number(/json-header-size=(\d+)$/.exec(answer.contentType)![1]);
        // An answer's output entries ({name, shape, datatype, parameters: {binary_data_size}}) are valid request inputs.
        const outputs = JSON.parse(answer.body.subarray(0, headerSize).toString()).outputs;
        const json = Buffer.from(JSON.stringify({ inputs: outputs }));
        const back = tritonBinaryCodec.decode!(Buffer.concat([json, answer.body.subarray(headerSize)]), { 'json-header-size': String(json.length) }).tensors['y']!;
        assert.equal(back.dtype, t.dtype);
        assert.deepEqual(back.shape, t.shape);
        if (dtype === 'float16') assert.deepEqual(Array.from(back.data as Uint16Array), Array.from(t.data as Uint16Array));
        else assert.deepEqual(values(back, true), values(t, true));
      }),
      { numRuns: 40 },
    );
  }
});

test('Triton binary tensor data: any BYTES elements (UTF-8 or not) come back byte for byte when echoed, in a copy of the strings too', () => {
  const element = fc.oneof(fc.uint8Array({ maxLength: 12 }), fc.string({ maxLength: 6 }).map((t) => new Uint8Array(Buffer.from(t, 'utf8'))));
  fc.assert(
    fc.property(fc.array(element, { minLength: 1, maxLength: 8 }), (elements) => {
      const bytes = Buffer.concat(elements.flatMap((e) => [Buffer.from(Uint32Array.of(e.length).buffer), Buffer.from(e)]));
      const json = Buffer.from(JSON.stringify({ inputs: [{ name: 'b', shape: [elements.length], datatype: 'BYTES', parameters: { binary_data_size: bytes.length } }], parameters: { binary_data_output: true } }));
      const request = tritonBinaryCodec.decode!(Buffer.concat([json, bytes]), { 'json-header-size': String(json.length) });
      const echoed = tritonBinaryCodec.encodeAnswer({ b: { ...request.tensors['b']!, data: [...(request.tensors['b']!.data as string[])] } }, { request });
      const headerSize = Number(/json-header-size=(\d+)$/.exec(echoed.contentType)![1]);
      // Two elements that read as the same string, one as UTF-8 and one not, are the one case left to UTF-8.
      const strings = request.tensors['b']!.data as string[];
      const ambiguous = strings.some((s, i) => strings.some((t, j) => s === t && Buffer.compare(Buffer.from(elements[i]!), Buffer.from(elements[j]!)) !== 0));
      if (!ambiguous) assert.deepEqual(echoed.body.subarray(headerSize), bytes);
    }),
    { numRuns: 300 },
  );
});

test("Triton raw request (json-header-size=0): any body to any sole input decodes to the input's dtype and a shape that holds it, or is a catalogued 4xx", () => {
  const dims = fc.array(fc.oneof(fc.constant(-1), fc.constant('N'), fc.nat({ max: 4 })), { maxLength: 4 });
  const dtypes = fc.constantFrom<DType>(...NUMERIC, 'string');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), dtypes, dims, (body, dtype, shape) => {
      const buf = Buffer.from(body);
      decodesOrRefuses(tritonBinaryCodec, buf, { 'json-header-size': '0' }, { soleInput: { name: 'x', dtype, shape } });
      let r: DecodedRequest;
      try {
        r = tritonBinaryCodec.decode!(buf, { 'json-header-size': '0' }, LIMITS, { soleInput: { name: 'x', dtype, shape } });
      } catch {
        return;
      }
      const t = r.tensors['x']!;
      assert.equal(t.dtype, dtype);
      assert.equal(t.data.length, t.shape.reduce((a, b) => a * b, 1));
      assert.equal(t.shape.length, shape.length);
      if (dtype !== 'string') assert.equal((t.data as Uint8Array).byteLength, buf.length);
    }),
    { numRuns: 1000 },
  );
});

test('v2 classification: each row\'s k highest values, highest first (ties by index, NaN last), their indices and values as std::to_string writes them', () => {
  const value = fc.oneof({ weight: 9, arbitrary: fc.integer({ min: -5, max: 5 }) }, { weight: 1, arbitrary: fc.constant(NaN) });
  fc.assert(
    // Rows past 64 values with k past 64 take the sorting path; the rest the one-pass one.
    fc.property(fc.integer({ min: 1, max: 3 }), fc.array(value, { minLength: 1, maxLength: 80 }), fc.integer({ min: 1, max: 100 }), (rows, row, k) => {
      const data = Float64Array.from(Array.from({ length: rows }, (_, r) => row.map((v) => v + r)).flat());
      const json = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [0] }], outputs: [{ name: 'y', parameters: { classification: k } }] }));
      const request = jsonCodec.decode!(json, {});
      const out = JSON.parse(jsonCodec.encode!({ y: { dtype: 'float64', shape: [rows, row.length], data } }, { request }).toString()).outputs[0];
      const count = Math.min(k, row.length);
      const rank = (v: number) => (Number.isNaN(v) ? -Infinity : v);
      const expected = Array.from({ length: rows }, (_, r) =>
        row
          .map((v, i) => [v + r, i] as const)
          .sort((a, b) => Number(Number.isNaN(a[0])) - Number(Number.isNaN(b[0])) || rank(b[0]) - rank(a[0]) || a[1] - b[1])
          .slice(0, count)
          .map(([v, i]) => `${Number.isNaN(v) ? 'nan' : v.toFixed(6)}:${i}`),
      ).flat();
      assert.deepEqual(out, { name: 'y', shape: [rows, count], datatype: 'BYTES', data: expected });
    }),
    { numRuns: 200 },
  );
});

// --- hostile bytes ---------------------------------------------------------------------------

const CODECS: { codec: Codec; params?: Record<string, string>; hints?: DecodeHints }[] = [
  { codec: jsonCodec },
  { codec: jsonCodec, hints: { float32: true } },
  { codec: csvCodec },
  { codec: csvCodec, hints: { float32: true } },
  { codec: csvCodec, params: { header: 'present' } },
  { codec: npyCodec },
  { codec: npzCodec },
  { codec: jsonLinesCodec },
  { codec: jsonLinesCodec, hints: { float32: true } },
  { codec: rawCodec },
];

const LIMITS = { maxDecodedBytes: 1024 * 1024 };

/** Decodes or throws a catalogued 4xx ToolkitError; anything else fails. Decoded tensors stay within the budget (or are views of the body). */
function decodesOrRefuses(codec: Codec, body: Buffer, params: Record<string, string> = {}, hints?: DecodeHints): void {
  let r: DecodedRequest;
  try {
    r = codec.decode!(body, params, LIMITS, hints);
  } catch (err) {
    assert.ok(err instanceof ToolkitError, `${codec.mediaType}: ${String((err as Error)?.stack ?? err)}`);
    assert.ok(err.code in ERROR_CATALOGUE && err.status >= 400 && err.status < 500, `${codec.mediaType}: ${err.code} ${err.status} ${err.message}`);
    assert.ok(err.message.length < 2000, `${codec.mediaType}: a ${err.message.length}-character message`);
    return;
  }
  let bytes = 0;
  for (const t of Object.values(r.tensors)) {
    // An empty tensor costs its rows: its answer writes one per entry of the dimensions before the zero.
    if (t.data.length === 0) bytes += chargedElements(t.shape);
    else bytes += Array.isArray(t.data) ? t.data.reduce((n, s) => n + 8 + 2 * s.length, 0) : (t.data as Uint8Array).byteLength;
  }
  assert.ok(bytes <= Math.max(LIMITS.maxDecodedBytes, 8 * body.length + 1024), `${codec.mediaType}: ${bytes} decoded bytes from ${body.length}`);
}

/** Valid bodies of every codec, as seeds for mutation. */
const SEEDS: Buffer[] = [
  Buffer.from('[[1.5, 2], [3, -4e-3]]'),
  Buffer.from('{"instances": [{"a": [1, 2], "b": {"b64": "YWJj"}}], "signature_name": "serving_default"}'),
  Buffer.from('{"inputs": [{"name": "x", "shape": [2], "datatype": "INT64", "data": ["9007199254740993", 2]}]}'),
  Buffer.from('{"inputs": {"x": [[NaN, Infinity]]}}'),
  Buffer.from('1,2,3\n4.5,nan,"6"\n'),
  Buffer.from('[1,2]\n[3,4]\n{"a":1}\n'),
  encodeNpy(tensor('float32', [2, 2], Float32Array.of(1, 2, 3, 4))),
  encodeNpy(tensor('string', [2], ['ab', 'c😀'])),
  Buffer.from(zipSync({ 'x.npy': new Uint8Array(encodeNpy(tensor('int16', [3], Int16Array.of(1, 2, 3)))) }, { level: 6 })),
  Buffer.from(zipSync({ 'format.npy': new Uint8Array(encodeNpy(tensor('string', [], ['csr']))), 'shape.npy': new Uint8Array(encodeNpy(tensor('int64', [2], BigInt64Array.of(2n, 2n)))), 'data.npy': new Uint8Array(encodeNpy(tensor('float64', [1], Float64Array.of(1)))), 'indices.npy': new Uint8Array(encodeNpy(tensor('int32', [1], Int32Array.of(1)))), 'indptr.npy': new Uint8Array(encodeNpy(tensor('int32', [3], Int32Array.of(0, 1, 1)))) })),
  Buffer.concat([encodeNpy(tensor('float64', [1], Float64Array.of(0))).subarray(0, 128), deflateRawSync(Buffer.alloc(10_000))]),
];

const mutated = mutatedBodies(SEEDS, 6);

const bodies = fc.oneof(
  fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)),
  fc.string({ unit: fc.constantFrom(...'[]{},:"0123456789.eE-+ \nNaInfityrulsbx'), maxLength: 200 }).map((s) => Buffer.from(s)),
  mutated,
);

test('any byte string: every codec decodes it or refuses it with a catalogued 4xx, never another exception or an unbounded allocation', () => {
  fc.assert(
    fc.property(bodies, (body) => {
      for (const { codec, params, hints } of CODECS) decodesOrRefuses(codec, body, params, hints);
    }),
    { numRuns: 3000 },
  );
});

/** Valid Triton binary bodies (FP32, INT64, BYTES and a JSON input), with their json-header-size. */
const TRITON_SEEDS: [Buffer, number][] = (() => {
  const json = JSON.stringify({
    inputs: [
      { name: 'a', shape: [1, 2], datatype: 'FP32', parameters: { binary_data_size: 8 } },
      { name: 'b', shape: [1], datatype: 'INT64', parameters: { binary_data_size: 8 } },
      { name: 'c', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: 11 } },
      { name: 'd', shape: [1], datatype: 'BOOL', data: [true] },
    ],
    outputs: [{ name: 'a', parameters: { binary_data: true } }],
  });
  const bin = Buffer.concat([Buffer.alloc(16, 0x3f), Buffer.from([3, 0, 0, 0, 0x61, 0x62, 0x63, 0, 0, 0, 0])]);
  return [[Buffer.concat([Buffer.from(json), bin]), json.length]];
})();

test('Triton binary tensor data: any body and json-header-size decodes or is refused with a catalogued 4xx', () => {
  const [seed, seedSize] = TRITON_SEEDS[0]!;
  const headerSizes = fc.oneof(
    fc.integer({ min: seedSize - 3, max: seedSize + 3 }).map(String),
    fc.nat({ max: 600 }).map(String),
    fc.constantFrom('', '-1', 'None', '1e3', ' 12', '0x10', '99999999999999999999999', String(seedSize)),
  );
  fc.assert(
    fc.property(fc.oneof(mutatedBodies([seed], 6), bodies), headerSizes, (body, size) => decodesOrRefuses(tritonBinaryCodec, body, { 'json-header-size': size })),
    { numRuns: 1500 },
  );
  decodesOrRefuses(tritonBinaryCodec, seed, {});
  assert.equal(Object.keys(tritonBinaryCodec.decode!(seed, { 'json-header-size': String(seedSize) }).tensors).length, 4);
});

test('text decoders (JSON, CSV, JSON lines) are held to the decoded-size budget too', () => {
  const rows = `${'1,'.repeat(999)}1\n`.repeat(100); // 100k numbers: 800 KB of float64 from 200 KB of text
  const tooLarge = (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_DECODED_TOO_LARGE' && e.status === 413;
  assert.throws(() => csvCodec.decode!(Buffer.from(rows), {}, { maxDecodedBytes: 500_000 }), tooLarge);
  assert.equal(csvCodec.decode!(Buffer.from(rows), {}, { maxDecodedBytes: 900_000 }).tensors[UNNAMED]!.data.length, 100_000);
  const json = `[${rows.trim().split('\n').map((r) => `[${r}]`).join(',')}]`;
  assert.throws(() => jsonCodec.decode!(Buffer.from(json), {}, { maxDecodedBytes: 500_000 }), tooLarge);
  assert.throws(() => jsonCodec.decode!(Buffer.from(`{"inputs": {"s": ${JSON.stringify(['x'.repeat(400_000)])}}}`), {}, { maxDecodedBytes: 500_000 }), tooLarge);
  const lines = rows.trim().split('\n').map((r) => `[${r}]`).join('\n');
  assert.throws(() => jsonLinesCodec.decode!(Buffer.from(lines), {}, { maxDecodedBytes: 500_000 }), tooLarge);
  // Many small named tensors: each costs far more than its one value (the tensor, shape and array objects).
  const named = (n: number, form: 'inputs' | 'instances' | 'v2') => {
    const keys = Array.from({ length: n }, (_, i) => `k${i}`);
    if (form === 'inputs') return `{"inputs": {${keys.map((k) => `"${k}": 1`).join(',')}}}`;
    if (form === 'instances') return `{"instances": [{${keys.map((k) => `"${k}": 1`).join(',')}}]}`;
    return `{"inputs": [${keys.map((k) => `{"name": "${k}", "shape": [1], "datatype": "FP32", "data": [1]}`).join(',')}]}`;
  };
  for (const form of ['inputs', 'instances', 'v2'] as const) {
    assert.throws(() => jsonCodec.decode!(Buffer.from(named(5000, form)), {}, { maxDecodedBytes: 500_000 }), tooLarge, form);
    assert.equal(Object.keys(jsonCodec.decode!(Buffer.from(named(100, form)), {}, { maxDecodedBytes: 500_000 }).tensors).length, 100, form);
  }
});

/** Shape entries as a client may declare them: small, zero, past 2^32 and 2^53, negative, fractional, and not numbers at all. */
const shapeEntry = fc.oneof(
  fc.integer({ min: 0, max: 4 }),
  fc.constantFrom<unknown>(0, 2 ** 32, 1e15, 2 ** 53, 2 ** 53 + 2, 1e308, -1, -0, 1.5, Number.NaN, '3', null, true, [2]),
);
const V2_TYPES = ['BOOL', 'UINT8', 'INT16', 'UINT32', 'INT64', 'UINT64', 'FP16', 'BF16', 'FP32', 'FP64', 'BYTES'];

test('declared shapes (v2 JSON, Triton binary, NPY) with little or no data: each decodes within the budget, empty ones too, or is a catalogued 4xx before anything is allocated', () => {
  const npyDim = (d: unknown): string => (typeof d === 'number' ? (Number.isInteger(d) ? BigInt(d).toString() : String(d)) : d === null ? 'None' : d === true ? 'True' : JSON.stringify(d));
  fc.assert(
    fc.property(fc.array(shapeEntry, { maxLength: 6 }), fc.constantFrom(...V2_TYPES), fc.nat({ max: 2 }), (shape, datatype, count) => {
      const data = Array.from({ length: count }, () => (datatype === 'BYTES' ? 'a' : datatype === 'BOOL' ? true : 1));
      decodesOrRefuses(jsonCodec, Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape, datatype, data }] })));
      const bytes = Buffer.alloc(count * (datatype === 'BYTES' ? 5 : 8));
      if (datatype === 'BYTES') for (let i = 0; i < count; i++) bytes.writeUInt32LE(1, 5 * i);
      const json = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape, datatype, parameters: { binary_data_size: bytes.length } }] }));
      decodesOrRefuses(tritonBinaryCodec, Buffer.concat([json, bytes]), { 'json-header-size': String(json.length) });
      const dict = `{'descr': '<f8', 'fortran_order': ${count === 2 ? 'True' : 'False'}, 'shape': (${shape.map(npyDim).join(', ')}${shape.length === 1 ? ',' : ''}), }\n`;
      const head = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
      head.writeUInt16LE(dict.length, 8);
      decodesOrRefuses(npyCodec, Buffer.concat([head, Buffer.from(dict, 'latin1'), Buffer.alloc(8 * count)]));
    }),
    { numRuns: 600 },
  );
});

/** A v2 answer's text sent back as a request: its `outputs` become the `inputs`, every literal as written. */
function v2AnswerAsRequest(answer: Buffer): Buffer {
  const text = answer.toString();
  return Buffer.from(`{"inputs":${text.slice(text.indexOf('"outputs":') + '"outputs":'.length, -1)}}`);
}

test('v2 JSON: every dtype keeps its datatype, shape (rank 0 and empty dimensions included) and values from answer to request: int64 past 2^53 as exact literals, NaN and ±Infinity as their tokens', () => {
  const request: DecodedRequest = { tensors: {}, form: 'v2' };
  for (const dtype of [...NUMERIC, 'string'] as DType[]) {
    fc.assert(
      fc.property(tensorOf(dtype), (t) => {
        const answer = jsonCodec.encode!({ y: t }, { request });
        // Exact literals, never strings or null, as Triton writes them.
        if (dtype === 'int64' || dtype === 'uint64') assert.ok(answer.toString().includes(`"data":[${(t.data as BigInt64Array).join(',')}]`));
        // (A string tensor's text may hold "null" inside a string.)
        if (dtype !== 'string') assert.ok(!/null/.test(answer.toString()));
        const back = jsonCodec.decode!(v2AnswerAsRequest(answer), {}).tensors['y']!;
        assert.equal(back.dtype, t.dtype);
        assert.deepEqual(back.shape, t.shape);
        assert.deepEqual(values(back), values(t));
      }),
      { numRuns: 40 },
    );
  }
});

test('JSON answers of float tensors (every writer: plain, TF Serving rows and columns, v2, JSON lines, inside other values) write each number as a float token, and JSON.parse gives the values back', () => {
  const anyFloat = fc.oneof(
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
    fc.double({ noNaN: false }),
    fc.constantFrom(0, -0, 1e21, 1e20, 2 ** 53, -(2 ** 60), 123456789012345680000, 0.5, NaN, Infinity, -Infinity),
  );
  const shaped = fc
    .array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 4 })
    .chain((shape) => fc.tuple(fc.constant(shape), fc.array(anyFloat, { minLength: shape.reduce((a, b) => a * b, 1), maxLength: shape.reduce((a, b) => a * b, 1) }), fc.constantFrom('float16', 'float32', 'float64')));
  // A number token with neither a point nor an exponent, standing alone (after [ , : or at the start).
  const integerToken = /(?:^|[[,:])-?\d+(?=$|[\],}])/;
  fc.assert(
    fc.property(shaped, ([shape, values, dtype]) => {
      const data = dtype === 'float64' ? Float64Array.from(values) : dtype === 'float32' ? Float32Array.from(values) : Uint16Array.from(values, toFloat16Bits);
      const t = { dtype, shape, data } as Tensor;
      const expected = toFlatArray(t) as number[];
      const texts = [
        jsonCodec.encode!({ y: t }, {}).toString(),
        jsonCodec.encode!({ y: t, z: t }, {}).toString(),
        jsonCodec.encode!({ y: t }, { request: { tensors: {}, form: 'tfs-instances' } }).toString(),
        jsonCodec.encode!({ y: t }, { request: { tensors: {}, form: 'tfs-inputs' } }).toString(),
        jsonCodec.encode!({ y: t }, { request: { tensors: {}, form: 'v2' } }).toString(),
        jsonLinesCodec.encode!({ y: t }, {}).toString(),
        jsonCodec.encode!({ scores: t, label: 'a' }, {}).toString(),
      ];
      // One object per row needs rows.
      if (shape.length > 0) {
        texts.push(jsonCodec.encode!({ y: t, z: t }, { request: { tensors: {}, form: 'tfs-instances' } }).toString(), jsonLinesCodec.encode!({ y: t, z: t }, {}).toString());
      }
      // (A v2 shape is integers.)
      for (const text of texts) assert.doesNotMatch(text.replace(/"shape":\[[\d,]*\]/g, ''), integerToken, text);
      // Plain JSON reads back as the same values (non-finite as null, -0 with its sign).
      const flat = (v: unknown): unknown[] => (Array.isArray(v) ? v.flatMap(flat) : [v]);
      assert.deepEqual(flat(JSON.parse(texts[0]!)), expected.map((v) => (Number.isFinite(v) ? v : null)));
    }),
    { numRuns: 500 },
  );
});

/** Rectangular nested arrays of `rank` dimensions (sizes 0–3) whose elements come from `leaf`. */
function nestedOf<T>(leaf: fc.Arbitrary<T>): fc.Arbitrary<{ shape: number[]; value: unknown; flat: T[] }> {
  return fc
    .array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 3 })
    .chain((shape) => fc.array(leaf, { minLength: shape.reduce((a, b) => a * b, 1), maxLength: shape.reduce((a, b) => a * b, 1) }).map((flat) => ({ shape, flat })))
    .map(({ shape, flat }) => {
      let k = 0;
      const build = (d: number): unknown => (d === shape.length ? flat[k++] : Array.from({ length: shape[d]! }, () => build(d + 1)));
      return { shape, value: build(0), flat };
    });
}

test('plain values from user code (nested arrays of bigints and whole numbers) answer in NPY and CSV exactly: int64, or uint64 past 2^63 - 1', () => {
  const whole = fc.oneof(
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    fc.maxSafeInteger(),
  );
  fc.assert(
    fc.property(nestedOf(whole).filter(({ flat }) => flat.some((x) => typeof x === 'bigint')), ({ shape, value, flat }) => {
      const exact = flat.map((x) => BigInt(x));
      const fitsInt64 = exact.every((x) => x >= -(2n ** 63n) && x < 2n ** 63n);
      const fitsUint64 = exact.every((x) => x >= 0n && x < 2n ** 64n);
      const encode = (codec: Codec) => codec.encode!(value, {});
      if (!fitsInt64 && !fitsUint64) {
        assert.throws(() => encode(npyCodec), (e: unknown) => e instanceof ToolkitError && /past the 64-bit integer range/.test(e.message));
        assert.throws(() => encode(csvCodec), (e: unknown) => e instanceof ToolkitError);
        return;
      }
      const back = decodeNpy(encode(npyCodec));
      assert.equal(back.dtype, fitsInt64 ? 'int64' : 'uint64');
      assert.deepEqual(back.shape, shape);
      assert.deepEqual([...(back.data as BigInt64Array)], exact);
      // CSV: one line per row of the first axis, the rest of each row's values joined by commas.
      const rows = shape[0]!;
      const perRow = rows === 0 ? 0 : exact.length / rows;
      const want = Array.from({ length: shape.length === 1 ? exact.length : rows }, (_, r) =>
        shape.length === 1 ? String(exact[r]) : exact.slice(r * perRow, (r + 1) * perRow).join(','),
      );
      assert.equal(encode(csvCodec).toString(), want.map((l) => `${l}\n`).join(''));
    }),
    RUNS,
  );
});

test('plain values from user code (nested arrays of whole numbers) become int64 exactly: each element the BigInt of its number, -0, ±(2^53 - 1) and 32-bit boundaries included', () => {
  const edges = [0, -0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 32 - 1, 2 ** 32, -(2 ** 32), -(2 ** 32) - 1, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
  const whole = fc.oneof(fc.maxSafeInteger(), fc.integer(), fc.constantFrom(...edges), fc.integer({ min: -(2 ** 20), max: 2 ** 20 }).map((k) => k * 2 ** 32 + (k % 3)));
  fc.assert(
    fc.property(nestedOf(whole).filter(({ flat }) => flat.length > 0), ({ shape, value, flat }) => {
      const t = plainToTensor(value, 'application/x-npy');
      assert.equal(t.dtype, 'int64');
      assert.deepEqual(t.shape, shape);
      assert.deepEqual([...(t.data as BigInt64Array)], flat.map((x) => BigInt(x)));
      assert.deepEqual([...safeIntegersToInt64(Float64Array.from(flat))], flat.map((x) => BigInt(x)));
    }),
    { numRuns: 1000 },
  );
});

test('int64 and uint64 answers in JSON: each element is the number of a safe integer and the decimal string of any other, read from its 32-bit halves as bigintToJsonValue gives it', () => {
  const near = (x: bigint) => fc.integer({ min: -3, max: 3 }).map((k) => x + BigInt(k));
  const int64 = fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.maxSafeInteger().map(BigInt), near(2n ** 53n), near(-(2n ** 53n)), near(2n ** 32n), near(-(2n ** 32n)), near(0n), fc.constantFrom(-(2n ** 63n), 2n ** 63n - 1n));
  const uint64 = fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.maxSafeInteger().map((x) => BigInt(Math.abs(x))), near(2n ** 53n), near(2n ** 32n), fc.constantFrom(0n, 1n, 2n ** 63n, 2n ** 64n - 1n));
  fc.assert(
    fc.property(fc.array(int64, { maxLength: 20 }), fc.array(uint64, { maxLength: 20 }), fc.nat(3), (signed, unsigned, skip) => {
      // A view that starts past its buffer's start, as a tensor cut from a batch is.
      const s = BigInt64Array.from([0n, 0n, 0n, ...signed]).subarray(skip % 4);
      const u = BigUint64Array.from([0n, 0n, 0n, ...unsigned]).subarray(skip % 4);
      assert.deepEqual(int64JsonValues(s), Array.from(s, bigintToJsonValue));
      assert.deepEqual(int64JsonValues(u), Array.from(u, bigintToJsonValue));
    }),
    { numRuns: 1000 },
  );
});

test('plain values from user code (nested arrays of typed arrays, one per row) answer in NPY bit for bit, as one tensor of their dtype', () => {
  const kinds = [
    ['float32', (n: number[]) => Float32Array.from(n)],
    ['float64', (n: number[]) => Float64Array.from(n)],
    ['int32', (n: number[]) => Int32Array.from(n)],
    ['uint8', (n: number[]) => Uint8Array.from(n)],
    ['int16', (n: number[]) => Int16Array.from(n)],
  ] as const;
  fc.assert(
    fc.property(
      fc.constantFrom(...kinds),
      fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 2 }),
      fc.integer({ min: 0, max: 4 }),
      fc.array(fc.double({ noNaN: true, min: -1e6, max: 1e6 }), { minLength: 100, maxLength: 100 }),
      ([dtype, make], outer, rowLength, pool) => {
        let k = 0;
        const rows: ArrayLike<number>[] = [];
        const build = (d: number): unknown =>
          d === outer.length ? (rows[rows.length] = make(Array.from({ length: rowLength }, () => pool[k++ % pool.length]!))) : Array.from({ length: outer[d]! }, () => build(d + 1));
        const value = Array.from({ length: 2 }, () => build(0));
        const back = decodeNpy(npyCodec.encode!(value, {}));
        assert.equal(back.dtype, dtype);
        assert.deepEqual(back.shape, [2, ...outer, rowLength]);
        const want = rows.flatMap((r) => Array.from(r));
        assert.deepEqual(Array.from(back.data as ArrayLike<number>), want);
      },
    ),
    RUNS,
  );
});

test('multipart forms: any mix of text fields and CSV, JSON, NPY, NPZ, JSON lines or untyped files, named after inputs or not, decodes within the budget or is a catalogued 4xx; CSV files under one name join along their first axis', () => {
  const registry = createDefaultCodecs();
  const csvRows = fc.array(fc.array(fc.integer({ min: -999, max: 999 }), { minLength: 2, maxLength: 2 }), { minLength: 1, maxLength: 3 });
  const data = fc.oneof(
    csvRows.map((rows) => ({ type: 'text/csv', bytes: Buffer.from(rows.map((r) => r.join(',')).join('\n')) })),
    fc.jsonValue({ maxDepth: 3 }).map((v) => ({ type: 'application/json', bytes: Buffer.from(JSON.stringify(v) ?? 'null') })),
    csvRows.map((rows) => ({ type: 'application/x-npy', bytes: encodeNpy(tensor('float64', [rows.length, 2], Float64Array.from(rows.flat()))) })),
    fc.constantFrom('application/x-npz', 'application/jsonlines', 'application/octet-stream', 'text/plain', '', 'text/csv; header=present', 'application/vnd.sagemaker-triton.binary+json;json-header-size=2', 'multipart/form-data')
      .chain((type) => fc.uint8Array({ maxLength: 64 }).map((a) => ({ type, bytes: Buffer.from(a) }))),
  );
  const part = fc.record({
    field: fc.constantFrom('x', 'y', '__proto__', 'constructor', ''),
    filename: fc.option(fc.constantFrom('a.csv', 'b', ''), { nil: undefined }),
    data,
  });
  fc.assert(
    fc.property(fc.array(part, { maxLength: 5 }), fc.subarray(['x', 'y', '__proto__']), (spec, inputNames) => {
      const parts: FormPart[] = spec.map(({ field, filename, data: d }) => ({ field, ...(filename === undefined ? {} : { filename }), contentType: d.type, data: d.bytes }));
      let r: DecodedRequest;
      try {
        r = decodeFormParts(parts, registry, inputNames, LIMITS);
      } catch (err) {
        assert.ok(err instanceof ToolkitError, String((err as Error)?.stack ?? err));
        assert.ok(err.code in ERROR_CATALOGUE && err.status >= 400 && err.status < 500, `${err.code} ${err.status} ${err.message}`);
        return;
      }
      for (const t of Object.values(r.tensors)) assert.equal(t.data.length, t.shape.reduce((a, b) => a * b, 1));
      // CSV files alone under an unnamed field join along their first axis, in order.
      // (A part without a file name whose type is text/plain or none is a text field, a parameter.)
      const csvFiles = spec.filter((s) => !inputNames.includes(s.field) && !(s.filename === undefined && (s.data.type === '' || s.data.type === 'text/plain')));
      if (csvFiles.length > 0 && csvFiles.every((s) => s.data.type === 'text/csv')) {
        const want = csvFiles.flatMap((s) => s.data.bytes.toString().split('\n').map((l) => l.split(',').map(Number)));
        assert.deepEqual(r.tensors[UNNAMED]!.shape, [want.length, 2]);
        assert.deepEqual([...(r.tensors[UNNAMED]!.data as Float64Array)], want.flat());
      }
    }),
    { numRuns: 400 },
  );
});
