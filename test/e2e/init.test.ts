import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SMKIT_BIN } from '../helpers/serve-process.js';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<Result> {
  return new Promise((resolve) => {
    // NODE_TEST_CONTEXT from the outer runner would make a nested `node --test` report to it instead of stdout.
    const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
    delete env['NODE_TEST_CONTEXT'];
    const child = spawn(process.execPath, cmd, { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // 'close', not 'exit': the last lines may still be in the pipes when the process exits.
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('smkit init scaffolds a project whose own test passes; a non-empty folder needs --force', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-e2e-init-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  // A name with a space: every step below runs in it, and the command printed to run next quotes it.
  const project = path.join(dir, "my model's");

  const r = await run([SMKIT_BIN, 'init', project]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.endsWith(`next: cd '${dir}/my model'\\''s' && npm install && npm test   (see README.md)\n`), r.stdout);
  for (const f of ['OPT-ML.md', 'model/model.onnx', 'model/pipeline.yaml', 'model/code/inference.mjs', 'samples/request.csv', 'test/model.test.mjs', 'package.json', 'README.md']) {
    assert.ok((await fs.stat(path.join(project, f))).isFile(), f);
  }
  const handler = await fs.readFile(path.join(project, 'model/code/inference.mjs'), 'utf8');
  for (const hook of ['modelFn', 'inputFn', 'predictFn', 'outputFn', 'transformFn']) assert.match(handler, new RegExp(hook));
  assert.equal(JSON.parse(await fs.readFile(path.join(project, 'package.json'), 'utf8')).name, 'my-model-s');

  const again = await run([SMKIT_BIN, 'init', project]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /ERR_INIT_TARGET: .*not empty.*--force/);
  const forced = await run([SMKIT_BIN, 'init', project, '--force']);
  assert.equal(forced.code, 0, forced.stderr);

  // The project's own `npm test`, run with this Node (as npm would run it).
  const script = String(JSON.parse(await fs.readFile(path.join(project, 'package.json'), 'utf8')).scripts.test);
  const [bin, ...args] = script.split(' ');
  assert.equal(bin, 'node', script);
  // Every step the project's README documents, in order, still leaves a passing test. The project's
  // own test, package and transform only read model/ and write outputs of their own: side by side.
  const cli = (args: string[], env: Record<string, string> = {}) => run([SMKIT_BIN, ...args], { cwd: project, env });
  const [own, pkg, transform] = await Promise.all([
    run(args, { cwd: project, env: { SMKIT_BIN } }),
    cli(['package', 'model', '-o', 'model.tar.gz', '--verify', '--sample', 'samples/request.csv']),
    cli(['local', 'transform', '--model', 'model', '--input', 'samples', '--output', 'transformed', '--split-type', 'Line', '--assemble-with', 'Line', '--accept', 'application/json']),
  ]);
  assert.equal(own.code, 0, `${own.stdout}\n${own.stderr}`);
  // Node's test runner prints TAP (`# pass 1`) when not on a terminal up to Node 22, and its spec
  // reporter (`ℹ pass 1`) from Node 24.
  assert.match(own.stdout, /^(#|ℹ) pass 1$/m);
  assert.equal(pkg.code, 0, pkg.stderr);
  assert.equal(transform.code, 0, transform.stderr);
  assert.match(await fs.readFile(path.join(project, 'transformed', 'request.csv.out'), 'utf8'), /"label":"setosa"/);

  const retrain = await cli(['train'], { SAGEMAKER_BASE_DIR: '.' });
  assert.equal(retrain.code, 0, `${retrain.stdout}\n${retrain.stderr}`);

  // The commented predictFn example, uncommented as a user would, runs: in a copy of the retrained
  // project, so its test runs beside the retrained project's own (each serves on a free port).
  const lines = handler.split('\n');
  const from = lines.findIndex((l) => l.startsWith(' * export async function predictFn'));
  const to = lines.findIndex((l, i) => i > from && l === ' * }');
  assert.ok(from > 0 && to > from, 'the handler documents a predictFn example');
  const uncommented = path.join(dir, 'my-model-predict-fn');
  await fs.cp(project, uncommented, { recursive: true });
  await fs.appendFile(path.join(uncommented, 'model/code/inference.mjs'), `\n${lines.slice(from, to + 1).map((l) => l.slice(3)).join('\n')}\n`);
  const [afterTraining, withPredictFn] = await Promise.all([run(args, { cwd: project, env: { SMKIT_BIN } }), run(args, { cwd: uncommented, env: { SMKIT_BIN } })]);
  assert.equal(afterTraining.code, 0, `the project's test fails after "train it again":\n${afterTraining.stdout}\n${afterTraining.stderr}`);
  assert.equal(withPredictFn.code, 0, `the uncommented predictFn example fails:\n${withPredictFn.stdout}\n${withPredictFn.stderr}`);
});
