import { ToolkitError, isToolkitError } from '../errors/catalogue.js';
import { excerpt, thrownMessage, valueKind } from '../errors/excerpt.js';
import type { InvocationContext, Logger, SageMakerHeaders } from '../core/context.js';
import { EngineContext } from './invocation-context.js';
import type { Cancellation } from '../core/cancellation.js';
import { UNNAMED, checkInputStorage, checkTensorStorage, withFloat16Bits, type TensorMap } from '../core/tensor.js';
import { float64ToFloat32 } from '../core/dtype-convert.js';
import type { DecodeHints, DecodedRequest, TypedBody } from '../codecs/codec.js';
import type { CodecRegistry } from '../codecs/registry.js';
import type { FormPart } from '../codecs/multipart.js';
import type { ModelRuntime, RuntimeOptions } from '../runtimes/runtime.js';
import { customStepModules, readPipelineFile } from '../pipeline/pipeline-file.js';
import { Pipeline, buildDefaultPipeline, buildPipeline } from '../pipeline/pipeline.js';
import { isTensor, isTensorMap, setTensor } from '../codecs/tensor-map.js';
import { stepDataWithFloat16Bits, type StepData } from '../pipeline/step.js';
import { hookName, loadHandlerHooks, type HandlerHooks, type HookKey, type LoadContext } from './user-module.js';
import type { EngineRegistries } from './registries.js';
import { createDefaultRuntimes } from '../runtimes/defaults.js';
import type { BatchRun } from '../batching/adaptive-batcher.js';
import { maxBatchSizeOf, NO_BATCHING, type BatchingOptions } from '../batching/batching-options.js';
import type { BatchPredictor } from './batch-predict.js';
import type { SessionRef } from '../sessions/session-store.js';
import type { BidiFrame, BidiRequest } from '../core/bidi-frame.js';
import { bytesOf } from './chunk-bytes.js';
import { valueToJson } from '../codecs/json-write.js';
import { retryingLoad } from '../core/retrying-load.js';

/** What the engine needs to load a model; a transport-free subset of the settings. */
export interface EngineOptions {
  readonly modelDir: string;
  /** Directory of the handler module and custom steps (the model's `code/`, or its writable copy). */
  readonly codeDir: string;
  /** `SAGEMAKER_PROGRAM` without extension. */
  readonly program: string;
  /** `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`. */
  readonly defaultAccept: string;
  readonly runtime: Omit<RuntimeOptions, 'log'>;
  /** Dynamic batching (`SMKIT_BATCH_MAX_SIZE`, `SMKIT_BATCH_MAX_DELAY_MS`); off when absent. */
  readonly batching?: BatchingOptions;
  readonly log: Logger;
  /** `SMKIT_MAX_DECODED_MB` in bytes: the most one request's decoded inputs may take. @defaultValue unbounded */
  readonly maxDecodedBytes?: number;
  /** Told of every batched run (a predict step's name, or `predictBatchFn`), for `/metrics`. */
  readonly observeBatch?: (step: string, run: BatchRun) => void;
  /**
   * Codecs, runtimes and step kinds to use; smkit's defaults when absent (built-in step kinds are
   * loaded only for a pipeline file, built-in codecs once the model is ready or at the first invocation).
   */
  readonly registries?: EngineRegistries;
}

/** The parts of {@link EngineOptions} that can cross a thread boundary (no functions, no registries). */
export type EngineData = Omit<EngineOptions, 'log' | 'observeBatch' | 'registries'>;

/** One invocation, as the HTTP front hands it over. */
export interface InvocationRequest {
  readonly requestId: string;
  readonly body: Buffer;
  /** `Content-Type` as sent; missing means `application/json` (the legacy SageMaker container default). */
  readonly contentType?: string;
  /** `Accept` as sent. */
  readonly accept?: string;
  readonly headers: SageMakerHeaders;
  /** Parsed `multipart/form-data` parts, when the front parsed them. */
  readonly parts?: readonly FormPart[];
  /** Whether the caller has given up on this invocation (set by the server; see `ctx.signal`). */
  readonly cancellation?: Cancellation;
  /** The stateful session the request runs in (`ctx.session`). */
  readonly session?: SessionRef;
}

/** The encoded answer. */
export interface InvocationResponse {
  body: Buffer;
  contentType: string;
  customAttributes?: string;
  /** User code closed the request's session (`ctx.session.close()`). */
  closeSession?: boolean;
  /**
   * Set when user code answered with an async iterable (an async generator, a Node stream): the
   * chunks to send with HTTP chunked transfer encoding, as SageMaker response streaming expects.
   * `body` is then empty.
   */
  stream?: AsyncIterable<Uint8Array>;
  /**
   * With `stream`: the custom attributes as they are once its first chunk is produced (or it ended
   * without one), which the server sends instead of `customAttributes`: an async generator's body,
   * which runs only when that chunk is asked for, may set them before its first `yield`.
   */
  takeCustomAttributes?: () => string | undefined;
  /**
   * `body` is memory smkit did not make for this answer, which its owner may keep and use again: a
   * Buffer or Uint8Array outputFn/transformFn returned, or the raw encoder's view of a prediction's
   * bytes (user code's typed array, a model's output; marked when it spans its whole ArrayBuffer,
   * the only case a thread could move it). It may be copied, never moved (a transfer to another
   * thread would detach it in its owner's hands).
   */
  borrowed?: boolean;
}

function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return !!v && typeof v === 'object' && typeof (v as Record<symbol, unknown>)[Symbol.asyncIterator] === 'function';
}

/**
 * Chunks of a streamed answer as bytes (strings are UTF-8; a typed array, DataView or ArrayBuffer
 * its bytes; anything else is JSON). A chunk that is none of these is `hook`'s error, naming it,
 * rather than Buffer.from's or JSON.stringify's.
 */
async function* toByteChunks(source: AsyncIterable<unknown>, hook: string): AsyncIterable<Uint8Array> {
  for await (const chunk of source) {
    if (chunk instanceof Uint8Array) yield chunk;
    else if (typeof chunk === 'string') yield Buffer.from(chunk, 'utf8');
    else yield bytesOf(chunk) ?? jsonChunk(chunk, hook);
  }
}


function jsonChunk(chunk: unknown, hook: string): Buffer {
  const fix = 'yield Buffers, Uint8Arrays, strings or plain data (written as JSON)';
  const lost = lostValue(chunk);
  if (lost !== undefined) throw new ToolkitError('ERR_USER_CODE', `${hook} yielded ${lost} as a chunk of its streamed answer: ${fix}`);
  try {
    // As a JSON answer is written: a typed array in it as an array (not {"0":…}), a bigint as a
    // number, and a Map, a Set or a Promise refused rather than written as {}.
    return Buffer.from(valueToJson(chunk), 'utf8');
  } catch (err) {
    throw new ToolkitError('ERR_USER_CODE', `${hook} yielded a chunk JSON cannot hold (${thrownMessage((err as Error | undefined)?.cause ?? err, 300)}): ${fix}`, { cause: err });
  }
}

