import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ToolkitError } from '../errors/catalogue.js';
import { ExitError } from './exit-error.js';
import { registerServe } from './commands/serve.js';
import { registerTrain } from './commands/train.js';
import { registerLocal } from './commands/local.js';
import { registerInvoke } from './commands/invoke.js';
import { registerPackage } from './commands/package.js';
import { registerInit } from './commands/init.js';
import { registerBuild } from './commands/build.js';
import { registerDeploy } from './commands/deploy.js';

/** Builds the command table. Each command module registers itself and loads its work lazily. */
export function createProgram(): Command {
  const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const program = new Command('smkit')
    .description('Build, run and test SageMaker-compatible inference containers')
    .version(version)
    .showHelpAfterError()
    .exitOverride();
  for (const register of [registerServe, registerTrain, registerLocal, registerInvoke, registerPackage, registerInit, registerBuild, registerDeploy]) {
    register(program);
  }
  return program;
}

/** CLI entry point: the only place that calls `process.exit`. */
export async function main(argv: readonly string[]): Promise<void> {
  try {
    await createProgram().parseAsync([...argv]);
  } catch (err) {
    process.exit(exitCodeFor(err));
  }
}

function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode;
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
