// RoutingStrategy PREFIX_AWARE through the real SDK clients over HTTP: requests that share the first
// PrefixLength bytes of their body (and PrefixAwareId) go to one instance until it has
// ConcurrencyThreshold requests in flight. Containers (FakeBackend) answer with their id and hold
// their answers until the test releases them, so what is in flight is counted, not timed. On an
// endpoint for inference components the same routing chooses among a component's copies.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateInferenceComponentCommand,
  CreateModelCommand,
  DescribeEndpointCommand,
  DescribeInferenceComponentCommand,
  UpdateEndpointCommand,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, InvokeEndpointWithResponseStreamCommand } from '@aws-sdk/client-sagemaker-runtime';
import { COMPONENT_ROLE, createComponentEndpoint } from '../../../test/helpers/component-host.js';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { localSdkClients, type LocalSdkClients } from '../../../test/helpers/local-sdk-clients.js';
import { until } from '../../../test/helpers/until.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from './local-sagemaker.js';

let dir: string;
let backend: FakeBackend;
let local: LocalSageMakerHandle;
let clients: LocalSdkClients;

const PREFIX_LENGTH = 1024;
/** A shared prompt prefix of exactly PrefixLength bytes: what follows it does not choose the instance. */
const prefix = (tag: string): string => tag.repeat(PREFIX_LENGTH).slice(0, PREFIX_LENGTH);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'smkit-prefix-aware-'));
  await writeFile(join(dir, 'weights.bin'), 'w');
  backend = new FakeBackend();
  local = await startLocalSageMaker({ port: 0, backendImpl: backend, startupTimeoutMs: 5_000, alarmsAndScaling: false, settings: {} });
  clients = localSdkClients(local.url, { runtimeMaxAttempts: 1 });
  await clients.sagemaker.send(new CreateModelCommand({ ModelName: 'llm', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, Environment: { FAKE_HOLD: 'true' } } }));
  await clients.sagemaker.send(
    new CreateEndpointConfigCommand({
      EndpointConfigName: 'llm',
      ProductionVariants: [
        {
          VariantName: 'AllTraffic',
          ModelName: 'llm',
          InitialInstanceCount: 3,
          InstanceType: 'ml.m5.large',
          RoutingConfig: { RoutingStrategy: 'PREFIX_AWARE', PrefixAwareRoutingConfig: { PrefixLength: PREFIX_LENGTH, ConcurrencyThreshold: 2 } },
        },
      ],
    }),
  );
  await clients.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'llm', EndpointConfigName: 'llm' }));
  await until('the endpoint to be InService', async () => (await clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'llm' }))).EndpointStatus === 'InService', { timeoutMs: 20_000, intervalMs: 25 });
});

