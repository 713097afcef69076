/**
 * Codec throughput: decode and encode MB/s for CSV, JSON and NPY, next to a `Buffer.copy` of the
 * same bytes (the ceiling for any codec) and a naive `split(',')` + `Number` CSV parser like the
 * bare baseline server's. NPY decoding of aligned data is a view of the body (no copy), so its
 * figure only measures header parsing; NPY encoding is one allocation and one copy, so compare it
 * with the "copy into a new buffer" row.
 *
 * `node dist/bench/codecs.js` prints the table; `bench/run.ts` imports {@link benchCodecs}.
 * Each case runs for about BENCH_CODEC_MS milliseconds (default 300) after one warm-up call.
 */
import { pathToFileURL } from 'node:url';
import { tensor, type Tensor } from '../src/core/tensor.js';
import { csvCodec } from '../src/codecs/csv.js';
import { jsonCodec } from '../src/codecs/json.js';
import { jsonLinesCodec } from '../src/codecs/jsonlines.js';
import { npyCodec } from '../src/codecs/npy.js';
import { tensorToJsonValue } from '../src/codecs/json-write.js';

/** One row of the codec table. */
export interface CodecBenchRow {
  codec: string;
  op: 'decode' | 'encode';
  /** Size of the encoded bytes in MB (10^6 bytes). */
  mb: number;
  mbPerSec: number;
}

const FEATURES = 64;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function randomTensor(rows: number, seed: number): Tensor<'float32'> {
  const r = rng(seed);
  return tensor('float32', [rows, FEATURES], Float32Array.from({ length: rows * FEATURES }, () => r() * 10 - 5));
}

function csvBody(rows: number, format: (x: number) => string): Buffer {
  const r = rng(rows);
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) lines.push(Array.from({ length: FEATURES }, () => format(r() * 10 - 5)).join(','));
  return Buffer.from(`${lines.join('\n')}\n`);
}

function naiveCsv(body: Buffer): Float64Array {
  const lines = body.toString('utf8').trim().split('\n');
  const cols = lines[0]!.split(',').length;
  const out = new Float64Array(lines.length * cols);
  let k = 0;
  for (const line of lines) for (const field of line.split(',')) out[k++] = Number(field);
  return out;
}

/** Runs `fn` repeatedly for about `ms` milliseconds and answers MB/s for `bytes` per call. */
function measure(bytes: number, fn: () => unknown, ms: number): number {
  fn();
  let calls = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  do {
    fn();
    calls++;
    elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  } while (elapsed < ms || calls < 3);
  return (bytes * calls) / 1e6 / (elapsed / 1000);
}

/** Measures every case and answers one row per codec and direction. */
export async function benchCodecs(ms = Number(process.env['BENCH_CODEC_MS'] ?? 300)): Promise<CodecBenchRow[]> {
  const rows: CodecBenchRow[] = [];
  const add = (codec: string, op: 'decode' | 'encode', bytes: number, fn: () => unknown): void => {
    rows.push({ codec, op, mb: bytes / 1e6, mbPerSec: measure(bytes, fn, ms) });
  };

  const small = csvBody(256, (x) => x.toFixed(6));
  const rowsFor5MB = Math.round(5e6 / small.length * 256);
  const large = csvBody(rowsFor5MB, (x) => x.toFixed(6));
  const long = csvBody(Math.round(rowsFor5MB / 2), (x) => String(x));
  add('csv 256x64', 'decode', small.length, () => csvCodec.decode!(small, {}));
  add('csv 256x64 naive split+Number', 'decode', small.length, () => naiveCsv(small));
  add('csv 5MB', 'decode', large.length, () => csvCodec.decode!(large, {}));
  add('csv 5MB naive split+Number', 'decode', large.length, () => naiveCsv(large));
  add('csv 5MB 17-digit numbers', 'decode', long.length, () => csvCodec.decode!(long, {}));
  add('csv 5MB 17-digit naive', 'decode', long.length, () => naiveCsv(long));

  const t256 = { y: randomTensor(256, 1) };
  const tLarge = { y: randomTensor(rowsFor5MB, 2) };
  add('csv 256x64 float32', 'encode', csvCodec.encode!(t256, {}).length, () => csvCodec.encode!(t256, {}));
  add('csv 5MB-input-size float32', 'encode', csvCodec.encode!(tLarge, {}).length, () => csvCodec.encode!(tLarge, {}));

  const jsonBody = jsonCodec.encode!({ y: tensor('float64', [rowsFor5MB, FEATURES], Float64Array.from(tLarge.y.data, (x) => Math.round(x * 1e6) / 1e6)) }, {});
  add('json 5MB nested array', 'decode', jsonBody.length, () => jsonCodec.decode!(jsonBody, {}));
  const jsonLinesBody = jsonLinesCodec.encode!({ y: tensor('float64', [rowsFor5MB, FEATURES], Float64Array.from(tLarge.y.data, (x) => Math.round(x * 1e6) / 1e6)) }, {});
  add('json lines 5MB, a numeric array per line', 'decode', jsonLinesBody.length, () => jsonLinesCodec.decode!(jsonLinesBody, {}));
  add('json 5MB-input-size float32', 'encode', jsonCodec.encode!(tLarge, {}).length, () => jsonCodec.encode!(tLarge, {}));
  // The wider model's answer to 256 rows, and the same text from JSON.stringify of nested arrays
  // (smkit's writer before number-json.wasm, and what the bench's baseline server does).
  const r = rng(3);
  const answer = { y: tensor('float32', [256, 8], Float32Array.from({ length: 256 * 8 }, () => r() * 10 - 5)) };
  const answerBytes = jsonCodec.encode!(answer, {}).length;
  add('json 256x8 float32 (a 256-row answer)', 'encode', answerBytes, () => jsonCodec.encode!(answer, {}));
  add('json 256x8 float32, JSON.stringify of nested arrays', 'encode', answerBytes, () => Buffer.from(JSON.stringify(tensorToJsonValue(answer.y)), 'utf8'));

  const npyBody = npyCodec.encode!(tLarge, {});
  add('npy float32', 'decode', npyBody.length, () => npyCodec.decode!(npyBody, {}));
  add('npy float32', 'encode', npyBody.length, () => npyCodec.encode!(tLarge, {}));
  const target = Buffer.allocUnsafe(npyBody.length);
  add('Buffer.copy baseline into a reused buffer', 'decode', npyBody.length, () => npyBody.copy(target));
  add('Buffer.copy baseline into a new buffer', 'encode', npyBody.length, () => npyBody.copy(Buffer.allocUnsafe(npyBody.length)));
  return rows;
}

async function main(): Promise<void> {
  const rows = await benchCodecs();
  console.log('| codec | op | MB | MB/s |');
  console.log('|---|---|---:|---:|');
  for (const r of rows) console.log(`| ${r.codec} | ${r.op} | ${r.mb.toFixed(2)} | ${r.mbPerSec.toFixed(0)} |`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
