// The local SageMaker driven by the AWS CLI and boto3 (when installed): create, describe, wait,
// invoke and delete through their own request signing, JSON protocol, waiters and error parsing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../../src/local/control-plane/local-sagemaker.js';
import { awsCliVersion, startAwsZygote, type AwsZygote } from '../helpers/aws-zygote.js';
import { REPO_ROOT } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';

const run = promisify(execFile);
const IRIS_DIR = join(REPO_ROOT, 'models', 'iris-onnx');

async function available(cmd: string, args: string[]): Promise<boolean> {
  try {
    await run(cmd, args, { timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

/** Debian's packages (AWS CLI v2, boto3) come first: a `pip` install earlier on PATH may be the CLI v1. */
const AWS_CLI = existsSync('/usr/bin/aws') ? '/usr/bin/aws' : 'aws';
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
// Each `aws` command is still the machine's AWS CLI script in a process of its own (forked from a
// Python that imported awscli once: about two thirds of a plain run's CPU; test/helpers/aws-zygote.ts).
// A zygote that starts has imported the CLI, which shows it is installed: `aws --version`, a second
// of CPU importing it again, only runs where no zygote started (and not for a CLI path, whose version
// awsCliVersion reads more cheaply).
const zygoteStarting = AWS_CLI.startsWith('/') ? startAwsZygote(AWS_CLI, env()) : Promise.resolve(undefined);
const boto3Checked = available(PYTHON, ['-c', 'import boto3']);
const zygote: AwsZygote | undefined = await zygoteStarting;
const hasCli = zygote !== undefined || (AWS_CLI.startsWith('/') ? awsCliVersion(AWS_CLI) !== undefined : await available(AWS_CLI, ['--version']));
const hasBoto3 = await boto3Checked;
let local: LocalSageMakerHandle;
/** The `aws` the test runs: the machine's, or its shim into the zygote when one started. */
let awsBin = AWS_CLI;
let shims: string | undefined;

before(async () => {
  if (hasCli || hasBoto3) local = await startLocalSageMaker({ port: 0, startupTimeoutMs: 60_000, settings: { region: 'us-west-2', accountId: '111122223333' } });
  if (zygote) {
    shims = mkdtempSync(join(tmpdir(), 'smkit-clients-aws-'));
    zygote.install(shims);
    awsBin = join(shims, 'aws');
  }
});
after(async () => {
  await zygote?.stop();
  if (shims) rmSync(shims, { recursive: true, force: true });
  await local?.stop();
});

function env(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, AWS_ACCESS_KEY_ID: 'AKIDLOCAL', AWS_SECRET_ACCESS_KEY: 'local', AWS_DEFAULT_REGION: 'us-west-2', AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '' };
}

async function aws(...args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(awsBin, ['sagemaker', ...args, '--endpoint-url', local.url, '--output', 'json'], { env: env(), timeout: 120_000 });
  return stdout.trim() === '' ? {} : (JSON.parse(stdout) as Record<string, unknown>);
}

const BOTO3_SCRIPT = `
import json, sys, boto3, botocore
url, model_dir = sys.argv[1], sys.argv[2]
sm = boto3.client('sagemaker', endpoint_url=url)
# From AWS_ENDPOINT_URL, the SDKs' standard setting, where this botocore reads it (1.31 and later);
# Debian's older boto3 needs the URL given.
reads_env = tuple(int(p) for p in botocore.__version__.split('.')[:2]) >= (1, 31)
rt = boto3.client('sagemaker-runtime') if reads_env else boto3.client('sagemaker-runtime', endpoint_url=url)
sm.create_model(ModelName='py-model', ExecutionRoleArn='arn:aws:iam::111122223333:role/smkit-local', PrimaryContainer={'Image': 'smkit:latest', 'ModelDataUrl': model_dir})
sm.create_endpoint_config(EndpointConfigName='py-config', ProductionVariants=[{'VariantName': 'AllTraffic', 'ModelName': 'py-model', 'InitialInstanceCount': 2, 'InstanceType': 'ml.m5.large'}])
sm.create_endpoint(EndpointName='py-ep', EndpointConfigName='py-config')
sm.get_waiter('endpoint_in_service').wait(EndpointName='py-ep', WaiterConfig={'Delay': 1, 'MaxAttempts': 90})
d = sm.describe_endpoint(EndpointName='py-ep')
out = rt.invoke_endpoint(EndpointName='py-ep', ContentType='text/csv', Body=b'5.1,3.5,1.4,0.2')
try:
    sm.create_endpoint(EndpointName='py-ep', EndpointConfigName='py-config')
    dup = 'no error'
except sm.exceptions.ClientError as e:
    dup = e.response['Error']['Code'] + ': ' + e.response['Error']['Message']
# A refused value is quoted in part: cut inside a surrogate pair, the message would hold a lone
# surrogate, which Python cannot print or encode as UTF-8.
try:
    sm.add_tags(ResourceArn=d['EndpointArn'], Tags=[{'Key': 'note', 'Value': 'a' + chr(0x1F600) * 128}])
    tag = 'no error'
except sm.exceptions.ClientError as e:
    tag = e.response['Error']['Message']
try:
    tag.encode('utf-8')
    tag_printable = True
except UnicodeEncodeError:
    tag_printable = False
sm.delete_endpoint(EndpointName='py-ep')
sm.get_waiter('endpoint_deleted').wait(EndpointName='py-ep', WaiterConfig={'Delay': 1, 'MaxAttempts': 90})
print(json.dumps({'status': d['EndpointStatus'], 'instances': d['ProductionVariants'][0]['CurrentInstanceCount'], 'created': d['CreationTime'].isoformat(), 'variant': out['InvokedProductionVariant'], 'body': json.loads(out['Body'].read()), 'dup': dup, 'tag': tag, 'tagPrintable': tag_printable}))
`;

// The two clients use their own resource names, so they run side by side (each spends most of its
// time starting Python).
describe('the local SageMaker from Python clients', { concurrency: 2 }, () => {
  test('AWS CLI: create-model, create-endpoint-config, create-endpoint, wait endpoint-in-service, delete, wait endpoint-deleted', { skip: hasCli ? false : 'aws CLI not installed' }, async () => {
    // Older API models (Debian's CLI v2 and boto3) still require an execution role; the local SageMaker records it.
    await aws('create-model', '--model-name', 'cli-model', '--execution-role-arn', 'arn:aws:iam::111122223333:role/smkit-local', '--primary-container', JSON.stringify({ Image: 'smkit:latest', ModelDataUrl: pathToFileURL(IRIS_DIR).href }));
    await aws('create-endpoint-config', '--endpoint-config-name', 'cli-config', '--production-variants', JSON.stringify([{ VariantName: 'AllTraffic', ModelName: 'cli-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }]));
    const created = await aws('create-endpoint', '--endpoint-name', 'cli-ep', '--endpoint-config-name', 'cli-config');
    assert.equal(created.EndpointArn, 'arn:aws:sagemaker:us-west-2:111122223333:endpoint/cli-ep');
    // The CLI's waiter sleeps 30 s between polls (each CLI call also costs a second of start-up):
    // poll in-process first, so the waiter's one poll sees InService.
    await until('InService', async () => (await local.sagemaker.call('DescribeEndpoint', { EndpointName: 'cli-ep' })).EndpointStatus === 'InService');
    await aws('wait', 'endpoint-in-service', '--endpoint-name', 'cli-ep');
    await assert.rejects(aws('describe-endpoint', '--endpoint-name', 'nope'), (err: Error & { stderr?: string }) => /An error occurred \(ValidationException\) when calling the DescribeEndpoint operation: Could not find endpoint "arn:aws:sagemaker:us-west-2:111122223333:endpoint\/nope"\./.test(err.stderr ?? ''));
    await assert.rejects(aws('create-endpoint', '--endpoint-name', 'bad_name', '--endpoint-config-name', 'cli-config'), (err: Error & { stderr?: string }) => /ValidationException.*1 validation error detected: Value 'bad_name' at 'endpointName'/.test(err.stderr ?? ''));
    await aws('delete-endpoint', '--endpoint-name', 'cli-ep');
    await until('gone', async () => local.sagemaker.call('DescribeEndpoint', { EndpointName: 'cli-ep' }).then(() => false, () => true));
    await aws('wait', 'endpoint-deleted', '--endpoint-name', 'cli-ep');
    assert.equal(local.store.endpoints.has('cli-ep'), false);
  });


  test('boto3: create, waiters, invoke, duplicate-create error, a refused value quoted whole-character, delete', { skip: hasBoto3 ? false : 'python3 with boto3 not installed' }, async () => {
    const { stdout } = await run(PYTHON, ['-c', BOTO3_SCRIPT, local.url, IRIS_DIR], { env: { ...env(), AWS_ENDPOINT_URL: local.url }, timeout: 180_000 });
    const out = JSON.parse(stdout) as { status: string; instances: number; created: string; variant: string; body: number[][]; dup: string; tag: string; tagPrintable: boolean };
    assert.equal(out.status, 'InService');
    assert.equal(out.instances, 2);
    assert.ok(!Number.isNaN(Date.parse(out.created)));
    assert.equal(out.variant, 'AllTraffic');
    assert.equal(out.body[0]!.length, 3);
    assert.equal(out.dup, 'ValidationException: Cannot create already existing endpoint "arn:aws:sagemaker:us-west-2:111122223333:endpoint/py-ep".');
    assert.match(out.tag, /^2 validation errors detected: Value 'a(?:😀){99}\.\.\.' at 'tags\.1\.member\.value'/);
    assert.equal(out.tagPrintable, true);
  });
});
