// What a new user meets in the first hour: a taken port, readable logs, --host.
import { after, before, describe, test } from 'node:test';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { REPO_ROOT, SMKIT_BIN, runSmkit, startServe, startServeWithPortFlag, waitForPing, type CliRun, type ServeProcess } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';

const IRIS = path.join(REPO_ROOT, 'models', 'iris-onnx');

function holdPort(): Promise<{ port: number; close: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer((s) => s.destroy());
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      resolve({ port, close: () => new Promise((r) => srv.close(() => r())) });
    });
  });
}

/** Pids of smkit HTTP workers started with `--port <port>` (a worker gets the primary's arguments). */
function workersServing(port: number): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (args.some((a) => a.endsWith('http-worker.js')) && args.includes('--port') && args[args.indexOf('--port') + 1] === String(port)) pids.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function run(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<CliRun> {
  return runSmkit(args, { ...process.env, ...env }, timeoutMs);
}

// Each test below runs its own processes on ports and in folders of its own (a held port each, the
// broken model read-only): a few side by side, as most of their time is waiting for a process to
// start or stop.
describe('the first hour', { concurrency: 4 }, () => {
  test('serve on a taken port exits 1 with one ERR_PORT_IN_USE line, no stack trace and no "ready"', async () => {
    const held = await holdPort();
    try {
      const r = await run(['serve', '--model-dir', IRIS, '--port', String(held.port), '--host', '127.0.0.1', '--workers', '2']);
      assert.equal(r.code, 1);
      // The workers were forked before the port was checked: none outlives the refusal.
      await until('the refused server\'s workers to be gone', () => workersServing(held.port).length === 0, { timeoutMs: 30_000, intervalMs: 200 });
      assert.match(r.stderr, new RegExp(`^smkit: ERR_PORT_IN_USE: port ${held.port} on 127\\.0\\.0\\.1 is already in use`, 'm'));
      assert.equal(r.stderr.trim().split('\n').length, 1, `expected one line on stderr, got:\n${r.stderr}`);
      assert.doesNotMatch(r.stdout + r.stderr, /EADDRINUSE|\n\s+at /);
      assert.doesNotMatch(r.stdout, /ready/);
    } finally {
      await held.close();
    }
  });

  test('serve --host binds the address given and says "ready" with the bound address; JSON lines when piped; workers get the heap flags', async () => {
    // Started again on another port if another test file's process took the probed one first.
    const server = await startServeWithPortFlag({ SMKIT_BIND_HOST: '0.0.0.0', SMKIT_WORKER_SEMI_SPACE_MB: '16', SMKIT_WORKER_OLD_SPACE_MB: '96' }, ['--model-dir', IRIS, '--host', '127.0.0.1']);
    const port = server.port;
    try {
      await waitForPing(server);
      await until('the ready line', () => /ready: listening/.test(server.output()), { timeoutMs: 20_000, detail: () => server.output() });
      const lines = server.output().trim().split('\n');
      const ready = lines.map((l) => JSON.parse(l) as { level: string; msg: string }).find((l) => l.msg.startsWith('ready'));
      assert.ok(ready, server.output());
      assert.equal(ready.msg, `ready: listening on 127.0.0.1:${port}`);
      assert.equal(ready.level, 'info');
      // The workers start their V8 young and old generations at SMKIT_WORKER_SEMI_SPACE_MB and SMKIT_WORKER_OLD_SPACE_MB.
      const workers = workersServing(port);
      assert.ok(workers.length > 0, 'the workers are found by their --port');
      for (const pid of workers) {
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        assert.ok(args.includes('--min-semi-space-size=16') && args.includes('--initial-old-space-size=96'), `worker ${pid}'s command line: ${args.join(' ')}`);
      }
    } finally {
      await server.stop();
    }
  });

  test('serve --model-dir naming the model file instead of its folder exits 1 with one ERR_CLI_USAGE line naming the folder, no stack trace', async () => {
    const r = await run(['serve', '--model-dir', path.join(IRIS, 'model.onnx'), '--port', '0', '--workers', '2']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `smkit: ERR_CLI_USAGE: --model-dir="${path.join(IRIS, 'model.onnx')}" is invalid: expected the folder that holds the model, such as ${IRIS}; ${path.join(IRIS, 'model.onnx')} is a file.\n`);
    assert.equal(r.stdout, '');
  });

  test('serve --model-dir naming a model.tar.gz says to extract it or run it with smkit local, not to serve the folder it is in', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-first-hour-archive-'));
    try {
      const archive = path.join(dir, 'model.tar.gz');
      writeFileSync(archive, 'not read');
      const r = await run(['serve', '--model-dir', archive, '--port', '0', '--workers', '1']);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `smkit: ERR_CLI_USAGE: --model-dir="${archive}" is invalid: expected the folder that holds the model, not an archive: extract it first (mkdir model && tar -xzf ${archive} -C model), or serve it behind a local endpoint with smkit local ${archive}; ${archive} is a file.\n`);
      assert.equal(r.stdout, '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('serve --model-dir naming a model.tar.gz under a folder with a space prints a tar command that runs as printed (the path quoted)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit first hour archive '));
    try {
      const archive = path.join(dir, 'model.tar.gz');
      const packed = await run(['package', IRIS, '--output', archive]);
      assert.equal(packed.code, 0, packed.stderr);
      const r = await run(['serve', '--model-dir', archive, '--port', '0', '--workers', '1']);
      assert.equal(r.code, 1);
      const quoted = `'${archive}'`;
      assert.ok(r.stderr.includes(`(mkdir model && tar -xzf ${quoted} -C model), or serve it behind a local endpoint with smkit local ${quoted};`), r.stderr);
      // The command as printed, run by a shell in a new folder, extracts the model.
      const command = /\((mkdir model && tar [^)]*)\)/.exec(r.stderr)![1]!;
      const work = path.join(dir, 'work');
      await mkdir(work);
      const shell = spawn('sh', ['-c', command], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      shell.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => shell.on('close', resolve));
      assert.equal(code, 0, stderr);
      assert.ok(existsSync(path.join(work, 'model', 'model.onnx')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('serve --model-dir naming a folder that does not exist (a typo) exits 1 with one ERR_CLI_USAGE line, instead of serving /ping 503 until restarted', async () => {
    const typo = path.join(REPO_ROOT, 'models', 'iris-onx');
    const r = await run(['serve', '--model-dir', typo, '--port', '0', '--workers', '2'], { SMKIT_BAKED_MODEL_DIR: '' }, 30_000);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `smkit: ERR_CLI_USAGE: --model-dir="${typo}" is invalid: expected the folder that holds the model; ${typo} does not exist.\n`);
    assert.equal(r.stdout, '');
    assert.equal(existsSync(typo), false);
  });

  test('serve --host with an address this machine does not have exits 1 with one ERR_CLI_USAGE line naming --host, not a port in use', async () => {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): no machine has it.
    const r = await run(['serve', '--model-dir', IRIS, '--host', '192.0.2.1', '--port', '0', '--workers', '2']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'smkit: ERR_CLI_USAGE: --host="192.0.2.1" is invalid: expected an address of this machine to listen on, such as 0.0.0.0 (every interface) or 127.0.0.1 (this machine only); 192.0.2.1 gave EADDRNOTAVAIL.\n');
  });

  test('an invalid --log-format stops start-up naming the flag', async () => {
    const r = await run(['serve', '--model-dir', IRIS, '--log-format', 'fancy', '--port', '0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ERR_CLI_USAGE: --log-format="fancy" is invalid/);
  });

  // The three commands share only the broken model (read-only) and write to outputs of their own.
  describe('a model that fails to load stops the tools at once, with the reason', { concurrency: true }, () => {
    let dir: string;
    let broken: string;
    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-first-hour-'));
      broken = path.join(dir, 'broken');
      await mkdir(broken);
      // Passes the package checks (a model file is there) but ONNX Runtime cannot load it.
      await writeFile(path.join(broken, 'model.onnx'), 'this is not an ONNX model');
      await writeFile(path.join(dir, 'rows.csv'), '5.1,3.5,1.4,0.2\n');
    });
    after(() => rm(dir, { recursive: true, force: true }));

    // Each command gets a 600 s start-up timeout: it ends within the test's deadline only by failing fast.
    test('smkit local', async () => {
      const r = await run(['local', broken, '--port', '0', '--startup-timeout', '600']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /ERR_CONTAINER_START: broken\/AllTraffic\/primary: model failed to load: .*model\.onnx/);
    });

    test('smkit local transform --model', async () => {
      const r = await run(['local', 'transform', '--model', broken, '--input', path.join(dir, 'rows.csv'), '--output', path.join(dir, 'out'), '--startup-timeout', '600']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /ERR_CONTAINER_START: broken: model failed to load: .*model\.onnx/);
    });

    test('smkit package --verify', async () => {
      const r = await run(['package', broken, '-o', path.join(dir, 'model.tar.gz'), '--verify', '--startup-timeout', '600']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /ERR_PACKAGE_VERIFY: .*did not start: model\.tar\.gz: model failed to load: .*model\.onnx/);
    });
  });

  // One `smkit serve` for both: the Content-Type hints do not depend on the log format.
  describe('a served model (--log-format pretty)', () => {
    let server: ServeProcess;
    before(async () => {
      server = await startServe({}, ['--model-dir', IRIS, '--log-format', 'pretty']);
      await waitForPing(server);
    });
    after(() => server?.stop());

    test('serve --log-format pretty writes readable lines, not JSON', async () => {
      await until('the ready line', () => /ready: listening/.test(server.output()), { timeoutMs: 20_000, intervalMs: 100, detail: () => server.output() });
      const line = server.output().split('\n').find((l) => l.includes('ready: listening'));
      assert.ok(line, server.output());
      assert.match(line, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO.*: ready: listening on 127\.0\.0\.1:\d+/);
    });

    test('a body sent without a Content-Type, or as application/octet-stream, that fails says which type was assumed and how to set one', async () => {
      const post = (headers: Record<string, string>) =>
        fetch(`${server.url}/invocations`, { method: 'POST', headers, body: Buffer.from('5.1,3.5,1.4,0.2'), signal: AbortSignal.timeout(10_000) });
      const none = await post({});
      assert.equal(none.status, 400);
      const noneBody = (await none.json()) as { code: string; message: string; error?: string };
      assert.match(noneBody.message, /no Content-Type, so the body was read as application\/json; set the body's type: curl -H 'Content-Type: text\/csv'/);
      assert.equal(noneBody.error, noneBody.message, 'the JSON protocols\' {"error"} member carries the same hint');
      const octet = await post({ 'content-type': 'application/octet-stream' });
      assert.equal(octet.status, 400);
      assert.match(((await octet.json()) as { message: string }).message, /Content-Type was application\/octet-stream \(what the AWS CLI and SDKs send when none is given\).*--content-type text\/csv/);
      // A request that names its type gets no hint, and the server keeps serving.
      const csv = await post({ 'content-type': 'text/csv' });
      assert.equal(csv.status, 200);
      const badJson = await post({ 'content-type': 'application/json' });
      assert.equal(badJson.status, 400);
      assert.doesNotMatch(((await badJson.json()) as { message: string }).message, /set the body's type/);
    });
  });

  test('smkit train outside a training container (no /opt/ml/input/config, no --base-dir) refuses and writes nothing', { skip: existsSync('/opt/ml') ? '/opt/ml exists on this machine' : false }, async () => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'SAGEMAKER_BASE_DIR') env[k] = v;
    const child = spawn(process.execPath, [SMKIT_BIN, 'train'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 1);
    assert.match(stderr, /ERR_TRAIN_CONFIG_INVALID: \/opt\/ml\/input\/config does not exist.*nothing was written.*--base-dir/);
    assert.equal(existsSync('/opt/ml'), false, 'smkit train created /opt/ml');
  });

  test('smkit local on a taken front-door port exits 1 with ERR_PORT_IN_USE before starting any container', async () => {
    const held = await holdPort();
    try {
      const r = await run(['local', IRIS, '--port', String(held.port)]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`ERR_PORT_IN_USE: port ${held.port} on 127\\.0\\.0\\.1 is already in use`));
      assert.doesNotMatch(r.stderr, /smkit local: started/);
    } finally {
      await held.close();
    }
  });

  test('smkit local with an image to run, on a taken front-door port, fails before it probes docker or podman or makes a work folder', async () => {
    const held = await holdPort();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-first-hour-engines-'));
    try {
      // Engines that note each call: with an image and no backend named, start-up asks them which one works.
      const bin = path.join(dir, 'bin');
      const tmp = path.join(dir, 'tmp');
      const calls = path.join(dir, 'engine-calls.txt');
      await mkdir(bin);
      await mkdir(tmp);
      for (const engine of ['docker', 'podman']) await writeFile(path.join(bin, engine), `#!/bin/sh\necho "${engine} $*" >> '${calls}'\nexit 1\n`, { mode: 0o755 });
      const file = path.join(dir, 'endpoints.yaml');
      await writeFile(file, `image: my-image:1\nendpoints:\n  - name: iris\n    variants:\n      - model: ${JSON.stringify(IRIS)}\n`);
      const r = await run(['local', file, '--port', String(held.port)], { PATH: bin, TMPDIR: tmp });
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`^smkit: ERR_PORT_IN_USE: port ${held.port} on 127\\.0\\.0\\.1 is already in use`, 'm'));
      assert.equal(existsSync(calls), false, `the engines were probed:\n${existsSync(calls) ? readFileSync(calls, 'utf8') : ''}`);
      assert.deepEqual(readdirSync(tmp).filter((name) => name.startsWith('smkit-')), [], 'no work folder was made');
    } finally {
      await held.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('smkit local on a taken front-door port still names a wrong flag or setting first (ERR_CLI_USAGE, ERR_CONFIG_INVALID)', async () => {
    const held = await holdPort();
    try {
      // --engine with no image to run: the process backend would ignore it.
      const engine = await run(['local', IRIS, '--engine', 'podman', '--port', String(held.port)]);
      assert.equal(engine.code, 1);
      assert.match(engine.stderr, /^smkit: ERR_CLI_USAGE: --engine only applies with the docker backend/m);
      for (const args of [['local', IRIS], ['local']]) {
        const setting = await run([...args, '--port', String(held.port)], { SMKIT_LOCAL_MAX_INSTANCES: 'abc' });
        assert.equal(setting.code, 1);
        assert.match(setting.stderr, /^smkit: ERR_CONFIG_INVALID: SMKIT_LOCAL_MAX_INSTANCES="abc"/m, args.join(' '));
      }
    } finally {
      await held.close();
    }
  });

  test('the local SageMaker (smkit local, no model) on a taken port exits 1 with ERR_PORT_IN_USE and leaves no work folder', async () => {
    const held = await holdPort();
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'smkit-first-hour-tmp-'));
    try {
      const r = await run(['local', '--port', String(held.port)], { TMPDIR: tmp });
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`^smkit: ERR_PORT_IN_USE: port ${held.port} on 127\\.0\\.0\\.1 is already in use`, 'm'));
      // (Node 22.1+ also keeps its compile cache there: bin/smkit.js turns it on.)
      assert.deepEqual(readdirSync(tmp).filter((name) => name.startsWith('smkit-')), [], 'its work folder was removed');
    } finally {
      await held.close();
      await rm(tmp, { recursive: true, force: true });
    }
  });

  test('transform and package --verify start their container with its own environment only: stray SMKIT_/SAGEMAKER_ variables do not leak in', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-first-hour-env-'));
    try {
      await writeFile(path.join(dir, 'rows.csv'), '5.1,3.5,1.4,0.2\n');
      // Each of these would stop a `smkit serve` that saw it (invalid values, or a port and model dir that do not exist).
      const stray = { SMKIT_INFERENCE_MODE: 'bogus', SAGEMAKER_MODEL_SERVER_WORKERS: 'many', SM_MODEL_DIR: '/nonexistent', SAGEMAKER_BIND_TO_PORT: '1' };
      // Side by side: each writes only its own output.
      const [transform, verify] = await Promise.all([
        run(['local', 'transform', '--model', IRIS, '--input', path.join(dir, 'rows.csv'), '--output', path.join(dir, 'out'), '--accept', 'text/csv', '--env', 'SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT=text/csv'], stray),
        run(['package', IRIS, '-o', path.join(dir, 'model.tar.gz'), '--verify', '--sample', path.join(dir, 'rows.csv')], stray),
      ]);
      assert.equal(transform.code, 0, transform.stderr);
      assert.equal(verify.code, 0, verify.stderr);
      const bad = await run(['local', 'transform', '--model', IRIS, '--input', dir, '--output', path.join(dir, 'o2'), '--env', '1BAD=x']);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /ERR_CLI_USAGE: --env="1BAD=x" is invalid: expected KEY=VALUE/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
