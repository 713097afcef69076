import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Tensor } from '../core/tensor.js';
import { numericWasmAvailable, numericWasmMemoryBytes, numericWasmSampledTexts, parsePlainCsv, parsePlainJsonLines, scanPlainJsonArray } from './numeric-text-wasm.js';
import { parseNumericCsv, parseNumericCsvFull } from './csv-parse.js';
import { scanNumericArray } from './json-fast-array.js';
import { scanNumericLinesInScript } from './jsonlines.js';
import { mutatedBodies } from '../../test/helpers/hostile-bodies.js';
import { nearPowerOfTwo, nearPowerOfTwoTexts } from '../../test/helpers/near-powers-of-two.js';

/**
 * The WebAssembly parsers must answer exactly as the TypeScript ones wherever they answer, and hand
 * every other body back. The TypeScript parsers are the reference: codecs.property.test.ts checks
 * them (and the codecs as a whole) against Number() and JSON.parse.
 */

function assertSameTensor(got: Tensor, want: Tensor, what: string): void {
  assert.equal(got.dtype, want.dtype, `${what}: dtype`);
  assert.deepEqual(got.shape, want.shape, `${what}: shape`);
  assert.equal(got.data.length, want.data.length, `${what}: length`);
  for (let i = 0; i < want.data.length; i++) assert.ok(Object.is(got.data[i], want.data[i]), `${what}: value ${i}: ${String(got.data[i])} != ${String(want.data[i])}`);
}

/** The reference CSV result, or the error it throws. */
function csvReference(body: Buffer, float32: boolean): Tensor | Error {
  try {
    return parseNumericCsvFull(body, { float32 });
  } catch (err) {
    return err as Error;
  }
}

const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });
const show = (body: Buffer) => JSON.stringify(body.toString('latin1'));

/** Numbers the fast path always computes (at most 15 digits, no exponent): CSV spellings. */
const shortNumber = fc
  .record({ sign: fc.constantFrom('', '-', '+'), int: digits(0, 8), frac: fc.option(digits(0, 7), { nil: undefined }) })
  .filter(({ int, frac }) => int.length + (frac?.length ?? 0) > 0)
  .map(({ sign, int, frac }) => `${sign}${int}${frac === undefined ? '' : `.${frac}`}`);

/** Magnitudes whose text (String or JSON.stringify) keeps the decimal exponent within ±22. */
const inRange = (x: number) => x === 0 || (Math.abs(x) >= 1e-4 && Math.abs(x) < 1e15);

/** Up to 19 significant digits and exponents: what repr, pandas and String(x) write. */
const longNumber = fc.oneof(
  fc
    .record({ sign: fc.constantFrom('', '-'), int: digits(1, 9), frac: digits(1, 10), exp: fc.option(fc.integer({ min: -8, max: 8 }), { nil: undefined }) })
    .map(({ sign, int, frac, exp }) => `${sign}${int}.${frac}${exp === undefined ? '' : `e${exp}`}`),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter(inRange).map(String),
  fc.float({ noNaN: true, noDefaultInfinity: true }).filter(inRange).map(String),
  // Next to a power of two within that range (2^-13 to 2^49).
  nearPowerOfTwo(-13, 49),
);

const lineEnd = fc.constantFrom('\n', '\r\n', '\n\n', '\r\n\r\n');

function csvBody(number: fc.Arbitrary<string>): fc.Arbitrary<Buffer> {
  return fc
    .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 12 }))
    .chain(([cols, rows]) => fc.tuple(fc.array(fc.array(number, { minLength: cols, maxLength: cols }), { minLength: rows, maxLength: rows }), fc.array(lineEnd, { minLength: rows, maxLength: rows }), fc.boolean()))
    .map(([rows, ends, trailing]) => Buffer.from(rows.map((r, i) => `${r.join(',')}${i < rows.length - 1 || trailing ? ends[i] : ''}`).join('')));
}

test('the WebAssembly parsers are built and load', () => {
  assert.equal(numericWasmAvailable(), true, 'dist/src/codecs/numeric-text.wasm is missing: run npm run build');
});

