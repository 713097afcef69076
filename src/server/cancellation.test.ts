/**
 * Requests whose caller gave up are dropped before their model run: over real HTTP, with dynamic
 * batching on, a request that times out or whose client disconnects while it waits for a batch
 * never reaches the model, and user code sees `ctx.signal` abort.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createApp } from './app.js';
import { InProcessBackend } from './in-process-backend.js';
import { createLogger } from '../logging/logger.js';
import { REPO_ROOT } from '../../test/helpers/serve-process.js';
import { until } from '../../test/helpers/until.js';
import { postAndLeave } from '../../test/helpers/raw-http.js';

const log = createLogger('silent');
const TIMEOUT_S = 1;
/** How long a holding request keeps the model busy: well past the timeout. */
const HOLD_MS = 2500;

describe('callers that gave up cost no model run (in-process, batching on)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-cancel-'));
  const started = path.join(dir, 'started');
  let backend: InProcessBackend;
  let server: Server;
  let url: string;
  /** The same backend behind a 30 s timeout, so that only a disconnect can end a request early. */
  let patientServer: Server;
  let patientUrl: string;

  before(async () => {
    cpSync(path.join(REPO_ROOT, 'test/fixtures/handlers/batch-cancel'), path.join(dir, 'model'), { recursive: true });
    process.env['BATCH_CANCEL_STARTED'] = started;
    const modelDir = path.join(dir, 'model');
    backend = new InProcessBackend(
      {
        modelDir,
        codeDir: path.join(modelDir, 'code'),
        program: 'inference',
        defaultAccept: 'application/json',
        runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 },
        batching: { maxSize: 8, maxDelayMs: 0 },
        log,
      },
      log,
    );
    await backend.loaded;
    assert.equal(backend.state(), 'ready', String(backend.failure()?.message));
    const listen = async (timeoutSeconds: number): Promise<[Server, string]> => {
      const app = createApp({ settings: { maxPayloadMb: 6, timeoutSeconds, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'SINGLE_RECORD' }, backend, log });
      const s = http.createServer(app);
      await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
      return [s, `http://127.0.0.1:${(s.address() as AddressInfo).port}`];
    };
    [server, url] = await listen(TIMEOUT_S);
    [patientServer, patientUrl] = await listen(30);
  });

  after(async () => {
    delete process.env['BATCH_CANCEL_STARTED'];
    for (const s of [server, patientServer]) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (value: number, base = url) =>
    fetch(`${base}/invocations`, { method: 'POST', body: `${value}\n`, headers: { 'Content-Type': 'text/csv' }, signal: AbortSignal.timeout(30_000) });

  /**
   * Sends a request that holds the model for HOLD_MS; resolves once its run has started, with its
   * answer still to come (wrapped: an async function would wait for a promise it returns).
   */
  const holdModel = async (base = url): Promise<{ holding: Promise<Response> }> => {
    for (let attempt = 1; ; attempt++) {
      rmSync(started, { force: true });
      const holding = post(HOLD_MS, base);
      let settled = false;
      void holding.then(() => (settled = true), () => (settled = true));
      // On a starved machine the hold can reach its 1 s timeout while still queued, and is then
      // (rightly) dropped before its run: send it again rather than wait for a run that never comes.
      const ran = await until('the holding request to start its run', () => existsSync(started) || (settled && 'dropped'), { timeoutMs: 30_000, intervalMs: 10 });
      if (ran === true) return { holding };
      const dropped = await holding;
      assert.equal(dropped.status, 504, `the holding request ended before its run with ${dropped.status}`);
      await dropped.body?.cancel();
      if (attempt === 5) assert.fail('the holding request timed out before its run 5 times in a row');
    }
  };

  const modelFreeAgain = () => until('the holding run to end', () => !existsSync(started), { timeoutMs: 30_000, intervalMs: 10 });

  /** Every value the handler's predictBatchFn received so far. */
  const seen = (): Promise<unknown[]> =>
    // The probe has the server's short timeout too: on a loaded machine it can time out, and is asked again.
    until('the values the handler saw', async () => {
      const res = await post(-1);
      if (res.status !== 200) return void (await res.text());
      return ((await res.json()) as { seen: unknown[] }).seen;
    }, { timeoutMs: 30_000 });

  test('a request that times out while it waits for a batch gets 504 and never runs', async () => {
    const { holding } = await holdModel();
    const queued = await post(-7001);
    assert.equal(queued.status, 504);
    assert.equal(((await queued.json()) as { code: string }).code, 'ERR_TIMEOUT');
    assert.equal((await holding).status, 504);
    // Once the holding run ends, the batch -7001 waited for would start: it is dropped instead.
    await modelFreeAgain();
    const values = await seen();
    assert.ok(values.includes(HOLD_MS), JSON.stringify(values));
    assert.ok(!values.includes(-7001), `the timed-out request reached the model: ${JSON.stringify(values)}`);
  });

  test('a request whose client disconnects while it waits for a batch never runs', async () => {
    const { holding } = await holdModel(patientUrl);
    const answered = await postAndLeave(patientUrl, '-7002\n');
    assert.equal(answered.length, 0, 'the request was answered while the model was held');
    assert.equal((await holding).status, 200);
    await modelFreeAgain();
    const values = await seen();
    assert.ok(values.includes(HOLD_MS), JSON.stringify(values));
    assert.ok(!values.includes(-7002), `the abandoned request reached the model: ${JSON.stringify(values)}`);
  });

  test('user code sees ctx.signal abort with ERR_TIMEOUT when its invocation times out', async () => {
    const res = await post(-2);
    assert.equal(res.status, 504);
    assert.match(((await res.json()) as { message: string }).message, /^the invocation took longer than 1 s \(SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS or SAGEMAKER_MODEL_SERVER_TIMEOUT\) in the handler's predictBatchFn \(.*inference\.mjs\): make it answer within it \(a promise that never settles, or a loop that does not end, holds the request until then\), or raise the timeout$/);
    const values = await until('the handler to note the abort', async () => {
      const v = await seen();
      return v.includes('aborted:ERR_TIMEOUT') && v;
    }, { timeoutMs: 30_000 });
    assert.ok(values.includes(-2));
  });
});
