import { createHash, randomBytes } from 'node:crypto';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { existsSync, renameSync, type Stats } from 'node:fs';
import path from 'node:path';
import { copyModelDirectory, extractModelArchive } from '../../archive/model-archive.js';
import { ToolkitError } from '../../errors/catalogue.js';
import { answerReadFailure, ContainerFailure, ModelFetchUnavailableError, unreachableFailure, type ChainContainer, type FetchedModel, type MultiModelHost } from './container.js';
import { MAX_ERROR_ANSWER_BYTES, readAtMost } from './read-answer.js';
import { secondsText } from '../../core/seconds-text.js';

/**
 * The caller's `TargetModel` is missing, names nothing or an archive that cannot be extracted, or is
 * sent to an endpoint that is not multi-model: the service answers 400 `ValidationError`.
 */
export class TargetModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetModelError';
  }
}

/**
 * A multi-model endpoint was invoked without `TargetModel`: the service's `ValidationError` says the
 * request "is missing a target model header" (https://github.com/aws/sagemaker-tensorflow-serving-container/issues/166).
 */
export class MissingTargetModelError extends TargetModelError {
  constructor(message: string) {
    super(message);
    this.name = 'MissingTargetModelError';
  }
}

/**
 * The target model is still being fetched or loaded after the invocation's time: the service
 * answers 429 `ModelNotReadyException`, and the load goes on for the next invocation to find.
 */
export class ModelNotReadyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelNotReadyError';
  }
}

/**
 * How long a model may take to download and load: the service keeps loading for up to 360 s
 * while invocations that wait longer than their 60 s get `ModelNotReadyException`
 * (https://docs.aws.amazon.com/sagemaker/latest/dg/invoke-multi-model-endpoint.html).
 */
export const MODEL_LOAD_TIMEOUT_MS = 360_000;

/** A model loaded in the container for one invocation; `release` once its answer is read. */
export interface ModelLease {
  /** The container's name for the model (`/models/<name>/invoke`). */
  name: string;
  /**
   * The container answered the invocation 404, which is also how a container says the model is not
   * loaded (it restarted, or its own memory management dropped the model): loads it again
   * (`POST /models`), waiting `timeoutMs` at most, as the service loads a model that is not loaded.
   * Resolves true when the model was loaded anew (or another invocation's reload has loaded it),
   * so the invocation is worth sending once more; false when the container says it is loaded
   * already (409), so the 404 was the model's own answer. Rejects as a load does.
   */
  reload(timeoutMs: number): Promise<boolean>;
  /**
   * The container answered the invocation 507 (not enough memory, a GPU's, for it), which on the
   * service "causes unused models to be unloaded": unloads the least recently invoked model that no
   * invocation is using (`DELETE /models/<name>`, its copy kept on disk) and resolves with its
   * `TargetModel`, or with undefined when there is none. Rejects as an unload does.
   */
  makeRoom(): Promise<string | undefined>;
  release(): void;
}

/**
 * How many models one load may unload while the container answers 507 (not enough memory or
 * other resources) before the invocation fails with that 507.
 */
export const MAX_UNLOADS_PER_LOAD = 16;

/**
 * What SageMaker does on an invocation of a model on a multi-model endpoint
 * (https://docs.aws.amazon.com/sagemaker/latest/dg/mms-container-apis.html): on first use, fetch `<prefix>/<TargetModel>`, extract it under
 * `/opt/ml/models/<name>/model`, and `POST /models` to the container, once; later invocations
 * reuse it. `<name>` is opaque (a hash of `TargetModel`), as on the real service. An invocation
 * waits `timeoutMs` for the load at most, then fails with {@link ModelNotReadyError}; the load
 * itself has {@link MODEL_LOAD_TIMEOUT_MS}. The model is not unloaded until the lease is released;
 * with model caching disabled, the last release unloads it and deletes its copy.
 */
