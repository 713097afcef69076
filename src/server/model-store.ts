import os from 'node:os';
import type { IncomingMessage } from 'node:http';
import { existsSync, statSync } from 'node:fs';
import { ToolkitError } from '../errors/catalogue.js';
import { loadFailureReason } from './load-failure.js';
import { isMemoryFailure } from './memory-failure.js';
import { excerpt } from '../errors/excerpt.js';
import { hasFreeDescriptors } from '../core/free-descriptors.js';
import { descriptorsBusy } from '../core/retrying-load.js';
import type { InferenceBackend } from './inference-backend.js';

/** A loaded model as the multi-model API lists it. */
export interface ModelEntry {
  modelName: string;
  modelUrl: string;
}

/**
 * The multi-model endpoint operations the HTTP front needs (https://docs.aws.amazon.com/sagemaker/latest/dg/mms-container-apis.html). In `smkit serve` loads
 * and unloads are coordinated by the primary so every worker process holds the same models.
 */
export interface ModelManager {
  /**
   * Loads `name` from the directory `url`; 409 if loaded, 507 when memory is short. `request` is
   * the `POST /models` request: in `smkit serve` the primary answers on its connection if the
   * worker process dies during the load.
   */
  load(name: string, url: string, request?: IncomingMessage): Promise<void>;
  /** Unloads `name`; 404 if not loaded. */
  unload(name: string): Promise<void>;
  list(): ModelEntry[];
  get(name: string): ModelEntry | undefined;
  /** The backend serving `name`, when it is loaded here. */
  backend(name: string): InferenceBackend | undefined;
}

/**
 * Creates the backend (inline or thread) for one model directory. The backend calls `lost` when it
 * can no longer serve the model (its thread ran out of memory): the store then drops the model.
 */
export type BackendFactory = (name: string, url: string, lost: () => void) => InferenceBackend;

/** Checks a load request's name and url before anything is started. */
export function validateLoadRequest(name: unknown, url: unknown): { name: string; url: string } {
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(name)) {
    throw new ToolkitError('ERR_BAD_REQUEST', 'model_name must be 1-255 characters: letters, digits, ".", "_" or "-", starting with a letter or digit');
  }
  if (typeof url !== 'string' || url === '' || !url.startsWith('/')) {
    throw new ToolkitError('ERR_BAD_REQUEST', 'url must be the absolute path of the model directory (SageMaker sends /opt/ml/models/<name>/model)');
  }
  // Any absolute directory, as MMS with SageMaker's model_store=/ takes; so is MMS's refusal of
  // "..", by which the url would name another directory than the one it lists as modelUrl.
  if (url.split('/').includes('..')) throw new ToolkitError('ERR_BAD_REQUEST', `url ${excerpt(url, 200)} has a ".." segment: send the model directory's own path (SageMaker sends /opt/ml/models/<name>/model)`);
  if (!existsSync(url) || !statSync(url).isDirectory()) throw new ToolkitError('ERR_BAD_REQUEST', `url ${excerpt(url, 200)} is not a directory`);
  return { name, url };
}

/**
 * The memory still free for this process: what its cgroup's limit leaves in a container that has
 * one (`process.availableMemory`, Node 20.13 and later), else the machine's free memory.
 */
export function freeMemoryBytes(): number {
  return typeof process.availableMemory === 'function' ? process.availableMemory() : os.freemem();
}

/** The 507 of a model load that met a file descriptor shortage (SageMaker's "other resources"). */
function shortOfDescriptors(message: string, cause?: unknown): ToolkitError {
  return new ToolkitError('ERR_INSUFFICIENT_RESOURCES', message, { cause });
}

/** Throws 507 when less than `minFreeMb` of memory is free (SageMaker then unloads unused models). */
export function checkFreeMemory(minFreeMb: number, freeBytes = freeMemoryBytes()): void {
  if (freeBytes < minFreeMb * 1024 * 1024) {
    throw new ToolkitError(
      'ERR_INSUFFICIENT_RESOURCES',
      `only ${Math.round(freeBytes / 1024 / 1024)} MB of memory is free (SMKIT_MME_MIN_FREE_MB=${minFreeMb}); unload a model first`,
    );
  }
}

