import type { Command } from 'commander';

/** Registers `smkit train` (placeholder until its issue lands). */
export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('(not implemented yet)')
    .action(() => {
      throw new Error('smkit train is not implemented yet');
    });
}
