import type { Server } from 'node:http';

/** How often Node checks connections for the headers and request timeouts (its default). */
export const NODE_CONNECTIONS_CHECKING_INTERVAL_MS = 30_000;

/**
 * Node's request timeout for a server whose body reader times a body out `bodyReadMs` after its
 * headers: past the latest moment that reader can answer (headers in just before Node's check that
 * would have cut them, `headersMs` + `intervalMs`, then `bodyReadMs`) by one more check interval.
 * Node's check only sees a request older than its timeout on its next round, so with the timeout
 * at the headers' time plus the body's it could close a request whose headers came late first, with
 * its generic `ERR_REQUEST_TIMEOUT`, instead of the body reader's catalogued 408; it is only the
 * backstop for a request no body reader times (a body nobody reads, a refused request still draining).
 */
export function requestTimeoutAfterBodyMs(headersMs: number, bodyReadMs: number, intervalMs = NODE_CONNECTIONS_CHECKING_INTERVAL_MS): number {
  return headersMs + bodyReadMs + 2 * intervalMs;
}

/** How long `smkit serve` keeps an idle connection open: longer than a typical client's or load balancer's idle timeout. */
export const SERVE_KEEP_ALIVE_MS = 65_000;

/** How long `smkit serve` gives a request's headers: a little longer than a connection stays idle. */
export const SERVE_HEADERS_TIMEOUT_MS = SERVE_KEEP_ALIVE_MS + 1000;

/**
 * Sets the timeouts of `smkit serve`'s HTTP server (one that checks connections every
 * {@link NODE_CONNECTIONS_CHECKING_INTERVAL_MS}), whose routes time a body out `bodyTimeoutSeconds`
 * after its headers (`SMKIT_BODY_TIMEOUT_SECONDS`).
 */
export function setServeTimeouts(server: Server, bodyTimeoutSeconds: number): void {
  server.keepAliveTimeout = SERVE_KEEP_ALIVE_MS;
  server.headersTimeout = SERVE_HEADERS_TIMEOUT_MS;
  // A backstop for bodies no route reads (GET /ping with a Content-Length that never arrives): the
  // routes' own 408 ERR_BODY_TIMEOUT must always come first.
  server.requestTimeout = requestTimeoutAfterBodyMs(server.headersTimeout, bodyTimeoutSeconds * 1000);
}
