/**
 * Entry point of an inference worker thread: loads the model and the user's handler code and runs
 * invocations, so that user code and model execution never block the HTTP thread that answers
 * `/ping`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DeferredLogger, LOG_HOLD_MS } from '../logging/deferred-logger.js';
import type { ServerLogger } from '../logging/server-logger.js';
import { InferenceEngine, type InvocationResponse } from '../handlers/engine.js';
import { ToolkitError } from '../errors/catalogue.js';
import { IdTable } from '../core/id-table.js';
import { Cancellation } from '../core/cancellation.js';
import { ChunkQueue } from './chunk-queue.js';
import { logUnhandledRejections } from './unhandled-rejection.js';
import type { BidiFrame } from '../core/bidi-frame.js';
import { STREAM_WINDOW, STREAM_WINDOW_BYTES, asBuffer, fromWireError, toWireError, transferable, type FromThread, type InferenceThreadData, type ToThread } from './thread-protocol.js';

const data = workerData as InferenceThreadData;
const port = parentPort!;
// pino loads once the model is ready (or a second into loading, or at the first error): not on the
// way to a thread model's first /ping. The HTTP side asks for held lines before it stops the thread
// (`flush`), since a terminated thread runs no exit handlers.
const deferredLog = DeferredLogger.create(data.logLevel, { worker: data.workerIndex, thread: 'inference' }, data.logFormat ?? 'json').loadWithin(LOG_HOLD_MS);
const log: ServerLogger = deferredLog;

function send(msg: FromThread, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

/** Flow control of one streamed answer: chunks it may still send, and whether its client left. */
interface Flow {
  credit: number;
  /** The sizes of the chunks sent and not yet acked, oldest first, and their sum. */
  unacked: number[];
  unackedBytes: number;
  cancelled: boolean;
  wake?: () => void;
  /** The invocation's, whose ctx.signal aborts when the HTTP side gives the stream up. */
  cancellation?: Cancellation;
}

const flows = new IdTable<Flow>();

function steer(id: number, change: (flow: Flow) => void): void {
  const flow = flows.get(id);
  if (!flow) return;
  change(flow);
  const wake = flow.wake;
  flow.wake = undefined;
  wake?.();
}

/** An ack from the HTTP side: the oldest chunk sent is no longer ahead of it. */
function acked(flow: Flow): void {
  flow.credit++;
  flow.unackedBytes -= flow.unacked.shift() ?? 0;
}

/**
 * Sends what `source` produces item by item, never more than {@link STREAM_WINDOW} items, nor
 * (beyond one item) more than {@link STREAM_WINDOW_BYTES} bytes, ahead of the HTTP side's acks;
 * `sendItem` gives the bytes it sent. When the client leaves, the source's iterator is ended
 * (`return()`, so user code's `finally` blocks run). Returns whether the source ended by itself.
 */
async function relay<T>(id: number, source: AsyncIterable<T>, sendItem: (item: T) => number, cancellation?: Cancellation): Promise<boolean> {
  const flow: Flow = { credit: STREAM_WINDOW, unacked: [], unackedBytes: 0, cancelled: false, cancellation };
  flows.set(id, flow);
  const iterator = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      while ((flow.credit <= 0 || flow.unackedBytes >= STREAM_WINDOW_BYTES) && !flow.cancelled) await new Promise<void>((resolve) => (flow.wake = resolve));
      if (flow.cancelled) break;
      const next = await iterator.next();
      if (next.done) return true;
      if (flow.cancelled) break;
      flow.credit--;
      const bytes = sendItem(next.value);
      flow.unacked.push(bytes);
      flow.unackedBytes += bytes;
    }
    await iterator.return?.();
    return false;
  } catch (err) {
    // A source that throws once its client left has nobody to tell.
    if (flow.cancelled) return false;
    throw err;
  } finally {
    flows.delete(id);
  }
}

/**
 * Sends a streamed answer chunk by chunk, as user code produces it (see {@link relay}); `cancellation`
 * (the invocation's ctx.signal) is cancelled with the reason the HTTP side gives the stream up for.
 */
