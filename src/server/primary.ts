import cluster, { type Worker } from 'node:cluster';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Settings } from '../config/settings.js';
import { misspeltSmkitVariableWarnings } from '../core/smkit-variables.js';
import { isToolkitError, ToolkitError } from '../errors/catalogue.js';
import { DeferredLogger, LOG_HOLD_MS } from '../logging/deferred-logger.js';
import { isToPrimary, sendToWorker, unreachable, type ToPrimary, type ToWorker } from './cluster-protocol.js';
import { ConnectionCensus } from './connection-rebalancing.js';
import { freshShare } from '../core/fresh-share.js';
import { StreamSlotCounter } from './bidi/stream-slots.js';
import { RestartBackoff } from '../core/restart-backoff.js';
import type { InferenceThreadData } from './thread-protocol.js';
import type { MmeCoordinator } from './mme-cluster.js';
import type { MetricsWorker } from './cluster-metrics.js';
import { EXIT_LISTEN_FAILED, EXIT_PROCESS_CANNOT_LOAD, EXIT_REPLACEMENT_NOT_LOADED } from './exit-codes.js';
import type { EarlyWorkers } from './early-workers.js';
import type { HeldSignals } from './held-signals.js';
import { isSpawnFailure, spawnFailureReason } from './worker-spawn.js';
import { keepListeningSocket, keepsSocket, type KeptSocket } from './kept-socket.js';
import { chooseConnectionBalancing } from './connection-balancing.js';
import { findHandlerModule, unnamedHandlerAdvice } from '../handlers/user-module.js';
import { heartbeatMs, WorkerWatchdog } from './worker-watchdog.js';
import { isNativeHandle } from './orphaned-connection.js';
import { closeConnectionsOfDeadWorker } from './handed-connections.js';
import { signalledDeathCause } from './memory-failure.js';
import { retryingLoad } from '../core/retrying-load.js';
import { SAME_SIGNAL_MS } from '../core/interruptible.js';

/**
 * The rest of `smkit serve`'s primary, once its workers are forked: logs, prepares the model's
 * code directory, configures each worker when it says hello, replaces crashed workers, and on
 * SIGTERM drains them (at once for one `held` while the server started). Resolves when the server
 * has shut down. If preparing fails, the early workers are stopped and the error is thrown.
 *
 * While the workers start, the primary keeps off the CPU they need: its log lines are held (with
 * their times) until the first worker has loaded its model, a second has passed, or an error is
 * logged, and the code only a multi-model endpoint or a code/package.json needs is loaded then.
 */
export async function runPrimary(settings: Settings, mountedModelDir: string, early: EarlyWorkers, held: HeldSignals): Promise<void> {
  let log: DeferredLogger;
  let codeDir: string;
  let mme: typeof import('./mme-cluster.js') | undefined;
  try {
    log = DeferredLogger.create(settings.logLevel, { role: 'primary' }, settings.logFormat).loadWithin(LOG_HOLD_MS);
    if (settings.modelDir !== mountedModelDir) {
      log.info({ modelDir: settings.modelDir, empty: mountedModelDir }, 'the model directory is empty; serving the model baked into the image (SMKIT_BAKED_MODEL_DIR)');
    }
    if (!settings.multiModel && !existsSync(settings.modelDir)) {
      log.warn({ modelDir: settings.modelDir }, 'the model directory does not exist; /ping will answer 503 until a model is there and the server restarts');
    }
    if (!settings.multiModel) await warnOfUnnamedHandler(settings, log);
    for (const { variable, meant, message } of misspeltSmkitVariableWarnings(process.env)) log.warn({ variable, meant }, message);
    // A multi-model endpoint loads models later, through POST /models, each with its own code/.
    codeDir = settings.multiModel ? path.join(settings.modelDir, 'code') : await prepareCode(settings, log, held.stopping);
    mme = settings.multiModel ? await import('./mme-cluster.js') : undefined;
  } catch (err) {
    const signal = held.release();
    early.kill();
    // A SIGTERM or Ctrl-C ended the code/package.json install: stop now, as asked, no worker having served.
    if (signal && held.stopping.aborted && (err as Error).name === 'InstallStopped') {
      log!.info({ signal }, 'stopping: the code/package.json install was ended, and the worker processes, which had not started serving');
      log!.info('stopped');
      return;
    }
    throw err;
  }
  const balancing = chooseConnectionBalancing(settings.connectionBalancing, settings);
  if (balancing.warning) log.warn({ connectionBalancing: balancing.mode }, balancing.warning);
  log.info(
    {
      port: settings.port,
      connectionBalancing: balancing.mode,
      multiModel: settings.multiModel,
      modelDir: settings.multiModel ? undefined : settings.modelDir,
      workers: settings.workers,
      timeoutSeconds: settings.timeoutSeconds,
      maxPayloadMb: settings.maxPayloadMb,
      devices: settings.devices,
      program: settings.program,
      files: !settings.multiModel && existsSync(settings.modelDir) ? readdirSync(settings.modelDir).slice(0, 20) : undefined,
    },
    'smkit serve starting',
  );
  // The listening socket stays open while no worker is alive (kept-socket.ts).
  let kept: KeptSocket | undefined;
  if (keepsSocket(balancing.mode, settings.workers)) {
    try {
      kept = await keepListeningSocket(settings.host, settings.port, balancing.mode, (reason) =>
        log.warn({ reason }, 'cannot keep the listening socket open while no worker is alive; connections are refused while a sole worker restarts'),
      );
    } catch (err) {
      held.release();
      early.kill();
      throw err;
    }
  }
  return supervise(settings, codeDir, log, early, held, mme?.MmeCoordinator, kept);
}

