/** Handler hooks (the user's code in model/code/) through a real `smkit serve`. */
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { until } from '../helpers/until.js';
import { REPO_ROOT, makeOptMl, removeDir, startServe, waitForPing, fetchWithTimeout, type ServeProcess } from '../helpers/serve-process.js';

const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/handlers');

/** Serves an /opt/ml tree made of the iris model (optional) plus a fixture's files. */
async function serveFixture(fixture: string, withModel: boolean, env: Record<string, string> = {}): Promise<{ server: ServeProcess; base: string }> {
  const base = makeOptMl(withModel ? path.join(REPO_ROOT, 'models/iris-onnx') : undefined);
  cpSync(path.join(FIXTURES, fixture), path.join(base, 'model'), { recursive: true });
  const server = await startServe({ SAGEMAKER_BASE_DIR: base, ...env });
  return { server, base };
}

describe('handler hooks', () => {
  const started: { server: ServeProcess; base: string }[] = [];
  const stop = async (s: { server: ServeProcess; base: string }) => {
    await s.server.stop();
    removeDir(s.base);
  };
  /**
   * Serves a fixture and stops it once test `t` ends (stopping twice is harmless): an idle server
   * costs CPU (about 2 % of a core for its worker), and before, all fifteen ran until the last test.
   */
  const serveIt = async (t: TestContext, fixture: string, withModel: boolean, env: Record<string, string> = {}) => {
    const s = await serveFixture(fixture, withModel, env);
    started.push(s);
    t.after(() => stop(s));
    return s.server;
  };
  after(async () => {
    for (const s of started) await stop(s);
  });

  test('transformFn sees the body as a Buffer, the SageMaker headers, and sets Custom-Attributes', async (t) => {
    const server = await serveIt(t, 'context-echo', false);
    await waitForPing(server);
    const res = await fetchWithTimeout(`${server.url}/invocations`, {
      method: 'POST',
      body: 'anything at all',
      headers: {
        'Content-Type': 'application/x-whatever',
        Accept: 'text/plain',
        'X-Amzn-SageMaker-Custom-Attributes': 'trace=1',
        'X-Amzn-SageMaker-Inference-Id': 'inf-42',
        'X-Amzn-SageMaker-Target-Model': 'm.tar.gz',
        'X-Amzn-SageMaker-Target-Variant': 'blue',
      },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-amzn-sagemaker-custom-attributes'), 'seen=trace=1');
    const seen = (await res.json()) as Record<string, unknown>;
    assert.equal(seen['body'], 'anything at all');
    assert.equal(seen['isBuffer'], true);
    assert.equal(seen['contentType'], 'application/x-whatever', 'user code handles any content type: no 415 first');
    assert.equal(seen['accept'], 'text/plain');
    assert.equal(seen['customAttributes'], 'trace=1');
    assert.equal(seen['inferenceId'], 'inf-42');
    assert.equal(seen['targetModel'], 'm.tar.gz');
    assert.equal(seen['targetVariant'], 'blue');
    assert.match(String(seen['requestId']), /^[0-9a-f-]{36}$/);
    const star = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: 'x', headers: { 'Content-Type': 'text/plain', Accept: '*/*' } });
    assert.equal(((await star.json()) as Record<string, unknown>)['accept'], 'application/json', '*/* becomes SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT');
  });

  test("the Python toolkit's snake_case hooks work, and outputFn chooses the content type", async (t) => {
    const server = await serveIt(t, 'hooks-snake', false);
    await waitForPing(server);
    const res = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: '1 2 3.5', headers: { 'Content-Type': 'text/x-numbers' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/x-numbers');
    assert.equal(await res.text(), '3 6 10.5');
    const wrong = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: '1', headers: { 'Content-Type': 'text/csv' } });
    assert.equal(wrong.status, 415, 'an error with status 415 thrown by input_fn keeps its status');
    assert.match(((await wrong.json()) as { message: string }).message, /send text\/x-numbers/);
  });

  test('user errors: a 4xx status is kept, anything else is a 500 naming the hook, without a stack', async (t) => {
    const server = await serveIt(t, 'errors', true);
    await waitForPing(server);
    const call = (mode: string) =>
      fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: '5.1,3.5,1.4,0.2', headers: { 'Content-Type': 'text/csv', 'X-Amzn-SageMaker-Custom-Attributes': mode } });
    const client = await call('client');
    assert.equal(client.status, 422);
    assert.deepEqual(await client.json().then((j) => [(j as { code: string }).code, (j as { message: string }).message]), ['ERR_USER_CODE', 'feature 2 must be positive']);
    const crash = await call('crash');
    assert.equal(crash.status, 500);
    const body = (await crash.json()) as { message: string; stack?: string };
    assert.match(body.message, /predictFn in .*inference\.mjs failed: cannot read properties/);
    assert.equal(body.stack, undefined);
    // The log line reaches the server's output through its worker's stdout, not always before the answer.
    await until('the stack to be logged (it always is)', () => /TypeError/.test(server.output()), { detail: () => server.output() });
    const ok = await call('fine');
    assert.equal(ok.status, 200, 'default decode and encode run around a user predictFn');
    assert.equal(((await ok.json()) as number[][])[0]!.length, 3);
  });

  for (const mode of ['inline', 'thread']) {
    test(`an error whose stack or name throws when read is a 500 naming the hook, at once; a rejection of a Proxy nothing catches is logged and the model keeps serving (${mode})`, async (t) => {
      const server = await serveIt(t, 'unreadable-errors', false, { SMKIT_INFERENCE_MODE: mode, SAGEMAKER_MODEL_SERVER_WORKERS: '1' });
      await waitForPing(server);
      const call = (body: string) => fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body, headers: { 'Content-Type': 'text/plain', Accept: 'text/plain' } }, 15_000);
      for (const field of ['stack', 'name']) {
        // Before: inline, the failure's log line threw and the request was never answered; in the thread, it timed out.
        const res = await call(`${field}-getter`);
        assert.equal(res.status, 500, field);
        const body = (await res.json()) as { code: string; message: string };
        assert.equal(body.code, 'ERR_USER_CODE', field);
        assert.match(body.message, new RegExp(`^transformFn in .*inference\\.mjs failed: ${field} is unreadable$`));
      }
      assert.equal(await (await call('proxy-rejection')).text(), 'left behind');
      // Before: reading the rejection for its line threw, which ended the thread (or process) instead.
      await until('the rejection to be logged', () => /a promise was rejected with nothing awaiting or catching it/.test(server.output()), { timeoutMs: 10_000 });
      assert.equal(await (await call('fine')).text(), 'ok');
      assert.doesNotMatch(server.output(), /ended the inference thread|inference thread exited|worker process died/);
    });
  }

  test('SMKIT_DEBUG=true sends stack traces to clients', async (t) => {
    const server = await serveIt(t, 'errors', true, { SMKIT_DEBUG: 'true' });
    await waitForPing(server);
    const res = await fetchWithTimeout(`${server.url}/invocations`, {
      method: 'POST',
      body: '5.1,3.5,1.4,0.2',
      headers: { 'Content-Type': 'text/csv', 'X-Amzn-SageMaker-Custom-Attributes': 'crash' },
    });
    assert.equal(res.status, 500);
    assert.match(((await res.json()) as { stack: string }).stack, /ToolkitError|TypeError/);
  });

  test('transformFn together with inputFn fails the load: /ping 503 and invocations 503 with the reason', async (t) => {
    const server = await serveIt(t, 'conflict', false);
    const ping = await waitForPing(server, 503);
    assert.equal(((await ping.json()) as { status: string }).status, 'Unhealthy');
    const res = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: 'x', headers: { 'Content-Type': 'text/plain' } });
    assert.equal(res.status, 503);
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, 'ERR_NOT_READY');
    assert.match(body.message, /transformFn together with inputFn/);
  });

  test('a handler written in TypeScript (code/inference.ts, no inference.mjs) fails the load saying to compile it, with the ONNX model inline too: it was served with the default hooks, not a word said', async (t) => {
    const base = makeOptMl(path.join(REPO_ROOT, 'models/iris-onnx'));
    t.after(() => removeDir(base));
    mkdirSync(path.join(base, 'model', 'code'));
    writeFileSync(path.join(base, 'model', 'code', 'inference.ts'), 'export function outputFn(prediction: unknown): string {\n  return "mine";\n}\n');
    for (const env of [{}, { SAGEMAKER_PROGRAM: 'inference.ts', SMKIT_INFERENCE_MODE: 'inline' }] as Record<string, string>[]) {
      const server = await startServe({ SAGEMAKER_BASE_DIR: base, ...env });
      t.after(() => server.stop());
      const ping = await waitForPing(server, 503);
      assert.match(((await ping.json()) as { message: string }).message, /inference\.ts is TypeScript, which smkit does not load: compile it to JavaScript as code\/inference\.mjs/);
      const res = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: '5.1,3.5,1.4,0.2', headers: { 'Content-Type': 'text/csv' } });
      assert.equal(res.status, 503);
      await until('the load failure to be logged', () => /"code":"ERR_HANDLER_LOAD"[^\n]*inference\.ts is TypeScript/.test(server.output()), { detail: () => server.output() });
      await server.stop();
    }
  });

  test("the README's handler example works as printed", async (t) => {
    const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf('// code/inference.mjs');
    const code = readme.slice(start, readme.indexOf('```', start));
    const base = makeOptMl(path.join(REPO_ROOT, 'models/iris-onnx'));
    mkdirSync(path.join(base, 'model', 'code'));
    writeFileSync(path.join(base, 'model', 'code', 'inference.mjs'), code);
    const server = await startServe({ SAGEMAKER_BASE_DIR: base });
    started.push({ server, base });
    t.after(() => stop({ server, base }));
    await waitForPing(server);
    const res = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: JSON.stringify({ rows: [[5.1, 3.5, 1.4, 0.2]] }), headers: { 'Content-Type': 'application/json' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-amzn-sagemaker-custom-attributes'), 'model-version=3');
    const { probabilities } = (await res.json()) as { probabilities: number[] };
    assert.equal(probabilities.length, 3);
    assert.ok(probabilities[0]! > 0.9, 'setosa');
  });

  for (const mode of ['thread', 'inline'] as const) {
    test(`an async generator streams its chunks with chunked transfer encoding (${mode})`, async (t) => {
      const server = await serveIt(t, 'streaming', false, { SMKIT_INFERENCE_MODE: mode });
      await waitForPing(server);
      const res = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: '3', headers: { 'Content-Type': 'text/plain', Accept: 'text/plain' } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('transfer-encoding'), 'chunked');
      assert.equal(res.headers.get('content-type'), 'text/plain');
      assert.equal(await res.text(), 'token-0\ntoken-1\ntoken-2\n');
      // What the handler logs through context.log carries the request's id, wherever the hook runs.
      const logged = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: 'slow:1', headers: { 'Content-Type': 'text/plain', Accept: 'text/plain' } });
      assert.equal(await logged.text(), 'slow-0\n');
      await until('the handler\'s line', () => /"msg":"slow stream chunk"/.test(server.output()), { timeoutMs: 10_000 });
      assert.match(server.output(), /"requestId":"[0-9a-f-]{36}"[^\n]*"msg":"slow stream chunk"/);
      const broken = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: 'fail', headers: { 'Content-Type': 'text/plain' } });
      assert.equal(broken.status, 200, 'the status was already sent with the first chunk');
      await assert.rejects(broken.text(), 'a failure part way breaks the stream instead of ending it cleanly');
      await until('the failure to be logged', () => /streamed answer failed part way/.test(server.output()), { timeoutMs: 10_000 });
      const early = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: 'fail-early', headers: { 'Content-Type': 'text/plain' } });
      assert.equal(early.status, 413, 'a failure before the first chunk is an ordinary error answer');
      assert.equal(((await early.json()) as { message: string }).message, 'prompt too long');
      await until('the 413 to be logged', () => /"status":413[^\n]*"msg":"prompt too long"/.test(server.output()), { timeoutMs: 10_000 });
      // Each failure is logged once, with its request's id: the thread logged them too, without it,
      // and the client's 413 as an error 'failed part way' before anything was sent.
      const lines = server.output().split('\n');
      const partWay = lines.filter((line) => line.includes('streamed answer failed part way'));
      assert.equal(partWay.length, 1, partWay.join('\n'));
      assert.match(partWay[0]!, /"requestId":"[0-9a-f-]{36}"[^\n]*generation failed/);
      assert.deepEqual(lines.filter((line) => line.includes('prompt too long') && !/"level":"warn"/.test(line)), []);
      // A rejection nothing handles, after the load, is logged with its stack; the thread (inline: the
      // worker process) serves on, with no restart and no reload.
      for (let i = 0; i < 2; i++) {
        const background = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: 'background-reject', headers: { 'Content-Type': 'text/plain' } });
        assert.equal(background.status, 200);
        assert.equal(await background.text(), 'ok\n');
      }
      await until('the rejection to be logged', () => /"code":"ERR_USER_CODE","reason":"metrics push failed","stack":"Error: metrics push failed\\n    at [^"]*code\/inference\.mjs:\d+/.test(server.output()), { timeoutMs: 10_000 });
      assert.doesNotMatch(server.output(), /inference thread exited|worker process died/);
      assert.equal(server.output().match(/"msg":"model ready"/g)?.length, 1, server.output());
    });
  }

  /**
   * One 'content-type-shapes' server per mode for the two tests below that use it (two start-ups
   * less): neither leaves state the other sees, and the second counts only the lines written in it.
   * The second stops it.
   */
  const shapes: Partial<Record<'inline' | 'thread', Promise<{ server: ServeProcess; base: string }>>> = {};
  const shapesServer = (mode: 'inline' | 'thread') =>
    (shapes[mode] ??= serveFixture('content-type-shapes', false, { SMKIT_INFERENCE_MODE: mode, SAGEMAKER_MODEL_SERVER_WORKERS: '1' }).then((s) => {
      started.push(s);
      return s;
    }));

  for (const mode of ['inline', 'thread'] as const) {
    test(`a contentType in { body, contentType } that is not a string (a number, an object, an array, null), or is empty, blank or not ASCII, or custom attributes not in ASCII, is a 500 ERR_USER_CODE naming the hook, for a body and for a stream, not an answer in the Accept type (${mode})`, async () => {
      const { server } = await shapesServer(mode);
      await waitForPing(server);
      const call = (body: string) => fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body, headers: { 'Content-Type': 'text/plain', Accept: 'text/plain' } }, 15_000);
      for (const prefix of ['', 'stream-']) {
        for (const [kind, what] of [['number', 'a number'], ['object', 'an object'], ['array', 'an array'], ['null', 'null']]) {
          const res = await call(`${prefix}${kind}`);
          assert.equal(res.status, 500, `${prefix}${kind}`);
          const body = (await res.json()) as { code: string; message: string };
          assert.equal(body.code, 'ERR_USER_CODE', `${prefix}${kind}`);
          assert.match(body.message, new RegExp(`^transformFn in .*inference\\.mjs returned \\{ body, contentType \\} with a contentType that is ${what}: contentType must be a string \\(a media type such as 'application/json'\\), or left out to answer in the type the request accepts$`), `${prefix}${kind}`);
        }
        // A string no answer may carry: empty or blank (no media type), or not ASCII (SageMaker's
        // InvokeEndpoint output takes ASCII only), in the Content-Type or the custom attributes.
        for (const [kind, what] of [
          ['empty', /^transformFn in .*inference\.mjs returned \{ body, contentType \} with a contentType that is empty: contentType must be a media type \(such as 'application\/json'\), or left out to answer in the type the request accepts$/],
          ['blank', /^transformFn in .*inference\.mjs returned \{ body, contentType \} with a contentType that is blank: contentType must be a media type/],
          ['not-ascii', /^the contentType transformFn in .*inference\.mjs returned has a character outside ASCII \(U\+00E9 at index 20\), which SageMaker does not carry in Content-Type \(at most 1024 ASCII characters\): use printable ASCII, percent-encoding other text$/],
          ['attributes-not-ascii', /^the value transformFn in .*inference\.mjs gave context\.setCustomAttributes has a character outside ASCII \(U\+00E9 at index 8\), which SageMaker does not carry in X-Amzn-SageMaker-Custom-Attributes \(at most 1024 ASCII characters\)/],
        ] as const) {
          const res = await call(`${prefix}${kind}`);
          assert.equal(res.status, 500, `${prefix}${kind}`);
          assert.equal(res.headers.get('x-amzn-sagemaker-custom-attributes'), null, `${prefix}${kind}`);
          const body = (await res.json()) as { code: string; message: string };
          assert.equal(body.code, 'ERR_USER_CODE', `${prefix}${kind}`);
          assert.match(body.message, what, `${prefix}${kind}`);
        }
        const named = await call(`${prefix}string`);
        assert.equal(named.status, 200);
        assert.equal(named.headers.get('content-type'), 'text/x-tokens');
        assert.equal(await named.text(), prefix ? 'token-0\ntoken-1\n' : 'plain\n');
        const leftOut = await call(`${prefix}left-out`);
        assert.equal(leftOut.status, 200);
        assert.equal(leftOut.headers.get('content-type'), 'text/plain', 'left out, the answer takes the Accept type');
        await leftOut.text();
      }
      assert.doesNotMatch(server.output(), /inference thread exited|worker process died/);
    });
  }

  for (const mode of ['inline', 'thread'] as const) {
    test(`custom attributes an async generator sets before its first chunk (or in a stream with none) go out with the stream's headers, and a bad one is a 500; one set after it, good or bad, is not sent and is logged (${mode})`, async (t) => {
      const shared = await shapesServer(mode);
      t.after(() => stop(shared));
      const { server } = shared;
      await waitForPing(server);
      // The lines written before this test (the one above used the server first) are not counted.
      const from = server.output().length;
      const call = (body: string) => fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body, headers: { 'Content-Type': 'text/plain', Accept: 'text/plain' } }, 15_000);
      const res = await call('stream-attributes-in-generator');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-amzn-sagemaker-custom-attributes'), 'set=before-first-chunk');
      assert.equal(await res.text(), 'token-0\ntoken-1\n');
      const empty = await call('stream-attributes-in-empty-generator');
      assert.equal(empty.status, 200);
      assert.equal(empty.headers.get('x-amzn-sagemaker-custom-attributes'), 'set=in-empty-stream');
      assert.equal(await empty.text(), '');
      // Before the first chunk nothing is out: a value SageMaker cannot carry is the 500 naming the hook,
      // and a stream that fails then answers with its error, without the attributes it set.
      const bad = await call('stream-attributes-bad-in-generator');
      assert.equal(bad.status, 500);
      assert.equal(bad.headers.get('x-amzn-sagemaker-custom-attributes'), null);
      const badBody = (await bad.json()) as { code: string; message: string };
      assert.equal(badBody.code, 'ERR_USER_CODE');
      assert.match(badBody.message, /^the value transformFn in .*inference\.mjs gave context\.setCustomAttributes has a character outside ASCII/);
      const failed = await call('stream-attributes-then-throw');
      assert.equal(failed.status, 500);
      assert.equal(failed.headers.get('x-amzn-sagemaker-custom-attributes'), null);
      assert.equal(((await failed.json()) as { code: string }).code, 'ERR_USER_CODE');
      // After it the value is not sent whatever it is: one that would have been refused does not break the stream.
      const late = await call('stream-attributes-bad-after-first-chunk');
      assert.equal(late.status, 200);
      assert.equal(late.headers.get('x-amzn-sagemaker-custom-attributes'), null);
      assert.equal(await late.text(), 'token-0\ntoken-1\n');
      const warnings = () => server.output().slice(from).match(/context\.setCustomAttributes was called after the first chunk of the stream that transformFn in .*inference\.mjs returned/g)?.length ?? 0;
      await until('the warnings for the values set after the first chunk, one a stream', () => warnings() >= 2, { timeoutMs: 15_000 });
      assert.equal(warnings(), 2);
      assert.doesNotMatch(server.output(), /inference thread exited|worker process died/);
    });
  }

  test('a pipeline step naming the model input (normalize: { tensor: input }) runs on a CSV request, whose one tensor its client cannot name, as on a JSON request naming it', async (t) => {
    const base = makeOptMl(path.join(REPO_ROOT, 'models/iris-onnx'));
    t.after(() => removeDir(base));
    writeFileSync(path.join(base, 'model', 'pipeline.yaml'), 'preprocess:\n  - normalize: { tensor: input, mean: 100, std: 0.5 }\npredict:\n  - model: model.onnx\n');
    const server = await startServe({ SAGEMAKER_BASE_DIR: base });
    t.after(() => server.stop());
    await waitForPing(server);
    const call = (body: string, type: string) => fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body, headers: { 'Content-Type': type, Accept: 'application/json' } });
    // A virginica flower ([0, 0, 1] as it is): normalized so, it is no longer taken for one.
    const csv = await call('6.7,3.0,5.2,2.3\n', 'text/csv');
    assert.equal(csv.status, 200);
    const named = await call('{"inputs": {"input": [[6.7, 3.0, 5.2, 2.3]]}}', 'application/json');
    assert.equal(named.status, 200);
    const answer = ((await named.json()) as { outputs: number[][] }).outputs;
    assert.notDeepEqual(answer, [[0, 0, 1]]);
    assert.deepEqual(await csv.json(), answer);
    // A name the client chose otherwise is not taken for it: the request is told what it lacks.
    const other = await call('{"inputs": {"features": [[5.1, 3.5, 1.4, 0.2]]}}', 'application/json');
    assert.equal(other.status, 400);
    assert.match(((await other.json()) as { message: string }).message, /no tensor named "input"; the request has "features" \[1, 4\]/);
  });

  test('a custom step from code/ runs inside the pipeline file; an error it throws with a 4xx status is answered with it, naming the step', async (t) => {
    const server = await serveIt(t, 'custom-step', true);
    await waitForPing(server);
    const res = await fetchWithTimeout(`${server.url}/invocations`, {
      method: 'POST',
      body: '5.1,3.5,1.4,0.2,1001\n6.5,3.0,5.5,2.0,1002\n',
      headers: { 'Content-Type': 'text/csv' },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), ['setosa', 'virginica']);
    // Without the extra id column: the step's 400, as a hook's would be, not a 500 ERR_STEP_FAILED.
    const bad = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: '5.1,3.5,1.4,0.2\n', headers: { 'Content-Type': 'text/csv' } });
    assert.equal(bad.status, 400);
    const { code, message, step } = (await bad.json()) as Record<string, unknown>;
    assert.deepEqual({ code, message, step }, { code: 'ERR_USER_CODE', message: 'preprocess[0]:custom: send 5 columns (the features, then an id), not 4', step: 'preprocess[0]:custom' });
  });
});
