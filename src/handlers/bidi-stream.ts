import type { Logger, SageMakerHeaders } from '../core/context.js';
import { Cancellation } from '../core/cancellation.js';
import type { BidiFrame, BidiRequest } from '../core/bidi-frame.js';
import { bytesOf } from './chunk-bytes.js';
import { MAX_JSON_DEPTH, jsonNestsDeeperThan } from '../codecs/json-depth.js';
import { valueToJson } from '../codecs/json-write.js';
import { ToolkitError } from '../errors/catalogue.js';
import { thrownMessage, valueKind } from '../errors/excerpt.js';

/** One message the client sent on a bidirectional stream (a whole WebSocket message). */
export class BidiMessage {
  constructor(
    /** The message's bytes. */
    readonly data: Buffer,
    /** True for a binary frame (`DataType` `BINARY`), false for a text frame (`UTF8`). */
    readonly binary: boolean,
  ) {}

  /** The bytes as UTF-8 text. */
  text(): string {
    return this.data.toString('utf8');
  }

  /**
   * The bytes parsed as JSON. Throws a `SyntaxError` on malformed JSON, and 400 `ERR_JSON_PARSE`
   * (the stream closes with 4400 unless `bidiFn` catches it) for JSON nesting arrays and objects
   * more than {@link MAX_JSON_DEPTH} deep, before parsing it, as a request body is refused.
   */
  json<T = unknown>(): T {
    const text = this.text();
    if (jsonNestsDeeperThan(text)) {
      throw new ToolkitError('ERR_JSON_PARSE', `the message nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep, the limit for JSON a client sends`);
    }
    return JSON.parse(text) as T;
  }
}

/** What an invocation made inside a bidirectional stream answers ({@link BidiContext.invoke}). */
export interface BidiInvocationResult {
  readonly body: Buffer;
  readonly contentType: string;
}

/**
 * What `bidiFn` learns about its stream: the WebSocket's path and query string (SageMaker's
 * `ModelInvocationPath` and `ModelQueryString`), the SageMaker headers of the connection, and a way
 * to run the model the way `POST /invocations` does.
 */
export interface BidiContext extends SageMakerHeaders {
  /** Unique id of this stream (also in every log line about it). */
  readonly requestId: string;
  readonly path: string;
  /** The query string's parameters, decoded. */
  readonly query: Readonly<Record<string, string>>;
  readonly modelDir: string;
  readonly log: Logger;
  /** Aborts when the client closed the stream or the server stops; `reason` says which. */
  readonly signal: AbortSignal;
  /**
   * Runs one invocation through this model's hooks or pipeline, as `POST /invocations` would with
   * this body (bytes: a Buffer, any typed array, a DataView or an ArrayBuffer; or a string, as
   * UTF-8), `Content-Type` (default `application/json`) and `Accept`. Rejects with the error that
   * request would have answered (a `ToolkitError` with `code` and `status`), or with a 500
   * `ERR_USER_CODE` when `body` is not bytes or a string, or `contentType` or `accept` is neither a
   * string nor left out.
   */
  invoke(body: Buffer | ArrayBufferView | ArrayBuffer | string, options?: { contentType?: string; accept?: string }): Promise<BidiInvocationResult>;
}

/**
 * `bidiFn(messages, model, context)`: serves one bidirectional stream (the WebSocket at
 * `/invocations-bidirectional-stream`). It reads the client's messages from `messages` and returns
 * (or is) an async iterable of replies: a string is sent as a text frame, a `Buffer`/`Uint8Array`
 * as a binary frame, an async iterable as one message in parts (each item a frame, then an empty
 * final frame), anything else as JSON text. The stream ends when the iterable ends.
 */
export type BidiFn = (messages: AsyncIterable<BidiMessage>, model: unknown, context: BidiContext) => AsyncIterable<unknown> | Iterable<unknown>;

/** The context handed to `bidiFn`. */
export class BidiStreamContext implements BidiContext {
  readonly requestId: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly customAttributes: string | undefined;
  readonly inferenceId: string | undefined;
  readonly targetModel: string | undefined;
  readonly targetVariant: string | undefined;

  constructor(
    request: BidiRequest,
    readonly modelDir: string,
    readonly log: Logger,
    private readonly cancellation: Cancellation | undefined,
    readonly invoke: BidiContext['invoke'],
  ) {
    this.requestId = request.requestId;
    this.path = request.path;
    this.query = request.query;
    this.customAttributes = request.headers.customAttributes;
    this.inferenceId = request.headers.inferenceId;
    this.targetModel = request.headers.targetModel;
    this.targetVariant = request.headers.targetVariant;
  }

  get signal(): AbortSignal {
    return Cancellation.signalOf(this.cancellation);
  }
}

