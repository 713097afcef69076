import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { convertExact, statedDType } from './dtype-convert.js';
import { fromFloat16Bits, toFloat16Bits } from './float16.js';
import { castTensor, tensor, toNested, type DType } from './tensor.js';
import { isToolkitError } from '../errors/catalogue.js';

// Reference float16 rounding, independent of the bit twiddling: the finite non-negative half
// values sorted, then the nearest one (ties to the even bit pattern), Infinity past 65504 + 16.
const HALVES = Array.from({ length: 0x7c00 }, (_, b) => fromFloat16Bits(b));
function referenceHalf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  const sign = x < 0 || Object.is(x, -0) ? -1 : 1;
  if (a >= 65520) return sign * Infinity;
  let lo = 0;
  let hi = HALVES.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (HALVES[mid]! <= a) lo = mid;
    else hi = mid;
  }
  if (a >= HALVES[hi]!) return sign * HALVES[hi]!;
  const dLo = a - HALVES[lo]!;
  const dHi = HALVES[hi]! - a;
  const pick = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
  return sign * HALVES[pick]!;
}

const nearHalf = fc
  .tuple(fc.integer({ min: 0, max: 0x7bff }), fc.constantFrom(-1, 0, 1), fc.integer({ min: 0, max: 60 }), fc.boolean())
  .map(([bits, dir, shift, neg]) => {
    const v = fromFloat16Bits(bits);
    const ulp = fromFloat16Bits(bits + 1) - v;
    const x = v + (dir * ulp) / 2 + (dir === 0 ? 0 : ulp * 2 ** -shift * (shift % 2 ? 1 : -1));
    return neg ? -x : x;
  });

test('toFloat16Bits rounds any double to the nearest half (ties to even), as the reference does', () => {
  fc.assert(
    fc.property(fc.oneof(fc.double(), nearHalf, fc.double({ min: -70000, max: 70000 })), (x) => {
      assert.ok(Object.is(fromFloat16Bits(toFloat16Bits(x)), referenceHalf(x)) || (Number.isNaN(x) && Number.isNaN(fromFloat16Bits(toFloat16Bits(x)))), String(x));
    }),
    { numRuns: 20000 },
  );
});

test('every float16 bit pattern survives value → bits → value (exhaustive)', () => {
  for (let b = 0; b < 0x10000; b++) {
    const v = fromFloat16Bits(b);
    if (Number.isNaN(v)) assert.ok(Number.isNaN(fromFloat16Bits(toFloat16Bits(v))));
    else assert.equal(toFloat16Bits(v), b, `bits ${b.toString(16)}`);
  }
});

test('the issue examples: 0.5, 1.5, -2 and 65504 become those float16 values, not their bits', () => {
  const t = convertExact(tensor('float64', [4], Float64Array.from([0.5, 1.5, -2, 65504])), 'float16', 'input "h"');
  assert.deepEqual(toNested(t), [0.5, 1.5, -2, 65504]);
  assert.deepEqual(toNested(castTensor(tensor('float32', [4], Float32Array.from([0.5, 1.5, -2, 65504])), 'float16')), [0.5, 1.5, -2, 65504]);
  assert.deepEqual(toNested(castTensor(t, 'float32')), [0.5, 1.5, -2, 65504]);
  assert.deepEqual(toNested(castTensor(t, 'int32')), [0, 1, -2, 65504]);
});

const INT_RANGE: Record<string, [number, number]> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
};

const refused = (fn: () => unknown, pattern: RegExp): void =>
  assert.throws(fn, (e: unknown) => isToolkitError(e) && e.code === 'ERR_INPUT_VALUE' && e.status === 400 && pattern.test(e.message));

test('integers: in-range whole numbers pass exactly, fractions and out-of-range values are refused (never wrapped)', () => {
  for (const [dtype, [min, max]] of Object.entries(INT_RANGE)) {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: min - 1000, max: max + 1000 }), fc.double({ min: min - 2, max: max + 2, noNaN: true }), fc.constant(NaN)), (v) => {
        const t = tensor('float64', [1], Float64Array.of(v));
        if (Number.isInteger(v) && v >= min && v <= max) assert.deepEqual(toNested(convertExact(t, dtype as DType, 'input "k"')), [v + 0]); // -0 becomes 0
        else refused(() => convertExact(t, dtype as DType, 'input "k"'), /input "k" takes/);
      }),
      { numRuns: 500 },
    );
  }
});

