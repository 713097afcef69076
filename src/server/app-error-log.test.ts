/**
 * What the server logs for the requests it refuses or fails, over real HTTP: one line per code up
 * to a budget per second and a count for the rest (a flood of bad or timed-out requests must not
 * flood the logs), no stack trace for a client's mistake, and the stack kept for user code that
 * throws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import request from 'supertest';
import type { ServerLogger } from '../logging/server-logger.js';
import { identityModelDir } from '../../test/helpers/identity-model.js';
import { IN_PROCESS_SETTINGS, loadModelInProcess, serveIdentityModel, serveModelInProcess } from '../../test/helpers/in-process-app.js';
import { createApp } from './app.js';
import { REPO_ROOT } from '../../test/helpers/serve-process.js';
import { until } from '../../test/helpers/until.js';

interface Line {
  level: string;
  fields: Record<string, unknown>;
  msg: string | undefined;
}

/** A logger that keeps every line it is given, at `level` and above. */
function recordingLogger(level: 'info' | 'debug'): ServerLogger & { lines: Line[] } {
  const lines: Line[] = [];
  const at = (name: string) => (obj: object | string, msg?: string) => {
    lines.push(typeof obj === 'string' ? { level: name, fields: {}, msg: obj } : { level: name, fields: obj as Record<string, unknown>, msg });
  };
  const logger = {
    lines,
    debug: (obj: object | string, msg?: string) => (level === 'debug' ? at('debug')(obj, msg) : undefined),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    isLevelEnabled: (l: string) => l !== 'debug' || level === 'debug',
    child: () => logger,
  };
  return logger;
}

const BAD_CSV = 'feature,1\n';

test('a burst of bad requests logs at most 10 lines a second for its code, without stacks, then one line with the count of the rest', async () => {
  const log = recordingLogger('info');
  const { app, close } = await serveIdentityModel([{ name: 'x', dtype: 'float32' }], undefined, log);
  try {
    const burst = 60;
    const answers = await Promise.all(Array.from({ length: burst }, () => request(app).post('/invocations').set('Content-Type', 'text/csv').send(BAD_CSV)));
    assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([400]));
    const report = await until('the line that counts the lines not logged', () => log.lines.find((l) => l.fields['notLogged'] !== undefined), { timeoutMs: 10_000 });
    const perRequest = log.lines.filter((l) => l.fields['code'] === 'ERR_CSV_PARSE' && l.fields['notLogged'] === undefined);
    // 60 requests take far less than the 6 s it would need to log them all at 10 a second.
    assert.ok(perRequest.length >= 1 && perRequest.length < burst, `${perRequest.length} lines for ${burst} requests`);
    const notLogged = log.lines.reduce((sum, l) => sum + (l.fields['code'] === 'ERR_CSV_PARSE' ? Number(l.fields['notLogged'] ?? 0) : 0), 0);
    assert.equal(perRequest.length + notLogged, burst, 'every request is either logged or counted');
    assert.equal(report.level, 'warn');
    assert.match(report.msg ?? '', /ERR_CSV_PARSE.*smkit_invocations_total/);
    for (const line of perRequest) {
      assert.equal(line.level, 'warn');
      assert.equal(line.fields['err'], undefined, 'a client mistake is logged without a stack trace');
      assert.match(line.msg ?? '', /not a number/);
      assert.equal(typeof line.fields['requestId'], 'string');
    }
  } finally {
    await close();
  }
});

test('at debug level every failed request is logged, with its stack', async () => {
  const log = recordingLogger('debug');
  const { app, close } = await serveIdentityModel([{ name: 'x', dtype: 'float32' }], undefined, log);
  try {
    const burst = 15;
    await Promise.all(Array.from({ length: burst }, () => request(app).post('/invocations').set('Content-Type', 'text/csv').send(BAD_CSV).expect(400)));
    const lines = log.lines.filter((l) => l.fields['code'] === 'ERR_CSV_PARSE');
    assert.equal(lines.length, burst);
    for (const line of lines) assert.match(String((line.fields['err'] as Error | undefined)?.stack), /ToolkitError/);
  } finally {
    await close();
  }
});

