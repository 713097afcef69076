import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bakedDockerfile, buildImage, foreignPlatformHint, qualifyImageName, type BuildDeps, type BuildImageOptions } from './build-image.js';
import { detectBuildEngine, type CommandRunner } from '../containers/engine.js';
import { BUILD_CONTEXT_ENTRIES, findSmkitSource, imageNameForModel, imageNameProblem, type SmkitSource } from './context.js';
import { layOutPackageContext, packedRevision, prebuiltDockerfile, PACKED_REVISION_FILE } from './package-context.js';
import { readFileSync } from 'node:fs';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { ToolkitError, isToolkitError } from '../errors/catalogue.js';

const noDocker: CommandRunner = async (cmd, args) => {
  if (cmd === 'docker') return { code: 1, stdout: '', stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock' };
  if (cmd === 'podman' && args[0] === 'info') return { code: 0, stdout: '{}', stderr: '' };
  if (cmd === 'podman' && args[0] === 'image') return { code: 0, stdout: '123456789\n', stderr: '' };
  return { code: 1, stdout: '', stderr: '' };
};

test('a docker client without a daemon does not count; podman is used', async () => {
  assert.equal(await detectBuildEngine(undefined, noDocker), 'podman');
});

test('a docker client before 28.1, which exits 0 from info --format when its daemon cannot be reached and says so in ServerErrors (docker/cli#5900), does not count either; podman is used', async () => {
  const oldDocker: CommandRunner = async (cmd, args) =>
    cmd === 'docker'
      ? { code: 0, stdout: `${JSON.stringify({ ID: '', Containers: 0, ServerErrors: ['Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?'] })}\n`, stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n' }
      : noDocker(cmd, args);
  assert.equal(await detectBuildEngine(undefined, oldDocker), 'podman');
  await assert.rejects(detectBuildEngine('docker', oldDocker), (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_BUILD_ENGINE' && e.message.includes('docker: Cannot connect to the Docker daemon at unix:///var/run/docker.sock'));
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
  // Separators as the engines' reference grammar takes them: one . or _, __, or dashes; at most 255
  // characters as older engines count them, with docker.io/library/ (18) in front.
  const reference = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$/;
  for (const [folder, name] of [['my..model', 'smkit-my-model'], ['resnet50_-_v2', 'smkit-resnet50-v2'], ['a._b', 'smkit-a-b'], ['x___y', 'smkit-x-y'], ['x__y--z', 'smkit-x__y--z'], ['Model (copy).tgz', 'smkit-model-copy']]) {
    assert.equal(imageNameForModel(folder), name, folder);
    assert.match(name, reference);
  }
  const long = imageNameForModel(`${'a'.repeat(249)}-${'b'.repeat(5)}`);
  assert.ok(`docker.io/library/${long}`.length <= 255 && reference.test(long), long);
  assert.equal(imageNameForModel('a'.repeat(250)), `smkit-${'a'.repeat(231)}`);
  assert.match(bakedDockerfile('localhost/smkit:1', 'iris'), /^FROM localhost\/smkit:1\nCOPY model\/ \/opt\/smkit\/model\//);
  // The Dockerfile's own escapes inside double quotes: \$ for $ (else $HOME expands), \\ and \".
  assert.equal(bakedDockerfile('i', 'a$HOME "b" c\\d').split('\n')[2], 'LABEL dev.smkit.model="a\\$HOME \\"b\\" c\\\\d"');
});

async function fakeBuild(model?: string, source: SmkitSource = { root: '/src/smkit', dockerfile: '/src/smkit/Dockerfile', version: '9.9.9', kind: 'checkout' }, options: Partial<BuildImageOptions> = { platform: 'linux/amd64' }) {
  const calls: string[][] = [];
  const runs: string[][] = [];
  const stagedDockerfiles: string[] = [];
  const deps: BuildDeps = {
    run: (cmd, args, timeoutMs) => {
      runs.push([cmd, ...args]);
      return noDocker(cmd, args, timeoutMs);
    },
    source: () => source,
    build: async (_engine, args) => {
      calls.push([...args]);
      const ctx = args[args.length - 1]!;
      if (ctx !== source.root) stagedDockerfiles.push(await fs.readFile(path.join(ctx, 'Dockerfile'), 'utf8'));
      return 0;
    },
  };
  const built = await buildImage({ ...(model ? { model } : {}), ...options, log: () => {} }, deps);
  return { built, calls, runs, stagedDockerfiles };
}

test('without a model: one build of the cpu target, tagged smkit:<version>-cpu', async () => {
  const { built, calls } = await fakeBuild();
  assert.equal(built.image, 'localhost/smkit:9.9.9-cpu');
  assert.equal(built.sizeBytes, 123456789);
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0]!.slice(0, 7), ['build', '-f', '/src/smkit/Dockerfile', '--target', 'cpu', '-t', 'localhost/smkit:9.9.9-cpu']);
  assert.ok(calls[0]!.includes('--platform') && calls[0]!.includes('VERSION=9.9.9'));
  // The version and revision labels are also given as --label, which an engine's layer cache cannot skip.
  assert.ok(calls[0]!.includes('org.opencontainers.image.version=9.9.9'), calls[0]!.join(' '));
  assert.ok(calls[0]!.some((a) => a.startsWith('org.opencontainers.image.revision=')), calls[0]!.join(' '));
});

test('the gpu variant is built for linux/amd64 (the only platform with onnxruntime-node\'s CUDA provider) when no --platform is given, and another --platform is ERR_CLI_USAGE before anything is built; the cpu variant keeps the engine\'s default', async () => {
  const platformOf = (args: string[]) => (args.includes('--platform') ? args[args.indexOf('--platform') + 1] : undefined);
  const gpu = await fakeBuild(undefined, undefined, { variant: 'gpu' });
  assert.equal(gpu.built.image, 'localhost/smkit:9.9.9-gpu');
  assert.equal(platformOf(gpu.calls[0]!), 'linux/amd64');
  assert.equal(platformOf((await fakeBuild(undefined, undefined, { variant: 'gpu', platform: 'linux/x86_64' })).calls[0]!), 'linux/x86_64');
  assert.equal(platformOf((await fakeBuild(undefined, undefined, {})).calls[0]!), undefined);
  assert.equal(platformOf((await fakeBuild(undefined, undefined, { variant: 'cpu', platform: 'linux/arm64' })).calls[0]!), 'linux/arm64');
  for (const platform of ['linux/arm64', 'linux/arm64/v8', 'darwin/amd64']) {
    await assert.rejects(fakeBuild(undefined, undefined, { variant: 'gpu', platform }), (err: unknown) => {
      assert.ok(isToolkitError(err) && err.code === 'ERR_CLI_USAGE', String(err));
      assert.match(err.message, /^--platform=".*" is invalid: expected linux\/amd64 with --variant gpu \(onnxruntime-node ships its CUDA execution provider for linux\/x64 only\)/);
      return true;
    });
  }
});

test('a build that fails for another architecture than this machine\'s says it needs the engine\'s emulation (exec format error without it); one for this machine\'s does not', async () => {
  assert.match(foreignPlatformHint('linux/arm64', 'x64'), /builds for linux\/arm64 on this x64 machine: its RUN steps need the engine's emulation of arm64, QEMU .*exec format error/);
  assert.match(foreignPlatformHint('linux/amd64', 'arm64'), /emulation of amd64/);
  for (const [platform, arch] of [['linux/amd64', 'x64'], ['linux/x86_64', 'x64'], ['linux/arm64/v8', 'arm64'], [undefined, 'x64'], ['linux/s390x', 'x64']] as const) assert.equal(foreignPlatformHint(platform, arch), '', String(platform));
  const foreign = process.arch === 'arm64' ? 'linux/amd64' : 'linux/arm64';
  const deps: BuildDeps = { run: noDocker, source: () => ({ root: '/src/smkit', dockerfile: '/src/smkit/Dockerfile', version: '9.9.9', kind: 'checkout' }), build: async () => 1 };
  await assert.rejects(buildImage({ platform: foreign, log: () => {} }, deps), (err: unknown) => isToolkitError(err) && err.code === 'ERR_BUILD_FAILED' && /failed \(exit 1\); its output is above \(it builds for .* QEMU/.test(err.message));
  const native = process.arch === 'arm64' ? 'linux/arm64' : 'linux/amd64';
  await assert.rejects(buildImage({ platform: native, log: () => {} }, deps), (err: unknown) => isToolkitError(err) && /its output is above$/.test(err.message));
});

test('with a model: checked, staged and layered on the base image', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-build-test-'));
  try {
    const model = path.join(dir, 'my-model');
    await fs.mkdir(model);
    await fs.copyFile(path.join(process.cwd(), 'models/iris-onnx/model.onnx'), path.join(model, 'model.onnx'));
    const { built, calls, runs, stagedDockerfiles } = await fakeBuild(model);
    assert.equal(built.image, 'localhost/smkit-my-model:9.9.9-cpu');
    assert.equal(built.baseImage, 'localhost/smkit:9.9.9-cpu');
    assert.equal(calls.length, 2);
    // The bake's base is named by a tag only this build gave it, not smkit:9.9.9-cpu, which a build
    // running beside it (another checkout, another image test) may move to its own image meanwhile.
    const from = /^FROM (\S+)\n/.exec(stagedDockerfiles[0]!)?.[1];
    assert.match(from ?? '', /^localhost\/smkit-build-base:\d+-[0-9a-f]{8}$/);
    assert.deepEqual(calls[0]!.slice(5, 9), ['-t', 'localhost/smkit:9.9.9-cpu', '-t', from]);
    // and the name goes once the bake is done, the image staying as smkit:9.9.9-cpu.
    assert.deepEqual(runs.at(-1), ['podman', 'untag', from, from]);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('a folder with no model is refused before any build runs', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-build-test-'));
  try {
    await fs.writeFile(path.join(dir, 'README.txt'), 'nothing here');
    // Named as given, not as the temporary copy the check ran on, which is gone once the message is read.
    await assert.rejects(fakeBuild(dir), (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_PACKAGE_INVALID' && e.message.startsWith(`${dir} is not ready to bake into an image:\n  - no model found in ${dir}: `));
    const archive = path.join(dir, 'nested.tar.gz');
    await fs.mkdir(path.join(dir, 'model'));
    await fs.copyFile(path.join(process.cwd(), 'models/iris-onnx/model.onnx'), path.join(dir, 'model', 'model.onnx'));
    execFileSync('tar', ['czf', archive, '-C', dir, 'model']);
    await assert.rejects(fakeBuild(archive), (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_PACKAGE_INVALID' && e.message.includes(`no model found in ${archive}: `) && !/smkit-build-\w{6}\//.test(e.message));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('a model folder is staged as smkit package packs it: .git, .DS_Store and a FIFO left out, modes as the archive has them, a link to the folder above refused before any build (fs.cp baked .git, failed with a raw ERR_FS_CP_FIFO_PIPE, and copied the folder above 40 times before a raw ELOOP)', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-build-test-'));
  try {
    const model = path.join(dir, 'my-model');
    await fs.mkdir(path.join(model, '.git'), { recursive: true });
    await fs.mkdir(path.join(model, 'code'), { mode: 0o700 });
    await fs.copyFile(path.join(process.cwd(), 'models/iris-onnx/model.onnx'), path.join(model, 'model.onnx'));
    await fs.writeFile(path.join(model, '.git', 'config'), '[credential]');
    await fs.writeFile(path.join(model, '.DS_Store'), '');
    await fs.writeFile(path.join(model, 'code', 'helper.js'), 'export {};', { mode: 0o600 });
    await fs.symlink('../model.onnx', path.join(model, 'code', 'linked.onnx'));
    execFileSync('mkfifo', [path.join(model, 'requests.fifo')]);
    let staged: string[] = [];
    const deps: BuildDeps = {
      run: noDocker,
      source: () => ({ root: '/src/smkit', dockerfile: '/src/smkit/Dockerfile', version: '9.9.9', kind: 'checkout' }),
      build: async (_engine, args) => {
        const ctx = args[args.length - 1]!;
        if (ctx === '/src/smkit') return 0;
        const found: string[] = [];
        const walk = async (rel: string): Promise<void> => {
          for (const e of (await fs.readdir(path.join(ctx, 'model', rel), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
            const r = rel ? `${rel}/${e.name}` : e.name;
            const st = await fs.lstat(path.join(ctx, 'model', r));
            found.push(`${r} ${e.isDirectory() ? 'dir' : e.isFile() ? 'file' : 'other'} ${(st.mode & 0o777).toString(8)}`);
            if (e.isDirectory()) await walk(r);
          }
        };
        await walk('');
        staged = found;
        return 0;
      },
    };
    const built = await buildImage({ model, log: () => {} }, deps);
    assert.equal(built.model?.file, 'model.onnx');
    assert.deepEqual(staged, ['code dir 755', 'code/helper.js file 644', 'code/linked.onnx file 644', 'model.onnx file 644']);
    await fs.rm(path.join(model, 'requests.fifo'));
    await fs.symlink('..', path.join(model, 'up'));
    let builds = 0;
    await assert.rejects(buildImage({ model, log: () => {} }, { ...deps, build: async () => ++builds }), (e: unknown) => {
      assert.ok(e instanceof ToolkitError && e.code === 'ERR_PACKAGE_INVALID', String(e));
      assert.match(e.message, /my-model\/up is a symbolic link to \.\., a folder that contains it/);
      return true;
    });
    assert.equal(builds, 0);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('a --tag the engines refuse (upper case, a separator run, a tag over 128 characters) is ERR_CLI_USAGE before anything is staged or built: with --model the engine met it only at the bake, after building the base image', async () => {
  for (const tag of ['MyModel:1', 'my..model', `x:${'t'.repeat(129)}`, 'a b', 'registry.example.com/Team/x']) {
    let calls = 0;
    const deps: BuildDeps = { run: async () => (calls++, { code: 0, stdout: '1', stderr: '' }), source: () => (calls++, findSmkitSource()), build: async () => ++calls };
    await assert.rejects(buildImage({ tag, model: 'models/iris-onnx', log: () => {} }, deps), (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_CLI_USAGE' && e.message.startsWith(`--tag=${JSON.stringify(tag)} is invalid: expected `), tag);
    assert.equal(calls, 0, tag);
  }
  for (const tag of ['my-model:1.0', 'localhost:5000/team/my_model', '123.dkr.ecr.us-east-1.amazonaws.com/smkit:1', 'Registry.Example.com/team/x__y:v1']) assert.equal(imageNameProblem(tag), undefined, tag);
});

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('smkit build stopped by SIGTERM while the engine builds stops the engine, removes the staged model, then ends by that signal: it died at once, leaving the copy of the model in the temporary folder and the engine building', { skip: process.platform === 'win32' && 'needs /bin/sh' }, async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-build-test-'));
  const tmp = path.join(dir, 'tmp');
  const bin = path.join(dir, 'bin');
  let engine = 0;
  try {
    await fs.mkdir(tmp);
    await fs.mkdir(bin);
    // A podman that answers info and, asked to build, says so with its pid (on smkit's stderr, where
    // the engine's output goes) and builds for a long time.
    await fs.writeFile(path.join(bin, 'podman'), `#!/bin/sh\ncase "$1" in\n  info) echo '{}' ;;\n  build) echo "fake build pid $$" && exec sleep 60 ;;\nesac\n`, { mode: 0o755 });
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/smkit.js'), 'build', '--engine', 'podman', '--model', path.join(repoRoot, 'models/iris-onnx')], {
      env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env['PATH'] ?? ''}`, TMPDIR: tmp },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const exited = once(child, 'exit');
    // Waits for the engine's line, not a polled file: smkit exiting first fails the test with its output.
    const building = new Promise<number>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        const pid = /fake build pid (\d+)/.exec(stderr)?.[1];
        if (pid !== undefined) resolve(Number(pid));
      });
      void exited.then(() => reject(new Error(`smkit build ended before the engine built:\n${stderr}`)));
    });
    engine = await building;
    assert.ok((await fs.readdir(tmp)).some((n) => n.startsWith('smkit-build-')), 'the model is staged while the engine builds');
    child.kill('SIGTERM');
    const [code, signal] = await exited;
    assert.deepEqual([code, signal], [null, 'SIGTERM'], stderr);
    // (Node 22 and later keep their compile cache there too.)
    assert.deepEqual((await fs.readdir(tmp)).filter((n) => n.startsWith('smkit-')), [], 'the staged model is removed');
    assert.throws(() => process.kill(engine, 0), /ESRCH/, 'the engine build was stopped');
  } finally {
    if (engine > 0) {
      try {
        process.kill(engine, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('the build context smkit checks for is what .dockerignore lets through to the Dockerfile', () => {
  const allowed = readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('!'))
    .map((line) => line.slice(1).replace(/\/\*\*$/, ''));
  assert.deepEqual([...allowed].sort(), [...BUILD_CONTEXT_ENTRIES].sort());
  assert.equal(findSmkitSource().root, repoRoot);
});

/** A folder laid out as `npm pack` ships smkit (compiled code; lockfile and .npmrc copied into docker/). */
async function installedPackage(root: string): Promise<void> {
  await fs.writeFile(path.join(root, 'package.json'), JSON.stringify({ name: 'smkit', version: '9.9.9' }));
  await fs.copyFile(path.join(repoRoot, 'Dockerfile'), path.join(root, 'Dockerfile'));
  for (const dir of ['bin', 'docker', 'models/iris-onnx', 'dist/src/build']) await fs.mkdir(path.join(root, dir), { recursive: true });
  await fs.writeFile(path.join(root, 'dist/src/build/context.js'), '// compiled\n');
  await fs.writeFile(path.join(root, 'bin/smkit.js'), '// launcher\n');
  await fs.writeFile(path.join(root, 'models/iris-onnx/model.onnx'), 'onnx');
  await fs.writeFile(path.join(root, 'docker/entrypoint.sh'), '#!/bin/sh\n');
  await fs.writeFile(path.join(root, 'docker/package-lock.json'), '{"lockfileVersion": 3}');
  await fs.writeFile(path.join(root, 'docker/npmrc'), 'fund=false\n');
}

test('findSmkitSource: a git clone, an installed package, or ERR_BUILD_FAILED naming what a clone would have', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-installed-'));
  try {
    const from = path.join(root, 'dist/src/build');
    await installedPackage(root);
    assert.deepEqual(findSmkitSource(from), { root, dockerfile: path.join(root, 'Dockerfile'), version: '9.9.9', kind: 'package' });
    // A package without the lockfile copy (packed without smkit's prepack) cannot be built.
    await fs.rm(path.join(root, 'docker/package-lock.json'));
    assert.throws(
      () => findSmkitSource(from),
      (err: unknown) =>
        err instanceof ToolkitError && err.code === 'ERR_BUILD_FAILED' && /lacks package-lock\.json, \.npmrc, tsconfig\.json, src, assembly:/.test(err.message) && /npm pack/.test(err.message),
    );
    // With the sources of a clone it is a checkout again.
    for (const file of ['package-lock.json', '.npmrc', 'tsconfig.json']) await fs.writeFile(path.join(root, file), '{}');
    for (const dir of ['src', 'assembly']) await fs.mkdir(path.join(root, dir));
    assert.equal(findSmkitSource(from).kind, 'checkout');
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});

test('prebuiltDockerfile: only the compile stage changes, to a copy of the compiled dist/src', () => {
  const original = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
  const prebuilt = prebuiltDockerfile(original);
  assert.match(prebuilt, /^FROM \$\{NODE_IMAGE\} AS build\nWORKDIR \/app\nCOPY dist\/src \.\/dist\/src\n\n# ---- /m);
  assert.doesNotMatch(prebuilt, /COPY src |COPY assembly |npx tsc/);
  // Every other line is kept, in order: the lines up to the stage's FROM, and all after its body.
  const before = original.split('\n');
  const after = prebuilt.split('\n');
  const stage = before.findIndex((line) => / AS build$/.test(line));
  assert.deepEqual(after.slice(0, stage + 1), before.slice(0, stage + 1));
  const rest = after.slice(stage + 3);
  assert.ok(rest.length < before.length - stage - 3, 'the stage body is gone');
  assert.deepEqual(rest, before.slice(before.length - rest.length));
  assert.throws(() => prebuiltDockerfile('FROM node:22 AS deps\nRUN true\n'), (err: unknown) => err instanceof ToolkitError && err.code === 'ERR_BUILD_FAILED');
});

test('an installed package builds from a context laid out for it: lockfile and .npmrc at the root, the compiled code, the prebuilt Dockerfile', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-installed-'));
  const out = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-context-'));
  try {
    await installedPackage(root);
    const dockerfile = await layOutPackageContext(root, out);
    assert.equal(dockerfile, path.join(out, 'Dockerfile'));
    assert.equal(await fs.readFile(path.join(out, 'package-lock.json'), 'utf8'), '{"lockfileVersion": 3}');
    assert.equal(await fs.readFile(path.join(out, '.npmrc'), 'utf8'), 'fund=false\n');
    assert.equal(await fs.readFile(path.join(out, 'dist/src/build/context.js'), 'utf8'), '// compiled\n');
    for (const entry of ['bin/smkit.js', 'docker/entrypoint.sh', 'models/iris-onnx/model.onnx', 'package.json']) await fs.access(path.join(out, entry));
    assert.match(await fs.readFile(dockerfile, 'utf8'), /AS build\nWORKDIR \/app\nCOPY dist\/src \.\/dist\/src\n/);

    // buildImage hands the engine that context, then removes it; the revision is the one npm pack recorded.
    await fs.writeFile(path.join(root, PACKED_REVISION_FILE), '0123456789ab\n');
    const { calls } = await fakeBuild(undefined, findSmkitSource(path.join(root, 'dist/src/build')));
    const args = calls[0]!;
    const context = args[args.length - 1]!;
    assert.notEqual(context, root);
    assert.equal(args[args.indexOf('-f') + 1], path.join(context, 'Dockerfile'));
    assert.ok(args.includes('REVISION=0123456789ab') && args.includes('org.opencontainers.image.revision=0123456789ab'), `revision in ${args.join(' ')}`);
    await assert.rejects(fs.access(context), 'the laid-out context is removed after the build');
  } finally {
    await fs.rm(root, { recursive: true, force: true });
    await fs.rm(out, { recursive: true, force: true });
  }
});

test('packedRevision: the commit npm pack recorded, or undefined when there is none or it is not a commit hash', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-installed-'));
  try {
    await fs.mkdir(path.join(root, 'docker'));
    assert.equal(await packedRevision(root), undefined);
    for (const [text, expected] of [
      ['3dc5891a0b1c\n', '3dc5891a0b1c'],
      ['3dc5891a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e', '3dc5891a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e'],
      ['', undefined],
      ['abc', undefined],
      ['v1.2.3', undefined],
      ['3dc5891a0b1c" --build-arg X=1', undefined],
    ] as const) {
      await fs.writeFile(path.join(root, PACKED_REVISION_FILE), text);
      assert.equal(await packedRevision(root), expected, JSON.stringify(text));
    }
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});

test('each image SageMaker runs (cpu, gpu) is started as SageMaker starts it: an exec-form ENTRYPOINT that dispatches `serve`, as root, with the capability labels', () => {
  const dockerfile = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
  const stages = new Map<string, string>();
  for (const stage of dockerfile.split(/^(?=FROM\s)/m)) {
    const name = /^FROM\s+\S+\s+AS\s+(\S+)/i.exec(stage)?.[1];
    if (name) stages.set(name, stage);
  }
  // https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html: `docker run <image> serve`,
  // exec form so the process gets SIGTERM, root; the labels from the pipeline, multi-model
  // and bidirectional streaming pages. tini is installed: the entrypoint runs smkit under it as PID 1.
  for (const target of ['cpu', 'gpu']) {
    const stage = stages.get(target);
    assert.ok(stage, `a ${target} stage`);
    assert.match(stage, /^ENTRYPOINT \["\/usr\/local\/bin\/smkit-entrypoint"\]$/m, `${target}: exec-form ENTRYPOINT`);
    assert.doesNotMatch(stage, /^USER\s/im, `${target}: no other user`);
    assert.match(stage, /apt-get install -y --no-install-recommends tini\b/, `${target}: tini, which the entrypoint runs smkit under as PID 1`);
    for (const command of ['serve', 'train']) assert.match(stage, new RegExp(`ln -s smkit-entrypoint /usr/local/bin/${command} `), `${target}: ${command} on PATH`);
    assert.match(stage, /com\.amazonaws\.sagemaker\.capabilities\.accept-bind-to-port="true"/, `${target}: accept-bind-to-port`);
    assert.match(stage, /com\.amazonaws\.sagemaker\.capabilities\.bidirectional-streaming="true"/, `${target}: bidirectional-streaming`);
    assert.match(stage, /^COPY docker\/entrypoint\.sh \/usr\/local\/bin\/smkit-entrypoint$/m, `${target}: the entrypoint script`);
  }
  // GPU multi-model endpoints are for Triton-based containers only (mms-container-apis.html).
  assert.match(stages.get('cpu')!, /com\.amazonaws\.sagemaker\.capabilities\.multi-models="true"/);
  assert.doesNotMatch(stages.get('gpu')!, /capabilities\.multi-models/);
  const entrypoint = readFileSync(path.join(repoRoot, 'docker', 'entrypoint.sh'), 'utf8');
  assert.match(entrypoint, /run node \/app\/bin\/smkit\.js "\$cmd" "\$@"/, 'serve and train replace the shell (under tini as PID 1), so node gets SIGTERM');
  assert.match(entrypoint, /serve \| train\)/);
});

test('the entrypoint script dispatches serve and train given as its first argument, runs anything else as given, and called as serve or train (the links on PATH) runs that command, dropping the serve or train SageMaker adds after it', { skip: process.platform === 'win32' ? 'needs /bin/sh' : false }, async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-entrypoint-'));
  try {
    await fs.copyFile(path.join(repoRoot, 'docker', 'entrypoint.sh'), path.join(dir, 'smkit-entrypoint'));
    // A node that prints what it was asked to run, in place of the image's.
    await fs.writeFile(path.join(dir, 'node'), '#!/bin/sh\nprintf "%s|" node "$@"\n');
    for (const file of ['smkit-entrypoint', 'node']) await fs.chmod(path.join(dir, file), 0o755);
    for (const command of ['serve', 'train']) await fs.symlink('smkit-entrypoint', path.join(dir, command));
    const run = (file: string, ...args: string[]): string => {
      const res = spawnSync(path.join(dir, file), args, { encoding: 'utf8', env: { ...process.env, PATH: `${dir}${path.delimiter}${process.env['PATH'] ?? ''}` } });
      assert.equal(res.status, 0, `${file} ${args.join(' ')}: ${res.stderr}`);
      return res.stdout;
    };
    assert.equal(run('smkit-entrypoint'), 'node|/app/bin/smkit.js|serve|');
    assert.equal(run('smkit-entrypoint', 'train', '--grace-seconds', '5'), 'node|/app/bin/smkit.js|train|--grace-seconds|5|');
    assert.equal(run('smkit-entrypoint', 'echo', 'as given'), 'as given\n');
    assert.equal(run('serve', 'serve', '--workers', '2'), 'node|/app/bin/smkit.js|serve|--workers|2|');
    assert.equal(run('serve', '--workers', '2'), 'node|/app/bin/smkit.js|serve|--workers|2|');
    assert.equal(run('train', 'train'), 'node|/app/bin/smkit.js|train|');
    assert.equal(run('train', 'a b', 'serve'), 'node|/app/bin/smkit.js|train|a b|serve|');

    // As the container's PID 1 it runs the command under tini (which reaps orphans and passes
    // signals on); not PID 1 (above, or under `docker run --init`) it execs the command itself.
    await fs.writeFile(path.join(dir, 'tini'), '#!/bin/sh\nprintf "%s|" tini "$@"\n');
    await fs.chmod(path.join(dir, 'tini'), 0o755);
    assert.equal(run('smkit-entrypoint', 'echo', 'not PID 1'), 'not PID 1\n');
    const asPid1 = (...args: string[]) =>
      spawnSync('unshare', ['--user', '--map-root-user', '--pid', '--fork', ...args], { encoding: 'utf8', env: { ...process.env, PATH: `${dir}${path.delimiter}${process.env['PATH'] ?? ''}` } });
    if ((asPid1('sh', '-c', 'echo $$').stdout ?? '').trim() !== '1') {
      t.diagnostic('unshare cannot start a PID namespace here: the PID 1 case was not run');
      return;
    }
    for (const [args, expected] of [
      [['serve', '--workers', '2'], 'tini|--|node|/app/bin/smkit.js|serve|--workers|2|'],
      [[], 'tini|--|node|/app/bin/smkit.js|serve|'],
      [['bash', '-l'], 'tini|--|bash|-l|'],
      [['train', 'a b', ''], 'tini|--|node|/app/bin/smkit.js|train|a b||'],
    ] as const) {
      const res = asPid1(path.join(dir, 'smkit-entrypoint'), ...args);
      assert.equal(res.stdout, expected, `as PID 1: ${args.join(' ')}: ${res.stderr}`);
    }
    const viaLink = asPid1(path.join(dir, 'train'), 'train');
    assert.equal(viaLink.stdout, 'tini|--|node|/app/bin/smkit.js|train|', viaLink.stderr);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

/** Each `RUN` of a Dockerfile: its shell command, continuation lines joined. */
function runInstructions(dockerfile: string): string[] {
  const runs: string[] = [];
  const lines = dockerfile.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^RUN\s/.test(lines[i]!)) continue;
    let body = lines[i]!.replace(/^RUN\s+/, '');
    while (body.endsWith('\\') && i + 1 < lines.length) body = `${body.slice(0, -1)} ${lines[++i]!.trim()}`;
    runs.push(body);
  }
  return runs;
}

/**
 * The commands of a shell script that a `;` ends outside any if/case/for/while/{ } body: after
 * such a `;` the script goes on, and its exit status is that of the last command, whatever failed before.
 */
function commandsEndedBySemicolon(script: string): string[] {
  const unquoted = script.replace(/'[^']*'/g, "''").replace(/"(?:\\.|[^"\\])*"/g, '""');
  const tokens = unquoted.split(/(;;|;|\s+)/).filter((t) => t !== '' && !/^\s+$/.test(t));
  const opens = new Set(['if', 'case', 'for', 'while', 'until', '{', '(']);
  const closes = new Set(['fi', 'esac', 'done', '}', ')']);
  let depth = 0;
  let start = 0;
  const found: string[] = [];
  tokens.forEach((t, i) => {
    if (opens.has(t)) depth++;
    else if (closes.has(t)) depth--;
    else if (t === '&&' || t === '||') start = i + 1;
    else if (t === ';' && depth === 0) {
      found.push(tokens.slice(start, i + 1).join(' '));
      start = i + 1;
    }
  });
  return found;
}

test('every RUN of the Dockerfile fails when one of its commands fails: none is ended by a `;` that would let the rest run and the step pass', () => {
  // `npm ci … && … && npm cache clean …; rm -rf …` passed whatever failed before the `;`: a
  // TFJS_NODE=require build whose tfjs-node download failed went on with a broken tfjs-node.
  assert.deepEqual(commandsEndedBySemicolon('a && b 2>&1; rm -rf /x'), ['b 2>&1 ;']);
  assert.deepEqual(commandsEndedBySemicolon('a && if [ -d x ]; then b; fi && for f in *; do c "$f;"; done && { d || true; } && e'), []);
  const runs = runInstructions(readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8'));
  assert.ok(runs.length >= 8, `found ${runs.length} RUN instructions`);
  for (const run of runs) assert.deepEqual(commandsEndedBySemicolon(run), [], `RUN ${run.slice(0, 120)}…`);
});

test('the deps-gpu stage refuses a platform other than linux/x64 before running onnxruntime-node\'s installer, saying to build for linux/amd64', { skip: process.platform === 'win32' ? 'needs /bin/sh' : false }, async () => {
  const run = runInstructions(readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8')).find((r) => r.includes('ONNXRUNTIME_NODE_INSTALL=cuda12'));
  assert.ok(run, 'the deps-gpu stage RUN');
  const check = run.slice(0, run.indexOf(' && cd node_modules/onnxruntime-node'));
  assert.match(check, /^platform=/, 'the check comes first');
  const bin = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-fake-node-'));
  try {
    for (const [platform, status] of [['linux/x64', 0], ['linux/arm64', 1]] as const) {
      await fs.writeFile(path.join(bin, 'node'), `#!/bin/sh\necho ${platform}\n`, { mode: 0o755 });
      const res = spawnSync('sh', ['-c', check], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
      assert.equal(res.status, status, platform);
      if (status) assert.match(res.stderr, /GPU image is built for linux\/amd64 only .*this build is for linux\/arm64\): build with --platform linux\/amd64/);
    }
  } finally {
    await fs.rm(bin, { recursive: true, force: true });
  }
});

test('the deps stage refuses a TFJS_NODE other than auto, require or skip before installing anything', { skip: process.platform === 'win32' ? 'needs /bin/sh' : false }, () => {
  // A misspelt `--build-arg TFJS_NODE=requre` was taken as auto: an image without tfjs-node, built without a word.
  const deps = runInstructions(readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8')).find((r) => r.includes('npm ci --omit=dev'));
  assert.ok(deps, 'the deps stage RUN');
  const check = deps.slice(0, deps.indexOf(' && npm ci --omit=dev'));
  assert.match(check, /^case "\$TFJS_NODE" in /, 'the check comes first');
  for (const value of ['auto', 'require', 'skip']) assert.equal(spawnSync('sh', ['-c', check], { env: { ...process.env, TFJS_NODE: value } }).status, 0, value);
  for (const value of ['requre', '', 'AUTO']) {
    const res = spawnSync('sh', ['-c', check], { encoding: 'utf8', env: { ...process.env, TFJS_NODE: value } });
    assert.equal(res.status, 1, JSON.stringify(value));
    assert.equal(res.stderr.trim(), `TFJS_NODE=${value}: expected auto, require or skip`);
  }
});
