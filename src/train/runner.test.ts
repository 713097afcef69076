import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runTraining } from './runner.js';
import { loadTrainingSettings } from '../config/training.js';
import { createLogger } from '../logging/logger.js';
import { until } from '../../test/helpers/until.js';
import { pino } from 'pino';

test('a run in a tree an earlier run left output/success and output/failure in ends with the files of this run only', async (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'smkit-rerun-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  mkdirSync(path.join(base, 'code'));
  mkdirSync(path.join(base, 'output'));
  writeFileSync(path.join(base, 'code', 'train.mjs'), `if (process.argv[2] === '--fail') { console.error('Error: no data'); process.exit(2); }\n`);
  const outcome = (name: string) => path.join(base, 'output', name);
  const run = (hyperparameters: Record<string, string>) => {
    mkdirSync(path.join(base, 'input', 'config'), { recursive: true });
    writeFileSync(path.join(base, 'input', 'config', 'hyperparameters.json'), JSON.stringify(hyperparameters));
    const settings = loadTrainingSettings({ PATH: process.env['PATH'] ?? '' }, { baseDir: base, program: 'train.mjs' });
    return runTraining({ settings, logger: createLogger('silent'), handleSignals: false, numCpus: 1, numGpus: 0 });
  };
  // Stopped earlier (Ctrl-C), run again to resume: this run succeeds.
  writeFileSync(outcome('failure'), 'Training stopped: SIGINT received; the entry point ended with signal SIGINT');
  assert.equal((await run({})).exitCode, 0);
  assert.ok(existsSync(outcome('success')));
  assert.equal(existsSync(outcome('failure')), false, 'the earlier run\'s failure is gone');
  // Run again and fail: the reason is this run's, and the earlier success is gone.
  assert.equal((await run({ fail: '' })).exitCode, 2);
  assert.match(readFileSync(outcome('failure'), 'utf8'), /^ExecuteUserScriptError: "node train\.mjs --fail ''" ended with exit code 2: Error: no data\n/);
  assert.equal(existsSync(outcome('success')), false, 'the earlier run\'s success is gone');
  // A folder where the failure file goes (a script made one) is removed too, and the run goes on.
  rmSync(outcome('failure'));
  mkdirSync(path.join(outcome('failure'), 'x'), { recursive: true });
  assert.equal((await run({})).exitCode, 0);
  assert.ok(existsSync(outcome('success')));
  assert.equal(existsSync(outcome('failure')), false);
});

test('hyperparameters too large to pass (E2BIG) fail the run with a reason naming the string over the limit, or the total, and what to change', async (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'smkit-e2big-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  mkdirSync(path.join(base, 'code'));
  mkdirSync(path.join(base, 'input', 'config'), { recursive: true });
  writeFileSync(path.join(base, 'code', 'train.mjs'), '');
  const run = (hyperparameters: Record<string, string>, env: Record<string, string> = {}) => {
    writeFileSync(path.join(base, 'input', 'config', 'hyperparameters.json'), JSON.stringify(hyperparameters));
    rmSync(path.join(base, 'output', 'failure'), { force: true });
    const settings = loadTrainingSettings({ PATH: process.env['PATH'] ?? '', ...env }, { baseDir: base, program: 'train.mjs' });
    return runTraining({ settings, logger: createLogger('silent'), handleSignals: false, numCpus: 1, numGpus: 0 });
  };
  const failure = () => readFileSync(path.join(base, 'output', 'failure'), 'utf8');
  // What CreateTrainingJob takes: 100 values of 2500 characters.
  const most = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`hp${i}`, 'x'.repeat(2500)]));
  assert.equal((await run(most)).exitCode, 1);
  assert.match(failure(), /^ExecuteUserScriptError: could not start "node train\.mjs --hp0 x+…": spawn E2BIG: the environment variable SM_TRAINING_ENV is \d+ bytes, over the 131072 bytes Linux takes for one; make the hyperparameters smaller \(each is in SM_HPS, SM_TRAINING_ENV, its SM_HP_ variable and the arguments\), for example by passing large values as a file in a channel\.$/);
  // Each string under the limit, all of them over ARG_MAX.
  const argMax = Number(execFileSync('getconf', ['ARG_MAX'], { encoding: 'utf8' }));
  const big = Object.fromEntries(Array.from({ length: Math.ceil(argMax / 100_000) + 1 }, (_, i) => [`BIG_${i}`, 'y'.repeat(100_000)]));
  assert.equal((await run({ epochs: '3' }, big)).exitCode, 1);
  assert.match(failure(), /: spawn E2BIG: the arguments and environment are \d+ bytes together, over what the system takes \(getconf ARG_MAX\); make the hyperparameters smaller .*, or start smkit train with a smaller environment\.$/);
});

