import type { Command } from 'commander';
import { ExitError } from '../main.js';

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
  const { loadTrainingSettings } = await import('../../config/training.js');
  const { runTraining } = await import('../../train/runner.js');
  const settings = loadTrainingSettings(process.env, { baseDir: opts.baseDir, graceSeconds: opts.graceSeconds });
  const result = await runTraining({ settings });
  if (result.exitCode !== 0) throw new ExitError(result.exitCode);
}

/** Registers `smkit train`. */
export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('Run a SageMaker training job the way `docker run <image> train` does: read <base>/input/config, export SM_*, run the entry point')
    .option('--base-dir <dir>', 'the /opt/ml tree (default: SAGEMAKER_BASE_DIR or /opt/ml)')
    .option('--grace-seconds <s>', 'after SIGTERM, seconds before the entry point is killed, 0-110 (default: SMKIT_TRAIN_GRACE_SECONDS or 90)', (v) => Number(v))
    .action(async (opts: TrainCommandOptions) => {
      await train(opts);
    });
}
