import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildTrainingEnvironment, readTrainingConfig, toCmdArgs, type TrainingConfig } from './environment.js';
import { isToolkitError } from '../errors/catalogue.js';
import { entryPointCommand, resolveCodeDir } from './entry-point.js';
import { detectNeuronCores } from './neurons.js';
import { trainingPaths } from './paths.js';
import { PyDict, pyJsonLoads } from './py-json.js';

function config(hps: string, idc: string, rc: string): TrainingConfig {
  return { hyperparameters: pyJsonLoads(hps) as PyDict, inputDataConfig: pyJsonLoads(idc) as PyDict, resourceConfig: pyJsonLoads(rc) as PyDict, defaulted: [] };
}
const facts = { paths: trainingPaths('/opt/ml'), numCpus: 8, numGpus: 1 };

test('to_cmd_args: sorted keys, -x for one character, dict values as sorted k=v with str() values', () => {
  const m = pyJsonLoads('{"zeta": "1", "a": {"y": [1, "b"], "x": true}, "b": null}') as PyDict;
  assert.deepEqual(toCmdArgs(m), ['-a', "x=True,y=[1, 'b']", '-b', '', '--zeta', '1']);
});

test('heterogeneous cluster: groups, distribution hosts, master, topology, framework params', () => {
  const env = buildTrainingEnvironment(
    config(
      '{"sagemaker_program": "\\"train.py\\"", "sagemaker_distribution_instance_groups": "[\\"gpu\\"]", "_tuning_objective_metric": "\\"loss\\"", "lr": "0.01"}',
      '{"train": {"TrainingInputMode": "File"}}',
      JSON.stringify({
        current_host: 'algo-3',
        hosts: ['algo-1', 'algo-2', 'algo-3'],
        current_group_name: 'cpu',
        instance_groups: [
          { instance_group_name: 'gpu', instance_type: 'ml.p4d.24xlarge', hosts: ['algo-2', 'algo-1'] },
          { instance_group_name: 'cpu', instance_type: 'ml.c5.xlarge', hosts: ['algo-3'] },
        ],
        topology: { nvlink: 'yes' },
      }),
    ),
    { ...facts, trainingModule: 'pkg.mod:main', modelParallelParameters: '{"partitions": 2}' },
  );
  const v = env.vars;
  assert.equal(v['SM_MODULE_NAME'], 'train'); // .py is stripped, as STT does
  assert.equal(v['SM_USER_ENTRY_POINT'], 'train.py');
  assert.equal(v['SM_IS_HETERO'], 'true');
  assert.equal(v['SM_INSTANCE_GROUPS'], '["gpu","cpu"]');
  assert.equal(v['SM_CURRENT_INSTANCE_GROUP'], 'cpu');
  assert.equal(v['SM_CURRENT_INSTANCE_GROUP_HOSTS'], '["algo-3"]');
  assert.equal(v['SM_DISTRIBUTION_INSTANCE_GROUPS'], '["gpu"]');
  assert.equal(v['SM_FRAMEWORK_PARAMS'], '{"sagemaker_distribution_instance_groups":["gpu"]}');
  assert.equal(v['SM_FRAMEWORK_MODULE'], 'pkg.mod:main');
  assert.equal(v['SM_HPS'], '{"lr":0.01}'); // _tuning_objective_metric is reserved
  assert.equal(v['SM_TOPOLOGY'], '{"nvlink":"yes"}');
  assert.equal(v['SM_NUM_GPUS'], '1');
  const te = JSON.parse(v['SM_TRAINING_ENV']!) as Record<string, unknown>;
  assert.deepEqual(te['distribution_hosts'], ['algo-2', 'algo-1']);
  assert.equal(te['master_hostname'], 'algo-2');
  assert.equal(te['is_master'], false);
  assert.equal(te['is_modelparallel_enabled'], true);
  assert.equal(te['current_instance_type'], 'local'); // only current_instance_type is read, not the group's type
});

test('no entry point anywhere: module name is the string "None" and the entry point is empty, as in STT', () => {
  const env = buildTrainingEnvironment(config('{}', '{}', '{"current_host": "algo-1", "hosts": ["algo-1"]}'), facts);
  assert.equal(env.userEntryPoint, undefined);
  assert.equal(env.vars['SM_MODULE_NAME'], 'None');
  assert.equal(env.vars['SM_USER_ENTRY_POINT'], '');
  assert.equal(env.vars['SM_CHANNELS'], '[]');
  assert.equal(env.vars['SM_USER_ARGS'], '[]');
  assert.equal(env.vars['SM_TOPOLOGY'], undefined);
});

