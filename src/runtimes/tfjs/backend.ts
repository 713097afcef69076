import { createRequire } from 'node:module';
import path from 'node:path';
import type { Logger } from '../../core/context.js';
import { ToolkitError } from '../../errors/catalogue.js';
import { hasFreeDescriptors } from '../../core/free-descriptors.js';
import { descriptorsBusy, isOutOfDescriptors, keptFailed } from '../../core/retrying-load.js';
import { defaultTensorFlowGpuMemoryGrowth } from '../../config/tensorflow-gpu-memory.js';

/** The TensorFlow.js module (`@tensorflow/tfjs`, or `@tensorflow/tfjs-node[-gpu]`, which re-exports it). */
export type Tf = typeof import('@tensorflow/tfjs');

/** What `SMKIT_TFJS_BACKEND` (or a predict step's `backend` option) may ask for. */
export type TfjsBackendRequest = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

/** Backends smkit can end up on, best first. */
export type TfjsBackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

/** The loaded TF.js module and the backend it runs on. */
export interface LoadedTfjs {
  readonly tf: Tf;
  readonly backend: TfjsBackendName;
  /**
   * Why TF.js is not on `tfjs-node-gpu`, when it is not: `failed` when the GPU build was installed
   * and a GPU visible but it did not load (a GPU to CPU fall back), else the reason it was passed
   * over (not installed, no GPU visible, a backend request that leaves it out).
   */
  readonly notOnGpu?: { readonly reason: string; readonly failed: boolean };
}

/** The GPU build passed over without trying it (not installed, no GPU): no fall back to warn of on its own. */
class PassedOver extends Error {}

/** What backend selection needs from the outside world; replaced in tests. */
export interface TfjsBackendDeps {
  /** Imports a package by name (rejects when it is not installed or fails to load). */
  importModule(name: string): Promise<unknown>;
  /** True when a package can be resolved (checked before probing GPUs for tfjs-node-gpu). */
  isInstalled(name: string): boolean;
  /** Number of GPUs this process may use. */
  gpuCount(): Promise<number>;
  /** Directory holding the `.wasm` binaries of `@tensorflow/tfjs-backend-wasm`, ending in `/`. */
  wasmDir(): string;
}

const requireHere = createRequire(import.meta.url);

