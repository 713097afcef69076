import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UNNAMED, tensor } from '../core/tensor.js';
import { rawCodec } from './raw.js';

test('raw bytes decode to a uint8 view (form raw) without copying', () => {
  const body = Buffer.from([1, 2, 255]);
  const r = rawCodec.decode!(body, {});
  assert.equal(r.form, 'raw');
  const t = r.tensors[UNNAMED]!;
  assert.equal(t.dtype, 'uint8');
  assert.deepEqual(t.shape, [3]);
  assert.equal((t.data as Uint8Array).buffer, body.buffer);
  assert.deepEqual(Array.from(t.data as Uint8Array), [1, 2, 255]);
});

test('raw answers: bytes and strings as is, tensors as little-endian element bytes', () => {
  const buf = Buffer.from('abc');
  assert.equal(rawCodec.encode!(buf, {}), buf);
  assert.deepEqual(rawCodec.encode!(Uint8Array.from([7, 8]), {}), Buffer.from([7, 8]));
  assert.deepEqual(rawCodec.encode!('héllo', {}), Buffer.from('héllo', 'utf8'));
  assert.deepEqual(rawCodec.encode!(new Uint8Array([9]).buffer, {}), Buffer.from([9]));
  // A DataView (or a SharedArrayBuffer) is bytes too, as a streamed chunk of one is, not an ERR_ENCODE.
  assert.deepEqual(rawCodec.encode!(new DataView(Uint8Array.from([1, 2, 3, 4]).buffer, 1, 2), {}), Buffer.from([2, 3]));
  const shared = new Uint8Array(new SharedArrayBuffer(2));
  shared.set([5, 6]);
  assert.deepEqual(rawCodec.encode!(shared.buffer, {}), Buffer.from([5, 6]));
  const out = rawCodec.encode!({ y: tensor('float32', [2], Float32Array.from([1, -2])) }, {});
  assert.deepEqual(Array.from(new Float32Array(out.buffer, out.byteOffset, 2)), [1, -2]);
  assert.throws(() => rawCodec.encode!({ a: 1 }, {}), { code: 'ERR_ENCODE' });
  // A Blob is bytes not read yet: the message said to ask for application/json, which refuses it too.
  assert.throws(() => rawCodec.encode!(new Blob(['png bytes']), {}), { code: 'ERR_ENCODE', message: 'application/octet-stream answers need bytes, a string or a tensor, not a Blob: read its bytes first (Buffer.from(await blob.arrayBuffer()))' });
  assert.throws(() => rawCodec.encode!(new File(['x'], 'x.bin'), {}), { code: 'ERR_ENCODE', message: /not a File: read its bytes first \(Buffer\.from\(await file\.arrayBuffer\(\)\)\)$/ });
  assert.throws(() => rawCodec.encode!({ y: tensor('string', [1], ['x']) }, {}), { code: 'ERR_ENCODE' });
});
