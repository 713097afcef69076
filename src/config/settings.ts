import { existsSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { closestNames, orList } from '../core/closest-name.js';
import type { VariableName } from '../core/smkit-variables.js';
import { shellWord } from '../core/shell-word.js';
import { ToolkitError } from '../errors/catalogue.js';
import { decimalNumber, invalidFlag, invalidPath } from './flag-values.js';
import { defaultProgram } from './program.js';

/** Log levels, pino names. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** How log lines are written: `json` (one object per line, what CloudWatch reads) or `pretty` (for people). */
export type LogFormat = 'json' | 'pretty';

/**
 * The web page origins `SMKIT_CORS_ALLOW_ORIGINS` lets call the server from a browser: serialized
 * origins such as `https://app.example.com`, or `'any'` for `*`.
 */
export type AllowedOrigins = readonly string[] | 'any';

/**
 * The `Host` names `SMKIT_ALLOWED_HOSTS` lets through besides `localhost` and IP addresses: lower
 * case, without a trailing dot; one that starts with a dot (`.example.com`) also lets its
 * subdomains through. `'any'` for `*`.
 */
export type AllowedHosts = readonly string[] | 'any';

/** Batch transform strategy (`SAGEMAKER_BATCH_STRATEGY`). */
export type BatchStrategy = 'SINGLE_RECORD' | 'MULTI_RECORD';

/**
 * Everything `smkit serve` reads from the environment, validated and frozen. This module is the
 * only place that reads `process.env` for serving.
 */
export interface Settings {
  /** `SAGEMAKER_BASE_DIR`. @defaultValue `/opt/ml` */
  readonly baseDir: string;
  /** `SM_MODEL_DIR`. @defaultValue `<baseDir>/model` */
  readonly modelDir: string;
  /**
   * `SMKIT_BAKED_MODEL_DIR`: a model baked into the image (outside `/opt/ml`, which SageMaker may
   * mount over), served when {@link Settings.modelDir} is absent or empty.
   */
  readonly bakedModelDir?: string;
  /** `SAGEMAKER_BIND_TO_PORT`. @defaultValue 8080 */
  readonly port: number;
  /** `SMKIT_BIND_HOST`. @defaultValue `0.0.0.0` */
  readonly host: string;
  /**
   * `SMKIT_INSTANCE_ID`: set by `smkit local` and the other starters of `smkit serve` children; every
   * `/ping` answer carries it in `x-smkit-instance-id` (`INSTANCE_ID_HEADER`), so the starter can tell its own child's
   * answer from another server that took the port first.
   */
  readonly instanceId?: string;
  /** `SAGEMAKER_SAFE_PORT_RANGE` as `[low, high]`, inclusive. */
  readonly safePortRange?: readonly [number, number];
  /** `SAGEMAKER_MODEL_SERVER_WORKERS`. @defaultValue number of CPUs */
  readonly workers: number;
  /**
   * Seconds per invocation: `SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS`, else `SAGEMAKER_MODEL_SERVER_TIMEOUT`
   * (also read as seconds, not as the minutes MMS reads it in). @defaultValue 60
   */
  readonly timeoutSeconds: number;
  /**
   * `SAGEMAKER_MAX_PAYLOAD_IN_MB`. `0`, which a transform job with `MaxPayloadInMB=0` (payloads of
   * any size, chunked) passes, gives {@link UNBOUNDED_PAYLOAD_MB}. @defaultValue 6
   */
  readonly maxPayloadMb: number;
  /** `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`. @defaultValue `application/json` */
  readonly defaultAccept: string;
  /** `SAGEMAKER_PROGRAM`, the handler module name in `code/` (extension stripped). @defaultValue `inference` */
  readonly program: string;
  /** `SAGEMAKER_CONTAINER_LOG_LEVEL` (Python level numbers 0, 10, 20, 30, 40, 50 or names) or `SMKIT_LOG_LEVEL`. @defaultValue `info` */
  readonly logLevel: LogLevel;
  /**
   * `SMKIT_LOG_FORMAT` (or `--log-format`): `json`, `pretty`, or `auto`, which is `pretty` when
   * stdout is a terminal and `json` otherwise (in a container, under SageMaker).
   * @defaultValue `auto`
   */
  readonly logFormat: LogFormat;
  /** `SAGEMAKER_STARTUP_TIMEOUT`, seconds allowed for model load before start-up fails. @defaultValue 600 */
  readonly startupTimeoutSeconds: number;
  /** `SAGEMAKER_BATCH_STRATEGY`. @defaultValue `MULTI_RECORD` */
  readonly batchStrategy: BatchStrategy;
  /**
   * `SAGEMAKER_MAX_CONCURRENT_TRANSFORMS`. `0`, which `CreateTransformJob` takes as "unset" (then the
   * container's `/execution-parameters` decides,
   * https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html), is the default too.
   * @defaultValue workers, at most 100 ÷ `SAGEMAKER_MAX_PAYLOAD_IN_MB`
   */
  readonly maxConcurrentTransforms: number;
  /** `SMKIT_DEBUG`: send stack traces to clients. Always logged regardless. @defaultValue false */
  readonly debug: boolean;
  /** `SMKIT_DEVICE`: `auto`, `cpu`, `cuda`, `tensorrt` (ONNX), comma-separated preference list. @defaultValue `cpu` */
  readonly devices: readonly string[];
  /** `SMKIT_INTRA_OP_THREADS`. @defaultValue max(1, floor(CPUs ÷ workers)) */
  readonly intraOpThreads: number;
  /**
   * `SMKIT_WORKER_SEMI_SPACE_MB`: the size each HTTP worker's V8 young generation starts at, per
   * semi-space (`--min-semi-space-size`); 0 leaves V8's own sizing. `auto` (the default) is 32 on
   * Node 24 and later; on Node 20 and 22 it is 16 with dynamic batching on (`SMKIT_BATCH_MAX_SIZE`
   * over 1), else 0: there the flag costs a worker 10–30 ms of start-up (see
   * `src/server/worker-heap.ts`).
   */
  readonly workerSemiSpaceMb: number;
  /**
   * `SMKIT_WORKER_OLD_SPACE_MB`: the size each HTTP worker's V8 old generation starts at
   * (`--initial-old-space-size`); 0 leaves V8's own sizing. `auto` (the default) is 128 in a batch
   * transform container (`SAGEMAKER_BATCH=true`), else 0: the flag costs cold start (see
   * `src/server/worker-heap.ts`).
   */
  readonly workerOldSpaceMb: number;
  /**
   * `SMKIT_WORKER_HEAP_GROWING_PERCENT`: how far each HTTP worker's V8 old generation may grow past
   * what a full collection left alive before the next one, in percent (V8's `--heap-growing-percent`,
   * set once the model is loaded, so start-up is unaffected); 0 leaves V8's own sizing. `auto` (the
   * default) is 300: an old generation up to four times its live size (see `src/server/worker-heap.ts`).
   */
  readonly workerHeapGrowingPercent: number;
  /**
   * `SMKIT_CONNECTION_BALANCING`: how new connections reach the HTTP workers: `primary` (Node's
   * cluster round-robin), `kernel` (`SO_REUSEPORT`, Node 22.12+ on Linux) or `auto` (`kernel`
   * where supported, with a fixed port). See
   * `src/server/connection-balancing.ts`. @defaultValue `auto`
   */
  readonly connectionBalancing: 'auto' | 'primary' | 'kernel';
  /**
   * `SMKIT_CONNECTION_REBALANCING`: with two or more workers, a worker that holds more kept-alive
   * connections than its share answers its next requests with `Connection: close`, so the clients
   * reconnect and the connections spread again (`src/server/connection-rebalancing.ts`).
   * @defaultValue true
   */
  readonly connectionRebalancing: boolean;
  /** `SMKIT_WORKER_CONCURRENCY`: requests one worker runs at once (async runtimes overlap I/O). @defaultValue 4 */
  readonly workerConcurrency: number;
  /**
   * `SMKIT_BATCH_MAX_SIZE`: most concurrent requests one model run takes (dynamic batching); 1 turns
   * batching off. A pipeline file's predict step may set its own (`batching: { maxSize }`). @defaultValue 1
   */
  readonly batchMaxSize: number;
  /**
   * `SMKIT_BATCH_MAX_DELAY_MS`: how long a batch that formed while the model was busy may wait for
   * more requests once the model is free. A request that finds the model idle never waits. @defaultValue 0
   */
  readonly batchMaxDelayMs: number;
  /** `SMKIT_INSTALL_CODE_DEPS`: `auto` installs `code/package.json` deps at start when `code/node_modules` is absent; `never` skips. @defaultValue `auto` */
  readonly installCodeDeps: 'auto' | 'never';
  /** `SMKIT_TFJS_BACKEND`: force a TF.js backend (`tensorflow`, `wasm`, `cpu`); `auto` picks the best present. @defaultValue `auto` */
  readonly tfjsBackend: string;
  /**
   * `SMKIT_INFERENCE_MODE`: `thread` runs every invocation in an inference worker thread; `inline`
   * runs it on the HTTP thread; `auto` runs inline only when no user code is involved and every
   * model runs on ONNX Runtime (whose kernels run off the JS thread), else in a thread.
   * @defaultValue `auto`
   */
  readonly inferenceMode: 'auto' | 'thread' | 'inline';
  /**
   * `SAGEMAKER_MULTI_MODEL`: serve the multi-model endpoint API (`/models`, `/models/{name}/invoke`)
   * instead of one model. SageMaker sets it for containers labelled
   * `com.amazonaws.sagemaker.capabilities.multi-models=true`. @defaultValue false
   */
  readonly multiModel: boolean;
  /** `SMKIT_MME_MIN_FREE_MB`: a load is refused with 507 when less memory than this is free. @defaultValue 256 */
  readonly mmeMinFreeMb: number;
  /**
   * `SMKIT_INFERENCE_THREAD_HEAP_MB`: the most JavaScript heap (V8's old generation) each inference
   * thread may hold, in MB; a thread that needs more is ended by Node (`ERR_WORKER_OUT_OF_MEMORY`).
   * 0 leaves Node's own limit, which it derives from the memory of the machine or cgroup; else at
   * least {@link MIN_INFERENCE_THREAD_HEAP_MB}.
   * @defaultValue 0
   */
  readonly inferenceThreadHeapMb: number;
  /** `SMKIT_METRICS`: serve Prometheus metrics at `GET /metrics` (what SageMaker's `ContainerMetricsConfig` scrapes). @defaultValue true */
  readonly metrics: boolean;
  /**
   * `SMKIT_WORKER_BLOCKED_TIMEOUT_SECONDS`: how long an HTTP worker process may go without its
   * heartbeat reaching the primary (its event loop held by synchronous code: with
   * `SMKIT_INFERENCE_MODE=inline`, a handler stuck in a loop) before it is killed and replaced.
   * While a worker loads its model, and on a multi-model endpoint, `SAGEMAKER_STARTUP_TIMEOUT` when
   * longer. @defaultValue {@link timeoutSeconds} + 30
   */
  readonly workerBlockedTimeoutSeconds: number;
  /** `SMKIT_SHUTDOWN_GRACE_SECONDS`: how long SIGTERM waits for in-flight requests. @defaultValue 25 */
  readonly shutdownGraceSeconds: number;
  /**
   * `SMKIT_MAX_DECODED_MB`: the most memory one request's decoded inputs may take (image pixels,
   * NPY/NPZ arrays, JSON tensors), checked from headers and shapes before anything is allocated, so
   * a small compressed body cannot expand to gigabytes. A request over it gets 413
   * `ERR_DECODED_TOO_LARGE`. @defaultValue 16 × `SAGEMAKER_MAX_PAYLOAD_IN_MB`
   */
  readonly maxDecodedMb: number;
  /**
   * `SMKIT_BODY_TIMEOUT_SECONDS`: the longest a client may take to send a request body once its
   * headers arrived; a body that stalls longer gets 408 `ERR_BODY_TIMEOUT` and its connection is
   * closed. An answer the client takes none of for as long has its connection closed too.
   * @defaultValue 60
   */
  readonly bodyTimeoutSeconds: number;
  /**
   * `SMKIT_BODY_MEMORY_MB`: the most memory the request bodies one HTTP worker holds may take
   * together (arriving, waiting for the model, being answered), with its bidirectional streams'
   * messages not yet taken by the model's code; a body that does not fit gets 503
   * `ERR_SERVER_BUSY` with `Retry-After: 1`, a stream is closed with 4503. Each body is bounded on
   * its own by the payload limit, but many connections at once could otherwise hold any amount.
   * @defaultValue a quarter of the memory (the cgroup limit when there is one) ÷ workers, at least 2 × `SAGEMAKER_MAX_PAYLOAD_IN_MB`
   */
  readonly bodyMemoryMb: number;
  /**
   * `SMKIT_BIDI_STREAMS_MAX`: the most bidirectional streams (WebSockets) the server holds open at
   * once, across all its HTTP workers, from the handshake a worker accepts until the connection has
   * closed; another handshake gets 503 `ERR_TOO_MANY_STREAMS`. Their memory is bounded by `SMKIT_BODY_MEMORY_MB`, but an idle
   * stream costs a socket and about 15 KB whatever it sends, so their number is bounded too.
   * @defaultValue 1000
   */
  readonly bidiStreamsMax: number;
  /**
   * Stateful sessions (https://docs.aws.amazon.com/sagemaker/latest/dg/stateful-sessions.html), off
   * unless `SAGEMAKER_ENABLE_STATEFUL_SESSIONS=true`: `ttlSeconds` from `SAGEMAKER_SESSIONS_EXPIRATION`
   * (default 1200), `path` from `SAGEMAKER_SESSIONS_PATH` (default `/dev/shm/sagemaker_sessions`, or
   * the temporary folder's `sagemaker_sessions` without `/dev/shm`), at most `SMKIT_SESSIONS_MAX`
   * (default 10 000) open at once.
   */
  readonly sessions?: { readonly path: string; readonly ttlSeconds: number; readonly max: number };
  /**
   * `SMKIT_CORS_ALLOW_ORIGINS`: the web page origins (comma-separated, as in
   * `https://app.example.com`) that may call the server from a browser, past the 403
   * `ERR_FOREIGN_ORIGIN` check, with CORS headers on the answers and preflights answered; `*` for
   * any page. @defaultValue none
   */
  readonly corsAllowOrigins?: AllowedOrigins;
  /**
   * `SMKIT_ALLOWED_HOSTS`: the host names (comma-separated, as in `myhost.example.com`; `.example.com`
   * for it and its subdomains) a request's `Host` may name besides `localhost` and IP addresses; a
   * request to another name gets 403 `ERR_FOREIGN_ORIGIN`, which stops a web page that points its
   * own name at the server (DNS rebinding) from reading it. Unset (the default) or `*`: any `Host`,
   * as SageMaker calls the container under a name of its own. @defaultValue any
   */
  readonly allowedHosts?: AllowedHosts;
}

type Env = Readonly<Record<string, string | undefined>>;

function readSessions(env: Env): Settings['sessions'] {
  if (!readBool(env, 'SAGEMAKER_ENABLE_STATEFUL_SESSIONS', false)) return undefined;
  const fallback = existsSync('/dev/shm') ? '/dev/shm/sagemaker_sessions' : path.join(os.tmpdir(), 'sagemaker_sessions');
  const dir = str(env, 'SAGEMAKER_SESSIONS_PATH') ?? fallback;
  if (!path.isAbsolute(dir)) throw invalid('SAGEMAKER_SESSIONS_PATH', dir, 'an absolute folder path');
  return {
    path: dir,
    ttlSeconds: readInt(env, 'SAGEMAKER_SESSIONS_EXPIRATION', 1200, 1, 7 * 86400),
    max: readInt(env, 'SMKIT_SESSIONS_MAX', 10_000, 1, 1_000_000),
  };
}

/**
 * `SMKIT_CORS_ALLOW_ORIGINS` as serialized origins, the form a browser's `Origin` header takes
 * (host in lower case, no default port): `HTTPS://App.Example.com:443/` is read as
 * `https://app.example.com`. A path, query, user or any other scheme is refused: an origin has none.
 */
function readCorsAllowOrigins(env: Env): AllowedOrigins | undefined {
  const raw = str(env, 'SMKIT_CORS_ALLOW_ORIGINS');
  if (raw === undefined) return undefined;
  const entries = raw.split(',').map((entry) => entry.trim());
  if (entries.length === 1 && entries[0] === '*') return 'any';
  const expected = 'a comma-separated list of web page origins such as https://app.example.com,http://localhost:3000 (scheme, host and port only), or * for any page';
  const origins: string[] = [];
  for (const entry of entries) {
    let url: URL | undefined;
    try {
      url = new URL(entry);
    } catch {
      url = undefined;
    }
    const bare = url !== undefined && (url.protocol === 'http:' || url.protocol === 'https:') && url.pathname === '/' && !url.search && !url.hash && !url.username && !url.password && !entry.endsWith('#') && !entry.endsWith('?');
    if (!bare) throw invalid('SMKIT_CORS_ALLOW_ORIGINS', raw, `${expected}; ${JSON.stringify(entry)} is not one`);
    if (!origins.includes(url!.origin)) origins.push(url!.origin);
  }
  // A list, not a Set: the settings reach the HTTP workers as JSON.
  return origins;
}

/**
 * `SMKIT_ALLOWED_HOSTS` as host names (see {@link AllowedHosts}), or undefined when unset: `*` is
 * `'any'`; a port, path, user or address is refused (IP addresses and `localhost` always pass).
 */
export function readAllowedHosts(env: Env = process.env): AllowedHosts | undefined {
  const raw = str(env, 'SMKIT_ALLOWED_HOSTS');
  if (raw === undefined) return undefined;
  const entries = raw.split(',').map((entry) => entry.trim().toLowerCase().replace(/\.$/, ''));
  if (entries.length === 1 && entries[0] === '*') return 'any';
  const hosts: string[] = [];
  for (const entry of entries) {
    if (!/^\.?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/.test(entry)) {
      throw invalid(
        'SMKIT_ALLOWED_HOSTS',
        raw,
        `a comma-separated list of host names such as myhost.example.com,.internal.example.com (no scheme or port; a leading dot for a name and its subdomains), or * for any; ${JSON.stringify(entry)} is not one`,
      );
    }
    if (!hosts.includes(entry)) hosts.push(entry);
  }
  return hosts;
}

function readInstanceId(env: Env): string | undefined {
  const id = str(env, 'SMKIT_INSTANCE_ID');
  if (id !== undefined && !/^[A-Za-z0-9._-]{1,128}$/.test(id)) throw invalid('SMKIT_INSTANCE_ID', id, 'up to 128 letters, digits, dots, dashes or underscores');
  return id;
}

/**
 * Refuses a model directory that is a file (`--model-dir model.onnx`): the server would start with
 * no model to find. One that does not exist (yet) is allowed here: `/ping` answers 503 until a model
 * is there and the server restarts (a `--model-dir` that does not exist is refused by `serve`, which
 * knows whether a baked-in model is served in its place).
 */
function checkNotAFile(modelDir: string, flag: string | undefined, variable: string | undefined, baseDir: string): void {
  let isFile: boolean;
  try {
    isFile = !statSync(modelDir).isDirectory();
  } catch (err) {
    // Under a file (SAGEMAKER_BASE_DIR=/etc/hosts): no model can ever be there, where a folder that
    // does not exist yet may be made; the server would start and answer 503 with a warning that it does not exist.
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') checkUnderAFile(modelDir, flag, variable, baseDir);
    return;
  }
  if (!isFile) return;
  // A model.tar.gz is no folder's file: its parent folder is no model directory either.
  if (flag !== undefined && /\.(tar\.gz|tgz|tar)$/i.test(flag)) {
    const archive = shellWord(flag);
    throw invalidPath('--model-dir', flag, `the folder that holds the model, not an archive: extract it first (mkdir model && tar -xzf ${archive} -C model), or serve it behind a local endpoint with smkit local ${archive}`, 'is a file');
  }
  if (flag !== undefined) throw invalidPath('--model-dir', flag, `the folder that holds the model, such as ${path.dirname(modelDir)}`, 'is a file');
  if (variable !== undefined) throw invalid('SM_MODEL_DIR', variable, 'a directory, not a file');
  throw invalid('SAGEMAKER_BASE_DIR', baseDir, `an /opt/ml tree whose model/ is a directory (${modelDir} is a file)`);
}

/**
 * `SMKIT_BAKED_MODEL_DIR`, absolute. One that does not exist is allowed (the image names
 * `/opt/smkit/model` whether or not a model was baked there), but not a file, or a path through one:
 * no model could ever be there, and the server would start on the model directory alone without a word.
 */
function readBakedModelDir(env: Env): string | undefined {
  const raw = str(env, 'SMKIT_BAKED_MODEL_DIR');
  if (raw === undefined) return undefined;
  const dir = path.resolve(raw);
  let stats;
  try {
    stats = statSync(dir);
  } catch {
    const file = fileAbove(dir);
    if (file !== undefined) throw invalid('SMKIT_BAKED_MODEL_DIR', raw, `a directory (${file} is a file)`);
    return dir;
  }
  if (!stats.isDirectory()) throw invalid('SMKIT_BAKED_MODEL_DIR', raw, 'a directory, not a file');
  return dir;
}

/** The nearest of `dir`'s parents that is not a folder (a file), when there is one. */
function fileAbove(dir: string): string | undefined {
  for (let at = path.dirname(dir); ; at = path.dirname(at)) {
    try {
      if (!statSync(at).isDirectory()) return at;
    } catch {
      // Not there, or itself under a file: looked for further up.
    }
    if (path.dirname(at) === at) return undefined;
  }
}

/** Refuses a model directory whose path runs through a file, naming the flag or variable that chose it. */
function checkUnderAFile(modelDir: string, flag: string | undefined, variable: string | undefined, baseDir: string): void {
  const file = fileAbove(modelDir);
  if (file === undefined) return;
  const problem = `${file} is a file`;
  if (flag !== undefined) throw invalidPath('--model-dir', flag, 'the folder that holds the model', `cannot be a folder: ${problem}`);
  if (variable !== undefined) throw invalid('SM_MODEL_DIR', variable, `a directory (${problem})`);
  throw invalid('SAGEMAKER_BASE_DIR', baseDir, `an /opt/ml tree, a directory (${problem})`);
}

/**
 * The error for an environment variable set to `value` where `expected` was wanted:
 * `ERR_CONFIG_INVALID`, naming it, in the shape of a bad flag value's ({@link invalidFlag}), with
 * the values `meant` when the text looks like a typo of them.
 */
export function invalid(name: string, value: string, expected: string, meant: readonly string[] = []): ToolkitError {
  const hint = meant.length > 0 ? ` Did you mean ${orList(meant)}?` : '';
  return new ToolkitError('ERR_CONFIG_INVALID', `${name}=${JSON.stringify(value)} is invalid: expected ${expected}.${hint}`, {
    details: { variable: name },
  });
}

function str(env: Env, name: VariableName): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** `SMKIT_WORKER_SEMI_SPACE_MB=auto` on Node 20 and 22 with batching on: V8's largest default semi-space. */
const AUTO_SEMI_SPACE_MB = 16;

/** From this Node major on, the semi-space flag costs no measurable start-up time, so `auto` always sets it. */
const FREE_SEMI_SPACE_FLAG_NODE_MAJOR = 24;

/**
 * `SMKIT_WORKER_SEMI_SPACE_MB=auto` from Node 24 on: twice V8's default maximum. With 16, batching
 * workers there still fell into a mark-compact every few hundred milliseconds under load; with 32
 * they ran none (see `src/server/worker-heap.ts`).
 */
const AUTO_SEMI_SPACE_MB_FROM_NODE_24 = 32;

/**
 * `SMKIT_WORKER_SEMI_SPACE_MB`: `auto` or a size in MB. `auto` is 32 MB on Node 24 and later: there
 * the flag added nothing to cold start (Node 20 and 22: 10–30 ms), and without it one-row and
 * 256-row requests cost 10–20% more CPU. On Node 20 and 22 it is 16 MB with dynamic batching on,
 * else 0 (see `src/server/worker-heap.ts`).
 */
function readSemiSpaceMb(env: Env, batching: boolean, nodeMajor: number): number {
  return readMbOrAuto(env, 'SMKIT_WORKER_SEMI_SPACE_MB', 256, () => {
    if (nodeMajor >= FREE_SEMI_SPACE_FLAG_NODE_MAJOR) return AUTO_SEMI_SPACE_MB_FROM_NODE_24;
    return batching ? AUTO_SEMI_SPACE_MB : 0;
  });
}

/** `SMKIT_WORKER_OLD_SPACE_MB=auto` in a batch transform container: see `src/server/worker-heap.ts`. */
const AUTO_OLD_SPACE_MB_FOR_BATCH_TRANSFORM = 128;

/**
 * `SMKIT_WORKER_OLD_SPACE_MB`: `auto` or a size in MB, 0 for V8's own sizing. `auto` is 128 where
 * SageMaker runs a batch transform (`SAGEMAKER_BATCH`, a switch, which it sets to `true` and local mode to
 * `True`): large payloads, and a start-up nobody waits on. Elsewhere it is 0.
 */
function readOldSpaceMb(env: Env): number {
  // Read as a switch whether or not `auto` needs it, so that a value no switch takes is refused, not ignored.
  const batchTransform = readBool(env, 'SAGEMAKER_BATCH', false);
  return readMbOrAuto(env, 'SMKIT_WORKER_OLD_SPACE_MB', 4096, () => (batchTransform ? AUTO_OLD_SPACE_MB_FOR_BATCH_TRANSFORM : 0));
}

/** A size in whole MB from 0 to `max`, or `auto` (any case; also when unset), which `auto` decides. */
function readMbOrAuto(env: Env, name: VariableName, max: number, auto: () => number): number {
  return readWholeOrAuto(env, name, max, 'MB', auto);
}

/** `auto` or a whole number of `unit` from 0 to `max`. */
function readWholeOrAuto(env: Env, name: VariableName, max: number, unit: string, auto: () => number): number {
  const raw = str(env, name);
  if (raw === undefined || raw.toLowerCase() === 'auto') return auto();
  if (!/^\d+$/.test(raw) || Number(raw) > max) throw invalid(name, raw, `\`auto\` or a whole number of ${unit} from 0 to ${max}`);
  return Number(raw);
}

/**
 * `SMKIT_WORKER_HEAP_GROWING_PERCENT=auto`: V8's largest growing factor, 4. With its own, lower
 * factor a worker's old generation (about 11 MB alive) keeps less headroom than its young
 * generation, so V8 starts a full collection every 60-100 ms under 256-row requests
 * (see `src/server/worker-heap.ts`).
 */
const AUTO_HEAP_GROWING_PERCENT = 300;

/** Reads an integer setting in `[min, max]`. */
export function readInt(env: Env, name: VariableName, fallback: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw)) throw invalid(name, raw, `a whole number from ${min} to ${max}`);
  const n = Number(raw);
  if (n < min || n > max) throw invalid(name, raw, `a whole number from ${min} to ${max}`);
  return n;
}

