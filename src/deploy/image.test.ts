import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CommandRunner } from '../containers/engine.js';
import { ToolkitError } from '../errors/catalogue.js';
import { buildAndPushImage, decodeEcrToken, defaultLogin, ecrRegion, imageFor, imageVariantFor, isArm64InstanceType, registryHost, type ImageDeps } from './image.js';

test('registry hosts and ECR regions are read from the image reference', () => {
  assert.equal(registryHost('123456789012.dkr.ecr.eu-west-1.amazonaws.com/smkit:1'), '123456789012.dkr.ecr.eu-west-1.amazonaws.com');
  assert.equal(registryHost('localhost:5000/smkit:1'), 'localhost:5000');
  assert.equal(registryHost('smkit:1'), undefined);
  assert.equal(registryHost('library/smkit:1'), undefined, 'a Docker Hub path names no host');
  assert.equal(ecrRegion('123456789012.dkr.ecr.eu-west-1.amazonaws.com'), 'eu-west-1');
  assert.equal(ecrRegion('123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn'), 'cn-north-1');
  assert.equal(ecrRegion('123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu'), 'eusc-de-east-1');
  assert.equal(ecrRegion('123456789012.dkr.ecr.us-gov-west-1.amazonaws.com'), 'us-gov-west-1');
  assert.equal(ecrRegion('ghcr.io'), undefined);
  assert.equal(ecrRegion('123456789012.dkr.ecr.eu-west-1.amazonaws.example'), undefined);
  assert.deepEqual(decodeEcrToken(Buffer.from('AWS:secret:with:colons').toString('base64')), { username: 'AWS', password: 'secret:with:colons' });
});

/**
 * The engine is replaced by recording runners (no container engine runs here); the sequence and
 * the digest pinning are what is checked. ECR's GetAuthorizationToken is not exercised: a
 * non-ECR registry needs no login.
 */
