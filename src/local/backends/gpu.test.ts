// GPU instance types on the local backends: which types have NVIDIA GPUs, that the control plane
// and endpoint files mark their containers so, and what the docker backend passes to the engine.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateInferenceComponentCommand, CreateModelCommand, DescribeInferenceComponentCommand } from '@aws-sdk/client-sagemaker';
import { startComponentHost } from '../../../test/helpers/component-host.js';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { tempDirForSync } from '../../../test/helpers/temp-dir.js';
import { until } from '../../../test/helpers/until.js';
import { parseEndpointFile } from '../../endpoint-file/schema.js';
import { createLocalSageMaker } from '../control-plane/local-sagemaker.js';
import { startLocal } from '../control-plane/start-local.js';
import { resolveBackend, startLocalEndpoints } from '../endpoint/start.js';
import type { RunningContainer } from './backend.js';
import { DockerBackend } from './docker-backend.js';
import { gpuDeviceRunArgs, gpuFailureHint, gpuRunArgs, hasNvidiaGpus, localGpuIndexes, nvidiaDriverPresent } from './gpu.js';
import { waitForPing } from './wait-ready.js';

test('NVIDIA GPU instance types: the G and P families; not CPU types, Inferentia or Trainium', () => {
  for (const type of ['ml.g4dn.xlarge', 'ml.g5.2xlarge', 'ml.g5g.xlarge', 'ml.g6.xlarge', 'ml.g6e.12xlarge', 'ml.p3.2xlarge', 'ml.p4d.24xlarge', 'ml.p5.48xlarge']) assert.equal(hasNvidiaGpus(type), true, type);
  for (const type of [undefined, 'ml.m5.large', 'ml.c5.xlarge', 'ml.r5.large', 'ml.inf2.xlarge', 'ml.trn1.2xlarge', 'ml.t2.medium']) assert.equal(hasNvidiaGpus(type), false, String(type));
  assert.deepEqual(gpuRunArgs('docker'), ['--gpus', 'all']);
  assert.deepEqual(gpuRunArgs('podman'), ['--device', 'nvidia.com/gpu=all']);
});

test('an NVIDIA driver: /dev/nvidiactl, or under WSL 2 (no /dev/nvidia* there) /dev/dxg with the driver\'s libcuda', () => {
  const on = (...paths: string[]) => (p: string) => paths.includes(p);
  assert.equal(nvidiaDriverPresent(on('/dev/nvidiactl')), true);
  assert.equal(nvidiaDriverPresent(on('/dev/dxg', '/usr/lib/wsl/lib/libcuda.so')), true);
  // WSL 2 with another vendor's GPU: /dev/dxg, but no NVIDIA library.
  assert.equal(nvidiaDriverPresent(on('/dev/dxg')), false);
  assert.equal(nvidiaDriverPresent(on()), false);
});

/** What the engines write when they cannot give a container the GPUs (podman's as it answers on a machine without the toolkit's CDI specification). */
const REFUSALS = {
  docker: 'docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].',
  podman: 'Error: setting up CDI devices: unresolvable CDI devices nvidia.com/gpu=all',
} as const;

