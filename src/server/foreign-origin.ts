import type { IncomingMessage } from 'node:http';
import type { AllowedHosts, AllowedOrigins } from '../config/settings.js';
import { ToolkitError } from '../errors/catalogue.js';
import { excerpt } from '../errors/excerpt.js';

/**
 * Whether `hostname` (as `URL.hostname` gives it, lower case, IPv4 numbers normalised) names this
 * machine: `localhost`, an IPv4 loopback address (127.0.0.0/8), `[::1]`, or an IPv4 loopback
 * address mapped to IPv6 (`[::ffff:127.0.0.1]`, which `URL` writes `[::ffff:7f00:1]`). Not
 * `*.localhost`: a browser that asks DNS for such a name gets whatever answers it.
 */
function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/\.$/, '');
  return host === 'localhost' || /^127(\.\d{1,3}){3}$/.test(host) || host === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(host);
}

/**
 * Whether `hostname` is an IP address (not a name) and the one the request was sent to (its
 * `Host`): a page there was served by this machine, as a browser reaches an address only by
 * connecting to it, where under DNS rebinding a name (the page's, in both headers) reaches
 * whatever its DNS answers. WebSocket clients such as Netty's send their own URL as `Origin`
 * (`http://10.0.0.5:8080` for `ws://10.0.0.5:8080/…`).
 */
function isAddressSentTo(hostname: string, host: string | undefined): boolean {
  if (host === undefined || !(hostname.startsWith('[') || /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname))) return false;
  try {
    return new URL(`http://${host}`).hostname === hostname;
  } catch {
    return false;
  }
}

/**
 * Whether a serialized origin (or a URL, for a `Referer`) is an http(s) origin on this machine, or
 * one of the `allowed`.
 */
function isAcceptedOrigin(text: string, host: string | undefined, allowed: AllowedOrigins | undefined): boolean {
  if (allowed === 'any' || allowed?.includes(text)) return true;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // `null` (a sandboxed frame, a file:// page, a redirect across sites) and anything unreadable.
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  // A Referer is a whole URL: its origin is what the setting names.
  return isLoopbackHost(url.hostname) || isAddressSentTo(url.hostname, host) || allowed?.includes(url.origin) === true;
}

/** The header of a request that names a web page of another site, and what it says. */
export interface ForeignOrigin {
  header: 'Origin' | 'Referer';
  value: string;
}

/**
 * The header that shows a request came from a web page of another site, or undefined for one that
 * did not. A browser names the page's origin in `Origin` on every POST and WebSocket handshake,
 * and a page on any site can send a form POST (`application/x-www-form-urlencoded`,
 * `text/plain`) to `127.0.0.1` without asking (no CORS preflight), open a WebSocket to it, or reach
 * it under its own name once its DNS answers 127.0.0.1 (DNS rebinding), then send anything. A
 * page on this machine (`localhost`, a loopback address, or the address the request was sent to)
 * is not foreign. Without `Origin`, `Referer` is read (older browsers left `Origin` off a
 * same-origin POST). SDKs, the AWS CLI and curl send neither, and SageMaker passes on neither to a
 * container (InvokeEndpoint strips the headers its API does not name), so the common case costs
 * two property reads. Origins in `allowed` (`SMKIT_CORS_ALLOW_ORIGINS`) are not foreign either.
 */
export function foreignOrigin(req: IncomingMessage, allowed?: AllowedOrigins): ForeignOrigin | undefined {
  const origin = req.headers.origin;
  if (origin !== undefined) return isAcceptedOrigin(origin, req.headers.host, allowed) ? undefined : { header: 'Origin', value: origin };
  const referer = req.headers.referer;
  if (referer === undefined) return undefined;
  return isAcceptedOrigin(referer, req.headers.host, allowed) ? undefined : { header: 'Referer', value: referer };
}

/**
 * `smkit serve`'s refusal of a request {@link foreignOrigin} found (403 `ERR_FOREIGN_ORIGIN`): a
 * page could otherwise invoke the model, or on a multi-model endpoint load any directory (its
 * `code/` runs) through a visitor's browser, as TorchServe's management API allowed
 * (CVE-2023-43654).
 */
export function foreignOriginError(from: ForeignOrigin): ToolkitError {
  return new ToolkitError(
    'ERR_FOREIGN_ORIGIN',
    `smkit serve takes no request from a web page of another site (${from.header}: ${excerpt(from.value, 100)}): a page could otherwise invoke this container's models, or load others, through a visitor's browser. ` +
      'SageMaker, the AWS SDKs and curl send no Origin; to let a page of your own call it, name its origin in SMKIT_CORS_ALLOW_ORIGINS (as in https://app.example.com), or serve the page from localhost.',
  );
}

/**
 * The request's `Host` when it names neither this machine (`localhost`, a loopback address) nor an
 * IP address nor a name in `allowed` (`SMKIT_ALLOWED_HOSTS`), else undefined. A web page can point
 * its own name at 127.0.0.1 (DNS rebinding) and then read what this server answers, as the page's
 * own origin: a same-origin `GET` carries no `Origin`, and the page can leave `Referer` off, so
 * {@link foreignOrigin} does not see it; but its `Host` is the page's name. An address is never
 * rebound (a browser reaches an address only by connecting to it), so any passes, as `localhost`
 * does (Jupyter, Vite and webpack-dev-server let the same through by default). A request without
 * `Host` (HTTP/1.0) passes: a browser always sends one.
 */
export function foreignHost(req: IncomingMessage, allowed: AllowedHosts | undefined): string | undefined {
  if (allowed === 'any') return undefined;
  const host = req.headers.host;
  if (host === undefined) return undefined;
  // A host and optional port only: a user, path or query would make URL read another name.
  if (!/^(\[[0-9a-fA-F:.]+\]|[^\s/?#@\\[\]:]+)(:\d*)?$/.test(host)) return host;
  let hostname: string;
  try {
    hostname = new URL(`http://${host}`).hostname.replace(/\.$/, '');
  } catch {
    return host;
  }
  if (isLoopbackHost(hostname) || hostname.startsWith('[') || /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname)) return undefined;
  if (allowed?.some((name) => hostname === name || (name.startsWith('.') && (hostname.endsWith(name) || hostname === name.slice(1))))) return undefined;
  return host;
}

/** `smkit serve`'s refusal of a request {@link foreignHost} found (403 `ERR_FOREIGN_ORIGIN`). */
export function foreignHostError(host: string): ToolkitError {
  return new ToolkitError(
    'ERR_FOREIGN_ORIGIN',
    `smkit serve takes no request addressed to Host: ${excerpt(host, 100)}, a name SMKIT_ALLOWED_HOSTS does not list: a web page that points its own name at this server (DNS rebinding) could otherwise read it through a visitor's browser. ` +
      'Add the name to SMKIT_ALLOWED_HOSTS (comma-separated; * for any), or call the server by localhost or an IP address.',
  );
}