/** The client's frames as the messages `bidiFn` reads. */
export async function* toMessages(frames: AsyncIterable<BidiFrame>): AsyncIterable<BidiMessage> {
  for await (const frame of frames) yield new BidiMessage(Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength), frame.binary);
}

function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return !!v && typeof v === 'object' && typeof (v as Record<symbol, unknown>)[Symbol.asyncIterator] === 'function';
}

function isIterable(v: unknown): v is Iterable<unknown> {
  // A typed array is bytes, not a list of replies (a Float32Array would go out number by number).
  return !!v && typeof v === 'object' && typeof (v as Record<symbol, unknown>)[Symbol.iterator] === 'function' && !ArrayBuffer.isView(v);
}

/**
 * One reply of `bidiFn` as a frame: text for strings and JSON (written as a JSON answer is), binary
 * for bytes. A reply JSON has no text for (`undefined`, a function, a symbol) or cannot write (a
 * cycle, a Map) is `hook`'s error, as such a chunk of a streamed HTTP answer is, rather than a
 * `null` or `{}` the client never meant to get.
 */
export function toFrame(reply: unknown, hook = 'bidiFn'): BidiFrame {
  if (typeof reply === 'string') return { data: Buffer.from(reply, 'utf8'), binary: false };
  if (reply instanceof Uint8Array) return { data: reply, binary: true };
  // Any other typed array, a DataView or an ArrayBuffer is bytes too (JSON wrote a Float32Array as
  // an object of indexes and a DataView as {}).
  const bytes = bytesOf(reply);
  if (bytes) return { data: bytes, binary: true };
  const fix = 'reply with strings, Buffers or other bytes, or plain data (written as JSON)';
  if (reply === undefined || typeof reply === 'function' || typeof reply === 'symbol') throw new TypeError(`${hook} replied ${valueKind(reply)}, which JSON has no text for: ${fix}`);
  let text: string;
  try {
    // As a JSON answer is written: a typed array in it as an array (not {"0":…}), a bigint as a
    // number, and a Map, a Set or a Promise refused rather than written as {}.
    text = valueToJson(reply);
  } catch (err) {
    throw new TypeError(`${hook} replied with a value JSON cannot hold (${thrownMessage((err as Error | undefined)?.cause ?? err, 300)}): ${fix}`, { cause: err });
  }
  return { data: Buffer.from(text, 'utf8'), binary: false };
}

/**
 * One reply of `bidiFn` as the frames of one WebSocket message: a reply that is itself an async
 * iterable (an async generator, a Node stream) is sent in parts as it yields them, each a frame
 * without FIN (`PARTIAL`), and ends with an empty frame with FIN (`COMPLETE`) once it is done, so
 * no part waits for the next (a token as soon as it is made). Its parts must all be text or all be
 * bytes: a message has one type. Any other reply is one frame.
 */
async function* replyFrames(reply: unknown, hook: string): AsyncIterable<BidiFrame> {
  if (!isAsyncIterable(reply)) return yield toFrame(reply, hook);
  let binary: boolean | undefined;
  let count = 0;
  for await (const part of reply) {
    const frame = toFrame(part, hook);
    count += 1;
    binary ??= frame.binary;
    if (frame.binary !== binary) {
      const kind = (b: boolean) => (b ? 'bytes (a binary frame)' : 'text (a text frame)');
      throw new TypeError(`${hook} replied in parts of text and bytes: part ${count} is ${kind(frame.binary)}, the first was ${kind(binary)}; one message is text or binary, so yield parts of one kind (strings or objects, else Buffers)`);
    }
    yield { data: frame.data, binary, partial: true };
  }
  if (binary !== undefined) yield { data: new Uint8Array(0), binary };
}

/**
 * What `bidiFn` returned, as frames; `undefined` or an object that is not iterable is a mistake the
 * caller reports. `hook` is the name the module exports it under (`bidi_fn`), for that error.
 */
export async function* toFrames(returned: unknown, hook = 'bidiFn'): AsyncIterable<BidiFrame> {
  // An `async function` that returns a generator hands it over in a promise.
  const replies = returned && typeof (returned as PromiseLike<unknown>).then === 'function' ? await returned : returned;
  if (isAsyncIterable(replies)) {
    for await (const reply of replies) yield* replyFrames(reply, hook);
  } else if (isIterable(replies)) {
    for (const reply of replies) yield* replyFrames(reply, hook);
  } else {
    const bytes = bytesOf(replies) !== undefined ? ' (bytes are one reply: yield them, or return [bytes])' : '';
    throw new TypeError(`${hook} must return (or be) an async iterable of replies, such as an async generator; it returned ${valueKind(replies)}${bytes}`);
  }
}
