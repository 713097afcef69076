// The zygote runs a command's script and then ends its process itself (os._exit, skipping Python's
// teardown): what a caller sees must stay what the plain script gives. A stand-in script plays
// each way a Python program ends, run both plainly and through the zygote.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAwsZygote, type AwsZygote } from './aws-zygote.js';

const PYTHON = '/usr/bin/python3';
const hasAwscli = spawnSync(PYTHON, ['-c', 'import awscli.clidriver'], { encoding: 'utf8' }).status === 0;

const SCRIPT = `#!${PYTHON}
import atexit, os, sys, threading, time
case = sys.argv[1]
print('start', case, os.getcwd() == os.environ['EXPECT_CWD'], flush=True)
atexit.register(lambda: sys.stdout.closed or print('atexit ran'))
if case == 'returns':
    pass
elif case == 'exit-3':
    sys.exit(3)
elif case == 'exit-263':
    sys.exit(263)
elif case == 'exit-message':
    sys.exit('a message for stderr')
elif case == 'thread':
    def late():
        time.sleep(0.1)
        print('thread done', flush=True)
    threading.Thread(target=late).start()
elif case == 'raises':
    raise ValueError('from the script')
elif case == 'stdin':
    print(sys.stdin.read().upper())
elif case == 'exit-minus-1':
    sys.exit(-1)
elif case == 'exit-true':
    sys.exit(True)
elif case in ('stdout-broken', 'stderr-broken'):
    # Left in the stream's buffer, then its descriptor made a pipe no one reads: the final flush fails.
    (sys.stdout if case == 'stdout-broken' else sys.stderr).write('lost')
    r, w = os.pipe()
    os.dup2(w, 1 if case == 'stdout-broken' else 2)
    os.close(w)
    os.close(r)
elif case == 'stdout-closed':
    sys.stdout.close()
elif case == 'interrupted':
    raise KeyboardInterrupt
elif case == 'preloaded':
    print('awscli.clidriver' in sys.modules)
`;

// Buffered standard streams (PYTHONUNBUFFERED unset), as the AWS CLI usually runs, so that what a
// script leaves in them is flushed as it ends.
const ENV: NodeJS.ProcessEnv = { ...process.env };
delete ENV['PYTHONUNBUFFERED'];

let dir: string;
let zygote: AwsZygote | undefined;
const SCRIPT_PATH = () => path.join(dir, 'script', 'aws');
const SHIM_PATH = () => path.join(dir, 'shim', 'aws');

describe('aws zygote', () => {
  before(async () => {
    if (!hasAwscli) return;
    dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-zygote-test-'));
    mkdirSync(path.join(dir, 'script'));
    mkdirSync(path.join(dir, 'shim'));
    writeFileSync(SCRIPT_PATH(), SCRIPT);
    chmodSync(SCRIPT_PATH(), 0o755);
    zygote = await startAwsZygote(SCRIPT_PATH(), ENV);
    zygote?.install(path.join(dir, 'shim'));
  });

  after(async () => {
    await zygote?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** stdout, stderr and status of one run of `bin`, from a working folder of its own. */
  function runIn(bin: string, args: string[], input = '') {
    const cwd = mkdtempSync(path.join(dir, 'cwd-'));
    const r = spawnSync(bin, args, { cwd, input, encoding: 'utf8', env: { ...ENV, EXPECT_CWD: cwd } });
    return { stdout: r.stdout, stderr: r.stderr, status: r.status, signal: r.signal };
  }

  describe('AWS CLI zygote: a command ends as the plain script does', { skip: hasAwscli ? false : 'no python3 with awscli' }, () => {
    for (const [name, args, input] of [
      ['returns', ['returns']],
      ['sys.exit(3)', ['exit-3']],
      ['sys.exit(263) (status 7)', ['exit-263']],
      ['sys.exit with a message', ['exit-message']],
      ['a non-daemon thread still running', ['thread']],
      ['standard input', ['stdin'], 'piped in'],
      ['sys.exit(-1) (status 255)', ['exit-minus-1']],
      ['sys.exit(True) (status 1)', ['exit-true']],
      ['standard output that cannot be flushed at the end: reported, status 120', ['stdout-broken']],
      ['standard error that cannot be flushed at the end: status 120', ['stderr-broken']],
      ['standard output closed by the script: status 0', ['stdout-closed']],
    ] as const) {
      test(name, () => {
        assert.ok(zygote, 'the zygote started');
        const plain = runIn(SCRIPT_PATH(), [...args], input);
        const forked = runIn(SHIM_PATH(), [...args], input);
        assert.equal(plain.stdout.split('\n')[0]?.endsWith('True'), true, plain.stdout);
        assert.deepEqual(forked, plain);
      });
    }

    test('the command runs in the zygote (the CLI already imported), not as a plain run', () => {
      assert.ok(zygote, 'the zygote started');
      assert.equal(runIn(SCRIPT_PATH(), ['preloaded']).stdout, 'start preloaded True\nFalse\natexit ran\n');
      assert.equal(runIn(SHIM_PATH(), ['preloaded']).stdout, 'start preloaded True\nTrue\natexit ran\n');
    });

    test('KeyboardInterrupt: ended by SIGINT after its traceback, atexit handlers run', () => {
      assert.ok(zygote, 'the zygote started');
      const plain = runIn(SCRIPT_PATH(), ['interrupted']);
      const forked = runIn(SHIM_PATH(), ['interrupted']);
      assert.equal(plain.signal, 'SIGINT');
      assert.equal(forked.signal, plain.signal);
      assert.equal(forked.stdout, plain.stdout);
      assert.match(forked.stderr, /\nKeyboardInterrupt\n$/);
    });

    test('an exception: its traceback on stderr and status 1, atexit handlers run', () => {
      assert.ok(zygote, 'the zygote started');
      const plain = runIn(SCRIPT_PATH(), ['raises']);
      const forked = runIn(SHIM_PATH(), ['raises']);
      assert.equal(plain.status, 1);
      assert.equal(forked.status, 1);
      assert.equal(forked.stdout, plain.stdout);
      assert.match(forked.stdout, /atexit ran\n$/);
      assert.match(forked.stderr, /ValueError: from the script\n$/);
    });
  });
});
