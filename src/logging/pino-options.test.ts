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

test('JSON lines that cannot be written are not kept without bound: a process logging on to a destination that keeps failing stays in bounds', { skip: !existsSync('/dev/full') && 'needs /dev/full' }, () => {
  const full = openSync('/dev/full', 'w');
  try {
    // 200 MB of lines: kept until written (sonic-boom tries what failed again first), they would all be in memory.
    const code = `const { createLogger } = await import(${JSON.stringify(LOGGER)}); const log = createLogger('info', {}, { format: 'json', fd: 2 }); const pad = 'y'.repeat(1000); for (let i = 0; i < 200_000; i++) log.info({ pad }, 'line'); globalThis.gc(); process.stdout.write(String(process.memoryUsage().heapUsed));`;
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', full], encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr ?? '');
    assert.ok(Number(r.stdout) < 100 << 20, `heap ${Math.round(Number(r.stdout) / 2 ** 20)} MB`);
  } finally {
    closeSync(full);
  }
});

test('after a failed write, JSON lines are written again once the destination takes them', () => {
  // A pipe whose reader is paused then resumed would not fail; an fd that fails then recovers: a
  // stand-in for sonic-boom's write that fails once (ENOSPC), as a full disk freed again.
  const code = `import fs from 'node:fs'; const real = fs.writeSync; let fail = 1; fs.writeSync = function (...a) { if (a[0] === 2 && fail-- > 0) { const e = new Error('no space'); e.code = 'ENOSPC'; throw e; } return real.apply(this, a); }; const { createLogger } = await import(${JSON.stringify(LOGGER)}); const log = createLogger('info', {}, { format: 'json', fd: 2 }); log.info('one'); log.info('two');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stderr.trim().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg), ['one', 'two']);
});
