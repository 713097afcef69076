import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Express, NextFunction, Request, Response } from 'express';
import { ERROR_CATALOGUE, ToolkitError } from '../errors/catalogue.js';
import { loadFailureReason } from './load-failure.js';
import { isMemoryFailure } from './memory-failure.js';
import type { Settings } from '../config/settings.js';
import type { ServerLogger } from '../logging/server-logger.js';
import type { SageMakerHeaders } from '../core/context.js';
import { INSTANCE_ID_HEADER, readSageMakerHeaders, SAGEMAKER_HEADERS } from '../core/sagemaker-headers.js';
import { parseMediaType } from '../codecs/media-type.js';
import type { FormPart } from '../codecs/multipart.js';
import { MAX_JSON_DEPTH, jsonNestsDeeperThan } from '../codecs/json-depth.js';
import type { FormPartsParser } from './multipart.js';
import type { InferenceBackend } from './inference-backend.js';
import type { ModelManager } from './model-store.js';
import type { MetricsSink } from './metrics.js';
import { BODY_CODINGS, contentCodingOf, readBody, readBodyThen, declaredLength, clientLeftMidBody, type BodyLimits } from './body-reader.js';
import { BodyBudget } from './body-budget.js';
import { clientErrorAnswer, requestHeadFault, sendJson, sendJsonAndClose } from './respond.js';
import { answerPreflight, corsOrigin, setCorsHeaders } from './cors.js';
import { foreignHost, foreignHostError, foreignOrigin, foreignOriginError } from './foreign-origin.js';
import { BIDI_PATH } from '../core/bidi-frame.js';
import { nextRequestId } from './request-id.js';
import { invocationTimeout } from './timeout-error.js';
import { drainingError, type LeavingReason } from './draining.js';
import { Cancellation, clientGoneError } from '../core/cancellation.js';
import { excerpt, thrownMessage } from '../errors/excerpt.js';
import { LogThrottle } from '../logging/log-throttle.js';
import { retryingLoad } from '../core/retrying-load.js';
import { CLOSED_SESSION_ID_HEADER, NEW_SESSION_ID_HEADER, SESSION_ID_HEADER } from '../core/sagemaker-headers.js';
import type { SessionRef, SessionStore } from '../sessions/session-store.js';

/** The HTTP front's view of the settings. */
export type AppSettings = Pick<Settings, 'maxPayloadMb' | 'timeoutSeconds' | 'debug' | 'maxConcurrentTransforms' | 'batchStrategy'> &
  Partial<Pick<Settings, 'bodyTimeoutSeconds' | 'bodyMemoryMb' | 'instanceId' | 'sessions' | 'corsAllowOrigins' | 'allowedHosts'>>;

/** Options for {@link createApp}. */
export interface AppOptions {
  settings: AppSettings;
  /** The single model's backend (required unless `models` is given). */
  backend?: InferenceBackend;
  log: ServerLogger;
  /**
   * True once the server stops (SIGTERM, SIGINT), or once this worker process leaves on its own: new invocations get
   * 503 and connections close after their response.
   */
  isDraining?: () => boolean;
  /** Why this worker process is leaving on its own, if it is: its 503s say so instead of naming a SIGTERM. */
  leavingReason?: LeavingReason;
  /**
   * What stopped the server, which a draining server's 503s name: `SIGTERM` (the default, as
   * SageMaker stops a container), `SIGINT` (Ctrl-C), or a start-up error.
   */
  stopCause?: () => string;
  /**
   * Multi-model mode (`SAGEMAKER_MULTI_MODEL=true`): the `/models` API and
   * `POST /models/{name}/invoke` serve these models, and `backend` is not used.
   */
  models?: ModelManager;
  /** Invocation metrics, and `GET /metrics` (Prometheus text format). */
  metrics?: MetricsSink;
  /**
   * The memory request bodies share, when the worker shares it with its bidirectional streams;
   * else one of `settings.bodyMemoryMb` is made (none without it).
   */
  bodyBudget?: BodyBudget;
  /**
   * Whether every worker process of the server has loaded the model (ready when omitted). Until
   * then `/ping` says 503 even once `backend` is ready, so that a health checker that saw one
   * worker's 200 does not see another's "loading" after it; `Unhealthy` with the failure when one
   * could not load it.
   */
  serverReadiness?: () => ServerReadiness;
}

/** Whether every worker process of the server has loaded the model, or why one could not. */
export type ServerReadiness = { ready: true } | { ready: false; failure?: string };

const SERVER_READY: ServerReadiness = { ready: true };

/**
 * 5xx answers that are the server refusing work as designed (overload, loading, draining), not a
 * failure to look into: like every 4xx, they are logged without a stack trace.
 */
const REFUSAL_CODES: ReadonlySet<string> = new Set(['ERR_TIMEOUT', 'ERR_NOT_READY', 'ERR_SHUTTING_DOWN', 'ERR_INSUFFICIENT_RESOURCES', 'ERR_TOO_MANY_SESSIONS', 'ERR_SERVER_BUSY']);

/**
 * Of {@link REFUSAL_CODES}, those logged at warn, not error: the server doing what it should
 * (draining after SIGTERM, loading, shedding load), which alerts on error lines must not page for.
 * A timeout stays an error: a model slower than the limit is worth a look.
 */
const WARN_REFUSAL_CODES: ReadonlySet<string> = new Set([...REFUSAL_CODES].filter((code) => code !== 'ERR_TIMEOUT'));

/** The headers an answer in a session may carry. */
const SESSION_RESPONSE_HEADERS = [SESSION_ID_HEADER, NEW_SESSION_ID_HEADER, CLOSED_SESSION_ID_HEADER] as const;

/** Answers up to this size are written together with their headers (see `invoke`). */
const SMALL_BODY_BYTES = 16 * 1024;

/** `/models/{name}/invoke`, in the spellings express also routes (any case, a trailing slash). */
const MODEL_INVOKE = /^\/models\/([^/]+)\/invoke\/?$/i;
/** Paths with one allowed method (GET and HEAD, or POST for /invocations): any other is a 405. */
const FIXED_METHOD_PATHS = new Set(['/ping', '/invocations', '/execution-parameters']);
/** Paths express may route (its matching ignores case and a trailing slash); any other is a 404 at once. */
const EXPRESS_ROUTES = /^\/(ping|invocations|execution-parameters|metrics|models)(\/|$)/i;

/** Whether a `Content-Type` is multipart/form-data: read on every invocation, so a cheap test comes first. */
function isMultipartForm(contentType: string): boolean {
  return /^\s*multipart\//i.test(contentType) && parseMediaType(contentType).mediaType === 'multipart/form-data';
}

