import type { Command } from 'commander';

/**
 * Registers `smkit local <model dir | model.tar.gz | endpoint file>` as the default subcommand
 * `start` of `local`, so the target can follow `local` directly while `local transform` and
 * `local train` stay subcommands.
 */
export function registerLocalEndpoint(local: Command): void {
  local
    .command('start', { isDefault: true })
    .description('Start a local SageMaker (control plane and runtime on one port), with the target\'s endpoints when given (the default: `smkit local [target]`)')
    .argument('[target]', 'a model directory, a model.tar.gz, or an endpoint file (.json/.yaml); none starts an empty local SageMaker')
    .option('--name <name>', 'endpoint name for a single model (default: from the model path)')
    .option('--port <port>', 'front-door port on 127.0.0.1; 0 picks a free one (default: the file\'s "port", else 8080)')
    .option('--backend <backend>', 'process | docker (default: docker when an image is set and docker/podman exists, else process)')
    .option('--engine <engine>', 'docker | podman, for the docker backend (default: docker if its daemon answers, else podman)')
    .option('--gpus <gpus>', 'auto | all | none: whether GPU instance types\' (ml.g*, ml.p*) containers get this machine\'s NVIDIA GPUs, with the docker backend; auto when it has an NVIDIA driver (default: auto)')
    .option('--image <image>', 'image for the docker backend (default: the file\'s "image")')
    .option('--startup-timeout <seconds>', 'seconds to wait for each container\'s /ping, 1-3600 (default: the file\'s "startupTimeoutSeconds", else 120)')
    .option('--seed <n>', 'seed variant routing and capture sampling, for repeatable runs')
    .option('--keep', 'keep the work folder (/opt/ml trees, logs, downloads, cut short ones included) when smkit local ends, however it ends')
    .option('--log-format <format>', 'json | pretty | auto: pretty on a terminal (default: SMKIT_LOG_FORMAT, else auto)')
    .action(async (target: string | undefined, opts: Record<string, string | boolean | undefined>) => {
      const { runLocalEndpoints } = await import('../../local/endpoint/run.js');
      await runLocalEndpoints(target, opts);
    });
}
