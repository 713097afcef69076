import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, SMKIT_BIN } from '../helpers/serve-process.js';
import { extractModelArchive } from '../../src/archive/model-archive.js';
import { until } from '../helpers/until.js';

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], cwd?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SMKIT_BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const HANDLER = `export async function modelFn(modelDir, context) {
  return context.loadDefaultModel();
}
`;

test('package → verify round trip: SageMaker layout, then served from the archive and invoked', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-e2e-package-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const code = path.join(dir, 'handler');
  await fs.mkdir(code);
  await fs.writeFile(path.join(code, 'inference.mjs'), HANDLER);
  await fs.writeFile(path.join(dir, 'sample.csv'), '5.1,3.5,1.4,0.2\n');
  const archive = path.join(dir, 'out', 'model.tar.gz');

  const r = await runCli(['package', path.join(REPO_ROOT, 'models', 'iris-onnx'), '--code', code, '-o', archive, '--verify', '--sample', path.join(dir, 'sample.csv')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /onnx model model\.onnx, handler code\/inference\.mjs \(modelFn\)/);
  assert.match(r.stderr, /sample .*sample\.csv → HTTP 200/);
  assert.match(r.stderr, /verify passed/);

  const x = path.join(dir, 'x');
  await extractModelArchive(archive, x);
  assert.deepEqual((await fs.readdir(x)).sort(), ['code', 'model.onnx']);
  assert.equal(await fs.readFile(path.join(x, 'code', 'inference.mjs'), 'utf8'), HANDLER);
});

test('package refuses a directory without a model, and --verify fails on a sample the model rejects', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-e2e-package-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  await fs.mkdir(path.join(dir, 'empty'));
  await fs.writeFile(path.join(dir, 'empty', 'notes.txt'), 'no model here');
  const empty = await runCli(['package', path.join(dir, 'empty'), '-o', path.join(dir, 'e.tar.gz')]);
  assert.equal(empty.code, 1);
  assert.match(empty.stderr, /ERR_PACKAGE_INVALID: .*no model found/s);
  await assert.rejects(fs.stat(path.join(dir, 'e.tar.gz')));

  await fs.writeFile(path.join(dir, 'bad.csv'), 'not,a,number,row\n');
  const bad = await runCli(['package', path.join(REPO_ROOT, 'models', 'iris-onnx'), '-o', path.join(dir, 'm.tar.gz'), '--verify', '--sample', path.join(dir, 'bad.csv')]);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stderr, /ERR_PACKAGE_VERIFY: the sample .*bad\.csv \(text\/csv\) failed: HTTP 400/);
});

test('package --verify stopped by SIGTERM while the model loads stops the server and removes its temporary /opt/ml before it exits', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-e2e-package-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  // modelFn reports where it runs, then never finishes: the command is still waiting for /ping.
  let loading: (query: URLSearchParams) => void;
  const reported = new Promise<URLSearchParams>((resolve) => (loading = resolve));
  const reporter = http.createServer((req, res) => {
    res.end();
    loading(new URL(req.url ?? '/', 'http://x').searchParams);
  });
  await new Promise<void>((resolve) => reporter.listen(0, '127.0.0.1', resolve));
  t.after(() => reporter.close());
  await fs.mkdir(path.join(dir, 'model', 'code'), { recursive: true });
  await fs.writeFile(
    path.join(dir, 'model', 'code', 'inference.mjs'),
    `export async function modelFn(modelDir) {
  await fetch(process.env.VERIFY_TEST_REPORT_URL + '?' + new URLSearchParams({ server: String(process.ppid), modelDir }));
  await new Promise(() => {});
}
`,
  );
  const url = `http://127.0.0.1:${(reporter.address() as AddressInfo).port}`;
  const cli = spawn(process.execPath, [SMKIT_BIN, 'package', path.join(dir, 'model'), '-o', path.join(dir, 'm.tar.gz'), '--verify'], {
    env: { ...process.env, VERIFY_TEST_REPORT_URL: url },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => cli.on('exit', (_code, signal) => resolve(signal)));
  const where = await Promise.race([reported, exited.then(() => assert.fail(`the command ended before the model loaded: ${stderr}`))]);
  cli.kill('SIGTERM');
  assert.equal(await exited, 'SIGTERM', stderr);
  assert.throws(() => process.kill(Number(where.get('server')), 0), { code: 'ESRCH' }, 'the server the command started is gone');
  await assert.rejects(fs.stat(path.dirname(path.dirname(where.get('modelDir')!))), { code: 'ENOENT' }, 'its temporary /opt/ml is removed');
});