/** The methods each resource takes, which a 405 must list in `Allow` (RFC 9110 §15.5.6). */
const ALLOWED_METHODS = {
  '/ping': 'GET, HEAD',
  '/invocations': 'POST',
  '/execution-parameters': 'GET, HEAD',
  '/metrics': 'GET, HEAD',
  '/models': 'GET, POST',
  '/models/:name': 'GET, DELETE',
  '/models/:name/invoke': 'POST',
} as const;

/** A 405 for `route` (a key of {@link ALLOWED_METHODS}): sets `Allow` on `res` and names the methods in the message. */
function methodNotAllowed(req: IncomingMessage, res: ServerResponse, path: string, route: keyof typeof ALLOWED_METHODS): ToolkitError {
  const allow = ALLOWED_METHODS[route];
  res.setHeader('Allow', allow);
  return new ToolkitError('ERR_METHOD_NOT_ALLOWED', `${asForGet(req.method)} is not allowed on ${path}; it takes ${allow}`);
}

/**
 * The method to name in an error message: GET for HEAD. The answer to HEAD carries the
 * Content-Length of the body GET would get (RFC 9110 §8.6 forbids any other), so that body must
 * not differ by the method's name.
 */
function asForGet(method: string | undefined): string | undefined {
  return method === 'HEAD' ? 'GET' : method;
}

/** Whether a request's headers announce a body (RFC 9112 §6.3): a Transfer-Encoding, or a Content-Length other than 0. */
function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
}

/**
 * A plain request at the bidirectional stream's path: 426 (RFC 9110 §15.5.22), with the headers that
 * open a WebSocket, which a proxy in between may have dropped (Connection and Upgrade are hop-by-hop).
 */
function upgradeRequired(req: IncomingMessage, res: ServerResponse): ToolkitError {
  res.setHeader('Upgrade', 'websocket');
  return new ToolkitError(
    'ERR_BAD_REQUEST',
    `${BIDI_PATH} takes only a WebSocket handshake: send GET with "Connection: Upgrade" and "Upgrade: websocket" (a proxy in between must pass both on), or POST /invocations for one answer`,
    { status: 426 },
  );
}

function noRoute(method: string | undefined, path: string): ToolkitError {
  return new ToolkitError('ERR_NOT_FOUND', `no route ${asForGet(method)} ${path}; the container serves GET /ping, POST /invocations, GET /execution-parameters, GET /metrics and (multi-model) /models`);
}

/** The CommonJS packages of the rarer routes, and what they load at once. */
const SLOW_PATH_PACKAGES = ['express', 'multer'] as const;

/**
 * When code that only rarer routes or a metrics scrape need starts loading, after start-up: a new
 * worker's first seconds under load spend several times the CPU per request of its later ones
 * (the JIT compiling the request path), so work that can wait waits for them.
 */
export const PRELOAD_AFTER_MS = 5000;

/** How long after a preload that could not be done (no file descriptors to spare) it is tried again. */
const PRELOAD_RETRY_MS = 1000;

/** Loading those packages gradually, once per process (every app of a process shares them). */
let slowPathPackages: Promise<unknown> | undefined;

/**
 * The path of a request URL, without its query string (`/invocations?x=1` is `/invocations`) or,
 * for the absolute form a server must accept (RFC 9112 §3.2.2), its scheme and authority
 * (`http://host/invocations` is `/invocations`, as express routes it).
 */
export function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  let start = 0;
  if (url.charCodeAt(0) !== 47) {
    const authority = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(url);
    if (authority) start = authority[0].length;
  }
  const q = url.indexOf('?', start);
  const path = q < 0 ? (start === 0 ? url : url.slice(start)) : url.slice(start, q);
  return path === '' ? '/' : path;
}

/** The model name in `/models/{name}/invoke`, decoded; undefined for other paths. */
function invokedModel(url: string | undefined): string | undefined {
  const raw = MODEL_INVOKE.exec(pathOf(url))?.[1];
  if (raw === undefined) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ToolkitError('ERR_BAD_REQUEST', `the model name in ${pathOf(url)} is not valid URL encoding`);
  }
}

function sageMakerHeaders(req: IncomingMessage): SageMakerHeaders {
  return readSageMakerHeaders((name) => {
    const v = req.headers[name];
    return typeof v === 'string' ? v : undefined;
  });
}

/**
 * A multi-model invocation the runtime could not run for lack of memory (a GPU's, as CUDA or ONNX
 * Runtime's allocator says) is a 507, which the contract has SageMaker answer by unloading unused
 * models (https://docs.aws.amazon.com/sagemaker/latest/dg/invoke-multi-model-endpoint.html); any
 * other failure is left as it is.
 */
function outOfMemoryAsInsufficient(err: unknown): unknown {
  if (!(err instanceof ToolkitError) || err.code !== 'ERR_PREDICT' || !isMemoryFailure(err.message)) return err;
  return new ToolkitError('ERR_INSUFFICIENT_RESOURCES', `${err.message} (not enough memory for this invocation with the models loaded; unload a model, or send a smaller request)`, { cause: err });
}

/** Maps any failure onto a catalogue error (express's own 4xx errors, such as a bad URL, keep their status). */
function toToolkitError(err: unknown): ToolkitError {
  if (err instanceof ToolkitError) {
    // Its constructor keeps only an HTTP error status, but user code can set `status` after it ran
    // (as on any Error), and one written as the answer's status threw (99) or redirected (302): it
    // takes its code's (500 for a code not in the catalogue, which user code can set as well).
    const status = err.status;
    if (Number.isInteger(status) && status >= 400 && status <= 599) return err;
    const own = (ERROR_CATALOGUE as Partial<Record<string, { status: number }>>)[err.code]?.status ?? 500;
    return new ToolkitError(err.code, err.message, { status: own, cause: err, ...(err.details ? { details: err.details } : {}) });
  }
  const e = err as { status?: number; message?: string };
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) return new ToolkitError('ERR_BAD_REQUEST', e.message ?? 'bad request', { status: e.status });
  return new ToolkitError('ERR_INTERNAL', thrownMessage(err), { cause: err });
}

