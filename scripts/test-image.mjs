#!/usr/bin/env node
// The image test (`npm run test:image`, run by .ci/run after the unit tests). On a machine without
// a Docker engine it prepares podman and a local look-alike of the Dockerfile's base image
// (scripts/setup-podman.sh), builds the CPU image from the repository's Dockerfile unchanged, and
// runs it the way SageMaker does. See docs/images.md. Exits non-zero with a clear message on any
// failure, including when podman cannot be set up: it never passes without having run.
//
// Environment: SMKIT_IMAGE_TEST_KEEP=1 keeps the test containers and this run's image tags (for debugging).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs, readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Tags of this run's own (the clone's path hashed, and the process id): runs from several clones at
// once share podman's storage, and a shared tag let one run test the image another had just built.
const RUN_TAG = `${createHash('sha256').update(root).digest('hex').slice(0, 8)}-${process.pid}`;
const IMAGE = `localhost/smkit-image-test:cpu-${RUN_TAG}`;
const BAKED = `localhost/smkit-image-test:baked-${RUN_TAG}`;
const FROM_PACKAGE = `localhost/smkit-image-test:from-package-${RUN_TAG}`;
const MODEL = path.join(root, 'models', 'iris-onnx');
const CONTAINER_PORT = 8081; // not 8080: proves SAGEMAKER_BIND_TO_PORT is honoured
const run = `smkit-it-${process.pid}`;
const containers = [];
const timings = [];
const skipped = [];
const failures = [];
let tmp;

class TestFailure extends Error {}
const fail = (msg) => {
  throw new TestFailure(msg);
};
const log = (msg) => process.stderr.write(`test-image: ${msg}\n`);

/** Runs a command, capturing output; throws with its output when it fails (unless allowFail). */
function sh(cmd, args, { allowFail = false, timeoutMs = 600_000, input } = {}) {
  const res = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, input, maxBuffer: 64 * 1024 * 1024 });
  if (!allowFail && res.status !== 0) {
    const out = `${res.stdout ?? ''}${res.stderr ?? ''}`.trim().split('\n').slice(-40).join('\n');
    fail(`${cmd} ${args.join(' ')} failed (exit ${res.status ?? res.signal ?? res.error?.message}):\n${out}`);
  }
  return res;
}

/** Runs a long command with its output in a log file; prints the tail when it fails. */
async function logged(name, cmd, args, env = process.env) {
  const file = path.join(tmp, `${name}.log`);
  const out = await fs.open(file, 'w');
  const code = await new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', out.fd, out.fd] });
    child.once('error', () => resolve(127));
    child.once('close', (c) => resolve(c ?? 1));
  });
  await out.close();
  const text = await fs.readFile(file, 'utf8');
  if (code !== 0) fail(`${name} failed (exit ${code}); last lines of its output:\n${text.trim().split('\n').slice(-40).join('\n')}`);
  return text;
}

async function step(name, fn) {
  const t0 = Date.now();
  log(`${name} ...`);
  const result = await fn();
  const s = (Date.now() - t0) / 1000;
  timings.push([name, s]);
  log(`${name}: ok (${s.toFixed(1)} s)`);
  return result;
}

