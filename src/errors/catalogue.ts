/**
 * The one catalogue of smkit errors. Every error a client, a CLI user or a log reader can see has a
 * stable `code` here, an HTTP status, and a message template. Codes are never reused or renamed;
 * `src/errors/catalogue.test.ts` checks that each is documented in `docs/errors.md` with its status.
 *
 * Areas add their codes to this table (grouped by prefix); nothing else defines error codes.
 */
export const ERROR_CATALOGUE = {
  // --- configuration (start-up) ---
  ERR_CONFIG_INVALID: { status: 500, summary: 'An environment variable has an invalid value (a bad flag value is ERR_CLI_USAGE).' },
  ERR_PORT_IN_USE: { status: 500, summary: 'The port to listen on is already in use (or needs privileges); nothing was started.' },
  // --- request handling ---
  ERR_BAD_REQUEST: { status: 400, summary: 'The request body could not be decoded.' },
  ERR_NOT_FOUND: { status: 404, summary: 'No such route or resource.' },
  ERR_METHOD_NOT_ALLOWED: { status: 405, summary: 'The route exists but not for this HTTP method.' },
  ERR_NOT_ACCEPTABLE: { status: 406, summary: 'None of the Accept types can be produced.' },
  ERR_PAYLOAD_TOO_LARGE: { status: 413, summary: 'The body is larger than SAGEMAKER_MAX_PAYLOAD_IN_MB allows.' },
  ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, summary: 'No decoder for the request Content-Type.' },
  ERR_NOT_READY: { status: 503, summary: 'The model is still loading or failed to load.' },
  ERR_TIMEOUT: { status: 504, summary: 'The invocation ran past SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS (else SAGEMAKER_MODEL_SERVER_TIMEOUT), or an image took over 60 s to decode.' },
  ERR_CLIENT_GONE: { status: 499, summary: 'The client closed the connection before its answer was ready; the request was dropped (recorded in logs and metrics only, nobody receives it).' },
  ERR_SHUTTING_DOWN: { status: 503, summary: 'The server is draining after SIGTERM (or Ctrl-C, SIGINT), or a worker process is leaving on its own while the server goes on (retry).' },
  ERR_SERVER_BUSY: { status: 503, summary: 'The request bodies a worker holds already take the memory SMKIT_BODY_MEMORY_MB allows, or its connections as many as its open files limit leaves room for; retry shortly.' },
  ERR_TOO_MANY_STREAMS: { status: 503, summary: 'The server already has the bidirectional streams open that SMKIT_BIDI_STREAMS_MAX allows; retry once one has ended.' },
  ERR_DECODED_TOO_LARGE: { status: 413, summary: 'The decoded inputs (image pixels, arrays) would take more memory than SMKIT_MAX_DECODED_MB allows.' },
  ERR_BODY_TIMEOUT: { status: 408, summary: 'The request body did not arrive within SMKIT_BODY_TIMEOUT_SECONDS.' },
  ERR_REQUEST_TIMEOUT: { status: 408, summary: 'The request (its headers, or a body the route does not read) did not arrive in time.' },
  ERR_HEADERS_TOO_LARGE: { status: 431, summary: 'The request headers are larger than the server accepts (16 KB), or (Node 22 and later) more than 1000 lines.' },
  ERR_FOREIGN_ORIGIN: { status: 403, summary: 'A web page of another site sent the request (its Origin, or without one its Referer, names a host other than localhost, a loopback address, the address the request was sent to or an origin SMKIT_CORS_ALLOW_ORIGINS names); smkit serve refuses it on every route but GET /ping, and the WebSocket handshake. Also, with SMKIT_ALLOWED_HOSTS set, a request whose Host names neither localhost, an IP address nor a name it lists (DNS rebinding).' },
  ERR_INTERNAL: { status: 500, summary: 'An unexpected error inside smkit.' },
  // --- stateful sessions ---
  ERR_SESSIONS_DISABLED: { status: 400, summary: 'The request carries X-Amzn-SageMaker-Session-Id but SAGEMAKER_ENABLE_STATEFUL_SESSIONS is not true.' },
  ERR_SESSION_NOT_FOUND: { status: 400, summary: 'The session the request names is not open in this container (closed, expired, never opened here, or not a session id).' },
  ERR_TOO_MANY_SESSIONS: { status: 503, summary: 'SMKIT_SESSIONS_MAX sessions are open; close some or let them expire.' },
  ERR_SESSION_STORAGE: { status: 424, summary: 'The sessions folder (SAGEMAKER_SESSIONS_PATH) could not be written or read: a session could not be opened, found or closed, or a value stored in it could not be read or written.' },
  ERR_SESSION_KEY: { status: 500, summary: 'User code stored a session value under an invalid key, or a value that is not JSON.' },
  // --- codecs ---
  ERR_CODEC_ALREADY_REGISTERED: { status: 500, summary: 'A codec for this media type is registered twice.' },
  ERR_CSV_PARSE: { status: 400, summary: 'A CSV row is ragged or not numeric.' },
  ERR_JSON_PARSE: { status: 400, summary: 'The JSON body is malformed or not a tensor form.' },
  ERR_NPY_PARSE: { status: 400, summary: 'The NPY/NPZ body is malformed or uses an unsupported dtype.' },
  ERR_NPY_PICKLE: { status: 400, summary: 'Pickled (object) NPY arrays are refused.' },
  ERR_ENCODE: { status: 500, summary: 'A prediction could not be encoded in the negotiated type.' },
  // --- model loading and runtimes ---
  ERR_MODEL_LOAD: { status: 503, summary: 'The model directory could not be loaded.' },
  ERR_MODEL_DIR: { status: 500, summary: 'The model directory is missing or its contents are ambiguous.' },
  ERR_MODEL_NOT_FOUND: { status: 500, summary: 'The model directory holds no model any runtime recognises (and no pipeline file).' },
  ERR_RUNTIME_UNAVAILABLE: { status: 500, summary: 'The runtime or backend a model needs is not installed.' },
  ERR_RUNTIME_ALREADY_REGISTERED: { status: 500, summary: 'A runtime name is registered twice.' },
  ERR_INPUT_MISMATCH: { status: 400, summary: 'Inputs do not match the model (names, count, shape or dtype).' },
  ERR_INPUT_VALUE: { status: 400, summary: 'A request value does not fit the model input\'s dtype (text into a number, a fraction or out-of-range number into an integer, overflow, non-0/1 into bool, an index past a TF.js embedding or lookup table).' },
  ERR_PREDICT: { status: 500, summary: 'The runtime failed while running the model.' },
  // --- user handler code ---
  ERR_HANDLER_LOAD: { status: 500, summary: 'The handler module (SAGEMAKER_PROGRAM) failed to load.' },
  ERR_HANDLER_CONFLICT: { status: 500, summary: 'The handler module exports hooks that cannot go together: transformFn with inputFn/predictFn/predictBatchFn/outputFn, or a hook under both its names (inputFn and input_fn) as two functions.' },
  ERR_USER_CODE: { status: 500, summary: 'User handler code threw an error.' },
  ERR_CODE_DEPENDENCIES: { status: 500, summary: 'Installing code/package.json dependencies failed.' },
  // --- pipeline file ---
  ERR_PIPELINE_INVALID: { status: 500, summary: 'The pipeline file is invalid.' },
  ERR_STEP_FAILED: { status: 500, summary: 'A pipeline step failed.' },
  // --- workers ---
  ERR_WORKER_CRASHED: { status: 500, summary: 'The inference worker died while handling the request.' },
  ERR_WORKER_START: { status: 500, summary: 'A worker process could not be started (the system refused a new process: a limit on processes, open files or memory, or the Node binary is gone); smkit serve tries again, and stops after three failures in a row before any worker loaded the model.' },
  ERR_WORKER_BLOCKED: { status: 500, summary: 'A worker process sent the primary no heartbeat for SMKIT_WORKER_BLOCKED_TIMEOUT_SECONDS (synchronous code held its event loop) and was killed and replaced (logged only: its connections close without an answer).' },
  // --- local endpoints (smkit local) ---
  ERR_ENDPOINT_FILE_INVALID: { status: 400, summary: 'The local endpoint file (JSON or YAML) is invalid.' },
  ERR_CONTAINER_START: { status: 500, summary: 'A local endpoint container exited or did not pass /ping in time.' },
  ERR_DEEP_PING_FAILED: { status: 500, summary: 'The deep-ping sample payload did not get a 2xx answer.' },
  ERR_BACKEND_UNAVAILABLE: { status: 500, summary: 'The chosen local backend (docker/podman) cannot be used here.' },
  ERR_NO_INSTANCE_IN_SERVICE: { status: 503, summary: 'A local endpoint variant has no healthy instance right now (its instances died and replacements are starting).' },
  ERR_INSTANCES_BUSY: { status: 400, summary: 'Every instance of a local endpoint variant already has SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE invocations in flight; the invocation was throttled.' },
  ERR_S3_TOO_MANY_KEYS: { status: 400, summary: 'An S3 prefix the local SageMaker lists (a training channel, transform input, checkpoints, uncompressed model data) holds more than 100 000 objects.' },
  // --- CLI ---
  ERR_CLI_USAGE: { status: 400, summary: 'A command-line argument or flag value is missing or invalid (also a flag that overrides an environment variable).' },
  // --- model archives, packaging, batch transform, invoke (issue 4, second half) ---
  ERR_ARCHIVE_UNSAFE: { status: 400, summary: 'A model.tar.gz entry would write outside the target tree (absolute path, .., escaping link, device file); nothing was extracted.' },
  ERR_ARCHIVE_INVALID: { status: 400, summary: 'A model.tar.gz could not be read as a (gzipped) tar archive.' },
  ERR_ARCHIVE_TOO_LARGE: { status: 507, summary: 'A model.tar.gz would take more disk than is free where it would be extracted; nothing was extracted.' },
  ERR_PACKAGE_INVALID: { status: 400, summary: 'A model directory failed the smkit package checks (no runtime model or pipeline file, bad handler module), or cannot be packed or copied as its archive would hold it (a link pointing nowhere or above it, an unreadable file; smkit package, smkit build --model, smkit local).' },
  ERR_PACKAGE_VERIFY: { status: 500, summary: 'smkit package --verify: the packaged model did not start or the sample invocation failed.' },
  ERR_TRANSFORM_FAILED: { status: 500, summary: 'smkit local transform finished with failed records (see <output>/<file>.out.failed).' },
  ERR_INVOKE_FAILED: { status: 502, summary: 'smkit invoke: the endpoint answered with an HTTP error or could not be reached.' },
  ERR_INIT_TARGET: { status: 400, summary: 'smkit init: the target directory is not empty (use --force), or cannot be used (a file where the project puts a folder, no permission).' },
  // --- images, multipart and TF.js (issue 3) ---
  ERR_IMAGE_DECODE: { status: 400, summary: 'An image body or file part is not a decodable JPEG, PNG or WebP.' },
  ERR_IMAGE_SIZE_MISMATCH: { status: 400, summary: 'Images sent together as one batch have different sizes.' },
  ERR_MULTIPART_PARSE: { status: 400, summary: 'The multipart/form-data body is malformed.' },
  ERR_MULTIPART_TOO_LARGE: { status: 413, summary: 'A multipart file or field is larger than the configured limit.' },
  ERR_MULTIPART_TOO_MANY: { status: 400, summary: 'A multipart request has more files, fields or parts than allowed.' },
  ERR_MULTIPART_FIELD_NAME: { status: 400, summary: 'A multipart field name is missing, too long, or nests brackets or array indexes beyond the limits.' },
  // --- training (smkit train, smkit local train; issue 6) ---
  ERR_TRAIN_CONFIG_INVALID: { status: 500, summary: 'A training config file (hyperparameters.json, inputdataconfig.json, resourceconfig.json) is not valid JSON or lacks required keys.' },
  ERR_TRAIN_ENTRY_POINT: { status: 500, summary: 'The training entry point is not set, not found in the code directory, or its code cannot be fetched.' },
  ERR_TRAIN_PIPE_TIMEOUT: { status: 504, summary: 'A Pipe-mode channel FIFO (<channel>_<epoch>) did not appear in time.' },
  ERR_TRAIN_OUTPUT: { status: 500, summary: 'A folder of the /opt/ml tree that training writes (model, output, output/data, checkpoints) cannot be created or written by the user smkit runs as.' },
  ERR_TRAIN_FAILED: { status: 500, summary: 'The training entry point failed or was stopped (see <base>/output/failure).' },
  // --- images (smkit build; issue 5) ---
  ERR_BUILD_ENGINE: { status: 500, summary: 'smkit build found no working container engine (docker daemon or podman).' },
  ERR_BUILD_FAILED: { status: 500, summary: 'smkit build: the image build failed, or smkit\'s source tree (its Dockerfile and what it copies) could not be found.' },
  // --- smkit deploy (issue 10) ---
  ERR_DEPLOY_CONFIG: { status: 400, summary: 'smkit deploy: the endpoint file lacks what a deployment needs (deploy.role, deploy.artifacts, an image, an s3:// capture destination).' },
  ERR_DEPLOY_FAILED: { status: 502, summary: 'smkit deploy: a service call failed or the endpoint ended Failed; the message carries the service error.' },
  ERR_DEPLOY_ROLLED_BACK: { status: 502, summary: 'smkit deploy: the endpoint update was rolled back (an alarm fired or the new fleet failed); the endpoint serves its previous config.' },
  // --- multi-model endpoints (SAGEMAKER_MULTI_MODEL) ---
  ERR_MODEL_ALREADY_LOADED: { status: 409, summary: 'POST /models: a model of that name is already loaded.' },
  ERR_MODEL_NOT_LOADED: { status: 404, summary: 'No model of that name is loaded (GET, DELETE or invoke on /models/{name}).' },
  ERR_INSUFFICIENT_RESOURCES: { status: 507, summary: 'Not enough memory to load another model, or (multi-model) for an invocation the runtime could not run; SageMaker unloads unused models and retries.' },
  ERR_MULTI_MODEL_DISABLED: { status: 404, summary: 'The /models API needs SAGEMAKER_MULTI_MODEL=true (and /invocations needs it off).' },
} as const satisfies Record<string, { status: number; summary: string }>;

