import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bigIntToFloat32, roundToBfloat16 } from './float-rounding.js';
import { convertExact } from './dtype-convert.js';
import { castTensor, tensor } from './tensor.js';
import { jsonCodec } from '../codecs/json.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const float32Bits = (x: number) => ((f32[0] = x), u32[0]!);
const fromFloat32Bits = (b: number) => ((u32[0] = b), f32[0]!);

/** The float32 nearest to `v` by exact integer distances to the candidates around Math.fround(Number(v)), ties to the even bit pattern. */
function referenceFloat32(v: bigint): number {
  const start = float32Bits(Math.fround(Number(v)));
  let best = fromFloat32Bits(start);
  let bestDistance: bigint | undefined;
  for (const bits of [start - 1, start, start + 1]) {
    const c = fromFloat32Bits(bits >>> 0);
    if (!Number.isFinite(c) || !Number.isInteger(c)) continue;
    const d = BigInt(c) > v ? BigInt(c) - v : v - BigInt(c);
    if (bestDistance === undefined || d < bestDistance || (d === bestDistance && (float32Bits(c) & 1) === 0)) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** 64-bit integers, many of them exactly on or one off a float32 midpoint past 2^53. */
const int64s = fc.oneof(
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.tuple(fc.bigInt({ min: 2n ** 23n, max: 2n ** 24n - 1n }), fc.integer({ min: 30, max: 39 }), fc.constantFrom(-1n, 0n, 1n), fc.boolean()).map(([m, s, delta, negative]) => {
    const v = (m << BigInt(s)) + (1n << BigInt(s - 1)) + delta;
    return negative ? -v : v;
  }),
);

test('64-bit integers become the nearest float32 (ties to even), rounded once', () => {
  // numpy: np.int64(2**60 + 2**36 + 1).astype(np.float32) is 2**60 + 2**37; through a double it was 2**60.
  assert.equal(bigIntToFloat32(2n ** 60n + 2n ** 36n + 1n), 2 ** 60 + 2 ** 37);
  assert.equal(bigIntToFloat32(-(2n ** 60n + 2n ** 36n + 1n)), -(2 ** 60 + 2 ** 37));
  assert.equal(bigIntToFloat32(2n ** 64n - 1n), 2 ** 64);
  fc.assert(
    fc.property(int64s, (v) => {
      const want = referenceFloat32(v);
      assert.ok(Object.is(bigIntToFloat32(v), want), `${v}`);
      if (v >= -(2n ** 63n) && v < 2n ** 63n) {
        const t = tensor('int64', [1], BigInt64Array.of(v));
        assert.ok(Object.is((convertExact(t, 'float32', 'x').data as Float32Array)[0], want), `convertExact ${v}`);
        assert.ok(Object.is((castTensor(t, 'float32').data as Float32Array)[0], want), `castTensor ${v}`);
      }
    }),
    { numRuns: 3000 },
  );
});

test('castTensor wraps 64-bit integers into narrower ones from their exact value, as numpy astype does', () => {
  const wrapped = (v: bigint, bits: number, signed: boolean) => {
    const m = 2n ** BigInt(bits);
    const r = ((v % m) + m) % m;
    return Number(signed && r >= m / 2n ? r - m : r);
  };
  const targets = [
    ['int8', 8, true],
    ['int16', 16, true],
    ['int32', 32, true],
    ['uint8', 8, false],
    ['uint16', 16, false],
    ['uint32', 32, false],
  ] as const;
  fc.assert(
    fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (v) => {
      const t = tensor('int64', [1], BigInt64Array.of(v));
      for (const [dtype, bits, signed] of targets) assert.equal((castTensor(t, dtype).data as ArrayLike<number>)[0], wrapped(v, bits, signed), `${v} to ${dtype}`);
    }),
    { numRuns: 1000 },
  );
  assert.equal(castTensor(tensor('int64', [1], BigInt64Array.of(2n ** 63n - 1n)), 'int8').data[0], -1);
  assert.equal(castTensor(tensor('uint64', [1], BigUint64Array.of(2n ** 64n - 1n)), 'uint16').data[0], 65535);
});

// Every finite non-negative bfloat16 value, ascending (the top 16 bits of a float32).
const BFLOATS = Array.from({ length: 0x7f80 }, (_, b) => fromFloat32Bits(b << 16));
function referenceBfloat16(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  const sign = x < 0 || Object.is(x, -0) ? -1 : 1;
  const max = BFLOATS[BFLOATS.length - 1]!;
  // Past the midpoint between the largest value and 2^128, infinity.
  if (a >= max + 2 ** 119) return sign * Infinity;
  if (a >= max) return sign * max;
  let lo = 0;
  let hi = BFLOATS.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (BFLOATS[mid]! <= a) lo = mid;
    else hi = mid;
  }
  const dLo = a - BFLOATS[lo]!;
  const dHi = BFLOATS[hi]! - a;
  const pick = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
  return sign * BFLOATS[pick]!;
}

test('doubles become the nearest bfloat16 (ties to even), not the nearest to their float32', () => {
  // 1.0039063 rounds to float32 1.00390625, exactly halfway between 1 and 1.0078125: it was read as 1.
  assert.equal(roundToBfloat16(1.0039063), 1.0078125);
  assert.equal(roundToBfloat16(3.3961775292304e38), referenceBfloat16(3.3961775292304e38));
  assert.ok(Number.isFinite(roundToBfloat16(3.3961775292304e38)));
  const nearMidpoint = fc.tuple(fc.integer({ min: 0, max: 0x7f7f }), fc.integer({ min: 1, max: 60 }), fc.constantFrom(-1, 1), fc.boolean()).map(([b, shift, dir, negative]) => {
    const lo = fromFloat32Bits(b << 16);
    const hi = fromFloat32Bits((b + 1) << 16);
    const x = (lo + hi) / 2 + dir * (hi - lo) * 2 ** -shift;
    return negative ? -x : x;
  });
  fc.assert(
    fc.property(fc.oneof(fc.double(), nearMidpoint), (x) => {
      const want = referenceBfloat16(x);
      const got = roundToBfloat16(x);
      assert.ok(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want)), `${x}: ${got} != ${want}`);
    }),
    { numRuns: 5000 },
  );
});

test('a v2 BF16 input is read as the nearest bfloat16 value', () => {
  const decoded = jsonCodec.decode!(Buffer.from('{"inputs":[{"name":"x","shape":[2],"datatype":"BF16","data":[1.0039063, 3.3961775292304e38]}]}'), {});
  assert.deepEqual(Array.from(decoded.tensors['x']!.data as Float32Array), [1.0078125, referenceBfloat16(3.3961775292304e38)]);
});
