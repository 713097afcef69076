/** Shared pieces of the benchmarks: start a server and wait for /ping, drive it with autocannon. */
import { spawn, type ChildProcess } from 'node:child_process';
import autocannon from 'autocannon';
import { freePort } from '../test/helpers/serve-process.js';

/** A server started for a benchmark. */
export interface BenchServer {
  url: string;
  child: ChildProcess;
}

/**
 * Starts `node <script> ...args(port)` and waits (up to 60 s) until `GET /ping` answers 200.
 * `args` receives the free port chosen for it.
 */
export async function startBenchServer(script: string, args: (port: number) => string[], env: NodeJS.ProcessEnv = process.env): Promise<BenchServer> {
  const port = await freePort();
  const child = spawn(process.execPath, [script, ...args(port)], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${script} exited early (${child.exitCode})`);
    if (await fetch(`${url}/ping`).then((r) => r.status === 200, () => false)) return { url, child };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGTERM');
  throw new Error(`${script} did not become ready on ${url}`);
}

/** Throughput and latency of one case. */
export interface Measurement {
  bytes: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

/** Warms up for a quarter of `seconds` (JIT, first model runs, connections), then measures POST /invocations. */
export async function measure(url: string, body: string | Buffer, contentType: string, connections: number, seconds: number): Promise<Measurement> {
  const options = { url: `${url}/invocations`, method: 'POST' as const, headers: { 'content-type': contentType, accept: 'application/json' }, body, connections };
  await autocannon({ ...options, duration: Math.max(1, seconds / 4) });
  const result = await autocannon({ ...options, duration: seconds });
  return {
    bytes: Buffer.byteLength(body),
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.non2xx + result.errors,
  };
}