/** A stable error code from {@link ERROR_CATALOGUE}. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** Options for {@link ToolkitError}. */
export interface ToolkitErrorOptions extends ErrorOptions {
  /** Overrides the catalogue's HTTP status (for example a user error carrying its own 4xx); one outside 400–599 is ignored. */
  status?: number;
  /** Extra, JSON-safe facts for logs and clients (for example `{ line: 3 }`). */
  details?: Record<string, unknown>;
}

/**
 * The error type every smkit module throws. `code` is stable, `status` is the HTTP status a client
 * receives, `message` says what to fix.
 */
export class ToolkitError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: ToolkitErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ToolkitError';
    this.code = code;
    // Only an HTTP error status overrides the catalogue's: user code's ToolkitError may carry any,
    // and one written as an answer's status threw (99, NaN) or answered an error as a success (200).
    const status = options.status;
    this.status = status !== undefined && Number.isInteger(status) && status >= 400 && status <= 599 ? status : ERROR_CATALOGUE[code].status;
    if (options.details) this.details = options.details;
  }

  /**
   * The JSON body sent to clients: the code and message, then the details that JSON can carry
   * (see {@link jsonDetails}). A detail named `code` or `message` (user code may throw a
   * ToolkitError with any details) does not stand in for the catalogue's code or the message.
   */
  toJSON(): { code: ErrorCode; message: string } & Record<string, unknown> {
    if (this.details === undefined) return { code: this.code, message: this.message };
    const body: { code: ErrorCode; message: string } & Record<string, unknown> = { code: this.code, message: this.message, ...jsonDetails(this.details) };
    body.code = this.code;
    body.message = this.message;
    return body;
  }
}

/**
 * `details` as JSON carries them (functions and symbols left out, as JSON.stringify leaves them
 * out), or undefined when JSON cannot carry them (a BigInt, a cycle, a getter that throws): they go
 * into a JSON answer, which otherwise could not be written at all.
 */
export function jsonDetails(details: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (details === undefined) return undefined;
  try {
    const copy: unknown = JSON.parse(JSON.stringify(details) ?? 'null');
    return typeof copy === 'object' && copy !== null && !Array.isArray(copy) ? (copy as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when `err` is a {@link ToolkitError}. It never throws: user code may throw a Proxy whose
 * prototype cannot be read, on which `instanceof` throws (what user code threw is then not one).
 */
export function isToolkitError(err: unknown): err is ToolkitError {
  try {
    return err instanceof ToolkitError;
  } catch {
    return false;
  }
}
