import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { REPO_ROOT, SMKIT_BIN, startServe, waitForPing } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';
import { answeredStrayPing } from '../helpers/stray-ping.js';

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], stdin?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SMKIT_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

test('smkit invoke against a served model: file, stdin, --output, --verbose, HTTP errors', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-e2e-invoke-'));
  const server = await startServe({}, ['--model-dir', path.join(REPO_ROOT, 'models', 'iris-onnx')]);
  t.after(async () => {
    await server.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });
  await waitForPing(server, 200, 60_000);
  const sample = path.join(dir, 'rows.csv');
  await fs.writeFile(sample, '5.1,3.5,1.4,0.2\n7.7,3.0,6.1,2.3\n');

  const csv = await runCli(['invoke', server.url, '--file', sample, '--accept', 'text/csv']);
  assert.equal(csv.code, 0, csv.stderr);
  const rows = csv.stdout.trim().split('\n').map((r) => r.split(',').map(Number));
  assert.equal(rows.length, 2);
  assert.ok(rows[0]![0]! > 0.5 && rows[1]![2]! > 0.5, csv.stdout);

  const piped = await runCli(['invoke', `${server.url}/invocations`, '--content-type', 'application/json', '--accept', 'application/json', '--verbose'], '[[5.1,3.5,1.4,0.2]]');
  assert.equal(piped.code, 0, piped.stderr);
  assert.match(piped.stderr, /< 200 OK/);
  assert.match(piped.stderr, /< content-type: application\/json/);
  const json = JSON.parse(piped.stdout) as unknown;
  assert.ok(JSON.stringify(json).split(',').length >= 3, piped.stdout);

  const outFile = path.join(dir, 'answer.csv');
  const saved = await runCli(['invoke', server.url, '-f', sample, '-a', 'text/csv', '-o', outFile]);
  assert.equal(saved.code, 0, saved.stderr);
  assert.equal(saved.stdout, '');
  assert.equal((await fs.readFile(outFile, 'utf8')).trim().split('\n').length, 2);

  await fs.writeFile(path.join(dir, 'bad.csv'), '1,2,oops,4\n');
  const bad = await runCli(['invoke', server.url, '--file', path.join(dir, 'bad.csv')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /ERR_INVOKE_FAILED: HTTP 400 .*ERR_CSV_PARSE.*\(smkit invoke sent Content-Type: text\/csv, from the file name bad\.csv; if the body is of another type, give it with -c\/--content-type, such as -c application\/json\)\n$/);

  // A type smkit invoke chose itself is named in the error, with the flag to change it: CSV piped
  // without -c went as JSON and got only "not valid JSON", rows.txt got 415 for text/plain.
  const csvAsJson = await runCli(['invoke', server.url], '5.1,3.5,1.4,0.2\n');
  assert.equal(csvAsJson.code, 1);
  assert.match(csvAsJson.stderr, /ERR_INVOKE_FAILED: HTTP 400 .*ERR_JSON_PARSE.* \(smkit invoke sent Content-Type: application\/json, the default for stdin; if the body is of another type, give it with -c\/--content-type, such as -c text\/csv\)\n$/);
  await fs.writeFile(path.join(dir, 'rows.txt'), '5.1,3.5,1.4,0.2\n');
  const txt = await runCli(['invoke', server.url, '-f', path.join(dir, 'rows.txt')]);
  assert.equal(txt.code, 1);
  assert.match(txt.stderr, /ERR_INVOKE_FAILED: HTTP 415 .*\(smkit invoke sent Content-Type: text\/plain, from the file name rows\.txt; if the body is of another type, give it with -c\/--content-type/);
  const given = await runCli(['invoke', server.url, '-c', 'text/plain', '-f', path.join(dir, 'rows.txt')]);
  assert.equal(given.code, 1);
  assert.doesNotMatch(given.stderr, /smkit invoke sent/, 'a type the user gave is not second-guessed');
});

test('smkit invoke --endpoint goes through a front door with SageMaker headers and shows its errors', async (t) => {
  const seen: { url?: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
  const frontDoor = http.createServer((req, res) => {
    if (answeredStrayPing(req, res)) return;
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ url: req.url, headers: req.headers, body });
      if (req.url === '/endpoints/nope/invocations') {
        res.writeHead(400, { 'content-type': 'application/json', 'x-amzn-errortype': 'ValidationError:http://internal.amazon.com/coral/com.amazonaws.sagemaker/' });
        return void res.end(JSON.stringify({ message: 'Endpoint nope of account 000000000000 not found.' }));
      }
      if (body.includes('crash')) {
        res.writeHead(424, { 'content-type': 'application/json', 'x-amzn-errortype': 'ModelError:http://internal.amazon.com/coral/com.amazonaws.sagemaker/' });
        return void res.end(JSON.stringify({ ErrorCode: 'SERVER_ERROR_FROM_MODEL', OriginalStatusCode: 500, OriginalMessage: 'crashed', message: 'Received server error (500) from primary' }));
      }
      if (body.includes('fail')) {
        res.writeHead(424, { 'content-type': 'application/json', 'x-amzn-errortype': 'ModelError:http://internal.amazon.com/coral/com.amazonaws.sagemaker/' });
        return void res.end(JSON.stringify({ ErrorCode: 'CLIENT_ERROR_FROM_MODEL', OriginalStatusCode: 400, OriginalMessage: 'bad row', LogStreamArn: '/tmp/x.log', message: 'Received client error (400) from primary' }));
      }
      res.writeHead(200, { 'content-type': 'text/csv', 'x-amzn-invoked-production-variant': 'AllTraffic' }).end('0.1,0.2,0.7\n');
    });
  });
  await new Promise<void>((r) => frontDoor.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => frontDoor.close(() => r())));
  const url = `http://127.0.0.1:${(frontDoor.address() as AddressInfo).port}`;

  const ok = await runCli(['invoke', '--endpoint', 'iris', '--front-door', url, '--content-type', 'text/csv', '--accept', 'text/csv', '--custom-attributes', 'trace=1', '--target-variant', 'AllTraffic', '-v'], '1,2,3,4\n');
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, '0.1,0.2,0.7\n');
  assert.match(ok.stderr, /x-amzn-invoked-production-variant: AllTraffic/);
  assert.equal(seen[0]!.url, '/endpoints/iris/invocations');
  assert.equal(seen[0]!.headers['x-amzn-sagemaker-custom-attributes'], 'trace=1');
  assert.equal(seen[0]!.headers['x-amzn-sagemaker-target-variant'], 'AllTraffic');
  assert.equal(seen[0]!.headers['content-type'], 'text/csv');
  assert.equal(seen[0]!.body, '1,2,3,4\n');

  const failed = await runCli(['invoke', '--endpoint', 'iris', '--front-door', url, '--content-type', 'text/csv'], 'fail\n');
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /HTTP 424 .*\(ModelError\).*Received client error.*container answered 400: bad row/);

  // The type smkit invoke chose is named only where the body's type can be at fault: the container's
  // 400 or 415 inside the front door's 424, not the front door's own 400 (an endpoint not found) nor
  // a container's 500.
  const guessed = await runCli(['invoke', '--endpoint', 'iris', '--front-door', url], 'fail\n');
  assert.equal(guessed.code, 1);
  assert.match(guessed.stderr, /HTTP 424 .*container answered 400: bad row \| log: \/tmp\/x\.log \(smkit invoke sent Content-Type: application\/json, the default for stdin; if the body is of another type, give it with -c\/--content-type, such as -c text\/csv\)\n$/);
  for (const [endpoint, body] of [['nope', '{}'], ['iris', 'crash']] as const) {
    const other = await runCli(['invoke', '--endpoint', endpoint, '--front-door', url], body);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /ERR_INVOKE_FAILED: HTTP (400|424) /);
    assert.doesNotMatch(other.stderr, /smkit invoke sent/, `${endpoint} ${body}: ${other.stderr}`);
  }

  const unreachable = await runCli(['invoke', 'http://127.0.0.1:9/invocations', '--content-type', 'text/csv'], '1\n');
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /ERR_INVOKE_FAILED: could not reach/);
});