/** The models one worker process holds, each with its own backend. */
export class ModelStore implements ModelManager {
  readonly #models = new Map<string, { url: string; backend: InferenceBackend }>();

  /**
   * @param onLost told the name of a model the store dropped because its backend could no longer
   *   serve it, so that every worker process unloads it too.
   * @param canLoad whether the process has the file descriptors a load needs (tests pass their own).
   */
  constructor(
    private readonly create: BackendFactory,
    private readonly unloadGraceMs = 5000,
    private readonly onLost: (name: string) => void = () => undefined,
    private readonly canLoad: () => boolean = hasFreeDescriptors,
  ) {}

  /**
   * Loads `name`. Without file descriptors to spare the load is not started: 507
   * `ERR_INSUFFICIENT_RESOURCES` (a load opens the model's files, a thread's code, maybe a
   * runtime's), and the model is left unloaded for a later `POST /models`; so is one whose load met
   * the shortage on the way. 507 is SageMaker's answer for a load short of memory "or other
   * resources": it unloads unused models (closing their threads and files) and retries.
   */
  async load(name: string, url: string): Promise<void> {
    if (this.#models.has(name)) throw new ToolkitError('ERR_MODEL_ALREADY_LOADED', `model "${name}" is already loaded; DELETE /models/${name} first to replace it`);
    if (!this.canLoad()) throw shortOfDescriptors(descriptorsBusy(`model "${name}"`).message);
    const backend = this.create(name, url, () => {
      // Only this load's entry: the name may have been unloaded and loaded anew meanwhile.
      if (this.#models.get(name)?.backend !== backend) return;
      this.#models.delete(name);
      void backend.close(0);
      this.onLost(name);
    });
    // Registered before it settles, so a concurrent load of the same name gets 409.
    this.#models.set(name, { url, backend });
    // A backend whose start failed (its thread's code could not be loaded) rejects: that load failed too.
    const startFailure = await backend.whenSettled().then(
      () => undefined,
      (err: unknown) => (err instanceof ToolkitError ? err : new ToolkitError('ERR_MODEL_LOAD', err instanceof Error ? err.message : String(err), { cause: err })),
    );
    if (startFailure || backend.state() !== 'ready') {
      // Only this load's entry: an unload may have removed it meanwhile, and a new load taken the name.
      if (this.#models.get(name)?.backend === backend) this.#models.delete(name);
      await backend.close(0);
      const failure = startFailure ?? backend.failure();
      const message = `model "${name}" failed to load from ${url}: ${loadFailureReason(failure)}`;
      if (failure && isMemoryFailure(failure.message)) throw new ToolkitError('ERR_INSUFFICIENT_RESOURCES', message, { cause: failure });
      // Code the load needed could not be loaded for want of file descriptors: retry later (the model is not loaded).
      if (failure?.code === 'ERR_SERVER_BUSY') throw shortOfDescriptors(message, failure);
      throw new ToolkitError('ERR_MODEL_LOAD', message, { status: 500, cause: failure });
    }
  }

  async unload(name: string): Promise<void> {
    const entry = this.#models.get(name);
    if (!entry) throw new ToolkitError('ERR_MODEL_NOT_LOADED', `model "${name}" is not loaded`);
    this.#models.delete(name);
    // In-flight requests get the grace period to finish, then fail at once (never wait for their timeout).
    await entry.backend.close(this.unloadGraceMs, new ToolkitError('ERR_MODEL_NOT_LOADED', `model "${name}" was unloaded before this request finished`));
  }

  list(): ModelEntry[] {
    return [...this.#models.entries()].filter(([, e]) => e.backend.state() === 'ready').map(([modelName, e]) => ({ modelName, modelUrl: e.url }));
  }

  get(name: string): ModelEntry | undefined {
    const e = this.#models.get(name);
    return e && e.backend.state() === 'ready' ? { modelName: name, modelUrl: e.url } : undefined;
  }

  backend(name: string): InferenceBackend | undefined {
    return this.#models.get(name)?.backend;
  }

  /** Stops every model (shutdown). */
  async closeAll(graceMs: number): Promise<void> {
    await Promise.all([...this.#models.values()].map((e) => e.backend.close(graceMs)));
    this.#models.clear();
  }
}
