// Instance health in the local SageMaker, end to end: real `smkit serve` children (process
// backend) are SIGKILLed while the endpoint serves traffic from the real SageMaker Runtime client.
// The dead instance leaves rotation at once, a replacement joins once its /ping passes, the
// endpoint stays InService throughout, a variant with no live instance answers 503
// ServiceUnavailable, a SIGSTOPped (hung) child fails its /ping health checks and is replaced, and deleting the endpoint while a replacement starts leaves no process behind.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  DeleteEndpointCommand,
  DescribeEndpointCommand,
  SageMakerClient,
  waitUntilEndpointDeleted,
  waitUntilEndpointInService,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../../src/local/control-plane/local-sagemaker.js';
import type { Fleet } from '../../src/local/fleet/fleet.js';
import { localSdkClients, type LocalSdkClients } from '../helpers/local-sdk-clients.js';
import { REPO_ROOT } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';

const IRIS = Buffer.from('5.1,3.5,1.4,0.2');
const waitFast = { minDelay: 1, maxDelay: 1, maxWaitTime: 90 };

let work: string;
let modelDir: string;
let local: LocalSageMakerHandle;
let sm: SageMakerClient;
let runtime: SageMakerRuntimeClient;
let clients: LocalSdkClients;
const lines: Array<{ level: string; msg: string; fields: Record<string, unknown> }> = [];

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'smkit-replace-e2e-'));
  // A copy of the model the test can break, so replacements fail to start for a while.
  modelDir = join(work, 'iris');
  await cp(join(REPO_ROOT, 'models', 'iris-onnx'), modelDir, { recursive: true });
  local = await startLocalSageMaker({
    port: 0,
    settings: { region: 'us-east-1', accountId: '111122223333' },
    startupTimeoutMs: 60_000,
    replacementBackoff: { baseMs: 100, maxMs: 1_000, healthyMs: 60_000 },
    healthCheckMs: 300,
    log: (level, msg, fields) => lines.push({ level, msg, fields }),
  });
  // No SDK retries of InvokeEndpoint: every failed invocation shows.
  clients = localSdkClients(local.url, { runtimeMaxAttempts: 1 });
  ({ sagemaker: sm, runtime } = clients);
});

after(async () => {
  clients?.destroy();
  await local?.stop();
  await rm(work, { recursive: true, force: true });
});

/**
 * Deadline of a wait in this file unless it says otherwise: instances are real `smkit serve` processes.
 * A probe every 200 ms: {@link processesWith} reads every process's environment on the machine.
 */
const POLL = { timeoutMs: 90_000, intervalMs: 200 };

async function invoke(): Promise<number[][]> {
  const out = await runtime.send(new InvokeEndpointCommand({ EndpointName: 'iris', ContentType: 'text/csv', Accept: 'application/json', Body: IRIS }));
  return JSON.parse(Buffer.from(out.Body!).toString()) as number[][];
}

function fleet(): Fleet {
  const deployment = local.store.endpoints.get('iris')?.serving;
  assert.ok(deployment, 'the endpoint has a serving deployment');
  return deployment.variants[0]!.fleet;
}

/** The `smkit serve` primaries serving now, by pid. */
const pids = (): number[] => fleet().containers.map((c) => c.pid!);

/** Processes (the serve primary and its workers) whose environment contains `text`; empty where /proc is missing. */
function processesWith(text: string): number[] {
  if (!existsSync('/proc/self/environ')) return [];
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, 'latin1').split('\0').some((v) => v.includes(text))) found.push(Number(name));
    } catch {
      // gone meanwhile, or not ours
    }
  }
  return found;
}

const count = (msg: string): number => lines.filter((l) => l.msg === msg).length;
const DIED = 'instance died; out of rotation, replacing it';
const UNHEALTHY = 'instance failed its health checks; out of rotation, replacing it';

test('a SIGKILLed instance leaves rotation at once and is replaced; the endpoint stays InService', async () => {
  await sm.send(
    new CreateModelCommand({
      ModelName: 'iris',
      ExecutionRoleArn: 'arn:aws:iam::111122223333:role/SageMakerRole',
      PrimaryContainer: { ModelDataUrl: modelDir, Environment: { SAGEMAKER_MODEL_SERVER_WORKERS: '1' } },
    }),
  );
  await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'iris', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'iris', InitialInstanceCount: 2, InstanceType: 'ml.m5.large' }] }));
  await sm.send(new CreateEndpointCommand({ EndpointName: 'iris', EndpointConfigName: 'iris' }));
  await waitUntilEndpointInService({ client: sm, ...waitFast }, { EndpointName: 'iris' });
  assert.equal((await invoke())[0]!.length, 3);

  const [victim, survivor] = fleet().containers;
  assert.ok(victim?.pid && survivor?.pid && victim.instanceId);
  // Kill one instance while requests are running against the endpoint.
  let running = true;
  let served = 0;
  const during = (async () => {
    while (running) await invoke().then(() => served++, () => {});
  })();
  await until('requests to be served', () => served >= 2, POLL);
  process.kill(victim.pid, 'SIGKILL');
  await until('the fleet to notice the death', () => count(DIED) === 1, POLL);
  running = false;
  await during;
  const died = lines.find((l) => l.msg === DIED)!;
  assert.equal(died.level, 'warn');
  assert.equal(died.fields.endpoint, 'iris');
  assert.equal(died.fields.exit, 'signal SIGKILL');

  // From now on every request is served (by the survivor, or by the replacement once it joined).
  for (let i = 0; i < 6; i++) assert.equal((await invoke())[0]!.length, 3);
  assert.equal((await sm.send(new DescribeEndpointCommand({ EndpointName: 'iris' }))).EndpointStatus, 'InService');

  await until('the replacement to join', () => count('replacement instance in service') === 1, POLL);
  assert.equal(fleet().size, 2);
  assert.ok(pids().includes(survivor.pid) && !pids().includes(victim.pid), `serving ${pids().join(', ')}`);
  for (let i = 0; i < 4; i++) assert.equal((await invoke())[0]!.length, 3);
  // The killed primary's worker followed it: nothing with its instance id is left.
  await until('the dead instance\'s processes to be gone', () => processesWith(`SMKIT_INSTANCE_ID=${victim.instanceId}`).length === 0, POLL);
  const d = await sm.send(new DescribeEndpointCommand({ EndpointName: 'iris' }));
  assert.deepEqual([d.EndpointStatus, d.ProductionVariants?.[0]?.CurrentInstanceCount], ['InService', 2]);
});

