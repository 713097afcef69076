import { existsSync, readFileSync } from 'node:fs';
import { ToolkitError } from '../errors/catalogue.js';
import { excerpt } from '../errors/excerpt.js';
import { channelPath, type TrainingPaths } from './paths.js';
import { PyDict, PyInt, PyJsonError, parseHyperparameterValue, pyJsonDumps, pyJsonLoads, pyStr, pyTruthy, sortedKeys, type PyValue } from './py-json.js';

/** Hyperparameters STT reserves (its `params.SAGEMAKER_HYPERPARAMETERS`); never user arguments. */
export const SAGEMAKER_HYPERPARAMETERS = [
  'sagemaker_program',
  'sagemaker_submit_directory',
  'sagemaker_enable_cloudwatch_metrics',
  'sagemaker_region',
  'sagemaker_container_log_level',
  'sagemaker_job_name',
  'default_user_module_name',
  '_tuning_objective_metric',
  'sagemaker_s3_output',
] as const;

/** STT `get_distribution_instance_groups_from_resource_config`: any of these truthy puts the current group in the distribution. */
const DISTRIBUTION_FLAGS = [
  'sagemaker_mpi_enabled',
  'sagemaker_parameter_server_enabled',
  'sagemaker_distributed_dataparallel_enabled',
  'sagemaker_pytorch_ddp_enabled',
  'sagemaker_pytorch_xla_multi_worker_enabled',
  'sagemaker_multi_worker_mirrored_strategy_enabled',
  'sagemaker_torch_distributed_enabled',
];

/** The three config files of `<base>/input/config`, parsed with Python JSON semantics. */
export interface TrainingConfig {
  /** `hyperparameters.json` as written (string values not yet parsed). */
  readonly hyperparameters: PyDict;
  readonly inputDataConfig: PyDict;
  readonly resourceConfig: PyDict;
  /** Files that were absent and replaced by defaults (for a log line). */
  readonly defaulted: readonly string[];
}

/** `resourceconfig.json` used when the file is absent: one local host, as SageMaker local mode writes it. */
export const LOCAL_RESOURCE_CONFIG = { current_host: 'algo-1', hosts: ['algo-1'], network_interface_name: 'eth0' } as const;

function readJsonObject(file: string, fallback: PyDict, defaulted: string[]): PyDict {
  if (!existsSync(file)) {
    defaulted.push(file);
    return fallback;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ToolkitError('ERR_TRAIN_CONFIG_INVALID', `${file} could not be read (${(err as Error).message}).`, { cause: err });
  }
  // Python's json.loads refuses a BOM too ("Unexpected UTF-8 BOM"); say so rather than "position 0".
  if (text.startsWith('\ufeff')) throw new ToolkitError('ERR_TRAIN_CONFIG_INVALID', `${file} starts with a UTF-8 byte-order mark; save it as UTF-8 without one.`);
  let parsed: PyValue;
  try {
    parsed = pyJsonLoads(text);
  } catch (err) {
    const why = err instanceof PyJsonError ? err.message : String(err);
    throw new ToolkitError('ERR_TRAIN_CONFIG_INVALID', `${file} is not valid JSON (${why}); fix or remove the file.`, { cause: err });
  }
  if (!(parsed instanceof PyDict)) throw new ToolkitError('ERR_TRAIN_CONFIG_INVALID', `${file} must hold a JSON object.`);
  return parsed;
}

/** Reads `hyperparameters.json`, `inputdataconfig.json` and `resourceconfig.json`; absent files get defaults. */
export function readTrainingConfig(paths: TrainingPaths): TrainingConfig {
  const defaulted: string[] = [];
  const local = new PyDict([
    ['current_host', LOCAL_RESOURCE_CONFIG.current_host],
    ['hosts', [...LOCAL_RESOURCE_CONFIG.hosts]],
    ['network_interface_name', LOCAL_RESOURCE_CONFIG.network_interface_name],
  ]);
  const config = {
    hyperparameters: readJsonObject(paths.hyperparametersFile, new PyDict(), defaulted),
    inputDataConfig: readJsonObject(paths.inputDataConfigFile, new PyDict(), defaulted),
    resourceConfig: readJsonObject(paths.resourceConfigFile, local, defaulted),
    defaulted,
  };
  const rc = config.resourceConfig;
  const hosts = rc.get('hosts');
  if (typeof rc.get('current_host') !== 'string' || !Array.isArray(hosts) || hosts.length === 0 || hosts.some((h) => typeof h !== 'string')) {
    throw new ToolkitError('ERR_TRAIN_CONFIG_INVALID', `${paths.resourceConfigFile} needs "current_host" (a string) and "hosts" (a non-empty list of strings).`);
  }
  return config;
}