test('an engine that cannot give a container the GPUs: the hint names the NVIDIA Container Toolkit step for that engine, or the driver, and --gpus none', () => {
  assert.match(gpuFailureHint('docker', `${REFUSALS.docker}\nSee 'docker run --help'.\n`)!, /^docker could not give the container the GPUs its instance type has on SageMaker: install the NVIDIA Container Toolkit and configure Docker for it \(sudo nvidia-ctk runtime configure --runtime=docker\) and restart Docker, or start smkit local with --gpus none/);
  assert.match(gpuFailureHint('podman', REFUSALS.podman)!, /^podman could not give .* generate its CDI specification \(sudo nvidia-ctk cdi generate --output=\/etc\/cdi\/nvidia\.yaml\), or start smkit local with --gpus none/);
  // A Docker that resolves devices through CDI says what podman says.
  assert.match(gpuFailureHint('docker', 'docker: Error response from daemon: unresolvable CDI devices nvidia.com/gpu=all.')!, /^docker could not give/);
  const driver = 'docker: Error response from daemon: failed to create task for container: OCI runtime create failed: nvidia-container-cli: initialization error: nvml error: driver not loaded: unknown.';
  assert.match(gpuFailureHint('docker', driver)!, /^the NVIDIA Container Toolkit could not reach this machine's NVIDIA driver \(initialization error: nvml error: driver not loaded: unknown\.\): check that nvidia-smi works here, or start smkit local with --gpus none/);
  const oldDriver = 'docker: Error response from daemon: failed to create task for container: OCI runtime create failed: nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.8, please update your driver to a newer version, or use an earlier cuda container: unknown.';
  assert.match(gpuFailureHint('docker', oldDriver)!, /^this machine's NVIDIA driver is older than the image's CUDA needs \(cuda>=12\.8\): update the driver .*, or start smkit local with --gpus none/);
  for (const other of ['', 'Error: image not known', 'docker: Error response from daemon: pull access denied for nope']) assert.equal(gpuFailureHint('docker', other), undefined, other);
});

test('the control plane marks the containers of a GPU instance type, and only those', async (t) => {
  const dir = tempDirForSync(t, 'smkit-gpu-');
  writeFileSync(join(dir, 'weights.bin'), 'w');
  const backend = new FakeBackend();
  const local = await createLocalSageMaker({ backendImpl: backend, startupTimeoutMs: 5_000, alarmsAndScaling: false, settings: { region: 'us-east-1', accountId: '123456789012' } });
  t.after(() => local.stop());
  const call = (op: string, input: Record<string, unknown>) => local.sagemaker.call(op, input);
  await call('CreateModel', { ModelName: 'm', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } });
  await call('CreateEndpointConfig', {
    EndpointConfigName: 'c',
    ProductionVariants: [
      { VariantName: 'gpu', ModelName: 'm', InitialInstanceCount: 1, InstanceType: 'ml.g5.xlarge', InitialVariantWeight: 1 },
      { VariantName: 'cpu', ModelName: 'm', InitialInstanceCount: 1, InstanceType: 'ml.m5.large', InitialVariantWeight: 1 },
    ],
  });
  await call('CreateEndpoint', { EndpointName: 'e', EndpointConfigName: 'c' });
  await until('e InService', async () => (await call('DescribeEndpoint', { EndpointName: 'e' })).EndpointStatus === 'InService', { timeoutMs: 20_000, intervalMs: 50 });
  const byVariant = new Map(backend.started.map((s) => [s.id.split('/')[2], s.gpus]));
  assert.deepEqual(Object.fromEntries(byVariant), { gpu: true, cpu: undefined });
});

test('an endpoint file marks the containers of a variant whose instanceType has GPUs', async (t) => {
  const dir = tempDirForSync(t, 'smkit-gpu-');
  mkdirSync(join(dir, 'm'));
  writeFileSync(join(dir, 'm', 'weights.bin'), 'w');
  const config = parseEndpointFile(
    { endpoints: [{ name: 'e', variants: [{ name: 'gpu', model: 'm', instanceType: 'ml.g6.xlarge' }, { name: 'cpu', model: 'm' }] }] },
    (p) => join(dir, p),
    () => Buffer.alloc(0),
  );
  const backend = new FakeBackend();
  const handle = await startLocalEndpoints(config, { port: 0, backendImpl: backend });
  t.after(() => handle.stop());
  assert.deepEqual(Object.fromEntries(backend.started.map((s) => [s.id.split('/')[1], s.gpus])), { gpu: true, cpu: undefined });
});

test('smkit local with an endpoint file: the instances the local SageMaker adds to a GPU variant (instanceCount, scaling, replacements) are marked too', async (t) => {
  const dir = tempDirForSync(t, 'smkit-gpu-');
  writeFileSync(join(dir, 'weights.bin'), 'w');
  const config = parseEndpointFile({ endpoints: [{ name: 'e', variants: [{ name: 'gpu', model: '.', instanceCount: 2, instanceType: 'ml.g5.xlarge' }] }] }, (p) => join(dir, p), () => Buffer.alloc(0));
  const backend = new FakeBackend();
  const run = await startLocal(config, { port: 0, backendImpl: backend, startupTimeoutMs: 10_000 }, { alarmsAndScaling: false });
  t.after(async () => {
    await run.stop();
    await rm(run.core.workDir, { recursive: true, force: true });
    if (run.file) await rm(run.file.workDir, { recursive: true, force: true });
  });
  assert.deepEqual(backend.started.map((s) => [s.id.split('/').slice(0, 3).join('/'), s.gpus]).sort(), [['e/gpu/i1', true], ['e/gpu/primary', true]]);
});

