import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Command, Option } from 'commander';
import { defaultOnnxRuntimeTelemetryOff } from '../config/onnx-runtime-telemetry.js';
import { invalidFlag, pathProblem } from '../config/flag-values.js';
import { closestNames } from '../core/closest-name.js';
import { shellWord } from '../core/shell-word.js';
import { ToolkitError } from '../errors/catalogue.js';
import { ExitError } from './exit-error.js';

/**
 * commander, required rather than imported: its ES module entry wraps the CommonJS one, which Node
 * then lexes for export names (cjs-module-lexer) before running it: loading this module took about
 * 3 ms more CPU for every `smkit` command, `serve` included (Node 20). The classes are the same.
 */
const commander = createRequire(import.meta.url)('commander') as typeof import('commander');

type Register = (program: Command) => void;

/**
 * The commands, in help order, each loaded only when needed: `smkit serve` is how SageMaker starts
 * a container, and every module loaded before its workers are forked delays its first `/ping`.
 */
const COMMANDS: ReadonlyArray<readonly [name: string, load: () => Promise<Register>]> = [
  ['serve', async () => (await import('./commands/serve.js')).registerServe],
  ['train', async () => (await import('./commands/train.js')).registerTrain],
  ['local', async () => (await import('./commands/local.js')).registerLocal],
  ['invoke', async () => (await import('./commands/invoke.js')).registerInvoke],
  ['package', async () => (await import('./commands/package.js')).registerPackage],
  ['init', async () => (await import('./commands/init.js')).registerInit],
  ['build', async () => (await import('./commands/build.js')).registerBuild],
  ['deploy', async () => (await import('./commands/deploy.js')).registerDeploy],
];

/**
 * An option's help line: its description, then its choices and its default as the descriptions
 * themselves write values, unquoted (commander quotes them as JSON: `(default: "5")` next to
 * `(default: 120)` written by hand). Repeatable options' empty lists are not shown.
 */
export function optionDescription(option: Option): string {
  const extra: string[] = [];
  if (option.argChoices) extra.push(`choices: ${option.argChoices.join(', ')}`);
  const value = option.defaultValue as unknown;
  const shown = option.defaultValueDescription ?? (typeof value === 'string' || typeof value === 'number' ? String(value) : undefined);
  if (shown !== undefined && (option.required || option.optional)) extra.push(`default: ${shown}`);
  return extra.length > 0 ? `${option.description} (${extra.join(', ')})` : option.description;
}

/**
 * Builds the command table: only the command `argv` names when it names one (its options and help
 * are the same either way), else every command (`--help`, `--version`, a mistyped name).
 */
export async function createProgram(argv: readonly string[] = []): Promise<Command> {
  const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const program = new commander.Command('smkit')
    .description('Build, run and test SageMaker-compatible inference containers')
    .version(version)
    .showHelpAfterError()
    .configureHelp({ optionDescription })
    .exitOverride();
  const named = COMMANDS.filter(([name]) => name === argv[2]);
  for (const register of await Promise.all((named.length > 0 ? named : COMMANDS).map(([, load]) => load()))) register(program);
  checkRequiredAfterUnknown(program);
  refuseFlagsAsValues(program);
  refuseShortFlagsWithEquals(program, argv);
  refuseOptionsWithoutTheirFlag(program);
  refuseEmptyValues(program);
  catchOneDashFlags(program, argv);
  warnOfMisspeltVariables(program);
  return program;
}

/**
 * Required options (`.requiredOption`) are checked once the parser has refused unknown ones, as
 * `ERR_CLI_USAGE`: commander checks them first, so a typo of one (`local transform --inptu x`) was
 * reported as that option missing, without the "Did you mean --input?" an unknown option gets.
 */
function checkRequiredAfterUnknown(program: Command): void {
  const required = new Set<Option>();
  const collect = (command: Command): void => {
    for (const option of command.options.filter((o) => o.mandatory)) {
      option.mandatory = false;
      required.add(option);
    }
    command.commands.forEach(collect);
  };
  collect(program);
  program.hook('preAction', (_program, command) => {
    const missing = command.options.find((o) => required.has(o) && command.getOptionValue(o.attributeName()) === undefined);
    if (missing) throw new ToolkitError('ERR_CLI_USAGE', `${missing.flags} is required: ${missing.description}.`);
  });
}