test('entry points run by type and must stay inside the code directory', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-entry-'));
  try {
    for (const f of ['a.mjs', 'b.sh', 'c.py', 'd']) writeFileSync(path.join(dir, f), '');
    const cmd = (f: string) => entryPointCommand(dir, f, ['--a', '1'], '/usr/bin/node');
    assert.deepEqual([cmd('a.mjs').command, ...cmd('a.mjs').args], ['/usr/bin/node', path.join(dir, 'a.mjs'), '--a', '1']);
    assert.equal(cmd('a.mjs').display, 'node a.mjs --a 1');
    // A line break in a hyperparameter stays on the one line of the failure file's headline.
    assert.equal(entryPointCommand(dir, 'a.mjs', ['--note', "it's\r\nfine\t\x01\\"], '/usr/bin/node').display, "node a.mjs --note $'it\\'s\\r\\nfine\\t\\x01\\\\'");
    assert.equal(entryPointCommand(dir, 'a.mjs', ['--note', "it's fine"], '/usr/bin/node').display, "node a.mjs --note 'it'\\''s fine'");
    assert.equal(cmd('b.sh').command, '/bin/sh');
    // With a #! line the kernel picks the interpreter, as STT's ./<file> does.
    writeFileSync(path.join(dir, 'e.sh'), '#!/bin/bash\necho\n');
    assert.deepEqual([cmd('e.sh').command, ...cmd('e.sh').args], [path.join(dir, 'e.sh'), '--a', '1']);
    assert.equal(statSync(path.join(dir, 'e.sh')).mode & 0o777, 0o755);
    // One executable already is left as it is: no chmod, which a read-only code directory refuses.
    writeFileSync(path.join(dir, 'f.sh'), '#!/bin/bash\necho\n', { mode: 0o700 });
    assert.equal(cmd('f.sh').command, path.join(dir, 'f.sh'));
    assert.equal(statSync(path.join(dir, 'f.sh')).mode & 0o777, 0o700);
    assert.equal(cmd('c.py').command, 'python3');
    assert.deepEqual([cmd('d').command, ...cmd('d').args], [path.join(dir, 'd'), '--a', '1']);
    assert.throws(() => cmd('../etc/passwd'), /must be a file inside the code directory/);
    assert.throws(() => cmd('missing.mjs'), /was not found in .*found: a\.mjs, b\.sh, c\.py, d, e\.sh/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a submit directory archive that is not a .tar.gz (or is cut short) fails with ERR_TRAIN_ENTRY_POINT naming it, not ERR_INTERNAL and a stack', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-archive-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const paths = trainingPaths(path.join(dir, 'ml'));
  const zip = path.join(dir, 'sourcedir.tar.gz');
  writeFileSync(zip, Buffer.from('PK\x03\x04 a zip file, named .tar.gz'));
  const cut = path.join(dir, 'cut.tgz');
  writeFileSync(cut, Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0x03]));
  for (const [archive, why] of [
    [zip, /TAR_BAD_ARCHIVE/],
    [cut, /unexpected end of file/],
  ] as const) {
    await assert.rejects(resolveCodeDir(paths, [archive]), (e: unknown) => {
      assert.ok(isToolkitError(e) && e.code === 'ERR_TRAIN_ENTRY_POINT', String(e));
      assert.ok(e.message.startsWith(`the submit directory archive ${archive} could not be extracted (`), e.message);
      assert.match(e.message, why);
      assert.match(e.message, /; it must be a \.tar\.gz \(or \.tar\) of the code directory\.$/);
      return true;
    });
  }
  // Where it cannot be written out (a file where the code directory goes, found before the archive is read): named, but not said to be of the wrong format.
  const blocked = trainingPaths(path.join(dir, 'blocked'));
  mkdirSync(blocked.base);
  writeFileSync(blocked.code, 'not a directory');
  await assert.rejects(resolveCodeDir(blocked, [zip]), (e: unknown) => {
    assert.ok(isToolkitError(e) && e.code === 'ERR_TRAIN_ENTRY_POINT', String(e));
    assert.equal(e.message, `the submit directory archive ${zip} could not be extracted (EEXIST: file already exists, mkdir '${blocked.code}').`);
    return true;
  });
});