/**
 * The SageMaker container HTTP API: `GET /ping`, `POST /invocations`, `GET /execution-parameters`.
 * It never runs user code or models itself: those run in the backend (an inference thread), so
 * `/ping` answers at once even while every inference is busy.
 *
 * The routes SageMaker calls (`GET /ping`, `POST /invocations` with any body: plain, compressed or
 * multipart), a metrics scrape, the execution parameters and the usual 404 and 405 answers are
 * served straight from `node:http`; the rest (the multi-model API, other spellings of the routes)
 * goes through express. Express costs several times the per-request CPU of the plain path on
 * one-row requests, and slows the plain path for every request after one it served (it swaps the
 * prototypes of the request and response), which the benchmark showed.
 *
 * @returns a request listener for `http.createServer` (supertest accepts it too).
 */
export function createApp({
  settings,
  backend: single,
  log,
  isDraining = () => false,
  leavingReason = () => undefined,
  models,
  metrics,
  bodyBudget,
  serverReadiness = () => SERVER_READY,
  stopCause = () => 'SIGTERM',
}: AppOptions): RequestListener {
  if (!single && !models) throw new TypeError('createApp needs a backend, or models for a multi-model endpoint');
  const backend = single as InferenceBackend;
  /** Web pages allowed to call the server (`SMKIT_CORS_ALLOW_ORIGINS`); undefined, the default, costs one check per request. */
  const corsOrigins = settings.corsAllowOrigins;
  /** `Host` names allowed besides addresses and localhost (`SMKIT_ALLOWED_HOSTS`); undefined, the default, checks none. */
  const allowedHosts = settings.allowedHosts;
  /** The methods the server takes on some path (`OPTIONS *`'s `Allow`, a CORS preflight's). */
  const serverMethods = models ? 'GET, HEAD, POST, DELETE' : 'GET, HEAD, POST';
  const maxBytes = Math.floor(settings.maxPayloadMb * 1024 * 1024);
  const timeoutMs = settings.timeoutSeconds * 1000;
  /** Without `bodyMemoryMb` (tests that build the app alone) bodies are bounded one by one only. */
  const budget = bodyBudget ?? (settings.bodyMemoryMb === undefined ? undefined : new BodyBudget(Math.floor(settings.bodyMemoryMb * 1024 * 1024)));
  const bodyLimits: BodyLimits = { maxBytes, timeoutMs: (settings.bodyTimeoutSeconds ?? 60) * 1000, budget };
  /**
   * Invocations this worker holds: accepted for a model and not yet answered (`smkit_pending_invocations`).
   * Each is counted down exactly once: by `invoke` once answered, or by `readFailed`.
   */
  let pending = 0;
  metrics?.trackPending(() => pending);
  if (models) metrics?.trackModels((name) => models.backend(name) !== undefined);
  if (budget) metrics?.trackBodyBytes(() => budget.held);
  /** The session code, loaded with the first request that names a session: a server without sessions never loads it. */
  const loadSessionSupport = retryingLoad('the session support', () =>
    Promise.all([import('../sessions/session-requests.js'), import('../sessions/session-store.js')]).then(([requests, { SessionStore }]) => ({
      requests,
      store: settings.sessions ? new SessionStore({ root: settings.sessions.path, ttlSeconds: settings.sessions.ttlSeconds, maxSessions: settings.sessions.max }) : undefined,
    })),
  );

  // At most 10 lines per error code a second (all of them at debug level); the rest are counted.
  const errorLines = new LogThrottle((code, n, windowMs) =>
    log.warn({ code, notLogged: n }, `${n} more answers with ${code} in the last ${windowMs / 1000} s were not logged one by one (smkit_invocations_total counts them all)`),
  );
  const sendError = (err: unknown, req: IncomingMessage, res: ServerResponse, requestId?: string): void => {
    const error = toToolkitError(err);
    const verbose = log.isLevelEnabled('debug');
    if (verbose || errorLines.admit(error.code)) {
      const withStack = verbose || (error.status >= 500 && !REFUSAL_CODES.has(error.code));
      const logged = { requestId, code: error.code, status: error.status, path: req.url, ...(withStack ? { err: error } : {}) };
      if (error.status >= 500 && !WARN_REFUSAL_CODES.has(error.code)) log.error(logged, error.message);
      else log.warn(logged, error.message);
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    // A lazy load refused for want of file descriptors (see retrying-load.ts), as a body that did not fit.
    if (error.code === 'ERR_SERVER_BUSY') res.setHeader('Retry-After', '1');
    const body: Record<string, unknown> = error.toJSON();
    if (requestId) body['requestId'] = requestId;
    if (settings.debug && error.stack) body['stack'] = error.stack;
    // A body not read to its end (413, or refused before reading) leaves the connection unusable:
    // answer, drain what the client is still sending, then close. A stalled body is not drained.
    // A request without a body is whole once its headers are (Node sets `complete` only after this
    // handler runs): its connection stays open for the requests kept alive or pipelined behind it.
    if (!req.complete && hasBody(req)) return sendJsonAndClose(req, res, error.status, body, error.code !== 'ERR_BODY_TIMEOUT');
    if (isDraining()) res.setHeader('Connection', 'close');
    sendJson(res, error.status, body);
  };

  const ping = (res: ServerResponse): void => {
    if (settings.instanceId !== undefined) res.setHeader(INSTANCE_ID_HEADER, settings.instanceId);
    if (isDraining()) {
      // As for invocations: the health checker's kept-alive connection is closed cleanly after the answer.
      res.setHeader('Connection', 'close');
      const { code, message } = drainingError(leavingReason(), `the server is shutting down (${stopCause()})`);
      return sendJson(res, 503, { status: 'ShuttingDown', code, message });
    }
    if (models) return sendJson(res, 200, { status: 'Healthy', models: models.list().length });
    const state = backend.state();
    const server = serverReadiness();
    // Another worker's failure outranks this one's load still under way: the server will not be ready.
    if (!server.ready && server.failure !== undefined && state !== 'failed') return sendJson(res, 503, { status: 'Unhealthy', code: 'ERR_NOT_READY', message: server.failure });
    if (state === 'ready') {
      if (!server.ready) {
        return sendJson(res, 503, {
          status: 'Loading',
          code: 'ERR_NOT_READY',
          message: 'this worker process has loaded the model, but not every worker process has yet (each loads its own copy; /ping says 200 once all have)',
        });
      }
      const d = backend.describe();
      sendJson(res, 200, { status: 'Healthy', runtimes: d?.runtimes.map((r) => ({ name: r.name, backend: r.backend })) ?? [] });
      return;
    }
    const reason = state === 'failed' ? `model failed to load: ${loadFailureReason(backend.failure())}` : 'model is loading';
    sendJson(res, 503, { status: state === 'failed' ? 'Unhealthy' : 'Loading', code: 'ERR_NOT_READY', message: reason });
  };

  const scrape = (req: IncomingMessage, res: ServerResponse): void => {
    metrics!.render().then(
      ({ contentType, body }) => {
        res.setHeader('Content-Type', contentType);
        res.end(body);
      },
      (err: unknown) => sendError(err, req, res),
    );
  };

  const executionParameters = (res: ServerResponse): void =>
    sendJson(res, 200, { MaxConcurrentTransforms: settings.maxConcurrentTransforms, BatchStrategy: settings.batchStrategy, MaxPayloadInMB: settings.maxPayloadMb });

  /** Refuses invocations the backend cannot take; undefined when it can. */
  const refusal = (target: InferenceBackend): ToolkitError | undefined => {
    if (isDraining()) return drainingError(leavingReason(), `the server is shutting down (${stopCause()}); retry on another instance`);
    if (target.state() !== 'failed') return undefined;
    // A multi-model invocation that waited for its model's load: the model is not loaded (its
    // POST /models got why), and 404 is the contract's answer, on which SageMaker loads it again.
    if (models) return new ToolkitError('ERR_MODEL_NOT_LOADED', `the model failed to load while this request waited for it, so it is not loaded (${loadFailureReason(target.failure())}); POST /models again once it is fixed`);
    return new ToolkitError('ERR_NOT_READY', `the model failed to load: ${loadFailureReason(target.failure())}`);
  };

  /**
   * Holds an invocation that reached a worker still loading its model until the load ends, within
   * the request's timeout. Another worker's `/ping` may already have said 200 (each worker loads on
   * its own), so SageMaker can invoke before this one is ready: that request waits instead of
   * failing. A load that fails refuses it (503 `ERR_NOT_READY` with the reason; on a multi-model
   * endpoint 404 `ERR_MODEL_NOT_LOADED`, as the model is then not loaded); one still going
   * when the wait ends is the backend's to answer, as without the wait (an inference thread being
   * replaced queues its requests itself).
   */
  const untilLoaded = async (target: InferenceBackend, waitMs: number): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([target.whenSettled(), new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
    const refused = refusal(target);
    if (refused) throw refused;
  };

  /** The `model` label of an invocation of a model this server holds: the one its path names, or `model` for the single model. */
  const modelLabel = (req: IncomingMessage): string => (models ? (invokedModel(req.url) ?? '') : 'model');

  /**
   * Answers an invocation with `err` before any model run (refused, its model not loaded, its body
   * not read) and counts it in `smkit_invocations_total` (not in `smkit_invocation_seconds`, which
   * times complete bodies): a flood of them (413s, 503s for want of memory) showed only in the
   * logs, throttled. `label` is the model's: a name the client made up is not one (`""`).
   */
  const refuseInvocation = (err: unknown, req: IncomingMessage, res: ServerResponse, label: string): void => {
    sendError(err, req, res);
    metrics?.observe(label, res.statusCode);
  };

  /**
   * Answers an invocation `targetOf` found no model for: a multi-model invocation of a model not
   * loaded is counted under `model=""` (the contract's 404, on which SageMaker loads it); the other
   * kind of server's route (`/models/{name}/invoke` on a single model, `/invocations` on a
   * multi-model endpoint) is a wrong route, counted nowhere, as any other 404: counted under the
   * model's label, it read as failed invocations of a model that serves.
   */
  const refuseUntargeted = (err: unknown, req: IncomingMessage, res: ServerResponse): void => {
    if ((err as ToolkitError).code === 'ERR_MULTI_MODEL_DISABLED') return sendError(err, req, res);
    refuseInvocation(err, req, res, '');
  };

  /** An accepted invocation whose body could not be read: it is no longer held. */
  const readFailed = (err: unknown, req: IncomingMessage, res: ServerResponse): void => {
    pending--;
    // A connection that ended mid-body: counted with what was answered on it. The HTTP parser's
    // refusal when there was one (a malformed chunk; the client's end of file, HPE_INVALID_EOF_STATE,
    // which a client that half-closes reads), else nothing reached the client: 499, not the form
    // parser's "Unexpected end of form".
    if (!req.complete && req.socket.destroyed) {
      const answered = clientErrorAnswer(req.socket);
      if (answered) err = new ToolkitError(answered.code, answered.message);
      else if ((err as ToolkitError).code !== 'ERR_CLIENT_GONE') err = clientLeftMidBody();
    }
    const code = (err as ToolkitError).code;
    if (code === 'ERR_SERVER_BUSY') res.setHeader('Retry-After', '1');
    // A 415 here is the body's coding: the answer names the codings taken (RFC 9110 §15.5.16).
    else if (code === 'ERR_UNSUPPORTED_MEDIA_TYPE' && !res.hasHeader('Accept-Encoding')) res.setHeader('Accept-Encoding', BODY_CODINGS);
    refuseInvocation(err, req, res, modelLabel(req));
  };

  /**
   * The backend a request goes to: the single model, or the named one of a multi-model endpoint.
   * `name` is the model the path names (`/models/{name}/invoke`), undefined for `/invocations`
   * (in any spelling express routes: another case, a trailing slash).
   */
  const targetOf = (name: string | undefined): InferenceBackend => {
    if (!models) {
      if (name === undefined) return backend;
      throw new ToolkitError('ERR_MULTI_MODEL_DISABLED', 'this container serves one model: POST /invocations (set SAGEMAKER_MULTI_MODEL=true for the /models API)');
    }
    if (name === undefined) throw new ToolkitError('ERR_MULTI_MODEL_DISABLED', 'this container serves several models (SAGEMAKER_MULTI_MODEL=true): POST /models/{name}/invoke');
    const target = models.backend(name);
    if (!target) throw new ToolkitError('ERR_MODEL_NOT_LOADED', `model "${name}" is not loaded; POST /models first`);
    return target;
  };

  /**
   * Sends a streamed answer with chunked transfer encoding. A failure before the first chunk is an
   * ordinary error response; after it, the status is out, so the connection is broken instead of
   * ending cleanly (clients see a truncated stream, never a silently short answer), and the status
   * that failure would have had (500 for most) is given back, to be counted in place of the 200 sent. A first chunk
   * not produced within `firstChunkMs` fails with `timedOut()`, which `cancellation` (ctx.signal)
   * is cancelled with, and the producer is ended.
   *
   * The next chunk is asked for only once the previous one reached the socket, so a client that
   * stops reading stops the producer (backpressure); a client that disconnects ends it: the
   * iterator's `return()` is called, which runs the user's `finally` blocks, and 499 is given back
   * to be counted in place of the 200.
   */
  const streamResponse = async (
    res: ServerResponse,
    stream: AsyncIterable<Uint8Array>,
    requestId: string,
    firstChunkMs: number,
    timedOut: () => ToolkitError,
    cancellation: Cancellation,
    takeCustomAttributes?: () => string | undefined,
  ): Promise<number | undefined> => {
    const iterator = stream[Symbol.asyncIterator]();
    let returned = false;
    const stopProducer = () => {
      if (returned) return;
      returned = true;
      void Promise.resolve(iterator.return?.()).catch(() => undefined);
    };
    let gone = false;
    let wake: (() => void) | undefined;
    // Listened to before the first chunk: a client that left while it was being produced stopped the
    // producer only once the request's timeout ran out (in the thread, whose ctx.signal then aborted
    // with ERR_TIMEOUT), and its 504 went to nobody.
    const onClose = () => {
      if (res.writableFinished) return;
      gone = true;
      // ctx.signal says why (the thread's producer learns it with the stream's cancel).
      cancellation.cancel(clientGoneError());
      wake?.();
      stopProducer();
    };
    res.once('close', onClose);
    // A write that fails means the connection broke: on Node 22 a pending write fails (ECANCELED)
    // before the response's 'close' event, on Node 20 after it.
    let writeFailed = false;
    // A client that left part way did not get the answer its 200 began: counted as 499 (client
    // closed), as one that left before the first chunk is, not as a 200 that reached nobody whole.
    const clientLeft = (): number => {
      log.info({ requestId }, 'the client left during a streamed answer; its producer was stopped');
      return ERROR_CATALOGUE.ERR_CLIENT_GONE.status;
    };
    let next: IteratorResult<Uint8Array> | undefined;
    try {
      // The client may have left while the answer was being set up.
      if (res.destroyed) onClose();
      // The first chunk is the answer: one not produced within the request's timeout is a 504, as a
      // whole answer would be (before, the request was held without an answer for good).
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          // Rejected first: stopping the producer ends a thread's stream at once, which would win the race.
          const reason = timedOut();
          reject(reason);
          // As for a whole answer, ctx.signal aborts: return() waits for a generator's pending await
          // (an upstream call), which only the signal can end.
          cancellation.cancel(reason);
          stopProducer();
        }, firstChunkMs);
      });
      // The client leaving ends the wait too: an inline generator's return() waits behind its pending await.
      const left = new Promise<undefined>((resolve) => (wake = () => resolve(undefined)));
      try {
        if (!gone) next = await Promise.race([iterator.next(), late, left]);
      } finally {
        clearTimeout(timer);
        wake = undefined;
      }
      // Nothing was sent: answered as a whole answer whose client left is (ERR_CLIENT_GONE, counted as 499).
      if (gone || next === undefined) throw clientGoneError();
      // The headers go out with the first chunk: custom attributes set until it came (an async
      // generator's body before its first yield) go with them.
      const customAttributes = takeCustomAttributes?.();
      if (customAttributes !== undefined && !res.headersSent) res.setHeader(SAGEMAKER_HEADERS.customAttributes.header, customAttributes);
      try {
        while (!next.done && !gone) {
          const chunk = next.value;
          await new Promise<void>((resolve, reject) => {
            wake = resolve;
            res.write(chunk, (err) => {
              if (!err) return resolve();
              writeFailed = true;
              reject(err);
            });
          });
          if (gone) break;
          next = await iterator.next();
        }
        if (gone) return clientLeft();
        res.end();
      } catch (err) {
        if (gone || writeFailed) return clientLeft();
        // A client's mistake found part way (a 4xx, such as a token limit) is a warning, as its
        // whole answer would be; the model or the server failing is an error.
        const error = toToolkitError(err);
        const logged = { requestId, code: error.code, status: error.status, err };
        if (error.status >= 500) log.error(logged, 'streamed answer failed part way; closing the connection');
        else log.warn(logged, 'streamed answer failed part way; closing the connection');
        res.destroy(err as Error);
        return error.status;
      }
    } finally {
      res.off('close', onClose);
      // Whatever ended the loop early (a failed write, the client leaving), the producer stops too.
      if (next?.done !== true) stopProducer();
    }
  };

  /** Invokes `target` with a body read whole; `held` bytes of the budget are given back once it is answered. */
  const invoke = async (req: IncomingMessage, res: ServerResponse, target: InferenceBackend, body: Buffer, held: number, parts?: FormPart[]): Promise<void> => {
    const requestId = nextRequestId();
    const started = performance.now();
    // Read now: a thread backend moves the body's memory to its thread, which empties `body` here.
    const bytesIn = body.length;
    let session: SessionRef | undefined;
    let openedHere = false;
    let sessions: Awaited<ReturnType<typeof loadSessionSupport>> | undefined;
    /** The status of a streamed answer that failed after its 200 went out, counted in its place. */
    let failedStatus: number | undefined;
    try {
      const sessionHeader = req.headers[SESSION_ID_HEADER];
      if (sessionHeader !== undefined) {
        sessions = loadSessionSupport.loaded ?? (await loadSessionSupport());
        const decision = await sessions.requests.decideSession(sessions.store, String(sessionHeader), body);
        if (decision.kind === 'answer') {
          res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', ...decision.headers });
          res.end(decision.body);
          return;
        }
        session = decision.session;
        openedHere = decision.created;
      }
      let remainingMs = timeoutMs;
      if (target.state() === 'loading') {
        await untilLoaded(target, timeoutMs);
        remainingMs = Math.max(1, timeoutMs - (performance.now() - started));
      }
      const cancellation = new Cancellation(res);
      const result = await target.invoke(
        { requestId, body, contentType: req.headers['content-type'], accept: req.headers['accept'], headers: sageMakerHeaders(req), parts, cancellation, session },
        remainingMs,
        timeoutMs,
      );
      // A whole answer ready only once its client left reaches nobody: failed with the reason (499
      // ERR_CLIENT_GONE), as the inference thread fails it, so a session its handler closed stays
      // open, as a stream's does (the client never got the answer that said it was closed).
      if (!result.stream && cancellation.cancelled) throw cancellation.reason;
      // The answer's headers, as name, value, ...: a whole answer gives them to writeHead in one array.
      // res.setHeader validates, lower-cases and stores each in an object that node:http then walks
      // with for-in, a few thousand instructions per one-row request.
      const headers: (string | number)[] = ['Content-Type', result.contentType];
      if (result.customAttributes !== undefined) headers.push(SAGEMAKER_HEADERS.customAttributes.header, result.customAttributes);
      let closing: SessionRef | undefined;
      if (session && sessions) {
        if (openedHere) for (const [name, value] of Object.entries(sessions.requests.openedSessionHeaders(session))) headers.push(name, value);
        if (result.closeSession) {
          closing = session;
          for (const [name, value] of Object.entries(sessions.requests.closedSessionHeaders(session.id))) headers.push(name, value);
        }
      }
      if (isDraining()) headers.push('Connection', 'close');
      if (result.stream) {
        res.statusCode = 200;
        for (let i = 0; i < headers.length; i += 2) res.setHeader(headers[i] as string, headers[i + 1]!);
        // A streamed answer is still produced in the session: it is removed once the stream ends.
        try {
          failedStatus = await streamResponse(res, result.stream, requestId, Math.max(1, timeoutMs - (performance.now() - started)), () => invocationTimeout(timeoutMs, target.describe()), cancellation, result.takeCustomAttributes);
        } finally {
          // Only once its answer began, with the header that says so: a stream that failed before its
          // first chunk is an error answer, which closes nothing (as a whole answer that fails).
          if (closing && res.headersSent) await sessions!.store!.close(closing.id).catch((err: unknown) => log.warn({ requestId, err }, 'could not remove a closed session'));
        }
        return;
      }
      if (closing) await sessions!.store!.close(closing.id);
      headers.push('Content-Length', result.body.length);
      res.writeHead(200, headers);
      // A small body goes out as a latin1 string (byte for byte): node:http then sends the headers and
      // the body in one write instead of a writev of two buffers, which shows on one-row requests.
      // Written and uncorked before end(): end(chunk) queues an empty chunk of its own behind it on
      // the corked socket, which made every answer a writev of two.
      if (result.body.length <= SMALL_BODY_BYTES) {
        res.cork();
        res.write(result.body.toString('latin1'), 'latin1');
        res.uncork();
        res.end();
      } else res.end(result.body);
      if (log.isLevelEnabled('debug')) {
        log.debug({ requestId, ms: Math.round((performance.now() - started) * 100) / 100, bytesIn, bytesOut: result.body.length }, 'invocation');
      }
    } catch (err) {
      // A session opened for a request that failed is of no use to anyone: the client never learnt its id.
      if (openedHere && session) await sessions?.store?.close(session.id).catch(() => undefined);
      // The error answer names no session: headers set for the answer that failed (a stream that failed
      // before its first chunk, a close that failed) would announce one that was not opened or closed.
      if (session && !res.headersSent) for (const name of SESSION_RESPONSE_HEADERS) res.removeHeader(name);
      // Nor does it carry the handler's custom attributes (a stream's, set with its headers): they
      // describe the answer that failed, and a whole answer's error has none.
      if (!res.headersSent) res.removeHeader(SAGEMAKER_HEADERS.customAttributes.header);
      sendError(models ? outOfMemoryAsInsufficient(err) : err, req, res, requestId);
    } finally {
      pending--;
      budget?.give(held);
      // Recorded here, once the answer is out (streamed ones included), rather than on the response's
      // 'finish' event: one listener less per request, which shows on one-row requests.
      // targetOf has already validated the model name.
      metrics?.observe(modelLabel(req), failedStatus ?? res.statusCode, (performance.now() - started) / 1000);
    }
  };

  /** The multipart/form-data reader (multer), loaded with the first form. */
  const loadFormParts = retryingLoad('the multipart/form-data reader', () =>
    import('./multipart.js').then(({ createFormPartsParser }): FormPartsParser =>
      createFormPartsParser({ maxFileBytes: maxBytes, maxFiles: 64, maxFields: 256, maxTotalBytes: maxBytes, timeoutMs: bodyLimits.timeoutMs }),
    ),
  );

  /**
   * Reads an invocation's body for `target` and invokes it: a multipart/form-data body as its parts
   * (for a model that does not take raw bodies), any other as bytes, decompressed when it has a
   * `Content-Encoding`. The caller has counted it in `pending`.
   */
  const readAndInvoke = (req: IncomingMessage, res: ServerResponse, target: InferenceBackend): void => {
    metrics?.markBusy();
    const contentType = req.headers['content-type'];
    let multipart: boolean;
    try {
      multipart = contentType !== undefined && isMultipartForm(contentType) && target.describe()?.rawBodies === false;
    } catch (err) {
      // The header parser not loaded for want of file descriptors (see lazy-require.ts).
      if (err instanceof ToolkitError) return readFailed(err, req, res);
      // A header it cannot parse: the model's decoder says what is wrong with it, as for any other type.
      multipart = false;
    }
    if (multipart) {
      const encoding = req.headers['content-encoding'];
      let coded: boolean;
      try {
        coded = contentCodingOf(encoding) !== undefined;
      } catch {
        coded = true;
      }
      if (coded) {
        // The form parser reads the bytes as sent: a compressed form would be "malformed" to it.
        res.setHeader('Accept-Encoding', 'identity');
        const err = new ToolkitError('ERR_UNSUPPORTED_MEDIA_TYPE', `Content-Encoding "${excerpt(encoding!)}" is not supported on multipart/form-data bodies; send the form uncompressed`);
        return readFailed(err, req, res);
      }
      // The form parser keeps the parts it reads: a form takes its declared length from the budget
      // at once, a chunked one the most it may grow to.
      const held = Math.min(declaredLength(req) ?? maxBytes, maxBytes);
      if (budget && !budget.take(held)) return readFailed(budget.refusal(), req, res);
      loadFormParts()
        .then((parse) => parse(req, res))
        .then(
          (parts) => invoke(req, res, target, Buffer.alloc(0), held, parts),
          (err: unknown) => {
            budget?.give(held);
            readFailed(err, req, res);
          },
        );
      return;
    }
    readBodyThen(req, bodyLimits, req.headers['content-encoding'] !== undefined, (err, body) => (err === undefined ? void invoke(req, res, target, body!, body!.length) : readFailed(err, req, res)));
  };

  /**
   * Express serves only the rarer routes (the model API, other spellings of the routes): it is
   * loaded on first use, or shortly after start, so it does not delay the first `/ping` (cold
   * start).
   */
  const buildSlowPath = async (): Promise<RequestListener> => {
    const [{ default: express }, { validateLoadRequest }] = await Promise.all([import('express'), import('./model-store.js')]);
    const app = express();
    app.disable('x-powered-by');
    app.disable('etag');
    app.set('query parser', false);

    // The exact paths are served before express (see the listener); these take their other spellings.
    app.get('/metrics', (req, res, next) => (metrics ? scrape(req, res) : next()));
    app.get('/ping', (_req, res) => ping(res));
    app.get('/execution-parameters', (_req, res) => executionParameters(res));
    app.post(['/invocations', '/models/:name/invoke'], (req: Request, res: Response, next: NextFunction) => {
      let target: InferenceBackend;
      try {
        const name = req.params['name'];
        target = targetOf(typeof name === 'string' ? name : undefined);
      } catch (err) {
        return refuseUntargeted(err, req, res);
      }
      const refused = refusal(target);
      if (refused) return refuseInvocation(refused, req, res, modelLabel(req));
      pending++;
      readAndInvoke(req, res, target);
    });
    mountModelRoutes(app, models, bodyLimits, validateLoadRequest, isDraining, leavingReason, stopCause);
    for (const route of ['/ping', '/invocations', '/execution-parameters'] as const) app.all(route, (req, res, next) => next(methodNotAllowed(req, res, req.path, route)));
    // Without a metrics sink there is no /metrics: every method is a 404.
    if (metrics) app.all('/metrics', (req, res, next) => next(methodNotAllowed(req, res, req.path, '/metrics')));
    app.use((req, _res, next) => next(noRoute(req.method, req.path)));
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => sendError(err, req, res));
    return app;
  };
  const loadSlowPath = retryingLoad('the code of this route (express)', buildSlowPath);
  // A few seconds after start, past a new worker's first seconds under load, express and multer
  // load one package per turn of the event loop: in one go they would hold the requests of a busy
  // worker for 100-150 ms (see gradual-require.ts). A request for a rarer route before then loads
  // them at once.
  // Without descriptors to spare (a connection flood) it waits: a package tried then would stay
  // missing for good (see free-descriptors.ts).
  const preload = async () => (await import('../core/gradual-require.js')).requireGradually(SLOW_PATH_PACKAGES, import.meta.url);
  const preloadSoon = (ms: number) =>
    setTimeout(() => {
      (slowPathPackages ??= preload().catch((err: unknown) => {
        slowPathPackages = undefined;
        throw err;
      }))
        .then(loadSlowPath)
        .catch((err: unknown) => void ((err as ToolkitError).code === 'ERR_SERVER_BUSY' && preloadSoon(PRELOAD_RETRY_MS)));
    }, ms).unref();
  preloadSoon(PRELOAD_AFTER_MS);

  return (req, res) => {
    // Without Host (see HTTP_SERVER_OPTIONS), with two, with a fragment in the target: a 400.
    const fault = requestHeadFault(req, true);
    if (fault !== undefined) return sendError(new ToolkitError('ERR_BAD_REQUEST', fault), req, res);
    // Node undoes only `chunked`: with another transfer coding before it (gzip, chunked) the body
    // would reach the decoders still coded. (Without chunked last, Node's parser refuses the body
    // itself, through answerClientError: answering here first would leave nothing to answer with.)
    const te = req.headers['transfer-encoding'];
    if (te !== undefined && te.toLowerCase() !== 'chunked' && /,\s*chunked\s*$/i.test(te)) {
      // Only empty elements before it (",chunked", or an empty Transfer-Encoding line before a
      // chunked one): the list means chunked (RFC 9110 §5.6.1), but proxies and servers that
      // take only the exact word read another length, the shape of request smuggling. A 400
      // and a closed connection, as for "chunked, chunked", instead of reading the body.
      if (te.split(',').every((coding, i, all) => (i === all.length - 1 ? true : coding.trim() === ''))) {
        return sendError(
          new ToolkitError('ERR_BAD_REQUEST', `Transfer-Encoding "${excerpt(te)}" has empty list elements: send Transfer-Encoding: chunked alone (once), or a Content-Length`),
          req,
          res,
        );
      }
      return sendError(
        new ToolkitError('ERR_UNSUPPORTED_MEDIA_TYPE', `Transfer-Encoding "${excerpt(te)}" is not supported: send the body plain or chunked, compressed with Content-Encoding if you like`),
        req,
        res,
      );
    }
    const path = pathOf(req.url);
    const read = req.method === 'GET' || req.method === 'HEAD';
    if (corsOrigins !== undefined) {
      const origin = corsOrigin(req, corsOrigins);
      if (origin !== undefined) {
        if (answerPreflight(req, res, origin, serverMethods)) return;
        setCorsHeaders(res, origin);
      }
    }
    if (path === '/ping' && read) return ping(res);
    // A web page of another site could drive the container through a browser: a form POST to
    // /invocations or /models needs no CORS preflight. SageMaker passes on no Origin.
    const from = foreignOrigin(req, corsOrigins);
    if (from !== undefined) return sendError(foreignOriginError(from), req, res);
    // Under DNS rebinding a page's GET carries no Origin, only its own name in Host (SMKIT_ALLOWED_HOSTS, off by default).
    if (allowedHosts !== undefined) {
      const host = foreignHost(req, allowedHosts);
      if (host !== undefined) return sendError(foreignHostError(host), req, res);
    }
    // The routes a deployment calls often besides these (a metrics scrape, a batch transform's
    // first call) and the commonest mistakes are answered here, without express: express swaps
    // the prototypes of the request and response it serves, and Node's own HTTP code, optimised
    // for one shape of them, then runs slower for every request after (measured: 108 against
    // 128 µs of CPU per one-row request once /execution-parameters had gone through express).
    if (read && path === '/metrics' && metrics) return scrape(req, res);
    if (read && path === '/execution-parameters') return executionParameters(res);
    // Compressed and multipart bodies too: an invocation express served would slow the plain ones after it.
    if (req.method === 'POST' && (path === '/invocations' || (models && MODEL_INVOKE.test(path)))) {
      let target: InferenceBackend;
      try {
        target = targetOf(path === '/invocations' ? undefined : invokedModel(req.url));
      } catch (err) {
        return refuseUntargeted(err, req, res);
      }
      const refused = refusal(target);
      if (refused) return refuseInvocation(refused, req, res, modelLabel(req));
      pending++;
      readAndInvoke(req, res, target);
      return;
    }
    // After the invocations' own branch, so that they do not pay for these checks.
    if (FIXED_METHOD_PATHS.has(path) && !(path === '/invocations' ? req.method === 'POST' : read)) {
      return sendError(methodNotAllowed(req, res, path, path as keyof typeof ALLOWED_METHODS), req, res);
    }
    if (path === '/metrics' && metrics) return sendError(methodNotAllowed(req, res, path, '/metrics'), req, res);
    // The asterisk form names the server as a whole, and only OPTIONS takes it: a no-op that a
    // client may send to check the server (RFC 9110 §9.3.7, RFC 9112 §3.2.4). It is not a path to look up.
    if (path === '*') {
      if (req.method !== 'OPTIONS') return sendError(new ToolkitError('ERR_BAD_REQUEST', `${asForGet(req.method)} * is not a request: the * target is for OPTIONS only; name a path, as in GET /ping`), req, res);
      res.writeHead(200, { Allow: serverMethods, 'Content-Length': 0 });
      return void res.end();
    }
    if (path === BIDI_PATH && !models) return sendError(upgradeRequired(req, res), req, res);
    if (!EXPRESS_ROUTES.test(path)) return sendError(noRoute(req.method, path), req, res);
    const slowPath = loadSlowPath.loaded;
    if (slowPath) return slowPath(req, res);
    loadSlowPath().then(
      (app) => app(req, res),
      (err: unknown) => sendError(err, req, res),
    );
  };
}