/** A step that does not stop the others: its failure is recorded and reported at the end. */
async function check(name, fn) {
  try {
    await step(name, fn);
  } catch (err) {
    if (!(err instanceof TestFailure)) throw err;
    failures.push(`${name}: ${err.message}`);
    log(`${name}: FAILED`);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Starts `image` detached; `runArgs` are extra `podman run` flags (--read-only, --user ...); with `--network none` no port is published. */
async function startContainer(name, image, { env = {}, volumes = [], args = ['serve'], runArgs = [] } = {}) {
  const full = `${run}-${name}`;
  containers.push(full);
  const envArgs = Object.entries({ SAGEMAKER_BIND_TO_PORT: String(CONTAINER_PORT), ...env }).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  const volArgs = volumes.flatMap((v) => ['-v', v]);
  const isolated = runArgs.includes('none');
  const hostPort = isolated ? undefined : await freePort();
  const portArgs = isolated ? [] : ['-p', `127.0.0.1:${hostPort}:${CONTAINER_PORT}`];
  sh('podman', ['run', '-d', '--name', full, ...portArgs, ...runArgs, ...envArgs, ...volArgs, image, ...args]);
  return { name: full, url: isolated ? undefined : `http://127.0.0.1:${hostPort}` };
}

/** A request made from inside the container (for one with no network): `status body`, as Node's fetch in the image got it. */
function fetchInside(c, pathname, init = {}) {
  const script = `const r = await fetch('http://127.0.0.1:${CONTAINER_PORT}${pathname}', ${JSON.stringify(init)}); console.log(r.status, await r.text());`;
  const res = sh('podman', ['exec', c.name, 'node', '--input-type=module', '-e', script], { allowFail: true, timeoutMs: 30_000 });
  return `${res.stdout}${res.stderr}`.trim();
}

/** The status of GET `url` on a connection of its own (fetch's pool may hand over one the server is closing). */
function statusOnNewConnection(url) {
  return new Promise((resolve) => {
    http
      .get(url, { agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode);
      })
      .once('error', (err) => resolve(err.code ?? err.message));
  });
}

function containerLogs(name) {
  const res = sh('podman', ['logs', '--tail', '12', name], { allowFail: true });
  return `${res.stdout}${res.stderr}`
    .trim()
    .split('\n')
    .map((l) => (l.length > 400 ? `${l.slice(0, 400)}...` : l))
    .join('\n');
}

function running(name) {
  return sh('podman', ['inspect', '--format', '{{.State.Running}}', name], { allowFail: true }).stdout.trim() === 'true';
}

async function waitForPing(c, deadlineMs = 90_000) {
  const until = Date.now() + deadlineMs;
  let last = 'no answer';
  while (Date.now() < until) {
    try {
      const res = await fetch(`${c.url}/ping`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err.cause?.code ?? err.message;
    }
    if (!running(c.name)) fail(`${c.name} exited before /ping answered 200; its log:\n${containerLogs(c.name)}`);
    // A model that cannot be found will not appear later: say so instead of waiting out the deadline.
    const logs = containerLogs(c.name);
    if (logs.includes('"code":"ERR_MODEL_DIR"')) {
      const hint = c.name.endsWith('-baked')
        ? '\nThe baked model is at SMKIT_BAKED_MODEL_DIR=/opt/smkit/model; smkit serve must use it when /opt/ml/model is absent or empty (see docs/images.md).'
        : '';
      fail(`${c.name}: the server reports ERR_MODEL_DIR (/ping stays 503).${hint}\nIts log:\n${logs.split('\n').slice(-3).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  fail(`${c.name}: /ping did not answer 200 within ${deadlineMs / 1000} s (last: ${last}); its log:\n${containerLogs(c.name)}`);
}

/** The iris round trip: one CSV row of 4 features gives 3 class probabilities (CSV and JSON answers). */
async function checkIris(c) {
  const csv = await fetch(`${c.url}/invocations`, { method: 'POST', headers: { 'content-type': 'text/csv', accept: 'text/csv' }, body: '5.1,3.5,1.4,0.2\n' });
  const csvText = await csv.text();
  if (csv.status !== 200) fail(`${c.name}: POST /invocations (text/csv) answered ${csv.status}: ${csvText}\n${containerLogs(c.name)}`);
  const rows = csvText.trim().split(/\r?\n/);
  const probs = rows[0].split(',').map(Number);
  if (rows.length !== 1 || probs.length !== 3 || probs.some((p) => !Number.isFinite(p) || p < 0 || p > 1)) {
    fail(`${c.name}: expected one CSV row of 3 probabilities, got ${JSON.stringify(csvText)}`);
  }
  if (Math.abs(probs.reduce((a, b) => a + b, 0) - 1) > 1e-3) fail(`${c.name}: probabilities do not sum to 1: ${csvText}`);
  const json = await fetch(`${c.url}/invocations`, { method: 'POST', headers: { 'content-type': 'text/csv', accept: 'application/json' }, body: '5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n' });
  const body = await json.text();
  if (json.status !== 200 || !/^application\/json/.test(json.headers.get('content-type') ?? '')) fail(`${c.name}: JSON answer ${json.status} ${json.headers.get('content-type')}: ${body}`);
  const numbers = [];
  const collect = (v) => (Array.isArray(v) ? v.forEach(collect) : typeof v === 'number' ? numbers.push(v) : v && typeof v === 'object' ? Object.values(v).forEach(collect) : undefined);
  collect(JSON.parse(body));
  if (numbers.length !== 6) fail(`${c.name}: expected 2 rows x 3 probabilities in the JSON answer, got ${body}`);
}

/**
 * How the container's workers share the port: on Node 22.12+ each listens itself (SO_REUSEPORT),
 * whatever their number, elsewhere the primary hands connections over (src/server/connection-balancing.ts).
 */
async function checkConnectionBalancing(c) {
  let start;
  for (const deadline = Date.now() + 5000; !start && Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    const line = sh('podman', ['logs', c.name], { allowFail: true }).stdout.split('\n').find((l) => l.includes('"smkit serve starting"'));
    start = line ? JSON.parse(line) : undefined;
  }
  if (!start) fail(`${c.name}: no "smkit serve starting" line in its log:\n${containerLogs(c.name)}`);
  const nodeVersion = sh('podman', ['exec', c.name, 'node', '-p', 'process.versions.node']).stdout.trim();
  const [major, minor] = nodeVersion.split('.').map(Number);
  const reusePort = major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
  const expected = reusePort ? 'kernel' : 'primary';
  if (start.connectionBalancing !== expected) fail(`${c.name}: connection balancing is ${start.connectionBalancing}, expected ${expected} (Node ${nodeVersion}, ${start.workers} workers)`);
  log(`connection balancing in the image: ${start.connectionBalancing} (Node ${nodeVersion}, ${start.workers} workers)`);
}

async function stopWithSigterm(c) {
  const t0 = Date.now();
  sh('podman', ['kill', '--signal', 'TERM', c.name]);
  await waitForCleanExit(c, t0);
}

/** Waits for the container `c`, sent `signal` at `t0`, to exit 0 within SageMaker's 30 s. */
async function waitForCleanExit(c, t0, signal = 'SIGTERM') {
  const until = t0 + 30_000;
  while (running(c.name)) {
    if (Date.now() > until) fail(`${c.name} was still running 30 s after ${signal} (SageMaker would SIGKILL it); log:\n${containerLogs(c.name)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const code = sh('podman', ['inspect', '--format', '{{.State.ExitCode}}', c.name]).stdout.trim();
  log(`${c.name} stopped ${((Date.now() - t0) / 1000).toFixed(1)} s after ${signal}, exit code ${code}`);
  if (code !== '0') fail(`${c.name} exited with ${code} after ${signal} (expected a clean drain, 0); log:\n${containerLogs(c.name)}`);
}

/**
 * ONNX Runtime's telemetry (official builds 1.29+) would leave a device id under ~/.cache and a
 * mat-debug-<pid>.log in /tmp: in the image (from the build's warm-up) or in the serving container.
 * smkit sets ORT_DISABLE_TELEMETRY=1 before any session starts, so neither may hold one.
 */
function checkNoOnnxRuntimeTelemetry(c) {
  const found = sh('podman', ['exec', c.name, 'sh', '-c', 'ls -d "$HOME/.cache/Microsoft" /root/.cache/Microsoft /tmp/mat-debug-* /tmp/.ses 2>/dev/null; true']).stdout.trim();
  if (found !== '') fail(`${c.name}: ONNX Runtime's telemetry left files in the container: ${found.split('\n').join(', ')}`);
  log('ONNX Runtime telemetry: no device id under ~/.cache, no mat-debug log in /tmp');
}

/** The WebSocket of bidirectional streaming, as SageMaker opens it: one message in, one answer out, then a normal close. */
async function checkBidirectionalStream(c) {
  const { default: WebSocket } = await import('ws');
  const ws = new WebSocket(`${c.url.replace(/^http/, 'ws')}/invocations-bidirectional-stream`);
  const outcome = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ error: 'no answer within 30 s' }), 30_000);
    let answer;
    ws.once('open', () => ws.send('[[5.1,3.5,1.4,0.2]]'));
    ws.once('message', (data, binary) => {
      answer = { text: data.toString(), binary };
      ws.close(1000);
    });
    ws.once('close', (code) => {
      clearTimeout(timer);
      resolve({ ...answer, code });
    });
    ws.once('error', (err) => resolve({ error: err.message }));
  });
  const probs = outcome.text ? JSON.parse(outcome.text)[0] : undefined;
  if (outcome.error || outcome.binary !== false || outcome.code !== 1000 || probs?.length !== 3) fail(`${c.name}: bidirectional stream: ${JSON.stringify(outcome)}\n${containerLogs(c.name)}`);
  log(`${c.name}: bidirectional stream answered ${outcome.text}`);
}

function checkLabels() {
  const inspect = JSON.parse(sh('podman', ['image', 'inspect', IMAGE]).stdout)[0];
  const config = inspect.Config ?? {};
  const labels = config.Labels ?? inspect.Labels ?? {};
  const want = {
    'com.amazonaws.sagemaker.capabilities.accept-bind-to-port': 'true',
    'com.amazonaws.sagemaker.capabilities.multi-models': 'true',
    'com.amazonaws.sagemaker.capabilities.bidirectional-streaming': 'true',
    'dev.smkit.variant': 'cpu',
    'org.opencontainers.image.licenses': 'Apache-2.0',
  };
  for (const [k, v] of Object.entries(want)) if (labels[k] !== v) fail(`label ${k}=${JSON.stringify(labels[k])}, expected ${JSON.stringify(v)}`);
  for (const k of ['org.opencontainers.image.title', 'org.opencontainers.image.version', 'org.opencontainers.image.description']) if (!labels[k]) fail(`label ${k} is missing`);
  if (JSON.stringify(config.Entrypoint) !== JSON.stringify(['/usr/local/bin/smkit-entrypoint'])) fail(`ENTRYPOINT is ${JSON.stringify(config.Entrypoint)}, expected exec form ["/usr/local/bin/smkit-entrypoint"]`);
  if (!Object.keys(config.ExposedPorts ?? {}).some((p) => p.startsWith('8080'))) fail(`port 8080 is not exposed: ${JSON.stringify(config.ExposedPorts)}`);
  const env = config.Env ?? [];
  if (!env.includes('SMKIT_BAKED_MODEL_DIR=/opt/smkit/model')) fail(`SMKIT_BAKED_MODEL_DIR is not set in the image: ${JSON.stringify(env)}`);
  const nodeMajor = sh('podman', ['run', '--rm', IMAGE, 'node', '-p', 'process.versions.node.split(".")[0]']).stdout.trim();
  if (nodeMajor !== '22') fail(`anything other than serve/train should be executed as given: node -p printed ${JSON.stringify(nodeMajor)}, expected 22`);
  // `serve` and `train` on PATH, as AWS's training toolkit and BYOC examples install them: a training job's ContainerEntrypoint ["train"] runs them.
  for (const command of ['serve', 'train']) {
    const usage = sh('podman', ['run', '--rm', '--entrypoint', command, IMAGE, '--help'], { allowFail: true });
    if (usage.status !== 0 || !usage.stdout.startsWith(`Usage: smkit ${command} `)) fail(`--entrypoint ${command} should run smkit ${command}: exit ${usage.status}, output ${JSON.stringify(`${usage.stdout}${usage.stderr}`.slice(0, 300))}`);
  }
}

/**
 * What an image `smkit build` made must do, given the build's output: name itself, carry the
 * checkout's commit as its revision, answer the iris checks in a container, and stop on SIGTERM.
 */
async function checkBuiltImage(buildOutput, image, containerName) {
  if (!buildOutput.includes(`image: ${image}`)) fail(`smkit build did not report the image name ${image}:\n${buildOutput.split('\n').slice(-5).join('\n')}`);
  checkRevisionLabel(image);
  const c = await startContainer(containerName, image);
  await waitForPing(c);
  await checkIris(c);
  await stopWithSigterm(c);
}

/** Fails unless `image` is labelled with the checkout's commit (when the checkout is a git one). */
function checkRevisionLabel(image) {
  const commit = sh('git', ['-C', root, 'rev-parse', '--short=12', 'HEAD'], { allowFail: true }).stdout.trim();
  if (!commit) return;
  const labels = JSON.parse(sh('podman', ['image', 'inspect', image]).stdout)[0].Config?.Labels ?? {};
  const label = labels['org.opencontainers.image.revision'];
  if (label !== commit) fail(`${image} is labelled revision ${JSON.stringify(label)}, expected ${commit}`);
}

/** A /opt/ml tree from opt-ml-template/ (training input) for `<image> train`; undefined when there is none yet. */
async function trainingTree(name = 'opt-ml') {
  const template = path.join(root, 'opt-ml-template');
  const config = path.join(template, 'input', 'config', 'hyperparameters.json');
  if (!existsSync(config)) return undefined;
  const dir = path.join(tmp, name);
  await fs.cp(template, dir, { recursive: true });
  for (const sub of ['model', 'output', 'output/data', 'checkpoints']) await fs.mkdir(path.join(dir, sub), { recursive: true });
  return dir;
}

/** Names of the containers whose name starts with `prefix`: running ones, or with `all` every one podman holds. */
function containersNamed(prefix, { all = false } = {}) {
  const out = sh('podman', ['ps', ...(all ? ['-a'] : []), '--filter', `name=^${prefix}`, '--format', '{{.Names}}']).stdout.trim();
  return out === '' ? [] : out.split('\n');
}

/** Process ids of the `podman run` clients `parentPid` started (its direct children). */
function podmanRunClients(parentPid) {
  const res = sh('pgrep', ['-P', String(parentPid), '-f', '^podman run'], { allowFail: true });
  return res.stdout.trim().split('\n').filter(Boolean).map(Number);
}

/**
 * Starts `smkit local` with the docker backend on podman: on the iris model as `endpoint` with the
 * image under test, or with no endpoint an empty local SageMaker; `env` adds to its environment.
 * Waits for its "ready on" line.
 * `waitFor` polls a condition, failing with the output's tail when it times out or when
 * `smkit local` exits first.
 */
async function startSmkitLocal(endpoint, env = {}, flags = []) {
  const port = await freePort();
  const output = [];
  const target = endpoint === undefined ? [] : [MODEL, '--name', endpoint, '--image', IMAGE];
  const child = spawn(process.execPath, [path.join(root, 'bin', 'smkit.js'), 'local', ...target, '--port', String(port), '--backend', 'docker', '--engine', 'podman', ...flags], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const local = { child, port, output, exitedWith: undefined };
  local.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve((local.exitedWith = signal ?? code))));
  // Once its reaper, which shares its stderr, is done too.
  local.closed = new Promise((resolve) => child.once('close', resolve));
  child.stdout.on('data', (d) => output.push(d.toString()));
  child.stderr.on('data', (d) => output.push(d.toString()));
  local.tail = () => output.join('').trim().split('\n').slice(-25).join('\n');
  local.waitFor = async (what, ok, ms) => {
    const until = Date.now() + ms;
    while (!(await ok())) {
      if (local.exitedWith !== undefined) fail(`smkit local exited (${local.exitedWith}) while waiting for ${what}; its output:\n${local.tail()}`);
      if (Date.now() > until) fail(`smkit local: no ${what} within ${ms / 1000} s; its output:\n${local.tail()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  /** Kills it if it still runs and removes any container of the endpoint left. */
  local.cleanUp = async () => {
    if (local.exitedWith === undefined) {
      child.kill('SIGKILL');
      await local.exited;
    }
    for (const name of containersNamed(`smkit-${endpoint ?? ''}`, { all: true })) if (endpoint !== undefined || name.includes(run)) spawnSync('podman', ['rm', '-f', '-t', '0', name], { stdio: 'ignore' });
  };
  try {
    await local.waitFor('"ready on" line', () => output.join('').includes(`ready on http://127.0.0.1:${port}`), 120_000);
  } catch (err) {
    // Still running, it would keep this script from ever exiting.
    await local.cleanUp();
    throw err;
  }
  return local;
}

/** InvokeEndpoint with the AWS SDK's SageMaker Runtime client through the front door of `local`: one iris row, 3 probabilities back, from `variant`. */
async function invokeThroughFrontDoor(local, endpoint, when, variant = 'AllTraffic') {
  const { SageMakerRuntimeClient, InvokeEndpointCommand } = await import('@aws-sdk/client-sagemaker-runtime');
  const client = new SageMakerRuntimeClient({ endpoint: `http://127.0.0.1:${local.port}`, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
  const out = await client.send(new InvokeEndpointCommand({ EndpointName: endpoint, ContentType: 'text/csv', Accept: 'text/csv', Body: Buffer.from('5.1,3.5,1.4,0.2\n') }));
  client.destroy();
  const text = Buffer.from(out.Body).toString('utf8');
  const probs = text.trim().split(',').map(Number);
  if (out.InvokedProductionVariant !== variant || probs.length !== 3 || Math.abs(probs.reduce((a, b) => a + b, 0) - 1) > 1e-3) {
    fail(`InvokeEndpoint ${when}: variant ${out.InvokedProductionVariant}, body ${JSON.stringify(text)}; expected ${variant} and 3 probabilities summing to 1`);
  }
}

/**
 * `smkit local` with the docker backend on podman, as a user without Docker runs it: a local
 * endpoint from the image, invoked with the AWS SDK through the front door; the container's
 * `podman run` client killed (the container lives on under conmon), which the local endpoint must
 * treat as a dead instance (the container removed, a replacement started); then SIGTERM to
 * `smkit local`, after which no container of the endpoint may be left.
 */
async function checkLocalDockerBackend() {
  const endpoint = `${run}-local`;
  const prefix = `smkit-${endpoint}-`;
  const local = await startSmkitLocal(endpoint);
  try {
    await invokeThroughFrontDoor(local, endpoint, 'through the front door');
    const first = containersNamed(prefix, { all: true });
    if (first.length !== 1 || !running(first[0])) fail(`expected one running container named ${prefix}*, podman holds: ${JSON.stringify(first)}`);
    const [firstName] = first;
    const mounts = JSON.parse(sh('podman', ['inspect', '--format', '{{json .Mounts}}', firstName]).stdout);
    const model = mounts.find((m) => m.Destination === '/opt/ml/model');
    if (!model || model.RW !== false) fail(`${firstName}: /opt/ml/model is not mounted read-only: ${JSON.stringify(mounts)}`);
    log(`smkit local runs ${firstName} (model mounted read-only) and answered the SDK's InvokeEndpoint`);

    const clients = podmanRunClients(local.child.pid);
    if (clients.length !== 1) fail(`expected one 'podman run' client under smkit local (pid ${local.child.pid}), found ${JSON.stringify(clients)}`);
    process.kill(clients[0], 'SIGKILL');
    await local.waitFor('replacement instance in service', () => local.output.join('').includes('replacement instance in service'), 120_000);
    const after = containersNamed(prefix, { all: true });
    if (after.includes(firstName)) fail(`the container whose client was killed, ${firstName}, is still there after its replacement started: ${JSON.stringify(after)}`);
    if (after.length !== 1 || !running(after[0])) fail(`expected one running replacement container, podman holds: ${JSON.stringify(after)}`);
    await invokeThroughFrontDoor(local, endpoint, 'after the instance was replaced');
    log(`the killed client's container was removed and ${after[0]} replaced it`);

    local.child.kill('SIGTERM');
    let timer;
    await Promise.race([local.exited, new Promise((r) => (timer = setTimeout(r, 60_000)))]);
    clearTimeout(timer);
    if (local.exitedWith === undefined) fail(`smkit local was still running 60 s after SIGTERM; its output:\n${local.tail()}`);
    if (local.exitedWith !== 0) fail(`smkit local exited with ${local.exitedWith} after SIGTERM, expected 0; its output:\n${local.tail()}`);
    await local.closed;
    if (local.output.join('').includes('ended without stopping')) fail(`a clean stop left its reaper something to do:\n${local.tail()}`);
    const left = containersNamed(prefix, { all: true });
    if (left.length > 0) fail(`containers left after smkit local stopped: ${JSON.stringify(left)}`);
  } finally {
    await local.cleanUp();
  }
}

/**
 * The local SageMaker as deploy scripts drive it, on podman: `CreateModel` with the image under
 * test as the container's `Image` (a real-time endpoint of two instances, and a multi-model one
 * whose models are `.tar.gz` files in a folder), `CreateEndpoint`, `InvokeEndpoint` (with
 * `TargetModel` for the multi-model one), all with the AWS SDK; `DeleteEndpoint` removes their
 * containers.
 */
async function checkLocalSageMakerOnPodman() {
  const local = await startSmkitLocal(undefined);
  const { SageMakerClient, CreateModelCommand, CreateEndpointConfigCommand, CreateEndpointCommand, DescribeEndpointCommand, DeleteEndpointCommand } = await import('@aws-sdk/client-sagemaker');
  const { SageMakerRuntimeClient, InvokeEndpointCommand } = await import('@aws-sdk/client-sagemaker-runtime');
  const config = { endpoint: `http://127.0.0.1:${local.port}`, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 };
  const sm = new SageMakerClient(config);
  const runtime = new SageMakerRuntimeClient(config);
  const models = path.join(tmp, 'mme-models');
  await fs.mkdir(models);
  sh('tar', ['czf', path.join(models, 'iris.tar.gz'), '-C', MODEL, '.']);
  const names = { rt: `${run}-rt`, mme: `${run}-mme` };
  try {
    const role = 'arn:aws:iam::000000000000:role/SageMakerRole';
    await sm.send(new CreateModelCommand({ ModelName: names.rt, ExecutionRoleArn: role, PrimaryContainer: { Image: IMAGE, ModelDataUrl: MODEL } }));
    await sm.send(new CreateModelCommand({ ModelName: names.mme, ExecutionRoleArn: role, PrimaryContainer: { Image: IMAGE, ModelDataUrl: `${models}/`, Mode: 'MultiModel' } }));
    for (const [name, count] of [[names.rt, 2], [names.mme, 1]]) {
      await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: name, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: name, InitialInstanceCount: count, InstanceType: 'ml.m5.large' }] }));
      await sm.send(new CreateEndpointCommand({ EndpointName: name, EndpointConfigName: name }));
    }
    for (const name of Object.values(names)) {
      let status;
      await local.waitFor(`${name} to leave Creating`, async () => (status = (await sm.send(new DescribeEndpointCommand({ EndpointName: name }))).EndpointStatus) !== 'Creating', 120_000);
      if (status !== 'InService') fail(`endpoint ${name} is ${status}: ${(await sm.send(new DescribeEndpointCommand({ EndpointName: name }))).FailureReason}`);
    }
    const running = containersNamed(`smkit-${run}-`);
    if (running.filter((n) => n.startsWith(`smkit-${names.rt}-`)).length !== 2 || running.filter((n) => n.startsWith(`smkit-${names.mme}-`)).length !== 1) {
      fail(`expected two containers for ${names.rt} and one for ${names.mme}, podman runs: ${JSON.stringify(running)}`);
    }
    for (const [name, extra] of [[names.rt, {}], [names.mme, { TargetModel: 'iris.tar.gz' }]]) {
      const out = await runtime.send(new InvokeEndpointCommand({ EndpointName: name, ContentType: 'text/csv', Accept: 'text/csv', Body: Buffer.from('5.1,3.5,1.4,0.2\n'), ...extra }));
      const text = Buffer.from(out.Body).toString('utf8');
      const probs = text.trim().split(',').map(Number);
      if (probs.length !== 3 || Math.abs(probs.reduce((a, b) => a + b, 0) - 1) > 1e-3) fail(`InvokeEndpoint ${name}: ${JSON.stringify(text)}; expected 3 probabilities summing to 1`);
    }
    for (const name of Object.values(names)) await sm.send(new DeleteEndpointCommand({ EndpointName: name }));
    await local.waitFor('the deleted endpoints\' containers to be removed', () => containersNamed(`smkit-${run}-`, { all: true }).length === 0, 60_000);
    log('the local SageMaker ran a real-time and a multi-model endpoint from the image, answered InvokeEndpoint and removed their containers on DeleteEndpoint');
  } finally {
    sm.destroy();
    runtime.destroy();
    await local.cleanUp();
  }
}