test('a submit directory under /opt/ml (the code channel of a network-isolated or JumpStart job) is read under the base dir when the tree is elsewhere', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-intree-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const paths = trainingPaths(path.join(dir, 'ml'));
  const tar = await import('tar');
  const src = path.join(dir, 'src');
  mkdirSync(src);
  writeFileSync(path.join(src, 'train.mjs'), 'console.log(1)\n');
  mkdirSync(path.join(paths.inputData, 'code'), { recursive: true });
  await tar.c({ gzip: true, cwd: src, file: path.join(paths.inputData, 'code', 'sourcedir.tar.gz') }, ['train.mjs']);
  assert.equal(await resolveCodeDir(paths, ['/opt/ml/input/data/code/sourcedir.tar.gz']), paths.code);
  assert.equal(readFileSync(path.join(paths.code, 'train.mjs'), 'utf8'), 'console.log(1)\n');
  // A folder there is used in place; a path that leaves /opt/ml is not read as one in the tree.
  const other = trainingPaths(path.join(dir, 'other'));
  mkdirSync(path.join(other.inputData, 'code'), { recursive: true });
  assert.equal(await resolveCodeDir(other, ['/opt/ml/input/data/code']), path.join(other.inputData, 'code'));
  await assert.rejects(resolveCodeDir(other, ['/opt/ml/../ml/input/data/code/none.tar.gz']), (e: unknown) => {
    assert.ok(isToolkitError(e) && e.code === 'ERR_TRAIN_ENTRY_POINT', String(e));
    assert.equal(e.message, `the submit directory /opt/ml/../ml/input/data/code/none.tar.gz (${path.join(other.inputData, 'code', 'none.tar.gz')} in this tree) does not exist.`);
    return true;
  });
  await assert.rejects(resolveCodeDir(other, ['/opt/mlcode/x.tar.gz']), /the submit directory \/opt\/mlcode\/x\.tar\.gz does not exist\.$/);
  // A folder named `..code` is in /opt/ml, not above it.
  mkdirSync(path.join(other.base, '..code'));
  assert.equal(await resolveCodeDir(other, ['/opt/ml/..code']), path.join(other.base, '..code'));
});

test('topology: absent is [] in SM_TRAINING_ENV, and SM_TOPOLOGY is set only for a non-empty value, as in STT', () => {
  const rc = (extra: string) => `{"current_host": "algo-1", "hosts": ["algo-1"]${extra}}`;
  const absent = buildTrainingEnvironment(config('{}', '{}', rc('')), facts).vars;
  assert.equal((JSON.parse(absent['SM_TRAINING_ENV']!) as Record<string, unknown>)['topology'] instanceof Array, true);
  assert.match(absent['SM_TRAINING_ENV']!, /"topology":\[\]/);
  assert.equal(absent['SM_TOPOLOGY'], undefined);
  for (const empty of ['[]', '{}', 'null']) {
    const v = buildTrainingEnvironment(config('{}', '{}', rc(`, "topology": ${empty}`)), facts).vars;
    assert.equal(v['SM_TOPOLOGY'], undefined, empty);
    assert.match(v['SM_TRAINING_ENV']!, new RegExp(`"topology":${empty.replace(/[[\]{}]/g, '\\$&')}`));
  }
});

test('every distribution flag STT checks puts the current group in the distribution, torch_distributed included', () => {
  for (const flag of ['sagemaker_mpi_enabled', 'sagemaker_pytorch_ddp_enabled', 'sagemaker_torch_distributed_enabled']) {
    const env = buildTrainingEnvironment(config(`{"${flag}": "true"}`, '{}', '{"current_host": "algo-1", "hosts": ["algo-1"]}'), facts);
    assert.equal(env.vars['SM_DISTRIBUTION_INSTANCE_GROUPS'], '["homogeneousCluster"]', flag);
  }
  const off = buildTrainingEnvironment(config('{"sagemaker_torch_distributed_enabled": "false"}', '{}', '{"current_host": "algo-1", "hosts": ["algo-1"]}'), facts);
  assert.equal(off.vars['SM_DISTRIBUTION_INSTANCE_GROUPS'], '[]');
});