test('an entry point killed by SIGKILL (or exiting 137) fails with STT\'s OutOfMemory reading in the headline', async (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'smkit-oom-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  mkdirSync(path.join(base, 'code'));
  writeFileSync(path.join(base, 'code', 'train.mjs'), `console.error('allocating 64 GB'); if (process.argv[2] === '--exit') process.exit(137); process.kill(process.pid, 'SIGKILL');\n`);
  const run = async (hyperparameters: Record<string, string>) => {
    mkdirSync(path.join(base, 'input', 'config'), { recursive: true });
    writeFileSync(path.join(base, 'input', 'config', 'hyperparameters.json'), JSON.stringify(hyperparameters));
    const settings = loadTrainingSettings({ PATH: process.env['PATH'] ?? '' }, { baseDir: base, program: 'train.mjs' });
    const result = await runTraining({ settings, logger: createLogger('silent'), handleSignals: false, numCpus: 1, numGpus: 0, numNeurons: 0 });
    return [result.exitCode, readFileSync(path.join(base, 'output', 'failure'), 'utf8').split('\n')[0]];
  };
  assert.deepEqual(await run({}), [137, 'ExecuteUserScriptError: "node train.mjs" ended with signal SIGKILL (OutOfMemory: Process killed by SIGKILL (signal 9)): allocating 64 GB']);
  assert.deepEqual(await run({ exit: '' }), [137, 'ExecuteUserScriptError: "node train.mjs --exit \'\'" ended with exit code 137 (OutOfMemory: Process killed by SIGKILL (signal 9)): allocating 64 GB']);
});

test('a .sh entry point with #!/bin/bash runs under bash, as STT runs it (./train.sh), not under /bin/sh', { skip: !existsSync('/bin/bash') && 'no /bin/bash' }, async (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'smkit-bash-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  mkdirSync(path.join(base, 'code'));
  mkdirSync(path.join(base, 'input', 'config'), { recursive: true });
  // [[ ]] and arrays are bash's: dash stops at them.
  writeFileSync(path.join(base, 'code', 'train.sh'), '#!/bin/bash\nset -e\nargs=("$@")\n[[ -n "$BASH_VERSION" ]] && echo "bash ${args[1]}" > "$SM_MODEL_DIR/shell.txt"\n');
  writeFileSync(path.join(base, 'input', 'config', 'hyperparameters.json'), JSON.stringify({ epochs: '3' }));
  const settings = loadTrainingSettings({ PATH: process.env['PATH'] ?? '' }, { baseDir: base, program: 'train.sh' });
  const result = await runTraining({ settings, logger: createLogger('silent'), handleSignals: false, numCpus: 1, numGpus: 0, numNeurons: 0 });
  assert.equal(result.exitCode, 0, result.failureReason);
  assert.equal(readFileSync(path.join(base, 'model', 'shell.txt'), 'utf8'), 'bash 3\n');
});