/**
 * Warns when code/ holds scripts but none named after `SAGEMAKER_PROGRAM`: the model is then served
 * with the default hooks, which a misspelt name would otherwise leave unnoticed. The modules the
 * pipeline file's custom steps name are no handler: a model of a pipeline and its custom step's
 * module is served as meant, with no warning. (The pipeline file is read here only when code/
 * holds scripts and no handler; a file that cannot be read is left to the workers' load to report.)
 */
async function warnOfUnnamedHandler(settings: Settings, log: DeferredLogger): Promise<void> {
  const codeDir = path.join(settings.modelDir, 'code');
  if (!existsSync(codeDir) || findHandlerModule(codeDir, settings.program)) return;
  // A Python handler (code/inference.py, SAGEMAKER_PROGRAM=inference.py), made for the Python
  // toolkit's containers, is never run here either.
  let scripts = readdirSync(codeDir).filter((n) => /\.((m|c)?js|py)$/.test(n));
  if (scripts.length === 0) return;
  const { readPipelineFile, customStepModules } = await import('../pipeline/pipeline-file.js');
  let stepModules: string[] = [];
  try {
    const spec = readPipelineFile(settings.modelDir);
    if (spec !== undefined) stepModules = customStepModules(spec);
  } catch {
    // The workers' load reports it.
  }
  scripts = scripts.filter((n) => !stepModules.includes(n));
  if (scripts.length === 0) return;
  log.warn(
    { program: settings.program, scripts: scripts.slice(0, 20) },
    `code/ has ${scripts.slice(0, 5).join(', ')}${scripts.length > 5 ? ', ...' : ''} but no ${settings.program}.{mjs,js,cjs}: serving with the default hooks; ${unnamedHandlerAdvice(scripts, settings.program, "set SAGEMAKER_PROGRAM to the handler module's name")}`,
  );
}

/**
 * The code directory the workers load from. Only a `code/package.json` can need an install (npm
 * runs, maybe for minutes): then the install code is loaded, and the log is written as it goes.
 * `stop` (a SIGTERM or Ctrl-C) ends the install, which then rejects with `InstallStopped`.
 */
async function prepareCode(settings: Settings, log: DeferredLogger, stop: AbortSignal): Promise<string> {
  const codeDir = path.join(settings.modelDir, 'code');
  if (!existsSync(path.join(codeDir, 'package.json'))) return codeDir;
  log.load();
  const { prepareCodeDir } = await import('../handlers/code-deps.js');
  return prepareCodeDir(settings.modelDir, settings.installCodeDeps, log, stop);
}

/**
 * Worker processes that may exit while loading the model, one after the other with the same exit
 * code and before any worker loaded it, before no more are started and `smkit serve` exits 1
 * naming the cause (inline mode: user code runs in the worker process, so its `process.exit` or
 * an uncaught error ends it). So may worker processes ended by `SIGABRT` (a JavaScript heap the
 * model fills in inline mode, or a native library that aborts). Deaths by another signal, and
 * deaths after a model loaded, are replaced as before.
 */
