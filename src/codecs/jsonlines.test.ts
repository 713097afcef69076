import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UNNAMED, tensor, type Tensor } from '../core/tensor.js';
import { ToolkitError } from '../errors/catalogue.js';
import { jsonLinesCodec } from './jsonlines.js';

const decode = (text: string) => jsonLinesCodec.decode!(Buffer.from(text), {});
const encode = (prediction: unknown): string => jsonLinesCodec.encode!(prediction, {}).toString('utf8');
const plain = (t: Tensor) => ({ dtype: t.dtype, shape: [...t.shape], data: Array.from(t.data as ArrayLike<unknown>) });

test('array records stack into one batch tensor; blank lines and CRLF are skipped', () => {
  const r = decode('[1,2]\r\n\n[3,4]\n   \n[5,6]');
  assert.deepEqual(plain(r.tensors[UNNAMED]!), { dtype: 'float64', shape: [3, 2], data: [1, 2, 3, 4, 5, 6] });
  assert.deepEqual(plain(decode('1\n2\n').tensors[UNNAMED]!), { dtype: 'float64', shape: [2], data: [1, 2] });
});

test('numeric lines (the batch transform case) stack into one tensor', () => {
  const text = '[1.5, -2e3]\n[0, 4]\r\n\n[5, 6]  \n';
  const fast = decode(text).tensors[UNNAMED]!;
  assert.deepEqual(plain(fast), { dtype: 'float64', shape: [3, 2], data: [1.5, -2000, 0, 4, 5, 6] });
  assert.deepEqual(plain(decode('[[1,2]]\n[[3,4]]\n').tensors[UNNAMED]!), { dtype: 'float64', shape: [2, 1, 2], data: [1, 2, 3, 4] });
});

test('object records stack per key into named tensors', () => {
  const r = decode('{"x": [1, 2], "id": "a"}\n{"x": [3, 4], "id": "b"}\n');
  assert.deepEqual(plain(r.tensors['x']!), { dtype: 'float64', shape: [2, 2], data: [1, 2, 3, 4] });
  assert.deepEqual(plain(r.tensors['id']!), { dtype: 'string', shape: [2], data: ['a', 'b'] });
});

test('bad lines are a 400 naming the line', () => {
  const rejects = (text: string, pattern: RegExp) =>
    assert.throws(() => decode(text), (e: unknown) => e instanceof ToolkitError && e.status === 400 && pattern.test(e.message));
  rejects('[1,2]\n[3,\n', /line 2 is not valid JSON/);
  rejects('[1,2]\n\n[3,4],[5,6]\n', /line 3 holds more than one JSON value/);
  rejects('[1,2]\n[3]\n', /ragged/);
  // Lines that are not JSON on their own, though joined by commas they would read as two records.
  rejects('[1\n2],[3,4]\n', /line 1 is not valid JSON/);
  rejects('"a\nb","c"\n', /line 1 is not valid JSON/);
  rejects('\n\n', /empty/);
});

test('one line per row; several outputs give one object per row', () => {
  assert.equal(encode({ y: tensor('float32', [2, 2], Float32Array.from([1, 2, 3, 4])) }), '[1.0,2.0]\n[3.0,4.0]\n');
  assert.equal(encode({ y: tensor('int64', [2], BigInt64Array.from([1n, 0n])) }), '1\n0\n');
  assert.equal(
    encode({ label: tensor('string', [2], ['a', 'b']), p: tensor('float64', [2, 1], Float64Array.from([0.5, 1])) }),
    '{"label":"a","p":[0.5]}\n{"label":"b","p":[1.0]}\n',
  );
  assert.equal(encode({ y: tensor('float32', [0, 2], new Float32Array(0)) }), '');
});

test('user values: an array is one line per element, anything else one line', () => {
  assert.equal(encode([{ a: 1 }, [2, 3], 'x']), '{"a":1}\n[2,3]\n"x"\n');
  assert.equal(encode({ a: 1 }), '{"a":1}\n');
});

test('aliases name the same codec', () => {
  assert.deepEqual(jsonLinesCodec.aliases, ['application/x-jsonlines', 'application/jsonl']);
});
