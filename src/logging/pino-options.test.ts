import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';

const LOGGER = new URL('./logger.js', import.meta.url).href;

/** Runs a process that logs two lines in `format` to its stderr, which is /dev/full (every write fails, ENOSPC). */
function logToFullDevice(format: 'json' | 'pretty') {
  const full = openSync('/dev/full', 'w');
  try {
    const code = `const { createLogger } = await import(${JSON.stringify(LOGGER)}); const log = createLogger('info', {}, { format: '${format}', fd: 2 }); log.info('one'); log.warn('two'); process.stdout.write('still running');`;
    return spawnSync(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', full], encoding: 'utf8', timeout: 30_000 });
  } finally {
    closeSync(full);
  }
}

test('a log line that cannot be written (a full disk, a terminal gone after a hang-up) is lost; the process goes on, in either format', { skip: !existsSync('/dev/full') && 'needs /dev/full' }, () => {
  for (const format of ['json', 'pretty'] as const) {
    const r = logToFullDevice(format);
    assert.deepEqual({ status: r.status, stdout: r.stdout }, { status: 0, stdout: 'still running' }, `${format}: ${r.stderr ?? ''}`);
  }
});
