import path from 'node:path';
import type { VariableName } from '../core/smkit-variables.js';
import { invalidFlag } from './flag-values.js';
import { invalid, LOG_LEVEL_FORMS, parseLogLevel, readLogFormat, readNumber, type LogFormat, type LogLevel } from './settings.js';

type Env = Readonly<Record<string, string | undefined>>;

/** Longest allowed SIGTERM grace: SageMaker sends SIGKILL 120 s after SIGTERM (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-running-container.html). */
export const MAX_TRAIN_GRACE_SECONDS = 110;

/**
 * Everything `smkit train` reads from the environment, validated and frozen. The only place the
 * training side reads `process.env`.
 */
export interface TrainingSettings {
  /** `SAGEMAKER_BASE_DIR`, made absolute. @defaultValue `/opt/ml` */
  readonly baseDir: string;
  /** True when neither a flag nor `SAGEMAKER_BASE_DIR` chose the tree (it is the default `/opt/ml`). */
  readonly baseDirIsDefault: boolean;
  /** `SAGEMAKER_PROGRAM`: the entry point file in the code directory (wins over the `sagemaker_program` hyperparameter). */
  readonly program?: string;
  /** `SAGEMAKER_SUBMIT_DIRECTORY`: a local directory or `.tar.gz` holding the code, used when `<base>/code` is empty. */
  readonly submitDirectory?: string;
  /** `SAGEMAKER_TRAINING_MODULE`, reported as `SM_FRAMEWORK_MODULE` (smkit does not import it). */
  readonly trainingModule?: string;
  /** `TRAINING_JOB_NAME`, set by SageMaker. */
  readonly jobName?: string;
  /** `AWS_REGION` or `AWS_DEFAULT_REGION`, the fallback for `SAGEMAKER_REGION`. */
  readonly region?: string;
  /** `SM_HP_MP_PARAMETERS`, read by STT to report `is_modelparallel_enabled`. */
  readonly modelParallelParameters?: string;
  /** `SMKIT_TRAIN_GRACE_SECONDS`: after forwarding SIGTERM, how long the entry point may run before SIGKILL. @defaultValue 90 (max 110) */
  readonly graceSeconds: number;
  /** `SMKIT_LOG_LEVEL` for smkit's own log lines. @defaultValue `info` */
  readonly logLevel: LogLevel;
  /** `SMKIT_LOG_FORMAT`: JSON lines, or readable lines on a terminal (as `smkit serve`). @defaultValue `auto` */
  readonly logFormat: LogFormat;
  /** The environment the entry point inherits (before the `SM_*` variables are added). */
  readonly inheritedEnv: Readonly<Record<string, string>>;
}

/** Values that win over the environment (`smkit local train` flags). */
export interface TrainingOverrides {
  baseDir?: string;
  program?: string;
  graceSeconds?: number;
  extraEnv?: Record<string, string>;
}

function str(env: Env, name: VariableName): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/**
 * The training tree `smkit train` uses: `baseDir` (the `--base-dir` flag) when given, else
 * `SAGEMAKER_BASE_DIR`, else `/opt/ml`, made absolute. Read alone (it cannot be invalid), so a run
 * whose other settings are invalid still knows where to write `output/failure`.
 */
export function trainingBaseDir(env: Env = process.env, baseDir?: string): string {
  return path.resolve(baseDir ?? str(env, 'SAGEMAKER_BASE_DIR') ?? '/opt/ml');
}

/**
 * Reads, validates and freezes the training settings. Throws `ERR_CONFIG_INVALID` naming the
 * variable on an invalid value, or `ERR_CLI_USAGE` on an invalid `--grace-seconds` override.
 */
export function loadTrainingSettings(env: Env = process.env, overrides: TrainingOverrides = {}): Readonly<TrainingSettings> {
  const graceSeconds = overrides.graceSeconds ?? readNumber(env, 'SMKIT_TRAIN_GRACE_SECONDS', 90, 0, MAX_TRAIN_GRACE_SECONDS);
  if (!(graceSeconds >= 0 && graceSeconds <= MAX_TRAIN_GRACE_SECONDS)) {
    throw invalidFlag('--grace-seconds', String(graceSeconds), `a number of seconds from 0 to ${MAX_TRAIN_GRACE_SECONDS}`);
  }
  const rawLevel = str(env, 'SMKIT_LOG_LEVEL');
  const logLevel = rawLevel === undefined ? 'info' : parseLogLevel(rawLevel);
  if (!logLevel) {
    // The forms smkit serve takes, named as its error names them: a Python number between the levels (25) is none.
    throw invalid('SMKIT_LOG_LEVEL', rawLevel ?? '', LOG_LEVEL_FORMS);
  }
  const inheritedEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) inheritedEnv[k] = v;
  Object.assign(inheritedEnv, overrides.extraEnv ?? {});
  const settings: TrainingSettings = {
    baseDir: trainingBaseDir(env, overrides.baseDir),
    baseDirIsDefault: overrides.baseDir === undefined && str(env, 'SAGEMAKER_BASE_DIR') === undefined,
    program: overrides.program ?? str(env, 'SAGEMAKER_PROGRAM'),
    submitDirectory: str(env, 'SAGEMAKER_SUBMIT_DIRECTORY'),
    trainingModule: str(env, 'SAGEMAKER_TRAINING_MODULE'),
    jobName: overrides.extraEnv?.['TRAINING_JOB_NAME'] ?? str(env, 'TRAINING_JOB_NAME'),
    region: str(env, 'AWS_REGION') ?? str(env, 'AWS_DEFAULT_REGION'),
    modelParallelParameters: env['SM_HP_MP_PARAMETERS'],
    graceSeconds,
    logLevel,
    logFormat: readLogFormat(env),
    inheritedEnv: Object.freeze(inheritedEnv),
  };
  return Object.freeze(settings);
}
