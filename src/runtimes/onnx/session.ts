import { createRequire } from 'node:module';
import type * as ort from 'onnxruntime-node';
import { readlink, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { ToolkitError } from '../../errors/catalogue.js';
import { UNNAMED, type DType, type Tensor, type TensorMap } from '../../core/tensor.js';
import { convertExact } from '../../core/dtype-convert.js';
import { excerpt, quotedNames } from '../../errors/excerpt.js';
import type { ModelRuntime, RuntimeOptions, TensorSpec } from '../runtime.js';
import { inspectGpus, type GpuInventory } from '../../devices/gpus.js';
import { selectOnnxProviders, type OnnxProvider } from '../../devices/select.js';
import { onnxProviderLibraryPresent, usableOnnxProviders } from '../../devices/onnx-providers.js';
import { float16Feed } from './float16-bits.js';
import { float16Bits } from '../../core/float16.js';
import { putOwn } from '../../core/own-property.js';
import { defaultOnnxRuntimeTelemetryOff } from '../../config/onnx-runtime-telemetry.js';

/**
 * ONNX Runtime, required rather than imported: Node's `import` of a CommonJS package first lexes its
 * files for their export names (cjs-module-lexer), which cost each worker about 14 ms more CPU at
 * start than `require` (46 against 32 ms, Node 20). `ort` names its types.
 */
const onnx = createRequire(import.meta.url)('onnxruntime-node') as typeof ort;

const NO_GPUS: GpuInventory = { source: 'none', physical: [], visible: [], notes: [] };

const ORT_TO_DTYPE: Record<string, DType> = {
  float32: 'float32',
  float64: 'float64',
  float16: 'float16',
  int8: 'int8',
  uint8: 'uint8',
  int16: 'int16',
  uint16: 'uint16',
  int32: 'int32',
  uint32: 'uint32',
  int64: 'int64',
  uint64: 'uint64',
  bool: 'bool',
  string: 'string',
};

function specsOf(metadata: readonly ort.InferenceSession.ValueMetadata[], names: readonly string[]): TensorSpec[] {
  return names.map((name, i) => {
    const m = metadata[i];
    if (m && m.isTensor) return { name, dtype: ORT_TO_DTYPE[m.type] ?? 'float32', shape: [...m.shape] };
    return { name, dtype: 'float32', shape: [] };
  });
}

/**
 * What a model input or output is when smkit cannot exchange it with onnxruntime-node, else
 * undefined: a sequence or a map (the binding takes and returns tensors only), or a tensor of an
 * element type smkit has no dtype for. Of those, the binding fails a run that would return an int4
 * or uint4 tensor with a fatal "process out of memory" (its OrtValueToNapiValue), ending the process.
 */
function unsupportedKind(m: ort.InferenceSession.ValueMetadata | undefined): string | undefined {
  if (!m) return undefined;
  if (!m.isTensor) return 'sequence or map';
  return Object.hasOwn(ORT_TO_DTYPE, m.type) ? undefined : `${m.type} tensor`;
}

/** The model's inputs or outputs smkit cannot exchange with onnxruntime-node, each with why (see {@link unsupportedKind}). */
function unsupported(metadata: readonly ort.InferenceSession.ValueMetadata[], names: readonly string[]): { name: string; kind: string }[] {
  return names.flatMap((name, i) => {
    const kind = unsupportedKind(metadata[i]);
    return kind === undefined ? [] : [{ name, kind }];
  });
}

/** `"a" (sequence or map), "b" (int4 tensor)`. */
function listed(values: readonly { name: string; kind: string }[]): string {
  return values
    .slice(0, 10)
    .map((v) => `${quotedNames([v.name])} (${v.kind})`)
    .join(', ') + (values.length > 10 ? ` and ${values.length - 10} more` : '');
}

/** The largest dimension onnxruntime-node takes (its binding refuses more: "Tensor.dims[i] is invalid"). */
const MAX_ORT_DIMENSION = 4294967295;

/**
 * The index of the dimension at which the product of `shape`'s dimensions, taken in order, passes
 * 2^63 - 1 before any 0, or -1. ONNX Runtime counts a tensor's elements so, in a checked int64
 * (SafeInt): an empty tensor of shape [3037000500, 3037000500, 0] failed in it as a 500, where
 * [0, 3037000500, 3037000500] is answered. Only an empty tensor can get there (a budget of
 * SMKIT_MAX_DECODED_MB counts its zero dimensions as 1, so only a large one, or none, lets it in).
 */
function countPastInt64(shape: readonly number[]): number {
  let product = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i]!;
    if (d === 0) return -1;
    product *= d;
    // Exact where a double may have rounded the product.
    if (product >= 2 ** 62 && shape.slice(0, i + 1).reduce((p, x) => p * BigInt(x), 1n) > 2n ** 63n - 1n) return i;
  }
  return -1;
}

