import type { ClientRequest } from 'node:http';
import { Agent as DirectHttpAgent } from 'node:http';
import { Agent as DirectHttpsAgent } from 'node:https';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';
import type { ProxySettings } from '../config/deploy.js';

/** A `NO_PROXY` entry: a host name, domain or IP address, with the one port it is for, if any. */
interface NoProxyEntry {
  readonly name: string;
  readonly port?: number;
}

/**
 * The entries of a `NO_PROXY` value (commas or whitespace between them, case ignored), as curl and
 * the AWS CLI (botocore, through Python's urllib) read them: `*` is every host; a leading `.` (or
 * `*.`) is ignored, so `.example.com` and `example.com` each name example.com and every host under
 * it; `host:port` (`[::1]:8080` for an IPv6 address) only that port.
 */
export function parseNoProxy(value: string): NoProxyEntry[] {
  const entries: NoProxyEntry[] = [];
  for (const raw of value.toLowerCase().split(/[,\s]+/)) {
    if (raw === '') continue;
    const bracketed = /^\[([^\]]*)\](?::(\d+))?$/.exec(raw);
    const withPort = bracketed ? undefined : /^([^:]+):(\d+)$/.exec(raw);
    const host = bracketed?.[1] ?? withPort?.[1] ?? raw;
    const port = bracketed?.[2] ?? withPort?.[2];
    const name = host === '*' ? '*' : host.replace(/^\*?\.+/, '');
    if (name === '') continue;
    entries.push({ name, ...(port !== undefined ? { port: Number(port) } : {}) });
  }
  return entries;
}

/** Whether a request to `host` (a name or IP address, IPv6 with or without brackets) on `port` goes direct by `entries`. */
export function bypassesProxy(entries: readonly NoProxyEntry[], host: string, port: number): boolean {
  const hostname = host.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  return entries.some(
    (e) => (e.port === undefined || e.port === port) && (e.name === '*' || hostname === e.name || hostname.endsWith(`.${e.name}`)),
  );
}

/** A proxy URL as a message shows it: its password as `***`. */
function shownProxy(proxy: string): string {
  const url = new URL(proxy);
  if (url.password !== '') url.password = '***';
  return url.href.replace(/\/$/, '');
}

/**
 * The proxy answered the CONNECT for a tunnel with another status than 200: named for what it is,
 * which proxy and which host, so that deploy does not report the proxy's 403 as the service's.
 */
export class ProxyRefusedError extends Error {
  override readonly name = 'ProxyRefused';
  constructor(proxy: string, target: string, status: number | undefined, statusText: string | undefined) {
    const fix =
      status === 407
        ? 'give the proxy\'s user name and password in its URL (https_proxy, HTTPS_PROXY, all_proxy or ALL_PROXY: http://user:password@host:port, with @ and : in them written %40 and %3A)'
        : `ask the proxy's administrators to allow CONNECT to ${target}, or name the host in NO_PROXY if it can be reached without the proxy`;
    super(`the proxy ${shownProxy(proxy)} refused to open a tunnel to ${target}: it answered CONNECT with ${status ?? '?'}${statusText ? ` ${statusText}` : ''}; ${fix}`);
  }
}

/** As the AWS SDK's own agents: connections kept open between calls, at most 50 to a host. */
const AGENT_OPTIONS = { keepAlive: true, maxSockets: 50 } as const;

/**
 * The agent of the deploy clients when a proxy variable is set. The AWS SDK for JavaScript v3 reads
 * none of `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (the AWS CLI and boto3 do), so deploy behind a
 * corporate proxy could reach no service. Each request chooses as curl and the AWS CLI do: a host
 * `NO_PROXY` names goes direct; else an https:// URL goes through the `HTTPS_PROXY` (a CONNECT
 * tunnel), an http:// one through the `HTTP_PROXY` (absolute-URI requests), each falling back to
 * `ALL_PROXY`; a protocol with no proxy set goes direct.
 */
export class EnvProxyAgent extends DirectHttpAgent {
  private readonly direct: DirectHttpAgent;
  private readonly viaProxy = new Map<string, DirectHttpAgent>();
  private readonly noProxy: readonly NoProxyEntry[];

  constructor(
    private readonly secure: boolean,
    private readonly proxies: ProxySettings,
  ) {
    super(AGENT_OPTIONS);
    // Node refuses an https:// request through an agent of another protocol (ERR_INVALID_PROTOCOL).
    if (secure) Object.assign(this, { protocol: 'https:', defaultPort: 443 });
    this.noProxy = parseNoProxy(proxies.noProxy ?? '');
    this.direct = secure ? new DirectHttpsAgent(AGENT_OPTIONS) : new DirectHttpAgent(AGENT_OPTIONS);
  }

  /**
   * Node's hook of an agent, called as the request is made, before its head is written: handing the
   * request on from here (not from agent-base's asynchronous connect(), as proxy-agent does) lets an
   * HTTP proxy's agent rewrite the request line to the absolute URL on a kept-alive connection too,
   * where from connect() a second request went out as `POST /` to the proxy.
   */
  addRequest(req: ClientRequest, options: { host?: string | null; port?: number | string | null }): void {
    const host = options.host ?? req.host;
    const port = Number(options.port) || (this.secure ? 443 : 80);
    // NO_PROXY as curl and the AWS CLI match it (parseNoProxy); no variable is read here.
    const proxy = bypassesProxy(this.noProxy, host, port) ? undefined : this.secure ? this.proxies.https : this.proxies.http;
    // agent-base names a pooled connection by whether its endpoint is https, which it guesses from
    // the options: the SDK gives no protocol, so a tunnel was pooled under an http name and looked up
    // under an https one, and every call opened a new CONNECT tunnel and TLS session. Say it.
    const agent = this.agentFor(proxy) as unknown as { addRequest(r: ClientRequest, o: unknown): void };
    // A proxy that refuses the tunnel: https-proxy-agent replays its answer as the service's, so a
    // 403 of the proxy read as `HTTP 403: Forbidden (the answer had no error body)` of SageMaker.
    if (proxy !== undefined && this.secure) {
      req.once('proxyConnect', (res: { statusCode?: number; statusText?: string }) => {
        if (res.statusCode !== 200) req.destroy(new ProxyRefusedError(proxy, `${host}:${port}`, res.statusCode, res.statusText));
      });
    }
    agent.addRequest(req, proxy === undefined ? options : { ...options, secureEndpoint: this.secure });
  }

  private agentFor(proxy: string | undefined): DirectHttpAgent {
    if (proxy === undefined) return this.direct;
    let agent = this.viaProxy.get(proxy);
    if (!agent) {
      // The proxy agents print their proxy's whole URL, password and all, under DEBUG=https-proxy-agent
      // (and http-proxy-agent): they get it without the user and password, which go in the
      // Proxy-Authorization header they would have made of them.
      const url = new URL(proxy);
      const auth = url.username !== '' || url.password !== '' ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` : undefined;
      url.username = '';
      url.password = '';
      const opts = { ...AGENT_OPTIONS, ...(auth !== undefined ? { headers: { 'Proxy-Authorization': `Basic ${Buffer.from(auth).toString('base64')}` } } : {}) };
      agent = this.secure ? new HttpsProxyAgent(url, opts) : new HttpProxyAgent(url, opts);
      this.viaProxy.set(proxy, agent);
    }
    return agent;
  }

  override destroy(): void {
    this.direct.destroy();
    for (const a of this.viaProxy.values()) a.destroy();
    super.destroy();
  }
}
