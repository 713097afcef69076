import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answeredWith, meanBatchRunMs, meanBatchSize, parseWrkOutput, rowsRun, serverP99Bound } from './harness.js';

/** A `/metrics` excerpt in smkit's format: two batching steps and the invocation histogram. */
function scrape(runs: [number, number], rows: [number, number], buckets: [string, number][]): string {
  return [
    '# HELP smkit_batch_size Requests per model run (dynamic batching)',
    '# TYPE smkit_batch_size histogram',
    `smkit_batch_size_bucket{le="32",model="model",step="predict:onnx"} ${runs[0]}`,
    `smkit_batch_size_sum{model="model",step="predict:onnx"} ${rows[0]}`,
    `smkit_batch_size_count{model="model",step="predict:onnx"} ${runs[0]}`,
    `smkit_batch_size_sum{model="other",step="predict:onnx"} ${rows[1]}`,
    `smkit_batch_size_count{model="other",step="predict:onnx"} ${runs[1]}`,
    ...buckets.map(([le, n]) => `smkit_invocation_seconds_bucket{le="${le}",model="model",code="200"} ${n}`),
  ].join('\n');
}

test('meanBatchSize: requests per run between two scrapes, over every model and step', () => {
  const before = scrape([10, 0], [100, 0], []);
  const after = scrape([40, 10], [1000, 60], []);
  // (900 + 60) rows over (30 + 10) runs
  assert.equal(meanBatchSize(before, after), 24);
});

test('meanBatchSize: undefined when no run was recorded in between (batching off)', () => {
  const same = scrape([5, 0], [50, 0], []);
  assert.equal(meanBatchSize(same, same), undefined);
  assert.equal(meanBatchSize('', 'smkit_invocation_seconds_count 3'), undefined);
});

test('meanBatchRunMs: one run\'s mean duration between two scrapes, in ms, over every model and step', () => {
  const runs = (count: [number, number], seconds: [number, number]) =>
    [
      `smkit_batch_run_seconds_sum{model="model",step="predict:onnx"} ${seconds[0]}`,
      `smkit_batch_run_seconds_count{model="model",step="predict:onnx"} ${count[0]}`,
      `smkit_batch_run_seconds_sum{model="other",step="predict:onnx"} ${seconds[1]}`,
      `smkit_batch_run_seconds_count{model="other",step="predict:onnx"} ${count[1]}`,
    ].join('\n');
  // (0.9 + 0.1) s over (300 + 100) runs
  assert.ok(Math.abs(meanBatchRunMs(runs([10, 0], [0.5, 0]), runs([310, 100], [1.4, 0.1]))! - 2.5) < 1e-9);
  assert.equal(meanBatchRunMs(runs([10, 0], [0.5, 0]), runs([10, 0], [0.5, 0])), undefined);
});

test('serverP99Bound: the smallest bucket bound holding 99% of the requests in between', () => {
  const before = scrape([0, 0], [0, 0], [['0.005', 0], ['0.01', 0], ['0.015', 0], ['+Inf', 0]]);
  // 1000 requests: 900 within 5 ms, 985 within 10 ms, 995 within 15 ms
  const after = scrape([0, 0], [0, 0], [['0.005', 900], ['0.01', 985], ['0.015', 995], ['+Inf', 1000]]);
  assert.equal(serverP99Bound(before, after), 15);
});

test('answeredWith and rowsRun: answers of one status and model rows run between two scrapes', () => {
  const invocations = (ok: number, late: number, other: number) =>
    [
      `smkit_invocations_total{model="model",status="200"} ${ok}`,
      `smkit_invocations_total{model="model",status="504"} ${late}`,
      `smkit_invocations_total{model="other",status="200"} ${other}`,
    ].join('\n');
  const before = `${scrape([1, 0], [10, 0], [])}\n${invocations(5, 1, 2)}`;
  const after = `${scrape([9, 1], [310, 20], [])}\n${invocations(205, 41, 12)}`;
  assert.equal(answeredWith(200, before, after), 210);
  assert.equal(answeredWith(504, before, after), 40);
  assert.equal(answeredWith(499, before, after), 0);
  assert.equal(rowsRun(before, after), 320);
});

// Printed by wrk 4.1 (Debian) against smkit serve: one-row CSV, then a body the model refuses (400).
const WRK_OK = "Running 1s test @ http://127.0.0.1:18080/invocations\n  1 threads and 4 connections\n  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency     5.96ms   16.88ms 111.46ms   93.56%\n    Req/Sec     2.89k   818.10     3.93k    77.78%\n  Latency Distribution\n     50%    0.93ms\n     75%    2.84ms\n     90%    6.91ms\n     99%   94.72ms\n  2695 requests in 1.00s, 842.16KB read\nRequests/sec:   2688.75\nTransfer/sec:    840.21KB\n";
const WRK_REFUSED = "Running 1s test @ http://127.0.0.1:18080/invocations\n  1 threads and 2 connections\n  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency   679.38us    1.06ms  11.15ms   87.73%\n    Req/Sec     6.07k     3.19k   11.91k    70.00%\n  Latency Distribution\n     50%  212.00us\n     75%  714.00us\n     90%    2.03ms\n     99%    4.85ms\n  6031 requests in 1.01s, 2.53MB read\n  Non-2xx or 3xx responses: 6031\nRequests/sec:   5999.47\nTransfer/sec:      2.52MB\n";

test('parseWrkOutput: requests/s, p50, p99 and the slowest answer in ms, whatever unit wrk printed them in', () => {
  assert.deepEqual(parseWrkOutput(WRK_OK), { rps: 2688.75, p50: 0.93, p99: 94.72, max: 111.46, errors: 0, requests: 2695 });
  const refused = parseWrkOutput(WRK_REFUSED);
  assert.deepEqual(refused, { rps: 5999.47, p50: 0.212, p99: 4.85, max: 11.15, errors: 6031, requests: 6031 });
  // Socket errors count as errors; a slowest answer in seconds is converted.
  const broken = parseWrkOutput(WRK_OK.replace('111.46ms', '1.20s').replace('  2695 requests', '  Socket errors: connect 0, read 2, write 0, timeout 3\n  2695 requests'));
  assert.equal(broken.max, 1200);
  assert.equal(broken.errors, 5);
});

