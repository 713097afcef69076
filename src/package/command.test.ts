import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tar from 'tar';
import { isToolkitError } from '../errors/catalogue.js';
import { packageCommand } from './command.js';
import { MAX_SAMPLE_BYTES, verifyArchive } from './verify.js';

test('smkit package --verify --startup-timeout past an hour (as smkit local allows) is a usage error, checked before anything is packed', async () => {
  for (const startupTimeout of ['3000000', 'Infinity', '0']) {
    await assert.rejects(
      packageCommand('/nonexistent-model-dir', { output: '/nonexistent-out/model.tar.gz', verify: true, startupTimeout }),
      (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && e.message === `--startup-timeout="${startupTimeout}" is invalid: expected a number of seconds above 0, at most 3600.`,
    );
  }
});

test('smkit package -o naming an existing directory is a usage error saying what to give, and nothing is written into it', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-package-out-'));
  try {
    await fs.mkdir(path.join(dir, 'model'));
    await fs.writeFile(path.join(dir, 'model', 'model.onnx'), 'x');
    const output = path.join(dir, 'dist');
    await fs.mkdir(output);
    await assert.rejects(
      packageCommand(path.join(dir, 'model'), { output, startupTimeout: '120' }),
      (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && e.message === `--output=${JSON.stringify(output)} is invalid: expected the archive's file name, such as ${path.join(output, 'model.tar.gz')}; ${output} is a directory.`,
    );
    assert.deepEqual(await fs.readdir(output), []);
    assert.deepEqual((await fs.readdir(dir)).sort(), ['dist', 'model']);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('smkit package -o - is a usage error saying to name the archive, not an archive written to a file named "-"', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-package-dash-'));
  const dash = path.join(process.cwd(), '-');
  const there = existsSync(dash);
  try {
    await fs.mkdir(path.join(dir, 'model'));
    await fs.writeFile(path.join(dir, 'model', 'model.onnx'), 'x');
    await assert.rejects(
      packageCommand(path.join(dir, 'model'), { output: '-', startupTimeout: '120' }),
      (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && e.message === '--output="-" is invalid: expected the archive\'s file name, such as model.tar.gz: smkit package writes a file (which --verify serves and smkit deploy uploads), not stdout.',
    );
    assert.equal(existsSync(dash), there);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
    // Without the check, the archive was written there.
    if (!there) await fs.rm(dash, { force: true });
  }
});

test('smkit package --verify --sample naming a missing file or a folder is a usage error, checked before anything is packed or served', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-package-sample-'));
  try {
    await fs.mkdir(path.join(dir, 'model'));
    await fs.writeFile(path.join(dir, 'model', 'model.onnx'), 'x');
    const output = path.join(dir, 'model.tar.gz');
    const missing = path.join(dir, 'nosuch.csv');
    await assert.rejects(
      packageCommand(path.join(dir, 'model'), { output, verify: true, sample: missing, startupTimeout: '120' }),
      (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && e.message === `--sample=${JSON.stringify(missing)} is invalid: expected the request body to send, a file; ${missing} does not exist.`,
    );
    await assert.rejects(
      packageCommand(path.join(dir, 'model'), { output, verify: true, sample: dir, startupTimeout: '120' }),
      (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && e.message === `--sample=${JSON.stringify(dir)} is invalid: expected the request body to send, a file; ${dir} is a directory.`,
    );
    assert.deepEqual(await fs.readdir(dir), ['model']);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('smkit package --accept (as --sample and --content-type) without --verify is a usage error, not ignored', async () => {
  for (const flags of [{ accept: 'application/json' }, { sample: 's.csv' }, { contentType: 'text/csv' }]) {
    await assert.rejects(
      packageCommand('/nonexistent-model-dir', { output: '/nonexistent-out/model.tar.gz', startupTimeout: '120', ...flags }),
      (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && e.message === '--sample, --content-type and --accept only apply with --verify',
    );
  }
});

test('smkit package -o naming a file of the model directory (not an earlier archive) is a usage error; the file is kept', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-package-own-'));
  try {
    const model = path.join(dir, 'model');
    await fs.mkdir(path.join(model, 'code'), { recursive: true });
    await fs.writeFile(path.join(model, 'model.onnx'), 'x');
    await fs.writeFile(path.join(model, 'code', 'inference.mjs'), 'export const modelFn = () => ({});\n');
    for (const output of [path.join(model, 'model.onnx'), path.join(model, 'code', 'inference.mjs')]) {
      await assert.rejects(
        packageCommand(model, { output, startupTimeout: '120' }),
        (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && e.message === `--output ${output} is a file of ${model}, which the archive would replace; give a new file name ending in .tar.gz`,
      );
    }
    assert.equal(await fs.readFile(path.join(model, 'model.onnx'), 'utf8'), 'x');
    // An earlier archive in the folder is replaced (and not packed).
    await fs.writeFile(path.join(model, 'model.tar.gz'), 'old');
    await packageCommand(model, { output: path.join(model, 'model.tar.gz'), startupTimeout: '120' });
    assert.notEqual(await fs.readFile(path.join(model, 'model.tar.gz'), 'utf8'), 'old');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('smkit package --verify --sample over 6 MB (a real-time endpoint\'s limit) is a usage error naming the limit, before anything is packed; one of 2 GiB or more is not read', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-package-big-'));
  try {
    await fs.mkdir(path.join(dir, 'model'));
    await fs.writeFile(path.join(dir, 'model', 'model.onnx'), 'x');
    const output = path.join(dir, 'model.tar.gz');
    for (const bytes of [MAX_SAMPLE_BYTES + 1, 3 * 1024 ** 3]) {
      const sample = path.join(dir, `big-${bytes}.bin`);
      await fs.writeFile(sample, '');
      await fs.truncate(sample, bytes);
      await assert.rejects(
        packageCommand(path.join(dir, 'model'), { output, verify: true, sample, startupTimeout: '120' }),
        (e: unknown) =>
          isToolkitError(e) && e.code === 'ERR_CLI_USAGE' &&
          e.message === `--sample ${sample} is ${bytes} bytes, over the 6 MB (6291456 bytes) a SageMaker real-time endpoint takes in one request and the server --verify starts accepts: give a smaller sample`,
      );
      // The library call refuses it before starting a server (the archive does not even exist).
      await assert.rejects(verifyArchive(path.join(dir, 'none.tar.gz'), { sample }), { code: 'ERR_PACKAGE_VERIFY', message: new RegExp(`^${sample} is ${bytes} bytes, over the 6 MB`) });
      await fs.rm(sample);
    }
    assert.deepEqual(await fs.readdir(dir), ['model']);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('smkit package -o naming a socket (as /dev/stdout, a FIFO or a device), or a path through a file, is a usage error before anything is packed; the socket is kept', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-package-out-kind-'));
  const server = net.createServer();
  try {
    const model = path.join(dir, 'model');
    await fs.mkdir(model);
    await fs.writeFile(path.join(model, 'model.onnx'), 'x');
    const socket = path.join(dir, 'model.tar.gz');
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    await assert.rejects(
      packageCommand(model, { output: socket, startupTimeout: '120' }),
      (e: unknown) =>
        isToolkitError(e) &&
        e.code === 'ERR_CLI_USAGE' &&
        e.message === `--output=${JSON.stringify(socket)} is invalid: expected a file name for the archive; ${socket} is neither a file nor a directory (a FIFO, socket or device), which the archive, written beside it and renamed, would replace.`,
    );
    assert.ok((await fs.lstat(socket)).isSocket(), 'the socket is not replaced');
    const throughFile = path.join(model, 'model.onnx', 'out', 'model.tar.gz');
    await assert.rejects(
      packageCommand(model, { output: throughFile, startupTimeout: '120' }),
      (e: unknown) =>
        isToolkitError(e) &&
        e.code === 'ERR_CLI_USAGE' &&
        e.message === `--output=${JSON.stringify(throughFile)} is invalid: expected a file name for the archive; ${throughFile} cannot be written: ${path.join(model, 'model.onnx')} is not a folder.`,
    );
    assert.deepEqual((await fs.readdir(dir)).sort(), ['model', 'model.tar.gz']);
  } finally {
    server.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('smkit package -o with a .. after a symbolic link to a folder (model/lib/../model.onnx, lib leading elsewhere) is refused as the model file it is written to; the file is kept', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-package-dotdot-'));
  try {
    const model = path.join(dir, 'model');
    await fs.mkdir(path.join(dir, 'elsewhere', 'lib'), { recursive: true });
    await fs.mkdir(model);
    await fs.writeFile(path.join(model, 'model.onnx'), 'x');
    await fs.symlink(path.join(dir, 'elsewhere', 'lib'), path.join(model, 'lib'));
    // Written as the path reads (model/model.onnx); the kernel would resolve it to elsewhere/model.onnx, which does not exist.
    const output = `${model}/lib/../model.onnx`;
    await assert.rejects(
      packageCommand(model, { output, startupTimeout: '120' }),
      (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && e.message === `--output ${output} is a file of ${model}, which the archive would replace; give a new file name ending in .tar.gz`,
    );
    assert.equal(await fs.readFile(path.join(model, 'model.onnx'), 'utf8'), 'x');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('smkit package of a model directory named through a symbolic link leaves out an earlier archive written to its real folder, and refuses -o naming one of its real files', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-package-linked-'));
  try {
    const model = path.join(dir, 'model');
    const link = path.join(dir, 'current');
    await fs.mkdir(model);
    await fs.writeFile(path.join(model, 'model.onnx'), 'x');
    await fs.symlink(model, link);
    const archive = path.join(model, 'model.tar.gz');
    for (let run = 0; run < 2; run++) await packageCommand(link, { output: archive, startupTimeout: '120' });
    const packed: string[] = [];
    await tar.t({ file: archive, onReadEntry: (e) => void packed.push(e.path) });
    assert.deepEqual(packed, ['model.onnx'], 'the archive of the first run is not packed into the second');
    const output = path.join(model, 'model.onnx');
    await assert.rejects(
      packageCommand(link, { output, startupTimeout: '120' }),
      (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && e.message === `--output ${output} is a file of ${link}, which the archive would replace; give a new file name ending in .tar.gz`,
    );
    assert.equal(await fs.readFile(output, 'utf8'), 'x');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

test("smkit package refuses a predict step's signature option for a TF.js graph or layers model, as smkit serve refuses it at start, without loading the model", async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-package-signature-'));
  try {
    const model = path.join(dir, 'model');
    const fixtures = path.join(repoRoot(), 'test', 'fixtures', 'tfjs');
    await fs.cp(path.join(fixtures, 'graph-mlp'), path.join(model, 'graph'), { recursive: true });
    await fs.cp(path.join(fixtures, 'layers-mlp'), path.join(model, 'layers'), { recursive: true });
    const steps = ['predict:', '  - model: graph', '    signature: other', '  - model: layers/model.json', '    runtime: tfjs', '    signature: serving_default', ''];
    await fs.writeFile(path.join(model, 'pipeline.yaml'), steps.join('\n'));
    const output = path.join(dir, 'model.tar.gz');
    const graphJson = path.join(model, 'graph', 'model.json');
    const layersJson = path.join(model, 'layers', 'model.json');
    // The messages smkit serve's start gives (src/runtimes/tfjs/factory.test.ts checks them there).
    const expected = [
      `pipeline.yaml: predict[0]:graph: the predict step's "signature" option ("other") picks a TensorFlow SavedModel's signature, but ${graphJson} is a TF.js graph model: a TF.js graph model serves the one signature model.json holds (tensorflowjs_converter --signature_name picks it when converting); remove "signature" from the step`,
      `pipeline.yaml: predict[1]:layers/model.json: the predict step's "signature" option ("serving_default") picks a TensorFlow SavedModel's signature, but ${layersJson} is a TF.js layers model: a TF.js layers model has no signatures; remove "signature" from the step`,
    ];
    await assert.rejects(packageCommand(model, { output, startupTimeout: '120' }), (e: unknown) => {
      assert.ok(isToolkitError(e) && e.code === 'ERR_PACKAGE_INVALID', String(e));
      assert.deepEqual((e.details as { errors: string[] }).errors, expected);
      return true;
    });
    assert.deepEqual(await fs.readdir(dir), ['model']);
    // Without the option both steps package.
    await fs.writeFile(path.join(model, 'pipeline.yaml'), steps.filter((l) => !l.includes('signature')).join('\n'));
    await packageCommand(model, { output, startupTimeout: '120' });
    assert.ok((await fs.stat(output)).size > 0);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('smkit package counts the files it wrote in words that agree with the number: "1 file", "2 files"', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-package-count-'));
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  try {
    const model = path.join(dir, 'model');
    await fs.mkdir(model);
    await fs.copyFile(path.join(repoRoot(), 'models', 'iris-onnx', 'model.onnx'), path.join(model, 'model.onnx'));
    process.stderr.write = ((chunk: string | Uint8Array) => (lines.push(String(chunk)), true)) as typeof process.stderr.write;
    await packageCommand(model, { output: path.join(dir, 'one.tar.gz'), startupTimeout: '120' });
    await fs.writeFile(path.join(model, 'labels.txt'), 'a\nb\nc\n');
    await packageCommand(model, { output: path.join(dir, 'two.tar.gz'), startupTimeout: '120' });
  } finally {
    process.stderr.write = write;
    await fs.rm(dir, { recursive: true, force: true });
  }
  const counts = lines.flatMap((l) => /^smkit: wrote \S+: (\d+ files?),/.exec(l)?.[1] ?? []);
  assert.deepEqual(counts, ['1 file', '2 files']);
});

test('smkit package of a handler under another name than inference (--program, SAGEMAKER_PROGRAM) says to serve the archive with SAGEMAKER_PROGRAM set: the archive cannot say which module is the handler', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-package-program-'));
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  const saved = process.env.SAGEMAKER_PROGRAM;
  delete process.env.SAGEMAKER_PROGRAM;
  try {
    const model = path.join(dir, 'model');
    await fs.mkdir(path.join(model, 'code'), { recursive: true });
    await fs.copyFile(path.join(repoRoot(), 'models', 'iris-onnx', 'model.onnx'), path.join(model, 'model.onnx'));
    await fs.writeFile(path.join(model, 'code', 'handler.mjs'), 'export const outputFn = (p) => JSON.stringify(p);\n');
    await fs.writeFile(path.join(model, 'code', 'inference.mjs'), 'export const outputFn = (p) => JSON.stringify(p);\n');
    process.stderr.write = ((chunk: string | Uint8Array) => (lines.push(String(chunk)), true)) as typeof process.stderr.write;
    await packageCommand(model, { output: path.join(dir, 'a.tar.gz'), startupTimeout: '120', program: 'handler.mjs' });
    const named = lines.splice(0);
    process.env.SAGEMAKER_PROGRAM = 'handler';
    await packageCommand(model, { output: path.join(dir, 'b.tar.gz'), startupTimeout: '120' });
    const fromVariable = lines.splice(0);
    delete process.env.SAGEMAKER_PROGRAM;
    await packageCommand(model, { output: path.join(dir, 'c.tar.gz'), startupTimeout: '120' });
    const note = "smkit: note: the handler is code/handler.mjs, not code/inference.*: serve the archive with SAGEMAKER_PROGRAM=handler in the model's environment, or smkit serve looks for code/inference.* instead\n";
    assert.ok(named.includes(note), named.join(''));
    assert.ok(fromVariable.includes(note), fromVariable.join(''));
    assert.deepEqual(lines.filter((l) => l.includes('note:')), []);
  } finally {
    process.stderr.write = write;
    if (saved === undefined) delete process.env.SAGEMAKER_PROGRAM;
    else process.env.SAGEMAKER_PROGRAM = saved;
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('smkit package warns when it packs a model archive into the new one (an earlier output written into the model directory under another name), which it did without a word', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-package-nested-'));
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  try {
    const model = path.join(dir, 'model');
    await fs.mkdir(model);
    await fs.copyFile(path.join(repoRoot(), 'models', 'iris-onnx', 'model.onnx'), path.join(model, 'model.onnx'));
    process.stderr.write = ((chunk: string | Uint8Array) => (lines.push(String(chunk)), true)) as typeof process.stderr.write;
    await packageCommand(model, { output: path.join(model, 'v1.tar.gz'), startupTimeout: '120' });
    const first = lines.splice(0);
    await packageCommand(model, { output: path.join(model, 'v1.tar.gz'), startupTimeout: '120' });
    const again = lines.splice(0);
    await packageCommand(model, { output: path.join(model, 'v2.tar.gz'), startupTimeout: '120' });
    const second = lines.splice(0);
    process.stderr.write = write;
    assert.deepEqual(first.filter((l) => l.includes('warning:')), []);
    assert.deepEqual(again.filter((l) => l.includes('warning:')), [], 'the archive being replaced is not packed');
    assert.ok(second.includes('smkit: warning: packed the model archive v1.tar.gz into this one (an earlier smkit package output?): SageMaker leaves it as a file of /opt/ml/model, unextracted; remove it from the model directory, or write archives outside it\n'), second.join(''));
  } finally {
    process.stderr.write = write;
    await fs.rm(dir, { recursive: true, force: true });
  }
});
