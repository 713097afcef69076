import { MessageChannel, Worker, receiveMessageOnPort, type ResourceLimits } from 'node:worker_threads';
import type { Tensor } from '../core/tensor.js';
import { ToolkitError, type ErrorCode } from '../errors/catalogue.js';
import { hasFreeDescriptors } from '../core/free-descriptors.js';
import { descriptorsBusy, isOutOfDescriptors } from '../core/retrying-load.js';
import type { Codec, DecodeLimits, DecodedRequest } from './codec.js';
import { checkDecodedSize } from './decode-limits.js';
import { type ImageChannels, type RawImage, ImageTooLarge, decodeRaw, imageDecodeError, rawToTensor } from './image-decode.js';

export { sniffImageType, IMAGE_MEDIA_TYPES, type ImageChannels } from './image-decode.js';

/**
 * How long the decoder thread is waited for. The caller is blocked in `Atomics.wait` and sees none
 * of the thread's events, so the thread shows it is alive by bumping a shared counter on a timer
 * while it holds an image (its event loop is free while sharp works on libuv threads), and the caller
 * looks at that counter between slices of its wait. An idle thread does not beat: no timer wakes it
 * between images.
 */
interface DecoderTimings {
  /** How often the thread bumps its counter while it holds an image. */
  readonly beatMs: number;
  /** How long the caller waits on its flag before it looks at the counter again. */
  readonly sliceMs: number;
  /** A thread whose counter stood still this long was killed (out of memory, terminated) or is stuck. */
  readonly stallMs: number;
  /** A new thread that has not bumped its counter once in this long never started. */
  readonly startGraceMs: number;
  /** Longest a live thread may take over one image (a huge image on a busy machine). */
  readonly timeoutMs: number;
}

/** Generous: a loaded machine may be slow to start a thread or let its timer run; a dead thread is still found long before the timeout. */
const DEFAULT_TIMINGS: DecoderTimings = { beatMs: 250, sliceMs: 1000, stallMs: 10_000, startGraceMs: 20_000, timeoutMs: 60_000 };

/** The module the decoder thread runs (replaced in tests by {@link useImageDecoderCode}). */
let decoderCode = new URL('./image-decode-worker.js', import.meta.url);

/**
 * The decoder thread's entry: it imports the decoder's code, and answers a job itself when that
 * code cannot: the caller is blocked waiting on the job's flag and sees none of the thread's events,
 * so a thread whose code does not load, or that ends while decoding, would otherwise leave it
 * waiting out its timeout. A thread whose code did not load ends (Node keeps a module that failed
 * failed in that thread): the next image starts a fresh one. Built-in modules only, imported (the
 * script may be run as CommonJS or, under `--input-type=module`, as a module): no file is opened
 * before the code is. `life` (see {@link DecoderThread}) says it is alive, and that it ended;
 * `signal[1]` that it took a job (one it never took may go to a new thread).
 */
const BOOTSTRAP = `
import('node:worker_threads').then(({ parentPort, workerData }) => {
  const { life, beatMs } = workerData;
  const beat = () => Atomics.add(life, 0, 1);
  beat();
  const pending = new Set();
  let beating;
  const hold = (job) => {
    pending.add(job);
    beat();
    beating ??= setInterval(beat, beatMs).unref();
  };
  const release = (job) => {
    if (!pending.delete(job)) return false;
    if (pending.size === 0) {
      clearInterval(beating);
      beating = undefined;
    }
    return true;
  };
  const answer = (job, message) => {
    if (!release(job)) return;
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
    Atomics.store(job.signal, 1, 1);
    hold(job);
    (code ??= import(workerData.code)).then(
      (m) => {
        loaded = true;
        return m.decode(job).finally(() => release(job));
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
    Atomics.store(life, 1, 1);
  });
});
`;

/** Tests only: what {@link useImageDecoderThread} may change. */
export interface ImageDecoderThreadOptions {
  /** The thread's entry script in place of smkit's (one that never runs, or never beats). */
  readonly bootstrap?: string;
  readonly resourceLimits?: ResourceLimits;
  readonly timings?: Partial<DecoderTimings>;
  /** In place of {@link hasFreeDescriptors}. */
  readonly hasFreeDescriptors?: () => boolean;
}

let threadOptions: ImageDecoderThreadOptions = {};
let timings = DEFAULT_TIMINGS;

/** A decoder thread, and what the calling thread last saw of its life. */
interface DecoderThread {
  readonly worker: Worker;
  /** Shared with the thread: [0] bumped as it starts, as it takes an image and every `beatMs` while it holds one; [1] set as its exit handler runs. */
  readonly life: Int32Array;
  /** The counter as last seen, and when it was first seen so (`performance.now()`). */
  beats: number;
  beatsSeenAt: number;
}

