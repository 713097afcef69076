import type { DType, TensorMap } from '../core/tensor.js';

/**
 * The wire form a request arrived in. Answers are encoded in the same family, so a client that
 * sent `{"instances": ...}` gets `{"predictions": ...}` back, and a v2 request gets a v2 response.
 *
 * - `tensor`: a bare JSON array or scalar, CSV rows, an NPY array, JSON lines of arrays.
 * - `tfs-instances`: TensorFlow Serving row form `{"instances": [...]}` → `{"predictions": ...}`.
 * - `tfs-inputs`: TensorFlow Serving columnar form `{"inputs": {...}}` or `{"inputs": [...]}` → `{"outputs": ...}`.
 * - `v2`: Open Inference Protocol v2 `{"inputs": [{name, shape, datatype, data}]}` → `{"model_name", "outputs": [...]}`.
 * - `npz`: several named arrays from an NPZ archive.
 * - `raw`: bytes handed to user code untouched (`application/octet-stream`).
 */
export type RequestForm = 'tensor' | 'tfs-instances' | 'tfs-inputs' | 'v2' | 'npz' | 'raw';

/** A decoded request body. */
export interface DecodedRequest {
  /** Inputs by name; a single unnamed input uses the key `UNNAMED` (''). */
  tensors: TensorMap;
  /** The form the body used (decides the response form). */
  form: RequestForm;
  /** v2: the request `id`, echoed in the response. */
  id?: string;
  /** v2: the `outputs` the client asked for, by name (all when absent). */
  requestedOutputs?: string[];
  /** v2: request-level `parameters`, passed through to user code. */
  parameters?: Record<string, unknown>;
  /** TF Serving: the `signature_name` the request asked for, when it named one. */
  signatureName?: string;
  /** v2 binary tensor data requests: which outputs to answer as binary data (see {@link V2BinaryOutputs}). */
  binaryOutputs?: V2BinaryOutputs;
  /**
   * v2 binary tensor data requests: the `BYTES` elements that were not UTF-8, held as strings of one
   * character per byte. A `BYTES` output element equal to one of them is written back as those bytes
   * in binary output data (not as the string's UTF-8), so bytes that pass through unchanged return as sent.
   * TF Serving requests: the same for `{"b64"}` values, written back as those bytes in the `{"b64"}`
   * of a `*_bytes` output.
   */
  binaryStrings?: ReadonlySet<string>;
  /**
   * NPY requests: the array was numpy bytes (`|S`), so a string answer in NPY is `|S` too, each
   * element its bytes (a {@link binaryStrings} one the bytes it came as, any other its UTF-8), not `<U`.
   */
  npyBytes?: boolean;
  /**
   * v2: outputs asked for as Triton classifications (`"parameters": {"classification": k}` on an
   * output), by name: each is answered as its top k `"<value>:<index>"` strings, per batch row.
   */
  classifications?: ReadonlyMap<string, number>;
}

/**
 * Which outputs a v2 binary tensor data request wants as binary data: an output's own
 * `"parameters": {"binary_data": bool}`, else the request's `"binary_data_output"` (`all`).
 */
export interface V2BinaryOutputs {
  readonly all: boolean;
  readonly byName: ReadonlyMap<string, boolean>;
}

/** An encoded answer whose Content-Type carries parameters of its own (Triton's `json-header-size`). */
export interface TypedBody {
  body: Buffer;
  contentType: string;
}

/** What an encoder is told besides the prediction itself. */
export interface EncodeOptions {
  /** The decoded request, when there was one: decides the response form (TFS, v2 ...). */
  request?: DecodedRequest;
  /** Model name for v2 responses. */
  modelName?: string;
}

/**
 * Per-request bounds a decoder checks (from headers and declared shapes) before it allocates, so a
 * small compressed or declared-shape body cannot expand to gigabytes. The server sets them from
 * `SMKIT_MAX_DECODED_MB`.
 */
export interface DecodeLimits {
  /** The most bytes this request's decoded tensors may take (all of them together). */
  readonly maxDecodedBytes: number;
}

/**
 * What the server knows of where a request's tensors go, so a decoder can build them in that form
 * straight away. Decoders may ignore it: the model's conversion gives the same values.
 */
export interface DecodeHints {
  /**
   * Every input of the model that receives the decoded tensors takes float32, and no user code sees
   * them first. Numbers that carry no dtype of their own (CSV, JSON) may then be decoded as float32,
   * each rounded as the model's conversion would round it. A body with a finite number beyond the
   * float32 range must still give float64, so that conversion names the input and element in its 400.
   */
  readonly float32?: boolean;
  /**
   * The most named inputs the receiving model takes, when no user code sees the decoded tensors
   * first. A request that names more cannot run, so the decoders refuse one that names many more
   * (400 `ERR_INPUT_MISMATCH`) before building a tensor per name: tens of thousands of named
   * scalars in a small body cost tens of milliseconds to build, on the HTTP thread when served inline.
   */
  readonly maxInputs?: number;
  /**
   * The receiving model's only input, when it has exactly one and no user code sees the decoded
   * tensors first. Triton's raw binary request (`json-header-size=0`: the body is that input's data,
   * with no JSON to name it) can be decoded only with it; decoders of other forms ignore it.
   */
  readonly soleInput?: SoleInput;
}

/** A model input as a decoder may need it: a dynamic dimension is a negative number or a name. */
export interface SoleInput {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly (number | string)[];
}

/**
 * A codec for one media type. `decode` turns a body into tensors; `encode` turns a prediction
 * (a {@link TensorMap} from a runtime, or any JSON-like value from user code) into bytes.
 * Either half may be absent (NPZ is decode-only).
 */
export interface Codec {
  /** The media type, lower case, without parameters (for example `text/csv`). */
  readonly mediaType: string;
  /** Other media types this codec answers to (for example `application/x-jsonlines`). */
  readonly aliases?: readonly string[];
  /**
   * Decodes a request body. Throws a 400 `ToolkitError` naming what is wrong, and 413
   * `ERR_DECODED_TOO_LARGE` when the decoded tensors would exceed `limits` (absent: no bound).
   */
  decode?(body: Buffer, params: Readonly<Record<string, string>>, limits?: DecodeLimits, hints?: DecodeHints): DecodedRequest;
  /** Encodes a prediction. Throws `ERR_ENCODE` (or 406) when the value cannot be represented. */
  encode?(prediction: unknown, options: EncodeOptions): Buffer;
  /**
   * Encodes a prediction and names the answer's Content-Type itself, parameters included (Triton's
   * `json-header-size`), or returns `undefined` to leave it to `encode`. The server calls it first
   * when answering in this codec's type (unless user code encodes).
   */
  encodeAnswer?(prediction: unknown, options: EncodeOptions): TypedBody | undefined;
  /**
   * Requests of this type are answered by this codec's `encodeAnswer` whatever `Accept` says, as
   * Triton answers its binary tensor data form (Triton ignores Accept). A codec without `encode`
   * is not offered to `Accept` for other requests.
   */
  readonly answersRequest?: boolean;
}
