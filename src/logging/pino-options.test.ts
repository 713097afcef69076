import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

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

test('lines that cannot be written are not kept without bound: a process logging on to a destination that keeps failing stays in bounds, in either format', { skip: !existsSync('/dev/full') && 'needs /dev/full' }, () => {
  const full = openSync('/dev/full', 'w');
  try {
    for (const format of ['json', 'pretty'] as const) {
      // 200 MB of lines: kept until written (sonic-boom tries what failed again first), they would all be in memory.
      const code = `const { createLogger } = await import(${JSON.stringify(LOGGER)}); const log = createLogger('info', {}, { format: '${format}', fd: 2 }); const pad = 'y'.repeat(1000); for (let i = 0; i < 200_000; i++) log.info({ pad }, 'line'); globalThis.gc(); process.stdout.write(String(process.memoryUsage().heapUsed));`;
      const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', full], encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, `${format}: ${r.stderr ?? ''}`);
      assert.ok(Number(r.stdout) < 100 << 20, `${format}: heap ${Math.round(Number(r.stdout) / 2 ** 20)} MB`);
    }
  } finally {
    closeSync(full);
  }
});

/**
 * Runs a process that logs `one` in `format` to its stderr, a file past the process's file-size
 * limit (every write fails, EFBIG: as a full disk's ENOSPC or a gone terminal's EIO, an error that is
 * not EPIPE), then cuts the file to nothing (the disk freed) and logs `two` and `three`. Returns the
 * process and what the file holds.
 */
