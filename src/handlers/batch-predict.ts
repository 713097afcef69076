import { ToolkitError } from '../errors/catalogue.js';
import { valueKind, withArticle } from '../errors/excerpt.js';
import { cancellationOf } from '../core/cancellation.js';
import type { InvocationContext, Logger } from '../core/context.js';
import { AdaptiveBatcher, type BatchObserver } from '../batching/adaptive-batcher.js';
import { batchFailureLogger, batchingPauseLogger } from '../batching/batch-failure-log.js';
import type { BatchingOptions } from '../batching/batching-options.js';
import type { PredictBatchFn } from './user-module.js';
import type { Tensor, TensorMap } from '../core/tensor.js';
import { isTensorMap, setTensor } from '../codecs/tensor-map.js';

/** Runs a handler's `predictBatchFn` on concurrent requests together. */
export interface BatchPredictor {
  /** The most requests one call takes. */
  readonly maxSize: number;
  /** The prediction for one request, computed in a batch with whatever else is waiting. */
  predict(input: unknown, ctx: InvocationContext): Promise<unknown>;
}

interface Call {
  readonly input: unknown;
  readonly ctx: InvocationContext;
}

/** What `predictBatchFn` returned instead of an array of predictions, for its error: `null`, `a Float32Array of 3: ...`, `an object`. */
function returnedKind(out: unknown): string {
  if (Array.isArray(out)) return `${out.length} items`;
  if (ArrayBuffer.isView(out) && 'length' in out) return `${withArticle(out.constructor.name)} of ${String(out.length)}: return a plain array (Array.from)`;
  return valueKind(out);
}

async function callUser(fn: PredictBatchFn, name: string, model: unknown, calls: readonly Call[]): Promise<unknown[]> {
  const out = await fn(
    calls.map((c) => c.input),
    model,
    calls.map((c) => c.ctx),
  );
  if (!Array.isArray(out) || out.length !== calls.length) {
    throw new ToolkitError('ERR_USER_CODE', `${name} must return an array with one prediction per input (${calls.length}), got ${returnedKind(out)}`);
  }
  // Each prediction read here, as user code's: one that throws when read (a getter, a Proxy) fails
  // the batch, retried one by one, instead of leaving the requests from it on unanswered. By index,
  // as the length was checked: an array's own iterator could yield another count.
  const predictions: unknown[] = new Array(calls.length);
  for (let i = 0; i < calls.length; i++) predictions[i] = out[i];
  return predictions;
}

/**
 * What a batched call of `predictBatchFn` gets for `input`: a request smkit decoded (`{ tensors,
 * form }`) with its tensors copied, so a handler that changes them in place (normalising, say) and
 * then throws leaves the requests as they came for their one-by-one retries. What `inputFn` made is
 * passed as it is: smkit cannot copy any value.
 */
function forBatch(input: unknown): unknown {
  if (typeof input !== 'object' || input === null || !('form' in input) || !('tensors' in input) || !isTensorMap(input.tensors)) return input;
  const tensors: TensorMap = {};
  for (const [name, t] of Object.entries(input.tensors)) setTensor(tensors, name, { dtype: t.dtype, shape: [...t.shape], data: t.data.slice() } as Tensor);
  return { ...input, tensors };
}

/**
 * Runs a batched call of several requests with each context's `setCustomAttributes` held until the
 * call succeeds: a call that fails is retried one by one, and the attributes it set must not reach
 * the answers of those retries (they described a run that failed). The contexts stay the objects
 * the request's other hooks get (user code may key a map by them): their setter is swapped for the
 * call, then put back. A value the context refuses fails its own request alone, as its retry alone would.
 */
async function callBatched(fn: PredictBatchFn, name: string, model: unknown, calls: readonly Call[]): Promise<unknown[]> {
  type Settable = { setCustomAttributes: (value: string) => void };
  const held: { value: string }[] = new Array(calls.length);
  const setters = calls.map(({ ctx }, i) => {
    const own = ctx.setCustomAttributes;
    (ctx as Settable).setCustomAttributes = (value: string) => void (held[i] = { value });
    return own;
  });
  let predictions: unknown[];
  try {
    predictions = await callUser(
      fn,
      name,
      model,
      calls.map((c) => ({ input: forBatch(c.input), ctx: c.ctx })),
    );
  } finally {
    calls.forEach(({ ctx }, i) => ((ctx as Settable).setCustomAttributes = setters[i]!));
  }
  for (let i = 0; i < calls.length; i++) {
    if (held[i] === undefined) continue;
    try {
      calls[i]!.ctx.setCustomAttributes(held[i]!.value);
    } catch (err) {
      predictions[i] = err instanceof Error ? err : new ToolkitError('ERR_USER_CODE', String(err));
    }
  }
  return predictions;
}

/**
 * Batches a handler's `predictBatchFn`: every request may join (the handler decides what to do
 * with mixed inputs). With batching off (`maxSize` 1) each call gets one-element arrays. An `Error`
 * returned in a request's place fails that request alone; a throw fails the batch, whose requests
 * are then retried one by one, the failed call logged once to `log` when it is given. `name` is the hook's name as the module exports it (`predict_batch_fn`), for errors and that line.
 */
export function createBatchPredictor(fn: PredictBatchFn, model: unknown, options: BatchingOptions, observe?: BatchObserver, name = 'predictBatchFn', log?: Logger): BatchPredictor {
  const batcher = new AdaptiveBatcher<Call, unknown>(
    {
      keyOf: () => 'all',
      runBatch: (calls) => callBatched(fn, name, model, calls),
      runOne: async (call) => (await callUser(fn, name, model, [call]))[0],
      ...(log ? { batchFailed: batchFailureLogger(log, name, 'ERR_USER_CODE'), batchingPaused: batchingPauseLogger(log, name) } : {}),
    },
    options,
    observe,
  );
  return {
    maxSize: options.maxSize,
    async predict(input, ctx) {
      const result = await batcher.submit({ input, ctx }, cancellationOf(ctx));
      if (result instanceof Error) throw result;
      return result;
    },
  };
}