/**
 * A character an answer's Content-Type or X-Amzn-SageMaker-Custom-Attributes cannot carry: one
 * outside ASCII, which the runtime API's InvokeEndpoint output does not allow (botocore
 * sagemaker-runtime: `Header` and `CustomAttributesHeader` are `\p{ASCII}*`), or a control
 * character other than a tab, which no HTTP header carries (node:http refuses CR and LF).
 */
const NOT_IN_HEADER = /[^\t\x20-\x7e]/;

/**
 * Most characters of an answer's Content-Type or X-Amzn-SageMaker-Custom-Attributes: the runtime
 * API's InvokeEndpoint output allows 1024 for each (botocore sagemaker-runtime: `Header`,
 * `CustomAttributesHeader`).
 */
const HEADER_VALUE_MAX = 1024;

/**
 * `value` when it can be sent as the `header` of the answer; else an `ERR_USER_CODE` naming the
 * character and where it came from, thrown before the header is written (a CR/LF would otherwise
 * fail the answer as an internal error, and SageMaker would not pass on what is not ASCII), or
 * saying it is too long (over 16 KB of headers, Node's and undici's clients cannot read the answer
 * at all).
 */
function headerValue(value: string, header: string, from: string): string {
  if (value.length > HEADER_VALUE_MAX) {
    throw new ToolkitError('ERR_USER_CODE', `${from} is ${value.length} characters long, more than the ${HEADER_VALUE_MAX} SageMaker carries in ${header}: shorten it`);
  }
  const bad = NOT_IN_HEADER.exec(value);
  if (bad === null) return value;
  const code = value.codePointAt(bad.index)!;
  const char = `U+${code.toString(16).toUpperCase().padStart(4, '0')} at index ${bad.index}`;
  if (code > 0x7f) {
    throw new ToolkitError('ERR_USER_CODE', `${from} has a character outside ASCII (${char}), which SageMaker does not carry in ${header} (at most ${HEADER_VALUE_MAX} ASCII characters): use printable ASCII, percent-encoding other text`);
  }
  throw new ToolkitError('ERR_USER_CODE', `${from} has a character an HTTP header cannot carry (${char}) for ${header}: use printable ASCII, without CR or LF`);
}

/**
 * `undefined`, `a symbol` or `a function`: what a hook returned that no codec can write and no
 * request decodes to (a forgotten `return`, most likely), for its message; undefined for any other value.
 */
function lostValue(v: unknown): string | undefined {
  if (v === undefined) return 'undefined';
  return typeof v === 'symbol' || typeof v === 'function' ? `a ${typeof v}` : undefined;
}

/**
 * The 406 for several `outputs` that `hook` returned, to be encoded in `accept`, a type that holds
 * one array (text/csv, NPY); `orElse` is what else the hook can do. The codec's hint (select one
 * output in the pipeline) is no help: no pipeline step sees what a hook returns.
 */
function oneArrayOnly(accept: string, hook: string, outputs: readonly unknown[], orElse: string, err: ToolkitError): ToolkitError {
  return new ToolkitError(
    'ERR_NOT_ACCEPTABLE',
    `${excerpt(accept, 200)} holds one array but ${hook} returned ${outputs.length} outputs (${outputs.map((n) => `'${excerpt(String(n), 100)}'`).join(', ')}); ` +
      `ask for application/json (Accept header), or return one of them from ${hook} (${orElse})`,
    { cause: err, details: err.details },
  );
}

/**
 * The codec's error for outputs of several batch sizes answered one object per row (TF Serving's
 * `{"instances"}` answer, JSON lines), with the fix for outputs `hook` returned: the codec's (select
 * the outputs in the pipeline) is no help, as no pipeline step sees them. Any other error as it is.
 */
function unsharedRowsFromHook(err: unknown, hook: string, accept: string): unknown {
  const shapes = err instanceof ToolkitError && err.code === 'ERR_ENCODE' ? err.details?.['batchDimensions'] : undefined;
  if (typeof shapes !== 'object' || shapes === null) return err;
  const outputs = Object.entries(shapes as Record<string, readonly number[]>).map(([n, shape]) => `'${excerpt(n, 100)}' [${shape.join(', ')}]`);
  // In JSON the answer goes on as the engine's 500 naming the hook; in another type (JSON lines) as a 406 saying what to return.
  const fix = accept === 'application/json' ? `; return outputs of one batch size (or export an outputFn to encode them), or send {"inputs": ...} for the columnar form` : '';
  return new ToolkitError('ERR_ENCODE', `Cannot answer one object per row: the ${outputs.length} outputs ${hook} returned (${outputs.join(', ')}) do not share their first (batch) dimension${fix}`, { cause: err, details: (err as ToolkitError).details });
}

/** What `/ping` and the logs report about a loaded engine. */
export interface EngineDescription {
  handler?: string;
  pipelineFile?: string;
  hooks: string[];
  /** The hooks that run for each request, as the handler module exports them (`predict_fn` or `predictFn`), for messages. */
  requestHooks?: string[];
  runtimes: { name: string; backend: string; inputs: string[]; outputs: string[] }[];
  /** True when user code reads raw bodies (inputFn/transformFn): the front must not parse multipart. */
  rawBodies: boolean;
  /** The largest batch any model run of this engine takes (1 when batching is off). */
  maxBatchSize: number;
}

/** The hooks that run for each invocation, in the order they run. */
const REQUEST_HOOKS = ['transformFn', 'inputFn', 'predictFn', 'predictBatchFn', 'outputFn'] as const satisfies readonly HookKey[];

function isDecodedRequest(v: unknown): v is DecodedRequest {
  return !!v && typeof v === 'object' && 'form' in v && 'tensors' in v && isTensorMap((v as DecodedRequest).tensors);
}

/** The code only invocations need, imported once per process (see `engine-invocation.ts`). */
type InvocationSupport = typeof import('./engine-invocation.js');
const loadInvocationSupport = retryingLoad('the codecs', (): Promise<InvocationSupport> => import('./engine-invocation.js'));

/** The code of the rarer features, each loaded with its first use (and tried again after a failed load: see retrying-load.ts). */
const loadBatchPredict = retryingLoad('the predictBatchFn support', () => import('./batch-predict.js'));
const loadStatefulSession = retryingLoad('the session support', () => import('../sessions/stateful-session.js'));
const loadBidiStream = retryingLoad('the bidirectional stream support', () => import('./bidi-stream.js'));

