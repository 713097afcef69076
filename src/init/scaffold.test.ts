import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isToolkitError } from '../errors/catalogue.js';
import { scaffoldProject } from './scaffold.js';

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
