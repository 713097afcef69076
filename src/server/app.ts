import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import getRawBody from 'raw-body';
import { ToolkitError } from '../errors/catalogue.js';
import type { Settings } from '../config/settings.js';
import type { SmkitLogger } from '../logging/logger.js';
import type { SageMakerHeaders } from '../core/context.js';
import { parseMediaType } from '../codecs/media-type.js';
import type { FormPart } from '../codecs/multipart.js';
import { createFormPartsParser } from './multipart.js';
import type { InferenceBackend } from './inference-worker.js';

/** The HTTP front's view of the settings. */
export type AppSettings = Pick<Settings, 'maxPayloadMb' | 'timeoutSeconds' | 'debug' | 'maxConcurrentTransforms' | 'batchStrategy'>;

/** Options for {@link createApp}. */
export interface AppOptions {
  settings: AppSettings;
  backend: InferenceBackend;
  log: SmkitLogger;
  /** True once SIGTERM arrived: new invocations get 503 and connections close after their response. */
  isDraining?: () => boolean;
}

const SM_HEADERS: Record<keyof SageMakerHeaders, string> = {
  customAttributes: 'x-amzn-sagemaker-custom-attributes',
  inferenceId: 'x-amzn-sagemaker-inference-id',
  targetModel: 'x-amzn-sagemaker-target-model',
  targetVariant: 'x-amzn-sagemaker-target-variant',
};

function sageMakerHeaders(req: IncomingMessage): SageMakerHeaders {
  const out: SageMakerHeaders = {};
  for (const [key, header] of Object.entries(SM_HEADERS) as [keyof SageMakerHeaders, string][]) {
    const v = req.headers[header];
    if (typeof v === 'string') out[key] = v;
  }
  return out;
}

/** Maps body-reader and multer failures onto catalogue errors. */
function toToolkitError(err: unknown, settings: AppSettings): ToolkitError {
  if (err instanceof ToolkitError) return err;
  const e = err as { type?: string; status?: number; message?: string; length?: number; limit?: number };
  if (e?.type === 'entity.too.large') {
    return new ToolkitError(
      'ERR_PAYLOAD_TOO_LARGE',
      `the request body${e.length ? ` (${e.length} bytes)` : ''} is larger than ${settings.maxPayloadMb} MB; raise SAGEMAKER_MAX_PAYLOAD_IN_MB or send smaller batches`,
    );
  }
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') return new ToolkitError('ERR_UNSUPPORTED_MEDIA_TYPE', e.message ?? 'unsupported encoding');
  if (e?.type === 'request.aborted') return new ToolkitError('ERR_BAD_REQUEST', 'the client aborted the request');
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) return new ToolkitError('ERR_BAD_REQUEST', e.message ?? 'bad request', { status: e.status });
  return new ToolkitError('ERR_INTERNAL', (err as Error)?.message ?? String(err), { cause: err });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/**
 * The SageMaker container HTTP API: `GET /ping`, `POST /invocations`, `GET /execution-parameters`.
 * It never runs user code or models itself: those run in the backend (an inference thread), so
 * `/ping` answers at once even while every inference is busy.
 *
 * The two routes SageMaker calls constantly (`GET /ping`, `POST /invocations` with a plain body)
 * are served straight from `node:http`; everything else (multipart, compressed bodies, other
 * routes, errors) goes through express. Express costs several times the per-request CPU of the
 * plain path on one-row requests, which the benchmark showed.
 *
 * @returns a request listener for `http.createServer` (supertest accepts it too).
 */
