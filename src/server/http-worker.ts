/**
 * A cluster worker process: one HTTP front (express) plus one inference thread. The primary sends
 * its configuration over IPC, and `shutdown` on SIGTERM.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import net, { type ListenOptions } from 'node:net';
import type { Settings } from '../config/settings.js';
import path from 'node:path';
import type { ServerLogger } from '../logging/server-logger.js';
import { ERROR_CATALOGUE, isToolkitError, ToolkitError, type ErrorCode } from '../errors/catalogue.js';
import { DeferredLogger, LOG_HOLD_MS } from '../logging/deferred-logger.js';
import type { ModelStore } from './model-store.js';
import { createMetrics, type MetricsSink } from './metrics.js';
import type { ClusterModelManager } from './mme-cluster.js';
import { createApp, PRELOAD_AFTER_MS, type ServerReadiness } from './app.js';
import { BodyBudget } from './body-budget.js';
import type { InferenceBackend } from './inference-backend.js';
import { InProcessBackend } from './in-process-backend.js';
import { SizeRoutedBackend } from './size-routed-backend.js';
import { chooseInferenceMode, type InferenceModeChoice } from './inference-mode.js';
import type { InferenceThreadData } from './thread-protocol.js';
import { EXIT_LISTEN_FAILED, EXIT_PROCESS_CANNOT_LOAD, EXIT_RELOAD_FAILED, EXIT_REPLACEMENT_NOT_LOADED } from './exit-codes.js';
import { loadFailureReason } from './load-failure.js';
import { logUnhandledRejections } from './unhandled-rejection.js';
import { continueWithinLimit } from './body-reader.js';
import { HTTP_SERVER_OPTIONS, answerClientError, answerConnect, answerOnSocket, limitHeaderLines, sendJson } from './respond.js';
import { setServeTimeouts } from './request-timeout.js';
import { isOutOfDescriptors, retryingLoad } from '../core/retrying-load.js';
import { MAX_REQUESTS_IN_FLIGHT, trackConnections } from './connection-drain.js';
import { isRefusedConnection, limitConnectionsToFileLimit } from './connection-limit.js';
import { ConnectionShedder } from './connection-rebalancing.js';
import type { BatchRun } from '../batching/adaptive-batcher.js';
import { ClusterStreamSlots } from './bidi/stream-slots.js';
import { leavingError } from './draining.js';
import { holdMessagesUntil, isToWorker, sendToPrimary, unreachable, type ToWorker, type WorkerConfig } from './cluster-protocol.js';
import { chooseConnectionBalancing, countListeners, KERNEL_SOCKETS_PER_WORKER, listenersOfOthers, serverProcesses } from './connection-balancing.js';
import { heartbeatMs } from './worker-watchdog.js';
import { freshShare } from '../core/fresh-share.js';

/**
 * The answer to a request past {@link MAX_REQUESTS_IN_FLIGHT} on its connection (a client that
 * pipelines without reading the answers): a 503 at once, its body discarded, nothing else done, so
 * that a connection costs at most the one read of requests parsed, not their model runs. The
 * connection stays open (closing it with requests of the client unread would reset it, and lose
 * the answers before). Not logged: there could be hundreds at once.
 */
function refusePipelined(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  res.setHeader('Retry-After', '1');
  sendJson(res, 503, {
    code: 'ERR_SERVER_BUSY' satisfies ErrorCode,
    message: `more than ${MAX_REQUESTS_IN_FLIGHT} requests pipelined on this connection were waiting for their answers; read the answers before sending more requests, or open more connections`,
  });
}

const metricsWaiters = new Map<number, (msg: Extract<ToWorker, { type: 'metrics-response' }>) => void>();
let nextMetricsRequest = 1;

/**
 * Every worker's metrics, aggregated by the primary (see cluster-metrics.ts); rejects with the
 * primary's error when it could not collect them. Scrapes that arrive while one is under way share
 * the next one (see freshShare): Node hands a handler every request pipelined on a connection at
 * once, and a client that pipelined 20 000 GET /metrics without reading had the primary gather
 * 20 000 times over (600 MB, /ping unanswered for 20 s). Sharing the one under way instead would
 * answer a scrape with counts taken before it came (a request answered just before it missing).
 */
