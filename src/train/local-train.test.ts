import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildLocalTree, localTrain } from './local-train.js';
import { isToolkitError } from '../errors/catalogue.js';
import { OPT_ML_DIRECTORIES } from '../opt-ml/layout.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const template = path.join(repo, 'opt-ml-template');

test('opt-ml-template has every directory a local tree gets, and its config files parse', () => {
  for (const dir of OPT_ML_DIRECTORIES) assert.ok(statSync(path.join(template, dir)).isDirectory(), dir);
  assert.ok(statSync(path.join(template, 'model/code')).isDirectory());
  for (const f of ['hyperparameters', 'inputdataconfig', 'resourceconfig']) JSON.parse(readFileSync(path.join(template, `input/config/${f}.json`), 'utf8'));
  const hps = JSON.parse(readFileSync(path.join(template, 'input/config/hyperparameters.json'), 'utf8')) as Record<string, unknown>;
  assert.ok(Object.values(hps).every((v) => typeof v === 'string'), 'hyperparameters.json is string → string');
  assert.ok(existsSync(path.join(template, 'code/train.mjs')));
});

test('buildLocalTree links channels and code, defaults the entry point, writes local-mode configs', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'smkit-tree-'));
  try {
    const file = path.join(root, 'data.csv');
    writeFileSync(file, '1,2\n');
    const paths = buildLocalTree(
      { channels: { training: path.join(template, 'input/data/training'), single: file }, codeDir: path.join(template, 'code'), hyperparameters: { epochs: '5' } },
      path.join(root, 't'),
    );
    assert.equal(realpathSync(paths.code), realpathSync(path.join(template, 'code')));
    assert.ok(lstatSync(path.join(paths.inputData, 'training')).isSymbolicLink());
    assert.equal(readFileSync(path.join(paths.inputData, 'single/data.csv'), 'utf8'), '1,2\n');
    assert.equal(readFileSync(paths.hyperparametersFile, 'utf8'), '{"epochs":"5","sagemaker_program":"\\"train.mjs\\""}\n');
    assert.deepEqual(JSON.parse(readFileSync(paths.inputDataConfigFile, 'utf8')), { training: { TrainingInputMode: 'File' }, single: { TrainingInputMode: 'File' } });
    assert.deepEqual(JSON.parse(readFileSync(paths.resourceConfigFile, 'utf8')), { current_host: 'algo-1', hosts: ['algo-1'], network_interface_name: 'eth0', current_instance_type: 'local' });
    for (const dir of OPT_ML_DIRECTORIES) assert.ok(statSync(path.join(paths.base, dir)).isDirectory(), dir);
    assert.throws(() => buildLocalTree({ channels: { 'bad/name': file }, codeDir: path.join(template, 'code') }, path.join(root, 'u')), /channel names use letters/);
    for (const name of ['.', '..']) {
      const usage = (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && /channel names .* not '\.' or '\.\.'/.test(e.message);
      assert.throws(() => buildLocalTree({ channels: { [name]: file }, codeDir: path.join(template, 'code') }, path.join(root, `v${name.length}`)), usage, name);
      assert.throws(() => buildLocalTree({ channels: { [name]: root }, codeDir: path.join(template, 'code') }, path.join(root, `w${name.length}`)), usage, name);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('--hyperparameters: values that are not strings are written as the SageMaker Python SDK writes them, json.dumps(v) with its default separators and key order', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'smkit-tree-'));
  try {
    const file = path.join(root, 'hps.json');
    writeFileSync(file, '{"layers": [64, 32], "opt": {"name": "adam", "beta": 0.9}, "lr": 1e-5, "on": true, "note": "as is", "tag": null}');
    const paths = buildLocalTree({ channels: {}, codeDir: path.join(template, 'code'), hyperparametersFile: file }, path.join(root, 't'));
    const hps = JSON.parse(readFileSync(paths.hyperparametersFile, 'utf8')) as Record<string, string>;
    assert.deepEqual(
      { layers: hps['layers'], opt: hps['opt'], lr: hps['lr'], on: hps['on'], note: hps['note'], tag: hps['tag'] },
      { layers: '[64, 32]', opt: '{"name": "adam", "beta": 0.9}', lr: '1e-05', on: 'true', note: 'as is', tag: 'null' },
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('localTrain copies model/ as model.tar.gz would hold it: a link inside it as the file it points to (not a link into the removed tree), a link out of it left out', async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'smkit-local-links-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const code = path.join(root, 'code');
  mkdirSync(code);
  writeFileSync(
    path.join(code, 'train.mjs'),
    `import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';\nimport path from 'node:path';\nconst m = process.env.SM_MODEL_DIR;\n` +
      `writeFileSync(path.join(m, 'weights.bin'), 'plain');\nsymlinkSync('weights.bin', path.join(m, 'alias.bin'));\n` +
      `symlinkSync(path.join(m, 'weights.bin'), path.join(m, 'absolute.bin'));\nmkdirSync(path.join(m, 'sub'));\nsymlinkSync('../weights.bin', path.join(m, 'sub', 'up.bin'));\n` +
      `symlinkSync(process.env.SM_INPUT_CONFIG_DIR, path.join(m, 'config'));\n`,
  );
  const output = path.join(root, 'out');
  const result = await localTrain({ channels: {}, codeDir: code, outputDir: output });
  assert.equal(result.exitCode, 0);
  assert.equal(existsSync(result.baseDir), false, 'the temporary tree is removed');
  for (const name of ['weights.bin', 'alias.bin', 'absolute.bin', 'sub/up.bin']) {
    assert.equal(lstatSync(path.join(output, name)).isFile(), true, name);
    assert.equal(readFileSync(path.join(output, name), 'utf8'), 'plain', name);
  }
  assert.equal(existsSync(path.join(output, 'config')), false, 'a link out of model/ is not copied');
});

test('localTrain with an entry point that exits 0 having removed model/ (or left a link to nowhere in its place) ends with no model copied, not an ENOENT stack trace, and removes its tree', async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'smkit-local-no-model-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const code = path.join(root, 'code');
  mkdirSync(code);
  writeFileSync(
    path.join(code, 'train.mjs'),
    `import { rmSync, symlinkSync } from 'node:fs';\nrmSync(process.env.SM_MODEL_DIR, { recursive: true });\n` +
      `if (process.argv[2] === '--link') symlinkSync('/nonexistent/model', process.env.SM_MODEL_DIR);\n`,
  );
  for (const hyperparameters of [{}, { link: '' }] as Array<Record<string, string>>) {
    const output = path.join(root, `out-${Object.keys(hyperparameters).length}`);
    const result = await localTrain({ channels: {}, codeDir: code, outputDir: output, hyperparameters });
    assert.equal(result.exitCode, 0, 'SageMaker completes such a job (with an empty model.tar.gz)');
    assert.equal(existsSync(result.baseDir), false, 'the temporary tree is removed');
    assert.equal(existsSync(output), false, 'no model, nothing copied');
  }
});

test('localTrain with an entry point that put a link out of the tree in model/\'s place copies nothing from where it leads (the local SageMaker uploads an empty model.tar.gz for it)', async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'smkit-local-model-link-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const code = path.join(root, 'code');
  const host = path.join(root, 'host-files');
  mkdirSync(code);
  mkdirSync(host);
  writeFileSync(path.join(host, 'credentials'), 'not a model');
  writeFileSync(
    path.join(code, 'train.mjs'),
    `import { rmSync, symlinkSync } from 'node:fs';\nrmSync(process.env.SM_MODEL_DIR, { recursive: true });\nsymlinkSync(${JSON.stringify(host)}, process.env.SM_MODEL_DIR);\n`,
  );
  const output = path.join(root, 'out');
  const result = await localTrain({ channels: {}, codeDir: code, outputDir: output, hyperparameters: {} });
  assert.equal(result.exitCode, 0);
  assert.equal(existsSync(output), false, 'nothing copied');
  assert.equal(existsSync(path.join(host, 'credentials')), true, 'and nothing removed where it led');
});
