/**
 * What a worker defers past its first healthy /ping (codecs, pino) is there for the first
 * invocations, and no start-up log line is lost or re-timed.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { REPO_ROOT, fetchWithTimeout, makeOptMl, removeDir, startServe, waitForPing } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';

const cleanups: (() => Promise<void> | void)[] = [];
describe('serve cold start', () => {
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  test('invocations sent as soon as /ping turns 200 are answered in every format, and the held start-up lines are written with their own times', async () => {
    const base = makeOptMl(path.join(REPO_ROOT, 'models', 'iris-onnx'));
    const server = await startServe({ SAGEMAKER_BASE_DIR: base, SMKIT_LOG_LEVEL: 'info', SMKIT_LOG_FORMAT: 'json', SMKIT_INFERENCE_MODE: 'auto' });
    cleanups.push(() => server.stop(), () => removeDir(base));
    await waitForPing(server);
    const healthyAt = Date.now();
    const post = (body: string, contentType: string, accept: string) =>
      fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body, headers: { 'Content-Type': contentType, Accept: accept } });
    const [json, csv, npy, fromJson] = await Promise.all([
      post('5.1,3.5,1.4,0.2\n', 'text/csv', 'application/json'),
      post('5.1,3.5,1.4,0.2\n6.2,2.9,4.3,1.3\n', 'text/csv', 'text/csv'),
      post('5.1,3.5,1.4,0.2\n', 'text/csv', 'application/x-npy'),
      post('[[5.1,3.5,1.4,0.2]]', 'application/json', '*/*'),
    ]);
    assert.equal(json.status, 200, await json.clone().text());
    assert.equal(json.headers.get('content-type'), 'application/json');
    const scores = (await json.json()) as number[][];
    assert.equal(scores.length, 1);
    assert.equal(scores[0]!.length, 3);
    assert.equal(csv.status, 200);
    assert.equal(csv.headers.get('content-type'), 'text/csv');
    assert.equal((await csv.text()).trim().split('\n').length, 2);
    assert.equal(npy.status, 200);
    assert.equal(Buffer.from(await npy.arrayBuffer()).subarray(1, 6).toString('latin1'), 'NUMPY');
    assert.equal(fromJson.status, 200);
    assert.deepEqual(await fromJson.json(), scores);

    // The worker's "model ready" line was logged before /ping could say 200; it is written later
    // (once pino loads) but carries the time it was logged at.
    const ready = await until(
      'the worker\'s "model ready" line to be written',
      () =>
        server
          .output()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { msg?: string; time: string; worker?: number; mode?: string })
          .find((l) => l.msg === 'model ready' && l.mode === 'inline'),
      { timeoutMs: 30_000, detail: () => server.output() },
    );
    assert.equal(ready.worker, 0);
    assert.ok(Date.parse(ready.time) <= healthyAt, `logged at ${ready.time}, before /ping turned 200 at ${new Date(healthyAt).toISOString()}`);
  });
});