test('inference components on a GPU variant: their copies\' containers are marked too', async (t) => {
  const backend = new FakeBackend();
  const host = await startComponentHost({ backend, maxInstances: 2, tmpPrefix: 'smkit-gpu-ic-', poll: { timeoutMs: 20_000, intervalMs: 25 } });
  t.after(() => host.stop());
  await host.sm.send(new CreateModelCommand({ ModelName: 'm', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: host.dir } }));
  for (const [endpoint, type] of [['gpu-ep', 'ml.g5.2xlarge'], ['cpu-ep', 'ml.m5.large']] as const) {
    await host.hostEndpoint(endpoint, { InstanceType: type });
    await host.sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: `${endpoint}-ic`, EndpointName: endpoint, Specification: { ModelName: 'm', ComputeResourceRequirements: { MinMemoryRequiredInMb: 256 } }, RuntimeConfig: { CopyCount: 1 } }));
    await until(`${endpoint}-ic InService`, async () => (await host.sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: `${endpoint}-ic` }))).InferenceComponentStatus === 'InService', { timeoutMs: 20_000, intervalMs: 25 });
  }
  const copies = ['gpu-ep', 'cpu-ep'].map((e) => backend.started.filter((s) => s.id.startsWith(`${e}/${e}-ic/`)));
  assert.deepEqual(copies.map((started) => started.map((s) => s.gpus)), [[true], [undefined]], JSON.stringify(backend.started.map((s) => s.id)));
});

test('inference component copies on a GPU variant take their NumberOfAcceleratorDevicesRequired each; a component without it is given every GPU, as before', async (t) => {
  const backend = new FakeBackend();
  const host = await startComponentHost({ backend, maxInstances: 4, tmpPrefix: 'smkit-gpu-ic-count-', poll: { timeoutMs: 20_000, intervalMs: 25 } });
  t.after(() => host.stop());
  await host.sm.send(new CreateModelCommand({ ModelName: 'm', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: host.dir } }));
  await host.hostEndpoint('ep', { InstanceType: 'ml.g5.12xlarge' });
  const components = [['two', { NumberOfAcceleratorDevicesRequired: 1 }, 2], ['plain', {}, 1]] as const;
  for (const [name, accelerators, copies] of components) {
    await host.sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: name, EndpointName: 'ep', Specification: { ModelName: 'm', ComputeResourceRequirements: { MinMemoryRequiredInMb: 256, ...accelerators } }, RuntimeConfig: { CopyCount: copies } }));
    await until(`${name} InService`, async () => (await host.sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: name }))).InferenceComponentStatus === 'InService', { timeoutMs: 20_000, intervalMs: 25 });
  }
  const of = (name: string) => backend.started.filter((s) => s.id.startsWith(`ep/${name}/`)).map((s) => [s.gpus, s.gpuCount]);
  assert.deepEqual(of('two'), [[true, 1], [true, 1]], JSON.stringify(backend.started.map((s) => s.id)));
  assert.deepEqual(of('plain'), [[true, undefined]]);
});

test('this machine\'s GPUs are its /dev/nvidiaN files, by index; none when /dev cannot be read', () => {
  assert.deepEqual(localGpuIndexes(() => ['nvidiactl', 'nvidia10', 'nvidia2', 'nvidia-uvm', 'nvidia0', 'null', 'nvidia-caps']), [0, 2, 10]);
  assert.deepEqual(localGpuIndexes(() => { throw new Error('EACCES'); }), []);
  assert.deepEqual(gpuDeviceRunArgs('docker', [0, 2]), ['--gpus', '"device=0,2"']);
  assert.deepEqual(gpuDeviceRunArgs('podman', [0, 2]), ['--device', 'nvidia.com/gpu=0', '--device', 'nvidia.com/gpu=2']);
});