test('package stopped by Ctrl-C (SIGINT) while it writes a large archive leaves no partial archive and no staging folder', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-e2e-package-int-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const model = path.join(dir, 'model');
  const out = path.join(dir, 'out');
  const tmp = path.join(dir, 'tmp');
  await Promise.all([fs.mkdir(model), fs.mkdir(out), fs.mkdir(tmp)]);
  await fs.writeFile(path.join(model, 'model.onnx'), 'x');
  // 4 GiB of a sparse file: nothing on disk, seconds of gzip, so the signal finds tar writing.
  await fs.writeFile(path.join(model, 'weights.bin'), '');
  await fs.truncate(path.join(model, 'weights.bin'), 4 * 1024 ** 3);
  const cli = spawn(process.execPath, [SMKIT_BIN, 'package', model, '-o', path.join(out, 'model.tar.gz')], { env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => cli.on('exit', (_code, signal) => resolve(signal)));
  let ended = false;
  void exited.then(() => (ended = true));
  await until('the partial archive', async () => ended || (await fs.readdir(out)).length > 0, { detail: () => stderr });
  assert.ok(!ended, `the command ended before it was interrupted: ${stderr}`);
  assert.match((await fs.readdir(out))[0]!, /^model\.tar\.gz\.partial-\d+$/);
  cli.kill('SIGINT');
  assert.equal(await exited, 'SIGINT', stderr);
  assert.deepEqual(await fs.readdir(out), [], 'the partial archive is removed');
  // Node 22+ keeps its compile cache there (node-compile-cache): that is Node's, not a staging folder.
  assert.deepEqual((await fs.readdir(tmp)).filter((name) => name !== 'node-compile-cache'), [], 'the staging folder is removed');
});

test('package stores hard-linked files as whole files: the archive is the one of a folder of copies (node-tar\'s Link entries crashed it)', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-e2e-package-hard-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const linked = path.join(dir, 'linked');
  const copied = path.join(dir, 'copied');
  for (const model of [linked, copied]) {
    await fs.mkdir(model);
    await fs.copyFile(path.join(REPO_ROOT, 'models', 'iris-onnx', 'model.onnx'), path.join(model, 'model.onnx'));
    await fs.writeFile(path.join(model, 'a.txt'), 'a');
    await fs.writeFile(path.join(model, 'b.txt'), 'labels');
  }
  // A file before two names of one file: node-tar ended the archive twice ('write after end').
  await fs.link(path.join(linked, 'b.txt'), path.join(linked, 'c.txt'));
  await fs.copyFile(path.join(copied, 'b.txt'), path.join(copied, 'c.txt'));
  const fromLinks = await runCli(['package', linked, '-o', path.join(dir, 'linked.tar.gz')]);
  assert.equal(fromLinks.code, 0, fromLinks.stderr);
  const fromCopies = await runCli(['package', copied, '-o', path.join(dir, 'copied.tar.gz')]);
  assert.equal(fromCopies.code, 0, fromCopies.stderr);
  assert.deepEqual(await fs.readFile(path.join(dir, 'linked.tar.gz')), await fs.readFile(path.join(dir, 'copied.tar.gz')));
  const x = path.join(dir, 'x');
  await extractModelArchive(path.join(dir, 'linked.tar.gz'), x);
  assert.equal(await fs.readFile(path.join(x, 'c.txt'), 'utf8'), 'labels');
});

test('package refuses a file or folder it cannot read with ERR_PACKAGE_INVALID naming it, before anything is written (run as another user when root)', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-e2e-package-perm-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  // Root reads anything: as root the command runs as nobody (65534), for whom the modes count.
  const asOther = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  await fs.chmod(dir, 0o777);
  const model = path.join(dir, 'model');
  await fs.mkdir(path.join(model, 'private'), { recursive: true });
  await fs.copyFile(path.join(REPO_ROOT, 'models', 'iris-onnx', 'model.onnx'), path.join(model, 'model.onnx'));
  await fs.writeFile(path.join(model, 'secret.txt'), 'x');
  await Promise.all([fs.chmod(model, 0o755), fs.chmod(path.join(model, 'model.onnx'), 0o644), fs.chmod(path.join(model, 'secret.txt'), 0o000), fs.chmod(path.join(model, 'private'), 0o000)]);
  const run = (): Promise<CliResult> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [SMKIT_BIN, 'package', model, '-o', path.join(dir, 'model.tar.gz')], { ...asOther, env: { ...process.env, HOME: dir, TMPDIR: dir }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('exit', (code) => resolve({ code, stdout: '', stderr }));
    });
  const folder = await run();
  assert.equal(folder.code, 1, folder.stderr);
  assert.match(folder.stderr, new RegExp(`^smkit: ERR_PACKAGE_INVALID: ${path.join(model, 'private')} cannot be read \\(permission denied\\): .*make it readable`, 'm'));
  await fs.rm(path.join(model, 'private'), { recursive: true });
  const file = await run();
  assert.equal(file.code, 1, file.stderr);
  assert.match(file.stderr, new RegExp(`^smkit: ERR_PACKAGE_INVALID: ${path.join(model, 'secret.txt')} cannot be read \\(permission denied\\): `, 'm'));
  assert.deepEqual((await fs.readdir(dir)).filter((name) => name !== 'node-compile-cache' && !name.startsWith('smkit-node-compile-cache')).sort(), ['model']);
});