/** Why a thread is taken for dead: it ended (its exit handler ran), never started, or went silent. */
type Death = 'ended' | 'start' | 'stalled';

let current: DecoderThread | undefined;

const freeDescriptors = (): boolean => (threadOptions.hasFreeDescriptors ?? hasFreeDescriptors)();

function startThread(): DecoderThread {
  // Its code is loaded from files in a new thread; one that cannot open them fails while this thread waits for its answer.
  if (!freeDescriptors()) throw descriptorsBusy('the image decoder thread');
  const life = new Int32Array(new SharedArrayBuffer(8));
  let worker: Worker;
  try {
    worker = new Worker(threadOptions.bootstrap ?? BOOTSTRAP, {
      eval: true,
      workerData: { code: decoderCode.href, life, beatMs: timings.beatMs },
      ...(threadOptions.resourceLimits ? { resourceLimits: threadOptions.resourceLimits } : {}),
    });
  } catch (err) {
    throw notCreated(err);
  }
  const thread: DecoderThread = { worker, life, beats: 0, beatsSeenAt: performance.now() };
  // Never keep a process alive just for the decoder.
  worker.unref();
  // A thread that ended is not reused; nor is a later one forgotten when this one's exit is heard late.
  const forget = (): void => {
    if (current === thread) current = undefined;
  };
  worker.on('error', forget);
  worker.on('exit', forget);
  return thread;
}

/** The answer when Node refuses to create the thread at once (`ERR_WORKER_INIT_FAILED`: the OS gave it no thread, EAGAIN). */
function notCreated(err: unknown): ToolkitError {
  if (isOutOfDescriptors(err)) return descriptorsBusy('the image decoder thread', err);
  const why = err instanceof Error ? err.message : String(err);
  if ((err as { code?: unknown } | undefined)?.code === 'ERR_WORKER_INIT_FAILED') {
    // A limit on threads or memory (a container's pids limit): one may be free shortly.
    return new ToolkitError('ERR_SERVER_BUSY', `the image decoder thread cannot be started now: Node could not create a thread (${why}), the process is at a limit on threads or memory; retry shortly`, { cause: err });
  }
  return new ToolkitError('ERR_INTERNAL', `the image decoder thread could not be created (${why})`, { cause: err });
}

/** Why `thread` is taken for dead at `now`, or undefined while it shows signs of life. */
function death(thread: DecoderThread, now: number): Death | undefined {
  if (Atomics.load(thread.life, 1) !== 0) return 'ended';
  const beats = Atomics.load(thread.life, 0);
  if (beats !== thread.beats) {
    thread.beats = beats;
    thread.beatsSeenAt = now;
    return undefined;
  }
  if (beats === 0) return now - thread.beatsSeenAt > timings.startGraceMs ? 'start' : undefined;
  return now - thread.beatsSeenAt > timings.stallMs ? 'stalled' : undefined;
}

/** Ends a thread taken for dead (or stuck) and forgets it: the next image starts a new one. */
function abandon(thread: DecoderThread): void {
  if (current === thread) current = undefined;
  thread.worker.terminate().catch(() => {});
}

/** The thread the next image goes to: a new one in place of one that ended since the last image (its exit event may not have been heard). */
function decoderThread(now: number): DecoderThread {
  if (current && Atomics.load(current.life, 1) !== 0) abandon(current);
  const thread = (current ??= startThread());
  // Idle, a started thread does not beat: its silence counts from this image on (one that died idle is found so).
  const beats = Atomics.load(thread.life, 0);
  if (beats !== 0) {
    thread.beats = beats;
    thread.beatsSeenAt = now;
  }
  return thread;
}

/**
 * Tests only: the module the decoder thread runs from the next image on (one that fails to load,
 * or ends its thread), or smkit's own again without `code`. The current thread is let go.
 */
export function useImageDecoderCode(code?: URL): void {
  decoderCode = code ?? new URL('./image-decode-worker.js', import.meta.url);
  if (current) abandon(current);
}

/** Tests only: how the decoder thread is started and waited for from the next image on, or smkit's own way again without `options`. */
export function useImageDecoderThread(options: ImageDecoderThreadOptions = {}): void {
  threadOptions = options;
  timings = { ...DEFAULT_TIMINGS, ...options.timings };
  if (current) abandon(current);
}

/** Tests only: the decoder thread the next image goes to, if one is running (to wait for its end). */
export function imageDecoderThread(): Worker | undefined {
  return current?.worker;
}

/** Tests only: the heartbeat counter of that thread (how often it has beaten). */
export function imageDecoderThreadBeats(): number | undefined {
  return current && Atomics.load(current.life, 0);
}

