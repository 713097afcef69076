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