test('CSV of numbers up to 15 digits: the WebAssembly parser always answers, with the TypeScript parser’s numbers bit for bit', () => {
  fc.assert(
    fc.property(csvBody(shortNumber), fc.boolean(), (body, float32) => {
      const fast = parsePlainCsv(body, float32);
      assert.ok(fast, `gave up on ${show(body)}`);
      const want = csvReference(body, float32);
      assert.ok(!(want instanceof Error), want instanceof Error ? want.message : '');
      assertSameTensor(fast, want, show(body));
    }),
    { numRuns: 1500 },
  );
});

test('CSV of 16-19 digit numbers and exponents: answered (all but the rare undecided cases) and equal', () => {
  let answered = 0;
  let runs = 0;
  fc.assert(
    fc.property(csvBody(longNumber), fc.boolean(), (body, float32) => {
      runs++;
      const want = csvReference(body, float32);
      const fast = parsePlainCsv(body, float32);
      if (!fast) return;
      answered++;
      assert.ok(!(want instanceof Error), `answered a body the reference refuses: ${show(body)}`);
      assertSameTensor(fast, want, show(body));
    }),
    { numRuns: 1500 },
  );
  // Only a rounding too close to call gives up here: almost never.
  assert.ok(answered > runs * 0.9, `answered only ${answered} of ${runs}`);
});

test('CSV fields of 0-21 digits on each side of the point, with or without an exponent: every value the WebAssembly parser answers is Number()’s, and it answers up to 15 digits', () => {
  const field = fc
    .record({ sign: fc.constantFrom('', '-', '+'), int: digits(0, 21), frac: fc.option(digits(0, 21), { nil: undefined }), exp: fc.option(fc.integer({ min: -30, max: 30 }), { nil: undefined }) })
    .filter(({ int, frac }) => int.length + (frac?.length ?? 0) > 0)
    .map(({ sign, int, frac, exp }) => ({ text: `${sign}${int}${frac === undefined ? '' : `.${frac}`}${exp === undefined ? '' : `e${exp}`}`, short: exp === undefined && int.length + (frac?.length ?? 0) <= 15 }));
  fc.assert(
    fc.property(fc.array(field, { minLength: 1, maxLength: 8 }), fc.constantFrom('', '\n', '\r\n'), fc.boolean(), (fields, end, float32) => {
      const body = Buffer.from(`${fields.map((f) => f.text).join(',')}${end}`);
      const fast = parsePlainCsv(body, float32);
      if (!fast) {
        assert.ok(!fields.every((f) => f.short), `gave up on ${show(body)}`);
        return;
      }
      assert.deepEqual(fast.shape, [1, fields.length]);
      fields.forEach((f, i) => {
        const want = float32 ? Math.fround(Number(f.text)) : Number(f.text);
        assert.ok(Object.is(fast.data[i], want), `${show(body)}: value ${i}: ${String(fast.data[i])} != ${String(want)}`);
      });
    }),
    { numRuns: 1500 },
  );
});

test('any other CSV body: the WebAssembly parser gives up or agrees, and parseNumericCsv answers (or refuses) as the TypeScript parser does', () => {
  const seeds = [
    '1.5,-2,3\n4,5,.25\n',
    '1e5,2E-3,3\n',
    ' 1, 2\n3,4\n',
    '"1",2\n',
    '1,2\n3\n',
    '1,,2\n',
    '1\r2\n',
    '\ufeff1,2\n',
    'nan,inf,-Infinity,true\n',
    '12345678901234567890,1\n',
    '0.12345678901234568,1e-30,4e38\n',
    '-,+,.\n',
    '\n\n\r\n',
    '',
  ].map((s) => Buffer.from(s));
  fc.assert(
    fc.property(mutatedBodies(seeds, 4), fc.boolean(), (body, float32) => {
      const want = csvReference(body, float32);
      const fast = parsePlainCsv(body, float32);
      if (fast) {
        assert.ok(!(want instanceof Error), `the fast path accepted a body the reference refuses: ${show(body)}`);
        assertSameTensor(fast, want, show(body));
      }
      if (want instanceof Error) assert.throws(() => parseNumericCsv(body, { float32 }), { message: want.message });
      else assertSameTensor(parseNumericCsv(body, { float32 }), want, show(body));
    }),
    { numRuns: 3000 },
  );
});

