import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { parse } from 'yaml';
import { loadDeployEnvironment } from '../../src/config/deploy.js';
import { MAX_ENDPOINT_FILE_BYTES, readEndpointFile } from '../../src/endpoint-file/load.js';
import { MAX_DEEP_PING_BYTES } from '../../src/endpoint-file/schema.js';
import { readDeployRequest } from '../../src/deploy/request.js';
import { startLocalS3 } from '../helpers/local-s3.js';
import { runSmkit, SMKIT_BIN, type CliRun } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';
import { withDeployTarget } from '../helpers/deploy-target.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** `smkit` with a clean environment: nothing of the developer's AWS settings leaks in. */
function smkit(args: string[], env: Record<string, string> = {}, timeoutMs?: number): Promise<CliRun> {
  return runSmkit(args, { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', AWS_REGION: 'us-east-1', ...env }, timeoutMs);
}

const DEPLOY = 'deploy:\n  role: arn:aws:iam::123456789012:role/R\n  artifacts: s3://artifacts/t/\n  image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/smkit:1\n';
const ENDPOINT = 'endpoints:\n  - name: iris\n    variants:\n      - model: ./iris\n        autoscaling: { minCapacity: 1, maxCapacity: 2, targetInvocationsPerInstance: 70 }\n';

test('smkit deploy: what the file lacks and bad flags are clear errors, before any call', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-cli-'));
  try {
    await cp(path.join(repo, 'models/iris-onnx'), path.join(dir, 'iris'), { recursive: true });
    const write = async (name: string, text: string): Promise<string> => {
      await writeFile(path.join(dir, name), text);
      return path.join(dir, name);
    };
    // Unreachable endpoint URL: any service call would fail with a connection error, not these.
    const url = ['--endpoint-url', 'http://127.0.0.1:9'];
    const noArtifacts = await smkit(['deploy', await write('a.yaml', ENDPOINT), ...url]);
    assert.equal(noArtifacts.code, 1);
    assert.match(noArtifacts.stderr, /ERR_DEPLOY_CONFIG: deploy\.artifacts is missing/);
    const noRole = await smkit(['deploy', await write('b.yaml', 'deploy:\n  artifacts: s3://artifacts/t/\n' + ENDPOINT), ...url]);
    assert.match(noRole.stderr, /ERR_DEPLOY_CONFIG: deploy\.role is missing/);
    const localCapture = await smkit(['deploy', await write('c.yaml', DEPLOY + ENDPOINT + '    dataCapture: { destination: ./capture }\n'), ...url]);
    assert.match(localCapture.stderr, /ERR_DEPLOY_CONFIG: iris: dataCapture\.destination must be an s3:\/\/ URI/);
    const noImage = await smkit(['deploy', await write('f.yaml', 'deploy:\n  role: arn:aws:iam::123456789012:role/R\n  artifacts: s3://artifacts/t/\n' + ENDPOINT), '--build', ...url]);
    assert.match(noImage.stderr, /ERR_DEPLOY_CONFIG: --build needs deploy\.image/);
    const badKey = await smkit(['deploy', await write('d.yaml', DEPLOY + ENDPOINT + '    deploymentConfig: { blueGreenUpdatePolicie: {} }\n'), ...url]);
    assert.match(badKey.stderr, /ERR_ENDPOINT_FILE_INVALID: endpoints\[0\]\.deploymentConfig: unknown key "blueGreenUpdatePolicie": did you mean "blueGreenUpdatePolicy"\?/);
    // Each mistake names the file it is in (a CI job may deploy several).
    for (const [run, name] of [[noArtifacts, 'a.yaml'], [noRole, 'b.yaml'], [localCapture, 'c.yaml'], [badKey, 'd.yaml']] as const) {
      assert.ok(run.stderr.includes(`(in ${path.join(dir, name)})`), run.stderr);
    }
    // A model path that packaging cannot take is named by its key, before the models ahead of it are packaged.
    const pipeline = `${DEPLOY}endpoints:\n  - name: iris\n    variants:\n      - containers: [{ model: ./iris }, { model: ./gone }]\n`;
    const missingModel = await smkit(['deploy', await write('h.yaml', pipeline), ...url]);
    assert.deepEqual(missingModel, {
      code: 1,
      stdout: '',
      stderr: `smkit: ERR_DEPLOY_CONFIG: endpoints[0].variants[0].containers[1]: model ${path.join(dir, 'gone')} does not exist; expected a model directory or a model.tar.gz (a path relative to the endpoint file) (in ${path.join(dir, 'h.yaml')})\n`,
    });
    const longName = 'm'.repeat(300);
    await assert.rejects(readDeployRequest(await write('k.yaml', `${DEPLOY}endpoints:\n  - name: iris\n    variants:\n      - model: ./${longName}\n`), {}), {
      code: 'ERR_DEPLOY_CONFIG',
      message: `endpoints[0].variants[0]: model ${path.join(dir, longName)} cannot be read (ENAMETOOLONG); expected a model directory or a model.tar.gz (a path relative to the endpoint file) (in ${path.join(dir, 'k.yaml')})`,
    });
    await assert.rejects(readDeployRequest(await write('i.yaml', `${DEPLOY}endpoints:\n  - name: iris\n    variants:\n      - model: ./iris\n    shadow: { model: ./i.yaml }\n`), {}), {
      code: 'ERR_DEPLOY_CONFIG',
      message: `endpoints[0].shadow: model ${path.join(dir, 'i.yaml')} is a file; expected a model directory or a model.tar.gz (a path relative to the endpoint file) (in ${path.join(dir, 'i.yaml')})`,
    });
    await assert.rejects(readDeployRequest(await write('j.yaml', 'deploy:\n  role: arn:aws:iam::123456789012:role/R\n  artifacts: s3://artifacts/t/\n' + ENDPOINT), {}), {
      code: 'ERR_DEPLOY_CONFIG',
      message: `endpoints[0].variants[0]: no image to run the model in: set deploy.image in the endpoint file (or image on the container), or pass --build with deploy.image (in ${path.join(dir, 'j.yaml')})`,
    });
    const shortBucket = await smkit(['deploy', await write('g.yaml', DEPLOY.replace('s3://artifacts/t/', 's3://ab/t/') + ENDPOINT), ...url]);
    assert.match(shortBucket.stderr, /deploy\.artifacts: must be an s3:\/\/bucket\/prefix\/ URI whose bucket name is 3 to 63 lowercase/);
    // A failing call exits 1 with the step and the SDK's error (here: nothing listens on the port).
    const unreachable = await smkit(['deploy', await write('e.yaml', DEPLOY + ENDPOINT), ...url], { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9', AWS_MAX_ATTEMPTS: '1' });
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /ERR_DEPLOY_FAILED: SageMaker DescribeEndpoint iris failed: .*ECONNREFUSED/);
    // No Region anywhere (no AWS_REGION, a HOME without ~/.aws): said before the models are packaged.
    const noRegion = await runSmkit(['deploy', path.join(dir, 'e.yaml'), '--dry-run'], { PATH: process.env.PATH ?? '', HOME: dir });
    assert.equal(noRegion.code, 1);
    assert.match(noRegion.stderr, /smkit: ERR_DEPLOY_CONFIG: no AWS Region to deploy to \(Region is missing\): pass --region, add region: under deploy: in the endpoint file, set AWS_REGION, or give your AWS profile a region\n$/);
    assert.doesNotMatch(noRegion.stderr, /packaged/);
    const badFlag = await smkit(['deploy', path.join(dir, 'a.yaml'), '--poll-interval', '0']);
    assert.match(badFlag.stderr, /ERR_CLI_USAGE: --poll-interval=".*" is invalid: expected a number of seconds above 0/);
    // Past Node's timer limit a wait fires at once: the poll would become a busy loop.
    const hugePoll = await smkit(['deploy', path.join(dir, 'a.yaml'), '--poll-interval', '3000000']);
    assert.notEqual(hugePoll.code, 0);
    assert.match(hugePoll.stderr, /ERR_CLI_USAGE: --poll-interval="3000000" is invalid: expected a number of seconds above 0, at most 3600\./);
    // `--template -` is no file named "-" (stdout, read as smkit invoke -o - reads it, has the progress lines).
    await assert.rejects(readDeployRequest(path.join(dir, 'e.yaml'), { template: '-' }), {
      code: 'ERR_CLI_USAGE',
      message: '--template="-" is invalid: expected a file to write the CloudFormation template to, such as stack.yaml (it is written as a file, not to stdout, which has the command\'s progress).',
    });
    const both = await smkit(['deploy', path.join(dir, 'a.yaml'), '--delete', '--template', 'x.json']);
    assert.match(both.stderr, /ERR_CLI_USAGE: --delete does not apply with --template or --build/);
    // --template calls no SageMaker and waits for no endpoint: these flags did nothing there.
    const template = ['deploy', path.join(dir, 'a.yaml'), '--template', path.join(dir, 'stack.json')];
    assert.deepEqual(await smkit([...template, '--poll-interval', '1']), {
      code: 1,
      stdout: '',
      stderr: 'smkit: ERR_CLI_USAGE: --poll-interval does not apply with --template: it writes the template and uploads the archives to S3 (AWS_ENDPOINT_URL_S3 when set, --region), calling no SageMaker and waiting for no endpoint; leave it out\n',
    });
    assert.match((await smkit([...template, ...url, '--timeout', '60'])).stderr, /^smkit: ERR_CLI_USAGE: --endpoint-url and --timeout do not apply with --template: .*; leave them out\n$/);
    assert.equal(existsSync(path.join(dir, 'stack.json')), false);
    // Without --endpoint-url (refused above) a --template rehearsal against a local S3 needs no
    // Region, as a deploy to the local SageMaker does not; to AWS's S3 it still does.
    const noRegionEnv = { PATH: process.env.PATH ?? '', HOME: dir };
    const rehearse = ['deploy', path.join(dir, 'e.yaml'), '--template', path.join(dir, 'stack.json'), '--dry-run'];
    const localTemplate = await runSmkit(rehearse, { ...noRegionEnv, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' });
    assert.equal(localTemplate.code, 0, localTemplate.stderr);
    assert.match(localTemplate.stdout, /^wrote .*stack\.json: iris\n/);
    // On Node 20 the SDK's 8-line notice that its releases after January 2027 need Node 22 came first.
    assert.doesNotMatch(localTemplate.stderr, /NodeVersionSupportWarning/);
    const awsTemplate = await runSmkit(rehearse, noRegionEnv);
    assert.match(awsTemplate.stderr, /smkit: ERR_DEPLOY_CONFIG: no AWS Region to deploy to \(Region is missing\)/);
    // The file's top-level image (smkit local's) without deploy.image: the ImageUri parameter
    // defaults to it and the model runs it; it had no default and ran nothing.
    const topImage = await write('l.yaml', `image: repo/img:2\n${DEPLOY.replace(/  image: .*\n/, '')}${ENDPOINT}`);
    assert.equal((await smkit(['deploy', topImage, '--template', path.join(dir, 'top.json'), '--dry-run'])).code, 0);
    const top = JSON.parse(await readFile(path.join(dir, 'top.json'), 'utf8')) as { Resources: Record<string, { Type: string; Properties: { PrimaryContainer?: { Image?: unknown } } }>; Parameters: Record<string, { Default?: string }> };
    assert.equal(top.Parameters.ImageUri?.Default, 'repo/img:2');
    assert.deepEqual(Object.values(top.Resources).filter((r) => r.Type === 'AWS::SageMaker::Model').map((r) => r.Properties.PrimaryContainer?.Image), [{ Ref: 'ImageUri' }]);
    const help = await smkit(['deploy', '--help']);
    assert.equal(help.code, 0);
    for (const flag of ['--endpoint-url', '--region', '--dry-run', '--delete', '--template', '--build']) assert.ok(help.stdout.includes(flag), flag);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('smkit deploy refuses a deployment step given as an INSTANCE_COUNT more than SageMaker allows of the new fleet, before any call', { timeout: 120_000 }, async () => {
  // SageMaker checks these sizes only at UpdateEndpoint, after deploy has created the config and
  // deregistered the autoscaling the update needs gone: the variant was left without autoscaling.
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-steps-'));
  try {
    await cp(path.join(repo, 'models/iris-onnx'), path.join(dir, 'iris'), { recursive: true });
    const file = async (name: string, count: number, routing: string): Promise<string> => {
      const text = `${DEPLOY}endpoints:\n  - name: iris\n    variants:\n      - model: ./iris\n        instanceCount: ${count}\n    deploymentConfig:\n      ${routing}\n`;
      await writeFile(path.join(dir, name), text);
      return path.join(dir, name);
    };
    const canary = (n: number): string => `blueGreenUpdatePolicy: { trafficRoutingConfiguration: { type: CANARY, canarySize: { type: INSTANCE_COUNT, value: ${n} }, waitIntervalInSeconds: 0 } }`;
    const linear = (n: number): string => `blueGreenUpdatePolicy: { trafficRoutingConfiguration: { type: LINEAR, linearStepSize: { type: INSTANCE_COUNT, value: ${n} }, waitIntervalInSeconds: 0 } }`;
    const rolling = (n: number): string => `rollingUpdatePolicy: { maximumBatchSize: { type: INSTANCE_COUNT, value: ${n} }, waitIntervalInSeconds: 0 }`;
    // Nothing listens on the endpoint URL: a call would fail with a connection error instead.
    const whole = await smkit(['deploy', await file('a.yaml', 1, canary(1)), '--endpoint-url', 'http://127.0.0.1:9']);
    assert.deepEqual(whole, {
      code: 1,
      stdout: '',
      stderr: `smkit: ERR_DEPLOY_CONFIG: iris: deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration.canarySize is 1 INSTANCE_COUNT, 100% of the new fleet's 1 instance (variant AllTraffic's instanceCount): SageMaker takes a canary of at most 50% of the variant's instance count and refuses the update. Change the size, or give the variant more instances (in ${path.join(dir, 'a.yaml')})\n`,
    });
    await assert.rejects(readDeployRequest(await file('b.yaml', 20, linear(1)), {}), { code: 'ERR_DEPLOY_CONFIG', message: /linearStepSize is 1 INSTANCE_COUNT, 5% of the new fleet's 20 instances .*linear steps of 10% to 50%/ });
    await assert.rejects(readDeployRequest(await file('c.yaml', 3, rolling(2)), {}), { code: 'ERR_DEPLOY_CONFIG', message: /maximumBatchSize is 2 INSTANCE_COUNT, 67% of the new fleet's 3 instances .*rolling batches of 5% to 50%/ });
    // Sizes within the rules deploy.
    for (const [name, count, routing] of [['d.yaml', 2, canary(1)], ['e.yaml', 10, linear(1)], ['f.yaml', 20, rolling(1)], ['g.yaml', 4, linear(2)]] as const) {
      await readDeployRequest(await file(name, count, routing), {});
    }
    // AWS gives the share of "the variant's total instance count": with several variants it does not
    // say whether of each or of all, with a shadow whether its instances count, and on Inf1 the update
    // drops the guardrails. Deploy leaves those to UpdateEndpoint rather than refuse what it may take:
    // 1 of 1 + 1 instances is 100% of each variant but 50% of both; 1 of 10 + 10 is 10% of each, 5% of both.
    const text = (variants: string, routing: string): string => `${DEPLOY}endpoints:\n  - name: iris\n    variants:\n${variants}    deploymentConfig:\n      ${routing}\n`;
    const variant = (name: string, count: number, extra = ''): string => `      - name: ${name}\n        model: ./iris\n        instanceCount: ${count}\n${extra}`;
    const loose: Array<[string, string]> = [
      ['h.yaml', text(variant('A', 1) + variant('B', 1), canary(1))],
      ['i.yaml', text(variant('A', 10) + variant('B', 10), linear(1))],
      ['j.yaml', text(variant('A', 1), canary(1)).replace('    deploymentConfig:', '    shadow:\n      name: S\n      model: ./iris\n      instanceCount: 1\n    deploymentConfig:')],
      ['k.yaml', text(variant('A', 1, '        instanceType: ml.inf1.xlarge\n'), canary(1))],
    ];
    for (const [name, yaml] of loose) {
      await writeFile(path.join(dir, name), yaml);
      await readDeployRequest(path.join(dir, name), {});
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('smkit deploy and smkit local refuse a deep-ping bodyFile or endpoint file that is a FIFO or too large, naming the key and file, before reading it or calling anything', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-reads-'));
  try {
    await mkdir(path.join(dir, 'iris'));
    const fifo = path.join(dir, 'sample.fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const big = path.join(dir, 'big.csv');
    await writeFile(big, '');
    await truncate(big, MAX_DEEP_PING_BYTES + 1);
    const withSample = (file: string) => `${DEPLOY}${ENDPOINT}    deepPing: { bodyFile: ${JSON.stringify(file)}, contentType: text/csv }\n`;
    await writeFile(path.join(dir, 'fifo.yaml'), withSample(fifo));
    await writeFile(path.join(dir, 'big.yaml'), withSample(big));
    const url = ['--endpoint-url', 'http://127.0.0.1:9'];
    // A FIFO held the read until a writer came: for ever, here.
    const fromFifo = await smkit(['deploy', path.join(dir, 'fifo.yaml'), ...url], {}, 15_000);
    assert.deepEqual(fromFifo, {
      code: 1,
      stdout: '',
      stderr: `smkit: ERR_ENDPOINT_FILE_INVALID: endpoints[0].deepPing.bodyFile: cannot read ${fifo}: it is a FIFO (named pipe), expected a regular file (in ${path.join(dir, 'fifo.yaml')})\n`,
    });
    await assert.rejects(readDeployRequest(path.join(dir, 'big.yaml'), {}), {
      code: 'ERR_ENDPOINT_FILE_INVALID',
      message: `endpoints[0].deepPing.bodyFile: cannot read ${big}: it is ${MAX_DEEP_PING_BYTES + 1} bytes, over the ${MAX_DEEP_PING_BYTES} bytes read (in ${path.join(dir, 'big.yaml')})`,
    });
    // smkit local takes any file ending in .yaml as its endpoint file.
    const fifoFile = path.join(dir, 'endpoints.yaml');
    assert.equal(spawnSync('mkfifo', [fifoFile]).status, 0);
    const local = await smkit(['local', fifoFile, '--port', '0'], {}, 15_000);
    assert.equal(local.code, 1);
    assert.equal(local.stderr, `smkit: ERR_ENDPOINT_FILE_INVALID: cannot read endpoint file ${fifoFile}: it is a FIFO (named pipe), expected a regular file\n`);
    const hugeFile = path.join(dir, 'huge.yaml');
    await writeFile(hugeFile, '');
    await truncate(hugeFile, MAX_ENDPOINT_FILE_BYTES + 1);
    await assert.rejects(readEndpointFile(hugeFile), {
      code: 'ERR_ENDPOINT_FILE_INVALID',
      message: `cannot read endpoint file ${hugeFile}: it is ${MAX_ENDPOINT_FILE_BYTES + 1} bytes, over the ${MAX_ENDPOINT_FILE_BYTES} bytes read`,
    });
    await writeFile(path.join(dir, 'inline.json'), JSON.stringify({ endpoints: [{ name: 'iris', variants: [{ model: './iris' }], deepPing: { body: 'x'.repeat(MAX_DEEP_PING_BYTES + 1) } }] }));
    await assert.rejects(readEndpointFile(path.join(dir, 'inline.json')), {
      code: 'ERR_ENDPOINT_FILE_INVALID',
      message: `endpoints[0].deepPing.body: is ${MAX_DEEP_PING_BYTES + 1} bytes; a sample request is at most ${MAX_DEEP_PING_BYTES} bytes, InvokeEndpoint's limit (in ${path.join(dir, 'inline.json')})`,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a deep-ping bodyFile or endpoint file whose size says 0 but that holds gigabytes (/proc/self/pagemap) is read no further than its limit, then refused naming the key and file', { skip: !existsSync('/proc/self/pagemap') }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-proc-'));
  try {
    await mkdir(path.join(dir, 'iris'));
    await writeFile(path.join(dir, 'sample.yaml'), `${DEPLOY}${ENDPOINT}    deepPing: { bodyFile: /proc/self/pagemap, contentType: text/csv }\n`);
    // It was read whole: gigabytes of memory within seconds.
    await assert.rejects(readDeployRequest(path.join(dir, 'sample.yaml'), {}), {
      code: 'ERR_ENDPOINT_FILE_INVALID',
      message: `endpoints[0].deepPing.bodyFile: cannot read /proc/self/pagemap: it holds more than the ${MAX_DEEP_PING_BYTES} bytes read (in ${path.join(dir, 'sample.yaml')})`,
    });
    const linked = path.join(dir, 'endpoints.yaml');
    await symlink('/proc/self/pagemap', linked);
    await assert.rejects(readEndpointFile(linked), { code: 'ERR_ENDPOINT_FILE_INVALID', message: `cannot read endpoint file ${linked}: it holds more than the ${MAX_ENDPOINT_FILE_BYTES} bytes read` });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('smkit deploy --template: CloudFormation YAML with the archives it names uploaded (--dry-run only lists them)', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-template-'));
  const s3 = await startLocalS3(['artifacts']);
  try {
    await cp(path.join(repo, 'models/iris-onnx'), path.join(dir, 'iris'), { recursive: true });
    await writeFile(path.join(dir, 'endpoints.yaml'), DEPLOY + ENDPOINT);
    // An upload that fails (no S3 listens there) writes no template naming an archive not in the bucket.
    const failed = await smkit(['deploy', path.join(dir, 'endpoints.yaml'), '--template', path.join(dir, 'stack.yaml')], { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' });
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /ERR_DEPLOY_FAILED: S3 /);
    assert.equal(existsSync(path.join(dir, 'stack.yaml')), false, failed.stdout);
    const env = { AWS_ENDPOINT_URL_S3: s3.url };
    const dry = await smkit(['deploy', path.join(dir, 'endpoints.yaml'), '--template', path.join(dir, 'stack.yaml'), '--dry-run'], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /archive s3:\/\/artifacts\/t\/[0-9a-f]{64}\/model\.tar\.gz .* must be in the bucket/);
    assert.equal((await s3.client.send(new ListObjectsV2Command({ Bucket: 'artifacts' }))).KeyCount, 0);
    const real = await smkit(['deploy', path.join(dir, 'endpoints.yaml'), '--template', path.join(dir, 'stack.yaml')], env);
    assert.equal(real.code, 0, real.stderr);
    assert.equal((await s3.client.send(new ListObjectsV2Command({ Bucket: 'artifacts' }))).KeyCount, 1);
    const t = parse(await readFile(path.join(dir, 'stack.yaml'), 'utf8')) as { Resources: Record<string, { Type: string }>; Parameters: Record<string, { Default?: string }> };
    assert.deepEqual(Object.values(t.Resources).map((r) => r.Type).sort(), [
      'AWS::ApplicationAutoScaling::ScalableTarget',
      'AWS::ApplicationAutoScaling::ScalingPolicy',
      'AWS::SageMaker::Endpoint',
      'AWS::SageMaker::EndpointConfig',
      'AWS::SageMaker::Model',
    ]);
    assert.equal(t.Parameters.ImageUri?.Default, '123456789012.dkr.ecr.us-east-1.amazonaws.com/smkit:1');
  } finally {
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('smkit deploy --template --build: the ImageUri parameter defaults to the pushed digest the models run, not deploy.image\'s tag', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-template-build-'));
  const s3 = await startLocalS3(['artifacts']);
  try {
    await cp(path.join(repo, 'models/iris-onnx'), path.join(dir, 'iris'), { recursive: true });
    // A stand-in for docker (no engine runs here): it builds and pushes nothing, and reports this digest.
    const digest = `localhost:5000/smkit@sha256:${'0123456789abcdef'.repeat(4)}`;
    await mkdir(path.join(dir, 'bin'));
    await writeFile(path.join(dir, 'bin', 'docker'), `#!/bin/sh\ncase "$1 $*" in\n  info*) echo '{}' ;;\n  *RepoDigests*) echo '${digest}' ;;\n  *Size*) echo 1000 ;;\nesac\nexit 0\n`, { mode: 0o755 });
    await writeFile(path.join(dir, 'endpoints.yaml'), DEPLOY.replace('123456789012.dkr.ecr.us-east-1.amazonaws.com/smkit:1', 'localhost:5000/smkit:1') + ENDPOINT);
    const env = { AWS_ENDPOINT_URL_S3: s3.url, PATH: `${path.join(dir, 'bin')}:${process.env.PATH ?? ''}` };
    const run = await smkit(['deploy', path.join(dir, 'endpoints.yaml'), '--template', path.join(dir, 'stack.yaml'), '--build', '--engine', 'docker'], env);
    assert.equal(run.code, 0, run.stderr);
    const t = parse(await readFile(path.join(dir, 'stack.yaml'), 'utf8')) as { Resources: Record<string, { Type: string; Properties: { PrimaryContainer?: { Image?: unknown } } }>; Parameters: Record<string, { Default?: string }> };
    assert.equal(t.Parameters.ImageUri?.Default, digest);
    const images = Object.values(t.Resources).filter((r) => r.Type === 'AWS::SageMaker::Model').map((r) => r.Properties.PrimaryContainer?.Image);
    assert.deepEqual(images, [{ Ref: 'ImageUri' }], 'the model runs the parameter, so overriding it changes the image');
  } finally {
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('smkit deploy --build for a GPU instance type builds the gpu image for linux/amd64 and says why: the cpu image left the GPUs unused without a word', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-build-gpu-'));
  const s3 = await startLocalS3(['artifacts']);
  try {
    await cp(path.join(repo, 'models/iris-onnx'), path.join(dir, 'iris'), { recursive: true });
    // A stand-in for docker that notes each call's arguments (no engine runs here).
    const digest = `localhost:5000/smkit@sha256:${'0123456789abcdef'.repeat(4)}`;
    const calls = path.join(dir, 'calls.txt');
    await mkdir(path.join(dir, 'bin'));
    await writeFile(path.join(dir, 'bin', 'docker'), `#!/bin/sh\necho "$*" >> '${calls}'\ncase "$1 $*" in\n  info*) echo '{}' ;;\n  *RepoDigests*) echo '${digest}' ;;\n  *Size*) echo 1000 ;;\nesac\nexit 0\n`, { mode: 0o755 });
    const endpoint = ENDPOINT.replace('      - model: ./iris\n', '      - model: ./iris\n        instanceType: ml.g5.xlarge\n');
    await writeFile(path.join(dir, 'endpoints.yaml'), DEPLOY.replace('123456789012.dkr.ecr.us-east-1.amazonaws.com/smkit:1', 'localhost:5000/smkit:1') + endpoint);
    const env = { AWS_ENDPOINT_URL_S3: s3.url, PATH: `${path.join(dir, 'bin')}:${process.env.PATH ?? ''}` };
    // --dry-run says which image it would build, and why.
    const dry = await smkit(['deploy', path.join(dir, 'endpoints.yaml'), '--template', path.join(dir, 'stack.yaml'), '--build', '--engine', 'docker', '--dry-run'], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /would build smkit's gpu image for linux\/amd64 \(ml\.g5\.xlarge has NVIDIA GPUs, .*\), and push it as localhost:5000\/smkit:1/);
    // Its plan names the models after the tag; the run pins the pushed digest, so the dry run says the names it shows are not the run's.
    assert.match(dry.stdout, /push it as localhost:5000\/smkit:1; the models would run the digest the push gives \(localhost:5000\/smkit@sha256:…\), known only once pushed: this dry run uses the tag instead, so the run's model and endpoint-config names differ from these/);
    const run = await smkit(['deploy', path.join(dir, 'endpoints.yaml'), '--template', path.join(dir, 'stack.yaml'), '--build', '--engine', 'docker'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /building smkit's gpu image for linux\/amd64 \(ml\.g5\.xlarge has NVIDIA GPUs/);
    const build = (await readFile(calls, 'utf8')).split('\n').find((l) => l.startsWith('build '));
    assert.ok(build, await readFile(calls, 'utf8'));
    assert.match(build, / --target gpu /);
    assert.match(build, / --platform linux\/amd64 /);
  } finally {
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('smkit deploy --build builds for the platform of the instance types, not this machine\'s (an arm64 laptop\'s image did not start on ml.m5), and --variant cpu forces the cpu image on a GPU type', { timeout: 180_000 }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-build-platform-'));
  const s3 = await startLocalS3(['artifacts']);
  try {
    await cp(path.join(repo, 'models/iris-onnx'), path.join(dir, 'iris'), { recursive: true });
    const digest = `localhost:5000/smkit@sha256:${'0123456789abcdef'.repeat(4)}`;
    const calls = path.join(dir, 'calls.txt');
    await mkdir(path.join(dir, 'bin'));
    await writeFile(path.join(dir, 'bin', 'docker'), `#!/bin/sh\necho "$*" >> '${calls}'\ncase "$1 $*" in\n  info*) echo '{}' ;;\n  *RepoDigests*) echo '${digest}' ;;\n  *Size*) echo 1000 ;;\nesac\nexit 0\n`, { mode: 0o755 });
    const env = { AWS_ENDPOINT_URL_S3: s3.url, PATH: `${path.join(dir, 'bin')}:${process.env.PATH ?? ''}` };
    const file = async (types: string[]): Promise<string> => {
      const variants = types.map((t, i) => `      - name: v${i}\n        model: ./iris\n        instanceType: ${t}\n`).join('');
      const f = path.join(dir, `e-${types.join('-')}.yaml`);
      await writeFile(f, DEPLOY.replace('123456789012.dkr.ecr.us-east-1.amazonaws.com/smkit:1', 'localhost:5000/smkit:1') + `endpoints:\n  - name: iris\n    variants:\n${variants}`);
      return f;
    };
    const lastBuild = async (): Promise<string> => {
      const build = (await readFile(calls, 'utf8')).split('\n').filter((l) => l.startsWith('build ')).at(-1);
      assert.ok(build, await readFile(calls, 'utf8'));
      await rm(calls, { force: true });
      return build;
    };
    const deploy = (f: string, ...flags: string[]) => smkit(['deploy', f, '--template', path.join(dir, 'stack.yaml'), '--build', '--engine', 'docker', ...flags], env);
    // An x86_64 CPU type: linux/amd64, named, whatever this machine is.
    const x86 = await deploy(await file(['ml.m5.large']));
    assert.equal(x86.code, 0, x86.stderr);
    assert.match(x86.stderr, /building smkit's cpu image for linux\/amd64/);
    const x86Build = await lastBuild();
    assert.match(x86Build, / --target cpu /);
    assert.match(x86Build, / --platform linux\/amd64 /);
    // Graviton (and the Graviton GPU type ml.g5g): the cpu image for linux/arm64, and why.
    const dry = await deploy(await file(['ml.c7g.large', 'ml.g5g.xlarge']), '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /would build smkit's cpu image for linux\/arm64 \(ml\.g5g\.xlarge has NVIDIA GPUs that the gpu image cannot use \(it is linux\/amd64 and CUDA 12 only\), which this one leaves unused; ml\.c7g\.large, ml\.g5g\.xlarge have arm64 CPUs\), and push it/);
    const arm = await deploy(await file(['ml.c7g.large', 'ml.g5g.xlarge']));
    assert.equal(arm.code, 0, arm.stderr);
    const armBuild = await lastBuild();
    assert.match(armBuild, / --target cpu /);
    assert.match(armBuild, / --platform linux\/arm64 /);
    // --variant cpu on a GPU type: the cpu image, saying the GPUs stay unused.
    const cpu = await deploy(await file(['ml.g5.xlarge']), '--variant', 'cpu');
    assert.equal(cpu.code, 0, cpu.stderr);
    assert.match(cpu.stderr, /building smkit's cpu image for linux\/amd64 \(--variant cpu: ml\.g5\.xlarge has NVIDIA GPUs, which it leaves unused\)/);
    assert.match(await lastBuild(), / --target cpu /);
    // One image cannot run on both architectures, and the gpu image is linux/amd64 only: said before anything is built or packed.
    const mixed = await deploy(await file(['ml.m5.large', 'ml.c7g.large']));
    assert.equal(mixed.code, 1);
    assert.match(mixed.stderr, /ERR_DEPLOY_CONFIG: --build makes one image for one platform, but the variants that run it are arm64 \(ml\.c7g\.large\) and x86_64 \(ml\.m5\.large\)/);
    const gpuOnArm = await deploy(await file(['ml.g5g.xlarge']), '--variant', 'gpu');
    assert.equal(gpuOnArm.code, 1);
    assert.match(gpuOnArm.stderr, /ERR_DEPLOY_CONFIG: --variant gpu: the gpu image is linux\/amd64 only .* ml\.g5g\.xlarge is arm64/);
    assert.equal(existsSync(calls), false, 'nothing was built');
    // --variant is checked as --engine is.
    const bad = await smkit(['deploy', await file(['ml.m5.large']), '--template', path.join(dir, 'stack.yaml'), '--build', '--variant', 'gpus']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--variant="gpus" is invalid: expected one of cpu, gpu/);
    const noBuild = await smkit(['deploy', await file(['ml.m5.large']), '--template', path.join(dir, 'stack.yaml'), '--variant', 'cpu']);
    assert.equal(noBuild.code, 1);
    assert.match(noBuild.stderr, /ERR_CLI_USAGE: --variant only applies with --build/);
  } finally {
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('smkit deploy names the AWS Region it deploys to when it comes from the environment (AWS_REGION), not only from --region or deploy.region', { timeout: 120_000 }, async () => {
  await withDeployTarget(async ({ url, modelDir }) => {
    const file = path.join(modelDir, 'e.yaml');
    await writeFile(file, 'endpoints:\n  - name: iris\n    variants:\n      - model: ./\n');
    // The SDK's per-service endpoint variables stand in for AWS: no --endpoint-url, so the plan names AWS and the Region.
    const env = { AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's', AWS_ENDPOINT_URL_SAGEMAKER: url, AWS_ENDPOINT_URL_CLOUDWATCH: url, AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING: url };
    const run = await smkit(['deploy', file, '--delete', '--dry-run'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'endpoint iris (AWS eu-west-1), --delete:\n  nothing to delete\ndry run: nothing was deleted\n');
  });
});

test('deploy environment: the S3 endpoint, region and credential presence come from the SDK variables; a bad URL names its variable', () => {
  assert.deepEqual(loadDeployEnvironment({ AWS_ENDPOINT_URL: 'http://127.0.0.1:1', AWS_DEFAULT_REGION: 'eu-west-1' }), { s3EndpointUrl: 'http://127.0.0.1:1', region: 'eu-west-1', hasCredentials: false });
  assert.equal(loadDeployEnvironment({ AWS_ENDPOINT_URL: 'http://a', AWS_ENDPOINT_URL_S3: 'http://b' }).s3EndpointUrl, 'http://b');
  assert.equal(loadDeployEnvironment({ AWS_PROFILE: 'dev' }).hasCredentials, true);
  assert.throws(() => loadDeployEnvironment({ AWS_ENDPOINT_URL_S3: 'localhost:4569' }), {
    code: 'ERR_CONFIG_INVALID',
    message: 'AWS_ENDPOINT_URL_S3="localhost:4569" is invalid: expected an http:// or https:// URL such as http://127.0.0.1:4569.',
  });
  assert.throws(() => loadDeployEnvironment({ AWS_ENDPOINT_URL: 'ftp://h' }), { code: 'ERR_CONFIG_INVALID', message: /^AWS_ENDPOINT_URL="ftp:\/\/h" is invalid: / });
  // A password in the URL is not shown (it was: me:s3cret@h:80 parses as scheme "me:", with no password).
  assert.throws(() => loadDeployEnvironment({ AWS_ENDPOINT_URL_S3: 'me:s3cret@h:80' }), { code: 'ERR_CONFIG_INVALID', message: 'AWS_ENDPOINT_URL_S3="me:***@h:80" is invalid: expected an http:// or https:// URL such as http://127.0.0.1:4569.' });
});

test('smkit deploy stopped by Ctrl-C (SIGINT) while it packages a large model exits 1 with ERR_DEPLOY_FAILED and leaves no partial archive or staging folder', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-cli-int-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const tmp = path.join(dir, 'tmp');
  await mkdir(path.join(dir, 'big'), { recursive: true });
  await mkdir(tmp);
  await writeFile(path.join(dir, 'big', 'model.onnx'), 'x');
  // 4 GiB of a sparse file: nothing on disk, seconds of gzip, so the signal finds the archive being written.
  await writeFile(path.join(dir, 'big', 'weights.bin'), '');
  await truncate(path.join(dir, 'big', 'weights.bin'), 4 * 1024 ** 3);
  await writeFile(path.join(dir, 'e.yaml'), DEPLOY + 'endpoints:\n  - name: big\n    variants:\n      - model: ./big\n');
  const cli = spawn(process.execPath, [SMKIT_BIN, 'deploy', path.join(dir, 'e.yaml'), '--endpoint-url', 'http://127.0.0.1:9'], {
    env: { PATH: process.env.PATH ?? '', HOME: dir, TMPDIR: tmp, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => cli.on('exit', (code) => resolve(code)));
  const partial = async (): Promise<boolean> => {
    for (const d of await readdir(tmp)) if (d.startsWith('smkit-deploy-') && (await readdir(path.join(tmp, d))).some((f) => f.includes('.partial-'))) return true;
    return false;
  };
  await until('the partial archive', partial, { detail: () => stderr });
  cli.kill('SIGINT');
  assert.equal(await exited, 1, stderr);
  assert.match(stderr, /smkit: ERR_DEPLOY_FAILED: interrupted by SIGINT while packaging .*big: nothing was uploaded or changed\n$/);
  // Node 22+ keeps its compile cache there (node-compile-cache): that is Node's, not a work folder.
  assert.deepEqual((await readdir(tmp)).filter((name) => name !== 'node-compile-cache'), [], 'the work folder and the staging folder are removed');
});

test("docs/deploy.md: the smallest endpoint file, its first yaml block, deploys as written beside models/", async () => {
  const doc = await readFile(path.join(repo, 'docs/deploy.md'), 'utf8');
  const block = /```yaml\n([\s\S]*?)```/.exec(doc.slice(0, doc.indexOf('```sh')));
  assert.ok(block, 'docs/deploy.md shows an endpoint file before its first commands');
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-doc-'));
  try {
    await cp(path.join(repo, 'models/iris-onnx'), path.join(dir, 'models/iris-onnx'), { recursive: true });
    await writeFile(path.join(dir, 'endpoints.yaml'), block[1]!);
    const request = await readDeployRequest(path.join(dir, 'endpoints.yaml'), { dryRun: true });
    assert.deepEqual(request.config.endpoints.map((e) => e.name), ['iris']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('smkit deploy to the local SageMaker with no S3 endpoint and no credentials is refused before packaging', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-s3-'));
  try {
    await cp(path.join(repo, 'models/iris-onnx'), path.join(dir, 'iris'), { recursive: true });
    await writeFile(path.join(dir, 'e.yaml'), DEPLOY + ENDPOINT);
    // Nothing listens on port 9: had the check let it through, the first S3 call would fail instead.
    const run = await smkit(['deploy', path.join(dir, 'e.yaml'), '--endpoint-url', 'http://127.0.0.1:9']);
    assert.deepEqual(run, {
      code: 1,
      stdout: '',
      stderr:
        'smkit: ERR_DEPLOY_CONFIG: --endpoint-url http://127.0.0.1:9 is the local SageMaker, but no AWS_ENDPOINT_URL_S3 (nor AWS_ENDPOINT_URL) names the S3 the model archives go to, and no AWS credentials are set: ' +
        'set AWS_ENDPOINT_URL_S3 to a local S3 (s3rver: http://127.0.0.1:4569) that smkit local reads too, or set AWS credentials to use AWS S3\n',
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('smkit deploy with AWS_PROFILE naming no profile of the shared files says so, with the one meant, before packaging: the SDK said "Region is missing" or to set AWS_PROFILE', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-profile-'));
  try {
    await cp(path.join(repo, 'models/iris-onnx'), path.join(dir, 'iris'), { recursive: true });
    await writeFile(path.join(dir, 'e.yaml'), DEPLOY + ENDPOINT);
    await mkdir(path.join(dir, '.aws'));
    const config = path.join(dir, '.aws', 'config');
    const credentials = path.join(dir, '.aws', 'credentials');
    // As the SDK reads them: [profile NAME] and [default] in config (a bare [NAME] there is no profile), [NAME] in credentials.
    await writeFile(config, '[default]\nregion = us-east-1\n[profile dev] # comment\nregion = us-west-2\n[staging]\nregion = eu-west-1\n[sso-session corp]\nsso_region = us-east-1\n');
    await writeFile(credentials, '[ci]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = x\n');
    const env = { HOME: dir, AWS_REGION: '' };
    // No --endpoint-url, no AWS_REGION: the profile gave the Region, so without the check this was "no AWS Region to deploy to".
    const typo = await smkit(['deploy', path.join(dir, 'e.yaml'), '--dry-run'], { ...env, AWS_PROFILE: 'deev' });
    assert.deepEqual(typo, {
      code: 1,
      stdout: '',
      stderr:
        `smkit: ERR_DEPLOY_CONFIG: AWS_PROFILE is "deev", which is not a profile of ${config} ([profile deev]) or ${credentials} ([deev]): did you mean "dev"? ` +
        'Set AWS_PROFILE to a profile there (AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE say where the files are), or unset it to use the credentials in the environment\n',
    });
    const bare = await smkit(['deploy', path.join(dir, 'e.yaml'), '--dry-run'], { ...env, AWS_PROFILE: 'staging' });
    assert.match(bare.stderr, /^smkit: ERR_DEPLOY_CONFIG: AWS_PROFILE is "staging", which is not a profile of .* \(they have default, dev, ci\)\. Set AWS_PROFILE/);
    // --delete talks to the services with the same credentials.
    const del = await smkit(['deploy', path.join(dir, 'e.yaml'), '--delete', '--dry-run'], { ...env, AWS_PROFILE: 'corp' });
    assert.match(del.stderr, /^smkit: ERR_DEPLOY_CONFIG: AWS_PROFILE is "corp"/);
    // AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE move the files; a profile found there passes the check
    // (the run then fails at its first call: nothing listens on port 9).
    await rm(path.join(dir, '.aws'), { recursive: true });
    await writeFile(path.join(dir, 'cfg'), '[profile moved]\nregion = us-east-1\n');
    await writeFile(path.join(dir, 'creds'), '[moved]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = x\n');
    const moved = await smkit(['deploy', path.join(dir, 'e.yaml'), '--dry-run', '--endpoint-url', 'http://127.0.0.1:9'], {
      ...env,
      AWS_PROFILE: 'moved',
      AWS_CONFIG_FILE: path.join(dir, 'cfg'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'creds'),
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9',
    });
    assert.equal(moved.code, 1);
    assert.doesNotMatch(moved.stderr, /ERR_DEPLOY_CONFIG/);
    assert.match(moved.stderr, /ECONNREFUSED/);
    // A profile's region is read by the SDK alone: US-East-1 it took (AWS then refused every call's
    // signature), and of "us east 1" deploy said there was no Region at all. Both are named, before packaging.
    await writeFile(path.join(dir, 'cfg'), '[profile upper]\nregion = US-East-1\n[profile spaced]\nregion = us east 1\n');
    await writeFile(path.join(dir, 'creds'), '[upper]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = x\n[spaced]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = x\n');
    for (const [profile, region] of [['upper', 'US-East-1'], ['spaced', 'us east 1']]) {
      for (const extra of [[], ['--template', path.join(dir, 'stack.json')]]) {
        const bad = await runSmkit(['deploy', path.join(dir, 'e.yaml'), '--dry-run', ...extra], { PATH: process.env.PATH ?? '', HOME: dir, AWS_PROFILE: profile!, AWS_CONFIG_FILE: path.join(dir, 'cfg'), AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'creds') });
        assert.deepEqual(bad, {
          code: 1,
          stdout: '',
          stderr: `smkit: ERR_DEPLOY_CONFIG: the region ${JSON.stringify(region)} of the AWS profile "${profile}" (in ${path.join(dir, 'cfg')}) is not an AWS Region such as us-east-1: lower-case letters, digits and hyphens: correct it there, or pass --region, add region: under deploy: in the endpoint file, or set AWS_REGION\n`,
        });
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