export async function acquireModel(container: ChainContainer, host: MultiModelHost, targetModel: string | undefined, index: number, timeoutMs: number): Promise<ModelLease> {
  if (targetModel === undefined || targetModel === '') {
    throw new MissingTargetModelError('This is a multi-model endpoint: send TargetModel (the X-Amzn-SageMaker-Target-Model header of InvokeEndpoint; InvokeEndpointWithResponseStream has none) naming the model archive, for example model-a.tar.gz.');
  }
  // Held from before the load, so a 507 met by another model's load never unloads this one meanwhile.
  host.inUse.set(targetModel, (host.inUse.get(targetModel) ?? 0) + 1);
  let name: string;
  let load = host.loads.get(targetModel);
  try {
    load ??= startLoad(container, host, targetModel, index).name;
    name = await untilLoaded(load, targetModel, timeoutMs);
  } catch (err) {
    // Not invoked: a load that goes on after a ModelNotReadyException stays for the retry to find.
    letGo(container, host, targetModel, index, false);
    throw err;
  }
  host.recent.delete(targetModel);
  host.recent.add(targetModel);
  let released = false;
  const loadedAs = load;
  return {
    name,
    reload: async (reloadTimeoutMs) => {
      const current = host.loads.get(targetModel);
      // Another invocation met the 404 first and is loading it again: wait for that load.
      if (current !== undefined && current !== loadedAs) {
        await untilLoaded(current, targetModel, reloadTimeoutMs);
        return true;
      }
      return (await untilLoaded(startLoad(container, host, targetModel, index).loaded, targetModel, reloadTimeoutMs)).fresh;
    },
    makeRoom: async () => {
      const idle = leastRecentlyUsedIdle(host, targetModel);
      if (idle !== undefined) await unloadModel(container, host, idle, index, false);
      return idle;
    },
    release: () => {
      if (released) return;
      released = true;
      letGo(container, host, targetModel, index, true);
    },
  };
}

/** The least recently invoked loaded `TargetModel` other than `except` that no invocation is using. */
function leastRecentlyUsedIdle(host: MultiModelHost, except: string): string | undefined {
  return [...host.recent].find((t) => t !== except && !host.inUse.has(t));
}

/** One invocation is done with `targetModel`; without caching, the last one unloads it (in the background, as the service does). */
function letGo(container: ChainContainer, host: MultiModelHost, targetModel: string, index: number, invoked: boolean): void {
  const left = (host.inUse.get(targetModel) ?? 1) - 1;
  if (left > 0) {
    host.inUse.set(targetModel, left);
    return;
  }
  host.inUse.delete(targetModel);
  // A failed unload leaves the model loaded in the container; the next load of it gets 409 and reuses it.
  if (invoked && !host.cacheModels && host.loads.has(targetModel)) unloadModel(container, host, targetModel, index, true).catch(() => {});
}

/**
 * Unloads `targetModel` (`DELETE /models/<name>`) once its load has settled; with `deleteCopy`,
 * deletes its extracted copy too (caching disabled), else keeps it for the next load, as the
 * service keeps models it unloads for memory on disk.
 */
function unloadModel(container: ChainContainer, host: MultiModelHost, targetModel: string, index: number, deleteCopy: boolean): Promise<void> {
  const load = host.loads.get(targetModel);
  host.loads.delete(targetModel);
  host.recent.delete(targetModel);
  const unload = (async () => {
    const name = await load?.catch(() => undefined);
    if (name === undefined) return;
    const timeout = AbortSignal.timeout(MODEL_LOAD_TIMEOUT_MS);
    let res: Response;
    try {
      res = await fetch(`${container.url}/models/${name}`, { method: 'DELETE', redirect: 'manual', signal: timeout });
    } catch (err) {
      throw unreachableFailure(err, container, index, `unloading ${targetModel}: `);
    }
    const text = await answerText(res, container, index, timeout, MODEL_LOAD_TIMEOUT_MS, `unloading ${targetModel}: `);
    // 404: not loaded (any more), which is what the unload is for.
    if (res.status !== 200 && res.status !== 404) throw new ContainerFailure('status', container, index, res.status, `unloading ${targetModel}: ${text}`);
    if (deleteCopy) await rm(path.join(host.hostDir, name), { recursive: true, force: true });
  })();
  const tracked = unload.finally(() => {
    if (host.unloading.get(targetModel) === tracked) host.unloading.delete(targetModel);
  });
  host.unloading.set(targetModel, tracked);
  return tracked;
}

