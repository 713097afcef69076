import type { Command } from 'commander';

/** Registers `smkit package`: check a model directory and build its SageMaker `model.tar.gz`. */
export function registerPackage(program: Command): void {
  program
    .command('package')
    .description('Check a model directory and build model.tar.gz in SageMaker layout (model files at the top, code/ for the handler)')
    .argument('<model-dir>', 'the model directory')
    .option('--code <dir>', 'folder to pack as code/ (replaces <model-dir>/code)')
    .option('-o, --output <file>', 'archive to write', 'model.tar.gz')
    .option('--program <name>', 'handler module name in code/ (default: SAGEMAKER_PROGRAM or inference)')
    .option('--verify', 'serve the archive from a temporary /opt/ml with smkit serve, wait for /ping, invoke --sample')
    .option('--sample <file>', 'with --verify: request body to send')
    .option('--content-type <type>', 'with --verify: Content-Type of the sample (default: from its extension)')
    .option('--accept <type>', 'with --verify: Accept for the sample')
    .option('--startup-timeout <seconds>', 'with --verify: how long to wait for /ping, at most 3600', '120')
    .action(async (modelDir: string, opts) => {
      const { packageCommand } = await import('../../package/command.js');
      await packageCommand(modelDir, opts);
    });
}