/** Checks rank and fixed dimensions up front so clients get a 400 naming the input, not an ORT trace. */
function checkShape(spec: TensorSpec, t: Tensor): void {
  // Only an empty tensor can have one (a shape such as [0, 2^32] holds no value; a budget of
  // SMKIT_MAX_DECODED_MB past 4 GB, or none, lets it through): ONNX Runtime's refusal was a 500.
  const big = t.shape.findIndex((d) => d > MAX_ORT_DIMENSION);
  if (big !== -1) {
    throw new ToolkitError(
      'ERR_INPUT_MISMATCH',
      `input "${spec.name}" has shape [${t.shape.join(', ')}]: dimension ${big} is ${t.shape[big]}, more than the ${MAX_ORT_DIMENSION} ONNX Runtime takes`,
    );
  }
  const past = countPastInt64(t.shape);
  if (past !== -1) {
    throw new ToolkitError(
      'ERR_INPUT_MISMATCH',
      `input "${spec.name}" has shape [${t.shape.join(', ')}]: the product of dimensions 0 to ${past} is past 2^63 - 1, more than ONNX Runtime can count (it multiplies the dimensions in order up to the first 0); send smaller dimensions`,
    );
  }
  if (spec.shape.length === 0) return;
  const fail = () =>
    new ToolkitError(
      'ERR_INPUT_MISMATCH',
      `input "${spec.name}" has shape [${t.shape.join(', ')}] but the model expects [${spec.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : '?')).join(', ')}]`,
    );
  if (spec.shape.length !== t.shape.length) throw fail();
  spec.shape.forEach((d, i) => {
    if (typeof d === 'number' && d > 0 && t.shape[i] !== d) throw fail();
  });
}

class OnnxModel implements ModelRuntime {
  readonly name = 'onnx';
  readonly inputs: readonly TensorSpec[];
  /** The model's tensor outputs, the ones {@link OnnxModel.predict} answers. */
  readonly outputs: readonly TensorSpec[];
  /**
   * The outputs to ask ONNX Runtime for when it cannot return some (see {@link unsupportedKind}),
   * else undefined (all of them). Its Node binding fails a run that would return a sequence or a
   * map ("Non tensor type is temporarily not supported"), as a scikit-learn classifier converted by
   * skl2onnx returns (ZipMap's `output_probability`, beside the `output_label` tensor).
   */
  readonly #fetches: readonly string[] | undefined;

  /** `skipped`: the outputs ONNX Runtime cannot return, as {@link unsupported} found them at load. */
  constructor(
    private readonly session: ort.InferenceSession,
    readonly backend: string,
    skipped: ReadonlySet<string>,
  ) {
    this.inputs = specsOf(session.inputMetadata, session.inputNames);
    this.outputs = specsOf(session.outputMetadata, session.outputNames).filter((s) => !skipped.has(s.name));
    this.#fetches = skipped.size > 0 ? this.outputs.map((s) => s.name) : undefined;
  }