/** What one `POST /models` did: `fresh` when the container loaded the model (200), not when it had it already (409). */
interface Loaded {
  name: string;
  fresh: boolean;
}

/**
 * Starts loading `targetModel` and records it as its load in `host.loads` (`name`, the container's
 * name for it); `loaded` says whether the container had it already.
 */
function startLoad(container: ChainContainer, host: MultiModelHost, targetModel: string, index: number): { loaded: Promise<Loaded>; name: Promise<string> } {
  const loaded = loadOnce(container, host, targetModel, index, MODEL_LOAD_TIMEOUT_MS);
  const settled = loaded.catch(() => {});
  host.pending.add(settled);
  void settled.then(() => host.pending.delete(settled));
  const name = loaded.then((l) => l.name);
  host.loads.set(targetModel, name);
  name.then(
    // Loaded, so a 507 may unload it, even if the invocation that asked stopped waiting (429).
    () => {
      if (host.loads.get(targetModel) === name) host.recent.add(targetModel);
    },
    // A failed load is retried by the next invocation, as the service does.
    () => {
      if (host.loads.get(targetModel) === name) host.loads.delete(targetModel);
    },
  );
  return { loaded, name };
}

/** The load's outcome, or {@link ModelNotReadyError} once `timeoutMs` has passed first. */
function untilLoaded<T>(load: Promise<T>, targetModel: string, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new ModelNotReadyError(`Model ${targetModel} is still being downloaded and loaded after ${secondsText(timeoutMs)} s; loading goes on (up to ${MODEL_LOAD_TIMEOUT_MS / 1000} s): retry the request.`)),
      timeoutMs,
    );
  });
  return Promise.race([load, late]).finally(() => clearTimeout(timer));
}

/**
 * Cuts short every load of `host` (its instance is stopping: the endpoint is deleted or updated, the
 * local SageMaker stops, the instance is replaced or retired): the S3 download closes, the
 * extraction stops, and each removes what it wrote; resolves once they have all settled, so nothing
 * is written after. Invocations still waiting for one get 503 `ServiceUnavailable`.
 */
export async function stopModelLoads(host: MultiModelHost): Promise<void> {
  host.stopping.abort(new Error('the instance is stopping'));
  while (host.pending.size > 0) await Promise.all([...host.pending]);
}

/** The failure of a load that its instance's stop cut short: the container is going away. */
function stoppedLoad(container: ChainContainer, index: number, targetModel: string): ContainerFailure {
  return new ContainerFailure('unreachable', container, index, undefined, `loading ${targetModel}: the instance stopped (its endpoint was deleted or updated, it was replaced, or smkit local stopped) before the model was loaded; try your call again`);
}

async function loadOnce(container: ChainContainer, host: MultiModelHost, targetModel: string, index: number, timeoutMs: number): Promise<Loaded> {
  const signal = host.stopping.signal;
  try {
    return await loadUnlessStopped(container, host, targetModel, index, timeoutMs, signal);
  } catch (err) {
    if (signal.aborted) throw stoppedLoad(container, index, targetModel);
    throw err;
  }
}

