/** Shared pieces of the benchmarks: start a server and wait for /ping, drive it with autocannon or wrk. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { freePort } from '../test/helpers/serve-process.js';

/** A server started for a benchmark. */
export interface BenchServer {
  url: string;
  child: ChildProcess;
  /** Milliseconds from spawning the process to the first `GET /ping` 200. */
  readyMs: number;
  /** `performance.now()` of that first 200. */
  readyAt: number;
  /** Lines the server has written to stdout so far (0 unless started with `countLogLines`). */
  logLines(): number;
}

/**
 * Starts `node <script> ...args(port)` and waits (up to 120 s) until `GET /ping` answers 200.
 * `args` receives the free port chosen for it. With `countLogLines` its stdout (the log) is read
 * and its lines counted instead of discarded.
 */
export async function startBenchServer(
  script: string,
  args: (port: number) => string[],
  env: NodeJS.ProcessEnv = process.env,
  { countLogLines = false }: { countLogLines?: boolean } = {},
): Promise<BenchServer> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [script, ...args(port)], { env, stdio: ['ignore', countLogLines ? 'pipe' : 'ignore', 'inherit'] });
  let lines = 0;
  child.stdout?.on('data', (chunk: Buffer) => {
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
  });
  const logLines = () => lines;
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${script} exited early (${child.exitCode})`);
    if (await fetch(`${url}/ping`).then((r) => r.status === 200, () => false)) return { url, child, readyMs: performance.now() - started, readyAt: performance.now(), logLines };
    await new Promise((r) => setTimeout(r, 5));
  }
  child.kill('SIGTERM');
  throw new Error(`${script} did not become ready on ${url}`);
}

/**
 * Waits until a freshly started server stops using CPU on its own (threads still loading the
 * model, libraries loaded after the first `/ping`), so one-time start-up work is not counted as
 * per-request cost. Gives up after `maxMs`. The check starts `quietAfterMs` after the first `/ping`
 * 200 at the earliest: smkit loads its rarer routes and prom-client on a timer
 * (`PRELOAD_AFTER_MS`), and a server idle until then would look settled before that work.
 */
export async function settle(server: BenchServer, quietAfterMs = 0, maxMs = 15_000): Promise<void> {
  const wait = server.readyAt + quietAfterMs - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const deadline = Date.now() + maxMs;
  const first = treeCpuMs(server.child.pid);
  if (first === undefined) return new Promise((r) => setTimeout(r, 2000));
  let last: number = first;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    const now: number = treeCpuMs(server.child.pid) ?? last;
    if (now - last < 25) return;
    last = now;
  }
}

/** Stops a bench server and waits for its exit. */
export async function stopBenchServer(server: BenchServer): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = new Promise((r) => server.child.once('exit', r));
  server.child.kill('SIGTERM');
  await exited;
}

/** Throughput and latency of one case. */
export interface Measurement {
  bytes: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /**
   * CPU time (user + system) the server's processes spent per request, in microseconds: unlike
   * requests/s it hardly moves when other programs share the machine. Undefined off Linux.
   */
  cpuUsPerRequest?: number;
  /** smkit only: an upper bound of the server-side p99 in ms, from its `/metrics` histogram ({@link serverP99Bound}). */
  serverP99Ms?: number;
  /** smkit with dynamic batching only: requests per model run, on average ({@link meanBatchSize}). */
  meanBatch?: number;
  /** smkit with dynamic batching only: one model run's duration in ms, on average ({@link meanBatchRunMs}). */
  meanBatchRunMs?: number;
}

/** CPU time (ms) of a process and all its descendants, from /proc; undefined when unavailable. */
export function treeCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const children = new Map<string, string[]>();
    const stats = new Map<string, string[]>();
    for (const p of readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      try {
        const text = readFileSync(`/proc/${p}/stat`, 'utf8');
        const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
        stats.set(p, fields);
        const parent = fields[1]!;
        children.set(parent, [...(children.get(parent) ?? []), p]);
      } catch {
        // the process ended meanwhile
      }
    }
    const ticks = 100; // USER_HZ on Linux
    let total = 0;
    const stack = [String(pid)];
    while (stack.length > 0) {
      const p = stack.pop()!;
      const f = stats.get(p);
      if (f) total += Number(f[11]) + Number(f[12]);
      stack.push(...(children.get(p) ?? []));
    }
    return (total * 1000) / ticks;
  } catch {
    return undefined;
  }
}

/** The load generator: autocannon (default), or wrk when `BENCH_CLIENT=wrk` (C, lighter on the shared cores). */
const client = process.env['BENCH_CLIENT'] === 'wrk' ? 'wrk' : 'autocannon';

/** One load run's requests/s, latency percentiles and slowest answer (ms), failures and total requests. */
export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  requests: number;
}

async function runAutocannon(url: string, body: string | Buffer, contentType: string, connections: number, seconds: number): Promise<LoadResult> {
  const result = await autocannon({ url, method: 'POST', headers: { 'content-type': contentType, accept: 'application/json' }, body, connections, duration: seconds });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max, errors: result.non2xx + result.errors, requests: result.requests.total };
}

/** wrk prints latencies with units (`850.00us`, `1.20ms`, `1.01s`). */
function wrkMs(text: string | undefined): number {
  const m = /([\d.]+)(us|ms|s)/.exec(text ?? '');
  if (!m) return Number.NaN;
  const value = Number(m[1]);
  return m[2] === 'us' ? value / 1000 : m[2] === 's' ? value * 1000 : value;
}

/** What `wrk --latency` printed: requests/s, p50, p99 and the slowest answer (ms), failures and requests. */
export function parseWrkOutput(out: string): LoadResult {
  const field = (re: RegExp) => re.exec(out)?.[1];
  const requests = Number(field(/(\d+) requests in/) ?? 0);
  const failures = Number(field(/Non-2xx or 3xx responses: (\d+)/) ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(field(/Requests\/sec:\s+([\d.]+)/)),
    p50: wrkMs(field(/ 50%\s+(\S+)/)),
    p99: wrkMs(field(/ 99%\s+(\S+)/)),
    // The thread statistics' line: "Latency   avg   stdev   max   +/- stdev".
    max: wrkMs(field(/Latency\s+\S+\s+\S+\s+(\S+)\s+[\d.]+%/)),
    errors: failures + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
    requests,
  };
}

async function runWrk(url: string, body: string | Buffer, contentType: string, connections: number, seconds: number): Promise<LoadResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-bench-wrk-'));
  try {
    const bodyFile = path.join(dir, 'body');
    writeFileSync(bodyFile, body);
    const script = path.join(dir, 'post.lua');
    writeFileSync(
      script,
      `wrk.method = "POST"\nlocal f = io.open(${JSON.stringify(bodyFile)}, "rb")\nwrk.body = f:read("*a")\nf:close()\n` +
        `wrk.headers["Content-Type"] = ${JSON.stringify(contentType)}\nwrk.headers["Accept"] = "application/json"\n`,
    );
    const out = await new Promise<string>((resolve, reject) => {
      execFile('wrk', ['-t', '1', '-c', String(connections), '-d', `${Math.max(1, Math.round(seconds))}s`, '--latency', '-s', script, url], { maxBuffer: 1 << 20 }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      );
    });
    return parseWrkOutput(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Warms up for a quarter of `seconds` (JIT, first model runs, connections), then measures POST
 * /invocations with the load generator `BENCH_CLIENT` names. With `pid`, also the server's CPU
 * time per request.
 */
export async function measure(url: string, body: string | Buffer, contentType: string, connections: number, seconds: number, pid?: number, serverMetrics = false): Promise<Measurement> {
  const run = client === 'wrk' ? runWrk : runAutocannon;
  await run(`${url}/invocations`, body, contentType, connections, Math.max(1, seconds / 4));
  const metricsBefore = serverMetrics ? await fetchText(`${url}/metrics`) : undefined;
  const cpuBefore = treeCpuMs(pid);
  const result = await run(`${url}/invocations`, body, contentType, connections, seconds);
  const cpuAfter = treeCpuMs(pid);
  const metricsAfter = serverMetrics ? await fetchText(`${url}/metrics`) : undefined;
  return {
    bytes: Buffer.byteLength(body),
    rps: result.rps,
    p50: result.p50,
    p99: result.p99,
    errors: result.errors,
    cpuUsPerRequest: cpuBefore !== undefined && cpuAfter !== undefined && result.requests > 0 ? ((cpuAfter - cpuBefore) * 1000) / result.requests : undefined,
    serverP99Ms: metricsBefore !== undefined && metricsAfter !== undefined ? serverP99Bound(metricsBefore, metricsAfter) : undefined,
    meanBatch: metricsBefore !== undefined && metricsAfter !== undefined ? meanBatchSize(metricsBefore, metricsAfter) : undefined,
    meanBatchRunMs: metricsBefore !== undefined && metricsAfter !== undefined ? meanBatchRunMs(metricsBefore, metricsAfter) : undefined,
  };
}

/** Times of `GET /ping` probes sent one after another while something else runs. */
export interface PingProbes {
  /** Milliseconds each probe took, in order (a probe that failed or passed 5 s counts as 5000). */
  readonly ms: number[];
  /** Probes that did not get a 200. */
  failed: number;
}

/**
 * Sends `GET <url>/ping` every `intervalMs` (each on a new connection, as a health checker that
 * does not keep one open) until `stop` settles, and times each.
 */
export async function probePing(url: string, stop: Promise<unknown>, intervalMs = 100): Promise<PingProbes> {
  const probes: PingProbes = { ms: [], failed: 0 };
  let stopped = false;
  // Settled either way: a rejection is the caller's to report, not an unhandled one here.
  const done = () => void (stopped = true);
  stop.then(done, done);
  while (!stopped) {
    const t0 = performance.now();
    const ok = await fetch(`${url}/ping`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(5000) }).then(
      async (r) => (await r.arrayBuffer(), r.status === 200),
      () => false,
    );
    probes.ms.push(ok ? performance.now() - t0 : 5000);
    if (!ok) probes.failed++;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return probes;
}

/** The text at `url` (a server's `/metrics`), or undefined when it cannot be fetched. */
export async function fetchText(url: string): Promise<string | undefined> {
  return fetch(url, { signal: AbortSignal.timeout(10_000) }).then((r) => r.text(), () => undefined);
}

/** `smkit_invocation_seconds` bucket counts by upper bound (seconds), summed over models. */
function invocationBuckets(metrics: string): Map<number, number> {
  const buckets = new Map<number, number>();
  for (const m of metrics.matchAll(/^smkit_invocation_seconds_bucket\{le="([^"]+)"[^}]*\} (\d+)/gm)) {
    const le = m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]);
    buckets.set(le, (buckets.get(le) ?? 0) + Number(m[2]));
  }
  return buckets;
}

/**
 * The server's own p99 between two `/metrics` scrapes, as the smallest bucket bound (ms) of
 * `smkit_invocation_seconds` (complete request body to answer) that holds 99% of the requests
 * answered in between: it leaves out the time the load generator itself waits for a core.
 */
export function serverP99Bound(before: string, after: string): number | undefined {
  const a = invocationBuckets(before);
  const b = invocationBuckets(after);
  const total = (b.get(Number.POSITIVE_INFINITY) ?? 0) - (a.get(Number.POSITIVE_INFINITY) ?? 0);
  if (total <= 0) return undefined;
  for (const le of [...b.keys()].sort((x, y) => x - y)) {
    if ((b.get(le) ?? 0) - (a.get(le) ?? 0) >= 0.99 * total) return le * 1000;
  }
  return undefined;
}

/** The sum of every series of one `/metrics` sample name (all models and steps). */
function sampleTotal(metrics: string, name: string): number {
  let total = 0;
  for (const m of metrics.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) total += Number(m[1]);
  return total;
}

/** Invocations answered with HTTP `status` between two `/metrics` scrapes (every model). */
export function answeredWith(status: number, before: string, after: string): number {
  const count = (metrics: string) => {
    let total = 0;
    for (const m of metrics.matchAll(/^smkit_invocations_total\{([^}]*)\} (\S+)$/gm)) if (m[1]!.includes(`status="${status}"`)) total += Number(m[2]);
    return total;
  };
  return count(after) - count(before);
}

/** Model rows (requests) run between two `/metrics` scrapes, from `smkit_batch_size_sum`. */
export function rowsRun(before: string, after: string): number {
  return sampleTotal(after, 'smkit_batch_size_sum') - sampleTotal(before, 'smkit_batch_size_sum');
}

/** The mean of a histogram's observations between two `/metrics` scrapes; undefined when there were none. */
function meanBetween(before: string, after: string, histogram: string): number | undefined {
  const count = sampleTotal(after, `${histogram}_count`) - sampleTotal(before, `${histogram}_count`);
  if (count <= 0) return undefined;
  return (sampleTotal(after, `${histogram}_sum`) - sampleTotal(before, `${histogram}_sum`)) / count;
}

/**
 * Requests per model run between two `/metrics` scrapes, from `smkit_batch_size` (recorded only
 * with dynamic batching on); undefined when no run was recorded.
 */
export function meanBatchSize(before: string, after: string): number | undefined {
  return meanBetween(before, after, 'smkit_batch_size');
}

/**
 * How long one model run took under dynamic batching between two `/metrics` scrapes, in ms on
 * average (`smkit_batch_run_seconds`): the batch run the load itself produced, at the batch sizes it
 * formed and with the cores shared as they were. Undefined when no run was recorded.
 */
export function meanBatchRunMs(before: string, after: string): number | undefined {
  const seconds = meanBetween(before, after, 'smkit_batch_run_seconds');
  return seconds === undefined ? undefined : seconds * 1000;
}

/** The load generator in use, for the report. */
export const loadClient = client;

/** Runs the load generator once, without warm-up or measurements (the caller scrapes `/metrics`). */
export function loadOnce(url: string, body: string | Buffer, contentType: string, connections: number, seconds: number): Promise<LoadResult> {
  return (client === 'wrk' ? runWrk : runAutocannon)(`${url}/invocations`, body, contentType, connections, seconds);
}