/** Reads a number setting written in decimal (fractions allowed) in `[min, max]`. */
export function readNumber(env: Env, name: VariableName, fallback: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  const n = decimalNumber(raw);
  if (!Number.isFinite(n) || n < min || n > max) throw invalid(name, raw, `a decimal number from ${min} to ${max}`);
  return n;
}

/** What a switch setting takes for on, and for off, in any case: the parser and its error both read these. */
const SWITCH_ON = ['true', '1', 'yes', 'on'] as const;
const SWITCH_OFF = ['false', '0', 'no', 'off'] as const;

const SWITCH_PAIRS = SWITCH_ON.flatMap((on, i) => [on, SWITCH_OFF[i]!]);

/** Every form {@link readBool} takes, for its error: `true, false, 1, 0, yes, no, on or off (any case)`. */
const SWITCH_FORMS = `${SWITCH_PAIRS.slice(0, -1).join(', ')} or ${SWITCH_PAIRS.at(-1)} (any case)`;

/**
 * Reads a switch (boolean) setting, the one reader of every switch variable: `true`, `1`, `yes` or
 * `on` for on, `false`, `0`, `no` or `off` for off, in any case; else `ERR_CONFIG_INVALID` listing
 * all eight (and the one meant, for a typo such as `flase`).
 */
