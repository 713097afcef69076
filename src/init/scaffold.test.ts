import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isToolkitError } from '../errors/catalogue.js';
import { packageNameFor, scaffoldProject } from './scaffold.js';

test('smkit init --force into a folder where a file stands in the way of the project\'s folders is ERR_INIT_TARGET naming it, not a raw fs error', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-init-'));
  try {
    await fs.writeFile(path.join(dir, 'model'), 'not a folder');
    await assert.rejects(
      scaffoldProject(dir, { force: true, exampleModel: path.join(dir, 'none.onnx') }),
      (e: unknown) => isToolkitError(e) && e.code === 'ERR_INIT_TARGET' && e.message.startsWith(`${dir} cannot be used: `) && e.message.includes(path.join(dir, 'model')) && e.message.endsWith('; choose a new folder, or remove what stands in the way'),
    );
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('smkit init --force says what stands in the way in its own words, for each way a write can meet it (not fs.cp\'s "cp returned EISDIR (...)")', async () => {
  const example = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-init-model-')), 'model.onnx');
  await fs.writeFile(example, 'onnx');
  const cases: [string, (dir: string) => Promise<unknown>, string][] = [
    ['input/config', (d) => fs.mkdir(path.join(d, 'input')).then(() => fs.writeFile(path.join(d, 'input', 'config'), '')), 'is a file, where the project puts a folder'],
    ['README.md', (d) => fs.mkdir(path.join(d, 'README.md')), 'is a folder, where the project puts a file'],
    ['test', (d) => fs.writeFile(path.join(d, 'test'), ''), 'is a file, where the project puts a folder'],
    ['package.json', (d) => fs.mkdir(path.join(d, 'package.json')), 'is a folder, where the project puts a file'],
    // Was a warning that the example model "was not found", and exit 0.
    ['model/model.onnx', (d) => fs.mkdir(path.join(d, 'model', 'model.onnx'), { recursive: true }), 'is a folder, where the project puts a file'],
  ];
  try {
    for (const [rel, setUp, problem] of cases) {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-init-way-'));
      try {
        await setUp(dir);
        await assert.rejects(scaffoldProject(dir, { force: true, exampleModel: example }), (e: unknown) => {
          assert.ok(isToolkitError(e) && e.code === 'ERR_INIT_TARGET');
          assert.equal(e.message, `${dir} cannot be used: ${path.join(dir, rel)} ${problem}; choose a new folder, or remove what stands in the way`);
          return true;
        });
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await fs.rm(path.dirname(example), { recursive: true, force: true });
  }
});

test('smkit init with an empty or blank folder name is a usage error asking for a name; . still means the current folder', async () => {
  // A NUL character was '<dir>="a\u0000b" is invalid: ... /abs/a b cannot be read (ERR_INVALID_ARG_VALUE)'.
  await assert.rejects(scaffoldProject('a\0b'), (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && e.message === 'smkit init got a folder name with a NUL character ("a\\u0000b"), which no file system accepts: give a name without it');
  for (const dir of ['', ' ', '\t\n']) {
    await assert.rejects(
      scaffoldProject(dir),
      (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && e.message === `smkit init needs a folder name, got ${JSON.stringify(dir)}: give one (smkit init my-model), or . for the current folder`,
    );
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-init-dot-'));
  const cwd = process.cwd();
  try {
    process.chdir(dir);
    const result = await scaffoldProject('.', { exampleModel: path.join(dir, 'none.onnx') });
    assert.equal(result.dir, await fs.realpath(dir));
    assert.ok(result.files.includes('model/pipeline.yaml'));
  } finally {
    process.chdir(cwd);
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('smkit init that fails part-way leaves nothing behind: not the folders it created, not the files it wrote into an empty folder', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-init-partial-'));
  try {
    // A template whose file "model" stands where the project needs the folder model/code: the copy succeeds, the next step fails.
    const templateDir = path.join(dir, 'template');
    await fs.mkdir(templateDir);
    await fs.writeFile(path.join(templateDir, 'model'), 'not a folder');
    await fs.mkdir(path.join(dir, 'empty'));
    // Left new/proj/model (and new/, new/proj/) before; left empty/model behind.
    for (const [target, after] of [[path.join(dir, 'new', 'proj'), ['empty', 'template']], [path.join(dir, 'empty'), ['empty', 'template']]] as const) {
      await assert.rejects(scaffoldProject(target, { templateDir, exampleModel: path.join(dir, 'none.onnx') }), (e: unknown) => isToolkitError(e) && e.code === 'ERR_INIT_TARGET');
      assert.deepEqual((await fs.readdir(dir)).sort(), after);
      assert.deepEqual(await fs.readdir(path.join(dir, 'empty')), []);
    }
    // --force into a non-empty folder: the clean-up must not touch what the user had there (a file, a folder and its contents).
    const full = path.join(dir, 'full');
    await fs.mkdir(path.join(full, 'data'), { recursive: true });
    await fs.writeFile(path.join(full, 'keep.txt'), 'mine');
    await fs.writeFile(path.join(full, 'data', 'rows.csv'), 'a,b');
    await assert.rejects(scaffoldProject(full, { templateDir, exampleModel: path.join(dir, 'none.onnx'), force: true }), (e: unknown) => isToolkitError(e) && e.code === 'ERR_INIT_TARGET');
    assert.equal(await fs.readFile(path.join(full, 'keep.txt'), 'utf8'), 'mine');
    assert.equal(await fs.readFile(path.join(full, 'data', 'rows.csv'), 'utf8'), 'a,b');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('smkit init into a path under a file says which file is in the way (it said the path itself was a file)', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-init-under-'));
  try {
    await fs.writeFile(path.join(dir, 'afile'), 'x');
    for (const [target, problem] of [[path.join(dir, 'afile', 'sub', 'proj'), `is inside ${path.join(dir, 'afile')}, which is a file`], [path.join(dir, 'afile'), 'is a file']]) {
      await assert.rejects(scaffoldProject(target!), (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && e.message.endsWith(`; ${target} ${problem}.`));
    }
    assert.deepEqual(await fs.readdir(dir), ['afile']);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('the package.json name is one npm takes for any folder name: lower case, npm characters only, no leading dot, underscore or dash, 214 characters at most, never a blocked name', () => {
  assert.equal(packageNameFor('My Model (v2)'), 'my-model-v2-');
  assert.equal(packageNameFor('._-.hidden'), 'hidden');
  assert.equal(packageNameFor('模型'), 'smkit-model');
  // A folder name may be 255 bytes; npm's limit is 214 characters.
  assert.equal(packageNameFor('m'.repeat(255)), 'm'.repeat(214));
  assert.equal(packageNameFor('node_modules'), 'smkit-model');
  assert.equal(packageNameFor('Favicon.ico'), 'smkit-model');
});
