/**
 * `npm run bench`: drives `smkit serve` and the bare baseline server (bench/baseline-server.ts)
 * with autocannon on the same model and payloads, in the same run, and prints requests/s, p50
 * and p99 side by side; then the codec throughput table and the TF.js row where available.
 *
 * Environment: BENCH_SECONDS (per case, default 8), BENCH_WORKERS (default: CPU count).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDenseOnnxModel } from '../src/runtimes/onnx/build-model.js';
import { measure, startBenchServer, type Measurement } from './harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const seconds = Number(process.env['BENCH_SECONDS'] ?? 8);
const workers = Number(process.env['BENCH_WORKERS'] ?? os.availableParallelism());
const FEATURES = 64;

/** Deterministic pseudo-random numbers so every run sends the same bytes. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function csvRows(rows: number): string {
  const r = rng(rows);
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) lines.push(Array.from({ length: FEATURES }, () => (r() * 10 - 5).toFixed(6)).join(','));
  return lines.join('\n') + '\n';
}

function makeModel(dir: string): string {
  const r = rng(7);
  const dense = (inputs: number, outputs: number) => Array.from({ length: inputs }, () => Array.from({ length: outputs }, () => r() - 0.5));
  const file = path.join(dir, 'model.onnx');
  writeFileSync(
    file,
    buildDenseOnnxModel({
      inputName: 'input',
      outputName: 'probabilities',
      layers: [
        { weights: dense(FEATURES, 16), bias: new Array(16).fill(0), activation: 'relu' },
        { weights: dense(16, 3), bias: [0, 0, 0], activation: 'softmax' },
      ],
    }),
  );
  return file;
}

interface Row extends Measurement {
  server: string;
  payload: string;
}

async function drive(server: string, url: string, payload: string, body: string, connections: number): Promise<Row> {
  return { server, payload, ...(await measure(url, body, 'text/csv', connections, seconds)) };
}

/** Where a 5 MB CSV request's time goes, in-process: decode, model run (with the cast to float32), encode. */
async function stageTimes(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-bench-stages-'));
  try {
    const model = makeModel(dir);
    const { createDefaultCodecs } = await import('../src/codecs/defaults.js');
    const ort = await import('onnxruntime-node');
    const codecs = createDefaultCodecs();
    const body = Buffer.from(csvRows(9000));
    const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
    const runs: { decode: number; model: number; encode: number }[] = [];
    for (let i = 0; i < 7; i++) {
      let t = performance.now();
      const request = codecs.decode('text/csv', body);
      const decode = performance.now() - t;
      t = performance.now();
      const input = request.tensors['']!;
      const result = await session.run({ input: new ort.Tensor('float32', Float32Array.from(input.data as Float64Array), [...input.shape]) });
      const modelMs = performance.now() - t;
      t = performance.now();
      const out = result['probabilities']!;
      codecs.encode({ probabilities: { dtype: 'float32', shape: [...out.dims], data: out.data as Float32Array } }, 'application/json', { request });
      runs.push({ decode, model: modelMs, encode: performance.now() - t });
    }
    await session.release();
    const median = (k: 'decode' | 'model' | 'encode') => runs.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(runs.length / 2)]!.toFixed(1);
    console.log(`\n5 MB CSV request, in-process medians of ${runs.length}: decode ${median('decode')} ms, cast + model ${median('model')} ms, JSON encode ${median('encode')} ms (${(body.length / 1e6).toFixed(1)} MB in)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-bench-'));
  const model = makeModel(dir);
  const payloads: [string, string, number][] = [
    ['1 row × 64', csvRows(1), 8],
    ['256 rows × 64', csvRows(256), 8],
    ['~5 MB (9000 rows × 64)', csvRows(9000), 4],
  ];
  const children: ChildProcess[] = [];
  const rows: Row[] = [];
  try {
    const smkit = await startBenchServer(path.join(repo, 'bin/smkit.js'), (port) => ['serve', '--model-dir', dir, '--port', String(port), '--workers', String(workers)], {
      ...process.env,
      SMKIT_LOG_LEVEL: 'warn',
      SMKIT_BIND_HOST: '127.0.0.1',
    });
    children.push(smkit.child);
    const baseline = await startBenchServer(path.join(here, 'baseline-server.js'), (port) => [model, String(port), String(workers)]);
    children.push(baseline.child);
    const smkitUrl = smkit.url;
    const baseUrl = baseline.url;
    for (const [name, body, connections] of payloads) {
      // Alternate who goes first so neither always gets the warmer machine.
      rows.push(await drive('baseline (bare node:http, inline)', baseUrl, name, body, connections));
      rows.push(await drive('smkit serve', smkitUrl, name, body, connections));
    }
  } finally {
    for (const c of children) c.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }

  console.log(`\nHTTP: ${os.cpus()[0]?.model ?? 'cpu'} × ${os.availableParallelism()}, Node ${process.version}, ${workers} worker(s), ${seconds} s per case`);
  console.log('| payload | server | req/s | p50 ms | p99 ms | errors | vs baseline |');
  console.log('|---|---|---:|---:|---:|---:|---:|');
  for (let i = 0; i < rows.length; i += 2) {
    const [b, s] = [rows[i]!, rows[i + 1]!];
    for (const r of [b, s]) {
      console.log(`| ${r.payload} | ${r.server} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.errors} | ${r === s ? `${(s.rps / b.rps).toFixed(2)}×` : '1.00×'} |`);
    }
  }

  await stageTimes();

  const codecBench = path.join(here, 'codecs.js');
  if (existsSync(codecBench)) {
    const { benchCodecs } = (await import(codecBench)) as { benchCodecs: () => Promise<{ codec: string; op: string; mb: number; mbPerSec: number }[]> };
    console.log('\nCodecs (in-process):');
    console.log('| codec | op | MB | MB/s |');
    console.log('|---|---|---:|---:|');
    for (const r of await benchCodecs()) console.log(`| ${r.codec} | ${r.op} | ${r.mb.toFixed(2)} | ${r.mbPerSec.toFixed(0)} |`);
  }
  const tfjsBench = path.join(here, 'tfjs.js');
  if (existsSync(tfjsBench)) {
    const { benchTfjs } = (await import(tfjsBench)) as { benchTfjs: () => Promise<{ table: string }> };
    console.log(`\n${(await benchTfjs()).table}`);
  }
}

await main();