/** Facts about the machine and process that feed the environment. */
export interface EnvironmentFacts {
  readonly paths: TrainingPaths;
  readonly numCpus: number;
  readonly numGpus: number;
  /** Neuron cores `neuron-ls -j` lists (`detectNeuronCores`); a `trn2.48xlarge` has 64 whatever this says, as in STT. @defaultValue 0 */
  readonly numNeurons?: number;
  /** `SAGEMAKER_PROGRAM`. */
  readonly programEnv?: string;
  /** `SAGEMAKER_TRAINING_MODULE`. */
  readonly trainingModule?: string;
  /** `TRAINING_JOB_NAME`. */
  readonly jobName?: string;
  /** `SM_HP_MP_PARAMETERS`. */
  readonly modelParallelParameters?: string;
}

/**
 * Refuses what an entry point cannot be given: a variable name holding `=` (the script would see
 * `SM_HP_A` set to `B=value` for a hyperparameter `a=b`) or NUL, a value holding NUL (the process
 * cannot start; the arguments come from the same values). STT fails such a job too: Python refuses
 * them in `os.environ`.
 */
function checkPassable(vars: Readonly<Record<string, string>>): void {
  for (const [name, value] of Object.entries(vars)) {
    const at = /[=\0]/.exec(name)?.[0] ?? (value.includes('\0') ? 'value' : undefined);
    if (at === undefined) continue;
    const what = at === 'value' ? 'its value holds a NUL character' : at === '=' ? "its name holds '='" : 'its name holds a NUL character';
    const source = name.startsWith('SM_HP_') ? 'a hyperparameter' : 'the training config';
    throw new ToolkitError('ERR_TRAIN_CONFIG_INVALID', `${source} cannot be passed as the environment variable ${excerpt(JSON.stringify(name), 300)}: ${what}; rename it or change its value.`);
  }
}

/** The training environment as STT's `Environment` derives it (https://github.com/aws/sagemaker-training-toolkit). */
export interface TrainingEnvironment {
  /** User hyperparameters (no `sagemaker_*` keys), values JSON-parsed. */
  readonly hyperparameters: PyDict;
  /** `sagemaker_*` hyperparameters outside STT's reserved list. */
  readonly additionalFrameworkParameters: PyDict;
  /** The reserved and `sagemaker_*` hyperparameters, values parsed. */
  readonly sagemakerHyperparameters: PyDict;
  /** The entry point file name, or undefined when neither `SAGEMAKER_PROGRAM` nor `sagemaker_program` is set. */
  readonly userEntryPoint?: string;
  /** `sagemaker_submit_directory`, when given. */
  readonly submitDirectory?: string;
  readonly channels: readonly string[];
  readonly currentHost: string;
  readonly hosts: readonly string[];
  readonly jobName: string;
  readonly region?: string;
  /** Command-line arguments for the entry point (`SM_USER_ARGS`). */
  readonly userArgs: readonly string[];
  /** Every `SM_*` variable, names and values exactly as STT writes them. */
  readonly vars: Readonly<Record<string, string>>;
}

function stringList(v: PyValue | undefined): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function dictList(v: PyValue | undefined): PyDict[] {
  return Array.isArray(v) ? v.filter((x): x is PyDict => x instanceof PyDict) : [];
}

/** STT `mapping.to_cmd_args`: sorted keys, `--name value` (`-n` for one character), dicts as `k=v,k2=v2`. */
export function toCmdArgs(mapping: PyDict): string[] {
  const out: string[] = [];
  for (const key of sortedKeys(mapping.entries.keys())) {
    const name = key === '' ? '' : [...key].length > 1 ? `--${key}` : `-${key}`;
    const value = mapping.get(key)!;
    let arg: string;
    if (value instanceof PyDict) {
      arg = sortedKeys(value.entries.keys())
        .map((k) => `${k}=${pyStr(value.get(k)!)}`)
        .join(',');
    } else {
      arg = value === null ? '' : pyStr(value);
    }
    out.push(name, arg);
  }
  return out;
}