test('numbers next to a power of two, where the doubles below are twice as dense: CSV and JSON, WebAssembly and TypeScript, equal Number()', () => {
  let wasmAnswered = 0;
  const texts = nearPowerOfTwoTexts(-13, 49);
  for (const text of nearPowerOfTwoTexts(-70, 70)) {
    const csv = Buffer.from(text);
    const json = Buffer.from(`[${text}]`);
    const want = Number(text);
    const wasm = [parsePlainCsv(csv, false)?.data[0], scanPlainJsonArray(json, 0, json.length, false)?.tensor.data[0]];
    const typescript = [parseNumericCsvFull(csv, { float32: false }).data[0], scanNumericArray(json, 0, json.length, false)?.tensor.data[0]];
    // 0.9999999999999999 (the double below 1, as String() writes it) was read as 1.
    for (const got of typescript) assert.ok(Object.is(got, want), `TypeScript: ${text} read as ${got}`);
    for (const got of wasm) {
      if (got === undefined) continue; // left to the TypeScript parser
      assert.ok(Object.is(got, want), `WebAssembly: ${text} read as ${got}`);
      if (texts.includes(text)) wasmAnswered++;
    }
  }
  assert.ok(wasmAnswered > texts.length * 2 * 0.9, `WebAssembly answered ${wasmAnswered} of ${texts.length * 2} in its range`);
});

test('CSV with a header row (header=present): the rows after it read the same as in TypeScript', () => {
  const header = fc.constantFrom('a,b,c', '\ufeff"x","y"', '\n  \r\nname', 'h');
  fc.assert(
    fc.property(header, csvBody(shortNumber), fc.constantFrom('\n', '\r\n'), fc.boolean(), (head, rows, end, float32) => {
      const body = Buffer.concat([Buffer.from(`${head}${end}`), rows]);
      const want = parseNumericCsvFull(body, { float32, skipHeader: true });
      assertSameTensor(parseNumericCsv(body, { float32, skipHeader: true }), want, show(body));
    }),
    { numRuns: 500 },
  );
  assert.throws(() => parseNumericCsv(Buffer.from('a,b\n'), { skipHeader: true }), /empty/);
  assert.throws(() => parseNumericCsv(Buffer.from('a,b\n1,x\n'), { skipHeader: true }), /line 2, column 2/);
});

test('CSV forms at the edge of the fast path', () => {
  const cases: Array<[string, boolean]> = [
    ['-0', true], // negative zero stays negative
    ['5.,.5,+7', true],
    ['123456789012345', true],
    ['1234567890123456789', true], // 19 digits
    ['12345678901234567890', false], // 20: the TypeScript parser's job
    ['0.0000000000001234', true], // leading zeros are not significant digits…
    ['0.000000000000000000001234', false], // …but count in the exponent: 10^-24
    ['1e22,1e-22,-2.5E+3', true],
    ['1e23', false],
    ['1e', false],
    ['1,2\r\n3,4\r\n', true],
    ['1,2\n\n\n3,4', true],
    ['1\r2', false], // a lone CR
    ['1,2\n3', false], // ragged
    ['1,', false],
    [',1', false],
    ['1 ,2', false],
    ['\n\n', false], // no rows: the TypeScript parser's error
    ['', false],
    ['1\u00002', false], // a NUL inside the body is not its end
  ];
  for (const [text, answers] of cases) {
    for (const float32 of [false, true]) {
      const body = Buffer.from(text, 'latin1');
      const fast = parsePlainCsv(body, float32);
      assert.equal(fast !== undefined, answers, `${JSON.stringify(text)} float32=${float32}`);
      if (fast) assertSameTensor(fast, parseNumericCsvFull(body, { float32 }), JSON.stringify(text));
    }
  }
  assert.ok(Object.is(parsePlainCsv(Buffer.from('-0'), true)!.data[0], -0));
  // Beyond float32: the TypeScript parser answers float64, so the model's conversion reports it.
  const huge = '9999999999999999999e22'; // 19 digits, exponent 22: in the fast path's range, past float32's
  assert.equal(parsePlainCsv(Buffer.from(huge), true), undefined);
  assert.equal(parsePlainCsv(Buffer.from(huge), false)?.data[0], Number(huge));
  assert.equal(parseNumericCsv(Buffer.from(huge), { float32: true }).dtype, 'float64');
});

