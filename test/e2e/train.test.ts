import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { detectGpus } from '../../src/devices/gpus.js';
import { REPO, cleanEnv, makeTree, runSmkit } from './train-helpers.js';

const trees: string[] = [];
describe('smkit train', () => {
  after(() => {
    for (const t of trees) rmSync(t, { recursive: true, force: true });
  });
  function tree(spec: Parameters<typeof makeTree>[0]): string {
    const base = makeTree(spec);
    trees.push(base);
    return base;
  }

  // Inputs chosen to hit every STT formatting rule (https://github.com/aws/sagemaker-training-toolkit): JSON-parsed values with
  // string fallback, floats that keep `.0`, Python float repr (`1e-05`), Python `str()` in the
  // arguments (`True`, `[1, 'a']`), dicts as `k=v`, `None`, non-ASCII escaping, a numeric key that
  // JavaScript objects would reorder, dashes kept in names, reserved `sagemaker_*` keys split off.
  const HYPERPARAMETERS = {
    sagemaker_program: '"dump-env.mjs"',
    sagemaker_submit_directory: '"s3://bucket/job/source/sourcedir.tar.gz"',
    sagemaker_container_log_level: '20',
    sagemaker_job_name: '"job-1"',
    sagemaker_region: '"us-west-2"',
    sagemaker_mpi_enabled: 'true',
    epochs: '3',
    'learning-rate': '0.1',
    x: '1.0',
    e: '1e-5',
    flag: 'true',
    name: 'abc',
    quoted: '"quoted"',
    list: '[1,"a"]',
    d: '{"b":1,"a":"x"}',
    n: 'null',
    u: 'café',
    '2': 'two',
  };
  const INPUT_DATA_CONFIG = {
    training: { ContentType: 'text/csv', TrainingInputMode: 'File', S3DistributionType: 'FullyReplicated', RecordWrapperType: 'None' },
    eval: { TrainingInputMode: 'File' },
  };
  const RESOURCE_CONFIG = {
    current_host: 'algo-2',
    hosts: ['algo-1', 'algo-2'],
    network_interface_name: 'eth0',
    current_instance_type: 'ml.m5.xlarge',
    current_group_name: 'train-group',
    instance_groups: [{ instance_group_name: 'train-group', instance_type: 'ml.m5.xlarge', hosts: ['algo-2', 'algo-1'] }],
  };

  test('smkit train exports every SM_* variable exactly as the SageMaker training toolkit does', async () => {
    const base = tree({ hyperparameters: HYPERPARAMETERS, inputDataConfig: INPUT_DATA_CONFIG, resourceConfig: RESOURCE_CONFIG, code: ['dump-env.mjs'] });
    const r = await runSmkit(['train'], cleanEnv({ SAGEMAKER_BASE_DIR: base, TRAINING_JOB_NAME: 'job-env-name' }));
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const dump = JSON.parse(readFileSync(path.join(base, 'output/data/env.json'), 'utf8')) as { env: Record<string, string>; argv: string[]; cwd: string };
    const ncpu = os.cpus().length;
    const ngpu = detectGpus().length;
    const B = base;
    const RC =
      '{"current_group_name":"train-group","current_host":"algo-2","current_instance_type":"ml.m5.xlarge","hosts":["algo-1","algo-2"],' +
      '"instance_groups":[{"hosts":["algo-2","algo-1"],"instance_group_name":"train-group","instance_type":"ml.m5.xlarge"}],"network_interface_name":"eth0"}';
    const IDC = '{"eval":{"TrainingInputMode":"File"},"training":{"ContentType":"text/csv","RecordWrapperType":"None","S3DistributionType":"FullyReplicated","TrainingInputMode":"File"}}';
    const HPS = '{"2":"two","d":{"a":"x","b":1},"e":1e-05,"epochs":3,"flag":true,"learning-rate":0.1,"list":[1,"a"],"n":null,"name":"abc","quoted":"quoted","u":"caf\\u00e9","x":1.0}';
    const ARGS = ['-2', 'two', '-d', 'a=x,b=1', '-e', '1e-05', '--epochs', '3', '--flag', 'True', '--learning-rate', '0.1', '--list', "[1, 'a']", '-n', '', '--name', 'abc', '--quoted', 'quoted', '-u', 'café', '-x', '1.0'];
    const TRAINING_ENV =
      '{"additional_framework_parameters":{"sagemaker_mpi_enabled":true},' +
      `"channel_input_dirs":{"eval":"${B}/input/data/eval","training":"${B}/input/data/training"},` +
      '"current_host":"algo-2","current_instance_group":"train-group","current_instance_group_hosts":["algo-2","algo-1"],"current_instance_type":"ml.m5.xlarge",' +
      '"distribution_hosts":["algo-2","algo-1"],"distribution_instance_groups":["train-group"],"framework_module":null,"hosts":["algo-1","algo-2"],' +
      `"hyperparameters":${HPS},"input_config_dir":"${B}/input/config","input_data_config":${IDC},"input_dir":"${B}/input",` +
      '"instance_groups":["train-group"],"instance_groups_dict":{"train-group":{"hosts":["algo-2","algo-1"],"instance_group_name":"train-group","instance_type":"ml.m5.xlarge"}},' +
      '"is_hetero":false,"is_master":true,"is_modelparallel_enabled":null,"is_smddpmprun_installed":false,"is_smddprun_installed":false,' +
      `"job_name":"job-env-name","log_level":20,"master_hostname":"algo-2","model_dir":"${B}/model","module_dir":"s3://bucket/job/source/sourcedir.tar.gz",` +
      `"module_name":"dump-env.mjs","network_interface_name":"eth0","num_cpus":${ncpu},"num_gpus":${ngpu},"num_neurons":0,` +
      `"output_data_dir":"${B}/output/data","output_dir":"${B}/output","output_intermediate_dir":"${B}/output/intermediate",` +
      `"resource_config":${RC},"topology":[],"user_entry_point":"dump-env.mjs"}`;

    const expected: Record<string, string> = {
      SM_HOSTS: '["algo-1","algo-2"]',
      SM_NETWORK_INTERFACE_NAME: 'eth0',
      SM_HPS: HPS,
      SM_USER_ENTRY_POINT: 'dump-env.mjs',
      SM_FRAMEWORK_PARAMS: '{"sagemaker_mpi_enabled":true}',
      SM_RESOURCE_CONFIG: RC,
      SM_INPUT_DATA_CONFIG: IDC,
      SM_OUTPUT_DATA_DIR: `${B}/output/data`,
      SM_CHANNELS: '["eval","training"]',
      SM_CURRENT_HOST: 'algo-2',
      SM_CURRENT_INSTANCE_TYPE: 'ml.m5.xlarge',
      SM_CURRENT_INSTANCE_GROUP: 'train-group',
      SM_CURRENT_INSTANCE_GROUP_HOSTS: '["algo-2","algo-1"]',
      SM_INSTANCE_GROUPS: '["train-group"]',
      SM_INSTANCE_GROUPS_DICT: '{"train-group":{"hosts":["algo-2","algo-1"],"instance_group_name":"train-group","instance_type":"ml.m5.xlarge"}}',
      SM_DISTRIBUTION_INSTANCE_GROUPS: '["train-group"]',
      SM_IS_HETERO: 'false',
      SM_MODULE_NAME: 'dump-env.mjs',
      SM_LOG_LEVEL: '20',
      SM_FRAMEWORK_MODULE: '',
      SM_INPUT_DIR: `${B}/input`,
      SM_INPUT_CONFIG_DIR: `${B}/input/config`,
      SM_OUTPUT_DIR: `${B}/output`,
      SM_NUM_CPUS: String(ncpu),
      SM_NUM_GPUS: String(ngpu),
      SM_NUM_NEURONS: '0',
      SM_MODEL_DIR: `${B}/model`,
      SM_MODULE_DIR: 's3://bucket/job/source/sourcedir.tar.gz',
      SM_TRAINING_ENV: TRAINING_ENV,
      SM_USER_ARGS: '["-2","two","-d","a=x,b=1","-e","1e-05","--epochs","3","--flag","True","--learning-rate","0.1","--list","[1, \'a\']","-n","","--name","abc","--quoted","quoted","-u","caf\\u00e9","-x","1.0"]',
      SM_OUTPUT_INTERMEDIATE_DIR: `${B}/output/intermediate`,
      SM_CHANNEL_TRAINING: `${B}/input/data/training`,
      SM_CHANNEL_EVAL: `${B}/input/data/eval`,
      SM_HP_EPOCHS: '3',
      'SM_HP_LEARNING-RATE': '0.1',
      SM_HP_X: '1.0',
      SM_HP_E: '1e-05',
      SM_HP_FLAG: 'true',
      SM_HP_NAME: 'abc',
      SM_HP_QUOTED: 'quoted',
      SM_HP_LIST: '[1,"a"]',
      SM_HP_D: '{"a":"x","b":1}',
      SM_HP_N: '',
      SM_HP_U: 'café',
      SM_HP_2: 'two',
    };
    const sm = Object.fromEntries(Object.entries(dump.env).filter(([k]) => k.startsWith('SM_')));
    assert.deepEqual(sm, expected);
    // Byte-for-byte: key order inside the JSON values is part of the contract.
    for (const k of ['SM_TRAINING_ENV', 'SM_HPS', 'SM_RESOURCE_CONFIG', 'SM_INPUT_DATA_CONFIG', 'SM_USER_ARGS']) assert.equal(sm[k], expected[k], k);
    assert.deepEqual(dump.argv, ARGS);
    assert.deepEqual(JSON.parse(sm['SM_USER_ARGS']!), ARGS);
    assert.equal(dump.cwd, path.join(base, 'code'));
    // Set in the process environment as STT does.
    assert.equal(dump.env['CURRENT_HOST'], 'algo-2');
    assert.equal(dump.env['SAGEMAKER_JOB_NAME'], 'job-1');
    assert.equal(dump.env['SAGEMAKER_REGION'], 'us-west-2');
    assert.equal(dump.env['SMKIT_CHECKPOINT_DIR'], path.join(base, 'checkpoints'));
    assert.ok(dump.env['NODE_PATH']!.split(path.delimiter).includes(path.join(REPO, 'node_modules')));
    assert.equal(readFileSync(path.join(base, 'output/success'), 'utf8'), '');
    assert.equal(existsSync(path.join(base, 'output/failure')), false);
    assert.equal(readFileSync(path.join(base, 'model/model.txt'), 'utf8'), 'trained\n');
  });

  test('SAGEMAKER_PROGRAM wins over sagemaker_program; defaults without instance groups; .sh entry points run with /bin/sh', async () => {
    const base = tree({ hyperparameters: { sagemaker_program: '"other.mjs"', 'batch-size': '64' }, inputDataConfig: { train: { TrainingInputMode: 'File' } } });
    writeFileSync(path.join(base, 'code/run.sh'), 'echo "$@" > "$SM_OUTPUT_DATA_DIR/args.txt"; env | grep "^SM_" | sort > "$SM_OUTPUT_DATA_DIR/env.txt"\n');
    const r = await runSmkit(['train'], cleanEnv({ SAGEMAKER_BASE_DIR: base, SAGEMAKER_PROGRAM: 'run.sh' }));
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(readFileSync(path.join(base, 'output/data/args.txt'), 'utf8'), '--batch-size 64\n');
    const env = Object.fromEntries(
      readFileSync(path.join(base, 'output/data/env.txt'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    assert.equal(env['SM_USER_ENTRY_POINT'], 'run.sh');
    assert.equal(env['SM_MODULE_NAME'], 'run.sh');
    assert.equal(env['SM_MODULE_DIR'], path.join(base, 'code'));
    assert.equal(env['SM_CURRENT_INSTANCE_TYPE'], 'local');
    assert.equal(env['SM_CURRENT_INSTANCE_GROUP'], 'homogeneousCluster');
    assert.equal(env['SM_CURRENT_INSTANCE_GROUP_HOSTS'], '[]');
    assert.equal(env['SM_DISTRIBUTION_INSTANCE_GROUPS'], '[]');
    // (SM_HP_BATCH-SIZE is not checked here: POSIX shells drop variables whose names contain '-'.)
    assert.equal(env['SM_HPS'], '{"batch-size":64}');
    assert.equal(env['SM_FRAMEWORK_PARAMS'], '{}');
    assert.equal(env['SM_LOG_LEVEL'], '20');
    assert.match(env['SM_TRAINING_ENV']!, /"distribution_hosts":\["algo-1"\],"distribution_instance_groups":\[\]/);
  });

  test('a failing script: failure file with the reason first, its exit code, no success file', async () => {
    const base = tree({ hyperparameters: { sagemaker_program: '"fail.mjs"' }, code: ['fail.mjs'] });
    const r = await runSmkit(['train'], cleanEnv({ SAGEMAKER_BASE_DIR: base }));
    assert.equal(r.code, 1);
    const failure = readFileSync(path.join(base, 'output/failure'), 'utf8');
    const firstLine = failure.split('\n')[0]!;
    assert.match(firstLine, /^ExecuteUserScriptError: "node fail\.mjs" ended with exit code 1: Error: bad training data: column 3 is empty$/);
    assert.ok(failure.slice(0, 1024).includes('bad training data'));
    assert.match(failure, /warning: 2 rows skipped/);
    assert.equal(existsSync(path.join(base, 'output/success')), false);
    // The script's stderr still streams through.
    assert.match(r.stderr, /bad training data/);

    const base2 = tree({ hyperparameters: { sagemaker_program: '"fail.mjs"', 'exit-code': '3' }, code: ['fail.mjs'] });
    const r2 = await runSmkit(['train'], cleanEnv({ SAGEMAKER_BASE_DIR: base2 }));
    assert.equal(r2.code, 3);
    assert.match(readFileSync(path.join(base2, 'output/failure'), 'utf8'), /^ExecuteUserScriptError: "node fail\.mjs --exit-code 3" ended with exit code 3: fatal: giving up\n/);
  });

  test('long hyperparameters do not push the reason out of the first 1024 characters (FailureReason)', async () => {
    const layers = JSON.stringify({ layers: Array.from({ length: 60 }, (_, units) => ({ units, act: 'relu' })) });
    const base = tree({ hyperparameters: { sagemaker_program: '"fail.mjs"', config: layers }, code: ['fail.mjs'] });
    const r = await runSmkit(['train'], cleanEnv({ SAGEMAKER_BASE_DIR: base }));
    assert.equal(r.code, 1);
    const failure = readFileSync(path.join(base, 'output/failure'), 'utf8');
    assert.match(failure.split('\n')[0]!, /^ExecuteUserScriptError: "node fail\.mjs --config 'layers=\[.{100,}…" ended with exit code 1: Error: bad training data: column 3 is empty$/);
    assert.ok(failure.slice(0, 1024).includes('bad training data'));
  });

  test("the script's own failure file is kept; a missing entry point fails with exit 1", async () => {
    const base = tree({ hyperparameters: { sagemaker_program: '"own-failure.mjs"' }, code: ['own-failure.mjs'] });
    const r = await runSmkit(['train'], cleanEnv({ SAGEMAKER_BASE_DIR: base }));
    assert.equal(r.code, 2);
    assert.equal(readFileSync(path.join(base, 'output/failure'), 'utf8'), 'AlgorithmError: the label column is missing');

    const base2 = tree({ hyperparameters: { sagemaker_program: '"nope.mjs"' } });
    const r2 = await runSmkit(['train'], cleanEnv({ SAGEMAKER_BASE_DIR: base2 }));
    assert.equal(r2.code, 1);
    assert.match(readFileSync(path.join(base2, 'output/failure'), 'utf8'), /^ERR_TRAIN_ENTRY_POINT: the entry point nope\.mjs was not found in /);

    const base3 = tree({ hyperparameters: { epochs: '1' } });
    const r3 = await runSmkit(['train'], cleanEnv({ SAGEMAKER_BASE_DIR: base3 }));
    assert.equal(r3.code, 1);
    assert.match(readFileSync(path.join(base3, 'output/failure'), 'utf8'), /^ERR_TRAIN_ENTRY_POINT: no entry point; set SAGEMAKER_PROGRAM/);

    const base4 = tree({ code: ['dump-env.mjs'] });
    writeFileSync(path.join(base4, 'input/config/hyperparameters.json'), '{"epochs": "3",}');
    const r4 = await runSmkit(['train'], cleanEnv({ SAGEMAKER_BASE_DIR: base4, SAGEMAKER_PROGRAM: 'dump-env.mjs' }));
    assert.equal(r4.code, 1);
    assert.match(readFileSync(path.join(base4, 'output/failure'), 'utf8'), /^ERR_TRAIN_CONFIG_INVALID: .*hyperparameters\.json is not valid JSON/);

    // A setting smkit cannot read (the job's Environment reaches smkit train too): the reason is in output/failure, for FailureReason.
    const base5 = tree({ hyperparameters: { sagemaker_program: '"dump-env.mjs"' }, code: ['dump-env.mjs'] });
    const r5 = await runSmkit(['train'], cleanEnv({ SAGEMAKER_BASE_DIR: base5, SMKIT_LOG_LEVEL: 'bogus' }));
    assert.equal(r5.code, 1);
    assert.match(readFileSync(path.join(base5, 'output/failure'), 'utf8'), /^ERR_CONFIG_INVALID: SMKIT_LOG_LEVEL="bogus" is invalid/);
    const base6 = tree({ hyperparameters: { sagemaker_program: '"dump-env.mjs"' }, code: ['dump-env.mjs'] });
    const r6 = await runSmkit(['train', '--base-dir', base6], cleanEnv({ SMKIT_TRAIN_GRACE_SECONDS: 'soon' }));
    assert.equal(r6.code, 1);
    assert.match(readFileSync(path.join(base6, 'output/failure'), 'utf8'), /^ERR_CONFIG_INVALID: .*SMKIT_TRAIN_GRACE_SECONDS/);
  });

  test("flags smkit train does not take (the job's ContainerArguments, the image's CMD): the usage error is in output/failure too", async () => {
    const spec = { hyperparameters: { sagemaker_program: '"dump-env.mjs"' }, code: ['dump-env.mjs'] };
    const base = tree(spec);
    // An earlier run's outcome must not stand for this one.
    mkdirSync(path.join(base, 'output'));
    writeFileSync(path.join(base, 'output/success'), '');
    const r = await runSmkit(['train', '--epochs', '3'], cleanEnv({ SAGEMAKER_BASE_DIR: base }));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: unknown option '--epochs'\n[^]*\nUsage: smkit train \[options\]\n[^]*--grace-seconds/);
    assert.equal(readFileSync(path.join(base, 'output/failure'), 'utf8'), "error: unknown option '--epochs'\nUsage: smkit train [options]");
    assert.equal(existsSync(path.join(base, 'output/success')), false);

    // Into the tree --base-dir names; commander's own suggestion is kept.
    const base2 = tree(spec);
    const r2 = await runSmkit(['train', '--base-dir', base2, '--grace-second', '5'], cleanEnv());
    assert.equal(r2.code, 1);
    assert.match(readFileSync(path.join(base2, 'output/failure'), 'utf8'), /^error: unknown option '--grace-second'\n\(Did you mean --grace-seconds\?\)\nUsage: smkit train/);

    // smkit's own usage errors, as the other failures are written (code: message).
    const base3 = tree(spec);
    const r3 = await runSmkit(['train', '--grace-seconds', '200'], cleanEnv({ SAGEMAKER_BASE_DIR: base3 }));
    assert.equal(r3.code, 1);
    assert.equal(r3.stderr, 'smkit: ERR_CLI_USAGE: --grace-seconds="200" is invalid: expected a number of seconds from 0 to 110.\n');
    assert.equal(readFileSync(path.join(base3, 'output/failure'), 'utf8'), 'ERR_CLI_USAGE: --grace-seconds="200" is invalid: expected a number of seconds from 0 to 110.');

    // A long argument is cut as a failure headline's command is, so the reason stays in FailureReason's 1024 characters.
    const base4 = tree(spec);
    const long = `--config=${'x'.repeat(5000)}`;
    const r4 = await runSmkit(['train', long], cleanEnv({ SAGEMAKER_BASE_DIR: base4 }));
    assert.equal(r4.code, 1);
    assert.ok(r4.stderr.includes(long), 'stderr shows the argument whole');
    const failure4 = readFileSync(path.join(base4, 'output/failure'), 'utf8');
    assert.equal(failure4, `error: unknown option '--config=${'x'.repeat(190)}…'\nUsage: smkit train [options]`);
    const r5 = await runSmkit(['train', '--grace-seconds', '9'.repeat(500)], cleanEnv({ SAGEMAKER_BASE_DIR: base4 }));
    assert.equal(r5.code, 1);
    assert.equal(readFileSync(path.join(base4, 'output/failure'), 'utf8'), `ERR_CLI_USAGE: --grace-seconds="${'9'.repeat(199)}…" is invalid: expected a number of seconds from 0 to 110.`);

    // Not a training tree (no input/config), --help, and other commands: nothing written.
    const bare = mkdtempSync(path.join(os.tmpdir(), 'smkit-train-bare-'));
    trees.push(bare);
    assert.equal((await runSmkit(['train', '--epochs', '3'], cleanEnv({ SAGEMAKER_BASE_DIR: bare }))).code, 1);
    assert.deepEqual(readdirSync(bare), []);
    const base6 = tree(spec);
    assert.equal((await runSmkit(['train', '--help'], cleanEnv({ SAGEMAKER_BASE_DIR: base6 }))).code, 0);
    assert.equal((await runSmkit(['local', '--bogus'], cleanEnv({ SAGEMAKER_BASE_DIR: base6 }))).code, 1);
    assert.equal(existsSync(path.join(base6, 'output')), false);
  });

  test('Pipe-mode channels: existing <channel>_<epoch> FIFOs are listed in SMKIT_PIPE_CHANNELS and readable as streams', { timeout: 60_000 }, async (t) => {
    try {
      execFileSync('mkfifo', ['--version'], { stdio: 'ignore' });
    } catch {
      t.skip('mkfifo is not available');
      return;
    }
    const base = tree({ hyperparameters: { sagemaker_program: '"read-pipe.mjs"' }, inputDataConfig: { train: { TrainingInputMode: 'Pipe' }, meta: { TrainingInputMode: 'File' } } });
    mkdirSync(path.join(base, 'input/data/meta'), { recursive: true });
    execFileSync('mkfifo', [path.join(base, 'input/data/train_0')]);
    writeFileSync(
      path.join(base, 'code/read-pipe.mjs'),
      [
        "import { createReadStream, writeFileSync } from 'node:fs';",
        "import path from 'node:path';",
        "const pipes = JSON.parse(process.env.SMKIT_PIPE_CHANNELS);",
        "let text = '';",
        "for await (const chunk of createReadStream(`${process.env.SM_CHANNEL_TRAIN}_0`)) text += chunk;",
        "writeFileSync(path.join(process.env.SM_OUTPUT_DATA_DIR, 'pipe.json'), JSON.stringify({ pipes, text }));",
      ].join('\n'),
    );
    const fifo = path.join(base, 'input/data/train_0');
    const run = runSmkit(['train'], cleanEnv({ SAGEMAKER_BASE_DIR: base }));
    // The writer side of the FIFO, as SageMaker's agent streams the S3 data; it blocks until read.
    let written = false;
    const writer = writeFile(fifo, '1,2,3\n4,5,6\n').then(() => (written = true));
    const r = await run;
    if (!written) closeSync(openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK)); // unblock the writer
    await writer;
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const out = JSON.parse(readFileSync(path.join(base, 'output/data/pipe.json'), 'utf8')) as { pipes: Record<string, string[]>; text: string };
    assert.deepEqual(out.pipes, { train: [path.join(base, 'input/data/train_0')] });
    assert.equal(out.text, '1,2,3\n4,5,6\n');
  });
});
