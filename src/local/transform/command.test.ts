import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SMKIT_BIN } from '../../../test/helpers/serve-process.js';
import { isToolkitError } from '../../errors/catalogue.js';
import { batchEnv, localTransform, type LocalTransformOptions } from './command.js';
import { parseBatchStrategy } from './parameters.js';

const base: LocalTransformOptions = {
  input: '/nonexistent-input',
  output: '/nonexistent-output',
  url: 'http://127.0.0.1:9',
  splitType: 'Line',
  assembleWith: 'Line',
  timeout: '600',
  retries: '3',
  startupTimeout: '120',
  progress: false,
};

const usage = (pattern: RegExp) => (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && pattern.test(e.message);

test('the API\'s BatchStrategy spellings (MultiRecord, SingleRecord) are accepted, as are the container\'s', () => {
  assert.equal(parseBatchStrategy('MultiRecord'), 'MULTI_RECORD');
  assert.equal(parseBatchStrategy('SingleRecord'), 'SINGLE_RECORD');
  assert.equal(parseBatchStrategy('MULTI_RECORD'), 'MULTI_RECORD');
  assert.equal(parseBatchStrategy('Multi'), undefined);
});

test('values CreateTransformJob refuses are refused before anything starts', async () => {
  await assert.rejects(localTransform({ ...base, maxPayload: '101' }), usage(/^--max-payload="101" is invalid: expected a number of MB from 0 to 100\.$/));
  await assert.rejects(localTransform({ ...base, retries: '4' }), usage(/^--retries="4" is invalid: expected a whole number from 0 to 3\.$/));
  // Past Node's timer limit (about 24.8 days) the wait for /ping used to end at once.
  await assert.rejects(localTransform({ ...base, startupTimeout: '3000000' }), usage(/^--startup-timeout="3000000" is invalid: expected a number of seconds above 0, at most 3600\.$/));
  await assert.rejects(localTransform({ ...base, timeout: '3601' }), usage(/^--timeout="3601" is invalid: .* at most 3600\.$/));
  await assert.rejects(localTransform({ ...base, strategy: 'Sometimes' }), usage(/MultiRecord or SingleRecord/));
  // MaxConcurrentTransforms × MaxPayloadInMB may not exceed 100 MB (CreateTransformJob's MaxPayloadInMB).
  await assert.rejects(localTransform({ ...base, maxPayload: '30', maxConcurrent: '4' }), usage(/--max-concurrent × --max-payload must be at most 100 MB.*4 × 30 = 120/));
  await assert.rejects(localTransform({ ...base, maxPayload: '25', maxConcurrent: '4' }), usage(/^--input=.* does not exist\.$/));
  // Past the API's integer a started container (SAGEMAKER_MAX_CONCURRENT_TRANSFORMS) refuses the value, even with --max-payload 0.
  await assert.rejects(localTransform({ ...base, maxPayload: '0', maxConcurrent: '2147483648' }), usage(/^--max-concurrent="2147483648" is invalid: expected a whole number of requests up to 2147483647, 0 for not set\.$/));
  await assert.rejects(localTransform({ ...base, maxPayload: '0', maxConcurrent: '2147483647' }), usage(/^--input=.* does not exist\.$/));
  // 0 is the API's "not set" (then /execution-parameters decides), not an error.
  await assert.rejects(localTransform({ ...base, maxPayload: '100', maxConcurrent: '0' }), usage(/^--input=.* does not exist\.$/));
  // DataProcessing filters outside SageMaker's JSONPath subset are refused before a model is started.
  await assert.rejects(localTransform({ ...base, inputFilter: '$..id' }), usage(/--input-filter "\$\.\.id"/));
  await assert.rejects(localTransform({ ...base, outputFilter: '$[0:2,246:]' }), usage(/--output-filter .*more than one slice/));
  // With --content-type given, CSV framing the filters cannot work on is refused before a model is started too.
  await assert.rejects(localTransform({ ...base, contentType: 'text/csv', splitType: 'None', joinSource: 'Input' }), usage(/need --split-type Line .*got None/));
  await assert.rejects(localTransform({ ...base, contentType: 'text/csv', accept: 'application/json', joinSource: 'Input' }), usage(/both CSV .* or both JSON/));
  // The limits themselves pass validation (the run then fails on the missing input, not on the flags).
  await assert.rejects(localTransform({ ...base, maxPayload: '100', retries: '3', timeout: '3600', strategy: 'SingleRecord' }), usage(/^--input=.* does not exist\.$/));
});

test('the job\'s batch parameters reach the container as SageMaker sets them, MaxPayloadInMB=0 included', () => {
  assert.deepEqual(batchEnv({}), { SAGEMAKER_BATCH: 'true' });
  assert.deepEqual(batchEnv({ maxPayloadInMB: 0, batchStrategy: 'SINGLE_RECORD', maxConcurrentTransforms: 2 }), {
    SAGEMAKER_BATCH: 'true',
    SAGEMAKER_MAX_PAYLOAD_IN_MB: '0',
    SAGEMAKER_BATCH_STRATEGY: 'SINGLE_RECORD',
    SAGEMAKER_MAX_CONCURRENT_TRANSFORMS: '2',
  });
});

test('smkit local transform stopped by Ctrl-C (SIGINT) ends by the signal and leaves no .out.partial: the file being written is removed, a finished one keeps its .out', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-transform-int-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, 'in'));
  await writeFile(path.join(dir, 'in', 'a.csv'), 'a\n');
  await writeFile(path.join(dir, 'in', 'b.csv'), 'b1\nhang\nb3\n');
  let hung!: () => void;
  const hanging = new Promise<void>((r) => (hung = r));
  const server = http.createServer((req, res) => {
    if (req.url === '/execution-parameters') return void res.writeHead(404).end();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      // Never answered: the signal comes while this record is out.
      if (body === 'hang\n') return hung();
      res.end(body.toUpperCase());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const cli = spawn(process.execPath, [SMKIT_BIN, 'local', 'transform', '--url', url, '--input', path.join(dir, 'in'), '--output', path.join(dir, 'out'), '--split-type', 'Line', '--strategy', 'SingleRecord', '--max-concurrent', '1', '--no-progress'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => cli.on('exit', (_code, signal) => resolve(signal)));
  await hanging;
  assert.ok(cli.kill('SIGINT'));
  assert.equal(await exited, 'SIGINT', stderr);
  assert.deepEqual((await readdir(path.join(dir, 'out'))).sort(), ['a.csv.out']);
  assert.equal(await readFile(path.join(dir, 'out', 'a.csv.out'), 'utf8'), 'A\n');
});

test('smkit local transform --model stopped by SIGTERM while the model loads stops the server it started and removes its temporary /opt/ml before it exits', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-transform-term-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // modelFn reports where it runs and waits for the answer, which comes only once the command has
  // been sent SIGTERM: it is still waiting for /ping then. (A load that never ended would cost the
  // server's 5 s wait for it on the way out.)
  let loading!: (query: URLSearchParams) => void;
  const reported = new Promise<URLSearchParams>((resolve) => (loading = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const reporter = http.createServer((req, res) => {
    void released.then(() => res.end());
    loading(new URL(req.url ?? '/', 'http://x').searchParams);
  });
  await new Promise<void>((resolve) => reporter.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    release();
    reporter.close();
  });
  await mkdir(path.join(dir, 'model', 'code'), { recursive: true });
  await mkdir(path.join(dir, 'in'));
  await writeFile(path.join(dir, 'in', 'a.csv'), 'a\n');
  await writeFile(
    path.join(dir, 'model', 'code', 'inference.mjs'),
    `export async function modelFn(modelDir) {
  const res = await fetch(process.env.TRANSFORM_TEST_REPORT_URL + '?' + new URLSearchParams({ server: String(process.ppid), baseDir: process.env.SAGEMAKER_BASE_DIR }));
  await res.text();
  return {};
}
`,
  );
  const url = `http://127.0.0.1:${(reporter.address() as AddressInfo).port}`;
  const cli = spawn(process.execPath, [SMKIT_BIN, 'local', 'transform', '--model', path.join(dir, 'model'), '--input', path.join(dir, 'in'), '--output', path.join(dir, 'out'), '--no-progress'], {
    env: { ...process.env, TRANSFORM_TEST_REPORT_URL: url },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => cli.on('exit', (_code, signal) => resolve(signal)));
  const where = await Promise.race([reported, exited.then(() => assert.fail(`the command ended before the model loaded: ${stderr}`))]);
  const server = Number(where.get('server'));
  t.after(() => {
    try {
      process.kill(server, 'SIGKILL');
    } catch {
      // Gone, as it should be.
    }
  });
  assert.ok(cli.kill('SIGTERM'));
  release();
  assert.equal(await exited, 'SIGTERM', stderr);
  assert.throws(() => process.kill(server, 0), { code: 'ESRCH' }, 'the server the command started is gone');
  await assert.rejects(stat(path.dirname(where.get('baseDir')!)), { code: 'ENOENT' }, 'its temporary /opt/ml is removed');
});
