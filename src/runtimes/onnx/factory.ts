import { readdirSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { ToolkitError } from '../../errors/catalogue.js';
import type { RuntimeFactory, RuntimeOptions, ModelRuntime } from '../runtime.js';
import { retryingLoad } from '../../core/retrying-load.js';

/** ONNX Runtime's binding and smkit's session code, loaded with the first ONNX model (see retrying-load.ts). */
const loadSession = retryingLoad('ONNX Runtime (onnxruntime-node)', () => import('./session.js'));

function statOrUndefined(target: string): Stats | undefined {
  try {
    return statSync(target);
  } catch {
    return undefined;
  }
}

/**
 * Finds the ONNX model in a directory: `model.onnx`, else the single `*.onnx`. A file path is
 * taken as is. Several candidates without a `model.onnx` is an error naming them.
 */
export async function detectOnnxModel(target: string): Promise<string | undefined> {
  // Synchronous on purpose: one stat and one listing of a local model directory take microseconds,
  // while each round trip through libuv's thread pool costs a millisecond or more on a busy machine
  // starting its workers, and a server start waits for this.
  const info = statOrUndefined(target);
  if (!info) return undefined;
  if (info.isFile()) return target.endsWith('.onnx') ? target : undefined;
  const names = readdirSync(target).filter((n) => n.toLowerCase().endsWith('.onnx')).sort();
  if (names.includes('model.onnx')) return path.join(target, 'model.onnx');
  if (names.length === 1) return path.join(target, names[0]!);
  if (names.length > 1) {
    throw new ToolkitError(
      'ERR_MODEL_DIR',
      `${target} holds several ONNX models (${names.join(', ')}): rename the one to serve to model.onnx, or add a pipeline file (pipeline.yaml) that chains them`,
    );
  }
  return undefined;
}

/** ONNX Runtime (onnxruntime-node), loaded lazily so TF.js-only images never load it. */
export const onnxRuntimeFactory: RuntimeFactory = {
  name: 'onnx',
  inlineSafe: true,
  stepOptions: [],
  detect: detectOnnxModel,
  async load(modelPath: string, options: RuntimeOptions): Promise<ModelRuntime> {
    const { loadOnnxModel } = await loadSession();
    return loadOnnxModel(modelPath, options);
  },
};
