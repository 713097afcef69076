import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { finished } from 'node:stream/promises';
import { tempDirForSync } from '../../../test/helpers/temp-dir.js';
import { openChildLog, pipeChildOutput } from './child-log.js';
import { processAlive } from '../../../test/helpers/process-alive.js';

/** A child that writes `mb` MB to stdout and as much to stderr, then exits 0. */
function chatty(mb: number) {
  const code = `const b = Buffer.alloc(1 << 20, 120); for (let i = 0; i < ${mb}; i++) { process.stdout.write(b); process.stderr.write(b); }`;
  return spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The child's exit code, once its output streams have closed too. */
const closed = (child: ReturnType<typeof chatty>) => new Promise<number | null>((done) => child.once('close', (code) => done(code)));

test('a child\'s stdout and stderr go to its log file, which is left open for the caller', async (t) => {
  const file = join(tempDirForSync(t, 'smkit-child-log-'), 'c.log');
  const log = await openChildLog(file);
  const child = chatty(1);
  const endLog = pipeChildOutput([child.stdout, child.stderr], log);
  assert.equal(await closed(child), 0);
  endLog();
  await finished(log);
  assert.equal(readFileSync(file).length, 2 << 20);
});

test('a log file that fails once open (a full disk): the child is not blocked on its output, which is still read, and the failure is told once', { skip: !existsSync('/dev/full') && 'needs /dev/full', timeout: 60_000 }, async () => {
  const log = await openChildLog('/dev/full');
  const child = chatty(8);
  const errors: string[] = [];
  pipeChildOutput([child.stdout, child.stderr], log, (err) => errors.push((err as NodeJS.ErrnoException).code ?? err.message));
  let read = 0;
  child.stdout.on('data', (d: Buffer) => (read += d.length));
  // Far more than a pipe holds: a child whose output stopped being read would never get here.
  assert.equal(await closed(child), 0);
  assert.deepEqual(errors, ['ENOSPC']);
  assert.equal(read, 8 << 20, 'another reader of the output (the local CloudWatch Logs) still got all of it');
  log.end();
});

test('a log file that cannot be opened rejects with the reason', async (t) => {
  const dir = tempDirForSync(t, 'smkit-child-log-');
  await assert.rejects(openChildLog(join(dir, 'missing', 'c.log')), { code: 'ENOENT' });
});

test('the log ended at the child\'s exit while a process it left behind still writes: the output is still read (by the other readers) to its end, not paused', async (t) => {
  // A stand-in for the child's stdout: Node at times resumes a child process's own streams after its
  // exit, which hid the pause from a test with a real child in most runs.
  const file = join(tempDirForSync(t, 'smkit-child-log-'), 'c.log');
  const log = await openChildLog(file);
  const output = new PassThrough();
  // The pipe a process left behind holds open keeps this process alive until the drain is over; the
  // stand-in has no handle to do that, and the drain's timer does not.
  const alive = setInterval(() => {}, 1000);
  t.after(() => clearInterval(alive));
  const errors: Error[] = [];
  const endLog = pipeChildOutput([output], log, (err) => errors.push(err), 50);
  let read = '';
  output.on('data', (d: Buffer) => (read += d.toString()));
  output.write('first\n');
  await new Promise((done) => setImmediate(done));
  endLog();
  // The pipe of a finished log unpiped and paused the output: what came after reached no reader, and the output never ended.
  await finished(log);
  output.end('late\n');
  await finished(output);
  assert.equal(read, 'first\nlate\n');
  assert.equal(readFileSync(file, 'utf8'), 'first\n');
  assert.deepEqual(errors, []);
});

test('the child\'s last output, still in its pipes at its exit, is written before the log ends, not dropped nor written after its end (which failed the log)', async (t) => {
  const file = join(tempDirForSync(t, 'smkit-child-log-'), 'c.log');
  const log = await openChildLog(file);
  const output = new PassThrough();
  const errors: string[] = [];
  const endLog = pipeChildOutput([output], log, (err) => errors.push((err as NodeJS.ErrnoException).code ?? err.message));
  output.write('before\n');
  await new Promise((done) => setImmediate(done));
  endLog();
  output.end('after\n');
  await finished(log);
  await finished(output);
  assert.deepEqual(errors, []);
  assert.equal(readFileSync(file, 'utf8'), 'before\nafter\n');
});


for (const logTo of ['a file', 'a file that fails (/dev/full)'] as const) {
  test(`outputs a process the child left behind holds open keep this process alive neither during the wait for them nor after it (the log to ${logTo})`, { timeout: 60_000, skip: logTo !== 'a file' && !existsSync('/dev/full') && 'needs /dev/full' }, async (t) => {
    // The child starts a process of its own session that inherits its stdout and stderr and lives two
    // minutes, then exits: the owner exits once the drain (0.1 s) is over, or at once with a failed
    // log, while that process lives.
    // Removed after the process left behind is ended (which reads its pid from it): after hooks run in order.
    const dir = mkdtempSync(join(tmpdir(), 'smkit-child-log-'));
    const script = join(dir, 'owner.mjs');
    const leftPid = join(dir, 'left.pid');
    const logFile = logTo === 'a file' ? join(dir, 'c.log') : '/dev/full';
    const child = `const { spawn } = require('node:child_process'); const left = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 120000)'], { detached: true, stdio: ['ignore', 'inherit', 'inherit'] }); left.unref(); require('node:fs').writeFileSync(${JSON.stringify(leftPid)}, String(left.pid)); console.log('child out');`;
    writeFileSync(
      script,
      `const { openChildLog, pipeChildOutput } = await import(${JSON.stringify(new URL('./child-log.js', import.meta.url).href)});
const { spawn } = await import('node:child_process');
const log = await openChildLog(${JSON.stringify(logFile)});
const child = spawn(process.execPath, ['-e', ${JSON.stringify(child)}], { stdio: ['ignore', 'pipe', 'pipe'] });
const endLog = pipeChildOutput([child.stdout, child.stderr], log, () => console.error('log failed'), 100);
child.once('exit', endLog);`,
    );
    const owner = spawn(process.execPath, [script], { stdio: ['ignore', 'ignore', 'pipe'] });
    const leftover = (): number | undefined => (existsSync(leftPid) ? Number(readFileSync(leftPid, 'utf8')) : undefined);
    let left: number | undefined;
    t.after(() => {
      owner.kill('SIGKILL');
      left ??= leftover();
      // Above 0: a pid file read while the child wrote it is empty, and kill(0) is this process's whole group.
      if (left !== undefined && left > 0 && processAlive(left)) process.kill(left, 'SIGKILL');
    });
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    let stderr = '';
    owner.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((done) => owner.once('exit', done));
    assert.equal(code, 0, stderr);
    left = leftover();
    assert.ok(left !== undefined && processAlive(left), 'the process left behind still lives (and holds the outputs)');
    if (logTo === 'a file') assert.equal(readFileSync(logFile, 'utf8'), 'child out\n');
    else assert.equal(stderr, 'log failed\n');
  });
}

test('a child flooding its log past the cap keeps its first and last output, on bounded disk; started again, it appends and stays capped', async (t) => {
  const dir = tempDirForSync(t, 'smkit-child-log-');
  const file = join(dir, 'c.log');
  const cap = { headBytes: 4096, tailBytes: 4096 };
  // 20 000 numbered lines of 20 bytes (400 KB).
  const flood = (label: string) =>
    spawn(process.execPath, ['-e', `for (let i = 0; i < 20000; i++) process.stdout.write('${label} ' + String(i).padStart(12, '0') + '\\n');`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const run = async (label: string): Promise<void> => {
    const log = await openChildLog(file, { cap });
    const child = flood(label);
    const endLog = pipeChildOutput([child.stdout, child.stderr], log);
    assert.equal(await closed(child), 0);
    endLog();
    await finished(log);
  };
  const tail = join(dir, 'c.tail.log');
  const previousTail = join(dir, 'c.tail.1.log');
  const onDisk = (): number => [file, tail, previousTail].reduce((n, f) => n + (existsSync(f) ? readFileSync(f).length : 0), 0);

  await run('first');
  const head = readFileSync(file, 'utf8');
  assert.ok(head.length <= cap.headBytes + 512, `the main file is capped (${head.length} bytes)`);
  assert.match(head, /^first 0+\n/, 'the first output is kept');
  assert.match(head, /this log keeps the first 4096 bytes/);
  assert.match(readFileSync(tail, 'utf8'), /first 0+19999\n$/, 'the last output is kept, in the tail file');
  assert.ok(onDisk() <= cap.headBytes + 2 * cap.tailBytes + 512, `at most head + two tails on disk (${onDisk()} bytes of 400 KB printed)`);

  // Started again (a relaunch writes to the same log): the head is left as it was, the tail goes on.
  await run('second');
  assert.equal(readFileSync(file, 'utf8'), head);
  assert.match(readFileSync(tail, 'utf8'), /second 0+19999\n$/);
  assert.ok(onDisk() <= cap.headBytes + 2 * cap.tailBytes + 512, `still bounded (${onDisk()} bytes)`);
});

test('a log opened again while under its cap is appended to, then capped: its earlier output is kept', async (t) => {
  const dir = tempDirForSync(t, 'smkit-child-log-');
  const file = join(dir, 'c.log');
  writeFileSync(file, 'earlier run\n');
  writeFileSync(join(dir, 'c.tail.log'), 'stale tail of another log\n');
  const log = await openChildLog(file, { cap: { headBytes: 30, tailBytes: 100 } });
  log.end('line one\nline two\nline three\n');
  await finished(log);
  assert.match(readFileSync(file, 'utf8'), /^earlier run\nline one\nline two\n\[smkit local: this log keeps the first 30 bytes/);
  assert.equal(readFileSync(join(dir, 'c.tail.log'), 'utf8'), 'line three\n');
});