async function relayStream(id: number, response: InvocationResponse, cancellation: Cancellation): Promise<void> {
  const { contentType, customAttributes, closeSession } = response;
  send({ type: 'stream-start', id, contentType, ...(customAttributes === undefined ? {} : { customAttributes }), ...(closeSession ? { closeSession } : {}) });
  // The custom attributes as they are at the first chunk (or an end with none), which the HTTP side sends.
  let taken = false;
  const late = (): { customAttributes?: string } => {
    if (taken) return {};
    taken = true;
    const value = response.takeCustomAttributes?.();
    return value === undefined ? {} : { customAttributes: value };
  };
  try {
    const ended = await relay(
      id,
      response.stream!,
      (chunk) => {
        const copy = new Uint8Array(chunk);
        // Read before the send: moving its memory to the other thread leaves the copy empty.
        const bytes = copy.byteLength;
        send({ type: 'stream-chunk', id, data: copy, ...late() }, [copy.buffer]);
        return bytes;
      },
      cancellation,
    );
    if (ended) send({ type: 'stream-end', id, ...late() });
  } catch (err) {
    // Not logged here: the HTTP side logs it once, with the request's id (this stack crosses with
    // it), as an error part way or as the error answer of a stream that failed before its first chunk.
    send({ type: 'stream-error', id, error: toWireError(err) });
  }
}

/** The client's messages of each open bidirectional stream, and how to tell `bidiFn` it should stop. */
const bidiInputs = new IdTable<{ messages: ChunkQueue<BidiFrame>; cancellation: Cancellation }>();

/** Runs `bidiFn` for one bidirectional stream and relays its replies. */
async function openBidi(engine: InferenceEngine, msg: Extract<ToThread, { type: 'bidi-open' }>): Promise<void> {
  const { id } = msg;
  const cancellation = new Cancellation();
  const messages = new ChunkQueue<BidiFrame>({ consumed: () => send({ type: 'bidi-in-ack', id }), cancel: () => undefined });
  bidiInputs.set(id, { messages, cancellation });
  const streamLog = log.child({ requestId: msg.request.requestId });
  let cancelled = false;
  try {
    const ended = await relay(id, engine.openBidi(msg.request, messages, streamLog, cancellation), (frame) => {
      const copy = new Uint8Array(frame.data);
      const bytes = copy.byteLength;
      send({ type: 'bidi-out', id, frame: { data: copy, binary: frame.binary, partial: frame.partial } }, [copy.buffer]);
      return bytes;
    });
    cancelled = !ended;
    if (ended) send({ type: 'bidi-end', id });
  } catch (err) {
    // Not logged here: the WebSocket front logs it (with this stack), throttled against floods.
    send({ type: 'bidi-error', id, error: toWireError(err) });
  } finally {
    bidiInputs.delete(id);
    if (cancelled) streamLog.debug('bidirectional stream cancelled');
  }
}