async function loadUnlessStopped(container: ChainContainer, host: MultiModelHost, targetModel: string, index: number, timeoutMs: number, signal: AbortSignal): Promise<Loaded> {
  signal.throwIfAborted();
  // An S3 key, not a path: the service appends it to the prefix as it is, so `./a.tar.gz`,
  // `v2/../a.tar.gz` or `v2//a.tar.gz` name no object there. Read as paths they would all find
  // `a.tar.gz`, each spelling loaded again under a name of its own.
  if (targetModel.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw new TargetModelError(`Failed to download model data for TargetModel ${targetModel}: it is an S3 key relative to the model's prefix, and no key has empty, "." or ".." segments.`);
  }
  const source = path.resolve(host.source, targetModel);
  if (!source.startsWith(path.resolve(host.source) + path.sep)) throw new TargetModelError(`TargetModel ${targetModel} must name a model inside the endpoint's model folder`);
  let info = await stat(source).catch(() => undefined);
  // The last load of it failed on what was fetched (see below): the object may have been fixed since.
  const again = host.failed.has(targetModel);
  // From S3 a TargetModel is an object's key: a folder at its place was made for keys under it
  // (v2/x.tar.gz), and is not this model.
  if (host.fetch && (info?.isDirectory() || again)) info = undefined;
  let where = source;
  // The copies of unused models deleted to make room on the disk for this one (see deleteUnusedCopy).
  const deleted: string[] = [];
  /** Fetches the object into `source`, making room on the disk if need be: its `stat`, or undefined when S3 has none. */
  const download = async (fetchModel: NonNullable<MultiModelHost['fetch']>): Promise<Stats | undefined> => {
    let gone = false;
    for (;;) {
      // Not there when the endpoint started: fetched now, as the service fetches each model on first use.
      let fetched: FetchedModel;
      try {
        fetched = await fetchModel(targetModel, signal);
      } catch (err) {
        // S3 failing on its side is not the caller's TargetModel: a retry may load it.
        if (err instanceof ModelFetchUnavailableError) throw new ModelFetchUnavailableError(`Failed to download model data for TargetModel ${targetModel}: S3 failed on its side (${err.message}); try your call again.`, { cause: err });
        // The disk is full: the copy of an unused model goes, and the object is fetched again.
        if (diskFull(err) && !signal.aborted) {
          const freed = deleted.length < MAX_UNLOADS_PER_LOAD ? await deleteUnusedCopy(container, host, targetModel, index) : undefined;
          if (freed !== undefined) {
            deleted.push(freed);
            continue;
          }
          throw new TargetModelError(`Failed to download model data for TargetModel ${targetModel}: ${(err as Error).message} (${noRoomLeft(deleted)})`);
        }
        throw new TargetModelError(`Failed to download model data for TargetModel ${targetModel}: ${(err as Error).message}`);
      }
      where = fetched.at;
      if (!fetched.found) return undefined;
      const info = await stat(source).catch(() => undefined);
      // Stored, then deleted before it was found here (another instance's load made room on the
      // disk, or failed on what it fetched: deleteDownload, forgetFetched): fetched again, once.
      if (info) return info;
      if (gone) throw deletedTwice(targetModel, fetched.at);
      gone = true;
    }
  };
  if (!info && host.fetch) info = await download(host.fetch);
  if (!info) throw new TargetModelError(`Failed to download model data for TargetModel ${targetModel}: there is no ${where}.`);
  await host.unloading.get(targetModel)?.catch(() => {});
  const name = modelName(targetModel);
  const hostModel = path.join(host.hostDir, name, 'model');
  signal.throwIfAborted();
  if (again) await rm(path.dirname(hostModel), { recursive: true, force: true });
  let refetched = false;
  while (!existsSync(hostModel)) {
    try {
      // An object fetched from S3 is named by its URL, as the service names it, not by its download.
      await placeModel(source, info.isDirectory(), hostModel, targetModel, signal, where);
    } catch (err) {
      // Not enough disk space for its files: as the service "deletes any unused models from the
      // storage volume" when it reaches capacity (how-multi-mode-endpoints-work.html), deletes the
      // copy of one unused model and extracts again.
      if (err instanceof NoRoomError) {
        // Deleting every copy there is, and every other download, would not make room (a model
        // larger than the disk, a gzip bomb's header): none is deleted for it.
        const downloads = host.fetch ? (await bytesUnder(host.source)) - ((await stat(source).catch(() => undefined))?.size ?? 0) : 0;
        const hopeless = !(err.atLeastBytes <= err.freeBytes + (await bytesUnder(host.hostDir)) + downloads);
        const freed = !hopeless && deleted.length < MAX_UNLOADS_PER_LOAD ? await deleteUnusedCopy(container, host, targetModel, index) : undefined;
        if (freed !== undefined) {
          deleted.push(freed);
          continue;
        }
        // The object may be made smaller and uploaded again (as the message says): the next
        // invocation fetches it anew rather than extracting this download again (which goes, giving
        // its room back).
        await forgetFetched(host, targetModel, source);
        throw new TargetModelError(`${err.message} (${hopeless ? "deleting the other models' copies would not make room" : noRoomLeft(deleted)})`);
      }
      // The download is gone since it was found: another instance, or endpoint, sharing the
      // downloads of this ModelDataUrl deleted it, having failed on the object it held
      // (forgetFetched) or to make room on the disk (deleteDownload). Not this object's fault:
      // fetched again, once.
      if (host.fetch && err instanceof TargetModelError && !existsSync(source)) {
        // Deleted again after it was fetched again: the disk is contended, not the object wrong.
        if (refetched) throw deletedTwice(targetModel, where);
        refetched = true;
        info = await download(host.fetch);
        if (!info) throw new TargetModelError(`Failed to download model data for TargetModel ${targetModel}: there is no ${where}.`);
        continue;
      }
      // An archive that cannot be used is fetched again by the next invocation, which finds the
      // object as it is then: the download kept here is not what a fixed object holds.
      if (err instanceof TargetModelError) await forgetFetched(host, targetModel, source);
      throw err;
    }
  }
  const unloaded: string[] = [];
  for (;;) {
    const timeout = AbortSignal.timeout(timeoutMs);
    let res: Response;
    try {
      res = await fetch(`${container.url}/models`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model_name: name, url: `${host.containerDir}/${name}/model` }),
        // A redirect is not followed: the load goes to the container and nowhere else, and a 3xx is no load.
        redirect: 'manual',
        signal: AbortSignal.any([timeout, signal]),
      });
    } catch (err) {
      throw unreachableFailure(err, container, index, `loading ${targetModel}: `);
    }
    const text = await answerText(res, container, index, timeout, timeoutMs, `loading ${targetModel}: `);
    // 409: already loaded (for example by an earlier front door run against the same container).
    if (res.status === 200 || res.status === 409) {
      host.failed.delete(targetModel);
      return { name, fresh: res.status === 200 };
    }
    if (res.status !== 507) {
      // The container would not load it (no model found: an archive packed with its folder, a
      // corrupt model file): the user fixes the object, and the next invocation must load that, not
      // this copy kept on disk.
      await forgetFetched(host, targetModel, source);
      throw new ContainerFailure('status', container, index, res.status, text);
    }
    // 507: not enough memory or other resources; the service unloads models nobody is using, least
    // recently used first, and loads again.
    const idle = leastRecentlyUsedIdle(host, targetModel);
    if (idle === undefined || unloaded.length >= MAX_UNLOADS_PER_LOAD) {
      const tried = unloaded.length === 0 ? 'no other model was loaded and idle to unload' : `still 507 after unloading the ${unloaded.length} least recently used idle model(s) ${unloaded.join(', ')}`;
      throw new ContainerFailure('status', container, index, 507, `${text} (loading ${targetModel}: ${tried}; give the container more memory or invoke fewer models at a time)`);
    }
    unloaded.push(idle);
    await unloadModel(container, host, idle, index, false);
  }
}