test('an entry point that cannot start for a missing program (its #! interpreter, a CRLF #! line, python3) says which, not only spawn ENOENT of a file that is there', { skip: !existsSync('/usr/bin/env') && 'no /usr/bin/env' }, async (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'smkit-enoent-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  mkdirSync(path.join(base, 'code'));
  mkdirSync(path.join(base, 'input', 'config'), { recursive: true });
  writeFileSync(path.join(base, 'code', 'crlf.sh'), '#!/bin/sh\r\necho hi\r\n');
  writeFileSync(path.join(base, 'code', 'crlf-env.sh'), '#!/usr/bin/env sh\r\necho hi\r\n');
  writeFileSync(path.join(base, 'code', 'train'), '#! /nonexistent/python9 -u\nprint(1)\n');
  writeFileSync(path.join(base, 'code', 'train.py'), 'print(1)\n');
  // An interpreter that is there, itself a script whose interpreter is not: execve says ENOENT all the same.
  writeFileSync(path.join(base, 'code', 'interpreter'), '#!/nonexistent/python9\n', { mode: 0o755 });
  writeFileSync(path.join(base, 'code', 'nested'), `#!${path.join(base, 'code', 'interpreter')}\nprint(1)\n`);
  const run = async (program: string, env: Record<string, string> = { PATH: process.env['PATH'] ?? '' }) => {
    rmSync(path.join(base, 'output', 'failure'), { force: true });
    const settings = loadTrainingSettings(env, { baseDir: base, program });
    const result = await runTraining({ settings, logger: createLogger('silent'), handleSignals: false, numCpus: 1, numGpus: 0, numNeurons: 0 });
    return [result.exitCode, readFileSync(path.join(base, 'output', 'failure'), 'utf8')] as const;
  };
  const code = path.join(base, 'code');
  assert.deepEqual(await run('crlf.sh'), [
    1,
    `ExecuteUserScriptError: could not start "${code}/crlf.sh": spawn ${code}/crlf.sh ENOENT: the interpreter of the entry point's #! line, "/bin/sh\\r", ends with a carriage return: the file has Windows (CRLF) line ends; convert them to LF (dos2unix, or git's core.autocrlf=false).`,
  ]);
  // env is there and fails to find `sh\r` (exit 127); its message, as a terminal shows it, is cut by the CR.
  const [exitCode, reason] = await run('crlf-env.sh');
  assert.equal(exitCode, 127);
  assert.ok(
    reason.startsWith(`ExecuteUserScriptError: "${code}/crlf-env.sh" ended with exit code 127 (the entry point's #! line ends with a carriage return: the file has Windows (CRLF) line ends; convert them to LF (dos2unix, or git's core.autocrlf=false)): `),
    reason,
  );
  assert.deepEqual(await run('train'), [
    1,
    `ExecuteUserScriptError: could not start "${code}/train": spawn ${code}/train ENOENT: the interpreter of the entry point's #! line, "/nonexistent/python9", does not exist; install it in the image or change the #! line.`,
  ]);
  assert.deepEqual(await run('nested'), [
    1,
    `ExecuteUserScriptError: could not start "${code}/nested": spawn ${code}/nested ENOENT: the interpreter of the entry point's #! line, "${code}/interpreter", is there but could not be run: a program it needs is missing (its own #! interpreter, or the loader of a binary built for another system).`,
  ]);
  assert.deepEqual(await run('train.py', { PATH: path.join(base, 'no-such-dir') }), [
    1,
    'ExecuteUserScriptError: could not start "python3 train.py": spawn python3 ENOENT: python3 was not found on PATH; install it in the image to run a .py entry point.',
  ]);
});

