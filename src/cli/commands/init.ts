import type { Command } from 'commander';

/** Registers `smkit init` (placeholder until its issue lands). */
export function registerInit(program: Command): void {
  program
    .command('init')
    .description('(not implemented yet)')
    .action(() => {
      throw new Error('smkit init is not implemented yet');
    });
}