/**
 * A GPU instance type with `smkit local --gpus all` where podman has no NVIDIA CDI specification
 * (no GPU here): podman refuses the container, and the endpoint fails with a FailureReason that
 * names the NVIDIA Container Toolkit step and --gpus none, instead of only podman's own line.
 */
async function checkGpuRefusedOnPodman() {
  const cdiSpecs = ['/etc/cdi', '/var/run/cdi'].flatMap((dir) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('nvidia')) : []));
  if (cdiSpecs.length > 0) return log(`skipped: this machine has an NVIDIA CDI specification (${cdiSpecs.join(', ')}), so podman would give the container its GPUs`);
  const local = await startSmkitLocal(undefined, {}, ['--gpus', 'all']);
  const { SageMakerClient, CreateModelCommand, CreateEndpointConfigCommand, CreateEndpointCommand, DescribeEndpointCommand } = await import('@aws-sdk/client-sagemaker');
  const sm = new SageMakerClient({ endpoint: `http://127.0.0.1:${local.port}`, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
  const name = `${run}-gpu`;
  try {
    await sm.send(new CreateModelCommand({ ModelName: name, ExecutionRoleArn: 'arn:aws:iam::000000000000:role/SageMakerRole', PrimaryContainer: { Image: IMAGE, ModelDataUrl: MODEL } }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: name, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: name, InitialInstanceCount: 1, InstanceType: 'ml.g5.xlarge' }] }));
    await sm.send(new CreateEndpointCommand({ EndpointName: name, EndpointConfigName: name }));
    let described;
    await local.waitFor(`${name} to leave Creating`, async () => (described = await sm.send(new DescribeEndpointCommand({ EndpointName: name }))).EndpointStatus !== 'Creating', 120_000);
    const reason = described.FailureReason ?? '';
    if (described.EndpointStatus !== 'Failed' || !/podman could not give the container the GPUs .*nvidia-ctk cdi generate.*--gpus none/s.test(reason) || !reason.includes('unresolvable CDI devices')) {
      fail(`endpoint ${name} on ml.g5.xlarge with --gpus all: expected Failed with a FailureReason naming the CDI step, --gpus none and podman's own line; got ${described.EndpointStatus}: ${reason}`);
    }
    log(`podman refused the GPUs and the endpoint failed saying how to fix it: ${reason.split('\n')[0]}`);
  } finally {
    sm.destroy();
    await local.cleanUp();
  }
}

