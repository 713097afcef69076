/**
 * JSON nested past MAX_JSON_DEPTH over real HTTP (node:http + createApp, in-process iris engine):
 * refused with a 400 before it is parsed, in every JSON form; at the limit it gets what the codec
 * answered before; brackets inside strings do not count.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createApp } from './app.js';
import type { InProcessBackend } from './in-process-backend.js';
import { createLogger } from '../logging/logger.js';
import { MAX_JSON_DEPTH } from '../codecs/json-depth.js';
import { ModelStore } from './model-store.js';
import type { InferenceBackend } from './inference-backend.js';
import { listenOnLoopback, loadModelInProcess, type LoopbackServer } from '../../test/helpers/in-process-app.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const modelDir = path.join(repo, 'models/iris-onnx');
const log = createLogger('silent');
const settings = { maxPayloadMb: 1, timeoutSeconds: 30, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'MULTI_RECORD' as const, bodyTimeoutSeconds: 60 };
const DEPTH_REFUSAL = /nests arrays and objects more than 512 levels deep, the limit/;

const arrays = (depth: number, leaf = '1') => '['.repeat(depth) + leaf + ']'.repeat(depth);
const objects = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
const ROW = '[5.1,3.5,1.4,0.2]';

describe('JSON nesting depth over HTTP', () => {
  let backend: InProcessBackend;
  let front: LoopbackServer;
  let port: number;

  before(async () => {
    backend = await loadModelInProcess(modelDir, log);
    front = await listenOnLoopback(createApp({ settings, backend, log }));
    port = front.port;
  });
  after(async () => {
    await front?.close();
    await backend?.close();
  });

  const invoke = async (body: string, contentType = 'application/json') => {
    const res = await fetch(`http://127.0.0.1:${port}/invocations`, { method: 'POST', body, headers: { 'Content-Type': contentType }, signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    return { ...(JSON.parse(text) as { code?: string; message?: string }), status: res.status, text };
  };
  const triton = (header: string) => invoke(header, `application/vnd.sagemaker-triton.binary+json;json-header-size=${Buffer.byteLength(header)}`);

  /** A v2 request with an INT64 literal past 2^53 (read exactly by a second parse) and `deep` one level down. */
  const v2 = (deep: string) => `{"inputs":[{"name":"input","shape":[1,4],"datatype":"INT64","data":[9007199254740993,1,2,3]}],"extra":${deep}}`;

  test('one level past the limit is a 400 ERR_JSON_PARSE naming the limit: arrays, objects, TF Serving, v2, Triton binary, JSON lines', async () => {
    const cases: Array<[string, Promise<{ status: number; code?: string; message?: string; text: string }>]> = [
      ['arrays', invoke(arrays(MAX_JSON_DEPTH + 1))],
      ['objects', invoke(objects(MAX_JSON_DEPTH + 1))],
      ['instances', invoke(`{"instances":${arrays(MAX_JSON_DEPTH)}}`)],
      ['v2 with a literal past 2^53', invoke(v2(arrays(MAX_JSON_DEPTH)))],
      ['Triton binary header', triton(v2(objects(MAX_JSON_DEPTH)))],
      ['JSON lines', invoke(`${ROW}\n${arrays(MAX_JSON_DEPTH + 1)}\n`, 'application/jsonlines')],
    ];
    for (const [name, answer] of cases) {
      const { status, code, message, text } = await answer;
      assert.equal(status, 400, `${name}: ${text}`);
      assert.equal(code, 'ERR_JSON_PARSE', name);
      assert.match(message ?? '', DEPTH_REFUSAL, name);
    }
  });

  test('at the limit the body reaches the codec and gets its own answer, as before', async () => {
    const deepArrays = await invoke(arrays(MAX_JSON_DEPTH));
    assert.equal(deepArrays.status, 400);
    assert.match(deepArrays.message ?? '', /nested more than 64 levels deep; a tensor has at most 64 dimensions/);
    const deepObjects = await invoke(objects(MAX_JSON_DEPTH));
    assert.equal(deepObjects.status, 400);
    assert.match(deepObjects.message ?? '', /JSON object has keys "a"/);
    const instances = await invoke(`{"instances":${arrays(MAX_JSON_DEPTH - 1)}}`);
    assert.equal(instances.status, 400);
    assert.match(instances.message ?? '', /^instances: arrays are nested more than 64 levels deep/);
    // A v2 request at the limit is read, its INT64 literal exactly, and answered (the extra member is ignored).
    for (const answer of [await invoke(v2(arrays(MAX_JSON_DEPTH - 1))), await triton(v2(objects(MAX_JSON_DEPTH - 1)))]) {
      assert.equal(answer.status, 200, answer.text);
    }
    for (const answer of [deepArrays, deepObjects, instances]) assert.doesNotMatch(answer.message ?? '', DEPTH_REFUSAL);
  });

  test('brackets inside strings do not count: a row beside a string of 10 000 brackets is answered', async () => {
    const brackets = '[{'.repeat(5000);
    const answer = await invoke(`{"instances":[${ROW}],"signature_name":${JSON.stringify(`\\"${brackets}`)}}`);
    assert.notEqual(answer.status, 500, answer.text);
    assert.doesNotMatch(answer.message ?? '', DEPTH_REFUSAL);
    const plain = await invoke(`{"instances":[${ROW}]}`);
    assert.equal(plain.status, 200, plain.text);
    const v2 = await invoke(`{"id":${JSON.stringify(brackets)},"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":${ROW}}]}`);
    assert.equal(v2.status, 200, v2.text);
    assert.equal((JSON.parse(v2.text) as { id: string }).id, brackets);
  });
});

test('POST /models (multi-model load, parsed on the HTTP thread) nested past the limit is a 400 before JSON.parse; at it, the load goes on', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-depth-'));
  const backend: InferenceBackend = {
    state: () => 'ready',
    failure: () => undefined,
    describe: () => undefined,
    whenSettled: async () => undefined,
    close: async () => undefined,
    invoke: async () => ({ body: Buffer.from('ok'), contentType: 'text/plain' }),
  };
  const models = new ModelStore(() => backend, 0);
  const front = await listenOnLoopback(createApp({ settings, models, log }));
  try {
    const load = async (extra: string) => {
      const res = await fetch(`http://127.0.0.1:${front.port}/models`, {
        method: 'POST',
        body: `{"model_name":"a","url":${JSON.stringify(dir)},"extra":${extra}}`,
        headers: { 'Content-Type': 'application/json' },
        signal: AbortSignal.timeout(30_000),
      });
      return { ...((await res.json()) as { code?: string; message?: string }), status: res.status };
    };
    const deep = await load(objects(MAX_JSON_DEPTH));
    assert.equal(deep.status, 400);
    assert.equal(deep.code, 'ERR_BAD_REQUEST');
    assert.match(deep.message ?? '', /nests more than 512 levels deep/);
    assert.equal((await load(arrays(MAX_JSON_DEPTH - 1))).status, 200);
  } finally {
    await front.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
