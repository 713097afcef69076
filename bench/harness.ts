/** Shared pieces of the benchmarks: start a server and wait for /ping, drive it with autocannon. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import autocannon from 'autocannon';
import { freePort } from '../test/helpers/serve-process.js';

/** A server started for a benchmark. */
export interface BenchServer {
  url: string;
  child: ChildProcess;
  /** Milliseconds from spawning the process to the first `GET /ping` 200. */
  readyMs: number;
}

/**
 * Starts `node <script> ...args(port)` and waits (up to 120 s) until `GET /ping` answers 200.
 * `args` receives the free port chosen for it.
 */
export async function startBenchServer(script: string, args: (port: number) => string[], env: NodeJS.ProcessEnv = process.env): Promise<BenchServer> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [script, ...args(port)], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${script} exited early (${child.exitCode})`);
    if (await fetch(`${url}/ping`).then((r) => r.status === 200, () => false)) return { url, child, readyMs: performance.now() - started };
    await new Promise((r) => setTimeout(r, 5));
  }
  child.kill('SIGTERM');
  throw new Error(`${script} did not become ready on ${url}`);
}

/**
 * Waits until a freshly started server stops using CPU on its own (threads still loading the
 * model, libraries loaded after the first `/ping`), so one-time start-up work is not counted as
 * per-request cost. Gives up after `maxMs`.
 */
export async function settle(server: BenchServer, maxMs = 15_000): Promise<void> {
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

/**
 * Warms up for a quarter of `seconds` (JIT, first model runs, connections), then measures POST
 * /invocations. With `pid`, also the server's CPU time per request.
 */
export async function measure(url: string, body: string | Buffer, contentType: string, connections: number, seconds: number, pid?: number): Promise<Measurement> {
  const options = { url: `${url}/invocations`, method: 'POST' as const, headers: { 'content-type': contentType, accept: 'application/json' }, body, connections };
  await autocannon({ ...options, duration: Math.max(1, seconds / 4) });
  const cpuBefore = treeCpuMs(pid);
  const result = await autocannon({ ...options, duration: seconds });
  const cpuAfter = treeCpuMs(pid);
  const requests = result.requests.total;
  return {
    bytes: Buffer.byteLength(body),
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.non2xx + result.errors,
    cpuUsPerRequest: cpuBefore !== undefined && cpuAfter !== undefined && requests > 0 ? ((cpuAfter - cpuBefore) * 1000) / requests : undefined,
  };
}