/**
 * The text of the container's answer to a load or an unload (its first {@link MAX_ERROR_ANSWER_BYTES});
 * one that does not finish in time, breaks off or is not HTTP/1.1 fails as an invocation's answer
 * does ({@link answerReadFailure}), `doing` saying what it answered.
 */
async function answerText(res: Response, container: ChainContainer, index: number, timeout: AbortSignal, timeoutMs: number, doing: string): Promise<string> {
  try {
    return (await readAtMost(res, MAX_ERROR_ANSWER_BYTES)).body.toString('utf8');
  } catch (err) {
    throw answerReadFailure(err, container, index, timeout.aborted, timeoutMs, doing);
  }
}

/**
 * A load of `targetModel` failed on what was fetched: its next load on this instance extracts it
 * anew, and its download from S3 (`source`, shared by the instances and endpoints of one
 * `ModelDataUrl`) is deleted, so that any of them fetches the object as it is then. A model folder
 * of a local endpoint (no fetch) is the user's and stays.
 */
async function forgetFetched(host: MultiModelHost, targetModel: string, source: string): Promise<void> {
  host.failed.add(targetModel);
  if (host.fetch) await rm(source, { force: true }).catch(() => {});
}

/** The files of a `TargetModel`'s archive would take more than the disk space free where it is extracted. */
class NoRoomError extends TargetModelError {
  /** `atLeastBytes`: what its files take, counted up to the entry past the space free (`freeBytes`). */
  constructor(
    message: string,
    readonly atLeastBytes: number,
    readonly freeBytes: number,
  ) {
    super(message);
    this.name = 'NoRoomError';
  }
}