/**
 * The rehearsal docs/deploy.md describes, with the image under test as `deploy.image`: a local S3
 * (s3rver), the local SageMaker on podman, `smkit deploy endpoints.yaml --endpoint-url` (package,
 * upload, CreateModel, CreateEndpoint, wait), an invocation through the front door, then
 * `smkit deploy --delete`, after which no container of the endpoint may be left.
 */
async function checkDeployToLocalSageMakerOnPodman() {
  const { createRequire } = await import('node:module');
  const S3rver = createRequire(import.meta.url)('s3rver');
  const dir = path.join(tmp, 'deploy');
  await fs.mkdir(path.join(dir, 's3'), { recursive: true });
  const endpoint = `${run}-deploy`;
  await fs.writeFile(
    path.join(dir, 'endpoints.yaml'),
    [
      'deploy:',
      '  role: arn:aws:iam::123456789012:role/SageMakerExecutionRole',
      '  artifacts: s3://smkit-image-test/artifacts/',
      `  image: ${IMAGE}`,
      'endpoints:',
      `  - name: ${endpoint}`,
      '    variants:',
      '      - name: A',
      `        model: ${MODEL}`,
      '',
    ].join('\n'),
  );
  const s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: path.join(dir, 's3'), configureBuckets: [{ name: 'smkit-image-test', configs: [] }] });
  const { port: s3Port } = await s3.run();
  const s3Env = { AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${s3Port}` };
  // A local SageMaker that does not start must not leave s3rver listening: this script would never exit.
  const local = await startSmkitLocal(undefined, s3Env).catch(async (err) => {
    await s3.close();
    throw err;
  });
  const deploy = (...extra) =>
    logged(`deploy${extra.join('')}`, process.execPath, [path.join(root, 'bin', 'smkit.js'), 'deploy', path.join(dir, 'endpoints.yaml'), '--endpoint-url', `http://127.0.0.1:${local.port}`, ...extra], { ...process.env, ...s3Env });
  try {
    const out = await deploy();
    if (!out.includes(`endpoint ${endpoint} is InService`)) fail(`smkit deploy did not report ${endpoint} InService:\n${out.trim().split('\n').slice(-8).join('\n')}`);
    const running = containersNamed(`smkit-${endpoint}-`);
    if (running.length !== 1) fail(`expected one container for ${endpoint}, podman runs: ${JSON.stringify(running)}`);
    const image = sh('podman', ['inspect', '--format', '{{.ImageName}}', running[0]]).stdout.trim();
    if (image !== IMAGE) fail(`${running[0]} runs ${image}, not deploy.image ${IMAGE}`);
    await invokeThroughFrontDoor(local, endpoint, 'after smkit deploy', 'A');
    await deploy('--delete');
    await local.waitFor(`the containers of ${endpoint} to be removed after --delete`, () => containersNamed(`smkit-${endpoint}-`, { all: true }).length === 0, 60_000);
    log(`smkit deploy created ${endpoint} from the image, which answered, and --delete removed it`);
  } finally {
    await local.cleanUp();
    await s3.close();
  }
}

