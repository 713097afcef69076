// Issue 4 "done when": a three-container serial pipeline and a two-variant endpoint (plus a shadow
// variant) with data capture, run as real `smkit serve` children behind the front door, driven
// with the real AWS SDK v3 client.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { createModelArchive } from '../../src/archive/model-archive.js';
import { readEndpointFile } from '../../src/endpoint-file/load.js';
import { startLocalEndpoints, type LocalEndpointsHandle } from '../../src/local/endpoint/start.js';
import { localClientConfig } from '../helpers/local-sdk-clients.js';
import { REPO_ROOT } from '../helpers/serve-process.js';

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'local');
const IRIS = join(REPO_ROOT, 'models', 'iris-onnx');

let dir: string;
let handle: LocalEndpointsHandle;
let client: SageMakerRuntimeClient;
const progress: string[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'smkit-local-e2e-'));
  await createModelArchive(IRIS, join(dir, 'iris.tar.gz'));
  const yaml = `
endpoints:
  - name: iris-pipeline
    variants:
      - name: AllTraffic
        containers:
          - model: ${join(FIXTURES, 'csv-to-json')}
          - model: ${IRIS}
            env:
              SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT: application/json
          - model: ${join(FIXTURES, 'argmax-labels')}
    deepPing:
      body: "5.1,3.5,1.4,0.2\\n"
      contentType: text/csv
      accept: text/csv
  - name: iris-ab
    variants:
      - name: A
        model: ${IRIS}
      - name: B
        weight: 1
        model: ./iris.tar.gz
    shadow:
      name: Shadow
      model: ${join(FIXTURES, 'constant-shadow')}
    dataCapture:
      destination: ./capture
      samplingPercentage: 100
      csvContentTypes: [text/csv]
      jsonContentTypes: [application/json]
`;
  await writeFile(join(dir, 'endpoints.yaml'), yaml);
  const config = await readEndpointFile(join(dir, 'endpoints.yaml'));
  handle = await startLocalEndpoints(config, { port: 0, seed: 7, startupTimeoutMs: 60_000, progress: (l) => progress.push(l) });
  client = new SageMakerRuntimeClient(localClientConfig(handle.url));
});

after(async () => {
  client?.destroy();
  await handle?.stop();
  if (handle) assert.equal(existsSync(handle.workDir), false, 'the temporary /opt/ml trees are removed');
  await rm(dir, { recursive: true, force: true });
});

const text = (body: Uint8Array | undefined): string => Buffer.from(body ?? []).toString('utf8');

