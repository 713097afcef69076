/** Multi-model endpoints (SAGEMAKER_MULTI_MODEL=true): the /models API of https://docs.aws.amazon.com/sagemaker/latest/dg/mms-container-apis.html, over HTTP. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { REPO_ROOT, makeOptMl, removeDir, startServe, waitForPing, fetchWithTimeout, type ServeProcess } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';

describe('multi-model endpoint', () => {
  let server: ServeProcess;
  let base: string;
  const modelPath = (name: string) => path.join(base, 'models', name, 'model');

  before(async () => {
    base = makeOptMl();
    for (const [name, source] of [
      ['iris', 'models/iris-onnx'],
      ['iris-top2', 'models/iris-pipeline'],
    ] as const) {
      cpSync(path.join(REPO_ROOT, source), modelPath(name), { recursive: true });
    }
    cpSync(path.join(REPO_ROOT, 'test/fixtures/handlers/blocking'), modelPath('slow'), { recursive: true });
    mkdirSync(modelPath('broken'), { recursive: true });
    writeFileSync(path.join(modelPath('broken'), 'model.onnx'), 'not a model');
    // What an archive packed with its folder (tar -czf m.tar.gz mymodel) extracts to.
    cpSync(path.join(REPO_ROOT, 'models/iris-onnx'), path.join(modelPath('nested'), 'mymodel'), { recursive: true });
    // Handler models that fill their thread's JavaScript heap: while loading, or on a request that says so.
    const fill = 'const held = []; for (;;) held.push(new Array(1 << 20).fill(1.5));';
    for (const [name, source] of [
      ['hog', `export function transformFn(model, body) { if (body.toString() === 'fill') { ${fill} } return 'ok'; }`],
      ['hog-load', `export function modelFn() { ${fill} }\nexport function transformFn() { return 'ok'; }`],
      // Kills its worker process when asked, and fails to load once it has (in the replacement worker).
      [
        'flaky',
        `import { existsSync, writeFileSync } from 'node:fs';
         const died = new URL('../died', import.meta.url);
         export function modelFn() { if (existsSync(died)) throw new Error('loaded after its worker died'); return {}; }
         export function transformFn(model, body) { if (body.toString() === 'die') { writeFileSync(died, ''); process.kill(process.pid, 'SIGKILL'); } return 'ok'; }`,
      ],
      // Ends its inference thread when asked, and fails to load once it has (in the new thread).
      [
        'flaky-thread',
        `import { existsSync, writeFileSync } from 'node:fs';
         const died = new URL('../died', import.meta.url);
         export function modelFn() { if (existsSync(died)) throw new Error('loaded after its thread ended'); return {}; }
         export function transformFn(model, body) { if (body.toString() === 'die') { writeFileSync(died, ''); process.exit(3); } return 'ok'; }`,
      ],
      // Says that its load started, then fails it once told to.
      [
        'late-fail',
        `import { existsSync, writeFileSync } from 'node:fs';
         export async function modelFn() {
           writeFileSync(new URL('../loading', import.meta.url), '');
           while (!existsSync(new URL('../fail', import.meta.url))) await new Promise((r) => setTimeout(r, 20));
           throw new Error('told to fail');
         }
         export function transformFn() { return 'ok'; }`,
      ],
    ] as const) {
      mkdirSync(path.join(modelPath(name), 'code'), { recursive: true });
      writeFileSync(path.join(modelPath(name), 'code', 'inference.mjs'), source);
    }
    // Two workers: a load must reach both, whichever connection it arrived on.
    server = await startServe({ SAGEMAKER_BASE_DIR: base, SAGEMAKER_MULTI_MODEL: 'true', SAGEMAKER_MODEL_SERVER_WORKERS: '2', SMKIT_INFERENCE_THREAD_HEAP_MB: '32' });
    await waitForPing(server);
  });
  after(async () => {
    await server.stop();
    removeDir(base);
  });

  const load = (name: string, url = modelPath(name)) =>
    fetchWithTimeout(`${server.url}/models`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model_name: name, url }), signal: AbortSignal.timeout(60_000) });
  const invoke = (name: string) =>
    fetchWithTimeout(`${server.url}/models/${name}/invoke`, {
      method: 'POST',
      body: '5.1,3.5,1.4,0.2',
      headers: { 'Content-Type': 'text/csv', 'X-Amzn-SageMaker-Target-Model': `${name}.tar.gz`, Connection: 'close' },
      signal: AbortSignal.timeout(30_000),
    });

  test('load two models; every worker answers for both', async () => {
    const a = await load('iris');
    assert.equal(a.status, 200);
    assert.deepEqual(await a.json(), { status: 'Model "iris" registered' });
    assert.equal((await load('iris-top2')).status, 200);
    // New connections each time, so both worker processes are exercised.
    for (let i = 0; i < 8; i++) {
      const r1 = await invoke('iris');
      assert.equal(r1.status, 200);
      assert.equal(((await r1.json()) as number[][])[0]!.length, 3);
      const r2 = await invoke('iris-top2');
      assert.equal(r2.status, 200);
      assert.equal(((await r2.json()) as { label: string }[][])[0]![0]!.label, 'setosa');
    }
  });

  test('/metrics counts invocations per model; those of a model not loaded under model="", not under the name the client sent', async () => {
    for (let i = 0; i < 2; i++) assert.equal((await invoke('never-loaded')).status, 404);
    // The single-model route is a wrong route here, as any other 404: no invocation of any model.
    const wrongRoute = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: '[[1,2,3,4]]', headers: { 'Content-Type': 'application/json' } });
    assert.equal(wrongRoute.status, 404);
    assert.equal(((await wrongRoute.json()) as { code: string }).code, 'ERR_MULTI_MODEL_DISABLED');
    const text = await (await fetchWithTimeout(`${server.url}/metrics`)).text();
    assert.match(text, /smkit_invocations_total\{model="iris",status="200"\} 8/);
    assert.match(text, /smkit_invocations_total\{model="iris-top2",status="200"\} 8/);
    assert.match(text, /smkit_invocations_total\{model="",status="404"\} 2/);
    assert.doesNotMatch(text, /never-loaded/);
  });

  test('list, describe, 409 on a second load', async () => {
    const list = (await (await fetchWithTimeout(`${server.url}/models`)).json()) as { models: { modelName: string; modelUrl: string }[] };
    assert.deepEqual(
      list.models.map((m) => m.modelName),
      ['iris', 'iris-top2'],
    );
    const page = (await (await fetchWithTimeout(`${server.url}/models?limit=1`)).json()) as { models: unknown[]; nextPageToken?: string };
    assert.equal(page.models.length, 1);
    assert.equal(page.nextPageToken, 'iris', 'the last model of the page');
    const rest = (await (await fetchWithTimeout(`${server.url}/models?limit=1&next_page_token=${page.nextPageToken}`)).json()) as { models: { modelName: string }[]; nextPageToken?: string };
    assert.deepEqual([rest.models.map((m) => m.modelName), rest.nextPageToken], [['iris-top2'], undefined]);
    const one = await fetchWithTimeout(`${server.url}/models/iris`);
    assert.deepEqual(await one.json(), { modelName: 'iris', modelUrl: modelPath('iris') });
    const again = await load('iris');
    assert.equal(again.status, 409);
    assert.equal(((await again.json()) as { code: string }).code, 'ERR_MODEL_ALREADY_LOADED');
  });

  test('a model that fails to load is refused and not listed; bad requests are 400', async () => {
    const broken = await load('broken');
    assert.equal(broken.status, 500);
    assert.match(((await broken.json()) as { message: string }).message, /failed to load/);
    assert.equal((await fetchWithTimeout(`${server.url}/models/broken`)).status, 404);
    assert.equal((await load('nope', '/does/not/exist')).status, 400);
    assert.equal((await load('../evil', modelPath('iris'))).status, 400);
    // A model one folder down is named, with how to pack the archive.
    const nested = await load('nested');
    assert.equal(nested.status, 500);
    assert.match(
      ((await nested.json()) as { message: string }).message,
      /no model found in .*: expected model\.onnx .*\. Its only entry is the folder mymodel\/, which holds a model \(mymodel\/model\.onnx\): the model must be at the top: move the folder's contents up, or point at the folder itself .* pack its contents instead: tar -czf model\.tar\.gz -C mymodel \.\)$/,
    );
  });

  test('an invocation that waits for its model to load gets 404 ERR_MODEL_NOT_LOADED when the load fails (the model is not loaded), not 503', async () => {
    const loading = load('late-fail');
    await until('the load to start', () => existsSync(path.join(modelPath('late-fail'), 'loading')), { timeoutMs: 20_000 });
    const waiting = fetchWithTimeout(`${server.url}/models/late-fail/invoke`, { method: 'POST', body: 'x', headers: { 'Content-Type': 'text/plain' }, signal: AbortSignal.timeout(30_000) });
    const pending = async () => Number(/^smkit_pending_invocations (\d+)$/m.exec(await (await fetchWithTimeout(`${server.url}/metrics`)).text())?.[1] ?? 0);
    await until('the invocation to wait for the load', async () => (await pending()) >= 1, { timeoutMs: 20_000 });
    writeFileSync(path.join(modelPath('late-fail'), 'fail'), '');
    assert.equal((await loading).status, 500);
    const refused = await waiting;
    assert.equal(refused.status, 404);
    const body = (await refused.json()) as { code: string; message: string };
    assert.equal(body.code, 'ERR_MODEL_NOT_LOADED');
    assert.match(body.message, /^the model failed to load while this request waited for it, so it is not loaded \(.*\); POST \/models again once it is fixed$/);
  });

  test('unload: 200, then 404 for get, invoke and a second delete', async () => {
    const del = await fetchWithTimeout(`${server.url}/models/iris`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.equal((await fetchWithTimeout(`${server.url}/models/iris`)).status, 404);
    for (let i = 0; i < 4; i++) {
      const r = await invoke('iris');
      assert.equal(r.status, 404);
      assert.equal(((await r.json()) as { code: string }).code, 'ERR_MODEL_NOT_LOADED');
    }
    assert.equal((await fetchWithTimeout(`${server.url}/models/iris`, { method: 'DELETE' })).status, 404);
    assert.equal((await invoke('iris-top2')).status, 200, 'the other model is still served');
    // The unloaded model's series go with it (kept, they grew with every model SageMaker ever loaded); the other's stay.
    const text = await (await fetchWithTimeout(`${server.url}/metrics`)).text();
    assert.doesNotMatch(text, /model="iris"/);
    assert.match(text, /smkit_invocations_total\{model="iris-top2",status="200"\} 9/);
  });

  test('unloading a model while it serves: the request in flight finishes, or fails at once after the grace period', async () => {
    const started = () => server.output().split('async wait started').length - 1;
    const invokeSlow = (body: string) =>
      fetchWithTimeout(`${server.url}/models/slow/invoke`, { method: 'POST', body, headers: { 'Content-Type': 'text/plain' }, signal: AbortSignal.timeout(40_000) });
    const unload = () => fetchWithTimeout(`${server.url}/models/slow`, { method: 'DELETE', signal: AbortSignal.timeout(40_000) });
    const waitForStart = async (count: number) => {
      await until('the slow request to reach the handler', () => started() >= count, { timeoutMs: 20_000 });
      assert.equal(started(), count, 'the slow request reached the handler');
    };
    assert.equal((await load('slow')).status, 200);
    const before = started();
    const short = invokeSlow('async:1500');
    await waitForStart(before + 1);
    assert.equal((await unload()).status, 200);
    const finished = await short;
    assert.equal(finished.status, 200);
    assert.equal(await finished.text(), 'waited', 'the in-flight request finished during the unload');
    // Longer than the unload grace period (5 s), far shorter than the invocation timeout (60 s):
    // the request fails as soon as the grace is over; the fetch timeout catches a hang.
    assert.equal((await load('slow')).status, 200);
    const long = invokeSlow('async:30000');
    await waitForStart(before + 2);
    assert.equal((await unload()).status, 200);
    const cut = await long;
    assert.equal(cut.status, 404);
    assert.equal(((await cut.json()) as { code: string }).code, 'ERR_MODEL_NOT_LOADED');
  });

  test("a model whose inference thread runs out of its JavaScript heap (SMKIT_INFERENCE_THREAD_HEAP_MB) is a 507, loading or invoked; an invoked one is unloaded from every worker and loads again, and the other models are served throughout", async () => {
    const loading = await load('hog-load');
    assert.equal(loading.status, 507);
    const refused = (await loading.json()) as { code: string; message: string };
    assert.equal(refused.code, 'ERR_INSUFFICIENT_RESOURCES');
    assert.match(refused.message, /ran out of memory \(its JavaScript heap\) while loading the model; raise SMKIT_INFERENCE_THREAD_HEAP_MB \(32 MB now\)/);
    assert.equal((await fetchWithTimeout(`${server.url}/models/hog-load`)).status, 404);

    assert.equal((await load('hog')).status, 200);
    const send = (body: string) => fetchWithTimeout(`${server.url}/models/hog/invoke`, { method: 'POST', body, headers: { 'Content-Type': 'text/plain', Connection: 'close' }, signal: AbortSignal.timeout(30_000) });
    assert.equal(await (await send('small')).text(), 'ok');
    const filled = await send('fill');
    assert.equal(filled.status, 507);
    const answer = (await filled.json()) as { code: string; message: string };
    assert.equal(answer.code, 'ERR_INSUFFICIENT_RESOURCES');
    assert.match(answer.message, /ran out of memory while this request ran \(its JavaScript heap, limited to 32 MB by SMKIT_INFERENCE_THREAD_HEAP_MB: .*\); the model was unloaded\. Send smaller requests, or raise SMKIT_INFERENCE_THREAD_HEAP_MB/);
    // The worker that answered asked the primary to unload it from every worker, which the primary logs once done.
    const unloaded = (line: string) => line.includes('"model unloaded"') && line.includes('"model":"hog"');
    await until('the primary to unload hog from every worker', () => server.output().split('\n').some(unloaded), { timeoutMs: 20_000 });
    for (let i = 0; i < 4; i++) {
      const gone = await send('small');
      assert.equal(gone.status, 404);
      assert.equal(((await gone.json()) as { code: string }).code, 'ERR_MODEL_NOT_LOADED');
    }
    assert.equal((await invoke('iris-top2')).status, 200, 'the other models are still served');
    assert.equal((await load('hog')).status, 200, 'loaded anew, not a 409');
    for (let i = 0; i < 4; i++) assert.equal(await (await send('small')).text(), 'ok');
  });

  test('a worker that replaces one that died and cannot load a model again has the model unloaded from every worker, so it loads anew (not a 409 for a model one worker answers 404 for)', async () => {
    assert.equal((await load('flaky')).status, 200);
    const send = (body: string) => fetchWithTimeout(`${server.url}/models/flaky/invoke`, { method: 'POST', body, headers: { 'Content-Type': 'text/plain', Connection: 'close' }, signal: AbortSignal.timeout(30_000) });
    // The connection dies with the worker: no answer.
    await send('die').then((r) => r.body?.cancel(), () => undefined);
    const unloaded = (line: string) => line.includes('"model unloaded"') && line.includes('"model":"flaky"');
    // This waits for the primary to start a new worker process, which loads its models: that took
    // more than 20 s once on a loaded 2-core machine (load average 45-60). The bound only ends a hang.
    await until('the primary to unload flaky from every worker', () => server.output().split('\n').some(unloaded), { timeoutMs: 120_000 });
    rmSync(path.join(modelPath('flaky'), 'died'));
    assert.equal((await load('flaky')).status, 200, 'loaded anew, not a 409');
    for (let i = 0; i < 4; i++) assert.equal(await (await send('small')).text(), 'ok', 'both workers hold it');
  });

  test('a model whose inference thread ends while serving and cannot load it again is unloaded from every worker, so it loads anew (not 404 to invocations and 409 to a load, for good)', async () => {
    assert.equal((await load('flaky-thread')).status, 200);
    const send = (body: string) => fetchWithTimeout(`${server.url}/models/flaky-thread/invoke`, { method: 'POST', body, headers: { 'Content-Type': 'text/plain', Connection: 'close' }, signal: AbortSignal.timeout(30_000) });
    const died = await send('die');
    assert.equal(died.status, 500);
    assert.equal(((await died.json()) as { code: string }).code, 'ERR_WORKER_CRASHED');
    const unloaded = (line: string) => line.includes('"model unloaded"') && line.includes('"model":"flaky-thread"');
    await until('the primary to unload flaky-thread from every worker', () => server.output().split('\n').some(unloaded), { timeoutMs: 120_000 });
    for (let i = 0; i < 4; i++) {
      const gone = await send('small');
      assert.equal(gone.status, 404);
      assert.equal(((await gone.json()) as { code: string }).code, 'ERR_MODEL_NOT_LOADED');
    }
    rmSync(path.join(modelPath('flaky-thread'), 'died'));
    assert.equal((await load('flaky-thread')).status, 200, 'loaded anew, not a 409');
    for (let i = 0; i < 4; i++) assert.equal(await (await send('small')).text(), 'ok', 'both workers hold it');
  });

  test('a query string does not change the multi-model routes', async () => {
    const r = await fetchWithTimeout(`${server.url}/models/iris-top2/invoke?trace=1`, { method: 'POST', body: '5.1,3.5,1.4,0.2', headers: { 'Content-Type': 'text/csv' } });
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as { label: string }[][])[0]![0]!.label, 'setosa');
    const one = await fetchWithTimeout(`${server.url}/models/iris-top2?x=1`);
    assert.equal(one.status, 200);
    assert.equal(((await one.json()) as { modelName: string }).modelName, 'iris-top2');
  });

  test('/invocations is not the multi-model route', async () => {
    const r = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: '1,2,3,4', headers: { 'Content-Type': 'text/csv' } });
    assert.equal(r.status, 404);
    assert.equal(((await r.json()) as { code: string }).code, 'ERR_MULTI_MODEL_DISABLED');
  });

  test('/metrics counts each model unloaded from every worker once (two workers here): by DELETE, for a thread out of memory, for a failed reload; not a failed load undone', async () => {
    // iris (DELETE), slow twice (DELETE while it served), hog (its thread ran out of memory), flaky
    // (its replacement worker could not load it again), flaky-thread (its new thread could not load
    // it again); broken, hog-load and late-fail failed to load.
    const text = await (await fetchWithTimeout(`${server.url}/metrics`)).text();
    assert.match(text, /# TYPE smkit_model_unloads_total counter\nsmkit_model_unloads_total 6\n/);
  });
});

describe('multi-model endpoint short of memory', () => {
  let server: ServeProcess;
  let base: string;

  before(async () => {
    base = makeOptMl();
    cpSync(path.join(REPO_ROOT, 'models/iris-onnx'), path.join(base, 'models', 'iris', 'model'), { recursive: true });
    // More free memory than any machine has: every load is refused, as on one that is full.
    server = await startServe({ SAGEMAKER_BASE_DIR: base, SAGEMAKER_MULTI_MODEL: 'true', SAGEMAKER_MODEL_SERVER_WORKERS: '1', SMKIT_MME_MIN_FREE_MB: '1048576' });
    await waitForPing(server);
  });
  after(async () => {
    await server.stop();
    removeDir(base);
  });

  test('a load below SMKIT_MME_MIN_FREE_MB is refused with 507 (SageMaker then unloads a model and retries), and nothing is listed', async () => {
    const res = await fetchWithTimeout(`${server.url}/models`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model_name: 'iris', url: path.join(base, 'models', 'iris', 'model') }),
    });
    assert.equal(res.status, 507);
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, 'ERR_INSUFFICIENT_RESOURCES');
    assert.match(body.message, /SMKIT_MME_MIN_FREE_MB=1048576/);
    assert.deepEqual(await (await fetchWithTimeout(`${server.url}/models`)).json(), { models: [] });
  });
});

describe('multi-model endpoint loading models in the worker process (SMKIT_INFERENCE_MODE=inline)', () => {
  let server: ServeProcess;
  let base: string;
  const modelPath = (name: string) => path.join(base, 'models', name, 'model');

  before(async () => {
    base = makeOptMl();
    for (const name of ['iris', 'iris-b', 'iris-c', 'iris-d']) cpSync(path.join(REPO_ROOT, 'models/iris-onnx'), modelPath(name), { recursive: true });
    mkdirSync(path.join(modelPath('hog-load'), 'code'), { recursive: true });
    writeFileSync(path.join(modelPath('hog-load'), 'code', 'inference.mjs'), 'export function modelFn() { const held = []; for (;;) held.push(new Array(1 << 22).fill(1.5)); }\nexport function transformFn() { return "ok"; }');
    mkdirSync(path.join(modelPath('quitter'), 'code'), { recursive: true });
    writeFileSync(path.join(modelPath('quitter'), 'code', 'inference.mjs'), 'export function modelFn() { process.exit(3); }');
    // Two loads pipelined on one connection: the second says it is loading, then the first ends the process.
    const waiting = JSON.stringify(path.join(base, 'second-loading'));
    mkdirSync(path.join(modelPath('second'), 'code'), { recursive: true });
    writeFileSync(path.join(modelPath('second'), 'code', 'inference.mjs'), `import { writeFileSync } from 'node:fs';\nexport function modelFn() { writeFileSync(${waiting}, ''); return new Promise(() => {}); }`);
    // Ends the process once told to.
    mkdirSync(path.join(modelPath('exit-on-go'), 'code'), { recursive: true });
    writeFileSync(
      path.join(modelPath('exit-on-go'), 'code', 'inference.mjs'),
      `import { existsSync } from 'node:fs';\nexport async function modelFn() { while (!existsSync(${JSON.stringify(path.join(base, 'go'))})) await new Promise((r) => setTimeout(r, 20)); process.exit(3); }`,
    );
    mkdirSync(path.join(modelPath('first'), 'code'), { recursive: true });
    writeFileSync(
      path.join(modelPath('first'), 'code', 'inference.mjs'),
      `import { existsSync } from 'node:fs';\nexport async function modelFn() { while (!existsSync(${waiting})) await new Promise((r) => setTimeout(r, 20)); process.exit(3); }`,
    );
    mkdirSync(path.join(modelPath('stuck'), 'code'), { recursive: true });
    // Says that its load started, then never finishes it.
    writeFileSync(
      path.join(modelPath('stuck'), 'code', 'inference.mjs'),
      `import { writeFileSync } from 'node:fs';\nexport function modelFn() { writeFileSync(${JSON.stringify(path.join(base, 'loading'))}, ''); return new Promise(() => {}); }`,
    );
    // A small heap, so that the load fills it at once. No grace period: the last test stops the
    // server during a load, and the worker process exits (0) with the load still running at once.
    server = await startServe({
      SAGEMAKER_BASE_DIR: base,
      SAGEMAKER_MULTI_MODEL: 'true',
      SAGEMAKER_MODEL_SERVER_WORKERS: '1',
      SMKIT_INFERENCE_MODE: 'inline',
      NODE_OPTIONS: '--max-old-space-size=64',
      SMKIT_SHUTDOWN_GRACE_SECONDS: '0',
    });
    await waitForPing(server);
  });
  after(async () => {
    await server.stop();
    removeDir(base);
  });

  test('a load that runs the worker process out of JavaScript heap (Node aborts it) fails with the 507, answered though the one worker that took it died, and is undone: the replacement worker does not load it again (and die), and other models load and serve', async () => {
    const load = (name: string) =>
      fetchWithTimeout(`${server.url}/models`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model_name: name, url: modelPath(name) }), signal: AbortSignal.timeout(60_000) });
    // The one worker took the request and died with it: the primary, which holds the connection too, answers.
    const refused = await load('hog-load');
    assert.equal(refused.status, 507);
    assert.equal(refused.headers.get('connection'), 'close');
    const body = (await refused.json()) as { code: string; message: string };
    assert.equal(body.code, 'ERR_INSUFFICIENT_RESOURCES');
    assert.match(body.message, /was ended by SIGABRT while loading model "hog-load"; the load is undone\. Node ends a process that runs out of JavaScript heap so/);
    assert.match(server.output(), /"code":"ERR_INSUFFICIENT_RESOURCES".*was ended by SIGABRT while loading model \\"hog-load\\"; the load is undone\. Node ends a process that runs out of JavaScript heap so/);
    await waitForPing(server);
    assert.equal((await load('iris')).status, 200);
    const listed = (await (await fetchWithTimeout(`${server.url}/models`)).json()) as { models: { modelName: string }[] };
    assert.deepEqual(listed.models.map((m) => m.modelName), ['iris']);
    const r = await fetchWithTimeout(`${server.url}/models/iris/invoke`, { method: 'POST', body: '5.1,3.5,1.4,0.2', headers: { 'Content-Type': 'text/csv' } });
    assert.equal(r.status, 200);
    assert.equal(server.output().split('worker process died; replacing it').length - 1, 1, 'one worker died, not each replacement');
  });

  test('a load whose handler calls process.exit gets 500 ERR_MODEL_LOAD from the primary; a load that succeeds leaves its kept-alive connection to the worker', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const send = (method: string, route: string, body?: string) =>
      new Promise<{ status: number; body: string; reused: boolean; connection: string | undefined }>((resolve, reject) => {
        const req = http.request(`${server.url}${route}`, { method, agent, headers: body ? { 'Content-Type': 'application/json' } : {} }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode!, body: text, reused: req.reusedSocket, connection: res.headers.connection }));
        });
        req.on('error', reject);
        req.end(body);
      });
    try {
      await waitForPing(server);
      const quit = await send('POST', '/models', JSON.stringify({ model_name: 'quitter', url: modelPath('quitter') }));
      assert.equal(quit.status, 500);
      assert.equal(quit.connection, 'close');
      const body = JSON.parse(quit.body) as { code: string; message: string };
      assert.equal(body.code, 'ERR_MODEL_LOAD');
      assert.match(body.message, /exited with code 3 while loading model "quitter"; the load is undone/);
      await waitForPing(server);
      assert.equal((await send('DELETE', '/models/iris')).status, 200);
      const loaded = await send('POST', '/models', JSON.stringify({ model_name: 'iris', url: modelPath('iris') }));
      assert.equal(loaded.status, 200);
      const next = await send('GET', '/models/iris');
      assert.deepEqual([next.status, next.reused], [200, true], 'the next request on the same connection is answered by the worker');
    } finally {
      agent.destroy();
    }
  });

  /** Writes `requests` at once on one connection and resolves every answer it got once it closes. */
  const pipelined = async (requests: string[]): Promise<string[]> => {
    const socket = net.connect(server.port, '127.0.0.1');
    socket.setTimeout(60_000, () => socket.destroy(new Error('no more answers within 60 s')));
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
    const closed = new Promise<void>((resolve, reject) => {
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    socket.write(requests.join(''));
    await closed;
    return received.split(/(?=HTTP\/1\.1 )/);
  };
  const loadRequest = (name: string) => {
    const body = JSON.stringify({ model_name: name, url: modelPath(name) });
    return `POST /models HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  };

  test('two loads pipelined on one connection that succeed are answered by the worker, in order, and the connection stays open', async () => {
    await waitForPing(server);
    // Pipelined requests run side by side (only their answers are in order): the ping does not wait for the loads.
    const answers = await pipelined([loadRequest('iris-b'), loadRequest('iris-c'), 'GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    assert.equal(answers.length, 3, answers.join(''));
    assert.match(answers[0]!, /^HTTP\/1\.1 200 [^]*"Model \\"iris-b\\" registered"/);
    assert.match(answers[1]!, /^HTTP\/1\.1 200 [^]*"Model \\"iris-c\\" registered"/);
    assert.match(answers[2]!, /^HTTP\/1\.1 200 /);
    for (const answer of answers.slice(0, 2)) assert.doesNotMatch(answer, /Connection: close/i);
    for (const name of ['iris-b', 'iris-c']) assert.equal((await fetchWithTimeout(`${server.url}/models/${name}`)).status, 200);
  });

  test('two loads pipelined on one connection, the worker dying in the first: the primary answers both, in order, then closes the connection', async () => {
    await waitForPing(server);
    const answers = await pipelined([loadRequest('first'), loadRequest('second')]);
    const received = answers.join('');
    assert.equal(answers.length, 2, received);
    for (const [i, name] of (['first', 'second'] as const).entries()) {
      const [head, text] = answers[i]!.split('\r\n\r\n') as [string, string];
      assert.match(head, /^HTTP\/1\.1 500 /, received);
      const body = JSON.parse(text) as { code: string; message: string };
      assert.equal(body.code, 'ERR_MODEL_LOAD');
      assert.match(body.message, new RegExp(`exited with code 3 while loading model "${name}"; the load is undone`));
    }
    assert.doesNotMatch(answers[0]!, /Connection: close/i, 'the first answer leaves the connection open for the second');
    assert.match(answers[1]!, /Connection: close/i);
    await waitForPing(server);
    const listed = (await (await fetchWithTimeout(`${server.url}/models`)).json()) as { models: { modelName: string }[] };
    assert.ok(!listed.models.some((m) => m.modelName === 'first' || m.modelName === 'second'), 'both loads are undone');
  });

  test('a load pipelined behind one the worker answered, the worker dying in it: the primary does not answer it (its answer could be read as the one before), and the connection closes', async () => {
    await waitForPing(server);
    const socket = net.connect(server.port, '127.0.0.1');
    socket.setTimeout(60_000, () => socket.destroy(new Error('the connection stayed open 60 s')));
    let received = '';
    let onFirst!: () => void;
    const first = new Promise<void>((resolve) => (onFirst = resolve));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
      if (/\r\n\r\n\{[^}]*\}/.test(received)) onFirst();
    });
    const closed = new Promise<void>((resolve, reject) => {
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    socket.write(loadRequest('iris-d') + loadRequest('exit-on-go'));
    await first;
    // The worker has written the first answer: only now does the second load end the process.
    writeFileSync(path.join(base, 'go'), '');
    await closed;
    const answers = received.split(/(?=HTTP\/1\.1 )/);
    assert.equal(answers.length, 1, received);
    assert.match(answers[0]!, /^HTTP\/1\.1 200 [^]*"Model \\"iris-d\\" registered"/);
    await waitForPing(server);
    assert.match(server.output(), /exited with code 3 while loading model \\"exit-on-go\\"/);
  });

  // Last: it ends the server (a start-up less than a server of its own).
  test('stopped (SIGTERM) during a load: the load gets 503 ERR_SHUTTING_DOWN and the primary logs the worker stopping during it as the shutdown, not as a crash', async () => {
    await waitForPing(server);
    // Only what is logged from here on: this server's earlier tests logged workers that died while loading.
    const loggedBefore = server.output().length;
    const load = fetchWithTimeout(`${server.url}/models`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model_name: 'stuck', url: modelPath('stuck') }),
      signal: AbortSignal.timeout(30_000),
    });
    await until('the load to start', () => existsSync(path.join(base, 'loading')), { timeoutMs: 20_000 });
    server.child.kill('SIGTERM');
    const res = await load;
    assert.equal(res.status, 503);
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, 'ERR_SHUTTING_DOWN');
    // The worker exits 0 on its own once told to stop, after waiting up to 1 s for its listener to
    // close; the primary kills what is left 2 s after SIGTERM (the grace period is 0). On a loaded
    // machine the kill can come first (seen at a load of 50): the same shutdown, said as such.
    assert.match(body.message, /the server is shutting down \(SIGTERM\): a worker process \(pid \d+\) (stopped|was stopped by SIGKILL at the end of the grace period \(SMKIT_SHUTDOWN_GRACE_SECONDS\)) while loading model "stuck"; the load is undone/);
    assert.equal((await server.exited).code, 0);
    const lines = server.output().slice(loggedBefore).split('\n').filter((line) => line.includes('while loading model'));
    assert.ok(lines.length > 0, server.output().slice(loggedBefore));
    for (const line of lines) assert.match(line, /"level":"info"/, 'logged as the shutdown, not as an error');
  });
});
