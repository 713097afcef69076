import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { ToolkitError } from '../errors/catalogue.js';
import type { Settings } from '../config/settings.js';
import type { SmkitLogger } from '../logging/logger.js';
import type { SageMakerHeaders } from '../core/context.js';
import { parseMediaType } from '../codecs/media-type.js';
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

function sageMakerHeaders(req: Request): SageMakerHeaders {
  const out: SageMakerHeaders = {};
  for (const [key, header] of Object.entries(SM_HEADERS) as [keyof SageMakerHeaders, string][]) {
    const v = req.headers[header];
    if (typeof v === 'string') out[key] = v;
  }
  return out;
}

/** Maps body-parser and multer failures onto catalogue errors. */
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

/**
 * The SageMaker container HTTP API: `GET /ping`, `POST /invocations`, `GET /execution-parameters`.
 * It never runs user code or models itself: those run in the backend (an inference thread), so
 * `/ping` answers at once even while every inference is busy.
 */
export function createApp({ settings, backend, log, isDraining = () => false }: AppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false);
  const maxBytes = Math.floor(settings.maxPayloadMb * 1024 * 1024);
  const rawBody = express.raw({ type: () => true, limit: maxBytes });
  const formParts = createFormPartsParser({ maxFileBytes: maxBytes, maxFiles: 64, maxFields: 256 });
  const timeoutMs = settings.timeoutSeconds * 1000;

  app.get('/ping', (_req, res) => {
    const state = backend.state();
    if (state === 'ready' && !isDraining()) {
      const d = backend.describe();
      res.status(200).json({ status: 'Healthy', runtimes: d?.runtimes.map((r) => ({ name: r.name, backend: r.backend })) ?? [] });
      return;
    }
    const reason = isDraining() ? 'shutting down' : state === 'failed' ? `model failed to load: ${backend.failure()?.message ?? 'see logs'}` : 'model is loading';
    res.status(503).json({ status: state === 'failed' ? 'Unhealthy' : 'Loading', code: 'ERR_NOT_READY', message: reason });
  });

  app.get('/execution-parameters', (_req, res) => {
    res.json({ MaxConcurrentTransforms: settings.maxConcurrentTransforms, BatchStrategy: settings.batchStrategy, MaxPayloadInMB: settings.maxPayloadMb });
  });

  app.post(
    '/invocations',
    (req: Request, res: Response, next: NextFunction) => {
      if (isDraining()) {
        res.setHeader('Connection', 'close');
        return next(new ToolkitError('ERR_SHUTTING_DOWN', 'the server is shutting down (SIGTERM); retry on another instance'));
      }
      if (backend.state() === 'failed') return next(new ToolkitError('ERR_NOT_READY', `the model failed to load: ${backend.failure()?.message ?? 'see the logs'}`));
      const multipart = parseMediaType(req.headers['content-type']).mediaType === 'multipart/form-data';
      if (multipart && backend.describe()?.rawBodies === false) {
        formParts(req, res).then((parts) => {
          res.locals['parts'] = parts;
          next();
        }, next);
        return;
      }
      rawBody(req, res, next);
    },
    async (req: Request, res: Response, next: NextFunction) => {
      const requestId = randomUUID();
      const started = performance.now();
      try {
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const result = await backend.invoke(
          {
            requestId,
            body,
            contentType: req.headers['content-type'],
            accept: req.headers['accept'],
            headers: sageMakerHeaders(req),
            parts: res.locals['parts'],
          },
          timeoutMs,
        );
        res.status(200).setHeader('Content-Type', result.contentType);
        if (result.customAttributes !== undefined) res.setHeader('X-Amzn-SageMaker-Custom-Attributes', result.customAttributes);
        if (isDraining()) res.setHeader('Connection', 'close');
        res.end(result.body);
        log.debug({ requestId, ms: Math.round((performance.now() - started) * 100) / 100, bytesIn: body.length, bytesOut: result.body.length }, 'invocation');
      } catch (err) {
        res.locals['requestId'] = requestId;
        next(err);
      }
    },
  );

  app.all(['/ping', '/invocations', '/execution-parameters'], (req, _res, next) => {
    next(new ToolkitError('ERR_METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${req.path}`));
  });
  app.use((req, _res, next) => {
    next(new ToolkitError('ERR_NOT_FOUND', `no route ${req.method} ${req.path}; the container serves GET /ping, POST /invocations and GET /execution-parameters`));
  });

  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const error = toToolkitError(err, settings);
    const requestId = res.locals['requestId'] as string | undefined;
    const logged = { requestId, code: error.code, status: error.status, path: req.path, err: error };
    if (error.status >= 500) log.error(logged, error.message);
    else log.warn(logged, error.message);
    if (res.headersSent) return res.end();
    const body: Record<string, unknown> = error.toJSON();
    if (requestId) body['requestId'] = requestId;
    if (settings.debug && error.stack) body['stack'] = error.stack;
    // Drain what the client is still sending so the socket stays usable (413 stops reading early).
    if (!req.complete) res.setHeader('Connection', 'close');
    res.status(error.status).json(body);
  });
  return app;
}
