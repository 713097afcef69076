import path from 'node:path';
import { meantHint } from '../../core/closest-name.js';
import { ToolkitError, isToolkitError } from '../../errors/catalogue.js';
import { valueKind } from '../../errors/excerpt.js';
import { UNNAMED, type TensorMap } from '../../core/tensor.js';
import { cancellationOf } from '../../core/cancellation.js';
import type { InvocationContext } from '../../core/context.js';
import type { ModelRuntime, RuntimeFactory } from '../../runtimes/runtime.js';
import { modelRunClock } from '../../runtimes/model-run-clock.js';
import { stepFailure, type Step, type StepBuilder, type StepBuildEnv, type StepData } from '../step.js';
import { NO_BATCHING, type BatchingOptions } from '../../batching/batching-options.js';
import { retryingLoad } from '../../core/retrying-load.js';

/** The batching code, loaded with the first model served with batching (see retrying-load.ts). */
const loadBatching = retryingLoad('the dynamic batching code', () => import('../../batching/batched-runtime.js'));

/** Resolves `relative` inside `root`, refusing paths that leave it. */
export function resolveInside(root: string, relative: string, what: string): string {
  const base = path.resolve(root);
  const full = path.resolve(base, relative);
  if (full !== base && !full.startsWith(base + path.sep)) {
    throw new ToolkitError('ERR_PIPELINE_INVALID', `${what} "${relative}" must be inside ${base}`);
  }
  return full;
}

/** True when `name` is an input name the request itself chose (not the unnamed key, not a step's output). */
function namedByClient(data: StepData, name: string): boolean {
  return name !== UNNAMED && data.request !== undefined && Object.hasOwn(data.request.tensors, name);
}

