import type { Command } from 'commander';
import { shellWord } from '../../core/shell-word.js';

/** Registers `smkit init`: scaffold a model project with a working example. */
export function registerInit(program: Command): void {
  program
    .command('init')
    .description('Create a model project: /opt/ml layout, the iris ONNX example, pipeline.yaml, a documented handler, samples and a test')
    .argument('<dir>', 'folder to create (must be empty or missing)')
    .option('--force', 'write into a non-empty folder, overwriting files of the same names')
    .action(async (dir: string, opts: { force?: boolean }) => {
      const { scaffoldProject } = await import('../../init/scaffold.js');
      const result = await scaffoldProject(dir, { force: Boolean(opts.force) });
      process.stdout.write(`created ${result.dir}:\n${result.files.map((f) => `  ${f}`).join('\n')}\n`);
      if (result.missingModel) {
        process.stderr.write(`smkit: warning: the example model ${result.missingModel} was not found; put your model in ${dir}/model/ (npm run build in smkit generates it)\n`);
      }
      process.stdout.write(`next: cd ${shellWord(dir)} && npm install && npm test   (see README.md)\n`);
    });
}

