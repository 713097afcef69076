import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProgram } from './main.js';

const names = async (...args: string[]) => (await createProgram(['node', 'smkit', ...args])).commands.map((c) => c.name());
const EVERY = ['serve', 'train', 'local', 'invoke', 'package', 'init', 'build', 'deploy'];

test('a named command is the only one registered; anything else registers every command, in help order', async () => {
  assert.deepEqual(await names('serve', '--model-dir', 'x'), ['serve']);
  assert.deepEqual(await names('deploy', '--help'), ['deploy']);
  assert.deepEqual(await names(), EVERY);
  assert.deepEqual(await names('--help'), EVERY);
  assert.deepEqual(await names('help', 'serve'), EVERY);
  assert.deepEqual(await names('sreve'), EVERY, 'a mistyped name still gets "did you mean serve?"');
});

test('the one registered command parses its options as when all are registered', async () => {
  const alone = await createProgram(['node', 'smkit', 'serve']);
  const all = await createProgram(['node', 'smkit']);
  const options = (p: typeof alone) => p.commands.find((c) => c.name() === 'serve')!.options.map((o) => o.flags);
  assert.deepEqual(options(alone), options(all));
  assert.ok(options(alone).length > 0);
});
