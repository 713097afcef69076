import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { excerpt, jsonExcerpt, valueKind } from './excerpt.js';

test('jsonExcerpt: the first max characters of JSON.stringify, for any JSON value', () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.integer({ min: 1, max: 80 }), (value, max) => {
      assert.equal(jsonExcerpt(value, max), excerpt(String(JSON.stringify(value)), max));
    }),
    { numRuns: 500 },
  );
});

test('jsonExcerpt: values nested 1 000 000 deep or 10^6 long are written only as far as the excerpt', () => {
  let deep: unknown = 1;
  for (let i = 0; i < 1_000_000; i++) deep = i % 2 ? [deep] : { a: deep };
  assert.equal(jsonExcerpt(deep, 12), '[{"a":[{"a":…');
  assert.equal(jsonExcerpt(['x'.repeat(1_000_000)], 5), '["xxx…');
  assert.equal(jsonExcerpt(undefined), 'undefined');
  assert.equal(jsonExcerpt(Number.NaN), 'null');
});

test('valueKind names what a value is, an array and a typed array (with its article: an Int16Array) apart from other objects, without running a getter or a Proxy trap', () => {
  const cases: [unknown, string][] = [
    [undefined, 'undefined'],
    [null, 'null'],
    ['text/plain', 'a string'],
    [415, 'a number'],
    [1n, 'a bigint'],
    [true, 'a boolean'],
    [Symbol('x'), 'a symbol'],
    [() => 'x', 'a function'],
    [['text/plain'], 'an array'],
    [{ type: 'text/plain' }, 'an object'],
    [Float32Array.of(1), 'a Float32Array'],
    [Int16Array.of(1), 'an Int16Array'],
    [BigInt64Array.of(1n), 'a BigInt64Array'],
    [Buffer.from('x'), 'a Uint8Array'],
    [new DataView(new ArrayBuffer(1)), 'an object'],
    [new Proxy([], {}), 'an array'],
  ];
  for (const [value, kind] of cases) assert.equal(valueKind(value), kind, kind);
  const trap = () => {
    throw new Error('a trap ran');
  };
  assert.equal(valueKind(new Proxy({}, { get: trap, getPrototypeOf: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap })), 'an object');
  const { proxy, revoke } = Proxy.revocable([], {});
  revoke();
  assert.equal(valueKind(proxy), 'an object', 'Array.isArray throws on a revoked Proxy');
  assert.equal(valueKind(Object.defineProperty(Float32Array.of(1), Symbol.toStringTag, { get: trap })), 'a Float32Array');
});