test('a link to nowhere at output/failure or output/success: removed when a run starts, and written over (not through) when the entry point leaves one', async (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'smkit-dangling-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  mkdirSync(path.join(base, 'code'));
  mkdirSync(path.join(base, 'output'));
  mkdirSync(path.join(base, 'input', 'config'), { recursive: true });
  const failure = path.join(base, 'output', 'failure');
  writeFileSync(
    path.join(base, 'code', 'train.mjs'),
    `import { symlinkSync } from 'node:fs';\nif (process.argv[2] === '--fail') { symlinkSync('/nonexistent/dir/x', ${JSON.stringify(failure)}); console.error('Error: boom'); process.exit(2); }\nif (process.argv[2] === '--link-success') symlinkSync('/nonexistent/dir/z', ${JSON.stringify(path.join(base, 'output', 'success'))});\n`,
  );
  const run = async (hyperparameters: Record<string, string>) => {
    writeFileSync(path.join(base, 'input', 'config', 'hyperparameters.json'), JSON.stringify(hyperparameters));
    const settings = loadTrainingSettings({ PATH: process.env['PATH'] ?? '' }, { baseDir: base, program: 'train.mjs' });
    return (await runTraining({ settings, logger: createLogger('silent'), handleSignals: false, numCpus: 1, numGpus: 0, numNeurons: 0 })).exitCode;
  };
  symlinkSync('/nonexistent/dir/y', failure);
  assert.equal(await run({}), 0);
  assert.throws(() => lstatSync(failure), { code: 'ENOENT' });
  assert.equal(await run({ fail: '' }), 2);
  assert.ok(lstatSync(failure).isFile());
  assert.match(readFileSync(failure, 'utf8'), /^ExecuteUserScriptError: "node train\.mjs --fail ''" ended with exit code 2: Error: boom\n/);
  // One left at output/success by a script that succeeds is replaced by the success file.
  assert.equal(await run({ 'link-success': '' }), 0);
  assert.ok(lstatSync(path.join(base, 'output', 'success')).isFile());
});

test('a tree whose output folder cannot be made fails with ERR_TRAIN_OUTPUT naming it, before the entry point runs and without throwing', async (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'smkit-unwritable-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  mkdirSync(path.join(base, 'code'));
  mkdirSync(path.join(base, 'input', 'config'), { recursive: true });
  writeFileSync(path.join(base, 'input', 'config', 'hyperparameters.json'), '{}');
  writeFileSync(path.join(base, 'code', 'train.mjs'), `import { writeFileSync } from 'node:fs'; writeFileSync(${JSON.stringify(path.join(base, 'ran'))}, '');\n`);
  // A file where output/ should be: as root (no permission check binds it) this is what an unwritable tree looks like.
  writeFileSync(path.join(base, 'output'), '');
  const settings = loadTrainingSettings({ PATH: process.env['PATH'] ?? '' }, { baseDir: base, program: 'train.mjs' });
  const result = await runTraining({ settings, logger: createLogger('silent'), handleSignals: false, numCpus: 1, numGpus: 0 });
  assert.equal(result.exitCode, 1);
  assert.match(result.failureReason ?? '', new RegExp(`^ERR_TRAIN_OUTPUT: ${path.join(base, 'output').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\S* cannot be written`));
  assert.match(result.failureReason ?? '', /make the \/opt\/ml tree writable by that user/);
  assert.equal(existsSync(path.join(base, 'ran')), false, 'the entry point did not run');
});

test('a process the entry point left running in its group is ended when the entry point exits, as the container ends with it', async (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'smkit-leftover-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  mkdirSync(path.join(base, 'code'));
  mkdirSync(path.join(base, 'input', 'config'), { recursive: true });
  const pidFile = path.join(base, 'leftover.pid');
  const entryPidFile = path.join(base, 'entry.pid');
  writeFileSync(
    path.join(base, 'code', 'train.mjs'),
    `import { spawn } from 'node:child_process';\nimport { writeFileSync } from 'node:fs';\n` +
      `writeFileSync(${JSON.stringify(entryPidFile)}, String(process.pid));\n` +
      `const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });\nc.unref();\n` +
      `writeFileSync(${JSON.stringify(pidFile)}, String(c.pid));\n`,
  );
  const settings = loadTrainingSettings({ PATH: process.env['PATH'] ?? '' }, { baseDir: base, program: 'train.mjs' });
  const lines: Array<{ msg?: string; entryPointPid?: number }> = [];
  const logger = pino({ level: 'info', base: { pid: process.pid } }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg?: string; entryPointPid?: number }) });
  const result = await runTraining({ settings, logger, handleSignals: false, numCpus: 1, numGpus: 0 });
  assert.equal(result.exitCode, 0);
  // Its process group's id, logged: the group to look for should smkit itself be SIGKILLed.
  assert.equal(lines.find((l) => l.msg === 'invoking the entry point')?.entryPointPid, Number(readFileSync(entryPidFile, 'utf8')));
  const pid = Number(readFileSync(pidFile, 'utf8'));
  t.after(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Ended, as it should be.
    }
  });
  // Gone, or a zombie its new parent has not reaped yet: either way it runs no more.
  await until(`the left-over process ${pid} to end`, () => {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').startsWith('Z');
    } catch {
      return true;
    }
  }, { timeoutMs: 20_000 });
});

