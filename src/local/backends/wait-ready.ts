import { get, type IncomingHttpHeaders } from 'node:http';
import { INSTANCE_ID_HEADER } from '../../core/sagemaker-headers.js';
import { ToolkitError } from '../../errors/catalogue.js';
import type { RunningContainer } from './backend.js';
import { tailLog } from './log-tail.js';
import { secondsText } from '../../core/seconds-text.js';

/** Options of {@link waitForPing}. */
export interface WaitOptions {
  /** Give up after this long. @defaultValue 120 000 ms (what the SageMaker Python SDK's local mode waits) */
  timeoutMs?: number;
  /** Time between polls. @defaultValue 200 ms */
  intervalMs?: number;
  /** Called every few seconds while waiting, with the seconds waited so far. */
  onProgress?: (waitedSeconds: number) => void;
  /** Stops waiting (Ctrl-C during start-up). */
  signal?: AbortSignal;
}

/** One `/ping` answer: its status, and the reason when the server says its model failed to load. */
interface PingAnswer {
  status: number;
  /** Set when `smkit serve` answered 503 `{"status":"Unhealthy","message":...}`: waiting longer cannot help. */
  loadFailure?: string;
  /** The answer lacked the container's instance id: another server holds the port. */
  foreign?: boolean;
}

/**
 * SageMaker's own /ping timeout is 2 s
 * (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html#your-algorithms-inference-algo-ping-requests).
 */
const PING_TIMEOUT_MS = 2_000;

/**
 * The most of a `/ping` body kept. Only smkit's 503 `Unhealthy` reason is read from it (a few
 * hundred bytes); a longer answer is not a health answer, and reading it whole for 2 s held
 * hundreds of MB.
 */
export const MAX_PING_BODY_BYTES = 64 * 1024;

/** A raw `/ping` exchange: status, headers and body text. */
interface PingExchange {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/**
 * `GET <url>/ping` within {@link PING_TIMEOUT_MS} (headers and body). node:http rather than
 * `fetch`: a health check runs every few seconds for every container for hours, and an undici
 * fetch cost about four times the CPU of this request (measured: ~30 ms against ~7 ms a ping on a
 * loaded 2-core VM). No agent: each ping has its own connection, so a keep-alive socket the
 * server just closed cannot fail a check. A redirect is never followed (node:http does not).
 * Fails on a body over {@link MAX_PING_BODY_BYTES}. The connection is destroyed once the ping is
 * settled, whichever way.
 */
function getPing(url: string): Promise<PingExchange> {
  return new Promise((resolve, reject) => {
    let answered = false;
    let settled = false;
    // Settles directly rather than through the request's events: a destroyed request emits none
    // in some states (a 101 answer without an upgrade listener closes it with no error).
    const settle = (err: Error | undefined, exchange?: PingExchange): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      if (err) reject(err);
      else resolve(exchange!);
    };
    const req = get(`${url}/ping`, { agent: false }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_PING_BODY_BYTES) settle(new Error(`/ping answer body over ${MAX_PING_BODY_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => settle(undefined, { status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      // A connection closed (or destroyed by the timeout) mid-answer errors the response, not the request.
      res.on('error', settle);
    });
    const timer = setTimeout(() => settle(new Error(`no /ping answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS).unref();
    // Stays attached after settling: destroying the request can still emit 'socket hang up'.
    req.on('error', settle);
    // Closed with no answer and no error (a 101): fail now rather than at the timeout. With an
    // answer, its 'end' (a body read to the close comes after this) or 'error' settles.
    req.on('close', () => {
      if (!answered) settle(new Error('/ping connection closed without an answer'));
    });
  });
}

async function pingOnce(url: string, instanceId: string | undefined): Promise<PingAnswer | undefined> {
  try {
    // A redirect is not followed: only this container's own 200 is healthy, and a 3xx is not one.
    const { status, headers, text } = await getPing(url);
    if (instanceId !== undefined && headers[INSTANCE_ID_HEADER] !== instanceId) return { status, foreign: true };
    if (status !== 503) return { status };
    try {
      const body = JSON.parse(text) as { status?: unknown; message?: unknown };
      if (body.status === 'Unhealthy') return { status: 503, loadFailure: typeof body.message === 'string' ? body.message : 'the model failed to load' };
    } catch {
      // Another server's 503 (not JSON): keep waiting.
    }
    return { status: 503 };
  } catch {
    return undefined;
  }
}

/**
 * One health check of a running container, as SageMaker pings its instances: true when `GET /ping`
 * answers 200 within 2 s, from this container (its instance id, when it has one).
 */
export async function pingHealthy(container: RunningContainer): Promise<boolean> {
  if (container.exited) return false;
  const answer = await pingOnce(container.url, container.instanceId);
  return answer?.status === 200 && !answer.foreign;
}

/** Formats the failure message with the container's last log lines. */
export async function withLogTail(container: RunningContainer, message: string): Promise<string> {
  return logTailMessage(container, message, await tailLog(container.spec.logFile, 20));
}

function logTailMessage(container: RunningContainer, message: string, tail: string): string {
  return `${message}\n--- last lines of ${container.spec.logFile} ---\n${tail || '(empty)'}`;
}

/**
 * Polls `GET /ping` until it answers 200 (with the container's `instanceId`, when it has one: an
 * answer without it comes from another server that took the port), the container exits, `/ping` says the model failed to
 * load (smkit's 503 `Unhealthy`: the reason is printed at once instead of waiting out the
 * deadline), or the deadline passes. Fails with `ERR_CONTAINER_START` and the container's last
 * log lines.
 */
export async function waitForPing(container: RunningContainer, opts: WaitOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const intervalMs = opts.intervalMs ?? 200;
  const started = Date.now();
  let lastReport = 0;
  let last: PingAnswer | undefined;
  for (;;) {
    opts.signal?.throwIfAborted();
    if (container.exited) {
      const { code, signal } = container.exited;
      const tail = await tailLog(container.spec.logFile, 20);
      // Read after the log: what the engine wrote on stderr just before it exited has come in by then.
      const hint = container.exitHint;
      const exit = `exited (${signal ? `signal ${signal}` : `code ${code}`}) before /ping answered 200${hint === undefined ? '' : `: ${hint}`}`;
      throw new ToolkitError('ERR_CONTAINER_START', logTailMessage(container, `${container.spec.id} ${exit}`, tail), { details: { exit } });
    }
    last = await pingOnce(container.url, container.instanceId);
    if (last?.status === 200 && !last.foreign) return;
    if (last?.loadFailure !== undefined) {
      throw new ToolkitError('ERR_CONTAINER_START', await withLogTail(container, `${container.spec.id}: ${last.loadFailure}`), { details: { reason: last.loadFailure } });
    }
    const waited = Date.now() - started;
    if (waited >= timeoutMs) {
      const state = last === undefined ? 'no answer' : last.foreign ? `another server answers on port ${container.spec.port}, not this container` : `last status ${last.status}`;
      throw new ToolkitError('ERR_CONTAINER_START', await withLogTail(container, `${container.spec.id} did not pass /ping within ${secondsText(timeoutMs)} s (${state}); raise --startup-timeout if the model is slow to load`));
    }
    if (opts.onProgress && waited - lastReport >= 2_000) {
      lastReport = waited;
      opts.onProgress(Math.round(waited / 1000));
    }
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, timeoutMs - waited)));
  }
}