/** How long after a model is ready its codecs start loading, unless an invocation needs them first. */
const CODECS_PRELOAD_DELAY_MS = 50;

function isStepData(v: unknown): v is StepData {
  return !!v && typeof v === 'object' && 'tensors' in v && !('form' in v) && typeof (v as StepData).tensors === 'object';
}

/**
 * A prediction from user code, its float16 tensors as the bits the encoders read ({@link withFloat16Bits}),
 * its other tensors' data checked against their dtypes ({@link checkTensorStorage}).
 */
function userPrediction(v: unknown, hook: string): unknown {
  let tensors: TensorMap | undefined;
  let out = v;
  if (isStepData(v)) tensors = (out = stepDataWithFloat16Bits(v) as StepData).tensors;
  else if (isTensorMap(v)) tensors = out = withFloat16Bits(v);
  else if (isTensor(v)) tensors = withFloat16Bits({ [UNNAMED]: v });
  if (tensors === undefined) return v;
  checkTensorStorage(tensors, hook);
  return isTensor(v) ? tensors[UNNAMED] : out;
}

/**
 * Whether `body` spans its whole ArrayBuffer: only such a body can be moved to another thread (the
 * inference thread copies a view into a larger buffer), so only then is it searched for in the
 * prediction ({@link holdsMemoryOf}), which a small answer from a pooled Buffer never costs.
 */
function ownsWholeBuffer(body: Uint8Array): boolean {
  return body.byteOffset === 0 && body.byteLength === body.buffer.byteLength;
}

/**
 * Whether `body` is a view of memory `value` holds: an ArrayBuffer or typed array, or one in its
 * objects' fields a few levels down (a tensor's data, named tensors, a step's tensors). Plain arrays
 * are not searched: no encoder answers with a view of one.
 */
function holdsMemoryOf(value: unknown, body: Uint8Array, depth = 0): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (value === body.buffer) return true;
  if (ArrayBuffer.isView(value)) return value.buffer === body.buffer;
  if (Array.isArray(value) || depth >= 3) return false;
  for (const field of Object.values(value)) if (holdsMemoryOf(field, body, depth + 1)) return true;
  return false;
}

/**
 * Decode hints for an engine whose model gets a request straight from its body, with no user code
 * (handler hooks, custom steps) seeing the decoded tensors or the prediction (which carries the
 * decoded request) on the way: `maxInputs`, the model's input count, `float32` when every input
 * takes float32, and `soleInput`, the model's input when it has one (for Triton's raw requests).
 * The values the model gets do not change; the conversion just happens in the decoder, which then
 * needs no float64 buffer of its own.
 */
function decodeHintsFor(hooks: HandlerHooks, model: unknown): DecodeHints | undefined {
  if (hooks.inputFn || hooks.predictFn || hooks.predictBatchFn || hooks.transformFn || hooks.outputFn) return undefined;
  const inputs = model instanceof Pipeline && model.withoutUserCode ? model.firstStepModelInputs : undefined;
  if (inputs === undefined || inputs.length === 0) return undefined;
  // The model refuses names it does not take, so a request naming more inputs than it has cannot run.
  return {
    maxInputs: inputs.length,
    ...(inputs.every((s) => s.dtype === 'float32') ? { float32: true } : {}),
    ...(inputs.length === 1 ? { soleInput: inputs[0]! } : {}),
  };
}

/** `decoded` with its float64 tensors as float32 where every value fits (see {@link float64ToFloat32}). */
function withFloat64AsFloat32(decoded: DecodedRequest): DecodedRequest {
  let tensors: TensorMap | undefined;
  for (const name in decoded.tensors) {
    const t = decoded.tensors[name]!;
    if (t.dtype !== 'float64') continue;
    const data = float64ToFloat32(t.data as Float64Array);
    if (data === undefined) continue;
    tensors ??= { ...decoded.tensors };
    setTensor(tensors, name, { dtype: 'float32', shape: t.shape, data });
  }
  return tensors === undefined ? decoded : { ...decoded, tensors };
}

/** Disposes `model` when it is a pipeline, and each of `made` (pipelines context.loadDefaultModel() made), each once. */
async function disposePipelines(model: unknown, made: readonly Pipeline[]): Promise<void> {
  const pipelines = new Set(made);
  if (model instanceof Pipeline) pipelines.add(model);
  await Promise.all([...pipelines].map((p) => p.dispose()));
}

/**
 * Runs invocations: decode → predict → encode by default, with the user's handler hooks replacing
 * any stage. Knows nothing of HTTP; the server and tests call {@link InferenceEngine.invoke}.
 */
export class InferenceEngine {
  private constructor(
    private readonly options: EngineOptions,
    private readonly hooks: HandlerHooks,
    private readonly model: unknown,
    private readonly givenCodecs: CodecRegistry | undefined,
    private readonly pipelineFile: string | undefined,
    private readonly batchPredict: BatchPredictor | undefined,
    private readonly defaultPipelines: readonly Pipeline[] = [],
  ) {
    this.#decodeHints = decodeHintsFor(hooks, model);
  }

  readonly #decodeHints: DecodeHints | undefined;

  // Set together by whenCodecsReady(); invoke() awaits that only while #io is still unset.
  #io: InvocationSupport | undefined;
  #codecsLoading: Promise<void> | undefined;
  private codecs!: CodecRegistry;
  private encodable!: readonly string[];

