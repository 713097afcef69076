import type { EngineData, EngineDescription, InvocationRequest, InvocationResponse } from '../handlers/engine.js';
import type { LogFormat, LogLevel } from '../config/settings.js';
import type { BatchRun } from '../batching/adaptive-batcher.js';
import { ToolkitError, jsonDetails, type ErrorCode } from '../errors/catalogue.js';
import { isOutOfDescriptors, markOutOfDescriptors } from '../core/retrying-load.js';
import { thrownMessage } from '../errors/excerpt.js';
import type { BidiFrame, BidiRequest } from '../core/bidi-frame.js';

/** Data the inference thread starts with (everything but the logger, which it makes itself). */
export interface InferenceThreadData {
  engine: EngineData;
  logLevel: LogLevel;
  /** JSON lines or readable lines, as the primary decided. @defaultValue `json` */
  logFormat?: LogFormat;
  workerIndex: number;
}

/** An error as it crosses the thread boundary. */
export interface WireError {
  code: ErrorCode;
  status: number;
  message: string;
  stack?: string;
  details?: Record<string, unknown>;
  /** The error came of a lack of file descriptors (see `isOutOfDescriptors`), which its cause said but does not cross the thread. */
  outOfDescriptors?: true;
}

/**
 * Chunks of a streamed answer the inference thread may send ahead of the HTTP response: it sends
 * one more per `stream-ack`, so a client that stops reading stops the producer.
 */
export const STREAM_WINDOW = 8;

/**
 * Bytes of a streamed answer (or of a bidirectional stream's replies) the inference thread may send
 * ahead of the HTTP side's acks: past them it waits, whatever {@link STREAM_WINDOW} allows, though
 * it always may send one chunk. Counting chunks alone let 8 large ones wait for a client that had
 * stopped reading: 64 MB chunks held about 700 MB of the worker's memory for one paused stream.
 */
export const STREAM_WINDOW_BYTES = 1024 * 1024;

/**
 * Client messages of a bidirectional stream the HTTP thread may post ahead of `bidiFn` taking them:
 * fewer than {@link STREAM_WINDOW}, since each may be as large as `SAGEMAKER_MAX_PAYLOAD_IN_MB`.
 */
export const BIDI_INPUT_WINDOW = 2;

/** Messages from the HTTP thread to the inference thread. */
export type ToThread =
  | { type: 'invoke'; id: number; request: Omit<InvocationRequest, 'body' | 'cancellation'> & { body: Uint8Array } }
  | { type: 'ping'; id: number }
  /** Write any log lines still held (the thread is about to be stopped). */
  | { type: 'flush' }
  /** The HTTP response took one chunk of stream `id`. */
  | { type: 'stream-ack'; id: number }
  /**
   * The client of stream `id` went away, or its first chunk did not come in time: stop producing.
   * `error`, when the request was cancelled, is what the producer's ctx.signal aborts with.
   */
  | { type: 'stream-cancel'; id: number; error?: WireError }
  /** Invocation `id` was answered without the thread (it timed out): drop it if it has not run yet. */
  | { type: 'cancel'; id: number; error: WireError }
  /**
   * A bidirectional stream opened: run `bidiFn`. Its replies go out as `bidi-out`, one more per
   * `stream-ack` past {@link STREAM_WINDOW}; its input comes as `bidi-in`, one more per `bidi-in-ack`
   * past {@link BIDI_INPUT_WINDOW}.
   */
  | { type: 'bidi-open'; id: number; request: BidiRequest }
  | { type: 'bidi-in'; id: number; frame: BidiFrame }
  /** The client sent its last message (it closed its side). */
  | { type: 'bidi-in-end'; id: number }
  /** The stream's client left or the server stops: end `bidiFn` (its `ctx.signal` aborts with `error`). */
  | { type: 'bidi-cancel'; id: number; error: WireError };

