import type { Command } from 'commander';
import { ToolkitError } from '../../errors/catalogue.js';
import { ExitError } from '../exit-error.js';
import { MAX_TRAIN_GRACE_SECONDS } from '../../config/training.js';
import { pairValue, secondsFlag } from '../../config/flag-values.js';

/** Options of `smkit local train`, as parsed by commander. */
export interface LocalTrainCommandOptions {
  channel: string[];
  hyperparameters?: string;
  hp: string[];
  code: string;
  entryPoint?: string;
  output?: string;
  keep?: boolean;
  graceSeconds?: number;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * The NAME=VALUE pairs of a repeatable flag. A name given twice takes its last value (`--hp lr=0.1
 * --hp lr=0.2`, as docker's `-e` does), but with `unique` it is `ERR_CLI_USAGE`: a channel is one
 * folder (SageMaker refuses a training job whose channels share a name), and `--channel train=a
 * --channel train=b` trained on b alone without a word.
 */
function pairs(flag: string, values: readonly string[], expected: string, unique = false): Record<string, string> {
  // No prototype: a channel or hyperparameter may be named `__proto__` (legal in SageMaker), which a
  // plain object's setter would swallow.
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const v of values) {
    const [name, value] = pairValue(flag, v, expected);
    if (unique && name in out) {
      throw new ToolkitError('ERR_CLI_USAGE', `${flag} ${name} is given twice (${name}=${out[name]} and ${v}): a channel is one folder or file, and each channel needs its own name`);
    }
    out[name] = value;
  }
  return out;
}

/** `smkit local train`: trains against local folders and leaves the model ready to serve. */
export async function localTrainCommand(opts: LocalTrainCommandOptions): Promise<void> {
  const { localTrain } = await import('../../train/local-train.js');
  const result = await localTrain({
    channels: pairs('--channel', opts.channel, 'NAME=PATH, a channel name and a local folder or file', true),
    hyperparametersFile: opts.hyperparameters,
    hyperparameters: pairs('--hp', opts.hp, 'NAME=VALUE'),
    codeDir: opts.code,
    entryPoint: opts.entryPoint,
    outputDir: opts.output,
    keep: opts.keep,
    graceSeconds: opts.graceSeconds,
  });
  if (result.exitCode !== 0) throw new ExitError(result.exitCode);
}

/** Registers the `train` part of `smkit local`. */
export function registerLocalTrain(local: Command): void {
  local
    .command('train')
    .description('Run a training job on local folders (a temporary /opt/ml tree), then copy model/ to --output')
    .requiredOption('--code <dir>', 'directory with the training code')
    .option('--channel <name=dir>', 'an input channel: name and a local directory or file (repeatable)', collect, [])
    .option('--hyperparameters <file>', 'JSON file of hyperparameters (non-string values are JSON-encoded)')
    .option('--hp <key=value>', 'one hyperparameter, raw string value (repeatable; wins over the file)', collect, [])
    .option('--entry-point <file>', 'entry point in --code (default: sagemaker_program, else train.mjs/.js/.cjs/.sh/.py)')
    .option('--output <dir>', 'where to copy the trained model/ (default: ./model)')
    .option('--keep', 'keep the temporary /opt/ml tree after success')
    .option('--grace-seconds <s>', 'after SIGTERM/SIGINT, seconds before the entry point is killed, 0-110 (default: SMKIT_TRAIN_GRACE_SECONDS or 90)', secondsFlag('--grace-seconds', 0, MAX_TRAIN_GRACE_SECONDS))
    .action(async (opts: LocalTrainCommandOptions) => {
      await localTrainCommand(opts);
    });
}
