import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/cli/main.js';
import { REPO_ROOT, SMKIT_BIN, runSmkit } from '../helpers/serve-process.js';

/** What `smkit <args>` prints on stderr and exits with, run in this process (commander and the commands as `bin/smkit.js` runs them). */
async function smkit(args: readonly string[]): Promise<{ code: number | undefined; stderr: string }> {
  let stderr = '';
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    return { code: await run(['node', 'smkit', ...args]), stderr };
  } finally {
    process.stderr.write = write;
  }
}

const usage = (message: string): string => `smkit: ERR_CLI_USAGE: ${message}\n`;
const URL_FLAG = ['--url', 'http://127.0.0.1:9'];
const BODY = ['--file', fileURLToPath(import.meta.url)];
const IRIS = path.join(REPO_ROOT, 'models', 'iris-onnx');
const TRANSFORM = ['local', 'transform', '--input', '/nonexistent-in', '--output', '/nonexistent-out'];

/** A bad flag value, whichever command: `<flag>="<text as typed>" is invalid: expected <what is allowed>.`, and the value meant when the text is near one. */
const BAD_VALUES: ReadonlyArray<readonly [args: readonly string[], message: string]> = [
  [['serve', '--port', '80a'], '--port="80a" is invalid: expected a whole number from 0 to 65535.'],
  [['serve', '--log-format', 'jsno'], '--log-format="jsno" is invalid: expected one of json, pretty, auto. Did you mean "json"?'],
  [['train', '--grace-seconds', '200'], '--grace-seconds="200" is invalid: expected a number of seconds from 0 to 110.'],
  [['local', '--port', '70000'], '--port="70000" is invalid: expected a whole number from 0 to 65535.'],
  [['local', '--port', '8O8O'], '--port="8O8O" is invalid: expected a whole number from 0 to 65535.'],
  [['local', '--startup-timeout', '1.5'], '--startup-timeout="1.5" is invalid: expected a whole number from 1 to 3600.'],
  [['local', '--seed', '-1'], '--seed="-1" is invalid: expected a whole number from 0 to 4294967295.'],
  [['local', '--backend', 'proces'], '--backend="proces" is invalid: expected one of process, docker. Did you mean "process"?'],
  [['local', '--engine', 'Docker'], '--engine="Docker" is invalid: expected one of docker, podman. Did you mean "docker"?'],
  [['local', '--gpus', 'None'], '--gpus="None" is invalid: expected one of auto, all, none. Did you mean "none"?'],
  [[...TRANSFORM, '--split-type', 'line'], '--split-type="line" is invalid: expected one of None, Line, RecordIO, TFRecord. Did you mean "Line"?'],
  [[...TRANSFORM, '--compression-type', 'gzip'], '--compression-type="gzip" is invalid: expected one of None, Gzip. Did you mean "Gzip"?'],
  [[...TRANSFORM, '--max-payload', 'six', ...URL_FLAG], '--max-payload="six" is invalid: expected a number of MB from 0 to 100.'],
  [[...TRANSFORM, '--max-concurrent', '-1', ...URL_FLAG], '--max-concurrent="-1" is invalid: expected a whole number of requests up to 2147483647, 0 for not set.'],
  [[...TRANSFORM, '--retries', '9', ...URL_FLAG], '--retries="9" is invalid: expected a whole number from 0 to 3.'],
  // Before "starting <model>" is printed.
  [[...TRANSFORM, '--env', 'FOO', '--model', '/nonexistent-model'], '--env="FOO" is invalid: expected KEY=VALUE, a KEY of letters, digits and _ not starting with a digit.'],
  // --url as smkit invoke's URL: it was not checked, so the job ran and failed every record (Protocol "localhost:" not supported).
  [[...TRANSFORM, '--url', 'localhost:8080'], '--url="localhost:8080" is invalid: expected an http:// or https:// URL of a running container, such as http://localhost:8080.'],
  [[...TRANSFORM, '--url', 'ftp://me:s3cret@h/'], '--url="ftp://me:***@h/" is invalid: expected an http:// or https:// URL of a running container, such as http://127.0.0.1:8080.'],
  // Sent as Basic auth, where smkit invoke refuses it: refused as there, the password not shown.
  [[...TRANSFORM, '--url', 'http://me:s3cret@127.0.0.1:8080'], '--url="http://me:***@127.0.0.1:8080/" is invalid: expected a URL without a user name or password (smkit local transform sends no credentials: a SageMaker container takes none), such as http://127.0.0.1:8080/.'],
  [[...TRANSFORM, '--timeout', '0', ...URL_FLAG], '--timeout="0" is invalid: expected a number of seconds above 0, at most 3600.'],
  [['local', 'train', '--code', '/nonexistent', '--channel', 'train'], '--channel="train" is invalid: expected NAME=PATH, a channel name and a local folder or file.'],
  [['local', 'train', '--code', '/nonexistent', '--hp', '=1'], '--hp="=1" is invalid: expected NAME=VALUE.'],
  [['invoke', ...BODY, '--timeout', 'soon'], '--timeout="soon" is invalid: expected a number of seconds above 0, at most 86400.'],
  [['invoke', ...BODY, '--accept', 'text/csv\n'], '--accept="text/csv\\n" is invalid: expected printable ASCII and tabs, what SageMaker takes in this header; it holds "\\n" at position 8.'],
  [['invoke', ...BODY, '--endpoint', 'my_model'], '--endpoint="my_model" is invalid: expected an endpoint name: 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit.'],
  [['invoke', ...BODY, '--endpoint', 'iris', '--front-door', 'localhost:8090'], '--front-door="localhost:8090" is invalid: expected an http:// or https:// URL such as http://localhost:8090.'],
  [['invoke', ...BODY, '--bidi', '--idle', '0'], '--idle="0" is invalid: expected a number of seconds above 0, at most 86400.'],
  [['package', '/nonexistent', '--verify', '--startup-timeout', '0'], '--startup-timeout="0" is invalid: expected a number of seconds above 0, at most 3600.'],
  // Decimal only, as the environment variables: Number() read 0x10 as 16.
  [['train', '--grace-seconds', '0x10'], '--grace-seconds="0x10" is invalid: expected a number of seconds from 0 to 110.'],
  [['invoke', ...BODY, '--timeout', '0x10'], '--timeout="0x10" is invalid: expected a number of seconds above 0, at most 86400.'],
  [[...TRANSFORM, '--max-payload', '0b11', ...URL_FLAG], '--max-payload="0b11" is invalid: expected a number of MB from 0 to 100.'],
  [['build', '--model', fileURLToPath(import.meta.url)], `--model=${JSON.stringify(fileURLToPath(import.meta.url))} is invalid: expected a model directory or a model.tar.gz.`],
  [['local', path.join(REPO_ROOT, 'models', 'iris-onnx'), '--name', 'my_model'], '--name="my_model" is invalid: expected an endpoint name: 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit.'],
  [['build', '--variant', 'gpuu'], '--variant="gpuu" is invalid: expected one of cpu, gpu. Did you mean "gpu"?'],
  [['build', '--build-arg', '1A=b'], '--build-arg="1A=b" is invalid: expected KEY=VALUE, a KEY of letters, digits and _ not starting with a digit.'],
  [['deploy', 'x.yaml', '--build', '--engine', 'podmn'], '--engine="podmn" is invalid: expected one of docker, podman. Did you mean "podman"?'],
  [['deploy', 'x.yaml', '--endpoint-url', 'nope'], '--endpoint-url="nope" is invalid: expected an http:// or https:// URL (for the local SageMaker: http://127.0.0.1:PORT).'],
  [['deploy', 'x.yaml', '--endpoint-url', 'localhost:8080'], '--endpoint-url="localhost:8080" is invalid: expected an http:// or https:// URL (for the local SageMaker: http://127.0.0.1:PORT).'],
  // Its password is not shown.
  [['deploy', 'x.yaml', '--endpoint-url', 'me:s3cret@h:80'], '--endpoint-url="me:***@h:80" is invalid: expected an http:// or https:// URL (for the local SageMaker: http://127.0.0.1:PORT).'],
  [['deploy', 'x.yaml', '--region', 'us east 1'], '--region="us east 1" is invalid: expected an AWS Region such as us-east-1: lower-case letters, digits and hyphens.'],
  [['deploy', 'x.yaml', '--region', 'US-EAST-1'], '--region="US-EAST-1" is invalid: expected an AWS Region such as us-east-1: lower-case letters, digits and hyphens.'],
  [['deploy', 'x.yaml', '--poll-interval', '0'], '--poll-interval="0" is invalid: expected a number of seconds above 0, at most 3600.'],
  [['deploy', 'x.yaml', '--timeout', '-5'], '--timeout="-5" is invalid: expected a number of seconds above 0.'],
];