test('a process outside the group (setsid) that holds stderr open does not keep smkit running once the entry point ended and its stderr was waited for', async (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'smkit-setsid-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  mkdirSync(path.join(base, 'code'));
  mkdirSync(path.join(base, 'input', 'config'), { recursive: true });
  const pidFile = path.join(base, 'daemon.pid');
  // detached: its own session, as `setsid cmd &` or a daemon that keeps its stderr.
  writeFileSync(
    path.join(base, 'code', 'train.mjs'),
    `import { spawn } from 'node:child_process';\nimport { writeFileSync } from 'node:fs';\n` +
      `const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: ['ignore', 'ignore', 'inherit'] });\nc.unref();\n` +
      `writeFileSync(${JSON.stringify(pidFile)}, String(c.pid));\n`,
  );
  const pipes = () => process.getActiveResourcesInfo().filter((r) => r === 'PipeWrap').length;
  const before = pipes();
  const settings = loadTrainingSettings({ PATH: process.env['PATH'] ?? '' }, { baseDir: base, program: 'train.mjs' });
  const result = await runTraining({ settings, logger: createLogger('silent'), handleSignals: false, numCpus: 1, numGpus: 0, numNeurons: 0 });
  const pid = Number(readFileSync(pidFile, 'utf8'));
  t.after(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Ended, as it should be.
    }
  });
  assert.equal(result.exitCode, 0);
  // The pipe it held is no longer this process's: open, it kept the event loop (the container's PID 1) alive until the daemon ended.
  await until('smkit to let go of the stderr pipe the daemon held', () => pipes() === before, { timeoutMs: 10_000 });
});

/** Whether `pid` has ended (gone, or a zombie its new parent has not reaped yet: either way it runs no more). */
function ended(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').startsWith('Z');
  } catch {
    return true;
  }
}

test('processes the entry point started outside its process group (setsid, a daemon and what it forked) are ended when it exits, as the container would end them', { skip: !existsSync('/proc/self/environ') && 'no /proc' }, async (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'smkit-setsid-kill-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  mkdirSync(path.join(base, 'code'));
  mkdirSync(path.join(base, 'input', 'config'), { recursive: true });
  const pidsFile = path.join(base, 'daemons.pid');
  // A daemon in its own session that forks one of its own (a double fork, as daemons do), both
  // silent: nothing they hold keeps the run, and outside a container they ran on after the job.
  const daemon = `const { spawn } = require('node:child_process'); const fs = require('node:fs'); ` +
    `const g = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore' }); g.unref(); ` +
    `fs.appendFileSync(${JSON.stringify(pidsFile)}, g.pid + '\\n'); setInterval(() => {}, 1000);`;
  writeFileSync(
    path.join(base, 'code', 'train.mjs'),
    `import { spawn } from 'node:child_process';\nimport { appendFileSync, readFileSync } from 'node:fs';\n` +
      `const c = spawn(process.execPath, ['-e', ${JSON.stringify(daemon)}], { detached: true, stdio: 'ignore' });\nc.unref();\n` +
      `appendFileSync(${JSON.stringify(pidsFile)}, c.pid + '\\n');\n` +
      // Exits once the daemon's own child is started, so both are there when the run ends.
      `const wait = () => (readFileSync(${JSON.stringify(pidsFile)}, 'utf8').trim().split('\\n').length >= 2 ? process.exit(0) : setTimeout(wait, 50));\nwait();\n`,
  );
  const settings = loadTrainingSettings({ PATH: process.env['PATH'] ?? '' }, { baseDir: base, program: 'train.mjs' });
  const lines: Array<{ msg?: string; pids?: number[] }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg?: string; pids?: number[] }) });
  const result = await runTraining({ settings, logger, handleSignals: false, numCpus: 1, numGpus: 0, numNeurons: 0 });
  const pids = readFileSync(pidsFile, 'utf8').trim().split('\n').map(Number);
  t.after(() => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Ended, as it should be.
      }
    }
  });
  assert.equal(result.exitCode, 0);
  assert.equal(pids.length, 2);
  for (const pid of pids) await until(`the process ${pid} started outside the group to end`, () => ended(pid), { timeoutMs: 20_000 });
  const warning = lines.find((l) => l.msg === 'killed processes the entry point started outside its process group (setsid), as the container would end them');
  assert.deepEqual([...(warning?.pids ?? [])].sort(), [...pids].sort());
});