export function readBool(env: Env, name: VariableName, fallback: boolean): boolean {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  const v = raw.toLowerCase();
  if ((SWITCH_ON as readonly string[]).includes(v)) return true;
  if ((SWITCH_OFF as readonly string[]).includes(v)) return false;
  throw invalid(name, raw, SWITCH_FORMS, closestNames(v, SWITCH_PAIRS));
}

function readEnum<T extends string>(env: Env, name: VariableName, fallback: T, allowed: readonly T[], caseInsensitive = true): T {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  const v = caseInsensitive ? raw.toLowerCase() : raw;
  const hit = allowed.find((a) => (caseInsensitive ? a.toLowerCase() : a) === v);
  if (!hit) throw invalid(name, raw, `one of ${allowed.join(', ')}`, closestNames(raw, allowed));
  return hit;
}

const PY_LEVELS: Record<string, LogLevel> = {
  '0': 'trace',
  '10': 'debug',
  '20': 'info',
  '30': 'warn',
  '40': 'error',
  '50': 'fatal',
  notset: 'trace',
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  critical: 'fatal',
  fatal: 'fatal',
  silent: 'silent',
};

/** Maps a Python-style (`20`, `WARNING`) or pino-style log level; undefined when unknown. */
export function parseLogLevel(raw: string): LogLevel | undefined {
  return PY_LEVELS[raw.trim().toLowerCase()];
}

