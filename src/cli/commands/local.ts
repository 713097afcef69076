import type { Command } from 'commander';
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
}
