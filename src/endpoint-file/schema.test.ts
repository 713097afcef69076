import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { countScalarValueReads } from '../../test/helpers/yaml-key-reads.js';
import { asyncInferenceConfigOf, parseEndpointFile, routingConfigOf } from './schema.js';
import { checkRoutingConfig } from '../local/control-plane/routing-config.js';
import { endpointNameFor, loadEndpointTarget, readEndpointFile } from './load.js';

const resolve = (p: string): string => `/base/${p}`;
const read = (): Buffer => Buffer.from('sample');

test('a full endpoint file parses with defaults filled and paths resolved', () => {
  const cfg = parseEndpointFile(
    {
      port: 9000,
      endpoints: [
        {
          name: 'iris',
          variants: [
            { model: 'a', env: { SAGEMAKER_MODEL_SERVER_WORKERS: 1 } },
            { name: 'B', weight: 3, containers: [{ model: 'pre' }, { model: 'm.tar.gz', env: { X: true } }] },
          ],
          shadow: { model: 'c' },
          dataCapture: { destination: 'cap', samplingPercentage: 50, captureOptions: ['Input'], csvContentTypes: ['text/csv'] },
          deepPing: { body: [[1, 2, 3, 4]] },
        },
      ],
    },
    resolve,
    read,
  );
  assert.equal(cfg.port, 9000);
  const e = cfg.endpoints[0]!;
  assert.equal(e.variants[0]!.name, 'AllTraffic');
  assert.equal(e.variants[0]!.weight, 1);
  assert.deepEqual(e.variants[0]!.containers, [{ model: '/base/a', env: { SAGEMAKER_MODEL_SERVER_WORKERS: '1' }, hostname: 'primary' }]);
  assert.deepEqual(e.variants[1]!.containers.map((c) => c.hostname), ['container-1', 'container-2']);
  assert.equal(e.variants[1]!.containers[1]!.env.X, 'true');
  const proto = parseEndpointFile(JSON.parse('{"endpoints":[{"name":"e","variants":[{"model":"a","env":{"__proto__":"kept"}}]}]}'), resolve, read);
  assert.deepEqual(Object.entries(proto.endpoints[0]!.variants[0]!.containers[0]!.env), [['__proto__', 'kept']], 'an env variable named __proto__ is kept');
  assert.equal(e.shadow!.name, 'Shadow');
  assert.deepEqual(e.dataCapture, { destination: '/base/cap', samplingPercentage: 50, captureInput: true, captureOutput: false, csvContentTypes: ['text/csv'], jsonContentTypes: [] });
  assert.equal(e.deepPing!.contentType, 'application/json');
  assert.equal(e.deepPing!.body.toString(), '[[1,2,3,4]]');
});