  /**
   * Resolves once the codecs (the given registry's, or smkit's built-ins) can decode and encode.
   * The engine starts this shortly after its model is ready; an invocation that arrives earlier
   * waits for it.
   */
  whenCodecsReady(): Promise<void> {
    this.#codecsLoading ??= loadInvocationSupport().then(
      (io) => {
        const codecs = this.givenCodecs ?? io.createDefaultCodecs();
        this.encodable = codecs.encodableTypes();
        this.codecs = codecs;
        this.#io = io;
      },
      (err: unknown) => {
        this.#codecsLoading = undefined;
        throw err;
      },
    );
    return this.#codecsLoading;
  }

  /** Loads the handler module and the model (user `modelFn`, pipeline file, or the single model). */
  static async load(options: EngineOptions): Promise<InferenceEngine> {
    const pipelineSpec = readPipelineFile(options.modelDir);
    const hooks = await loadHandlerHooks(options.codeDir, options.program, pipelineSpec === undefined ? [] : customStepModules(pipelineSpec));
    for (const warning of hooks.warnings ?? []) options.log.warn({ handler: hooks.file }, warning);
    const registries = options.registries;
    const batching = options.batching ?? NO_BATCHING;
    const stepEnv = {
      modelDir: options.modelDir,
      codeDir: options.codeDir,
      runtimes: registries?.runtimes ?? createDefaultRuntimes(),
      runtimeOptions: { ...options.runtime, log: options.log },
      batching,
      observeBatch: options.observeBatch,
      maxDecodedBytes: options.maxDecodedBytes,
    };
    // Every pipeline made for context.loadDefaultModel(), which a modelFn may return inside a value of
    // its own ({ pipeline, labels }): its predict steps' batch sizes count for describe() all the same.
    // Only those made while the model loads: one a handler makes later (per request, say) is not held
    // here for good.
    const defaultPipelines: Pipeline[] = [];
    let loading = true;
    const loadDefault = async (): Promise<Pipeline> => {
      const pipeline = await (pipelineSpec ? buildPipeline(pipelineSpec, stepEnv, registries?.steps) : buildDefaultPipeline(stepEnv));
      if (loading) defaultPipelines.push(pipeline);
      return pipeline;
    };
    let model: unknown;
    const ctx: LoadContext = { modelDir: options.modelDir, log: options.log, loadDefaultModel: loadDefault };
    const loadHook = async (key: HookKey, fn: () => unknown): Promise<unknown> => {
      try {
        return await fn();
      } catch (err) {
        // Code the load needed could not be loaded for want of file descriptors (context.loadDefaultModel()'s runtime): a retry may load.
        // isToolkitError, not instanceof: what user code threw may be a Proxy whose prototype cannot be read.
        if (isToolkitError(err) && err.code === 'ERR_SERVER_BUSY') throw err;
        const name = hookName(hooks, key);
        // details.hook: clients are told which hook failed, not what user code threw (see
        // loadFailureReason); smkit's own errors (context.loadDefaultModel()'s) say what to fix.
        const details = isToolkitError(err) ? {} : { details: { hook: name, handler: hooks.file } };
        throw new ToolkitError('ERR_MODEL_LOAD', `${name} in ${hooks.file} failed: ${thrownMessage(err)}`, { cause: err, ...details });
      }
    };
    let batchPredict: BatchPredictor | undefined;
    try {
      // The Python toolkit's load order: pre_model_fn, model_fn, model_warmup_fn.
      if (hooks.preModelFn) await loadHook('preModelFn', () => hooks.preModelFn!(options.modelDir, ctx));
      if (hooks.modelFn) {
        model = await loadHook('modelFn', () => hooks.modelFn!(options.modelDir, ctx));
      } else {
        try {
          model = await loadDefault();
        } catch (err) {
          // A handler that does all the work itself may not need a model file at all.
          const selfSufficient = hooks.transformFn || hooks.predictFn || hooks.predictBatchFn || hooks.bidiFn;
          if (!(selfSufficient && err instanceof ToolkitError && err.code === 'ERR_MODEL_NOT_FOUND')) throw err;
          options.log.info({ handler: hooks.file }, 'no model file found; the handler module provides prediction');
        }
      }
      if (hooks.modelWarmupFn) await loadHook('modelWarmupFn', () => hooks.modelWarmupFn!(options.modelDir, model, ctx));
      const observe = options.observeBatch;
      batchPredict = hooks.predictBatchFn
        ? (await loadBatchPredict()).createBatchPredictor(hooks.predictBatchFn, model, batching, observe ? (run) => observe('predictBatchFn', run) : undefined, hookName(hooks, 'predictBatchFn'), options.log)
        : undefined;
    } catch (err) {
      // A load that failed after a model was made (modelWarmupFn threw) releases it: a multi-model
      // load that fails so leaves no ONNX session behind in the worker process for each attempt.
      loading = false;
      await disposePipelines(model, defaultPipelines).catch(() => undefined);
      throw err;
    }
    loading = false;
    const engine = new InferenceEngine(options, hooks, model, registries?.codecs, pipelineSpec?.file, batchPredict, defaultPipelines);
    // Off the path to the first healthy /ping, which answers as soon as this returns.
    setTimeout(() => engine.whenCodecsReady().catch(() => undefined), CODECS_PRELOAD_DELAY_MS).unref();
    return engine;
  }

  /**
   * Whether user code runs for each invocation: a handler module's hooks (or the model its modelFn
   * returned), or custom steps in the pipeline.
   */
  get runsUserCode(): boolean {
    return this.hooks.file !== undefined || !(this.model instanceof Pipeline && this.model.withoutUserCode);
  }

  /** Facts for `/ping` details and start-up logs. */
  describe(): EngineDescription {
    const runtimes = this.model instanceof Pipeline ? this.model.runtimes : [];
    return {
      handler: this.hooks.file,
      pipelineFile: this.pipelineFile,
      hooks: Object.entries(this.hooks).flatMap(([k, v]) => (typeof v === 'function' ? [k] : [])),
      requestHooks: REQUEST_HOOKS.filter((k) => this.hooks[k]).map((k) => this.#name(k)),
      runtimes: runtimes.map((r) => ({ name: r.name, backend: r.backend, inputs: r.inputs.map((s) => s.name), outputs: r.outputs.map((s) => s.name) })),
      rawBodies: !!(this.hooks.inputFn || this.hooks.transformFn),
      maxBatchSize: this.maxBatchSize(),
    };
  }

  private maxBatchSize(): number {
    const sizes = [this.batchPredict?.maxSize ?? 1];
    // The thread takes twice this many requests at once: a pipeline the handler holds some other way
    // than as its model would otherwise batch at most SMKIT_WORKER_CONCURRENCY requests a run.
    for (const pipeline of this.model instanceof Pipeline ? [this.model, ...this.defaultPipelines] : this.defaultPipelines) {
      for (const r of pipeline.runtimes) sizes.push(maxBatchSizeOf(r));
    }
    return Math.max(...sizes);
  }

  /** Runs one invocation. Throws `ToolkitError`s carrying the HTTP status for the client. */
  async invoke(req: InvocationRequest, log: Logger): Promise<InvocationResponse> {
    if (this.#io === undefined) await this.whenCodecsReady();
    const io = this.#io!;
    const contentType = req.contentType && req.contentType.trim() !== '' ? req.contentType : 'application/json';
    const userEncodes = !!(this.hooks.outputFn || this.hooks.transformFn);
    const rawAccept = req.accept?.trim();
    const wildcardOnly = !rawAccept || rawAccept === '*/*';
    let accept: string;
    // The protocol's type that Accept asked for, whose answers only requests of its protocol (v2) have.
    let v2Only: string | undefined;
    if (userEncodes) {
      accept = wildcardOnly ? this.options.defaultAccept : rawAccept;
    } else {
      // A protocol whose answers follow the request (Triton's binary form: Triton ignores Accept).
      let chosen = this.codecs.answeringCodec(req.contentType)?.mediaType ?? this.negotiate(req.accept);
      if (!chosen) {
        // An Accept that names such a protocol's type and nothing smkit encodes (Triton's binary form,
        // asked for by a v2 JSON request) gets that protocol's answer, as Triton gives it whatever
        // Accept says, rather than a 406; other requests have no answer in it (checked once decoded).
        chosen = this.codecs.answeringAccept(req.accept);
        if (chosen) v2Only = chosen;
      }
      if (!chosen) {
        throw new ToolkitError('ERR_NOT_ACCEPTABLE', `cannot answer in ${excerpt(rawAccept ?? '', 200)}; available: ${this.codecs.encodableTypes().join(', ')}`);
      }
      accept = chosen;
    }
    let customAttributes: string | undefined;
    // The hook that runs (or, once it returned, whose stream does), for setCustomAttributes' errors;
    // none while smkit's own pipeline runs, whose custom steps get the context too.
    let running: HookKey | undefined;
    const cancellation = req.cancellation;
    // Set once a stream's headers were taken, with its first chunk: a later value is lost, which a warning says.
    let streamed: string | undefined;
    let warned = false;
    const setCustomAttributes = (value: string): void => {
      if (streamed === undefined) {
        const from = running === undefined ? 'the value given to' : `the value ${this.#name(running)} in ${this.hooks.file} gave`;
        customAttributes = headerValue(String(value), 'X-Amzn-SageMaker-Custom-Attributes', `${from} context.setCustomAttributes`);
        return;
      }
      // Not checked: a value that is not sent cannot be refused, and throwing would break a stream whose headers are out.
      if (warned) return;
      warned = true;
      log.warn(
        { code: 'ERR_USER_CODE' },
        `context.setCustomAttributes was called after the first chunk of the stream that ${streamed} in ${this.hooks.file} returned: custom attributes are taken with that chunk (an HTTP answer's headers go out with it; a bidirectional stream's message carries none), so this value is not sent; call it before the stream's first chunk (before an async generator's first yield)`,
      );
    };
    // The session code loads with the first request in a session: it costs a server without sessions nothing at start-up.
    const session = req.session === undefined ? undefined : new (loadStatefulSession.loaded ?? (await loadStatefulSession())).StatefulSession(req.session);
    const ctx = new EngineContext(req.headers, req.requestId, contentType, accept, this.options.modelDir, log, setCustomAttributes, cancellation, session);
    const h = this.hooks;
    let output: unknown;
    let prediction: unknown;
    if (h.transformFn) {
      running = 'transformFn';
      output = await this.user(this.#name('transformFn'), () => h.transformFn!(this.model, req.body, contentType, accept, ctx));
    } else {
      // Without inputFn smkit decoded the body itself: a forgotten Content-Type gets a hint.
      const hinted = (err: unknown): unknown => (h.inputFn ? err : io.withContentTypeHint(err, req.contentType));
      let input: unknown;
      try {
        if (h.inputFn) {
          running = 'inputFn';
          input = await this.user(this.#name('inputFn'), () => h.inputFn!(req.body, contentType, ctx));
        } else input = this.decode(req, contentType);
      } catch (err) {
        throw hinted(err);
      }
      // A caller that gave up while the input was decoded (a slow inputFn) costs no model run.
      if (cancellation?.cancelled) throw cancellation.reason;
      try {
        if (v2Only !== undefined && !(isDecodedRequest(input) && input.form === 'v2')) {
          throw new ToolkitError(
            'ERR_NOT_ACCEPTABLE',
            `cannot answer in ${excerpt(rawAccept ?? '', 200)}: ${v2Only} answers Open Inference Protocol v2 requests ({"inputs": [{"name", "shape", "datatype", "data"}]}) only; ` +
              `send a v2 request, or accept one of: ${this.codecs.encodableTypes().join(', ')}`,
          );
        }
        running = this.batchPredict ? 'predictBatchFn' : h.predictFn ? 'predictFn' : undefined;
        prediction = this.batchPredict
          ? this.#userPrediction(await this.user(this.#name('predictBatchFn'), () => this.batchPredict!.predict(input, ctx)), this.#name('predictBatchFn'))
          : h.predictFn
            ? this.#userPrediction(await this.user(this.#name('predictFn'), () => h.predictFn!(input, this.model, ctx)), this.#name('predictFn'))
            : await this.predict(input, ctx);
        // The default encoder would answer 200 "null" (JSON) or blame the client's Accept (406).
        if (!h.outputFn && (this.batchPredict || h.predictFn)) this.#checkAnswerable(prediction, this.batchPredict ? 'predictBatchFn' : 'predictFn', () => 'the prediction (a tensor { dtype, shape, data }, named tensors, or plain data for smkit to encode)');
        if (h.outputFn) {
          running = 'outputFn';
          output = await this.user(this.#name('outputFn'), () => h.outputFn!(prediction, accept, ctx));
        } else output = this.encode(prediction, accept, isDecodedRequest(input) ? input : undefined);
      } catch (err) {
        throw hinted(io.withProtocolError(err, isDecodedRequest(input) ? input.form : undefined));
      }
    }
    if (userEncodes) this.#checkAnswerable(output, h.transformFn ? 'transformFn' : 'outputFn', () => `the answer (a Buffer, a Uint8Array or a string, { body, contentType }, or a value for smkit to encode as ${excerpt(accept, 100)})`);
    // Bytes user code encoded go out as the type Accept ranks first, never the header itself (a
    // list, q-values or a wildcard as Content-Type); a value smkit encodes, in the type negotiated.
    const response = userEncodes ? this.#userResponse(output, accept === this.options.defaultAccept ? accept : io.answerTypeFor(accept, this.options.defaultAccept), accept) : this.toResponse(output, accept);
    // The raw encoder answers with a view of the prediction's own bytes: memory user code or a
    // runtime may hold and use again, so it is lent, not given (the other encoders write new bytes).
    if (!userEncodes && ownsWholeBuffer(response.body) && holdsMemoryOf(prediction, response.body)) response.borrowed = true;
    if (customAttributes !== undefined) response.customAttributes = customAttributes;
    if (session?.closing) response.closeSession = true;
    if (response.stream) {
      const hook = this.#name(h.transformFn ? 'transformFn' : 'outputFn');
      response.stream = this.userStream(hook, response.stream);
      response.takeCustomAttributes = () => {
        streamed = hook;
        return customAttributes;
      };
      // close() called while the stream runs (an async generator's body) ends the session with the
      // stream, once its answer began (a first chunk or an end before the request was given up).
      if (session && !session.closing) response.stream = (loadStatefulSession.loaded ?? (await loadStatefulSession())).closingWhenStreamEnds(response.stream, session, cancellation);
    }
    return response;
  }

  /**
   * Serves one bidirectional stream with the handler's `bidiFn`: the client's frames in, its
   * replies out as frames. Errors `bidiFn` throws (when called or while it replies) come out of the
   * returned iterable as `ERR_USER_CODE`; ending the iterable early (`return()`) ends `bidiFn`'s.
   */
  async *openBidi(req: BidiRequest, frames: AsyncIterable<BidiFrame>, log: Logger, cancellation?: Cancellation): AsyncIterable<BidiFrame> {
    const bidiFn = this.hooks.bidiFn;
    if (!bidiFn) throw new ToolkitError('ERR_INTERNAL', 'this model has no bidiFn: its bidirectional streams are served message by message');
    if (this.#io === undefined) await this.whenCodecsReady();
    const { BidiStreamContext, toFrames, toMessages } = await loadBidiStream();
    const invoke = async (body: Buffer | ArrayBufferView | ArrayBuffer | string, options: { contentType?: string; accept?: string } = {}) => {
      const bytes = this.#bidiInvokeBody(body);
      const contentType = this.#bidiInvokeOption(options?.contentType, 'contentType', "a media type such as 'application/json'");
      const accept = this.#bidiInvokeOption(options?.accept, 'accept', "an Accept value such as 'application/json'");
      const response = await this.invoke({ requestId: req.requestId, body: bytes, contentType, accept, headers: req.headers, cancellation }, log);
      if (!response.stream) return { body: response.body, contentType: response.contentType };
      const chunks: Uint8Array[] = [];
      for await (const chunk of response.stream) chunks.push(chunk);
      return { body: Buffer.concat(chunks), contentType: response.contentType };
    };
    const ctx = new BidiStreamContext(req, this.options.modelDir, log, cancellation, invoke);
    try {
      yield* toFrames(bidiFn(toMessages(frames), this.model, ctx), this.#name('bidiFn'));
    } catch (err) {
      throw this.#io!.toUserError(this.#name('bidiFn'), this.hooks.file, err);
    }
  }

  /** What bidiFn gave `context.invoke` as the body, as bytes; else the 500 naming it (not a TypeError from Buffer.from). */
  #bidiInvokeBody(body: unknown): Buffer {
    if (typeof body === 'string') return Buffer.from(body, 'utf8');
    // Any typed array, DataView or ArrayBuffer is its bytes, as a reply or a streamed chunk is.
    const bytes = bytesOf(body);
    if (bytes) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    throw new ToolkitError(
      'ERR_USER_CODE',
      `${this.#name('bidiFn')} in ${this.hooks.file} called context.invoke with a body that is ${valueKind(body)}: give bytes (a Buffer, a typed array, an ArrayBuffer) or a string`,
    );
  }

  /**
   * An option bidiFn gave `context.invoke` (the request's Content-Type or Accept): a string, or left
   * out (undefined or null); else the 500 naming it, where invoke() would fail on it with a TypeError.
   */
  #bidiInvokeOption(value: unknown, name: string, example: string): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string') return value;
    throw new ToolkitError(
      'ERR_USER_CODE',
      `${this.#name('bidiFn')} in ${this.hooks.file} called context.invoke with ${name} set to ${valueKind(value)}: ${name} must be a string (${example}), or left out`,
    );
  }

  readonly #acceptCache = new Map<string | undefined, string | undefined>();

  /** Negotiates Accept; answers are cached per header value (clients repeat the same few). */
  private negotiate(accept: string | undefined): string | undefined {
    if (this.#acceptCache.has(accept)) return this.#acceptCache.get(accept);
    const chosen = this.#io!.negotiateAccept(accept, this.encodable, this.options.defaultAccept);
    if (this.#acceptCache.size < 256) this.#acceptCache.set(accept, chosen);
    return chosen;
  }

  /**
   * Releases the model: the pipeline smkit loaded, and every one context.loadDefaultModel() made
   * while the model loaded, which a modelFn may hold inside a value of its own ({ pipeline, labels }).
   */
  async dispose(): Promise<void> {
    await disposePipelines(this.model, this.defaultPipelines);
  }

  /** Errors thrown while user code produces a stream get the same treatment as a hook's errors. */
  private async *userStream(hook: string, stream: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    try {
      yield* stream;
    } catch (err) {
      throw this.#io!.toUserError(hook, this.hooks.file, err);
    }
  }

  /**
   * Throws the handler's 500 when `hook` returned what no codec writes (see {@link lostValue});
   * `what` says what it should return (built only then: this runs on every request).
   */
  #checkAnswerable(value: unknown, hook: HookKey, what: () => string): void {
    const kind = lostValue(value);
    if (kind !== undefined) throw new ToolkitError('ERR_USER_CODE', `${this.#name(hook)} in ${this.hooks.file} returned ${kind}: return ${what()}`);
  }

  /** A hook's name as the handler module exports it (`input_fn` or `inputFn`), for messages. */
  #name(key: HookKey): string {
    return hookName(this.hooks, key);
  }

  private async user<T>(hook: string, fn: () => T | Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.#io!.toUserError(hook, this.hooks.file, err);
    }
  }

  private inputNames(): string[] {
    return this.model instanceof Pipeline ? (this.model.runtimes[0]?.inputs.map((s) => s.name) ?? []) : [];
  }

  private decode(req: InvocationRequest, contentType: string): DecodedRequest {
    const limits = { maxDecodedBytes: this.options.maxDecodedBytes ?? Number.POSITIVE_INFINITY };
    const hints = this.#decodeHints;
    const decoded = req.parts ? this.#io!.decodeFormParts([...req.parts], this.codecs, this.inputNames(), limits) : this.codecs.decode(contentType, req.body, limits, hints);
    // Every codec's float64 tensors become float32 here, not only those of the codecs that read the
    // hint: requests sent in different forms then share one batch key (batching joins equal dtypes).
    return hints?.float32 ? withFloat64AsFloat32(decoded) : decoded;
  }

  /** The default predictFn: runs the pipeline (or a runtime-like model) on decoded input. */
  private async predict(input: unknown, ctx: InvocationContext): Promise<StepData> {
    let data: StepData;
    try {
      data = this.toStepData(input);
    } catch (err) {
      // A getter or Proxy in what inputFn returned that throws when read is inputFn's fault, not smkit's (ERR_INTERNAL).
      throw this.hooks.inputFn ? this.#unreadable(err, this.#name('inputFn')) : err;
    }
    this.#io!.checkSignatureName(data.request, this.model instanceof Pipeline ? this.model.runtimes[0]?.signature : undefined);
    // Tensors inputFn made (not a request smkit decoded for it) go to smkit's steps and runtimes as
    // they are: data in another typed array than its dtype's (float32 said, Uint8Array pixels given)
    // was ONNX Runtime's 500 ERR_STEP_FAILED, or read by value by TF.js; refused as predictFn's are.
    if (this.hooks.inputFn && data.request === undefined && this.model instanceof Pipeline) checkInputStorage(withFloat16Bits(data.tensors), this.#name('inputFn'), 'returned');
    if (this.model instanceof Pipeline) return this.model.run(data, ctx);
    const runtime = this.model as Partial<ModelRuntime> | undefined;
    if (runtime && typeof runtime.predict === 'function') {
      return { ...data, tensors: await runtime.predict(data.tensors) };
    }
    throw new ToolkitError(
      'ERR_USER_CODE',
      !this.hooks.modelFn
        ? 'there is no model to run: add a model file, a pipeline file, or export predictFn/transformFn'
        : // No model file is missing here: modelFn replaces it, and its answer is the mistake (a forgotten `return`).
          this.model === undefined || this.model === null
          ? `${this.#name('modelFn')} in ${this.hooks.file} returned ${String(this.model)}: return the model (context.loadDefaultModel() loads the model directory's), or export predictFn to predict without one`
          : `the model returned by ${this.#name('modelFn')} in ${this.hooks.file} has no predict(tensors) method: export predictFn to run it`,
    );
  }

  private toStepData(input: unknown): StepData {
    // `value` from the start: a step's `{ ...data, tensors, value: undefined }` that adds a key after
    // the spread gets a map of its own per object in V8's optimised code, so every read of it missed.
    if (isDecodedRequest(input)) return { tensors: input.tensors, request: input, value: undefined };
    if (isStepData(input)) return input;
    if (isTensorMap(input)) return { tensors: input };
    if (isTensor(input)) return { tensors: { [UNNAMED]: input } };
    // No request decodes to these: inputFn lost the input (a forgotten `return`), not the client.
    const lost = lostValue(input);
    if (lost !== undefined) {
      throw new ToolkitError(
        'ERR_USER_CODE',
        `${this.#name('inputFn')} in ${this.hooks.file} returned ${lost}: return what the model takes (nested arrays, a tensor { dtype, shape, data }, named tensors or { tensors }), or export predictFn to take what ${this.#name('inputFn')} returns`,
      );
    }
    // Plain values from a user inputFn (nested arrays, TF Serving objects) decode like a JSON body;
    // one in none of its forms is named as inputFn's (the hint to export an inputFn is no help here).
    const inputFn = this.#name('inputFn');
    const request = this.#io!.decodeJsonValue(input, undefined, {
      name: `what ${inputFn} in ${this.hooks.file} returned`,
      fix: `return a nested array, {"instances": [...]}, {"inputs": {...}}, a v2 request, a tensor { dtype, shape, data } or named tensors, or export predictFn to take what ${inputFn} returns`,
    });
    return { tensors: request.tensors, request };
  }

  /**
   * The default outputFn: encodes in the negotiated type, answering in the request's form. What
   * predictFn or predictBatchFn returned answers the decoded request they were given (`request`) as
   * the built-in path answers it: a v2 request in v2 (its `id`, its `outputs` selection and
   * classifications), TF Serving's in `{"predictions"}`, bytes as they came (NPY `|S`, `{"b64"}`).
   */
  private encode(prediction: unknown, accept: string, request?: DecodedRequest): Buffer | TypedBody {
    const modelName = this.model instanceof Pipeline ? (this.model.runtimes.at(-1)?.name ?? 'model') : 'model';
    try {
      if (isStepData(prediction)) {
        return this.codecs.encodeResponse(prediction.value !== undefined ? prediction.value : prediction.tensors, accept, { request: prediction.request, modelName });
      }
      if (request === undefined) return this.codecs.encodeResponse(prediction, accept, {});
      // A lone tensor is the model's one output, as a runtime's would be (a plain JSON answer writes it bare).
      return this.codecs.encodeResponse(isTensor(prediction) ? { [UNNAMED]: prediction } : prediction, accept, { request, modelName });
    } catch (err) {
      // The client chose a type this prediction has no form in (top-k labels as NPY, say): that is
      // "not acceptable", not a server fault.
      // A prediction from predictFn/predictBatchFn skips the pipeline: a pipeline step cannot shape it.
      const hook = this.batchPredict ? this.#name('predictBatchFn') : this.hooks.predictFn ? this.#name('predictFn') : undefined;
      if (hook) err = unsharedRowsFromHook(err, hook, accept);
      if (err instanceof ToolkitError && err.code === 'ERR_ENCODE' && accept !== 'application/json') {
        const fix = hook ? `return from ${hook} what ${excerpt(accept, 200)} can hold (or export an outputFn to encode it)` : 'add a select/argmax step';
        const hint = err.message.includes('ask for application/json') ? '' : `; ask for application/json (Accept) or ${fix}`;
        throw new ToolkitError('ERR_NOT_ACCEPTABLE', `${err.message}${hint}`, { cause: err });
      }
      const outputs = err instanceof ToolkitError && err.code === 'ERR_NOT_ACCEPTABLE' ? err.details?.['outputs'] : undefined;
      if (hook && Array.isArray(outputs)) throw oneArrayOnly(accept, hook, outputs, 'or export an outputFn to encode them', err as ToolkitError);
      throw hook ? this.#fromHook(err, hook, accept) : err;
    }
  }

  /** {@link userPrediction}, with {@link #unreadable}'s error for a value that throws when read. */
  #userPrediction(v: unknown, hook: string): unknown {
    try {
      return userPrediction(v, hook);
    } catch (err) {
      throw this.#unreadable(err, hook);
    }
  }

  /** {@link toResponse} for what outputFn/transformFn returned, with {@link #unreadable}'s error for a value that throws when read. */
  #userResponse(output: unknown, type: string, accept: string): InvocationResponse {
    try {
      return this.toResponse(output, type, true, accept);
    } catch (err) {
      throw this.#unreadable(err, this.#name(this.hooks.transformFn ? 'transformFn' : 'outputFn'));
    }
  }

  /**
   * An error thrown while smkit read what `hook` returned that is not smkit's own: a getter or a
   * Proxy of user code's that throws when read, or a value too large to encode (V8's RangeError),
   * which is the hook's 500 ERR_USER_CODE naming it, not an ERR_INTERNAL quoting what was thrown.
   * smkit's errors are left as they are.
   */
  #unreadable(err: unknown, hook: string): unknown {
    if (isToolkitError(err)) return err;
    return new ToolkitError('ERR_USER_CODE', `${hook} in ${this.hooks.file} returned a value smkit could not read or encode (${thrownMessage(err, 300)}): return plain data, without getters or a Proxy that throw, and no larger than can be encoded`, { cause: err });
  }

  /**
   * An `ERR_ENCODE` for what `hook` returned (JSON cannot hold it: a circular object), naming the
   * hook; {@link #unreadable}'s error for one that throws when read; any other error as it is.
   */
  #fromHook(err: unknown, hook: string, accept: string): unknown {
    if (!isToolkitError(err)) return this.#unreadable(err, hook);
    if (err.code !== 'ERR_ENCODE') return err;
    return new ToolkitError('ERR_ENCODE', `${hook} in ${this.hooks.file} returned what smkit cannot answer as ${excerpt(accept, 100)}: ${err.message}`, { status: err.status, cause: err });
  }

  /**
   * Accepts what outputFn/transformFn may return: Buffer, string, `{ body, contentType }`, or a value
   * to encode. `fromUser`: `output` came from them, so bytes in it are user code's (`borrowed`).
   */
  private toResponse(output: unknown, accept: string, fromUser = false, valuesAccept?: string): InvocationResponse {
    if (Buffer.isBuffer(output)) return fromUser ? { body: output, contentType: accept, borrowed: true } : { body: output, contentType: accept };
    if (isAsyncIterable(output)) return { body: Buffer.alloc(0), contentType: accept, stream: toByteChunks(output, this.#name(this.hooks.transformFn ? 'transformFn' : 'outputFn')) };
    if (output instanceof Uint8Array) {
      const body = Buffer.from(output.buffer, output.byteOffset, output.byteLength);
      return fromUser ? { body, contentType: accept, borrowed: true } : { body, contentType: accept };
    }
    if (typeof output === 'string') return { body: Buffer.from(output, 'utf8'), contentType: accept };
    // A fetch Response (a handler answering `return fetch(upstream)`) has a `body` (a getter) and no
    // keys of its own: taken for { body, contentType }, an upstream 404's error page went out as a
    // 200 in the Accept type, its status and Content-Type lost. Told by its tag, as from another realm.
    const tag = output && typeof output === 'object' ? Object.prototype.toString.call(output) : '';
    if (tag === '[object Response]' || tag === '[object Request]') {
      const hook = this.#name(this.hooks.transformFn ? 'transformFn' : 'outputFn');
      const what = tag === '[object Response]' ? 'a fetch Response, whose status and Content-Type an answer would lose' : 'a fetch Request';
      throw new ToolkitError(
        'ERR_USER_CODE',
        `${hook} in ${this.hooks.file} returned ${what}: read it first (check res.ok, then return Buffer.from(await res.arrayBuffer()), or { body: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get('content-type') }, or await res.json() for smkit to encode)`,
      );
    }
    if (output && typeof output === 'object' && 'body' in output && Object.keys(output).every((k) => k === 'body' || k === 'contentType')) {
      const o = output as { body: unknown; contentType?: unknown };
      const hook = this.#name(this.hooks.transformFn ? 'transformFn' : 'outputFn');
      // Each read once: a getter could give the check one value and the answer another.
      const chosen = o.contentType;
      // Left out (or undefined), it is the negotiated type; any other non-string is the hook's
      // mistake, which answering in Accept instead would hide.
      if (chosen !== undefined && typeof chosen !== 'string') {
        throw new ToolkitError(
          'ERR_USER_CODE',
          `${hook} in ${this.hooks.file} returned { body, contentType } with a contentType that is ${valueKind(chosen)}: contentType must be a string (a media type such as 'application/json'), or left out to answer in the type the request accepts`,
        );
      }
      // An empty (or blank) Content-Type names no media type: the client could not tell what it got.
      if (chosen !== undefined && chosen.trim() === '') {
        throw new ToolkitError(
          'ERR_USER_CODE',
          `${hook} in ${this.hooks.file} returned { body, contentType } with a contentType that is ${chosen === '' ? 'empty' : 'blank'}: contentType must be a media type (such as 'application/json'), or left out to answer in the type the request accepts`,
        );
      }
      const contentType = chosen === undefined ? accept : headerValue(chosen, 'Content-Type', `the contentType ${hook} in ${this.hooks.file} returned`);
      const body = o.body;
      const lost = lostValue(body);
      if (lost !== undefined) throw new ToolkitError('ERR_USER_CODE', `${hook} in ${this.hooks.file} returned { body, contentType } with a body that is ${lost}: return the body as a Buffer, a Uint8Array or a string, or plain data for smkit to encode`);
      try {
        return this.toResponse(body, contentType, fromUser, chosen === undefined ? valuesAccept : undefined);
      } catch (err) {
        // The handler chose this type itself: no encoder for it is the handler's mistake, not the client's (406).
        if (!(err instanceof ToolkitError && err.code === 'ERR_NOT_ACCEPTABLE' && chosen !== undefined)) throw err;
        throw new ToolkitError(
          'ERR_USER_CODE',
          `${hook} in ${this.hooks.file} returned { body, contentType: '${excerpt(contentType, 100)}' } with a body that is ${valueKind(body)}: return the body as a Buffer, a Uint8Array or a string, or use a contentType smkit encodes (${this.encodable.join(', ')})`,
          { cause: err },
        );
      }
    }
    // A value from user code for smkit to encode: in the type Accept negotiates among the encodable ones.
    if (valuesAccept !== undefined && valuesAccept !== accept) accept = this.negotiate(valuesAccept) ?? accept;
    try {
      const body = this.codecs.encode(output, accept, {});
      // The raw encoder's answer to a typed array, tensor or ArrayBuffer is a view of it.
      return fromUser && ownsWholeBuffer(body) && holdsMemoryOf(output, body) ? { body, contentType: accept, borrowed: true } : { body, contentType: accept };
    } catch (err) {
      const hook = this.#name(this.hooks.transformFn ? 'transformFn' : 'outputFn');
      if (!(err instanceof ToolkitError && err.code === 'ERR_NOT_ACCEPTABLE')) throw this.#fromHook(err, hook, accept);
      const outputs = err.details?.['outputs'];
      if (Array.isArray(outputs)) throw oneArrayOnly(accept, hook, outputs, 'or the body already encoded', err);
      // No codec writes the Accept type. The registry's hint (export an outputFn) is for handlers
      // without one: this handler has its hook, which can encode the value itself.
      if (this.codecs.find(accept)?.encode !== undefined) throw err;
      throw new ToolkitError(
        'ERR_NOT_ACCEPTABLE',
        `Cannot answer in '${excerpt(accept, 200)}'. Accept one of: ${this.encodable.join(', ')}; ` +
          `${hook} returned ${valueKind(output)} for smkit to encode: to answer in other types, return the body already encoded from ${hook} (a Buffer, a Uint8Array or a string), or { body, contentType }`,
        { cause: err, details: err.details },
      );
    }
  }
}
