import { existsSync } from 'node:fs';
import type { Command, Help } from 'commander';
import { closestNames } from '../../core/closest-name.js';
import { ToolkitError } from '../../errors/catalogue.js';
import { registerLocalEndpoint } from './local-endpoint.js';
import { registerLocalTransform } from './local-transform.js';
import { registerLocalTrain } from './local-train.js';

/**
 * Registers `smkit local`: local endpoints (`smkit local <model|tarball|endpoint file>`), and the
 * `transform` and `train` subcommands.
 */
export function registerLocal(program: Command): void {
  const local = program.command('local').description('Run SageMaker-like endpoints, batch transforms and training jobs on this machine');
  registerLocalEndpoint(local);
  registerLocalTransform(local);
  registerLocalTrain(local);
  const start = local.commands.find((c) => c.name() === 'start')!;
  // `smkit local --help` (and `smkit local <target> --help`, which the parser answers with local's
  // help) shows what `smkit local [target]` takes, the default command's argument and flags: it
  // listed only -h, so --port, --name, --backend and the rest were in `smkit local start --help` alone.
  local.usage('[options] [target]   (or: smkit local <command> [options])');
  local.configureHelp({
    ...local.configureHelp(),
    visibleArguments(this: Help, cmd: Command) {
      return Object.getPrototypeOf(this).visibleArguments.call(this, cmd === local ? start : cmd);
    },
    visibleOptions(this: Help, cmd: Command) {
      return Object.getPrototypeOf(this).visibleOptions.call(this, cmd === local ? start : cmd);
    },
  });
  // A mistyped command (`smkit local tranform --input ...`) goes to the default command as its
  // target: name the command meant before start refuses the flags or says a path is missing.
  local.hook('preSubcommand', (_local, sub) => {
    const first = local.args[0];
    if (sub.name() !== 'start' || first === undefined || first.startsWith('-') || first === 'start' || existsSync(first)) return;
    const meant = closestNames(first, local.commands.map((c) => c.name()));
    if (meant.length > 0) {
      throw new ToolkitError('ERR_CLI_USAGE', `${first} is not a command of smkit local, nor a model or endpoint file here: did you mean ${meant.map((m) => `smkit local ${m}`).join(' or ')}?`);
    }
  });
}