/** Whether `err`, or an error it was caused by, is the file system's for a full disk (or quota). */
function diskFull(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return true;
  }
  return false;
}

/**
 * A download of `at` deleted from the disk (by other loads sharing the downloads of its ModelDataUrl:
 * making room, or failing on the object they held) after it was fetched and again after it was
 * fetched anew. Nothing is wrong with the caller's TargetModel, which exists: not a 400 saying there
 * is no such object or that it cannot be read, but a 503 that the SDKs retry.
 */
function deletedTwice(targetModel: string, at: string): ModelFetchUnavailableError {
  return new ModelFetchUnavailableError(
    `Failed to download model data for TargetModel ${targetModel}: ${at} was deleted from the disk after each of 2 downloads, before it could be extracted (other loads sharing the downloads of its ModelDataUrl made room on the disk or failed on the object); try your call again.`,
  );
}

/** Why a model that does not fit on the disk still does not, once `deleted` (copies of unused models, downloads) are. */
function noRoomLeft(deleted: readonly string[]): string {
  return deleted.length === 0 ? 'no other model is unused to delete its copy' : `still too large after deleting ${deleted.join(', ')}, which no invocation was using`;
}

/** The bytes of the files under `dir` (0 when it cannot be read). */
async function bytesUnder(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  let bytes = 0;
  // Dirent.parentPath is Node 20.12's; before it, the same was `path`.
  for (const e of entries) if (e.isFile()) bytes += (await stat(path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).catch(() => undefined))?.size ?? 0;
  return bytes;
}

/** The container's name for `targetModel` (`/opt/ml/models/<name>`): opaque, as on the service. */
function modelName(targetModel: string): string {
  return `m-${createHash('sha256').update(targetModel).digest('hex').slice(0, 16)}`;
}

/**
 * Deletes the copy on disk of one model that no invocation uses, to make room for `except`'s: first
 * a copy of a model not loaded (unloaded for memory, its copy kept), else the least recently invoked
 * loaded model that no invocation is using, unloaded first (`DELETE /models/<name>`), else a download
 * ({@link deleteDownload}). Resolves with what it deleted (`the copy of <TargetModel>`, or of the
 * copy's folder name when no load names it; `the download of <key>`), or undefined when nothing.
 */
async function deleteUnusedCopy(container: ChainContainer, host: MultiModelHost, except: string, index: number): Promise<string | undefined> {
  const copies = await readdir(host.hostDir).catch(() => [] as string[]);
  // Read after the folder, with nothing awaited before the copy is taken out of reach: a load that
  // started meanwhile holds its model.
  const held = new Set([except, ...host.loads.keys(), ...host.inUse.keys(), ...host.unloading.keys()].map(modelName));
  const unloadedCopy = copies.find((name) => /^m-[0-9a-f]{16}$/.test(name) && !held.has(name));
  if (unloadedCopy !== undefined) {
    // Renamed away at once (no await between the check and the rename), so a load that starts
    // later finds no copy and extracts its own.
    const doomed = path.join(host.hostDir, `${unloadedCopy}.deleting-${randomBytes(4).toString('hex')}`);
    let moved = true;
    try {
      renameSync(path.join(host.hostDir, unloadedCopy), doomed);
    } catch {
      // Gone already (another load deleted it for room): an idle model's then.
      moved = false;
    }
    if (moved) {
      await rm(doomed, { recursive: true, force: true });
      return `the copy of ${unloadedCopy}`;
    }
  }
  const idle = leastRecentlyUsedIdle(host, except);
  if (idle === undefined) return deleteDownload(host, except);
  await unloadModel(container, host, idle, index, true);
  return `the copy of ${idle}`;
}

/**
 * With no copy of an unused model left to delete, deletes the least recently written download from
 * S3 (`host.source`) of a model that no load or invocation of this instance holds, so downloads alone
 * cannot fill the disk for good: a later load of it downloads it again (and a load elsewhere that was
 * about to extract it does so at once). Resolves with what it deleted, or undefined when nothing.
 */
