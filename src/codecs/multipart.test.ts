import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { UNNAMED } from '../core/tensor.js';
import { isToolkitError } from '../errors/catalogue.js';
import { csvCodec } from './csv.js';
import { jsonCodec } from './json.js';
import { type FormPart, decodeFormParts } from './multipart.js';
import { CodecRegistry } from './registry.js';
import { npyCodec, npyHeader } from './npy.js';

const codecs = new CodecRegistry().register(jsonCodec).register(csvCodec);

async function jpeg(width: number, height: number, colour = { r: 10, g: 200, b: 10 }): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: colour } }).jpeg().toBuffer();
}

const file = (field: string, data: Buffer, contentType = 'image/jpeg', filename = `${field}.jpg`): FormPart => ({ field, filename, contentType, data });
const text = (field: string, value: string): FormPart => ({ field, contentType: 'text/plain', data: Buffer.from(value) });

test('one image stays H×W×C; two images stack into a batch; text fields become parameters', async () => {
  const one = decodeFormParts([file('image', await jpeg(6, 4))], codecs, ['input']);
  assert.deepEqual(one.tensors[UNNAMED]!.shape, [4, 6, 3]);
  const two = decodeFormParts([file('a', await jpeg(6, 4)), file('b', await jpeg(6, 4, { r: 200, g: 0, b: 0 })), text('top', '3'), text('note', 'hi')], codecs, ['input']);
  const batch = two.tensors[UNNAMED]!;
  assert.deepEqual(batch.shape, [2, 4, 6, 3]);
  assert.equal(batch.dtype, 'uint8');
  assert.ok(Number(batch.data[1]) > 150 && Number(batch.data[72]) > 150, 'first image green, second red');
  assert.deepEqual(two.parameters, { top: 3, note: 'hi' });
  assert.equal(two.form, 'tensor');
  // Any field name is a parameter of its own, __proto__ too (assigned, it would set the prototype and vanish).
  const proto = decodeFormParts([file('image', await jpeg(2, 2)), text('__proto__', '{"top": 1}')], codecs, []);
  assert.deepEqual(Object.keys(proto.parameters ?? {}), ['__proto__']);
  assert.equal((proto.parameters as Record<string, unknown>)['top'], undefined);
  assert.deepEqual(Object.getOwnPropertyDescriptor(proto.parameters, '__proto__')?.value, { top: 1 });
});

test('fields named after model inputs become named inputs (files and JSON text)', async () => {
  const req = decodeFormParts(
    [file('image', await jpeg(3, 3)), text('scale', '[[0.5, 2]]'), file('rows', Buffer.from('1,2\n3,4\n'), 'text/csv', 'rows.csv')],
    codecs,
    ['image', 'scale'],
  );
  assert.deepEqual(Object.keys(req.tensors).sort(), ['', 'image', 'scale']);
  assert.deepEqual(req.tensors['image']!.shape, [3, 3, 3]);
  assert.deepEqual(req.tensors['scale']!.shape, [1, 2]);
  assert.deepEqual(req.tensors[UNNAMED]!.shape, [2, 2]);
  assert.throws(() => decodeFormParts([text('scale', 'not json')], codecs, ['scale']), (e: unknown) => isToolkitError(e) && e.status === 400 && /scale/.test(e.message));
});

test('octet-stream files are sniffed; CSV files join along rows', async () => {
  const sniffed = decodeFormParts([file('f', await jpeg(2, 2), 'application/octet-stream', 'blob')], codecs, []);
  assert.deepEqual(sniffed.tensors[UNNAMED]!.shape, [2, 2, 3]);
  const csv = decodeFormParts([file('x', Buffer.from('1,2\n'), 'text/csv', 'a.csv'), file('y', Buffer.from('3,4\n5,6\n'), 'text/csv', 'b.csv')], codecs, []);
  assert.deepEqual(csv.tensors[UNNAMED]!.shape, [3, 2]);
  assert.deepEqual([...csv.tensors[UNNAMED]!.data].map(Number), [1, 2, 3, 4, 5, 6]);
});