async function start(): Promise<void> {
  const started = performance.now();
  let engine: InferenceEngine | undefined;
  // Listening from the start: a flush can come while the model loads. Invocations come only after 'ready'.
  port.on('message', (msg: ToThread) => {
    switch (msg.type) {
      case 'ping':
        return send({ type: 'pong', id: msg.id, running: cancellations.size });
      case 'flush':
        deferredLog.load();
        return send({ type: 'flushed' });
      case 'stream-ack':
        return steer(msg.id, acked);
      case 'stream-cancel':
        cancellations.delete(msg.id);
        return steer(msg.id, (flow) => {
          flow.cancelled = true;
          if (msg.error) flow.cancellation?.cancel(fromWireError(msg.error));
        });
      case 'cancel': {
        // The HTTP side has answered it: the table lets go of it now, not when user code settles
        // (a call that never does would stay here for good, one per request).
        const cancellation = cancellations.get(msg.id);
        cancellations.delete(msg.id);
        return cancellation?.cancel(fromWireError(msg.error));
      }
      case 'bidi-open':
        if (engine) return void openBidi(engine, msg);
        return send({ type: 'bidi-error', id: msg.id, error: toWireError(new ToolkitError('ERR_NOT_READY', 'the model is still loading')) });
      case 'bidi-in':
        return bidiInputs.get(msg.id)?.messages.push({ data: asBuffer(msg.frame.data), binary: msg.frame.binary });
      case 'bidi-in-end':
        return bidiInputs.get(msg.id)?.messages.end();
      case 'bidi-cancel': {
        const input = bidiInputs.get(msg.id);
        input?.cancellation.cancel(fromWireError(msg.error));
        input?.messages.end();
        return steer(msg.id, (flow) => (flow.cancelled = true));
      }
      case 'invoke':
        if (engine) return invoke(engine, msg);
        return send({ type: 'error', id: msg.id, error: toWireError(new ToolkitError('ERR_NOT_READY', 'the model is still loading')) });
    }
  });
  try {
    engine = await InferenceEngine.load({ ...data.engine, log, observeBatch: (step, run) => send({ type: 'batch', step, run }) });
  } catch (err) {
    log.error({ err }, 'model load failed');
    send({ type: 'load-failed', error: toWireError(err) });
    // The thread ends by itself after a failed load (the HTTP side does not reload it).
    port.close();
    return;
  }
  send({ type: 'ready', description: engine.describe(), loadMs: Math.round(performance.now() - started) });
  deferredLog.loadWithin(50);
  // During the load a rejection nothing handles still ends the thread: that load fails with the reason.
  logUnhandledRejections(log, 'the inference thread');
}

/** The invocations this thread has not answered yet, so the HTTP side can cancel them. */
const cancellations = new IdTable<Cancellation>();

/** Runs one invocation and sends its answer (or relays its stream). */
function invoke(engine: InferenceEngine, msg: Extract<ToThread, { type: 'invoke' }>): void {
  const request = msg.request;
  const reqLog = log.child({ requestId: request.requestId });
  const cancellation = new Cancellation();
  cancellations.set(msg.id, cancellation);
  // Buffers arrive as plain Uint8Arrays (structured clone); decoders use Buffer methods, so the form
  // parts are viewed as Buffers again, as the body is.
  const parts = request.parts?.map((p) => ({ ...p, data: asBuffer(p.data) }));
  // The message's object completed in place: a spread copy with keys added after the spread gets a
  // map of its own per object in V8's optimised code, and every read of its fields missed.
  engine.invoke(Object.assign(request, { body: asBuffer(request.body), cancellation }, parts ? { parts } : {}), reqLog).then(
    (response) => {
      // A stream keeps it until it ends or is given up: the HTTP side's cancel (a timeout, a client
      // that left) may have crossed the stream's start, and its producer's ctx.signal must still abort.
      if (response.stream) return void relayStream(msg.id, response, cancellation).finally(() => cancellations.delete(msg.id));
      cancellations.delete(msg.id);
      let out: Uint8Array;
      try {
        out = new Uint8Array(response.body.buffer, response.body.byteOffset, response.body.byteLength);
        // Moved only when smkit made it and it owns its whole buffer: user code's own buffer would be
        // detached in its hands (a cached answer returned again), and a view into a larger buffer
        // (a pooled Buffer, a slice of a model's) would be cloned whole; their bytes are copied.
        if (response.borrowed || transferable(out).length === 0) out = out.slice();
      } catch (err) {
        // An answer whose bytes cannot be read (user code detached its buffer): an error, not a request left to time out.
        return send({ type: 'error', id: msg.id, error: toWireError(err) });
      }
      const closeSession = response.closeSession ? { closeSession: true } : {};
      send({ type: 'result', id: msg.id, response: { contentType: response.contentType, customAttributes: response.customAttributes, ...closeSession, body: out } }, [out.buffer as ArrayBuffer]);
    },
    (err: unknown) => {
      cancellations.delete(msg.id);
      send({ type: 'error', id: msg.id, error: toWireError(err) });
    },
  );
}

void start();