/** Wraps a loaded runtime as a step. A lone tensor feeds a single-input model whatever its name. */
export function runtimeStep(name: string, runtime: ModelRuntime): Step & { runtime: ModelRuntime } {
  return {
    name,
    stage: 'predict',
    runtime,
    async run(data: StepData, ctx?: InvocationContext): Promise<StepData> {
      let inputs: TensorMap = data.tensors;
      const names = Object.keys(inputs);
      // A lone tensor that an earlier step named (a preprocess output, a first model's output) feeds
      // a single-input model whatever its name; one the client named must match the model's input.
      if (names.length === 1 && runtime.inputs.length === 1 && names[0] !== runtime.inputs[0]!.name && !namedByClient(data, names[0]!)) {
        inputs = { [UNNAMED]: inputs[names[0]!]! };
      }
      return { ...data, tensors: await runtime.predict(inputs, cancellationOf(ctx)), value: undefined };
    },
    dispose: () => runtime.dispose(),
  };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A predict step's `batching: { maxSize, maxDelayMs }`, each defaulting to the server's settings
 * (`SMKIT_BATCH_MAX_SIZE`, `SMKIT_BATCH_MAX_DELAY_MS`). With batching on, the delay must be below
 * the invocation timeout (`defaults.timeoutMs`, when given): a batch that does not fill waits that
 * long from its oldest request's arrival, so its requests would all time out first.
 */
export function stepBatching(raw: unknown, defaults: BatchingOptions, where: string): BatchingOptions {
  if (raw === undefined || raw === null) return defaults;
  const options = parseStepBatching(raw, defaults, where);
  const timeoutMs = defaults.timeoutMs;
  if (timeoutMs !== undefined && options.maxSize > 1 && options.maxDelayMs > 0 && options.maxDelayMs >= timeoutMs) {
    const from = raw !== null && typeof raw === 'object' && 'maxDelayMs' in raw ? `batching.maxDelayMs (${options.maxDelayMs})` : `the delay its batching takes from SMKIT_BATCH_MAX_DELAY_MS (${options.maxDelayMs})`;
    throw new ToolkitError(
      'ERR_PIPELINE_INVALID',
      `${where}: ${from} is not below the invocation timeout (${timeoutMs} ms, SAGEMAKER_MODEL_SERVER_TIMEOUT): a batch that does not fill waits that long from its oldest request's arrival, so its requests would time out first; set batching.maxDelayMs below it`,
    );
  }
  return options;
}

function parseStepBatching(raw: unknown, defaults: BatchingOptions, where: string): BatchingOptions {
  const fail = (what: string) => new ToolkitError('ERR_PIPELINE_INVALID', `${where}: batching.${what}`);
  // Not fail(): "batching.must be a mapping" read as an option named "must".
  if (!isPlainObject(raw)) throw new ToolkitError('ERR_PIPELINE_INVALID', `${where}: batching must be a mapping such as { maxSize: 32, maxDelayMs: 2 }, not ${valueKind(raw)}`);
  const unknown = Object.keys(raw).filter((k) => k !== 'maxSize' && k !== 'maxDelayMs');
  if (unknown.length) throw fail(`${unknown.map((k) => `${k}${meantHint(k, ['maxSize', 'maxDelayMs'])}`).join(', ')} is not an option; use maxSize and maxDelayMs`);
  const maxSize = raw['maxSize'] ?? defaults.maxSize;
  const maxDelayMs = raw['maxDelayMs'] ?? defaults.maxDelayMs;
  if (typeof maxSize !== 'number' || !Number.isInteger(maxSize) || maxSize < 1 || maxSize > 4096) throw fail('maxSize must be a whole number from 1 to 4096 (1 turns batching off)');
  if (typeof maxDelayMs !== 'number' || !(maxDelayMs >= 0 && maxDelayMs <= 10_000)) throw fail('maxDelayMs must be a number of milliseconds from 0 to 10000');
  return { maxSize, maxDelayMs };
}

/**
 * Wraps a loaded runtime for dynamic batching as `env` and the step's options ask. The batching
 * code loads only then: a model served without batching starts without it. Each run of the model
 * itself (one batch, not a request's wait in the queue) is timed by {@link modelRunClock}.
 */
export async function batchedRuntime(runtime: ModelRuntime, env: Pick<StepBuildEnv, 'batching' | 'observeBatch' | 'runtimeOptions'>, stepName: string, raw?: unknown): Promise<ModelRuntime> {
  modelRunClock.timed(runtime);
  const options = stepBatching(raw, env.batching ?? NO_BATCHING, stepName);
  if (options.maxSize <= 1) return runtime;
  const { withBatching } = await loadBatching();
  const observe = env.observeBatch;
  return withBatching(runtime, options, observe ? (run) => observe(stepName, run) : undefined, { log: env.runtimeOptions.log, step: stepName });
}

/**
 * Refuses a predict step key its runtime does not take (`model`, `runtime`, `batching` and the
 * runtime's own `stepOptions`) and a malformed `batching`, with `ERR_PIPELINE_INVALID`: what
 * `smkit serve` checks before the load, and `smkit package` without loading the model.
 */
export function checkPredictOptions(options: Readonly<Record<string, unknown>>, factory: RuntimeFactory, stepName: string): void {
  const { model: _m, runtime: _r, batching, ...extra } = options;
  const allowed = factory.stepOptions;
  const unknown = allowed === undefined ? [] : Object.keys(extra).filter((k) => !allowed.includes(k));
  if (unknown.length) {
    const names = ['model', 'runtime', 'batching', ...(allowed ?? [])];
    const keys = names.join(', ');
    throw new ToolkitError('ERR_PIPELINE_INVALID', `${stepName}: ${unknown.map((k) => `${k}${meantHint(k, names)}`).join(', ')} ${unknown.length === 1 ? 'is not a predict step option' : 'are not predict step options'} for runtime ${factory.name}; use ${keys}`);
  }
  stepBatching(batching, NO_BATCHING, stepName);
}

/**
 * Everything checked of a predict step before its model loads, in one place for `smkit serve` and
 * `smkit package` (which never loads the model): {@link checkPredictOptions}, then the runtime's
 * `checkStepOptions` against the model at `modelPath` (what `factory.detect` found), such as TF.js
 * refusing a `signature` for a model.json. Throws `ERR_PIPELINE_INVALID`, its message starting with
 * `stepName: ` as checkPredictOptions' do (the runtime's with `details.step` too: {@link stepFailure}).
 */
export async function checkPredictStep(options: Readonly<Record<string, unknown>>, factory: RuntimeFactory, modelPath: string, stepName: string): Promise<void> {
  checkPredictOptions(options, factory, stepName);
  try {
    await factory.checkStepOptions?.(modelPath, options);
  } catch (err) {
    if (!isToolkitError(err)) throw err;
    throw stepFailure(stepName, err.code, err.message, { status: err.status, cause: err, details: err.details });
  }
}

/** The runtime of a predict step and the model file it found: the step's `runtime`, else the one whose model `model` holds. */
async function predictModel(options: Readonly<Record<string, unknown>>, env: StepBuildEnv): Promise<{ factory: RuntimeFactory; found: string }> {
  const modelPath = resolveInside(env.modelDir, String(options['model']), `${env.name}: model`);
  const runtimeName = options['runtime'];
  if (runtimeName !== undefined) {
    const factory = env.runtimes.get(String(runtimeName));
    const found = await factory.detect(modelPath);
    if (found === undefined) throw new ToolkitError('ERR_MODEL_DIR', `${env.name}: no ${factory.name} model at ${modelPath}`);
    return { factory, found };
  }
  const detected = await env.runtimes.detect(modelPath).catch((err: unknown) => {
    throw new ToolkitError('ERR_MODEL_DIR', `${env.name}: ${(err as Error).message}`, { cause: err });
  });
  return { factory: detected.factory, found: detected.modelPath };
}

/**
 * Everything a predict step's build refuses before its model loads ({@link checkPredictStep}, the
 * model's path and runtime): the predict kind's `check`, which `buildPipeline` runs on every step
 * before it loads the first model. A model not found (yet) is left to the builder, the options
 * that do not depend on it checked.
 */
export async function checkPredictStepBeforeLoad(options: Readonly<Record<string, unknown>>, env: StepBuildEnv): Promise<void> {
  let model: Awaited<ReturnType<typeof predictModel>>;
  try {
    model = await predictModel(options, env);
  } catch (err) {
    if (!isToolkitError(err) || err.code !== 'ERR_MODEL_DIR') throw err;
    // No model there yet: an earlier step's build (a custom step's module) may put it there, as it
    // could when each step was checked only as it was built; the builder refuses it at its turn.
    // What does not depend on the model is checked now.
    if (options['runtime'] !== undefined) checkPredictOptions(options, env.runtimes.get(String(options['runtime'])), env.name);
    else stepBatching(options['batching'], env.batching ?? NO_BATCHING, env.name);
    return;
  }
  await checkPredictStep(options, model.factory, model.found, env.name);
  // Against the server's batching (the invocation timeout): before any model of the pipeline loads.
  stepBatching(options['batching'], env.batching ?? NO_BATCHING, env.name);
}

/** `- model: <path>` with optional `runtime: onnx|tfjs` (detected from the file otherwise). */
export const predictStep: StepBuilder = async (options, env) => {
  const { factory, found } = await predictModel(options, env);
  const { model: _m, runtime: _r, batching, ...extra } = options;
  // Checked before the (slow) load so a typo fails at once (again when buildPipeline checked it
  // already: the builder may be used on its own).
  await checkPredictStep(options, factory, found, env.name);
  stepBatching(batching, env.batching ?? NO_BATCHING, env.name);
  const runtime = await factory.load(found, { ...env.runtimeOptions, extra: { ...env.runtimeOptions.extra, ...extra } });
  return runtimeStep(env.name, await batchedRuntime(runtime, env, env.name, batching));
};
