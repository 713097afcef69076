import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';
import type { Tensor } from '../core/tensor.js';
import { ToolkitError, type ErrorCode } from '../errors/catalogue.js';
import { hasFreeDescriptors } from '../core/free-descriptors.js';
import { descriptorsBusy } from '../core/retrying-load.js';
import type { Codec, DecodeLimits, DecodedRequest } from './codec.js';
import { checkDecodedSize } from './decode-limits.js';
import { type ImageChannels, type RawImage, ImageTooLarge, decodeRaw, imageDecodeError, rawToTensor } from './image-decode.js';

export { sniffImageType, IMAGE_MEDIA_TYPES, type ImageChannels } from './image-decode.js';

/** Longest a synchronous decode may block before it fails (a huge image on a busy machine). */
const SYNC_DECODE_TIMEOUT_MS = 60_000;

let worker: Worker | undefined;

function decodeWorker(): Worker {
  if (!worker) {
    // Its code is loaded from files in a new thread; one that cannot open them fails while this thread waits for its answer.
    if (!hasFreeDescriptors()) throw descriptorsBusy('the image decoder thread');
    worker = new Worker(new URL('./image-decode-worker.js', import.meta.url));
    // Never keep a process alive just for the decoder.
    worker.unref();
    worker.on('error', () => {
      worker = undefined;
    });
    worker.on('exit', () => {
      worker = undefined;
    });
  }
  return worker;
}

/**
 * Decodes an image synchronously. Codecs are synchronous but sharp is not, so the work runs on a
 * helper thread while this thread waits on a shared flag (the pattern `synckit` uses). The calling
 * thread is an inference worker that would spend the same time decoding inline. An image whose
 * header promises more pixels than `limits` allow is refused (413 `ERR_DECODED_TOO_LARGE`) before
 * it is decoded.
 */
export function decodeImageSync(body: Uint8Array, channels: ImageChannels = 3, mediaType = 'image', limits?: DecodeLimits): Tensor<'uint8'> {
  const signal = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  try {
    decodeWorker().postMessage({ body, channels, maxBytes: limits?.maxDecodedBytes ?? Number.POSITIVE_INFINITY, reply: port2, signal }, [port2]);
    if (Atomics.wait(signal, 0, 0, SYNC_DECODE_TIMEOUT_MS) === 'timed-out') {
      throw new ToolkitError('ERR_IMAGE_DECODE', `decoding the ${mediaType} body took longer than ${SYNC_DECODE_TIMEOUT_MS / 1000} s`);
    }
    const msg = receiveMessageOnPort(port1)?.message as { ok: true; raw: RawImage } | { ok: false; message: string; decodedBytes?: number; code?: ErrorCode } | undefined;
    if (!msg) throw new ToolkitError('ERR_INTERNAL', 'the image decoder thread finished without an answer');
    if (!msg.ok && msg.decodedBytes !== undefined) checkDecodedSize(msg.decodedBytes, limits, `the ${mediaType} body`);
    if (!msg.ok && msg.code !== undefined) throw new ToolkitError(msg.code, msg.message);
    if (!msg.ok) throw imageDecodeError(mediaType, msg.message);
    return rawToTensor(msg.raw);
  } finally {
    port1.close();
  }
}

/** Decodes an image on the calling thread's event loop (for async callers); `limits` as for {@link decodeImageSync}. */
export async function decodeImage(body: Uint8Array, channels: ImageChannels = 3, mediaType = 'image', limits?: DecodeLimits): Promise<Tensor<'uint8'>> {
  try {
    return rawToTensor(await decodeRaw(body, channels, limits?.maxDecodedBytes));
  } catch (err) {
    if (err instanceof ImageTooLarge) checkDecodedSize(err.decodedBytes, limits, `the ${mediaType} body`);
    throw imageDecodeError(mediaType, (err as Error).message, err);
  }
}

/** Reads the `channels` media-type parameter (`image/png; channels=1`); 3 (RGB) by default. */
export function channelsParam(params: Readonly<Record<string, string>>): ImageChannels {
  const raw = params['channels'];
  if (raw === undefined) return 3;
  if (raw === '1' || raw === '3' || raw === '4') return Number(raw) as ImageChannels;
  throw new ToolkitError('ERR_BAD_REQUEST', `the "channels" parameter must be 1, 3 or 4, got "${raw}"`);
}

function imageCodec(mediaType: string, aliases?: string[]): Codec {
  return {
    mediaType,
    ...(aliases ? { aliases } : {}),
    decode(body: Buffer, params: Readonly<Record<string, string>>, limits?: DecodeLimits): DecodedRequest {
      if (body.length === 0) throw new ToolkitError('ERR_IMAGE_DECODE', `the ${mediaType} body is empty`);
      return { tensors: { '': decodeImageSync(body, channelsParam(params), mediaType, limits) }, form: 'tensor' };
    },
  };
}

/**
 * Decoders for `image/jpeg`, `image/png` and `image/webp` request bodies: each becomes one unnamed
 * uint8 tensor of shape [height, width, channels] (RGB unless the request says `; channels=1|4`),
 * oriented by its EXIF tag. Decode only: answers are encoded by the negotiated Accept type.
 */
export const imageCodecs: Codec[] = [imageCodec('image/jpeg', ['image/jpg', 'image/pjpeg']), imageCodec('image/png'), imageCodec('image/webp')];