function logThroughRecoveredFile(dir: string, format: 'json' | 'pretty') {
  const file = path.join(dir, `${format}.log`);
  writeFileSync(file, 'x'.repeat(64 << 10));
  const fd = openSync(file, 'a');
  try {
    const code = `const { ftruncateSync } = await import('node:fs'); const { createLogger } = await import(${JSON.stringify(LOGGER)}); const log = createLogger('info', {}, { format: '${format}', fd: 2 }); log.info('one'); ftruncateSync(2, 0); log.info('two'); log.info('three'); process.stdout.write('still running');`;
    // ulimit -f counts 512- or 1024-byte blocks: the limit is under the file's 64 KB and over the 3 lines. Node ignores SIGXFSZ.
    const r = spawnSync('/bin/sh', ['-c', 'ulimit -f 1 && exec "$@"', 'sh', process.execPath, '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', fd], encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, stdout: r.stdout, lines: readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') };
  } finally {
    closeSync(fd);
  }
}

test('after failed writes, lines are written again once the destination takes them, the failed one first, in either format', { skip: process.platform === 'win32' && 'needs ulimit' }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-log-recover-'));
  try {
    for (const format of ['json', 'pretty'] as const) {
      const r = logThroughRecoveredFile(dir, format);
      const messages = r.lines.map((l) => (format === 'json' ? (JSON.parse(l) as { msg: string }).msg : /INFO: (\w+)$/.exec(l)?.[1]));
      assert.deepEqual({ status: r.status, stdout: r.stdout, messages }, { status: 0, stdout: 'still running', messages: ['one', 'two', 'three'] }, `${format}: ${r.lines.join('\n')}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pretty: a line pino-pretty cannot parse comes out as it is, on one line of its own, with no blank line after it', () => {
  const code = `const { createLogger } = await import(${JSON.stringify(LOGGER)}); const log = createLogger('info', {}, { format: 'pretty', fd: 1 }); log.info({ constructor: { prototype: 1 } }, 'odd'); log.info('next');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.equal(lines.length, 3, r.stdout);
  assert.match(lines[0]!, /^\{.*"msg":"odd"\}$/, 'the raw JSON line');
  assert.match(lines[1]!, /INFO: next$/);
  assert.equal(lines[2], '');
});

test('pretty: a message that quotes a line break (a model name a client sent, %0A in its path) stays on its line: it cannot forge a line of its own', () => {
  const code = `const { createLogger } = await import(${JSON.stringify(LOGGER)}); const log = createLogger('info', {}, { format: 'pretty', fd: 1 }); log.warn({ code: 'ERR_MODEL_NOT_LOADED' }, 'model "a\\n[00:00:00.000] ERROR: forged\\r\\u001b[2J" is not loaded'); log.info('next');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.equal(lines.length, 3, r.stdout);
  assert.ok(lines[0]!.includes('WARN: model "a\\n[00:00:00.000] ERROR: forged\\r\\u001b[2J" is not loaded'), lines[0]);
  assert.match(lines[1]!, /INFO: next$/);
});

/**
 * `script` (util-linux) runs a command on a pseudo-terminal: there is none to use without it. Tried
 * for real, not by --version: a container without /dev/pts, or a script of another kind (BusyBox,
 * BSD's other flags), cannot give one, and the test is skipped rather than failed there.
 */
const hasScript = (() => {
  const r = spawnSync('script', ['-qec', 'echo smkit-tty-probe', '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 120_000 });
  return r.status === 0 && r.stdout.includes('smkit-tty-probe');
})();

test('pretty lines on a terminal are coloured, unless NO_COLOR, NODE_DISABLE_COLORS or TERM=dumb says not to', { skip: !hasScript && 'needs script (util-linux) and a pseudo-terminal' }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-log-colour-'));
  try {
    const file = path.join(dir, 'log.mjs');
    writeFileSync(file, `const { createLogger } = await import(${JSON.stringify(LOGGER)}); createLogger('info', {}, { format: 'pretty' }).info('hello');\n`);
    const run = (env: Record<string, string>) => {
      // Only what running the command needs: Node reads colours from many variables (CI, a CI
      // service's own such as GITHUB_ACTIONS or GITLAB_CI, TMUX, COLORTERM, TERM_PROGRAM,
      // TEAMCITY_VERSION, NO_COLOR, FORCE_COLOR), so the machine's own would change the answers.
      const base: Record<string, string> = { PATH: process.env.PATH ?? '', TERM: 'xterm-256color' };
      if (process.env.HOME !== undefined) base.HOME = process.env.HOME;
      const r = spawnSync('script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(file)}`, '/dev/null'], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /INFO.*hello/);
      return r.stdout.includes('\u001b[');
    };
    assert.equal(run({}), true, 'a terminal gets colours');
    assert.equal(run({ NO_COLOR: '1' }), false, 'NO_COLOR');
    assert.equal(run({ NODE_DISABLE_COLORS: '1' }), false, 'NODE_DISABLE_COLORS');
    assert.equal(run({ TERM: 'dumb' }), false, 'TERM=dumb');
    assert.equal(run({ CI: 'true' }), false, 'CI, no known CI service named');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an error that quotes its cause's message is logged with it once, not again after it as pino appends causes; a cause it does not quote is still appended", () => {
  const code = `const { createLogger } = await import(${JSON.stringify(LOGGER)});
const log = createLogger('info', {}, { format: 'json', fd: 1 });
const missing = new Error("Cannot find package 'x' imported from /m/code/inference.mjs");
log.error({ err: new Error("cannot load handler /m/code/inference.mjs: Cannot find package 'x' imported from /m/code/inference.mjs", { cause: missing }) }, 'quoted');
log.error({ err: new Error('outer', { cause: new Error('middle', { cause: new Error('inner') }) }) }, 'not quoted');
log.error({ err: new Error('outer: middle', { cause: new Error('middle', { cause: new Error('inner') }) }) }, 'partly quoted');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; err: { message: string; stack: string } });
  assert.deepEqual(lines.map((l) => [l.msg, l.err.message]), [
    ['quoted', "cannot load handler /m/code/inference.mjs: Cannot find package 'x' imported from /m/code/inference.mjs"],
    ['not quoted', 'outer: middle: inner'],
    ['partly quoted', 'outer: middle: inner'],
  ]);
  // The stack still shows each cause's.
  assert.match(lines[0]!.err.stack, /caused by: Error: Cannot find package 'x'/);
});
