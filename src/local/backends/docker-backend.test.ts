import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { until } from '../../../test/helpers/until.js';
import { buildDockerRunArgs, dockerContainerName, DockerBackend, dockerEnvFileText, dockerRunEnv, splitContainerEnv } from './docker-backend.js';
import { processChildEnv } from './process-backend.js';

const spec = { id: 'iris/AllTraffic/primary', hostname: 'primary', optMlDir: '/tmp/t/opt/ml', env: { A: '1' }, port: 41000, logFile: '/tmp/t/l.log' };

test('docker run argv: image serve, model read-only, env, port on loopback', () => {
  const args = buildDockerRunArgs({ spec, image: 'my/image:1', containerName: 'smkit-x', envFile: '/tmp/e/container.env' });
  assert.deepEqual(args, [
    'run', '--rm', '--name', 'smkit-x', '--hostname', 'primary',
    '-p', '127.0.0.1:41000:41000',
    '-v', '/tmp/t/opt/ml/model:/opt/ml/model:ro',
    '--env-file', '/tmp/e/container.env',
    '--', 'my/image:1', 'serve',
  ]);
  assert.equal(dockerEnvFileText(spec), 'A=1\nSAGEMAKER_BIND_TO_PORT=41000\n');
  assert.match(dockerContainerName(spec), /^smkit-iris-AllTraffic-primary-[0-9a-f]{6}$/);
});

test('docker run argv: an image that looks like an option is not read as one (docker and podman then refuse the reference)', () => {
  // CreateModel's Image takes any non-blank string: without `--`, run took `--privileged` as its
  // option and `serve` as the image, and an image such as `--volume=/:/host` mounted this machine's root.
  for (const image of ['--privileged', '--volume=/:/host', '-v=/:/host']) {
    const args = buildDockerRunArgs({ spec, image, containerName: 'smkit-x', envFile: 'e' });
    assert.deepEqual(args.slice(-3), ['--', image, 'serve'], image);
    assert.equal(args.indexOf('--'), args.length - 3, 'every option of run comes before --');
  }
});

test("docker run argv: a memory limit (a serverless variant's MemorySizeInMB) becomes --memory", () => {
  const args = buildDockerRunArgs({ spec: { ...spec, memoryMb: 2048 }, image: 'my/image:1', containerName: 'smkit-x', envFile: 'e' });
  assert.deepEqual(args.slice(args.indexOf('--memory'), args.indexOf('--memory') + 2), ['--memory', '2048m']);
  assert.ok(args.indexOf('--memory') < args.indexOf('my/image:1'), 'an option of run, before the image');
});

test('process children get the tree, the port, loopback binding; container env wins over defaults', () => {
  const env = processChildEnv({ ...spec, env: { SAGEMAKER_MODEL_SERVER_WORKERS: '2', SAGEMAKER_BIND_TO_PORT: '1' } }, { PATH: '/bin' });
  assert.equal(env.PATH, '/bin');
  assert.equal(env.SAGEMAKER_BASE_DIR, '/tmp/t/opt/ml');
  assert.equal(env.SAGEMAKER_BIND_TO_PORT, '41000');
  assert.equal(env.SAGEMAKER_MODEL_SERVER_WORKERS, '2');
  assert.equal(env.SMKIT_BIND_HOST, '127.0.0.1');
  assert.equal(env.SAGEMAKER_SESSIONS_PATH, '/tmp/t/opt/ml/sagemaker_sessions', 'each instance keeps its stateful sessions, as each has its own /dev/shm');
  assert.equal(processChildEnv({ ...spec, env: { SAGEMAKER_SESSIONS_PATH: '/dev/shm/shared' } }, {}).SAGEMAKER_SESSIONS_PATH, '/tmp/t/opt/ml/sagemaker_sessions');
  assert.equal(processChildEnv(spec, {}).SAGEMAKER_MODEL_SERVER_WORKERS, '1');
});