/**
 * `smkit local` killed with SIGKILL (or crashing) cannot stop its containers, which run under the
 * engine: its reaper process must remove them, and its work folder, once it is gone.
 */
async function checkLocalKilledLeavesNoContainer() {
  const endpoint = `${run}-killed`;
  const prefix = `smkit-${endpoint}-`;
  // Its own TMPDIR: the work folders found there are this smkit local's, whatever else runs.
  const scratch = path.join(tmp, 'killed-tmp');
  await fs.mkdir(scratch);
  const workFolders = async () => (await fs.readdir(scratch)).filter((n) => /^smkit-(local|sagemaker)-/.test(n));
  const local = await startSmkitLocal(endpoint, { TMPDIR: scratch });
  try {
    const names = containersNamed(prefix, { all: true });
    if (names.length !== 1 || !running(names[0])) fail(`expected one running container named ${prefix}*, podman holds: ${JSON.stringify(names)}`);
    const made = await workFolders();
    if (made.length === 0) fail(`smkit local made no smkit-local-* or smkit-sagemaker-* folder in ${scratch}`);
    local.child.kill('SIGKILL');
    await local.exited;
    const until = Date.now() + 60_000;
    let left = names;
    while ((left = containersNamed(prefix, { all: true })).length > 0) {
      if (Date.now() > until) fail(`60 s after smkit local was killed, its container is still there: ${JSON.stringify(left)}; smkit local's output:\n${local.tail()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    // The folders go once the containers are gone.
    let kept = made;
    while ((kept = made.filter((n) => existsSync(path.join(scratch, n)))).length > 0) {
      if (Date.now() > until) fail(`60 s after smkit local was killed, its work folders are still there: ${kept.join(', ')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    log(`${names[0]} and ${made.join(', ')} were removed after smkit local was killed`);
  } finally {
    await local.cleanUp();
  }
}

async function main() {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-image-test-'));
  if (!existsSync(path.join(MODEL, 'model.onnx'))) fail(`${MODEL}/model.onnx is missing: generate the example models first`);

  await step('podman and base image', async () => {
    const res = spawnSync('bash', [path.join(root, 'scripts', 'setup-podman.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (res.status !== 0) fail('podman could not be set up (see the setup-podman messages above); the image was NOT tested');
  });

  await step('build CPU image from Dockerfile', () => logged('podman-build', 'podman', ['build', '-t', IMAGE, root]));
  const size = Number(sh('podman', ['image', 'inspect', '--format', '{{.Size}}', IMAGE]).stdout.trim());
  log(`image ${IMAGE}: ${(size / 1e6).toFixed(1)} MB`);

  await check('labels, entrypoint, exec dispatch', async () => checkLabels());
  await check('the image carries no build tools, tests, caches or files Node never loads', async () => {
    const unwanted = [
      '/app/src', '/app/test', '/app/bench', '/app/docs', '/app/assembly', '/root/.npm',
      '/app/node_modules/typescript', '/app/node_modules/assemblyscript', // dev dependencies
      '/app/node_modules/protobufjs/cli', '/app/node_modules/@img/sharp-wasm32', // see the Dockerfile's deps stage
    ];
    const script = [
      `for p in ${unwanted.join(' ')}; do [ -e "$p" ] && echo "$p"; done`,
      "find /app/dist -name '*.test.*' | head -3",
      "find /app/node_modules -name '*.map' | head -3",
      `ls -d /app/node_modules/onnxruntime-node/bin/napi-v6/*/* | grep -v /linux/${process.arch}$`,
      'true',
    ].join('; ');
    const found = sh('podman', ['run', '--rm', IMAGE, 'sh', '-c', script]).stdout.trim();
    if (found !== '') fail(`the image holds what it need not:\n${found}`);
  });
  await check('the image carries a warm compile cache (Node 22.1+)', async () => {
    const script = [
      "const m = await import('node:module'); const fs = await import('node:fs');",
      "const dir = process.env.NODE_COMPILE_CACHE;",
      "console.log(JSON.stringify({ dir, active: m.getCompileCacheDir?.(), entries: dir ? fs.readdirSync(dir, { recursive: true }).length : 0 }));",
    ].join(' ');
    const out = JSON.parse(sh('podman', ['run', '--rm', '-w', '/app', IMAGE, 'node', '--input-type=module', '-e', script]).stdout.trim());
    if (out.dir !== '/opt/smkit/compile-cache' || !out.active?.startsWith(out.dir)) fail(`NODE_COMPILE_CACHE is not in effect in the image: ${JSON.stringify(out)}`);
    if (out.entries < 50) fail(`the compile cache holds ${out.entries} entries; the Dockerfile's warm-up should leave one per module a cold start loads`);
    log(`compile cache: ${out.entries} entries`);
  });
  await check('the warm-up build step passes where Node keeps no compile cache (NODE_IMAGE=node:20-…)', async () => {
    // Node before 22.1 ignores NODE_COMPILE_CACHE and makes no folder: the warm-up read it and failed
    // the build (ENOENT). NODE_DISABLE_COMPILE_CACHE=1 makes Node 22 do the same.
    const script = path.join(root, 'docker', 'warm-compile-cache.mjs');
    const res = sh('podman', ['run', '--rm', '--network', 'none', '-e', 'NODE_DISABLE_COMPILE_CACHE=1', '-e', 'NODE_COMPILE_CACHE=/tmp/no-cache-here', '-v', `${script}:/tmp/warm.mjs:ro`, '-v', `${MODEL}:/tmp/model:ro`, IMAGE, 'node', '/tmp/warm.mjs', '/tmp/model'], { allowFail: true, timeoutMs: 180_000 });
    const out = `${res.stdout}${res.stderr}`;
    if (res.status !== 0 || !out.includes('nothing cached')) fail(`the warm-up without a compile cache: exit ${res.status}; output:\n${out.trim().split('\n').slice(-10).join('\n')}`);
  });
  await check('a worker with batching on finds its code in the compile cache', async () => {
    // A batching worker starts with a young-generation flag, which on Node 22 changes V8's cache tag
    // and so the cache directory it reads. A tag directory that appears while it serves is code
    // that every such cold start compiled again: the Dockerfile's warm-up did not cover it.
    const script = [
      "const fs = await import('node:fs'); const { spawn } = await import('node:child_process');",
      'const dir = process.env.NODE_COMPILE_CACHE; fs.accessSync(dir, fs.constants.W_OK);',
      'const before = fs.readdirSync(dir);',
      "const child = spawn(process.execPath, ['/app/bin/smkit.js', 'serve', '--model-dir', '/opt/ml/model', '--port', '18081', '--host', '127.0.0.1', '--workers', '1'], { stdio: 'inherit', env: { ...process.env, SMKIT_BATCH_MAX_SIZE: '8', SMKIT_LOG_LEVEL: 'warn' } });",
      "const exited = new Promise((r) => child.once('exit', (code, signal) => r(code ?? signal)));",
      'const deadline = Date.now() + 60_000;',
      "while (!(await fetch('http://127.0.0.1:18081/ping').then((r) => r.status === 200, () => false))) { if (Date.now() > deadline) throw new Error('no /ping 200'); await new Promise((r) => setTimeout(r, 100)); }",
      "const res = await fetch('http://127.0.0.1:18081/invocations', { method: 'POST', headers: { 'content-type': 'text/csv' }, body: '5.1,3.5,1.4,0.2\\n' });",
      "child.kill('SIGTERM'); const code = await exited;",
      'console.log(JSON.stringify({ status: res.status, code, before, after: fs.readdirSync(dir) }));',
    ].join(' ');
    const out = JSON.parse(sh('podman', ['run', '--rm', '-v', `${MODEL}:/opt/ml/model:ro`, IMAGE, 'node', '--input-type=module', '-e', script]).stdout.trim().split('\n').pop());
    if (out.status !== 200 || out.code !== 0) fail(`smkit serve with batching on in the image: answer ${out.status}, exit ${out.code}`);
    const added = out.after.filter((d) => !out.before.includes(d));
    if (added.length > 0) fail(`a batching worker compiled its code afresh (new cache directories ${added.join(', ')}; warmed: ${out.before.join(', ')}): see docker/warm-compile-cache.mjs`);
    log(`compile cache directories: ${out.before.join(', ')}`);
  });
  await check('a non-root user on a read-only root reads the compile cache root made at build time', async () => {
    // Node files its cache under the uid that wrote it and writes entries 0600: without
    // bin/smkit.js's links and the warm-up's chmod, uid 1000 compiled every module afresh.
    const script = [
      "const { spawn } = await import('node:child_process');",
      "const child = spawn(process.execPath, ['/app/bin/smkit.js', 'serve', '--model-dir', '/opt/ml/model', '--port', '18082', '--host', '127.0.0.1', '--workers', '1'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_DEBUG_NATIVE: 'COMPILE_CACHE', SMKIT_LOG_LEVEL: 'warn' } });",
      "let err = ''; child.stderr.on('data', (d) => { err += d; });",
      "const exited = new Promise((r) => child.once('exit', (code, signal) => r(code ?? signal)));",
      'const deadline = Date.now() + 60_000;',
      "while (!(await fetch('http://127.0.0.1:18082/ping').then((r) => r.status === 200, () => false))) { if (Date.now() > deadline) throw new Error('no /ping 200'); await new Promise((r) => setTimeout(r, 100)); }",
      "const res = await fetch('http://127.0.0.1:18082/invocations', { method: 'POST', headers: { 'content-type': 'text/csv' }, body: '5.1,3.5,1.4,0.2\\n' });",
      "child.kill('SIGTERM'); const code = await exited;",
      // Counted, not paired: the processes' and threads' debug lines interleave.
      "console.log(JSON.stringify({ status: res.status, code, reads: err.split('reading cache from').length - 1, hits: err.split('success, size=').length - 1 }));",
    ].join(' ');
    const out = JSON.parse(
      sh('podman', ['run', '--rm', '--network', 'none', '--read-only', '--tmpfs', '/tmp', '--user', '1000:1000', '-v', `${MODEL}:/opt/ml/model:ro`, IMAGE, 'node', '--input-type=module', '-e', script]).stdout.trim().split('\n').pop(),
    );
    if (out.status !== 200 || out.code !== 0) fail(`smkit serve as uid 1000 in the image: answer ${out.status}, exit ${out.code}`);
    // Not all: a module a thread loads just before it is stopped (pino's real-require) misses as root too.
    if (out.hits < 50 || out.hits < 0.9 * out.reads) fail(`as uid 1000 ${out.hits} of the ${out.reads} modules looked up came from the compile cache, expected nearly all (50 or more)`);
    log(`compile cache as uid 1000: ${out.hits} of the ${out.reads} modules looked up came from it`);
  });
  await check('TF.js loads in the image (wasm backend)', async () => {
    const script = [
      "const tf = await import('@tensorflow/tfjs');",
      "await import('@tensorflow/tfjs-backend-wasm');",
      "const { setWasmPaths } = await import('@tensorflow/tfjs-backend-wasm');",
      "setWasmPaths('/app/node_modules/@tensorflow/tfjs-backend-wasm/dist/');",
      "await tf.setBackend('wasm'); await tf.ready();",
      "console.log(tf.getBackend(), tf.tensor([1, 2, 3]).sum().dataSync()[0]);",
    ].join(' ');
    const out = sh('podman', ['run', '--rm', '-w', '/app', IMAGE, 'node', '--input-type=module', '-e', script]).stdout.trim();
    if (out !== 'wasm 6') fail(`TF.js on wasm printed ${JSON.stringify(out)}, expected "wasm 6"`);
  });

  await check('the WebAssembly number parsers and JSON writer are built into the image', async () => {
    const script = [
      "const m = await import('/app/dist/src/codecs/numeric-text-wasm.js'); const t = m.parsePlainCsv(Buffer.from('1.5,-2\\n3,4\\n'), true);",
      "const w = await import('/app/dist/src/codecs/number-json-wasm.js');",
      "console.log(m.numericWasmAvailable(), t && t.shape.join('x'), t && Array.from(t.data).join(','), w.numberJsonWasmAvailable(), t && w.floatTensorJsonText(t));",
    ].join(' ');
    const out = sh('podman', ['run', '--rm', '-w', '/app', IMAGE, 'node', '--input-type=module', '-e', script]).stdout.trim();
    const want = 'true 2x2 1.5,-2,3,4 true [[1.5,-2.0],[3.0,4.0]]';
    if (out !== want) fail(`the WebAssembly check printed ${JSON.stringify(out)}, expected ${JSON.stringify(want)}`);
  });

  await check('serve with /opt/ml/model mounted read-only, then SIGTERM', async () => {
    const c = await startContainer('mounted', IMAGE, { volumes: [`${MODEL}:/opt/ml/model:ro`] });
    await waitForPing(c);
    await checkIris(c);
    await checkBidirectionalStream(c);
    await checkConnectionBalancing(c);
    checkNoOnnxRuntimeTelemetry(c);
    await stopWithSigterm(c);
  });

  // How security-minded platforms run containers: no network at all (nothing may look up a name or
  // download at start), a read-only root with only /tmp writable, a user other than root with the
  // root-owned /opt/ml of a mount. SageMaker itself runs the image as root with a network.
  await check('serve with no network, a read-only root (tmpfs /tmp) and a non-root user', async () => {
    const c = await startContainer('isolated', IMAGE, {
      runArgs: ['--network', 'none', '--read-only', '--tmpfs', '/tmp', '--user', '1000:1000'],
      volumes: [`${MODEL}:/opt/ml/model:ro`],
    });
    const until = Date.now() + 90_000;
    let ping = '';
    while (!(ping = fetchInside(c, '/ping')).startsWith('200 ')) {
      if (!running(c.name)) fail(`${c.name} exited before /ping answered 200; its log:\n${containerLogs(c.name)}`);
      if (Date.now() > until) fail(`${c.name}: /ping did not answer 200 within 90 s (last: ${ping}); its log:\n${containerLogs(c.name)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const answer = fetchInside(c, '/invocations', { method: 'POST', headers: { 'content-type': 'text/csv' }, body: '5.1,3.5,1.4,0.2\n' });
    if (!/^200 \[\[[\d.e+-]+,[\d.e+-]+,[\d.e+-]+\]\]$/.test(answer)) fail(`${c.name}: POST /invocations answered ${JSON.stringify(answer)}\n${containerLogs(c.name)}`);
    const warnings = containerLogs(c.name).split('\n').filter((l) => /"level":"(warn|error|fatal)"/.test(l));
    if (warnings.length > 0) fail(`${c.name}: the server logged warnings or errors:\n${warnings.join('\n')}`);
    await stopWithSigterm(c);
  });

  // The GPU image cannot be built here (no CUDA base, no nuget.org) and there is no GPU. Its
  // stand-in: the CPU image with an (empty) CUDA provider library where the GPU image's install puts
  // one, and the GPU image's SMKIT_DEVICE=auto. No GPU path runs: this checks the CPU fallback only.
  await check('GPU image stand-in on this CPU-only machine: CPU fallback with a warning', async () => {
    const lib = `/app/node_modules/onnxruntime-node/bin/napi-v6/linux/${process.arch}/libonnxruntime_providers_cuda.so`;
    const c = await startContainer('gpu-stand-in', IMAGE, {
      runArgs: ['--entrypoint', 'sh'],
      env: { SMKIT_DEVICE: 'auto', SMKIT_IMAGE_VARIANT: 'gpu' },
      volumes: [`${MODEL}:/opt/ml/model:ro`],
      args: ['-c', `touch ${lib} && exec /usr/local/bin/smkit-entrypoint serve`],
    });
    await waitForPing(c);
    await checkIris(c);
    const logs = sh('podman', ['logs', c.name], { allowFail: true });
    const text = `${logs.stdout}${logs.stderr}`;
    if (!text.includes('SMKIT_DEVICE=auto: this onnxruntime-node build has the CUDA execution provider (the GPU image) but no GPU is visible')) fail(`${c.name}: no warning that the GPU image runs without a GPU; log:\n${containerLogs(c.name)}`);
    if (!text.includes('"backend":"cpu"')) fail(`${c.name}: the model did not load on CPU; log:\n${containerLogs(c.name)}`);
    await stopWithSigterm(c);
  });

  await check('SIGTERM while a request is in flight: it finishes, new ones get 503, exit 0', async () => {
    // A handler that holds its request until the test creates /tmp/release: no timing involved.
    const model = path.join(tmp, 'held-model');
    await fs.mkdir(path.join(model, 'code'), { recursive: true });
    await fs.writeFile(
      path.join(model, 'code', 'inference.mjs'),
      [
        "import { existsSync, writeFileSync } from 'node:fs';",
        'export function modelFn() { return {}; }',
        'export async function transformFn(model, body) {',
        "  writeFileSync('/tmp/started', '');",
        "  while (!existsSync('/tmp/release')) await new Promise((r) => setTimeout(r, 50));",
        "  return `finished ${body.toString()}`;",
        '}',
        '',
      ].join('\n'),
    );
    const c = await startContainer('drain', IMAGE, { runArgs: ['--read-only', '--tmpfs', '/tmp'], volumes: [`${model}:/opt/ml/model:ro`] });
    await waitForPing(c);
    const held = fetch(`${c.url}/invocations`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'in flight' }).then(
      async (r) => `${r.status} ${await r.text()}`,
      (err) => `no answer: ${err.cause?.code ?? err.message}`,
    );
    const until = Date.now() + 30_000;
    while (sh('podman', ['exec', c.name, 'test', '-e', '/tmp/started'], { allowFail: true }).status !== 0) {
      if (Date.now() > until) fail(`${c.name}: the held request never reached the handler; log:\n${containerLogs(c.name)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const t0 = Date.now();
    sh('podman', ['kill', '--signal', 'TERM', c.name]);
    while (!containerLogs(c.name).includes('"msg":"draining')) {
      if (Date.now() > until) fail(`${c.name}: no 'draining' log line after SIGTERM; log:\n${containerLogs(c.name)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const during = await statusOnNewConnection(`${c.url}/ping`);
    if (during !== 503) fail(`${c.name}: /ping while draining answered ${during}, expected 503`);
    sh('podman', ['exec', c.name, 'touch', '/tmp/release']);
    const answer = await held;
    if (answer !== '200 finished in flight') fail(`${c.name}: the request in flight at SIGTERM got ${JSON.stringify(answer)}, expected its 200\n${containerLogs(c.name)}`);
    await waitForCleanExit(c, t0);
  });

  await check('processes user code leaves behind are reaped (tini is PID 1); SIGINT drains as SIGTERM does', async () => {
    // Each invocation starts a shell that exits at once, leaving its background `sleep 1` to PID 1.
    // Node, as PID 1, never waits for a process it did not start: each would stay a zombie for good.
    const model = path.join(tmp, 'orphan-model');
    await fs.mkdir(path.join(model, 'code'), { recursive: true });
    await fs.writeFile(
      path.join(model, 'code', 'inference.mjs'),
      [
        "import { spawn } from 'node:child_process';",
        'export function modelFn() { return {}; }',
        'export async function transformFn() {',
        "  await new Promise((resolve) => spawn('sh', ['-c', 'sleep 1 & exit 0'], { stdio: 'ignore' }).once('exit', resolve));",
        "  return 'spawned';",
        '}',
        '',
      ].join('\n'),
    );
    const c = await startContainer('orphans', IMAGE, { volumes: [`${model}:/opt/ml/model:ro`] });
    await waitForPing(c);
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${c.url}/invocations`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
      const body = await res.text();
      if (res.status !== 200 || body !== 'spawned') fail(`${c.name}: POST /invocations answered ${res.status}: ${body}\n${containerLogs(c.name)}`);
    }
    const sleeps = () =>
      sh('podman', ['exec', c.name, 'sh', '-c', 'for f in /proc/[0-9]*/stat; do cat "$f" 2>/dev/null; echo; done'])
        .stdout.split('\n')
        .filter((l) => l.includes(' (sleep) '))
        .map((l) => l.split(' ').slice(0, 4).join(' '));
    // A sleep lasts 1 s; one still listed (state Z: a zombie) after 60 s was never reaped.
    const until = Date.now() + 60_000;
    let left;
    while ((left = sleeps()).length > 0) {
      if (Date.now() > until) fail(`${c.name}: the processes left to PID 1 were never reaped (pid (comm) state ppid): ${left.join('; ')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const pid1 = sh('podman', ['exec', c.name, 'cat', '/proc/1/comm']).stdout.trim();
    if (pid1 !== 'tini') fail(`${c.name}: PID 1 is ${pid1}, expected tini`);
    const t0 = Date.now();
    sh('podman', ['kill', '--signal', 'INT', c.name]);
    await waitForCleanExit(c, t0, 'SIGINT');
  });

  await check('multi-model endpoint (SAGEMAKER_MULTI_MODEL=true): load, invoke, unload', async () => {
    const c = await startContainer('mme', IMAGE, { env: { SAGEMAKER_MULTI_MODEL: 'true' }, volumes: [`${MODEL}:/opt/ml/models/iris/model:ro`] });
    await waitForPing(c);
    const loaded = await fetch(`${c.url}/models`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model_name: 'iris', url: '/opt/ml/models/iris/model' }),
    });
    if (loaded.status !== 200) fail(`${c.name}: POST /models answered ${loaded.status}: ${await loaded.text()}\n${containerLogs(c.name)}`);
    const res = await fetch(`${c.url}/models/iris/invoke`, { method: 'POST', headers: { 'content-type': 'text/csv', 'x-amzn-sagemaker-target-model': 'iris.tar.gz' }, body: '5.1,3.5,1.4,0.2\n' });
    const body = await res.text();
    if (res.status !== 200) fail(`${c.name}: POST /models/iris/invoke answered ${res.status}: ${body}`);
    const gone = await fetch(`${c.url}/models/iris`, { method: 'DELETE' });
    if (gone.status !== 200) fail(`${c.name}: DELETE /models/iris answered ${gone.status}`);
    const after = await fetch(`${c.url}/models/iris/invoke`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: '5.1,3.5,1.4,0.2\n' });
    if (after.status !== 404) fail(`${c.name}: invoking an unloaded model answered ${after.status}, expected 404`);
    await stopWithSigterm(c);
  });

  await check('serve a TF.js image model (sharp + TF.js inside the image)', async () => {
    const { default: sharp } = await import('sharp');
    const png = await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 230, g: 20, b: 20 } } }).png().toBuffer();
    const c = await startContainer('tfjs', IMAGE, { volumes: [`${path.join(root, 'models', 'tfjs-image')}:/opt/ml/model:ro`] });
    await waitForPing(c);
    const res = await fetch(`${c.url}/invocations`, { method: 'POST', headers: { 'content-type': 'image/png', accept: 'application/json' }, body: png });
    const body = await res.text();
    if (res.status !== 200) fail(`${c.name}: POST /invocations (image/png) answered ${res.status}: ${body}\n${containerLogs(c.name)}`);
    if (!/^\W*\{?"?label"?\W+red\b/.test(body) && !body.includes('"red"')) fail(`${c.name}: a red PNG was not classified red: ${body}`);
    log(`TF.js model answered: ${body.trim().slice(0, 160)}`);
    await stopWithSigterm(c);
  });

  const tree = await trainingTree();
  if (!tree) {
    skipped.push('train: opt-ml-template/input/config/hyperparameters.json does not exist yet');
  } else {
    await check('train on a mounted /opt/ml', async () => {
      const name = `${run}-train`;
      containers.push(name);
      const res = sh('podman', ['run', '--name', name, '-v', `${tree}:/opt/ml`, '-e', 'TRAINING_JOB_NAME=smkit-image-test', IMAGE, 'train'], { allowFail: true, timeoutMs: 300_000 });
      if (res.status !== 0) {
        const failure = await fs.readFile(path.join(tree, 'output', 'failure'), 'utf8').catch(() => '(no output/failure)');
        fail(`train exited with ${res.status}; output/failure: ${failure}\n${`${res.stdout}${res.stderr}`.trim().split('\n').slice(-30).join('\n')}`);
      }
      const written = await fs.readdir(path.join(tree, 'model'));
      if (!written.includes('model.onnx')) fail(`train exited 0 but /opt/ml/model has no model.onnx (it has: ${written.join(', ') || 'nothing'})`);
      log(`train wrote model/${written.join(', model/')}`);
      // The trained model must serve from the same image.
      const c = await startContainer('trained', IMAGE, { volumes: [`${path.join(tree, 'model')}:/opt/ml/model:ro`] });
      await waitForPing(c);
      const answer = await fetch(`${c.url}/invocations`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: '5.1,3.5,1.4,0.2\n' });
      const body = await answer.text();
      if (answer.status !== 200 || body.trim() === '') fail(`${c.name}: the trained model answered ${answer.status}: ${body}\n${containerLogs(c.name)}`);
      log(`trained model answered: ${body.trim().slice(0, 200)}`);
      await stopWithSigterm(c);
    });

    await check('train stopped with SIGTERM (StopTrainingJob): the entry point gets it, checkpoints, and the container exits 0', async () => {
      const stopped = await trainingTree('opt-ml-stopped');
      await fs.writeFile(
        path.join(stopped, 'code', 'train.mjs'),
        [
          "import { writeFileSync } from 'node:fs';",
          "process.on('SIGTERM', () => { writeFileSync('/opt/ml/checkpoints/at-sigterm', 'saved'); process.exit(0); });",
          "writeFileSync('/opt/ml/checkpoints/started', '');",
          'setInterval(() => {}, 1000);',
          '',
        ].join('\n'),
      );
      const c = await startContainer('train-stopped', IMAGE, { args: ['train'], runArgs: ['--network', 'none'], volumes: [`${stopped}:/opt/ml`] });
      const until = Date.now() + 60_000;
      while (!existsSync(path.join(stopped, 'checkpoints', 'started'))) {
        if (!running(c.name)) fail(`${c.name} exited before the entry point started; its log:\n${containerLogs(c.name)}`);
        if (Date.now() > until) fail(`${c.name}: the entry point did not start within 60 s; its log:\n${containerLogs(c.name)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const t0 = Date.now();
      sh('podman', ['kill', '--signal', 'TERM', c.name]);
      await waitForCleanExit(c, t0);
      const saved = await fs.readFile(path.join(stopped, 'checkpoints', 'at-sigterm'), 'utf8').catch(() => '(none)');
      if (saved !== 'saved') fail(`${c.name}: the entry point's SIGTERM handler did not run (checkpoints/at-sigterm: ${saved}); log:\n${containerLogs(c.name)}`);
    });

    await check('train: a failing entry point, and a non-root user on a root-owned /opt/ml', async () => {
      // SageMaker's failure contract: a non-zero exit code and the reason first in output/failure.
      const failing = await trainingTree('opt-ml-failing');
      await fs.writeFile(path.join(failing, 'code', 'train.mjs'), "throw new Error('no rows in the training channel');\n");
      const isolated = ['--network', 'none', '--read-only', '--tmpfs', '/tmp'];
      const res = sh('podman', ['run', '--rm', ...isolated, '-v', `${failing}:/opt/ml`, IMAGE, 'train'], { allowFail: true, timeoutMs: 120_000 });
      const failure = await fs.readFile(path.join(failing, 'output', 'failure'), 'utf8').catch(() => '(no output/failure)');
      if (res.status !== 1 || !failure.startsWith('ExecuteUserScriptError: "node train.mjs') || !failure.split('\n')[0].endsWith('Error: no rows in the training channel')) {
        fail(`a failing train.mjs: exit ${res.status}, output/failure: ${failure}\n${`${res.stdout}${res.stderr}`.trim().split('\n').slice(-10).join('\n')}`);
      }
      // The same tree, only root may write it (as a host mount is), run as uid 1000: refused before the script runs, the folder named.
      const rootOnly = await trainingTree('opt-ml-root-only');
      sh('chmod', ['-R', 'go-w', rootOnly]);
      const denied = sh('podman', ['run', '--rm', ...isolated, '--user', '1000:1000', '-v', `${rootOnly}:/opt/ml`, IMAGE, 'train'], { allowFail: true, timeoutMs: 120_000 });
      const out = `${denied.stdout}${denied.stderr}`;
      if (denied.status !== 1 || !/ERR_TRAIN_OUTPUT: \/opt\/ml\/\S+ cannot be written by the user smkit runs as \(uid 1000\)/.test(out) || out.includes('invoking the entry point')) {
        fail(`train as uid 1000 on a root-owned /opt/ml: exit ${denied.status}, expected 1 with ERR_TRAIN_OUTPUT before the entry point; output:\n${out.trim().split('\n').slice(-10).join('\n')}`);
      }
    });
  }

  await check('smkit build --model (baked model, nothing mounted)', async () => {
    if (!existsSync(path.join(root, 'dist', 'src', 'cli', 'main.js'))) await logged('tsc', 'npx', ['tsc', '-p', root]);
    const out = await logged('smkit-build', process.execPath, [path.join(root, 'bin', 'smkit.js'), 'build', '--engine', 'podman', '--model', MODEL, '--tag', BAKED]);
    // The first step built the same stages without build arguments: the label must not come from that cache.
    await checkBuiltImage(out, BAKED, 'baked');
  });

  // What a user who installed smkit from npm runs: the package has compiled code, not sources.
  await check('smkit build from an installed npm package (npm pack, unpacked; model baked)', async () => {
    const packDir = path.join(tmp, 'pack');
    await fs.mkdir(packDir);
    await logged('npm-pack', 'npm', ['pack', '--pack-destination', packDir]);
    const tarball = (await fs.readdir(packDir)).find((f) => f.endsWith('.tgz'));
    if (!tarball) fail(`npm pack left no tarball in ${packDir}`);
    if (existsSync(path.join(root, 'docker', 'REVISION'))) fail('npm pack left docker/REVISION behind in the checkout (postpack should remove it)');
    sh('tar', ['xzf', path.join(packDir, tarball), '-C', packDir]);
    const installed = path.join(packDir, 'package');
    if (existsSync(path.join(installed, 'src'))) fail('the package ships src/: this check would not test an installed package');
    // The package's dependencies, as npm would have installed them beside it.
    await fs.symlink(path.join(root, 'node_modules'), path.join(installed, 'node_modules'), 'dir');
    const out = await logged('smkit-build-package', process.execPath, [path.join(installed, 'bin', 'smkit.js'), 'build', '--engine', 'podman', '--model', MODEL, '--tag', FROM_PACKAGE]);
    if (!out.includes('an installed package')) fail(`smkit build did not build the package's compiled code:\n${out.split('\n').slice(-5).join('\n')}`);
    // The package has no git history: the revision label is the commit npm pack recorded.
    await checkBuiltImage(out, FROM_PACKAGE, 'from-package');
  });

  // The local endpoints' docker backend, on podman, running the image built above.
  await check('smkit local --backend docker --engine podman: SDK invoke, a killed client replaced, nothing left after SIGTERM', checkLocalDockerBackend);
  await check('smkit local killed with SIGKILL: its reaper removes the container and the work folders', checkLocalKilledLeavesNoContainer);
  await check('the local SageMaker on podman: CreateModel with the image, a real-time and a multi-model endpoint, InvokeEndpoint, DeleteEndpoint', checkLocalSageMakerOnPodman);
  await check('smkit local --gpus all on podman without the NVIDIA CDI specification: the GPU endpoint fails, saying how to fix it', checkGpuRefusedOnPodman);
  await check('smkit deploy to the local SageMaker on podman (a local S3; deploy.image is the image): InService, invoked, --delete', checkDeployToLocalSageMakerOnPodman);
}

let code = 0;
try {
  await main();
  for (const s of skipped) log(`SKIPPED ${s}`);
  if (failures.length > 0) {
    code = 1;
    log(`FAILED ${failures.length} check(s):\n${failures.map((f) => `  - ${f}`).join('\n')}`);
  } else {
    log(`PASSED (${timings.map(([n, s]) => `${n} ${s.toFixed(1)} s`).join('; ')})`);
  }
} catch (err) {
  code = 1;
  log(`FAILED: ${err instanceof TestFailure ? err.message : err?.stack ?? err}`);
} finally {
  if (process.env.SMKIT_IMAGE_TEST_KEEP !== '1') {
    for (const c of containers) spawnSync('podman', ['rm', '-f', '-t', '0', c], { stdio: 'ignore' });
    // Only this run's names: the images stay (untagged, pruned below after a day) as layer cache,
    // and another run's tags on the same image (an identical build) are left alone.
    for (const tag of [IMAGE, BAKED, FROM_PACKAGE]) spawnSync('podman', ['untag', tag, tag], { stdio: 'ignore' });
    if (tmp) await fs.rm(tmp, { recursive: true, force: true }).catch(() => {});
    // Each run leaves untagged build-stage images behind; keep a day's worth as layer cache.
    spawnSync('podman', ['image', 'prune', '-f', '--filter', 'until=24h'], { stdio: 'ignore' });
  }
}
process.exitCode = code;
