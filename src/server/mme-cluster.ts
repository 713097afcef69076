import type { Worker } from 'node:cluster';
import { ToolkitError } from '../errors/catalogue.js';
import type { Logger } from '../core/context.js';
import { checkFreeMemory, type ModelEntry, type ModelManager, type ModelStore } from './model-store.js';
import { fromWireError, toWireError, type WireError } from './thread-protocol.js';
import { sendToWorker, type ModelOp, type ToPrimary, type ToWorker } from './cluster-protocol.js';
import type { Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeldConnections, nativeHandleOf, type NativeHandle } from './orphaned-connection.js';

/**
 * Multi-model loads and unloads across `smkit serve`'s worker processes. SageMaker sends
 * `POST /models` to one connection, so one worker receives it; the primary then applies it to
 * every worker, so any worker can answer the invocations that follow.
 */

type MmeRequest = Extract<ToPrimary, { type: 'mme-request' }>;
type MmeApplied = Extract<ToPrimary, { type: 'mme-applied' }>;
type MmeApply = Extract<ToWorker, { type: 'mme-apply' }>;
type MmeResponse = Extract<ToWorker, { type: 'mme-response' }>;

/** A request read on a connection and not yet answered; `load` while its connection is with the primary. */
interface QueuedRequest {
  load?: number;
}

/** The worker side: list/get/backend are local, load/unload go through the primary. */
export class ClusterModelManager implements ModelManager {
  #nextId = 1;
  readonly #waiting = new Map<number, { resolve(): void; reject(e: unknown): void }>();
  /** Each connection's requests not yet answered, in the order they were read (and are answered). */
  readonly #queues = new WeakMap<Socket, QueuedRequest[]>();
  readonly #queued = new WeakMap<IncomingMessage, QueuedRequest>();

  constructor(
    private readonly store: ModelStore,
    private readonly send: (msg: MmeRequest | MmeApplied, handle?: object) => void,
  ) {}

  /** The primary's answer to this worker's request. */
  onResponse(m: MmeResponse): void {
    const w = this.#waiting.get(m.id);
    this.#waiting.delete(m.id);
    if (m.error) w?.reject(fromWireError(m.error));
    else w?.resolve();
  }

  /** Applies a load or unload the primary broadcast, then acknowledges it. */
  onApply(m: MmeApply): void {
    const done = m.op === 'load' ? this.store.load(m.name, m.url!) : this.store.unload(m.name);
    done.then(
      () => this.send({ type: 'mme-applied', applyId: m.applyId }),
      (err: unknown) => this.send({ type: 'mme-applied', applyId: m.applyId, error: toWireError(err) }),
    );
  }

  /** Called for every request as it is read, before it is routed: loads need to know what is ahead of them on their connection. */
  track(req: IncomingMessage, res: ServerResponse): void {
    const queue = this.#queues.get(req.socket) ?? [];
    if (queue.length === 0) this.#queues.set(req.socket, queue);
    const entry: QueuedRequest = {};
    queue.push(entry);
    this.#queued.set(req, entry);
    res.once('close', () => {
      const at = queue.indexOf(entry);
      if (at >= 0) queue.splice(at, 1);
    });
  }

  #request(op: ModelOp, name: string, url?: string, connection?: { handle: object; after?: number; entry: QueuedRequest }): Promise<void> {
    const id = this.#nextId++;
    if (connection) connection.entry.load = id;
    return new Promise<void>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.send({ type: 'mme-request', id, op, name, url, ...(connection?.after === undefined ? {} : { after: connection.after }) }, connection?.handle);
    }).finally(() => {
      // Answered here from now on: a load read after this one cannot be answered after it by the primary.
      if (connection) connection.entry.load = undefined;
    });
  }

  /**
   * Loads `name` on every worker. The request's connection goes to the primary with it: a model
   * whose load ends this process (inline: a full heap, process.exit) would leave the caller
   * without an answer, and every worker loads the model, so no other worker is sure to survive it.
   * A load pipelined behind others on its connection goes with it too when every request ahead is
   * such a load, so the primary can answer them all in order; behind anything else it cannot.
   */
  load(name: string, url: string, request?: IncomingMessage): Promise<void> {
    const entry = request && this.#queued.get(request);
    const queue = request && this.#queues.get(request.socket);
    const ahead = entry && queue ? queue.slice(0, queue.indexOf(entry)) : undefined;
    const handle = nativeHandleOf(request?.socket);
    if (!entry || !ahead || !handle || !ahead.every((e) => e.load !== undefined)) return this.#request('load', name, url);
    return this.#request('load', name, url, { handle, after: ahead.at(-1)?.load, entry });
  }

  unload(name: string): Promise<void> {
    return this.#request('unload', name);
  }

  list(): ModelEntry[] {
    return this.store.list();
  }

  get(name: string): ModelEntry | undefined {
    return this.store.get(name);
  }

  backend(name: string) {
    return this.store.backend(name);
  }
}