/**
 * A stand-in engine CLI that records each call's arguments and keeps `run` up, like an attached
 * client, until `stop` or `rm -f` names its container: then `run` exits 0, as a client whose
 * container was stopped does, so the backend releases the container from the reaper. `stop` waits
 * for the pid file `run` writes once its TERM trap is set: the test stops a container as soon as
 * its run is logged, and a stop that came first found no pid (the client was SIGKILLed at the end of the grace).
 */
function fakeEngine(dir: string, engine: 'docker' | 'podman'): string {
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const script = `#!/bin/sh
echo "$@" >> "${join(dir, 'calls.log')}"
case "$1" in
  run)
    for a; do [ "$prev" = --name ] && name=$a; prev=$a; done
    sleep 60 &
    trap 'kill $! 2>/dev/null; exit 0' TERM
    echo $$ > "${dir}/$name.pid"
    wait $!
    ;;
  stop) until [ -s "${dir}/$4.pid" ]; do sleep 0.05; done; kill "$(cat "${dir}/$4.pid")" ;;
  rm) shift 2; for n; do [ -f "${dir}/$n.pid" ] && kill "$(cat "${dir}/$n.pid")"; done; true ;;
esac
`;
  writeFileSync(join(bin, engine), script.replace('case "$1" in', `case "$*" in
  *--gpus*|*nvidia.com/gpu*) [ -f "${join(dir, 'refuse')}" ] && { cat "${join(dir, 'refuse')}" >&2; echo '${REFUSALS[engine]}' >&2; exit 125; } ;;
esac
case "$1" in`));
  chmodSync(join(bin, engine), 0o755);
  return bin;
}

/**
 * A temporary folder with a stand-in `engine` ({@link fakeEngine}), first on PATH for the rest of
 * the test. What is given to `stopBeforeRestore` is stopped (again) at the test's end while the
 * stand-in is still there, before the folder is removed and PATH restored: a stop after that
 * would run this machine's real engine (`docker rm -f`, `podman rm -f`).
 */
function withFakeEngine(t: TestContext, engine: 'docker' | 'podman'): { dir: string; stopBeforeRestore: (stop: () => Promise<unknown>) => void } {
  const stops: Array<() => Promise<unknown>> = [];
  const path = process.env.PATH;
  // Registered before the folder's removal: `after` hooks run in the order they were added.
  t.after(async () => {
    try {
      await Promise.all(stops.map((stop) => stop()));
    } finally {
      process.env.PATH = path;
    }
  });
  const dir = tempDirForSync(t, 'smkit-gpu-engine-');
  process.env.PATH = `${fakeEngine(dir, engine)}:${path ?? ''}`;
  return { dir, stopBeforeRestore: (stop) => void stops.push(stop) };
}

