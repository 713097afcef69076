import { existsSync } from 'node:fs';
import { findHandlerModule } from '../handlers/user-module.js';
import { readPipelineFile } from '../pipeline/pipeline-file.js';
import { resolveInside } from '../pipeline/steps/predict.js';
import type { EngineRegistries } from '../handlers/registries.js';
import type { RuntimeFactory } from '../runtimes/runtime.js';
import { createDefaultRuntimes } from '../runtimes/defaults.js';
import { loadDefaultSteps } from '../pipeline/pipeline.js';

/** Why a model directory needs (or does not need) an inference thread. */
export interface InferenceModeChoice {
  /** `inline`: small requests may run on the HTTP thread (large ones still go to a thread). */
  mode: 'inline' | 'thread';
  reason: string;
}

/**
 * Decides where invocations may run. Inline (on the HTTP thread) saves a thread hop per request, but
 * is only safe when nothing can hold the event loop for long: no user handler module, no step kind
 * that runs user code, and only runtimes whose model runs are bounded native work (each runtime
 * says so in the registry: `inlineSafe`). Anything else runs in a thread so `/ping` always answers.
 * `registries` defaults to smkit's runtimes and (for a pipeline file only) its step kinds.
 */
export async function chooseInferenceMode(
  requested: 'auto' | 'thread' | 'inline',
  modelDir: string,
  codeDir: string,
  program: string,
  registries: Partial<Pick<EngineRegistries, 'runtimes' | 'steps'>> = {},
): Promise<InferenceModeChoice> {
  if (requested !== 'auto') return { mode: requested, reason: 'SMKIT_INFERENCE_MODE' };
  if (!existsSync(modelDir)) return { mode: 'thread', reason: 'no model directory yet' };
  if (findHandlerModule(codeDir, program)) return { mode: 'thread', reason: 'a handler module runs user code' };
  const inlineSafe = (f: RuntimeFactory) => f.inlineSafe === true;
  const runtimes = registries.runtimes ?? createDefaultRuntimes();
  try {
    const spec = readPipelineFile(modelDir);
    if (!spec) {
      const { factory } = await runtimes.detect(modelDir);
      return inlineSafe(factory) ? { mode: 'inline', reason: `${factory.name} models may run inline` } : { mode: 'thread', reason: `${factory.name} models run in a thread` };
    }
    const steps = registries.steps ?? (await loadDefaultSteps());
    for (const step of spec.steps) {
      if (steps.traits(step.kind).runsUserCode) return { mode: 'thread', reason: `the pipeline runs user code (${step.name})` };
      if (step.kind !== 'predict') continue;
      const named = step.options['runtime'];
      const factory =
        named !== undefined
          ? runtimes.get(String(named))
          : (await runtimes.detect(resolveInside(modelDir, String(step.options['model']), step.name))).factory;
      if (!inlineSafe(factory)) return { mode: 'thread', reason: `${step.name} runs ${factory.name}, whose models run in a thread` };
    }
    return { mode: 'inline', reason: 'every model may run inline and no user code runs' };
  } catch {
    return { mode: 'thread', reason: 'the model directory or pipeline file is invalid (the load reports why)' };
  }
}
