import type { Cancellation } from '../core/cancellation.js';
import type { DType, TensorMap } from '../core/tensor.js';
import type { Logger } from '../core/context.js';

/** Declared input or output of a model. `shape` uses -1 (or a name) for dynamic dimensions. */
export interface TensorSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly (number | string)[];
}

/** Options every runtime receives when it loads a model. */
export interface RuntimeOptions {
  /** Execution providers / devices asked for, best first (for example `['cuda', 'cpu']`). */
  readonly devices: readonly string[];
  /** Intra-op threads for CPU kernels (0 = runtime default). */
  readonly intraOpThreads: number;
  /** Index of this worker, for spreading workers across GPUs. */
  readonly workerIndex: number;
  /** How many workers serve, when known (`smkit serve` passes it): fewer than the visible GPUs is warned of. */
  readonly workers?: number;
  /** Logger for load-time decisions (backend chosen, fallbacks). */
  readonly log: Logger;
  /** Runtime-specific options from the pipeline file's predict step. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** A loaded model. Implementations keep SDK tensors inside; the boundary speaks {@link TensorMap}. */
export interface ModelRuntime {
  /** Runtime name (`onnx`, `tfjs`). */
  readonly name: string;
  /** Backend or execution provider actually in use (for example `cpu`, `cuda`, `wasm`, `tensorflow`). */
  readonly backend: string;
  /** Declared inputs, in model order. */
  readonly inputs: readonly TensorSpec[];
  /** Declared outputs, in model order. */
  readonly outputs: readonly TensorSpec[];
  /** The named signature served, for models that have them (a TF SavedModel); TF Serving requests may name it. */
  readonly signature?: string;
  /**
   * Runs the model. Inputs are matched by name (a single `UNNAMED` input binds to a single-input
   * model) and converted to the declared dtype. Returns outputs by name, in model order.
   * `cancellation`, when given, says whether the caller has given up: a runtime that queues calls
   * (dynamic batching) drops a cancelled one before running it, with the cancellation's reason.
   */
  predict(inputs: TensorMap, cancellation?: Cancellation): Promise<TensorMap>;
  /** Releases native memory. */
  dispose(): Promise<void>;
}

/**
 * Knows how to recognise and load one kind of model. Factories import their SDK lazily, inside
 * `load`, so serving an ONNX model never loads TensorFlow.js.
 */
export interface RuntimeFactory {
  /** Runtime name used in pipeline files (`runtime: onnx`). */
  readonly name: string;
  /**
   * Whether the server may run this runtime's models on the HTTP thread for small requests: model
   * runs are native code that never calls back into user JavaScript and takes time in proportion to
   * the input (ONNX Runtime). The Node binding of ONNX Runtime runs a model synchronously on the
   * calling thread, so the server still sends large bodies to an inference thread and moves a model
   * there for good when its runs block the event loop too long. Runtimes that are not (TF.js, whose
   * WASM and CPU backends are far slower per operation) always run in an inference thread.
   * Absent means false.
   */
  readonly inlineSafe?: boolean;
  /**
   * The options a pipeline file's predict step may give this runtime besides `model`, `runtime` and
   * `batching` (they reach {@link RuntimeOptions.extra}); a step with any other key is refused, so
   * a misspelt key is not ignored. Absent means any key is passed on unchecked.
   */
  readonly stepOptions?: readonly string[];
  /**
   * Finds this runtime's model in a directory (or accepts a file path). Returns the path to load,
   * or undefined when the directory holds no model of this kind. Throws `ERR_MODEL_DIR` when the
   * choice is ambiguous.
   */
  detect(path: string): Promise<string | undefined>;
  /**
   * Checks a predict step's options against the model {@link RuntimeFactory.detect} found at
   * `modelPath`, without loading it (a quick look at the model's files at most), throwing
   * `ERR_PIPELINE_INVALID` for an option that model cannot take. `smkit serve` runs it before the
   * load and `smkit package` instead of one (both through `checkPredictStep`). Absent means no such
   * check.
   */
  checkStepOptions?(modelPath: string, options: Readonly<Record<string, unknown>>): Promise<void>;
  /** Loads the model found by {@link RuntimeFactory.detect}. */
  load(modelPath: string, options: RuntimeOptions): Promise<ModelRuntime>;
}
