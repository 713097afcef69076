import { ToolkitError, isToolkitError } from '../errors/catalogue.js';
import { thrownMessage, valueKind } from '../errors/excerpt.js';
import type { InvocationContext } from '../core/context.js';
import type { StepRegistry, StepTraits } from './registry.js';
import type { PipelineSpec } from './pipeline-file.js';
import { failedStep, stepDataWithFloat16Bits, stepFailure, type Step, type StepBuildEnv, type StepData } from './step.js';
import { batchedRuntime, runtimeStep } from './steps/predict.js';
import { retryingLoad } from '../core/retrying-load.js';
import { cancellationOf } from '../core/cancellation.js';
import { checkInputStorage } from '../core/tensor.js';
import type { ModelRuntime, TensorSpec } from '../runtimes/runtime.js';

/** The built-in step kinds' code (see retrying-load.ts: a multi-model endpoint loads it while it serves). */
const loadStepKinds = retryingLoad('the pipeline step kinds', () => import('./default-steps.js'));

/**
 * A registry of every built-in step kind, loaded on first use: only a pipeline file needs the step
 * kinds (vision steps and their image code are not loaded for a bare model).
 */
export async function loadDefaultSteps(): Promise<StepRegistry> {
  return (await loadStepKinds()).createDefaultSteps();
}

/** A built pipeline: steps in order, run with per-step timing. */
export class Pipeline {
  /** The runtimes of the predict steps, in order (for `/ping` details and multipart input names). */
  readonly runtimes: readonly ModelRuntime[];

  /**
   * True when the pipeline was built knowing that none of its steps runs user code (custom steps
   * do): then nothing but smkit's own steps sees the request's tensors on their way through.
   */
  readonly withoutUserCode: boolean;

  constructor(
    readonly steps: readonly Step[],
    options: { withoutUserCode?: boolean } = {},
  ) {
    this.withoutUserCode = options.withoutUserCode === true;
    this.runtimes = steps.flatMap((s) => ('runtime' in s ? [(s as Step & { runtime: ModelRuntime }).runtime] : []));
  }

  /** The inputs of the model the first step runs, when that step hands the request's tensors to a model; undefined otherwise. */
  get firstStepModelInputs(): readonly TensorSpec[] | undefined {
    const first = this.steps[0];
    return first !== undefined && 'runtime' in first ? (first as Step & { runtime: ModelRuntime }).runtime.inputs : undefined;
  }

  /**
   * Runs every step; a failing step's error names it. Step times go to the debug log. User code
   * calls this too (`model.run` in a predictFn), so float16 data it built is taken as bits first,
   * and data in another typed array than its dtype's (float32 said, Uint8Array pixels given) is
   * refused as user code's mistake: a model step took it as it was (ONNX Runtime's 500
   * ERR_STEP_FAILED), or by value (TF.js), and a batch converted it.
   */
  async run(data: StepData, ctx: InvocationContext): Promise<StepData> {
    const timings: Record<string, number> | undefined = ctx.log.isLevelEnabled?.('debug') === false ? undefined : {};
    let current = stepDataWithFloat16Bits(data);
    if (typeof current.tensors === 'object' && current.tensors !== null) checkInputStorage(current.tensors, "the pipeline's run()", 'was given');
    let previous: Step | undefined;
    for (const step of this.steps) {
      // Nobody waits for the answer any more (a timeout, a client gone): the steps left would run
      // for nothing, a model's among them, ahead of requests that are still awaited. Not before the
      // first step: the engine has just checked, so a one-step pipeline (a bare model) pays nothing.
      if (previous !== undefined) {
        const cancellation = cancellationOf(ctx);
        if (cancellation?.cancelled) throw cancellation.reason;
      }
      // A model after a step that answered a value instead of tensors (a custom step's string) would
      // run on the tensors from before that step and drop the value: a wrong answer, not an error.
      // A built-in step there would run on them too, and its result be dropped for the value
      // (softmax after topk answered topk's scores unnormalised). After a built-in step that always
      // answers a value (topk) buildPipeline refuses such a step; a custom step's value is found here.
      if (previous !== undefined && current.value !== undefined && step.takesValue !== true) throw valueBeforeStep(step, previous.name, current.value);
      previous = step;
      const started = timings ? performance.now() : 0;
      try {
        current = await step.run(current, ctx);
      } catch (err) {
        // isToolkitError, not instanceof: a custom step may throw a Proxy whose prototype cannot be read.
        if (isToolkitError(err)) {
          if (failedStep(err) !== undefined) throw err;
          throw stepFailure(step.name, err.code, err.message, { status: err.status, cause: err, details: err.details });
        }
        throw new ToolkitError('ERR_STEP_FAILED', `${step.name} failed: ${thrownMessage(err)}`, { cause: err, details: { step: step.name } });
      }
      if (timings) timings[step.name] = Math.round((performance.now() - started) * 1000) / 1000;
    }
    if (timings) ctx.log.debug({ requestId: ctx.requestId, stepMs: timings }, 'pipeline steps');
    return current;
  }

