// `smkit local` as a user runs it: a child process that prints where it listens, serves the front
// door, and cleans up on SIGTERM or SIGHUP (or, killed, through its reaper); start-up failures exit
// non-zero with the container's log tail.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localClientConfig } from '../helpers/local-sdk-clients.js';
import { REPO_ROOT, SMKIT_BIN } from '../helpers/serve-process.js';
import { tempDirForSync } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';

interface Run {
  pid: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  /** Settles once its stdio has closed: once it and its reaper (which shares its stderr) have both ended. */
  closed: Promise<void>;
  /** Closes this end of its stdout and stderr: its writes then fail (EPIPE), as they do (EIO) on a terminal that hung up. */
  dropOutput: () => void;
  kill: (signal: NodeJS.Signals) => void;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [SMKIT_BIN, 'local', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return {
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    exited: new Promise((r) => child.on('exit', (code) => r(code))),
    closed: new Promise((r) => child.once('close', () => r())),
    dropOutput: () => {
      child.stdout.destroy();
      child.stderr.destroy();
    },
    kill: (signal) => child.kill(signal),
  };
}

/** The ids of the processes whose parent is `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc').flatMap((entry) => {
    if (!/^\d+$/.test(entry)) return [];
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4, the parent, follows the command name in parentheses (which may hold spaces).
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid ? [Number(entry)] : [];
    } catch {
      return [];
    }
  });
}

/** Whether any process of the process group `pgid` is left. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits for `pattern` on stdout; fails at once, with the output, if `smkit local` exits first. */
function waitForLine(r: Run, pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  let exited = false;
  void r.exited.then(() => (exited = true));
  const output = () => `stdout:\n${r.stdout()}\nstderr:\n${r.stderr()}`;
  return until(`${pattern} on stdout`, () => {
    const m = r.stdout().match(pattern);
    if (m || !exited) return m;
    throw new Error(`smkit local exited before printing ${pattern}; ${output()}`);
  }, { timeoutMs, intervalMs: 100, detail: output });
}

test('smkit local <model dir>: ready line, invocations, clean stop on SIGTERM', async () => {
  const r = run([join(REPO_ROOT, 'test', 'fixtures', 'local', 'constant-shadow'), '--name', 'const', '--port', '0', '--startup-timeout', '60']);
  try {
    const [, url] = await waitForLine(r, /ready on (http:\/\/127\.0\.0\.1:\d+)/, 60_000);
    assert.match(r.stdout(), /const: POST http:\/\/127\.0\.0\.1:\d+\/endpoints\/const\/invocations {2}variants: AllTraffic/);
    const res = await fetch(`${url}/endpoints/const/invocations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[[1,2,3,4],[5,6,7,8]]', signal: AbortSignal.timeout(30_000) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-amzn-invoked-production-variant'), 'AllTraffic');
    assert.deepEqual(await res.json(), [[0.2, 0.3, 0.5], [0.2, 0.3, 0.5]]);
    const workDir = r.stderr().match(/log (\/.*?smkit-local-[^/]+)\/logs\//)?.[1];
    assert.ok(workDir && existsSync(workDir), r.stderr());
    r.kill('SIGTERM');
    assert.equal(await r.exited, 0);
    assert.equal(existsSync(workDir), false, 'the temporary tree is removed on stop');
    // A planned stop is not a container death: no warning, and no replacement started on the way out.
    assert.doesNotMatch(r.stderr(), /instance died|container exited|replacement/, r.stderr());
    // Everything was released as it was stopped: the reaper has nothing to do.
    await r.closed;
    assert.doesNotMatch(r.stderr(), /ended without stopping/, r.stderr());
  } finally {
    r.kill('SIGKILL');
  }
});

test('smkit local killed with SIGKILL: its reaper stops the smkit serve children (and their workers) and removes the work folder', { skip: !existsSync('/proc/self/stat') && 'needs /proc' }, async () => {
  const r = run([join(REPO_ROOT, 'test', 'fixtures', 'local', 'constant-shadow'), '--name', 'killed', '--port', '0', '--startup-timeout', '60']);
  try {
    await waitForLine(r, /ready on (http:\/\/127\.0\.0\.1:\d+)/, 60_000);
    const workDir = r.stderr().match(/log (\/.*?smkit-local-[^/]+)\/logs\//)?.[1];
    assert.ok(workDir && existsSync(workDir), r.stderr());
    // Each `smkit serve` child leads its own process group (the reaper is a child too, in a session of its own).
    const serves = childrenOf(r.pid).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('serve'));
    assert.ok(serves.length >= 1, `no smkit serve child of ${r.pid}`);
    assert.ok(serves.every(groupAlive));
    r.kill('SIGKILL');
    await r.exited;
    await until('the smkit serve process groups to be gone', () => !serves.some(groupAlive), { timeoutMs: 30_000, intervalMs: 100 });
    await until('the work folder to be removed', () => !existsSync(workDir), { timeoutMs: 30_000, intervalMs: 100 });
    // The reaper wrote its line before it stopped anything, but to a pipe this process reads in its
    // own time: a wake-up that saw the folder gone can come before the read of that line.
    const reaped = new RegExp(`smkit: process ${r.pid} ended without stopping what it started; stopping ${serves.length} process\\(es\\)`);
    await until("the reaper's line", () => reaped.test(r.stderr()), { timeoutMs: 30_000, intervalMs: 100, detail: () => r.stderr() });
  } finally {
    r.kill('SIGKILL');
  }
});

/**
 * Runs `test/fixtures/local/<fixture>` (a process that owns what smkit starts, with its temporary
 * folders under one the test removes) until it prints its JSON line, which is returned; one that
 * ends first fails at once. `kill` sends it SIGKILL and resolves with its stderr once its reaper,
 * which shares that stderr, is done.
 */
async function startOwner<T>(t: TestContext, fixture: string, args: string[], what: string): Promise<{ info: T; scratch: string; kill: () => Promise<string> }> {
  const scratch = tempDirForSync(t, 'smkit-orphan-');
  const owner = spawn(process.execPath, [join(REPO_ROOT, 'test', 'fixtures', 'local', fixture), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: scratch } });
  t.after(() => owner.kill('SIGKILL'));
  let out = '';
  let err = '';
  owner.stdout.on('data', (d: Buffer) => (out += d.toString()));
  owner.stderr.on('data', (d: Buffer) => (err += d.toString()));
  let ended = false;
  const closed = new Promise<void>((done) => owner.once('close', () => done()));
  void closed.then(() => (ended = true));
  const line = await until(
    what,
    () => {
      // An owner that failed to start (a build error, a module out of step) fails the test at once, not at the deadline.
      if (!out.includes('\n') && ended) throw new Error(`the owner ended first:\n${err}`);
      return out.includes('\n') && out;
    },
    { timeoutMs: 120_000, intervalMs: 100, detail: () => err },
  );
  const kill = async (): Promise<string> => {
    owner.kill('SIGKILL');
    await closed;
    return err;
  };
  return { info: JSON.parse(line) as T, scratch, kill };
}

/** SIGKILL to each of `targets` (process ids, or minus a group's) still there, after test `t`: a reaper that failed must not leave them running. */
function killAfter(t: TestContext, targets: number[]): void {
  t.after(() => {
    for (const target of targets) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // Gone, as they should be.
      }
    }
  });
}

test('a process running a local training job killed with SIGKILL: its reaper stops smkit train, which stops the entry point, and removes the work folder', { skip: !existsSync('/proc/self/stat') && 'needs /proc' }, async (t) => {
  const { info, scratch, kill } = await startOwner<{ workDir: string; entryPoint: number }>(t, 'training-owner.mjs', ['orphaned-job'], 'the job\'s entry point to run');
  const { workDir, entryPoint } = info;
  const stat = readFileSync(`/proc/${entryPoint}/stat`, 'utf8');
  const trainer = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
  killAfter(t, [-entryPoint, Number(trainer)]);
  assert.ok(workDir.startsWith(scratch) && existsSync(workDir) && groupAlive(entryPoint));
  const err = await kill();
  assert.equal(existsSync(`/proc/${entryPoint}`), false, 'the entry point is gone');
  assert.equal(existsSync(`/proc/${trainer}`), false, 'smkit train is gone');
  assert.equal(existsSync(workDir), false, 'the work folder is removed');
  assert.match(err, /ended without stopping what it started; stopping 1 process\(es\)/);
});

test('a process whose training job is still downloading its input (no process started yet) killed with SIGKILL: its reaper removes the work folder and what was downloaded', async (t) => {
  const { info, scratch, kill } = await startOwner<{ workDir: string; jobRoot: string }>(t, 'download-owner.mjs', ['downloading-job'], 'the job to be Downloading');
  const { workDir, jobRoot } = info;
  assert.ok(workDir.startsWith(scratch) && existsSync(jobRoot));
  const err = await kill();
  assert.equal(existsSync(workDir), false, 'the work folder is removed');
  assert.match(err, /ended without stopping what it started; stopping 0 process\(es\), removing 0 container\(s\) and 1 folder\(s\)/);
});

test('with --keep (keepWorkDir) a process whose training job is still downloading killed with SIGKILL leaves its work folder and the downloads, and starts no reaper for them', async (t) => {
  const { info, scratch, kill } = await startOwner<{ workDir: string; jobRoot: string }>(t, 'download-owner.mjs', ['downloading-job', 'keep'], 'the job to be Downloading');
  const { workDir, jobRoot } = info;
  assert.ok(workDir.startsWith(scratch));
  const err = await kill();
  assert.doesNotMatch(err, /ended without stopping what it started/);
  assert.equal(existsSync(jobRoot), true, 'the job\'s folder is kept');
});

test('a process whose endpoint is still downloading its model data (no container started yet) killed with SIGKILL: its reaper removes the work folder and the partial download', async (t) => {
  const { info, scratch, kill } = await startOwner<{ workDir: string }>(t, 'model-download-owner.mjs', [], 'the model data to be downloading');
  const { workDir } = info;
  assert.ok(workDir.startsWith(scratch) && existsSync(workDir));
  const err = await kill();
  assert.equal(existsSync(workDir), false, 'the work folder is removed');
  assert.match(err, /ended without stopping what it started; stopping 0 process\(es\), removing 0 container\(s\) and 1 folder\(s\)/);
});

test('with --keep (keepWorkDir) a process whose endpoint is still downloading its model data killed with SIGKILL leaves its work folder and the partial download, as a training job\'s downloads, and starts no reaper for them', async (t) => {
  const { info, scratch, kill } = await startOwner<{ workDir: string }>(t, 'model-download-owner.mjs', ['keep'], 'the model data to be downloading');
  const { workDir } = info;
  assert.ok(workDir.startsWith(scratch));
  const err = await kill();
  assert.doesNotMatch(err, /ended without stopping what it started/);
  assert.ok(readdirSync(workDir, { recursive: true }).some((p) => String(p).includes('.partial-')), 'the partial download is kept');
});

test('a process serving a model with startLocalServer (package --verify, local transform) killed with SIGKILL: its reaper stops smkit serve, then removes the work folder', { skip: !existsSync('/proc/self/stat') && 'needs /proc' }, async (t) => {
  const { info, scratch, kill } = await startOwner<{ workDir: string; pid: number }>(t, 'server-owner.mjs', [join(REPO_ROOT, 'test', 'fixtures', 'local', 'csv-to-json')], 'the server to answer');
  const { workDir, pid } = info;
  killAfter(t, [pid]);
  assert.ok(workDir.startsWith(scratch) && existsSync(workDir) && existsSync(`/proc/${pid}`));
  const err = await kill();
  assert.equal(existsSync(`/proc/${pid}`), false, 'smkit serve is gone');
  assert.equal(existsSync(workDir), false, 'the work folder is removed');
  assert.match(err, /ended without stopping what it started; stopping 1 process\(es\), removing 0 container\(s\) and 1 folder\(s\)/);
});

test('start-up failures exit 1 with a clear message', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-local-cli-'));
  try {
    await writeFile(join(dir, 'bad.yaml'), 'endpoints:\n  - name: x\n    variants:\n      - model: ./m\n        weight: -2\n');
    const bad = run([join(dir, 'bad.yaml')]);
    assert.equal(await bad.exited, 1);
    assert.match(bad.stderr(), /ERR_ENDPOINT_FILE_INVALID: endpoints\[0\]\.variants\[0\]\.weight/);

    // An empty model directory never becomes healthy: /ping stays 503 until the deadline.
    const empty = join(dir, 'empty');
    await (await import('node:fs/promises')).mkdir(empty);
    const slow = run([empty, '--port', '0', '--startup-timeout', '2']);
    assert.equal(await slow.exited, 1);
    assert.match(slow.stderr(), /ERR_CONTAINER_START: empty\/AllTraffic\/primary(: model failed to load| did not pass \/ping within 2 s| exited)/);
    assert.match(slow.stderr(), /--- last lines of .*empty\.AllTraffic\.primary\.log ---/);
    // A failed start-up stops and releases what it started.
    await Promise.all([bad.closed, slow.closed]);
    assert.doesNotMatch(bad.stderr() + slow.stderr(), /ended without stopping/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('smkit local with no target: an empty local SageMaker that the SDK talks to; clean stop on SIGHUP (a closed terminal)', async () => {
  const { SageMakerClient, ListEndpointsCommand, CreateModelCommand, DescribeModelCommand } = await import('@aws-sdk/client-sagemaker');
  const r = run(['--port', '0']);
  const [, url] = await waitForLine(r, /local SageMaker ready on (http:\/\/127\.0\.0\.1:\d+)/, 60_000);
  const sm = new SageMakerClient(localClientConfig(url, { requestTimeoutMs: 30_000 }));
  try {
    assert.deepEqual((await sm.send(new ListEndpointsCommand({}))).Endpoints, []);
    await sm.send(new CreateModelCommand({ ModelName: 'iris', PrimaryContainer: { ModelDataUrl: join(REPO_ROOT, 'models', 'iris-onnx') } }));
    assert.equal((await sm.send(new DescribeModelCommand({ ModelName: 'iris' }))).ModelArn, 'arn:aws:sagemaker:us-east-1:000000000000:model/iris');
  } finally {
    sm.destroy();
    r.kill('SIGHUP');
  }
  assert.equal(await r.exited, 0);
  assert.match(r.stderr(), /smkit local: SIGHUP: stopping endpoints/);
  await r.closed;
  assert.doesNotMatch(r.stderr(), /ended without stopping/, r.stderr());
});

/** The local SageMaker work folders in `dir` (Node 22 and later also keep their compile cache in the temporary folder). */
const workFolders = (dir: string): string[] => readdirSync(dir).filter((f) => f.startsWith('smkit-sagemaker-'));

test('smkit local with no target killed with SIGKILL: having run nothing, it made no work folder and started no reaper, and leaves nothing behind', async (t) => {
  const scratch = tempDirForSync(t, 'smkit-orphan-');
  const r = run(['--port', '0'], { TMPDIR: scratch });
  t.after(() => r.kill('SIGKILL'));
  await waitForLine(r, /local SageMaker ready on (http:\/\/127\.0\.0\.1:\d+)/, 60_000);
  assert.deepEqual(childrenOf(r.pid), [], 'no reaper');
  r.kill('SIGKILL');
  await r.closed;
  assert.deepEqual(workFolders(scratch), []);
  assert.doesNotMatch(r.stderr(), /ended without stopping/, r.stderr());
});

test('smkit local killed with SIGKILL after its only endpoint failed before starting a process, and was deleted: its reaper removes the work folder', async (t) => {
  const { SageMakerClient, CreateModelCommand, CreateEndpointConfigCommand, CreateEndpointCommand, DescribeEndpointCommand, DeleteEndpointCommand } = await import('@aws-sdk/client-sagemaker');
  const scratch = tempDirForSync(t, 'smkit-orphan-');
  const r = run(['--port', '0'], { TMPDIR: scratch });
  t.after(() => r.kill('SIGKILL'));
  const [, url] = await waitForLine(r, /local SageMaker ready on (http:\/\/127\.0\.0\.1:\d+)/, 60_000);
  const sm = new SageMakerClient(localClientConfig(url, { requestTimeoutMs: 30_000 }));
  t.after(() => sm.destroy());
  await sm.send(new CreateModelCommand({ ModelName: 'm', PrimaryContainer: { ModelDataUrl: join(scratch, 'no-such-model') } }));
  await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'c', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'm', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
  await sm.send(new CreateEndpointCommand({ EndpointName: 'e', EndpointConfigName: 'c' }));
  await until('the endpoint to fail', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'e' }))).EndpointStatus === 'Failed', { intervalMs: 100 });
  await sm.send(new DeleteEndpointCommand({ EndpointName: 'e' }));
  assert.equal(workFolders(scratch).length, 1, 'the deployment made the work folder');
  r.kill('SIGKILL');
  await r.closed;
  assert.deepEqual(workFolders(scratch), []);
  assert.match(r.stderr(), /ended without stopping what it started; stopping 0 process\(es\), removing 0 container\(s\) and 1 folder\(s\)/);
});

test('smkit local whose terminal hung up (SIGHUP, then every write fails): still a clean stop, exit 0', async () => {
  const r = run(['--port', '0']);
  await waitForLine(r, /local SageMaker ready on (http:\/\/127\.0\.0\.1:\d+)/, 60_000);
  r.dropOutput();
  r.kill('SIGHUP');
  assert.equal(await r.exited, 0);
});
