import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Tensor } from '../core/tensor.js';
import { csvWasmAvailable, csvWasmMemoryBytes, parsePlainCsv } from './csv-wasm.js';
import { parseNumericCsv, parseNumericCsvFull } from './csv-parse.js';
import { mutatedBodies } from '../../test/helpers/hostile-bodies.js';

/**
 * The WebAssembly parser must answer exactly as the TypeScript one wherever it answers, and hand
 * every other body back. The TypeScript parser is the reference: it is checked against Number()
 * in codecs.property.test.ts.
 */

function assertSameTensor(got: Tensor, want: Tensor, what: string): void {
  assert.equal(got.dtype, want.dtype, `${what}: dtype`);
  assert.deepEqual(got.shape, want.shape, `${what}: shape`);
  assert.equal(got.data.length, want.data.length, `${what}: length`);
  for (let i = 0; i < want.data.length; i++) assert.ok(Object.is(got.data[i], want.data[i]), `${what}: value ${i}: ${String(got.data[i])} != ${String(want.data[i])}`);
}

/** The reference result, or the error it throws. */
function reference(body: Buffer, float32: boolean): Tensor | Error {
  try {
    return parseNumericCsvFull(body, { float32 });
  } catch (err) {
    return err as Error;
  }
}

const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });

/** Plain decimals: what the WebAssembly parser takes (at most 15 digits in all). */
const plainNumber = fc
  .record({ sign: fc.constantFrom('', '-', '+'), int: digits(0, 8), frac: fc.option(digits(0, 7), { nil: undefined }) })
  .filter(({ int, frac }) => int.length + (frac?.length ?? 0) > 0)
  .map(({ sign, int, frac }) => `${sign}${int}${frac === undefined ? '' : `.${frac}`}`);

const lineEnd = fc.constantFrom('\n', '\r\n', '\n\n', '\r\n\r\n');

const plainBody = fc
  .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 12 }))
  .chain(([cols, rows]) => fc.tuple(fc.array(fc.array(plainNumber, { minLength: cols, maxLength: cols }), { minLength: rows, maxLength: rows }), fc.array(lineEnd, { minLength: rows, maxLength: rows }), fc.boolean()))
  .map(([rows, ends, trailing]) => Buffer.from(rows.map((r, i) => `${r.join(',')}${i < rows.length - 1 || trailing ? ends[i] : ''}`).join('')));

test('the WebAssembly parser is built and loads', () => {
  assert.equal(csvWasmAvailable(), true, 'dist/src/codecs/csv-fast.wasm is missing: run npm run build');
});

test('plain decimal rows: the WebAssembly parser answers, with the TypeScript parser’s numbers bit for bit', () => {
  fc.assert(
    fc.property(plainBody, fc.boolean(), (body, float32) => {
      const fast = parsePlainCsv(body, float32);
      assert.ok(fast, `gave up on a plain body: ${JSON.stringify(body.toString('latin1'))}`);
      const want = reference(body, float32);
      assert.ok(!(want instanceof Error), want instanceof Error ? want.message : '');
      assertSameTensor(fast, want, JSON.stringify(body.toString('latin1')));
    }),
    { numRuns: 1500 },
  );
});

test('any other body: the WebAssembly parser gives up or agrees, and parseNumericCsv answers (or refuses) as the TypeScript parser does', () => {
  const seeds = [
    '1.5,-2,3\n4,5,.25\n',
    '1e5,2,3\n',
    ' 1, 2\n3,4\n',
    '"1",2\n',
    '1,2\n3\n',
    '1,,2\n',
    '1\r2\n',
    '\ufeff1,2\n',
    'nan,inf,-Infinity,true\n',
    '1234567890123456,1\n',
    '0.000000000000001,1\n',
    '-,+,.\n',
    '\n\n\r\n',
    '',
  ].map((s) => Buffer.from(s));
  fc.assert(
    fc.property(mutatedBodies(seeds, 4), fc.boolean(), (body, float32) => {
      const want = reference(body, float32);
      const fast = parsePlainCsv(body, float32);
      if (fast) {
        assert.ok(!(want instanceof Error), `the fast path accepted a body the reference refuses: ${JSON.stringify(body.toString('latin1'))}`);
        assertSameTensor(fast, want, JSON.stringify(body.toString('latin1')));
      }
      if (want instanceof Error) assert.throws(() => parseNumericCsv(body, { float32 }), { message: want.message });
      else assertSameTensor(parseNumericCsv(body, { float32 }), want, JSON.stringify(body.toString('latin1')));
    }),
    { numRuns: 3000 },
  );
});

test('the forms at the edge of the fast path', () => {
  const cases: Array<[string, boolean]> = [
    ['-0', true], // negative zero stays negative
    ['5.,.5,+7', true],
    ['123456789012345', true], // 15 digits: exact in a double
    ['1234567890123456', false], // 16: the TypeScript parser's job
    ['0.00000000000001', true],
    ['1,2\r\n3,4\r\n', true],
    ['1,2\n\n\n3,4', true],
    ['1\r2', false], // a lone CR
    ['1,2\n3', false], // ragged
    ['1,', false],
    [',1', false],
    ['1 ,2', false],
    ['1e3', false],
    ['\n\n', false], // no rows: the TypeScript parser's error
    ['', false],
    ['1\u00002', false], // a NUL inside the body is not the end
  ];
  for (const [text, answers] of cases) {
    for (const float32 of [false, true]) {
      const body = Buffer.from(text, 'latin1');
      const fast = parsePlainCsv(body, float32);
      assert.equal(fast !== undefined, answers, JSON.stringify(text));
      if (fast) assertSameTensor(fast, parseNumericCsvFull(body, { float32 }), JSON.stringify(text));
    }
  }
  assert.ok(Object.is(parsePlainCsv(Buffer.from('-0'), true)!.data[0], -0));
});

test('a body from a larger buffer (an offset view) parses only its own bytes', () => {
  const whole = Buffer.from('9,9\n1.5,2\n3,4\n9,9');
  const view = whole.subarray(4, 14);
  assertSameTensor(parsePlainCsv(view, false)!, { dtype: 'float64', shape: [2, 2], data: Float64Array.of(1.5, 2, 3, 4) }, 'view');
});

test('a large body grows the memory, which is let go afterwards; the next body parses as usual', () => {
  // 3 million one-digit values: a 6 MB body whose float64 values need 24 MB.
  const cols = 1000;
  const row = Buffer.from(`${Array.from({ length: cols }, (_, i) => i % 10).join(',')}\n`);
  const big = Buffer.concat(Array.from({ length: 3000 }, () => row));
  const t = parsePlainCsv(big, false)!;
  assert.deepEqual(t.shape, [3000, cols]);
  assert.equal(t.data[cols * 2999 + 7], 7);
  assert.equal(csvWasmMemoryBytes(), 0, 'a memory over the keep limit is dropped after its parse');
  const small = parsePlainCsv(Buffer.from('1,2\n'), true)!;
  assertSameTensor(small, { dtype: 'float32', shape: [1, 2], data: Float32Array.of(1, 2) }, 'after a large body');
  assert.ok(csvWasmMemoryBytes() > 0 && csvWasmMemoryBytes() <= 16 * 1024 * 1024);
});