/** The environment a container's process (the `smkit serve` child) was started with. */
function containerEnv(id: string): Record<string, string> {
  const c = handle.containers.find((x) => x.spec.id === id);
  assert.ok(c?.pid !== undefined, `${id} runs, as a child process`);
  const entries = readFileSync(`/proc/${c.pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return Object.fromEntries(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

test('each pipeline container sees a SAGEMAKER_SAFE_PORT_RANGE of its own, apart from every bound port; a single-container variant none', { skip: !existsSync('/proc/self/environ') && 'needs /proc' }, () => {
  const taken = new Set(handle.containers.map((c) => c.spec.port));
  const seen = new Set<number>();
  for (const n of [1, 2, 3]) {
    const value = containerEnv(`iris-pipeline/AllTraffic/container-${n}`).SAGEMAKER_SAFE_PORT_RANGE ?? '';
    const m = /^(\d+)-(\d+)$/.exec(value);
    assert.ok(m, `container-${n}: SAGEMAKER_SAFE_PORT_RANGE="${value}"`);
    const [low, high] = [Number(m[1]), Number(m[2])];
    assert.ok(low >= 1 && low <= high && high <= 65535, value);
    for (let p = low; p <= high; p++) {
      assert.ok(!taken.has(p) && !seen.has(p), `container-${n}'s range ${value} holds port ${p}, already a bound port or another container's`);
      seen.add(p);
    }
  }
  for (const id of ['iris-ab/A/primary', 'iris-ab/B/primary', 'iris-ab/Shadow/primary']) assert.equal(containerEnv(id).SAGEMAKER_SAFE_PORT_RANGE, undefined, id);
});

test('start-up reported progress and every container passed /ping; the deep ping ran', () => {
  assert.equal(handle.containers.length, 6);
  assert.ok(progress.some((l) => l.includes('iris-pipeline/AllTraffic/container-3 is healthy')), progress.join('\n'));
  assert.ok(progress.some((l) => l.includes('deep ping of iris-pipeline passed')));
});

test('three-container serial pipeline through the SDK: CSV in, labels out in the caller Accept', async () => {
  const csv = await client.send(
    new InvokeEndpointCommand({ EndpointName: 'iris-pipeline', ContentType: 'text/csv', Accept: 'text/csv', Body: Buffer.from('5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n') }),
  );
  assert.equal(csv.ContentType, 'text/csv');
  assert.equal(text(csv.Body), 'setosa\nvirginica\n');
  assert.equal(csv.InvokedProductionVariant, 'AllTraffic');
  // Container 3 saw container 2's JSON answer (its default accept), not the caller's text/csv,
  // and its model code sees the pipeline container's SAGEMAKER_SAFE_PORT_RANGE.
  const [stage3Input, stage3Range] = (csv.CustomAttributes ?? '').split(',');
  assert.equal(stage3Input, 'stage3-input=application/json');
  assert.match(stage3Range ?? '', /^safe-port-range=\d+-\d+$/);

  const json = await client.send(new InvokeEndpointCommand({ EndpointName: 'iris-pipeline', ContentType: 'text/csv', Accept: 'application/json', Body: Buffer.from('5.9,3.0,4.2,1.5\n') }));
  assert.equal(json.ContentType, 'application/json');
  assert.deepEqual(JSON.parse(text(json.Body)), { labels: ['versicolor'] });
});

test('a failing pipeline container surfaces as ModelError naming it', async () => {
  await assert.rejects(
    client.send(new InvokeEndpointCommand({ EndpointName: 'iris-pipeline', ContentType: 'text/csv', Accept: 'text/csv', Body: Buffer.from('1,2,3\n') })),
    (err: Error & { OriginalStatusCode?: number; LogStreamArn?: string; $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(err.name, 'ModelError');
      assert.equal(err.$metadata?.httpStatusCode, 424);
      assert.equal(err.OriginalStatusCode, 400);
      assert.match(err.message, /^Received client error \(400\) from container-2 with message/);
      assert.ok(err.LogStreamArn && existsSync(err.LogStreamArn), `log file ${err.LogStreamArn}`);
      return true;
    },
  );
});

test('two variants with a shadow and data capture through the SDK', async () => {
  const seen = new Set<string>();
  const n = 8;
  for (let i = 0; i < n; i++) {
    const out = await client.send(
      new InvokeEndpointCommand({ EndpointName: 'iris-ab', ContentType: 'application/json', Accept: 'application/json', InferenceId: `inf-${i}`, Body: Buffer.from('[[5.1,3.5,1.4,0.2]]') }),
    );
    seen.add(out.InvokedProductionVariant!);
    const probs = JSON.parse(text(out.Body)) as unknown;
    assert.equal(JSON.stringify(probs).includes('0.2,0.3,0.5'), false, 'the shadow never answers the caller');
  }
  assert.deepEqual([...seen].sort(), ['A', 'B'], 'weighted routing reached both variants');
  const pinned = await client.send(new InvokeEndpointCommand({ EndpointName: 'iris-ab', TargetVariant: 'B', ContentType: 'text/csv', Body: Buffer.from('5.1,3.5,1.4,0.2') }));
  assert.equal(pinned.InvokedProductionVariant, 'B');
  await assert.rejects(
    client.send(new InvokeEndpointCommand({ EndpointName: 'iris-ab', TargetVariant: 'C', Body: Buffer.from('[[1,2,3,4]]') })),
    (err: Error) => err.name === 'ValidationError',
  );

  const endpoint = handle.endpoints.get('iris-ab')!;
  await endpoint.idle();
  assert.equal(endpoint.shadowStats.requests, n + 1);
  assert.equal(endpoint.shadowStats.compared, n + 1);
  assert.equal(endpoint.shadowStats.differing, n + 1);
  assert.ok((endpoint.shadowStats.maxAbsDiff ?? 0) > 0.1);

  const records: Array<{ variant: string; rec: Record<string, any> }> = [];
  const root = join(dir, 'capture', 'iris-ab');
  for (const variant of await readdir(root)) {
    const walk = async (d: string, depth: number): Promise<void> => {
      for (const name of await readdir(d)) {
        if (depth < 4) {
          assert.match(name, depth === 0 ? /^\d{4}$/ : /^\d{2}$/);
          await walk(join(d, name), depth + 1);
        } else {
          assert.match(name, /^\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl$/);
          for (const line of (await readFile(join(d, name), 'utf8')).trim().split('\n')) records.push({ variant, rec: JSON.parse(line) });
        }
      }
    };
    await walk(join(root, variant), 0);
  }
  const production = records.filter((r) => r.variant !== 'Shadow');
  assert.equal(production.length, n + 1);
  assert.equal(records.filter((r) => r.variant === 'Shadow').length, n + 1);
  const first = production.find((r) => r.rec.eventMetadata.inferenceId === 'inf-0')!;
  assert.equal(first.rec.eventVersion, '0');
  assert.deepEqual(first.rec.captureData.endpointInput, { observedContentType: 'application/json', mode: 'INPUT', data: '[[5.1,3.5,1.4,0.2]]', encoding: 'JSON' });
  assert.equal(first.rec.captureData.endpointOutput.mode, 'OUTPUT');
  assert.equal(first.rec.captureData.endpointOutput.encoding, 'JSON');
  assert.match(first.rec.eventMetadata.inferenceTime, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  const csvRecord = production.find((r) => r.rec.captureData.endpointInput.observedContentType === 'text/csv')!;
  assert.equal(csvRecord.variant, 'B');
  assert.equal(csvRecord.rec.captureData.endpointInput.encoding, 'CSV');
  assert.equal(csvRecord.rec.captureData.endpointInput.data, '5.1,3.5,1.4,0.2');
});