test('user code that throws is logged at error level with its stack', async () => {
  const modelDir = identityModelDir([{ name: 'x', dtype: 'float32' }]);
  mkdirSync(path.join(modelDir, 'code'), { recursive: true });
  copyFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'handlers', 'errors', 'code', 'inference.mjs'), path.join(modelDir, 'code', 'inference.mjs'));
  const log = recordingLogger('info');
  const { app, close } = await serveModelInProcess(modelDir, undefined, log);
  try {
    await request(app).post('/invocations').set('Content-Type', 'text/csv').set('X-Amzn-SageMaker-Custom-Attributes', 'crash').send('1,2\n').expect(500);
    const line = log.lines.find((l) => l.fields['status'] === 500);
    assert.ok(line, 'the failure is logged');
    assert.equal(line.level, 'error');
    assert.match(String((line.fields['err'] as Error | undefined)?.stack), /cannot read properties of undefined/);
  } finally {
    await close();
    rmSync(modelDir, { recursive: true, force: true });
  }
});

test('a ToolkitError whose status user code set after it was made, outside 400-599, is answered with its code\'s status (inline)', async (t) => {
  // Before: 99 made writing the answer throw (the worker process ended on it) and 302 answered a
  // redirect; the constructor keeps only an HTTP error status, but the field can be set later.
  const modelDir = mkdtempSync(path.join(os.tmpdir(), 'smkit-mutated-status-'));
  t.after(() => rmSync(modelDir, { recursive: true, force: true }));
  mkdirSync(path.join(modelDir, 'code'));
  const modelError = pathToFileURL(path.join(REPO_ROOT, 'dist/src/errors/model-error.js')).href;
  writeFileSync(
    path.join(modelDir, 'code', 'inference.mjs'),
    `import { ModelError } from ${JSON.stringify(modelError)};
export function transformFn(model, body) {
  const err = new ModelError(502, 'upstream failed');
  err.status = Number(body.toString());
  throw err;
}`,
  );
  const { app, close } = await serveModelInProcess(modelDir);
  t.after(close);
  for (const status of ['99', '302', '200']) {
    const res = await request(app).post('/invocations').set('Content-Type', 'text/plain').send(status);
    assert.equal(res.status, 500, status);
    assert.equal(res.body.code, 'ERR_USER_CODE', status);
    assert.equal(res.body.message, 'upstream failed', status);
  }
  const kept = await request(app).post('/invocations').set('Content-Type', 'text/plain').send('422');
  assert.equal(kept.status, 422);
});

test('a stream that fails part way with a 4xx is logged as a warning with its status, a 5xx as an error (inline)', async (t) => {
  // Before: every failure part way was an error line, a client's mistake found late (a 422 after the
  // first chunk) paging whoever watches error lines as a failing model does.
  const modelDir = mkdtempSync(path.join(os.tmpdir(), 'smkit-stream-4xx-'));
  t.after(() => rmSync(modelDir, { recursive: true, force: true }));
  mkdirSync(path.join(modelDir, 'code'));
  writeFileSync(
    path.join(modelDir, 'code', 'inference.mjs'),
    `export async function* transformFn(model, body) {
  yield 'partial\\n';
  throw Object.assign(new Error('token limit reached'), { status: Number(body.toString()) });
}`,
  );
  const log = recordingLogger('info');
  const { app, close } = await serveModelInProcess(modelDir, undefined, log);
  t.after(close);
  for (const status of [422, 503]) {
    // The connection is broken part way: the client sees an error, never a short 200.
    await assert.rejects(request(app).post('/invocations').set('Content-Type', 'text/plain').send(String(status)).buffer(true));
    const line = await until(`the ${status} stream's line`, () => log.lines.find((l) => l.fields['status'] === status && /part way/.test(l.msg ?? '')));
    assert.equal(line.level, status < 500 ? 'warn' : 'error', String(status));
  }
});

test('a draining server refusing requests with 503 ERR_SHUTTING_DOWN logs them at warn, not error: a normal drain pages no one', async (t) => {
  const modelDir = identityModelDir([{ name: 'x', dtype: 'float32' }]);
  t.after(() => rmSync(modelDir, { recursive: true, force: true }));
  const log = recordingLogger('info');
  const backend = await loadModelInProcess(modelDir, log);
  t.after(() => backend.close());
  const app = createApp({ settings: IN_PROCESS_SETTINGS, backend, log, isDraining: () => true });
  const res = await request(app).post('/invocations').set('Content-Type', 'text/csv').send('1\n');
  assert.equal(res.status, 503);
  assert.equal(res.body.code, 'ERR_SHUTTING_DOWN');
  const line = log.lines.find((l) => l.fields['code'] === 'ERR_SHUTTING_DOWN');
  assert.ok(line, 'the refusal is logged');
  assert.equal(line.level, 'warn');
  assert.equal(line.fields['err'], undefined, 'without a stack trace');
});
