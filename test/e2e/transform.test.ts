import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, runSmkit, startServe, waitForPing, type CliRun } from '../helpers/serve-process.js';
import { craftTarGz } from '../fixtures/archive/craft.js';
import { createModelArchive } from '../../src/archive/model-archive.js';

/** Runs the CLI to the end (its output pipes closed, so no last line is missed), with a deadline. */
function runCli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runSmkit(args, { ...process.env, SAGEMAKER_MODEL_SERVER_WORKERS: '1', ...env }, 120_000);
}

async function tmp(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'smkit-e2e-transform-'));
}

const IRIS_ROWS = ['5.1,3.5,1.4,0.2', '4.9,3.0,1.4,0.2', '6.2,2.9,4.3,1.3', '5.9,3.0,5.1,1.8', '7.7,3.0,6.1,2.3', '6.4,3.2,4.5,1.5', '5.0,3.6,1.4,0.2'];

test('iris batch transform over a multi-file input: same rows, in order, for both strategies', async (t) => {
  const dir = await tmp();
  const server = await startServe({ SAGEMAKER_BATCH: 'true' }, ['--model-dir', path.join(REPO_ROOT, 'models', 'iris-onnx')]);
  t.after(async () => {
    await server.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });
  await waitForPing(server, 200, 60_000);
  const input = path.join(dir, 'in');
  await fs.mkdir(path.join(input, 'nested'), { recursive: true });
  await fs.writeFile(path.join(input, 'a.csv'), IRIS_ROWS.slice(0, 5).join('\n') + '\n');
  await fs.writeFile(path.join(input, 'nested', 'b.csv'), IRIS_ROWS.slice(5).join('\n'));
  const common = ['local', 'transform', '--url', server.url, '--input', input, '--split-type', 'Line', '--assemble-with', 'Line', '--content-type', 'text/csv', '--accept', 'text/csv', '--no-progress'];

  // About two 16-byte rows per request: several mini-batches per file.
  const multi = await runCli([...common, '--output', path.join(dir, 'multi'), '--strategy', 'MultiRecord', '--max-payload', String(40 / (1024 * 1024)), '--max-concurrent', '2']);
  assert.equal(multi.code, 0, multi.stderr);
  assert.match(multi.stderr, /7 records from 2 files in [4-9] requests/);
  const single = await runCli([...common, '--output', path.join(dir, 'single'), '--strategy', 'SINGLE_RECORD']);
  assert.equal(single.code, 0, single.stderr);
  assert.match(single.stderr, /7 records from 2 files in 7 requests/);
  // One of each is counted in the singular.
  await fs.writeFile(path.join(dir, 'one.csv'), `${IRIS_ROWS[0]}\n`);
  const one = await runCli([...common.map((a) => (a === input ? path.join(dir, 'one.csv') : a)), '--output', path.join(dir, 'one')]);
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stderr, /^smkit: 1 record from 1 file in 1 request \(/m);

  for (const [rel, count] of [['a.csv.out', 5], ['nested/b.csv.out', 2]] as const) {
    const m = await fs.readFile(path.join(dir, 'multi', rel), 'utf8');
    const s = await fs.readFile(path.join(dir, 'single', rel), 'utf8');
    // AssembleWith=Line puts a newline after every answer, so multi-row answers are followed by a blank line.
    const rows = m.split('\n').filter(Boolean);
    assert.equal(rows.length, count, m);
    for (const row of rows) {
      const p = row.split(',').map(Number);
      assert.equal(p.length, 3, row);
      assert.ok(Math.abs(p[0]! + p[1]! + p[2]! - 1) < 1e-3, row);
    }
    assert.deepEqual(rows.map((r) => r.split(',').map((v) => Number(v).toFixed(4))), s.split('\n').filter(Boolean).map((r) => r.split(',').map((v) => Number(v).toFixed(4))), `${rel}: strategies agree row by row`);
  }
  // The rows differ from each other, so agreement above really checks the order.
  const a = (await fs.readFile(path.join(dir, 'single', 'a.csv.out'), 'utf8')).split('\n').filter(Boolean);
  assert.ok(a[0]!.split(',').map(Number)[0]! > 0.5 && a[4]!.split(',').map(Number)[2]! > 0.5, `setosa first, virginica last:\n${a.join('\n')}`);
});

const ECHO_HANDLER = `
export function transformFn(model, body) {
  const text = body.toString('utf8');
  if (text.includes('BAD')) {
    const err = new Error('marker record refused');
    err.status = 400;
    throw err;
  }
  return { body: text.split('\\n').filter(Boolean).map((l) => 'echo:' + l).join('\\n') + '\\n', contentType: 'text/plain' };
}
`;

test('a failing record is reported in .out.failed and its file gets no .out; other files are written (model.tar.gz, MULTI_RECORD)', async (t) => {
  const dir = await tmp();
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const model = path.join(dir, 'model');
  await fs.mkdir(path.join(model, 'code'), { recursive: true });
  await fs.writeFile(path.join(model, 'code', 'inference.mjs'), ECHO_HANDLER);
  const archive = path.join(dir, 'model.tar.gz');
  await createModelArchive(model, archive);
  const input = path.join(dir, 'in');
  await fs.mkdir(input);
  const lines = Array.from({ length: 30 }, (_, i) => (i === 13 ? 'BAD13' : `rec${String(i).padStart(2, '0')}`));
  await fs.writeFile(path.join(input, 'data.txt'), lines.join('\n') + '\n');
  await fs.writeFile(path.join(input, 'other.txt'), 'x1\nx2\n');
  const out = path.join(dir, 'out');
  const r = await runCli([
    'local', 'transform', '--model', archive, '--input', input, '--output', out, '--split-type', 'Line', '--assemble-with', 'Line',
    '--content-type', 'text/plain', '--max-payload', String(24 / (1024 * 1024)), '--max-concurrent', '3', '--no-progress',
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /ERR_TRANSFORM_FAILED: 1 of 32 records failed/);
  assert.match(r.stderr, /data\.txt record 13: HTTP 400/);
  await assert.rejects(fs.stat(path.join(out, 'data.txt.out')), { code: 'ENOENT' });
  assert.equal(await fs.readFile(path.join(out, 'other.txt.out'), 'utf8'), 'echo:x1\necho:x2\n\n');
  const failed = (await fs.readFile(path.join(out, 'data.txt.out.failed'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { record: number; status: number; error: string });
  assert.deepEqual(failed.map((f) => [f.record, f.status]), [[13, 400]]);
  assert.match(failed[0]!.error, /marker record refused/);
  await assert.rejects(fs.stat(path.join(out, 'other.txt.out.failed')));
});

test('a model.tar.gz with a ../ entry is refused before anything starts', async (t) => {
  const dir = await tmp();
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const archive = path.join(dir, 'evil.tar.gz');
  await fs.writeFile(archive, craftTarGz([{ path: 'model.onnx', body: 'x' }, { path: '../evil.txt', body: 'pwned' }]));
  await fs.mkdir(path.join(dir, 'in'));
  await fs.writeFile(path.join(dir, 'in', 'a.csv'), '1,2,3,4\n');
  const r = await runCli(['local', 'transform', '--model', archive, '--input', path.join(dir, 'in'), '--output', path.join(dir, 'out'), '--no-progress']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ERR_ARCHIVE_UNSAFE: .*"\.\.\/evil\.txt"/);
  await assert.rejects(fs.stat(path.join(dir, 'out')));
});
