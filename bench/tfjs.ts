/**
 * TF.js rows for `npm run bench` (called by bench/run.ts): requests/s, p50 and p99 through
 * `smkit serve` on the bundled TF.js example (a JPEG through the vision pipeline) and on the
 * layers-model test fixture (one JSON row), with the TF.js backend in use read from `/ping`.
 * Run alone: `node dist/bench/tfjs.js`. Environment: BENCH_SECONDS (default 8), BENCH_WORKERS.
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { startBenchServer, measure, type BenchServer, type Measurement } from './harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');

/** One measured case. */
export interface TfjsBenchRow extends Measurement {
  model: string;
  payload: string;
}

function startServe(modelDir: string, workers: number): Promise<BenchServer> {
  return startBenchServer(path.join(repo, 'bin/smkit.js'), (port) => ['serve', '--model-dir', modelDir, '--port', String(port), '--workers', String(workers)], {
    ...process.env,
    SMKIT_LOG_LEVEL: 'warn',
    SMKIT_BIND_HOST: '127.0.0.1',
  });
}

async function drive(url: string, model: string, payload: string, body: Buffer | string, contentType: string, seconds: number): Promise<TfjsBenchRow> {
  return { model, payload, ...(await measure(url, body, contentType, 8, seconds)) };
}

/** Measures TF.js serving; `backend` is what `/ping` reports (WASM on machines without tfjs-node). */
export async function benchTfjs(): Promise<{ backend: string; rows: TfjsBenchRow[]; table: string }> {
  const seconds = Number(process.env['BENCH_SECONDS'] ?? 8);
  const workers = Number(process.env['BENCH_WORKERS'] ?? os.availableParallelism());
  const jpeg = await sharp({ create: { width: 224, height: 224, channels: 3, background: { r: 200, g: 40, b: 30 } } }).jpeg({ quality: 90 }).toBuffer();
  const rows: TfjsBenchRow[] = [];
  let backend = 'unknown';
  for (const [dir, model, payload, body, type] of [
    [path.join(repo, 'models/tfjs-image'), 'tfjs-image (vision pipeline)', 'JPEG 224×224 → top-3', jpeg, 'image/jpeg'],
    [path.join(repo, 'test/fixtures/tfjs/layers-mlp'), 'layers-mlp fixture', 'JSON 1 row × 4', '[[5.1,3.5,1.4,0.2]]', 'application/json'],
  ] as const) {
    const { url, child } = await startServe(dir, workers);
    try {
      const ping = (await (await fetch(`${url}/ping`)).json()) as { runtimes?: { name: string; backend: string }[] };
      backend = ping.runtimes?.find((r) => r.name === 'tfjs')?.backend ?? backend;
      rows.push(await drive(url, model, payload, body, type, seconds));
    } finally {
      child.kill('SIGTERM');
    }
  }
  const table = [
    `TF.js backend: ${backend}, ${workers} worker(s), ${seconds} s per case`,
    '| model | payload | req/s | p50 ms | p99 ms | errors |',
    '|---|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.model} | ${r.payload} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.errors} |`),
  ].join('\n');
  return { backend, rows, table };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log((await benchTfjs()).table);
}
