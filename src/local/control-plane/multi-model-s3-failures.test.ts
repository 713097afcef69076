// How a multi-model invocation answers when S3 fails to hand over its TargetModel, through the real
// SDK clients, against a stand-in S3: an object S3 refuses (403 AccessDenied) or does not have is the
// caller's to fix, a ValidationError the SDKs do not retry; S3 failing on its own side (a 5xx such as
// 503 SlowDown, a transfer broken part-way, no S3 listening) is not, and answers 503 ServiceUnavailable,
// which the SDKs retry, as a model that loads once S3 recovers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DescribeEndpointCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { craftTarGz } from '../../../test/fixtures/archive/craft.js';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { answerListing, answerS3Error, startStandInS3, type StandInS3, type StandInS3Request } from '../../../test/helpers/stand-in-s3.js';
import { until } from '../../../test/helpers/until.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from './local-sagemaker.js';

const ARCHIVE = craftTarGz([{ path: 'model.onnx', body: 'weights' }]);

/** Whether S3 answers `mme/flaky.tar.gz` with a 503 (else with the archive). */
let flaky = true;
/** Whether S3's `mme/fixed.tar.gz` is not a tar.gz yet (else the archive: the object was uploaded again). */
let unfixed = true;

/** The stand-in S3's answers: the archive, or the failure its key names. */
function serveS3({ req, res, key, url, isListing }: StandInS3Request): void {
  if (isListing) return answerListing(res, 'models', url.searchParams.get('prefix') ?? '');
  if (req.method !== 'GET') return void res.writeHead(405).end();
  if (key === 'mme/denied.tar.gz') return answerS3Error(res, 403, 'AccessDenied', 'Access Denied');
  if (key === 'mme/missing.tar.gz') return answerS3Error(res, 404, 'NoSuchKey', 'The specified key does not exist.');
  if (key === 'mme/flaky.tar.gz' && flaky) return answerS3Error(res, 503, 'SlowDown', 'Please reduce your request rate.');
  if (key === 'mme/fixed.tar.gz' && unfixed) return void res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '8' }).end('garbage\n');
  if (key === 'mme/broken.tar.gz') {
    // Half the archive, then the connection ends: the transfer breaks part-way.
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(ARCHIVE.length) });
    return void res.write(ARCHIVE.subarray(0, ARCHIVE.length >> 1), () => req.socket.destroy());
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(ARCHIVE.length) }).end(ARCHIVE);
}

describe('multi-model S3 failures', () => {
  let s3: StandInS3;
  let local: LocalSageMakerHandle;
  let sm: SageMakerClient;
  let runtime: SageMakerRuntimeClient;

  before(async () => {
    s3 = await startStandInS3(serveS3);
    local = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 5_000, alarmsAndScaling: false, settings: { s3EndpointUrl: s3.url, s3TimeoutSeconds: 60 } });
    sm = new SageMakerClient(localClientConfig(local.url, { requestTimeoutMs: 60_000 }));
    // No SDK retries: each invocation's own answer is what the test reads.
    runtime = new SageMakerRuntimeClient({ ...localClientConfig(local.url, { requestTimeoutMs: 60_000 }), maxAttempts: 1 });
    await sm.send(new CreateModelCommand({ ModelName: 'mme', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: 's3://models/mme/', Mode: 'MultiModel' } }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'mme', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'mme', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'mme', EndpointConfigName: 'mme' }));
    await until('mme in service', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'mme' }))).EndpointStatus === 'InService', { intervalMs: 20, timeoutMs: 60_000 });
  });

  after(async () => {
    sm?.destroy();
    runtime?.destroy();
    await local?.stop();
    await s3?.close();
  });

  const invoke = (TargetModel: string) => runtime.send(new InvokeEndpointCommand({ EndpointName: 'mme', TargetModel, Body: Buffer.from('{}') }));

  /** Asserts that `invocation` fails with `name` and `status`, its message naming the object and matching `says`. */
  const refused = (invocation: Promise<unknown>, name: string, status: number, says: RegExp) =>
    assert.rejects(invocation, (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(err.name, name, err.message);
      assert.equal(err.$metadata?.httpStatusCode, status, err.message);
      assert.match(err.message, says);
      return true;
    });

  test('an object S3 does not have or refuses to give is a ValidationError naming it', async () => {
    await refused(invoke('missing.tar.gz'), 'ValidationError', 400, /Failed to download model data for TargetModel missing\.tar\.gz: there is no s3:\/\/models\/mme\/missing\.tar\.gz/);
    await refused(invoke('denied.tar.gz'), 'ValidationError', 400, /Failed to download model data for TargetModel denied\.tar\.gz: s3:\/\/models\/mme\/denied\.tar\.gz: Access Denied/);
  });

  test('S3 failing on its side (503 SlowDown, a transfer broken part-way) is a 503 ServiceUnavailable naming the object and saying to retry; once S3 answers, the model loads', async () => {
    await refused(invoke('flaky.tar.gz'), 'ServiceUnavailable', 503, /^Failed to download model data for TargetModel flaky\.tar\.gz: S3 failed on its side \(s3:\/\/models\/mme\/flaky\.tar\.gz: Please reduce your request rate\.\); try your call again\.$/);
    await refused(invoke('broken.tar.gz'), 'ServiceUnavailable', 503, /^Failed to download model data for TargetModel broken\.tar\.gz: S3 failed on its side \(s3:\/\/models\/mme\/broken\.tar\.gz: the transfer broke off part-way \(.+\)\); try your call again\.$/);
    flaky = false;
    const out = await invoke('flaky.tar.gz');
    assert.equal(out.$metadata.httpStatusCode, 200);
  });

  test('an object that is not a tar.gz is a ValidationError saying so; once it is uploaded again as one, the next invocation downloads it anew and loads it (the download of the first is not kept)', async () => {
    // Named by its URL, as the service names it, not by the local SageMaker's download of it.
    await refused(invoke('fixed.tar.gz'), 'ValidationError', 400, /^Failed to extract model data archive for TargetModel fixed\.tar\.gz from s3:\/\/models\/mme\/fixed\.tar\.gz\. Please ensure that the object located at the URL is a valid tar\.gz archive: the archive is not a readable tar or tar\.gz archive: [^/]*$/);
    unfixed = false;
    const out = await invoke('fixed.tar.gz');
    assert.equal(out.$metadata.httpStatusCode, 200);
  });
});
