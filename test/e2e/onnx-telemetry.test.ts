/**
 * ONNX Runtime's official builds (1.29 on) send telemetry to Microsoft and leave files in the home
 * and temporary folders of every process that loads them. `smkit serve` turns that off unless the
 * user set ORT_DISABLE_TELEMETRY: a model server writes nothing where it should not, and sends
 * nothing. The control (a bare Node process loading the same model) shows what the check catches.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, fetchWithTimeout, makeOptMl, removeDir, startServe, waitForPing } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';

const cleanups: (() => Promise<void> | void)[] = [];
describe('onnx telemetry', () => {
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  const IRIS = path.join(REPO_ROOT, 'models', 'iris-onnx');

  /** A fresh HOME and TMPDIR: ONNX Runtime's telemetry writes under `~/.cache` and into TMPDIR. */
  function freshHomeAndTmp(): { home: string; tmp: string } {
    const home = mkdtempSync(path.join(os.tmpdir(), 'smkit-home-'));
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'smkit-tmpdir-'));
    cleanups.push(() => removeDir(home), () => removeDir(tmp));
    return { home, tmp };
  }

  /** What ONNX Runtime's telemetry left: its folder under HOME, its files in TMPDIR. */
  function telemetryTraces({ home, tmp }: { home: string; tmp: string }): string[] {
    const traces: string[] = [];
    const microsoft = path.join(home, '.cache', 'Microsoft');
    try {
      for (const entry of readdirSync(microsoft, { recursive: true, encoding: 'utf8' })) traces.push(path.join(microsoft, entry));
    } catch {
      // Absent: nothing there.
    }
    for (const name of readdirSync(tmp)) if (/^mat-debug-\d+\.log$|\.ses$/.test(name)) traces.push(path.join(tmp, name));
    return traces;
  }

  /**
   * Variables under which ONNX Runtime keeps its telemetry off by itself: it takes them for a CI
   * machine (the names are in libonnxruntime.so). A SageMaker endpoint sets none of them.
   */
  const CI_VARIABLES = ['CI', 'TF_BUILD', 'GITHUB_ACTIONS', 'GITLAB_CI', 'CIRCLECI', 'TRAVIS', 'JENKINS_URL', 'CODEBUILD_BUILD_ID', 'BUILDKITE', 'TEAMCITY_VERSION', 'APPVEYOR', 'BITBUCKET_BUILD_NUMBER'];

  /**
   * The environment of this test process as a SageMaker endpoint would have it: without the switch
   * (the test runner sets it), without the CI variables, and with ONNX Runtime's cache under HOME.
   */
  function envWithoutSwitch(extra: Record<string, string>): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
    for (const name of ['ORT_DISABLE_TELEMETRY', 'XDG_CACHE_HOME', ...CI_VARIABLES]) delete env[name];
    return env;
  }

  test('control: a bare Node process that loads the model with ONNX Runtime leaves its telemetry files', async () => {
    const dirs = freshHomeAndTmp();
    const script = `const ort = require('onnxruntime-node'); ort.InferenceSession.create(${JSON.stringify(path.join(IRIS, 'model.onnx'))}).then((s) => s.release());`;
    const child = spawn(process.execPath, ['-e', script], { cwd: REPO_ROOT, env: envWithoutSwitch({ HOME: dirs.home, TMPDIR: dirs.tmp }), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, stderr);
    const traces = telemetryTraces(dirs);
    assert.ok(traces.some((t) => t.includes(`${path.sep}.onnxruntime`)), `expected ONNX Runtime's telemetry folder under HOME, found: ${traces.join(', ') || 'nothing'}`);
  });

  test('smkit serve turns ONNX Runtime telemetry off: its worker and inference thread load the model and answer, and nothing lands in HOME or TMPDIR', async () => {
    const dirs = freshHomeAndTmp();
    const base = makeOptMl(IRIS);
    cleanups.push(() => removeDir(base));
    const env = envWithoutSwitch({ SAGEMAKER_BASE_DIR: base, HOME: dirs.home, TMPDIR: dirs.tmp, SMKIT_LOG_LEVEL: 'info', SMKIT_LOG_FORMAT: 'json', SMKIT_INFERENCE_MODE: 'auto' });
    // startServe adds its own settings to process.env; an undefined value drops a variable from the child's.
    const dropped = Object.fromEntries(['ORT_DISABLE_TELEMETRY', 'XDG_CACHE_HOME', ...CI_VARIABLES].map((name) => [name, undefined as unknown as string]));
    const server = await startServe({ ...(env as Record<string, string>), ...dropped });
    cleanups.push(() => server.stop());
    await waitForPing(server);
    const res = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: '5.1,3.5,1.4,0.2\n', headers: { 'Content-Type': 'text/csv' } });
    assert.equal(res.status, 200, await res.clone().text());
    // In `auto` mode a large body starts the worker's inference thread, which loads the model too.
    const large = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: '5.1,3.5,1.4,0.2\n'.repeat(20_000), headers: { 'Content-Type': 'text/csv' } });
    assert.equal(large.status, 200, await large.clone().text());
    await until('the inference thread to load the model', () => /"thread":"inference"[^\n]*"msg":"ONNX model loaded"/.test(server.output()), { timeoutMs: 30_000, detail: () => server.output() });
    await server.stop();
    assert.deepEqual(telemetryTraces(dirs), []);
  });

  test('code that loads a model through smkit without its CLI (loadOnnxModel) leaves no telemetry files either', async () => {
    const dirs = freshHomeAndTmp();
    const session = path.join(REPO_ROOT, 'dist', 'src', 'runtimes', 'onnx', 'session.js');
    const script = [
      `const { loadOnnxModel } = await import(${JSON.stringify(session)});`,
      'const log = { debug() {}, info() {}, warn() {}, error() {}, child() { return log; } };',
      `const model = await loadOnnxModel(${JSON.stringify(path.join(IRIS, 'model.onnx'))}, { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log });`,
      'await model.dispose();',
    ].join(' ');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO_ROOT, env: envWithoutSwitch({ HOME: dirs.home, TMPDIR: dirs.tmp }), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, stderr);
    assert.deepEqual(telemetryTraces(dirs), []);
  });
});