test('a CSV body from a larger buffer (an offset view) parses only its own bytes', () => {
  const whole = Buffer.from('9,9\n1.5,2\n3,4\n9,9');
  const view = whole.subarray(4, 14);
  assertSameTensor(parsePlainCsv(view, false)!, { dtype: 'float64', shape: [2, 2], data: Float64Array.of(1.5, 2, 3, 4) }, 'view');
});

// --- JSON ---------------------------------------------------------------------------------------

const jsonNumber = fc.oneof(
  fc.tuple(fc.constantFrom('', '-'), fc.integer({ min: 0, max: 999999 }), fc.option(digits(1, 8), { nil: undefined })).map(([s, i, f]) => `${s}${i}${f === undefined ? '' : `.${f}`}`),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter(inRange).map((x) => JSON.stringify(x)),
  fc.float({ noNaN: true, noDefaultInfinity: true }).filter(inRange).map((x) => JSON.stringify(x)),
);

/** A rectangular nested array of the given shape, with optional whitespace. */
function jsonArray(number: fc.Arbitrary<string>, spaces = ['', ' ', '\n  ']): fc.Arbitrary<string> {
  return fc.tuple(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }), fc.constantFrom(...spaces)).chain(([shape, ws]) => {
    const size = shape.reduce((a, b) => a * b, 1);
    return fc.array(number, { minLength: size, maxLength: size }).map((values) => {
      let k = 0;
      const build = (d: number): string => (d === shape.length ? values[k++]! : `[${ws}${Array.from({ length: shape[d]! }, () => build(d + 1)).join(`,${ws}`)}${ws}]`);
      return build(0);
    });
  });
}

test('JSON arrays: the WebAssembly scanner answers as the TypeScript scanner does, shape, values and end', () => {
  let answered = 0;
  let runs = 0;
  fc.assert(
    fc.property(jsonArray(jsonNumber), fc.constantFrom('', '  ', '}'), fc.boolean(), (text, after, float32) => {
      runs++;
      const body = Buffer.from(`  ${text}${after}`);
      const want = scanNumericArray(body, 2, body.length, float32);
      assert.ok(want, text);
      const fast = scanPlainJsonArray(body, 2, body.length, float32);
      if (!fast) return;
      answered++;
      assertSameTensor(fast.tensor, want.tensor, text);
      assert.equal(fast.end, want.end, text);
    }),
    { numRuns: 1500 },
  );
  assert.ok(answered > runs * 0.9, `answered only ${answered} of ${runs}`);
});

test('any other JSON text: the WebAssembly scanner gives up or agrees with the TypeScript scanner', () => {
  const seeds = ['[[1.5, -2], [3, 4e2]]', '[1, 2, 3]', '[[[1]], [[2]]]', '[[1, 2], [3]]', '[]', '[[]]', '[01, 2]', '[1., 2]', '[-, 1]', '[1, "2"]', '[1, [2]]', '[1 2]', '[1,]', '[true, null]', '[12345678901234567890]'].map((s) => Buffer.from(s));
  fc.assert(
    fc.property(mutatedBodies(seeds, 4), fc.boolean(), (body, float32) => {
      if (body[0] !== 91) return;
      const want = scanNumericArray(body, 0, body.length, float32);
      const fast = scanPlainJsonArray(body, 0, body.length, float32);
      if (!fast) return;
      assert.ok(want, `the fast path accepted text the reference refuses: ${show(body)}`);
      assertSameTensor(fast.tensor, want.tensor, show(body));
      assert.equal(fast.end, want.end, show(body));
    }),
    { numRuns: 3000 },
  );
});