test('a bad flag value gets one line in one shape from every command, naming the flag, the text as typed, what is allowed and the value meant, and exits 1', async () => {
  for (const [args, message] of BAD_VALUES) {
    assert.deepEqual(await smkit(args), { code: 1, stderr: usage(message) }, `smkit ${args.join(' ')}`);
  }
});

/** What `smkit <args>` prints and exits with when `env` is added to this process's environment. */
async function smkitWith(env: Readonly<Record<string, string>>, args: readonly string[]): Promise<{ code: number | undefined; stderr: string }> {
  const before = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await smkit(args);
  } finally {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

test('smkit local: a bad environment variable is worded as a bad flag value (the variable, the text as set, what is allowed, the value meant), before anything starts', async () => {
  const config = (message: string): string => `smkit: ERR_CONFIG_INVALID: ${message}\n`;
  for (const [env, message] of [
    [{ SMKIT_LOG_FORMAT: 'Jsno' }, 'SMKIT_LOG_FORMAT="Jsno" is invalid: expected one of json, pretty, auto. Did you mean "json"?'],
    [{ SMKIT_LOCAL_MAX_INSTANCES: 'lots' }, 'SMKIT_LOCAL_MAX_INSTANCES="lots" is invalid: expected a whole number from 1 to 1000.'],
    [{ SMKIT_LOCAL_HEALTH_CHECK_SECONDS: '0x10' }, 'SMKIT_LOCAL_HEALTH_CHECK_SECONDS="0x10" is invalid: expected 0 (off) or a decimal number of seconds from 0.1 to 3600.'],
    [{ SMKIT_LOCAL_BODY_MEMORY_MB: '6' }, 'SMKIT_LOCAL_BODY_MEMORY_MB="6" is invalid: expected a decimal number from 12 to 1048576.'],
    [{ AWS_ENDPOINT_URL_S3: 'localhost:4569' }, 'AWS_ENDPOINT_URL_S3="localhost:4569" is invalid: expected an http:// or https:// URL such as http://127.0.0.1:4569.'],
  ] as const) {
    assert.deepEqual(await smkitWith(env, ['local', '--port', '0']), { code: 1, stderr: config(message) }, JSON.stringify(env));
  }
  assert.deepEqual(await smkit(['local', '--port', '0', '--log-format', 'Jsno']), { code: 1, stderr: usage('--log-format="Jsno" is invalid: expected one of json, pretty, auto. Did you mean "json"?') });
});

test('smkit serve: a model folder whose path runs through a file (SAGEMAKER_BASE_DIR, SM_MODEL_DIR, SMKIT_BAKED_MODEL_DIR or --model-dir) stops start-up naming it, where the server started and answered 503 for good', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'smkit-serve-under-file-'));
  try {
    const file = path.join(dir, 'a-file');
    writeFileSync(file, 'x');
    const empty = path.join(dir, 'empty');
    mkdirSync(empty);
    const config = (message: string): string => `smkit: ERR_CONFIG_INVALID: ${message}\n`;
    const rows: Array<readonly [env: Record<string, string>, args: readonly string[], stderr: string]> = [
      [{ SAGEMAKER_BASE_DIR: file }, [], config(`SAGEMAKER_BASE_DIR=${JSON.stringify(file)} is invalid: expected an /opt/ml tree, a directory (${file} is a file).`)],
      [{ SM_MODEL_DIR: path.join(file, 'model') }, [], config(`SM_MODEL_DIR=${JSON.stringify(path.join(file, 'model'))} is invalid: expected a directory (${file} is a file).`)],
      [{ SMKIT_BAKED_MODEL_DIR: file }, ['--model-dir', empty], config(`SMKIT_BAKED_MODEL_DIR=${JSON.stringify(file)} is invalid: expected a directory, not a file.`)],
      [{ SMKIT_BAKED_MODEL_DIR: path.join(file, 'model') }, ['--model-dir', empty], config(`SMKIT_BAKED_MODEL_DIR=${JSON.stringify(path.join(file, 'model'))} is invalid: expected a directory (${file} is a file).`)],
      [{}, ['--model-dir', path.join(file, 'model')], usage(`--model-dir=${JSON.stringify(path.join(file, 'model'))} is invalid: expected the folder that holds the model; ${path.join(file, 'model')} cannot be a folder: ${file} is a file.`)],
    ];
    for (const [env, args, stderr] of rows) {
      // A real process: without the check the server started (the SIGTERM of the timeout then ends it, and the test fails).
      const r = spawnSync(process.execPath, [SMKIT_BIN, 'serve', '--port', '0', '--workers', '1', ...args], {
        env: { ...process.env, SMKIT_LOG_FORMAT: 'json', ...env },
        encoding: 'utf8',
        timeout: 120_000,
        killSignal: 'SIGTERM',
      });
      assert.deepEqual({ code: r.status, stderr: r.stderr }, { code: 1, stderr }, JSON.stringify({ env, args }));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a path given on the command line that is missing, of the other kind or unreadable gets one shape from every command: the flag or argument, the text as typed, what it must be, and where it was looked for', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'smkit-cli-paths-'));
  try {
    const file = path.join(dir, 'a-file');
    writeFileSync(file, 'x');
    const missing = path.join(dir, 'missing');
    mkdirSync(path.join(dir, 'in', 'sub'), { recursive: true });
    writeFileSync(path.join(dir, 'in', 'sub', 'rows.csv'), '1,2,3,4\n');
    mkdirSync(path.join(dir, 'out'));
    writeFileSync(path.join(dir, 'out', 'sub'), 'x');
    const at = (name: string, value: string, expected: string, problem: string) => usage(`${name}=${JSON.stringify(value)} is invalid: expected ${expected}; ${path.resolve(value)} ${problem}.`);
    const rows: Array<readonly [args: readonly string[], stderr: string]> = [
      [['invoke', '--file', missing, 'http://127.0.0.1:9'], at('--file', missing, 'the request body, a file', 'does not exist')],
      [['invoke', '--file', dir, 'http://127.0.0.1:9'], at('--file', dir, 'the request body, a file', 'is a directory')],
      // Before the stream is opened (nothing listens on port 9).
      [['invoke', '--bidi', '--file', missing, 'http://127.0.0.1:9'], at('--file', missing, 'the messages to send, a file of lines', 'does not exist')],
      [['invoke', '--bidi', '--file', dir, 'http://127.0.0.1:9'], at('--file', dir, 'the messages to send, a file of lines', 'is a directory')],
      [['invoke', '--file', file, '-o', path.join(missing, 'x'), 'http://127.0.0.1:9'], at('--output', path.join(missing, 'x'), 'a file to save the answer in', `cannot be written: ${missing} does not exist`)],
      [['package', missing], at('<model-dir>', missing, 'the model directory', 'does not exist')],
      [['package', file], at('<model-dir>', file, 'the model directory', 'is a file')],
      [['package', dir, '--code', file], at('--code', file, 'a folder to pack as code/', 'is a file')],
      [['package', dir, '--verify', '--sample', missing], at('--sample', missing, 'the request body to send, a file', 'does not exist')],
      [['local', missing], at('<target>', missing, 'a model directory, a model.tar.gz, or an endpoint file (.json/.yaml)', 'does not exist')],
      [['local', 'transform', '--input', missing, '--output', path.join(dir, 'out'), ...URL_FLAG], at('--input', missing, 'an input folder or file', 'does not exist')],
      [['local', 'transform', '--input', file, '--output', file, ...URL_FLAG], at('--output', file, 'an output folder (created when missing)', 'is a file')],
      // Under a file: the parser's ENOTDIR, with a stack trace, once the model had started.
      [['local', 'transform', '--input', file, '--output', path.join(file, 'out'), '--model', IRIS], at('--output', path.join(file, 'out'), 'an output folder (created when missing)', `cannot be created: ${file} is a file`)],
      // A file where an input folder's .out files go, found at its turn.
      [['local', 'transform', '--input', path.join(dir, 'in'), '--output', path.join(dir, 'out'), ...URL_FLAG], at('--output', path.join(dir, 'out'), 'an output folder (created when missing)', `cannot be written (EEXIST: file already exists, mkdir '${path.join(dir, 'out', 'sub')}')`)],
      // Before "starting <model>" is printed.
      [['local', 'transform', '--input', file, '--output', path.join(dir, 'out'), '--model', missing], at('--model', missing, 'a model directory or a model.tar.gz', 'does not exist')],
      [['local', 'train', '--code', missing], at('--code', missing, 'a directory with the training code', 'does not exist')],
      [['local', 'train', '--code', dir, '--entry-point', 'x', '--hyperparameters', dir], at('--hyperparameters', dir, 'a JSON file of hyperparameters', 'is a directory')],
      [['local', 'train', '--code', dir, '--entry-point', 'x', '--channel', `train=${missing}`], usage(`--channel=${JSON.stringify(`train=${missing}`)} is invalid: expected NAME=PATH, a channel name and a local folder or file; ${missing} does not exist.`)],
      [['local', 'train', '--code', dir, '--entry-point', 'x', '--output', file], at('--output', file, 'a folder to copy the trained model/ into (created when missing)', 'is a file')],
      [['local', 'train', '--code', dir, '--entry-point', 'x', '--output', path.join(file, 'model')], at('--output', path.join(file, 'model'), 'a folder to copy the trained model/ into (created when missing)', `cannot be created: ${file} is a file`)],
      [['build', '--model', missing], at('--model', missing, 'a model directory or a model.tar.gz', 'does not exist')],
      [['deploy', missing], at('<endpoint-file>', missing, 'the endpoint file (.yaml, .yml or .json) with a deploy: section', 'does not exist')],
      [['deploy', dir], at('<endpoint-file>', dir, 'the endpoint file (.yaml, .yml or .json) with a deploy: section', 'is a directory')],
      // Before the endpoint file is read or a model packaged (the file named here does not exist).
      [['deploy', missing, '--template', dir], at('--template', dir, 'a file to write the CloudFormation template to', 'is a directory')],
      [['deploy', missing, '--template', path.join(file, 'stack.yaml')], at('--template', path.join(file, 'stack.yaml'), 'a file to write the CloudFormation template to', `cannot be written: ${file} is a file`)],
      [['init', file], at('<dir>', file, 'a folder to create (empty or missing)', 'is a file')],
      [['serve', '--model-dir', file], at('--model-dir', file, `the folder that holds the model, such as ${dir}`, 'is a file')],
      [['train', '--base-dir', missing], at('--base-dir', missing, 'an /opt/ml tree, such as a copy of opt-ml-template/', 'does not exist')],
      [['train', '--base-dir', file], at('--base-dir', file, 'an /opt/ml tree, such as a copy of opt-ml-template/', 'is a file')],
    ];
    // Root reads anything: permission is checked where it can be refused.
    if (process.getuid?.() !== 0) {
      const locked = path.join(dir, 'locked');
      writeFileSync(locked, 'x', { mode: 0o000 });
      rows.push([['invoke', '--file', locked, 'http://127.0.0.1:9'], at('--file', locked, 'the request body, a file', 'cannot be read (permission denied)')]);
      rows.push([['deploy', locked], at('<endpoint-file>', locked, 'the endpoint file (.yaml, .yml or .json) with a deploy: section', 'cannot be read (permission denied)')]);
    }
    const fifo = path.join(dir, 'stack.fifo');
    if (spawnSync('mkfifo', [fifo]).status === 0) {
      rows.push([['deploy', missing, '--template', fifo], at('--template', fifo, 'a file to write the CloudFormation template to', 'is neither a file nor a directory')]);
      // Before the model starts: it was refused only once the model had started.
      rows.push([['local', 'transform', '--input', fifo, '--output', path.join(dir, 'out'), '--model', IRIS], at('--input', fifo, 'an input folder or file', 'is neither a file nor a directory')]);
    }
    for (const [args, stderr] of rows) assert.deepEqual(await smkit(args), { code: 1, stderr }, `smkit ${args.join(' ')}`);
    assert.equal(existsSync(missing), false, 'nothing is created where a path was missing');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a folder to create that cannot be made (under /proc) ends the command with one line, instead of never ending: Node\'s recursive mkdir retried it for ever', { skip: !existsSync('/proc/self') }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'smkit-cli-proc-'));
  try {
    // In a child killed if it does not end: the loop held Node's thread, and SIGTERM went unanswered.
    const cli = (args: readonly string[]) => spawnSync(process.execPath, [SMKIT_BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000, killSignal: 'SIGKILL', stdio: ['ignore', 'pipe', 'pipe'] });
    const init = cli(['init', '/proc/smkit-no-such']);
    assert.deepEqual({ signal: init.signal, status: init.status, stderr: init.stderr }, {
      signal: null,
      status: 1,
      stderr: "smkit: ERR_INIT_TARGET: /proc/smkit-no-such cannot be used: ENOENT: no such file or directory, mkdir '/proc/smkit-no-such'; choose a new folder, or remove what stands in the way\n",
    });
    const pack = cli(['package', path.join(REPO_ROOT, 'models', 'iris-onnx'), '-o', '/proc/smkit-no-such/m.tar.gz']);
    assert.deepEqual({ signal: pack.signal, status: pack.status, stderr: pack.stderr }, {
      signal: null,
      status: 1,
      stderr: usage('--output="/proc/smkit-no-such/m.tar.gz" is invalid: expected a file name for the archive; /proc/smkit-no-such/m.tar.gz cannot be written: /proc/smkit-no-such cannot be created (ENOENT).'),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a flag that only applies with another, given without it, is ERR_CLI_USAGE rather than ignored', async () => {
  for (const [args, message] of [
    [['deploy', 'x.yaml', '--engine', 'podman'], '--engine only applies with --build: add --build, or leave it out'],
    [['package', '/nonexistent', '--sample', 's.csv', '--accept', 'text/csv'], '--sample and --accept only apply with --verify: add --verify, or leave them out'],
    [['package', '/nonexistent', '--startup-timeout', '5'], '--startup-timeout only applies with --verify: add --verify, or leave it out'],
    [[...TRANSFORM, ...URL_FLAG, '--env', 'A=1'], '--env only applies with --model: add --model, or leave it out'],
    [[...TRANSFORM, ...URL_FLAG, '--startup-timeout', '5'], '--startup-timeout only applies with --model: add --model, or leave it out'],
    [['invoke', ...BODY, '--idle', '5'], '--idle only applies with --bidi: add --bidi, or leave it out'],
    [['local', IRIS, '--backend', 'process', '--image', 'my-image:1'], '--image only applies with the docker backend: leave out --backend process, or leave it out'],
    [['local', IRIS, '--backend', 'process', '--engine', 'podman', '--image', 'my-image:1'], '--engine and --image only apply with the docker backend: leave out --backend process, or leave them out'],
    [['local', IRIS, '--backend', 'process', '--engine', 'podman', '--gpus', 'none', '--image', 'my-image:1'], '--engine, --gpus and --image only apply with the docker backend: leave out --backend process, or leave them out'],
  ] as const) {
    assert.deepEqual(await smkit(args), { code: 1, stderr: usage(message) }, `smkit ${args.join(' ')}`);
  }
});

test('smkit local --engine or --image where the process backend is chosen (no image to run, the file\'s backend: process, no target) is ERR_CLI_USAGE before anything starts, not ignored', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'smkit-cli-usage-'));
  try {
    const processFile = path.join(dir, 'endpoints.yaml');
    writeFileSync(processFile, `backend: process\nendpoints:\n  - name: iris\n    variants:\n      - model: ${JSON.stringify(IRIS)}\n`);
    for (const [args, message] of [
      [['local', IRIS, '--port', '0', '--engine', 'docker'], '--engine only applies with the docker backend, which runs when an image is set: add --image (or "image" in the endpoint file), or leave it out'],
      [['local', processFile, '--port', '0', '--engine', 'podman'], '--engine only applies with the docker backend, and the endpoint file sets backend: process: add --backend docker, or leave it out'],
      [['local', processFile, '--port', '0', '--image', 'my-image:1'], '--image only applies with the docker backend, and the endpoint file sets backend: process: add --backend docker, or leave it out'],
      [['local', '--port', '0', '--engine', 'podman'], '--engine only applies with the docker backend: add --backend docker, or leave it out'],
      [['local', IRIS, '--port', '0', '--gpus', 'all'], '--gpus only applies with the docker backend, which runs when an image is set: add --image (or "image" in the endpoint file), or leave it out'],
      [['local', processFile, '--port', '0', '--gpus', 'none'], '--gpus only applies with the docker backend, and the endpoint file sets backend: process: add --backend docker, or leave it out'],
      [['local', '--port', '0', '--engine', 'podman', '--gpus', 'none'], '--engine and --gpus only apply with the docker backend: add --backend docker, or leave them out'],
      [['local', '--port', '0', '--backend', 'docker', '--image', 'my-image:1'], "--image needs a model directory, model.tar.gz or endpoint file: an empty local SageMaker runs each model's own Image; leave it out"],
    ] as const) {
      assert.deepEqual(await smkit(args), { code: 1, stderr: usage(message) }, `smkit ${args.join(' ')}`);
    }
    // An engine asked for by name that does not answer is not swapped for the process backend, and
    // the error says what the engine said: here a docker CLI whose daemon is down (no podman on PATH).
    const bin = path.join(dir, 'bin');
    mkdirSync(bin);
    const daemonDown = 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?';
    writeFileSync(path.join(bin, 'docker'), `#!/bin/sh\necho '${daemonDown}' >&2\nexit 1\n`, { mode: 0o755 });
    const unavailable = (message: string): string => `smkit: ERR_BACKEND_UNAVAILABLE: ${message}\n`;
    for (const [args, message] of [
      [['local', IRIS, '--port', '0', '--image', 'my-image:1', '--engine', 'docker'], `--engine docker needs a container engine that answers, and docker does not here (docker: ${daemonDown}): start the Docker daemon (or install docker), or use --backend process`],
      [['local', IRIS, '--port', '0', '--image', 'my-image:1', '--gpus', 'all'], `--gpus all needs a container engine that answers, and none does here (docker: ${daemonDown}; podman: not installed): start the Docker daemon or install podman, or use --backend process`],
      [['local', IRIS, '--port', '0', '--backend', 'docker', '--image', 'my-image:1'], `--backend docker needs a container engine that answers, and none does here (docker: ${daemonDown}; podman: not installed): start the Docker daemon or install podman, or use --backend process`],
      [['local', '--port', '0', '--backend', 'docker', '--engine', 'podman'], '--backend docker needs a container engine that answers, and podman does not here (podman: not installed): install podman (or make it work for this user), or use --backend process'],
    ] as const) {
      assert.deepEqual(await smkitWith({ PATH: bin }, args), { code: 1, stderr: unavailable(message) }, `smkit ${args.join(' ')}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a mistyped required flag is named as unknown, with the flag meant; one left out is ERR_CLI_USAGE saying what it takes', async () => {
  const unknown = (typed: string, meant: string) => new RegExp(`^error: unknown option '${typed}'\\n\\(Did you mean ${meant}\\?\\)\\n`);
  for (const [args, stderr] of [
    [['local', 'transform', '--inptu', 'in', '--output', 'out'], unknown('--inptu', '--input')],
    [['local', 'transform', '--input', 'in', '--ouptut', 'out'], unknown('--ouptut', '--output')],
    [['local', 'train', '--cdoe', 'src'], unknown('--cdoe', '--code')],
  ] as const) {
    const r = await smkit(args);
    assert.equal(r.code, 1);
    assert.match(r.stderr, stderr, `smkit ${args.join(' ')}`);
  }
  assert.deepEqual(await smkit(['local', 'transform', '--output', 'out']), { code: 1, stderr: usage('--input <dir> is required: input folder (walked recursively, dot-files skipped) or a single file.') });
  assert.deepEqual(await smkit(['local', 'transform', '--input', 'in']), { code: 1, stderr: usage('--output <dir> is required: output folder for <relative path>.out (and .out.failed) files.') });
  assert.deepEqual(await smkit(['local', 'train']), { code: 1, stderr: usage('--code <dir> is required: directory with the training code.') });
});

test('a flag given another flag as its value (its value left out) is ERR_CLI_USAGE, before anything is written or read', async () => {
  assert.deepEqual(await smkit(['package', '/nonexistent', '-o', '--verify']), { code: 1, stderr: usage('--output="--verify" is invalid: expected a value for --output before the next flag, not the flag --verify.') });
  assert.deepEqual(await smkit(['invoke', '--file', '--timeout', '5']), { code: 1, stderr: usage('--file="--timeout" is invalid: expected a value for --file before the next flag, not the flag --timeout.') });
  assert.deepEqual(await smkit(['local', 'train', '--code', 'src', '--channel', '--keep']), { code: 1, stderr: usage('--channel="--keep" is invalid: expected a value for --channel before the next flag, not the flag --keep.') });
  assert.deepEqual(await smkit(['deploy', 'x.yaml', '--template', '-h']), { code: 1, stderr: usage('--template="-h" is invalid: expected a value for --template before the next flag, not the flag -h.') });
});

test('an empty flag value or argument (an unset shell variable) is ERR_CLI_USAGE, not the current folder', async () => {
  const empty = (flag: string, value = '') => usage(`${flag}=${JSON.stringify(value)} is invalid: expected a value, not empty text (an unset shell variable?).`);
  assert.deepEqual(await smkit(['local', 'train', '--code', '/nonexistent-code', '--output', '']), { code: 1, stderr: empty('--output') });
  assert.deepEqual(await smkit(['local', 'transform', '--input', '', '--output', 'out', ...URL_FLAG]), { code: 1, stderr: empty('--input') });
  assert.deepEqual(await smkit(['package', '']), { code: 1, stderr: usage('the <model-dir> argument is "" (an unset shell variable?): expected the model directory.') });
  assert.deepEqual(await smkit(['deploy', '']), {
    code: 1,
    stderr: usage('the <endpoint-file> argument is "" (an unset shell variable?): expected the endpoint file (.yaml, .yml or .json) with a deploy: section.'),
  });
  // Last: without the check these would start a server on the current folder.
  assert.deepEqual(await smkit(['serve', '--model-dir', '']), { code: 1, stderr: empty('--model-dir') });
  assert.deepEqual(await smkit(['serve', '--host', ' ']), { code: 1, stderr: empty('--host', ' ') });
  assert.deepEqual(await smkit(['local', '']), {
    code: 1,
    stderr: usage('the <target> argument is "" (an unset shell variable?): expected a model directory, a model.tar.gz, or an endpoint file (.json/.yaml); none starts an empty local SageMaker.'),
  });
});

test('an unknown flag gets the flag meant also in another case or with its value (--PORT, --prot=8080), as choice values do', async () => {
  for (const [args, stderr] of [
    [['serve', '--PORT', '8080'], /^error: unknown option '--PORT'\n\(Did you mean --port\?\)\n/],
    [['serve', '--prot=8080'], /^error: unknown option '--prot=8080'\n\(Did you mean --port\?\)\n/],
    [['deploy', 'x.yaml', '--Dry-Run'], /^error: unknown option '--Dry-Run'\n\(Did you mean --dry-run\?\)\n/],
    [['serve', '--prot', '8080'], /^error: unknown option '--prot'\n\(Did you mean --port\?\)\n\n/],
  ] as const) {
    const r = await smkit(args);
    assert.equal(r.code, 1);
    assert.match(r.stderr, stderr, `smkit ${args.join(' ')}`);
  }
});

test('a flag of several letters typed with one dash names the flag meant, whether the parser found no such flag or read it as single-letter flags', async () => {
  const meant = (error: string, token: string) => new RegExp(`^error: ${error}\\n\\(Did you mean -${token}\\? ${token} has one dash, so it was read as single-letter flags\\.\\)\\n`);
  for (const [args, stderr] of [
    [['serve', '-port', '8080'], meant("unknown option '-port'", '-port')],
    [['local', 'models/x', '-port', '8081'], meant("unknown option '-port'", '-port')],
    [['local', 'transform', '-input', 'in'], meant("unknown option '-input'", '-input')],
    // -f takes "ile": rows.csv and the URL are two arguments.
    [['invoke', '-file', 'rows.csv', 'http://127.0.0.1:9'], meant("too many arguments for 'invoke'\\. Expected 1 argument but got 2\\.", '-file')],
  ] as const) {
    const r = await smkit(args);
    assert.equal(r.code, 1);
    assert.match(r.stderr, stderr, `smkit ${args.join(' ')}`);
  }
  assert.deepEqual(await smkit(['package', '/nonexistent', '-output']), { code: 1, stderr: usage('-output has one dash, so it was read as single-letter flags: did you mean --output?') });
  assert.deepEqual(await smkit(['invoke', '--file', 'rows.csv', 'http://127.0.0.1:9', '-verbose']), { code: 1, stderr: usage('-verbose has one dash, so it was read as single-letter flags: did you mean --verbose?') });
});

test('a single-letter flag written with = (-o=model.tar.gz) is ERR_CLI_USAGE naming both ways to write it, not the value with "=" in front (an archive named =model.tar.gz)', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-short-equals-'));
  try {
    const archive = path.join(dir, 'model.tar.gz');
    assert.deepEqual(await smkit(['package', IRIS, `-o=${archive}`]), { code: 1, stderr: usage(`-o=${archive} gives -o the value "=${archive}", "=" included: write -o ${archive}, or --output=${archive}`) });
    assert.deepEqual(await readdir(dir), []);
    assert.deepEqual(await smkit(['invoke', '-c=text/csv; header=present', ...BODY, 'http://127.0.0.1:9']), {
      code: 1,
      stderr: usage(`-c=text/csv; header=present gives -c the value "=text/csv; header=present", "=" included: write -c 'text/csv; header=present', or --content-type='text/csv; header=present'`),
    });
    assert.deepEqual(await smkit(['invoke', '-f=', 'http://127.0.0.1:9']), { code: 1, stderr: usage('-f= gives -f the value "=", "=" included: write -f <value>, or --file=<value>') });
    // The value of a flag written apart, or after the long flag's "=", may start with "=" (a file named so).
    assert.deepEqual(await smkit(['invoke', '-f', '=rows.csv', 'http://127.0.0.1:9']), { code: 1, stderr: usage(`--file="=rows.csv" is invalid: expected the request body, a file; ${path.resolve('=rows.csv')} does not exist.`) });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('smkit help <command> <subcommand> prints the subcommand\'s help, as smkit <command> <subcommand> --help does', async () => {
  let stdout = '';
  const write = process.stdout.write;
  // The CLI writes strings; the test runner's own reports to its parent go through the same stream
  // as Buffers (Node 24 wrote the previous test's completion in the middle of this capture once),
  // and must still reach it.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) =>
    typeof chunk === 'string' ? ((stdout += chunk), true) : (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest)) as typeof process.stdout.write;
  try {
    assert.equal(await run(['node', 'smkit', 'help', 'local', 'transform']), 0);
  } finally {
    process.stdout.write = write;
  }
  assert.match(stdout, /^Usage: smkit local transform \[options\]\n/);
});

test('bin/smkit.js prints the same line and exits 1', async () => {
  const r = await runSmkit(['local', '--backend', 'proces'], { PATH: process.env.PATH ?? '' }, 30_000);
  assert.deepEqual(r, { code: 1, stdout: '', stderr: usage('--backend="proces" is invalid: expected one of process, docker. Did you mean "process"?') });
});

// Linux only: elsewhere the limit is not read (no /proc/self/limits).
test('an open files limit too low to serve with (for its workers) stops smkit serve before anything starts, with one line naming ulimit -n', { skip: process.platform !== 'linux' }, () => {
  const serveUnder = (limit: number, workers: string) =>
    spawnSync('sh', ['-c', `ulimit -n ${limit} && exec "$0" "$@"`, process.execPath, SMKIT_BIN, 'serve', '--model-dir', IRIS, '--port', '0', '--workers', workers], { encoding: 'utf8', timeout: 30_000 });
  const refused = (limit: number, needed: number, workers: string) => ({
    code: 1,
    stderr: `smkit: ERR_CONFIG_INVALID: the open files limit (ulimit -n) is ${limit}, below the ${needed} smkit serve needs with ${workers} (64 for the files each worker opens and as many for its connections, and one per worker for the primary); raise it (Node raises the soft limit to the hard one, ulimit -Hn, as it starts): ulimit -n 65536 in the shell that starts it, or docker run --ulimit nofile=65536\n`,
  });
  for (const [limit, workers, needed, named] of [
    [100, '1', 128, '1 worker'],
    [200, '160', 224, '160 workers'],
  ] as const) {
    const r = serveUnder(limit, workers);
    assert.deepEqual({ code: r.status, stderr: r.stderr }, refused(limit, needed, named), `ulimit -n ${limit}, --workers ${workers}`);
  }
});

test('smkit invoke checks its flags and URL before reading the body: a mistake is reported while piped stdin is still open', async () => {
  for (const [args, message] of [
    [['--timeout', 'soon'], '--timeout="soon" is invalid: expected a number of seconds above 0, at most 86400.'],
    [['localhost:8080'], 'localhost:8080 is not an http:// or https:// URL; expected e.g. http://localhost:8080'],
  ] as const) {
    const child = spawn(process.execPath, [SMKIT_BIN, 'invoke', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Stdin stays open: a command that read it first never gets to the flags, and is killed here.
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    clearTimeout(killer);
    child.stdin.destroy();
    assert.deepEqual({ code, stderr }, { code: 1, stderr: usage(message) }, `smkit invoke ${args.join(' ')}`);
  }
});

test("the parser's own errors exit 1 with its message and the command's help; --help and --version exit 0", async () => {
  for (const [args, message] of [
    [['sreve'], "error: unknown command 'sreve'\n(Did you mean serve?)\n"],
    [['serve', '--verbose'], "error: unknown option '--verbose'\n"],
    [['package'], "error: missing required argument 'model-dir'\n"],
    [['init', 'a', 'b'], "error: too many arguments for 'init'. Expected 1 argument but got 2.\n"],
    [['serve', '--port'], "error: option '--port <port>' argument missing\n"],
    [['local', 'transform', '--input'], "error: option '--input <dir>' argument missing\n"],
    [[], ''],
  ] as const) {
    const r = await smkit(args);
    assert.equal(r.code, 1, `smkit ${args.join(' ')}`);
    assert.ok(r.stderr.startsWith(message) && r.stderr.includes('Usage: smkit'), `smkit ${args.join(' ')}: ${r.stderr}`);
  }
  const write = process.stdout.write;
  // Only the CLI's strings are dropped: the test runner's Buffers still reach its parent.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) =>
    typeof chunk === 'string' ? true : (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest)) as typeof process.stdout.write;
  try {
    for (const args of [['--help'], ['--version'], ['serve', '--help'], ['help', 'deploy']]) assert.equal(await run(['node', 'smkit', ...args]), 0, `smkit ${args.join(' ')}`);
  } finally {
    process.stdout.write = write;
  }
});

test('--output - of smkit local transform and smkit local train is a usage error before anything runs, not a folder named "-" in the working folder', () => {
  // "-" reads as stdout (smkit invoke -o -, curl); these commands write a folder of files, which stdout cannot be.
  const dir = mkdtempSync(path.join(tmpdir(), 'smkit-output-dash-'));
  try {
    writeFileSync(path.join(dir, 'rows.csv'), '1,2\n');
    const runs: ReadonlyArray<readonly [args: readonly string[], expected: string]> = [
      [['local', 'transform', '--input', 'rows.csv', '--output', '-', '--content-type', 'text/csv', ...URL_FLAG], 'an output folder (created when missing)'],
      [['local', 'train', '--code', '.', '--output', '-'], 'a folder to copy the trained model/ into (created when missing)'],
    ];
    for (const [args, expected] of runs) {
      const r = spawnSync(process.execPath, [SMKIT_BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, usage(`--output="-" is invalid: expected ${expected}, named (such as ./out): the command writes files into a folder, not to stdout.`), args.join(' '));
      assert.equal(existsSync(path.join(dir, '-')), false, `${args.join(' ')} made a folder named "-"`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a misspelt SMKIT_ variable is a warning naming the setting meant from smkit train, deploy, local transform and local (in its log format), not only from smkit serve', { timeout: 180_000 }, async () => {
  const env: NodeJS.ProcessEnv = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^smkit_/i.test(k))), SMKIT_TRAIN_GRACE_SECOND: '5' };
  const warning = 'SMKIT_TRAIN_GRACE_SECOND is not a setting smkit reads, so it is ignored: did you mean "SMKIT_TRAIN_GRACE_SECONDS"?';
  const runs: ReadonlyArray<readonly [args: readonly string[], error: string]> = [
    [['train', '--base-dir', '/nonexistent-opt-ml'], '--base-dir="/nonexistent-opt-ml" is invalid'],
    [['deploy', '/nonexistent-endpoint.yaml', '--dry-run'], 'nonexistent-endpoint.yaml'],
    [[...TRANSFORM, ...URL_FLAG], 'nonexistent-in'],
  ];
  for (const [args, error] of runs) {
    const r = await runSmkit(args, env);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    const [first, ...rest] = r.stderr.split('\n');
    assert.equal(first, `smkit: warning: ${warning}`, args.join(' '));
    assert.ok(rest.join('\n').includes(error), `${args.join(' ')}: ${r.stderr}`);
  }
  // The warning is not given for names spelt right.
  const right = await runSmkit(runs[0]![0], { ...env, SMKIT_TRAIN_GRACE_SECOND: undefined, SMKIT_TRAIN_GRACE_SECONDS: '5' });
  assert.doesNotMatch(right.stderr, /warning/);
  // smkit local (an empty local SageMaker) logs it, as JSON when asked to.
  const local = spawn(process.execPath, [SMKIT_BIN, 'local', '--port', '0', '--log-format', 'json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  local.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((resolve) => local.once('close', resolve));
  try {
    const found = await Promise.race([
      new Promise<boolean>((resolve) => local.stderr.on('data', () => stderr.includes('SMKIT_TRAIN_GRACE_SECOND is') && resolve(true))),
      closed.then(() => false),
    ]);
    assert.ok(found, stderr);
    const line = stderr.split('\n').find((l) => l.includes('SMKIT_TRAIN_GRACE_SECOND is'))!;
    const record = JSON.parse(line) as { level: unknown; msg: unknown; variable: unknown };
    assert.equal(record.msg, warning);
    assert.equal(record.variable, 'SMKIT_TRAIN_GRACE_SECOND');
  } finally {
    local.kill('SIGTERM');
    await closed;
  }
});

test("smkit local warns of the SAGEMAKER_ and SM_ variables of its shell, which its containers do not inherit (SAGEMAKER_MODEL_SERVER_WORKERS=4 served with one worker without a word)", { timeout: 180_000 }, async () => {
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(smkit_|sagemaker_|sm_)/i.test(k))),
    SAGEMAKER_MODEL_SERVER_WORKERS: '4',
    SM_MODEL_DIR: '/models/iris',
    SAGEMAKER_PROGRAM: ' ',
  };
  const local = spawn(process.execPath, [SMKIT_BIN, 'local', '--port', '0', '--log-format', 'json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  local.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  local.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((resolve) => local.once('close', resolve));
  try {
    // The warning is written before the banner: wait for the banner, then read all of stderr once it
    // has stopped, so that a missing warning fails at once instead of by the test's timeout.
    const ready = await Promise.race([
      new Promise<boolean>((resolve) => local.stdout.on('data', () => stdout.includes('local SageMaker ready') && resolve(true))),
      closed.then(() => false),
    ]);
    assert.ok(ready, `${stdout}\n${stderr}`);
  } finally {
    local.kill('SIGTERM');
    await closed;
  }
  const records = stderr.split('\n').filter((l) => l.includes('set in this shell'));
  // Once, at start-up.
  assert.equal(records.length, 1, stderr);
  const record = JSON.parse(records[0]!) as { level: unknown; msg: unknown; variables: unknown };
  assert.equal(record.level, 'warn');
  // An empty value is none, as for every setting.
  assert.deepEqual(record.variables, ['SAGEMAKER_MODEL_SERVER_WORKERS', 'SM_MODEL_DIR']);
  assert.equal(
    record.msg,
    "SAGEMAKER_MODEL_SERVER_WORKERS, SM_MODEL_DIR are set in this shell, but containers and training jobs do not inherit them (a SageMaker container gets only its own Environment): set them in the container's env of the endpoint file, or the Environment of CreateModel or CreateTrainingJob",
  );
});

test("smkit local's own log lines follow SMKIT_LOG_LEVEL: at error, its start-up warning of a misspelt variable is not written (it was, at info, whatever the level)", { timeout: 180_000 }, async () => {
  const env: NodeJS.ProcessEnv = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^smkit_/i.test(k))), SMKIT_TRAIN_GRACE_SECOND: '5', SMKIT_LOG_LEVEL: 'error' };
  const local = spawn(process.execPath, [SMKIT_BIN, 'local', '--port', '0', '--log-format', 'json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  local.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  local.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((resolve) => local.once('close', resolve));
  try {
    // The warning is written before the banner, when it is written at all.
    const ready = await Promise.race([
      new Promise<boolean>((resolve) => local.stdout.on('data', () => stdout.includes('local SageMaker ready') && resolve(true))),
      closed.then(() => false),
    ]);
    assert.ok(ready, `${stdout}\n${stderr}`);
  } finally {
    local.kill('SIGTERM');
    await closed;
  }
  assert.doesNotMatch(stderr, /SMKIT_TRAIN_GRACE_SECOND is not a setting/);
});

test('smkit local train --channel naming one channel twice is ERR_CLI_USAGE, not the last folder trained on alone; --hp given twice takes the last, as docker -e does', async () => {
  const r = await smkit(['local', 'train', '--code', '/nonexistent-code', '--channel', 'train=/data/a', '--channel', 'test=/data/t', '--channel', 'train=/data/b']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, usage('--channel train is given twice (train=/data/a and train=/data/b): a channel is one folder or file, and each channel needs its own name'));
  const hp = await smkit(['local', 'train', '--code', '/nonexistent-code', '--hp', 'lr=0.1', '--hp', 'lr=0.2']);
  assert.match(hp.stderr, /--code="\/nonexistent-code" is invalid/);
});

test('smkit local transform --output inside a folder --input, or --s3-data-type ManifestFile with a folder, is refused before the model is started, not after', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'smkit-transform-inside-'));
  try {
    const input = path.join(dir, 'in');
    mkdirSync(input);
    writeFileSync(path.join(input, 'rows.csv'), '5.1,3.5,1.4,0.2\n');
    const common = ['local', 'transform', '--model', IRIS, '--input', input, '--content-type', 'text/csv', '--no-progress'];
    const inside = await runSmkit([...common, '--output', path.join(input, 'out')], process.env);
    assert.equal(inside.code, 1);
    assert.equal(inside.stderr, usage(`--output ${path.join(input, 'out')} lies inside --input ${input}; choose an output folder outside it`));
    const manifest = await runSmkit([...common, '--output', path.join(dir, 'out'), '--s3-data-type', 'ManifestFile'], process.env);
    assert.equal(manifest.code, 1);
    assert.equal(manifest.stderr, usage(`--s3-data-type ManifestFile needs --input to be a manifest file (${input} is a folder)`));
    assert.equal(existsSync(path.join(dir, 'out')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit local transform with an input name too long for its .out, or a manifest that is no manifest, is refused before the model is started, not after', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'smkit-transform-inputs-'));
  try {
    const input = path.join(dir, 'in');
    mkdirSync(input);
    writeFileSync(path.join(input, `${'r'.repeat(240)}.csv`), '5.1,3.5,1.4,0.2\n');
    const common = ['local', 'transform', '--model', IRIS, '--content-type', 'text/csv', '--no-progress', '--output', path.join(dir, 'out')];
    const long = await runSmkit([...common, '--input', input], process.env);
    assert.equal(long.code, 1);
    assert.match(long.stderr, /^smkit: ERR_CLI_USAGE: input file r+\.csv has a name of 244 bytes/, long.stderr);
    assert.doesNotMatch(long.stderr, /starting/);
    const manifestFile = path.join(dir, 'manifest.json');
    writeFileSync(manifestFile, '{"not": "a manifest"}');
    const manifest = await runSmkit([...common, '--input', manifestFile, '--s3-data-type', 'ManifestFile'], process.env);
    assert.equal(manifest.code, 1);
    assert.match(manifest.stderr, /^smkit: ERR_CLI_USAGE: manifest .*manifest\.json: /, manifest.stderr);
    assert.doesNotMatch(manifest.stderr, /starting/);
    assert.equal(existsSync(path.join(dir, 'out')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smkit local transform with input files of which one\'s output would be a file where another\'s needs a folder (a.csv and a.csv.out/b.csv) is refused before the model is started, naming both (the model started, a.csv.out was written and then b.csv failed with --output ... EEXIST)', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'smkit-transform-clash-'));
  try {
    const input = path.join(dir, 'in');
    mkdirSync(path.join(input, 'a.csv.out'), { recursive: true });
    writeFileSync(path.join(input, 'a.csv'), '5.1,3.5,1.4,0.2\n');
    writeFileSync(path.join(input, 'a.csv.out', 'b.csv'), '5.1,3.5,1.4,0.2\n');
    const run = await runSmkit(['local', 'transform', '--model', IRIS, '--content-type', 'text/csv', '--no-progress', '--input', input, '--output', path.join(dir, 'out')], process.env);
    assert.equal(run.code, 1);
    assert.equal(
      run.stderr,
      'smkit: ERR_CLI_USAGE: input files a.csv and a.csv.out/b.csv cannot be transformed into one output folder: the output of a.csv (a.csv.out, written as a.csv.out.partial until it is complete) would be a file where a.csv.out/b.csv.out needs a folder; rename or move one of them\n',
    );
    assert.equal(existsSync(path.join(dir, 'out')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a reader of stdout or stderr that has gone (| head -1) drops the rest of the output: smkit init and smkit package finish and exit 0, without an EPIPE stack', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-epipe-'));
  /** `smkit <args>` with its stdout or stderr a pipe whose reading end is closed before it starts writing. */
  const closed = (args: readonly string[], which: 'stdout' | 'stderr'): Promise<{ code: number | null; said: string }> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [SMKIT_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      child[which].destroy();
      let said = '';
      child[which === 'stdout' ? 'stderr' : 'stdout'].on('data', (chunk: Buffer) => (said += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, said }));
    });
  try {
    const project = path.join(dir, 'project');
    const init = await closed(['init', project], 'stdout');
    assert.deepEqual(init, { code: 0, said: '' });
    assert.ok(existsSync(path.join(project, 'model', 'code', 'inference.mjs')));
    const archive = path.join(dir, 'model.tar.gz');
    assert.deepEqual(await closed(['package', IRIS, '-o', archive], 'stderr'), { code: 0, said: '' });
    assert.ok(existsSync(archive));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('smkit invoke with stdout that cannot be written (> /dev/full, ENOSPC) says so in one ERR_CLI_USAGE line and exits 1: the CLI\'s EPIPE listener does not end the process first with a stack', { timeout: 120_000, skip: !existsSync('/dev/full') }, async () => {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('[1]'));
  });
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-enospc-'));
  const full = openSync('/dev/full', 'a');
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const file = path.join(dir, 'body.json');
    writeFileSync(file, '[1]');
    for (const stream of [[], ['--stream']]) {
      const result = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [SMKIT_BIN, 'invoke', url, '--file', file, ...stream], { stdio: ['ignore', full, 'pipe'] });
        let stderr = '';
        child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stderr }));
      });
      assert.deepEqual(result, { code: 1, stderr: usage('the answer could not be written to stdout: it cannot be written (ENOSPC)') }, `smkit invoke ${stream.join(' ')}`);
    }
  } finally {
    closeSync(full);
    server.closeAllConnections();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('stdout that cannot be written (> /dev/full, ENOSPC) is one ERR_CLI_USAGE line and exit 1: smkit --help and --version ended 0 without a word, smkit init with Node\'s stack trace', { timeout: 120_000, skip: !existsSync('/dev/full') }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-full-'));
  const full = openSync('/dev/full', 'a');
  try {
    for (const args of [['--help'], ['--version'], ['package', '--help'], ['init', path.join(dir, 'project')]]) {
      const result = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [SMKIT_BIN, ...args], { stdio: ['ignore', full, 'pipe'] });
        let stderr = '';
        child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stderr }));
      });
      assert.deepEqual(result, { code: 1, stderr: usage('the output could not be written to stdout: it cannot be written (ENOSPC)') }, `smkit ${args.join(' ')}`);
    }
  } finally {
    closeSync(full);
    await rm(dir, { recursive: true, force: true });
  }
});