test('config files that cannot be read or start with a BOM fail with a reason that names the file', () => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'smkit-cfg-'));
  try {
    const paths = trainingPaths(base);
    mkdirSync(paths.hyperparametersFile, { recursive: true }); // a directory where the file should be
    assert.throws(() => readTrainingConfig(paths), (e: unknown) => isToolkitError(e) && e.code === 'ERR_TRAIN_CONFIG_INVALID' && /hyperparameters\.json could not be read \(EISDIR/.test(e.message));
    rmSync(paths.hyperparametersFile, { recursive: true });
    writeFileSync(paths.hyperparametersFile, '\ufeff{"epochs": "3"}');
    assert.throws(() => readTrainingConfig(paths), (e: unknown) => isToolkitError(e) && /hyperparameters\.json starts with a UTF-8 byte-order mark/.test(e.message));
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test("a hyperparameter no process can be given (a name with '=', a NUL character) is ERR_TRAIN_CONFIG_INVALID naming it, not a variable under another name", () => {
  const rc = '{"current_host": "algo-1", "hosts": ["algo-1"]}';
  const refused = (hps: string, message: RegExp) =>
    assert.throws(() => buildTrainingEnvironment(config(hps, '{}', rc), facts), (e: unknown) => isToolkitError(e) && e.code === 'ERR_TRAIN_CONFIG_INVALID' && message.test(e.message));
  // Before: the script saw SM_HP_LR set to "MAX=0.1".
  refused('{"lr=max": "0.1"}', /^a hyperparameter cannot be passed as the environment variable "SM_HP_LR=MAX": its name holds '='; rename it/);
  refused('{"note": "a\\u0000b"}', /"SM_HP_NOTE": its value holds a NUL character/);
  refused('{"opts": "{\\"k\\": [\\"a\\u0000b\\"]}"}', /"SM_HP_OPTS": its value holds a NUL character/);
  assert.equal(buildTrainingEnvironment(config('{"lr-max": "0.1", "note": "a\\r\\nb"}', '{}', rc), facts).vars['SM_HP_NOTE'], 'a\r\nb');
});

test('SM_NUM_NEURONS: 64 on a trn2.48xlarge whatever neuron-ls found, as STT shortcuts it; otherwise the detected count', () => {
  const rc = (type: string) => JSON.stringify({ current_host: 'algo-1', hosts: ['algo-1'], current_instance_type: type });
  const neurons = (type: string, detected: number) => {
    const env = buildTrainingEnvironment(config('{}', '{}', rc(type)), { ...facts, numNeurons: detected });
    return [env.vars['SM_NUM_NEURONS'], (JSON.parse(env.vars['SM_TRAINING_ENV']!) as { num_neurons: number }).num_neurons];
  };
  assert.deepEqual(neurons('ml.trn2.48xlarge', 0), ['64', 64]);
  assert.deepEqual(neurons('ml.trn1.32xlarge', 32), ['32', 32]);
  assert.deepEqual(neurons('ml.m5.large', 0), ['0', 0]);
});

test('detectNeuronCores sums the nc_count of what neuron-ls -j lists; 0 without neuron-ls, when it fails, or when it prints something else', (t) => {
  const bin = mkdtempSync(path.join(os.tmpdir(), 'smkit-neuron-ls-'));
  t.after(() => rmSync(bin, { recursive: true, force: true }));
  const fake = (script: string) => writeFileSync(path.join(bin, 'neuron-ls'), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
  const detect = () => detectNeuronCores({ PATH: bin });
  assert.equal(detect(), 0);
  fake(`[ "$1" = "-j" ] && echo '[{"neuron_device": 0, "nc_count": 2}, {"neuron_device": 1, "nc_count": 2}]'`);
  assert.equal(detect(), 4);
  fake('echo "error=no devices"; exit 1');
  assert.equal(detect(), 0);
  fake('echo not json');
  assert.equal(detect(), 0);
  // Ignores SIGTERM and waits 30 s (its sleep off the pipe, which closes with the shell), then leaves
  // a file: SIGTERM alone left spawnSync waiting for it to finish, holding the job's start.
  const finished = path.join(bin, 'finished');
  const sleeper = path.join(bin, 'sleep.pid');
  fake(`trap "" TERM\nsleep 30 </dev/null >/dev/null 2>&1 &\necho $! > '${sleeper}'\nwait $!\n: > '${finished}'`);
  try {
    assert.equal(detectNeuronCores({ PATH: `${bin}${path.delimiter}${process.env['PATH'] ?? ''}` }, 200), 0);
    assert.equal(existsSync(finished), false, 'neuron-ls was waited for until it finished by itself');
  } finally {
    // The stand-in's sleep outlives the shell SIGKILL ended; not once it has finished (its pid may be another's by then).
    if (!existsSync(finished) && existsSync(sleeper)) {
      // Empty if the shell was killed between the echo's open and its write: kill(0) would be this
      // process's whole group (the test runner's).
      const pid = Number(readFileSync(sleeper, 'utf8'));
      try {
        if (pid > 0) process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
});
