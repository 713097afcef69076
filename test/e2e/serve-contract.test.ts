/**
 * Process-level contract tests: a real `smkit serve` with SAGEMAKER_BASE_DIR pointing at a
 * temporary /opt/ml tree holding the bundled iris ONNX model, exercised over HTTP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { zipSync } from 'fflate';
import { SERVE_KEEP_ALIVE_MS } from '../../src/server/request-timeout.js';
import { REPO_ROOT, makeOptMl, removeDir, startServe, waitForPing, fetchWithTimeout, type ServeProcess } from '../helpers/serve-process.js';

const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.0, 2.9, 4.5, 1.4],
  [6.5, 3.0, 5.5, 2.0],
];

/** What ONNX Runtime itself computes for the rows, to compare the server's answers with. */
async function direct(rows: number[][]): Promise<number[][]> {
  const session = await ort.InferenceSession.create(path.join(REPO_ROOT, 'models/iris-onnx/model.onnx'));
  const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, 4]) });
  const data = Array.from(out['probabilities']!.data as Float32Array);
  await session.release();
  return rows.map((_, i) => data.slice(i * 3, i * 3 + 3));
}

/** A version-1 NPY file, written here by hand (numpy's layout: the preamble padded to 64 bytes). */
function npy(descr: string, shape: number[], data: Buffer): Buffer {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const preamble = Buffer.alloc(10);
  preamble.write('\x93NUMPY', 0, 'latin1');
  preamble[6] = 1;
  preamble.writeUInt16LE(header.length, 8);
  return Buffer.concat([preamble, Buffer.from(header, 'latin1'), data]);
}

const npyFloat32 = (rows: number[][]) => npy('<f4', [rows.length, rows[0]!.length], Buffer.from(Float32Array.from(rows.flat()).buffer));

function assertClose(actual: number[][], expected: number[][], tol = 1e-6): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - expected[i]![j]!) <= tol, `[${i}][${j}] ${v} vs ${expected[i]![j]}`)));
}

