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
    if (isToolkitError(err)) await recordFailure(opts.baseDir, `${err.code}: ${err.message}`);
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
 * Writes `reason` to `<base>/output/failure`, where SageMaker takes `FailureReason` from, when
 * `<base>` is a training tree: one without `input/config` is left alone, as {@link train} leaves it.
 * For failures before the entry point's run can write one: settings that cannot be read (the job's
 * `Environment` reaches smkit's own settings too), flags smkit train does not take.
 */
async function recordFailure(baseDirFlag: string | undefined, reason: string): Promise<void> {
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
  writeFailure(paths.failureFile, reason);
}

/**
 * Makes a usage error of `smkit train` (a flag or argument it does not take, from the job's
 * `ContainerArguments` or the image's CMD) reach `<base>/output/failure` too: the parser stops
 * before {@link train} runs, so the job failed with no `FailureReason`. Watches what the parser
 * prints for `program`'s train command; the function returned is called with what the run threw,
 * after it was printed, and writes the message as printed (the parser's, with the usage line of
 * the help after it, or `CODE: message` for smkit's own) with long arguments cut as in a failure headline.
 */
export function recordUsageErrors(program: Command, args: readonly string[]): (err: unknown) => Promise<void> {
  const command = program.commands.find((c) => c.name() === 'train');
  if (command === undefined) return async () => {};
  // Once the action runs, its own failures are train()'s to record (it writes them itself).
  let acting = false;
  command.hook('preAction', () => {
    acting = true;
  });
  let printed = '';
  const { outputError = (text: string, write: (text: string) => void) => write(text) } = command.configureOutput();
  command.configureOutput({
    outputError: (text, write) =>
      outputError(text, (shown) => {
        printed += shown;
        write(shown);
      }),
  });
  return async (err) => {
    if (acting) return;
    let reason: string;
    if (isToolkitError(err) && err.code === 'ERR_CLI_USAGE') reason = `${err.code}: ${err.message}`;
    else if (err instanceof Error && /^commander\./.test(String((err as { code?: unknown }).code)) && (err as { exitCode?: unknown }).exitCode !== 0) {
      reason = `${(printed || err.message).trimEnd()}\n${command.helpInformation().split('\n')[0]}`;
    } else return;
    const baseDir = command.getOptionValue('baseDir') as string | undefined;
    const { shortenArguments } = await import('../../train/outcome.js');
    await recordFailure(baseDir || undefined, shortenArguments(reason, args));
  };
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
