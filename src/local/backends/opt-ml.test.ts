import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { prepareOptMl } from './opt-ml.js';
import { ToolkitError } from '../../errors/catalogue.js';

test('prepareOptMl copies a model folder as smkit package packs it: .git and a FIFO left out, a 0600 file made 0644, a link to the folder above refused (fs.cp copied .git, kept 0600, a container run as another user could not read it, and failed with a raw ERR_FS_CP_FIFO_PIPE)', { skip: process.platform === 'win32' && 'needs mkfifo' }, async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-opt-ml-test-'));
  try {
    const model = path.join(dir, 'model');
    await fs.mkdir(path.join(model, '.git'), { recursive: true });
    await fs.writeFile(path.join(model, '.git', 'config'), '[credential]');
    await fs.writeFile(path.join(model, 'model.onnx'), 'onnx', { mode: 0o600 });
    execFileSync('mkfifo', [path.join(model, 'requests.fifo')]);
    const root = path.join(dir, 'opt-ml');
    await prepareOptMl(root, model);
    assert.deepEqual((await fs.readdir(path.join(root, 'model'))).sort(), ['model.onnx']);
    assert.equal((await fs.stat(path.join(root, 'model', 'model.onnx'))).mode & 0o777, 0o644);
    await fs.symlink('..', path.join(model, 'up'));
    await assert.rejects(prepareOptMl(path.join(dir, 'opt-ml-2'), model), (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_PACKAGE_INVALID' && /model\/up is a symbolic link to \.\./.test(e.message));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
