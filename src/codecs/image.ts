import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';
import type { Tensor } from '../core/tensor.js';
import { ToolkitError, type ErrorCode } from '../errors/catalogue.js';
import { hasFreeDescriptors } from '../core/free-descriptors.js';
import { descriptorsBusy, isOutOfDescriptors } from '../core/retrying-load.js';
import type { Codec, DecodeLimits, DecodedRequest } from './codec.js';
import { checkDecodedSize } from './decode-limits.js';
import { type ImageChannels, type RawImage, ImageTooLarge, decodeRaw, imageDecodeError, rawToTensor } from './image-decode.js';

export { sniffImageType, IMAGE_MEDIA_TYPES, type ImageChannels } from './image-decode.js';

/** Longest a synchronous decode may block before it fails (a huge image on a busy machine). */
const SYNC_DECODE_TIMEOUT_MS = 60_000;

/** The module the decoder thread runs (replaced in tests by {@link useImageDecoderCode}). */
let decoderCode = new URL('./image-decode-worker.js', import.meta.url);

/**
 * The decoder thread's entry: it imports the decoder's code, and answers a job itself when that
 * code cannot: the caller is blocked waiting on the job's flag and sees none of the thread's events,
 * so a thread whose code does not load, or that ends while decoding, would otherwise leave it
 * waiting out its timeout. A thread whose code did not load ends (Node keeps a module that failed
 * failed in that thread): the next image starts a fresh one. Built-in modules only, imported (the
 * script may be run as CommonJS or, under `--input-type=module`, as a module): no file is opened
 * before the code is.
 */
const BOOTSTRAP = `
import('node:worker_threads').then(({ parentPort, workerData }) => {
  const pending = new Set();
  const answer = (job, message) => {
    if (!pending.delete(job)) return;
    try {
      job.reply.postMessage(message);
      job.reply.close();
    } catch {}
    Atomics.store(job.signal, 0, 1);
    Atomics.notify(job.signal, 0);
  };
  let code;
  let loaded = false;
  parentPort.on('message', (job) => {
    pending.add(job);
    (code ??= import(workerData.code)).then(
      (m) => {
        loaded = true;
        return m.decode(job).finally(() => pending.delete(job));
      },
      (err) => {
        answer(job, { ok: false, ended: 'start', message: String((err && err.message) || err), errCode: err && err.code });
        process.exit(1);
      },
    );
  });
  process.on('exit', (exitCode) => {
    const message = loaded ? 'exit code ' + exitCode : 'its code ended the thread as it loaded, exit code ' + exitCode;
    for (const job of [...pending]) answer(job, { ok: false, ended: loaded ? 'crash' : 'start', message });
  });
});
`;

let worker: Worker | undefined;

function decodeWorker(): Worker {
  if (!worker) {
    // Its code is loaded from files in a new thread; one that cannot open them fails while this thread waits for its answer.
    if (!hasFreeDescriptors()) throw descriptorsBusy('the image decoder thread');
    const started = new Worker(BOOTSTRAP, { eval: true, workerData: { code: decoderCode.href } });
    worker = started;
    // Never keep a process alive just for the decoder.
    started.unref();
    // A thread that ended is not reused; nor is a later one forgotten when this one's exit is heard late.
    const forget = (): void => {
      if (worker === started) worker = undefined;
    };
    started.on('error', forget);
    started.on('exit', forget);
  }
  return worker;
}

/**
 * Tests only: the module the decoder thread runs from the next image on (one that fails to load,
 * or ends its thread), or smkit's own again without `code`. The current thread is let go.
 */
export function useImageDecoderCode(code?: URL): void {
  decoderCode = code ?? new URL('./image-decode-worker.js', import.meta.url);
  void worker?.terminate();
  worker = undefined;
}

/** Tests only: the decoder thread the next image goes to, if one is running (to wait for its end). */
export function imageDecoderThread(): Worker | undefined {
  return worker;
}

/** The answer to a job whose thread ended before it could decode it (see BOOTSTRAP). */
function threadEnded(ended: 'start' | 'crash', message: string, errCode: unknown, mediaType: string): ToolkitError {
  if (ended === 'crash') {
    return new ToolkitError('ERR_INTERNAL', `the image decoder thread ended while decoding the ${mediaType} body (${message}); the next image starts a new one`);
  }
  const cause = Object.assign(new Error(message), { code: errCode });
  // Its code could not be opened for want of descriptors: a fresh thread loads it once there are.
  if (isOutOfDescriptors(cause)) return descriptorsBusy('the image decoder thread', cause);
  return new ToolkitError(
    'ERR_INTERNAL',
    `the image decoder thread could not load its code (${message}): smkit's installation is incomplete or broken; reinstall it (npm ci) and restart the server`,
    { cause },
  );
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
    const thread = decodeWorker();
    thread.postMessage({ body, channels, maxBytes: limits?.maxDecodedBytes ?? Number.POSITIVE_INFINITY, reply: port2, signal }, [port2]);
    if (Atomics.wait(signal, 0, 0, SYNC_DECODE_TIMEOUT_MS) === 'timed-out') {
      throw new ToolkitError('ERR_IMAGE_DECODE', `decoding the ${mediaType} body took longer than ${SYNC_DECODE_TIMEOUT_MS / 1000} s`);
    }
    const msg = receiveMessageOnPort(port1)?.message as
      | { ok: true; raw: RawImage }
      | { ok: false; message: string; decodedBytes?: number; code?: ErrorCode; ended?: 'start' | 'crash'; errCode?: unknown }
      | undefined;
    if (!msg) throw new ToolkitError('ERR_INTERNAL', 'the image decoder thread finished without an answer');
    if (!msg.ok && msg.ended) {
      // Its exit event comes only once this thread's event loop runs again: not reused meanwhile.
      if (worker === thread) worker = undefined;
      throw threadEnded(msg.ended, msg.message, msg.errCode, mediaType);
    }
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

