/**
 * The messages between `smkit serve`'s primary process and its HTTP worker processes (cluster IPC),
 * as two unions. Every handler switches over one of them exhaustively, so a new message cannot be
 * sent without being handled (the inference threads' messages are in `thread-protocol.ts`).
 *
 * The guards below let each side ignore anything else on the channel. The workers' metrics go over
 * this protocol too (`metrics-collect`, `metrics-report`), not prom-client's cluster messages: its
 * listener in the primary throws at an answer to a request it did not send.
 */
import type { SendHandle } from 'node:child_process';
import type { Settings } from '../config/settings.js';
import type { InferenceThreadData, WireError } from './thread-protocol.js';
import type { SlotAnswer, SlotRequest, SlotReturn } from './bidi/stream-slots.js';

/**
 * One metric of a worker's registry, as prom-client's `registry.getMetricsAsJSON()` gives it and its
 * `AggregatorRegistry.aggregate` reads it (`aggregator` says how the workers' values merge).
 */
export interface MetricJson {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: { labels: Record<string, string | number | undefined>; value: number; metricName?: string }[];
}

/** A multi-model load or unload. */
export type ModelOp = 'load' | 'unload';

/** Messages from the primary to a worker. */
export type ToWorker =
  /** The worker's configuration, answering its `hello`. */
  | {
      type: 'config';
      settings: Settings;
      thread: InferenceThreadData;
      /** Multi-model endpoints: the models every worker holds now (name, directory). */
      models: [string, string][];
      /**
       * Every worker has loaded the model (the primary logged `ready`): this worker replaces one that
       * ended, and takes connections only once its own model has loaded.
       */
      serverReady: boolean;
      /**
       * Another worker serves: this one, which replaces one that ended, takes connections only once
       * its model has loaded (else at once, as at start-up, so that something answers).
       */
      listenOnceLoaded: boolean;
      /** Why another worker could not load the model at start-up, if one could not (see `peer-failure`). */
      peerFailure?: string;
      /** The listening socket the primary keeps (kept-socket.ts) comes with this message, as its handle. */
      keptSocket?: boolean;
    }
  /** Every worker has loaded the model: a worker's `/ping` may say 200 from now on. */
  | { type: 'server-ready' }
  /**
   * A worker could not load the model at start-up: every worker's `/ping` says 503 `Unhealthy` with
   * `reason`; without one, no worker that failed is left (it ended), and `/ping` says "loading" again.
   */
  | { type: 'peer-failure'; reason?: string }
  /** Answering `reload-failed`: another worker serves, so end (a new process loads the model). */
  | { type: 'leave' }
  /**
   * The server stops: drain and exit within `graceMs`. `cause` is what stopped it (`SIGTERM`,
   * `SIGINT`, or a start-up error), which a draining worker's 503s name.
   */
  | { type: 'shutdown'; graceMs: number; cause?: string }
  /**
   * The whole cluster's metrics, answering `metrics-request` `id`; `error` instead when they could
   * not be collected (the scrape is answered with that error, not a 200 without samples).
   */
  | { type: 'metrics-response'; id: number; text: string; error?: { code: string; message: string } }
  /** A scrape: answer `metrics-report` `id` with this worker's own metrics, at once (see cluster-metrics.ts). */
  | { type: 'metrics-collect'; id: number }
  /** Multi-model: apply this load or unload to your own models, then answer `mme-applied`. */
  | { type: 'mme-apply'; applyId: number; op: ModelOp; name: string; url?: string }
  /** Multi-model: the outcome of the worker's `mme-request` `id`. */
  | { type: 'mme-response'; id: number; error?: WireError }
  /** Close `count` of your kept-alive connections, one per request: you hold more than your share (`connection-rebalancing.ts`). */
  | { type: 'close-connections'; count: number }
  /** Whether the worker's `bidi-slot` was granted: a bidirectional stream may open (`SMKIT_BIDI_STREAMS_MAX`, server-wide). */
  | SlotAnswer;

