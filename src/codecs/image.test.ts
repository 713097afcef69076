import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { isToolkitError } from '../errors/catalogue.js';
import { decodeImage, decodeImageSync, imageCodecs, sniffImageType } from './image.js';
import { pngBomb } from '../../test/helpers/hostile-bodies.js';

const red = { r: 220, g: 20, b: 30 };

async function encoded(format: 'jpeg' | 'png' | 'webp', channels: 3 | 4 = 3): Promise<Buffer> {
  const img = sharp({ create: { width: 5, height: 4, channels, background: channels === 4 ? { ...red, alpha: 0.5 } : red } });
  return format === 'jpeg' ? img.jpeg({ quality: 95 }).toBuffer() : format === 'png' ? img.png().toBuffer() : img.webp({ lossless: true }).toBuffer();
}

test('JPEG, PNG and WebP bodies decode to uint8 H×W×3 tensors', async () => {
  for (const [format, codec] of [['jpeg', imageCodecs[0]!], ['png', imageCodecs[1]!], ['webp', imageCodecs[2]!]] as const) {
    const body = await encoded(format);
    assert.equal(sniffImageType(body), codec.mediaType);
    const req = codec.decode!(body, {});
    assert.equal(req.form, 'tensor');
    const t = req.tensors['']!;
    assert.equal(t.dtype, 'uint8');
    assert.deepEqual(t.shape, [4, 5, 3]);
    // JPEG is lossy: allow a few levels.
    assert.ok(Math.abs(Number(t.data[0]) - red.r) <= 3 && Math.abs(Number(t.data[1]) - red.g) <= 3, `${format}: ${[...t.data.slice(0, 3)]}`);
  }
});

test('the channels parameter picks grey, RGB or RGBA; alpha is dropped by default', async () => {
  const png = await encoded('png', 4);
  assert.deepEqual(imageCodecs[1]!.decode!(png, {}).tensors['']!.shape, [4, 5, 3]);
  assert.deepEqual(imageCodecs[1]!.decode!(png, { channels: '4' }).tensors['']!.shape, [4, 5, 4]);
  assert.deepEqual(imageCodecs[1]!.decode!(png, { channels: '1' }).tensors['']!.shape, [4, 5, 1]);
  assert.throws(() => imageCodecs[1]!.decode!(png, { channels: '2' }), (e: unknown) => isToolkitError(e) && e.status === 400);
});

test('undecodable or empty bodies are 400 ERR_IMAGE_DECODE; sync and async decoders agree', async () => {
  for (const body of [Buffer.from('not an image'), Buffer.alloc(0)]) {
    assert.throws(() => imageCodecs[0]!.decode!(body, {}), (e: unknown) => isToolkitError(e) && e.code === 'ERR_IMAGE_DECODE' && e.status === 400);
  }
  const jpg = await encoded('jpeg');
  assert.deepEqual([...(await decodeImage(jpg)).data], [...decodeImageSync(jpg).data]);
  await assert.rejects(decodeImage(Buffer.from('nope')), (e: unknown) => isToolkitError(e) && e.code === 'ERR_IMAGE_DECODE');
});


test('an image over the pixel limit is refused before decoding (decompression bombs)', async () => {
  // The limit must trip on the header alone.
  const huge = pngBomb();
  assert.throws(() => imageCodecs[1]!.decode!(huge, {}), (e: unknown) => isToolkitError(e) && e.code === 'ERR_IMAGE_DECODE' && /pixel limit/.test(e.message));
});

test('an image whose header promises more than the decoded-size budget is a 413, sync and async', async () => {
  const limits = { maxDecodedBytes: 10 * 1024 * 1024 };
  const isBudget = (e: unknown) => isToolkitError(e) && e.code === 'ERR_DECODED_TOO_LARGE' && e.status === 413 && /180(\.\d+)? MB|171\.66 MB/.test(e.message);
  assert.throws(() => imageCodecs[1]!.decode!(pngBomb(), {}, limits), isBudget);
  await assert.rejects(decodeImage(pngBomb(), 3, 'image/png', limits), isBudget);
  // Under the budget the same kind of image decodes as before.
  const small = await encoded('png');
  assert.deepEqual(imageCodecs[1]!.decode!(small, {}, { maxDecodedBytes: 60 }).tensors['']!.shape, [4, 5, 3]);
  assert.throws(() => imageCodecs[1]!.decode!(small, {}, { maxDecodedBytes: 59 }), (e: unknown) => isToolkitError(e) && e.code === 'ERR_DECODED_TOO_LARGE');
});
