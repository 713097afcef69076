import type { InvocationContext } from '../core/context.js';
import { ToolkitError, type ErrorCode, type ToolkitErrorOptions } from '../errors/catalogue.js';
import { UNNAMED, withFloat16Bits, type TensorMap } from '../core/tensor.js';
import type { DecodedRequest } from '../codecs/codec.js';
import type { RuntimeOptions } from '../runtimes/runtime.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';
import type { BatchRun } from '../batching/adaptive-batcher.js';
import type { BatchingOptions } from '../batching/batching-options.js';

/** The stage a step belongs to. Steps run in stage order: preprocess → predict → postprocess. */
export type StepStage = 'preprocess' | 'predict' | 'postprocess';

/**
 * What flows between steps: named tensors, plus the decoded request (for its form) and, once a
 * step has produced something that is no longer tensors (for example top-k labels), a plain value.
 * When `value` is set, later steps and the encoder use it instead of `tensors`.
 */
export interface StepData {
  tensors: TensorMap;
  request?: DecodedRequest;
  value?: unknown;
}

/** `data` with its float16 tensors as `Uint16Array` bits ({@link withFloat16Bits}); `data` itself when they are. */
export function stepDataWithFloat16Bits(data: StepData): StepData {
  const tensors = withFloat16Bits(data.tensors);
  return tensors === data.tensors ? data : { ...data, tensors };
}

/** A pipeline step, ready to run. */
export interface Step {
  readonly name: string;
  readonly stage: StepStage;
  run(data: StepData, ctx: InvocationContext): Promise<StepData> | StepData;
  /**
   * The step reads an earlier step's `value` (custom steps may); every other step works on tensors
   * alone, so the pipeline refuses to run it after a step that answered a value.
   */
  readonly takesValue?: boolean;
  /** Releases what the step holds (models). */
  dispose?(): Promise<void>;
}

/**
 * Builds a step from its pipeline-file options. Registered by `kind` (for example `softmax`).
 * `modelDir` resolves relative paths (labels files, models, custom modules).
 */
export type StepBuilder = (options: Readonly<Record<string, unknown>>, env: StepBuildEnv) => Promise<Step> | Step;

/** What a {@link StepBuilder} may use while it builds. */
export interface StepBuildEnv {
  readonly modelDir: string;
  readonly stage: StepStage;
  readonly name: string;
  /** Options for predict steps' runtimes (devices, threads, worker index, logger). */
  readonly runtimeOptions: RuntimeOptions;
  /** Where custom step modules live (the model's `code/`, or its writable copy). */
  readonly codeDir: string;
  /** Runtime lookup for predict steps. */
  readonly runtimes: RuntimeRegistry;
  /** Dynamic batching for predict steps that do not set their own (`batching:`); off when absent. */
  readonly batching?: BatchingOptions;
  /** Told of every batched model run, by step name (for `/metrics`). */
  readonly observeBatch?: (step: string, run: BatchRun) => void;
  /**
   * `SMKIT_MAX_DECODED_MB` in bytes: what one request's inputs may take once decoded, so also the
   * most a step that makes its tensors larger (`resize`) may make of them. Unbounded when absent.
   */
  readonly maxDecodedBytes?: number;
}

/**
 * An error attributed to a step: the message starts with the step's name and `details.step` holds
 * it, so the pipeline (and clients) know which step failed without reading the message.
 */
export function stepFailure(step: string, code: ErrorCode, message: string, options: ToolkitErrorOptions = {}): ToolkitError {
  return new ToolkitError(code, `${step}: ${message}`, { ...options, details: { ...options.details, step } });
}

/**
 * The code for a tensor that does not fit a step (strings to softmax, an axis past its rank): in a
 * preprocess step the tensors are the request's, so the client's mistake (400 `ERR_INPUT_MISMATCH`);
 * after a model they are its outputs, which the client does not choose, so a mistake in the pipeline
 * file for that model (500 `ERR_STEP_FAILED`).
 */
export function misfitCode(stage: StepStage): ErrorCode {
  return stage === 'preprocess' ? 'ERR_INPUT_MISMATCH' : 'ERR_STEP_FAILED';
}

/**
 * Which of `tensors` a step given tensor names (`tensor: input`, `tensors: [..]`) applies to: those
 * of its names, or else a lone unnamed tensor, the one a CSV, NPY, image or JSON-rows request
 * carries (its client cannot name it), as such a tensor feeds a single-input model whatever the
 * model calls its input. A pipeline file naming the model's input then serves clients that name it
 * and clients that cannot alike; a tensor the client named otherwise is not taken for it.
 */
export function namedOrLone(names: ReadonlySet<string>, tensors: TensorMap): (name: string) => boolean {
  const keys = Object.keys(tensors);
  if (keys.length === 1 && keys[0] === UNNAMED && !names.has(UNNAMED)) return () => true;
  return (name) => names.has(name);
}

/** The step an error is attributed to, when it is (see {@link stepFailure}). */
export function failedStep(err: unknown): string | undefined {
  const step = err instanceof ToolkitError ? err.details?.['step'] : undefined;
  return typeof step === 'string' ? step : undefined;
}