test('int64/uint64: safe whole doubles convert to the exact bigint; past 2^53 (maybe rounded from text), fractions and out of range are refused; bigints are range-checked', () => {
  fc.assert(
    fc.property(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer({ min: -(2 ** 53) - 5, max: 2 ** 53 + 5 }).map((n) => n * 1)), (v) => {
      const t = tensor('float64', [1], Float64Array.of(v));
      if (Number.isSafeInteger(v)) assert.equal((convertExact(t, 'int64', 'x').data as BigInt64Array)[0], BigInt(v));
      else refused(() => convertExact(t, 'int64', 'x'), /int64/);
      if (Number.isSafeInteger(v) && v >= 0) assert.equal((convertExact(t, 'uint64', 'x').data as BigUint64Array)[0], BigInt(v));
      else refused(() => convertExact(t, 'uint64', 'x'), /uint64/);
    }),
  );
  refused(() => convertExact(tensor('float64', [1], Float64Array.of(Number('9007199254740993'))), 'int64', 'input "id"'), /beyond ±2\^53.*v2 INT64/);
  // The largest int64 and uint64, read from JSON or CSV text, arrive as 2^63 and 2^64: said to be past ±2^53 (what to fix), not out of range (untrue).
  refused(() => convertExact(tensor('float64', [1], Float64Array.of(Number('9223372036854775807'))), 'int64', 'x'), /is 9223372036854776000, beyond ±2\^53.*NPY <i8/);
  refused(() => convertExact(tensor('float64', [1], Float64Array.of(Number('18446744073709551615'))), 'uint64', 'x'), /is 18446744073709552000, beyond ±2\^53.*NPY <u8/);
  // The next doubles up can only come from values past the range.
  refused(() => convertExact(tensor('float64', [1], Float64Array.of(2 ** 63 + 2048)), 'int64', 'x'), /outside the int64 range/);
  refused(() => convertExact(tensor('float64', [1], Float64Array.of(2 ** 64 + 4096)), 'uint64', 'x'), /outside the uint64 range/);
  refused(() => convertExact(tensor('float64', [1], Float64Array.of(-(2 ** 63) - 2048)), 'int64', 'x'), /outside the int64 range/);
  assert.deepEqual([...(convertExact(tensor('uint32', [1], Uint32Array.of(4294967295)), 'int64', 'x').data as BigInt64Array)], [4294967295n]);
  refused(() => convertExact(tensor('int64', [1], BigInt64Array.of(-1n)), 'uint64', 'x'), /-1, outside the uint64 range/);
  refused(() => convertExact(tensor('uint64', [1], BigUint64Array.of(2n ** 63n)), 'int64', 'x'), /outside the int64 range/);
  refused(() => convertExact(tensor('int64', [1], BigInt64Array.of(300n)), 'uint8', 'x'), /300/);
  assert.deepEqual(toNested(convertExact(tensor('int64', [1], BigInt64Array.of(-5n)), 'int8', 'x')), [-5]);
});

test('float32 and float16: values round to nearest; finite overflow is refused; NaN and infinities pass', () => {
  fc.assert(
    fc.property(fc.double(), (v) => {
      const t = tensor('float64', [1], Float64Array.of(v));
      const f = Math.fround(v);
      if (Number.isFinite(v) && !Number.isFinite(f)) refused(() => convertExact(t, 'float32', 'x'), /float32 range/);
      else assert.ok(Object.is((convertExact(t, 'float32', 'x').data as Float32Array)[0], f));
      const h = referenceHalf(v);
      if (Number.isFinite(v) && !Number.isFinite(h)) refused(() => convertExact(t, 'float16', 'x'), /float16 range/);
      else {
        const got = fromFloat16Bits((convertExact(t, 'float16', 'x').data as Uint16Array)[0]!);
        assert.ok(Object.is(got, h) || (Number.isNaN(got) && Number.isNaN(h)));
      }
    }),
    { numRuns: 2000 },
  );
});

test('bool takes only true/false or 0/1; text never becomes a number; numbers never become text', () => {
  assert.deepEqual(toNested(convertExact(tensor('float64', [2], Float64Array.of(0, 1)), 'bool', 'x')), [false, true]);
  refused(() => convertExact(tensor('float64', [1], Float64Array.of(2)), 'bool', 'input "m"'), /input "m".*true\/false/);
  refused(() => convertExact(tensor('string', [1], ['1.5']), 'float32', 'input "x"'), /input "x" takes float32 numbers but the request sent text/);
  refused(() => convertExact(tensor('float64', [1], Float64Array.of(1)), 'string', 'input "s"'), /input "s" takes strings/);
});

test('a tensor of no elements converts to any dtype, text and numbers alike: JSON [] (float64) to a string input', () => {
  for (const dtype of ['string', 'float32', 'int64', 'bool', 'float16'] as const) {
    const empty = convertExact(tensor('float64', [3, 0], new Float64Array(0)), dtype, 'x');
    assert.equal(empty.dtype, dtype);
    assert.deepEqual(empty.shape, [3, 0]);
    assert.equal(empty.data.length, 0);
  }
  const text = convertExact(tensor('string', [0], []), 'int64', 'x');
  assert.ok(text.data instanceof BigInt64Array && text.data.length === 0);
});

test('an empty tensor of a dtype the request stated (v2 datatype, NPY descr) is held to it across text and numbers, as Triton holds a datatype', () => {
  refused(() => convertExact(statedDType(tensor('float32', [0], new Float32Array(0))), 'string', 'input "s"'), /input "s" takes strings but the request sent float32 values/);
  refused(() => convertExact(statedDType(tensor('string', [2, 0], [])), 'int64', 'input "n"'), /input "n" takes int64 numbers but the request sent text/);
  // Numbers to numbers convert as they do with values.
  const n = convertExact(statedDType(tensor('float32', [0, 3], new Float32Array(0))), 'int64', 'x');
  assert.ok(n.data instanceof BigInt64Array && n.data.length === 0);
  assert.deepEqual(n.shape, [0, 3]);
});

test('castTensor (the pipeline cast step) wraps like numpy astype and never throws on NaN or infinities', () => {
  const t = tensor('float64', [4], Float64Array.of(NaN, Infinity, -1.9, 300));
  assert.deepEqual([...(castTensor(t, 'int64').data as BigInt64Array)], [0n, 0n, -1n, 300n]);
  assert.deepEqual([...(castTensor(t, 'uint8').data as Uint8Array)], [0, 0, 255, 44]);
});