test('on SIGTERM the grace period is the group\'s: a shell script that dies of it at once does not take the checkpointing program it started with it', async (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'smkit-wrapper-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  mkdirSync(path.join(base, 'code'));
  mkdirSync(path.join(base, 'input', 'config'), { recursive: true });
  const ready = path.join(base, 'ready');
  writeFileSync(path.join(base, 'code', 'train.sh'), '#!/bin/sh\nnode save.mjs "$@"\n');
  writeFileSync(
    path.join(base, 'code', 'save.mjs'),
    `import { writeFileSync } from 'node:fs';\n` +
      // Saving a checkpoint takes a while; the shell that started it is gone by then.
      `process.on('SIGTERM', () => setTimeout(() => { writeFileSync(process.env.SMKIT_CHECKPOINT_DIR + '/saved', 'epoch 3'); process.exit(0); }, 500));\n` +
      `writeFileSync(${JSON.stringify(ready)}, '');\nsetInterval(() => {}, 1000);\n`,
  );
  const settings = loadTrainingSettings({ PATH: process.env['PATH'] ?? '' }, { baseDir: base, program: 'train.sh', graceSeconds: 30 });
  const run = runTraining({ settings, logger: createLogger('silent'), numCpus: 1, numGpus: 0, numNeurons: 0 });
  await until('the program to run', () => existsSync(ready));
  process.emit('SIGTERM', 'SIGTERM');
  const result = await run;
  assert.equal(readFileSync(path.join(base, 'checkpoints', 'saved'), 'utf8'), 'epoch 3');
  assert.equal(result.exitCode, 143);
  assert.equal(result.failureReason?.split('\n')[0], 'Training stopped: SIGTERM received; the entry point ended with signal SIGTERM');
});

test('on SIGTERM a program the shell script started that outlives the grace period is killed, and the headline and log say it was that program, not the entry point', async (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'smkit-stubborn-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  mkdirSync(path.join(base, 'code'));
  mkdirSync(path.join(base, 'input', 'config'), { recursive: true });
  const ready = path.join(base, 'ready');
  const pidFile = path.join(base, 'stubborn.pid');
  writeFileSync(path.join(base, 'code', 'train.sh'), '#!/bin/sh\nnode stubborn.mjs\n');
  writeFileSync(
    path.join(base, 'code', 'stubborn.mjs'),
    `import { writeFileSync } from 'node:fs';\nprocess.on('SIGTERM', () => {});\n` +
      `writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));\nwriteFileSync(${JSON.stringify(ready)}, '');\nsetInterval(() => {}, 1000);\n`,
  );
  const settings = loadTrainingSettings({ PATH: process.env['PATH'] ?? '' }, { baseDir: base, program: 'train.sh', graceSeconds: 1 });
  const lines: Array<{ msg?: string }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg?: string }) });
  const run = runTraining({ settings, logger, numCpus: 1, numGpus: 0, numNeurons: 0 });
  await until('the program to run', () => existsSync(ready));
  const pid = Number(readFileSync(pidFile, 'utf8'));
  t.after(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Ended, as it should be.
    }
  });
  process.emit('SIGTERM', 'SIGTERM');
  const result = await run;
  assert.equal(result.exitCode, 143);
  assert.equal(
    result.failureReason?.split('\n')[0],
    'Training stopped: SIGTERM received; the entry point ended with signal SIGTERM; processes it started did not exit within 1 s and were killed',
  );
  assert.ok(lines.some((l) => l.msg === 'processes the entry point started did not exit in the grace period; killing them'), JSON.stringify(lines.map((l) => l.msg)));
  await until(`the stubborn program ${pid} to end`, () => {
    try {
      process.kill(pid, 0);
      return readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]?.startsWith('Z') ?? false;
    } catch {
      return true;
    }
  });
});