for (const engine of ['docker', 'podman'] as const) {
  test(`${engine}: a GPU instance type's container gets this machine's GPUs when it has an NVIDIA driver; without one it runs without them, with one warning`, async (t) => {
    const { dir, stopBeforeRestore } = withFakeEngine(t, engine);
    const spec = (id: string) => ({ id, hostname: 'primary', optMlDir: join(dir, id), env: {}, port: 41000, logFile: join(dir, `${id}.log`), gpus: true });
    /** The `run` call of container `id`, once the stand-in engine has recorded it. */
    const runOf = (id: string) =>
      until(`${id}'s run to be called`, () => readFileSync(join(dir, 'calls.log'), { encoding: 'utf8', flag: 'a+' }).split('\n').find((l) => l.startsWith('run ') && l.includes(`--name smkit-${id}-`)), { timeoutMs: 20_000, intervalMs: 20 });
    const started: RunningContainer[] = [];
    const start = async (backend: DockerBackend, id: string, gpus = true) => {
      const c = await backend.start({ ...spec(id), gpus });
      started.push(c);
      stopBeforeRestore(() => c.stop(1_000));
      return runOf(id);
    };
    const withGpu = await start(new DockerBackend(engine, 'img:1', { gpuPresent: () => true }), 'a');
    assert.ok(withGpu.includes(` ${gpuRunArgs(engine).join(' ')} `), withGpu);
    assert.ok(withGpu.indexOf(gpuRunArgs(engine)[0]!) < withGpu.indexOf(' img:1 serve'), 'an option of run, before the image');
    const warnings: string[] = [];
    const without = new DockerBackend(engine, 'img:1', { gpuPresent: () => false, warn: (m) => warnings.push(m) });
    for (const id of ['b', 'c']) assert.ok(!(await start(without, id)).includes(gpuRunArgs(engine)[0]!));
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /^b: its instance type has NVIDIA GPUs on SageMaker, but this machine has no NVIDIA driver \(\/dev\/nvidiactl, or \/dev\/dxg under WSL 2\)/);
    // A CPU instance type's container never asks for one, and is not warned about.
    const cpu = await start(new DockerBackend(engine, 'img:1', { gpuPresent: () => true, warn: (m) => warnings.push(m) }), 'd', false);
    assert.ok(!cpu.includes(gpuRunArgs(engine)[0]!), cpu);
    assert.equal(warnings.length, 1);
    // --gpus none: never a GPU, and nothing to warn about; --gpus all: the GPUs whatever the probe finds.
    const none = new DockerBackend(engine, 'img:1', { gpus: 'none', gpuPresent: () => true, warn: (m) => warnings.push(m) });
    assert.ok(!(await start(none, 'e')).includes(gpuRunArgs(engine)[0]!));
    const all = new DockerBackend(engine, 'img:1', { gpus: 'all', gpuPresent: () => false, warn: (m) => warnings.push(m) });
    assert.ok((await start(all, 'f')).includes(` ${gpuRunArgs(engine).join(' ')} `));
    assert.ok(!(await start(all, 'g', false)).includes(gpuRunArgs(engine)[0]!), 'a CPU instance type still gets none');
    assert.equal(warnings.length, 1);
    // Stopped while the stand-in engine is still on PATH: each `run` ends as its `stop` asks, never by the kill after the grace.
    await Promise.all(started.map((c) => c.stop(1_000)));
    assert.deepEqual(started.map((c) => c.exited), started.map(() => ({ code: 0, signal: null })));
  });

  test(`${engine}: containers that take N GPUs each (inference component copies) get distinct GPUs of this machine, the least taken, freed when they stop; all of them when it has no more or they are not known`, async (t) => {
    const { dir, stopBeforeRestore } = withFakeEngine(t, engine);
    const runOf = (id: string) =>
      until(`${id}'s run to be called`, () => readFileSync(join(dir, 'calls.log'), { encoding: 'utf8', flag: 'a+' }).split('\n').find((l) => l.startsWith('run ') && l.includes(`--name smkit-${id}-`)), { timeoutMs: 20_000, intervalMs: 20 });
    const warnings: string[] = [];
    let gpus = [0, 1, 2, 3];
    const backend = new DockerBackend(engine, 'img:1', { gpuPresent: () => true, localGpus: () => gpus, warn: (m) => warnings.push(m) });
    const running = new Map<string, RunningContainer>();
    let port = 41100;
    const start = async (id: string, gpuCount: number) => {
      const c = await backend.start({ id, hostname: 'primary', optMlDir: join(dir, id), env: {}, port: port++, logFile: join(dir, `${id}.log`), gpus: true, gpuCount });
      running.set(id, c);
      stopBeforeRestore(() => c.stop(1_000));
      return runOf(id);
    };
    const devices = (indexes: number[]) => ` ${gpuDeviceRunArgs(engine, indexes).join(' ')} `;
    assert.ok((await start('c0', 1)).includes(devices([0])));
    assert.ok((await start('c1', 1)).includes(devices([1])));
    assert.ok((await start('c2', 2)).includes(devices([2, 3])));
    // Stopped, its GPU is the least taken again.
    await running.get('c1')!.stop(1_000);
    assert.ok((await start('c3', 1)).includes(devices([1])));
    // Every GPU taken once: shared, the lowest first.
    const shared = await start('c4', 1);
    assert.ok(shared.includes(devices([0])), shared);
    assert.ok(!shared.includes(gpuRunArgs(engine).join(' ')));
    assert.deepEqual(warnings, []);
    // As many as there are: all of them; more: all of them, with one warning.
    assert.ok((await start('c5', 4)).includes(` ${gpuRunArgs(engine).join(' ')} `));
    assert.ok((await start('c6', 6)).includes(` ${gpuRunArgs(engine).join(' ')} `));
    assert.ok((await start('c7', 6)).includes(` ${gpuRunArgs(engine).join(' ')} `));
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /^c6: each copy takes 6 accelerators \(NumberOfAcceleratorDevicesRequired\), and this machine has 4 GPUs/);
    // This machine's GPUs unknown (no /dev/nvidiaN: WSL 2, an engine elsewhere with --gpus all): all of them.
    gpus = [];
    assert.ok((await start('c8', 1)).includes(` ${gpuRunArgs(engine).join(' ')} `));
    await Promise.all([...running.values()].map((c) => c.stop(1_000)));
  });

  test(`${engine}: the GPUs a container took are free again when it exits by itself (a crash, a start that fails), not only when stopped: the next copy gets them, not the next GPU`, async (t) => {
    const { dir, stopBeforeRestore } = withFakeEngine(t, engine);
    const runs = () => readFileSync(join(dir, 'calls.log'), { encoding: 'utf8', flag: 'a+' }).split('\n').filter((l) => l.startsWith('run '));
    const backend = new DockerBackend(engine, 'img:1', { gpuPresent: () => true, localGpus: () => [0, 1, 2, 3] });
    const spec = (id: string, port: number) => ({ id, hostname: 'primary', optMlDir: join(dir, id), env: {}, port, logFile: join(dir, `${id}.log`), gpus: true, gpuCount: 1 });
    // Its run exits at once (125), as a container that crashes does, with nobody calling stop().
    writeFileSync(join(dir, 'refuse'), '');
    const crashed = await backend.start(spec('c0', 41201));
    stopBeforeRestore(() => crashed.stop(1_000));
    await crashed.exitPromise;
    assert.equal(crashed.exited?.code, 125);
    rmSync(join(dir, 'refuse'));
    const next = await backend.start(spec('c1', 41202));
    stopBeforeRestore(() => next.stop(1_000));
    const line = await until('c1\'s run to be called', () => runs().find((l) => l.includes('--name smkit-c1-')), { timeoutMs: 20_000, intervalMs: 20 });
    assert.ok(line.includes(` ${gpuDeviceRunArgs(engine, [0]).join(' ')} `), line);
    await next.stop(1_000);
  });

  test(`${engine}: a container the engine cannot give the GPUs fails its start saying how to fix that, in the exit reason and with the engine's own line in the log`, async (t) => {
    const { dir, stopBeforeRestore } = withFakeEngine(t, engine);
    writeFileSync(join(dir, 'refuse'), '');
    const backend = new DockerBackend(engine, 'img:1', { gpus: 'all' });
    const container = await backend.start({ id: 'h', hostname: 'primary', optMlDir: join(dir, 'h'), env: {}, port: 41001, logFile: join(dir, 'h.log'), gpus: true });
    stopBeforeRestore(() => container.stop(1_000));
    const failure = await waitForPing(container, { timeoutMs: 20_000, intervalMs: 20 }).then(
      () => assert.fail('the start should fail'),
      (err: unknown) => err as Error & { code?: string; details?: { exit?: string } },
    );
    assert.equal(failure.code, 'ERR_CONTAINER_START');
    const setup = engine === 'docker' ? /configure Docker for it/ : /generate its CDI specification/;
    assert.match(failure.details!.exit!, /^exited \(code 125\) before \/ping answered 200: \S+ could not give the container the GPUs/);
    assert.match(failure.details!.exit!, setup);
    assert.match(failure.message, new RegExp(`^h exited \\(code 125\\) before /ping answered 200: ${engine} could not give`));
    assert.ok(failure.message.includes(REFUSALS[engine]), failure.message);
  });

  test(`${engine}: the refusal of the GPUs is recognised after the output of pulling an image of many layers`, async (t) => {
    const { dir, stopBeforeRestore } = withFakeEngine(t, engine);
    // What `docker run` writes on stderr pulling an image of 70 layers it does not have yet (about 10 KB), before the daemon refuses the GPUs.
    const layers = Array.from({ length: 70 }, (_, i) => ['Pulling fs layer', 'Waiting', 'Verifying Checksum', 'Download complete', 'Pull complete'].map((s) => `${i.toString(16).padStart(12, '0')}: ${s}\n`).join(''));
    writeFileSync(join(dir, 'refuse'), `Unable to find image 'img:1' locally\n1: Pulling from library/img\n${layers.join('')}Status: Downloaded newer image for img:1\n`);
    const container = await new DockerBackend(engine, 'img:1', { gpus: 'all' }).start({ id: 'i', hostname: 'primary', optMlDir: join(dir, 'i'), env: {}, port: 41002, logFile: join(dir, 'i.log'), gpus: true });
    stopBeforeRestore(() => container.stop(1_000));
    const failure = await waitForPing(container, { timeoutMs: 20_000, intervalMs: 20 }).then(
      () => assert.fail('the start should fail'),
      (err: unknown) => err as Error & { details?: { exit?: string } },
    );
    assert.match(failure.details!.exit!, new RegExp(`^exited \\(code 125\\) before /ping answered 200: ${engine} could not give the container the GPUs`));
  });
}