/** How a worker process ended: its `exit` event's code and signal, and its pid. */
export interface WorkerDeath {
  pid: number | undefined;
  code: number | null;
  signal: string | null;
  /**
   * The server was shutting down, and what stopped it (`SIGTERM`, `SIGINT, Ctrl-C`, a start-up
   * error): a worker exits 0 once drained, or is killed after the grace period.
   */
  stopping?: string;
}

/**
 * The failure of a load whose worker process died before it was done. Node ends a process whose
 * JavaScript heap is full with SIGABRT (V8's fatal "JavaScript heap out of memory"), which is what
 * a model loaded in the worker process itself (SMKIT_INFERENCE_MODE=inline) meets: that is the
 * contract's 507, on which SageMaker unloads unused models; any other end is the model failing to load.
 */
function diedLoading(name: string, { pid, code, signal, stopping }: WorkerDeath): ToolkitError {
  if (stopping && (code === 0 || signal === 'SIGKILL')) {
    // Its own shutdown (exit 0), or the primary's SIGKILL once the grace period was over: no crash.
    const how = code === 0 ? 'stopped' : 'was stopped by SIGKILL at the end of the grace period (SMKIT_SHUTDOWN_GRACE_SECONDS)';
    return new ToolkitError('ERR_SHUTTING_DOWN', `the server is shutting down (${stopping}): a worker process (pid ${pid ?? '?'}) ${how} while loading model "${name}"; the load is undone; load the model on another instance`);
  }
  const how = signal ? `was ended by ${signal}` : `exited with code ${code}`;
  const who = `a worker process (pid ${pid ?? '?'}) ${how} while loading model "${name}"; the load is undone`;
  if (signal === 'SIGABRT') {
    return new ToolkitError(
      'ERR_INSUFFICIENT_RESOURCES',
      `${who}. Node ends a process that runs out of JavaScript heap so (as does a native library that aborts), which a model loaded in the worker process (SMKIT_INFERENCE_MODE=inline) may do: unload a model, give the workers more heap (NODE_OPTIONS=--max-old-space-size=<MB>), or load models in an inference thread (SMKIT_INFERENCE_MODE=auto or thread), where running out of heap ends only the thread`,
    );
  }
  return new ToolkitError('ERR_MODEL_LOAD', `${who}; see the log above for why it ended (with SMKIT_INFERENCE_MODE=inline, handler code that calls process.exit or throws where nothing awaits ends the process)`, { status: 500 });
}

/** A model the primary has loaded on the workers, or is loading or unloading; `loaded` and `unloaded` settle with that operation. */
interface ModelRecord {
  url: string;
  state: 'loading' | 'loaded' | 'unloading';
  loaded?: Promise<void>;
  unloaded?: Promise<void>;
}

interface PendingApply {
  op: ModelOp;
  name: string;
  workers: Set<number>;
  errors: WireError[];
  done(errors: WireError[]): void;
}

/**
 * The primary side: the authoritative list of models, applied to every worker. A worker forked
 * later (after a crash) starts with {@link MmeCoordinator.loaded} so it holds the same models.
 */
export class MmeCoordinator {
  readonly #models = new Map<string, ModelRecord>();
  readonly #applies = new Map<number, PendingApply>();
  #nextApply = 1;
  /** Models unloaded from every worker: counted here, once each, not by each worker that applied it. */
  #unloads = 0;
  /** The connections of loads each worker sent, held until they are answered. */
  readonly #held = new Map<number, HeldConnections>();