  /** Binds request tensors to model inputs: by name, or a lone unnamed tensor to a lone input. */
  private bind(inputs: TensorMap): Record<string, Tensor> {
    const names = Object.keys(inputs);
    if (names.length === 1 && names[0] === UNNAMED) {
      if (this.inputs.length !== 1) {
        throw new ToolkitError(
          'ERR_INPUT_MISMATCH',
          `the model has ${this.inputs.length} inputs (${this.inputs.map((s) => s.name).join(', ')}); send them by name (TF Serving "inputs" object, v2 "inputs" list, or NPZ)`,
        );
      }
      return { [this.inputs[0]!.name]: inputs[UNNAMED]! };
    }
    const unknown = names.filter((n) => !this.inputs.some((s) => s.name === n));
    const missing = this.inputs.filter((s) => !Object.hasOwn(inputs, s.name)).map((s) => s.name);
    if (unknown.length > 0 || missing.length > 0) {
      const parts = [];
      if (missing.length) parts.push(`missing ${quotedNames(missing)}`);
      if (unknown.length) parts.push(`unknown ${quotedNames(unknown.map((n) => n || '(unnamed)'))}`);
      throw new ToolkitError('ERR_INPUT_MISMATCH', `inputs do not match the model: ${parts.join('; ')}; the model takes ${this.inputs.map((s) => s.name).join(', ')}`);
    }
    return inputs;
  }