/** Messages from the inference thread to the HTTP thread. */
export type FromThread =
  | { type: 'ready'; description: EngineDescription; loadMs: number }
  | { type: 'load-failed'; error: WireError }
  | { type: 'result'; id: number; response: Omit<InvocationResponse, 'body'> & { body: Uint8Array } }
  | { type: 'error'; id: number; error: WireError }
  | { type: 'stream-start'; id: number; contentType: string; customAttributes?: string; closeSession?: boolean }
  /** `customAttributes`: with the first chunk (or an end with none), those set until then. */
  | { type: 'stream-chunk'; id: number; data: Uint8Array; customAttributes?: string }
  | { type: 'stream-end'; id: number; customAttributes?: string }
  | { type: 'stream-error'; id: number; error: WireError }
  | { type: 'bidi-out'; id: number; frame: BidiFrame }
  /** `bidiFn` took one of the client's messages. */
  | { type: 'bidi-in-ack'; id: number }
  | { type: 'bidi-end'; id: number }
  | { type: 'bidi-error'; id: number; error: WireError }
  /** `running`: invocations the thread still holds (for tests and diagnostics: it must not grow with hung calls). */
  | { type: 'pong'; id: number; running: number }
  | { type: 'flushed' }
  | { type: 'batch'; step: string; run: BatchRun };

/**
 * Serialises any thrown value for `postMessage`. It never throws: what user code threw, or a cause
 * of it, may throw when read (a getter on `stack`, a Proxy), and an error that could not cross left
 * its request unanswered until it timed out (and a rejection nothing handled ended the thread).
 */
export function toWireError(err: unknown): WireError {
  try {
    if (err instanceof ToolkitError) {
      // Details as JSON carries them, as the client gets them: a function or a symbol in user code's
      // details made postMessage throw, and the request went unanswered until it timed out.
      const details = jsonDetails(err.details);
      return { code: err.code, status: err.status, message: err.message, stack: stackWithCauses(err), ...(details ? { details } : {}), ...(outOfDescriptors(err) ? { outOfDescriptors: true } : {}) };
    }
    return { code: 'ERR_INTERNAL', status: 500, message: thrownMessage(err), stack: err instanceof Error ? bounded(err.stack) : undefined };
  } catch {
    // `instanceof` on a Proxy whose getPrototypeOf throws, an Error whose stack getter throws.
    return { code: 'ERR_INTERNAL', status: 500, message: thrownMessage(err) };
  }
}

/** {@link isOutOfDescriptors}, false for a cause whose fields throw when read. */
function outOfDescriptors(err: Error): boolean {
  try {
    return isOutOfDescriptors(err);
  } catch {
    return false;
  }
}

/** Most characters of each stack sent across (the head, where the message is, and the tail, where the frames are). */
const STACK_MAX = 16 * 1024;

/** `stack` cut to {@link STACK_MAX} characters: a 10 MB message does not cross the thread (or reach the log) whole. */
function bounded(stack: string | undefined): string | undefined {
  if (stack === undefined || stack.length <= STACK_MAX) return stack;
  return `${stack.slice(0, STACK_MAX / 2)}…${stack.slice(-STACK_MAX / 2)}`;
}

/**
 * The stack of an error followed by its causes' stacks, so logs show where user code failed; the
 * stacks read so far when a cause's cannot be read (user code's getter that throws).
 */
function stackWithCauses(err: Error): string | undefined {
  let stack = bounded(err.stack);
  try {
    let cause = err.cause;
    for (let depth = 0; cause instanceof Error && depth < 5; depth++, cause = cause.cause) {
      stack += `\nCaused by: ${bounded(cause.stack ?? cause.message)}`;
    }
  } catch {
    // The causes that could be read are in.
  }
  return stack;
}

/** Rebuilds a {@link ToolkitError} from its wire form, keeping the original stack for logs. */
export function fromWireError(w: WireError): ToolkitError {
  const err = new ToolkitError(w.code, w.message, { status: w.status, details: w.details });
  if (w.stack) err.stack = w.stack;
  return w.outOfDescriptors ? markOutOfDescriptors(err) : err;
}

/** A view of a Uint8Array as a Buffer, without copying. */
export function asBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/**
 * The buffers `postMessage` can move instead of copy: only when the view owns its whole
 * ArrayBuffer (Node pools small Buffers, and detaching a shared pool would corrupt others).
 */
export function transferable(u: Uint8Array): ArrayBuffer[] {
  return u.byteOffset === 0 && u.byteLength === u.buffer.byteLength && u.buffer instanceof ArrayBuffer ? [u.buffer] : [];
}