test('SAGEMAKER_SAFE_PORT_RANGE: a pipeline container gets its range, which wins over its env as SAGEMAKER_BIND_TO_PORT does; docker does not publish it', () => {
  const own = { ...spec, env: { SAGEMAKER_SAFE_PORT_RANGE: '1000-1001', SAGEMAKER_BIND_TO_PORT: '1' } };
  const piped = { ...own, safePortRange: [41001, 41010] as const };
  assert.equal(processChildEnv(piped, {}).SAGEMAKER_SAFE_PORT_RANGE, '41001-41010');
  const args = buildDockerRunArgs({ spec: piped, image: 'my/image:1', containerName: 'smkit-x', envFile: 'e' });
  assert.match(dockerEnvFileText(piped), /^SAGEMAKER_SAFE_PORT_RANGE=41001-41010$/m);
  assert.deepEqual(args.filter((a, i) => args[i - 1] === '-p'), ['127.0.0.1:41000:41000'], 'only the bound port is published');
  // A single container gets none from smkit (AWS sets it only in pipelines): the variable is its env's own, if any.
  assert.equal(processChildEnv(spec, {}).SAGEMAKER_SAFE_PORT_RANGE, undefined);
  assert.equal(dockerEnvFileText(spec).includes('SAGEMAKER_SAFE_PORT_RANGE'), false);
  assert.equal(processChildEnv(own, {}).SAGEMAKER_SAFE_PORT_RANGE, '1000-1001');
});

test("a container's environment reaches it through a private env file, neither on the engine's command line (ps, /proc/<pid>/cmdline) nor in the engine's own environment (its credential helper, a docker script's shell); a value the file cannot hold goes by name, or on the line for a variable the engine acts on", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-docker-cli-'));
  const calls = join(dir, 'calls.log');
  // A stand-in engine CLI that records its arguments, the variables of its own environment, and its env file (contents, mode).
  await writeFile(
    join(dir, 'docker'),
    `#!/bin/sh\necho "$@" >> "${calls}"\nenv > "${join(dir, 'engine.env')}"\n` +
      `while [ $# -gt 0 ]; do if [ "$1" = --env-file ]; then echo "file $2 $(stat -c %a "$2") $(stat -c %a "$(dirname "$2")")" >> "${calls}"; cat "$2" >> "${calls}"; fi; shift; done\n`,
  );
  await chmod(join(dir, 'docker'), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${dir}:${path ?? ''}`;
  try {
    const env = {
      HF_TOKEN: 'hf_s3cret-value',
      DOCKER_HOST: 'unix:///model/own.sock',
      AWS_CONFIG_FILE: '/tmp/evil/config',
      SHELLOPTS: 'xtrace',
      PS4: '$(touch /tmp/owned)',
      NOTE: 'two\nlines',
      AWS_PROFILE: 'a # b',
    };
    const container = await new DockerBackend('docker', 'my/image:1').start({ ...spec, env, logFile: join(dir, 'container.log') });
    await container.exitPromise;
    const text = await readFile(calls, 'utf8');
    const argv = text.split('\n')[0]!;
    assert.doesNotMatch(argv, /s3cret|evil|own\.sock|touch/, 'no single-line value on the command line');
    assert.match(argv, /--env-file \S+container\.env -e NOTE -e AWS_PROFILE=a # b -- my\/image:1 serve$/);
    const own = await readFile(join(dir, 'engine.env'), 'utf8');
    assert.match(own, /^NOTE=two\nlines$/m, 'a value the file cannot hold is in the engine environment, by name');
    for (const name of ['HF_TOKEN', 'DOCKER_HOST', 'AWS_CONFIG_FILE', 'SHELLOPTS', 'PS4', 'AWS_PROFILE', 'SAGEMAKER_BIND_TO_PORT']) {
      assert.doesNotMatch(own, new RegExp(`^${name}=`, 'm'), `the container's ${name} is not in the engine's own environment`);
    }
    const file = text.slice(text.indexOf('\nfile ') + 1);
    assert.match(file, /^file (\S+) 600 700\n/, 'a file only this user can read, in a folder of its own');
    assert.equal(
      file.slice(file.indexOf('\n') + 1),
      'HF_TOKEN=hf_s3cret-value\nDOCKER_HOST=unix:///model/own.sock\nAWS_CONFIG_FILE=/tmp/evil/config\nSHELLOPTS=xtrace\nPS4=$(touch /tmp/owned)\nSAGEMAKER_BIND_TO_PORT=41000\n',
    );
    const envFile = /^file (\S+)/.exec(file)![1]!;
    // Removed by the time the client's exit is known: a process that exits right after its containers stop leaves nothing for its reaper.
    assert.equal(existsSync(dirname(envFile)), false, 'the env file is removed once the client exited');
  } finally {
    process.env.PATH = path;
    await rm(dir, { recursive: true, force: true });
  }
});

test('splitContainerEnv: a value an env file holds the same with docker and every podman goes there; one with a line break, a quote or blank at an end, a # or none at all goes by name, or on the line for a variable the engine acts on', () => {
  const routes = splitContainerEnv({
    ...spec,
    env: { PLAIN: 'a b=c \\n $(x) é', PEM: 'l1\nl2', QUOTED: '"v"', SINGLE: "'v'", ENDQ: 'v"', ENDB: 'v`', MIDQ: 'a"b', LEAD: ' v', TRAIL: 'v ', HASH: 'a#b', EMPTY: '', CR: 'v\r', DOCKER_CONFIG: '/x', AWS_PROFILE: '"p"', BASH_ENV: 'b\nc', LOCPATH: ' /l', OPENSSL_CONF: '#' },
  });
  assert.deepEqual(routes.file, { PLAIN: 'a b=c \\n $(x) é', MIDQ: 'a"b', DOCKER_CONFIG: '/x', SAGEMAKER_BIND_TO_PORT: '41000' });
  assert.deepEqual(Object.keys(routes.named), ['PEM', 'QUOTED', 'SINGLE', 'ENDQ', 'ENDB', 'LEAD', 'TRAIL', 'HASH', 'EMPTY', 'CR']);
  assert.deepEqual(routes.inline, { AWS_PROFILE: '"p"', BASH_ENV: 'b\nc', LOCPATH: ' /l', OPENSSL_CONF: '#' });
});

