import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { findHandlerModule } from '../handlers/user-module.js';
import { readPipelineFile } from '../pipeline/pipeline-file.js';

/** Why a model directory needs (or does not need) an inference thread. */
export interface InferenceModeChoice {
  mode: 'inline' | 'thread';
  reason: string;
}

/**
 * Decides where invocations run. Inline (on the HTTP thread) saves a thread hop per request, but is
 * only safe when nothing can hold the event loop for long: no user handler module, no custom
 * steps, and only ONNX models (ONNX Runtime runs kernels on its own threads; TF.js's WASM and CPU
 * backends compute on the JS thread). Anything else runs in a thread so `/ping` always answers.
 */
export function chooseInferenceMode(requested: 'auto' | 'thread' | 'inline', modelDir: string, codeDir: string, program: string): InferenceModeChoice {
  if (requested !== 'auto') return { mode: requested, reason: 'SMKIT_INFERENCE_MODE' };
  if (!existsSync(modelDir)) return { mode: 'thread', reason: 'no model directory yet' };
  if (findHandlerModule(codeDir, program)) return { mode: 'thread', reason: 'a handler module runs user code' };
  let spec;
  try {
    spec = readPipelineFile(modelDir);
  } catch {
    return { mode: 'thread', reason: 'the pipeline file is invalid (the load reports why)' };
  }
  if (spec) {
    if (spec.steps.some((s) => s.kind === 'custom')) return { mode: 'thread', reason: 'the pipeline runs custom steps' };
    const models = spec.steps.filter((s) => s.kind === 'predict');
    const allOnnx = models.every((s) => String(s.options['model']).toLowerCase().endsWith('.onnx') && (s.options['runtime'] ?? 'onnx') === 'onnx');
    return allOnnx ? { mode: 'inline', reason: 'ONNX-only pipeline without user code' } : { mode: 'thread', reason: 'the pipeline runs non-ONNX models' };
  }
  const names = readdirSync(modelDir);
  const onnxOnly = names.some((n) => n.toLowerCase().endsWith('.onnx')) && !names.includes('model.json') && !names.includes('saved_model.pb');
  return onnxOnly ? { mode: 'inline', reason: 'ONNX model without user code' } : { mode: 'thread', reason: 'the model may compute on the JS thread' };
}
