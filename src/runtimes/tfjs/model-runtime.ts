import type { Tensor as TfTensor, DataType as TfDType, NamedTensorMap } from '@tensorflow/tfjs';
import type { ModelRuntime, TensorSpec } from '../runtime.js';
import { type Tensor, type TensorMap, UNNAMED } from '../../core/tensor.js';
import { ToolkitError, isToolkitError } from '../../errors/catalogue.js';
import { quotedNames } from '../../errors/excerpt.js';
import type { LoadedTfjs, Tf } from './backend.js';
import { fromTfTensor, smkitDTypeOf, toTfTensor } from './convert.js';

/** One declared model input as TF.js sees it. */
export interface TfInputSpec {
  /** Name clients use (signature key, or the input layer's name). */
  readonly name: string;
  readonly dtype: TfDType;
  /** Declared shape; -1 for dynamic dimensions; undefined when the model does not say. */
  readonly shape?: readonly number[];
}

/** Runs one kind of TF.js model on TF.js tensors. Implemented for layers, graph and saved models. */
export interface TfExecutor {
  readonly inputs: readonly TfInputSpec[];
  /** Output names (signature keys, or output layer names) with their declared shapes. */
  readonly outputs: readonly TensorSpec[];
  /** The SavedModel signature being served, when the model has signatures. */
  readonly signature?: string;
  /** Runs the model. `inputs` follow {@link TfExecutor.inputs}' order; returns new tensors the caller disposes. */
  run(inputs: TfTensor[]): Promise<TfTensor[]>;
  dispose(): void;
}

/** Maps a TF.js/Keras shape (null for dynamic) to smkit's (-1). */
export function specShape(shape: readonly (number | null | undefined)[] | undefined): number[] | undefined {
  return shape?.map((d) => (d === null || d === undefined || d < 0 ? -1 : d));
}

function describe(shape: readonly (number | string)[]): string {
  return `[${shape.map((d) => (d === -1 ? '?' : d)).join(', ')}]`;
}

/** Binds request tensors to the model's inputs by name; a single unnamed tensor binds to a single-input model. */
export function bindInputs(inputs: TensorMap, specs: readonly TfInputSpec[]): Tensor[] {
  const names = Object.keys(inputs);
  const expected = specs.map((s) => s.name);
  if (specs.length === 1 && names.length === 1) {
    const only = names[0]!;
    if (only === UNNAMED || only === specs[0]!.name) return [inputs[only]!];
  }
  const unknown = names.filter((n) => !expected.includes(n));
  const missing = expected.filter((n) => !Object.hasOwn(inputs, n));
  if (unknown.length > 0 || missing.length > 0) {
    const got = quotedNames(names.map((n) => (n === UNNAMED ? '(unnamed)' : n))) || 'nothing';
    throw new ToolkitError(
      'ERR_INPUT_MISMATCH',
      `the model's inputs are ${expected.join(', ')}; the request sent ${got}` +
        (specs.length > 1 ? ' (name every input, for example with the v2 or {"inputs": {...}} JSON forms)' : ''),
    );
  }
  return specs.map((s) => inputs[s.name]!);
}

function checkShape(t: Tensor, spec: TfInputSpec): void {
  if (!spec.shape) return;
  const ok = t.shape.length === spec.shape.length && spec.shape.every((d, i) => d === -1 || d === t.shape[i]);
  if (!ok) {
    throw new ToolkitError(
      'ERR_INPUT_MISMATCH',
      `input "${spec.name}" has shape ${describe(t.shape)} but the model expects ${describe(spec.shape)} (? = any size)`,
    );
  }
}

/**
 * TF.js's bounds check on gather (embeddings, lookups), in backend-cpu's and backend-wasm's
 * GatherV2 kernels: the client's 400 only when the index is a value the request sent (see
 * {@link requestSent}), else the model's own bug.
 */
const GATHER_INDEX = /^GatherV2: the index value (-?\d+) is not in \[0, (-?\d+)\]/;

/**
 * Whether a request tensor holds `index` (or a fraction TF.js truncates to it): an index the model
 * computed itself, from its constants or weights, is not the client's to fix.
 */
function requestSent(inputs: readonly Tensor[], index: number): boolean {
  return inputs.some((t) => t.dtype !== 'string' && t.dtype !== 'float16' && Array.prototype.some.call(t.data, (v: number | bigint) => Math.trunc(Number(v)) === index));
}

/** A loaded TF.js model behind smkit's runtime contract: smkit tensors in, smkit tensors out, nothing leaked. */
export class TfjsModelRuntime implements ModelRuntime {
  readonly name = 'tfjs';
  readonly backend: string;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** The SavedModel signature being served (what TF Serving clients name in `signature_name`). */
  readonly signature?: string;
  readonly #tf: Tf;
  readonly #executor: TfExecutor;

  constructor(loaded: LoadedTfjs, executor: TfExecutor) {
    this.#tf = loaded.tf;
    this.backend = loaded.backend;
    this.#executor = executor;
    this.inputs = executor.inputs.map((s) => ({ name: s.name, dtype: smkitDTypeOf(s.dtype), shape: s.shape ?? [] }));
    this.outputs = executor.outputs;
    if (executor.signature !== undefined) this.signature = executor.signature;
  }

  async predict(inputs: TensorMap): Promise<TensorMap> {
    const bound = bindInputs(inputs, this.#executor.inputs);
    const fed: TfTensor[] = [];
    let outs: TfTensor[] = [];
    try {
      this.#executor.inputs.forEach((spec, i) => {
        const t = bound[i]!;
        checkShape(t, spec);
        fed.push(toTfTensor(this.#tf, t, spec.dtype, spec.name));
      });
      try {
        outs = await this.#executor.run(fed);
      } catch (err) {
        if (isToolkitError(err)) throw err;
        const index = GATHER_INDEX.exec((err as Error).message);
        if (index && requestSent(bound, Number(index[1]))) {
          throw new ToolkitError(
            'ERR_INPUT_VALUE',
            `a request value ${index[1]} indexes a table in the model (an embedding or lookup) that has ${Number(index[2]) + 1} rows; send indices from 0 to ${index[2]}`,
            { cause: err, details: { index: Number(index[1]) } },
          );
        }
        throw new ToolkitError('ERR_PREDICT', `TF.js failed to run the model: ${(err as Error).message}`, { cause: err });
      }
      const result: TensorMap = {};
      const specs = this.#executor.outputs;
      for (let i = 0; i < outs.length; i++) {
        result[specs[i]?.name ?? `output_${i}`] = await fromTfTensor(outs[i]!);
      }
      return result;
    } finally {
      for (const t of fed) t.dispose();
      for (const t of outs) t.dispose();
    }
  }

  async dispose(): Promise<void> {
    this.#executor.dispose();
  }
}

/** Converts whatever a TF.js model returned (tensor, array, or map by name) into tensors in `order`. */
export function orderOutputs(result: TfTensor | TfTensor[] | NamedTensorMap, order: readonly string[]): TfTensor[] {
  if (Array.isArray(result)) return result;
  if (typeof (result as TfTensor).dataSync === 'function') return [result as TfTensor];
  const map = result as NamedTensorMap;
  const out = order.map((n) => map[n]).filter((t): t is TfTensor => t !== undefined);
  // Release anything the model returned that we do not pass on.
  for (const [k, t] of Object.entries(map)) if (!order.includes(k)) t.dispose();
  return out;
}
