/**
 * The local SageMaker (no endpoint file) refuses a request addressed to a name other than
 * `localhost` or an address (a page under DNS rebinding: its GET carries no Origin), takes the
 * names SMKIT_ALLOWED_HOSTS lists, and an SDK pointed at http://localhost:PORT is served.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { ListModelsCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { startLocalSageMaker } from '../../src/local/control-plane/local-sagemaker.js';
import { FakeBackend } from '../helpers/fake-backend.js';
import { localClientConfig } from '../helpers/local-sdk-clients.js';

/** A ListModels call to `port` addressed to `host`: its status and error type. */
function listModels(port: number, host: string): Promise<{ status: number; type: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/', method: 'POST', agent: false, timeout: 30_000, headers: { Host: host, 'X-Amz-Target': 'SageMaker.ListModels', 'Content-Type': 'application/x-amz-json-1.1' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['x-amzn-errortype'] as string | undefined }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('ListModels timed out')));
    req.on('error', reject);
    req.end('{}');
  });
}

test('smkit local: another name in Host is 403 AccessDeniedException, SMKIT_ALLOWED_HOSTS names more, an invalid value stops the start, an SDK at http://localhost:PORT is served', async () => {
  const saved = process.env['SMKIT_ALLOWED_HOSTS'];
  const settings = { region: 'us-east-1', accountId: '000000000000' };
  try {
    delete process.env['SMKIT_ALLOWED_HOSTS'];
    const plain = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), settings });
    const port = Number(new URL(plain.url).port);
    const sdk = new SageMakerClient(localClientConfig(`http://localhost:${port}`));
    try {
      assert.deepEqual(await listModels(port, `evil.example:${port}`), { status: 403, type: 'AccessDeniedException' });
      assert.equal((await listModels(port, `127.0.0.1:${port}`)).status, 200);
      assert.deepEqual((await sdk.send(new ListModelsCommand({}))).Models, []);
    } finally {
      sdk.destroy();
      await plain.stop();
    }
    process.env['SMKIT_ALLOWED_HOSTS'] = 'devbox.example';
    const named = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), settings });
    try {
      const namedPort = Number(new URL(named.url).port);
      assert.equal((await listModels(namedPort, `devbox.example:${namedPort}`)).status, 200);
      assert.equal((await listModels(namedPort, 'evil.example')).status, 403);
    } finally {
      await named.stop();
    }
    process.env['SMKIT_ALLOWED_HOSTS'] = 'devbox.example:8080';
    await assert.rejects(startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), settings }), { code: 'ERR_CONFIG_INVALID', message: /^SMKIT_ALLOWED_HOSTS="devbox\.example:8080" is invalid/ });
  } finally {
    if (saved === undefined) delete process.env['SMKIT_ALLOWED_HOSTS'];
    else process.env['SMKIT_ALLOWED_HOSTS'] = saved;
  }
});
