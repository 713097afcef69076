import { isUtf8 } from 'node:buffer';
import type { InferenceBackend } from '../inference-backend.js';
import type { Cancellation } from '../../core/cancellation.js';
import type { BidiFrame, BidiRequest } from '../../core/bidi-frame.js';
import { invocationTimeout } from '../timeout-error.js';

/** Answers in these media types go out as text frames; every other type as binary frames. */
const TEXTUAL = /^\s*(text\/|application\/(json|jsonlines|x-jsonlines|x-ndjson|csv)\b|application\/[^;\s]*\+json\b)/i;

/** The `charset` parameter of a media type, lower-cased; undefined without one. */
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)/i;

/** Charsets whose bytes are UTF-8 as they stand. */
const UTF8_CHARSETS = new Set(['utf-8', 'utf8', 'us-ascii', 'ascii']);

/**
 * Whether an answer of this media type is sent as a text frame: a textual type in UTF-8 (no
 * `charset`, or a UTF-8 one). A text frame must be UTF-8 (RFC 6455 §5.6, §8.1) and a client fails
 * the whole stream (1007) on one that is not, so a textual answer in another charset
 * (`text/csv; charset=iso-8859-1`) goes out as a binary frame, its bytes as the model gave them.
 */
export function isTextual(contentType: string): boolean {
  if (!TEXTUAL.test(contentType)) return false;
  const charset = CHARSET.exec(contentType)?.[1];
  return charset === undefined || UTF8_CHARSETS.has(charset.toLowerCase());
}

/** How a model without `bidiFn` reads each message. */
export interface PerMessageOptions {
  /** `content-type` from the query string; else text frames are JSON and binary frames `application/octet-stream`. */
  readonly contentType?: string;
  /** `accept` from the query string; else the model's default. */
  readonly accept?: string;
  /** Per message, as `SAGEMAKER_MODEL_SERVER_TIMEOUT` for a request. */
  readonly timeoutMs: number;
}

/**
 * A bidirectional stream served by a model without `bidiFn`: each message is one invocation, run as
 * `POST /invocations` runs it (the same codecs, hooks, batching and timeout), and its answer is one
 * message back (a streamed answer in parts: each chunk a frame without FIN, then an empty one with it). Messages are answered in order, one at a
 * time; the first that fails ends the stream with its error.
 */
export async function* answerEachMessage(
  backend: InferenceBackend,
  request: BidiRequest,
  frames: AsyncIterable<BidiFrame>,
  options: PerMessageOptions,
  cancellation: Cancellation,
): AsyncIterable<BidiFrame> {
  for await (const frame of frames) {
    const arrived = performance.now();
    const body = Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength);
    const contentType = options.contentType ?? (frame.binary ? 'application/octet-stream' : 'application/json');
    const response = await backend.invoke({ requestId: request.requestId, body, contentType, accept: options.accept, headers: request.headers, cancellation }, options.timeoutMs);
    const binary = !isTextual(response.contentType);
    if (response.stream) {
      // One answer is one message, its chunks the parts: a chunk may end inside a character, and a
      // text frame of its own must be whole UTF-8 (RFC 6455 §8.1), checked only once a message ends.
      // A message carries no custom attributes, but they are taken with the first chunk as for an
      // HTTP answer (and as the thread's relay always takes them): a value set later is only warned
      // of, not checked, inline as in the thread.
      const remainingMs = Math.max(1, options.timeoutMs - (performance.now() - arrived));
      const chunks = stoppable(response.stream, remainingMs, () => invocationTimeout(options.timeoutMs, backend.describe()), cancellation);
      let taken = false;
      for await (const chunk of chunks) {
        if (!taken) {
          taken = true;
          response.takeCustomAttributes?.();
        }
        yield { data: chunk, binary, partial: true };
      }
      yield { data: new Uint8Array(0), binary };
    } else {
      // A textual answer that is not UTF-8 after all (a model writing Latin-1 without saying so)
      // would fail the client's stream as a text frame; as a binary one its bytes arrive intact.
      yield { data: response.body, binary: binary || !isUtf8(response.body) };
    }
  }
}

/**
 * `stream` as one message's parts. Its first chunk is the answer, so, as for `POST /invocations`,
 * one that does not come within the message's timeout fails it with 504 `ERR_TIMEOUT` (the stream
 * closes with 4504) and `context.signal` aborts with that error; later chunks may take their time.
 * The stream being cancelled (the client left, the server stops) ends the wait for any chunk: the
 * stream's reader waits at that chunk, not at a `yield`, so its `return()` would not reach the
 * producer, and a producer in the inference thread would run on (holding a shutdown) until it ended
 * by itself. Either way the producer is stopped and learns why.
 */
function stoppable(stream: AsyncIterable<Uint8Array>, timeoutMs: number, timedOut: () => Error, cancellation: Cancellation): AsyncIterable<Uint8Array> {
  const chunks = stream[Symbol.asyncIterator]();
  let first = true;
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => {
        const limitMs = first ? timeoutMs : undefined;
        first = false;
        return nextChunk(chunks, limitMs, timedOut, cancellation);
      },
      return: () => chunks.return?.() ?? Promise.resolve({ value: undefined, done: true }),
    }),
  };
}

/** The next chunk, unless `cancellation` is cancelled first (then by `timedOut()` once `limitMs` pass, if given). */
async function nextChunk(chunks: AsyncIterator<Uint8Array>, limitMs: number | undefined, timedOut: () => Error, cancellation: Cancellation): Promise<IteratorResult<Uint8Array>> {
  const signal = cancellation.signal;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    if (limitMs !== undefined) timer = setTimeout(() => cancellation.cancel(timedOut()), limitMs);
  });
  try {
    return await Promise.race([chunks.next(), stopped]);
  } catch (err) {
    // A generator awaiting something takes return() once that settles: its signal has aborted by now.
    if (signal.aborted) void Promise.resolve(chunks.return?.()).catch(() => undefined);
    throw err;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort!);
  }
}