/**
 * An option whose help starts `with --flag:` (package --sample, local transform --env, invoke
 * --idle, deploy --engine) typed without that flag is `ERR_CLI_USAGE`: it would be ignored, and the
 * user would not learn that what they asked for did not happen.
 */
function refuseOptionsWithoutTheirFlag(program: Command): void {
  program.hook('preAction', (_program, command) => {
    const unmet = new Map<string, string[]>();
    for (const option of command.options) {
      const needed = /^with (--[a-z][a-z-]*):/.exec(option.description)?.[1];
      if (needed === undefined || command.getOptionValueSource(option.attributeName()) !== 'cli') continue;
      const neededOption = command.options.find((o) => o.long === needed);
      if (neededOption !== undefined && !command.getOptionValue(neededOption.attributeName())) unmet.set(needed, [...(unmet.get(needed) ?? []), option.long ?? option.flags]);
    }
    for (const [needed, flags] of unmet) {
      const named = flags.length > 1 ? `${flags.slice(0, -1).join(', ')} and ${flags.at(-1)}` : flags[0];
      throw new ToolkitError('ERR_CLI_USAGE', `${named} only ${flags.length > 1 ? 'apply' : 'applies'} with ${needed}: add ${needed}, or leave ${flags.length > 1 ? 'them' : 'it'} out`);
    }
  });
}

/**
 * A flag whose value is another of the command's flags had its value left out (`package m -o
 * --verify`, `invoke --file --timeout 5`): the parser takes the next word as the value, so the
 * archive was written to a file named --verify and the flag meant was lost.
 */
function refuseFlagsAsValues(program: Command): void {
  program.hook('preAction', (_program, command) => {
    const flags = new Set(['--help', '-h', ...command.options.flatMap((o) => [o.long, o.short].filter((f): f is string => f !== undefined))]);
    for (const option of command.options.filter((o) => o.required || o.optional)) {
      const value = command.getOptionValue(option.attributeName()) as unknown;
      for (const text of Array.isArray(value) ? value : [value]) {
        if (typeof text === 'string' && flags.has(text)) throw invalidFlag(option.long ?? option.flags, text, `a value for ${option.long ?? option.flags} before the next flag, not the flag ${text}`);
      }
    }
  });
}

/**
 * A single-letter flag written with `=` (`package m -o=model.tar.gz`, `invoke -f=rows.csv`) is
 * `ERR_CLI_USAGE` naming the two ways to write it: the parser takes what follows the letter as the
 * value, `=` included (as getopt does; `--output=x` is the long flag's form), so the archive was
 * written to a file named `=model.tar.gz` and `-c=text/csv` was sent as the Content-Type `=text/csv`.
 */
function refuseShortFlagsWithEquals(program: Command, argv: readonly string[]): void {
  const end = argv.indexOf('--');
  const tokens = new Set(argv.slice(2, end < 0 ? undefined : end));
  program.hook('preAction', (_program, command) => {
    for (const option of command.options.filter((o) => o.short !== undefined && (o.required || o.optional))) {
      const value = command.getOptionValue(option.attributeName()) as unknown;
      for (const text of Array.isArray(value) ? value : [value]) {
        if (typeof text !== 'string' || !text.startsWith('=') || !tokens.has(`${option.short}${text}`)) continue;
        const meant = text.length > 1 ? shellWord(text.slice(1)) : '<value>';
        throw new ToolkitError('ERR_CLI_USAGE', `${option.short}${text} gives ${option.short} the value ${JSON.stringify(text)}, "=" included: write ${option.short} ${meant}, or ${option.long}=${meant}`);
      }
    }
  });
}

/**
 * An empty flag value or argument (`--model-dir ""`, `smkit local ""`: often a shell variable that
 * was not set) is `ERR_CLI_USAGE`: as a path it meant the current folder, so `smkit local "$MODEL"`
 * started an endpoint from whatever folder the shell was in, and `serve --model-dir ""` served it.
 */