/** Every form {@link parseLogLevel} takes, for the error: the README's list, 0 and the pino-only names included. */
export const LOG_LEVEL_FORMS = 'a Python level number (0, 10, 20, 30, 40, 50) or name (NOTSET, DEBUG, INFO, WARNING, ERROR, CRITICAL), or trace, warn, fatal or silent';

function readLogLevel(env: Env): LogLevel {
  // Both are checked, the first set wins: an invalid SAGEMAKER_CONTAINER_LOG_LEVEL beside SMKIT_LOG_LEVEL is refused, not ignored.
  const levels = (['SMKIT_LOG_LEVEL', 'SAGEMAKER_CONTAINER_LOG_LEVEL'] as const).flatMap((name) => {
    const raw = str(env, name);
    if (raw === undefined) return [];
    const level = parseLogLevel(raw);
    if (!level) throw invalid(name, raw, LOG_LEVEL_FORMS);
    return [level];
  });
  return levels[0] ?? 'info';
}

/**
 * The workers, but no more than a transform job may run with the payload limit reported beside it:
 * CreateTransformJob holds `MaxConcurrentTransforms` × `MaxPayloadInMB` to 100 MB
 * (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html), and
 * `/execution-parameters` answers in place of those members. A payload of 0 (streamed) sets no bound.
 */
