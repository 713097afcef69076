import type { ModelRuntime, RuntimeOptions } from '../runtime.js';
import { ToolkitError, isToolkitError } from '../../errors/catalogue.js';
import { type TfjsBackendDeps, loadTfjs, parseBackendRequest, systemBackendDeps } from './backend.js';
import { loadGraphExecutor, loadLayersExecutor, loadSavedModelExecutor } from './executors.js';
import { findTfModel, readTfjsModelJson } from './model-files.js';
import { checkSignatureOption } from './step-options.js';
import { TfjsModelRuntime } from './model-runtime.js';

/** Whether `SMKIT_DEVICE` asks for a GPU before it allows the CPU (`cuda`, `cuda,cpu`; not `auto` nor `cpu,cuda`). */
function asksForGpu(devices: readonly string[]): boolean {
  for (const d of devices) {
    if (d === 'cpu') return false;
    if (d !== 'auto') return true;
  }
  return false;
}

/** The GPU-passed-over warnings this thread has logged ({@link loadTfjsRuntime}): each is said once. */
const passedOverWarned = new Set<string>();

/**
 * Loads a TensorFlow model found by {@link findTfModel}. `options.extra` may carry `backend`
 * (`auto`, `tensorflow`, `wasm`, `cpu`; the serving core passes `SMKIT_TFJS_BACKEND` here) and, for
 * SavedModels, `signature` (refused for other models: {@link checkSignatureOption}).
 */
export async function loadTfjsRuntime(modelPath: string, options: RuntimeOptions, deps: TfjsBackendDeps = systemBackendDeps): Promise<ModelRuntime> {
  const location = await findTfModel(modelPath);
  if (!location) {
    throw new ToolkitError('ERR_MODEL_DIR', `${modelPath} holds no TF.js model.json or TensorFlow saved_model.pb`);
  }
  // Detection read model.json's start only; this is its one full read and parse, before TF.js loads.
  const found =
    location.kind === 'saved-model' ? { kind: 'saved-model' as const, path: location.path, json: undefined } : { ...(await readTfjsModelJson(location.path)), path: location.path };
  const signature = checkSignatureOption(options.extra?.['signature'], found.kind, found.path);
  // SMKIT_DEVICE=cpu (or cpu,cuda) keeps TF.js off an installed tfjs-node-gpu, as it keeps ONNX off CUDA.
  const loaded = await loadTfjs(parseBackendRequest(options.extra?.['backend']), options.log, deps, options.devices[0] !== 'cpu');
  // A GPU asked for (SMKIT_DEVICE) or a GPU build that failed to load must not pass as an info line.
  const notOnGpu = loaded.notOnGpu;
  if (notOnGpu && (notOnGpu.failed || asksForGpu(options.devices))) {
    // A GPU build that failed to load is this worker's own; a GPU asked for and passed over is the
    // same for every worker and every model: warned once, by worker 0 at its first model (the
    // others, and its later models on a multi-model endpoint, note it at debug).
    const message = `TF.js runs on ${loaded.backend}, not on a GPU: ${notOnGpu.reason} (TF.js on a GPU needs @tensorflow/tfjs-node-gpu, CUDA 11.2 and cuDNN 8, which smkit's GPU image does not ship: see docs/images.md)`;
    const firstSaid = options.workerIndex === 0 && !passedOverWarned.has(message);
    if (firstSaid) passedOverWarned.add(message);
    const level = notOnGpu.failed || firstSaid ? 'warn' : 'debug';
    options.log[level]({ runtime: 'tfjs', backend: loaded.backend, devices: options.devices }, message);
  }
  try {
    const executor =
      found.kind === 'layers'
        ? await loadLayersExecutor(loaded.tf, found.path, found.json)
        : found.kind === 'graph'
          ? await loadGraphExecutor(loaded.tf, found.path, found.json)
          : await loadSavedModelExecutor(loaded.tf, found.path, signature);
    const runtime = new TfjsModelRuntime(loaded, executor);
    options.log.info(
      {
        runtime: 'tfjs',
        backend: loaded.backend,
        kind: found.kind,
        path: found.path,
        inputs: runtime.inputs.map((i) => `${i.name}:${i.dtype}[${i.shape.join(',')}]`),
        outputs: runtime.outputs.map((o) => o.name),
      },
      `loaded TF.js ${found.kind} model on ${loaded.backend}`,
    );
    return runtime;
  } catch (err) {
    if (isToolkitError(err)) throw err;
    // Only model.json goes through TF.js's recursive JSON reader; a SavedModel's RangeError is something else.
    if (found.kind !== 'saved-model' && err instanceof RangeError && /call stack/i.test(err.message)) {
      throw new ToolkitError(
        'ERR_MODEL_LOAD',
        `cannot load the TF.js ${found.kind} model ${found.path}: it nests lists or objects too deeply for TF.js to read ` +
          `(TF.js's reader ran out of stack); model.save() and tensorflowjs_converter write a few dozen levels at most, so re-export the model`,
        { cause: err },
      );
    }
    throw new ToolkitError('ERR_MODEL_LOAD', `cannot load the TF.js ${found.kind} model ${found.path}: ${(err as Error).message}`, { cause: err });
  }
}
