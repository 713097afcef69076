/**
 * The `bidi` scenario of `npm run bench`: one-row requests to the same `smkit serve` as HTTP
 * `POST /invocations` on kept-alive connections and as messages on bidirectional streams (the
 * WebSocket at `/invocations-bidirectional-stream`, answered one invocation per message), each
 * client sending its next one once answered. Both clients run in this process (Node's `http` and
 * `ws`), so the two paths are compared with the same kind of client; the other scenarios use
 * autocannon or wrk, which this comparison does not.
 */
import http from 'node:http';
import { once } from 'node:events';
import WebSocket from 'ws';
import { treeCpuMs, type BenchServer } from './harness.js';

/** One round's result for one path. */
export interface PathResult {
  perSecond: number;
  p50: number;
  p99: number;
  cpuUsPerMessage?: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function closedLoop(server: BenchServer, seconds: number, clients: number, start: () => Promise<() => Promise<void>>): Promise<PathResult> {
  const senders = await Promise.all(Array.from({ length: clients }, start));
  const latencies: number[] = [];
  const cpuBefore = treeCpuMs(server.child.pid);
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    senders.map(async (send) => {
      while (performance.now() < until) {
        const t = performance.now();
        await send();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const cpuAfter = treeCpuMs(server.child.pid);
  latencies.sort((a, b) => a - b);
  return {
    perSecond: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    cpuUsPerMessage: cpuBefore !== undefined && cpuAfter !== undefined ? ((cpuAfter - cpuBefore) * 1000) / latencies.length : undefined,
  };
}

/** `clients` kept-alive HTTP connections, each posting `body` as JSON and reading the answer. */
export async function httpLoop(server: BenchServer, body: string, clients: number, seconds: number): Promise<PathResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  try {
    return await closedLoop(server, seconds, clients, async () => () =>
      new Promise<void>((resolve, reject) => {
        const req = http.request(`${server.url}/invocations`, { method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
          res.resume();
          res.once('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
        });
        req.once('error', reject);
        req.end(body);
      }),
    );
  } finally {
    agent.destroy();
  }
}

/** `clients` bidirectional streams, each sending `body` as a text message and waiting for its answer. */
export async function streamLoop(server: BenchServer, body: string, clients: number, seconds: number): Promise<PathResult> {
  const sockets: WebSocket[] = [];
  try {
    return await closedLoop(server, seconds, clients, async () => {
      const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/invocations-bidirectional-stream`);
      sockets.push(ws);
      await once(ws, 'open');
      let answered: (() => void) | undefined;
      ws.on('message', () => answered?.());
      return () =>
        new Promise<void>((resolve) => {
          answered = resolve;
          ws.send(body);
        });
    });
  } finally {
    for (const ws of sockets) ws.close();
  }
}
