/**
 * Entry point of an inference worker thread: loads the model and the user's handler code and runs
 * invocations, so that user code and model execution never block the HTTP thread that answers
 * `/ping`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../logging/logger.js';
import { InferenceEngine } from '../handlers/engine.js';
import { asBuffer, toWireError, transferable, type FromThread, type InferenceThreadData, type ToThread } from './thread-protocol.js';

const data = workerData as InferenceThreadData;
const port = parentPort!;
const log = createLogger(data.logLevel, { worker: data.workerIndex, thread: 'inference' }, data.logFormat ?? 'json');

function send(msg: FromThread, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

/** Sends a streamed answer chunk by chunk, as user code produces it. */
async function relayStream(id: number, stream: AsyncIterable<Uint8Array>, contentType: string, customAttributes: string | undefined): Promise<void> {
  send({ type: 'stream-start', id, contentType, ...(customAttributes === undefined ? {} : { customAttributes }) });
  try {
    for await (const chunk of stream) {
      const copy = new Uint8Array(chunk);
      send({ type: 'stream-chunk', id, data: copy }, [copy.buffer]);
    }
    send({ type: 'stream-end', id });
  } catch (err) {
    log.error({ err }, 'streamed answer failed part way');
    send({ type: 'stream-error', id, error: toWireError(err) });
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
    if (msg.type === 'ping') {
      send({ type: 'pong', id: msg.id });
      return;
    }
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
  });
  send({ type: 'ready', description: engine.describe(), loadMs: Math.round(performance.now() - started) });
}

void start();