/** The answer to a job whose thread ended before it could decode it (see BOOTSTRAP). */
function threadEnded(ended: 'start' | 'crash', message: string, errCode: unknown, mediaType: string): ToolkitError {
  if (ended === 'crash') {
    return new ToolkitError('ERR_INTERNAL', `the image decoder thread ended while decoding the ${mediaType} body (${message}); retry the request: the next image starts a new one`);
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

/** The answer to a job whose thread was found dead by its silence (it never answered, nor ran its exit handler). */
function threadLost(death: Death, mediaType: string): ToolkitError {
  if (death === 'start') {
    // Node needs descriptors for a thread's event loop: it could not make one for want of them.
    if (!freeDescriptors()) return descriptorsBusy('the image decoder thread');
    return new ToolkitError('ERR_INTERNAL', `the image decoder thread did not start within ${timings.startGraceMs / 1000} s (Node could not create or start it); retry the request: the next image starts a new one`);
  }
  if (death === 'ended') return new ToolkitError('ERR_INTERNAL', `the image decoder thread ended while decoding the ${mediaType} body; retry the request: the next image starts a new one`);
  return new ToolkitError(
    'ERR_INTERNAL',
    `the image decoder thread stopped while decoding the ${mediaType} body (no sign of life for ${timings.stallMs / 1000} s: killed, out of memory, or stuck); it was ended: retry the request, the next image starts a new one`,
  );
}

/** Waits in slices for the answer to the job flagged by `signal`, looking at the thread's life between them. */
function awaitAnswer(thread: DecoderThread, signal: Int32Array, deadline: number): 'answered' | 'timed-out' | Death {
  for (;;) {
    const slice = Math.min(timings.sliceMs, deadline - performance.now());
    if (Atomics.wait(signal, 0, 0, Math.max(0, slice)) !== 'timed-out') return 'answered';
    const now = performance.now();
    const dead = death(thread, now);
    // It may have answered as the slice ended.
    if (Atomics.load(signal, 0) !== 0) return 'answered';
    if (dead) return dead;
    if (now >= deadline) return 'timed-out';
  }
}

/**
 * Decodes an image synchronously. Codecs are synchronous but sharp is not, so the work runs on a
 * helper thread while this thread waits on a shared flag (the pattern `synckit` uses). The calling
 * thread is an inference worker that would spend the same time decoding inline. An image whose
 * header promises more pixels than `limits` allow is refused (413 `ERR_DECODED_TOO_LARGE`) before
 * it is decoded. A thread that dies, or never starts, is a 500 `ERR_INTERNAL` (503
 * `ERR_SERVER_BUSY` for want of descriptors), found within seconds; an image a live thread did not
 * decode in time, a 504 `ERR_TIMEOUT`.
 */
export function decodeImageSync(body: Uint8Array, channels: ImageChannels = 3, mediaType = 'image', limits?: DecodeLimits): Tensor<'uint8'> {
  const started = performance.now();
  const deadline = started + timings.timeoutMs;
  for (let attempt = 1; ; attempt++) {
    // [0] set once answered; [1] once the thread took the job.
    const signal = new Int32Array(new SharedArrayBuffer(8));
    const { port1, port2 } = new MessageChannel();
    try {
      const thread = decoderThread(attempt === 1 ? started : performance.now());
      thread.worker.postMessage({ body, channels, maxBytes: limits?.maxDecodedBytes ?? Number.POSITIVE_INFINITY, reply: port2, signal }, [port2]);
      const outcome = awaitAnswer(thread, signal, deadline);
      if (outcome === 'timed-out') {
        // Not left decoding an image nobody waits for.
        abandon(thread);
        throw new ToolkitError(
          'ERR_TIMEOUT',
          `decoding the ${mediaType} body took longer than ${timings.timeoutMs / 1000} s: the server was too busy to decode it in time; retry later (the decoder thread was ended, and the next image starts a new one)`,
        );
      }
      if (outcome !== 'answered') {
        abandon(thread);
        // A thread that died before it took the job (between two images): a new one decodes it.
        if (outcome !== 'start' && Atomics.load(signal, 1) === 0 && attempt === 1) continue;
        throw threadLost(outcome, mediaType);
      }
      const msg = receiveMessageOnPort(port1)?.message as
        | { ok: true; raw: RawImage }
        | { ok: false; message: string; decodedBytes?: number; code?: ErrorCode; ended?: 'start' | 'crash'; errCode?: unknown }
        | undefined;
      if (!msg) throw new ToolkitError('ERR_INTERNAL', 'the image decoder thread finished without an answer');
      if (!msg.ok && msg.ended) {
        // Its exit event comes only once this thread's event loop runs again: not reused meanwhile.
        if (current === thread) current = undefined;
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

