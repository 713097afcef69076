import type { Command } from 'commander';

/** Registers `smkit build`: builds smkit's CPU or GPU image, optionally with a model baked in. */
export function registerBuild(program: Command): void {
  program
    .command('build')
    .description('Build the smkit image with docker or podman (optionally baking in a model); prints the image name and size')
    .option('--variant <variant>', 'cpu or gpu: the Dockerfile target', 'cpu')
    .option('--model <path>', 'model directory or model.tar.gz to bake in at /opt/smkit/model (checked like smkit package)')
    .option('--tag <name>', 'image name (default: smkit:<version>-<variant>, or smkit-<model>:<version>-<variant> with --model)')
    .option('--platform <platform>', 'target platform, for example linux/amd64')
    .option('--engine <engine>', 'docker or podman (default: docker if its daemon answers, else podman)')
    .option('--build-arg <KEY=VALUE>', 'extra build argument, repeatable (for example TFJS_NODE=require)', (v: string, all: string[] = []) => [...all, v])
    .action(async (opts) => {
      const { buildCommand } = await import('../../build/command.js');
      await buildCommand(opts);
    });
}
