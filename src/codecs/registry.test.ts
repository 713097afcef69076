import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UNNAMED, tensor } from '../core/tensor.js';
import { ToolkitError } from '../errors/catalogue.js';
import type { Codec } from './codec.js';
import { createDefaultCodecs } from './defaults.js';
import { negotiateAccept } from './negotiate.js';
import { CodecRegistry } from './registry.js';

const isError = (code: string, status: number, pattern: RegExp) => (e: unknown) =>
  e instanceof ToolkitError && e.code === code && e.status === status && pattern.test(e.message);

test('the default registry decodes and encodes every built-in type', () => {
  const r = createDefaultCodecs();
  const decodable = r.decodableTypes();
  const encodable = r.encodableTypes();
  // Built-ins come first, in this order (other codecs such as images may follow).
  assert.deepEqual(decodable.slice(0, 6), ['application/json', 'text/csv', 'application/x-npy', 'application/x-npz', 'application/jsonlines', 'application/octet-stream']);
  assert.deepEqual(encodable.slice(0, 5), ['application/json', 'text/csv', 'application/x-npy', 'application/jsonlines', 'application/octet-stream']);
  for (const alias of ['application/x-jsonlines', 'application/jsonl']) {
    assert.ok(decodable.includes(alias) && encodable.includes(alias), alias);
  }
  assert.ok(!encodable.includes('application/x-npz'));
  assert.equal(r.find('application/JSONL')?.mediaType, 'application/jsonlines');
  assert.equal(r.find('text/csv; charset=utf-8')?.mediaType, 'text/csv');
  assert.equal(r.find('application/x-unknown'), undefined);
});

test('C-1.13 decision: Content-Type parameters and case are ignored; a missing type means JSON', () => {
  const r = createDefaultCodecs();
  assert.deepEqual(r.decode('application/json; charset=utf-8', Buffer.from('[1,2]')).tensors[UNNAMED]!.shape, [2]);
  assert.deepEqual(r.decode('Text/CSV ; charset=UTF-8', Buffer.from('1,2\n3,4\n')).tensors[UNNAMED]!.shape, [2, 2]);
  assert.deepEqual(r.decode(undefined, Buffer.from('[[1]]')).tensors[UNNAMED]!.shape, [1, 1]);
});

test('C-1.12: an unsupported Content-Type is a 415 listing the supported types and mentioning inputFn', () => {
  const r = createDefaultCodecs();
  assert.throws(() => r.decode('application/x-unknown', Buffer.alloc(1)), isError('ERR_UNSUPPORTED_MEDIA_TYPE', 415, /'application\/x-unknown'.*application\/json, text\/csv.*inputFn/));
});

test('a form-encoded body (curl -d without a Content-Type) gets a hint', () => {
  assert.throws(() => createDefaultCodecs().decode('application/x-www-form-urlencoded', Buffer.from('[1]')), /curl -d sends this type/);
});

test('encode by media type; no encoder is a 406 mentioning outputFn', () => {
  const r = createDefaultCodecs();
  const out = { y: tensor('float32', [2, 1], Float32Array.from([1, 2])) };
  assert.equal(r.encode(out, 'text/csv', {}).toString(), '1\n2\n');
  assert.equal(r.encode(out, 'application/jsonl', {}).toString(), '[1.0]\n[2.0]\n');
  assert.throws(() => r.encode(out, 'application/x-npz', {}), isError('ERR_NOT_ACCEPTABLE', 406, /'application\/x-npz'.*outputFn/));
  assert.throws(() => r.encode(out, 'application/x-unknown', {}), isError('ERR_NOT_ACCEPTABLE', 406, /Accept one of/));
});

test('registering a media type or alias twice throws ERR_CODEC_ALREADY_REGISTERED', () => {
  const r = new CodecRegistry();
  const a: Codec = { mediaType: 'application/x-a', aliases: ['application/x-b'], decode: () => ({ tensors: {}, form: 'raw' }) };
  r.register(a);
  assert.throws(() => r.register({ mediaType: 'Application/X-A' }), isError('ERR_CODEC_ALREADY_REGISTERED', 500, /application\/x-a/));
  assert.throws(() => r.register({ mediaType: 'application/x-c', aliases: ['application/x-b'] }), isError('ERR_CODEC_ALREADY_REGISTERED', 500, /application\/x-b/));
  // A failed registration leaves nothing behind.
  assert.equal(r.find('application/x-c'), undefined);
  assert.throws(() => createDefaultCodecs().register({ mediaType: 'application/json' }), { code: 'ERR_CODEC_ALREADY_REGISTERED' });
});

test('negotiation over the registry: C-3 cases end to end through encode', () => {
  const r = createDefaultCodecs();
  const out = { y: tensor('float32', [2], Float32Array.from([42, 6])) };
  const answer = (accept: string | undefined) => {
    const type = negotiateAccept(accept, r.encodableTypes(), 'application/json');
    return type === undefined ? undefined : { type, body: r.encode(out, type, {}).toString('latin1') };
  };
  assert.deepEqual(answer('text/csv'), { type: 'text/csv', body: '42\n6\n' });
  assert.deepEqual(answer('application/unsupported, application/json, text/csv'), { type: 'application/json', body: '[42.0,6.0]' });
  assert.deepEqual(answer(undefined), { type: 'application/json', body: '[42.0,6.0]' });
  assert.equal(answer('application/x-npy')?.body.slice(0, 6), '\x93NUMPY');
  assert.equal(answer('application/x-unknown'), undefined);
});

test('a v2 request asking for a classification gets the top-k strings in every answer type (CSV, NPY, JSON lines), not the scores', () => {
  const r = createDefaultCodecs();
  const request = r.decode('application/json', Buffer.from(JSON.stringify({
    inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }],
    outputs: [{ name: 'scores', parameters: { classification: 2 } }],
  })));
  const out = { scores: tensor('float32', [2, 3], Float32Array.from([0.1, 0.7, 0.2, 0.5, 0.25, 0.25])) };
  const answer = (type: string) => {
    const body = r.encodeResponse(out, type, { request });
    return Buffer.isBuffer(body) ? body : body.body;
  };
  assert.equal(answer('text/csv').toString(), '0.700000:1,0.200000:2\n0.500000:0,0.250000:1\n');
  assert.equal(answer('application/jsonlines').toString(), '["0.700000:1","0.200000:2"]\n["0.500000:0","0.250000:1"]\n');
  assert.match(answer('application/x-npy').toString('latin1'), /'descr': '<U10'.*'shape': \(2, 2\)/);
  // v2 JSON ranks them once, as before.
  assert.match(answer('application/json').toString(), /"name":"scores","shape":\[2,2\],"datatype":"BYTES","data":\["0.700000:1","0.200000:2","0.500000:0","0.250000:1"\]/);
  // An output that cannot be classified is the same 400 in any type.
  const bad = { scores: tensor('bool', [2], Uint8Array.from([1, 0])) };
  assert.throws(() => r.encodeResponse(bad, 'text/csv', { request }), { code: 'ERR_BAD_REQUEST', message: /cannot be classified/ });
});
