import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { createProgram, helpForUnknownCommand } from './main.js';
import { loadSettings, readLogFormat } from '../config/settings.js';
import { loadTrainingSettings } from '../config/training.js';
import { checkProgram } from '../config/program.js';

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

/** The parser commander runs on one option's text (no action is started). */
async function flagParser(path: readonly string[], flag: string): Promise<(value: string) => unknown> {
  let cmd = await createProgram(['node', 'smkit', ...path]);
  for (const name of path) cmd = cmd.commands.find((c) => c.name() === name)!;
  const option = cmd.options.find((o) => o.long === flag)!;
  assert.ok(option.parseArg, `${path.join(' ')} ${flag} has a parser`);
  return (value) => option.parseArg!(value, undefined);
}

test('numeric flags of serve, train and local train refuse bad text with ERR_CLI_USAGE, naming the flag and the text as typed, with the variables\' bounds', async () => {
  const port = await flagParser(['serve'], '--port');
  assert.equal(port('0'), 0);
  assert.equal(port('8080'), 8080);
  for (const bad of ['abc', '', '1.5', '-1', '65536', '1e3']) {
    assert.throws(() => port(bad), { code: 'ERR_CLI_USAGE', message: `--port=${JSON.stringify(bad)} is invalid: expected a whole number from 0 to 65535.` });
  }
  const workers = await flagParser(['serve'], '--workers');
  assert.equal(workers('3'), 3);
  for (const bad of ['abc', '0', '257', '999999']) assert.throws(() => workers(bad), { code: 'ERR_CLI_USAGE', message: new RegExp(`^--workers="${bad}" is invalid: expected a whole number from 1 to 256`) });
  for (const path of [['train'], ['local', 'train']]) {
    const grace = await flagParser(path, '--grace-seconds');
    assert.equal(grace('2.5'), 2.5);
    assert.equal(grace('0'), 0);
    for (const bad of ['abc', '', '-1', '111', 'Infinity']) {
      assert.throws(() => grace(bad), { code: 'ERR_CLI_USAGE', message: `--grace-seconds=${JSON.stringify(bad)} is invalid: expected a number of seconds from 0 to 110.` });
    }
  }
});

test('one rule: a bad flag value is ERR_CLI_USAGE (also where it overrides a variable), a bad environment variable ERR_CONFIG_INVALID', () => {
  const usage = (flag: string) => ({ code: 'ERR_CLI_USAGE', message: new RegExp(`^${flag}=".*" is invalid: expected `) });
  const config = (variable: string) => ({ code: 'ERR_CONFIG_INVALID', message: new RegExp(`^${variable}=".*" is invalid: expected `) });
  assert.throws(() => loadSettings({}, { port: 70000 }, 2), usage('--port'));
  assert.throws(() => loadSettings({}, { workers: 0 }, 2), usage('--workers'));
  assert.throws(() => loadSettings({ SAGEMAKER_BIND_TO_PORT: '70000' }, {}, 2), config('SAGEMAKER_BIND_TO_PORT'));
  // A model directory that is a file; one that does not exist yet is allowed (/ping answers 503 until it does).
  const file = fileURLToPath(import.meta.url);
  assert.throws(() => loadSettings({}, { modelDir: file }, 2), usage('--model-dir'));
  assert.throws(() => loadSettings({ SM_MODEL_DIR: file }, {}, 2), config('SM_MODEL_DIR'));
  assert.equal(loadSettings({ SM_MODEL_DIR: path.join(path.dirname(file), 'nonexistent') }, {}, 2).modelDir, path.join(path.dirname(file), 'nonexistent'));
  // One under a file never can.
  assert.throws(() => loadSettings({ SM_MODEL_DIR: path.join(file, 'nonexistent') }, {}, 2), config('SM_MODEL_DIR'));
  assert.throws(() => loadSettings({}, { modelDir: path.join(file, 'nonexistent') }, 2), usage('--model-dir'));
  assert.throws(() => readLogFormat({}, 'fancy'), usage('--log-format'));
  assert.throws(() => readLogFormat({ SMKIT_LOG_FORMAT: 'fancy' }), config('SMKIT_LOG_FORMAT'));
  assert.throws(() => loadTrainingSettings({}, { graceSeconds: 500 }), usage('--grace-seconds'));
  assert.throws(() => loadTrainingSettings({ SMKIT_TRAIN_GRACE_SECONDS: '500' }), config('SMKIT_TRAIN_GRACE_SECONDS'));
  assert.throws(() => checkProgram('a/b', '--program'), usage('--program'));
  assert.throws(() => checkProgram('a/b', 'SAGEMAKER_PROGRAM'), config('SAGEMAKER_PROGRAM'));
});

