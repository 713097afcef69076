import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildDockerRunArgs, dockerContainerName } from './docker-backend.js';
import { processChildEnv } from './process-backend.js';

const spec = { id: 'iris/AllTraffic/primary', hostname: 'primary', optMlDir: '/tmp/t/opt/ml', env: { A: '1' }, port: 41000, logFile: '/tmp/t/l.log' };

test('docker run argv: image serve, model read-only, env, port on loopback', () => {
  const args = buildDockerRunArgs({ spec, image: 'my/image:1', containerName: 'smkit-x' });
  assert.deepEqual(args, [
    'run', '--rm', '--name', 'smkit-x', '--hostname', 'primary',
    '-p', '127.0.0.1:41000:41000',
    '-v', '/tmp/t/opt/ml/model:/opt/ml/model:ro',
    '-e', 'A=1', '-e', 'SAGEMAKER_BIND_TO_PORT=41000',
    'my/image:1', 'serve',
  ]);
  assert.match(dockerContainerName(spec), /^smkit-iris-AllTraffic-primary-[0-9a-f]{6}$/);
});

test('process children get the tree, the port, loopback binding; container env wins over defaults', () => {
  const env = processChildEnv({ ...spec, env: { SAGEMAKER_MODEL_SERVER_WORKERS: '2', SAGEMAKER_BIND_TO_PORT: '1' } }, { PATH: '/bin' });
  assert.equal(env.PATH, '/bin');
  assert.equal(env.SAGEMAKER_BASE_DIR, '/tmp/t/opt/ml');
  assert.equal(env.SAGEMAKER_BIND_TO_PORT, '41000');
  assert.equal(env.SAGEMAKER_MODEL_SERVER_WORKERS, '2');
  assert.equal(env.SMKIT_BIND_HOST, '127.0.0.1');
  assert.equal(processChildEnv(spec, {}).SAGEMAKER_MODEL_SERVER_WORKERS, '1');
});
