import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isToolkitError } from '../errors/catalogue.js';
import { packageCommand } from './command.js';

test('smkit package --verify --startup-timeout past an hour (as smkit local allows) is a usage error, checked before anything is packed', async () => {
  for (const startupTimeout of ['3000000', 'Infinity', '0']) {
    await assert.rejects(
      packageCommand('/nonexistent-model-dir', { output: '/nonexistent-out/model.tar.gz', verify: true, startupTimeout }),
      (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && e.message === `--startup-timeout must be a positive number of seconds, at most 3600 (got ${startupTimeout})`,
    );
  }
});
