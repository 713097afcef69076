import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findPipeChannels } from './pipe-channels.js';
import { PyDict } from './py-json.js';

test('findPipeChannels lists a Pipe-mode channel named __proto__ (a legal ChannelName) like any other', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-pipe-channels-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pipe = () => new PyDict([['TrainingInputMode', 'Pipe']]);
  const found = findPipeChannels(dir, new PyDict([['__proto__', pipe()], ['train', pipe()], ['meta', new PyDict([['TrainingInputMode', 'File']])]]));
  assert.equal(JSON.stringify(found), '{"__proto__":[],"train":[]}');
});
