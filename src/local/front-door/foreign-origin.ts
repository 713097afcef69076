import type { IncomingMessage } from 'node:http';
import { excerpt } from '../../errors/excerpt.js';

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

/** Whether a serialized origin (or a URL, for a `Referer`) is an http(s) origin on this machine. */
function isLocalOrigin(text: string): boolean {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // `null` (a sandboxed frame, a file:// page, a redirect across sites) and anything unreadable.
    return false;
  }
  return (url.protocol === 'http:' || url.protocol === 'https:') && isLoopbackHost(url.hostname);
}

/**
 * Why a front-door request that came from a web page on another site is refused, or undefined for
 * one that did not. A browser names the page's origin in `Origin` on every POST, and a page on any
 * site can send a form POST (`application/x-www-form-urlencoded`, `text/plain`) to `127.0.0.1`
 * without asking (no CORS preflight), or reach it under its own name once its DNS answers
 * 127.0.0.1 (DNS rebinding), then send anything: the local SageMaker would run the page's
 * `CreateModel` (its environment, its image) as this user. SDKs and the AWS CLI send neither
 * `Origin` nor `Referer`; pages on this machine (`localhost`, a loopback address) are let through,
 * as LocalStack lets its own local origins through and refuses others with a 403.
 * Without `Origin`, `Referer` is read (older browsers left `Origin` off a same-origin POST).
 */
export function foreignOriginFault(req: IncomingMessage): string | undefined {
  const origin = req.headers.origin;
  const referer = req.headers.referer;
  const from = origin !== undefined ? { header: 'Origin', value: origin } : referer !== undefined ? { header: 'Referer', value: referer } : undefined;
  if (from === undefined || isLocalOrigin(from.value)) return undefined;
  return (
    `smkit local takes no request from a web page of another site (${from.header}: ${excerpt(from.value, 100)}): ` +
    'a page could otherwise drive the local SageMaker, which runs containers and processes, through your browser. ' +
    'AWS SDKs and the AWS CLI send no Origin; a page must be served from localhost or a loopback address.'
  );
}