export const LOAD_DEATHS_MAX = 3;

/** What a Ctrl-C's drain names as its cause (in its 503s). */
const SIGINT_CAUSE = 'SIGINT, Ctrl-C';

function supervise(settings: Settings, codeDir: string, log: DeferredLogger, early: EarlyWorkers, held: HeldSignals, Mme: typeof MmeCoordinator | undefined, kept: KeptSocket | undefined): Promise<void> {
  let stopping = false;
  /** What stopped the server, once it stops (see onSignal). */
  let stopCause: string | undefined;
  // A worker is ready once its port is bound and its model loaded; "ready" is logged once, when all are.
  const listening = new Map<number, number>();
  const loaded = new Set<number>();
  let announced = false;
  let failed = 0;
  /** Workers whose load failed before the server was ready, and why: every worker's /ping says so while one is left. */
  const failures = new Map<number, string>();
  /** The failure every worker's /ping reports: that of the first worker still running whose load failed; undefined when none is. */
  const firstFailure = (): string | undefined => failures.values().next().value;
  /** Set when SAGEMAKER_STARTUP_TIMEOUT passed with a failed worker left: the count starts again once none is. */
  let startupTimedOutOnFailure = false;
  /** Workers serving: their model loaded and their port bound (one told to leave is no longer listening; one leaving on its own counts till it exits). */
  const servingWorkers = () => [...loaded].filter((id) => listening.has(id));
  /**
   * Whether a worker other than `except` is serving: a replacement then takes connections only once
   * it has loaded, and a worker whose reload failed may leave.
   */
  const serving = (except?: number) => servingWorkers().some((id) => id !== except);
  /** Workers whose reload failed while no other served: each is told to leave once another does. */
  const stranded = new Set<number>();
  /** Tells worker `id`, whose reload failed, to leave; it counts as serving no more, so two such do not both go. */
  const tellToLeave = (id: number) => {
    // A server stopping drains every worker already: this one must not exit early as replaced.
    if (stopping) return;
    stranded.delete(id);
    listening.delete(id);
    const worker = cluster.workers?.[id];
    if (worker) sendToWorker(worker, { type: 'leave' });
  };
  const releaseStranded = () => {
    for (const id of stranded) if (serving(id)) tellToLeave(id);
  };
  const tellWorkers = (msg: ToWorker) => {
    for (const worker of Object.values(cluster.workers ?? {})) if (worker && configured.has(worker.id)) sendToWorker(worker, msg);
  };
  const announceWhenReady = () => {
    if (announced) return;
    const ready = servingWorkers();
    if (ready.length < settings.workers) return;
    announced = true;
    const port = listening.get(ready[0]!) ?? settings.port;
    log.info({ port, workers: settings.workers }, `ready: listening on ${settings.host}:${port}`);
    // Until now each worker's /ping said 503, its own model loaded or not: once one said 200, none may say "loading".
    tellWorkers({ type: 'server-ready' });
  };
  // Workers report their connection counts; those over their share are told to close some (connection-rebalancing.ts).
  const census = new ConnectionCensus((id, count) => {
    const worker = cluster.workers?.[id];
    if (worker && !stopping) sendToWorker(worker, { type: 'close-connections', count });
  });
  // SMKIT_BIDI_STREAMS_MAX holds for the whole server: each stream takes a slot here (bidi/stream-slots.ts).
  const streamSlots = new StreamSlotCounter(settings.bidiStreamsMax);
  const restarts = new RestartBackoff();
  // Workers that told whether their model loaded: one that dies before it did died while loading.
  const reported = new Set<number>();
  let everLoaded = false;
  /** Workers that exited while loading the model, in a row and with the same code, before any loaded it. */
  let loadDeaths = { how: '', count: 0 };
  const indexOf = new Map<Worker, number>();
  // A worker whose heartbeats stop is killed, and replaced as a crashed one is (worker-watchdog.ts).
  // Loading a model may hold the event loop as long as SAGEMAKER_STARTUP_TIMEOUT allows, and a
  // multi-model endpoint's workers load models while they serve.
  const loading = (id: number) => !!Mme || !reported.has(id);
  const blockedMs = settings.workerBlockedTimeoutSeconds * 1000;
  /** Workers the watchdog killed. */
  const blocked = new WeakSet<Worker>();
  const boundMs = (id: number) => (loading(id) ? Math.max(blockedMs, settings.startupTimeoutSeconds * 1000) : blockedMs);
  const watchdog = new WorkerWatchdog(heartbeatMs(settings.workerBlockedTimeoutSeconds), boundMs, (id, silentMs) => {
    const worker = cluster.workers?.[id];
    if (!worker || stopping) return;
    const index = indexOf.get(worker);
    const limit = `${boundMs(id) / 1000} s (SMKIT_WORKER_BLOCKED_TIMEOUT_SECONDS${loading(id) ? ', or SAGEMAKER_STARTUP_TIMEOUT while a model loads' : ''})`;
    const where = settings.inferenceMode === 'inline' ? ', where handler code runs with SMKIT_INFERENCE_MODE=inline' : '';
    const err = new ToolkitError(
      'ERR_WORKER_BLOCKED',
      `worker process ${index} (pid ${worker.process.pid}) sent no heartbeat for over ${limit}: synchronous code holds its event loop${where} (a loop that never ends, a catastrophic regular expression, a long computation that never awaits). It is killed, its connections closing without an answer, and replaced. Move long synchronous work off the event loop, or use SMKIT_INFERENCE_MODE=thread (the default for handler code), where an invocation past the timeout gets 504 and only its inference thread is replaced`,
    );
    log.error({ code: err.code, worker: index, workerPid: worker.process.pid, silentMs }, err.message);
    blocked.add(worker);
    worker.process.kill('SIGKILL');
  });
  // The aggregator's code (and prom-client) loads at the first scrape, off the workers' start.
  // On a multi-model endpoint, what exited workers counted for a model is kept only while it is loaded.
  const aggregator = retryingLoad('the metrics library', () =>
    import('./cluster-metrics.js').then((m) => m.createClusterMetrics(new m.WorkerMetricsGatherer(undefined, mme && ((name) => mme.holds(name))))),
  );
  /** The workers a scrape asks: those connected, with their configuration (earlier, nothing in them answers). */
  const metricsWorkers = (): MetricsWorker[] =>
    Object.values(cluster.workers ?? {})
      .filter((w): w is Worker => !!w && w.isConnected() && configured.has(w.id))
      .map((w) => ({
        id: w.id,
        // send() says false for a long backlog too, when the message still goes: only a closed channel is no answer.
        ask: (id: number) => (sendToWorker(w, { type: 'metrics-collect', id }), w.isConnected()),
      }));
  const collectMetrics = async () => {
    const workers = await (await aggregator()).scrape(metricsWorkers());
    return mme ? `${workers === '' || workers.endsWith('\n') ? workers : `${workers}\n`}${mme.metricsText()}` : workers;
  };
  // Scrapes from the workers that arrive while a collection is under way share the next one, which
  // begins after they came (see askPrimaryForMetrics in http-worker.ts).
  const clusterMetrics = settings.metrics
    ? freshShare(collectMetrics)
    : undefined;
  // Workers that have their configuration: only they can apply model loads (earlier messages are lost).
  const configured = new Set<number>();
  const mme = Mme
    ? new Mme(
        () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && w.isConnected() && configured.has(w.id)),
        settings.mmeMinFreeMb,
        log,
        settings.startupTimeoutSeconds * 1000,
        (name) => aggregator.loaded?.forgetModel(name),
      )
    : undefined;

  /** Set once the primary supervises: a worker's `'error'` (a process that could not be started). */
  let onWorkerError: (worker: Worker, err: NodeJS.ErrnoException) => void = () => undefined;
  /** Set once the primary supervises: worker `index`'s process could not be started. */
  let onSpawnFailed: (index: number, err: NodeJS.ErrnoException) => void = () => undefined;
  const fork = (index: number) => {
    let worker: Worker;
    try {
      worker = cluster.fork();
    } catch (err) {
      // The spawn errors Node throws rather than reports as an 'error' (ENOMEM, EPERM, ENOTDIR). The
      // try counts as a start, as track() counts one: else the back-off, measured from the last
      // start that worked, would stay at its first step once that was long enough ago.
      restarts.started(index);
      onSpawnFailed(index, err as NodeJS.ErrnoException);
      return;
    }
    worker.on('message', track(worker, index));
  };
  /** Bookkeeping of a new worker, forked now or at start-up (early); returns its message handler. */
  const track = (worker: Worker, index: number): ((msg: unknown, handle?: unknown) => void) => {
    indexOf.set(worker, index);
    restarts.started(index);
    // A connection Node's round-robin handed to it that it had not taken when it died is closed, not left open.
    closeConnectionsOfDeadWorker(worker);
    // Unheard, a worker's 'error' would end the primary and every worker with it.
    worker.on('error', (err: NodeJS.ErrnoException) => onWorkerError(worker, err));
    const thread: InferenceThreadData = {
      workerIndex: index,
      logLevel: settings.logLevel,
      logFormat: settings.logFormat,
      engine: {
        modelDir: settings.modelDir,
        codeDir,
        program: settings.program,
        defaultAccept: settings.defaultAccept,
        maxDecodedBytes: Math.floor(settings.maxDecodedMb * 1024 * 1024),
        batching: { maxSize: settings.batchMaxSize, maxDelayMs: settings.batchMaxDelayMs, timeoutMs: settings.timeoutSeconds * 1000 },
        runtime: { devices: settings.devices, intraOpThreads: settings.intraOpThreads, workerIndex: index, workers: settings.workers, extra: { backend: settings.tfjsBackend } },
      },
    };
    const onMessage = (msg: ToPrimary, handle: unknown): void => {
      switch (msg.type) {
        case 'hello':
          // A process started: failed starts before it no longer count as in a row.
          if (loadDeaths.how.startsWith('spawn ')) loadDeaths = { how: '', count: 0 };
          // A worker still starting when the server began to stop missed the shutdown sent to it
          // (it had no listener yet): it has nothing in flight, so it stops now, not at the grace's end.
          if (stopping) {
            sendToWorker(worker, { type: 'shutdown', graceMs: 0 });
            return;
          }
          {
            const config: ToWorker = { type: 'config', settings, thread, models: mme?.assigned() ?? [], serverReady: announced, listenOnceLoaded: announced && serving(), peerFailure: announced ? undefined : firstFailure(), keptSocket: !!kept };
            // The listening socket the primary keeps goes with it, for the worker to listen on.
            if (kept) {
              if (worker.isConnected()) worker.send(config, kept.handle as Parameters<Worker['send']>[1]);
            } else sendToWorker(worker, config);
          }
          configured.add(worker.id);
          return watchdog.heard(worker.id);
        case 'alive':
          return watchdog.heard(worker.id);
        case 'listening':
          listening.set(worker.id, msg.port);
          releaseStranded();
          return announceWhenReady();
        case 'model':
          // The first worker has its model: the primary's log lines can be written (pino loaded) now.
          log.loadWithin(50);
          reported.add(worker.id);
          if (msg.state === 'ready') {
            everLoaded = true;
            loaded.add(worker.id);
            releaseStranded();
            return announceWhenReady();
          }
          if (++failed === 1) log.error({ modelDir: settings.modelDir }, 'the model failed to load; /ping answers 503 (see the error above)');
          // One worker that cannot load makes the server unhealthy: the others' /ping says why, not "loading".
          if (!announced) {
            failures.set(worker.id, `worker process ${index} could not load the model: ${msg.reason ?? 'see the server log'}`);
            if (failures.size === 1) tellWorkers({ type: 'peer-failure', reason: failures.get(worker.id) });
          }
          return;
        case 'metrics-request': {
          const answer = (text: string) => sendToWorker(worker, { type: 'metrics-response', id: msg.id, text });
          if (!clusterMetrics) return void answer('# metrics are off (SMKIT_METRICS=false)\n');
          // A failure is the scrape's error (503 ERR_SERVER_BUSY without descriptors to load the
          // library): a 200 of a comment alone read to Prometheus as a good scrape with no series.
          clusterMetrics().then(answer, (err: unknown) => {
            const failure = isToolkitError(err) && err.code !== 'ERR_INTERNAL' ? err : new ToolkitError('ERR_INTERNAL', `the metrics of the worker processes could not be collected: ${err instanceof Error ? err.message : String(err)}`);
            sendToWorker(worker, { type: 'metrics-response', id: msg.id, text: '', error: { code: failure.code, message: failure.message } });
          });
          return;
        }
        case 'metrics-report':
          return aggregator.loaded?.report(worker.id, msg.id, msg.metrics);
        case 'mme-request':
          return mme?.onRequest(worker, msg, isNativeHandle(handle) ? handle : undefined);
        case 'mme-applied':
          return mme?.onApplied(worker, msg);
        case 'connections':
          return census.report(worker.id, msg.open);
        case 'reload-failed':
          // It leaves only while another serves, else nothing would listen until its replacement does.
          if (serving(worker.id)) return tellToLeave(worker.id);
          stranded.add(worker.id);
          return;
        case 'bidi-slot':
          return void sendToWorker(worker, { type: 'bidi-slot-answer', id: msg.id, granted: streamSlots.take(worker.id) });
        case 'bidi-slot-free':
          return streamSlots.give(worker.id);
        default:
          return unreachable(msg);
      }
    };
    return (msg: unknown, handle?: unknown) => {
      if (isToPrimary(msg)) onMessage(msg, handle);
    };
  };

  return new Promise<void>((resolve, reject) => {
    let startupError: ToolkitError | undefined;
    // Worker `index`'s process could not be started: it is tried again, unless that failed in a row before any model loaded.
    onSpawnFailed = (index, spawnError) => {
      const how = `spawn ${spawnError.code ?? spawnError.message}`;
      const reason = spawnFailureReason(spawnError, process.execPath);
      loadDeaths = loadDeaths.how === how ? { how, count: loadDeaths.count + 1 } : { how, count: 1 };
      // Before any worker loaded the model, each try would fail the same way; after, the others serve meanwhile.
      if (!everLoaded && loadDeaths.count >= LOAD_DEATHS_MAX) {
        startupError = new ToolkitError('ERR_WORKER_START', `could not start a worker process, ${loadDeaths.count} times in a row: ${reason}`);
        log.error({ code: startupError.code }, startupError.message);
        onSignal('error');
        return;
      }
      const delay = restarts.delayAfterCrash(index);
      log.error({ worker: index, restartInMs: delay, reason }, 'could not start a worker process; trying again');
      setTimeout(() => !stopping && fork(index), delay);
    };
    /** Workers whose end was handled: a start failure has no exit, but one must not count twice. */
    const ended = new WeakSet<Worker>();
    // cluster.workers lists a worker that could not be started until its end is handled (below).
    const running = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && !ended.has(w));
    const onWorkerExit = (worker: Worker, code: number | null, signal: string | null, spawnError?: NodeJS.ErrnoException) => {
      if (ended.has(worker)) return;
      ended.add(worker);
      const index = indexOf.get(worker) ?? 0;
      indexOf.delete(worker);
      configured.delete(worker.id);
      listening.delete(worker.id);
      loaded.delete(worker.id);
      stranded.delete(worker.id);
      // The failure /ping reports left with the worker that had it: the next one left, or none.
      if (failures.delete(worker.id) && !announced) {
        tellWorkers({ type: 'peer-failure', reason: firstFailure() });
        if (failures.size === 0 && startupTimedOutOnFailure) {
          startupTimedOutOnFailure = false;
          armStartupTimer();
        }
      }
      const diedLoading = !reported.delete(worker.id);
      mme?.forget(worker.id, { pid: worker.process.pid, code, signal, stopping: stopping ? stopCause : undefined });
      census.forget(worker.id);
      streamSlots.forget(worker.id);
      aggregator.loaded?.forget(worker.id);
      watchdog.forget(worker.id);
      if (stopping) {
        if (running().length === 0) finish();
        return;
      }
      if (code === EXIT_LISTEN_FAILED) {
        // Another process took the port after the start-up check: replacing the worker cannot help.
        startupError = new ToolkitError('ERR_PORT_IN_USE', `could not listen on ${settings.host}:${settings.port} (another process holds it, or it needs privileges); pass --port (SAGEMAKER_BIND_TO_PORT) with another port`);
        log.error({ code: startupError.code }, startupError.message);
        onSignal('error');
        return;
      }
      if (spawnError) {
        // Never started, it may have no channel to close, after which cluster would forget it.
        delete cluster.workers?.[worker.id];
        return onSpawnFailed(index, spawnError);
      }
      // A signal from outside (the kernel's OOM killer while several workers load) may not repeat:
      // only exits count, and SIGABRT, which a process raises itself (V8 when its heap is full).
      if (diedLoading && !everLoaded && !mme && ((code !== null && !signal) || signal === 'SIGABRT')) {
        const how = signal ? `signal ${signal}` : `exit code ${code}`;
        loadDeaths = loadDeaths.how === how ? { how, count: loadDeaths.count + 1 } : { how, count: 1 };
        if (loadDeaths.count >= LOAD_DEATHS_MAX) {
          // Each replacement would die the same way until SAGEMAKER_STARTUP_TIMEOUT, /ping saying only "loading".
          startupError = new ToolkitError(
            'ERR_MODEL_LOAD',
            signal
              ? `the worker process was ended by ${signal} while loading the model, ${loadDeaths.count} times in a row: ${signalledDeathCause(signal)}`
              : code === EXIT_PROCESS_CANNOT_LOAD
                ? `the worker process could not load the model for want of file descriptors, ${loadDeaths.count} times in a row (see the errors above); raise the open files limit (ulimit -n), and look for code in the model that opens files and never closes them`
                : `the worker process ended while loading the model, ${loadDeaths.count} times in a row (${how}: process.exit was called, or an error was thrown where nothing awaits it); look in the handler module and its modelFn/preModelFn/modelWarmupFn for process.exit or an error thrown from a timer or event handler`,
          );
          log.error({ code: startupError.code }, startupError.message);
          onSignal('error');
          return;
        }
      }
      // A replacement that could not load never served: the time it spent loading is no healthy spell.
      const delay = restarts.delayAfterCrash(index, { served: code !== EXIT_REPLACEMENT_NOT_LOADED });
      // A worker the watchdog killed was logged as ERR_WORKER_BLOCKED: its SIGKILL is no one else's.
      const cause = blocked.has(worker) ? undefined : signalledDeathCause(signal);
      log.error({ worker: index, exitCode: code, signal, restartInMs: delay, ...(cause ? { cause } : {}) }, 'worker process died; replacing it');
      setTimeout(() => !stopping && fork(index), delay);
    };
    cluster.on('exit', (worker: Worker, code: number | null, signal: string | null) => onWorkerExit(worker, code, signal));
    onWorkerError = (worker, err) => {
      if (isSpawnFailure(worker)) return onWorkerExit(worker, null, null, err);
      log.warn({ worker: indexOf.get(worker), workerPid: worker.process.pid, err: err.message }, 'worker process error');
    };

    let hardStop: NodeJS.Timeout | undefined;
    const finish = () => {
      kept?.close();
      if (hardStop) clearTimeout(hardStop);
      log.info('stopped');
      process.removeListener('SIGTERM', onSignal);
      process.removeListener('SIGINT', onSignal);
      if (startupError) reject(startupError);
      else resolve();
    };
    /** Whether a second Ctrl-C ended the drain. */
    let forced = false;
    /** When the Ctrl-C that started the drain was handled (see {@link SAME_SIGNAL_MS}). */
    let firstCtrlCAt = 0;
    /**
     * A second `SIGINT` while a Ctrl-C drains the server: the workers are killed at once, as the
     * grace period's end would, and their requests still in flight are cut. The second press was
     * ignored without a word, and the terminal waited up to SMKIT_SHUTDOWN_GRACE_SECONDS for a
     * request that may never end. One keypress reaches the whole process group once, so only a
     * second one does this; a drain that a `SIGTERM` started (SageMaker, docker stop) keeps its grace.
     * A `SIGINT` within {@link SAME_SIGNAL_MS} of the first is that keypress's copy forwarded by a
     * wrapper (npx, npm): it was taken as a second Ctrl-C, and one press cut the requests the drain
     * was for.
     */
    const forceStop = () => {
      forced = true;
      const cut = running().length;
      log.warn({ signal: 'SIGINT', workers: cut }, 'second Ctrl-C (SIGINT): stopping the workers at once; requests still in flight are cut');
      if (hardStop) clearTimeout(hardStop);
      // One not started yet has no pid: Node 20 would signal pid 0, the whole process group.
      for (const w of running()) if (w.process.pid !== undefined) w.process.kill('SIGKILL');
      if (cut === 0) finish();
    };
    /** Stops the server: on `SIGTERM` or `SIGINT`, or on a start-up `error` (logged before), which no signal sent. */
    const onSignal = (signal: NodeJS.Signals | 'error') => {
      if (stopping) {
        if (signal !== 'SIGINT' || stopCause !== SIGINT_CAUSE || forced) return;
        if (performance.now() - firstCtrlCAt < SAME_SIGNAL_MS) {
          log.info({ signal }, 'SIGINT again at once: taken as the same Ctrl-C (a wrapper such as npx forwards its copy); the drain goes on, and another Ctrl-C stops the workers at once');
          return;
        }
        forceStop();
        return;
      }
      stopping = true;
      if (signal === 'SIGINT') firstCtrlCAt = performance.now();
      // The drain's 503s name it: a Ctrl-C is no SIGTERM, nor is a start-up error.
      stopCause = signal === 'error' ? 'after a start-up error, see the server log' : signal === 'SIGINT' ? SIGINT_CAUSE : signal;
      census.stop();
      watchdog.stop();
      const graceMs = settings.shutdownGraceSeconds * 1000;
      if (signal === 'error') log.info({ graceMs }, 'stopping after the error above: no new requests, finishing in-flight ones');
      else log.info({ signal, graceMs }, 'draining: no new requests, finishing in-flight ones');
      const workers = running();
      if (workers.length === 0) return finish();
      for (const w of workers) sendToWorker(w, { type: 'shutdown', graceMs, cause: stopCause });
      // The workers hold the listening socket while they drain; it closes with the last of them.
      kept?.close();
      hardStop = setTimeout(() => {
        log.warn('grace period over; stopping remaining workers');
        // One not started yet has no pid: Node 20 would signal pid 0, the whole process group.
        for (const w of running()) if (w.process.pid !== undefined) w.process.kill('SIGKILL');
      }, graceMs + 2000);
      hardStop.unref();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    early.workers.forEach((worker, index) => {
      const exited = early.adopt(worker, track(worker, index));
      if (exited) onWorkerExit(worker, exited.code, exited.signal, exited.spawnError);
    });
    // A load that neither finishes nor fails in time (a hung modelFn, a stuck download) ends the
    // container with a clear error instead of answering 503 until SageMaker's health-check window closes.
    // So does one that some workers finished and others did not: /ping says 200 only once all have.
    // A failed worker keeps the server up, unhealthy, as when all fail; once none is left the count starts again.
    function armStartupTimer(): void {
      setTimeout(() => {
        if (announced || stopping) return;
        if (failures.size > 0) {
          startupTimedOutOnFailure = true;
          return;
        }
        const notReady = settings.workers - servingWorkers().length;
        // Nothing logs a load as it goes: the likely causes, and what to do, are the message.
        const why =
          'the handler module\'s top-level code, a load hook (modelFn, preModelFn, modelWarmupFn) or the runtime never settled, or worker processes kept ending while they loaded (each end is logged above). Make the load finish (look for a promise that is never resolved, or an await on a download or a service that never answers), or raise SAGEMAKER_STARTUP_TIMEOUT for a model that takes this long';
        startupError = new ToolkitError(
          'ERR_MODEL_LOAD',
          loaded.size === 0
            ? `no worker finished loading the model within ${settings.startupTimeoutSeconds} s (SAGEMAKER_STARTUP_TIMEOUT): ${why}`
            : `${notReady} of ${settings.workers} worker processes were not ready (the model loaded, the port bound) within ${settings.startupTimeoutSeconds} s (SAGEMAKER_STARTUP_TIMEOUT), so /ping could not say 200 (it does once every worker has loaded the model): ${why}`,
        );
        log.error({ code: startupError.code }, startupError.message);
        onSignal('error');
      }, settings.startupTimeoutSeconds * 1000).unref();
    }
    armStartupTimer();
    // A signal that came while the server started is acted on now (its own listeners are on).
    const signal = held.release();
    if (signal) onSignal(signal);
  });
}
