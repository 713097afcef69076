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
  // `smkit --help` listed it as a bare `local`, as if it took no target and no flags.
  program.configureHelp({
    ...program.configureHelp(),
    subcommandTerm(this: Help, cmd: Command) {
      return cmd === local ? 'local [options] [target]' : Object.getPrototypeOf(this).subcommandTerm.call(this, cmd);
    },
  });
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
    if (sub.name() !== 'start') return;
    const mistyped = mistypedCommand(local, local.args[0]);
    if (mistyped) throw mistyped;
  });
  // The same name in a request for help (`smkit help local tranform`, `smkit local tranform --help`,
  // `smkit local help tranform`), which the parser answers before any hook runs: it printed local's
  // help and exited 0, or (`local help <name>`) printed it on stderr and exited 1, without saying why.
  local.addHelpText('before', () => {
    const [first, second] = local.args;
    const mistyped = mistypedCommand(local, first === 'help' ? second : first);
    if (mistyped) throw mistyped;
    return '';
  });
}

/** `ERR_CLI_USAGE` naming the command of `local` that `name` (neither one of its commands nor a path here) is near, if any. */
function mistypedCommand(local: Command, name: string | undefined): ToolkitError | undefined {
  const names = local.commands.map((c) => c.name());
  if (name === undefined || name.startsWith('-') || names.includes(name) || existsSync(name)) return undefined;
  const meant = closestNames(name, names);
  if (meant.length === 0) return undefined;
  return new ToolkitError('ERR_CLI_USAGE', `${name} is not a command of smkit local, nor a model or endpoint file here: did you mean ${meant.map((m) => `smkit local ${m}`).join(' or ')}?`);
}