/** Messages from a worker to the primary. */
export type ToPrimary =
  /** The worker's message listener is in place: send the configuration. */
  | { type: 'hello' }
  /** The worker's HTTP server is bound. */
  | { type: 'listening'; port: number }
  /** The worker's model finished loading, or failed to. */
  | { type: 'model'; state: 'ready' | 'failed'; reason?: string }
  /** `GET /metrics` arrived: aggregate every worker's metrics. */
  | { type: 'metrics-request'; id: number }
  /** This worker's own metrics, answering `metrics-collect` `id`. */
  | { type: 'metrics-report'; id: number; metrics: MetricJson[] }
  /**
   * Multi-model: `POST /models` or `DELETE /models/{name}` arrived here; apply it on every worker.
   * A load pipelined behind other loads on its connection names the one answered just before it (`after`).
   */
  | { type: 'mme-request'; id: number; op: ModelOp; name: string; url?: string; after?: number }
  /** Multi-model: `mme-apply` `applyId` is done here (or failed). */
  | { type: 'mme-applied'; applyId: number; error?: WireError }
  /** The connections this worker holds now (sent once listening, then when the count changes). */
  | { type: 'connections'; open: number }
  /** The single model served, its inference thread ended and the reload failed: may this worker leave? */
  | { type: 'reload-failed' }
  /** The worker's heartbeat: its event loop turns (`worker-watchdog.ts`). */
  | { type: 'alive' }
  /** A bidirectional stream's handshake arrived: may it take one of the server's slots? */
  | SlotRequest
  /** A bidirectional stream this worker opened has closed: its slot is free. */
  | SlotReturn;

/** The worker's configuration message. */
export type WorkerConfig = Extract<ToWorker, { type: 'config' }>;

// Records rather than lists: a message type added to ToWorker or ToPrimary and not here is a type error, not a message dropped.
const TO_WORKER: ReadonlySet<string> = new Set(
  Object.keys({ config: 1, shutdown: 1, 'server-ready': 1, 'peer-failure': 1, leave: 1, 'metrics-response': 1, 'metrics-collect': 1, 'mme-apply': 1, 'mme-response': 1, 'close-connections': 1, 'bidi-slot-answer': 1 } satisfies Record<ToWorker['type'], 1>),
);
const TO_PRIMARY: ReadonlySet<string> = new Set(
  Object.keys({ hello: 1, listening: 1, model: 1, 'metrics-request': 1, 'metrics-report': 1, 'mme-request': 1, 'mme-applied': 1, connections: 1, 'reload-failed': 1, alive: 1, 'bidi-slot': 1, 'bidi-slot-free': 1 } satisfies Record<ToPrimary['type'], 1>),
);

function typeOf(msg: unknown): string | undefined {
  return msg !== null && typeof msg === 'object' && typeof (msg as { type?: unknown }).type === 'string' ? (msg as { type: string }).type : undefined;
}

/** True for the primary's messages (false for anything else on the channel). */
export function isToWorker(msg: unknown): msg is ToWorker {
  return TO_WORKER.has(typeOf(msg) ?? '');
}

/** True for a worker's messages (false for anything else on the channel). */
export function isToPrimary(msg: unknown): msg is ToPrimary {
  return TO_PRIMARY.has(typeOf(msg) ?? '');
}

/**
 * Sends a message to the primary (a no-op outside a cluster worker), with a connection's native
 * handle when given (the primary then holds a duplicate of it; this process keeps its own).
 */
export function sendToPrimary(msg: ToPrimary, handle?: object): void {
  if (!handle) {
    process.send?.(msg);
    return;
  }
  // A handle closed before it went (its client left while another handle was in flight) fails the
  // send, message and all: the message then goes without it.
  const alone = () => void (process.connected && process.send?.(msg));
  try {
    process.send?.(msg, handle as SendHandle, (err: Error | null) => err && alone());
  } catch {
    alone();
  }
}

/** Sends a message to a worker; false when its channel is already closed (it is exiting). */
export function sendToWorker(worker: { send(msg: unknown): boolean; isConnected(): boolean }, msg: ToWorker): boolean {
  return worker.isConnected() && worker.send(msg);
}

/** For the `default` branch of an exhaustive switch: the compiler proves it unreachable. */
export function unreachable(msg: never): never {
  throw new Error(`unhandled cluster message ${JSON.stringify(msg)}`);
}

/**
 * Calls `start` once `ready` resolves, then emits again, in order, the messages that arrived
 * meanwhile: a worker that loads code after its configuration (a multi-model endpoint's) must not
 * lose a model operation the primary sent in that time. They reach every `message` listener there
 * is then, so a listener that was already there before the hold would see them twice: the worker
 * adds its own in `start`. Rejects, holding nothing more, if `ready` does. `channel` is a worker's
 * `process`.
 */
export async function holdMessagesUntil<T>(channel: NodeJS.EventEmitter, ready: Promise<T>, start: (value: T) => void): Promise<void> {
  const held: unknown[] = [];
  const hold = (msg: unknown) => void held.push(msg);
  channel.on('message', hold);
  let value: T;
  try {
    value = await ready;
  } finally {
    channel.off('message', hold);
  }
  start(value);
  for (const msg of held) channel.emit('message', msg, undefined);
}