function refuseEmptyValues(program: Command): void {
  program.hook('preAction', (_program, command) => {
    for (const option of command.options) {
      const value = command.getOptionValue(option.attributeName()) as unknown;
      const empty = (Array.isArray(value) ? value : [value]).find((v): v is string => typeof v === 'string' && v.trim() === '');
      if (empty !== undefined) throw invalidFlag(option.long ?? option.flags, empty, 'a value, not empty text (an unset shell variable?)');
    }
    command.registeredArguments.forEach((argument, i) => {
      const value = command.processedArgs[i] as unknown;
      if (typeof value === 'string' && value.trim() === '') {
        throw new ToolkitError('ERR_CLI_USAGE', `the <${argument.name()}> argument is ${JSON.stringify(value)} (an unset shell variable?): expected ${argument.description}.`);
      }
    });
  });
}

/**
 * A flag of more than one letter typed with one dash (`-port 8080`, `-file x`) names the flag meant:
 * one dash takes single-letter flags, so `-port` was an unknown option without the "Did you mean" a
 * mistyped `--prot` gets, and `-file x` was quietly read as `-f ile` (`-output m.tar.gz` as `-o utput`).
 * An unknown `--flag` the parser found nothing near gets the names {@link closestNames} finds.
 */
function catchOneDashFlags(program: Command, argv: readonly string[]): void {
  const meant = (command: Command, token: string): string | undefined => {
    const name = /^-([a-z][a-z-]+)(?:=|$)/.exec(token)?.[1];
    return name === undefined ? undefined : command.options.find((o) => o.long === `--${name}`)?.long;
  };
  const end = argv.indexOf('--');
  const tokens = argv.slice(2, end < 0 ? undefined : end);
  const firstMeant = (command: Command): readonly [token: string, flag: string] | undefined => {
    for (const token of tokens) {
      const flag = meant(command, token);
      if (flag !== undefined) return [token, flag];
    }
    return undefined;
  };
  // The parser's own errors (an unknown option, too many arguments: `-file x URL` leaves two).
  const all = (command: Command): Command[] => [command, ...command.commands.flatMap(all)];
  for (const command of all(program)) {
    const { outputError = (text: string, write: (text: string) => void) => write(text) } = command.configureOutput();
    command.configureOutput({
      outputError: (text, write) => {
        const found = firstMeant(command);
        if (found !== undefined) return outputError(text.replace('\n', `\n(Did you mean ${found[1]}? ${found[0]} has one dash, so it was read as single-letter flags.)\n`), write);
        // Commander suggests by its own distance, not across case or with a value (--PORT, --prot=8080).
        const unknown = /^error: unknown option '(--[^'=]+)[^']*'\n(?!\(Did you mean)/.exec(text)?.[1];
        const near = unknown === undefined ? [] : closestNames(unknown, command.options.flatMap((o) => (o.long === undefined ? [] : [o.long])));
        outputError(near.length === 0 ? text : text.replace('\n', `\n(Did you mean ${near.length > 1 ? 'one of ' : ''}${near.join(', ')}?)\n`), write);
      },
    });
  }
  // Parsed without an error, as other flags.
  program.hook('preAction', (_program, command) => {
    const found = firstMeant(command);
    if (found !== undefined) throw new ToolkitError('ERR_CLI_USAGE', `${found[0]} has one dash, so it was read as single-letter flags: did you mean ${found[1]}?`);
  });
}

/**
 * A misspelt `SMKIT_` variable (the grace seconds' name a letter short) is a warning on stderr once the command's
 * flags are checked, naming the setting meant: only `smkit serve` warned, so `smkit train`, `smkit
 * deploy --build` or `smkit local transform` ran with the setting at its default without a word.
 * `smkit serve` and `smkit local` (its endpoints) warn through their loggers, in their log format.
 */
function warnOfMisspeltVariables(program: Command): void {
  program.hook('preAction', async (_program, command) => {
    if (command.name() === 'serve' || (command.name() === 'start' && command.parent?.name() === 'local')) return;
    const { misspeltSmkitVariableWarnings } = await import('../core/smkit-variables.js');
    for (const { message } of misspeltSmkitVariableWarnings(process.env)) process.stderr.write(`smkit: warning: ${message}\n`);
  });
}