test('errors name the offending key', () => {
  const bad = (doc: unknown, pattern: RegExp): void => {
    assert.throws(() => parseEndpointFile(doc, resolve, read), (err: Error & { code?: string }) => err.code === 'ERR_ENDPOINT_FILE_INVALID' && pattern.test(err.message));
  };
  bad({ endpoints: [{ name: 'bad_name', variants: [{ model: 'a' }] }] }, /endpoints\[0\]\.name/);
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a', weight: -1 }] }] }, /variants\[0\]\.weight/);
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a', containers: [{ model: 'b' }] }] }] }, /not both/);
  bad({ endpoints: [{ name: 'e', variants: [{ containers: Array.from({ length: 16 }, () => ({ model: 'm' })) }] }] }, /1 to 15 containers/);
  bad({ endpoints: [{ name: 'e', variants: [{ containers: [{ model: 'a', hostname: 'x' }, { model: 'b' }] }] }] }, /every container or for none/);
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a', weight: 0 }] }] }, /weight above 0/);
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a' }, { name: 'AllTraffic', model: 'b' }] }] }, /used twice/);
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a' }], dataCapture: { destination: 'd', captureOptions: ['Both'] } }] }, /captureOptions\[0\]/);
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a' }], dataCapture: { destination: 'd', samplingPercentage: 101 } }] }, /samplingPercentage/);
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a', env: { 'BAD-KEY': '1' } }] }] }, /env\.BAD-KEY/);
  // ContainerDefinition.Environment: 32 KB of names and values in all, across a pipeline's containers too.
  const env = (prefix: string, count: number): Record<string, string> => Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${String(i).padStart(2, '0')}`, 'x'.repeat(1021)]));
  const full = env('V', 32);
  assert.equal(parseEndpointFile({ endpoints: [{ name: 'e', variants: [{ model: 'a', env: full }] }] }, resolve, read).endpoints[0]!.variants[0]!.containers[0]!.env['V31']!.length, 1021, '32768 bytes are taken');
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a', env: { ...full, V00: 'x'.repeat(1022) } }] }] }, /^endpoints\[0\]\.variants\[0\]\.env: holds 32769 bytes of names and values; SageMaker allows at most 32 KB \(32768 bytes\) for one model, all its containers together: move large values into the model data$/);
  bad({ endpoints: [{ name: 'e', variants: [{ containers: [{ model: 'a', env: env('A', 16) }, { model: 'b', env: { ...env('B', 16), Z: 'é' } }] }] }] }, /^endpoints\[0\]\.variants\[0\]\.containers: the env maps of its 2 containers hold 32771 bytes/);
  // Node's fs throws a TypeError on a path holding NUL: smkit deploy stopped with it, unnamed.
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a\0b' }] }] }, /^endpoints\[0\]\.variants\[0\]\.model: must be a path without a NUL character \(got "a\\u0000b"\)$/);
  bad({ endpoints: [{ name: 'e', variants: [{ containers: [{ model: 'a' }, { model: '\0' }] }] }] }, /^endpoints\[0\]\.variants\[0\]\.containers\[1\]\.model: must be a path without a NUL/);
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a' }], deepPing: { bodyFile: 'x\0' } }] }, /^endpoints\[0\]\.deepPing\.bodyFile: must be a path without a NUL/);
  // Neither a process environment nor a command-line argument holds a NUL: smkit local stopped with spawn's stack trace.
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a', env: { X: 'a\0b' } }] }] }, /^endpoints\[0\]\.variants\[0\]\.env\.X: must be a value without a NUL character, which no process environment can hold \(got "a\\u0000b"\)$/);
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a', image: 'repo/img\0:1' }] }] }, /^endpoints\[0\]\.variants\[0\]\.image: must be an image reference of at most 255 characters without spaces/);
  bad({ image: 'img\0', endpoints: [{ name: 'e', variants: [{ model: 'a' }] }] }, /^image: must be an image reference/);
  // After `docker run`'s `--` the engine refuses it, but only once the containers start, in a container's log.
  bad({ image: '--privileged', endpoints: [{ name: 'e', variants: [{ model: 'a' }] }] }, /^image: must be an image reference, which does not start with "-", .* \(got "--privileged"\)$/);
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a', image: '-v=/:/host' }] }] }, /^endpoints\[0\]\.variants\[0\]\.image: must be an image reference, which does not start with "-"/);
  // A deep ping names no TargetModel, which every invocation of a multi-model container needs: smkit local stopped with a stack trace.
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a', mode: 'MultiModel' }], deepPing: { body: 'x' } }] }, /^endpoints\[0\]\.deepPing: cannot be sent to variant AllTraffic, whose container is MultiModel: each invocation of it names a TargetModel/);
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a' }], shadow: { model: 'b', mode: 'MultiModel' }, deepPing: { body: 'x' } }] }, /^endpoints\[0\]\.deepPing: cannot be sent to variant Shadow, whose container is MultiModel/);
  // A serial pipeline may hold one multi-model container ("only one multi-model-enabled container can be included in an inference pipeline").
  const pipeline = parseEndpointFile({ endpoints: [{ name: 'e', variants: [{ containers: [{ model: 'a' }, { model: 'b', mode: 'MultiModel' }] }] }] }, resolve, read);
  assert.deepEqual(pipeline.endpoints[0]!.variants[0]!.containers.map((c) => c.mode ?? 'SingleModel'), ['SingleModel', 'MultiModel']);
  bad({ endpoints: [{ name: 'e', variants: [{ containers: [{ model: 'a', mode: 'MultiModel' }, { model: 'b', mode: 'MultiModel' }] }] }] }, /^endpoints\[0\]\.variants\[0\]\.containers: a serial inference pipeline can hold one MultiModel container at most/);
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a' }], dataCapture: { destination: 'd\0' } }] }, /^endpoints\[0\]\.dataCapture\.destination: must be a path without a NUL/);
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a' }], asyncInference: { outputPath: 'o', failurePath: 'f\0' } }] }, /^endpoints\[0\]\.asyncInference\.failurePath: must be a path without a NUL/);
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a', modle: 'x' }] }] }, /unknown key "modle"/);
  // A typo, or the SageMaker API's PascalCase, is answered with the key meant.
  bad({ endpoints: [{ name: 'e', variants: [{ modle: 'a' }] }] }, /^endpoints\[0\]\.variants\[0\]: unknown key "modle": did you mean "model" or "mode"\? \(allowed: name, /);
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a', InstanceType: 'ml.m5.large' }] }] }, /unknown key "InstanceType": did you mean "instanceType"\?/);
  bad({ deploy: { artifact: 's3://b/p/' }, endpoints: [{ name: 'e', variants: [{ model: 'a' }] }] }, /^deploy: unknown key "artifact": did you mean "artifacts"\? \(allowed: role, artifacts, image, region, tags\)$/);
  bad({ endpionts: [] }, /unknown key "endpionts": did you mean "endpoints"\?/);
  bad({ endpoints: [{ name: 'iris', variants: [{ model: 'a' }] }, { name: 'Iris', variants: [{ model: 'a' }] }] }, /^endpoints: endpoint names "iris" and "Iris" differ only in case; SageMaker's endpoint names are case-insensitive/);
  // ModelDataUrl takes 1024 characters: s3://b/<prefix>/ + <sha256>/model.tar.gz.
  const prefixOf = (bytes: number): string => `s3://bucket/${'p'.repeat(bytes - 's3://bucket/'.length - 1)}/`;
  parseEndpointFile({ deploy: { artifacts: prefixOf(947) }, endpoints: [{ name: 'e', variants: [{ model: 'a' }] }] }, resolve, read);
  bad({ deploy: { artifacts: prefixOf(948) }, endpoints: [{ name: 'e', variants: [{ model: 'a' }] }] }, /^deploy\.artifacts: is 948 bytes long with its final "\/"; at most 947 leave room for the <sha256>\/model\.tar\.gz/);
  bad({ deploy: { artifacts: 's3://my..bucket/p/' }, endpoints: [{ name: 'e', variants: [{ model: 'a' }] }] }, /^deploy\.artifacts: names bucket "my\.\.bucket", which S3 cannot have: a bucket name has no two adjacent periods, is not an IP address and does not start with xn--, sthree- or amzn-s3-demo-$/);
  // The prefixes S3 reserves (bucketnamingrules.html), the one AWS's examples use among them; not the suffixes that aliases and directory buckets end with.
  for (const bucket of ['xn--bcher-kva', 'sthree-models', 'amzn-s3-demo-bucket']) {
    bad({ deploy: { artifacts: `s3://${bucket}/p/` }, endpoints: [{ name: 'e', variants: [{ model: 'a' }] }] }, new RegExp(`^deploy\\.artifacts: names bucket "${bucket}", which S3 cannot have`));
  }
  for (const bucket of ['models--usw2-az1--x-s3', 'my-ap-hrzrlukc5m36ft7okagglf3gmwluquse1b-s3alias', 'my-xn--bucket']) {
    parseEndpointFile({ deploy: { artifacts: `s3://${bucket}/p/` }, endpoints: [{ name: 'e', variants: [{ model: 'a' }] }] }, resolve, read);
  }
  bad({ deploy: { artifacts: 's3://192.168.5.4/p/' }, endpoints: [{ name: 'e', variants: [{ model: 'a' }] }] }, /^deploy\.artifacts: names bucket "192\.168\.5\.4"/);
  parseEndpointFile({ deploy: { artifacts: 's3://my.bucket.1/p/' }, endpoints: [{ name: 'e', variants: [{ model: 'a' }] }] }, resolve, read);
  // Every partition's Region shape (botocore partitions.json), the European Sovereign Cloud's included; only what no SDK takes is refused.
  for (const region of ['us-east-1', 'us-gov-west-1', 'cn-north-1', 'us-isob-east-1', 'eu-isoe-west-1', 'us-isof-south-1', 'eusc-de-east-1']) {
    assert.equal(parseEndpointFile({ deploy: { region }, endpoints: [{ name: 'e', variants: [{ model: 'a' }] }] }, resolve, read).deploy?.region, region);
  }
  for (const region of ['us east 1', '-us-east-1', 'us-east-1-', 'r'.repeat(64), 'us_east_1', 'US-EAST-1', 'Eu-West-1']) {
    bad({ deploy: { region }, endpoints: [{ name: 'e', variants: [{ model: 'a' }] }] }, /^deploy\.region: must be an AWS Region such as us-east-1: lower-case letters, digits and hyphens \(got /);
  }
  // CloudWatch refuses control characters in AlarmName, SageMaker's AutoRollbackConfiguration a name of spaces alone.
  const alarm = { metric: 'Invocations', statistic: 'Sum', threshold: 1, comparison: 'GreaterThanThreshold', periodSeconds: 60, evaluationPeriods: 1 };
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a' }], alarms: [{ ...alarm, name: 'five\nxx' }] }] }, /alarms\[0\]\.name: must have a character other than spaces, and no control characters such as a line break \(got "five\\nxx"\)$/);
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a' }], deploymentConfig: { autoRollbackConfiguration: { alarms: [{ alarmName: '   ' }] } } }] }, /autoRollbackConfiguration\.alarms\[0\]\.alarmName: must have a character other than spaces/);
  // An asynchronous endpoint publishes no Invocations, InvocationsPerInstance or OverheadLatency: an alarm on one would never fire.
  bad({ endpoints: [{ name: 'e', asyncInference: { outputPath: 's3://b/o/' }, variants: [{ model: 'a' }], alarms: [{ ...alarm, name: 'calls' }] }] }, /alarms\[0\]\.metric: Invocations is not published for an asynchronous endpoint/);
  parseEndpointFile({ endpoints: [{ name: 'e', asyncInference: { outputPath: 's3://b/o/' }, variants: [{ model: 'a' }], alarms: [{ ...alarm, metric: 'Invocation5XXErrors', name: 'errors' }] }] }, resolve, read);
  // Nor does a serverless endpoint publish InvocationsPerInstance or InvocationModelErrors.
  const serverless = { memorySizeInMB: 2048, maxConcurrency: 2 };
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a', serverless }], alarms: [{ ...alarm, metric: 'InvocationsPerInstance', name: 'load' }] }] }, /alarms\[0\]\.metric: InvocationsPerInstance is not published for a serverless endpoint/);
  parseEndpointFile({ endpoints: [{ name: 'e', variants: [{ model: 'a', serverless }], alarms: [{ ...alarm, name: 'calls' }] }] }, resolve, read);
  // ContainerDefinition.Image takes no whitespace and at most 255 characters (botocore ContainerImage).
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a', image: 'my image:1' }] }] }, /variants\[0\]\.image: must be an image reference .* \(got "my image:1"\)$/);
  bad({ deploy: { image: `r/${'i'.repeat(254)}` }, endpoints: [{ name: 'e', variants: [{ model: 'a' }] }] }, /^deploy\.image: must be an image reference of at most 255 characters/);
  bad({ image: 'tab\there', endpoints: [{ name: 'e', variants: [{ model: 'a' }] }] }, /^image: must be an image reference/);
  // YAML's .inf and .nan are named as written (JSON.stringify said null); a huge value is cut short.
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a', weight: Infinity }] }] }, /variants\[0\]\.weight: must be a number from 0 to \d+ \(got Infinity\)$/);
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a', instanceCount: NaN }] }] }, /\(got NaN\)$/);
  bad({ endpoints: [{ name: 'x'.repeat(1_000_000), variants: [{ model: 'a' }] }] }, /^endpoints\[0\]\.name: .{0,200}\(got "x{79}… \(1000002 characters\)\)$/);
  bad({ endpoints: [{ name: 'e', variants: [{ model: 'a', ['k'.repeat(1_000_000)]: 1 }] }] }, /^endpoints\[0\]\.variants\[0\]: unknown key "k{79}… \(1000002 characters\) \(allowed: .{0,400}$/);
});

test('YAML endpoint files resolve paths against their folder; single models get a name', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-epfile-'));
  try {
    await mkdir(join(dir, 'my_model'));
    await writeFile(join(dir, 'sample.csv'), '1,2,3,4\n');
    await writeFile(join(dir, 'ep.yaml'), 'endpoints:\n  - name: iris\n    variants:\n      - model: ./my_model\n    deepPing:\n      bodyFile: sample.csv\n      contentType: text/csv\n');
    const cfg = await readEndpointFile(join(dir, 'ep.yaml'));
    assert.equal(cfg.endpoints[0]!.variants[0]!.containers[0]!.model, join(dir, 'my_model'));
    assert.equal(cfg.endpoints[0]!.deepPing!.body.toString(), '1,2,3,4\n');
    await writeFile(join(dir, 'ep.json'), JSON.stringify({ endpoints: [{ name: 'j', variants: [{ model: 'my_model' }] }], backend: 'process' }));
    const fromJson = await loadEndpointTarget(join(dir, 'ep.json'));
    assert.equal(fromJson.backend, 'process');
    assert.equal(fromJson.endpoints[0]!.variants[0]!.containers[0]!.model, join(dir, 'my_model'));
    await writeFile(join(dir, 'broken.yaml'), 'endpoints: [\n');
    await assert.rejects(readEndpointFile(join(dir, 'broken.yaml')), /is not valid YAML/);
    // A second document (a --- line, as between Kubernetes manifests): said in the file's terms, not the YAML library's API.
    await writeFile(join(dir, 'two.yaml'), 'endpoints:\n  - name: a\n    variants: [{ model: ./my_model }]\n---\nendpoints: []\n');
    await assert.rejects(readEndpointFile(join(dir, 'two.yaml')), {
      message: `${join(dir, 'two.yaml')} is not valid YAML: it holds more than one YAML document (a second one begins at line 4, column 1: a "---" line starts one, a "..." line ends one): an endpoint file is one document; list every endpoint under its one endpoints: key, and remove the second document's marker`,
    });
    await writeFile(join(dir, 'bom.json'), `\uFEFF${JSON.stringify({ endpoints: [{ name: 'bom', variants: [{ model: 'my_model' }] }] })}`);
    assert.equal((await readEndpointFile(join(dir, 'bom.json'))).endpoints[0]!.name, 'bom', 'a UTF-8 byte order mark is skipped');
    // Node 20's JSON.parse message does not say where; the error does.
    await writeFile(join(dir, 'broken.json'), '{\n  "endpoints": [\n    { "name": "a", "variants": [ { "model": "m" }, ] }\n  ]\n}\n');
    await assert.rejects(readEndpointFile(join(dir, 'broken.json')), /broken\.json is not valid JSON: line 3, column 52: /);
    const single = await loadEndpointTarget(join(dir, 'my_model'));
    assert.equal(single.endpoints[0]!.name, 'my-model');
    const named = await loadEndpointTarget(join(dir, 'ep.yaml'), { name: 'other' });
    assert.equal(named.endpoints[0]!.name, 'other');
    await assert.rejects(loadEndpointTarget(join(dir, 'missing')), /does not exist/);
    // smkit local names a model path it cannot start by its key and file, as deploy does: it was
    // found only once the instance's /opt/ml tree was made ("model <path> does not exist").
    await writeFile(join(dir, 'typo.yaml'), 'endpoints:\n  - name: a\n    variants:\n      - model: ./my_modle\n');
    await assert.rejects(loadEndpointTarget(join(dir, 'typo.yaml')), {
      code: 'ERR_ENDPOINT_FILE_INVALID',
      message: `endpoints[0].variants[0]: model ${join(dir, 'my_modle')} does not exist; expected a model directory or a model.tar.gz (a path relative to the endpoint file) (in ${join(dir, 'typo.yaml')})`,
    });
    await writeFile(join(dir, 'm.onnx'), 'x');
    await writeFile(join(dir, 'file.yaml'), 'endpoints:\n  - name: a\n    variants:\n      - model: ./my_model\n    shadow:\n      containers: [{ model: ./my_model }, { model: ./m.onnx }]\n');
    await assert.rejects(loadEndpointTarget(join(dir, 'file.yaml')), {
      code: 'ERR_ENDPOINT_FILE_INVALID',
      message: `endpoints[0].shadow.containers[1]: model ${join(dir, 'm.onnx')} is a file; expected a model directory or a model.tar.gz (a path relative to the endpoint file) (in ${join(dir, 'file.yaml')})`,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  assert.equal(endpointNameFor('/x/iris/model.tar.gz'), 'iris');
});

test('a YAML env value that reads as a number or a boolean reaches the container as written (1.10 stays 1.10, not 1.1), in every env map and nowhere else', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-epfile-env-'));
  try {
    await mkdir(join(dir, 'm'));
    const env = '{ V: 1.10, W: 1.0, O: 010, H: 0x1F, E: 1e3, B: True, N: 12345678901234567890, I: 5, F: 0.9, Q: "2.50", T: true }';
    await writeFile(
      join(dir, 'ep.yaml'),
      `endpoints:\n  - name: iris\n    variants:\n      - model: ./m\n        env: ${env}\n      - name: B\n        containers:\n          - { model: ./m, env: { V: 2.50 } }\n` +
        `    shadow:\n      model: ./m\n      env: { V: 3.0 }\n    deepPing: { body: { env: { x: 1.10 } }, contentType: application/json }\nstartupTimeoutSeconds: 60.0\n`,
    );
    const cfg = await readEndpointFile(join(dir, 'ep.yaml'));
    const e = cfg.endpoints[0]!;
    assert.deepEqual(e.variants[0]!.containers[0]!.env, { V: '1.10', W: '1.0', O: '010', H: '0x1F', E: '1e3', B: 'True', N: '12345678901234567890', I: '5', F: '0.9', Q: '2.50', T: 'true' });
    assert.deepEqual(e.variants[1]!.containers[0]!.env, { V: '2.50' });
    assert.deepEqual(e.shadow!.containers[0]!.env, { V: '3.0' });
    assert.equal(e.deepPing!.body.toString(), '{"env":{"x":1.1}}', 'a sample body is JSON, read as such');
    assert.equal(cfg.startupTimeoutSeconds, 60);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a %YAML 1.1 file\'s env keeps its text too: yes, 1_000, 0b11 and dates as written, names Y, N and TRUE as written; an alias of a number key\'s scalar gives the env its text and leaves the key a number', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-epfile-env11-'));
  try {
    await mkdir(join(dir, 'm'));
    const env = '{ A: yes, B: off, C: 1_000, D: 0b11, E: 2024-01-01, F: 1:20, Y: 1, N: 2, TRUE: 3, P: *count }';
    const body = `endpoints:\n  - name: iris\n    variants:\n      - model: ./m\n        instanceCount: &count 02\n        env: ${env}\n`;
    const want = { A: 'yes', B: 'off', C: '1_000', D: '0b11', E: '2024-01-01', F: '1:20', Y: '1', N: '2', TRUE: '3', P: '02' };
    for (const [name, text] of [['ep11.yaml', `%YAML 1.1\n---\n${body}`], ['ep12.yaml', body]] as const) {
      await writeFile(join(dir, name), text);
      const variant = (await readEndpointFile(join(dir, name))).endpoints[0]!.variants[0]!;
      assert.deepEqual(variant.containers[0]!.env, want, name);
      assert.equal(variant.instanceCount, 2, name);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a YAML merge key (<<: *anchor) is refused saying that merge keys are not read and what to write instead', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-epfile-merge-'));
  try {
    await mkdir(join(dir, 'm'));
    await writeFile(join(dir, 'ep.yaml'), 'endpoints:\n  - name: iris\n    variants:\n      - &a { name: A, model: ./m }\n      - <<: *a\n        name: B\n');
    await assert.rejects(readEndpointFile(join(dir, 'ep.yaml')), {
      code: 'ERR_ENDPOINT_FILE_INVALID',
      message: `endpoints[0].variants[1]: unknown key "<<": YAML merge keys (<<: *anchor) are not read in an endpoint file; write the keys out, or repeat the map with an alias (env: *shared) (allowed: name, weight, instanceCount, instanceType, autoscaling, routing, serverless, model, env, hostname, image, mode, containers) (in ${join(dir, 'ep.yaml')})`,
    });
    // An alias of a whole map is read, its values as written.
    await writeFile(join(dir, 'alias.yaml'), 'endpoints:\n  - name: iris\n    variants:\n      - { name: A, model: ./m, env: &shared { V: 1.10 } }\n      - { name: B, model: ./m, env: *shared }\n');
    assert.deepEqual((await readEndpointFile(join(dir, 'alias.yaml'))).endpoints[0]!.variants.map((v) => v.containers[0]!.env), [{ V: '1.10' }, { V: '1.10' }]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a key written twice is refused, naming it and both places (JSON would keep the last silently)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-epfile-'));
  const refused = async (name: string, text: string, message: string): Promise<void> => {
    await writeFile(join(dir, name), text);
    await assert.rejects(readEndpointFile(join(dir, name)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_ENDPOINT_FILE_INVALID');
      assert.equal(err.message, `${join(dir, name)}, ${message}`);
      return true;
    });
  };
  try {
    const json = '{\n  "endpoints": [{\n    "name": "a",\n    "variants": [{ "model": "m", "weight": 1, "weight": 9 }],\n    "name": "b"\n  }]\n}\n';
    await refused('dup.json', json, 'line 4, column 47: duplicate key "weight" (first at line 4, column 34); a key may appear once in an object (JSON would keep only the last)');
    await refused('dup.yaml', 'endpoints:\n  - name: a\n    variants:\n      - model: m\n    name: b\n', 'line 5, column 5: duplicate key "name" (first at line 2, column 5); a key may appear once in a mapping');
    // Equal values and escapes that spell the same key count too; the same key in two objects does not.
    await refused('same.json', '{"endpoints":[{"name":"a","variants":[{"model":"m"}],"n\\u0061me":"a"}]}', 'line 1, column 54: duplicate key "name" (first at line 1, column 16); a key may appear once in an object (JSON would keep only the last)');
    await writeFile(join(dir, 'ok.json'), '{"endpoints":[{"name":"a","variants":[{"name":"A","model":"m"},{"name":"B","model":"m"}]}]}');
    assert.deepEqual((await readEndpointFile(join(dir, 'ok.json'))).endpoints[0]!.variants.map((v) => v.name), ['A', 'B']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('deploy settings: variant capacity, autoscaling, deploymentConfig and alarms parse in camelCase', () => {
  const cfg = parseEndpointFile(
    {
      deploy: { role: 'arn:aws:iam::123456789012:role/SageMakerRole', artifacts: 's3://my-bucket/models/', image: 'repo/img:1', region: 'eu-west-1' },
      endpoints: [
        {
          name: 'iris',
          variants: [
            { name: 'A', model: 'a', instanceType: 'ml.m5.large', instanceCount: 2, autoscaling: { minCapacity: 1, maxCapacity: 4, targetInvocationsPerInstance: 70, scaleInCooldownSeconds: 300 } },
            { name: 'B', model: 'b' },
          ],
          dataCapture: { destination: 's3://my-bucket/capture' },
          deploymentConfig: {
            blueGreenUpdatePolicy: {
              trafficRoutingConfiguration: { type: 'CANARY', canarySize: { type: 'CAPACITY_PERCENT', value: 10 }, waitIntervalInSeconds: 300 },
              terminationWaitInSeconds: 60,
              maximumExecutionTimeoutInSeconds: 3600,
            },
            autoRollbackConfiguration: { alarms: [{ alarmName: 'iris-5xx' }] },
          },
          alarms: [{ name: 'iris-5xx', metric: 'Invocation5XXErrors', statistic: 'Sum', threshold: 1, comparison: 'GreaterThanOrEqualToThreshold', periodSeconds: 60, evaluationPeriods: 1, variant: 'A' }],
        },
      ],
    },
    resolve,
    read,
  );
  assert.deepEqual(cfg.deploy, { role: 'arn:aws:iam::123456789012:role/SageMakerRole', artifacts: 's3://my-bucket/models/', image: 'repo/img:1', region: 'eu-west-1' });
  const e = cfg.endpoints[0]!;
  assert.equal(e.variants[0]!.instanceType, 'ml.m5.large');
  assert.equal(e.variants[0]!.instanceCount, 2);
  assert.deepEqual(e.variants[0]!.autoscaling, { minCapacity: 1, maxCapacity: 4, targetInvocationsPerInstance: 70, scaleInCooldownSeconds: 300 });
  assert.equal(e.dataCapture!.destination, 's3://my-bucket/capture', 's3:// destinations are kept, not resolved as paths');
  assert.equal(e.deploymentConfig!.blueGreenUpdatePolicy!.trafficRoutingConfiguration.canarySize!.value, 10);
  assert.equal(e.alarms![0]!.variant, 'A');
  const single = parseEndpointFile({ endpoints: [{ name: 'e', variants: [{ model: 'a' }], alarms: [{ name: 'x', metric: 'ModelLatency', statistic: 'Average', threshold: 1e5, comparison: 'GreaterThanThreshold', periodSeconds: 10, evaluationPeriods: 2 }] }] }, resolve, read);
  assert.equal(single.endpoints[0]!.alarms![0]!.variant, 'AllTraffic', 'one production variant: the alarm watches it');
});

test('deploy settings: errors name the offending key', () => {
  const bad = (doc: unknown, pattern: RegExp): void => {
    assert.throws(() => parseEndpointFile(doc, resolve, read), (err: Error & { code?: string }) => err.code === 'ERR_ENDPOINT_FILE_INVALID' && pattern.test(err.message), `expected ${pattern}`);
  };
  const ep = (extra: Record<string, unknown>, variant: Record<string, unknown> = {}): unknown => ({ endpoints: [{ name: 'e', variants: [{ model: 'a', ...variant }, { name: 'B', model: 'b' }], ...extra }] });
  bad({ ...(ep({}) as object), deploy: { role: 'admin' } }, /deploy\.role/);
  bad({ ...(ep({}) as object), deploy: { artifacts: 'bucket/prefix' } }, /deploy\.artifacts.*s3:\/\//);
  bad({ ...(ep({}) as object), deploy: { bucket: 'x' } }, /unknown key "bucket"/);
  bad(ep({}, { instanceType: 'm5.large' }), /variants\[0\]\.instanceType/);
  bad(ep({}, { autoscaling: { minCapacity: 3, maxCapacity: 2, targetInvocationsPerInstance: 70 } }), /autoscaling\.maxCapacity/);
  bad(ep({}, { autoscaling: { minCapacity: 1, maxCapacity: 2 } }), /targetInvocationsPerInstance/);
  bad(ep({}, { autoscaling: { minCapacity: 1, maxCapacity: 2, targetInvocationsPerInstance: 5, cooldown: 3 } }), /unknown key "cooldown"/);
  bad(ep({}, { autoscaling: { minCapacity: 1, maxCapacity: 2, targetInvocationsPerInstance: 5, targetBacklogPerInstance: 5 } }), /variants\[0\]\.autoscaling: needs exactly one of targetInvocationsPerInstance/);
  bad(ep({}, { autoscaling: { minCapacity: 0, maxCapacity: 2, targetInvocationsPerInstance: 5 } }), /variants\[0\]\.autoscaling\.minCapacity: can be 0 only for an asynchronous endpoint/);
  bad(ep({}, { autoscaling: { minCapacity: 1, maxCapacity: 2, targetBacklogPerInstance: 5 } }), /variants\[0\]\.autoscaling\.targetBacklogPerInstance: needs an asynchronous endpoint/);
  bad(ep({ asyncInference: { outputPath: 's3://b/o/' } }, { autoscaling: { minCapacity: 1, maxCapacity: 2, targetInvocationsPerInstance: 5 } }), /variants\[0\]\.autoscaling\.targetInvocationsPerInstance: needs a real-time endpoint: SageMaker publishes no InvocationsPerInstance/);
  bad(ep({ asyncInference: { outputPath: 's3://b/o/' } }, { autoscaling: { minCapacity: -1, maxCapacity: 2, targetBacklogPerInstance: 5 } }), /autoscaling\.minCapacity/);
  const serverless = { serverless: { memorySizeInMB: 2048, maxConcurrency: 5 } };
  bad(ep({}, { ...serverless, instanceType: 'ml.m5.large' }), /variants\[0\]\.instanceType: does not go with "serverless"/);
  bad(ep({}, { serverless: { memorySizeInMB: 1500, maxConcurrency: 5 } }), /serverless\.memorySizeInMB: must be 1024, 2048/);
  bad(ep({}, { serverless: { memorySizeInMB: 8192, maxConcurrency: 5 } }), /serverless\.memorySizeInMB/);
  bad(ep({}, { serverless: { memorySizeInMB: 1024, maxConcurrency: 201 } }), /serverless\.maxConcurrency/);
  bad(ep({}, { serverless: { memorySizeInMB: 1024, maxConcurrency: 2, provisionedConcurrency: 3 } }), /serverless\.provisionedConcurrency/);
  bad(ep({}, serverless), /variants\[0\]\.serverless: a serverless endpoint has one production variant/);
  const single = (extra: Record<string, unknown>, variant: Record<string, unknown> = serverless): unknown => ({ endpoints: [{ name: 'e', variants: [{ model: 'a', ...variant }], ...extra }] });
  bad(single({ dataCapture: { destination: 's3://b/c' } }), /dataCapture: serverless endpoints do not capture data/);
  bad(single({ asyncInference: { outputPath: 's3://b/o/' } }), /asyncInference: does not go with a serverless variant/);
  bad(single({ deploymentConfig: { rollingUpdatePolicy: { maximumBatchSize: { type: 'INSTANCE_COUNT', value: 1 }, waitIntervalInSeconds: 60 } } }), /rollingUpdatePolicy: rolling updates need instances/);
  bad(single({}, { ...serverless, mode: 'MultiModel' }), /does not go with mode MultiModel/);
  bad(single({ asyncInference: { outputPath: 's3://b/o/' } }, { mode: 'MultiModel' }), /^endpoints\[0\]\.asyncInference: does not go with variant AllTraffic, whose container is MultiModel: InvokeEndpointAsync has no TargetModel/);
  assert.deepEqual(parseEndpointFile(single({}, { serverless: { memorySizeInMB: 3072, maxConcurrency: 10, provisionedConcurrency: 2 } }), resolve, read).endpoints[0]!.variants[0]!.serverless, {
    memorySizeInMB: 3072,
    maxConcurrency: 10,
    provisionedConcurrency: 2,
  });
  const asyncScaling = parseEndpointFile(ep({ asyncInference: { outputPath: 's3://b/o/' } }, { autoscaling: { minCapacity: 0, maxCapacity: 2, targetBacklogPerInstance: 5 } }), resolve, read);
  assert.deepEqual(asyncScaling.endpoints[0]!.variants[0]!.autoscaling, { minCapacity: 0, maxCapacity: 2, targetBacklogPerInstance: 5 });
  bad(ep({ deploymentConfig: { blueGreenUpdatePolicy: { trafficRoutingConfiguration: { type: 'CANARY', waitIntervalInSeconds: 5 } } } }), /canarySize.*required/);
  bad(ep({ deploymentConfig: { blueGreenUpdatePolicy: { trafficRoutingConfiguration: { type: 'LINEAR', linearStepSize: { type: 'PERCENT', value: 10 }, waitIntervalInSeconds: 5 } } } }), /linearStepSize\.type/);
  bad(ep({ deploymentConfig: { blueGreenUpdatePolicy: { trafficRoutingConfiguration: { type: 'ALL_AT_ONCE', waitIntervalInSeconds: 5 }, maximumExecutionTimeoutInSeconds: 60 } } }), /maximumExecutionTimeoutInSeconds/);
  // The API reference's step sizes: canary at most 50%, linear 10-50%, rolling batches 5-50% of the fleet.
  const routing = (trafficRoutingConfiguration: unknown): unknown => ep({ deploymentConfig: { blueGreenUpdatePolicy: { trafficRoutingConfiguration } } });
  bad(routing({ type: 'CANARY', canarySize: { type: 'CAPACITY_PERCENT', value: 60 }, waitIntervalInSeconds: 5 }), /trafficRoutingConfiguration\.canarySize\.value: must be a CAPACITY_PERCENT from 1 to 50 \(got 60\)/);
  bad(routing({ type: 'LINEAR', linearStepSize: { type: 'CAPACITY_PERCENT', value: 5 }, waitIntervalInSeconds: 5 }), /linearStepSize\.value: must be a CAPACITY_PERCENT from 10 to 50 \(got 5\)/);
  bad(routing({ type: 'LINEAR', linearStepSize: { type: 'CAPACITY_PERCENT', value: 100 }, waitIntervalInSeconds: 5 }), /linearStepSize\.value: must be a CAPACITY_PERCENT from 10 to 50/);
  // Rolling deployments exclude multi-variant endpoints (deployment-guardrails-exclusions.html).
  const rolling = (maximumBatchSize: unknown): unknown => single({ deploymentConfig: { rollingUpdatePolicy: { maximumBatchSize, waitIntervalInSeconds: 60 } } }, {});
  bad(ep({ deploymentConfig: { rollingUpdatePolicy: { maximumBatchSize: { type: 'INSTANCE_COUNT', value: 1 }, waitIntervalInSeconds: 60 } } }), /endpoints\[0\]\.deploymentConfig\.rollingUpdatePolicy: rolling updates do not work with more than one production variant .*this endpoint has 2.*use blueGreenUpdatePolicy/);
  bad(rolling({ type: 'CAPACITY_PERCENT', value: 100 }), /rollingUpdatePolicy\.maximumBatchSize\.value: must be a CAPACITY_PERCENT from 5 to 50 \(got 100\)/);
  bad(rolling({ type: 'CAPACITY_PERCENT', value: 4 }), /maximumBatchSize\.value: must be a CAPACITY_PERCENT from 5 to 50/);
  for (const ok of [routing({ type: 'CANARY', canarySize: { type: 'CAPACITY_PERCENT', value: 50 }, waitIntervalInSeconds: 5 }), routing({ type: 'LINEAR', linearStepSize: { type: 'CAPACITY_PERCENT', value: 10 }, waitIntervalInSeconds: 5 }), rolling({ type: 'CAPACITY_PERCENT', value: 5 }), rolling({ type: 'INSTANCE_COUNT', value: 3 })]) {
    assert.doesNotThrow(() => parseEndpointFile(ok, resolve, read));
  }
  // A rollback batch has no such range: 100% (or none) means a blue/green rollback.
  assert.doesNotThrow(() => parseEndpointFile(single({ deploymentConfig: { rollingUpdatePolicy: { maximumBatchSize: { type: 'CAPACITY_PERCENT', value: 25 }, waitIntervalInSeconds: 60, rollbackMaximumBatchSize: { type: 'CAPACITY_PERCENT', value: 100 } } } }, {}), resolve, read));
  bad(ep({ deploymentConfig: { blueGreenUpdatePolicy: { trafficRoutingConfiguration: { type: 'ALL_AT_ONCE', waitIntervalInSeconds: 5 } }, rollingUpdatePolicy: {} } }), /not both/);
  bad(ep({ deploymentConfig: { autoRollbackConfiguration: { alarms: [] } } }), /1 to 10 alarms/);
  const alarm = { name: 'a', metric: 'Invocation5XXErrors', statistic: 'Sum', threshold: 1, comparison: 'GreaterThanThreshold', periodSeconds: 60, evaluationPeriods: 1, variant: 'B' };
  bad(ep({ alarms: [{ ...alarm, metric: 'Errors' }] }), /alarms\[0\]\.metric/);
  bad(ep({ alarms: [{ ...alarm, comparison: '>' }] }), /alarms\[0\]\.comparison/);
  bad(ep({ alarms: [{ ...alarm, periodSeconds: 45 }] }), /periodSeconds.*multiple of 60/);
  // PutMetricAlarm: EvaluationPeriods × Period at most a day under an hourly period, else seven days.
  bad(ep({ alarms: [{ ...alarm, periodSeconds: 300, evaluationPeriods: 289 }] }), /alarms\[0\]\.evaluationPeriods: must be at most 288 with periodSeconds 300 \(got 289\): CloudWatch evaluates an alarm over at most one day/);
  bad(ep({ alarms: [{ ...alarm, periodSeconds: 86400, evaluationPeriods: 8 }] }), /evaluationPeriods: must be at most 7 with periodSeconds 86400 .*seven days/);
  for (const [periodSeconds, evaluationPeriods] of [[60, 1440], [300, 288], [3600, 168], [10, 8640]]) {
    assert.doesNotThrow(() => parseEndpointFile(ep({ alarms: [{ ...alarm, periodSeconds, evaluationPeriods }] }), resolve, read), `${periodSeconds} × ${evaluationPeriods}`);
  }
  bad(ep({ alarms: [{ ...alarm, variant: undefined }] }), /alarms\[0\]\.variant.*required/);
  bad(ep({ alarms: [{ ...alarm, variant: 'C' }] }), /alarms\[0\]\.variant.*one of AllTraffic, B/);
  bad(ep({ alarms: [alarm, alarm] }), /used twice/);
});

test('an alarm name two endpoints of the file use is refused, naming both: CloudWatch has one alarm per name in an account and Region', () => {
  const alarm = (name: string): unknown => ({ name, metric: 'Invocation5XXErrors', statistic: 'Sum', threshold: 1, comparison: 'GreaterThanThreshold', periodSeconds: 60, evaluationPeriods: 1 });
  const file = (second: string): unknown => ({
    endpoints: [
      { name: 'iris', variants: [{ model: 'a' }], alarms: [alarm('iris-5xx'), alarm('5xx')] },
      { name: 'iris-b', variants: [{ model: 'b' }], alarms: [alarm(second)] },
    ],
  });
  assert.throws(() => parseEndpointFile(file('5xx'), resolve, read), {
    code: 'ERR_ENDPOINT_FILE_INVALID',
    message: 'endpoints[1].alarms[0].name: alarm name "5xx" is also endpoints[0].alarms[1]\'s: CloudWatch alarm names are one per account and Region, so both endpoints would share one alarm, each deploy taking it over from the other; give each endpoint\'s alarms their own names',
  });
  assert.deepEqual(parseEndpointFile(file('iris-b-5xx'), resolve, read).endpoints.map((e) => e.alarms?.map((a) => a.name)), [['iris-5xx', '5xx'], ['iris-b-5xx']]);
});

test('dataCapture.captureOptions takes the API\'s CaptureMode values, InputAndOutput included, as strings or {CaptureMode} objects', () => {
  const capture = (captureOptions: unknown) =>
    parseEndpointFile({ endpoints: [{ name: 'e', variants: [{ model: 'a' }], dataCapture: { destination: 'd', captureOptions } }] }, resolve, read).endpoints[0]!.dataCapture!;
  for (const [options, input, output] of [
    [['InputAndOutput'], true, true],
    [[{ CaptureMode: 'InputAndOutput' }], true, true],
    [[{ CaptureMode: 'Output' }], false, true],
    [['Input', { CaptureMode: 'Output' }], true, true],
  ] as const) {
    const c = capture(options);
    assert.deepEqual([c.captureInput, c.captureOutput], [input, output], JSON.stringify(options));
  }
  assert.throws(() => capture([{ CaptureMode: 'Both' }]), /must be one of "Input", "Output", "InputAndOutput"/);
});

test('dataCapture content types are the API\'s CaptureContentType values: a type with parameters, a wildcard or "+" is refused when the file is read', () => {
  const capture = (types: Record<string, unknown>) => parseEndpointFile({ endpoints: [{ name: 'e', variants: [{ model: 'a' }], dataCapture: { destination: 'd', ...types } }] }, resolve, read).endpoints[0]!.dataCapture!;
  assert.deepEqual(capture({ csvContentTypes: ['text/csv', 'application/x-csv'], jsonContentTypes: ['application/jsonlines'] }).jsonContentTypes, ['application/jsonlines']);
  for (const [types, where] of [
    [{ csvContentTypes: ['text/csv; charset=utf-8'] }, /dataCapture\.csvContentTypes\[0\]: must be a content type such as text\/csv, without parameters/],
    [{ jsonContentTypes: ['application/json', 'application/*'] }, /dataCapture\.jsonContentTypes\[1\]/],
    [{ jsonContentTypes: ['application/vnd.api+json'] }, /dataCapture\.jsonContentTypes\[0\]/],
    [{ csvContentTypes: [`text/${'c'.repeat(252)}`] }, /at most 256 characters/],
  ] as const) {
    assert.throws(() => capture(types), (err: Error & { code?: string }) => err.code === 'ERR_ENDPOINT_FILE_INVALID' && where.test(err.message), JSON.stringify(types));
  }
});

test('asyncInference: s3:// paths are kept, local ones resolved; it stands for the API\'s AsyncInferenceConfig; bad values name their key', () => {
  const parse = (asyncInference: unknown) => parseEndpointFile({ endpoints: [{ name: 'e', variants: [{ model: 'a' }], asyncInference }] }, resolve, read).endpoints[0]!;
  const s3 = parse({ outputPath: 's3://b/out/', failurePath: 's3://b/failed/', maxConcurrentInvocationsPerInstance: 2 }).asyncInference!;
  assert.deepEqual(s3, { outputPath: 's3://b/out/', failurePath: 's3://b/failed/', maxConcurrentInvocationsPerInstance: 2 });
  assert.deepEqual(asyncInferenceConfigOf(s3), { OutputConfig: { S3OutputPath: 's3://b/out/', S3FailurePath: 's3://b/failed/' }, ClientConfig: { MaxConcurrentInvocationsPerInstance: 2 } });
  const local = parse({ outputPath: 'out' }).asyncInference!;
  assert.deepEqual(local, { outputPath: '/base/out' });
  assert.deepEqual(asyncInferenceConfigOf(local), { OutputConfig: { S3OutputPath: '/base/out' } });
  assert.equal(parse(undefined).asyncInference, undefined);
  const bad = (value: unknown, pattern: RegExp): void => {
    assert.throws(() => parse(value), (err: Error & { code?: string }) => err.code === 'ERR_ENDPOINT_FILE_INVALID' && pattern.test(err.message));
  };
  bad({}, /asyncInference\.outputPath/);
  bad('s3://b/out', /asyncInference.*"outputPath"/);
  bad({ outputPath: 's3://b/out', maxConcurrentInvocationsPerInstance: 0 }, /asyncInference\.maxConcurrentInvocationsPerInstance/);
  bad({ outputPath: 's3://b/out', maxConcurrentInvocationsPerInstance: 1001 }, /asyncInference\.maxConcurrentInvocationsPerInstance/);
  bad({ outputPath: 's3://b/out', notificationConfig: {} }, /unknown key "notificationConfig"/);
});

test('an S3 destination longer than the 512 characters CreateEndpointConfig takes (DestinationS3Uri) is refused naming its key, counted as the s3:// URI deploy sends; a local folder has no such bound', () => {
  const parse = (endpoint: Record<string, unknown>) => parseEndpointFile({ endpoints: [{ name: 'e', variants: [{ model: 'a' }], ...endpoint }] }, resolve, read).endpoints[0]!;
  const uri = (length: number): string => `s3://b/${'k'.repeat(length - 's3://b/'.length)}`;
  assert.equal(parse({ dataCapture: { destination: uri(512) } }).dataCapture!.destination, uri(512));
  const refused = (endpoint: Record<string, unknown>, pattern: RegExp): void => {
    assert.throws(() => parse(endpoint), (err: Error & { code?: string }) => err.code === 'ERR_ENDPOINT_FILE_INVALID' && pattern.test(err.message), JSON.stringify(endpoint).slice(0, 80));
  };
  refused({ dataCapture: { destination: uri(513) } }, /^endpoints\[0\]\.dataCapture\.destination: is 513 characters long; SageMaker takes an S3 location of at most 512 here \(DestinationS3Uri\)/);
  refused({ asyncInference: { outputPath: uri(600) } }, /^endpoints\[0\]\.asyncInference\.outputPath: is 600 characters long/);
  refused({ asyncInference: { outputPath: 's3://b/o/', failurePath: uri(513) } }, /^endpoints\[0\]\.asyncInference\.failurePath: is 513 characters long/);
  // 'https://b.s3.amazonaws.com/' is 27 characters, 's3://b/' 7: the URL's 530 are the URI's 510.
  const url = `https://b.s3.amazonaws.com/${'k'.repeat(503)}`;
  assert.equal(parse({ asyncInference: { outputPath: url } }).asyncInference!.outputPath, uri(510));
  refused({ asyncInference: { outputPath: `${url}kkk` } }, /outputPath: is 513 characters long as the s3:\/\/ URI it names/);
  assert.equal(parse({ dataCapture: { destination: 'd'.repeat(600) } }).dataCapture!.destination, `/base/${'d'.repeat(600)}`);
});

test('S3 destinations take Amazon S3 https:// URLs, as CreateEndpointConfig does, as the s3:// URI they name; any other URL is refused naming its key, not taken for a folder', () => {
  const parse = (endpoint: Record<string, unknown>) => parseEndpointFile({ endpoints: [{ name: 'e', variants: [{ model: 'a' }], ...endpoint }] }, resolve, read).endpoints[0]!;
  const e = parse({
    asyncInference: { outputPath: 'https://b.s3.us-east-1.amazonaws.com/out/r%201', failurePath: 'https://s3.eu-west-1.amazonaws.com/b/failed/' },
    dataCapture: { destination: 'https://b.s3.amazonaws.com/capture' },
  });
  assert.deepEqual(e.asyncInference, { outputPath: 's3://b/out/r 1', failurePath: 's3://b/failed/' });
  assert.equal(e.dataCapture!.destination, 's3://b/capture');
  const bad = (endpoint: Record<string, unknown>, key: string): void => {
    assert.throws(
      () => parse(endpoint),
      (err: Error & { code?: string }) => err.code === 'ERR_ENDPOINT_FILE_INVALID' && err.message.startsWith(`endpoints[0].${key}: must be an s3://bucket/prefix URI, an Amazon S3 https:// URL, or a local folder (got "`),
    );
  };
  bad({ asyncInference: { outputPath: 'https://example.com/results/' } }, 'asyncInference.outputPath');
  bad({ asyncInference: { outputPath: 's3://b/o', failurePath: 's3://' } }, 'asyncInference.failurePath');
  bad({ dataCapture: { destination: 'http://b.s3.amazonaws.com/capture' } }, 'dataCapture.destination');
  // Neither S3 nor the local SageMaker reads S3:// as an s3:// URI (both match the scheme case-sensitively).
  bad({ dataCapture: { destination: 'S3://b/capture' } }, 'dataCapture.destination');
  bad({ dataCapture: { destination: 'file:///tmp/capture' } }, 'dataCapture.destination');
  // One slash short, or none: a mistyped URL, not a folder named "s3:" next to the file.
  bad({ dataCapture: { destination: 's3:/b/capture' } }, 'dataCapture.destination');
  bad({ asyncInference: { outputPath: 's3:b/out/' } }, 'asyncInference.outputPath');
  bad({ asyncInference: { outputPath: 's3://b/o', failurePath: 'HTTPS:/b.s3.amazonaws.com/f' } }, 'asyncInference.failurePath');
  // A Windows drive letter is a path.
  assert.equal(parse({ dataCapture: { destination: 'C:capture' } }).dataCapture!.destination, resolve('C:capture'));
});

test('routing: each strategy parses, and stands for the RoutingConfig the local SageMaker\'s CreateEndpointConfig takes; shadow variants take it too', () => {
  const parse = (routing: unknown, shadow?: unknown) => parseEndpointFile({ endpoints: [{ name: 'e', variants: [{ model: 'a', routing }], ...(shadow ? { shadow: { model: 's', routing: shadow } } : {}) }] }, resolve, read).endpoints[0]!;
  const prefix = parse({ strategy: 'PREFIX_AWARE', prefixLength: 4096, concurrencyThreshold: 8 }).variants[0]!.routing!;
  assert.deepEqual(prefix, { strategy: 'PREFIX_AWARE', prefixLength: 4096, concurrencyThreshold: 8 });
  assert.deepEqual(routingConfigOf(prefix), { RoutingStrategy: 'PREFIX_AWARE', PrefixAwareRoutingConfig: { PrefixLength: 4096, ConcurrencyThreshold: 8 } });
  const edges = parse({ strategy: 'PREFIX_AWARE', prefixLength: 65536, concurrencyThreshold: 1 }, { strategy: 'PREFIX_AWARE', prefixLength: 1024, concurrencyThreshold: 1024 });
  assert.deepEqual(routingConfigOf(edges.shadow!.routing!), { RoutingStrategy: 'PREFIX_AWARE', PrefixAwareRoutingConfig: { PrefixLength: 1024, ConcurrencyThreshold: 1024 } });
  for (const strategy of ['LEAST_OUTSTANDING_REQUESTS', 'RANDOM'] as const) {
    const r = parse({ strategy }).variants[0]!.routing!;
    assert.deepEqual(r, { strategy });
    assert.deepEqual(routingConfigOf(r), { RoutingStrategy: strategy }, 'no PrefixAwareRoutingConfig beside another strategy');
  }
  assert.equal(parse(undefined).variants[0]!.routing, undefined, 'no routing key: no RoutingConfig (the service default)');
  // What the file takes, CreateEndpointConfig takes: the same rules (routingConfigProblem) behind both.
  for (const r of [prefix, edges.variants[0]!.routing!, edges.shadow!.routing!, { strategy: 'RANDOM' as const }]) {
    assert.doesNotThrow(() => checkRoutingConfig([{ VariantName: 'A', RoutingConfig: routingConfigOf(r) }]));
  }
});

test('routing: refusals name the key and say what to change', () => {
  const refused = (variant: Record<string, unknown>, message: string): void => {
    assert.throws(
      () => parseEndpointFile({ endpoints: [{ name: 'e', variants: [{ model: 'a', ...variant }] }] }, resolve, read),
      (err: Error & { code?: string }) => err.code === 'ERR_ENDPOINT_FILE_INVALID' && err.message === message,
      message,
    );
  };
  const at = 'endpoints[0].variants[0].routing';
  refused({ routing: 'PREFIX_AWARE' }, `${at}: must be a map with "strategy" (LEAST_OUTSTANDING_REQUESTS, RANDOM, PREFIX_AWARE) and, for PREFIX_AWARE, "prefixLength" and "concurrencyThreshold"`);
  refused({ routing: { prefixLength: 4096 } }, `${at}.strategy: is required: one of LEAST_OUTSTANDING_REQUESTS, RANDOM, PREFIX_AWARE`);
  refused({ routing: { strategy: 'prefix_aware' } }, `${at}.strategy: must be one of LEAST_OUTSTANDING_REQUESTS, RANDOM, PREFIX_AWARE (got "prefix_aware")`);
  refused({ routing: { strategy: 'RANDOM', prefixLenght: 4096 } }, `${at}: unknown key "prefixLenght": did you mean "prefixLength"? (allowed: strategy, prefixLength, concurrencyThreshold)`);
  refused({ routing: { strategy: 'PREFIX_AWARE', prefixLength: 1023, concurrencyThreshold: 8 } }, `${at}.prefixLength: must be an integer from 1024 to 65536 (got 1023)`);
  refused({ routing: { strategy: 'PREFIX_AWARE', prefixLength: 65537, concurrencyThreshold: 8 } }, `${at}.prefixLength: must be an integer from 1024 to 65536 (got 65537)`);
  refused({ routing: { strategy: 'PREFIX_AWARE', prefixLength: 4096.5, concurrencyThreshold: 8 } }, `${at}.prefixLength: must be an integer from 1024 to 65536 (got 4096.5)`);
  refused({ routing: { strategy: 'PREFIX_AWARE', prefixLength: 4096, concurrencyThreshold: 0 } }, `${at}.concurrencyThreshold: must be an integer from 1 to 1024 (got 0)`);
  refused({ routing: { strategy: 'PREFIX_AWARE', prefixLength: 4096, concurrencyThreshold: 1025 } }, `${at}.concurrencyThreshold: must be an integer from 1 to 1024 (got 1025)`);
  refused({ routing: { strategy: 'PREFIX_AWARE', prefixLength: '4096', concurrencyThreshold: 8 } }, `${at}.prefixLength: must be an integer from 1024 to 65536 (got "4096")`);
  refused({ routing: { strategy: 'PREFIX_AWARE' } }, `${at}: strategy PREFIX_AWARE needs prefixLength (1024 to 65536: the bytes from the start of the request body that choose the instance) and concurrencyThreshold (1 to 1024: the requests in flight on that instance at which another takes the request)`);
  refused({ routing: { strategy: 'PREFIX_AWARE', prefixLength: 4096 } }, `${at}.concurrencyThreshold: is required with strategy PREFIX_AWARE (1 to 1024: the requests in flight on that instance at which another takes the request)`);
  refused({ routing: { strategy: 'PREFIX_AWARE', concurrencyThreshold: 8 } }, `${at}.prefixLength: is required with strategy PREFIX_AWARE (1024 to 65536: the bytes from the start of the request body that choose the instance)`);
  refused({ routing: { strategy: 'RANDOM', prefixLength: 4096 } }, `${at}.prefixLength: applies only to strategy PREFIX_AWARE, and the strategy is RANDOM: remove prefixLength, or set strategy to PREFIX_AWARE`);
  refused({ routing: { strategy: 'RANDOM', prefixLength: 4096, concurrencyThreshold: 8 } }, `${at}: prefixLength and concurrencyThreshold apply only to strategy PREFIX_AWARE, and the strategy is RANDOM: remove prefixLength and concurrencyThreshold, or set strategy to PREFIX_AWARE`);
  refused({ routing: { strategy: 'LEAST_OUTSTANDING_REQUESTS', concurrencyThreshold: 8 } }, `${at}.concurrencyThreshold: applies only to strategy PREFIX_AWARE, and the strategy is LEAST_OUTSTANDING_REQUESTS: remove concurrencyThreshold, or set strategy to PREFIX_AWARE`);
  refused(
    { serverless: { memorySizeInMB: 2048, maxConcurrency: 5 }, routing: { strategy: 'RANDOM' } },
    `${at}: does not go with "serverless": routing spreads requests over a variant's instances, and a serverless variant has none to choose; remove routing, or give the variant instances (instanceType, instanceCount) instead of serverless`,
  );
});

test('a YAML endpoint file nested more than 512 levels deep is refused before the YAML package parses it, in a thread whose heap is 64 MB: 2 MB of [[[[...]]]] (a million levels) or of - - - x took the package past that heap (a 16 MB one past 4 GB, ending the process)', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-ep-deep-'));
  try {
    const levels = 1_000_000;
    const files = { 'flow.yaml': `endpoints: ${'['.repeat(levels)}${']'.repeat(levels)}\n`, 'compact.yaml': `endpoints:\n  ${'- '.repeat(levels)}x\n` };
    for (const [name, text] of Object.entries(files)) {
      await writeFile(join(dir, name), text);
      const worker = new Worker(
        `const { parentPort, workerData } = require('node:worker_threads');
         import(workerData.moduleUrl).then((m) => m.readEndpointFile(workerData.file)).then(
           () => parentPort.postMessage({ read: true }),
           (err) => parentPort.postMessage({ code: err.code, message: err.message }),
         );`,
        { eval: true, workerData: { moduleUrl: new URL('./load.js', import.meta.url).href, file: join(dir, name) }, resourceLimits: { maxOldGenerationSizeMb: 64 } },
      );
      const [answer] = (await Promise.race([once(worker, 'message'), once(worker, 'error').then(([err]) => Promise.reject(err))])) as [{ code?: string; message?: string }];
      await worker.terminate();
      assert.equal(answer.code, 'ERR_ENDPOINT_FILE_INVALID', `${name}: ${JSON.stringify(answer).slice(0, 300)}`);
      assert.match(answer.message!, /nests its mappings and lists more than 512 levels deep, far more than an endpoint file has/, name);
    }
    // A file as deep as real ones parses as before.
    await writeFile(join(dir, 'ok.yaml'), `endpoints:\n  - name: e\n    variants:\n      - model: ./m\n        env: {A: "${'['.repeat(600)}"}\n`);
    assert.equal((await readEndpointFile(join(dir, 'ok.yaml'))).endpoints[0]!.variants[0]!.containers[0]!.env.A, '['.repeat(600));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a key written twice among 2 000 in one mapping is found in one pass and named with both places, in a YAML file and a JSON one: the YAML package compares each key with every one before it (40 000 keys took 12 s, 400 000 about 20 minutes), where a set per mapping reads each key a few times', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-ep-keys-'));
  try {
    const keys = 2_000;
    // Counted, not timed: the package's check read about keys² values (4 million), a set per mapping 3 per key.
    for (const [name, text, end] of [
      ['keys.yaml', `${Array.from({ length: keys }, (_, i) => `k${i}: 1`).join('\n')}\nk5: 2\n`, 'a key may appear once in a mapping'],
      ['keys.json', `{${Array.from({ length: keys }, (_, i) => `"k${i}": 1`).join(',\n')},\n"k5": 2}\n`, 'a key may appear once in an object (JSON would keep only the last)'],
    ] as const) {
      const file = join(dir, name);
      await writeFile(file, text);
      const { reads, outcome } = await countScalarValueReads(() => readEndpointFile(file));
      assert.equal(outcome.status, 'rejected', name);
      const err = (outcome as PromiseRejectedResult).reason as Error & { code?: string };
      assert.equal(err.code, 'ERR_ENDPOINT_FILE_INVALID', String(err));
      assert.equal(err.message, `${file}, line ${keys + 1}, column 1: duplicate key "k5" (first at line 6, column 1); ${end}`);
      assert.ok(reads >= keys, `${name}: the count sees the keys being read (${reads} reads)`);
      assert.ok(reads <= 10 * keys, `${name}: ${reads} reads of ${keys + 1} keys' values, a comparison of each key with every one before it`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a mapping or list written as a key is refused naming its place: the YAML package turns such a key into text, at a cost that grows steeply with its depth (1 KB of ? ? ? ... x, 512 levels, took 40 s)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-ep-ckey-'));
  try {
    const file = join(dir, 'e.yaml');
    for (const [text, at] of [
      [`endpoints:\n  - name: e\n    ${'? '.repeat(64)}x\n`, 'line 3, column 7'],
      ['endpoints:\n  - name: e\n    variants: [{model: ./m, env: {[A, B]: 1}}]\n', 'line 3, column 35'],
    ] as const) {
      await writeFile(file, text);
      await assert.rejects(readEndpointFile(file), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_ENDPOINT_FILE_INVALID');
        assert.equal(err.message, `${file} is not valid YAML: ${at}: a mapping or list is used as a key, where a key is a name`);
        return true;
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