test('with every instance dead, InvokeEndpoint answers 503 ServiceUnavailable until a replacement starts', async () => {
  const model = join(modelDir, 'model.onnx');
  await rename(model, `${model}.away`); // replacements fail to load until it is back
  const failuresBefore = count('replacement instance did not start; trying again');
  const joinedBefore = count('replacement instance in service');
  for (const pid of pids()) process.kill(pid, 'SIGKILL');
  await until('both instances to leave rotation', () => fleet().size === 0, POLL);
  await assert.rejects(invoke(), (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
    assert.equal(err.name, 'ServiceUnavailable');
    assert.equal(err.$metadata?.httpStatusCode, 503);
    assert.match(err.message, /^Endpoint iris: Variant AllTraffic has no healthy instance in service; 2 replacement instances are starting\. Try your call again\.$/);
    return true;
  });
  assert.equal((await sm.send(new DescribeEndpointCommand({ EndpointName: 'iris' }))).EndpointStatus, 'InService');
  await until('a replacement to fail to start', () => count('replacement instance did not start; trying again') > failuresBefore, POLL);
  await rename(`${model}.away`, model);
  await until('both replacements to join', () => count('replacement instance in service') === joinedBefore + 2, POLL);
  assert.equal(fleet().size, 2);
  assert.equal((await invoke())[0]!.length, 3);
});

test('a hung instance (SIGSTOP) fails its /ping health checks, leaves rotation, is killed and replaced', async () => {
  const hungBefore = count(UNHEALTHY);
  const joinedBefore = count('replacement instance in service');
  const [hung, healthy] = fleet().containers;
  assert.ok(hung?.pid && healthy?.pid && hung.instanceId);
  // The primary and its worker both stop answering: a hang, as a deadlock would be.
  const frozen = processesWith(`SMKIT_INSTANCE_ID=${hung.instanceId}`);
  assert.ok(frozen.includes(hung.pid));
  for (const pid of frozen) process.kill(pid, 'SIGSTOP');
  try {
    await until('the health checks to evict the hung instance', () => count(UNHEALTHY) > hungBefore, POLL);
    const line = lines.filter((l) => l.msg === UNHEALTHY).at(-1)!;
    assert.deepEqual([line.level, line.fields.failedChecks], ['warn', 3]);
    assert.ok(!pids().includes(hung.pid), 'out of rotation');
    // Requests go to the healthy instance meanwhile.
    for (let i = 0; i < 4; i++) assert.equal((await invoke())[0]!.length, 3);
    await until('the replacement to join', () => count('replacement instance in service') > joinedBefore, POLL);
    assert.equal(fleet().size, 2);
    // SIGTERM cannot act on stopped processes; the SIGKILL to the instance's process group after the grace does.
    await until('the hung instance\'s processes to be gone', () => processesWith(`SMKIT_INSTANCE_ID=${hung.instanceId!}`).length === 0, { timeoutMs: 60_000, intervalMs: 200 });
  } finally {
    for (const pid of processesWith(`SMKIT_INSTANCE_ID=${hung.instanceId}`)) process.kill(pid, 'SIGCONT');
  }
  assert.equal((await sm.send(new DescribeEndpointCommand({ EndpointName: 'iris' }))).EndpointStatus, 'InService');
});

test('deleting the endpoint while a replacement starts stops it: no serve process is left', async () => {
  // Every instance's /opt/ml tree is under the work folder: its processes carry it in SAGEMAKER_BASE_DIR.
  const serveProcesses = (): number[] => processesWith(`SAGEMAKER_BASE_DIR=${local.workDir}`);
  const startsBefore = count('starting a replacement instance');
  const victim = fleet().containers[0]!;
  process.kill(victim.pid!, 'SIGKILL');
  await until('the replacement to start', () => count('starting a replacement instance') > startsBefore, POLL);
  // Where /proc shows processes: wait until the dead instance's are gone and the replacement's serve
  // process runs beside the survivor's two (primary and worker), so the deletion meets it starting.
  if (existsSync('/proc/self/environ')) {
    // At 50 ms: the deletion is to meet the replacement still starting, a window of a few seconds at most.
    await until('the replacement process to run', () => processesWith(`SMKIT_INSTANCE_ID=${victim.instanceId!}`).length === 0 && serveProcesses().length >= 3, { ...POLL, intervalMs: 50 });
  }
  await sm.send(new DeleteEndpointCommand({ EndpointName: 'iris' }));
  await waitUntilEndpointDeleted({ client: sm, ...waitFast }, { EndpointName: 'iris' });
  assert.equal(local.store.endpoints.has('iris'), false);
  await until('every serve process of the endpoint to exit', () => serveProcesses().length === 0, { timeoutMs: 30_000, intervalMs: 200 });
});
