import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nestedToTensor } from './json-tensor.js';
import { scanNumericBody } from './json-fast-array.js';

const scan = (text: string) => scanNumericBody(Buffer.from(text));

test('numeric arrays scan to the same tensor as JSON.parse + nestedToTensor', () => {
  let seed = 7;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const values = (n: number) =>
    Array.from({ length: n }, (_, i) => {
      const x = (random() - 0.5) * 10 ** Math.floor(random() * 12 - 6);
      return [x, Math.round(x), Number(x.toFixed(3)), -0, 1e300, 5e-324][i % 6]!;
    });
  for (const shape of [[7], [3, 4], [2, 3, 5], [1, 1, 1, 1]]) {
    const size = shape.reduce((a, b) => a * b, 1);
    const flat = values(size);
    let k = 0;
    const build = (d: number): unknown => (d === shape.length ? flat[k++] : Array.from({ length: shape[d]! }, () => build(d + 1)));
    const text = JSON.stringify(build(0));
    const fast = scan(text);
    assert.ok(fast, text);
    const slow = nestedToTensor(JSON.parse(text), { label: 'x' });
    assert.deepEqual(fast.tensor.shape, slow.shape);
    assert.equal(fast.form, 'tensor');
    Array.from(slow.data as Float64Array).forEach((v, i) => assert.ok(Object.is(fast.tensor.data[i], v), `${text} @${i}`));
  }
});

test('valid spellings: exponents, negative zero, whitespace, TFS wrappers', () => {
  const t = scan(' \n[-0.0, 1E+2, 2e-3, 0, 123456789.123456789]\r\n');
  assert.ok(t);
  assert.ok(Object.is(t.tensor.data[0], -0));
  assert.deepEqual(Array.from(t.tensor.data).slice(1), [100, 0.002, 0, 123456789.123456789]);
  assert.equal(scan('{ "instances" : [[1, 2], [3, 4]] }')?.form, 'tfs-instances');
  assert.deepEqual(scan('{"instances":[[1,2],[3,4]]}')?.tensor.shape, [2, 2]);
  assert.equal(scan('{"inputs": [1]}')?.form, 'tfs-inputs');
});

test('anything else falls back (undefined) so the general path answers or reports it', () => {
  for (const text of [
    '[1,]', '[01]', '[+1]', '[.5]', '[1.]', '[1e]', '[-]', '[NaN]', '[Infinity]', '[1] x', '[1 2]', '[[1] [2]]',
    '[[1],[2,3]]', '[[1],2]', '[1,[2]]', '[]', '[[]]', '[1,"a"]', '[true]', '[null]', '[1', '[[1]', '1', '"a"',
    '{"instances": [1], "x": 1}', '{"x": [1]}', '{"inputs": {"a": [1]}}', '{"inputs": [{"name": "x"}]}',
  ]) {
    assert.equal(scan(text), undefined, text);
  }
});