function defaultConcurrentTransforms(workers: number, payloadMb: number): number {
  return payloadMb === 0 ? workers : Math.max(1, Math.min(workers, Math.floor(100 / payloadMb)));
}

function readPortRange(env: Env): readonly [number, number] | undefined {
  const name = 'SAGEMAKER_SAFE_PORT_RANGE';
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  const m = /^(\d+)-(\d+)$/.exec(raw);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2]) : NaN;
  if (!m || lo < 1 || hi > 65535 || lo > hi) throw invalid(name, raw, 'an inclusive port range "LOW-HIGH" of ports from 1 to 65535, LOW not above HIGH');
  return [lo, hi];
}

/**
 * `SMKIT_BATCH_MAX_DELAY_MS`, below the invocation timeout when batching is on: a batch that formed
 * while the model was busy waits that long from its oldest request's arrival unless it fills, so
 * with a delay as long as the timeout that request (and, at low load, every request that arrives
 * during a run) would be answered 504 before its batch ran. With batching off (`SMKIT_BATCH_MAX_SIZE`
 * 1) the delay is unused, so not refused: a pipeline step that turns batching on with it is
 * (`stepBatching`, given the timeout as `BatchingOptions.timeoutMs`).
 */
function readBatchMaxDelayMs(env: Env, timeoutSeconds: number, batchMaxSize: number): number {
  const name = 'SMKIT_BATCH_MAX_DELAY_MS';
  const raw = str(env, name);
  if (raw === undefined) return 0;
  const ms = decimalNumber(raw);
  // One message with every bound that applies, so that the value it suggests is taken.
  const joint = batchMaxSize > 1;
  if (!Number.isFinite(ms) || ms < 0 || ms > 10_000 || (joint && ms > 0 && ms >= timeoutSeconds * 1000)) {
    const below = joint
      ? `, and below the invocation timeout (${timeoutSeconds * 1000} ms, ${timeoutVariable(env)}) with batching on (SMKIT_BATCH_MAX_SIZE=${batchMaxSize}): a batch that does not fill waits that long from its oldest request's arrival, which would time out first`
      : '';
    throw invalid(name, raw, `a decimal number from 0 to 10000${below}`);
  }
  return ms;
}