test('on SIGTERM the group is waited for, not the entry point\'s stderr: a program that redirected its stderr still saves, and a process outside the group holding stderr neither holds the run nor is reported killed', async (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'smkit-group-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  mkdirSync(path.join(base, 'code'));
  mkdirSync(path.join(base, 'input', 'config'), { recursive: true });
  const ready = path.join(base, 'ready');
  const saved = path.join(base, 'checkpoints', 'saved');
  const pidFile = path.join(base, 'daemon.pid');
  writeFileSync(path.join(base, 'code', 'redirected.sh'), '#!/bin/sh\nnode save.mjs "$@" 2>/dev/null\n');
  writeFileSync(path.join(base, 'code', 'daemon.sh'), '#!/bin/sh\nnode daemon.mjs\nnode save.mjs "$@"\n');
  writeFileSync(
    path.join(base, 'code', 'daemon.mjs'),
    `import { spawn } from 'node:child_process';\nimport { writeFileSync } from 'node:fs';\n` +
      `const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: ['ignore', 'ignore', 'inherit'] });\nc.unref();\n` +
      `writeFileSync(${JSON.stringify(pidFile)}, String(c.pid));\n`,
  );
  writeFileSync(
    path.join(base, 'code', 'save.mjs'),
    `import { writeFileSync } from 'node:fs';\n` +
      `process.on('SIGTERM', () => setTimeout(() => { writeFileSync(process.env.SMKIT_CHECKPOINT_DIR + '/saved', 'epoch 3'); process.exit(0); }, 500));\n` +
      `writeFileSync(${JSON.stringify(ready)}, '');\nsetInterval(() => {}, 1000);\n`,
  );
  let daemon: number | undefined;
  // Its pid read now: the hooks run in order, and the one before removes the tree with the pid file.
  t.after(() => {
    try {
      if (daemon !== undefined) process.kill(daemon, 'SIGKILL');
    } catch {
      // ended already
    }
  });
  const stop = async (program: string) => {
    rmSync(ready, { force: true });
    rmSync(saved, { force: true });
    const settings = loadTrainingSettings({ PATH: process.env['PATH'] ?? '' }, { baseDir: base, program, graceSeconds: 20 });
    const run = runTraining({ settings, logger: createLogger('silent'), numCpus: 1, numGpus: 0, numNeurons: 0 });
    await until('the program to run', () => existsSync(ready));
    if (existsSync(pidFile)) daemon = Number(readFileSync(pidFile, 'utf8'));
    process.emit('SIGTERM', 'SIGTERM');
    const result = await run;
    assert.equal(existsSync(saved) && readFileSync(saved, 'utf8'), 'epoch 3', `${program}: the checkpoint`);
    assert.equal(result.exitCode, 143);
    return result.failureReason?.split('\n')[0];
  };
  const headline = 'Training stopped: SIGTERM received; the entry point ended with signal SIGTERM';
  // Waiting for stderr to close, the run SIGKILLed the program at once: nothing held stderr.
  assert.equal(await stop('redirected.sh'), headline);
  // Waiting for stderr to close, the run waited out the grace period for the daemon, SIGKILLed an empty group and said it killed processes.
  assert.equal(await stop('daemon.sh'), headline);
  assert.ok(daemon !== undefined);
  process.kill(daemon, 0); // the daemon runs on, out of the group's reach
});