  async predict(inputs: TensorMap): Promise<TensorMap> {
    const bound = this.bind(inputs);
    const feeds: Record<string, ort.Tensor> = {};
    for (const spec of this.inputs) {
      checkShape(spec, bound[spec.name]!);
      const t = convertExact(bound[spec.name]!, spec.dtype, `input "${spec.name}"`);
      if (t.dtype === 'string') refuseUnfeedable(t.data as string[], spec.name);
      putOwn(
        feeds,
        spec.name,
        t.dtype === 'float16' ? float16Feed(float16Bits(t.data as Uint16Array), t.shape) : new onnx.Tensor(spec.dtype as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.shape),
      );
    }
    let results: ort.InferenceSession.OnnxValueMapType;
    try {
      results = await (this.#fetches ? this.session.run(feeds, this.#fetches) : this.session.run(feeds));
    } catch (err) {
      throw new ToolkitError('ERR_PREDICT', `ONNX Runtime failed: ${(err as Error).message}`, { cause: err });
    }
    // An ordinary object, as user hooks expect of named tensors.
    const out: TensorMap = {};
    for (const spec of this.outputs) {
      const r = results[spec.name] as ort.Tensor | undefined;
      if (!r) continue;
      const data = r.type === 'float16' ? float16Bits(r.data as Uint16Array) : (r.data as Tensor['data']);
      putOwn<Tensor>(out, spec.name, { dtype: ORT_TO_DTYPE[r.type] ?? spec.dtype, shape: [...r.dims], data });
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** A UTF-16 surrogate without its other half. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Refuses a string element ONNX Runtime would change without a word, instead of answering on it:
 * string inputs are copied as C strings, so an element ends at its first NUL and the rest is
 * dropped; and they are passed as UTF-8, which cannot hold a lone surrogate (JSON's `"\ud800"`), so
 * one would arrive as U+FFFD.
 */
function refuseUnfeedable(strings: readonly string[], input: string): void {
  for (let i = 0; i < strings.length; i++) {
    const s = strings[i]!;
    const nul = s.indexOf('\u0000');
    const lone = LONE_SURROGATE.exec(s)?.index ?? -1;
    if (nul < 0 && lone < 0) continue;
    const why =
      nul >= 0 && (lone < 0 || nul < lone)
        ? `takes strings without NUL characters: element ${i} holds one at character ${nul}, where ONNX Runtime's string would end, dropping the rest; remove it (for bytes, use a uint8 input)`
        : `takes text UTF-8 can hold: element ${i} holds a lone UTF-16 surrogate (\\u${s.charCodeAt(lone).toString(16)}) at character ${lone}, which would reach the model as U+FFFD; send whole characters`;
    throw new ToolkitError('ERR_INPUT_VALUE', `input "${input}" ${why}`, { details: { input: `input "${input}"`, dtype: 'string', element: i } });
  }
}

/**
 * What is wrong with the model file itself, said so that it can be fixed; undefined for a regular
 * file that is there and not empty (then ONNX Runtime's own message says more). ONNX Runtime says
 * "system error number 40" for a loop of symbolic links, "ModelProto does not have a graph" for an
 * empty file, "File doesn't exist" for a link to nothing, and never returns for a FIFO.
 */
async function modelFileProblem(modelPath: string): Promise<string | undefined> {
  let stats: Stats;
  try {
    stats = await stat(modelPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return 'it is a symbolic link that leads back to itself (a loop of links, ELOOP); point it at the model file';
    if (code === 'ENOENT') {
      const target = await readlink(modelPath).catch(() => undefined);
      return target === undefined ? 'the file does not exist (it was removed while the model loaded)' : `it is a symbolic link to ${excerpt(target, 200)}, which does not exist; point it at the model file, or copy the file there`;
    }
    if (code === 'EACCES') return 'the server may not read it (permission denied); make it readable by the user the server runs as';
    return undefined;
  }
  if (stats.isDirectory()) return 'it is a directory, not an ONNX file; put the model file there (a model with external data keeps its .onnx file beside the data files)';
  if (!stats.isFile()) return 'it is not a regular file (a FIFO, a device or a socket), which ONNX Runtime would wait on or read without end; put the model file there';
  if (stats.size === 0) return 'the file is empty (0 bytes): it was not written completely; export or copy the model again';
  return undefined;
}

/** The device-selection warnings this thread has logged ({@link loadOnnxModel}): each is said once. */
const selectionWarned = new Set<string>();

/** Loads an ONNX model with the execution providers the settings ask for, falling back to CPU. */
export async function loadOnnxModel(modelPath: string, options: RuntimeOptions): Promise<ModelRuntime> {
  // For code that loads models without the CLI, which has set it already. (In a worker thread this
  // writes the thread's copy of the environment only: InferenceWorker sets it before it starts one.)
  defaultOnnxRuntimeTelemetryOff();
  const supported = usableOnnxProviders(onnx.listSupportedBackends(), onnxProviderLibraryPresent);
  // Only probe for GPUs (nvidia-smi) when something other than the CPU was asked for.
  const inventory = options.devices.some((d) => d !== 'cpu') ? inspectGpus() : NO_GPUS;
  const choice = selectOnnxProviders({ requested: options.devices, supported, workerIndex: options.workerIndex, inventory, ...(options.workers !== undefined ? { workers: options.workers } : {}) });
  // What the selection says is the same for every worker (the machine's GPUs, this build, the
  // settings): warned once, by worker 0, not once per worker (48 lines on a 48-vCPU instance); the
  // others note it at debug. What fails as a session starts (below) is the worker's own, warned by each.
  // And once, not at each model worker 0 loads (every model of a multi-model endpoint, each load
  // after an eviction): the rest are noted at debug too.
  for (const warning of choice.warnings) {
    const first = options.workerIndex === 0 && !selectionWarned.has(warning);
    if (first) selectionWarned.add(warning);
    (first ? options.log.warn : options.log.debug).call(options.log, { runtime: 'onnx', model: modelPath }, warning);
  }
  // Checked before ONNX Runtime opens it: it reads the file on the event loop, so a FIFO would hold
  // the process for good (no /ping answered) and a device such as /dev/zero would fill its memory.
  const problem = await modelFileProblem(modelPath);
  if (problem) throw new ToolkitError('ERR_MODEL_LOAD', `cannot load ONNX model ${modelPath}: ${problem}`);
  const { session, label } = await createSessionFallingBack(
    (providers) =>
      onnx.InferenceSession.create(modelPath, {
        executionProviders: providers as ort.InferenceSession.ExecutionProviderConfig[],
        intraOpNumThreads: options.intraOpThreads > 0 ? options.intraOpThreads : undefined,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
      }),
    choice.providers,
    (warning) => options.log.warn({ runtime: 'onnx', model: modelPath }, warning),
  ).catch((err: unknown) => {
    throw new ToolkitError('ERR_MODEL_LOAD', `cannot load ONNX model ${modelPath}: ${(err as Error).message}`, { cause: err });
  });
  // Such an input would fail every request ("expected to be of type: 3 but received a tensor").
  const unfeedable = unsupported(session.inputMetadata, session.inputNames);
  if (unfeedable.length > 0) {
    await session.release();
    throw new ToolkitError(
      'ERR_MODEL_LOAD',
      `cannot load ONNX model ${modelPath}: onnxruntime-node cannot feed the model's inputs ${listed(unfeedable)}; export it with tensor inputs of the types smkit feeds (bool, int8 to int64, uint8 to uint64, float16, float32, float64, string; for a scikit-learn DictVectorizer, vectorize before the model)`,
    );
  }
  const skipped = unsupported(session.outputMetadata, session.outputNames);
  if (skipped.length > 0 && skipped.length === session.outputNames.length) {
    await session.release();
    throw new ToolkitError(
      'ERR_MODEL_LOAD',
      `cannot load ONNX model ${modelPath}: onnxruntime-node cannot return any of its outputs, ${listed(skipped)}; export it with tensor outputs of the types smkit takes (for skl2onnx, options={'zipmap': False})`,
    );
  }
  if (skipped.length > 0) {
    options.log.warn(
      { runtime: 'onnx', model: modelPath, outputs: skipped.map((o) => o.name) },
      `onnxruntime-node cannot return the model's outputs ${listed(skipped)}: they are left out of every answer (for skl2onnx's ZipMap probabilities, export with options={'zipmap': False} to have them as a tensor)`,
    );
  }
  const model = new OnnxModel(session, label, new Set(skipped.map((o) => o.name)));
  // The outputs it answers: those left out were named in the warning above.
  options.log.info({ runtime: 'onnx', model: modelPath, backend: label, inputs: session.inputNames, outputs: model.outputs.map((s) => s.name) }, 'ONNX model loaded');
  return model;
}

const providerLabel = (p: OnnxProvider): string => (p === 'cpu' ? 'cpu' : `${p.name}:${p.deviceId}`);

/**
 * Creates a session with `providers`, best first; while that fails with a GPU provider first, tries
 * again without it. ONNX Runtime's Node binding does not fall back by itself (Python's
 * `InferenceSession` does): a CUDA provider library that cannot load (a cuDNN or driver the host
 * lacks) fails the session, "OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared
 * library", where smkit promises CPU with a warning. Each failure is told to `warn` once a later
 * attempt succeeds; when none does, the last attempt's error (CPU's) is thrown alone: it says what
 * is wrong with the model itself, which the GPU attempts failed on too.
 */
export async function createSessionFallingBack<S>(
  create: (providers: readonly OnnxProvider[]) => Promise<S>,
  providers: readonly OnnxProvider[],
  warn: (message: string) => void,
): Promise<{ session: S; label: string }> {
  const failures: string[] = [];
  for (let first = 0; ; first++) {
    const tried = providers.slice(first);
    try {
      const session = await create(tried);
      for (const failure of failures) warn(failure);
      return { session, label: providerLabel(tried[0] ?? 'cpu') };
    } catch (err) {
      if (tried.length <= 1) throw err;
      failures.push(`ONNX Runtime could not start the ${providerLabel(tried[0]!)} execution provider (${excerpt((err as Error)?.message ?? String(err), 300)}); trying ${providerLabel(tried[1]!)}`);
    }
  }
}
