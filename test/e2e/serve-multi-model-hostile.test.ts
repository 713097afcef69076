/**
 * Hostile input on the multi-model API (`POST /models`, `GET`/`DELETE /models/{name}`, invocations):
 * each request gets a 2xx or a catalogued error with a message, and the server keeps serving.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, makeOptMl, removeDir, startServe, waitForPing, fetchWithTimeout, type ServeProcess } from '../helpers/serve-process.js';

interface Answer {
  status: number;
  code?: string;
  message?: string;
}

/** The threads of every process whose parent is `pid` (Linux /proc): a worker's inference threads and their runtime's. */
function childThreads(pid: number): number {
  let threads = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) threads += Number(fields[17]);
    } catch {
      // The process ended meanwhile.
    }
  }
  return threads;
}

describe('multi-model endpoint under hostile input', () => {
  let server: ServeProcess;
  let base: string;
  let outside: string;
  const modelPath = (name: string) => path.join(base, 'models', name, 'model');

  before(async () => {
    base = makeOptMl();
    cpSync(path.join(REPO_ROOT, 'models/iris-onnx'), modelPath('iris'), { recursive: true });
    // A model directory outside the models tree, reached through a symlink inside it.
    outside = path.join(os.tmpdir(), `smkit-mme-outside-${process.pid}`);
    cpSync(path.join(REPO_ROOT, 'models/iris-onnx'), outside, { recursive: true });
    mkdirSync(path.join(base, 'models', 'linked'), { recursive: true });
    symlinkSync(outside, modelPath('linked'));
    // A symlink to itself: no directory at all.
    mkdirSync(path.join(base, 'models', 'loop'), { recursive: true });
    symlinkSync(modelPath('loop'), modelPath('loop'));
    writeFileSync(path.join(base, 'models', 'a-file'), 'not a directory');
    // Two workers: loads and unloads go through the primary to both.
    server = await startServe({ SAGEMAKER_BASE_DIR: base, SAGEMAKER_MULTI_MODEL: 'true', SAGEMAKER_MODEL_SERVER_WORKERS: '2', SMKIT_LOG_LEVEL: 'error' });
    await waitForPing(server);
  });
  after(async () => {
    await server.stop();
    removeDir(base);
    removeDir(outside);
  });

  /** A raw request (the path is sent as is, not normalised by a URL parser), with its JSON error's code and message. */
  const send = (method: string, route: string, body?: string | Buffer, headers: Record<string, string> = {}) =>
    new Promise<Answer>((resolve, reject) => {
      const req = http.request(`${server.url}/`, { method, path: route, headers: { Connection: 'close', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: { code?: string; message?: string } = {};
          try {
            json = JSON.parse(text) as typeof json;
          } catch {
            // Not JSON: asserted on below through the missing code.
          }
          resolve({ status: res.statusCode!, code: json.code, message: json.message });
        });
      });
      req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${route} got no answer`)));
      req.on('error', reject);
      req.end(body);
    });
  const load = (body: unknown) => send('POST', '/models', typeof body === 'string' ? body : JSON.stringify(body));
  const refused = (answer: Answer, status: number, code: string, what: string) => {
    assert.equal(answer.status, status, `${what}: ${JSON.stringify(answer)}`);
    assert.equal(answer.code, code, what);
    assert.ok(answer.message && answer.message.length > 0, `${what} has a message`);
  };
  const stillServing = async () => {
    const ping = await fetchWithTimeout(`${server.url}/ping`);
    assert.equal(ping.status, 200);
  };

  test('bodies: over 1 MB, deeply nested, not an object, not JSON', async () => {
    refused(await load(JSON.stringify({ model_name: 'iris', url: modelPath('iris'), pad: 'x'.repeat(1024 * 1024) })), 413, 'ERR_PAYLOAD_TOO_LARGE', 'a body over 1 MB');
    const depth = 400_000;
    refused(await load('['.repeat(depth) + ']'.repeat(depth)), 400, 'ERR_BAD_REQUEST', 'nested arrays');
    refused(await load('{"a":'.repeat(depth / 5) + '1' + '}'.repeat(depth / 5)), 400, 'ERR_BAD_REQUEST', 'nested objects');
    for (const body of ['null', '"iris"', '42', '[]', '{', '\u0000', '{"model_name": "iris", "url": "/x"']) refused(await load(body), 400, 'ERR_BAD_REQUEST', `body ${JSON.stringify(body)}`);
    refused(await send('POST', '/models'), 400, 'ERR_BAD_REQUEST', 'no body');
    await stillServing();
  });

  test('names: path traversal, NUL, too long, not a string', async () => {
    for (const model_name of ['../iris', '..', 'a/b', 'iris\u0000', '\u0000', '', 'a'.repeat(256), ' iris', 'iris%2F..', 7, null, ['iris'], { name: 'iris' }]) {
      refused(await load({ model_name, url: modelPath('iris') }), 400, 'ERR_BAD_REQUEST', `model_name ${JSON.stringify(model_name)}`);
    }
    for (const route of ['/models/..%2F..%2Fetc%2Fpasswd', '/models/%00', `/models/${'a'.repeat(5000)}`, '/models/%2e%2e', '/models/iris%00']) {
      refused(await send('GET', route), 404, 'ERR_MODEL_NOT_LOADED', `GET ${route.slice(0, 40)}`);
      refused(await send('DELETE', route), 404, 'ERR_MODEL_NOT_LOADED', `DELETE ${route.slice(0, 40)}`);
      refused(await send('POST', `${route}/invoke`, '1,2,3,4', { 'Content-Type': 'text/csv' }), 404, 'ERR_MODEL_NOT_LOADED', `invoke ${route.slice(0, 40)}`);
    }
    for (const query of ['limit=abc', 'limit=-1', 'limit=0', 'limit=1e400', 'limit=1.5']) refused(await send('GET', `/models?${query}`), 400, 'ERR_BAD_REQUEST', `GET /models?${query}`);
    assert.equal((await send('GET', `/models?next_page_token=${'z'.repeat(10_000)}`)).status, 200);
    for (const route of ['/models/%E0%A4%A', '/models/%ZZ']) {
      const answer = await send('DELETE', route);
      assert.ok(answer.status === 400 || answer.status === 404, `DELETE ${route}: ${JSON.stringify(answer)}`);
      assert.ok(answer.code && answer.message, `DELETE ${route} is catalogued: ${JSON.stringify(answer)}`);
    }
    await stillServing();
  });

  test('urls: NUL, relative, "..", very long, a file, a symlink loop; a symlink to a directory outside the tree loads it', async () => {
    for (const url of [`${modelPath('iris')}\u0000`, 'models/iris/model', `${modelPath('iris')}/../model`, `/${'a'.repeat(200_000)}`, path.join(base, 'models', 'a-file'), modelPath('loop'), '', 5, null]) {
      refused(await load({ model_name: 'bad-url', url }), 400, 'ERR_BAD_REQUEST', `url ${JSON.stringify(url).slice(0, 60)}`);
    }
    // As MMS with SageMaker's model_store=/ takes any absolute directory: it lists the url it was given.
    assert.equal((await load({ model_name: 'linked', url: modelPath('linked') })).status, 200);
    const listed = (await (await fetchWithTimeout(`${server.url}/models/linked`)).json()) as { modelUrl: string };
    assert.equal(listed.modelUrl, modelPath('linked'));
    const invoked = await fetchWithTimeout(`${server.url}/models/linked/invoke`, { method: 'POST', body: '5.1,3.5,1.4,0.2', headers: { 'Content-Type': 'text/csv' } });
    assert.equal(invoked.status, 200);
    assert.equal((await send('DELETE', '/models/linked')).status, 200);
    refused(await load({ model_name: 'bad-url' }), 400, 'ERR_BAD_REQUEST', 'no url');
    await stillServing();
  });

  test('unloads while large invocations run: each invocation is 200 or 404 ERR_MODEL_NOT_LOADED, and every unload stops the threads its load started', async () => {
    const body = '5.1,3.5,1.4,0.2\n'.repeat(60_000);
    const invoke = () => send('POST', '/models/iris/invoke', body, { 'Content-Type': 'text/csv', Accept: 'text/csv' });
    let whileLoaded = 0;
    const cycle = async () => {
      assert.equal((await load({ model_name: 'iris', url: modelPath('iris') })).status, 200);
      whileLoaded = childThreads(server.child.pid!);
      const running = [invoke(), invoke(), invoke(), invoke()];
      const unloaded = send('DELETE', '/models/iris');
      for (const answer of await Promise.all(running)) {
        if (answer.status !== 200) refused(answer, 404, 'ERR_MODEL_NOT_LOADED', 'an invocation of a model being unloaded');
      }
      assert.equal((await unloaded).status, 200);
    };
    await cycle();
    const threads = childThreads(server.child.pid!);
    for (let i = 0; i < 3; i++) await cycle();
    assert.ok(whileLoaded > threads, `the inference threads are counted (${whileLoaded} with the model loaded, ${threads} without)`);
    assert.equal(childThreads(server.child.pid!), threads, 'the worker processes hold as many threads as after the first load and unload');
    await stillServing();
  });

  test('concurrent loads, unloads and invocations of one name: each is answered 200 or a catalogued 404/409, and the end state is consistent', async () => {
    const allowed = new Set(['ERR_MODEL_NOT_LOADED', 'ERR_MODEL_ALREADY_LOADED']);
    const invoke = () => send('POST', '/models/iris/invoke', '5.1,3.5,1.4,0.2', { 'Content-Type': 'text/csv' });
    const ops: Promise<Answer>[] = [];
    for (let round = 0; round < 6; round++) {
      ops.push(load({ model_name: 'iris', url: modelPath('iris') }), invoke(), send('DELETE', '/models/iris'), invoke(), load({ model_name: 'iris', url: modelPath('iris') }));
    }
    const answers = await Promise.all(ops);
    for (const answer of answers) {
      if (answer.status === 200) continue;
      assert.ok([404, 409].includes(answer.status) && allowed.has(answer.code ?? ''), JSON.stringify(answer));
      assert.ok(answer.message, JSON.stringify(answer));
    }
    assert.ok(answers.some((a) => a.status === 200), 'some operations succeeded');
    // Whatever order they ran in, every worker agrees: listed if and only if it serves.
    const listed = ((await (await fetchWithTimeout(`${server.url}/models`)).json()) as { models: { modelName: string }[] }).models.some((m) => m.modelName === 'iris');
    for (let i = 0; i < 4; i++) assert.equal((await invoke()).status, listed ? 200 : 404);
    if (listed) assert.equal((await send('DELETE', '/models/iris')).status, 200);
    assert.equal((await load({ model_name: 'iris', url: modelPath('iris') })).status, 200);
    assert.equal((await invoke()).status, 200);
    await stillServing();
  });
});