  /** Releases every step's resources. */
  async dispose(): Promise<void> {
    await Promise.all(this.steps.map((s) => s.dispose?.()));
  }
}

/** The error for a step that works on tensors following a step whose result is `value`, not tensors (see `Pipeline.run`). */
function valueBeforeStep(step: Step, previous: string, value: unknown): ToolkitError {
  const what = 'runtime' in step ? 'the model' : 'it';
  return stepFailure(
    step.name,
    'ERR_STEP_FAILED',
    `${previous} before it returned ${valueKind(value)}, not tensors, so ${what} has nothing to run on: return named tensors or { tensors } from ${previous}, or move it after ${'runtime' in step ? 'the model' : step.name}`,
  );
}

/** Builds the pipeline a pipeline file describes, with the built-in step kinds unless `registry` is given. */
export async function buildPipeline(spec: PipelineSpec, env: Omit<StepBuildEnv, 'stage' | 'name'>, registry?: StepRegistry): Promise<Pipeline> {
  registry ??= await loadDefaultSteps();
  // Every step's options first: a bad one on a later step must not wait for (or follow) an earlier model's load.
  for (const s of spec.steps) await checkStep(registry, s, env);
  refuseStepAfterValue(registry, spec);
  const steps: Step[] = [];
  try {
    for (const s of spec.steps) {
      steps.push(await buildStep(registry, s, env));
    }
  } catch (err) {
    await Promise.all(steps.map((s) => s.dispose?.()));
    throw err;
  }
  return new Pipeline(steps, { withoutUserCode: spec.steps.every((s) => !registry.traits(s.kind).runsUserCode) });
}

/**
 * Refuses (`ERR_PIPELINE_INVALID`, at start-up) a step that works on tensors after a step that always
 * answers a value (topk, threshold with labels): it would fail every request (see `Pipeline.run`),
 * a mistake in the file that no request can avoid. Only a custom step may follow such a step.
 */
function refuseStepAfterValue(registry: StepRegistry, spec: PipelineSpec): void {
  for (let i = 1; i < spec.steps.length; i++) {
    const before = spec.steps[i - 1]!;
    const step = spec.steps[i]!;
    if (registry.traits(before.kind).answersValue?.(before.options) !== true || registry.traits(step.kind).takesValue === true) continue;
    throw new ToolkitError(
      'ERR_PIPELINE_INVALID',
      `${step.name}: ${before.name} before it answers a list of { label, score } per row, not tensors, so ${step.kind === 'predict' ? 'the model' : step.name} would have nothing to run on: move ${step.name} before ${before.name}, or format the answer with a custom step`,
    );
  }
}

/** Checks one step's options without building it ({@link StepTraits.check}); its errors named as {@link buildStep}'s. */
async function checkStep(registry: StepRegistry, s: PipelineSpec['steps'][number], env: Omit<StepBuildEnv, 'stage' | 'name'>): Promise<void> {
  await namingStep(s.name, async () => {
    registry.checkOptions(s.kind, s.options, s.name);
    await registry.traits(s.kind).check?.(s.options, { ...env, stage: s.stage, name: s.name });
  });
}

/** `run`'s result; a ToolkitError it throws is named after the step `name` unless it is already. */
async function namingStep<T>(name: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (!(err instanceof ToolkitError) || failedStep(err) !== undefined || err.message.startsWith(name)) throw err;
    throw stepFailure(name, err.code, err.message, { status: err.status, cause: err, details: err.details });
  }
}

/**
 * Builds one step. Its errors name the step's place in the file (`postprocess[0]:sofmax: unknown
 * step "sofmax"; ...`), as most step builders' own errors do, so that each says where to look.
 */
async function buildStep(registry: StepRegistry, s: PipelineSpec['steps'][number], env: Omit<StepBuildEnv, 'stage' | 'name'>): Promise<Step> {
  return namingStep(s.name, async () => {
    registry.checkOptions(s.kind, s.options, s.name);
    return registry.get(s.kind)(s.options, { ...env, stage: s.stage, name: s.name });
  });
}

/** The default pipeline without a pipeline file: one predict step on the model the directory holds. */
export async function buildDefaultPipeline(env: Omit<StepBuildEnv, 'stage' | 'name'>): Promise<Pipeline> {
  const { factory, modelPath } = await env.runtimes.detect(env.modelDir);
  const runtime = await factory.load(modelPath, env.runtimeOptions);
  const name = `predict:${factory.name}`;
  return new Pipeline([runtimeStep(name, await batchedRuntime(runtime, env, name))], { withoutUserCode: true });
}
