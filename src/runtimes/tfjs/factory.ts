import type { ModelRuntime, RuntimeFactory, RuntimeOptions } from '../runtime.js';
import type { TfjsBackendDeps } from './backend.js';
import { findTfModel } from './model-files.js';
import { checkTfjsStepOptions } from './step-options.js';
import { retryingLoad } from '../../core/retrying-load.js';

/** The TF.js runtime's code, loaded with the first TF.js model (see retrying-load.ts). */
const loadRuntimeCode = retryingLoad('the TF.js runtime', () => import('./load-runtime.js'));

/**
 * Loads a TensorFlow model found by {@link findTfModel}. `options.extra` may carry `backend`
 * (`auto`, `tensorflow`, `wasm`, `cpu`; the serving core passes `SMKIT_TFJS_BACKEND` here) and, for
 * SavedModels, `signature` (a start-up error for a model.json, which has no signatures to pick).
 * The TF.js runtime's own code is imported here, on the first load, so a server of another
 * runtime's model never loads it.
 */
export async function loadTfjsRuntime(modelPath: string, options: RuntimeOptions, deps?: TfjsBackendDeps): Promise<ModelRuntime> {
  const { loadTfjsRuntime: load } = await loadRuntimeCode();
  return load(modelPath, options, deps);
}

/**
 * TensorFlow.js runtime: TF.js layers models and graph models (`model.json` + weight shards), and
 * TensorFlow SavedModels where `@tensorflow/tfjs-node` is installed. Backends, best first:
 * tfjs-node-gpu (GPU present), tfjs-node, WASM, pure-JS CPU.
 */
export const tfjsRuntimeFactory: RuntimeFactory = {
  name: 'tfjs',
  inlineSafe: false,
  stepOptions: ['backend', 'signature'],
  async detect(path: string) {
    return (await findTfModel(path))?.path;
  },
  checkStepOptions: checkTfjsStepOptions,
  load(modelPath: string, options: RuntimeOptions) {
    return loadTfjsRuntime(modelPath, options);
  },
};