/** STT `mapping.to_env_vars` value rule: strings verbatim, `None` empty, the rest compact sorted JSON. */
export function formatEnvValue(v: PyValue): string {
  if (v === null) return '';
  if (typeof v === 'string') return v;
  return pyJsonDumps(v);
}

/**
 * Derives the training environment and its `SM_*` variables from the config files, following STT's
 * `Environment.__init__` and `to_env_vars` key by key.
 */
export function buildTrainingEnvironment(config: TrainingConfig, facts: EnvironmentFacts): TrainingEnvironment {
  const { paths } = facts;
  const all = new PyDict([...config.hyperparameters.entries].map(([k, v]) => [k, parseHyperparameterValue(v)] as const));
  const reserved = new Set<string>(SAGEMAKER_HYPERPARAMETERS);
  const sagemakerHps = new PyDict([...all.entries].filter(([k]) => reserved.has(k) || k.startsWith('sagemaker_')));
  const userHps = new PyDict([...all.entries].filter(([k]) => !sagemakerHps.has(k)));
  const frameworkParams = new PyDict([...sagemakerHps.entries].filter(([k]) => !reserved.has(k)));

  const rc = config.resourceConfig;
  const hosts = stringList(rc.get('hosts'));
  const currentHost = rc.get('current_host') as string;
  const currentInstanceType = rc.get('current_instance_type') ?? 'local';
  const currentInstanceGroup = rc.get('current_group_name') ?? 'homogeneousCluster';
  const networkInterfaceName = rc.get('network_interface_name') ?? 'eth0';
  const groupsConfig = dictList(rc.get('instance_groups'));
  // STT's num_neurons: `"trn2.48xlarge" in instance_type` gives 64 without asking neuron-ls.
  const numNeurons = typeof currentInstanceType === 'string' && currentInstanceType.includes('trn2.48xlarge') ? 64 : (facts.numNeurons ?? 0);

  const programHp = sagemakerHps.get('sagemaker_program');
  const moduleNameRaw = facts.programEnv ?? pyStr(programHp ?? null);
  const moduleName = moduleNameRaw.endsWith('.py') ? moduleNameRaw.slice(0, -3) : moduleNameRaw;
  const userEntryPoint: PyValue = facts.programEnv ?? (programHp === undefined ? null : programHp);
  const moduleDir = pyStr(sagemakerHps.get('sagemaker_submit_directory') ?? paths.code);
  const logLevel = sagemakerHps.get('sagemaker_container_log_level') ?? new PyInt(20n);

  const channelInputDirs = new PyDict(config.inputDataConfig.keys().map((c) => [c, channelPath(paths, c)] as const));
  const channels = sortedKeys(channelInputDirs.keys());

  const currentGroupHosts: PyValue = groupsConfig.find((g) => g.get('instance_group_name') === currentInstanceGroup)?.get('hosts') ?? [];
  const instanceGroups: PyValue[] = groupsConfig.map((g) => g.get('instance_group_name') ?? null);
  const instanceGroupsDict = new PyDict(groupsConfig.map((g) => [pyStr(g.get('instance_group_name') ?? null), g] as const));
  const distributionInstanceGroups: PyValue =
    frameworkParams.get('sagemaker_distribution_instance_groups') ??
    (DISTRIBUTION_FLAGS.some((f) => pyTruthy(frameworkParams.get(f))) ? [currentInstanceGroup] : []);
  const distNames = Array.isArray(distributionInstanceGroups) ? distributionInstanceGroups : [];
  const distributionHosts: PyValue[] =
    groupsConfig.length > 0
      ? groupsConfig.filter((g) => distNames.some((n) => n === g.get('instance_group_name'))).flatMap((g) => (Array.isArray(g.get('hosts')) ? (g.get('hosts') as PyValue[]) : []))
      : [...hosts];
  const masterHostname = distributionHosts.length > 0 ? distributionHosts[0]! : hosts[0]!;
  const mp = facts.modelParallelParameters;
  // STT: `mp_parameters and mp_parameters != "{}"` (None when unset, the empty string when empty).
  const isModelParallel: PyValue = mp === undefined ? null : mp === '' ? '' : mp !== '{}';
  // STT: `resource_config.get("topology", [])`, exported as SM_TOPOLOGY only when truthy.
  const topology = rc.has('topology') ? rc.get('topology')! : [];
  const userArgs = toCmdArgs(userHps);
  const jobName = pyStr(sagemakerHps.get('sagemaker_job_name') ?? '');
  const regionHp = sagemakerHps.get('sagemaker_region');

  const trainingEnv = new PyDict([
    ['additional_framework_parameters', frameworkParams],
    ['channel_input_dirs', channelInputDirs],
    ['current_host', currentHost],
    ['current_instance_group', currentInstanceGroup],
    ['current_instance_group_hosts', currentGroupHosts],
    ['current_instance_type', currentInstanceType],
    ['distribution_hosts', distributionHosts],
    ['distribution_instance_groups', distributionInstanceGroups],
    ['framework_module', facts.trainingModule ?? null],
    ['hosts', [...hosts]],
    ['hyperparameters', userHps],
    ['input_config_dir', paths.inputConfig],
    ['input_data_config', config.inputDataConfig],
    ['input_dir', paths.input],
    ['instance_groups', instanceGroups],
    ['instance_groups_dict', instanceGroupsDict],
    ['is_hetero', instanceGroups.length > 1],
    ['is_master', currentHost === masterHostname],
    ['is_modelparallel_enabled', isModelParallel],
    ['is_smddpmprun_installed', false],
    ['is_smddprun_installed', false],
    ['job_name', facts.jobName ?? null],
    ['log_level', logLevel],
    ['master_hostname', masterHostname],
    ['model_dir', paths.model],
    ['module_dir', moduleDir],
    ['module_name', moduleName],
    ['network_interface_name', networkInterfaceName],
    ['num_cpus', new PyInt(BigInt(facts.numCpus))],
    ['num_gpus', new PyInt(BigInt(facts.numGpus))],
    ['num_neurons', new PyInt(BigInt(numNeurons))],
    ['output_data_dir', paths.outputData],
    ['output_dir', paths.output],
    ['output_intermediate_dir', paths.outputIntermediate],
    ['resource_config', rc],
    ['topology', topology],
    ['user_entry_point', userEntryPoint],
  ]);

  const env: [string, PyValue][] = [
    ['hosts', [...hosts]],
    ['network_interface_name', networkInterfaceName],
    ['hps', userHps],
    ['user_entry_point', userEntryPoint],
    ['framework_params', frameworkParams],
    ['resource_config', rc],
    ['input_data_config', config.inputDataConfig],
    ['output_data_dir', paths.outputData],
    ['channels', channels],
    ['current_host', currentHost],
    ['current_instance_type', currentInstanceType],
    ['current_instance_group', currentInstanceGroup],
    ['current_instance_group_hosts', currentGroupHosts],
    ['instance_groups', instanceGroups],
    ['instance_groups_dict', instanceGroupsDict],
    ['distribution_instance_groups', distributionInstanceGroups],
    ['is_hetero', instanceGroups.length > 1],
    ['module_name', moduleName],
    ['log_level', logLevel],
    ['framework_module', facts.trainingModule ?? null],
    ['input_dir', paths.input],
    ['input_config_dir', paths.inputConfig],
    ['output_dir', paths.output],
    ['num_cpus', new PyInt(BigInt(facts.numCpus))],
    ['num_gpus', new PyInt(BigInt(facts.numGpus))],
    ['num_neurons', new PyInt(BigInt(numNeurons))],
    ['model_dir', paths.model],
    ['module_dir', moduleDir],
    ['training_env', trainingEnv],
    ['user_args', userArgs],
    ['output_intermediate_dir', paths.outputIntermediate],
  ];
  if (pyTruthy(topology)) env.push(['topology', topology]);
  for (const [name, dir] of channelInputDirs.entries) env.push([`channel_${name}`, dir]);
  for (const [name, value] of userHps.entries) env.push([`hp_${name}`, value]);

  const vars: Record<string, string> = {};
  for (const [key, value] of env) vars[`SM_${key.toUpperCase()}`] = formatEnvValue(value);
  checkPassable(vars);

  return {
    hyperparameters: userHps,
    additionalFrameworkParameters: frameworkParams,
    sagemakerHyperparameters: sagemakerHps,
    userEntryPoint: userEntryPoint === null ? undefined : pyStr(userEntryPoint),
    submitDirectory: sagemakerHps.has('sagemaker_submit_directory') ? pyStr(sagemakerHps.get('sagemaker_submit_directory')!) : undefined,
    channels,
    currentHost,
    hosts,
    jobName,
    region: regionHp === undefined || regionHp === null ? undefined : pyStr(regionHp),
    userArgs,
    vars: Object.freeze(vars),
  };
}