  constructor(
    private readonly workers: () => Worker[],
    private readonly minFreeMb: number,
    private readonly log: Logger,
    /** How long a load or unload may take on the workers before it is reported as failed: SAGEMAKER_STARTUP_TIMEOUT's. */
    private readonly applyTimeoutMs = 600_000,
    /** Called once a model is unloaded from every worker (the metrics drop what exited workers counted for it). */
    private readonly onUnloaded: (name: string) => void = () => undefined,
  ) {}

  /**
   * Models a newly configured worker should load: loaded ones and those being loaded (a load in
   * flight was broadcast only to the workers configured before it; a failed one is unloaded from
   * every worker, this one included).
   */
  assigned(): [string, string][] {
    return [...this.#models.entries()].filter(([, m]) => m.state !== 'unloading').map(([name, m]) => [name, m.url]);
  }

  /** Whether model `name` is loaded, or being loaded or unloaded, on the workers. */
  holds(name: string): boolean {
    return this.#models.has(name);
  }

  /**
   * `smkit_model_unloads_total` in Prometheus's text format, for `GET /metrics`: the primary's own
   * count, which the workers' metrics it aggregates could only give once per worker.
   */
  metricsText(): string {
    return [
      '# HELP smkit_model_unloads_total Models unloaded from every worker (multi-model): by DELETE /models/{name}, or because a worker could no longer serve one (its inference thread ran out of memory, or a replacement worker could not load it again). A failed load, undone, is not counted.',
      '# TYPE smkit_model_unloads_total counter',
      `smkit_model_unloads_total ${this.#unloads}`,
      '',
    ].join('\n');
  }

  /**
   * A worker left: it no longer owes acknowledgements. One that died (`death`) while it still
   * loaded a model fails that load, which is then undone everywhere: counted as loaded, the model
   * would be handed to its replacement, which would load it again and die the same way, for good.
   */
  forget(workerId: number, death?: WorkerDeath): void {
    // Its loads still pending keep their own hold; none comes from it any more.
    this.#held.delete(workerId);
    for (const [id, apply] of this.#applies) {
      if (!apply.workers.delete(workerId)) continue;
      if (death && apply.op === 'load') {
        const failure = diedLoading(apply.name, death);
        // The worker asked to load may be the one that died: then this line is all that says why.
        if (failure.code === 'ERR_SHUTTING_DOWN') this.log.info({ model: apply.name, code: failure.code }, failure.message);
        else this.log.error({ model: apply.name, code: failure.code }, failure.message);
        apply.errors.push(toWireError(failure));
      }
      if (apply.workers.size === 0) {
        this.#applies.delete(id);
        apply.done(apply.errors);
      }
    }
  }

  /** A worker finished applying a broadcast load or unload. */
  onApplied(worker: Worker, m: MmeApplied): void {
    const apply = this.#applies.get(m.applyId);
    if (apply && apply.workers.delete(worker.id)) {
      if (m.error) apply.errors.push(m.error);
      if (apply.workers.size === 0) {
        this.#applies.delete(m.applyId);
        apply.done(apply.errors);
      }
    }
  }

  #heldConnections(workerId: number): HeldConnections {
    let held = this.#held.get(workerId);
    if (!held) this.#held.set(workerId, (held = new HeldConnections()));
    return held;
  }