test('--help shows every default the same way, unquoted, as the descriptions write them', async () => {
  const program = await createProgram(['node', 'smkit']);
  const all = (cmd: Command): Command[] => [cmd, ...cmd.commands.flatMap(all)];
  const help = all(program).map((c) => c.helpInformation()).join('\n');
  assert.doesNotMatch(help, /default: "|default: \[\]|choices: "/);
  const deploy = program.commands.find((c) => c.name() === 'deploy')!.helpInformation().replace(/\s+/g, ' ');
  assert.match(deploy, /at most 3600 \(default: 5\)/);
  const transform = program.commands.find((c) => c.name() === 'local')!.commands.find((c) => c.name() === 'transform')!.helpInformation().replace(/\s+/g, ' ');
  assert.match(transform, /\(choices: None, Line, default: None\)/);
  // One bracketed note per flag: a default the description gives is not followed by a second for the choices.
  assert.doesNotMatch(help.replace(/\s+/g, ' '), /\) \((?:choices|default):/);
  assert.match(transform, /--strategy <strategy> BatchStrategy \(choices: MultiRecord, SingleRecord, MULTI_RECORD, SINGLE_RECORD; default: the container's \/execution-parameters, else MultiRecord\)/);
});

test('smkit local start --help gives --startup-timeout its range and default and --engine its probe, as run.ts and docs/local-endpoints.md do', async () => {
  const program = await createProgram(['node', 'smkit']);
  const start = program.commands.find((c) => c.name() === 'local')!.commands.find((c) => c.name() === 'start')!.helpInformation().replace(/\s+/g, ' ');
  assert.match(start, /--startup-timeout <seconds> seconds to wait for each container's \/ping, 1-3600 \(default: the file's "startupTimeoutSeconds", else 120\)/);
  assert.match(start, /--engine <engine> docker \| podman, for the docker backend \(default: docker if its daemon answers, else podman\)/);
});

test('smkit local --help lists the target and every flag of smkit local [target] (its default command start), with their defaults', async () => {
  const program = await createProgram(['node', 'smkit', 'local', '--help']);
  const local = program.commands.find((c) => c.name() === 'local')!;
  const start = local.commands.find((c) => c.name() === 'start')!;
  const help = local.helpInformation();
  assert.match(help, /^Usage: smkit local \[options\] \[target\]/);
  assert.match(help, /\nArguments:\n {2}target {2,}a model directory/);
  assert.ok(start.options.length >= 10);
  for (const option of start.options) assert.ok(help.includes(`  ${option.flags}  `), `smkit local --help lists ${option.flags}`);
  assert.match(help.replace(/\s+/g, ' '), /--startup-timeout <seconds> seconds to wait for each container's \/ping, 1-3600 \(default: the file's "startupTimeoutSeconds", else 120\)/);
  assert.match(help, /\nCommands:\n {2}start \[options\] \[target\] .*\n(?:.*\n)* {2}transform \[options\] /);
  // Its subcommands' help is their own.
  assert.doesNotMatch(local.commands.find((c) => c.name() === 'transform')!.helpInformation(), /--backend/);
});

test('smkit local with a mistyped command (read as a target that does not exist) names the command meant', async () => {
  const run = async (...args: string[]) => (await createProgram(['node', 'smkit', 'local', ...args])).parseAsync(['node', 'smkit', 'local', ...args]);
  await assert.rejects(run('tranform', '--input', 'x'), { code: 'ERR_CLI_USAGE', message: 'tranform is not a command of smkit local, nor a model or endpoint file here: did you mean smkit local transform?' });
  await assert.rejects(run('trian'), { code: 'ERR_CLI_USAGE', message: /did you mean smkit local train\?$/ });
  // Anything else is still a path that does not exist.
  await assert.rejects(run('models/nope'), { code: 'ERR_CLI_USAGE', message: /^<target>="models\/nope" is invalid: expected a model directory, .*models\/nope does not exist\.$/ });
});