const askPrimaryForMetrics = freshShare(askPrimaryOnce);

function askPrimaryOnce(): Promise<string> {
  const id = nextMetricsRequest++;
  return new Promise((resolve, reject) => {
    metricsWaiters.set(id, ({ text, error }) => {
      if (error === undefined) return resolve(text);
      const code = Object.hasOwn(ERROR_CATALOGUE, error.code) ? (error.code as ErrorCode) : 'ERR_INTERNAL';
      reject(new ToolkitError(code, error.message));
    });
    sendToPrimary({ type: 'metrics-request', id });
  });
}

function onMetricsResponse(msg: Extract<ToWorker, { type: 'metrics-response' }>): void {
  metricsWaiters.get(msg.id)?.(msg);
  metricsWaiters.delete(msg.id);
}

/** The inference thread's HTTP-side code: loaded with the first model (or large request) that needs a thread, maybe while serving (see retrying-load.ts). */
const loadInferenceWorker = retryingLoad('the inference thread code', () => import('./inference-worker.js'));

/**
 * The backend for one model directory: `SMKIT_INFERENCE_MODE` forces the thread or the HTTP thread;
 * `auto` serves small requests inline when the model allows it and everything else in a thread.
 * The inference thread's code is loaded when the thread starts: for a model served inline that is
 * with the first request that needs the thread, if one ever comes.
 */
function createBackend(settings: Settings, thread: InferenceThreadData, log: ServerLogger, model = 'model', lost?: () => void, onLoadFailed?: (failure: ToolkitError) => void): InferenceBackend {
  // smkit's built-in registries, which the engine loads as it needs them (codecs after the model).
  const observeBatch = (step: string, run: BatchRun) => metrics?.observeBatch(model, step, run);
  const inline = () => new InProcessBackend({ ...thread.engine, log, observeBatch }, log);
  const worker = async () => {
    const { InferenceWorker } = await loadInferenceWorker();
    // A multi-model endpoint's model whose thread runs out of memory is unloaded (lost), not reloaded,
    // as is one whose thread ended and could not load it again (else it would answer 404 but 409 to a load).
    return new InferenceWorker(new URL('./inference-thread.js', import.meta.url), thread, settings.workerConcurrency, log, observeBatch, {
      heapMb: settings.inferenceThreadHeapMb,
      bidiBlockedAfterMs: settings.timeoutSeconds * 1000,
      ...(lost ? { onOutOfMemory: lost, onReloadFailed: lost } : {}),
      ...(onLoadFailed ? { onLoadFailed } : {}),
    });
  };
  if (settings.inferenceMode === 'inline') return inline();
  const { engine } = thread;
  // SMKIT_INFERENCE_MODE=thread makes the choice 'thread': the backend then only ever uses the thread.
  const chosen = chooseInferenceMode(settings.inferenceMode, engine.modelDir, engine.codeDir, engine.program);
  const mode = settings.multiModel ? chosen.then(loadOffTheHttpThread) : chosen;
  return new SizeRoutedBackend({ mode, inline, thread: worker, log });
}

/**
 * A multi-model endpoint loads models while it serves others, so none loads on the HTTP thread:
 * ONNX Runtime builds a session synchronously on the calling thread, seconds for a model of many
 * nodes, which would hold `/ping` (2 s) and every request of the worker process for that long.
 */
function loadOffTheHttpThread(choice: InferenceModeChoice): InferenceModeChoice {
  return choice.mode === 'inline' ? { mode: 'thread', reason: `multi-model: models load in the inference thread, so a load never holds /ping (${choice.reason})` } : choice;
}

/** This process's metrics (undefined when SMKIT_METRICS=false); batch sizes are recorded here. */
let metrics: MetricsSink | undefined;

/** The code only a multi-model endpoint needs, loaded once the configuration says so. */
interface MultiModelCode {
  ModelStore: typeof ModelStore;
  ClusterModelManager: typeof ClusterModelManager;
}

async function loadMultiModelCode(): Promise<MultiModelCode> {
  const [{ ModelStore }, { ClusterModelManager }] = await Promise.all([import('./model-store.js'), import('./mme-cluster.js')]);
  return { ModelStore, ClusterModelManager };
}