  /**
   * A worker asks for a load or unload on every worker; it gets the outcome as `mme-response`. A
   * load comes with the request's connection (see {@link ClusterModelManager.load}): the primary
   * answers on it when the worker is gone by then, and otherwise lets its copy go.
   */
  onRequest(worker: Worker, m: MmeRequest, connection?: NativeHandle): void {
    const held = connection ? this.#heldConnections(worker.id).hold(m.id, connection, m.after) : undefined;
    const answer = (response: MmeResponse, status: number, body: unknown) => {
      // send() is false for a message only queued too (behind a connection handed to the worker, or
      // a backlog): the worker answers unless it is gone, and two answers would corrupt the connection.
      const sent = sendToWorker(worker, response) || (worker.isConnected() && !worker.isDead());
      if (sent) held?.answeredByWorker(status, body);
      else held?.answer(status, body);
    };
    this.#handle(m).then(
      () => answer({ type: 'mme-response', id: m.id }, 200, { status: `Model "${m.name}" registered` }),
      (err: unknown) => {
        const wire = toWireError(err);
        answer({ type: 'mme-response', id: m.id, error: wire }, wire.status, fromWireError(wire).toJSON());
      },
    );
  }

  #applyEverywhere(op: ModelOp, name: string, url?: string): Promise<WireError[]> {
    const workers = this.workers();
    if (workers.length === 0) return Promise.resolve([]);
    const applyId = this.#nextApply++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const apply = this.#applies.get(applyId);
        if (!apply) return;
        this.#applies.delete(applyId);
        const seconds = this.applyTimeoutMs / 1000;
        if (op === 'load') {
          // A load hook whose promise never settles (or a runtime that never returns) holds a load for good.
          const message = `model "${name}" did not finish loading within ${seconds} s (SAGEMAKER_STARTUP_TIMEOUT) on ${apply.workers.size} worker process(es): a load hook (modelFn, preModelFn, modelWarmupFn) or the runtime never settled; the load is undone. Make the load finish (look for a promise that is never resolved or an await on something that never comes), or raise SAGEMAKER_STARTUP_TIMEOUT for a model that takes this long`;
          resolve([...apply.errors, { code: 'ERR_MODEL_LOAD', status: 500, message }]);
        } else {
          const message = `${op} of model "${name}" got no answer from worker(s) ${[...apply.workers].join(', ')} within ${seconds} s`;
          resolve([...apply.errors, { code: 'ERR_INTERNAL', status: 500, message }]);
        }
      }, this.applyTimeoutMs);
      const done = (errors: WireError[]) => {
        clearTimeout(timer);
        resolve(errors);
      };
      this.#applies.set(applyId, { op, name, workers: new Set(workers.map((w) => w.id)), errors: [], done });
      for (const w of workers) sendToWorker(w, { type: 'mme-apply', applyId, op, name, url });
    });
  }

  /** Loads `name` on every worker, or on none: a model only some workers hold would answer 404 at random. */
  async #load(name: string, url: string, entry: ModelRecord): Promise<void> {
    const errors = await this.#applyEverywhere('load', name, url);
    if (errors.length > 0) {
      this.#models.delete(name);
      await this.#applyEverywhere('unload', name);
      throw fromWireError(errors[0]!);
    }
    entry.state = 'loaded';
    this.log.info({ model: name, url }, 'model loaded on every worker');
  }

  async #handle(m: MmeRequest): Promise<void> {
    let current = this.#models.get(m.name);
    if (m.op === 'load') {
      // A model being unloaded is not loaded: the load waits for the unload, then loads it (MMS
      // drops a model from its registry as the unregister starts, so a register right after
      // succeeds). A 409 would tell SageMaker it is loaded while it goes away.
      // A model being loaded is not loaded yet either: the load waits for that one and gets its
      // outcome, a 409 once every worker holds the model. A 409 at once would tell SageMaker it is
      // loaded while a worker may not have it yet (404) or the load may still fail.
      while (current?.state === 'unloading' || current?.state === 'loading') {
        await (current.state === 'loading' ? current.loaded : current.unloaded);
        current = this.#models.get(m.name);
      }
      if (current) throw new ToolkitError('ERR_MODEL_ALREADY_LOADED', `model "${m.name}" is already loaded`);
      checkFreeMemory(this.minFreeMb);
      const entry: ModelRecord = { url: m.url!, state: 'loading' };
      this.#models.set(m.name, entry);
      entry.loaded = this.#load(m.name, m.url!, entry);
      return entry.loaded;
    }
    // A model being loaded is unloaded once its load has settled: a 404 at once would leave it
    // loaded when the load ends (a replacement worker that could not load it asks this too).
    while (current?.state === 'loading') {
      await current.loaded?.catch(() => undefined);
      current = this.#models.get(m.name);
    }
    if (!current || current.state !== 'loaded') throw new ToolkitError('ERR_MODEL_NOT_LOADED', `model "${m.name}" is not loaded`);
    current.state = 'unloading';
    current.unloaded = this.#applyEverywhere('unload', m.name).then(() => {
      this.#models.delete(m.name);
      this.#unloads++;
      this.onUnloaded(m.name);
      this.log.info({ model: m.name }, 'model unloaded');
    });
    await current.unloaded;
  }
}