async function deleteDownload(host: MultiModelHost, except: string): Promise<string | undefined> {
  if (!host.fetch) return undefined;
  const held = new Set([except, ...host.loads.keys(), ...host.inUse.keys()].map((t) => path.resolve(host.source, t)));
  const entries = await readdir(host.source, { recursive: true, withFileTypes: true }).catch(() => []);
  const files: { file: string; written: number }[] = [];
  for (const e of entries) {
    // Partial downloads (model-data.ts's save) are a fetch under way.
    if (!e.isFile() || /\.partial-[0-9]+-[0-9a-f]*$/.test(e.name)) continue;
    // Dirent.parentPath is Node 20.12's; before it, the same was `path`.
    const file = path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    if (held.has(file)) continue;
    const written = (await stat(file).catch(() => undefined))?.mtimeMs;
    if (written !== undefined) files.push({ file, written });
  }
  files.sort((a, b) => a.written - b.written);
  for (const { file } of files) {
    // Gone already (another load deleted it): the next one.
    if (await rm(file).then(() => true, () => false)) return `the download of ${path.relative(host.source, file).split(path.sep).join('/')}`;
  }
  return undefined;
}

/**
 * Extracts (or copies) `source` to `hostModel` through a folder beside it, renamed into place when
 * complete: a load that failed halfway (a full disk, a broken archive) or was stopped (`signal`)
 * leaves no partial copy that the next load would take for the model. Its errors name the model as
 * `from` (the S3 URL of an object fetched, not the path of its download).
 */
async function placeModel(source: string, isDirectory: boolean, hostModel: string, targetModel: string, signal: AbortSignal, from = source): Promise<void> {
  /** `message` with the download's path (when `from` is its S3 URL) as "the archive". */
  const named = (message: string) => (from === source ? message : message.split(source).join('the archive'));
  const partial = `${hostModel}.partial-${randomBytes(4).toString('hex')}`;
  try {
    if (isDirectory) {
      // Copied as `smkit package` would pack it (links followed inside it, .git left out, FIFOs and
      // links above it refused): a raw fs.cp stopped at a FIFO with a 500, and copied `up -> ..` ~40 levels deep.
      await copyModelDirectory(source, partial, signal).catch((err: unknown) => {
        if (diskFull(err)) throw new NoRoomError(`Failed to copy the model folder for TargetModel ${targetModel} from ${source}: the disk is full: ${(err as Error).message}`, 0, 0);
        if (!(err instanceof ToolkitError) || err.code !== 'ERR_PACKAGE_INVALID') throw err;
        throw new TargetModelError(`Failed to copy the model folder for TargetModel ${targetModel} from ${source}: ${err.message}`);
      });
    } else await extractModelArchive(source, partial, { signal }).catch((err: unknown) => {
      // The caller's TargetModel names an archive that cannot be used: a 400, as a model that
      // cannot be downloaded is, not a 500 that SDKs retry; in the words SageMaker uses for an
      // archive it cannot extract ("Failed to extract model data archive … valid tar.gz archive").
      if (!(err instanceof ToolkitError) || (err.code !== 'ERR_ARCHIVE_INVALID' && err.code !== 'ERR_ARCHIVE_UNSAFE' && err.code !== 'ERR_ARCHIVE_TOO_LARGE')) throw err;
      // The disk filled while the files were written (something else wrote meanwhile): a copy of an
      // unused model may make room, as for an archive larger than the space free.
      if (err.code === 'ERR_ARCHIVE_INVALID' && diskFull(err)) throw new NoRoomError(`Failed to extract model data archive for TargetModel ${targetModel} from ${from}: the disk is full: ${named(err.message)}`, 0, 0);
      // No maxBytes is given: too large is for the space free.
      if (err.code === 'ERR_ARCHIVE_TOO_LARGE') {
        throw new NoRoomError(`Failed to extract model data archive for TargetModel ${targetModel} from ${from}: there is not enough disk space for its files: ${named(err.message)}`, Number(err.details?.['atLeastBytes']), Number(err.details?.['maxBytes']));
      }
      throw new TargetModelError(`Failed to extract model data archive for TargetModel ${targetModel} from ${from}. Please ensure that the object located at the URL is a valid tar.gz archive: ${named(err.message)}`);
    });
    signal.throwIfAborted();
    await rename(partial, hostModel);
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
}