test('--build builds as deploy.image, pushes, and returns the pushed digest', async () => {
  const calls: string[] = [];
  const run: CommandRunner = async (cmd, args) => {
    calls.push(`${cmd} ${args.join(' ')}`);
    if (args[0] === 'info') return { code: 0, stdout: '{}', stderr: '' };
    if (args[0] === 'image' && args.includes('{{.Size}}')) return { code: 0, stdout: '1000\n', stderr: '' };
    if (args[0] === 'image') return { code: 0, stdout: 'localhost:5000/smkit@sha256:abc\nother/repo@sha256:def\n', stderr: '' };
    return { code: 0, stdout: '', stderr: '' };
  };
  const deps: ImageDeps = {
    run,
    login: async () => {
      throw new Error('no login for a non-ECR registry');
    },
    push: async (engine, image) => {
      calls.push(`${engine} push ${image}`);
      return 0;
    },
    build: { run, build: async (_e, args) => (calls.push(`build ${args.join(' ')}`), 0), source: () => ({ root: '/src', dockerfile: '/src/Dockerfile', version: '1.0.0', kind: 'checkout' }) },
  };
  const image = await buildAndPushImage('localhost:5000/smkit:1', { engine: 'docker', log: () => undefined, ecr: () => { throw new Error('no ECR'); } }, deps);
  assert.equal(image, 'localhost:5000/smkit@sha256:abc');
  const buildIdx = calls.findIndex((c) => c.startsWith('build build') && c.includes('-t localhost:5000/smkit:1'));
  const pushIdx = calls.indexOf('docker push localhost:5000/smkit:1');
  assert.ok(buildIdx >= 0 && pushIdx > buildIdx, calls.join('\n'));
  await assert.rejects(buildAndPushImage('smkit:1', { log: () => undefined, ecr: () => { throw new Error('no'); } }, deps), (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_DEPLOY_CONFIG' && /names no registry/.test(e.message));
  const failingPush = { ...deps, push: async () => 1 };
  await assert.rejects(buildAndPushImage('localhost:5000/smkit:1', { engine: 'docker', log: () => undefined, ecr: () => { throw new Error('no'); } }, failingPush), /docker push localhost:5000\/smkit:1 failed \(exit 1\)/);
});

test('--build for a GPU instance type builds the gpu image (for linux/amd64): the cpu image would leave the GPUs unused without a word', async () => {
  assert.deepEqual(imageVariantFor(['ml.m5.large', undefined]), { variant: 'cpu', gpuTypes: [] });
  assert.deepEqual(imageVariantFor(['ml.m5.large', 'ml.g5.xlarge', 'ml.p4d.24xlarge', 'ml.g5.xlarge']), { variant: 'gpu', gpuTypes: ['ml.g5.xlarge', 'ml.p4d.24xlarge'] });
  assert.deepEqual(imageVariantFor(['ml.inf2.xlarge', 'ml.trn1.2xlarge']), { variant: 'cpu', gpuTypes: [] });
  assert.deepEqual(imageVariantFor(['ml.c7g.large', 'ml.g5g.xlarge']), { variant: 'cpu', gpuTypes: [] });
  for (const t of ['ml.g4dn.xlarge', 'ml.g5.2xlarge', 'ml.g6.xlarge', 'ml.g6e.xlarge', 'ml.g7e.2xlarge', 'ml.p3.2xlarge', 'ml.p4d.24xlarge', 'ml.p5.48xlarge', 'ml.p5en.48xlarge', 'ml.p6-b200.48xlarge']) {
    assert.equal(imageVariantFor([t]).variant, 'gpu', t);
  }
  // Not CUDA (Inferentia, Trainium), arm64 (Graviton, Grace: the gpu image is linux/amd64 only), or a
  // GPU CUDA 12 no longer supports (ml.p2's Kepler K80s).
  for (const t of ['ml.inf1.xlarge', 'ml.inf2.xlarge', 'ml.trn1.2xlarge', 'ml.trn2.48xlarge', 'ml.g5g.xlarge', 'ml.p6e-gb200.36xlarge', 'ml.p2.xlarge', 'ml.m5.large', 'ml.c7g.large']) {
    assert.deepEqual(imageVariantFor([t]), { variant: 'cpu', gpuTypes: [] }, t);
  }
  const builds: string[][] = [];
  const run: CommandRunner = async (_cmd, args) => {
    if (args[0] === 'info') return { code: 0, stdout: '{}', stderr: '' };
    if (args[0] === 'image' && args.includes('{{.Size}}')) return { code: 0, stdout: '1000\n', stderr: '' };
    if (args[0] === 'image') return { code: 0, stdout: 'localhost:5000/smkit@sha256:abc\n', stderr: '' };
    return { code: 0, stdout: '', stderr: '' };
  };
  const deps: ImageDeps = {
    run,
    login: async () => 0,
    push: async () => 0,
    build: { run, build: async (_e, args) => (builds.push([...args]), 0), source: () => ({ root: '/src', dockerfile: '/src/Dockerfile', version: '1.0.0', kind: 'checkout' }) },
  };
  const opts = { engine: 'docker' as const, log: () => undefined, ecr: () => { throw new Error('no ECR'); } };
  await buildAndPushImage('localhost:5000/smkit:1', { ...opts, variant: 'gpu' }, deps);
  const target = (args: string[]) => args[args.indexOf('--target') + 1];
  assert.equal(target(builds[0]!), 'gpu', builds[0]!.join(' '));
  assert.equal(builds[0]![builds[0]!.indexOf('--platform') + 1], 'linux/amd64');
  await buildAndPushImage('localhost:5000/smkit:1', opts, deps);
  assert.equal(target(builds[1]!), 'cpu');
});

test('--build builds for the instance types\' platform (Graviton and Grace are arm64), one platform per image, and --variant overrides the variant', () => {
  for (const t of ['ml.c6g.large', 'ml.c6gn.xlarge', 'ml.m6gd.large', 'ml.c7g.large', 'ml.m7g.xlarge', 'ml.r7gd.large', 'ml.r8g.large', 'ml.g5g.xlarge', 'ml.p6e-gb200.36xlarge']) assert.equal(isArm64InstanceType(t), true, t);
  for (const t of ['ml.m5.large', 'ml.g4dn.xlarge', 'ml.g4ad.xlarge', 'ml.g5.xlarge', 'ml.g6e.xlarge', 'ml.p5en.48xlarge', 'ml.p6-b200.48xlarge', 'ml.inf2.xlarge', 'ml.trn1.2xlarge', 'ml.c7i.large', 'ml.m7a.large']) assert.equal(isArm64InstanceType(t), false, t);
  assert.deepEqual(imageFor(['ml.m5.large', undefined]), { variant: 'cpu', platform: 'linux/amd64', gpuTypes: [], armTypes: [], idleGpuTypes: [] });
  assert.deepEqual(imageFor([undefined]), { variant: 'cpu', platform: 'linux/amd64', gpuTypes: [], armTypes: [], idleGpuTypes: [] });
  assert.deepEqual(imageFor(['ml.c7g.large', 'ml.p6e-gb200.36xlarge']), { variant: 'cpu', platform: 'linux/arm64', gpuTypes: [], armTypes: ['ml.c7g.large', 'ml.p6e-gb200.36xlarge'], idleGpuTypes: ['ml.p6e-gb200.36xlarge'] });
  assert.deepEqual(imageFor(['ml.g5.xlarge'], 'cpu'), { variant: 'cpu', platform: 'linux/amd64', gpuTypes: ['ml.g5.xlarge'], armTypes: [], idleGpuTypes: ['ml.g5.xlarge'] });
  assert.deepEqual(imageFor(['ml.m5.large'], 'gpu'), { variant: 'gpu', platform: 'linux/amd64', gpuTypes: [], armTypes: [], idleGpuTypes: [] });
  const config = (e: unknown, pattern: RegExp) => e instanceof ToolkitError && e.code === 'ERR_DEPLOY_CONFIG' && pattern.test(e.message);
  assert.throws(() => imageFor(['ml.g5.xlarge', 'ml.g5g.xlarge']), (e) => config(e, /arm64 \(ml\.g5g\.xlarge\) and x86_64 \(ml\.g5\.xlarge\)/));
  assert.throws(() => imageFor(['ml.p6e-gb200.36xlarge'], 'gpu'), (e) => config(e, /linux\/amd64 only/));
});

test('a login that exits without reading its password fails with its exit code, not an unhandled EPIPE', async () => {
  // The process ends before it has read what was written to its stdin (more than a pipe holds, so
  // that it never has): the write fails with EPIPE, which had no listener and ended the whole
  // process (here: failed the test run). A real password is smaller, and fails so only when the
  // engine exits before the write is done.
  for (const cmd of [process.execPath, '/nonexistent/smkit-test-engine']) {
    const code = await defaultLogin(cmd, ['-e', 'process.exit(3)'], 'x'.repeat(1 << 20));
    assert.equal(code, cmd === process.execPath ? 3 : 127);
  }
  // An EPIPE is emitted after the exit is seen at times: the test waits for it to come.
  await new Promise((resolve) => setTimeout(resolve, 200));
});
