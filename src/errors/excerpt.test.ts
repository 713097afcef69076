import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { excerpt, jsonExcerpt, THROWN_MESSAGE_MAX, thrownMessage, valueKind } from './excerpt.js';

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

test('excerpt and thrownMessage cut between characters: no half of a surrogate pair reaches the JSON error answer (boto3 and Python cannot print one)', () => {
  const lone = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
  // An input name of 59 letters and an emoji (a V2 request's "name", a Content-Type): the cut at 60 falls inside the pair.
  assert.equal(excerpt(`${'a'.repeat(59)}😀b`), `${'a'.repeat(59)}…`);
  assert.equal(excerpt(`${'a'.repeat(58)}😀b`), `${'a'.repeat(58)}😀…`);
  assert.doesNotMatch(thrownMessage(new Error(`x${'🚀'.repeat(THROWN_MESSAGE_MAX)}`)), lone);
  assert.doesNotMatch(jsonExcerpt({ [`${'a'.repeat(40)}`]: '😀'.repeat(40) }), lone);
  // The answer's JSON carries no \ud83d escape, which Python's json reads into an unprintable string.
  assert.doesNotMatch(JSON.stringify({ message: `input '${excerpt(`${'a'.repeat(59)}😀`)}' is bad` }), /\\ud[89ab]/i);
});
