import type { ModelRuntime, RuntimeOptions } from '../runtime.js';
import { ToolkitError, isToolkitError } from '../../errors/catalogue.js';
import { type TfjsBackendDeps, loadTfjs, parseBackendRequest, systemBackendDeps } from './backend.js';
import { loadGraphExecutor, loadLayersExecutor, loadSavedModelExecutor } from './executors.js';
import { type TfModelKind, findTfModel, readTfjsModelJson } from './model-files.js';
import { jsonExcerpt } from '../../errors/excerpt.js';
import { TfjsModelRuntime } from './model-runtime.js';

/**
 * The predict step's `signature` option, which only a SavedModel has a choice of: a TF.js graph
 * model holds the one signature tensorflowjs_converter wrote into model.json (its
 * `--signature_name`), a layers model none, so a `signature` given for either would be ignored
 * while the user believes another signature is served. Refused then, and when it is not a string
 * (null counts as left out), with `ERR_PIPELINE_INVALID` naming the option.
 */
function checkSignatureOption(signature: unknown, kind: TfModelKind, file: string): string | undefined {
  // Left out, as YAML's empty `signature:` leaves it (and as a null backend or batching is).
  if (signature === undefined || signature === null) return undefined;
  if (typeof signature !== 'string') {
    throw new ToolkitError('ERR_PIPELINE_INVALID', `the predict step's "signature" option must be a string naming a SavedModel signature (for example serving_default), found ${jsonExcerpt(signature, 40)}`);
  }
  if (kind === 'saved-model') return signature;
  const holds =
    kind === 'graph'
      ? 'a TF.js graph model serves the one signature model.json holds (tensorflowjs_converter --signature_name picks it when converting)'
      : 'a TF.js layers model has no signatures';
  throw new ToolkitError(
    'ERR_PIPELINE_INVALID',
    `the predict step's "signature" option (${jsonExcerpt(signature, 60)}) picks a TensorFlow SavedModel's signature, but ${file} is a TF.js ${kind} model: ${holds}; remove "signature" from the step`,
  );
}

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
  const loaded = await loadTfjs(parseBackendRequest(options.extra?.['backend']), options.log, deps);
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
