/**
 * Joining several requests' tensors along the first (batch) axis and splitting a model's outputs
 * back, for {@link AdaptiveBatcher} runs of a model.
 */
import { allocate, holdsOwnStorage, type Tensor, type TensorData, type TensorMap } from '../core/tensor.js';
import { setTensor } from '../codecs/tensor-map.js';

/**
 * The batch key of a request's inputs: names, dtypes and every dimension but the first. Requests
 * with equal keys can be concatenated. Undefined when the inputs cannot join a batch (no inputs, a
 * scalar, inputs that disagree on their row count, or data in another array than its dtype's: user
 * code's `float32` tensor of `Uint8Array` pixels, which concatenating would convert, so that the
 * request got a model's answer in a batch and ONNX Runtime's refusal alone).
 */
export function batchKey(inputs: TensorMap): string | undefined {
  const names = Object.keys(inputs);
  if (names.length === 0) return undefined;
  if (names.length > 1) names.sort();
  let rows = -1;
  let key = '';
  for (const name of names) {
    const t = inputs[name]!;
    if (t.shape.length === 0 || !holdsOwnStorage(t)) return undefined;
    if (rows === -1) rows = t.shape[0]!;
    else if (t.shape[0] !== rows) return undefined;
    key += `${JSON.stringify(name)}:${t.dtype}[${t.shape.slice(1).join(',')}];`;
  }
  return rows > 0 ? key : undefined;
}

/** Rows of a request (the first dimension of its inputs); callers check {@link batchKey} first. */
export function rowsOf(inputs: TensorMap): number {
  for (const name in inputs) return inputs[name]!.shape[0]!;
  return 0;
}

function concatData(parts: readonly Tensor[], total: number): TensorData {
  const first = parts[0]!;
  if (first.dtype === 'string') return parts.flatMap((p) => p.data as string[]);
  const out = allocate(first.dtype, total) as Exclude<TensorData, string[]>;
  let offset = 0;
  for (const p of parts) {
    (out as Float32Array).set(p.data as Float32Array, offset);
    offset += p.data.length;
  }
  return out;
}

/** Concatenates requests with equal {@link batchKey}s along the first axis. */
export function concatInputs(requests: readonly TensorMap[]): TensorMap {
  const out: TensorMap = {};
  for (const name of Object.keys(requests[0]!)) {
    const parts = requests.map((r) => r[name]!);
    let rows = 0;
    let total = 0;
    for (const p of parts) {
      rows += p.shape[0]!;
      total += p.data.length;
    }
    setTensor(out, name, { dtype: parts[0]!.dtype, shape: [rows, ...parts[0]!.shape.slice(1)], data: concatData(parts, total) });
  }
  return out;
}

/**
 * `TypedArray.prototype.slice`, a copy whatever the array's class: a Node `Buffer` (which a runtime
 * may return as `uint8` data) has a `slice` of its own that makes a view.
 */
const typedArraySlice = (Object.getPrototypeOf(Uint8Array.prototype) as { slice: (this: unknown, start: number, end: number) => unknown }).slice;

/** Thrown when a model's outputs do not keep the batch axis, so a batch cannot be split back. */
export class UnsplittableBatchError extends Error {}

/**
 * Splits a batched run's outputs into one map per request, by the requests' row counts. Every
 * output must have the batch's total rows first.
 *
 * Each request's slice is a copy that owns its whole buffer, as a model's output for the request
 * alone does: user code reads a typed array's bytes as `Buffer.from(data.buffer)` (or passes
 * `data.buffer` on), which on a view into the batch's output would be every request's rows, other
 * clients' answers included. The copy costs about 40 ns a request for an output of 16 floats (a
 * memcpy of the output beside the run that made it).
 */
export function splitOutputs(outputs: TensorMap, rows: readonly number[]): TensorMap[] {
  const total = rows.reduce((a, b) => a + b, 0);
  const result: TensorMap[] = rows.map(() => ({}));
  for (const [name, t] of Object.entries(outputs)) {
    if (t.shape.length === 0 || t.shape[0] !== total) {
      throw new UnsplittableBatchError(
        `output "${name}" has shape [${t.shape.join(', ')}], not the batch's ${total} rows first: the model does not answer one row per input row, so its requests are not batched together from now on`,
      );
    }
    const rowSize = total === 0 ? 0 : t.data.length / total;
    let start = 0;
    rows.forEach((r, i) => {
      const end = start + r * rowSize;
      // A copy for every request, an output with no elements too (views of the empty one would each
      // span all of it, so the inference thread would move it with the first answer, leaving the
      // others' detached).
      const data = (Array.isArray(t.data) ? t.data.slice(start, end) : typedArraySlice.call(t.data, start, end)) as TensorData;
      setTensor(result[i]!, name, { dtype: t.dtype, shape: [r, ...t.shape.slice(1)], data });
      start = end;
    });
  }
  return result;
}
