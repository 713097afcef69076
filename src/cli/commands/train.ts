import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { isToolkitError, ToolkitError } from '../../errors/catalogue.js';
import { ExitError } from '../exit-error.js';
import { MAX_TRAIN_GRACE_SECONDS } from '../../config/training.js';
import { checkPath, secondsFlag } from '../../config/flag-values.js';

/** Options of `smkit train`. */
export interface TrainCommandOptions {
  /** The `/opt/ml` tree (default: `SAGEMAKER_BASE_DIR` or `/opt/ml`). */
  baseDir?: string;
  /** SIGTERM grace before the entry point is killed (default: `SMKIT_TRAIN_GRACE_SECONDS` or 90). */
  graceSeconds?: number;
}

/**
 * `smkit train`: what SageMaker runs as `docker run <image> train`. Exits with the entry point's
 * exit code (0 on success), after writing `output/success` or `output/failure`.
 */
export async function train(opts: TrainCommandOptions): Promise<void> {
  // A tree that is not there would be created, output/failure and all, from a mistyped path.
  if (opts.baseDir !== undefined) checkPath('--base-dir', opts.baseDir, 'directory', 'an /opt/ml tree, such as a copy of opt-ml-template/');
  const { loadTrainingSettings } = await import('../../config/training.js');
  const { runTraining } = await import('../../train/runner.js');
  let settings: ReturnType<typeof loadTrainingSettings>;
  try {
    settings = loadTrainingSettings(process.env, { baseDir: opts.baseDir, graceSeconds: opts.graceSeconds });
  } catch (err) {
    await recordSettingsFailure(opts.baseDir, err);
    throw err;
  }
  // SageMaker always writes <base>/input/config; without it and without a chosen tree this is not a
  // training container, and writing <base>/output/failure would only litter the host.
  if (settings.baseDirIsDefault && !existsSync(path.join(settings.baseDir, 'input', 'config'))) {
    throw new ToolkitError(
      'ERR_TRAIN_CONFIG_INVALID',
      `${path.join(settings.baseDir, 'input', 'config')} does not exist, so this is not a SageMaker training container; nothing was written. ` +
        'Pass --base-dir (or SAGEMAKER_BASE_DIR) with an /opt/ml tree, for example a copy of opt-ml-template/, or run smkit local train --code DIR --channel NAME=PATH',
    );
  }
  const result = await runTraining({ settings });
  if (result.exitCode !== 0) throw new ExitError(result.exitCode);
}

/**
 * Writes why the settings could not be read to `<base>/output/failure`, where SageMaker takes
 * `FailureReason` from (the job's `Environment` reaches smkit's own settings too), when `<base>` is
 * a training tree: one without `input/config` is left alone, as {@link train} leaves it.
 */
async function recordSettingsFailure(baseDirFlag: string | undefined, err: unknown): Promise<void> {
  if (!isToolkitError(err)) return;
  const { trainingBaseDir } = await import('../../config/training.js');
  const base = trainingBaseDir(process.env, baseDirFlag);
  if (!existsSync(path.join(base, 'input', 'config'))) return;
  const { trainingPaths } = await import('../../train/paths.js');
  const { clearOutcome, writeFailure } = await import('../../train/outcome.js');
  const paths = trainingPaths(base);
  try {
    // An earlier run's outcome would otherwise stand for this one, or keep this reason out.
    clearOutcome([paths.successFile, paths.failureFile]);
  } catch {
    // writeFailure says whether it could write; the error is reported either way.
  }
  writeFailure(paths.failureFile, `${err.code}: ${err.message}`);
}

/** Registers `smkit train`. */
export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('Run a SageMaker training job the way `docker run <image> train` does: read <base>/input/config, export SM_*, run the entry point')
    .option('--base-dir <dir>', 'the /opt/ml tree (default: SAGEMAKER_BASE_DIR or /opt/ml)')
    .option('--grace-seconds <s>', 'after SIGTERM, seconds before the entry point is killed, 0-110 (default: SMKIT_TRAIN_GRACE_SECONDS or 90)', secondsFlag('--grace-seconds', 0, MAX_TRAIN_GRACE_SECONDS))
    .action(async (opts: TrainCommandOptions) => {
      await train(opts);
    });
}
