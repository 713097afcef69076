import type { Cancellation } from '../core/cancellation.js';
import type { TensorMap } from '../core/tensor.js';
import type { ModelRuntime } from '../runtimes/runtime.js';
import type { Logger } from '../core/context.js';
import { AdaptiveBatcher, type BatchObserver } from './adaptive-batcher.js';
import { batchFailureLogger, batchingPauseLogger } from './batch-failure-log.js';
import { recordBatching, type BatchingOptions } from './batching-options.js';
import { batchKey, concatInputs, rowsOf, splitOutputs, UnsplittableBatchError } from './tensor-batch.js';

type Spec = ModelRuntime['inputs'][number];

const dynamicFirst = (s: Spec): boolean => typeof s.shape[0] !== 'number' || s.shape[0] < 0;

/**
 * Why the model's shapes do not let requests share a run, or undefined when they do: every declared
 * input's first dimension is dynamic, so rows can be stacked, and the shapes say each output row
 * comes from its input row alone:
 * - no output declares a fixed first dimension. An output of fixed rows (a reduction over the rows,
 *   a fixed-size summary) does not keep the batch axis; when the batch's rows happened to equal its
 *   size it would be split back as if it did, each request getting a share of an answer computed
 *   over all of them. An output of unknown shape (`[]`) is checked on every batched run instead
 *   (see `splitOutputs`).
 * - no input or output has the inputs' batch dimension (by its symbolic name) beyond its first: an
 *   output `[batch, batch]` (x · xᵀ) would give each request values computed from the others' rows.
 *
 * The inputs' first dimensions need not share a name: exporters often name one batch axis
 * differently per input (torch.onnx's `dynamic_axes` given as a list names it
 * `<input>_dynamic_axes_1`), and Triton's ONNX Runtime backend likewise asks only for a variable
 * first dimension everywhere. A request whose inputs disagree on their rows runs alone (`batchKey`).
 */
function unbatchableBecause(runtime: ModelRuntime): string | undefined {
  if (runtime.inputs.length === 0) return 'the model declares no inputs';
  const shapeText = (s: Spec) => `[${s.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : typeof d === 'string' && d !== '' ? d : '?')).join(', ')}]`;
  for (const s of runtime.inputs) {
    if (s.shape.length === 0) return `input "${s.name}" has no declared shape (a scalar, or one the model does not give), so there is no first dimension to stack requests along`;
    if (!dynamicFirst(s)) return `input "${s.name}" has a fixed first dimension (${shapeText(s)}), so requests cannot be stacked along it`;
  }
  const batchNames = new Set(runtime.inputs.map((s) => s.shape[0]).filter((d) => typeof d === 'string' && d !== ''));
  const acrossRows = (s: Spec): boolean => s.shape.slice(1).some((d) => typeof d === 'string' && batchNames.has(d));
  const across = runtime.inputs.find(acrossRows);
  if (across) return `input "${across.name}" (${shapeText(across)}) has the batch dimension beyond its first, so its values would come from other requests' rows`;
  for (const s of runtime.outputs) {
    if (s.shape.length > 0 && !dynamicFirst(s)) return `output "${s.name}" has a fixed first dimension (${shapeText(s)}), so it does not keep one row per input row`;
    if (acrossRows(s)) return `output "${s.name}" (${shapeText(s)}) has the batch dimension beyond its first, so its values would come from other requests' rows`;
  }
  return undefined;
}

/**
 * A model whose concurrent `predict` calls are batched: inputs with the same names, dtypes and
 * trailing shape are concatenated along the first axis, run once, and the outputs split back by
 * rows. A model whose outputs turn out not to keep the batch axis stops batching (its calls then
 * run one by one, as without batching).
 */
export class BatchedRuntime implements ModelRuntime {
  readonly #batcher: AdaptiveBatcher<TensorMap, TensorMap>;
  #splittable = true;
  /** The most requests one run takes. */
  readonly maxSize: number;

  constructor(
    private readonly inner: ModelRuntime,
    options: BatchingOptions,
    observe?: BatchObserver,
    failures?: { log: Logger; step: string },
  ) {
    this.maxSize = options.maxSize;
    recordBatching(this, options.maxSize);
    this.#batcher = new AdaptiveBatcher<TensorMap, TensorMap>(
      {
        keyOf: (inputs) => (this.#splittable ? batchKey(inputs) : undefined),
        runOne: (inputs) => this.inner.predict(inputs),
        runBatch: async (batch) => {
          const outputs = await this.inner.predict(concatInputs(batch));
          try {
            return splitOutputs(outputs, batch.map(rowsOf));
          } catch (err) {
            if (err instanceof UnsplittableBatchError) this.#splittable = false;
            throw err;
          }
        },
        ...(failures
          ? {
              batchFailed: batchFailureLogger(failures.log, failures.step),
              batchingPaused: batchingPauseLogger(failures.log, failures.step),
            }
          : {}),
      },
      options,
      observe,
    );
  }

  get name(): string {
    return this.inner.name;
  }

  get backend(): string {
    return this.inner.backend;
  }

  get inputs(): ModelRuntime['inputs'] {
    return this.inner.inputs;
  }

  get outputs(): ModelRuntime['outputs'] {
    return this.inner.outputs;
  }

  get signature(): string | undefined {
    return this.inner.signature;
  }

  predict(inputs: TensorMap, cancellation?: Cancellation): Promise<TensorMap> {
    return this.#batcher.submit(inputs, cancellation);
  }

  dispose(): Promise<void> {
    return this.inner.dispose();
  }
}

/**
 * Wraps `runtime` for batching when `options` turn it on and the model has a dynamic batch axis in
 * and out. With `failures`, a batched run that fails is logged there once, as `step`.
 */
export function withBatching(runtime: ModelRuntime, options: BatchingOptions, observe?: BatchObserver, failures?: { log: Logger; step: string }): ModelRuntime {
  if (options.maxSize <= 1) return runtime;
  const because = unbatchableBecause(runtime);
  if (because !== undefined) {
    // Batching was asked for (SMKIT_BATCH_MAX_SIZE, or the step's batching:) and is not done: said
    // once, at the load, or nothing anywhere (no smkit_batch_* series either) would tell why.
    failures?.log.warn({ step: failures.step, batchMaxSize: options.maxSize }, `${failures.step}: requests are not batched together (batching maxSize ${options.maxSize}): ${because}; each request runs on its own (SMKIT_BATCH_MAX_SIZE=1, or batching: { maxSize: 1 } on this predict step in a pipeline file, turns batching off for it and this line with it)`);
    return runtime;
  }
  return new BatchedRuntime(runtime, options, observe, failures);
}