function run(config: WorkerConfig, multiModel: MultiModelCode | undefined, keptSocket: object | undefined): void {
  const { settings } = config;
  metrics = settings.metrics ? createMetrics(() => askPrimaryForMetrics()) : undefined;
  // pino loads once the model is ready (or at the first error, or at exit), off the cold-start path;
  // lines logged before are held and written then.
  // A model that takes longer than a second to load has its lines written as they come after that.
  const deferredLog = DeferredLogger.create(settings.logLevel, { worker: config.thread.workerIndex }, settings.logFormat).loadWithin(LOG_HOLD_MS);
  const log: ServerLogger = deferredLog;
  let backend: InferenceBackend | undefined;
  let models: ClusterModelManager | undefined;
  let store: ModelStore | undefined;
  let reloads: Promise<unknown>[] = [];
  if (multiModel) {
    const { ModelStore, ClusterModelManager } = multiModel;
    // A model this worker cannot hold (its thread ran out of memory, or its reload here failed) is
    // unloaded from every worker, so none answers for it while the others list it, and the next
    // POST /models loads it anew instead of answering 409.
    const unloadEverywhere = (name: string) =>
      void models?.unload(name).catch((err: unknown) => {
        // Unloaded already (a DELETE /models/{name} came first): nothing is left to do.
        if ((err as ToolkitError).code !== 'ERR_MODEL_NOT_LOADED') log.error({ err, model: name }, 'could not unload from every worker a model this worker lost');
      });
    // Each model gets the serving settings with its own directory (its code/ holds its handler).
    store = new ModelStore(
      (name, url, lost) => createBackend(settings, { ...config.thread, engine: { ...config.thread.engine, modelDir: url, codeDir: path.join(url, 'code') } }, log.child({ model: name }), name, lost),
      undefined,
      unloadEverywhere,
    );
    models = new ClusterModelManager(store, sendToPrimary);
    reloads = config.models.map(([name, url]) =>
      store!.load(name, url).catch((err: unknown) => {
        log.error({ err, model: name }, 'could not reload a model this endpoint holds; unloading it from every worker');
        unloadEverywhere(name);
      }),
    );
  } else {
    // A reload (after the model's thread ended while serving) that fails so ends the process too.
    backend = createBackend(settings, config.thread, log, undefined, undefined, () => queueMicrotask(afterLoadFailed));
  }
  let draining = false;
  /** Why this process drains when it leaves on its own (see {@link leaveProcess}); undefined for a shutdown. */
  let leaving: string | undefined;
  const leavingReason = () => leaving;
  /** What stopped the server (the primary's shutdown says), named in the 503s of the drain. */
  let stopCause = 'SIGTERM';
  // Request bodies and bidirectional streams' messages share one memory budget (SMKIT_BODY_MEMORY_MB).
  const bodyBudget = new BodyBudget(Math.floor(settings.bodyMemoryMb * 1024 * 1024));
  const manyWorkers = settings.workers > 1;
  // Each worker process loads its own copy of the model: /ping says 200 only once all have (the
  // primary tells when), so that it never says 503 "loading" after another worker's 200. With one
  // worker its own model is all there is.
  let readiness: ServerReadiness = config.peerFailure !== undefined ? { ready: false, failure: config.peerFailure } : { ready: config.serverReady || !manyWorkers };
  const app = createApp({ settings, backend, models, metrics, log, isDraining: () => draining, leavingReason, stopCause: () => stopCause, bodyBudget, serverReadiness: () => readiness });
  // Every request is counted until its response closes, so a shutdown can wait for those being
  // answered (streamed answers included) without polling.
  const listener: RequestListener = (req, res) => {
    // Answered 503 on arrival, past the connections the file descriptor limit leaves room for.
    if (isRefusedConnection(req.socket)) return;
    if (!connections.onRequest(req, res)) return refusePipelined(req, res);
    models?.track(req, res);
    shedder?.onRequest(req, res);
    app(req, res);
  };
  const server: Server = createServer(HTTP_SERVER_OPTIONS, listener);
  limitHeaderLines(server);
  limitConnectionsToFileLimit(server);
  // An answer the client takes none of for as long as a body may take to arrive frees its connection.
  const connections = trackConnections(server, { stalledAnswerMs: settings.bodyTimeoutSeconds * 1000 });
  // With two or more workers, this one closes kept-alive connections over its share (see connection-rebalancing.ts).
  const shedder = settings.connectionRebalancing && manyWorkers ? new ConnectionShedder((open) => sendToPrimary({ type: 'connections', open }), connections) : undefined;
  shedder?.watch(server);
  metrics?.trackConnections(config.thread.workerIndex, () => ({ open: connections.connectionCount, closed: shedder?.closed ?? 0 }));
  server.on('checkContinue', continueWithinLimit(listener, Math.floor(settings.maxPayloadMb * 1024 * 1024)));
  server.on('clientError', answerClientError);
  server.on('connect', answerConnect);
  // An expectation other than 100-continue is ignored (RFC 9110 §10.1.1 allows either); Node's
  // own answer would be a bare 417 without a catalogued code.
  server.on('checkExpectation', listener);
  // The WebSocket of bidirectional streaming; its code (and ws) loads with the first upgrade.
  /** The last load of it asked for: what shutdown closes. */
  let bidi: Promise<import('./bidi/websocket-front.js').BidiFront> | undefined;
  const loadBidiFront = retryingLoad('bidirectional streaming', () =>
    import('./bidi/websocket-front.js').then(
      ({ BidiFront }) =>
        new BidiFront({
          backend,
          log,
          metrics,
          maxMessageBytes: Math.floor(settings.maxPayloadMb * 1024 * 1024),
          timeoutMs: settings.timeoutSeconds * 1000,
          isDraining: () => draining,
          leavingReason,
          budget: bodyBudget,
          maxStreams: settings.bidiStreamsMax,
          slots: streamSlots,
          allowedOrigins: settings.corsAllowOrigins,
          ...(settings.allowedHosts === undefined ? {} : { allowedHosts: settings.allowedHosts }),
        }),
    ),
  );
  // SMKIT_BIDI_STREAMS_MAX is the whole server's: each stream takes one of its slots from the primary.
  const streamSlots = new ClusterStreamSlots((msg) => {
    if (!process.connected) return false;
    sendToPrimary(msg);
    return true;
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (isRefusedConnection(req.socket)) return;
    (bidi = loadBidiFront())
      .then((front) => front.onUpgrade(req, socket, head))
      .catch((err: unknown) => {
        // No descriptors to spare to load its code (see retrying-load.ts): a retry shortly may open.
        if (isToolkitError(err) && err.code === 'ERR_SERVER_BUSY') return answerOnSocket(socket, err.status, err.toJSON(), { 'Retry-After': '1' });
        log.error({ err }, 'could not open a bidirectional stream');
        socket.destroy();
      });
  });
  // The primary checked the port; if another process took it since, exit with a code the primary
  // recognises (it stops with ERR_PORT_IN_USE rather than replacing this worker in a loop).
  server.once('error', (err: NodeJS.ErrnoException) => {
    if (server.listening) throw err;
    process.exit(EXIT_LISTEN_FAILED);
  });
  // With `kernel` balancing each worker binds the port itself (`exclusive`), sharing it through
  // SO_REUSEPORT; otherwise the primary holds the socket and hands connections over.
  const kernelBalancing = chooseConnectionBalancing(settings.connectionBalancing, settings).mode === 'kernel';
  const listenOptions: ListenOptions & { reusePort?: boolean } = { port: settings.port, host: settings.host, ...(kernelBalancing ? { exclusive: true, reusePort: true } : {}) };
  // With `kernel` balancing, more sockets on the same port hand their connections to the HTTP server:
  // each accepts one connection per event-loop turn (see KERNEL_SOCKETS_PER_WORKER).
  const acceptors: net.Server[] = [];
  const listenAcceptors = async (): Promise<void> => {
    // The socket the primary keeps open while no worker is alive (kept-socket.ts) is one more.
    for (let i = 1; i < KERNEL_SOCKETS_PER_WORKER + (keptSocket ? 1 : 0); i++) {
      const acceptor = net.createServer({ noDelay: true }, (socket) => server.emit('connection', socket));
      acceptors.push(acceptor);
      await new Promise<void>((resolve, reject) => {
        acceptor.once('error', reject);
        acceptor.listen(i === KERNEL_SOCKETS_PER_WORKER ? keptSocket : listenOptions, () => {
          acceptor.off('error', reject);
          resolve();
        });
      });
    }
  };
  // A worker that joins a multi-model endpoint (a replacement, or one slower to start than the first
  // POST /models) takes connections only once it holds every model the others do: otherwise it would
  // answer 503 or leave models out of GET /models. Likewise a worker that replaces one of a
  // single-model server already ready takes connections once its model has loaded: while it loads,
  // the others answer /ping 200 and serve.
  const replacing = backend !== undefined && config.listenOnceLoaded;
  /** The single model has loaded once: a failed load after that is a reload's. */
  let servedOnce = false;
  if (replacing && backend) reloads = [joinOnceLoaded(backend)];
  // Without `kernel` balancing, a socket the primary keeps is the only one this worker listens on.
  void Promise.all(reloads).then(() =>
    server.listen(keptSocket && !kernelBalancing ? keptSocket : listenOptions, () => {
      void (kernelBalancing ? listenAcceptors() : Promise.resolve()).then(
        () => {
          const address = server.address();
          // A listener on this port (and an overlapping address) that no process of this server holds:
          // another process shares it through SO_REUSEPORT too. Where /proc cannot tell whose the
          // sockets are, more of them than the server's own.
          if (kernelBalancing && typeof address === 'object' && address) {
            const others = listenersOfOthers(settings.port, address, serverProcesses(process.ppid));
            const shared = others !== undefined ? others > 0 : (countListeners(settings.port, address) ?? 0) > settings.workers * KERNEL_SOCKETS_PER_WORKER + (keptSocket ? 1 : 0);
            if (shared) process.exit(EXIT_LISTEN_FAILED);
          }
          sendToPrimary({ type: 'listening', port: typeof address === 'object' && address ? address.port : settings.port });
          shedder?.reportNow();
        },
        () => process.exit(EXIT_LISTEN_FAILED),
      );
    }),
  );
  // SageMaker keeps connections alive; outlive a typical client/load-balancer idle timeout.
  setServeTimeouts(server, settings.bodyTimeoutSeconds);
  // prom-client and pino are loaded off the cold-start path: after the model is ready (or failed).
  // The heap's growing factor is set then too, so that start-up runs without it (see worker-heap.ts).
  // A flag changed at run time changes V8's flag hash: NODE_COMPILE_CACHE's code for what loads
  // after it may be refused (measured: pino's modules, loaded next), never what start-up loaded.
  const loadMetrics = () => {
    void import('./worker-heap.js').then(({ tuneHeapGrowing }) => tuneHeapGrowing(settings.workerHeapGrowingPercent));
    // One package per turn of the event loop, so that requests already coming in are not held:
    // pino at once (held lines are written then), prom-client once the first seconds are past (a
    // scrape before then loads it).
    // A load that fails (a connection flood took every file descriptor) must not end the worker, and
    // every connection with it: pino loads with the next error line, prom-client with the next scrape.
    setTimeout(() => void deferredLog.loadGradually().catch(() => undefined), 50).unref();
    setTimeout(() => void metrics?.ready().catch(() => undefined), PRELOAD_AFTER_MS).unref();
  };
  /**
   * Resolves once a replacement's model is ready. One whose load fails, or does not end within
   * `SAGEMAKER_STARTUP_TIMEOUT` (a hung modelFn), ends its process instead, never having taken a
   * connection: the primary starts another after its back-off while the others serve, where
   * listening would have answered some of the health checker's pings 503 after their 200s.
   */
  async function joinOnceLoaded(single: InferenceBackend): Promise<void> {
    const limitMs = settings.startupTimeoutSeconds * 1000;
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([single.whenSettled().then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), limitMs)))]);
    clearTimeout(timer);
    if (draining || single.state() === 'ready') return;
    leaveIfShortOfDescriptors();
    if (draining) return;
    const why = inTime ? `could not load the model: ${loadFailureReason(single.failure())}` : `did not finish loading the model within ${settings.startupTimeoutSeconds} s (SAGEMAKER_STARTUP_TIMEOUT)`;
    log.error({ code: 'ERR_MODEL_LOAD' }, `this worker process, which replaces one that ended, ${why}; it took no connections and ends, and a new one is started while the other workers serve`);
    leaveProcess(EXIT_REPLACEMENT_NOT_LOADED, `it replaces one that ended, and ${why}`);
  }
  /**
   * The single model's load failed (see {@link leaveIfShortOfDescriptors}). A reload that failed
   * (its inference thread ended after the model served) in a server of several workers ends the
   * process too, when the primary says another worker serves: a new one loads the model meanwhile,
   * where this one would answer its share of `/ping` and invocations 503 for good. (A model served
   * on the HTTP thread whose inference thread's first load failed is still served: it stays.)
   */
  function afterLoadFailed(): void {
    leaveIfShortOfDescriptors();
    if (draining || !servedOnce || !manyWorkers || backend?.state() !== 'failed') return;
    sendToPrimary({ type: 'reload-failed' });
  }
  /**
   * Ends this worker process with `code` for the primary to read, once it takes no new connection:
   * one the primary hands to a process that then exits waits, unanswered, until its client gives up
   * (seen: a /ping held 10 s). Requests on connections it holds get 503 meanwhile, as in a drain,
   * for at most a second, saying `reason` (why it leaves) rather than naming a SIGTERM.
   */
  function leaveProcess(code: number, reason: string): void {
    draining = true;
    leaving = reason;
    // Its streams would be cut by the exit (1006, no reason): they are closed as a shutdown closes them.
    void bidi?.then((front) => front.closeAll(leavingError(reason))).catch(() => undefined);
    // Kept-alive connections are not closed here: one whose next request is on its way would be
    // reset. Each next request gets its 503 with Connection: close, which closes that connection.
    for (const acceptor of acceptors) acceptor.close();
    if (!server.listening) process.exit(code);
    const closed = new Promise<void>((resolve) => net.Server.prototype.close.call(server, () => resolve()));
    void Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000).unref())]).then(() => process.exit(code));
  }
  /**
   * Ends this worker process when the single model's load (or reload) failed for want of file
   * descriptors (503 `ERR_SERVER_BUSY`: a flood of connections while it loaded, or descriptors the
   * model's code leaked; or code Node keeps failed once an import of it failed for that reason):
   * a failure of the process, not of the model. A new process, with descriptors of its own and a
   * fresh module cache, may load it, where this one would answer `/ping` 503 for good. (Log lines
   * are written synchronously: this one is out before the exit.)
   */
  function leaveIfShortOfDescriptors(): void {
    const failure = backend?.state() === 'failed' ? backend.failure() : undefined;
    if (draining || !failure || !isOutOfDescriptors(failure)) return;
    log.error({ code: failure.code }, 'this worker process could not load the model for want of file descriptors (see the error above); a new one takes its place');
    leaveProcess(EXIT_PROCESS_CANNOT_LOAD, 'it could not load the model for want of file descriptors');
  }
  // With SMKIT_INFERENCE_MODE=inline handler code runs in this process: a promise it rejects with
  // nothing handling it is logged, as the inference thread does. A single model's load is left to
  // Node's default (the process ends, and the primary stops after three such deaths in a row); a
  // multi-model endpoint loads models while it serves others, so there it is logged from the start.
  const keepServingOnRejections = () => {
    if (settings.inferenceMode === 'inline') logUnhandledRejections(log, 'the worker process');
  };
  if (backend) {
    const single = backend;
    void single.whenSettled().then(() => {
      if (draining) return;
      leaveIfShortOfDescriptors();
      if (draining) return;
      // A replacement that could not load ends in joinOnceLoaded: the server's health is not its to change.
      if (replacing && single.state() !== 'ready') return;
      sendToPrimary(single.state() === 'ready' ? { type: 'model', state: 'ready' } : { type: 'model', state: 'failed', reason: loadFailureReason(single.failure()) });
      if (single.state() === 'ready') {
        servedOnce = true;
        keepServingOnRejections();
      }
      loadMetrics();
    });
  } else {
    sendToPrimary({ type: 'model', state: 'ready' });
    keepServingOnRejections();
    loadMetrics();
  }

  const shutdown = async (graceMs: number) => {
    if (draining) return;
    draining = true;
    shedder?.stop();
    void bidi?.then((front) => front.closeAll()).catch(() => undefined);
    const deadline = Date.now() + graceMs;
    // Keep listening and keep idle kept-alive connections open while in-flight answers finish: every
    // request, on a new connection or a kept-alive one, gets a 503 with Connection: close, which
    // closes its connection cleanly. (server.closeIdleConnections() here would reset a connection
    // whose next request is already on its way: the client would see ECONNRESET, not the 503.)
    if (connections.open > 0) await Promise.race([connections.whenIdle(), new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
    const remaining = Math.max(0, deadline - Date.now());
    await (backend ? backend.close(remaining) : store!.closeAll(remaining));
    // Idle connections get a FIN before the listener closes; net's close() rather than http's, which
    // would destroy them first (a reset for a request in flight) via closeIdleConnections().
    connections.closeIdle();
    for (const acceptor of acceptors) acceptor.close();
    const closed = new Promise<void>((resolve) => net.Server.prototype.close.call(server, () => resolve()));
    await Promise.race([closed, new Promise((r) => setTimeout(r, 1000).unref())]);
    process.exit(0);
  };
  process.on('message', (msg: unknown) => {
    if (!isToWorker(msg)) return;
    switch (msg.type) {
      case 'config':
        return; // already configured
      case 'shutdown':
        if (msg.cause !== undefined && !draining) stopCause = msg.cause;
        return void shutdown(msg.graceMs);
      case 'metrics-response':
        return onMetricsResponse(msg);
      case 'metrics-collect':
        // With SMKIT_METRICS=false the primary asks no one; an empty answer all the same, never silence.
        return void (metrics?.collect() ?? Promise.resolve([])).then((list) => process.connected && sendToPrimary({ type: 'metrics-report', id: msg.id, metrics: list }));
      case 'mme-apply':
        return models?.onApply(msg);
      case 'mme-response':
        return models?.onResponse(msg);
      case 'close-connections':
        return shedder?.close(msg.count);
      case 'server-ready':
        readiness = { ready: true };
        return;
      case 'leave':
        if (draining) return;
        log.error({ code: backend?.failure()?.code }, 'the model could not be loaded again after its inference thread ended (see the error above); this worker process ends, and a new one loads it while the other workers serve');
        return leaveProcess(EXIT_RELOAD_FAILED, 'its model could not be loaded again after its inference thread ended');
      case 'peer-failure':
        if (!readiness.ready) readiness = { ready: false, failure: msg.reason };
        return;
      case 'bidi-slot-answer':
        return streamSlots.onAnswer(msg);
      default:
        return unreachable(msg);
    }
  });
  // The primary coordinates shutdown; a terminal's Ctrl-C reaches every process of the group.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  process.on('disconnect', () => {
    streamSlots.abandon();
    void shutdown(0);
  });
}

// ESM loads asynchronously: ask for the configuration only once this listener exists.
const onConfig = (msg: unknown, handle?: unknown) => {
  if (!isToWorker(msg)) return;
  // Stopped before it was configured: nothing is served yet.
  if (msg.type === 'shutdown') process.exit(0);
  if (msg.type !== 'config') return;
  process.off('message', onConfig);
  const config: WorkerConfig = msg;
  // The listening socket the primary keeps comes with the configuration (kept-socket.ts).
  const keptSocket = config.keptSocket && typeof handle === 'object' && handle !== null ? handle : undefined;
  // The primary replaces a worker whose heartbeats stop (its event loop held): see worker-watchdog.ts.
  setInterval(() => process.connected && sendToPrimary({ type: 'alive' }), heartbeatMs(config.settings.workerBlockedTimeoutSeconds)).unref();
  if (!config.settings.multiModel) return run(config, undefined, keptSocket);
  // The primary may send model operations while that code loads: they wait, in order, for run()'s listener.
  holdMessagesUntil(process, loadMultiModelCode(), (code) => run(config, code, keptSocket)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
};
process.on('message', onConfig);
sendToPrimary({ type: 'hello' });
