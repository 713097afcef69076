import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bakedDockerfile, buildImage, qualifyImageName, type BuildDeps } from './build-image.js';
import { detectBuildEngine, type CommandRunner } from '../containers/engine.js';
import { BUILD_CONTEXT_ENTRIES, findSmkitSource, imageNameForModel } from './context.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ToolkitError } from '../errors/catalogue.js';

const noDocker: CommandRunner = async (cmd, args) => {
  if (cmd === 'docker') return { code: 1, stdout: '', stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock' };
  if (cmd === 'podman' && args[0] === 'info') return { code: 0, stdout: '{}', stderr: '' };
  if (cmd === 'podman' && args[0] === 'image') return { code: 0, stdout: '123456789\n', stderr: '' };
  return { code: 1, stdout: '', stderr: '' };
};

test('a docker client without a daemon does not count; podman is used', async () => {
  assert.equal(await detectBuildEngine(undefined, noDocker), 'podman');
});

test('no engine at all: ERR_BUILD_ENGINE saying what was tried', async () => {
  const none: CommandRunner = async () => ({ code: 127, stdout: '', stderr: 'spawn ENOENT' });
  await assert.rejects(detectBuildEngine(undefined, none), (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_BUILD_ENGINE' && /docker: not installed; podman: not installed/.test(e.message));
});

test('image names: podman qualifies short names with localhost/, registries are kept', () => {
  assert.equal(qualifyImageName('podman', 'smkit:0.1.0-cpu'), 'localhost/smkit:0.1.0-cpu');
  assert.equal(qualifyImageName('podman', '123.dkr.ecr.us-east-1.amazonaws.com/smkit:1'), '123.dkr.ecr.us-east-1.amazonaws.com/smkit:1');
  assert.equal(qualifyImageName('docker', 'smkit:1'), 'smkit:1');
  assert.equal(imageNameForModel('out/Model.tar.gz'), 'smkit-model');
  assert.equal(imageNameForModel('models/iris-onnx/'), 'smkit-iris-onnx');
  assert.match(bakedDockerfile('localhost/smkit:1', 'iris'), /^FROM localhost\/smkit:1\nCOPY model\/ \/opt\/smkit\/model\//);
});

async function fakeBuild(model?: string) {
  const calls: string[][] = [];
  const stagedDockerfiles: string[] = [];
  const deps: BuildDeps = {
    run: noDocker,
    source: () => ({ root: '/src/smkit', dockerfile: '/src/smkit/Dockerfile', version: '9.9.9' }),
    build: async (_engine, args) => {
      calls.push([...args]);
      const ctx = args[args.length - 1]!;
      if (ctx !== '/src/smkit') stagedDockerfiles.push(await fs.readFile(path.join(ctx, 'Dockerfile'), 'utf8'));
      return 0;
    },
  };
  const built = await buildImage({ ...(model ? { model } : {}), platform: 'linux/amd64', log: () => {} }, deps);
  return { built, calls, stagedDockerfiles };
}

test('without a model: one build of the cpu target, tagged smkit:<version>-cpu', async () => {
  const { built, calls } = await fakeBuild();
  assert.equal(built.image, 'localhost/smkit:9.9.9-cpu');
  assert.equal(built.sizeBytes, 123456789);
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0]!.slice(0, 7), ['build', '-f', '/src/smkit/Dockerfile', '--target', 'cpu', '-t', 'localhost/smkit:9.9.9-cpu']);
  assert.ok(calls[0]!.includes('--platform') && calls[0]!.includes('VERSION=9.9.9'));
});

test('with a model: checked, staged and layered on the base image', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-build-test-'));
  try {
    const model = path.join(dir, 'my-model');
    await fs.mkdir(model);
    await fs.copyFile(path.join(process.cwd(), 'models/iris-onnx/model.onnx'), path.join(model, 'model.onnx'));
    const { built, calls, stagedDockerfiles } = await fakeBuild(model);
    assert.equal(built.image, 'localhost/smkit-my-model:9.9.9-cpu');
    assert.equal(built.baseImage, 'localhost/smkit:9.9.9-cpu');
    assert.equal(calls.length, 2);
    assert.match(stagedDockerfiles[0]!, /^FROM localhost\/smkit:9\.9\.9-cpu\n/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('a folder with no model is refused before any build runs', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-build-test-'));
  try {
    await fs.writeFile(path.join(dir, 'README.txt'), 'nothing here');
    await assert.rejects(fakeBuild(dir), (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_PACKAGE_INVALID');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('the build context smkit checks for is what .dockerignore lets through to the Dockerfile', () => {
  const allowed = readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('!'))
    .map((line) => line.slice(1).replace(/\/\*\*$/, ''));
  assert.deepEqual([...allowed].sort(), [...BUILD_CONTEXT_ENTRIES].sort());
  assert.equal(findSmkitSource().root, repoRoot);
});

test('an installed package (Dockerfile, compiled code, no sources or lockfile): ERR_BUILD_FAILED naming what is missing, before any engine runs', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-installed-'));
  try {
    await fs.writeFile(path.join(root, 'package.json'), JSON.stringify({ name: 'smkit', version: '9.9.9' }));
    await fs.writeFile(path.join(root, 'Dockerfile'), 'FROM scratch\n');
    for (const dir of ['bin', 'docker', 'models/iris-onnx', 'dist/src/build']) await fs.mkdir(path.join(root, dir), { recursive: true });
    const from = path.join(root, 'dist/src/build');
    assert.throws(
      () => findSmkitSource(from),
      (err: unknown) =>
        err instanceof ToolkitError && err.code === 'ERR_BUILD_FAILED' && /lacks package-lock\.json, \.npmrc, tsconfig\.json, src, assembly:/.test(err.message) && /git clone/.test(err.message),
    );
    // With the rest of the source tree it is found.
    for (const file of ['package-lock.json', '.npmrc', 'tsconfig.json']) await fs.writeFile(path.join(root, file), '{}');
    for (const dir of ['src', 'assembly']) await fs.mkdir(path.join(root, dir));
    assert.deepEqual(findSmkitSource(from), { root, dockerfile: path.join(root, 'Dockerfile'), version: '9.9.9' });
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});