/** Dependencies that look at the real machine and `node_modules`. */
export const systemBackendDeps: TfjsBackendDeps = {
  importModule: (name) => import(name),
  isInstalled(name) {
    try {
      requireHere.resolve(name);
      return true;
    } catch {
      return false;
    }
  },
  async gpuCount() {
    try {
      const gpus = (await import('../../devices/gpus.js')) as { detectGpus?: () => number[] };
      return gpus.detectGpus ? gpus.detectGpus().length : 0;
    } catch (err) {
      // Not "no GPU" (TF.js would settle on the CPU build for the process): the load fails as busy.
      if (isOutOfDescriptors(err)) throw err;
      return 0;
    }
  },
  wasmDir() {
    return path.join(path.dirname(requireHere.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
  },
};

/** Validates a backend request (from settings or a pipeline file). */
export function parseBackendRequest(raw: unknown): TfjsBackendRequest {
  if (raw === undefined || raw === null || raw === '') return 'auto';
  const v = String(raw).trim().toLowerCase();
  if (v === 'auto' || v === 'tensorflow' || v === 'wasm' || v === 'cpu') return v;
  if (v === 'tensorflow-gpu' || v === 'node' || v === 'tfjs-node') return 'tensorflow';
  throw new ToolkitError(
    'ERR_CONFIG_INVALID',
    `TF.js backend "${String(raw)}" is not known: use auto, tensorflow, wasm or cpu (SMKIT_TFJS_BACKEND or the predict step's backend option)`,
  );
}

/** The candidate backends for a request, best first. */
export function backendCandidates(request: TfjsBackendRequest): TfjsBackendName[] {
  const native: TfjsBackendName[] = ['tensorflow-gpu', 'tensorflow'];
  switch (request) {
    case 'auto':
      return [...native, 'wasm', 'cpu'];
    case 'tensorflow':
      return native;
    case 'wasm':
      return ['wasm'];
    case 'cpu':
      return ['cpu'];
  }
}

async function tryBackend(name: TfjsBackendName, deps: TfjsBackendDeps): Promise<Tf> {
  if (name === 'tensorflow-gpu' || name === 'tensorflow') {
    const pkg = name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
    if (name === 'tensorflow-gpu') {
      // Loading the CUDA build without a GPU only fails slowly; check cheaply first.
      if (!deps.isInstalled(pkg)) throw new PassedOver(`${pkg} is not installed`);
      if ((await deps.gpuCount()) === 0) throw new PassedOver('no GPU is visible');
      // For code that loads TF.js without `smkit serve`, which has set it already: TensorFlow would
      // otherwise take the whole GPU's memory (see tensorflow-gpu-memory.ts).
      defaultTensorFlowGpuMemoryGrowth();
    }
    const tf = (await deps.importModule(pkg)) as Tf;
    await tf.ready();
    if (tf.getBackend() !== 'tensorflow') throw new Error(`${pkg} loaded but its backend is ${tf.getBackend()}`);
    return tf;
  }
  const tf = (await deps.importModule('@tensorflow/tfjs')) as Tf;
  if (name === 'wasm') {
    const wasm = (await deps.importModule('@tensorflow/tfjs-backend-wasm')) as typeof import('@tensorflow/tfjs-backend-wasm');
    // A file path, not a URL: the binaries ship in node_modules and must never be fetched. Set once:
    // after an init that failed the package refuses it ("already initialized"), and keeps it.
    if (!wasmPathsSet.has(wasm)) {
      wasm.setWasmPaths(deps.wasmDir());
      wasmPathsSet.add(wasm);
    }
    // Its binary is read as the backend starts, and a read that fails is only logged by TF.js
    // (setBackend answers false, without the cause): not tried without descriptors to spare, tried
    // once more after a failure once they are (a shortage that has passed: files another thread
    // held, closed since), and a failure while they are short is taken for the shortage, not a
    // reason to settle on the CPU backend.
    if (!hasFreeDescriptors()) throw wasmShortOfDescriptors();
    let started = await tf.setBackend(name);
    if (!started && hasFreeDescriptors()) started = await tf.setBackend(name);
    if (!started) {
      if (!hasFreeDescriptors()) throw wasmShortOfDescriptors();
      throw new Error(`tf.setBackend('${name}') failed twice (TF.js logged why)`);
    }
  } else if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') failed`);
  await tf.ready();
  return tf;
}

/** The WASM backend modules whose binaries' folder has been set (see tryBackend). */
const wasmPathsSet = new WeakSet<object>();

/** The WASM backend could not start for want of descriptors: an EMFILE error, which selectBackend answers as busy. */
function wasmShortOfDescriptors(): Error {
  return Object.assign(new Error('its WebAssembly binary cannot be read now: this process has no file descriptors to spare'), { code: 'EMFILE' });
}

let shared: { request: TfjsBackendRequest; promise: Promise<LoadedTfjs> } | undefined;

/**
 * The errors of backend loads that failed for want of descriptors: a backend's package is loaded
 * with `import()`, which Node keeps failed, so meeting one again means no retry can load it (see
 * retrying-load.ts's keptFailed).
 */
const descriptorFailures = new WeakSet<object>();

/**
 * Loads TensorFlow.js on the best backend the request allows (tfjs-node-gpu when a GPU is present,
 * tfjs-node, WASM, then the pure-JS CPU backend) and logs the choice and every fallback. TF.js keeps
 * one engine per process, so the first call decides; later calls share it. `gpuAllowed` false
 * (`SMKIT_DEVICE` puts `cpu` first) leaves tfjs-node-gpu out even when it is installed and a GPU is visible.
 *
 * @throws ToolkitError `ERR_RUNTIME_UNAVAILABLE` when no allowed backend loads.
 */
export function loadTfjs(request: TfjsBackendRequest, log: Logger, deps: TfjsBackendDeps = systemBackendDeps, gpuAllowed = true): Promise<LoadedTfjs> {
  if (shared && deps === systemBackendDeps) {
    if (shared.request !== request) {
      log.warn({ requested: request, inUse: shared.request }, 'TF.js is already loaded in this process; keeping its backend');
    }
    return shared.promise;
  }
  const promise = selectBackend(request, log, deps, gpuAllowed);
  if (deps === systemBackendDeps) {
    shared = { request, promise };
    promise.catch(() => {
      shared = undefined;
    });
  }
  return promise;
}

async function selectBackend(request: TfjsBackendRequest, log: Logger, deps: TfjsBackendDeps, gpuAllowed: boolean): Promise<LoadedTfjs> {
  // A backend that fails to load for want of file descriptors would be skipped for a slower one,
  // and TF.js keeps the first choice for the process: not tried then (see retrying-load.ts).
  if (deps === systemBackendDeps && !hasFreeDescriptors()) throw descriptorsBusy('TF.js');
  const asked = backendCandidates(request);
  const candidates = gpuAllowed ? asked : asked.filter((name) => name !== 'tensorflow-gpu');
  const failures: string[] = [];
  let notOnGpu: LoadedTfjs['notOnGpu'] = !asked.includes('tensorflow-gpu')
    ? { reason: `SMKIT_TFJS_BACKEND (or the predict step's backend option) asks for ${request}`, failed: false }
    : !gpuAllowed
      ? { reason: 'SMKIT_DEVICE puts cpu first', failed: false }
      : undefined;
  for (const name of candidates) {
    try {
      const tf = await tryBackend(name, deps);
      // Production mode skips per-op NaN checks and silences TF.js's console advice about tfjs-node.
      tf.enableProdMode();
      // Only the pure-JS CPU backend is slow enough to warn about; WASM is the expected fallback without tfjs-node.
      const level = name === 'cpu' && request === 'auto' ? 'warn' : 'info';
      log[level]({ runtime: 'tfjs', backend: name, requested: request, skipped: failures }, `TF.js backend: ${name}`);
      return { tf, backend: name, ...(name === 'tensorflow-gpu' || !notOnGpu ? {} : { notOnGpu }) };
    } catch (err) {
      if (isOutOfDescriptors(err)) {
        // An error that says EMFILE is an object (see isOutOfDescriptors).
        if (descriptorFailures.has(err as object)) throw keptFailed(`TF.js (its ${name} backend)`, err);
        descriptorFailures.add(err as object);
        throw descriptorsBusy(`TF.js (its ${name} backend)`, err);
      }
      const reason = err instanceof Error ? err.message.split('\n')[0]! : String(err);
      failures.push(`${name}: ${reason}`);
      if (name === 'tensorflow-gpu') notOnGpu = err instanceof PassedOver ? { reason, failed: false } : { reason: `@tensorflow/tfjs-node-gpu failed to load (${reason})`, failed: true };
    }
  }
  const hint =
    request === 'tensorflow'
      ? 'install @tensorflow/tfjs-node (or @tensorflow/tfjs-node-gpu) or set SMKIT_TFJS_BACKEND=auto'
      : 'reinstall @tensorflow/tfjs and @tensorflow/tfjs-backend-wasm';
  throw new ToolkitError('ERR_RUNTIME_UNAVAILABLE', `no TF.js backend could load for "${request}" (${failures.join('; ')}): ${hint}`);
}