after(async () => {
  backend.release();
  clients?.destroy();
  await local?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Where a request goes: an endpoint, and on an endpoint for inference components the component. */
interface Target {
  EndpointName: string;
  InferenceComponentName?: string;
}
const LLM: Target = { EndpointName: 'llm' };

const invoke = (body: string, PrefixAwareId?: string, target: Target = LLM) =>
  clients.runtime.send(new InvokeEndpointCommand({ ...target, ContentType: 'text/plain', Body: Buffer.from(body), ...(PrefixAwareId === undefined ? {} : { PrefixAwareId }) }));

/** Starts `bodies` at once and returns the container each reached (once all have), leaving their answers held. */
async function reach(bodies: ReadonlyArray<{ body: string; id?: string }>, target: Target = LLM): Promise<{ instances: string[]; answers: Promise<unknown>[] }> {
  const from = backend.invocations.length;
  const answers = bodies.map((b) => invoke(b.body, b.id, target));
  await until(`${bodies.length} request(s) to reach a container`, () => backend.invocations.length === from + bodies.length, { timeoutMs: 10_000, intervalMs: 10 });
  const arrived = backend.invocations.slice(from);
  return { instances: bodies.map((b) => arrived.find((a) => a.body === b.body)!.id), answers };
}

/** The container one request reached, its answer released. */
async function instanceFor(body: string, id?: string, target: Target = LLM): Promise<string> {
  const { instances, answers } = await reach([{ body, ...(id === undefined ? {} : { id }) }], target);
  backend.release();
  await Promise.all(answers);
  return instances[0]!;
}

test('requests sharing the first PrefixLength bytes go to one instance, whatever follows; other prefixes spread over the instances; PrefixAwareId is part of the key', { timeout: 60_000 }, async () => {
  const owner = await instanceFor(`${prefix('a')} question 1`);
  for (const tail of [' question 2', ' a much longer second question', '']) assert.equal(await instanceFor(`${prefix('a')}${tail}`), owner, `tail ${JSON.stringify(tail)}`);

  const owners = new Set<string>();
  for (const tag of 'bcdefghijk') {
    const first = await instanceFor(`${prefix(tag)} one`);
    assert.equal(await instanceFor(`${prefix(tag)} two`), first, `prefix ${tag} twice`);
    owners.add(first);
  }
  assert.equal(owners.size, 3, 'ten prefixes reached every one of the three instances');

  // The same prefix under different ids: each id sticks to its instance, and not every id shares one.
  const byId = new Set<string>();
  for (const id of ['tenant-1', 'tenant-2', 'tenant-3', 'tenant-4', 'tenant-5', 'tenant-6']) {
    const first = await instanceFor(`${prefix('a')} q1`, id);
    assert.equal(await instanceFor(`${prefix('a')} q2`, id), first, `id ${id} twice`);
    byId.add(first);
  }
  assert.ok(byId.size > 1, 'PrefixAwareId changes the instance a prefix goes to');
});

test('once the prefix\'s instance has ConcurrencyThreshold (2) requests in flight, the next goes to a less busy instance; once they finish, the prefix goes back', { timeout: 60_000 }, async () => {
  const owner = await instanceFor(`${prefix('z')} warm`);
  const held = await reach([{ body: `${prefix('z')} 1` }, { body: `${prefix('z')} 2` }]);
  assert.deepEqual(held.instances, [owner, owner], 'below the threshold both stay on the prefix\'s instance');
  const spilled = await reach([{ body: `${prefix('z')} 3` }]);
  assert.notEqual(spilled.instances[0], owner, 'at the threshold the request went elsewhere');
  backend.release();
  await Promise.all([...held.answers, ...spilled.answers]);
  assert.equal(await instanceFor(`${prefix('z')} 4`), owner);
});

test('InvokeEndpointWithResponseStream routes by prefix as InvokeEndpoint does', { timeout: 60_000 }, async () => {
  const owner = await instanceFor(`${prefix('s')} plain`, 'tenant-s');
  const from = backend.invocations.length;
  const streaming = clients.runtime.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'llm', ContentType: 'text/plain', Body: Buffer.from(`${prefix('s')} streamed`), PrefixAwareId: 'tenant-s' }));
  await until('the streamed request to reach a container', () => backend.invocations.length === from + 1, { timeoutMs: 10_000, intervalMs: 10 });
  assert.equal(backend.invocations[from]!.id, owner);
  backend.release();
  for await (const _ of (await streaming).Body!) void _;
});

test("DescribeEndpoint's variant summary repeats the variant's RoutingConfig, as ProductionVariantSummary carries it", async () => {
  const described = await clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'llm' }));
  assert.deepEqual(
    described.ProductionVariants?.map((v) => [v.VariantName, v.RoutingConfig, v.ManagedInstanceScaling]),
    [['AllTraffic', { RoutingStrategy: 'PREFIX_AWARE', PrefixAwareRoutingConfig: { PrefixLength: PREFIX_LENGTH, ConcurrencyThreshold: 2 } }, undefined]],
  );
});