test("a value that goes on the engine's command line (of a variable the engine acts on, which the env file cannot hold) is warned of, by the variable's name only", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-docker-cli-'));
  await writeFile(join(dir, 'docker'), '#!/bin/sh\nexit 0\n');
  await chmod(join(dir, 'docker'), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${dir}:${path ?? ''}`;
  try {
    const warnings: string[] = [];
    const backend = new DockerBackend('docker', 'my/image:1', { warn: (m) => warnings.push(m) });
    const env = { GOOGLE_CREDENTIALS: '{\n  "private_key": "k3y"\n}', AWS_PROFILE: 'p#1', AWS_REGION: 'us-east-1', AWS_EMPTY: '', NOTE: 'a\nb' };
    const container = await backend.start({ ...spec, env, logFile: join(dir, 'a.log') });
    await container.exitPromise;
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /^iris\/AllTraffic\/primary: the value of GOOGLE_CREDENTIALS, AWS_PROFILE goes on the container engine's command line \(docker run -e NAME=VALUE\), which every user of this machine can read \(ps\)/);
    assert.doesNotMatch(warnings[0]!, /k3y|p#1|AWS_REGION|AWS_EMPTY|NOTE/);
    // Nothing on the line but an empty value (which shows nothing): no warning.
    const quiet = await backend.start({ ...spec, env: { AWS_REGION: 'us-east-1', AWS_EMPTY: '', NOTE: 'a\nb' }, logFile: join(dir, 'b.log') });
    await quiet.exitPromise;
    assert.equal(warnings.length, 1, warnings.join('\n'));
  } finally {
    process.env.PATH = path;
    await rm(dir, { recursive: true, force: true });
  }
});

test('a container whose docker run client died is removed with docker rm -f when stopped', async () => {
  // A stand-in engine CLI on PATH that records its arguments; `run` stays up like an attached client.
  const dir = await mkdtemp(join(tmpdir(), 'smkit-docker-cli-'));
  const calls = join(dir, 'calls.log');
  await writeFile(join(dir, 'docker'), `#!/bin/sh\necho "$@" >> "${calls}"\nif [ "$1" = run ]; then exec sleep 60; fi\n`);
  await chmod(join(dir, 'docker'), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${dir}:${path ?? ''}`;
  try {
    const container = await new DockerBackend('docker', 'my/image:1').start({ ...spec, logFile: join(dir, 'container.log') });
    await until('the fake docker run to start', async () => (await readFile(calls, 'utf8').catch(() => '')).startsWith('run '), { timeoutMs: 20_000, intervalMs: 20 });
    process.kill(container.pid!, 'SIGKILL');
    await container.exitPromise;
    await container.stop(1_000);
    const lines = (await readFile(calls, 'utf8')).trim().split('\n');
    const name = lines[0]!.split(' ')[3]!;
    assert.match(name, /^smkit-iris-AllTraffic-primary-[0-9a-f]{6}$/);
    assert.deepEqual(lines.slice(1), [`rm -f ${name}`]);
  } finally {
    process.env.PATH = path;
    await rm(dir, { recursive: true, force: true });
  }
});

/**
 * Runs `body` in an owner process with `backend` (a {@link DockerBackend} of the stand-in engine
 * `dir/docker`) and `spec` in scope; resolves its stderr once it and its reaper have both ended.
 */
async function ownerRun(dir: string, body: string, backendOptions: Record<string, unknown> = {}): Promise<string> {
  const script = join(dir, 'owner.mjs');
  const backendModule = new URL('./docker-backend.js', import.meta.url).href;
  await writeFile(script, `const { DockerBackend } = await import(${JSON.stringify(backendModule)});\nconst { appendFileSync } = await import('node:fs');\nconst backend = new DockerBackend('docker', 'my/image:1', ${JSON.stringify(backendOptions)});\nconst spec = ${JSON.stringify({ ...spec, logFile: join(dir, 'container.log') })};\n${body}\n`);
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` } });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((done) => child.once('close', () => done(err)));
}