test('JSON forms at the edge of the fast path', () => {
  const cases: Array<[string, boolean]> = [
    ['[-0.0, 1E+2, 2e-3, 0]', true],
    ['[[1, 2], [3, 4]]', true],
    ['[0.12345678901234568, 1234567890123456789]', true],
    ['[12345678901234567890]', false],
    ['[1e23]', false],
    ['[01]', false],
    ['[1.]', false],
    ['[.5]', false],
    ['[+1]', false],
    ['[]', false],
    ['[[], []]', false],
    ['[[1], 2]', false],
    ['[1, [2]]', false],
    ['[[1, 2], [3]]', false],
    ['[1', false],
    [`${'['.repeat(65)}1${']'.repeat(65)}`, false], // deeper than a tensor's rank may be
  ];
  for (const [text, answers] of cases) {
    const body = Buffer.from(text);
    const fast = scanPlainJsonArray(body, 0, body.length, false);
    assert.equal(fast !== undefined, answers, text);
    if (fast) {
      const want = scanNumericArray(body, 0, body.length, false)!;
      assertSameTensor(fast.tensor, want.tensor, text);
      assert.equal(fast.end, want.end);
    }
  }
  // Only the bytes before `limit` count: a JSON lines record ends at its line's end.
  assert.equal(scanPlainJsonArray(Buffer.from('[1, 2]'), 0, 4, false), undefined);
  assert.deepEqual(scanPlainJsonArray(Buffer.from('x[1, 2]\n[3]'), 1, 7, true)?.end, 7);
});

// --- JSON lines ---------------------------------------------------------------------------------

test('JSON lines of one-shape arrays: the WebAssembly parser answers as the TypeScript reading does', () => {
  let answered = 0;
  let runs = 0;
  const body = fc
    .tuple(jsonArray(jsonNumber, ['', ' ', '\t']).chain((first) => fc.array(fc.constant(first), { minLength: 0, maxLength: 4 }).map((more) => [first, ...more])), fc.constantFrom('\n', '\r\n', '\n\n', ' \n\t'), fc.boolean())
    .map(([lines, end, trailing]) => Buffer.from(lines.join(end) + (trailing ? end : '')));
  fc.assert(
    fc.property(body, fc.boolean(), (text, float32) => {
      runs++;
      const want = scanNumericLinesInScript(text, float32);
      assert.ok(want, show(text));
      const fast = parsePlainJsonLines(text, float32);
      if (!fast) return;
      answered++;
      assertSameTensor(fast, want, show(text));
    }),
    { numRuns: 1000 },
  );
  assert.ok(answered > runs * 0.9, `answered only ${answered} of ${runs}`);
});

test('any other JSON lines text: the WebAssembly parser gives up or agrees with the TypeScript reading', () => {
  const seeds = ['[1, 2]\n[3, 4]\n', '[[1], [2]]\r\n[[3], [4]]', '[1, 2]\n[3]\n', '[1,\n2]\n', '[1] [2]\n', '[1]x\n', '\n\n', '[1e400]\n[1]', '{"a": 1}\n'].map((t) => Buffer.from(t));
  fc.assert(
    fc.property(mutatedBodies(seeds, 4), fc.boolean(), (text, float32) => {
      const fast = parsePlainJsonLines(text, float32);
      if (!fast) return;
      const want = scanNumericLinesInScript(text, float32);
      assert.ok(want, `the fast path accepted text the reference refuses: ${show(text)}`);
      assertSameTensor(fast, want, show(text));
    }),
    { numRuns: 3000 },
  );
});

test('JSON lines forms at the edge of the fast path', () => {
  const cases: Array<[string, boolean]> = [
    ['[1, 2]\n[3, 4]', true],
    ['\n [1.5]\t\r\n\n[-2]  \n', true],
    ['[[1, 2]]\n[[3, 4]]\n', true],
    ['[1, 2]\n[3]', false], // another shape
    ['[[1, 2]]\n[1, 2]', false], // another rank
    ['[1, 2]\n[[1, 2], [3, 4]]', false], // another rank, the same first size
    ['[1,\n2]', false], // an array across lines
    ['[1] [2]', false], // two arrays on one line
    ['[1]\n{"a": 1}', false],
    ['', false],
  ];
  for (const [text, answers] of cases) {
    const body = Buffer.from(text);
    const fast = parsePlainJsonLines(body, false);
    assert.equal(fast !== undefined, answers, JSON.stringify(text));
    if (fast) assertSameTensor(fast, scanNumericLinesInScript(body, false)!, JSON.stringify(text));
  }
  assert.deepEqual(parsePlainJsonLines(Buffer.from('[[1, 2]]\n[[3, 4]]\n[[5, 6]]'), true)?.shape, [3, 1, 2]);
});