test('help asked for a mistyped command of smkit local (smkit help local tranform, smkit local help tranform, smkit local tranform --help) names the command meant and exits 1, not local\'s help', async () => {
  const mistyped = { code: 'ERR_CLI_USAGE', message: 'tranform is not a command of smkit local, nor a model or endpoint file here: did you mean smkit local transform?' };
  const help = async (...words: string[]) => {
    const args = helpForUnknownCommand(['node', 'smkit', ...words]);
    const program = await createProgram(args);
    let out = '';
    for (const command of [program, ...program.commands, ...program.commands.flatMap((c) => c.commands)]) command.configureOutput({ writeOut: (text) => (out += text), writeErr: (text) => (out += text) });
    const parsed = program.parseAsync([...args]).then(() => undefined, (err: unknown) => err);
    return { err: await parsed, out };
  };
  for (const words of [['help', 'local', 'tranform'], ['local', 'help', 'tranform'], ['local', 'tranform', '--help']]) {
    const { err, out } = await help(...words);
    assert.deepEqual({ code: (err as { code?: unknown }).code, message: (err as Error).message, out }, { ...mistyped, out: '' }, `smkit ${words.join(' ')}`);
  }
  // A target (there or not) or a name near no command gets local's help, a command its own.
  for (const [words, usage] of [
    [['local', 'models/iris-onnx', '--help'], 'Usage: smkit local [options] [target]'],
    [['local', 'models/nope', '--help'], 'Usage: smkit local [options] [target]'],
    [['local', 'help'], 'Usage: smkit local [options] [target]'],
    [['help', 'local', 'transform'], 'Usage: smkit local transform [options]'],
    [['local', 'help', 'train'], 'Usage: smkit local train [options]'],
  ] as const) {
    const { err, out } = await help(...words);
    assert.deepEqual({ exitCode: (err as { exitCode?: unknown }).exitCode, usage: out.slice(0, usage.length) }, { exitCode: 0, usage }, `smkit ${words.join(' ')}`);
  }
});

test('smkit help <a name that is no command> says it is unknown and suggests the command meant, as smkit <name> does', async () => {
  assert.deepEqual(helpForUnknownCommand(['node', 'smkit', 'help', 'serve']), ['node', 'smkit', 'help', 'serve']);
  assert.deepEqual(helpForUnknownCommand(['node', 'smkit', 'help']), ['node', 'smkit', 'help']);
  assert.deepEqual(helpForUnknownCommand(['node', 'smkit', 'help', 'local', 'transform']), ['node', 'smkit', 'local', 'transform', '--help']);
  const args = helpForUnknownCommand(['node', 'smkit', 'help', 'sreve']);
  const program = await createProgram(args);
  let err = '';
  program.configureOutput({ writeErr: (text) => (err += text), writeOut: () => undefined });
  await assert.rejects(program.parseAsync([...args]), { code: 'commander.unknownCommand', exitCode: 1 });
  assert.match(err, /^error: unknown command 'sreve'\n\(Did you mean serve\?\)/);
});

test('smkit serve <dir> (a model directory without --model-dir) names the flag meant after the parser\'s error', async () => {
  const args = ['node', 'smkit', 'serve', 'models/iris-onnx'];
  const program = await createProgram(args);
  let err = '';
  program.commands.find((c) => c.name() === 'serve')!.configureOutput({ writeErr: (text) => (err += text) });
  await assert.rejects(program.parseAsync(args), { code: 'commander.excessArguments', exitCode: 1 });
  assert.match(err, /^error: too many arguments for 'serve'\. Expected 0 arguments but got 1\.\n\(Did you mean --model-dir models\/iris-onnx\?\)\n/);
});

test('smkit --help lists local as taking a target and flags (smkit local <model>), not as a bare "local"; the other commands as commander writes them', async () => {
  const help = (await createProgram(['node', 'smkit', '--help'])).helpInformation();
  assert.match(help, /\n {2}local \[options\] \[target\] +Run SageMaker-like endpoints/);
  assert.match(help, /\n {2}serve \[options\] +Serve \/ping/);
  assert.match(help, /\n {2}package \[options\] <model-dir> +Check a model directory/);
});