describe('smkit serve: the SageMaker container contract', () => {
  let server: ServeProcess;
  let base: string;
  let expected: number[][];

  before(async () => {
    base = makeOptMl(path.join(REPO_ROOT, 'models/iris-onnx'));
    server = await startServe({ SAGEMAKER_BASE_DIR: base, SAGEMAKER_MAX_PAYLOAD_IN_MB: '0.05', SAGEMAKER_MODEL_SERVER_WORKERS: '2' });
    // The first 200 comes once both workers have their model (a worker's /ping says 503 until then).
    await waitForPing(server);
    expected = await direct(ROWS);
  });
  after(async () => {
    await server.stop();
    removeDir(base);
  });

  const post = (body: string | Buffer, headers: Record<string, string>) => fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body, headers });

  test('GET /ping answers 200 with the runtime and backend in use', async () => {
    const res = await fetchWithTimeout(`${server.url}/ping`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { status: string; runtimes: { name: string; backend: string }[] };
    assert.equal(body.status, 'Healthy');
    assert.deepEqual(body.runtimes, [{ name: 'onnx', backend: 'cpu' }]);
  });

  test("the workers' HTTP server has smkit serve's timeouts: an answer that keeps its connection announces Keep-Alive: timeout=65", async () => {
    // Node announces its server's keepAliveTimeout (setServeTimeouts sets it with the headers and
    // request timeouts; Node's own is 5 s), but not on an answer that closes its connection, as the
    // two workers' rebalancing answers a few of them: the next answers keep theirs. Ten tries are
    // enough: a worker closes only the connections it holds over its share, one answer for each
    // (and a new connection cancels what is left), and only a few connections are open here, this
    // file's requests so far having been sent one at a time.
    let kept: Response | undefined;
    let lastConnection: string | null = null;
    for (let i = 0; i < 10 && kept === undefined; i++) {
      const res = await fetchWithTimeout(`${server.url}/ping`);
      await res.arrayBuffer();
      lastConnection = res.headers.get('connection');
      if (lastConnection !== 'close') kept = res;
    }
    assert.ok(kept, `an answer that keeps its connection (the last of 10 had Connection: ${lastConnection})`);
    assert.equal(kept.headers.get('keep-alive'), `timeout=${SERVE_KEEP_ALIVE_MS / 1000}`);
  });

  test('CSV in, JSON out by default: the same numbers ONNX Runtime gives', async () => {
    const res = await post(ROWS.map((r) => r.join(',')).join('\n') + '\n', { 'Content-Type': 'text/csv' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assertClose((await res.json()) as number[][], expected);
  });

  test('Content-Type parameters are tolerated and */* means the default accept', async () => {
    const res = await post(JSON.stringify(ROWS), { 'Content-Type': 'application/json; charset=utf-8', Accept: '*/*' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assertClose((await res.json()) as number[][], expected);
  });

  test('Accept picks CSV; q-values are honoured', async () => {
    const csv = await post(JSON.stringify(ROWS), { 'Content-Type': 'application/json', Accept: 'text/csv' });
    assert.equal(csv.status, 200);
    assert.equal(csv.headers.get('content-type'), 'text/csv');
    const lines = (await csv.text()).trim().split('\n').map((l) => l.split(',').map(Number));
    assertClose(lines, expected, 1e-5);
    const q = await post(JSON.stringify(ROWS), { 'Content-Type': 'application/json', Accept: 'text/csv;q=0.5, application/json' });
    assert.equal(q.headers.get('content-type'), 'application/json');
  });

  test('NPY out starts with the numpy magic', async () => {
    const res = await post(JSON.stringify(ROWS), { 'Content-Type': 'application/json', Accept: 'application/x-npy' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-npy');
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(bytes.subarray(0, 6).toString('latin1'), '\x93NUMPY');
    assert.match(bytes.toString('latin1', 10, 80), /'shape': \(3, 3\)/);
  });

  test('TF Serving instances get predictions; v2 requests get v2 responses', async () => {
    const tfs = await post(JSON.stringify({ instances: ROWS }), { 'Content-Type': 'application/json' });
    assertClose(((await tfs.json()) as { predictions: number[][] }).predictions, expected);
    const v2 = await post(JSON.stringify({ id: 'r1', inputs: [{ name: 'input', shape: [3, 4], datatype: 'FP32', data: ROWS.flat() }] }), {
      'Content-Type': 'application/json',
    });
    assert.equal(v2.status, 200);
    const body = (await v2.json()) as { id?: string; outputs: { name: string; shape: number[]; datatype: string; data: number[] }[] };
    assert.equal(body.outputs[0]!.name, 'probabilities');
    assert.deepEqual(body.outputs[0]!.shape, [3, 3]);
    assert.equal(body.outputs[0]!.datatype, 'FP32');
    assertClose([body.outputs[0]!.data], [expected.flat()]);
  });

  test('errors carry a stable code, the right status and a message saying what to fix', async () => {
    const cases: [string | Buffer, Record<string, string>, number, string, RegExp][] = [
      ['{"instances": [1, 2', { 'Content-Type': 'application/json' }, 400, 'ERR_JSON_PARSE', /./],
      ['1,2,3,4\n1,2\n', { 'Content-Type': 'text/csv' }, 400, 'ERR_CSV_PARSE', /line 2/],
      ['1,2,x,4\n', { 'Content-Type': 'text/csv' }, 400, 'ERR_CSV_PARSE', /line 1/],
      ['hello', { 'Content-Type': 'application/x-unknown' }, 415, 'ERR_UNSUPPORTED_MEDIA_TYPE', /text\/csv/],
      ['1,2,3,4\n', { 'Content-Type': 'text/csv', Accept: 'image/png' }, 406, 'ERR_NOT_ACCEPTABLE', /image\/png/],
      ['1,2,3\n', { 'Content-Type': 'text/csv' }, 400, 'ERR_INPUT_MISMATCH', /input "input" has shape \[1, 3\]/],
      [Buffer.alloc(60_000, 0x31), { 'Content-Type': 'text/csv' }, 413, 'ERR_PAYLOAD_TOO_LARGE', /SAGEMAKER_MAX_PAYLOAD_IN_MB/],
    ];
    for (const [body, headers, status, code, message] of cases) {
      const res = await post(body, headers);
      assert.equal(res.status, status, `${code}: status`);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      const json = (await res.json()) as { code: string; message: string; stack?: string };
      assert.equal(json.code, code);
      assert.match(json.message, message);
      assert.equal(json.stack, undefined, 'no stack traces to clients without SMKIT_DEBUG');
    }
    // ...and the server keeps serving.
    const ok = await post('5.1,3.5,1.4,0.2', { 'Content-Type': 'text/csv' });
    assert.equal(ok.status, 200);
  });

  test('NPY and NPZ bodies in, JSON lines in and out', async () => {
    const fromNpy = await post(npyFloat32(ROWS), { 'Content-Type': 'application/x-npy' });
    assert.equal(fromNpy.status, 200);
    assertClose((await fromNpy.json()) as number[][], expected);
    const npz = await post(Buffer.from(zipSync({ 'input.npy': new Uint8Array(npyFloat32(ROWS)) })), { 'Content-Type': 'application/x-npz' });
    assert.equal(npz.status, 200, 'NPZ members are named inputs');
    assertClose((await npz.json()) as number[][], expected);
    const jl = await post(ROWS.map((r) => JSON.stringify(r)).join('\n') + '\n', { 'Content-Type': 'application/jsonlines', Accept: 'application/jsonlines' });
    assert.equal(jl.status, 200);
    assert.equal(jl.headers.get('content-type'), 'application/jsonlines');
    const lines = (await jl.text()).trim().split('\n').map((l) => JSON.parse(l) as number[]);
    assertClose(lines, expected);
    const refused = await post(npy('|O', [1], Buffer.from([0x80, 0x04, 0x95])), { 'Content-Type': 'application/x-npy' });
    assert.equal(refused.status, 400);
    assert.equal(((await refused.json()) as { code: string }).code, 'ERR_NPY_PICKLE', 'pickled arrays are never unpickled');
  });

  test('GET /metrics counts every worker\'s invocations (Prometheus text format)', async () => {
    const count = async (status: string): Promise<number> => {
      const text = await (await fetchWithTimeout(`${server.url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`smkit_invocations_total{model="model",status="${status}"}`));
      return line ? Number(line.split(' ').pop()) : 0;
    };
    const [ok0, bad0] = [await count('200'), await count('400')];
    for (let i = 0; i < 4; i++) {
      // A new connection each time, so both workers answer some.
      const res = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: '5.1,3.5,1.4,0.2', headers: { 'Content-Type': 'text/csv', Connection: 'close' } });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    const bad = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: '1,x', headers: { 'Content-Type': 'text/csv', Connection: 'close' } });
    assert.equal(bad.status, 400);
    await bad.arrayBuffer();
    assert.equal((await count('200')) - ok0, 4);
    assert.equal((await count('400')) - bad0, 1);
    const text = await (await fetchWithTimeout(`${server.url}/metrics`)).text();
    assert.match(text, /smkit_invocation_seconds_bucket\{le="0\.1",model="model"\}/);
    assert.match(text, /smkit_process_resident_memory_bytes/);
  });

  test('GET /execution-parameters reports the batch settings', async () => {
    const res = await fetchWithTimeout(`${server.url}/execution-parameters`);
    assert.deepEqual(await res.json(), { MaxConcurrentTransforms: 2, BatchStrategy: 'MULTI_RECORD', MaxPayloadInMB: 0.05 });
  });

  test('unknown routes are 404 and wrong methods 405, as JSON', async () => {
    const nf = await fetchWithTimeout(`${server.url}/predict`);
    assert.equal(nf.status, 404);
    assert.equal(((await nf.json()) as { code: string }).code, 'ERR_NOT_FOUND');
    const mme = await fetchWithTimeout(`${server.url}/models`);
    assert.equal(mme.status, 404);
    assert.equal(((await mme.json()) as { code: string }).code, 'ERR_MULTI_MODEL_DISABLED');
    const na = await fetchWithTimeout(`${server.url}/invocations`);
    assert.equal(na.status, 405);
    assert.equal(na.headers.get('allow'), 'POST');
    assert.equal(((await na.json()) as { code: string }).code, 'ERR_METHOD_NOT_ALLOWED');
  });
});

describe('smkit serve: the iris pipeline file (README worked example)', () => {
  let server: ServeProcess;
  before(async () => {
    server = await startServe({}, ['--model-dir', path.join(REPO_ROOT, 'models/iris-pipeline')]);
    await waitForPing(server);
  });
  after(() => server.stop());

  test('scaler → classifier → softmax → top-2 labels agrees with the single model', async () => {
    const res = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: ROWS.map((r) => r.join(',')).join('\n'), headers: { 'Content-Type': 'text/csv' } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { label: string; score: number }[][];
    const probs = await direct(ROWS);
    const names = ['setosa', 'versicolor', 'virginica'];
    body.forEach((row, i) => {
      assert.equal(row.length, 2);
      const best = probs[i]!.indexOf(Math.max(...probs[i]!));
      assert.equal(row[0]!.label, names[best]);
      assert.ok(Math.abs(row[0]!.score - probs[i]![best]!) < 1e-4, `${row[0]!.score} vs ${probs[i]![best]}`);
      assert.ok(row[0]!.score >= row[1]!.score);
    });
  });

  test('labels cannot be sent as NPY: 406 with what to ask for instead', async () => {
    const res = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: '5.1,3.5,1.4,0.2', headers: { 'Content-Type': 'text/csv', Accept: 'application/x-npy' } });
    assert.equal(res.status, 406);
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, 'ERR_NOT_ACCEPTABLE');
    assert.match(body.message, /application\/json/);
  });
});