test('a body whose values get shorter past the sampled start (more than the first output area holds) is parsed again with room for all', () => {
  // The output area is sized from the first 4 KB: long numbers there, then more one-digit values
  // than the memory has bytes now, so the first area cannot be enough.
  const long = Array.from({ length: 400 }, (_, i) => `${1000 + i}.123456789`);
  const short = Array.from({ length: Math.max(200_000, numericWasmMemoryBytes()) }, (_, i) => String(i % 10));
  const values = [...long, ...short];
  const csv = Buffer.from(values.join(','));
  assertSameTensor(parsePlainCsv(csv, true)!, parseNumericCsvFull(csv, { float32: true }), 'CSV');
  const json = Buffer.from(`[${values.join(',')}]`);
  const fast = scanPlainJsonArray(json, 0, json.length, false)!;
  assertSameTensor(fast.tensor, scanNumericArray(json, 0, json.length, false)!.tensor, 'JSON');
  assert.equal(fast.end, json.length);
});

test('bodies up to 64 KB are parsed without counting their separators first; longer ones are sized from the sample', () => {
  // The count read most of a one-row body (512 values, 4.8 KB) a second time, a third of its parse.
  const sampled = numericWasmSampledTexts();
  const row = Buffer.from(`${Array.from({ length: 512 }, (_, i) => (i / 7 - 30).toFixed(6)).join(',')}\n`);
  assertSameTensor(parsePlainCsv(row, true)!, parseNumericCsvFull(row, { float32: true }), 'one row');
  const json = Buffer.from(`[[${Array.from({ length: 512 }, (_, i) => i / 3).join(',')}]]`);
  assert.ok(scanPlainJsonArray(json, 0, json.length, true));
  // The most values 64 KB can hold (one digit each) fit the area made for them.
  const densest = Buffer.from(Array.from({ length: 32 * 1024 }, (_, i) => i % 10).join(','));
  assert.ok(densest.length < 64 * 1024);
  assertSameTensor(parsePlainCsv(densest, false)!, parseNumericCsvFull(densest, { float32: false }), 'densest');
  assert.equal(numericWasmSampledTexts(), sampled, 'no separators counted');
  const longer = Buffer.concat([densest, Buffer.from(',1,2,3')]);
  assertSameTensor(parsePlainCsv(longer, false)!, parseNumericCsvFull(longer, { float32: false }), 'longer');
  assert.equal(numericWasmSampledTexts(), sampled + 1, 'a body over 64 KB is sized from its first 4 KB');
});

test('bodies of one-digit values are sized right from the sample', () => {
  const csv = Buffer.from(Array.from({ length: 50_000 }, (_, i) => i % 2).join(','));
  assertSameTensor(parsePlainCsv(csv, false)!, parseNumericCsvFull(csv, { float32: false }), 'CSV');
});

test('bodies over 32 MB are left to the TypeScript parsers', () => {
  const rows = Buffer.alloc(32 * 1024 * 1024 + 2, '1\n');
  assert.equal(parsePlainCsv(rows, true), undefined);
  assert.deepEqual(parsePlainCsv(rows.subarray(0, 8), true)?.shape, [4, 1], 'the same rows, shorter');
});

test('a large body grows the memory, which is let go afterwards; the next body parses as usual', () => {
  // 3 million one-digit values: a 6 MB body whose float64 values need 24 MB.
  const cols = 1000;
  const row = Buffer.from(`${Array.from({ length: cols }, (_, i) => i % 10).join(',')}\n`);
  const big = Buffer.concat(Array.from({ length: 3000 }, () => row));
  const t = parsePlainCsv(big, false)!;
  assert.deepEqual(t.shape, [3000, cols]);
  assert.equal(t.data[cols * 2999 + 7], 7);
  assert.equal(numericWasmMemoryBytes(), 0, 'a memory over the keep limit is dropped after its parse');
  const small = scanPlainJsonArray(Buffer.from('[[1, 2]]'), 0, 8, true)!;
  assertSameTensor(small.tensor, { dtype: 'float32', shape: [1, 2], data: Float32Array.of(1, 2) }, 'after a large body');
  assert.ok(numericWasmMemoryBytes() > 0 && numericWasmMemoryBytes() <= 16 * 1024 * 1024);
});
