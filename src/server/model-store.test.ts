import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { checkFreeMemory, freeMemoryBytes } from './model-store.js';
import { ToolkitError } from '../errors/catalogue.js';

const MB = 1024 * 1024;

test('a model load is refused with 507 below SMKIT_MME_MIN_FREE_MB of free memory, and allowed at it', () => {
  assert.throws(
    () => checkFreeMemory(256, 255 * MB),
    (err: unknown) => err instanceof ToolkitError && err.status === 507 && err.code === 'ERR_INSUFFICIENT_RESOURCES' && /only 255 MB of memory is free \(SMKIT_MME_MIN_FREE_MB=256\)/.test(err.message),
  );
  assert.doesNotThrow(() => checkFreeMemory(256, 256 * MB));
  assert.doesNotThrow(() => checkFreeMemory(0, 0));
});

test('free memory is what the process may still use: more than nothing, less than the machine has', () => {
  const free = freeMemoryBytes();
  assert.ok(free > 0 && free <= os.totalmem(), `${free} bytes`);
});
