import type { Command } from 'commander';

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

/**
 * `text` as one word of a POSIX shell command, to be copied and run: as it is when the shell reads
 * none of its characters, else in single quotes (`cd my model` was printed for `smkit init "my model"`).
 */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}