test('on an endpoint for inference components, a PREFIX_AWARE variant sends a component\'s requests to the copy that owns their prefix, to another copy once it has ConcurrencyThreshold in flight; after UpdateEndpoint to LEAST_OUTSTANDING_REQUESTS, to the least busy copy', { timeout: 60_000 }, async () => {
  const poll = { timeoutMs: 20_000, intervalMs: 25 };
  const routing = { RoutingStrategy: 'PREFIX_AWARE' as const, PrefixAwareRoutingConfig: { PrefixLength: PREFIX_LENGTH, ConcurrencyThreshold: 2 } };
  await createComponentEndpoint(clients.sagemaker, 'llm-ic', poll, { variant: { RoutingConfig: routing } });
  await clients.sagemaker.send(
    new CreateInferenceComponentCommand({
      InferenceComponentName: 'llm-ic-c',
      EndpointName: 'llm-ic',
      VariantName: 'AllTraffic',
      Specification: { ModelName: 'llm', ComputeResourceRequirements: { MinMemoryRequiredInMb: 256 } },
      RuntimeConfig: { CopyCount: 3 },
    }),
  );
  const inService = async () => (await clients.sagemaker.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'llm-ic-c' }))).InferenceComponentStatus === 'InService';
  await until('llm-ic-c InService', inService, poll);
  const ic: Target = { EndpointName: 'llm-ic', InferenceComponentName: 'llm-ic-c' };
  const copies = ['i0', 'i1', 'i2'].map((i) => `llm-ic/llm-ic-c/AllTraffic/${i}/primary`);

  const owner = await instanceFor(`${prefix('a')} question 1`, undefined, ic);
  assert.ok(copies.includes(owner), `${owner} is a copy of the component`);
  for (const tail of [' question 2', ' a much longer second question', '']) assert.equal(await instanceFor(`${prefix('a')}${tail}`, undefined, ic), owner, `tail ${JSON.stringify(tail)}`);
  const owners = new Set<string>();
  for (const tag of 'bcdefghijk') {
    const first = await instanceFor(`${prefix(tag)} one`, undefined, ic);
    assert.equal(await instanceFor(`${prefix(tag)} two`, undefined, ic), first, `prefix ${tag} twice`);
    owners.add(first);
  }
  assert.deepEqual([...owners].sort(), copies, 'ten prefixes reached every one of the three copies');

  const held = await reach([{ body: `${prefix('a')} 1` }, { body: `${prefix('a')} 2` }], ic);
  assert.deepEqual(held.instances, [owner, owner], 'below the threshold both stay on the prefix\'s copy');
  const spilled = await reach([{ body: `${prefix('a')} 3` }], ic);
  assert.notEqual(spilled.instances[0], owner, 'at the threshold the request went to another copy');
  backend.release();
  await Promise.all([...held.answers, ...spilled.answers]);
  assert.equal(await instanceFor(`${prefix('a')} 4`, undefined, ic), owner, 'the prefix went back to its copy');

  // The copies keep running through UpdateEndpoint, and take the new configuration's routing.
  await clients.sagemaker.send(
    new CreateEndpointConfigCommand({
      EndpointConfigName: 'llm-ic-least-busy',
      ExecutionRoleArn: COMPONENT_ROLE,
      ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.g5.2xlarge', InitialInstanceCount: 1, RoutingConfig: { RoutingStrategy: 'LEAST_OUTSTANDING_REQUESTS' } }],
    }),
  );
  await clients.sagemaker.send(new UpdateEndpointCommand({ EndpointName: 'llm-ic', EndpointConfigName: 'llm-ic-least-busy' }));
  await until('llm-ic InService on llm-ic-least-busy', async () => {
    const e = await clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'llm-ic' }));
    return e.EndpointStatus === 'InService' && e.EndpointConfigName === 'llm-ic-least-busy';
  }, poll);
  const spread = await reach([1, 2, 3].map((n) => ({ body: `${prefix('a')} ${n}` })), ic);
  assert.deepEqual([...spread.instances].sort(), copies, 'one prefix, three requests in flight: one on each copy');
  backend.release();
  await Promise.all(spread.answers);
});
