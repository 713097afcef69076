import { checkFolderToCreate, checkPath, invalidFlag, invalidPath, pathProblem } from '../config/flag-values.js';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ignoredShellContainerVariables, localTrainingEnv } from '../config/local-endpoint.js';
import { loadTrainingSettings } from '../config/training.js';
import { ToolkitError } from '../errors/catalogue.js';
import { shellWord } from '../core/shell-word.js';
import { createOptMlTreeSync } from '../opt-ml/layout.js';
import { listModelArchiveEntries } from '../archive/model-archive.js';
import { createLogger, type SmkitLogger } from '../logging/logger.js';
import { trainingPaths, type TrainingPaths } from './paths.js';
import { PY_JSON_DUMPS_DEFAULTS, PyDict, PyJsonError, pyJsonDumps, pyJsonLoads, type PyValue } from './py-json.js';
import { runTraining, type TrainingResult } from './runner.js';

/** Entry points tried, in order, when neither `--entry-point` nor `sagemaker_program` names one. */
export const DEFAULT_ENTRY_POINTS = ['train.mjs', 'train.js', 'train.cjs', 'train.sh', 'train.py'] as const;

/** `resourceconfig.json` of a local run, as SageMaker local mode writes it (https://github.com/aws/sagemaker-python-sdk, `sagemaker/local`). */
export const LOCAL_RESOURCE_CONFIG_JSON = { current_host: 'algo-1', hosts: ['algo-1'], network_interface_name: 'eth0', current_instance_type: 'local' };

/** Options of `smkit local train`. */
export interface LocalTrainOptions {
  /** Channels as `name → local directory or file`. */
  readonly channels: Readonly<Record<string, string>>;
  /** A JSON file of hyperparameters (values may be strings or any JSON; non-strings are JSON-encoded). */
  readonly hyperparametersFile?: string;
  /** Extra hyperparameters, `key → raw string value`, winning over the file. */
  readonly hyperparameters?: Readonly<Record<string, string>>;
  /** The directory holding the training code. */
  readonly codeDir: string;
  /** The entry point file inside `codeDir`. */
  readonly entryPoint?: string;
  /** Where the trained `model/` is copied. @defaultValue `./model` */
  readonly outputDir?: string;
  /** Keep the temporary tree after a successful run. @defaultValue false */
  readonly keep?: boolean;
  /** SIGTERM grace for the entry point, seconds. */
  readonly graceSeconds?: number;
}

/** What `smkit local train` produced. */
export interface LocalTrainResult extends TrainingResult {
  /** The temporary `/opt/ml` tree (removed after success unless `keep`). */
  readonly baseDir: string;
  /** Where the model was copied (on success). */
  readonly modelOutput?: string;
}

const CHANNEL_NAME = /^[A-Za-z0-9._-]+$/;

function usage(message: string): ToolkitError {
  return new ToolkitError('ERR_CLI_USAGE', message);
}

function readHyperparameterFile(file: string): PyDict {
  checkPath('--hyperparameters', file, 'file', 'a JSON file of hyperparameters');
  let parsed: PyValue;
  try {
    parsed = pyJsonLoads(readFileSync(file, 'utf8'));
  } catch (err) {
    throw usage(`--hyperparameters ${file} is not valid JSON (${err instanceof PyJsonError ? err.message : String(err)}).`);
  }
  if (!(parsed instanceof PyDict)) throw usage(`--hyperparameters ${file} must hold a JSON object such as {"epochs": "10"}.`);
  // hyperparameters.json is string → string; encode other values the way the SageMaker SDK's framework
  // estimators do (json.dumps(v): '[1, 2]', keys in their order), which a script reading the file sees.
  return new PyDict([...parsed.entries].map(([k, v]) => [k, typeof v === 'string' ? v : pyJsonDumps(v, PY_JSON_DUMPS_DEFAULTS)] as const));
}

function linkChannel(paths: TrainingPaths, name: string, source: string): void {
  // `.` and `..` pass SageMaker's pattern but name input/data itself or its parent.
  if (!CHANNEL_NAME.test(name) || name === '.' || name === '..') {
    throw usage(`--channel ${name}: channel names use letters, digits, '.', '-' and '_' only, and are not '.' or '..'.`);
  }
  const abs = path.resolve(source);
  try {
    statSync(abs);
  } catch (err) {
    throw invalidFlag('--channel', `${name}=${source}`, `NAME=PATH, a channel name and a local folder or file; ${abs} ${pathProblem(err)}`);
  }
  const target = path.join(paths.inputData, name);
  if (statSync(abs).isDirectory()) {
    symlinkSync(abs, target, 'dir');
  } else {
    mkdirSync(target);
    symlinkSync(abs, path.join(target, path.basename(abs)));
  }
}

/**
 * Builds a temporary `/opt/ml` tree (the `opt-ml-template/` layout) from local folders, writes the
 * three config files as SageMaker local mode does, and returns its paths.
 */