test('a hyperparameter that parses to NaN or Infinity (STT writes them into SM_TRAINING_ENV as Python does) runs the entry point, with the values as STT passes them', async (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'smkit-nan-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  mkdirSync(path.join(base, 'code'));
  mkdirSync(path.join(base, 'input', 'config'), { recursive: true });
  writeFileSync(path.join(base, 'input', 'config', 'hyperparameters.json'), JSON.stringify({ nan: 'NaN', big: '1E400', low: '-Infinity' }));
  const seen = path.join(base, 'seen.json');
  writeFileSync(
    path.join(base, 'code', 'train.mjs'),
    `import { writeFileSync } from 'node:fs';\nconst e = process.env;\nwriteFileSync(${JSON.stringify(seen)}, JSON.stringify([e.SM_HPS, e.SM_HP_NAN, e.SM_HP_BIG, e.SM_HP_LOW, process.argv.slice(2)]));\n`,
  );
  const settings = loadTrainingSettings({ PATH: process.env['PATH'] ?? '' }, { baseDir: base, program: 'train.mjs' });
  const result = await runTraining({ settings, logger: createLogger('silent'), handleSignals: false, numCpus: 1, numGpus: 0, numNeurons: 0 });
  assert.equal(result.exitCode, 0, result.failureReason);
  // Python: json.dumps(v, sort_keys=True, separators=(",", ":")) for the variables, str(v) for the arguments.
  assert.deepEqual(JSON.parse(readFileSync(seen, 'utf8')), ['{"big":Infinity,"low":-Infinity,"nan":NaN}', 'NaN', 'Infinity', '-Infinity', ['--big', 'inf', '--low', '-inf', '--nan', 'nan']]);
  assert.match(result.environment!.vars['SM_TRAINING_ENV']!, /"hyperparameters":\{"big":Infinity,"low":-Infinity,"nan":NaN\}/);
});

test('an entry point that exits 0 without saving anything in SM_MODEL_DIR completes, with a warning that there is no model (model.tar.gz will be empty); one that saves a model gets none', async (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'smkit-no-model-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  mkdirSync(path.join(base, 'code'));
  mkdirSync(path.join(base, 'input', 'config'), { recursive: true });
  writeFileSync(path.join(base, 'code', 'train.mjs'), `import { writeFileSync } from 'node:fs';\nif (process.argv[2] === '--save') writeFileSync(process.env.SM_MODEL_DIR + '/model.bin', 'w');\n`);
  const run = async (hyperparameters: Record<string, string>) => {
    writeFileSync(path.join(base, 'input', 'config', 'hyperparameters.json'), JSON.stringify(hyperparameters));
    const settings = loadTrainingSettings({ PATH: process.env['PATH'] ?? '' }, { baseDir: base, program: 'train.mjs' });
    const lines: Array<{ level: number; msg?: string; modelDir?: string }> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg?: string; modelDir?: string }) });
    const result = await runTraining({ settings, logger, handleSignals: false, numCpus: 1, numGpus: 0, numNeurons: 0 });
    return { exitCode: result.exitCode, warnings: lines.filter((l) => l.level === 40 && /model folder/.test(l.msg ?? '')) };
  };
  const empty = await run({});
  assert.equal(empty.exitCode, 0, 'SageMaker completes such a job');
  assert.equal(empty.warnings.length, 1);
  assert.equal(empty.warnings[0]!.modelDir, path.join(base, 'model'));
  assert.match(empty.warnings[0]!.msg!, /exited 0 without saving anything in the model folder \(SM_MODEL_DIR\), so there is no model \(on SageMaker, an empty model\.tar\.gz\)/);
  const saved = await run({ save: '' });
  assert.equal(saved.exitCode, 0);
  assert.deepEqual(saved.warnings, []);
});