/** The variable that set the invocation timeout: the one {@link readTimeoutSeconds} took. */
function timeoutVariable(env: Env): string {
  return str(env, 'SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS') !== undefined ? 'SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS' : 'SAGEMAKER_MODEL_SERVER_TIMEOUT';
}

/**
 * The invocation timeout. SageMaker's inference toolkit passes `SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS`
 * to MMS as `default_response_timeout_seconds`, which MMS prefers to `default_response_timeout`.
 */
function readTimeoutSeconds(env: Env): number {
  const fallback = readNumber(env, 'SAGEMAKER_MODEL_SERVER_TIMEOUT', 60, 0.001, 86400);
  return readNumber(env, 'SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS', fallback, 0.001, 86400);
}

const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9*][a-z0-9!#$&^_.+*-]*$/i;
const DEVICES = ['auto', 'cpu', 'cuda', 'tensorrt', 'gpu'] as const;

/**
 * `SMKIT_DEVICE`: devices by preference, at least one (a value of commas alone names none, and the
 * runtimes read an empty list differently: ONNX Runtime as `cpu`, TF.js as GPU first). A value
 * with an unknown device is refused quoted whole, naming that device.
 */
function readDevices(env: Env): string[] {
  const raw = str(env, 'SMKIT_DEVICE');
  if (raw === undefined) return ['cpu'];
  const devices = raw.split(',').map((d) => d.trim().toLowerCase()).filter(Boolean);
  const expected = `a comma-separated list of ${DEVICES.join(', ')}`;
  if (devices.length === 0) throw invalid('SMKIT_DEVICE', raw, expected);
  const unknown = devices.find((d) => !(DEVICES as readonly string[]).includes(d));
  if (unknown !== undefined) throw invalid('SMKIT_DEVICE', raw, `${expected} (${JSON.stringify(unknown)} is none of them)`, closestNames(unknown, DEVICES));
  return devices;
}

/** Overrides from CLI flags, which win over the environment. */
export interface SettingsOverrides {
  modelDir?: string;
  port?: number;
  /** `--host`, wins over `SMKIT_BIND_HOST`. */
  host?: string;
  workers?: number;
  /** `--log-format`: `json`, `pretty` or `auto`. */
  logFormat?: string;
  /** Whether stdout is a terminal (decides `auto` log format). @defaultValue `process.stdout.isTTY` */
  terminal?: boolean;
}

/**
 * Resolves the log format from a flag or `SMKIT_LOG_FORMAT` (`json`, `pretty`, `auto`); `auto`
 * means pretty on a terminal. Throws `ERR_CLI_USAGE` naming the flag, or `ERR_CONFIG_INVALID`
 * naming the variable.
 */
export function readLogFormat(env: Env = process.env, flag?: string, terminal: boolean = process.stdout.isTTY === true): LogFormat {
  const text = flag ?? str(env, 'SMKIT_LOG_FORMAT') ?? 'auto';
  const raw = text.toLowerCase();
  if (raw !== 'json' && raw !== 'pretty' && raw !== 'auto') {
    const formats = ['json', 'pretty', 'auto'];
    throw flag === undefined ? invalid('SMKIT_LOG_FORMAT', text, 'one of json, pretty, auto', closestNames(text, formats)) : invalidFlag('--log-format', flag, 'one of json, pretty, auto', closestNames(flag, formats));
  }
  return raw === 'auto' ? (terminal ? 'pretty' : 'json') : raw;
}

/** The memory this process may use: the machine's, or its cgroup's limit when lower (a container's). */
export function memoryLimitBytes(): number {
  const constrained = process.constrainedMemory?.() ?? 0;
  const total = os.totalmem();
  return constrained > 0 && constrained < total ? constrained : total;
}

/** The smallest `SMKIT_INFERENCE_THREAD_HEAP_MB` taken, besides 0. */
export const MIN_INFERENCE_THREAD_HEAP_MB = 16;

/**
 * `SMKIT_INFERENCE_THREAD_HEAP_MB`: 0 (Node's own limit), or from {@link MIN_INFERENCE_THREAD_HEAP_MB}.
 */
function readInferenceThreadHeapMb(env: Env): number {
  const name = 'SMKIT_INFERENCE_THREAD_HEAP_MB';
  const raw = str(env, name);
  if (raw === undefined) return 0;
  const mb = /^\d+$/.test(raw) ? Number(raw) : NaN;
  // Below about 3 MB, Node 22 and 24 end the whole process (V8: "GC during deserialization") as the
  // thread starts, where Node 20 ends only the thread; no heap that small could hold a model's code anyway.
  if (!(mb === 0 || (mb >= MIN_INFERENCE_THREAD_HEAP_MB && mb <= 1_048_576))) {
    throw invalid(name, raw, `0 (Node's own limit) or a whole number from ${MIN_INFERENCE_THREAD_HEAP_MB} to 1048576`);
  }
  return mb;
}

/**
 * `SMKIT_BODY_MEMORY_MB`, by default a quarter of the memory shared by the workers (the rest is the
 * models', their runs' and the decoded inputs'), and never less than two bodies of the largest size.
 */
function readBodyMemoryMb(env: Env, memoryBytes: number, workers: number, maxPayloadMb: number): number {
  const name = 'SMKIT_BODY_MEMORY_MB';
  const raw = str(env, name);
  if (raw === undefined) return Math.max(2 * maxPayloadMb, Math.floor(memoryBytes / (4 * workers) / (1024 * 1024)));
  const mb = decimalNumber(raw);
  // The lower bound is the payload limit's: one message names it, whatever was wrong with the value.
  if (!Number.isFinite(mb) || mb < maxPayloadMb || mb > 1_048_576) {
    const payload = str(env, 'SAGEMAKER_MAX_PAYLOAD_IN_MB');
    const limit = payload === undefined ? 'SAGEMAKER_MAX_PAYLOAD_IN_MB, 6 by default' : decimalNumber(payload) === 0 ? 'SAGEMAKER_MAX_PAYLOAD_IN_MB=0, which means 100' : 'SAGEMAKER_MAX_PAYLOAD_IN_MB';
    throw invalid(name, raw, `a decimal number from ${maxPayloadMb} (${limit}: a body of the largest size allowed must fit) to 1048576`);
  }
  return mb;
}

/** The largest integer a SageMaker API member takes (a 32-bit signed integer), where the API sets no maximum of its own. */
export const MAX_API_INTEGER = 2_147_483_647;

/**
 * The body limit used for `SAGEMAKER_MAX_PAYLOAD_IN_MB=0`: `CreateTransformJob` takes `MaxPayloadInMB=0`
 * for payloads of any size (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html)
 * and 100 is the largest fixed value it accepts.
 */
export const UNBOUNDED_PAYLOAD_MB = 100;

/**
 * Reads, validates and freezes the serving settings. Throws `ERR_CONFIG_INVALID` naming the
 * variable on the first invalid value (`ERR_CLI_USAGE` for an invalid `port` or `workers` override).
 */
export function loadSettings(
  env: Env = process.env,
  overrides: SettingsOverrides = {},
  cpuCount = os.availableParallelism(),
  nodeMajor = Number(process.versions.node.split('.')[0]),
  memoryBytes = memoryLimitBytes(),
): Readonly<Settings> {
  const baseDir = path.resolve(str(env, 'SAGEMAKER_BASE_DIR') ?? '/opt/ml');
  const modelDir = path.resolve(overrides.modelDir ?? str(env, 'SM_MODEL_DIR') ?? path.join(baseDir, 'model'));
  checkNotAFile(modelDir, overrides.modelDir, str(env, 'SM_MODEL_DIR'), baseDir);
  const port = overrides.port ?? readInt(env, 'SAGEMAKER_BIND_TO_PORT', 8080, 0, 65535);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalidFlag('--port', String(port), 'a whole number from 0 to 65535');
  const workers = overrides.workers ?? readInt(env, 'SAGEMAKER_MODEL_SERVER_WORKERS', Math.max(1, cpuCount), 1, 256);
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw invalidFlag('--workers', String(workers), 'a whole number from 1 to 256');
  const batchMaxSize = readInt(env, 'SMKIT_BATCH_MAX_SIZE', 1, 1, 4096);
  const defaultAccept = str(env, 'SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT') ?? 'application/json';
  if (!MEDIA_TYPE.test(defaultAccept) || defaultAccept.includes('*')) {
    throw invalid('SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT', defaultAccept, 'a concrete media type such as application/json');
  }
  const program = defaultProgram(env);
  const devices = readDevices(env);
  // 0 is what a transform job with MaxPayloadInMB=0 ("arbitrarily large", chunked) sets: a limit still applies.
  const payloadSetting = readNumber(env, 'SAGEMAKER_MAX_PAYLOAD_IN_MB', 6, 0, 100_000);
  const maxPayloadMb = payloadSetting === 0 ? UNBOUNDED_PAYLOAD_MB : payloadSetting;
  const timeoutSeconds = readTimeoutSeconds(env);
  const settings: Settings = {
    baseDir,
    modelDir,
    bakedModelDir: readBakedModelDir(env),
    port,
    host: overrides.host ?? str(env, 'SMKIT_BIND_HOST') ?? '0.0.0.0',
    safePortRange: readPortRange(env),
    workers,
    timeoutSeconds,
    maxPayloadMb,
    defaultAccept: defaultAccept.toLowerCase(),
    program,
    logLevel: readLogLevel(env),
    logFormat: readLogFormat(env, overrides.logFormat, overrides.terminal),
    instanceId: readInstanceId(env),
    startupTimeoutSeconds: readNumber(env, 'SAGEMAKER_STARTUP_TIMEOUT', 600, 1, 86400),
    batchStrategy: readEnum(env, 'SAGEMAKER_BATCH_STRATEGY', 'MULTI_RECORD', ['SINGLE_RECORD', 'MULTI_RECORD'] as const),
    // 0 is what a transform job with MaxConcurrentTransforms=0 ("0 or left unset": the container's answer decides) may set.
    // The API sets no maximum (with MaxPayloadInMB=0 the 100 MB product bounds nothing), and the value is only reported.
    maxConcurrentTransforms: readInt(env, 'SAGEMAKER_MAX_CONCURRENT_TRANSFORMS', 0, 0, MAX_API_INTEGER) || defaultConcurrentTransforms(workers, payloadSetting),
    debug: readBool(env, 'SMKIT_DEBUG', false),
    devices,
    intraOpThreads: readInt(env, 'SMKIT_INTRA_OP_THREADS', Math.max(1, Math.floor(cpuCount / workers)), 0, 1024),
    workerConcurrency: readInt(env, 'SMKIT_WORKER_CONCURRENCY', 4, 1, 1024),
    connectionBalancing: readEnum(env, 'SMKIT_CONNECTION_BALANCING', 'auto', ['auto', 'primary', 'kernel'] as const),
    connectionRebalancing: readBool(env, 'SMKIT_CONNECTION_REBALANCING', true),
    batchMaxSize,
    workerSemiSpaceMb: readSemiSpaceMb(env, batchMaxSize > 1, nodeMajor),
    workerOldSpaceMb: readOldSpaceMb(env),
    workerHeapGrowingPercent: readWholeOrAuto(env, 'SMKIT_WORKER_HEAP_GROWING_PERCENT', 1000, 'percent', () => AUTO_HEAP_GROWING_PERCENT),
    batchMaxDelayMs: readBatchMaxDelayMs(env, timeoutSeconds, batchMaxSize),
    installCodeDeps: readEnum(env, 'SMKIT_INSTALL_CODE_DEPS', 'auto', ['auto', 'never'] as const),
    tfjsBackend: readEnum(env, 'SMKIT_TFJS_BACKEND', 'auto', ['auto', 'tensorflow', 'wasm', 'cpu'] as const),
    shutdownGraceSeconds: readNumber(env, 'SMKIT_SHUTDOWN_GRACE_SECONDS', 25, 0, 3600),
    // Longer than any invocation may run (one that holds the loop past its timeout is lost anyway),
    // with gunicorn's default --timeout on top for collections and large decodes.
    workerBlockedTimeoutSeconds: readNumber(env, 'SMKIT_WORKER_BLOCKED_TIMEOUT_SECONDS', timeoutSeconds + 30, 1, 86400),
    inferenceMode: readEnum(env, 'SMKIT_INFERENCE_MODE', 'auto', ['auto', 'thread', 'inline'] as const),
    multiModel: readBool(env, 'SAGEMAKER_MULTI_MODEL', false),
    metrics: readBool(env, 'SMKIT_METRICS', true),
    mmeMinFreeMb: readNumber(env, 'SMKIT_MME_MIN_FREE_MB', 256, 0, 1_048_576),
    inferenceThreadHeapMb: readInferenceThreadHeapMb(env),
    maxDecodedMb: readNumber(env, 'SMKIT_MAX_DECODED_MB', 16 * maxPayloadMb, 0.000001, 1_048_576),
    bodyTimeoutSeconds: readNumber(env, 'SMKIT_BODY_TIMEOUT_SECONDS', 60, 0.001, 86400),
    bodyMemoryMb: readBodyMemoryMb(env, memoryBytes, workers, maxPayloadMb),
    bidiStreamsMax: readInt(env, 'SMKIT_BIDI_STREAMS_MAX', 1000, 1, 1_000_000),
    sessions: readSessions(env),
    corsAllowOrigins: readCorsAllowOrigins(env),
    allowedHosts: readAllowedHosts(env),
  };
  return Object.freeze(settings);
}
