import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AllowedOrigins } from '../config/settings.js';

/** A `Access-Control-Request-Headers` value: a comma-separated list of header names (tokens). */
const HEADER_NAME_LIST = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*$/;
/** How long a browser may keep a preflight's answer (Chromium keeps at most 2 hours, Firefox 1 day). */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/**
 * The request's `Origin` when `SMKIT_CORS_ALLOW_ORIGINS` names it (or is `*`): the page may call
 * the server and read its answers. Undefined otherwise: a page of this machine passes the origin
 * check ({@link foreignOrigin}) but gets no CORS headers unless it is named too.
 */
export function corsOrigin(req: IncomingMessage, allowed: AllowedOrigins): string | undefined {
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  return allowed === 'any' || allowed.includes(origin) ? origin : undefined;
}

/**
 * Answers a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`) from an allowed
 * origin with 204 and what the page may send: the server's methods, the headers it asked for
 * (any: an invocation's content type, SageMaker's `X-Amzn-SageMaker-*` headers), for
 * {@link PREFLIGHT_MAX_AGE_SECONDS}. Returns false for any other request, which the caller serves.
 */
export function answerPreflight(req: IncomingMessage, res: ServerResponse, origin: string, methods: string): boolean {
  if (req.method !== 'OPTIONS' || req.headers['access-control-request-method'] === undefined) return false;
  const headers: Record<string, string | number> = {
    'Access-Control-Allow-Origin': origin,
    'Access-Control-Allow-Methods': methods,
    'Access-Control-Max-Age': PREFLIGHT_MAX_AGE_SECONDS,
    Vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
    'Content-Length': 0,
  };
  const asked = req.headers['access-control-request-headers'];
  // Not a list of names (a forged value): none are granted, and the browser refuses the request.
  if (asked !== undefined && asked.length <= 4096 && HEADER_NAME_LIST.test(asked.trim())) headers['Access-Control-Allow-Headers'] = asked.trim();
  res.writeHead(204, headers);
  res.end();
  return true;
}

/**
 * Lets the page of an allowed `origin` read the answer about to be written, whatever writes it
 * (headers set here join the ones `writeHead` is given): every response header, as `*` allows
 * for requests without credentials (the server takes none).
 */
export function setCorsHeaders(res: ServerResponse, origin: string): void {
  res.setHeader('Access-Control-Allow-Origin', origin);
  res.setHeader('Access-Control-Expose-Headers', '*');
  res.setHeader('Vary', 'Origin');
}