/**
 * `smkit help <name>` for a name that is no command becomes `smkit <name>`, so it is answered as a
 * mistyped command ("unknown command 'sreve' (Did you mean serve?)"); commander printed the help
 * alone, without saying why, and exited 1. `smkit help <name> <subcommand>` becomes
 * `smkit <name> <subcommand> --help`: commander's help command reads one name, so
 * `smkit help local transform` printed the help of `local`.
 */
export function helpForUnknownCommand(argv: readonly string[]): readonly string[] {
  const [node = 'node', script = 'smkit', first, name, ...rest] = argv;
  if (first !== 'help' || name === undefined || name.startsWith('-')) return argv;
  if (!COMMANDS.some(([n]) => n === name)) return [node, script, name];
  return rest.length > 0 && !rest[0]!.startsWith('-') ? [node, script, name, ...rest, '--help'] : argv;
}

/**
 * Parses `argv` and runs its command. An error is printed on stderr (one `smkit: <CODE>: <message>`
 * line, or the parser's message and the help) and gives the exit code; undefined when none was thrown.
 */
export async function run(argv: readonly string[]): Promise<number | undefined> {
  const args = helpForUnknownCommand(argv);
  let recordUsageError: ((err: unknown) => Promise<void>) | undefined;
  try {
    const program = await createProgram(args);
    // A training job shows only output/failure (its FailureReason): a flag `train` does not take goes there too.
    if (args[2] === 'train') recordUsageError = (await import('./commands/train.js')).recordUsageErrors(program, args.slice(3));
    await program.parseAsync([...args]);
    return undefined;
  } catch (err) {
    const code = exitCodeFor(err);
    await recordUsageError?.(err);
    return code;
  }
}

/** CLI entry point: the only place that calls `process.exit`. */
export async function main(argv: readonly string[]): Promise<void> {
  // Before any command starts a worker, a thread or a user's code that may load ONNX Runtime.
  defaultOnnxRuntimeTelemetryOff();
  // A reader of stdout or stderr that has gone (`smkit init x | head -1`, `smkit package m 2>&1 |
  // head -1`): what is left to print is dropped, as no one reads it, and the command finishes what it
  // was asked. Unheard, the write's EPIPE was an uncaught error: Node's stack on stderr and exit 1,
  // after init had made the project, or in the middle of a deployment or a package --verify.
  // (smkit invoke ends quietly itself when its answer's reader goes.) Other write errors stay fatal,
  // unless a command listens for them itself: smkit invoke makes stdout's ENOSPC (`> /dev/full`) an
  // ERR_CLI_USAGE naming it, and this listener, the first, must not end the process before it hears.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && stream.listenerCount('error') === 1) outputFailed(stream, err);
    });
  }
  const code = await run(argv);
  // A write that failed just before the exit (`smkit --help > /dev/full`): its error event would
  // come after process.exit, so the help or version no one got ended 0 without a word.
  const failed = process.stdout.errored as NodeJS.ErrnoException | null;
  if (code !== undefined && failed && failed.code !== 'EPIPE') outputFailed(process.stdout, failed);
  if (code !== undefined) process.exit(code);
}

/**
 * Ends the CLI, exit 1, for output that could not be written but by a reader gone (`> /dev/full`,
 * ENOSPC): one `ERR_CLI_USAGE` line on stderr saying so for stdout (nothing can be said for stderr),
 * where it was Node's stack trace of the write.
 */
function outputFailed(stream: NodeJS.WriteStream, err: NodeJS.ErrnoException): never {
  if (stream === process.stdout) process.stderr.write(`smkit: ERR_CLI_USAGE: the output could not be written to stdout: it ${pathProblem(err, 'written')}\n`);
  process.exit(1);
}

function exitCodeFor(err: unknown): number {
  if (err instanceof commander.CommanderError) return err.exitCode;
  if (err instanceof ExitError) {
    if (err.message) console.error(err.message);
    return err.exitCode;
  }
  if (err instanceof ToolkitError) {
    console.error(`smkit: ${err.code}: ${err.message}`);
    return 1;
  }
  console.error(err);
  return 1;
}