test('smkit invoke -o stopped by Ctrl-C (SIGINT) while the answer arrives removes the file it was writing and ends by the signal', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-e2e-invoke-int-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  // The first part of the answer, then nothing until the test is over.
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write('first part;');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const output = path.join(dir, 'answer.bin');
  const cli = spawn(process.execPath, [SMKIT_BIN, 'invoke', `http://127.0.0.1:${(server.address() as AddressInfo).port}`, '-o', output, '--timeout', '600'], { stdio: ['pipe', 'ignore', 'pipe'] });
  cli.stdin.end('1');
  let stderr = '';
  cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => cli.on('exit', (_code, signal) => resolve(signal)));
  await until('the first part in the -o file', async () => (await fs.readFile(output, 'utf8').catch(() => '')) === 'first part;', { detail: () => stderr });
  cli.kill('SIGINT');
  assert.equal(await exited, 'SIGINT', stderr);
  await assert.rejects(fs.stat(output), { code: 'ENOENT' }, 'the half-written file is removed');
});

test('smkit invoke to a front-door endpoint refuses a body on stdin past InvokeEndpoint\'s 6291456 bytes and exits while the pipe is still open, sending nothing (src/invoke/command.test.ts covers the rest in-process)', async (t) => {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests += 1;
    req.resume();
    req.on('end', () => res.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const child = spawn(process.execPath, [SMKIT_BIN, 'invoke', '--endpoint', 'iris', '--front-door', url, '--content-type', 'text/plain'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // The command stops reading (and closes its end) before this test stops writing.
  child.stdin.on('error', () => undefined);
  // A command that waited for the pipe's end, which never comes here.
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const done = new Promise<CliResult>((resolve) => child.once('close', (code) => (clearTimeout(killer), resolve({ code, stdout, stderr }))));
  child.stdin.write(Buffer.alloc(6_291_456 + 65_536, '1'));
  assert.deepEqual(await done, {
    code: 1,
    stdout: '',
    stderr: 'smkit: ERR_CLI_USAGE: the body on stdin holds more than 6291456 bytes, the most InvokeEndpoint takes in a request (6 MB), so it was not sent: send less per request\n',
  });
  child.stdin.destroy();
  assert.equal(requests, 0);
});