export function buildLocalTree(options: LocalTrainOptions, root: string): TrainingPaths {
  const paths = trainingPaths(path.join(root, 'opt', 'ml'));
  createOptMlTreeSync(paths.base, ['code']);

  const codeDir = path.resolve(options.codeDir);
  checkPath('--code', options.codeDir, 'directory', 'a directory with the training code');
  // Before training: found only after it, the trained model would not be copied there.
  if (options.outputDir !== undefined) checkFolderToCreate('--output', options.outputDir, 'a folder to copy the trained model/ into (created when missing)');
  symlinkSync(codeDir, paths.code, 'dir');

  const hps = options.hyperparametersFile ? readHyperparameterFile(options.hyperparametersFile) : new PyDict();
  for (const [k, v] of Object.entries(options.hyperparameters ?? {})) hps.entries.set(k, v);
  let entryPoint = options.entryPoint;
  if (entryPoint === undefined && !hps.has('sagemaker_program')) {
    entryPoint = DEFAULT_ENTRY_POINTS.find((f) => existsSync(path.join(codeDir, f)));
    if (entryPoint === undefined) throw usage(`--entry-point is required: ${codeDir} has none of ${DEFAULT_ENTRY_POINTS.join(', ')}.`);
  }
  if (entryPoint !== undefined) hps.entries.set('sagemaker_program', JSON.stringify(entryPoint));

  const channels = Object.entries(options.channels);
  for (const [name, source] of channels) linkChannel(paths, name, source);
  const inputDataConfig = Object.fromEntries(channels.map(([name]) => [name, { TrainingInputMode: 'File' }]));

  writeFileSync(paths.hyperparametersFile, pyJsonDumps(hps) + '\n');
  writeFileSync(paths.inputDataConfigFile, JSON.stringify(inputDataConfig) + '\n');
  writeFileSync(paths.resourceConfigFile, JSON.stringify(LOCAL_RESOURCE_CONFIG_JSON) + '\n');
  return paths;
}

/**
 * Copies the trained `model/` to `to` as `model.tar.gz` would hold it: a symbolic link inside it
 * as the file or folder it points to (`cpSync` kept it a link, made absolute, into the temporary
 * tree that is removed after the run), one that leads out of it or nowhere left out with a
 * warning, `.git` and `.DS_Store` skipped, a file removed while copying (by a process the entry
 * point left running) left out with a warning. Files already at `to` with the same names are replaced.
 */
async function copyModel(from: string, to: string, log: SmkitLogger): Promise<void> {
  const entries = await listModelArchiveEntries(from, {
    maxEntries: Infinity,
    maxDirectories: Infinity,
    maxFolderLevels: Infinity,
    checkNames: false,
    onLinkLeftOut: (link, why) => log.warn({ link, why }, 'a symbolic link in model/ is not copied'),
    onVanished: (file) => log.warn({ file }, 'a file of model/ was removed while it was being copied; it is left out'),
  });
  mkdirSync(to, { recursive: true });
  for (const entry of entries) {
    const target = path.join(to, entry);
    if (entry.endsWith('/')) {
      mkdirSync(target, { recursive: true });
      continue;
    }
    mkdirSync(path.dirname(target), { recursive: true });
    // A link left there by an earlier copy would be written through.
    rmSync(target, { force: true });
    try {
      copyFileSync(path.join(from, entry), target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || existsSync(path.join(from, entry))) throw err;
      log.warn({ file: path.join(from, entry) }, 'a file of model/ was removed while it was being copied; it is left out');
    }
  }
}

/**
 * `smkit local train`: builds a temporary tree, runs the same runner as `smkit train` against it,
 * then copies the resulting `model/` to `outputDir`, ready for `smkit serve --model-dir`.
 */
export async function localTrain(options: LocalTrainOptions): Promise<LocalTrainResult> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'smkit-train-'));
  let paths: TrainingPaths;
  try {
    paths = buildLocalTree(options, root);
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  const jobName = `smkit-local-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  const settings = loadTrainingSettings(localTrainingEnv(), { baseDir: paths.base, graceSeconds: options.graceSeconds, extraEnv: { TRAINING_JOB_NAME: jobName } });
  const log = createLogger(settings.logLevel, { component: 'local-train' }, settings.logFormat);
  // Left out of the job, as on SageMaker: say so, as smkit local does, rather than drop them without a word.
  const ignored = ignoredShellContainerVariables();
  if (ignored.length > 0) {
    const many = ignored.length > 1;
    log.warn(
      { variables: ignored },
      `${ignored.join(', ')} ${many ? 'are' : 'is'} set in this shell, but a training job does not get ${many ? 'them' : 'it'} (SageMaker sets its own SM_ variables from the job): give the script with --entry-point and hyperparameters with --hp`,
    );
  }
  log.info({ baseDir: paths.base, channels: options.channels, code: path.resolve(options.codeDir) }, 'local training tree ready');
  const result = await runTraining({ settings, logger: log });
  if (result.exitCode !== 0) {
    log.error({ baseDir: paths.base, failureFile: paths.failureFile }, 'training failed; the tree is kept for inspection');
    return { ...result, baseDir: paths.base };
  }
  const modelOutput = path.resolve(options.outputDir ?? 'model');
  let saved: boolean;
  try {
    const real = realpathSync(paths.model);
    // A link out of the tree in model/'s place (the entry point runs as this user) leads to the host's files: the
    // local SageMaker uploads an empty model.tar.gz for it, and nothing is copied here either.
    if (!real.startsWith(realpathSync(paths.base) + path.sep)) {
      log.warn({ modelDir: paths.model, leadsTo: real }, "model/ leads out of the training tree (the entry point replaced it with a symbolic link); what it leads to is not copied");
      saved = false;
    } else {
      saved = readdirSync(real).length > 0;
    }
  } catch {
    saved = false; // The entry point removed model/, or left a link to nowhere in its place.
  }
  if (!saved) {
    // The runner has said why (the entry point saved nothing in SM_MODEL_DIR): there is nothing to copy or serve.
    log.warn({ modelOutput, outputData: options.keep ? paths.outputData : undefined }, `no model written to ${modelOutput}: the entry point saved nothing in SM_MODEL_DIR`);
  } else {
    await copyModel(paths.model, modelOutput, log);
    log.info({ modelOutput, outputData: options.keep ? paths.outputData : undefined }, `model written; serve it with: smkit serve --model-dir ${shellWord(modelOutput)}`);
  }
  if (!options.keep) rmSync(root, { recursive: true, force: true });
  return { ...result, baseDir: paths.base, modelOutput };
}