test('--gpus reaches the docker backend: of an endpoint file, and of an empty local SageMaker with --backend docker', async (t) => {
  const { dir, stopBeforeRestore } = withFakeEngine(t, 'docker');
  const calls = () => readFileSync(join(dir, 'calls.log'), { encoding: 'utf8', flag: 'a+' }).split('\n');
  // --gpus all: the GPUs even without a driver here (none on the development machines), so a choice that did not arrive shows.
  const config = parseEndpointFile({ image: 'img:1', endpoints: [{ name: 'e', variants: [{ name: 'gpu', model: '.', instanceType: 'ml.g5.xlarge' }] }] }, (p) => join(dir, p), () => Buffer.alloc(0));
  const fileBackend = await resolveBackend(config, { backend: 'docker', engine: 'docker', gpus: 'all' });
  const container = await fileBackend.start({ id: 'file', hostname: 'primary', optMlDir: join(dir, 'file'), env: {}, port: 41003, logFile: join(dir, 'file.log'), gpus: true });
  stopBeforeRestore(() => container.stop(1_000));
  const fileRun = await until('the file container\'s run', () => calls().find((l) => l.startsWith('run ') && l.includes('--name smkit-file-')), { timeoutMs: 20_000, intervalMs: 20 });
  assert.ok(fileRun.includes(' --gpus all '), fileRun);
  await container.stop(1_000);
  writeFileSync(join(dir, 'weights.bin'), 'w');
  const local = await startLocal(undefined, { port: 0, backend: 'docker', engine: 'docker', gpus: 'all', startupTimeoutMs: 60_000 }, { alarmsAndScaling: false, settings: { region: 'us-east-1', accountId: '123456789012' } });
  stopBeforeRestore(() => local.stop());
  t.after(() => rm(local.core.workDir, { recursive: true, force: true }));
  const call = (op: string, input: Record<string, unknown>) => local.core.sagemaker.call(op, input);
  await call('CreateModel', { ModelName: 'm', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } });
  await call('CreateEndpointConfig', { EndpointConfigName: 'c', ProductionVariants: [{ VariantName: 'gpu', ModelName: 'm', InitialInstanceCount: 1, InstanceType: 'ml.g5.xlarge', InitialVariantWeight: 1 }] });
  await call('CreateEndpoint', { EndpointName: 'ep', EndpointConfigName: 'c' });
  const run = await until('the endpoint container\'s run', () => calls().find((l) => l.startsWith('run ') && l.includes(' repo/img:1 ')), { timeoutMs: 20_000, intervalMs: 20 });
  assert.ok(run.includes(' --gpus all '), run);
  // Stopped while the stand-in engine is still on PATH.
  await local.stop();
});