export function createApp({ settings, backend, log, isDraining = () => false }: AppOptions): RequestListener {
  const maxBytes = Math.floor(settings.maxPayloadMb * 1024 * 1024);
  const timeoutMs = settings.timeoutSeconds * 1000;

  const sendError = (err: unknown, req: IncomingMessage, res: ServerResponse, requestId?: string): void => {
    const error = toToolkitError(err, settings);
    const logged = { requestId, code: error.code, status: error.status, path: req.url, err: error };
    if (error.status >= 500) log.error(logged, error.message);
    else log.warn(logged, error.message);
    if (res.headersSent) {
      res.end();
      return;
    }
    const body: Record<string, unknown> = error.toJSON();
    if (requestId) body['requestId'] = requestId;
    if (settings.debug && error.stack) body['stack'] = error.stack;
    // The body may not have been read to its end (413): the connection cannot be reused.
    if (!req.complete || isDraining()) res.setHeader('Connection', 'close');
    sendJson(res, error.status, body);
  };

  const ping = (res: ServerResponse): void => {
    const state = backend.state();
    if (state === 'ready' && !isDraining()) {
      const d = backend.describe();
      sendJson(res, 200, { status: 'Healthy', runtimes: d?.runtimes.map((r) => ({ name: r.name, backend: r.backend })) ?? [] });
      return;
    }
    const reason = isDraining() ? 'shutting down' : state === 'failed' ? `model failed to load: ${backend.failure()?.message ?? 'see logs'}` : 'model is loading';
    sendJson(res, 503, { status: state === 'failed' ? 'Unhealthy' : 'Loading', code: 'ERR_NOT_READY', message: reason });
  };

  /** Refuses invocations the backend cannot take; undefined when it can. */
  const refusal = (): ToolkitError | undefined => {
    if (isDraining()) return new ToolkitError('ERR_SHUTTING_DOWN', 'the server is shutting down (SIGTERM); retry on another instance');
    if (backend.state() === 'failed') return new ToolkitError('ERR_NOT_READY', `the model failed to load: ${backend.failure()?.message ?? 'see the logs'}`);
    return undefined;
  };

  const invoke = async (req: IncomingMessage, res: ServerResponse, body: Buffer, parts?: FormPart[]): Promise<void> => {
    const requestId = randomUUID();
    const started = performance.now();
    try {
      const result = await backend.invoke(
        { requestId, body, contentType: req.headers['content-type'], accept: req.headers['accept'], headers: sageMakerHeaders(req), parts },
        timeoutMs,
      );
      res.statusCode = 200;
      res.setHeader('Content-Type', result.contentType);
      res.setHeader('Content-Length', result.body.length);
      if (result.customAttributes !== undefined) res.setHeader('X-Amzn-SageMaker-Custom-Attributes', result.customAttributes);
      if (isDraining()) res.setHeader('Connection', 'close');
      res.end(result.body);
      if (log.isLevelEnabled('debug')) {
        log.debug({ requestId, ms: Math.round((performance.now() - started) * 100) / 100, bytesIn: body.length, bytesOut: result.body.length }, 'invocation');
      }
    } catch (err) {
      sendError(err, req, res, requestId);
    }
  };

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false);
  const rawBody = express.raw({ type: () => true, limit: maxBytes });
  const formParts = createFormPartsParser({ maxFileBytes: maxBytes, maxFiles: 64, maxFields: 256 });

  app.get('/execution-parameters', (_req, res) => {
    sendJson(res, 200, { MaxConcurrentTransforms: settings.maxConcurrentTransforms, BatchStrategy: settings.batchStrategy, MaxPayloadInMB: settings.maxPayloadMb });
  });
  app.post('/invocations', (req: Request, res: Response, next: NextFunction) => {
    const refused = refusal();
    if (refused) return next(refused);
    const multipart = parseMediaType(req.headers['content-type']).mediaType === 'multipart/form-data';
    if (multipart && backend.describe()?.rawBodies === false) {
      formParts(req, res).then((parts) => invoke(req, res, Buffer.alloc(0), parts), next);
      return;
    }
    rawBody(req, res, (err?: unknown) => (err ? next(err) : void invoke(req, res, Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0))));
  });
  app.all(['/ping', '/invocations', '/execution-parameters'], (req, _res, next) => {
    next(new ToolkitError('ERR_METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${req.path}`));
  });
  app.use((req, _res, next) => {
    next(new ToolkitError('ERR_NOT_FOUND', `no route ${req.method} ${req.path}; the container serves GET /ping, POST /invocations and GET /execution-parameters`));
  });
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => sendError(err, req, res));

  return (req, res) => {
    if (req.url === '/ping' && (req.method === 'GET' || req.method === 'HEAD')) return ping(res);
    if (req.url === '/invocations' && req.method === 'POST' && !req.headers['content-encoding'] && !req.headers['content-type']?.toLowerCase().startsWith('multipart/')) {
      const refused = refusal();
      if (refused) return sendError(refused, req, res);
      getRawBody(req, { limit: maxBytes, length: req.headers['content-length'] }).then(
        (body) => invoke(req, res, body),
        (err: unknown) => sendError(err, req, res),
      );
      return;
    }
    app(req, res);
  };
}
