/**
 * Entry point of an inference worker thread: loads the model and the user's handler code and runs
 * invocations, so that user code and model execution never block the HTTP thread that answers
 * `/ping`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../logging/logger.js';
import { InferenceEngine } from '../handlers/engine.js';
import { STREAM_WINDOW, asBuffer, toWireError, transferable, type FromThread, type InferenceThreadData, type ToThread } from './thread-protocol.js';

const data = workerData as InferenceThreadData;
const port = parentPort!;
const log = createLogger(data.logLevel, { worker: data.workerIndex, thread: 'inference' }, data.logFormat ?? 'json');

function send(msg: FromThread, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

/** Flow control of one streamed answer: chunks it may still send, and whether its client left. */
interface Flow {
  credit: number;
  cancelled: boolean;
  wake?: () => void;
}

const flows = new Map<number, Flow>();

function steer(id: number, change: (flow: Flow) => void): void {
  const flow = flows.get(id);
  if (!flow) return;
  change(flow);
  const wake = flow.wake;
  flow.wake = undefined;
  wake?.();
}

/**
 * Sends a streamed answer chunk by chunk, as user code produces it, never more than
 * {@link STREAM_WINDOW} chunks ahead of the HTTP response; when the client leaves, the user's
 * iterator is ended (`return()`, so its `finally` blocks run).
 */
async function relayStream(id: number, stream: AsyncIterable<Uint8Array>, contentType: string, customAttributes: string | undefined): Promise<void> {
  const flow: Flow = { credit: STREAM_WINDOW, cancelled: false };
  flows.set(id, flow);
  send({ type: 'stream-start', id, contentType, ...(customAttributes === undefined ? {} : { customAttributes }) });
  const iterator = stream[Symbol.asyncIterator]();
  try {
    for (;;) {
      while (flow.credit <= 0 && !flow.cancelled) await new Promise<void>((resolve) => (flow.wake = resolve));
      if (flow.cancelled) {
        await iterator.return?.();
        return;
      }
      const next = await iterator.next();
      if (next.done) break;
      if (flow.cancelled) {
        await iterator.return?.();
        return;
      }
      flow.credit--;
      const copy = new Uint8Array(next.value);
      send({ type: 'stream-chunk', id, data: copy }, [copy.buffer]);
    }
    send({ type: 'stream-end', id });
  } catch (err) {
    if (flow.cancelled) return;
    log.error({ err }, 'streamed answer failed part way');
    send({ type: 'stream-error', id, error: toWireError(err) });
  } finally {
    flows.delete(id);
  }
}

async function start(): Promise<void> {
  const started = performance.now();
  let engine: InferenceEngine;
  try {
    engine = await InferenceEngine.load({ ...data.engine, log, observeBatch: (step, size) => send({ type: 'batch', step, size }) });
  } catch (err) {
    log.error({ err }, 'model load failed');
    send({ type: 'load-failed', error: toWireError(err) });
    return;
  }
  port.on('message', (msg: ToThread) => {
    switch (msg.type) {
      case 'ping':
        return send({ type: 'pong', id: msg.id });
      case 'stream-ack':
        return steer(msg.id, (flow) => flow.credit++);
      case 'stream-cancel':
        return steer(msg.id, (flow) => (flow.cancelled = true));
      case 'invoke':
        return invoke(engine, msg);
    }
  });
  send({ type: 'ready', description: engine.describe(), loadMs: Math.round(performance.now() - started) });
}

/** Runs one invocation and sends its answer (or relays its stream). */
function invoke(engine: InferenceEngine, msg: Extract<ToThread, { type: 'invoke' }>): void {
  const { body, ...rest } = msg.request;
  const reqLog = log.child({ requestId: rest.requestId });
  engine.invoke({ ...rest, body: asBuffer(body) }, reqLog).then(
    (response) => {
      if (response.stream) return void relayStream(msg.id, response.stream, response.contentType, response.customAttributes);
      const out = new Uint8Array(response.body.buffer, response.body.byteOffset, response.body.byteLength);
      send({ type: 'result', id: msg.id, response: { contentType: response.contentType, customAttributes: response.customAttributes, body: out } }, transferable(out));
    },
    (err: unknown) => send({ type: 'error', id: msg.id, error: toWireError(err) }),
  );
}

void start();