/**
 * The multi-model management API (https://docs.aws.amazon.com/sagemaker/latest/dg/mms-container-apis.html): load, list, describe and unload. Without a
 * {@link ModelManager} every route answers 404 `ERR_MULTI_MODEL_DISABLED`. A load while the server
 * drains is refused with 503 `ERR_SHUTTING_DOWN`, as invocations are: it would start a model that
 * shutdown is about to stop.
 */
function mountModelRoutes(
  app: Express,
  models: ModelManager | undefined,
  bodyLimits: BodyLimits,
  validateLoadRequest: typeof import('./model-store.js').validateLoadRequest,
  isDraining: () => boolean,
  leavingReason: LeavingReason,
  stopCause: () => string,
): void {
  const disabled = (_req: Request, _res: Response, next: NextFunction) =>
    next(new ToolkitError('ERR_MULTI_MODEL_DISABLED', 'the /models API needs SAGEMAKER_MULTI_MODEL=true; this container serves one model at POST /invocations'));
  if (!models) {
    app.all(['/models', '/models/:name'], disabled);
    return;
  }
  const limits: BodyLimits = { maxBytes: 1024 * 1024, timeoutMs: bodyLimits.timeoutMs };
  app.post('/models', (req: Request, res: Response, next: NextFunction) => {
    if (isDraining()) return next(drainingError(leavingReason(), `the server is shutting down (${stopCause()}); load the model on another instance`));
    readBody(req, limits, true)
      .catch((err: unknown) => {
        // Its own limit: SAGEMAKER_MAX_PAYLOAD_IN_MB, which the 413 of readBody names, is for invocations.
        if (err instanceof ToolkitError && err.code === 'ERR_PAYLOAD_TOO_LARGE') {
          throw new ToolkitError('ERR_PAYLOAD_TOO_LARGE', `POST /models takes a JSON body of at most 1 MB, {"model_name": ..., "url": ...}; this one is larger`);
        }
        throw err;
      })
      .then((raw) => {
        let body: { model_name?: unknown; url?: unknown };
        const text = raw.toString('utf8');
        // Parsed on the HTTP thread: a megabyte of brackets would hold /ping for seconds in JSON.parse.
        if (jsonNestsDeeperThan(text)) {
          throw new ToolkitError('ERR_BAD_REQUEST', `POST /models needs a JSON body {"model_name": ..., "url": ...}; this one nests more than ${MAX_JSON_DEPTH} levels deep`);
        }
        try {
          body = (raw.length ? JSON.parse(text) : {}) as typeof body;
        } catch (err) {
          throw new ToolkitError('ERR_BAD_REQUEST', `POST /models needs a JSON body {"model_name": ..., "url": ...}: ${(err as Error).message}`);
        }
        if (raw.length === 0) {
          // No body: MMS's management API form, ?model_name=...&url=... (MMS reads the query of a
          // request that is not JSON: ManagementRequestHandler.parseRequest), as its docs' curl sends it.
          const query = new URL(req.url, 'http://x').searchParams;
          if (!query.has('model_name') && !query.has('url')) {
            throw new ToolkitError('ERR_BAD_REQUEST', 'POST /models needs a JSON body {"model_name": ..., "url": ...} (or, with no body, ?model_name=...&url=... as MMS takes it); this one has neither');
          }
          body = { model_name: query.get('model_name') ?? undefined, url: query.get('url') ?? undefined };
        }
        const parsed = validateLoadRequest(body?.model_name, body?.url);
        return models.load(parsed.name, parsed.url, req).then(() => sendJson(res, 200, { status: `Model "${parsed.name}" registered` }));
      })
      .catch(next);
  });
  app.get('/models', (req: Request, res: Response, next: NextFunction) => {
    const query = new URL(req.url, 'http://x').searchParams;
    const limit = Number(query.get('limit') ?? 100);
    // The token is the last model name of the page before, so a model loaded or unloaded between
    // pages moves no other one across a page boundary (an offset skipped one for each unload).
    const after = query.get('next_page_token') ?? query.get('nextPageToken') ?? '';
    if (!Number.isInteger(limit) || limit < 1) return next(new ToolkitError('ERR_BAD_REQUEST', 'limit must be a whole number of at least 1'));
    const all = models.list().sort((a, b) => (a.modelName < b.modelName ? -1 : a.modelName > b.modelName ? 1 : 0));
    const rest = after === '' ? all : all.filter((m) => m.modelName > after);
    const page = rest.slice(0, Math.min(limit, 100));
    sendJson(res, 200, { models: page, ...(page.length < rest.length ? { nextPageToken: page.at(-1)!.modelName } : {}) });
  });
  app.get('/models/:name', (req: Request, res: Response, next: NextFunction) => {
    const entry = models.get(String(req.params['name']));
    if (!entry) return next(new ToolkitError('ERR_MODEL_NOT_LOADED', `model "${String(req.params['name'])}" is not loaded`));
    sendJson(res, 200, entry);
  });
  app.delete('/models/:name', (req: Request, res: Response, next: NextFunction) => {
    const name = String(req.params['name']);
    models.unload(name).then(() => sendJson(res, 200, { status: `Model "${name}" unregistered` }), next);
  });
  // The resources exist; other methods are 405, as on /ping and /invocations (MMS answers 405 too).
  for (const route of ['/models', '/models/:name', '/models/:name/invoke'] as const) app.all(route, (req, res, next) => next(methodNotAllowed(req, res, req.path, route)));
}