/**
 * Owner code: starts the container, waits for the stand-in's run line (whatever the machine's
 * load), stops it with `graceMs`, then appends `stopped <value of the expression what>` to `calls`.
 */
const startThenStop = (calls: string, graceMs: number, what: string): string => `const c = await backend.start(spec);
const { readFileSync } = await import('node:fs');
while (!readFileSync(${JSON.stringify(calls)}, { encoding: 'utf8', flag: 'a+' }).startsWith('run ')) await new Promise((r) => setTimeout(r, 20));
await c.stop(${graceMs});
appendFileSync(${JSON.stringify(calls)}, 'stopped ' + ${what} + '\\n');`;

test('a client killed at the end of the grace period (docker stop did not return): stop() removes its container, and a clean exit leaves the reaper nothing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-docker-cli-'));
  const calls = join(dir, 'calls.log');
  // `run` ignores SIGTERM and `stop` does nothing: the client is killed (SIGKILL) after the grace period.
  await writeFile(join(dir, 'docker'), `#!/bin/sh\necho "$@" >> "${calls}"\nif [ "$1" = run ]; then trap '' TERM; exec sleep 60; fi\n`);
  await chmod(join(dir, 'docker'), 0o755);
  try {
    const stderr = await ownerRun(
      dir,
      startThenStop(calls, 0, 'c.exited.signal'),
    );
    const lines = (await readFile(calls, 'utf8')).trim().split('\n');
    const name = lines[0]!.split(' ')[3]!;
    assert.deepEqual(lines.slice(1), [`stop -t 1 ${name}`, `rm -f ${name}`, 'stopped SIGKILL'], 'removed by stop(), not after it');
    assert.equal(stderr, '', 'nothing left tracked');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a docker stop that hangs after its container stopped is killed once the run client is gone: it does not keep the process alive', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-docker-cli-'));
  const calls = join(dir, 'calls.log');
  // `stop` ends the container (its run client exits 0), then hangs, as an engine whose daemon stopped answering would.
  // It waits for the run client to have written its pid (and so set its trap): on a loaded machine
  // the stop can come first, and its kill then found no pid, so the client ran until the grace ended.
  await writeFile(
    join(dir, 'docker'),
    `#!/bin/sh\necho "$@" >> "${calls}"\ncase "$1" in\n  run) sleep 60 & trap 'kill $! 2>/dev/null; exit 0' TERM; echo $$ > "${dir}/run.pid"; wait $! ;;\n  stop) echo $$ > "${dir}/stop.pid"; until [ -s "${dir}/run.pid" ]; do sleep 0.05; done; kill "$(cat "${dir}/run.pid")"; exec sleep 3600 ;;\nesac\n`,
  );
  await chmod(join(dir, 'docker'), 0o755);
  try {
    const stderr = await ownerRun(
      dir,
      startThenStop(calls, 5_000, 'JSON.stringify(c.exited)'),
      { stopCommandWaitMs: 100 },
    );
    assert.ok(existsSync(calls), stderr);
    const lines = (await readFile(calls, 'utf8')).trim().split('\n');
    const name = lines[0]!.split(' ')[3]!;
    assert.deepEqual(lines.slice(1), [`stop -t 5 ${name}`, 'stopped {"code":0,"signal":null}'], 'the client exited by itself: no rm -f');
    const stopPid = Number(await readFile(join(dir, 'stop.pid'), 'utf8'));
    // The owner has exited (ownerRun resolved): the hung stop command did not hold it, and it is gone.
    assert.throws(() => process.kill(stopPid, 0), { code: 'ESRCH' });
    assert.equal(stderr, '', 'nothing left tracked');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('stop() calls at once share the docker stop under way, unless one asks for a shorter grace; each docker stop, hung, is killed once the run client is gone: none is left running', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-docker-cli-'));
  const calls = join(dir, 'calls.log');
  const stopPids = join(dir, 'stop.pids');
  // As in the test above: `stop` ends the container (its run client exits 0), then hangs.
  await writeFile(
    join(dir, 'docker'),
    `#!/bin/sh\necho "$@" >> "${calls}"\ncase "$1" in\n  run) sleep 60 & trap 'kill $! 2>/dev/null; exit 0' TERM; echo $$ > "${dir}/run.pid"; wait $! ;;\n  stop) echo $$ >> "${stopPids}"; until [ -s "${dir}/run.pid" ]; do sleep 0.05; done; kill "$(cat "${dir}/run.pid")"; exec sleep 3600 ;;\nesac\n`,
  );
  await chmod(join(dir, 'docker'), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${dir}:${path ?? ''}`;
  const pids = async (): Promise<number[]> => (await readFile(stopPids, 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number);
  const gone = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  };
  try {
    const container = await new DockerBackend('docker', 'my/image:1', { stopCommandWaitMs: 100 }).start({ ...spec, logFile: join(dir, 'container.log') });
    // The stand-in's run has said where its stop must send SIGTERM.
    await until('the fake docker run to be up', () => existsSync(join(dir, 'run.pid')), { timeoutMs: 20_000, intervalMs: 20 });
    await Promise.all([container.stop(5_000), container.stop(5_000), container.stop(1_000), container.stop(3_000)]);
    assert.deepEqual(container.exited, { code: 0, signal: null });
    const lines = (await readFile(calls, 'utf8')).trim().split('\n');
    const name = lines[0]!.split(' ')[3]!;
    // Sorted: the two docker stops run at once, and either may write its line first.
    assert.deepEqual(lines.slice(1).sort(), [`stop -t 1 ${name}`, `stop -t 5 ${name}`], 'one docker stop for the stops of 5 s; the stop of 1 s gets its own, which the stop of 3 s shares');
    // Killed (SIGKILL) when stop() returned; gone once this process has reaped it.
    await until('every docker stop to be gone', async () => (await pids()).every(gone), { timeoutMs: 20_000, intervalMs: 20 });
  } finally {
    process.env.PATH = path;
    for (const pid of await pids()) if (!gone(pid)) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});

test('a docker run that cannot be spawned (an argument with a NUL byte) leaves nothing tracked', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-docker-cli-'));
  const calls = join(dir, 'calls.log');
  await writeFile(join(dir, 'docker'), `#!/bin/sh\necho "$@" >> "${calls}"\n`);
  await chmod(join(dir, 'docker'), 0o755);
  try {
    const stderr = await ownerRun(dir, `await backend.start({ ...spec, env: { A: 'x\\0y' } }).then(() => console.error('started'), (err) => appendFileSync(${JSON.stringify(calls)}, err.code + '\\n'));`);
    assert.equal(await readFile(calls, 'utf8'), 'ERR_INVALID_ARG_VALUE\n');
    assert.equal(stderr, '', 'nothing left tracked');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