test('errors: different image sizes, bad images, unknown types, no files', async () => {
  const fail = (parts: FormPart[], code: string, pattern: RegExp) =>
    assert.throws(() => decodeFormParts(parts, codecs, ['input']), (e: unknown) => isToolkitError(e) && e.code === code && e.status < 500 && pattern.test(e.message));
  fail([file('a', await jpeg(6, 4)), file('b', await jpeg(5, 4))], 'ERR_IMAGE_SIZE_MISMATCH', /4×6 and 4×5/);
  fail([file('a', Buffer.from('garbage'))], 'ERR_IMAGE_DECODE', /a\.jpg/);
  fail([file('a', Buffer.from('garbage'), 'application/octet-stream', 'blob')], 'ERR_UNSUPPORTED_MEDIA_TYPE', /Content-Type/);
  fail([file('a', Buffer.from('x'), 'application/x-unknown', 'blob')], 'ERR_UNSUPPORTED_MEDIA_TYPE', /blob/);
  fail([text('note', 'hello')], 'ERR_BAD_REQUEST', /no files/);
});

test('the parts of one request share one decoded-size budget, checked from each image header before decoding', async () => {
  const img = await jpeg(100, 100); // 30 000 bytes decoded as RGB
  const ok = decodeFormParts([file('a', img), file('b', img)], codecs, [], { maxDecodedBytes: 60_000 });
  assert.deepEqual(ok.tensors[UNNAMED]!.shape, [2, 100, 100, 3]);
  // Each image alone fits; the third does not fit in what the first two left.
  assert.throws(
    () => decodeFormParts([file('a', img), file('b', img), file('c', img)], codecs, [], { maxDecodedBytes: 70_000 }),
    (e: unknown) => isToolkitError(e) && e.code === 'ERR_DECODED_TOO_LARGE' && e.status === 413 && /file "c\.jpg"/.test(e.message) && /SMKIT_MAX_DECODED_MB/.test(e.message),
  );
  // CSV files count too.
  const csv = file('rows', Buffer.from('1,2\n3,4\n'), 'text/csv', 'rows.csv');
  assert.throws(
    () => decodeFormParts([csv, csv], codecs, [], { maxDecodedBytes: 40 }),
    (e: unknown) => isToolkitError(e) && e.code === 'ERR_DECODED_TOO_LARGE',
  );
});

test("a '|S' NPY file in a form comes back as '|S' with its bytes when the answer is NPY, as for an NPY body", () => {
  const withNpy = new CodecRegistry().register(jsonCodec).register(npyCodec);
  const elements = [Buffer.of(0xff, 0x01), Buffer.from('é'), Buffer.from('ab')];
  const body = Buffer.concat([npyHeader('|S2', [3]), ...elements]);
  const request = decodeFormParts([file('data', body, 'application/x-npy', 'data.npy')], withNpy, ['x']);
  assert.equal(request.npyBytes, true);
  assert.deepEqual(withNpy.encode(request.tensors, 'application/x-npy', { request }), body);
});

test("a string one form part read as bytes (not UTF-8) and another as text is answered as UTF-8, as when one NPY body holds both", () => {
  const withNpy = new CodecRegistry().register(jsonCodec).register(npyCodec);
  // b'\xff' is not UTF-8: read as 'ÿ' one character per byte; b'\xc3\xbf' is the UTF-8 of 'ÿ'.
  const bytes = Buffer.concat([npyHeader('|S1', [1]), Buffer.of(0xff)]);
  const utf8 = Buffer.concat([npyHeader('|S2', [1]), Buffer.from('ÿ')]);
  const utf32 = Buffer.concat([npyHeader('<U1', [1]), Buffer.from(Uint32Array.of(0xff).buffer)]);
  const oneBody = Buffer.concat([npyHeader('|S2', [2]), Buffer.of(0xff, 0), Buffer.from('ÿ')]);
  const fromBody = npyCodec.decode!(oneBody, {});
  const expected = withNpy.encode(fromBody.tensors, 'application/x-npy', { request: fromBody });
  assert.deepEqual([...expected.subarray(-4)], [0xc3, 0xbf, 0xc3, 0xbf]);
  for (const other of [utf8, utf32]) {
    const request = decodeFormParts([file('a', bytes, 'application/x-npy', 'a.npy'), file('b', other, 'application/x-npy', 'b.npy')], withNpy, []);
    assert.equal(request.binaryStrings, undefined);
    assert.deepEqual(withNpy.encode(request.tensors, 'application/x-npy', { request }), expected);
  }
  // Bytes read as bytes in every part stay bytes.
  const both = decodeFormParts([file('a', bytes, 'application/x-npy', 'a.npy'), file('b', bytes, 'application/x-npy', 'b.npy')], withNpy, []);
  assert.deepEqual([...(both.binaryStrings ?? [])], ['ÿ']);
  assert.deepEqual([...withNpy.encode(both.tensors, 'application/x-npy', { request: both }).subarray(-2)], [0xff, 0xff]);
});
