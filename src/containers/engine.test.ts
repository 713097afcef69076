import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCommand } from './engine.js';

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

test('runCommand: a missing binary answers 127 and leaves no timer behind to hold the process open', async () => {
  const before = timers();
  const res = await runCommand('smkit-no-such-binary-here', ['info'], 60_000);
  assert.equal(res.code, 127);
  assert.match(res.stderr, /ENOENT/);
  assert.equal(timers(), before);
});

test('runCommand: a command past its timeout is stopped', async () => {
  const before = timers();
  const res = await runCommand(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], 300);
  assert.notEqual(res.code, 0);
  assert.equal(timers(), before);
});

test('runCommand: a command past its timeout that ignores SIGTERM and leaves a child holding its output (a wrapper script around a hung engine) is killed, and the call settles saying it did not finish: it waited for the pipes to close, for as long as that child lived', { skip: process.platform === 'win32' && 'needs /bin/sh' }, async () => {
  const before = timers();
  const res = await runCommand('/bin/sh', ['-c', 'trap "" TERM; sleep 60 & echo $!; wait'], 300);
  const orphan = Number(res.stdout.trim());
  if (orphan > 0) process.kill(orphan, 'SIGKILL');
  assert.notEqual(res.code, 0);
  assert.ok(orphan > 0, res.stdout);
  assert.match(res.stderr, /\/bin\/sh -c did not finish within 0\.3 s$/);
  assert.equal(timers(), before);
});

test('runCommand: exit code and both streams of a finished command', async () => {
  const res = await runCommand(process.execPath, ['-e', 'process.stdout.write("out"); process.stderr.write("err"); process.exit(3)']);
  assert.deepEqual(res, { code: 3, stdout: 'out', stderr: 'err' });
});

test('detectBuildEngine: with no engine, the error names what each engine said and how to install podman', async () => {
  const { detectBuildEngine } = await import('./engine.js');
  const answers: Record<string, { code: number; stdout: string; stderr: string }> = {
    docker: { code: 1, stdout: '', stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.' },
    podman: { code: 127, stdout: '', stderr: 'spawn podman ENOENT' },
  };
  await assert.rejects(detectBuildEngine(undefined, async (cmd) => answers[cmd]!), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ERR_BUILD_ENGINE');
    assert.match(err.message, /docker: Cannot connect to the Docker daemon/);
    assert.match(err.message, /podman: not installed/);
    assert.match(err.message, /apt-get install podman/);
    // Both were tried: --engine cannot help.
    assert.doesNotMatch(err.message, /--engine/);
    return true;
  });
  // --engine docker given: the other engine is named as the way out, not "pass --engine".
  await assert.rejects(detectBuildEngine('docker', async (cmd) => answers[cmd]!), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ERR_BUILD_ENGINE');
    assert.match(err.message, /^no working container engine \(docker: Cannot connect to the Docker daemon at unix:\/\/\/var\/run\/docker\.sock\.\)\. Start the Docker daemon, or use podman: --engine podman, or leave --engine out to take whichever works \(to get podman: Debian and Ubuntu: apt-get install podman; /);
    assert.doesNotMatch(err.message, /or pass --engine/);
    return true;
  });
  await assert.rejects(detectBuildEngine('podman', async (cmd) => answers[cmd]!), (err: Error & { code?: string }) => {
    assert.match(err.message, /^no working container engine \(podman: not installed\)\. Install or repair podman \(.*\), or use docker: --engine docker with its daemon running, /);
    return true;
  });
});

test('imageSize: the size is the line of the answer that is a number; an answer without one is ERR_BUILD_FAILED, where an empty one read as 0 bytes', async () => {
  const { imageSize } = await import('./engine.js');
  const answering = (stdout: string) => async () => ({ code: 0, stdout, stderr: '' });
  assert.equal(await imageSize('podman', 'smkit:1', answering('417211904\n')), 417211904);
  assert.equal(await imageSize('docker', 'smkit:1', answering('WARNING: the engine said something first\n417211904\n')), 417211904);
  for (const stdout of ['', '\n', '<no value>\n']) {
    await assert.rejects(imageSize('podman', 'smkit:1', answering(stdout)), (err: Error & { code?: string }) => err.code === 'ERR_BUILD_FAILED' && /podman image inspect smkit:1 failed/.test(err.message), JSON.stringify(stdout));
  }
});
